/* config: fetching, checking, applying and keeping the configuration the
 * server's profiles give this device (see config.h, docs/PROFILES.md).
 *
 * Applying is by area, each with its own outcome, reported for every
 * profile of that type: threat defense (the detection thread drops or
 * handles events), sensor settings (the heartbeat interval the uplink loop
 * reads, the alert upload delay, the rules: reloaded into the running
 * detection thread, the sensor kept) and network protection (netprotect:
 * parse, the server set, apply; removed when no profile gives it). An area
 * is only touched when what it receives differs from what it applied, so a
 * change elsewhere does not reset network protection's counters or reload
 * rules. A rules bundle whose signature does not verify is refused whole:
 * the rules applied before stay. */
#include "agent/src/config.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/src/netprotect.h"
#include "agent/src/uplink_alerts.h"
#include "crypto/crypto.h"
#include "httpc/httpc.h"
#include "util/strutil.h"

#define HEARTBEAT_MIN 5
#define HEARTBEAT_MAX 86400
#define LINGER_MAX 60000
#define MESSAGE_MAX 480
#define RULE_TEXT_MAX (64 * 1024)             /* bytes of one extra rule, as the server allows */
#define PATHS_MAX (AGENT_CONFIG_PACKS_MAX + AGENT_RULES_MAX + 1)

enum area { AREA_THREAT_DEFENSE = 1, AREA_SENSOR = 2, AREA_NETPROTECT = 3, AREA_COUNT = 4 };

struct agent_config {
        struct agent_state state;
        struct run_detect *rd;
        struct alert_uplink *uplink;
        const char *const *start_rules;
        size_t n_start_rules;
        json_t *applied;                        /* the configuration kept in STATE/config.json; NULL: none */
        char version[AGENT_CONFIG_VERSION_HEX + 1];
        atomic_llong heartbeat_s;
        char *paths[PATHS_MAX];                 /* the rule paths given to detection; owned */
        size_t n_paths;
        int64_t next_report_ms;
};

/* What applying one area came to. */
struct outcome {
        bool failed;
        char message[MESSAGE_MAX];
};

/* ---- checking (pure; fuzzed) ---- */

static const char *string_of(const json_t *v)
{
        const char *s = json_string_value(v);

        return s && strlen(s) == json_string_length(v) ? s : NULL;
}

static int bad(char *err, size_t err_size, const char *what)
{
        snprintf(err, err_size, "the configuration's %s", what);
        return -EINVAL;
}

static int profiles_read(const json_t *arr, struct agent_config_doc *c, char *err, size_t err_size)
{
        const json_t *p;
        size_t i;

        if (!json_is_array(arr) || json_array_size(arr) > AGENT_CONFIG_PROFILES_MAX)
                return bad(err, err_size, "'profiles' is not a list of at most 1000 profiles");
        c->profiles = calloc(json_array_size(arr) + 1, sizeof(*c->profiles));
        if (!c->profiles)
                return -ENOMEM;
        json_array_foreach(arr, i, p) {
                struct agent_config_profile *cp = &c->profiles[i];
                const char *id = string_of(json_object_get(p, "profile_id"));
                const char *type = string_of(json_object_get(p, "type"));
                const json_t *v = json_object_get(p, "version");

                if (!id || strlen(id) >= sizeof(cp->id) || !util_str_printable(id, sizeof(cp->id)) ||
                    !json_is_integer(v) || !type)
                        return bad(err, err_size, "profile entry is not {profile_id, version, type, conflict}");
                snprintf(cp->id, sizeof(cp->id), "%s", id);
                cp->version = json_integer_value(v);
                cp->conflict = json_is_true(json_object_get(p, "conflict"));
                cp->type = strcmp(type, "threat_defense") == 0 ? AREA_THREAT_DEFENSE
                         : strcmp(type, "sensor_settings") == 0 ? AREA_SENSOR
                         : strcmp(type, "network_protection") == 0 ? AREA_NETPROTECT : 0;
                c->n_profiles++;
        }
        return 0;
}

