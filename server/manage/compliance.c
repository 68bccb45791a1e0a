/* compliance evaluation: one compiled policy against one device's facts at a
 * given time (per-setting results, grace period, due actions), and the
 * device's state from the results of all its policies (docs/COMPLIANCE.md).
 * Pure and allocation-free: the caller brings the facts, the clock and the
 * time the device first failed a policy. */
#include "server/manage/compliance.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/strutil.h"

#define HOUR 3600
#define DAY 86400

static const char *const state_names[] = { "compliant", "noncompliant", "in_grace_period", "not_evaluated",
                                           "error", "unknown" };
static const int state_ranks[] = { 0, 5, 1, 2, 4, 3 };  /* indexed by enum compliance_state */
static const char *const setting_state_names[] = { "compliant", "noncompliant", "not_applicable", "error" };
static const char *const setting_names[] = { "max_device_risk", "min_os_version", "disk_encryption_required",
                                             "firewall_required", "secure_boot_required",
                                             "sensor_healthy_required", "max_exposure_level" };
static const char *const action_type_names[] = { "mark_noncompliant", "notify", "isolate" };
static const char *const max_risk_texts[] = { "", "clear (none or informational)", "low", "medium", "high" };
static const char *const exposure_names[] = { "none", "low", "medium", "high" };

const char *compliance_state_name(enum compliance_state s)
{
        return s >= COMPLIANCE_COMPLIANT && s <= COMPLIANCE_UNKNOWN ? state_names[s] : "unknown";
}

int compliance_state_parse(const char *s, enum compliance_state *ret)
{
        for (int i = 0; s && i <= COMPLIANCE_UNKNOWN; i++)
                if (strcmp(s, state_names[i]) == 0) {
                        *ret = (enum compliance_state)i;
                        return 0;
                }
        return -EINVAL;
}

const char *compliance_setting_state_name(enum compliance_setting_state s)
{
        return s >= COMPLIANCE_SETTING_COMPLIANT && s <= COMPLIANCE_SETTING_ERROR ? setting_state_names[s] : "error";
}

const char *compliance_setting_name(enum compliance_setting s)
{
        return s >= 0 && s < COMPLIANCE_SETTINGS_COUNT ? setting_names[s] : "";
}

const char *compliance_action_type_name(enum compliance_action_type t)
{
        return t >= COMPLIANCE_ACTION_MARK_NONCOMPLIANT && t <= COMPLIANCE_ACTION_ISOLATE ? action_type_names[t] : "";
}

enum compliance_fact compliance_fact_from_text(const char *s)
{
        if (!s)
                return COMPLIANCE_FACT_UNKNOWN;
        if (strcmp(s, "encrypted") == 0 || strcmp(s, "active") == 0 || strcmp(s, "enabled") == 0)
                return COMPLIANCE_FACT_YES;
        if (strcmp(s, "not_encrypted") == 0 || strcmp(s, "inactive") == 0 || strcmp(s, "disabled") == 0)
                return COMPLIANCE_FACT_NO;
        return COMPLIANCE_FACT_UNKNOWN;
}

static inline int rank(enum compliance_state s)
{
        return s >= COMPLIANCE_COMPLIANT && s <= COMPLIANCE_UNKNOWN ? state_ranks[s] : state_ranks[COMPLIANCE_ERROR];
}

int compliance_state_rank(enum compliance_state s)
{
        return rank(s);
}

bool compliance_state_allows_access(enum compliance_state s)
{
        return s == COMPLIANCE_COMPLIANT || s == COMPLIANCE_IN_GRACE_PERIOD;
}

/* What a setting's reason says: set by evaluation, turned into text by
 * setting_reason_text() only when asked. */
