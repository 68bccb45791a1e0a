/* access listener: the decision endpoint's HTTP/1.1 server. See
 * listener.h for the contract.
 *
 * The parser reads a request head in place: no copy, no allocation, every
 * scan bounded by ACCESS_HTTP_HEAD_MAX. Lines must end in CRLF; a bare LF
 * or a lone CR is refused (-EINVAL), so that no two readers of the same
 * bytes can split them into different requests.
 *
 * Each worker owns an epoll instance watching the shared listening socket
 * (EPOLLEXCLUSIVE, so one connection wakes one worker), a stop eventfd
 * shared by all, a pipe on which other workers hand it connections, and
 * its own connections. The worker that accepts a connection gives it to
 * the worker serving the fewest. A connection has a fixed input
 * buffer of ACCESS_HTTP_HEAD_MAX bytes and a fixed output buffer; one read
 * is parsed for every complete request it holds, each answer is appended to
 * the output, and the output goes out in one write. The request and answer
 * structs live in the worker, so serving a request allocates nothing. When
 * the peer does not take the output, the connection stops reading until it
 * does. After a last answer (Connection: close, or a 400) the connection
 * is shut for writing and read until the peer closes, so the answer is not
 * lost to a reset. Connections sit on a list ordered by their last progress, and once
 * a second each worker closes those idle past the timeout from its head. */
#include "server/access/listener.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "server/log.h"
#include "util/strutil.h"

#define THREADS_MAX 64
#define BACKLOG 1024
#define EVENTS_MAX 128
#define ACCEPT_BATCH 32                 /* connections accepted per wake, so others get served too */
#define SWEEP_MS 1000                   /* idle connections are looked for this often */
#define DRAIN_MAX 65536                 /* bytes read and dropped after the last answer, before closing */
#define ANSWER_NAME_MAX 64              /* bytes of an answer header's name */
/* the longest answer: status line, Content-Length, headers, Connection, blank line */
#define ANSWER_MAX (64 + ACCESS_HTTP_ANSWER_HEADERS_MAX * (ANSWER_NAME_MAX + 2 + ACCESS_HTTP_VALUE_MAX + 2) + 64)
#define CONN_OUT_SIZE (4 * ANSWER_MAX)

/* Byte classes of RFC 9110: token characters (methods, header names),
 * what a field value may hold, and what a request target may hold
 * (printable ASCII but space). */
enum { C_TOKEN = 1, C_VALUE = 2, C_TARGET = 4 };
#define C_TVT (C_TOKEN | C_VALUE | C_TARGET)
#define C_VT (C_VALUE | C_TARGET)

static const uint8_t char_class[256] = {
        ['\t'] = C_VALUE, [' '] = C_VALUE,
        ['!'] = C_TVT, ['"'] = C_VT, ['#' ... '\''] = C_TVT, ['(' ... ')'] = C_VT,
        ['*' ... '+'] = C_TVT, [','] = C_VT, ['-' ... '.'] = C_TVT, ['/'] = C_VT,
        ['0' ... '9'] = C_TVT, [':' ... '@'] = C_VT, ['A' ... 'Z'] = C_TVT,
        ['[' ... ']'] = C_VT, ['^' ... 'z'] = C_TVT, ['{'] = C_VT, ['|'] = C_TVT,
        ['}'] = C_VT, ['~'] = C_TVT,
        [0x80 ... 0xff] = C_VALUE,
};

static bool is_class(char c, uint8_t class)
{
        return char_class[(unsigned char)c] & class;
}

