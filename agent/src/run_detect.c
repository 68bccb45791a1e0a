/* run_detect: the sensor and detection inside `vigil-agent run`.
 *
 * They run in a thread of their own because the uplink loop blocks on HTTP.
 * Everything is set up in the calling thread before the thread starts:
 * rules, the sensor (which needs root), the process table, the spool; then
 * capabilities are dropped, which on Linux holds for the calling thread and
 * every thread made after it, so the whole agent runs reduced. The thread
 * owns all of it but the spool (opened by `run`, shared with the alert
 * uplink); it talks to the rest only through the log, the spool and the
 * uplink's wake-up. Every alert, new or folded, goes to the log as one line
 * and to the spool STATE/spool/alerts-*.jsonl as its JSON; new alerts are
 * synced to disk at once, fold updates at most once a second
 * (docs/DETECTION.md); then the uplink is woken, at once for a high alert
 * (it sends it straight away), lazily for the others (they wait up to a
 * second to travel together). */
#include "agent/src/agent.h"

#include <errno.h>
#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/src/pipeline.h"
#include "agent/src/spool.h"
#include "agent/src/uplink_alerts.h"
#include "util/strutil.h"

#define SYNC_EVERY_NS 1000000000ull     /* fold updates reach the disk within this */

struct run_detect {
        pthread_t thread;
        atomic_int stop;                /* set by the uplink's thread */
        struct evsrc *src;
        struct proctable *pt;
        struct detect *det;
        struct spool *spool;            /* not owned */
        struct alert_uplink *uplink;    /* not owned; NULL: none */
        uint64_t last_sync_ns;
        uint64_t spool_errors;
        char *line;                     /* ALERT_LINE_MAX bytes */
};

static void on_alert(const struct alert *a, enum alert_change change, void *userdata)
{
        struct run_detect *rd = userdata;
        size_t n;
        int r;

        alert_summary(a, change, rd->line, ALERT_LINE_MAX);
        agent_log("alert", "%s", rd->line);
        r = alert_to_line(a, change, rd->line, ALERT_LINE_MAX, &n);
        if (r == 0)
                r = spool_append(rd->spool, rd->line, n);
        if (r == 0 && change == ALERT_CHANGE_NEW) {
                r = spool_sync(rd->spool);
                rd->last_sync_ns = pipeline_mono_ns();
        }
        if (r < 0 && rd->spool_errors++ == 0)
                agent_log("error", "cannot spool alert %s: %s (further failures are counted)",
                          a->id, strerror(-r));
        if (r == 0)
                alert_uplink_wake(rd->uplink, a->severity == ALERT_SEVERITY_HIGH);
}

static void on_event(const struct agent_event *ev, void *ctx)
{
        struct run_detect *rd = ctx;

        proctable_feed(rd->pt, ev);
        detect_event(rd->det, ev, rd->pt);
}

static int after_poll(void *ctx, uint64_t now)
{
        struct run_detect *rd = ctx;

        detect_tick(rd->det, now);
        if (now - rd->last_sync_ns >= SYNC_EVERY_NS) {
                spool_sync(rd->spool);
                rd->last_sync_ns = now;
        }
        return 0;
}

static void *detect_thread(void *arg)
{
        struct run_detect *rd = arg;
        struct detect_stats st;

        pipeline_loop(rd->src, rd->pt, on_event, rd, 0, &rd->stop, after_poll);
        detect_stats_get(rd->det, &st);
        agent_log("info", "detection stopped: events seen %llu, alerts %llu new, %llu updates; "
                  "spool holds %llu bytes, %llu alert lines dropped for space",
                  (unsigned long long)st.events, (unsigned long long)st.alerts_new,
                  (unsigned long long)st.alerts_updated, (unsigned long long)spool_bytes(rd->spool),
                  (unsigned long long)spool_dropped(rd->spool));
        return NULL;
}

static void run_detect_free(struct run_detect *rd)
{
        if (rd->src)
                rd->src->ops->close(rd->src);
        detect_free(rd->det);
        proctable_free(rd->pt);
        free(rd->line);
        free(rd);
}

/* Rules, spool, sensor and table, in that order: what can fail on bad
 * input comes before the sensor is attached. */
static int run_detect_open(struct run_detect *rd, const struct agent_run_opts *o)
{
        /* the uplink still reads the nftables ruleset for the inventory */
        static const int extra[] = { CAP_NET_ADMIN };
        const char *watch[EVSRC_WATCH_MAX + 1];
        int r;

        r = agent_detect_setup(o->rules, o->n_rules, on_alert, rd, &rd->det);
        if (r < 0)
                return r;
        pipeline_detect_watch_paths(watch);
        r = pipeline_sensor_open(o->sensor, watch, &rd->src);
        if (r < 0)
                return r;
        detect_sensor_set(rd->det, rd->src->ops->name);
        r = pipeline_table_seed(rd->pt);
        pipeline_privs_drop(extra, 1, "CAP_NET_ADMIN (the inventory's firewall state)");
        pipeline_log_running(rd->src, r);
        return 0;
}

int agent_detect_start(const struct agent_run_opts *o, struct spool *spool, struct alert_uplink *uplink,
                       struct run_detect **ret)
{
        struct run_detect *rd = calloc(1, sizeof(*rd));
        sigset_t all, old;
        int r = -ENOMEM;

        if (!rd)
                return r;
        rd->spool = spool;
        rd->uplink = uplink;
        rd->line = malloc(ALERT_LINE_MAX);
        rd->pt = proctable_new(0, 0);
        if (!rd->line || !rd->pt)
                goto fail;
        r = run_detect_open(rd, o);
        if (r < 0)
                goto fail;
        /* signals go to the uplink thread, which stops this one */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        r = -pthread_create(&rd->thread, NULL, detect_thread, rd);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r < 0)
                goto fail;
        *ret = rd;
        return 0;
fail:
        agent_log("warning", "detection is off: %s", strerror(-r));
        run_detect_free(rd);
        return r;
}

void agent_detect_stop(struct run_detect *rd)
{
        if (!rd)
                return;
        atomic_store(&rd->stop, 1);
        pthread_join(rd->thread, NULL);
        run_detect_free(rd);
}
