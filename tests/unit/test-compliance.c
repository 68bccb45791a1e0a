/* Unit tests of manage's compliance engine: policy documents (the example of
 * docs/COMPLIANCE.md, defaults, canonical JSON, and a table of bad documents
 * refused with their field's path and reason), every setting's results, the
 * policy states with the grace period and the actions' due times on an
 * explicit clock, the connector's unresponsive path, and the device's state
 * (worst of its policies, the no-policy default, the validity period). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "server/manage/compliance.h"

#define HOUR 3600
#define DAY 86400
#define T0 1796000000   /* 2026-11-30T00:53:20Z, the tests' "now" */

static const char example[] =
        "{\"name\": \"Linux baseline\", \"description\": \"what every Linux device must hold\", \"platform\": \"linux\",\n"
        " \"settings\": {\"max_device_risk\": \"medium\", \"min_os_version\": \"12\", \"disk_encryption_required\": true,\n"
        "              \"firewall_required\": true, \"secure_boot_required\": false, \"sensor_healthy_required\": true,\n"
        "              \"max_exposure_level\": \"medium\"},\n"
        " \"actions\": [{\"type\": \"mark_noncompliant\", \"after_hours\": 0, \"grace_hours\": 24},\n"
        "             {\"type\": \"notify\", \"after_hours\": 1}, {\"type\": \"isolate\", \"after_hours\": 48}],\n"
        " \"assignments\": {\"include\": [\"all_devices\"], \"exclude\": []}}";

static struct compliance_policy *policy(const char *doc)
{
        struct compliance_policy *p = NULL;
        char err[512] = "";
        int r = compliance_policy_parse(doc, strlen(doc), &p, err, sizeof(err));

        if (r != 0)
                fail_msg("policy refused: %s", err);
        return p;
}

/* A device that passes the example policy at T0. */
static struct compliance_facts good_facts(void)
{
        return (struct compliance_facts){
                .platform = "linux", .risk = DEFEND_LEVEL_LOW, .risk_applicable = true,
                .inventory_at = T0 - HOUR, .os_version = "12", .disk_encryption = COMPLIANCE_FACT_YES,
                .firewall = COMPLIANCE_FACT_YES, .secure_boot = COMPLIANCE_FACT_YES,
                .sensor = COMPLIANCE_SENSOR_BPF, .last_heartbeat = T0 - 30,
                .exposure_available = true, .exposure = COMPLIANCE_EXPOSURE_LOW, .last_seen = T0 - 30,
        };
}

static const struct compliance_tenant tenant = COMPLIANCE_TENANT_DEFAULTS;

static char reason_buf[COMPLIANCE_DEVICE_REASON_MAX];

static const char *sreason(const struct compliance_result *r, int s)
{
        compliance_setting_reason(r, (enum compliance_setting)s, reason_buf, sizeof(reason_buf));
        return reason_buf;
}

static const char *preason(const struct compliance_result *r)
{
        compliance_result_reason(r, reason_buf, sizeof(reason_buf));
        return reason_buf;
}

static const char *dreason(const struct compliance_device_result *d)
{
        compliance_device_reason(d, reason_buf, sizeof(reason_buf));
        return reason_buf;
}

static void test_example(void **state)
{
        struct compliance_policy *p = policy(example);

        assert_string_equal(p->name, "Linux baseline");
        assert_string_equal(p->platform, "linux");
        assert_int_equal(p->max_device_risk, COMPLIANCE_MAX_RISK_MEDIUM);
        assert_int_equal(p->min_os_nparts, 1);
        assert_int_equal(p->min_os_parts[0], 12);
        assert_int_equal(p->max_exposure_level, COMPLIANCE_EXPOSURE_MEDIUM);
        assert_false(p->configured & (1u << COMPLIANCE_SETTING_SECURE_BOOT));
        assert_true(p->configured & (1u << COMPLIANCE_SETTING_FIREWALL));
        assert_int_equal(p->n_actions, 3);
        assert_int_equal(p->grace_hours, 24);
        assert_int_equal(p->actions[2].type, COMPLIANCE_ACTION_ISOLATE);
        assert_int_equal(p->actions[2].after_hours, 48);
        assert_true(json_is_array(json_object_get(p->assignments, "include")));
        assert_true(compliance_policy_needs_security_admin(p));
        compliance_policy_free(p);

        p = policy("{\"name\":\"n\",\"platform\":\"linux\",\"settings\":{\"max_device_risk\":\"clear\"},"
                   "\"actions\":[{\"type\":\"mark_noncompliant\"},{\"type\":\"notify\",\"after_hours\":2}]}");
        assert_false(compliance_policy_needs_security_admin(p));
        assert_null(p->assignments);
        assert_int_equal(p->grace_hours, 0);
        assert_string_equal(p->description, "");
        compliance_policy_free(p);
        compliance_policy_free(NULL);
}

static void test_canonical(void **state)
{
        /* the example with other key order, other spacing and every default spelled out */
        static const char same[] =
                "{\"assignments\":{\"exclude\":[],\"include\":[\"all_devices\"]},\"platform\":\"linux\","
                "\"actions\":[{\"grace_hours\":24,\"type\":\"mark_noncompliant\"},{\"after_hours\":1,\"type\":\"notify\"},"
                "{\"type\":\"isolate\",\"after_hours\":48}],\"name\":\"Linux baseline\","
                "\"description\":\"what every Linux device must hold\",\"settings\":{\"max_exposure_level\":\"medium\","
                "\"sensor_healthy_required\":true,\"firewall_required\":true,\"disk_encryption_required\":true,"
                "\"min_os_version\":\"12\",\"max_device_risk\":\"medium\"}}";
        struct compliance_policy *a = policy(example), *b = policy(example), *c = policy(same), *d;
        const char *ca = compliance_policy_canonical(a, NULL);
        size_t len;

        assert_string_equal(ca, compliance_policy_canonical(b, &len));
        assert_int_equal(len, strlen(ca));
        assert_string_equal(ca, compliance_policy_canonical(c, NULL));
        assert_string_equal(ca, "{\"actions\":[{\"after_hours\":0,\"grace_hours\":24,\"type\":\"mark_noncompliant\"},"
                                "{\"after_hours\":1,\"type\":\"notify\"},{\"after_hours\":48,\"type\":\"isolate\"}],"
                                "\"assignments\":{\"exclude\":[],\"include\":[\"all_devices\"]},"
                                "\"description\":\"what every Linux device must hold\",\"name\":\"Linux baseline\","
                                "\"platform\":\"linux\",\"settings\":{\"disk_encryption_required\":true,"
                                "\"firewall_required\":true,\"max_device_risk\":\"medium\",\"max_exposure_level\":"
                                "\"medium\",\"min_os_version\":\"12\",\"secure_boot_required\":false,"
                                "\"sensor_healthy_required\":true}}");
        /* the canonical form is a document that gives itself back */
        d = policy(ca);
        assert_string_equal(ca, compliance_policy_canonical(d, NULL));
        compliance_policy_free(d);
        /* a real change is a change */
        d = policy("{\"name\":\"Linux baseline\",\"platform\":\"linux\",\"settings\":{\"max_device_risk\":\"high\"},"
                   "\"actions\":[{\"type\":\"mark_noncompliant\"}]}");
        assert_string_not_equal(ca, compliance_policy_canonical(d, NULL));
        compliance_policy_free(d);
        d = policy("{\"name\":\"n\",\"platform\":\"linux\",\"settings\":{\"max_device_risk\":null,"
                   "\"firewall_required\":true},\"actions\":[{\"type\":\"mark_noncompliant\"}]}");
        assert_non_null(strstr(compliance_policy_canonical(d, NULL), "\"max_device_risk\":null"));
        compliance_policy_free(d);
        compliance_policy_free(a);
        compliance_policy_free(b);
        compliance_policy_free(c);
}

