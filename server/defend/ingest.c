/* defend ingest: defend's tables, and the agents' alert upload
 * (POST /agent/v1/alerts): validate, upsert by alert id in one transaction
 * (a new alert that a suppression rule matches is stored resolved),
 * recompute the device's risk, answer only after the commit. */
#include "server/defend/defend-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/bus.h"
#include "server/db/db.h"
#include "server/enroll/enroll.h"
#include "server/log.h"
#include "server/vigild.h"
#include "util/strutil.h"

static const struct db_migration defend_migrations[] = {
        { 1,
          "CREATE TABLE defend_alerts ("
          "  id TEXT PRIMARY KEY,"
          "  device_id TEXT NOT NULL,"
          "  rule_id TEXT NOT NULL,"
          "  title TEXT NOT NULL,"
          "  source TEXT NOT NULL,"
          "  severity TEXT NOT NULL,"
          "  severity_rank INTEGER NOT NULL,"
          "  status TEXT NOT NULL DEFAULT 'new',"
          "  classification TEXT NOT NULL DEFAULT 'unknown',"
          "  determination TEXT NOT NULL DEFAULT 'not_available',"
          "  assigned_to TEXT NOT NULL DEFAULT '',"
          "  first_seen TEXT NOT NULL,"
          "  first_seen_ns INTEGER NOT NULL,"
          "  last_seen TEXT NOT NULL,"
          "  last_seen_ns INTEGER NOT NULL,"
          "  count INTEGER NOT NULL,"
          "  techniques TEXT NOT NULL,"
          "  received_at INTEGER NOT NULL,"
          "  updated_at INTEGER NOT NULL,"
          "  resolved_at INTEGER,"
          "  alert TEXT NOT NULL);"
          "CREATE INDEX defend_alerts_device ON defend_alerts(device_id, status, severity_rank);"
          "CREATE INDEX defend_alerts_first ON defend_alerts(first_seen_ns);"
          "CREATE INDEX defend_alerts_rule ON defend_alerts(rule_id);"
          "CREATE TABLE defend_alert_history ("
          "  alert_id TEXT NOT NULL,"
          "  at INTEGER NOT NULL,"
          "  by TEXT NOT NULL,"
          "  by_name TEXT NOT NULL,"
          "  field TEXT NOT NULL,"
          "  old_value TEXT,"
          "  new_value TEXT);"
          "CREATE INDEX defend_alert_history_alert ON defend_alert_history(alert_id, at);"
          "CREATE TABLE defend_alert_comments ("
          "  alert_id TEXT NOT NULL,"
          "  at INTEGER NOT NULL,"
          "  by TEXT NOT NULL,"
          "  by_name TEXT NOT NULL,"
          "  text TEXT NOT NULL);"
          "CREATE INDEX defend_alert_comments_alert ON defend_alert_comments(alert_id, at);"
          "CREATE TABLE defend_device_risk ("
          "  device_id TEXT PRIMARY KEY,"
          "  risk TEXT NOT NULL,"
          "  risk_rank INTEGER NOT NULL,"
          "  changed_at INTEGER NOT NULL);"
          "CREATE TABLE defend_device_timeline ("
          "  seq INTEGER PRIMARY KEY,"
          "  device_id TEXT NOT NULL,"
          "  at INTEGER NOT NULL,"
          "  kind TEXT NOT NULL,"
          "  from_value TEXT NOT NULL,"
          "  to_value TEXT NOT NULL,"
          "  alert_ids TEXT NOT NULL,"
          "  by TEXT NOT NULL);"
          "CREATE INDEX defend_device_timeline_device ON defend_device_timeline(device_id, seq);" },
};

int defend_migrate(struct vigild *d)
{
        int r;

        db_lock(d->db);
        r = db_migrate(d->db, "defend", defend_migrations, sizeof(defend_migrations) / sizeof(defend_migrations[0]));
        if (r == 0)
                r = defend_actions_migrate(d);
        if (r == 0)
                r = defend_suppress_migrate(d);
        db_unlock(d->db);
        return r;
}

