/* tvm feeds: the advisory tables, the transactional import of a parsed
 * feed, its API (POST /api/v1/tvm/import, GET /api/v1/tvm/feeds) and the
 * thread that re-imports the configured feeds on a schedule. See feeds.h. */
#include "server/tvm/feeds.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/bus.h"
#include "server/db/db.h"
#include "server/log.h"
#include "server/vigild.h"
#include "util/strutil.h"
#include "util/vbuf.h"

#define IMPORTS_KEPT 1000               /* rows of tvm_feed_imports kept */
#define IMPORTS_LIMIT_DEFAULT 100
#define IMPORTS_LIMIT_MAX 1000
#define FETCH_TIMEOUT_S 600             /* a whole download */
#define FETCH_CONNECT_TIMEOUT_S 30
#define INTERVAL_WAIT_MAX (100LL * 365 * 86400)       /* a longer tvm_feed_interval waits this long */

static const struct db_migration feed_migrations[] = {
        { 1,
          "CREATE TABLE tvm_affected ("
          "  feed TEXT NOT NULL,"
          "  advisory_id TEXT NOT NULL,"
          "  cve TEXT NOT NULL,"
          "  distro TEXT NOT NULL,"
          "  release TEXT NOT NULL,"
          "  source_package TEXT NOT NULL,"
          "  introduced TEXT NOT NULL,"
          "  fixed TEXT,"
          "  status TEXT NOT NULL,"
          "  severity TEXT NOT NULL,"
          "  urgency TEXT NOT NULL,"
          "  cvss REAL,"
          "  exploit_known INTEGER NOT NULL DEFAULT 0,"
          "  summary TEXT NOT NULL DEFAULT '',"
          "  modified TEXT NOT NULL DEFAULT '',"
          "  origin TEXT NOT NULL DEFAULT '',"
          "  last_affected TEXT);"
          "CREATE INDEX tvm_affected_pkg ON tvm_affected(distro, release, source_package);"
          "CREATE INDEX tvm_affected_origin ON tvm_affected(feed, origin);"
          "CREATE TABLE tvm_feed_imports ("
          "  id INTEGER PRIMARY KEY,"
          "  feed TEXT NOT NULL,"
          "  origin TEXT NOT NULL,"
          "  started INTEGER NOT NULL,"
          "  finished INTEGER NOT NULL,"
          "  records INTEGER NOT NULL DEFAULT 0,"
          "  rows INTEGER NOT NULL DEFAULT 0,"
          "  skipped INTEGER NOT NULL DEFAULT 0,"
          "  status TEXT NOT NULL,"
          "  error TEXT NOT NULL DEFAULT '');" },
};

/* The scheduled re-import. */
struct tvm_feeds {
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        bool running;
        atomic_bool stop;
        int n;
        char paths[TVM_FEED_PATHS_MAX][TVM_ORIGIN_MAX + 1];
};

int tvm_feed_migrate(struct vigild *d)
{
        return db_migrate_locked(d->db, "tvm_feed", feed_migrations,
                                 sizeof(feed_migrations) / sizeof(feed_migrations[0]));
}

/* Records an import; the lock is held. */
static int import_record(struct vigild *d, const char *feed, const char *origin, int64_t started, size_t records,
                         size_t rows, size_t skipped, const char *error, int64_t *ret_id)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, "INSERT INTO tvm_feed_imports "
                              "(feed, origin, started, finished, records, rows, skipped, status, error) "
                              "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id", &st);
        if (r < 0)
                return r;
        r = db_bind_params(st, DB_PARAMS(db_param_text(feed, strlen(feed)), db_param_text(origin, strlen(origin)),
                                         db_param_int64(started), db_param_int64(util_now()),
                                         db_param_int64((int64_t)records), db_param_int64((int64_t)rows),
                                         db_param_int64((int64_t)skipped),
                                         db_param_text(error ? "failed" : "ok", error ? 6 : 2),
                                         db_param_text(error ? error : "", error ? strlen(error) : 0)));
        if (r == 0)
                r = db_step(st);
        if (r == 1) {
                *ret_id = db_column_int64(st, 0);
                r = 0;
        } else if (r == 0) {
                r = -EIO;
        }
        db_stmt_done(st);
        if (r == 0)
                r = db_exec_params(d->db, "DELETE FROM tvm_feed_imports WHERE id <= $1",
                                   DB_PARAMS(db_param_int64(*ret_id - IMPORTS_KEPT)));
        return r;
}

