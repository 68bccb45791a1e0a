/* access store: conditional access policies and named locations as admins
 * store them (/api/v1/access/policies, /locations, /apply, /audit), and
 * what the snapshot reads of them (access_store_read()).
 *
 * A document is checked on its way in: a location with
 * access_location_parse(), a policy with access_policy_parse() against the
 * stored locations and every user or group it names against the
 * directory; a change of the locations checks every stored policy again.
 * Each change runs in one transaction under the database lock, so a
 * refusal changes nothing, and each is audited (who, when, the document
 * before and after). Documents are stored in their canonical text
 * (compact, keys sorted), which is what "unchanged" compares.
 *
 * Policies are evaluated in the order of their position, 1 to N, dense: a
 * new policy goes last unless ?position= puts it elsewhere, and PUT with
 * ?position= moves one; the others shift to make room.
 *
 * Owns the tables access_locations, access_policies and access_audit, on
 * the migration track "access". docs/ACCESS.md ("Managing policies and
 * locations") and docs/API.md have the reference. */
#include "server/access/access-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "server/access/policy.h"
#include "server/access/store.h"
#include "server/db/db.h"
#include "server/log.h"
#include "server/manage/manage.h"
#include "server/vigild.h"
#include "util/strutil.h"

#define LIST_LIMIT_DEFAULT 100
#define AUDIT_LIMIT_MAX 1000
#define DOC_BODY_MAX (4 * ACCESS_DOC_MAX) /* one document as sent, blanks and all */
#define ERR_MAX 512
#define UUID_LEN 36

static const struct db_migration store_migrations[] = {
        { 1,
          "CREATE TABLE access_locations ("
          "  id TEXT PRIMARY KEY,"
          "  doc TEXT NOT NULL,"
          "  created_at INTEGER NOT NULL,"
          "  updated_at INTEGER NOT NULL,"
          "  updated_by TEXT NOT NULL,"
          "  updated_by_name TEXT NOT NULL);"
          "CREATE TABLE access_policies ("
          "  id TEXT PRIMARY KEY,"
          "  name TEXT NOT NULL UNIQUE,"
          "  state TEXT NOT NULL,"
          "  doc TEXT NOT NULL,"
          "  position INTEGER NOT NULL,"
          "  created_at INTEGER NOT NULL,"
          "  updated_at INTEGER NOT NULL,"
          "  updated_by TEXT NOT NULL,"
          "  updated_by_name TEXT NOT NULL);"
          "CREATE INDEX access_policies_position ON access_policies(position);"
          "CREATE TABLE access_audit ("
          "  seq INTEGER PRIMARY KEY,"
          "  at INTEGER NOT NULL,"
          "  kind TEXT NOT NULL,"
          "  object_id TEXT NOT NULL,"
          "  action TEXT NOT NULL,"
          "  by TEXT NOT NULL,"
          "  by_name TEXT NOT NULL,"
          "  before TEXT,"
          "  after TEXT,"
          "  position_before INTEGER,"
          "  position_after INTEGER);"
          "CREATE INDEX access_audit_object ON access_audit(object_id, seq);" },
};

int access_migrate(struct vigild *d)
{
        int r;

        r = db_migrate_locked(d->db, "access", store_migrations, sizeof(store_migrations) / sizeof(store_migrations[0]));
        return r;
}

/* After a committed change: the decision endpoint's snapshot is rebuilt,
 * and the API answers once it is live (or after 5 s, logged), so that the
 * next request a proxy asks about meets the change. */
static void put_in_effect(struct vigild *d)
{
        access_changed(d);
        if (!access_settle(d, 5000))
                log_warn("access: a change is stored but the decision endpoint did not take it within 5 s");
}

/* ---- refusals ---- */

/* A change refused for the client's sake: what it is told. */
struct refusal {
        unsigned status;
        const char *code;
        char msg[2 * ERR_MAX];
};

#define REFUSED (-ECANCELED)

static int refuse(struct refusal *f, unsigned status, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int refuse(struct refusal *f, unsigned status, const char *code, const char *fmt, ...)
{
        va_list ap;

        f->status = status;
        f->code = code;
        va_start(ap, fmt);
        vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
        va_end(ap);
        return REFUSED;
}

/* Answers a change that ended with r < 0. */
static void reply_failed(struct http_reply *rep, int r, const struct refusal *f, const char *what)
{
        if (r == REFUSED)
                http_reply_error_at(rep, f->status, f->code, "%s", f->msg);
        else
                http_reply_failed(rep, r, what);
}

/* ---- locations in memory ---- */

/* The named locations a change sees: the stored ones as the change leaves
 * them. Room for ACCESS_LOCATIONS_MAX. */
struct locs {
        struct access_location *v;
        size_t n;
};

static void locs_release(struct locs *l)
{
        free(l->v);
        l->v = NULL;
        l->n = 0;
}

/* Reads every stored location. Lock held. Returns 0, -ENOMEM, -EIO for a
 * stored document that no longer parses, or a database error. */
static int locs_load(struct vigild *d, struct locs *l)
{
        struct db_stmt *st;
        char err[ERR_MAX];
        int r;

        l->n = 0;
        l->v = calloc(ACCESS_LOCATIONS_MAX, sizeof(*l->v));
        if (!l->v)
                return -ENOMEM;
        r = db_prepare(d->db, "SELECT id, doc FROM access_locations ORDER BY id", &st);
        if (r < 0)
                return r;
        while ((r = db_step(st)) == 1) {
                size_t len;
                const char *doc = db_column_text(st, 1, &len);

                if (l->n >= ACCESS_LOCATIONS_MAX || access_location_parse(doc, len, &l->v[l->n], err, sizeof(err)) < 0) {
                        log_error("access: stored location '%s' is refused now: %s", db_column_text(st, 0, NULL),
                                  l->n >= ACCESS_LOCATIONS_MAX ? "too many locations" : err);
                        r = -EIO;
                        break;
                }
                l->n++;
        }
        db_stmt_done(st);
        return r < 0 ? r : 0;
}

static struct access_location *locs_find(struct locs *l, const char *id)
{
        for (size_t i = 0; i < l->n; i++)
                if (strcmp(l->v[i].id, id) == 0)
                        return &l->v[i];
        return NULL;
}

/* Puts loc in the set, over the one of its id. Returns 0, or REFUSED
 * (409) when the set is full. */
static int locs_put(struct locs *l, const struct access_location *loc, struct refusal *f)
{
        struct access_location *old = locs_find(l, loc->id);

        if (old) {
                *old = *loc;
                return 0;
        }
        if (l->n >= ACCESS_LOCATIONS_MAX)
                return refuse(f, 409, "too_many_locations", "there are already %d named locations, the most allowed; "
                              "delete one first", ACCESS_LOCATIONS_MAX);
        l->v[l->n++] = *loc;
        return 0;
}

static void locs_remove(struct locs *l, const char *id)
{
        struct access_location *old = locs_find(l, id);

        if (!old)
                return;
        memmove(old, old + 1, (size_t)(l->v + l->n - old - 1) * sizeof(*old));
        l->n--;
}

/* ---- checks ---- */

/* A document's canonical text: what is checked, stored and compared. */
static char *doc_text(const json_t *doc, size_t *ret_len)
{
        char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);

        if (s)
                *ret_len = strlen(s);
        return s;
}

