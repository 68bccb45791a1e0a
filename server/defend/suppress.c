/* defend suppress: suppression rules. A rule names conditions (the alert's
 * rule id, the device's id or hostname, the process image and command line:
 * every condition given must match) under which a new alert from an agent
 * is stored already resolved, so that it never raises the device's risk
 * while it stays on record. A rule may also resolve the unresolved alerts it
 * matches when it is made. Every change of a rule is audited: who, when, and
 * the rule before and after.
 *
 * The enabled rules are compiled once into memory (struct
 * defend_suppressions) and rebuilt inside the transaction of each change,
 * so the upload matches without SQL. The set is guarded by the database
 * lock: read and replaced only with db_lock() held.
 *
 * Owns the tables defend_suppressions and defend_suppression_audit, on the
 * migration track "defend_suppress". */
#include "server/defend/defend-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "server/db/db.h"
#include "server/enroll/enroll.h"
#include "server/log.h"
#include "server/manage/manage.h"
#include "server/vigild.h"
#include "util/strutil.h"

#define APPLY_MAX 10000
#define AUDIT_LIMIT_DEFAULT 100
#define AUDIT_LIMIT_MAX 1000
#define DEVICE_ID_MAX 64
#define BY_MAX (sizeof("suppression:") + 36)

static const struct db_migration suppress_migrations[] = {
        { 1,
          "CREATE TABLE defend_suppressions ("
          "  id TEXT PRIMARY KEY,"
          "  name TEXT NOT NULL,"
          "  comment TEXT NOT NULL,"
          "  enabled INTEGER NOT NULL,"
          "  conditions TEXT NOT NULL,"
          "  expires_at INTEGER,"
          "  created_at INTEGER NOT NULL,"
          "  created_by TEXT NOT NULL,"
          "  created_by_name TEXT NOT NULL,"
          "  updated_at INTEGER NOT NULL,"
          "  updated_by TEXT NOT NULL,"
          "  updated_by_name TEXT NOT NULL,"
          "  hits INTEGER NOT NULL DEFAULT 0,"
          "  last_hit_at INTEGER);"
          "CREATE TABLE defend_suppression_audit ("
          "  seq INTEGER PRIMARY KEY,"
          "  suppression_id TEXT NOT NULL,"
          "  at INTEGER NOT NULL,"
          "  action TEXT NOT NULL,"
          "  by TEXT NOT NULL,"
          "  by_name TEXT NOT NULL,"
          "  before TEXT,"
          "  after TEXT);"
          "CREATE INDEX defend_suppression_audit_rule ON defend_suppression_audit(suppression_id, seq);" },
};

int defend_suppress_migrate(struct vigild *d)
{
        return db_migrate(d->db, "defend_suppress", suppress_migrations,
                          sizeof(suppress_migrations) / sizeof(suppress_migrations[0]));
}

/* ---- glob patterns ---- */

