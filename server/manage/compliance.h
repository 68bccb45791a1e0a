/* compliance: manage's compliance policies and their evaluation, as pure code.
 *
 * A policy document (JSON, docs/COMPLIANCE.md) is checked and compiled once
 * into a struct compliance_policy. Evaluating a compiled policy against a
 * device's facts (struct compliance_facts, filled by the caller from the
 * devices table, the connector and the registry) at a given time gives a
 * result per setting, the policy's state for the device (with its grace
 * period), the noncompliance actions that are due and the next time the
 * result can change on its own. compliance_device_state() folds the results
 * of every policy assigned to a device into the device's state, with the
 * tenant's rules for devices without a policy and for devices that stopped
 * checking in.
 *
 * No database, no bus, no clock, no threads: the caller passes `now` (seconds
 * since the epoch) and keeps the one piece of history the engine needs, the
 * time a device first became noncompliant under a policy. Evaluation does not
 * allocate. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/defend/defend.h"

#define COMPLIANCE_DOCUMENT_MAX (64 * 1024)     /* bytes of a policy document */
#define COMPLIANCE_NAME_MAX 128                 /* bytes of a policy's name */
#define COMPLIANCE_DESCRIPTION_MAX 1024
#define COMPLIANCE_ACTIONS_MAX 16
#define COMPLIANCE_HOURS_MAX 8760               /* after_hours and grace_hours: one year */
#define COMPLIANCE_VERSION_MAX 32               /* bytes of min_os_version */
#define COMPLIANCE_VERSION_PARTS_MAX 4          /* "1.2.3.4" */
#define COMPLIANCE_VALIDITY_DAYS_MAX 120
#define COMPLIANCE_OBSERVED_MAX 64              /* bytes of an observed value, NUL included */
#define COMPLIANCE_REASON_MAX 320               /* bytes of a reason, NUL included */
#define COMPLIANCE_DEVICE_REASON_MAX (COMPLIANCE_REASON_MAX + COMPLIANCE_NAME_MAX + 16)

/* A policy's or a device's compliance state (DESIGN.md). The numbers may be
 * stored; the order of "worst" is compliance_state_rank()'s, not theirs. */
enum compliance_state {
        COMPLIANCE_COMPLIANT = 0,
        COMPLIANCE_NONCOMPLIANT = 1,
        COMPLIANCE_IN_GRACE_PERIOD = 2,
        COMPLIANCE_NOT_EVALUATED = 3,
        COMPLIANCE_ERROR = 4,
        COMPLIANCE_UNKNOWN = 5,
};

/* One setting's result. */
enum compliance_setting_state {
        COMPLIANCE_SETTING_COMPLIANT = 0,
        COMPLIANCE_SETTING_NONCOMPLIANT = 1,
        COMPLIANCE_SETTING_NOT_APPLICABLE = 2,
        COMPLIANCE_SETTING_ERROR = 3,
};

/* The settings of a policy, in the order results list them; the names are
 * the document's keys. */
enum compliance_setting {
        COMPLIANCE_SETTING_MAX_DEVICE_RISK = 0,
        COMPLIANCE_SETTING_MIN_OS_VERSION = 1,
        COMPLIANCE_SETTING_DISK_ENCRYPTION = 2,
        COMPLIANCE_SETTING_FIREWALL = 3,
        COMPLIANCE_SETTING_SECURE_BOOT = 4,
        COMPLIANCE_SETTING_SENSOR_HEALTHY = 5,
        COMPLIANCE_SETTING_MAX_EXPOSURE_LEVEL = 6,
        COMPLIANCE_SETTINGS_COUNT = 7,
};

/* max_device_risk: the highest risk level allowed. CLEAR allows none and
 * informational; the others allow that level and below. */
enum compliance_max_risk {
        COMPLIANCE_MAX_RISK_CLEAR = 1,
        COMPLIANCE_MAX_RISK_LOW = 2,
        COMPLIANCE_MAX_RISK_MEDIUM = 3,
        COMPLIANCE_MAX_RISK_HIGH = 4,
};

