/* profiles-doc: the check of a profile document as an admin sends it, its
 * canonical settings, and the merge of the profiles assigned to one device.
 * Pure functions of their input (fuzzed). Every refusal names the field by
 * its path ("settings.extra_rules[2]") and says what it must be. Extra Sigma
 * rules are loaded with lib/sigma against the agent's event schema, so a rule
 * the agent would refuse is refused here first. */
#include "server/manage/profiles.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/src/event_fields.h"
#include "sigma/sigma.h"
#include "util/strutil.h"

#define NETPROTECT_ENTRIES_MAX 10000    /* as the agent's netprotect */
#define NETPROTECT_ENTRY_MAX 256

static const char *const type_names[] = { [PROFILE_THREAT_DEFENSE] = "threat_defense",
                                          [PROFILE_SENSOR_SETTINGS] = "sensor_settings",
                                          [PROFILE_NETWORK_PROTECTION] = "network_protection" };
static const char *const status_names[] = { [PROFILE_PENDING] = "pending", [PROFILE_SUCCEEDED] = "succeeded",
                                            [PROFILE_FAILED] = "failed", [PROFILE_CONFLICT] = "conflict" };

/* The agent's event schema (agent/src/event_fields.h), for checking rules. */
#define FIELD_NAME_(id, name, type) name,
static const char *const schema_fields[] = { EVENT_FIELDS(FIELD_NAME_) };
#undef FIELD_NAME_
static const char *const schema_categories[] = { "process_creation", "network_connection", "file_event",
                                                 "process_access", "credential_change", "file_delete" };
static const struct sigma_schema agent_schema = {
        .product = "linux",
        .fields = schema_fields,
        .n_fields = sizeof(schema_fields) / sizeof(schema_fields[0]),
        .categories = schema_categories,
        .n_categories = sizeof(schema_categories) / sizeof(schema_categories[0]),
};

const char *profile_type_name(enum profile_type t)
{
        return t >= PROFILE_THREAT_DEFENSE && t <= PROFILE_NETWORK_PROTECTION ? type_names[t] : "";
}

int profile_type_parse(const char *s, enum profile_type *ret)
{
        for (int t = PROFILE_THREAT_DEFENSE; s && t <= PROFILE_NETWORK_PROTECTION; t++)
                if (strcmp(s, type_names[t]) == 0) {
                        *ret = (enum profile_type)t;
                        return 0;
                }
        return -EINVAL;
}

const char *profile_status_name(enum profile_status s)
{
        return s >= PROFILE_PENDING && s <= PROFILE_CONFLICT ? status_names[s] : "";
}

bool profile_type_needs_security_admin(enum profile_type t)
{
        return t == PROFILE_THREAT_DEFENSE || t == PROFILE_NETWORK_PROTECTION;
}

/* A JSON string without NUL bytes, or NULL. */
static const char *string_of(const json_t *v)
{
        const char *s = json_string_value(v);

        return s && strlen(s) == json_string_length(v) ? s : NULL;
}

/* Refuses members of obj not in keys (NULL-terminated); prefix is "" or "settings.". */
static int keys_check(const json_t *obj, const char *prefix, const char *const *keys, const char *list,
                      char *err, size_t err_size)
{
        char path[128];
        const char *key;
        json_t *v;

        json_object_foreach((json_t *)obj, key, v) {
                size_t i = 0;

                while (keys[i] && strcmp(keys[i], key) != 0)
                        i++;
                if (keys[i])
                        continue;
                snprintf(path, sizeof(path), "%s%.64s", prefix, util_str_printable(key, 64) ? key : "?");
                return util_path_fail(err, err_size, path, "unknown field; the fields are %s", list);
        }
        return 0;
}

static int threat_defense_check(const json_t *s, json_t *out, char *err, size_t err_size)
{
        static const char *const keys[] = { "enabled", NULL };
        const json_t *v = json_object_get(s, "enabled");
        int r = keys_check(s, "settings.", keys, "enabled", err, err_size);

        if (r < 0)
                return r;
        if (!json_is_boolean(v))
                return util_path_fail(err, err_size, "settings.enabled", "is required: true (onboard the device to "
                            "threat defense) or false (offboard it)");
        return json_object_set_new(out, "enabled", json_boolean(json_is_true(v))) < 0 ? -ENOMEM : 0;
}