int defend_open(struct vigild *d)
{
        int r = enroll_device_json_hook_add(d, defend_device_json);

        if (r == 0)
                r = enroll_device_json_hook_add(d, defend_actions_device_json);
        return r < 0 ? r : defend_suppress_open(d);
}

void defend_close(struct vigild *d)
{
        defend_suppress_close(d);
}

enum upsert_status { UPSERT_STORED, UPSERT_UPDATED, UPSERT_UNCHANGED, UPSERT_FOREIGN };

/* ",T1059,T1059.004," so that a LIKE '%,T1059,%' finds one technique. */
static void techniques_text(const json_t *a, char *out, size_t size)
{
        size_t i, n = (size_t)snprintf(out, size, ",");
        const json_t *t;

        json_array_foreach(json_object_get(a, "techniques"), i, t)
                if (n < size)
                        n += (size_t)snprintf(out + n, size - n, "%s,", json_string_value(t));
}

/* Stores a new alert, resolved already when a suppression rule matched it. */
static int alert_insert(struct vigild *d, const char *device_id, const json_t *a, int64_t now, bool resolved)
{
        char techniques[DEFEND_TECHNIQUES_MAX * 10 + 2];
        const char *sev = json_string_value(json_object_get(a, "severity"));
        const char *first = json_string_value(json_object_get(a, "first_seen"));
        const char *last = json_string_value(json_object_get(a, "last_seen"));
        const char *rule = json_string_value(json_object_get(a, "rule_id"));
        const char *title = json_string_value(json_object_get(a, "title"));
        const char *src = json_string_value(json_object_get(a, "source"));
        const char *id = json_string_value(json_object_get(a, "id"));
        enum defend_level lvl = DEFEND_LEVEL_NONE;
        int64_t fns = 0, lns = 0;
        char *text;
        int r;

        defend_level_parse(sev, false, &lvl);
        defend_time_parse(first, &fns);
        defend_time_parse(last, &lns);
        techniques_text(a, techniques, sizeof(techniques));
        text = json_dumps(a, JSON_COMPACT);
        if (!text)
                return -ENOMEM;
        r = db_exec_params(d->db, "INSERT INTO defend_alerts (id, device_id, rule_id, title, source, severity, "
                           "severity_rank, first_seen, first_seen_ns, last_seen, last_seen_ns, count, techniques, "
                           "received_at, updated_at, alert, status, resolved_at) "
                           "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15, "
                           "CASE WHEN $16 = 1 THEN 'resolved' ELSE 'new' END, CASE WHEN $16 = 1 THEN $14 END)",
                           DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(device_id, strlen(device_id)),
                                     db_param_text(rule, strlen(rule)), db_param_text(title, strlen(title)),
                                     db_param_text(src, strlen(src)), db_param_text(sev, strlen(sev)),
                                     db_param_int64(lvl), db_param_text(first, strlen(first)), db_param_int64(fns),
                                     db_param_text(last, strlen(last)), db_param_int64(lns),
                                     db_param_int64(json_integer_value(json_object_get(a, "count"))),
                                     db_param_text(techniques, strlen(techniques)), db_param_int64(now),
                                     db_param_text(text, strlen(text)), db_param_int64(resolved)));
        free(text);
        return r;
}

/* Inserts a new alert (resolved at once if a suppression rule matches it:
 * *ret_supp is that rule), or raises count and last_seen of a known one
 * (never lowers them: an old batch replayed changes nothing). Lock and
 * transaction held. */
static int alert_upsert(struct vigild *d, struct defend_suppress_device *dev, const json_t *a, int64_t now,
                        enum upsert_status *ret, const struct defend_suppression **ret_supp)
{
        const char *device_id = dev->device_id;
        const char *id = json_string_value(json_object_get(a, "id"));
        const char *last = json_string_value(json_object_get(a, "last_seen"));
        int64_t count = json_integer_value(json_object_get(a, "count")), lns = 0;
        struct db_stmt *st;
        bool foreign;
        int r;

