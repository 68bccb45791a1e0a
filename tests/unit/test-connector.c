/* Unit tests of the connector's pure part: the state machine at explicit
 * times, risk level names and their order, the settings body and the
 * partner's risk bodies (good, bad, oversized, stale-looking). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "server/connector/connector.h"

#define T0 1796025600LL                 /* 2026-11-30T08:00:00Z */
#define NS 1000000000LL

static const struct connector_settings remote = {
        .partner = CONNECTOR_PARTNER_REMOTE, .platforms = CONNECTOR_PLATFORM_LINUX,
        .unresponsive_after = 24 * 3600, .block_on_missing = false,
};

static void test_state_machine(void **state)
{
        struct connector_settings s = remote;
        char reason[CONNECTOR_REASON_MAX];

        /* a remote partner never heard from */
        assert_int_equal(connector_state_compute(&s, 0, T0, reason, sizeof(reason)), CONNECTOR_UNAVAILABLE);
        assert_non_null(strstr(reason, "never connected"));
        /* heard from just now, and exactly at the limit: still enabled */
        assert_int_equal(connector_state_compute(&s, T0, T0, reason, sizeof(reason)), CONNECTOR_ENABLED);
        assert_string_equal(reason, "");
        assert_int_equal(connector_state_compute(&s, T0, T0 + 24 * 3600, reason, sizeof(reason)), CONNECTOR_ENABLED);
        /* one second past it: unresponsive, and the reason says since when and for how long */
        assert_int_equal(connector_state_compute(&s, T0, T0 + 24 * 3600 + 1, reason, sizeof(reason)),
                         CONNECTOR_UNRESPONSIVE);
        assert_non_null(strstr(reason, "partner unresponsive since "));
        assert_non_null(strstr(reason, "no heartbeat for 24h"));
        assert_int_equal(connector_state_compute(&s, T0, T0 + 25 * 3600, reason, sizeof(reason)),
                         CONNECTOR_UNRESPONSIVE);
        assert_non_null(strstr(reason, "no heartbeat for 25h"));
        assert_non_null(strstr(reason, "partner_unresponsive_after is 1d"));
        /* a heartbeat brings it back */
        assert_int_equal(connector_state_compute(&s, T0 + 25 * 3600, T0 + 25 * 3600, reason, sizeof(reason)),
                         CONNECTOR_ENABLED);
        /* enabled for no platform: available while heard from */
        s.platforms = 0;
        assert_int_equal(connector_state_compute(&s, T0, T0 + 10, reason, sizeof(reason)), CONNECTOR_AVAILABLE);
        assert_non_null(strstr(reason, "enabled for no platform"));
        assert_int_equal(connector_state_compute(&s, T0, T0 + 2 * 86400, reason, sizeof(reason)),
                         CONNECTOR_UNRESPONSIVE);
        /* the smallest limit, 1 s, as the integration test uses */
        s = remote;
        s.unresponsive_after = 1;
        assert_int_equal(connector_state_compute(&s, T0, T0 + 1, reason, sizeof(reason)), CONNECTOR_ENABLED);
        assert_int_equal(connector_state_compute(&s, T0, T0 + 2, reason, sizeof(reason)), CONNECTOR_UNRESPONSIVE);
        assert_non_null(strstr(reason, "no heartbeat for 2s"));
}

static void test_builtin_always_heard(void **state)
{
        struct connector_settings s = remote;
        char reason[CONNECTOR_REASON_MAX];

        s.partner = CONNECTOR_PARTNER_BUILTIN;
        /* the core passes now as the builtin partner's heartbeat */
        assert_int_equal(connector_state_compute(&s, T0, T0, reason, sizeof(reason)), CONNECTOR_ENABLED);
        s.platforms = 0;
        assert_int_equal(connector_state_compute(&s, T0, T0, reason, sizeof(reason)), CONNECTOR_AVAILABLE);
        assert_non_null(strstr(reason, "builtin"));
}

