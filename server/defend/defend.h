/* defend: the threat-defense service (Defender for Endpoint's service side).
 * Receives the alerts agents raise (POST /agent/v1/alerts), stores them with
 * their lifecycle (status, classification, determination, analyst, comments,
 * history), and keeps each device's risk level (the highest severity among
 * its unresolved alerts) with a timeline of its changes, published on the
 * event bus as risk_changed.
 *
 * Suppression rules (suppress.c) store matching new alerts already resolved.
 *
 * Owns the tables defend_alerts, defend_alert_history, defend_alert_comments,
 * defend_device_risk, defend_device_timeline, defend_suppressions and
 * defend_suppression_audit. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "server/http/http.h"

struct vigild;

#define DEFEND_BATCH_ALERTS_MAX 500
#define DEFEND_BATCH_BYTES_MAX (4 * 1024 * 1024)
#define DEFEND_FIELD_MAX 4096
#define DEFEND_TECHNIQUES_MAX 64
#define DEFEND_TACTICS_MAX 64
#define DEFEND_ALERT_ID_LEN 36

/* Severities and risk levels, ordered; the numbers are stored. */
enum defend_level {
        DEFEND_LEVEL_NONE = 0,
        DEFEND_LEVEL_INFORMATIONAL = 1,
        DEFEND_LEVEL_LOW = 2,
        DEFEND_LEVEL_MEDIUM = 3,
        DEFEND_LEVEL_HIGH = 4,
};

/* Migrates defend's tables. Returns 0 or a negative errno (see db_errmsg). */
int defend_migrate(struct vigild *d);

/* Hooks defend into the rest of the server (the device JSON shows risk) and
 * loads the suppression rules. Call after enroll_open(). Returns 0 or a
 * negative errno. */
int defend_open(struct vigild *d);

/* Frees what defend_open() loaded. Fine to call when it never ran. */
void defend_close(struct vigild *d);

/* "none", "informational", ... <-> enum defend_level. parse returns 0 or -EINVAL;
 * with allow_none false, "none" is refused (an alert severity). */
const char *defend_level_name(enum defend_level l);
int defend_level_parse(const char *s, bool allow_none, enum defend_level *ret);

/* Calls fn(device_id, level, changed_at (s), userdata) for every device
 * whose risk defend has computed (a device it never computed has risk
 * none), in no set order, stopping at fn's first negative return. Call with
 * the database lock held; fn may use the database but not take the lock.
 * Returns 0, fn's negative return or a database error. */
int defend_risk_foreach(struct vigild *d, int (*fn)(const char *device_id, enum defend_level level,
                                                    int64_t changed_at, void *userdata), void *userdata);

/* Parses an upload body: a JSON object {"alerts": [object, ...]} of at most
 * DEFEND_BATCH_ALERTS_MAX alerts and DEFEND_BATCH_BYTES_MAX bytes. On success
 * *ret_alerts is the array (a new reference; the caller decrefs). Returns 0,
 * -E2BIG (too big or too many) or -EINVAL, with the reason in err. Checks the
 * batch's shape only: each alert is checked by defend_alert_check(). */
int defend_batch_parse(const char *body, size_t len, json_t **ret_alerts, char *err, size_t err_size);

/* Checks one alert as the agent spools it (docs/DETECTION.md). Returns 0 or
 * -EINVAL with the reason in err. */
int defend_alert_check(const json_t *alert, char *err, size_t err_size);

/* Parses an RFC 3339 time ("2026-11-30T03:32:53.828575511Z", fraction and
 * numeric offset optional) into nanoseconds since the epoch. Returns 0 or -EINVAL. */
int defend_time_parse(const char *s, int64_t *ret_ns);

/* Suppression rules: limits of one rule and of the set. */
#define DEFEND_SUPPRESSIONS_MAX 1000
#define DEFEND_SUPPRESSION_NAME_MAX 128
#define DEFEND_SUPPRESSION_COMMENT_MAX 4096
#define DEFEND_SUPPRESSION_DEVICES_MAX 100
#define DEFEND_GLOB_MAX 1024            /* bytes of a pattern, and of a rule_id condition */
#define DEFEND_GLOB_STARS_MAX 16

/* Checks a glob pattern of len bytes: 1 to DEFEND_GLOB_MAX bytes of text
 * without control characters, at most DEFEND_GLOB_STARS_MAX '*', and a '\'
 * only before '*', '?' or '\'. Returns 0 or -EINVAL with the reason in err. */
int defend_glob_check(const char *pattern, size_t len, char *err, size_t err_size);

/* Matches the len bytes of s against a NUL-terminated pattern: '*' any run
 * of bytes ('/' included), '?' one byte, '\' makes the next '*', '?' or '\'
 * literal; anything else matches itself, ASCII case aside when nocase. The
 * whole of s must match. Safe on any pattern; linear in practice, at worst
 * len times the pattern's length. */
bool defend_glob_match(const char *pattern, const char *s, size_t len, bool nocase);

/* Checks the JSON body of a suppression rule: with create, a POST (name,
 * comment and conditions required); else a PATCH (any of the members, at
 * least one). Members: name, comment, enabled, conditions {rule_id,
 * device_ids, device_name, image, command_line: at least one}, expires_at
 * (RFC 3339, after now_s; null for never) and apply_to_existing. Device ids
 * are checked for their form only. Returns 0 or -EINVAL (-E2BIG for a list
 * too long) with the reason in err. */
int defend_suppression_check(const json_t *body, bool create, int64_t now_s, char *err, size_t err_size);

extern const struct http_route defend_routes[];
/* Device actions (actions.c, docs/ACTIONS.md). */
/* Marks timed_out the open actions past their expiry (as every actions
 * endpoint does first) and publishes action_changed for each. vigild's
 * main loop calls it every second, so a timeout is announced even when no
 * one asks. Takes the database lock. */
void defend_actions_tick(struct vigild *d);

/* Requests a device action as an admin's POST would, for another module
 * (manage's compliance isolates a noncompliant device): type is one of the
 * action types, comment says why (text, at most 4096 bytes), by and by_name
 * who asked ("policy:ID" and the policy's name), timeout_s 5 s to 30 days.
 * The agent picks the action up at its next poll. Takes the database lock.
 * Returns 0 with the new action's id in ret_id; -EBUSY when an action of the
 * same kind is still open on the device (its id in ret_id); -ENOENT (no such
 * device), -ESHUTDOWN (offboarded), -EINVAL, or a database error. */
int defend_action_request(struct vigild *d, const char *device_id, const char *type, const char *comment,
                          const char *by, const char *by_name, int64_t timeout_s, char ret_id[static 37]);
extern const struct http_route defend_action_routes[];