/* An integer member of obj in [min, max] into *ret, left alone when absent. */
static int int_read(const json_t *obj, const char *key, int64_t min, int64_t max, int64_t *ret, char *err,
                    size_t err_size)
{
        const json_t *v = json_object_get(obj, key);

        if (!v)
                return 0;
        if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
                snprintf(err, err_size, "the configuration's %s is not a number from %lld to %lld", key,
                         (long long)min, (long long)max);
                return -EINVAL;
        }
        *ret = json_integer_value(v);
        return 0;
}

static int settings_read(struct agent_config_doc *c, char *err, size_t err_size)
{
        const json_t *td = json_object_get(c->settings, "threat_defense");
        const json_t *ss = json_object_get(c->settings, "sensor_settings");
        const json_t *np = json_object_get(c->settings, "network_protection");
        const json_t *en = json_object_get(td, "enabled");
        int r;

        if ((td && !json_is_object(td)) || (ss && !json_is_object(ss)) || (np && !json_is_object(np)))
                return bad(err, err_size, "settings are not objects");
        if (en && !json_is_boolean(en))
                return bad(err, err_size, "threat_defense.enabled is not true or false");
        c->td_enabled = en ? json_is_true(en) : -1;
        r = int_read(ss, "heartbeat_interval_seconds", HEARTBEAT_MIN, HEARTBEAT_MAX, &c->heartbeat_s, err,
                     err_size);
        if (r == 0)
                r = int_read(ss, "alert_upload_delay_ms", 0, LINGER_MAX, &c->linger_ms, err, err_size);
        c->netprotect = np;
        return r;
}

static int rules_read(const json_t *rules, struct agent_config_doc *c, char *err, size_t err_size)
{
        if (!rules || json_is_null(rules))
                return 0;
        c->bundle = string_of(json_object_get(rules, "bundle"));
        c->signature = string_of(json_object_get(rules, "signature"));
        c->certificate = string_of(json_object_get(rules, "certificate"));
        if (!c->bundle || !c->signature || !c->certificate)
                return bad(err, err_size, "'rules' is not {bundle, signature, certificate}");
        return 0;
}

int agent_config_check(json_t *j, struct agent_config_doc *ret, char *err, size_t err_size)
{
        struct agent_config_doc c = { .td_enabled = -1, .linger_ms = -1 };
        const char *version = string_of(json_object_get(j, "version"));
        const json_t *held = json_object_get(j, "held"), *h;
        size_t i;
        int r;

        if (!json_is_object(j))
                return bad(err, err_size, "text is not a JSON object");
        if (!version || strlen(version) != AGENT_CONFIG_VERSION_HEX ||
            strspn(version, "0123456789abcdef") != AGENT_CONFIG_VERSION_HEX)
                return bad(err, err_size, "'version' is not 64 hex digits");
        c.settings = json_object_get(j, "settings");
        if (!json_is_object(c.settings))
                return bad(err, err_size, "'settings' is not an object");
        if (!json_is_array(held) || json_array_size(held) > 64)
                return bad(err, err_size, "'held' is not a list");
        json_array_foreach(held, i, h)
                if (!string_of(h))
                        return bad(err, err_size, "'held' holds a value that is not a setting's name");
        c.held = held;
        snprintf(c.version, sizeof(c.version), "%s", version);
        r = profiles_read(json_object_get(j, "profiles"), &c, err, err_size);
        if (r == 0)
                r = settings_read(&c, err, err_size);
        if (r == 0)
                r = rules_read(json_object_get(j, "rules"), &c, err, err_size);
        if (r < 0) {
                free(c.profiles);
                return r;
        }
        c.root = json_incref(j);
        *ret = c;
        return 0;
}

void agent_config_doc_release(struct agent_config_doc *c)
{
        json_decref(c->root);
        free(c->profiles);
        *c = (struct agent_config_doc){ 0 };
}

static bool pack_valid(const char *s)
{
        size_t n = strlen(s), parts = 1;

        if (n == 0 || n > 64 || s[0] == '/' || s[n - 1] == '/')
                return false;
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '/') {
                        if (s[i + 1] == '/')
                                return false;
                        parts++;
                } else if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
                             s[i] == '-')) {
                        return false;
                }
        }
        return parts >= 2 && parts <= 3;
}

