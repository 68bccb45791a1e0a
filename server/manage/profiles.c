/* profiles: configuration profiles stored, merged per device, delivered to
 * agents and followed per device (docs/PROFILES.md).
 *
 * Each create or update that changes a profile makes a new version (kept in
 * manage_profile_versions); the profile row holds the current one. A
 * device's effective configuration is computed when asked for (heartbeat,
 * long-poll, the agent's fetch, the API) from the profiles whose assignment
 * applies to it, in the order they were created; its version is the SHA-256
 * of its canonical JSON, so it changes exactly when what the agent would
 * receive changes. After a change every onboarded device's long-poll is
 * woken, so an online agent fetches within a second.
 *
 * Detection rules travel as a "rules bundle": the compact JSON text
 * {"extra_rules": [...], "rule_packs": [...]} signed with the server's TLS
 * key, with the server's certificate beside it; the agent verifies both
 * against the server CA it trusts before loading a rule. */
#include "server/manage/profiles.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "server/bus.h"
#include "server/db/db.h"
#include "server/enroll/enroll.h"
#include "server/log.h"
#include "server/manage/manage.h"
#include "server/vigild.h"
#include "util/strutil.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000
#define REPORT_MAX (1u << 20)           /* bytes of a network protection report */

static const struct db_migration migrations[] = {
        { 1, "CREATE TABLE manage_profiles ("
             "  id TEXT PRIMARY KEY,"
             "  name TEXT NOT NULL UNIQUE,"
             "  type TEXT NOT NULL,"
             "  version INTEGER NOT NULL,"
             "  settings TEXT NOT NULL,"
             "  assignments TEXT NOT NULL,"
             "  created_at INTEGER NOT NULL,"
             "  updated_at INTEGER NOT NULL,"
             "  updated_by TEXT NOT NULL);"
             "CREATE TABLE manage_profile_versions ("
             "  profile_id TEXT NOT NULL,"
             "  version INTEGER NOT NULL,"
             "  document TEXT NOT NULL,"
             "  created_at INTEGER NOT NULL,"
             "  created_by TEXT NOT NULL,"
             "  PRIMARY KEY (profile_id, version));"
             "CREATE TABLE manage_profile_status ("
             "  device_id TEXT NOT NULL,"
             "  profile_id TEXT NOT NULL,"
             "  version INTEGER NOT NULL,"
             "  status TEXT NOT NULL,"
             "  message TEXT NOT NULL DEFAULT '',"
             "  reported_at INTEGER NOT NULL,"
             "  PRIMARY KEY (device_id, profile_id));"
             "CREATE TABLE manage_netprotect_reports ("
             "  device_id TEXT PRIMARY KEY,"
             "  report TEXT NOT NULL,"
             "  received_at INTEGER NOT NULL);" },
};

int profiles_migrate(struct vigild *d)
{
        int r;

        db_lock(d->db);
        r = db_migrate(d->db, "manage_profiles", migrations, sizeof(migrations) / sizeof(migrations[0]));
        db_unlock(d->db);
        return r;
}

/* ---- the effective configuration of a device ---- */

/* One stored profile, loaded for a merge. */
struct stored {
        char id[MANAGE_ID_LEN + 1];
        char name[PROFILES_NAME_MAX + 1];
        enum profile_type type;
        int64_t version;
        json_t *settings;
        struct manage_assignment assignment;
        bool assignment_ok;
};

struct stored_list {
        struct stored *v;
        size_t n;
};

static void stored_list_release(struct stored_list *l)
{
        for (size_t i = 0; i < l->n; i++)
                json_decref(l->v[i].settings);
        free(l->v);
        l->v = NULL;
        l->n = 0;
}

/* Makes room for one more profile in l. Returns 0 or -ENOMEM. */
static int stored_grow(struct stored_list *l, size_t *cap)
{
        struct stored *v;
        size_t n = *cap ? *cap * 2 : 16;

        if (l->n < *cap)
                return 0;
        v = realloc(l->v, n * sizeof(*v));
        if (!v)
                return -ENOMEM;
        l->v = v;
        *cap = n;
        return 0;
}

/* Every profile, in creation order. Lock held. */
static int stored_load(struct vigild *d, struct stored_list *ret)
{
        struct db_stmt *st = NULL;
        struct stored_list l = { NULL, 0 };
        size_t cap = 0;
        char err[256];
        int r;

        r = db_prepare(d->db, "SELECT id, name, type, version, settings, assignments FROM manage_profiles "
                              "ORDER BY created_at, id", &st);
        while (r == 0 && l.n < PROFILES_MAX && (r = db_step(st)) == 1) {
                struct stored *s;
                json_t *a;

                r = stored_grow(&l, &cap);
                if (r < 0)
                        break;
                s = &l.v[l.n];
                *s = (struct stored){ 0 };
                if (profile_type_parse(db_column_text(st, 2, NULL), &s->type) < 0)
                        continue;
                snprintf(s->id, sizeof(s->id), "%s", db_column_text(st, 0, NULL));
                snprintf(s->name, sizeof(s->name), "%s", db_column_text(st, 1, NULL));
                s->version = db_column_int64(st, 3);
                s->settings = json_loads(db_column_text(st, 4, NULL), 0, NULL);
                a = json_loads(db_column_text(st, 5, NULL), 0, NULL);
                s->assignment_ok = a && manage_assignment_parse(d, a, &s->assignment, err, sizeof(err)) == 0;
                json_decref(a);
                if (s->settings)
                        l.n++;
        }
        db_stmt_done(st);
        if (r < 0) {
                stored_list_release(&l);
                return r;
        }
        *ret = l;
        return 0;
}

