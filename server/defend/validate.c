/* defend validate: the checks on an alert batch from an agent, before any of
 * it reaches the database. Pure functions of their input (fuzzed). */
#include "server/defend/defend.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/strutil.h"

#define NESTED_DEPTH_MAX 8

static const char *const level_names[] = { "none", "informational", "low", "medium", "high" };

const char *defend_level_name(enum defend_level l)
{
        return l >= DEFEND_LEVEL_NONE && l <= DEFEND_LEVEL_HIGH ? level_names[l] : "none";
}

int defend_level_parse(const char *s, bool allow_none, enum defend_level *ret)
{
        if (!s)
                return -EINVAL;
        for (int i = allow_none ? 0 : 1; i <= DEFEND_LEVEL_HIGH; i++)
                if (strcmp(s, level_names[i]) == 0) {
                        *ret = (enum defend_level)i;
                        return 0;
                }
        return -EINVAL;
}

static int digits(const char *s, int n, int *ret)
{
        int v = 0;

        for (int i = 0; i < n; i++) {
                if (!isdigit((unsigned char)s[i]))
                        return -EINVAL;
                v = v * 10 + (s[i] - '0');
        }
        *ret = v;
        return 0;
}

int defend_time_parse(const char *s, int64_t *ret_ns)
{
        struct tm tm = { 0 };
        int y, mo, da, h, mi, se, oh = 0, om = 0, sign = 0;
        int64_t frac = 0, t;
        size_t i = 19;

        if (!s || strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
            s[13] != ':' || s[16] != ':')
                return -EINVAL;
        if (digits(s, 4, &y) < 0 || digits(s + 5, 2, &mo) < 0 || digits(s + 8, 2, &da) < 0 ||
            digits(s + 11, 2, &h) < 0 || digits(s + 14, 2, &mi) < 0 || digits(s + 17, 2, &se) < 0)
                return -EINVAL;
        if (y < 1970 || mo < 1 || mo > 12 || da < 1 || da > 31 || h > 23 || mi > 59 || se > 60)
                return -EINVAL;
        if (s[i] == '.') {
                int n = 0;
                for (i++; isdigit((unsigned char)s[i]); i++, n++)
                        if (n < 9)
                                frac = frac * 10 + (s[i] - '0');
                if (n == 0)
                        return -EINVAL;
                for (; n < 9; n++)
                        frac *= 10;
        }
        if (s[i] == 'Z' || s[i] == 'z') {
                i++;
        } else if (s[i] == '+' || s[i] == '-') {
                sign = s[i] == '+' ? 1 : -1;
                if (strlen(s + i) != 6 || s[i + 3] != ':' || digits(s + i + 1, 2, &oh) < 0 ||
                    digits(s + i + 4, 2, &om) < 0 || oh > 23 || om > 59)
                        return -EINVAL;
                i += 6;
        } else {
                return -EINVAL;
        }
        if (s[i])
                return -EINVAL;
        tm.tm_year = y - 1900;
        tm.tm_mon = mo - 1;
        tm.tm_mday = da;
        tm.tm_hour = h;
        tm.tm_min = mi;
        tm.tm_sec = se;
        t = (int64_t)timegm(&tm) - sign * (oh * 3600 + om * 60);
        if (t < 0 || t > INT64_MAX / 1000000000 - 1)
                return -EINVAL;
        *ret_ns = t * 1000000000 + frac;
        return 0;
}

/* A string's value, or NULL if v is no string or holds a NUL byte (which
 * the C string would silently cut). */
static const char *plain_string(const json_t *v)
{
        const char *s = json_string_value(v);

        return s && strlen(s) == json_string_length(v) ? s : NULL;
}

static bool uuid_ok(const char *s)
{
        if (!s || strlen(s) != DEFEND_ALERT_ID_LEN)
                return false;
        for (int i = 0; i < DEFEND_ALERT_ID_LEN; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return false;
                } else if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f')) {
                        return false;
                }
        }
        return true;
}

static bool technique_ok(const char *s)
{
        size_t n = s ? strlen(s) : 0;

        if ((n != 5 && n != 9) || s[0] != 'T')
                return false;
        for (size_t i = 1; i < n; i++)
                if (i == 5 ? s[i] != '.' : !isdigit((unsigned char)s[i]))
                        return false;
        return true;
}

