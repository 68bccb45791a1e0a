/* Unit tests of the access policy engine: named locations (ranges, host
 * bits, bounds), policy documents (every refusal with its field path, the
 * device filter's column), which policies apply (users and groups,
 * exclusion, applications by host and path prefix, platforms, locations,
 * the device filter), grants, the six result names and the decision
 * (200 / 401 / 403, report-only never enforced). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "server/access/policy.h"

static const char *const kiosk_tags[] = { "kiosk" };

static const struct manage_device_facts laptop = {
        .id = "d1", .platform = "linux", .os_name = "Debian GNU/Linux", .os_version = "12", .name = "lap-1",
        .architecture = "x86_64", .kernel = "6.1.0-13-amd64", .tags = kiosk_tags, .n_tags = 1,
};

static const char *const eng_groups[] = { "g-eng" };

static struct access_location locs[2];

static struct access_request request(void)
{
        struct access_request r = {
                .user_id = "u-1", .user_upn = "Alice@Example.com", .groups = eng_groups, .n_groups = 1,
                .facts = &laptop, .enrolled = true, .compliant = true,
                .method = "GET", .host = "wiki.example.com", .path = "/docs/a",
        };

        assert_int_equal(access_ip_parse("10.1.2.3", &r.client_ip), 0);
        return r;
}

static struct access_policy *parse_ok(const char *doc)
{
        struct access_policy *p = NULL;
        char err[512] = "";

        if (access_policy_parse(doc, strlen(doc), locs, 2, &p, err, sizeof(err)) != 0)
                fail_msg("'%s' refused: %s", doc, err);
        return p;
}

static int setup(void **state)
{
        static const char *const docs[] = {
                "{\"id\": \"office\", \"ranges\": [\"10.0.0.0/8\", \"2001:db8::/32\"], \"trusted\": true}",
                "{\"id\": \"cafe\", \"ranges\": [\"192.0.2.7\"]}",
        };
        char err[256] = "";

        (void)state;
        for (size_t i = 0; i < 2; i++)
                if (access_location_parse(docs[i], strlen(docs[i]), &locs[i], err, sizeof(err)) != 0)
                        fail_msg("location %zu refused: %s", i, err);
        return 0;
}

static void test_locations(void **state)
{
        static const struct { const char *doc; const char *err; } bad[] = {
                { "{\"id\": \"x\", \"ranges\": [\"10.0.0.1/8\"]}", "ranges[0]: '10.0.0.1/8' has host bits set past /8" },
                { "{\"id\": \"x\", \"ranges\": [\"10.0.0.0/33\"]}", "ranges[0]: '10.0.0.0/33': the prefix length" },
                { "{\"id\": \"x\", \"ranges\": [\"nope\"]}", "ranges[0]: 'nope' is not an address range" },
                { "{\"id\": \"x\", \"ranges\": []}", "ranges: required" },
                { "{\"id\": \"all\", \"ranges\": [\"10.0.0.0/8\"]}", "id: required" },
                { "{\"id\": \"x\", \"ranges\": [\"10.0.0.0/8\"], \"trusted\": 1}", "trusted: must be" },
                { "{\"id\": \"x\", \"ranges\": [\"10.0.0.0/8\"], \"color\": 1}", "color: unknown field" },
                { "[1]", "(document): must be a JSON object" },
        };
        struct access_location l;
        char err[256];

        (void)state;
        assert_int_equal(locs[0].n_ranges, 2);
        assert_true(locs[0].trusted);
        assert_int_equal(locs[1].ranges[0].prefix, 32);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                err[0] = '\0';
                assert_int_equal(access_location_parse(bad[i].doc, strlen(bad[i].doc), &l, err, sizeof(err)),
                                 -EINVAL);
                if (strncmp(err, bad[i].err, strlen(bad[i].err)) != 0)
                        fail_msg("'%s': got '%s', want '%s...'", bad[i].doc, err, bad[i].err);
        }
}

static void test_policy_errors(void **state)
{
        static const struct { const char *doc; int r; const char *err; } bad[] = {
                { "{\"state\": \"enabled\"}", -EINVAL, "name: required" },
                { "{\"name\": \"p\", \"state\": \"on\"}", -EINVAL, "state: required: enabled, disabled or report_only" },
                { "{\"name\": \"p\", \"state\": \"enabled\", \"users\": {\"include\": []}, "
                  "\"applications\": {\"include\": [\"all\"]}, \"grant\": {\"block\": true}}", -EINVAL,
                  "users.include: empty" },
                { "{\"name\": \"p\", \"state\": \"enabled\", \"users\": {\"include\": [\"all\"], \"exclude\": [\"all\"]}, "
                  "\"applications\": {\"include\": [\"all\"]}, \"grant\": {\"block\": true}}", -EINVAL,
                  "users.exclude[0]: \"all\" is not allowed here" },
                { "{\"name\": \"p\", \"state\": \"enabled\", \"users\": {\"include\": [\"all\"]}, "
                  "\"applications\": {\"include\": [{\"name\": \"w\", \"host\": \"a:80\"}]}, \"grant\": {\"block\": true}}",
                  -EINVAL, "applications.include[0].host: required" },
                { "{\"name\": \"p\", \"state\": \"enabled\", \"users\": {\"include\": [\"all\"]}, "
                  "\"applications\": {\"include\": [{\"name\": \"w\", \"host\": \"a\", \"path_prefix\": \"x\"}]}, "
                  "\"grant\": {\"block\": true}}", -EINVAL, "applications.include[0].path_prefix: must be a path" },
                { "{\"name\": \"p\", \"state\": \"enabled\", \"users\": {\"include\": [\"all\"]}, "
                  "\"applications\": {\"include\": [\"all\"]}, \"conditions\": {\"platforms\": [\"windows\"]}, "
                  "\"grant\": {\"block\": true}}", -EINVAL, "conditions.platforms[0]: unknown platform" },
                { "{\"name\": \"p\", \"state\": \"enabled\", \"users\": {\"include\": [\"all\"]}, "
                  "\"applications\": {\"include\": [\"all\"]}, \"conditions\": {\"locations\": {\"include\": [\"mars\"]}}, "
                  "\"grant\": {\"block\": true}}", -EINVAL, "conditions.locations.include[0]: no named location 'mars'" },
                { "{\"name\": \"p\", \"state\": \"enabled\", \"users\": {\"include\": [\"all\"]}, "
                  "\"applications\": {\"include\": [\"all\"]}, \"conditions\": {\"device_filter\": \"device.tags has 1\"}, "
                  "\"grant\": {\"block\": true}}", -EINVAL, "conditions.device_filter: at column 13: " },
                { "{\"name\": \"p\", \"state\": \"enabled\", \"users\": {\"include\": [\"all\"]}, "
                  "\"applications\": {\"include\": [\"all\"]}, \"grant\": {\"block\": true, \"controls\": [\"compliant_device\"]}}",
                  -EINVAL, "grant: block excludes controls" },
                { "{\"name\": \"p\", \"state\": \"enabled\", \"users\": {\"include\": [\"all\"]}, "
                  "\"applications\": {\"include\": [\"all\"]}, \"grant\": {\"controls\": [\"mfa\"]}}", -EINVAL,
                  "grant.controls[0]: must be compliant_device or enrolled_device" },
                { "{\"name\": \"p\", \"state\": \"enabled\", \"users\": {\"include\": [\"all\"]}, "
                  "\"applications\": {\"include\": [\"all\"]}, \"grant\": {\"controls\": [\"compliant_device\"], "
                  "\"operator\": \"xor\"}}", -EINVAL, "grant.operator: must be" },
                { "{\"name\": \"p\", \"state\": \"enabled\", \"users\": {\"include\": [\"all\"], \"groups\": []}}", -EINVAL,
                  "users.groups: unknown field" },
                { "{\"name\": \"p\", \"name\": \"q\"}", -EINVAL, "(document): not JSON" },
        };
        struct access_policy *p = NULL;
        char err[512];

        (void)state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                err[0] = '\0';
                assert_int_equal(access_policy_parse(bad[i].doc, strlen(bad[i].doc), locs, 2, &p, err, sizeof(err)),
                                 bad[i].r);
                if (strncmp(err, bad[i].err, strlen(bad[i].err)) != 0)
                        fail_msg("case %zu: got '%s', want '%s...'", i, err, bad[i].err);
        }
        assert_null(p);
}

static void test_bounds(void **state)
{
        size_t cap = ACCESS_DOC_MAX + 64, n = 0;
        char *doc = malloc(cap), err[256] = "";
        struct access_policy *p = NULL;

        (void)state;
        assert_non_null(doc);
        n += (size_t)snprintf(doc, cap, "{\"name\": \"p\", \"state\": \"enabled\", \"users\": {\"include\": [");
        for (int i = 0; i <= ACCESS_USERS_MAX; i++)
                n += (size_t)snprintf(doc + n, cap - n, "%s\"u-%d\"", i ? "," : "", i);
        n += (size_t)snprintf(doc + n, cap - n, "]}}");
        assert_int_equal(access_policy_parse(doc, n, locs, 2, &p, err, sizeof(err)), -E2BIG);
        assert_string_equal(err, "users.include: more than 256 entries");
        assert_int_equal(access_policy_parse(doc, ACCESS_DOC_MAX + 1, locs, 2, &p, err, sizeof(err)), -E2BIG);
        assert_null(p);
        free(doc);
}

static enum access_result eval_doc(const char *doc, const struct access_request *req, enum access_control *c)
{
        struct access_policy *p = parse_ok(doc);
        enum access_result r = access_policy_eval(p, req, c);

        access_policy_free(p);
        return r;
}

#define POLICY(users, apps, cond, grant)                                                                     \
        "{\"name\": \"p\", \"state\": \"enabled\", \"users\": " users ", \"applications\": " apps           \
        ", \"conditions\": " cond ", \"grant\": " grant "}"
#define ALL_USERS "{\"include\": [\"all\"]}"
#define ALL_APPS "{\"include\": [\"all\"]}"
#define NO_COND "{}"
#define COMPLIANT "{\"controls\": [\"compliant_device\"]}"

static void test_applies(void **state)
{
        static const struct { const char *doc; enum access_result want; } cases[] = {
                { POLICY(ALL_USERS, ALL_APPS, NO_COND, COMPLIANT), ACCESS_RESULT_SUCCESS },
                { POLICY("{\"include\": [\"g-eng\"]}", ALL_APPS, NO_COND, "{\"block\": true}"), ACCESS_RESULT_FAILURE },
                { POLICY("{\"include\": [\"alice@example.com\"]}", ALL_APPS, NO_COND, "{\"block\": true}"),
                  ACCESS_RESULT_FAILURE },
                { POLICY("{\"include\": [\"g-sales\"]}", ALL_APPS, NO_COND, "{\"block\": true}"),
                  ACCESS_RESULT_NOT_APPLIED },
                { POLICY("{\"include\": [\"all\"], \"exclude\": [\"u-1\"]}", ALL_APPS, NO_COND, "{\"block\": true}"),
                  ACCESS_RESULT_NOT_APPLIED },
                { POLICY(ALL_USERS, "{\"include\": [{\"name\": \"wiki\", \"host\": \"WIKI.example.com\", "
                                    "\"path_prefix\": \"/docs\"}]}", NO_COND, "{\"block\": true}"),
                  ACCESS_RESULT_FAILURE },
                { POLICY(ALL_USERS, "{\"include\": [{\"name\": \"wiki\", \"host\": \"wiki.example.com\", "
                                    "\"path_prefix\": \"/admin\"}]}", NO_COND, "{\"block\": true}"),
                  ACCESS_RESULT_NOT_APPLIED },
                { POLICY(ALL_USERS, ALL_APPS, "{\"platforms\": [\"linux\"]}", "{\"block\": true}"),
                  ACCESS_RESULT_FAILURE },
                { POLICY(ALL_USERS, ALL_APPS, "{\"locations\": {\"include\": [\"trusted\"]}}", "{\"block\": true}"),
                  ACCESS_RESULT_FAILURE },
                { POLICY(ALL_USERS, ALL_APPS, "{\"locations\": {\"include\": [\"cafe\"]}}", "{\"block\": true}"),
                  ACCESS_RESULT_NOT_APPLIED },
                { POLICY(ALL_USERS, ALL_APPS, "{\"locations\": {\"include\": [\"all\"], \"exclude\": [\"office\"]}}",
                         "{\"block\": true}"), ACCESS_RESULT_NOT_APPLIED },
                { POLICY(ALL_USERS, ALL_APPS, "{\"device_filter\": \"device.tags contains \\\"kiosk\\\"\"}",
                         "{\"block\": true}"), ACCESS_RESULT_FAILURE },
                { POLICY(ALL_USERS, ALL_APPS, "{\"device_filter\": \"device.os_version < \\\"12\\\"\"}",
                         "{\"block\": true}"), ACCESS_RESULT_NOT_APPLIED },
                { "{\"name\": \"p\", \"state\": \"disabled\", \"users\": " ALL_USERS ", \"applications\": " ALL_APPS
                  ", \"grant\": {\"block\": true}}", ACCESS_RESULT_NOT_APPLIED },
                { "{\"name\": \"p\", \"state\": \"report_only\", \"users\": " ALL_USERS ", \"applications\": " ALL_APPS
                  ", \"grant\": {\"block\": true}}", ACCESS_RESULT_REPORT_ONLY_FAILURE },
                { "{\"name\": \"p\", \"state\": \"report_only\", \"users\": " ALL_USERS ", \"applications\": " ALL_APPS
                  ", \"grant\": " COMPLIANT "}", ACCESS_RESULT_REPORT_ONLY_SUCCESS },
                { "{\"name\": \"p\", \"state\": \"report_only\", \"users\": {\"include\": [\"nobody\"]}, "
                  "\"applications\": " ALL_APPS ", \"grant\": " COMPLIANT "}", ACCESS_RESULT_REPORT_ONLY_NOT_APPLIED },
        };
        struct access_request req = request();

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                enum access_result r = eval_doc(cases[i].doc, &req, NULL);

                if (r != cases[i].want)
                        fail_msg("case %zu: got %s, want %s", i, access_result_name(r),
                                 access_result_name(cases[i].want));
        }
        /* a device of another platform */
        {
                struct manage_device_facts other = laptop;

                other.platform = "freebsd";
                req.facts = &other;
                assert_int_equal(eval_doc(POLICY(ALL_USERS, ALL_APPS, "{\"platforms\": [\"linux\"]}",
                                                 "{\"block\": true}"), &req, NULL), ACCESS_RESULT_NOT_APPLIED);
                req.facts = &laptop;
        }
        /* IPv6 in the office range, unknown address outside every named one */
        assert_int_equal(access_ip_parse("2001:db8::5", &req.client_ip), 0);
        assert_int_equal(eval_doc(POLICY(ALL_USERS, ALL_APPS, "{\"locations\": {\"include\": [\"office\"]}}",
                                         "{\"block\": true}"), &req, NULL), ACCESS_RESULT_FAILURE);
        req.client_ip.family = 0;
        assert_int_equal(eval_doc(POLICY(ALL_USERS, ALL_APPS, "{\"locations\": {\"include\": [\"office\"]}}",
                                         "{\"block\": true}"), &req, NULL), ACCESS_RESULT_NOT_APPLIED);
}

