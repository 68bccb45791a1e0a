/* Unit tests for server/tvm's results: matching installed packages against
 * tvm_affected rows (made with the table's DDL and filled by SQL here):
 * epochs, binary versus source names and versions, never-affected rows,
 * open and undetermined entries by configuration, releases and distros that
 * do not apply, several rows of one CVE; the exposure formula; what a
 * recompute stores and publishes; the recommendations; a device whose
 * results cannot be stored holding back no other; the worker stopping in
 * the middle of a recompute of every device; a busy database waited for
 * once; the worker trying a failed device again. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "server/bus.h"
#include "server/db/db.h"
#include "server/enroll/enroll-internal.h"
#include "server/tvm/results.h"
#include "server/tvm/tvm.h"
#include "server/vigild.h"
#include "util/strutil.h"

/* The advisory table as the feeds create it. */
static const char affected_ddl[] =
        "CREATE TABLE tvm_affected (feed TEXT NOT NULL, advisory_id TEXT NOT NULL, cve TEXT NOT NULL,"
        "  distro TEXT NOT NULL, release TEXT NOT NULL, source_package TEXT NOT NULL, introduced TEXT NOT NULL,"
        "  fixed TEXT, status TEXT NOT NULL, severity TEXT NOT NULL, urgency TEXT NOT NULL, cvss REAL,"
        "  exploit_known INTEGER NOT NULL DEFAULT 0, summary TEXT NOT NULL DEFAULT '',"
        "  modified TEXT NOT NULL DEFAULT '', origin TEXT NOT NULL DEFAULT '', last_affected TEXT);"
        "CREATE INDEX tvm_affected_pkg ON tvm_affected(distro, release, source_package);";

static const struct tvm_match_options defaults = { .count_open = true, .count_undetermined = false };

struct fixture {
        struct vigild d;
        char events[16][64];
        size_t n_events;
};

static void sql(struct vigild *d, const char *s)
{
        db_lock(d->db);
        if (db_exec(d->db, s) != 0)
                fail_msg("%s: %s", s, db_errmsg(d->db));
        db_unlock(d->db);
}

static void on_exposure(const struct bus_event *ev, void *userdata)
{
        struct fixture *f = userdata;

        if (f->n_events < 16)
                snprintf(f->events[f->n_events++], 64, "%.8s %s>%s", ev->device_id,
                         ev->exposure_changed.from ? ev->exposure_changed.from : "-",
                         ev->exposure_changed.to ? ev->exposure_changed.to : "-");
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        assert_int_equal(db_open(":memory:", &f->d.db), 0);
        f->d.bus = bus_new();
        assert_int_equal(bus_subscribe(f->d.bus, BUS_EXPOSURE_CHANGED, on_exposure, f), 0);
        assert_int_equal(devices_migrate(&f->d), 0);
        assert_int_equal(tvm_migrate(&f->d), 0);
        assert_int_equal(tvm_results_migrate(&f->d), 0);
        sql(&f->d, affected_ddl);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        bus_free(f->d.bus);
        db_close(f->d.db);
        free(f);
        return 0;
}

static void device_add(struct vigild *d, const char *id, const char *os_name, const char *release)
{
        char s[512];

        snprintf(s, sizeof(s), "INSERT INTO devices (id, os_name, os_version, enrolled_at, enroll_token_id, "
                               "cert_serial, cert_fingerprint, cert_not_after, inventory_at) VALUES "
                               "('%s', '%s', '%s', 1, 't', 's', 'f', 2, 1)", id, os_name, release);
        sql(d, s);
}

static void package_add(struct vigild *d, const char *id, const char *name, const char *version, const char *source,
                        const char *source_version)
{
        char s[512];

        snprintf(s, sizeof(s), "INSERT INTO device_software VALUES ('%s', '%s', '%s', 'amd64', '%s', '%s')", id, name,
                 version, source, source_version);
        sql(d, s);
}

/* An advisory row: feed, id, cve, distro, release, source, introduced, fixed (NULL), status, severity,
 * urgency, cvss (NULL), exploit. */
static void row_add(struct vigild *d, const char *values)
{
        char s[1024];

        snprintf(s, sizeof(s), "INSERT INTO tvm_affected (feed, advisory_id, cve, distro, release, source_package, "
                               "introduced, fixed, status, severity, urgency, cvss, exploit_known) VALUES (%s)", values);
        sql(d, s);
}

