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

/* ingest.c */
void defend_handle_upload(struct vigild *d, const struct http_request *req, struct http_reply *rep);
int defend_migrate_tables(struct vigild *d);

/* api.c, risk.c: admin handlers */
void defend_handle_list(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void defend_handle_show(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void defend_handle_patch(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void defend_handle_comment(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void defend_handle_resolve(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void defend_handle_timeline(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void defend_device_json(struct vigild *d, const char *device_id, json_t *device, bool detail);