static void test_names_and_order(void **state)
{
        static const char *const levels[] = { "none", "informational", "low", "medium", "high" };
        enum connector_level l, prev = CONNECTOR_LEVEL_NONE;
        enum connector_partner p;

        for (size_t i = 0; i < 5; i++) {
                assert_int_equal(connector_level_parse(levels[i], &l), 0);
                assert_string_equal(connector_level_name(l), levels[i]);
                assert_true(i == 0 || l > prev);
                prev = l;
        }
        assert_int_equal(connector_level_parse("critical", &l), -EINVAL);
        assert_int_equal(connector_level_parse("High", &l), -EINVAL);
        assert_int_equal(connector_level_parse(NULL, &l), -EINVAL);
        assert_string_equal(connector_state_name(CONNECTOR_UNRESPONSIVE), "unresponsive");
        assert_string_equal(connector_state_name(CONNECTOR_UNAVAILABLE), "unavailable");
        assert_int_equal(connector_partner_parse("remote", &p), 0);
        assert_int_equal(p, CONNECTOR_PARTNER_REMOTE);
        assert_int_equal(connector_partner_parse("defend", &p), -EINVAL);
}

static int settings(const char *text, struct connector_settings *ret, char *err, size_t size)
{
        struct connector_settings cur = remote;
        json_t *j = json_loads(text, 0, NULL);
        int r;

        assert_non_null(j);
        r = connector_settings_check(j, &cur, ret, err, size);
        json_decref(j);
        return r;
}

static void test_settings_check(void **state)
{
        struct connector_settings s;
        char err[256];

        assert_int_equal(settings("{\"partner\":\"builtin\",\"enabled_platforms\":[],"
                                  "\"partner_unresponsive_after\":\"2s\",\"block_on_missing_partner_data\":true}",
                                  &s, err, sizeof(err)), 0);
        assert_int_equal(s.partner, CONNECTOR_PARTNER_BUILTIN);
        assert_int_equal(s.platforms, 0);
        assert_int_equal(s.unresponsive_after, 2);
        assert_true(s.block_on_missing);
        /* one member changes only itself */
        assert_int_equal(settings("{\"partner_unresponsive_after\":\"30d\"}", &s, err, sizeof(err)), 0);
        assert_int_equal(s.partner, CONNECTOR_PARTNER_REMOTE);
        assert_int_equal(s.platforms, CONNECTOR_PLATFORM_LINUX);
        assert_int_equal(s.unresponsive_after, 30 * 86400);
        assert_int_equal(settings("{}", &s, err, sizeof(err)), -EINVAL);
        assert_int_equal(settings("{\"partner\":\"mde\"}", &s, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "builtin"));
        assert_int_equal(settings("{\"enabled_platforms\":[\"linux\",\"linux\"]}", &s, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "twice"));
        assert_int_equal(settings("{\"enabled_platforms\":[\"windows\"]}", &s, err, sizeof(err)), -EINVAL);
        assert_int_equal(settings("{\"enabled_platforms\":\"linux\"}", &s, err, sizeof(err)), -EINVAL);
        assert_int_equal(settings("{\"partner_unresponsive_after\":\"0s\"}", &s, err, sizeof(err)), -EINVAL);
        assert_int_equal(settings("{\"partner_unresponsive_after\":\"31d\"}", &s, err, sizeof(err)), -EINVAL);
        assert_int_equal(settings("{\"partner_unresponsive_after\":86400}", &s, err, sizeof(err)), -EINVAL);
        assert_int_equal(settings("{\"block_on_missing_partner_data\":\"yes\"}", &s, err, sizeof(err)), -EINVAL);
        assert_int_equal(settings("{\"color\":\"blue\"}", &s, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "unknown member 'color'"));
}

static int parse(const char *body, const char *id, struct connector_update *u, size_t *n, char *err, size_t size)
{
        json_t *j = NULL;
        int r = connector_partner_body_parse(body, strlen(body), id, T0 * NS, u, n, &j, err, size);

        if (r == 0)
                assert_non_null(j);
        json_decref(j);
        return r;
}