#define SETTINGS_OK "\"settings\":{\"max_device_risk\":\"medium\"}"
#define ACTIONS_OK "\"actions\":[{\"type\":\"mark_noncompliant\"}]"
#define HEAD "{\"name\":\"p\",\"platform\":\"linux\","
#define WITH_SETTINGS(s) HEAD "\"settings\":{" s "}," ACTIONS_OK "}"
#define WITH_ACTIONS(a) HEAD SETTINGS_OK ",\"actions\":[" a "]}"

static void test_bad_documents(void **state)
{
        static const struct {
                const char *doc, *err;
                int r;
        } cases[] = {
                { "", "(document): not valid JSON", -EINVAL },
                { "{\"name\":", "(document): not valid JSON", -EINVAL },
                { "[]", "(document): must be a JSON object", -EINVAL },
                { HEAD SETTINGS_OK "," ACTIONS_OK ",\"name\":\"q\"}", "(document): not valid JSON", -EINVAL },
                { HEAD SETTINGS_OK "," ACTIONS_OK ",\"owner\":\"x\"}",
                  "owner: unknown field; a policy has name,", -EINVAL },
                { "{\"platform\":\"linux\"," SETTINGS_OK "," ACTIONS_OK "}", "name: is required", -EINVAL },
                { "{\"name\":\"\",\"platform\":\"linux\"," SETTINGS_OK "," ACTIONS_OK "}",
                  "name: must be a non-empty", -EINVAL },
                { "{\"name\":7,\"platform\":\"linux\"," SETTINGS_OK "," ACTIONS_OK "}",
                  "name: must be a non-empty", -EINVAL },
                { "{\"name\":\"a\\u0001b\",\"platform\":\"linux\"," SETTINGS_OK "," ACTIONS_OK "}",
                  "name: must be", -EINVAL },
                { "{\"name\":\"a\\u0000b\",\"platform\":\"linux\"," SETTINGS_OK "," ACTIONS_OK "}",
                  "(document): not valid JSON", -EINVAL },
                { "{\"name\":\"p\",\"description\":[],\"platform\":\"linux\"," SETTINGS_OK "," ACTIONS_OK "}",
                  "description: must be a string", -EINVAL },
                { "{\"name\":\"p\"," SETTINGS_OK "," ACTIONS_OK "}", "platform: is required: linux", -EINVAL },
                { "{\"name\":\"p\",\"platform\":\"windows\"," SETTINGS_OK "," ACTIONS_OK "}",
                  "platform: must be one of linux", -EINVAL },
                { HEAD ACTIONS_OK "}", "settings: is required", -EINVAL },
                { HEAD "\"settings\":[]," ACTIONS_OK "}", "settings: must be an object", -EINVAL },
                { WITH_SETTINGS(""), "settings: must configure at least one setting", -EINVAL },
                { WITH_SETTINGS("\"firewall_required\":false"),
                  "settings: must configure at least one setting", -EINVAL },
                { WITH_SETTINGS("\"max_device_risk\":\"none\""),
                  "settings.max_device_risk: must be one of clear, low, medium, high", -EINVAL },
                { WITH_SETTINGS("\"max_device_risk\":\"informational\""),
                  "settings.max_device_risk: must be one of", -EINVAL },
                { WITH_SETTINGS("\"max_device_risk\":3"), "settings.max_device_risk: must be one of", -EINVAL },
                { WITH_SETTINGS("\"max_exposure_level\":\"critical\""),
                  "settings.max_exposure_level: must be one of none, low, medium, high", -EINVAL },
                { WITH_SETTINGS("\"min_os_version\":\"twelve\""),
                  "settings.min_os_version: must be a version", -EINVAL },
                { WITH_SETTINGS("\"min_os_version\":\"12.\""), "settings.min_os_version: must be a version", -EINVAL },
                { WITH_SETTINGS("\"min_os_version\":\"1.2.3.4.5\""),
                  "settings.min_os_version: must be a version", -EINVAL },
                { WITH_SETTINGS("\"min_os_version\":\"1234567890\""),
                  "settings.min_os_version: must be a version", -EINVAL },
                { WITH_SETTINGS("\"min_os_version\":12"), "settings.min_os_version: must be a version", -EINVAL },
                { WITH_SETTINGS("\"firewall_required\":\"yes\""),
                  "settings.firewall_required: must be true or false", -EINVAL },
                { WITH_SETTINGS("\"sensor_healthy_required\":1"),
                  "settings.sensor_healthy_required: must be true or false", -EINVAL },
                { WITH_SETTINGS("\"max_device_risk\":\"low\",\"antivirus_required\":true"),
                  "settings.antivirus_required: unknown field; settings has max_device_risk,", -EINVAL },
                { HEAD SETTINGS_OK "}", "actions: is required", -EINVAL },
                { HEAD SETTINGS_OK ",\"actions\":[]}", "actions: must be an array of 1 to 16 actions", -EINVAL },
                { HEAD SETTINGS_OK ",\"actions\":{}}", "actions: must be an array", -EINVAL },
                { WITH_ACTIONS("{\"type\":\"mark_noncompliant\"}" ",{\"type\":\"notify\"}" ",{\"type\":\"notify\"}"
                               ",{\"type\":\"notify\"}" ",{\"type\":\"notify\"}" ",{\"type\":\"notify\"}"
                               ",{\"type\":\"notify\"}" ",{\"type\":\"notify\"}" ",{\"type\":\"notify\"}"
                               ",{\"type\":\"notify\"}" ",{\"type\":\"notify\"}" ",{\"type\":\"notify\"}"
                               ",{\"type\":\"notify\"}" ",{\"type\":\"notify\"}" ",{\"type\":\"notify\"}"
                               ",{\"type\":\"notify\"}" ",{\"type\":\"notify\"}"),
                  "actions: must be an array of 1 to 16", -EINVAL },
                { WITH_ACTIONS("\"notify\""), "actions[0]: must be an object", -EINVAL },
                { WITH_ACTIONS("{\"after_hours\":1}"), "actions[0].type: is required", -EINVAL },
                { WITH_ACTIONS("{\"type\":\"notify\"}"),
                  "actions[0].type: the first action must be mark_noncompliant", -EINVAL },
                { WITH_ACTIONS("{\"type\":\"mark_noncompliant\"},{\"type\":\"wipe\"}"),
                  "actions[1].type: must be one of mark_noncompliant, notify, isolate", -EINVAL },
                { WITH_ACTIONS("{\"type\":\"mark_noncompliant\"},{\"type\":\"mark_noncompliant\"}"),
                  "actions[1].type: mark_noncompliant must be the first action, and only once", -EINVAL },
                { WITH_ACTIONS("{\"type\":\"mark_noncompliant\"},{\"type\":\"isolate\"},{\"type\":\"isolate\"}"),
                  "actions[2].type: isolate may appear only once", -EINVAL },
                { WITH_ACTIONS("{\"type\":\"mark_noncompliant\",\"grace_hours\":8761}"),
                  "actions[0].grace_hours: must be a whole number of hours from 0 to 8760", -EINVAL },
                { WITH_ACTIONS("{\"type\":\"mark_noncompliant\",\"grace_hours\":-1}"),
                  "actions[0].grace_hours: must be", -EINVAL },
                { WITH_ACTIONS("{\"type\":\"mark_noncompliant\",\"grace_hours\":2.5}"),
                  "actions[0].grace_hours: must be", -EINVAL },
                { WITH_ACTIONS("{\"type\":\"mark_noncompliant\",\"after_hours\":3}"),
                  "actions[0].after_hours: must be 0 for mark_noncompliant: its delay is grace_hours", -EINVAL },
                { WITH_ACTIONS("{\"type\":\"mark_noncompliant\"},{\"type\":\"notify\",\"after_hours\":\"1\"}"),
                  "actions[1].after_hours: must be a whole number", -EINVAL },
                { WITH_ACTIONS("{\"type\":\"mark_noncompliant\"},{\"type\":\"notify\",\"grace_hours\":1}"),
                  "actions[1].grace_hours: only mark_noncompliant has a grace period", -EINVAL },
                { WITH_ACTIONS("{\"type\":\"mark_noncompliant\",\"when\":1}"),
                  "actions[0].when: unknown field; an action has type,", -EINVAL },
                { HEAD SETTINGS_OK "," ACTIONS_OK ",\"assignments\":[\"all_devices\"]}",
                  "assignments: must be an object", -EINVAL },
        };
        char name[COMPLIANCE_NAME_MAX + 2], doc[512];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct compliance_policy *p = (struct compliance_policy *)&p;
                char err[512] = "";
                int r = compliance_policy_parse(cases[i].doc, strlen(cases[i].doc), &p, err, sizeof(err));

                if (r != cases[i].r || strncmp(err, cases[i].err, strlen(cases[i].err)) != 0)
                        fail_msg("case %zu: %s\n  gave %d '%s'\n  want %d '%s'", i, cases[i].doc, r, err, cases[i].r,
                                 cases[i].err);
                assert_ptr_equal(p, (struct compliance_policy *)&p);        /* untouched on error */
        }
        /* names: 128 bytes pass, 129 do not */
        memset(name, 'n', sizeof(name));
        name[COMPLIANCE_NAME_MAX] = '\0';
        snprintf(doc, sizeof(doc), "{\"name\":\"%s\",\"platform\":\"linux\"," SETTINGS_OK "," ACTIONS_OK "}", name);
        compliance_policy_free(policy(doc));
        name[COMPLIANCE_NAME_MAX] = 'n';
        name[COMPLIANCE_NAME_MAX + 1] = '\0';
        snprintf(doc, sizeof(doc), "{\"name\":\"%s\",\"platform\":\"linux\"," SETTINGS_OK "," ACTIONS_OK "}", name);
        {
                struct compliance_policy *p;
                char err[512];
                assert_int_equal(compliance_policy_parse(doc, strlen(doc), &p, err, sizeof(err)), -EINVAL);
                assert_string_equal(err, "name: must be a non-empty string of at most 128 bytes without control characters");
        }
}

