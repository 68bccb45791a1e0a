/* users: manage's small directory — users (a user principal name such as
 * alice@example.com, a display name, enabled), user groups and their members,
 * and each device's primary user. Managed through the API only. Every
 * committed change is published as BUS_DIRECTORY_CHANGED (conditional
 * access resolves users and groups from here). */
#include "server/manage/manage-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "server/bus.h"
#include "server/db/db.h"
#include "server/enroll/enroll.h"
#include "server/log.h"
#include "server/vigild.h"
#include "util/strutil.h"

#define USER_LIMIT_DEFAULT 100
#define USER_LIMIT_MAX 1000
#define DISPLAY_NAME_MAX 256
#define UGROUP_ADD_MAX 1000

/* A UPN: local@domain, printable, no spaces or quotes, one '@' with text on
 * both sides; kept in lower case so that lookups ignore case. */
static int upn_normalize(const char *s, size_t len, char out[static MANAGE_UPN_MAX + 1])
{
        const char *at = memchr(s, '@', len);

        if (len == 0 || len > MANAGE_UPN_MAX || strlen(s) != len || !util_str_printable(s, MANAGE_UPN_MAX) ||
            strpbrk(s, " \"\\<>(),;:/") || !at || at == s || at == s + len - 1 || memchr(at + 1, '@', len - (size_t)(at - s) - 1))
                return -EINVAL;
        for (size_t i = 0; i <= len; i++)
                out[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
        return 0;
}

/* Answers a request on the user key that ended with r: 404 when there is
 * no such user (-ENOENT), 500 "cannot what" on another error, otherwise 200
 * with out (taken). */
static void user_reply(struct http_reply *rep, int r, const char *key, const char *what, json_t *out)
{
        if (r == -ENOENT)
                http_reply_error(rep, 404, "user_not_found", "no user '%s'", key);
        else if (r < 0)
                http_reply_failed(rep, r, what);
        else
                http_reply_json(rep, 200, out);
}

/* As user_reply(), for a request on the user group id. */
static void ugroup_reply(struct http_reply *rep, int r, const char *id, const char *what, json_t *out)
{
        if (r == -ENOENT)
                http_reply_error(rep, 404, "user_group_not_found", "no user group with id '%s'", id);
        else if (r < 0)
                http_reply_failed(rep, r, what);
        else
                http_reply_json(rep, 200, out);
}

/* Tells the bus that the directory changed. After the commit, lock not held. */
static void directory_changed(struct vigild *d)
{
        bus_publish(d->bus, &(struct bus_event){ .type = BUS_DIRECTORY_CHANGED });
}

static json_t *time_json(struct db_stmt *st, int col)
{
        char buf[21];

        util_time_format(db_column_int64(st, col), buf);
        return json_string(buf);
}

static int64_t count_of(struct vigild *d, const char *sql, const char *arg)
{
        struct db_stmt *st;
        int64_t n = -EIO;

        if (db_prepare(d->db, sql, &st) < 0)
                return -EIO;
        if (arg)
                db_bind_text(st, 1, arg, strlen(arg));
        if (db_step(st) == 1)
                n = db_column_int64(st, 0);
        db_stmt_done(st);
        return n;
}

/* ---- users ---- */

#define USER_COLUMNS "id, upn, display_name, enabled, created_at, updated_at"

static json_t *user_row_json(struct db_stmt *st)
{
        return json_pack("{s:s,s:s,s:s,s:b,s:o,s:o}", "id", db_column_text(st, 0, NULL),
                         "user_principal_name", db_column_text(st, 1, NULL),
                         "display_name", db_column_text(st, 2, NULL), "enabled", (int)db_column_int64(st, 3),
                         "created_at", time_json(st, 4), "updated_at", time_json(st, 5));
}

/* Finds a user by id or UPN; its JSON into *ret (may be NULL) and its id
 * into ret_id (MANAGE_ID_LEN + 1 bytes, or NULL). Lock held. Returns 0, -ENOENT or a database
 * error. */
static int user_find(struct vigild *d, const char *key, json_t **ret, char *ret_id)
{
        char upn[MANAGE_UPN_MAX + 1] = "";
        struct db_stmt *st;
        int r;

        if (strchr(key, '@') && upn_normalize(key, strlen(key), upn) < 0)
                return -ENOENT;
        r = db_prepare(d->db, "SELECT " USER_COLUMNS " FROM manage_users WHERE id = $1 OR upn = $2", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, key, strlen(key));
        db_bind_text(st, 2, upn, strlen(upn));
        r = db_step(st);
        if (r == 1) {
                if (ret_id)
                        snprintf(ret_id, MANAGE_ID_LEN + 1, "%s", db_column_text(st, 0, NULL));
                if (ret)
                        *ret = user_row_json(st);
        }
        db_stmt_done(st);
        return r == 1 ? 0 : r == 0 ? -ENOENT : r;
}

struct user_input {
        char upn[MANAGE_UPN_MAX + 1];
        const char *display_name;
        int enabled;                    /* -1: not given */
};

static int user_check(const json_t *body, bool create, struct user_input *in, char *err, size_t err_size)
{
        const char *k;
        json_t *v;

        in->upn[0] = '\0';
        in->display_name = NULL;
        in->enabled = -1;
        if (!json_is_object(body) || (!create && json_object_size(body) == 0)) {
                snprintf(err, err_size, "the body must be an object with user_principal_name, display_name or enabled");
                return -EINVAL;
        }
        json_object_foreach((json_t *)body, k, v) {
                if (strcmp(k, "user_principal_name") == 0) {
                        if (!json_is_string(v) || upn_normalize(json_string_value(v), json_string_length(v), in->upn) < 0) {
                                snprintf(err, err_size, "'user_principal_name' must be name@domain, at most %d "
                                         "printable bytes without spaces", MANAGE_UPN_MAX);
                                return -EINVAL;
                        }
                } else if (strcmp(k, "display_name") == 0) {
                        in->display_name = json_string_value(v);
                        if (!in->display_name || strlen(in->display_name) != json_string_length(v) ||
                            !util_str_is_text(in->display_name, DISPLAY_NAME_MAX)) {
                                snprintf(err, err_size, "'display_name' must be a string of at most %d bytes without "
                                         "control characters", DISPLAY_NAME_MAX);
                                return -EINVAL;
                        }
                } else if (strcmp(k, "enabled") == 0) {
                        if (!json_is_boolean(v)) {
                                snprintf(err, err_size, "'enabled' must be true or false");
                                return -EINVAL;
                        }
                        in->enabled = json_is_true(v);
                } else {
                        snprintf(err, err_size, "unknown member '%.64s'; the members are user_principal_name, "
                                 "display_name and enabled", k);
                        return -EINVAL;
                }
        }
        if (create && !in->upn[0]) {
                snprintf(err, err_size, "'user_principal_name' is required");
                return -EINVAL;
        }
        return 0;
}

void manage_handle_user_create(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct user_input in;
        char id[MANAGE_ID_LEN + 1], err[256];
        json_t *body, *out = NULL;
        int64_t n;
        int r;

        body = http_request_json(req, rep);
        if (!body)
                return;
        if (user_check(body, true, &in, err, sizeof(err)) < 0) {
                http_reply_error(rep, 400, "invalid_user", "%s", err);
                goto out;
        }
        if (crypto_uuid4(id) < 0) {
                http_reply_error(rep, 500, "internal", "no random numbers");
                goto out;
        }
        if (!in.display_name)
                in.display_name = "";
        db_lock(d->db);
        n = count_of(d, "SELECT count(*) FROM manage_users", NULL);
        r = n < 0 ? (int)n : n >= MANAGE_USERS_MAX ? -E2BIG : 0;
        if (r == 0)
                r = db_exec_params(d->db, "INSERT INTO manage_users (id, upn, display_name, enabled, created_at, "
                                          "updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
                                   DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(in.upn, strlen(in.upn)),
                                             db_param_text(in.display_name, strlen(in.display_name)),
                                             db_param_int64(in.enabled != 0), db_param_int64(util_now())));
        if (r == 0)
                r = user_find(d, id, &out, NULL);
        db_unlock(d->db);
        if (r == -EEXIST)
                http_reply_error(rep, 409, "user_exists", "a user '%s' exists", in.upn);
        else if (r == -E2BIG)
                http_reply_error(rep, 409, "too_many_users", "the directory holds at most %d users", MANAGE_USERS_MAX);
        else if (r < 0)
                http_reply_failed(rep, r, "store the user");
        else {
                log_info("token %s created user %s (%s)", req->who->token_id, id, in.upn);
                directory_changed(d);
                http_reply_json(rep, 201, out);
        }
out:
        json_decref(body);
}

