/* Unit tests of the advisory feed parsers on public samples: the OSV
 * records of Debian, Freexian ELA and Ubuntu (osv-debian-like), two Debian
 * security tracker JSON documents (debian-security-tracker-json) and, as
 * documents that are neither, a trivy and a grype record, which must be
 * refused. The samples folder comes from VIGIL_VULN_CORPUS; the test is
 * skipped (77) when it is absent. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "server/tvm/feeds.h"
#include "util/strutil.h"

static const char *corpus;

static struct tvm_feed *load(const char *rel, enum tvm_feed_kind kind)
{
        struct tvm_feed *f = NULL;
        char path[4200], err[512] = "";

        util_path_join(path, sizeof(path), corpus, rel);
        if (tvm_feed_load_path(path, kind, &f, err, sizeof(err)) != 0)
                fail_msg("refused %s: %s", path, err);
        return f;
}

/* The one row of (advisory, release), or a failure. */
static const struct tvm_row *row_of(const struct tvm_feed *f, const char *advisory, const char *cve,
                                    const char *release)
{
        const struct tvm_row *found = NULL;

        for (size_t i = 0; i < f->n_rows; i++) {
                const struct tvm_row *w = &f->rows[i];
                if (strcmp(w->advisory_id, advisory) != 0 || strcmp(w->cve, cve) != 0 || strcmp(w->release, release) != 0)
                        continue;
                if (found)
                        fail_msg("two rows for %s %s %s", advisory, cve, release);
                found = w;
        }
        if (!found)
                fail_msg("no row for %s %s %s", advisory, cve, release);
        return found;
}

static void assert_cvss(const struct tvm_row *w, double score)
{
        assert_true(w->has_cvss);
        if (w->cvss < score - 0.001 || w->cvss > score + 0.001)
                fail_msg("%s: cvss %.1f, not %.1f", w->advisory_id, w->cvss, score);
}

static void test_osv_folder(void **state)
{
        struct tvm_feed *f = load("osv-debian-like", TVM_FEED_AUTO);
        const struct tvm_row *w;

        assert_int_equal(f->kind, TVM_FEED_OSV);
        assert_int_equal(f->records, 5);
        assert_int_equal(f->skipped, 0);
        assert_int_equal(f->n_rows, 8);
        /* DEBIAN-CVE-*: the CVE from "upstream"; open in 12, fixed in 13 */
        w = row_of(f, "DEBIAN-CVE-2016-1585", "CVE-2016-1585", "12");
        assert_string_equal(w->status, "open");
        assert_null(w->fixed);
        assert_string_equal(w->urgency, "unimportant");
        assert_string_equal(w->severity, "critical");
        assert_cvss(w, 9.8);
        w = row_of(f, "DEBIAN-CVE-2016-1585", "CVE-2016-1585", "13");
        assert_string_equal(w->fixed, "3.0.12-1");
        assert_string_equal(w->status, "fixed");
        w = row_of(f, "DEBIAN-CVE-2017-6507", "CVE-2017-6507", "12");
        assert_cvss(w, 5.9);
        assert_string_equal(w->severity, "medium");
        assert_string_equal(w->urgency, "not yet assigned");
        /* DSA: the CVE from "aliases", Debian 7 */
        w = row_of(f, "DSA-3029-1", "CVE-2014-3616", "7");
        assert_string_equal(w->source_package, "nginx");
        assert_string_equal(w->fixed, "1.2.1-2.2+wheezy3");
        assert_string_equal(w->summary, "nginx - security update");
        assert_string_equal(w->severity, "unknown");
        assert_false(w->has_cvss);
        /* ELA: a lone range written as an object; no CVE alias, so the id */
        w = row_of(f, "ELA-1000-1", "ELA-1000-1", "9");
        assert_string_equal(w->fixed, "10.2.11-2+deb9u2");
        assert_string_equal(row_of(f, "ELA-1000-1", "ELA-1000-1", "8")->fixed, "0.80.7-2+deb8u6");
        /* Ubuntu: the id is the CVE, the priority is the urgency */
        w = row_of(f, "CVE-2010-5298", "CVE-2010-5298", "14.04");
        assert_string_equal(w->distro, "ubuntu");
        assert_string_equal(w->source_package, "openssl");
        assert_string_equal(w->fixed, "1.0.1f-1ubuntu2.1");
        assert_string_equal(w->urgency, "low");
        assert_string_equal(w->severity, "low");
        assert_string_equal(w->modified, "2014-04-14T00:00:00Z");
        tvm_feed_free(f);
}

