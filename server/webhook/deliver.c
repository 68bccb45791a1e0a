/* webhook deliver: the delivery thread. It takes from the database the
 * oldest pending delivery of each enabled subscription once it is due, POSTs
 * it with libcurl (one multi handle, at most one transfer per subscription so
 * that each receiver gets its events in order, at most INFLIGHT_MAX at once),
 * signs each attempt, records its outcome, and prunes the delivery log. It
 * sleeps in curl_multi_poll() until a transfer progresses, the next attempt
 * is due, or webhook_wake() is called. */
#include "server/webhook/webhook-internal.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/db/db.h"
#include "server/log.h"
#include "server/vigild.h"
#include "util/strutil.h"

#define INFLIGHT_MAX 32
#define RESPONSE_MAX (64 * 1024)        /* read and dropped; past it the transfer ends */
#define IDLE_POLL_MS 5000
#define PRUNE_INTERVAL_MS (3600 * 1000)
#define HEADER_MAX 160

struct transfer {
        CURL *easy;
        int64_t seq;
        char id[WEBHOOK_ID_LEN + 1], sub_id[WEBHOOK_ID_LEN + 1], type[32];
        char *body;
        struct curl_slist *headers;
        size_t received;
        bool too_long;
        char errbuf[CURL_ERROR_SIZE];
};

struct deliverer {
        struct vigild *d;
        struct transfer *t[INFLIGHT_MAX];
        size_t n;
};

void webhook_wake(struct vigild *d)
{
        struct webhook *w = d->webhook;

        if (!w || !w->running)
                return;
        atomic_store(&w->wake, true);
        curl_multi_wakeup(w->multi);
}

static size_t on_data(char *p, size_t size, size_t n, void *userdata)
{
        struct transfer *t = userdata;

        t->received += size * n;
        if (t->received > RESPONSE_MAX) {
                t->too_long = true;
                return 0;
        }
        return size * n;
}

static void transfer_free(struct transfer *t)
{
        if (!t)
                return;
        curl_easy_cleanup(t->easy);
        curl_slist_free_all(t->headers);
        free(t->body);
        free(t);
}

/* The private CA of a subscription as a file libcurl can read (its GnuTLS
 * backend takes no in-memory CA): named after the subscription and the
 * PEM's hash, so a changed CA is a new file. */
static int ca_file(struct webhook *w, const char *sub_id, const char *pem, char *out, size_t size)
{
        uint8_t h[CRYPTO_SHA256_LEN];
        char hex[2 * CRYPTO_SHA256_LEN + 1], name[128];

        if (crypto_sha256(pem, strlen(pem), h) < 0)
                return -EIO;
        util_hex_encode(h, 8, hex);
        snprintf(name, sizeof(name), "%s-%s.pem", sub_id, hex);
        if (util_path_join(out, size, w->ca_dir, name) < 0)
                return -ENAMETOOLONG;
        return access(out, R_OK) == 0 ? 0 : util_file_write(out, pem, strlen(pem), 0600);
}

/* Appends "name: value", or "name:" (which removes a header libcurl would add) when value is NULL. */
static int headers_add(struct curl_slist **list, const char *name, const char *value)
{
        char line[HEADER_MAX];
        struct curl_slist *n;

        snprintf(line, sizeof(line), "%s:%s%s", name, value ? " " : "", value ? value : "");
        n = curl_slist_append(*list, line);
        if (!n)
                return -ENOMEM;
        *list = n;
        return 0;
}

/* The headers of one attempt, signed now. */
static int headers_build(struct transfer *t, const char *secret, size_t secret_len)
{
        char ts[24], sig[7 + WEBHOOK_SIGNATURE_HEX_LEN + 1];
        int r;

        snprintf(ts, sizeof(ts), "%lld", (long long)util_now());
        memcpy(sig, "sha256=", 7);
        r = webhook_signature(secret, secret_len, ts, strlen(ts), t->body, strlen(t->body), sig + 7);
        if (r == 0)
                r = headers_add(&t->headers, "Content-Type", "application/json");
        if (r == 0)
                r = headers_add(&t->headers, "Expect", NULL);
        if (r == 0)
                r = headers_add(&t->headers, "X-Vigil-Event", t->type);
        if (r == 0)
                r = headers_add(&t->headers, "X-Vigil-Delivery", t->id);
        if (r == 0)
                r = headers_add(&t->headers, "X-Vigil-Timestamp", ts);
        if (r == 0)
                r = headers_add(&t->headers, "X-Vigil-Signature", sig);
        return r;
}