static void test_document_size(void **state)
{
        size_t n = COMPLIANCE_DOCUMENT_MAX + 1;
        char *big = malloc(n + 1), err[256];
        struct compliance_policy *p;
        int len;

        assert_non_null(big);
        /* a valid document padded with spaces to the limit passes; one byte more does not */
        len = snprintf(big, n + 1, "%s", example);
        memset(big + len, ' ', n - (size_t)len);
        assert_int_equal(compliance_policy_parse(big, n - 1, &p, err, sizeof(err)), 0);
        compliance_policy_free(p);
        assert_int_equal(compliance_policy_parse(big, n, &p, err, sizeof(err)), -E2BIG);
        assert_string_equal(err, "(document): larger than 65536 bytes");
        free(big);
}

/* The policy of one()'s last result, which its reasons read. */
static struct compliance_policy *one_policy;

/* Evaluates one setting of a one-setting policy. */
static enum compliance_setting_state one(const char *settings, enum compliance_setting s,
                                         const struct compliance_facts *f, struct compliance_result *r)
{
        char doc[512];

        snprintf(doc, sizeof(doc), HEAD "\"settings\":{%s}," ACTIONS_OK "}", settings);
        compliance_policy_free(one_policy);
        one_policy = policy(doc);
        compliance_evaluate(one_policy, f, &tenant, T0, 0, r);
        assert_int_equal(one_policy->configured, 1u << s);
        return r->settings[s].state;
}

static int one_policy_free(void **state)
{
        compliance_policy_free(one_policy);
        one_policy = NULL;
        return 0;
}