/* The device's stored vulnerabilities as "package cve fixed" lines, sorted. */
static void vulns_read(struct vigild *d, const char *id, char *out, size_t size)
{
        struct db_stmt *st;
        size_t len = 0;

        out[0] = '\0';
        db_lock(d->db);
        assert_int_equal(db_prepare(d->db, "SELECT package, cve, coalesce(fixed_version, '-') FROM tvm_device_vulns "
                                           "WHERE device_id = $1 ORDER BY package, cve", &st), 0);
        db_bind_text(st, 1, id, strlen(id));
        while (db_step(st) == 1)
                len += (size_t)snprintf(out + len, size - len, "%s %s %s;", db_column_text(st, 0, NULL),
                                        db_column_text(st, 1, NULL), db_column_text(st, 2, NULL));
        db_stmt_done(st);
        db_unlock(d->db);
}

static void level_read(struct vigild *d, const char *id, char *out, size_t size)
{
        struct db_stmt *st;

        snprintf(out, size, "-");
        db_lock(d->db);
        assert_int_equal(db_prepare(d->db, "SELECT level FROM tvm_device_exposure WHERE device_id = $1", &st), 0);
        db_bind_text(st, 1, id, strlen(id));
        if (db_step(st) == 1)
                snprintf(out, size, "%s", db_column_text(st, 0, NULL));
        db_stmt_done(st);
        db_unlock(d->db);
}

static void expect_vulns(struct vigild *d, const char *id, const char *want)
{
        char got[4096];

        vulns_read(d, id, got, sizeof(got));
        if (strcmp(got, want) != 0)
                fail_msg("device %s: got '%s', want '%s'", id, got, want);
}

static void test_epochs(void **state)
{
        struct fixture *f = *state;
        struct vigild *d = &f->d;

        device_add(d, "dev-a", "Debian GNU/Linux", "12");
        device_add(d, "dev-b", "Debian GNU/Linux", "12");
        package_add(d, "dev-a", "tool", "2.5-1", "", "");
        package_add(d, "dev-b", "tool", "1:2.0-1", "", "");
        /* 2.5-1 has epoch 0, so it is older than 1:2.0-1 whatever its digits say */
        row_add(d, "'osv', 'DSA-1-1', 'CVE-2024-0001', 'debian', '12', 'tool', '0', '1:2.0-1', 'fixed', 'high', '', NULL, 0");
        /* introduced later than both: no match */
        row_add(d, "'osv', 'DSA-2-1', 'CVE-2024-0002', 'debian', '12', 'tool', '1:3.0', '1:3.1', 'fixed', 'high', '', NULL, 0");
        assert_int_equal(tvm_results_recompute(d, NULL, &defaults, NULL), 0);
        expect_vulns(d, "dev-a", "tool CVE-2024-0001 1:2.0-1;");
        expect_vulns(d, "dev-b", "");
}

static void test_binary_and_source(void **state)
{
        struct fixture *f = *state;
        struct vigild *d = &f->d;

        device_add(d, "dev-a", "Debian GNU/Linux", "12");
        /* two binaries of openssl; one named package whose source is itself */
        package_add(d, "dev-a", "libssl3", "3.0.11-1~deb12u2", "openssl", "3.0.11-1~deb12u2");
        package_add(d, "dev-a", "openssl", "3.0.11-1~deb12u2", "", "");
        /* a binNMU: the binary's version is past the fix, its source's is not */
        package_add(d, "dev-a", "libfoo1", "1.2-3+b1", "foo", "1.2-3");
        /* an advisory naming a binary package name matches nothing */
        package_add(d, "dev-a", "libbar2", "1.0-1", "bar", "");
        row_add(d, "'osv', 'DSA-5801-1', 'CVE-2024-5535', 'debian', '12', 'openssl', '0', '3.0.15-1~deb12u1', 'fixed', "
                   "'medium', '', 5.9, 0");
        row_add(d, "'osv', 'DSA-9-1', 'CVE-2024-0009', 'debian', '12', 'foo', '0', '1.2-3+a1', 'fixed', 'low', '', NULL, 0");
        row_add(d, "'osv', 'DSA-10-1', 'CVE-2024-0010', 'debian', '12', 'libbar2', '0', '2.0-1', 'fixed', 'low', '', NULL, 0");
        assert_int_equal(tvm_results_recompute(d, "dev-a", &defaults, NULL), 0);
        expect_vulns(d, "dev-a", "libfoo1 CVE-2024-0009 1.2-3+a1;libssl3 CVE-2024-5535 3.0.15-1~deb12u1;"
                                 "openssl CVE-2024-5535 3.0.15-1~deb12u1;");
}

