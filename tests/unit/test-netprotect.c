/* Unit tests for network protection's pure parts (agent/src/netprotect.c):
 * the policy parser on valid and invalid entries (each refusal names the
 * entry and its reason), the canonical form and duplicates, the limits
 * (entries, name and label lengths, the JSON size), the server check with a
 * literal server URL, and the nft script made from a policy. The ruleset
 * itself is tested in tests/integration/netprotect.sh. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "agent/src/netprotect.h"

/* Parses json; on success returns the canonical entries joined by spaces. */
static int parse(const char *json, char *out, size_t out_size, char *err, size_t err_size)
{
        struct netprotect_policy *p = NULL;
        char t[NETPROTECT_ENTRY_MAX];
        size_t o = 0;
        int r;

        err[0] = '\0';
        r = netprotect_policy_parse(json, strlen(json), &p, err, err_size);
        if (r < 0) {
                assert_null(p);
                assert_true(err[0] != '\0');
                return r;
        }
        out[0] = '\0';
        for (size_t i = 0; i < p->n; i++) {
                netprotect_entry_text(&p->entries[i], t);
                o += (size_t)snprintf(out + o, out_size - o, "%s%s", i ? " " : "", t);
                assert_true(o < out_size);
        }
        r = p->audit_only;
        netprotect_policy_free(p);
        return r;
}

static void test_canonical(void **state)
{
        char out[1024], err[256];

        (void)state;
        assert_int_equal(parse("{\"block\": [\"198.51.100.0/24\", \"192.0.2.7/32\", \"2001:DB8:0:0::1/128\", "
                               "\"Bad.Example.COM.\", \"*.Ads.example.net\", \"bad.example.com\", \"2001:db8:1::/48\", "
                               "\"192.0.2.7\", \"xn--bcher-kva.example\", \"a-b.c0.example\"]}",
                               out, sizeof(out), err, sizeof(err)), 0);
        assert_string_equal(out, "198.51.100.0/24 192.0.2.7 2001:db8::1 bad.example.com *.ads.example.net "
                                 "2001:db8:1::/48 xn--bcher-kva.example a-b.c0.example");
        assert_int_equal(parse("{\"block\": [], \"audit_only\": true}", out, sizeof(out), err, sizeof(err)), 1);
        assert_string_equal(out, "");
}

/* Each bad entry is refused with its index, its text and the reason. */
static void test_invalid(void **state)
{
        static const struct {
                const char *entry, *why;
        } cases[] = {
                { "\"127.0.0.1\"", "block[0] \"127.0.0.1\": covers loopback" },
                { "\"126.0.0.0/7\"", "covers loopback (127.0.0.0/8)" },
                { "\"0.0.0.0/0\"", "covers loopback" },
                { "\"::1\"", "covers loopback (::1)" },
                { "\"::/0\"", "covers loopback (::1)" },
                { "\"::ffff:192.0.2.1\"", "IPv4-mapped" },
                { "\"198.51.100.1/24\"", "host bits set" },
                { "\"198.51.100.0/33\"", "bad prefix length (0-32)" },
                { "\"198.51.100.0/024\"", "bad prefix length" },
                { "\"198.51.100.0/\"", "bad prefix length" },
                { "\"2001:db8::/129\"", "bad prefix length (0-128)" },
                { "\"1.2.3\"", "not an IPv4 address" },
                { "\"1.2.3.256\"", "not an IPv4 address" },
                { "\"2001:db8:::1\"", "not an IPv6 address" },
                { "\"localhost\"", "single-label" },
                { "\"x.localhost\"", "localhost is loopback" },
                { "\"example\"", "single-label" },
                { "\"a..example.com\"", "each label" },
                { "\"-a.example.com\"", "each label" },
                { "\"a-.example.com\"", "each label" },
                { "\".example.com\"", "each label" },
                { "\"a.example.123\"", "not all digits" },
                { "\"exa_mple.com\"", "letters, digits, hyphens" },
                { "\"ex ample.com\"", "letters, digits, hyphens" },
                { "\"b\\u00fccher.example\"", "xn-- form" },
                { "\"*.*.example.com\"", "a wildcard is" },
                { "\"a*.example.com\"", "a wildcard is" },
                { "\"*\"", "a wildcard is" },
                { "\"*.com\"", "a wildcard needs a name of at least two labels" },
                { "\"*.\"", "1 to 253 bytes" },
                { "\"\"", "empty" },
                { "7", "block[0]: not a string" },
                { "\"10.0.0.0/8\", \"10.1.0.0/16\"", "block[1] \"10.1.0.0/16\": overlaps block[0] \"10.0.0.0/8\"" },
                { "\"10.1.0.0/16\", \"10.0.0.0/8\"", "block[1] \"10.0.0.0/8\": overlaps block[0] \"10.1.0.0/16\"" },
                { "\"2001:db8::/32\", \"2001:db8::5\"", "overlaps" },
        };
        char json[512], out[512], err[256];

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                snprintf(json, sizeof(json), "{\"block\": [%s]}", cases[i].entry);
                assert_int_equal(parse(json, out, sizeof(out), err, sizeof(err)), -EINVAL);
                if (!strstr(err, cases[i].why))
                        fail_msg("%s: '%s' lacks '%s'", cases[i].entry, err, cases[i].why);
        }
}

