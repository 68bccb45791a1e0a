/* alert: alerts, their ATT&CK tags and the table that folds repeats (see
 * alert.h and docs/DETECTION.md).
 *
 * The table is an array of at most cap open alerts searched linearly: it is
 * consulted only when a rule matched, which is rare next to the events, and
 * a scan of a thousand entries costs about a microsecond. */
#include "agent/src/alert.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "agent/src/event_fields.h"
#include "util/strutil.h"

struct alert_table {
        struct alert **a;
        size_t count, cap;
        uint64_t window_ns;
        uint64_t evicted;
};

const char *alert_severity_name(enum alert_severity s)
{
        switch (s) {
        case ALERT_SEVERITY_INFORMATIONAL: return "informational";
        case ALERT_SEVERITY_LOW: return "low";
        case ALERT_SEVERITY_MEDIUM: return "medium";
        case ALERT_SEVERITY_HIGH: return "high";
        }
        return "medium";
}

enum alert_severity alert_severity_from_level(enum sigma_level level)
{
        switch (level) {
        case SIGMA_LEVEL_INFORMATIONAL: return ALERT_SEVERITY_INFORMATIONAL;
        case SIGMA_LEVEL_LOW: return ALERT_SEVERITY_LOW;
        case SIGMA_LEVEL_MEDIUM: return ALERT_SEVERITY_MEDIUM;
        case SIGMA_LEVEL_HIGH:
        case SIGMA_LEVEL_CRITICAL: return ALERT_SEVERITY_HIGH;
        }
        return ALERT_SEVERITY_MEDIUM;
}

/* True if s starts with "attack." in any case; *ret_rest is what follows. */
static bool attack_prefix(const char *tag, const char **ret_rest)
{
        if (strncasecmp(tag, "attack.", 7) != 0)
                return false;
        *ret_rest = tag + 7;
        return true;
}

static bool digits(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!isdigit((unsigned char)s[i]))
                        return false;
        return true;
}

int alert_tag_technique(const char *tag, char out[static ALERT_TECHNIQUE_LEN])
{
        const char *t;
        size_t n;

        if (!attack_prefix(tag, &t) || (t[0] != 't' && t[0] != 'T'))
                return -EINVAL;
        t++;
        n = strlen(t);
        /* T + 4 digits, optionally "." + 3 digits for a sub-technique */
        if (!((n == 4 && digits(t, 4)) || (n == 8 && digits(t, 4) && t[4] == '.' && digits(t + 5, 3))))
                return -EINVAL;
        snprintf(out, ALERT_TECHNIQUE_LEN, "T%s", t);
        return 0;
}

const char *alert_tag_tactic(const char *tag)
{
        static const char *const tactics[] = {
                "reconnaissance", "resource-development", "initial-access", "execution",
                "persistence", "privilege-escalation", "defense-evasion", "credential-access",
                "discovery", "lateral-movement", "collection", "command-and-control",
                "exfiltration", "impact",
        };
        const char *t;

        if (!attack_prefix(tag, &t))
                return NULL;
        for (size_t i = 0; i < sizeof(tactics) / sizeof(tactics[0]); i++) {
                const char *name = tactics[i];
                size_t k = 0;

                /* Sigma wrote "privilege_escalation" before it wrote "privilege-escalation" */
                while (name[k] && t[k] && (tolower((unsigned char)t[k]) == name[k] ||
                                           (t[k] == '_' && name[k] == '-')))
                        k++;
                if (name[k] == '\0' && t[k] == '\0')
                        return name;
        }
        return NULL;
}

int alert_uuid_make(char out[static ALERT_ID_LEN + 1])
{
        uint8_t b[16];
        size_t got = 0;

        while (got < sizeof(b)) {
                ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                got += (size_t)n;
        }
        b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);         /* version 4 */
        b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);         /* RFC 4122 variant */
        snprintf(out, ALERT_ID_LEN + 1,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                 b[12], b[13], b[14], b[15]);
        return 0;
}

/* ---- the table ---- */

void alert_payload_release(struct alert_payload *p)
{
        json_decref(p->event);
        json_decref(p->process);
        json_decref(p->ancestors);
        json_decref(p->network);
        json_decref(p->evidence);
        memset(p, 0, sizeof(*p));
}

static void alert_free(struct alert *a)
{
        if (!a)
                return;
        free(a->rule_id);
        free(a->title);
        free(a->rule_source);
        alert_payload_release(&a->payload);
        free(a);
}

struct alert_table *alert_table_new(size_t cap, uint64_t window_ns)
{
        struct alert_table *t = calloc(1, sizeof(*t));

