/* config: the configuration the server's profiles give this device
 * (docs/PROFILES.md): threat defense on or off, sensor settings (heartbeat
 * interval, alert upload delay, detection rules) and network protection.
 *
 * The actions thread drives it: each long-poll says which configuration
 * version the server has for the device; when it is not the one applied
 * here, agent_config_sync() fetches GET /agent/v1/config, checks it, verifies
 * the rules bundle's signature (the server's certificate must chain to
 * STATE/server-ca.pem), applies what changed, keeps the result in
 * STATE/config.json (applied again at the next start, before the server
 * answers) and reports per profile succeeded or failed. A setting the server
 * holds (two profiles disagree) keeps the value applied before. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/src/agent.h"

#define AGENT_CONFIG_FILE "config.json"         /* in the state directory */
#define AGENT_CONFIG_RULES_DIR "rules"          /* extra rules, in the state directory */
#define AGENT_CONFIG_MAX (16u << 20)            /* bytes of a configuration */
#define AGENT_CONFIG_PROFILES_MAX 1000
#define AGENT_CONFIG_PACKS_MAX 64
#define AGENT_CONFIG_RULES_MAX 64
#define AGENT_CONFIG_VERSION_HEX 64
#define AGENT_CONFIG_REPORT_S 15                /* network protection report upload, at most this often */

/* A profile that contributes to the configuration. */
struct agent_config_profile {
        char id[40];
        int64_t version;
        int type;                               /* 1 threat_defense, 2 sensor_settings, 3 network_protection */
        bool conflict;
};

/* A configuration as received, checked (agent_config_check). Borrowed
 * pointers point into root. */
struct agent_config_doc {
        json_t *root;                           /* owned */
        char version[AGENT_CONFIG_VERSION_HEX + 1];
        const json_t *settings;                 /* object */
        const json_t *held;                     /* array of "type.setting" */
        struct agent_config_profile *profiles;  /* owned */
        size_t n_profiles;
        /* settings read */
        int td_enabled;                         /* -1: not set */
        int64_t heartbeat_s;                    /* 0: not set */
        int64_t linger_ms;                      /* -1: not set */
        const json_t *netprotect;               /* settings.network_protection or NULL */
        const char *bundle, *signature, *certificate;   /* rules; NULL when none */
};

/* Checks a configuration document (what GET /agent/v1/config answers, or
 * STATE/config.json): {"version", "settings", "held", "profiles", "rules":
 * {"bundle", "signature", "certificate"}}, types and ranges of every setting
 * the agent applies. Takes a reference on j. Returns 0 and fills *ret
 * (release with agent_config_doc_release), or -EINVAL with the reason in err. */
int agent_config_check(json_t *j, struct agent_config_doc *ret, char *err, size_t err_size);
void agent_config_doc_release(struct agent_config_doc *c);

/* The rules of a verified bundle's text {"rule_packs": [...], "extra_rules":
 * [...]}: packs are folder names ("linux/process_creation": letters, digits,
 * _ and -, two or three parts), rules YAML texts. Returns 0 with *ret_bundle
 * (the caller decrefs), or -EINVAL with the reason in err. */
int agent_config_bundle_parse(const char *text, size_t len, json_t **ret_bundle, char *err, size_t err_size);

struct agent_config;
struct alert_uplink;
struct httpc;

/* A configuration for the device of st, applying to rd and up (either may
 * be NULL), whose detection started with rules (none: the default rules;
 * packs are folders of the first of them, else of VIGIL_RULES_DIR).
 * Returns 0 or -ENOMEM. */
int agent_config_new(const struct agent_state *st, struct run_detect *rd, struct alert_uplink *up,
                     const char *const *rules, size_t n_rules, struct agent_config **ret);
void agent_config_free(struct agent_config *c);

/* At start: applies STATE/config.json if there is one (network protection
 * excepted: netprotect_restore() puts it back). If an area of it does not
 * apply (rules whose signature does not verify), the version is forgotten
 * so that the server's configuration is fetched again. Returns 1 if a
 * configuration was applied, 0 if none was kept, or a negative errno
 * (logged; the agent runs with its defaults). */
int agent_config_restore(struct agent_config *c);

/* The version applied ("" for none). For the thread that drives c. */
const char *agent_config_version(const struct agent_config *c);

/* The heartbeat interval a profile sets, in seconds; 0 for the server's.
 * Any thread. */
int64_t agent_config_heartbeat(const struct agent_config *c);

/* When server_version is not the version applied: fetches, checks,
 * verifies, applies, keeps and reports the configuration through http.
 * Returns 0 (also when some settings failed: they are reported), -EACCES
 * once the device is offboarded, or another negative errno (nothing
 * changed; logged) to try again later. */
int agent_config_sync(struct agent_config *c, struct httpc *http, const char *server_version);

/* Uploads the network protection report when one is installed and
 * AGENT_CONFIG_REPORT_S passed since the last. Returns the seconds until the
 * next is due (for the long-poll's wait), or 0 when none is installed. */
long agent_config_report_tick(struct agent_config *c, struct httpc *http);
