/* tvm tasks: remediation tasks made from a security recommendation. A
 * security_admin creates one (package, target device group, priority, due
 * date, notes); an it_admin accepts or rejects it (with a reason) and marks
 * it completed. Every change is a row of tvm_task_events with who and when.
 * A task lists the devices still vulnerable, read from the current results,
 * so its completion is checked against the devices' next inventories. See
 * results.h and docs/TVM.md ("Security tasks"). */
#include "server/tvm/results.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "server/db/db.h"
#include "server/manage/manage.h"
#include "server/vigild.h"
#include "util/dpkgver.h"
#include "util/strutil.h"

#define TASK_ID_LEN 36
#define REASON_MAX 1000                 /* bytes of a rejection's reason */
#define TASKS_LIMIT_DEFAULT 100
#define TASKS_LIMIT_MAX 1000
#define DEVICES_SHOWN_MAX 1000          /* devices listed as still vulnerable; the count has them all */

static const char *const priorities[] = { "low", "medium", "high", "critical", NULL };

static bool in_set(const char *s, const char *const *set)
{
        for (; s && *set; set++)
                if (strcmp(s, *set) == 0)
                        return true;
        return false;
}

/* ---- devices still vulnerable ---- */

/* Adds to t "still_vulnerable" (the number of devices of its group that
 * still have a CVE of its package fixed at or before its version) and, when
 * detail, "devices_still_vulnerable": [{device_id, cves: [...]}]. db lock held. */
static int task_devices(struct vigild *d, json_t *t, bool detail)
{
        const char *source = json_string_value(json_object_get(t, "package"));
        const char *target = json_string_value(json_object_get(t, "fixed_version"));
        const char *group = json_string_value(json_object_get(t, "group_id"));
        const char *distro = json_string_value(json_object_get(t, "distro"));
        const char *release = json_string_value(json_object_get(t, "release"));
        json_t *devices = json_array(), *cur = NULL;
        char last[TVM_DEVICE_ID_MAX + 1] = "";
        struct db_stmt *st;
        size_t n = 0;
        int r;

        r = db_prepare(d->db, "SELECT device_id, cve, fixed_version FROM tvm_device_vulns WHERE source = $1 AND "
                              "distro = $2 AND release = $3 AND fixed_version IS NOT NULL ORDER BY device_id, cve", &st);
        if (r < 0)
                goto out;
        db_bind_text(st, 1, source, strlen(source));
        db_bind_text(st, 2, distro, strlen(distro));
        db_bind_text(st, 3, release, strlen(release));
        while ((r = db_step(st)) == 1) {
                const char *dev = db_column_text(st, 0, NULL), *cve = db_column_text(st, 1, NULL);

                if (dpkgver_compare(db_column_text(st, 2, NULL), target) > 0)
                        continue;       /* needs more than this task's upgrade */
                if (strcmp(dev, last) != 0) {
                        snprintf(last, sizeof(last), "%s", dev);
                        cur = NULL;
                        if (group && !manage_device_in_group(d, group, dev))
                                continue;
                        n++;
                        if (json_array_size(devices) < DEVICES_SHOWN_MAX) {
                                cur = json_array();
                                json_array_append_new(devices, json_pack("{s:s,s:o}", "device_id", dev, "cves", cur));
                        }
                }
                if (cur && (json_array_size(cur) == 0 ||
                            strcmp(json_string_value(json_array_get(cur, json_array_size(cur) - 1)), cve) != 0))
                        json_array_append_new(cur, json_string(cve));
        }
        db_stmt_done(st);
out:
        if (r < 0) {
                json_decref(devices);
                return r;
        }
        json_object_set_new(t, "still_vulnerable", json_integer((json_int_t)n));
        if (detail)
                json_object_set_new(t, "devices_still_vulnerable", devices);
        else
                json_decref(devices);
        return 0;
}

/* ---- reading ---- */

#define TASK_COLUMNS "id, source_package, fixed_version, group_id, priority, due_date, notes, status, reason, " \
                     "created_at, created_by, updated_at, updated_by, distro, release"

