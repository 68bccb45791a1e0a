/* http: the HTTPS listener, routing, authentication and error replies.
 * See http.h for the contract. */
#include "server/http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "server/log.h"
#include "util/strutil.h"
#include "util/vbuf.h"
#include "vigil/wire.h"

#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define ERROR_MESSAGE_MAX 512
#define ERROR_FIELD_MAX 256     /* the longest member path an error names as "field" */

#define HTTP_WORKERS_MAX 64
#define PREAUTH_TIMEOUT_S 30
#define DISCARD_MAX (1024 * 1024)      /* body bytes read and dropped before a refusal is sent */    /* until a connection authenticates, it may idle this long */

/* One libmicrohttpd daemon per worker thread, all listening on the same port
 * (SO_REUSEPORT), each driven by our own loop rather than libmicrohttpd's
 * internal epoll thread: that loop (0.9.75) can block in a second
 * epoll_wait() with a batch of exactly 128 ready connections unserved until
 * the connection timeout. Driven from outside, libmicrohttpd never blocks;
 * only our poll() on its epoll descriptor does. */
struct http_worker {
        struct MHD_Daemon *mhd;
        struct http_server *server;
        pthread_t thread;
        bool running;
        int kick_fd;                    /* eventfd: a request of this worker was resumed */
};

struct req_state;

struct http_server {
        struct http_worker workers[HTTP_WORKERS_MAX];
        unsigned n_workers;
        int wake_fd;                    /* eventfd: written once to stop every worker */
        struct vigild *d;
        const struct http_route *const *tables;
        http_admin_auth_fn admin_auth;
        http_device_auth_fn device_auth;
        size_t body_max;
        unsigned connection_timeout;
        uint16_t port;
        /* requests suspended by http_reply_wait(), and the count of wakes */
        pthread_mutex_t wait_lock;
        struct req_state *waiting;
        uint64_t wake_seq;
        int64_t wait_earliest;          /* no wait ends before (mono ms); atomic reads */
        bool stopping;
        struct http_stream *streams;    /* answered streams (under wait_lock) */
        http_session_auth_fn session_auth;
};

/* A streamed answer (http_reply_stream): a capped buffer the owner fills and
 * the connection's content reader drains. */
struct http_stream {
        pthread_mutex_t lock;
        struct http_server *server;
        struct MHD_Connection *conn;    /* once queued */
        struct MHD_Daemon *mhd;         /* the daemon (worker) owning conn */
        const char *type;
        char *buf;
        size_t off, len, cap;           /* queued bytes: buf[off, off + len) */
        bool ended, suspended;
        void (*on_close)(void *cls);
        void *cls;
        struct http_stream *prev, *next; /* on server->streams */
};

/* Per-connection state: the device certificate is verified once per TLS
 * connection and the outcome reused by every request on it. */
enum cert_state { CERT_UNCHECKED = 0, CERT_NONE, CERT_INVALID, CERT_VALID };

struct conn_state {
        enum cert_state cert;
        bool trusted;                   /* a request on it authenticated: the long timeout applies */
        struct crypto_cert_info info;
};

/* Per-request state, alive from the first access-handler call to completion. */
struct req_state {
        const struct http_route *route;
        struct http_principal who;
        struct http_request req;
        struct http_reply early;        /* an answer decided before the body (404, 401, ...) */
        struct vbuf body;
        bool too_big;
        size_t discarded;               /* body bytes of a refused request, read and dropped */
        /* while suspended (on server->waiting, under wait_lock) */
        bool suspended;
        struct MHD_Daemon *mhd;         /* the daemon (worker) owning the connection */
        char wait_key[HTTP_WAIT_KEY_MAX + 1];
        int64_t wait_deadline_ms;
        struct req_state *wait_prev, *wait_next;
};

void http_reply_json(struct http_reply *rep, unsigned status, json_t *body)
{
        json_decref(rep->json);
        rep->status = status;
        rep->json = body;
}

json_t *http_time_or_null(int64_t t)
{
        char buf[21];

        if (t <= 0)
                return json_null();
        util_time_format(t, buf);
        return json_string(buf);
}