/* The profiles as last loaded, shared by every request until a profile
 * changes: heartbeats and long-polls compute a device's configuration from
 * it without SQL. */
struct snapshot {
        struct stored_list l;           /* first: a snapshot is read as its list */
        int refs;                       /* under profiles.lock */
};

struct profiles {
        pthread_mutex_t lock;
        struct snapshot *cur;           /* NULL: load at the next use */
        uint64_t gen;                   /* changes at each invalidation */
};

static void snapshot_put(struct vigild *d, const struct stored_list *l)
{
        struct snapshot *s = (struct snapshot *)l;
        int refs;

        if (!s)
                return;
        if (d->profiles)
                pthread_mutex_lock(&d->profiles->lock);
        refs = --s->refs;
        if (d->profiles)
                pthread_mutex_unlock(&d->profiles->lock);
        if (refs == 0) {
                stored_list_release(&s->l);
                free(s);
        }
}

/* The current profiles (release with snapshot_put). db_held: the caller
 * holds the database lock (else it is taken to load). Returns 0 or a
 * negative errno. */
static int snapshot_get(struct vigild *d, bool db_held, const struct stored_list **ret)
{
        struct profiles *p = d->profiles;
        struct snapshot *s = NULL, *fresh;
        uint64_t gen = 0;
        int r;

        if (p) {
                pthread_mutex_lock(&p->lock);
                s = p->cur;
                if (s)
                        s->refs++;
                gen = p->gen;
                pthread_mutex_unlock(&p->lock);
        }
        if (s) {
                *ret = &s->l;
                return 0;
        }
        fresh = calloc(1, sizeof(*fresh));
        if (!fresh)
                return -ENOMEM;
        if (!db_held)
                db_lock(d->db);
        r = stored_load(d, &fresh->l);
        if (!db_held)
                db_unlock(d->db);
        if (r < 0) {
                free(fresh);
                return r;
        }
        fresh->refs = 1;
        if (p) {
                pthread_mutex_lock(&p->lock);
                /* kept only if no profile changed while it was loaded */
                if (!p->cur && p->gen == gen) {
                        p->cur = fresh;
                        fresh->refs++;
                }
                pthread_mutex_unlock(&p->lock);
        }
        *ret = &fresh->l;
        return 0;
}

/* A profile changed: the next use loads them again. */
static void snapshot_invalidate(struct vigild *d)
{
        struct profiles *p = d->profiles;
        struct snapshot *old;

        if (!p)
                return;
        pthread_mutex_lock(&p->lock);
        old = p->cur;
        p->cur = NULL;
        p->gen++;
        pthread_mutex_unlock(&p->lock);
        snapshot_put(d, old ? &old->l : NULL);
}

/* A device's configuration: what the agent receives, and per profile
 * whether it is in conflict there. */
struct effective {
        json_t *doc;                    /* {settings, held, profiles, rules_bundle}; owned */
        char *bundle;                   /* the rules bundle's text, or NULL; owned */
        char version[PROFILES_VERSION_HEX + 1];
};

static void effective_release(struct effective *e)
{
        json_decref(e->doc);
        free(e->bundle);
        e->doc = NULL;
        e->bundle = NULL;
}

/* Moves rule_packs and extra_rules out of settings into the bundle's text. */
static int bundle_take(json_t *settings, char **ret)
{
        json_t *sensor = json_object_get(settings, "sensor_settings"), *b;
        json_t *packs = json_object_get(sensor, "rule_packs"), *rules = json_object_get(sensor, "extra_rules");

        *ret = NULL;
        if (!packs && !rules)
                return 0;
        b = json_object();
        if (!b || (packs && json_object_set(b, "rule_packs", packs) < 0) ||
            (rules && json_object_set(b, "extra_rules", rules) < 0)) {
                json_decref(b);
                return -ENOMEM;
        }
        json_object_del(sensor, "rule_packs");
        json_object_del(sensor, "extra_rules");
        if (json_object_size(sensor) == 0)
                json_object_del(settings, "sensor_settings");
        *ret = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(b);
        return *ret ? 0 : -ENOMEM;
}

/* An assignment naming a group deleted since it was written applies to no
 * device (as when it is read again from the table). */
static bool assignment_live(struct vigild *d, const struct stored *s)
{
        if (!s->assignment_ok)
                return false;
        for (size_t i = 0; i < s->assignment.n_include; i++)
                if (!manage_group_exists(d, s->assignment.include[i]))
                        return false;
        for (size_t i = 0; i < s->assignment.n_exclude; i++)
                if (!manage_group_exists(d, s->assignment.exclude[i]))
                        return false;
        return true;
}

/* The profiles of l assigned to the device, merged. */
static int effective_build(struct vigild *d, const struct stored_list *l, const char *device_id,
                           struct effective *ret, bool *ret_assigned, bool *ret_conflict)
{
        struct profile_merge_in *in = calloc(l->n + 1, sizeof(*in));
        size_t *idx = calloc(l->n + 1, sizeof(*idx)), n = 0;
        bool *conflict = calloc(l->n + 1, sizeof(*conflict));
        json_t *settings = NULL, *held = NULL, *profiles = json_array();
        uint8_t hash[CRYPTO_SHA256_LEN];
        char *text = NULL;
        int r = -ENOMEM;