/* What a checked policy is called and its state. */
struct checked {
        char name[ACCESS_NAME_MAX + 1];
        const char *state;
};

/* Every users.include and users.exclude entry but "all" must name a user
 * or user group of the directory. Lock held. */
static int users_check(struct vigild *d, const json_t *doc, const char *prefix, struct refusal *f)
{
        static const char *const lists[] = { "include", "exclude" };
        const json_t *users = json_object_get(doc, "users"), *e;
        size_t i;
        int r;

        for (size_t k = 0; k < 2; k++) {
                json_array_foreach(json_object_get(users, lists[k]), i, e) {
                        const char *s = json_string_value(e);

                        if (!s || (k == 0 && strcmp(s, "all") == 0))
                                continue;
                        r = manage_directory_principal_exists(d, s);
                        if (r < 0)
                                return r;
                        if (r == 0)
                                return refuse(f, 400, "invalid_policy", "%susers.%s[%zu]: no user or user group "
                                              "\"%s\"", prefix, lists[k], i, s);
                }
        }
        return 0;
}

/* Checks a policy (doc, and its canonical text) against the locations l
 * and the directory; prefix starts the paths of errors. Lock held.
 * Returns 0 with *ret filled, REFUSED (400, 413) or an error. */
static int policy_check(struct vigild *d, const struct locs *l, const json_t *doc, const char *text, size_t len,
                        const char *prefix, struct checked *ret, struct refusal *f)
{
        struct access_policy *p = NULL;
        char err[ERR_MAX];
        int r;

        r = access_policy_parse(text, len, l->v, l->n, &p, err, sizeof(err));
        if (r == -ENOMEM)
                return r;
        if (r == -E2BIG)
                return refuse(f, 413, "policy_too_large", "%s%s", prefix, err);
        if (r < 0)
                return refuse(f, 400, "invalid_policy", "%s%s", prefix, err);
        snprintf(ret->name, sizeof(ret->name), "%s", access_policy_name(p));
        ret->state = access_state_name(access_policy_state(p));
        access_policy_free(p);
        return users_check(d, doc, prefix, f);
}

/* Checks every stored policy against the locations l after what changed
 * them (what: "deleting location \"x\""...). Lock held, in the change's
 * transaction. Returns 0, REFUSED (409, naming the first policy that
 * would break) or an error. */
static int policies_recheck(struct vigild *d, const struct locs *l, const char *what, struct refusal *f)
{
        char err[ERR_MAX], name[ACCESS_NAME_MAX + 1] = "";
        struct access_policy *p;
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, "SELECT name, doc FROM access_policies ORDER BY position", &st);
        if (r < 0)
                return r;
        while ((r = db_step(st)) == 1) {
                size_t len;
                const char *doc = db_column_text(st, 1, &len);

                p = NULL;
                r = access_policy_parse(doc, len, l->v, l->n, &p, err, sizeof(err));
                access_policy_free(p);
                if (r < 0) {
                        snprintf(name, sizeof(name), "%s", db_column_text(st, 0, NULL));
                        break;
                }
        }
        db_stmt_done(st);
        if (!name[0] || r == -ENOMEM)
                return r;
        return refuse(f, 409, "location_in_use", "%s would break policy \"%s\": %s", what, name, err);
}

/* ---- audit ---- */

struct audit {
        const char *kind;               /* "policy", "location" */
        const char *object_id;
        const char *action;             /* "create", "update", "move", "delete" */
        const char *before, *after;     /* canonical documents, NULL for none */
        int64_t position_before, position_after; /* policies; 0 for none */
};

static struct db_param int_or_null(int64_t v)
{
        return v > 0 ? db_param_int64(v) : db_param_null();
}

static int audit_add(struct vigild *d, const struct audit *a, const struct http_principal *who, int64_t now)
{
        return db_exec_params(d->db, "INSERT INTO access_audit (at, kind, object_id, action, by, by_name, before, "
                                     "after, position_before, position_after) "
                                     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                              DB_PARAMS(db_param_int64(now), db_param_text(a->kind, strlen(a->kind)),
                                        db_param_text(a->object_id, strlen(a->object_id)),
                                        db_param_text(a->action, strlen(a->action)),
                                        db_param_text(who->token_id, strlen(who->token_id)),
                                        db_param_text(who->token_name, strlen(who->token_name)),
                                        db_param_text(a->before, a->before ? strlen(a->before) : 0),
                                        db_param_text(a->after, a->after ? strlen(a->after) : 0),
                                        int_or_null(a->position_before), int_or_null(a->position_after)));
}

/* ---- stored policies ---- */

enum result { RESULT_CREATED = 0, RESULT_UPDATED = 1, RESULT_UNCHANGED = 2 };
static const char *const result_names[] = { "created", "updated", "unchanged" };

#define POLICY_COLUMNS "id, name, state, doc, position, created_at, updated_at, updated_by, updated_by_name"

/* A stored policy as a change sees it. */
struct policy_row {
        char id[UUID_LEN + 1];
        char *doc;                      /* owned */
        int64_t position;
};

