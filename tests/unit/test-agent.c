/* Unit tests for the agent's onboarding package parser: a valid package, each
 * field missing or wrong, the size caps, and that nothing is written to the
 * result on failure (run under the sanitizer build for leaks). */
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

#include "agent/src/agent.h"

#define CA "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUJ0t\n-----END CERTIFICATE-----\n"
#define TOKEN "vet1.eyJzcnYiOiJ4In0.AAAA"
#define URL "https://vigil.example.com:8443"

/* A package with the given fields; NULL leaves a field out. The caller frees. */
static char *package(json_t *version, const char *url, const char *ca, const char *token)
{
        json_t *j = json_object();
        char *s;

        assert_non_null(j);
        if (version)
                json_object_set_new(j, "vigil_onboarding", version);
        if (url)
                json_object_set_new(j, "server_url", json_string(url));
        if (ca)
                json_object_set_new(j, "server_ca", json_string(ca));
        if (token)
                json_object_set_new(j, "enrollment_token", json_string(token));
        json_object_set_new(j, "expires_at", json_string("2030-01-01T00:00:00Z"));
        s = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        assert_non_null(s);
        return s;
}

static void poison(struct agent_package *p)
{
        memset(p, 0x5a, sizeof(*p));
}

static void assert_poisoned(const struct agent_package *p)
{
        struct agent_package q;

        poison(&q);
        assert_memory_equal(p, &q, sizeof(q));
}

/* Expects text to be refused with r, ret untouched and a message in err. */
static void assert_refused_len(const char *text, size_t len, int r, const char *why)
{
        struct agent_package p;
        char err[256] = "";

        poison(&p);
        if (agent_package_parse(text, len, &p, err, sizeof(err)) != r)
                fail_msg("not refused with %d: %s", r, why);
        assert_poisoned(&p);
        if (strlen(err) == 0)
                fail_msg("no reason given: %s", why);
}

static void assert_refused(char *text, const char *why)
{
        assert_refused_len(text, strlen(text), -EINVAL, why);
        free(text);
}

static void test_valid(void **state)
{
        struct agent_package p;
        char err[256] = "";
        char *text = package(json_integer(1), URL, CA, TOKEN);

        poison(&p);
        assert_int_equal(agent_package_parse(text, strlen(text), &p, err, sizeof(err)), 0);
        assert_string_equal(p.server_url, URL);
        assert_string_equal(p.server_ca, CA);
        assert_string_equal(p.token, TOKEN);
        agent_package_release(&p);
        assert_null(p.server_ca);
        assert_null(p.token);
        agent_package_release(&p); /* twice is harmless */
        free(text);

        /* fields in any order, whitespace around them, unknown fields ignored */
        {
                const char *t = "\n{ \"enrollment_token\" : \"" TOKEN "\",\n"
                                "  \"server_ca\": \"-----BEGIN CERTIFICATE-----\\nAA\\n-----END CERTIFICATE-----\\n\",\n"
                                "  \"extra\": [1, 2, {}],\n"
                                "  \"server_url\": \"https://10.0.0.1\", \"vigil_onboarding\": 1 }\n";
                assert_int_equal(agent_package_parse(t, strlen(t), &p, err, sizeof(err)), 0);
                assert_string_equal(p.server_url, "https://10.0.0.1");
                assert_string_equal(p.server_ca, "-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----\n");
                agent_package_release(&p);
        }
}

static void test_missing_fields(void **state)
{
        assert_refused(package(NULL, URL, CA, TOKEN), "no vigil_onboarding");
        assert_refused(package(json_integer(1), NULL, CA, TOKEN), "no server_url");
        assert_refused(package(json_integer(1), URL, NULL, TOKEN), "no server_ca");
        assert_refused(package(json_integer(1), URL, CA, NULL), "no enrollment_token");
        assert_refused(package(NULL, NULL, NULL, NULL), "nothing");
}