static json_t *task_row_json(struct db_stmt *st)
{
        return json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:o,s:s,s:s,s:s,s:o,s:s,s:o,s:s}",
                         "id", db_column_text(st, 0, NULL), "package", db_column_text(st, 1, NULL),
                         "distro", db_column_text(st, 13, NULL), "release", db_column_text(st, 14, NULL),
                         "fixed_version", db_column_text(st, 2, NULL),
                         "group_id", db_column_is_null(st, 3) ? json_null() : json_string(db_column_text(st, 3, NULL)),
                         "priority", db_column_text(st, 4, NULL),
                         "due_date", db_column_is_null(st, 5) ? json_null() : json_string(db_column_text(st, 5, NULL)),
                         "notes", db_column_text(st, 6, NULL), "status", db_column_text(st, 7, NULL),
                         "reason", db_column_text(st, 8, NULL),
                         "created_at", http_time_or_null(db_column_int64(st, 9)), "created_by", db_column_text(st, 10, NULL),
                         "updated_at", http_time_or_null(db_column_int64(st, 11)), "updated_by", db_column_text(st, 12, NULL));
}

static int task_history(struct vigild *d, const char *id, json_t **ret)
{
        json_t *arr = json_array();
        struct db_stmt *st;
        int r = db_prepare(d->db, "SELECT at, by_token, by_name, action, status, reason FROM tvm_task_events "
                                  "WHERE task_id = $1 ORDER BY at, rowid", &st);

        if (r < 0) {
                json_decref(arr);
                return r;
        }
        db_bind_text(st, 1, id, strlen(id));
        while ((r = db_step(st)) == 1)
                json_array_append_new(arr, json_pack("{s:o,s:s,s:s,s:s,s:s,s:s}", "at",
                                                     http_time_or_null(db_column_int64(st, 0)),
                                                     "by", db_column_text(st, 1, NULL), "by_name", db_column_text(st, 2, NULL),
                                                     "action", db_column_text(st, 3, NULL),
                                                     "status", db_column_text(st, 4, NULL),
                                                     "reason", db_column_text(st, 5, NULL)));
        db_stmt_done(st);
        if (r < 0) {
                json_decref(arr);
                return r;
        }
        *ret = arr;
        return 0;
}

/* The task with its history and devices, or -ENOENT. db lock held. */
static int task_read(struct vigild *d, const char *id, json_t **ret)
{
        struct db_stmt *st;
        json_t *t = NULL, *hist;
        int r = db_prepare(d->db, "SELECT " TASK_COLUMNS " FROM tvm_tasks WHERE id = $1", &st);

        if (r < 0)
                return r;
        db_bind_text(st, 1, id, strlen(id));
        r = db_step(st);
        if (r == 1)
                t = task_row_json(st);
        db_stmt_done(st);
        if (r < 0)
                return r;
        if (!t)
                return -ENOENT;
        r = task_history(d, id, &hist);
        if (r == 0) {
                json_object_set_new(t, "history", hist);
                r = task_devices(d, t, true);
        }
        if (r < 0) {
                json_decref(t);
                return r;
        }
        *ret = t;
        return 0;
}

/* GET /api/v1/tvm/tasks[?status=][&limit=&offset=] */
static void handle_list(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        static const char *const statuses[] = { "pending", "accepted", "rejected", "completed", NULL };
        const char *status = http_request_query(req, "status");
        uint64_t limit, offset;
        struct db_stmt *st;
        int64_t total = 0;
        json_t *arr;
        int r;

        if (status && !in_set(status, statuses)) {
                http_reply_error(rep, 400, "invalid_query", "'status' must be pending, accepted, rejected or completed");
                return;
        }
        if (http_request_paging(req, TASKS_LIMIT_DEFAULT, TASKS_LIMIT_MAX, &limit, &offset, rep) < 0)
                return;
        arr = json_array();
        db_lock(d->db);
        r = db_prepare(d->db, "SELECT count(*) FROM tvm_tasks WHERE ($1 IS NULL OR status = $1)", &st);
        if (r == 0) {
                db_bind_text(st, 1, status, status ? strlen(status) : 0);
                r = db_step(st);
                total = db_column_int64(st, 0);
                db_stmt_done(st);
        }
        if (r >= 0)
                r = db_prepare(d->db, "SELECT " TASK_COLUMNS " FROM tvm_tasks WHERE ($1 IS NULL OR status = $1) "
                                      "ORDER BY created_at DESC, id LIMIT $2 OFFSET $3", &st);
        if (r >= 0) {
                db_bind_text(st, 1, status, status ? strlen(status) : 0);
                db_bind_int64(st, 2, (int64_t)limit);
                db_bind_int64(st, 3, (int64_t)offset);
                while ((r = db_step(st)) == 1)
                        json_array_append_new(arr, task_row_json(st));
                db_stmt_done(st);
        }
        for (size_t i = 0; r >= 0 && i < json_array_size(arr); i++)
                r = task_devices(d, json_array_get(arr, i), false);
        db_unlock(d->db);
        if (r < 0)
                http_reply_list_failed(rep, arr, "list the tasks");
        else
                http_reply_page(rep, arr, total, offset);
}

