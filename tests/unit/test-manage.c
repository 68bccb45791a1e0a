/* Unit tests of manage's pure parts: the device filter expression language
 * (what matches, every refusal with its column, the bounds), version
 * comparison, and the membership index (dynamic groups following facts and
 * tags, static members, offboarding, removal, what changed) and
 * assignments (parsing, exclusion winning, all_devices). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "server/manage/expr.h"
#include "server/manage/manage-internal.h"
#include "server/vigild.h"

static const char *const kiosk_tags[] = { "kiosk", "floor-2" };

static const struct manage_device_facts debian12 = {
        .id = "d1", .platform = "linux", .os_name = "Debian GNU/Linux", .os_version = "12",
        .name = "Lab-PC-07", .architecture = "x86_64", .kernel = "6.1.0-13-amd64",
        .tags = kiosk_tags, .n_tags = 2,
};

static bool eval_text(const char *text, const struct manage_device_facts *f)
{
        struct manage_expr *e = NULL;
        char err[512] = "";
        bool v;

        if (manage_expr_compile(text, strlen(text), &e, err, sizeof(err)) != 0)
                fail_msg("'%s' does not compile: %s", text, err);
        v = manage_expr_eval(e, f);
        manage_expr_free(e);
        return v;
}

static void test_expr_match(void **state)
{
        static const struct { const char *text; bool want; } cases[] = {
                { "device.platform == \"linux\"", true },
                { "device.platform != \"linux\"", false },
                { "device.os_version == \"12.0\"", true },
                { "device.os_version >= \"12\"", true },
                { "device.os_version > \"12\"", false },
                { "device.os_version < \"12.4\"", true },
                { "device.os_version <= \"11.9\"", false },
                { "device.kernel >= \"6.1\"", true },
                { "device.kernel < \"6.1.0-2\"", false },
                { "device.tags contains \"kiosk\"", true },
                { "device.tags contains \"Kiosk\"", false },
                { "device.tags matches \"floor-*\"", true },
                { "device.tags in [\"a\", \"floor-2\"]", true },
                { "device.name matches \"lab-pc-??\"", true },
                { "device.name == \"lab-pc-07\"", true },
                { "device.name matches \"lab-*-8\"", false },
                { "device.architecture in [\"aarch64\", \"x86_64\"]", true },
                { "device.os_name matches \"*Debian*\"", true },
                { "device.os_name matches \"*debian*\"", false },
                { "not device.tags contains \"kiosk\"", false },
                { "device.platform == \"windows\" or device.os_version >= \"12\" and device.tags contains \"kiosk\"",
                  true },
                { "(device.platform == \"windows\" or device.os_version >= \"12\") and not device.tags contains \"kiosk\"",
                  false },
                { "not not (device.platform == \"linux\")", true },
                { "device.os_name == \"a \\\"quoted\\\" \\\\ name\"", false },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                if (eval_text(cases[i].text, &debian12) != cases[i].want)
                        fail_msg("'%s' should be %s", cases[i].text, cases[i].want ? "true" : "false");
}

static void test_expr_unknown_values(void **state)
{
        /* a device without inventory: no version, so no ordering holds */
        struct manage_device_facts f = { .id = "d2" };

        assert_false(eval_text("device.os_version < \"99\"", &f));
        assert_false(eval_text("device.os_version >= \"0\"", &f));
        assert_true(eval_text("device.os_version == \"\"", &f));
        assert_false(eval_text("device.tags matches \"*\"", &f));
        assert_true(eval_text("not device.tags contains \"x\"", &f));
}

