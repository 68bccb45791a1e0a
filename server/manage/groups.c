/* groups: manage's tables, its start-up (the index built from the database,
 * the bus subscriptions), device tags, device groups and their members, the
 * device JSON's manage members, and assignments. Every change is written to
 * the database and then to the index while the database lock is held, so the
 * two agree; BUS_GROUPS_CHANGED goes out once both locks are released. */
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

#define GROUP_LIMIT_DEFAULT 100
#define GROUP_LIMIT_MAX 1000
#define MEMBERS_ADD_MAX 1000            /* devices in one POST .../members */

static const struct db_migration manage_migrations[] = {
        { 1,
          "CREATE TABLE manage_groups ("
          "  id TEXT PRIMARY KEY,"
          "  name TEXT NOT NULL UNIQUE,"
          "  description TEXT NOT NULL DEFAULT '',"
          "  kind TEXT NOT NULL CHECK (kind IN ('static', 'dynamic')),"
          "  rule TEXT,"
          "  created_at INTEGER NOT NULL,"
          "  updated_at INTEGER NOT NULL);"
          "CREATE TABLE manage_group_members ("
          "  group_id TEXT NOT NULL REFERENCES manage_groups(id) ON DELETE CASCADE,"
          "  device_id TEXT NOT NULL,"
          "  added_at INTEGER NOT NULL,"
          "  PRIMARY KEY (group_id, device_id));"
          "CREATE TABLE manage_device_tags ("
          "  device_id TEXT NOT NULL,"
          "  tag TEXT NOT NULL,"
          "  PRIMARY KEY (device_id, tag));"
          "CREATE TABLE manage_users ("
          "  id TEXT PRIMARY KEY,"
          "  upn TEXT NOT NULL UNIQUE,"
          "  display_name TEXT NOT NULL DEFAULT '',"
          "  enabled INTEGER NOT NULL DEFAULT 1,"
          "  created_at INTEGER NOT NULL,"
          "  updated_at INTEGER NOT NULL);"
          "CREATE TABLE manage_user_groups ("
          "  id TEXT PRIMARY KEY,"
          "  name TEXT NOT NULL UNIQUE,"
          "  description TEXT NOT NULL DEFAULT '',"
          "  created_at INTEGER NOT NULL,"
          "  updated_at INTEGER NOT NULL);"
          "CREATE TABLE manage_user_group_members ("
          "  group_id TEXT NOT NULL REFERENCES manage_user_groups(id) ON DELETE CASCADE,"
          "  user_id TEXT NOT NULL REFERENCES manage_users(id) ON DELETE CASCADE,"
          "  PRIMARY KEY (group_id, user_id));"
          "CREATE TABLE manage_primary_users ("
          "  device_id TEXT PRIMARY KEY,"
          "  user_id TEXT NOT NULL REFERENCES manage_users(id) ON DELETE CASCADE,"
          "  set_at INTEGER NOT NULL);" },
};

int manage_migrate(struct vigild *d)
{
        return db_migrate_locked(d->db, "manage", manage_migrations,
                                 sizeof(manage_migrations) / sizeof(manage_migrations[0]));
}

void manage_publish_changed(struct vigild *d, const struct manage_changed *c)
{
        char (*ids)[MANAGE_ID_LEN + 1];
        const char *ptrs[MANAGE_GROUPS_MAX];

        if (c->n == 0)
                return;
        ids = malloc(MANAGE_GROUPS_MAX * sizeof(*ids));
        if (!ids) {
                log_error("cannot publish groups_changed for %zu devices: out of memory", c->n);
                return;
        }
        for (size_t i = 0; i < c->n; i++) {
                size_t n = 0;

                if (manage_device_groups(d, c->ids[i], ids, MANAGE_GROUPS_MAX, &n) < 0)
                        continue;
                for (size_t k = 0; k < n; k++)
                        ptrs[k] = ids[k];
                bus_publish(d->bus, &(struct bus_event){ .type = BUS_GROUPS_CHANGED, .device_id = c->ids[i],
                                                         .groups_changed = { ptrs, n } });
        }
        free(ids);
}

/* ---- the index from the database and the bus ---- */

struct facts_ctx {
        struct vigild *d;
        struct manage_changed *changed;
};

static int facts_put(const struct enroll_device_facts *ef, void *userdata)
{
        struct facts_ctx *c = userdata;
        struct manage_device_facts f = {
                .id = ef->id, .platform = ef->platform, .os_name = ef->os_name, .os_version = ef->os_version,
                .name = ef->name, .architecture = ef->architecture, .kernel = ef->kernel,
        };

        return manage_index_device_set(&c->d->manage->index, &f, ef->offboarded, SIZE_MAX, c->changed);
}

/* Reads one device's tags (device_id) or every device's (NULL) into the
 * index. Database lock held. */
