/* bench-tvm-match: vulnerability matching as vigild runs it, on a fleet in
 * the real database. Makes a database file in a temporary folder, stores D
 * synthetic devices (default 1,000: Debian 12, Debian 11 and Ubuntu 22.04)
 * with P packages each (default 1,500, binaries of some 1,000 source
 * packages, at versions along each source's ladder of Debian versions with
 * epochs, '~' and '+debNNuM' revisions), and R advisory rows (default
 * 50,000) in tvm_affected with SQL: the same releases plus rows for every
 * Debian release, statuses fixed, open, undetermined and not_affected,
 * severities, urgencies, CVSS scores and known exploits in realistic shares.
 * Then, through tvm_results_recompute() (what the worker runs):
 *
 *   - the first full recompute (every device's results written);
 *   - a full recompute with nothing changed (read, matched, nothing written),
 *     N runs (default 5) with the advisories loaded anew each time, as after
 *     a feed import: median and min;
 *   - one device whose inventory changed (20 packages moved along their
 *     ladders), recomputed with the advisory indexes already loaded, N runs:
 *     median, and the same with the indexes loaded for the call (cold);
 *   - the recommendations computed over the whole fleet, N runs: median;
 *   - the process's peak resident memory (VmHWM) after setup and at the end.
 *
 * Usage: bench-tvm-match [--devices D] [--packages P] [--rows R] [--runs N] [--dir DIR] */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/common.h"
#include "server/api/api.h"
#include "server/bus.h"
#include "server/db/db.h"
#include "server/enroll/enroll-internal.h"
#include "server/tvm/results.h"
#include "server/tvm/tvm.h"
#include "server/vigild.h"
#include "util/strutil.h"

#define SOURCES 6000                    /* source packages in the universe */
#define LADDER 8                        /* versions of each source */
#define RUNS_MAX 1000

static const struct {
        const char *os_name, *release, *tag;
} releases[] = {
        { "Debian GNU/Linux", "12", "deb12u" },
        { "Debian GNU/Linux", "11", "deb11u" },
        { "Ubuntu", "22.04", "ubuntu0.22.04." },
};

/* Version k (0 .. LADDER-1) of source s on release rel: along the ladder
 * "[E:]A.B.C-R" then "~tagN" backports and "+tagN" security updates. */
static void version(int s, int rel, int k, char *out, size_t size)
{
        unsigned a = (unsigned)s % 7, b = (unsigned)s % 31, c = (unsigned)s % 13;
        const char *epoch = s % 11 == 0 ? "1:" : s % 29 == 0 ? "2:" : "";
        const char *dfsg = s % 5 == 0 ? "+dfsg" : "";

        if (k < 2)
                snprintf(out, size, "%s%u.%u.%u%s-%d", epoch, a, b, c, dfsg, k + 1);
        else if (k < 3)
                snprintf(out, size, "%s%u.%u.%u%s-2~%s1", epoch, a, b, c + 1, dfsg, releases[rel].tag);
        else
                snprintf(out, size, "%s%u.%u.%u%s-2+%s%d", epoch, a, b, c + 1, dfsg, releases[rel].tag, k - 2);
}

static void device_id(int i, char out[37])
{
        snprintf(out, 37, "%08x-0000-4000-8000-%012x", (unsigned)i * 2654435761u, (unsigned)i);
}

/* Source of package j of a device: the first 1,000 binaries are on every
 * device (3 per source at most), the rest drawn from the whole universe. */
static int source_of(int j)
{
        return j < 1000 ? j * 2 / 3 : (int)bench_rng(SOURCES);
}

static int device_store(struct vigild *d, int i, int packages)
{
        int rel = i % 10 < 7 ? 0 : i % 10 < 9 ? 1 : 2;
        char id[37], name[64], src[32], ver[64];
        int r;

        device_id(i, id);
        r = db_exec_params(d->db, "INSERT INTO devices (id, name, os_name, os_version, enrolled_at, enroll_token_id, "
                                  "cert_serial, cert_fingerprint, cert_not_after, inventory_at) "
                                  "VALUES ($1, $1, $2, $3, 1, 'bench', $1, $1, 2, 1)",
                           DB_PARAMS(db_param_text(id, strlen(id)),
                                     db_param_text(releases[rel].os_name, strlen(releases[rel].os_name)),
                                     db_param_text(releases[rel].release, strlen(releases[rel].release))));
        for (int j = 0; r == 0 && j < packages; j++) {
                int s = source_of(j);
                /* devices are patched well: nine packages in ten at the ladder's top */
                int k = LADDER - 1 - (int)(bench_rng(100) < 90 ? 0 : bench_rng(LADDER));

                snprintf(src, sizeof(src), "src%04d", s);
                snprintf(name, sizeof(name), "lib%s-%d", src, j);
                version(s, rel, k, ver, sizeof(ver));
                r = db_exec_params(d->db, "INSERT OR IGNORE INTO device_software VALUES ($1, $2, $3, 'amd64', $4, '')",
                                   DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(name, strlen(name)),
                                             db_param_text(ver, strlen(ver)), db_param_text(src, strlen(src))));
        }
        return r;
}