static char ascii_lower(char c)
{
        return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/* True if s (n bytes) equals the lower-case word (NUL-terminated, of
 * length n) without regard to ASCII case. */
static bool equal_fold(const char *s, size_t n, const char *word, size_t word_len)
{
        if (n != word_len)
                return false;
        for (size_t i = 0; i < n; i++)
                if (ascii_lower(s[i]) != ascii_lower(word[i]))
                        return false;
        return true;
}

/* ---- the parser ---- */

/* Finds the end of the line starting at pos: *ret_eol is the offset of its
 * CR. Returns 0; -EAGAIN or -E2BIG (buf already holds the most a head may
 * take) when the line is not complete within the head's bound; -EINVAL for
 * an LF without a CR before it. */
static int line_next(const char *buf, size_t len, size_t pos, size_t *ret_eol)
{
        size_t limit = len < ACCESS_HTTP_HEAD_MAX ? len : ACCESS_HTTP_HEAD_MAX;
        const char *lf = memchr(buf + pos, '\n', limit - pos);

        if (!lf)
                return len >= ACCESS_HTTP_HEAD_MAX ? -E2BIG : -EAGAIN;
        if (lf == buf + pos || lf[-1] != '\r')
                return -EINVAL;
        *ret_eol = (size_t)(lf - buf) - 1;
        return 0;
}

/* "METHOD SP TARGET SP HTTP/1.x", exactly one space between. */
static int request_line_parse(const char *s, size_t n, struct access_http_req *r)
{
        size_t i = 0, t;

        while (i < n && is_class(s[i], C_TOKEN))
                i++;
        if (i == 0 || i == n || s[i] != ' ')
                return -EINVAL;
        r->method = s;
        r->method_len = i;
        t = ++i;
        while (i < n && is_class(s[i], C_TARGET))
                i++;
        if (i == t || i == n || s[i] != ' ')
                return -EINVAL;
        r->target = s + t;
        r->target_len = i - t;
        i++;
        if (n - i != 8 || memcmp(s + i, "HTTP/1.", 7) != 0 || (s[i + 7] != '0' && s[i + 7] != '1'))
                return -EINVAL;
        r->minor = (unsigned)(s[i + 7] - '0');
        return 0;
}

/* "name: value", the name a token right before the colon; blanks around
 * the value trimmed. A line starting with a blank (obs-fold) has no name
 * and is refused. */
static int header_line_parse(const char *s, size_t n, struct access_http_header *h)
{
        size_t i = 0, v, end;

        while (i < n && is_class(s[i], C_TOKEN))
                i++;
        if (i == 0 || i == n || s[i] != ':')
                return -EINVAL;
        h->name = s;
        h->name_len = i;
        for (v = i + 1; v < n; v++)
                if (!is_class(s[v], C_VALUE))
                        return -EINVAL;
        v = i + 1;
        end = n;
        while (v < end && (s[v] == ' ' || s[v] == '\t'))
                v++;
        while (end > v && (s[end - 1] == ' ' || s[end - 1] == '\t'))
                end--;
        h->value = s + v;
        h->value_len = end - v;
        return 0;
}

/* What the headers the parser acts on said. */
struct head_flags {
        bool close;                     /* Connection: close */
        bool keep_alive;                /* Connection: keep-alive */
        bool length_seen;
        bool expect;                    /* Expect: (100-continue) */
        uint64_t length;
};

/* Connection: a comma-separated list of tokens. */
static void connection_parse(const char *s, size_t n, struct head_flags *f)
{
        size_t i = 0;

        while (i < n) {
                size_t start, end;

                while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == ','))
                        i++;
                start = i;
                while (i < n && s[i] != ',')
                        i++;
                end = i;
                while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t'))
                        end--;
                if (equal_fold(s + start, end - start, "close", 5))
                        f->close = true;
                else if (equal_fold(s + start, end - start, "keep-alive", 10))
                        f->keep_alive = true;
        }
}

/* Content-Length: digits only, once. */
static int content_length_parse(const char *s, size_t n, struct head_flags *f)
{
        uint64_t v = 0;

        if (f->length_seen || n == 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (uint64_t)(s[i] - '0');
                if (v > ACCESS_HTTP_BODY_MAX)
                        return -E2BIG;
        }
        f->length_seen = true;
        f->length = v;
        return 0;
}

/* Looks at the headers that change how the request is read or the
 * connection kept. */
static int header_note(const struct access_http_header *h, struct head_flags *f)
{
        switch (h->name_len) {
        case 6:
                if (equal_fold(h->name, 6, "expect", 6))
                        f->expect = true;
                return 0;
        case 10:
                if (equal_fold(h->name, 10, "connection", 10))
                        connection_parse(h->value, h->value_len, f);
                return 0;
        case 14:
                if (equal_fold(h->name, 14, "content-length", 14))
                        return content_length_parse(h->value, h->value_len, f);
                return 0;
        case 17:
                /* chunked bodies are not read: refused rather than misread */
                return equal_fold(h->name, 17, "transfer-encoding", 17) ? -EINVAL : 0;
        default:
                return 0;
        }
}

int access_http_parse(const char *buf, size_t len, struct access_http_req *ret, size_t *ret_head_len)
{
        struct access_http_req r;
        struct head_flags f = { 0 };
        size_t pos = 0, eol;
        int k;

        k = line_next(buf, len, pos, &eol);
        if (k == 0 && eol == pos) {
                /* one empty line before a request is ignored (RFC 9112, 2.2) */
                pos = eol + 2;
                k = line_next(buf, len, pos, &eol);
        }
        if (k < 0)
                return k;
        if (request_line_parse(buf + pos, eol - pos, &r) < 0)
                return -EINVAL;
        r.n_headers = 0;
        for (;;) {
                pos = eol + 2;
                k = line_next(buf, len, pos, &eol);
                if (k < 0)
                        return k;
                if (eol == pos)
                        break;
                if (r.n_headers == ACCESS_HTTP_HEADERS_MAX)
                        return -E2BIG;
                if (header_line_parse(buf + pos, eol - pos, &r.headers[r.n_headers]) < 0)
                        return -EINVAL;
                k = header_note(&r.headers[r.n_headers], &f);
                if (k < 0)
                        return k;
                r.n_headers++;
        }
        ret->method = r.method;
        ret->method_len = r.method_len;
        ret->target = r.target;
        ret->target_len = r.target_len;
        ret->minor = r.minor;
        memcpy(ret->headers, r.headers, r.n_headers * sizeof(r.headers[0]));
        ret->n_headers = r.n_headers;
        /* an answer sent before a body the client holds back until it sees
         * "100 Continue" leaves the connection in doubt: close it */
        ret->keep_alive = !f.close && (r.minor == 1 || f.keep_alive) && !(f.expect && f.length > 0);
        ret->content_length = f.length;
        ret->peer = (struct access_ip){ 0 };
        ret->peer_local = false;
        *ret_head_len = eol + 2;
        return 0;
}