static void reply_task(struct vigild *d, const char *id, unsigned status, struct http_reply *rep)
{
        json_t *t;
        int r;

        db_lock(d->db);
        r = task_read(d, id, &t);
        db_unlock(d->db);
        if (r == -ENOENT)
                http_reply_error(rep, 404, "task_not_found", "no task with id '%s'", id);
        else if (r < 0)
                http_reply_failed(rep, r, "read the task");
        else
                http_reply_json(rep, status, t);
}

/* GET /api/v1/tvm/tasks/{id} */
static void handle_get(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        reply_task(d, req->params[0], 200, rep);
}

/* ---- changes ---- */

static int event_add(struct vigild *d, const char *id, const struct http_principal *who, const char *action,
                     const char *status, const char *reason, int64_t now)
{
        return db_exec_params(d->db, "INSERT INTO tvm_task_events VALUES ($1, $2, $3, $4, $5, $6, $7)",
                              DB_PARAMS(db_param_text(id, strlen(id)), db_param_int64(now),
                                        db_param_text(who->token_id, strlen(who->token_id)),
                                        db_param_text(who->token_name, strlen(who->token_name)),
                                        db_param_text(action, strlen(action)), db_param_text(status, strlen(status)),
                                        db_param_text(reason, strlen(reason))));
}

static int optional_string(const json_t *body, const char *key, size_t max, const char **ret, char *err, size_t size)
{
        const json_t *v = json_object_get(body, key);

        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v) || !util_str_is_text(json_string_value(v), max))
                return util_path_fail(err, size, key, "must be a string of at most %zu bytes without control characters",
                                      max);
        *ret = json_string_value(v);
        return 0;
}

int tvm_task_body_check(const json_t *body, struct tvm_task_body *ret, char *err, size_t size)
{
        static const char *const keys[] = { "package", "distro", "release", "group_id", "priority", "due_date",
                                            "notes", NULL };
        struct tvm_task_body b;
        const char *key;
        json_t *v;
        int64_t t;
        char when[32], back[21];

        if (!json_is_object(body))
                return util_path_fail(err, size, "(body)", "must be a JSON object");
        json_object_foreach((json_t *)body, key, v) {
                if (!in_set(key, keys))
                        return util_path_fail(err, size, key, "unknown member");
        }
        if (optional_string(body, "package", TVM_REC_SOURCE_MAX, &b.package, err, size) < 0 ||
            optional_string(body, "distro", 16, &b.distro, err, size) < 0 ||
            optional_string(body, "release", 32, &b.release, err, size) < 0 ||
            optional_string(body, "group_id", MANAGE_ID_LEN, &b.group_id, err, size) < 0 ||
            optional_string(body, "priority", 16, &b.priority, err, size) < 0 ||
            optional_string(body, "due_date", 10, &b.due_date, err, size) < 0 ||
            optional_string(body, "notes", TVM_TASK_NOTES_MAX, &b.notes, err, size) < 0)
                return -EINVAL;
        if (!b.package || !*b.package)
                return util_path_fail(err, size, "package", "is required: the source package of a recommendation");
        if (!b.priority || !in_set(b.priority, priorities))
                return util_path_fail(err, size, "priority", "must be low, medium, high or critical");
        if (b.due_date) {
                snprintf(when, sizeof(when), "%sT00:00:00Z", b.due_date);
                /* formatted back, so that a day the month lacks (02-30) is refused */
                if (strlen(b.due_date) != 10 || util_time_parse(when, &t) < 0 ||
                    (util_time_format(t, back), strncmp(back, b.due_date, 10) != 0))
                        return util_path_fail(err, size, "due_date", "must be a date as YYYY-MM-DD");
                /* a task due before the day it is made would be late from the start */
                util_time_format(util_now(), back);
                if (strncmp(b.due_date, back, 10) < 0)
                        return util_path_fail(err, size, "due_date", "must not be before today (%.10s, UTC)", back);
        }
        *ret = b;
        return 0;
}

/* The recommendation a task is made from: the one of b's package (and of
 * its distro and release when it names them), as a JSON object the caller
 * decrefs. Returns 0, -ENOENT (none), -ENOTUNIQ (several: name the
 * release; their names in err), -ENODATA (none of its vulnerabilities has a
 * fix) or another negative errno. db lock held. */
