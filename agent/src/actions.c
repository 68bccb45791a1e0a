/* actions: the device actions the server asks of this agent, in a thread of
 * their own (docs/ACTIONS.md).
 *
 * The thread long-polls GET /agent/v1/actions?wait=POLL_WAIT_S on a client
 * of its own, so that an action requested by an admin starts within a
 * second, and carries out each open action in turn: it says in_progress,
 * does the work, and reports succeeded or failed with a message (a collect
 * uploads its package first). The server may hand an action over again
 * (after a lost answer or an agent restart): every action here is safe to
 * do twice, and an action the server calls closed (cancelled, timed out) is
 * dropped. Transport failures back off from 1 s to 60 s; once the server
 * says the device is offboarded the thread stops (the uplink loop stops the
 * agent). At start, isolation and network protection recorded in the state
 * directory are put back before anything else, even with the server out of
 * reach; the domains network protection blocks are resolved again every
 * NETPROTECT_REFRESH_S. */
#include "agent/src/actions.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/src/config.h"
#include "agent/src/investigate.h"
#include "agent/src/isolate.h"
#include "agent/src/netprotect.h"
#include "crypto/crypto.h"
#include "httpc/httpc.h"
#include "util/strutil.h"
#include "util/vbuf.h"

#define POLL_WAIT_S 25
#define POLL_TIMEOUT_S (POLL_WAIT_S + 20)
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
#define DONE_MAX 64                     /* ids of actions finished in this run */
#define ENDPOINTS_MAX 16
#define PACKAGE_MAX (64u << 20)         /* the server's cap on an upload */

struct agent_actions {
        struct agent_state state;
        struct run_detect *rd;          /* for recent events; may be NULL */
        struct agent_config *cfg;       /* the profiles' configuration; may be NULL */
        struct httpc *http;
        pthread_t thread;
        bool started;
        atomic_bool stop;
        char done[DONE_MAX][40];        /* a ring */
        size_t n_done;
};

/* What one action came to. */
struct outcome {
        bool ok;
        char message[512];
        json_t *result;                 /* owned; may be NULL */
};

static bool done_before(const struct agent_actions *a, const char *id)
{
        for (size_t i = 0; i < DONE_MAX && i < a->n_done; i++)
                if (strcmp(a->done[i], id) == 0)
                        return true;
        return false;
}

static void done_add(struct agent_actions *a, const char *id)
{
        snprintf(a->done[a->n_done % DONE_MAX], sizeof(a->done[0]), "%s", id);
        a->n_done++;
}

/* Sleeps up to ms, waking early when asked to stop. */
static void nap_ms(struct agent_actions *a, int64_t ms)
{
        int64_t end = util_mono_ms() + ms;

        while (!atomic_load(&a->stop) && util_mono_ms() < end) {
                struct timespec ts = { .tv_nsec = 100 * 1000000L };
                nanosleep(&ts, NULL);
        }
}

/* Reports status on action id. Returns 0 if the server took it, -ESTALE if
 * it says the action is closed, -EACCES if the device is offboarded, or
 * another negative errno (not reached; logged). */
static int report(struct agent_actions *a, const char *id, const char *status, const char *message,
                  const json_t *result)
{
        char path[128], err[512], *body;
        json_t *j = json_pack("{s:s}", "status", status), *resp = NULL;
        long st = 0;
        int r;

        if (message && message[0])
                json_object_set_new(j, "message", json_string(message));
        if (result)
                json_object_set(j, "result", (json_t *)result);
        body = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (!body)
                return -ENOMEM;
        snprintf(path, sizeof(path), "/agent/v1/actions/%s", id);
        r = httpc_request(a->http, "POST", path, NULL, body, strlen(body), &st, &resp, err, sizeof(err));
        free(body);
        if (r < 0) {
                agent_log("warning", "action %s: cannot report %s: %s", id, status, err);
        } else if (st == 409 && strcmp(httpc_error_code(resp), "action_closed") == 0) {
                r = -ESTALE;
        } else if (st == 403) {
                r = -EACCES;
        } else if (st != 200) {
                agent_log("warning", "action %s: report %s refused (HTTP %ld): %s", id, status, st,
                          httpc_error_message(resp, st));
                r = -EPROTO;
        }
        json_decref(resp);
        return r;
}

