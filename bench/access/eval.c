/* bench-access-eval: what the access policy engine costs per decision.
 * Parses P synthetic policies (default 1,000) from their JSON documents
 * against 16 named locations: a mix of scopes (all users or a few groups,
 * all applications or one of 50 hosts with a path prefix, some with
 * platform, location or device filter conditions), grants (compliant,
 * enrolled, both with and/or, block) and states (a tenth report-only, a
 * twentieth disabled). Makes 1,024 requests (users in 0-3 of 40 groups,
 * hosts among the 50 and others, client addresses in and out of the
 * locations, a device or none, compliant or not), then evaluates every
 * policy for requests in turn for R rounds (default 5) of N decisions
 * (default 20,000). Prints the median round's decisions per second and time
 * per decision, the heap growth during the rounds (the engine must allocate
 * nothing) and the mix of decisions, so a run shows it decided something.
 *
 * Usage: bench-access-eval [--policies P] [--decisions N] [--runs R] */
#include <getopt.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/common.h"
#include "server/access/policy.h"
#include "util/strutil.h"

#define POLICIES_MAX 100000
#define REQUESTS 1024
#define RUNS_MAX 101
#define LOCATIONS 16

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void locations_make(struct access_location *locs)
{
        char doc[256], err[256];

        for (int i = 0; i < LOCATIONS; i++) {
                snprintf(doc, sizeof(doc), "{\"id\": \"loc-%d\", \"ranges\": [\"10.%d.0.0/16\", \"172.16.%d.0/24\", "
                         "\"2001:db8:%x::/48\"], \"trusted\": %s}", i, i, i, i, i % 4 == 0 ? "true" : "false");
                if (access_location_parse(doc, strlen(doc), &locs[i], err, sizeof(err)) != 0) {
                        fprintf(stderr, "location %d refused: %s\n", i, err);
                        exit(1);
                }
        }
}

static struct access_policy *policy_make(int i, const struct access_location *locs)
{
        static const char *const grants[] = {
                "{\"controls\": [\"compliant_device\"]}", "{\"controls\": [\"enrolled_device\"]}",
                "{\"controls\": [\"compliant_device\", \"enrolled_device\"], \"operator\": \"and\"}",
                "{\"controls\": [\"compliant_device\", \"enrolled_device\"], \"operator\": \"or\"}",
        };
        static const char *const states[] = { "enabled", "report_only", "disabled" };
        char users[256], apps[256], cond[512], doc[1536], err[512];
        struct access_policy *p;
        uint32_t s = bench_rng(20);

        if (bench_rng(4) == 0)
                snprintf(users, sizeof(users), "{\"include\": [\"all\"], \"exclude\": [\"g-%u\"]}", bench_rng(40));
        else
                snprintf(users, sizeof(users), "{\"include\": [\"g-%u\", \"g-%u\", \"user%u@example.com\"]}", bench_rng(40),
                         bench_rng(40), bench_rng(500));
        if (bench_rng(5) == 0)
                snprintf(apps, sizeof(apps), "{\"include\": [\"all\"]}");
        else
                snprintf(apps, sizeof(apps), "{\"include\": [{\"name\": \"app\", \"host\": \"app%u.example.com\", "
                         "\"path_prefix\": \"/p%u\"}]}", bench_rng(50), bench_rng(3));
        switch (bench_rng(4)) {
        case 0:
                snprintf(cond, sizeof(cond), "{\"platforms\": [\"linux\"]}");
                break;
        case 1:
                snprintf(cond, sizeof(cond), "{\"locations\": {\"include\": [\"all\"], \"exclude\": [\"trusted\", "
                         "\"loc-%u\"]}}", bench_rng(LOCATIONS));
                break;
        case 2:
                snprintf(cond, sizeof(cond), "{\"device_filter\": \"not (device.tags contains \\\"kiosk\\\") and "
                         "device.os_version >= \\\"12\\\"\"}");
                break;
        default:
                snprintf(cond, sizeof(cond), "{}");
        }
        snprintf(doc, sizeof(doc), "{\"name\": \"policy %d\", \"state\": \"%s\", \"users\": %s, \"applications\": %s, "
                 "\"conditions\": %s, \"grant\": %s}", i, states[s < 17 ? 0 : s < 19 ? 1 : 2], users, apps, cond,
                 bench_rng(50) == 0 ? "{\"block\": true}" : grants[bench_rng(4)]);
        if (access_policy_parse(doc, strlen(doc), locs, LOCATIONS, &p, err, sizeof(err)) != 0) {
                fprintf(stderr, "policy %d refused: %s\n%s\n", i, err, doc);
                exit(1);
        }
        return p;
}

static char group_names[40][8];
static const char *group_ptrs[40];
static char hosts[REQUESTS][32], upns[REQUESTS][32], paths[REQUESTS][16];
static const char *const tags[] = { "kiosk" };
static const struct manage_device_facts devices[2] = {
        { .id = "d1", .platform = "linux", .os_version = "12", .name = "a", .architecture = "x86_64", .kernel = "6" },
        { .id = "d2", .platform = "linux", .os_version = "11", .name = "b", .tags = tags, .n_tags = 1 },
};