/* Advisory row i: a source (some sources have many CVEs, as the kernel and
 * browsers do), a release (or every Debian release, as tracker rows), a
 * status and a fixed version along the ladder. */
static int row_store(struct vigild *d, int i)
{
        static const char *const sevs[] = { "unknown", "low", "medium", "high", "critical" };
        static const char *const urgs[] = { "", "low", "medium", "high", "unimportant", "not yet assigned" };
        uint32_t k = bench_rng(100), which = bench_rng(100);
        int s = bench_rng(20) == 0 ? (int)bench_rng(50) : (int)bench_rng(SOURCES);
        int rel = which < 45 ? 0 : which < 70 ? 1 : which < 85 ? 2 : -1;
        bool tracker = rel < 0;
        const char *distro = rel == 2 ? "ubuntu" : "debian", *release = tracker ? "" : releases[rel].release;
        const char *status = k < 85 ? "fixed" : k < 86 ? "open" : k < 88 ? "undetermined" : "not_affected";
        const char *feed = tracker ? "debian-tracker" : "osv";
        const char *sev = sevs[tracker ? 0 : bench_rng(5)], *urg = urgs[tracker ? bench_rng(6) : 0];
        char cve[32], src[32], fixed[64], adv[40], cvss[8];
        bool has_cvss = !tracker && bench_rng(3) != 0;

        snprintf(cve, sizeof(cve), "CVE-%d-%05d", 2015 + i % 10, i);
        if (tracker)
                snprintf(adv, sizeof(adv), "%s", cve);
        else if (rel == 2)
                snprintf(adv, sizeof(adv), "UBUNTU-%s", cve);
        else
                snprintf(adv, sizeof(adv), "DSA-%d-1", 4000 + i / 3);
        snprintf(src, sizeof(src), "src%04d", s);
        snprintf(cvss, sizeof(cvss), "%.1f", (double)(10 + bench_rng(91)) / 10.0);
        if (strcmp(status, "not_affected") == 0)
                snprintf(fixed, sizeof(fixed), "0");
        else
                version(s, tracker ? 0 : rel, 1 + (int)bench_rng(LADDER - 1), fixed, sizeof(fixed));
        return db_exec_params(d->db, "INSERT INTO tvm_affected (feed, advisory_id, cve, distro, release, "
                                     "source_package, introduced, fixed, status, severity, urgency, cvss, "
                                     "exploit_known) VALUES ($1, $2, $3, $4, $5, $6, '0', $7, $8, $9, $10, $11, $12)",
                              DB_PARAMS(db_param_text(feed, strlen(feed)), db_param_text(adv, strlen(adv)),
                                        db_param_text(cve, strlen(cve)), db_param_text(distro, strlen(distro)),
                                        db_param_text(release, strlen(release)), db_param_text(src, strlen(src)),
                                        strcmp(status, "fixed") == 0 || fixed[0] == '0'
                                                ? db_param_text(fixed, strlen(fixed)) : db_param_null(),
                                        db_param_text(status, strlen(status)), db_param_text(sev, strlen(sev)),
                                        db_param_text(urg, strlen(urg)),
                                        has_cvss ? db_param_text(cvss, strlen(cvss)) : db_param_null(),
                                        db_param_int64(bench_rng(50) == 0)));
}

static const char affected_ddl[] =
        "CREATE TABLE IF NOT EXISTS tvm_affected (feed TEXT NOT NULL, advisory_id TEXT NOT NULL, cve TEXT NOT NULL,"
        "  distro TEXT NOT NULL, release TEXT NOT NULL, source_package TEXT NOT NULL, introduced TEXT NOT NULL,"
        "  fixed TEXT, status TEXT NOT NULL, severity TEXT NOT NULL, urgency TEXT NOT NULL, cvss REAL,"
        "  exploit_known INTEGER NOT NULL DEFAULT 0, summary TEXT NOT NULL DEFAULT '',"
        "  modified TEXT NOT NULL DEFAULT '', origin TEXT NOT NULL DEFAULT '', last_affected TEXT);"
        "CREATE INDEX IF NOT EXISTS tvm_affected_pkg ON tvm_affected(distro, release, source_package);";

