/* uplink_alerts: the alert spool to the server, in a thread of its own
 * (see uplink_alerts.h).
 *
 * The thread sleeps on a condition variable until a send is due: at start
 * (what an earlier run left), when the detection thread spooled a high
 * alert, ALERT_UPLINK_LINGER_MS after it spooled another, or when a backoff
 * ends. It has its own httpc handle (a handle is not shared between
 * threads). The spool is locked only while lines are copied out of it, so
 * detection never waits on the network. While refused lines wait in memory
 * for room on the disk to be set aside, the thread looks again every
 * ALERT_UPLINK_POLL_MS.
 *
 * A batch refused as too large (413, or 400 batch_too_large or
 * too_many_alerts) is sent again in parts: the lines a batch may take
 * (cap) are halved, down to one, until the server takes them; once the
 * position passed the refused batch's end, cap is whole again. */
#include "agent/src/uplink_alerts.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "httpc/httpc.h"
#include "util/strutil.h"
#include "util/vbuf.h"

#define ENVELOPE_BYTES 16               /* {"alerts":[ and ]} */
#define LINE_MAX_BYTES (ALERT_UPLINK_BODY_MAX - ENVELOPE_BYTES)    /* with its '\n': alone in a body */
#define NEVER INT64_MAX

struct alert_uplink {
        struct spool *spool;
        struct httpc *http;
        char rejected_dir[4200];
        pthread_t thread;
        bool started;
        pthread_mutex_t lock;
        pthread_cond_t cond;            /* CLOCK_MONOTONIC */
        bool stop;
        int64_t linger_ms;              /* ALERT_UPLINK_LINGER_MS, or a profile's (alert_uplink_set_linger) */
        int64_t due_ms;                 /* a send is due then (monotonic ms); NEVER: none */
        struct vbuf lines;              /* the batch as read: lines with their '\n' */
        size_t n_lines;
        struct vbuf body;
        struct alert_uplink_stats st;
        bool outage_logged;
        size_t cap;                     /* lines a batch may take; below the maximum while splitting */
        struct spool_pos split_end;     /* the end of the batch refused as too large */
        struct vbuf aside;              /* refused lines the disk had no room for yet */
        struct spool_pos aside_from;    /* where the first of them was read */
        size_t aside_lines;
};

static int64_t mono_ms(void)
{
        return util_mono_ms();
}

int alert_uplink_new(const struct agent_state *state, struct spool *spool, struct alert_uplink **ret)
{
        struct alert_uplink *u = calloc(1, sizeof(*u));
        pthread_condattr_t ca_attr;
        int r;

        if (!u)
                return -ENOMEM;
        u->spool = spool;
        u->due_ms = 0;
        vbuf_init(&u->lines, ALERT_UPLINK_BODY_MAX);
        vbuf_init(&u->body, ALERT_UPLINK_BODY_MAX);
        vbuf_init(&u->aside, ALERT_UPLINK_ASIDE_MAX);
        u->cap = ALERT_UPLINK_BATCH_MAX;
        u->linger_ms = ALERT_UPLINK_LINGER_MS;
        pthread_mutex_init(&u->lock, NULL);
        pthread_condattr_init(&ca_attr);
        pthread_condattr_setclock(&ca_attr, CLOCK_MONOTONIC);
        pthread_cond_init(&u->cond, &ca_attr);
        pthread_condattr_destroy(&ca_attr);
        r = agent_state_path(state, "spool/rejected", u->rejected_dir, sizeof(u->rejected_dir));
        if (r == 0)
                r = agent_state_httpc(state, 15, &u->http);
        if (r < 0) {
                agent_log("error", "cannot make the alert uplink to '%s': %s", state->server_url, strerror(-r));
                alert_uplink_free(u);
                return r;
        }
        *ret = u;
        return 0;
}