/* Lists rows of sql (LIMIT $1 OFFSET $2, or $2 and $3 after an argument in
 * $1) as JSON through row_json, with the total from count_sql. */
static void list_reply(struct vigild *d, const struct http_request *req, struct http_reply *rep,
                       const char *count_sql, const char *sql, const char *arg, json_t *(*row_json)(struct db_stmt *))
{
        uint64_t limit, offset;
        struct db_stmt *st;
        int64_t total;
        json_t *arr;
        int r, k = arg ? 2 : 1;

        if (http_request_paging(req, USER_LIMIT_DEFAULT, USER_LIMIT_MAX, &limit, &offset, rep) < 0)
                return;
        arr = json_array();
        db_lock(d->db);
        total = count_of(d, count_sql, arg);
        r = total < 0 ? (int)total : db_prepare(d->db, sql, &st);
        if (r == 0) {
                if (arg)
                        db_bind_text(st, 1, arg, strlen(arg));
                db_bind_int64(st, k, (int64_t)limit);
                db_bind_int64(st, k + 1, (int64_t)offset);
                while ((r = db_step(st)) == 1)
                        json_array_append_new(arr, row_json(st));
                db_stmt_done(st);
        }
        db_unlock(d->db);
        if (r < 0) {
                json_decref(arr);
                http_reply_failed(rep, r, "list");
                return;
        }
        http_reply_page(rep, arr, total, offset);
}

