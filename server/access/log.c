/* access log: every decision of the endpoint, kept in the database without
 * slowing the endpoint down.
 *
 * Each endpoint worker owns a single-producer ring of records; it copies a
 * decision in and moves on (a full ring drops the record and counts it,
 * never waits). One writer thread drains every ring each 100 ms; decisions
 * of one drain that are alike in everything but their time (a client
 * polling, a page's many requests for one resource) become one row with
 * their count and first and last time; rows go out in transactions of at
 * most WRITE_BATCH. Rows past the retention are pruned. A row names the policies whose result was not
 * "not applied" by id; the policy set of the snapshot that decided (every
 * policy's id, name and state) is stored once per distinct set, so the API
 * can give every policy's result. Owns the tables access_log and
 * access_log_policy_sets (migration track "access_log"). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "server/access/access-internal.h"
#include "server/db/db.h"
#include "server/enroll/enroll.h"
#include "server/log.h"
#include "server/vigild.h"
#include "util/strutil.h"

#define DRAIN_MS 100
#define WRITE_BATCH 2000                /* rows per transaction: the database lock is released between */
#define WRITE_INDEX 4096                /* a power of two above 2 * WRITE_BATCH */
#define PRUNE_EVERY_MS (10 * 60 * 1000)
#define PRUNE_BATCH 10000
#define SETS_KEPT 64                    /* policy sets of recent snapshots */
#define RESULTS_TEXT_MAX (ACCESS_POLICIES_MAX * 40)

static const struct db_migration access_log_migrations[] = {
        { 1, "CREATE TABLE access_log_policy_sets ("
             "  id INTEGER PRIMARY KEY,"
             "  policies TEXT NOT NULL);"
             "CREATE TABLE access_log ("
             "  id INTEGER PRIMARY KEY,"
             "  time_ms INTEGER NOT NULL,"
             "  last_time_ms INTEGER NOT NULL,"
             "  count INTEGER NOT NULL,"
             "  policy_set INTEGER,"
             "  method TEXT NOT NULL,"
             "  host TEXT NOT NULL,"
             "  path TEXT NOT NULL,"
             "  client_ip TEXT NOT NULL,"
             "  user TEXT NOT NULL,"
             "  user_id TEXT NOT NULL,"
             "  device_id TEXT NOT NULL,"
             "  status INTEGER NOT NULL,"
             "  reason TEXT NOT NULL,"
             "  results TEXT NOT NULL);"
             "CREATE INDEX access_log_device ON access_log(device_id, time_ms);" },
};

struct access_log_more {
        size_t n;
        struct access_log_pair v[];
};

struct queue {
        _Atomic uint32_t head;          /* written by the worker */
        char pad1[60];
        _Atomic uint32_t tail;          /* written by the writer */
        char pad2[60];
        uint32_t mask;
        struct access_log_record *v;
        /* the worker's own: the decision it queued last, to count repeats */
        bool have_last;
        uint32_t last_seq;
        struct access_log_record last;  /* its more is not kept: last_pairs has every pair */
        struct access_log_pair *last_pairs;
        size_t last_n;
};

struct set {
        uint64_t gen;                   /* 0: unused */
        char *json;
        char (*ids)[37];
        size_t n;
        int64_t row;                    /* access_log_policy_sets.id once stored, else 0 */
};

struct access_log {
        struct access *a;
        struct db *db;                  /* DATA_DIR/access-log.db: its own file and lock */
        struct queue q[ACCESS_WORKERS_MAX];
        unsigned n_queues;
        _Atomic uint64_t dropped;
        uint64_t dropped_reported;
        pthread_mutex_t lock;           /* guards stop */
        pthread_cond_t cond;
        bool stop;
        pthread_t thread;
        bool started;
        pthread_mutex_t sets_lock;      /* guards sets */
        struct set sets[SETS_KEPT];
        size_t next_set;
        int64_t last_row;               /* the policy set row stored last, and its text */
        char *last_json;
        int64_t last_prune_ms;
};


static void set_clear(struct set *s)
{
        free(s->json);
        free(s->ids);
        memset(s, 0, sizeof(*s));
}