void http_reply_error(struct http_reply *rep, unsigned status, const char *code,
                      const char *fmt, ...)
{
        char msg[ERROR_MESSAGE_MAX];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        /* messages may quote what the client sent: keep them printable ASCII,
         * so they are valid JSON strings whatever the client sent */
        for (char *c = msg; *c; c++)
                if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
                        *c = '?';
        http_reply_json(rep, status,
                        json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
}

/* The length of the member path MSG begins with ("settings.max_device_risk",
 * "policies[1].users.include[0]") when a ": " follows it, else 0. */
static size_t error_field_len(const char *msg)
{
        size_t n = 0;

        if (!((msg[0] >= 'a' && msg[0] <= 'z') || (msg[0] >= 'A' && msg[0] <= 'Z')))
                return 0;
        while (msg[n] && n < ERROR_FIELD_MAX &&
               ((msg[n] >= 'a' && msg[n] <= 'z') || (msg[n] >= 'A' && msg[n] <= 'Z') ||
                (msg[n] >= '0' && msg[n] <= '9') || strchr("_.[]-", msg[n])))
                n++;
        return msg[n] == ':' && msg[n + 1] == ' ' ? n : 0;
}

void http_reply_error_at(struct http_reply *rep, unsigned status, const char *code,
                         const char *fmt, ...)
{
        char msg[ERROR_MESSAGE_MAX];
        size_t n;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        http_reply_error(rep, status, code, "%s", msg);
        n = error_field_len(msg);
        if (n && rep->json)
                json_object_set_new(json_object_get(rep->json, "error"), "field", json_stringn(msg, n));
}

void http_reply_file(struct http_reply *rep, unsigned status, int fd, uint64_t size,
                     const char *content_type, const char *filename)
{
        json_decref(rep->json);
        rep->json = NULL;
        if (rep->file_set)
                close(rep->file_fd);
        rep->status = status;
        rep->file_set = true;
        rep->file_fd = fd;
        rep->file_size = size;
        snprintf(rep->file_type, sizeof(rep->file_type), "%s", content_type);
        snprintf(rep->file_name, sizeof(rep->file_name), "%s", filename);
}

/* libmicrohttpd's own signal does not wake a loop driven from outside: kick
 * the worker that owns a resumed connection. */
static void worker_kick(struct http_server *s, struct MHD_Daemon *mhd)
{
        for (unsigned i = 0; i < s->n_workers; i++)
                if (s->workers[i].mhd == mhd) {
                        uint64_t one = 1;
                        if (write(s->workers[i].kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
                                abort();        /* an eventfd write fails only when full */
                        break;
                }
}

void http_reply_bytes(struct http_reply *rep, unsigned status, const struct http_bytes *b)
{
        json_decref(rep->json);
        rep->json = NULL;
        rep->status = status;
        rep->bytes = *b;
        rep->bytes_set = true;
}

void http_reply_cookie(struct http_reply *rep, const char *value)
{
        snprintf(rep->set_cookie, sizeof(rep->set_cookie), "%s", value);
}

const char *http_request_header(const struct http_request *req, const char *name)
{
        return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/* RFC 6265 cookie-octet: what a cookie value may hold (without quotes). */
static bool cookie_octet(char c)
{
        return c == 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a) ||
               (c >= 0x3c && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

int http_cookie_find(const char *header, const char *name, char *out, size_t size)
{
        size_t nl = strlen(name);
        const char *p = header, *found = NULL, *found_end = NULL;
        size_t vl;

        if (!p)
                return -ENOENT;
        for (;;) {
                const char *v, *end;

                while (*p == ' ' || *p == '\t')
                        p++;
                if (!*p)
                        break;
                v = strchr(p, '=');
                end = strchr(p, ';');
                if (!end)
                        end = p + strlen(p);
                if (!v || v > end || (size_t)(v - p) != nl || strncmp(p, name, nl) != 0) {
                        p = *end ? end + 1 : end;       /* not ours (or a pair without '='): skip it */
                        continue;
                }
                /* a second cookie of the name (one set for a sibling domain or
                 * a narrower path): which is the user's cannot be told */
                if (found)
                        return -EINVAL;
                found = v + 1;
                found_end = end;
                p = *end ? end + 1 : end;
        }
        if (!found)
                return -ENOENT;
        while (found_end > found && (found_end[-1] == ' ' || found_end[-1] == '\t'))
                found_end--;
        if (found_end - found >= 2 && found[0] == '"' && found_end[-1] == '"') {
                found++;
                found_end--;
        }
        vl = (size_t)(found_end - found);
        for (size_t i = 0; i < vl; i++)
                if (!cookie_octet(found[i]))
                        return -EINVAL;
        if (vl + 1 > size)
                return -E2BIG;
        memcpy(out, found, vl);
        out[vl] = '\0';
        return (int)vl;
}

struct http_stream *http_stream_new(struct http_server *s, size_t cap, void (*on_close)(void *cls), void *cls)
{
        struct http_stream *st = calloc(1, sizeof(*st));

        if (!st)
                return NULL;
        st->buf = malloc(cap);
        if (!st->buf) {
                free(st);
                return NULL;
        }
        pthread_mutex_init(&st->lock, NULL);
        st->server = s;
        st->cap = cap;
        st->on_close = on_close;
        st->cls = cls;
        return st;
}

/* Resumes the stream's connection if its reader found nothing and
 * suspended it; st->lock held. */
static void stream_wake_locked(struct http_stream *st)
{
        if (!st->suspended)
                return;
        st->suspended = false;
        MHD_resume_connection(st->conn);
        worker_kick(st->server, st->mhd);
}

int http_stream_write(struct http_stream *st, const char *data, size_t len)
{
        int r = 0;

        pthread_mutex_lock(&st->lock);
        if (st->ended) {
                r = -EPIPE;
        } else if (len > st->cap - st->len) {
                st->ended = true;
                r = -ENOBUFS;
        } else {
                if (st->off + st->len + len > st->cap) {
                        memmove(st->buf, st->buf + st->off, st->len);
                        st->off = 0;
                }
                memcpy(st->buf + st->off + st->len, data, len);
                st->len += len;
        }
        stream_wake_locked(st);
        pthread_mutex_unlock(&st->lock);
        return r;
}

void http_stream_end(struct http_stream *st)
{
        pthread_mutex_lock(&st->lock);
        st->ended = true;
        stream_wake_locked(st);
        pthread_mutex_unlock(&st->lock);
}

/* Calls the owner's on_close and frees the stream. */
static void stream_free(struct http_stream *st)
{
        st->on_close(st->cls);
        pthread_mutex_destroy(&st->lock);
        free(st->buf);
        free(st);
}

void http_reply_stream(struct http_reply *rep, struct http_stream *st, const char *content_type)
{
        json_decref(rep->json);
        rep->json = NULL;
        if (rep->stream)
                stream_free(rep->stream);
        rep->status = 200;
        rep->stream = st;
        st->type = content_type;
}

void http_reply_wait(struct http_reply *rep, const char *key, unsigned ms, uint64_t seq)
{
        rep->wait = true;
        snprintf(rep->wait_key, sizeof(rep->wait_key), "%s", key);
        rep->wait_ms = ms > HTTP_WAIT_MAX_MS ? HTTP_WAIT_MAX_MS : ms;
        rep->wait_seq = seq;
}

uint64_t http_wait_seq(struct http_server *s)
{
        uint64_t seq;

        pthread_mutex_lock(&s->wait_lock);
        seq = s->wake_seq;
        pthread_mutex_unlock(&s->wait_lock);
        return seq;
}

/* Takes rs off the waiting list and resumes its connection; wait_lock held. */
static void wait_end_locked(struct http_server *s, struct req_state *rs)
{
        if (rs->wait_prev)
                rs->wait_prev->wait_next = rs->wait_next;
        else
                s->waiting = rs->wait_next;
        if (rs->wait_next)
                rs->wait_next->wait_prev = rs->wait_prev;
        rs->wait_prev = rs->wait_next = NULL;
        rs->suspended = false;
        MHD_resume_connection(rs->req.conn);
        worker_kick(s, rs->mhd);
}

void http_server_wake(struct http_server *s, const char *key)
{
        struct req_state *rs, *next;

        if (!s)
                return;
        pthread_mutex_lock(&s->wait_lock);
        s->wake_seq++;
        for (rs = s->waiting; rs; rs = next) {
                next = rs->wait_next;
                if (strcmp(rs->wait_key, key) == 0)
                        wait_end_locked(s, rs);
        }
        pthread_mutex_unlock(&s->wait_lock);
}

/* Resumes the waits whose time is up (every wait when the server stops). */
/* Resumes the waits whose time is up (every wait when the server stops).
 * Called at every turn of every worker's loop: nothing is scanned or locked
 * before the earliest deadline. */
static void wait_expire(struct http_server *s)
{
        int64_t now = util_mono_ms(), earliest = INT64_MAX;
        struct req_state *rs, *next;

        if (now < __atomic_load_n(&s->wait_earliest, __ATOMIC_RELAXED))
                return;
        pthread_mutex_lock(&s->wait_lock);
        for (rs = s->waiting; rs; rs = next) {
                next = rs->wait_next;
                if (s->stopping || rs->wait_deadline_ms <= now)
                        wait_end_locked(s, rs);
                else if (rs->wait_deadline_ms < earliest)
                        earliest = rs->wait_deadline_ms;
        }
        __atomic_store_n(&s->wait_earliest, earliest, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&s->wait_lock);
}

/* Suspends the request as rep asks, unless a wake came since the handler
 * looked (or the server stops). Returns true if suspended. */
static bool wait_begin(struct http_server *s, struct req_state *rs, const struct http_reply *rep)
{
        bool suspended = false;

        pthread_mutex_lock(&s->wait_lock);
        if (!s->stopping && s->wake_seq == rep->wait_seq) {
                const union MHD_ConnectionInfo *ci = MHD_get_connection_info(rs->req.conn,
                                                                             MHD_CONNECTION_INFO_DAEMON);
                rs->mhd = ci ? ci->daemon : NULL;
                memcpy(rs->wait_key, rep->wait_key, sizeof(rs->wait_key));
                rs->wait_deadline_ms = util_mono_ms() + rep->wait_ms;
                if (rs->wait_deadline_ms < s->wait_earliest)
                        __atomic_store_n(&s->wait_earliest, rs->wait_deadline_ms, __ATOMIC_RELAXED);
                rs->wait_prev = NULL;
                rs->wait_next = s->waiting;
                if (s->waiting)
                        s->waiting->wait_prev = rs;
                s->waiting = rs;
                rs->suspended = true;
                MHD_suspend_connection(rs->req.conn);
                suspended = true;
        }
        pthread_mutex_unlock(&s->wait_lock);
        return suspended;
}

json_t *http_request_json(const struct http_request *req, struct http_reply *rep)
{
        json_error_t jerr;
        json_t *j;

        if (req->body_len == 0) {
                http_reply_error(rep, 400, "invalid_json", "request body is empty; a JSON object is required");
                return NULL;
        }
        j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!j) {
                http_reply_error(rep, 400, "invalid_json", "malformed JSON at line %d, column %d: %s",
                                 jerr.line, jerr.column, jerr.text);
                return NULL;
        }
        if (!json_is_object(j)) {
                json_decref(j);
                http_reply_error(rep, 400, "invalid_json", "the request body must be a JSON object");
                return NULL;
        }
        return j;
}

const char *http_request_query(const struct http_request *req, const char *name)
{
        return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

int http_request_paging(const struct http_request *req, uint64_t dflt, uint64_t max, uint64_t *ret_limit,
                        uint64_t *ret_offset, struct http_reply *rep)
{
        const char *lv = http_request_query(req, "limit"), *ov = http_request_query(req, "offset");

        *ret_limit = dflt;
        *ret_offset = 0;
        if ((lv && (util_uint_parse(lv, max, ret_limit) < 0 || *ret_limit == 0)) ||
            (ov && util_uint_parse(ov, INT32_MAX, ret_offset) < 0)) {
                http_reply_error(rep, 400, "invalid_query", "'limit' must be from 1 to %llu and 'offset' an integer "
                                 "from 0 to %d", (unsigned long long)max, INT32_MAX);
                return -EINVAL;
        }
        return 0;
}

json_t *http_page_next(size_t n, int64_t total, uint64_t offset)
{
        return total >= 0 && offset + n < (uint64_t)total ? json_integer((json_int_t)(offset + n)) : json_null();
}

void http_reply_page(struct http_reply *rep, json_t *arr, int64_t total, uint64_t offset)
{
        http_reply_json(rep, 200, json_pack("{s:I,s:o,s:o}", "count", (json_int_t)total, "value", arr,
                                            "next_offset", http_page_next(json_array_size(arr), total, offset)));
}

void http_reply_values(struct http_reply *rep, json_t *arr)
{
        http_reply_json(rep, 200, json_pack("{s:I,s:o}", "count", (json_int_t)json_array_size(arr), "value", arr));
}

void http_reply_failed(struct http_reply *rep, int r, const char *what)
{
        if (r == -ENOMEM)
                http_reply_error(rep, 500, "internal", "out of memory while trying to %s", what);
        else
                http_reply_error(rep, 500, "database_error", "cannot %s", what);
}

void http_reply_list_failed(struct http_reply *rep, json_t *arr, const char *what)
{
        json_decref(arr);
        http_reply_error(rep, 500, "database_error", "cannot %s", what);
}

void http_request_peer(const struct http_request *req, char *out, size_t size)
{
        const union MHD_ConnectionInfo *ci;
        const struct sockaddr *sa;

        snprintf(out, size, "unknown");
        ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (!ci || !ci->client_addr)
                return;
        sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)size);
        else if (sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)size);
}

static bool param_char_ok(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.';
}

bool http_path_match(const char *pattern, const char *path,
                     char params[HTTP_PARAMS_MAX][HTTP_PARAM_MAX + 1])
{
        size_t np = 0;

        while (*pattern && *path) {
                if (*pattern == '{') {
                        size_t n = 0;
                        pattern = strchr(pattern, '}');
                        if (!pattern || np >= HTTP_PARAMS_MAX)
                                return false;
                        pattern++;
                        while (*path && *path != '/') {
                                if (n >= HTTP_PARAM_MAX || !param_char_ok(*path))
                                        return false;
                                params[np][n++] = *path++;
                        }
                        if (n == 0)
                                return false;
                        params[np++][n] = '\0';
                        continue;
                }
                if (*pattern != *path)
                        return false;
                pattern++;
                path++;
        }
        return *pattern == '\0' && *path == '\0';
}

/* Finds the route for a request; *ret_path_known tells 405 from 404. */
static const struct http_route *route_find(const struct http_server *s, const char *method,
                                           const char *path, struct http_request *req,
                                           bool *ret_path_known)
{
        *ret_path_known = false;
        for (size_t t = 0; s->tables[t]; t++)
                for (const struct http_route *r = s->tables[t]; r->handler; r++) {
                        if (!http_path_match(r->pattern, path, req->params))
                                continue;
                        *ret_path_known = true;
                        /* HEAD is GET without the body (libmicrohttpd drops it) */
                        if (strcmp(r->method, method) == 0 ||
                            (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0))
                                return r;
                }
        return NULL;
}

/* Verifies the peer's certificate against the trust set (the device CA) for
 * client authentication, once per connection. */
static void conn_check_cert(struct MHD_Connection *conn, struct conn_state *cs)
{
        const union MHD_ConnectionInfo *ci;
        const gnutls_datum_t *peers;
        gnutls_session_t session;
        gnutls_typed_vdata_st vdata = {
                .type = GNUTLS_DT_KEY_PURPOSE_OID,
                .data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT,
        };
        unsigned int n = 0, status = 0;

        if (cs->cert != CERT_UNCHECKED)
                return;
        cs->cert = CERT_INVALID;
        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (!ci || !ci->tls_session)
                return;
        session = (gnutls_session_t)ci->tls_session;
        peers = gnutls_certificate_get_peers(session, &n);
        if (!peers || n == 0) {
                cs->cert = CERT_NONE;
                return;
        }
        if (gnutls_certificate_verify_peers(session, &vdata, 1, &status) < 0 || status != 0)
                return;
        if (crypto_cert_info_der(peers[0].data, peers[0].size, &cs->info) < 0)
                return;
        cs->cert = CERT_VALID;
}

static void authenticate_device(struct http_server *s, struct MHD_Connection *conn,
                                struct http_principal *who, struct http_reply *rep)
{
        const union MHD_ConnectionInfo *ci;
        struct conn_state *cs;

        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        cs = ci ? ci->socket_context : NULL;
        if (!cs) {
                http_reply_error(rep, 500, "internal", "no connection state");
                return;
        }
        conn_check_cert(conn, cs);
        switch (cs->cert) {
        case CERT_NONE:
                http_reply_error(rep, 401, "device_certificate_required",
                                 "this endpoint requires a device certificate issued at onboarding");
                return;
        case CERT_VALID:
                break;
        default:
                http_reply_error(rep, 403, "device_certificate_invalid",
                                 "the client certificate was not issued by this server's device CA, or has expired");
                return;
        }
        who->cert = cs->info;
        if (util_now() >= cs->info.not_after) {
                /* verified when the connection opened; it may have expired since */
                http_reply_error(rep, 403, "device_certificate_invalid", "the device certificate has expired");
                return;
        }
        if (!util_str_printable(cs->info.cn, sizeof(who->device_id) - 1)) {
                http_reply_error(rep, 403, "device_certificate_invalid", "the certificate names no device");
                return;
        }
        memcpy(who->device_id, cs->info.cn, strlen(cs->info.cn) + 1);
        if (s->device_auth(s->d, who) < 0)
                http_reply_error(rep, 403, "device_offboarded",
                                 "device %s is offboarded or its certificate was revoked", who->device_id);
}

/* The portal's session cookie in place of a bearer token: a request that
 * changes something must carry the session's CSRF token as well. */
static void authenticate_session(struct http_server *s, struct MHD_Connection *conn, const char *method,
                                 const char *session, struct http_principal *who, struct http_reply *rep)
{
        const char *csrf = NULL;
        int r;

        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
                csrf = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, HTTP_CSRF_HEADER);
                if (!csrf)
                        csrf = "";
        }
        r = s->session_auth(s->d, session, csrf, who);
        if (r == -EPERM)
                http_reply_error(rep, 403, "csrf_failed", "a change made with the session cookie must carry "
                                 "the " HTTP_CSRF_HEADER " header that signing in returned");
        else if (r == -ETIMEDOUT)
                http_reply_error(rep, 401, "session_expired",
                                 "the session expired or its token was revoked: sign in again");
        else if (r < 0)
                http_reply_error(rep, 401, "unauthenticated", "the session is unknown or signed out: sign in again");
        else
                who->session = true;
}