static void test_not_affected_open_undetermined(void **state)
{
        struct fixture *f = *state;
        struct vigild *d = &f->d;
        struct tvm_match_options none = { false, false }, all = { true, true };

        device_add(d, "dev-a", "Debian GNU/Linux", "12");
        package_add(d, "dev-a", "curl", "7.88.1-10+deb12u5", "", "");
        row_add(d, "'debian-tracker', 'CVE-2024-1000', 'CVE-2024-1000', 'debian', '12', 'curl', '0', '0', "
                   "'not_affected', 'unknown', '', NULL, 0");
        row_add(d, "'debian-tracker', 'CVE-2024-1001', 'CVE-2024-1001', 'debian', '12', 'curl', '0', NULL, 'open', "
                   "'unknown', 'low', NULL, 0");
        row_add(d, "'debian-tracker', 'CVE-2024-1002', 'CVE-2024-1002', 'debian', '12', 'curl', '0', NULL, "
                   "'undetermined', 'unknown', '', NULL, 0");
        assert_int_equal(tvm_results_recompute(d, "dev-a", &defaults, NULL), 0);
        expect_vulns(d, "dev-a", "curl CVE-2024-1001 -;");
        assert_int_equal(tvm_results_recompute(d, "dev-a", &none, NULL), 0);
        expect_vulns(d, "dev-a", "");
        assert_int_equal(tvm_results_recompute(d, "dev-a", &all, NULL), 0);
        expect_vulns(d, "dev-a", "curl CVE-2024-1001 -;curl CVE-2024-1002 -;");
        /* an OSV range closed by last_affected: [introduced, last_affected] */
        sql(d, "INSERT INTO tvm_affected (feed, advisory_id, cve, distro, release, source_package, introduced, fixed, "
               "status, severity, urgency, last_affected) VALUES "
               "('osv', 'DEBIAN-CVE-2024-1003', 'CVE-2024-1003', 'debian', '12', 'curl', '0', NULL, 'open', 'low', '', "
               "'7.88.1-10+deb12u5'), "
               "('osv', 'DEBIAN-CVE-2024-1004', 'CVE-2024-1004', 'debian', '12', 'curl', '0', NULL, 'open', 'low', '', "
               "'7.88.1-10+deb12u4')");
        assert_int_equal(tvm_results_recompute(d, "dev-a", &defaults, NULL), 0);
        expect_vulns(d, "dev-a", "curl CVE-2024-1001 -;curl CVE-2024-1003 -;");
}

