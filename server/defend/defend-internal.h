/* defend's private declarations, shared by its files. */
#pragma once

#include "server/defend/defend.h"

#define DEFEND_REASON_IDS_MAX 50
#define DEFEND_CHANGE_IDS_MAX 20

/* One change of a device's risk, kept until after the commit to publish it. */
struct defend_risk_change {
        char device_id[HTTP_PARAM_MAX + 1];
        enum defend_level from, to;
        bool changed;
        char alert_ids[DEFEND_CHANGE_IDS_MAX][DEFEND_ALERT_ID_LEN + 1]; /* the first alerts that caused it */
        size_t n_alert_ids;
        bool alert_ids_more;
};

/* risk.c. Recomputes a device's risk inside the caller's transaction (lock
 * held); on a change stores it, writes a timeline row naming alert_ids (a
 * JSON array, borrowed) and by, and fills *ret. Returns 0 or a negative errno. */
int defend_risk_update(struct vigild *d, const char *device_id, const json_t *alert_ids,
                       const char *by, struct defend_risk_change *ret);
/* Publishes a committed change on the bus (lock not held). */
void defend_risk_publish(struct vigild *d, const struct defend_risk_change *c);
/* The device's current risk (lock held); NONE if never computed. */
enum defend_level defend_risk_get(struct vigild *d, const char *device_id);

/* suppress.c. A compiled suppression rule, and the device an upload comes
 * from (its hostname read from enroll once, only if a rule needs it). */
struct defend_suppression;
struct defend_suppress_device {
        const char *device_id;
        char name[256];
        int name_state;                 /* 0 not read, 1 read, -1 unreadable */
};
/* Migrates the suppression tables (their own track "defend_suppress"). Lock held. */
int defend_suppress_migrate(struct vigild *d);
/* Loads the enabled rules into memory, and frees them. */
int defend_suppress_open(struct vigild *d);
void defend_suppress_close(struct vigild *d);
/* The first enabled, unexpired rule matching a new alert of dev at now (s),
 * or NULL. Lock held; the rule is valid until the lock is released. */
const struct defend_suppression *defend_suppress_match(struct vigild *d, struct defend_suppress_device *dev,
                                                       const json_t *alert, int64_t now);
/* Records in the caller's transaction that rule s resolved the new alert
 * alert_id: its history and comment, the rule's hit count. Lock held.
 * Returns 0 or a database error. */
int defend_suppress_record(struct vigild *d, const struct defend_suppression *s, const char *alert_id,
                           int64_t now);
void defend_handle_suppressions_list(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void defend_handle_suppression_create(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void defend_handle_suppression_show(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void defend_handle_suppression_patch(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void defend_handle_suppression_delete(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void defend_handle_suppression_audit(struct vigild *d, const struct http_request *req, struct http_reply *rep);

/* ingest.c */
void defend_handle_upload(struct vigild *d, const struct http_request *req, struct http_reply *rep);
int defend_migrate_tables(struct vigild *d);

/* actions.c */
int defend_actions_migrate(struct vigild *d);
/* Adds "isolation" {state, since, action_id} (and "open_actions" with
 * detail) to a device's JSON; takes the lock. */
void defend_actions_device_json(struct vigild *d, const char *device_id, json_t *device, bool detail);

/* api.c: small helpers the files share. */
struct db_stmt;
/* True if s is one of the NULL-terminated set (false for NULL s). */
bool defend_in_set(const char *s, const char *const *set);
/* "a, b, c" for error messages. */
void defend_set_text(const char *const *set, char *out, size_t size);
/* Column col (seconds since the epoch) as an RFC 3339 string, or null. */
json_t *defend_time_json(struct db_stmt *st, int col);

/* api.c, risk.c: admin handlers */
void defend_handle_list(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void defend_handle_show(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void defend_handle_patch(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void defend_handle_comment(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void defend_handle_resolve(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void defend_handle_timeline(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void defend_device_json(struct vigild *d, const char *device_id, json_t *device, bool detail);