int agent_config_bundle_parse(const char *text, size_t len, json_t **ret_bundle, char *err, size_t err_size)
{
        json_t *b = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL), *v;
        const json_t *packs, *rules;
        size_t i;

        packs = json_object_get(b, "rule_packs");
        rules = json_object_get(b, "extra_rules");
        if (!json_is_object(b) || (packs && !json_is_array(packs)) || (rules && !json_is_array(rules)) ||
            json_array_size(packs) > AGENT_CONFIG_PACKS_MAX || json_array_size(rules) > AGENT_CONFIG_RULES_MAX)
                goto fail;
        json_array_foreach(packs, i, v)
                if (!string_of(v) || !pack_valid(string_of(v)))
                        goto fail;
        json_array_foreach(rules, i, v)
                if (!string_of(v) || json_string_length(v) == 0 || json_string_length(v) > RULE_TEXT_MAX)
                        goto fail;
        *ret_bundle = b;
        return 0;
fail:
        json_decref(b);
        snprintf(err, err_size, "the rules bundle is not {\"rule_packs\": [folder names], \"extra_rules\": [rule "
                 "texts]} within its limits");
        return -EINVAL;
}

/* ---- the object ---- */

int agent_config_new(const struct agent_state *st, struct run_detect *rd, struct alert_uplink *up,
                     const char *const *rules, size_t n_rules, struct agent_config **ret)
{
        struct agent_config *c = calloc(1, sizeof(*c));

        if (!c)
                return -ENOMEM;
        c->state = *st;
        c->rd = rd;
        c->uplink = up;
        c->start_rules = rules;
        c->n_start_rules = n_rules;
        atomic_init(&c->heartbeat_s, 0);
        *ret = c;
        return 0;
}

static void paths_free(char **paths, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(paths[i]);
}

void agent_config_free(struct agent_config *c)
{
        if (!c)
                return;
        json_decref(c->applied);
        paths_free(c->paths, c->n_paths);
        free(c);
}

const char *agent_config_version(const struct agent_config *c)
{
        return c->version;
}

int64_t agent_config_heartbeat(const struct agent_config *c)
{
        return c ? atomic_load(&c->heartbeat_s) : 0;
}

/* ---- applying ---- */

static void outcome_fail(struct outcome *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outcome_fail(struct outcome *o, const char *fmt, ...)
{
        va_list ap;

        o->failed = true;
        va_start(ap, fmt);
        vsnprintf(o->message, sizeof(o->message), fmt, ap);
        va_end(ap);
}

/* Gives the held settings of doc (in root) the values old had; the rules
 * bundle is kept whole when one of its settings is held. */
static void held_fill(json_t *root, const struct agent_config_doc *c, const json_t *old)
{
        const json_t *h;
        size_t i;

        json_array_foreach(c->held, i, h) {
                char type[64];
                const char *name = json_string_value(h), *dot = strchr(name, '.');
                json_t *from, *to, *v;

                if (!dot || (size_t)(dot - name) >= sizeof(type))
                        continue;
                snprintf(type, sizeof(type), "%.*s", (int)(dot - name), name);
                if (strcmp(type, "sensor_settings") == 0 &&
                    (strcmp(dot + 1, "rule_packs") == 0 || strcmp(dot + 1, "extra_rules") == 0)) {
                        v = json_object_get(old, "rules");
                        if (v)
                                json_object_set(root, "rules", v);
                        else
                                json_object_del(root, "rules");
                        continue;
                }
                from = json_object_get(json_object_get(old, "settings"), type);
                v = json_object_get(from, dot + 1);
                if (!v)
                        continue;
                to = json_object_get(json_object_get(root, "settings"), type);
                if (!to) {
                        to = json_object();
                        json_object_set_new(json_object_get(root, "settings"), type, to);
                }
                json_object_set(to, dot + 1, v);
        }
}

static void apply_threat_defense(struct agent_config *c, const struct agent_config_doc *d, struct outcome *o)
{
        if (!c->rd && d->td_enabled == 1) {
                outcome_fail(o, "threat defense cannot be turned on: this agent runs without detection");
                return;
        }
        agent_detect_set_enabled(c->rd, d->td_enabled != 0);
}

/* Writes the extra rules to STATE/rules/extra-N.yml, the folder emptied
 * first. Returns 0 or a negative errno with o filled. */
static int rules_write(struct agent_config *c, const json_t *rules, char *dir, size_t dir_size, struct outcome *o)
{
        char path[4400];
        const json_t *v;
        struct dirent *e;
        DIR *dh;
        size_t i;
        int r;

        r = agent_state_path(&c->state, AGENT_CONFIG_RULES_DIR, dir, dir_size);
        if (r < 0)
                return r;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                outcome_fail(o, "cannot make '%s': %s", dir, strerror(errno));
                return -errno;
        }
        dh = opendir(dir);
        while (dh && (e = readdir(dh)))
                if (strncmp(e->d_name, "extra-", 6) == 0 && util_path_join(path, sizeof(path), dir, e->d_name) == 0)
                        unlink(path);
        if (dh)
                closedir(dh);
        json_array_foreach(rules, i, v) {
                char name[32];

                snprintf(name, sizeof(name), "extra-%03zu.yml", i);
                r = util_path_join(path, sizeof(path), dir, name);
                if (r == 0)
                        r = util_file_write(path, json_string_value(v), json_string_length(v), 0600);
                if (r < 0) {
                        outcome_fail(o, "cannot write the extra rule '%s': %s", path, strerror(-r));
                        return r;
                }
        }
        return 0;
}

