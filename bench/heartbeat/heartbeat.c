/* bench-heartbeat: many simulated devices heartbeating against one vigild.
 *
 * Reads an onboarding package, enrolls N devices through POST /agent/v1/enroll
 * (each with its own ECDSA P-256 key and certificate), then drives C
 * keep-alive mTLS connections that send POST /agent/v1/heartbeat one request
 * at a time. Each connection presents one device's certificate; after K
 * requests it closes and reconnects as the next device, so every device
 * heartbeats during the run. That phase lasts D seconds and until every
 * device has heartbeated at least once (capped by --max-duration). A second
 * heartbeat phase keeps its C connections alive for D seconds, as agents do
 * between heartbeats, so the cost of a request and the cost of a TLS
 * connection can be told apart. Optional baseline phases send GET PATH on C
 * kept-alive connections (same device certificates) so the heartbeat's own
 * cost can be read as a ratio.
 *
 * The client is T threads, each owning C/T non-blocking GnuTLS sessions on
 * one epoll set, so it stays light next to vigild on a small machine. It
 * prints figures and exits 0 whatever they are; it exits 1 only when the
 * benchmark could not run (no server, enrollment refused, a phase in which
 * nothing was answered).
 *
 * With --pid it reads vigild's VmRSS before enrollment, after enrollment
 * (per-device state), at the end of the every-device phase with its
 * connections still open (their growth over enrollment is per-connection
 * state) and again after closing them. It also reads vigild's CPU time
 * (utime + stime) and the machine's around each phase, so a figure taken on a
 * busy machine says so. Loopback servers only. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <inttypes.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "util/strutil.h"

#define DEVICES_DEFAULT 10000
#define DEVICES_MAX 1000000
#define CONNS_DEFAULT 256
#define CONNS_MAX 60000
#define THREADS_DEFAULT 2
#define THREADS_MAX 64
#define DURATION_DEFAULT 10.0
#define PER_CONN_DEFAULT 16
#define ENROLL_CONNS_DEFAULT 8
#define ENROLL_ROUNDS 3                 /* enrollment retries for devices a transport error lost */
#define BASELINES_MAX 4
#define SETTLE_DEFAULT 1.0              /* seconds before reading RSS after closing */

#define OUT_MAX 8192                    /* one request */
#define IN_MAX 16384                    /* one response */
#define EVENTS_MAX 128
#define SWEEP_MS 100
#define REQUEST_TIMEOUT_US (30 * 1000000LL)
#define ERRORS_MAX 1000                 /* transport errors before a phase gives up */
#define ERRORS_SHOWN 5
#define LATENCIES_MAX (64u * 1024 * 1024)

enum phase_kind { PHASE_ENROLL, PHASE_BEAT };

/* What a phase sends and when it stops. */
struct phase {
        enum phase_kind kind;
        const char *title;
        const char *method, *path;
        unsigned expect;                /* the status that counts as success */
        bool body;                      /* send the heartbeat body */
        unsigned n_conns;
        unsigned per_conn;              /* requests per connection; 0: no limit */
        bool park;                      /* leave connections open at the end */
};

struct device {
        char id[40];
        char hash_hex[CRYPTO_FPR_HEX_LEN + 1];  /* the inventory hash it reports */
        gnutls_pcert_st pcert;
        gnutls_privkey_t key;
        bool ready;
        uint8_t seen;                           /* answered in the current phase */
};

enum conn_state { CS_CLOSED, CS_CONNECTING, CS_HANDSHAKE, CS_SEND, CS_RECV, CS_PARKED };

struct worker;

struct conn {
        struct worker *w;
        enum conn_state state;
        int fd;
        gnutls_session_t tls;
        uint32_t events;                /* registered with epoll */
        struct device *dev;             /* identity presented; NULL: none */
        size_t enroll_index;
        char *enroll_key;
        size_t enroll_key_len;
        unsigned n_req;                 /* answered on this connection */
        int64_t t_conn, t_req;          /* microseconds */
        size_t out_len, out_off, in_len;
        char out[OUT_MAX];
        char in[IN_MAX];
};

struct worker {
        struct bench *b;
        pthread_t thread;
        int ep;
        struct conn *conns;
        unsigned n_conns;
        unsigned live;                  /* connections neither closed nor parked */
        uint32_t *lat;                  /* microseconds, one per answered request */
        size_t n_lat, cap_lat;
        uint64_t ok, bad_status, errors, connects, handshake_us;
};

struct cpu_mark {
        double server_s, client_s, machine_s;   /* machine: busy time of all CPUs */
        int64_t t_us;
};

struct phase_result {
        uint64_t answered, ok, bad_status, errors, connects, handshake_us;
        double elapsed_s, covered_s;
        size_t covered;
        double server_cpu_s, client_cpu_s, machine_cpu_s;
        uint32_t p50, p90, p99, max;
};

/* vigild's VmRSS in KiB at the points the memory report compares. */
struct rss {
        long base;              /* before enrollment */
        long enrolled;          /* after enrollment, its connections closed */
        long open;              /* end of the every-device phase, its connections open */
        long closed;            /* those closed, --settle seconds later */
        long hwm;               /* VmHWM then */
        unsigned conns;         /* connections open at 'open' */
};

struct bench {
        /* options */
        const char *package_path;
        size_t n_devices;
        unsigned n_conns, n_threads, per_conn, enroll_conns;
        double duration, max_duration, settle;
        long pid;
        const char *baselines[BASELINES_MAX];
        unsigned n_baselines;
        /* the server */
        char host[256], host_header[300];
        struct sockaddr_storage addr;
        socklen_t addr_len;
        char *token;
        gnutls_certificate_credentials_t cred;
        gnutls_priority_t prio;
        struct device *devs;
        size_t *todo;                   /* enrollment: device indices to enroll */
        size_t n_todo;
        /* the running phase (shared by the workers) */
        const struct phase *ph;
        struct worker *workers;
        size_t next;                    /* atomic: next todo slot or device */
        size_t covered;                 /* atomic */
        int64_t covered_at;             /* atomic */
        uint64_t errors;                /* atomic */
        unsigned shown;                 /* atomic: errors printed */
        int stop;                       /* atomic */
        unsigned done;                  /* atomic: workers finished */
        int64_t t0;
};

