/* bench-access-listener: the decision endpoint's HTTP server alone, for a
 * load generator such as wrk. Starts the listener with a handler that does
 * what a decision costs in HTTP terms but nothing else: it looks up the
 * headers a proxy sends (X-Original-URI, X-Forwarded-For, the client
 * certificate's verification and serial) and answers 200 with an
 * X-Vigil-Reason header. Prints the address it listens on, then runs until
 * SIGINT or SIGTERM and prints the requests served, per worker.
 *
 * Usage: bench-access-listener [--listen ADDR] [--threads N] [--connections N]
 *   then, e.g.: wrk -t1 -c32 -d10s http://127.0.0.1:PORT/v1/decide */
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/access/listener.h"
#include "util/strutil.h"

#define THREADS_MAX 64

/* one counter per worker, each on its own cache line */
static struct {
        _Alignas(64) atomic_ullong n;
} served[THREADS_MAX];

static void decide(void *ctx, unsigned worker, const struct access_http_req *req, struct access_http_answer *ans)
{
        static const char *const names[] = { "X-Original-URI", "X-Forwarded-For", "X-Vigil-Client-Verify",
                                             "X-Vigil-Client-Serial" };
        size_t n, found = 0;

        (void)ctx;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (access_http_header(req, names[i], &n))
                        found++;
        access_http_answer_header(ans, "X-Vigil-Reason", "no policy applies (%zu of 4 headers)", found);
        atomic_fetch_add_explicit(&served[worker].n, 1, memory_order_relaxed);
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "listen", required_argument, NULL, 'l' },
                { "threads", required_argument, NULL, 't' },
                { "connections", required_argument, NULL, 'c' },
                { NULL, 0, NULL, 0 },
        };
        struct access_listener_config cfg = {
                .listen = "127.0.0.1:0", .threads = 2, .max_connections = 10000, .idle_timeout_s = 60,
        };
        struct access_listener *l;
        uint64_t v, total = 0;
        char err[256];
        sigset_t set;
        int opt, sig;

        while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (opt == 'l') {
                        cfg.listen = optarg;
                } else if ((opt == 't' || opt == 'c') && util_uint_parse(optarg, opt == 't' ? THREADS_MAX : 1000000, &v) == 0) {
                        if (opt == 't')
                                cfg.threads = (unsigned)v;
                        else
                                cfg.max_connections = (unsigned)v;
                } else {
                        fprintf(stderr, "usage: %s [--listen ADDR] [--threads 1..%d] [--connections N]\n", argv[0],
                                THREADS_MAX);
                        return 2;
                }
        }
        /* signals go to sigwait() here, never to a worker */
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        if (access_listener_start(&cfg, decide, NULL, &l, err, sizeof(err)) != 0) {
                fprintf(stderr, "%s\n", err);
                return 1;
        }
        if (strncmp(cfg.listen, "unix:", 5) == 0)
                printf("listening on %s, %u threads\n", cfg.listen, cfg.threads);
        else
                printf("listening on port %u, %u threads\n", access_listener_port(l), cfg.threads);
        fflush(stdout);
        sigwait(&set, &sig);
        access_listener_stop(l);
        for (unsigned i = 0; i < cfg.threads; i++) {
                printf("worker %u: %llu requests\n", i, (unsigned long long)served[i].n);
                total += served[i].n;
        }
        printf("total: %llu requests\n", (unsigned long long)total);
        return 0;
}
