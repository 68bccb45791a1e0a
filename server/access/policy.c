/* access policy: parsing and checking of named locations and conditional
 * access policies, and their evaluation against one request. Parsing
 * copies everything a policy needs (strings, ranges of its locations, the
 * compiled device filter) into the policy, so evaluation reads only the
 * policy and the request and allocates nothing. */
#include "server/access/policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/strutil.h"

#define PATH_MAX_LEN 96

/* Hashes of strings compared on every evaluation, so most comparisons
 * end without reading the strings. */
struct entry {
        char *s;
        uint32_t exact;                 /* hash of s */
        uint32_t folded;                /* hash of s in lower case */
};

struct app {
        char *name;
        char *host;                     /* lower case */
        char *path_prefix;
        size_t prefix_len;
};

struct access_policy {
        char name[ACCESS_NAME_MAX + 1];
        enum access_state state;
        bool users_all;
        struct entry *users_include;
        size_t n_users_include;
        struct entry *users_exclude;
        size_t n_users_exclude;
        bool apps_all;
        struct app *apps;
        size_t n_apps;
        uint32_t app_hash[ACCESS_APPS_MAX];     /* apps[i].host hashed, here to spare a cache miss per policy */
        bool has_platforms;             /* conditions.platforms given (linux, the only platform) */
        bool loc_all;                   /* locations.include has "all" or is absent */
        struct access_range *loc_include;
        size_t n_loc_include;
        struct access_range *loc_exclude;
        size_t n_loc_exclude;
        struct manage_expr *filter;
        bool block;
        bool need_compliant;
        bool need_enrolled;
        bool operator_or;
};

/* The request's strings hashed once per evaluation. */
struct request_keys {
        uint32_t host;                  /* folded */
        uint32_t user_id;               /* exact */
        uint32_t upn;                   /* folded */
};

/* FNV-1a of s, folding ASCII upper case when fold. */
static uint32_t hash(const char *s, bool fold)
{
        uint32_t h = 2166136261u;

        for (; s && *s; s++) {
                unsigned char c = (unsigned char)*s;

                if (fold && c >= 'A' && c <= 'Z')
                        c = (unsigned char)(c - 'A' + 'a');
                h = (h ^ c) * 16777619u;
        }
        return h;
}

static const char *const result_names[] = { "success", "failure", "not_applied", "report_only_success",
                                            "report_only_failure", "report_only_not_applied" };
static const char *const state_names[] = { "enabled", "disabled", "report_only" };
static const char *const control_names[] = { "none", "block", "compliant_device", "enrolled_device",
                                             "device_identity", "user_identity" };

const char *access_result_name(enum access_result r)
{
        return (unsigned)r < sizeof(result_names) / sizeof(result_names[0]) ? result_names[r] : NULL;
}

const char *access_state_name(enum access_state s)
{
        return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : NULL;
}

const char *access_control_name(enum access_control c)
{
        return (unsigned)c < sizeof(control_names) / sizeof(control_names[0]) ? control_names[c] : NULL;
}

/* A JSON string without NUL bytes of 1..max bytes of text, or NULL. */
static const char *text_of(const json_t *v, size_t max)
{
        const char *s = json_string_value(v);

        if (!s || strlen(s) != json_string_length(v) || !s[0] || strlen(s) > max || !util_str_is_text(s, max))
                return NULL;
        return s;
}

/* Refuses members of obj not in keys (NULL-terminated). */
static int keys_check(const json_t *obj, const char *prefix, const char *const *keys, char *err, size_t err_size)
{
        char path[PATH_MAX_LEN + 80];
        const char *key;
        json_t *v;

        json_object_foreach((json_t *)obj, key, v) {
                size_t i;

                for (i = 0; keys[i] && strcmp(keys[i], key) != 0; i++)
                        ;
                if (keys[i])
                        continue;
                snprintf(path, sizeof(path), "%s%.64s", prefix, util_str_is_text(key, 64) ? key : "?");
                return util_path_fail(err, err_size, path, "unknown field");
        }
        return 0;
}

int access_ip_parse(const char *s, struct access_ip *ret)
{
        struct access_ip ip = { 0 };

        if (inet_pton(AF_INET, s, ip.addr) == 1)
                ip.family = 4;
        else if (inet_pton(AF_INET6, s, ip.addr) == 1)
                ip.family = 6;
        else
                return -EINVAL;
        *ret = ip;
        return 0;
}

/* True if ip lies in r. */
static bool range_contains(const struct access_range *r, const struct access_ip *ip)
{
        size_t full = r->prefix / 8;
        unsigned rest = r->prefix % 8;

        if (ip->family != r->net.family)
                return false;
        if (memcmp(ip->addr, r->net.addr, full) != 0)
                return false;
        return rest == 0 || ((ip->addr[full] ^ r->net.addr[full]) & (0xffu << (8 - rest)) & 0xffu) == 0;
}

