/* connector: the link that carries device risk from the threat-defense side
 * to compliance (Intune's "Microsoft Defender for Endpoint connector").
 *
 * One partner at a time reports each device's risk level: the built-in
 * defend module, in process (partner "builtin", the default), or a remote
 * partner (another vigild, an outside EDR) that pushes risk levels and
 * heartbeats through the partner API (/partner/v1/..., docs/CONNECTOR.md),
 * authenticated by a partner token. The connector keeps every device's risk
 * as the partner last reported it, in memory for compliance and in the table
 * connector_device_risk, and publishes partner_risk_changed on the bus when
 * it changes; compliance reads connector_device_risk() and never defend, so
 * the partner can be swapped.
 *
 * The connection has a state (unavailable, available, enabled,
 * unresponsive). A remote partner that sends nothing for
 * partner_unresponsive_after becomes unresponsive; while it is, or while the
 * connector is not enabled, a device's risk is not applicable (or blocks,
 * with block_on_missing_partner_data). Every change of state is stored in
 * connector_state_history and published as connector_changed.
 *
 * Owns the tables connector_config, connector_device_risk and
 * connector_state_history. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/http/http.h"

struct vigild;

#define CONNECTOR_BATCH_MAX 1000                /* devices in one POST /partner/v1/risk */
#define CONNECTOR_BODY_MAX (256 * 1024)         /* bytes of a partner request body */
#define CONNECTOR_REASONS_MAX 16                /* reasons of one device's risk */
#define CONNECTOR_REASON_TEXT_MAX 256           /* bytes of one of them */
#define CONNECTOR_DEVICE_ID_MAX 64
#define CONNECTOR_REASON_MAX 256                /* bytes of struct connector_risk's reason */
#define CONNECTOR_UNRESPONSIVE_MIN 1            /* seconds: partner_unresponsive_after's bounds */
#define CONNECTOR_UNRESPONSIVE_MAX (30 * 86400)
#define CONNECTOR_UNRESPONSIVE_DEFAULT 86400
#define CONNECTOR_FUTURE_SKEW_NS (300LL * 1000000000LL) /* as_of may run this far ahead of our clock */

/* Risk levels, ordered, with the numbers of enum defend_level. */
enum connector_level {
        CONNECTOR_LEVEL_NONE = 0,
        CONNECTOR_LEVEL_INFORMATIONAL = 1,
        CONNECTOR_LEVEL_LOW = 2,
        CONNECTOR_LEVEL_MEDIUM = 3,
        CONNECTOR_LEVEL_HIGH = 4,
};

/* The connection's state; the numbers are stored. */
enum connector_state {
        CONNECTOR_UNAVAILABLE = 0,      /* a remote partner that never connected */
        CONNECTOR_AVAILABLE = 1,        /* connected, enabled for no platform */
        CONNECTOR_ENABLED = 2,          /* connected, enabled, heard from recently */
        CONNECTOR_UNRESPONSIVE = 3,     /* remote partner silent for partner_unresponsive_after */
};

enum connector_partner {
        CONNECTOR_PARTNER_BUILTIN = 0,
        CONNECTOR_PARTNER_REMOTE = 1,
};

/* Platforms a partner may be enabled for: bit k is connector_platform_names[k]. */
#define CONNECTOR_PLATFORM_LINUX (1u << 0)
extern const char *const connector_platform_names[];   /* NULL-terminated */

/* The connector's settings (GET/PUT /api/v1/connector). */
struct connector_settings {
        enum connector_partner partner;
        uint32_t platforms;                     /* CONNECTOR_PLATFORM_* bits */
        int64_t unresponsive_after;             /* seconds */
        bool block_on_missing;                  /* block_on_missing_partner_data */
};

/* What compliance asks about one device (connector_device_risk()). */
struct connector_risk {
        enum connector_level level;     /* the partner's risk; NONE when not applicable */
        bool applicable;                /* the connector is enabled and the partner has data for the device */
        bool block;                     /* !applicable and block_on_missing_partner_data: count as noncompliant */
        enum connector_state state;     /* the connection's state when asked */
        int64_t as_of;                  /* ns since the epoch the partner's level held at; 0 when none */
        char reason[CONNECTOR_REASON_MAX]; /* why, for people ("partner unresponsive since ...") */
};

/* One device's risk as a partner pushes it, checked. Pointers are borrowed
 * from the parsed body. */
struct connector_update {
        const char *device_id;
        enum connector_level level;
        int64_t as_of;                  /* ns since the epoch */
        const json_t *reasons;          /* an array of strings, or NULL */
};