static void test_tracker_mock(void **state)
{
        struct tvm_feed *f = load("debian-security-tracker-json/osv.dev-debian_security_tracker_mock.json",
                                  TVM_FEED_AUTO);
        const struct tvm_row *w;

        assert_int_equal(f->kind, TVM_FEED_DEBIAN_TRACKER);
        assert_int_equal(f->records, 4);
        assert_int_equal(f->n_rows, 20);
        w = row_of(f, "CVE-2018-1000500", "CVE-2018-1000500", "10");
        assert_string_equal(w->source_package, "busybox");
        assert_string_equal(w->status, "open");
        assert_string_equal(w->urgency, "end-of-life");
        assert_null(w->fixed);
        w = row_of(f, "CVE-2014-1424", "CVE-2014-1424", "12");
        assert_string_equal(w->status, "not_affected");
        assert_null(w->fixed);
        assert_string_equal(row_of(f, "CVE-2016-1585", "CVE-2016-1585", "12")->status, "open");
        assert_string_equal(row_of(f, "CVE-2016-1585", "CVE-2016-1585", "sid")->fixed, "3.0.12-1");
        assert_string_equal(row_of(f, "CVE-2016-1585", "CVE-2016-1585", "13")->fixed, "3.0.12-1");
        w = row_of(f, "CVE-2017-6507", "CVE-2017-6507", "11");
        assert_string_equal(w->fixed, "2.11.0-3");
        assert_string_equal(w->introduced, "0");
        tvm_feed_free(f);
}

static void test_tracker_vunnel(void **state)
{
        struct tvm_feed *f = load("debian-security-tracker-json/vunnel-fixture-debian.json", TVM_FEED_DEBIAN_TRACKER);
        const struct tvm_row *w;

        assert_int_equal(f->records, 7);
        assert_int_equal(f->n_rows, 25);
        assert_int_equal(f->skipped, 0);
        w = row_of(f, "CVE-2022-0456", "CVE-2022-0456", "11");
        assert_string_equal(w->fixed, "98.0.4758.80-1~deb11u1");
        assert_string_equal(row_of(f, "CVE-2022-0456", "CVE-2022-0456", "9")->status, "open");
        w = row_of(f, "CVE-2007-2383", "CVE-2007-2383", "8");
        assert_string_equal(w->status, "not_affected");
        w = row_of(f, "CVE-2008-7220", "CVE-2008-7220", "sid");
        assert_string_equal(w->urgency, "high**");
        assert_string_equal(w->severity, "high");
        assert_string_equal(row_of(f, "CVE-2025-53603", "CVE-2025-53603", "12")->fixed, "5.8.0-1+deb12u1");
        assert_string_equal(row_of(f, "CVE-2022-0456", "CVE-2022-0456", "12")->summary, "");
        tvm_feed_free(f);
}

/* Other formats are refused with a reason, not read as something else. */
static void test_other_formats(void **state)
{
        static const char *const files[] = { "trivy-vuln-list-debian/CVE-2021-33560.json",
                                             "vunnel/grype-normalized-debian12-cve-2022-0456.json",
                                             "osv-schema/schema.json" };
        char path[4200], err[512];

        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                struct tvm_feed *f = NULL;
                err[0] = '\0';
                util_path_join(path, sizeof(path), corpus, files[i]);
                if (tvm_feed_load_path(path, TVM_FEED_AUTO, &f, err, sizeof(err)) != -EINVAL)
                        fail_msg("%s was not refused", files[i]);
                if (!strstr(err, path))
                        fail_msg("'%s' does not name the file", err);
        }
        /* a folder is never the tracker's */
        util_path_join(path, sizeof(path), corpus, "osv-debian-like");
        {
                struct tvm_feed *f = NULL;
                assert_int_equal(tvm_feed_load_path(path, TVM_FEED_DEBIAN_TRACKER, &f, err, sizeof(err)), -EINVAL);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_osv_folder),
                cmocka_unit_test(test_tracker_mock),
                cmocka_unit_test(test_tracker_vunnel),
                cmocka_unit_test(test_other_formats),
        };
        struct stat st;

        corpus = getenv("VIGIL_VULN_CORPUS");
        if (!corpus || stat(corpus, &st) < 0 || !S_ISDIR(st.st_mode)) {
                printf("skipped: the public advisory samples (VIGIL_VULN_CORPUS, ../shared/corpus/vuln) are absent\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
