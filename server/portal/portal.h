/* portal: the web portal's server side. It serves the static files of
 * portal/, embedded in vigild at build time (gen-files.py), owns the
 * portal's sessions (the table portal_sessions: a sign-in with an admin token
 * exchanged for a cookie) and streams the bus's events to the pages
 * (server-sent events on GET /api/v1/events). Nothing is read from disk at
 * run time. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "server/http/http.h"

struct vigild;

/* One embedded file. */
struct portal_file {
        const char *path;               /* the URL path: "/" for index.html, "/assets/app.js" */
        const char *type;               /* Content-Type */
        const unsigned char *data;
        size_t len;
        const char *etag;               /* strong: a quoted hash of data */
        const unsigned char *gz;        /* gzip of data; NULL when it would not be smaller */
        size_t gz_len;
        const char *gz_etag;            /* the gzip's own: the hash with "-gz" */
};

/* The generated table (portal-files.c) and its GET routes. */
extern const struct portal_file portal_files[];
extern const size_t portal_files_count;
extern const struct http_route portal_file_routes[];

/* The handler of every embedded file's route: the file of req->path, gzip
 * when the client accepts it, 304 when If-None-Match names the ETag of the
 * representation chosen (the gzip has its own). */
void portal_file_serve(struct vigild *d, const struct http_request *req, struct http_reply *rep);

/* Whether an Accept-Encoding header value accepts gzip (a "gzip" or "*"
 * coding without q=0). NULL is "no". Bounded by the string's NUL. */
bool portal_accepts_gzip(const char *accept_encoding);

/* Whether an If-None-Match header value names etag (or is "*"). */
bool portal_etag_matches(const char *if_none_match, const char *etag);

#define PORTAL_SESSION_BODY_MAX 1024
#define PORTAL_SESSIONS_MAX 10000

/* Creates the session table. Returns 0 or a database error. */
int portal_migrate(struct vigild *d);

/* Reads a sign-in body {"token": "..."} of len bytes; copies the token into
 * token (size bytes). Returns 0, or -EINVAL with the reason in err. */
int portal_session_body_parse(const char *body, size_t len, char *token, size_t size,
                              char *err, size_t err_size);

/* http_session_auth_fn over portal_sessions: a known, unexpired session of a
 * token that is not revoked; it counts as activity (idle expiry). */
int portal_session_auth(struct vigild *d, const char *session, const char *csrf, struct http_principal *who);

/* Whether the session of hash exists and has not expired (not counted as
 * activity). */
bool portal_session_valid(struct vigild *d, const uint8_t hash[CRYPTO_SHA256_LEN]);

/* GET /api/v1/events: an event stream for an admin (events.c). */
void portal_events_handle(struct vigild *d, const struct http_request *req, struct http_reply *rep);

/* Ends at once the event streams opened with the token token_id (bearer or
 * a session made from it): the token was revoked. Any thread; fine when
 * the streams are not running. */
void portal_events_token_revoked(struct vigild *d, const char *token_id);

/* Ends at once the event streams opened with the session of hash: it was
 * signed out. Any thread; fine when the streams are not running. */
void portal_events_session_ended(struct vigild *d, const uint8_t hash[CRYPTO_SHA256_LEN]);

/* Subscribes to the bus and starts the keepalive thread of the event
 * streams. Call before the listener starts. Returns 0, or a negative errno
 * with a message in err. */
int portal_events_start(struct vigild *d, char *err, size_t err_size);

/* Stops the keepalive thread and frees the streams' state; call after the
 * listener stopped (its streams are gone then). NULL state is fine. */
void portal_events_stop(struct vigild *d);

/* POST/GET/DELETE /api/v1/session and GET /api/v1/events. */
extern const struct http_route portal_routes[];