static int tags_load(struct vigild *d, const char *device_id, struct manage_changed *changed)
{
        const char *tags[MANAGE_TAGS_MAX];
        char cur[MANAGE_ID_LEN + 1] = "", buf[MANAGE_TAGS_MAX][MANAGE_TAG_MAX + 1];
        struct db_stmt *st;
        size_t n = 0;
        int r;

        r = db_prepare(d->db, device_id ? "SELECT device_id, tag FROM manage_device_tags WHERE device_id = $1 "
                                          "ORDER BY device_id, tag"
                                        : "SELECT device_id, tag FROM manage_device_tags ORDER BY device_id, tag",
                       &st);
        if (r < 0)
                return r;
        if (device_id)
                db_bind_text(st, 1, device_id, strlen(device_id));
        for (;;) {
                const char *id = NULL;

                r = db_step(st);
                if (r == 1)
                        id = db_column_text(st, 0, NULL);
                if (cur[0] && (r != 1 || strcmp(id, cur) != 0)) {
                        int e = manage_index_tags_set(&d->manage->index, cur, tags, n, changed);
                        if (e < 0 && e != -ENOENT) {
                                r = e;
                                break;
                        }
                        n = 0;
                }
                if (r != 1)
                        break;
                snprintf(cur, sizeof(cur), "%s", id);
                if (n < MANAGE_TAGS_MAX) {
                        snprintf(buf[n], sizeof(buf[n]), "%s", db_column_text(st, 1, NULL));
                        tags[n] = buf[n];
                        n++;
                }
        }
        db_stmt_done(st);
        if (r == 0 && device_id && !cur[0])
                r = manage_index_tags_set(&d->manage->index, device_id, tags, 0, changed);
        return r < 0 ? r : 0;
}

int manage_groups_load(struct vigild *d)
{
        struct manage_index *x = &d->manage->index;
        struct facts_ctx c = { d, NULL };
        struct db_stmt *st;
        int r;

        r = enroll_device_facts_each(d, NULL, facts_put, &c);
        if (r == 0)
                r = tags_load(d, NULL, NULL);
        if (r == 0)
                r = db_prepare(d->db, "SELECT id, rule FROM manage_groups ORDER BY created_at, id", &st);
        while (r == 0 && (r = db_step(st)) == 1) {
                const char *rule = db_column_text(st, 1, NULL);
                struct manage_expr *e = NULL;
                char err[256];

                if (rule && manage_expr_compile(rule, strlen(rule), &e, err, sizeof(err)) < 0) {
                        log_error("device group %s: its stored rule does not compile: %s",
                                  db_column_text(st, 0, NULL), err);
                        r = -EINVAL;
                        break;
                }
                r = manage_index_group_add_take(x, db_column_text(st, 0, NULL), e, NULL);
        }
        if (st)
                db_stmt_done(st);
        if (r < 0)
                return r;
        r = db_prepare(d->db, "SELECT group_id, device_id FROM manage_group_members", &st);
        while (r == 0 && (r = db_step(st)) == 1) {
                int e = manage_index_member_set(x, db_column_text(st, 0, NULL), db_column_text(st, 1, NULL), true,
                                                NULL);
                if (e < 0 && e != -ENOENT)
                        r = e;
        }
        if (st)
                db_stmt_done(st);
        return r < 0 ? r : 0;
}

/* A device's facts changed (inventory, onboarding, offboarding). */
static void on_device_event(const struct bus_event *ev, void *userdata)
{
        struct vigild *d = userdata;
        struct manage_changed changed = { 0 };
        struct facts_ctx c = { d, &changed };
        int r;

        db_lock(d->db);
        r = enroll_device_facts_each(d, ev->device_id, facts_put, &c);
        if (r == 0 && ev->type == BUS_DEVICE_ENROLLED)
                r = tags_load(d, ev->device_id, &changed);
        db_unlock(d->db);
        if (r < 0)
                log_error("device %s: cannot update its group memberships: %s", ev->device_id, strerror(-r));
        if (ev->type == BUS_DEVICE_ENROLLED && ev->device_enrolled.primary_user) {
                int e = manage_primary_user_set(d, ev->device_id, ev->device_enrolled.primary_user);
                if (e < 0)
                        log_warn("device %s: cannot make '%s', named by its onboarding package, its primary user: %s",
                                 ev->device_id, ev->device_enrolled.primary_user,
                                 e == -ENOENT ? "no such user" : strerror(-e));
        }
        manage_publish_changed(d, &changed);
        manage_changed_release(&changed);
}

static void device_json_hook(struct vigild *d, const char *device_id, json_t *device, bool detail)
{
        manage_device_json(d, device_id, device, detail);
        manage_users_device_json(d, device_id, device);
}