static json_t *doc_json(struct db_stmt *st, int col)
{
        json_t *j = json_loads(db_column_text(st, col, NULL), 0, NULL);

        return j ? j : json_object();
}

static json_t *policy_row_json(struct db_stmt *st)
{
        return json_pack("{s:s,s:s,s:s,s:I,s:o,s:o,s:o,s:s,s:s}", "id", db_column_text(st, 0, NULL),
                         "name", db_column_text(st, 1, NULL), "state", db_column_text(st, 2, NULL),
                         "position", (json_int_t)db_column_int64(st, 4), "policy", doc_json(st, 3),
                         "created_at", http_time_or_null(db_column_int64(st, 5)),
                         "updated_at", http_time_or_null(db_column_int64(st, 6)),
                         "updated_by", db_column_text(st, 7, NULL), "updated_by_name", db_column_text(st, 8, NULL));
}

/* Finds a policy by id (by_name false) or name: its row into *ret (may be
 * NULL; free ret->doc) and its JSON into *ret_json (may be NULL). Lock
 * held. Returns 0, -ENOENT or a database error. */
static int policy_find(struct vigild *d, bool by_name, const char *key, struct policy_row *ret, json_t **ret_json)
{
        static const char *const sql[2] = { "SELECT " POLICY_COLUMNS " FROM access_policies WHERE id = $1",
                                            "SELECT " POLICY_COLUMNS " FROM access_policies WHERE name = $1" };
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, sql[by_name], &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, key, strlen(key));
        r = db_step(st);
        if (r == 1 && ret) {
                snprintf(ret->id, sizeof(ret->id), "%s", db_column_text(st, 0, NULL));
                ret->position = db_column_int64(st, 4);
                ret->doc = strdup(db_column_text(st, 3, NULL));
                if (!ret->doc)
                        r = -ENOMEM;
        }
        if (r == 1 && ret_json)
                *ret_json = policy_row_json(st);
        db_stmt_done(st);
        return r == 1 ? 0 : r == 0 ? -ENOENT : r;
}

static int count_of(struct vigild *d, const char *sql, int64_t *ret)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, sql, &st);
        if (r < 0)
                return r;
        r = db_step(st);
        if (r == 1)
                *ret = db_column_int64(st, 0);
        db_stmt_done(st);
        return r == 1 ? 0 : r < 0 ? r : -EIO;
}

/* Makes room at position to (moving others down by one) or closes the gap
 * at from: shifts the positions in [lo, hi] by delta. Lock held. */
static int positions_shift(struct vigild *d, int64_t lo, int64_t hi, int64_t delta)
{
        if (lo > hi)
                return 0;
        return db_exec_params(d->db, "UPDATE access_policies SET position = position + $3 "
                                     "WHERE position >= $1 AND position <= $2",
                              DB_PARAMS(db_param_int64(lo), db_param_int64(hi), db_param_int64(delta)));
}

static int policy_insert(struct vigild *d, const struct checked *c, const char *text, uint64_t pos,
                         const struct http_principal *who, char ret_id[static UUID_LEN + 1], struct refusal *f)
{
        int64_t n = 0, now = util_now(), at;
        int r;

        r = count_of(d, "SELECT count(*) FROM access_policies", &n);
        if (r < 0)
                return r;
        if (n >= ACCESS_POLICIES_MAX)
                return refuse(f, 409, "too_many_policies", "there are already %d access policies, the most allowed; "
                              "delete one first", ACCESS_POLICIES_MAX);
        if (crypto_uuid4(ret_id) < 0)
                return -EIO;
        at = pos == 0 || (int64_t)pos > n ? n + 1 : (int64_t)pos;
        r = positions_shift(d, at, n, 1);
        if (r == 0)
                r = db_exec_params(d->db, "INSERT INTO access_policies (id, name, state, doc, position, created_at, "
                                          "updated_at, updated_by, updated_by_name) "
                                          "VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8)",
                                   DB_PARAMS(db_param_text(ret_id, strlen(ret_id)),
                                             db_param_text(c->name, strlen(c->name)),
                                             db_param_text(c->state, strlen(c->state)),
                                             db_param_text(text, strlen(text)), db_param_int64(at), db_param_int64(now),
                                             db_param_text(who->token_id, strlen(who->token_id)),
                                             db_param_text(who->token_name, strlen(who->token_name))));
        if (r == 0)
                r = audit_add(d, &(struct audit){ .kind = "policy", .object_id = ret_id, .action = "create",
                                                  .after = text, .position_after = at }, who, now);
        return r;
}

static int policy_update(struct vigild *d, const struct policy_row *old, const struct checked *c, const char *text,
                         uint64_t pos, const struct http_principal *who, enum result *ret)
{
        int64_t n = 0, now = util_now(), at;
        bool same_doc = strcmp(old->doc, text) == 0;
        int r;

        r = count_of(d, "SELECT count(*) FROM access_policies", &n);
        if (r < 0)
                return r;
        at = pos == 0 ? old->position : (int64_t)pos > n ? n : (int64_t)pos;
        if (same_doc && at == old->position) {
                *ret = RESULT_UNCHANGED;
                return 0;
        }
        if (at < old->position)
                r = positions_shift(d, at, old->position - 1, 1);
        else
                r = positions_shift(d, old->position + 1, at, -1);
        if (r == 0)
                r = db_exec_params(d->db, "UPDATE access_policies SET name = $2, state = $3, doc = $4, position = $5, "
                                          "updated_at = $6, updated_by = $7, updated_by_name = $8 WHERE id = $1",
                                   DB_PARAMS(db_param_text(old->id, strlen(old->id)),
                                             db_param_text(c->name, strlen(c->name)),
                                             db_param_text(c->state, strlen(c->state)),
                                             db_param_text(text, strlen(text)), db_param_int64(at), db_param_int64(now),
                                             db_param_text(who->token_id, strlen(who->token_id)),
                                             db_param_text(who->token_name, strlen(who->token_name))));
        if (r == 0)
                r = audit_add(d, &(struct audit){ .kind = "policy", .object_id = old->id,
                                                  .action = same_doc ? "move" : "update", .before = old->doc,
                                                  .after = text, .position_before = old->position,
                                                  .position_after = at }, who, now);
        if (r == 0)
                *ret = RESULT_UPDATED;
        return r;
}

