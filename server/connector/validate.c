/* connector validate: the pure part of the connector — names of levels,
 * states and partners, the state machine, and the checks of the settings
 * body and of the partner's risk bodies (outside input, fuzzed). */
#include "server/connector/connector.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "server/defend/defend.h"
#include "util/strutil.h"

static const char *const level_names[] = { "none", "informational", "low", "medium", "high" };
static const char *const state_names[] = { "unavailable", "available", "enabled", "unresponsive" };
static const char *const partner_names[] = { "builtin", "remote" };
const char *const connector_platform_names[] = { "linux", NULL };

_Static_assert((int)CONNECTOR_LEVEL_HIGH == (int)DEFEND_LEVEL_HIGH &&
               (int)CONNECTOR_LEVEL_NONE == (int)DEFEND_LEVEL_NONE, "levels share defend's numbers");

#define N(a) (sizeof(a) / sizeof((a)[0]))

const char *connector_level_name(enum connector_level l)
{
        return (unsigned)l < N(level_names) ? level_names[l] : "none";
}

int connector_level_parse(const char *s, enum connector_level *ret)
{
        for (size_t i = 0; s && i < N(level_names); i++)
                if (strcmp(s, level_names[i]) == 0) {
                        *ret = (enum connector_level)i;
                        return 0;
                }
        return -EINVAL;
}

const char *connector_state_name(enum connector_state s)
{
        return (unsigned)s < N(state_names) ? state_names[s] : "unavailable";
}

const char *connector_partner_name(enum connector_partner p)
{
        return (unsigned)p < N(partner_names) ? partner_names[p] : "builtin";
}

int connector_partner_parse(const char *s, enum connector_partner *ret)
{
        for (size_t i = 0; s && i < N(partner_names); i++)
                if (strcmp(s, partner_names[i]) == 0) {
                        *ret = (enum connector_partner)i;
                        return 0;
                }
        return -EINVAL;
}

/* "25h", "3d", "90s" for reasons: the largest whole unit. */
static void duration_text(int64_t s, char *out, size_t size)
{
        if (s >= 86400 && s % 86400 == 0)
                snprintf(out, size, "%lldd", (long long)(s / 86400));
        else if (s >= 3600)
                snprintf(out, size, "%lldh", (long long)(s / 3600));
        else if (s >= 60)
                snprintf(out, size, "%lldm", (long long)(s / 60));
        else
                snprintf(out, size, "%llds", (long long)s);
}

enum connector_state connector_state_compute(const struct connector_settings *s, int64_t last_heartbeat,
                                             int64_t now, char *reason, size_t reason_size)
{
        char since[21], silent[32], limit[32];

        if (s->partner == CONNECTOR_PARTNER_REMOTE && last_heartbeat <= 0) {
                snprintf(reason, reason_size, "the remote partner has never connected");
                return CONNECTOR_UNAVAILABLE;
        }
        if (s->partner == CONNECTOR_PARTNER_REMOTE && now - last_heartbeat > s->unresponsive_after) {
                util_time_format(last_heartbeat + s->unresponsive_after, since);
                duration_text(now - last_heartbeat, silent, sizeof(silent));
                duration_text(s->unresponsive_after, limit, sizeof(limit));
                snprintf(reason, reason_size, "partner unresponsive since %s; no heartbeat for %s "
                         "(partner_unresponsive_after is %s)", since, silent, limit);
                return CONNECTOR_UNRESPONSIVE;
        }
        if (s->platforms == 0) {
                snprintf(reason, reason_size, "the %s partner is connected but enabled for no platform",
                         connector_partner_name(s->partner));
                return CONNECTOR_AVAILABLE;
        }
        if (reason_size)
                reason[0] = '\0';
        return CONNECTOR_ENABLED;
}

static bool only_members(const json_t *o, const char *const *allowed, char *err, size_t err_size)
{
        const char *key;
        json_t *v;

        json_object_foreach((json_t *)o, key, v) {
                size_t i;
                for (i = 0; allowed[i] && strcmp(allowed[i], key) != 0; i++)
                        ;
                if (!allowed[i]) {
                        snprintf(err, err_size, "unknown member '%.64s'", key);
                        return false;
                }
        }
        return true;
}

