/* access store internals: the parser of an apply bundle, the part of
 * POST /api/v1/access/apply that needs no database (its own file so the
 * fuzz harness reaches it). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "server/access/access.h"
#include "server/access/policy.h"

#define ACCESS_APPLY_BODY_MAX (8 << 20) /* bytes of an apply request */

/* One document of a bundle: the JSON as sent and its canonical text
 * (compact, keys sorted), which is what is checked, stored and compared. */
struct access_bundle_doc {
        json_t *json;                   /* a reference of its own */
        char *text;                     /* NUL-terminated, owned */
        size_t len;
};

/* An apply request: named locations (parsed and checked) and policy
 * documents (their shape only: they are checked against the locations and
 * the directory under the database lock). */
struct access_bundle {
        bool single;                    /* the body was one policy document */
        size_t n_locations, n_policies;
        struct access_location *locations;
        struct access_bundle_doc *location_docs;
        struct access_bundle_doc *policy_docs;
};

/* Reads an apply request body of len bytes: {"locations": [...],
 * "policies": [...]} (either list may be absent) or one policy document.
 * Checks each location document (access_location_parse() and an id that
 * fits a URL path: 1 to ACCESS_LOCATION_ID_MAX letters, digits, '-', '_'
 * or '.'), the lists' lengths, and that no location id or policy name is
 * given twice. On success fills *ret (release it with
 * access_bundle_release()) and returns 0; -EINVAL or -E2BIG with "path:
 * reason" in err (paths such as "locations[2].ranges[0]"); -ENOMEM. */
int access_bundle_parse(const char *body, size_t len, struct access_bundle *ret, char *err, size_t err_size);

/* Frees what a bundle holds; a zeroed or half-built bundle is fine. */
void access_bundle_release(struct access_bundle *b);

/* True if id may name a stored location: 1 to ACCESS_LOCATION_ID_MAX
 * letters, digits, '-', '_' or '.'. */
bool access_location_id_ok(const char *id);
