/* defend actions: what an admin asks a device to do (isolate, release,
 * collect_investigation_package, run_scan, offboard), carried to the agent by
 * long-poll and followed through its statuses (docs/ACTIONS.md).
 *
 * An action is made pending with the admin's comment; the agent's long-poll
 * (GET /agent/v1/actions) is woken at once and hands it over; the agent says
 * in_progress, then succeeded or failed (POST /agent/v1/actions/{id}), and a
 * collect uploads its package first (PUT /agent/v1/actions/{id}/package).
 * Pending and in-progress actions past their expiry become timed_out
 * whenever actions are read; an admin may cancel an open one. Every change of
 * status is recorded with who and when. The device's isolation state is the
 * outcome of its last isolate or release that succeeded.
 *
 * Owns defend_actions and defend_action_history (migration track
 * "defend_actions"); packages are files DATA_DIR/packages/ID.tar.gz. */
#include "server/defend/defend-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "server/bus.h"
#include "server/db/db.h"
#include "server/enroll/enroll.h"
#include "server/log.h"
#include "server/manage/profiles.h"
#include "server/vigild.h"
#include "util/strutil.h"

#define COMMENT_MAX 4096
#define MESSAGE_MAX 4096
#define RESULT_MAX (64 * 1024)
#define TIMEOUT_DEFAULT_S (24 * 3600)
#define TIMEOUT_MIN_S 5
#define TIMEOUT_MAX_S (30 * 24 * 3600)
#define WAIT_MAX_S 30
#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX 500
#define AGENT_OPEN_MAX 50               /* open actions handed over in one answer */
#define PACKAGE_DIR "packages"
#define PACKAGE_MAX (64u << 20)

static const struct db_migration action_migrations[] = {
        { 1,
          "CREATE TABLE defend_actions ("
          "  id TEXT PRIMARY KEY,"
          "  device_id TEXT NOT NULL,"
          "  type TEXT NOT NULL,"
          "  status TEXT NOT NULL,"
          "  comment TEXT NOT NULL,"
          "  requested_by TEXT NOT NULL,"
          "  requested_by_name TEXT NOT NULL,"
          "  created_at INTEGER NOT NULL,"
          "  updated_at INTEGER NOT NULL,"
          "  started_at INTEGER,"
          "  finished_at INTEGER,"
          "  expires_at INTEGER NOT NULL,"
          "  message TEXT,"
          "  result TEXT,"
          "  package_size INTEGER,"
          "  package_sha256 TEXT);"
          "CREATE INDEX defend_actions_device ON defend_actions(device_id, created_at);"
          "CREATE INDEX defend_actions_status ON defend_actions(status, expires_at);"
          "CREATE TABLE defend_action_history ("
          "  action_id TEXT NOT NULL REFERENCES defend_actions(id),"
          "  at INTEGER NOT NULL,"
          "  by TEXT NOT NULL,"
          "  by_name TEXT NOT NULL,"
          "  from_status TEXT,"
          "  to_status TEXT NOT NULL,"
          "  message TEXT);"
          "CREATE INDEX defend_action_history_action ON defend_action_history(action_id, at);" },
};

static const char *const types[] = { "isolate", "release", "collect_investigation_package", "run_scan",
                                     "offboard", NULL };
static const char *const statuses[] = { "pending", "in_progress", "succeeded", "failed", "timed_out",
                                        "cancelled", NULL };

int defend_actions_migrate(struct vigild *d)
{
        return db_migrate(d->db, "defend_actions", action_migrations,
                          sizeof(action_migrations) / sizeof(action_migrations[0]));
}

/* Only a security_admin may isolate, release or offboard. */
static bool type_needs_security_admin(const char *type)
{
        return strcmp(type, "isolate") == 0 || strcmp(type, "release") == 0 || strcmp(type, "offboard") == 0;
}

/* isolate and release change one thing: one of them open at a time. */
static const char *type_group(const char *type)
{
        return strcmp(type, "release") == 0 ? "isolate" : type;
}

static int history_add(struct vigild *d, const char *id, int64_t now, const char *by, const char *by_name,
                       const char *from, const char *to, const char *message)
{
        return db_exec_params(d->db, "INSERT INTO defend_action_history (action_id, at, by, by_name, "
                              "from_status, to_status, message) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                              DB_PARAMS(db_param_text(id, strlen(id)), db_param_int64(now),
                                        db_param_text(by, strlen(by)), db_param_text(by_name, strlen(by_name)),
                                        db_param_text(from, from ? strlen(from) : 0),
                                        db_param_text(to, strlen(to)),
                                        db_param_text(message, message ? strlen(message) : 0)));
}

/* Open actions that expire() timed out, to publish once the lock is
 * released (expired_publish). At most EXPIRED_BATCH per call: the rest
 * wait for the next call, so none goes unannounced. */
#define EXPIRED_BATCH 32
struct expired {
        size_t n;
        struct {
                char id[37];
                char device_id[37];
                char type[40];
        } v[EXPIRED_BATCH];
};

/* Open actions past their expiry become timed_out, with a history row
 * each; ex gets them (at most EXPIRED_BATCH). Lock held; its own
 * transaction. Returns 0 or a negative errno (ex then empty). */
