/* The uplink loop: send the inventory at start and whenever it changes,
 * heartbeat every interval (with jitter, so a fleet restarted together does
 * not beat in step), back off while the server is unreachable, and stop for
 * good once the server says this device was offboarded. The sensor and
 * detection run beside it in a thread of their own (run_detect.c), spooling
 * alerts that the alert uplink, in a third thread, sends as they come
 * (uplink_alerts.c); a fourth carries out the device actions the server
 * asks for (actions.c), after isolation recorded earlier is put back. The spool is opened here, before detection drops the
 * agent's capabilities, and the uplink thread is started after, so that it
 * runs reduced too. */
#include "agent/src/agent.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/src/actions.h"
#include "agent/src/config.h"
#include "agent/src/spool.h"
#include "agent/src/uplink_alerts.h"
#include "crypto/crypto.h"
#include "httpc/httpc.h"
#include "inventory/inventory.h"
#include "util/strutil.h"

#define BACKOFF_MIN_S 1
#define BACKOFF_MAX_S 300
#define INTERVAL_MIN_S 1
#define INTERVAL_MAX_S 86400

/* UPLINK_REJECTED: the server refused this request's content (4xx); sending
 * it again unchanged cannot help. */
enum uplink_result { UPLINK_OK, UPLINK_RETRY, UPLINK_REJECTED, UPLINK_OFFBOARDED, UPLINK_FATAL };

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
        stop_requested = sig;
}

struct uplink {
        struct agent_state state;
        struct httpc *http;
        char *inventory;                /* canonical JSON last collected */
        char inventory_hash[65];
        bool inventory_sent;            /* the server holds inventory_hash */
        long interval;
};

/* Which sensor runs: written by the detection thread's start and stop, read by the uplink. */
static _Atomic(const char *) sensor_name = "none";

void agent_sensor_set(const char *name)
{
        atomic_store(&sensor_name, name ? name : "none");
}

