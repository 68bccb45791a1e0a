/* bench-compliance-store: compliance as vigild runs it, on a fleet in the
 * real database. Makes a data directory (as 'vigild init' does), stores D
 * synthetic devices (default 100,000) in enroll's devices table with a mix
 * of facts, their risk in defend's table and P policies (default 20, no
 * isolate) in compliance's, with SQL; then opens every module as vigild does
 * (enroll's registry, manage's index, the connector's memory) and starts
 * compliance, whose evaluator evaluates every device:
 *
 *   - the first full evaluation: every result, state and history row written;
 *   - a full re-evaluation with nothing changed: every device's facts and
 *     stored results read, evaluated, nothing written;
 *   - the latency from risk_changed published (as defend publishes it) to
 *     compliance_changed published, for one device whose risk goes from none
 *     to high and back, over T trials (default 200): p50, p99 and max.
 *
 * Usage: bench-compliance-store [--devices D] [--policies P] [--trials T] [--dir DIR]
 * (DIR: where the data directory is made; default $TMPDIR or /tmp; removed after). */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/common.h"
#include "server/api/api.h"
#include "server/bus.h"
#include "server/connector/connector.h"
#include "server/db/db.h"
#include "server/defend/defend.h"
#include "server/enroll/enroll.h"
#include "server/manage/compliance-service.h"
#include "server/manage/manage.h"
#include "server/tvm/tvm.h"
#include "server/vigild.h"
#include "server/webhook/webhook.h"
#include "util/strutil.h"

#define TRIALS_MAX 100000
#define SETTLE_MS (30 * 60 * 1000)

static void device_id(int i, char out[37])
{
        snprintf(out, 37, "%08x-0000-4000-8000-%012x", (unsigned)i * 2654435761u, (unsigned)i);
}

/* Device 0 holds to every policy while its risk is none: the latency's subject. */
static int device_store(struct vigild *d, int i, int64_t now)
{
        static const char *const versions[] = { "12", "11", "22.04", "24.04", "13", "9.3", "" };
        static const char *const enc[] = { "encrypted", "not_encrypted", "unknown" };
        static const char *const fw[] = { "active", "inactive", "unknown" };
        static const char *const sb[] = { "enabled", "disabled", "unknown" };
        static const char *const sensors[] = { "bpf", "cnproc", "" };
        char id[37], serial[40];
        bool ideal = i == 0;
        uint32_t k = bench_rng(100);
        const char *v = ideal ? "24.04" : versions[bench_rng(7)];
        const char *e = ideal || k < 85 ? enc[0] : enc[1 + bench_rng(2)];
        const char *f = ideal || bench_rng(100) < 85 ? fw[0] : fw[1 + bench_rng(2)];
        const char *s = ideal || bench_rng(100) < 85 ? sb[0] : sb[1 + bench_rng(2)];
        const char *sensor = ideal || bench_rng(100) < 90 ? sensors[0] : sensors[1 + bench_rng(2)];
        int64_t seen = ideal ? now : now - (int64_t)(bench_rng(100) < 5 ? bench_rng(86400) : bench_rng(300));

        device_id(i, id);
        snprintf(serial, sizeof(serial), "%032x", (unsigned)i);
        return db_exec_params(d->db, "INSERT INTO devices (id, name, os_version, disk_encryption, firewall, "
                              "secure_boot, enrolled_at, enroll_token_id, last_seen, cert_serial, cert_fingerprint, "
                              "cert_not_after, inventory_at, sensor) VALUES ($1, $2, $3, $4, $5, $6, $7, 'bench', "
                              "$8, $9, $9, $10, $7, $11)",
                              DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(id, 8),
                                        db_param_text(v, strlen(v)), db_param_text(e, strlen(e)),
                                        db_param_text(f, strlen(f)), db_param_text(s, strlen(s)),
                                        db_param_int64(now - 86400), db_param_int64(seen),
                                        db_param_text(serial, strlen(serial)), db_param_int64(now + 365 * 86400),
                                        db_param_text(sensor, strlen(sensor))));
}

