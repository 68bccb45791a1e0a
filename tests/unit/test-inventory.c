/* Unit tests for lib/inventory: the dpkg status and os-release parsers, the
 * nft ruleset summary, and the collector on fake roots in
 * tests/data/inventory/ and once on this machine. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "inventory/inventory.h"
#include "util/strutil.h"
#include "util/vbuf.h"

/* ---- helpers ---- */

static const char *data_path(const char *rel)
{
        static char path[4096];
        const char *dir = getenv("VIGIL_TEST_DATA");
        int n;

        assert_non_null(dir);
        n = snprintf(path, sizeof(path), "%s/inventory/%s", dir, rel);
        assert_true(n > 0 && (size_t)n < sizeof(path));
        return path;
}

static char *data_read(const char *rel, size_t *ret_len)
{
        char *data;

        assert_int_equal(util_file_read(data_path(rel), 1024 * 1024, &data, ret_len), 0);
        return data;
}

static const char *str_at(json_t *obj, const char *key)
{
        json_t *v = json_object_get(obj, key);

        assert_true(json_is_string(v));
        return json_string_value(v);
}

static void assert_package(json_t *pkg, const char *name, const char *version, const char *arch,
                           const char *source, const char *source_version)
{
        assert_int_equal(json_object_size(pkg), 5);
        assert_string_equal(str_at(pkg, "name"), name);
        assert_string_equal(str_at(pkg, "version"), version);
        assert_string_equal(str_at(pkg, "architecture"), arch);
        assert_string_equal(str_at(pkg, "source"), source);
        assert_string_equal(str_at(pkg, "source_version"), source_version);
}

/* Parses text and returns the names of the packages kept, comma-separated. */
static char *dpkg_names(const char *text)
{
        json_t *pkgs = json_array(), *pkg;
        struct vbuf names;
        size_t i;

        assert_int_equal(inventory_dpkg_parse(text, strlen(text), pkgs), 0);
        vbuf_init(&names, 4096);
        json_array_foreach(pkgs, i, pkg)
                assert_int_equal(vbuf_printf(&names, "%s%s", i ? "," : "", str_at(pkg, "name")), 0);
        json_decref(pkgs);
        return vbuf_steal(&names, NULL);
}

/* ---- dpkg ---- */

static void test_dpkg_status(void **state)
{
        json_t *pkgs = json_array();
        char *text;
        size_t len;

        assert_int_equal(json_array_append_new(pkgs, json_string("kept")), 0);
        text = data_read("root-plain/var/lib/dpkg/status", &len);
        assert_int_equal(inventory_dpkg_parse(text, len, pkgs), 0);
        /* old-editor (config-files) and half-done (half-configured) are left out */
        assert_int_equal(json_array_size(pkgs), 5);
        assert_string_equal(json_string_value(json_array_get(pkgs, 0)), "kept");
        assert_package(json_array_get(pkgs, 1), "adduser", "3.134", "all", "adduser", "3.134");
        assert_package(json_array_get(pkgs, 2), "libssl3", "3.0.15-1~deb12u1", "amd64",
                       "openssl", "3.0.15-1~deb12u1");
        assert_package(json_array_get(pkgs, 3), "libgcc-s1", "12.2.0-14", "amd64",
                       "gcc-12", "12.2.0-14");
        assert_package(json_array_get(pkgs, 4), "libpython3.11-minimal", "3.11.2-6+deb12u4", "amd64",
                       "python3.11", "3.11.2-6+deb12u2");
        free(text);
        json_decref(pkgs);
}

