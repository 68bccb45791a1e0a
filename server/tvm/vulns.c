/* tvm vulns: the results service — the tables, the worker that recomputes
 * devices (one on inventory_changed, all on advisories_changed), the store
 * of each device's vulnerabilities and exposure level, the levels held in
 * memory for compliance and the device JSON. See results.h. */
#include "server/tvm/results.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/bus.h"
#include "server/db/db.h"
#include "server/enroll/enroll.h"
#include "server/log.h"
#include "server/tvm/tvm.h"
#include "server/vigild.h"
#include "util/dpkgver.h"
#include "util/strutil.h"
#include "util/vbuf.h"

#define BATCH_MAX 16                    /* devices recomputed between two commits: the lock is let go between */
#define QUEUE_MAX 4096                  /* devices queued one by one; past it, every device is */
#define RELEASES_MAX 32                 /* (distro, release) indexes held by one recompute */
#define RELEASE_MAX 32                  /* bytes of a release we match (VERSION_ID) */
#define RETRY_S 5                       /* after a failed store, wait this long, */
#define RETRY_MAX_S 600                 /* twice as long each time it fails again, up to this */

static const struct db_migration results_migrations[] = {
        { 1,
          "CREATE TABLE tvm_device_vulns ("
          "  device_id TEXT NOT NULL,"
          "  cve TEXT NOT NULL,"
          "  package TEXT NOT NULL,"
          "  source TEXT NOT NULL,"
          "  installed_version TEXT NOT NULL,"
          "  fixed_version TEXT,"
          "  severity TEXT NOT NULL,"
          "  rating TEXT NOT NULL,"
          "  urgency TEXT NOT NULL,"
          "  cvss10 INTEGER,"
          "  exploit_known INTEGER NOT NULL,"
          "  advisory_id TEXT NOT NULL,"
          "  distro TEXT NOT NULL,"
          "  release TEXT NOT NULL,"
          "  PRIMARY KEY (device_id, package, cve));"
          "CREATE INDEX tvm_device_vulns_cve ON tvm_device_vulns(cve);"
          "CREATE INDEX tvm_device_vulns_source ON tvm_device_vulns(source, distro, release, cve, device_id, "
          "  fixed_version, rating, exploit_known);"
          "CREATE TABLE tvm_device_exposure ("
          "  device_id TEXT PRIMARY KEY,"
          "  level TEXT NOT NULL,"
          "  vulns INTEGER NOT NULL,"
          "  sig TEXT NOT NULL,"
          "  computed_at INTEGER NOT NULL);"
          "CREATE TABLE tvm_tasks ("
          "  id TEXT PRIMARY KEY,"
          "  source_package TEXT NOT NULL,"
          "  fixed_version TEXT NOT NULL,"
          "  group_id TEXT,"
          "  priority TEXT NOT NULL,"
          "  due_date TEXT,"
          "  notes TEXT NOT NULL,"
          "  status TEXT NOT NULL,"
          "  reason TEXT NOT NULL,"
          "  created_at INTEGER NOT NULL,"
          "  created_by TEXT NOT NULL,"
          "  updated_at INTEGER NOT NULL,"
          "  updated_by TEXT NOT NULL,"
          "  distro TEXT NOT NULL,"
          "  release TEXT NOT NULL);"
          "CREATE TABLE tvm_task_events ("
          "  task_id TEXT NOT NULL REFERENCES tvm_tasks(id),"
          "  at INTEGER NOT NULL,"
          "  by_token TEXT NOT NULL,"
          "  by_name TEXT NOT NULL,"
          "  action TEXT NOT NULL,"
          "  status TEXT NOT NULL,"
          "  reason TEXT NOT NULL);"
          "CREATE INDEX tvm_task_events_task ON tvm_task_events(task_id, at);" },
};

/* A device's level in memory; level -1: not assessed. */
struct level_entry {
        char id[TVM_DEVICE_ID_MAX + 1];
        int level;
};

struct tvm_results {
        struct vigild *d;
        struct tvm_match_options opts;
        /* the levels: open addressing, never shrinks (devices are few and ids stay) */
        pthread_mutex_t llock;
        struct level_entry *levels;
        size_t l_cap, l_n;
        /* the worker and its queue */
        pthread_t thread;
        bool running, stop;
        pthread_mutex_t qlock;
        pthread_cond_t wake;
        char (*queue)[TVM_DEVICE_ID_MAX + 1];
        size_t q_len;
        bool q_all;
};

int tvm_results_migrate(struct vigild *d)
{
        return db_migrate_locked(d->db, "tvm_result", results_migrations,
                                 sizeof(results_migrations) / sizeof(results_migrations[0]));
}

/* ---- levels in memory ---- */

static struct level_entry *level_slot(struct tvm_results *s, const char *id)
{
        size_t i = util_str_hash(id) & (s->l_cap - 1);

        while (s->levels[i].id[0] && strcmp(s->levels[i].id, id) != 0)
                i = (i + 1) & (s->l_cap - 1);
        return &s->levels[i];
}

/* Sets a device's level (-1: not assessed) and returns the previous one. llock held. */
static int level_set(struct tvm_results *s, const char *id, int level)
{
        struct level_entry *e;
        int old;

        if (strlen(id) > TVM_DEVICE_ID_MAX)
                return -1;
        if ((s->l_n + 1) * 2 > s->l_cap) {
                size_t cap = s->l_cap ? 2 * s->l_cap : 1024;
                struct level_entry *old_levels = s->levels, *nl = calloc(cap, sizeof(*nl));
                size_t old_cap = s->l_cap;

                if (!nl)
                        return -1;
                s->levels = nl;
                s->l_cap = cap;
                for (size_t i = 0; i < old_cap; i++)
                        if (old_levels[i].id[0])
                                *level_slot(s, old_levels[i].id) = old_levels[i];
                free(old_levels);
        }
        e = level_slot(s, id);
        if (!e->id[0]) {
                snprintf(e->id, sizeof(e->id), "%s", id);
                e->level = -1;
                s->l_n++;
        }
        old = e->level;
        e->level = level;
        return old;
}

int tvm_device_exposure_get(struct vigild *d, const char *device_id, enum tvm_exposure *ret)
{
        struct tvm_results *s = d->tvm_results;
        int level = -1;

        if (!s || !device_id)
                return -ENOENT;
        pthread_mutex_lock(&s->llock);
        if (s->l_cap) {
                struct level_entry *e = level_slot(s, device_id);
                if (e->id[0])
                        level = e->level;
        }
        pthread_mutex_unlock(&s->llock);
        if (level < 0)
                return -ENOENT;
        *ret = (enum tvm_exposure)level;
        return 0;
}

static int level_parse(const char *name)
{
        for (int i = TVM_EXPOSURE_NONE; i <= TVM_EXPOSURE_HIGH; i++)
                if (name && strcmp(name, tvm_exposure_name((enum tvm_exposure)i)) == 0)
                        return i;
        return -1;
}

/* ---- one recompute ---- */