void manage_handle_user_list(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        list_reply(d, req, rep, "SELECT count(*) FROM manage_users",
                   "SELECT " USER_COLUMNS " FROM manage_users ORDER BY upn LIMIT $1 OFFSET $2", NULL, user_row_json);
}

void manage_handle_user_show(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        json_t *out = NULL;
        int r;

        db_lock(d->db);
        r = user_find(d, req->params[0], &out, NULL);
        db_unlock(d->db);
        user_reply(rep, r, req->params[0], "read the user", out);
}

void manage_handle_user_patch(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        char id[MANAGE_ID_LEN + 1], err[256];
        struct user_input in;
        json_t *body, *out = NULL;
        int r;

        body = http_request_json(req, rep);
        if (!body)
                return;
        if (user_check(body, false, &in, err, sizeof(err)) < 0) {
                http_reply_error(rep, 400, "invalid_user", "%s", err);
                goto out;
        }
        db_lock(d->db);
        r = user_find(d, req->params[0], NULL, id);
        if (r == 0)
                r = db_exec_params(d->db, "UPDATE manage_users SET upn = COALESCE($2, upn), "
                                          "display_name = COALESCE($3, display_name), "
                                          "enabled = CASE WHEN $4 < 0 THEN enabled ELSE $4 END, updated_at = $5 "
                                          "WHERE id = $1",
                                   DB_PARAMS(db_param_text(id, strlen(id)),
                                             db_param_text(in.upn[0] ? in.upn : NULL, strlen(in.upn)),
                                             db_param_text(in.display_name,
                                                           in.display_name ? strlen(in.display_name) : 0),
                                             db_param_int64(in.enabled), db_param_int64(util_now())));
        if (r == 0)
                r = user_find(d, id, &out, NULL);
        db_unlock(d->db);
        if (r == 0)
                directory_changed(d);
        if (r == -EEXIST)
                http_reply_error(rep, 409, "user_exists", "a user '%s' exists", in.upn);
        else
                user_reply(rep, r, req->params[0], "change the user", out);
out:
        json_decref(body);
}

