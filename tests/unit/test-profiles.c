/* Unit tests of manage's configuration profiles as pure code: documents of
 * each type accepted with their canonical settings, a table of bad documents
 * refused with the field's path and reason (a Sigma rule with the rule's own
 * error), and the merge of the profiles assigned to one device: settings
 * that agree are delivered, settings that differ are held and put every
 * profile that sets them in conflict, other settings of those profiles still
 * delivered. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "server/manage/profiles.h"

#define RULE "title: Curl to a paste site\\nid: 9d1c7a50-52f4-4a9c-9d0e-6b1b1a7c0a11\\nlogsource:\\n" \
             "  product: linux\\n  category: process_creation\\ndetection:\\n  sel:\\n" \
             "    Image|endswith: '/curl'\\n    CommandLine|contains: 'paste.example'\\n" \
             "  condition: sel\\nlevel: high\\n"

static struct profile_doc *parse_ok(const char *text)
{
        struct profile_doc *p = NULL;
        char err[512] = "";
        int r = profile_doc_parse(text, strlen(text), &p, err, sizeof(err));

        if (r != 0)
                fail_msg("refused: %s", err);
        return p;
}

static void test_types(void **state)
{
        struct profile_doc *p;
        char *s;

        (void)state;
        p = parse_ok("{\"name\": \"TD on\", \"type\": \"threat_defense\", \"settings\": {\"enabled\": true},"
                     " \"assignments\": {\"include\": [\"all_devices\"]}}");
        assert_int_equal(p->type, PROFILE_THREAT_DEFENSE);
        assert_string_equal(p->name, "TD on");
        assert_non_null(p->assignments);
        assert_true(profile_type_needs_security_admin(p->type));
        profile_doc_free(p);

        p = parse_ok("{\"name\": \"Fast\", \"type\": \"sensor_settings\", \"settings\": {"
                     "\"heartbeat_interval_seconds\": 10, \"rule_packs\": [\"linux/process_creation\"],"
                     " \"extra_rules\": [\"" RULE "\"]}}");
        assert_int_equal(p->type, PROFILE_SENSOR_SETTINGS);
        assert_false(profile_type_needs_security_admin(p->type));
        assert_null(p->assignments);
        s = json_dumps(p->settings, JSON_COMPACT | JSON_SORT_KEYS);
        assert_non_null(strstr(s, "\"heartbeat_interval_seconds\":10"));
        assert_non_null(strstr(s, "\"rule_packs\":[\"linux/process_creation\"]"));
        assert_null(strstr(s, "alert_upload_delay_ms"));
        free(s);
        profile_doc_free(p);

        /* audit_only filled in */
        p = parse_ok("{\"name\": \"Block\", \"type\": \"network_protection\", \"settings\": {\"block\": "
                     "[\"203.0.113.7\", \"bad.example\"]}}");
        s = json_dumps(p->settings, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(s, "{\"audit_only\":false,\"block\":[\"203.0.113.7\",\"bad.example\"]}");
        free(s);
        profile_doc_free(p);
}

