/* defend api: the alerts as admins see and work them — list with filters and
 * paging, one alert with its history and comments, changes of status,
 * classification, determination and assignee (each recorded with who and
 * when), comments, and bulk resolve by device or rule. */
#include "server/defend/defend-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/db/db.h"
#include "server/log.h"
#include "server/vigild.h"
#include "util/strutil.h"

#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX 500
#define ASSIGNEE_MAX 255
#define COMMENT_MAX 4096
#define RESOLVE_MAX 10000

static const char *const statuses[] = { "new", "in_progress", "resolved", NULL };
static const char *const classifications[] = {
        "unknown", "true_positive", "informational_expected_activity", "false_positive", NULL };
static const char *const determinations[] = {
        "not_available", "malware", "security_testing", "unwanted_software", "multi_staged_attack",
        "compromised_account", "phishing", "malicious_user_activity", "line_of_business_application",
        "confirmed_activity", "clean", "not_malicious", "insufficient_data", "other", NULL };

bool defend_in_set(const char *s, const char *const *set)
{
        for (; s && *set; set++)
                if (strcmp(s, *set) == 0)
                        return true;
        return false;
}

/* "a, b or c" for error messages. */
void defend_set_text(const char *const *set, char *out, size_t size)
{
        size_t n = 0;

        out[0] = '\0';
        for (size_t i = 0; set[i] && n < size; i++)
                n += (size_t)snprintf(out + n, size - n, "%s%s", i ? ", " : "", set[i]);
}

#define ALERT_COLUMNS \
        "id, device_id, rule_id, title, source, severity, status, classification, determination, " \
        "assigned_to, first_seen, last_seen, count, techniques, received_at, updated_at, resolved_at"

static json_t *techniques_json(const char *text)
{
        json_t *arr = json_array();
        const char *p = text ? text : "";

        while (*p) {
                const char *e = strchr(p, ',');
                size_t n = e ? (size_t)(e - p) : strlen(p);
                if (n)
                        json_array_append_new(arr, json_stringn(p, n));
                p += n + (e ? 1 : 0);
        }
        return arr;
}

json_t *defend_time_json(struct db_stmt *st, int col)
{
        char buf[21];

        if (db_column_is_null(st, col))
                return json_null();
        util_time_format(db_column_int64(st, col), buf);
        return json_string(buf);
}

static json_t *row_json(struct db_stmt *st)
{
        static const char *const keys[] = { "id", "device_id", "rule_id", "title", "source", "severity", "status",
                                            "classification", "determination", "assigned_to", "first_seen",
                                            "last_seen" };
        json_t *j = json_object();

        for (int i = 0; i < (int)(sizeof(keys) / sizeof(keys[0])); i++)
                json_object_set_new(j, keys[i], json_string(db_column_text(st, i, NULL)));
        json_object_set_new(j, "count", json_integer(db_column_int64(st, 12)));
        json_object_set_new(j, "techniques", techniques_json(db_column_text(st, 13, NULL)));
        json_object_set_new(j, "received_at", defend_time_json(st, 14));
        json_object_set_new(j, "updated_at", defend_time_json(st, 15));
        json_object_set_new(j, "resolved_at", defend_time_json(st, 16));
        return j;
}

struct list_query {
        const char *device, *severity, *status, *rule_id, *technique;
        int64_t since, until;           /* ns; -1 when absent */
        uint64_t limit, offset;
};