/* Stores a checked policy: new (old NULL) at position pos, or over old and
 * moved to pos; pos 0 means last for a new policy and where it is for
 * another, and a position past the end means last. Its name must not be
 * another policy's. Audits the change. Lock held, in a transaction.
 * Returns 0 with the result and the policy's id in ret_id, REFUSED (409)
 * or an error. */
static int policy_store(struct vigild *d, const struct policy_row *old, const struct checked *c, const char *text,
                        uint64_t pos, const struct http_principal *who, char ret_id[static UUID_LEN + 1],
                        enum result *ret, struct refusal *f)
{
        struct policy_row named = { 0 };
        int r;

        r = policy_find(d, true, c->name, &named, NULL);
        free(named.doc);
        if (r == 0 && (!old || strcmp(named.id, old->id) != 0))
                return refuse(f, 409, "policy_exists", "an access policy named \"%s\" exists already (%s)", c->name,
                              named.id);
        if (r < 0 && r != -ENOENT)
                return r;
        if (!old) {
                r = policy_insert(d, c, text, pos, who, ret_id, f);
                if (r == 0)
                        *ret = RESULT_CREATED;
                return r;
        }
        memcpy(ret_id, old->id, UUID_LEN + 1);
        return policy_update(d, old, c, text, pos, who, ret);
}

/* ---- stored locations ---- */

#define LOCATION_COLUMNS "id, doc, created_at, updated_at, updated_by, updated_by_name"

static json_t *location_row_json(struct db_stmt *st)
{
        return json_pack("{s:s,s:o,s:o,s:o,s:s,s:s}", "id", db_column_text(st, 0, NULL), "location", doc_json(st, 1),
                         "created_at", http_time_or_null(db_column_int64(st, 2)),
                         "updated_at", http_time_or_null(db_column_int64(st, 3)),
                         "updated_by", db_column_text(st, 4, NULL), "updated_by_name", db_column_text(st, 5, NULL));
}

/* A stored location's document (*ret_doc, may be NULL: free it) and JSON
 * (*ret_json, may be NULL). Lock held. Returns 0, -ENOENT or an error. */
static int location_find(struct vigild *d, const char *id, char **ret_doc, json_t **ret_json)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, "SELECT " LOCATION_COLUMNS " FROM access_locations WHERE id = $1", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, id, strlen(id));
        r = db_step(st);
        if (r == 1 && ret_doc && !(*ret_doc = strdup(db_column_text(st, 1, NULL))))
                r = -ENOMEM;
        if (r == 1 && ret_json)
                *ret_json = location_row_json(st);
        db_stmt_done(st);
        return r == 1 ? 0 : r == 0 ? -ENOENT : r;
}

/* Stores a location (its id and canonical text), new or over the one of
 * its id, and audits the change. Lock held, in a transaction. Returns 0
 * with the result, or an error. */
static int location_store(struct vigild *d, const char *id, const char *text, const struct http_principal *who,
                          enum result *ret)
{
        static const char *const sql[2] = {
                "INSERT INTO access_locations (id, doc, created_at, updated_at, updated_by, updated_by_name) "
                "VALUES ($1, $2, $3, $3, $4, $5)",
                "UPDATE access_locations SET doc = $2, updated_at = $3, updated_by = $4, updated_by_name = $5 "
                "WHERE id = $1",
        };
        int64_t now = util_now();
        char *old = NULL;
        int r;

        r = location_find(d, id, &old, NULL);
        if (r < 0 && r != -ENOENT)
                return r;
        if (old && strcmp(old, text) == 0) {
                free(old);
                *ret = RESULT_UNCHANGED;
                return 0;
        }
        r = db_exec_params(d->db, sql[old != NULL],
                           DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(text, strlen(text)),
                                     db_param_int64(now), db_param_text(who->token_id, strlen(who->token_id)),
                                     db_param_text(who->token_name, strlen(who->token_name))));
        if (r == 0)
                r = audit_add(d, &(struct audit){ .kind = "location", .object_id = id,
                                                  .action = old ? "update" : "create", .before = old, .after = text },
                              who, now);
        if (r == 0)
                *ret = old ? RESULT_UPDATED : RESULT_CREATED;
        free(old);
        return r;
}

/* ---- what the snapshot reads ---- */