static void authenticate_admin(struct http_server *s, struct MHD_Connection *conn, const char *method,
                               const struct http_route *r, struct http_principal *who,
                               struct http_reply *rep)
{
        const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        char session[128];

        if (!h && s->session_auth &&
            http_cookie_find(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_COOKIE),
                             HTTP_SESSION_COOKIE, session, sizeof(session)) > 0) {
                authenticate_session(s, conn, method, session, who, rep);
                explicit_bzero(session, sizeof(session));
                if (!rep->status && !(who->role & r->roles))
                        http_reply_error(rep, 403, "forbidden", "this session's role may not do this");
                return;
        }
        if (!h || strncasecmp(h, "Bearer ", 7) != 0 || !h[7]) {
                http_reply_error(rep, 401, "unauthenticated",
                                 "an admin token is required: send 'Authorization: Bearer TOKEN'");
                return;
        }
        if (s->admin_auth(s->d, h + 7, who) < 0) {
                http_reply_error(rep, 401, "invalid_token", "the admin token is unknown or revoked");
                return;
        }
        if (!(who->role & r->roles))
                http_reply_error(rep, 403, "forbidden", "this token's role may not do this");
}

/* A connection that authenticated once may stay open as long as any; until
 * then it gets PREAUTH_TIMEOUT_S, so idle strangers cannot hold every slot. */