void access_log_policy_set(struct access *a, const struct access_snapshot *snap)
{
        struct access_log *l = a->log;
        struct set next = { .gen = snap->gen };

        if (!l)
                return;
        next.json = strdup(snap->policy_set);
        next.ids = snap->n_policies ? calloc(snap->n_policies, sizeof(*next.ids)) : NULL;
        if (!next.json || (snap->n_policies && !next.ids)) {
                /* rows of this snapshot are written without naming their policies */
                log_error("access log: out of memory keeping the policy set of snapshot %llu",
                          (unsigned long long)snap->gen);
                set_clear(&next);
                return;
        }
        for (size_t i = 0; i < snap->n_policies; i++)
                memcpy(next.ids[i], snap->pinfo[i].id, sizeof(next.ids[i]));
        next.n = snap->n_policies;
        pthread_mutex_lock(&l->sets_lock);
        set_clear(&l->sets[l->next_set]);
        l->sets[l->next_set] = next;
        l->next_set = (l->next_set + 1) % SETS_KEPT;
        pthread_mutex_unlock(&l->sets_lock);
}

/* True if two decisions are alike in everything but their time (pairs
 * compared by the caller). */
static bool fields_same(const struct access_log_record *a, const struct access_log_record *b)
{
        return a->snapshot_gen == b->snapshot_gen && a->status == b->status && strcmp(a->method, b->method) == 0 &&
               strcmp(a->host, b->host) == 0 && strcmp(a->path, b->path) == 0 &&
               strcmp(a->client_ip, b->client_ip) == 0 && strcmp(a->user, b->user) == 0 &&
               strcmp(a->user_id, b->user_id) == 0 && strcmp(a->device_id, b->device_id) == 0 &&
               strcmp(a->reason, b->reason) == 0;
}

/* Counts rec as a repeat of the worker's last queued decision if it is one
 * and the writer has not taken that yet. */
static bool repeat(struct queue *q, const struct access_log_record *rec, const struct access_log_pair *pairs,
                   size_t n)
{
        struct access_log_record *slot;
        uint32_t v;

        if (!q->have_last || q->last_n != n || !fields_same(&q->last, rec) ||
            (n && memcmp(q->last_pairs, pairs, n * sizeof(*pairs)) != 0))
                return false;
        slot = &q->v[q->last_seq & q->mask];
        v = atomic_load_explicit(&slot->repeats, memory_order_relaxed);
        while (!(v & ACCESS_LOG_CLOSED) && v < ACCESS_LOG_CLOSED - 1) {
                if (atomic_compare_exchange_weak_explicit(&slot->repeats, &v, v + 1, memory_order_release,
                                                          memory_order_relaxed)) {
                        atomic_store_explicit(&slot->last_ms, rec->time_ms, memory_order_relaxed);
                        return true;
                }
        }
        return false;
}

void access_log_push(struct access *a, unsigned worker, struct access_log_record *rec,
                     const struct access_snapshot *s, const enum access_result *results)
{
        struct access_log *l = a->log;
        struct access_log_pair pairs[ACCESS_POLICIES_MAX];
        struct access_log_record *slot;
        struct queue *q;
        uint32_t h, t;
        size_t n = 0;

        if (!l || worker >= l->n_queues)
                return;
        q = &l->q[worker];
        for (size_t i = 0; results && i < s->n_policies && n < ACCESS_POLICIES_MAX; i++) {
                if (results[i] == ACCESS_RESULT_NOT_APPLIED || results[i] == ACCESS_RESULT_REPORT_ONLY_NOT_APPLIED)
                        continue;
                pairs[n].policy = (uint16_t)i;
                pairs[n++].result = (uint8_t)results[i];
        }
        if (repeat(q, rec, pairs, n))
                return;
        h = atomic_load_explicit(&q->head, memory_order_relaxed);
        t = atomic_load_explicit(&q->tail, memory_order_acquire);
        if (h - t > q->mask) {
                atomic_fetch_add_explicit(&l->dropped, 1, memory_order_relaxed);
                return;
        }
        slot = &q->v[h & q->mask];
        memcpy(slot, rec, offsetof(struct access_log_record, n_results));
        slot->n_results = (uint16_t)(n < ACCESS_LOG_INLINE ? n : ACCESS_LOG_INLINE);
        memcpy(slot->results, pairs, slot->n_results * sizeof(*pairs));
        slot->more = NULL;
        if (n > ACCESS_LOG_INLINE) {
                slot->more = malloc(sizeof(*slot->more) + (n - ACCESS_LOG_INLINE) * sizeof(*pairs));
                if (slot->more) {
                        slot->more->n = n - ACCESS_LOG_INLINE;
                        memcpy(slot->more->v, pairs + ACCESS_LOG_INLINE, slot->more->n * sizeof(*pairs));
                }
                /* without memory the row lists the first ACCESS_LOG_INLINE */
        }
        atomic_store_explicit(&slot->repeats, 0, memory_order_relaxed);
        atomic_store_explicit(&slot->last_ms, rec->time_ms, memory_order_relaxed);
        atomic_store_explicit(&q->head, h + 1, memory_order_release);
        memcpy(&q->last, rec, offsetof(struct access_log_record, n_results));
        memcpy(q->last_pairs, pairs, n * sizeof(*pairs));
        q->last_n = n;
        q->last_seq = h;
        q->have_last = true;
}