static int stored_read(struct vigild *d, const char *sql, struct access_stored **ret, size_t *ret_n)
{
        struct access_stored *v = NULL, *nv;
        size_t n = 0, cap = 0;
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, sql, &st);
        if (r < 0)
                return r;
        while ((r = db_step(st)) == 1) {
                size_t len;
                const char *doc = db_column_text(st, 1, &len);

                if (n == cap) {
                        cap = cap ? 2 * cap : 16;
                        nv = realloc(v, cap * sizeof(*v));
                        if (!nv) {
                                r = -ENOMEM;
                                break;
                        }
                        v = nv;
                }
                snprintf(v[n].id, sizeof(v[n].id), "%s", db_column_text(st, 0, NULL));
                v[n].doc = util_strndup(doc, len);
                v[n].doc_len = len;
                if (!v[n++].doc) {
                        r = -ENOMEM;
                        break;
                }
        }
        db_stmt_done(st);
        if (r < 0) {
                access_stored_free(v, n);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int access_store_read(struct vigild *d, struct access_stored **ret_locations, size_t *ret_n_locations,
                      struct access_stored **ret_policies, size_t *ret_n_policies)
{
        struct access_stored *locs = NULL, *pols = NULL;
        size_t nl = 0, np = 0;
        int r;

        db_lock(d->db);
        r = stored_read(d, "SELECT id, doc FROM access_locations ORDER BY id", &locs, &nl);
        if (r == 0)
                r = stored_read(d, "SELECT id, doc FROM access_policies ORDER BY position, created_at, id", &pols, &np);
        db_unlock(d->db);
        if (r < 0) {
                access_stored_free(locs, nl);
                return r;
        }
        *ret_locations = locs;
        *ret_n_locations = nl;
        *ret_policies = pols;
        *ret_n_policies = np;
        return 0;
}

void access_stored_free(struct access_stored *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                free(v[i].doc);
        free(v);
}

/* Answers a policy or location that a POST or PUT stored: out (taken)
 * with its result, 201 when it was created; a change is put in effect
 * before the answer. */
static void reply_stored(struct vigild *d, struct http_reply *rep, enum result res, json_t *out)
{
        if (res != RESULT_UNCHANGED)
                put_in_effect(d);
        json_object_set_new(out, "result", json_string(result_names[res]));
        http_reply_json(rep, res == RESULT_CREATED ? 201 : 200, out);
}

/* ---- handlers: lists ---- */

/* Answers a page of sql's rows (LIMIT $1 OFFSET $2) through row_json, with
 * the total from count_sql. */
static void list_reply(struct vigild *d, const struct http_request *req, struct http_reply *rep, uint64_t max,
                       const char *count_sql, const char *sql, json_t *(*row_json)(struct db_stmt *), const char *what)
{
        uint64_t limit, offset;
        struct db_stmt *st;
        int64_t total = 0;
        json_t *arr;
        int r;

        if (http_request_paging(req, LIST_LIMIT_DEFAULT, max, &limit, &offset, rep) < 0)
                return;
        arr = json_array();
        db_lock(d->db);
        r = count_of(d, count_sql, &total);
        if (r == 0)
                r = db_prepare(d->db, sql, &st);
        if (r == 0) {
                db_bind_int64(st, 1, (int64_t)limit);
                db_bind_int64(st, 2, (int64_t)offset);
                while ((r = db_step(st)) == 1)
                        json_array_append_new(arr, row_json(st));
                db_stmt_done(st);
        }
        db_unlock(d->db);
        if (r < 0)
                http_reply_list_failed(rep, arr, what);
        else
                http_reply_page(rep, arr, total, offset);
}

/* GET /api/v1/access/policies?limit=&offset=, in evaluation order */
static void handle_policy_list(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        list_reply(d, req, rep, ACCESS_POLICIES_MAX, "SELECT count(*) FROM access_policies",
                   "SELECT " POLICY_COLUMNS " FROM access_policies ORDER BY position, created_at, id "
                   "LIMIT $1 OFFSET $2", policy_row_json, "list the access policies");
}

/* GET /api/v1/access/locations?limit=&offset=, by id */
static void handle_location_list(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        list_reply(d, req, rep, ACCESS_LOCATIONS_MAX, "SELECT count(*) FROM access_locations",
                   "SELECT " LOCATION_COLUMNS " FROM access_locations ORDER BY id LIMIT $1 OFFSET $2",
                   location_row_json, "list the named locations");
}

static void handle_policy_show(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        json_t *out = NULL;
        int r;

        db_lock(d->db);
        r = policy_find(d, false, req->params[0], NULL, &out);
        db_unlock(d->db);
        if (r == -ENOENT)
                http_reply_error(rep, 404, "policy_not_found", "no access policy with id '%s'", req->params[0]);
        else if (r < 0)
                http_reply_error(rep, 500, "database_error", "cannot read the access policy");
        else
                http_reply_json(rep, 200, out);
}

static void handle_location_show(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        json_t *out = NULL;
        int r;

        db_lock(d->db);
        r = location_find(d, req->params[0], NULL, &out);
        db_unlock(d->db);
        if (r == -ENOENT)
                http_reply_error(rep, 404, "location_not_found", "no named location '%s'", req->params[0]);
        else if (r < 0)
                http_reply_error(rep, 500, "database_error", "cannot read the named location");
        else
                http_reply_json(rep, 200, out);
}

/* ---- handlers: policies ---- */

/* ?position=N into *ret (0 when absent). Returns 0, or -EINVAL with a 400 in rep. */
static int position_query(const struct http_request *req, uint64_t *ret, struct http_reply *rep)
{
        const char *v = http_request_query(req, "position");

        *ret = 0;
        if (v && (util_uint_parse(v, ACCESS_POLICIES_MAX, ret) < 0 || *ret == 0)) {
                http_reply_error(rep, 400, "invalid_query", "'position' must be from 1 to %d", ACCESS_POLICIES_MAX);
                return -EINVAL;
        }
        return 0;
}

/* The transaction of a POST (id NULL) or PUT of a policy. Lock held. */
static int policy_put(struct vigild *d, const char *id, const json_t *body, const char *text, size_t len,
                      uint64_t pos, const struct http_principal *who, char ret_id[static UUID_LEN + 1],
                      enum result *ret, struct refusal *f)
{
        struct policy_row old = { 0 };
        struct locs l = { 0 };
        struct checked c;
        int r;

        r = db_begin(d->db);
        if (r < 0)
                return r;
        if (id) {
                r = policy_find(d, false, id, &old, NULL);
                if (r == -ENOENT)
                        r = refuse(f, 404, "policy_not_found", "no access policy with id '%s'", id);
        }
        if (r == 0)
                r = locs_load(d, &l);
        if (r == 0)
                r = policy_check(d, &l, body, text, len, "", &c, f);
        if (r == 0)
                r = policy_store(d, id ? &old : NULL, &c, text, pos, who, ret_id, ret, f);
        locs_release(&l);
        free(old.doc);
        return db_finish(d->db, r);
}

/* POST /api/v1/access/policies[?position=N] and PUT .../{id}[?position=N]:
 * the body is the policy document. */
static void policy_write(struct vigild *d, const struct http_request *req, struct http_reply *rep, const char *id)
{
        struct refusal f = { 0 };
        enum result res = RESULT_UNCHANGED;
        char pid[UUID_LEN + 1] = "";
        json_t *body, *out = NULL;
        uint64_t pos;
        char *text;
        size_t len = 0;
        int r;

        if (position_query(req, &pos, rep) < 0)
                return;
        body = http_request_json(req, rep);
        if (!body)
                return;
        text = doc_text(body, &len);
        db_lock(d->db);
        r = text ? policy_put(d, id, body, text, len, pos, req->who, pid, &res, &f) : -ENOMEM;
        if (r == 0)
                r = policy_find(d, false, pid, NULL, &out);
        db_unlock(d->db);
        if (r < 0) {
                reply_failed(rep, r, &f, "store the access policy");
        } else {
                if (res != RESULT_UNCHANGED)
                        log_info("access: policy %s \"%s\" %s by token %s", pid,
                                 json_string_value(json_object_get(out, "name")), result_names[res],
                                 req->who->token_id);
                reply_stored(d, rep, res, out);
        }
        free(text);
        json_decref(body);
}

static void handle_policy_create(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        policy_write(d, req, rep, NULL);
}

static void handle_policy_replace(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        policy_write(d, req, rep, req->params[0]);
}

static int policy_delete(struct vigild *d, const char *id, const struct http_principal *who, json_t **ret,
                         struct refusal *f)
{
        struct policy_row old = { 0 };
        int64_t n = 0;
        int r;

        r = db_begin(d->db);
        if (r < 0)
                return r;
        r = policy_find(d, false, id, &old, ret);
        if (r == -ENOENT)
                r = refuse(f, 404, "policy_not_found", "no access policy with id '%s'", id);
        if (r == 0)
                r = db_exec_params(d->db, "DELETE FROM access_policies WHERE id = $1",
                                   DB_PARAMS(db_param_text(id, strlen(id))));
        if (r == 0)
                r = count_of(d, "SELECT count(*) FROM access_policies", &n);
        if (r == 0)
                r = positions_shift(d, old.position + 1, n + 1, -1);
        if (r == 0)
                r = audit_add(d, &(struct audit){ .kind = "policy", .object_id = id, .action = "delete",
                                                  .before = old.doc, .position_before = old.position },
                              who, util_now());
        free(old.doc);
        return db_finish(d->db, r);
}

static void handle_policy_delete(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0];
        struct refusal f = { 0 };
        json_t *old = NULL;
        int r;

        db_lock(d->db);
        r = policy_delete(d, id, req->who, &old, &f);
        db_unlock(d->db);
        if (r < 0) {
                json_decref(old);
                reply_failed(rep, r, &f, "delete the access policy");
                return;
        }
        log_info("access: policy %s \"%s\" deleted by token %s", id, json_string_value(json_object_get(old, "name")),
                 req->who->token_id);
        put_in_effect(d);
        http_reply_json(rep, 200, json_pack("{s:s,s:O,s:b}", "id", id, "name", json_object_get(old, "name"),
                                            "deleted", 1));
        json_decref(old);
}