/* The folder packs are found in: the first rules folder the agent started
 * with, else VIGIL_RULES_DIR. */
static const char *packs_base(const struct agent_config *c)
{
        return c->n_start_rules ? c->start_rules[0] : VIGIL_RULES_DIR;
}

/* The rule paths of a verified bundle (NULL: the rules the agent started
 * with) into paths. Returns the count or a negative errno with o filled. */
static int rule_paths(struct agent_config *c, const json_t *bundle, char **paths, struct outcome *o)
{
        const json_t *packs = json_object_get(bundle, "rule_packs"), *rules = json_object_get(bundle, "extra_rules");
        char dir[4200], p[4400];
        size_t n = 0, i;
        const json_t *v;
        int r;

        json_array_foreach(packs, i, v) {
                struct stat sb;

                if (util_path_join(p, sizeof(p), packs_base(c), json_string_value(v)) < 0 || stat(p, &sb) < 0 ||
                    !S_ISDIR(sb.st_mode)) {
                        outcome_fail(o, "rule pack '%s' is not a folder of '%s'", json_string_value(v), packs_base(c));
                        paths_free(paths, n);
                        return -ENOENT;
                }
                paths[n++] = strdup(p);
        }
        /* extra rules only: with the rules the agent started with */
        if (!json_array_size(packs))
                for (i = 0; bundle && i < c->n_start_rules && n < AGENT_RULES_MAX; i++)
                        paths[n++] = strdup(c->start_rules[i]);
        if (!json_array_size(packs) && bundle && !c->n_start_rules)
                paths[n++] = strdup(VIGIL_RULES_DIR);
        if (json_array_size(rules)) {
                r = rules_write(c, rules, dir, sizeof(dir), o);
                if (r < 0) {
                        paths_free(paths, n);
                        return r;
                }
                paths[n++] = strdup(dir);
        }
        for (i = 0; i < n; i++)
                if (!paths[i]) {
                        paths_free(paths, n);
                        outcome_fail(o, "out of memory");
                        return -ENOMEM;
                }
        return (int)n;
}

/* Verifies the rules of d and loads them (or, without, the rules the agent
 * started with) into detection. Returns 0 or a negative errno with o filled. */