static void test_dpkg_syntax(void **state)
{
        static const struct {
                const char *text;
                const char *names;
        } cases[] = {
                { "", "" },
                { "\n\n\n", "" },
                /* no final newline, whitespace-only separator, CRLF, any case */
                { "Package: a\nStatus: install ok installed\nVersion: 1\n \t\npackage: b\n"
                  "STATUS: install ok installed\nversion: 2", "a,b" },
                { "Package: a\r\nStatus: install ok installed\r\nVersion: 1\r\n\r\n", "a" },
                /* a later copy of a field wins */
                { "Package: a\nPackage: b\nStatus: install ok installed\nVersion: 1\n", "b" },
                /* status words */
                { "Package: a\nStatus: install ok unpacked\nVersion: 1\n\n"
                  "Package: b\nStatus: purge ok not-installed\nVersion: 1\n\n"
                  "Package: c\nStatus: install ok installed extra\nVersion: 1\n\n"
                  "Package: d\nStatus: install  ok\tinstalled\nVersion: 1\n\n"
                  "Package: e\nVersion: 1\n", "d" },
                /* malformed stanzas are skipped, the next one is kept */
                { " continuation first\nPackage: a\nStatus: install ok installed\nVersion: 1\n\n"
                  "Package: ok1\nStatus: install ok installed\nVersion: 1\n", "ok1" },
                { "Status: install ok installed\nVersion: 1\n\n"
                  "Package: ok2\nStatus: install ok installed\nVersion: 1\n", "ok2" },
                { "Package: a\nStatus: install ok installed\nVersion: 1\nno colon here\n\n"
                  "Package: ok3\nStatus: install ok installed\nVersion: 1\n", "ok3" },
                { "Package: a\nStatus: install ok installed\n: empty name\nVersion: 1\n\n"
                  "Package: ok4\nStatus: install ok installed\nVersion: 1\n", "ok4" },
                { "Package: a\n more name\nStatus: install ok installed\nVersion: 1\n\n"
                  "Package: ok5\nStatus: install ok installed\nVersion: 1\n", "ok5" },
                { "Package: a b\nStatus: install ok installed\nVersion: 1\n\n"
                  "Package: c\nStatus: install ok installed\nVersion:\n\n"
                  "Package: d\nStatus: install ok installed\n\n"
                  "Package: ok6\nStatus: install ok installed\nVersion: 1\n", "ok6" },
                { "Package: a\nStatus: install ok installed\nVersion: 1\nSource: s (1.0\n\n"
                  "Package: b\nStatus: install ok installed\nVersion: 1\nSource: s ()\n\n"
                  "Package: c\nStatus: install ok installed\nVersion: 1\nSource: s 1.0\n\n"
                  "Package: d\nStatus: install ok installed\nVersion: 1\nArchitecture: am d64\n\n"
                  "Package: ok7\nStatus: install ok installed\nVersion: 1\nSource: s ( 2.0 )\n", "ok7" },
                { "Package: caf\xc3\xa9\nStatus: install ok installed\nVersion: 1\n\n"
                  "Package: ok8\nStatus: install ok installed\nVersion: 1\n", "ok8" },
                /* continuation lines of fields we ignore are fine */
                { "Package: a\nDescription: x\n y\n .\n\tz\nStatus: install ok installed\nVersion: 1\n", "a" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *names = dpkg_names(cases[i].text);
                assert_string_equal(names, cases[i].names);
                free(names);
        }
}

static void test_dpkg_nul(void **state)
{
        /* strlen() would stop at the NUL; the parser reads len bytes */
        static const char text[] = "Package: nul\nStatus: install ok installed\nVersion: 1\0002\n\n"
                                   "Package: b\nStatus: install ok installed\nVersion: 2\n";
        json_t *pkgs = json_array();

        assert_int_equal(inventory_dpkg_parse(text, sizeof(text) - 1, pkgs), 0);
        assert_int_equal(json_array_size(pkgs), 1);
        assert_string_equal(str_at(json_array_get(pkgs, 0), "name"), "b");
        json_decref(pkgs);
}

/* Builds "Package: p\nStatus: ...\n<field>: <n x c>\n" plus a good stanza. */
static char *stanza_with(const char *field, size_t n, char c, const char *status)
{
        struct vbuf b;
        char *s;

        vbuf_init(&b, 1024 * 1024);
        assert_int_equal(vbuf_printf(&b, "Package: p\nStatus: %s\nVersion: 1\n%s: ", status, field), 0);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(vbuf_append(&b, &c, 1), 0);
        assert_int_equal(vbuf_puts(&b, "\n\nPackage: q\nStatus: install ok installed\nVersion: 1\n"), 0);
        s = vbuf_steal(&b, NULL);
        assert_non_null(s);
        return s;
}

static void test_dpkg_caps(void **state)
{
        json_t *pkgs = json_array();
        char *text;

        assert_int_equal(json_array_append_new(pkgs, json_string("kept")), 0);

        /* a kept field at the cap is fine, one byte more is -E2BIG ... */
        text = stanza_with("Source", INVENTORY_DPKG_FIELD_MAX, 's', "install ok installed");
        assert_int_equal(inventory_dpkg_parse(text, strlen(text), pkgs), 0);
        assert_int_equal(json_array_size(pkgs), 3);
        assert_int_equal(strlen(str_at(json_array_get(pkgs, 1), "source")), INVENTORY_DPKG_FIELD_MAX);
        free(text);
        assert_int_equal(json_array_remove(pkgs, 2), 0);
        assert_int_equal(json_array_remove(pkgs, 1), 0);
        text = stanza_with("Version", INVENTORY_DPKG_FIELD_MAX + 1, '1', "install ok installed");
        assert_int_equal(inventory_dpkg_parse(text, strlen(text), pkgs), -E2BIG);
        free(text);
        /* ... even in a stanza that would not be kept */
        text = stanza_with("Architecture", INVENTORY_DPKG_FIELD_MAX + 1, 'a', "deinstall ok config-files");
        assert_int_equal(inventory_dpkg_parse(text, strlen(text), pkgs), -E2BIG);
        free(text);
        /* other fields are bounded by the line cap only */
        text = stanza_with("Description", INVENTORY_DPKG_LINE_MAX - strlen("Description: "), 'd',
                           "install ok installed");
        assert_int_equal(json_array_size(pkgs), 1);
        assert_int_equal(inventory_dpkg_parse(text, strlen(text), pkgs), 0);
        assert_int_equal(json_array_size(pkgs), 3);
        free(text);
        assert_int_equal(json_array_remove(pkgs, 2), 0);
        assert_int_equal(json_array_remove(pkgs, 1), 0);
        text = stanza_with("Description", INVENTORY_DPKG_LINE_MAX, 'd', "install ok installed");
        assert_int_equal(inventory_dpkg_parse(text, strlen(text), pkgs), -E2BIG);
        free(text);
        /* on every error the array was left as it was */
        assert_int_equal(json_array_size(pkgs), 1);
        assert_string_equal(json_string_value(json_array_get(pkgs, 0)), "kept");
        json_decref(pkgs);
}

static void test_dpkg_count_cap(void **state)
{
        static const char stanza[] = "Package: p\nStatus: install ok installed\nVersion: 1\n\n";
        static const char skipped[] = "Package: p\nStatus: deinstall ok config-files\nVersion: 1\n\n";
        json_t *pkgs = json_array();
        struct vbuf b;

        vbuf_init(&b, 16 * 1024 * 1024);
        for (unsigned i = 0; i < INVENTORY_DPKG_PACKAGES_MAX; i++)
                assert_int_equal(vbuf_puts(&b, stanza), 0);
        assert_int_equal(vbuf_puts(&b, skipped), 0);   /* not installed: does not count */
        assert_int_equal(inventory_dpkg_parse(b.data, b.len, pkgs), 0);
        assert_int_equal(json_array_size(pkgs), INVENTORY_DPKG_PACKAGES_MAX);
        json_decref(pkgs);

        pkgs = json_array();
        assert_int_equal(vbuf_puts(&b, stanza), 0);
        assert_int_equal(inventory_dpkg_parse(b.data, b.len, pkgs), -E2BIG);
        assert_int_equal(json_array_size(pkgs), 0);
        json_decref(pkgs);
        vbuf_release(&b);
}

static void test_dpkg_args(void **state)
{
        json_t *obj = json_object(), *pkgs = json_array();

        assert_int_equal(inventory_dpkg_parse("", 0, obj), -EINVAL);
        assert_int_equal(inventory_dpkg_parse("", 0, NULL), -EINVAL);
        assert_int_equal(inventory_dpkg_parse(NULL, 1, pkgs), -EINVAL);
        assert_int_equal(inventory_dpkg_parse(NULL, 0, pkgs), 0);
        assert_int_equal(json_array_size(pkgs), 0);
        assert_int_equal(json_object_size(obj), 0);
        json_decref(obj);
        json_decref(pkgs);
}

/* ---- os-release ---- */

static void assert_os(json_t *os, const char *name, const char *id, const char *version,
                      const char *version_id, const char *pretty_name, const char *codename)
{
        assert_string_equal(str_at(os, "name"), name);
        assert_string_equal(str_at(os, "id"), id);
        assert_string_equal(str_at(os, "version"), version);
        assert_string_equal(str_at(os, "version_id"), version_id);
        assert_string_equal(str_at(os, "pretty_name"), pretty_name);
        assert_string_equal(str_at(os, "version_codename"), codename);
}

static void test_os_release_files(void **state)
{
        json_t *os = json_object();
        char *text;
        size_t len;

        text = data_read("root-plain/etc/os-release", &len);
        assert_int_equal(inventory_os_release_parse(text, len, os), 0);
        assert_int_equal(json_object_size(os), 6);
        assert_os(os, "Debian GNU/Linux", "debian", "12 (bookworm)", "12",
                  "Debian GNU/Linux 12 (bookworm)", "bookworm");
        free(text);

        /* shell quoting, comments, repeated keys, bad lines skipped */
        text = data_read("root-crypt/etc/os-release", &len);
        assert_int_equal(inventory_os_release_parse(text, len, os), 0);
        assert_os(os, "Example Linux", "example", "1.0 \"Quoted\" \\ $HOME", "1.0",
                  "Example Linux 1.0", "second");
        free(text);
        json_decref(os);
}

static void test_os_release_lines(void **state)
{
        static const struct {
                const char *text;
                const char *id;
        } cases[] = {
                { "", "" },
                { "ID=a", "a" },
                { "  ID=a  \n", "a" },
                { "ID='a b'", "a b" },
                { "ID=\"a\\nb\"", "a\\nb" },    /* only \" \\ \$ \` are escapes */
                { "ID=a\\ b", "a b" },
                { "ID=", "" },
                { "ID=a\nID=\"unterminated\n", "a" },
                { "ID=a\nID='unterminated\n", "a" },
                { "ID=a\nID=b c\n", "a" },
                { "ID=a\nID=b # comment\n", "b" },
                { "ID=a\nID =b\n", "a" },
                { "ID=a\n1ID=b\n", "a" },
                { "ID=a\n# ID=b\n", "a" },
                { "ID=a\nID=b\\", "a" },
                { "ID=a\nID=\"b\x01\"\n", "a" },                /* control character */
                { "ID=a\nID=\"\xc3\x28\"\n", "a" },             /* invalid UTF-8 */
                { "ID=a\nID=\"\xed\xa0\x80\"\n", "a" },         /* surrogate */
                { "ID=a\nID=\"\xc0\xaf\"\n", "a" },             /* overlong */
                { "ID=a\nID=\"caf\xc3\xa9\"\n", "caf\xc3\xa9" },
                { "ID=a\nID=\"\xf0\x9f\x90\xa7\"\n", "\xf0\x9f\x90\xa7" },
        };
        json_t *os = json_object();

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_object_clear(os);
                assert_int_equal(inventory_os_release_parse(cases[i].text, strlen(cases[i].text), os), 0);
                assert_int_equal(json_object_size(os), 6);
                assert_string_equal(str_at(os, "id"), cases[i].id);
        }
        json_decref(os);
}

