/* events_cmd: `vigil-agent events`, the sensor's events as JSON lines.
 *
 * Opens the eBPF sensor or the proc connector (or the first that works),
 * feeds the process table with every event and prints each event that
 * passes the filter as one JSON object per line on stdout, flushed per line,
 * until SIGINT/SIGTERM, --count events or --duration. What runs, what it
 * cannot see and what it counted go to stderr. Exit status: 0, 1 on a
 * failure, 2 on bad usage, 3 when the sensor cannot run on this kernel or
 * build (-EOPNOTSUPP from its open). */
#include "agent/src/agent.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/src/event_json.h"
#include "agent/src/evsrc.h"
#include "agent/src/pipeline.h"
#include "agent/src/proctable.h"


static atomic_int stop_signal;      /* lock-free: set by the signal handler */

static void on_stop(int sig)
{
        atomic_store(&stop_signal, sig);
}

struct events_opts {
        struct pipeline_opts p;         /* --sensor, --count, --duration, --watch */
        const char *filter;
        bool quiet;                     /* --output=none: follow processes, print nothing */
};

/* An event's JSON is at most a few KiB (args, paths and ancestors are capped). */
#define LINE_MAX_BYTES (256 * 1024)

struct events_run {
        struct proctable *pt;
        struct event_json *ej;
        struct event_filter filter;
        uint64_t seen, printed, limit;
        uint64_t by_type[EV_FILE + 1];  /* events seen, per enum ev_type */
        bool quiet;
        uint64_t end_ns;                /* CLOCK_MONOTONIC end of --duration; 0: none */
        int error;                      /* negative errno once output failed */
        char line[LINE_MAX_BYTES];      /* one event's JSON, written with one call */
};

static void usage(FILE *f)
{
        fputs("usage: vigil-agent events [--sensor=auto|bpf|cnproc] [--filter EXPR] [--count N]\n"
              "                          [--duration SECONDS] [--watch PATH]...\n"
              "Prints the sensor's events as JSON lines (fields: docs/EVENTS.md).\n"
              "  --filter EXPR   FIELD=VALUE (equal), FIELD~VALUE (contains), != and !~ (negated),\n"
              "                  joined by ',' (all must match); '\\,' is a comma in a value\n"
              "  --watch PATH    report files created or modified under PATH (repeatable;\n"
              "                  replaces the default watched paths)\n"
              "  --output none   follow processes but print nothing; counts per event type\n"
              "                  are logged at exit (for measuring the sensor's own cost)\n", f);
}

static int opts_parse(int argc, char **argv, struct events_opts *o)
{
        static const struct option longopts[] = {
                PIPELINE_LONGOPTS,
                { "filter", required_argument, NULL, 'f' },
                { "output", required_argument, NULL, 'o' },
                { "help", no_argument, NULL, 'h' },
                { 0 },
        };
        int c;

        o->p.sensor = "auto";
        optind = 1;
        while ((c = getopt_long(argc, argv, "s:f:c:d:w:o:h", longopts, NULL)) != -1) {
                switch (c) {
                case 's':
                case 'c':
                case 'd':
                case 'w':
                        if (pipeline_opt_parse("events", c, optarg, &o->p) < 0)
                                return -EINVAL;
                        break;
                case 'f':
                        o->filter = optarg;
                        break;
                case 'o':
                        if (strcmp(optarg, "json") && strcmp(optarg, "none")) {
                                fprintf(stderr, "vigil-agent events: --output '%s': json or none\n", optarg);
                                return -EINVAL;
                        }
                        o->quiet = strcmp(optarg, "none") == 0;
                        break;
                case 'h':
                        usage(stdout);
                        return 1;
                default:
                        usage(stderr);
                        return -EINVAL;
                }
        }
        if (optind != argc) {
                usage(stderr);
                return -EINVAL;
        }
        return 0;
}

/* True once the run should end. A sensor may deliver a long burst within
 * one poll; checking here lets the rest of the burst pass cheaply. */
static bool run_done(const struct events_run *run)
{
        return atomic_load(&stop_signal) || run->error || (run->limit && run->printed >= run->limit) ||
               (run->end_ns && pipeline_mono_ns() >= run->end_ns);
}

