/* compliance policy: the check of a policy document as an admin sends it,
 * its compiled form and its canonical JSON, and the check of the tenant's
 * compliance settings. Pure functions of their input
 * (fuzzed). Every refusal names the field by its path ("actions[2].type")
 * and says what it must be. */
#include "server/manage/compliance.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strutil.h"

#define FIELD_PATH_MAX 64

static const char *const policy_keys[] = { "name", "description", "platform", "settings", "actions",
                                           "assignments", NULL };
static const char *const settings_keys[] = { "max_device_risk", "min_os_version", "disk_encryption_required",
                                             "firewall_required", "secure_boot_required",
                                             "sensor_healthy_required", "max_exposure_level", NULL };
static const char *const action_keys[] = { "type", "after_hours", "grace_hours", NULL };
static const char *const max_risk_names[] = { "clear", "low", "medium", "high", NULL };
static const char *const exposure_names[] = { "none", "low", "medium", "high", NULL };
static const char *const action_names[] = { "mark_noncompliant", "notify", "isolate", NULL };
static const char *const platform_names[] = { "linux", NULL };
static const char *const tenant_keys[] = { "no_policy_state", "validity_days", "sensor_timeout_seconds", NULL };
static const char *const no_policy_names[] = { "noncompliant", "compliant", NULL };

/* "a, b, c" into out. */
static void names_list(const char *const *names, char *out, size_t size)
{
        size_t n = 0;

        out[0] = '\0';
        for (size_t i = 0; names[i] && n < size; i++)
                n += (size_t)snprintf(out + n, size - n, "%s%s", i ? ", " : "", names[i]);
}

/* The index of s in names, or -1. */
static int name_index(const char *s, const char *const *names)
{
        for (int i = 0; s && names[i]; i++)
                if (strcmp(s, names[i]) == 0)
                        return i;
        return -1;
}

/* A JSON string without NUL bytes, or NULL. */
static const char *string_of(const json_t *v)
{
        const char *s = json_string_value(v);

        return s && strlen(s) == json_string_length(v) ? s : NULL;
}

/* Refuses members of obj not in keys. prefix is "" or "settings." and so on. */
static int keys_check(const json_t *obj, const char *prefix, const char *what, const char *const *keys,
                      char *err, size_t err_size)
{
        char path[FIELD_PATH_MAX + 80], list[256];
        const char *key;
        json_t *v;

        json_object_foreach((json_t *)obj, key, v) {
                if (name_index(key, keys) >= 0)
                        continue;
                names_list(keys, list, sizeof(list));
                snprintf(path, sizeof(path), "%s%.64s", prefix, util_str_is_text(key, 64) ? key : "?");
                return util_path_fail(err, err_size, path, "unknown field; %s has %s", what, list);
        }
        return 0;
}

/* An enum member: a string of names, or null (not configured: *ret = -1). */
static int enum_member(const json_t *obj, const char *key, const char *path, const char *const *names,
                       bool nullable, int *ret, char *err, size_t err_size)
{
        const json_t *v = json_object_get(obj, key);
        char list[128];
        int i;

        *ret = -1;
        if (!v || (nullable && json_is_null(v)))
                return 0;
        i = name_index(string_of(v), names);
        if (i < 0) {
                names_list(names, list, sizeof(list));
                return util_path_fail(err, err_size, path, "must be one of %s%s", list, nullable ? " (or null)" : "");
        }
        *ret = i;
        return 0;
}

static int bool_member(const json_t *obj, const char *key, bool *ret, char *err, size_t err_size)
{
        const json_t *v = json_object_get(obj, key);
        char path[64];

        *ret = false;
        if (!v)
                return 0;
        if (!json_is_boolean(v)) {
                snprintf(path, sizeof(path), "settings.%s", key);
                return util_path_fail(err, err_size, path, "must be true or false");
        }
        *ret = json_is_true(v);
        return 0;
}

