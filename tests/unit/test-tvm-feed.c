/* Unit tests of the advisory feeds (server/tvm/feed-*.c, import.c): the
 * CVSS 3.x base score on known vectors; OSV records and the Debian
 * tracker's JSON written here, valid (every status, range event and field
 * the rows take), malformed, oversized and of the wrong schema, each refusal
 * naming the record and the reason; a zip of records; the import into a
 * database, replacing one feed and origin only, and a failed import that
 * changes nothing. The public samples are read by test-tvm-feed-corpus.c. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "server/bus.h"
#include "server/db/db.h"
#include "server/tvm/feeds.h"
#include "server/vigild.h"
#include "util/strutil.h"

static void test_cvss(void **state)
{
        static const struct {
                const char *vector;
                double score;
        } known[] = {
                { "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8 },
                { "CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:N", 5.9 },
                { "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0 },
                { "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8 },
                { "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1 },
                { "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 6.4 },
                { "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5 },
                { "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", 5.3 },
                { "CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 8.8 },
                { "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H", 7.2 },
                { "CVSS:3.1/AV:L/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.1 },
                { "CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N", 0.0 },
                { "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C", 9.8 },
                { "CVSS:3.1/S:U/AV:N/AC:L/PR:N/UI:N/C:H/I:H/A:H", 9.8 },
        };
        static const char *const bad[] = {
                "", "CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/AV:N", "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/", "CVSS:3.1/AV:NN/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:X", "CVSS:3.1//AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        };
        double s;

        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
                if (tvm_cvss3_base_score(known[i].vector, &s) != 0)
                        fail_msg("refused %s", known[i].vector);
                if (s < known[i].score - 0.001 || s > known[i].score + 0.001)
                        fail_msg("%s: %.1f, not %.1f", known[i].vector, s, known[i].score);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (tvm_cvss3_base_score(bad[i], &s) != -EINVAL)
                        fail_msg("accepted '%s'", bad[i]);
        assert_string_equal(tvm_cvss_severity(9.8), "critical");
        assert_string_equal(tvm_cvss_severity(7.0), "high");
        assert_string_equal(tvm_cvss_severity(6.9), "medium");
        assert_string_equal(tvm_cvss_severity(3.9), "low");
}

static struct tvm_feed *parse_ok(const char *doc, enum tvm_feed_kind kind)
{
        struct tvm_feed *f = NULL;
        char err[512] = "";

        if (tvm_feed_parse(doc, strlen(doc), kind, &f, err, sizeof(err)) != 0)
                fail_msg("refused: %s\n%s", err, doc);
        return f;
}

/* Expects doc refused with r, and every piece of want in the message. */
static void parse_refused(const char *doc, size_t len, enum tvm_feed_kind kind, int r, const char *want1,
                          const char *want2)
{
        struct tvm_feed *f = NULL;
        char err[512] = "";
        int got = tvm_feed_parse(doc, len, kind, &f, err, sizeof(err));

        if (got != r)
                fail_msg("got %d (%s), not %d, for:\n%.300s", got, err, r, doc);
        assert_null(f);
        if ((want1 && !strstr(err, want1)) || (want2 && !strstr(err, want2)))
                fail_msg("'%s' lacks '%s' / '%s'", err, want1, want2 ? want2 : "");
        /* one log line, a valid JSON string: printable ASCII whatever the feed quoted */
        for (size_t i = 0; err[i]; i++)
                if ((unsigned char)err[i] < 0x20 || (unsigned char)err[i] > 0x7e)
                        fail_msg("byte 0x%02x at %zu of the message '%s'", (unsigned char)err[i], i, err);
}

static const struct tvm_row *row_find(const struct tvm_feed *f, const char *cve, const char *release,
                                      const char *introduced)
{
        for (size_t i = 0; i < f->n_rows; i++)
                if (strcmp(f->rows[i].cve, cve) == 0 && strcmp(f->rows[i].release, release) == 0 &&
                    strcmp(f->rows[i].introduced, introduced) == 0)
                        return &f->rows[i];
        fail_msg("no row %s %s %s", cve, release, introduced);
        return NULL;
}