int manage_open(struct vigild *d, char *err, size_t err_size)
{
        static const enum bus_event_type types[] = { BUS_INVENTORY_CHANGED, BUS_DEVICE_ENROLLED,
                                                     BUS_DEVICE_OFFBOARDED };
        int r;

        d->manage = calloc(1, sizeof(*d->manage));
        if (!d->manage || manage_index_init(&d->manage->index) < 0) {
                free(d->manage);
                d->manage = NULL;
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        db_lock(d->db);
        r = manage_groups_load(d);
        db_unlock(d->db);
        if (r < 0) {
                snprintf(err, err_size, "cannot load device groups: %s", strerror(-r));
                return r;
        }
        for (size_t i = 0; r == 0 && i < sizeof(types) / sizeof(types[0]); i++)
                r = bus_subscribe(d->bus, types[i], on_device_event, d);
        if (r == 0)
                r = enroll_device_json_hook_add(d, device_json_hook);
        enroll_package_user_check_set(d, manage_user_check);
        if (r < 0)
                snprintf(err, err_size, "cannot subscribe to device events: %s", strerror(-r));
        return r;
}

void manage_close(struct vigild *d)
{
        if (!d->manage)
                return;
        manage_index_release(&d->manage->index);
        free(d->manage);
        d->manage = NULL;
}


/* ---- checks of request bodies ---- */

static bool key_known(const char *k, const char *const *keys)
{
        for (; *keys; keys++)
                if (strcmp(k, *keys) == 0)
                        return true;
        return false;
}

/* Refuses members outside keys; err names the first. */
static int keys_check(const json_t *body, const char *const *keys, const char *list, char *err, size_t err_size)
{
        const char *k;
        json_t *v;

        json_object_foreach((json_t *)body, k, v) {
                if (!key_known(k, keys)) {
                        snprintf(err, err_size, "unknown member '%.64s'; the members are %s", k, list);
                        return -EINVAL;
                }
        }
        return 0;
}

/* A string member of 1 (0 if empty_ok) to max bytes without control characters. */
static int text_member(const json_t *body, const char *key, size_t max, bool empty_ok, const char **ret,
                       char *err, size_t err_size)
{
        const json_t *v = json_object_get(body, key);
        const char *s = json_string_value(v);

        if (!v)
                return 0;
        if (!s || strlen(s) != json_string_length(v) || (!empty_ok && !*s) || !util_str_is_text(s, max)) {
                snprintf(err, err_size, "'%s' must be a string of %d to %zu bytes without control characters", key,
                         empty_ok ? 0 : 1, max);
                return -EINVAL;
        }
        *ret = s;
        return 0;
}

/* A device or group id in a path or a list: printable, no more than an id. */
static bool id_ok(const char *s)
{
        return util_str_printable(s, MANAGE_ID_LEN) && !strpbrk(s, "/?#%& \"\\");
}

struct group_input {
        const char *name, *description, *kind, *rule;
        struct manage_expr *expr;       /* compiled rule, owned */
};

/* Checks a group body (create: name and kind required). */
static int group_check(const json_t *body, bool create, struct group_input *in, char *err, size_t err_size)
{
        static const char *const keys[] = { "name", "description", "kind", "rule", NULL };
        int r;

        if (!json_is_object(body) || (!create && json_object_size(body) == 0)) {
                snprintf(err, err_size, "the body must be an object with name, description, kind or rule");
                return -EINVAL;
        }
        r = keys_check(body, keys, "name, description, kind and rule", err, err_size);
        if (r == 0)
                r = text_member(body, "name", MANAGE_GROUP_NAME_MAX, false, &in->name, err, err_size);
        if (r == 0)
                r = text_member(body, "description", MANAGE_DESCRIPTION_MAX, true, &in->description, err, err_size);
        if (r == 0)
                r = text_member(body, "kind", 8, false, &in->kind, err, err_size);
        if (r == 0 && json_object_get(body, "rule") && !json_is_string(json_object_get(body, "rule"))) {
                snprintf(err, err_size, "'rule' must be a string: a device filter expression");
                r = -EINVAL;
        }
        if (r < 0)
                return r;
        in->rule = json_string_value(json_object_get(body, "rule"));
        if (create && (!in->name || !in->kind)) {
                snprintf(err, err_size, "'name' and 'kind' (static or dynamic) are required");
                return -EINVAL;
        }
        if (in->kind && (!create || (strcmp(in->kind, "static") != 0 && strcmp(in->kind, "dynamic") != 0))) {
                snprintf(err, err_size, create ? "'kind' must be static or dynamic"
                                               : "'kind' cannot change; create another group");
                return -EINVAL;
        }
        if (create && strcmp(in->kind, "dynamic") == 0 && !in->rule) {
                snprintf(err, err_size, "a dynamic group needs a 'rule'");
                return -EINVAL;
        }
        if (in->rule) {
                char why[384];
                r = manage_expr_compile(in->rule, json_string_length(json_object_get(body, "rule")), &in->expr,
                                        why, sizeof(why));
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        snprintf(err, err_size, "'rule': %s", why);
                        return -EINVAL;
                }
        }
        return 0;
}

/* ---- groups in the database ---- */

static json_t *time_json(struct db_stmt *st, int col)
{
        char buf[21];

        util_time_format(db_column_int64(st, col), buf);
        return json_string(buf);
}

#define GROUP_COLUMNS "id, name, description, kind, rule, created_at, updated_at"

static json_t *group_row_json(struct vigild *d, struct db_stmt *st)
{
        const char *id = db_column_text(st, 0, NULL), *rule = db_column_text(st, 4, NULL);
        int64_t n = manage_index_group_count(&d->manage->index, id);

        return json_pack("{s:s,s:s,s:s,s:s,s:s?,s:I,s:o,s:o}", "id", id, "name", db_column_text(st, 1, NULL),
                         "description", db_column_text(st, 2, NULL), "kind", db_column_text(st, 3, NULL),
                         "rule", rule, "member_count", (json_int_t)(n < 0 ? 0 : n),
                         "created_at", time_json(st, 5), "updated_at", time_json(st, 6));
}