static void test_release_and_distro(void **state)
{
        struct fixture *f = *state;
        struct vigild *d = &f->d;
        char level[16];

        device_add(d, "dev-deb", "Debian GNU/Linux", "12");
        device_add(d, "dev-ubu", "Ubuntu", "22.04");
        device_add(d, "dev-fed", "Fedora Linux", "40");
        package_add(d, "dev-deb", "zlib1g", "1:1.2.13.dfsg-1", "zlib", "1:1.2.13.dfsg-1");
        package_add(d, "dev-ubu", "zlib1g", "1:1.2.13.dfsg-1", "zlib", "1:1.2.13.dfsg-1");
        package_add(d, "dev-fed", "zlib", "1.2.13", "", "");
        row_add(d, "'osv', 'DSA-20-1', 'CVE-2024-0020', 'debian', '11', 'zlib', '0', '1:1.2.13.dfsg-2', 'fixed', "
                   "'high', '', NULL, 0");
        row_add(d, "'debian-tracker', 'CVE-2024-0021', 'CVE-2024-0021', 'debian', '', 'zlib', '0', '1:1.2.13.dfsg-3', "
                   "'fixed', 'unknown', 'medium', NULL, 0");
        row_add(d, "'osv', 'UBUNTU-CVE-2024-0022', 'CVE-2024-0022', 'ubuntu', '22.04', 'zlib', '0', "
                   "'1:1.2.13.dfsg-1ubuntu1', 'fixed', 'critical', '', NULL, 0");
        assert_int_equal(tvm_results_recompute(d, NULL, &defaults, NULL), 0);
        expect_vulns(d, "dev-deb", "zlib1g CVE-2024-0021 1:1.2.13.dfsg-3;");
        expect_vulns(d, "dev-ubu", "zlib1g CVE-2024-0022 1:1.2.13.dfsg-1ubuntu1;");
        expect_vulns(d, "dev-fed", "");
        level_read(d, "dev-deb", level, sizeof(level));
        assert_string_equal(level, "low");
        level_read(d, "dev-ubu", level, sizeof(level));
        assert_string_equal(level, "high");
        level_read(d, "dev-fed", level, sizeof(level));
        assert_string_equal(level, "-");
        /* one recommendation per release: each names its own fixed version */
        {
                json_t *recs;

                db_lock(d->db);
                assert_int_equal(tvm_recommendations(d, "zlib", &recs), 0);
                db_unlock(d->db);
                assert_int_equal(json_array_size(recs), 2);
                assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 0), "text")),
                                    "upgrade zlib to 1:1.2.13.dfsg-1ubuntu1 or later (Ubuntu 22.04) — affects 1 device, "
                                    "fixes 1 CVE (1 high)");
                assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 1), "fixed_version")),
                                    "1:1.2.13.dfsg-3");
                json_decref(recs);
        }
}

static void test_rows_of_one_cve(void **state)
{
        struct fixture *f = *state;
        struct vigild *d = &f->d;
        char s[4096];

        device_add(d, "dev-a", "Debian GNU/Linux", "12");
        package_add(d, "dev-a", "libxml2", "2.9.14+dfsg-1.3~deb12u1", "", "");
        /* the same CVE from both feeds, and a second range of one advisory */
        row_add(d, "'osv', 'DSA-30-1', 'CVE-2024-0030', 'debian', '12', 'libxml2', '0', '2.9.14+dfsg-1.3~deb12u2', "
                   "'fixed', 'unknown', '', 7.5, 0");
        row_add(d, "'debian-tracker', 'CVE-2024-0030', 'CVE-2024-0030', 'debian', '12', 'libxml2', '0', "
                   "'2.9.14+dfsg-1.3~deb12u3', 'fixed', 'unknown', 'low', NULL, 1");
        row_add(d, "'osv', 'DSA-31-1', 'CVE-2024-0031', 'debian', '12', 'libxml2', '2.9.14+dfsg-1.3~deb12u2', "
                   "'2.9.14+dfsg-1.3~deb12u4', 'fixed', 'low', '', NULL, 0");
        row_add(d, "'osv', 'DSA-31-1', 'CVE-2024-0031', 'debian', '12', 'libxml2', '0', '2.9.14+dfsg-1.3~deb12u1', "
                   "'fixed', 'low', '', NULL, 0");
        assert_int_equal(tvm_results_recompute(d, "dev-a", &defaults, NULL), 0);
        expect_vulns(d, "dev-a", "libxml2 CVE-2024-0030 2.9.14+dfsg-1.3~deb12u3;");
        vulns_read(d, "dev-a", s, sizeof(s));
        level_read(d, "dev-a", s, sizeof(s));
        assert_string_equal(s, "high");         /* an exploit is known */
}

static struct tvm_vuln vuln(const char *cve, enum tvm_severity sev, double cvss, const char *urgency, bool exploit)
{
        return (struct tvm_vuln){ .cve = cve, .package = "p", .source = "p", .installed = "1", .advisory_id = cve,
                                  .urgency = urgency, .severity = sev, .cvss = cvss, .exploit_known = exploit };
}

