/* access bundle: the parser of an apply request (store.h). Bounded: the
 * body is at most ACCESS_APPLY_BODY_MAX bytes, each list at most the number
 * of locations or policies that may be stored, each document at most
 * ACCESS_DOC_MAX bytes once canonical. */
#include "server/access/store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool access_location_id_ok(const char *id)
{
        size_t n = strlen(id);

        if (n == 0 || n > ACCESS_LOCATION_ID_MAX)
                return false;
        for (const char *p = id; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
                      *p == '_' || *p == '.'))
                        return false;
        return true;
}

static int fail(int r, char *err, size_t err_size, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(int r, char *err, size_t err_size, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
        return r;
}

/* The canonical text of one document of the list named what, at index i. */
static int doc_take(const char *what, size_t i, json_t *j, struct access_bundle_doc *ret, char *err, size_t err_size)
{
        if (!json_is_object(j))
                return fail(-EINVAL, err, err_size, "%s[%zu]: must be an object", what, i);
        ret->json = json_incref(j);
        ret->text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        if (!ret->text)
                return -ENOMEM;
        ret->len = strlen(ret->text);
        if (ret->len > ACCESS_DOC_MAX)
                return fail(-E2BIG, err, err_size, "%s[%zu]: a document is at most %d bytes", what, i, ACCESS_DOC_MAX);
        return 0;
}

/* A list of the bundle: absent, or an array of at most max objects. */
static int list_take(const json_t *body, const char *what, size_t max, struct access_bundle_doc **ret, size_t *ret_n,
                     char *err, size_t err_size)
{
        json_t *v = json_object_get(body, what), *e;
        size_t i;
        int r;

        if (!v)
                return 0;
        if (!json_is_array(v))
                return fail(-EINVAL, err, err_size, "%s: must be a list of documents", what);
        if (json_array_size(v) > max)
                return fail(-E2BIG, err, err_size, "%s: more than %zu documents", what, max);
        *ret = calloc(json_array_size(v) + 1, sizeof(**ret));
        if (!*ret)
                return -ENOMEM;
        json_array_foreach(v, i, e) {
                r = doc_take(what, i, e, &(*ret)[i], err, err_size);
                *ret_n = i + 1;
                if (r < 0)
                        return r;
        }
        return 0;
}

static int locations_check(struct access_bundle *b, char *err, size_t err_size)
{
        char e[512];
        int r;

        b->locations = calloc(b->n_locations + 1, sizeof(*b->locations));
        if (!b->locations)
                return -ENOMEM;
        for (size_t i = 0; i < b->n_locations; i++) {
                const struct access_bundle_doc *doc = &b->location_docs[i];

                r = access_location_parse(doc->text, doc->len, &b->locations[i], e, sizeof(e));
                if (r < 0)
                        return r == -ENOMEM ? r : fail(r, err, err_size, "locations[%zu].%s", i, e);
                if (!access_location_id_ok(b->locations[i].id))
                        return fail(-EINVAL, err, err_size, "locations[%zu].id: must be 1 to %d letters, digits, '-', "
                                    "'_' or '.': it names the location in URLs", i, ACCESS_LOCATION_ID_MAX);
                for (size_t k = 0; k < i; k++)
                        if (strcmp(b->locations[k].id, b->locations[i].id) == 0)
                                return fail(-EINVAL, err, err_size, "locations[%zu].id: \"%s\" is already "
                                            "locations[%zu]", i, b->locations[i].id, k);
        }
        return 0;
}

/* Policy names given twice; a name that is not a string is left to the
 * policy parser. */
static int names_check(const struct access_bundle *b, char *err, size_t err_size)
{
        for (size_t i = 0; i < b->n_policies; i++) {
                const char *a = json_string_value(json_object_get(b->policy_docs[i].json, "name"));

                for (size_t k = 0; a && k < i; k++) {
                        const char *o = json_string_value(json_object_get(b->policy_docs[k].json, "name"));

                        if (o && strcmp(a, o) == 0)
                                return fail(-EINVAL, err, err_size, "policies[%zu].name: \"%.*s\" is already the "
                                            "name of policies[%zu]", i, ACCESS_NAME_MAX, a, k);
                }
        }
        return 0;
}

static int bundle_read(json_t *j, struct access_bundle *b, char *err, size_t err_size)
{
        const char *k;
        json_t *v;
        int r;

        if (!json_object_get(j, "locations") && !json_object_get(j, "policies")) {
                b->single = true;
                b->policy_docs = calloc(1, sizeof(*b->policy_docs));
                if (!b->policy_docs)
                        return -ENOMEM;
                b->n_policies = 1;
                r = doc_take("policy", 0, j, &b->policy_docs[0], err, err_size);
                if (r == -E2BIG)
                        snprintf(err, err_size, "a policy document is at most %d bytes", ACCESS_DOC_MAX);
                return r;
        }
        json_object_foreach(j, k, v)
                if (strcmp(k, "locations") != 0 && strcmp(k, "policies") != 0)
                        return fail(-EINVAL, err, err_size, "%.64s: unknown member: a bundle has \"locations\" and "
                                    "\"policies\"", k);
        r = list_take(j, "locations", ACCESS_LOCATIONS_MAX, &b->location_docs, &b->n_locations, err, err_size);
        if (r == 0)
                r = list_take(j, "policies", ACCESS_POLICIES_MAX, &b->policy_docs, &b->n_policies, err, err_size);
        if (r == 0)
                r = locations_check(b, err, err_size);
        if (r == 0)
                r = names_check(b, err, err_size);
        return r;
}

int access_bundle_parse(const char *body, size_t len, struct access_bundle *ret, char *err, size_t err_size)
{
        struct access_bundle b = { 0 };
        json_error_t jerr;
        json_t *j;
        int r;

        if (len > ACCESS_APPLY_BODY_MAX)
                return fail(-E2BIG, err, err_size, "body: %zu bytes, at most %d", len, ACCESS_APPLY_BODY_MAX);
        j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!j)
                return fail(-EINVAL, err, err_size, "body: malformed JSON at line %d, column %d: %s", jerr.line,
                            jerr.column, jerr.text);
        if (!json_is_object(j))
                r = fail(-EINVAL, err, err_size, "body: must be a bundle {\"locations\": [...], \"policies\": [...]} "
                         "or one policy document");
        else
                r = bundle_read(j, &b, err, err_size);
        json_decref(j);
        if (r < 0) {
                if (r == -ENOMEM)
                        snprintf(err, err_size, "out of memory");
                access_bundle_release(&b);
                return r;
        }
        *ret = b;
        return 0;
}

static void docs_free(struct access_bundle_doc *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++) {
                json_decref(v[i].json);
                free(v[i].text);
        }
        free(v);
}

void access_bundle_release(struct access_bundle *b)
{
        docs_free(b->location_docs, b->n_locations);
        docs_free(b->policy_docs, b->n_policies);
        free(b->locations);
        *b = (struct access_bundle){ 0 };
}