const char *access_http_header(const struct access_http_req *r, const char *name, size_t *ret_len)
{
        size_t n = strlen(name);

        for (size_t i = 0; i < r->n_headers; i++)
                if (equal_fold(r->headers[i].name, r->headers[i].name_len, name, n)) {
                        *ret_len = r->headers[i].value_len;
                        return r->headers[i].value;
                }
        return NULL;
}

/* ---- answers ---- */

/* True if name is a token of 1 to ANSWER_NAME_MAX bytes. */
static bool answer_name_valid(const char *name)
{
        size_t i;

        for (i = 0; name[i]; i++)
                if (i == ANSWER_NAME_MAX || !is_class(name[i], C_TOKEN))
                        return false;
        return i > 0;
}

int access_http_answer_header(struct access_http_answer *a, const char *name, const char *fmt, ...)
{
        unsigned char *v;
        va_list ap;
        size_t n;
        int k;

        if (a->n_headers >= ACCESS_HTTP_ANSWER_HEADERS_MAX)
                return -E2BIG;
        if (!answer_name_valid(name))
                return -EINVAL;
        v = (unsigned char *)a->headers[a->n_headers].value;
        va_start(ap, fmt);
        k = vsnprintf((char *)v, ACCESS_HTTP_VALUE_MAX + 1, fmt, ap);
        va_end(ap);
        if (k < 0)
                k = 0;
        n = (size_t)k;
        if (n > ACCESS_HTTP_VALUE_MAX) {
                /* cut at a character boundary, not inside a UTF-8 sequence */
                size_t i = n = ACCESS_HTTP_VALUE_MAX;

                while (i > 0 && n - i < 3 && (v[i - 1] & 0xc0) == 0x80)
                        i--;
                if (i > 0 && v[i - 1] >= 0xc0) {
                        size_t need = v[i - 1] >= 0xf0 ? 4 : v[i - 1] >= 0xe0 ? 3 : 2;
                        if (n - (i - 1) < need)
                                n = i - 1;
                }
        }
        v[n] = '\0';
        for (size_t i = 0; i < n; i++)
                if (v[i] < 0x20 || v[i] == 0x7f)
                        v[i] = ' ';
        a->headers[a->n_headers].name = name;
        a->n_headers++;
        return 0;
}

static const char *status_line(int status, size_t *ret_len)
{
#define LINE(s) do { *ret_len = sizeof(s) - 1; return s; } while (0)
        switch (status) {
        case 200: LINE("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n");
        case 400: LINE("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n");
        case 401: LINE("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n");
        case 403: LINE("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n");
        case 404: LINE("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n");
        case 405: LINE("HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n");
        case 503: LINE("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n");
        default: LINE("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n");
        }
#undef LINE
}

static char *put(char *p, const char *s, size_t n)
{
        memcpy(p, s, n);
        return p + n;
}

/* Writes the answer's head at out, which has room for ANSWER_MAX bytes.
 * The handler may have filled a->headers itself, so names and values are
 * checked again here: a bad name is left out, a control byte becomes a
 * space. connection is "close", "keep-alive" or NULL (no header). Returns
 * the bytes written. */
static size_t answer_format(char *out, const struct access_http_answer *a, const char *connection)
{
        size_t n_headers = a->n_headers < ACCESS_HTTP_ANSWER_HEADERS_MAX ? a->n_headers : ACCESS_HTTP_ANSWER_HEADERS_MAX;
        const char *line;
        char *p = out;
        size_t n;

        line = status_line(a->status, &n);
        p = put(p, line, n);
        for (size_t i = 0; i < n_headers; i++) {
                const char *name = a->headers[i].name;
                const unsigned char *v = (const unsigned char *)a->headers[i].value;

                if (!name || !answer_name_valid(name))
                        continue;
                p = put(p, name, strlen(name));
                *p++ = ':';
                *p++ = ' ';
                for (n = 0; n < ACCESS_HTTP_VALUE_MAX && v[n]; n++)
                        *p++ = v[n] < 0x20 || v[n] == 0x7f ? ' ' : (char)v[n];
                *p++ = '\r';
                *p++ = '\n';
        }
        if (connection) {
                p = put(p, "Connection: ", 12);
                p = put(p, connection, strlen(connection));
                p = put(p, "\r\n", 2);
        }
        p = put(p, "\r\n", 2);
        assert((size_t)(p - out) <= ANSWER_MAX);
        return (size_t)(p - out);
}

/* ---- the listener ---- */

struct conn {
        struct conn *prev, *next;       /* the worker's list, by last progress */
        int fd;
        uint32_t events;                /* what epoll waits for: EPOLLIN or EPOLLOUT */
        int64_t last_ms;                /* last progress: accepted, a request begun or answered, output taken */
        struct access_ip peer;
        bool peer_local;
        bool closing;                   /* answered for the last time: linger once the output is out */
        bool lingering;                 /* shut for writing, waiting for the peer to close */
        uint64_t discard;               /* body bytes still to read and drop; lingering, bytes still taken */
        size_t in_len;
        size_t scan;                    /* leading bytes of in known to hold no end of head */
        size_t out_off, out_len;
        char in[ACCESS_HTTP_HEAD_MAX];
        char out[CONN_OUT_SIZE];
};