void alert_uplink_wake(struct alert_uplink *u, bool urgent)
{
        int64_t due;

        if (!u)
                return;
        pthread_mutex_lock(&u->lock);
        due = urgent ? 0 : mono_ms() + u->linger_ms;
        if (due < u->due_ms) {
                u->due_ms = due;
                pthread_cond_signal(&u->cond);
        }
        pthread_mutex_unlock(&u->lock);
}

void alert_uplink_set_linger(struct alert_uplink *u, int64_t ms)
{
        if (!u)
                return;
        pthread_mutex_lock(&u->lock);
        u->linger_ms = ms < 0 ? ALERT_UPLINK_LINGER_MS : ms;
        pthread_mutex_unlock(&u->lock);
}

void alert_uplink_stats_get(struct alert_uplink *u, struct alert_uplink_stats *ret)
{
        pthread_mutex_lock(&u->lock);
        *ret = u->st;
        pthread_mutex_unlock(&u->lock);
}

/* spool_read's callback: takes lines while the batch has room. */
static int batch_take(const char *line, size_t len, void *userdata)
{
        struct alert_uplink *u = userdata;

        if (!line || len > LINE_MAX_BYTES) {
                agent_log("warning", "alert line of %zu bytes is over the upload cap of %u bytes: skipped",
                          len, LINE_MAX_BYTES);
                pthread_mutex_lock(&u->lock);
                u->st.skipped++;
                pthread_mutex_unlock(&u->lock);
                return 0;
        }
        if (u->n_lines == u->cap || u->lines.len + len + ENVELOPE_BYTES > ALERT_UPLINK_BODY_MAX)
                return 1;
        if (vbuf_append(&u->lines, line, len) < 0)
                return 1;
        u->n_lines++;
        return 0;
}

/* The request body from the lines read; a line that is not a JSON object
 * with a string "id" (and no key twice, which the server refuses for the
 * whole batch) is logged and left out. Returns the alerts in it. */
static size_t body_build(struct alert_uplink *u)
{
        const char *p = u->lines.data, *end = p + u->lines.len, *nl;
        size_t n = 0;

        vbuf_reset(&u->body);
        vbuf_puts(&u->body, "{\"alerts\":[");
        for (; p && p < end && (nl = memchr(p, '\n', (size_t)(end - p))); p = nl + 1) {
                json_t *j = json_loadb(p, (size_t)(nl - p), JSON_REJECT_DUPLICATES, NULL);
                bool ok = json_is_object(j) && json_is_string(json_object_get(j, "id"));

                json_decref(j);
                if (!ok) {
                        agent_log("warning", "spooled alert line is not an alert ('%.*s'): skipped",
                                  (int)(nl - p > 60 ? 60 : nl - p), p);
                        pthread_mutex_lock(&u->lock);
                        u->st.skipped++;
                        pthread_mutex_unlock(&u->lock);
                        continue;
                }
                if (n++ > 0)
                        vbuf_puts(&u->body, ",");
                vbuf_append(&u->body, p, (size_t)(nl - p));
        }
        vbuf_puts(&u->body, "]}");
        return n;
}

/* Logs and counts the results of a 200. */
static void results_note(struct alert_uplink *u, const json_t *resp, size_t n)
{
        const json_t *results = json_object_get(resp, "results"), *r;
        uint64_t counts[4] = { 0 };
        size_t i;

        json_array_foreach(results, i, r) {
                const char *status = json_string_value(json_object_get(r, "status"));
                const char *id = json_string_value(json_object_get(r, "id"));

                if (!status)
                        continue;
                if (strcmp(status, "stored") == 0)
                        counts[0]++;
                else if (strcmp(status, "updated") == 0)
                        counts[1]++;
                else if (strcmp(status, "unchanged") == 0)
                        counts[2]++;
                else if (strcmp(status, "rejected") == 0) {
                        const char *err = json_string_value(json_object_get(r, "error"));

                        counts[3]++;
                        agent_log("warning", "the server rejected alert %s: %s (not sent again)",
                                  id ? id : "(no id)", err ? err : "no reason given");
                }
        }
        pthread_mutex_lock(&u->lock);
        u->st.batches++;
        u->st.sent += n;
        u->st.stored += counts[0];
        u->st.updated += counts[1];
        u->st.unchanged += counts[2];
        u->st.rejected += counts[3];
        pthread_mutex_unlock(&u->lock);
        agent_log("info", "alerts sent: %zu (stored %" PRIu64 ", updated %" PRIu64 ", unchanged %" PRIu64
                  ", rejected %" PRIu64 ")", n, counts[0], counts[1], counts[2], counts[3]);
}

