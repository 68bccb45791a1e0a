/* bench-compliance-eval: what manage's compliance engine costs on a fleet.
 * Compiles P synthetic policies (default 20) from their JSON documents, makes
 * D synthetic devices (default 100,000) with a mix of facts (risk levels, OS
 * versions, encryption, firewall, Secure Boot, sensor, exposure, connector
 * unresponsive for some), then, R times (default 5), re-evaluates every
 * policy for every device and folds each device's results into its state, as
 * a full re-evaluation does: compliance_evaluate() P times, the per-policy
 * first_noncompliant_at kept and fed back, compliance_device_state() once.
 * Prints the median pass (wall and CPU), evaluations per second, the heap
 * growth during the passes (the engine must allocate nothing) and the mix of
 * device states, so a run shows it evaluated something real. Then what the
 * text costs when a state changes: every setting's reason, each policy's and
 * the device's, for every device once.
 *
 * Usage: bench-compliance-eval [--devices D] [--policies P] [--runs R] */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/common.h"
#include "server/manage/compliance.h"

#define NOW 1796000000
#define POLICIES_MAX 1000
#define RUNS_MAX 101

/* Policy i: a different mix of settings and actions for each. */
static struct compliance_policy *policy_make(int i)
{
        static const char *const risks[] = { "clear", "low", "medium", "high" };
        static const char *const versions[] = { "11", "12", "20.04", "22.04", "9.3" };
        static const char *const exposures[] = { "null", "\"low\"", "\"medium\"", "\"high\"" };
        struct compliance_policy *p;
        char doc[1024], err[256];
        int n;

        n = snprintf(doc, sizeof(doc),
                     "{\"name\":\"bench policy %d\",\"platform\":\"linux\",\"settings\":{\"max_device_risk\":\"%s\","
                     "\"min_os_version\":\"%s\",\"disk_encryption_required\":%s,\"firewall_required\":%s,"
                     "\"secure_boot_required\":%s,\"sensor_healthy_required\":%s,\"max_exposure_level\":%s},"
                     "\"actions\":[{\"type\":\"mark_noncompliant\",\"grace_hours\":%d},{\"type\":\"notify\","
                     "\"after_hours\":1},{\"type\":\"isolate\",\"after_hours\":%d}]}",
                     i, risks[i % 4], versions[i % 5], i % 2 ? "true" : "false", i % 3 ? "true" : "false",
                     i % 5 == 0 ? "true" : "false", i % 4 != 3 ? "true" : "false", exposures[i % 4],
                     (i % 3) * 24, 48 + i);
        if (n < 0 || (size_t)n >= sizeof(doc) || compliance_policy_parse(doc, (size_t)n, &p, err, sizeof(err)) < 0) {
                fprintf(stderr, "bench-compliance-eval: policy %d refused: %s\n", i, err);
                exit(1);
        }
        return p;
}

static enum compliance_fact fact_make(void)
{
        uint32_t x = bench_rng(100);

        return x < 85 ? COMPLIANCE_FACT_YES : x < 95 ? COMPLIANCE_FACT_NO : COMPLIANCE_FACT_UNKNOWN;
}

static void device_make(struct compliance_facts *f)
{
        static const char *const versions[] = { "12", "12", "12", "11", "22.04", "24.04", "13", "9.3", "" };
        static const enum defend_level risks[] = { DEFEND_LEVEL_NONE, DEFEND_LEVEL_INFORMATIONAL, DEFEND_LEVEL_LOW,
                                                   DEFEND_LEVEL_MEDIUM, DEFEND_LEVEL_HIGH };
        uint32_t r = bench_rng(100), s = bench_rng(100);

        *f = (struct compliance_facts){
                .platform = "linux",
                .risk = risks[r < 80 ? 0 : r < 90 ? 1 : r < 95 ? 2 : r < 98 ? 3 : 4],
                .risk_applicable = bench_rng(100) >= 2,
                .risk_block = bench_rng(2),
                .risk_reason = "partner unresponsive",
                .inventory_at = bench_rng(100) < 99 ? NOW - 3600 : 0,
                .os_version = versions[bench_rng(sizeof(versions) / sizeof(versions[0]))],
                .disk_encryption = fact_make(), .firewall = fact_make(), .secure_boot = fact_make(),
                .sensor = s < 90 ? COMPLIANCE_SENSOR_BPF : s < 98 ? COMPLIANCE_SENSOR_PROC_CONNECTOR
                                                                 : COMPLIANCE_SENSOR_UNREPORTED,
                .last_heartbeat = NOW - (int64_t)bench_rng(bench_rng(100) < 95 ? 120 : 86400),
                .exposure_available = bench_rng(2),
                .exposure = (enum compliance_exposure)bench_rng(4),
        };
        f->last_seen = bench_rng(1000) ? f->last_heartbeat : NOW - 40 * 86400;
}

struct pass {
        double wall, cpu;
};

