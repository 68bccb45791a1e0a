/* Unit tests of what the decision endpoint makes of a request target
 * before a policy's path prefix is matched against it: queries dropped,
 * escapes decoded, dot segments resolved, absolute-form targets, and the
 * refusals (no leading slash, bad escapes, an escaped NUL, too long). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "server/access/access-internal.h"

static void expect_path(const char *in, const char *want)
{
        char out[4096];
        int r = access_path_normalize(in, strlen(in), out, sizeof(out));

        if (r != 0 || strcmp(out, want) != 0)
                fail_msg("\"%s\": got %d \"%s\", want \"%s\"", in, r, r == 0 ? out : "", want);
}

static void expect_refused(const char *in, int want)
{
        char out[4096];
        int r = access_path_normalize(in, strlen(in), out, sizeof(out));

        if (r != want)
                fail_msg("\"%s\": got %d, want %d", in, r, want);
}

static void test_plain(void **state)
{
        (void)state;
        expect_path("/", "/");
        expect_path("/wiki", "/wiki");
        expect_path("/wiki/", "/wiki/");
        expect_path("/wiki/page?x=1&y=/admin", "/wiki/page");
        expect_path("/wiki#frag", "/wiki");
        expect_path("/a?", "/a");
}

static void test_dots_and_slashes(void **state)
{
        (void)state;
        expect_path("//admin", "/admin");
        expect_path("/wiki//../admin", "/admin");
        expect_path("/wiki/../admin", "/admin");
        expect_path("/wiki/./page", "/wiki/page");
        expect_path("/../../admin", "/admin");
        expect_path("/a/b/..", "/a/");
        expect_path("/a/b/.", "/a/b/");
        expect_path("/..", "/");
        expect_path("/.", "/");
        expect_path("/a/..b/c", "/a/..b/c");
        expect_path("/a/.../c", "/a/.../c");
}

static void test_escapes(void **state)
{
        (void)state;
        expect_path("/%61dmin", "/admin");
        expect_path("/wiki/%2e%2e/admin", "/admin");
        expect_path("/wiki%2F..%2Fadmin", "/admin");
        expect_path("/a%20b", "/a b");
        expect_refused("/a%2", -EINVAL);
        expect_refused("/a%zz", -EINVAL);
        expect_refused("/a%00b", -EINVAL);
        expect_refused("/a%", -EINVAL);
}

static void test_absolute_form(void **state)
{
        (void)state;
        expect_path("http://intranet.example.test/wiki?x", "/wiki");
        expect_path("https://intranet.example.test", "/");
        expect_path("HTTPS://h:8443/a/../b", "/b");
}

static void test_refused(void **state)
{
        char big[6000], out[64];

        (void)state;
        expect_refused("", -EINVAL);
        expect_refused("wiki", -EINVAL);
        expect_refused("*", -EINVAL);
        memset(big, 'a', sizeof(big));
        big[0] = '/';
        assert_int_equal(access_path_normalize(big, sizeof(big), out, sizeof(out)), -E2BIG);
        assert_int_equal(access_path_normalize("/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789",
                                               66, out, sizeof(out)),
                         -E2BIG);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plain),        cmocka_unit_test(test_dots_and_slashes),
                cmocka_unit_test(test_escapes),      cmocka_unit_test(test_absolute_form),
                cmocka_unit_test(test_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
