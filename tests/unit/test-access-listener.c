/* Unit tests of the decision endpoint's HTTP/1.1 server: the request-head
 * parser (valid heads, pipelined heads, every cut of a head, the bounds,
 * each malformation it refuses, Content-Length and Transfer-Encoding,
 * keep-alive from the version and Connection, header lookup), answer
 * headers (sanitized, cut at a character boundary), and a real listener on
 * 127.0.0.1, [::1] and a unix socket: keep-alive, pipelining with bodies,
 * answers larger than the socket buffers, 400 and close on a malformed
 * request, max_connections, the idle timeout, connections spread over the
 * workers, and stopping with open connections. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "server/access/listener.h"

/* ---- the parser ---- */

static int parse(const char *s, struct access_http_req *r, size_t *head_len)
{
        return access_http_parse(s, strlen(s), r, head_len);
}

static bool span_is(const char *p, size_t n, const char *want)
{
        return n == strlen(want) && memcmp(p, want, n) == 0;
}

static void test_parse_get(void **state)
{
        const char *s = "GET /v1/decide?x=1 HTTP/1.1\r\nHost: intranet\r\nX-Original-URI: \t /a b \t\r\n"
                        "X-Empty:\r\n\r\nleft over";
        struct access_http_req r;
        size_t head = 0, n;
        const char *v;

        (void)state;
        assert_int_equal(parse(s, &r, &head), 0);
        assert_int_equal(head, strlen(s) - strlen("left over"));
        assert_true(span_is(r.method, r.method_len, "GET"));
        assert_true(span_is(r.target, r.target_len, "/v1/decide?x=1"));
        assert_int_equal(r.minor, 1);
        assert_int_equal(r.n_headers, 3);
        assert_true(r.keep_alive);
        assert_int_equal(r.content_length, 0);
        v = access_http_header(&r, "x-original-uri", &n);
        assert_non_null(v);
        assert_true(span_is(v, n, "/a b"));
        v = access_http_header(&r, "X-EMPTY", &n);
        assert_non_null(v);
        assert_int_equal(n, 0);
        assert_null(access_http_header(&r, "X-Original", &n));

        /* one empty line before the request line is allowed, not two */
        assert_int_equal(parse("\r\nGET / HTTP/1.1\r\n\r\n", &r, &head), 0);
        assert_int_equal(head, 20);
        assert_int_equal(parse("\r\n\r\nGET / HTTP/1.1\r\n\r\n", &r, &head), -EINVAL);
}

static void test_parse_pipelined(void **state)
{
        const char *s = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
                        "POST /two HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                        "GET /three HTTP/1.1\r\n\r\n";
        struct access_http_req r;
        size_t head, pos = 0;

        (void)state;
        assert_int_equal(access_http_parse(s, strlen(s), &r, &head), 0);
        assert_true(span_is(r.target, r.target_len, "/one"));
        pos += head;
        assert_int_equal(access_http_parse(s + pos, strlen(s) - pos, &r, &head), 0);
        assert_true(span_is(r.method, r.method_len, "POST"));
        assert_true(span_is(r.target, r.target_len, "/two"));
        assert_int_equal(r.content_length, 3);
        pos += head + r.content_length;
        assert_int_equal(access_http_parse(s + pos, strlen(s) - pos, &r, &head), 0);
        assert_true(span_is(r.target, r.target_len, "/three"));
        assert_int_equal(pos + head, strlen(s));
}

static void test_parse_partial(void **state)
{
        static const char *const heads[] = {
                "GET /v1/decide HTTP/1.1\r\nHost: intranet.example.com\r\nX-Original-URI: /x?y=1\r\n"
                "X-Forwarded-For: 192.0.2.1, 198.51.100.7\r\nConnection: keep-alive\r\n\r\n",
                "\r\nPOST / HTTP/1.0\r\nContent-Length: 12\r\n\r\n",
                "GET / HTTP/1.1\r\n\r\n",
        };
        struct access_http_req r;
        size_t head;

        (void)state;
        for (size_t h = 0; h < sizeof(heads) / sizeof(heads[0]); h++) {
                size_t len = strlen(heads[h]);
                for (size_t cut = 0; cut < len; cut++) {
                        /* in a buffer of its own size, so a read past it is caught by the sanitizers */
                        char *buf = malloc(cut + 1);
                        memcpy(buf, heads[h], cut);
                        if (access_http_parse(buf, cut, &r, &head) != -EAGAIN)
                                fail_msg("head %zu cut at %zu: not -EAGAIN", h, cut);
                        free(buf);
                }
                assert_int_equal(access_http_parse(heads[h], len, &r, &head), 0);
                assert_int_equal(head, len);
        }
}