static int list_query_read(const struct http_request *req, struct list_query *q, struct http_reply *rep)
{
        const char *v;
        enum defend_level l;

        q->device = http_request_query(req, "device");
        q->severity = http_request_query(req, "severity");
        q->status = http_request_query(req, "status");
        q->rule_id = http_request_query(req, "rule_id");
        q->technique = http_request_query(req, "technique");
        q->since = q->until = -1;
        if (q->severity && defend_level_parse(q->severity, false, &l) < 0) {
                http_reply_error(rep, 400, "invalid_query", "'severity' must be informational, low, medium or high");
                return -EINVAL;
        }
        if (q->status && !defend_in_set(q->status, statuses)) {
                http_reply_error(rep, 400, "invalid_query", "'status' must be new, in_progress or resolved");
                return -EINVAL;
        }
        if (q->technique && (strlen(q->technique) > 9 || strchr(q->technique, ',') || strchr(q->technique, '%') ||
                             strchr(q->technique, '_') || q->technique[0] != 'T')) {
                http_reply_error(rep, 400, "invalid_query", "'technique' must look like T1059 or T1059.004");
                return -EINVAL;
        }
        if (((v = http_request_query(req, "since")) && defend_time_parse(v, &q->since) < 0) ||
            ((v = http_request_query(req, "until")) && defend_time_parse(v, &q->until) < 0)) {
                http_reply_error(rep, 400, "invalid_query", "'since' and 'until' must be RFC 3339 times");
                return -EINVAL;
        }
        return http_request_paging(req, LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, &q->limit, &q->offset, rep);
}

#define LIST_WHERE \
        " WHERE ($1 IS NULL OR device_id = $1) AND ($2 IS NULL OR severity = $2) " \
        "AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR rule_id = $4) " \
        "AND ($5 IS NULL OR techniques LIKE '%,' || $5 || ',%') " \
        "AND ($6 < 0 OR first_seen_ns >= $6) AND ($7 < 0 OR first_seen_ns < $7)"

static void list_bind(struct db_stmt *st, const struct list_query *q)
{
        const char *t[] = { q->device, q->severity, q->status, q->rule_id, q->technique };

        for (int i = 0; i < 5; i++)
                db_bind_text(st, i + 1, t[i], t[i] ? strlen(t[i]) : 0);
        db_bind_int64(st, 6, q->since);
        db_bind_int64(st, 7, q->until);
}

/* GET /api/v1/alerts?device=&severity=&status=&rule_id=&technique=&since=&until=&limit=&offset= */
void defend_handle_list(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct list_query q;
        struct db_stmt *st;
        int64_t total = 0;
        json_t *arr;
        int r;

        if (list_query_read(req, &q, rep) < 0)
                return;
        arr = json_array();
        db_lock(d->db);
        r = db_prepare(d->db, "SELECT count(*) FROM defend_alerts" LIST_WHERE, &st);
        if (r == 0) {
                list_bind(st, &q);
                r = db_step(st);
                total = db_column_int64(st, 0);
                db_stmt_done(st);
        }
        if (r >= 0)
                r = db_prepare(d->db, "SELECT " ALERT_COLUMNS " FROM defend_alerts" LIST_WHERE
                                      " ORDER BY first_seen_ns DESC, id LIMIT $8 OFFSET $9", &st);
        if (r >= 0) {
                list_bind(st, &q);
                db_bind_int64(st, 8, (int64_t)q.limit);
                db_bind_int64(st, 9, (int64_t)q.offset);
                while ((r = db_step(st)) == 1)
                        json_array_append_new(arr, row_json(st));
                db_stmt_done(st);
        }
        db_unlock(d->db);
        if (r < 0)
                http_reply_list_failed(rep, arr, "list alerts");
        else
                http_reply_page(rep, arr, total, q.offset);
}

/* The alert's row plus its whole JSON, history and comments. Lock held.
 * NULL if there is no such alert. */