static void test_setting_risk(void **state)
{
        static const char *const max[] = { "clear", "low", "medium", "high" };
        struct compliance_facts f = good_facts();
        struct compliance_result r;
        char s[64];

        /* allowed: clear <= informational, low <= low, medium <= medium, high: all */
        for (int m = 0; m < 4; m++) {
                snprintf(s, sizeof(s), "\"max_device_risk\":\"%s\"", max[m]);
                for (int l = DEFEND_LEVEL_NONE; l <= DEFEND_LEVEL_HIGH; l++) {
                        f.risk = (enum defend_level)l;
                        assert_int_equal(one(s, COMPLIANCE_SETTING_MAX_DEVICE_RISK, &f, &r),
                                         l <= m + 1 ? COMPLIANCE_SETTING_COMPLIANT : COMPLIANCE_SETTING_NONCOMPLIANT);
                        assert_string_equal(r.settings[0].observed, defend_level_name(f.risk));
                        assert_int_equal(r.state, l <= m + 1 ? COMPLIANCE_COMPLIANT : COMPLIANCE_NONCOMPLIANT);
                }
        }
        f.risk = DEFEND_LEVEL_HIGH;
        one("\"max_device_risk\":\"medium\"", COMPLIANCE_SETTING_MAX_DEVICE_RISK, &f, &r);
        assert_string_equal(sreason(&r, 0), "risk high is above the allowed medium");
        assert_string_equal(preason(&r), "risk high is above the allowed medium");
        f.risk = DEFEND_LEVEL_LOW;
        one("\"max_device_risk\":\"clear\"", COMPLIANCE_SETTING_MAX_DEVICE_RISK, &f, &r);
        assert_string_equal(sreason(&r, 0), "risk low is above the allowed clear (none or informational)");
        f.risk = DEFEND_LEVEL_INFORMATIONAL;
        one("\"max_device_risk\":\"clear\"", COMPLIANCE_SETTING_MAX_DEVICE_RISK, &f, &r);
        assert_string_equal(sreason(&r, 0), "risk informational is within the allowed clear (none or informational)");
}

static void test_connector_unresponsive(void **state)
{
        struct compliance_facts f = good_facts();
        struct compliance_result r;

        f.risk = DEFEND_LEVEL_HIGH;     /* stale: must not count */
        f.risk_applicable = false;
        f.risk_reason = "partner unresponsive: no heartbeat since 2026-11-30T01:00:00Z";
        assert_int_equal(one("\"max_device_risk\":\"low\"", COMPLIANCE_SETTING_MAX_DEVICE_RISK, &f, &r),
                         COMPLIANCE_SETTING_NOT_APPLICABLE);
        assert_int_equal(r.state, COMPLIANCE_COMPLIANT);
        assert_string_equal(r.settings[0].observed, "unavailable");
        assert_string_equal(sreason(&r, 0),
                            "risk unavailable: partner unresponsive: no heartbeat since 2026-11-30T01:00:00Z");
        f.risk_block = true;
        assert_int_equal(one("\"max_device_risk\":\"low\"", COMPLIANCE_SETTING_MAX_DEVICE_RISK, &f, &r),
                         COMPLIANCE_SETTING_NONCOMPLIANT);
        assert_int_equal(r.state, COMPLIANCE_NONCOMPLIANT);
        assert_string_equal(sreason(&r, 0), "risk unavailable, and missing partner data blocks: partner "
                                                  "unresponsive: no heartbeat since 2026-11-30T01:00:00Z");
        f.risk_reason = NULL;
        f.risk_block = false;
        one("\"max_device_risk\":\"low\"", COMPLIANCE_SETTING_MAX_DEVICE_RISK, &f, &r);
        assert_string_equal(sreason(&r, 0), "risk unavailable: the partner's risk data does not apply");
}

static void test_setting_os_version(void **state)
{
        static const struct {
                const char *min, *have;
                enum compliance_setting_state want;
        } cases[] = {
                { "12", "12", COMPLIANCE_SETTING_COMPLIANT }, { "12", "13", COMPLIANCE_SETTING_COMPLIANT },
                { "12", "11", COMPLIANCE_SETTING_NONCOMPLIANT }, { "12", "9", COMPLIANCE_SETTING_NONCOMPLIANT },
                { "22.04", "22.04", COMPLIANCE_SETTING_COMPLIANT }, { "22.04", "22.10", COMPLIANCE_SETTING_COMPLIANT },
                { "22.04", "20.04", COMPLIANCE_SETTING_NONCOMPLIANT }, { "22.04", "22", COMPLIANCE_SETTING_NONCOMPLIANT },
                { "12", "12.0.0", COMPLIANCE_SETTING_COMPLIANT }, { "3.9", "3.19", COMPLIANCE_SETTING_COMPLIANT },
                { "3.19", "3.9", COMPLIANCE_SETTING_NONCOMPLIANT },
                { "3.19", "3.19.1", COMPLIANCE_SETTING_COMPLIANT }, { "10", "9.99", COMPLIANCE_SETTING_NONCOMPLIANT },
                { "12", "", COMPLIANCE_SETTING_ERROR }, { "12", "rolling", COMPLIANCE_SETTING_ERROR },
                { "12", "12-beta", COMPLIANCE_SETTING_ERROR },
        };
        struct compliance_facts f = good_facts();
        struct compliance_result r;
        char s[64];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                snprintf(s, sizeof(s), "\"min_os_version\":\"%s\"", cases[i].min);
                f.os_version = cases[i].have;
                if (one(s, COMPLIANCE_SETTING_MIN_OS_VERSION, &f, &r) != cases[i].want)
                        fail_msg("min %s, device %s: got %s", cases[i].min, cases[i].have,
                                 compliance_setting_state_name(r.settings[1].state));
        }
        f.os_version = "11";
        one("\"min_os_version\":\"12\"", COMPLIANCE_SETTING_MIN_OS_VERSION, &f, &r);
        assert_string_equal(r.settings[1].observed, "11");
        assert_string_equal(sreason(&r, 1), "OS version 11 is below the minimum 12");
        f.os_version = NULL;
        one("\"min_os_version\":\"12\"", COMPLIANCE_SETTING_MIN_OS_VERSION, &f, &r);
        assert_int_equal(r.state, COMPLIANCE_ERROR);
        assert_string_equal(preason(&r), "the device reports no OS version (os-release has no VERSION_ID)");
}