static int risk_store(struct vigild *d, int i)
{
        static const uint32_t cut[] = { 80, 90, 95, 98, 100 };         /* none .. high */
        uint32_t k = bench_rng(100);
        int level = 0;
        char id[37];
        const char *name;

        while (i != 0 && k >= cut[level])
                level++;
        if (level == 0)
                return 0;
        device_id(i, id);
        name = defend_level_name((enum defend_level)level);
        return db_exec_params(d->db, "INSERT INTO defend_device_risk (device_id, risk, risk_rank, changed_at) "
                              "VALUES ($1, $2, $3, 0)", DB_PARAMS(db_param_text(id, strlen(id)),
                              db_param_text(name, strlen(name)), db_param_int64(level)));
}

/* Policy i: a different mix of settings for each; every device assigned. */
static int policy_store(struct vigild *d, int i, int64_t now)
{
        static const char *const risks[] = { "clear", "low", "medium", "high" };
        static const char *const versions[] = { "11", "12", "20.04", "22.04", "9.3" };
        struct compliance_policy *p;
        char doc[1024], err[256], id[37];
        const char *canon;
        size_t len;
        int r;

        snprintf(doc, sizeof(doc), "{\"name\":\"bench policy %d\",\"platform\":\"linux\",\"settings\":{"
                 "\"max_device_risk\":\"%s\",\"min_os_version\":\"%s\",\"disk_encryption_required\":%s,"
                 "\"firewall_required\":%s,\"secure_boot_required\":%s,\"sensor_healthy_required\":%s,"
                 "\"max_exposure_level\":\"medium\"},\"actions\":[{\"type\":\"mark_noncompliant\",\"grace_hours\":%d},"
                 "{\"type\":\"notify\",\"after_hours\":%d}],\"assignments\":{\"include\":[\"all_devices\"]}}",
                 i, risks[i % 4], versions[i % 5], i % 2 ? "true" : "false", i % 3 ? "true" : "false",
                 i % 5 == 0 ? "true" : "false", i % 4 == 1 ? "true" : "false", (i % 3) * 24, 1 + i % 5);
        r = compliance_policy_parse(doc, strlen(doc), &p, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "policy %d: %s\n", i, err);
                return r;
        }
        canon = compliance_policy_canonical(p, &len);
        snprintf(id, sizeof(id), "%08x-1111-4000-8000-%012x", (unsigned)i, (unsigned)i);
        r = db_exec_params(d->db, "INSERT INTO compliance_policies VALUES ($1, $2, $3, 1, $4, 'bench', $4, 'bench')",
                           DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(p->name, strlen(p->name)),
                                     db_param_text(canon, len), db_param_int64(now)));
        compliance_policy_free(p);
        return r;
}

static int storage_open(struct vigild *d, char *err, size_t err_size)
{
        char path[4200];
        int r;

        util_path_join(path, sizeof(path), d->data_dir, VIGILD_DB_FILE);
        r = db_open(path, &d->db);
        if (r == 0)
                r = api_migrate(d);
        if (r == 0)
                r = tvm_migrate(d);
        if (r == 0)
                r = defend_migrate(d);
        if (r == 0)
                r = webhook_migrate(d);
        if (r == 0)
                r = connector_migrate(d);
        if (r == 0)
                r = manage_migrate(d);
        if (r == 0)
                r = compliance_migrate(d);
        if (r < 0) {
                snprintf(err, err_size, "cannot open and migrate '%s': %s", path, d->db ? db_errmsg(d->db) : "");
                return r;
        }
        r = enroll_open(d, err, err_size);
        if (r < 0)
                return r;
        d->bus = bus_new();
        r = d->bus ? defend_open(d) : -ENOMEM;
        if (r < 0) {
                snprintf(err, err_size, "cannot open defend: %s", strerror(-r));
                return r;
        }
        return manage_open(d, err, err_size);
}

static void storage_close(struct vigild *d)
{
        compliance_stop(d);
        connector_stop(d);
        compliance_close(d);
        manage_close(d);
        defend_close(d);
        enroll_close(d);
        bus_free(d->bus);
        d->bus = NULL;
        db_close(d->db);
        d->db = NULL;
}