static int recommendation_pick(struct vigild *d, const struct tvm_task_body *b, json_t **ret, char *err,
                               size_t size)
{
        json_t *recs, *pick = NULL, *rec;
        size_t i, n = 0, len = 0;
        int r = tvm_recommendations(d, b->package, &recs);

        if (r < 0)
                return r;
        err[0] = '\0';
        json_array_foreach(recs, i, rec) {
                const char *distro = json_string_value(json_object_get(rec, "distro"));
                const char *release = json_string_value(json_object_get(rec, "release"));

                if ((b->distro && strcmp(b->distro, distro) != 0) || (b->release && strcmp(b->release, release) != 0))
                        continue;
                n++;
                pick = rec;
                if (len < size)
                        len += (size_t)snprintf(err + len, size - len, "%s%s %s", n > 1 ? ", " : "", distro, release);
        }
        if (n == 0)
                r = -ENOENT;
        else if (n > 1)
                r = -ENOTUNIQ;
        else if (!json_is_string(json_object_get(pick, "fixed_version")))
                r = -ENODATA;
        else
                *ret = json_incref(pick);
        json_decref(recs);
        return r;
}

static int task_insert(struct vigild *d, const char *id, const struct tvm_task_body *b, const json_t *rec,
                       const struct http_principal *who, int64_t now)
{
        const char *fixed = json_string_value(json_object_get(rec, "fixed_version"));
        const char *distro = json_string_value(json_object_get(rec, "distro"));
        const char *release = json_string_value(json_object_get(rec, "release"));
        int r = db_exec_params(d->db, "INSERT INTO tvm_tasks VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', '', $8, $9, "
                                      "$8, $9, $10, $11)",
                               DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(b->package, strlen(b->package)),
                                         db_param_text(fixed, strlen(fixed)),
                                         b->group_id ? db_param_text(b->group_id, strlen(b->group_id)) : db_param_null(),
                                         db_param_text(b->priority, strlen(b->priority)),
                                         b->due_date ? db_param_text(b->due_date, 10) : db_param_null(),
                                         db_param_text(b->notes ? b->notes : "", b->notes ? strlen(b->notes) : 0),
                                         db_param_int64(now), db_param_text(who->token_id, strlen(who->token_id)),
                                         db_param_text(distro, strlen(distro)), db_param_text(release, strlen(release))));
        if (r == 0)
                r = event_add(d, id, who, "created", "pending", "", now);
        return r;
}

/* POST /api/v1/tvm/tasks (security_admin) */
static void handle_create(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        char err[256], id[TASK_ID_LEN + 1];
        json_t *body = http_request_json(req, rep), *rec = NULL;
        struct tvm_task_body b = { 0 };
        int r;

        if (!body)
                return;
        if (tvm_task_body_check(body, &b, err, sizeof(err)) < 0) {
                http_reply_error_at(rep, 400, "invalid_task", "%s", err);
                goto out;
        }
        if (b.group_id && !manage_group_exists(d, b.group_id)) {
                http_reply_error(rep, 404, "group_not_found", "no device group with id '%s'", b.group_id);
                goto out;
        }
        if (crypto_uuid4(id) < 0) {
                http_reply_error(rep, 500, "internal", "cannot make a task id");
                goto out;
        }
        db_lock(d->db);
        r = recommendation_pick(d, &b, &rec, err, sizeof(err));
        if (r == 0) {
                r = db_begin(d->db);
                if (r == 0)
                        r = db_finish(d->db, task_insert(d, id, &b, rec, req->who, util_now()));
        }
        db_unlock(d->db);
        json_decref(rec);
        if (r == -ENOENT)
                http_reply_error(rep, 404, "no_recommendation", "no device is vulnerable through package '%s'%s", b.package,
                                 b.distro || b.release ? " on that release" : "");
        else if (r == -ENOTUNIQ)
                http_reply_error(rep, 409, "ambiguous", "package '%s' has recommendations for several releases (%s): "
                                 "name one with 'distro' and 'release'", b.package, err);
        else if (r == -ENODATA)
                http_reply_error(rep, 409, "no_fix", "no fixed version of '%s' exists yet for its vulnerabilities",
                                 b.package);
        else if (r < 0)
                http_reply_failed(rep, r, "store the task");
        else
                reply_task(d, id, 201, rep);
out:
        json_decref(body);
}

/* The statuses a task may move from to reach to. */
static bool transition_ok(const char *from, const char *to)
{
        if (strcmp(to, "accepted") == 0)
                return strcmp(from, "pending") == 0;
        if (strcmp(to, "rejected") == 0)
                return strcmp(from, "pending") == 0 || strcmp(from, "accepted") == 0;
        return strcmp(from, "pending") == 0 || strcmp(from, "accepted") == 0;        /* completed */
}