static void test_expr_errors(void **state)
{
        static const struct { const char *text; int r; const char *words; } cases[] = {
                { "", -EINVAL, "at column 1: the expression is empty" },
                { "device.os_versio == \"1\"", -EINVAL, "at column 1: unknown field 'device.os_versio'" },
                { "device.os_version = \"1\"", -EINVAL, "at column 19: unexpected '='" },
                { "device.os_version >= 12", -EINVAL, "at column 22: a value must be a string in double quotes, such as \"12\"" },
                { "device.os_version >= \"twelve\"", -EINVAL, "at column 22: a version must start with a digit" },
                { "device.name < \"b\"", -EINVAL, "at column 13: '<', '<=', '>' and '>=' compare versions" },
                { "device.tags == \"k\"", -EINVAL, "at column 13: device.tags is a set" },
                { "device.name contains \"k\"", -EINVAL, "at column 13: 'contains' tests a set" },
                { "device.name == \"abc", -EINVAL, "at column 16: string not closed" },
                { "device.name == \"a\\nb\"", -EINVAL, "at column 18: '\\' in a string" },
                { "device.name == \"a\" and", -EINVAL, "at column 23: expected a field" },
                { "(device.name == \"a\"", -EINVAL, "at column 20: expected ')'" },
                { "device.name == \"a\" device.name == \"b\"", -EINVAL, "at column 20: expected 'and', 'or'" },
                { "device.name in []", -EINVAL, "at column 16: the list is empty" },
                { "device.name in \"a\"", -EINVAL, "at column 16: 'in' takes a list" },
                { "device.name in [\"a\" \"b\"]", -EINVAL, "at column 21: expected ',' or ']'" },
                { "device.name == \"a\" AND device.name == \"b\"", -EINVAL, "at column 20: expected a field" },
                { "device.name $ \"a\"", -EINVAL, "at column 13: unexpected character" },
        };
        struct manage_expr *e = NULL;
        char err[512];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                err[0] = '\0';
                if (manage_expr_compile(cases[i].text, strlen(cases[i].text), &e, err, sizeof(err)) != cases[i].r ||
                    !strstr(err, cases[i].words))
                        fail_msg("'%s': got '%s', want '%s'", cases[i].text, err, cases[i].words);
        }
}

static void test_expr_bounds(void **state)
{
        struct manage_expr *e = NULL;
        char err[512], *text = malloc(MANAGE_EXPR_TEXT_MAX * 2);
        size_t n = 0;

        /* 33 levels of parentheses */
        for (int i = 0; i < 33; i++)
                text[n++] = '(';
        n += (size_t)snprintf(text + n, 64, "device.name == \"a\"");
        for (int i = 0; i < 33; i++)
                text[n++] = ')';
        assert_int_equal(manage_expr_compile(text, n, &e, err, sizeof(err)), -E2BIG);
        assert_non_null(strstr(err, "at column 33: nested more than 32 deep"));
        /* 32 levels are fine */
        assert_int_equal(manage_expr_compile(text + 1, n - 2, &e, err, sizeof(err)), 0);
        manage_expr_free(e);
        /* too many nodes: 200 comparisons of one string each, 399 operators */
        n = 0;
        for (int i = 0; i < 200; i++)
                n += (size_t)snprintf(text + n, 64, "%sdevice.name==\"a\"", i ? " or " : "");
        assert_int_equal(manage_expr_compile(text, n, &e, err, sizeof(err)), -E2BIG);
        assert_non_null(strstr(err, "more than 512 nodes"));
        /* too long */
        memset(text, ' ', MANAGE_EXPR_TEXT_MAX + 1);
        assert_int_equal(manage_expr_compile(text, MANAGE_EXPR_TEXT_MAX + 1, &e, err, sizeof(err)), -E2BIG);
        assert_non_null(strstr(err, "longer than 4096 bytes"));
        /* a list of 65 strings */
        n = (size_t)snprintf(text, 64, "device.name in [");
        for (int i = 0; i < 65; i++)
                n += (size_t)snprintf(text + n, 64, "%s\"h%d\"", i ? "," : "", i);
        text[n++] = ']';
        assert_int_equal(manage_expr_compile(text, n, &e, err, sizeof(err)), -E2BIG);
        assert_non_null(strstr(err, "at most 64 strings"));
        free(text);
}

static void test_version_compare(void **state)
{
        static const struct { const char *a, *b; int want; } cases[] = {
                { "12", "12.4", -1 }, { "12.4", "13", -1 }, { "12", "12.0", 0 }, { "12.10", "12.9", 1 },
                { "6.1.0-13-amd64", "6.1.0-9-amd64", 1 }, { "6.1.0-13", "6.1.0-13", 0 }, { "22.04", "22.04.3", -1 },
                { "1.2a", "1.2b", -1 }, { "007", "7", 0 }, { "99999999999999999999999", "1", 1 },
        };
        int c;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                assert_int_equal(manage_version_compare(cases[i].a, cases[i].b, &c), 0);
                if (c != cases[i].want)
                        fail_msg("%s vs %s: %d, want %d", cases[i].a, cases[i].b, c, cases[i].want);
                assert_int_equal(manage_version_compare(cases[i].b, cases[i].a, &c), 0);
                assert_int_equal(c, -cases[i].want);
        }
        assert_int_equal(manage_version_compare("", "1", &c), -EINVAL);
        assert_int_equal(manage_version_compare("1", "v1", &c), -EINVAL);
}