/* Exposure level (from vulnerability management), ordered. */
enum compliance_exposure {
        COMPLIANCE_EXPOSURE_NONE = 0,
        COMPLIANCE_EXPOSURE_LOW = 1,
        COMPLIANCE_EXPOSURE_MEDIUM = 2,
        COMPLIANCE_EXPOSURE_HIGH = 3,
};

enum compliance_action_type {
        COMPLIANCE_ACTION_MARK_NONCOMPLIANT = 0,
        COMPLIANCE_ACTION_NOTIFY = 1,
        COMPLIANCE_ACTION_ISOLATE = 2,
};

struct compliance_action {
        enum compliance_action_type type;
        uint32_t after_hours;           /* after the device first became noncompliant */
        uint32_t grace_hours;           /* mark_noncompliant only */
};

/* A compiled policy. Read its fields freely; create it only with
 * compliance_policy_parse() or compliance_policy_from_json(). */
struct compliance_policy {
        char name[COMPLIANCE_NAME_MAX + 1];
        char description[COMPLIANCE_DESCRIPTION_MAX + 1];
        char platform[8];                               /* "linux" */
        unsigned configured;                            /* bit (1u << enum compliance_setting) */
        enum compliance_max_risk max_device_risk;
        char min_os_version[COMPLIANCE_VERSION_MAX + 1];
        uint32_t min_os_parts[COMPLIANCE_VERSION_PARTS_MAX];
        unsigned min_os_nparts;
        enum compliance_exposure max_exposure_level;
        struct compliance_action actions[COMPLIANCE_ACTIONS_MAX];      /* [0] is mark_noncompliant */
        size_t n_actions;
        uint32_t grace_hours;                           /* actions[0].grace_hours */
        json_t *assignments;                            /* owned; as the document gave it, NULL if absent */
        char *canonical;                                /* owned; see compliance_policy_canonical() */
        size_t canonical_len;
};

/* A fact the device reports as one of two values, or could not establish. */
enum compliance_fact {
        COMPLIANCE_FACT_UNKNOWN = 0,
        COMPLIANCE_FACT_YES = 1,        /* encrypted, active, enabled */
        COMPLIANCE_FACT_NO = 2,         /* not_encrypted, inactive, disabled */
};

/* The sensor the agent says it runs. */
enum compliance_sensor {
        COMPLIANCE_SENSOR_UNREPORTED = 0,       /* the agent has not said */
        COMPLIANCE_SENSOR_BPF = 1,
        COMPLIANCE_SENSOR_PROC_CONNECTOR = 2,   /* the fallback: no BPF */
        COMPLIANCE_SENSOR_NONE = 3,             /* the agent runs without a sensor */
};

/* What the engine knows of a device; filled by the caller. Strings are
 * borrowed for the call and may be NULL (read as ""). Times are seconds
 * since the epoch, 0 for never. docs/COMPLIANCE.md says where each comes from. */
struct compliance_facts {
        const char *platform;                   /* devices.os_platform */
        /* risk, through the connector */
        enum defend_level risk;
        bool risk_applicable;                   /* false: the partner's data does not apply now */
        bool risk_block;                        /* with !risk_applicable: count it as noncompliant */
        const char *risk_reason;                /* the connector's reason when !risk_applicable */
        /* inventory */
        int64_t inventory_at;                   /* 0: no inventory received yet */
        const char *os_version;                 /* devices.os_version (os-release VERSION_ID) */
        enum compliance_fact disk_encryption;
        enum compliance_fact firewall;
        enum compliance_fact secure_boot;
        /* agent */
        enum compliance_sensor sensor;
        int64_t last_heartbeat;
        /* vulnerability management */
        bool exposure_available;
        enum compliance_exposure exposure;
        /* check-in (heartbeat or inventory upload: devices.last_seen) */
        int64_t last_seen;
};

/* Tenant-wide settings. */
struct compliance_tenant {
        enum compliance_state no_policy_state;  /* COMPLIANT or NONCOMPLIANT */
        uint32_t validity_days;                 /* 1..COMPLIANCE_VALIDITY_DAYS_MAX */
        uint32_t sensor_timeout_s;              /* a heartbeat older than this: sensor not reporting */
};