void manage_handle_user_delete(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        char id[MANAGE_ID_LEN + 1];
        int r;

        db_lock(d->db);
        r = user_find(d, req->params[0], NULL, id);
        if (r == 0)
                r = db_exec_params(d->db, "DELETE FROM manage_users WHERE id = $1",
                                   DB_PARAMS(db_param_text(id, strlen(id))));
        db_unlock(d->db);
        if (r == 0) {
                log_info("token %s deleted user %s", req->who->token_id, id);
                directory_changed(d);
        }
        user_reply(rep, r, req->params[0], "delete the user",
                   r == 0 ? json_pack("{s:s,s:b}", "id", id, "deleted", 1) : NULL);
}

/* ---- user groups ---- */

#define UGROUP_COLUMNS "id, name, description, created_at, updated_at, " \
        "(SELECT count(*) FROM manage_user_group_members m WHERE m.group_id = manage_user_groups.id)"

static json_t *ugroup_row_json(struct db_stmt *st)
{
        return json_pack("{s:s,s:s,s:s,s:I,s:o,s:o}", "id", db_column_text(st, 0, NULL),
                         "name", db_column_text(st, 1, NULL), "description", db_column_text(st, 2, NULL),
                         "member_count", (json_int_t)db_column_int64(st, 5),
                         "created_at", time_json(st, 3), "updated_at", time_json(st, 4));
}

static int ugroup_read(struct vigild *d, const char *id, json_t **ret)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, "SELECT " UGROUP_COLUMNS " FROM manage_user_groups WHERE id = $1", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, id, strlen(id));
        r = db_step(st);
        if (r == 1 && ret)
                *ret = ugroup_row_json(st);
        db_stmt_done(st);
        return r == 1 ? 0 : r == 0 ? -ENOENT : r;
}

static int ugroup_check(const json_t *body, bool create, const char **name, const char **desc, char *err,
                        size_t err_size)
{
        const char *k;
        json_t *v;

        if (!json_is_object(body) || (!create && json_object_size(body) == 0)) {
                snprintf(err, err_size, "the body must be an object with name or description");
                return -EINVAL;
        }
        json_object_foreach((json_t *)body, k, v) {
                bool is_name = strcmp(k, "name") == 0;
                const char *s = json_string_value(v);
                size_t max = is_name ? MANAGE_GROUP_NAME_MAX : MANAGE_DESCRIPTION_MAX;

                if (!is_name && strcmp(k, "description") != 0) {
                        snprintf(err, err_size, "unknown member '%.64s'; the members are name and description", k);
                        return -EINVAL;
                }
                if (!s || strlen(s) != json_string_length(v) || (is_name && !*s) || !util_str_is_text(s, max)) {
                        snprintf(err, err_size, "'%s' must be a string of %d to %zu bytes without control characters",
                                 k, is_name ? 1 : 0, max);
                        return -EINVAL;
                }
                *(is_name ? name : desc) = s;
        }
        if (create && !*name) {
                snprintf(err, err_size, "'name' is required");
                return -EINVAL;
        }
        return 0;
}

void manage_handle_ugroup_create(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *name = NULL, *desc = "";
        char id[MANAGE_ID_LEN + 1], err[256];
        json_t *body, *out = NULL;
        int64_t n;
        int r;

        body = http_request_json(req, rep);
        if (!body)
                return;
        if (ugroup_check(body, true, &name, &desc, err, sizeof(err)) < 0) {
                http_reply_error(rep, 400, "invalid_user_group", "%s", err);
                goto out;
        }
        if (crypto_uuid4(id) < 0) {
                http_reply_error(rep, 500, "internal", "no random numbers");
                goto out;
        }
        db_lock(d->db);
        n = count_of(d, "SELECT count(*) FROM manage_user_groups", NULL);
        r = n < 0 ? (int)n : n >= MANAGE_USER_GROUPS_MAX ? -E2BIG : 0;
        if (r == 0)
                r = db_exec_params(d->db, "INSERT INTO manage_user_groups (id, name, description, created_at, "
                                          "updated_at) VALUES ($1, $2, $3, $4, $4)",
                                   DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(name, strlen(name)),
                                             db_param_text(desc, strlen(desc)), db_param_int64(util_now())));
        if (r == 0)
                r = ugroup_read(d, id, &out);
        db_unlock(d->db);
        if (r == -EEXIST)
                http_reply_error(rep, 409, "user_group_exists", "a user group named '%s' exists", name);
        else if (r == -E2BIG)
                http_reply_error(rep, 409, "too_many_user_groups", "there are already %d user groups, the most allowed",
                                 MANAGE_USER_GROUPS_MAX);
        else if (r < 0)
                http_reply_failed(rep, r, "store the user group");
        else {
                directory_changed(d);
                http_reply_json(rep, 201, out);
        }