struct worker {
        struct access_listener *l;
        unsigned index;
        pthread_t thread;
        bool started;
        int epfd;
        bool accepting;                 /* the listening socket is in epfd */
        int handoff[2];                 /* pipe: connections other workers accepted for this one */
        atomic_uint n_conns;            /* connections it serves or was handed */
        int64_t now_ms;
        int64_t next_sweep_ms;
        struct conn *oldest, *newest;
        struct access_http_req req;
        struct access_http_answer ans;
};

/* A connection accepted by one worker for another, written whole to the
 * other's pipe (less than PIPE_BUF bytes, so never split). */
struct handoff {
        int fd;
        struct sockaddr_storage sa;
};

struct access_listener {
        int fd;
        int stop_fd;                    /* eventfd, written once to stop every worker */
        uint16_t port;
        char path[sizeof(((struct sockaddr_un *)0)->sun_path)];   /* unix socket made, "" if none */
        dev_t path_dev;
        ino_t path_ino;
        unsigned max_connections;
        int64_t idle_ms;
        atomic_uint n_conns;            /* open connections, all workers */
        access_http_fn fn;
        void *ctx;
        unsigned n_workers;
        struct worker workers[];
};

static int64_t mono_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void list_unlink(struct worker *w, struct conn *c)
{
        if (c->prev)
                c->prev->next = c->next;
        else
                w->oldest = c->next;
        if (c->next)
                c->next->prev = c->prev;
        else
                w->newest = c->prev;
        c->prev = c->next = NULL;
}

static void list_append(struct worker *w, struct conn *c)
{
        c->prev = w->newest;
        c->next = NULL;
        if (w->newest)
                w->newest->next = c;
        else
                w->oldest = c;
        w->newest = c;
}

/* Marks progress on c: it moves to the end of the idle list. */
static void conn_touch(struct worker *w, struct conn *c)
{
        c->last_ms = w->now_ms;
        if (w->newest != c) {
                list_unlink(w, c);
                list_append(w, c);
        }
}

/* Closes a connection counted for w. */
static void conn_drop(struct worker *w, int fd)
{
        close(fd);
        atomic_fetch_sub(&w->n_conns, 1);
        atomic_fetch_sub(&w->l->n_conns, 1);
}

static void conn_close(struct worker *w, struct conn *c)
{
        list_unlink(w, c);
        conn_drop(w, c->fd);
        free(c);
}

static int conn_want(struct worker *w, struct conn *c, uint32_t events)
{
        struct epoll_event ev = { .events = events, .data.ptr = c };

        if (c->events == events)
                return 0;
        if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
                return -errno;
        c->events = events;
        return 0;
}

/* Writes the pending output. Returns 0 when all of it is out, -EAGAIN when
 * the peer must take some first, or a negative errno. */