static void conn_trust(struct http_server *s, struct MHD_Connection *conn)
{
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        struct conn_state *cs = ci ? ci->socket_context : NULL;

        if (!cs || cs->trusted)
                return;
        cs->trusted = true;
        MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, s->connection_timeout);
}

/* Decides, from the request line and headers alone, which route serves the
 * request and whether the caller may use it; so that a body is only read for
 * a caller who may send one. On refusal fills rs->early. */
static void admit(struct http_server *s, struct MHD_Connection *conn, const char *method,
                  const char *url, struct req_state *rs)
{
        struct http_reply *rep = &rs->early;
        const struct http_route *r;
        bool known;

        rs->req.method = method;
        rs->req.path = url;
        rs->req.conn = conn;
        rs->req.server = s;
        rs->req.who = &rs->who;
        r = route_find(s, method, url, &rs->req, &known);
        if (!r) {
                if (known)
                        http_reply_error(rep, 405, "method_not_allowed", "%s is not allowed on %s", method, url);
                else
                        http_reply_error(rep, 404, "not_found", "no such endpoint: %s", url);
                return;
        }
        if (r->auth == HTTP_AUTH_ADMIN)
                authenticate_admin(s, conn, method, r, &rs->who, rep);
        else if (r->auth == HTTP_AUTH_DEVICE)
                authenticate_device(s, conn, &rs->who, rep);
        rs->route = r;
        if (r->auth != HTTP_AUTH_NONE && !rep->status)
                conn_trust(s, conn);
}