static bool one_of(const char *s, const char *const *set)
{
        for (; s && *set; set++)
                if (strcmp(s, *set) == 0)
                        return true;
        return false;
}

/* Every string inside v at most DEFEND_FIELD_MAX bytes, nesting bounded. */
static int nested_check(const json_t *v, int depth)
{
        const char *k;
        json_t *x;
        size_t i;

        if (depth > NESTED_DEPTH_MAX)
                return -EINVAL;
        if (json_is_string(v))
                return json_string_length(v) <= DEFEND_FIELD_MAX ? 0 : -EINVAL;
        if (json_is_object(v)) {
                json_object_foreach((json_t *)v, k, x)
                        if (strlen(k) > DEFEND_FIELD_MAX || nested_check(x, depth + 1) < 0)
                                return -EINVAL;
        } else if (json_is_array(v)) {
                json_array_foreach(v, i, x)
                        if (nested_check(x, depth + 1) < 0)
                                return -EINVAL;
        }
        return 0;
}

static int text_member(const json_t *a, const char *key, bool required, bool nonempty,
                       const char *const *set, char *err, size_t err_size)
{
        const json_t *v = json_object_get(a, key);
        const char *s = plain_string(v);

        if (!v && !required)
                return 0;
        if (!s || !util_str_is_text(s, DEFEND_FIELD_MAX) ||
            (nonempty && !*s)) {
                snprintf(err, err_size, "'%s' must be a %sstring of at most %d bytes without control characters",
                         key, nonempty ? "non-empty " : "", DEFEND_FIELD_MAX);
                return -EINVAL;
        }
        if (set && !one_of(s, set)) {
                size_t n = (size_t)snprintf(err, err_size, "'%s' must be one of", key);
                for (; *set && n < err_size; set++)
                        n += (size_t)snprintf(err + n, err_size - n, " %s", *set);
                return -EINVAL;
        }
        return 0;
}

static int string_array(const json_t *a, const char *key, size_t max, bool techniques,
                        char *err, size_t err_size)
{
        const json_t *arr = json_object_get(a, key), *v;
        size_t i;

        if (!json_is_array(arr) || json_array_size(arr) > max) {
                snprintf(err, err_size, "'%s' must be an array of at most %zu strings", key, max);
                return -EINVAL;
        }
        json_array_foreach(arr, i, v) {
                const char *s = plain_string(v);
                if (techniques ? !technique_ok(s) : (!s || !*s || !util_str_is_text(s, DEFEND_FIELD_MAX))) {
                        snprintf(err, err_size, techniques ? "'%s[%zu]' must match ^T[0-9]{4}(\\.[0-9]{3})?$"
                                                           : "'%s[%zu]' must be a non-empty string", key, i);
                        return -EINVAL;
                }
        }
        return 0;
}

static int times_check(const json_t *a, char *err, size_t err_size)
{
        int64_t first, last;

        if (defend_time_parse(plain_string(json_object_get(a, "first_seen")), &first) < 0 ||
            defend_time_parse(plain_string(json_object_get(a, "last_seen")), &last) < 0 ||
            json_string_length(json_object_get(a, "first_seen")) > 64 ||
            json_string_length(json_object_get(a, "last_seen")) > 64) {
                snprintf(err, err_size, "'first_seen' and 'last_seen' must be RFC 3339 times");
                return -EINVAL;
        }
        if (last < first) {
                snprintf(err, err_size, "'last_seen' is before 'first_seen'");
                return -EINVAL;
        }
        return 0;
}

static int objects_check(const json_t *a, char *err, size_t err_size)
{
        static const char *const capped[] = { "tree", "process", "network", "evidence" };
        const json_t *v;
        size_t i;

        if (!json_is_object(json_object_get(a, "tree"))) {
                snprintf(err, err_size, "'tree' must be an object");
                return -EINVAL;
        }
        for (i = 0; i < sizeof(capped) / sizeof(capped[0]); i++) {
                v = json_object_get(a, capped[i]);
                if (v && !json_is_null(v) && (!json_is_object(v) || nested_check(v, 0) < 0)) {
                        snprintf(err, err_size, "'%s' must be an object whose strings are at most %d bytes",
                                 capped[i], DEFEND_FIELD_MAX);
                        return -EINVAL;
                }
        }
        v = json_object_get(a, "ancestors");
        if (v && !json_is_null(v) && !json_is_array(v)) {
                snprintf(err, err_size, "'ancestors' must be an array");
                return -EINVAL;
        }
        json_array_foreach(v, i, a) {
                if (!json_is_object(a)) {
                        snprintf(err, err_size, "'ancestors[%zu]' must be an object", i);
                        return -EINVAL;
                }
        }
        return 0;
}