enum why {
        WHY_NONE = 0,
        WHY_NO_INVENTORY,
        WHY_RISK_WITHIN, WHY_RISK_ABOVE, WHY_RISK_UNAVAILABLE, WHY_RISK_BLOCKED, WHY_RISK_RANGE,
        WHY_OS_AT_LEAST, WHY_OS_BELOW, WHY_OS_MISSING, WHY_OS_UNREADABLE,
        WHY_FACT_YES, WHY_FACT_NO, WHY_FACT_UNKNOWN,
        WHY_SENSOR_HEALTHY, WHY_SENSOR_PROC_CONNECTOR, WHY_SENSOR_NONE, WHY_SENSOR_UNREPORTED,
        WHY_SENSOR_NEVER, WHY_SENSOR_LATE,
        WHY_EXPOSURE_WITHIN, WHY_EXPOSURE_ABOVE, WHY_EXPOSURE_UNAVAILABLE, WHY_EXPOSURE_RANGE,
};

/* One setting's evaluation: its result, what it means for the policy's
 * state, and whether a grace period may soften a failure. */
struct eval {
        struct compliance_setting_result *sr;
        enum compliance_state contributes;
        bool graceable;
};

static void next_min(int64_t *next, int64_t t)
{
        if (t > 0 && (*next == 0 || t < *next))
                *next = t;
}

/* Copies a NUL-terminated string, cut to COMPLIANCE_OBSERVED_MAX - 1 bytes,
 * without the cost of a formatted print. */
static void observed_copy(char out[static COMPLIANCE_OBSERVED_MAX], const char *s)
{
        size_t n = strnlen(s, COMPLIANCE_OBSERVED_MAX - 1);

        memcpy(out, s, n);
        out[n] = '\0';
}

static void set(struct eval *e, enum compliance_setting_state state, enum compliance_state contributes,
                const char *observed, enum why why)
{
        e->sr->state = state;
        e->sr->why = (uint8_t)why;
        e->contributes = contributes;
        observed_copy(e->sr->observed, observed);
}

static void risk_eval(const struct compliance_policy *p, const struct compliance_facts *f, struct eval *e,
                      struct compliance_result *r)
{
        if (!f->risk_applicable) {
                /* the connector's words are kept: the caller's string lives only for the call */
                snprintf(r->risk_reason, sizeof(r->risk_reason), "%s",
                         f->risk_reason && *f->risk_reason ? f->risk_reason : "the partner's risk data does not apply");
                if (f->risk_block)
                        set(e, COMPLIANCE_SETTING_NONCOMPLIANT, COMPLIANCE_NONCOMPLIANT, "unavailable",
                            WHY_RISK_BLOCKED);
                else
                        set(e, COMPLIANCE_SETTING_NOT_APPLICABLE, COMPLIANCE_COMPLIANT, "unavailable",
                            WHY_RISK_UNAVAILABLE);
        } else if (f->risk < DEFEND_LEVEL_NONE || f->risk > DEFEND_LEVEL_HIGH) {
                set(e, COMPLIANCE_SETTING_ERROR, COMPLIANCE_ERROR, "", WHY_RISK_RANGE);
        } else if ((int)f->risk > (int)p->max_device_risk) {
                set(e, COMPLIANCE_SETTING_NONCOMPLIANT, COMPLIANCE_NONCOMPLIANT, defend_level_name(f->risk),
                    WHY_RISK_ABOVE);
        } else {
                set(e, COMPLIANCE_SETTING_COMPLIANT, COMPLIANCE_COMPLIANT, defend_level_name(f->risk), WHY_RISK_WITHIN);
        }
}

/* < 0, 0, > 0 as a is below, equal to or above b; missing parts are 0. */
static int version_cmp(const uint32_t *a, unsigned na, const uint32_t *b, unsigned nb)
{
        for (unsigned i = 0; i < COMPLIANCE_VERSION_PARTS_MAX && (i < na || i < nb); i++) {
                uint32_t x = i < na ? a[i] : 0, y = i < nb ? b[i] : 0;
                if (x != y)
                        return x < y ? -1 : 1;
        }
        return 0;
}