int compliance_version_parse(const char *s, uint32_t parts[static COMPLIANCE_VERSION_PARTS_MAX])
{
        int n = 0;

        if (!s || !*s)
                return -EINVAL;
        for (;;) {
                uint32_t v = 0;
                int digits = 0;

                for (; *s >= '0' && *s <= '9'; s++, digits++)
                        if (digits < 9)
                                v = v * 10 + (uint32_t)(*s - '0');
                if (digits == 0 || digits > 9 || n == COMPLIANCE_VERSION_PARTS_MAX)
                        return -EINVAL;
                parts[n++] = v;
                if (!*s)
                        return n;
                if (*s++ != '.')
                        return -EINVAL;
        }
}

static int settings_check(const json_t *s, struct compliance_policy *p, char *err, size_t err_size)
{
        static const enum compliance_setting bool_settings[] = {
                COMPLIANCE_SETTING_DISK_ENCRYPTION, COMPLIANCE_SETTING_FIREWALL,
                COMPLIANCE_SETTING_SECURE_BOOT, COMPLIANCE_SETTING_SENSOR_HEALTHY,
        };
        const json_t *v;
        int i, r;

        if (!json_is_object(s))
                return util_path_fail(err, err_size, "settings", "must be an object of the settings to check");
        r = keys_check(s, "settings.", "settings", settings_keys, err, err_size);
        if (r == 0)
                r = enum_member(s, "max_device_risk", "settings.max_device_risk", max_risk_names, true, &i,
                                err, err_size);
        if (r < 0)
                return r;
        if (i >= 0) {
                p->max_device_risk = (enum compliance_max_risk)(i + COMPLIANCE_MAX_RISK_CLEAR);
                p->configured |= 1u << COMPLIANCE_SETTING_MAX_DEVICE_RISK;
        }
        r = enum_member(s, "max_exposure_level", "settings.max_exposure_level", exposure_names, true, &i,
                        err, err_size);
        if (r < 0)
                return r;
        if (i >= 0) {
                p->max_exposure_level = (enum compliance_exposure)i;
                p->configured |= 1u << COMPLIANCE_SETTING_MAX_EXPOSURE_LEVEL;
        }
        v = json_object_get(s, "min_os_version");
        if (v && !json_is_null(v)) {
                const char *ver = string_of(v);
                int n = ver && strlen(ver) <= COMPLIANCE_VERSION_MAX ? compliance_version_parse(ver, p->min_os_parts)
                                                                     : -EINVAL;
                if (n < 0)
                        return util_path_fail(err, err_size, "settings.min_os_version",
                                    "must be a version of 1 to %d numbers separated by dots, such as \"12\" or "
                                    "\"22.04\" (or null)", COMPLIANCE_VERSION_PARTS_MAX);
                p->min_os_nparts = (unsigned)n;
                snprintf(p->min_os_version, sizeof(p->min_os_version), "%s", ver);
                p->configured |= 1u << COMPLIANCE_SETTING_MIN_OS_VERSION;
        }
        for (size_t k = 0; k < sizeof(bool_settings) / sizeof(bool_settings[0]); k++) {
                bool on;
                r = bool_member(s, compliance_setting_name(bool_settings[k]), &on, err, err_size);
                if (r < 0)
                        return r;
                if (on)
                        p->configured |= 1u << bool_settings[k];
        }
        if (!p->configured)
                return util_path_fail(err, err_size, "settings", "must configure at least one setting");
        return 0;
}

static int hours_member(const json_t *a, const char *key, size_t idx, uint32_t *ret, char *err, size_t err_size)
{
        const json_t *v = json_object_get(a, key);
        char path[64];

        *ret = 0;
        if (!v)
                return 0;
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > COMPLIANCE_HOURS_MAX) {
                snprintf(path, sizeof(path), "actions[%zu].%s", idx, key);
                return util_path_fail(err, err_size, path, "must be a whole number of hours from 0 to %d",
                            COMPLIANCE_HOURS_MAX);
        }
        *ret = (uint32_t)json_integer_value(v);
        return 0;
}