void tvm_feed_record_failure(struct vigild *d, enum tvm_feed_kind kind, const char *origin, int64_t started,
                             const char *error)
{
        int64_t id;
        int r;

        db_lock(d->db);
        r = db_begin(d->db);
        if (r == 0)
                r = db_finish(d->db, import_record(d, tvm_feed_kind_name(kind), origin, started, 0, 0, 0, error, &id));
        if (r < 0)
                log_warn("tvm: cannot record the failed import of '%s': %s", origin, db_errmsg(d->db));
        db_unlock(d->db);
}

/* Binds a text or NULL. */
static int bind_opt(struct db_stmt *st, int n, const char *s)
{
        return s ? db_bind_text(st, n, s, strlen(s)) : db_bind_null(st, n);
}

/* Inserts the feed's rows; the lock is held inside a transaction. */
static int rows_insert(struct vigild *d, const struct tvm_feed *f, const char *feed, const char *origin)
{
        struct db_stmt *st;
        int r;

        r = db_exec_params(d->db, "DELETE FROM tvm_affected WHERE feed = $1 AND origin = $2",
                           DB_PARAMS(db_param_text(feed, strlen(feed)), db_param_text(origin, strlen(origin))));
        if (r < 0)
                return r;
        r = db_prepare(d->db, "INSERT INTO tvm_affected (feed, origin, advisory_id, cve, distro, release, "
                              "source_package, introduced, fixed, last_affected, status, severity, urgency, cvss, "
                              "exploit_known, summary, modified) "
                              "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                       &st);
        if (r < 0)
                return r;
        for (size_t i = 0; i < f->n_rows && r >= 0; i++) {
                const struct tvm_row *w = &f->rows[i];
                const char *texts[] = { feed, origin, w->advisory_id, w->cve, w->distro, w->release,
                                        w->source_package, w->introduced };
                for (size_t k = 0; k < sizeof(texts) / sizeof(texts[0]) && r >= 0; k++)
                        r = db_bind_text(st, (int)k + 1, texts[k], strlen(texts[k]));
                if (r >= 0)
                        r = bind_opt(st, 9, w->fixed);
                if (r >= 0)
                        r = bind_opt(st, 10, w->last_affected);
                if (r >= 0)
                        r = db_bind_text(st, 11, w->status, strlen(w->status));
                if (r >= 0)
                        r = db_bind_text(st, 12, w->severity, strlen(w->severity));
                if (r >= 0)
                        r = db_bind_text(st, 13, w->urgency, strlen(w->urgency));
                /* the db layer binds no doubles: a score in text takes the
                 * column's REAL type (SQLite's affinity, PostgreSQL's inference) */
                if (r >= 0 && w->has_cvss) {
                        char score[8];
                        int n = snprintf(score, sizeof(score), "%.1f", w->cvss);
                        r = db_bind_text(st, 14, score, (size_t)n);
                } else if (r >= 0) {
                        r = db_bind_null(st, 14);
                }
                if (r >= 0)
                        r = db_bind_int64(st, 15, w->exploit_known);
                if (r >= 0)
                        r = db_bind_text(st, 16, w->summary, strlen(w->summary));
                if (r >= 0)
                        r = db_bind_text(st, 17, w->modified, strlen(w->modified));
                if (r >= 0)
                        r = db_step(st);
                db_stmt_reset(st);
        }
        db_stmt_done(st);
        return r < 0 ? r : 0;
}

int tvm_feed_store(struct vigild *d, const struct tvm_feed *f, const char *origin, int64_t started,
                   struct tvm_import_result *ret, char *err, size_t err_size)
{
        const char *feed = tvm_feed_kind_name(f->kind);
        struct bus_event ev = { .type = BUS_ADVISORIES_CHANGED };
        int64_t id = 0, t0, store_ms;
        int r;

        db_lock(d->db);
        t0 = util_mono_ms();
        r = db_begin(d->db);
        if (r == 0) {
                r = rows_insert(d, f, feed, origin);
                if (r == 0)
                        r = import_record(d, feed, origin, started, f->records, f->n_rows, f->skipped, NULL, &id);
                r = db_finish(d->db, r);
        }
        if (r < 0)
                snprintf(err, err_size, "cannot store the feed's rows: %s", db_errmsg(d->db));
        store_ms = util_mono_ms() - t0;
        db_unlock(d->db);
        if (r < 0) {
                tvm_feed_record_failure(d, f->kind, origin, started, err);
                return r;
        }
        bus_publish(d->bus, &ev);
        *ret = (struct tvm_import_result){ .id = id, .records = f->records, .rows = f->n_rows,
                                           .skipped = f->skipped, .store_ms = store_ms };
        return 0;
}

static json_t *result_json(const char *feed, const char *origin, const struct tvm_import_result *res)
{
        return json_pack("{s:I,s:s,s:s,s:I,s:I,s:I,s:s}", "id", (json_int_t)res->id, "feed", feed, "origin", origin,
                         "records", (json_int_t)res->records, "rows", (json_int_t)res->rows, "skipped",
                         (json_int_t)res->skipped, "status", "ok");
}

/* POST /api/v1/tvm/import?feed=osv|debian-tracker|auto&origin=NAME: the body
 * is the feed document or a zip of OSV records. */
static void handle_import(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *feed = http_request_query(req, "feed"), *origin = http_request_query(req, "origin");
        enum tvm_feed_kind kind = TVM_FEED_AUTO;
        struct tvm_import_result res;
        int64_t started = util_now(), t0 = util_mono_ms();
        struct tvm_feed *f = NULL;
        char err[512];
        int r;

        if (feed && tvm_feed_kind_parse(feed, &kind) < 0) {
                http_reply_error(rep, 400, "invalid_query", "'feed' must be osv, debian-tracker or auto");
                return;
        }
        if (!origin)
                origin = "upload";
        if (!*origin || !util_str_is_text(origin, TVM_ORIGIN_MAX)) {
                http_reply_error(rep, 400, "invalid_query", "'origin' must be 1 to %d bytes without control "
                                 "characters", TVM_ORIGIN_MAX);
                return;
        }
        if (req->body_len == 0) {
                http_reply_error(rep, 400, "invalid_feed", "the body must be the feed: an OSV record, a zip of "
                                 "OSV records or the Debian security tracker's JSON");
                return;
        }
        r = tvm_feed_parse(req->body, req->body_len, kind, &f, err, sizeof(err));
        if (r == -ENOMEM) {
                http_reply_failed(rep, r, "parse the feed");
                return;
        }
        if (r < 0) {
                tvm_feed_record_failure(d, kind, origin, started, err);
                log_warn("tvm: refused the feed '%s' (%s, token %s): %s", origin, tvm_feed_kind_name(kind),
                         req->who->token_id, err);
                http_reply_error(rep, 400, "invalid_feed", "%s; nothing was changed", err);
                return;
        }
        r = tvm_feed_store(d, f, origin, started, &res, err, sizeof(err));
        if (r < 0) {
                http_reply_failed(rep, r, "store the feed");
        } else {
                log_info("tvm: imported the %s feed '%s': %zu records, %zu rows, %zu skipped in %lld ms "
                         "(stored in %lld ms)", tvm_feed_kind_name(f->kind), origin, res.records, res.rows,
                         res.skipped, (long long)(util_mono_ms() - t0), (long long)res.store_ms);
                http_reply_json(rep, 200, result_json(tvm_feed_kind_name(f->kind), origin, &res));
        }
        tvm_feed_free(f);
}

/* Reads a page of imports, newest first, into arr; lock held. */
static int imports_read(struct vigild *d, uint64_t limit, uint64_t offset, json_t *arr, int64_t *ret_total)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, "SELECT COUNT(*) FROM tvm_feed_imports", &st);
        if (r < 0)
                return r;
        r = db_step(st);
        if (r == 1)
                *ret_total = db_column_int64(st, 0);
        db_stmt_done(st);
        if (r < 0)
                return r;
        r = db_prepare(d->db, "SELECT id, feed, origin, started, finished, records, rows, skipped, status, error "
                              "FROM tvm_feed_imports ORDER BY id DESC LIMIT $1 OFFSET $2", &st);
        if (r < 0)
                return r;
        db_bind_int64(st, 1, (int64_t)limit);
        db_bind_int64(st, 2, (int64_t)offset);
        while ((r = db_step(st)) == 1)
                json_array_append_new(arr, json_pack("{s:I,s:s,s:s,s:o,s:o,s:I,s:I,s:I,s:s,s:s}",
                        "id", (json_int_t)db_column_int64(st, 0), "feed", db_column_text(st, 1, NULL),
                        "origin", db_column_text(st, 2, NULL), "started", http_time_or_null(db_column_int64(st, 3)),
                        "finished", http_time_or_null(db_column_int64(st, 4)),
                        "records", (json_int_t)db_column_int64(st, 5), "rows", (json_int_t)db_column_int64(st, 6),
                        "skipped", (json_int_t)db_column_int64(st, 7), "status", db_column_text(st, 8, NULL),
                        "error", db_column_text(st, 9, NULL)));
        db_stmt_done(st);
        return r;
}

