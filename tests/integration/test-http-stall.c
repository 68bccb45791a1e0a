/* Integration: the HTTP layer answers a burst of keep-alive requests that
 * arrive while a handler blocks.
 *
 * libmicrohttpd 0.9.75's internal epoll thread, woken by exactly 128 ready
 * connections (or a multiple), calls epoll_wait() again with the full timeout
 * before serving them, so they stay unanswered until the connection timeout.
 * http.c drives its daemons from its own loop instead. This test starts the
 * real listener in-process over TLS with one worker, parks the worker in a
 * slow handler, sends 128 (then 256) requests on open keep-alive connections
 * meanwhile, and expects every one answered long before the connection
 * timeout. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <gnutls/gnutls.h>

#include "crypto/crypto.h"
#include "server/http/http.h"
#include "util/strutil.h"

#define BLOCK_MS 2000                   /* how long GET /block holds the worker */
#define SETTLE_MS 500                   /* lets the server go idle, then enter the handler */
#define ANSWER_DEADLINE_MS 10000        /* well below CONNECTION_TIMEOUT_S */
#define CONNECTION_TIMEOUT_S 20
#define HANDSHAKE_TIMEOUT_MS 10000
#define RESPONSE_MAX 1024
#define CERT_DAYS 1
#define FDS_PER_CLIENT 2                /* ours and the server's end, same process */
#define FDS_SPARE 64

struct tls_material {
        char *ca_pem, *cert_pem, *key_pem;
        size_t ca_len, cert_len, key_len;
        gnutls_certificate_credentials_t cred;
};

/* One client connection and the response read on it so far. */
struct client {
        int fd;
        gnutls_session_t tls;
        char buf[RESPONSE_MAX];
        size_t len;
        bool done;                      /* a complete response is in buf */
        bool failed;                    /* closed, TLS error or an oversized response */
        unsigned status;
};

static struct tls_material M;

static void sleep_ms(long ms)
{
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static void handle_block(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        sleep_ms(BLOCK_MS);     /* stands in for a handler waiting on the database */
        http_reply_json(rep, 200, json_object());
}

static void handle_fast(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        http_reply_json(rep, 200, json_object());
}

static int admin_auth_refuse(struct vigild *d, const char *token, struct http_principal *who)
{
        return -EACCES;
}

static int device_auth_refuse(struct vigild *d, struct http_principal *who)
{
        return -EACCES;
}

static const struct http_route stall_routes[] = {
        { "GET", "/block", HTTP_AUTH_NONE, 0, handle_block, 0 },
        { "GET", "/fast", HTTP_AUTH_NONE, 0, handle_fast, 0 },
        { 0 },
};

static const struct http_route *const stall_tables[] = { stall_routes, NULL };

/* Every client holds two descriptors of this process; raise the soft limit
 * toward the hard one if it is short. Returns 0 or -EMFILE. */
static int fd_limit_ensure(rlim_t want)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -errno;
        if (rl.rlim_cur >= want)
                return 0;
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
                return -EMFILE;
        rl.rlim_cur = want;
        return setrlimit(RLIMIT_NOFILE, &rl) < 0 ? -errno : 0;
}

static int group_setup(void **state)
{
        static const char *const names[] = { "localhost", "127.0.0.1" };
        struct crypto_ca *ca = NULL;
        gnutls_datum_t trust;
        char *ca_key = NULL;
        size_t ca_key_len;
        int r;

        r = crypto_ca_create("Vigil stall test CA", CERT_DAYS, &M.ca_pem, &M.ca_len, &ca_key, &ca_key_len);
        if (r < 0)
                goto out;
        r = crypto_ca_load(M.ca_pem, M.ca_len, ca_key, ca_key_len, &ca);
        if (r < 0)
                goto out;
        r = crypto_key_generate(&M.key_pem, &M.key_len);
        if (r < 0)
                goto out;
        r = crypto_ca_issue_server(ca, M.key_pem, M.key_len, names, 2, CERT_DAYS,
                                   &M.cert_pem, &M.cert_len);
        if (r < 0)
                goto out;
        r = -ENOMEM;
        if (gnutls_certificate_allocate_credentials(&M.cred) < 0)
                goto out;
        trust.data = (unsigned char *)M.ca_pem;
        trust.size = (unsigned)M.ca_len;
        r = -EINVAL;
        if (gnutls_certificate_set_x509_trust_mem(M.cred, &trust, GNUTLS_X509_FMT_PEM) != 1)
                goto out;
        r = 0;
out:
        crypto_ca_free(ca);
        free(ca_key);
        return r;
}