/* The set of snapshot gen, stored as a row if it is not yet. sets_lock and
 * the database lock held. NULL when no longer kept. */
static struct set *set_for(struct access_log *l, uint64_t gen)
{

        for (size_t i = 0; i < SETS_KEPT; i++) {
                struct set *s = &l->sets[i];
                if (s->gen != gen)
                        continue;
                if (s->row)
                        return s;
                if (l->last_json && strcmp(l->last_json, s->json) == 0) {
                        s->row = l->last_row;
                        return s;
                }
                if (db_exec_params(l->db, "INSERT INTO access_log_policy_sets (policies) VALUES ($1)",
                                   DB_PARAMS(db_param_text(s->json, strlen(s->json)))) < 0)
                        return s;       /* written without a set; the row's results still name the policies */
                struct db_stmt *st;
                if (db_prepare(l->db, "SELECT last_insert_rowid()", &st) == 0) {
                        if (db_step(st) == 1)
                                s->row = db_column_int64(st, 0);
                        db_stmt_done(st);
                }
                free(l->last_json);
                l->last_json = strdup(s->json);
                l->last_row = l->last_json ? s->row : 0;
                return s;
        }
        return NULL;
}

static void results_text(const struct access_log_record *r, const struct set *set, char *out, size_t size)
{
        size_t o = 0;
        size_t n = r->n_results + (r->more ? r->more->n : 0);

        out[0] = '\0';
        for (size_t i = 0; i < n && o < size; i++) {
                uint16_t p = i < r->n_results ? r->results[i].policy : r->more->v[i - r->n_results].policy;
                uint8_t res = i < r->n_results ? r->results[i].result : r->more->v[i - r->n_results].result;
                int k = snprintf(out + o, size - o, "%s%s:%s", o ? "," : "",
                                 set && p < set->n ? set->ids[p] : "unknown", access_result_name(res));
                if (k < 0 || (size_t)k >= size - o) {
                        out[o] = '\0';
                        break;
                }
                o += (size_t)k;
        }
}

/* The length of the well-formed UTF-8 sequence at p (no overlong form,
 * no surrogate, at most U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p)
{
        uint32_t cp, min;
        size_t n;

        if (p[0] < 0x80)
                return 1;
        if (p[0] >= 0xc2 && p[0] <= 0xdf)
                n = 2;
        else if ((p[0] & 0xf0) == 0xe0)
                n = 3;
        else if (p[0] >= 0xf0 && p[0] <= 0xf4)
                n = 4;
        else
                return 0;
        cp = p[0] & (0x7fu >> n);
        min = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80)      /* the NUL that ends s too */
                        return 0;
                cp = cp << 6 | (p[i] & 0x3fu);
        }
        return cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? 0 : n;
}

void access_utf8_scrub(char *s)
{
        unsigned char *p = (unsigned char *)s;

        while (*p) {
                size_t n = utf8_len(p);
                if (n == 0)
                        *p++ = '?';
                else
                        p += n;
        }
}

/* Makes every text of a record valid UTF-8 (see access_utf8_scrub()). */
static void record_scrub(struct access_log_record *rec)
{
        access_utf8_scrub(rec->method);
        access_utf8_scrub(rec->host);
        access_utf8_scrub(rec->path);
        access_utf8_scrub(rec->client_ip);
        access_utf8_scrub(rec->user);
        access_utf8_scrub(rec->user_id);
        access_utf8_scrub(rec->device_id);
        access_utf8_scrub(rec->reason);
}

/* Decisions alike but for their time, taken together. */
struct agg {
        struct access_log_record rec;   /* the first; owns its more */
        int64_t last_ms;
        uint64_t count;
        uint64_t hash;
};

/* The writer's working memory. */
struct writer {
        struct agg *v;
        size_t n;
        uint32_t *index;                /* open addressing over v: i + 1 */
        char *text;
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
        const unsigned char *s = p;