static int conn_flush(struct worker *w, struct conn *c)
{
        size_t left = c->out_len - c->out_off;
        ssize_t n;

        if (left == 0)
                return 0;
        do
                n = send(c->fd, c->out + c->out_off, left, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
        conn_touch(w, c);
        if ((size_t)n < left) {
                /* a short write means the socket buffer is full: wait for room
                 * rather than try again at once */
                c->out_off += (size_t)n;
                return -EAGAIN;
        }
        c->out_off = c->out_len = 0;
        return 0;
}

/* Reads and drops what a lingering connection sends; closes it when the
 * peer closes, or has sent DRAIN_MAX bytes more. */
static void conn_drain(struct worker *w, struct conn *c)
{
        ssize_t n = recv(c->fd, c->in, sizeof(c->in), 0);

        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                return;
        if (n <= 0 || (uint64_t)n >= c->discard) {
                conn_close(w, c);
                return;
        }
        c->discard -= (uint64_t)n;
}

/* After its last answer, c is shut for writing and read until the peer
 * closes, for at most DRAIN_MAX bytes and the idle timeout: closing with
 * unread bytes would reset the connection, and a reset can destroy the
 * answer before the peer reads it. */
static void conn_linger(struct worker *w, struct conn *c)
{
        if (shutdown(c->fd, SHUT_WR) < 0 || conn_want(w, c, EPOLLIN) < 0) {
                conn_close(w, c);
                return;
        }
        c->lingering = true;
        c->discard = DRAIN_MAX;
        c->in_len = 0;
        conn_touch(w, c);
        conn_drain(w, c);
}

/* Calls the handler for the request in w->req and appends its answer. */
static void conn_answer(struct worker *w, struct conn *c)
{
        struct access_http_req *req = &w->req;
        struct access_http_answer *ans = &w->ans;
        const char *connection = NULL;

        req->peer = c->peer;
        req->peer_local = c->peer_local;
        ans->status = 200;
        ans->n_headers = 0;
        w->l->fn(w->l->ctx, w->index, req, ans);
        if (!req->keep_alive) {
                connection = "close";
                c->closing = true;
        } else if (req->minor == 0) {
                connection = "keep-alive";
        }
        c->out_len += answer_format(c->out + c->out_len, ans, connection);
        conn_touch(w, c);
}

/* Answers a request that cannot be read (error from access_http_parse())
 * with 400, and closes after. */
static void conn_refuse(struct worker *w, struct conn *c, int error)
{
        struct access_http_answer *ans = &w->ans;

        ans->status = 400;
        ans->n_headers = 0;
        access_http_answer_header(ans, "X-Vigil-Reason", "%s",
                                  error == -E2BIG ? "request too large" : "malformed request");
        c->out_len += answer_format(c->out + c->out_len, ans, "close");
        c->closing = true;
}

/* True if the bytes read since the last try may complete a head, so a head
 * that arrives a byte at a time is not parsed again from its start on every
 * byte. */
static bool conn_head_may_end(struct conn *c)
{
        size_t from = c->scan > 3 ? c->scan - 3 : 0;

        if (c->in_len >= ACCESS_HTTP_HEAD_MAX ||
            memmem(c->in + from, c->in_len - from, "\r\n\r\n", 4))
                return true;
        c->scan = c->in_len;
        return false;
}

/* Answers every complete request in the input, in order, while the output
 * has room for an answer. Returns true if it stopped for lack of room
 * (requests may remain), false when it needs more input or is closing. */
static bool conn_serve(struct worker *w, struct conn *c)
{
        size_t pos = 0, head_len;
        bool full = false, partial = false;
        int k;

        while (!c->closing) {
                if (c->discard) {
                        size_t take = c->in_len - pos < c->discard ? c->in_len - pos : (size_t)c->discard;
                        pos += take;
                        c->discard -= take;
                        if (c->discard)
                                break;
                }
                if (pos == c->in_len)
                        break;
                if (CONN_OUT_SIZE - c->out_len < ANSWER_MAX) {
                        full = true;
                        break;
                }
                if (pos == 0 && c->scan && !conn_head_may_end(c))
                        return false;
                k = access_http_parse(c->in + pos, c->in_len - pos, &w->req, &head_len);
                if (k == -EAGAIN) {
                        partial = true;
                        break;
                }
                if (k < 0) {
                        conn_refuse(w, c, k);
                        break;
                }
                pos += head_len;
                c->discard = w->req.content_length;
                conn_answer(w, c);
        }
        if (pos) {
                memmove(c->in, c->in + pos, c->in_len - pos);
                c->in_len -= pos;
        }
        c->scan = partial ? c->in_len : 0;
        return full;
}

/* Serves what the input holds and writes the answers, then waits for what
 * comes next: more input, room to write, or nothing (closed). */
static void conn_run(struct worker *w, struct conn *c)
{
        bool more;
        int k;

        do {
                more = conn_serve(w, c);
                k = conn_flush(w, c);
                if (k == -EAGAIN) {
                        if (conn_want(w, c, EPOLLOUT) < 0)
                                conn_close(w, c);
                        return;
                }
                if (k < 0) {
                        conn_close(w, c);
                        return;
                }
        } while (more);
        if (c->closing)
                conn_linger(w, c);
        else if (conn_want(w, c, EPOLLIN) < 0)
                conn_close(w, c);
}

static void conn_read(struct worker *w, struct conn *c)
{
        bool idle = c->in_len == 0 && c->discard == 0;
        ssize_t n;

        assert(c->in_len < sizeof(c->in));
        n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                return;
        if (n <= 0) {
                conn_close(w, c);
                return;
        }
        c->in_len += (size_t)n;
        if (idle)
                conn_touch(w, c);       /* a request begins: it has the idle timeout to arrive whole */
        conn_run(w, c);
}

static void conn_event(struct worker *w, struct conn *c, uint32_t events)
{
        if (events & EPOLLERR) {
                conn_close(w, c);
                return;
        }
        if (c->lingering) {
                conn_drain(w, c);
                return;
        }
        if (c->events == EPOLLOUT) {
                if (events & EPOLLOUT)
                        conn_run(w, c);
                else if (events & EPOLLHUP)
                        conn_close(w, c);
                return;
        }
        conn_read(w, c);
}

/* The peer's address, IPv4-mapped IPv6 addresses as IPv4. */
static void peer_set(struct conn *c, const struct sockaddr_storage *sa)
{
        static const uint8_t loopback6[16] = { [15] = 1 };

        c->peer = (struct access_ip){ 0 };
        if (sa->ss_family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
                c->peer.family = 4;
                memcpy(c->peer.addr, &in->sin_addr, 4);
        } else if (sa->ss_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
                if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
                        c->peer.family = 4;
                        memcpy(c->peer.addr, in6->sin6_addr.s6_addr + 12, 4);
                } else {
                        c->peer.family = 6;
                        memcpy(c->peer.addr, in6->sin6_addr.s6_addr, 16);
                }
        }
        if (c->peer.family == 4)
                c->peer_local = c->peer.addr[0] == 127;
        else if (c->peer.family == 6)
                c->peer_local = memcmp(c->peer.addr, loopback6, 16) == 0;
        else
                c->peer_local = sa->ss_family == AF_UNIX;
}

