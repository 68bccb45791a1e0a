/* Fuzzes the check of a suppression rule's JSON body (POST and PATCH
 * /api/v1/suppressions) and the glob matcher its patterns use. The bytes are
 * parsed as the HTTP layer parses a body and checked as a create and as a
 * patch: a refusal must use the documented errors and say why; an accepted
 * rule has a name and comment within their bounds and conditions whose
 * patterns pass defend_glob_check(). Every accepted pattern is matched
 * against the other strings of the body. Independently the bytes are split
 * at the first NUL into a pattern and a subject: a pattern that passes the
 * check must match as a plain recursive matcher does (on small inputs). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "server/defend/defend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1764475200          /* 2025-11-30 */
#define REF_SUBJECT_MAX 64
#define REF_STARS_MAX 4

/* The obvious matcher, exponential in '*': the reference on small inputs. */
static bool ref_match(const char *p, const char *s, size_t n)
{
        const char *lit;

        if (!*p)
                return n == 0;
        if (*p == '*') {
                for (size_t k = 0; k <= n; k++)
                        if (ref_match(p + 1, s + k, n - k))
                                return true;
                return false;
        }
        if (n == 0)
                return false;
        if (*p == '?')
                return ref_match(p + 1, s + 1, n - 1);
        lit = *p == '\\' && p[1] ? p + 1 : p;
        return *lit == *s && ref_match(lit + 1, s + 1, n - 1);
}

static void check_glob_pair(const uint8_t *data, size_t size)
{
        const uint8_t *nul = memchr(data, 0, size);
        size_t plen = nul ? (size_t)(nul - data) : size, stars = 0;
        const char *subject = nul ? (const char *)nul + 1 : "";
        size_t slen = nul ? size - plen - 1 : 0;
        char *p, err[160];

        p = malloc(plen + 1);
        if (!p)
                return;
        memcpy(p, data, plen);
        p[plen] = '\0';
        /* the matcher must be safe on any pattern, checked or not */
        defend_glob_match(p, subject, slen, size & 1);
        err[0] = '\0';
        if (defend_glob_check(p, plen, err, sizeof(err)) < 0) {
                if (!err[0])
                        abort();
                goto out;
        }
        /* the wildcards: an escaped '*' is a letter */
        for (size_t i = 0; i < plen; i++) {
                if (p[i] == '\\' && i + 1 < plen)
                        i++;
                else
                        stars += p[i] == '*';
        }
        if (stars > DEFEND_GLOB_STARS_MAX || plen > DEFEND_GLOB_MAX)
                abort();
        if (stars <= REF_STARS_MAX && slen <= REF_SUBJECT_MAX &&
            defend_glob_match(p, subject, slen, false) != ref_match(p, subject, slen))
                abort();
out:
        free(p);
}

static void match_against_strings(const char *pattern, const json_t *v, int depth)
{
        const char *k;
        json_t *x;
        size_t i;

        if (depth > 3)
                return;
        if (json_is_string(v))
                defend_glob_match(pattern, json_string_value(v), json_string_length(v), depth & 1);
        json_object_foreach((json_t *)v, k, x)
                match_against_strings(pattern, x, depth + 1);
        json_array_foreach(v, i, x)
                match_against_strings(pattern, x, depth + 1);
}

static void check_accepted(const json_t *body)
{
        static const char *const globs[] = { "device_name", "image", "command_line" };
        const json_t *cond = json_object_get(body, "conditions"), *name = json_object_get(body, "name");
        const json_t *comment = json_object_get(body, "comment");
        char err[160];

        if ((name && (json_string_length(name) == 0 || json_string_length(name) > DEFEND_SUPPRESSION_NAME_MAX)) ||
            (comment && (json_string_length(comment) == 0 ||
                         json_string_length(comment) > DEFEND_SUPPRESSION_COMMENT_MAX)) ||
            (cond && json_object_size(cond) == 0) ||
            json_array_size(json_object_get(cond, "device_ids")) > DEFEND_SUPPRESSION_DEVICES_MAX)
                abort();
        for (size_t i = 0; i < sizeof(globs) / sizeof(globs[0]); i++) {
                const json_t *g = json_object_get(cond, globs[i]);
                if (!g)
                        continue;
                if (defend_glob_check(json_string_value(g), json_string_length(g), err, sizeof(err)) < 0)
                        abort();
                match_against_strings(json_string_value(g), body, 0);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        json_t *body;
        char err[512];

        check_glob_pair(data, size);
        body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
        if (!body)
                return 0;
        for (int create = 0; create < 2; create++) {
                int r;

                err[0] = '\0';
                r = defend_suppression_check(body, create, NOW, err, sizeof(err));
                if (r == 0)
                        check_accepted(body);
                else if ((r != -EINVAL && r != -E2BIG) || !err[0])
                        abort();
        }
        json_decref(body);
        return 0;
}