/* A head of exactly len bytes: a request line, then one header padding it. */
static char *head_of_size(size_t len)
{
        const char *start = "GET / HTTP/1.1\r\nX-Pad: ";
        char *s = malloc(len + 1);

        assert_true(len > strlen(start) + 4);
        memset(s, 'a', len);
        memcpy(s, start, strlen(start));
        memcpy(s + len - 4, "\r\n\r\n", 4);
        s[len] = '\0';
        return s;
}

static void test_parse_bounds(void **state)
{
        struct access_http_req r;
        size_t head;
        char *s;

        (void)state;
        s = head_of_size(ACCESS_HTTP_HEAD_MAX);
        assert_int_equal(parse(s, &r, &head), 0);
        assert_int_equal(head, ACCESS_HTTP_HEAD_MAX);
        free(s);
        s = head_of_size(ACCESS_HTTP_HEAD_MAX + 1);
        assert_int_equal(parse(s, &r, &head), -E2BIG);
        /* no end in sight after the bound: too large, not "need more" */
        assert_int_equal(access_http_parse(s, ACCESS_HTTP_HEAD_MAX, &r, &head), -E2BIG);
        assert_int_equal(access_http_parse(s, ACCESS_HTTP_HEAD_MAX - 1, &r, &head), -EAGAIN);
        free(s);

        /* ACCESS_HTTP_HEADERS_MAX headers, then one more */
        char many[4096];
        size_t n = (size_t)snprintf(many, sizeof(many), "GET / HTTP/1.1\r\n");
        for (int i = 0; i < ACCESS_HTTP_HEADERS_MAX; i++)
                n += (size_t)snprintf(many + n, sizeof(many) - n, "H%d: v\r\n", i);
        snprintf(many + n, sizeof(many) - n, "\r\n");
        assert_int_equal(parse(many, &r, &head), 0);
        assert_int_equal(r.n_headers, ACCESS_HTTP_HEADERS_MAX);
        assert_non_null(access_http_header(&r, "h63", &head));
        snprintf(many + n, sizeof(many) - n, "One-More: v\r\n\r\n");
        assert_int_equal(parse(many, &r, &head), -E2BIG);
}