/* Reads the rows stored per feed and origin into arr; lock held. */
static int stored_read(struct vigild *d, json_t *arr)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, "SELECT feed, origin, COUNT(*) FROM tvm_affected GROUP BY feed, origin "
                              "ORDER BY feed, origin", &st);
        if (r < 0)
                return r;
        while ((r = db_step(st)) == 1)
                json_array_append_new(arr, json_pack("{s:s,s:s,s:I}", "feed", db_column_text(st, 0, NULL),
                                                     "origin", db_column_text(st, 1, NULL),
                                                     "rows", (json_int_t)db_column_int64(st, 2)));
        db_stmt_done(st);
        return r;
}

/* GET /api/v1/tvm/feeds?limit=&offset=: the imports, newest first, and the
 * rows each feed and origin holds now. */
static void handle_feeds(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        json_t *arr, *stored;
        uint64_t limit, offset;
        int64_t total = 0;
        int r;

        if (http_request_paging(req, IMPORTS_LIMIT_DEFAULT, IMPORTS_LIMIT_MAX, &limit, &offset, rep) < 0)
                return;
        arr = json_array();
        stored = json_array();
        db_lock(d->db);
        r = imports_read(d, limit, offset, arr, &total);
        if (r >= 0)
                r = stored_read(d, stored);
        db_unlock(d->db);
        if (r < 0) {
                json_decref(stored);
                http_reply_list_failed(rep, arr, "read the feed imports");
                return;
        }
        http_reply_json(rep, 200, json_pack("{s:I,s:o,s:o,s:o}", "count", (json_int_t)total, "value", arr,
                                            "next_offset", http_page_next(json_array_size(arr), total, offset),
                                            "stored", stored));
}