/* The group's JSON into *ret, and whether it is dynamic. Lock held. Returns
 * 0, -ENOENT or a database error. */
static int group_read(struct vigild *d, const char *id, json_t **ret, bool *ret_dynamic)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, "SELECT " GROUP_COLUMNS " FROM manage_groups WHERE id = $1", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, id, strlen(id));
        r = db_step(st);
        if (r == 1) {
                if (ret_dynamic)
                        *ret_dynamic = strcmp(db_column_text(st, 3, NULL), "dynamic") == 0;
                if (ret)
                        *ret = group_row_json(d, st);
        }
        db_stmt_done(st);
        return r == 1 ? 0 : r == 0 ? -ENOENT : r;
}

/* Answers a request on the device group id that ended with r: 404 when
 * there is no such group (-ENOENT), 500 "cannot what" on another error,
 * otherwise 200 with out (taken). */
static void group_reply(struct http_reply *rep, int r, const char *id, const char *what, json_t *out)
{
        if (r == -ENOENT)
                http_reply_error(rep, 404, "group_not_found", "no device group with id '%s'", id);
        else if (r < 0)
                http_reply_failed(rep, r, what);
        else
                http_reply_json(rep, 200, out);
}

/* The request's body, checked as a group (group_check) into in. Returns
 * the body (the caller frees it and in->expr), or NULL when it has
 * answered (400 for a bad body). */
static json_t *group_body(const struct http_request *req, struct http_reply *rep, bool create,
                          struct group_input *in)
{
        char err[512];
        json_t *body;
        int r;

        body = http_request_json(req, rep);
        if (!body)
                return NULL;
        r = group_check(body, create, in, err, sizeof(err));
        if (r < 0) {
                if (r == -EINVAL)
                        http_reply_error(rep, 400, "invalid_group", "%s", err);
                else
                        http_reply_failed(rep, r, "compile the rule");
                manage_expr_free(in->expr);
                in->expr = NULL;
                json_decref(body);
                return NULL;
        }
        return body;
}

static int64_t table_count(struct vigild *d, const char *sql)
{
        struct db_stmt *st;
        int64_t n = -EIO;

        if (db_prepare(d->db, sql, &st) < 0)
                return -EIO;
        if (db_step(st) == 1)
                n = db_column_int64(st, 0);
        db_stmt_done(st);
        return n;
}

/* POST /api/v1/groups */
static void handle_group_create(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct group_input in = { .description = "" };
        struct manage_changed changed = { 0 };
        char id[MANAGE_ID_LEN + 1];
        int64_t now = util_now();
        json_t *body, *out = NULL;
        int r;

        body = group_body(req, rep, true, &in);
        if (!body)
                return;
        if (crypto_uuid4(id) < 0) {
                http_reply_error(rep, 500, "internal", "no random numbers");
                goto out;
        }
        db_lock(d->db);
        r = table_count(d, "SELECT count(*) FROM manage_groups");
        if (r >= 0 && r >= MANAGE_GROUPS_MAX)
                r = -E2BIG;
        if (r >= 0)
                r = db_exec_params(d->db, "INSERT INTO manage_groups (id, name, description, kind, rule, created_at, "
                                          "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
                                   DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(in.name, strlen(in.name)),
                                             db_param_text(in.description, strlen(in.description)),
                                             db_param_text(in.kind, strlen(in.kind)),
                                             db_param_text(in.rule, in.rule ? strlen(in.rule) : 0),
                                             db_param_int64(now)));
        if (r == 0) {
                r = manage_index_group_add_take(&d->manage->index, id, in.expr, &changed);
                in.expr = NULL;
                if (r < 0)      /* the index must not lack a stored group */
                        db_exec_params(d->db, "DELETE FROM manage_groups WHERE id = $1",
                                       DB_PARAMS(db_param_text(id, strlen(id))));
        }
        if (r == 0)
                r = group_read(d, id, &out, NULL);
        db_unlock(d->db);
        if (r == -EEXIST)
                http_reply_error(rep, 409, "group_exists", "a device group named '%s' exists", in.name);
        else if (r == -E2BIG)
                http_reply_error(rep, 409, "too_many_groups", "there are already %d device groups, the most allowed",
                                 MANAGE_GROUPS_MAX);
        else if (r < 0)
                http_reply_failed(rep, r, "store the group");
        else {
                log_info("token %s created device group %s ('%s', %s)", req->who->token_id, id, in.name, in.kind);
                http_reply_json(rep, 201, out);
        }
        manage_publish_changed(d, &changed);
        manage_changed_release(&changed);
out:
        manage_expr_free(in.expr);
        json_decref(body);
}