static int action_check(const json_t *a, size_t idx, bool *isolate_seen, struct compliance_action *ret,
                        char *err, size_t err_size)
{
        char prefix[32], path[64];
        int type, r;

        snprintf(prefix, sizeof(prefix), "actions[%zu]", idx);
        if (!json_is_object(a))
                return util_path_fail(err, err_size, prefix, "must be an object with type and after_hours");
        snprintf(prefix, sizeof(prefix), "actions[%zu].", idx);
        r = keys_check(a, prefix, "an action", action_keys, err, err_size);
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "actions[%zu].type", idx);
        if (!json_object_get(a, "type"))
                return util_path_fail(err, err_size, path, "is required: one of mark_noncompliant, notify, isolate");
        r = enum_member(a, "type", path, action_names, false, &type, err, err_size);
        if (r < 0)
                return r;
        if ((idx == 0) != (type == COMPLIANCE_ACTION_MARK_NONCOMPLIANT))
                return util_path_fail(err, err_size, path, idx == 0 ? "the first action must be mark_noncompliant"
                            : "mark_noncompliant must be the first action, and only once");
        if (type == COMPLIANCE_ACTION_ISOLATE && *isolate_seen)
                return util_path_fail(err, err_size, path, "isolate may appear only once");
        *isolate_seen |= type == COMPLIANCE_ACTION_ISOLATE;
        ret->type = (enum compliance_action_type)type;
        r = hours_member(a, "after_hours", idx, &ret->after_hours, err, err_size);
        if (r == 0)
                r = hours_member(a, "grace_hours", idx, &ret->grace_hours, err, err_size);
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "actions[%zu].after_hours", idx);
        if (type == COMPLIANCE_ACTION_MARK_NONCOMPLIANT && ret->after_hours != 0)
                return util_path_fail(err, err_size, path, "must be 0 for mark_noncompliant: its delay is grace_hours");
        snprintf(path, sizeof(path), "actions[%zu].grace_hours", idx);
        if (type != COMPLIANCE_ACTION_MARK_NONCOMPLIANT && json_object_get(a, "grace_hours"))
                return util_path_fail(err, err_size, path, "only mark_noncompliant has a grace period");
        return 0;
}

static int actions_check(const json_t *arr, struct compliance_policy *p, char *err, size_t err_size)
{
        bool isolate_seen = false;
        const json_t *a;
        size_t i;
        int r;

        if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > COMPLIANCE_ACTIONS_MAX)
                return util_path_fail(err, err_size, "actions", "must be an array of 1 to %d actions, mark_noncompliant first",
                            COMPLIANCE_ACTIONS_MAX);
        json_array_foreach(arr, i, a) {
                r = action_check(a, i, &isolate_seen, &p->actions[i], err, err_size);
                if (r < 0)
                        return r;
        }
        p->n_actions = json_array_size(arr);
        p->grace_hours = p->actions[0].grace_hours;
        return 0;
}

/* name, description, platform. */
static int header_check(const json_t *doc, struct compliance_policy *p, char *err, size_t err_size)
{
        const json_t *v = json_object_get(doc, "name");
        const char *s = string_of(v);
        int i, r;

        if (!v)
                return util_path_fail(err, err_size, "name", "is required");
        if (!s || !*s || !util_str_is_text(s, COMPLIANCE_NAME_MAX))
                return util_path_fail(err, err_size, "name", "must be a non-empty string of at most %d bytes without "
                            "control characters", COMPLIANCE_NAME_MAX);
        snprintf(p->name, sizeof(p->name), "%s", s);
        v = json_object_get(doc, "description");
        s = string_of(v);
        if (v && (!s || !util_str_is_text(s, COMPLIANCE_DESCRIPTION_MAX)))
                return util_path_fail(err, err_size, "description", "must be a string of at most %d bytes without control "
                            "characters", COMPLIANCE_DESCRIPTION_MAX);
        snprintf(p->description, sizeof(p->description), "%s", s ? s : "");
        if (!json_object_get(doc, "platform"))
                return util_path_fail(err, err_size, "platform", "is required: linux");
        r = enum_member(doc, "platform", "platform", platform_names, false, &i, err, err_size);
        if (r < 0)
                return r;
        snprintf(p->platform, sizeof(p->platform), "%s", platform_names[i]);
        return 0;
}