static json_t *alert_full(struct vigild *d, const char *id)
{
        struct db_stmt *st;
        json_t *j = NULL, *hist, *comments;

        if (db_prepare(d->db, "SELECT " ALERT_COLUMNS ", alert FROM defend_alerts WHERE id = $1", &st) < 0)
                return NULL;
        db_bind_text(st, 1, id, strlen(id));
        if (db_step(st) == 1) {
                json_t *a = json_loads(db_column_text(st, 17, NULL), 0, NULL);
                j = row_json(st);
                /* the columns hold the latest count and last_seen */
                if (a) {
                        json_object_set(a, "count", json_object_get(j, "count"));
                        json_object_set(a, "last_seen", json_object_get(j, "last_seen"));
                        json_object_del(a, "change");
                }
                json_object_set_new(j, "alert", a ? a : json_null());
        }
        db_stmt_done(st);
        if (!j)
                return NULL;
        hist = json_array();
        if (db_prepare(d->db, "SELECT at, by, field, old_value, new_value, by_name FROM defend_alert_history "
                              "WHERE alert_id = $1 ORDER BY at, rowid", &st) == 0) {
                db_bind_text(st, 1, id, strlen(id));
                while (db_step(st) == 1)
                        json_array_append_new(hist, json_pack("{s:o,s:s,s:s,s:s,s:s?,s:s?}", "at", defend_time_json(st, 0),
                                "by", db_column_text(st, 1, NULL), "by_name", db_column_text(st, 5, NULL),
                                "field", db_column_text(st, 2, NULL),
                                "from", db_column_text(st, 3, NULL), "to", db_column_text(st, 4, NULL)));
                db_stmt_done(st);
        }
        comments = json_array();
        if (db_prepare(d->db, "SELECT at, by, text, by_name FROM defend_alert_comments WHERE alert_id = $1 "
                              "ORDER BY at, rowid", &st) == 0) {
                db_bind_text(st, 1, id, strlen(id));
                while (db_step(st) == 1)
                        json_array_append_new(comments, json_pack("{s:o,s:s,s:s,s:s}", "at", defend_time_json(st, 0),
                                "by", db_column_text(st, 1, NULL), "by_name", db_column_text(st, 3, NULL),
                                "text", db_column_text(st, 2, NULL)));
                db_stmt_done(st);
        }
        json_object_set_new(j, "history", hist);
        json_object_set_new(j, "comments", comments);
        return j;
}

static void reply_alert(struct vigild *d, const char *id, unsigned status, struct http_reply *rep)
{
        json_t *j;

        db_lock(d->db);
        j = alert_full(d, id);
        db_unlock(d->db);
        if (!j) {
                http_reply_error(rep, 404, "alert_not_found", "no alert with id '%s'", id);
                return;
        }
        http_reply_json(rep, status, j);
}

/* GET /api/v1/alerts/{id} */
void defend_handle_show(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        reply_alert(d, req->params[0], 200, rep);
}

/* Who made a change: the admin token's id and name. */
struct actor {
        const char *id, *name;
};

static struct actor actor_of(const struct http_request *req)
{
        return (struct actor){ req->who->token_id, req->who->token_name };
}

static int history_add(struct vigild *d, const char *id, int64_t now, struct actor by, const char *field,
                       const char *from, const char *to)
{
        return db_exec_params(d->db, "INSERT INTO defend_alert_history (alert_id, at, by, by_name, field, "
                              "old_value, new_value) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                              DB_PARAMS(db_param_text(id, strlen(id)), db_param_int64(now),
                                        db_param_text(by.id, strlen(by.id)), db_param_text(by.name, strlen(by.name)),
                                        db_param_text(field, strlen(field)),
                                        db_param_text(from, from ? strlen(from) : 0),
                                        db_param_text(to, to ? strlen(to) : 0)));
}

static int comment_add(struct vigild *d, const char *id, int64_t now, struct actor by, const char *text)
{
        return db_exec_params(d->db, "INSERT INTO defend_alert_comments (alert_id, at, by, by_name, text) "
                              "VALUES ($1, $2, $3, $4, $5)",
                              DB_PARAMS(db_param_text(id, strlen(id)), db_param_int64(now),
                                        db_param_text(by.id, strlen(by.id)), db_param_text(by.name, strlen(by.name)),
                                        db_param_text(text, strlen(text))));
}

/* Status changes allowed: from new or in_progress to anything but new;
 * resolved may be reopened to in_progress. */
static bool transition_ok(const char *from, const char *to)
{
        return strcmp(to, "new") != 0 || strcmp(from, "new") == 0;
}

static const char *const patch_keys[] = { "status", "classification", "determination", "assigned_to" };
#define N_PATCH_KEYS 4