static void test_os_release_caps(void **state)
{
        json_t *os = json_object(), *arr = json_array();
        struct vbuf b;

        /* an overlong line is skipped, the rest still read */
        vbuf_init(&b, INVENTORY_OS_RELEASE_MAX + 1);
        assert_int_equal(vbuf_puts(&b, "ID=a\nNAME=\""), 0);
        while (b.len < INVENTORY_OS_RELEASE_LINE_MAX + 5)
                assert_int_equal(vbuf_puts(&b, "x"), 0);
        assert_int_equal(vbuf_puts(&b, "\"\nVERSION_ID=3\n"), 0);
        assert_int_equal(inventory_os_release_parse(b.data, b.len, os), 0);
        assert_string_equal(str_at(os, "id"), "a");
        assert_string_equal(str_at(os, "name"), "");
        assert_string_equal(str_at(os, "version_id"), "3");

        /* the whole text is capped, and then the object is left alone */
        json_object_clear(os);
        assert_int_equal(json_object_set_new(os, "kept", json_true()), 0);
        while (b.len <= INVENTORY_OS_RELEASE_MAX)
                assert_int_equal(vbuf_puts(&b, "#"), 0);
        assert_int_equal(inventory_os_release_parse(b.data, b.len, os), -E2BIG);
        assert_int_equal(inventory_os_release_parse(b.data, INVENTORY_OS_RELEASE_MAX, os), 0);
        assert_int_equal(json_object_size(os), 7);
        vbuf_release(&b);

        assert_int_equal(inventory_os_release_parse("ID=a", 4, arr), -EINVAL);
        assert_int_equal(inventory_os_release_parse("ID=a", 4, NULL), -EINVAL);
        assert_int_equal(inventory_os_release_parse(NULL, 4, os), -EINVAL);
        assert_int_equal(json_array_size(arr), 0);
        json_decref(arr);
        json_decref(os);
}