static void test_exposure_formula(void **state)
{
        struct tvm_vuln v[12] = { 0 };
        enum tvm_exposure e;
        char cve[12][16];

        assert_int_equal(tvm_exposure_compute(v, 0, &e), 0);
        assert_int_equal(e, TVM_EXPOSURE_NONE);
        v[0] = vuln("CVE-1", TVM_SEVERITY_LOW, -1, "", false);
        assert_int_equal(tvm_exposure_compute(v, 1, &e), 0);
        assert_int_equal(e, TVM_EXPOSURE_LOW);
        v[1] = vuln("CVE-2", TVM_SEVERITY_UNKNOWN, 7.0, "", false);       /* high by CVSS */
        assert_int_equal(tvm_exposure_compute(v, 2, &e), 0);
        assert_int_equal(e, TVM_EXPOSURE_MEDIUM);
        v[1] = vuln("CVE-2", TVM_SEVERITY_UNKNOWN, -1, "unimportant", false);
        assert_int_equal(tvm_exposure_compute(v, 2, &e), 0);
        assert_int_equal(e, TVM_EXPOSURE_LOW);
        v[1] = vuln("CVE-2", TVM_SEVERITY_UNKNOWN, -1, "high**", false);      /* the tracker's not yet final */
        assert_int_equal(tvm_vuln_severity(&v[1]), TVM_SEVERITY_HIGH);
        v[1] = vuln("CVE-2", TVM_SEVERITY_UNKNOWN, -1, "not yet assigned", false);
        assert_int_equal(tvm_vuln_severity(&v[1]), TVM_SEVERITY_MEDIUM);
        v[1] = vuln("CVE-2", TVM_SEVERITY_UNKNOWN, 9.8, "", false);       /* critical by CVSS */
        assert_int_equal(tvm_exposure_compute(v, 2, &e), 0);
        assert_int_equal(e, TVM_EXPOSURE_HIGH);
        v[1] = vuln("CVE-2", TVM_SEVERITY_LOW, -1, "", true);
        assert_int_equal(tvm_exposure_compute(v, 2, &e), 0);
        assert_int_equal(e, TVM_EXPOSURE_HIGH);
        /* ten medium CVEs make medium; the same CVE on ten packages is one */
        for (int i = 0; i < 10; i++) {
                snprintf(cve[i], sizeof(cve[i]), "CVE-M%d", i);
                v[i] = vuln(cve[i], TVM_SEVERITY_MEDIUM, -1, "", false);
        }
        assert_int_equal(tvm_exposure_compute(v, 10, &e), 0);
        assert_int_equal(e, TVM_EXPOSURE_MEDIUM);
        for (int i = 0; i < 10; i++)
                v[i] = vuln("CVE-M0", TVM_SEVERITY_MEDIUM, -1, "", false);
        assert_int_equal(tvm_exposure_compute(v, 10, &e), 0);
        assert_int_equal(e, TVM_EXPOSURE_LOW);
        for (int i = 0; i < 10; i++)
                v[i] = vuln(cve[i], TVM_SEVERITY_HIGH, -1, "", false);
        assert_int_equal(tvm_exposure_compute(v, 10, &e), 0);
        assert_int_equal(e, TVM_EXPOSURE_HIGH);
        assert_int_equal(tvm_exposure_compute(v, 9, &e), 0);
        assert_int_equal(e, TVM_EXPOSURE_MEDIUM);
}