int defend_alert_check(const json_t *a, char *err, size_t err_size)
{
        static const char *const changes[] = { "new", "update", NULL };
        static const char *const sources[] = { "sigma", "builtin", NULL };
        static const char *const severities[] = { "informational", "low", "medium", "high", NULL };
        static const char *const levels[] = { "informational", "low", "medium", "high", "critical", "", NULL };
        const json_t *v;

        if (!json_is_object(a)) {
                snprintf(err, err_size, "an alert must be an object");
                return -EINVAL;
        }
        if (!uuid_ok(plain_string(json_object_get(a, "id")))) {
                snprintf(err, err_size, "'id' must be a lower-case UUID");
                return -EINVAL;
        }
        if (text_member(a, "change", true, true, changes, err, err_size) < 0 ||
            text_member(a, "rule_id", true, true, NULL, err, err_size) < 0 ||
            text_member(a, "title", true, true, NULL, err, err_size) < 0 ||
            text_member(a, "source", true, true, sources, err, err_size) < 0 ||
            text_member(a, "severity", true, true, severities, err, err_size) < 0 ||
            text_member(a, "rule_level", true, false, levels, err, err_size) < 0 ||
            text_member(a, "category", false, false, NULL, err, err_size) < 0 ||
            string_array(a, "techniques", DEFEND_TECHNIQUES_MAX, true, err, err_size) < 0 ||
            string_array(a, "tactics", DEFEND_TACTICS_MAX, false, err, err_size) < 0 ||
            times_check(a, err, err_size) < 0)
                return -EINVAL;
        v = json_object_get(a, "count");
        if (!json_is_integer(v) || json_integer_value(v) < 1) {
                snprintf(err, err_size, "'count' must be an integer of at least 1");
                return -EINVAL;
        }
        if (objects_check(a, err, err_size) < 0)
                return -EINVAL;
        v = json_object_get(a, "event");
        if (v && !json_is_null(v) && !json_is_object(v)) {
                snprintf(err, err_size, "'event' must be an object");
                return -EINVAL;
        }
        return 0;
}

int defend_batch_parse(const char *body, size_t len, json_t **ret_alerts, char *err, size_t err_size)
{
        json_error_t je;
        json_t *root, *alerts;

        if (len > DEFEND_BATCH_BYTES_MAX) {
                snprintf(err, err_size, "the batch is larger than %d bytes (4 MiB); send at most %d alerts "
                         "and 4 MiB per request", DEFEND_BATCH_BYTES_MAX, DEFEND_BATCH_ALERTS_MAX);
                return -E2BIG;
        }
        root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
        if (!root) {
                snprintf(err, err_size, "the body is not JSON: %s (line %d)", je.text, je.line);
                return -EINVAL;
        }
        alerts = json_object_get(root, "alerts");
        if (!json_is_object(root) || !json_is_array(alerts)) {
                snprintf(err, err_size, "the body must be an object {\"alerts\": [...]}");
                goto fail;
        }
        if (json_array_size(alerts) > DEFEND_BATCH_ALERTS_MAX) {
                snprintf(err, err_size, "the batch holds %zu alerts; at most %d alerts and 4 MiB per request",
                         json_array_size(alerts), DEFEND_BATCH_ALERTS_MAX);
                json_decref(root);
                return -E2BIG;
        }
        for (size_t i = 0; i < json_array_size(alerts); i++)
                if (!json_is_object(json_array_get(alerts, i))) {
                        snprintf(err, err_size, "alerts[%zu] is not an object", i);
                        goto fail;
                }
        *ret_alerts = json_incref(alerts);
        json_decref(root);
        return 0;
fail:
        json_decref(root);
        return -EINVAL;
}