static void dispatch(struct http_server *s, struct req_state *rs, struct http_reply *rep)
{
        if (rs->too_big) {
                http_reply_error(rep, 413, "body_too_large", "the request body is larger than %zu bytes",
                                 rs->body.max);
                return;
        }
        rs->req.body = vbuf_str(&rs->body);
        rs->req.body_len = rs->body.len;
        rs->route->handler(s->d, &rs->req, rep);
        if (rep->wait && !rs->req.resumed) {
                if (wait_begin(s, rs, rep))
                        return;
                /* woken already: look again at once */
                rep->wait = false;
                rs->req.resumed = true;
                rs->route->handler(s->d, &rs->req, rep);
        }
        if (rep->wait) {
                rep->wait = false;
                http_reply_error(rep, 500, "internal", "the handler waited twice");
        }
        if (!rep->status)
                http_reply_error(rep, 500, "internal", "the handler gave no answer");
}

/* What every answer carries: the portal's Content-Security-Policy, the
 * headers that keep browsers from sniffing, framing or leaking referrers,
 * and HSTS (the listener speaks only HTTPS). */
static void add_common_headers(struct MHD_Response *resp, const struct http_reply *rep)
{
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
                                "frame-ancestors 'none'");
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
        MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
        if (rep->set_cookie[0])
                MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, rep->set_cookie);
}