static int expire(struct vigild *d, struct expired *ex)
{
        int64_t now = util_now();
        struct db_stmt *st;
        int r;

        ex->n = 0;
        /* a read first: the common case writes nothing */
        r = db_prepare(d->db, "SELECT id, device_id, type FROM defend_actions WHERE status IN "
                              "('pending', 'in_progress') AND expires_at <= $1 ORDER BY expires_at LIMIT $2", &st);
        if (r < 0)
                return r;
        db_bind_int64(st, 1, now);
        db_bind_int64(st, 2, EXPIRED_BATCH);
        while ((r = db_step(st)) == 1 && ex->n < EXPIRED_BATCH) {
                const char *id = db_column_text(st, 0, NULL), *dev = db_column_text(st, 1, NULL),
                           *type = db_column_text(st, 2, NULL);

                snprintf(ex->v[ex->n].id, sizeof(ex->v[ex->n].id), "%s", id ? id : "");
                snprintf(ex->v[ex->n].device_id, sizeof(ex->v[ex->n].device_id), "%s", dev ? dev : "");
                snprintf(ex->v[ex->n].type, sizeof(ex->v[ex->n].type), "%s", type ? type : "");
                ex->n++;
        }
        db_stmt_done(st);
        if (r < 0 || ex->n == 0) {
                ex->n = 0;
                return r < 0 ? r : 0;
        }
        r = db_begin(d->db);
        for (size_t i = 0; r == 0 && i < ex->n; i++) {
                const char *id = ex->v[i].id;

                r = db_exec_params(d->db, "INSERT INTO defend_action_history (action_id, at, by, by_name, "
                                   "from_status, to_status, message) SELECT id, $2, 'vigild', 'vigild', status, "
                                   "'timed_out', 'the device did not finish the action before it expired' "
                                   "FROM defend_actions WHERE id = $1",
                                   DB_PARAMS(db_param_text(id, strlen(id)), db_param_int64(now)));
                if (r == 0)
                        r = db_exec_params(d->db, "UPDATE defend_actions SET status = 'timed_out', updated_at = $2, "
                                           "finished_at = $2 WHERE id = $1",
                                           DB_PARAMS(db_param_text(id, strlen(id)), db_param_int64(now)));
        }
        r = db_finish(d->db, r);
        if (r < 0)
                ex->n = 0;
        return r;
}

static void action_publish(struct vigild *d, const char *id, const char *device_id, const char *type,
                           const char *status);

/* Tells the bus of the actions expire() timed out; lock released. */
static void expired_publish(struct vigild *d, const struct expired *ex)
{
        for (size_t i = 0; i < ex->n; i++)
                action_publish(d, ex->v[i].id, ex->v[i].device_id, ex->v[i].type, "timed_out");
}

void defend_actions_tick(struct vigild *d)
{
        struct expired ex;

        db_lock(d->db);
        expire(d, &ex);
        db_unlock(d->db);
        expired_publish(d, &ex);
}

#define ACTION_COLUMNS \
        "id, device_id, type, status, comment, requested_by, requested_by_name, created_at, updated_at, " \
        "started_at, finished_at, expires_at, message, result, package_size, package_sha256"

static json_t *row_json(struct db_stmt *st)
{
        static const char *const keys[] = { "id", "device_id", "type", "status", "comment", "requested_by",
                                            "requested_by_name" };
        static const char *const times[] = { "created_at", "updated_at", "started_at", "finished_at",
                                             "expires_at" };
        const char *result = db_column_text(st, 13, NULL);
        json_t *j = json_object(), *res = result ? json_loads(result, 0, NULL) : NULL;

        for (int i = 0; i < 7; i++)
                json_object_set_new(j, keys[i], json_string(db_column_text(st, i, NULL)));
        for (int i = 0; i < 5; i++)
                json_object_set_new(j, times[i], defend_time_json(st, 7 + i));
        json_object_set_new(j, "message", db_column_is_null(st, 12) ? json_null() :
                            json_string(db_column_text(st, 12, NULL)));
        json_object_set_new(j, "result", res ? res : json_null());
        if (!db_column_is_null(st, 14))
                json_object_set_new(j, "package", json_pack("{s:I,s:s}", "size", (json_int_t)db_column_int64(st, 14),
                                                            "sha256", db_column_text(st, 15, NULL)));
        return j;
}

/* The action's JSON with its history, or NULL. Lock held. */
static json_t *action_full(struct vigild *d, const char *id)
{
        struct db_stmt *st;
        json_t *j = NULL, *hist;

        if (db_prepare(d->db, "SELECT " ACTION_COLUMNS " FROM defend_actions WHERE id = $1", &st) < 0)
                return NULL;
        db_bind_text(st, 1, id, strlen(id));
        if (db_step(st) == 1)
                j = row_json(st);
        db_stmt_done(st);
        if (!j)
                return NULL;
        hist = json_array();
        if (db_prepare(d->db, "SELECT at, by, by_name, from_status, to_status, message FROM defend_action_history "
                              "WHERE action_id = $1 ORDER BY at, rowid", &st) == 0) {
                db_bind_text(st, 1, id, strlen(id));
                while (db_step(st) == 1)
                        json_array_append_new(hist, json_pack("{s:o,s:s,s:s,s:s?,s:s,s:s?}",
                                "at", defend_time_json(st, 0), "by", db_column_text(st, 1, NULL),
                                "by_name", db_column_text(st, 2, NULL), "from", db_column_text(st, 3, NULL),
                                "to", db_column_text(st, 4, NULL), "message", db_column_text(st, 5, NULL)));
                db_stmt_done(st);
        }
        json_object_set_new(j, "history", hist);
        return j;
}