#define COMPLIANCE_SENSOR_TIMEOUT_MIN 60
#define COMPLIANCE_SENSOR_TIMEOUT_MAX 86400

#define COMPLIANCE_TENANT_DEFAULTS \
        ((struct compliance_tenant){ .no_policy_state = COMPLIANCE_NONCOMPLIANT, .validity_days = 30, \
                                     .sensor_timeout_s = 600 })

/* Applies the members of a tenant settings object ({"no_policy_state":
 * "noncompliant"|"compliant", "validity_days": 1..120,
 * "sensor_timeout_seconds": 60..86400}, any of them) over *inout. Unknown
 * members and values out of range are refused with "path: reason" in err,
 * and *inout is then unchanged. Returns 0 or -EINVAL. */
int compliance_tenant_apply(const json_t *body, struct compliance_tenant *inout, char *err, size_t err_size);

/* The tenant settings as that object (the caller decrefs), NULL on ENOMEM. */
json_t *compliance_tenant_to_json(const struct compliance_tenant *t);

/* One setting's result. Its reason is text made on demand by
 * compliance_setting_reason(), so evaluation itself formats nothing. */
struct compliance_setting_result {
        enum compliance_setting_state state;
        uint8_t why;                                    /* what the reason says; private to the engine */
        char observed[COMPLIANCE_OBSERVED_MAX];         /* "high", "12", "not_encrypted"; "" if none */
};

/* A notify or isolate action whose time has come. */
struct compliance_due_action {
        size_t index;                           /* in policy->actions */
        enum compliance_action_type type;
        int64_t due_at;
};

struct compliance_result {
        const struct compliance_policy *policy; /* borrowed */
        bool applies;                           /* false: the policy is for another platform */
        enum compliance_state state;
        /* one per setting, valid where policy->configured has its bit */
        struct compliance_setting_result settings[COMPLIANCE_SETTINGS_COUNT];
        int decided_by;                         /* the setting that gave state; -1 if none did */
        int64_t first_noncompliant_at;          /* to keep for the next call; 0 when no setting fails */
        int64_t grace_ends_at;                  /* while a setting fails within the grace period, else 0 */
        struct compliance_due_action due[COMPLIANCE_ACTIONS_MAX];
        size_t n_due;
        int64_t next_check;                     /* the result may change by itself then; 0: never */
        /* what the reasons quote */
        int64_t last_heartbeat;
        uint32_t sensor_timeout_s;
        char platform[16];                      /* the device's, when !applies */
        char risk_reason[COMPLIANCE_REASON_MAX];        /* the connector's, when its data does not apply */
};

struct compliance_device_result {
        enum compliance_state state;
        const struct compliance_result *result; /* borrowed: the result that decided; NULL: a tenant rule */
        const struct compliance_policy *policy; /* its policy, or NULL */
        int64_t next_check;                     /* 0: never */
        /* what the reason quotes */
        enum compliance_state no_policy_state;
        uint32_t validity_days;
        int64_t last_seen, now;
};

/* Names <-> values, as in DESIGN.md and the documents. name functions return
 * a static string ("unknown" or "" for a value out of range); parse
 * functions return 0 or -EINVAL. */
const char *compliance_state_name(enum compliance_state s);
int compliance_state_parse(const char *s, enum compliance_state *ret);
const char *compliance_setting_state_name(enum compliance_setting_state s);
const char *compliance_setting_name(enum compliance_setting s);
const char *compliance_action_type_name(enum compliance_action_type t);

/* "encrypted", "active", "enabled" -> YES; "not_encrypted", "inactive",
 * "disabled" -> NO; anything else (NULL, "unknown") -> UNKNOWN. Reads the
 * devices table's disk_encryption, firewall and secure_boot columns. */
enum compliance_fact compliance_fact_from_text(const char *s);

/* The order of "worst", from 0 (best) to 5: compliant, in_grace_period,
 * not_evaluated, unknown, error, noncompliant. */
int compliance_state_rank(enum compliance_state s);

/* True for the states that let a device through conditional access:
 * compliant and in_grace_period. */
bool compliance_state_allows_access(enum compliance_state s);