static void easy_setup(struct vigild *d, struct transfer *t, const char *url, const char *ca_path)
{
        CURL *e = t->easy;

        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(t->body));
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "vigil-webhook/" VIGIL_VERSION);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
        if (ca_path) {
                curl_easy_setopt(e, CURLOPT_CAINFO, ca_path);
                curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
        }
        curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)d->cfg.webhook_timeout);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)d->cfg.webhook_timeout);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
        curl_easy_setopt(e, CURLOPT_PRIVATE, t);
}

/* Starts the attempt of the head row st (columns of heads_sql). Lock held. */
static int transfer_start(struct deliverer *dl, struct db_stmt *st)
{
        struct webhook *w = dl->d->webhook;
        const char *secret, *ca_pem;
        char ca_path[4400];
        struct transfer *t;
        size_t secret_len;
        int r = -ENOMEM;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->seq = db_column_int64(st, 0);
        snprintf(t->id, sizeof(t->id), "%s", db_column_text(st, 1, NULL));
        snprintf(t->sub_id, sizeof(t->sub_id), "%s", db_column_text(st, 2, NULL));
        snprintf(t->type, sizeof(t->type), "%s", db_column_text(st, 3, NULL));
        t->body = strdup(db_column_text(st, 4, NULL));
        t->easy = curl_easy_init();
        secret = db_column_text(st, 7, &secret_len);
        if (!t->body || !t->easy || (r = headers_build(t, secret, secret_len)) < 0)
                goto fail;
        ca_pem = db_column_text(st, 8, NULL);
        if (ca_pem && (r = ca_file(w, t->sub_id, ca_pem, ca_path, sizeof(ca_path))) < 0)
                goto fail;
        easy_setup(dl->d, t, db_column_text(st, 6, NULL), ca_pem ? ca_path : NULL);
        if (curl_multi_add_handle(w->multi, t->easy) != CURLM_OK) {
                r = -ENOMEM;
                goto fail;
        }
        dl->t[dl->n++] = t;
        return 0;
fail:
        transfer_free(t);
        return r;
}

static bool in_flight(const struct deliverer *dl, const char *sub_id)
{
        for (size_t i = 0; i < dl->n; i++)
                if (strcmp(dl->t[i]->sub_id, sub_id) == 0)
                        return true;
        return false;
}

/* Starts every due head of an enabled subscription that has none in flight.
 * Returns when to look again (wall-clock ms). */
static int64_t schedule(struct deliverer *dl, int64_t now)
{
        struct vigild *d = dl->d;
        int64_t next = now + IDLE_POLL_MS;
        struct db_stmt *st;
        int r;

        db_lock(d->db);
        r = db_prepare(d->db, "SELECT x.seq, x.id, x.subscription_id, x.event_type, x.body, x.next_attempt_ms, "
                              "s.url, s.secret, s.ca_pem FROM webhook_subscriptions s "
                              "JOIN webhook_deliveries x ON x.seq = (SELECT min(h.seq) FROM webhook_deliveries h "
                              "WHERE h.subscription_id = s.id AND h.status = 'pending') "
                              "WHERE s.enabled = 1 ORDER BY x.next_attempt_ms", &st);
        while (r == 0 && (r = db_step(st)) == 1) {
                int64_t due = db_column_int64(st, 5);
                if (in_flight(dl, db_column_text(st, 2, NULL)))
                        continue;
                if (due > now || dl->n == INFLIGHT_MAX) {
                        next = due > now && due < next ? due : next;
                        continue;
                }
                if (transfer_start(dl, st) < 0)
                        log_error("webhook delivery %s: cannot start the request", db_column_text(st, 1, NULL));
        }
        db_stmt_done(st);
        if (r < 0)
                log_error("webhook: cannot read the queue of deliveries: %s", db_errmsg(d->db));
        db_unlock(d->db);
        return r < 0 ? now + 1000 : next;
}