/* The advisory indexes loaded, one per (distro, release). */
struct tvm_release_cache {
        struct {
                char distro[8], release[RELEASE_MAX + 1];
                struct tvm_advisories *a;
        } e[RELEASES_MAX];
        size_t n;
};

void tvm_release_cache_clear(struct tvm_release_cache *c)
{
        for (size_t i = 0; c && i < c->n; i++)
                tvm_advisories_free(c->e[i].a);
        if (c)
                c->n = 0;
}

struct tvm_release_cache *tvm_release_cache_new(void)
{
        return calloc(1, sizeof(struct tvm_release_cache));
}

void tvm_release_cache_free(struct tvm_release_cache *c)
{
        tvm_release_cache_clear(c);
        free(c);
}

/* The index for (distro, release), loaded on first use. db lock held. */
static int release_get(struct tvm_release_cache *c, struct db *db, const char *distro, const char *release,
                       const struct tvm_match_options *o, struct tvm_advisories **ret)
{
        for (size_t i = 0; i < c->n; i++)
                if (strcmp(c->e[i].distro, distro) == 0 && strcmp(c->e[i].release, release) == 0) {
                        *ret = c->e[i].a;
                        return 0;
                }
        if (c->n == RELEASES_MAX) {
                /* a fleet of that many releases: start over rather than grow without bound */
                tvm_release_cache_clear(c);
        }
        int r = tvm_advisories_load(db, distro, release, o, ret);
        if (r < 0)
                return r;
        snprintf(c->e[c->n].distro, sizeof(c->e[c->n].distro), "%s", distro);
        snprintf(c->e[c->n].release, sizeof(c->e[c->n].release), "%s", release);
        c->e[c->n++].a = *ret;
        return 0;
}

/* A device's packages copied out of the database, and its vulnerabilities. */
struct scratch {
        struct tvm_package *pkgs;
        size_t n_pkgs, cap_pkgs;
        struct vbuf text;               /* the packages' strings, each NUL-terminated */
        struct tvm_vuln_list vulns;
};

/* No cap of its own on the packages' text: the inventory is bounded where it is stored. */
#define SCRATCH_TEXT_MAX (SIZE_MAX / 2)

static void scratch_init(struct scratch *x)
{
        *x = (struct scratch){ 0 };
        vbuf_init(&x->text, SCRATCH_TEXT_MAX);
}

static void scratch_release(struct scratch *x)
{
        free(x->pkgs);
        vbuf_release(&x->text);
        tvm_vuln_list_release(&x->vulns);
}

/* Reads the device's packages into x (offsets first, pointers once the
 * text stops moving). db lock held. */
static int packages_read(struct db *db, const char *id, struct scratch *x)
{
        struct db_stmt *st;
        int r;

        x->n_pkgs = 0;
        vbuf_reset(&x->text);
        r = db_prepare(db, "SELECT name, version, source, source_version FROM device_software WHERE device_id = $1",
                       &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, id, strlen(id));
        while ((r = db_step(st)) == 1) {
                uintptr_t off[4];

                if (x->n_pkgs == x->cap_pkgs) {
                        size_t cap = x->cap_pkgs ? 2 * x->cap_pkgs : 2048;
                        struct tvm_package *p = realloc(x->pkgs, cap * sizeof(*p));
                        if (!p) {
                                r = -ENOMEM;
                                break;
                        }
                        x->pkgs = p;
                        x->cap_pkgs = cap;
                }
                for (int i = 0; i < 4; i++) {
                        size_t len;
                        const char *t = db_column_text(st, i, &len);

                        off[i] = x->text.len;
                        r = t ? vbuf_append(&x->text, t, len + 1) : vbuf_append(&x->text, "", 1);
                        if (r < 0)
                                break;
                }
                if (r < 0)
                        break;
                x->pkgs[x->n_pkgs++] = (struct tvm_package){ (const char *)off[0], (const char *)off[1],
                                                             (const char *)off[2], (const char *)off[3] };
        }
        db_stmt_done(st);
        if (r < 0)
                return r;
        for (size_t i = 0; i < x->n_pkgs; i++) {
                struct tvm_package *p = &x->pkgs[i];
                p->name = x->text.data + (uintptr_t)p->name;
                p->version = x->text.data + (uintptr_t)p->version;
                p->source = x->text.data + (uintptr_t)p->source;
                p->source_version = x->text.data + (uintptr_t)p->source_version;
        }
        return 0;
}

/* What a device is, for matching: its distro and release, or not assessed. */
struct device_os {
        bool assessed;
        const char *distro;
        char release[RELEASE_MAX + 1];
};

static uint64_t fnv(uint64_t h, const char *s)
{
        for (; s && *s; s++) {
                h ^= (unsigned char)*s;
                h *= 0x100000001b3ull;
        }
        h ^= 0xff;      /* a separator no text holds, so "ab","c" differs from "a","bc" */
        return h * 0x100000001b3ull;
}

/* A signature of a device's results: unchanged results are not rewritten. */
static void vulns_sig(const struct device_os *os, const struct tvm_vuln_list *l, char out[17])
{
        uint64_t h = fnv(fnv(0xcbf29ce484222325ull, os->distro), os->release);
        char num[64];

        for (size_t i = 0; i < l->n; i++) {
                const struct tvm_vuln *v = &l->v[i];

                snprintf(num, sizeof(num), "%d %.1f %d", v->severity, v->cvss, v->exploit_known);
                h = fnv(h, v->cve);
                h = fnv(h, v->package);
                h = fnv(h, v->source);
                h = fnv(h, v->installed);
                h = fnv(h, v->fixed ? v->fixed : "\x01");
                h = fnv(h, v->advisory_id);
                h = fnv(h, v->urgency);
                h = fnv(h, num);
        }
        snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static int64_t cvss10(double cvss)
{
        return cvss >= 0 ? (int64_t)(cvss * 10 + 0.5) : -1;
}

#define VULN_INSERT "INSERT INTO tvm_device_vulns VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"

/* Inserts v, or (replace) replaces the stored row of its (package, CVE). */
static int vuln_write(struct db *db, const char *id, const struct device_os *os, const struct tvm_vuln *v,
                      bool replace)
{
        const char *sev = tvm_severity_name(v->severity), *rating = tvm_severity_name(tvm_vuln_severity(v));

        return db_exec_params(db, replace ? VULN_INSERT " ON CONFLICT (device_id, package, cve) DO UPDATE SET "
                                            "source = $4, installed_version = $5, fixed_version = $6, severity = $7, "
                                            "rating = $8, urgency = $9, cvss10 = $10, exploit_known = $11, "
                                            "advisory_id = $12, distro = $13, release = $14" : VULN_INSERT,
                              DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(v->cve, strlen(v->cve)),
                                        db_param_text(v->package, strlen(v->package)),
                                        db_param_text(v->source, strlen(v->source)),
                                        db_param_text(v->installed, strlen(v->installed)),
                                        v->fixed ? db_param_text(v->fixed, strlen(v->fixed)) : db_param_null(),
                                        db_param_text(sev, strlen(sev)), db_param_text(rating, strlen(rating)),
                                        db_param_text(v->urgency, strlen(v->urgency)),
                                        v->cvss >= 0 ? db_param_int64(cvss10(v->cvss)) : db_param_null(),
                                        db_param_int64(v->exploit_known),
                                        db_param_text(v->advisory_id, strlen(v->advisory_id)),
                                        db_param_text(os->distro, strlen(os->distro)),
                                        db_param_text(os->release, strlen(os->release))));
}