static void test_setting_facts(void **state)
{
        static const struct {
                const char *setting;
                enum compliance_setting s;
                const char *observed[3], *noncompliant_reason;
        } cases[] = {
                { "\"disk_encryption_required\":true", COMPLIANCE_SETTING_DISK_ENCRYPTION,
                  { "unknown", "encrypted", "not_encrypted" }, "the root filesystem is not encrypted" },
                { "\"firewall_required\":true", COMPLIANCE_SETTING_FIREWALL, { "unknown", "active", "inactive" },
                  "the firewall is inactive (no nftables base chain)" },
                { "\"secure_boot_required\":true", COMPLIANCE_SETTING_SECURE_BOOT, { "unknown", "enabled", "disabled" },
                  "Secure Boot is disabled" },
        };
        static const enum compliance_setting_state want[] = { COMPLIANCE_SETTING_ERROR, COMPLIANCE_SETTING_COMPLIANT,
                                                              COMPLIANCE_SETTING_NONCOMPLIANT };
        static const enum compliance_state want_policy[] = { COMPLIANCE_ERROR, COMPLIANCE_COMPLIANT,
                                                             COMPLIANCE_NONCOMPLIANT };
        struct compliance_result r;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                for (int v = 0; v < 3; v++) {
                        struct compliance_facts f = good_facts();
                        enum compliance_fact fact = compliance_fact_from_text(cases[i].observed[v]);
                        assert_int_equal(fact, (enum compliance_fact)v);
                        f.disk_encryption = f.firewall = f.secure_boot = fact;
                        assert_int_equal(one(cases[i].setting, cases[i].s, &f, &r), want[v]);
                        assert_int_equal(r.state, want_policy[v]);
                        assert_string_equal(r.settings[cases[i].s].observed, cases[i].observed[v]);
                        if (v == 2)
                                assert_string_equal(sreason(&r, cases[i].s), cases[i].noncompliant_reason);
                }
        }
        assert_int_equal(compliance_fact_from_text(NULL), COMPLIANCE_FACT_UNKNOWN);
        assert_int_equal(compliance_fact_from_text(""), COMPLIANCE_FACT_UNKNOWN);
}

static void test_no_inventory(void **state)
{
        struct compliance_facts f = good_facts();
        struct compliance_result r;
        struct compliance_policy *p = policy(example);

        /* settings read from the inventory are unknown; risk and the sensor still count */
        f.inventory_at = 0;
        f.os_version = "";
        f.disk_encryption = f.firewall = COMPLIANCE_FACT_UNKNOWN;
        assert_int_equal(compliance_evaluate(p, &f, &tenant, T0, 0, &r), COMPLIANCE_UNKNOWN);
        assert_int_equal(r.settings[COMPLIANCE_SETTING_MIN_OS_VERSION].state, COMPLIANCE_SETTING_ERROR);
        assert_string_equal(sreason(&r, COMPLIANCE_SETTING_FIREWALL), "no inventory from the device yet");
        assert_int_equal(r.settings[COMPLIANCE_SETTING_MAX_DEVICE_RISK].state, COMPLIANCE_SETTING_COMPLIANT);
        /* (past the example's 24-hour grace) */
        f.risk = DEFEND_LEVEL_HIGH;
        assert_int_equal(compliance_evaluate(p, &f, &tenant, T0 + 24 * HOUR, T0, &r), COMPLIANCE_NONCOMPLIANT);
        compliance_policy_free(p);
}

static void test_setting_sensor(void **state)
{
        struct compliance_facts f = good_facts();
        struct compliance_result r;
        const char *s = "\"sensor_healthy_required\":true";

        assert_int_equal(one(s, COMPLIANCE_SETTING_SENSOR_HEALTHY, &f, &r), COMPLIANCE_SETTING_COMPLIANT);
        assert_string_equal(r.settings[5].observed, "healthy");
        /* the result turns by itself when the heartbeat grows old */
        assert_int_equal(r.next_check, T0 - 30 + 600 + 1);
        f.sensor = COMPLIANCE_SENSOR_PROC_CONNECTOR;
        assert_int_equal(one(s, COMPLIANCE_SETTING_SENSOR_HEALTHY, &f, &r), COMPLIANCE_SETTING_NONCOMPLIANT);
        assert_string_equal(r.settings[5].observed, "degraded");
        assert_string_equal(sreason(&r, 5), "sensor: proc connector fallback, BPF sensor not running");
        f.sensor = COMPLIANCE_SENSOR_NONE;
        assert_int_equal(one(s, COMPLIANCE_SETTING_SENSOR_HEALTHY, &f, &r), COMPLIANCE_SETTING_NONCOMPLIANT);
        f.sensor = COMPLIANCE_SENSOR_UNREPORTED;
        assert_int_equal(one(s, COMPLIANCE_SETTING_SENSOR_HEALTHY, &f, &r), COMPLIANCE_SETTING_ERROR);
        assert_int_equal(r.state, COMPLIANCE_UNKNOWN);
        assert_string_equal(sreason(&r, 5), "sensor: the agent does not report which sensor it runs");
        /* a BPF sensor whose heartbeat is late is not reporting */
        f.sensor = COMPLIANCE_SENSOR_BPF;
        f.last_heartbeat = T0 - 601;
        assert_int_equal(one(s, COMPLIANCE_SETTING_SENSOR_HEALTHY, &f, &r), COMPLIANCE_SETTING_NONCOMPLIANT);
        assert_string_equal(r.settings[5].observed, "not_reporting");
        assert_string_equal(sreason(&r, 5),
                            "sensor: not reporting, last heartbeat 2026-11-30T00:43:19Z (more than 600 seconds ago)");
        f.last_heartbeat = T0 - 600;
        assert_int_equal(one(s, COMPLIANCE_SETTING_SENSOR_HEALTHY, &f, &r), COMPLIANCE_SETTING_COMPLIANT);
        f.last_heartbeat = 0;
        assert_int_equal(one(s, COMPLIANCE_SETTING_SENSOR_HEALTHY, &f, &r), COMPLIANCE_SETTING_NONCOMPLIANT);
        assert_string_equal(sreason(&r, 5), "sensor: not reporting, no heartbeat received");
}

static void test_setting_exposure(void **state)
{
        struct compliance_facts f = good_facts();
        struct compliance_result r;
        const char *s = "\"max_exposure_level\":\"low\"";

        f.exposure = COMPLIANCE_EXPOSURE_LOW;
        assert_int_equal(one(s, COMPLIANCE_SETTING_MAX_EXPOSURE_LEVEL, &f, &r), COMPLIANCE_SETTING_COMPLIANT);
        f.exposure = COMPLIANCE_EXPOSURE_MEDIUM;
        assert_int_equal(one(s, COMPLIANCE_SETTING_MAX_EXPOSURE_LEVEL, &f, &r), COMPLIANCE_SETTING_NONCOMPLIANT);
        assert_string_equal(sreason(&r, 6), "exposure medium is above the allowed low");
        f.exposure_available = false;
        assert_int_equal(one(s, COMPLIANCE_SETTING_MAX_EXPOSURE_LEVEL, &f, &r), COMPLIANCE_SETTING_NOT_APPLICABLE);
        assert_int_equal(r.state, COMPLIANCE_COMPLIANT);
        f.exposure_available = true;
        f.exposure = COMPLIANCE_EXPOSURE_NONE;
        assert_int_equal(one("\"max_exposure_level\":\"none\"", COMPLIANCE_SETTING_MAX_EXPOSURE_LEVEL, &f, &r),
                         COMPLIANCE_SETTING_COMPLIANT);
}