/* "none", ... "high" <-> enum connector_level. parse returns 0 or -EINVAL. */
const char *connector_level_name(enum connector_level l);
int connector_level_parse(const char *s, enum connector_level *ret);
/* "unavailable", "available", "enabled", "unresponsive". */
const char *connector_state_name(enum connector_state s);
/* "builtin", "remote" <-> enum connector_partner. parse returns 0 or -EINVAL. */
const char *connector_partner_name(enum connector_partner p);
int connector_partner_parse(const char *s, enum connector_partner *ret);

/* The state machine, pure: the state of a connection with settings s whose
 * partner was last heard from at last_heartbeat (seconds since the epoch; 0
 * for never; the built-in partner is always heard from), at now. In order:
 * a remote partner never heard from is unavailable; one silent for longer
 * than s->unresponsive_after is unresponsive; a partner enabled for no
 * platform is available; else enabled. The reason for people goes to reason
 * ("" for enabled). */
enum connector_state connector_state_compute(const struct connector_settings *s, int64_t last_heartbeat,
                                             int64_t now, char *reason, size_t reason_size);

/* Checks a PUT /api/v1/connector body over the current settings: members
 * partner, enabled_platforms (an array of platform names, no repeats),
 * partner_unresponsive_after (duration text, CONNECTOR_UNRESPONSIVE_MIN to
 * _MAX seconds) and block_on_missing_partner_data, each optional, at least
 * one, nothing else. Fills *ret (cur with the changes) on success. Returns 0
 * or -EINVAL with the reason in err. Pure (fuzzed). */
int connector_settings_check(const json_t *body, const struct connector_settings *cur,
                             struct connector_settings *ret, char *err, size_t err_size);

/* Parses a partner's risk body of len bytes (at most CONNECTOR_BODY_MAX).
 * With device_id (PUT /partner/v1/devices/{id}/risk) the body is one object
 * {risk, as_of, reasons?}; with NULL (POST /partner/v1/risk) it is
 * {devices: [{id, risk, as_of, reasons?}, ...]} of 1 to CONNECTOR_BATCH_MAX
 * distinct devices. as_of is RFC 3339 and at most CONNECTOR_FUTURE_SKEW_NS
 * after now_ns; reasons at most CONNECTOR_REASONS_MAX strings of at most
 * CONNECTOR_REASON_TEXT_MAX bytes. Unknown members are refused. On success
 * *ret_json is the parsed body (the caller decrefs; ret's pointers borrow
 * from it), ret[0 .. *ret_n) the updates (ret holds CONNECTOR_BATCH_MAX).
 * Returns 0, -E2BIG (too big, too many) or -EINVAL with the reason in err.
 * Device ids are checked for their form only. Pure (fuzzed). */
int connector_partner_body_parse(const char *body, size_t len, const char *device_id, int64_t now_ns,
                                 struct connector_update ret[static CONNECTOR_BATCH_MAX], size_t *ret_n,
                                 json_t **ret_json, char *err, size_t err_size);

/* Creates or updates the connector's tables. Returns 0 or a negative errno (see db_errmsg). */
int connector_migrate(struct vigild *d);

/* Loads the settings and every device's risk into memory (with the builtin
 * partner, from defend, which must be open), subscribes to the bus and
 * starts the thread that notices an unresponsive partner. Call after
 * defend_open() and before the HTTP listener starts. Returns 0 or a negative
 * errno with a message in err. */
int connector_start(struct vigild *d, char *err, size_t err_size);

/* Stops the thread and frees the module's state. Call after the HTTP
 * listener stopped. Fine if connector_start() was not called. */
void connector_stop(struct vigild *d);

/* The partner's risk of one device, for compliance: in memory, no SQL, any
 * thread, with or without the database lock. ret->applicable is true only
 * while the connection is enabled (enabled for the device's platform, the
 * partner heard from within partner_unresponsive_after) and the partner has
 * reported the device (the builtin partner reports every device: none until
 * defend raises its risk); then ret->level and ret->as_of are the partner's.
 * Otherwise ret->level is NONE, ret->as_of 0, and ret->block is true when
 * block_on_missing_partner_data is set: compliance should evaluate the risk
 * setting as not_applicable, or as noncompliant when block. ret->reason says
 * why in every case. Every device of Vigil is of platform "linux" (the agent's
 * only one). Returns 0, or -EINVAL for a missing or over-long device id, or
 * -ENODEV when the connector is not started; *ret is written only on success. */
int connector_device_risk(struct vigild *d, const char *device_id, struct connector_risk *ret);

/* The connection's state now and since when (seconds since the epoch). */
enum connector_state connector_state_get(struct vigild *d, int64_t *ret_since);

extern const struct http_route connector_routes[];