/* The fleet and the advisories, in one transaction. */
static int fleet_store(struct vigild *d, int devices, int packages, int rows)
{
        int r;

        db_lock(d->db);
        r = db_exec(d->db, affected_ddl);
        if (r == 0)
                r = db_begin(d->db);
        for (int i = 0; r == 0 && i < devices; i++)
                r = device_store(d, i, packages);
        for (int i = 0; r == 0 && i < rows; i++)
                r = row_store(d, i);
        r = db_finish(d->db, r);
        if (r < 0)
                fprintf(stderr, "bench-tvm-match: cannot store the fleet: %s\n", db_errmsg(d->db));
        db_unlock(d->db);
        return r;
}

/* Moves 20 of device 0's packages along their ladders. */
static int inventory_change(struct vigild *d, int round)
{
        char id[37], ver[64], name[64], src[32];
        int r = 0;

        device_id(0, id);
        db_lock(d->db);
        for (int j = 0; r == 0 && j < 20; j++) {
                int s = (j * 37 + round) % 1000 * 2 / 3;

                snprintf(src, sizeof(src), "src%04d", s);
                snprintf(name, sizeof(name), "lib%s-%d", src, (j * 37 + round) % 1000);
                version(s, 0, (round + j) % LADDER, ver, sizeof(ver));
                r = db_exec_params(d->db, "UPDATE device_software SET version = $3 WHERE device_id = $1 AND name = $2",
                                   DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(name, strlen(name)),
                                             db_param_text(ver, strlen(ver))));
        }
        db_unlock(d->db);
        return r;
}

static long vm_kb(const char *key)
{
        char line[256];
        long kb = -1;
        FILE *f = fopen("/proc/self/status", "re");

        while (f && fgets(line, sizeof(line), f))
                if (strncmp(line, key, strlen(key)) == 0)
                        kb = strtol(line + strlen(key) + 1, NULL, 10);
        if (f)
                fclose(f);
        return kb;
}

static double median_ms(int64_t *ns, int n)
{
        qsort(ns, (size_t)n, sizeof(*ns), bench_cmp_i64);
        return (double)ns[n / 2] / 1e6;
}

static int count_rows(struct vigild *d, const char *sql, int64_t *ret)
{
        struct db_stmt *st;
        int r;

        db_lock(d->db);
        r = db_prepare(d->db, sql, &st);
        if (r == 0) {
                r = db_step(st);
                *ret = db_column_int64(st, 0);
                db_stmt_done(st);
        }
        db_unlock(d->db);
        return r < 0 ? r : 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path);
}

/* Wall and CPU time of a step: on a shared machine the CPU time says what
 * the work costs, the wall time what a user waits. */
struct lap {
        int64_t wall0, cpu0;
};

static void lap_start(struct lap *l)
{
        struct timespec ts;

        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        l->cpu0 = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
        l->wall0 = bench_mono_ns();
}

static void lap_stop(const struct lap *l, int64_t *ret_wall, int64_t *ret_cpu)
{
        struct timespec ts;

        *ret_wall = bench_mono_ns() - l->wall0;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        *ret_cpu = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec - l->cpu0;
}