const struct http_route tvm_feed_routes[] = {
        { "POST", "/api/v1/tvm/import", HTTP_AUTH_ADMIN, ROLE_SECURITY_ADMIN, handle_import, TVM_FEED_BYTES_MAX },
        { "GET", "/api/v1/tvm/feeds", HTTP_AUTH_ADMIN, ROLES_ANY, handle_feeds, 0 },
        { 0 },
};

int tvm_feed_paths_parse(const char *s, char (*out)[TVM_ORIGIN_MAX + 1])
{
        int n = 0;

        while (s && *s) {
                size_t len = strcspn(s, ","), lead = strspn(s, " \t"), end = len;
                while (end > lead && (s[end - 1] == ' ' || s[end - 1] == '\t'))
                        end--;
                if (end > lead) {
                        const char *e = s + lead;
                        size_t elen = end - lead;
                        if (n == TVM_FEED_PATHS_MAX || elen > TVM_ORIGIN_MAX || memchr(e, ' ', elen) ||
                            (e[0] != '/' && (elen <= 8 || strncmp(e, "https://", 8) != 0)))
                                return -EINVAL;
                        if (out) {
                                memcpy(out[n], e, elen);
                                out[n][elen] = '\0';
                        }
                        n++;
                }
                s += len + (s[len] == ',');
        }
        return n;
}