/* ---- handlers: locations ---- */

/* Reads a location body into its canonical text and *ret. Returns 0,
 * REFUSED or -ENOMEM. */
static int location_read(const json_t *body, char **ret_text, struct access_location *ret, struct refusal *f)
{
        char err[ERR_MAX];
        size_t len = 0;
        int r;

        *ret_text = doc_text(body, &len);
        if (!*ret_text)
                return -ENOMEM;
        r = access_location_parse(*ret_text, len, ret, err, sizeof(err));
        if (r == -ENOMEM)
                return r;
        if (r == -E2BIG)
                return refuse(f, 413, "location_too_large", "%s", err);
        if (r < 0)
                return refuse(f, 400, "invalid_location", "%s", err);
        if (!access_location_id_ok(ret->id))
                return refuse(f, 400, "invalid_location", "id: must be 1 to %d letters, digits, '-', '_' or '.': it "
                              "names the location in URLs", ACCESS_LOCATION_ID_MAX);
        return 0;
}

/* The transaction of a POST (id NULL) or PUT of a location. Lock held. */
static int location_put(struct vigild *d, const char *id, const struct access_location *loc, const char *text,
                        const struct http_principal *who, enum result *ret, struct refusal *f)
{
        char what[ACCESS_LOCATION_ID_MAX + 32];
        struct locs l = { 0 };
        int r;

        r = db_begin(d->db);
        if (r < 0)
                return r;
        r = locs_load(d, &l);
        if (r == 0 && id && !locs_find(&l, id))
                r = refuse(f, 404, "location_not_found", "no named location '%s'", id);
        if (r == 0 && !id && locs_find(&l, loc->id))
                r = refuse(f, 409, "location_exists", "a named location \"%s\" exists already", loc->id);
        if (r == 0)
                r = locs_put(&l, loc, f);
        if (r == 0)
                r = location_store(d, loc->id, text, who, ret);
        snprintf(what, sizeof(what), "changing location \"%s\"", loc->id);
        if (r == 0 && *ret != RESULT_UNCHANGED)
                r = policies_recheck(d, &l, what, f);
        locs_release(&l);
        return db_finish(d->db, r);
}

/* POST /api/v1/access/locations and PUT .../{id}: the body is the location
 * document; a PUT's document keeps the id of its path. */
static void location_write(struct vigild *d, const struct http_request *req, struct http_reply *rep, const char *id)
{
        struct access_location *loc = malloc(sizeof(*loc));
        enum result res = RESULT_UNCHANGED;
        struct refusal f = { 0 };
        json_t *body, *out = NULL;
        char *text = NULL;
        int r;

        body = http_request_json(req, rep);
        if (!body) {
                free(loc);
                return;
        }
        r = loc ? location_read(body, &text, loc, &f) : -ENOMEM;
        if (r == 0 && id && strcmp(loc->id, id) != 0)
                r = refuse(&f, 400, "invalid_location", "id: must be \"%s\", the id in the path (to rename a location, "
                           "create the new one, change the policies that name it, then delete the old one)", id);
        if (r == 0) {
                db_lock(d->db);
                r = location_put(d, id, loc, text, req->who, &res, &f);
                if (r == 0)
                        r = location_find(d, loc->id, NULL, &out);
                db_unlock(d->db);
        }
        if (r < 0) {
                reply_failed(rep, r, &f, "store the named location");
        } else {
                if (res != RESULT_UNCHANGED)
                        log_info("access: location \"%s\" %s by token %s", loc->id, result_names[res],
                                 req->who->token_id);
                reply_stored(d, rep, res, out);
        }
        free(text);
        free(loc);
        json_decref(body);
}

static void handle_location_create(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        location_write(d, req, rep, NULL);
}