/* "10.0.0.0/8", "2001:db8::/32" or a bare address (/32, /128). */
static int range_parse(const char *s, const char *path, struct access_range *ret, char *err, size_t err_size)
{
        char addr[INET6_ADDRSTRLEN + 1];
        const char *slash = strchr(s, '/');
        size_t alen = slash ? (size_t)(slash - s) : strlen(s);
        struct access_range r = { 0 };
        uint64_t prefix;
        unsigned max;

        if (alen >= sizeof(addr))
                return util_path_fail(err, err_size, path, "'%.64s' is not an address range (CIDR such as 10.0.0.0/8)", s);
        memcpy(addr, s, alen);
        addr[alen] = '\0';
        if (access_ip_parse(addr, &r.net) < 0)
                return util_path_fail(err, err_size, path, "'%.64s' is not an address range (CIDR such as 10.0.0.0/8)", s);
        max = r.net.family == 4 ? 32 : 128;
        prefix = max;
        if (slash && util_uint_parse(slash + 1, max, &prefix) < 0)
                return util_path_fail(err, err_size, path, "'%.64s': the prefix length must be 0 to %u", s, max);
        r.prefix = (uint8_t)prefix;
        for (unsigned bit = r.prefix; bit < max; bit++)
                if (r.net.addr[bit / 8] & (0x80u >> (bit % 8)))
                        return util_path_fail(err, err_size, path, "'%.64s' has host bits set past /%u", s, r.prefix);
        *ret = r;
        return 0;
}

static int doc_load(const char *doc, size_t len, json_t **ret, char *err, size_t err_size)
{
        json_error_t je;
        json_t *j;

        if (len > ACCESS_DOC_MAX) {
                util_path_fail(err, err_size, "(document)", "%zu bytes, more than %d", len, ACCESS_DOC_MAX);
                return -E2BIG;
        }
        j = json_loadb(doc, len, JSON_REJECT_DUPLICATES, &je);
        if (!j)
                return util_path_fail(err, err_size, "(document)", "not JSON: %s at line %d column %d", je.text, je.line,
                            je.column);
        if (!json_is_object(j)) {
                json_decref(j);
                return util_path_fail(err, err_size, "(document)", "must be a JSON object");
        }
        *ret = j;
        return 0;
}

int access_location_parse(const char *doc, size_t len, struct access_location *ret, char *err, size_t err_size)
{
        static const char *const keys[] = { "id", "ranges", "trusted", NULL };
        struct access_location *l;
        char path[PATH_MAX_LEN];
        const json_t *v, *rv;
        const char *id;
        json_t *j;
        size_t i;
        int r;

        r = doc_load(doc, len, &j, err, err_size);
        if (r < 0)
                return r;
        l = calloc(1, sizeof(*l));
        if (!l) {
                r = -ENOMEM;
                goto out;
        }
        r = keys_check(j, "", keys, err, err_size);
        if (r < 0)
                goto out;
        id = text_of(json_object_get(j, "id"), ACCESS_NAME_MAX);
        if (!id || strcmp(id, "all") == 0 || strcmp(id, "trusted") == 0) {
                r = util_path_fail(err, err_size, "id", "required: a name of 1 to %d bytes, not \"all\" or \"trusted\"",
                         ACCESS_NAME_MAX);
                goto out;
        }
        snprintf(l->id, sizeof(l->id), "%s", id);
        v = json_object_get(j, "trusted");
        if (v && !json_is_boolean(v)) {
                r = util_path_fail(err, err_size, "trusted", "must be true or false");
                goto out;
        }
        l->trusted = json_is_true(v);
        v = json_object_get(j, "ranges");
        if (!json_is_array(v) || json_array_size(v) == 0) {
                r = util_path_fail(err, err_size, "ranges", "required: a non-empty list of CIDR ranges");
                goto out;
        }
        if (json_array_size(v) > ACCESS_LOCATION_RANGES_MAX) {
                util_path_fail(err, err_size, "ranges", "more than %d ranges", ACCESS_LOCATION_RANGES_MAX);
                r = -E2BIG;
                goto out;
        }
        json_array_foreach(v, i, rv) {
                const char *s = text_of(rv, 64);

                snprintf(path, sizeof(path), "ranges[%zu]", i);
                if (!s) {
                        r = util_path_fail(err, err_size, path, "must be a CIDR range such as 10.0.0.0/8");
                        goto out;
                }
                r = range_parse(s, path, &l->ranges[i], err, err_size);
                if (r < 0)
                        goto out;
        }
        l->n_ranges = json_array_size(v);
        *ret = *l;
        r = 0;
out:
        free(l);
        json_decref(j);
        return r;
}