static void test_field_types(void **state)
{
        assert_refused(package(json_string("1"), URL, CA, TOKEN), "version as a string");
        assert_refused(package(json_real(1.0), URL, CA, TOKEN), "version as a real");
        assert_refused(package(json_true(), URL, CA, TOKEN), "version as a boolean");
        {
                const char *t = "{\"vigil_onboarding\":1,\"server_url\":1,"
                                "\"server_ca\":\"" "-----BEGIN CERTIFICATE-----" "\","
                                "\"enrollment_token\":\"" TOKEN "\"}";
                assert_refused_len(t, strlen(t), -EINVAL, "url as a number");
        }
        {
                const char *t = "{\"vigil_onboarding\":1,\"server_url\":\"" URL "\","
                                "\"server_ca\":null,\"enrollment_token\":\"" TOKEN "\"}";
                assert_refused_len(t, strlen(t), -EINVAL, "ca null");
        }
        {
                const char *t = "{\"vigil_onboarding\":1,\"server_url\":\"" URL "\","
                                "\"server_ca\":[\"" "-----BEGIN CERTIFICATE-----" "\"],"
                                "\"enrollment_token\":\"" TOKEN "\"}";
                assert_refused_len(t, strlen(t), -EINVAL, "ca an array");
        }
}

static void test_version(void **state)
{
        assert_refused(package(json_integer(0), URL, CA, TOKEN), "version 0");
        assert_refused(package(json_integer(2), URL, CA, TOKEN), "version 2");
        assert_refused(package(json_integer(-1), URL, CA, TOKEN), "version -1");
        assert_refused(package(json_integer(4294967297LL), URL, CA, TOKEN), "version 2^32+1");
}

static void test_url(void **state)
{
        char url[AGENT_URL_MAX + 2];
        struct agent_package p;
        char err[256];
        char *text;

        assert_refused(package(json_integer(1), "http://vigil.example.com", CA, TOKEN), "http://");
        assert_refused(package(json_integer(1), "vigil.example.com", CA, TOKEN), "no scheme");
        assert_refused(package(json_integer(1), "", CA, TOKEN), "empty url");
        assert_refused(package(json_integer(1), "ftp://vigil.example.com", CA, TOKEN), "ftp://");
        assert_refused(package(json_integer(1), " https://vigil.example.com", CA, TOKEN), "leading space");
        assert_refused(package(json_integer(1), "https://vigil.example.com\n", CA, TOKEN), "newline");
        assert_refused(package(json_integer(1), "https://vigil\x7f.example.com", CA, TOKEN), "DEL");
        assert_refused(package(json_integer(1), "https://vigil.\xc3\xa9xample.com", CA, TOKEN), "non-ASCII");

        /* exactly AGENT_URL_MAX bytes fits; one more does not */
        memset(url, 'a', sizeof(url));
        memcpy(url, "https://", 8);
        url[AGENT_URL_MAX] = '\0';
        text = package(json_integer(1), url, CA, TOKEN);
        assert_int_equal(agent_package_parse(text, strlen(text), &p, err, sizeof(err)), 0);
        assert_string_equal(p.server_url, url);
        agent_package_release(&p);
        free(text);
        url[AGENT_URL_MAX] = 'a';
        url[AGENT_URL_MAX + 1] = '\0';
        assert_refused(package(json_integer(1), url, CA, TOKEN), "url too long");
}

static void test_ca(void **state)
{
        struct agent_package p;
        char err[256];
        char *big, *text;
        size_t n = 33 * 1024;

        assert_refused(package(json_integer(1), URL, "", TOKEN), "empty ca");
        assert_refused(package(json_integer(1), URL, "MIIBszCCAVmgAwIBAgIUJ0t", TOKEN), "bare base64");
        assert_refused(package(json_integer(1), URL,
                               "-----BEGIN PRIVATE KEY-----\nAA\n-----END PRIVATE KEY-----\n", TOKEN),
                       "a key, not a certificate");
        assert_refused(package(json_integer(1), URL,
                               "-----BEGIN CERTIFICATE REQUEST-----\nAA\n-----END CERTIFICATE REQUEST-----\n",
                               TOKEN), "a request, not a certificate");
        assert_refused(package(json_integer(1), URL, "-----begin certificate-----\nAA\n", TOKEN),
                       "lower case armour");

        /* a CA bundle far beyond any real one is refused */
        big = malloc(n + 1);
        assert_non_null(big);
        memset(big, 'A', n);
        memcpy(big, CA, strlen(CA));
        big[n] = '\0';
        assert_refused(package(json_integer(1), URL, big, TOKEN), "ca over 32 KiB");
        /* while a bundle of a few certificates is fine */
        big[8 * 1024] = '\0';
        text = package(json_integer(1), URL, big, TOKEN);
        assert_int_equal(agent_package_parse(text, strlen(text), &p, err, sizeof(err)), 0);
        assert_int_equal(strlen(p.server_ca), 8 * 1024);
        agent_package_release(&p);
        free(text);
        free(big);
}