static int group_teardown(void **state)
{
        if (M.cred)
                gnutls_certificate_free_credentials(M.cred);
        free(M.ca_pem);
        free(M.cert_pem);
        free(M.key_pem);
        memset(&M, 0, sizeof(M));
        return 0;
}

static int server_start(struct http_server **ret)
{
        struct http_server_config cfg = {
                .listen = "127.0.0.1:0",
                .threads = 1,
                .body_max = 65536,
                .connection_timeout = CONNECTION_TIMEOUT_S,
                .max_connections = 1000,
                .connection_memory = 8192,
                .cert_pem = M.cert_pem,
                .key_pem = M.key_pem,
                .trust_pem = M.ca_pem,
        };
        char err[256] = "";
        int r;

        /* the handlers never use the daemon's state: none is given */
        r = http_server_start(&cfg, NULL, stall_tables, admin_auth_refuse, device_auth_refuse,
                              ret, err, sizeof(err));
        if (r < 0)
                print_error("http_server_start: %s\n", err);
        return r;
}

/* Connects over TLS, verifying the server as "localhost" against the CA, on
 * a blocking socket. Returns 0 or a negative errno. */
static int client_connect(struct client *c, uint16_t port)
{
        struct sockaddr_in sin = {
                .sin_family = AF_INET,
                .sin_port = htons(port),
                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
        };
        int r;

        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
                return -errno;
        if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
                return -errno;
        if (gnutls_init(&c->tls, GNUTLS_CLIENT) < 0)
                return -ENOMEM;
        if (gnutls_set_default_priority(c->tls) < 0 ||
            gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, M.cred) < 0 ||
            gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, "localhost", strlen("localhost")) < 0)
                return -EIO;
        gnutls_session_set_verify_cert(c->tls, "localhost", 0);
        gnutls_transport_set_int(c->tls, c->fd);
        gnutls_handshake_set_timeout(c->tls, HANDSHAKE_TIMEOUT_MS);
        do
                r = gnutls_handshake(c->tls);
        while (r < 0 && !gnutls_error_is_fatal(r));
        if (r < 0) {
                print_error("TLS handshake: %s\n", gnutls_strerror(r));
                return -EPROTO;
        }
        return 0;
}

static void client_close(struct client *c)
{
        if (c->tls)
                gnutls_deinit(c->tls);
        if (c->fd >= 0)
                close(c->fd);
}

/* Sends a GET on a still blocking socket. Returns 0 or -EIO. */
static int client_send(struct client *c, const char *path, bool keep_alive)
{
        char req[128];
        size_t off = 0;
        int n;

        n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: %s\r\n\r\n",
                     path, keep_alive ? "keep-alive" : "close");
        assert_true(n > 0 && (size_t)n < sizeof(req));
        while (off < (size_t)n) {
                ssize_t w = gnutls_record_send(c->tls, req + off, (size_t)n - off);
                if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
                        continue;
                if (w < 0)
                        return -EIO;
                off += (size_t)w;
        }
        return 0;
}

/* The value of a Content-Length line of the header block, or -1. */
static long header_content_length(const char *head, size_t len)
{
        static const char name[] = "\r\nContent-Length:";
        const char *end = head + len;

        for (const char *p = head; p + sizeof(name) - 1 <= end; p++) {
                uint64_t v = 0;
                const char *q;

                if (strncasecmp(p, name, sizeof(name) - 1) != 0)
                        continue;
                q = p + sizeof(name) - 1;
                while (q < end && *q == ' ')
                        q++;
                if (q >= end || *q < '0' || *q > '9')
                        return -1;
                while (q < end && *q >= '0' && *q <= '9' && v < RESPONSE_MAX)
                        v = v * 10 + (uint64_t)(*q++ - '0');
                return v < RESPONSE_MAX ? (long)v : -1;
        }
        return -1;
}

/* Marks c done once buf holds a whole response: status line, headers and a
 * body of Content-Length bytes. */
static void client_parse(struct client *c)
{
        static const char proto[] = "HTTP/1.1 ";
        const char *end;
        size_t head_len;
        long body_len;

        end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (!end)
                return;
        head_len = (size_t)(end - c->buf) + 4;
        body_len = header_content_length(c->buf, head_len);
        if (body_len < 0 || c->len - head_len < (size_t)body_len)
                return;
        c->done = true;
        if (head_len < sizeof(proto) + 3 || memcmp(c->buf, proto, sizeof(proto) - 1) != 0)
                return;
        for (size_t i = sizeof(proto) - 1; i < sizeof(proto) + 2; i++)
                if (c->buf[i] >= '0' && c->buf[i] <= '9')
                        c->status = c->status * 10 + (unsigned)(c->buf[i] - '0');
}

/* Reads what is there on a non-blocking socket, TLS session tickets
 * included, without waiting. */