#define OSV_DSA \
        "{\"id\":\"DSA-9999-1\",\"modified\":\"2024-05-01T10:00:00.5Z\",\"summary\":\"openssl - security update\"," \
        "\"aliases\":[\"CVE-2024-0001\",\"CVE-2024-0002\",\"GHSA-xxxx\"]," \
        "\"severity\":[{\"type\":\"CVSS_V3\",\"score\":\"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\"}]," \
        "\"database_specific\":{\"known_exploited\":true}," \
        "\"affected\":[{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"openssl\"}," \
        "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"3.0.15-1~deb12u1\"}," \
        "{\"introduced\":\"3.1.0-1\"},{\"last_affected\":\"3.1.2-1\"},{\"introduced\":\"3.2.0-1\"}]}," \
        "{\"type\":\"GIT\",\"repo\":\"https://x\",\"events\":[{\"introduced\":\"abc\"}]}]," \
        "\"ecosystem_specific\":{\"urgency\":\"high**\"}}," \
        "{\"package\":{\"ecosystem\":\"PyPI\",\"name\":\"x\"},\"ranges\":[{\"type\":\"ECOSYSTEM\"," \
        "\"events\":[{\"introduced\":\"0\"}]}]}]}"

static void test_osv_valid(void **state)
{
        struct tvm_feed *f = parse_ok(OSV_DSA, TVM_FEED_AUTO);
        const struct tvm_row *w;

        assert_int_equal(f->kind, TVM_FEED_OSV);
        assert_int_equal(f->records, 1);
        assert_int_equal(f->skipped, 0);
        /* 3 intervals x 2 CVEs; the GIT range and the PyPI package give nothing */
        assert_int_equal(f->n_rows, 6);
        w = row_find(f, "CVE-2024-0002", "12", "0");
        assert_string_equal(w->advisory_id, "DSA-9999-1");
        assert_string_equal(w->distro, "debian");
        assert_string_equal(w->source_package, "openssl");
        assert_string_equal(w->fixed, "3.0.15-1~deb12u1");
        assert_string_equal(w->status, "fixed");
        assert_string_equal(w->severity, "critical");
        assert_string_equal(w->urgency, "high**");
        assert_true(w->has_cvss);
        assert_true(w->cvss > 9.79 && w->cvss < 9.81);
        assert_true(w->exploit_known);
        assert_string_equal(w->summary, "openssl - security update");
        assert_string_equal(w->modified, "2024-05-01T10:00:00.5Z");
        w = row_find(f, "CVE-2024-0001", "12", "3.1.0-1");
        assert_null(w->fixed);
        assert_string_equal(w->last_affected, "3.1.2-1");
        w = row_find(f, "CVE-2024-0001", "12", "3.2.0-1");
        assert_null(w->fixed);
        assert_null(w->last_affected);
        assert_string_equal(w->status, "open");
        tvm_feed_free(f);
}

static void test_osv_ubuntu_and_others(void **state)
{
        static const char ubuntu[] =
                "{\"id\":\"UBUNTU-CVE-2024-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"upstream\":[\"CVE-2024-1\"],"
                "\"details\":\"first line\\nsecond line\",\"severity\":[{\"type\":\"Ubuntu\",\"score\":\"medium\"}],"
                "\"affected\":[{\"package\":{\"ecosystem\":\"Ubuntu:Pro:18.04:LTS\",\"name\":\"curl\"},"
                "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"}]}],"
                "\"ecosystem_specific\":{\"ubuntu_priority\":\"medium\",\"kev\":{\"dateAdded\":\"2024-01-02\"}}},"
                "{\"package\":{\"ecosystem\":\"Ubuntu:24.10\",\"name\":\"curl\"},"
                "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"},{\"limit\":\"8.9-1\"}]}]},"
                "{\"package\":{\"ecosystem\":\"Ubuntu:Pro:FIPS-updates:22.04:LTS\",\"name\":\"curl\"},"
                "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"}]}]}]}";
        static const char npm[] =
                "{\"id\":\"GHSA-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"package\":"
                "{\"ecosystem\":\"npm\",\"name\":\"x\"},\"ranges\":[{\"type\":\"SEMVER\",\"events\":[{\"introduced\":\"0\"}]}]}]}";
        static const char withdrawn[] =
                "{\"id\":\"DSA-1-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"withdrawn\":\"2024-01-02T00:00:00Z\","
                "\"affected\":[{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"x\"},\"ranges\":[{\"type\":"
                "\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"}]}]}]}";
        struct tvm_feed *f = parse_ok(ubuntu, TVM_FEED_OSV);
        const struct tvm_row *w;

        assert_int_equal(f->n_rows, 2);
        w = row_find(f, "CVE-2024-1", "18.04", "0");
        assert_string_equal(w->distro, "ubuntu");
        assert_string_equal(w->status, "open");
        assert_string_equal(w->severity, "medium");
        assert_string_equal(w->urgency, "medium");
        assert_false(w->has_cvss);
        assert_true(w->exploit_known);
        assert_string_equal(w->summary, "first line");
        w = row_find(f, "CVE-2024-1", "24.10", "0");
        assert_string_equal(w->fixed, "8.9-1");
        assert_false(w->exploit_known);
        tvm_feed_free(f);
        f = parse_ok(npm, TVM_FEED_AUTO);
        assert_int_equal(f->n_rows, 0);
        assert_int_equal(f->skipped, 1);
        tvm_feed_free(f);
        f = parse_ok(withdrawn, TVM_FEED_AUTO);
        assert_int_equal(f->n_rows, 0);
        assert_int_equal(f->skipped, 1);
        tvm_feed_free(f);
}