        for (size_t i = 0; i < n; i++)
                h = (h ^ s[i]) * 1099511628211ull;
        return h;
}

static uint64_t mix_str(uint64_t h, const char *s)
{
        return mix(h, s, strlen(s) + 1);
}

static size_t results_count(const struct access_log_record *r)
{
        return r->n_results + (r->more ? r->more->n : 0);
}

static void result_at(const struct access_log_record *r, size_t i, uint16_t *policy, uint8_t *result)
{
        if (i < r->n_results) {
                *policy = r->results[i].policy;
                *result = r->results[i].result;
        } else {
                *policy = r->more->v[i - r->n_results].policy;
                *result = r->more->v[i - r->n_results].result;
        }
}

/* Hashes everything of a record but its time. */
static uint64_t record_hash(const struct access_log_record *r)
{
        uint64_t h = 1469598103934665603ull;

        h = mix(h, &r->snapshot_gen, sizeof(r->snapshot_gen));
        h = mix(h, &r->status, sizeof(r->status));
        h = mix_str(h, r->method);
        h = mix_str(h, r->host);
        h = mix_str(h, r->path);
        h = mix_str(h, r->client_ip);
        h = mix_str(h, r->user);
        h = mix_str(h, r->user_id);
        h = mix_str(h, r->device_id);
        h = mix_str(h, r->reason);
        for (size_t i = 0, n = results_count(r); i < n; i++) {
                uint16_t p;
                uint8_t res;
                result_at(r, i, &p, &res);
                h = mix(h, &p, sizeof(p));
                h = mix(h, &res, sizeof(res));
        }
        return h;
}

static bool record_same(const struct access_log_record *a, const struct access_log_record *b)
{
        size_t n = results_count(a);

        if (n != results_count(b) || !fields_same(a, b))
                return false;
        for (size_t i = 0; i < n; i++) {
                uint16_t pa, pb;
                uint8_t ra, rb;
                result_at(a, i, &pa, &ra);
                result_at(b, i, &pb, &rb);
                if (pa != pb || ra != rb)
                        return false;
        }
        return true;
}

/* Writes the rows gathered in w in one transaction and empties w. */
static void write_rows(struct access_log *l, struct writer *w)
{
        struct db_stmt *st;
        uint64_t decisions = 0;
        int r;

        if (w->n == 0)
                return;
        pthread_mutex_lock(&l->sets_lock);
        db_lock(l->db);
        r = db_begin(l->db);
        for (size_t i = 0; r == 0 && i < w->n; i++) {
                const struct agg *g = &w->v[i];
                const struct access_log_record *rec = &g->rec;
                struct set *set = set_for(l, rec->snapshot_gen);
                results_text(rec, set, w->text, RESULTS_TEXT_MAX);
                r = db_prepare(l->db, "INSERT INTO access_log (time_ms, last_time_ms, count, policy_set, method, "
                                      "host, path, client_ip, user, user_id, device_id, status, reason, results) "
                                      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                               &st);
                if (r < 0)
                        break;
                db_bind_int64(st, 1, rec->time_ms);
                db_bind_int64(st, 2, g->last_ms);
                db_bind_int64(st, 3, (int64_t)g->count);
                if (set && set->row)
                        db_bind_int64(st, 4, set->row);
                else
                        db_bind_null(st, 4);
                db_bind_text(st, 5, rec->method, strlen(rec->method));
                db_bind_text(st, 6, rec->host, strlen(rec->host));
                db_bind_text(st, 7, rec->path, strlen(rec->path));
                db_bind_text(st, 8, rec->client_ip, strlen(rec->client_ip));
                db_bind_text(st, 9, rec->user, strlen(rec->user));
                db_bind_text(st, 10, rec->user_id, strlen(rec->user_id));
                db_bind_text(st, 11, rec->device_id, strlen(rec->device_id));
                db_bind_int64(st, 12, rec->status);
                db_bind_text(st, 13, rec->reason, strlen(rec->reason));
                db_bind_text(st, 14, w->text, strlen(w->text));
                r = db_step(st);
                db_stmt_done(st);
        }
        r = db_finish(l->db, r < 0 ? r : 0);
        db_unlock(l->db);
        pthread_mutex_unlock(&l->sets_lock);
        for (size_t i = 0; i < w->n; i++) {
                decisions += w->v[i].count;
                free(w->v[i].rec.more);
                w->v[i].rec.more = NULL;
        }
        if (r < 0) {
                /* dropped, not retried: a broken database must not stop the endpoint */
                log_error("access log: cannot write %llu decisions: %s", (unsigned long long)decisions,
                          db_errmsg(l->db));
                atomic_fetch_add(&l->dropped, decisions);
        }
        memset(w->index, 0, WRITE_INDEX * sizeof(*w->index));
        w->n = 0;
}