static void test_grants(void **state)
{
        static const char *const both_and = POLICY(ALL_USERS, ALL_APPS, NO_COND,
                "{\"controls\": [\"compliant_device\", \"enrolled_device\"], \"operator\": \"and\"}");
        static const char *const both_or = POLICY(ALL_USERS, ALL_APPS, NO_COND,
                "{\"controls\": [\"compliant_device\", \"enrolled_device\"], \"operator\": \"or\"}");
        struct access_request req = request();
        enum access_control c;

        (void)state;
        assert_int_equal(eval_doc(both_and, &req, &c), ACCESS_RESULT_SUCCESS);
        assert_int_equal(c, ACCESS_CONTROL_NONE);
        req.compliant = false;
        assert_int_equal(eval_doc(both_and, &req, &c), ACCESS_RESULT_FAILURE);
        assert_string_equal(access_control_name(c), "compliant_device");
        assert_int_equal(eval_doc(both_or, &req, &c), ACCESS_RESULT_SUCCESS);
        req.enrolled = false;
        assert_int_equal(eval_doc(both_or, &req, &c), ACCESS_RESULT_FAILURE);
        req.compliant = true;
        assert_int_equal(eval_doc(both_and, &req, &c), ACCESS_RESULT_FAILURE);
        assert_int_equal(c, ACCESS_CONTROL_ENROLLED_DEVICE);
        req.facts = NULL;
        assert_int_equal(eval_doc(both_or, &req, &c), ACCESS_RESULT_FAILURE);
        assert_int_equal(c, ACCESS_CONTROL_DEVICE_IDENTITY);
}