/* Starts serving a connection already counted for w. */
static void conn_open(struct worker *w, int fd, const struct sockaddr_storage *sa)
{
        struct epoll_event ev = { .events = EPOLLIN };
        struct conn *c;
        int one = 1;

        c = malloc(sizeof(*c));
        if (!c) {
                conn_drop(w, fd);
                return;
        }
        c->fd = fd;
        c->events = EPOLLIN;
        c->closing = c->lingering = false;
        c->discard = 0;
        c->in_len = c->scan = c->out_off = c->out_len = 0;
        peer_set(c, sa);
        if (sa->ss_family != AF_UNIX)
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        ev.data.ptr = c;
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                free(c);
                conn_drop(w, fd);
                return;
        }
        c->last_ms = w->now_ms;
        list_append(w, c);
}

/* Gives a new connection to the worker serving the fewest (w itself on a
 * tie), or closes it at once past max_connections. The epoll wake-up of a
 * shared socket favours one worker, which alone would end up with every
 * connection of a burst. */
static void conn_dispatch(struct worker *w, int fd, const struct sockaddr_storage *sa)
{
        struct access_listener *l = w->l;
        struct worker *to = w;
        struct handoff msg;

        if (atomic_fetch_add(&l->n_conns, 1) >= l->max_connections) {
                atomic_fetch_sub(&l->n_conns, 1);
                close(fd);
                return;
        }
        for (unsigned i = 0; i < l->n_workers; i++)
                if (atomic_load_explicit(&l->workers[i].n_conns, memory_order_relaxed) <
                    atomic_load_explicit(&to->n_conns, memory_order_relaxed))
                        to = &l->workers[i];
        atomic_fetch_add(&to->n_conns, 1);
        if (to != w) {
                memset(&msg, 0, sizeof(msg));
                msg.fd = fd;
                msg.sa = *sa;
                if (write(to->handoff[1], &msg, sizeof(msg)) == (ssize_t)sizeof(msg))
                        return;
                /* its pipe is full: serve it here */
                atomic_fetch_sub(&to->n_conns, 1);
                atomic_fetch_add(&w->n_conns, 1);
        }
        conn_open(w, fd, sa);
}

/* Takes the connections other workers handed to w. */
static void conns_take(struct worker *w)
{
        struct handoff msgs[16];
        ssize_t n = read(w->handoff[0], msgs, sizeof(msgs));

        for (ssize_t i = 0; i < n / (ssize_t)sizeof(msgs[0]); i++)
                conn_open(w, msgs[i].fd, &msgs[i].sa);
}

static int listen_watch(struct worker *w)
{
        struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = w->l };

        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->l->fd, &ev) < 0)
                return -errno;
        w->accepting = true;
        return 0;
}

/* Accepts what is waiting, up to a batch. */
static void conns_accept(struct worker *w)
{
        for (unsigned i = 0; i < ACCEPT_BATCH; i++) {
                struct sockaddr_storage sa;
                socklen_t sa_len = sizeof(sa);
                int fd = accept4(w->l->fd, (struct sockaddr *)&sa, &sa_len, SOCK_NONBLOCK | SOCK_CLOEXEC);

                if (fd >= 0) {
                        conn_dispatch(w, fd, &sa);
                        continue;
                }
                if (errno == EINTR || errno == ECONNABORTED)
                        continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                        return;
                /* out of descriptors or memory: stop accepting until the
                 * next sweep, rather than spin on a socket that stays ready */
                log_warn("access listener: cannot accept a connection: %s; trying again in a second",
                         strerror(errno));
                if (epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->l->fd, NULL) == 0)
                        w->accepting = false;
                return;
        }
}

static void worker_sweep(struct worker *w)
{
        while (w->oldest && w->now_ms - w->oldest->last_ms >= w->l->idle_ms)
                conn_close(w, w->oldest);
        if (!w->accepting)
                listen_watch(w);
        w->next_sweep_ms = w->now_ms + SWEEP_MS;
}

static void *worker_run(void *arg)
{
        struct worker *w = arg;
        struct epoll_event events[EVENTS_MAX];
        bool stop = false;

        w->now_ms = mono_ms();
        w->next_sweep_ms = w->now_ms + SWEEP_MS;
        while (!stop) {
                int n = epoll_wait(w->epfd, events, EVENTS_MAX, SWEEP_MS);

                if (n < 0 && errno != EINTR) {
                        log_error("access listener: epoll_wait: %s", strerror(errno));
                        break;
                }
                w->now_ms = mono_ms();
                for (int i = 0; i < n; i++) {
                        void *p = events[i].data.ptr;

                        if (p == w)
                                stop = true;
                        else if (p == w->l)
                                conns_accept(w);
                        else if (p == w->handoff)
                                conns_take(w);
                        else
                                conn_event(w, p, events[i].events);
                }
                if (w->now_ms >= w->next_sweep_ms)
                        worker_sweep(w);
        }
        while (w->oldest)
                conn_close(w, w->oldest);
        return NULL;
}