static void reply_action(struct vigild *d, const char *id, unsigned status, struct http_reply *rep)
{
        struct expired ex;
        json_t *j;

        db_lock(d->db);
        expire(d, &ex);
        j = action_full(d, id);
        db_unlock(d->db);
        expired_publish(d, &ex);
        if (!j) {
                http_reply_error(rep, 404, "action_not_found", "no action with id '%s'", id);
                return;
        }
        http_reply_json(rep, status, j);
}

/* Reads the POST body of a new action. Returns 0 or -EINVAL with rep filled. */
static int request_read(const json_t *body, const char **ret_type, const char **ret_comment,
                        int64_t *ret_timeout, struct http_reply *rep)
{
        const char *k, *type, *comment;
        json_t *v, *t;
        char list[160];

        json_object_foreach((json_t *)body, k, v)
                if (strcmp(k, "type") != 0 && strcmp(k, "comment") != 0 && strcmp(k, "timeout_s") != 0) {
                        http_reply_error(rep, 400, "invalid_action", "unknown member '%.64s': an action has "
                                         "type, comment and timeout_s", k);
                        return -EINVAL;
                }
        type = json_string_value(json_object_get(body, "type"));
        defend_set_text(types, list, sizeof(list));
        if (!defend_in_set(type, types)) {
                http_reply_error(rep, 400, "invalid_action", "'type' must be one of %s", list);
                return -EINVAL;
        }
        comment = json_string_value(json_object_get(body, "comment"));
        if (!comment || !comment[0] || strlen(comment) > COMMENT_MAX || !util_str_is_text(comment, COMMENT_MAX)) {
                http_reply_error(rep, 400, "comment_required", "every action needs a 'comment' saying why "
                                 "(text of 1 to %d bytes)", COMMENT_MAX);
                return -EINVAL;
        }
        *ret_timeout = TIMEOUT_DEFAULT_S;
        t = json_object_get(body, "timeout_s");
        if (t) {
                if (!json_is_integer(t) || json_integer_value(t) < TIMEOUT_MIN_S ||
                    json_integer_value(t) > TIMEOUT_MAX_S) {
                        http_reply_error(rep, 400, "invalid_action", "'timeout_s' must be an integer from %d "
                                         "to %d seconds", TIMEOUT_MIN_S, TIMEOUT_MAX_S);
                        return -EINVAL;
                }
                *ret_timeout = json_integer_value(t);
        }
        *ret_type = type;
        *ret_comment = comment;
        return 0;
}

/* The id of an open action of type's group on the device, into id. Lock
 * held. Returns 1 if there is one, 0 if not, or a negative errno. */
static int open_action_find(struct vigild *d, const char *device_id, const char *type, char id[static 37])
{
        const char *group = type_group(type);
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, "SELECT id FROM defend_actions WHERE device_id = $1 "
                              "AND status IN ('pending', 'in_progress') "
                              "AND (type = $2 OR ($2 = 'isolate' AND type = 'release')) LIMIT 1", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, device_id, strlen(device_id));
        db_bind_text(st, 2, group, strlen(group));
        r = db_step(st);
        if (r == 1)
                snprintf(id, 37, "%s", db_column_text(st, 0, NULL));
        db_stmt_done(st);
        return r;
}

/* Tells the bus an action's new status; after the commit, lock released. */
static void action_publish(struct vigild *d, const char *id, const char *device_id, const char *type,
                           const char *status)
{
        struct bus_event ev = { .type = BUS_ACTION_CHANGED, .device_id = device_id,
                                .action_changed = { id, type, status } };

        bus_publish(d->bus, &ev);
}