/* Checks a PATCH body: only known keys, each with a valid value. */
static int patch_check(const json_t *body, char *err, size_t err_size)
{
        const char *const *sets[N_PATCH_KEYS] = { statuses, classifications, determinations, NULL };
        const char *k;
        json_t *v;
        char list[512];

        if (json_object_size(body) == 0) {
                snprintf(err, err_size, "nothing to change: send status, classification, determination or assigned_to");
                return -EINVAL;
        }
        json_object_foreach((json_t *)body, k, v) {
                int i;
                for (i = 0; i < N_PATCH_KEYS && strcmp(k, patch_keys[i]) != 0; i++)
                        ;
                if (i == N_PATCH_KEYS) {
                        snprintf(err, err_size, "unknown member '%.64s': only status, classification, "
                                 "determination and assigned_to may be changed", k);
                        return -EINVAL;
                }
                if (sets[i] && !defend_in_set(json_string_value(v), sets[i])) {
                        defend_set_text(sets[i], list, sizeof(list));
                        snprintf(err, err_size, "'%s' must be one of %s", k, list);
                        return -EINVAL;
                }
                if (!sets[i] && (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
                                 !util_str_is_text(json_string_value(v), ASSIGNEE_MAX))) {
                        snprintf(err, err_size, "'assigned_to' must be a string of at most %d bytes without "
                                 "control characters", ASSIGNEE_MAX);
                        return -EINVAL;
                }
        }
        return 0;
}

/* Applies a checked PATCH in a transaction. Lock held. Returns 0, -ENOENT,
 * -EPERM (status transition refused; err says why) or a database error. */
static int patch_apply(struct vigild *d, const char *id, const json_t *body, struct actor by,
                       struct defend_risk_change *change, char *err, size_t err_size)
{
        static const char *const updates[N_PATCH_KEYS] = {
                "UPDATE defend_alerts SET status = $2, updated_at = $3, "
                "resolved_at = CASE WHEN $2 = 'resolved' THEN $3 ELSE NULL END WHERE id = $1",
                "UPDATE defend_alerts SET classification = $2, updated_at = $3 WHERE id = $1",
                "UPDATE defend_alerts SET determination = $2, updated_at = $3 WHERE id = $1",
                "UPDATE defend_alerts SET assigned_to = $2, updated_at = $3 WHERE id = $1",
        };
        char old[N_PATCH_KEYS][ASSIGNEE_MAX + 64], device[HTTP_PARAM_MAX + 1] = "";
        int64_t now = util_now();
        bool status_changed = false;
        struct db_stmt *st;
        int r;

        r = db_begin(d->db);
        if (r < 0)
                return r;
        r = db_prepare(d->db, "SELECT status, classification, determination, assigned_to, device_id "
                              "FROM defend_alerts WHERE id = $1", &st);
        if (r == 0) {
                db_bind_text(st, 1, id, strlen(id));
                r = db_step(st);
                if (r == 1)
                        for (int i = 0; i < N_PATCH_KEYS + 1; i++)
                                snprintf(i < N_PATCH_KEYS ? old[i] : device, i < N_PATCH_KEYS ? sizeof(old[i]) :
                                         sizeof(device), "%s", db_column_text(st, i, NULL));
                db_stmt_done(st);
                r = r == 1 ? 0 : r == 0 ? -ENOENT : r;
        }
        for (int i = 0; r == 0 && i < N_PATCH_KEYS; i++) {
                const char *v = json_string_value(json_object_get(body, patch_keys[i]));
                if (!v || strcmp(v, old[i]) == 0)
                        continue;
                if (i == 0 && !transition_ok(old[0], v)) {
                        snprintf(err, err_size, "an alert cannot go back from %s to new", old[0]);
                        r = -EPERM;
                        break;
                }
                r = db_exec_params(d->db, updates[i], DB_PARAMS(db_param_text(id, strlen(id)),
                                   db_param_text(v, strlen(v)), db_param_int64(now)));
                if (r == 0)
                        r = history_add(d, id, now, by, patch_keys[i], old[i], v);
                status_changed |= i == 0;
        }
        if (r == 0 && status_changed) {
                json_t *ids = json_pack("[s]", id);
                r = defend_risk_update(d, device, ids, by.id, change);
                json_decref(ids);
        }
        return db_finish(d->db, r);
}

