/* bench-manage-membership: what manage's membership index costs. Fills the
 * index with N synthetic devices (default 100,000: four OS versions, three
 * architectures, hostnames lab-0.., one device in ten tagged "kiosk") and G
 * dynamic groups (default 100) of the usual kinds, then prints:
 *   - the time to re-evaluate one rule over every device (a group's rule
 *     changed), for a simple and a compound rule (best and median of runs);
 *   - the time to re-evaluate every group for one device (its inventory or
 *     tags changed), per device;
 *   - the time of "which groups is this device in" (manage_device_groups),
 *     per call;
 *   - the index's memory, from the process's resident size before and after.
 *
 * Usage: bench-manage-membership [DEVICES] [GROUPS] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/manage/manage-internal.h"
#include "server/vigild.h"

#define RUNS 9

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kib(void)
{
        FILE *f = fopen("/proc/self/statm", "r");
        long pages = 0, rss = 0;

        if (f) {
                if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
                        rss = 0;
                fclose(f);
        }
        return rss * 4;
}

static struct manage_expr *compile(const char *text)
{
        struct manage_expr *e = NULL;
        char err[256];

        if (manage_expr_compile(text, strlen(text), &e, err, sizeof(err)) < 0) {
                fprintf(stderr, "bench: '%s': %s\n", text, err);
                exit(1);
        }
        return e;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

/* Re-evaluates group g's rule RUNS times, alternating two texts so each run
 * changes members; prints best and median. */
static void bench_rule(struct manage_index *x, const char *label, const char *a, const char *b, size_t n_devs)
{
        double t[RUNS];
        size_t changed = 0;

        for (int i = 0; i < RUNS; i++) {
                struct manage_changed c = { 0 };
                double t0 = now_s();

                if (manage_index_group_rule_take(x, "g-0", compile(i % 2 ? a : b), &c) < 0)
                        exit(1);
                t[i] = now_s() - t0;
                changed = c.n;
                manage_changed_release(&c);
        }
        qsort(t, RUNS, sizeof(t[0]), cmp_double);
        printf("rule over %zu devices, %s: best %.2f ms, median %.2f ms (%zu devices changed groups)\n", n_devs,
               label, t[0] * 1e3, t[RUNS / 2] * 1e3, changed);
}

int main(int argc, char **argv)
{
        static const char *const versions[] = { "11", "12", "12.4", "13" }, *const archs[] = { "x86_64", "aarch64",
                                                                                               "riscv64" };
        static const char *const rules[] = {
                "device.os_version >= \"12\"", "device.tags contains \"kiosk\"", "device.name matches \"lab-1*\"",
                "device.architecture in [\"aarch64\", \"riscv64\"] and not device.tags contains \"kiosk\"",
        };
        size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000, groups = argc > 2 ? strtoul(argv[2], NULL, 10) : 100;
        struct vigild d = { 0 };
        struct manage m;
        const char *kiosk[] = { "kiosk" };
        char id[40], name[40], (*ids)[MANAGE_ID_LEN + 1];
        long rss0 = rss_kib();
        double t0, t;
        size_t k = 0;

        if (n == 0 || groups == 0 || groups > MANAGE_GROUPS_MAX) {
                fprintf(stderr, "usage: bench-manage-membership [DEVICES] [GROUPS (1-%d)]\n", MANAGE_GROUPS_MAX);
                return 2;
        }
        d.manage = &m;
        if (manage_index_init(&m.index) < 0)
                return 1;
        t0 = now_s();
        for (size_t i = 0; i < n; i++) {
                struct manage_device_facts f = { .id = id, .platform = "linux", .os_name = "Debian GNU/Linux",
                                                 .os_version = versions[i % 4], .name = name,
                                                 .architecture = archs[i % 3], .kernel = "6.1.0-13-amd64" };
                snprintf(id, sizeof(id), "%08zx-0000-4000-8000-000000000000", i);
                snprintf(name, sizeof(name), "lab-%zu", i);
                if (manage_index_device_set(&m.index, &f, false, SIZE_MAX, NULL) < 0 ||
                    (i % 10 == 0 && manage_index_tags_set(&m.index, id, kiosk, 1, NULL) < 0))
                        return 1;
        }
        t = now_s() - t0;
        printf("%zu devices loaded in %.1f ms\n", n, t * 1e3);
        t0 = now_s();
        for (size_t g = 0; g < groups; g++) {
                snprintf(id, sizeof(id), "g-%zu", g);
                if (manage_index_group_add_take(&m.index, id, compile(rules[g % 4]), NULL) < 0)
                        return 1;
        }
        printf("%zu dynamic groups evaluated over every device in %.1f ms; index memory about %ld MiB\n", groups,
               (now_s() - t0) * 1e3, (rss_kib() - rss0) / 1024);
        bench_rule(&m.index, "device.os_version >= \"12\"", "device.os_version >= \"12\"",
                   "device.os_version >= \"13\"", n);
        bench_rule(&m.index, "compound (in, and, not, contains)", rules[3],
                   "device.architecture in [\"x86_64\"] and not device.tags contains \"kiosk\"", n);
        bench_rule(&m.index, "glob on the hostname", "device.name matches \"lab-1*\"", "device.name matches \"*9\"", n);

        /* one device's facts change: every group re-evaluated for it */
        t0 = now_s();
        for (size_t i = 0; i < 10000; i++) {
                struct manage_device_facts f = { .id = id, .platform = "linux", .os_version = versions[(i + 1) % 4],
                                                 .name = "lab-7", .architecture = archs[i % 3] };
                snprintf(id, sizeof(id), "%08zx-0000-4000-8000-000000000000", (i * 7919) % n);
                manage_index_device_set(&m.index, &f, false, SIZE_MAX, NULL);
        }
        printf("one device's facts changed, %zu groups re-evaluated: %.2f µs per device\n", groups,
               (now_s() - t0) / 10000 * 1e6);

        ids = malloc(MANAGE_GROUPS_MAX * sizeof(*ids));
        t0 = now_s();
        for (size_t i = 0; i < 100000; i++) {
                snprintf(id, sizeof(id), "%08zx-0000-4000-8000-000000000000", (i * 104729) % n);
                manage_device_groups(&d, id, ids, MANAGE_GROUPS_MAX, &k);
        }
        printf("groups of one device (manage_device_groups, %zu groups): %.2f µs per call\n", groups,
               (now_s() - t0) / 100000 * 1e6);
        free(ids);
        manage_index_release(&m.index);
        return 0;
}