static int apply_rules(struct agent_config *c, const struct agent_config_doc *d, struct outcome *o)
{
        char *ca = NULL, path[4200], err[256], *paths[PATHS_MAX];
        uint8_t *sig = NULL;
        size_t ca_len = 0, sig_size;
        json_t *bundle = NULL;
        int r, n;

        if (d->bundle) {
                sig_size = strlen(d->signature);
                sig = malloc(sig_size + 1);
                r = agent_state_path(&c->state, "server-ca.pem", path, sizeof(path));
                if (r == 0)
                        r = util_file_read(path, CRYPTO_PEM_MAX, &ca, &ca_len);
                if (r == 0 && sig)
                        r = util_b64url_decode(d->signature, sig_size, sig, sig_size);
                if (r >= 0 && sig)
                        r = crypto_signed_verify(ca, ca_len, d->certificate, strlen(d->certificate), d->bundle,
                                                 strlen(d->bundle), sig, (size_t)r, util_now());
                free(ca);
                free(sig);
                if (r < 0 || !sig) {
                        outcome_fail(o, "the rules bundle's signature does not verify against the server CA "
                                     "(%s): its rules are not loaded", strerror(r < 0 ? -r : ENOMEM));
                        return r < 0 ? r : -ENOMEM;
                }
                r = agent_config_bundle_parse(d->bundle, strlen(d->bundle), &bundle, err, sizeof(err));
                if (r < 0) {
                        outcome_fail(o, "%s", err);
                        return r;
                }
        }
        n = rule_paths(c, bundle, paths, o);
        json_decref(bundle);
        if (n < 0)
                return n;
        r = agent_detect_reload(c->rd, (const char *const *)paths, (size_t)n);
        if (r < 0) {
                paths_free(paths, (size_t)n);
                outcome_fail(o, "the rules do not load: %s (the rules before stay)", strerror(-r));
                return r;
        }
        paths_free(c->paths, c->n_paths);
        memcpy(c->paths, paths, (size_t)n * sizeof(paths[0]));
        c->n_paths = (size_t)n;
        agent_log("info", "detection rules reloaded from the configuration (%d folders)", n);
        return 0;
}

static bool same_member(const json_t *a, const json_t *b, const char *key)
{
        const json_t *x = json_object_get(a, key), *y = json_object_get(b, key);

        return (!x && !y) || (x && y && json_equal((json_t *)x, (json_t *)y));
}

/* Heartbeat, upload delay and rules. Returns false when the rules failed
 * (old's stay). */
static bool apply_sensor(struct agent_config *c, const struct agent_config_doc *d, const json_t *old, bool first,
                         struct outcome *o)
{
        atomic_store(&c->heartbeat_s, d->heartbeat_s);
        alert_uplink_set_linger(c->uplink, d->linger_ms);
        if (!c->rd) {
                if (d->bundle)
                        outcome_fail(o, "detection rules cannot be loaded: this agent runs without detection");
                return true;
        }
        /* at start detection runs the rules it started with already */
        if (first ? !d->bundle : same_member(d->root, old, "rules"))
                return true;
        return apply_rules(c, d, o) == 0;
}

/* Installs, replaces or removes network protection. Returns false when it
 * failed (what was installed stays). */
static bool apply_netprotect(struct agent_config *c, const struct agent_config_doc *d, const json_t *old,
                             struct outcome *o)
{
        const json_t *was = json_object_get(json_object_get(old, "settings"), "network_protection");
        struct netprotect_policy *p = NULL;
        char err[512], path[4200], *text;
        struct stat sb;
        int r;

        agent_state_path(&c->state, NETPROTECT_STATE_FILE, path, sizeof(path));
        if (!d->netprotect) {
                if (stat(path, &sb) < 0)
                        return true;
                r = netprotect_remove(c->state.dir, err, sizeof(err));
                if (r < 0)
                        outcome_fail(o, "cannot remove network protection: %s", err);
                else
                        agent_log("info", "network protection removed: no profile gives it any more");
                return r == 0;
        }
        if (was && json_equal((json_t *)was, (json_t *)d->netprotect) && stat(path, &sb) == 0)
                return true;
        text = json_dumps(d->netprotect, JSON_COMPACT);
        r = text ? netprotect_policy_parse(text, strlen(text), &p, err, sizeof(err)) : -ENOMEM;
        free(text);
        if (r == 0)
                r = netprotect_policy_set_server(p, c->state.server_url, err, sizeof(err));
        if (r == 0)
                r = netprotect_apply(c->state.dir, p, err, sizeof(err));
        if (r < 0)
                outcome_fail(o, "network protection not applied: %s", r == -ENOMEM ? "out of memory" : err);
        else
                agent_log("info", "network protection applied: %zu entries%s", p->n,
                          p->audit_only ? " (audit only)" : "");
        netprotect_policy_free(p);
        c->next_report_ms = 0;
        return r == 0;
}