static void os_version_eval(const struct compliance_policy *p, const struct compliance_facts *f, struct eval *e)
{
        const char *v = f->os_version ? f->os_version : "";
        uint32_t parts[COMPLIANCE_VERSION_PARTS_MAX];
        int n;

        if (!*v) {
                set(e, COMPLIANCE_SETTING_ERROR, COMPLIANCE_ERROR, "", WHY_OS_MISSING);
                return;
        }
        n = strnlen(v, COMPLIANCE_VERSION_MAX + 1) <= COMPLIANCE_VERSION_MAX ? compliance_version_parse(v, parts)
                                                                              : -EINVAL;
        if (n < 0)
                set(e, COMPLIANCE_SETTING_ERROR, COMPLIANCE_ERROR, v, WHY_OS_UNREADABLE);
        else if (version_cmp(parts, (unsigned)n, p->min_os_parts, p->min_os_nparts) < 0)
                set(e, COMPLIANCE_SETTING_NONCOMPLIANT, COMPLIANCE_NONCOMPLIANT, v, WHY_OS_BELOW);
        else
                set(e, COMPLIANCE_SETTING_COMPLIANT, COMPLIANCE_COMPLIANT, v, WHY_OS_AT_LEAST);
}

/* disk encryption, firewall, Secure Boot: a fact that must be YES. */
static const struct {
        const char *yes, *no, *what, *yes_text, *no_text;
} fact_texts[] = {
        [COMPLIANCE_SETTING_DISK_ENCRYPTION] = { "encrypted", "not_encrypted", "disk encryption",
                                                 "the root filesystem is encrypted",
                                                 "the root filesystem is not encrypted" },
        [COMPLIANCE_SETTING_FIREWALL] = { "active", "inactive", "firewall", "the firewall is active",
                                          "the firewall is inactive (no nftables base chain)" },
        [COMPLIANCE_SETTING_SECURE_BOOT] = { "enabled", "disabled", "Secure Boot", "Secure Boot is enabled",
                                             "Secure Boot is disabled" },
};

static void fact_eval(enum compliance_setting s, enum compliance_fact fact, struct eval *e)
{
        if (fact == COMPLIANCE_FACT_YES)
                set(e, COMPLIANCE_SETTING_COMPLIANT, COMPLIANCE_COMPLIANT, fact_texts[s].yes, WHY_FACT_YES);
        else if (fact == COMPLIANCE_FACT_NO)
                set(e, COMPLIANCE_SETTING_NONCOMPLIANT, COMPLIANCE_NONCOMPLIANT, fact_texts[s].no, WHY_FACT_NO);
        else
                set(e, COMPLIANCE_SETTING_ERROR, COMPLIANCE_ERROR, "unknown", WHY_FACT_UNKNOWN);
}

static void sensor_eval(const struct compliance_facts *f, const struct compliance_tenant *t, int64_t now,
                        struct eval *e, struct compliance_result *r)
{
        r->last_heartbeat = f->last_heartbeat;
        r->sensor_timeout_s = t->sensor_timeout_s;
        if (f->last_heartbeat == 0) {
                set(e, COMPLIANCE_SETTING_NONCOMPLIANT, COMPLIANCE_NONCOMPLIANT, "not_reporting", WHY_SENSOR_NEVER);
                return;
        }
        if (now - f->last_heartbeat > (int64_t)t->sensor_timeout_s) {
                set(e, COMPLIANCE_SETTING_NONCOMPLIANT, COMPLIANCE_NONCOMPLIANT, "not_reporting", WHY_SENSOR_LATE);
                return;
        }
        next_min(&r->next_check, f->last_heartbeat + (int64_t)t->sensor_timeout_s + 1);
        if (f->sensor == COMPLIANCE_SENSOR_BPF)
                set(e, COMPLIANCE_SETTING_COMPLIANT, COMPLIANCE_COMPLIANT, "healthy", WHY_SENSOR_HEALTHY);
        else if (f->sensor == COMPLIANCE_SENSOR_PROC_CONNECTOR)
                set(e, COMPLIANCE_SETTING_NONCOMPLIANT, COMPLIANCE_NONCOMPLIANT, "degraded", WHY_SENSOR_PROC_CONNECTOR);
        else if (f->sensor == COMPLIANCE_SENSOR_NONE)
                set(e, COMPLIANCE_SETTING_NONCOMPLIANT, COMPLIANCE_NONCOMPLIANT, "not_running", WHY_SENSOR_NONE);
        else
                set(e, COMPLIANCE_SETTING_ERROR, COMPLIANCE_UNKNOWN, "unknown", WHY_SENSOR_UNREPORTED);
}