/* An OSV record around one affected entry. */
static char *osv_with(const char *affected)
{
        static char buf[4096];

        snprintf(buf, sizeof(buf), "{\"id\":\"DSA-7-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[%s]}",
                 affected);
        return buf;
}

static void test_osv_refused(void **state)
{
        static const struct {
                const char *doc, *want1, *want2;
        } cases[] = {
                { "{\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[]}", "(no id)", "'id'" },
                { "{\"id\":\"DSA-7-1\",\"affected\":[]}", "record 'DSA-7-1'", "'modified'" },
                { "{\"id\":\"DSA-7-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":{}}", "record 'DSA-7-1'",
                  "'affected' must be an array" },
                { "{\"id\":\"a b\",\"modified\":\"2024-01-01T00:00:00Z\"}", "(no id)", "'id'" },
                { "{\"id\":\"DSA-7-1\",\"modified\":\"yesterday\"}", "DSA-7-1", "RFC 3339" },
                { "{\"id\":\"DSA-7-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"aliases\":\"CVE-1\"}", "DSA-7-1",
                  "'aliases' must be an array" },
                { "{\"id\":\"DSA-7-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"severity\":[{\"type\":\"CVSS_V3\","
                  "\"score\":\"CVSS:3.1/AV:N\"}]}", "DSA-7-1", "not a CVSS 3.x vector" },
                { "{\"id\":\"DSA-7-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"severity\":[{\"type\":\"CVSS_V9\","
                  "\"score\":\"x\"}]}", "DSA-7-1", "unknown type" },
        };
        static const struct {
                const char *affected, *want;
        } aff[] = {
                { "{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"x\"},\"ranges\":[{\"type\":\"RANGE\","
                  "\"events\":[{\"introduced\":\"0\"}]}]}", "affected[0].ranges[0]: type must be" },
                { "{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"x\"},\"ranges\":[{\"type\":\"ECOSYSTEM\","
                  "\"events\":[]}]}", "'events' must be a non-empty array" },
                { "{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"x\"},\"ranges\":[{\"type\":\"ECOSYSTEM\","
                  "\"events\":[{\"introduced\":\"0\",\"fixed\":\"1\"}]}]}", "exactly one of" },
                { "{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"x\"},\"ranges\":[{\"type\":\"ECOSYSTEM\","
                  "\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"1 2\"}]}]}", "is not a Debian version" },
                { "{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"x\"},\"ranges\":[{\"type\":\"ECOSYSTEM\","
                  "\"events\":[{\"introduced\":0}]}]}", "exactly one of" },
                { "{\"package\":{\"ecosystem\":\"Debian:bad release\",\"name\":\"x\"}}", "the release must be" },
                { "{\"package\":{\"ecosystem\":\"Ubuntu:22.04:ESM\",\"name\":\"x\"}}", "the release must be" },
                { "{\"package\":{\"ecosystem\":\"Debian:\",\"name\":\"x\"}}", "the release must be" },
                { "{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"x y\"}}", "package name" },
                /* quoted text with a line break, and cut at 64 bytes inside a character */
                { "{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"x\\ny\"}}", "package name 'x?y'" },
                { "{\"package\":{\"ecosystem\":\"Debian:\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
                  "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
                  "\u00e9\u00e9\u00e9\u00e9\",\"name\":\"x\"}}", "ecosystem 'Debian:??" },
                { "{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"x\"},\"ranges\":7}", "'ranges' must be an array" },
                { "{\"package\":\"x\"}", "'package' must be an object" },
                { "7", "affected[0]: must be an object" },
                { "{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"x\"},\"ecosystem_specific\":"
                  "{\"urgency\":3}}", "'urgency' must be a string" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                parse_refused(cases[i].doc, strlen(cases[i].doc), TVM_FEED_OSV, -EINVAL, cases[i].want1,
                              cases[i].want2);
        for (size_t i = 0; i < sizeof(aff) / sizeof(aff[0]); i++) {
                const char *doc = osv_with(aff[i].affected);
                parse_refused(doc, strlen(doc), TVM_FEED_OSV, -EINVAL, "record 'DSA-7-1'", aff[i].want);
        }
        parse_refused("{\"id\":", 6, TVM_FEED_AUTO, -EINVAL, "not valid JSON", "line 1");
        parse_refused("{\"id\":\"a\",\"id\":\"b\"}", 19, TVM_FEED_AUTO, -EINVAL, "duplicate", NULL);
        parse_refused("", 0, TVM_FEED_AUTO, -EINVAL, "not valid JSON", NULL);
}

static void test_osv_oversized(void **state)
{
        size_t n = TVM_OSV_RECORD_MAX + 64, len, depth = TVM_JSON_DEPTH_MAX + 4;
        char *doc = malloc(n + 1);
        int k;

        assert_non_null(doc);
        /* a record past TVM_OSV_RECORD_MAX */
        len = (size_t)snprintf(doc, n, "{\"id\":\"DSA-7-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"details\":\"");
        memset(doc + len, 'a', n - len - 2);
        memcpy(doc + n - 2, "\"}", 3);
        parse_refused(doc, n, TVM_FEED_OSV, -E2BIG, "larger than", NULL);
        /* nested past TVM_JSON_DEPTH_MAX */
        len = (size_t)snprintf(doc, n, "{\"id\":\"DSA-7-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"x\":");
        for (size_t i = 0; i < depth; i++)
                doc[len++] = '[';
        for (size_t i = 0; i < depth; i++)
                doc[len++] = ']';
        doc[len++] = '}';
        parse_refused(doc, len, TVM_FEED_OSV, -E2BIG, "DSA-7-1", "nested deeper");
        /* more events than TVM_OSV_EVENTS_MAX */
        len = (size_t)snprintf(doc, n, "{\"id\":\"DSA-7-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{"
                               "\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"x\"},\"ranges\":[{\"type\":"
                               "\"ECOSYSTEM\",\"events\":[");
        for (k = 0; k <= TVM_OSV_EVENTS_MAX; k++)
                len += (size_t)snprintf(doc + len, n - len, "%s{\"introduced\":\"%d\"}", k ? "," : "", k);
        len += (size_t)snprintf(doc + len, n - len, "]}]}]}");
        parse_refused(doc, len, TVM_FEED_OSV, -E2BIG, "DSA-7-1", "more than 1024 events");
        /* a version past TVM_VERSION_MAX */
        len = (size_t)snprintf(doc, n, "{\"id\":\"DSA-7-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{"
                               "\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"x\"},\"ranges\":[{\"type\":"
                               "\"ECOSYSTEM\",\"events\":[{\"introduced\":\"");
        memset(doc + len, '1', TVM_VERSION_MAX + 1);
        len += TVM_VERSION_MAX + 1;
        len += (size_t)snprintf(doc + len, n - len, "\"}]}]}]}");
        parse_refused(doc, len, TVM_FEED_OSV, -EINVAL, "DSA-7-1", "not a Debian version");
        free(doc);
}

#define TRACKER \
        "{\"openssl\":{\"CVE-2024-0001\":{\"description\":\"a flaw\",\"scope\":\"remote\",\"debianbug\":1," \
        "\"releases\":{\"bookworm\":{\"status\":\"resolved\",\"repositories\":{\"bookworm\":\"3.0.15-1\"}," \
        "\"fixed_version\":\"3.0.15-1~deb12u1\",\"urgency\":\"high**\"}," \
        "\"bullseye\":{\"status\":\"open\",\"urgency\":\"not yet assigned\"}," \
        "\"trixie\":{\"status\":\"resolved\",\"fixed_version\":\"0\",\"urgency\":\"unimportant\"}," \
        "\"sid\":{\"status\":\"undetermined\"},\"hamm\":{\"status\":\"open\"}}}," \
        "\"TEMP-0000000-AB12\":{\"releases\":[]}}," \
        "\"chromium\":{}}"

static void test_tracker_valid(void **state)
{
        struct tvm_feed *f = parse_ok(TRACKER, TVM_FEED_AUTO);
        const struct tvm_row *w;

        assert_int_equal(f->kind, TVM_FEED_DEBIAN_TRACKER);
        assert_int_equal(f->records, 2);
        assert_int_equal(f->n_rows, 4);
        assert_int_equal(f->skipped, 1);        /* hamm: a codename this program does not know */
        w = row_find(f, "CVE-2024-0001", "12", "0");
        assert_string_equal(w->advisory_id, "CVE-2024-0001");
        assert_string_equal(w->distro, "debian");
        assert_string_equal(w->status, "fixed");
        assert_string_equal(w->fixed, "3.0.15-1~deb12u1");
        assert_string_equal(w->urgency, "high**");
        assert_string_equal(w->severity, "high");
        assert_string_equal(w->summary, "a flaw");
        assert_false(w->has_cvss);
        w = row_find(f, "CVE-2024-0001", "11", "0");
        assert_string_equal(w->status, "open");
        assert_null(w->fixed);
        assert_string_equal(w->severity, "unknown");
        w = row_find(f, "CVE-2024-0001", "13", "0");
        assert_string_equal(w->status, "not_affected");
        assert_null(w->fixed);
        assert_string_equal(w->severity, "low");
        w = row_find(f, "CVE-2024-0001", "sid", "0");
        assert_string_equal(w->status, "undetermined");
        assert_string_equal(w->urgency, "");
        tvm_feed_free(f);
}

static void test_tracker_refused(void **state)
{
        static const struct {
                const char *doc, *want1, *want2;
        } cases[] = {
                { "[]", "must be an object of source packages", NULL },
                { "{\"x\":[]}", "package 'x'", "must be an object of CVE ids" },
                { "{\"x\":{\"CVE-1\":[]}}", "package 'x', 'CVE-1'", "must be an object" },
                { "{\"x\":{\"CVE-1\":{\"releases\":7}}}", "'CVE-1'", "'releases' must be an object" },
                { "{\"x\":{\"CVE-1\":{\"releases\":{\"bookworm\":{\"status\":\"fixed\"}}}}}",
                  "package 'x', 'CVE-1', release 'bookworm'", "status must be" },
                { "{\"x\":{\"CVE-1\":{\"releases\":{\"bookworm\":{\"status\":\"resolved\"}}}}}",
                  "release 'bookworm'", "without a 'fixed_version'" },
                { "{\"x\":{\"CVE-1\":{\"releases\":{\"bookworm\":{\"status\":\"resolved\",\"fixed_version\":"
                  "\"1 0\"}}}}}", "release 'bookworm'", "not a Debian version" },
                { "{\"x\":{\"CVE-1\":{\"releases\":{\"bookworm\":{\"status\":\"open\",\"urgency\":5}}}}}",
                  "release 'bookworm'", "'urgency'" },
                { "{\"x\":{\"CVE-1\":{\"description\":5,\"releases\":{}}}}", "'CVE-1'", "'description'" },
                { "{\"x y\":{}}", "package 'x y'", "not a source package name" },
                { "{\"x\\u001b[2Jy\":{}}", "package 'x?[2Jy'", "not a source package name" },
                { "{\"x\":{\"CVE-\\u00e9\\r\":{}}}", "'CVE-\?\?\?'", "not an id" },
                { "{\"x\":{\"CVE 1\":{}}}", "'CVE 1'", "not an id" },
                { "{}", "holds no entries", NULL },
                /* read one package at a time: the document's own syntax */
                { "{\"x\":{},\"x\":{}}", "package 'x'", "appears twice" },
                { "{\"x\":{}} x", "at byte 9", "goes on after its end" },
                { "{\"x\":{}", "package 'x'", "',' or '}' expected" },
                { "{\"x\" {}}", "at byte 5", "':' expected" },
                { "{", "at byte 1", "a package name in quotes expected" },
                { " 7", "must be an object of source packages", NULL },
                { "{\"x\":{\"CVE-1\":{\"releases\":{},\"releases\":{}}}}", "package 'x': not valid JSON", "duplicate" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                parse_refused(cases[i].doc, strlen(cases[i].doc), TVM_FEED_DEBIAN_TRACKER, -EINVAL, cases[i].want1,
                              cases[i].want2);
        /* nested past TVM_JSON_DEPTH_MAX inside a package */
        {
                static const char deep[] = "{\"x\":{\"CVE-1\":{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}}";
                parse_refused(deep, strlen(deep), TVM_FEED_DEBIAN_TRACKER, -E2BIG, "package 'x': nested deeper than 32",
                              NULL);
        }
        /* a zip is never the tracker's */
        parse_refused("PK\x03\x04....", 8, TVM_FEED_DEBIAN_TRACKER, -EINVAL, "zip", NULL);
}

/* A zip in memory holding the given files. */
static void *zip_make(const char *const *names, const char *const *texts, size_t n, size_t *ret_len)
{
        size_t cap = 1 << 20, used = 0;
        char *buf = malloc(cap);
        struct archive *a = archive_write_new();

        assert_non_null(buf);
        archive_write_set_format_zip(a);
        assert_int_equal(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
        for (size_t i = 0; i < n; i++) {
                struct archive_entry *e = archive_entry_new();
                archive_entry_set_pathname(e, names[i]);
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_perm(e, 0644);
                archive_entry_set_size(e, (la_int64_t)strlen(texts[i]));
                assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
                assert_int_equal(archive_write_data(a, texts[i], strlen(texts[i])), (la_ssize_t)strlen(texts[i]));
                archive_entry_free(e);
        }
        archive_write_close(a);
        archive_write_free(a);
        *ret_len = used;
        return buf;
}

static void test_zip(void **state)
{
        const char *names[] = { "a/DSA-9999-1.json", "README.txt", "b/DSA-7-1.json" };
        const char *texts[] = { OSV_DSA, "not json", "" };
        struct tvm_feed *f = NULL;
        char err[512] = "", *doc;
        size_t len;

        texts[2] = "{\"id\":\"DSA-7-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"package\":"
                   "{\"ecosystem\":\"Debian:11\",\"name\":\"zlib\"},\"ranges\":[{\"type\":\"ECOSYSTEM\","
                   "\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"1:1.2.11.dfsg-2+deb11u2\"}]}]}]}";
        doc = zip_make(names, texts, 3, &len);
        assert_int_equal(tvm_feed_parse(doc, len, TVM_FEED_AUTO, &f, err, sizeof(err)), 0);
        assert_int_equal(f->records, 2);
        assert_int_equal(f->n_rows, 7);
        assert_string_equal(row_find(f, "DSA-7-1", "11", "0")->fixed, "1:1.2.11.dfsg-2+deb11u2");
        tvm_feed_free(f);
        free(doc);
        /* one bad record refuses the whole zip, naming the entry */
        texts[2] = "{\"id\":\"DSA-7-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":7}";
        doc = zip_make(names, texts, 3, &len);
        parse_refused(doc, len, TVM_FEED_AUTO, -EINVAL, "record 'DSA-7-1' in 'b/DSA-7-1.json'",
                      "'affected' must be an array");
        free(doc);
        /* a zip without records; a broken zip */
        doc = zip_make(names + 1, texts + 1, 1, &len);
        parse_refused(doc, len, TVM_FEED_AUTO, -EINVAL, "holds no", NULL);
        parse_refused(doc, len / 2, TVM_FEED_AUTO, -EINVAL, "zip", NULL);
        free(doc);
}

/* The import: a database in memory and a bus that counts
 * BUS_ADVISORIES_CHANGED. */
static void on_advisories(const struct bus_event *ev, void *userdata)
{
        (*(int *)userdata)++;
}

static int64_t count(struct vigild *d, const char *sql)
{
        struct db_stmt *st;
        int64_t n = -1;

        db_lock(d->db);
        assert_int_equal(db_prepare(d->db, sql, &st), 0);
        if (db_step(st) == 1)
                n = db_column_int64(st, 0);
        db_stmt_done(st);
        db_unlock(d->db);
        return n;
}

static void store(struct vigild *d, const char *doc, const char *origin)
{
        struct tvm_import_result res;
        struct tvm_feed *f = parse_ok(doc, TVM_FEED_AUTO);
        char err[256];

        assert_int_equal(tvm_feed_store(d, f, origin, util_now(), &res, err, sizeof(err)), 0);
        assert_int_equal(res.rows, f->n_rows);
        assert_true(res.id > 0);
        tvm_feed_free(f);
}

static void test_import(void **state)
{
        struct vigild d = { 0 };
        int published = 0;

        assert_int_equal(db_open(":memory:", &d.db), 0);
        d.bus = bus_new();
        assert_non_null(d.bus);
        assert_int_equal(bus_subscribe(d.bus, BUS_ADVISORIES_CHANGED, on_advisories, &published), 0);
        assert_int_equal(tvm_feed_migrate(&d), 0);
        store(&d, OSV_DSA, "/feeds/a");
        store(&d, TRACKER, "tracker");
        assert_int_equal(published, 2);
        assert_int_equal(count(&d, "SELECT COUNT(*) FROM tvm_affected"), 10);
        assert_int_equal(count(&d, "SELECT COUNT(*) FROM tvm_affected WHERE cvss > 9.79 AND cvss < 9.81 "
                                   "AND exploit_known = 1 AND fixed = '3.0.15-1~deb12u1'"), 2);
        assert_int_equal(count(&d, "SELECT COUNT(*) FROM tvm_affected WHERE status = 'not_affected' "
                                   "AND fixed IS NULL AND feed = 'debian-tracker'"), 1);
        /* another origin of the same feed adds; the same origin replaces */
        store(&d, osv_with("{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"zlib\"},\"ranges\":[{\"type\":"
                           "\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"}]}]}"), "/feeds/b");
        assert_int_equal(count(&d, "SELECT COUNT(*) FROM tvm_affected WHERE feed = 'osv'"), 7);
        store(&d, osv_with("{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"zlib\"},\"ranges\":[{\"type\":"
                           "\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"}]}]}"), "/feeds/a");
        assert_int_equal(count(&d, "SELECT COUNT(*) FROM tvm_affected WHERE feed = 'osv'"), 2);
        assert_int_equal(count(&d, "SELECT COUNT(*) FROM tvm_affected WHERE feed = 'debian-tracker'"), 4);
        /* a failure is recorded and changes no row */
        tvm_feed_record_failure(&d, TVM_FEED_OSV, "/feeds/a", util_now(), "record 'X': bad");
        assert_int_equal(count(&d, "SELECT COUNT(*) FROM tvm_affected"), 6);
        assert_int_equal(count(&d, "SELECT COUNT(*) FROM tvm_feed_imports WHERE status = 'failed' "
                                   "AND error = 'record ''X'': bad'"), 1);
        assert_int_equal(count(&d, "SELECT COUNT(*) FROM tvm_feed_imports WHERE status = 'ok'"), 4);
        assert_int_equal(published, 4);
        bus_free(d.bus);
        db_close(d.db);
}