static void test_decision(void **state)
{
        struct access_policy *p[3];
        enum access_result res[3];
        struct access_request req = request();
        struct access_decision d;

        (void)state;
        p[0] = parse_ok("{\"name\": \"watch\", \"state\": \"report_only\", \"users\": " ALL_USERS
                        ", \"applications\": " ALL_APPS ", \"grant\": {\"block\": true}}");
        p[1] = parse_ok("{\"name\": \"eng needs compliant\", \"state\": \"enabled\", \"users\": "
                        "{\"include\": [\"g-eng\"]}, \"applications\": " ALL_APPS ", \"grant\": " COMPLIANT "}");
        p[2] = parse_ok("{\"name\": \"cafe blocked\", \"state\": \"enabled\", \"users\": " ALL_USERS
                        ", \"applications\": " ALL_APPS ", \"conditions\": {\"locations\": {\"include\": [\"cafe\"]}}, "
                        "\"grant\": {\"block\": true}}");
        assert_string_equal(access_policy_name(p[1]), "eng needs compliant");
        assert_int_equal(access_policy_state(p[0]), ACCESS_STATE_REPORT_ONLY);

        /* none applies but report-only: allowed */
        d = access_evaluate((const struct access_policy *const *)p, 3, &req, res);
        assert_int_equal(d.status, 200);
        assert_int_equal(d.policy, SIZE_MAX);
        assert_string_equal(access_result_name(res[0]), "report_only_failure");
        assert_string_equal(access_result_name(res[1]), "success");
        assert_string_equal(access_result_name(res[2]), "not_applied");

        req.compliant = false;
        d = access_evaluate((const struct access_policy *const *)p, 3, &req, res);
        assert_int_equal(d.status, 403);
        assert_int_equal(d.policy, 1);
        assert_int_equal(d.control, ACCESS_CONTROL_COMPLIANT_DEVICE);

        /* no device certificate: the policy needs one */
        req.facts = NULL;
        d = access_evaluate((const struct access_policy *const *)p, 3, &req, NULL);
        assert_int_equal(d.status, 401);
        assert_string_equal(access_control_name(d.control), "device_identity");

        /* no user: a policy for a group cannot be told */
        req.facts = &laptop;
        req.user_id = NULL;
        req.user_upn = "";
        d = access_evaluate((const struct access_policy *const *)p, 3, &req, NULL);
        assert_int_equal(d.status, 401);
        assert_int_equal(d.control, ACCESS_CONTROL_USER_IDENTITY);

        /* the first enforced failure decides: the cafe block */
        assert_int_equal(access_ip_parse("192.0.2.7", &req.client_ip), 0);
        d = access_evaluate((const struct access_policy *const *)p + 2, 1, &req, NULL);
        assert_int_equal(d.status, 403);
        assert_int_equal(d.control, ACCESS_CONTROL_BLOCK);

        /* no policies at all: allowed */
        d = access_evaluate(NULL, 0, &req, NULL);
        assert_int_equal(d.status, 200);
        for (size_t i = 0; i < 3; i++)
                access_policy_free(p[i]);
        assert_null(access_result_name(6));
        assert_string_equal(access_result_name(ACCESS_RESULT_REPORT_ONLY_NOT_APPLIED), "report_only_not_applied");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_locations),
                cmocka_unit_test(test_policy_errors),
                cmocka_unit_test(test_bounds),
                cmocka_unit_test(test_applies),
                cmocka_unit_test(test_grants),
                cmocka_unit_test(test_decision),
        };

        return cmocka_run_group_tests(tests, setup, NULL);
}