static struct manage_expr *compile(const char *text)
{
        struct manage_expr *e = NULL;
        char err[256];

        assert_int_equal(manage_expr_compile(text, strlen(text), &e, err, sizeof(err)), 0);
        return e;
}

static void put(struct manage_index *x, const char *id, const char *version, bool offboarded,
                struct manage_changed *c)
{
        struct manage_device_facts f = { .id = id, .platform = "linux", .os_version = version, .name = id };

        assert_int_equal(manage_index_device_set(x, &f, offboarded, SIZE_MAX, c), 0);
}

static void test_index(void **state)
{
        struct manage_index x;
        struct manage_changed c = { 0 };
        const char *tags[] = { "kiosk" };
        char id[16];

        assert_int_equal(manage_index_init(&x), 0);
        /* 3000 devices: more than one growth of the slots */
        for (int i = 0; i < 3000; i++) {
                snprintf(id, sizeof(id), "dev-%d", i);
                put(&x, id, i % 2 ? "12" : "11", false, NULL);
        }
        /* every device's facts still name it after the slots moved */
        for (size_t i = 0; i < x.n_devs; i++)
                assert_ptr_equal(x.devs[i].facts.id, x.devs[i].id);
        assert_int_equal(manage_index_group_add_take(&x, "g-new", compile("device.os_version >= \"12\""), &c), 0);
        assert_int_equal(c.n, 1500);
        assert_int_equal(manage_index_group_count(&x, "g-new"), 1500);
        manage_changed_release(&c);
        assert_int_equal(manage_index_group_add_take(&x, "g-kiosk", compile("device.tags contains \"kiosk\""), &c), 0);
        assert_int_equal(c.n, 0);
        assert_int_equal(manage_index_group_add_take(&x, "g-static", NULL, &c), 0);

        /* an inventory change moves a device in */
        put(&x, "dev-0", "12.1", false, &c);
        assert_int_equal(c.n, 1);
        assert_string_equal(c.ids[0], "dev-0");
        assert_int_equal(manage_index_group_count(&x, "g-new"), 1501);
        manage_changed_release(&c);
        /* the same facts again change nothing */
        put(&x, "dev-0", "12.1", false, &c);
        assert_int_equal(c.n, 0);

        /* tags */
        assert_int_equal(manage_index_tags_set(&x, "dev-2", tags, 1, &c), 0);
        assert_int_equal(c.n, 1);
        assert_int_equal(manage_index_group_count(&x, "g-kiosk"), 1);
        manage_changed_release(&c);
        assert_int_equal(manage_index_tags_set(&x, "nope", tags, 1, &c), -ENOENT);

        /* a static member, refused in a dynamic group */
        assert_int_equal(manage_index_member_set(&x, "g-static", "dev-4", true, &c), 0);
        assert_int_equal(manage_index_member_set(&x, "g-new", "dev-4", true, &c), -ENOENT);
        assert_int_equal(manage_index_group_count(&x, "g-static"), 1);
        manage_changed_release(&c);

        /* a new rule: only dev-0 and dev-1 (12.1 and 12) fall outside "> 12" except dev-0 */
        assert_int_equal(manage_index_group_rule_take(&x, "g-new", compile("device.os_version > \"12\""), &c), 0);
        assert_int_equal(manage_index_group_count(&x, "g-new"), 1);
        assert_int_equal(c.n, 1500);
        manage_changed_release(&c);

        /* offboarding takes a device out of every group, static ones too */
        put(&x, "dev-4", "11", true, &c);
        assert_int_equal(c.n, 1);
        assert_int_equal(manage_index_group_count(&x, "g-static"), 0);
        manage_changed_release(&c);

        /* removing a group reports its members */
        assert_int_equal(manage_index_group_remove(&x, "g-kiosk", &c), 0);
        assert_int_equal(c.n, 1);
        assert_string_equal(c.ids[0], "dev-2");
        assert_int_equal(manage_index_group_count(&x, "g-kiosk"), -ENOENT);
        assert_int_equal(manage_index_group_remove(&x, "g-kiosk", &c), -ENOENT);
        manage_changed_release(&c);

        /* a device cap */
        {
                struct manage_device_facts f = { .id = "one-too-many" };
                assert_int_equal(manage_index_device_set(&x, &f, false, 3000, NULL), -E2BIG);
        }
        manage_index_release(&x);
}

