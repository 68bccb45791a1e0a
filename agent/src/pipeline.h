/* pipeline: what the agent's sensor-driven commands share — `events`,
 * `detect` and the detection thread of `run`: opening the sensor the user
 * asked for (auto: eBPF, else the proc connector, saying why), seeding the
 * process table, dropping privileges once attached, the watch list that
 * detection needs, and the poll loop. */
#pragma once

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/src/evsrc.h"
#include "agent/src/proctable.h"

#define PIPELINE_POLL_MS 250
#define PIPELINE_EXIT_UNSUPPORTED 3     /* the sensor asked for cannot run here */

/* Opens the sensor "auto", "bpf" or "cnproc" watching watch_paths
 * (NULL-terminated; NULL for the sensor's defaults). For auto, eBPF and else
 * the proc connector. Logs what failed. Returns 0, -EOPNOTSUPP (the sensor
 * cannot run on this kernel or build) or another negative errno. */
int pipeline_sensor_open(const char *sensor, const char *const *watch_paths, struct evsrc **ret);

/* Writes into out the sensor's default watched paths plus the writable
 * folders the built-in "downloaded then executed" detector needs (/tmp/,
 * /var/tmp/, /dev/shm/), NULL-terminated; the strings are static. */
void pipeline_detect_watch_paths(const char *out[static EVSRC_WATCH_MAX + 1]);

/* Seeds pt from /proc. Returns the processes seeded (0 when /proc could
 * not be read, which is logged). */
int pipeline_table_seed(struct proctable *pt);

/* Logs that the sensor runs, with the processes seeded and what it cannot
 * see: the line tests and users wait for. */
void pipeline_log_running(struct evsrc *src, int seeded);

/* The options the sensor commands share. */
struct pipeline_opts {
        const char *sensor;             /* "auto", "bpf" or "cnproc" */
        uint64_t count;                 /* 0: no limit */
        int64_t duration_s;             /* 0: no limit */
        const char *watch[EVSRC_WATCH_MAX + 1];
        unsigned nwatch;
};

/* The getopt_long entries of the shared options, for a command's table. */
#define PIPELINE_LONGOPTS \
        { "sensor", required_argument, NULL, 's' }, \
        { "count", required_argument, NULL, 'c' }, \
        { "duration", required_argument, NULL, 'd' }, \
        { "watch", required_argument, NULL, 'w' }

/* Parses one shared option: c is 's' (--sensor), 'c' (--count), 'd'
 * (--duration) or 'w' (--watch) with its argument. Returns 0, -EINVAL
 * after printing why (cmd names the command), or -ENOENT for another c. */
int pipeline_opt_parse(const char *cmd, int c, const char *arg, struct pipeline_opts *o);

/* Once the sensor is attached: keeps only CAP_SYS_PTRACE and
 * CAP_DAC_READ_SEARCH (reading /proc of every process) and the n_extra
 * capabilities in extra, for this thread and every thread made after; logs
 * the outcome. A failure is logged and ignored. */
void pipeline_privs_drop(const int *extra, size_t n_extra, const char *why_extra);

/* CLOCK_MONOTONIC in ns. */
uint64_t pipeline_mono_ns(void);

/* Called after each poll with the time: 0 to go on, 1 to stop (exit 0),
 * -1 to stop on a failure (exit 1). It has logged why. */
typedef int (*pipeline_after_fn)(void *ctx, uint64_t now_mono_ns);

/* Polls src, handing each event to cb, until *stop is set, end_ns
 * (CLOCK_MONOTONIC; 0: none) passes or after returns nonzero. Expires pt
 * after each poll. Returns the exit code: 0, or 1 when the sensor or
 * `after` failed. */
int pipeline_loop(struct evsrc *src, struct proctable *pt, evsrc_cb cb, void *ctx, uint64_t end_ns,
                  atomic_int *stop, pipeline_after_fn after);