static int policy_build(const json_t *doc, struct compliance_policy *p, char *err, size_t err_size)
{
        const json_t *v;
        int r;

        if (!json_is_object(doc))
                return util_path_fail(err, err_size, "(document)", "must be a JSON object with name, platform, settings "
                            "and actions");
        r = keys_check(doc, "", "a policy", policy_keys, err, err_size);
        if (r == 0)
                r = header_check(doc, p, err, err_size);
        if (r < 0)
                return r;
        if (!(v = json_object_get(doc, "settings")))
                return util_path_fail(err, err_size, "settings", "is required");
        r = settings_check(v, p, err, err_size);
        if (r < 0)
                return r;
        if (!(v = json_object_get(doc, "actions")))
                return util_path_fail(err, err_size, "actions", "is required, with mark_noncompliant first");
        r = actions_check(v, p, err, err_size);
        if (r < 0)
                return r;
        v = json_object_get(doc, "assignments");
        if (v && !json_is_object(v))
                return util_path_fail(err, err_size, "assignments", "must be an object");
        p->assignments = v ? json_incref((json_t *)v) : NULL;
        return 0;
}

int compliance_policy_from_json(const json_t *doc, struct compliance_policy **ret, char *err, size_t err_size)
{
        struct compliance_policy *p = calloc(1, sizeof(*p));
        json_t *c;
        int r;

        if (!p) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        r = policy_build(doc, p, err, err_size);
        if (r < 0)
                goto fail_policy;
        c = compliance_policy_to_json(p);
        p->canonical = c ? json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(c);
        if (!p->canonical) {
                snprintf(err, err_size, "out of memory");
                r = -ENOMEM;
                goto fail_policy;
        }
        p->canonical_len = strlen(p->canonical);
        *ret = p;
        return 0;
fail_policy:
        compliance_policy_free(p);
        return r;
}

int compliance_policy_parse(const char *doc, size_t len, struct compliance_policy **ret, char *err, size_t err_size)
{
        json_error_t je;
        json_t *j;
        int r;

        if (len > COMPLIANCE_DOCUMENT_MAX) {
                snprintf(err, err_size, "(document): larger than %d bytes", COMPLIANCE_DOCUMENT_MAX);
                return -E2BIG;
        }
        j = json_loadb(doc, len, JSON_REJECT_DUPLICATES, &je);
        if (!j) {
                snprintf(err, err_size, "(document): not valid JSON: line %d column %d: %s", je.line, je.column,
                         je.text);
                return -EINVAL;
        }
        r = compliance_policy_from_json(j, ret, err, err_size);
        json_decref(j);
        return r;
}

void compliance_policy_free(struct compliance_policy *p)
{
        if (!p)
                return;
        json_decref(p->assignments);
        free(p->canonical);
        free(p);
}

bool compliance_policy_needs_security_admin(const struct compliance_policy *p)
{
        for (size_t i = 0; i < p->n_actions; i++)
                if (p->actions[i].type == COMPLIANCE_ACTION_ISOLATE)
                        return true;
        return false;
}

const char *compliance_policy_canonical(const struct compliance_policy *p, size_t *ret_len)
{
        if (ret_len)
                *ret_len = p->canonical_len;
        return p->canonical;
}