/* Applies d over what old (NULL: nothing yet) applied, leaving in d->root
 * what is in force afterwards (a failed area keeps old's). first: at start. */
static void apply(struct agent_config *c, struct agent_config_doc *d, const json_t *old, bool at_start,
                  struct outcome out[AREA_COUNT])
{
        json_t *settings = json_object_get(d->root, "settings");
        const json_t *was = json_object_get(old, "settings");
        char err[256];

        held_fill(d->root, d, old);
        /* the held settings and rules now have old's values (checked when
         * old was); what d pointed to may be gone */
        d->bundle = d->signature = d->certificate = NULL;
        if (settings_read(d, err, sizeof(err)) < 0 ||
            rules_read(json_object_get(d->root, "rules"), d, err, sizeof(err)) < 0)
                agent_log("warning", "configuration: a held setting kept its default: %s", err);
        apply_threat_defense(c, d, &out[AREA_THREAT_DEFENSE]);
        if (!apply_sensor(c, d, old, at_start || !old, &out[AREA_SENSOR])) {
                if (json_object_get(old, "rules"))
                        json_object_set(d->root, "rules", json_object_get(old, "rules"));
                else
                        json_object_del(d->root, "rules");
        }
        if (!at_start && !apply_netprotect(c, d, old, &out[AREA_NETPROTECT])) {
                if (json_object_get(was, "network_protection"))
                        json_object_set(settings, "network_protection", json_object_get(was, "network_protection"));
                else
                        json_object_del(settings, "network_protection");
        }
}

/* Keeps root as STATE/config.json. */
static void keep(struct agent_config *c, json_t *root)
{
        char path[4200], *text = json_dumps(root, JSON_COMPACT);
        int r = text ? agent_state_path(&c->state, AGENT_CONFIG_FILE, path, sizeof(path)) : -ENOMEM;

        if (r == 0)
                r = util_file_write(path, text, strlen(text), 0600);
        if (r < 0)
                agent_log("warning", "cannot keep the configuration in '%s': %s; it is applied again only once "
                          "the server answers", path, strerror(-r));
        free(text);
}

int agent_config_restore(struct agent_config *c)
{
        struct outcome out[AREA_COUNT] = { 0 };
        struct agent_config_doc d;
        char path[4200], err[512], *text = NULL;
        size_t len;
        json_t *j;
        int r;

        r = agent_state_path(&c->state, AGENT_CONFIG_FILE, path, sizeof(path));
        if (r == 0)
                r = util_file_read(path, AGENT_CONFIG_MAX, &text, &len);
        if (r == -ENOENT)
                return 0;
        j = r == 0 ? json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
        free(text);
        r = r < 0 ? r : j ? agent_config_check(j, &d, err, sizeof(err)) : -EINVAL;
        json_decref(j);
        if (r < 0) {
                agent_log("error", "the configuration kept in '%s' is not one (%s); the agent starts with its "
                          "defaults until the server sends one", path, r == -EINVAL ? err : strerror(-r));
                return r;
        }
        apply(c, &d, NULL, true, out);
        c->applied = json_incref(d.root);
        snprintf(c->version, sizeof(c->version), "%s", d.version);
        for (int a = 1; a < AREA_COUNT; a++)
                if (out[a].failed) {
                        agent_log("warning", "configuration kept: %s", out[a].message);
                        /* not what the server sent: fetch it again */
                        c->version[0] = '\0';
                }
        agent_log("info", "configuration %.12s applied from '%s'", d.version, path);
        agent_config_doc_release(&d);
        return 1;
}