/* PATCH /api/v1/alerts/{id} {"status": ..., "classification": ..., "determination": ..., "assigned_to": ...} */
void defend_handle_patch(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct defend_risk_change change = { 0 };
        const char *id = req->params[0];
        char err[768];
        json_t *body;
        int r;

        body = http_request_json(req, rep);
        if (!body)
                return;
        if (patch_check(body, err, sizeof(err)) < 0) {
                http_reply_error(rep, 400, "invalid_request", "%s", err);
                goto out;
        }
        db_lock(d->db);
        r = patch_apply(d, id, body, actor_of(req), &change, err, sizeof(err));
        db_unlock(d->db);
        if (r == -ENOENT)
                http_reply_error(rep, 404, "alert_not_found", "no alert with id '%s'", id);
        else if (r == -EPERM)
                http_reply_error(rep, 409, "invalid_transition", "%s", err);
        else if (r < 0)
                http_reply_error(rep, 500, "database_error", "cannot change the alert");
        if (r < 0)
                goto out;
        defend_risk_publish(d, &change);
        reply_alert(d, id, 200, rep);
out:
        json_decref(body);
}

static int comment_text(const json_t *body, const char **ret, struct http_reply *rep)
{
        const char *s = json_string_value(json_object_get(body, "comment"));

        if (!s || !*s || strlen(s) > COMMENT_MAX || strlen(s) != json_string_length(json_object_get(body, "comment"))) {
                http_reply_error(rep, 400, "invalid_request", "'comment' must be a non-empty string of at most %d bytes",
                                 COMMENT_MAX);
                return -EINVAL;
        }
        *ret = s;
        return 0;
}

/* POST /api/v1/alerts/{id}/comments {"comment": "..."} */
void defend_handle_comment(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0], *text;
        struct db_stmt *st;
        json_t *body;
        int r;

        body = http_request_json(req, rep);
        if (!body)
                return;
        if (comment_text(body, &text, rep) < 0)
                goto out;
        db_lock(d->db);
        r = db_prepare(d->db, "SELECT 1 FROM defend_alerts WHERE id = $1", &st);
        if (r == 0) {
                db_bind_text(st, 1, id, strlen(id));
                r = db_step(st);
                db_stmt_done(st);
        }
        if (r == 1)
                r = comment_add(d, id, util_now(), actor_of(req), text);
        else if (r == 0)
                r = -ENOENT;
        db_unlock(d->db);
        if (r == -ENOENT)
                http_reply_error(rep, 404, "alert_not_found", "no alert with id '%s'", id);
        else if (r < 0)
                http_reply_error(rep, 500, "database_error", "cannot store the comment");
        else
                reply_alert(d, id, 201, rep);
out:
        json_decref(body);
}

/* Picks the unresolved alerts to resolve: {device_id: [alert ids]}. Lock held. */
static int resolve_select(struct vigild *d, const char *device, const char *rule, json_t *by_device,
                          bool *ret_more)
{
        struct db_stmt *st;
        size_t n = 0;
        int r;

        r = db_prepare(d->db, "SELECT id, device_id FROM defend_alerts WHERE status <> 'resolved' "
                              "AND ($1 IS NULL OR device_id = $1) AND ($2 IS NULL OR rule_id = $2) "
                              "ORDER BY received_at, id LIMIT $3", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, device, device ? strlen(device) : 0);
        db_bind_text(st, 2, rule, rule ? strlen(rule) : 0);
        db_bind_int64(st, 3, RESOLVE_MAX + 1);
        while ((r = db_step(st)) == 1 && n < RESOLVE_MAX) {
                const char *dev = db_column_text(st, 1, NULL);
                json_t *ids = json_object_get(by_device, dev);
                if (!ids) {
                        ids = json_array();
                        json_object_set_new(by_device, dev, ids);
                }
                json_array_append_new(ids, json_string(db_column_text(st, 0, NULL)));
                n++;
        }
        *ret_more = r == 1;
        db_stmt_done(st);
        return r < 0 ? r : 0;
}