/* GET /api/v1/groups?limit=&offset= */
static void handle_group_list(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        uint64_t limit, offset;
        int64_t total;
        struct db_stmt *st;
        json_t *arr;
        int r;

        if (http_request_paging(req, GROUP_LIMIT_DEFAULT, GROUP_LIMIT_MAX, &limit, &offset, rep) < 0)
                return;
        arr = json_array();
        db_lock(d->db);
        total = table_count(d, "SELECT count(*) FROM manage_groups");
        r = total < 0 ? (int)total : db_prepare(d->db, "SELECT " GROUP_COLUMNS " FROM manage_groups "
                                                       "ORDER BY name LIMIT $1 OFFSET $2", &st);
        if (r == 0) {
                db_bind_int64(st, 1, (int64_t)limit);
                db_bind_int64(st, 2, (int64_t)offset);
                while ((r = db_step(st)) == 1)
                        json_array_append_new(arr, group_row_json(d, st));
                db_stmt_done(st);
        }
        db_unlock(d->db);
        if (r < 0) {
                json_decref(arr);
                http_reply_failed(rep, r, "list the groups");
                return;
        }
        http_reply_page(rep, arr, total, offset);
}

static void handle_group_show(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        json_t *out = NULL;
        int r;

        db_lock(d->db);
        r = group_read(d, req->params[0], &out, NULL);
        db_unlock(d->db);
        group_reply(rep, r, req->params[0], "read the group", out);
}

/* Writes a checked PATCH to the table. Lock held, in a transaction. */
static int group_patch(struct vigild *d, const char *id, const struct group_input *in)
{
        bool dynamic = false;
        int r;

        r = group_read(d, id, NULL, &dynamic);
        if (r == 0 && in->rule && !dynamic)
                return -EMEDIUMTYPE;
        if (r == 0)
                r = db_exec_params(d->db, "UPDATE manage_groups SET name = COALESCE($2, name), "
                                          "description = COALESCE($3, description), rule = COALESCE($4, rule), "
                                          "updated_at = $5 WHERE id = $1",
                                   DB_PARAMS(db_param_text(id, strlen(id)),
                                             db_param_text(in->name, in->name ? strlen(in->name) : 0),
                                             db_param_text(in->description,
                                                           in->description ? strlen(in->description) : 0),
                                             db_param_text(in->rule, in->rule ? strlen(in->rule) : 0),
                                             db_param_int64(util_now())));
        return r;
}

/* PATCH /api/v1/groups/{id} */
static void handle_group_patch(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct manage_changed changed = { 0 };
        struct group_input in = { 0 };
        const char *id = req->params[0];
        json_t *body, *out = NULL;
        int r;

        body = group_body(req, rep, false, &in);
        if (!body)
                return;
        db_lock(d->db);
        r = db_begin(d->db);
        if (r == 0)
                r = db_finish(d->db, group_patch(d, id, &in));
        /* the index follows what is committed, before the lock goes */
        if (r == 0 && in.expr) {
                r = manage_index_group_rule_take(&d->manage->index, id, in.expr, &changed);
                in.expr = NULL;
        }
        if (r == 0)
                r = group_read(d, id, &out, NULL);
        db_unlock(d->db);
        if (r == -EMEDIUMTYPE)
                http_reply_error(rep, 400, "invalid_group", "'rule': group %s is static; its members are added "
                                 "and removed through /members", id);
        else if (r == -EEXIST)
                http_reply_error(rep, 409, "group_exists", "a device group named '%s' exists", in.name);
        else {
                if (r == 0)
                        log_info("token %s changed device group %s", req->who->token_id, id);
                group_reply(rep, r, id, "change the group", out);
        }
        manage_publish_changed(d, &changed);
        manage_changed_release(&changed);
        manage_expr_free(in.expr);
        json_decref(body);
}

/* DELETE /api/v1/groups/{id} */
static void handle_group_delete(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct manage_changed changed = { 0 };
        const char *id = req->params[0];
        int r;

        db_lock(d->db);
        r = db_exec_params(d->db, "DELETE FROM manage_groups WHERE id = $1", DB_PARAMS(db_param_text(id, strlen(id))));
        if (r == 0 && db_changes(d->db) == 0)
                r = -ENOENT;
        if (r == 0)
                r = manage_index_group_remove(&d->manage->index, id, &changed);
        db_unlock(d->db);
        if (r == 0)
                log_info("token %s deleted device group %s", req->who->token_id, id);
        group_reply(rep, r, id, "delete the group", r == 0 ? json_pack("{s:s,s:b}", "id", id, "deleted", 1) : NULL);
        manage_publish_changed(d, &changed);
        manage_changed_release(&changed);
}

/* GET /api/v1/groups/{id}/members?limit=&offset= */
static void handle_members_list(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        uint64_t limit, offset;
        json_t *arr;
        int64_t total;

        if (http_request_paging(req, GROUP_LIMIT_DEFAULT, GROUP_LIMIT_MAX, &limit, &offset, rep) < 0)
                return;
        arr = json_array();
        total = arr ? manage_index_members_json(&d->manage->index, req->params[0], limit, offset, arr) : -ENOMEM;
        if (total < 0) {
                json_decref(arr);
                group_reply(rep, (int)total, req->params[0], "list the members", NULL);
                return;
        }
        http_reply_page(rep, arr, total, offset);
}

