/* bench-connector-risk: what compliance pays to ask the connector for a
 * device's risk. Stores N devices' risk in defend's table of an in-memory
 * database, starts the connector as vigild does (the builtin partner loads
 * them into memory and its table), starts it again (the table read, defend
 * compared, nothing written), then times connector_device_risk() over every
 * device, from T threads at once. Prints both start times and ns per call.
 *
 * Usage: bench-connector-risk [DEVICES (default 100000)] [THREADS (default 2)] */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/bus.h"
#include "server/connector/connector.h"
#include "server/db/db.h"
#include "server/defend/defend.h"
#include "server/vigild.h"
#include "util/strutil.h"

#define ROUNDS 10

struct worker {
        struct vigild *d;
        int n;
        long applicable;
};

static void device_id(int i, char out[37])
{
        snprintf(out, 37, "%08x-0000-4000-8000-%012x", (unsigned)i * 2654435761u, (unsigned)i);
}

static int devices_store(struct vigild *d, int n)
{
        char id[37];
        int r;

        db_lock(d->db);
        r = db_begin(d->db);
        for (int i = 0; i < n && r == 0; i++) {
                device_id(i, id);
                const char *level = defend_level_name((enum defend_level)(i % 5));

                r = db_exec_params(d->db, "INSERT INTO defend_device_risk (device_id, risk, risk_rank, changed_at) "
                                   "VALUES ($1, $2, $3, 0)",
                                   DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(level, strlen(level)),
                                             db_param_int64(i % 5)));
        }
        r = db_finish(d->db, r);
        db_unlock(d->db);
        return r;
}

static void *work(void *arg)
{
        struct worker *w = arg;
        struct connector_risk r;
        char id[37];

        for (int k = 0; k < ROUNDS; k++)
                for (int i = 0; i < w->n; i++) {
                        device_id(i, id);
                        if (connector_device_risk(w->d, id, &r) == 0 && r.applicable)
                                w->applicable++;
                }
        return NULL;
}

static double since_ms(const struct timespec *t0)
{
        struct timespec t1;

        clock_gettime(CLOCK_MONOTONIC, &t1);
        return (t1.tv_sec - t0->tv_sec) * 1e3 + (t1.tv_nsec - t0->tv_nsec) / 1e6;
}

int main(int argc, char **argv)
{
        static struct vigild d;
        struct worker w[64];
        pthread_t th[64];
        struct timespec t0;
        int n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 100000;
        int threads = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 2;
        char err[256];
        double ms;

        if (n < 1 || n > 1000000 || threads < 1 || threads > 64) {
                fprintf(stderr, "usage: bench-connector-risk [DEVICES 1-1000000] [THREADS 1-64]\n");
                return 2;
        }
        vigild_config_defaults(&d.cfg);
        d.bus = bus_new();
        if (!d.bus || db_open(":memory:", &d.db) < 0 || defend_migrate(&d) < 0 || connector_migrate(&d) < 0 ||
            devices_store(&d, n) < 0) {
                fprintf(stderr, "bench-connector-risk: cannot set up the database\n");
                return 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (connector_start(&d, err, sizeof(err)) < 0) {
                fprintf(stderr, "bench-connector-risk: %s\n", err);
                return 1;
        }
        printf("first start: %d devices from defend, written to the connector's table, in %.1f ms\n", n,
               since_ms(&t0));
        connector_stop(&d);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (connector_start(&d, err, sizeof(err)) < 0) {
                fprintf(stderr, "bench-connector-risk: %s\n", err);
                return 1;
        }
        printf("next start: %d devices, nothing to write, in %.1f ms\n", n, since_ms(&t0));
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int i = 0; i < threads; i++) {
                w[i] = (struct worker){ .d = &d, .n = n };
                pthread_create(&th[i], NULL, work, &w[i]);
        }
        for (int i = 0; i < threads; i++)
                pthread_join(th[i], NULL);
        ms = since_ms(&t0);
        printf("%d threads x %d rounds x %d devices: %.1f ms, %.0f ns per call, %.2f M calls/s (%ld applicable)\n",
               threads, ROUNDS, n, ms, ms * 1e6 / ((double)threads * ROUNDS * n),
               (double)threads * ROUNDS * n / ms / 1e3, w[0].applicable);
        connector_stop(&d);
        db_close(d.db);
        bus_free(d.bus);
        return 0;
}
