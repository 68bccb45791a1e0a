/* Fuzzes the reading of recorded events (`vigil-agent test-rules`, the
 * benchmark's replay): any bytes, parsed as JSON, must give an event whose
 * fields stay inside the input and the buffer, or a clean error; and an
 * event that parses must get the same matches from the indexed and the
 * naive matcher over a small set of rules that exercise each kind of
 * index anchor. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/src/detect.h"
#include "sigma/sigma.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char rules[] =
        "title: exact and suffix\nid: 0b6c1f2e-0000-4000-8000-000000000001\n"
        "logsource: {product: linux, category: process_creation}\n"
        "detection:\n  sel:\n    Image|endswith: [/bash, /sh]\n    User: root\n"
        "  filter:\n    CommandLine|contains: apt\n  condition: sel and not filter\n"
        "---\n"
        "title: keyword and regex\nid: 0b6c1f2e-0000-4000-8000-000000000002\n"
        "logsource: {product: linux, category: process_creation}\n"
        "detection:\n  kw: ['/dev/tcp/', 'nc -e']\n  re:\n    CommandLine|re: 'python[0-9.]* -c'\n"
        "  condition: kw or re\n"
        "---\n"
        "title: network\nid: 0b6c1f2e-0000-4000-8000-000000000003\n"
        "logsource: {product: linux, category: network_connection}\n"
        "detection:\n  sel:\n    DestinationIp|cidr: [10.0.0.0/8, 'fd00::/8']\n"
        "    DestinationPort|gte: 1024\n  condition: sel\n"
        "---\n"
        "title: files\nid: 0b6c1f2e-0000-4000-8000-000000000004\n"
        "logsource: {product: linux, category: file_event}\n"
        "detection:\n  sel:\n    TargetFilename|startswith: /etc/cron\n"
        "  other:\n    TargetFilename: '*/.ssh/authorized_key?'\n  condition: 1 of them\n";

struct setup {
        struct sigma_ruleset *rs;
        struct sigma_matcher *indexed, *naive;
        struct sigma_scratch *si, *sn;
};

static struct setup *setup_once(void)
{
        static struct setup s;

        if (s.rs)
                return &s;
        if (sigma_ruleset_new(&detect_schema, &s.rs) < 0 ||
            sigma_ruleset_add_buffer(s.rs, "fuzz-rules", rules, sizeof(rules) - 1, NULL, NULL) != 4 ||
            sigma_matcher_new(s.rs, 0, &s.indexed) < 0 || sigma_matcher_new(s.rs, SIGMA_MATCHER_NAIVE, &s.naive) < 0 ||
            sigma_scratch_new(s.indexed, &s.si) < 0 || sigma_scratch_new(s.naive, &s.sn) < 0)
                abort();
        return &s;
}

static int count_match(const struct sigma_rule *rule, void *userdata)
{
        (void)rule;
        (*(unsigned *)userdata)++;
        return 0;
}

/* Reads every byte a field claims, so that ASan catches a pointer or a
 * length that leaves the buffer or the JSON string it points into. */
static void check_readable(const struct sigma_str *f)
{
        volatile char sink = 0;

        for (uint32_t i = 0; f->ptr && i < f->len; i++)
                sink ^= f->ptr[i];
        (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct setup *s = setup_once();
        struct sigma_str fields[EVENT_FIELD_COUNT];
        char buf[DETECT_JSON_BUF_MIN];
        unsigned n_indexed = 0, n_naive = 0;
        uint32_t cat;
        json_t *ev;
        int r;

        ev = json_loadb((const char *)data, size, 0, NULL);
        if (!ev)
                return 0;
        r = detect_event_from_json(ev, fields, &cat, buf, sizeof(buf));
        if (r == 0) {
                struct sigma_event sev = { .category = cat, .fields = fields };

                if (cat >= detect_schema.n_categories)
                        abort();
                for (size_t i = 0; i < EVENT_FIELD_COUNT; i++)
                        check_readable(&fields[i]);
                if (sigma_matcher_match(s->indexed, s->si, &sev, count_match, &n_indexed) < 0 ||
                    sigma_matcher_match(s->naive, s->sn, &sev, count_match, &n_naive) < 0 ||
                    n_indexed != n_naive)
                        abort();
        } else if (r != -ENOENT && r != -EINVAL && r != -ENOBUFS) {
                abort();
        }
        json_decref(ev);
        return 0;
}