/* Takes one queued record into w: counted with an alike one, or a new row
 * (writing w first when it is full). The record's more moves to w or is
 * freed. */
static void take(struct access_log *l, struct writer *w, struct access_log_record *rec)
{
        record_scrub(rec);
        uint64_t h = record_hash(rec);
        /* closing it first: the worker counts no more repeats here */
        uint64_t count = 1 + atomic_exchange_explicit(&rec->repeats, ACCESS_LOG_CLOSED, memory_order_acq_rel);
        int64_t last = atomic_load_explicit(&rec->last_ms, memory_order_relaxed);
        size_t p;

        if (last < rec->time_ms)
                last = rec->time_ms;

        for (p = h & (WRITE_INDEX - 1); w->index[p]; p = (p + 1) & (WRITE_INDEX - 1)) {
                struct agg *g = &w->v[w->index[p] - 1];
                if (g->hash == h && record_same(&g->rec, rec)) {
                        g->count += count;
                        if (last > g->last_ms)
                                g->last_ms = last;
                        free(rec->more);
                        rec->more = NULL;
                        return;
                }
        }
        if (w->n == WRITE_BATCH) {
                write_rows(l, w);
                p = h & (WRITE_INDEX - 1);
        }
        struct agg *g = &w->v[w->n];
        memcpy(&g->rec, rec, sizeof(*rec));
        rec->more = NULL;
        g->last_ms = last;
        g->count = count;
        g->hash = h;
        w->index[p] = (uint32_t)++w->n;
}

/* Takes every record queued now and writes them. */
static void drain_all(struct access_log *l, struct writer *w)
{
        for (unsigned i = 0; i < l->n_queues; i++) {
                struct queue *q = &l->q[i];
                uint32_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
                uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
                for (; t != h; t++)
                        take(l, w, &q->v[t & q->mask]);
                atomic_store_explicit(&q->tail, t, memory_order_release);
        }
        write_rows(l, w);
        uint64_t dropped = atomic_load(&l->dropped);
        if (dropped != l->dropped_reported) {
                log_warn("access log: %llu decisions not logged since start (the queue was full or the "
                         "database refused them)",
                         (unsigned long long)dropped);
                l->dropped_reported = dropped;
        }
}

static void prune(struct access_log *l)
{
        struct vigild *d = l->a->d;
        int64_t cutoff = (util_now() - d->cfg.access_log_retention) * 1000, removed;

        do {
                db_lock(l->db);
                int r = db_exec_params(l->db,
                                       "DELETE FROM access_log WHERE id IN "
                                       "(SELECT id FROM access_log WHERE time_ms < $1 ORDER BY id LIMIT $2)",
                                       DB_PARAMS(db_param_int64(cutoff), db_param_int64(PRUNE_BATCH)));
                removed = r == 0 ? db_changes(l->db) : 0;
                if (r < 0)
                        log_error("access log: cannot remove rows past the retention: %s", db_errmsg(l->db));
                db_unlock(l->db);
        } while (removed == PRUNE_BATCH);
}

static void *writer_main(void *arg)
{
        struct access_log *l = arg;
        struct writer w = { .v = malloc(WRITE_BATCH * sizeof(*w.v)), .index = calloc(WRITE_INDEX, sizeof(*w.index)),
                            .text = malloc(RESULTS_TEXT_MAX) };
        bool stop = false;

        if (!w.v || !w.index || !w.text) {
                log_error("access log: out of memory: decisions are not logged");
                free(w.v);
                free(w.index);
                free(w.text);
                return NULL;
        }
        while (!stop) {
                struct timespec until = util_deadline(CLOCK_REALTIME, DRAIN_MS);
                pthread_mutex_lock(&l->lock);
                if (!l->stop)
                        pthread_cond_timedwait(&l->cond, &l->lock, &until);
                stop = l->stop;
                pthread_mutex_unlock(&l->lock);
                drain_all(l, &w);
                if (util_mono_ms() - l->last_prune_ms >= PRUNE_EVERY_MS) {
                        prune(l);
                        l->last_prune_ms = util_mono_ms();
                }
        }
        free(w.v);
        free(w.index);
        free(w.text);
        return NULL;
}