static void test_store_and_publish(void **state)
{
        struct fixture *f = *state;
        struct vigild *d = &f->d;

        device_add(d, "dev-aaaa", "Debian GNU/Linux", "12");
        package_add(d, "dev-aaaa", "sudo", "1.9.13p3-1+deb12u1", "", "");
        assert_int_equal(tvm_results_recompute(d, NULL, &defaults, NULL), 0);
        assert_int_equal(f->n_events, 1);
        assert_string_equal(f->events[0], "dev-aaaa ->none");
        row_add(d, "'osv', 'DSA-40-1', 'CVE-2024-0040', 'debian', '12', 'sudo', '0', '1.9.13p3-1+deb12u2', 'fixed', "
                   "'high', '', NULL, 0");
        assert_int_equal(tvm_results_recompute(d, NULL, &defaults, NULL), 0);
        assert_int_equal(f->n_events, 2);
        assert_string_equal(f->events[1], "dev-aaaa none>medium");
        /* nothing changed: nothing published, nothing rewritten */
        assert_int_equal(tvm_results_recompute(d, "dev-aaaa", &defaults, NULL), 0);
        assert_int_equal(f->n_events, 2);
        /* the feed moves the fix and lowers the severity: the row is rewritten */
        sql(d, "UPDATE tvm_affected SET fixed = '1.9.13p3-1+deb12u3', severity = 'medium' WHERE cve = 'CVE-2024-0040'");
        assert_int_equal(tvm_results_recompute(d, NULL, &defaults, NULL), 0);
        expect_vulns(d, "dev-aaaa", "sudo CVE-2024-0040 1.9.13p3-1+deb12u3;");
        assert_int_equal(f->n_events, 3);
        assert_string_equal(f->events[2], "dev-aaaa medium>low");
        /* an upgrade that is not enough: the installed version is rewritten, the level stays */
        sql(d, "UPDATE device_software SET version = '1.9.13p3-1+deb12u2' WHERE device_id = 'dev-aaaa'");
        assert_int_equal(tvm_results_recompute(d, "dev-aaaa", &defaults, NULL), 0);
        assert_int_equal(f->n_events, 3);
        db_lock(d->db);
        {
                struct db_stmt *st;

                assert_int_equal(db_prepare(d->db, "SELECT installed_version FROM tvm_device_vulns", &st), 0);
                assert_int_equal(db_step(st), 1);
                assert_string_equal(db_column_text(st, 0, NULL), "1.9.13p3-1+deb12u2");
                db_stmt_done(st);
        }
        db_unlock(d->db);
        /* the upgrade arrives with the next inventory */
        sql(d, "UPDATE device_software SET version = '1.9.13p3-1+deb12u3' WHERE device_id = 'dev-aaaa'");
        assert_int_equal(tvm_results_recompute(d, "dev-aaaa", &defaults, NULL), 0);
        assert_int_equal(f->n_events, 4);
        assert_string_equal(f->events[3], "dev-aaaa low>none");
        expect_vulns(d, "dev-aaaa", "");
        /* offboarded: its results go */
        sql(d, "UPDATE devices SET offboarded_at = 5 WHERE id = 'dev-aaaa'");
        assert_int_equal(tvm_results_recompute(d, NULL, &defaults, NULL), 0);
        assert_int_equal(f->n_events, 5);
        assert_string_equal(f->events[4], "dev-aaaa none>-");
}

static void test_recommendations(void **state)
{
        struct fixture *f = *state;
        struct vigild *d = &f->d;
        json_t *recs, *r0, *r1;

        /* none yet */
        db_lock(d->db);
        assert_int_equal(tvm_recommendations(d, NULL, &recs), 0);
        db_unlock(d->db);
        assert_int_equal(json_array_size(recs), 0);
        json_decref(recs);
        for (int i = 0; i < 3; i++) {
                char id[16];

                snprintf(id, sizeof(id), "dev-%d", i);
                device_add(d, id, "Debian GNU/Linux", "12");
                package_add(d, id, "libssl3", "3.0.11-1~deb12u2", "openssl", "");
                package_add(d, id, "openssl", "3.0.11-1~deb12u2", "", "");
                if (i == 0)
                        package_add(d, id, "bash", "5.2.15-2", "", "");
        }
        row_add(d, "'osv', 'DSA-1', 'CVE-2024-0101', 'debian', '12', 'openssl', '0', '3.0.13-1~deb12u1', 'fixed', "
                   "'high', '', NULL, 0");
        row_add(d, "'osv', 'DSA-2', 'CVE-2024-0102', 'debian', '12', 'openssl', '0', '3.0.15-1~deb12u1', 'fixed', "
                   "'low', '', NULL, 0");
        row_add(d, "'debian-tracker', 'CVE-2024-0103', 'CVE-2024-0103', 'debian', '12', 'openssl', '0', NULL, 'open', "
                   "'unknown', 'low', NULL, 0");
        row_add(d, "'osv', 'DSA-3', 'CVE-2024-0201', 'debian', '12', 'bash', '0', NULL, 'open', 'critical', '', NULL, 0");
        assert_int_equal(tvm_results_recompute(d, NULL, &defaults, NULL), 0);
        db_lock(d->db);
        assert_int_equal(tvm_recommendations(d, NULL, &recs), 0);
        db_unlock(d->db);
        assert_int_equal(json_array_size(recs), 2);
        r0 = json_array_get(recs, 0);
        r1 = json_array_get(recs, 1);
        assert_string_equal(json_string_value(json_object_get(r0, "text")),
                            "upgrade openssl to 3.0.15-1~deb12u1 or later (Debian 12) — affects 3 devices, fixes 2 CVEs (1 high)");
        assert_int_equal(json_integer_value(json_object_get(r0, "open_cves")), 1);
        assert_int_equal(json_integer_value(json_object_get(r0, "impact")), 3 * (5 + 1));
        assert_string_equal(json_string_value(json_object_get(r1, "text")),
                            "no fix yet for bash (Debian 12) — affects 1 device, 1 CVE open");
        assert_true(json_is_null(json_object_get(r1, "fixed_version")));
        json_decref(recs);
}