/* POST /agent/v1/config/status with one result per profile. */
static int report(struct httpc *http, const struct agent_config_doc *d, const struct outcome out[AREA_COUNT])
{
        json_t *results = json_array(), *body, *resp = NULL;
        char err[512], *text;
        long st = 0;
        int r;

        for (size_t i = 0; i < d->n_profiles; i++) {
                const struct agent_config_profile *p = &d->profiles[i];
                const struct outcome *o = p->type > 0 && p->type < AREA_COUNT ? &out[p->type] : NULL;

                if (p->conflict || !o)
                        continue;
                json_array_append_new(results, json_pack("{s:s,s:I,s:s,s:s}", "profile_id", p->id, "version",
                                                         (json_int_t)p->version, "status",
                                                         o->failed ? "failed" : "succeeded", "message", o->message));
        }
        body = json_pack("{s:s,s:o}", "version", d->version, "results", results);
        text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        if (!text)
                return -ENOMEM;
        r = httpc_request(http, "POST", "/agent/v1/config/status", NULL, text, strlen(text), &st, &resp, err,
                          sizeof(err));
        free(text);
        json_decref(resp);
        if (r < 0 || st != 200) {
                agent_log("warning", "configuration: cannot report its status: %s",
                          r < 0 ? err : "the server refused the report");
                return r < 0 ? r : -EPROTO;
        }
        return 0;
}

int agent_config_sync(struct agent_config *c, struct httpc *http, const char *server_version)
{
        struct outcome out[AREA_COUNT] = { 0 };
        struct agent_config_doc d;
        char err[512];
        json_t *resp = NULL;
        long st = 0;
        int r;

        if (!server_version || strcmp(server_version, c->version) == 0)
                return 0;
        r = httpc_request(http, "GET", "/agent/v1/config", NULL, NULL, 0, &st, &resp, err, sizeof(err));
        if (r < 0) {
                agent_log("warning", "configuration: server unreachable: %s", err);
                return r;
        }
        if (st == 403) {
                json_decref(resp);
                return -EACCES;
        }
        r = st == 200 && resp ? agent_config_check(resp, &d, err, sizeof(err)) : -EPROTO;
        json_decref(resp);
        if (r < 0) {
                agent_log("warning", "configuration refused: %s", r == -EINVAL ? err : httpc_error_message(NULL, st));
                return r;
        }
        apply(c, &d, c->applied, false, out);
        keep(c, d.root);
        json_decref(c->applied);
        c->applied = json_incref(d.root);
        snprintf(c->version, sizeof(c->version), "%s", d.version);
        for (int a = 1; a < AREA_COUNT; a++)
                if (out[a].failed)
                        agent_log("warning", "configuration %.12s: %s", d.version, out[a].message);
        agent_log("info", "configuration %.12s applied (%zu profiles)", d.version, d.n_profiles);
        report(http, &d, out);
        agent_config_doc_release(&d);
        return 0;
}

long agent_config_report_tick(struct agent_config *c, struct httpc *http)
{
        json_t *rep = NULL, *resp = NULL;
        char err[512], *text;
        long st = 0;
        int64_t now = util_mono_ms();
        int r;

        if (!json_object_get(json_object_get(c->applied, "settings"), "network_protection"))
                return 0;
        if (now < c->next_report_ms)
                return (long)((c->next_report_ms - now) / 1000) + 1;
        c->next_report_ms = now + AGENT_CONFIG_REPORT_S * 1000;
        r = netprotect_report(c->state.dir, &rep, err, sizeof(err));
        if (r < 0 || !rep) {
                if (r < 0)
                        agent_log("warning", "network protection: cannot read the report: %s", err);
                return AGENT_CONFIG_REPORT_S;
        }
        text = json_dumps(rep, JSON_COMPACT);
        json_decref(rep);
        r = text ? httpc_request(http, "POST", "/agent/v1/config/netprotect-report", NULL, text, strlen(text), &st,
                                 &resp, err, sizeof(err)) : -ENOMEM;
        free(text);
        json_decref(resp);
        if (r < 0 || st != 200)
                agent_log("warning", "network protection: cannot upload the report: %s",
                          r < 0 ? err : "the server refused it");
        return AGENT_CONFIG_REPORT_S;
}