/* Parses a version such as "12", "22.04" or "1.2.3.4": 1 to
 * COMPLIANCE_VERSION_PARTS_MAX numbers of 1 to 9 digits separated by dots.
 * Returns the number of parts written to parts, or -EINVAL. */
int compliance_version_parse(const char *s, uint32_t parts[static COMPLIANCE_VERSION_PARTS_MAX]);

/* Checks and compiles a policy document of len bytes (at most
 * COMPLIANCE_DOCUMENT_MAX). Unknown fields, wrong types and values out of
 * range are refused with "path: reason" in err (e.g. "actions[1].type: must
 * be one of mark_noncompliant, notify, isolate"). Returns 0 with a new policy
 * in *ret (free with compliance_policy_free()), -E2BIG (document too large),
 * -EINVAL or -ENOMEM, with the reason in err. */
int compliance_policy_parse(const char *doc, size_t len, struct compliance_policy **ret,
                            char *err, size_t err_size);

/* As compliance_policy_parse(), for a document already read as JSON (the
 * caller bounds its size). doc is not kept; assignments is referenced. */
int compliance_policy_from_json(const json_t *doc, struct compliance_policy **ret, char *err, size_t err_size);

void compliance_policy_free(struct compliance_policy *p);

/* True if the policy has an isolate action: only a security_admin may apply it. */
bool compliance_policy_needs_security_admin(const struct compliance_policy *p);

/* The policy's canonical JSON: every field present with its default filled
 * in (description "", after_hours and grace_hours 0, false booleans, null for
 * a setting not configured), keys sorted, no spaces. Two documents that mean
 * the same policy have the same canonical form, so applying one twice
 * changes nothing. The string belongs to the policy; *ret_len may be NULL. */
const char *compliance_policy_canonical(const struct compliance_policy *p, size_t *ret_len);

/* The canonical form as a new JSON object (the caller decrefs), NULL on ENOMEM. */
json_t *compliance_policy_to_json(const struct compliance_policy *p);

/* Evaluates policy p for a device with facts f at time now.
 * first_noncompliant_at is what the previous result's first_noncompliant_at
 * said (0 the first time, or when it was compliant): the grace period and the
 * actions' delays count from it. Fills *ret (its policy points to p) and
 * returns ret->state. Never allocates, never fails, formats no text. */
enum compliance_state compliance_evaluate(const struct compliance_policy *p, const struct compliance_facts *f,
                                          const struct compliance_tenant *t, int64_t now,
                                          int64_t first_noncompliant_at, struct compliance_result *ret);

/* The reason of setting s of r ("risk high is above the allowed medium"),
 * into buf (cut to size, always NUL-terminated). "" for a setting the policy
 * does not configure. r's policy must still exist. */
void compliance_setting_reason(const struct compliance_result *r, enum compliance_setting s, char *buf,
                               size_t size);

/* The reason of the policy's state: the deciding setting's reason, after
 * "in grace period until TIME: " when in grace. */
void compliance_result_reason(const struct compliance_result *r, char *buf, size_t size);

/* The device's state from the results of every policy assigned to it
 * (n may be 0): the worst of the results that apply, the tenant's
 * no_policy_state when none applies, and noncompliant when the device has not
 * checked in for validity_days. Fills *ret (which points into results) and
 * returns ret->state. Never allocates, formats no text. */
enum compliance_state compliance_device_state(const struct compliance_result *results, size_t n,
                                              const struct compliance_tenant *t, const struct compliance_facts *f,
                                              int64_t now, struct compliance_device_result *ret);

/* The device's reason ("policy 'Linux baseline': risk high is above the
 * allowed medium", "no check-in for 31 days ..."), into buf. The results
 * given to compliance_device_state() must still exist. */
void compliance_device_reason(const struct compliance_device_result *d, char *buf, size_t size);

/* A result as the API shows it: {"policy", "state", "reason", "settings":
 * [{"setting", "state", "observed", "reason"}], "first_noncompliant_at",
 * "grace_ends_at", "next_check", "due_actions": [{"index", "type",
 * "due_at"}]} (times RFC 3339 or null). NULL on ENOMEM. */
json_t *compliance_result_to_json(const struct compliance_result *r);