static char ascii_lower(char c)
{
        return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int defend_glob_check(const char *p, size_t len, char *err, size_t err_size)
{
        size_t stars = 0;

        if (len == 0 || len > DEFEND_GLOB_MAX || strlen(p) != len || !util_str_is_text(p, DEFEND_GLOB_MAX)) {
                snprintf(err, err_size, "must be a pattern of 1 to %d bytes without control characters",
                         DEFEND_GLOB_MAX);
                return -EINVAL;
        }
        for (size_t i = 0; i < len; i++) {
                if (p[i] == '*' && ++stars > DEFEND_GLOB_STARS_MAX) {
                        snprintf(err, err_size, "has more than %d '*'", DEFEND_GLOB_STARS_MAX);
                        return -EINVAL;
                }
                if (p[i] == '\\') {
                        if (i + 1 == len || !strchr("*?\\", p[i + 1])) {
                                snprintf(err, err_size, "has a '\\' at byte %zu that is not before '*', '?' or "
                                         "'\\' (write '\\\\' for a backslash)", i + 1);
                                return -EINVAL;
                        }
                        i++;
                }
        }
        return 0;
}

bool defend_glob_match(const char *pattern, const char *s, size_t len, bool nocase)
{
        const char *p = pattern, *star = NULL;
        size_t i = 0, mark = 0;

        while (i < len) {
                if (*p == '*') {
                        star = ++p;
                        mark = i;
                        continue;
                }
                if (*p == '?') {
                        p++;
                        i++;
                        continue;
                }
                if (*p) {
                        /* a trailing '\' (refused by the check) is itself */
                        const char *lit = *p == '\\' && p[1] ? p + 1 : p;
                        char a = nocase ? ascii_lower(*lit) : *lit, b = nocase ? ascii_lower(s[i]) : s[i];
                        if (a == b) {
                                p = lit + 1;
                                i++;
                                continue;
                        }
                }
                /* mismatch: let the last '*' take one byte more */
                if (!star)
                        return false;
                p = star;
                i = ++mark;
        }
        while (*p == '*')
                p++;
        return *p == '\0';
}

/* ---- the rule's JSON ---- */

static const char *const rule_keys[] = { "name", "comment", "enabled", "conditions", "expires_at",
                                         "apply_to_existing", NULL };
static const char *const cond_keys[] = { "rule_id", "device_ids", "device_name", "device_group", "image",
                                         "command_line", NULL };

static bool key_known(const char *k, const char *const *keys)
{
        for (; *keys; keys++)
                if (strcmp(k, *keys) == 0)
                        return true;
        return false;
}

/* A string member of text without control characters, 1 to max bytes. */
static int text_check(const json_t *v, const char *key, size_t max, char *err, size_t err_size)
{
        const char *s = json_string_value(v);

        if (!s || !*s || strlen(s) != json_string_length(v) || !util_str_is_text(s, max)) {
                snprintf(err, err_size, "'%s' must be a non-empty string of at most %zu bytes without control "
                         "characters", key, max);
                return -EINVAL;
        }
        return 0;
}

static int device_ids_check(const json_t *v, char *err, size_t err_size)
{
        const json_t *x;
        size_t i;

        if (!json_is_array(v) || json_array_size(v) == 0) {
                snprintf(err, err_size, "'conditions.device_ids' must be a non-empty array of device ids");
                return -EINVAL;
        }
        if (json_array_size(v) > DEFEND_SUPPRESSION_DEVICES_MAX) {
                snprintf(err, err_size, "'conditions.device_ids' holds %zu ids; at most %d are allowed",
                         json_array_size(v), DEFEND_SUPPRESSION_DEVICES_MAX);
                return -E2BIG;
        }
        json_array_foreach(v, i, x) {
                const char *s = json_string_value(x);
                if (!s || !*s || strlen(s) != json_string_length(x) || !util_str_printable(s, DEVICE_ID_MAX) ||
                    strpbrk(s, "/?#%& ")) {
                        snprintf(err, err_size, "'conditions.device_ids[%zu]' must be a device id (at most %d "
                                 "printable bytes)", i, DEVICE_ID_MAX);
                        return -EINVAL;
                }
        }
        return 0;
}

static int conditions_check(const json_t *c, char *err, size_t err_size)
{
        char why[160];
        const char *k;
        json_t *v;
        int r;

        if (!json_is_object(c) || json_object_size(c) == 0) {
                snprintf(err, err_size, "'conditions' must be an object with at least one of rule_id, device_ids, "
                         "device_name, device_group, image and command_line");
                return -EINVAL;
        }
        json_object_foreach((json_t *)c, k, v) {
                if (!key_known(k, cond_keys)) {
                        snprintf(err, err_size, "unknown condition '%.64s': the conditions are rule_id, device_ids, "
                                 "device_name, device_group, image and command_line", k);
                        return -EINVAL;
                }
                if (strcmp(k, "rule_id") == 0)
                        r = text_check(v, "conditions.rule_id", DEFEND_GLOB_MAX, err, err_size);
                else if (strcmp(k, "device_ids") == 0)
                        r = device_ids_check(v, err, err_size);
                else if (strcmp(k, "device_group") == 0)
                        r = text_check(v, "conditions.device_group", MANAGE_ID_LEN, err, err_size);
                else if (!json_is_string(v) ||
                         defend_glob_check(json_string_value(v), json_string_length(v), why, sizeof(why)) < 0) {
                        snprintf(err, err_size, "'conditions.%s' is not a valid pattern: it %s", k,
                                 json_is_string(v) ? why : "must be a string");
                        r = -EINVAL;
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

/* expires_at: null, or an RFC 3339 time after now_s. */
static int expires_check(const json_t *v, int64_t now_s, char *err, size_t err_size)
{
        const char *s = json_string_value(v);
        int64_t ns;

        if (json_is_null(v))
                return 0;
        if (!s || strlen(s) > 64 || defend_time_parse(s, &ns) < 0) {
                snprintf(err, err_size, "'expires_at' must be an RFC 3339 time (\"2026-12-31T00:00:00Z\") or null");
                return -EINVAL;
        }
        if (ns / 1000000000 <= now_s) {
                snprintf(err, err_size, "'expires_at' %s has already passed", s);
                return -EINVAL;
        }
        return 0;
}

int defend_suppression_check(const json_t *body, bool create, int64_t now_s, char *err, size_t err_size)
{
        const char *k;
        json_t *v;
        int r = 0;

        if (!json_is_object(body) || json_object_size(body) == 0) {
                snprintf(err, err_size, "the body must be a JSON object with some of name, comment, enabled, "
                         "conditions, expires_at and apply_to_existing");
                return -EINVAL;
        }
        if (create && (!json_object_get(body, "name") || !json_object_get(body, "comment") ||
                       !json_object_get(body, "conditions"))) {
                snprintf(err, err_size, "a suppression rule needs 'name', 'comment' (why it is suppressed) and "
                         "'conditions'");
                return -EINVAL;
        }
        json_object_foreach((json_t *)body, k, v) {
                if (!key_known(k, rule_keys)) {
                        snprintf(err, err_size, "unknown member '%.64s': a suppression rule has name, comment, "
                                 "enabled, conditions, expires_at and apply_to_existing", k);
                        return -EINVAL;
                }
                if (strcmp(k, "name") == 0)
                        r = text_check(v, k, DEFEND_SUPPRESSION_NAME_MAX, err, err_size);
                else if (strcmp(k, "comment") == 0)
                        r = text_check(v, k, DEFEND_SUPPRESSION_COMMENT_MAX, err, err_size);
                else if (strcmp(k, "conditions") == 0)
                        r = conditions_check(v, err, err_size);
                else if (strcmp(k, "expires_at") == 0)
                        r = expires_check(v, now_s, err, err_size);
                else if (!json_is_boolean(v)) {
                        snprintf(err, err_size, "'%s' must be true or false", k);
                        r = -EINVAL;
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- the compiled set ---- */

/* A compiled glob: its literal head (before the first '*', '?' or '\')
 * and tail (after the last '*', when free of '?' and '\'), compared first
 * so that most values that cannot match are turned away without the glob. */
struct glob_cond {
        const char *pattern;            /* NULL: no such condition */
        size_t head, tail_len;
        const char *tail;
};

struct defend_suppression {
        char id[37];
        char by[BY_MAX];                /* "suppression:ID" */
        char *name, *comment;
        int64_t expires_at;             /* seconds; 0: never */
        json_t *conditions;             /* owns the strings below */
        const char *rule_id;
        struct glob_cond device_name, image, command_line;
        const json_t *device_ids;
        const char *device_group;       /* a manage group id */
};

struct defend_suppressions {
        size_t n;
        struct defend_suppression rules[];
};

static void set_free(struct defend_suppressions *set)
{
        for (size_t i = 0; set && i < set->n; i++) {
                free(set->rules[i].name);
                free(set->rules[i].comment);
                json_decref(set->rules[i].conditions);
        }
        free(set);
}

static void glob_compile(struct glob_cond *g, const char *pattern)
{
        const char *star;

        *g = (struct glob_cond){ .pattern = pattern, .tail = "" };
        if (!pattern)
                return;
        g->head = strcspn(pattern, "*?\\");
        star = strrchr(pattern, '*');
        if (star && !strpbrk(star + 1, "?\\")) {
                g->tail = star + 1;
                g->tail_len = strlen(g->tail);
        }
}

static bool bytes_equal(const char *a, const char *b, size_t n, bool nocase)
{
        if (!nocase)
                return memcmp(a, b, n) == 0;
        for (size_t i = 0; i < n; i++)
                if (ascii_lower(a[i]) != ascii_lower(b[i]))
                        return false;
        return true;
}

static bool glob_cond_match(const struct glob_cond *g, const char *s, size_t len, bool nocase)
{
        /* head and tail do not overlap: a tail exists only after a '*' */
        if (len < g->head + g->tail_len || !bytes_equal(g->pattern, s, g->head, nocase) ||
            !bytes_equal(g->tail, s + len - g->tail_len, g->tail_len, nocase))
                return false;
        return defend_glob_match(g->pattern, s, len, nocase);
}

/* Fills s from a stored row; conditions is taken. Returns 0 or -ENOMEM/-EIO. */
static int rule_compile(struct defend_suppression *s, const char *id, const char *name, const char *comment,
                        json_t *conditions, int64_t expires_at)
{
        snprintf(s->id, sizeof(s->id), "%s", id);
        snprintf(s->by, sizeof(s->by), "suppression:%s", id);
        s->conditions = conditions;
        s->name = strdup(name);
        s->comment = strdup(comment);
        s->expires_at = expires_at;
        if (!conditions || !s->name || !s->comment)
                return conditions ? -ENOMEM : -EIO;
        s->rule_id = json_string_value(json_object_get(conditions, "rule_id"));
        glob_compile(&s->device_name, json_string_value(json_object_get(conditions, "device_name")));
        glob_compile(&s->image, json_string_value(json_object_get(conditions, "image")));
        glob_compile(&s->command_line, json_string_value(json_object_get(conditions, "command_line")));
        s->device_ids = json_object_get(conditions, "device_ids");
        s->device_group = json_string_value(json_object_get(conditions, "device_group"));
        return 0;
}

/* Reads the enabled rules, oldest first (the first that matches wins). Lock held. */
static int set_load(struct vigild *d, struct defend_suppressions **ret)
{
        struct defend_suppressions *set;
        struct db_stmt *st;
        int r;

        set = calloc(1, sizeof(*set) + DEFEND_SUPPRESSIONS_MAX * sizeof(set->rules[0]));
        if (!set)
                return -ENOMEM;
        r = db_prepare(d->db, "SELECT id, name, comment, conditions, coalesce(expires_at, 0) FROM defend_suppressions "
                              "WHERE enabled = 1 ORDER BY created_at, id LIMIT $1", &st);
        if (r == 0) {
                db_bind_int64(st, 1, DEFEND_SUPPRESSIONS_MAX);
                while ((r = db_step(st)) == 1) {
                        json_t *c = json_loads(db_column_text(st, 3, NULL), 0, NULL);
                        r = rule_compile(&set->rules[set->n++], db_column_text(st, 0, NULL),
                                         db_column_text(st, 1, NULL), db_column_text(st, 2, NULL), c,
                                         db_column_int64(st, 4));
                        if (r < 0)
                                break;
                }
                db_stmt_done(st);
        }
        if (r < 0) {
                set_free(set);
                return r;
        }
        *ret = set;
        return 0;
}

int defend_suppress_open(struct vigild *d)
{
        struct defend_suppressions *set = NULL;
        int r;

        db_lock(d->db);
        r = set_load(d, &set);
        db_unlock(d->db);
        if (r < 0)
                return r;
        d->suppressions = set;
        if (set->n)
                log_info("%zu suppression rules enabled", set->n);
        return 0;
}

void defend_suppress_close(struct vigild *d)
{
        set_free(d->suppressions);
        d->suppressions = NULL;
}

/* What rules look at in an alert, read from its JSON once. */
struct alert_view {
        const char *rule_id, *image, *command_line;     /* NULL when absent */
        size_t image_len, command_line_len;
};

static void alert_view_init(struct alert_view *v, const json_t *alert)
{
        const json_t *proc = json_object_get(alert, "process");
        const json_t *img = json_object_get(proc, "image"), *cmd = json_object_get(proc, "command_line");

        v->rule_id = json_string_value(json_object_get(alert, "rule_id"));
        v->image = json_string_value(img);
        v->image_len = json_string_length(img);
        v->command_line = json_string_value(cmd);
        v->command_line_len = json_string_length(cmd);
}

static bool glob_value(const struct glob_cond *g, const char *s, size_t len)
{
        return s && glob_cond_match(g, s, len, false);
}

static bool device_listed(const json_t *ids, const char *device_id)
{
        const json_t *x;
        size_t i;

        json_array_foreach(ids, i, x)
                if (strcmp(json_string_value(x), device_id) == 0)
                        return true;
        return false;
}

/* Cheap conditions first; the hostname (a query to enroll, once per device) last. */
static bool rule_matches(struct vigild *d, const struct defend_suppression *s, struct defend_suppress_device *dev,
                         const struct alert_view *a, int64_t now)
{
        if ((s->expires_at && now >= s->expires_at) ||
            (s->rule_id && (!a->rule_id || strcmp(a->rule_id, s->rule_id) != 0)) ||
            (s->device_ids && !device_listed(s->device_ids, dev->device_id)) ||
            (s->device_group && !manage_device_in_group(d, s->device_group, dev->device_id)) ||
            (s->image.pattern && !glob_value(&s->image, a->image, a->image_len)) ||
            (s->command_line.pattern && !glob_value(&s->command_line, a->command_line, a->command_line_len)))
                return false;
        if (!s->device_name.pattern)
                return true;
        if (dev->name_state == 0)
                dev->name_state = enroll_device_name(d, dev->device_id, dev->name, sizeof(dev->name)) == 0 ? 1 : -1;
        /* hostnames are case-insensitive */
        return dev->name_state == 1 && glob_cond_match(&s->device_name, dev->name, strlen(dev->name), true);
}

const struct defend_suppression *defend_suppress_match(struct vigild *d, struct defend_suppress_device *dev,
                                                       const json_t *alert, int64_t now)
{
        const struct defend_suppressions *set = d->suppressions;
        struct alert_view v;

        if (!set || set->n == 0)
                return NULL;
        alert_view_init(&v, alert);
        for (size_t i = 0; i < set->n; i++)
                if (rule_matches(d, &set->rules[i], dev, &v, now))
                        return &set->rules[i];
        return NULL;
}

/* The alert's history entry and comment naming the rule. Lock held. */
static int alert_note(struct vigild *d, const struct defend_suppression *s, const char *alert_id, const char *from,
                      int64_t now)
{
        char text[DEFEND_SUPPRESSION_NAME_MAX + DEFEND_SUPPRESSION_COMMENT_MAX + 64];
        int r;

        r = db_exec_params(d->db, "INSERT INTO defend_alert_history (alert_id, at, by, by_name, field, old_value, "
                           "new_value) VALUES ($1, $2, $3, $4, 'status', $5, 'resolved')",
                           DB_PARAMS(db_param_text(alert_id, strlen(alert_id)), db_param_int64(now),
                                     db_param_text(s->by, strlen(s->by)), db_param_text(s->name, strlen(s->name)),
                                     db_param_text(from, strlen(from))));
        if (r < 0)
                return r;
        snprintf(text, sizeof(text), "suppressed by rule '%s': %s", s->name, s->comment);
        return db_exec_params(d->db, "INSERT INTO defend_alert_comments (alert_id, at, by, by_name, text) "
                              "VALUES ($1, $2, $3, $4, $5)",
                              DB_PARAMS(db_param_text(alert_id, strlen(alert_id)), db_param_int64(now),
                                        db_param_text(s->by, strlen(s->by)), db_param_text(s->name, strlen(s->name)),
                                        db_param_text(text, strlen(text))));
}

static int hits_add(struct vigild *d, const struct defend_suppression *s, int64_t n, int64_t now)
{
        return db_exec_params(d->db, "UPDATE defend_suppressions SET hits = hits + $2, last_hit_at = $3 WHERE id = $1",
                              DB_PARAMS(db_param_text(s->id, strlen(s->id)), db_param_int64(n), db_param_int64(now)));
}

int defend_suppress_record(struct vigild *d, const struct defend_suppression *s, const char *alert_id, int64_t now)
{
        int r = alert_note(d, s, alert_id, "new", now);

        return r < 0 ? r : hits_add(d, s, 1, now);
}

/* ---- applying a rule to the alerts already stored ---- */

struct apply_result {
        json_t *by_device;              /* {device_id: [alert ids]} */
        json_t *old_status;             /* {alert_id: status} */
        size_t n;
        bool more;
        struct defend_risk_change *changes;
};

static void apply_result_release(struct apply_result *a)
{
        json_decref(a->by_device);
        json_decref(a->old_status);
        free(a->changes);
}

/* Finds the unresolved alerts s matches (at most APPLY_MAX). Lock held. */
static int apply_select(struct vigild *d, const struct defend_suppression *s, int64_t now, struct apply_result *a)
{
        struct defend_suppress_device dev = { 0 };
        char device[HTTP_PARAM_MAX + 1] = "";
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, "SELECT id, device_id, status, alert FROM defend_alerts WHERE status <> 'resolved' "
                              "AND ($1 IS NULL OR rule_id = $1) ORDER BY device_id, received_at, id", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, s->rule_id, s->rule_id ? strlen(s->rule_id) : 0);
        while ((r = db_step(st)) == 1) {
                const char *id = db_column_text(st, 0, NULL), *dv = db_column_text(st, 1, NULL);
                struct alert_view v;
                json_t *alert, *ids;
                bool hit = false;

                if (strcmp(dv, device) != 0) {
                        snprintf(device, sizeof(device), "%s", dv);
                        dev = (struct defend_suppress_device){ .device_id = device };
                }
                alert = json_loads(db_column_text(st, 3, NULL), 0, NULL);
                if (alert) {
                        alert_view_init(&v, alert);
                        hit = rule_matches(d, s, &dev, &v, now);
                }
                json_decref(alert);
                if (!hit)
                        continue;
                if (a->n == APPLY_MAX) {
                        a->more = true;
                        break;
                }
                if (!(ids = json_object_get(a->by_device, device))) {
                        ids = json_array();
                        json_object_set_new(a->by_device, device, ids);
                }
                json_array_append_new(ids, json_string(id));
                json_object_set_new(a->old_status, id, json_string(db_column_text(st, 2, NULL)));
                a->n++;
        }
        db_stmt_done(st);
        return r < 0 ? r : 0;
}

/* Resolves what apply_select() found and recomputes each device's risk, in
 * the caller's transaction. Lock held. Returns 0, -EPERM if the rule is not
 * enabled (s NULL), or an error. */
static int apply_existing(struct vigild *d, const struct defend_suppression *s, int64_t now, struct apply_result *a)
{
        const char *dev;
        json_t *ids, *idv;
        size_t k = 0, i;
        int r;

        a->by_device = json_object();
        a->old_status = json_object();
        if (!s)
                return -EPERM;  /* not in the enabled set: disabled */
        r = apply_select(d, s, now, a);
        if (r < 0 || a->n == 0)
                return r;
        a->changes = calloc(json_object_size(a->by_device), sizeof(*a->changes));
        if (!a->changes)
                return -ENOMEM;
        json_object_foreach(a->by_device, dev, ids) {
                json_array_foreach(ids, i, idv) {
                        const char *id = json_string_value(idv);
                        r = db_exec_params(d->db, "UPDATE defend_alerts SET status = 'resolved', updated_at = $2, "
                                           "resolved_at = $2 WHERE id = $1",
                                           DB_PARAMS(db_param_text(id, strlen(id)), db_param_int64(now)));
                        if (r == 0)
                                r = alert_note(d, s, id, json_string_value(json_object_get(a->old_status, id)), now);
                        if (r < 0)
                                return r;
                }
                r = defend_risk_update(d, dev, ids, s->by, &a->changes[k++]);
                if (r < 0)
                        return r;
        }
        return hits_add(d, s, (int64_t)a->n, now);
}

static void apply_publish(struct vigild *d, const struct apply_result *a)
{
        for (size_t k = 0; a->changes && k < json_object_size(a->by_device); k++)
                defend_risk_publish(d, &a->changes[k]);
}

static json_t *apply_json(const struct apply_result *a)
{
        json_t *all = json_array(), *ids;
        const char *k;

        json_object_foreach(a->by_device, k, ids)
                json_array_extend(all, ids);
        return json_pack("{s:I,s:o,s:b}", "resolved", (json_int_t)a->n, "alert_ids", all, "more", a->more);
}

/* ---- storage ---- */

#define RULE_COLUMNS \
        "id, name, comment, enabled, conditions, expires_at, created_at, created_by, created_by_name, " \
        "updated_at, updated_by, updated_by_name, hits, last_hit_at"

static json_t *time_json(struct db_stmt *st, int col)
{
        char buf[21];

        if (db_column_is_null(st, col))
                return json_null();
        util_time_format(db_column_int64(st, col), buf);
        return json_string(buf);
}

/* What a rule is made of (the audit's before and after). */
static json_t *config_json(struct db_stmt *st)
{
        json_t *c = json_loads(db_column_text(st, 4, NULL), 0, NULL);

        return json_pack("{s:s,s:s,s:s,s:b,s:o,s:o}", "id", db_column_text(st, 0, NULL),
                         "name", db_column_text(st, 1, NULL), "comment", db_column_text(st, 2, NULL),
                         "enabled", db_column_int64(st, 3) != 0, "conditions", c ? c : json_object(),
                         "expires_at", time_json(st, 5));
}

static json_t *rule_json(struct db_stmt *st, int64_t now)
{
        json_t *j = config_json(st);

        json_object_set_new(j, "expired", json_boolean(!db_column_is_null(st, 5) && db_column_int64(st, 5) <= now));
        json_object_set_new(j, "created_at", time_json(st, 6));
        json_object_set_new(j, "created_by", json_string(db_column_text(st, 7, NULL)));
        json_object_set_new(j, "created_by_name", json_string(db_column_text(st, 8, NULL)));
        json_object_set_new(j, "updated_at", time_json(st, 9));
        json_object_set_new(j, "updated_by", json_string(db_column_text(st, 10, NULL)));
        json_object_set_new(j, "updated_by_name", json_string(db_column_text(st, 11, NULL)));
        json_object_set_new(j, "hits", json_integer(db_column_int64(st, 12)));
        json_object_set_new(j, "last_hit_at", time_json(st, 13));
        return j;
}

/* One rule: as the API shows it (config false) or as the audit keeps it.
 * Lock held. Returns 0, -ENOENT or a database error. */
static int rule_read(struct vigild *d, const char *id, bool config, json_t **ret)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, "SELECT " RULE_COLUMNS " FROM defend_suppressions WHERE id = $1", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, id, strlen(id));
        r = db_step(st);
        if (r == 1)
                *ret = config ? config_json(st) : rule_json(st, util_now());
        db_stmt_done(st);
        return r == 1 ? 0 : r == 0 ? -ENOENT : r;
}

static int audit_add(struct vigild *d, const char *id, int64_t now, const struct http_principal *who,
                     const char *action, const json_t *before, const json_t *after)
{
        char *b = before ? json_dumps(before, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        char *a = after ? json_dumps(after, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        int r = -ENOMEM;

        if ((!before || b) && (!after || a))
                r = db_exec_params(d->db, "INSERT INTO defend_suppression_audit (suppression_id, at, action, by, "
                                   "by_name, before, after) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                                   DB_PARAMS(db_param_text(id, strlen(id)), db_param_int64(now),
                                             db_param_text(action, strlen(action)),
                                             db_param_text(who->token_id, strlen(who->token_id)),
                                             db_param_text(who->token_name, strlen(who->token_name)),
                                             db_param_text(b, b ? strlen(b) : 0), db_param_text(a, a ? strlen(a) : 0)));
        free(b);
        free(a);
        return r;
}

/* Writes a whole rule (insert or update). Lock held. */
static int rule_write(struct vigild *d, const char *id, const json_t *rule, bool insert, int64_t now,
                      const struct http_principal *who)
{
        static const char *const sql[2] = {
                "UPDATE defend_suppressions SET name = $2, comment = $3, enabled = $4, conditions = $5, "
                "expires_at = $6, updated_at = $7, updated_by = $8, updated_by_name = $9 WHERE id = $1",
                "INSERT INTO defend_suppressions (id, name, comment, enabled, conditions, expires_at, created_at, "
                "created_by, created_by_name, updated_at, updated_by, updated_by_name) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $7, $8, $9)",
        };
        const char *name = json_string_value(json_object_get(rule, "name"));
        const char *comment = json_string_value(json_object_get(rule, "comment"));
        const char *exp = json_string_value(json_object_get(rule, "expires_at"));
        const json_t *en = json_object_get(rule, "enabled");
        char *cond = json_dumps(json_object_get(rule, "conditions"), JSON_COMPACT | JSON_SORT_KEYS);
        int64_t exp_ns = 0;
        int r;

        if (!cond)
                return -ENOMEM;
        if (exp)
                defend_time_parse(exp, &exp_ns);
        r = db_exec_params(d->db, sql[insert],
                           DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(name, strlen(name)),
                                     db_param_text(comment, strlen(comment)), db_param_int64(!en || json_is_true(en)),
                                     db_param_text(cond, strlen(cond)),
                                     exp ? db_param_int64(exp_ns / 1000000000) : db_param_null(),
                                     db_param_int64(now), db_param_text(who->token_id, strlen(who->token_id)),
                                     db_param_text(who->token_name, strlen(who->token_name))));
        free(cond);
        return r;
}

static int rule_count(struct vigild *d, int64_t *ret)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, "SELECT count(*) FROM defend_suppressions", &st);
        if (r < 0)
                return r;
        r = db_step(st);
        *ret = db_column_int64(st, 0);
        db_stmt_done(st);
        return r == 1 ? 0 : r < 0 ? r : -EIO;
}

/* ---- handlers ---- */

/* Reads and checks a POST or PATCH body; unknown devices are refused too. */
static json_t *body_read(struct vigild *d, const struct http_request *req, bool create, struct http_reply *rep)
{
        const char *group;
        const json_t *ids;
        char err[512];
        json_t *body, *x;
        size_t i;
        int r;

        body = http_request_json(req, rep);
        if (!body)
                return NULL;
        r = defend_suppression_check(body, create, util_now(), err, sizeof(err));
        if (r < 0) {
                http_reply_error(rep, 400, r == -E2BIG ? "too_many" : "invalid_request", "%s", err);
                json_decref(body);
                return NULL;
        }
        group = json_string_value(json_object_get(json_object_get(body, "conditions"), "device_group"));
        if (group && !manage_group_exists(d, group)) {
                http_reply_error(rep, 400, "invalid_request", "'conditions.device_group': no device group with id "
                                 "'%s'", group);
                json_decref(body);
                return NULL;
        }
        ids = json_object_get(json_object_get(body, "conditions"), "device_ids");
        json_array_foreach(ids, i, x) {
                if (!enroll_device_exists(d, json_string_value(x))) {
                        http_reply_error(rep, 400, "invalid_request", "'conditions.device_ids[%zu]': no device "
                                         "with id '%s'", i, json_string_value(x));
                        json_decref(body);
                        return NULL;
                }
        }
        return body;
}

static const struct defend_suppression *set_find(const struct defend_suppressions *set, const char *id)
{
        for (size_t i = 0; set && i < set->n; i++)
                if (strcmp(set->rules[i].id, id) == 0)
                        return &set->rules[i];
        return NULL;
}

/* Ends a change's transaction: on commit installs set, the rules as the
 * change left them (read inside it), else frees it. Lock held. */
static int change_finish(struct vigild *d, int r, struct defend_suppressions *set)
{
        r = db_finish(d->db, r);
        if (r < 0) {
                set_free(set);
                return r;
        }
        set_free(d->suppressions);
        d->suppressions = set;
        return 0;
}

/* Creates a rule (and applies it) in one transaction. Lock held. */
static int create_apply(struct vigild *d, const char *id, json_t *body, const struct http_principal *who,
                        struct apply_result *a, json_t **ret_rule)
{
        struct defend_suppressions *set = NULL;
        json_t *after = NULL;
        int64_t now = util_now(), n = 0;
        int r;

        r = db_begin(d->db);
        if (r < 0)
                return r;
        r = rule_count(d, &n);
        if (r == 0 && n >= DEFEND_SUPPRESSIONS_MAX)
                r = -EDQUOT;
        if (r == 0)
                r = rule_write(d, id, body, true, now, who);
        if (r == 0)
                r = rule_read(d, id, true, &after);
        if (r == 0)
                r = audit_add(d, id, now, who, "create", NULL, after);
        if (r == 0)
                r = set_load(d, &set);
        if (r == 0 && json_is_true(json_object_get(body, "apply_to_existing")))
                r = apply_existing(d, set_find(set, id), now, a);
        r = change_finish(d, r, set);
        if (r == 0)
                r = rule_read(d, id, false, ret_rule);
        json_decref(after);
        return r;
}

/* POST /api/v1/suppressions */
void defend_handle_suppression_create(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct apply_result a = { 0 };
        bool apply, enabled;
        json_t *body, *rule = NULL;
        char id[37];
        int r;

        body = body_read(d, req, true, rep);
        if (!body)
                return;
        apply = json_is_true(json_object_get(body, "apply_to_existing"));
        enabled = !json_is_false(json_object_get(body, "enabled"));
        if (apply && !enabled) {
                http_reply_error(rep, 400, "invalid_request", "'apply_to_existing' needs an enabled rule");
                goto out;
        }
        if (crypto_uuid4(id) < 0) {
                http_reply_error(rep, 500, "internal", "no random numbers");
                goto out;
        }
        db_lock(d->db);
        r = create_apply(d, id, body, req->who, &a, &rule);
        db_unlock(d->db);
        if (r == -EDQUOT) {
                http_reply_error(rep, 409, "limit_reached", "there are already %d suppression rules, the most "
                                 "allowed; delete one first", DEFEND_SUPPRESSIONS_MAX);
                goto out;
        }
        if (r < 0) {
                http_reply_failed(rep, r, "store the suppression rule");
                goto out;
        }
        apply_publish(d, &a);
        log_info("token %s created suppression rule %s '%s'%s", req->who->token_id, id,
                 json_string_value(json_object_get(body, "name")), apply ? " and applied it" : "");
        if (apply)
                json_object_set_new(rule, "applied", apply_json(&a));
        http_reply_json(rep, 201, rule);
out:
        apply_result_release(&a);
        json_decref(body);
}

/* GET /api/v1/suppressions[?enabled=true|false] */
void defend_handle_suppressions_list(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *en = http_request_query(req, "enabled");
        int64_t now = util_now();
        struct db_stmt *st;
        json_t *arr;
        int r;

        if (en && strcmp(en, "true") != 0 && strcmp(en, "false") != 0) {
                http_reply_error(rep, 400, "invalid_query", "'enabled' must be true or false");
                return;
        }
        arr = json_array();
        db_lock(d->db);
        r = db_prepare(d->db, "SELECT " RULE_COLUMNS " FROM defend_suppressions WHERE ($1 < 0 OR enabled = $1) "
                              "ORDER BY created_at, id", &st);
        if (r == 0) {
                db_bind_int64(st, 1, en ? strcmp(en, "true") == 0 : -1);
                while ((r = db_step(st)) == 1)
                        json_array_append_new(arr, rule_json(st, now));
                db_stmt_done(st);
        }
        db_unlock(d->db);
        if (r < 0)
                http_reply_list_failed(rep, arr, "list the suppression rules");
        else
                http_reply_values(rep, arr);
}

/* GET /api/v1/suppressions/{id} */
void defend_handle_suppression_show(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        json_t *rule = NULL;
        int r;

        db_lock(d->db);
        r = rule_read(d, req->params[0], false, &rule);
        db_unlock(d->db);
        if (r == -ENOENT)
                http_reply_error(rep, 404, "suppression_not_found", "no suppression rule with id '%s'", req->params[0]);
        else if (r < 0)
                http_reply_error(rep, 500, "database_error", "cannot read the suppression rule");
        else
                http_reply_json(rep, 200, rule);
}

/* The audit's action for a PATCH that turned before into after. */
static const char *patch_action(const json_t *before, const json_t *after)
{
        json_t *b = json_deep_copy(before), *a = json_deep_copy(after);
        bool enabled_only, same;
        const char *action;

        same = json_equal(b, a);
        json_object_del(b, "enabled");
        json_object_del(a, "enabled");
        enabled_only = json_equal(b, a);
        action = same ? "apply" : !enabled_only ? "update" :
                 json_is_true(json_object_get(after, "enabled")) ? "enable" : "disable";
        json_decref(b);
        json_decref(a);
        return action;
}

/* Applies a PATCH in one transaction. Lock held. Returns 0, -ENOENT, -EPERM
 * (apply_to_existing on a disabled rule) or an error. */
static int patch_apply(struct vigild *d, const char *id, const json_t *body, const struct http_principal *who,
                       struct apply_result *a, json_t **ret_rule)
{
        struct defend_suppressions *set = NULL;
        json_t *before = NULL, *after = NULL, *merged = NULL;
        bool apply = json_is_true(json_object_get(body, "apply_to_existing"));
        int64_t now = util_now();
        int r;

        r = db_begin(d->db);
        if (r < 0)
                return r;
        r = rule_read(d, id, true, &before);
        if (r == 0) {
                merged = json_deep_copy(before);
                json_object_update(merged, (json_t *)body);
                json_object_del(merged, "apply_to_existing");
                if (apply && !json_is_true(json_object_get(merged, "enabled")))
                        r = -EPERM;
        }
        if (r == 0)
                r = rule_write(d, id, merged, false, now, who);
        if (r == 0)
                r = rule_read(d, id, true, &after);
        /* a PATCH that changes nothing and applies nothing leaves no trace */
        if (r == 0 && (apply || !json_equal(before, after)))
                r = audit_add(d, id, now, who, patch_action(before, after), before, after);
        if (r == 0)
                r = set_load(d, &set);
        if (r == 0 && apply)
                r = apply_existing(d, set_find(set, id), now, a);
        r = change_finish(d, r, set);
        if (r == 0)
                r = rule_read(d, id, false, ret_rule);
        json_decref(before);
        json_decref(after);
        json_decref(merged);
        return r;
}

/* PATCH /api/v1/suppressions/{id} */
void defend_handle_suppression_patch(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0];
        struct apply_result a = { 0 };
        json_t *body, *rule = NULL;
        int r;

        body = body_read(d, req, false, rep);
        if (!body)
                return;
        db_lock(d->db);
        r = patch_apply(d, id, body, req->who, &a, &rule);
        db_unlock(d->db);
        if (r == -ENOENT)
                http_reply_error(rep, 404, "suppression_not_found", "no suppression rule with id '%s'", id);
        else if (r == -EPERM)
                http_reply_error(rep, 400, "invalid_request", "'apply_to_existing' needs an enabled rule");
        else if (r < 0)
                http_reply_failed(rep, r, "change the suppression rule");
        if (r < 0)
                goto out;
        apply_publish(d, &a);
        log_info("token %s changed suppression rule %s", req->who->token_id, id);
        if (json_is_true(json_object_get(body, "apply_to_existing")))
                json_object_set_new(rule, "applied", apply_json(&a));
        http_reply_json(rep, 200, rule);
out:
        apply_result_release(&a);
        json_decref(body);
}

static int delete_apply(struct vigild *d, const char *id, const struct http_principal *who, json_t **ret_rule)
{
        struct defend_suppressions *set = NULL;
        json_t *before = NULL;
        int64_t now = util_now();
        int r;

        r = db_begin(d->db);
        if (r < 0)
                return r;
        r = rule_read(d, id, false, ret_rule);
        if (r == 0)
                r = rule_read(d, id, true, &before);
        if (r == 0)
                r = db_exec_params(d->db, "DELETE FROM defend_suppressions WHERE id = $1",
                                   DB_PARAMS(db_param_text(id, strlen(id))));
        if (r == 0)
                r = audit_add(d, id, now, who, "delete", before, NULL);
        if (r == 0)
                r = set_load(d, &set);
        json_decref(before);
        return change_finish(d, r, set);
}

/* DELETE /api/v1/suppressions/{id}: alerts it resolved stay resolved. */
void defend_handle_suppression_delete(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0];
        json_t *rule = NULL;
        int r;

        db_lock(d->db);
        r = delete_apply(d, id, req->who, &rule);
        db_unlock(d->db);
        if (r < 0)
                json_decref(rule);
        if (r == -ENOENT) {
                http_reply_error(rep, 404, "suppression_not_found", "no suppression rule with id '%s'", id);
                return;
        }
        if (r < 0) {
                http_reply_failed(rep, r, "delete the suppression rule");
                return;
        }
        log_info("token %s deleted suppression rule %s", req->who->token_id, id);
        http_reply_json(rep, 200, rule);
}