static void do_isolate(struct agent_actions *a, struct outcome *o)
{
        struct isolate_endpoint eps[ENDPOINTS_MAX];
        size_t n = 0;
        char err[400], err2[400];

        if (isolate_endpoints_from_url(a->state.server_url, eps, ENDPOINTS_MAX, &n, err, sizeof(err)) < 0) {
                /* an isolated device cannot resolve the server's name (DNS is
                 * cut): isolated already, it keeps the endpoints it recorded */
                if (isolate_restore(a->state.dir, err2, sizeof(err2)) == 1) {
                        o->ok = true;
                        snprintf(o->message, sizeof(o->message), "isolated already: the rules recorded at "
                                 "isolation re-installed (%s)", err);
                        return;
                }
                snprintf(o->message, sizeof(o->message), "%s", err);
                return;
        }
        if (isolate_apply(a->state.dir, eps, n, err, sizeof(err)) < 0) {
                snprintf(o->message, sizeof(o->message), "%s", err);
                return;
        }
        o->ok = true;
        snprintf(o->message, sizeof(o->message), "isolated: all traffic dropped but loopback and %zu server "
                 "endpoint%s", n, n == 1 ? "" : "s");
}

static void do_release(struct agent_actions *a, struct outcome *o)
{
        char err[400];

        if (isolate_release(a->state.dir, err, sizeof(err)) < 0) {
                snprintf(o->message, sizeof(o->message), "%s", err);
                return;
        }
        o->ok = true;
        snprintf(o->message, sizeof(o->message), "released: isolation rules removed");
}

/* A fresh inventory and posture, sent now. */
static void do_scan(struct agent_actions *a, struct outcome *o)
{
        char hex[65], err[512], *text = NULL;
        json_t *resp = NULL;
        long st = 0;
        int r;

        r = agent_inventory_text(&text, hex);
        if (r < 0) {
                snprintf(o->message, sizeof(o->message), "cannot collect the inventory: %s", strerror(-r));
                return;
        }
        r = httpc_request(a->http, "PUT", "/agent/v1/inventory", NULL, text, strlen(text), &st, &resp,
                          err, sizeof(err));
        free(text);
        if (r < 0 || st != 200) {
                snprintf(o->message, sizeof(o->message), "cannot send the inventory: %s",
                         r < 0 ? err : httpc_error_message(resp, st));
        } else {
                o->ok = true;
                snprintf(o->message, sizeof(o->message), "inventory and posture sent (sha256 %.12s)", hex);
                o->result = json_pack("{s:s}", "inventory_sha256", hex);
        }
        json_decref(resp);
}

static int recent_events(void *ctx, struct vbuf *out)
{
        struct agent_actions *a = ctx;

        return a->rd ? agent_detect_recent_events(a->rd, out) : -ENODATA;
}

static int recent_log(void *ctx, struct vbuf *out)
{
        (void)ctx;
        return agent_log_recent(out);
}

/* The investigation package: made into the state directory, uploaded,
 * removed. */
static void do_collect(struct agent_actions *a, const char *id, struct outcome *o)
{
        struct investigate_opts io = {
                .state_dir = a->state.dir,
                .proc_root = "/proc",
                .recent_events = recent_events,
                .recent_log = recent_log,
                .ctx = a,
                .max_bytes = 0,
        };
        struct httpc_extra gz = { .content_type = "application/gzip", .timeout_s = 600 };
        char path[4200], upath[128], err[512], *data = NULL;
        uint8_t hash[32];
        char hex[65];
        size_t len = 0;
        json_t *resp = NULL;
        long st = 0;
        int r;

        snprintf(upath, sizeof(upath), "investigation-%s.tar.gz", id);
        if (agent_state_path(&a->state, upath, path, sizeof(path)) < 0) {
                snprintf(o->message, sizeof(o->message), "state directory path too long");
                return;
        }
        r = investigate_collect(&io, path, err, sizeof(err));
        if (r < 0) {
                snprintf(o->message, sizeof(o->message), "cannot make the package: %s", err);
                return;
        }
        r = util_file_read(path, PACKAGE_MAX, &data, &len);
        if (r < 0) {
                snprintf(o->message, sizeof(o->message), "cannot read the package back: %s",
                         r == -EFBIG ? "larger than the 64 MiB the server takes" : strerror(-r));
                goto out;
        }
        snprintf(upath, sizeof(upath), "/agent/v1/actions/%s/package", id);
        r = httpc_request_ex(a->http, "PUT", upath, NULL, data, len, &gz, &st, &resp, err, sizeof(err));
        if (r < 0 || st != 200) {
                snprintf(o->message, sizeof(o->message), "cannot upload the package: %s",
                         r < 0 ? err : httpc_error_message(resp, st));
                goto out;
        }
        crypto_sha256(data, len, hash);
        util_hex_encode(hash, sizeof(hash), hex);
        o->ok = true;
        snprintf(o->message, sizeof(o->message), "investigation package uploaded (%zu bytes)", len);
        o->result = json_pack("{s:I,s:s}", "size", (json_int_t)len, "sha256", hex);
out:
        json_decref(resp);
        free(data);
        unlink(path);
}