static void test_platform(void **state)
{
        struct compliance_facts f = good_facts();
        struct compliance_result r;
        struct compliance_policy *p = policy(example);

        f.platform = "windows";
        assert_int_equal(compliance_evaluate(p, &f, &tenant, T0, 0, &r), COMPLIANCE_NOT_EVALUATED);
        assert_false(r.applies);
        assert_string_equal(preason(&r), "the policy is for linux, the device's platform is 'windows'");
        compliance_policy_free(p);
}

/* A policy with the example's actions (grace 24 h, notify at 1 h, isolate at
 * 48 h) on a clock that moves: the firewall goes off at T0. */
static void test_grace_and_actions(void **state)
{
        struct compliance_facts f = good_facts();
        struct compliance_result r;
        /* without the sensor setting, whose heartbeat would be the next check */
        struct compliance_policy *p = policy(
                "{\"name\":\"Linux baseline\",\"platform\":\"linux\",\"settings\":{\"max_device_risk\":\"medium\","
                "\"firewall_required\":true},\"actions\":[{\"type\":\"mark_noncompliant\",\"grace_hours\":24},"
                "{\"type\":\"notify\",\"after_hours\":1},{\"type\":\"isolate\",\"after_hours\":48}]}");
        int64_t first;

        assert_int_equal(compliance_evaluate(p, &f, &tenant, T0, 0, &r), COMPLIANCE_COMPLIANT);
        assert_int_equal(r.first_noncompliant_at, 0);
        assert_int_equal(r.n_due, 0);
        assert_string_equal(preason(&r), "every setting is compliant or not applicable");

        f.firewall = COMPLIANCE_FACT_NO;
        assert_int_equal(compliance_evaluate(p, &f, &tenant, T0, 0, &r), COMPLIANCE_IN_GRACE_PERIOD);
        first = r.first_noncompliant_at;
        assert_int_equal(first, T0);
        assert_int_equal(r.grace_ends_at, T0 + 24 * HOUR);
        assert_int_equal(r.settings[COMPLIANCE_SETTING_FIREWALL].state, COMPLIANCE_SETTING_NONCOMPLIANT);
        assert_string_equal(preason(&r), "in grace period until 2026-12-01T00:53:20Z: the firewall is inactive "
                                      "(no nftables base chain)");
        assert_true(compliance_state_allows_access(r.state));
        assert_int_equal(r.n_due, 0);
        /* the next thing to happen by itself: notify at 1 h */
        assert_int_equal(r.next_check, T0 + HOUR);

        for (int64_t now = T0 + HOUR; now < T0 + 24 * HOUR; now += HOUR) {
                f.last_heartbeat = f.last_seen = now - 10;
                assert_int_equal(compliance_evaluate(p, &f, &tenant, now, first, &r), COMPLIANCE_IN_GRACE_PERIOD);
                assert_int_equal(r.first_noncompliant_at, first);
                assert_int_equal(r.n_due, 1);
                assert_int_equal(r.due[0].index, 1);
                assert_int_equal(r.due[0].type, COMPLIANCE_ACTION_NOTIFY);
                assert_int_equal(r.due[0].due_at, T0 + HOUR);
        }
        /* grace over: noncompliant, at the second it ends */
        f.last_heartbeat = f.last_seen = T0 + 24 * HOUR - 10;
        assert_int_equal(compliance_evaluate(p, &f, &tenant, T0 + 24 * HOUR - 1, first, &r), COMPLIANCE_IN_GRACE_PERIOD);
        assert_int_equal(compliance_evaluate(p, &f, &tenant, T0 + 24 * HOUR, first, &r), COMPLIANCE_NONCOMPLIANT);
        assert_int_equal(r.grace_ends_at, 0);
        assert_false(compliance_state_allows_access(r.state));
        assert_int_equal(r.next_check, T0 + 48 * HOUR);
        assert_int_equal(r.n_due, 1);
        /* isolate at 48 h */
        f.last_heartbeat = f.last_seen = T0 + 48 * HOUR - 10;
        assert_int_equal(compliance_evaluate(p, &f, &tenant, T0 + 48 * HOUR, first, &r), COMPLIANCE_NONCOMPLIANT);
        assert_int_equal(r.n_due, 2);
        assert_int_equal(r.due[1].index, 2);
        assert_int_equal(r.due[1].type, COMPLIANCE_ACTION_ISOLATE);
        assert_int_equal(r.due[1].due_at, T0 + 48 * HOUR);
        /* fixed: compliant, and the history is dropped */
        f.firewall = COMPLIANCE_FACT_YES;
        assert_int_equal(compliance_evaluate(p, &f, &tenant, T0 + 49 * HOUR, first, &r), COMPLIANCE_COMPLIANT);
        assert_int_equal(r.first_noncompliant_at, 0);
        assert_int_equal(r.n_due, 0);
        /* a first_noncompliant_at from the future counts from now */
        f.firewall = COMPLIANCE_FACT_NO;
        compliance_evaluate(p, &f, &tenant, T0 + 48 * HOUR, T0 + 100 * HOUR, &r);
        assert_int_equal(r.first_noncompliant_at, T0 + 48 * HOUR);
        compliance_policy_free(p);
}

/* The grace period delays the risk too, as every setting: a policy meant to
 * cut an attacked device at once has grace_hours 0 (test_grace_zero). */
static void test_risk_graced(void **state)
{
        struct compliance_facts f = good_facts();
        struct compliance_result r;
        struct compliance_policy *p = policy(example);

        f.risk = DEFEND_LEVEL_HIGH;
        assert_int_equal(compliance_evaluate(p, &f, &tenant, T0, 0, &r), COMPLIANCE_IN_GRACE_PERIOD);
        assert_int_equal(r.first_noncompliant_at, T0);
        assert_int_equal(r.grace_ends_at, T0 + 24 * HOUR);
        assert_int_equal(compliance_evaluate(p, &f, &tenant, T0 + 24 * HOUR, T0, &r), COMPLIANCE_NONCOMPLIANT);
        /* connector block: the same */
        f.risk = DEFEND_LEVEL_NONE;
        f.risk_applicable = false;
        f.risk_block = true;
        assert_int_equal(compliance_evaluate(p, &f, &tenant, T0, 0, &r), COMPLIANCE_IN_GRACE_PERIOD);
        compliance_policy_free(p);
        /* with grace 0, noncompliant at once */
        p = policy(WITH_SETTINGS("\"max_device_risk\":\"medium\""));
        f = good_facts();
        f.risk = DEFEND_LEVEL_HIGH;
        assert_int_equal(compliance_evaluate(p, &f, &tenant, T0, 0, &r), COMPLIANCE_NONCOMPLIANT);
        assert_string_equal(preason(&r), "risk high is above the allowed medium");
        compliance_policy_free(p);
}