static void test_partner_bodies(void **state)
{
        static struct connector_update u[CONNECTOR_BATCH_MAX];
        char err[512], *big;
        size_t n = 0, len;

        assert_int_equal(parse("{\"risk\":\"high\",\"as_of\":\"2026-11-30T06:00:00.5Z\",\"reasons\":[\"ransomware\"]}",
                               "dev-1", u, &n, err, sizeof(err)), 0);
        assert_int_equal(n, 1);
        assert_int_equal(u[0].level, CONNECTOR_LEVEL_HIGH);
        assert_string_equal(u[0].device_id, "dev-1");
        assert_int_equal(u[0].as_of % NS, NS / 2);
        assert_int_equal(parse("{\"devices\":[{\"id\":\"a\",\"risk\":\"low\",\"as_of\":\"2026-11-30T06:00:00Z\"},"
                               "{\"id\":\"b\",\"risk\":\"none\",\"as_of\":\"2026-11-30T07:00:00+01:00\"}]}",
                               NULL, u, &n, err, sizeof(err)), 0);
        assert_int_equal(n, 2);
        /* offsets count: both times are the same instant */
        assert_int_equal(u[0].as_of, u[1].as_of);
        assert_int_equal(parse("{\"risk\":\"severe\",\"as_of\":\"2026-11-30T06:00:00Z\"}", "d", u, &n, err,
                               sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "'risk'"));
        assert_int_equal(parse("{\"risk\":\"low\",\"as_of\":\"yesterday\"}", "d", u, &n, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "RFC 3339"));
        assert_int_equal(parse("{\"risk\":\"low\"}", "d", u, &n, err, sizeof(err)), -EINVAL);
        /* more than 5 minutes ahead of the server's clock (T0 here) */
        assert_int_equal(parse("{\"risk\":\"low\",\"as_of\":\"2027-01-01T00:00:00Z\"}", "d", u, &n, err, sizeof(err)),
                         -EINVAL);
        assert_non_null(strstr(err, "future"));
        assert_int_equal(parse("{\"risk\":\"low\",\"as_of\":\"2026-11-30T06:00:00Z\",\"extra\":1}", "d", u, &n,
                               err, sizeof(err)), -EINVAL);
        assert_int_equal(parse("{\"risk\":\"low\",\"as_of\":\"2026-11-30T06:00:00Z\",\"reasons\":[1]}", "d", u, &n,
                               err, sizeof(err)), -EINVAL);
        assert_int_equal(parse("{\"devices\":[]}", NULL, u, &n, err, sizeof(err)), -EINVAL);
        assert_int_equal(parse("{\"devices\":[{\"id\":\"a\",\"risk\":\"low\",\"as_of\":\"2026-11-30T06:00:00Z\"},"
                               "{\"id\":\"a\",\"risk\":\"high\",\"as_of\":\"2026-11-30T06:00:00Z\"}]}",
                               NULL, u, &n, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "devices[1]"));
        assert_int_equal(parse("{\"devices\":[{\"id\":\"a/b\",\"risk\":\"low\",\"as_of\":\"2026-11-30T06:00:00Z\"}]}",
                               NULL, u, &n, err, sizeof(err)), -EINVAL);
        assert_int_equal(parse("[1,2]", NULL, u, &n, err, sizeof(err)), -EINVAL);
        assert_int_equal(parse("{\"risk\":", "d", u, &n, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "not JSON"));
        /* 1001 devices: refused as too many */
        big = malloc(1001 * 80 + 32);
        assert_non_null(big);
        len = (size_t)snprintf(big, 32, "{\"devices\":[");
        for (int i = 0; i < 1001; i++)
                len += (size_t)snprintf(big + len, 80, "%s{\"id\":\"d%d\",\"risk\":\"low\",\"as_of\":\"2026-11-30T06:00:00Z\"}",
                                        i ? "," : "", i);
        memcpy(big + len, "]}", 3);
        assert_int_equal(parse(big, NULL, u, &n, err, sizeof(err)), -E2BIG);
        free(big);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_state_machine),
                cmocka_unit_test(test_builtin_always_heard),
                cmocka_unit_test(test_names_and_order),
                cmocka_unit_test(test_settings_check),
                cmocka_unit_test(test_partner_bodies),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