/* A hash of a row's fields besides its key, the same for a stored row
 * (texts as stored, cvss10 -1 for NULL) and for the vulnerability it was
 * written from. */
static uint64_t row_hash(const char *distro, const char *release, const char *source, const char *installed,
                         const char *fixed, const char *severity, const char *urgency, int64_t cvss, bool exploit,
                         const char *advisory_id)
{
        char num[32];
        uint64_t h = fnv(fnv(0xcbf29ce484222325ull, distro), release);

        snprintf(num, sizeof(num), "%lld %d", (long long)cvss, exploit);
        h = fnv(h, source);
        h = fnv(h, installed);
        h = fnv(h, fixed ? fixed : "\x01");
        h = fnv(h, severity);
        h = fnv(h, urgency);
        h = fnv(h, advisory_id);
        return fnv(h, num);
}

/* A stored row's key and hash. */
struct stored_row {
        char *package, *cve;
        uint64_t hash;
};

static void stored_rows_free(struct stored_row *rows, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(rows[i].package);
                free(rows[i].cve);
        }
        free(rows);
}

/* The device's stored rows in key order (package, CVE). db lock held. */
static int stored_rows_read(struct db *db, const char *id, struct stored_row **ret, size_t *ret_n)
{
        struct stored_row *rows = NULL;
        size_t n = 0, cap = 0;
        struct db_stmt *st;
        int r = db_prepare(db, "SELECT package, cve, source, installed_version, fixed_version, severity, urgency, "
                               "cvss10, exploit_known, advisory_id, distro, release FROM tvm_device_vulns "
                               "WHERE device_id = $1 ORDER BY package, cve", &st);

        if (r < 0)
                return r;
        db_bind_text(st, 1, id, strlen(id));
        while ((r = db_step(st)) == 1) {
                if (n == cap) {
                        struct stored_row *nr = realloc(rows, (cap ? 2 * cap : 256) * sizeof(*nr));
                        if (!nr) {
                                r = -ENOMEM;
                                break;
                        }
                        rows = nr;
                        cap = cap ? 2 * cap : 256;
                }
                rows[n].package = strdup(db_column_text(st, 0, NULL));
                rows[n].cve = strdup(db_column_text(st, 1, NULL));
                rows[n].hash = row_hash(db_column_text(st, 10, NULL), db_column_text(st, 11, NULL),
                                        db_column_text(st, 2, NULL), db_column_text(st, 3, NULL),
                                        db_column_text(st, 4, NULL), db_column_text(st, 5, NULL),
                                        db_column_text(st, 6, NULL),
                                        db_column_is_null(st, 7) ? -1 : db_column_int64(st, 7),
                                        db_column_int64(st, 8) != 0, db_column_text(st, 9, NULL));
                n++;
                if (!rows[n - 1].package || !rows[n - 1].cve) {
                        r = -ENOMEM;
                        break;
                }
        }
        db_stmt_done(st);
        if (r < 0) {
                stored_rows_free(rows, n);
                return r;
        }
        *ret = rows;
        *ret_n = n;
        return 0;
}

/* Brings the device's stored rows to l (sorted by package, CVE) writing only
 * the difference: rows gone deleted, rows new or changed upserted. */
static int rows_sync(struct db *db, const char *id, const struct device_os *os, const struct tvm_vuln_list *l)
{
        struct stored_row *rows;
        size_t n, i = 0, k = 0;
        int r = stored_rows_read(db, id, &rows, &n);

        if (r < 0)
                return r;
        while (r == 0 && (i < n || k < l->n)) {
                const struct tvm_vuln *v = k < l->n ? &l->v[k] : NULL;
                int c = i == n ? 1 : !v ? -1 : strcmp(rows[i].package, v->package);

                if (c == 0)
                        c = strcmp(rows[i].cve, v->cve);
                if (c < 0) {
                        r = db_exec_params(db, "DELETE FROM tvm_device_vulns WHERE device_id = $1 AND package = $2 "
                                               "AND cve = $3",
                                           DB_PARAMS(db_param_text(id, strlen(id)),
                                                     db_param_text(rows[i].package, strlen(rows[i].package)),
                                                     db_param_text(rows[i].cve, strlen(rows[i].cve))));
                        i++;
                        continue;
                }
                if (c > 0)
                        r = vuln_write(db, id, os, v, false);
                else if (rows[i].hash != row_hash(os->distro, os->release, v->source, v->installed, v->fixed,
                                                  tvm_severity_name(v->severity), v->urgency, cvss10(v->cvss),
                                                  v->exploit_known, v->advisory_id))
                        r = vuln_write(db, id, os, v, true);
                if (c == 0)
                        i++;
                k++;
        }
        stored_rows_free(rows, n);
        return r;
}

/* The stored level and signature of a device; level -1 if none. db lock held. */
static int stored_read(struct db *db, const char *id, int *ret_level, char sig[17])
{
        struct db_stmt *st;
        int r = db_prepare(db, "SELECT level, sig FROM tvm_device_exposure WHERE device_id = $1", &st);

        if (r < 0)
                return r;
        db_bind_text(st, 1, id, strlen(id));
        *ret_level = -1;
        sig[0] = '\0';
        r = db_step(st);
        if (r == 1) {
                *ret_level = level_parse(db_column_text(st, 0, NULL));
                snprintf(sig, 17, "%s", db_column_text(st, 1, NULL));
                r = 0;
        }
        db_stmt_done(st);
        return r;
}

static int results_clear(struct db *db, const char *id)
{
        int r = db_exec_params(db, "DELETE FROM tvm_device_vulns WHERE device_id = $1",
                               DB_PARAMS(db_param_text(id, strlen(id))));
        if (r == 0)
                r = db_exec_params(db, "DELETE FROM tvm_device_exposure WHERE device_id = $1",
                                   DB_PARAMS(db_param_text(id, strlen(id))));
        return r;
}

/* Stores x->vulns as the device's results unless they are what is stored
 * (old_level, old_sig). */
static int results_store(struct db *db, const char *id, const struct device_os *os, const struct scratch *x,
                         enum tvm_exposure level, int old_level, const char *old_sig)
{
        const char *name = tvm_exposure_name(level);
        char sig[17];
        int r;

