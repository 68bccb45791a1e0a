/* http: vigild's HTTPS listener, routing, authentication hooks and error replies.
 *
 * One libmicrohttpd daemon (epoll, internal threads) serves every route. A
 * route names who may call it: anyone, an admin bearer token with one of a set
 * of roles, or a device presenting its certificate. The layer reads the body
 * into a capped buffer, authenticates, matches the route, and hands the
 * handler a parsed request; the handler fills a reply. Every error a client
 * sees is JSON: {"error": {"code": "...", "message": "..."}}. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

struct vigild;

#define HTTP_PARAMS_MAX 4
#define HTTP_PARAM_MAX 64

/* Admin roles, as a bit set so a route can allow several. */
enum http_role {
        ROLE_READER = 1 << 0,
        ROLE_IT_ADMIN = 1 << 1,
        ROLE_SECURITY_ADMIN = 1 << 2,
        ROLE_PARTNER = 1 << 3,          /* the connector's remote partner: the partner API only */
};
#define ROLES_ANY (ROLE_READER | ROLE_IT_ADMIN | ROLE_SECURITY_ADMIN)
#define ROLES_ADMIN (ROLE_IT_ADMIN | ROLE_SECURITY_ADMIN)

enum http_auth {
        HTTP_AUTH_NONE = 0,     /* anyone */
        HTTP_AUTH_ADMIN = 1,    /* bearer token with a role in route->roles */
        HTTP_AUTH_DEVICE = 2,   /* verified device certificate of an onboarded device */
};

/* The caller, once authenticated. */
struct http_principal {
        enum http_role role;                    /* admin only */
        char token_id[40];                      /* admin only: which token */
        char token_name[256];                   /* admin only: its name ("" if none) */
        char device_id[40];                     /* device only */
        struct crypto_cert_info cert;           /* device only */
        bool session;                           /* admin only: authenticated by the portal's session cookie */
        uint8_t session_hash[CRYPTO_SHA256_LEN]; /* with session: the hash the session is stored under */
};

struct http_server;

struct http_request {
        const char *method;
        const char *path;
        const char *body;                       /* NUL-terminated; "" when none */
        size_t body_len;
        char params[HTTP_PARAMS_MAX][HTTP_PARAM_MAX + 1]; /* {name} captures, in order */
        const struct http_principal *who;
        struct MHD_Connection *conn;
        struct http_server *server;             /* the listener serving it (http_server_wake) */
        bool resumed;                           /* called again after http_reply_wait() */
};

#define HTTP_WAIT_KEY_MAX 64
#define HTTP_WAIT_MAX_MS (60 * 1000)
#define HTTP_SET_COOKIE_MAX 256
#define HTTP_SESSION_COOKIE "__Host-vigil_session"     /* the portal's session cookie (http_session_auth_fn) */
#define HTTP_CSRF_HEADER "X-Vigil-CSRF"

/* Bytes that outlive every reply (the portal's embedded files): sent as they
 * are, never copied or freed. */
struct http_bytes {
        const void *data;
        size_t len;
        const char *type;                       /* Content-Type */
        const char *encoding;                   /* Content-Encoding, or NULL */
        const char *etag;                       /* ETag, or NULL */
        const char *cache_control;              /* NULL: no-store */
};

struct http_stream;

struct http_reply {
        unsigned status;
        json_t *json;                           /* owned; serialized as the body */
        /* a file instead of JSON (http_reply_file) */
        int file_fd;                            /* owned when file_set */
        bool file_set;
        uint64_t file_size;
        char file_type[64];
        char file_name[128];
        /* static bytes instead of JSON (http_reply_bytes) */
        struct http_bytes bytes;
        bool bytes_set;
        /* an endless stream instead of JSON (http_reply_stream) */
        struct http_stream *stream;             /* owned */
        char set_cookie[HTTP_SET_COOKIE_MAX];   /* a Set-Cookie header; "" for none */
        /* no answer yet: wait (http_reply_wait) */
        bool wait;
        char wait_key[HTTP_WAIT_KEY_MAX + 1];
        unsigned wait_ms;
        uint64_t wait_seq;
};

typedef void (*http_handler_fn)(struct vigild *d, const struct http_request *req,
                                struct http_reply *rep);