static int name_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Keeps rejected/ under ALERT_UPLINK_REJECTED_MAX files: the oldest go. */
static void rejected_trim(const char *dir)
{
        char *names[ALERT_UPLINK_REJECTED_MAX * 2], path[4400];
        size_t n = 0;
        struct dirent *e;
        DIR *d = opendir(dir);

        if (!d)
                return;
        while ((e = readdir(d)) && n < sizeof(names) / sizeof(names[0]))
                if (e->d_name[0] != '.' && (names[n] = strdup(e->d_name)))
                        n++;
        closedir(d);
        qsort(names, n, sizeof(names[0]), name_cmp);
        for (size_t i = 0; i < n; i++) {
                if (n - i >= ALERT_UPLINK_REJECTED_MAX && util_path_join(path, sizeof(path), dir, names[i]) == 0)
                        unlink(path);
                free(names[i]);
        }
}

/* Writes refused lines to rejected/, named by the position of the first;
 * the file's path in path. Returns 0 or a negative errno. */
static int aside_write(struct alert_uplink *u, const struct spool_pos *from, const char *data, size_t len,
                       char path[static 4400])
{
        char name[96];
        int r;

        snprintf(name, sizeof(name), "alerts-%020" PRIu64 "-%020" PRIu64 ".jsonl", from->seq, from->off);
        r = util_path_join(path, 4400, u->rejected_dir, name);
        if (r < 0)
                return r;
        if (mkdir(u->rejected_dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        rejected_trim(u->rejected_dir);
        return util_file_write(path, data, len, 0600);
}

/* Writes the refused lines kept in memory, if the disk has room now. */
static void aside_retry(struct alert_uplink *u)
{
        char path[4400];
        int r = aside_write(u, &u->aside_from, u->aside.data, u->aside.len, path);

        if (r < 0)
                return;
        agent_log("info", "the %zu refused alert lines kept in memory were set aside as '%s'", u->aside_lines, path);
        vbuf_reset(&u->aside);
        u->aside_lines = 0;
}

/* Writes the batch refused whole to rejected/, named by its position. When
 * the disk refuses, the lines wait in memory (ALERT_UPLINK_ASIDE_MAX
 * bytes) for aside_retry(); past that they are dropped, logged, counted. */
static void batch_set_aside(struct alert_uplink *u, const struct spool_pos *from)
{
        char path[4400];
        int r = -EAGAIN;

        if (u->aside.len > 0)
                aside_retry(u);
        if (u->aside.len == 0)
                r = aside_write(u, from, u->lines.data, u->lines.len, path);
        pthread_mutex_lock(&u->lock);
        u->st.set_aside += u->n_lines;
        pthread_mutex_unlock(&u->lock);
        if (r == 0) {
                agent_log("warning", "the refused batch of %zu alert lines was set aside as '%s'", u->n_lines, path);
                return;
        }
        if (u->aside.len == 0)
                u->aside_from = *from;
        if (vbuf_append(&u->aside, u->lines.data, u->lines.len) == 0) {
                u->aside_lines += u->n_lines;
                agent_log("warning", "cannot set the refused batch of %zu alert lines aside in '%s'%s%s; it is "
                          "kept in memory and written there when the disk allows", u->n_lines, u->rejected_dir,
                          r == -EAGAIN ? "" : ": ", r == -EAGAIN ? "" : strerror(-r));
                return;
        }
        agent_log("error", "cannot set the refused batch of %zu alert lines aside in '%s', and %zu bytes of refused "
                  "lines already wait in memory: the batch is dropped", u->n_lines, u->rejected_dir, u->aside.len);
        pthread_mutex_lock(&u->lock);
        u->st.aside_lost += u->n_lines;
        pthread_mutex_unlock(&u->lock);
}

/* Moves the spool past the batch; past a batch sent in parts, batches are
 * whole again. ESTALE: the spool made room while the batch was on its way;
 * it is read again (the server deduplicates). */
static enum alert_uplink_result batch_ack(struct alert_uplink *u, const struct spool_pos *end)
{
        int r = spool_ack(u->spool, end);

        if (r == -ESTALE || end->seq > u->split_end.seq ||
            (end->seq == u->split_end.seq && end->off >= u->split_end.off))
                u->cap = ALERT_UPLINK_BATCH_MAX;
        return ALERT_UPLINK_SENT;
}

/* True if the answer says the batch was too large: 413, or a 400 whose
 * code says so. */
static bool too_large(long status, const json_t *resp)
{
        const char *code = json_string_value(json_object_get(json_object_get(resp, "error"), "code"));

        if (status == 413)
                return true;
        return status == 400 && code && (strcmp(code, "batch_too_large") == 0 || strcmp(code, "too_many_alerts") == 0);
}

/* A batch of n alerts (2 or more) refused as too large: the next reads take
 * half its lines, from the same position. */
static enum alert_uplink_result batch_halve(struct alert_uplink *u, size_t n, long status, const json_t *resp,
                                            const struct spool_pos *end)
{
        if (u->cap == ALERT_UPLINK_BATCH_MAX)
                u->split_end = *end;
        u->cap = u->n_lines / 2;
        agent_log("warning", "alert upload of %zu alerts refused as too large (HTTP %ld): %s; sending it in "
                  "parts of at most %zu alert lines", n, status, httpc_error_message(resp, status), u->cap);
        pthread_mutex_lock(&u->lock);
        u->st.splits++;
        pthread_mutex_unlock(&u->lock);
        return ALERT_UPLINK_SENT;
}

/* POSTs the body and handles the answer. */
static enum alert_uplink_result batch_post(struct alert_uplink *u, size_t n, const struct spool_pos *from,
                                           const struct spool_pos *end)
{
        char err[512];
        long status = 0;
        json_t *resp = NULL;

        if (httpc_request(u->http, "POST", ALERT_UPLINK_PATH, NULL, u->body.data, u->body.len, &status, &resp,
                          err, sizeof(err)) < 0) {
                if (!u->outage_logged)
                        agent_log("warning", "alert upload: server unreachable: %s (retrying)", err);
                u->outage_logged = true;
                return ALERT_UPLINK_RETRY;
        }
        u->outage_logged = false;
        if (status == 200) {
                results_note(u, resp, n);
                json_decref(resp);
                return batch_ack(u, end);
        }
        if (n > 1 && too_large(status, resp)) {
                enum alert_uplink_result res = batch_halve(u, n, status, resp, end);

                json_decref(resp);
                return res;
        }
        agent_log("warning", "alert upload of %zu alerts refused (HTTP %ld): %s", n, status,
                  httpc_error_message(resp, status));
        json_decref(resp);
        if (status >= 400 && status < 500 && status != 401 && status != 403 && status != 408 && status != 429) {
                batch_set_aside(u, from);
                return batch_ack(u, end);
        }
        return ALERT_UPLINK_RETRY;
}

enum alert_uplink_result alert_uplink_send_once(struct alert_uplink *u)
{
        struct spool_pos from = spool_acked(u->spool), end;
        size_t n;
        int r;

        if (u->aside.len > 0)
                aside_retry(u);
        vbuf_reset(&u->lines);
        u->n_lines = 0;
        r = spool_read(u->spool, batch_take, u, &end);
        if (r < 0) {
                agent_log("error", "cannot read the alert spool: %s", strerror(-r));
                return ALERT_UPLINK_RETRY;
        }
        if (end.seq == from.seq && end.off == from.off)
                return ALERT_UPLINK_IDLE;
        n = u->n_lines ? body_build(u) : 0;
        if (n == 0)     /* only skipped lines, or a cut one passed */
                return batch_ack(u, &end);
        return batch_post(u, n, &from, &end);
}

/* Waits until a send is due (and not before not_before), or stop.
 * Returns false on stop. */
static bool wait_due(struct alert_uplink *u, int64_t not_before)
{
        bool go;

        pthread_mutex_lock(&u->lock);
        for (;;) {
                int64_t now = mono_ms(), at = u->due_ms > not_before ? u->due_ms : not_before;
                struct timespec ts;

                if (u->stop || at <= now)
                        break;
                if (at == NEVER) {
                        pthread_cond_wait(&u->cond, &u->lock);
                        continue;
                }
                ts = util_deadline(CLOCK_MONOTONIC, (uint64_t)(at - now));
                pthread_cond_timedwait(&u->cond, &u->lock, &ts);
        }
        go = !u->stop;
        u->due_ms = NEVER;
        pthread_mutex_unlock(&u->lock);
        return go;
}

static void due_at(struct alert_uplink *u, int64_t at)
{
        pthread_mutex_lock(&u->lock);
        if (at < u->due_ms)
                u->due_ms = at;
        pthread_mutex_unlock(&u->lock);
}

static void *uplink_thread(void *arg)
{
        struct alert_uplink *u = arg;
        int64_t backoff = 0, not_before = 0;

        while (wait_due(u, not_before)) {
                enum alert_uplink_result res = alert_uplink_send_once(u);

                not_before = 0;
                if (res == ALERT_UPLINK_SENT) {
                        backoff = 0;
                        due_at(u, 0);
                } else if (res == ALERT_UPLINK_RETRY) {
                        backoff = backoff ? backoff * 2 : ALERT_UPLINK_BACKOFF_MIN_MS;
                        if (backoff > ALERT_UPLINK_BACKOFF_MAX_MS)
                                backoff = ALERT_UPLINK_BACKOFF_MAX_MS;
                        not_before = mono_ms() + backoff;
                        due_at(u, 0);
                } else if (u->aside.len > 0) {
                        /* the disk refused them: look again when it may have room */
                        due_at(u, mono_ms() + ALERT_UPLINK_POLL_MS);
                }
        }
        return NULL;
}

int alert_uplink_start(struct alert_uplink *u)
{
        sigset_t all, old;
        int r;

        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        r = -pthread_create(&u->thread, NULL, uplink_thread, u);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r < 0) {
                agent_log("error", "cannot start the alert uplink: %s", strerror(-r));
                return r;
        }
        u->started = true;
        return 0;
}

void alert_uplink_free(struct alert_uplink *u)
{
        if (!u)
                return;
        if (u->started) {
                pthread_mutex_lock(&u->lock);
                u->stop = true;
                pthread_cond_signal(&u->cond);
                pthread_mutex_unlock(&u->lock);
                pthread_join(u->thread, NULL);
        }
        if (u->aside.len > 0)
                aside_retry(u);
        if (u->aside.len > 0)
                agent_log("error", "the disk still has no room in '%s': %zu refused alert lines kept in memory are "
                          "lost with the agent's exit", u->rejected_dir, u->aside_lines);
        httpc_free(u->http);
        vbuf_release(&u->lines);
        vbuf_release(&u->body);
        vbuf_release(&u->aside);
        pthread_cond_destroy(&u->cond);
        pthread_mutex_destroy(&u->lock);
        free(u);
}