        *ret = (struct effective){ 0 };
        if (!in || !idx || !conflict || !profiles)
                goto out;
        for (size_t i = 0; i < l->n; i++) {
                ret_assigned[i] = assignment_live(d, &l->v[i]) &&
                                  manage_assignment_applies(d, &l->v[i].assignment, device_id);
                ret_conflict[i] = false;
                if (!ret_assigned[i])
                        continue;
                in[n] = (struct profile_merge_in){ l->v[i].type, l->v[i].settings };
                idx[n++] = i;
        }
        r = profiles_merge(in, n, &settings, &held, conflict);
        if (r < 0)
                goto out;
        for (size_t k = 0; k < n; k++) {
                const struct stored *s = &l->v[idx[k]];

                ret_conflict[idx[k]] = conflict[k];
                json_array_append_new(profiles, json_pack("{s:s,s:I,s:s,s:b}", "profile_id", s->id, "version",
                                                          (json_int_t)s->version, "type", profile_type_name(s->type),
                                                          "conflict", conflict[k]));
        }
        r = bundle_take(settings, &ret->bundle);
        if (r < 0)
                goto out;
        ret->doc = json_pack("{s:O,s:O,s:O,s:s?}", "settings", settings, "held", held, "profiles", profiles,
                             "rules_bundle", ret->bundle);
        text = ret->doc ? json_dumps(ret->doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        r = text ? crypto_sha256(text, strlen(text), hash) : -ENOMEM;
        if (r == 0)
                util_hex_encode(hash, sizeof(hash), ret->version);
        else
                effective_release(ret);
out:
        free(text);
        json_decref(settings);
        json_decref(held);
        json_decref(profiles);
        free(in);
        free(idx);
        free(conflict);
        return r;
}

/* The device's configuration alone. The database lock is not held. */
static int device_effective(struct vigild *d, const char *device_id, struct effective *ret)
{
        const struct stored_list *l;
        bool *assigned, *conflict;
        int r;

        r = snapshot_get(d, false, &l);
        if (r < 0)
                return r;
        assigned = calloc(l->n + 1, sizeof(bool));
        conflict = calloc(l->n + 1, sizeof(bool));
        r = assigned && conflict ? effective_build(d, l, device_id, ret, assigned, conflict) : -ENOMEM;
        free(assigned);
        free(conflict);
        snapshot_put(d, l);
        return r;
}

int profiles_device_version(struct vigild *d, const char *device_id, char out[static PROFILES_VERSION_HEX + 1])
{
        struct effective e;
        int r;

        r = device_effective(d, device_id, &e);
        if (r < 0)
                return r;
        memcpy(out, e.version, PROFILES_VERSION_HEX + 1);
        effective_release(&e);
        return 0;
}

/* Wakes the long-poll of every onboarded device: their configuration may
 * have changed. Lock held. */
static void wake_all(struct vigild *d, struct http_server *srv)
{
        struct db_stmt *st;

        if (db_prepare(d->db, "SELECT id FROM devices WHERE offboarded_at IS NULL", &st) < 0)
                return;
        while (db_step(st) == 1)
                http_server_wake(srv, db_column_text(st, 0, NULL));
        db_stmt_done(st);
}

static void on_groups_changed(const struct bus_event *ev, void *userdata)
{
        struct vigild *d = userdata;

        if (ev->device_id)
                http_server_wake(__atomic_load_n(&d->http, __ATOMIC_ACQUIRE), ev->device_id);
}

int profiles_open(struct vigild *d)
{
        struct profiles *p = calloc(1, sizeof(*p));

        if (!p)
                return -ENOMEM;
        pthread_mutex_init(&p->lock, NULL);
        d->profiles = p;
        return bus_subscribe(d->bus, BUS_GROUPS_CHANGED, on_groups_changed, d);
}

void profiles_close(struct vigild *d)
{
        if (!d->profiles)
                return;
        snapshot_invalidate(d);
        pthread_mutex_destroy(&d->profiles->lock);
        free(d->profiles);
        d->profiles = NULL;
}

/* ---- the admin API ---- */

static json_t *time_json(struct db_stmt *st, int col)
{
        char buf[21];

        if (db_column_is_null(st, col))
                return json_null();
        util_time_format(db_column_int64(st, col), buf);
        return json_string(buf);
}

#define PROFILE_COLUMNS "id, name, type, version, settings, assignments, created_at, updated_at, updated_by"

static json_t *profile_row_json(struct db_stmt *st)
{
        return json_pack("{s:s,s:s,s:s,s:I,s:o,s:o,s:o,s:o,s:s}", "id", db_column_text(st, 0, NULL),
                         "name", db_column_text(st, 1, NULL), "type", db_column_text(st, 2, NULL),
                         "version", (json_int_t)db_column_int64(st, 3),
                         "settings", json_loads(db_column_text(st, 4, NULL), 0, NULL),
                         "assignments", json_loads(db_column_text(st, 5, NULL), 0, NULL),
                         "created_at", time_json(st, 6), "updated_at", time_json(st, 7),
                         "updated_by", db_column_text(st, 8, NULL));
}

/* The profile's JSON, or NULL if there is none. Lock held. */
static json_t *profile_get(struct vigild *d, const char *id)
{
        struct db_stmt *st;
        json_t *j = NULL;

        if (db_prepare(d->db, "SELECT " PROFILE_COLUMNS " FROM manage_profiles WHERE id = $1", &st) < 0)
                return NULL;
        db_bind_text(st, 1, id, strlen(id));
        if (db_step(st) == 1)
                j = profile_row_json(st);
        db_stmt_done(st);
        return j;
}

static void handle_list(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        uint64_t limit, offset;
        struct db_stmt *st;
        json_t *arr = json_array();
        int64_t total = 0;

        if (http_request_paging(req, LIST_DEFAULT, LIST_MAX, &limit, &offset, rep) < 0) {
                json_decref(arr);
                return;
        }
        db_lock(d->db);
        int r = db_prepare(d->db, "SELECT count(*) FROM manage_profiles", &st);
        if (r == 0) {
                if ((r = db_step(st)) == 1) {
                        total = db_column_int64(st, 0);
                        r = 0;
                }
                db_stmt_done(st);
        }
        if (r == 0)
                r = db_prepare(d->db, "SELECT " PROFILE_COLUMNS " FROM manage_profiles ORDER BY created_at, id "
                                      "LIMIT $1 OFFSET $2", &st);
        if (r == 0) {
                db_bind_int64(st, 1, (int64_t)limit);
                db_bind_int64(st, 2, (int64_t)offset);
                while ((r = db_step(st)) == 1)
                        json_array_append_new(arr, profile_row_json(st));
                db_stmt_done(st);
        }
        db_unlock(d->db);
        if (r < 0) {
                http_reply_list_failed(rep, arr, "read the profiles");
                return;
        }
        http_reply_page(rep, arr, total, offset);
}

static void handle_get(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        json_t *j;

        db_lock(d->db);
        j = profile_get(d, req->params[0]);
        db_unlock(d->db);
        if (!j) {
                http_reply_error(rep, 404, "not_found", "no profile '%s'", req->params[0]);
                return;
        }
        http_reply_json(rep, 200, j);
}

/* Checks the body as a profile document and its assignment; fills rep and
 * returns NULL when refused. *ret_assign is the assignment's JSON text. */
static struct profile_doc *doc_read(struct vigild *d, const struct http_request *req, struct http_reply *rep,
                                    char **ret_settings, char **ret_assign)
{
        struct manage_assignment a;
        struct profile_doc *p;
        char err[512];
        json_t *aj;
        int r;

        r = profile_doc_parse(req->body, req->body_len, &p, err, sizeof(err));
        if (r < 0) {
                http_reply_error(rep, r == -E2BIG ? 413 : 400, "invalid_profile", "%s", err);
                return NULL;
        }
        if (profile_type_needs_security_admin(p->type) && req->who->role != ROLE_SECURITY_ADMIN) {
                http_reply_error(rep, 403, "forbidden", "only a security_admin may write a %s profile",
                                 profile_type_name(p->type));
                goto fail;
        }
        aj = p->assignments ? json_incref(p->assignments) : json_pack("{s:[]}", "include");
        r = manage_assignment_parse(d, aj, &a, err, sizeof(err));
        json_decref(aj);
        if (r < 0) {
                http_reply_error(rep, 400, "invalid_profile", "assignments: %s", err);
                goto fail;
        }
        aj = manage_assignment_json(&a);
        *ret_assign = aj ? json_dumps(aj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        *ret_settings = json_dumps(p->settings, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(aj);
        if (!*ret_assign || !*ret_settings) {
                free(*ret_assign);
                free(*ret_settings);
                http_reply_error(rep, 500, "out_of_memory", "out of memory");
                goto fail;
        }
        return p;
fail:
        profile_doc_free(p);
        return NULL;
}

/* Records version v of profile id. Lock held, in a transaction. */
static int version_add(struct vigild *d, const char *id, int64_t v, const char *by)
{
        struct db_stmt *st;
        json_t *j = profile_get(d, id);
        char *text = NULL;
        int r;

        json_object_del(j, "created_at");
        json_object_del(j, "updated_at");
        text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(j);
        if (!text)
                return -ENOMEM;
        r = db_prepare(d->db, "INSERT INTO manage_profile_versions (profile_id, version, document, created_at, "
                              "created_by) VALUES ($1, $2, $3, $4, $5)", &st);
        if (r == 0) {
                r = db_bind_params(st, DB_PARAMS(db_param_text(id, strlen(id)), db_param_int64(v),
                                                 db_param_text(text, strlen(text)), db_param_int64(util_now()),
                                                 db_param_text(by, strlen(by))));
                if (r == 0)
                        r = db_step(st);
                db_stmt_done(st);
        }
        free(text);
        return r < 0 ? r : 0;
}

static void handle_create(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct profile_doc *p;
        char id[37], *settings, *assign;
        const char *type;
        int64_t now = util_now(), count = 0;
        struct db_stmt *st;
        bool began;
        int r;

        p = doc_read(d, req, rep, &settings, &assign);
        if (!p)
                return;
        type = profile_type_name(p->type);
        r = crypto_uuid4(id);
        db_lock(d->db);
        if (r == 0)
                r = db_begin(d->db);
        began = r == 0;
        if (r == 0 && db_prepare(d->db, "SELECT count(*) FROM manage_profiles", &st) == 0) {
                if (db_step(st) == 1)
                        count = db_column_int64(st, 0);
                db_stmt_done(st);
        }
        if (r == 0 && count >= PROFILES_MAX)
                r = -E2BIG;
        if (r == 0)
                r = db_exec_params(d->db, "INSERT INTO manage_profiles (id, name, type, version, settings, "
                                          "assignments, created_at, updated_at, updated_by) VALUES "
                                          "($1, $2, $3, 1, $4, $5, $6, $6, $7)",
                                   DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(p->name, strlen(p->name)),
                                             db_param_text(type, strlen(type)),
                                             db_param_text(settings, strlen(settings)),
                                             db_param_text(assign, strlen(assign)), db_param_int64(now),
                                             db_param_text(req->who->token_id, strlen(req->who->token_id))));
        if (r == 0)
                r = version_add(d, id, 1, req->who->token_id);
        if (began)
                r = db_finish(d->db, r);
        if (r == 0) {
                snapshot_invalidate(d);
                wake_all(d, req->server);
        }
        db_unlock(d->db);
        if (r == -EEXIST)
                http_reply_error(rep, 409, "name_taken", "a profile named '%s' exists already", p->name);
        else if (r == -E2BIG)
                http_reply_error(rep, 409, "too_many_profiles", "the server holds %d profiles at most", PROFILES_MAX);
        else if (r < 0)
                http_reply_error(rep, 500, "database_error", "cannot store the profile");
        else {
                log_info("profile %s ('%s', %s) created by token %s", id, p->name, type, req->who->token_id);
                db_lock(d->db);
                http_reply_json(rep, 201, profile_get(d, id));
                db_unlock(d->db);
        }
        free(settings);
        free(assign);
        profile_doc_free(p);
}

/* Reads the type of profile id into *ret. Lock held. Returns 0, -ENOENT. */
static int profile_type_of(struct vigild *d, const char *id, enum profile_type *ret)
{
        struct db_stmt *st;
        int r = -ENOENT;

        if (db_prepare(d->db, "SELECT type FROM manage_profiles WHERE id = $1", &st) < 0)
                return -EIO;
        db_bind_text(st, 1, id, strlen(id));
        if (db_step(st) == 1 && profile_type_parse(db_column_text(st, 0, NULL), ret) == 0)
                r = 0;
        db_stmt_done(st);
        return r;
}

/* Stores the new document when it changes the profile: a new version.
 * Lock held. Returns 0, 1 when nothing changed, or a negative errno. */
static int profile_update(struct vigild *d, const char *id, const struct profile_doc *p, const char *settings,
                          const char *assign, const char *by)
{
        int64_t version;
        int r;

        r = db_begin(d->db);
        if (r < 0)
                return r;
        r = db_exec_params(d->db, "UPDATE manage_profiles SET version = version + 1, name = $2, settings = $3, "
                                  "assignments = $4, updated_at = $5, updated_by = $6 WHERE id = $1 AND "
                                  "(name <> $2 OR settings <> $3 OR assignments <> $4)",
                           DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(p->name, strlen(p->name)),
                                     db_param_text(settings, strlen(settings)),
                                     db_param_text(assign, strlen(assign)), db_param_int64(util_now()),
                                     db_param_text(by, strlen(by))));
        if (r == 0 && db_changes(d->db) == 0) {
                db_rollback(d->db);
                return 1;
        }
        if (r == 0) {
                struct db_stmt *st;

                r = db_prepare(d->db, "SELECT version FROM manage_profiles WHERE id = $1", &st);
                if (r == 0) {
                        db_bind_text(st, 1, id, strlen(id));
                        r = db_step(st) == 1 ? 0 : -EIO;
                        version = db_column_int64(st, 0);
                        db_stmt_done(st);
                }
        }
        if (r == 0)
                r = version_add(d, id, version, by);
        return db_finish(d->db, r);
}

/* PUT /api/v1/profiles/{id}: the whole document again; the type stays. */
static void handle_update(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0];
        struct profile_doc *p;
        enum profile_type old;
        char *settings, *assign;
        int r;