static json_t *audit_row_json(struct db_stmt *st)
{
        json_t *b = db_column_is_null(st, 4) ? NULL : json_loads(db_column_text(st, 4, NULL), 0, NULL);
        json_t *a = db_column_is_null(st, 5) ? NULL : json_loads(db_column_text(st, 5, NULL), 0, NULL);

        return json_pack("{s:o,s:s,s:s,s:s,s:o,s:o}", "at", time_json(st, 0), "action", db_column_text(st, 1, NULL),
                         "by", db_column_text(st, 2, NULL), "by_name", db_column_text(st, 3, NULL),
                         "before", b ? b : json_null(), "after", a ? a : json_null());
}

/* GET /api/v1/suppressions/{id}/audit?limit=100&offset=0, newest first; a
 * deleted rule's audit stays readable. */
void defend_handle_suppression_audit(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0];
        uint64_t limit, offset;
        struct db_stmt *st;
        json_t *arr;
        int r;

        if (http_request_paging(req, AUDIT_LIMIT_DEFAULT, AUDIT_LIMIT_MAX, &limit, &offset, rep) < 0)
                return;
        arr = json_array();
        db_lock(d->db);
        r = db_prepare(d->db, "SELECT at, action, by, by_name, before, after FROM defend_suppression_audit "
                              "WHERE suppression_id = $1 ORDER BY seq DESC LIMIT $2 OFFSET $3", &st);
        if (r == 0) {
                db_bind_text(st, 1, id, strlen(id));
                db_bind_int64(st, 2, (int64_t)limit);
                db_bind_int64(st, 3, (int64_t)offset);
                while ((r = db_step(st)) == 1)
                        json_array_append_new(arr, audit_row_json(st));
                db_stmt_done(st);
        }
        db_unlock(d->db);
        if (r < 0) {
                json_decref(arr);
                http_reply_error(rep, 500, "database_error", "cannot read the audit");
                return;
        }
        if (json_array_size(arr) == 0 && offset == 0) {
                json_decref(arr);
                http_reply_error(rep, 404, "suppression_not_found", "no suppression rule with id '%s', now or before",
                                 id);
                return;
        }
        http_reply_json(rep, 200, json_pack("{s:s,s:I,s:o}", "suppression_id", id,
                                            "count", (json_int_t)json_array_size(arr), "value", arr));
}