out:
        json_decref(body);
}

void manage_handle_ugroup_list(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        list_reply(d, req, rep, "SELECT count(*) FROM manage_user_groups",
                   "SELECT " UGROUP_COLUMNS " FROM manage_user_groups ORDER BY name LIMIT $1 OFFSET $2", NULL,
                   ugroup_row_json);
}

void manage_handle_ugroup_show(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        json_t *out = NULL;
        int r;

        db_lock(d->db);
        r = ugroup_read(d, req->params[0], &out);
        db_unlock(d->db);
        ugroup_reply(rep, r, req->params[0], "read the user group", out);
}

void manage_handle_ugroup_patch(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *name = NULL, *desc = NULL, *id = req->params[0];
        json_t *body, *out = NULL;
        char err[256];
        int r;

        body = http_request_json(req, rep);
        if (!body)
                return;
        if (ugroup_check(body, false, &name, &desc, err, sizeof(err)) < 0) {
                http_reply_error(rep, 400, "invalid_user_group", "%s", err);
                goto out;
        }
        db_lock(d->db);
        r = ugroup_read(d, id, NULL);
        if (r == 0)
                r = db_exec_params(d->db, "UPDATE manage_user_groups SET name = COALESCE($2, name), "
                                          "description = COALESCE($3, description), updated_at = $4 WHERE id = $1",
                                   DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(name, name ? strlen(name) : 0),
                                             db_param_text(desc, desc ? strlen(desc) : 0), db_param_int64(util_now())));
        if (r == 0)
                r = ugroup_read(d, id, &out);
        db_unlock(d->db);
        if (r == 0)
                directory_changed(d);
        if (r == -EEXIST)
                http_reply_error(rep, 409, "user_group_exists", "a user group named '%s' exists", name);
        else
                ugroup_reply(rep, r, id, "change the user group", out);
out:
        json_decref(body);
}

void manage_handle_ugroup_delete(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0];
        int r;

        db_lock(d->db);
        r = db_exec_params(d->db, "DELETE FROM manage_user_groups WHERE id = $1",
                           DB_PARAMS(db_param_text(id, strlen(id))));
        if (r == 0 && db_changes(d->db) == 0)
                r = -ENOENT;
        db_unlock(d->db);
        if (r == 0)
                directory_changed(d);
        ugroup_reply(rep, r, id, "delete the user group",
                     r == 0 ? json_pack("{s:s,s:b}", "id", id, "deleted", 1) : NULL);
}

void manage_handle_ugroup_members(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        int r;

        db_lock(d->db);
        r = ugroup_read(d, req->params[0], NULL);
        db_unlock(d->db);
        if (r < 0) {
                ugroup_reply(rep, r, req->params[0], "read the user group", NULL);
                return;
        }
        list_reply(d, req, rep, "SELECT count(*) FROM manage_user_group_members WHERE group_id = $1",
                   "SELECT u.id, u.upn, u.display_name, u.enabled, u.created_at, u.updated_at "
                   "FROM manage_user_group_members m JOIN manage_users u ON u.id = m.user_id "
                   "WHERE m.group_id = $1 ORDER BY u.upn LIMIT $2 OFFSET $3", req->params[0], user_row_json);
}