        p = doc_read(d, req, rep, &settings, &assign);
        if (!p)
                return;
        db_lock(d->db);
        r = profile_type_of(d, id, &old);
        if (r == 0 && old != p->type)
                r = -EMEDIUMTYPE;
        if (r == 0)
                r = profile_update(d, id, p, settings, assign, req->who->token_id);
        if (r == 0) {
                snapshot_invalidate(d);
                wake_all(d, req->server);
        }
        db_unlock(d->db);
        if (r == -ENOENT)
                http_reply_error(rep, 404, "not_found", "no profile '%s'", id);
        else if (r == -EMEDIUMTYPE)
                http_reply_error(rep, 400, "invalid_profile", "type: a %s profile stays one (create another "
                                 "profile for %s settings)", profile_type_name(old), profile_type_name(p->type));
        else if (r == -EEXIST)
                http_reply_error(rep, 409, "name_taken", "a profile named '%s' exists already", p->name);
        else if (r < 0)
                http_reply_error(rep, 500, "database_error", "cannot store the profile");
        else {
                if (r == 0)
                        log_info("profile %s ('%s') changed by token %s", id, p->name, req->who->token_id);
                db_lock(d->db);
                http_reply_json(rep, 200, profile_get(d, id));
                db_unlock(d->db);
        }
        free(settings);
        free(assign);
        profile_doc_free(p);
}