static int64_t count_of(struct vigild *d, const char *query)
{
        struct db_stmt *st;
        int64_t n;

        db_lock(d->db);
        assert_int_equal(db_prepare(d->db, query, &st), 0);
        assert_int_equal(db_step(st), 1);
        n = db_column_int64(st, 0);
        db_stmt_done(st);
        db_unlock(d->db);
        return n;
}

/* bash's CVE-2024-0001 (high) on Debian 12, fixed in 5.2.15-3. */
static void bash_advisory_add(struct vigild *d)
{
        row_add(d, "'osv', 'DSA-1', 'CVE-2024-0001', 'debian', '12', 'bash', '0', '5.2.15-3', 'fixed', 'high', '', "
                   "NULL, 0");
}

/* n Debian 12 devices "dev-I" (I on width digits) with bash 5.2.15-2, bash's
 * CVE-2024-0001, and a trigger (poison) refusing the results of device
 * poisoned, as a broken row would. */
static void bash_fleet_poisoned(struct vigild *d, int n, int width, const char *poisoned)
{
        char id[16], s[256];

        for (int i = 0; i < n; i++) {
                snprintf(id, sizeof(id), "dev-%0*d", width, i);
                device_add(d, id, "Debian GNU/Linux", "12");
                package_add(d, id, "bash", "5.2.15-2", "", "");
        }
        bash_advisory_add(d);
        snprintf(s, sizeof(s), "CREATE TRIGGER poison BEFORE INSERT ON tvm_device_exposure WHEN NEW.device_id = '%s' "
                 "BEGIN SELECT RAISE(ABORT, 'poisoned'); END", poisoned);
        sql(d, s);
}

/* A device whose results cannot be stored (a trigger refuses them, as a
 * broken row would) holds back no other: a recompute of every device
 * stores the others', also those of its batch, and fails with its error. */
static void test_one_device_failing(void **state)
{
        struct fixture *f = *state;
        struct vigild *d = &f->d;
        char id[16], level[16];

        bash_fleet_poisoned(d, 40, 2, "dev-03");
        assert_true(tvm_results_recompute(d, NULL, &defaults, NULL) < 0);
        for (int i = 0; i < 40; i++) {
                snprintf(id, sizeof(id), "dev-%02d", i);
                level_read(d, id, level, sizeof(level));
                if (strcmp(level, i == 3 ? "-" : "medium") != 0)
                        fail_msg("device %s: level %s", id, level);
        }
        assert_int_equal(count_of(d, "SELECT count(*) FROM tvm_device_vulns WHERE device_id = 'dev-03'"), 0);
        sql(d, "DROP TRIGGER poison");
        assert_int_equal(tvm_results_recompute(d, "dev-03", &defaults, NULL), 0);
        expect_vulns(d, "dev-03", "bash CVE-2024-0001 5.2.15-3;");
}

#define DEVICES 8000

static void *stopper(void *arg)
{
        tvm_results_stop(arg);
        return NULL;
}

/* vigild stopping while the worker recomputes every device: the worker
 * lets go between two batches instead of finishing the fleet first. */