int agent_inventory_text(char **ret_text, char ret_hex[static 65])
{
        struct inventory_options o = { .root = "/" };
        uint8_t hash[32];
        json_t *inv = NULL;
        char *text;
        int r;

        r = inventory_collect(&o, &inv);
        if (r < 0) {
                agent_log("warning", "cannot collect the inventory: %s", strerror(-r));
                return r;
        }
        json_object_set_new(inv, "agent_version", json_string(VIGIL_VERSION));
        json_object_set_new(inv, "sensor", json_pack("{s:s}", "name", atomic_load(&sensor_name)));
        text = json_dumps(inv, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(inv);
        if (!text)
                return -ENOMEM;
        crypto_sha256(text, strlen(text), hash);
        util_hex_encode(hash, sizeof(hash), ret_hex);
        *ret_text = text;
        return 0;
}

static int inventory_refresh(struct uplink *u)
{
        char hex[65], *text;
        int r;

        r = agent_inventory_text(&text, hex);
        if (r < 0)
                return r;
        if (strcmp(hex, u->inventory_hash) != 0)
                u->inventory_sent = false;
        free(u->inventory);
        u->inventory = text;
        memcpy(u->inventory_hash, hex, sizeof(hex));
        return 0;
}

/* Classifies a response. Returns UPLINK_OK for a 2xx. */
static enum uplink_result classify(long status, const json_t *resp, const char *what)
{
        if (status >= 200 && status < 300)
                return UPLINK_OK;
        if (status == 403 && strcmp(httpc_error_code(resp), "device_offboarded") == 0)
                return UPLINK_OFFBOARDED;
        agent_log("warning", "%s refused (HTTP %ld): %s", what, status, httpc_error_message(resp, status));
        if (status == 401 || status == 403)
                return UPLINK_FATAL;
        if (status >= 400 && status < 500 && status != 408 && status != 429)
                return UPLINK_REJECTED;
        return UPLINK_RETRY;
}

static enum uplink_result request(struct uplink *u, const char *method, const char *path,
                                  const char *body, const char *what, json_t **ret)
{
        char err[512];
        long status = 0;
        json_t *resp = NULL;
        enum uplink_result res;

        if (httpc_request(u->http, method, path, NULL, body, strlen(body), &status, &resp,
                          err, sizeof(err)) < 0) {
                agent_log("warning", "server unreachable: %s", err);
                return UPLINK_RETRY;
        }
        res = classify(status, resp, what);
        if (res == UPLINK_OK && ret)
                *ret = resp;
        else
                json_decref(resp);
        return res;
}

static enum uplink_result send_inventory(struct uplink *u)
{
        enum uplink_result res;

        res = request(u, "PUT", "/agent/v1/inventory", u->inventory, "inventory upload", NULL);
        if (res == UPLINK_OK) {
                u->inventory_sent = true;
                agent_log("info", "inventory sent (sha256 %.12s)", u->inventory_hash);
        } else if (res == UPLINK_REJECTED) {
                /* not again until it changes or the server asks: heartbeats go on */
                u->inventory_sent = true;
                res = UPLINK_OK;
        }
        return res;
}

static enum uplink_result heartbeat(struct uplink *u)
{
        char body[160];
        json_t *resp = NULL;
        json_int_t interval;
        int current = 1;
        enum uplink_result res;

        /* no inventory yet (collection failed): say nothing of it */
        if (u->inventory_hash[0])
                snprintf(body, sizeof(body), "{\"agent_version\":\"%s\",\"inventory_sha256\":\"%s\"}",
                         VIGIL_VERSION, u->inventory_hash);
        else
                snprintf(body, sizeof(body), "{\"agent_version\":\"%s\"}", VIGIL_VERSION);
        res = request(u, "POST", "/agent/v1/heartbeat", body, "heartbeat", &resp);
        if (res != UPLINK_OK)
                return res;
        if (json_unpack(resp, "{s:I,s:b}", "heartbeat_interval", &interval, "inventory_current", &current) == 0 &&
            interval >= INTERVAL_MIN_S && interval <= INTERVAL_MAX_S)
                u->interval = (long)interval;
        json_decref(resp);
        if (!current)
                u->inventory_sent = false;
        return UPLINK_OK;
}

/* One round: a heartbeat, then the inventory if it changed or the server
 * lacks it. */
static enum uplink_result round_once(struct uplink *u)
{
        enum uplink_result res;

        inventory_refresh(u);
        res = heartbeat(u);
        if (res == UPLINK_REJECTED)
                res = UPLINK_RETRY;
        if (res == UPLINK_OK && !u->inventory_sent && u->inventory)
                res = send_inventory(u);
        return res;
}

/* Sleeps up to seconds, waking early on a signal. */
static void nap(long seconds)
{
        struct timespec ts = { .tv_sec = seconds };

        while (!stop_requested && nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static long jittered(long interval)
{
        uint32_t rnd = 0;
        long spread = interval / 10;

        if (spread == 0)
                return interval;
        crypto_random(&rnd, sizeof(rnd));
        return interval - spread + (long)(rnd % (uint32_t)(2 * spread + 1));
}

static int uplink_open(struct uplink *u, const char *state_dir)
{
        char err[512];
        int r;

        snprintf(u->state.dir, sizeof(u->state.dir), "%s", state_dir);
        r = agent_state_load(&u->state, err, sizeof(err));
        if (r == -ENOENT) {
                agent_log("error", "this device is not onboarded (no state in '%s'): run "
                          "'vigil-agent onboard PACKAGE' first", state_dir);
                return r;
        }
        if (r < 0) {
                agent_log("error", "%s", err);
                return r;
        }
        r = agent_state_httpc(&u->state, 0, &u->http);
        if (r < 0)
                agent_log("error", "bad server URL '%s' in the state", u->state.server_url);
        return r;
}

/* The spool and its uplink; a spool that cannot be opened leaves the agent
 * without detection (logged), as before. */
static void alerts_start(const struct agent_run_opts *o, const struct agent_state *st, struct spool **ret_spool,
                         struct alert_uplink **ret_uplink, struct run_detect **ret_rd)
{
        struct alert_uplink *up = NULL;
        struct spool *sp = NULL;
        char dir[4200];
        int r;

        r = agent_state_path(st, "spool", dir, sizeof(dir));
        if (r == 0)
                r = spool_open(dir, "alerts", 0, 0, &sp);
        if (r < 0) {
                agent_log("error", "cannot open the alert spool in '%s': %s; detection is off", dir, strerror(-r));
                return;
        }
        alert_uplink_new(st, sp, &up);
        if (!o->no_detect)
                agent_detect_start(o, sp, up, ret_rd);
        if (up && alert_uplink_start(up) < 0) {
                alert_uplink_free(up);
                up = NULL;
        }
        *ret_spool = sp;
        *ret_uplink = up;
}

int agent_run(const struct agent_run_opts *o)
{
        struct sigaction sa = { .sa_handler = on_signal };
        struct uplink u = { .interval = 60 };
        struct run_detect *rd = NULL;
        struct agent_actions *acts = NULL;
        struct agent_config *cfg = NULL;
        struct alert_uplink *up = NULL;
        struct spool *sp = NULL;
        long backoff = BACKOFF_MIN_S;
        bool once = o->once;
        int code = 0;

        if (strlen(o->state_dir) >= sizeof(u.state.dir) - 64 || uplink_open(&u, o->state_dir) < 0)
                return 1;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        agent_log("info", "vigil-agent %s running as device %s, server %s", VIGIL_VERSION,
                  u.state.device_id, u.state.server_url);
        /* an isolated device stays isolated, server or not */
        agent_actions_restore(&u.state);
        /* one round (--once) has nothing to detect in and takes no action;
         * without detection what an earlier run spooled is still sent */
        if (!once) {
                alerts_start(o, &u.state, &sp, &up, &rd);
                /* the configuration kept applies before the server answers */
                if (agent_config_new(&u.state, rd, up, o->rules, o->n_rules, &cfg) == 0)
                        agent_config_restore(cfg);
                agent_actions_start(&u.state, rd, cfg, &acts);
        }
        while (!stop_requested) {
                enum uplink_result res = round_once(&u);
                if (res == UPLINK_OFFBOARDED) {
                        agent_log("error", "this device was offboarded by the server and its certificate "
                                  "revoked; the agent stops (onboard again to return)");
                        agent_state_mark_offboarded(&u.state);
                        code = 0;
                        break;
                }
                if (res == UPLINK_FATAL) {
                        code = 1;
                        if (once)
                                break;
                }
                if (once) {
                        code = res == UPLINK_OK ? 0 : 1;
                        break;
                }
                if (res == UPLINK_OK) {
                        code = 0;
                        backoff = BACKOFF_MIN_S;
                        /* a profile's interval wins over the server's */
                        nap(jittered(agent_config_heartbeat(cfg) ? (long)agent_config_heartbeat(cfg) : u.interval));
                } else {
                        agent_log("info", "retrying in %ld s", backoff);
                        nap(backoff);
                        backoff = backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : backoff * 2;
                }
        }
        if (stop_requested)
                agent_log("info", "stopping on signal %d", (int)stop_requested);
        agent_actions_stop(acts);
        agent_config_free(cfg);
        agent_detect_stop(rd);
        alert_uplink_free(up);
        spool_close(sp);
        httpc_free(u.http);
        free(u.inventory);
        return code;
}