static void handle_delete(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0];
        enum profile_type t;
        int r;

        db_lock(d->db);
        r = profile_type_of(d, id, &t);
        if (r == 0 && profile_type_needs_security_admin(t) && req->who->role != ROLE_SECURITY_ADMIN)
                r = -EPERM;
        if (r == 0)
                r = db_begin(d->db);
        if (r == 0) {
                r = db_exec_params(d->db, "DELETE FROM manage_profile_status WHERE profile_id = $1",
                                   DB_PARAMS(db_param_text(id, strlen(id))));
                if (r == 0)
                        r = db_exec_params(d->db, "DELETE FROM manage_profiles WHERE id = $1",
                                           DB_PARAMS(db_param_text(id, strlen(id))));
                r = db_finish(d->db, r);
        }
        if (r == 0) {
                snapshot_invalidate(d);
                wake_all(d, req->server);
        }
        db_unlock(d->db);
        if (r == -ENOENT)
                http_reply_error(rep, 404, "not_found", "no profile '%s'", id);
        else if (r == -EPERM)
                http_reply_error(rep, 403, "forbidden", "only a security_admin may delete a %s profile",
                                 profile_type_name(t));
        else if (r < 0)
                http_reply_error(rep, 500, "database_error", "cannot delete the profile");
        else {
                log_info("profile %s deleted by token %s", id, req->who->token_id);
                http_reply_json(rep, 200, json_pack("{s:s,s:b}", "id", id, "deleted", true));
        }
}

