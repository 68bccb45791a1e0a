/* Unit tests for vigild's route matching (http_path_match): literal paths,
 * {name} captures and what a capture may hold. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "server/http/http.h"

static bool match(const char *pattern, const char *path,
                  char params[HTTP_PARAMS_MAX][HTTP_PARAM_MAX + 1])
{
        return http_path_match(pattern, path, params);
}

static void test_exact(void **state)
{
        char p[HTTP_PARAMS_MAX][HTTP_PARAM_MAX + 1];

        assert_true(match("/api/v1/devices", "/api/v1/devices", p));
        assert_true(match("/", "/", p));
        assert_false(match("/api/v1/devices", "/api/v1/device", p));
        assert_false(match("/api/v1/devices", "/api/v1/devicesx", p));
        assert_false(match("/api/v1/devices", "/api/v1/Devices", p));
        assert_false(match("/api/v1/devices", "/api/v2/devices", p));
        assert_false(match("/api/v1/devices", "", p));
        assert_false(match("/api/v1/devices", "/", p));
        assert_false(match("/", "", p));
        assert_false(match("/api/v1/devices", "api/v1/devices", p));
}

static void test_trailing_slash(void **state)
{
        char p[HTTP_PARAMS_MAX][HTTP_PARAM_MAX + 1];

        assert_false(match("/api/v1/devices", "/api/v1/devices/", p));
        assert_false(match("/api/v1/devices/", "/api/v1/devices", p));
        assert_false(match("/api/v1/devices/{id}", "/api/v1/devices/abc/", p));
        assert_false(match("/api/v1/devices/{id}/", "/api/v1/devices/abc", p));
        assert_true(match("/api/v1/devices/{id}/", "/api/v1/devices/abc/", p));
        assert_string_equal(p[0], "abc");
}

static void test_captures(void **state)
{
        char p[HTTP_PARAMS_MAX][HTTP_PARAM_MAX + 1];

        memset(p, 0, sizeof(p));
        assert_true(match("/api/v1/devices/{id}", "/api/v1/devices/6b1f3c2a-8d4e.x_Y", p));
        assert_string_equal(p[0], "6b1f3c2a-8d4e.x_Y");

        memset(p, 'z', sizeof(p));
        assert_true(match("/api/v1/devices/{id}/software", "/api/v1/devices/d1/software", p));
        assert_string_equal(p[0], "d1");
        assert_false(match("/api/v1/devices/{id}/software", "/api/v1/devices/d1/softwarex", p));
        assert_false(match("/api/v1/devices/{id}/software", "/api/v1/devices/d1", p));
        assert_false(match("/api/v1/devices/{id}/software", "/api/v1/devices/d1/d2/software", p));

        memset(p, 0, sizeof(p));
        assert_true(match("/a/{x}/b/{y}/c/{z}", "/a/1/b/22/c/333", p));
        assert_string_equal(p[0], "1");
        assert_string_equal(p[1], "22");
        assert_string_equal(p[2], "333");

        /* captures next to each other, and four (the most) */
        memset(p, 0, sizeof(p));
        assert_true(match("/{a}/{b}/{c}/{d}", "/w/x/y/z", p));
        assert_string_equal(p[0], "w");
        assert_string_equal(p[1], "x");
        assert_string_equal(p[2], "y");
        assert_string_equal(p[3], "z");

        /* the capture name does not matter, only its place */
        assert_true(match("/t/{token_id}", "/t/abc", p));
        assert_string_equal(p[0], "abc");
}

static void test_empty_segment(void **state)
{
        char p[HTTP_PARAMS_MAX][HTTP_PARAM_MAX + 1];

        assert_false(match("/api/v1/devices/{id}", "/api/v1/devices/", p));
        assert_false(match("/api/v1/devices/{id}/software", "/api/v1/devices//software", p));
        assert_false(match("/a/{x}/b", "/a//b", p));
        assert_false(match("/{a}/{b}", "//b", p));
        assert_false(match("/{a}/{b}", "/a/", p));
}