int defend_action_request(struct vigild *d, const char *device_id, const char *type, const char *comment,
                          const char *by, const char *by_name, int64_t timeout_s, char ret_id[static 37])
{
        struct expired ex;
        char id[37], open_id[37];
        int64_t now = util_now();
        int r;

        if (!defend_in_set(type, types) || !comment || !comment[0] || strlen(comment) > COMMENT_MAX || !by ||
            !by_name || timeout_s < TIMEOUT_MIN_S || timeout_s > TIMEOUT_MAX_S)
                return -EINVAL;
        if (!enroll_device_onboarded(d, device_id))
                return enroll_device_exists(d, device_id) ? -ESHUTDOWN : -ENOENT;
        if (crypto_uuid4(id) < 0)
                return -EIO;
        db_lock(d->db);
        expire(d, &ex);
        r = db_begin(d->db);
        if (r == 0) {
                r = open_action_find(d, device_id, type, open_id);
                if (r == 1)
                        r = -EBUSY;
        }
        if (r == 0)
                r = db_exec_params(d->db, "INSERT INTO defend_actions (id, device_id, type, status, comment, "
                                   "requested_by, requested_by_name, created_at, updated_at, expires_at) "
                                   "VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $7, $8)",
                                   DB_PARAMS(db_param_text(id, strlen(id)),
                                             db_param_text(device_id, strlen(device_id)),
                                             db_param_text(type, strlen(type)),
                                             db_param_text(comment, strlen(comment)),
                                             db_param_text(by, strlen(by)), db_param_text(by_name, strlen(by_name)),
                                             db_param_int64(now), db_param_int64(now + timeout_s)));
        if (r == 0)
                r = history_add(d, id, now, by, by_name, NULL, "pending", comment);
        r = db_finish(d->db, r);
        db_unlock(d->db);
        expired_publish(d, &ex);
        if (r == 0 || r == -EBUSY)
                memcpy(ret_id, r == 0 ? id : open_id, 37);
        if (r == 0) {
                log_info("action %s: %s of device %s requested by %s", id, type, device_id, by);
                /* a waiting agent hears of it now (the listener, once it runs) */
                http_server_wake(__atomic_load_n(&d->http, __ATOMIC_ACQUIRE), device_id);
                action_publish(d, id, device_id, type, "pending");
        }
        return r;
}

/* POST /api/v1/devices/{id}/actions {type, comment, timeout_s} */
static void handle_action_create(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *device_id = req->params[0], *type, *comment;
        char id[37];
        int64_t timeout;
        json_t *body;
        int r;

        body = http_request_json(req, rep);
        if (!body)
                return;
        if (request_read(body, &type, &comment, &timeout, rep) < 0)
                goto out;
        if (type_needs_security_admin(type) && !(req->who->role & ROLE_SECURITY_ADMIN)) {
                http_reply_error(rep, 403, "forbidden", "only a security_admin may %s a device", type);
                goto out;
        }
        r = defend_action_request(d, device_id, type, comment, req->who->token_id, req->who->token_name, timeout,
                                  id);
        if (r == -ESHUTDOWN) {
                http_reply_error(rep, 409, "device_offboarded", "device %s is offboarded: it takes no more actions",
                                 device_id);
        } else if (r == -ENOENT) {
                http_reply_error(rep, 404, "device_not_found", "no device with id '%s'", device_id);
        } else if (r == -EBUSY) {
                http_reply_error(rep, 409, "action_pending", "action %s (%s) is still open on device %s: wait for "
                                 "it or cancel it", id, strcmp(type_group(type), "isolate") == 0 ?
                                 "isolate or release" : type, device_id);
        } else if (r < 0) {
                http_reply_error(rep, 500, "database_error", "cannot store the action");
        } else {
                reply_action(d, id, 201, rep);
        }
out:
        json_decref(body);
}

/* GET /api/v1/actions/{id} */
static void handle_action_show(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        reply_action(d, req->params[0], 200, rep);
}

static void list_actions(struct vigild *d, const struct http_request *req, const char *device,
                         struct http_reply *rep)
{
        struct expired ex;
        const char *type = http_request_query(req, "type"), *status = http_request_query(req, "status");
        const char *t[3];
        uint64_t limit, offset;
        struct db_stmt *st;
        int64_t total = 0;
        json_t *arr;
        int r;

        if (!device)
                device = http_request_query(req, "device");
        if ((type && !defend_in_set(type, types)) || (status && !defend_in_set(status, statuses))) {
                char tl[160], sl[160];
                defend_set_text(types, tl, sizeof(tl));
                defend_set_text(statuses, sl, sizeof(sl));
                http_reply_error(rep, 400, "invalid_query", "'type' must be one of %s; 'status' one of %s", tl, sl);
                return;
        }
        if (http_request_paging(req, LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, &limit, &offset, rep) < 0)
                return;
        t[0] = device;
        t[1] = type;
        t[2] = status;
        arr = json_array();
        db_lock(d->db);
        expire(d, &ex);
#define WHERE " WHERE ($1 IS NULL OR device_id = $1) AND ($2 IS NULL OR type = $2) AND ($3 IS NULL OR status = $3)"
        r = db_prepare(d->db, "SELECT count(*) FROM defend_actions" WHERE, &st);
        if (r == 0) {
                for (int i = 0; i < 3; i++)
                        db_bind_text(st, i + 1, t[i], t[i] ? strlen(t[i]) : 0);
                r = db_step(st);
                total = db_column_int64(st, 0);
                db_stmt_done(st);
        }
        if (r >= 0)
                r = db_prepare(d->db, "SELECT " ACTION_COLUMNS " FROM defend_actions" WHERE
                                      " ORDER BY created_at DESC, rowid DESC LIMIT $4 OFFSET $5", &st);
#undef WHERE
        if (r >= 0) {
                for (int i = 0; i < 3; i++)
                        db_bind_text(st, i + 1, t[i], t[i] ? strlen(t[i]) : 0);
                db_bind_int64(st, 4, (int64_t)limit);
                db_bind_int64(st, 5, (int64_t)offset);
                while ((r = db_step(st)) == 1)
                        json_array_append_new(arr, row_json(st));
                db_stmt_done(st);
        }
        db_unlock(d->db);
        expired_publish(d, &ex);
        if (r < 0)
                http_reply_list_failed(rep, arr, "list actions");
        else
                http_reply_page(rep, arr, total, offset);
}