static void test_grace_zero(void **state)
{
        struct compliance_facts f = good_facts();
        struct compliance_result r;
        struct compliance_policy *p = policy(WITH_SETTINGS("\"firewall_required\":true"));

        f.firewall = COMPLIANCE_FACT_NO;
        assert_int_equal(compliance_evaluate(p, &f, &tenant, T0, 0, &r), COMPLIANCE_NONCOMPLIANT);
        assert_int_equal(r.grace_ends_at, 0);
        assert_int_equal(r.next_check, 0);
        compliance_policy_free(p);
}

static void test_error_beats_grace(void **state)
{
        struct compliance_facts f = good_facts();
        struct compliance_result r;
        struct compliance_policy *p = policy(example);

        f.firewall = COMPLIANCE_FACT_NO;
        f.disk_encryption = COMPLIANCE_FACT_UNKNOWN;
        assert_int_equal(compliance_evaluate(p, &f, &tenant, T0, 0, &r), COMPLIANCE_ERROR);
        /* the failing setting still starts the clock */
        assert_int_equal(r.first_noncompliant_at, T0);
        assert_string_equal(preason(&r), "the agent could not establish the disk encryption state (unknown)");
        compliance_policy_free(p);
}

static void test_ranks(void **state)
{
        static const enum compliance_state order[] = { COMPLIANCE_COMPLIANT, COMPLIANCE_IN_GRACE_PERIOD,
                                                       COMPLIANCE_NOT_EVALUATED, COMPLIANCE_UNKNOWN,
                                                       COMPLIANCE_ERROR, COMPLIANCE_NONCOMPLIANT };
        enum compliance_state s;

        for (int i = 0; i < 6; i++) {
                assert_int_equal(compliance_state_rank(order[i]), i);
                assert_int_equal(compliance_state_allows_access(order[i]), i <= 1);
                assert_int_equal(compliance_state_parse(compliance_state_name(order[i]), &s), 0);
                assert_int_equal(s, order[i]);
        }
        assert_int_equal(compliance_state_parse("grace", &s), -EINVAL);
        assert_string_equal(compliance_state_name(COMPLIANCE_IN_GRACE_PERIOD), "in_grace_period");
        assert_string_equal(compliance_setting_state_name(COMPLIANCE_SETTING_NOT_APPLICABLE), "not_applicable");
        assert_string_equal(compliance_setting_name(COMPLIANCE_SETTING_SENSOR_HEALTHY), "sensor_healthy_required");
        assert_string_equal(compliance_action_type_name(COMPLIANCE_ACTION_ISOLATE), "isolate");
}

/* A result in state s, as if evaluated. */
static struct compliance_result fake(const struct compliance_policy *p, enum compliance_state s, int64_t next)
{
        return (struct compliance_result){ .policy = p, .applies = true, .state = s, .next_check = next,
                                           .decided_by = -1 };
}

static void test_device_state(void **state)
{
        struct compliance_policy *a, *b;
        struct compliance_facts f = good_facts();
        struct compliance_device_result d;
        struct compliance_result rs[3];
        struct compliance_tenant t = tenant;

        a = policy("{\"name\":\"A\",\"platform\":\"linux\"," SETTINGS_OK "," ACTIONS_OK "}");
        b = policy("{\"name\":\"B\",\"platform\":\"linux\"," SETTINGS_OK "," ACTIONS_OK "}");
        /* worst of: every pair */
        for (enum compliance_state x = 0; x <= COMPLIANCE_UNKNOWN; x++)
                for (enum compliance_state y = 0; y <= COMPLIANCE_UNKNOWN; y++) {
                        rs[0] = fake(a, x, 0);
                        rs[1] = fake(b, y, 0);
                        compliance_device_state(rs, 2, &t, &f, T0, &d);
                        assert_int_equal(d.state, compliance_state_rank(x) >= compliance_state_rank(y) ? x : y);
                        assert_ptr_equal(d.policy, compliance_state_rank(x) >= compliance_state_rank(y) ? a : b);
                }
        rs[0] = fake(a, COMPLIANCE_IN_GRACE_PERIOD, T0 + 5);
        f.risk = DEFEND_LEVEL_HIGH;
        assert_int_equal(compliance_evaluate(b, &f, &t, T0, 0, &rs[1]), COMPLIANCE_NONCOMPLIANT);
        f.risk = DEFEND_LEVEL_LOW;
        rs[2] = fake(a, COMPLIANCE_ERROR, T0 + 1);
        rs[2].applies = false;
        assert_int_equal(compliance_device_state(rs, 3, &t, &f, T0, &d), COMPLIANCE_NONCOMPLIANT);
        assert_string_equal(dreason(&d), "policy 'B': risk high is above the allowed medium");
        assert_int_equal(d.next_check, T0 + 5);         /* the one that does not apply does not count */
        assert_int_equal(compliance_device_state(rs, 1, &t, &f, T0, &d), COMPLIANCE_IN_GRACE_PERIOD);
        assert_true(compliance_state_allows_access(d.state));

        /* no policy: the tenant's default, noncompliant unless set otherwise */
        assert_int_equal(compliance_device_state(NULL, 0, &t, &f, T0, &d), COMPLIANCE_NONCOMPLIANT);
        assert_null(d.policy);
        assert_string_equal(dreason(&d), "no compliance policy applies to the device (tenant setting no_policy_state: "
                                      "noncompliant)");
        assert_int_equal(compliance_device_state(rs + 2, 1, &t, &f, T0, &d), COMPLIANCE_NONCOMPLIANT);
        t.no_policy_state = COMPLIANCE_COMPLIANT;
        assert_int_equal(compliance_device_state(NULL, 0, &t, &f, T0, &d), COMPLIANCE_COMPLIANT);
        assert_int_equal(d.next_check, T0 - 30 + 30 * DAY);
        compliance_policy_free(a);
        compliance_policy_free(b);
}