/* POST /api/v1/user-groups/{id}/members {"users": [id or UPN, ...]} */
void manage_handle_ugroup_member_add(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *gid = req->params[0];
        const json_t *users;
        char uid[MANAGE_ID_LEN + 1];
        json_t *body, *out = NULL, *v;
        size_t i = 0;
        int r;

        body = http_request_json(req, rep);
        if (!body)
                return;
        users = json_object_get(body, "users");
        if (json_object_size(body) != 1 || !json_is_array(users) || json_array_size(users) == 0 ||
            json_array_size(users) > UGROUP_ADD_MAX) {
                http_reply_error(rep, 400, "invalid_request", "the body must be {\"users\": [user id or UPN, ...]} "
                                 "with 1 to %d users", UGROUP_ADD_MAX);
                goto out;
        }
        db_lock(d->db);
        r = ugroup_read(d, gid, NULL);
        if (r == 0)
                r = db_begin(d->db);
        if (r == 0) {
                json_array_foreach(users, i, v) {
                        const char *s = json_string_value(v);
                        r = s && util_str_printable(s, MANAGE_UPN_MAX) ? user_find(d, s, NULL, uid) : -ENOENT;
                        if (r == -ENOENT)
                                r = -ENODEV;
                        if (r == 0)
                                r = db_exec_params(d->db, "INSERT INTO manage_user_group_members (group_id, user_id) "
                                                          "VALUES ($1, $2) ON CONFLICT DO NOTHING",
                                                   DB_PARAMS(db_param_text(gid, strlen(gid)),
                                                             db_param_text(uid, strlen(uid))));
                        if (r < 0)
                                break;
                }
                r = db_finish(d->db, r);
        }
        if (r == 0)
                r = ugroup_read(d, gid, &out);
        db_unlock(d->db);
        if (r == 0)
                directory_changed(d);
        if (r == -ENODEV)
                http_reply_error(rep, 404, "user_not_found", "'users[%zu]': no such user", i);
        else
                ugroup_reply(rep, r, gid, "add the members", out);
out:
        json_decref(body);
}

void manage_handle_ugroup_member_remove(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *gid = req->params[0];
        char uid[MANAGE_ID_LEN + 1];
        json_t *out = NULL;
        int r;

        db_lock(d->db);
        r = ugroup_read(d, gid, NULL);
        if (r == 0)
                r = user_find(d, req->params[1], NULL, uid) == 0 ? 0 : -ENODEV;
        if (r == 0)
                r = db_exec_params(d->db, "DELETE FROM manage_user_group_members WHERE group_id = $1 AND user_id = $2",
                                   DB_PARAMS(db_param_text(gid, strlen(gid)), db_param_text(uid, strlen(uid))));
        if (r == 0 && db_changes(d->db) == 0)
                r = -ENODEV;
        if (r == 0)
                r = ugroup_read(d, gid, &out);
        db_unlock(d->db);
        if (r == 0)
                directory_changed(d);
        if (r == -ENODEV)
                http_reply_error(rep, 404, "member_not_found", "'%s' is not a member of user group %s",
                                 req->params[1], gid);
        else
                ugroup_reply(rep, r, gid, "remove the member", out);
}

/* ---- primary user ---- */

void manage_users_device_json(struct vigild *d, const char *device_id, json_t *device)
{
        struct db_stmt *st;
        json_t *u = NULL;

        db_lock(d->db);
        if (db_prepare(d->db, "SELECT u.id, u.upn, u.display_name FROM manage_primary_users p "
                              "JOIN manage_users u ON u.id = p.user_id WHERE p.device_id = $1", &st) == 0) {
                db_bind_text(st, 1, device_id, strlen(device_id));
                if (db_step(st) == 1)
                        u = json_pack("{s:s,s:s,s:s}", "id", db_column_text(st, 0, NULL),
                                      "user_principal_name", db_column_text(st, 1, NULL),
                                      "display_name", db_column_text(st, 2, NULL));
                db_stmt_done(st);
        }
        db_unlock(d->db);
        json_object_set_new(device, "primary_user", u ? u : json_null());
}