struct http_route {
        const char *method;
        const char *pattern;                    /* "/api/v1/devices/{id}/software" */
        enum http_auth auth;
        unsigned roles;                         /* for HTTP_AUTH_ADMIN */
        http_handler_fn handler;
        size_t body_max;                        /* 0: the server's body_max */
};

/* Validates an admin bearer token; fills who->role and who->token_id.
 * Returns 0, -EACCES for an unknown/revoked/wrong token. */
typedef int (*http_admin_auth_fn)(struct vigild *d, const char *token, struct http_principal *who);

/* Validates a portal session cookie value for a request; csrf is the
 * request's X-Vigil-CSRF header when its method changes something (NULL for
 * GET and HEAD, "" when the header is missing). Fills who as
 * http_admin_auth_fn does, from the token the session was made from, and
 * who->session_hash.
 * Returns 0; -EACCES for an unknown session; -ETIMEDOUT for one that expired
 * or whose token was revoked; -EPERM when csrf does not match. */
typedef int (*http_session_auth_fn)(struct vigild *d, const char *session, const char *csrf,
                                    struct http_principal *who);

/* Checks that the device of a verified certificate is onboarded and that the
 * certificate is its current one. Returns 0, -EACCES if revoked/offboarded or
 * unknown. */
typedef int (*http_device_auth_fn)(struct vigild *d, struct http_principal *who);

struct http_server_config {
        const char *listen;                     /* "ADDR:PORT"; port 0 picks one */
        unsigned threads;
        size_t body_max;
        unsigned connection_timeout;            /* seconds of idleness before closing */
        unsigned max_connections;               /* open connections at once, all threads */
        size_t connection_memory;               /* bytes per connection for headers and buffers */
        const char *cert_pem, *key_pem, *trust_pem; /* trust: the device CA */
        http_session_auth_fn session_auth;      /* NULL: admin routes take bearer tokens only */
};

struct http_server;

/* Starts the listener with the given route tables (NULL-handler terminated
 * arrays). Returns 0 or a negative errno, with a message in err. */
int http_server_start(const struct http_server_config *cfg, struct vigild *d,
                      const struct http_route *const *tables,
                      http_admin_auth_fn admin_auth, http_device_auth_fn device_auth,
                      struct http_server **ret, char *err, size_t err_size);

/* The port actually bound (useful after listening on port 0). */
uint16_t http_server_port(const struct http_server *s);

/* Stops accepting, waits for running handlers, frees. NULL is fine. */
void http_server_stop(struct http_server *s);

/* Long-poll. A handler with nothing to answer yet takes seq =
 * http_wait_seq() BEFORE it looks for something to answer, and if it finds
 * nothing calls http_reply_wait(rep, key, ms, seq) instead of answering. The
 * layer suspends the request (holding no thread) and calls the handler again,
 * with req->resumed set, once http_server_wake(key) is called or ms have
 * passed (to within a second), or at once if any wake happened since seq
 * (so a wake between the look and the wait is never missed). The second call
 * must answer. ms is capped at HTTP_WAIT_MAX_MS; key at HTTP_WAIT_KEY_MAX. */
uint64_t http_wait_seq(struct http_server *s);
void http_reply_wait(struct http_reply *rep, const char *key, unsigned ms, uint64_t seq);
/* Wakes every request waiting on key. Any thread; NULL s is fine. */
void http_server_wake(struct http_server *s, const char *key);

/* Answers with the file open at fd (size bytes from its start) as
 * content_type, offered for download as filename ("" for none; printable
 * ASCII without quotes). Takes ownership of fd. */
void http_reply_file(struct http_reply *rep, unsigned status, int fd, uint64_t size,
                     const char *content_type, const char *filename);

/* Answers with bytes that outlive the server (an http_bytes copy is kept, not
 * the data); status 304 sends the headers alone. */
void http_reply_bytes(struct http_reply *rep, unsigned status, const struct http_bytes *b);

/* Streaming (server-sent events). A handler makes a stream with
 * http_stream_new() and answers with http_reply_stream(); the layer sends
 * the headers, then whatever http_stream_write() queues, as it comes, until
 * http_stream_end() or until the client goes. The connection holds no thread
 * while nothing is queued. When the connection is done the layer calls
 * on_close(cls) once, from a worker thread, then frees the stream: after
 * on_close returns, nobody may use the stream any more, so the owner must
 * forget it there (and must serialise its writes with that forgetting). */