        defend_time_parse(last, &lns);
        r = db_prepare(d->db, "SELECT device_id FROM defend_alerts WHERE id = $1", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, id, strlen(id));
        r = db_step(st);
        foreign = r == 1 && strcmp(db_column_text(st, 0, NULL), device_id) != 0;
        db_stmt_done(st);
        if (r < 0)
                return r;
        if (r == 0) {
                const struct defend_suppression *s = defend_suppress_match(d, dev, a, now);
                *ret = UPSERT_STORED;
                *ret_supp = s;
                r = alert_insert(d, device_id, a, now, s != NULL);
                return r < 0 || !s ? r : defend_suppress_record(d, s, id, now);
        }
        if (foreign) {
                *ret = UPSERT_FOREIGN;
                return 0;
        }
        r = db_exec_params(d->db, "UPDATE defend_alerts SET "
                           "count = max(count, $2), "
                           "last_seen = CASE WHEN $3 > last_seen_ns THEN $4 ELSE last_seen END, "
                           "last_seen_ns = max(last_seen_ns, $3), updated_at = $5 "
                           "WHERE id = $1 AND (count < $2 OR last_seen_ns < $3)",
                           DB_PARAMS(db_param_text(id, strlen(id)), db_param_int64(count), db_param_int64(lns),
                                     db_param_text(last, strlen(last)), db_param_int64(now)));
        if (r == 0)
                *ret = db_changes(d->db) ? UPSERT_UPDATED : UPSERT_UNCHANGED;
        return r;
}

/* A rejected alert's id is echoed only if it is short and printable. */
static json_t *result_id(const json_t *a)
{
        const char *id = json_string_value(json_object_get(a, "id"));

        return id && util_str_printable(id, 64) ? json_string(id) : json_null();
}

/* Validates and stores every alert in one transaction; fills results, and
 * suppressed[i] for each new alert a suppression rule resolved. Lock held. */
static int batch_store(struct vigild *d, const char *device_id, const json_t *alerts, json_t *results,
                       json_t *raised, bool *suppressed, struct defend_risk_change *change)
{
        struct defend_suppress_device dev = { .device_id = device_id };
        static const char *const names[] = { "stored", "updated", "unchanged", "rejected" };
        int64_t now = util_now();
        const json_t *a;
        char err[256];
        size_t i;
        int r;

        r = db_begin(d->db);
        if (r < 0)
                return r;
        json_array_foreach(alerts, i, a) {
                const struct defend_suppression *supp = NULL;
                enum upsert_status us;
                json_t *res;

                if (defend_alert_check(a, err, sizeof(err)) < 0) {
                        json_array_append_new(results, json_pack("{s:o,s:s,s:s}", "id", result_id(a),
                                                                 "status", "rejected", "error", err));
                        continue;
                }
                r = alert_upsert(d, &dev, a, now, &us, &supp);
                if (r < 0)
                        break;
                res = json_pack("{s:O,s:s}", "id", json_object_get(a, "id"), "status", names[us]);
                if (us == UPSERT_FOREIGN)
                        json_object_set_new(res, "error", json_string("alert id belongs to another device"));
                suppressed[i] = supp != NULL;
                if (us == UPSERT_STORED && !supp)
                        json_array_append(raised, json_object_get(a, "id"));
                json_array_append_new(results, res);
        }
        if (r == 0 && json_array_size(raised))
                r = defend_risk_update(d, device_id, raised, "agent", change);
        return db_finish(d->db, r);
}

/* alert_raised for each alert stored and not suppressed; results[i] is the
 * result of alerts[i]. */
static void publish_raised(struct vigild *d, const char *device_id, const json_t *alerts, const json_t *results,
                           const bool *suppressed)
{
        const json_t *a;
        size_t i;

        json_array_foreach(alerts, i, a) {
                const char *st = json_string_value(json_object_get(json_array_get(results, i), "status"));
                struct bus_event ev = {
                        .type = BUS_ALERT_RAISED, .device_id = device_id,
                        .alert_raised = { json_string_value(json_object_get(a, "id")),
                                          json_string_value(json_object_get(a, "severity")),
                                          json_string_value(json_object_get(a, "title")) },
                };

                if (st && strcmp(st, "stored") == 0 && !suppressed[i])
                        bus_publish(d->bus, &ev);
        }
}