static void client_read(struct client *c)
{
        while (!c->done && !c->failed) {
                ssize_t n;

                if (c->len + 1 >= sizeof(c->buf)) {
                        c->failed = true;
                        return;
                }
                n = gnutls_record_recv(c->tls, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
                if (n == GNUTLS_E_AGAIN)
                        return;
                if (n == GNUTLS_E_INTERRUPTED || (n < 0 && !gnutls_error_is_fatal((int)n)))
                        continue;
                if (n <= 0) {
                        c->failed = true;       /* closed (the timeout) or broken */
                        return;
                }
                c->len += (size_t)n;
                client_parse(c);
        }
}

/* Waits until every client has a response or failed, or the deadline.
 * Returns the milliseconds waited. */
static long clients_wait(struct client *cs, size_t n, long deadline_ms)
{
        struct pollfd *pfd = calloc(n, sizeof(*pfd));
        size_t *idx = calloc(n, sizeof(*idx));
        int64_t start = util_mono_ms();

        assert_non_null(pfd);
        assert_non_null(idx);
        for (size_t i = 0; i < n; i++)
                if (fcntl(cs[i].fd, F_SETFL, fcntl(cs[i].fd, F_GETFL) | O_NONBLOCK) < 0)
                        cs[i].failed = true;
        for (;;) {
                long left = deadline_ms - (long)(util_mono_ms() - start);
                nfds_t np = 0;

                for (size_t i = 0; i < n; i++) {
                        if (cs[i].done || cs[i].failed)
                                continue;
                        pfd[np] = (struct pollfd){ .fd = cs[i].fd, .events = POLLIN };
                        idx[np++] = i;
                }
                if (np == 0 || left <= 0)
                        break;
                if (poll(pfd, np, (int)left) < 0 && errno != EINTR)
                        break;
                for (nfds_t k = 0; k < np; k++)
                        if (pfd[k].revents)
                                client_read(&cs[idx[k]]);
        }
        free(idx);
        free(pfd);
        return (long)(util_mono_ms() - start);
}

/* One keep-alive connection parks the only worker in GET /block; n others
 * send GET /fast meanwhile, all at once, and must all get their 200. */
static void burst_run(size_t n)
{
        struct http_server *s = NULL;
        struct client *cs;
        size_t answered = 0, ok = 0, connected = 0;
        unsigned block_status = 0;
        long waited;
        int r;

        if (fd_limit_ensure((rlim_t)((n + 1) * FDS_PER_CLIENT + FDS_SPARE)) < 0) {
                print_message("too few file descriptors for %zu connections\n", n + 1);
                skip();
        }
        assert_int_equal(server_start(&s), 0);
        cs = calloc(n + 1, sizeof(*cs));
        assert_non_null(cs);
        for (size_t i = 0; i <= n; i++)
                cs[i].fd = -1;
        for (; connected <= n; connected++) {
                r = client_connect(&cs[connected], http_server_port(s));
                if (r < 0) {
                        print_error("connection %zu: %s\n", connected, strerror(-r));
                        break;
                }
        }
        if (connected <= n)
                goto out;
        sleep_ms(SETTLE_MS);            /* the server is idle in its wait */
        /* Connection: close, so that the slow request leaves nothing behind
         * once answered: a TLS connection kept open stays on libmicrohttpd's
         * ready list, its next wait gets a zero timeout, and the stall the
         * test looks for never shows. */
        if (client_send(&cs[0], "/block", false) < 0)
                goto out;
        sleep_ms(SETTLE_MS);            /* the worker is inside the slow handler */
        for (size_t i = 1; i <= n; i++)
                if (client_send(&cs[i], "/fast", true) < 0)
                        goto out;
        waited = clients_wait(cs, n + 1, ANSWER_DEADLINE_MS);
        if (cs[0].done)
                block_status = cs[0].status;
        for (size_t i = 1; i <= n; i++) {
                answered += cs[i].done;
                ok += cs[i].done && cs[i].status == 200;
        }
        print_message("%zu requests during a %d ms handler: %zu answered, %zu with 200, "
                      "waited %ld ms\n", n, BLOCK_MS, answered, ok, waited);
out:
        for (size_t i = 0; i <= n; i++)
                client_close(&cs[i]);
        free(cs);
        http_server_stop(s);
        assert_int_equal(connected, n + 1);
        assert_int_equal(block_status, 200);
        assert_int_equal(answered, n);
        assert_int_equal(ok, n);
}

static void test_burst_128(void **state)
{
        burst_run(128);
}

static void test_burst_256(void **state)
{
        burst_run(256);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_burst_128),
                cmocka_unit_test(test_burst_256),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