static void exposure_eval(const struct compliance_policy *p, const struct compliance_facts *f, struct eval *e)
{
        if (!f->exposure_available)
                set(e, COMPLIANCE_SETTING_NOT_APPLICABLE, COMPLIANCE_COMPLIANT, "unavailable",
                    WHY_EXPOSURE_UNAVAILABLE);
        else if (f->exposure < COMPLIANCE_EXPOSURE_NONE || f->exposure > COMPLIANCE_EXPOSURE_HIGH)
                set(e, COMPLIANCE_SETTING_ERROR, COMPLIANCE_ERROR, "", WHY_EXPOSURE_RANGE);
        else if (f->exposure > p->max_exposure_level)
                set(e, COMPLIANCE_SETTING_NONCOMPLIANT, COMPLIANCE_NONCOMPLIANT, exposure_names[f->exposure],
                    WHY_EXPOSURE_ABOVE);
        else
                set(e, COMPLIANCE_SETTING_COMPLIANT, COMPLIANCE_COMPLIANT, exposure_names[f->exposure],
                    WHY_EXPOSURE_WITHIN);
}

static bool needs_inventory(enum compliance_setting s)
{
        return s == COMPLIANCE_SETTING_MIN_OS_VERSION || s == COMPLIANCE_SETTING_DISK_ENCRYPTION ||
               s == COMPLIANCE_SETTING_FIREWALL || s == COMPLIANCE_SETTING_SECURE_BOOT;
}

static void setting_eval(const struct compliance_policy *p, enum compliance_setting s,
                         const struct compliance_facts *f, const struct compliance_tenant *t, int64_t now,
                         struct eval *e, struct compliance_result *r)
{
        /* the grace period delays every setting, the risk included (docs/COMPLIANCE.md) */
        e->graceable = true;
        if (needs_inventory(s) && f->inventory_at == 0) {
                set(e, COMPLIANCE_SETTING_ERROR, COMPLIANCE_UNKNOWN, "", WHY_NO_INVENTORY);
                return;
        }
        switch (s) {
        case COMPLIANCE_SETTING_MAX_DEVICE_RISK:
                risk_eval(p, f, e, r);
                break;
        case COMPLIANCE_SETTING_MIN_OS_VERSION:
                os_version_eval(p, f, e);
                break;
        case COMPLIANCE_SETTING_DISK_ENCRYPTION:
                fact_eval(s, f->disk_encryption, e);
                break;
        case COMPLIANCE_SETTING_FIREWALL:
                fact_eval(s, f->firewall, e);
                break;
        case COMPLIANCE_SETTING_SECURE_BOOT:
                fact_eval(s, f->secure_boot, e);
                break;
        case COMPLIANCE_SETTING_SENSOR_HEALTHY:
                sensor_eval(f, t, now, e, r);
                break;
        default:
                exposure_eval(p, f, e);
                break;
        }
}

/* The grace period and the actions, once some setting fails. */
static void noncompliance_apply(const struct compliance_policy *p, int64_t now, int64_t first, bool graceable,
                                struct compliance_result *r)
{
        first = first > 0 && first <= now ? first : now;
        r->first_noncompliant_at = first;
        if (graceable && now < first + (int64_t)p->grace_hours * HOUR) {
                r->grace_ends_at = first + (int64_t)p->grace_hours * HOUR;
                next_min(&r->next_check, r->grace_ends_at);
        }
        for (size_t i = 1; i < p->n_actions; i++) {
                int64_t due = first + (int64_t)p->actions[i].after_hours * HOUR;
                if (due > now) {
                        next_min(&r->next_check, due);
                        continue;
                }
                r->due[r->n_due++] = (struct compliance_due_action){ .index = i, .type = p->actions[i].type,
                                                                     .due_at = due };
        }
}