/* ---- nft ruleset listings ---- */

static void test_nft_summary(void **state)
{
        static const struct {
                const char *text;
                struct inventory_nft_summary s;
        } cases[] = {
                { "", { 0, 0, 0, 0 } },
                /* Debian's /etc/nftables.conf, loaded */
                { "table inet filter {\n"
                  "\tchain input {\n"
                  "\t\ttype filter hook input priority filter; policy accept;\n"
                  "\t}\n"
                  "\n"
                  "\tchain forward {\n"
                  "\t\ttype filter hook forward priority filter; policy accept;\n"
                  "\t}\n"
                  "\n"
                  "\tchain output {\n"
                  "\t\ttype filter hook output priority filter; policy accept;\n"
                  "\t}\n"
                  "}\n", { 1, 3, 3, 0 } },
                /* a host firewall with a set, a comment holding braces, a regular chain */
                { "table inet host {\n"
                  "\tcomment \"managed {by} vigil\"\n"
                  "\tset allowed {\n"
                  "\t\ttype ipv4_addr\n"
                  "\t\tflags interval\n"
                  "\t\telements = { 10.0.0.0/8,\n"
                  "\t\t\t     192.168.0.0/16 }\n"
                  "\t}\n"
                  "\n"
                  "\tchain input {\n"
                  "\t\tcomment \"inbound { }\"\n"
                  "\t\ttype filter hook input priority filter; policy drop;\n"
                  "\t\tct state established,related accept\n"
                  "\t\tiif \"lo\" accept\n"
                  "\t\tip saddr @allowed tcp dport { 22, 443 } accept comment \"ssh { and https\"\n"
                  "\t\tjump log_drop\n"
                  "\t}\n"
                  "\n"
                  "\tchain log_drop {\n"
                  "\t\tlimit rate 5/minute log prefix \"drop: \"\n"
                  "\t\tdrop\n"
                  "\t}\n"
                  "\n"
                  "\tflowtable ft {\n"
                  "\t\thook ingress priority filter\n"
                  "\t\tdevices = { eth0 }\n"
                  "\t}\n"
                  "}\n"
                  "table ip nat {\n"
                  "\tchain postrouting {\n"
                  "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
                  "\t\toifname \"eth0\" masquerade\n"
                  "\t}\n"
                  "}\n", { 2, 3, 2, 7 } },
                /* tables without base chains, and a dormant one */
                { "table ip t {\n"
                  "\tchain c {\n"
                  "\t\tcounter\n"
                  "\t}\n"
                  "}\n"
                  "table ip d {\n"
                  "\tflags dormant\n"
                  "\tchain in {\n"
                  "\t\ttype filter hook input priority 0; policy drop;\n"
                  "\t}\n"
                  "}\n", { 2, 2, 0, 1 } },
                /* iptables-nft, as Docker leaves it */
                { "table ip filter {\n"
                  "\tchain DOCKER {\n"
                  "\t}\n"
                  "\n"
                  "\tchain FORWARD {\n"
                  "\t\ttype filter hook forward priority filter; policy drop;\n"
                  "\t\tcounter packets 0 bytes 0 jump DOCKER-USER\n"
                  "\t\tcounter packets 0 bytes 0 jump DOCKER-ISOLATION-STAGE-1\n"
                  "\t}\n"
                  "\n"
                  "\tchain DOCKER-USER {\n"
                  "\t\tcounter packets 0 bytes 0 return\n"
                  "\t}\n"
                  "}\n", { 1, 3, 1, 3 } },
                /* a netdev chain */
                { "table netdev edge {\n"
                  "\tchain ingress {\n"
                  "\t\ttype filter hook ingress device \"eth0\" priority -500; policy accept;\n"
                  "\t\tip frag-off & 8191 != 0 counter drop\n"
                  "\t}\n"
                  "}", { 1, 1, 1, 1 } },
                /* blocks that are not tables: a base chain is counted once */
                { "x {\n\tchain c {\n\t\ttype filter hook input priority 0;\n\t}\n}\n"
                  "y {\n}\n", { 0, 1, 1, 0 } },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct inventory_nft_summary s = { 99, 99, 99, 99 };
                assert_int_equal(inventory_nft_ruleset_summarize(cases[i].text, strlen(cases[i].text), &s), 0);
                assert_int_equal(s.tables, cases[i].s.tables);
                assert_int_equal(s.chains, cases[i].s.chains);
                assert_int_equal(s.base_chains, cases[i].s.base_chains);
                assert_int_equal(s.rules, cases[i].s.rules);
        }
}