static int fleet_store(struct vigild *d, int nd, int np)
{
        int64_t now = util_now();
        int r;

        db_lock(d->db);
        r = db_begin(d->db);
        for (int i = 0; r == 0 && i < nd; i++)
                r = device_store(d, i, now);
        for (int i = 0; r == 0 && i < nd; i++)
                r = risk_store(d, i);
        for (int i = 0; r == 0 && i < np; i++)
                r = policy_store(d, i, now);
        r = db_finish(d->db, r);
        db_unlock(d->db);
        return r;
}

/* What the latency waits for: compliance_changed of the subject device. */
static struct {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        char device[37];
        int64_t at_ns;
        char to[32];
} seen = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, "", 0, "" };

static void on_compliance_changed(const struct bus_event *ev, void *userdata)
{
        (void)userdata;
        if (!ev->device_id || strcmp(ev->device_id, seen.device) != 0)
                return;
        pthread_mutex_lock(&seen.lock);
        seen.at_ns = bench_mono_ns();
        snprintf(seen.to, sizeof(seen.to), "%s", ev->compliance_changed.to);
        pthread_cond_signal(&seen.cond);
        pthread_mutex_unlock(&seen.lock);
}

/* One trial: risk_changed published; the time until compliance_changed, or -1. */
static int64_t trial(struct vigild *d, bool high)
{
        struct bus_event ev = { .type = BUS_RISK_CHANGED, .device_id = seen.device };
        struct timespec until;
        int64_t t0, dt = -1;

        ev.risk_changed.from = high ? "none" : "high";
        ev.risk_changed.to = high ? "high" : "none";
        pthread_mutex_lock(&seen.lock);
        seen.at_ns = 0;
        pthread_mutex_unlock(&seen.lock);
        t0 = bench_mono_ns();
        bus_publish(d->bus, &ev);
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 5;
        pthread_mutex_lock(&seen.lock);
        while (!seen.at_ns)
                if (pthread_cond_timedwait(&seen.cond, &seen.lock, &until) != 0)
                        break;
        if (seen.at_ns)
                dt = seen.at_ns - t0;
        pthread_mutex_unlock(&seen.lock);
        return dt;
}

static int latency(struct vigild *d, int n)
{
        int64_t *v = calloc((size_t)n, sizeof(*v));
        int k = 0;

        if (!v)
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                int64_t dt = trial(d, i % 2 == 0);

                if (dt < 0) {
                        fprintf(stderr, "trial %d: no compliance_changed within 5 s\n", i);
                        free(v);
                        return -ETIMEDOUT;
                }
                v[k++] = dt;
        }
        qsort(v, (size_t)k, sizeof(*v), bench_cmp_i64);
        printf("risk_changed -> compliance_changed, one device, %d trials: p50 %.0f us, p99 %.0f us, max %.0f us\n",
               k, v[k / 2] / 1e3, v[(k * 99) / 100 < k ? (k * 99) / 100 : k - 1] / 1e3, v[k - 1] / 1e3);
        free(v);
        return 0;
}

static int64_t count_of(struct vigild *d, const char *sql)
{
        struct db_stmt *st;
        int64_t n = -1;

        db_lock(d->db);
        if (db_prepare(d->db, sql, &st) == 0) {
                if (db_step(st) == 1)
                        n = db_column_int64(st, 0);
                db_stmt_done(st);
        }
        db_unlock(d->db);
        return n;
}

static double settle_s(struct vigild *d)
{
        int64_t t0 = bench_mono_ns();

        if (!compliance_settle(d, SETTLE_MS))
                return -1;
        return (bench_mono_ns() - t0) / 1e9;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path);
}

