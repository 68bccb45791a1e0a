/* Unit tests of defend's pure parts: the alert batch and alert checks, the
 * RFC 3339 parser, severities, the suppression rules' glob matcher and body
 * check; and the event bus. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "server/bus.h"
#include "server/defend/defend.h"

static json_t *good_alert(void)
{
        return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:[s],s:[s],s:s,s:s,s:i,s:{s:i,s:i},s:{s:s}}",
                         "change", "new", "id", "f66fe04f-e77b-410f-bfd1-c7bcd50e4168", "rule_id", "r1",
                         "title", "t", "source", "builtin", "severity", "high", "rule_level", "critical",
                         "techniques", "T1059.004", "tactics", "execution",
                         "first_seen", "2026-11-30T03:32:53.828575511Z", "last_seen", "2026-11-30T03:32:54Z",
                         "count", 1, "tree", "pid", 1, "start_ticks", 2, "event", "EventType", "x");
}

/* The good alert with key set to v (taken), or removed when v is NULL. */
static int check_with(const char *key, json_t *v, char *err, size_t size)
{
        json_t *a = good_alert();
        int r;

        if (v)
                json_object_set_new(a, key, v);
        else
                json_object_del(a, key);
        err[0] = '\0';
        r = defend_alert_check(a, err, size);
        json_decref(a);
        return r;
}

static void test_alert_check(void **state)
{
        char err[256], big[DEFEND_FIELD_MAX + 2];
        json_t *a = good_alert();

        assert_int_equal(defend_alert_check(a, err, sizeof(err)), 0);
        json_decref(a);
        assert_int_equal(check_with("category", NULL, err, sizeof(err)), 0);
        assert_int_equal(check_with("network", json_null(), err, sizeof(err)), 0);
        assert_int_equal(check_with("techniques", json_pack("[s,s]", "T1059", "T1548.001"), err, sizeof(err)), 0);
        assert_int_equal(check_with("first_seen", json_string("2026-11-30T04:32:53+01:00"), err, sizeof(err)), 0);

        assert_int_equal(check_with("severity", json_string("critical"), err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "severity"));
        assert_int_equal(check_with("change", json_string("delete"), err, sizeof(err)), -EINVAL);
        assert_int_equal(check_with("source", NULL, err, sizeof(err)), -EINVAL);
        assert_int_equal(check_with("id", json_string("F66FE04F-E77B-410F-BFD1-C7BCD50E4168"), err, sizeof(err)), -EINVAL);
        assert_int_equal(check_with("id", json_string("f66fe04f-e77b-410f-bfd1-c7bcd50e416"), err, sizeof(err)), -EINVAL);
        assert_int_equal(check_with("id", json_integer(5), err, sizeof(err)), -EINVAL);
        assert_int_equal(check_with("id", json_stringn("f66fe04f-e77b-410f-bfd1-c7bcd50e4168\0x", 38), err,
                                    sizeof(err)), -EINVAL);
        assert_int_equal(check_with("techniques", json_pack("[s#]", "T1059\0x", 7), err, sizeof(err)), -EINVAL);
        assert_int_equal(check_with("techniques", json_pack("[s]", "T105"), err, sizeof(err)), -EINVAL);
        assert_int_equal(check_with("techniques", json_pack("[s]", "T1059.04"), err, sizeof(err)), -EINVAL);
        assert_int_equal(check_with("techniques", json_pack("[s]", "t1059"), err, sizeof(err)), -EINVAL);
        assert_int_equal(check_with("techniques", json_string("T1059"), err, sizeof(err)), -EINVAL);
        assert_int_equal(check_with("count", json_integer(0), err, sizeof(err)), -EINVAL);
        assert_int_equal(check_with("count", json_string("1"), err, sizeof(err)), -EINVAL);
        assert_int_equal(check_with("last_seen", json_string("2026-11-30T03:00:00Z"), err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "before"));
        assert_int_equal(check_with("first_seen", json_string("2026-13-30T03:00:00Z"), err, sizeof(err)), -EINVAL);
        assert_int_equal(check_with("tree", NULL, err, sizeof(err)), -EINVAL);
        assert_int_equal(check_with("event", json_string("x"), err, sizeof(err)), -EINVAL);
        assert_int_equal(check_with("ancestors", json_pack("[i]", 1), err, sizeof(err)), -EINVAL);
        assert_int_equal(check_with("title", json_string(""), err, sizeof(err)), -EINVAL);
        assert_int_equal(check_with("title", json_string("a\nb"), err, sizeof(err)), -EINVAL);
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        assert_int_equal(check_with("title", json_string(big), err, sizeof(err)), -EINVAL);
        assert_int_equal(check_with("process", json_pack("{s:s}", "image", big), err, sizeof(err)), -EINVAL);
        /* the event is bounded by the batch only */
        assert_int_equal(check_with("event", json_pack("{s:s}", "CommandLine", big), err, sizeof(err)), 0);
        a = json_array();
        assert_int_equal(defend_alert_check(a, err, sizeof(err)), -EINVAL);
        json_decref(a);
}