static void test_nft_summary_errors(void **state)
{
        static const char *const bad[] = {
                "table ip t {\n",
                "}\n",
                "table ip t {\n\tchain c {\n\t}\n",
                "table ip t {\n\tcomment \"}\"\n",
        };
        struct inventory_nft_summary s = { 7, 7, 7, 7 };
        static const char one[] = "x";

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(inventory_nft_ruleset_summarize(bad[i], strlen(bad[i]), &s), -EINVAL);
        assert_int_equal(inventory_nft_ruleset_summarize(NULL, 1, &s), -EINVAL);
        /* the length is checked before any byte is read */
        assert_int_equal(inventory_nft_ruleset_summarize(one, INVENTORY_NFT_LISTING_MAX + 1, &s), -E2BIG);
        assert_int_equal(s.tables, 7);
        assert_int_equal(s.rules, 7);
}

/* ---- the collector ---- */

static json_t *collect(const char *root_name, unsigned flags)
{
        struct inventory_options opts = { .root = data_path(root_name), .flags = flags };
        json_t *inv = NULL;

        assert_int_equal(inventory_collect(&opts, &inv), 0);
        assert_non_null(inv);
        return inv;
}

static void assert_state(json_t *inv, const char *key, const char *state, const char *detail)
{
        json_t *o = json_object_get(inv, key);

        assert_true(json_is_object(o));
        assert_int_equal(json_object_size(o), 2);
        assert_string_equal(str_at(o, "state"), state);
        if (detail)
                assert_string_equal(str_at(o, "detail"), detail);
}