/* Records a finished transfer and frees it. */
static void transfer_done(struct deliverer *dl, struct transfer *t, CURLcode res)
{
        struct vigild *d = dl->d;
        const char *error = NULL;
        long code = 0;
        int r;

        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
        /* a receiver that answered and then sent too much has still answered */
        if (res != CURLE_OK && !(t->too_long && code > 0)) {
                error = t->errbuf[0] ? t->errbuf : curl_easy_strerror(res);
                code = 0;
        }
        r = webhook_attempt_record(d, t->seq, code, error, webhook_now_ms());
        if (r < 0)
                log_error("webhook delivery %s: cannot record the attempt: %s", t->id, strerror(-r));
        else if (code >= 200 && code <= 299)
                log_debug("webhook delivery %s (%s) to subscription %s: HTTP %ld", t->id, t->type, t->sub_id, code);
        else if (code)
                log_info("webhook delivery %s (%s) to subscription %s: HTTP %ld", t->id, t->type, t->sub_id, code);
        else
                log_info("webhook delivery %s (%s) to subscription %s: %s", t->id, t->type, t->sub_id, error);
        curl_multi_remove_handle(d->webhook->multi, t->easy);
        for (size_t i = 0; i < dl->n; i++)
                if (dl->t[i] == t) {
                        dl->t[i] = dl->t[--dl->n];
                        break;
                }
        transfer_free(t);
}

/* Handles the transfers that ended. Returns how many. */
static int collect(struct deliverer *dl)
{
        struct CURLMsg *m;
        int left, n = 0;

        while ((m = curl_multi_info_read(dl->d->webhook->multi, &left))) {
                struct transfer *t = NULL;
                if (m->msg != CURLMSG_DONE)
                        continue;
                curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
                transfer_done(dl, t, m->data.result);
                n++;
        }
        return n;
}

static void *deliver_main(void *arg)
{
        struct deliverer dl = { .d = arg };
        struct webhook *w = dl.d->webhook;
        int64_t next = 0, next_prune = 0, now;
        int running;

        while (!atomic_load(&w->stop)) {
                now = webhook_now_ms();
                if (atomic_exchange(&w->wake, false) || now >= next)
                        next = schedule(&dl, now);
                curl_multi_perform(w->multi, &running);
                if (collect(&dl) > 0)
                        next = 0;       /* the next delivery of that subscription may go */
                if (now >= next_prune) {
                        int64_t n = webhook_prune(dl.d, util_now());
                        if (n > 0)
                                log_info("webhook: pruned %lld deliveries older than webhook_retention", (long long)n);
                        next_prune = now + PRUNE_INTERVAL_MS;
                }
                now = webhook_now_ms();
                curl_multi_poll(w->multi, NULL, 0, next <= now ? 0 : next - now > IDLE_POLL_MS ? IDLE_POLL_MS :
                                (int)(next - now), NULL);
        }
        /* abandoned transfers stay pending: sent again at the next start */
        while (dl.n) {
                curl_multi_remove_handle(w->multi, dl.t[dl.n - 1]->easy);
                transfer_free(dl.t[--dl.n]);
        }
        return NULL;
}

/* Empties (or creates) the directory of private CA files: they are written
 * again from the database when needed. */
static int ca_dir_reset(const char *dir)
{
        struct dirent *e;
        DIR *dh;

        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        dh = opendir(dir);
        if (!dh)
                return -errno;
        while ((e = readdir(dh)))
                if (e->d_name[0] != '.')
                        unlinkat(dirfd(dh), e->d_name, 0);
        closedir(dh);
        return 0;
}

int webhook_deliver_start(struct vigild *d, char *err, size_t err_size)
{
        struct webhook *w = d->webhook;
        int r;

        util_path_join(w->ca_dir, sizeof(w->ca_dir), d->data_dir, "webhook-ca");
        r = ca_dir_reset(w->ca_dir);
        if (r < 0) {
                snprintf(err, err_size, "cannot prepare '%s': %s", w->ca_dir, strerror(-r));
                return r;
        }
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(w->multi = curl_multi_init())) {
                snprintf(err, err_size, "cannot initialise libcurl");
                return -ENOMEM;
        }
        r = -pthread_create(&w->thread, NULL, deliver_main, d);
        if (r < 0) {
                snprintf(err, err_size, "cannot start the delivery thread: %s", strerror(-r));
                return r;
        }
        w->running = true;
        return 0;
}

void webhook_deliver_stop(struct vigild *d)
{
        struct webhook *w = d->webhook;

        if (w->running) {
                atomic_store(&w->stop, true);
                curl_multi_wakeup(w->multi);
                pthread_join(w->thread, NULL);
                w->running = false;
        }
        if (w->multi) {
                curl_multi_cleanup(w->multi);
                w->multi = NULL;
                curl_global_cleanup();
        }
}