/* A list of strings at obj.key into a new array; "all" sets *all when
 * all != NULL and is refused otherwise. Absent is an empty list. */
static int id_list(const json_t *obj, const char *key, const char *prefix, bool *all, struct entry **ret, size_t *ret_n,
                   char *err, size_t err_size)
{
        const json_t *v = json_object_get(obj, key), *e;
        char path[PATH_MAX_LEN];
        size_t i;

        snprintf(path, sizeof(path), "%s%s", prefix, key);
        if (!v)
                return 0;
        if (!json_is_array(v))
                return util_path_fail(err, err_size, path, "must be a list of user or group ids");
        if (json_array_size(v) > ACCESS_USERS_MAX) {
                util_path_fail(err, err_size, path, "more than %d entries", ACCESS_USERS_MAX);
                return -E2BIG;
        }
        *ret = calloc(json_array_size(v) + 1, sizeof(**ret));
        if (!*ret)
                return -ENOMEM;
        json_array_foreach(v, i, e) {
                const char *s = text_of(e, ACCESS_ID_MAX);

                snprintf(path, sizeof(path), "%s%s[%zu]", prefix, key, i);
                if (!s)
                        return util_path_fail(err, err_size, path, "must be a user id, UPN or group id of 1 to %d bytes",
                                    ACCESS_ID_MAX);
                if (strcmp(s, "all") == 0) {
                        if (!all)
                                return util_path_fail(err, err_size, path, "\"all\" is not allowed here");
                        *all = true;
                        continue;
                }
                (*ret)[*ret_n] = (struct entry){ .s = strdup(s), .exact = hash(s, false), .folded = hash(s, true) };
                if (!(*ret)[*ret_n].s)
                        return -ENOMEM;
                (*ret_n)++;
        }
        return 0;
}

static int users_parse(const json_t *j, struct access_policy *p, char *err, size_t err_size)
{
        static const char *const keys[] = { "include", "exclude", NULL };
        const json_t *u = json_object_get(j, "users");
        int r;

        if (!json_is_object(u))
                return util_path_fail(err, err_size, "users", "required: an object with include (and exclude)");
        r = keys_check(u, "users.", keys, err, err_size);
        if (r < 0)
                return r;
        if (!json_object_get(u, "include"))
                return util_path_fail(err, err_size, "users.include", "required: [\"all\"] or user and group ids");
        r = id_list(u, "include", "users.", &p->users_all, &p->users_include, &p->n_users_include, err, err_size);
        if (r < 0)
                return r;
        if (!p->users_all && p->n_users_include == 0)
                return util_path_fail(err, err_size, "users.include", "empty: the policy would apply to nobody");
        return id_list(u, "exclude", "users.", NULL, &p->users_exclude, &p->n_users_exclude, err, err_size);
}

static int app_parse(const json_t *a, size_t idx, struct app *ret, char *err, size_t err_size)
{
        static const char *const keys[] = { "name", "host", "path_prefix", NULL };
        char prefix[PATH_MAX_LEN], path[PATH_MAX_LEN];
        const char *name, *host, *pp = "/";
        int r;

        snprintf(prefix, sizeof(prefix), "applications.include[%zu].", idx);
        r = keys_check(a, prefix, keys, err, err_size);
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "%sname", prefix);
        name = text_of(json_object_get(a, "name"), ACCESS_NAME_MAX);
        if (!name)
                return util_path_fail(err, err_size, path, "required: a name of 1 to %d bytes", ACCESS_NAME_MAX);
        snprintf(path, sizeof(path), "%shost", prefix);
        host = text_of(json_object_get(a, "host"), ACCESS_HOST_MAX);
        if (!host || strpbrk(host, " /:@"))
                return util_path_fail(err, err_size, path, "required: a host name without port, such as wiki.example.com");
        if (json_object_get(a, "path_prefix")) {
                snprintf(path, sizeof(path), "%spath_prefix", prefix);
                pp = text_of(json_object_get(a, "path_prefix"), ACCESS_PATH_MAX);
                if (!pp || pp[0] != '/')
                        return util_path_fail(err, err_size, path, "must be a path starting with /");
        }
        ret->name = strdup(name);
        ret->host = strdup(host);
        ret->path_prefix = strdup(pp);
        if (!ret->name || !ret->host || !ret->path_prefix)
                return -ENOMEM;
        for (char *c = ret->host; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                        *c = (char)(*c - 'A' + 'a');
        ret->prefix_len = strlen(pp);
        return 0;
}