/* GET /api/v1/actions?device=&type=&status=&limit=&offset= */
static void handle_action_list(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        list_actions(d, req, NULL, rep);
}

/* GET /api/v1/devices/{id}/actions */
static void handle_device_actions(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        if (!enroll_device_exists(d, req->params[0])) {
                http_reply_error(rep, 404, "device_not_found", "no device with id '%s'", req->params[0]);
                return;
        }
        list_actions(d, req, req->params[0], rep);
}

/* Reads an action's device, type and status. Lock held. Returns 1, 0 if there
 * is no such action, or a negative errno. */
static int action_get(struct vigild *d, const char *id, char device[static 64], char type[static 40],
                      char status[static 16])
{
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, "SELECT device_id, type, status FROM defend_actions WHERE id = $1", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, id, strlen(id));
        r = db_step(st);
        if (r == 1) {
                snprintf(device, 64, "%s", db_column_text(st, 0, NULL));
                snprintf(type, 40, "%s", db_column_text(st, 1, NULL));
                snprintf(status, 16, "%s", db_column_text(st, 2, NULL));
        }
        db_stmt_done(st);
        return r;
}

static bool status_open(const char *status)
{
        return strcmp(status, "pending") == 0 || strcmp(status, "in_progress") == 0;
}

/* Moves an action from status from to to. Lock held, transaction open.
 * Returns 0, -ESTALE if its status is no longer from, or a negative errno. */
static int status_set(struct vigild *d, const char *id, const char *from, const char *to, const char *by,
                      const char *by_name, const char *message, const char *result)
{
        int64_t now = util_now();
        bool finished = !status_open(to);
        int r;

        r = db_exec_params(d->db, "UPDATE defend_actions SET status = $3, updated_at = $4, "
                           "started_at = CASE WHEN $3 = 'in_progress' THEN $4 ELSE started_at END, "
                           "finished_at = CASE WHEN $5 = 1 THEN $4 ELSE finished_at END, "
                           "message = coalesce($6, message), result = coalesce($7, result) "
                           "WHERE id = $1 AND status = $2",
                           DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(from, strlen(from)),
                                     db_param_text(to, strlen(to)), db_param_int64(now),
                                     db_param_int64(finished ? 1 : 0),
                                     db_param_text(message, message ? strlen(message) : 0),
                                     db_param_text(result, result ? strlen(result) : 0)));
        if (r == 0 && db_changes(d->db) != 1)
                r = -ESTALE;
        if (r == 0)
                r = history_add(d, id, now, by, by_name, from, to, message);
        return r;
}

/* POST /api/v1/actions/{id}/cancel {comment} */
static void handle_action_cancel(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct expired ex;
        const char *id = req->params[0], *comment = NULL;
        char device[64], type[40], status[16];
        json_t *body = NULL;
        int r;

        if (req->body_len) {
                body = http_request_json(req, rep);
                if (!body)
                        return;
                comment = json_string_value(json_object_get(body, "comment"));
                if (comment && (strlen(comment) > COMMENT_MAX || !util_str_is_text(comment, COMMENT_MAX))) {
                        http_reply_error(rep, 400, "invalid_action", "'comment' must be text of at most %d bytes",
                                         COMMENT_MAX);
                        goto out;
                }
        }
        db_lock(d->db);
        expire(d, &ex);
        r = db_begin(d->db);
        if (r == 0)
                r = action_get(d, id, device, type, status);
        if (r == 1 && type_needs_security_admin(type) && !(req->who->role & ROLE_SECURITY_ADMIN))
                r = -EPERM;
        else if (r == 1 && !status_open(status))
                r = -ESTALE;
        else if (r == 1)
                r = status_set(d, id, status, "cancelled", req->who->token_id, req->who->token_name,
                               comment ? comment : "cancelled by an admin", NULL);
        else if (r == 0)
                r = -ENOENT;
        r = db_finish(d->db, r);
        db_unlock(d->db);
        expired_publish(d, &ex);
        if (r == -ENOENT)
                http_reply_error(rep, 404, "action_not_found", "no action with id '%s'", id);
        else if (r == -EPERM)
                http_reply_error(rep, 403, "forbidden", "only a security_admin may cancel a %s", type);
        else if (r == -ESTALE)
                http_reply_error(rep, 409, "action_closed", "action %s is %s: only a pending or in_progress "
                                 "action can be cancelled", id, status);
        else if (r < 0)
                http_reply_error(rep, 500, "database_error", "cannot cancel the action");
        else {
                log_info("action %s (%s of device %s) cancelled by token %s", id, type, device, req->who->token_id);
                http_server_wake(req->server, device);
                action_publish(d, id, device, type, "cancelled");
                reply_action(d, id, 200, rep);
        }
out:
        json_decref(body);
}