/* The measurements of the usage comment, printed. */
static int measure(struct vigild *d, int devices, int runs)
{
        static const struct tvm_match_options opts = { .count_open = true, .count_undetermined = false };
        struct tvm_release_cache *cache = tvm_release_cache_new();
        int64_t wall[RUNS_MAX], cpu[RUNS_MAX], cold_wall[RUNS_MAX], cold_cpu[RUNS_MAX], vulns = 0, exposed = 0;
        struct lap lap;
        char id[37];
        int r;

        if (!cache)
                return -ENOMEM;
        device_id(0, id);
        lap_start(&lap);
        r = tvm_results_recompute(d, NULL, &opts, cache);
        lap_stop(&lap, &wall[0], &cpu[0]);
        if (r == 0)
                r = count_rows(d, "SELECT count(*) FROM tvm_device_vulns", &vulns);
        if (r == 0)
                r = count_rows(d, "SELECT count(*) FROM tvm_device_exposure WHERE level <> 'none'", &exposed);
        if (r < 0)
                goto out;
        printf("first full recompute: %.0f ms wall, %.0f ms CPU (%d devices, %lld vulnerabilities stored, "
               "%lld devices exposed)\n", (double)wall[0] / 1e6, (double)cpu[0] / 1e6, devices, (long long)vulns,
               (long long)exposed);
        for (int i = 0; r == 0 && i < runs; i++) {
                tvm_release_cache_clear(cache);
                lap_start(&lap);
                r = tvm_results_recompute(d, NULL, &opts, cache);
                lap_stop(&lap, &wall[i], &cpu[i]);
        }
        if (r < 0)
                goto out;
        printf("full recompute, nothing changed, advisories loaded anew: median %.0f ms wall, %.0f ms CPU (%d runs)\n",
               median_ms(wall, runs), median_ms(cpu, runs), runs);
        for (int i = 0; r == 0 && i < runs; i++) {
                r = inventory_change(d, i);
                lap_start(&lap);
                if (r == 0)
                        r = tvm_results_recompute(d, id, &opts, cache);
                lap_stop(&lap, &wall[i], &cpu[i]);
                if (r == 0)
                        r = inventory_change(d, i + 1000);
                lap_start(&lap);
                if (r == 0)
                        r = tvm_results_recompute(d, id, &opts, NULL);
                lap_stop(&lap, &cold_wall[i], &cold_cpu[i]);
        }
        if (r < 0)
                goto out;
        printf("one device's inventory changed: median %.2f ms wall, %.2f ms CPU with the advisories in memory; "
               "%.2f ms wall, %.2f ms CPU loading its release's (%d runs)\n", median_ms(wall, runs),
               median_ms(cpu, runs), median_ms(cold_wall, runs), median_ms(cold_cpu, runs), runs);
        for (int i = 0; r == 0 && i < runs; i++) {
                json_t *recs = NULL;

                db_lock(d->db);
                lap_start(&lap);
                r = tvm_recommendations(d, NULL, &recs);
                lap_stop(&lap, &wall[i], &cpu[i]);
                db_unlock(d->db);
                if (r == 0 && i == 0)
                        printf("recommendations: %zu, first: %s\n", json_array_size(recs),
                               json_string_value(json_object_get(json_array_get(recs, 0), "text")));
                json_decref(recs);
        }
        if (r == 0)
                printf("recommendations over the fleet: median %.0f ms wall, %.0f ms CPU (%d runs)\n",
                       median_ms(wall, runs), median_ms(cpu, runs), runs);
out:
        tvm_release_cache_free(cache);
        return r;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "devices", required_argument, NULL, 'd' }, { "packages", required_argument, NULL, 'p' },
                { "rows", required_argument, NULL, 'r' }, { "runs", required_argument, NULL, 'n' },
                { "dir", required_argument, NULL, 'D' }, { 0 } };
        const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        uint64_t devices = 1000, packages = 1500, rows = 50000, runs = 5;
        struct vigild d = { 0 };
        char dir[4096], path[4200];
        int64_t t;
        int opt, r;

        while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                const char *v = optarg;
                r = opt == 'd' ? util_uint_parse(v, 100000, &devices) : opt == 'p' ? util_uint_parse(v, 20000, &packages)
                  : opt == 'r' ? util_uint_parse(v, 10000000, &rows) : opt == 'n' ? util_uint_parse(v, RUNS_MAX, &runs)
                  : opt == 'D' ? (tmp = v, 0) : -EINVAL;
                if (r < 0 || devices == 0 || runs == 0) {
                        fprintf(stderr, "usage: bench-tvm-match [--devices D] [--packages P] [--rows R] [--runs N] "
                                        "[--dir DIR]\n");
                        return 2;
                }
        }
        snprintf(dir, sizeof(dir), "%s/bench-tvm-XXXXXX", tmp);
        if (!mkdtemp(dir)) {
                fprintf(stderr, "bench-tvm-match: cannot make a folder in '%s': %s\n", tmp, strerror(errno));
                return 1;
        }
        util_path_join(path, sizeof(path), dir, VIGILD_DB_FILE);
        r = db_open(path, &d.db);
        if (r == 0)
                r = api_migrate(&d);
        if (r == 0)
                r = devices_migrate(&d);
        if (r == 0)
                r = tvm_migrate(&d);
        if (r == 0)
                r = tvm_results_migrate(&d);
        d.bus = bus_new();
        if (r < 0 || !d.bus) {
                fprintf(stderr, "bench-tvm-match: cannot make the database '%s': %s\n", path,
                        d.db ? db_errmsg(d.db) : strerror(-r));
                goto out;
        }
        t = bench_mono_ns();
        r = fleet_store(&d, (int)devices, (int)packages, (int)rows);
        if (r < 0)
                goto out;
        printf("setup: %llu devices x %llu packages, %llu advisory rows stored in %.1f s; peak RSS %ld KiB\n",
               (unsigned long long)devices, (unsigned long long)packages, (unsigned long long)rows,
               (double)(bench_mono_ns() - t) / 1e9, vm_kb("VmHWM:"));
        r = measure(&d, (int)devices, (int)runs);
        if (r < 0)
                fprintf(stderr, "bench-tvm-match: recompute failed: %s\n", strerror(-r));
        else
                printf("peak RSS at the end: %ld KiB (now %ld KiB)\n", vm_kb("VmHWM:"), vm_kb("VmRSS:"));
out:
        bus_free(d.bus);
        db_close(d.db);
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        return r < 0 ? 1 : 0;
}