/* Reads {"devices": [id, ...]}: every id known and onboarded. */
static int member_ids_check(struct vigild *d, const json_t *body, char *err, size_t err_size)
{
        const json_t *ids = json_object_get(body, "devices");
        size_t i;
        json_t *v;

        if (json_object_size(body) != 1 || !json_is_array(ids) || json_array_size(ids) == 0 ||
            json_array_size(ids) > MEMBERS_ADD_MAX) {
                snprintf(err, err_size, "the body must be {\"devices\": [device id, ...]} with 1 to %d ids",
                         MEMBERS_ADD_MAX);
                return -EINVAL;
        }
        json_array_foreach(ids, i, v) {
                const char *s = json_string_value(v);
                if (!s || !id_ok(s) || !enroll_device_onboarded(d, s)) {
                        snprintf(err, err_size, "'devices[%zu]': %s%.40s%s", i,
                                 s && id_ok(s) ? "no onboarded device with id '" : "not a device id",
                                 s && id_ok(s) ? s : "", s && id_ok(s) ? "'" : "");
                        return -ENOENT;
                }
        }
        return 0;
}

/* POST /api/v1/groups/{id}/members {"devices": [...]} — static groups only. */
static void handle_members_add(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct manage_changed changed = { 0 };
        const char *id = req->params[0];
        bool dynamic = false;
        json_t *body, *out = NULL;
        char err[256];
        size_t i;
        json_t *v;
        int r;

        body = http_request_json(req, rep);
        if (!body)
                return;
        r = member_ids_check(d, body, err, sizeof(err));
        if (r < 0) {
                http_reply_error(rep, r == -ENOENT ? 404 : 400, r == -ENOENT ? "device_not_found" : "invalid_request",
                                 "%s", err);
                goto out;
        }
        db_lock(d->db);
        r = group_read(d, id, NULL, &dynamic);
        if (r == 0 && dynamic)
                r = -EMEDIUMTYPE;
        if (r == 0 && manage_index_group_count(&d->manage->index, id) + (int64_t)json_array_size(
                              json_object_get(body, "devices")) > MANAGE_STATIC_MEMBERS_MAX)
                r = -E2BIG;
        if (r == 0)
                r = db_begin(d->db);
        json_array_foreach(json_object_get(body, "devices"), i, v) {
                const char *dev = json_string_value(v);
                if (r == 0)
                        r = db_exec_params(d->db, "INSERT INTO manage_group_members (group_id, device_id, added_at) "
                                                  "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                                           DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(dev, strlen(dev)),
                                                     db_param_int64(util_now())));
        }
        if (r != -ENOENT && r != -EMEDIUMTYPE && r != -E2BIG)
                r = db_finish(d->db, r);
        json_array_foreach(json_object_get(body, "devices"), i, v)
                if (r == 0)
                        r = manage_index_member_set(&d->manage->index, id, json_string_value(v), true, &changed);
        if (r == 0)
                r = group_read(d, id, &out, NULL);
        db_unlock(d->db);
        if (r == -EMEDIUMTYPE)
                http_reply_error(rep, 409, "group_dynamic", "group %s is dynamic: its members come from its rule", id);
        else if (r == -E2BIG)
                http_reply_error(rep, 409, "too_many_members", "a static group holds at most %d devices",
                                 MANAGE_STATIC_MEMBERS_MAX);
        else
                group_reply(rep, r, id, "add the members", out);
        manage_publish_changed(d, &changed);
        manage_changed_release(&changed);
out:
        json_decref(body);
}

/* DELETE /api/v1/groups/{id}/members/{device} */
static void handle_members_remove(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct manage_changed changed = { 0 };
        const char *id = req->params[0], *dev = req->params[1];
        bool dynamic = false;
        json_t *out = NULL;
        int r;

        db_lock(d->db);
        r = group_read(d, id, NULL, &dynamic);
        if (r == 0 && dynamic)
                r = -EMEDIUMTYPE;
        if (r == 0)
                r = db_exec_params(d->db, "DELETE FROM manage_group_members WHERE group_id = $1 AND device_id = $2",
                                   DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(dev, strlen(dev))));
        if (r == 0 && db_changes(d->db) == 0)
                r = -ENODEV;
        if (r == 0)
                r = manage_index_member_set(&d->manage->index, id, dev, false, &changed);
        if (r == 0 || r == -ENOENT)
                r = group_read(d, id, &out, NULL);
        db_unlock(d->db);
        if (r == -ENODEV)
                http_reply_error(rep, 404, "member_not_found", "device '%s' is not a member of group %s", dev, id);
        else if (r == -EMEDIUMTYPE)
                http_reply_error(rep, 409, "group_dynamic", "group %s is dynamic: its members come from its rule", id);
        else
                group_reply(rep, r, id, "remove the member", out);
        manage_publish_changed(d, &changed);
        manage_changed_release(&changed);
}

/* ---- tags ---- */

static bool tag_ok(const char *s, size_t len)
{
        if (len == 0 || len > MANAGE_TAG_MAX || strlen(s) != len)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
                      strchr("._:-", s[i])))
                        return false;
        return true;
}

