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
 * second to travel together).
 *
 * The thread also keeps the last AGENT_RECENT_EVENTS events in a ring of
 * fixed slots for the investigation package: a copy of the event's numbers
 * and of at most AGENT_RECENT_TEXT bytes of its text, under a lock taken
 * once per event; they become JSON only when asked for
 * (agent_detect_recent_events, from another thread). */
#include "agent/src/agent.h"

#include <errno.h>
#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/src/event_json.h"
#include "agent/src/pipeline.h"
#include "agent/src/spool.h"
#include "agent/src/uplink_alerts.h"
#include "util/strutil.h"

#define SYNC_EVERY_NS 1000000000ull     /* fold updates reach the disk within this */

#define RECENT_IMAGE_MAX 512            /* of AGENT_RECENT_TEXT, at most, for an image */
#define RECENT_CWD_MAX 256

/* One recorded event: what struct agent_event holds, with its text packed:
 * exec "image\0cwd\0args", file "path\0", memfd "name\0". */
struct recent_event {
        uint32_t type;
        uint32_t text_len;
        uint64_t mono_ns;
        int64_t wall_ns;
        struct ev_proc proc;
        union {
                struct ev_fork fork;
                struct ev_exit exit;
                struct ev_cred cred;
                struct ev_inject inject;
                struct ev_net net;
                struct { uint32_t flags, argc, args_len, image_len, cwd_len; } exec;
                struct { uint32_t op, flags; } file;
                struct { uint32_t flags; } memfd;
        } u;
        char text[AGENT_RECENT_TEXT];
};

struct recent_ring {
        pthread_mutex_t lock;
        struct recent_event *slot;      /* AGENT_RECENT_EVENTS */
        uint64_t written;               /* events recorded since the start */
};