static void test_batch_parse(void **state)
{
        char err[256], *big;
        json_t *arr = NULL;
        size_t n;

        assert_int_equal(defend_batch_parse("{\"alerts\":[]}", 13, &arr, err, sizeof(err)), 0);
        assert_int_equal(json_array_size(arr), 0);
        json_decref(arr);
        assert_int_equal(defend_batch_parse("{\"alerts\":[{}]}", 15, &arr, err, sizeof(err)), 0);
        json_decref(arr);
        assert_int_equal(defend_batch_parse("nope", 4, &arr, err, sizeof(err)), -EINVAL);
        assert_int_equal(defend_batch_parse("{\"alerts\":[1]}", 14, &arr, err, sizeof(err)), -EINVAL);
        assert_int_equal(defend_batch_parse("{\"alerts\":{}}", 13, &arr, err, sizeof(err)), -EINVAL);
        assert_int_equal(defend_batch_parse("{\"alerts\":[],\"alerts\":[]}", 25, &arr, err, sizeof(err)), -EINVAL);
        /* 501 alerts */
        n = 11 + 501 * 3 + 2;
        big = malloc(n + 1);
        assert_non_null(big);
        memcpy(big, "{\"alerts\":[", 11);
        for (int i = 0; i < 501; i++)
                memcpy(big + 11 + i * 3, i ? ",{}" : "{} ", 3);
        memcpy(big + 11 + 501 * 3, "]}", 3);
        assert_int_equal(defend_batch_parse(big, strlen(big), &arr, err, sizeof(err)), -E2BIG);
        assert_non_null(strstr(err, "500"));
        free(big);
        n = DEFEND_BATCH_BYTES_MAX + 1;
        big = calloc(1, n + 1);
        assert_non_null(big);
        memset(big, ' ', n);
        assert_int_equal(defend_batch_parse(big, n, &arr, err, sizeof(err)), -E2BIG);
        assert_non_null(strstr(err, "4 MiB"));
        free(big);
}

static void test_time_parse(void **state)
{
        int64_t t;

        assert_int_equal(defend_time_parse("1970-01-01T00:00:01Z", &t), 0);
        assert_int_equal(t, 1000000000);
        assert_int_equal(defend_time_parse("1970-01-01T00:00:01.5Z", &t), 0);
        assert_int_equal(t, 1500000000);
        assert_int_equal(defend_time_parse("1970-01-01T01:00:01+01:00", &t), 0);
        assert_int_equal(t, 1000000000);
        assert_int_equal(defend_time_parse("1970-01-01T00:00:01.123456789123Z", &t), 0);
        assert_int_equal(t, 1123456789);
        assert_int_equal(defend_time_parse("1970-01-01T00:00:01", &t), -EINVAL);
        assert_int_equal(defend_time_parse("1970-01-01T00:00:01.Z", &t), -EINVAL);
        assert_int_equal(defend_time_parse("1970-01-01 00:00:01Z", &t), -EINVAL);
        assert_int_equal(defend_time_parse("1970-01-01T00:00:01Zx", &t), -EINVAL);
        assert_int_equal(defend_time_parse("", &t), -EINVAL);
        assert_int_equal(defend_time_parse(NULL, &t), -EINVAL);
}