static void handle_location_replace(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        location_write(d, req, rep, req->params[0]);
}

static int location_delete(struct vigild *d, const char *id, const struct http_principal *who, struct refusal *f)
{
        char what[ACCESS_LOCATION_ID_MAX + 32], *old = NULL;
        struct locs l = { 0 };
        int r;

        r = db_begin(d->db);
        if (r < 0)
                return r;
        r = location_find(d, id, &old, NULL);
        if (r == -ENOENT)
                r = refuse(f, 404, "location_not_found", "no named location '%s'", id);
        if (r == 0)
                r = locs_load(d, &l);
        if (r == 0) {
                locs_remove(&l, id);
                snprintf(what, sizeof(what), "deleting location \"%s\"", id);
                r = policies_recheck(d, &l, what, f);
        }
        if (r == 0)
                r = db_exec_params(d->db, "DELETE FROM access_locations WHERE id = $1",
                                   DB_PARAMS(db_param_text(id, strlen(id))));
        if (r == 0)
                r = audit_add(d, &(struct audit){ .kind = "location", .object_id = id, .action = "delete",
                                                  .before = old }, who, util_now());
        locs_release(&l);
        free(old);
        return db_finish(d->db, r);
}

static void handle_location_delete(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0];
        struct refusal f = { 0 };
        int r;

        db_lock(d->db);
        r = location_delete(d, id, req->who, &f);
        db_unlock(d->db);
        if (r < 0) {
                reply_failed(rep, r, &f, "delete the named location");
                return;
        }
        log_info("access: location \"%s\" deleted by token %s", id, req->who->token_id);
        put_in_effect(d);
        http_reply_json(rep, 200, json_pack("{s:s,s:b}", "id", id, "deleted", 1));
}

/* ---- handlers: apply ---- */

/* What an apply did: the ids by result, and each document's outcome. */
struct apply_out {
        json_t *by_result[3];           /* created, updated, unchanged: arrays of ids */
        json_t *locations, *policies;   /* [{id, result}], [{id, name, result}] */
        bool changed;
};

static int apply_note(struct apply_out *o, json_t *list, const char *id, const char *name, enum result res)
{
        json_t *e = name ? json_pack("{s:s,s:s,s:s}", "id", id, "name", name, "result", result_names[res])
                         : json_pack("{s:s,s:s}", "id", id, "result", result_names[res]);

        if (!e || json_array_append_new(list, e) < 0 || json_array_append_new(o->by_result[res], json_string(id)) < 0)
                return -ENOMEM;
        o->changed = o->changed || res != RESULT_UNCHANGED;
        return 0;
}

static int apply_policies(struct vigild *d, const struct access_bundle *b, const struct checked *c,
                          const struct http_principal *who, struct apply_out *o, struct refusal *f)
{
        char id[UUID_LEN + 1];
        enum result res;
        int r = 0;

        for (size_t i = 0; r == 0 && i < b->n_policies; i++) {
                struct policy_row old = { 0 };

                r = policy_find(d, true, c[i].name, &old, NULL);
                if (r == 0 || r == -ENOENT)
                        r = policy_store(d, r == 0 ? &old : NULL, &c[i], b->policy_docs[i].text, 0, who, id, &res, f);
                if (r == 0)
                        r = apply_note(o, o->policies, id, c[i].name, res);
                free(old.doc);
        }
        return r;
}

/* The transaction of an apply. Lock held. */
static int apply_run(struct vigild *d, const struct access_bundle *b, const struct http_principal *who,
                     struct apply_out *o, struct refusal *f)
{
        struct checked *c = calloc(b->n_policies + 1, sizeof(*c));
        bool locations_changed = false;
        enum result res = RESULT_UNCHANGED;
        struct locs l = { 0 };
        char prefix[32] = "";
        int r;

        r = c ? db_begin(d->db) : -ENOMEM;
        if (r < 0) {
                free(c);
                return r;
        }
        r = locs_load(d, &l);
        for (size_t i = 0; r == 0 && i < b->n_locations; i++)
                r = locs_put(&l, &b->locations[i], f);
        for (size_t i = 0; r == 0 && i < b->n_policies; i++) {
                if (!b->single)
                        snprintf(prefix, sizeof(prefix), "policies[%zu].", i);
                r = policy_check(d, &l, b->policy_docs[i].json, b->policy_docs[i].text, b->policy_docs[i].len, prefix,
                                 &c[i], f);
        }
        for (size_t i = 0; r == 0 && i < b->n_locations; i++) {
                r = location_store(d, b->locations[i].id, b->location_docs[i].text, who, &res);
                if (r == 0)
                        r = apply_note(o, o->locations, b->locations[i].id, NULL, res);
                locations_changed = locations_changed || res != RESULT_UNCHANGED;
        }
        if (r == 0)
                r = apply_policies(d, b, c, who, o, f);
        if (r == 0 && locations_changed)
                r = policies_recheck(d, &l, "applying these locations", f);
        locs_release(&l);
        free(c);
        return db_finish(d->db, r);
}

static void apply_out_release(struct apply_out *o)
{
        for (size_t k = 0; k < 3; k++)
                json_decref(o->by_result[k]);
        json_decref(o->locations);
        json_decref(o->policies);
}

/* POST /api/v1/access/apply: a bundle {"locations": [...], "policies":
 * [...]} or one policy document; creates or replaces by location id and
 * policy name, all or nothing. */