        vulns_sig(os, &x->vulns, sig);
        if (old_level == (int)level && strcmp(sig, old_sig) == 0)
                return 0;
        r = rows_sync(db, id, os, &x->vulns);
        if (r == 0)
                r = db_exec_params(db, "INSERT INTO tvm_device_exposure VALUES ($1, $2, $3, $4, $5) "
                                   "ON CONFLICT (device_id) DO UPDATE SET level = $2, vulns = $3, sig = $4, "
                                   "computed_at = $5",
                                   DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(name, strlen(name)),
                                             db_param_int64((int64_t)x->vulns.n), db_param_text(sig, 16),
                                             db_param_int64(util_now())));
        return r;
}

static int device_os_read(struct db *db, const char *id, struct device_os *ret)
{
        struct db_stmt *st;
        int r = db_prepare(db, "SELECT os_name, os_version, inventory_at, offboarded_at FROM devices WHERE id = $1",
                           &st);

        if (r < 0)
                return r;
        memset(ret, 0, sizeof(*ret));
        db_bind_text(st, 1, id, strlen(id));
        r = db_step(st);
        if (r == 1) {
                size_t len;
                const char *release = db_column_text(st, 1, &len);
                bool onboarded = db_column_is_null(st, 3);

                ret->distro = tvm_distro_of(db_column_text(st, 0, NULL));
                ret->assessed = onboarded && ret->distro && !db_column_is_null(st, 2) && release &&
                                len > 0 && len <= RELEASE_MAX;
                if (ret->assessed)
                        memcpy(ret->release, release, len + 1);
                r = 0;
        }
        db_stmt_done(st);
        return r;
}

/* A device's level before and after, published once the batch is committed. */
struct change {
        char id[TVM_DEVICE_ID_MAX + 1];
        int from, to;                   /* -1: not assessed */
};

/* Recomputes one device in the open transaction into ch (its id set).
 * db lock held. */
static int device_recompute(struct vigild *d, const struct tvm_match_options *o, struct tvm_release_cache *c,
                            struct scratch *x, struct change *ch)
{
        const char *id = ch->id;
        struct tvm_advisories *a;
        struct device_os os;
        enum tvm_exposure level;
        char old_sig[17];
        int r = device_os_read(d->db, id, &os);

        if (r == 0)
                r = stored_read(d->db, id, &ch->from, old_sig);
        if (r < 0)
                return r;
        ch->to = -1;
        if (!os.assessed)
                return ch->from >= 0 ? results_clear(d->db, id) : 0;
        r = release_get(c, d->db, os.distro, os.release, o, &a);
        if (r == 0)
                r = packages_read(d->db, id, x);
        if (r == 0)
                r = tvm_match(a, x->pkgs, x->n_pkgs, &x->vulns);
        if (r == 0)
                r = tvm_exposure_compute(x->vulns.v, x->vulns.n, &level);
        if (r == 0)
                r = results_store(d->db, id, &os, x, level, ch->from, old_sig);
        if (r == 0)
                ch->to = (int)level;
        return r;
}

/* Sets the levels in memory and publishes each change. */
static void changes_publish(struct vigild *d, const struct change *ch, size_t n)
{
        struct tvm_results *s = d->tvm_results;

        for (size_t i = 0; i < n; i++) {
                struct bus_event ev = { .type = BUS_EXPOSURE_CHANGED, .device_id = ch[i].id };

                if (s) {
                        pthread_mutex_lock(&s->llock);
                        level_set(s, ch[i].id, ch[i].to);
                        pthread_mutex_unlock(&s->llock);
                }
                if (ch[i].from == ch[i].to)
                        continue;
                ev.exposure_changed.from = ch[i].from < 0 ? NULL : tvm_exposure_name((enum tvm_exposure)ch[i].from);
                ev.exposure_changed.to = ch[i].to < 0 ? NULL : tvm_exposure_name((enum tvm_exposure)ch[i].to);
                bus_publish(d->bus, &ev);
        }
}

/* Recomputes ids[0..n) in one transaction, then publishes. On failure,
 * nothing of the batch is kept and why says what went wrong. */
static int batch_recompute(struct vigild *d, char (*ids)[TVM_DEVICE_ID_MAX + 1], size_t n,
                           const struct tvm_match_options *o, struct tvm_release_cache *c, struct scratch *x,
                           char *why, size_t why_size)
{
        struct change ch[BATCH_MAX];
        size_t i = 0;
        int r;

        why[0] = '\0';
        db_lock(d->db);
        r = db_begin(d->db);
        for (; r == 0 && i < n; i++) {
                memcpy(ch[i].id, ids[i], sizeof(ch[i].id));
                r = device_recompute(d, o, c, x, &ch[i]);
        }
        /* the database's own words ("no such table: tvm_affected") say more than an errno */
        if (r < 0 && r != -ENOMEM && r != -E2BIG)
                snprintf(why, why_size, "%s", db_errmsg(d->db));
        r = db_finish(d->db, r);
        db_unlock(d->db);
        if (r < 0) {
                if (!why[0])
                        snprintf(why, why_size, "%s", strerror(-r));
                return r;
        }
        changes_publish(d, ch, n);
        return 0;
}

struct id_list {
        char (*ids)[TVM_DEVICE_ID_MAX + 1];
        size_t n, cap;
};

/* Appends id to l; returns 0 or -ENOMEM. */
static int id_add(struct id_list *l, const char *id)
{
        if (l->n == l->cap) {
                size_t cap = l->cap ? 2 * l->cap : 1024;
                void *ids = realloc(l->ids, cap * sizeof(*l->ids));

                if (!ids)
                        return -ENOMEM;
                l->ids = ids;
                l->cap = cap;
        }
        snprintf(l->ids[l->n++], TVM_DEVICE_ID_MAX + 1, "%s", id);
        return 0;
}

/* Every device, and every device with stored results (to clear those of
 * devices gone). db lock held. */
static int ids_all(struct db *db, struct id_list *l)
{
        struct db_stmt *st;
        int r = db_prepare(db, "SELECT id FROM devices UNION SELECT device_id FROM tvm_device_exposure", &st);

        if (r < 0)
                return r;
        while ((r = db_step(st)) == 1) {
                const char *id = db_column_text(st, 0, NULL);

                if (strlen(id) > TVM_DEVICE_ID_MAX)
                        continue;
                r = id_add(l, id);
                if (r < 0)
                        break;
        }
        db_stmt_done(st);
        return r;
}

/* Whether vigild asked the worker to stop (never, without a worker). */
static bool stopping(struct vigild *d)
{
        struct tvm_results *s = d->tvm_results;
        bool stop;

        if (!s)
                return false;
        pthread_mutex_lock(&s->qlock);
        stop = s->stop;
        pthread_mutex_unlock(&s->qlock);
        return stop;
}

/* Recomputes ids[0..n), BATCH_MAX devices a transaction. A batch that
 * fails is tried again one device at a time, so that a device whose results
 * cannot be computed or stored holds back no other: each such device is
 * logged and added to failed (when given; emptied if it cannot grow, to
 * mean every device). When every device of a batch
 * fails on its own, or the batch fails for the database itself (busy, full,
 * out of memory), the fault is not theirs: the rest are not tried, and they
 * go to failed too. Stops between two batches, returning
 * -ECANCELED, when vigild stops. Returns 0 or the first error. */