/* The policy's state: the worst setting, a failure softened to
 * in_grace_period while the grace lasts. */
static void policy_state(const struct compliance_policy *p, struct eval *ev, struct compliance_result *r)
{
        int worst = -1;

        r->state = COMPLIANCE_COMPLIANT;
        r->decided_by = -1;
        for (int k = 0; k < COMPLIANCE_SETTINGS_COUNT; k++) {
                if (!(p->configured & (1u << k)))
                        continue;
                if (ev[k].contributes == COMPLIANCE_NONCOMPLIANT && ev[k].graceable && r->grace_ends_at)
                        ev[k].contributes = COMPLIANCE_IN_GRACE_PERIOD;
                if (rank(ev[k].contributes) > worst) {
                        worst = rank(ev[k].contributes);
                        r->state = ev[k].contributes;
                        r->decided_by = r->state == COMPLIANCE_COMPLIANT ? -1 : k;
                }
        }
}

enum compliance_state compliance_evaluate(const struct compliance_policy *p, const struct compliance_facts *f,
                                          const struct compliance_tenant *t, int64_t now,
                                          int64_t first_noncompliant_at, struct compliance_result *ret)
{
        struct eval ev[COMPLIANCE_SETTINGS_COUNT];
        bool failing = false, graceable = false;

        ret->policy = p;
        ret->first_noncompliant_at = ret->grace_ends_at = ret->next_check = ret->last_heartbeat = 0;
        ret->n_due = 0;
        ret->decided_by = -1;
        ret->applies = strcmp(p->platform, f->platform ? f->platform : "") == 0;
        if (!ret->applies) {
                ret->state = COMPLIANCE_NOT_EVALUATED;
                snprintf(ret->platform, sizeof(ret->platform), "%s", f->platform ? f->platform : "");
                return ret->state;
        }
        for (int k = 0; k < COMPLIANCE_SETTINGS_COUNT; k++) {
                if (!(p->configured & (1u << k)))
                        continue;
                ev[k].sr = &ret->settings[k];
                setting_eval(p, (enum compliance_setting)k, f, t, now, &ev[k], ret);
                failing |= ret->settings[k].state == COMPLIANCE_SETTING_NONCOMPLIANT;
                graceable |= ret->settings[k].state == COMPLIANCE_SETTING_NONCOMPLIANT && ev[k].graceable;
        }
        if (failing)
                noncompliance_apply(p, now, first_noncompliant_at, graceable, ret);
        policy_state(p, ev, ret);
        return ret->state;
}

/* The text of a reason that needs nothing but constants and the observed value. */
static const char *const why_texts[] = {
        [WHY_NO_INVENTORY] = "no inventory from the device yet",
        [WHY_RISK_RANGE] = "the risk level is out of range",
        [WHY_OS_MISSING] = "the device reports no OS version (os-release has no VERSION_ID)",
        [WHY_SENSOR_HEALTHY] = "sensor: BPF sensor running, heartbeating",
        [WHY_SENSOR_PROC_CONNECTOR] = "sensor: proc connector fallback, BPF sensor not running",
        [WHY_SENSOR_NONE] = "sensor: the agent runs without a sensor",
        [WHY_SENSOR_UNREPORTED] = "sensor: the agent does not report which sensor it runs",
        [WHY_SENSOR_NEVER] = "sensor: not reporting, no heartbeat received",
        [WHY_EXPOSURE_UNAVAILABLE] = "exposure level not available yet: vulnerability management has not "
                                     "assessed the device",
        [WHY_EXPOSURE_RANGE] = "the exposure level is out of range",
};

