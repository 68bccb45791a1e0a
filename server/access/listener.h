/* access listener: the decision endpoint's own HTTP/1.1 server.
 *
 * A reverse proxy asks it about every request it forwards (nginx
 * auth_request, Caddy forward_auth, Traefik ForwardAuth, Envoy ext_authz),
 * over a few keep-alive connections, tens of thousands of times a second.
 * Plain HTTP on a TCP address or a unix socket; every answer is a status
 * line and headers with an empty body (Content-Length: 0), because nginx
 * keeps its connection to an auth_request backend only for body-less
 * answers. Requests are parsed in place with hard bounds (head size, header
 * count, line lengths); a request body is read and thrown away up to a
 * bound; a malformed request gets 400 and the connection is closed.
 * Pipelined requests are answered in order.
 *
 * Worker threads each run their own epoll loop over the shared listening
 * socket (EPOLLEXCLUSIVE); a new connection goes to the worker serving the
 * fewest and stays with it, so a handler is never called for one
 * connection from two threads at once. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/access/policy.h"

#define ACCESS_HTTP_HEAD_MAX 16384      /* bytes of a request line and headers */
#define ACCESS_HTTP_HEADERS_MAX 64      /* header lines in one request */
#define ACCESS_HTTP_BODY_MAX (1 << 20)  /* bytes of a request body read and discarded */
#define ACCESS_HTTP_ANSWER_HEADERS_MAX 8
#define ACCESS_HTTP_VALUE_MAX 512       /* bytes of one answer header's value */

struct access_http_header {
        const char *name;               /* not NUL-terminated */
        size_t name_len;
        const char *value;              /* surrounding blanks trimmed; not NUL-terminated */
        size_t value_len;
};

/* One parsed request. Every pointer points into the buffer it was parsed
 * from and is valid only during the handler's call. */
struct access_http_req {
        const char *method;
        size_t method_len;
        const char *target;             /* the request target as sent ("/v1/decide?x=1") */
        size_t target_len;
        unsigned minor;                 /* HTTP/1.minor */
        struct access_http_header headers[ACCESS_HTTP_HEADERS_MAX];
        size_t n_headers;
        bool keep_alive;                /* the connection stays open after the answer */
        uint64_t content_length;        /* body bytes that follow the head (discarded) */
        /* set by the listener, not the parser */
        struct access_ip peer;          /* family 0 for a unix socket */
        bool peer_local;                /* a unix socket or a loopback address */
};

/* The answer: status 200, 400, 401, 403, 404, 405 or 503 (any other is
 * sent as 500) and up to ACCESS_HTTP_ANSWER_HEADERS_MAX headers. Names are
 * constant strings; values are copied and any byte below 0x20 or 0x7f is
 * replaced by a space, so a value can never break the head. The listener
 * adds Content-Length: 0, and Connection: close when it closes after the
 * answer (Connection: keep-alive to an HTTP/1.0 request it keeps). */
struct access_http_answer {
        int status;
        size_t n_headers;
        struct {
                const char *name;
                char value[ACCESS_HTTP_VALUE_MAX + 1];
        } headers[ACCESS_HTTP_ANSWER_HEADERS_MAX];
};

/* Adds a header to an answer (printf-style value, truncated to
 * ACCESS_HTTP_VALUE_MAX bytes, never inside a UTF-8 character). Returns 0,
 * -E2BIG when the answer is full, or -EINVAL when name is not a token of 1
 * to 64 bytes. */
int access_http_answer_header(struct access_http_answer *a, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Finds a header by name, compared without regard to case. Returns its
 * value (not NUL-terminated) with its length in *ret_len, or NULL. When a
 * header appears more than once, the first is returned. */
const char *access_http_header(const struct access_http_req *r, const char *name, size_t *ret_len);

/* Parses one request head at the start of buf (len bytes). Returns 0 with
 * *ret filled and *ret_head_len the bytes of the head (the body, if any,
 * follows); -EAGAIN when buf holds no complete head yet; -E2BIG when the
 * head is past ACCESS_HTTP_HEAD_MAX or has more than
 * ACCESS_HTTP_HEADERS_MAX headers, or the body past ACCESS_HTTP_BODY_MAX;
 * -EINVAL for anything malformed (bad request line, version other than
 * HTTP/1.0 or 1.1, header without a colon, bad Content-Length, two
 * Content-Lengths even if equal, Transfer-Encoding). Never reads past
 * buf + len, nor past ACCESS_HTTP_HEAD_MAX bytes, and allocates nothing.
 *
 * Strict where readers could disagree: every line ends in CRLF (a bare LF
 * or a lone CR is -EINVAL); a line that starts with a blank (obs-fold) is
 * -EINVAL; the method and header names are tokens; the target is printable
 * ASCII without spaces; values hold no control byte but tab. One empty
 * line before the request line is skipped. keep_alive follows the version
 * (1.1 keeps, 1.0 closes) and the Connection tokens close and keep-alive
 * (close wins); a request with a body and an Expect header is not kept,
 * since it is answered before its body, which the client may then hold
 * back. peer and peer_local are zeroed. */
int access_http_parse(const char *buf, size_t len, struct access_http_req *ret, size_t *ret_head_len);

/* Called for every request, in the worker thread that owns the connection
 * (worker is 0 .. threads-1). It must fill ans; ans->status is 200 and
 * n_headers 0 on entry. */
typedef void (*access_http_fn)(void *ctx, unsigned worker, const struct access_http_req *req,
                               struct access_http_answer *ans);

struct access_listener_config {
        const char *listen;             /* "ADDR:PORT" (port 0 picks one), "[V6]:PORT" or "unix:PATH" */
        unsigned threads;               /* 1 .. 64 */
        unsigned max_connections;       /* open connections at once, all threads; more are closed at once */
        unsigned idle_timeout_s;        /* at least 1: a connection is closed when this long passes
                                         * without a request begun, or a begun request (head and
                                         * body) is not whole, or its answer not taken */
};

struct access_listener;

/* Binds, and starts the worker threads. A TCP address is numeric
 * ("127.0.0.1:8444", "[::1]:0"). A unix socket path that exists is
 * replaced if it is a socket nobody listens on, refused otherwise
 * (-EEXIST, -EADDRINUSE); the socket is made mode 0660 before anyone can
 * connect. Returns 0, or a negative errno with a message naming the
 * address in err. */
int access_listener_start(const struct access_listener_config *cfg, access_http_fn fn, void *ctx,
                          struct access_listener **ret, char *err, size_t err_size);

/* The TCP port bound (0 for a unix socket). */
uint16_t access_listener_port(const struct access_listener *l);

/* Stops the workers, closes every connection, removes the unix socket it
 * made (if still its own) and frees. NULL is fine. */
void access_listener_stop(struct access_listener *l);