/* Offboarding: isolation and network protection come off first (a device
 * the server no longer knows could never be released), then the server revokes the certificate
 * once it has the report, and the agent stops. */
static void do_offboard(struct agent_actions *a, struct outcome *o)
{
        char err[400];

        if (isolate_release(a->state.dir, err, sizeof(err)) < 0) {
                snprintf(o->message, sizeof(o->message), "cannot remove isolation before offboarding: %s", err);
                return;
        }
        if (netprotect_remove(a->state.dir, err, sizeof(err)) < 0) {
                snprintf(o->message, sizeof(o->message), "cannot remove network protection before offboarding: %s",
                         err);
                return;
        }
        o->ok = true;
        snprintf(o->message, sizeof(o->message), "offboarding: isolation and network protection removed, the agent "
                 "stops");
}

static void run_one(struct agent_actions *a, const json_t *action)
{
        const char *id = json_string_value(json_object_get(action, "id"));
        const char *type = json_string_value(json_object_get(action, "type"));
        const char *status = json_string_value(json_object_get(action, "status"));
        struct outcome o = { 0 };
        int r;

        if (!id || !type || !status || strlen(id) >= sizeof(a->done[0]) || done_before(a, id))
                return;
        agent_log("info", "action %s: %s requested: %s", id, type,
                  json_string_value(json_object_get(action, "comment")) ?: "");
        if (strcmp(status, "pending") == 0) {
                r = report(a, id, "in_progress", NULL, NULL);
                if (r == -ESTALE) {
                        agent_log("info", "action %s: closed on the server before it started; skipped", id);
                        done_add(a, id);
                        return;
                }
                if (r < 0)
                        return;         /* handed over again at the next poll */
        }
        if (strcmp(type, "isolate") == 0)
                do_isolate(a, &o);
        else if (strcmp(type, "release") == 0)
                do_release(a, &o);
        else if (strcmp(type, "run_scan") == 0)
                do_scan(a, &o);
        else if (strcmp(type, "collect_investigation_package") == 0)
                do_collect(a, id, &o);
        else if (strcmp(type, "offboard") == 0)
                do_offboard(a, &o);
        else
                snprintf(o.message, sizeof(o.message), "this agent (%s) does not know the action '%.64s'",
                         VIGIL_VERSION, type);
        agent_log(o.ok ? "info" : "warning", "action %s: %s %s: %s", id, type, o.ok ? "succeeded" : "failed",
                  o.message);
        r = report(a, id, o.ok ? "succeeded" : "failed", o.message, o.result);
        json_decref(o.result);
        if (r == 0 || r == -ESTALE)
                done_add(a, id);
        if (r == 0 && o.ok && strcmp(type, "offboard") == 0) {
                agent_log("error", "this device was offboarded by the server (action %s); the agent stops", id);
                agent_state_mark_offboarded(&a->state);
                atomic_store(&a->stop, true);
                kill(getpid(), SIGTERM);
        }
}

/* One long-poll and what it hands over. Returns 0, -EACCES once offboarded,
 * or another negative errno to back off. */