void compliance_setting_reason(const struct compliance_result *r, enum compliance_setting s, char *buf, size_t size)
{
        const struct compliance_policy *p = r->policy;
        const struct compliance_setting_result *sr;
        const char *obs;
        char at[21];

        if (s < 0 || s >= COMPLIANCE_SETTINGS_COUNT || !r->applies || !(p->configured & (1u << s))) {
                snprintf(buf, size, "%s", "");
                return;
        }
        sr = &r->settings[s];
        obs = sr->observed;
        switch (sr->why) {
        case WHY_RISK_WITHIN:
        case WHY_RISK_ABOVE:
                snprintf(buf, size, "risk %s is %s the allowed %s", obs,
                         sr->why == WHY_RISK_ABOVE ? "above" : "within", max_risk_texts[p->max_device_risk]);
                break;
        case WHY_RISK_UNAVAILABLE:
        case WHY_RISK_BLOCKED:
                snprintf(buf, size, "risk unavailable%s: %s",
                         sr->why == WHY_RISK_BLOCKED ? ", and missing partner data blocks" : "", r->risk_reason);
                break;
        case WHY_OS_AT_LEAST:
        case WHY_OS_BELOW:
                snprintf(buf, size, "OS version %s is %s the minimum %s", obs,
                         sr->why == WHY_OS_BELOW ? "below" : "at or above", p->min_os_version);
                break;
        case WHY_OS_UNREADABLE:
                snprintf(buf, size, "OS version '%s' is not numbers separated by dots, so it cannot be compared "
                         "with %s", obs, p->min_os_version);
                break;
        case WHY_FACT_YES:
        case WHY_FACT_NO:
                snprintf(buf, size, "%s", sr->why == WHY_FACT_YES ? fact_texts[s].yes_text : fact_texts[s].no_text);
                break;
        case WHY_FACT_UNKNOWN:
                snprintf(buf, size, "the agent could not establish the %s state (unknown)", fact_texts[s].what);
                break;
        case WHY_SENSOR_LATE:
                util_time_format(r->last_heartbeat, at);
                snprintf(buf, size, "sensor: not reporting, last heartbeat %s (more than %u seconds ago)", at,
                         r->sensor_timeout_s);
                break;
        case WHY_EXPOSURE_WITHIN:
        case WHY_EXPOSURE_ABOVE:
                snprintf(buf, size, "exposure %s is %s the allowed %s", obs,
                         sr->why == WHY_EXPOSURE_ABOVE ? "above" : "within", exposure_names[p->max_exposure_level]);
                break;
        default:
                snprintf(buf, size, "%s", sr->why < sizeof(why_texts) / sizeof(why_texts[0]) && why_texts[sr->why]
                                          ? why_texts[sr->why] : "");
                break;
        }
}

void compliance_result_reason(const struct compliance_result *r, char *buf, size_t size)
{
        char until[21];
        int n = 0;

        if (!r->applies) {
                snprintf(buf, size, "the policy is for %s, the device's platform is '%s'", r->policy->platform,
                         r->platform);
                return;
        }
        if (r->decided_by < 0) {
                snprintf(buf, size, "every setting is compliant or not applicable");
                return;
        }
        if (r->state == COMPLIANCE_IN_GRACE_PERIOD) {
                util_time_format(r->grace_ends_at, until);
                n = snprintf(buf, size, "in grace period until %s: ", until);
        }
        if (n >= 0 && (size_t)n < size)
                compliance_setting_reason(r, (enum compliance_setting)r->decided_by, buf + n, size - (size_t)n);
}