/* An integer member in [min, max], copied to out when present. */
static int int_member(const json_t *s, const char *key, json_int_t min, json_int_t max, json_t *out, char *err,
                      size_t err_size)
{
        const json_t *v = json_object_get(s, key);
        char path[80];

        if (!v)
                return 0;
        snprintf(path, sizeof(path), "settings.%s", key);
        if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
                return util_path_fail(err, err_size, path, "must be a whole number from %lld to %lld", (long long)min,
                            (long long)max);
        return json_object_set_new(out, key, json_integer(json_integer_value(v))) < 0 ? -ENOMEM : 0;
}

/* A rule pack: "linux/process_creation", folders of the agent's rules
 * directory: two or three parts of [a-z0-9_-]. */
static bool pack_valid(const char *s)
{
        size_t n = strlen(s), parts = 1;

        if (n == 0 || n > PROFILES_PACK_MAX || s[0] == '/' || s[n - 1] == '/')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (c == '/') {
                        if (s[i + 1] == '/')
                                return false;
                        parts++;
                } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
                        return false;
                }
        }
        return parts >= 2 && parts <= 3;
}

static int packs_check(const json_t *v, json_t *out, char *err, size_t err_size)
{
        json_t *arr;
        const json_t *e;
        char path[64];
        size_t i;

        if (!v)
                return 0;
        if (!json_is_array(v) || json_array_size(v) > PROFILES_PACKS_MAX)
                return util_path_fail(err, err_size, "settings.rule_packs", "must be a list of at most %d pack names",
                            PROFILES_PACKS_MAX);
        arr = json_array();
        if (!arr || json_object_set_new(out, "rule_packs", arr) < 0)
                return -ENOMEM;
        json_array_foreach(v, i, e) {
                const char *s = string_of(e);

                snprintf(path, sizeof(path), "settings.rule_packs[%zu]", i);
                if (!s || !pack_valid(s))
                        return util_path_fail(err, err_size, path, "must name a folder of the agent's rules, such as "
                                    "\"linux/process_creation\" (lower-case letters, digits, _ and -)");
                for (size_t j = 0; j < json_array_size(arr); j++)
                        if (strcmp(json_string_value(json_array_get(arr, j)), s) == 0)
                                return util_path_fail(err, err_size, path, "repeats \"%s\"", s);
                if (json_array_append_new(arr, json_string(s)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

struct rule_check {
        char reason[SIGMA_REASON_MAX + 32];
        unsigned rejected, unsupported;
};

static void on_diag(const struct sigma_diag *diag, void *userdata)
{
        struct rule_check *c = userdata;

        if (diag->status == SIGMA_LOADED || c->rejected + c->unsupported > 0)
                return;
        if (diag->status == SIGMA_REJECTED)
                c->rejected++;
        else
                c->unsupported++;
        if (diag->line)
                snprintf(c->reason, sizeof(c->reason), "line %u: %s", diag->line, diag->reason);
        else
                snprintf(c->reason, sizeof(c->reason), "%s", diag->reason);
}

/* Exactly one rule that the agent's detection would load. */
static int rule_check(const char *text, size_t len, const char *path, char *err, size_t err_size)
{
        struct sigma_ruleset *rs;
        struct rule_check c = { .reason = "" };
        int r;

        r = sigma_ruleset_new(&agent_schema, &rs);
        if (r < 0)
                return r;
        r = sigma_ruleset_add_buffer(rs, path, text, len, on_diag, &c);
        sigma_ruleset_free(rs);
        if (r == -ENOMEM)
                return r;
        if (c.rejected || c.unsupported)
                return util_path_fail(err, err_size, path, "%s%s", c.unsupported ? "not a rule for this agent's events: " : "",
                            c.reason);
        if (r != 1)
                return util_path_fail(err, err_size, path, "must hold exactly one Sigma rule (it holds %d)", r < 0 ? 0 : r);
        return 0;
}

static int rules_check(const json_t *v, json_t *out, char *err, size_t err_size)
{
        json_t *arr;
        const json_t *e;
        char path[64];
        size_t i;
        int r;

        if (!v)
                return 0;
        if (!json_is_array(v) || json_array_size(v) > PROFILES_RULES_MAX)
                return util_path_fail(err, err_size, "settings.extra_rules", "must be a list of at most %d Sigma rules "
                            "(YAML text)", PROFILES_RULES_MAX);
        arr = json_array();
        if (!arr || json_object_set_new(out, "extra_rules", arr) < 0)
                return -ENOMEM;
        json_array_foreach(v, i, e) {
                const char *s = string_of(e);

                snprintf(path, sizeof(path), "settings.extra_rules[%zu]", i);
                if (!s || json_string_length(e) > PROFILES_RULE_MAX)
                        return util_path_fail(err, err_size, path, "must be the YAML text of one Sigma rule, at most %d "
                                    "bytes", PROFILES_RULE_MAX);
                r = rule_check(s, json_string_length(e), path, err, err_size);
                if (r < 0)
                        return r;
                if (json_array_append_new(arr, json_stringn(s, json_string_length(e))) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int sensor_settings_check(const json_t *s, json_t *out, char *err, size_t err_size)
{
        static const char *const keys[] = { "heartbeat_interval_seconds", "alert_upload_delay_ms", "rule_packs",
                                            "extra_rules", NULL };
        int r = keys_check(s, "settings.", keys, "heartbeat_interval_seconds, alert_upload_delay_ms, rule_packs "
                           "and extra_rules", err, err_size);

        if (r == 0)
                r = int_member(s, "heartbeat_interval_seconds", PROFILES_HEARTBEAT_MIN, PROFILES_HEARTBEAT_MAX, out,
                               err, err_size);
        if (r == 0)
                r = int_member(s, "alert_upload_delay_ms", 0, PROFILES_LINGER_MAX, out, err, err_size);
        if (r == 0)
                r = packs_check(json_object_get(s, "rule_packs"), out, err, err_size);
        if (r == 0)
                r = rules_check(json_object_get(s, "extra_rules"), out, err, err_size);
        if (r == 0 && json_object_size(out) == 0)
                r = util_path_fail(err, err_size, "settings", "sets nothing: give at least one of heartbeat_interval_seconds, "
                         "alert_upload_delay_ms, rule_packs and extra_rules");
        return r;
}

/* The entries' form is the agent's to check in full (netprotect_policy_parse:
 * it also knows the server's addresses); here their number, size and text. */
static int network_protection_check(const json_t *s, json_t *out, char *err, size_t err_size)
{
        static const char *const keys[] = { "block", "audit_only", NULL };
        const json_t *block = json_object_get(s, "block"), *audit = json_object_get(s, "audit_only"), *e;
        char path[64];
        size_t i;
        int r = keys_check(s, "settings.", keys, "block and audit_only", err, err_size);

        if (r < 0)
                return r;
        if (!json_is_array(block) || json_array_size(block) > NETPROTECT_ENTRIES_MAX)
                return util_path_fail(err, err_size, "settings.block", "is required: a list of at most %d addresses, "
                            "ranges and domain names", NETPROTECT_ENTRIES_MAX);
        json_array_foreach(block, i, e) {
                const char *t = string_of(e);

                snprintf(path, sizeof(path), "settings.block[%zu]", i);
                if (!t || !*t || strlen(t) >= NETPROTECT_ENTRY_MAX || !util_str_printable(t, NETPROTECT_ENTRY_MAX) ||
                    strchr(t, ' '))
                        return util_path_fail(err, err_size, path, "must be an address, a CIDR range or a domain name");
        }
        if (audit && !json_is_boolean(audit))
                return util_path_fail(err, err_size, "settings.audit_only", "must be true or false");
        if (json_object_set_new(out, "block", json_deep_copy(block)) < 0 ||
            json_object_set_new(out, "audit_only", json_boolean(json_is_true(audit))) < 0)
                return -ENOMEM;
        return 0;
}

static int settings_check(enum profile_type t, const json_t *s, json_t *out, char *err, size_t err_size)
{
        if (!json_is_object(s))
                return util_path_fail(err, err_size, "settings", "is required: an object of the type's settings");
        switch (t) {
        case PROFILE_THREAT_DEFENSE: return threat_defense_check(s, out, err, err_size);
        case PROFILE_SENSOR_SETTINGS: return sensor_settings_check(s, out, err, err_size);
        case PROFILE_NETWORK_PROTECTION: return network_protection_check(s, out, err, err_size);
        }
        return -EINVAL;
}

static int doc_check(const json_t *j, struct profile_doc *p, char *err, size_t err_size)
{
        static const char *const keys[] = { "name", "type", "settings", "assignments", NULL };
        const char *name = string_of(json_object_get(j, "name"));
        const json_t *a = json_object_get(j, "assignments");
        int r;

        if (!json_is_object(j))
                return util_path_fail(err, err_size, "(document)", "must be a JSON object");
        r = keys_check(j, "", keys, "name, type, settings and assignments", err, err_size);
        if (r < 0)
                return r;
        if (!name || !*name || strlen(name) > PROFILES_NAME_MAX || !util_str_is_text(name, PROFILES_NAME_MAX))
                return util_path_fail(err, err_size, "name", "is required: text of 1 to %d bytes", PROFILES_NAME_MAX);
        snprintf(p->name, sizeof(p->name), "%s", name);
        if (profile_type_parse(string_of(json_object_get(j, "type")), &p->type) < 0)
                return util_path_fail(err, err_size, "type", "is required: threat_defense, sensor_settings or "
                            "network_protection");
        if (a && !json_is_object(a))
                return util_path_fail(err, err_size, "assignments", "must be an object {\"include\": [...], \"exclude\": "
                            "[...]}");
        p->settings = json_object();
        if (!p->settings)
                return -ENOMEM;
        r = settings_check(p->type, json_object_get(j, "settings"), p->settings, err, err_size);
        if (r < 0)
                return r;
        p->assignments = a ? json_deep_copy(a) : NULL;
        return a && !p->assignments ? -ENOMEM : 0;
}

int profile_doc_parse(const char *doc, size_t len, struct profile_doc **ret, char *err, size_t err_size)
{
        struct profile_doc *p;
        json_error_t je;
        json_t *j;
        int r;

        if (len > PROFILES_DOCUMENT_MAX) {
                snprintf(err, err_size, "the document is larger than %u bytes", PROFILES_DOCUMENT_MAX);
                return -E2BIG;
        }
        j = json_loadb(doc, len, JSON_REJECT_DUPLICATES, &je);
        if (!j) {
                snprintf(err, err_size, "not JSON: line %d: %s", je.line, je.text);
                return -EINVAL;
        }
        p = calloc(1, sizeof(*p));
        r = p ? doc_check(j, p, err, err_size) : -ENOMEM;
        json_decref(j);
        if (r == -ENOMEM)
                snprintf(err, err_size, "out of memory");
        if (r < 0) {
                profile_doc_free(p);
                return r;
        }
        *ret = p;
        return 0;
}

void profile_doc_free(struct profile_doc *p)
{
        if (!p)
                return;
        json_decref(p->settings);
        json_decref(p->assignments);
        free(p);
}

/* True when two of the profiles of type t set key to different values. */
static bool setting_conflicts(const struct profile_merge_in *in, size_t n, enum profile_type t, const char *key)
{
        const json_t *first = NULL;

        for (size_t i = 0; i < n; i++) {
                const json_t *v = in[i].type == t ? json_object_get(in[i].settings, key) : NULL;

                if (!v)
                        continue;
                if (first && !json_equal((json_t *)first, (json_t *)v))
                        return true;
                if (!first)
                        first = v;
        }
        return false;
}

/* Adds in[i]'s settings to *settings, or to held and the conflicts. */
static int merge_one(const struct profile_merge_in *in, size_t n, size_t i, json_t *settings, json_t *held,
                     bool *conflict)
{
        const char *tname = profile_type_name(in[i].type), *key;
        json_t *group = json_object_get(settings, tname), *v;
        char full[128];
        bool listed;

        json_object_foreach((json_t *)in[i].settings, key, v) {
                if (!setting_conflicts(in, n, in[i].type, key)) {
                        if (!group) {
                                group = json_object();
                                if (!group || json_object_set_new(settings, tname, group) < 0)
                                        return -ENOMEM;
                        }
                        /* a copy: the caller's settings may be shared between threads */
                        if (json_object_set_new(group, key, json_deep_copy(v)) < 0)
                                return -ENOMEM;
                        continue;
                }
                for (size_t j = 0; j < n; j++)
                        if (in[j].type == in[i].type && json_object_get(in[j].settings, key))
                                conflict[j] = true;
                snprintf(full, sizeof(full), "%s.%s", tname, key);
                listed = false;
                for (size_t k = 0; k < json_array_size(held); k++)
                        listed |= strcmp(json_string_value(json_array_get(held, k)), full) == 0;
                if (!listed && json_array_append_new(held, json_string(full)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int profiles_merge(const struct profile_merge_in *in, size_t n, json_t **ret_settings, json_t **ret_held,
                   bool *ret_conflict)
{
        json_t *settings = json_object(), *held = json_array();
        int r = settings && held ? 0 : -ENOMEM;

        for (size_t i = 0; i < n; i++)
                ret_conflict[i] = false;
        for (size_t i = 0; r == 0 && i < n; i++)
                r = merge_one(in, n, i, settings, held, ret_conflict);
        if (r < 0) {
                json_decref(settings);
                json_decref(held);
                return r;
        }
        *ret_settings = settings;
        *ret_held = held;
        return 0;
}