static double seconds(clockid_t c)
{
        struct timespec t;

        clock_gettime(c, &t);
        return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One full re-evaluation; counts the device states into tally. */
static struct pass run(struct compliance_policy **pol, int np, const struct compliance_facts *dev, int nd,
                       int64_t *first, struct compliance_result *res, const struct compliance_tenant *t,
                       int64_t now, size_t tally[6])
{
        struct compliance_device_result d;
        double w0 = seconds(CLOCK_MONOTONIC), c0 = seconds(CLOCK_PROCESS_CPUTIME_ID);

        for (int i = 0; i < nd; i++) {
                for (int k = 0; k < np; k++) {
                        compliance_evaluate(pol[k], &dev[i], t, now, first[(size_t)i * np + k], &res[k]);
                        first[(size_t)i * np + k] = res[k].first_noncompliant_at;
                }
                tally[compliance_device_state(res, (size_t)np, t, &dev[i], now, &d)]++;
        }
        return (struct pass){ seconds(CLOCK_MONOTONIC) - w0, seconds(CLOCK_PROCESS_CPUTIME_ID) - c0 };
}

/* Formats every reason of every device once; returns seconds per device. */
static double reasons_time(struct compliance_policy **pol, int np, const struct compliance_facts *dev, int nd,
                           struct compliance_result *res, const struct compliance_tenant *t, size_t *ret_bytes)
{
        char buf[COMPLIANCE_DEVICE_REASON_MAX];
        struct compliance_device_result d;
        double total = 0;
        size_t bytes = 0;

        for (int i = 0; i < nd; i++) {
                double t0;

                for (int k = 0; k < np; k++)
                        compliance_evaluate(pol[k], &dev[i], t, NOW, 0, &res[k]);
                compliance_device_state(res, (size_t)np, t, &dev[i], NOW, &d);
                t0 = seconds(CLOCK_MONOTONIC);
                for (int k = 0; k < np; k++) {
                        for (int s = 0; s < COMPLIANCE_SETTINGS_COUNT; s++) {
                                compliance_setting_reason(&res[k], (enum compliance_setting)s, buf, sizeof(buf));
                                bytes += strlen(buf);
                        }
                        compliance_result_reason(&res[k], buf, sizeof(buf));
                        bytes += strlen(buf);
                }
                compliance_device_reason(&d, buf, sizeof(buf));
                bytes += strlen(buf);
                total += seconds(CLOCK_MONOTONIC) - t0;
        }
        *ret_bytes = bytes / (size_t)nd;
        return total / nd;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

static void usage(void)
{
        fprintf(stderr, "usage: bench-compliance-eval [--devices D (1-10000000)] [--policies P (1-%d)] "
                        "[--runs R (1-%d)]\n", POLICIES_MAX, RUNS_MAX);
        exit(2);
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "devices", required_argument, NULL, 'd' },
                { "policies", required_argument, NULL, 'p' },
                { "runs", required_argument, NULL, 'r' },
                { NULL, 0, NULL, 0 },
        };
        struct compliance_tenant t = COMPLIANCE_TENANT_DEFAULTS;
        int nd = 100000, np = 20, runs = 5, c;
        double walls[RUNS_MAX], cpus[RUNS_MAX];
        size_t tally[6] = { 0 }, heap0, heap1;
        struct compliance_policy **pol;
        struct compliance_facts *dev;
        struct compliance_result *res;
        int64_t *first;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                long v = optarg ? strtol(optarg, NULL, 10) : 0;
                if (c == 'd' && v >= 1 && v <= 10000000)
                        nd = (int)v;
                else if (c == 'p' && v >= 1 && v <= POLICIES_MAX)
                        np = (int)v;
                else if (c == 'r' && v >= 1 && v <= RUNS_MAX)
                        runs = (int)v;
                else
                        usage();
        }
        pol = calloc((size_t)np, sizeof(*pol));
        dev = calloc((size_t)nd, sizeof(*dev));
        res = calloc((size_t)np, sizeof(*res));
        first = calloc((size_t)nd * (size_t)np, sizeof(*first));
        if (!pol || !dev || !res || !first) {
                fprintf(stderr, "bench-compliance-eval: out of memory\n");
                return 1;
        }
        for (int k = 0; k < np; k++)
                pol[k] = policy_make(k);
        for (int i = 0; i < nd; i++)
                device_make(&dev[i]);
        /* a first pass sets first_noncompliant_at, as a running server has */
        run(pol, np, dev, nd, first, res, &t, NOW - 3600, tally);
        memset(tally, 0, sizeof(tally));
        heap0 = mallinfo2().uordblks;
        for (int i = 0; i < runs; i++) {
                struct pass p = run(pol, np, dev, nd, first, res, &t, NOW + i, tally);
                walls[i] = p.wall;
                cpus[i] = p.cpu;
        }
        heap1 = mallinfo2().uordblks;
        qsort(walls, (size_t)runs, sizeof(double), cmp_double);
        qsort(cpus, (size_t)runs, sizeof(double), cmp_double);
        printf("%d devices x %d policies = %.0f evaluations per pass, %d passes\n", nd, np, (double)nd * np, runs);
        printf("full re-evaluation, median: %.3f s wall (min %.3f, max %.3f), %.3f s CPU\n", walls[runs / 2],
               walls[0], walls[runs - 1], cpus[runs / 2]);
        printf("evaluations/s: %.2f M wall, %.2f M CPU (%.0f ns each, device state included)\n",
               (double)nd * np / walls[runs / 2] / 1e6, (double)nd * np / cpus[runs / 2] / 1e6,
               walls[runs / 2] / ((double)nd * np) * 1e9);
        printf("devices/s: %.0f\n", nd / walls[runs / 2]);
        printf("heap growth during the passes: %zd bytes\n", (ssize_t)(heap1 - heap0));
        printf("device states per pass:");
        for (int s = 0; s < 6; s++)
                printf(" %s %zu%s", compliance_state_name((enum compliance_state)s), tally[s] / (size_t)runs,
                       s < 5 ? "," : "\n");
        {
                size_t bytes;
                double per = reasons_time(pol, np, dev, nd < 10000 ? nd : 10000, res, &t, &bytes);
                printf("reasons of one device (every setting of %d policies, each policy, the device): %.1f us, "
                       "%zu bytes of text\n", np, per * 1e6, bytes);
        }
        for (int k = 0; k < np; k++)
                compliance_policy_free(pol[k]);
        free(pol);
        free(dev);
        free(res);
        free(first);
        return 0;
}