static void assert_shape(json_t *inv)
{
        static const char *const keys[] = {
                "hostname", "os", "kernel", "architecture", "machine_id",
                "disk_encryption", "firewall", "secure_boot", "packages",
        };
        const char *key;
        json_t *v;
        size_t i = 0;

        assert_int_equal(json_object_size(inv), 9);
        json_object_foreach(inv, key, v)
                assert_string_equal(key, keys[i++]);
        assert_int_equal(json_object_size(json_object_get(inv, "os")), 7);
        assert_string_equal(str_at(json_object_get(inv, "os"), "platform"), "linux");
        assert_true(json_is_array(json_object_get(inv, "packages")));
        assert_true(strlen(str_at(inv, "kernel")) > 0);
        assert_true(strlen(str_at(inv, "architecture")) > 0);
}

static void test_collect_plain(void **state)
{
        json_t *inv = collect("root-plain", INVENTORY_NO_LIVE_PROBES), *pkgs;

        assert_shape(inv);
        assert_string_equal(str_at(inv, "hostname"), "plainhost");
        assert_os(json_object_get(inv, "os"), "Debian GNU/Linux", "debian", "12 (bookworm)", "12",
                  "Debian GNU/Linux 12 (bookworm)", "bookworm");
        assert_string_equal(str_at(inv, "machine_id"), "0123456789abcdef0123456789abcdef");
        assert_state(inv, "disk_encryption", "not_encrypted", "vda1 (no dm-crypt layer)");
        assert_state(inv, "firewall", "unknown", NULL);
        assert_string_equal(str_at(inv, "secure_boot"), "unknown");
        pkgs = json_object_get(inv, "packages");
        assert_int_equal(json_array_size(pkgs), 4);
        assert_package(json_array_get(pkgs, 2), "libgcc-s1", "12.2.0-14", "amd64", "gcc-12", "12.2.0-14");
        json_decref(inv);

        /* a fake root is never probed live, whatever the flags say */
        inv = collect("root-plain", 0);
        assert_state(inv, "firewall", "unknown", "not probed: not the running system's root");
        json_decref(inv);
}