/* Reads {"tags": [...]}: distinct tags, at most MANAGE_TAGS_MAX. */
static int tags_check(const json_t *body, const char **tags, size_t *ret_n, char *err, size_t err_size)
{
        const json_t *arr = json_object_get(body, "tags");
        size_t i;
        json_t *v;

        if (json_object_size(body) != 1 || !json_is_array(arr) || json_array_size(arr) > MANAGE_TAGS_MAX) {
                snprintf(err, err_size, "the body must be {\"tags\": [tag, ...]} with at most %d tags",
                         MANAGE_TAGS_MAX);
                return -EINVAL;
        }
        json_array_foreach(arr, i, v) {
                tags[i] = json_string_value(v);
                if (!tags[i] || !tag_ok(tags[i], json_string_length(v))) {
                        snprintf(err, err_size, "'tags[%zu]' must be 1 to %d letters, digits, '.', '_', ':' or '-'",
                                 i, MANAGE_TAG_MAX);
                        return -EINVAL;
                }
                for (size_t k = 0; k < i; k++)
                        if (strcmp(tags[k], tags[i]) == 0) {
                                snprintf(err, err_size, "'tags[%zu]': '%s' is listed twice", i, tags[i]);
                                return -EINVAL;
                        }
        }
        *ret_n = json_array_size(arr);
        return 0;
}

static int tags_write(struct vigild *d, const char *dev, const char *const *tags, size_t n)
{
        int r;

        r = db_exec_params(d->db, "DELETE FROM manage_device_tags WHERE device_id = $1",
                           DB_PARAMS(db_param_text(dev, strlen(dev))));
        for (size_t i = 0; r == 0 && i < n; i++)
                r = db_exec_params(d->db, "INSERT INTO manage_device_tags (device_id, tag) VALUES ($1, $2)",
                                   DB_PARAMS(db_param_text(dev, strlen(dev)), db_param_text(tags[i], strlen(tags[i]))));
        return r;
}

/* PUT /api/v1/devices/{id}/tags {"tags": [...]} */
static void handle_tags_put(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct manage_changed changed = { 0 };
        const char *dev = req->params[0], *tags[MANAGE_TAGS_MAX];
        json_t *body, *out;
        char err[256];
        size_t n = 0;
        int r;

        body = http_request_json(req, rep);
        if (!body)
                return;
        if (tags_check(body, tags, &n, err, sizeof(err)) < 0) {
                http_reply_error(rep, 400, "invalid_tags", "%s", err);
                goto out;
        }
        if (!enroll_device_onboarded(d, dev)) {
                http_reply_error(rep, 404, "device_not_found", "no onboarded device with id '%s'", dev);
                goto out;
        }
        db_lock(d->db);
        r = db_begin(d->db);
        if (r == 0)
                r = db_finish(d->db, tags_write(d, dev, tags, n));
        if (r == 0)
                r = manage_index_tags_set(&d->manage->index, dev, tags, n, &changed);
        db_unlock(d->db);
        if (r < 0) {
                http_reply_failed(rep, r, "store the tags");
                goto out;
        }
        manage_publish_changed(d, &changed);
        bus_publish(d->bus, &(struct bus_event){ .type = BUS_TAGS_CHANGED, .device_id = dev });
        log_info("token %s set %zu tags on device %s", req->who->token_id, n, dev);
        out = json_object();
        manage_device_json(d, dev, out, true);
        json_object_set_new(out, "id", json_string(dev));
        http_reply_json(rep, 200, out);
out:
        manage_changed_release(&changed);
        json_decref(body);
}

/* ---- assignments ---- */

static int assign_list(struct vigild *d, const json_t *arr, const char *key, bool include,
                       struct manage_assignment *a, char *err, size_t err_size)
{
        char (*dst)[MANAGE_ID_LEN + 1] = include ? a->include : a->exclude;
        size_t *n = include ? &a->n_include : &a->n_exclude, i;
        json_t *v;

        if (!json_is_array(arr) || json_array_size(arr) > MANAGE_ASSIGN_GROUPS_MAX) {
                snprintf(err, err_size, "'%s' must be an array of at most %d group ids", key,
                         MANAGE_ASSIGN_GROUPS_MAX);
                return -EINVAL;
        }
        json_array_foreach(arr, i, v) {
                const char *s = json_string_value(v);
                if (!s || !util_str_printable(s, 64)) {
                        snprintf(err, err_size, "'%s[%zu]' must be a group id%s", key, i,
                                 include ? " or \"all_devices\"" : "");
                        return -EINVAL;
                }
                if (include && strcmp(s, "all_devices") == 0) {
                        if (a->all_devices)
                                goto twice;
                        a->all_devices = true;
                        continue;
                }
                if (!id_ok(s) || !manage_group_exists(d, s)) {
                        snprintf(err, err_size, "'%s[%zu]': no device group with id '%.64s'", key, i, s);
                        return -EINVAL;
                }
                for (size_t k = 0; k < *n; k++)
                        if (strcmp(dst[k], s) == 0)
                                goto twice;
                snprintf(dst[(*n)++], MANAGE_ID_LEN + 1, "%s", s);
        }
        return 0;
twice:
        snprintf(err, err_size, "'%s[%zu]' is listed twice", key, i);
        return -EINVAL;
}