static int platforms_check(const json_t *arr, uint32_t *ret, char *err, size_t err_size)
{
        uint32_t bits = 0;
        const json_t *v;
        size_t i, k;

        if (!json_is_array(arr)) {
                snprintf(err, err_size, "'enabled_platforms' must be an array of platform names (linux)");
                return -EINVAL;
        }
        json_array_foreach(arr, i, v) {
                for (k = 0; connector_platform_names[k] && json_is_string(v) &&
                            strcmp(connector_platform_names[k], json_string_value(v)) != 0; k++)
                        ;
                if (!json_is_string(v) || !connector_platform_names[k]) {
                        snprintf(err, err_size, "enabled_platforms[%zu]: not a known platform; the platforms are: linux",
                                 i);
                        return -EINVAL;
                }
                if (bits & (1u << k)) {
                        snprintf(err, err_size, "enabled_platforms[%zu]: '%s' is listed twice", i,
                                 connector_platform_names[k]);
                        return -EINVAL;
                }
                bits |= 1u << k;
        }
        *ret = bits;
        return 0;
}

int connector_settings_check(const json_t *body, const struct connector_settings *cur,
                             struct connector_settings *ret, char *err, size_t err_size)
{
        static const char *const members[] = { "partner", "enabled_platforms", "partner_unresponsive_after",
                                               "block_on_missing_partner_data", NULL };
        struct connector_settings s = *cur;
        const json_t *v;

        if (!json_is_object(body) || json_object_size(body) == 0) {
                snprintf(err, err_size, "the body must be a JSON object with at least one of partner, "
                         "enabled_platforms, partner_unresponsive_after, block_on_missing_partner_data");
                return -EINVAL;
        }
        if (!only_members(body, members, err, err_size))
                return -EINVAL;
        v = json_object_get(body, "partner");
        if (v && connector_partner_parse(json_string_value(v), &s.partner) < 0) {
                snprintf(err, err_size, "'partner' must be 'builtin' or 'remote'");
                return -EINVAL;
        }
        v = json_object_get(body, "enabled_platforms");
        if (v && platforms_check(v, &s.platforms, err, err_size) < 0)
                return -EINVAL;
        v = json_object_get(body, "partner_unresponsive_after");
        if (v && (!json_is_string(v) || json_string_length(v) > 32 ||
                  util_duration_parse(json_string_value(v), &s.unresponsive_after) < 0 ||
                  s.unresponsive_after < CONNECTOR_UNRESPONSIVE_MIN ||
                  s.unresponsive_after > CONNECTOR_UNRESPONSIVE_MAX)) {
                snprintf(err, err_size, "'partner_unresponsive_after' must be a duration from 1s to 30d "
                         "(\"90s\", \"15m\", \"24h\", \"7d\")");
                return -EINVAL;
        }
        v = json_object_get(body, "block_on_missing_partner_data");
        if (v && !json_is_boolean(v)) {
                snprintf(err, err_size, "'block_on_missing_partner_data' must be true or false");
                return -EINVAL;
        }
        if (v)
                s.block_on_missing = json_is_true(v);
        *ret = s;
        return 0;
}

static bool id_ok(const char *s)
{
        return s && util_str_printable(s, CONNECTOR_DEVICE_ID_MAX) && !strchr(s, '/');
}

/* Checks one device's {risk, as_of, reasons?} (plus id in a batch); where
 * names it in errors. */