static void test_document(void **state)
{
        static const struct {
                const char *json, *why;
        } cases[] = {
                { "", "not JSON" },
                { "[]", "not a JSON object" },
                { "{}", "no \"block\" array" },
                { "{\"block\": {}}", "\"block\" is not an array" },
                { "{\"block\": [], \"audit_only\": 1}", "\"audit_only\" is not true or false" },
                { "{\"block\": [], \"allow\": []}", "unknown member \"allow\"" },
                { "{\"block\": [], \"block\": []}", "not JSON" },
        };
        char out[64], err[256];

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                assert_int_equal(parse(cases[i].json, out, sizeof(out), err, sizeof(err)), -EINVAL);
                if (!strstr(err, cases[i].why))
                        fail_msg("%s: '%s' lacks '%s'", cases[i].json, err, cases[i].why);
        }
}

/* A name of three labels of 63 bytes and one of last bytes: 192 + last. */
static size_t long_name(char *out, size_t last)
{
        memset(out, 'a', 192 + last);
        out[63] = out[127] = out[191] = '.';
        out[192 + last] = '\0';
        return 192 + last;
}

static void test_limits(void **state)
{
        struct netprotect_policy *p = NULL;
        char name[300], json[400], out[400], err[256];
        size_t cap = 40 + (size_t)NETPROTECT_ENTRIES_MAX * 32, o;
        char *big = malloc(cap);
        int r;

        (void)state;
        assert_int_equal(long_name(name, 61), 253);
        snprintf(json, sizeof(json), "{\"block\": [\"%s\"]}", name);
        assert_int_equal(parse(json, out, sizeof(out), err, sizeof(err)), 0);
        assert_int_equal(long_name(name, 62), 254);
        snprintf(json, sizeof(json), "{\"block\": [\"%s\"]}", name);
        assert_int_equal(parse(json, out, sizeof(out), err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "1 to 253 bytes"));
        memset(name, 'a', 64);
        snprintf(name + 64, sizeof(name) - 64, ".example.com");
        snprintf(json, sizeof(json), "{\"block\": [\"%s\"]}", name);
        assert_int_equal(parse(json, out, sizeof(out), err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "1 to 63"));

        /* 10,000 entries are taken, one more is refused */
        assert_non_null(big);
        o = (size_t)snprintf(big, cap, "{\"block\": [");
        for (unsigned i = 0; i < NETPROTECT_ENTRIES_MAX; i++)
                o += (size_t)snprintf(big + o, cap - o, "%s\"10.%u.%u.0/24\"", i ? "," : "", i / 256, i % 256);
        snprintf(big + o, cap - o, "]}");
        r = netprotect_policy_parse(big, strlen(big), &p, err, sizeof(err));
        assert_int_equal(r, 0);
        assert_int_equal(p->n, NETPROTECT_ENTRIES_MAX);
        netprotect_policy_free(p);
        snprintf(big + o, cap - o, ",\"192.0.2.1\"]}");
        assert_int_equal(netprotect_policy_parse(big, strlen(big), &p, err, sizeof(err)), -E2BIG);
        assert_non_null(strstr(err, "more than 10000"));
        assert_int_equal(netprotect_policy_parse(big, NETPROTECT_JSON_MAX + 1, &p, err, sizeof(err)), -E2BIG);
        free(big);
}