enum compliance_state compliance_device_state(const struct compliance_result *results, size_t n,
                                              const struct compliance_tenant *t, const struct compliance_facts *f,
                                              int64_t now, struct compliance_device_result *ret)
{
        const struct compliance_result *worst = NULL;
        int64_t expires = f->last_seen + (int64_t)t->validity_days * DAY;

        ret->next_check = 0;
        for (size_t i = 0; i < n; i++) {
                if (!results[i].applies)
                        continue;
                if (!worst || rank(results[i].state) > rank(worst->state))
                        worst = &results[i];
                next_min(&ret->next_check, results[i].next_check);
        }
        ret->result = worst;
        ret->policy = worst ? worst->policy : NULL;
        ret->state = worst ? worst->state : t->no_policy_state;
        ret->no_policy_state = t->no_policy_state;
        ret->validity_days = t->validity_days;
        ret->last_seen = f->last_seen;
        ret->now = now;
        if (f->last_seen > 0 && now < expires) {
                next_min(&ret->next_check, expires);
        } else {
                /* stale facts say nothing of the device today: the expiry decides */
                ret->state = COMPLIANCE_NONCOMPLIANT;
                ret->result = NULL;
                ret->policy = NULL;
        }
        return ret->state;
}

void compliance_device_reason(const struct compliance_device_result *d, char *buf, size_t size)
{
        char at[21];
        int n;

        if (d->result) {
                n = snprintf(buf, size, "policy '%s': ", d->result->policy->name);
                if (n >= 0 && (size_t)n < size)
                        compliance_result_reason(d->result, buf + n, size - (size_t)n);
        } else if (d->last_seen > 0 && d->now - d->last_seen >= (int64_t)d->validity_days * DAY) {
                util_time_format(d->last_seen, at);
                snprintf(buf, size, "no check-in for %lld days (last %s): the compliance validity period is %u days",
                         (long long)((d->now - d->last_seen) / DAY), at, d->validity_days);
        } else if (d->last_seen <= 0) {
                snprintf(buf, size, "the device has never checked in");
        } else {
                snprintf(buf, size, "no compliance policy applies to the device (tenant setting no_policy_state: %s)",
                         compliance_state_name(d->no_policy_state));
        }
}

static json_t *time_or_null(int64_t t)
{
        char buf[21];

        if (t <= 0)
                return json_null();
        util_time_format(t, buf);
        return json_string(buf);
}

static json_t *settings_to_json(const struct compliance_result *r)
{
        json_t *settings = json_array();
        char reason[COMPLIANCE_REASON_MAX];

        for (int k = 0; settings && r->applies && k < COMPLIANCE_SETTINGS_COUNT; k++) {
                const struct compliance_setting_result *s = &r->settings[k];
                json_t *o;

                if (!(r->policy->configured & (1u << k)))
                        continue;
                compliance_setting_reason(r, (enum compliance_setting)k, reason, sizeof(reason));
                o = json_pack("{s:s,s:s,s:s,s:s}", "setting", setting_names[k], "state",
                              compliance_setting_state_name(s->state), "observed", s->observed, "reason", reason);
                if (!o || json_array_append_new(settings, o) < 0) {
                        json_decref(settings);
                        return NULL;
                }
        }
        return settings;
}

json_t *compliance_result_to_json(const struct compliance_result *r)
{
        json_t *due = json_array();
        char reason[COMPLIANCE_REASON_MAX];

        for (size_t i = 0; due && i < r->n_due; i++) {
                json_t *o = json_pack("{s:I,s:s,s:o}", "index", (json_int_t)r->due[i].index, "type",
                                      compliance_action_type_name(r->due[i].type), "due_at",
                                      time_or_null(r->due[i].due_at));
                if (!o || json_array_append_new(due, o) < 0) {
                        json_decref(due);
                        return NULL;
                }
        }
        compliance_result_reason(r, reason, sizeof(reason));
        return json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o}", "policy", r->policy->name, "state",
                         compliance_state_name(r->state), "reason", reason, "settings", settings_to_json(r),
                         "first_noncompliant_at", time_or_null(r->first_noncompliant_at), "grace_ends_at",
                         time_or_null(r->grace_ends_at), "next_check", time_or_null(r->next_check),
                         "due_actions", due);
}
