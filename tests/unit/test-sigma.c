/* Unit tests for lib/sigma: every value modifier, wildcards and escapes,
 * every condition form and its precedence, null/empty/exists, keywords,
 * unknown fields, logsource routing, each rejection with its line and
 * reason, duplicate ids, caps; every match is checked with both the
 * indexed and the naive matcher. Then the SigmaHQ corpus (from
 * $VIGIL_CORPUS, else next to the source tree) must load whole, and the
 * two matchers must agree on many generated events (skipped, with a
 * message, when the corpus is absent). */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "sigma/sigma.h"

/* The fields and categories of the Vigil agent (docs/EVENTS.md). */
static const char *const agent_fields[] = {
        "EventType", "Category", "Sensor", "Timestamp", "MonotonicNs", "ProcessId", "ThreadId",
        "ProcessStartTicks", "ParentProcessId", "Uid", "Euid", "Gid", "Egid", "User", "LogonId",
        "CgroupId", "Comm", "Image", "CommandLine", "CurrentDirectory", "ParentImage",
        "ParentCommandLine", "ImageIsMemfd", "ImageDeleted", "ImageTruncated", "StdinIsSocket",
        "StdoutIsSocket", "StderrIsSocket", "StdinIsTty", "StdoutIsTty", "StderrIsTty",
        "CommandLineTruncated", "ChildProcessId", "ExitStatus", "ExitCode", "ExitSignal",
        "OldUid", "OldEuid", "NewUid", "NewEuid", "CredCause", "TargetProcessId", "TargetImage",
        "TargetCommandLine", "PtraceRequest", "PtraceRequestName", "BytesWritten", "MemfdName",
        "MemfdFlags", "Initiated", "Protocol", "SourceIp", "SourcePort", "DestinationIp",
        "DestinationPort", "SourceIsIpv6", "DestinationIsIpv6", "DestinationHostname", "TargetFilename",
};
#define N_AGENT_FIELDS (sizeof(agent_fields) / sizeof(agent_fields[0]))

static const char *const agent_cats[] = {
        "process_creation", "network_connection", "file_event", "process_access", "credential_change",
};

static const struct sigma_schema schema = {
        .product = "linux",
        .fields = agent_fields,
        .n_fields = N_AGENT_FIELDS,
        .categories = agent_cats,
        .n_categories = 5,
};

/* --- helpers --------------------------------------------------------------------- */

struct diags {
        int n[3];
        enum sigma_load_status last;
        unsigned line;
        char reason[SIGMA_REASON_MAX];
        char file[256];
};

static void diag_cb(const struct sigma_diag *d, void *userdata)
{
        struct diags *g = userdata;

        g->n[d->status]++;
        if (getenv("SIGMA_TEST_VERBOSE") && d->status)
                print_message("diag: %s:%u: %s\n", d->file, d->line, d->reason);
        g->last = d->status;
        if (d->status != SIGMA_LOADED || g->reason[0] == '\0') {
                g->line = d->line;
                snprintf(g->reason, sizeof(g->reason), "%s", d->reason);
                snprintf(g->file, sizeof(g->file), "%s", d->file);
        }
}

static const char *rule_text(const char *detection)
{
        static char buf[8192];
        int n = snprintf(buf, sizeof(buf),
                         "title: test rule\n"
                         "logsource:\n"
                         "    product: linux\n"
                         "    category: process_creation\n"
                         "detection:\n%s", detection);

        assert_true(n > 0 && (size_t)n < sizeof(buf));
        return buf;
}

/* Loads text into a new ruleset; the diagnostics land in g. */
static struct sigma_ruleset *load(const char *text, struct diags *g)
{
        struct sigma_ruleset *rs;

        memset(g, 0, sizeof(*g));
        assert_int_equal(sigma_ruleset_new(&schema, &rs), 0);
        assert_true(sigma_ruleset_add_buffer(rs, "t.yml", text, strlen(text), diag_cb, g) >= 0);
        return rs;
}

struct hits {
        const struct sigma_rule *r[1024];
        int n;
        int stop_after;
};

static int hit_cb(const struct sigma_rule *rule, void *userdata)
{
        struct hits *h = userdata;

        if (h->n < 1024)
                h->r[h->n++] = rule;
        return h->stop_after && h->n >= h->stop_after;
}

/* Builds an event from NULL-terminated name/value pairs (a NULL value:
 * absent). */
static void event_fill(struct sigma_str *f, va_list ap)
{
        const char *name;

        memset(f, 0, N_AGENT_FIELDS * sizeof(*f));
        while ((name = va_arg(ap, const char *))) {
                const char *v = va_arg(ap, const char *);
                size_t i;

                for (i = 0; i < N_AGENT_FIELDS; i++)
                        if (strcmp(agent_fields[i], name) == 0)
                                break;
                assert_true(i < N_AGENT_FIELDS);
                f[i].ptr = v;
                f[i].len = v ? (uint32_t)strlen(v) : 0;
        }
}

/* Matches one event with both matchers; they must agree. Returns hits. */
static int match_both(const struct sigma_ruleset *rs, uint32_t cat, const struct sigma_str *f, struct hits *ret)
{
        struct sigma_event ev = { .category = cat, .fields = f };
        struct hits h[2];
        int n;

        for (int naive = 0; naive < 2; naive++) {
                struct sigma_matcher *m;
                struct sigma_scratch *s;

                memset(&h[naive], 0, sizeof(h[naive]));
                assert_int_equal(sigma_matcher_new(rs, naive ? SIGMA_MATCHER_NAIVE : 0, &m), 0);
                assert_int_equal(sigma_scratch_new(m, &s), 0);
                n = sigma_matcher_match(m, s, &ev, hit_cb, &h[naive]);
                assert_int_equal(n, h[naive].n);
                sigma_scratch_free(s);
                sigma_matcher_free(m);
        }
        assert_int_equal(h[0].n, h[1].n);
        for (int i = 0; i < h[0].n; i++)
                assert_ptr_equal(h[0].r[i], h[1].r[i]);
        if (ret)
                *ret = h[0];
        return h[0].n;
}

/* Matches with both matchers built once per ruleset; rs NULL drops them
 * (before the ruleset is freed). */
static int match_both_fast(const struct sigma_ruleset *rs, const struct sigma_str *f)
{
        static const struct sigma_ruleset *cached;
        static struct sigma_matcher *m[2];
        static struct sigma_scratch *s[2];
        struct sigma_event ev = { .category = 0, .fields = f };
        struct hits h[2] = { 0 };

        if (cached != rs) {
                for (int i = 0; i < 2; i++) {
                        sigma_scratch_free(s[i]);
                        sigma_matcher_free(m[i]);
                        s[i] = NULL;
                        m[i] = NULL;
                        cached = NULL;
                        if (!rs)
                                continue;
                        assert_int_equal(sigma_matcher_new(rs, i ? SIGMA_MATCHER_NAIVE : 0, &m[i]), 0);
                        assert_int_equal(sigma_scratch_new(m[i], &s[i]), 0);
                }
                cached = rs;
        }
        if (!rs)
                return 0;
        for (int i = 0; i < 2; i++) {
                int n = sigma_matcher_match(m[i], s[i], &ev, hit_cb, &h[i]);

                assert_int_equal(n, h[i].n);
        }
        if (h[0].n != h[1].n)
                fail_msg("indexed %d matches, naive %d", h[0].n, h[1].n);
        for (int i = 0; i < h[0].n; i++)
                if (h[0].r[i] != h[1].r[i])
                        fail_msg("indexed and naive differ at match %d: %s / %s", i, sigma_rule_title(h[0].r[i]),
                                 sigma_rule_title(h[1].r[i]));
        return h[0].n;
}

/* Whether the one rule of `detection` matches the event given as pairs. */
static int matches(const char *detection, ...)
{
        struct sigma_str f[N_AGENT_FIELDS];
        struct sigma_ruleset *rs;
        struct diags g;
        va_list ap;
        int n;

        rs = load(rule_text(detection), &g);
        if (g.n[SIGMA_LOADED] != 1)
                fail_msg("rule not loaded: line %u: %s", g.line, g.reason);
        va_start(ap, detection);
        event_fill(f, ap);
        va_end(ap);
        n = match_both(rs, 0, f, NULL);
        sigma_ruleset_free(rs);
        return n;
}

/* Loads a document that must be rejected (or unsupported) with reason
 * containing `want` on line `line`. */
static void expect_status(const char *text, enum sigma_load_status st, unsigned line, const char *want)
{
        struct sigma_ruleset *rs;
        struct diags g;

        rs = load(text, &g);
        if (g.last != st || !strstr(g.reason, want) || (line && g.line != line))
                fail_msg("want status %d line %u '%s', got status %d line %u '%s'", st, line, want, g.last,
                         g.line, g.reason);
        assert_int_equal(sigma_ruleset_count(rs), 0);
        assert_string_equal(g.file, "t.yml");
        sigma_ruleset_free(rs);
}

static void expect_rejected(const char *detection, unsigned line, const char *want)
{
        expect_status(rule_text(detection), SIGMA_REJECTED, line, want);
}

#define SEL(x) "    sel:\n        " x "\n    condition: sel\n"

/* --- values ------------------------------------------------------------------------ */

static void test_plain_and_case(void **state)
{
        assert_int_equal(matches(SEL("Image: /usr/bin/curl"), "Image", "/usr/bin/curl", NULL), 1);
        assert_int_equal(matches(SEL("Image: /usr/bin/curl"), "Image", "/USR/BIN/Curl", NULL), 1);
        assert_int_equal(matches(SEL("Image: /usr/bin/curl"), "Image", "/usr/bin/curl2", NULL), 0);
        assert_int_equal(matches(SEL("Image: /usr/bin/curl"), "Image", "x/usr/bin/curl", NULL), 0);
        assert_int_equal(matches(SEL("Image: /usr/bin/curl"), "CommandLine", "/usr/bin/curl", NULL), 0);
        /* numbers are compared as their text */
        assert_int_equal(matches(SEL("ProcessId: 42"), "ProcessId", "42", NULL), 1);
        assert_int_equal(matches(SEL("ProcessId: 42"), "ProcessId", "420", NULL), 0);
        /* cased */
        assert_int_equal(matches(SEL("Image|cased: /usr/bin/Curl"), "Image", "/usr/bin/Curl", NULL), 1);
        assert_int_equal(matches(SEL("Image|cased: /usr/bin/Curl"), "Image", "/usr/bin/curl", NULL), 0);
        assert_int_equal(matches(SEL("Image|contains|cased: Curl"), "Image", "/usr/bin/Curl", NULL), 1);
        assert_int_equal(matches(SEL("Image|contains|cased: Curl"), "Image", "/usr/bin/CURL", NULL), 0);
        /* non-ASCII bytes are compared as they are */
        assert_int_equal(matches(SEL("Image|endswith: 'é'"), "Image", "/tmp/é", NULL), 1);
        assert_int_equal(matches(SEL("Image|endswith: 'é'"), "Image", "/tmp/É", NULL), 0);
}

static void test_wildcards(void **state)
{
        assert_int_equal(matches(SEL("Image: '/usr/*/curl'"), "Image", "/usr/local/bin/curl", NULL), 1);
        assert_int_equal(matches(SEL("Image: '/usr/*/curl'"), "Image", "/usr/curl", NULL), 0);
        assert_int_equal(matches(SEL("Image: '*/curl'"), "Image", "/bin/curl", NULL), 1);
        assert_int_equal(matches(SEL("Image: '/bin/*'"), "Image", "/bin/", NULL), 1);
        assert_int_equal(matches(SEL("Image: '*'"), "Image", "", NULL), 1);
        assert_int_equal(matches(SEL("Image: '*'"), "CommandLine", "x", NULL), 0);
        assert_int_equal(matches(SEL("Image: '/bin/?h'"), "Image", "/bin/sh", NULL), 1);
        assert_int_equal(matches(SEL("Image: '/bin/?h'"), "Image", "/bin/h", NULL), 0);
        assert_int_equal(matches(SEL("Image: '/bin/?h'"), "Image", "/bin/ssh", NULL), 0);
        /* ? is one character, also a multi-byte one */
        assert_int_equal(matches(SEL("Image: '/tmp/?x'"), "Image", "/tmp/éx", NULL), 1);
        assert_int_equal(matches(SEL("Image: '*a?c*d'"), "Image", "xxabcyyd", NULL), 1);
        assert_int_equal(matches(SEL("Image: '*a?c*d'"), "Image", "xxabyyd", NULL), 0);
        assert_int_equal(matches(SEL("Image: 'a*b*c'"), "Image", "abbbc", NULL), 1);
        assert_int_equal(matches(SEL("Image: 'a*b*c'"), "Image", "acb", NULL), 0);
        assert_int_equal(matches(SEL("CommandLine|contains: 'a*b'"), "CommandLine", "xx a yy b zz", NULL), 1);
}