        if (!t)
                return NULL;
        t->cap = cap ? cap : ALERT_TABLE_MAX_DEFAULT;
        t->window_ns = window_ns ? window_ns : ALERT_WINDOW_NS_DEFAULT;
        t->a = calloc(t->cap, sizeof(*t->a));
        if (!t->a) {
                free(t);
                return NULL;
        }
        return t;
}

void alert_table_free(struct alert_table *t)
{
        if (!t)
                return;
        for (size_t i = 0; i < t->count; i++)
                alert_free(t->a[i]);
        free(t->a);
        free(t);
}

static void table_remove(struct alert_table *t, size_t i)
{
        alert_free(t->a[i]);
        t->a[i] = t->a[--t->count];
}

static bool window_open(const struct alert_table *t, const struct alert *a, uint64_t now_ns)
{
        return now_ns >= a->first.mono_ns ? now_ns - a->first.mono_ns <= t->window_ns : true;
}

struct alert *alert_table_fold(struct alert_table *t, const char *rule_id,
                               const struct alert_tree *tree, const struct alert_time *at)
{
        for (size_t i = 0; i < t->count; i++) {
                struct alert *a = t->a[i];

                if (a->tree.pid != tree->pid || a->tree.start_ticks != tree->start_ticks ||
                    strcmp(a->rule_id, rule_id) != 0)
                        continue;
                if (!window_open(t, a, at->mono_ns))
                        continue;
                a->count++;
                if (at->mono_ns >= a->last.mono_ns)
                        a->last = *at;
                return a;
        }
        return NULL;
}

size_t alert_table_expire(struct alert_table *t, uint64_t now_mono_ns)
{
        size_t n = 0;

        for (size_t i = 0; i < t->count;) {
                if (!window_open(t, t->a[i], now_mono_ns)) {
                        table_remove(t, i);
                        n++;
                } else {
                        i++;
                }
        }
        return n;
}

/* Makes room for one alert: closes the one seen least recently. */
static void table_evict(struct alert_table *t)
{
        size_t oldest = 0;

        for (size_t i = 1; i < t->count; i++)
                if (t->a[i]->last.mono_ns < t->a[oldest]->last.mono_ns)
                        oldest = i;
        table_remove(t, oldest);
        t->evicted++;
}

/* Techniques and tactics of the rule's tags, each once. */
static void alert_tags_set(struct alert *a, const struct alert_rule *rule)
{
        char tech[ALERT_TECHNIQUE_LEN];
        const char *tactic;

        for (size_t i = 0; i < rule->n_tags; i++) {
                bool dup = false;

                if (alert_tag_technique(rule->tags[i], tech) == 0) {
                        for (unsigned k = 0; k < a->n_techniques; k++)
                                dup = dup || strcmp(a->techniques[k], tech) == 0;
                        if (!dup && a->n_techniques < ALERT_TECHNIQUES_MAX)
                                memcpy(a->techniques[a->n_techniques++], tech, sizeof(tech));
                } else if ((tactic = alert_tag_tactic(rule->tags[i]))) {
                        for (unsigned k = 0; k < a->n_tactics; k++)
                                dup = dup || a->tactics[k] == tactic;
                        if (!dup && a->n_tactics < ALERT_TACTICS_MAX)
                                a->tactics[a->n_tactics++] = tactic;
                }
        }
}

/* A copy of at most ALERT_TEXT_MAX bytes of s. */
static char *text_dup(const char *s)
{
        return util_strndup(s, strnlen(s, ALERT_TEXT_MAX));
}

int alert_table_open(struct alert_table *t, const struct alert_rule *rule,
                     const struct alert_tree *tree, const struct alert_time *at,
                     struct alert_payload *payload, struct alert **ret)
{
        struct alert *a = calloc(1, sizeof(*a));

        if (!a)
                goto fail_payload;
        a->rule_id = text_dup(rule->id ? rule->id : "");
        a->title = text_dup(rule->title ? rule->title : "");
        a->rule_source = text_dup(rule->source ? rule->source : "sigma");
        if (!a->rule_id || !a->title || !a->rule_source || alert_uuid_make(a->id) < 0)
                goto fail_alert;
        a->level = rule->level;
        a->severity = alert_severity_from_level(rule->level);
        alert_tags_set(a, rule);
        a->tree = *tree;
        a->first = a->last = *at;
        a->count = 1;
        a->payload = *payload;
        memset(payload, 0, sizeof(*payload));
        if (t->count == t->cap)
                table_evict(t);
        t->a[t->count++] = a;
        *ret = a;
        return 0;
fail_alert:
        alert_free(a);
fail_payload:
        alert_payload_release(payload);
        return -ENOMEM;
}