static void test_refused(void **state)
{
        static const struct {
                const char *doc, *err;
        } cases[] = {
                { "[]", "(document): must be a JSON object" },
                { "{\"type\": \"threat_defense\", \"settings\": {\"enabled\": true}}", "name: is required" },
                { "{\"name\": \"x\", \"type\": \"firewall\", \"settings\": {}}", "type: is required: threat_defense" },
                { "{\"name\": \"x\", \"type\": \"threat_defense\", \"settings\": {\"enabled\": true}, \"owner\": 1}",
                  "owner: unknown field" },
                { "{\"name\": \"x\", \"type\": \"threat_defense\"}", "settings: is required" },
                { "{\"name\": \"x\", \"type\": \"threat_defense\", \"settings\": {\"enabled\": 1}}",
                  "settings.enabled: is required: true" },
                { "{\"name\": \"x\", \"type\": \"threat_defense\", \"settings\": {\"enabled\": true, \"block\": []}}",
                  "settings.block: unknown field" },
                { "{\"name\": \"x\", \"type\": \"sensor_settings\", \"settings\": {}}", "settings: sets nothing" },
                { "{\"name\": \"x\", \"type\": \"sensor_settings\", \"settings\": {\"heartbeat_interval_seconds\": 1}}",
                  "settings.heartbeat_interval_seconds: must be a whole number from 5 to 86400" },
                { "{\"name\": \"x\", \"type\": \"sensor_settings\", \"settings\": {\"alert_upload_delay_ms\": -1}}",
                  "settings.alert_upload_delay_ms: must be a whole number from 0 to 60000" },
                { "{\"name\": \"x\", \"type\": \"sensor_settings\", \"settings\": {\"rule_packs\": [\"../etc\"]}}",
                  "settings.rule_packs[0]: must name a folder" },
                { "{\"name\": \"x\", \"type\": \"sensor_settings\", \"settings\": {\"rule_packs\": [\"linux/a\", "
                  "\"linux/a\"]}}", "settings.rule_packs[1]: repeats \"linux/a\"" },
                { "{\"name\": \"x\", \"type\": \"sensor_settings\", \"settings\": {\"extra_rules\": [\"" RULE "\", "
                  "\"title: t\\nlogsource:\\n  product: linux\\n  category: process_creation\\ndetection:\\n  sel:\\n"
                  "    Image|nosuchmod: x\\n  condition: sel\\n\"]}}", "settings.extra_rules[1]: line " },
                { "{\"name\": \"x\", \"type\": \"sensor_settings\", \"settings\": {\"extra_rules\": [\"title: t\\n"
                  "logsource:\\n  product: windows\\n  category: process_creation\\ndetection:\\n  sel:\\n"
                  "    Image: x\\n  condition: sel\\n\"]}}", "settings.extra_rules[0]: not a rule for this agent's" },
                { "{\"name\": \"x\", \"type\": \"sensor_settings\", \"settings\": {\"extra_rules\": [1]}}",
                  "settings.extra_rules[0]: must be the YAML text of one Sigma rule" },
                { "{\"name\": \"x\", \"type\": \"network_protection\", \"settings\": {}}", "settings.block: is required" },
                { "{\"name\": \"x\", \"type\": \"network_protection\", \"settings\": {\"block\": [\"a b\"]}}",
                  "settings.block[0]: must be an address" },
                { "{\"name\": \"x\", \"type\": \"network_protection\", \"settings\": {\"block\": [], "
                  "\"audit_only\": \"yes\"}}", "settings.audit_only: must be true or false" },
                { "{\"name\": \"x\", \"type\": \"network_protection\", \"settings\": {\"block\": []}, "
                  "\"assignments\": []}", "assignments: must be an object" },
                { "{\"name\": \"x\", \"name\": \"y\"}", "not JSON" },
        };
        struct profile_doc *p;
        char err[512];

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                p = NULL;
                err[0] = '\0';
                assert_int_equal(profile_doc_parse(cases[i].doc, strlen(cases[i].doc), &p, err, sizeof(err)),
                                 -EINVAL);
                assert_null(p);
                if (!strstr(err, cases[i].err))
                        fail_msg("case %zu: '%s' does not say '%s'", i, err, cases[i].err);
        }
        assert_int_equal(profile_doc_parse("{}", PROFILES_DOCUMENT_MAX + 1, &p, err, sizeof(err)), -E2BIG);
}

static json_t *J(const char *text)
{
        json_t *j = json_loads(text, 0, NULL);

        assert_non_null(j);
        return j;
}

