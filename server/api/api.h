/* api: admin authentication (bearer tokens with roles) and the endpoints that
 * belong to no single module (health, tokens). Owns the table admin_tokens.
 *
 * A token is "vgt_<id>_<secret>": id is 16 hex digits naming the row, secret
 * is 32 random bytes in base64url. Only SHA-256(secret) is stored, and it is
 * compared in constant time. */
#pragma once

#include <stddef.h>

#include "server/http/http.h"

struct vigild;

#define API_TOKEN_MAX 80
#define API_TOKEN_ID_LEN 16

int api_migrate(struct vigild *d);

/* Creates an admin token. out receives the token text (shown once, never
 * stored); ret_id its id. Returns 0 or a negative errno. */
int api_token_create(struct vigild *d, enum http_role role, const char *name, const char *created_by,
                     char out[static API_TOKEN_MAX + 1], char ret_id[static API_TOKEN_ID_LEN + 1]);

/* Revokes the token id if it exists, is of role and is not revoked yet.
 * Returns 0, -ENOENT, -EBUSY for the last security_admin token that is not
 * revoked, or a database error. Takes the database lock. */
int api_token_revoke(struct vigild *d, const char *id, enum http_role role);

/* Fills who's role, token_id and token_name from the token id when it exists
 * and is not revoked (a portal session names its token by id). Returns 0,
 * -EACCES. Takes the database lock. */
int api_token_get(struct vigild *d, const char *id, struct http_principal *who);

/* http_admin_auth_fn over admin_tokens. */
int api_admin_auth(struct vigild *d, const char *token, struct http_principal *who);

/* "security_admin", "it_admin", "reader", "partner" <-> enum http_role. */
const char *api_role_name(enum http_role role);
int api_role_parse(const char *name, enum http_role *ret);

extern const struct http_route api_routes[];