static int apps_parse(const json_t *j, struct access_policy *p, char *err, size_t err_size)
{
        static const char *const keys[] = { "include", NULL };
        const json_t *a = json_object_get(j, "applications"), *inc, *e;
        char path[PATH_MAX_LEN];
        size_t i;
        int r;

        if (!json_is_object(a))
                return util_path_fail(err, err_size, "applications", "required: an object with include");
        r = keys_check(a, "applications.", keys, err, err_size);
        if (r < 0)
                return r;
        inc = json_object_get(a, "include");
        if (!json_is_array(inc) || json_array_size(inc) == 0)
                return util_path_fail(err, err_size, "applications.include",
                            "required: [\"all\"] or a list of {name, host, path_prefix}");
        if (json_array_size(inc) > ACCESS_APPS_MAX) {
                util_path_fail(err, err_size, "applications.include", "more than %d applications", ACCESS_APPS_MAX);
                return -E2BIG;
        }
        p->apps = calloc(json_array_size(inc), sizeof(*p->apps));
        if (!p->apps)
                return -ENOMEM;
        json_array_foreach(inc, i, e) {
                snprintf(path, sizeof(path), "applications.include[%zu]", i);
                if (text_of(e, 3) && strcmp(json_string_value(e), "all") == 0) {
                        p->apps_all = true;
                        continue;
                }
                if (!json_is_object(e))
                        return util_path_fail(err, err_size, path, "must be \"all\" or {name, host, path_prefix}");
                r = app_parse(e, i, &p->apps[p->n_apps], err, err_size);
                if (r >= 0)
                        p->app_hash[p->n_apps] = hash(p->apps[p->n_apps].host, false);
                p->n_apps++;
                if (r < 0)
                        return r;
        }
        return 0;
}

/* How many ranges the locations named in list bring (at least 1, at most
 * one past ACCESS_POLICY_RANGES_MAX: loc_list() refuses more). */
static size_t loc_count(const json_t *list, const struct access_location *locs, size_t n_locs)
{
        const json_t *e;
        size_t i, n = 1;

        json_array_foreach(list, i, e) {
                const char *s = json_string_value(e);
                bool trusted = s && strcmp(s, "trusted") == 0;

                for (size_t k = 0; s && k < n_locs && n <= ACCESS_POLICY_RANGES_MAX; k++)
                        if (trusted ? locs[k].trusted : strcmp(locs[k].id, s) == 0)
                                n += locs[k].n_ranges;
        }
        return n < ACCESS_POLICY_RANGES_MAX ? n : ACCESS_POLICY_RANGES_MAX;
}

/* Copies the ranges of the locations named in obj.key into *ret. */
static int loc_list(const json_t *obj, const char *key, const struct access_location *locs, size_t n_locs,
                    bool *all, struct access_range **ret, size_t *ret_n, char *err, size_t err_size)
{
        const json_t *v = json_object_get(obj, key), *e;
        char path[PATH_MAX_LEN];
        size_t i;

        snprintf(path, sizeof(path), "conditions.locations.%s", key);
        if (!json_is_array(v) || (all && json_array_size(v) == 0))
                return util_path_fail(err, err_size, path, "must be a non-empty list of location ids, \"trusted\"%s",
                            all ? " or \"all\"" : "");
        if (json_array_size(v) > ACCESS_LOCATION_REFS_MAX) {
                util_path_fail(err, err_size, path, "more than %d locations", ACCESS_LOCATION_REFS_MAX);
                return -E2BIG;
        }
        *ret = calloc(loc_count(v, locs, n_locs), sizeof(**ret));
        if (!*ret)
                return -ENOMEM;
        json_array_foreach(v, i, e) {
                const char *s = text_of(e, ACCESS_NAME_MAX);
                bool trusted, found = false;

                snprintf(path, sizeof(path), "conditions.locations.%s[%zu]", key, i);
                if (!s)
                        return util_path_fail(err, err_size, path, "must be a location id");
                if (strcmp(s, "all") == 0) {
                        if (!all)
                                return util_path_fail(err, err_size, path, "\"all\" is not allowed in exclude");
                        *all = true;
                        continue;
                }
                trusted = strcmp(s, "trusted") == 0;
                for (size_t k = 0; k < n_locs; k++) {
                        if (trusted ? !locs[k].trusted : strcmp(locs[k].id, s) != 0)
                                continue;
                        found = true;
                        if (*ret_n + locs[k].n_ranges > ACCESS_POLICY_RANGES_MAX) {
                                util_path_fail(err, err_size, path, "the locations bring more than %d ranges",
                                     ACCESS_POLICY_RANGES_MAX);
                                return -E2BIG;
                        }
                        memcpy(*ret + *ret_n, locs[k].ranges, locs[k].n_ranges * sizeof(**ret));
                        *ret_n += locs[k].n_ranges;
                }
                if (!found && !trusted)
                        return util_path_fail(err, err_size, path, "no named location '%s'", s);
        }
        return 0;
}