static void test_levels(void **state)
{
        enum defend_level l;

        assert_int_equal(defend_level_parse("high", false, &l), 0);
        assert_int_equal(l, DEFEND_LEVEL_HIGH);
        assert_int_equal(defend_level_parse("none", false, &l), -EINVAL);
        assert_int_equal(defend_level_parse("none", true, &l), 0);
        assert_int_equal(l, DEFEND_LEVEL_NONE);
        assert_int_equal(defend_level_parse("critical", true, &l), -EINVAL);
        assert_string_equal(defend_level_name(DEFEND_LEVEL_MEDIUM), "medium");
        assert_true(DEFEND_LEVEL_HIGH > DEFEND_LEVEL_MEDIUM && DEFEND_LEVEL_LOW > DEFEND_LEVEL_INFORMATIONAL);
}

static void on_event(const struct bus_event *ev, void *userdata)
{
        int *calls = userdata;

        assert_int_equal(ev->type, BUS_RISK_CHANGED);
        assert_string_equal(ev->risk_changed.to, "high");
        (*calls)++;
}

static void test_bus(void **state)
{
        struct bus *b = bus_new();
        struct bus_event ev = { .type = BUS_RISK_CHANGED, .device_id = "d",
                                .risk_changed = { .from = "none", .to = "high" } };
        struct bus_event other = { .type = BUS_ALERT_RAISED, .device_id = "d" };
        int calls = 0;

        assert_non_null(b);
        assert_int_equal(bus_subscribe(b, BUS_RISK_CHANGED, on_event, &calls), 0);
        assert_int_equal(bus_subscribe(b, BUS_RISK_CHANGED, on_event, &calls), 0);
        bus_publish(b, &ev);
        bus_publish(b, &other);
        assert_int_equal(calls, 2);
        for (int i = 2; i < BUS_SUBSCRIBERS_MAX; i++)
                assert_int_equal(bus_subscribe(b, BUS_ALERT_RAISED, on_event, &calls), 0);
        assert_int_equal(bus_subscribe(b, BUS_ALERT_RAISED, on_event, &calls), -E2BIG);
        bus_publish(NULL, &ev);
        bus_free(b);
        bus_free(NULL);
}

static bool glob(const char *p, const char *s, bool nocase)
{
        char err[160];

        assert_int_equal(defend_glob_check(p, strlen(p), err, sizeof(err)), 0);
        return defend_glob_match(p, s, strlen(s), nocase);
}

