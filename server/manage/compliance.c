/* compliance evaluation: one compiled policy against one device's facts at a
 * given time (per-setting results, grace period, due actions), and the
 * device's state from the results of all its policies (docs/COMPLIANCE.md).
 * Pure and allocation-free: the caller brings the facts, the clock and the
 * time the device first failed a policy. */
#include "server/manage/compliance.h"

#include <errno.h>
#include <stdarg.h>
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

int compliance_state_rank(enum compliance_state s)
{
        return s >= COMPLIANCE_COMPLIANT && s <= COMPLIANCE_UNKNOWN ? state_ranks[s] : state_ranks[COMPLIANCE_ERROR];
}

bool compliance_state_allows_access(enum compliance_state s)
{
        return s == COMPLIANCE_COMPLIANT || s == COMPLIANCE_IN_GRACE_PERIOD;
}

/* One setting's evaluation: its result, what it means for the policy's
 * state, and whether a grace period may soften a failure. */
struct eval {
        struct compliance_setting_result *sr;
        enum compliance_state contributes;
        bool graceable;
};

static void __attribute__((format(printf, 5, 6)))
set(struct eval *e, enum compliance_setting_state state, enum compliance_state contributes, const char *observed,
    const char *fmt, ...)
{
        va_list ap;

        e->sr->state = state;
        e->contributes = contributes;
        snprintf(e->sr->observed, sizeof(e->sr->observed), "%s", observed);
        va_start(ap, fmt);
        vsnprintf(e->sr->reason, sizeof(e->sr->reason), fmt, ap);
        va_end(ap);
}

static void risk_eval(const struct compliance_policy *p, const struct compliance_facts *f, struct eval *e)
{
        const char *why = f->risk_reason && *f->risk_reason ? f->risk_reason : "the partner's risk data does not apply";
        int allowed = (int)p->max_device_risk;

        if (!f->risk_applicable) {
                if (f->risk_block)
                        set(e, COMPLIANCE_SETTING_NONCOMPLIANT, COMPLIANCE_NONCOMPLIANT, "unavailable",
                            "risk unavailable, and missing partner data blocks: %s", why);
                else
                        set(e, COMPLIANCE_SETTING_NOT_APPLICABLE, COMPLIANCE_COMPLIANT, "unavailable",
                            "risk unavailable: %s", why);
        } else if (f->risk < DEFEND_LEVEL_NONE || f->risk > DEFEND_LEVEL_HIGH) {
                set(e, COMPLIANCE_SETTING_ERROR, COMPLIANCE_ERROR, "", "risk level %d is out of range", (int)f->risk);
        } else if ((int)f->risk > allowed) {
                set(e, COMPLIANCE_SETTING_NONCOMPLIANT, COMPLIANCE_NONCOMPLIANT, defend_level_name(f->risk),
                    "risk %s is above the allowed %s", defend_level_name(f->risk), max_risk_texts[allowed]);
        } else {
                set(e, COMPLIANCE_SETTING_COMPLIANT, COMPLIANCE_COMPLIANT, defend_level_name(f->risk),
                    "risk %s is within the allowed %s", defend_level_name(f->risk), max_risk_texts[allowed]);
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
                set(e, COMPLIANCE_SETTING_ERROR, COMPLIANCE_ERROR, "",
                    "the device reports no OS version (os-release has no VERSION_ID)");
                return;
        }
        n = strlen(v) <= COMPLIANCE_VERSION_MAX ? compliance_version_parse(v, parts) : -EINVAL;
        if (n < 0)
                set(e, COMPLIANCE_SETTING_ERROR, COMPLIANCE_ERROR, v,
                    "OS version '%.63s' is not numbers separated by dots, so it cannot be compared with %s", v,
                    p->min_os_version);
        else if (version_cmp(parts, (unsigned)n, p->min_os_parts, p->min_os_nparts) < 0)
                set(e, COMPLIANCE_SETTING_NONCOMPLIANT, COMPLIANCE_NONCOMPLIANT, v,
                    "OS version %s is below the minimum %s", v, p->min_os_version);
        else
                set(e, COMPLIANCE_SETTING_COMPLIANT, COMPLIANCE_COMPLIANT, v,
                    "OS version %s is at or above the minimum %s", v, p->min_os_version);
}