static int poll_once(struct agent_actions *a)
{
        char path[160], err[512];
        json_t *resp = NULL, *act;
        long st = 0, wait = POLL_WAIT_S, report_in;
        size_t i;
        int r;

        /* the network protection report is due before the poll would end */
        report_in = a->cfg ? agent_config_report_tick(a->cfg, a->http) : 0;
        if (report_in > 0 && report_in < wait)
                wait = report_in;
        if (a->cfg)
                snprintf(path, sizeof(path), "/agent/v1/actions?wait=%ld&config_version=%s", wait,
                         agent_config_version(a->cfg));
        else
                snprintf(path, sizeof(path), "/agent/v1/actions?wait=%ld", wait);
        r = httpc_request(a->http, "GET", path, NULL, NULL, 0, &st, &resp, err, sizeof(err));
        if (r < 0) {
                if (r != -ECANCELED)
                        agent_log("warning", "actions: server unreachable: %s", err);
                return r;
        }
        if (st == 403 && strcmp(httpc_error_code(resp), "device_offboarded") == 0) {
                json_decref(resp);
                return -EACCES;
        }
        if (st != 200 || !json_is_array(json_object_get(resp, "actions"))) {
                agent_log("warning", "actions: poll refused (HTTP %ld): %s", st, httpc_error_message(resp, st));
                json_decref(resp);
                return -EPROTO;
        }
        json_array_foreach(json_object_get(resp, "actions"), i, act) {
                if (atomic_load(&a->stop))
                        break;
                run_one(a, act);
        }
        r = 0;
        if (a->cfg && !atomic_load(&a->stop))
                r = agent_config_sync(a->cfg, a->http, json_string_value(json_object_get(resp, "config_version")));
        json_decref(resp);
        return r == -EACCES ? r : 0;
}

/* Domains of network protection are resolved again every
 * NETPROTECT_REFRESH_S (between polls: a poll lasts at most POLL_WAIT_S). */
static void netprotect_tick(struct agent_actions *a, int64_t *next_ms)
{
        char err[400];

        if (util_mono_ms() < *next_ms)
                return;
        *next_ms = util_mono_ms() + NETPROTECT_REFRESH_S * 1000;
        if (netprotect_refresh(a->state.dir, err, sizeof(err)) < 0)
                agent_log("warning", "network protection: cannot refresh: %s", err);
}

static void *actions_main(void *arg)
{
        struct agent_actions *a = arg;
        int64_t backoff = BACKOFF_MIN_MS, refresh_ms = util_mono_ms() + NETPROTECT_REFRESH_S * 1000;

        while (!atomic_load(&a->stop)) {
                int r;
                netprotect_tick(a, &refresh_ms);
                r = poll_once(a);
                if (r == -EACCES)
                        break;
                if (r == 0) {
                        backoff = BACKOFF_MIN_MS;
                        continue;
                }
                nap_ms(a, backoff);
                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
        }
        return NULL;
}

int agent_actions_restore(const struct agent_state *st)
{
        char err[400];
        int r, rn;

        rn = netprotect_restore(st->dir, err, sizeof(err));
        if (rn < 0)
                agent_log("error", "network protection was on but cannot be put back: %s", err);
        else if (rn == 1)
                agent_log("info", "network protection put back");
        r = isolate_restore(st->dir, err, sizeof(err));
        if (r < 0)
                agent_log("error", "this device was isolated but the isolation cannot be put back: %s", err);
        else if (r == 1)
                agent_log("warning", "this device is isolated (by an admin's action): all traffic but loopback "
                          "and the server's is dropped until it is released");
        return r;
}

int agent_actions_start(const struct agent_state *st, struct run_detect *rd, struct agent_config *cfg,
                        struct agent_actions **ret)
{
        struct agent_actions *a = calloc(1, sizeof(*a));
        sigset_t all, old;
        int r;

        if (!a)
                return -ENOMEM;
        a->state = *st;
        a->rd = rd;
        a->cfg = cfg;
        atomic_init(&a->stop, false);
        r = agent_state_httpc(st, POLL_TIMEOUT_S, &a->http);
        if (r < 0) {
                agent_log("error", "cannot make the actions client: %s; device actions are off", strerror(-r));
                free(a);
                return r;
        }
        httpc_set_abort(a->http, &a->stop);
        /* signals go to the main thread */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        r = -pthread_create(&a->thread, NULL, actions_main, a);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r < 0) {
                agent_log("error", "cannot start the actions thread: %s; device actions are off", strerror(-r));
                httpc_free(a->http);
                free(a);
                return r;
        }
        a->started = true;
        *ret = a;
        return 0;
}

void agent_actions_stop(struct agent_actions *a)
{
        if (!a)
                return;
        /* a long-poll under way gives up within a second (httpc_set_abort) */
        atomic_store(&a->stop, true);
        if (a->started)
                pthread_join(a->thread, NULL);
        httpc_free(a->http);
        free(a);
}