/* Opens (creating it if need be) and migrates the log's own database. */
static int log_db_open(struct access_log *l, char *err, size_t err_size)
{
        char path[4200];
        int r;

        r = util_path_join(path, sizeof(path), l->a->d->data_dir, ACCESS_LOG_DB_FILE);
        if (r == 0)
                r = db_open(path, &l->db);
        if (r < 0) {
                snprintf(err, err_size, "cannot open %s: %s", path, strerror(-r));
                return r;
        }
        r = db_migrate_locked(l->db, "access_log", access_log_migrations,
                              sizeof(access_log_migrations) / sizeof(access_log_migrations[0]));
        if (r < 0)
                snprintf(err, err_size, "%s: %s", path, db_errmsg(l->db));
        return r;
}

int access_log_start(struct access *a, unsigned n_workers, char *err, size_t err_size)
{
        struct access_log *l = calloc(1, sizeof(*l));
        uint32_t cap = 64;
        int r;

        if (!l || n_workers == 0 || n_workers > ACCESS_WORKERS_MAX) {
                free(l);
                snprintf(err, err_size, l ? "bad number of workers" : "out of memory");
                return l ? -EINVAL : -ENOMEM;
        }
        while (cap < a->d->cfg.access_log_max / n_workers)
                cap *= 2;
        l->a = a;
        l->n_queues = n_workers;
        a->log = l;
        pthread_mutex_init(&l->lock, NULL);
        pthread_cond_init(&l->cond, NULL);
        pthread_mutex_init(&l->sets_lock, NULL);
        r = log_db_open(l, err, err_size);
        if (r < 0) {
                access_log_stop(a);
                return r;
        }
        l->last_prune_ms = util_mono_ms() - PRUNE_EVERY_MS;
        for (unsigned i = 0; i < n_workers; i++) {
                l->q[i].mask = cap - 1;
                l->q[i].v = calloc(cap, sizeof(*l->q[i].v));
                l->q[i].last_pairs = calloc(ACCESS_POLICIES_MAX, sizeof(*l->q[i].last_pairs));
                if (!l->q[i].v || !l->q[i].last_pairs) {
                        snprintf(err, err_size, "out of memory for the access log's queues (%u records)", cap);
                        access_log_stop(a);
                        return -ENOMEM;
                }
        }
        r = pthread_create(&l->thread, NULL, writer_main, l);
        if (r == 0)
                pthread_setname_np(l->thread, "access-log");
        if (r != 0) {
                snprintf(err, err_size, "cannot start the access log's writer: %s", strerror(r));
                access_log_stop(a);
                return -r;
        }
        l->started = true;
        return 0;
}

void access_log_stop(struct access *a)
{
        struct access_log *l = a->log;

        if (!l)
                return;
        if (l->started) {
                pthread_mutex_lock(&l->lock);
                l->stop = true;
                pthread_cond_broadcast(&l->cond);
                pthread_mutex_unlock(&l->lock);
                pthread_join(l->thread, NULL);
        }
        for (unsigned i = 0; i < l->n_queues; i++) {
                if (l->q[i].v) {
                        for (uint32_t k = 0; k <= l->q[i].mask; k++)
                                free(l->q[i].v[k].more);
                        free(l->q[i].v);
                }
                free(l->q[i].last_pairs);
        }
        for (size_t i = 0; i < SETS_KEPT; i++)
                set_clear(&l->sets[i]);
        free(l->last_json);
        db_close(l->db);
        pthread_mutex_destroy(&l->lock);
        pthread_cond_destroy(&l->cond);
        pthread_mutex_destroy(&l->sets_lock);
        free(l);
        a->log = NULL;
}

/* ---- GET /api/v1/access/log ---- */

/* The policies of a row: those its results name, or with all every policy
 * of its set (the rest not applied). */