static void test_glob_match(void **state)
{
        static const struct { const char *p, *s; bool want; } cases[] = {
                { "/usr/bin/bash", "/usr/bin/bash", true },
                { "/usr/bin/bash", "/usr/bin/bash2", false },
                { "/usr/bin/bash", "/usr/bin/bas", false },
                { "*", "", true },
                { "*", "anything / at all", true },
                { "?", "", false },
                { "?", "x", true },
                { "??", "x", false },
                { "/usr/bin/*", "/usr/bin/python3", true },
                { "/usr/bin/*", "/usr/sbin/nginx", false },
                { "*/python3", "/usr/local/bin/python3", true },       /* '*' crosses '/' */
                { "*.sh", "/opt/backup/daily.sh", true },
                { "*.sh", "/opt/backup/daily.shx", false },
                { "bash -c *backup*", "bash -c /opt/backup/x.sh", true },
                { "a*b*c", "aXbYc", true },
                { "a*b*c", "aXbYcZ", false },
                { "a*b*c", "abcabc", true },
                { "*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false },
                { "py?hon*", "python3.11", true },
                { "\\*", "*", true },
                { "\\*", "x", false },
                { "a\\?", "a?", true },
                { "a\\?", "ab", false },
                { "c:\\\\x", "c:\\x", true },
                { "**", "ab", true },
                { "a**b", "ab", true },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                if (glob(cases[i].p, cases[i].s, false) != cases[i].want)
                        fail_msg("'%s' against '%s' should be %s", cases[i].p, cases[i].s,
                                 cases[i].want ? "a match" : "no match");
        /* case: exact unless nocase (hostnames) */
        assert_false(glob("WEB-*", "web-01", false));
        assert_true(glob("WEB-*", "web-01", true));
        assert_true(glob("web-0?", "WEB-01", true));
        /* the whole length counts, embedded NUL included */
        assert_false(defend_glob_match("ab", "ab\0c", 4, false));
        assert_true(defend_glob_match("ab*", "ab\0c", 4, false));
        /* unchecked patterns are safe: a trailing '\' is itself */
        assert_true(defend_glob_match("a\\", "a\\", 2, false));
        assert_false(defend_glob_match("a\\", "a", 1, false));
}

static void test_glob_check(void **state)
{
        static const char *const bad[] = { "", "a\\", "a\\b", "\\", "x\x01y",
                                           "*a*b*c*d*e*f*g*h*i*j*k*l*m*n*o*p*q" };
        char err[160], big[DEFEND_GLOB_MAX + 2];

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                err[0] = '\0';
                if (defend_glob_check(bad[i], strlen(bad[i]), err, sizeof(err)) != -EINVAL || !err[0])
                        fail_msg("pattern '%s' should be refused with a reason", bad[i]);
        }
        assert_int_equal(defend_glob_check("a\0b", 3, err, sizeof(err)), -EINVAL);
        memset(big, 'x', sizeof(big));
        big[DEFEND_GLOB_MAX] = '\0';
        assert_int_equal(defend_glob_check(big, DEFEND_GLOB_MAX, err, sizeof(err)), 0);
        big[DEFEND_GLOB_MAX] = 'x';
        big[DEFEND_GLOB_MAX + 1] = '\0';
        assert_int_equal(defend_glob_check(big, DEFEND_GLOB_MAX + 1, err, sizeof(err)), -EINVAL);
        assert_int_equal(defend_glob_check("*a*b*c*d*e*f*g*h*i*j*k*l*m*n*o*p", 32, err, sizeof(err)), 0);
        assert_int_equal(defend_glob_check("\\*\\?\\\\", 6, err, sizeof(err)), 0);
}

/* The body check of POST and PATCH /api/v1/suppressions. */
static void test_suppression_check(void **state)
{
        static const struct { const char *body; bool create; int want; const char *words; } cases[] = {
                { "{\"name\":\"n\",\"comment\":\"c\",\"conditions\":{\"rule_id\":\"r\"}}", true, 0, NULL },
                { "{\"name\":\"n\",\"comment\":\"c\",\"conditions\":{\"image\":\"/bin/*\",\"device_ids\":[\"d1\"]},"
                  "\"expires_at\":\"2099-01-01T00:00:00Z\",\"enabled\":false,\"apply_to_existing\":false}", true, 0, NULL },
                { "{\"enabled\":false}", false, 0, NULL },
                { "{\"expires_at\":null}", false, 0, NULL },
                { "{\"enabled\":false}", true, -EINVAL, "needs 'name'" },
                { "{}", false, -EINVAL, "JSON object" },
                { "{\"name\":\"n\",\"comment\":\"c\",\"conditions\":{}}", true, -EINVAL, "at least one" },
                { "{\"name\":\"n\",\"comment\":\"c\",\"conditions\":[]}", true, -EINVAL, "at least one" },
                { "{\"conditions\":{\"device_ids\":[]}}", false, -EINVAL, "non-empty array" },
                { "{\"conditions\":{\"device_ids\":[\"a/b\"]}}", false, -EINVAL, "device_ids[0]" },
                { "{\"conditions\":{\"rule_id\":\"\"}}", false, -EINVAL, "conditions.rule_id" },
                { "{\"conditions\":{\"image\":\"a\\\\\"}}", false, -EINVAL, "not a valid pattern" },
                { "{\"conditions\":{\"device_group\":\"\"}}", false, -EINVAL, "conditions.device_group" },
                { "{\"expires_at\":\"2001-01-01T00:00:00Z\"}", false, -EINVAL, "already passed" },
                { "{\"apply_to_existing\":1}", false, -EINVAL, "true or false" },
                { "{\"name\":\"a\\u0000b\"}", false, -EINVAL, "'name'" },
        };
        char err[512];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_t *b = json_loads(cases[i].body, JSON_ALLOW_NUL, NULL);
                int r;

                assert_non_null(b);
                err[0] = '\0';
                r = defend_suppression_check(b, cases[i].create, 1700000000, err, sizeof(err));
                json_decref(b);
                if (r != cases[i].want || (cases[i].words && !strstr(err, cases[i].words)))
                        fail_msg("case %zu: got %d '%s'", i, r, err);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_alert_check),
                cmocka_unit_test(test_batch_parse),
                cmocka_unit_test(test_time_parse),
                cmocka_unit_test(test_levels),
                cmocka_unit_test(test_bus),
                cmocka_unit_test(test_glob_match),
                cmocka_unit_test(test_glob_check),
                cmocka_unit_test(test_suppression_check),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