static void test_escapes(void **state)
{
        /* \* and \? are literal, \\ a backslash, \ before anything else literal */
        assert_int_equal(matches(SEL("CommandLine: 'a\\*b'"), "CommandLine", "a*b", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine: 'a\\*b'"), "CommandLine", "axxb", NULL), 0);
        assert_int_equal(matches(SEL("CommandLine: 'a\\?b'"), "CommandLine", "a?b", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine: 'a\\?b'"), "CommandLine", "axb", NULL), 0);
        assert_int_equal(matches(SEL("CommandLine: 'a\\b'"), "CommandLine", "a\\b", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine: 'a\\\\b'"), "CommandLine", "a\\b", NULL), 1);
        /* \\* : a backslash, then a wildcard */
        assert_int_equal(matches(SEL("CommandLine: 'a\\\\*'"), "CommandLine", "a\\zzz", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine: 'a\\\\*'"), "CommandLine", "azzz", NULL), 0);
        /* \\\* : a backslash and a literal star */
        assert_int_equal(matches(SEL("CommandLine: 'a\\\\\\*'"), "CommandLine", "a\\*", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine: 'a\\\\\\*'"), "CommandLine", "a\\x", NULL), 0);
        /* \\\\ : two backslashes */
        assert_int_equal(matches(SEL("CommandLine: 'a\\\\\\\\'"), "CommandLine", "a\\\\", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|endswith: '\\'"), "CommandLine", "c:\\", NULL), 1);
}

static void test_contains_starts_ends_all(void **state)
{
        assert_int_equal(matches(SEL("CommandLine|contains: ' -e '"), "CommandLine", "nc -e /bin/sh", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|contains: ' -e '"), "CommandLine", "nc -x", NULL), 0);
        assert_int_equal(matches(SEL("CommandLine|startswith: 'nc '"), "CommandLine", "NC -l", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|startswith: 'nc '"), "CommandLine", " nc -l", NULL), 0);
        assert_int_equal(matches(SEL("Image|endswith: '/nc'"), "Image", "/usr/bin/nc", NULL), 1);
        assert_int_equal(matches(SEL("Image|endswith: '/nc'"), "Image", "/usr/bin/ncat", NULL), 0);
        assert_int_equal(matches(SEL("Image|endswith:\n            - /nc\n            - /ncat"), "Image",
                                 "/usr/bin/ncat", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|contains|all:\n            - ' -e '\n            - ' -l'"),
                                 "CommandLine", "nc -l -e x", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|contains|all:\n            - ' -e '\n            - ' -l'"),
                                 "CommandLine", "nc -e x", NULL), 0);
        /* a contains value that is already wildcarded is not wildcarded twice */
        assert_int_equal(matches(SEL("CommandLine|contains: '*abc*'"), "CommandLine", "xabcx", NULL), 1);
        /* contains '' matches any present value */
        assert_int_equal(matches(SEL("CommandLine|contains: ''"), "CommandLine", "", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|contains: ''"), NULL), 0);
}

static void test_lists_and_maps(void **state)
{
        const char *map = "    sel:\n        Image|endswith: /curl\n        CommandLine|contains: ' -o '\n"
                          "    condition: sel\n";
        const char *lom = "    sel:\n        - Image|endswith: /curl\n        - CommandLine|contains: ' -o '\n"
                          "    condition: sel\n";

        assert_int_equal(matches(map, "Image", "/bin/curl", "CommandLine", "curl -o x", NULL), 1);
        assert_int_equal(matches(map, "Image", "/bin/curl", "CommandLine", "curl x", NULL), 0);
        assert_int_equal(matches(lom, "Image", "/bin/curl", "CommandLine", "curl x", NULL), 1);
        assert_int_equal(matches(lom, "Image", "/bin/wget", "CommandLine", "wget -o x", NULL), 1);
        assert_int_equal(matches(lom, "Image", "/bin/wget", "CommandLine", "wget x", NULL), 0);
        assert_int_equal(matches(SEL("Image:\n            - /bin/a\n            - /bin/b"), "Image", "/bin/b", NULL), 1);
        assert_int_equal(matches(SEL("Image:\n            - /bin/a\n            - /bin/b"), "Image", "/bin/c", NULL), 0);
        /* flow style */
        assert_int_equal(matches(SEL("Image: [/bin/a, /bin/b]"), "Image", "/bin/a", NULL), 1);
}

static void test_keywords(void **state)
{
        const char *kw = "    keywords:\n        - 'evil'\n        - 'bad*thing'\n    condition: keywords\n";

        assert_int_equal(matches(kw, "CommandLine", "an EVIL one", NULL), 1);
        assert_int_equal(matches(kw, "User", "evil", NULL), 1);
        assert_int_equal(matches(kw, "TargetFilename", "/x/bad/thing", NULL), 1);
        assert_int_equal(matches(kw, "TargetFilename", "/x/thing/bad", NULL), 0);
        assert_int_equal(matches(kw, "CommandLine", "benign", "Image", "/bin/ls", NULL), 0);
        assert_int_equal(matches("    keywords: 'evil'\n    condition: keywords\n", "Image", "/evil", NULL), 1);
        assert_int_equal(matches("    keywords:\n        '|all':\n            - 'alpha'\n            - 'beta'\n"
                                 "    condition: keywords\n", "Image", "alpha", "CommandLine", "beta", NULL), 1);
        assert_int_equal(matches("    keywords:\n        '|all':\n            - 'alpha'\n            - 'beta'\n"
                                 "    condition: keywords\n", "Image", "alpha", NULL), 0);
        assert_int_equal(matches("    keywords:\n        '|re': 'ev[i]l$'\n    condition: keywords\n",
                                 "Image", "/tmp/evil", NULL), 1);
        /* a rule with keywords reads every field */
        {
                struct sigma_ruleset *rs;
                struct sigma_matcher *m;
                struct diags g;

                rs = load(rule_text(kw), &g);
                assert_int_equal(sigma_matcher_new(rs, 0, &m), 0);
                for (uint32_t f = 0; f < N_AGENT_FIELDS; f++)
                        assert_true(sigma_matcher_field_used(m, 0, f));
                assert_false(sigma_matcher_field_used(m, 1, 0));
                sigma_matcher_free(m);
                sigma_ruleset_free(rs);
        }
}

static void test_null_empty_exists(void **state)
{
        assert_int_equal(matches(SEL("User: null"), NULL), 1);
        assert_int_equal(matches(SEL("User: null"), "User", "", NULL), 1);
        assert_int_equal(matches(SEL("User: null"), "User", "root", NULL), 0);
        assert_int_equal(matches(SEL("User: ~"), "User", "root", NULL), 0);
        assert_int_equal(matches(SEL("User: ''"), "User", "", NULL), 1);
        assert_int_equal(matches(SEL("User: ''"), NULL), 0);
        assert_int_equal(matches(SEL("User: ''"), "User", "root", NULL), 0);
        assert_int_equal(matches(SEL("User|exists: true"), "User", "", NULL), 1);
        assert_int_equal(matches(SEL("User|exists: true"), NULL), 0);
        assert_int_equal(matches(SEL("User|exists: false"), NULL), 1);
        assert_int_equal(matches(SEL("User|exists: false"), "User", "x", NULL), 0);
        /* a quoted 'null' is the text null */
        assert_int_equal(matches(SEL("User: 'null'"), "User", "null", NULL), 1);
        assert_int_equal(matches(SEL("User: 'null'"), NULL), 0);
}

static void test_unknown_fields(void **state)
{
        const char *text = rule_text("    sel:\n        OriginalFileName: x.exe\n        Hashes|contains: abc\n"
                                     "    filter:\n        IntegrityLevel: null\n    condition: sel or filter\n");
        struct sigma_str f[N_AGENT_FIELDS];
        struct sigma_ruleset *rs;
        const struct sigma_rule *r;
        struct diags g;

        rs = load(text, &g);
        assert_int_equal(sigma_ruleset_count(rs), 1);
        r = sigma_ruleset_rule(rs, 0);
        assert_int_equal(sigma_rule_unknown_field_count(r), 3);
        assert_string_equal(sigma_rule_unknown_field(r, 0), "OriginalFileName");
        assert_string_equal(sigma_rule_unknown_field(r, 1), "Hashes");
        assert_string_equal(sigma_rule_unknown_field(r, 2), "IntegrityLevel");
        /* an unknown field is absent: only the null test can match */
        memset(f, 0, sizeof(f));
        assert_int_equal(match_both(rs, 0, f, NULL), 1);
        sigma_ruleset_free(rs);
        assert_int_equal(matches(SEL("Hashes|contains: abc"), "Image", "abc", NULL), 0);
        assert_int_equal(matches(SEL("Hashes|exists: false"), "Image", "abc", NULL), 1);
        assert_int_equal(matches("    sel:\n        Hashes: x\n    condition: not sel\n", NULL), 1);
}

static void test_re(void **state)
{
        assert_int_equal(matches(SEL("CommandLine|re: '\\s-O\\s'"), "CommandLine", "wget -O x", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|re: '\\s-O\\s'"), "CommandLine", "wget -o x", NULL), 0);
        assert_int_equal(matches(SEL("CommandLine|re|i: '\\s-O\\s'"), "CommandLine", "wget -o x", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|re: '^a.b$'"), "CommandLine", "a\nb", NULL), 0);
        assert_int_equal(matches(SEL("CommandLine|re|s: '^a.b$'"), "CommandLine", "a\nb", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|re: '^b'"), "CommandLine", "a\nb", NULL), 0);
        assert_int_equal(matches(SEL("CommandLine|re|m: '^b'"), "CommandLine", "a\nb", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|re: '(.){20,}'"), "CommandLine", "short", NULL), 0);
        assert_int_equal(matches(SEL("CommandLine|re: '(.){20,}'"), "CommandLine", "0123456789012345678901", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|re: 'x*'"), "CommandLine", "", NULL), 1);
        /* invalid UTF-8 in the field does not break matching */
        assert_int_equal(matches(SEL("CommandLine|re: 'ab'"), "CommandLine", "\xff\xfe ab", NULL), 1);
        /* neq with re */
        assert_int_equal(matches(SEL("CommandLine|re|neq: '^a'"), "CommandLine", "ba", NULL), 1);
}

static void test_cidr(void **state)
{
        const char *v4 = SEL("DestinationIp|cidr: 10.0.0.0/8");
        const char *v6 = SEL("DestinationIp|cidr: 'fe80::/10'");

        assert_int_equal(matches(v4, "DestinationIp", "10.1.2.3", NULL), 1);
        assert_int_equal(matches(v4, "DestinationIp", "11.1.2.3", NULL), 0);
        assert_int_equal(matches(v4, "DestinationIp", "::ffff:10.1.2.3", NULL), 1);
        assert_int_equal(matches(v4, "DestinationIp", "not an ip", NULL), 0);
        assert_int_equal(matches(v4, "DestinationIp", "", NULL), 0);
        assert_int_equal(matches(v6, "DestinationIp", "fe80::1", NULL), 1);
        assert_int_equal(matches(v6, "DestinationIp", "FE80::1%eth0", NULL), 1);
        assert_int_equal(matches(v6, "DestinationIp", "fec0::1", NULL), 0);
        assert_int_equal(matches(v6, "DestinationIp", "10.1.2.3", NULL), 0);
        assert_int_equal(matches(SEL("DestinationIp|cidr: 192.168.1.7"), "DestinationIp", "192.168.1.7", NULL), 1);
        assert_int_equal(matches(SEL("DestinationIp|cidr: 192.168.1.0/25"), "DestinationIp", "192.168.1.127", NULL), 1);
        assert_int_equal(matches(SEL("DestinationIp|cidr: 192.168.1.0/25"), "DestinationIp", "192.168.1.128", NULL), 0);
        assert_int_equal(matches(SEL("DestinationIp|cidr: 0.0.0.0/0"), "DestinationIp", "1.2.3.4", NULL), 1);
        assert_int_equal(matches(SEL("DestinationIp|cidr:\n            - 10.0.0.0/8\n            - 127.0.0.0/8"),
                                 "DestinationIp", "127.0.0.1", NULL), 1);
}

static void test_windash(void **state)
{
        const char *d = SEL("CommandLine|windash|contains: ' -enc '");

        assert_int_equal(matches(d, "CommandLine", "x -enc y", NULL), 1);
        assert_int_equal(matches(d, "CommandLine", "x /enc y", NULL), 1);
        assert_int_equal(matches(d, "CommandLine", "x \xe2\x80\x93""enc y", NULL), 1);   /* en dash */
        assert_int_equal(matches(d, "CommandLine", "x \xe2\x80\x94""enc y", NULL), 1);   /* em dash */
        assert_int_equal(matches(d, "CommandLine", "x \xe2\x80\x95""enc y", NULL), 1);   /* horizontal bar */
        assert_int_equal(matches(d, "CommandLine", "x +enc y", NULL), 0);
        assert_int_equal(matches(SEL("CommandLine|windash: '-a -b'"), "CommandLine", "/a -b", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|windash: '-a -b'"), "CommandLine", "/a /b", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|windash: '-a -b'"), "CommandLine", "/a _b", NULL), 0);
}

static void test_base64(void **state)
{
        /* "http://" -> aHR0cDovLw== ; offsets of "evil": ZXZpbA, V2aW, ldmls */
        assert_int_equal(matches(SEL("CommandLine|base64: 'http://'"), "CommandLine", "aHR0cDovLw==", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|base64|contains: 'http://'"), "CommandLine", "x aHR0cDovLw== y", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|base64offset|contains: 'evil'"), "CommandLine", "echo ZXZpbA== |", NULL), 1);
        /* " evil" -> IGV2aWw= ; "  evil" -> ICBldmls */
        assert_int_equal(matches(SEL("CommandLine|base64offset|contains: 'evil'"), "CommandLine", "IGV2aWw=", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|base64offset|contains: 'evil'"), "CommandLine", "ICBldmls", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|base64offset|contains: 'evil'"), "CommandLine", "ZXZp", NULL), 0);
        assert_int_equal(matches(SEL("CommandLine|base64offset|contains: 'evil'"), "CommandLine", "ZXZpb", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|base64offset|contains: 'evil'"), "CommandLine", "V2aW", NULL), 1);
        /* windash before base64 spells out the dashes */
        assert_int_equal(matches(SEL("CommandLine|windash|base64|contains: '-x'"), "CommandLine", "L3g=", NULL), 1);
}

static void test_numeric(void **state)
{
        assert_int_equal(matches(SEL("DestinationPort|lt: 1024"), "DestinationPort", "80", NULL), 1);
        assert_int_equal(matches(SEL("DestinationPort|lt: 1024"), "DestinationPort", "1024", NULL), 0);
        assert_int_equal(matches(SEL("DestinationPort|lte: 1024"), "DestinationPort", "1024", NULL), 1);
        assert_int_equal(matches(SEL("DestinationPort|gt: 1024"), "DestinationPort", "1025", NULL), 1);
        assert_int_equal(matches(SEL("DestinationPort|gt: 1024"), "DestinationPort", "1024", NULL), 0);
        assert_int_equal(matches(SEL("DestinationPort|gte: 1024"), "DestinationPort", "1024", NULL), 1);
        assert_int_equal(matches(SEL("DestinationPort|gte: 1.5"), "DestinationPort", "2", NULL), 1);
        assert_int_equal(matches(SEL("DestinationPort|gt: -1"), "DestinationPort", "0", NULL), 1);
        /* a non-numeric field does not match */
        assert_int_equal(matches(SEL("DestinationPort|gt: 1"), "DestinationPort", "http", NULL), 0);
        assert_int_equal(matches(SEL("DestinationPort|gt: 1"), "DestinationPort", "", NULL), 0);
        assert_int_equal(matches(SEL("DestinationPort|gt: 1"), "DestinationPort", "0x10", NULL), 0);
        assert_int_equal(matches(SEL("DestinationPort|gt: 1"), NULL), 0);
}

static void test_neq(void **state)
{
        assert_int_equal(matches(SEL("User|neq: root"), "User", "alice", NULL), 1);
        assert_int_equal(matches(SEL("User|neq: root"), "User", "ROOT", NULL), 0);
        /* different from every value of a list */
        assert_int_equal(matches(SEL("User|neq:\n            - root\n            - daemon"), "User", "daemon", NULL), 0);
        assert_int_equal(matches(SEL("User|neq:\n            - root\n            - daemon"), "User", "bob", NULL), 1);
        /* an absent field is different (neq is a negation) */
        assert_int_equal(matches(SEL("User|neq: root"), NULL), 1);
        assert_int_equal(matches(SEL("DestinationPort|neq|gt: 100"), "DestinationPort", "80", NULL), 1);
}

static void test_fieldref(void **state)
{
        assert_int_equal(matches(SEL("Image|fieldref: ParentImage"), "Image", "/bin/sh", "ParentImage", "/BIN/sh", NULL), 1);
        assert_int_equal(matches(SEL("Image|fieldref: ParentImage"), "Image", "/bin/sh", "ParentImage", "/bin/bash", NULL), 0);
        assert_int_equal(matches(SEL("Image|fieldref: ParentImage"), "Image", "/bin/sh", NULL), 0);
        assert_int_equal(matches(SEL("Image|fieldref|cased: ParentImage"), "Image", "/bin/sh", "ParentImage", "/BIN/sh", NULL), 0);
        assert_int_equal(matches(SEL("CommandLine|fieldref|contains: Image"), "CommandLine", "x /bin/sh y", "Image", "/bin/sh", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|fieldref|startswith: Image"), "CommandLine", "x /bin/sh y", "Image", "/bin/sh", NULL), 0);
        assert_int_equal(matches(SEL("Image|fieldref|neq: ParentImage"), "Image", "/bin/sh", "ParentImage", "/bin/bash", NULL), 1);
        assert_int_equal(matches(SEL("Image|fieldref: NoSuchField"), "Image", "/bin/sh", NULL), 0);
}

/* --- conditions ------------------------------------------------------------------------ */

#define ABC "    a:\n        Image: a\n    b:\n        User: b\n    c:\n        CommandLine: c\n"

static int abc(const char *cond, bool a, bool b, bool c)
{
        char det[512];

        snprintf(det, sizeof(det), ABC "    condition: %s\n", cond);
        return matches(det, "Image", a ? "a" : "x", "User", b ? "b" : "x", "CommandLine", c ? "c" : "x", NULL);
}

/* Compares a condition with a C expression on all eight inputs. */
static void check_cond(const char *cond, bool (*want)(bool, bool, bool))
{
        for (int i = 0; i < 8; i++) {
                bool a = i & 1, b = i & 2, c = i & 4;

                if (abc(cond, a, b, c) != (int)want(a, b, c))
                        fail_msg("condition '%s' with a=%d b=%d c=%d", cond, a, b, c);
        }
}

static bool f_prec(bool a, bool b, bool c) { return a || (b && c); }
static bool f_paren(bool a, bool b, bool c) { return (a || b) && c; }
static bool f_not(bool a, bool b, bool c) { return (!a && b) || c; }
static bool f_notparen(bool a, bool b, bool c) { return !(a || b) && !c; }
static bool f_notnot(bool a, bool b, bool c) { return a; }
static bool f_any(bool a, bool b, bool c) { return a || b || c; }
static bool f_all(bool a, bool b, bool c) { return a && b && c; }
static bool f_ab(bool a, bool b, bool c) { return a && b; }
static bool f_list(bool a, bool b, bool c) { return (a && b) || c; }

static void test_conditions(void **state)
{
        check_cond("a or b and c", f_prec);
        check_cond("b and c or a", f_prec);
        check_cond("(a or b) and c", f_paren);
        check_cond("not a and b or c", f_not);
        check_cond("not (a or b) and not c", f_notparen);
        check_cond("not not a", f_notnot);
        check_cond("1 of them", f_any);
        check_cond("all of them", f_all);
        check_cond("1 of *", f_any);
        check_cond("a AND b", f_ab);
        check_cond("( ( a ) and ( b ) )", f_ab);
        /* patterns and them */
        assert_int_equal(matches("    sel_1:\n        Image: a\n    sel_2:\n        User: b\n    _x:\n        CommandLine: c\n"
                                 "    condition: all of them\n", "Image", "a", "User", "b", NULL), 1);
        assert_int_equal(matches("    sel_1:\n        Image: a\n    sel_2:\n        User: b\n    other:\n        CommandLine: c\n"
                                 "    condition: all of sel_*\n", "Image", "a", "User", "b", NULL), 1);
        assert_int_equal(matches("    sel_1:\n        Image: a\n    sel_2:\n        User: b\n    other:\n        CommandLine: c\n"
                                 "    condition: 1 of sel_* and other\n", "Image", "a", "User", "x", NULL), 0);
        assert_int_equal(matches("    sel_1:\n        Image: a\n    sel_2:\n        User: b\n    other:\n        CommandLine: c\n"
                                 "    condition: 1 of sel_* and other\n", "User", "b", "CommandLine", "c", NULL), 1);
        assert_int_equal(matches("    sel_1:\n        Image: a\n    xsel_2:\n        User: b\n"
                                 "    condition: 1 of *sel*\n", "User", "b", NULL), 1);
        /* a list of conditions is their OR */
        {
                char det[512];

                snprintf(det, sizeof(det), ABC "    condition:\n        - a and b\n        - c\n");
                for (int i = 0; i < 8; i++) {
                        bool a = i & 1, b = i & 2, c = i & 4;

                        assert_int_equal(matches(det, "Image", a ? "a" : "x", "User", b ? "b" : "x",
                                                 "CommandLine", c ? "c" : "x", NULL), f_list(a, b, c));
                }
        }
}

/* --- rejections ----------------------------------------------------------------------------- */

static void test_reject_modifiers(void **state)
{
        expect_rejected(SEL("Image|foo: x"), 7, "unknown modifier 'foo'");
        expect_rejected(SEL("Image|wide: x"), 7, "modifier 'wide' needs a later 'base64' or 'base64offset'");
        expect_rejected(SEL("Image|utf16be: x"), 7, "modifier 'utf16be' needs a later");
        expect_rejected(SEL("Image|expand: '%servers%'"), 7, "'expand'");
        expect_rejected(SEL("Image|hour: 24"), 7, "modifier 'hour' needs a number from 0 to 23, not '24'");
        expect_rejected(SEL("Image||contains: x"), 7, "empty modifier");
        expect_rejected(SEL("Image|contains|contains: x"), 7, "given twice");
        expect_rejected(SEL("Image|contains|endswith: x"), 7, "'contains' and 'endswith' cannot be combined");
        expect_rejected(SEL("Image|re|contains: x"), 7, "cannot be combined");
        expect_rejected(SEL("Image|i: x"), 7, "only valid after 're'");
        expect_rejected(SEL("Image|cidr|contains: x"), 7, "cannot be combined");
        expect_rejected(SEL("Image|gt|lt: 3"), 7, "cannot be combined");
        expect_rejected(SEL("Image|exists|neq: true"), 7, "cannot be combined");
        expect_rejected(SEL("Image|base64|base64offset: x"), 7, "cannot be combined");
        expect_rejected(SEL("Image|all: x"), 7, "'all' needs a list of at least two values");
        expect_rejected(SEL("Image|all:\n            - x"), 8, "'all' needs a list");
        expect_rejected(SEL("Image|base64: 'a*b'"), 7, "cannot hold wildcards");
        expect_rejected(SEL("Image|contains|base64: 'ab'"), 7, "cannot hold wildcards");
        expect_rejected(SEL("Image|gt: abc"), 7, "modifier 'gt' needs a number, not 'abc'");
        expect_rejected(SEL("Image|lte:\n            - 1\n            - x"), 9, "needs a number");
        expect_rejected(SEL("Image|cidr: 10.0.0.0/33"), 7, "invalid CIDR '10.0.0.0/33'");
        expect_rejected(SEL("Image|cidr: 'zz'"), 7, "invalid CIDR");
        expect_rejected(SEL("Image|re: 'a(b'"), 7, "invalid regular expression 'a(b'");
        expect_rejected(SEL("Image|exists: maybe"), 7, "'exists' needs true or false");
        expect_rejected(SEL("Image|exists:\n            - true\n            - false"), 8, "'exists' needs true or false");
        expect_rejected(SEL("Image|contains: null"), 7, "null cannot take modifiers");
        expect_rejected(SEL("'|exists': true"), 7, "need a field name");
}

static void test_reject_structure(void **state)
{
        expect_rejected(SEL("Image:\n            - ''\n            - null"), 9, "null cannot be one of a list");
        expect_rejected(SEL("Image:\n            a: b"), 8, "cannot be a mapping");
        expect_rejected(SEL("Image:\n            - [a, b]"), 8, "not a list");
        expect_rejected(SEL("Image: []"), 7, "empty list of values");
        expect_rejected("    sel:\n    condition: sel\n", 6, "empty search identifier");
        expect_rejected("    sel: {}\n    condition: sel\n", 6, "empty search identifier");
        expect_rejected("    sel:\n        - a\n        - Image: x\n    condition: sel\n", 7, "mixes maps and plain values");
        expect_rejected("    sel:\n        - [a]\n    condition: sel\n", 7, "nested lists");
        expect_rejected("    sel:\n        Image: a\n        Image: b\n    condition: sel\n", 8, "duplicate key 'Image'");
        expect_rejected("    sel:\n        Image: a\n", 5, "detection has no condition");
        expect_rejected("    sel:\n        Image: a\n    condition: sel\n    timeframe: 5m\n", 9, "timeframe");
        expect_rejected("    sel:\n        Image: a\n    condition: [sel, 3]\n", 0, "unknown search identifier '3'");
        expect_rejected("    sel:\n        Image: a\n    condition:\n        x: y\n", 9, "condition must be a string");
        expect_status("logsource:\n    category: process_creation\ndetection:\n    sel:\n        Image: a\n"
                      "    condition: sel\n", SIGMA_REJECTED, 1, "rule has no title");
        expect_status("title: ''\nlogsource:\n    category: process_creation\ndetection:\n    sel:\n        Image: a\n"
                      "    condition: sel\n", SIGMA_REJECTED, 1, "rule has no title");
        expect_status("title: t\ndetection:\n    sel:\n        Image: a\n    condition: sel\n", SIGMA_REJECTED, 1,
                      "rule has no logsource");
        expect_status("title: t\nlogsource: linux\ndetection:\n    sel:\n        Image: a\n    condition: sel\n",
                      SIGMA_REJECTED, 2, "logsource must be a mapping");
        expect_status("title: t\nlogsource:\n    category: process_creation\n", SIGMA_REJECTED, 1, "no detection");
        expect_status("title: t\nlevel: severe\nlogsource:\n    category: process_creation\ndetection:\n    sel:\n"
                      "        Image: a\n    condition: sel\n", SIGMA_REJECTED, 2, "unknown level 'severe'");
        expect_status("title: t\nstatus: great\nlogsource:\n    category: process_creation\ndetection:\n    sel:\n"
                      "        Image: a\n    condition: sel\n", SIGMA_REJECTED, 2, "unknown status 'great'");
        expect_status("title: t\ntags: x\nlogsource:\n    category: process_creation\ndetection:\n    sel:\n"
                      "        Image: a\n    condition: sel\n", SIGMA_REJECTED, 2, "tags must be a list");
        expect_status("- a\n- b\n", SIGMA_REJECTED, 1, "must be a YAML mapping");
        expect_status("title: [a\n", SIGMA_REJECTED, 2, "YAML syntax error");
        expect_status("title: &x t\nid: *x\n", SIGMA_REJECTED, 2, "YAML aliases are not supported");
        expect_status("title: t\ncorrelation:\n    type: event_count\n", SIGMA_REJECTED, 2,
                      "correlation rules are not supported by this engine");
        expect_status("action: global\ntitle: t\n", SIGMA_REJECTED, 1, "rule collections (action:) are not supported");
        expect_status("title: t\nfilter:\n    rules: [x]\n", SIGMA_REJECTED, 2, "filters are not supported");
        expect_status("title: t\ntaxonomy: custom\n", SIGMA_REJECTED, 2, "taxonomy");
}

static void test_reject_conditions(void **state)
{
        expect_rejected("    sel:\n        Image: a\n    condition: sel or nosuch\n", 8,
                        "unknown search identifier 'nosuch'");
        expect_rejected("    sel:\n        Image: a\n    condition: 1 of filter*\n", 8, "pattern 'filter*' matches no");
        expect_rejected("    sel:\n        Image: a\n    condition: sel | count() > 5\n", 8,
                        "aggregation expressions are not supported");
        expect_rejected("    sel:\n        Image: a\n    condition: any of sel*\n", 8, "'any of' is not Sigma");
        expect_rejected("    sel:\n        Image: a\n    condition: 2 of sel*\n", 8, "only '1 of' and 'all of'");
        expect_rejected("    sel:\n        Image: a\n    condition: sel and\n", 8, "ends where an operand");
        expect_rejected("    sel:\n        Image: a\n    condition: (sel\n", 8, "missing ')'");
        expect_rejected("    sel:\n        Image: a\n    condition: sel)\n", 8, "unbalanced ')'");
        expect_rejected("    sel:\n        Image: a\n    condition: sel sel\n", 8, "unexpected 'sel'");
        expect_rejected("    sel:\n        Image: a\n    condition: sel*\n", 8, "wildcard 'sel*' outside");
        expect_rejected("    sel:\n        Image: a\n    condition: sel & sel\n", 8, "unexpected character '&'");
        expect_rejected("    sel:\n        Image: a\n    condition: 1 sel\n", 8, "expected 'of'");
        expect_rejected("    sel:\n        Image: a\n    condition: all of and\n", 8, "expected a search identifier");
        expect_rejected("    _x:\n        Image: a\n    condition: 1 of them\n", 8, "'them' matches no");
        expect_rejected("    sel:\n        Image: a\n    condition: ''\n", 8, "ends where an operand");
}

static void test_caps(void **state)
{
        char *buf;
        size_t n = 0, cap = 1 << 21;
        struct sigma_ruleset *rs;
        struct diags g;

        buf = malloc(cap);
        assert_non_null(buf);
        /* nesting past 32 levels */
        n = (size_t)snprintf(buf, cap, "title: t\nx: ");
        for (int i = 0; i < 40; i++)
                buf[n++] = '[';
        for (int i = 0; i < 40; i++)
                buf[n++] = ']';
        buf[n] = '\0';
        expect_status(buf, SIGMA_REJECTED, 2, "nested deeper than 32");
        /* a condition past its caps */
        n = (size_t)snprintf(buf, cap, "%s", rule_text("    sel:\n        Image: a\n    condition: "));
        for (int i = 0; i < 40; i++)
                buf[n++] = '(';
        n += (size_t)snprintf(buf + n, cap - n, "sel");
        for (int i = 0; i < 40; i++)
                buf[n++] = ')';
        buf[n++] = '\n';
        buf[n] = '\0';
        expect_status(buf, SIGMA_REJECTED, 8, "nested deeper than 32");
        n = (size_t)snprintf(buf, cap, "%s", rule_text("    a:\n        Image: a\n    condition: a"));
        for (int i = 0; i < 600; i++)
                n += (size_t)snprintf(buf + n, cap - n, " or a");
        buf[n++] = '\n';
        buf[n] = '\0';
        expect_status(buf, SIGMA_REJECTED, 8, "more than 512 tokens");
        /* a buffer past SIGMA_FILE_MAX is refused by the call */
        memset(buf, ' ', SIGMA_FILE_MAX + 1);
        assert_int_equal(sigma_ruleset_new(&schema, &rs), 0);
        assert_int_equal(sigma_ruleset_add_buffer(rs, "big", buf, SIGMA_FILE_MAX + 1, diag_cb, &g), -E2BIG);
        sigma_ruleset_free(rs);
        /* a huge scalar */
        n = (size_t)snprintf(buf, cap, "title: '");
        memset(buf + n, 'a', 70000);
        n += 70000;
        n += (size_t)snprintf(buf + n, cap - n, "'\n");
        expect_status(buf, SIGMA_REJECTED, 1, "scalar longer than");
        /* billion laughs: refused at the first alias */
        expect_status("a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n", SIGMA_REJECTED, 2, "aliases");
        free(buf);
}

/* --- routing, documents, ids ------------------------------------------------------------------ */

static const char *routed(const char *logsource)
{
        static char buf[1024];

        snprintf(buf, sizeof(buf), "title: t\nlogsource:\n%sdetection:\n    sel:\n        Image: a\n"
                 "    condition: sel\n", logsource);
        return buf;
}

static void test_logsource(void **state)
{
        struct sigma_ruleset *rs;
        struct diags g;

        rs = load(routed("    category: network_connection\n"), &g);
        assert_int_equal(sigma_ruleset_count(rs), 1);
        assert_int_equal(sigma_rule_category(sigma_ruleset_rule(rs, 0)), 1);
        sigma_ruleset_free(rs);
        rs = load(routed("    product: linux\n    category: file_event\n"), &g);
        assert_int_equal(sigma_rule_category(sigma_ruleset_rule(rs, 0)), 2);
        sigma_ruleset_free(rs);
        expect_status(routed("    product: linux\n    service: auditd\n"), SIGMA_UNSUPPORTED, 2,
                      "logsource product=linux service=auditd is not produced");
        expect_status(routed("    product: windows\n    category: process_creation\n"), SIGMA_UNSUPPORTED, 2,
                      "logsource product=windows category=process_creation is not produced");
        expect_status(routed("    product: linux\n    category: registry_set\n"), SIGMA_UNSUPPORTED, 2,
                      "category=registry_set");
        expect_status(routed("    product: linux\n"), SIGMA_UNSUPPORTED, 2, "logsource product=linux is not");
        expect_status(routed("    product: linux\n    category: process_creation\n    service: x\n"),
                      SIGMA_UNSUPPORTED, 2, "service=x");
        expect_status(routed("    definition: x\n"), SIGMA_UNSUPPORTED, 2, "logsource (empty)");
        /* validation comes first: an invalid rule for another product is rejected */
        expect_status("title: t\nlogsource:\n    product: windows\ndetection:\n    sel:\n        Image|foo: a\n"
                      "    condition: sel\n", SIGMA_REJECTED, 6, "unknown modifier 'foo'");
}

static void test_documents_and_ids(void **state)
{
        const char *two = "title: one\nid: 11111111-0000-0000-0000-000000000000\nlevel: high\ntags:\n"
                          "    - attack.t1059.004\n    - attack.execution\nstatus: test\ndescription: d\n"
                          "logsource:\n    category: process_creation\n"
                          "detection:\n    sel:\n        Image: a\n    condition: sel\n"
                          "---\n"
                          "title: two\nid: 11111111-0000-0000-0000-000000000000\nlogsource:\n"
                          "    category: process_creation\ndetection:\n    sel:\n        Image: b\n    condition: sel\n"
                          "---\n"
                          "title: bad\nlogsource:\n    category: process_creation\ndetection:\n    sel:\n"
                          "        Image|foo: b\n    condition: sel\n"
                          "---\n"
                          "title: three\nlogsource:\n    category: process_creation\ndetection:\n    sel:\n"
                          "        Image: c\n    condition: sel\n";
        struct sigma_ruleset *rs;
        const struct sigma_rule *r;
        struct diags g;

        rs = load(two, &g);
        assert_int_equal(g.n[SIGMA_LOADED], 2);
        assert_int_equal(g.n[SIGMA_REJECTED], 2);
        assert_int_equal(sigma_ruleset_count(rs), 2);
        r = sigma_ruleset_rule(rs, 0);
        assert_string_equal(sigma_rule_title(r), "one");
        assert_string_equal(sigma_rule_id(r), "11111111-0000-0000-0000-000000000000");
        assert_int_equal(sigma_rule_level(r), SIGMA_LEVEL_HIGH);
        assert_string_equal(sigma_level_name(sigma_rule_level(r)), "high");
        assert_string_equal(sigma_rule_status(r), "test");
        assert_string_equal(sigma_rule_description(r), "d");
        assert_string_equal(sigma_rule_file(r), "t.yml");
        assert_int_equal(sigma_rule_line(r), 1);
        assert_int_equal(sigma_rule_tag_count(r), 2);
        assert_string_equal(sigma_rule_tag(r, 0), "attack.t1059.004");
        r = sigma_ruleset_rule(rs, 1);
        assert_string_equal(sigma_rule_title(r), "three");
        assert_string_equal(sigma_rule_id(r), "");
        assert_string_equal(sigma_rule_status(r), "");
        assert_int_equal(sigma_rule_level(r), SIGMA_LEVEL_MEDIUM);
        assert_int_equal(sigma_rule_line(r), 32);
        assert_null(sigma_ruleset_rule(rs, 2));
        assert_int_equal(sigma_ruleset_field_id(rs, "Image"), 17);
        assert_int_equal(sigma_ruleset_field_id(rs, "image"), -ENOENT);
        sigma_ruleset_free(rs);

        /* the duplicate is reported on its id line; the first stays */
        rs = load("title: a\nid: x\nlogsource:\n    category: process_creation\ndetection:\n    sel:\n"
                  "        Image: a\n    condition: sel\n---\ntitle: b\nid: x\nlogsource:\n"
                  "    category: process_creation\ndetection:\n    sel:\n        Image: a\n    condition: sel\n", &g);
        assert_int_equal(sigma_ruleset_count(rs), 1);
        assert_string_equal(sigma_rule_title(sigma_ruleset_rule(rs, 0)), "a");
        assert_int_equal(g.last, SIGMA_REJECTED);
        assert_int_equal(g.line, 11);
        assert_non_null(strstr(g.reason, "duplicate rule id 'x' (first in t.yml line 1)"));
        sigma_ruleset_free(rs);
        assert_string_equal(sigma_level_name((enum sigma_level)9), "");
}

static void test_schema(void **state)
{
        static const char *const dup[] = { "A", "B", "A" };
        static const char *const cats[] = { "c" };
        struct sigma_schema s = { .product = "linux", .fields = dup, .n_fields = 3, .categories = cats,
                                  .n_categories = 1 };
        struct sigma_ruleset *rs = NULL;

        assert_int_equal(sigma_ruleset_new(&s, &rs), -EINVAL);
        s.n_fields = SIGMA_FIELDS_MAX + 1;
        assert_int_equal(sigma_ruleset_new(&s, &rs), -EINVAL);
        s.n_fields = 2;
        s.n_categories = SIGMA_CATEGORIES_MAX + 1;
        assert_int_equal(sigma_ruleset_new(&s, &rs), -EINVAL);
        assert_null(rs);
        sigma_ruleset_free(NULL);
        sigma_matcher_free(NULL);
        sigma_scratch_free(NULL);
}

static void write_file(const char *dir, const char *name, const char *text, size_t len)
{
        char path[4096];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(text, 1, len, f), len);
        fclose(f);
}

static void test_files_and_dirs(void **state)
{
        char dir[] = "/tmp/test-sigma-XXXXXX", sub[4096], path[4096];
        const char *rule_b = "title: b\nlogsource:\n    category: file_event\ndetection:\n    s:\n"
                             "        TargetFilename: x\n    condition: s\n";
        const char *rule_a = "title: a\nlogsource:\n    category: file_event\ndetection:\n    s:\n"
                             "        TargetFilename: y\n    condition: s\n";
        char *big = calloc(1, SIGMA_FILE_MAX + 2);
        struct sigma_ruleset *rs;
        struct diags g = { 0 };

        assert_non_null(big);
        assert_non_null(mkdtemp(dir));
        snprintf(sub, sizeof(sub), "%s/sub", dir);
        assert_int_equal(mkdir(sub, 0700), 0);
        write_file(dir, "b.yml", rule_b, strlen(rule_b));
        write_file(sub, "a.yaml", rule_a, strlen(rule_a));
        write_file(dir, ".hidden.yml", rule_a, strlen(rule_a));
        write_file(dir, "notes.txt", rule_a, strlen(rule_a));
        memset(big, '#', SIGMA_FILE_MAX + 1);
        write_file(dir, "huge.yml", big, SIGMA_FILE_MAX + 1);
        snprintf(path, sizeof(path), "%s/b.yml", dir);
        snprintf(sub, sizeof(sub), "%s/link.yml", dir);
        assert_int_equal(symlink(path, sub), 0);

        assert_int_equal(sigma_ruleset_new(&schema, &rs), 0);
        assert_int_equal(sigma_ruleset_add_dir(rs, dir, diag_cb, &g), 2);
        assert_int_equal(sigma_ruleset_count(rs), 2);
        /* sorted: "b.yml" < "huge.yml" < "sub" */
        assert_string_equal(sigma_rule_title(sigma_ruleset_rule(rs, 0)), "b");
        assert_string_equal(sigma_rule_title(sigma_ruleset_rule(rs, 1)), "a");
        assert_int_equal(g.n[SIGMA_REJECTED], 1);
        assert_non_null(strstr(g.reason, "file larger than"));
        assert_non_null(strstr(g.file, "huge.yml"));
        /* a file named directly is read, even through a link */
        /* b again: it has no id, so it is no duplicate */
        assert_int_equal(sigma_ruleset_add_file(rs, sub, diag_cb, &g), 1);
        assert_int_equal(sigma_ruleset_count(rs), 3);
        snprintf(path, sizeof(path), "%s/missing.yml", dir);
        assert_int_equal(sigma_ruleset_add_file(rs, path, diag_cb, &g), 0);
        assert_non_null(strstr(g.reason, "cannot open"));
        assert_int_equal(sigma_ruleset_add_dir(rs, path, diag_cb, &g), -ENOENT);
        sigma_ruleset_free(rs);

        unlink(sub);
        snprintf(path, sizeof(path), "%s/b.yml", dir); unlink(path);
        snprintf(path, sizeof(path), "%s/.hidden.yml", dir); unlink(path);
        snprintf(path, sizeof(path), "%s/notes.txt", dir); unlink(path);
        snprintf(path, sizeof(path), "%s/huge.yml", dir); unlink(path);
        snprintf(path, sizeof(path), "%s/sub/a.yaml", dir); unlink(path);
        snprintf(path, sizeof(path), "%s/sub", dir); rmdir(path);
        rmdir(dir);
        free(big);
}

/* --- matching behaviour ------------------------------------------------------------------------- */

static void test_match_order_and_stop(void **state)
{
        const char *text = "title: r0\nlogsource:\n    category: process_creation\ndetection:\n    s:\n"
                           "        Image|endswith: /sh\n    condition: s\n---\n"
                           "title: r1\nlogsource:\n    category: network_connection\ndetection:\n    s:\n"
                           "        Image|endswith: /sh\n    condition: s\n---\n"
                           "title: r2\nlogsource:\n    category: process_creation\ndetection:\n    s:\n"
                           "        Image: '*'\n    condition: not s\n---\n"
                           "title: r3\nlogsource:\n    category: process_creation\ndetection:\n    s:\n"
                           "        Image|contains: bin\n    condition: s\n";
        struct sigma_str f[N_AGENT_FIELDS] = { 0 };
        struct sigma_event ev = { .category = 0, .fields = f };
        struct sigma_ruleset *rs;
        struct sigma_matcher *m;
        struct sigma_scratch *s;
        struct hits h = { 0 };
        struct diags g;

        rs = load(text, &g);
        assert_int_equal(sigma_ruleset_count(rs), 4);
        f[17] = (struct sigma_str){ "/bin/sh", 7 };
        assert_int_equal(match_both(rs, 0, f, &h), 2);
        assert_string_equal(sigma_rule_title(h.r[0]), "r0");
        assert_string_equal(sigma_rule_title(h.r[1]), "r3");
        assert_int_equal(match_both(rs, 1, f, &h), 1);
        assert_string_equal(sigma_rule_title(h.r[0]), "r1");
        f[17].ptr = NULL;
        assert_int_equal(match_both(rs, 0, f, &h), 1);
        assert_string_equal(sigma_rule_title(h.r[0]), "r2");
        assert_int_equal(match_both(rs, 3, f, &h), 0);

        assert_int_equal(sigma_matcher_new(rs, 0, &m), 0);
        assert_int_equal(sigma_scratch_new(m, &s), 0);
        f[17] = (struct sigma_str){ "/bin/sh", 7 };
        h = (struct hits){ .stop_after = 1 };
        assert_int_equal(sigma_matcher_match(m, s, &ev, hit_cb, &h), 1);
        assert_int_equal(sigma_matcher_match(m, s, &ev, NULL, NULL), 2);
        ev.category = 5;
        assert_int_equal(sigma_matcher_match(m, s, &ev, hit_cb, &h), -EINVAL);
        assert_true(sigma_matcher_field_used(m, 0, 17));
        assert_false(sigma_matcher_field_used(m, 0, 18));
        assert_false(sigma_matcher_field_used(m, 9, 17));
        assert_false(sigma_matcher_field_used(m, 0, 9999));
        sigma_scratch_free(s);
        sigma_matcher_free(m);
        sigma_ruleset_free(rs);
}

static void test_budget(void **state)
{
        /* field text past the 64 KiB budget is matched on its first bytes */
        const char *text = rule_text("    a:\n        CommandLine|endswith: 'zz'\n"
                                     "    b:\n        Image|startswith: 'ab'\n    condition: a or b\n");
        struct sigma_str f[N_AGENT_FIELDS] = { 0 };
        struct sigma_ruleset *rs;
        struct diags g;
        char *big = malloc(70000);

        assert_non_null(big);
        memset(big, 'y', 70000);
        big[69998] = big[69999] = 'z';
        rs = load(text, &g);
        f[18] = (struct sigma_str){ big, 70000 };
        assert_int_equal(match_both(rs, 0, f, NULL), 0);
        f[18].len = 1000;
        f[17] = (struct sigma_str){ "abc", 3 };
        assert_int_equal(match_both(rs, 0, f, NULL), 1);
        sigma_ruleset_free(rs);
        free(big);
}

/* --- the corpus --------------------------------------------------------------------------------- */

static const char *corpus_dir(void)
{
        static char path[4096];
        const char *c = getenv("VIGIL_CORPUS"), *data = getenv("VIGIL_TEST_DATA");
        struct stat st;

        if (c)
                snprintf(path, sizeof(path), "%s/sigma", c);
        else if (data)
                snprintf(path, sizeof(path), "%s/../../../shared/corpus/sigma", data);
        else
                return NULL;
        return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? path : NULL;
}

struct corpus_diags {
        int n[3];
        int bad_supported;
};

static void corpus_cb(const struct sigma_diag *d, void *userdata)
{
        struct corpus_diags *g = userdata;

        g->n[d->status]++;
        if (d->status == SIGMA_REJECTED)
                print_error("rejected: %s:%u: %s\n", d->file, d->line, d->reason);
        if (d->status == SIGMA_UNSUPPORTED && (strstr(d->reason, "category=process_creation") ||
                                               strstr(d->reason, "category=network_connection") ||
                                               strstr(d->reason, "category=file_event"))) {
                print_error("wrongly unsupported: %s:%u: %s\n", d->file, d->line, d->reason);
                g->bad_supported++;
        }
}

static struct sigma_ruleset *corpus_load(struct corpus_diags *g)
{
        static const char *const dirs[] = { "rules/linux", "rules-emerging-threats", "rules-threat-hunting" };
        const char *base = corpus_dir();
        struct sigma_ruleset *rs;
        char path[4200];
        int total = 0;

        if (!base)
                return NULL;
        memset(g, 0, sizeof(*g));
        assert_int_equal(sigma_ruleset_new(&schema, &rs), 0);
        for (size_t i = 0; i < 3; i++) {
                int r;

                snprintf(path, sizeof(path), "%s/%s", base, dirs[i]);
                r = sigma_ruleset_add_dir(rs, path, corpus_cb, g);
                assert_true(r >= 0);
                total += r;
        }
        assert_int_equal(total, (int)sigma_ruleset_count(rs));
        return rs;
}

/* Counts rules of the corpus by their logsource text (a second opinion). */
static void corpus_expect(const char *dir, int *ret_supported, int *ret_other)
{
        DIR *d = opendir(dir);
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                char path[4200], *buf;
                struct stat st;
                FILE *f;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                if (lstat(path, &st) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        corpus_expect(path, ret_supported, ret_other);
                        continue;
                }
                if (!strstr(de->d_name, ".yml") || !(f = fopen(path, "r")))
                        continue;
                buf = calloc(1, (size_t)st.st_size + 1);
                assert_non_null(buf);
                assert_int_equal(fread(buf, 1, (size_t)st.st_size, f), (size_t)st.st_size);
                fclose(f);
                if (strstr(buf, "category: process_creation") || strstr(buf, "category: network_connection") ||
                    strstr(buf, "category: file_event"))
                        ++*ret_supported;
                else
                        ++*ret_other;
                free(buf);
        }
        closedir(d);
}

static void test_corpus_load(void **state)
{
        struct corpus_diags g;
        struct sigma_ruleset *rs = corpus_load(&g);
        int supported = 0, other = 0;
        char path[4200];

        if (!rs) {
                print_message("skipped: no Sigma corpus (set VIGIL_CORPUS)\n");
                skip();
        }
        snprintf(path, sizeof(path), "%s/rules/linux", corpus_dir());
        corpus_expect(path, &supported, &other);
        snprintf(path, sizeof(path), "%s/rules-emerging-threats", corpus_dir());
        corpus_expect(path, &supported, &other);
        snprintf(path, sizeof(path), "%s/rules-threat-hunting", corpus_dir());
        corpus_expect(path, &supported, &other);
        print_message("corpus: %d loaded, %d unsupported, %d rejected\n", g.n[0], g.n[1], g.n[2]);
        assert_int_equal(g.n[SIGMA_REJECTED], 0);
        assert_int_equal(g.bad_supported, 0);
        assert_int_equal(g.n[SIGMA_LOADED], supported);
        assert_int_equal(g.n[SIGMA_UNSUPPORTED], other);
        assert_true(supported > 100);
        sigma_ruleset_free(rs);
}

/* --- naive and indexed agree ------------------------------------------------------------------------ */

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint32_t rnd(uint32_t n)
{
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return (uint32_t)(rng_state % n);
}

struct vocab {
        char **w;
        size_t n, cap;
};

static void vocab_add(struct vocab *v, const char *s, size_t len)
{
        if (len == 0 || len > 200 || v->n >= 20000)
                return;
        if (v->n == v->cap) {
                v->cap = v->cap ? 2 * v->cap : 256;
                v->w = realloc(v->w, v->cap * sizeof(*v->w));
                assert_non_null(v->w);
        }
        v->w[v->n] = strndup(s, len);
        assert_non_null(v->w[v->n]);
        v->n++;
}

/* Values of the corpus files (text after "- " or ": "), wildcards dropped. */
static void vocab_from_dir(struct vocab *v, const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                char path[4200], line[4096];
                struct stat st;
                FILE *f;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                if (lstat(path, &st) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        vocab_from_dir(v, path);
                        continue;
                }
                if (!(f = fopen(path, "r")))
                        continue;
                while (fgets(line, sizeof(line), f)) {
                        char *p = strstr(line, "- "), *q = strstr(line, ": "), *s = p ? p + 2 : q ? q + 2 : NULL;
                        char clean[4096];
                        size_t n = 0;

                        if (!s)
                                continue;
                        for (; *s && *s != '\n' && *s != '#'; s++)
                                if (*s != '\'' && *s != '*' && *s != '"')
                                        clean[n++] = *s;
                        vocab_add(v, clean, n);
                }
                fclose(f);
        }
        closedir(d);
}

static void gen_value(const struct vocab *v, char *out, size_t cap)
{
        static const char *const seps[] = { "", " ", "/", " -", "\\", "=", "'" };
        size_t n = 0;
        int parts = (int)rnd(4);

        for (int i = 0; i < parts && v->n; i++) {
                const char *w = i == 0 && rnd(3) == 0 ? "/usr/bin/" : v->w[rnd((uint32_t)v->n)];
                const char *sep = seps[rnd(7)];
                int k = snprintf(out + n, cap - n, "%s%s", sep, w);

                if (k < 0 || (size_t)k >= cap - n)
                        break;
                n += (size_t)k;
        }
        out[n] = '\0';
        for (size_t i = 0; i < n; i++)
                if (rnd(8) == 0 && out[i] >= 'a' && out[i] <= 'z')
                        out[i] = (char)(out[i] - 32);
}

static void test_naive_vs_indexed(void **state)
{
        struct corpus_diags g;
        struct sigma_ruleset *rs = corpus_load(&g);
        struct sigma_matcher *mi, *mn;
        struct sigma_scratch *si, *sn;
        struct vocab v = { 0 };
        static char vals[N_AGENT_FIELDS][2048];
        struct sigma_str f[N_AGENT_FIELDS];
        long total = 0, events = 0;
        char path[4200];

        if (!rs) {
                print_message("skipped: no Sigma corpus (set VIGIL_CORPUS)\n");
                skip();
        }
        snprintf(path, sizeof(path), "%s/rules", corpus_dir());
        vocab_from_dir(&v, path);
        snprintf(path, sizeof(path), "%s/rules-emerging-threats", corpus_dir());
        vocab_from_dir(&v, path);
        assert_true(v.n > 500);
        assert_int_equal(sigma_matcher_new(rs, 0, &mi), 0);
        assert_int_equal(sigma_matcher_new(rs, SIGMA_MATCHER_NAIVE, &mn), 0);
        assert_int_equal(sigma_scratch_new(mi, &si), 0);
        assert_int_equal(sigma_scratch_new(mn, &sn), 0);
        for (int e = 0; e < 60000; e++) {
                struct sigma_event ev = { .category = rnd(5), .fields = f };
                struct hits hi = { 0 }, hn = { 0 };

                for (size_t i = 0; i < N_AGENT_FIELDS; i++) {
                        bool present = rnd(4) != 0;

                        gen_value(&v, vals[i], sizeof(vals[i]));
                        f[i] = (struct sigma_str){ present ? vals[i] : NULL, present ? (uint32_t)strlen(vals[i]) : 0 };
                }
                int ni = sigma_matcher_match(mi, si, &ev, hit_cb, &hi);
                int nn = sigma_matcher_match(mn, sn, &ev, hit_cb, &hn);

                assert_int_equal(ni, hi.n);
                assert_int_equal(nn, hn.n);
                if (hi.n != hn.n)
                        fail_msg("event %d: indexed %d, naive %d matches", e, hi.n, hn.n);
                for (int i = 0; i < hi.n; i++)
                        assert_ptr_equal(hi.r[i], hn.r[i]);
                total += hi.n;
                events += hi.n > 0;
        }
        print_message("naive vs indexed: 60000 events, %ld matches in %ld events, all equal\n", total, events);
        assert_true(events > 100);
        sigma_scratch_free(si);
        sigma_scratch_free(sn);
        sigma_matcher_free(mi);
        sigma_matcher_free(mn);
        sigma_ruleset_free(rs);
        for (size_t i = 0; i < v.n; i++)
                free(v.w[i]);
        free(v.w);
}


/* Random rules over a small alphabet (so that values collide with event
 * text often), with every kind of value, modifier and condition: the
 * indexed matcher must give what the naive one gives. */
static const char *const gen_fields[] = { "Image", "CommandLine", "User", "ParentImage", "Hashes" };
static const char *const gen_res[] = {
        "ab+c", "a?bca", "[ab]cab", "abc{2}", "x(y|z)bca", "\\.ab", "^abc", "bca$", "a.*cab", "(ab)+cab",
        "ca|ab", "a\\x41bc", "a\\d?bc", "abc*a", "cab{0,2}ca", "\\Qabc\\E", "(?i)ABC", "[[:alpha:]]bca", "é?abc",
};

static char gen_char(void)
{
        static const char chars[] = "abcabcABC-/*?\\ ";

        return chars[rnd(sizeof(chars) - 1)];
}

static void gen_literal(char *out, size_t cap, bool wild)
{
        size_t n = 1 + rnd(6), o = 0;

        for (size_t i = 0; i < n && o + 2 < cap; i++) {
                char c = gen_char();

                if (!wild && (c == '*' || c == '?' || c == '\\'))
                        c = 'a';
                if (c == '\'')
                        continue;
                out[o++] = c;
        }
        out[o] = '\0';
}

/* One search identifier: a map of 1-3 keys. */
static size_t gen_selection(char *out, size_t cap)
{
        static const char *const mods[] = { "", "|contains", "|startswith", "|endswith", "|cased", "|contains|cased",
                                            "|windash", "|contains|all", "|re", "|re|i", "|neq", "|exists",
                                            "|base64offset|contains", "|fieldref", "|contains|windash", "null", "kw",
                                            "|wide|base64offset|contains", "|utf16be|base64", "|utf16|base64offset",
                                            "|windash|utf16le|base64offset|contains", "|wide|base64|cased", "|gt", "|lte",
                                            "|neq|gte", "|hour", "|minute|gte", "|day|lt", "|year|neq", "|hour|gt" };
        static const char *const nums[] = { "0", "-1", "1.5", "1e3", "9007199254740992", "18446744073709551615",
                                            "-9223372036854775808" };
        size_t o = 0, keys = 1 + rnd(3), first = rnd(5);

        if (rnd(8) == 0) {      /* keywords */
                char v[32];

                gen_literal(v, sizeof(v), true);
                return (size_t)snprintf(out, cap, "        - '%s'\n", v);
        }
        for (size_t k = 0; k < keys; k++) {
                const char *f = gen_fields[(first + k) % 5], *m = mods[rnd(sizeof(mods) / sizeof(mods[0]))];
                char v[32], v2[32];

                gen_literal(v, sizeof(v), true);
                gen_literal(v2, sizeof(v2), true);
                if (strcmp(m, "|re") == 0 || strcmp(m, "|re|i") == 0)
                        o += (size_t)snprintf(out + o, cap - o, "        %s%s: '%s'\n", f, m, gen_res[rnd(19)]);
                else if (strcmp(m, "|exists") == 0)
                        o += (size_t)snprintf(out + o, cap - o, "        %s%s: %s\n", f, m, rnd(2) ? "true" : "false");
                else if (strcmp(m, "|fieldref") == 0)
                        o += (size_t)snprintf(out + o, cap - o, "        %s%s: %s\n", f, m, gen_fields[rnd(5)]);
                else if (strcmp(m, "null") == 0)
                        o += (size_t)snprintf(out + o, cap - o, "        %s: null\n", f);
                else if (strstr(m, "utf16") || strstr(m, "wide")) {
                        gen_literal(v, sizeof(v), false);
                        o += (size_t)snprintf(out + o, cap - o, "        %s%s: '%s'\n", f, m, v);
                } else if (strstr(m, "hour") || strstr(m, "minute") || strstr(m, "day") || strstr(m, "year"))
                        o += (size_t)snprintf(out + o, cap - o, "        %s%s: %u\n", f, m,
                                              strstr(m, "year") ? 2024 + rnd(4) : strstr(m, "day") ? 1 + rnd(28) :
                                              rnd(strstr(m, "hour") ? 24 : 60));
                else if (strstr(m, "gt") || strstr(m, "lt"))
                        o += (size_t)snprintf(out + o, cap - o, "        %s%s: %s\n", f, m, nums[rnd(7)]);
                else if (strcmp(m, "kw") == 0 || strstr(m, "all"))
                        o += (size_t)snprintf(out + o, cap - o, "        %s%s:\n            - '%s'\n            - '%s'\n",
                                              f, strcmp(m, "kw") ? m : "", v, v2);
                else
                        o += (size_t)snprintf(out + o, cap - o, "        %s%s: '%s'\n", f, m, v);
        }
        return o;
}

static void gen_rules(char *out, size_t cap, int n_rules)
{
        static const char *const conds[] = { "s0", "s0 and s1", "s0 or s1", "s0 and not s1", "not s0",
                                             "1 of s*", "all of s*", "(s0 or s1) and not s2", "s0 and (s1 or not s2)",
                                             "not (s0 and s1)" };
        size_t o = 0;

        for (int r = 0; r < n_rules; r++) {
                o += (size_t)snprintf(out + o, cap - o, "title: r%d\nlogsource:\n    category: process_creation\n"
                                      "detection:\n", r);
                for (int k = 0; k < 3; k++) {
                        o += (size_t)snprintf(out + o, cap - o, "    s%d:\n", k);
                        o += gen_selection(out + o, cap - o);
                }
                o += (size_t)snprintf(out + o, cap - o, "    condition: %s\n---\n", conds[rnd(10)]);
        }
}

/* Event text for the generated rules: mostly bytes of their alphabet, and
 * sometimes a number, a date, or an encoded value the UTF-16 modifiers
 * look for (base64 of ASCII text as UTF-16, at some offset). */
static void gen_event_value(char *out, size_t cap)
{
        static const char *const nums[] = { "0", "-1", "1", "1.5", "1e3", "-0.5", "9007199254740992",
                                            "9007199254740993", "18446744073709551615", "18446744073709551616" };
        static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        unsigned char raw[48];
        size_t n = 0, o = 0, k = rnd(10);

        if (k == 0) {
                snprintf(out, cap, "%s", nums[rnd(10)]);
                return;
        }
        if (k == 1) {
                snprintf(out, cap, "20%02u-%02u-%02uT%02u:%02u:%02u.5Z", 24 + rnd(4), 1 + rnd(12), 1 + rnd(28), rnd(24),
                         rnd(60), rnd(60));
                return;
        }
        if (k > 3) {
                size_t len = rnd(12), i;

                for (i = 0; i < len && i + 1 < cap; i++)
                        out[i] = "abcABC-/ .\xe2\x80\x93"[rnd(13)];
                out[i] = '\0';
                return;
        }
        for (uint32_t i = rnd(3); i > 0; i--)
                raw[n++] = ' ';
        if (rnd(3) == 0) {
                raw[n++] = 0xff;
                raw[n++] = 0xfe;
        }
        for (uint32_t i = 1 + rnd(8), be = rnd(2); i > 0 && n + 2 < sizeof(raw); i--) {
                unsigned char c = (unsigned char)"abcABC-/ "[rnd(9)];

                raw[n++] = be ? 0 : c;
                raw[n++] = be ? c : 0;
        }
        for (size_t i = 0; i < n && o + 5 < cap; i += 3) {
                uint32_t v = (uint32_t)raw[i] << 16 | (i + 1 < n ? (uint32_t)raw[i + 1] << 8 : 0) |
                             (i + 2 < n ? raw[i + 2] : 0);

                out[o++] = b64[v >> 18];
                out[o++] = b64[(v >> 12) & 63];
                out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
                out[o++] = i + 2 < n ? b64[v & 63] : '=';
        }
        out[o] = '\0';
}

static void test_generated_differential(void **state)
{
        static char text[1 << 20];
        long total = 0, loaded = 0;

        for (int round = 0; round < 40; round++) {
                struct sigma_str f[N_AGENT_FIELDS];
                static char vals[5][96];
                struct sigma_ruleset *rs;
                struct diags g;

                gen_rules(text, sizeof(text), 200);
                rs = load(text, &g);
                loaded += g.n[SIGMA_LOADED];
                for (int e = 0; e < 300; e++) {
                        memset(f, 0, sizeof(f));
                        for (int k = 0; k < 5; k++) {
                                int id = sigma_ruleset_field_id(rs, gen_fields[k]);

                                gen_event_value(vals[k], sizeof(vals[k]));
                                if (id >= 0 && rnd(5))
                                        f[id] = (struct sigma_str){ vals[k], (uint32_t)strlen(vals[k]) };
                        }
                        total += match_both_fast(rs, f);
                }
                match_both_fast(NULL, NULL);
                sigma_ruleset_free(rs);
        }
        print_message("generated: %ld rules loaded, %ld matches, indexed == naive\n", loaded, total);
        assert_true(loaded > 4000);
        assert_true(total > 1000);
}

/* --- UTF-16 encodings, time modifiers, exact numbers, the text budget ---------------------------- */

static void test_utf16(void **state)
{
        const char *wide = SEL("CommandLine|wide|base64offset|contains: 'ping'");
        const char *le = SEL("CommandLine|utf16le|base64offset|contains: 'ping'");

        /* "ping 10.0.0.1", "xxping 10.0.0.1", "cmd /c ping 10.0.0.1" in UTF-16LE, base64: one per offset */
        assert_int_equal(matches(wide, "CommandLine", "pwsh -enc cABpAG4AZwAgADEAMAAuADAALgAwAC4AMQA=", NULL), 1);
        assert_int_equal(matches(wide, "CommandLine", "pwsh -enc eAB4AHAAaQBuAGcAIAAxADAALgAwAC4AMAAuADEA", NULL), 1);
        assert_int_equal(matches(le, "CommandLine", "YwBtAGQAIAAvAGMAIABwAGkAbgBnACAAMQAwAC4AMAAuADAALgAxAA==", NULL), 1);
        /* "cmd /c pong ..." in UTF-16LE; "cmd /c ping ..." in UTF-8 */
        assert_int_equal(matches(le, "CommandLine", "YwBtAGQAIAAvAGMAIABwAG8AbgBnACAAMQAwAC4AMAAuADAALgAxAA==", NULL), 0);
        assert_int_equal(matches(wide, "CommandLine", "Y21kIC9jIHBpbmcgMTAuMC4wLjE=", NULL), 0);
        /* the whole value: big endian, and little endian after the byte order mark FF FE */
        assert_int_equal(matches(SEL("CommandLine|utf16be|base64: 'id'"), "CommandLine", "AGkAZA==", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|utf16be|base64: 'id'"), "CommandLine", "aQBkAA==", NULL), 0);
        assert_int_equal(matches(SEL("CommandLine|utf16|base64: 'id'"), "CommandLine", "//5pAGQA", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|utf16|base64: 'id'"), "CommandLine", "aQBkAA==", NULL), 0);
        assert_int_equal(matches(SEL("CommandLine|utf16|base64: 'id'"), "CommandLine", "/v8AaQBk", NULL), 0);
        /* from UTF-8: U+00E9 is E9 00; U+1F600 is the surrogate pair D83D DE00 */
        assert_int_equal(matches(SEL("CommandLine|wide|base64: '\xc3\xa9'"), "CommandLine", "6QA=", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|wide|base64: '\xf0\x9f\x98\x80'"), "CommandLine", "PdgA3g==", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|utf16be|base64: '\xf0\x9f\x98\x80'"), "CommandLine", "2D3eAA==", NULL), 1);
        /* windash before the encoding: every dash spelled out, then encoded */
        assert_int_equal(matches(SEL("CommandLine|windash|wide|base64: '-x'"), "CommandLine", "LQB4AA==", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|windash|wide|base64: '-x'"), "CommandLine", "LwB4AA==", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|windash|wide|base64: '-x'"), "CommandLine", "EyB4AA==", NULL), 1);
        /* the base64 text compares without case unless cased */
        assert_int_equal(matches(SEL("CommandLine|wide|base64: 'Ab'"), "CommandLine", "qqbiaa==", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|wide|base64|cased: 'Ab'"), "CommandLine", "qqbiaa==", NULL), 0);
        assert_int_equal(matches(SEL("CommandLine|wide|base64|cased: 'Ab'"), "CommandLine", "QQBiAA==", NULL), 1);
        /* keywords and neq */
        assert_int_equal(matches("    kw:\n        '|wide|base64offset':\n            - 'ping'\n    condition: kw\n",
                                 "User", "cABpAG4AZwAgADEAMAAuADAALgAwAC4AMQA=", NULL), 1);
        assert_int_equal(matches(SEL("CommandLine|utf16be|base64|neq: 'id'"), "CommandLine", "AGkAZA==", NULL), 0);
        assert_int_equal(matches(SEL("CommandLine|utf16be|base64|neq: 'id'"), "CommandLine", "x", NULL), 1);

        /* alone, the UTF-16 bytes hold NULs that UTF-8 event text never has */
        expect_rejected(SEL("Image|utf16le: x"), 7,
                        "modifier 'utf16le' needs a later 'base64' or 'base64offset': UTF-16 holds NUL bytes, "
                        "which never occur in the agent's UTF-8 event text");
        expect_rejected(SEL("Image|utf16: x"), 7, "modifier 'utf16' needs a later 'base64'");
        expect_rejected(SEL("Image|wide|contains: x"), 7, "NUL bytes");
        expect_rejected(SEL("Image|base64|wide: x"), 7, "modifier 'wide' needs a later 'base64'");
        expect_rejected(SEL("Image|cased|wide|all:\n            - a\n            - b"), 7, "needs a later");
        expect_rejected(SEL("Image|wide|windash|base64: x"), 7, "modifier 'windash' must come before 'wide'");
        expect_rejected(SEL("Image|base64|windash: x"), 7, "modifier 'windash' must come before 'base64'");
        expect_rejected(SEL("Image|base64offset|windash|contains: x"), 7,
                        "modifier 'windash' must come before 'base64offset'");
        expect_rejected(SEL("Image|wide|utf16le|base64: x"), 7, "'wide' and 'utf16le' cannot be combined");
        expect_rejected(SEL("Image|utf16|utf16be|base64: x"), 7, "cannot be combined");
        expect_rejected(SEL("Image|wide|wide|base64: x"), 7, "given twice");
        expect_rejected(SEL("Image|wide|re|base64: x"), 7, "cannot be combined");
        expect_rejected(SEL("Image|wide|cidr: x"), 7, "cannot be combined");
        expect_rejected(SEL("Image|wide|gt: 1"), 7, "cannot be combined");
        expect_rejected(SEL("Image|wide|base64: 'a*'"), 7, "cannot hold wildcards");
        expect_rejected(SEL("Image|contains|wide|base64offset: 'a'"), 7, "cannot hold wildcards");
        expect_rejected(SEL("Image|windash|wide|base64offset: '-a-b-c-d'"), 7, "more than 256 values");
}

static void test_time(void **state)
{
        const char *ts = "2026-11-30T00:31:48.123456789Z";    /* a Monday, ISO week 49 */

        assert_int_equal(matches(SEL("Timestamp|minute: 31"), "Timestamp", ts, NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|minute: 32"), "Timestamp", ts, NULL), 0);
        assert_int_equal(matches(SEL("Timestamp|hour: 0"), "Timestamp", ts, NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|hour: 00"), "Timestamp", ts, NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|hour: '0'"), "Timestamp", ts, NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|day: 30"), "Timestamp", ts, NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|week: 49"), "Timestamp", ts, NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|week: 48"), "Timestamp", ts, NULL), 0);
        assert_int_equal(matches(SEL("Timestamp|month: 11"), "Timestamp", ts, NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|year: 2026"), "Timestamp", ts, NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|year: 2027"), "Timestamp", ts, NULL), 0);
        /* ISO weeks across the turn of the year */
        assert_int_equal(matches(SEL("Timestamp|week: 53"), "Timestamp", "2027-01-01T12:00:00Z", NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|week: 53"), "Timestamp", "2027-01-03T12:00:00Z", NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|week: 1"), "Timestamp", "2027-01-04T12:00:00Z", NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|week: 1"), "Timestamp", "2024-12-30T12:00:00Z", NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|week: 53"), "Timestamp", "2021-01-03T12:00:00Z", NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|week: 52"), "Timestamp", "2000-01-01T12:00:00Z", NULL), 1);
        /* as written: no time zone conversion; a space, t and z are accepted */
        assert_int_equal(matches(SEL("Timestamp|hour: 23"), "Timestamp", "2026-11-30T23:05:00+05:30", NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|hour: 23"), "Timestamp", "2026-11-30T23:05:00-08:00", NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|hour: 23"), "Timestamp", "2026-11-30 23:05:00", NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|hour: 23"), "Timestamp", "2026-11-30t23:05:00.5z", NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|hour: 23"), "Timestamp", "2026-11-30T23:05:00", NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|day: 29"), "Timestamp", "2024-02-29T01:02:03Z", NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|minute: 0"), "Timestamp", "2016-12-31T23:59:60Z", NULL), 0);
        assert_int_equal(matches(SEL("Timestamp|minute: 59"), "Timestamp", "2016-12-31T23:59:60Z", NULL), 1);
        /* what is not such a date does not match */
        {
                static const char *const bad[] = {
                        "yesterday", "2026-11-30", "2026-11-30T23:05", "2026-02-29T23:05:00Z", "2026-11-31T23:05:00Z",
                        "2026-13-01T23:05:00Z", "2026-11-30T24:05:00Z", "2026-11-30T23:60:00Z", "2026-11-30T23:05:61Z",
                        "2026-11-30T23:05:00.Z", "2026-11-30T23:05:00+0530", "2026-11-30T23:05:00+24:00",
                        "2026-11-30T23:05:00ZZ", "2026-11-30X23:05:00Z", " 2026-11-30T23:05:00Z", "2026-11-30T23:05:00Z ",
                        "+026-11-30T23:05:00Z", "2026-1a-30T23:05:00Z", "1764462300", "",
                };

                for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                        if (matches(SEL("Timestamp|hour|gte: 0"), "Timestamp", bad[i], NULL) != 0)
                                fail_msg("'%s' read as a date", bad[i]);
        }
        assert_int_equal(matches(SEL("Timestamp|hour: 0"), NULL), 0);
        /* with lt, lte, gt, gte (in either order), neq, all */
        assert_int_equal(matches(SEL("Timestamp|hour|gte: 22"), "Timestamp", "2026-11-30T22:00:00Z", NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|hour|gte: 22"), "Timestamp", "2026-11-30T21:59:59Z", NULL), 0);
        assert_int_equal(matches(SEL("Timestamp|gt|hour: 21"), "Timestamp", "2026-11-30T22:00:00Z", NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|hour|lt: 6"), "Timestamp", "2026-11-30T05:59:59Z", NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|hour|lte: 6"), "Timestamp", "2026-11-30T07:00:00Z", NULL), 0);
        assert_int_equal(matches(SEL("Timestamp|year|gt: 99999"), "Timestamp", ts, NULL), 0);
        assert_int_equal(matches(SEL("Timestamp|month|neq: 11"), "Timestamp", ts, NULL), 0);
        assert_int_equal(matches(SEL("Timestamp|month|neq: 11"), "Timestamp", "2026-12-01T00:00:00Z", NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|month|neq: 11"), NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|hour|all:\n            - 0\n            - 00"), "Timestamp", ts, NULL), 1);
        assert_int_equal(matches(SEL("Timestamp|hour:\n            - 1\n            - 2"), "Timestamp", ts, NULL), 0);
        assert_int_equal(matches("    kw:\n        '|year': 2026\n    condition: kw\n", "User", ts, NULL), 1);

        expect_rejected(SEL("Timestamp|hour: x"), 7, "modifier 'hour' needs a whole number, not 'x'");
        expect_rejected(SEL("Timestamp|minute: 1.5"), 7, "modifier 'minute' needs a whole number");
        expect_rejected(SEL("Timestamp|day: -1"), 7, "modifier 'day' needs a whole number");
        expect_rejected(SEL("Timestamp|year|gt: 1e3"), 7, "modifier 'year' needs a whole number");
        expect_rejected(SEL("Timestamp|minute: 60"), 7, "modifier 'minute' needs a number from 0 to 59, not '60'");
        expect_rejected(SEL("Timestamp|day: 0"), 7, "from 1 to 31");
        expect_rejected(SEL("Timestamp|week: 54"), 7, "modifier 'week' needs a number from 1 to 53");
        expect_rejected(SEL("Timestamp|month: 13"), 7, "from 1 to 12");
        expect_rejected(SEL("Timestamp|year: 10000"), 7, "from 0 to 9999");
        expect_rejected(SEL("Timestamp|hour|minute: 3"), 7, "'hour' and 'minute' cannot be combined");
        expect_rejected(SEL("Timestamp|hour|contains: 3"), 7, "cannot be combined");
        expect_rejected(SEL("Timestamp|hour|cased: 3"), 7, "cannot be combined");
        expect_rejected(SEL("Timestamp|hour|re: 3"), 7, "cannot be combined");
        expect_rejected(SEL("Timestamp|hour|base64: 3"), 7, "cannot be combined");
        expect_rejected(SEL("Timestamp|hour|gt|lt: 3"), 7, "cannot be combined");
        expect_rejected(SEL("Timestamp|hour|exists: true"), 7, "cannot be combined");
        expect_rejected(SEL("Timestamp|hour: null"), 7, "null cannot take modifiers");
}

static void test_numeric_exact(void **state)
{
        /* 2^53 + 1 is no double */
        assert_int_equal(matches(SEL("CgroupId|gt: 9007199254740992"), "CgroupId", "9007199254740993", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|gt: 9007199254740992"), "CgroupId", "9007199254740992", NULL), 0);
        assert_int_equal(matches(SEL("CgroupId|lte: 9007199254740992"), "CgroupId", "9007199254740993", NULL), 0);
        assert_int_equal(matches(SEL("CgroupId|gte: 9007199254740993"), "CgroupId", "9007199254740992", NULL), 0);
        assert_int_equal(matches(SEL("CgroupId|lt: 9007199254740993"), "CgroupId", "9007199254740992", NULL), 1);
        /* the whole of uint64 and int64 */
        assert_int_equal(matches(SEL("CgroupId|gte: 18446744073709551615"), "CgroupId", "18446744073709551615", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|gte: 18446744073709551615"), "CgroupId", "18446744073709551614", NULL), 0);
        assert_int_equal(matches(SEL("CgroupId|lt: 18446744073709551615"), "CgroupId", "18446744073709551614", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|gt: 18446744073709551615"), "CgroupId", "18446744073709551616", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|lt: 18446744073709551616"), "CgroupId", "18446744073709551615", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|gt: 9223372036854775807"), "CgroupId", "9223372036854775808", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|gt: -9223372036854775808"), "CgroupId", "-9223372036854775807", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|lt: -9223372036854775807"), "CgroupId", "-9223372036854775808", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|lt: -9223372036854775808"), "CgroupId", "-9223372036854775808", NULL), 0);
        assert_int_equal(matches(SEL("CgroupId|lt: -18446744073709551615"), "CgroupId", "-18446744073709551616", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|gt: -1"), "CgroupId", "18446744073709551615", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|lt: 1"), "CgroupId", "-18446744073709551615", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|lt: 0"), "CgroupId", "-0", NULL), 0);
        assert_int_equal(matches(SEL("CgroupId|gte: 0"), "CgroupId", "-0", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|lte: -0"), "CgroupId", "0", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|gte: 7"), "CgroupId", "007", NULL), 1);
        /* a fraction or an exponent on either side: exact decimal comparison */
        assert_int_equal(matches(SEL("CgroupId|lte: 9007199254740992.9"), "CgroupId", "9007199254740993", NULL), 0);
        assert_int_equal(matches(SEL("CgroupId|gt: 9007199254740992.5"), "CgroupId", "9007199254740992.7", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|gt: 18446744073709551615"), "CgroupId", "18446744073709551615.01", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|gt: 18446744073709551615.5"), "CgroupId", "18446744073709551616", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|gt: 1e3"), "CgroupId", "1001", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|gt: 1e3"), "CgroupId", "1000", NULL), 0);
        assert_int_equal(matches(SEL("CgroupId|gte: 1000"), "CgroupId", "1e3", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|lte: 1000"), "CgroupId", "0.001e6", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|gte: 1000"), "CgroupId", "0.001E+6", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|lt: 101"), "CgroupId", "1E+2", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|gt: 0.0001"), "CgroupId", "1e-3", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|lt: 0.0001"), "CgroupId", "1e-5", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|lt: -0.5"), "CgroupId", "-0.50001", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|gt: -0.5"), "CgroupId", "-0.50001", NULL), 0);
        assert_int_equal(matches(SEL("CgroupId|gte: 1.5"), "CgroupId", "1.50", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|gt: 0"), "CgroupId", ".5", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|gt: 4.9"), "CgroupId", "5.", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|lt: 1e400"), "CgroupId", "18446744073709551616", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|gt: 0"), "CgroupId", "0.000", NULL), 0);
        assert_int_equal(matches(SEL("CgroupId|gte: 0"), "CgroupId", "0e5", NULL), 1);
        /* text that is no number */
        {
                static const char *const bad[] = {
                        "1e", "1e+", "1.2.3", "--1", "+-1", " 1", "1 ", "+", ".", "e5", "0x10", "inf", "nan", "1,5", "",
                        "1000000000000000000000000000000000000000000000000000000000000000",
                };

                for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                        if (matches(SEL("CgroupId|gt: -1e9"), "CgroupId", bad[i], NULL) != 0)
                                fail_msg("'%s' read as a number", bad[i]);
        }
        /* equality and neq compare text, exactly */
        assert_int_equal(matches(SEL("CgroupId: 9007199254740993"), "CgroupId", "9007199254740993", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId: 9007199254740993"), "CgroupId", "9007199254740992", NULL), 0);
        assert_int_equal(matches(SEL("CgroupId|neq: 9007199254740993"), "CgroupId", "9007199254740992", NULL), 1);
        assert_int_equal(matches(SEL("CgroupId|neq: 9007199254740993"), "CgroupId", "9007199254740993", NULL), 0);
        assert_int_equal(matches(SEL("CgroupId|neq|gt: 9007199254740992"), "CgroupId", "9007199254740993", NULL), 0);
        assert_int_equal(matches(SEL("CgroupId|neq|gt: 9007199254740992"), "CgroupId", "9007199254740992", NULL), 1);
        expect_rejected(SEL("CgroupId|gt: 0x10"), 7, "modifier 'gt' needs a number, not '0x10'");
        expect_rejected(SEL("CgroupId|gt: 1e999999999"), 7, "needs a number");
        expect_rejected(SEL("CgroupId|gt: '1000000000000000000000000000000000000000000000000000000000000000'"), 7,
                        "needs a number");
}

/* Fills n bytes of a new string with c, with `mark` at offset at. */
static char *filled(size_t n, char c, const char *mark, size_t at)
{
        char *s = malloc(n + 1);

        assert_non_null(s);
        memset(s, c, n);
        s[n] = '\0';
        if (mark)
                memcpy(s + at, mark, strlen(mark));
        return s;
}

/* A rule whose selection `sel` is x, that also reads every field (a keyword
 * no event has), so that every field takes its part of the text budget. */
static const char *all_fields(const char *x)
{
        static char buf[512];

        snprintf(buf, sizeof(buf), "    sel:\n        %s\n    kw:\n        - 'qqqq'\n    condition: sel or kw\n", x);
        return buf;
}

static void test_budget_share(void **state)
{
        /* a field past the 64 KiB budget crowds out no other field: a later
         * field is still present with its text, so null does not match it */
        char *big = filled(70000, 'y', "abc", 0);
        char *f[5];

#define TWO "CommandLine", big, "CurrentDirectory", "/tmp"
        assert_int_equal(matches(all_fields("CurrentDirectory: null"), TWO, NULL), 0);
        assert_int_equal(matches(all_fields("CurrentDirectory: ''"), TWO, NULL), 0);
        assert_int_equal(matches(all_fields("CurrentDirectory: /tmp"), TWO, NULL), 1);
        assert_int_equal(matches(all_fields("CurrentDirectory|endswith: /tmp"), TWO, NULL), 1);
        assert_int_equal(matches(all_fields("CurrentDirectory|exists: true"), TWO, NULL), 1);
        assert_int_equal(matches(all_fields("CommandLine|startswith: abc"), TWO, NULL), 1);
        assert_int_equal(matches(all_fields("CommandLine: null"), TWO, NULL), 0);
        assert_int_equal(matches("    kw:\n        - '/tmp'\n    condition: kw\n", TWO, NULL), 1);
        assert_int_equal(matches(all_fields("CurrentDirectory: null"), "CommandLine", big, "CurrentDirectory", "",
                                 NULL), 1);
#undef TWO
        /* five long fields share the budget: each is matched on its first
         * bytes (13107 each here), the last as much as the first */
        for (int i = 0; i < 5; i++)
                f[i] = filled(30000, (char)('a' + i), "mark", i == 4 ? 20000 : 100);
        {
                const char *names[5] = { "Image", "CommandLine", "CurrentDirectory", "ParentImage", "ParentCommandLine" };
#define FIVE names[0], f[0], names[1], f[1], names[2], f[2], names[3], f[3], names[4], f[4]
                assert_int_equal(matches(all_fields("ParentImage|contains: mark"), FIVE, NULL), 1);
                assert_int_equal(matches(all_fields("ParentImage: null"), FIVE, NULL), 0);
                assert_int_equal(matches(all_fields("ParentCommandLine|startswith: eee"), FIVE, NULL), 1);
                assert_int_equal(matches(all_fields("ParentCommandLine: null"), FIVE, NULL), 0);
                assert_int_equal(matches(all_fields("ParentCommandLine|contains: mark"), FIVE, NULL), 0);
                assert_int_equal(matches(all_fields("Image|contains: mark"), FIVE, NULL), 1);
                assert_int_equal(matches("    kw:\n        - 'dddmark'\n    condition: kw\n", FIVE, NULL), 1);
                assert_int_equal(matches("    kw:\n        - 'eeemark'\n    condition: kw\n", FIVE, NULL), 0);
                /* the share is the budget over the fields: 13107 bytes seen, 13108 not */
                f[4][13106] = 'Z';
                assert_int_equal(matches(all_fields("ParentCommandLine|contains: Z"), FIVE, NULL), 1);
                f[4][13106] = 'e';
                f[4][13107] = 'Z';
                assert_int_equal(matches(all_fields("ParentCommandLine|contains: Z"), FIVE, NULL), 0);
                /* a field the rules do not read takes no part of the budget */
                assert_int_equal(matches(SEL("ParentCommandLine|contains: mark"), FIVE, NULL), 1);
#undef FIVE
        }
        for (int i = 0; i < 5; i++)
                free(f[i]);
        free(big);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plain_and_case),
                cmocka_unit_test(test_wildcards),
                cmocka_unit_test(test_escapes),
                cmocka_unit_test(test_contains_starts_ends_all),
                cmocka_unit_test(test_lists_and_maps),
                cmocka_unit_test(test_keywords),
                cmocka_unit_test(test_null_empty_exists),
                cmocka_unit_test(test_unknown_fields),
                cmocka_unit_test(test_re),
                cmocka_unit_test(test_cidr),
                cmocka_unit_test(test_windash),
                cmocka_unit_test(test_base64),
                cmocka_unit_test(test_numeric),
                cmocka_unit_test(test_neq),
                cmocka_unit_test(test_fieldref),
                cmocka_unit_test(test_conditions),
                cmocka_unit_test(test_reject_modifiers),
                cmocka_unit_test(test_reject_structure),
                cmocka_unit_test(test_reject_conditions),
                cmocka_unit_test(test_caps),
                cmocka_unit_test(test_logsource),
                cmocka_unit_test(test_documents_and_ids),
                cmocka_unit_test(test_schema),
                cmocka_unit_test(test_files_and_dirs),
                cmocka_unit_test(test_match_order_and_stop),
                cmocka_unit_test(test_budget),
                cmocka_unit_test(test_corpus_load),
                cmocka_unit_test(test_naive_vs_indexed),
                cmocka_unit_test(test_generated_differential),
                cmocka_unit_test(test_utf16),
                cmocka_unit_test(test_time),
                cmocka_unit_test(test_numeric_exact),
                cmocka_unit_test(test_budget_share),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