/* disk encryption, firewall, Secure Boot: a fact that must be YES. */
static void fact_eval(enum compliance_setting s, enum compliance_fact fact, struct eval *e)
{
        static const struct {
                const char *yes, *no, *what, *yes_text, *no_text;
        } t[] = {
                [COMPLIANCE_SETTING_DISK_ENCRYPTION] = { "encrypted", "not_encrypted", "disk encryption",
                                                         "the root filesystem is encrypted",
                                                         "the root filesystem is not encrypted" },
                [COMPLIANCE_SETTING_FIREWALL] = { "active", "inactive", "firewall", "the firewall is active",
                                                  "the firewall is inactive (no nftables base chain)" },
                [COMPLIANCE_SETTING_SECURE_BOOT] = { "enabled", "disabled", "Secure Boot", "Secure Boot is enabled",
                                                     "Secure Boot is disabled" },
        };

        if (fact == COMPLIANCE_FACT_YES)
                set(e, COMPLIANCE_SETTING_COMPLIANT, COMPLIANCE_COMPLIANT, t[s].yes, "%s", t[s].yes_text);
        else if (fact == COMPLIANCE_FACT_NO)
                set(e, COMPLIANCE_SETTING_NONCOMPLIANT, COMPLIANCE_NONCOMPLIANT, t[s].no, "%s", t[s].no_text);
        else
                set(e, COMPLIANCE_SETTING_ERROR, COMPLIANCE_ERROR, "unknown",
                    "the agent could not establish the %s state (unknown)", t[s].what);
}

static void sensor_eval(const struct compliance_facts *f, const struct compliance_tenant *t, int64_t now,
                        struct eval *e, int64_t *next)
{
        char at[21];

        if (f->last_heartbeat == 0) {
                set(e, COMPLIANCE_SETTING_NONCOMPLIANT, COMPLIANCE_NONCOMPLIANT, "not_reporting",
                    "sensor: not reporting, no heartbeat received");
        } else if (now - f->last_heartbeat > (int64_t)t->sensor_timeout_s) {
                util_time_format(f->last_heartbeat, at);
                set(e, COMPLIANCE_SETTING_NONCOMPLIANT, COMPLIANCE_NONCOMPLIANT, "not_reporting",
                    "sensor: not reporting, last heartbeat %s (more than %u seconds ago)", at, t->sensor_timeout_s);
        } else {
                *next = f->last_heartbeat + (int64_t)t->sensor_timeout_s + 1;
                if (f->sensor == COMPLIANCE_SENSOR_BPF)
                        set(e, COMPLIANCE_SETTING_COMPLIANT, COMPLIANCE_COMPLIANT, "healthy",
                            "sensor: BPF sensor running, heartbeating");
                else if (f->sensor == COMPLIANCE_SENSOR_PROC_CONNECTOR)
                        set(e, COMPLIANCE_SETTING_NONCOMPLIANT, COMPLIANCE_NONCOMPLIANT, "degraded",
                            "sensor: proc connector fallback, BPF sensor not running");
                else if (f->sensor == COMPLIANCE_SENSOR_NONE)
                        set(e, COMPLIANCE_SETTING_NONCOMPLIANT, COMPLIANCE_NONCOMPLIANT, "not_running",
                            "sensor: the agent runs without a sensor");
                else
                        set(e, COMPLIANCE_SETTING_ERROR, COMPLIANCE_UNKNOWN, "unknown",
                            "sensor: the agent does not report which sensor it runs");
        }
}