static int package_path(struct vigild *d, const char *id, char *out, size_t size, bool temp)
{
        int n = snprintf(out, size, "%s/%s/%s.tar.gz%s", d->data_dir, PACKAGE_DIR, id, temp ? ".part" : "");

        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* GET /api/v1/actions/{id}/package */
static void handle_package_download(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0];
        char device[64], type[40], status[16], path[4300], name[128];
        struct stat sb;
        int fd, r;

        db_lock(d->db);
        r = action_get(d, id, device, type, status);
        db_unlock(d->db);
        if (r != 1) {
                http_reply_error(rep, r == 0 ? 404 : 500, r == 0 ? "action_not_found" : "database_error",
                                 r == 0 ? "no action with id '%s'" : "cannot read action %s", id);
                return;
        }
        if (strcmp(type, "collect_investigation_package") != 0 || strcmp(status, "succeeded") != 0) {
                http_reply_error(rep, 409, "no_package", "action %s is a %s that is %s: only a succeeded "
                                 "collect_investigation_package has a package", id, type, status);
                return;
        }
        package_path(d, id, path, sizeof(path), false);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &sb) < 0) {
                if (fd >= 0)
                        close(fd);
                http_reply_error(rep, 410, "package_gone", "the package of action %s is no longer on the server", id);
                return;
        }
        snprintf(name, sizeof(name), "vigil-investigation-%s-%.8s.tar.gz", device, id);
        http_reply_file(rep, 200, fd, (uint64_t)sb.st_size, "application/gzip", name);
}

/* The device's open actions as the agent gets them. Lock held. */
static json_t *agent_actions(struct vigild *d, const char *device_id)
{
        struct db_stmt *st;
        json_t *arr = json_array();

        if (db_prepare(d->db, "SELECT id, type, status, comment, created_at, expires_at FROM defend_actions "
                              "WHERE device_id = $1 AND status IN ('pending', 'in_progress') "
                              "ORDER BY created_at, rowid LIMIT $2", &st) < 0)
                return arr;
        db_bind_text(st, 1, device_id, strlen(device_id));
        db_bind_int64(st, 2, AGENT_OPEN_MAX);
        while (db_step(st) == 1)
                json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:o,s:o}", "id", db_column_text(st, 0, NULL),
                                                     "type", db_column_text(st, 1, NULL),
                                                     "status", db_column_text(st, 2, NULL),
                                                     "comment", db_column_text(st, 3, NULL),
                                                     "created_at", defend_time_json(st, 4),
                                                     "expires_at", defend_time_json(st, 5)));
        db_stmt_done(st);
        return arr;
}

/* GET /agent/v1/actions?wait=SECONDS&config_version=HEX: the device's open
 * actions and the version of its configuration (profiles); with no action
 * and the configuration the agent says it has, the answer waits up to wait
 * seconds for either to change. */
static void handle_agent_poll(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct expired ex;
        const char *device_id = req->who->device_id, *v = http_request_query(req, "wait");
        const char *have = http_request_query(req, "config_version");
        char config[PROFILES_VERSION_HEX + 1] = "";
        uint64_t wait = 0, seq = 0;
        json_t *arr;

        if (v && util_uint_parse(v, WAIT_MAX_S, &wait) < 0) {
                http_reply_error(rep, 400, "invalid_query", "'wait' must be from 0 to %d seconds", WAIT_MAX_S);
                return;
        }
        if (wait && !req->resumed)
                seq = http_wait_seq(req->server);
        db_lock(d->db);
        expire(d, &ex);
        arr = agent_actions(d, device_id);
        db_unlock(d->db);
        expired_publish(d, &ex);
        if (profiles_device_version(d, device_id, config) < 0)
                log_warn("cannot compute the configuration version of device %s", device_id);
        if (json_array_size(arr) == 0 && wait && !req->resumed && (!have || strcmp(have, config) == 0)) {
                json_decref(arr);
                http_reply_wait(rep, device_id, (unsigned)wait * 1000, seq);
                return;
        }
        http_reply_json(rep, 200, json_pack("{s:o,s:s}", "actions", arr, "config_version", config));
}

/* Reads the agent's report {status, message, result}. Returns 0 or -EINVAL
 * with rep filled. */
static int report_read(const json_t *body, const char **ret_status, const char **ret_message, char **ret_result,
                       struct http_reply *rep)
{
        const char *k, *status, *message;
        json_t *v, *result;

        json_object_foreach((json_t *)body, k, v)
                if (strcmp(k, "status") != 0 && strcmp(k, "message") != 0 && strcmp(k, "result") != 0) {
                        http_reply_error(rep, 400, "invalid_report", "unknown member '%.64s': a report has "
                                         "status, message and result", k);
                        return -EINVAL;
                }
        status = json_string_value(json_object_get(body, "status"));
        if (!status || (strcmp(status, "in_progress") != 0 && strcmp(status, "succeeded") != 0 &&
                        strcmp(status, "failed") != 0)) {
                http_reply_error(rep, 400, "invalid_report", "'status' must be in_progress, succeeded or failed");
                return -EINVAL;
        }
        v = json_object_get(body, "message");
        message = json_string_value(v);
        if ((v && !message) || (message && (strlen(message) > MESSAGE_MAX || !util_str_is_text(message, MESSAGE_MAX)))) {
                http_reply_error(rep, 400, "invalid_report", "'message' must be text of at most %d bytes",
                                 MESSAGE_MAX);
                return -EINVAL;
        }
        result = json_object_get(body, "result");
        *ret_result = NULL;
        if (result) {
                if (!json_is_object(result) || !(*ret_result = json_dumps(result, JSON_COMPACT)) ||
                    strlen(*ret_result) > RESULT_MAX) {
                        free(*ret_result);
                        *ret_result = NULL;
                        http_reply_error(rep, 400, "invalid_report", "'result' must be an object of at most %d "
                                         "bytes", RESULT_MAX);
                        return -EINVAL;
                }
        }
        *ret_status = status;
        *ret_message = message;
        return 0;
}