static void test_validity(void **state)
{
        struct compliance_policy *a = policy("{\"name\":\"A\",\"platform\":\"linux\"," SETTINGS_OK "," ACTIONS_OK "}");
        struct compliance_facts f = good_facts();
        struct compliance_device_result d;
        struct compliance_result r = fake(a, COMPLIANCE_COMPLIANT, 0);
        struct compliance_tenant t = tenant;

        t.validity_days = 7;
        f.last_seen = T0;
        assert_int_equal(compliance_device_state(&r, 1, &t, &f, T0 + 7 * DAY - 1, &d), COMPLIANCE_COMPLIANT);
        assert_int_equal(d.next_check, T0 + 7 * DAY);
        assert_int_equal(compliance_device_state(&r, 1, &t, &f, T0 + 7 * DAY, &d), COMPLIANCE_NONCOMPLIANT);
        assert_null(d.policy);
        assert_string_equal(dreason(&d), "no check-in for 7 days (last 2026-11-30T00:53:20Z): the compliance validity "
                                      "period is 7 days");
        assert_int_equal(compliance_device_state(&r, 1, &t, &f, T0 + 40 * DAY, &d), COMPLIANCE_NONCOMPLIANT);
        assert_int_equal(d.next_check, 0);
        /* also with no policy and the compliant default */
        t.no_policy_state = COMPLIANCE_COMPLIANT;
        assert_int_equal(compliance_device_state(NULL, 0, &t, &f, T0 + 8 * DAY, &d), COMPLIANCE_NONCOMPLIANT);
        f.last_seen = 0;
        assert_int_equal(compliance_device_state(&r, 1, &t, &f, T0, &d), COMPLIANCE_NONCOMPLIANT);
        assert_string_equal(dreason(&d), "the device has never checked in");
        compliance_policy_free(a);
}

static void test_tenant(void **state)
{
        static const struct {
                const char *body, *err;
        } bad[] = {
                { "[]", "(document): must be a JSON object" },
                { "{\"no_policy_state\":\"in_grace_period\"}", "no_policy_state: must be one of noncompliant, compliant" },
                { "{\"validity_days\":0}", "validity_days: must be a whole number from 1 to 120" },
                { "{\"validity_days\":121}", "validity_days: must be a whole number from 1 to 120" },
                { "{\"validity_days\":\"30\"}", "validity_days: must be a whole number" },
                { "{\"sensor_timeout_seconds\":59}", "sensor_timeout_seconds: must be a whole number from 60 to 86400" },
                { "{\"validity_days\":10,\"grace\":1}", "grace: unknown field; the tenant's compliance settings has" },
        };
        struct compliance_tenant t = COMPLIANCE_TENANT_DEFAULTS;
        char err[512];
        json_t *j;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                j = json_loads(bad[i].body, 0, NULL);
                assert_non_null(j);
                assert_int_equal(compliance_tenant_apply(j, &t, err, sizeof(err)), -EINVAL);
                if (strncmp(err, bad[i].err, strlen(bad[i].err)) != 0)
                        fail_msg("%s: got '%s'", bad[i].body, err);
                json_decref(j);
        }
        /* nothing changed by the refusals, even the one whose first member was good */
        assert_int_equal(t.validity_days, 30);
        j = json_loads("{\"no_policy_state\":\"compliant\",\"validity_days\":7}", 0, NULL);
        assert_int_equal(compliance_tenant_apply(j, &t, err, sizeof(err)), 0);
        json_decref(j);
        assert_int_equal(t.no_policy_state, COMPLIANCE_COMPLIANT);
        assert_int_equal(t.validity_days, 7);
        assert_int_equal(t.sensor_timeout_s, 600);
        j = compliance_tenant_to_json(&t);
        assert_string_equal(json_string_value(json_object_get(j, "no_policy_state")), "compliant");
        assert_int_equal(json_integer_value(json_object_get(j, "validity_days")), 7);
        assert_int_equal(json_integer_value(json_object_get(j, "sensor_timeout_seconds")), 600);
        json_decref(j);
}

static void test_result_json(void **state)
{
        struct compliance_facts f = good_facts();
        struct compliance_result r;
        struct compliance_policy *p = policy(example);
        json_t *j, *s;

        f.risk = DEFEND_LEVEL_HIGH;
        compliance_evaluate(p, &f, &tenant, T0 + 24 * HOUR, T0, &r);   /* past the grace */
        j = compliance_result_to_json(&r);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "policy")), "Linux baseline");
        assert_string_equal(json_string_value(json_object_get(j, "state")), "noncompliant");
        assert_string_equal(json_string_value(json_object_get(j, "first_noncompliant_at")), "2026-11-30T00:53:20Z");
        assert_true(json_is_null(json_object_get(j, "grace_ends_at")));
        s = json_object_get(j, "settings");
        assert_int_equal(json_array_size(s), 6);        /* secure boot is not configured */
        assert_string_equal(json_string_value(json_object_get(json_array_get(s, 0), "setting")), "max_device_risk");
        assert_string_equal(json_string_value(json_object_get(json_array_get(s, 0), "observed")), "high");
        assert_string_equal(json_string_value(json_object_get(json_array_get(s, 0), "state")), "noncompliant");
        assert_string_equal(json_string_value(json_object_get(json_array_get(s, 0), "reason")),
                            "risk high is above the allowed medium");
        /* the notify at 1 hour is due by now */
        assert_int_equal(json_array_size(json_object_get(j, "due_actions")), 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "due_actions"), 0),
                                                              "type")), "notify");
        json_decref(j);
        /* two days on: notify and isolate are due */
        f.last_heartbeat = f.last_seen = T0 + 48 * HOUR;
        compliance_evaluate(p, &f, &tenant, T0 + 48 * HOUR, T0, &r);
        j = compliance_result_to_json(&r);
        s = json_object_get(j, "due_actions");
        assert_int_equal(json_array_size(s), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(s, 1), "type")), "isolate");
        assert_int_equal(json_integer_value(json_object_get(json_array_get(s, 1), "index")), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(s, 1), "due_at")), "2026-12-02T00:53:20Z");
        json_decref(j);
        compliance_policy_free(p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_example),
                cmocka_unit_test(test_canonical),
                cmocka_unit_test(test_bad_documents),
                cmocka_unit_test(test_document_size),
                cmocka_unit_test(test_setting_risk),
                cmocka_unit_test(test_connector_unresponsive),
                cmocka_unit_test(test_setting_os_version),
                cmocka_unit_test(test_setting_facts),
                cmocka_unit_test(test_no_inventory),
                cmocka_unit_test(test_setting_sensor),
                cmocka_unit_test(test_setting_exposure),
                cmocka_unit_test(test_platform),
                cmocka_unit_test(test_grace_and_actions),
                cmocka_unit_test(test_risk_graced),
                cmocka_unit_test(test_grace_zero),
                cmocka_unit_test(test_error_beats_grace),
                cmocka_unit_test(test_ranks),
                cmocka_unit_test(test_device_state),
                cmocka_unit_test(test_validity),
                cmocka_unit_test(test_tenant),
                cmocka_unit_test(test_result_json),
        };

        return cmocka_run_group_tests(tests, NULL, one_policy_free);
}