static void test_feed_paths(void **state)
{
        char out[TVM_FEED_PATHS_MAX][TVM_ORIGIN_MAX + 1];
        enum tvm_feed_kind k;

        assert_int_equal(tvm_feed_paths_parse(" /var/feeds/osv , https://example.org/json,", out), 2);
        assert_string_equal(out[0], "/var/feeds/osv");
        assert_string_equal(out[1], "https://example.org/json");
        assert_int_equal(tvm_feed_paths_parse("", NULL), 0);
        assert_int_equal(tvm_feed_paths_parse("relative/path", NULL), -EINVAL);
        assert_int_equal(tvm_feed_paths_parse("http://example.org/x", NULL), -EINVAL);
        assert_int_equal(tvm_feed_paths_parse("https://", NULL), -EINVAL);
        assert_int_equal(tvm_feed_paths_parse("/a,/b,/c,/d,/e,/f,/g,/h,/i,/j,/k,/l,/m,/n,/o,/p,/q", NULL), -EINVAL);
        assert_int_equal(tvm_feed_kind_parse("debian-tracker", &k), 0);
        assert_int_equal(k, TVM_FEED_DEBIAN_TRACKER);
        assert_int_equal(tvm_feed_kind_parse("osv", &k), 0);
        assert_int_equal(k, TVM_FEED_OSV);
        assert_int_equal(tvm_feed_kind_parse("nvd", &k), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cvss),
                cmocka_unit_test(test_osv_valid),
                cmocka_unit_test(test_osv_ubuntu_and_others),
                cmocka_unit_test(test_osv_refused),
                cmocka_unit_test(test_osv_oversized),
                cmocka_unit_test(test_tracker_valid),
                cmocka_unit_test(test_tracker_refused),
                cmocka_unit_test(test_zip),
                cmocka_unit_test(test_import),
                cmocka_unit_test(test_feed_paths),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
