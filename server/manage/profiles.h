/* profiles: manage's configuration profiles (docs/PROFILES.md).
 *
 * A profile is a named, typed set of settings (threat_defense,
 * sensor_settings, network_protection) assigned to device groups. Every
 * change makes a new version. A device's effective configuration is the
 * merge of the settings of the profiles assigned to it: a setting that two
 * profiles give different values is a conflict for both on that device and
 * is not delivered (the agent keeps what it had). The agent fetches its
 * configuration when the heartbeat's or the long-poll's config_version
 * differs from its own, and reports per profile whether it applied it; the
 * server answers per device and profile: pending, succeeded, failed or
 * conflict. Detection rules (the rule packs and extra Sigma rules of
 * sensor_settings) travel in a bundle signed with the server's TLS key.
 *
 * The document check and the merge are pure functions (fuzzed); the rest owns
 * the tables manage_profiles, manage_profile_versions and
 * manage_profile_status (migration track "manage_profiles"). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/http/http.h"

struct vigild;

#define PROFILES_DOCUMENT_MAX (4u << 20)        /* bytes of a profile document */
#define PROFILES_NAME_MAX 128
#define PROFILES_MAX 1000                       /* profiles of a server */
#define PROFILES_PACKS_MAX 64                   /* rule packs of a profile */
#define PROFILES_PACK_MAX 64                    /* bytes of a pack's name */
#define PROFILES_RULES_MAX 64                   /* extra Sigma rules of a profile */
#define PROFILES_RULE_MAX (64 * 1024)           /* bytes of one extra rule */
#define PROFILES_HEARTBEAT_MIN 5                /* seconds */
#define PROFILES_HEARTBEAT_MAX 86400
#define PROFILES_LINGER_MAX 60000               /* ms an alert may wait for others before upload */
#define PROFILES_MESSAGE_MAX 512                /* bytes of an agent's status message */
#define PROFILES_VERSION_HEX 64                 /* a configuration's version: SHA-256 in hex */

/* Profile types; the numbers never change. */
enum profile_type {
        PROFILE_THREAT_DEFENSE = 1,
        PROFILE_SENSOR_SETTINGS = 2,
        PROFILE_NETWORK_PROTECTION = 3,
};

/* A profile's status on a device; the numbers never change. */
enum profile_status {
        PROFILE_PENDING = 0,
        PROFILE_SUCCEEDED = 1,
        PROFILE_FAILED = 2,
        PROFILE_CONFLICT = 3,
};

/* "threat_defense", ... <-> enum profile_type; "" for a value out of range,
 * -EINVAL for an unknown name. */
const char *profile_type_name(enum profile_type t);
int profile_type_parse(const char *s, enum profile_type *ret);
const char *profile_status_name(enum profile_status s);

/* A checked profile document. */
struct profile_doc {
        char name[PROFILES_NAME_MAX + 1];
        enum profile_type type;
        json_t *settings;               /* owned: canonical (every member present, defaults filled in) */
        json_t *assignments;            /* owned: as the document gave it; NULL if absent */
};

/* Checks a profile document of len bytes (at most PROFILES_DOCUMENT_MAX):
 * {"name", "type", "settings": {...}, "assignments": {...}}. Unknown members,
 * wrong types, values out of range, network protection entries that
 * netprotect refuses and Sigma rules that do not load are refused with
 * "path: reason" in err ("settings.extra_rules[1]: line 4: unknown modifier
 * 'foo'"). assignments is only kept: the caller checks it. Returns 0 with a
 * new document in *ret (free with profile_doc_free()), -E2BIG, -EINVAL or
 * -ENOMEM with the reason in err. */
int profile_doc_parse(const char *doc, size_t len, struct profile_doc **ret, char *err, size_t err_size);
void profile_doc_free(struct profile_doc *p);

/* True for the types only a security_admin may create, change or delete
 * (threat_defense and network_protection: they turn protection off or cut
 * traffic). */
bool profile_type_needs_security_admin(enum profile_type t);

/* One profile assigned to a device, as the merge reads it. */
struct profile_merge_in {
        enum profile_type type;
        const json_t *settings;         /* canonical, as profile_doc_parse() made it */
};

/* Merges the settings of the n profiles assigned to one device (in a stable
 * order). *ret_settings is {"threat_defense": {...}, "sensor_settings":
 * {...}, "network_protection": {...}} (a type only when some profile gives
 * it), without the settings in conflict; *ret_held lists those settings'
 * names ("sensor_settings.heartbeat_interval_seconds"), and ret_conflict[i]
 * is true when profile i sets one of them. Settings are compared whole (a
 * list is one setting). Returns 0 or -ENOMEM; the caller owns both JSON
 * values. */
int profiles_merge(const struct profile_merge_in *in, size_t n, json_t **ret_settings, json_t **ret_held,
                   bool *ret_conflict);

/* Creates or updates the tables of profiles. Returns 0 or a negative errno. */
int profiles_migrate(struct vigild *d);

/* Makes the profiles' shared state and subscribes to the bus (a device's
 * groups changed: its configuration may have). Call at start-up, after
 * manage_open(). Returns 0 or a negative errno. */
int profiles_open(struct vigild *d);

/* Frees what profiles_open() made; the server no longer serves requests.
 * Fine when profiles_open() was not called. */
void profiles_close(struct vigild *d);

/* The version of the device's effective configuration (64 hex digits) into
 * out. Takes the database lock only when a profile changed since the last
 * call (the profiles are kept in memory). Returns 0 or a negative errno. */
int profiles_device_version(struct vigild *d, const char *device_id, char out[static PROFILES_VERSION_HEX + 1]);

extern const struct http_route profiles_routes[];