/* Moves a task to status to, recorded as an event of that name. db lock held. */
static int task_move(struct vigild *d, const char *id, const char *to, const char *reason,
                     const struct http_principal *who, char *from, size_t from_size)
{
        struct db_stmt *st;
        int64_t now = util_now();
        int r = db_prepare(d->db, "SELECT status FROM tvm_tasks WHERE id = $1", &st);

        if (r < 0)
                return r;
        db_bind_text(st, 1, id, strlen(id));
        r = db_step(st);
        if (r == 1)
                snprintf(from, from_size, "%s", db_column_text(st, 0, NULL));
        db_stmt_done(st);
        if (r <= 0)
                return r < 0 ? r : -ENOENT;
        if (!transition_ok(from, to))
                return -EPERM;
        r = db_begin(d->db);
        if (r < 0)
                return r;
        r = db_exec_params(d->db, "UPDATE tvm_tasks SET status = $2, reason = $3, updated_at = $4, updated_by = $5 "
                                  "WHERE id = $1",
                           DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(to, strlen(to)),
                                     db_param_text(reason, strlen(reason)), db_param_int64(now),
                                     db_param_text(who->token_id, strlen(who->token_id))));
        if (r == 0)
                r = event_add(d, id, who, to, to, reason, now);
        return db_finish(d->db, r);
}

static void change(struct vigild *d, const struct http_request *req, struct http_reply *rep, const char *to,
                   bool needs_reason)
{
        const char *id = req->params[0], *reason = "";
        json_t *body = NULL;
        char from[16] = "";
        int r;

        if (needs_reason || req->body_len) {
                const json_t *v;

                body = http_request_json(req, rep);
                if (!body)
                        return;
                v = json_object_get(body, "reason");
                if (json_object_size(body) > (v ? 1u : 0u)) {
                        http_reply_error(rep, 400, "invalid_request", "the body may hold only 'reason'");
                        goto out;
                }
                if (v && (!json_is_string(v) || !util_str_is_text(json_string_value(v), REASON_MAX))) {
                        http_reply_error_at(rep, 400, "invalid_request",
                                            "reason: must be a string of at most %d bytes without control characters",
                                            REASON_MAX);
                        goto out;
                }
                reason = v ? json_string_value(v) : "";
        }
        if (needs_reason && !*reason) {
                http_reply_error_at(rep, 400, "invalid_request", "reason: a rejection needs a reason");
                goto out;
        }
        if (!needs_reason && *reason) {
                /* the task's reason is its rejection's: an accept or a completion has none */
                http_reply_error(rep, 400, "invalid_request", "reason: only a rejection takes a reason");
                goto out;
        }
        db_lock(d->db);
        r = task_move(d, id, to, reason, req->who, from, sizeof(from));
        db_unlock(d->db);
        if (r == -ENOENT)
                http_reply_error(rep, 404, "task_not_found", "no task with id '%s'", id);
        else if (r == -EPERM)
                http_reply_error(rep, 409, "invalid_transition", "a %s task cannot become %s", from, to);
        else if (r < 0)
                http_reply_failed(rep, r, "store the task's change");
        else
                reply_task(d, id, 200, rep);
out:
        json_decref(body);
}

static void handle_accept(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        change(d, req, rep, "accepted", false);
}

static void handle_reject(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        change(d, req, rep, "rejected", true);
}

static void handle_complete(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        change(d, req, rep, "completed", false);
}

const struct http_route tvm_task_routes[] = {
        { "POST", "/api/v1/tvm/tasks", HTTP_AUTH_ADMIN, ROLE_SECURITY_ADMIN, handle_create, 16 * 1024 },
        { "GET", "/api/v1/tvm/tasks", HTTP_AUTH_ADMIN, ROLES_ANY, handle_list, 0 },
        { "GET", "/api/v1/tvm/tasks/{id}", HTTP_AUTH_ADMIN, ROLES_ANY, handle_get, 0 },
        { "POST", "/api/v1/tvm/tasks/{id}/accept", HTTP_AUTH_ADMIN, ROLE_IT_ADMIN, handle_accept, 4096 },
        { "POST", "/api/v1/tvm/tasks/{id}/reject", HTTP_AUTH_ADMIN, ROLE_IT_ADMIN, handle_reject, 4096 },
        { "POST", "/api/v1/tvm/tasks/{id}/complete", HTTP_AUTH_ADMIN, ROLE_IT_ADMIN, handle_complete, 4096 },
        { 0 },
};