/* The status of profile s (version v) on a device: conflict when it is in
 * conflict there, else what the agent reported for this very version, else
 * pending. Lock held. */
static json_t *status_json(struct vigild *d, const char *device_id, const struct stored *s, bool conflict)
{
        struct db_stmt *st;
        enum profile_status status = conflict ? PROFILE_CONFLICT : PROFILE_PENDING;
        json_t *j, *reported_at = json_null();
        char message[PROFILES_MESSAGE_MAX + 1] = "";

        if (db_prepare(d->db, "SELECT version, status, message, reported_at FROM manage_profile_status "
                              "WHERE device_id = $1 AND profile_id = $2", &st) == 0) {
                db_bind_text(st, 1, device_id, strlen(device_id));
                db_bind_text(st, 2, s->id, strlen(s->id));
                if (db_step(st) == 1 && db_column_int64(st, 0) == s->version && !conflict) {
                        status = strcmp(db_column_text(st, 1, NULL), "succeeded") == 0 ? PROFILE_SUCCEEDED
                                                                                       : PROFILE_FAILED;
                        snprintf(message, sizeof(message), "%s", db_column_text(st, 2, NULL));
                        json_decref(reported_at);
                        reported_at = time_json(st, 3);
                }
                db_stmt_done(st);
        }
        j = json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:o}", "device_id", device_id, "profile_id", s->id, "name",
                      s->name, "version", (json_int_t)s->version, "type", profile_type_name(s->type), "status",
                      profile_status_name(status), "reported_at", reported_at);
        if (j && message[0])
                json_object_set_new(j, "message", json_string(message));
        return j;
}

/* GET /api/v1/profiles/{id}/status: the profile's status on every onboarded
 * device it is assigned to. */
static void handle_status(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0];
        const struct stored_list *l = NULL;
        struct db_stmt *st;
        json_t *arr = json_array(), *counts = json_pack("{s:i,s:i,s:i,s:i}", "pending", 0, "succeeded", 0,
                                                        "failed", 0, "conflict", 0);
        bool *assigned = NULL, *conflict = NULL;
        size_t me = SIZE_MAX;
        int r;

        db_lock(d->db);
        r = snapshot_get(d, true, &l);
        for (size_t i = 0; r == 0 && i < l->n; i++)
                if (strcmp(l->v[i].id, id) == 0)
                        me = i;
        if (r == 0 && me == SIZE_MAX)
                r = -ENOENT;
        assigned = calloc(l ? l->n + 1 : 1, sizeof(bool));
        conflict = calloc(l ? l->n + 1 : 1, sizeof(bool));
        if (r == 0 && (!assigned || !conflict))
                r = -ENOMEM;
        if (r == 0 && (r = db_prepare(d->db, "SELECT id FROM devices WHERE offboarded_at IS NULL ORDER BY id",
                                      &st)) == 0) {
                while (db_step(st) == 1) {
                        char device[64];
                        struct effective e;
                        const char *sname;
                        json_t *j;

                        snprintf(device, sizeof(device), "%s", db_column_text(st, 0, NULL));
                        if (!assignment_live(d, &l->v[me]) ||
                            !manage_assignment_applies(d, &l->v[me].assignment, device) ||
                            effective_build(d, l, device, &e, assigned, conflict) < 0)
                                continue;
                        effective_release(&e);
                        j = status_json(d, device, &l->v[me], conflict[me]);
                        sname = json_string_value(json_object_get(j, "status"));
                        json_object_set_new(counts, sname, json_integer(json_integer_value(
                                                                   json_object_get(counts, sname)) + 1));
                        json_array_append_new(arr, j);
                }
                db_stmt_done(st);
        }
        db_unlock(d->db);
        if (r == -ENOENT)
                http_reply_error(rep, 404, "not_found", "no profile '%s'", id);
        else if (r < 0)
                http_reply_error(rep, 500, "database_error", "cannot read the profile's status");
        else
                http_reply_json(rep, 200, json_pack("{s:s,s:I,s:O,s:O}", "profile_id", id, "version",
                                                    (json_int_t)l->v[me].version, "counts", counts, "devices", arr));
        json_decref(arr);
        json_decref(counts);
        free(assigned);
        free(conflict);
        snapshot_put(d, l);
}