static json_t *policies_json(const char *results, const char *set_text, bool all)
{
        json_t *set = set_text ? json_loads(set_text, 0, NULL) : NULL;
        json_t *out = json_array(), *named = json_object();
        const char *p = results;

        while (p && *p) {
                const char *comma = strchr(p, ','), *colon = memchr(p, ':', comma ? (size_t)(comma - p) : strlen(p));
                size_t len = comma ? (size_t)(comma - p) : strlen(p);
                if (colon) {
                        char id[64], res[32];
                        snprintf(id, sizeof(id), "%.*s", (int)(colon - p), p);
                        snprintf(res, sizeof(res), "%.*s", (int)(p + len - colon - 1), colon + 1);
                        json_object_set_new(named, id, json_string(res));
                }
                p = comma ? comma + 1 : NULL;
        }
        size_t i;
        json_t *e;
        json_array_foreach(set, i, e) {
                const char *id = json_string_value(json_object_get(e, "id"));
                const char *state = json_string_value(json_object_get(e, "state"));
                json_t *res = id ? json_object_get(named, id) : NULL;
                if (!res && !all)
                        continue;
                json_array_append_new(out, json_pack("{s:O, s:O, s:O, s:s}", "id", json_object_get(e, "id"), "name",
                                                     json_object_get(e, "name"), "state", json_object_get(e, "state"),
                                                     "result",
                                                     res ? json_string_value(res)
                                                         : (state && strcmp(state, "report_only") == 0
                                                                    ? "report_only_not_applied"
                                                                    : "not_applied")));
                if (res)
                        json_object_del(named, id);
        }
        /* policies the set no longer names */
        const char *key;
        json_t *v;
        json_object_foreach(named, key, v)
                json_array_append_new(out, json_pack("{s:s, s:n, s:n, s:O}", "id", key, "name", "state", "result", v));
        json_decref(named);
        json_decref(set);
        return out;
}

static int query_time(const struct http_request *req, const char *name, int64_t *ret, struct http_reply *rep)
{
        const char *v = http_request_query(req, name);

        if (v && util_time_ms_parse(v, ret) < 0) {
                http_reply_error(rep, 400, "invalid_query",
                                 "%s: expected a time such as 2026-11-30T09:00:00Z or 2026-11-30T09:00:00.481Z", name);
                return -EINVAL;
        }
        return 0;
}