/* POST /agent/v1/alerts {"alerts": [ALERT, ...]} */
void defend_handle_upload(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *device_id = req->who->device_id;
        struct defend_risk_change change = { 0 };
        bool suppressed[DEFEND_BATCH_ALERTS_MAX] = { 0 };
        size_t n_suppressed = 0;
        json_t *alerts = NULL, *results, *raised;
        enum defend_level risk;
        char err[256];
        int r;

        r = defend_batch_parse(req->body, req->body_len, &alerts, err, sizeof(err));
        if (r < 0) {
                http_reply_error(rep, r == -E2BIG ? 413 : 400, r == -E2BIG ? "batch_too_large" : "invalid_batch",
                                 "%s", err);
                return;
        }
        results = json_array();
        raised = json_array();
        db_lock(d->db);
        r = batch_store(d, device_id, alerts, results, raised, suppressed, &change);
        risk = defend_risk_get(d, device_id);
        db_unlock(d->db);
        if (r < 0) {
                log_error("cannot store %zu alerts of device %s: %s", json_array_size(alerts), device_id,
                          strerror(-r));
                http_reply_error(rep, 503, "database_error", "cannot store the alerts; nothing was stored, retry later");
                json_decref(results);
                goto out;
        }
        /* committed: only now may anyone hear of it */
        publish_raised(d, device_id, alerts, results, suppressed);
        defend_risk_publish(d, &change);
        if (json_array_size(raised))
                log_info("device %s raised %zu new alerts (risk %s)", device_id, json_array_size(raised),
                         defend_level_name(risk));
        for (size_t i = 0; i < json_array_size(alerts); i++)
                n_suppressed += suppressed[i];
        if (n_suppressed)
                log_info("device %s: %zu new alerts stored resolved by suppression rules", device_id, n_suppressed);
        http_reply_json(rep, 200, json_pack("{s:o,s:s}", "results", results, "risk", defend_level_name(risk)));
out:
        json_decref(raised);
        json_decref(alerts);
}

const struct http_route defend_routes[] = {
        { "POST", "/agent/v1/alerts", HTTP_AUTH_DEVICE, 0, defend_handle_upload, 0 },
        { "GET", "/api/v1/alerts", HTTP_AUTH_ADMIN, ROLES_ANY, defend_handle_list, 0 },
        { "POST", "/api/v1/alerts/resolve", HTTP_AUTH_ADMIN, ROLE_SECURITY_ADMIN, defend_handle_resolve, 0 },
        { "GET", "/api/v1/alerts/{id}", HTTP_AUTH_ADMIN, ROLES_ANY, defend_handle_show, 0 },
        { "PATCH", "/api/v1/alerts/{id}", HTTP_AUTH_ADMIN, ROLE_SECURITY_ADMIN, defend_handle_patch, 0 },
        { "POST", "/api/v1/alerts/{id}/comments", HTTP_AUTH_ADMIN, ROLE_SECURITY_ADMIN, defend_handle_comment, 0 },
        { "GET", "/api/v1/devices/{id}/timeline", HTTP_AUTH_ADMIN, ROLES_ANY, defend_handle_timeline, 0 },
        { "GET", "/api/v1/suppressions", HTTP_AUTH_ADMIN, ROLES_ANY, defend_handle_suppressions_list, 0 },
        { "POST", "/api/v1/suppressions", HTTP_AUTH_ADMIN, ROLE_SECURITY_ADMIN, defend_handle_suppression_create, 0 },
        { "GET", "/api/v1/suppressions/{id}", HTTP_AUTH_ADMIN, ROLES_ANY, defend_handle_suppression_show, 0 },
        { "PATCH", "/api/v1/suppressions/{id}", HTTP_AUTH_ADMIN, ROLE_SECURITY_ADMIN, defend_handle_suppression_patch, 0 },
        { "DELETE", "/api/v1/suppressions/{id}", HTTP_AUTH_ADMIN, ROLE_SECURITY_ADMIN,
          defend_handle_suppression_delete, 0 },
        { "GET", "/api/v1/suppressions/{id}/audit", HTTP_AUTH_ADMIN, ROLES_ANY, defend_handle_suppression_audit, 0 },
        { 0 },
};