int manage_assignment_parse(struct vigild *d, const json_t *j, struct manage_assignment *ret,
                            char *err, size_t err_size)
{
        static const char *const keys[] = { "include", "exclude", NULL };
        struct manage_assignment *a = calloc(1, sizeof(*a));
        int r;

        if (!a)
                return -ENOMEM;
        if (!json_is_object(j) || !json_object_get(j, "include")) {
                snprintf(err, err_size, "an assignment must be {\"include\": [\"all_devices\" | group id, ...], "
                         "\"exclude\": [group id, ...]}");
                r = -EINVAL;
        } else {
                r = keys_check(j, keys, "include and exclude", err, err_size);
        }
        if (r == 0)
                r = assign_list(d, json_object_get(j, "include"), "include", true, a, err, err_size);
        if (r == 0 && json_object_get(j, "exclude"))
                r = assign_list(d, json_object_get(j, "exclude"), "exclude", false, a, err, err_size);
        if (r == 0)
                *ret = *a;
        free(a);
        return r;
}

json_t *manage_assignment_json(const struct manage_assignment *a)
{
        json_t *inc = json_array(), *exc = json_array();

        if (a->all_devices)
                json_array_append_new(inc, json_string("all_devices"));
        for (size_t i = 0; i < a->n_include; i++)
                json_array_append_new(inc, json_string(a->include[i]));
        for (size_t i = 0; i < a->n_exclude; i++)
                json_array_append_new(exc, json_string(a->exclude[i]));
        return json_pack("{s:o,s:o}", "include", inc, "exclude", exc);
}

const struct http_route manage_routes[] = {
        { "POST", "/api/v1/groups", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_group_create, 0 },
        { "GET", "/api/v1/groups", HTTP_AUTH_ADMIN, ROLES_ANY, handle_group_list, 0 },
        { "GET", "/api/v1/groups/{id}", HTTP_AUTH_ADMIN, ROLES_ANY, handle_group_show, 0 },
        { "PATCH", "/api/v1/groups/{id}", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_group_patch, 0 },
        { "DELETE", "/api/v1/groups/{id}", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_group_delete, 0 },
        { "GET", "/api/v1/groups/{id}/members", HTTP_AUTH_ADMIN, ROLES_ANY, handle_members_list, 0 },
        { "POST", "/api/v1/groups/{id}/members", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_members_add, 0 },
        { "DELETE", "/api/v1/groups/{id}/members/{device}", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_members_remove, 0 },
        { "PUT", "/api/v1/devices/{id}/tags", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_tags_put, 0 },
        { "PUT", "/api/v1/devices/{id}/primary-user", HTTP_AUTH_ADMIN, ROLES_ADMIN, manage_handle_primary_user, 0 },
        { "POST", "/api/v1/users", HTTP_AUTH_ADMIN, ROLES_ADMIN, manage_handle_user_create, 0 },
        { "GET", "/api/v1/users", HTTP_AUTH_ADMIN, ROLES_ANY, manage_handle_user_list, 0 },
        { "GET", "/api/v1/users/{id}", HTTP_AUTH_ADMIN, ROLES_ANY, manage_handle_user_show, 0 },
        { "PATCH", "/api/v1/users/{id}", HTTP_AUTH_ADMIN, ROLES_ADMIN, manage_handle_user_patch, 0 },
        { "DELETE", "/api/v1/users/{id}", HTTP_AUTH_ADMIN, ROLES_ADMIN, manage_handle_user_delete, 0 },
        { "POST", "/api/v1/user-groups", HTTP_AUTH_ADMIN, ROLES_ADMIN, manage_handle_ugroup_create, 0 },
        { "GET", "/api/v1/user-groups", HTTP_AUTH_ADMIN, ROLES_ANY, manage_handle_ugroup_list, 0 },
        { "GET", "/api/v1/user-groups/{id}", HTTP_AUTH_ADMIN, ROLES_ANY, manage_handle_ugroup_show, 0 },
        { "PATCH", "/api/v1/user-groups/{id}", HTTP_AUTH_ADMIN, ROLES_ADMIN, manage_handle_ugroup_patch, 0 },
        { "DELETE", "/api/v1/user-groups/{id}", HTTP_AUTH_ADMIN, ROLES_ADMIN, manage_handle_ugroup_delete, 0 },
        { "GET", "/api/v1/user-groups/{id}/members", HTTP_AUTH_ADMIN, ROLES_ANY, manage_handle_ugroup_members, 0 },
        { "POST", "/api/v1/user-groups/{id}/members", HTTP_AUTH_ADMIN, ROLES_ADMIN, manage_handle_ugroup_member_add, 0 },
        { "DELETE", "/api/v1/user-groups/{id}/members/{user}", HTTP_AUTH_ADMIN, ROLES_ADMIN,
          manage_handle_ugroup_member_remove, 0 },
        { 0 },
};