size_t alert_table_count(const struct alert_table *t)
{
        return t->count;
}

uint64_t alert_table_evicted(const struct alert_table *t)
{
        return t->evicted;
}

/* ---- JSON ---- */

static json_t *strings_json(const char *const *s, size_t n)
{
        json_t *arr = json_array();

        for (size_t i = 0; arr && i < n; i++)
                if (json_array_append_new(arr, json_string(s[i])) < 0) {
                        json_decref(arr);
                        return NULL;
                }
        return arr;
}

static json_t *techniques_json(const struct alert *a)
{
        json_t *arr = json_array();

        for (unsigned i = 0; arr && i < a->n_techniques; i++)
                if (json_array_append_new(arr, json_string(a->techniques[i])) < 0) {
                        json_decref(arr);
                        return NULL;
                }
        return arr;
}

/* Sets key to v (taking it) unless v is NULL; ok turns false on failure. */
static void put(json_t *o, const char *key, json_t *v, bool *ok)
{
        if (!v || json_object_set_new(o, key, v) < 0)
                *ok = false;
}

static void put_ref(json_t *o, const char *key, json_t *v, bool *ok)
{
        if (v)
                put(o, key, json_incref(v), ok);
}

json_t *alert_to_json(const struct alert *a, enum alert_change change)
{
        char first[EVENT_TIMESTAMP_MAX], last[EVENT_TIMESTAMP_MAX];
        json_t *o = json_object();
        bool ok = o != NULL;

        if (!o)
                return NULL;
        event_timestamp_format(a->first.wall_ns, first);
        event_timestamp_format(a->last.wall_ns, last);
        put(o, "change", json_string(change == ALERT_CHANGE_NEW ? "new" : "update"), &ok);
        put(o, "id", json_string(a->id), &ok);
        put(o, "rule_id", json_string(a->rule_id), &ok);
        put(o, "title", json_string(a->title), &ok);
        put(o, "source", json_string(a->rule_source), &ok);
        put(o, "severity", json_string(alert_severity_name(a->severity)), &ok);
        put(o, "rule_level", json_string(sigma_level_name(a->level)), &ok);
        put(o, "techniques", techniques_json(a), &ok);
        put(o, "tactics", strings_json(a->tactics, a->n_tactics), &ok);
        if (a->payload.category)
                put(o, "category", json_string(a->payload.category), &ok);
        put(o, "first_seen", json_string(first), &ok);
        put(o, "last_seen", json_string(last), &ok);
        put(o, "count", json_integer((json_int_t)a->count), &ok);
        put(o, "tree", json_pack("{s:I,s:I}", "pid", (json_int_t)a->tree.pid,
                                 "start_ticks", (json_int_t)a->tree.start_ticks), &ok);
        put_ref(o, "process", a->payload.process, &ok);
        put_ref(o, "ancestors", a->payload.ancestors, &ok);
        put_ref(o, "network", a->payload.network, &ok);
        put_ref(o, "evidence", a->payload.evidence, &ok);
        put_ref(o, "event", a->payload.event, &ok);
        if (!ok) {
                json_decref(o);
                return NULL;
        }
        return o;
}

int alert_to_line(const struct alert *a, enum alert_change change, char *buf, size_t size,
                  size_t *ret_len)
{
        json_t *o = alert_to_json(a, change);
        size_t n;

        if (!o)
                return -ENOMEM;
        n = json_dumpb(o, buf, size, JSON_COMPACT);
        json_decref(o);
        if (n == 0 || n >= size)
                return n == 0 ? -ENOMEM : -E2BIG;
        buf[n++] = '\n';
        *ret_len = n;
        return 0;
}

void alert_summary(const struct alert *a, enum alert_change change, char *buf, size_t size)
{
        const json_t *pid = json_object_get(a->payload.process, "pid");
        const json_t *image = json_object_get(a->payload.process, "image");

        snprintf(buf, size, "%s %s \"%s\" rule=%s id=%s count=%" PRIu64 " pid=%" JSON_INTEGER_FORMAT " image=%s",
                 change == ALERT_CHANGE_NEW ? "new" : "update", alert_severity_name(a->severity),
                 a->title, a->rule_id, a->id, a->count, json_is_integer(pid) ? json_integer_value(pid) : 0,
                 json_is_string(image) ? json_string_value(image) : "?");
}