static int run(struct vigild *d, int nd, int np, int trials)
{
        char err[512];
        double first, again;
        int64_t t0;
        int r;

        r = storage_open(d, err, sizeof(err));
        if (r == 0) {
                t0 = bench_mono_ns();
                r = fleet_store(d, nd, np);
                printf("stored %d devices, their risk and %d policies in %.2f s\n", nd, np, (bench_mono_ns() - t0) / 1e9);
        }
        storage_close(d);
        if (r < 0) {
                fprintf(stderr, "cannot store the fleet: %s\n", err[0] ? err : strerror(-r));
                return r;
        }
        /* as vigild starts: every module's memory loaded, then compliance */
        err[0] = '\0';
        t0 = bench_mono_ns();
        r = storage_open(d, err, sizeof(err));
        if (r == 0)
                r = bus_subscribe(d->bus, BUS_COMPLIANCE_CHANGED, on_compliance_changed, NULL);
        if (r == 0)
                r = connector_start(d, err, sizeof(err));
        printf("modules opened (registry, index, connector) in %.2f s\n", (bench_mono_ns() - t0) / 1e9);
        if (r == 0)
                r = compliance_start(d, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "cannot start: %s\n", err[0] ? err : strerror(-r));
                return r;
        }
        first = settle_s(d);
        printf("first full evaluation (every result, state and history row written): %.2f s, %.0f devices/s\n",
               first, nd / first);
        printf("  rows: %lld results, %lld device states, %lld history\n",
               (long long)count_of(d, "SELECT count(*) FROM compliance_results"),
               (long long)count_of(d, "SELECT count(*) FROM compliance_device_state"),
               (long long)count_of(d, "SELECT count(*) FROM compliance_history"));
        printf("  states: compliant %lld, noncompliant %lld, in_grace_period %lld, error %lld, unknown %lld\n",
               (long long)count_of(d, "SELECT count(*) FROM compliance_device_state WHERE state = 'compliant'"),
               (long long)count_of(d, "SELECT count(*) FROM compliance_device_state WHERE state = 'noncompliant'"),
               (long long)count_of(d, "SELECT count(*) FROM compliance_device_state WHERE state = 'in_grace_period'"),
               (long long)count_of(d, "SELECT count(*) FROM compliance_device_state WHERE state = 'error'"),
               (long long)count_of(d, "SELECT count(*) FROM compliance_device_state WHERE state = 'unknown'"));
        for (int i = 0; i < 2; i++) {
                compliance_queue(d, NULL);
                again = settle_s(d);
                printf("full re-evaluation, nothing changed (%d devices x %d policies read and evaluated): %.2f s, "
                       "%.0f devices/s\n", nd, np, again, nd / again);
        }
        device_id(0, seen.device);
        r = latency(d, trials);
        storage_close(d);
        return r;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = { { "devices", required_argument, NULL, 'd' },
                                              { "policies", required_argument, NULL, 'p' },
                                              { "trials", required_argument, NULL, 't' },
                                              { "dir", required_argument, NULL, 'D' }, { 0 } };
        static const char *const names[] = { "localhost" };
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        uint64_t nd = 100000, np = 20, trials = 200;
        struct vigild d = { 0 };
        char err[512];
        int opt, r;

        while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if ((opt == 'd' && util_uint_parse(optarg, 10000000, &nd) < 0) ||
                    (opt == 'p' && util_uint_parse(optarg, COMPLIANCE_POLICIES_MAX, &np) < 0) ||
                    (opt == 't' && util_uint_parse(optarg, TRIALS_MAX, &trials) < 0) || opt == '?') {
                        fprintf(stderr, "usage: bench-compliance-store [--devices D] [--policies P (at most %d)] "
                                "[--trials T] [--dir DIR]\n", COMPLIANCE_POLICIES_MAX);
                        return 2;
                }
                if (opt == 'D')
                        base = optarg;
        }
        if (nd < 1 || trials < 2) {
                fprintf(stderr, "bench-compliance-store: at least 1 device and 2 trials\n");
                return 2;
        }
        vigild_config_defaults(&d.cfg);
        snprintf(d.data_dir, sizeof(d.data_dir), "%s/bench-compliance-XXXXXX", base);
        if (!mkdtemp(d.data_dir)) {
                fprintf(stderr, "cannot make a directory under '%s': %m\n", base);
                return 1;
        }
        r = enroll_data_init(d.data_dir, names, 1, err, sizeof(err));
        if (r < 0)
                fprintf(stderr, "cannot initialise '%s': %s\n", d.data_dir, err);
        else
                r = run(&d, (int)nd, (int)np, (int)trials);
        nftw(d.data_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        return r < 0 ? 1 : 0;
}
