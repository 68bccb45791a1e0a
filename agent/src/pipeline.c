/* pipeline: the sensor, table and privilege steps that `events`, `detect`
 * and `run` share (see pipeline.h). */
#include "agent/src/pipeline.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent/src/agent.h"
#include "agent/src/privs.h"
#include "util/strutil.h"

void pipeline_detect_watch_paths(const char *out[static EVSRC_WATCH_MAX + 1])
{
        static const char *const writable[] = { "/tmp/", "/var/tmp/", "/dev/shm/" };
        size_t n = 0;

        for (size_t i = 0; evsrc_default_watch_paths[i] && n < EVSRC_WATCH_MAX; i++)
                out[n++] = evsrc_default_watch_paths[i];
        for (size_t i = 0; i < sizeof(writable) / sizeof(writable[0]) && n < EVSRC_WATCH_MAX; i++)
                out[n++] = writable[i];
        out[n] = NULL;
}

int pipeline_sensor_open(const char *sensor, const char *const *watch_paths, struct evsrc **ret)
{
        struct evsrc_config cfg = { .watch_paths = watch_paths };
        char err[512] = "";
        int r;

        if (strcmp(sensor, "cnproc") != 0) {
                r = evsrc_bpf_open(&cfg, ret, err, sizeof(err));
                if (r == 0)
                        return 0;
                if (strcmp(sensor, "bpf") == 0) {
                        agent_log("error", "cannot open the eBPF sensor: %s", err[0] ? err : strerror(-r));
                        return r;
                }
                agent_log("warning", "eBPF sensor unavailable (%s); falling back to the proc connector",
                          err[0] ? err : strerror(-r));
        }
        err[0] = '\0';
        r = evsrc_cnproc_open(&cfg, ret, err, sizeof(err));
        if (r < 0) {
                agent_log("error", "cannot open the proc-connector sensor: %s", err[0] ? err : strerror(-r));
                return r;
        }
        return 0;
}

int pipeline_table_seed(struct proctable *pt)
{
        int r = proctable_seed(pt, "/proc");

        if (r < 0)
                agent_log("warning", "cannot read /proc to seed the process table: %s", strerror(-r));
        return r < 0 ? 0 : r;
}

void pipeline_log_running(struct evsrc *src, int seeded)
{
        const char *lim = src->ops->limitations(src);

        agent_log("info", "sensor '%s' running (%d processes from /proc); it cannot see: %s",
                  src->ops->name, seeded, lim && *lim ? lim : "(nothing declared)");
}

int pipeline_opt_parse(const char *cmd, int c, const char *arg, struct pipeline_opts *o)
{
        switch (c) {
        case 's':
                if (strcmp(arg, "auto") && strcmp(arg, "bpf") && strcmp(arg, "cnproc")) {
                        fprintf(stderr, "vigil-agent %s: unknown sensor '%s' (auto, bpf or cnproc)\n", cmd, arg);
                        return -EINVAL;
                }
                o->sensor = arg;
                return 0;
        case 'c':
                if (util_uint_parse(arg, UINT32_MAX, &o->count) < 0 || o->count == 0) {
                        fprintf(stderr, "vigil-agent %s: bad --count '%s' (a number from 1)\n", cmd, arg);
                        return -EINVAL;
                }
                return 0;
        case 'd':
                if (util_duration_parse(arg, &o->duration_s) < 0 || o->duration_s <= 0) {
                        fprintf(stderr, "vigil-agent %s: bad --duration '%s' (seconds, or 90s, 15m, 1h)\n", cmd, arg);
                        return -EINVAL;
                }
                return 0;
        case 'w':
                if (o->nwatch == EVSRC_WATCH_MAX || arg[0] != '/') {
                        fprintf(stderr, "vigil-agent %s: --watch '%s': %s\n", cmd, arg,
                                arg[0] != '/' ? "not an absolute path" : "too many watched paths");
                        return -EINVAL;
                }
                o->watch[o->nwatch++] = arg;
                return 0;
        }
        return -ENOENT;
}

void pipeline_privs_drop(const int *extra, size_t n_extra, const char *why_extra)
{
        int keep[16] = { CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH };
        size_t n = 2;
        char err[256];

        for (size_t i = 0; i < n_extra && n < sizeof(keep) / sizeof(keep[0]); i++)
                keep[n++] = extra[i];
        if (privs_keep_only(keep, n, err, sizeof(err)) < 0) {
                agent_log("warning", "cannot drop capabilities (%s); running with all it had", err);
                return;
        }
        agent_log("info", "capabilities dropped; kept only CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH "
                  "(to read /proc of every process)%s%s", why_extra ? " and " : "", why_extra ? why_extra : "");
}

uint64_t pipeline_mono_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int pipeline_loop(struct evsrc *src, struct proctable *pt, evsrc_cb cb, void *ctx, uint64_t end_ns,
                  atomic_int *stop, pipeline_after_fn after)
{
        int r;

        while (!atomic_load(stop)) {
                uint64_t now = pipeline_mono_ns();
                int timeout = PIPELINE_POLL_MS;

                if (end_ns && now >= end_ns)
                        break;
                if (end_ns && (end_ns - now) / 1000000 < PIPELINE_POLL_MS)
                        timeout = (int)((end_ns - now) / 1000000) + 1;
                r = src->ops->poll(src, timeout, cb, ctx);
                if (r < 0 && r != -EINTR && r != -EAGAIN) {
                        agent_log("error", "the %s sensor failed: %s", src->ops->name, strerror(-r));
                        return 1;
                }
                now = pipeline_mono_ns();
                r = after(ctx, now);
                if (r != 0)
                        return r < 0 ? 1 : 0;
                proctable_expire(pt, now);
        }
        return 0;
}