static json_t *settings_to_json(const struct compliance_policy *p)
{
        json_t *s = json_object();
        bool on;

        if (!s)
                return NULL;
        for (int k = 0; k < COMPLIANCE_SETTINGS_COUNT; k++) {
                const char *key = compliance_setting_name((enum compliance_setting)k);
                json_t *v;

                on = p->configured & (1u << k);
                if (k == COMPLIANCE_SETTING_MAX_DEVICE_RISK)
                        v = on ? json_string(max_risk_names[p->max_device_risk - COMPLIANCE_MAX_RISK_CLEAR])
                               : json_null();
                else if (k == COMPLIANCE_SETTING_MIN_OS_VERSION)
                        v = on ? json_string(p->min_os_version) : json_null();
                else if (k == COMPLIANCE_SETTING_MAX_EXPOSURE_LEVEL)
                        v = on ? json_string(exposure_names[p->max_exposure_level]) : json_null();
                else
                        v = json_boolean(on);
                if (json_object_set_new(s, key, v) < 0) {
                        json_decref(s);
                        return NULL;
                }
        }
        return s;
}

json_t *compliance_policy_to_json(const struct compliance_policy *p)
{
        json_t *actions = json_array(), *j;

        for (size_t i = 0; actions && i < p->n_actions; i++) {
                const struct compliance_action *a = &p->actions[i];
                json_t *o = json_pack("{s:s,s:I}", "type", compliance_action_type_name(a->type), "after_hours",
                                      (json_int_t)a->after_hours);
                if (o && a->type == COMPLIANCE_ACTION_MARK_NONCOMPLIANT)
                        json_object_set_new(o, "grace_hours", json_integer(a->grace_hours));
                if (!o || json_array_append_new(actions, o) < 0) {
                        json_decref(actions);
                        return NULL;
                }
        }
        j = json_pack("{s:s,s:s,s:s,s:o?,s:o?}", "name", p->name, "description", p->description, "platform",
                      p->platform, "settings", settings_to_json(p), "actions", actions);
        if (j && p->assignments && json_object_set(j, "assignments", p->assignments) < 0) {
                json_decref(j);
                return NULL;
        }
        /* a member that could not be built is missing: out of memory */
        if (j && (!json_is_object(json_object_get(j, "settings")) || !json_is_array(json_object_get(j, "actions")))) {
                json_decref(j);
                return NULL;
        }
        return j;
}

/* An integer member from min to max, left as it is when absent. */
static int uint_member(const json_t *obj, const char *key, long min, long max, uint32_t *inout, char *err,
                       size_t err_size)
{
        const json_t *v = json_object_get(obj, key);

        if (!v)
                return 0;
        if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
                return util_path_fail(err, err_size, key, "must be a whole number from %ld to %ld", min, max);
        *inout = (uint32_t)json_integer_value(v);
        return 0;
}

int compliance_tenant_apply(const json_t *body, struct compliance_tenant *inout, char *err, size_t err_size)
{
        struct compliance_tenant t = *inout;
        int state, r;

        if (!json_is_object(body))
                return util_path_fail(err, err_size, "(document)", "must be a JSON object of tenant compliance settings");
        r = keys_check(body, "", "the tenant's compliance settings", tenant_keys, err, err_size);
        if (r == 0)
                r = enum_member(body, "no_policy_state", "no_policy_state", no_policy_names, false, &state, err,
                                err_size);
        if (r == 0)
                r = uint_member(body, "validity_days", 1, COMPLIANCE_VALIDITY_DAYS_MAX, &t.validity_days, err,
                                err_size);
        if (r == 0)
                r = uint_member(body, "sensor_timeout_seconds", COMPLIANCE_SENSOR_TIMEOUT_MIN,
                                COMPLIANCE_SENSOR_TIMEOUT_MAX, &t.sensor_timeout_s, err, err_size);
        if (r < 0)
                return r;
        if (state >= 0)
                t.no_policy_state = state == 0 ? COMPLIANCE_NONCOMPLIANT : COMPLIANCE_COMPLIANT;
        *inout = t;
        return 0;
}

json_t *compliance_tenant_to_json(const struct compliance_tenant *t)
{
        return json_pack("{s:s,s:I,s:I}", "no_policy_state", compliance_state_name(t->no_policy_state),
                         "validity_days", (json_int_t)t->validity_days, "sensor_timeout_seconds",
                         (json_int_t)t->sensor_timeout_s);
}