static int resolve_one(struct vigild *d, const char *id, int64_t now, struct actor by, const char *comment)
{
        struct db_stmt *st;
        char old[32] = "";
        int r;

        r = db_prepare(d->db, "SELECT status FROM defend_alerts WHERE id = $1", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, id, strlen(id));
        if (db_step(st) == 1)
                snprintf(old, sizeof(old), "%s", db_column_text(st, 0, NULL));
        db_stmt_done(st);
        r = db_exec_params(d->db, "UPDATE defend_alerts SET status = 'resolved', updated_at = $2, resolved_at = $2 "
                           "WHERE id = $1", DB_PARAMS(db_param_text(id, strlen(id)), db_param_int64(now)));
        if (r == 0)
                r = history_add(d, id, now, by, "status", old, "resolved");
        if (r == 0)
                r = comment_add(d, id, now, by, comment);
        return r;
}

/* Resolves the selection in one transaction, recomputing each device's risk. Lock held. */
static int resolve_apply(struct vigild *d, const json_t *by_device, struct actor by, const char *comment,
                         struct defend_risk_change *changes)
{
        int64_t now = util_now();
        const char *dev;
        json_t *ids, *idv;
        size_t k = 0, i;
        int r;

        r = db_begin(d->db);
        if (r < 0)
                return r;
        json_object_foreach((json_t *)by_device, dev, ids) {
                json_array_foreach(ids, i, idv)
                        if (r == 0)
                                r = resolve_one(d, json_string_value(idv), now, by, comment);
                if (r == 0)
                        r = defend_risk_update(d, dev, ids, by.id, &changes[k++]);
        }
        return db_finish(d->db, r);
}

/* POST /api/v1/alerts/resolve {"device_id": ID | "rule_id": ID, "comment": "..."} */
void defend_handle_resolve(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct defend_risk_change *changes = NULL;
        const char *device, *rule, *comment;
        json_t *body, *by_device = json_object(), *ids, *all = json_array();
        size_t n = 0;
        const char *k;
        bool more = false;
        int r;

        body = http_request_json(req, rep);
        if (!body)
                goto out;
        device = json_string_value(json_object_get(body, "device_id"));
        rule = json_string_value(json_object_get(body, "rule_id"));
        if (!!device == !!rule || json_object_size(body) != 2) {
                http_reply_error(rep, 400, "invalid_request",
                                 "send exactly one of 'device_id' and 'rule_id' (strings), and 'comment'");
                goto out;
        }
        if (comment_text(body, &comment, rep) < 0)
                goto out;
        db_lock(d->db);
        r = resolve_select(d, device, rule, by_device, &more);
        if (r == 0 && json_object_size(by_device)) {
                changes = calloc(json_object_size(by_device), sizeof(*changes));
                r = changes ? resolve_apply(d, by_device, actor_of(req), comment, changes) : -ENOMEM;
        }
        db_unlock(d->db);
        if (r < 0) {
                http_reply_error(rep, 500, "database_error", "cannot resolve the alerts");
                goto out;
        }
        json_object_foreach(by_device, k, ids) {
                defend_risk_publish(d, &changes[n++]);
                json_array_extend(all, ids);
        }
        log_info("token %s resolved %zu alerts (%s %s)", req->who->token_id, json_array_size(all),
                 device ? "device" : "rule", device ? device : rule);
        http_reply_json(rep, 200, json_pack("{s:I,s:O,s:b}", "resolved", (json_int_t)json_array_size(all),
                                            "alert_ids", all, "more", more));
out:
        free(changes);
        json_decref(all);
        json_decref(by_device);
        json_decref(body);
}