static int fail(char *err, size_t err_size, int error, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t err_size, int error, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
        return error;
}

/* Binds a unix socket at path, mode 0660. A socket file left by a process
 * that is gone is replaced; one that answers, or anything not a socket, is
 * left alone. */
static int unix_bind(struct access_listener *l, const char *path, char *err, size_t err_size)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t n = strlen(path);
        struct stat st;
        int k;

        if (n == 0 || n >= sizeof(sa.sun_path))
                return fail(err, err_size, -EINVAL, "unix socket path '%s' must be 1 to %zu bytes", path,
                            sizeof(sa.sun_path) - 1);
        memcpy(sa.sun_path, path, n);
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return fail(err, err_size, -EEXIST, "cannot listen on 'unix:%s': it exists and is not a socket",
                                    path);
                /* the socket is nonblocking: EAGAIN is a listener with a full backlog */
                if (connect(l->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN)
                        return fail(err, err_size, -EADDRINUSE,
                                    "cannot listen on 'unix:%s': another process listens there", path);
                if (errno != ECONNREFUSED)
                        return fail(err, err_size, -errno, "cannot listen on 'unix:%s': %s", path, strerror(errno));
                if (unlink(path) < 0 && errno != ENOENT)
                        return fail(err, err_size, -errno, "cannot remove the old socket '%s': %s", path,
                                    strerror(errno));
        } else if (errno != ENOENT) {
                return fail(err, err_size, -errno, "cannot listen on 'unix:%s': %s", path, strerror(errno));
        }
        if (bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return fail(err, err_size, -errno, "cannot listen on 'unix:%s': %s", path, strerror(errno));
        if (lstat(path, &st) < 0) {
                k = -errno;
                unlink(path);
                return fail(err, err_size, k, "cannot listen on 'unix:%s': %s", path, strerror(-k));
        }
        memcpy(l->path, path, n + 1);
        l->path_dev = st.st_dev;
        l->path_ino = st.st_ino;
        /* before listen(), so no one connects while the mode is the umask's */
        if (chmod(path, 0660) < 0)
                return fail(err, err_size, -errno, "cannot set the mode of '%s': %s", path, strerror(errno));
        return 0;
}

/* "ADDR:PORT" with a numeric IPv4 address, or "[IPV6]:PORT". */
static int tcp_address_parse(const char *where, struct sockaddr_storage *ret, socklen_t *ret_len)
{
        char addr[INET6_ADDRSTRLEN + 1];
        const char *a = where, *end, *port_s;
        uint64_t port;
        size_t n;

        if (*a == '[') {
                a++;
                end = strchr(a, ']');
                if (!end || end[1] != ':')
                        return -EINVAL;
                port_s = end + 2;
        } else {
                end = strrchr(a, ':');
                if (!end || memchr(a, ':', (size_t)(end - a)))
                        return -EINVAL;
                port_s = end + 1;
        }
        n = (size_t)(end - a);
        if (n == 0 || n >= sizeof(addr) || util_uint_parse(port_s, 65535, &port) < 0)
                return -EINVAL;
        memcpy(addr, a, n);
        addr[n] = '\0';
        memset(ret, 0, sizeof(*ret));
        if (*where == '[') {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ret;
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t)port);
                if (inet_pton(AF_INET6, addr, &in6->sin6_addr) != 1)
                        return -EINVAL;
                *ret_len = sizeof(*in6);
        } else {
                struct sockaddr_in *in = (struct sockaddr_in *)ret;
                in->sin_family = AF_INET;
                in->sin_port = htons((uint16_t)port);
                if (inet_pton(AF_INET, addr, &in->sin_addr) != 1)
                        return -EINVAL;
                *ret_len = sizeof(*in);
        }
        return 0;
}

static int tcp_bind(struct access_listener *l, const char *where, char *err, size_t err_size)
{
        struct sockaddr_storage sa;
        socklen_t sa_len;
        int one = 1;

        if (tcp_address_parse(where, &sa, &sa_len) < 0)
                return fail(err, err_size, -EINVAL,
                            "'%s' is not an address to listen on: ADDR:PORT (numeric IPv4), [IPV6]:PORT or unix:PATH",
                            where);
        l->fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (l->fd < 0)
                return fail(err, err_size, -errno, "cannot listen on '%s': %s", where, strerror(errno));
        setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(l->fd, (struct sockaddr *)&sa, sa_len) < 0)
                return fail(err, err_size, -errno, "cannot listen on '%s': %s", where, strerror(errno));
        sa_len = sizeof(sa);
        if (getsockname(l->fd, (struct sockaddr *)&sa, &sa_len) < 0)
                return fail(err, err_size, -errno, "cannot listen on '%s': %s", where, strerror(errno));
        l->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                                 : ((struct sockaddr_in *)&sa)->sin_port);
        return 0;
}

static int listener_bind(struct access_listener *l, const char *where, char *err, size_t err_size)
{
        int k;

        if (strncmp(where, "unix:", 5) == 0) {
                l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (l->fd < 0)
                        return fail(err, err_size, -errno, "cannot make a unix socket: %s", strerror(errno));
                k = unix_bind(l, where + 5, err, err_size);
        } else {
                k = tcp_bind(l, where, err, err_size);
        }
        if (k < 0)
                return k;
        if (listen(l->fd, BACKLOG) < 0)
                return fail(err, err_size, -errno, "cannot listen on '%s': %s", where, strerror(errno));
        return 0;
}