static enum MHD_Result queue_file(struct MHD_Connection *conn, struct http_reply *rep)
{
        struct MHD_Response *resp;
        enum MHD_Result ret;
        char disp[200];

        rep->file_set = false;
        resp = MHD_create_response_from_fd64(rep->file_size, rep->file_fd);
        if (!resp) {
                close(rep->file_fd);
                return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rep->file_type);
        if (rep->file_name[0]) {
                snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", rep->file_name);
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        add_common_headers(resp, rep);
        ret = MHD_queue_response(conn, rep->status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result queue_bytes(struct MHD_Connection *conn, struct http_reply *rep)
{
        const struct http_bytes *b = &rep->bytes;
        struct MHD_Response *resp;
        enum MHD_Result ret;

        resp = MHD_create_response_from_buffer(rep->status == 304 ? 0 : b->len, (void *)b->data,
                                               MHD_RESPMEM_PERSISTENT);
        if (!resp)
                return MHD_NO;
        if (rep->status != 304) {
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, b->type);
                if (b->encoding)
                        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, b->encoding);
        }
        if (b->etag)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, b->etag);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT_ENCODING);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, b->cache_control ? b->cache_control : "no-store");
        add_common_headers(resp, rep);
        ret = MHD_queue_response(conn, rep->status, resp);
        MHD_destroy_response(resp);
        return ret;
}

/* The content reader of a stream: what is queued, else the end, else
 * nothing for now, with the connection suspended until a write wakes it. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
        struct http_stream *st = cls;
        ssize_t n;

        pthread_mutex_lock(&st->lock);
        if (st->len) {
                n = (ssize_t)(st->len < max ? st->len : max);
                memcpy(buf, st->buf + st->off, (size_t)n);
                st->off += (size_t)n;
                st->len -= (size_t)n;
                if (!st->len)
                        st->off = 0;
        } else if (st->ended) {
                n = MHD_CONTENT_READER_END_OF_STREAM;
        } else {
                st->suspended = true;
                MHD_suspend_connection(st->conn);
                n = 0;
        }
        pthread_mutex_unlock(&st->lock);
        return n;
}

/* The response is gone: so is the connection; forget the stream. */
static void stream_done(void *cls)
{
        struct http_stream *st = cls;
        struct http_server *s = st->server;

        pthread_mutex_lock(&s->wait_lock);
        if (st->prev)
                st->prev->next = st->next;
        else if (s->streams == st)
                s->streams = st->next;
        if (st->next)
                st->next->prev = st->prev;
        pthread_mutex_unlock(&s->wait_lock);
        stream_free(st);
}