static int locations_parse(const json_t *c, const struct access_location *locs, size_t n_locs,
                           struct access_policy *p, char *err, size_t err_size)
{
        static const char *const keys[] = { "include", "exclude", NULL };
        const json_t *l = json_object_get(c, "locations");
        int r;

        p->loc_all = true;
        if (!l)
                return 0;
        if (!json_is_object(l))
                return util_path_fail(err, err_size, "conditions.locations", "must be an object with include (and exclude)");
        r = keys_check(l, "conditions.locations.", keys, err, err_size);
        if (r < 0)
                return r;
        p->loc_all = false;
        r = loc_list(l, "include", locs, n_locs, &p->loc_all, &p->loc_include, &p->n_loc_include, err, err_size);
        if (r < 0 || !json_object_get(l, "exclude"))
                return r;
        return loc_list(l, "exclude", locs, n_locs, NULL, &p->loc_exclude, &p->n_loc_exclude, err, err_size);
}

static int conditions_parse(const json_t *j, const struct access_location *locs, size_t n_locs,
                            struct access_policy *p, char *err, size_t err_size)
{
        static const char *const keys[] = { "platforms", "locations", "device_filter", NULL };
        const json_t *c = json_object_get(j, "conditions"), *v, *e;
        char path[PATH_MAX_LEN], xerr[256];
        size_t i;
        int r;

        p->loc_all = true;
        if (!c)
                return 0;
        if (!json_is_object(c))
                return util_path_fail(err, err_size, "conditions", "must be an object");
        r = keys_check(c, "conditions.", keys, err, err_size);
        if (r < 0)
                return r;
        v = json_object_get(c, "platforms");
        if (v) {
                if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 4)
                        return util_path_fail(err, err_size, "conditions.platforms", "must be a list of platforms: linux");
                json_array_foreach(v, i, e) {
                        snprintf(path, sizeof(path), "conditions.platforms[%zu]", i);
                        if (!text_of(e, 5) || strcmp(json_string_value(e), "linux") != 0)
                                return util_path_fail(err, err_size, path, "unknown platform; known: linux");
                }
                p->has_platforms = true;
        }
        r = locations_parse(c, locs, n_locs, p, err, err_size);
        if (r < 0)
                return r;
        v = json_object_get(c, "device_filter");
        if (!v)
                return 0;
        if (!json_is_string(v))
                return util_path_fail(err, err_size, "conditions.device_filter", "must be an expression in a string");
        r = manage_expr_compile(json_string_value(v), json_string_length(v), &p->filter, xerr, sizeof(xerr));
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                util_path_fail(err, err_size, "conditions.device_filter", "%s", xerr);
                return r;
        }
        return 0;
}

static int grant_parse(const json_t *j, struct access_policy *p, char *err, size_t err_size)
{
        static const char *const keys[] = { "block", "controls", "operator", NULL };
        const json_t *g = json_object_get(j, "grant"), *v, *e;
        char path[PATH_MAX_LEN];
        const char *op;
        size_t i;
        int r;

        if (!json_is_object(g))
                return util_path_fail(err, err_size, "grant", "required: {\"block\": true} or {\"controls\": [...]}");
        r = keys_check(g, "grant.", keys, err, err_size);
        if (r < 0)
                return r;
        v = json_object_get(g, "block");
        if (v) {
                if (!json_is_true(v))
                        return util_path_fail(err, err_size, "grant.block", "must be true (or absent, with controls)");
                if (json_object_get(g, "controls") || json_object_get(g, "operator"))
                        return util_path_fail(err, err_size, "grant", "block excludes controls and operator");
                p->block = true;
                return 0;
        }
        v = json_object_get(g, "controls");
        if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 2)
                return util_path_fail(err, err_size, "grant.controls",
                            "required: a list of compliant_device, enrolled_device (or block: true)");
        json_array_foreach(v, i, e) {
                const char *s = text_of(e, 16);

                snprintf(path, sizeof(path), "grant.controls[%zu]", i);
                if (s && strcmp(s, "compliant_device") == 0 && !p->need_compliant)
                        p->need_compliant = true;
                else if (s && strcmp(s, "enrolled_device") == 0 && !p->need_enrolled)
                        p->need_enrolled = true;
                else
                        return util_path_fail(err, err_size, path, "must be compliant_device or enrolled_device, once each");
        }
        v = json_object_get(g, "operator");
        op = v ? text_of(v, 3) : "and";
        if (!op || (strcmp(op, "and") != 0 && strcmp(op, "or") != 0))
                return util_path_fail(err, err_size, "grant.operator", "must be \"and\" or \"or\"");
        p->operator_or = strcmp(op, "or") == 0;
        return 0;
}