static void handle_apply(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct apply_out o = { { json_array(), json_array(), json_array() }, json_array(), json_array(), false };
        struct access_bundle b = { 0 };
        struct refusal f = { 0 };
        char err[ERR_MAX];
        int r;

        if (req->body_len == 0) {
                http_reply_error(rep, 400, "invalid_json", "request body is empty; a bundle {\"locations\": [...], "
                                 "\"policies\": [...]} or one policy document is required");
                goto out;
        }
        r = access_bundle_parse(req->body, req->body_len, &b, err, sizeof(err));
        if (r < 0) {
                http_reply_error(rep, r == -E2BIG ? 413 : r == -ENOMEM ? 500 : 400,
                                 r == -E2BIG ? "bundle_too_large" : r == -ENOMEM ? "internal" : "invalid_bundle",
                                 "%s", err);
                goto out;
        }
        r = o.by_result[0] && o.by_result[1] && o.by_result[2] && o.locations && o.policies ? 0 : -ENOMEM;
        if (r == 0) {
                db_lock(d->db);
                r = apply_run(d, &b, req->who, &o, &f);
                db_unlock(d->db);
        }
        if (r < 0) {
                reply_failed(rep, r, &f, "apply the bundle");
                goto out;
        }
        if (o.changed) {
                log_info("access: token %s applied %zu locations and %zu policies: %zu created, %zu updated",
                         req->who->token_id, b.n_locations, b.n_policies, json_array_size(o.by_result[0]),
                         json_array_size(o.by_result[1]));
                put_in_effect(d);
        }
        http_reply_json(rep, 200, json_pack("{s:O,s:O,s:O,s:O,s:O}", "created", o.by_result[0], "updated",
                                            o.by_result[1], "unchanged", o.by_result[2], "locations", o.locations,
                                            "policies", o.policies));
out:
        apply_out_release(&o);
        access_bundle_release(&b);
}

/* ---- handlers: audit ---- */

static json_t *text_json(struct db_stmt *st, int col)
{
        json_t *j = db_column_is_null(st, col) ? NULL : json_loads(db_column_text(st, col, NULL), 0, NULL);

        return j ? j : json_null();
}

static json_t *int_json(struct db_stmt *st, int col)
{
        return db_column_is_null(st, col) ? json_null() : json_integer(db_column_int64(st, col));
}

static json_t *audit_row_json(struct db_stmt *st)
{
        return json_pack("{s:I,s:o,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o}", "seq", (json_int_t)db_column_int64(st, 0),
                         "at", http_time_or_null(db_column_int64(st, 1)), "kind", db_column_text(st, 2, NULL),
                         "object_id", db_column_text(st, 3, NULL), "action", db_column_text(st, 4, NULL),
                         "by", db_column_text(st, 5, NULL), "by_name", db_column_text(st, 6, NULL),
                         "before", text_json(st, 7), "after", text_json(st, 8),
                         "position_before", int_json(st, 9), "position_after", int_json(st, 10));
}

/* GET /api/v1/access/audit?kind=policy|location&object_id=&limit=&offset=, newest first */
static void handle_audit(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *kind = http_request_query(req, "kind"), *obj = http_request_query(req, "object_id");
        uint64_t limit, offset;
        struct db_stmt *st;
        int64_t total = 0;
        json_t *arr;
        int r;

        if (http_request_paging(req, LIST_LIMIT_DEFAULT, AUDIT_LIMIT_MAX, &limit, &offset, rep) < 0)
                return;
        if ((kind && strcmp(kind, "policy") != 0 && strcmp(kind, "location") != 0) ||
            (obj && (!*obj || strlen(obj) > ACCESS_LOCATION_ID_MAX))) {
                http_reply_error(rep, 400, "invalid_query", "'kind' must be policy or location, and 'object_id' an id "
                                 "of 1 to %d bytes", ACCESS_LOCATION_ID_MAX);
                return;
        }
        kind = kind ? kind : "";
        obj = obj ? obj : "";
        arr = json_array();
        db_lock(d->db);
        r = db_prepare(d->db, "SELECT count(*) FROM access_audit WHERE ($1 = '' OR kind = $1) AND "
                              "($2 = '' OR object_id = $2)", &st);
        if (r == 0) {
                db_bind_text(st, 1, kind, strlen(kind));
                db_bind_text(st, 2, obj, strlen(obj));
                r = db_step(st);
                total = db_column_int64(st, 0);
                db_stmt_done(st);
        }
        if (r >= 0)
                r = db_prepare(d->db, "SELECT seq, at, kind, object_id, action, by, by_name, before, after, "
                                      "position_before, position_after FROM access_audit "
                                      "WHERE ($1 = '' OR kind = $1) AND ($2 = '' OR object_id = $2) "
                                      "ORDER BY seq DESC LIMIT $3 OFFSET $4", &st);
        if (r == 0) {
                db_bind_text(st, 1, kind, strlen(kind));
                db_bind_text(st, 2, obj, strlen(obj));
                db_bind_int64(st, 3, (int64_t)limit);
                db_bind_int64(st, 4, (int64_t)offset);
                while ((r = db_step(st)) == 1)
                        json_array_append_new(arr, audit_row_json(st));
                db_stmt_done(st);
        }
        db_unlock(d->db);
        if (r < 0)
                http_reply_list_failed(rep, arr, "read the access audit");
        else
                http_reply_page(rep, arr, total, offset);
}

const struct http_route access_store_routes[] = {
        { "GET", "/api/v1/access/policies", HTTP_AUTH_ADMIN, ROLES_ANY, handle_policy_list, 0 },
        { "POST", "/api/v1/access/policies", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_policy_create, DOC_BODY_MAX },
        { "GET", "/api/v1/access/policies/{id}", HTTP_AUTH_ADMIN, ROLES_ANY, handle_policy_show, 0 },
        { "PUT", "/api/v1/access/policies/{id}", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_policy_replace, DOC_BODY_MAX },
        { "DELETE", "/api/v1/access/policies/{id}", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_policy_delete, 0 },
        { "GET", "/api/v1/access/locations", HTTP_AUTH_ADMIN, ROLES_ANY, handle_location_list, 0 },
        { "POST", "/api/v1/access/locations", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_location_create, DOC_BODY_MAX },
        { "GET", "/api/v1/access/locations/{id}", HTTP_AUTH_ADMIN, ROLES_ANY, handle_location_show, 0 },
        { "PUT", "/api/v1/access/locations/{id}", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_location_replace, DOC_BODY_MAX },
        { "DELETE", "/api/v1/access/locations/{id}", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_location_delete, 0 },
        { "POST", "/api/v1/access/apply", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_apply, ACCESS_APPLY_BODY_MAX },
        { "GET", "/api/v1/access/audit", HTTP_AUTH_ADMIN, ROLES_ANY, handle_audit, 0 },
        { NULL, NULL, 0, 0, NULL, 0 },
};