static enum MHD_Result queue_stream(struct MHD_Connection *conn, struct http_reply *rep)
{
        struct http_stream *st = rep->stream;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_DAEMON);
        struct http_server *s = st->server;
        struct MHD_Response *resp;
        enum MHD_Result ret;

        rep->stream = NULL;
        /* the owner may write already: its writes read conn once the reader suspended */
        pthread_mutex_lock(&st->lock);
        st->conn = conn;
        st->mhd = ci ? ci->daemon : NULL;
        pthread_mutex_unlock(&st->lock);
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st, stream_done);
        if (!resp) {
                stream_free(st);
                return MHD_NO;
        }
        pthread_mutex_lock(&s->wait_lock);
        st->next = s->streams;
        if (s->streams)
                s->streams->prev = st;
        s->streams = st;
        /* answered while the server stops (its last turns of the loop): the
         * stream must not suspend its connection, which the daemon's stop
         * would then free under a writer */
        if (s->stopping) {
                pthread_mutex_lock(&st->lock);
                st->ended = true;
                pthread_mutex_unlock(&st->lock);
        }
        pthread_mutex_unlock(&s->wait_lock);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, st->type);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        add_common_headers(resp, rep);
        ret = MHD_queue_response(conn, rep->status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result queue_reply(struct MHD_Connection *conn, struct http_reply *rep)
{
        struct MHD_Response *resp;
        enum MHD_Result ret;
        char *text = NULL;

        if (rep->file_set)
                return queue_file(conn, rep);
        if (rep->bytes_set)
                return queue_bytes(conn, rep);
        if (rep->stream)
                return queue_stream(conn, rep);
        if (rep->json)
                text = json_dumps(rep->json, JSON_COMPACT);
        if (!text) {
                rep->status = 500;
                text = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
                if (!text)
                        return MHD_NO;
        }
        resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(text);
                return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        add_common_headers(resp, rep);
        ret = MHD_queue_response(conn, rep->status, resp);
        MHD_destroy_response(resp);
        return ret;
}

/* The body cap of a route: its own, else the server's; anyone may call an
 * unauthenticated route, so a smaller cap there. */
static size_t body_cap(const struct http_server *s, const struct http_route *r)
{
        size_t max = r && r->body_max ? r->body_max : s->body_max;

        if (r && r->auth == HTTP_AUTH_NONE && max > VIGIL_WIRE_UNAUTH_BODY_MAX)
                max = VIGIL_WIRE_UNAUTH_BODY_MAX;
        return max;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **req_cls)
{
        struct http_server *s = cls;
        struct req_state *rs = *req_cls;
        struct http_reply rep = { 0 };
        enum MHD_Result ret;

        if (!rs) {
                /* Queue nothing on the first call: libmicrohttpd would close a
                 * keep-alive connection if we did. */
                const char *cl;
                uint64_t len;

                rs = calloc(1, sizeof(*rs));
                if (!rs)
                        return MHD_NO;
                *req_cls = rs;
                admit(s, conn, method, url, rs);
                vbuf_init(&rs->body, body_cap(s, rs->route));
                cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
                if (cl && (util_uint_parse(cl, UINT64_MAX, &len) < 0 || len > rs->body.max))
                        rs->too_big = true;
                return MHD_YES;
        }
        if (*upload_data_size) {
                /* a refused request's body is read and dropped, never kept
                 * (libmicrohttpd 0.9.75 cannot answer before the body is read);
                 * past DISCARD_MAX the connection is cut instead */
                if (!rs->early.status && !rs->too_big &&
                    vbuf_append(&rs->body, upload_data, *upload_data_size) < 0) {
                        rs->too_big = true;
                        vbuf_release(&rs->body);
                }
                if (rs->early.status || rs->too_big) {
                        rs->discarded += *upload_data_size;
                        if (rs->discarded > DISCARD_MAX)
                                return MHD_NO;
                }
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (rs->early.status)
                return queue_reply(conn, &rs->early);
        if (rs->suspended)
                return MHD_YES;         /* cannot happen: a suspended request is not called */
        if (rs->wait_deadline_ms)
                rs->req.resumed = true; /* called again after a wait */
        dispatch(s, rs, &rep);
        if (rs->suspended)
                return MHD_YES;
        ret = queue_reply(conn, &rep);
        json_decref(rep.json);
        if (rep.file_set)
                close(rep.file_fd);
        if (rep.stream)
                stream_free(rep.stream);
        return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
        struct req_state *rs = *req_cls;

        if (!rs)
                return;
        vbuf_release(&rs->body);
        json_decref(rs->early.json);
        free(rs);
        *req_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
        struct http_server *s = cls;

        if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
                *socket_context = calloc(1, sizeof(struct conn_state));
                if (s->connection_timeout > PREAUTH_TIMEOUT_S)
                        MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                                  (unsigned)PREAUTH_TIMEOUT_S);
        } else {
                free(*socket_context);
                *socket_context = NULL;
        }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
        char line[512];
        size_t n;

        vsnprintf(line, sizeof(line), fmt, ap);
        n = strlen(line);
        while (n && line[n - 1] == '\n')
                line[--n] = '\0';
        log_debug("http: %s", line);
}

/* Parses "ADDR:PORT" or "[ADDR6]:PORT". Returns 0 or -EINVAL. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss)
{
        char host[64];
        const char *colon;
        uint64_t port;
        size_t hl;

        memset(ss, 0, sizeof(*ss));
        colon = strrchr(listen, ':');
        if (!colon || util_uint_parse(colon + 1, 65535, &port) < 0)
                return -EINVAL;
        hl = (size_t)(colon - listen);
        if (hl >= 2 && listen[0] == '[' && listen[hl - 1] == ']') {
                listen++;
                hl -= 2;
        }
        if (hl == 0 || hl >= sizeof(host))
                return -EINVAL;
        memcpy(host, listen, hl);
        host[hl] = '\0';
        if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
                ((struct sockaddr_in *)ss)->sin_family = AF_INET;
                ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
                return 0;
        }
        if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
                ((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
                ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
                return 0;
        }
        return -EINVAL;
}

static void *worker_main(void *arg)
{
        struct http_worker *w = arg;
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(w->mhd, MHD_DAEMON_INFO_EPOLL_FD);
        struct pollfd pfd[3] = {
                { .fd = di ? di->epoll_fd : -1, .events = POLLIN },
                { .fd = w->server->wake_fd, .events = POLLIN },
                { .fd = w->kick_fd, .events = POLLIN },
        };

        for (;;) {
                MHD_UNSIGNED_LONG_LONG to;
                uint64_t n;
                int timeout = 1000;

                if (MHD_get_timeout(w->mhd, &to) == MHD_YES && to < 1000)
                        timeout = (int)to;
                if (poll(pfd, 3, timeout) > 0 && (pfd[1].revents & POLLIN))
                        break;
                if (pfd[2].revents & POLLIN) {
                        if (read(w->kick_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
                                abort();
                        /* the first run takes the resumed connection back, the second serves it */
                        MHD_run(w->mhd);
                }
                wait_expire(w->server);
                MHD_run(w->mhd);
        }
        return NULL;
}