static int head_parse(const json_t *j, struct access_policy *p, char *err, size_t err_size)
{
        const char *name = text_of(json_object_get(j, "name"), ACCESS_NAME_MAX);
        const json_t *v = json_object_get(j, "state");
        const char *s = text_of(v, 16);
        size_t k;

        if (!name)
                return util_path_fail(err, err_size, "name", "required: a name of 1 to %d bytes", ACCESS_NAME_MAX);
        snprintf(p->name, sizeof(p->name), "%s", name);
        for (k = 0; s && k < sizeof(state_names) / sizeof(state_names[0]); k++)
                if (strcmp(s, state_names[k]) == 0)
                        break;
        if (!s || k == sizeof(state_names) / sizeof(state_names[0]))
                return util_path_fail(err, err_size, "state", "required: enabled, disabled or report_only");
        p->state = (enum access_state)k;
        return 0;
}

int access_policy_parse(const char *doc, size_t len, const struct access_location *locations, size_t n_locations,
                        struct access_policy **ret, char *err, size_t err_size)
{
        static const char *const keys[] = { "name", "state", "users", "applications", "conditions", "grant", NULL };
        struct access_policy *p;
        json_t *j;
        int r;

        r = doc_load(doc, len, &j, err, err_size);
        if (r < 0)
                return r;
        p = calloc(1, sizeof(*p));
        if (!p) {
                json_decref(j);
                return -ENOMEM;
        }
        r = keys_check(j, "", keys, err, err_size);
        if (r >= 0)
                r = head_parse(j, p, err, err_size);
        if (r >= 0)
                r = users_parse(j, p, err, err_size);
        if (r >= 0)
                r = apps_parse(j, p, err, err_size);
        if (r >= 0)
                r = conditions_parse(j, locations, n_locations, p, err, err_size);
        if (r >= 0)
                r = grant_parse(j, p, err, err_size);
        json_decref(j);
        if (r < 0) {
                if (r == -ENOMEM)
                        snprintf(err, err_size, "out of memory");
                access_policy_free(p);
                return r;
        }
        *ret = p;
        return 0;
}

static void entries_free(struct entry *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                free(v[i].s);
        free(v);
}

void access_policy_free(struct access_policy *p)
{
        if (!p)
                return;
        entries_free(p->users_include, p->n_users_include);
        entries_free(p->users_exclude, p->n_users_exclude);
        for (size_t i = 0; i < p->n_apps; i++) {
                free(p->apps[i].name);
                free(p->apps[i].host);
                free(p->apps[i].path_prefix);
        }
        free(p->apps);
        free(p->loc_include);
        free(p->loc_exclude);
        manage_expr_free(p->filter);
        free(p);
}

const char *access_policy_name(const struct access_policy *p)
{
        return p->name;
}

enum access_state access_policy_state(const struct access_policy *p)
{
        return p->state;
}

static bool present(const char *s)
{
        return s && s[0];
}

/* True if the user or one of their groups is in the list. */
static bool user_in(const struct entry *list, size_t n, const struct access_request *req,
                    const struct request_keys *k)
{
        for (size_t i = 0; i < n; i++) {
                if ((list[i].exact == k->user_id && present(req->user_id) && strcmp(list[i].s, req->user_id) == 0) ||
                    (list[i].folded == k->upn && present(req->user_upn) && strcasecmp(list[i].s, req->user_upn) == 0))
                        return true;
                for (size_t g = 0; g < req->n_groups; g++)
                        if (req->groups[g] && strcmp(list[i].s, req->groups[g]) == 0)
                                return true;
        }
        return false;
}

static bool app_match(const struct access_policy *p, const struct access_request *req, const struct request_keys *k)
{
        if (p->apps_all)
                return true;
        if (!present(req->host))
                return false;
        for (size_t i = 0; i < p->n_apps; i++) {
                const struct app *a = &p->apps[i];

                if (p->app_hash[i] == k->host && strcasecmp(a->host, req->host) == 0 && req->path &&
                    strncmp(req->path, a->path_prefix, a->prefix_len) == 0)
                        return true;
        }
        return false;
}

static bool ranges_contain(const struct access_range *r, size_t n, const struct access_ip *ip)
{
        for (size_t i = 0; i < n; i++)
                if (range_contains(&r[i], ip))
                        return true;
        return false;
}

/* Whether p applies; ACCESS_CONTROL_*_IDENTITY in *ret_missing when that
 * cannot be told without an identity the request lacks. */