static void test_assignment(void **state)
{
        struct manage m;
        struct vigild d = { .manage = &m };
        struct manage_assignment a;
        char err[256];
        json_t *j;

        assert_int_equal(manage_index_init(&m.index), 0);
        put(&m.index, "d-11", "11", false, NULL);
        put(&m.index, "d-12", "12", false, NULL);
        put(&m.index, "d-13", "13", false, NULL);
        put(&m.index, "d-gone", "13", true, NULL);
        assert_int_equal(manage_index_group_add_take(&m.index, "g-12", compile("device.os_version >= \"12\""), NULL), 0);
        assert_int_equal(manage_index_group_add_take(&m.index, "g-13", compile("device.os_version >= \"13\""), NULL), 0);

        /* include a group, exclude another: exclusion wins */
        j = json_loads("{\"include\":[\"g-12\"],\"exclude\":[\"g-13\"]}", 0, NULL);
        assert_int_equal(manage_assignment_parse(&d, j, &a, err, sizeof(err)), 0);
        json_decref(j);
        assert_false(manage_assignment_applies(&d, &a, "d-11"));
        assert_true(manage_assignment_applies(&d, &a, "d-12"));
        assert_false(manage_assignment_applies(&d, &a, "d-13"));
        assert_false(manage_assignment_applies(&d, &a, "nope"));
        j = manage_assignment_json(&a);
        assert_string_equal(json_string_value(json_array_get(json_object_get(j, "exclude"), 0)), "g-13");
        json_decref(j);

        /* all devices: onboarded ones only */
        j = json_loads("{\"include\":[\"all_devices\"],\"exclude\":[\"g-13\"]}", 0, NULL);
        assert_int_equal(manage_assignment_parse(&d, j, &a, err, sizeof(err)), 0);
        json_decref(j);
        assert_true(a.all_devices);
        assert_true(manage_assignment_applies(&d, &a, "d-11"));
        assert_false(manage_assignment_applies(&d, &a, "d-13"));
        assert_false(manage_assignment_applies(&d, &a, "d-gone"));

        /* refusals name what is wrong */
        {
                static const struct { const char *text, *words; } bad[] = {
                        { "{\"include\":[\"g-99\"]}", "'include[0]': no device group with id 'g-99'" },
                        { "{\"include\":[\"g-12\"],\"exclude\":[\"all_devices\"]}", "'exclude[0]': no device group" },
                        { "{\"include\":[\"g-12\",\"g-12\"]}", "'include[1]' is listed twice" },
                        { "{\"exclude\":[]}", "an assignment must be" },
                        { "{\"include\":[],\"only\":1}", "unknown member 'only'" },
                        { "{\"include\":\"g-12\"}", "'include' must be an array" },
                        { "{\"include\":[7]}", "'include[0]' must be a group id" },
                };
                for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                        j = json_loads(bad[i].text, 0, NULL);
                        err[0] = '\0';
                        if (manage_assignment_parse(&d, j, &a, err, sizeof(err)) != -EINVAL || !strstr(err, bad[i].words))
                                fail_msg("%s: '%s'", bad[i].text, err);
                        json_decref(j);
                }
        }
        /* groups of one device, in creation order */
        {
                char ids[4][MANAGE_ID_LEN + 1];
                size_t n = 0;

                assert_int_equal(manage_device_groups(&d, "d-13", ids, 4, &n), 0);
                assert_int_equal(n, 2);
                assert_string_equal(ids[0], "g-12");
                assert_string_equal(ids[1], "g-13");
                assert_int_equal(manage_device_groups(&d, "nope", ids, 4, &n), -ENOENT);
                assert_true(manage_device_in_group(&d, "g-13", "d-13"));
                assert_false(manage_device_in_group(&d, "g-13", "d-12"));
        }
        manage_index_release(&m.index);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_expr_match),
                cmocka_unit_test(test_expr_unknown_values),
                cmocka_unit_test(test_expr_errors),
                cmocka_unit_test(test_expr_bounds),
                cmocka_unit_test(test_version_compare),
                cmocka_unit_test(test_index),
                cmocka_unit_test(test_assignment),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