static void test_collect_encrypted(void **state)
{
        json_t *inv;

        /* LVM on LUKS2, os-release only in /usr/lib, Secure Boot on */
        inv = collect("root-luks", INVENTORY_NO_LIVE_PROBES);
        assert_shape(inv);
        assert_string_equal(str_at(inv, "hostname"), "luks-laptop");
        assert_os(json_object_get(inv, "os"), "Fedora Linux", "fedora", "40 (Workstation Edition)", "40",
                  "Fedora Linux 40 (Workstation Edition)", "");
        assert_string_equal(str_at(inv, "machine_id"), "");     /* "uninitialized" */
        assert_state(inv, "disk_encryption", "encrypted", "dm-1 over dm-crypt (LUKS2) on dm-0");
        assert_string_equal(str_at(inv, "secure_boot"), "enabled");
        assert_int_equal(json_array_size(json_object_get(inv, "packages")), 0);
        json_decref(inv);

        /* LUKS2 right under /, Secure Boot off */
        inv = collect("root-crypt", INVENTORY_NO_LIVE_PROBES);
        assert_shape(inv);
        assert_string_equal(str_at(inv, "hostname"), "");
        assert_string_equal(str_at(json_object_get(inv, "os"), "id"), "example");
        assert_state(inv, "disk_encryption", "encrypted", "dm-0 is dm-crypt (LUKS2)");
        assert_string_equal(str_at(inv, "secure_boot"), "disabled");
        json_decref(inv);
}