/* GET /api/v1/devices/{id}/profiles: the profiles assigned to the device,
 * each with its status there, and the version of its configuration. */
static void handle_device_profiles(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *device = req->params[0];
        const struct stored_list *l = NULL;
        struct effective e = { 0 };
        bool *assigned = NULL, *conflict = NULL;
        json_t *arr = json_array();
        int r;

        if (!enroll_device_exists(d, device)) {
                json_decref(arr);
                http_reply_error(rep, 404, "not_found", "no device '%s'", device);
                return;
        }
        db_lock(d->db);
        r = snapshot_get(d, true, &l);
        assigned = calloc(l ? l->n + 1 : 1, sizeof(bool));
        conflict = calloc(l ? l->n + 1 : 1, sizeof(bool));
        if (r == 0)
                r = assigned && conflict ? effective_build(d, l, device, &e, assigned, conflict) : -ENOMEM;
        for (size_t i = 0; r == 0 && i < l->n; i++)
                if (assigned[i])
                        json_array_append_new(arr, status_json(d, device, &l->v[i], conflict[i]));
        db_unlock(d->db);
        if (r < 0)
                http_reply_error(rep, 500, "database_error", "cannot read the device's profiles");
        else
                http_reply_json(rep, 200, json_pack("{s:s,s:s,s:O,s:O}", "device_id", device, "config_version",
                                                    e.version, "held", json_object_get(e.doc, "held"), "profiles",
                                                    arr));
        json_decref(arr);
        effective_release(&e);
        free(assigned);
        free(conflict);
        snapshot_put(d, l);
}

/* GET /api/v1/devices/{id}/network-protection: the agent's last report. */
static void handle_device_netprotect(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *device = req->params[0];
        struct db_stmt *st;
        json_t *report = NULL, *at = NULL;

        if (!enroll_device_exists(d, device)) {
                http_reply_error(rep, 404, "not_found", "no device '%s'", device);
                return;
        }
        db_lock(d->db);
        if (db_prepare(d->db, "SELECT report, received_at FROM manage_netprotect_reports WHERE device_id = $1",
                       &st) == 0) {
                db_bind_text(st, 1, device, strlen(device));
                if (db_step(st) == 1) {
                        report = json_loads(db_column_text(st, 0, NULL), 0, NULL);
                        at = time_json(st, 1);
                }
                db_stmt_done(st);
        }
        db_unlock(d->db);
        http_reply_json(rep, 200, json_pack("{s:s,s:o,s:o}", "device_id", device, "report",
                                            report ? report : json_null(), "received_at", at ? at : json_null()));
}

/* ---- the agent's side ---- */

/* GET /agent/v1/config: the device's effective configuration, its version,
 * and the signed rules bundle. */
static void handle_agent_config(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *cert = enroll_server_cert_pem(d), *key = enroll_server_key_pem(d);
        struct effective e;
        uint8_t *sig = NULL;
        size_t sig_len = 0;
        char *sig_text;
        int r;

        r = device_effective(d, req->who->device_id, &e);
        if (r < 0) {
                http_reply_error(rep, 500, "database_error", "cannot compute the device's configuration");
                return;
        }
        json_object_set_new(e.doc, "version", json_string(e.version));
        if (e.bundle) {
                r = crypto_sign(key, strlen(key), e.bundle, strlen(e.bundle), &sig, &sig_len);
                sig_text = r == 0 ? malloc(util_b64url_len(sig_len) + 1) : NULL;
                if (!sig_text) {
                        log_error("cannot sign the rules bundle of device %s: %s", req->who->device_id,
                                  strerror(r < 0 ? -r : ENOMEM));
                        http_reply_error(rep, 500, "signing_failed", "cannot sign the detection rules");
                        free(sig);
                        effective_release(&e);
                        return;
                }
                util_b64url_encode(sig, sig_len, sig_text);
                json_object_set_new(e.doc, "rules", json_pack("{s:s,s:s,s:s}", "bundle", e.bundle, "signature",
                                                              sig_text, "certificate", cert));
                free(sig_text);
                free(sig);
        }
        json_object_del(e.doc, "rules_bundle");
        http_reply_json(rep, 200, json_incref(e.doc));
        effective_release(&e);
}

/* Stores one result {profile_id, version, status, message} of the agent's
 * report. Lock held. Returns 0, or -EINVAL with rep filled. */