/* Makes worker i's epoll instance and handoff pipe; every worker has
 * them before any starts, since any may hand a connection to another. */
static int worker_init(struct access_listener *l, unsigned i)
{
        struct worker *w = &l->workers[i];
        struct epoll_event stop = { .events = EPOLLIN, .data.ptr = w };
        struct epoll_event take = { .events = EPOLLIN, .data.ptr = w->handoff };

        w->l = l;
        w->index = i;
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (w->epfd < 0 || pipe2(w->handoff, O_NONBLOCK | O_CLOEXEC) < 0)
                return -errno;
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, l->stop_fd, &stop) < 0 ||
            epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->handoff[0], &take) < 0)
                return -errno;
        return listen_watch(w);
}

int access_listener_start(const struct access_listener_config *cfg, access_http_fn fn, void *ctx,
                          struct access_listener **ret, char *err, size_t err_size)
{
        struct access_listener *l;
        int k;

        assert(cfg && cfg->listen && fn);
        if (cfg->threads < 1 || cfg->threads > THREADS_MAX)
                return fail(err, err_size, -EINVAL, "access listener on '%s': threads must be 1 to %d, not %u",
                            cfg->listen, THREADS_MAX, cfg->threads);
        if (cfg->max_connections < 1 || cfg->idle_timeout_s < 1)
                return fail(err, err_size, -EINVAL,
                            "access listener on '%s': max_connections and idle_timeout_s must be at least 1",
                            cfg->listen);
        l = calloc(1, sizeof(*l) + cfg->threads * sizeof(l->workers[0]));
        if (!l)
                return fail(err, err_size, -ENOMEM, "access listener on '%s': out of memory", cfg->listen);
        l->fd = l->stop_fd = -1;
        for (unsigned i = 0; i < cfg->threads; i++)
                l->workers[i].epfd = l->workers[i].handoff[0] = l->workers[i].handoff[1] = -1;
        l->max_connections = cfg->max_connections;
        l->idle_ms = (int64_t)cfg->idle_timeout_s * 1000;
        l->fn = fn;
        l->ctx = ctx;
        l->n_workers = cfg->threads;
        k = listener_bind(l, cfg->listen, err, err_size);
        if (k < 0)
                goto fail_listener;
        l->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (l->stop_fd < 0) {
                k = fail(err, err_size, -errno, "access listener on '%s': eventfd: %s", cfg->listen, strerror(errno));
                goto fail_listener;
        }
        for (unsigned i = 0; i < cfg->threads; i++) {
                k = worker_init(l, i);
                if (k < 0) {
                        fail(err, err_size, k, "access listener on '%s': cannot set up worker %u: %s", cfg->listen, i,
                             strerror(-k));
                        goto fail_listener;
                }
        }
        for (unsigned i = 0; i < cfg->threads; i++) {
                k = -pthread_create(&l->workers[i].thread, NULL, worker_run, &l->workers[i]);
                if (k == 0)
                        pthread_setname_np(l->workers[i].thread, "access-decide");
                if (k < 0) {
                        fail(err, err_size, k, "access listener on '%s': cannot start worker %u: %s", cfg->listen, i,
                             strerror(-k));
                        goto fail_listener;
                }
                l->workers[i].started = true;
        }
        *ret = l;
        return 0;

fail_listener:
        access_listener_stop(l);
        return k;
}

uint16_t access_listener_port(const struct access_listener *l)
{
        return l->port;
}

void access_listener_stop(struct access_listener *l)
{
        const uint64_t one = 1;
        struct stat st;

        if (!l)
                return;
        if (l->stop_fd >= 0 && write(l->stop_fd, &one, sizeof(one)) < 0)
                log_error("access listener: cannot signal the workers to stop: %s", strerror(errno));
        for (unsigned i = 0; i < l->n_workers; i++)
                if (l->workers[i].started)
                        pthread_join(l->workers[i].thread, NULL);
        for (unsigned i = 0; i < l->n_workers; i++) {
                struct worker *w = &l->workers[i];
                struct handoff msg;

                /* connections handed to a worker that had stopped */
                while (w->handoff[0] >= 0 && read(w->handoff[0], &msg, sizeof(msg)) == (ssize_t)sizeof(msg))
                        close(msg.fd);
                if (w->handoff[0] >= 0)
                        close(w->handoff[0]);
                if (w->handoff[1] >= 0)
                        close(w->handoff[1]);
                if (w->epfd >= 0)
                        close(w->epfd);
        }
        if (l->fd >= 0)
                close(l->fd);
        if (l->stop_fd >= 0)
                close(l->stop_fd);
        /* only the socket this listener made: another may have replaced it */
        if (l->path[0] && lstat(l->path, &st) == 0 && st.st_dev == l->path_dev && st.st_ino == l->path_ino)
                unlink(l->path);
        free(l);
}