static void test_parse_malformed(void **state)
{
        static const char *const bad[] = {
                "GET / HTTP/2.0\r\n\r\n",
                "GET / HTTP/1.2\r\n\r\n",
                "GET / http/1.1\r\n\r\n",
                "GET / HTTP/1.1 \r\n\r\n",
                "GET / HTTP/1.10\r\n\r\n",
                "GET /\r\n\r\n",
                "GET  / HTTP/1.1\r\n\r\n",
                " GET / HTTP/1.1\r\n\r\n",
                "G(T / HTTP/1.1\r\n\r\n",
                "GET /a\x01 HTTP/1.1\r\n\r\n",
                "GET /\xc3\xa9 HTTP/1.1\r\n\r\n",
                "GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
                "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
                "GET / HTTP/1.1\r\n: empty name\r\n\r\n",
                "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
                "GET / HTTP/1.1\r\n\tHost: a\r\n\r\n",
                "GET / HTTP/1.1\nHost: a\r\n\r\n",
                "GET / HTTP/1.1\r\nHost: a\n\r\n",
                "GET / HTTP/1.1\r\nHost: a\r\n\n",
                "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
                "GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n",
                "GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
                "GET / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n",
                "GET / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n",
                "GET / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
                "GET / HTTP/1.1\r\nContent-Length: \r\n\r\n",
                "GET / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n",
                "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                "GET / HTTP/1.1\r\ntransfer-encoding: identity\r\n\r\n",
                "GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        };
        struct access_http_req r;
        size_t head;
        char nul[] = "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n";

        (void)state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (parse(bad[i], &r, &head) != -EINVAL)
                        fail_msg("accepted, or not -EINVAL: '%s'", bad[i]);
        assert_int_equal(access_http_parse(nul, sizeof(nul) - 1, &r, &head), -EINVAL);
}

static void test_parse_content_length(void **state)
{
        struct access_http_req r;
        size_t head;
        char s[128];

        (void)state;
        snprintf(s, sizeof(s), "POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n", ACCESS_HTTP_BODY_MAX);
        assert_int_equal(parse(s, &r, &head), 0);
        assert_int_equal(r.content_length, ACCESS_HTTP_BODY_MAX);
        snprintf(s, sizeof(s), "POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n", ACCESS_HTTP_BODY_MAX + 1);
        assert_int_equal(parse(s, &r, &head), -E2BIG);
        assert_int_equal(parse("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n", &r, &head),
                         -E2BIG);
        assert_int_equal(parse("POST / HTTP/1.1\r\nContent-Length:  007 \r\n\r\n", &r, &head), 0);
        assert_int_equal(r.content_length, 7);
}

static void test_parse_keep_alive(void **state)
{
        static const struct { const char *head; bool keep_alive; } cases[] = {
                { "GET / HTTP/1.1\r\n\r\n", true },
                { "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false },
                { "GET / HTTP/1.1\r\nconnection: CLOSE\r\n\r\n", false },
                { "GET / HTTP/1.1\r\nConnection: Upgrade, close\r\n\r\n", false },
                { "GET / HTTP/1.1\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false },
                { "GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", true },
                { "GET / HTTP/1.1\r\nConnection: keep-alive , Upgrade\r\n\r\n", true },
                { "GET / HTTP/1.0\r\n\r\n", false },
                { "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true },
                { "GET / HTTP/1.0\r\nConnection: x,keep-alive\r\n\r\n", true },
                { "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false },
                /* answered before a body it may hold back: closed after */
                { "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", false },
                { "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n", true },
        };
        struct access_http_req r;
        size_t head;

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                assert_int_equal(parse(cases[i].head, &r, &head), 0);
                if (r.keep_alive != cases[i].keep_alive)
                        fail_msg("'%s': keep_alive %d", cases[i].head, r.keep_alive);
        }
}

static void test_parse_lookup(void **state)
{
        struct access_http_req r;
        size_t head, n;
        const char *v;

        (void)state;
        assert_int_equal(parse("GET / HTTP/1.1\r\nX-Vigil-Client-Verify: SUCCESS\r\n"
                               "x-forwarded-for: 1.1.1.1\r\nX-FORWARDED-FOR: 2.2.2.2\r\n\r\n", &r, &head), 0);
        v = access_http_header(&r, "X-Vigil-Client-Verify", &n);
        assert_true(v && span_is(v, n, "SUCCESS"));
        v = access_http_header(&r, "x-vigil-client-verify", &n);
        assert_true(v && span_is(v, n, "SUCCESS"));
        v = access_http_header(&r, "X-Forwarded-For", &n);
        assert_true(v && span_is(v, n, "1.1.1.1"));
        assert_null(access_http_header(&r, "X-Forwarded-Fo", &n));
        assert_null(access_http_header(&r, "", &n));
}

static void test_answer_header(void **state)
{
        struct access_http_answer a = { .status = 200 };
        char big[ACCESS_HTTP_VALUE_MAX + 8];

        (void)state;
        assert_int_equal(access_http_answer_header(&a, "X-Vigil-Reason", "%s", "a\r\nX-Evil: 1\x7f\tb"), 0);
        assert_string_equal(a.headers[0].value, "a  X-Evil: 1  b");
        assert_int_equal(access_http_answer_header(&a, "Bad Name", "x"), -EINVAL);
        assert_int_equal(access_http_answer_header(&a, "", "x"), -EINVAL);
        assert_int_equal(access_http_answer_header(&a, "X:y", "x"), -EINVAL);
        assert_int_equal(a.n_headers, 1);

        /* cut to ACCESS_HTTP_VALUE_MAX, never inside a UTF-8 character */
        memset(big, 'a', sizeof(big));
        big[sizeof(big) - 1] = '\0';
        assert_int_equal(access_http_answer_header(&a, "X-Big", "%s", big), 0);
        assert_int_equal(strlen(a.headers[1].value), ACCESS_HTTP_VALUE_MAX);
        memcpy(big + ACCESS_HTTP_VALUE_MAX - 1, "\xc3\xa9", 2);
        assert_int_equal(access_http_answer_header(&a, "X-Big", "%s", big), 0);
        assert_int_equal(strlen(a.headers[2].value), ACCESS_HTTP_VALUE_MAX - 1);
        memset(big, 'a', sizeof(big) - 1);
        memcpy(big + ACCESS_HTTP_VALUE_MAX - 2, "\xe2\x82\xac", 3);
        assert_int_equal(access_http_answer_header(&a, "X-Big", "%s", big), 0);
        assert_int_equal(strlen(a.headers[3].value), ACCESS_HTTP_VALUE_MAX - 2);
        memset(big, 'a', sizeof(big) - 1);
        memcpy(big + ACCESS_HTTP_VALUE_MAX - 3, "\xe2\x82\xac", 3);
        assert_int_equal(access_http_answer_header(&a, "X-Big", "%s", big), 0);
        assert_int_equal(strlen(a.headers[4].value), ACCESS_HTTP_VALUE_MAX);

        while (a.n_headers < ACCESS_HTTP_ANSWER_HEADERS_MAX)
                assert_int_equal(access_http_answer_header(&a, "X-Fill", "%d", 1), 0);
        assert_int_equal(access_http_answer_header(&a, "X-Full", "x"), -E2BIG);
}

/* ---- the listener ---- */

static atomic_uint handled;

/* Three digits, as "/status/NNN" holds them. */
static int status_of(const char *s)
{
        return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}
static atomic_uint worker_max;

/* Echoes what the request said into answer headers; "/status/NNN" sets the
 * status, "/inject" tries to break the answer's head, "/big" fills every
 * answer header. */
static void handler(void *ctx, unsigned worker, const struct access_http_req *req, struct access_http_answer *ans)
{
        const char *v;
        size_t n;

        (void)ctx;
        atomic_fetch_add(&handled, 1);
        if (worker > atomic_load(&worker_max))
                atomic_store(&worker_max, worker);
        if (req->target_len == 11 && memcmp(req->target, "/status/", 8) == 0)
                ans->status = status_of(req->target + 8);
        if (span_is(req->target, req->target_len, "/inject"))
                access_http_answer_header(ans, "X-Out", "a\r\nX-Injected: 1\x7f");
        access_http_answer_header(ans, "X-Target", "%.*s", (int)req->target_len, req->target);
        access_http_answer_header(ans, "X-Peer", "%u %d", req->peer.family, req->peer_local);
        v = access_http_header(req, "X-In", &n);
        if (v)
                access_http_answer_header(ans, "X-Echo", "%.*s", (int)n, v);
        if (req->target_len >= 4 && memcmp(req->target, "/big", 4) == 0)
                while (access_http_answer_header(ans, "X-Big", "%0*d", ACCESS_HTTP_VALUE_MAX, 0) == 0)
                        ;
}

static struct access_listener *start(const char *listen, unsigned threads, unsigned max_conns, unsigned idle_s)
{
        struct access_listener_config cfg = {
                .listen = listen, .threads = threads, .max_connections = max_conns, .idle_timeout_s = idle_s,
        };
        struct access_listener *l = NULL;
        char err[256] = "";

        if (access_listener_start(&cfg, handler, NULL, &l, err, sizeof(err)) != 0)
                fail_msg("cannot start on '%s': %s", listen, err);
        return l;
}

/* A blocking client socket with a 5 s receive timeout, so no test hangs. */
static int client_setup(int fd)
{
        struct timeval tv = { .tv_sec = 5 };

        assert_true(fd >= 0);
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
        return fd;
}

static int client_tcp(uint16_t port)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
        int fd = client_setup(socket(AF_INET, SOCK_STREAM, 0));

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        return fd;
}

static int client_unix(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = client_setup(socket(AF_UNIX, SOCK_STREAM, 0));

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
        while (n) {
                ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
                assert_true(k > 0);
                s += k;
                n -= (size_t)k;
        }
}

static void send_str(int fd, const char *s)
{
        send_all(fd, s, strlen(s));
}

/* Reads until buf holds n answer heads (every answer is a head: its
 * Content-Length is 0). Returns the bytes read, NUL-terminated. */
static size_t read_answers(int fd, size_t n, char *buf, size_t size)
{
        size_t len = 0, seen = 0, scanned = 0;

        while (seen < n) {
                ssize_t k = recv(fd, buf + len, size - 1 - len, 0);
                if (k <= 0)
                        fail_msg("connection ended or timed out after %zu of %zu answers", seen, n);
                len += (size_t)k;
                buf[len] = '\0';
                for (; scanned + 4 <= len; scanned++)
                        if (memcmp(buf + scanned, "\r\n\r\n", 4) == 0)
                                seen++;
        }
        assert_int_equal(seen, n);
        return len;
}

/* True if the server closes fd within ms milliseconds. */
static bool closed_within(int fd, int ms)
{
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char c;

        if (poll(&p, 1, ms) != 1)
                return false;
        ssize_t k = recv(fd, &c, 1, MSG_DONTWAIT);
        return k == 0 || (k < 0 && errno == ECONNRESET);
}

static void test_listener_keep_alive(void **state)
{
        struct access_listener *l = start("127.0.0.1:0", 2, 64, 30);
        char buf[8192], req[128], want[128];
        int fd;

        (void)state;
        assert_true(access_listener_port(l) > 0);
        fd = client_tcp(access_listener_port(l));
        for (int i = 0; i < 1000; i++) {
                snprintf(req, sizeof(req), "GET /v1/decide?i=%d HTTP/1.1\r\nHost: x\r\nX-In:  v%d  \r\n\r\n", i, i);
                send_str(fd, req);
                read_answers(fd, 1, buf, sizeof(buf));
                snprintf(want, sizeof(want), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Target: /v1/decide?i=%d\r\n"
                         "X-Peer: 4 1\r\nX-Echo: v%d\r\n\r\n", i, i);
                assert_string_equal(buf, want);
        }
        close(fd);

        /* HTTP/1.0: closed unless it asks for keep-alive, which the answer confirms */
        fd = client_tcp(access_listener_port(l));
        send_str(fd, "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        read_answers(fd, 1, buf, sizeof(buf));
        assert_non_null(strstr(buf, "\r\nConnection: keep-alive\r\n"));
        send_str(fd, "GET /b HTTP/1.0\r\n\r\n");
        read_answers(fd, 1, buf, sizeof(buf));
        assert_non_null(strstr(buf, "X-Target: /b\r\nX-Peer: 4 1\r\nConnection: close\r\n\r\n"));
        assert_true(closed_within(fd, 2000));
        close(fd);

        /* an HTTP/1.1 Connection: close is answered, then closed */
        fd = client_tcp(access_listener_port(l));
        send_str(fd, "GET /c HTTP/1.1\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\n\r\n");
        read_answers(fd, 1, buf, sizeof(buf));
        assert_non_null(strstr(buf, "X-Target: /c\r\n"));
        assert_non_null(strstr(buf, "Connection: close\r\n"));
        assert_true(closed_within(fd, 2000));
        assert_null(strstr(buf, "/never"));
        close(fd);
        access_listener_stop(l);
        assert_true(atomic_load(&worker_max) < 2);
}

static void test_listener_pipelining(void **state)
{
        struct access_listener *l = start("127.0.0.1:0", 1, 64, 30);
        char buf[8192];
        int fd;

        (void)state;
        fd = client_tcp(access_listener_port(l));
        /* three requests in one write, a body between them */
        send_str(fd, "GET /1 HTTP/1.1\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789"
                     "GET /3 HTTP/1.1\r\n\r\n");
        read_answers(fd, 3, buf, sizeof(buf));
        char *a1 = strstr(buf, "X-Target: /1\r\n"), *a2 = strstr(buf, "X-Target: /2\r\n"),
             *a3 = strstr(buf, "X-Target: /3\r\n");
        assert_true(a1 && a2 && a3 && a1 < a2 && a2 < a3);

        /* a body in pieces, the next request right behind it, and a head cut in two */
        send_str(fd, "POST /4 HTTP/1.1\r\nContent-Length: 2000\r\n\r\nGET /not-a-request");
        read_answers(fd, 1, buf, sizeof(buf));
        assert_non_null(strstr(buf, "X-Target: /4\r\n"));
        /* 1982 body bytes left; spaces, so a miscount shows as a malformed request */
        char body[1982 - 23];
        memset(body, ' ', sizeof(body));
        body[0] = '\n';
        send_all(fd, body, sizeof(body));
        usleep(20000);
        send_str(fd, "                       ");
        usleep(20000);
        send_str(fd, "GET /5 HTTP/1.1\r\nHo");
        usleep(20000);
        send_str(fd, "st: x\r\n\r\n");
        read_answers(fd, 1, buf, sizeof(buf));
        assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
        assert_non_null(strstr(buf, "X-Target: /5\r\n"));
        close(fd);
        access_listener_stop(l);
}

static void test_listener_backpressure(void **state)
{
        struct access_listener *l = start("127.0.0.1:0", 1, 64, 30);
        size_t size = 16 << 20, len = 0, n = 2000;
        char *buf = malloc(size), req[64];
        int fd, small = 4096;

        (void)state;
        /* answers (8.6 MB) past what the socket buffers hold, read slowly:
         * the server must wait for room */
        fd = client_setup(socket(AF_INET, SOCK_STREAM, 0));
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(access_listener_port(l)) };
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        for (size_t i = 0; i < n; i++)
                len += (size_t)snprintf(buf + len, size - len, "GET /big?%zu HTTP/1.1\r\n\r\n", i);
        assert_true(len > 2 * ACCESS_HTTP_HEAD_MAX);
        send_all(fd, buf, len);
        usleep(200000);
        len = read_answers(fd, n, buf, size);
        char *p = buf;
        for (size_t i = 0; i < n; i++) {
                snprintf(req, sizeof(req), "X-Target: /big?%zu\r\n", i);
                p = strstr(p, req);
                if (!p)
                        fail_msg("answer %zu missing or out of order", i);
        }
        /* the connection still serves */
        send_str(fd, "GET /after HTTP/1.1\r\n\r\n");
        read_answers(fd, 1, buf, size);
        assert_non_null(strstr(buf, "X-Target: /after\r\n"));
        close(fd);
        free(buf);
        access_listener_stop(l);
}

static void test_listener_refusals(void **state)
{
        struct access_listener *l = start("127.0.0.1:0", 2, 64, 30);
        char buf[8192];
        char *big;
        int fd;

        (void)state;
        fd = client_tcp(access_listener_port(l));
        send_str(fd, "GET /ok HTTP/1.1\r\n\r\nGARBAGE\r\n\r\nGET /never HTTP/1.1\r\n\r\n");
        read_answers(fd, 2, buf, sizeof(buf));
        assert_non_null(strstr(buf, "X-Target: /ok\r\n"));
        assert_non_null(strstr(buf, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                    "X-Vigil-Reason: malformed request\r\nConnection: close\r\n\r\n"));
        assert_true(closed_within(fd, 2000));
        close(fd);

        /* a head past the bound */
        fd = client_tcp(access_listener_port(l));
        big = malloc(ACCESS_HTTP_HEAD_MAX + 100);
        memset(big, 'a', ACCESS_HTTP_HEAD_MAX + 100);
        memcpy(big, "GET / HTTP/1.1\r\nX-A: ", 21);
        send_all(fd, big, ACCESS_HTTP_HEAD_MAX + 100);
        free(big);
        read_answers(fd, 1, buf, sizeof(buf));
        assert_non_null(strstr(buf, "HTTP/1.1 400 Bad Request\r\n"));
        assert_non_null(strstr(buf, "X-Vigil-Reason: request too large\r\n"));
        assert_true(closed_within(fd, 2000));
        close(fd);

        /* a value with CR LF cannot add a header; statuses have their reasons */
        fd = client_tcp(access_listener_port(l));
        send_str(fd, "GET /inject HTTP/1.1\r\n\r\n");
        read_answers(fd, 1, buf, sizeof(buf));
        assert_non_null(strstr(buf, "\r\nX-Out: a  X-Injected: 1 \r\n"));
        assert_null(strstr(buf, "\r\nX-Injected"));
        static const char *const statuses[] = {
                "/status/200", "HTTP/1.1 200 OK\r\n", "/status/401", "HTTP/1.1 401 Unauthorized\r\n",
                "/status/403", "HTTP/1.1 403 Forbidden\r\n", "/status/404", "HTTP/1.1 404 Not Found\r\n",
                "/status/405", "HTTP/1.1 405 Method Not Allowed\r\n", "/status/503", "HTTP/1.1 503 Service Unavailable\r\n",
                "/status/299", "HTTP/1.1 500 Internal Server Error\r\n",
        };
        for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i += 2) {
                char req[64];
                snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\n\r\n", statuses[i]);
                send_str(fd, req);
                read_answers(fd, 1, buf, sizeof(buf));
                assert_true(strncmp(buf, statuses[i + 1], strlen(statuses[i + 1])) == 0);
        }
        close(fd);
        access_listener_stop(l);
}

static void test_listener_max_connections(void **state)
{
        struct access_listener *l = start("127.0.0.1:0", 2, 2, 30);
        char buf[4096];
        int a, b, c;

        (void)state;
        a = client_tcp(access_listener_port(l));
        b = client_tcp(access_listener_port(l));
        send_str(a, "GET /a HTTP/1.1\r\n\r\n");
        read_answers(a, 1, buf, sizeof(buf));
        send_str(b, "GET /b HTTP/1.1\r\n\r\n");
        read_answers(b, 1, buf, sizeof(buf));
        c = client_tcp(access_listener_port(l));
        assert_true(closed_within(c, 2000));
        close(c);
        /* a and b still served; once a closes there is room again */
        send_str(a, "GET /a2 HTTP/1.1\r\n\r\n");
        read_answers(a, 1, buf, sizeof(buf));
        close(a);
        bool served = false;
        for (int tries = 0; tries < 50 && !served; tries++) {
                usleep(20000);
                c = client_tcp(access_listener_port(l));
                send(c, "GET /c HTTP/1.1\r\n\r\n", 19, MSG_NOSIGNAL);
                char one[64];
                served = recv(c, one, sizeof(one), 0) > 0;
                close(c);
        }
        assert_true(served);
        close(b);
        access_listener_stop(l);
}

static void test_listener_idle(void **state)
{
        struct access_listener *l = start("127.0.0.1:0", 1, 64, 1);
        struct timespec t0, t1;
        char buf[4096];
        int a, b;

        (void)state;
        a = client_tcp(access_listener_port(l));
        send_str(a, "GET /a HTTP/1.1\r\n\r\n");
        read_answers(a, 1, buf, sizeof(buf));
        clock_gettime(CLOCK_MONOTONIC, &t0);
        /* a head that never ends is no protection */
        b = client_tcp(access_listener_port(l));
        send_str(b, "GET /b HTTP/1.1\r\n");
        assert_false(closed_within(a, 700));
        assert_true(closed_within(a, 3000));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        /* idle past 1 s, found by a sweep that runs once a second */
        double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        if (s < 0.9 || s > 3.0)
                fail_msg("closed after %.2f s idle, not 1 to 2", s);
        assert_true(closed_within(b, 3000));
        close(a);
        close(b);
        access_listener_stop(l);
}

static void test_listener_stop_open(void **state)
{
        struct access_listener *l = start("127.0.0.1:0", 4, 64, 30);
        char buf[4096];
        int fds[8];

        (void)state;
        atomic_store(&worker_max, 0);
        for (int i = 0; i < 8; i++) {
                fds[i] = client_tcp(access_listener_port(l));
                send_str(fds[i], "GET /x HTTP/1.1\r\n\r\n");
                read_answers(fds[i], 1, buf, sizeof(buf));
        }
        /* new connections go to the worker serving the fewest: all four serve */
        assert_int_equal(atomic_load(&worker_max), 3);
        send_str(fds[0], "GET /partial HTTP/1.1\r\nHost:");
        usleep(20000);
        access_listener_stop(l);
        for (int i = 0; i < 8; i++) {
                assert_true(closed_within(fds[i], 1000));
                close(fds[i]);
        }
}

static void test_listener_unix(void **state)
{
        char dir[] = "/tmp/test-access-listener-XXXXXX", path[128], listen[160], buf[4096];
        struct access_listener_config cfg = { .threads = 1, .max_connections = 8, .idle_timeout_s = 5 };
        struct access_listener *l, *other = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char err[256] = "";
        struct stat st;
        int fd;

        (void)state;
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/decide.sock", dir);
        snprintf(listen, sizeof(listen), "unix:%s", path);

        /* a stale socket (nobody listens) is replaced */
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        close(fd);
        l = start(listen, 1, 8, 5);
        assert_int_equal(access_listener_port(l), 0);
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        assert_int_equal(st.st_mode & 0777, 0660);
        fd = client_unix(path);
        send_str(fd, "GET /u HTTP/1.1\r\n\r\nGET /v HTTP/1.1\r\n\r\n");
        read_answers(fd, 2, buf, sizeof(buf));
        assert_non_null(strstr(buf, "X-Target: /u\r\nX-Peer: 0 1\r\n"));
        assert_non_null(strstr(buf, "X-Target: /v\r\nX-Peer: 0 1\r\n"));

        /* a socket someone listens on is left alone */
        cfg.listen = listen;
        assert_int_equal(access_listener_start(&cfg, handler, NULL, &other, err, sizeof(err)), -EADDRINUSE);
        assert_non_null(strstr(err, path));
        assert_null(other);

        access_listener_stop(l);
        assert_true(closed_within(fd, 1000));
        close(fd);
        assert_int_equal(stat(path, &st), -1);

        /* a path that is not a socket is refused and kept */
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fclose(f);
        assert_int_equal(access_listener_start(&cfg, handler, NULL, &other, err, sizeof(err)), -EEXIST);
        assert_non_null(strstr(err, "is not a socket"));
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        unlink(path);
        rmdir(dir);
}

static void test_listener_ipv6(void **state)
{
        struct access_listener_config cfg = { .listen = "[::1]:0", .threads = 1, .max_connections = 8, .idle_timeout_s = 5 };
        struct access_listener *l = NULL;
        struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
        char err[256] = "", buf[4096];
        int fd;

        (void)state;
        if (access_listener_start(&cfg, handler, NULL, &l, err, sizeof(err)) != 0)
                skip();                 /* no IPv6 loopback here */
        sa.sin6_port = htons(access_listener_port(l));
        fd = client_setup(socket(AF_INET6, SOCK_STREAM, 0));
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        send_str(fd, "GET /6 HTTP/1.1\r\n\r\n");
        read_answers(fd, 1, buf, sizeof(buf));
        assert_non_null(strstr(buf, "X-Target: /6\r\nX-Peer: 6 1\r\n"));
        close(fd);
        access_listener_stop(l);

        /* on a dual-stack socket an IPv4 peer is reported as IPv4 */
        cfg.listen = "[::]:0";
        l = NULL;
        assert_int_equal(access_listener_start(&cfg, handler, NULL, &l, err, sizeof(err)), 0);
        int v6only = 1;
        FILE *f = fopen("/proc/sys/net/ipv6/bindv6only", "r");
        if (f) {
                v6only = fgetc(f) == '1';
                fclose(f);
        }
        if (!v6only) {
                fd = client_tcp(access_listener_port(l));
                send_str(fd, "GET /mapped HTTP/1.1\r\n\r\n");
                read_answers(fd, 1, buf, sizeof(buf));
                assert_non_null(strstr(buf, "X-Target: /mapped\r\nX-Peer: 4 1\r\n"));
                close(fd);
        }
        access_listener_stop(l);
}

static void test_listener_config(void **state)
{
        static const char *const bad[] = {
                "127.0.0.1", "localhost:8444", "::1:8444", "[::1]8444", "[::1:8444", "127.0.0.1:65536",
                "127.0.0.1:-1", "127.0.0.1:", ":8444", "1.2.3:80", "[127.0.0.1]:80", "unix:",
        };
        struct access_listener_config cfg = { .threads = 1, .max_connections = 8, .idle_timeout_s = 5 };
        struct access_listener *l = NULL, *l2 = NULL;
        char err[256], listen[64];

        (void)state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                cfg.listen = bad[i];
                err[0] = '\0';
                if (access_listener_start(&cfg, handler, NULL, &l, err, sizeof(err)) != -EINVAL)
                        fail_msg("'%s' not refused", bad[i]);
                if (!strstr(err, bad[i] + (strncmp(bad[i], "unix:", 5) == 0 ? 5 : 0)))
                        fail_msg("'%s': message does not name it: %s", bad[i], err);
        }
        cfg.listen = "127.0.0.1:0";
        cfg.threads = 0;
        assert_int_equal(access_listener_start(&cfg, handler, NULL, &l, err, sizeof(err)), -EINVAL);
        cfg.threads = 65;
        assert_int_equal(access_listener_start(&cfg, handler, NULL, &l, err, sizeof(err)), -EINVAL);
        cfg.threads = 1;
        cfg.max_connections = 0;
        assert_int_equal(access_listener_start(&cfg, handler, NULL, &l, err, sizeof(err)), -EINVAL);
        assert_null(l);

        /* a port in use */
        l = start("127.0.0.1:0", 1, 8, 5);
        snprintf(listen, sizeof(listen), "127.0.0.1:%u", access_listener_port(l));
        cfg.listen = listen;
        cfg.max_connections = 8;
        assert_int_equal(access_listener_start(&cfg, handler, NULL, &l2, err, sizeof(err)), -EADDRINUSE);
        assert_non_null(strstr(err, listen));
        access_listener_stop(l);
        access_listener_stop(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_get),
                cmocka_unit_test(test_parse_pipelined),
                cmocka_unit_test(test_parse_partial),
                cmocka_unit_test(test_parse_bounds),
                cmocka_unit_test(test_parse_malformed),
                cmocka_unit_test(test_parse_content_length),
                cmocka_unit_test(test_parse_keep_alive),
                cmocka_unit_test(test_parse_lookup),
                cmocka_unit_test(test_answer_header),
                cmocka_unit_test(test_listener_keep_alive),
                cmocka_unit_test(test_listener_pipelining),
                cmocka_unit_test(test_listener_backpressure),
                cmocka_unit_test(test_listener_refusals),
                cmocka_unit_test(test_listener_max_connections),
                cmocka_unit_test(test_listener_idle),
                cmocka_unit_test(test_listener_stop_open),
                cmocka_unit_test(test_listener_unix),
                cmocka_unit_test(test_listener_ipv6),
                cmocka_unit_test(test_listener_config),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