void access_handle_log(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *user = http_request_query(req, "user"), *device = http_request_query(req, "device");
        const char *app = http_request_query(req, "app"), *status = http_request_query(req, "status");
        const char *result = http_request_query(req, "result"), *policy = http_request_query(req, "policy");
        const char *which = http_request_query(req, "policies");
        int64_t since = INT64_MIN, until = INT64_MAX, total = 0;
        uint64_t limit, offset, st_v = 0;
        struct db_stmt *st;
        char where[512], like[80];
        json_t *arr;
        int r;

        if (http_request_paging(req, 100, 1000, &limit, &offset, rep) < 0 ||
            query_time(req, "since", &since, rep) < 0 || query_time(req, "until", &until, rep) < 0)
                return;
        if (status && (util_uint_parse(status, 999, &st_v) < 0 || (st_v != 200 && st_v != 401 && st_v != 403))) {
                http_reply_error(rep, 400, "invalid_query", "status: expected 200, 401 or 403");
                return;
        }
        if (result && strcmp(result, "allow") != 0 && strcmp(result, "deny") != 0) {
                http_reply_error(rep, 400, "invalid_query", "result: expected allow or deny");
                return;
        }
        if (which && strcmp(which, "applied") != 0 && strcmp(which, "all") != 0) {
                http_reply_error(rep, 400, "invalid_query", "policies: expected applied or all");
                return;
        }
        if (policy && (strlen(policy) > 36 || strspn(policy, "0123456789abcdef-") != strlen(policy))) {
                http_reply_error(rep, 400, "invalid_query", "policy: expected a policy id");
                return;
        }
        if ((user && strlen(user) > ACCESS_ID_MAX) || (device && strlen(device) > 36) ||
            (app && strlen(app) > ACCESS_HOST_MAX)) {
                http_reply_error(rep, 400, "invalid_query", "user, device or app is too long");
                return;
        }
        snprintf(like, sizeof(like), "%%%s:%%", policy ? policy : "");
        /* every filter is bound; an absent one is a NULL that matches everything */
        snprintf(where, sizeof(where),
                 "WHERE ($1 IS NULL OR l.user = $1 COLLATE NOCASE OR l.user_id = $1) "
                 "AND ($2 IS NULL OR l.device_id = $2) AND ($3 IS NULL OR l.host = $3 COLLATE NOCASE) "
                 "AND ($4 IS NULL OR l.status = $4) AND ($5 IS NULL OR ($5 = 'allow') = (l.status = 200)) "
                 "AND ($6 IS NULL OR l.results LIKE $6) AND l.time_ms >= $7 AND l.time_ms <= $8");
        struct db_param params[8] = {
                user ? db_param_text(user, strlen(user)) : db_param_null(),
                device ? db_param_text(device, strlen(device)) : db_param_null(),
                app ? db_param_text(app, strlen(app)) : db_param_null(),
                status ? db_param_int64((int64_t)st_v) : db_param_null(),
                result ? db_param_text(result, strlen(result)) : db_param_null(),
                policy ? db_param_text(like, strlen(like)) : db_param_null(),
                db_param_int64(since),
                db_param_int64(until),
        };
        char sql[1024];
        struct access_log *l = d->access ? d->access->log : NULL;
        struct access_snapshot *snap;

        if (!l) {
                http_reply_error(rep, 503, "access_unavailable", "conditional access is not running");
                return;
        }
        snap = access_snapshot_get(d->access);
        arr = json_array();
        db_lock(l->db);
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM access_log l %s", where);
        r = db_prepare(l->db, sql, &st);
        if (r == 0) {
                r = db_bind_params(st, params, 8);
                if (r == 0 && (r = db_step(st)) == 1) {
                        total = db_column_int64(st, 0);
                        r = 0;
                }
                db_stmt_done(st);
        }
        snprintf(sql, sizeof(sql),
                 "SELECT l.id, l.time_ms, l.method, l.host, l.path, l.client_ip, l.user, l.user_id, l.device_id, "
                 "l.status, l.reason, l.results, s.policies, l.count, l.last_time_ms FROM access_log l "
                 "LEFT JOIN access_log_policy_sets s ON s.id = l.policy_set %s ORDER BY l.id DESC "
                 "LIMIT %llu OFFSET %llu",
                 where, (unsigned long long)limit, (unsigned long long)offset);
        if (r == 0)
                r = db_prepare(l->db, sql, &st);
        if (r == 0 && (r = db_bind_params(st, params, 8)) < 0)
                db_stmt_done(st);
        if (r == 0) {
                while ((r = db_step(st)) == 1) {
                        char ms[32], last[32];
                        util_time_ms_format(db_column_int64(st, 1), ms);
                        util_time_ms_format(db_column_int64(st, 14), last);
                        /* the device's name as the live snapshot knows it */
                        const struct access_snap_device *dv =
                                snap && db_column_text(st, 8, NULL)[0]
                                        ? access_snap_device_by_id(snap, db_column_text(st, 8, NULL))
                                        : NULL;
                        const char *dev = db_column_text(st, 8, NULL), *uid = db_column_text(st, 7, NULL);
                        const char *usr = db_column_text(st, 6, NULL), *ip = db_column_text(st, 5, NULL);
                        json_t *row = json_pack(
                                "{s:I, s:s, s:s, s:s, s:s, s:s+, s:o, s:o, s:o, s:o, s:o, s:I, s:s, s:s, s:o}", "id",
                                (json_int_t)db_column_int64(st, 0), "time", ms, "method", db_column_text(st, 2, NULL),
                                "host", db_column_text(st, 3, NULL), "path", db_column_text(st, 4, NULL),
                                "application", db_column_text(st, 3, NULL), db_column_text(st, 4, NULL),
                                "client_ip", *ip ? json_string(ip) : json_null(), "user",
                                *usr ? json_string(usr) : json_null(), "user_id",
                                *uid ? json_string(uid) : json_null(), "device_id",
                                *dev ? json_string(dev) : json_null(), "device_name",
                                dv ? json_string(dv->facts.name) : json_null(),
                                "status", (json_int_t)db_column_int64(st, 9), "result",
                                db_column_int64(st, 9) == 200 ? "allow" : "deny", "reason",
                                db_column_text(st, 10, NULL), "policies",
                                policies_json(db_column_text(st, 11, NULL),
                                              db_column_is_null(st, 12) ? NULL : db_column_text(st, 12, NULL),
                                              which && strcmp(which, "all") == 0));
                        json_object_set_new(row, "count", json_integer(db_column_int64(st, 13)));
                        json_object_set_new(row, "last_time", json_string(last));
                        json_array_append_new(arr, row);
                }
                db_stmt_done(st);
        }
        db_unlock(l->db);
        access_snapshot_put(snap);
        if (r < 0) {
                http_reply_list_failed(rep, arr, "read the access log");
                return;
        }
        http_reply_page(rep, arr, total, offset);
        json_object_set_new(rep->json, "not_logged",
                            json_integer(d->access && d->access->log
                                                 ? (json_int_t)atomic_load(&d->access->log->dropped)
                                                 : 0));
}