struct http_stream *http_stream_new(struct http_server *s, size_t cap, void (*on_close)(void *cls), void *cls);

/* Queues len bytes of data on the stream and wakes its connection. Any
 * thread. Returns 0; -EPIPE once the stream ended; -ENOBUFS when more than
 * the stream's cap would be waiting (a client that does not read): the stream
 * is then ended. */
int http_stream_write(struct http_stream *st, const char *data, size_t len);

/* Ends the stream once what is queued is sent. Any thread. */
void http_stream_end(struct http_stream *st);

/* Answers with the stream as content_type (a static string), Cache-Control:
 * no-store. Takes ownership of st: if the reply is never sent the layer
 * still calls on_close and frees it. */
void http_reply_stream(struct http_reply *rep, struct http_stream *st, const char *content_type);

/* Sets a Set-Cookie header on the reply (value is the whole header value). */
void http_reply_cookie(struct http_reply *rep, const char *value);

/* The value of a request header, or NULL. */
const char *http_request_header(const struct http_request *req, const char *name);

/* Finds cookie name in a Cookie header's value ("a=1; b=2") and copies its
 * value to out. Returns its length; -ENOENT when absent (or header NULL);
 * -E2BIG when it does not fit in size (with its NUL); -EINVAL when the
 * header is malformed around it or names the cookie twice (ambiguous: a
 * cookie planted for a sibling domain or a narrower path). Bounded: reads
 * header up to its NUL. */
int http_cookie_find(const char *header, const char *name, char *out, size_t size);

/* Reply helpers. http_reply_json takes ownership of body. */
void http_reply_json(struct http_reply *rep, unsigned status, json_t *body);

/* t (seconds since the epoch) as an RFC 3339 string; null when t <= 0 (unset). */
json_t *http_time_or_null(int64_t t);
void http_reply_error(struct http_reply *rep, unsigned status, const char *code,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* As http_reply_error, for a refused document whose message begins with the
 * path of the member at fault and ": " ("settings.max_device_risk: must be
 * one of ..."): the error object also carries that path as "field" (at most
 * 256 bytes), for a program to find the member. A message that
 * begins otherwise gets no "field". */
void http_reply_error_at(struct http_reply *rep, unsigned status, const char *code,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Parses the request body as a JSON object. On failure fills rep with a 400
 * and returns NULL. The result is the caller's to json_decref(). */
json_t *http_request_json(const struct http_request *req, struct http_reply *rep);

/* Paging of a list: ?limit= (1 to max, dflt when absent) and ?offset= (0 to
 * INT32_MAX). Returns 0, or -EINVAL with a 400 invalid_query in rep. */
int http_request_paging(const struct http_request *req, uint64_t dflt, uint64_t max, uint64_t *ret_limit,
                        uint64_t *ret_offset, struct http_reply *rep);

/* A page's JSON: next_offset is offset + the page's length while total says
 * there is more, else null. */
json_t *http_page_next(size_t n, int64_t total, uint64_t offset);

/* Answers 200 with a page of a list of total items starting at offset:
 * {"count": total, "value": arr, "next_offset": http_page_next()}. Takes
 * arr. */
void http_reply_page(struct http_reply *rep, json_t *arr, int64_t total, uint64_t offset);

/* Answers 200 with a whole list: {"count": arr's length, "value": arr}.
 * Takes arr. */
void http_reply_values(struct http_reply *rep, json_t *arr);

/* Answers a request whose work failed with r, a negative errno from the
 * database or an allocation: 500 internal "out of memory while trying to
 * what" for -ENOMEM, else 500 database_error "cannot what". */
void http_reply_failed(struct http_reply *rep, int r, const char *what);

/* Answers a list read that failed: frees arr, the list it was filling,
 * and answers 500 database_error "cannot what". */
void http_reply_list_failed(struct http_reply *rep, json_t *arr, const char *what);

/* The value of a query argument, or NULL. */
const char *http_request_query(const struct http_request *req, const char *name);

/* The client's address as text ("127.0.0.1"), for log lines. */
void http_request_peer(const struct http_request *req, char *out, size_t size);

/* Matches a path against a route pattern; fills params. Exposed for tests.
 * Returns true on a match. */
bool http_path_match(const char *pattern, const char *path,
                     char params[HTTP_PARAMS_MAX][HTTP_PARAM_MAX + 1]);