static int update_check(const json_t *o, const char *device_id, int64_t now_ns, struct connector_update *u,
                        const char *where, char *err, size_t err_size)
{
        static const char *const single[] = { "risk", "as_of", "reasons", NULL };
        static const char *const batch[] = { "id", "risk", "as_of", "reasons", NULL };
        const char *as_of;
        const json_t *v;
        size_t i;

        if (!json_is_object(o)) {
                snprintf(err, err_size, "%smust be an object {\"risk\", \"as_of\", \"reasons\"}", where);
                return -EINVAL;
        }
        if (!only_members(o, device_id ? single : batch, err, err_size))
                return -EINVAL;
        u->device_id = device_id ? device_id : json_string_value(json_object_get(o, "id"));
        if (!id_ok(u->device_id)) {
                snprintf(err, err_size, "%s'id' must be a Vigil device id", where);
                return -EINVAL;
        }
        if (connector_level_parse(json_string_value(json_object_get(o, "risk")), &u->level) < 0) {
                snprintf(err, err_size, "%s'risk' must be one of none, informational, low, medium, high", where);
                return -EINVAL;
        }
        as_of = json_string_value(json_object_get(o, "as_of"));
        if (!as_of || strlen(as_of) > 64 || defend_time_parse(as_of, &u->as_of) < 0) {
                snprintf(err, err_size, "%s'as_of' must be an RFC 3339 time (\"2026-11-30T06:00:00Z\")", where);
                return -EINVAL;
        }
        if (u->as_of > now_ns + CONNECTOR_FUTURE_SKEW_NS) {
                snprintf(err, err_size, "%s'as_of' %s is in the future (more than 5 minutes ahead of the "
                         "server's clock)", where, as_of);
                return -EINVAL;
        }
        u->reasons = v = json_object_get(o, "reasons");
        if (v && (!json_is_array(v) || json_array_size(v) > CONNECTOR_REASONS_MAX)) {
                snprintf(err, err_size, "%s'reasons' must be an array of at most %d strings", where,
                         CONNECTOR_REASONS_MAX);
                return -EINVAL;
        }
        json_array_foreach(v, i, o)
                if (!json_is_string(o) || !util_str_is_text(json_string_value(o), CONNECTOR_REASON_TEXT_MAX)) {
                        snprintf(err, err_size, "%sreasons[%zu] must be text of 1 to %d bytes without control "
                                 "characters", where, i, CONNECTOR_REASON_TEXT_MAX);
                        return -EINVAL;
                }
        return 0;
}

static int batch_check(const json_t *body, int64_t now_ns, struct connector_update *ret, size_t *ret_n,
                       char *err, size_t err_size)
{
        static const char *const members[] = { "devices", NULL };
        const json_t *arr = json_object_get(body, "devices"), *v;
        char where[48];
        size_t i;

        if (!only_members(body, members, err, err_size))
                return -EINVAL;
        if (!json_is_array(arr) || json_array_size(arr) == 0) {
                snprintf(err, err_size, "'devices' must be a non-empty array of {\"id\", \"risk\", \"as_of\"}");
                return -EINVAL;
        }
        if (json_array_size(arr) > CONNECTOR_BATCH_MAX) {
                snprintf(err, err_size, "%zu devices in one batch; at most %d", json_array_size(arr),
                         CONNECTOR_BATCH_MAX);
                return -E2BIG;
        }
        json_array_foreach(arr, i, v) {
                snprintf(where, sizeof(where), "devices[%zu]: ", i);
                if (update_check(v, NULL, now_ns, &ret[i], where, err, err_size) < 0)
                        return -EINVAL;
                for (size_t k = 0; k < i; k++)
                        if (strcmp(ret[k].device_id, ret[i].device_id) == 0) {
                                snprintf(err, err_size, "devices[%zu]: device '%s' is listed already, at "
                                         "devices[%zu]", i, ret[i].device_id, k);
                                return -EINVAL;
                        }
        }
        *ret_n = json_array_size(arr);
        return 0;
}

int connector_partner_body_parse(const char *body, size_t len, const char *device_id, int64_t now_ns,
                                 struct connector_update ret[static CONNECTOR_BATCH_MAX], size_t *ret_n,
                                 json_t **ret_json, char *err, size_t err_size)
{
        json_error_t jerr;
        json_t *j;
        int r;

        if (len > CONNECTOR_BODY_MAX) {
                snprintf(err, err_size, "the body is %zu bytes; at most %d", len, CONNECTOR_BODY_MAX);
                return -E2BIG;
        }
        if (device_id && !id_ok(device_id)) {
                snprintf(err, err_size, "the path does not name a Vigil device id");
                return -EINVAL;
        }
        j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!j) {
                snprintf(err, err_size, "the body is not JSON: %s (at byte %d)", jerr.text, jerr.position);
                return -EINVAL;
        }
        if (!json_is_object(j)) {
                snprintf(err, err_size, "the body must be a JSON object");
                r = -EINVAL;
        } else if (device_id) {
                r = update_check(j, device_id, now_ns, &ret[0], "", err, err_size);
                if (r == 0)
                        *ret_n = 1;
        } else {
                r = batch_check(j, now_ns, ret, ret_n, err, err_size);
        }
        if (r < 0) {
                json_decref(j);
                return r;
        }
        *ret_json = j;
        return 0;
}