static int64_t now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_s(double s)
{
        struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* Prints one of the first few errors of a phase, so a broken run says why
 * without flooding the terminal. */
static void __attribute__((format(printf, 2, 3))) report_error(struct bench *b, const char *fmt, ...)
{
        va_list ap;

        if (__atomic_fetch_add(&b->shown, 1, __ATOMIC_RELAXED) >= ERRORS_SHOWN)
                return;
        va_start(ap, fmt);
        fputs("bench-heartbeat: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
}

/* --- vigild's memory and CPU, from /proc ---------------------------------- */

/* VmRSS (or another "Vm*:" line) of pid in KiB; -1 if unknown. */
static long proc_status_kib(long pid, const char *key)
{
        char path[64], line[256];
        size_t kl = strlen(key);
        long v = -1;
        FILE *f;

        if (pid <= 0)
                return -1;
        snprintf(path, sizeof(path), "/proc/%ld/status", pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
                        v = strtol(line + kl + 1, NULL, 10);
                        break;
                }
        fclose(f);
        return v;
}

/* utime + stime of pid in seconds; -1 if unknown. */
static double proc_cpu_s(long pid)
{
        char path[64], buf[1024], *p;
        unsigned long long ut, st;
        size_t n;
        FILE *f;

        if (pid <= 0)
                return -1;
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        p = strrchr(buf, ')');  /* the command name may hold spaces */
        if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
                return -1;
        return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Busy time of the whole machine (every CPU, every process) in seconds. */
static double machine_busy_s(void)
{
        unsigned long long v[8] = { 0 };
        FILE *f = fopen("/proc/stat", "re");
        int n;

        if (!f)
                return -1;
        n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
                   &v[5], &v[6], &v[7]);
        fclose(f);
        if (n != 8)
                return -1;
        /* user nice system [idle iowait] irq softirq steal */
        return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

static void cpu_mark(const struct bench *b, struct cpu_mark *m)
{
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        m->client_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                      (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        m->server_s = proc_cpu_s(b->pid);
        m->machine_s = machine_busy_s();
        m->t_us = now_us();
}

/* --- the onboarding package and TLS set-up ------------------------------- */

static bool addr_is_loopback(const struct sockaddr_storage *ss)
{
        if (ss->ss_family == AF_INET)
                return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
        if (ss->ss_family == AF_INET6)
                return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
        return false;
}

/* Splits "https://HOST:PORT[/]" and resolves HOST, which must be loopback:
 * this tool enrolls thousands of devices and must not reach a real fleet. */
static int server_url_parse(struct bench *b, const char *url)
{
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
        const char *h, *end, *host, *colon;
        char port[8];
        size_t hl, pl;

        if (strncmp(url, "https://", 8) != 0)
                return -EINVAL;
        h = url + 8;
        end = h + strcspn(h, "/");
        if (h[0] == '[') {
                colon = memchr(h, ']', (size_t)(end - h));
                host = h + 1;
                hl = colon ? (size_t)(colon - host) : 0;
                colon = colon && colon + 1 < end && colon[1] == ':' ? colon + 1 : NULL;
        } else {
                colon = memrchr(h, ':', (size_t)(end - h));
                host = h;
                hl = colon ? (size_t)(colon - h) : 0;
        }
        pl = colon ? (size_t)(end - colon - 1) : 0;
        if (hl == 0 || hl >= sizeof(b->host) || pl == 0 || pl >= sizeof(port))
                return -EINVAL;
        memcpy(b->host, host, hl);
        b->host[hl] = '\0';
        memcpy(port, colon + 1, pl);
        port[pl] = '\0';
        if (getaddrinfo(b->host, port, &hints, &ai) != 0 || !ai)
                return -EHOSTUNREACH;
        memcpy(&b->addr, ai->ai_addr, ai->ai_addrlen);
        b->addr_len = ai->ai_addrlen;
        freeaddrinfo(ai);
        if (!addr_is_loopback(&b->addr))
                return -EPERM;
        snprintf(b->host_header, sizeof(b->host_header), "%.*s", (int)(end - h), h);
        return 0;
}

/* GnuTLS asks which certificate to present: the connection's device, or none. */
static int cert_retrieve(gnutls_session_t s, const gnutls_datum_t *req_ca_rdn, int nreqs,
                         const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                         gnutls_pcert_st **pcert, unsigned int *pcert_length,
                         gnutls_privkey_t *privkey)
{
        const struct conn *c = gnutls_session_get_ptr(s);

        if (!c || !c->dev) {
                *pcert = NULL;
                *pcert_length = 0;
                *privkey = NULL;
                return 0;
        }
        *pcert = (gnutls_pcert_st *)&c->dev->pcert;
        *pcert_length = 1;
        *privkey = c->dev->key;
        return 0;
}

static int package_load(struct bench *b)
{
        const char *url, *ca, *token;
        gnutls_datum_t d;
        json_error_t jerr;
        json_t *j;
        int r;

        j = json_load_file(b->package_path, 0, &jerr);
        if (!j) {
                fprintf(stderr, "bench-heartbeat: cannot read the package '%s': %s\n", b->package_path, jerr.text);
                return -EINVAL;
        }
        if (json_unpack(j, "{s:s,s:s,s:s}", "server_url", &url, "server_ca", &ca,
                        "enrollment_token", &token) < 0) {
                fprintf(stderr, "bench-heartbeat: '%s' is not an onboarding package\n", b->package_path);
                json_decref(j);
                return -EINVAL;
        }
        r = server_url_parse(b, url);
        if (r < 0) {
                fprintf(stderr, "bench-heartbeat: server_url '%s': %s\n", url,
                        r == -EPERM ? "not a loopback address; this benchmark runs on loopback only"
                                    : "not https://HOST:PORT or does not resolve");
                json_decref(j);
                return r;
        }
        b->token = strdup(token);
        d.data = (unsigned char *)ca;
        d.size = (unsigned)strlen(ca);
        r = gnutls_certificate_allocate_credentials(&b->cred);
        if (r == 0 && gnutls_certificate_set_x509_trust_mem(b->cred, &d, GNUTLS_X509_FMT_PEM) < 1)
                r = -1;
        json_decref(j);
        if (r < 0 || !b->token) {
                fprintf(stderr, "bench-heartbeat: the package's server CA does not load\n");
                return -EINVAL;
        }
        gnutls_certificate_set_retrieve_function2(b->cred, cert_retrieve);
        if (gnutls_priority_init(&b->prio, "NORMAL", NULL) < 0)
                return -EINVAL;
        return 0;
}

/* Parses a certificate and its key into the device, ready for handshakes. */
static int device_take_cert(struct device *dev, const char *id, const char *cert,
                            const char *key, size_t key_len)
{
        gnutls_datum_t dc = { (unsigned char *)cert, (unsigned)strlen(cert) };
        gnutls_datum_t dk = { (unsigned char *)key, (unsigned)key_len };
        uint8_t h[CRYPTO_SHA256_LEN];

        if (strlen(id) >= sizeof(dev->id))
                return -EINVAL;
        if (gnutls_pcert_import_x509_raw(&dev->pcert, &dc, GNUTLS_X509_FMT_PEM, 0) < 0)
                return -EBADMSG;
        if (gnutls_privkey_init(&dev->key) < 0 ||
            gnutls_privkey_import_x509_raw(dev->key, &dk, GNUTLS_X509_FMT_PEM, NULL, 0) < 0) {
                gnutls_pcert_deinit(&dev->pcert);
                gnutls_privkey_deinit(dev->key);
                dev->key = NULL;
                return -EBADMSG;
        }
        memcpy(dev->id, id, strlen(id) + 1);
        crypto_sha256(id, strlen(id), h);
        util_hex_encode(h, sizeof(h), dev->hash_hex);
        dev->ready = true;
        return 0;
}

/* --- HTTP ------------------------------------------------------------------ */

/* Parses a whole HTTP/1.1 response with a Content-Length. Returns its length
 * once complete, 0 if more bytes are needed, -EPROTO if it is not one. */
static long http_response_parse(const char *buf, size_t len, unsigned *ret_status,
                                size_t *ret_body_off, size_t *ret_body_len, bool *ret_close)
{
        const char *end = memmem(buf, len, "\r\n\r\n", 4), *line;
        size_t head, clen = SIZE_MAX;
        bool close = false;

        if (!end)
                return 0;
        head = (size_t)(end - buf) + 4;
        if (head < 12 || strncmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
                return -EPROTO;
        *ret_status = (unsigned)strtoul(buf + 9, NULL, 10);
        for (line = memchr(buf, '\n', head); line && line + 1 < end; line = memchr(line + 1, '\n', (size_t)(end - line))) {
                line++;
                if (strncasecmp(line, "content-length:", 15) == 0)
                        clen = strtoul(line + 15, NULL, 10);
                else if (strncasecmp(line, "connection:", 11) == 0)
                        close = strncasecmp(line + 11 + strspn(line + 11, " "), "close", 5) == 0;
        }
        if (clen == SIZE_MAX || clen > IN_MAX)
                return -EPROTO;
        if (len < head + clen)
                return 0;
        *ret_body_off = head;
        *ret_body_len = clen;
        *ret_close = close;
        return (long)(head + clen);
}

static int request_format(struct conn *c, const char *method, const char *path, const char *body,
                          size_t body_len)
{
        const char *host = c->w->b->host_header;
        int n;

        if (body)
                n = snprintf(c->out, sizeof(c->out),
                             "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\n\r\n%.*s",
                             method, path, host, body_len, (int)body_len, body);
        else
                n = snprintf(c->out, sizeof(c->out), "%s %s HTTP/1.1\r\nHost: %s\r\n\r\n", method, path, host);
        if (n < 0 || (size_t)n >= sizeof(c->out))
                return -E2BIG;
        c->out_len = (size_t)n;
        c->out_off = 0;
        return 0;
}

/* The next enrollment: a new key, its CSR, the JSON. Returns 0, 1 when
 * there is nothing left to enroll, or a negative errno. */
static int request_enroll(struct conn *c)
{
        struct bench *b = c->w->b;
        size_t slot = __atomic_fetch_add(&b->next, 1, __ATOMIC_RELAXED), csr_len;
        char name[32], *csr = NULL, *text = NULL;
        json_t *j;
        int r;

        if (slot >= b->n_todo)
                return 1;
        c->enroll_index = b->todo[slot];
        snprintf(name, sizeof(name), "bench-%zu", c->enroll_index);
        r = crypto_key_generate(&c->enroll_key, &c->enroll_key_len);
        if (r == 0)
                r = crypto_csr_create(c->enroll_key, c->enroll_key_len, name, &csr, &csr_len);
        if (r < 0)
                return r;
        j = json_pack("{s:s,s:s,s:s}", "token", b->token, "csr", csr, "name", name);
        text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        r = text ? request_format(c, "POST", "/agent/v1/enroll", text, strlen(text)) : -ENOMEM;
        json_decref(j);
        free(text);
        free(csr);
        return r;
}

static int request_beat(struct conn *c)
{
        const struct phase *ph = c->w->b->ph;
        char body[160];
        int n;

        if (!ph->body)
                return request_format(c, ph->method, ph->path, NULL, 0);
        n = snprintf(body, sizeof(body), "{\"agent_version\":\"bench\",\"inventory_sha256\":\"%s\"}",
                     c->dev->hash_hex);
        return request_format(c, ph->method, ph->path, body, (size_t)n);
}

static void response_enroll(struct conn *c, unsigned status, const char *body, size_t len)
{
        struct bench *b = c->w->b;
        const char *id, *cert;
        json_t *j = NULL;

        if (status != 201 ||
            !(j = json_loadb(body, len, 0, NULL)) ||
            json_unpack(j, "{s:s,s:s}", "device_id", &id, "certificate", &cert) < 0 ||
            device_take_cert(&b->devs[c->enroll_index], id, cert, c->enroll_key, c->enroll_key_len) < 0) {
                c->w->bad_status++;
                report_error(b, "enrollment answered %u: %.*s", status, (int)(len > 300 ? 300 : len), body);
        } else {
                c->w->ok++;
        }
        json_decref(j);
}

static void response_beat(struct conn *c, unsigned status, const char *body, size_t len)
{
        struct bench *b = c->w->b;

        if (status != b->ph->expect) {
                c->w->bad_status++;
                report_error(b, "%s %s answered %u: %.*s", b->ph->method, b->ph->path, status,
                             (int)(len > 300 ? 300 : len), body);
                return;
        }
        c->w->ok++;
        if (__atomic_exchange_n(&c->dev->seen, 1, __ATOMIC_RELAXED) == 0 &&
            __atomic_add_fetch(&b->covered, 1, __ATOMIC_RELAXED) == b->n_devices)
                __atomic_store_n(&b->covered_at, now_us(), __ATOMIC_RELAXED);
}

/* --- connections ------------------------------------------------------------ */

static void conn_want(struct conn *c, uint32_t ev)
{
        struct epoll_event e = { .events = EPOLLIN | ev, .data.ptr = c };

        if (e.events == c->events)
                return;
        if (epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &e) == 0)
                c->events = e.events;
}

static void conn_set_state(struct conn *c, enum conn_state s)
{
        bool was = c->state != CS_CLOSED && c->state != CS_PARKED;
        bool is = s != CS_CLOSED && s != CS_PARKED;

        c->w->live += (unsigned)is - (unsigned)was;
        c->state = s;
}

/* Closes the socket and forgets the session; the slot can open again. */
static void conn_close(struct conn *c)
{
        if (c->tls) {
                if (c->state == CS_PARKED || c->state == CS_SEND || c->state == CS_RECV)
                        gnutls_bye(c->tls, GNUTLS_SHUT_WR);     /* non-blocking: best effort */
                gnutls_deinit(c->tls);
                c->tls = NULL;
        }
        if (c->fd >= 0)
                close(c->fd);   /* also leaves the epoll set */
        c->fd = -1;
        c->events = 0;
        free(c->enroll_key);
        c->enroll_key = NULL;
        conn_set_state(c, CS_CLOSED);
}

/* Starts a connection: as no one for enrollment, else as the next device. */
static int conn_open(struct conn *c)
{
        struct bench *b = c->w->b;
        struct epoll_event e = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
        int one = 1;

        c->dev = NULL;
        if (b->ph->kind == PHASE_BEAT)
                c->dev = &b->devs[__atomic_fetch_add(&b->next, 1, __ATOMIC_RELAXED) % b->n_devices];
        c->fd = socket(b->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
                return -errno;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(c->fd, (const struct sockaddr *)&b->addr, b->addr_len) < 0 && errno != EINPROGRESS)
                return -errno;
        if (gnutls_init(&c->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK) < 0) {
                c->tls = NULL;
                return -ENOMEM;
        }
        gnutls_priority_set(c->tls, b->prio);
        gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, b->cred);
        gnutls_session_set_verify_cert(c->tls, b->host, 0);
        gnutls_session_set_ptr(c->tls, c);
        gnutls_transport_set_int(c->tls, c->fd);
        if (epoll_ctl(c->w->ep, EPOLL_CTL_ADD, c->fd, &e) < 0)
                return -errno;
        c->events = e.events;
        c->n_req = 0;
        c->t_conn = now_us();
        conn_set_state(c, CS_CONNECTING);
        return 0;
}

static void conn_fail(struct conn *c, const char *what, const char *why)
{
        struct bench *b = c->w->b;

        c->w->errors++;
        report_error(b, "%s: %s", what, why);
        if (__atomic_add_fetch(&b->errors, 1, __ATOMIC_RELAXED) >= ERRORS_MAX &&
            !__atomic_exchange_n(&b->stop, 1, __ATOMIC_RELAXED))
                fprintf(stderr, "bench-heartbeat: %d transport errors; stopping the phase\n", ERRORS_MAX);
        conn_close(c);
}

/* Opens the slot again unless the phase is stopping. */
static void conn_reopen(struct conn *c)
{
        int r;

        if (__atomic_load_n(&c->w->b->stop, __ATOMIC_RELAXED))
                return;
        r = conn_open(c);
        if (r < 0)
                conn_fail(c, "connect", strerror(-r));
}

/* After a handshake or an answer: the next request, or park, recycle, close. */
static int conn_next_request(struct conn *c)
{
        struct bench *b = c->w->b;
        int r;

        if (__atomic_load_n(&b->stop, __ATOMIC_RELAXED)) {
                if (b->ph->park)
                        conn_set_state(c, CS_PARKED);
                else
                        conn_close(c);
                return 0;
        }
        if (b->ph->per_conn && c->n_req >= b->ph->per_conn) {
                conn_close(c);
                conn_reopen(c);
                return 0;
        }
        r = b->ph->kind == PHASE_ENROLL ? request_enroll(c) : request_beat(c);
        if (r == 1) {
                conn_close(c);
                return 0;
        }
        if (r < 0) {
                conn_fail(c, "cannot build a request", strerror(-r));
                conn_reopen(c);
                return 0;
        }
        c->t_req = now_us();
        conn_set_state(c, CS_SEND);
        return 1;
}

static void latency_add(struct worker *w, int64_t us)
{
        if (w->n_lat == w->cap_lat) {
                size_t cap = w->cap_lat ? w->cap_lat * 2 : 65536;
                uint32_t *p = cap <= LATENCIES_MAX ? realloc(w->lat, cap * sizeof(*p)) : NULL;
                if (!p)
                        return;         /* past the cap: counted, not kept */
                w->lat = p;
                w->cap_lat = cap;
        }
        w->lat[w->n_lat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* Handles one whole response in c->in. Returns 1 to go on, 0 to wait. */
static int conn_answered(struct conn *c, long n, unsigned status, size_t off, size_t len, bool close)
{
        struct bench *b = c->w->b;

        latency_add(c->w, now_us() - c->t_req);
        c->n_req++;
        c->in[off + len] = '\0';
        if (b->ph->kind == PHASE_ENROLL)
                response_enroll(c, status, c->in + off, len);
        else
                response_beat(c, status, c->in + off, len);
        free(c->enroll_key);
        c->enroll_key = NULL;
        if ((size_t)n != c->in_len) {
                conn_fail(c, "response", "bytes after the response");
                conn_reopen(c);
                return 0;
        }
        if (close) {
                conn_close(c);
                conn_reopen(c);
                return 0;
        }
        return conn_next_request(c);
}

/* One step of the state machine. Returns 1 when it moved on, 0 when it must
 * wait for the socket, -1 when it failed (the connection is closed). */
static int conn_step(struct conn *c, uint32_t events)
{
        unsigned status = 0;
        size_t off, len;
        bool close;
        long n;
        int r, err = 0;
        socklen_t el = sizeof(err);

        switch (c->state) {
        case CS_CONNECTING:
                if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
                        return 0;
                if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
                        conn_fail(c, "connect", strerror(err ? err : errno));
                        return -1;
                }
                conn_set_state(c, CS_HANDSHAKE);
                return 1;
        case CS_HANDSHAKE:
                r = gnutls_handshake(c->tls);
                if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
                        conn_want(c, gnutls_record_get_direction(c->tls) ? EPOLLOUT : 0);
                        return 0;
                }
                if (r < 0) {
                        conn_fail(c, "TLS handshake", gnutls_strerror(r));
                        return -1;
                }
                c->w->connects++;
                c->w->handshake_us += (uint64_t)(now_us() - c->t_conn);
                conn_want(c, 0);
                return conn_next_request(c);
        case CS_SEND:
                r = (int)gnutls_record_send(c->tls, c->out + c->out_off, c->out_len - c->out_off);
                if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
                        conn_want(c, EPOLLOUT);
                        return 0;
                }
                if (r < 0) {
                        conn_fail(c, "send", gnutls_strerror(r));
                        return -1;
                }
                c->out_off += (size_t)r;
                if (c->out_off < c->out_len)
                        return 1;
                conn_want(c, 0);
                c->in_len = 0;
                conn_set_state(c, CS_RECV);
                return 1;
        case CS_RECV:
                r = (int)gnutls_record_recv(c->tls, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len);
                if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
                        return 0;
                if (r <= 0) {
                        conn_fail(c, "receive", r == 0 ? "the server closed the connection" : gnutls_strerror(r));
                        return -1;
                }
                c->in_len += (size_t)r;
                n = http_response_parse(c->in, c->in_len, &status, &off, &len, &close);
                if (n < 0 || (n == 0 && c->in_len == sizeof(c->in) - 1)) {
                        conn_fail(c, "receive", "not an HTTP response, or too large");
                        return -1;
                }
                if (n == 0)
                        return 1;
                return conn_answered(c, n, status, off, len, close);
        default:
                return 0;
        }
}

static void conn_run(struct conn *c, uint32_t events)
{
        int r;

        do {
                r = conn_step(c, events);
                events = 0;
        } while (r > 0);
        if (r < 0)
                conn_reopen(c);
}

/* Fails requests and handshakes that have waited too long. */
static void worker_sweep(struct worker *w)
{
        int64_t t = now_us();

        for (unsigned i = 0; i < w->n_conns; i++) {
                struct conn *c = &w->conns[i];
                int64_t since = c->state == CS_CONNECTING || c->state == CS_HANDSHAKE ? c->t_conn : c->t_req;
                if (c->state == CS_CLOSED || c->state == CS_PARKED || t - since < REQUEST_TIMEOUT_US)
                        continue;
                conn_fail(c, "timeout", "no answer within 30 s");
                conn_reopen(c);
        }
}

static void *worker_run(void *arg)
{
        struct worker *w = arg;
        struct epoll_event evs[EVENTS_MAX];
        int64_t last_sweep = now_us();

        for (unsigned i = 0; i < w->n_conns; i++)
                conn_reopen(&w->conns[i]);
        while (w->live > 0) {
                int n = epoll_wait(w->ep, evs, EVENTS_MAX, SWEEP_MS);
                for (int i = 0; i < n; i++)
                        conn_run(evs[i].data.ptr, evs[i].events);
                if (now_us() - last_sweep >= SWEEP_MS * 1000) {
                        worker_sweep(w);
                        last_sweep = now_us();
                }
        }
        __atomic_add_fetch(&w->b->done, 1, __ATOMIC_RELEASE);
        return NULL;
}

/* --- phases -------------------------------------------------------------- */

static int workers_create(struct bench *b)
{
        unsigned per = (b->n_conns > b->enroll_conns ? b->n_conns : b->enroll_conns);

        b->workers = calloc(b->n_threads, sizeof(*b->workers));
        if (!b->workers)
                return -ENOMEM;
        for (unsigned t = 0; t < b->n_threads; t++) {
                struct worker *w = &b->workers[t];
                w->b = b;
                w->ep = epoll_create1(EPOLL_CLOEXEC);
                w->conns = calloc(per / b->n_threads + 1, sizeof(*w->conns));
                if (w->ep < 0 || !w->conns)
                        return -ENOMEM;
                for (unsigned i = 0; i < per / b->n_threads + 1; i++) {
                        w->conns[i].w = w;
                        w->conns[i].fd = -1;
                }
        }
        return 0;
}

/* How many connections a phase left parked (open and idle). */
static unsigned workers_parked(const struct bench *b)
{
        unsigned n = 0;

        for (unsigned t = 0; t < b->n_threads; t++)
                for (unsigned i = 0; i < b->workers[t].n_conns; i++)
                        n += b->workers[t].conns[i].state == CS_PARKED;
        return n;
}

/* Closes the connections a phase left parked. */
static void workers_close(struct bench *b)
{
        for (unsigned t = 0; t < b->n_threads; t++)
                for (unsigned i = 0; i < b->workers[t].n_conns; i++)
                        if (b->workers[t].conns[i].state == CS_PARKED)
                                conn_close(&b->workers[t].conns[i]);
}

static int lat_cmp(const void *a, const void *b)
{
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

        return (x > y) - (x < y);
}

/* Sums the workers' counters and sorts their latencies into percentiles. */
static void phase_collect(struct bench *b, struct phase_result *res)
{
        size_t n = 0, k = 0;
        uint32_t *all;

        for (unsigned t = 0; t < b->n_threads; t++) {
                struct worker *w = &b->workers[t];
                res->ok += w->ok;
                res->bad_status += w->bad_status;
                res->errors += w->errors;
                res->connects += w->connects;
                res->handshake_us += w->handshake_us;
                n += w->n_lat;
        }
        res->answered = res->ok + res->bad_status;
        all = malloc((n ? n : 1) * sizeof(*all));
        for (unsigned t = 0; all && t < b->n_threads; t++) {
                memcpy(all + k, b->workers[t].lat, b->workers[t].n_lat * sizeof(*all));
                k += b->workers[t].n_lat;
        }
        if (all && n) {
                qsort(all, n, sizeof(*all), lat_cmp);
                res->p50 = all[(n - 1) * 50 / 100];
                res->p90 = all[(n - 1) * 90 / 100];
                res->p99 = all[(n - 1) * 99 / 100];
                res->max = all[n - 1];
        }
        free(all);
}

/* Runs one phase to its end and fills res. Enrollment ends when the work
 * does; the others after the duration, and when they cycle through the
 * devices, not before every device answered (up to --max-duration). */
static int phase_run(struct bench *b, const struct phase *ph, struct phase_result *res)
{
        struct cpu_mark m0, m1;
        int64_t t_end, deadline = (int64_t)(b->duration * 1e6), cap = (int64_t)(b->max_duration * 1e6);

        memset(res, 0, sizeof(*res));
        b->ph = ph;
        b->next = 0;
        b->covered = 0;
        b->covered_at = 0;
        b->errors = 0;
        b->shown = 0;
        b->stop = 0;
        b->done = 0;
        for (size_t i = 0; i < b->n_devices; i++)
                b->devs[i].seen = 0;
        cpu_mark(b, &m0);
        b->t0 = m0.t_us;
        for (unsigned t = 0; t < b->n_threads; t++) {
                struct worker *w = &b->workers[t];
                w->n_conns = ph->n_conns / b->n_threads + (t < ph->n_conns % b->n_threads);
                w->ok = w->bad_status = w->errors = w->connects = w->handshake_us = 0;
                w->n_lat = 0;
                w->live = 0;
                if (pthread_create(&w->thread, NULL, worker_run, w) != 0)
                        return -EAGAIN;
        }
        while (__atomic_load_n(&b->done, __ATOMIC_ACQUIRE) < b->n_threads) {
                int64_t el = now_us() - b->t0;
                sleep_s(0.02);
                if (ph->kind == PHASE_BEAT && !__atomic_load_n(&b->stop, __ATOMIC_RELAXED) &&
                    ((el >= deadline && (!ph->per_conn ||
                                         __atomic_load_n(&b->covered, __ATOMIC_RELAXED) >= b->n_devices)) ||
                     el >= cap))
                        __atomic_store_n(&b->stop, 1, __ATOMIC_RELAXED);
        }
        for (unsigned t = 0; t < b->n_threads; t++)
                pthread_join(b->workers[t].thread, NULL);
        t_end = now_us();
        cpu_mark(b, &m1);
        phase_collect(b, res);
        res->elapsed_s = (double)(t_end - b->t0) / 1e6;
        res->covered = b->covered;
        res->covered_s = b->covered_at ? (double)(b->covered_at - b->t0) / 1e6 : -1;
        res->server_cpu_s = m0.server_s >= 0 && m1.server_s >= 0 ? m1.server_s - m0.server_s : -1;
        res->client_cpu_s = m1.client_s - m0.client_s;
        res->machine_cpu_s = m0.machine_s >= 0 && m1.machine_s >= 0 ? m1.machine_s - m0.machine_s : -1;
        return 0;
}

/* Enrolls every device, retrying those a transport error lost. */
static int enroll_all(struct bench *b, struct phase_result *res)
{
        struct phase ph = {
                .kind = PHASE_ENROLL, .title = "enrollment", .method = "POST", .path = "/agent/v1/enroll",
                .expect = 201, .n_conns = b->enroll_conns,
        };
        struct phase_result r;
        size_t ready = 0;

        memset(res, 0, sizeof(*res));
        for (int round = 0; round < ENROLL_ROUNDS; round++) {
                b->n_todo = 0;
                for (size_t i = 0; i < b->n_devices; i++)
                        if (!b->devs[i].ready)
                                b->todo[b->n_todo++] = i;
                if (b->n_todo == 0)
                        break;
                if (phase_run(b, &ph, &r) < 0)
                        return -EAGAIN;
                res->ok += r.ok;
                res->bad_status += r.bad_status;
                res->errors += r.errors;
                res->connects += r.connects;
                res->elapsed_s += r.elapsed_s;
                res->server_cpu_s += r.server_cpu_s;
                res->client_cpu_s += r.client_cpu_s;
                res->p50 = r.p50;
                res->p99 = r.p99;
                res->max = r.max > res->max ? r.max : res->max;
                if (r.bad_status)
                        break;  /* the server refuses: retrying will not help */
        }
        for (size_t i = 0; i < b->n_devices; i++)
                ready += b->devs[i].ready;
        return ready == b->n_devices ? 0 : -EACCES;
}

/* --- the report ---------------------------------------------------------- */

/* A phase in which nothing was answered measured nothing: say so and fail. */
static int phase_check(const struct bench *b, const struct phase *ph, const struct phase_result *r)
{
        if (r->ok)
                return 0;
        fprintf(stderr, "bench-heartbeat: %s: no request answered as expected (%" PRIu64 " transport errors)%s\n",
                ph->title, r->errors,
                b->pid > 0 && proc_status_kib(b->pid, "VmRSS") < 0 ? "; vigild is gone" : "");
        return -EIO;
}

static double ms(uint32_t us)
{
        return (double)us / 1000.0;
}

static void print_phase(const struct bench *b, const struct phase *ph, const struct phase_result *r)
{
        double rate = r->elapsed_s > 0 ? (double)r->ok / r->elapsed_s : 0;

        printf("\n== %s: %s %s, %u connections, ", ph->title, ph->method, ph->path, ph->n_conns);
        if (ph->per_conn)
                printf("%u requests per connection then the next device ==\n", ph->per_conn);
        else
                printf("kept alive ==\n");
        if (ph->per_conn) {
                printf("devices                  %zu answered of %zu", r->covered, b->n_devices);
                if (r->covered_s >= 0)
                        printf(" (all by %.2f s)\n", r->covered_s);
                else
                        printf(" (NOT all within the run)\n");
        } else {
                printf("devices                  %zu (one per connection)\n", r->covered);
        }
        printf("requests                 %" PRIu64 " answered in %.2f s, %" PRIu64 " as expected (%u)\n",
               r->answered, r->elapsed_s, r->ok, ph->expect);
        printf("throughput               %.0f /s\n", rate);
        printf("latency ms               p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", ms(r->p50), ms(r->p90),
               ms(r->p99), ms(r->max));
        printf("errors                   %" PRIu64 " unexpected status, %" PRIu64 " transport\n",
               r->bad_status, r->errors);
        printf("TLS connections          %" PRIu64 " (%.0f /s), mean handshake %.2f ms\n", r->connects,
               r->elapsed_s > 0 ? (double)r->connects / r->elapsed_s : 0,
               r->connects ? (double)r->handshake_us / (double)r->connects / 1000.0 : 0);
        if (r->server_cpu_s >= 0)
                printf("vigild CPU               %.2f cores, %.0f us per request\n", r->server_cpu_s / r->elapsed_s,
                       r->answered ? r->server_cpu_s * 1e6 / (double)r->answered : 0);
        printf("bench CPU                %.2f cores, %.0f us per request\n", r->client_cpu_s / r->elapsed_s,
               r->answered ? r->client_cpu_s * 1e6 / (double)r->answered : 0);
        if (r->machine_cpu_s >= 0 && r->server_cpu_s >= 0)
                printf("machine CPU              %.2f of %ld cores busy; other processes %.2f cores\n",
                       r->machine_cpu_s / r->elapsed_s, sysconf(_SC_NPROCESSORS_ONLN),
                       (r->machine_cpu_s - r->server_cpu_s - r->client_cpu_s) / r->elapsed_s);
}

/* Splits vigild's CPU into a cost per request and a cost per new TLS
 * connection, from two phases with different mixes of the two:
 * cpu = per_req * requests + per_conn * connections, solved for both. */
static void print_connection_cost(const struct phase_result *cyc, const struct phase_result *ka)
{
        double a1 = (double)cyc->answered, c1 = (double)cyc->connects, a2 = (double)ka->answered,
               c2 = (double)ka->connects, det = a1 * c2 - a2 * c1, per_req, per_conn;

        if (cyc->server_cpu_s < 0 || ka->server_cpu_s < 0 || det == 0 || c1 < 2 * c2 * a1 / a2)
                return;         /* the two phases do not differ enough in their mix */
        per_req = (cyc->server_cpu_s * c2 - ka->server_cpu_s * c1) / det;
        per_conn = (a1 * ka->server_cpu_s - a2 * cyc->server_cpu_s) / det;
        printf("\nvigild CPU split        %.0f us per heartbeat, %.0f us per new TLS connection\n"
               "                         (solved from the two heartbeat phases above)\n",
               per_req * 1e6, per_conn * 1e6);
}

static void print_memory(const struct bench *b, const struct rss *m)
{
        double dev, dev_all, conn;

        if (m->base < 0 || m->enrolled < 0 || m->open < 0 || m->closed < 0) {
                printf("\n== memory: not measured (no --pid) ==\n");
                return;
        }
        dev = (double)(m->enrolled - m->base) * 1024.0 / (double)b->n_devices;
        dev_all = (double)(m->open - m->base) * 1024.0 / (double)b->n_devices;
        conn = m->conns ? (double)(m->open - m->enrolled) / (double)m->conns : 0;
        printf("\n== memory: vigild pid %ld, VmRSS ==\n", b->pid);
        printf("before enrollment        %7ld KiB\n", m->base);
        printf("after enrollment         %7ld KiB  %+7ld KiB\n", m->enrolled, m->enrolled - m->base);
        printf("heartbeats, %5u open   %7ld KiB  %+7ld KiB\n", m->conns, m->open, m->open - m->base);
        printf("all closed, %.1f s later %7ld KiB  %+7ld KiB  (peak VmHWM %ld KiB)\n", b->settle, m->closed,
               m->closed - m->base, m->hwm);
        printf("per device, all in       %.0f bytes = %.1f MiB per 10,000 devices (enrollment + heartbeats,\n"
               "                         connections open, divided by %zu devices)\n",
               dev_all, dev_all * 10000.0 / 1048576.0, b->n_devices);
        printf("per device, state        %.0f bytes = %.1f MiB per 10,000 devices (after enrollment,\n"
               "                         its connections closed)\n", dev, dev * 10000.0 / 1048576.0);
        printf("per open connection      %.1f KiB = %.0f MiB per 10,000 connections (heartbeat growth over\n"
               "                         enrollment, divided by the %u open connections)\n",
               conn, conn * 10000.0 / 1024.0, m->conns);
        printf("freed on close           %ld KiB of %ld KiB grown with the connections\n", m->open - m->closed,
               m->open - m->enrolled);
}

static void print_enrollment(const struct bench *b, const struct phase_result *r)
{
        printf("\n== enrollment: POST /agent/v1/enroll, %u connections ==\n", b->enroll_conns);
        printf("devices enrolled         %" PRIu64 " in %.2f s (%.0f /s), %" PRIu64 " transport errors retried\n",
               r->ok, r->elapsed_s, (double)r->ok / r->elapsed_s, r->errors);
        printf("latency ms               p50 %.2f  p99 %.2f  max %.2f\n", ms(r->p50), ms(r->p99), ms(r->max));
        if (r->server_cpu_s >= 0)
                printf("vigild CPU               %.0f us per enrollment\n", r->server_cpu_s * 1e6 / (double)r->ok);
}

/* --- main ---------------------------------------------------------------- */

static void usage(FILE *f)
{
        fputs("usage: bench-heartbeat --package FILE [--devices N] [--connections C] [--threads T]\n"
              "                       [--duration D] [--max-duration S] [--per-conn K]\n"
              "                       [--enroll-conns E] [--pid PID] [--settle S]\n"
              "                       [--baseline PATH[=STATUS]]...\n"
              "Enrolls N devices (default 10000) over E connections (default 8), then:\n"
              "  every device: C mTLS connections (default 256), each presenting one device\n"
              "    for K heartbeats (default 16) then reconnecting as the next device, for D\n"
              "    seconds (default 10) and until every device has heartbeated (at most S\n"
              "    seconds, default 12*D);\n"
              "  kept alive: the same C connections never closed, for D seconds;\n"
              "  baselines: GET PATH on C kept-alive connections for D seconds, expecting\n"
              "    STATUS (default 200).\n"
              "--pid: vigild's pid, for its memory (VmRSS) and CPU time. T threads (default 2).\n", f);
}

static int opt_uint(const char *name, const char *v, uint64_t min, uint64_t max, uint64_t *ret)
{
        if (util_uint_parse(v, max, ret) < 0 || *ret < min) {
                fprintf(stderr, "bench-heartbeat: --%s must be an integer from %" PRIu64 " to %" PRIu64 "\n",
                        name, min, max);
                return -EINVAL;
        }
        return 0;
}

static int opt_seconds(const char *name, const char *v, double *ret)
{
        char *end;

        errno = 0;
        *ret = strtod(v, &end);
        if (errno || *end || !(*ret > 0) || *ret > 86400) {
                fprintf(stderr, "bench-heartbeat: --%s must be a number of seconds\n", name);
                return -EINVAL;
        }
        return 0;
}

/* Splits "PATH[=STATUS]" into a phase. Returns 0 or -EINVAL. */
static int baseline_phase(const struct bench *b, const char *spec, struct phase *ph, char *path, size_t size)
{
        const char *eq = strchr(spec, '=');
        size_t n = eq ? (size_t)(eq - spec) : strlen(spec);
        uint64_t status = 200;

        if (n >= size || (eq && (util_uint_parse(eq + 1, 599, &status) < 0 || status < 100)))
                return -EINVAL;
        memcpy(path, spec, n);
        path[n] = '\0';
        *ph = (struct phase){ .kind = PHASE_BEAT, .title = "baseline", .method = "GET", .path = path,
                              .expect = (unsigned)status, .n_conns = b->n_conns, .park = true };
        return 0;
}

static int options_parse(struct bench *b, int argc, char **argv)
{
        static const struct option opts[] = {
                { "package", required_argument, NULL, 'p' },
                { "devices", required_argument, NULL, 'n' },
                { "connections", required_argument, NULL, 'c' },
                { "threads", required_argument, NULL, 't' },
                { "duration", required_argument, NULL, 'd' },
                { "max-duration", required_argument, NULL, 'M' },
                { "per-conn", required_argument, NULL, 'k' },
                { "enroll-conns", required_argument, NULL, 'e' },
                { "pid", required_argument, NULL, 'P' },
                { "settle", required_argument, NULL, 's' },
                { "baseline", required_argument, NULL, 'B' },
                { "help", no_argument, NULL, 'h' },
                { 0 },
        };
        uint64_t x;
        int c, r = 0;

        while (r == 0 && (c = getopt_long(argc, argv, "p:n:c:t:d:k:h", opts, NULL)) != -1) {
                switch (c) {
                case 'p': b->package_path = optarg; break;
                case 'n': r = opt_uint("devices", optarg, 1, DEVICES_MAX, &x); b->n_devices = x; break;
                case 'c': r = opt_uint("connections", optarg, 1, CONNS_MAX, &x); b->n_conns = (unsigned)x; break;
                case 't': r = opt_uint("threads", optarg, 1, THREADS_MAX, &x); b->n_threads = (unsigned)x; break;
                case 'k': r = opt_uint("per-conn", optarg, 0, UINT32_MAX, &x); b->per_conn = (unsigned)x; break;
                case 'e': r = opt_uint("enroll-conns", optarg, 1, 1024, &x); b->enroll_conns = (unsigned)x; break;
                case 'P': r = opt_uint("pid", optarg, 1, INT32_MAX, &x); b->pid = (long)x; break;
                case 'd': r = opt_seconds("duration", optarg, &b->duration); break;
                case 'M': r = opt_seconds("max-duration", optarg, &b->max_duration); break;
                case 's': r = opt_seconds("settle", optarg, &b->settle); break;
                case 'B':
                        if (b->n_baselines >= BASELINES_MAX || optarg[0] != '/') {
                                fprintf(stderr, "bench-heartbeat: at most %d --baseline paths, each starting with '/'\n",
                                        BASELINES_MAX);
                                return -EINVAL;
                        }
                        b->baselines[b->n_baselines++] = optarg;
                        break;
                case 'h': usage(stdout); exit(0);
                default: usage(stderr); return -EINVAL;
                }
        }
        if (r == 0 && (!b->package_path || optind != argc)) {
                usage(stderr);
                r = -EINVAL;
        }
        for (unsigned i = 0; r == 0 && i < b->n_baselines; i++) {
                struct phase ph;
                char path[256];
                if (baseline_phase(b, b->baselines[i], &ph, path, sizeof(path)) < 0) {
                        fprintf(stderr, "bench-heartbeat: --baseline wants PATH[=STATUS], not '%s'\n",
                                b->baselines[i]);
                        r = -EINVAL;
                }
        }
        if (!b->max_duration)
                b->max_duration = 12 * b->duration;
        if (b->max_duration < b->duration)
                b->max_duration = b->duration;
        if (b->n_threads > b->n_conns)
                b->n_threads = b->n_conns;
        return r;
}

/* Runs a baseline phase (kept-alive connections) and prints it with the
 * kept-alive heartbeat's ratio to it. Returns 0 or a negative errno. */
static int baseline_run(struct bench *b, const char *spec, const struct phase_result *hb)
{
        struct phase_result r;
        struct phase ph;
        char path[256];

        if (baseline_phase(b, spec, &ph, path, sizeof(path)) < 0) {
                fprintf(stderr, "bench-heartbeat: bad --baseline '%s'\n", spec);
                return -EINVAL;
        }
        if (phase_run(b, &ph, &r) < 0)
                return -EAGAIN;
        workers_close(b);
        print_phase(b, &ph, &r);
        if (r.ok && r.elapsed_s > 0 && hb->elapsed_s > 0 && r.p50 && r.p99)
                printf("heartbeat / this         throughput %.2f, p50 latency %.2f, p99 latency %.2f, "
                       "vigild CPU per request %.2f\n",
                       ((double)hb->ok / hb->elapsed_s) / ((double)r.ok / r.elapsed_s),
                       (double)hb->p50 / (double)r.p50, (double)hb->p99 / (double)r.p99,
                       hb->server_cpu_s >= 0 && r.server_cpu_s > 0 ?
                       (hb->server_cpu_s / (double)hb->answered) / (r.server_cpu_s / (double)r.answered) : 0);
        return phase_check(b, &ph, &r);
}

/* The every-device heartbeat phase, with vigild's memory read while its
 * connections are open and again after they are closed. */
static int beat_measured(struct bench *b, const struct phase *ph, struct phase_result *res, struct rss *m)
{
        if (phase_run(b, ph, res) < 0 || phase_check(b, ph, res) < 0)
                return -EIO;
        m->open = proc_status_kib(b->pid, "VmRSS");
        m->conns = workers_parked(b);
        workers_close(b);
        sleep_s(b->settle);
        m->closed = proc_status_kib(b->pid, "VmRSS");
        m->hwm = proc_status_kib(b->pid, "VmHWM");
        return 0;
}

int main(int argc, char **argv)
{
        struct bench b = {
                .n_devices = DEVICES_DEFAULT, .n_conns = CONNS_DEFAULT, .n_threads = THREADS_DEFAULT,
                .per_conn = PER_CONN_DEFAULT, .enroll_conns = ENROLL_CONNS_DEFAULT,
                .duration = DURATION_DEFAULT, .settle = SETTLE_DEFAULT,
        };
        struct phase cycle = { .kind = PHASE_BEAT, .title = "heartbeat, every device", .method = "POST",
                               .path = "/agent/v1/heartbeat", .expect = 200, .body = true, .park = true };
        struct phase steady = cycle;
        struct phase_result enr, hb, ka;
        struct rss m;

        if (options_parse(&b, argc, argv) < 0)
                return 2;
        signal(SIGPIPE, SIG_IGN);      /* a server gone mid-write is an error to count, not a death */
        cycle.n_conns = steady.n_conns = b.n_conns;
        cycle.per_conn = b.per_conn;
        if (!cycle.per_conn)
                cycle.title = "heartbeat, kept alive (--per-conn 0)";
        steady.title = "heartbeat, kept alive";
        steady.per_conn = 0;
        if (package_load(&b) < 0)
                return 1;
        b.devs = calloc(b.n_devices, sizeof(*b.devs));
        b.todo = calloc(b.n_devices, sizeof(*b.todo));
        if (!b.devs || !b.todo || workers_create(&b) < 0) {
                fprintf(stderr, "bench-heartbeat: out of memory\n");
                return 1;
        }
        printf("bench-heartbeat: %zu devices, %u connections, %u threads, server %s\n",
               b.n_devices, b.n_conns, b.n_threads, b.host_header);
        m.base = proc_status_kib(b.pid, "VmRSS");
        if (enroll_all(&b, &enr) < 0) {
                fprintf(stderr, "bench-heartbeat: %" PRIu64 " of %zu devices enrolled; stopping\n", enr.ok,
                        b.n_devices);
                return 1;
        }
        print_enrollment(&b, &enr);
        fflush(stdout);
        sleep_s(b.settle);
        m.enrolled = proc_status_kib(b.pid, "VmRSS");

        if (beat_measured(&b, &cycle, &hb, &m) < 0)
                return 1;
        print_phase(&b, &cycle, &hb);
        print_memory(&b, &m);
        fflush(stdout);

        if (phase_run(&b, &steady, &ka) < 0 || phase_check(&b, &steady, &ka) < 0)
                return 1;
        workers_close(&b);
        print_phase(&b, &steady, &ka);
        print_connection_cost(&hb, &ka);
        fflush(stdout);

        for (unsigned i = 0; i < b.n_baselines; i++) {
                if (baseline_run(&b, b.baselines[i], &ka) < 0)
                        return 1;
                fflush(stdout);
        }
        return 0;
}