static struct MHD_Daemon *daemon_start(struct http_server *s, const struct http_server_config *cfg,
                                       const struct sockaddr_storage *ss, unsigned max_conn)
{
        unsigned flags = MHD_USE_EPOLL | MHD_USE_TLS | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;

        if (ss->ss_family == AF_INET6)
                flags |= MHD_USE_IPv6;
        return MHD_start_daemon(flags, 0, NULL, NULL, on_access, s,
                MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)ss,
                MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                MHD_OPTION_HTTPS_MEM_KEY, cfg->key_pem,
                MHD_OPTION_HTTPS_MEM_CERT, cfg->cert_pem,
                MHD_OPTION_HTTPS_MEM_TRUST, cfg->trust_pem,
                MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES,
                MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout,
                MHD_OPTION_CONNECTION_LIMIT, max_conn,
                MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg->connection_memory,
                MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
                MHD_OPTION_END);
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
        if (ss->ss_family == AF_INET6)
                ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
        else
                ((struct sockaddr_in *)ss)->sin_port = htons(port);
}

int http_server_start(const struct http_server_config *cfg, struct vigild *d,
                      const struct http_route *const *tables,
                      http_admin_auth_fn admin_auth, http_device_auth_fn device_auth,
                      struct http_server **ret, char *err, size_t err_size)
{
        struct sockaddr_storage ss;
        const union MHD_DaemonInfo *di;
        struct http_server *s;
        unsigned n = cfg->threads ? cfg->threads : 1;

        if (n > HTTP_WORKERS_MAX)
                n = HTTP_WORKERS_MAX;
        if (parse_listen(cfg->listen, &ss) < 0) {
                snprintf(err, err_size, "invalid listen address '%s' (want ADDR:PORT)", cfg->listen);
                return -EINVAL;
        }
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->d = d;
        s->tables = tables;
        s->admin_auth = admin_auth;
        s->device_auth = device_auth;
        s->body_max = cfg->body_max;
        s->connection_timeout = cfg->connection_timeout;
        s->session_auth = cfg->session_auth;
        pthread_mutex_init(&s->wait_lock, NULL);
        s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (s->wake_fd < 0) {
                pthread_mutex_destroy(&s->wait_lock);
                free(s);
                return -errno;
        }
        for (unsigned i = 0; i < n; i++) {
                struct http_worker *w = &s->workers[i];
                w->server = s;
                w->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                if (w->kick_fd < 0) {
                        snprintf(err, err_size, "cannot make an eventfd: %s", strerror(errno));
                        http_server_stop(s);
                        return -EMFILE;
                }
                w->mhd = daemon_start(s, cfg, &ss, (cfg->max_connections + n - 1) / n);
                if (!w->mhd) {
                        snprintf(err, err_size, "cannot listen on %s (address in use, or bad TLS material)",
                                 cfg->listen);
                        close(w->kick_fd);
                        http_server_stop(s);
                        return -EADDRINUSE;
                }
                s->n_workers++;
                if (i == 0) {
                        /* with port 0 the kernel picked one: the others join it */
                        di = MHD_get_daemon_info(w->mhd, MHD_DAEMON_INFO_BIND_PORT);
                        s->port = di ? di->port : 0;
                        set_port(&ss, s->port);
                }
                if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
                        snprintf(err, err_size, "cannot start HTTP worker threads");
                        http_server_stop(s);
                        return -EAGAIN;
                }
                w->running = true;
        }
        *ret = s;
        return 0;
}

uint16_t http_server_port(const struct http_server *s)
{
        return s->port;
}

void http_server_stop(struct http_server *s)
{
        uint64_t one = 1;

        if (!s)
                return;
        if (write(s->wake_fd, &one, sizeof(one)) < 0)
                abort();        /* an eventfd write of 1 cannot fail */
        for (unsigned i = 0; i < s->n_workers; i++)
                if (s->workers[i].running)
                        pthread_join(s->workers[i].thread, NULL);
        /* libmicrohttpd must not stop with a request suspended: resume every
         * wait (the handlers answer at once, nothing waits again) and let
         * each daemon run them */
        pthread_mutex_lock(&s->wait_lock);
        s->stopping = true;
        __atomic_store_n(&s->wait_earliest, 0, __ATOMIC_RELAXED);
        for (struct http_stream *st = s->streams; st; st = st->next) {
                pthread_mutex_lock(&st->lock);
                st->ended = true;
                stream_wake_locked(st);
                pthread_mutex_unlock(&st->lock);
        }
        pthread_mutex_unlock(&s->wait_lock);
        wait_expire(s);
        for (unsigned i = 0; i < s->n_workers; i++) {
                MHD_run(s->workers[i].mhd);
                MHD_run(s->workers[i].mhd);
                MHD_stop_daemon(s->workers[i].mhd);
                close(s->workers[i].kick_fd);
        }
        close(s->wake_fd);
        pthread_mutex_destroy(&s->wait_lock);
        free(s);
}