static int recompute_ids(struct vigild *d, char (*ids)[TVM_DEVICE_ID_MAX + 1], size_t n,
                         const struct tvm_match_options *o, struct tvm_release_cache *c, struct scratch *x,
                         struct id_list *failed)
{
        char why[BATCH_MAX][256];
        int first = 0;

        for (size_t i = 0; i < n; i += BATCH_MAX) {
                size_t m = n - i < BATCH_MAX ? n - i : BATCH_MAX, bad[BATCH_MAX], n_bad = 0;
                int r;

                if (stopping(d))
                        return -ECANCELED;
                r = batch_recompute(d, ids + i, m, o, c, x, why[0], sizeof(why[0]));
                if (r == 0)
                        continue;
                if (!first)
                        first = r;
                /* busy (after waiting for it), full or out of memory: the database's fault, not a
                 * device's, and trying each device would wait as long again for each */
                for (size_t k = 0; k < m; k++)
                        if (m == 1 || r == -EBUSY || r == -ENOSPC || r == -ENOMEM ||
                            batch_recompute(d, ids + i + k, 1, o, c, x, why[k], sizeof(why[k])) < 0)
                                bad[n_bad++] = k;
                if (n_bad == m && m > 1) {
                        log_error("tvm: cannot match or store the vulnerabilities of %zu devices: %s", n - i, why[0]);
                        for (size_t k = i; failed && k < n; k++)
                                if (id_add(failed, ids[k]) < 0) {
                                        failed->n = 0;  /* an empty list: every device again */
                                        break;
                                }
                        return first;
                }
                for (size_t k = 0; k < n_bad; k++) {
                        log_error("tvm: cannot match or store the vulnerabilities of device %s: %s", ids[i + bad[k]],
                                  why[bad[k]]);
                        if (failed && id_add(failed, ids[i + bad[k]]) < 0) {
                                failed->n = 0;
                                return first;
                        }
                }
        }
        return first;
}

/* tvm_results_recompute(), with the devices that failed added to failed. */
static int recompute(struct vigild *d, const char *device_id, const struct tvm_match_options *o,
                     struct tvm_release_cache *cache, struct scratch *x, struct id_list *failed)
{
        struct tvm_release_cache own = { 0 }, *c = cache ? cache : &own;
        struct id_list l = { 0 };
        int r = 0;

        if (device_id) {
                if (strlen(device_id) > TVM_DEVICE_ID_MAX)
                        return -ENOENT;
                r = id_add(&l, device_id);
        } else {
                db_lock(d->db);
                r = ids_all(d->db, &l);
                db_unlock(d->db);
        }
        if (r == 0)
                r = recompute_ids(d, l.ids, l.n, o, c, x, failed);
        free(l.ids);
        tvm_release_cache_clear(&own);
        return r;
}

int tvm_results_recompute(struct vigild *d, const char *device_id, const struct tvm_match_options *o,
                          struct tvm_release_cache *cache)
{
        struct scratch x;
        int r;

        scratch_init(&x);
        r = recompute(d, device_id, o, cache, &x, NULL);
        scratch_release(&x);
        return r;
}

/* ---- the worker ---- */

/* Queues one device, or every device (device_id NULL). qlock held. */
static void queue_put(struct tvm_results *s, const char *device_id)
{
        if (!device_id || s->q_len == QUEUE_MAX) {
                s->q_all = true;
                s->q_len = 0;
        } else if (!s->q_all) {
                bool dup = false;

                for (size_t i = 0; i < s->q_len && !dup; i++)
                        dup = strcmp(s->queue[i], device_id) == 0;
                if (!dup)
                        snprintf(s->queue[s->q_len++], TVM_DEVICE_ID_MAX + 1, "%s", device_id);
        }
}

void tvm_results_queue(struct vigild *d, const char *device_id)
{
        struct tvm_results *s = d->tvm_results;

        if (!s || (device_id && strnlen(device_id, TVM_DEVICE_ID_MAX + 1) > TVM_DEVICE_ID_MAX))
                return;
        pthread_mutex_lock(&s->qlock);
        queue_put(s, device_id);
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->qlock);
}

static void on_device_event(const struct bus_event *ev, void *userdata)
{
        if (ev->device_id)
                tvm_results_queue(userdata, ev->device_id);
}

/* The advisories changed: the worker drops its indexes and recomputes all. */
static void on_advisories_changed(const struct bus_event *ev, void *userdata)
{
        (void)ev;
        tvm_results_queue(userdata, NULL);
}

/* Takes what is queued: every device (*ret_all), or up to BATCH_MAX ids. qlock held. */
static size_t queue_take(struct tvm_results *s, char (*ids)[TVM_DEVICE_ID_MAX + 1], bool *ret_all)
{
        size_t n = s->q_len < BATCH_MAX ? s->q_len : BATCH_MAX;

        *ret_all = s->q_all;
        if (s->q_all) {
                s->q_all = false;
                s->q_len = 0;
                return 0;
        }
        memcpy(ids, s->queue, n * sizeof(*ids));
        memmove(s->queue, s->queue + n, (s->q_len - n) * sizeof(*s->queue));
        s->q_len -= n;
        return n;
}

/* The devices whose recompute failed, tried again at a time of their own
 * so that they hold back no other device. Worker only. */
struct retry {
        struct id_list ids;
        bool all;                       /* every device (the list could not be kept) */
        int64_t at, wait;               /* when; the wait, doubled at each failure */
};

/* Keeps the devices of failed (every device if its list is incomplete) to
 * try again after the next wait. */
static void retry_add(struct retry *rt, const struct id_list *failed, bool complete)
{
        for (size_t i = 0; complete && !rt->all && i < failed->n; i++) {
                bool dup = false;

                for (size_t k = 0; k < rt->ids.n && !dup; k++)
                        dup = strcmp(rt->ids.ids[k], failed->ids[i]) == 0;
                if (!dup && (rt->ids.n == QUEUE_MAX || id_add(&rt->ids, failed->ids[i]) < 0))
                        rt->all = true;
        }
        if (!complete)
                rt->all = true;
        rt->wait = rt->wait ? (2 * rt->wait < RETRY_MAX_S ? 2 * rt->wait : RETRY_MAX_S) : RETRY_S;
        rt->at = util_now() + rt->wait;
}