/* A download under way: the body so far, capped. */
struct fetch {
        struct vbuf body;
        bool too_big;
        atomic_bool *stop;
};

static size_t on_fetch_data(char *p, size_t size, size_t n, void *arg)
{
        struct fetch *ft = arg;

        if (vbuf_append(&ft->body, p, size * n) < 0) {
                ft->too_big = true;
                return 0;
        }
        return size * n;
}

static int on_fetch_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
        struct fetch *ft = arg;

        return atomic_load(ft->stop) ? 1 : 0;
}

/* Downloads an https:// feed (verified by the CAs of ca_file, or the
 * system's when it is "") into a heap buffer of at most TVM_FEED_BYTES_MAX
 * bytes. */
static int fetch_url(const char *url, const char *ca_file, atomic_bool *stop, char **ret, size_t *ret_len, char *err,
                     size_t err_size)
{
        struct fetch ft = { .stop = stop };
        char errbuf[CURL_ERROR_SIZE] = "";
        CURL *e = curl_easy_init();
        CURLcode cr;
        long status = 0;

        if (!e)
                return -ENOMEM;
        vbuf_init(&ft.body, TVM_FEED_BYTES_MAX);
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "vigild/" VIGIL_VERSION);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
        curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
        if (ca_file[0]) {
                curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
                curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
        }
        curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)FETCH_TIMEOUT_S);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)FETCH_CONNECT_TIMEOUT_S);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_fetch_data);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &ft);
        curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_fetch_progress);
        curl_easy_setopt(e, CURLOPT_XFERINFODATA, &ft);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
        cr = curl_easy_perform(e);
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(e);
        if (ft.too_big)
                snprintf(err, err_size, "larger than %u bytes", TVM_FEED_BYTES_MAX);
        else if (cr != CURLE_OK)
                snprintf(err, err_size, "cannot download: %s", errbuf[0] ? errbuf : curl_easy_strerror(cr));
        else if (status != 200)
                snprintf(err, err_size, "the server answered HTTP %ld", status);
        if (ft.too_big || cr != CURLE_OK || status != 200) {
                vbuf_release(&ft.body);
                return ft.too_big ? -E2BIG : -EIO;
        }
        *ret = vbuf_steal(&ft.body, ret_len);
        return *ret ? 0 : -ENOMEM;
}

/* The origin a URL is recorded, logged and listed as: its user and
 * password (https://user:secret@mirror/...) become "***", since every
 * admin role may list the imports. A path stays as it is. */
static void origin_shown(const char *url, char out[static TVM_ORIGIN_MAX + 1])
{
        const char *at = NULL;

        snprintf(out, TVM_ORIGIN_MAX + 1, "%s", url);
        if (strncmp(url, "https://", 8) != 0)
                return;
        /* the authority's last '@' ends the user and password */
        for (const char *p = url + 8; *p && *p != '/' && *p != '?' && *p != '#'; p++)
                if (*p == '@')
                        at = p;
        if (at)
                snprintf(out, TVM_ORIGIN_MAX + 1, "https://***%s", at);
}