static bool applies(const struct access_policy *p, const struct access_request *req, const struct request_keys *k,
                    enum access_control *ret_missing)
{
        bool has_user = present(req->user_id) || present(req->user_upn);

        *ret_missing = ACCESS_CONTROL_NONE;
        if (!app_match(p, req, k))
                return false;
        if (!p->loc_all && !ranges_contain(p->loc_include, p->n_loc_include, &req->client_ip))
                return false;
        if (ranges_contain(p->loc_exclude, p->n_loc_exclude, &req->client_ip))
                return false;
        if (!has_user && (!p->users_all || p->n_users_exclude > 0)) {
                *ret_missing = ACCESS_CONTROL_USER_IDENTITY;
                return true;
        }
        if (has_user && !p->users_all && !user_in(p->users_include, p->n_users_include, req, k))
                return false;
        if (has_user && user_in(p->users_exclude, p->n_users_exclude, req, k))
                return false;
        if ((p->has_platforms || p->filter) && !req->facts) {
                *ret_missing = ACCESS_CONTROL_DEVICE_IDENTITY;
                return true;
        }
        if (p->has_platforms && !(req->facts->platform && strcmp(req->facts->platform, "linux") == 0))
                return false;
        return !p->filter || manage_expr_eval(p->filter, req->facts);
}

/* ACCESS_CONTROL_NONE if the grant is satisfied, else what it lacked. */
static enum access_control grant_check(const struct access_policy *p, const struct access_request *req)
{
        bool compliant, enrolled;

        if (p->block)
                return ACCESS_CONTROL_BLOCK;
        if (!req->facts)
                return ACCESS_CONTROL_DEVICE_IDENTITY;
        compliant = !p->need_compliant || req->compliant;
        enrolled = !p->need_enrolled || req->enrolled;
        if (p->operator_or ? (p->need_compliant && req->compliant) || (p->need_enrolled && req->enrolled)
                           : compliant && enrolled)
                return ACCESS_CONTROL_NONE;
        return !compliant ? ACCESS_CONTROL_COMPLIANT_DEVICE : ACCESS_CONTROL_ENROLLED_DEVICE;
}

static void keys_make(const struct access_request *req, struct request_keys *k)
{
        k->host = hash(req->host, true);
        k->user_id = hash(req->user_id, false);
        k->upn = hash(req->user_upn, true);
}

static enum access_result policy_eval(const struct access_policy *p, const struct access_request *req,
                                      const struct request_keys *k, enum access_control *ret_control)
{
        bool report = p->state == ACCESS_STATE_REPORT_ONLY;
        enum access_control c = ACCESS_CONTROL_NONE;
        enum access_result r;

        if (p->state == ACCESS_STATE_DISABLED || !applies(p, req, k, &c))
                r = report ? ACCESS_RESULT_REPORT_ONLY_NOT_APPLIED : ACCESS_RESULT_NOT_APPLIED;
        else {
                if (c == ACCESS_CONTROL_NONE)
                        c = grant_check(p, req);
                if (c == ACCESS_CONTROL_NONE)
                        r = report ? ACCESS_RESULT_REPORT_ONLY_SUCCESS : ACCESS_RESULT_SUCCESS;
                else
                        r = report ? ACCESS_RESULT_REPORT_ONLY_FAILURE : ACCESS_RESULT_FAILURE;
        }
        if (ret_control)
                *ret_control = r == ACCESS_RESULT_FAILURE || r == ACCESS_RESULT_REPORT_ONLY_FAILURE ? c
                                                                                                   : ACCESS_CONTROL_NONE;
        return r;
}

enum access_result access_policy_eval(const struct access_policy *p, const struct access_request *req,
                                      enum access_control *ret_control)
{
        struct request_keys k;

        keys_make(req, &k);
        return policy_eval(p, req, &k, ret_control);
}

/* The first enforced failure, in evaluation order, decides. */
static void decision_note(struct access_decision *d, size_t i, enum access_result r, enum access_control c)
{
        if (r != ACCESS_RESULT_FAILURE || d->policy != SIZE_MAX)
                return;
        d->policy = i;
        d->control = c;
        d->status = c == ACCESS_CONTROL_DEVICE_IDENTITY || c == ACCESS_CONTROL_USER_IDENTITY ? 401 : 403;
}

struct access_decision access_evaluate(const struct access_policy *const *policies, size_t n,
                                       const struct access_request *req, enum access_result *results)
{
        struct access_decision d = { .status = 200, .policy = SIZE_MAX, .control = ACCESS_CONTROL_NONE };
        struct request_keys k;

        keys_make(req, &k);

        for (size_t i = 0; i < n; i++) {
                enum access_control c;
                enum access_result r = policy_eval(policies[i], req, &k, &c);

                if (results)
                        results[i] = r;
                decision_note(&d, i, r, c);
        }
        return d;
}