static void *worker_main(void *arg)
{
        struct tvm_results *s = arg;
        struct tvm_release_cache *cache = tvm_release_cache_new();
        char (*ids)[TVM_DEVICE_ID_MAX + 1] = calloc(BATCH_MAX, sizeof(*ids));
        struct scratch x;
        struct id_list failed = { 0 };
        struct retry rt = { 0 };

        scratch_init(&x);
        if (!cache || !ids) {
                log_error("tvm: out of memory: vulnerabilities are not computed");
                goto out;
        }
        pthread_mutex_lock(&s->qlock);
        while (!s->stop) {
                bool all, retried = false;
                size_t n;
                int r;

                if ((rt.all || rt.ids.n) && rt.at <= util_now()) {
                        for (size_t i = 0; i < rt.ids.n; i++)
                                queue_put(s, rt.ids.ids[i]);
                        if (rt.all)
                                queue_put(s, NULL);
                        rt.ids.n = 0;
                        rt.all = false;
                        retried = true;
                }
                if (!s->q_len && !s->q_all) {
                        struct timespec ts = { .tv_sec = rt.all || rt.ids.n ? rt.at : util_now() + 3600 };

                        pthread_cond_timedwait(&s->wake, &s->qlock, &ts);
                        continue;
                }
                n = queue_take(s, ids, &all);
                pthread_mutex_unlock(&s->qlock);
                failed.n = 0;
                if (all) {
                        /* every device: the advisories or the options may have changed */
                        tvm_release_cache_clear(cache);
                        r = recompute(s->d, NULL, &s->opts, cache, &x, &failed);
                } else {
                        r = recompute_ids(s->d, ids, n, &s->opts, cache, &x, &failed);
                }
                pthread_mutex_lock(&s->qlock);
                if (r == -ECANCELED)
                        continue;
                /* what failed is not kept: again later, every device if the
                 * list of those that failed is incomplete (out of memory) */
                if (r < 0) {
                        retry_add(&rt, &failed, failed.n > 0);
                } else if (all) {
                        /* every device done: those waiting to be tried again too */
                        rt.ids.n = 0;
                        rt.all = false;
                        rt.wait = 0;
                } else if (retried) {
                        rt.wait = 0;
                }
        }
        pthread_mutex_unlock(&s->qlock);
out:
        scratch_release(&x);
        free(failed.ids);
        free(rt.ids.ids);
        free(ids);
        tvm_release_cache_free(cache);
        return NULL;
}

/* Loads the stored levels into memory. db lock held. */
static int levels_load(struct tvm_results *s)
{
        struct db_stmt *st;
        int r = db_prepare(s->d->db, "SELECT device_id, level FROM tvm_device_exposure", &st);

        if (r < 0)
                return r;
        while ((r = db_step(st)) == 1)
                level_set(s, db_column_text(st, 0, NULL), level_parse(db_column_text(st, 1, NULL)));
        db_stmt_done(st);
        return r;
}

/* The device's exposure level as JSON: its name, or null when none is known. */
static json_t *exposure_json(struct vigild *d, const char *device_id)
{
        enum tvm_exposure e;

        return tvm_device_exposure_get(d, device_id, &e) == 0 ? json_string(tvm_exposure_name(e)) : json_null();
}

static void device_json(struct vigild *d, const char *device_id, json_t *device, bool detail)
{
        (void)detail;
        json_object_set_new(device, "exposure_level", exposure_json(d, device_id));
}

static int subscribe(struct vigild *d)
{
        int r = bus_subscribe(d->bus, BUS_INVENTORY_CHANGED, on_device_event, d);

        if (r == 0)
                r = bus_subscribe(d->bus, BUS_DEVICE_OFFBOARDED, on_device_event, d);
        if (r == 0)
                r = bus_subscribe(d->bus, BUS_ADVISORIES_CHANGED, on_advisories_changed, d);
        if (r == 0)
                r = enroll_device_json_hook_add(d, device_json);
        return r;
}

int tvm_results_start(struct vigild *d, char *err, size_t err_size)
{
        struct tvm_results *s = calloc(1, sizeof(*s));
        int r;

        if (!s || !(s->queue = calloc(QUEUE_MAX, sizeof(*s->queue)))) {
                free(s);
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        s->d = d;
        s->opts = (struct tvm_match_options){ d->cfg.tvm_count_open, d->cfg.tvm_count_undetermined };
        pthread_mutex_init(&s->llock, NULL);
        pthread_mutex_init(&s->qlock, NULL);
        pthread_cond_init(&s->wake, NULL);
        d->tvm_results = s;
        db_lock(d->db);
        r = levels_load(s);
        db_unlock(d->db);
        if (r < 0) {
                snprintf(err, err_size, "cannot load the devices' exposure levels: %s", db_errmsg(d->db));
                return r;
        }
        r = subscribe(d);
        if (r < 0) {
                snprintf(err, err_size, "cannot subscribe to the event bus: %s", strerror(-r));
                return r;
        }
        s->q_all = true;
        r = -pthread_create(&s->thread, NULL, worker_main, s);
        if (r < 0) {
                snprintf(err, err_size, "cannot start the vulnerability matcher: %s", strerror(-r));
                return r;
        }
        s->running = true;
        return 0;
}

void tvm_results_stop(struct vigild *d)
{
        struct tvm_results *s = d->tvm_results;

        if (!s || !s->running)
                return;
        pthread_mutex_lock(&s->qlock);
        s->stop = true;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->qlock);
        pthread_join(s->thread, NULL);
        s->running = false;
}

void tvm_results_close(struct vigild *d)
{
        struct tvm_results *s = d->tvm_results;

        if (!s)
                return;
        tvm_results_stop(d);
        d->tvm_results = NULL;
        pthread_mutex_destroy(&s->llock);
        pthread_mutex_destroy(&s->qlock);
        pthread_cond_destroy(&s->wake);
        free(s->levels);
        free(s->queue);
        free(s);
}

/* ---- the API ---- */

#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX 1000
#define QUERY_TEXT_MAX 128              /* bytes of a device or CVE filter */

#define VULN_COLUMNS "device_id, cve, package, source, installed_version, fixed_version, severity, rating, " \
                     "urgency, cvss10, exploit_known, advisory_id, distro, release"

static json_t *vuln_row_json(struct db_stmt *st)
{
        return json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:s,s:s,s:o,s:b,s:s,s:s,s:s}",
                         "device_id", db_column_text(st, 0, NULL), "cve", db_column_text(st, 1, NULL),
                         "package", db_column_text(st, 2, NULL), "source", db_column_text(st, 3, NULL),
                         "installed_version", db_column_text(st, 4, NULL),
                         "fixed_version", db_column_is_null(st, 5) ? json_null() : json_string(db_column_text(st, 5, NULL)),
                         "severity", db_column_text(st, 6, NULL), "rating", db_column_text(st, 7, NULL),
                         "urgency", db_column_text(st, 8, NULL),
                         "cvss", db_column_is_null(st, 9) ? json_null() : json_real((double)db_column_int64(st, 9) / 10.0),
                         "exploit_known", db_column_int64(st, 10) != 0, "advisory_id", db_column_text(st, 11, NULL),
                         "distro", db_column_text(st, 12, NULL), "release", db_column_text(st, 13, NULL));
}

#define LIST_WHERE " WHERE ($1 IS NULL OR device_id = $1) AND ($2 IS NULL OR cve = $2) AND ($3 IS NULL OR rating = $3)"