static void requests_make(struct access_request *reqs)
{
        char ip[64];

        for (int g = 0; g < 40; g++) {
                snprintf(group_names[g], sizeof(group_names[g]), "g-%d", g);
                group_ptrs[g] = group_names[g];
        }
        for (int i = 0; i < REQUESTS; i++) {
                struct access_request *r = &reqs[i];
                uint32_t g = bench_rng(37);

                snprintf(upns[i], sizeof(upns[i]), "user%u@example.com", bench_rng(500));
                snprintf(hosts[i], sizeof(hosts[i]), "app%u.example.com", bench_rng(60));
                snprintf(paths[i], sizeof(paths[i]), "/p%u/x", bench_rng(3));
                if (bench_rng(2))
                        snprintf(ip, sizeof(ip), "10.%u.1.2", bench_rng(LOCATIONS * 2));
                else
                        snprintf(ip, sizeof(ip), "2001:db8:%x::9", bench_rng(LOCATIONS * 2));
                *r = (struct access_request){
                        .user_id = upns[i], .user_upn = upns[i], .groups = group_ptrs + g, .n_groups = bench_rng(4),
                        .facts = bench_rng(20) == 0 ? NULL : &devices[bench_rng(2)], .enrolled = bench_rng(50) != 0,
                        .compliant = bench_rng(10) != 0, .method = "GET", .host = hosts[i], .path = paths[i],
                };
                if (access_ip_parse(ip, &r->client_ip) != 0)
                        exit(1);
        }
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "policies", required_argument, NULL, 'p' }, { "decisions", required_argument, NULL, 'n' },
                { "runs", required_argument, NULL, 'r' }, { 0 },
        };
        static struct access_location locs[LOCATIONS];
        static struct access_request reqs[REQUESTS];
        uint64_t n_pol = 1000, n_dec = 20000, runs = 5;
        struct access_policy **ps;
        enum access_result *res;
        double t[RUNS_MAX], t0, way_time[2];
        struct access_policy_index *index = NULL;
        size_t heap0, heap1;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                uint64_t *dst = c == 'p' ? &n_pol : c == 'n' ? &n_dec : c == 'r' ? &runs : NULL;
                uint64_t max = c == 'p' ? POLICIES_MAX : c == 'n' ? 100000000 : RUNS_MAX;

                if (!dst || util_uint_parse(optarg, max, dst) < 0 || *dst == 0) {
                        fprintf(stderr, "usage: bench-access-eval [--policies 1..%d] [--decisions N] [--runs 1..%d]\n",
                                POLICIES_MAX, RUNS_MAX);
                        return 2;
                }
        }
        ps = calloc(n_pol, sizeof(*ps));
        res = calloc(n_pol, sizeof(*res));
        if (!ps || !res)
                return 1;
        locations_make(locs);
        t0 = now_s();
        for (uint64_t i = 0; i < n_pol; i++)
                ps[i] = policy_make((int)i, locs);
        printf("parsed %lu policies in %.1f ms\n", (unsigned long)n_pol, (now_s() - t0) * 1e3);
        requests_make(reqs);

        if (access_policy_index_build((const struct access_policy *const *)ps, n_pol, &index) != 0) {
                fprintf(stderr, "out of memory\n");
                return 1;
        }
        /* the endpoint's way (indexed by host) beside every policy in turn, same requests */
        for (int way = 0; way < 2; way++) {
                uint64_t status[3] = { 0 };
                heap0 = mallinfo2().uordblks;
                for (uint64_t r = 0; r < runs; r++) {
                        t0 = now_s();
                        for (uint64_t i = 0; i < n_dec; i++) {
                                const struct access_request *q = &reqs[i % REQUESTS];
                                struct access_decision d =
                                        way ? access_evaluate((const struct access_policy *const *)ps, n_pol, q, res)
                                            : access_evaluate_indexed((const struct access_policy *const *)ps,
                                                                      index, q, res);
                                status[d.status == 200 ? 0 : d.status == 401 ? 1 : 2]++;
                        }
                        t[r] = now_s() - t0;
                }
                heap1 = mallinfo2().uordblks;
                qsort(t, runs, sizeof(t[0]), cmp_double);
                printf("%s: %lu policies, %lu decisions per round, median of %lu rounds: %.0f decisions/s, %.2f us per "
                       "decision\n",
                       way ? "every policy in turn" : "indexed by host (the endpoint)", (unsigned long)n_pol,
                       (unsigned long)n_dec, (unsigned long)runs, (double)n_dec / t[runs / 2],
                       t[runs / 2] / (double)n_dec * 1e6);
                printf("  heap growth during the rounds: %zd bytes; decisions: %lu allowed, %lu 401, %lu 403\n",
                       (ssize_t)(heap1 - heap0), (unsigned long)status[0], (unsigned long)status[1],
                       (unsigned long)status[2]);
                way_time[way] = t[runs / 2];
        }
        printf("indexed / every policy: x%.2f decisions/s\n", way_time[1] / way_time[0]);
        access_policy_index_free(index);
        for (uint64_t i = 0; i < n_pol; i++)
                access_policy_free(ps[i]);
        free(ps);
        free(res);
        return 0;
}