static void on_event(const struct agent_event *ev, void *ctx)
{
        struct events_run *run = ctx;
        json_t *obj;

        if (run_done(run))
                return;
        run->seen++;
        if ((unsigned)ev->type <= EV_FILE)
                run->by_type[ev->type]++;
        proctable_feed(run->pt, ev);
        if (run->quiet)
                return;
        if (event_json_build(run->ej, ev, run->pt, &obj) < 0) {
                run->error = -ENOMEM;
                return;
        }
        if (event_filter_match(&run->filter, obj)) {
                /* serialize into one buffer and write it whole: jansson's
                 * stream output makes one stdio call per token */
                size_t n = json_dumpb(obj, run->line, sizeof(run->line) - 1, JSON_COMPACT);
                if (n == 0 || n >= sizeof(run->line) - 1) {
                        run->error = -E2BIG;
                } else {
                        run->line[n++] = '\n';
                        if (fwrite(run->line, 1, n, stdout) != n)
                                run->error = errno == EPIPE ? -EPIPE : -EIO;
                        else
                                run->printed++;
                }
        }
        json_decref(obj);
}

/* After each poll: lines go out once per poll, not once per event. */
static int after_poll(void *ctx, uint64_t now)
{
        struct events_run *run = ctx;

        if (fflush(stdout) == EOF && !run->error)
                run->error = errno == EPIPE ? -EPIPE : -EIO;
        if (run->error == -EPIPE) {
                agent_log("info", "stdout was closed");
                return 1;
        }
        if (run->error) {
                agent_log("error", "cannot write an event: %s", strerror(-run->error));
                return -1;
        }
        return run->limit && run->printed >= run->limit ? 1 : 0;
}

int agent_events(int argc, char **argv)
{
        struct events_opts o = { 0 };
        struct events_run *run = NULL;
        /* SA_RESTART keeps a write to stdout from failing with EINTR; the
         * sensor's wait returns early on a signal all the same */
        struct sigaction sa = { .sa_handler = on_stop, .sa_flags = SA_RESTART };
        struct evsrc *src = NULL;
        char err[256];
        int r, code = 1;

        r = opts_parse(argc, argv, &o);
        if (r != 0)
                return r > 0 ? 0 : 2;
        run = calloc(1, sizeof(*run));
        if (!run)
                return 1;
        if (o.filter && event_filter_parse(&run->filter, o.filter, err, sizeof(err)) < 0) {
                fprintf(stderr, "vigil-agent events: bad --filter '%s': %s\n", o.filter, err);
                free(run);
                return 2;
        }
        run->limit = o.p.count;
        run->quiet = o.quiet;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        r = pipeline_sensor_open(o.p.sensor, o.p.nwatch ? o.p.watch : NULL, &src);
        if (r < 0) {
                code = r == -EOPNOTSUPP ? PIPELINE_EXIT_UNSUPPORTED : 1;
                goto out_run;
        }
        run->pt = proctable_new(0, 0);
        run->ej = event_json_new(src->ops->name);
        if (!run->pt || !run->ej) {
                agent_log("error", "out of memory");
                goto out_src;
        }
        /* attached: reading /proc of other users' processes is all that is
         * left to do with privilege */
        r = pipeline_table_seed(run->pt);
        pipeline_privs_drop(NULL, 0, NULL);
        pipeline_log_running(src, r);
        if (o.p.duration_s)
                run->end_ns = pipeline_mono_ns() + (uint64_t)o.p.duration_s * 1000000000ull;
        code = pipeline_loop(src, run->pt, on_event, run, run->end_ns, &stop_signal, after_poll);
        agent_log("info", "events seen: %llu (exec %llu, fork %llu, exit %llu), printed: %llu, "
                  "dropped by the sensor: %llu",
                  (unsigned long long)run->seen, (unsigned long long)run->by_type[EV_EXEC],
                  (unsigned long long)run->by_type[EV_FORK], (unsigned long long)run->by_type[EV_EXIT],
                  (unsigned long long)run->printed, (unsigned long long)src->ops->dropped(src));
out_src:
        event_json_free(run->ej);
        proctable_free(run->pt);
        src->ops->close(src);
out_run:
        free(run);
        return code;
}