static void test_stop_midway(void **state)
{
        struct fixture *f = *state;
        struct vigild *d = &f->d;
        struct enroll enroll = { 0 };
        char err[256];
        pthread_t t;
        int64_t n;

        d->enroll = &enroll;
        d->cfg.tvm_count_open = true;
        sql(d, "INSERT INTO devices (id, os_name, os_version, enrolled_at, enroll_token_id, cert_serial, "
               "cert_fingerprint, cert_not_after, inventory_at) WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL "
               "SELECT i + 1 FROM n WHERE i < 7999) SELECT printf('dev-%04d', i), 'Debian GNU/Linux', '12', 1, 't', "
               "'s' || i, 'f' || i, 2, 1 FROM n");
        sql(d, "INSERT INTO device_software SELECT id, 'bash', '5.2.15-2', 'amd64', '', '' FROM devices");
        bash_advisory_add(d);
        assert_int_equal(tvm_results_start(d, err, sizeof(err)), 0);
        /* the stop is asked once the worker has stored its first devices */
        while (count_of(d, "SELECT count(*) FROM tvm_device_exposure") == 0)
                usleep(100);
        assert_int_equal(pthread_create(&t, NULL, stopper, d), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        tvm_results_close(d);
        n = count_of(d, "SELECT count(*) FROM tvm_device_exposure");
        if (n == DEVICES)
                fail_msg("every device was recomputed after the stop was asked");
        d->enroll = NULL;
}

/* The database busy (another connection holds its write lock): a recompute
 * fails with -EBUSY after one wait, instead of waiting again for each device
 * of the batch. */
static void test_database_busy(void **state)
{
        struct fixture *f = *state;
        struct vigild *d = &f->d;
        char path[] = "/tmp/test-tvm-results-XXXXXX", file[64];
        struct db *other;
        int64_t t0;
        int fd = mkstemp(path);

        assert_true(fd >= 0);
        close(fd);
        unlink(path);
        snprintf(file, sizeof(file), "%s.db", path);
        db_close(d->db);
        assert_int_equal(db_open(file, &d->db), 0);
        assert_int_equal(devices_migrate(d), 0);
        assert_int_equal(tvm_migrate(d), 0);
        assert_int_equal(tvm_results_migrate(d), 0);
        sql(d, affected_ddl);
        device_add(d, "dev-a", "Debian GNU/Linux", "12");
        device_add(d, "dev-b", "Debian GNU/Linux", "12");
        assert_int_equal(db_open(file, &other), 0);
        db_lock(other);
        assert_int_equal(db_begin(other), 0);
        t0 = util_mono_ms();
        assert_int_equal(tvm_results_recompute(d, NULL, &defaults, NULL), -EBUSY);
        if (util_mono_ms() - t0 > 9000)
                fail_msg("the busy database was waited for %lld ms", (long long)(util_mono_ms() - t0));
        assert_int_equal(db_finish(other, 0), 0);
        db_unlock(other);
        db_close(other);
        assert_int_equal(tvm_results_recompute(d, NULL, &defaults, NULL), 0);
        unlink(file);
}

/* level_wait ID LEVEL: within seconds, the device's stored level is LEVEL. */
static bool level_wait(struct vigild *d, const char *id, const char *want, int seconds)
{
        char level[16];

        for (int i = 0; i < seconds * 100; i++) {
                level_read(d, id, level, sizeof(level));
                if (strcmp(level, want) == 0)
                        return true;
                usleep(10 * 1000);
        }
        return false;
}

/* The worker: a device that fails is tried again on its own a few seconds
 * later, once what made it fail is gone, while the others are done. */
static void test_worker_retries(void **state)
{
        struct fixture *f = *state;
        struct vigild *d = &f->d;
        struct enroll enroll = { 0 };
        char err[256];

        d->enroll = &enroll;
        d->cfg.tvm_count_open = true;
        bash_fleet_poisoned(d, 3, 1, "dev-1");
        assert_int_equal(tvm_results_start(d, err, sizeof(err)), 0);
        assert_true(level_wait(d, "dev-0", "medium", 5));
        assert_true(level_wait(d, "dev-2", "medium", 5));
        level_read(d, "dev-1", err, sizeof(err));
        assert_string_equal(err, "-");
        sql(d, "DROP TRIGGER poison");
        assert_true(level_wait(d, "dev-1", "medium", 10));
        tvm_results_close(d);
        d->enroll = NULL;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_epochs, setup, teardown),
                cmocka_unit_test_setup_teardown(test_binary_and_source, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_affected_open_undetermined, setup, teardown),
                cmocka_unit_test_setup_teardown(test_release_and_distro, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rows_of_one_cve, setup, teardown),
                cmocka_unit_test(test_exposure_formula),
                cmocka_unit_test_setup_teardown(test_store_and_publish, setup, teardown),
                cmocka_unit_test_setup_teardown(test_recommendations, setup, teardown),
                cmocka_unit_test_setup_teardown(test_one_device_failing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stop_midway, setup, teardown),
                cmocka_unit_test_setup_teardown(test_database_busy, setup, teardown),
                cmocka_unit_test_setup_teardown(test_worker_retries, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