static struct netprotect_policy *policy(const char *json)
{
        struct netprotect_policy *p = NULL;
        char err[256];

        if (netprotect_policy_parse(json, strlen(json), &p, err, sizeof(err)) < 0)
                fail_msg("%s: %s", json, err);
        return p;
}

static void test_server(void **state)
{
        struct netprotect_policy *p;
        char err[256];

        (void)state;
        p = policy("{\"block\": [\"203.0.113.0/24\"]}");
        assert_int_equal(netprotect_policy_set_server(p, "https://203.0.113.9:8443", err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "entry \"203.0.113.0/24\" covers the server's address 203.0.113.9"));
        assert_int_equal(p->n_server, 0);
        assert_int_equal(netprotect_policy_set_server(p, "https://198.51.100.1", err, sizeof(err)), 0);
        assert_int_equal(p->n_server, 1);
        assert_int_equal(p->server[0].port, 443);
        assert_string_equal(p->server_host, "198.51.100.1");
        netprotect_policy_free(p);

        p = policy("{\"block\": [\"2001:db8::/32\"]}");
        assert_int_equal(netprotect_policy_set_server(p, "https://[2001:db8::1]:8443", err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "2001:db8::1"));
        assert_int_equal(netprotect_policy_set_server(p, "http://x", err, sizeof(err)), -EINVAL);
        netprotect_policy_free(p);
}

static void test_script(void **state)
{
        struct netprotect_policy *p;
        struct netprotect_addr addrs[2] = {
                { .family = AF_INET, .addr = { 192, 0, 2, 9 }, .entry = 2 },
                { .family = AF_INET6, .addr = { 0x20, 0x01, 0x0d, 0xb8, [15] = 9 }, .entry = 2 },
        };
        char *s = NULL;

        (void)state;
        p = policy("{\"block\": [\"198.51.100.0/24\", \"2001:db8:1::/48\", \"bad.example.com\"]}");
        assert_int_equal(netprotect_script_build(p, addrs, 2, &s, 1 << 20), 0);
        assert_non_null(strstr(s, "table inet vigil_netprotect\ndelete table inet vigil_netprotect\n"));
        assert_non_null(strstr(s, "\tchain e0 {\n\t\tct state new counter\n\t\tdrop\n\t}\n"));
        assert_non_null(strstr(s, "elements = { 198.51.100.0/24 : jump e0 }"));
        assert_non_null(strstr(s, "elements = { 2001:db8:1::/48 : jump e1 }"));
        assert_non_null(strstr(s, "elements = { 192.0.2.9 timeout 3600s : jump e2 }"));
        assert_non_null(strstr(s, "elements = { 2001:db8::9 timeout 3600s : jump e2 }"));
        assert_non_null(strstr(s, "ip daddr vmap @name4"));
        assert_non_null(strstr(s, "ip6 saddr vmap @addr6"));
        free(s);
        assert_int_equal(netprotect_script_build(p, addrs, 2, &s, 200), -E2BIG);
        p->audit_only = true;
        assert_int_equal(netprotect_script_build(p, NULL, 0, &s, 1 << 20), 0);
        assert_non_null(strstr(s, "\tchain e2 {\n\t\tct state new counter\n\t\taccept\n\t}\n"));
        assert_null(strstr(s, "drop"));
        assert_null(strstr(s, "timeout 3600s"));
        free(s);
        netprotect_policy_free(p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_canonical),
                cmocka_unit_test(test_invalid),
                cmocka_unit_test(test_document),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_server),
                cmocka_unit_test(test_script),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