static void exposure_eval(const struct compliance_policy *p, const struct compliance_facts *f, struct eval *e)
{
        const char *allowed = exposure_names[p->max_exposure_level];

        if (!f->exposure_available)
                set(e, COMPLIANCE_SETTING_NOT_APPLICABLE, COMPLIANCE_COMPLIANT, "unavailable",
                    "exposure level not available yet: vulnerability management has not assessed the device");
        else if (f->exposure < COMPLIANCE_EXPOSURE_NONE || f->exposure > COMPLIANCE_EXPOSURE_HIGH)
                set(e, COMPLIANCE_SETTING_ERROR, COMPLIANCE_ERROR, "", "exposure level %d is out of range",
                    (int)f->exposure);
        else if (f->exposure > p->max_exposure_level)
                set(e, COMPLIANCE_SETTING_NONCOMPLIANT, COMPLIANCE_NONCOMPLIANT, exposure_names[f->exposure],
                    "exposure %s is above the allowed %s", exposure_names[f->exposure], allowed);
        else
                set(e, COMPLIANCE_SETTING_COMPLIANT, COMPLIANCE_COMPLIANT, exposure_names[f->exposure],
                    "exposure %s is within the allowed %s", exposure_names[f->exposure], allowed);
}

static bool needs_inventory(enum compliance_setting s)
{
        return s == COMPLIANCE_SETTING_MIN_OS_VERSION || s == COMPLIANCE_SETTING_DISK_ENCRYPTION ||
               s == COMPLIANCE_SETTING_FIREWALL || s == COMPLIANCE_SETTING_SECURE_BOOT;
}

static void setting_eval(const struct compliance_policy *p, enum compliance_setting s,
                         const struct compliance_facts *f, const struct compliance_tenant *t, int64_t now,
                         struct eval *e, int64_t *next)
{
        /* the risk is never softened by a grace period: an attacked device loses access at once */
        e->graceable = s != COMPLIANCE_SETTING_MAX_DEVICE_RISK;
        if (needs_inventory(s) && f->inventory_at == 0) {
                set(e, COMPLIANCE_SETTING_ERROR, COMPLIANCE_UNKNOWN, "", "no inventory from the device yet");
                return;
        }
        switch (s) {
        case COMPLIANCE_SETTING_MAX_DEVICE_RISK:
                risk_eval(p, f, e);
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
                sensor_eval(f, t, now, e, next);
                break;
        default:
                exposure_eval(p, f, e);
                break;
        }
}