/* Imports one configured path or URL, logging what happened. */
static void import_one(struct vigild *d, const char *url, atomic_bool *stop)
{
        struct tvm_import_result res;
        int64_t started = util_now(), t0 = util_mono_ms();
        struct tvm_feed *f = NULL;
        char err[512], origin[TVM_ORIGIN_MAX + 1];
        int r;

        origin_shown(url, origin);
        if (strncmp(url, "https://", 8) == 0) {
                char *data = NULL;
                size_t len = 0;
                r = fetch_url(url, d->cfg.tvm_feed_ca_file, stop, &data, &len, err, sizeof(err));
                if (r == 0)
                        r = tvm_feed_parse(data, len, TVM_FEED_AUTO, &f, err, sizeof(err));
                free(data);
        } else {
                r = tvm_feed_load_path(url, TVM_FEED_AUTO, &f, err, sizeof(err));
        }
        if (r == -ENOMEM)
                snprintf(err, sizeof(err), "out of memory");
        if (r < 0) {
                if (atomic_load(stop))
                        return;
                tvm_feed_record_failure(d, TVM_FEED_AUTO, origin, started, err);
                log_warn("tvm: cannot import the feed '%s': %s; the advisories it gave stay as they were",
                         origin, err);
                return;
        }
        r = tvm_feed_store(d, f, origin, started, &res, err, sizeof(err));
        if (r < 0)
                log_warn("tvm: cannot import the feed '%s': %s", origin, err);
        else
                log_info("tvm: imported the %s feed '%s': %zu records, %zu rows, %zu skipped in %lld ms "
                         "(stored in %lld ms)", tvm_feed_kind_name(f->kind), origin, res.records, res.rows,
                         res.skipped, (long long)(util_mono_ms() - t0), (long long)res.store_ms);
        tvm_feed_free(f);
}

static void *schedule_main(void *arg)
{
        struct vigild *d = arg;
        struct tvm_feeds *t = d->tvm_feeds;

        while (!atomic_load(&t->stop)) {
                struct timespec until;

                for (int i = 0; i < t->n && !atomic_load(&t->stop); i++)
                        import_one(d, t->paths[i], &t->stop);
                clock_gettime(CLOCK_REALTIME, &until);
                /* the setting may be as long as a duration can be: no overflow into the past */
                until.tv_sec += d->cfg.tvm_feed_interval < INTERVAL_WAIT_MAX ? d->cfg.tvm_feed_interval
                                                                             : INTERVAL_WAIT_MAX;
                pthread_mutex_lock(&t->lock);
                while (!atomic_load(&t->stop) && pthread_cond_timedwait(&t->wake, &t->lock, &until) != ETIMEDOUT)
                        ;
                pthread_mutex_unlock(&t->lock);
        }
        return NULL;
}

int tvm_feed_start(struct vigild *d, char *err, size_t err_size)
{
        struct tvm_feeds *t;
        int r;

        if (!d->cfg.tvm_feed_paths[0])
                return 0;
        t = calloc(1, sizeof(*t));
        if (!t) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        t->n = tvm_feed_paths_parse(d->cfg.tvm_feed_paths, t->paths);
        if (t->n < 0) {
                free(t);
                snprintf(err, err_size, "tvm_feed_paths: each entry must be an absolute path or an https:// URL");
                return -EINVAL;
        }
        pthread_mutex_init(&t->lock, NULL);
        pthread_cond_init(&t->wake, NULL);
        d->tvm_feeds = t;
        r = -pthread_create(&t->thread, NULL, schedule_main, d);
        if (r < 0) {
                snprintf(err, err_size, "cannot start the feed import thread: %s", strerror(-r));
                tvm_feed_stop(d);
                return r;
        }
        t->running = true;
        log_info("tvm: importing %d feed%s now and every %llds", t->n, t->n == 1 ? "" : "s",
                 (long long)d->cfg.tvm_feed_interval);
        return 0;
}

void tvm_feed_stop(struct vigild *d)
{
        struct tvm_feeds *t = d->tvm_feeds;

        if (!t)
                return;
        if (t->running) {
                pthread_mutex_lock(&t->lock);
                atomic_store(&t->stop, true);
                pthread_cond_signal(&t->wake);
                pthread_mutex_unlock(&t->lock);
                pthread_join(t->thread, NULL);
        }
        pthread_cond_destroy(&t->wake);
        pthread_mutex_destroy(&t->lock);
        free(t);
        d->tvm_feeds = NULL;
}