/* Whether a collect has its package. Lock held. */
static bool package_stored(struct vigild *d, const char *id)
{
        struct db_stmt *st;
        bool stored = false;

        if (db_prepare(d->db, "SELECT package_size FROM defend_actions WHERE id = $1", &st) < 0)
                return false;
        db_bind_text(st, 1, id, strlen(id));
        stored = db_step(st) == 1 && !db_column_is_null(st, 0);
        db_stmt_done(st);
        return stored;
}

/* POST /agent/v1/actions/{id} {status, message, result}: the agent's report.
 * in_progress once, then succeeded or failed; a report on an action that is
 * closed (cancelled, timed out) is refused with action_closed so the agent
 * stops. A succeeded offboard offboards the device once committed. */
static void handle_agent_report(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct expired ex;
        const char *id = req->params[0], *device_id = req->who->device_id, *to, *message;
        char device[64], type[40], status[16], by_name[80];
        char *result = NULL;
        json_t *body;
        int r;

        body = http_request_json(req, rep);
        if (!body)
                return;
        if (report_read(body, &to, &message, &result, rep) < 0)
                goto out;
        snprintf(by_name, sizeof(by_name), "device %s", device_id);
        db_lock(d->db);
        expire(d, &ex);
        r = db_begin(d->db);
        if (r == 0)
                r = action_get(d, id, device, type, status);
        if (r == 1 && strcmp(device, device_id) != 0)
                r = 0;          /* another device's action: as if there were none */
        if (r == 0)
                r = -ENOENT;
        else if (r == 1 && strcmp(status, to) == 0)
                r = 0;          /* said again (a retry): nothing changes */
        else if (r == 1 && (!status_open(status) || (strcmp(to, "in_progress") == 0 &&
                                                     strcmp(status, "pending") != 0)))
                r = -ESTALE;
        else if (r == 1 && strcmp(to, "succeeded") == 0 && strcmp(type, "collect_investigation_package") == 0 &&
                 !package_stored(d, id))
                r = -ENODATA;
        else if (r == 1)
                r = status_set(d, id, status, to, "device", by_name, message, result);
        r = db_finish(d->db, r);
        db_unlock(d->db);
        expired_publish(d, &ex);
        if (r == -ENOENT) {
                http_reply_error(rep, 404, "action_not_found", "no action %s for this device", id);
                goto out;
        }
        if (r == -ESTALE) {
                http_reply_error(rep, 409, "action_closed", "action %s is %s: it cannot become %s", id, status, to);
                goto out;
        }
        if (r == -ENODATA) {
                http_reply_error(rep, 409, "package_missing", "upload the package of action %s before saying it "
                                 "succeeded", id);
                goto out;
        }
        if (r < 0) {
                http_reply_error(rep, 500, "database_error", "cannot store the report");
                goto out;
        }
        if (strcmp(to, status) != 0) {
                log_info("action %s (%s of device %s): %s%s%s", id, type, device_id, to, message ? ": " : "",
                         message ? message : "");
                action_publish(d, id, device_id, type, to);
        }
        if (strcmp(to, "succeeded") == 0 && strcmp(type, "offboard") == 0 && strcmp(status, to) != 0) {
                char by[64];
                snprintf(by, sizeof(by), "action:%s", id);
                r = enroll_device_offboard(d, device_id, by);
                if (r < 0 && r != -EALREADY)
                        log_error("action %s: cannot offboard device %s: %s", id, device_id, strerror(-r));
        }
        http_reply_json(rep, 200, json_pack("{s:s,s:s}", "id", id, "status", to));
out:
        free(result);
        json_decref(body);
}

/* Writes the package to DATA_DIR/packages/ID.tar.gz (temp, fsync, rename).
 * Returns 0 or a negative errno. */
static int package_write(struct vigild *d, const char *id, const void *data, size_t len)
{
        char dir[4200], tmp[4300], path[4300];
        int fd, r;

        if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", d->data_dir, PACKAGE_DIR) >= sizeof(dir))
                return -ENAMETOOLONG;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        if (package_path(d, id, tmp, sizeof(tmp), true) < 0 || package_path(d, id, path, sizeof(path), false) < 0)
                return -ENAMETOOLONG;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        r = util_fd_write(fd, data, len);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                unlink(tmp);
        return r;
}

/* PUT /agent/v1/actions/{id}/package: the gzip'd tar of a collect that is in
 * progress; may be sent again (the last one stays). */