int manage_directory_principal_exists(struct vigild *d, const char *s)
{
        struct db_stmt *st;
        int r;

        r = user_find(d, s, NULL, NULL);
        if (r != -ENOENT)
                return r == 0 ? 1 : r;
        r = db_prepare(d->db, "SELECT 1 FROM manage_user_groups WHERE id = $1", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, s, strlen(s));
        r = db_step(st);
        db_stmt_done(st);
        return r;
}

int manage_user_check(struct vigild *d, const char *user)
{
        int r;

        db_lock(d->db);
        r = user_find(d, user, NULL, NULL);
        db_unlock(d->db);
        return r;
}

int manage_primary_user_set(struct vigild *d, const char *device_id, const char *user)
{
        char uid[MANAGE_ID_LEN + 1];
        int r;

        db_lock(d->db);
        r = user ? user_find(d, user, NULL, uid) : 0;
        if (r == 0 && (r = db_begin(d->db)) == 0) {
                r = db_exec_params(d->db, "DELETE FROM manage_primary_users WHERE device_id = $1",
                                   DB_PARAMS(db_param_text(device_id, strlen(device_id))));
                if (r == 0 && user)
                        r = db_exec_params(d->db, "INSERT INTO manage_primary_users (device_id, user_id, set_at) "
                                                  "VALUES ($1, $2, $3)",
                                           DB_PARAMS(db_param_text(device_id, strlen(device_id)),
                                                     db_param_text(uid, strlen(uid)), db_param_int64(util_now())));
                r = db_finish(d->db, r);
        }
        db_unlock(d->db);
        if (r == 0)
                directory_changed(d);
        return r;
}

/* PUT /api/v1/devices/{id}/primary-user {"user": id or UPN or null} */
void manage_handle_primary_user(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *dev = req->params[0], *key;
        json_t *body, *v, *out;
        int r;

        body = http_request_json(req, rep);
        if (!body)
                return;
        v = json_object_get(body, "user");
        key = json_string_value(v);
        if (json_object_size(body) != 1 || !v || (!json_is_null(v) && (!key || !util_str_printable(key, MANAGE_UPN_MAX)))) {
                http_reply_error(rep, 400, "invalid_request", "the body must be {\"user\": user id, UPN or null}");
                goto out;
        }
        if (!enroll_device_exists(d, dev)) {
                http_reply_error(rep, 404, "device_not_found", "no device with id '%s'", dev);
                goto out;
        }
        r = manage_primary_user_set(d, dev, key);
        if (r == -ENOENT) {
                http_reply_error(rep, 404, "user_not_found", "no user '%s'", key);
                goto out;
        }
        if (r < 0) {
                http_reply_failed(rep, r, "set the primary user");
                goto out;
        }
        log_info("token %s set the primary user of device %s to %s", req->who->token_id, dev, key ? key : "none");
        out = json_pack("{s:s}", "id", dev);
        manage_users_device_json(d, dev, out);
        http_reply_json(rep, 200, out);
out:
        json_decref(body);
}

int manage_directory_each(struct vigild *d, manage_directory_user_fn user_fn, manage_directory_group_fn group_fn,
                          void *userdata)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, "SELECT u.id, u.upn, u.enabled, m.group_id FROM manage_users u "
                              "LEFT JOIN manage_user_group_members m ON m.user_id = u.id ORDER BY u.id", &st);
        if (r < 0)
                return r;
        while ((r = db_step(st)) == 1) {
                r = user_fn(db_column_text(st, 0, NULL), db_column_text(st, 1, NULL), db_column_int64(st, 2) != 0,
                            db_column_is_null(st, 3) ? NULL : db_column_text(st, 3, NULL), userdata);
                if (r < 0)
                        break;
        }
        db_stmt_done(st);
        if (r < 0)
                return r;
        r = db_prepare(d->db, "SELECT id, name FROM manage_user_groups ORDER BY id", &st);
        if (r < 0)
                return r;
        while ((r = db_step(st)) == 1) {
                r = group_fn(db_column_text(st, 0, NULL), db_column_text(st, 1, NULL), userdata);
                if (r < 0)
                        break;
        }
        db_stmt_done(st);
        return r < 0 ? r : 0;
}