static void test_merge(void **state)
{
        json_t *a = J("{\"heartbeat_interval_seconds\": 30, \"rule_packs\": [\"linux/process_creation\"]}");
        json_t *b = J("{\"heartbeat_interval_seconds\": 60, \"alert_upload_delay_ms\": 0}");
        json_t *c = J("{\"heartbeat_interval_seconds\": 30}");
        json_t *n = J("{\"block\": [\"203.0.113.7\"], \"audit_only\": false}");
        json_t *t = J("{\"enabled\": true}");
        struct profile_merge_in in[] = { { PROFILE_SENSOR_SETTINGS, a }, { PROFILE_NETWORK_PROTECTION, n },
                                         { PROFILE_SENSOR_SETTINGS, c }, { PROFILE_THREAT_DEFENSE, t },
                                         { PROFILE_SENSOR_SETTINGS, b } };
        bool conflict[5];
        json_t *settings, *held;
        char *s;

        (void)state;
        /* a and c agree: no conflict */
        assert_int_equal(profiles_merge(in, 4, &settings, &held, conflict), 0);
        assert_int_equal(json_array_size(held), 0);
        for (int i = 0; i < 4; i++)
                assert_false(conflict[i]);
        s = json_dumps(settings, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(s, "{\"network_protection\":{\"audit_only\":false,\"block\":[\"203.0.113.7\"]},"
                               "\"sensor_settings\":{\"heartbeat_interval_seconds\":30,\"rule_packs\":"
                               "[\"linux/process_creation\"]},\"threat_defense\":{\"enabled\":true}}");
        free(s);
        json_decref(settings);
        json_decref(held);

        /* b differs on the heartbeat: a, c and b in conflict, the rest delivered */
        assert_int_equal(profiles_merge(in, 5, &settings, &held, conflict), 0);
        assert_true(conflict[0]);
        assert_false(conflict[1]);
        assert_true(conflict[2]);
        assert_false(conflict[3]);
        assert_true(conflict[4]);
        assert_int_equal(json_array_size(held), 1);
        assert_string_equal(json_string_value(json_array_get(held, 0)), "sensor_settings.heartbeat_interval_seconds");
        s = json_dumps(json_object_get(settings, "sensor_settings"), JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(s, "{\"alert_upload_delay_ms\":0,\"rule_packs\":[\"linux/process_creation\"]}");
        free(s);
        json_decref(settings);
        json_decref(held);

        /* no profile: nothing */
        assert_int_equal(profiles_merge(in, 0, &settings, &held, conflict), 0);
        assert_int_equal(json_object_size(settings), 0);
        json_decref(settings);
        json_decref(held);
        json_decref(a);
        json_decref(b);
        json_decref(c);
        json_decref(n);
        json_decref(t);
}

/* Lists are one setting: two different block lists conflict. */
static void test_merge_lists(void **state)
{
        json_t *x = J("{\"block\": [\"203.0.113.7\"], \"audit_only\": false}");
        json_t *y = J("{\"block\": [\"203.0.113.8\"], \"audit_only\": false}");
        struct profile_merge_in in[] = { { PROFILE_NETWORK_PROTECTION, x }, { PROFILE_NETWORK_PROTECTION, y } };
        bool conflict[2];
        json_t *settings, *held;

        (void)state;
        assert_int_equal(profiles_merge(in, 2, &settings, &held, conflict), 0);
        assert_true(conflict[0] && conflict[1]);
        assert_string_equal(json_string_value(json_array_get(held, 0)), "network_protection.block");
        assert_true(json_is_false(json_object_get(json_object_get(settings, "network_protection"), "audit_only")));
        assert_null(json_object_get(json_object_get(settings, "network_protection"), "block"));
        json_decref(settings);
        json_decref(held);
        json_decref(x);
        json_decref(y);
}

static void test_names(void **state)
{
        enum profile_type t;

        (void)state;
        assert_int_equal(profile_type_parse("network_protection", &t), 0);
        assert_int_equal(t, PROFILE_NETWORK_PROTECTION);
        assert_int_equal(profile_type_parse("Network_protection", &t), -EINVAL);
        assert_string_equal(profile_type_name(PROFILE_SENSOR_SETTINGS), "sensor_settings");
        assert_string_equal(profile_status_name(PROFILE_CONFLICT), "conflict");
        assert_string_equal(profile_status_name((enum profile_status)9), "");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_types),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_merge),
                cmocka_unit_test(test_merge_lists),
                cmocka_unit_test(test_names),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