static void list_bind(struct db_stmt *st, const char *const q[3])
{
        for (int i = 0; i < 3; i++)
                db_bind_text(st, i + 1, q[i], q[i] ? strlen(q[i]) : 0);
}

/* GET /api/v1/tvm/vulnerabilities?device=&cve=&severity=&limit=&offset= */
static void handle_list(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *q[3] = { http_request_query(req, "device"), http_request_query(req, "cve"),
                             http_request_query(req, "severity") };
        enum tvm_severity sev;
        uint64_t limit, offset;
        struct db_stmt *st;
        int64_t total = 0;
        json_t *arr;
        int r;

        if ((q[0] && !util_str_is_text(q[0], QUERY_TEXT_MAX)) || (q[1] && !util_str_is_text(q[1], QUERY_TEXT_MAX))) {
                http_reply_error(rep, 400, "invalid_query", "'device' and 'cve' must be at most %d bytes of text",
                                 QUERY_TEXT_MAX);
                return;
        }
        if (q[2] && tvm_severity_parse(q[2], &sev) < 0) {
                http_reply_error(rep, 400, "invalid_query", "'severity' must be unknown, low, medium, high or critical");
                return;
        }
        if (http_request_paging(req, LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, &limit, &offset, rep) < 0)
                return;
        arr = json_array();
        db_lock(d->db);
        r = db_prepare(d->db, "SELECT count(*) FROM tvm_device_vulns" LIST_WHERE, &st);
        if (r == 0) {
                list_bind(st, q);
                r = db_step(st);
                total = db_column_int64(st, 0);
                db_stmt_done(st);
        }
        if (r >= 0)
                r = db_prepare(d->db, "SELECT " VULN_COLUMNS " FROM tvm_device_vulns" LIST_WHERE
                                      " ORDER BY device_id, package, cve LIMIT $4 OFFSET $5", &st);
        if (r >= 0) {
                list_bind(st, q);
                db_bind_int64(st, 4, (int64_t)limit);
                db_bind_int64(st, 5, (int64_t)offset);
                while ((r = db_step(st)) == 1)
                        json_array_append_new(arr, vuln_row_json(st));
                db_stmt_done(st);
        }
        db_unlock(d->db);
        if (r < 0)
                http_reply_list_failed(rep, arr, "list vulnerabilities");
        else
                http_reply_page(rep, arr, total, offset);
}

/* GET /api/v1/devices/{id}/vulnerabilities: all of them, with the level. */
static void handle_device(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0];
        json_t *arr;

        if (!enroll_device_exists(d, id)) {
                http_reply_error(rep, 404, "device_not_found", "no device with id '%s'", id);
                return;
        }
        if (tvm_device_rows(d, id, "SELECT " VULN_COLUMNS " FROM tvm_device_vulns WHERE device_id = $1 "
                                   "ORDER BY package, cve", vuln_row_json, &arr) < 0) {
                http_reply_list_failed(rep, NULL, "read the device's vulnerabilities");
                return;
        }
        http_reply_json(rep, 200, json_pack("{s:s,s:o,s:I,s:o}", "device_id", id, "exposure_level",
                                            exposure_json(d, id),
                                            "count", (json_int_t)json_array_size(arr), "value", arr));
}

/* ---- recommendations ---- */

/* One recommendation: a source package on one release. */
struct rec {
        char source[TVM_REC_SOURCE_MAX + 1], distro[8], release[RELEASE_MAX + 1];
        char fixed[DPKGVER_MAX + 1];    /* "": no fix */
        int64_t devices, cves, fixable, fixable_high, open, exploit, impact;
};

struct rec_list {
        struct rec *v;
        size_t n, cap;
};

/* rank: the rating as 0 (unknown) .. 4 (critical) */
static int64_t rating_weight(int64_t rank)
{
        static const int64_t w[] = { 2, 1, 2, 5, 10 };

        return rank >= 0 && rank <= 4 ? w[rank] : 2;
}

/* The devices of one recommendation, counted once each: a set of hashes of
 * their ids (random UUIDs, so that a collision, which would undercount by
 * one, is as unlikely as two equal ids). */
struct device_set {
        uint64_t *h;
        size_t n, cap;
};

static void device_set_clear(struct device_set *ds)
{
        if (ds->h)
                memset(ds->h, 0, ds->cap * sizeof(*ds->h));
        ds->n = 0;
}

static void device_set_put(struct device_set *ds, uint64_t h)
{
        size_t i;

        for (i = h & (ds->cap - 1); ds->h[i] && ds->h[i] != h; i = (i + 1) & (ds->cap - 1))
                ;
        if (!ds->h[i]) {
                ds->h[i] = h;
                ds->n++;
        }
}

/* Adds id; returns 0 or -ENOMEM. */
static int device_set_add(struct device_set *ds, const char *id)
{
        if ((ds->n + 1) * 2 > ds->cap) {
                size_t cap = ds->cap ? 2 * ds->cap : 1024;
                struct device_set bigger = { calloc(cap, sizeof(uint64_t)), 0, cap };

                if (!bigger.h)
                        return -ENOMEM;
                for (size_t k = 0; k < ds->cap; k++)
                        if (ds->h[k])
                                device_set_put(&bigger, ds->h[k]);
                free(ds->h);
                *ds = bigger;
        }
        device_set_put(ds, util_str_hash(id) | 1);      /* 0 marks a free slot */
        return 0;
}

/* Whether r is the group of the row: columns 0..2 of st. */
static bool same_group(const struct rec *r, struct db_stmt *st)
{
        return strcmp(r->source, db_column_text(st, 0, NULL)) == 0 &&
               strcmp(r->distro, db_column_text(st, 1, NULL)) == 0 &&
               strcmp(r->release, db_column_text(st, 2, NULL)) == 0;
}

/* The CVE being read within a group. */
struct cve_acc {
        char cve[64];
        char device[TVM_DEVICE_ID_MAX + 1];     /* the last device counted */
        int64_t devices, rank;
        bool fixed, exploit;
};

static void cve_fold(struct rec *e, const struct cve_acc *c)
{
        if (!c->cve[0])
                return;
        e->cves++;
        e->exploit += c->exploit;
        if (!c->fixed) {
                e->open++;
                return;
        }
        e->fixable++;
        e->fixable_high += c->rank >= 3;
        e->impact += c->devices * (rating_weight(c->rank) + (c->exploit ? 10 : 0));
}

static struct rec *rec_add(struct rec_list *l, struct db_stmt *st)
{
        struct rec *e;

        if (l->n == l->cap) {
                size_t cap = l->cap ? 2 * l->cap : 256;
                struct rec *v = realloc(l->v, cap * sizeof(*v));
                if (!v)
                        return NULL;
                l->v = v;
                l->cap = cap;
        }
        e = memset(&l->v[l->n++], 0, sizeof(struct rec));
        snprintf(e->source, sizeof(e->source), "%s", db_column_text(st, 0, NULL));
        snprintf(e->distro, sizeof(e->distro), "%s", db_column_text(st, 1, NULL));
        snprintf(e->release, sizeof(e->release), "%s", db_column_text(st, 2, NULL));
        return e;
}