static void test_token(void **state)
{
        char tok[1100];
        struct agent_package p;
        char err[256];
        char *text;

        assert_refused(package(json_integer(1), URL, CA, ""), "empty token");
        assert_refused(package(json_integer(1), URL, CA, "vet1.abc\ndef"), "newline in token");
        assert_refused(package(json_integer(1), URL, CA, "vet1.abc\x01" "def"), "control in token");
        assert_refused(package(json_integer(1), URL, CA, "vet1.abc\x1b[31m"), "escape in token");
        assert_refused(package(json_integer(1), URL, CA, "vet1.abc\tdef"), "tab in token");
        assert_refused(package(json_integer(1), URL, CA, "vet1.abc\x7f"), "DEL in token");
        assert_refused(package(json_integer(1), URL, CA, "vet1.\xc3\xa9"), "non-ASCII token");

        /* a NUL inside the JSON string is refused by the JSON reader */
        {
                const char *t = "{\"vigil_onboarding\":1,\"server_url\":\"" URL "\","
                                "\"server_ca\":\"" "-----BEGIN CERTIFICATE-----" "\","
                                "\"enrollment_token\":\"vet1.a\\u0000b\"}";
                assert_refused_len(t, strlen(t), -EINVAL, "NUL in token");
        }

        /* 1024 bytes is the token cap */
        memset(tok, 'A', sizeof(tok));
        tok[1024] = '\0';
        text = package(json_integer(1), URL, CA, tok);
        assert_int_equal(agent_package_parse(text, strlen(text), &p, err, sizeof(err)), 0);
        assert_int_equal(strlen(p.token), 1024);
        agent_package_release(&p);
        free(text);
        tok[1024] = 'A';
        tok[1025] = '\0';
        assert_refused(package(json_integer(1), URL, CA, tok), "token over 1024");
}

static void test_size_cap(void **state)
{
        struct agent_package p;
        char err[256];
        char *text = package(json_integer(1), URL, CA, TOKEN);
        size_t n = strlen(text);
        char *padded = malloc(AGENT_PACKAGE_MAX + 2);

        assert_non_null(padded);
        /* a valid package padded with whitespace to exactly the cap is read */
        memset(padded, ' ', AGENT_PACKAGE_MAX + 1);
        memcpy(padded, text, n);
        padded[AGENT_PACKAGE_MAX + 1] = '\0';
        assert_int_equal(agent_package_parse(padded, AGENT_PACKAGE_MAX, &p, err, sizeof(err)), 0);
        assert_string_equal(p.token, TOKEN);
        agent_package_release(&p);
        /* one byte more is not */
        assert_refused_len(padded, AGENT_PACKAGE_MAX + 1, -E2BIG, "one byte over the cap");
        free(padded);
        free(text);
}

static void test_not_json(void **state)
{
        static const char *const texts[] = {
                "", "not json", "[]", "1", "\"https://x\"", "null",
                "{\"vigil_onboarding\":1,",
                "{\"vigil_onboarding\":1,\"vigil_onboarding\":1,\"server_url\":\"" URL "\","
                "\"server_ca\":\"" "-----BEGIN CERTIFICATE-----" "\",\"enrollment_token\":\"" TOKEN "\"}",
        };
        char *text;

        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
                assert_refused_len(texts[i], strlen(texts[i]), -EINVAL, texts[i]);
        /* a valid package with trailing garbage, or a second document */
        text = package(json_integer(1), URL, CA, TOKEN);
        {
                size_t n = strlen(text);
                char *more = malloc(n + 4);
                assert_non_null(more);
                memcpy(more, text, n);
                memcpy(more + n, " {}", 4);
                assert_refused_len(more, n + 3, -EINVAL, "trailing document");
                /* a NUL before the end of the given length */
                more[n] = '\0';
                assert_refused_len(more, n + 3, -EINVAL, "NUL then text");
                free(more);
        }
        /* the length, not a NUL, bounds what is read */
        assert_refused_len(text, strlen(text) - 1, -EINVAL, "truncated by one byte");
        free(text);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid),
                cmocka_unit_test(test_missing_fields),
                cmocka_unit_test(test_field_types),
                cmocka_unit_test(test_version),
                cmocka_unit_test(test_url),
                cmocka_unit_test(test_ca),
                cmocka_unit_test(test_token),
                cmocka_unit_test(test_size_cap),
                cmocka_unit_test(test_not_json),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
