/* Unit tests of the agent's checks of what the server sends for
 * configuration profiles: a whole configuration read with every setting,
 * a table of bad ones refused with a message, and the rules bundle (folder
 * names only, no way out of the rules folder). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "agent/src/config.h"

#define V "\"version\": \"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\""

static int check(const char *text, struct agent_config_doc *d, char *err, size_t size)
{
        json_t *j = json_loads(text, 0, NULL);
        int r;

        assert_non_null(j);
        r = agent_config_check(j, d, err, size);
        json_decref(j);
        return r;
}

static void test_whole(void **state)
{
        struct agent_config_doc d;
        char err[256] = "";

        (void)state;
        assert_int_equal(check("{" V ", \"settings\": {\"threat_defense\": {\"enabled\": false}, "
                               "\"sensor_settings\": {\"heartbeat_interval_seconds\": 30, \"alert_upload_delay_ms\": 0}, "
                               "\"network_protection\": {\"block\": [\"203.0.113.9\"]}}, "
                               "\"held\": [\"sensor_settings.rule_packs\"], "
                               "\"profiles\": [{\"profile_id\": \"p1\", \"version\": 2, \"type\": \"sensor_settings\", "
                               "\"conflict\": true}, {\"profile_id\": \"p2\", \"version\": 1, \"type\": "
                               "\"threat_defense\", \"conflict\": false}], "
                               "\"rules\": {\"bundle\": \"{}\", \"signature\": \"AAAA\", \"certificate\": \"pem\"}}",
                               &d, err, sizeof(err)), 0);
        assert_int_equal(d.td_enabled, 0);
        assert_int_equal(d.heartbeat_s, 30);
        assert_int_equal(d.linger_ms, 0);
        assert_non_null(d.netprotect);
        assert_int_equal(d.n_profiles, 2);
        assert_true(d.profiles[0].conflict);
        assert_int_equal(d.profiles[0].type, 2);
        assert_int_equal(d.profiles[1].type, 1);
        assert_string_equal(d.bundle, "{}");
        agent_config_doc_release(&d);

        /* nothing set: the defaults */
        assert_int_equal(check("{" V ", \"settings\": {}, \"held\": [], \"profiles\": []}", &d, err, sizeof(err)), 0);
        assert_int_equal(d.td_enabled, -1);
        assert_int_equal(d.heartbeat_s, 0);
        assert_int_equal(d.linger_ms, -1);
        assert_null(d.netprotect);
        assert_null(d.bundle);
        agent_config_doc_release(&d);
}

static void test_refused(void **state)
{
        static const struct {
                const char *text, *err;
        } cases[] = {
                { "[]", "not a JSON object" },
                { "{\"version\": \"abc\", \"settings\": {}, \"held\": [], \"profiles\": []}", "64 hex digits" },
                { "{" V ", \"held\": [], \"profiles\": []}", "'settings' is not an object" },
                { "{" V ", \"settings\": {}, \"profiles\": []}", "'held' is not a list" },
                { "{" V ", \"settings\": {}, \"held\": [1], \"profiles\": []}", "not a setting's name" },
                { "{" V ", \"settings\": {}, \"held\": []}", "'profiles' is not a list" },
                { "{" V ", \"settings\": {}, \"held\": [], \"profiles\": [{\"profile_id\": 1}]}", "profile entry" },
                { "{" V ", \"settings\": {\"threat_defense\": {\"enabled\": 1}}, \"held\": [], \"profiles\": []}",
                  "enabled is not true or false" },
                { "{" V ", \"settings\": {\"sensor_settings\": {\"heartbeat_interval_seconds\": 1}}, \"held\": [], "
                  "\"profiles\": []}", "heartbeat_interval_seconds is not a number from 5 to 86400" },
                { "{" V ", \"settings\": {\"sensor_settings\": {\"alert_upload_delay_ms\": 60001}}, \"held\": [], "
                  "\"profiles\": []}", "alert_upload_delay_ms" },
                { "{" V ", \"settings\": {\"network_protection\": []}, \"held\": [], \"profiles\": []}",
                  "settings are not objects" },
                { "{" V ", \"settings\": {}, \"held\": [], \"profiles\": [], \"rules\": {\"bundle\": \"{}\"}}",
                  "'rules' is not {bundle, signature, certificate}" },
        };
        struct agent_config_doc d;
        char err[256];

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                err[0] = '\0';
                assert_int_equal(check(cases[i].text, &d, err, sizeof(err)), -EINVAL);
                if (!strstr(err, cases[i].err))
                        fail_msg("case %zu: '%s' does not say '%s'", i, err, cases[i].err);
        }
}

static void test_bundle(void **state)
{
        static const char *const bad[] = {
                "{\"rule_packs\": [\"../etc\"]}", "{\"rule_packs\": [\"/linux/x\"]}", "{\"rule_packs\": [\"linux\"]}",
                "{\"rule_packs\": [\"linux//x\"]}", "{\"rule_packs\": [\"Linux/X\"]}", "{\"rule_packs\": \"linux/x\"}",
                "{\"extra_rules\": [\"\"]}", "{\"extra_rules\": [1]}", "[]", "not json",
        };
        const char *good = "{\"rule_packs\": [\"linux/process_creation\", \"linux/a-b/c_d\"], "
                           "\"extra_rules\": [\"title: x\\n\"]}";
        json_t *b = NULL;
        char err[256];

        (void)state;
        assert_int_equal(agent_config_bundle_parse(good, strlen(good), &b, err, sizeof(err)), 0);
        assert_int_equal(json_array_size(json_object_get(b, "rule_packs")), 2);
        json_decref(b);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                b = NULL;
                if (agent_config_bundle_parse(bad[i], strlen(bad[i]), &b, err, sizeof(err)) != -EINVAL)
                        fail_msg("bundle %zu accepted: %s", i, bad[i]);
                assert_null(b);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_whole),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_bundle),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