static void next_min(int64_t *next, int64_t t)
{
        if (t > 0 && (*next == 0 || t < *next))
                *next = t;
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
 * in_grace_period while the grace lasts; its reason is that setting's. */
static void policy_state(const struct compliance_policy *p, struct eval *ev, struct compliance_result *r)
{
        int worst = -1, rank = -1;
        char until[21];

        for (int k = 0; k < COMPLIANCE_SETTINGS_COUNT; k++) {
                if (!(p->configured & (1u << k)))
                        continue;
                if (ev[k].contributes == COMPLIANCE_NONCOMPLIANT && ev[k].graceable && r->grace_ends_at)
                        ev[k].contributes = COMPLIANCE_IN_GRACE_PERIOD;
                if (compliance_state_rank(ev[k].contributes) > rank) {
                        rank = compliance_state_rank(ev[k].contributes);
                        worst = k;
                }
        }
        r->state = ev[worst].contributes;
        if (r->state == COMPLIANCE_IN_GRACE_PERIOD) {
                util_time_format(r->grace_ends_at, until);
                snprintf(r->reason, sizeof(r->reason), "in grace period until %s: %s", until,
                         r->settings[worst].reason);
        } else if (r->state == COMPLIANCE_COMPLIANT) {
                snprintf(r->reason, sizeof(r->reason), "every setting is compliant or not applicable");
        } else {
                snprintf(r->reason, sizeof(r->reason), "%s", r->settings[worst].reason);
        }
}

enum compliance_state compliance_evaluate(const struct compliance_policy *p, const struct compliance_facts *f,
                                          const struct compliance_tenant *t, int64_t now,
                                          int64_t first_noncompliant_at, struct compliance_result *ret)
{
        struct eval ev[COMPLIANCE_SETTINGS_COUNT];
        bool failing = false, graceable = false;
        int64_t next = 0;

        ret->policy = p;
        ret->first_noncompliant_at = ret->grace_ends_at = ret->next_check = 0;
        ret->n_due = 0;
        ret->applies = strcmp(p->platform, f->platform ? f->platform : "") == 0;
        if (!ret->applies) {
                ret->state = COMPLIANCE_NOT_EVALUATED;
                snprintf(ret->reason, sizeof(ret->reason), "the policy is for %s, the device's platform is '%.32s'",
                         p->platform, f->platform ? f->platform : "");
                return ret->state;
        }
        for (int k = 0; k < COMPLIANCE_SETTINGS_COUNT; k++) {
                if (!(p->configured & (1u << k)))
                        continue;
                ev[k].sr = &ret->settings[k];
                setting_eval(p, (enum compliance_setting)k, f, t, now, &ev[k], &next);
                failing |= ret->settings[k].state == COMPLIANCE_SETTING_NONCOMPLIANT;
                graceable |= ret->settings[k].state == COMPLIANCE_SETTING_NONCOMPLIANT && ev[k].graceable;
        }
        next_min(&ret->next_check, next);
        if (failing)
                noncompliance_apply(p, now, first_noncompliant_at, graceable, ret);
        policy_state(p, ev, ret);
        return ret->state;
}

enum compliance_state compliance_device_state(const struct compliance_result *results, size_t n,
                                              const struct compliance_tenant *t, const struct compliance_facts *f,
                                              int64_t now, struct compliance_device_result *ret)
{
        const struct compliance_result *worst = NULL;
        int64_t expires = f->last_seen + (int64_t)t->validity_days * DAY;
        char at[21];

        ret->next_check = 0;
        for (size_t i = 0; i < n; i++) {
                if (!results[i].applies)
                        continue;
                if (!worst || compliance_state_rank(results[i].state) > compliance_state_rank(worst->state))
                        worst = &results[i];
                next_min(&ret->next_check, results[i].next_check);
        }
        ret->policy = worst ? worst->policy : NULL;
        if (worst) {
                ret->state = worst->state;
                snprintf(ret->reason, sizeof(ret->reason), "policy '%s': %s", worst->policy->name, worst->reason);
        } else {
                ret->state = t->no_policy_state;
                snprintf(ret->reason, sizeof(ret->reason), "no compliance policy applies to the device "
                         "(tenant setting no_policy_state: %s)", compliance_state_name(t->no_policy_state));
        }
        if (f->last_seen > 0 && now < expires) {
                next_min(&ret->next_check, expires);
        } else {
                ret->state = COMPLIANCE_NONCOMPLIANT;
                ret->policy = NULL;
                util_time_format(f->last_seen, at);
                if (f->last_seen > 0)
                        snprintf(ret->reason, sizeof(ret->reason), "no check-in for %lld days (last %s): the "
                                 "compliance validity period is %u days", (long long)((now - f->last_seen) / DAY),
                                 at, t->validity_days);
                else
                        snprintf(ret->reason, sizeof(ret->reason), "the device has never checked in");
        }
        return ret->state;
}

static json_t *time_or_null(int64_t t)
{
        char buf[21];

        if (t <= 0)
                return json_null();
        util_time_format(t, buf);
        return json_string(buf);
}

json_t *compliance_result_to_json(const struct compliance_result *r)
{
        json_t *settings = json_array(), *j;

        for (int k = 0; settings && k < COMPLIANCE_SETTINGS_COUNT; k++) {
                const struct compliance_setting_result *s = &r->settings[k];
                json_t *o;

                if (!r->applies || !(r->policy->configured & (1u << k)))
                        continue;
                o = json_pack("{s:s,s:s,s:s,s:s}", "setting", setting_names[k], "state",
                              compliance_setting_state_name(s->state), "observed", s->observed, "reason", s->reason);
                if (!o || json_array_append_new(settings, o) < 0) {
                        json_decref(settings);
                        return NULL;
                }
        }
        if (!settings)
                return NULL;
        j = json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:o}", "policy", r->policy->name, "state",
                      compliance_state_name(r->state), "reason", r->reason, "settings", settings,
                      "first_noncompliant_at", time_or_null(r->first_noncompliant_at), "grace_ends_at",
                      time_or_null(r->grace_ends_at), "next_check", time_or_null(r->next_check));
        return j;
}