/* Folds one row (source, distro, release, cve, device_id, fixed_version,
 * rating, exploit_known) into the recommendation e and the CVE c. */
static int row_fold(struct rec *e, struct cve_acc *c, struct device_set *ds, struct db_stmt *st)
{
        static const char *const ranks[] = { "unknown", "low", "medium", "high", "critical" };
        const char *cve = db_column_text(st, 3, NULL), *dev = db_column_text(st, 4, NULL);
        const char *fixed = db_column_text(st, 5, NULL), *rating = db_column_text(st, 6, NULL);

        if (strncmp(c->cve, cve, sizeof(c->cve)) != 0) {
                cve_fold(e, c);
                memset(c, 0, sizeof(*c));
                snprintf(c->cve, sizeof(c->cve), "%s", cve);
        }
        /* a CVE's rows come by device: a CVE on several binaries of one device counts it once */
        if (strncmp(c->device, dev, sizeof(c->device)) != 0) {
                c->devices++;
                snprintf(c->device, sizeof(c->device), "%s", dev);
        }
        c->fixed |= fixed != NULL;
        c->exploit |= db_column_int64(st, 7) != 0;
        for (int64_t k = 0; k < 5; k++)
                if (strcmp(rating, ranks[k]) == 0 && k > c->rank)
                        c->rank = k;
        if (fixed && strlen(fixed) <= DPKGVER_MAX && (!e->fixed[0] || dpkgver_compare(fixed, e->fixed) > 0))
                snprintf(e->fixed, sizeof(e->fixed), "%s", fixed);
        return device_set_add(ds, dev);
}

/* One scan in the order of the source index builds every recommendation. */
static int recs_read(struct db *db, const char *source, struct rec_list *l)
{
        struct device_set ds = { 0 };
        struct cve_acc c = { 0 };
        struct rec *e = NULL;
        struct db_stmt *st;
        int r = db_prepare(db, "SELECT source, distro, release, cve, device_id, fixed_version, rating, exploit_known "
                               "FROM tvm_device_vulns WHERE ($1 IS NULL OR source = $1) "
                               "ORDER BY source, distro, release, cve, device_id", &st);

        if (r < 0)
                return r;
        db_bind_text(st, 1, source, source ? strlen(source) : 0);
        while ((r = db_step(st)) == 1) {
                if (!e || !same_group(e, st)) {
                        if (e) {
                                cve_fold(e, &c);
                                e->devices = (int64_t)ds.n;
                        }
                        memset(&c, 0, sizeof(c));
                        device_set_clear(&ds);
                        e = rec_add(l, st);
                        if (!e) {
                                r = -ENOMEM;
                                break;
                        }
                }
                r = row_fold(e, &c, &ds, st);
                if (r < 0)
                        break;
        }
        db_stmt_done(st);
        if (r == 0 && e) {
                cve_fold(e, &c);
                e->devices = (int64_t)ds.n;
        }
        free(ds.h);
        return r;
}

static json_t *rec_json(const struct rec *r)
{
        const char *os = strcmp(r->distro, "debian") == 0 ? "Debian" : strcmp(r->distro, "ubuntu") == 0 ? "Ubuntu"
                                                                                                       : r->distro;
        char text[640];

        if (r->fixed[0])
                snprintf(text, sizeof(text), "upgrade %s to %s or later (%s %s) — affects %lld device%s, fixes %lld "
                         "CVE%s (%lld high)", r->source, r->fixed, os, r->release, (long long)r->devices,
                         r->devices == 1 ? "" : "s", (long long)r->fixable, r->fixable == 1 ? "" : "s",
                         (long long)r->fixable_high);
        else
                snprintf(text, sizeof(text), "no fix yet for %s (%s %s) — affects %lld device%s, %lld CVE%s open",
                         r->source, os, r->release, (long long)r->devices, r->devices == 1 ? "" : "s",
                         (long long)r->open, r->open == 1 ? "" : "s");
        return json_pack("{s:s,s:s,s:s,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s}", "package", r->source,
                         "distro", r->distro, "release", r->release,
                         "fixed_version", r->fixed[0] ? json_string(r->fixed) : json_null(),
                         "devices", (json_int_t)r->devices, "cves", (json_int_t)r->cves,
                         "fixes_cves", (json_int_t)r->fixable, "fixes_high", (json_int_t)r->fixable_high,
                         "open_cves", (json_int_t)r->open, "exploited_cves", (json_int_t)r->exploit,
                         "impact", (json_int_t)r->impact, "text", text);
}

static int rec_order(const void *pa, const void *pb)
{
        const struct rec *a = pa, *b = pb;
        int c;

        if (a->impact != b->impact)
                return a->impact > b->impact ? -1 : 1;
        if (a->devices != b->devices)
                return a->devices > b->devices ? -1 : 1;
        c = strcmp(a->source, b->source);
        if (c == 0)
                c = strcmp(a->distro, b->distro);
        return c ? c : strcmp(a->release, b->release);
}

int tvm_recommendations(struct vigild *d, const char *source, json_t **ret)
{
        struct rec_list l = { 0 };
        json_t *out = NULL;
        int r = recs_read(d->db, source, &l);

        if (r == 0) {
                if (l.n)        /* v is NULL without recommendations */
                        qsort(l.v, l.n, sizeof(*l.v), rec_order);
                out = json_array();
                for (size_t i = 0; out && i < l.n; i++)
                        if (json_array_append_new(out, rec_json(&l.v[i])) < 0)
                                r = -ENOMEM;
                if (!out)
                        r = -ENOMEM;
        }
        free(l.v);
        if (r < 0) {
                json_decref(out);
                return r;
        }
        *ret = out;
        return 0;
}

/* GET /api/v1/tvm/recommendations[?package=] */
static void handle_recommendations(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *pkg = http_request_query(req, "package");
        json_t *arr;
        int r;

        if (pkg && !util_str_is_text(pkg, TVM_REC_SOURCE_MAX)) {
                http_reply_error(rep, 400, "invalid_query", "'package' must be at most %d bytes of text",
                                 TVM_REC_SOURCE_MAX);
                return;
        }
        db_lock(d->db);
        r = tvm_recommendations(d, pkg, &arr);
        db_unlock(d->db);
        if (r < 0) {
                http_reply_failed(rep, r, "compute the recommendations");
                return;
        }
        http_reply_values(rep, arr);
}

const struct http_route tvm_results_routes[] = {
        { "GET", "/api/v1/tvm/vulnerabilities", HTTP_AUTH_ADMIN, ROLES_ANY, handle_list, 0 },
        { "GET", "/api/v1/devices/{id}/vulnerabilities", HTTP_AUTH_ADMIN, ROLES_ANY, handle_device, 0 },
        { "GET", "/api/v1/tvm/recommendations", HTTP_AUTH_ADMIN, ROLES_ANY, handle_recommendations, 0 },
        { 0 },
};