static void handle_package_upload(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0], *device_id = req->who->device_id;
        char device[64], type[40], status[16], hex[65];
        uint8_t hash[CRYPTO_SHA256_LEN];
        int r;

        if (req->body_len < 18 || (uint8_t)req->body[0] != 0x1f || (uint8_t)req->body[1] != 0x8b) {
                http_reply_error(rep, 400, "invalid_package", "the package must be a gzip file (tar.gz)");
                return;
        }
        db_lock(d->db);
        r = action_get(d, id, device, type, status);
        db_unlock(d->db);
        if (r != 1 || strcmp(device, device_id) != 0) {
                http_reply_error(rep, r < 0 ? 500 : 404, r < 0 ? "database_error" : "action_not_found",
                                 "no action %s for this device", id);
                return;
        }
        if (strcmp(type, "collect_investigation_package") != 0 || strcmp(status, "in_progress") != 0) {
                http_reply_error(rep, 409, "action_closed", "action %s is a %s that is %s: a package is taken only "
                                 "for a collect_investigation_package in progress", id, type, status);
                return;
        }
        r = package_write(d, id, req->body, req->body_len);
        if (r < 0) {
                log_error("action %s: cannot store the package: %s", id, strerror(-r));
                http_reply_error(rep, 507, "storage_error", "the server cannot store the package now");
                return;
        }
        crypto_sha256(req->body, req->body_len, hash);
        util_hex_encode(hash, sizeof(hash), hex);
        db_lock(d->db);
        r = db_exec_params(d->db, "UPDATE defend_actions SET package_size = $2, package_sha256 = $3, updated_at = $4 "
                           "WHERE id = $1 AND status = 'in_progress'",
                           DB_PARAMS(db_param_text(id, strlen(id)), db_param_int64((int64_t)req->body_len),
                                     db_param_text(hex, strlen(hex)), db_param_int64(util_now())));
        if (r == 0 && db_changes(d->db) != 1)
                r = -ESTALE;
        db_unlock(d->db);
        if (r < 0) {
                http_reply_error(rep, r == -ESTALE ? 409 : 500, r == -ESTALE ? "action_closed" : "database_error",
                                 "cannot record the package of action %s", id);
                return;
        }
        log_info("action %s: investigation package of device %s stored (%zu bytes, sha256 %.12s)", id, device_id,
                 req->body_len, hex);
        http_reply_json(rep, 200, json_pack("{s:s,s:I,s:s}", "id", id, "size", (json_int_t)req->body_len,
                                            "sha256", hex));
}

void defend_actions_device_json(struct vigild *d, const char *device_id, json_t *device, bool detail)
{
        struct db_stmt *st;
        const char *state = "not_isolated";
        json_t *iso;

        db_lock(d->db);
        iso = json_object();
        if (db_prepare(d->db, "SELECT type, finished_at, id FROM defend_actions WHERE device_id = $1 "
                              "AND type IN ('isolate', 'release') AND status = 'succeeded' "
                              "ORDER BY finished_at DESC, rowid DESC LIMIT 1", &st) == 0) {
                db_bind_text(st, 1, device_id, strlen(device_id));
                if (db_step(st) == 1) {
                        if (strcmp(db_column_text(st, 0, NULL), "isolate") == 0)
                                state = "isolated";
                        json_object_set_new(iso, "since", defend_time_json(st, 1));
                        json_object_set_new(iso, "action_id", json_string(db_column_text(st, 2, NULL)));
                }
                db_stmt_done(st);
        }
        json_object_set_new(iso, "state", json_string(state));
        if (detail && db_prepare(d->db, "SELECT count(*) FROM defend_actions WHERE device_id = $1 "
                                        "AND status IN ('pending', 'in_progress')", &st) == 0) {
                db_bind_text(st, 1, device_id, strlen(device_id));
                if (db_step(st) == 1)
                        json_object_set_new(device, "open_actions", json_integer(db_column_int64(st, 0)));
                db_stmt_done(st);
        }
        db_unlock(d->db);
        json_object_set_new(device, "isolation", iso);
}

const struct http_route defend_action_routes[] = {
        { "POST", "/api/v1/devices/{id}/actions", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_action_create, 0 },
        { "GET", "/api/v1/devices/{id}/actions", HTTP_AUTH_ADMIN, ROLES_ANY, handle_device_actions, 0 },
        { "GET", "/api/v1/actions", HTTP_AUTH_ADMIN, ROLES_ANY, handle_action_list, 0 },
        { "GET", "/api/v1/actions/{id}", HTTP_AUTH_ADMIN, ROLES_ANY, handle_action_show, 0 },
        { "POST", "/api/v1/actions/{id}/cancel", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_action_cancel, 0 },
        { "GET", "/api/v1/actions/{id}/package", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_package_download, 0 },
        { "GET", "/agent/v1/actions", HTTP_AUTH_DEVICE, 0, handle_agent_poll, 0 },
        { "POST", "/agent/v1/actions/{id}", HTTP_AUTH_DEVICE, 0, handle_agent_report, 0 },
        { "PUT", "/agent/v1/actions/{id}/package", HTTP_AUTH_DEVICE, 0, handle_package_upload, PACKAGE_MAX },
        { 0 },
};