static void test_collect_not_encrypted(void **state)
{
        json_t *inv;

        /* one physical volume of the root's LVM is not encrypted; EFI without efivarfs */
        inv = collect("root-mixed", INVENTORY_NO_LIVE_PROBES);
        assert_shape(inv);
        assert_state(inv, "disk_encryption", "not_encrypted", "dm-2 (no dm-crypt layer under sdb1)");
        assert_string_equal(str_at(inv, "secure_boot"), "unknown");
        assert_os(json_object_get(inv, "os"), "", "", "", "", "", "");
        json_decref(inv);

        /* a container: overlay root; EFI variables without SecureBoot */
        inv = collect("root-overlay", INVENTORY_NO_LIVE_PROBES);
        assert_state(inv, "disk_encryption", "unknown", "root filesystem is overlay (no block device)");
        assert_string_equal(str_at(inv, "secure_boot"), "disabled");
        json_decref(inv);

        /* a device stack deeper than the walk goes */
        inv = collect("root-deep", INVENTORY_NO_LIVE_PROBES);
        assert_state(inv, "disk_encryption", "unknown", NULL);
        json_decref(inv);

        /* nothing there at all: everything unknown or empty, but no error */
        inv = collect("no-such-root", INVENTORY_NO_LIVE_PROBES);
        assert_shape(inv);
        assert_string_equal(str_at(inv, "hostname"), "");
        assert_string_equal(str_at(inv, "machine_id"), "");
        assert_state(inv, "disk_encryption", "unknown", "cannot read mountinfo: ENOENT");
        assert_string_equal(str_at(inv, "secure_boot"), "unknown");
        assert_int_equal(json_array_size(json_object_get(inv, "packages")), 0);
        json_decref(inv);
}

static void test_collect_bad_packages(void **state)
{
        struct inventory_options opts = {
                .root = data_path("root-bigfield"), .flags = INVENTORY_NO_LIVE_PROBES,
        };
        json_t *sentinel = json_true(), *inv = sentinel;

        assert_int_equal(inventory_collect(&opts, &inv), -E2BIG);
        assert_ptr_equal(inv, sentinel);        /* written only on success */
}

static void test_collect_this_machine(void **state)
{
        struct inventory_options opts = { .root = "/", .flags = 0 };
        json_t *inv = NULL, *os, *fw;
        const char *fw_state;

        assert_int_equal(inventory_collect(&opts, &inv), 0);
        assert_shape(inv);
        os = json_object_get(inv, "os");
        assert_true(strlen(str_at(os, "id")) > 0);
        assert_true(json_array_size(json_object_get(inv, "packages")) > 0);
        fw = json_object_get(inv, "firewall");
        fw_state = str_at(fw, "state");
        assert_true(strcmp(fw_state, "active") == 0 || strcmp(fw_state, "inactive") == 0 ||
                    strcmp(fw_state, "unknown") == 0);
        print_message("this machine: %s, disk %s (%s), firewall %s (%s), secure boot %s, %zu packages\n",
                      str_at(os, "pretty_name"),
                      str_at(json_object_get(inv, "disk_encryption"), "state"),
                      str_at(json_object_get(inv, "disk_encryption"), "detail"),
                      fw_state, str_at(fw, "detail"), str_at(inv, "secure_boot"),
                      json_array_size(json_object_get(inv, "packages")));
        json_decref(inv);

        /* NULL options mean the same machine */
        assert_int_equal(inventory_collect(NULL, &inv), 0);
        assert_true(json_array_size(json_object_get(inv, "packages")) > 0);
        json_decref(inv);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_dpkg_status),
                cmocka_unit_test(test_dpkg_syntax),
                cmocka_unit_test(test_dpkg_nul),
                cmocka_unit_test(test_dpkg_caps),
                cmocka_unit_test(test_dpkg_count_cap),
                cmocka_unit_test(test_dpkg_args),
                cmocka_unit_test(test_os_release_files),
                cmocka_unit_test(test_os_release_lines),
                cmocka_unit_test(test_os_release_caps),
                cmocka_unit_test(test_nft_summary),
                cmocka_unit_test(test_nft_summary_errors),
                cmocka_unit_test(test_collect_plain),
                cmocka_unit_test(test_collect_encrypted),
                cmocka_unit_test(test_collect_not_encrypted),
                cmocka_unit_test(test_collect_bad_packages),
                cmocka_unit_test(test_collect_this_machine),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