/* ---- the index by host ---- */

struct host_bucket {
        const char *host;               /* the policies' own string (lower case) */
        uint32_t hash;                  /* folded */
        uint32_t *policies;             /* ascending */
        size_t n, cap;
};

struct access_policy_index {
        size_t n;
        enum access_result *none;       /* each policy's result when it does not apply */
        uint32_t *all;                  /* policies for every application, ascending */
        size_t n_all;
        struct host_bucket *buckets;    /* open addressing; host NULL: empty */
        size_t mask;
};

void access_policy_index_free(struct access_policy_index *x)
{
        if (!x)
                return;
        for (size_t i = 0; x->buckets && i <= x->mask; i++)
                free(x->buckets[i].policies);
        free(x->buckets);
        free(x->all);
        free(x->none);
        free(x);
}

static struct host_bucket *bucket_find(const struct access_policy_index *x, const char *host, uint32_t h)
{
        for (size_t p = h & x->mask;; p = (p + 1) & x->mask) {
                struct host_bucket *b = &x->buckets[p];
                if (!b->host || (b->hash == h && strcasecmp(b->host, host) == 0))
                        return b;
        }
}

static int bucket_add(struct host_bucket *b, uint32_t i)
{
        if (b->n > 0 && b->policies[b->n - 1] == i)
                return 0;       /* the policy names the host twice */
        if (b->n == b->cap) {
                size_t cap = b->cap ? b->cap * 2 : 4;
                uint32_t *v = realloc(b->policies, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                b->policies = v;
                b->cap = cap;
        }
        b->policies[b->n++] = i;
        return 0;
}

int access_policy_index_build(const struct access_policy *const *policies, size_t n,
                              struct access_policy_index **ret)
{
        struct access_policy_index *x = calloc(1, sizeof(*x));
        size_t hosts = 0, size = 16;

        if (!x)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                hosts += policies[i]->apps_all ? 0 : policies[i]->n_apps;
        while (size < 2 * hosts + 2)
                size *= 2;
        x->n = n;
        x->mask = size - 1;
        x->buckets = calloc(size, sizeof(*x->buckets));
        x->none = calloc(n ? n : 1, sizeof(*x->none));
        x->all = calloc(n ? n : 1, sizeof(*x->all));
        if (!x->buckets || !x->none || !x->all)
                goto oom;
        for (size_t i = 0; i < n; i++) {
                const struct access_policy *p = policies[i];
                x->none[i] = p->state == ACCESS_STATE_REPORT_ONLY ? ACCESS_RESULT_REPORT_ONLY_NOT_APPLIED
                                                                  : ACCESS_RESULT_NOT_APPLIED;
                if (p->state == ACCESS_STATE_DISABLED)
                        continue;       /* never applies */
                if (p->apps_all) {
                        x->all[x->n_all++] = (uint32_t)i;
                        continue;
                }
                for (size_t a = 0; a < p->n_apps; a++) {
                        struct host_bucket *b = bucket_find(x, p->apps[a].host, p->app_hash[a]);
                        b->host = p->apps[a].host;
                        b->hash = p->app_hash[a];
                        if (bucket_add(b, (uint32_t)i) < 0)
                                goto oom;
                }
        }
        *ret = x;
        return 0;
oom:
        access_policy_index_free(x);
        return -ENOMEM;
}

struct access_decision access_evaluate_indexed(const struct access_policy *const *policies,
                                               const struct access_policy_index *x,
                                               const struct access_request *req, enum access_result *results)
{
        struct access_decision d = { .status = 200, .policy = SIZE_MAX, .control = ACCESS_CONTROL_NONE };
        const struct host_bucket *b = NULL;
        struct request_keys k;
        size_t ia = 0, ib = 0, nb = 0;

        keys_make(req, &k);
        if (results && x->n)
                memcpy(results, x->none, x->n * sizeof(*results));
        if (present(req->host)) {
                b = bucket_find(x, req->host, k.host);
                nb = b->host ? b->n : 0;
        }
        /* the two ascending lists merged: policies are met in their order */
        while (ia < x->n_all || ib < nb) {
                uint32_t i;
                if (ib >= nb || (ia < x->n_all && x->all[ia] < b->policies[ib]))
                        i = x->all[ia++];
                else
                        i = b->policies[ib++];
                enum access_control c;
                enum access_result r = policy_eval(policies[i], req, &k, &c);
                if (results)
                        results[i] = r;
                decision_note(&d, i, r, c);
        }
        return d;
}