struct run_detect {
        pthread_t thread;
        struct recent_ring recent;
        atomic_int stop;                /* set by the uplink's thread */
        atomic_bool off;                /* threat defense off (a profile): the sensor paused, events dropped */
        atomic_bool reseed;             /* the sensor was paused: seed the process table again */
        uint64_t off_events;            /* events that came while off (detection thread) */
        pthread_mutex_t swap_lock;
        struct detect *next;            /* new rules to take at the next poll (agent_detect_reload) */
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

/* Copies at most max bytes of the NUL-terminated s (of at most cap bytes)
 * into out with its NUL; returns the length kept and flags a cut. */
static uint32_t text_keep(char *out, const char *s, size_t cap, size_t max, bool *cut)
{
        size_t n = strnlen(s, cap);

        if (n > max) {
                n = max;
                *cut = true;
        }
        memcpy(out, s, n);
        out[n] = '\0';
        return (uint32_t)n;
}

/* The exec's image, cwd and as many whole-or-cut arguments as fit. */
static void recent_exec(struct recent_event *r, const struct ev_exec *x)
{
        bool image_cut = false, cwd_cut = false;
        uint32_t room, n, argc = 0;
        char *p = r->text;

        r->u.exec.flags = x->flags;
        r->u.exec.image_len = text_keep(p, x->image, sizeof(x->image), RECENT_IMAGE_MAX, &image_cut);
        p += r->u.exec.image_len + 1;
        r->u.exec.cwd_len = text_keep(p, x->cwd, sizeof(x->cwd), RECENT_CWD_MAX, &cwd_cut);
        p += r->u.exec.cwd_len + 1;
        room = (uint32_t)(r->text + AGENT_RECENT_TEXT - p);
        n = x->args_len <= sizeof(x->args) ? x->args_len : sizeof(x->args);
        if (n > room) {
                n = room;
                r->u.exec.flags |= EV_EXEC_ARGS_TRUNCATED;
        }
        memcpy(p, x->args, n);
        argc = x->argc;
        if (r->u.exec.flags & EV_EXEC_ARGS_TRUNCATED && n > 0) {
                /* the entries that are left, the last one cut */
                p[n - 1] = '\0';
                argc = 0;
                for (uint32_t i = 0; i < n; i++)
                        argc += p[i] == '\0';
        }
        r->u.exec.args_len = n;
        r->u.exec.argc = argc < x->argc ? argc : x->argc;
        r->u.exec.flags |= (image_cut ? EV_EXEC_PATH_TRUNCATED : 0) | (cwd_cut ? EV_EXEC_CWD_TRUNCATED : 0);
        r->text_len = (uint32_t)(p + n - r->text);
}

static void recent_record(struct recent_ring *ring, const struct agent_event *ev)
{
        struct recent_event *r;
        bool cut = false;

        pthread_mutex_lock(&ring->lock);
        r = &ring->slot[ring->written++ % AGENT_RECENT_EVENTS];
        r->type = ev->type;
        r->mono_ns = ev->mono_ns;
        r->wall_ns = ev->wall_ns;
        r->proc = ev->proc;
        r->text_len = 0;
        switch (ev->type) {
        case EV_EXEC: recent_exec(r, &ev->exec); break;
        case EV_FORK: r->u.fork = ev->fork; break;
        case EV_EXIT: r->u.exit = ev->exit; break;
        case EV_CRED: r->u.cred = ev->cred; break;
        case EV_PTRACE: case EV_VM_WRITE: case EV_PROC_MEM_WRITE: r->u.inject = ev->inject; break;
        case EV_CONNECT: case EV_ACCEPT: r->u.net = ev->net; break;
        case EV_FILE:
                r->u.file.op = ev->file.op;
                r->text_len = text_keep(r->text, ev->file.path, sizeof(ev->file.path), AGENT_RECENT_TEXT - 1, &cut) + 1;
                r->u.file.flags = ev->file.flags | (cut ? EV_FILE_PATH_TRUNCATED : 0);
                break;
        case EV_MEMFD:
                r->u.memfd.flags = ev->memfd.flags;
                r->text_len = text_keep(r->text, ev->memfd.name, sizeof(ev->memfd.name), 255, &cut) + 1;
                break;
        }
        pthread_mutex_unlock(&ring->lock);
}

static void on_event(const struct agent_event *ev, void *ctx)
{
        struct run_detect *rd = ctx;

        /* the table stays fed so lineage is right when threat defense is on again */
        proctable_feed(rd->pt, ev);
        if (atomic_load(&rd->off)) {
                rd->off_events++;
                return;
        }
        recent_record(&rd->recent, ev);
        detect_event(rd->det, ev, rd->pt);
}

static int after_poll(void *ctx, uint64_t now)
{
        struct run_detect *rd = ctx;
        struct detect *old = NULL;

        pthread_mutex_lock(&rd->swap_lock);
        if (rd->next) {
                old = rd->det;
                rd->det = rd->next;
                rd->next = NULL;
        }
        pthread_mutex_unlock(&rd->swap_lock);
        /* alerts the old rules were folding are not carried over */
        detect_free(old);
        /* back from a pause of the sensor: what started meanwhile, from /proc */
        if (atomic_exchange(&rd->reseed, false)) {
                agent_log("info", "threat defense on again: %llu events came from the sensor while it was off",
                          (unsigned long long)rd->off_events);
                rd->off_events = 0;
                pipeline_table_seed(rd->pt);
        }
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

/* Writes back into ev what recent_record kept of it. */
static void recent_rebuild(const struct recent_event *r, struct agent_event *ev)
{
        const char *p = r->text;

        ev->type = (enum ev_type)r->type;
        ev->mono_ns = r->mono_ns;
        ev->wall_ns = r->wall_ns;
        ev->proc = r->proc;
        switch (ev->type) {
        case EV_EXEC:
                memcpy(ev->exec.image, p, r->u.exec.image_len + 1);
                p += r->u.exec.image_len + 1;
                memcpy(ev->exec.cwd, p, r->u.exec.cwd_len + 1);
                p += r->u.exec.cwd_len + 1;
                memcpy(ev->exec.args, p, r->u.exec.args_len);
                ev->exec.args_len = r->u.exec.args_len;
                ev->exec.argc = r->u.exec.argc;
                ev->exec.flags = r->u.exec.flags;
                break;
        case EV_FORK: ev->fork = r->u.fork; break;
        case EV_EXIT: ev->exit = r->u.exit; break;
        case EV_CRED: ev->cred = r->u.cred; break;
        case EV_PTRACE: case EV_VM_WRITE: case EV_PROC_MEM_WRITE: ev->inject = r->u.inject; break;
        case EV_CONNECT: case EV_ACCEPT: ev->net = r->u.net; break;
        case EV_FILE:
                memcpy(ev->file.path, p, r->text_len);
                ev->file.op = r->u.file.op;
                ev->file.flags = r->u.file.flags;
                break;
        case EV_MEMFD:
                memcpy(ev->memfd.name, p, r->text_len);
                ev->memfd.flags = r->u.memfd.flags;
                break;
        }
}

/* A copy of the ring, oldest first, so that rendering holds no lock the
 * detection thread waits on. Returns the count, 0 on ENOMEM. */
static size_t recent_snapshot(struct recent_ring *ring, struct recent_event **ret)
{
        struct recent_event *v;
        uint64_t first;
        size_t n;

        pthread_mutex_lock(&ring->lock);
        n = ring->written < AGENT_RECENT_EVENTS ? (size_t)ring->written : AGENT_RECENT_EVENTS;
        first = ring->written - n;
        v = n ? malloc(n * sizeof(*v)) : NULL;
        for (size_t i = 0; v && i < n; i++)
                v[i] = ring->slot[(first + i) % AGENT_RECENT_EVENTS];
        pthread_mutex_unlock(&ring->lock);
        *ret = v;
        return v ? n : 0;
}

/* Renders the events as JSON lines into all, noting where each starts. */
static int recent_render(const struct recent_event *v, size_t n, const char *sensor, struct vbuf *all,
                         size_t *start)
{
        struct agent_event *ev = calloc(1, sizeof(*ev));
        struct proctable *pt = proctable_new(16384, 16u << 20);
        struct event_json *ej = event_json_new(sensor);
        int r = -ENOMEM;

        if (!ev || !pt || !ej)
                goto out;
        proctable_seed(pt, "/proc");
        for (size_t i = 0; i < n; i++) {
                json_t *o;
                char *s;

                start[i] = all->len;
                recent_rebuild(&v[i], ev);
                proctable_feed(pt, ev);
                if (event_json_build(ej, ev, pt, &o) < 0)
                        goto out;
                s = json_dumps(o, JSON_COMPACT);
                json_decref(o);
                r = s ? vbuf_printf(all, "%s\n", s) : -ENOMEM;
                free(s);
                if (r < 0)
                        goto out;
        }
        start[n] = all->len;
        r = 0;
out:
        event_json_free(ej);
        proctable_free(pt);
        free(ev);
        return r;
}

int agent_detect_recent_events(struct run_detect *rd, struct vbuf *out)
{
        struct recent_event *v = NULL;
        size_t n = recent_snapshot(&rd->recent, &v), k = 0, room = out->max - out->len;
        size_t *start = calloc(n + 1, sizeof(*start));
        struct vbuf all;
        int r;

        vbuf_init(&all, (size_t)AGENT_RECENT_EVENTS * 64 * 1024);
        r = start ? recent_render(v, n, rd->src->ops->name, &all, start) : -ENOMEM;
        if (r == 0) {
                while (k < n && start[n] - start[k] > room)
                        k++;
                r = vbuf_append(out, all.data ? all.data + start[k] : "", start[n] - start[k]);
        }
        vbuf_release(&all);
        free(start);
        free(v);
        return r < 0 ? r : k > 0;
}

static void run_detect_free(struct run_detect *rd)
{
        if (rd->src)
                rd->src->ops->close(rd->src);
        detect_free(rd->det);
        detect_free(rd->next);
        pthread_mutex_destroy(&rd->swap_lock);
        proctable_free(rd->pt);
        free(rd->line);
        free(rd->recent.slot);
        pthread_mutex_destroy(&rd->recent.lock);
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
        agent_sensor_set(rd->src->ops->name);
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
        pthread_mutex_init(&rd->recent.lock, NULL);
        pthread_mutex_init(&rd->swap_lock, NULL);
        rd->recent.slot = malloc((size_t)AGENT_RECENT_EVENTS * sizeof(*rd->recent.slot));
        rd->line = malloc(ALERT_LINE_MAX);
        rd->pt = proctable_new(0, 0);
        if (!rd->line || !rd->pt || !rd->recent.slot)
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
        agent_sensor_set("none");
        run_detect_free(rd);
}

void agent_detect_set_enabled(struct run_detect *rd, bool on)
{
        if (!rd || atomic_exchange(&rd->off, !on) == !on)
                return;
        /* the eBPF sensor stops writing events in the kernel; the proc
         * connector's are dropped here (on_event) */
        if (rd->src->ops->pause)
                rd->src->ops->pause(rd->src, !on);
        if (on)
                atomic_store(&rd->reseed, true);
        agent_log("info", "threat defense %s by a configuration profile%s", on ? "on" : "off",
                  rd->src->ops->pause ? (on ? ": the sensor writes events again" :
                                         ": the sensor writes no events") : "");
}

int agent_detect_reload(struct run_detect *rd, const char *const *rules, size_t n_rules)
{
        struct detect *det, *dropped;
        int r;

        if (!rd)
                return -ENOTCONN;
        r = agent_detect_setup(rules, n_rules, on_alert, rd, &det);
        if (r < 0)
                return r;
        detect_sensor_set(det, rd->src->ops->name);
        pthread_mutex_lock(&rd->swap_lock);
        dropped = rd->next;
        rd->next = det;
        pthread_mutex_unlock(&rd->swap_lock);
        detect_free(dropped);
        return 0;
}