static void test_param_length(void **state)
{
        char p[HTTP_PARAMS_MAX][HTTP_PARAM_MAX + 1];
        char path[HTTP_PARAM_MAX + 64], value[HTTP_PARAM_MAX + 2];

        memset(value, 'a', sizeof(value));
        value[HTTP_PARAM_MAX] = '\0';
        snprintf(path, sizeof(path), "/d/%s/x", value);
        memset(p, 0, sizeof(p));
        assert_true(match("/d/{id}/x", path, p));
        assert_string_equal(p[0], value);
        assert_int_equal(strlen(p[0]), HTTP_PARAM_MAX);

        value[HTTP_PARAM_MAX] = 'a';
        value[HTTP_PARAM_MAX + 1] = '\0';
        snprintf(path, sizeof(path), "/d/%s/x", value);
        assert_false(match("/d/{id}/x", path, p));
        snprintf(path, sizeof(path), "/d/%s", value);
        assert_false(match("/d/{id}", path, p));
}

static void test_param_chars(void **state)
{
        static const char *const refused[] = {
                "/d/%2e", "/d/..%2f", "/d/a%20b", "/d/a b", "/d/a+b", "/d/a:b", "/d/a;b",
                "/d/a?b", "/d/a#b", "/d/a\\b", "/d/a~b", "/d/a\"b", "/d/a'b", "/d/a\tb",
                "/d/a\nb", "/d/\xc3\xa9", "/d/a*b", "/d/{id}", "/d/a@b", "/d/a=b",
        };
        char p[HTTP_PARAMS_MAX][HTTP_PARAM_MAX + 1];

        for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
                if (match("/d/{id}", refused[i], p))
                        fail_msg("'%s' matched with capture '%s'", refused[i], p[0]);
        /* every allowed class on its own */
        assert_true(match("/d/{id}", "/d/AZaz09._-", p));
        assert_string_equal(p[0], "AZaz09._-");
        /* a capture ends at '/', so a traversal cannot reach past its segment */
        assert_false(match("/d/{id}", "/d/../etc", p));
}

static void test_too_many_params(void **state)
{
        char p[HTTP_PARAMS_MAX][HTTP_PARAM_MAX + 1];

        assert_false(match("/{a}/{b}/{c}/{d}/{e}", "/1/2/3/4/5", p));
        assert_false(match("/{a}{b}", "/ab", p));       /* a capture takes the segment */
}

static void test_bad_pattern(void **state)
{
        char p[HTTP_PARAMS_MAX][HTTP_PARAM_MAX + 1];

        /* an unclosed capture never matches */
        assert_false(match("/d/{id", "/d/abc", p));
        assert_false(match("/d/{id", "/d/{id", p));
}

/* The list replies: a page (next_offset while there is more), a whole
 * list, and a failed read. */
static void test_list_replies(void **state)
{
        struct http_reply rep = { 0 };
        json_t *arr = json_pack("[i,i]", 1, 2);

        http_reply_page(&rep, json_incref(arr), 5, 2);
        assert_int_equal(rep.status, 200);
        assert_int_equal(json_integer_value(json_object_get(rep.json, "count")), 5);
        assert_int_equal(json_integer_value(json_object_get(rep.json, "next_offset")), 4);
        assert_ptr_equal(json_object_get(rep.json, "value"), arr);
        http_reply_page(&rep, json_incref(arr), 4, 2);
        assert_true(json_is_null(json_object_get(rep.json, "next_offset")));
        http_reply_values(&rep, json_incref(arr));
        assert_int_equal(rep.status, 200);
        assert_int_equal(json_integer_value(json_object_get(rep.json, "count")), 2);
        assert_null(json_object_get(rep.json, "next_offset"));
        http_reply_list_failed(&rep, arr, "list things");
        assert_int_equal(rep.status, 500);
        assert_string_equal(json_string_value(json_object_get(json_object_get(rep.json, "error"), "code")),
                            "database_error");
        assert_string_equal(json_string_value(json_object_get(json_object_get(rep.json, "error"), "message")),
                            "cannot list things");
        json_decref(rep.json);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exact),
                cmocka_unit_test(test_trailing_slash),
                cmocka_unit_test(test_captures),
                cmocka_unit_test(test_empty_segment),
                cmocka_unit_test(test_param_length),
                cmocka_unit_test(test_param_chars),
                cmocka_unit_test(test_too_many_params),
                cmocka_unit_test(test_bad_pattern),
                cmocka_unit_test(test_list_replies),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