static int result_store(struct vigild *d, const char *device, const json_t *res, struct http_reply *rep)
{
        const char *pid = NULL, *status = NULL, *message = "";
        json_int_t version = 0;
        json_error_t je;

        if (json_unpack_ex((json_t *)res, &je, JSON_STRICT, "{s:s,s:I,s:s,s?s}", "profile_id", &pid, "version",
                           &version, "status", &status, "message", &message) < 0 ||
            (strcmp(status, "succeeded") != 0 && strcmp(status, "failed") != 0) ||
            strlen(pid) > MANAGE_ID_LEN || strlen(message) > PROFILES_MESSAGE_MAX ||
            !util_str_is_text(message, PROFILES_MESSAGE_MAX)) {
                http_reply_error(rep, 400, "invalid_report", "each result is {\"profile_id\", \"version\", "
                                 "\"status\": \"succeeded\"|\"failed\", \"message\"} (a message of at most %d "
                                 "bytes)", PROFILES_MESSAGE_MAX);
                return -EINVAL;
        }
        /* a profile deleted meanwhile: nothing to record */
        return db_exec_params(d->db, "INSERT INTO manage_profile_status (device_id, profile_id, version, status, "
                                     "message, reported_at) SELECT $1, id, $3, $4, $5, $6 FROM manage_profiles "
                                     "WHERE id = $2 ON CONFLICT (device_id, profile_id) DO UPDATE SET "
                                     "version = excluded.version, status = excluded.status, "
                                     "message = excluded.message, reported_at = excluded.reported_at",
                              DB_PARAMS(db_param_text(device, strlen(device)), db_param_text(pid, strlen(pid)),
                                        db_param_int64(version), db_param_text(status, strlen(status)),
                                        db_param_text(message, strlen(message)), db_param_int64(util_now())));
}

/* POST /agent/v1/config/status {version, results: [...]}. */
static void handle_agent_status(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const json_t *results, *res;
        json_t *body = http_request_json(req, rep);
        size_t i;
        int r = 0;

        if (!body)
                return;
        results = json_object_get(body, "results");
        if (!json_is_array(results) || json_array_size(results) > PROFILES_MAX ||
            !json_is_string(json_object_get(body, "version"))) {
                http_reply_error(rep, 400, "invalid_report", "a report is {\"version\", \"results\": [...]} with at "
                                 "most %d results", PROFILES_MAX);
                json_decref(body);
                return;
        }
        db_lock(d->db);
        r = db_begin(d->db);
        json_array_foreach(results, i, res) {
                if (r < 0)
                        break;
                r = result_store(d, req->who->device_id, res, rep);
        }
        if (r == -EINVAL)
                db_rollback(d->db);     /* rep says which result is wrong */
        else
                r = db_finish(d->db, r);
        db_unlock(d->db);
        if (r == 0)
                http_reply_json(rep, 200, json_pack("{s:b}", "recorded", true));
        else if (r != -EINVAL)
                http_reply_error(rep, 500, "database_error", "cannot record the report");
        json_decref(body);
}

/* POST /agent/v1/config/netprotect-report: netprotect_report()'s JSON (or
 * {"installed": false}), kept as the device's last. */
static void handle_agent_netprotect(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        json_t *body = http_request_json(req, rep);
        char *text;
        int r;

        if (!body)
                return;
        text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (!text) {
                http_reply_error(rep, 500, "out_of_memory", "out of memory");
                return;
        }
        db_lock(d->db);
        r = db_exec_params(d->db, "INSERT INTO manage_netprotect_reports (device_id, report, received_at) VALUES "
                                  "($1, $2, $3) ON CONFLICT (device_id) DO UPDATE SET report = excluded.report, "
                                  "received_at = excluded.received_at",
                           DB_PARAMS(db_param_text(req->who->device_id, strlen(req->who->device_id)),
                                     db_param_text(text, strlen(text)), db_param_int64(util_now())));
        db_unlock(d->db);
        free(text);
        if (r < 0)
                http_reply_error(rep, 500, "database_error", "cannot record the report");
        else
                http_reply_json(rep, 200, json_pack("{s:b}", "recorded", true));
}

const struct http_route profiles_routes[] = {
        { "GET", "/api/v1/profiles", HTTP_AUTH_ADMIN, ROLES_ANY, handle_list, 0 },
        { "POST", "/api/v1/profiles", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_create, PROFILES_DOCUMENT_MAX },
        { "GET", "/api/v1/profiles/{id}", HTTP_AUTH_ADMIN, ROLES_ANY, handle_get, 0 },
        { "PUT", "/api/v1/profiles/{id}", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_update, PROFILES_DOCUMENT_MAX },
        { "DELETE", "/api/v1/profiles/{id}", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_delete, 0 },
        { "GET", "/api/v1/profiles/{id}/status", HTTP_AUTH_ADMIN, ROLES_ANY, handle_status, 0 },
        { "GET", "/api/v1/devices/{id}/profiles", HTTP_AUTH_ADMIN, ROLES_ANY, handle_device_profiles, 0 },
        { "GET", "/api/v1/devices/{id}/network-protection", HTTP_AUTH_ADMIN, ROLES_ANY, handle_device_netprotect, 0 },
        { "GET", "/agent/v1/config", HTTP_AUTH_DEVICE, 0, handle_agent_config, 0 },
        { "POST", "/agent/v1/config/status", HTTP_AUTH_DEVICE, 0, handle_agent_status, 0 },
        { "POST", "/agent/v1/config/netprotect-report", HTTP_AUTH_DEVICE, 0, handle_agent_netprotect, REPORT_MAX },
        { NULL, NULL, 0, 0, NULL, 0 },
};
