/* Integration: the decision endpoint itself against a real vigild, asked
 * over raw keep-alive connections the way a proxy asks (several questions
 * per connection; every answer's exact status line and Content-Length: 0
 * checked with its X-Vigil-Reason, -Device, -User and -Policy):
 * no policy; device identity by serial, fingerprint and escaped PEM, and
 * what identifies no device (a failed verification, a made-up serial, a
 * certificate of another CA); compliance and offboarding seen by the very
 * next request (latencies printed); policy changes in effect when the API
 * answers; users from a trusted header, their groups, directory changes
 * (latencies printed) and disabled users; bearer JWTs signed here; report-only
 * policies and the access log with its filters; what-if against the live
 * answers; malformed questions, path normalization and repeated identity
 * headers; a restart; four threads asking while policies and compliance
 * change. Then, each on a vigild of its own: the proxy secret and the
 * connection limit; the unix socket listener, and addresses vigild refuses
 * to listen on; a peer not on loopback, refused without a secret. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "crypto/crypto.h"
#include "tests/common/jwt-sign.h"
#include "tests/integration/harness.h"
#include "util/strutil.h"

#define ISS "https://idp.example.test/realms/corp"
#define AUD "vigil-access"
#define SECRET "0123456789abcdef0123456789abcdef"
#define POLL_LIMIT_MS 2000

/* ---- a raw client of the decision endpoint ---- */

struct conn {
        int fd;
        size_t len;                     /* bytes read past the answers taken */
        unsigned asked;                 /* questions answered on this connection */
        char buf[16384];
};

struct answer {
        char line[64];                  /* the status line */
        int status;
        bool has_reason, has_device, has_user, has_policy;
        char reason[1100], device[64], user[300], policy[200];
};

static int64_t mono_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
        nanosleep(&(struct timespec){ .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L }, NULL);
}

/* Connects to 127.0.0.1:port, or to the unix socket path when it is not
 * NULL. Returns 0 or -errno. */
static int conn_open(struct conn *c, unsigned port, const char *path)
{
        memset(c, 0, sizeof(*c));
        if (path) {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
                c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                        goto fail;
        } else {
                struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
                sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                        goto fail;
        }
        return 0;
fail:
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        return -errno;
}

static void conn_close(struct conn *c)
{
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
}

/* A header's value in the head (name with ": " after it, at a line start). */
static bool head_value(const char *head, const char *name, char *out, size_t size)
{
        size_t n = strlen(name);

        for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n"))
                if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':' && p[3 + n] == ' ') {
                        const char *v = p + 4 + n, *e = strstr(v, "\r\n");
                        snprintf(out, size, "%.*s", (int)(e - v), v);
                        return true;
                }
        return false;
}

/* Sends one question (a whole request head) and reads its answer. The
 * answer must be a 200, 401 or 403 with the exact status line, exactly one
 * Content-Length: 0 and nothing after the head. Returns 0, or -1 with why
 * in err (threads use it: no cmocka here). */
static int conn_ask(struct conn *c, const char *request, struct answer *a, char *err, size_t err_size)
{
        size_t n = strlen(request), off = 0;
        char head[8192], cl[32];
        const char *end;

        memset(a, 0, sizeof(*a));
        while (off < n) {
                ssize_t k = send(c->fd, request + off, n - off, MSG_NOSIGNAL);
                if (k < 0) {
                        snprintf(err, err_size, "send after %u answers: %s", c->asked, strerror(errno));
                        return -1;
                }
                off += (size_t)k;
        }
        while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4))) {
                struct pollfd p = { .fd = c->fd, .events = POLLIN };
                ssize_t k;
                if (c->len == sizeof(c->buf) || poll(&p, 1, 5000) != 1) {
                        snprintf(err, err_size, "no whole answer within 5 s after %u answers", c->asked);
                        return -1;
                }
                k = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
                if (k <= 0) {
                        snprintf(err, err_size, "the endpoint closed the connection after %u answers: %s", c->asked,
                                 k < 0 ? strerror(errno) : "end of stream");
                        return -1;
                }
                c->len += (size_t)k;
        }
        n = (size_t)(end - c->buf) + 4;
        if (n >= sizeof(head)) {
                snprintf(err, err_size, "answer head of %zu bytes", n);
                return -1;
        }
        memcpy(head, c->buf, n);
        head[n] = '\0';
        memmove(c->buf, c->buf + n, c->len - n);
        c->len -= n;
        c->asked++;
        snprintf(a->line, sizeof(a->line), "%.*s", (int)(strstr(head, "\r\n") - head), head);
        if (strcmp(a->line, "HTTP/1.1 200 OK") == 0)
                a->status = 200;
        else if (strcmp(a->line, "HTTP/1.1 401 Unauthorized") == 0)
                a->status = 401;
        else if (strcmp(a->line, "HTTP/1.1 403 Forbidden") == 0)
                a->status = 403;
        else {
                snprintf(err, err_size, "status line '%s'", a->line);
                return -1;
        }
        if (!head_value(head, "Content-Length", cl, sizeof(cl)) || strcmp(cl, "0") != 0 ||
            strstr(strcasestr(head, "\r\nContent-Length:") + 2, "\r\nContent-Length:") ||
            strcasestr(head, "\r\nTransfer-Encoding:")) {
                snprintf(err, err_size, "answer without exactly one Content-Length: 0: %s", head);
                return -1;
        }
        if (c->len) {
                snprintf(err, err_size, "%zu bytes after an answer that has none", c->len);
                return -1;
        }
        a->has_reason = head_value(head, "X-Vigil-Reason", a->reason, sizeof(a->reason));
        a->has_device = head_value(head, "X-Vigil-Device", a->device, sizeof(a->device));
        a->has_user = head_value(head, "X-Vigil-User", a->user, sizeof(a->user));
        a->has_policy = head_value(head, "X-Vigil-Policy", a->policy, sizeof(a->policy));
        return 0;
}

/* A question as nginx's auth_request asks it: host and original URI (either
 * NULL leaves its header out), then the extra header lines. */
static void question(char *out, size_t size, const char *host, const char *uri, const char *extra)
{
        snprintf(out, size, "GET /v1/decide HTTP/1.1\r\n%s%s%s%s%s%sX-Original-Method: GET\r\n%s\r\n",
                 host ? "Host: " : "", host ? host : "", host ? "\r\n" : "", uri ? "X-Original-URI: " : "",
                 uri ? uri : "", uri ? "\r\n" : "", extra ? extra : "");
}

/* ---- the main vigild ---- */

static struct harness H;
static struct conn C;                   /* the test's keep-alive connection */
static struct harness_device dev1, dev2;
static struct crypto_cert_info cert1;   /* dev1's certificate */
static char *pem1;                      /* dev1's certificate, PEM */
static char tmp[64];                    /* the test's own directory: the JWKS, the unix socket */
static gnutls_privkey_t idp_key, other_key;
static char alice_id[40], bob_id[40], carol_id[40], eng_id[40], contractors_id[40];
static char *eng_policy, *payroll_policy;

static json_t *admin(const char *method, const char *path, const char *body, long status)
{
        json_t *j = NULL;
        long st = harness_admin(&H, method, path, NULL, body, &j);

        if (st != status) {
                char *text = j ? json_dumps(j, 0) : NULL;
                fail_msg("%s %s: %ld, want %ld: %s", method, path, st, status, text ? text : "");
        }
        return j;
}

/* Asks on C; fails the test on a transport or framing error. */
static void ask(const char *host, const char *uri, const char *extra, struct answer *a)
{
        char req[12288], err[512];

        question(req, sizeof(req), host, uri, extra);
        if (conn_ask(&C, req, a, err, sizeof(err)) < 0)
                fail_msg("%s", err);
}

/* The answer must be status with a reason containing reason (NULL: any),
 * and the device, user and policy headers equal to device, user, policy
 * (NULL: the header must be absent). */
static void expect_at(int line, const struct answer *a, int status, const char *reason, const char *device,
                      const char *user, const char *policy)
{
        if (a->status != status)
                fail_msg("line %d: status %d (%s), want %d", line, a->status, a->reason, status);
        if (!a->has_reason || (reason && !strstr(a->reason, reason)))
                fail_msg("line %d: reason '%s' lacks '%s'", line, a->reason, reason ? reason : "");
        if (device ? !a->has_device || strcmp(a->device, device) != 0 : a->has_device)
                fail_msg("line %d: device '%s', want '%s'", line, a->device, device ? device : "(none)");
        if (user ? !a->has_user || strcmp(a->user, user) != 0 : a->has_user)
                fail_msg("line %d: user '%s', want '%s'", line, a->user, user ? user : "(none)");
        if (policy ? !a->has_policy || strcmp(a->policy, policy) != 0 : a->has_policy)
                fail_msg("line %d: policy '%s', want '%s'", line, a->policy, policy ? policy : "(none)");
}

#define EXPECT(host, uri, extra, status, reason, device, user, policy)                                     \
        do {                                                                                               \
                struct answer a_;                                                                          \
                ask(host, uri, extra, &a_);                                                                \
                expect_at(__LINE__, &a_, status, reason, device, user, policy);                            \
        } while (0)

/* Asks until the answer's status is status and its reason holds words
 * (NULL: any), for at most POLL_LIMIT_MS; returns the ms it took (0: the
 * first answer). */
static int64_t poll_answer(const char *host, const char *uri, const char *extra, int status, const char *words)
{
        int64_t t0 = mono_ms();
        struct answer a;

        for (;;) {
                ask(host, uri, extra, &a);
                if (a.status == status && (!words || strstr(a.reason, words)))
                        return mono_ms() - t0;
                if (mono_ms() - t0 > POLL_LIMIT_MS)
                        fail_msg("%s%s: still %d (%s) after %d ms, want %d (%s)", host, uri ? uri : "", a.status,
                                 a.reason, POLL_LIMIT_MS, status, words ? words : "");
                sleep_ms(1);
        }
}

/* Identity headers of a device whose certificate the proxy verified. */
static char *by_serial(char *out, size_t size, const char *serial)
{
        snprintf(out, size, "X-Vigil-Client-Verify: SUCCESS\r\nX-Vigil-Client-Serial: %s\r\n", serial);
        return out;
}

static char *by_fpr(char *out, size_t size, const char *fpr)
{
        snprintf(out, size, "X-Vigil-Client-Verify: SUCCESS\r\nX-Vigil-Client-Fingerprint: %s\r\n", fpr);
        return out;
}

/* nginx's $ssl_client_escaped_cert: the PEM with everything but unreserved
 * characters percent-escaped. */
static char *by_pem(char *out, size_t size, const char *pem)
{
        size_t n = (size_t)snprintf(out, size, "X-Vigil-Client-Verify: SUCCESS\r\nX-Vigil-Client-Cert: ");

        for (const unsigned char *p = (const unsigned char *)pem; *p && n + 8 < size; p++) {
                if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                    *p == '-' || *p == '.' || *p == '_' || *p == '~')
                        out[n++] = (char)*p;
                else
                        n += (size_t)snprintf(out + n, size - n, "%%%02X", *p);
        }
        snprintf(out + n, size - n, "\r\n");
        return out;
}

static char *user_hdr(char *out, size_t size, const char *user, const char *more)
{
        snprintf(out, size, "X-Forwarded-User: %s\r\n%s", user, more ? more : "");
        return out;
}

static char *bearer(char *out, size_t size, const char *token)
{
        snprintf(out, size, "Authorization: Bearer %s\r\n", token);
        return out;
}

/* A policy document: users and grant are JSON text, prefix NULL for "/". */
static char *policy_doc(char *out, size_t size, const char *name, const char *state, const char *users,
                        const char *host, const char *prefix, const char *conditions, const char *grant)
{
        snprintf(out, size, "{\"name\":\"%s\",\"state\":\"%s\",\"users\":%s,\"applications\":{\"include\":"
                 "[{\"name\":\"app\",\"host\":\"%s\",\"path_prefix\":\"%s\"}]}%s%s,\"grant\":%s}", name, state, users,
                 host, prefix ? prefix : "/", conditions ? ",\"conditions\":" : "", conditions ? conditions : "",
                 grant);
        return out;
}

static char *policy_create(const char *doc)
{
        json_t *j = admin("POST", "/api/v1/access/policies", doc, 201);
        char *id = strdup(json_string_value(json_object_get(j, "id")));

        json_decref(j);
        return id;
}

static void policy_delete(char *id)
{
        char path[128];

        snprintf(path, sizeof(path), "/api/v1/access/policies/%s", id);
        json_decref(admin("DELETE", path, NULL, 200));
        free(id);
}

static void settings(const char *no_policy_state)
{
        char body[64];

        snprintf(body, sizeof(body), "{\"no_policy_state\":\"%s\"}", no_policy_state);
        json_decref(admin("PATCH", "/api/v1/compliance/settings", body, 200));
}

static char *user_create(const char *upn, char out_id[static 40])
{
        char body[128];
        json_t *j;

        snprintf(body, sizeof(body), "{\"user_principal_name\":\"%s\"}", upn);
        j = admin("POST", "/api/v1/users", body, 201);
        snprintf(out_id, 40, "%s", json_string_value(json_object_get(j, "id")));
        json_decref(j);
        return out_id;
}

static void group_create(const char *name, char out_id[static 40])
{
        char body[128];
        json_t *j;

        snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
        j = admin("POST", "/api/v1/user-groups", body, 201);
        snprintf(out_id, 40, "%s", json_string_value(json_object_get(j, "id")));
        json_decref(j);
}

/* A token of the identity provider for user with the extra claims (JSON
 * members after a comma, or ""), expiring at exp; signed by key. */
static char *token(gnutls_privkey_t key, const char *user, const char *extra, int64_t exp, const char *aud)
{
        char payload[2048];
        char *t;

        snprintf(payload, sizeof(payload), "{\"iss\":\"%s\",\"aud\":\"%s\",\"sub\":\"sub-%s\",\"exp\":%lld,"
                 "\"iat\":%lld,\"preferred_username\":\"%s\"%s}", ISS, aud, user, (long long)exp,
                 (long long)util_now() - 5, user, extra);
        t = jwt_sign(key, "{\"alg\":\"ES256\",\"kid\":\"k1\",\"typ\":\"JWT\"}", payload);
        assert_non_null(t);
        return t;
}

static int setup(void **state)
{
        char jwk[1024], jwks[1200], path[128], config[512];
        size_t len;

        snprintf(tmp, sizeof(tmp), "/tmp/vigil-dtest-XXXXXX");
        if (!mkdtemp(tmp) ||
            jwt_sign_key_new(GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), &idp_key) < 0 ||
            jwt_sign_key_new(GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), &other_key) < 0 ||
            jwt_sign_jwk(idp_key, "k1", jwk, sizeof(jwk)) < 0)
                return -1;
        snprintf(jwks, sizeof(jwks), "{\"keys\":[%s]}", jwk);
        snprintf(path, sizeof(path), "%s/jwks.json", tmp);
        if (util_file_write(path, jwks, strlen(jwks), 0644) < 0)
                return -1;
        snprintf(config, sizeof(config), "access_user_header = X-Forwarded-User\naccess_jwks_file = %s\n"
                 "access_jwt_issuer = %s\naccess_jwt_audience = %s\n", path, ISS, AUD);
        if (harness_start(&H, config) < 0 || harness_enroll(&H, &dev1, "lap-1") < 0 ||
            harness_enroll(&H, &dev2, "lap-2") < 0)
                return -1;
        if (H.access_port == 0 || util_file_read(dev1.cert, 16384, &pem1, &len) < 0 ||
            crypto_cert_info_pem(pem1, len, &cert1) < 0)
                return -1;
        return conn_open(&C, H.access_port, NULL) < 0 ? -1 : 0;
}

static int remove_tmp(void)
{
        char path[128];

        snprintf(path, sizeof(path), "%s/jwks.json", tmp);
        unlink(path);
        return rmdir(tmp);
}

static int teardown(void **state)
{
        int r;

        conn_close(&C);
        r = harness_stop(&H);
        free(pem1);
        free(eng_policy);
        free(payroll_policy);
        gnutls_privkey_deinit(idp_key);
        gnutls_privkey_deinit(other_key);
        remove_tmp();
        return r;
}

/* ---- the cases ---- */

static void test_no_policy(void **state)
{
        char h[512];
        json_t *j;
        char path[128];

        EXPECT("intranet.example.test", "/", NULL, 200, "allowed", NULL, NULL, NULL);
        EXPECT("intranet.example.test", "/wiki/", by_serial(h, sizeof(h), cert1.serial_hex), 200, "allowed", dev1.id,
               NULL, NULL);
        EXPECT("intranet.example.test", "/", user_hdr(h, sizeof(h), "someone@example.com", NULL), 200, "allowed",
               NULL, "someone@example.com", NULL);
        /* the serial the API shows is the certificate's */
        snprintf(path, sizeof(path), "/api/v1/devices/%s", dev1.id);
        j = admin("GET", path, NULL, 200);
        assert_string_equal(json_string_value(json_object_get(j, "certificate_serial")), cert1.serial_hex);
        json_decref(j);
        assert_int_equal(C.asked, 3);
}

/* A certificate of another CA for a key of its own, with dev1's name. */
static char *foreign_cert(struct crypto_cert_info *info)
{
        char *ca_pem, *ca_key, *key, *csr, *cert;
        size_t cl, kl, l, sl, crl;
        struct crypto_ca *ca;

        assert_int_equal(crypto_ca_create("Another CA", 30, &ca_pem, &cl, &ca_key, &kl), 0);
        assert_int_equal(crypto_ca_load(ca_pem, cl, ca_key, kl, &ca), 0);
        assert_int_equal(crypto_key_generate(&key, &l), 0);
        assert_int_equal(crypto_csr_create(key, l, "lap-1", &csr, &sl), 0);
        assert_int_equal(crypto_ca_sign_csr(ca, csr, sl, "lap-1", 30, &cert, &crl, info), 0);
        crypto_ca_free(ca);
        free(ca_pem);
        free(ca_key);
        free(key);
        free(csr);
        return cert;
}

static void test_device_identity(void **state)
{
        const char *P = "Intranet needs a compliant device", *host = "intranet.example.test";
        char doc[1024], h[16384], v[256], *id, *cert;
        struct crypto_cert_info other;
        size_t n;

        id = policy_create(policy_doc(doc, sizeof(doc), P, "enabled", "{\"include\":[\"all\"]}", host, NULL, NULL,
                                      "{\"controls\":[\"compliant_device\"]}"));
        /* the compliance of a device just enrolled: evaluated at once */
        poll_answer(host, "/", by_serial(h, sizeof(h), cert1.serial_hex), 403, "device lap-1 noncompliant: ");
        /* no device: 401 naming what is missing */
        EXPECT(host, "/", NULL, 401, "policy \"Intranet needs a compliant device\" needs a verified device: "
               "no client certificate", NULL, NULL, P);
        EXPECT(host, "/", "X-Vigil-Client-Verify: NONE\r\n", 401, "no client certificate", NULL, NULL, P);
        snprintf(h, sizeof(h), "X-Vigil-Client-Verify: FAILED:certificate has expired\r\nX-Vigil-Client-Serial: %s\r\n",
                 cert1.serial_hex);
        EXPECT(host, "/", h, 401, "the proxy did not verify the client certificate (FAILED:certificate has expired)",
               NULL, NULL, P);
        EXPECT(host, "/", "X-Vigil-Client-Verify: SUCCESS\r\n", 401,
               "the proxy passed no certificate serial, fingerprint or certificate", NULL, NULL, P);

        /* identified every way, and noncompliant: 403 with the compliance reason */
        EXPECT(host, "/", by_serial(h, sizeof(h), cert1.serial_hex), 403,
               "policy \"Intranet needs a compliant device\": device lap-1 noncompliant: ", dev1.id, NULL, P);
        n = (size_t)snprintf(v, sizeof(v), "0000");
        for (const char *p = cert1.serial_hex; *p; p++)
                v[n++] = (char)(*p >= 'a' && *p <= 'f' ? *p - 32 : *p);
        v[n] = '\0';
        EXPECT(host, "/", by_serial(h, sizeof(h), v), 403, "noncompliant", dev1.id, NULL, P);
        n = 0;
        for (const char *p = cert1.serial_hex; *p; p += 2)
                n += (size_t)snprintf(v + n, sizeof(v) - n, "%s%.2s", n ? ":" : "", p);
        EXPECT(host, "/", by_serial(h, sizeof(h), v), 403, "noncompliant", dev1.id, NULL, P);
        EXPECT(host, "/", by_fpr(h, sizeof(h), cert1.fpr_hex), 403, "noncompliant", dev1.id, NULL, P);
        n = 0;
        for (const char *p = cert1.fpr_hex; *p; p += 2)
                n += (size_t)snprintf(v + n, sizeof(v) - n, "%s%c%c", n ? ":" : "",
                                      p[0] >= 'a' ? p[0] - 32 : p[0], p[1] >= 'a' ? p[1] - 32 : p[1]);
        EXPECT(host, "/", by_fpr(h, sizeof(h), v), 403, "noncompliant", dev1.id, NULL, P);
        EXPECT(host, "/", by_pem(h, sizeof(h), pem1), 403, "noncompliant", dev1.id, NULL, P);

        /* what identifies no device */
        EXPECT(host, "/", by_serial(h, sizeof(h), "1234567890abcdef1234567890abcdef"), 401,
               "the client certificate is not the current certificate of an onboarded device", NULL, NULL, P);
        EXPECT(host, "/", by_serial(h, sizeof(h), "not-hex"), 401, "not the current certificate", NULL, NULL, P);
        EXPECT(host, "/", by_fpr(h, sizeof(h), "abababababababababababababababababababababababababababababababab"),
               401, "not the current certificate", NULL, NULL, P);
        EXPECT(host, "/", by_fpr(h, sizeof(h), "abab"), 401, "not the current certificate", NULL, NULL, P);
        cert = foreign_cert(&other);
        EXPECT(host, "/", by_pem(h, sizeof(h), cert), 401, "not the current certificate", NULL, NULL, P);
        EXPECT(host, "/", by_fpr(h, sizeof(h), other.fpr_hex), 401, "not the current certificate", NULL, NULL, P);
        EXPECT(host, "/", by_serial(h, sizeof(h), other.serial_hex), 401, "not the current certificate", NULL, NULL,
               P);
        EXPECT(host, "/", "X-Vigil-Client-Verify: SUCCESS\r\nX-Vigil-Client-Cert: -----BEGIN%20CERT\r\n", 401,
               "not the current certificate", NULL, NULL, P);
        free(cert);
        /* a wrong fingerprint is not saved by a right serial: identities that disagree are denied */
        snprintf(h, sizeof(h), "X-Vigil-Client-Verify: SUCCESS\r\nX-Vigil-Client-Fingerprint: %s\r\n"
                 "X-Vigil-Client-Serial: %s\r\n", other.fpr_hex, cert1.serial_hex);
        EXPECT(host, "/", h, 403, "do not name the same device", NULL, NULL, NULL);
        /* another host is outside the policy */
        EXPECT("other.example.test", "/", by_serial(h, sizeof(h), cert1.serial_hex), 200, "allowed", dev1.id, NULL,
               NULL);

        /* compliant: allowed, identified every way */
        settings("compliant");
        poll_answer(host, "/", by_serial(h, sizeof(h), cert1.serial_hex), 200, NULL);
        EXPECT(host, "/", by_serial(h, sizeof(h), cert1.serial_hex), 200, "allowed", dev1.id, NULL, NULL);
        EXPECT(host, "/", by_fpr(h, sizeof(h), cert1.fpr_hex), 200, "allowed", dev1.id, NULL, NULL);
        EXPECT(host, "/", by_pem(h, sizeof(h), pem1), 200, "allowed", dev1.id, NULL, NULL);
        EXPECT(host, "/", NULL, 401, "needs a verified device", NULL, NULL, P);
        policy_delete(id);
        EXPECT(host, "/", NULL, 200, "allowed", NULL, NULL, NULL);
}

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

        return x < y ? -1 : x > y;
}

static void test_freshness(void **state)
{
        const char *host = "intranet.example.test";
        char doc[1024], h[512], h2[512], path[128], *id;
        int64_t down[5], up[5];

        id = policy_create(policy_doc(doc, sizeof(doc), "Intranet needs a compliant device", "enabled",
                                      "{\"include\":[\"all\"]}", host, NULL, NULL,
                                      "{\"controls\":[\"compliant_device\"]}"));
        by_serial(h, sizeof(h), cert1.serial_hex);
        EXPECT(host, "/", h, 200, "allowed", dev1.id, NULL, NULL);
        for (int i = 0; i < 5; i++) {
                settings("noncompliant");
                down[i] = poll_answer(host, "/", h, 403, NULL);
                EXPECT(host, "/", h, 403, "device lap-1 noncompliant: ", dev1.id, NULL,
                       "Intranet needs a compliant device");
                settings("compliant");
                up[i] = poll_answer(host, "/", h, 200, NULL);
        }
        qsort(down, 5, sizeof(down[0]), cmp_i64);
        qsort(up, 5, sizeof(up[0]), cmp_i64);
        printf("access: compliance settings PATCH answered -> endpoint answers 403: median %lld ms, max %lld ms; "
               "back to 200: median %lld ms, max %lld ms\n", (long long)down[2], (long long)down[4], (long long)up[2],
               (long long)up[4]);
        assert_true(down[4] < 1000 && up[4] < 1000);

        /* offboarding: the very next request */
        {
                char *pem2;
                size_t len;
                struct crypto_cert_info c2;
                assert_int_equal(util_file_read(dev2.cert, 16384, &pem2, &len), 0);
                assert_int_equal(crypto_cert_info_pem(pem2, len, &c2), 0);
                by_serial(h2, sizeof(h2), c2.serial_hex);
                free(pem2);
        }
        poll_answer(host, "/", h2, 200, NULL);
        EXPECT(host, "/", h2, 200, "allowed", dev2.id, NULL, NULL);
        snprintf(path, sizeof(path), "/api/v1/devices/%s/offboard", dev2.id);
        json_decref(admin("POST", path, "{}", 200));
        EXPECT(host, "/", h2, 403, "policy \"Intranet needs a compliant device\": device lap-2 is offboarded", dev2.id,
               NULL, "Intranet needs a compliant device");
        /* still recognised: allowed where no policy asks for a device */
        EXPECT("other.example.test", "/", h2, 200, "allowed", dev2.id, NULL, NULL);
        EXPECT(host, "/", h, 200, "allowed", dev1.id, NULL, NULL);
        policy_delete(id);
}

/* enrolled_device, "or", platforms and a device filter, with dev1
 * (compliant) and dev2 (offboarded). */
static void test_device_controls(void **state)
{
        const char *E = "Enrolled devices only", *O = "Compliant or enrolled", *F = "Block lap-1";
        const char *X = "Linux devices must be compliant";
        char doc[1024], d1[512], d2[512], *pem2, *e, *o, *f, *x;
        struct crypto_cert_info c2;
        size_t len;

        assert_int_equal(util_file_read(dev2.cert, 16384, &pem2, &len), 0);
        assert_int_equal(crypto_cert_info_pem(pem2, len, &c2), 0);
        free(pem2);
        by_serial(d1, sizeof(d1), cert1.serial_hex);
        by_serial(d2, sizeof(d2), c2.serial_hex);
        e = policy_create(policy_doc(doc, sizeof(doc), E, "enabled", "{\"include\":[\"all\"]}", "enrolled.example.test",
                                     NULL, NULL, "{\"controls\":[\"enrolled_device\"]}"));
        o = policy_create(policy_doc(doc, sizeof(doc), O, "enabled", "{\"include\":[\"all\"]}", "or.example.test",
                                     NULL, NULL, "{\"controls\":[\"compliant_device\",\"enrolled_device\"],"
                                     "\"operator\":\"or\"}"));
        f = policy_create(policy_doc(doc, sizeof(doc), F, "enabled", "{\"include\":[\"all\"]}", "filter.example.test",
                                     NULL, "{\"device_filter\":\"device.name == \\\"LAP-1\\\"\"}", "{\"block\":true}"));
        x = policy_create(policy_doc(doc, sizeof(doc), X, "enabled", "{\"include\":[\"all\"]}", "linux.example.test",
                                     NULL, "{\"platforms\":[\"linux\"]}", "{\"controls\":[\"compliant_device\"]}"));
        EXPECT("enrolled.example.test", "/", d1, 200, "allowed", dev1.id, NULL, NULL);
        EXPECT("enrolled.example.test", "/", d2, 403, "policy \"Enrolled devices only\": device lap-2 is offboarded",
               dev2.id, NULL, E);
        EXPECT("enrolled.example.test", "/", NULL, 401, "needs a verified device: no client certificate", NULL, NULL,
               E);
        EXPECT("or.example.test", "/", d1, 200, "allowed", dev1.id, NULL, NULL);
        EXPECT("or.example.test", "/", d2, 403, "lap-2 is offboarded", dev2.id, NULL, O);
        /* the filter needs a device to be told */
        EXPECT("filter.example.test", "/", d1, 403, "policy \"Block lap-1\" blocks access", dev1.id, NULL, F);
        EXPECT("filter.example.test", "/", d2, 200, "allowed", dev2.id, NULL, NULL);
        EXPECT("filter.example.test", "/", NULL, 401, "needs a verified device", NULL, NULL, F);
        EXPECT("linux.example.test", "/", NULL, 401, "needs a verified device", NULL, NULL, X);
        EXPECT("linux.example.test", "/", d1, 200, "allowed", dev1.id, NULL, NULL);
        /* noncompliant: the platform is linux from enrollment on, so the policy applies */
        settings("noncompliant");
        poll_answer("linux.example.test", "/", d1, 403, "device lap-1 noncompliant");
        EXPECT("enrolled.example.test", "/", d1, 200, "allowed", dev1.id, NULL, NULL);
        EXPECT("or.example.test", "/", d1, 200, "allowed", dev1.id, NULL, NULL);
        settings("compliant");
        poll_answer("linux.example.test", "/", d1, 200, NULL);
        /* a device's tags change: the filter sees them once the snapshot is rebuilt */
        {
                char *k, path[128];
                int64_t t;
                k = policy_create(policy_doc(doc, sizeof(doc), "Kiosks blocked", "enabled", "{\"include\":[\"all\"]}",
                                             "kiosk.example.test", NULL,
                                             "{\"device_filter\":\"device.tags contains \\\"kiosk\\\"\"}",
                                             "{\"block\":true}"));
                EXPECT("kiosk.example.test", "/", d1, 200, "allowed", dev1.id, NULL, NULL);
                snprintf(path, sizeof(path), "/api/v1/devices/%s/tags", dev1.id);
                json_decref(admin("PUT", path, "{\"tags\":[\"kiosk\"]}", 200));
                t = poll_answer("kiosk.example.test", "/", d1, 403, "policy \"Kiosks blocked\" blocks access");
                printf("access: device tagged -> the device filter holds: %lld ms\n", (long long)t);
                json_decref(admin("PUT", path, "{\"tags\":[]}", 200));
                poll_answer("kiosk.example.test", "/", d1, 200, NULL);
                policy_delete(k);
        }
        policy_delete(e);
        policy_delete(o);
        policy_delete(f);
        policy_delete(x);
}

static void test_policy_in_effect(void **state)
{
        const char *B = "Block blocked.example.test", *host = "blocked.example.test";
        char doc[1024], path[128], *id;
        int64_t t0 = mono_ms(), api_ms = 0;
        json_t *j;

        policy_doc(doc, sizeof(doc), B, "enabled", "{\"include\":[\"all\"]}", host, NULL, NULL, "{\"block\":true}");
        for (int i = 0; i < 20; i++) {
                int64_t a = mono_ms();
                id = policy_create(doc);
                api_ms += mono_ms() - a;
                EXPECT(host, "/x", NULL, 403, "policy \"Block blocked.example.test\" blocks access", NULL, NULL, B);
                a = mono_ms();
                policy_delete(id);
                api_ms += mono_ms() - a;
                EXPECT(host, "/x", NULL, 200, "allowed", NULL, NULL, NULL);
        }
        printf("access: 20 policies created and deleted, each in effect on the next question: %lld ms in all, "
               "%lld ms per API call\n", (long long)(mono_ms() - t0), (long long)(api_ms / 40));
        /* state changes through PUT and apply take effect the same way */
        id = policy_create(doc);
        snprintf(path, sizeof(path), "/api/v1/access/policies/%s", id);
        json_decref(admin("PUT", path, policy_doc(doc, sizeof(doc), B, "disabled", "{\"include\":[\"all\"]}", host,
                                                  NULL, NULL, "{\"block\":true}"), 200));
        EXPECT(host, "/x", NULL, 200, "allowed", NULL, NULL, NULL);
        json_decref(admin("PUT", path, policy_doc(doc, sizeof(doc), B, "report_only", "{\"include\":[\"all\"]}", host,
                                                  NULL, NULL, "{\"block\":true}"), 200));
        EXPECT(host, "/x", NULL, 200, "allowed", NULL, NULL, NULL);
        j = admin("POST", "/api/v1/access/apply", policy_doc(doc, sizeof(doc), B, "enabled", "{\"include\":[\"all\"]}",
                                                            host, NULL, NULL, "{\"block\":true}"), 200);
        assert_int_equal(json_array_size(json_object_get(j, "updated")), 1);
        json_decref(j);
        EXPECT(host, "/x", NULL, 403, "blocks access", NULL, NULL, B);
        policy_delete(id);
        EXPECT(host, "/x", NULL, 200, "allowed", NULL, NULL, NULL);
}

/* The first enforced policy that fails decides: its status and name. */
static void test_order(void **state)
{
        const char *B = "Block order.example.test", *D = "order.example.test needs a device";
        const char *host = "order.example.test";
        char doc[1024], path[160], *b, *d;

        b = policy_create(policy_doc(doc, sizeof(doc), B, "enabled", "{\"include\":[\"all\"]}", host, NULL, NULL,
                                     "{\"block\":true}"));
        d = policy_create(policy_doc(doc, sizeof(doc), D, "enabled", "{\"include\":[\"all\"]}", host, NULL, NULL,
                                     "{\"controls\":[\"enrolled_device\"]}"));
        EXPECT(host, "/", NULL, 403, "blocks access", NULL, NULL, B);
        snprintf(path, sizeof(path), "/api/v1/access/policies/%s?position=1", d);
        json_decref(admin("PUT", path, policy_doc(doc, sizeof(doc), D, "enabled", "{\"include\":[\"all\"]}", host,
                                                  NULL, NULL, "{\"controls\":[\"enrolled_device\"]}"), 200));
        EXPECT(host, "/", NULL, 401, "needs a verified device", NULL, NULL, D);
        /* report-only never decides */
        json_decref(admin("PUT", path, policy_doc(doc, sizeof(doc), D, "report_only", "{\"include\":[\"all\"]}",
                                                  host, NULL, NULL, "{\"controls\":[\"enrolled_device\"]}"), 200));
        EXPECT(host, "/", NULL, 403, "blocks access", NULL, NULL, B);
        policy_delete(b);
        EXPECT(host, "/", NULL, 200, "allowed", NULL, NULL, NULL);
        policy_delete(d);
}

/* The result of the policy named name in a what-if for user on url. */
static char *whatif_result(const char *user, const char *url, const char *name)
{
        char body[512];
        json_t *j, *p;
        size_t i;
        char *ret = NULL;

        snprintf(body, sizeof(body), "{\"user\":\"%s\",\"url\":\"%s\"}", user, url);
        j = admin("POST", "/api/v1/access/whatif", body, 200);
        json_array_foreach(json_object_get(j, "policies"), i, p)
                if (strcmp(json_string_value(json_object_get(p, "name")), name) == 0)
                        ret = strdup(json_string_value(json_object_get(p, "result")));
        json_decref(j);
        assert_non_null(ret);
        return ret;
}

static void test_users(void **state)
{
        const char *G = "Engineering wiki needs a compliant device", *U = "Payroll for alice only";
        const char *X = "Everyone but engineering kept out of bg.example.test";
        char doc[1024], users[256], h[1024], dv[512], path[256], name[64], *r, *x;
        int64_t t;

        user_create("alice@example.com", alice_id);
        user_create("bob@example.com", bob_id);
        user_create("carol@example.com", carol_id);
        group_create("engineering", eng_id);
        group_create("contractors", contractors_id);
        snprintf(path, sizeof(path), "/api/v1/user-groups/%s/members", eng_id);
        json_decref(admin("POST", path, "{\"users\":[\"alice@example.com\"]}", 200));
        snprintf(users, sizeof(users), "{\"include\":[\"%s\"]}", eng_id);
        eng_policy = policy_create(policy_doc(doc, sizeof(doc), G, "enabled", users, "wiki.example.test", NULL, NULL,
                                              "{\"controls\":[\"compliant_device\"]}"));
        payroll_policy = policy_create(policy_doc(doc, sizeof(doc), U, "enabled",
                                                  "{\"include\":[\"alice@example.com\"]}", "payroll.example.test", NULL,
                                                  NULL, "{\"controls\":[\"compliant_device\"]}"));
        by_serial(dv, sizeof(dv), cert1.serial_hex);

        /* a member of the group: the policy applies */
        EXPECT("wiki.example.test", "/", user_hdr(h, sizeof(h), "alice@example.com", NULL), 401,
               "needs a verified device", NULL, "alice@example.com", G);
        EXPECT("wiki.example.test", "/", user_hdr(h, sizeof(h), "ALICE@Example.COM", NULL), 401,
               "needs a verified device", NULL, "alice@example.com", G);
        EXPECT("wiki.example.test", "/", user_hdr(h, sizeof(h), alice_id, NULL), 401, "needs a verified device", NULL,
               "alice@example.com", G);
        EXPECT("wiki.example.test", "/", user_hdr(h, sizeof(h), "alice@example.com", dv), 200, "allowed", dev1.id,
               "alice@example.com", NULL);
        r = whatif_result("alice@example.com", "https://wiki.example.test/", G);
        assert_string_equal(r, "failure");
        free(r);
        /* not a member: the policy does not apply */
        EXPECT("wiki.example.test", "/", user_hdr(h, sizeof(h), "bob@example.com", NULL), 200, "allowed", NULL,
               "bob@example.com", NULL);
        r = whatif_result("bob@example.com", "https://wiki.example.test/", G);
        assert_string_equal(r, "not_applied");
        free(r);
        /* a policy for named users needs a user */
        EXPECT("payroll.example.test", "/", NULL, 401, "policy \"Payroll for alice only\" needs a known user: no user",
               NULL, NULL, U);
        EXPECT("payroll.example.test", "/", user_hdr(h, sizeof(h), "bob@example.com", NULL), 200, "allowed", NULL,
               "bob@example.com", NULL);
        EXPECT("payroll.example.test", "/", user_hdr(h, sizeof(h), "alice@example.com", dv), 200, "allowed", dev1.id,
               "alice@example.com", NULL);
        /* unknown to the directory: kept as named, no groups */
        EXPECT("wiki.example.test", "/", user_hdr(h, sizeof(h), "mallory@example.com", NULL), 200, "allowed", NULL,
               "mallory@example.com", NULL);

        /* a name that is a group's id is no member of it: the group's
         * exclusion is not escaped, its inclusion not gained */
        snprintf(users, sizeof(users), "{\"include\":[\"all\"],\"exclude\":[\"%s\"]}", eng_id);
        x = policy_create(policy_doc(doc, sizeof(doc), X, "enabled", users, "bg.example.test", NULL, NULL,
                                     "{\"block\":true}"));
        EXPECT("bg.example.test", "/", user_hdr(h, sizeof(h), "alice@example.com", NULL), 200, "allowed", NULL,
               "alice@example.com", NULL);
        EXPECT("bg.example.test", "/", user_hdr(h, sizeof(h), "mallory@example.com", NULL), 403, "blocks access",
               NULL, "mallory@example.com", X);
        for (size_t i = 0; i < 2; i++) {
                snprintf(name, sizeof(name), "%s", eng_id);
                for (char *p = name; i && *p; p++)
                        *p = (char)(*p >= 'a' && *p <= 'f' ? *p - 32 : *p);
                EXPECT("bg.example.test", "/", user_hdr(h, sizeof(h), name, NULL), 401,
                       "needs a known user: no user: the name", NULL, NULL, X);
                EXPECT("wiki.example.test", "/", user_hdr(h, sizeof(h), name, NULL), 401, "is the id of a user group",
                       NULL, NULL, G);
        }
        /* a user id in capitals is that user */
        snprintf(name, sizeof(name), "%s", alice_id);
        for (char *p = name; *p; p++)
                *p = (char)(*p >= 'a' && *p <= 'f' ? *p - 32 : *p);
        EXPECT("bg.example.test", "/", user_hdr(h, sizeof(h), name, NULL), 200, "allowed", NULL, "alice@example.com",
               NULL);
        policy_delete(x);

        /* directory changes: rebuilt in the background */
        json_decref(admin("POST", path, "{\"users\":[\"bob@example.com\"]}", 200));
        t = poll_answer("wiki.example.test", "/", user_hdr(h, sizeof(h), "bob@example.com", NULL), 401, NULL);
        printf("access: member added -> the endpoint applies the group's policy: %lld ms\n", (long long)t);
        snprintf(path, sizeof(path), "/api/v1/user-groups/%s/members/%s", eng_id, bob_id);
        json_decref(admin("DELETE", path, NULL, 200));
        t = poll_answer("wiki.example.test", "/", user_hdr(h, sizeof(h), "bob@example.com", NULL), 200, NULL);
        printf("access: member removed -> the group's policy no longer applies: %lld ms\n", (long long)t);

        /* a disabled user is refused wherever the policies would allow */
        EXPECT("free.example.test", "/", user_hdr(h, sizeof(h), "carol@example.com", NULL), 200, "allowed", NULL,
               "carol@example.com", NULL);
        snprintf(path, sizeof(path), "/api/v1/users/%s", carol_id);
        json_decref(admin("PATCH", path, "{\"enabled\":false}", 200));
        t = poll_answer("free.example.test", "/", user_hdr(h, sizeof(h), "carol@example.com", NULL), 403, NULL);
        printf("access: user disabled -> refused: %lld ms\n", (long long)t);
        EXPECT("free.example.test", "/", user_hdr(h, sizeof(h), "carol@example.com", NULL), 403,
               "user carol@example.com is disabled in the directory", NULL, "carol@example.com", NULL);
        EXPECT("payroll.example.test", "/", user_hdr(h, sizeof(h), "carol@example.com", dv), 403, "is disabled",
               dev1.id, "carol@example.com", NULL);
        json_decref(admin("PATCH", path, "{\"enabled\":true}", 200));
        poll_answer("free.example.test", "/", user_hdr(h, sizeof(h), "carol@example.com", NULL), 200, NULL);
        /* a too long user header names nobody */
        memset(users, 'a', 250);
        users[250] = '\0';
        snprintf(doc, sizeof(doc), "%s%s@example.com", users, users);
        EXPECT("payroll.example.test", "/", user_hdr(h, sizeof(h), doc, NULL), 401, "the user header is too long",
               NULL, NULL, U);
}

static void test_jwt(void **state)
{
        const char *J = "Contractors kept out of jwt.example.test", *G = "Engineering wiki needs a compliant device";
        char doc[1024], users[128], h[4096], h2[4096], *t, *id;
        int64_t now = util_now();

        snprintf(users, sizeof(users), "{\"include\":[\"%s\"]}", contractors_id);
        id = policy_create(policy_doc(doc, sizeof(doc), J, "enabled", users, "jwt.example.test", NULL, NULL,
                                      "{\"block\":true}"));
        /* the groups claim names a directory group: its policy applies */
        t = token(idp_key, "alice@example.com", ",\"groups\":[\"contractors\",\"staff\"]", now + 300, AUD);
        EXPECT("jwt.example.test", "/", bearer(h, sizeof(h), t), 403, "blocks access", NULL, "alice@example.com", J);
        free(t);
        t = token(idp_key, "alice@example.com", "", now + 300, AUD);
        EXPECT("jwt.example.test", "/", bearer(h, sizeof(h), t), 200, "allowed", NULL, "alice@example.com", NULL);
        /* alice's directory groups count for a token user too */
        EXPECT("wiki.example.test", "/", h, 401, "needs a verified device", NULL, "alice@example.com", G);
        free(t);
        /* bob is no member of engineering; his token says he is */
        t = token(idp_key, "bob@example.com", ",\"groups\":[\"engineering\"]", now + 300, AUD);
        EXPECT("wiki.example.test", "/", bearer(h, sizeof(h), t), 401, "needs a verified device", NULL,
               "bob@example.com", G);
        free(t);
        /* a user unknown to the directory with a group of it */
        t = token(idp_key, "dave@example.com", ",\"groups\":[\"contractors\"]", now + 300, AUD);
        EXPECT("jwt.example.test", "/", bearer(h, sizeof(h), t), 403, "blocks access", NULL, "dave@example.com", J);
        free(t);

        /* a token group named as a user is not that user: payroll is alice's alone */
        t = token(idp_key, "bob@example.com", ",\"groups\":[\"alice@example.com\"]", now + 300, AUD);
        EXPECT("payroll.example.test", "/", bearer(h, sizeof(h), t), 200, "allowed", NULL, "bob@example.com", NULL);
        free(t);

        /* refused tokens: no user, and the reason when a policy needs one */
        t = token(idp_key, "alice@example.com", "", now - 3600, AUD);
        EXPECT("payroll.example.test", "/", bearer(h, sizeof(h), t), 401,
               "needs a known user: bearer token refused: token expired at ", NULL, NULL, "Payroll for alice only");
        EXPECT("free.example.test", "/", h, 200, "allowed", NULL, NULL, NULL);
        free(t);
        t = token(other_key, "alice@example.com", "", now + 300, AUD);
        EXPECT("payroll.example.test", "/", bearer(h, sizeof(h), t), 401,
               "bearer token refused: signature does not verify with key 'k1'", NULL, NULL, "Payroll for alice only");
        free(t);
        t = token(idp_key, "alice@example.com", "", now + 300, "someone-else");
        EXPECT("payroll.example.test", "/", bearer(h, sizeof(h), t), 401,
               "bearer token refused: token audience does not include 'vigil-access'", NULL, NULL,
               "Payroll for alice only");
        free(t);
        EXPECT("payroll.example.test", "/", "Authorization: Basic YWxpY2U6cHc=\r\n", 401, "no bearer token", NULL,
               NULL, "Payroll for alice only");
        EXPECT("payroll.example.test", "/", "Authorization: Bearer not.a.token\r\n", 401, "bearer token refused: ",
               NULL, NULL, "Payroll for alice only");
        /* the header wins over the token */
        t = token(idp_key, "alice@example.com", ",\"groups\":[\"contractors\"]", now + 300, AUD);
        EXPECT("jwt.example.test", "/", user_hdr(h2, sizeof(h2), "bob@example.com", bearer(h, sizeof(h), t)), 200,
               "allowed", NULL, "bob@example.com", NULL);
        free(t);
        policy_delete(id);
}

/* GET on the access log; returns the answer, checking count against want (-1: any). */
static json_t *log_get(const char *query, long want)
{
        char path[512];
        json_t *j;

        snprintf(path, sizeof(path), "/api/v1/access/log?%s", query);
        j = admin("GET", path, NULL, 200);
        if (want >= 0 && json_integer_value(json_object_get(j, "count")) != want) {
                char *text = json_dumps(j, JSON_COMPACT);
                fail_msg("%s: count %lld, want %ld: %.2000s", path, (long long)json_integer_value(json_object_get(j, "count")),
                         want, text);
        }
        return j;
}

/* Polls the log until query counts want rows (the writer stores every 50 ms). */
static int64_t log_wait(const char *query, long want)
{
        int64_t t0 = mono_ms();

        for (;;) {
                json_t *j = log_get(query, -1);
                long n = (long)json_integer_value(json_object_get(j, "count"));
                json_decref(j);
                if (n == want)
                        return mono_ms() - t0;
                if (mono_ms() - t0 > POLL_LIMIT_MS)
                        fail_msg("access log %s: %ld rows after %d ms, want %ld", query, n, POLL_LIMIT_MS, want);
                sleep_ms(10);
        }
}

static const char *policy_result(json_t *row, const char *id)
{
        size_t i;
        json_t *p;

        json_array_foreach(json_object_get(row, "policies"), i, p)
                if (strcmp(json_string_value(json_object_get(p, "id")), id) == 0)
                        return json_string_value(json_object_get(p, "result"));
        return NULL;
}

static void test_report_only(void **state)
{
        const char *R = "Report-only block", *L = "Bob kept out of log.example.test";
        char doc[1024], h[1024], dv[512], q[512], t[21], ms[32], *rid, *lid;
        json_t *j, *row;
        int64_t waited;

        rid = policy_create(policy_doc(doc, sizeof(doc), R, "report_only", "{\"include\":[\"all\"]}",
                                       "ro.example.test", NULL, NULL, "{\"block\":true}"));
        by_serial(dv, sizeof(dv), cert1.serial_hex);
        snprintf(h, sizeof(h), "X-Real-IP: 203.0.113.7\r\nX-Forwarded-User: alice@example.com\r\n%s", dv);
        EXPECT("ro.example.test", "/page?q=1", h, 200, "allowed", dev1.id, "alice@example.com", NULL);
        waited = log_wait("app=ro.example.test", 1);
        printf("access: decision -> in the access log: %lld ms\n", (long long)waited);
        j = log_get("app=ro.example.test", 1);
        row = json_array_get(json_object_get(j, "value"), 0);
        assert_string_equal(json_string_value(json_object_get(row, "method")), "GET");
        assert_string_equal(json_string_value(json_object_get(row, "host")), "ro.example.test");
        assert_string_equal(json_string_value(json_object_get(row, "path")), "/page");
        assert_string_equal(json_string_value(json_object_get(row, "client_ip")), "203.0.113.7");
        assert_string_equal(json_string_value(json_object_get(row, "user")), "alice@example.com");
        assert_string_equal(json_string_value(json_object_get(row, "user_id")), alice_id);
        assert_string_equal(json_string_value(json_object_get(row, "device_id")), dev1.id);
        assert_string_equal(json_string_value(json_object_get(row, "device_name")), "lap-1");
        assert_int_equal(json_integer_value(json_object_get(row, "status")), 200);
        assert_string_equal(json_string_value(json_object_get(row, "result")), "allow");
        assert_string_equal(json_string_value(json_object_get(row, "reason")), "allowed");
        assert_int_equal(json_array_size(json_object_get(row, "policies")), 1);
        assert_string_equal(policy_result(row, rid), "report_only_failure");
        json_decref(j);

        /* three decisions on one host to filter */
        lid = policy_create(policy_doc(doc, sizeof(doc), L, "enabled", "{\"include\":[\"bob@example.com\"]}",
                                       "log.example.test", NULL, NULL, "{\"block\":true}"));
        EXPECT("log.example.test", "/a", h, 200, "allowed", dev1.id, "alice@example.com", NULL);
        EXPECT("log.example.test", "/b", user_hdr(h, sizeof(h), "bob@example.com", NULL), 403, "blocks access", NULL,
               "bob@example.com", L);
        EXPECT("log.example.test", "/c", NULL, 401, "needs a known user", NULL, NULL, L);
        log_wait("app=log.example.test", 3);
        json_decref(log_get("app=LOG.example.test", 3));
        json_decref(log_get("app=log.example.test&status=403", 1));
        json_decref(log_get("app=log.example.test&status=401", 1));
        json_decref(log_get("app=log.example.test&status=200", 1));
        json_decref(log_get("app=log.example.test&result=deny", 2));
        j = log_get("app=log.example.test&result=allow", 1);
        row = json_array_get(json_object_get(j, "value"), 0);
        assert_string_equal(json_string_value(json_object_get(row, "path")), "/a");
        /* by default only the policies that applied; policies=all lists the rest */
        assert_null(policy_result(row, lid));
        json_decref(j);
        j = log_get("app=log.example.test&result=allow&policies=all", 1);
        row = json_array_get(json_object_get(j, "value"), 0);
        assert_string_equal(policy_result(row, lid), "not_applied");
        assert_string_equal(policy_result(row, rid), "report_only_not_applied");
        json_decref(j);
        snprintf(q, sizeof(q), "app=log.example.test&device=%s", dev1.id);
        json_decref(log_get(q, 1));
        json_decref(log_get("app=log.example.test&user=BOB@example.com", 1));
        snprintf(q, sizeof(q), "app=log.example.test&user=%s", bob_id);
        json_decref(log_get(q, 1));
        snprintf(q, sizeof(q), "policy=%s", lid);
        j = log_get(q, 2);
        row = json_array_get(json_object_get(j, "value"), 0);
        assert_string_equal(json_string_value(json_object_get(row, "path")), "/c");   /* newest first */
        assert_string_equal(policy_result(row, lid), "failure");
        json_decref(j);
        util_time_format(util_now() + 60, t);
        snprintf(q, sizeof(q), "app=log.example.test&since=%s", t);
        json_decref(log_get(q, 0));
        snprintf(q, sizeof(q), "app=log.example.test&until=%s", t);
        json_decref(log_get(q, 3));
        json_decref(log_get("app=log.example.test&until=2020-01-01T00:00:00Z", 0));
        json_decref(log_get("app=log.example.test&since=2020-01-01T00:00:00Z", 3));
        /* a row's own time, to the millisecond, bounds it */
        j = log_get("app=log.example.test&status=403", 1);
        snprintf(ms, sizeof(ms), "%s", json_string_value(json_object_get(json_array_get(json_object_get(j, "value"), 0),
                                                                         "time")));
        json_decref(j);
        snprintf(q, sizeof(q), "app=log.example.test&status=403&since=%s&until=%s", ms, ms);
        json_decref(log_get(q, 1));
        /* paging */
        j = log_get("app=log.example.test&limit=2", 3);
        assert_int_equal(json_array_size(json_object_get(j, "value")), 2);
        assert_int_equal(json_integer_value(json_object_get(j, "next_offset")), 2);
        assert_int_equal(json_integer_value(json_object_get(j, "not_logged")), 0);
        json_decref(j);
        j = log_get("app=log.example.test&limit=2&offset=2", 3);
        assert_int_equal(json_array_size(json_object_get(j, "value")), 1);
        assert_true(json_is_null(json_object_get(j, "next_offset")));
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "value"), 0), "path")),
                            "/a");
        json_decref(j);
        /* any byte in the path or the user, and a path cut inside a character:
         * stored and shown as UTF-8, never left out of the answer */
        {
                char uri[1300] = "/";
                for (size_t i = 0; i < 200; i++)
                        memcpy(uri + 1 + 6 * i, "%C3%A9", 7);
                EXPECT("utf.example.test", "/%ff%fe/x", "X-Forwarded-User: \xc3(x@example.com\r\n", 200, "allowed",
                       NULL, "\xc3(x@example.com", NULL);
                EXPECT("utf.example.test", uri, NULL, 200, "allowed", NULL, NULL, NULL);
        }
        log_wait("app=utf.example.test", 2);
        j = log_get("app=utf.example.test", 2);
        assert_int_equal(json_array_size(json_object_get(j, "value")), 2);
        row = json_array_get(json_object_get(j, "value"), 1);
        assert_string_equal(json_string_value(json_object_get(row, "path")), "/?" "?/x");
        assert_string_equal(json_string_value(json_object_get(row, "user")), "?(x@example.com");
        row = json_array_get(json_object_get(j, "value"), 0);
        assert_int_equal(strlen(json_string_value(json_object_get(row, "path"))), 256);
        assert_string_equal(json_string_value(json_object_get(row, "path")) + 253, "\xc3\xa9?");
        json_decref(j);
        /* bad filters */
        static const char *const bad[] = {
                "status=500", "status=abc", "result=maybe", "policies=some", "policy=x'--", "since=yesterday",
                "since=2026-11-30T09:00:00.Z", "since=2026-11-30T09:00:00.1234567890Z", "until=2026-11-30T09:00:00.5",
                "since=2026-11-30T09:00:00.5Zx",
                "until=2026-13-45T00:00:00Z", "limit=0", "limit=1001", "offset=-1",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char path[128];
                snprintf(path, sizeof(path), "/api/v1/access/log?%s", bad[i]);
                j = admin("GET", path, NULL, 400);
                json_decref(j);
        }
        policy_delete(rid);
        policy_delete(lid);
}

/* One what-if against the live endpoint: user (NULL: none), device (NULL:
 * none), host, path and ip must get the same status and reason. */
static void whatif_same(const char *user, const struct harness_device *dev, const char *serial, const char *host,
                        const char *uri, const char *ip, size_t n_policies)
{
        char body[512], h[1024], url[256];
        size_t n = 0;
        struct answer a;
        json_t *j;

        snprintf(url, sizeof(url), "https://%s%s", host, uri);
        n += (size_t)snprintf(body + n, sizeof(body) - n, "{\"url\":\"%s\"", url);
        h[0] = '\0';
        if (user) {
                n += (size_t)snprintf(body + n, sizeof(body) - n, ",\"user\":\"%s\"", user);
                snprintf(h + strlen(h), sizeof(h) - strlen(h), "X-Forwarded-User: %s\r\n", user);
        }
        if (dev) {
                n += (size_t)snprintf(body + n, sizeof(body) - n, ",\"device\":\"%s\"", dev->id);
                by_serial(h + strlen(h), sizeof(h) - strlen(h), serial);
        }
        if (ip) {
                n += (size_t)snprintf(body + n, sizeof(body) - n, ",\"ip\":\"%s\"", ip);
                snprintf(h + strlen(h), sizeof(h) - strlen(h), "X-Real-IP: %s\r\n", ip);
        }
        snprintf(body + n, sizeof(body) - n, "}");
        ask(host, uri, h, &a);
        j = admin("POST", "/api/v1/access/whatif", body, 200);
        /* the same words, but where an identity is missing: the endpoint says
         * what the proxy passed, what-if that none was named */
        const char *wr = json_string_value(json_object_get(j, "reason")), *cut = strstr(a.reason, " needs a ");
        size_t same = cut ? (size_t)(strchr(cut, ':') - a.reason) : strlen(a.reason) + 1;
        if (json_integer_value(json_object_get(j, "status")) != a.status || strncmp(wr, a.reason, same) != 0)
                fail_msg("%s: what-if says %lld '%s', the endpoint %d '%s'", body,
                         (long long)json_integer_value(json_object_get(j, "status")),
                         json_string_value(json_object_get(j, "reason")), a.status, a.reason);
        assert_int_equal(json_array_size(json_object_get(j, "policies")), n_policies);
        if (a.status != 200) {
                size_t i;
                json_t *p;
                bool named = false;
                json_array_foreach(json_object_get(j, "policies"), i, p)
                        if (strcmp(json_string_value(json_object_get(p, "name")), a.policy) == 0) {
                                assert_string_equal(json_string_value(json_object_get(p, "result")), "failure");
                                assert_string_not_equal(json_string_value(json_object_get(p, "control")), "");
                                named = true;
                        }
                assert_true(named);
        }
        if (dev)
                assert_string_equal(json_string_value(json_object_get(json_object_get(j, "device"), "id")), dev->id);
        json_decref(j);
}

static void test_whatif(void **state)
{
        char doc[1024], serial2[64], *pem2, *wid;
        struct crypto_cert_info c2;
        size_t len;
        json_t *j;

        assert_int_equal(util_file_read(dev2.cert, 16384, &pem2, &len), 0);
        assert_int_equal(crypto_cert_info_pem(pem2, len, &c2), 0);
        snprintf(serial2, sizeof(serial2), "%s", c2.serial_hex);
        free(pem2);
        json_decref(admin("POST", "/api/v1/access/locations", "{\"id\":\"office\",\"ranges\":[\"10.0.0.0/8\"]}", 201));
        wid = policy_create(policy_doc(doc, sizeof(doc), "Wiki2 only from the office", "enabled",
                                       "{\"include\":[\"all\"]}", "wiki2.example.test", NULL,
                                       "{\"locations\":{\"include\":[\"all\"],\"exclude\":[\"office\"]}}",
                                       "{\"block\":true}"));
        /* the policies now: engineering wiki, payroll, wiki2 */
        whatif_same("alice@example.com", NULL, NULL, "wiki.example.test", "/", NULL, 3);
        whatif_same("alice@example.com", &dev1, cert1.serial_hex, "wiki.example.test", "/x", NULL, 3);
        whatif_same("alice@example.com", &dev2, serial2, "wiki.example.test", "/x", NULL, 3);
        whatif_same("bob@example.com", NULL, NULL, "wiki.example.test", "/", NULL, 3);
        whatif_same(NULL, NULL, NULL, "payroll.example.test", "/", NULL, 3);
        whatif_same("alice@example.com", NULL, NULL, "payroll.example.test", "/", NULL, 3);
        whatif_same("mallory@example.com", &dev1, cert1.serial_hex, "payroll.example.test", "/", NULL, 3);
        whatif_same(NULL, NULL, NULL, "wiki2.example.test", "/", "10.1.2.3", 3);
        whatif_same(NULL, NULL, NULL, "wiki2.example.test", "/", "203.0.113.9", 3);
        whatif_same(NULL, NULL, NULL, "wiki2.example.test", "/", "::ffff:10.1.1.1", 3);
        whatif_same(NULL, NULL, NULL, "wiki2.example.test", "/", "::ffff:203.0.113.9", 3);
        whatif_same(NULL, NULL, NULL, "wiki2.example.test", "/", NULL, 3);
        whatif_same(NULL, &dev2, serial2, "free.example.test", "/", NULL, 3);
        /* what it says of the device and the user */
        snprintf(doc, sizeof(doc), "{\"url\":\"https://wiki.example.test/\",\"device\":\"%s\",\"user\":\"%s\"}",
                 dev2.id, alice_id);
        j = admin("POST", "/api/v1/access/whatif", doc, 200);
        assert_int_equal(json_integer_value(json_object_get(j, "status")), 403);
        assert_true(json_is_true(json_object_get(json_object_get(j, "device"), "offboarded")));
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "user"), "upn")), "alice@example.com");
        assert_string_equal(json_string_value(json_object_get(j, "host")), "wiki.example.test");
        json_decref(j);
        j = admin("POST", "/api/v1/access/whatif", "{\"url\":\"https://wiki.example.test/%ff/\"}", 200);
        assert_string_equal(json_string_value(json_object_get(j, "path")), "/?/");
        json_decref(j);
        /* refused questions */
        json_decref(admin("POST", "/api/v1/access/whatif", "{\"url\":\"wiki.example.test/\"}", 400));
        json_decref(admin("POST", "/api/v1/access/whatif", "{\"url\":\"https:///x\"}", 400));
        json_decref(admin("POST", "/api/v1/access/whatif", "{\"url\":\"https://wiki.example.test/%zz\"}", 400));
        json_decref(admin("POST", "/api/v1/access/whatif", "{\"user\":\"alice@example.com\"}", 400));
        json_decref(admin("POST", "/api/v1/access/whatif", "{\"url\":\"https://a.test/\",\"ip\":\"10.0.0.300\"}",
                          400));
        json_decref(admin("POST", "/api/v1/access/whatif", "{\"url\":\"https://a.test/\",\"colour\":\"red\"}", 400));
        j = admin("POST", "/api/v1/access/whatif",
                  "{\"url\":\"https://a.test/\",\"device\":\"00000000-0000-4000-8000-000000000000\"}", 404);
        assert_string_equal(httpc_error_code(j), "device_not_found");
        json_decref(j);
        policy_delete(wid);
        json_decref(admin("DELETE", "/api/v1/access/locations/office", NULL, 200));
}

static void test_malformed(void **state)
{
        const char *N = "Admin pages blocked", *host = "norm.example.test";
        char doc[1024], *id;
        struct answer a;
        char err[256];

        id = policy_create(policy_doc(doc, sizeof(doc), N, "enabled", "{\"include\":[\"all\"]}", host, "/admin/",
                                      NULL, "{\"block\":true}"));
        /* questions that cannot be answered: denied with the reason */
        EXPECT(NULL, "/", NULL, 403, "the proxy passed no host", NULL, NULL, NULL);
        EXPECT(host, "/%zz", NULL, 403, "the original request's URI is malformed", NULL, NULL, NULL);
        EXPECT(host, "/a%2", NULL, 403, "the original request's URI is malformed", NULL, NULL, NULL);
        EXPECT(host, "/%00", NULL, 403, "the original request's URI is malformed", NULL, NULL, NULL);
        EXPECT(host, "admin/x", NULL, 403, "the original request's URI is malformed", NULL, NULL, NULL);
        EXPECT("norm example", "/", NULL, 403, "the original request's host is malformed", NULL, NULL, NULL);
        EXPECT("user@norm.example.test", "/", NULL, 403, "host is malformed", NULL, NULL, NULL);
        EXPECT(host, "/", "X-Real-IP: not-an-address\r\n", 403, "not an IP address", NULL, NULL, NULL);
        /* paths are normalized before the prefix is matched */
        static const char *const blocked[] = {
                "/admin/x", "/wiki/../admin/x", "/%61dmin/x", "//admin//x", "/./admin/x", "/admin/x?a=1#f",
                "/%2e%2e/admin/x", "/admin%2fx", "/../../admin/", "/wiki/%2e%2e/admin/x", "https://norm.example.test/admin/x",
        };
        for (size_t i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++) {
                ask(host, blocked[i], NULL, &a);
                if (a.status != 403 || strcmp(a.policy, N) != 0)
                        fail_msg("%s: %d '%s', want 403 by \"%s\"", blocked[i], a.status, a.reason, N);
        }
        static const char *const allowed[] = { "/", "/wiki/", "/admin", "/administrator/", "/admin/..", "/x?/admin/" };
        for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
                ask(host, allowed[i], NULL, &a);
                if (a.status != 200)
                        fail_msg("%s: %d '%s', want 200", allowed[i], a.status, a.reason);
        }
        /* the host without port, case or a final dot */
        EXPECT("NORM.Example.Test:8443", "/admin/x", NULL, 403, "blocks access", NULL, NULL, N);
        EXPECT("norm.example.test.", "/admin/x", NULL, 403, "blocks access", NULL, NULL, N);
        /* Caddy and Traefik: X-Forwarded-* */
        EXPECT("other.example.test", NULL, "X-Forwarded-Host: norm.example.test\r\nX-Forwarded-Uri: /x/../admin/\r\n"
               "X-Forwarded-Method: POST\r\n", 403, "blocks access", NULL, NULL, N);
        /* Envoy: the original path after /v1/decide */
        if (conn_ask(&C, "GET /v1/decide/admin/x HTTP/1.1\r\nHost: norm.example.test\r\n\r\n", &a, err,
                     sizeof(err)) < 0)
                fail_msg("%s", err);
        expect_at(__LINE__, &a, 403, "blocks access", NULL, NULL, N);
        if (conn_ask(&C, "POST /v1/decide/wiki/ HTTP/1.1\r\nHost: norm.example.test\r\nContent-Length: 5\r\n\r\nhello",
                     &a, err, sizeof(err)) < 0)
                fail_msg("%s", err);
        expect_at(__LINE__, &a, 200, "allowed", NULL, NULL, NULL);
        if (conn_ask(&C, "GET /v2/decide HTTP/1.1\r\nHost: norm.example.test\r\n\r\n", &a, err, sizeof(err)) < 0)
                fail_msg("%s", err);
        expect_at(__LINE__, &a, 403, "the decision endpoint is /v1/decide", NULL, NULL, NULL);
        /* HTTP/1.0 keeps the connection when asked to */
        if (conn_ask(&C, "GET /v1/decide HTTP/1.0\r\nConnection: keep-alive\r\nHost: norm.example.test\r\n"
                     "X-Original-URI: /admin/\r\n\r\n", &a, err, sizeof(err)) < 0)
                fail_msg("%s", err);
        expect_at(__LINE__, &a, 403, "blocks access", NULL, NULL, N);
        policy_delete(id);
        EXPECT(host, "/admin/x", NULL, 200, "allowed", NULL, NULL, NULL);
}

/* The client address: X-Forwarded-For read from its last line, IPv4-mapped
 * addresses as IPv4. A header the decision rests on, twice: refused, since
 * a proxy that adds its line after the client's would leave the client's
 * first. */
static void test_repeated_headers(void **state)
{
        const char *L = "Only from the lab", *host = "xff.example.test";
        char doc[1024], h[2048], dv[512], *id;

        json_decref(admin("POST", "/api/v1/access/locations", "{\"id\":\"lab\",\"ranges\":[\"10.0.0.0/8\"]}", 201));
        id = policy_create(policy_doc(doc, sizeof(doc), L, "enabled", "{\"include\":[\"all\"]}", host, NULL,
                                      "{\"locations\":{\"include\":[\"all\"],\"exclude\":[\"lab\"]}}",
                                      "{\"block\":true}"));
        EXPECT(host, "/", "X-Forwarded-For: 203.0.113.9\r\n", 403, "blocks access", NULL, NULL, L);
        EXPECT(host, "/", "X-Forwarded-For: 10.1.1.1\r\n", 200, "allowed", NULL, NULL, NULL);
        EXPECT(host, "/", "X-Forwarded-For: 10.1.1.1, 203.0.113.9\r\n", 403, "blocks access", NULL, NULL, L);
        /* a client's own line first, the proxy's appended: the proxy's counts */
        EXPECT(host, "/", "X-Forwarded-For: 10.1.1.1\r\nX-Forwarded-For: 203.0.113.9\r\n", 403, "blocks access",
               NULL, NULL, L);
        EXPECT(host, "/", "X-Forwarded-For: 203.0.113.9\r\nx-forwarded-for: 10.2.2.2\r\n", 200, "allowed", NULL,
               NULL, NULL);
        /* an IPv4 client as a dual-stack proxy reports it */
        EXPECT(host, "/", "X-Real-IP: ::ffff:10.1.1.1\r\n", 200, "allowed", NULL, NULL, NULL);
        EXPECT(host, "/", "X-Forwarded-For: ::ffff:203.0.113.9\r\n", 403, "blocks access", NULL, NULL, L);
        EXPECT(host, "/", "X-Real-IP: 2001:db8::1\r\n", 403, "blocks access", NULL, NULL, L);
        /* a location changed through the API is in effect when it answers */
        json_decref(admin("PUT", "/api/v1/access/locations/lab", "{\"id\":\"lab\",\"ranges\":[\"192.168.0.0/16\"]}",
                          200));
        EXPECT(host, "/", "X-Real-IP: 10.1.1.1\r\n", 403, "blocks access", NULL, NULL, L);
        EXPECT(host, "/", "X-Real-IP: 192.168.7.7\r\n", 200, "allowed", NULL, NULL, NULL);
        json_decref(admin("PUT", "/api/v1/access/locations/lab", "{\"id\":\"lab\",\"ranges\":[\"10.0.0.0/8\"]}", 200));
        EXPECT(host, "/", "X-Real-IP: 10.1.1.1\r\n", 200, "allowed", NULL, NULL, NULL);
        EXPECT(host, "/", "X-Real-IP: 10.1.1.1\r\nX-Real-IP: 203.0.113.9\r\n", 403,
               "the question carries X-Real-IP more than once", NULL, NULL, NULL);
        snprintf(h, sizeof(h), "X-Vigil-Client-Serial: %s\r\n%s", cert1.serial_hex,
                 by_serial(dv, sizeof(dv), "1234567890abcdef"));
        EXPECT("free.example.test", "/", h, 403, "the question carries X-Vigil-Client-Serial more than once", NULL,
               NULL, NULL);
        EXPECT("free.example.test", "/", "X-Forwarded-User: alice@example.com\r\nx-forwarded-user: bob@example.com\r\n",
               403, "the question carries X-Forwarded-User more than once", NULL, NULL, NULL);
        EXPECT("free.example.test", "/", "Host: xff.example.test\r\n", 403, "the question carries Host more than once",
               NULL, NULL, NULL);
        EXPECT("free.example.test", "/", "Authorization: Bearer a.b.c\r\nAuthorization: Bearer d.e.f\r\n", 403,
               "the question carries Authorization more than once", NULL, NULL, NULL);
        policy_delete(id);
        json_decref(admin("DELETE", "/api/v1/access/locations/lab", NULL, 200));
}

/* After a restart: policies, devices with their compliance and offboarding,
 * and the directory come back from the database. */
static void test_restart(void **state)
{
        const char *G = "Engineering wiki needs a compliant device";
        char h[1024], dv[512], dv2[512], *pem2;
        struct crypto_cert_info c2;
        int status;
        size_t len;

        assert_int_equal(util_file_read(dev2.cert, 16384, &pem2, &len), 0);
        assert_int_equal(crypto_cert_info_pem(pem2, len, &c2), 0);
        free(pem2);
        conn_close(&C);
        kill(H.pid, SIGTERM);
        assert_int_equal(waitpid(H.pid, &status, 0), H.pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(harness_restart(&H), 0);
        assert_int_not_equal(H.access_port, 0);
        assert_int_equal(conn_open(&C, H.access_port, NULL), 0);
        by_serial(dv, sizeof(dv), cert1.serial_hex);
        by_serial(dv2, sizeof(dv2), c2.serial_hex);
        EXPECT("wiki.example.test", "/", user_hdr(h, sizeof(h), "alice@example.com", dv), 200, "allowed", dev1.id,
               "alice@example.com", NULL);
        EXPECT("wiki.example.test", "/", user_hdr(h, sizeof(h), "alice@example.com", dv2), 403, "lap-2 is offboarded",
               dev2.id, "alice@example.com", G);
        EXPECT("wiki.example.test", "/", user_hdr(h, sizeof(h), "alice@example.com", NULL), 401,
               "needs a verified device", NULL, "alice@example.com", G);
        EXPECT("wiki.example.test", "/", user_hdr(h, sizeof(h), "bob@example.com", NULL), 200, "allowed", NULL,
               "bob@example.com", NULL);
}

/* ---- concurrency ---- */

struct hammer {
        pthread_t thread;
        unsigned index;
        atomic_bool *stop;
        unsigned long answers, by_status[3];
        char err[512];
};

static void *hammer_run(void *arg)
{
        struct hammer *hm = arg;
        char dv[512], u[512], ud[1024], req[4096];
        struct conn *c = malloc(sizeof(*c));
        struct answer a;

        by_serial(dv, sizeof(dv), cert1.serial_hex);
        user_hdr(u, sizeof(u), "alice@example.com", NULL);
        user_hdr(ud, sizeof(ud), "alice@example.com", dv);
        struct { const char *host, *uri, *extra; } q[] = {
                { "intranet.example.test", "/", dv },      { "intranet.example.test", "/", NULL },
                { "wiki.example.test", "/", u },           { "wiki.example.test", "/", ud },
                { "payroll.example.test", "/", NULL },     { "blocked.example.test", "/", NULL },
                { "free.example.test", "/x", u },          { "norm.example.test", "/%61dmin/", NULL },
        };
        if (!c || conn_open(c, H.access_port, NULL) < 0) {
                snprintf(hm->err, sizeof(hm->err), "cannot connect: %s", strerror(errno));
                free(c);
                return NULL;
        }
        for (unsigned long i = hm->index; !atomic_load(hm->stop); i++) {
                size_t k = i % (sizeof(q) / sizeof(q[0]));
                question(req, sizeof(req), q[k].host, q[k].uri, q[k].extra);
                if (conn_ask(c, req, &a, hm->err, sizeof(hm->err)) < 0)
                        break;
                hm->answers++;
                hm->by_status[a.status == 200 ? 0 : a.status == 401 ? 1 : 2]++;
        }
        conn_close(c);
        free(c);
        return NULL;
}

static void test_concurrency(void **state)
{
        const char *B = "Block blocked.example.test";
        char doc[1024], path[128], *block = NULL, *intranet;
        struct hammer hm[4];
        atomic_bool stop = false;
        unsigned long total = 0;
        int64_t t0 = mono_ms(), ms;

        intranet = policy_create(policy_doc(doc, sizeof(doc), "Intranet needs a compliant device", "enabled",
                                            "{\"include\":[\"all\"]}", "intranet.example.test", NULL, NULL,
                                            "{\"controls\":[\"compliant_device\"]}"));
        for (unsigned i = 0; i < 4; i++) {
                memset(&hm[i], 0, sizeof(hm[i]));
                hm[i].index = i;
                hm[i].stop = &stop;
                assert_int_equal(pthread_create(&hm[i].thread, NULL, hammer_run, &hm[i]), 0);
        }
        for (int i = 0; i < 50; i++) {
                switch (i % 3) {
                case 0:
                        if (block) {
                                policy_delete(block);
                                block = NULL;
                        } else {
                                block = policy_create(policy_doc(doc, sizeof(doc), B, "enabled",
                                                                 "{\"include\":[\"all\"]}", "blocked.example.test",
                                                                 NULL, NULL, "{\"block\":true}"));
                        }
                        break;
                case 1:
                        settings(i % 2 ? "noncompliant" : "compliant");
                        break;
                default:
                        snprintf(path, sizeof(path), "/api/v1/access/policies/%s", intranet);
                        json_decref(admin("PUT", path, policy_doc(doc, sizeof(doc),
                                                                  "Intranet needs a compliant device",
                                                                  i % 4 ? "enabled" : "report_only",
                                                                  "{\"include\":[\"all\"]}", "intranet.example.test",
                                                                  NULL, NULL, "{\"controls\":[\"compliant_device\"]}"),
                                          200));
                        break;
                }
        }
        atomic_store(&stop, true);
        for (unsigned i = 0; i < 4; i++) {
                pthread_join(hm[i].thread, NULL);
                if (hm[i].err[0])
                        fail_msg("thread %u after %lu answers: %s", i, hm[i].answers, hm[i].err);
                assert_true(hm[i].answers > 0);
                total += hm[i].answers;
        }
        ms = mono_ms() - t0;
        printf("access: 4 threads, %lu answers (200/401/403: %lu/%lu/%lu of thread 0) during 50 changes in %lld ms "
               "(%.0f answers/s)\n", total, hm[0].by_status[0], hm[0].by_status[1], hm[0].by_status[2], (long long)ms,
               ms ? total * 1000.0 / (double)ms : 0.0);
        /* the log keeps what its queues hold and counts the rest */
        sleep_ms(200);
        {
                json_t *j = log_get("limit=1", -1);
                printf("access: the log holds %lld decisions, %lld not logged\n",
                       (long long)json_integer_value(json_object_get(j, "count")),
                       (long long)json_integer_value(json_object_get(j, "not_logged")));
                json_decref(j);
        }
        if (block)
                policy_delete(block);
        policy_delete(intranet);
        settings("compliant");
}

/* ---- the proxy secret ---- */

static struct harness HS;

static int setup_secret(void **state)
{
        return harness_start(&HS, "access_proxy_secret = " SECRET "\naccess_max_connections = 3\n") < 0 ||
                               HS.access_port == 0
                       ? -1
                       : 0;
}

static int teardown_secret(void **state)
{
        return harness_stop(&HS);
}

static void ask_on(struct conn *c, const char *extra, struct answer *a)
{
        char req[2048], err[512];

        question(req, sizeof(req), "intranet.example.test", "/", extra);
        if (conn_ask(c, req, a, err, sizeof(err)) < 0)
                fail_msg("%s", err);
}

static void test_proxy_secret(void **state)
{
        struct conn c;
        struct answer a;

        assert_int_equal(conn_open(&c, HS.access_port, NULL), 0);
        /* loopback is not enough once a secret is set */
        ask_on(&c, NULL, &a);
        expect_at(__LINE__, &a, 403, "the question lacks the configured proxy secret", NULL, NULL, NULL);
        ask_on(&c, "X-Vigil-Proxy-Secret: 0123456789abcdef0123456789abcdeX\r\n", &a);
        expect_at(__LINE__, &a, 403, "lacks the configured proxy secret", NULL, NULL, NULL);
        ask_on(&c, "X-Vigil-Proxy-Secret: 0123456789abcdef\r\n", &a);
        expect_at(__LINE__, &a, 403, "lacks the configured proxy secret", NULL, NULL, NULL);
        ask_on(&c, "X-Vigil-Proxy-Secret: " SECRET "0\r\n", &a);
        expect_at(__LINE__, &a, 403, "lacks the configured proxy secret", NULL, NULL, NULL);
        ask_on(&c, "X-Vigil-Proxy-Secret: \r\n", &a);
        expect_at(__LINE__, &a, 403, "lacks the configured proxy secret", NULL, NULL, NULL);
        ask_on(&c, "X-Vigil-Proxy-Secret: " SECRET "\r\n", &a);
        expect_at(__LINE__, &a, 200, "allowed", NULL, NULL, NULL);
        ask_on(&c, "x-vigil-proxy-secret: " SECRET "\r\nX-Forwarded-User: someone@example.com\r\n", &a);
        expect_at(__LINE__, &a, 200, "allowed", NULL, NULL, NULL);    /* no user header configured */
        assert_int_equal(c.asked, 7);
        conn_close(&c);
}

/* access_max_connections = 3: a fourth is closed at accept, and taken once
 * one of the three is gone. */
static void test_max_connections(void **state)
{
        struct conn c[4];
        struct answer a;
        char req[1024], err[256];
        int k = -1;

        question(req, sizeof(req), "intranet.example.test", "/", "X-Vigil-Proxy-Secret: " SECRET "\r\n");
        sleep_ms(100);          /* the connection of the test before is closed on the server's side too */
        for (int i = 0; i < 3; i++) {
                assert_int_equal(conn_open(&c[i], HS.access_port, NULL), 0);
                if (conn_ask(&c[i], req, &a, err, sizeof(err)) < 0)
                        fail_msg("connection %d: %s", i, err);
        }
        assert_int_equal(conn_open(&c[3], HS.access_port, NULL), 0);
        if (conn_ask(&c[3], req, &a, err, sizeof(err)) == 0)
                fail_msg("a fourth connection was answered");
        conn_close(&c[3]);
        conn_close(&c[0]);
        /* the server sees the close on its next wake */
        for (int i = 0; i < 100 && k < 0; i++) {
                sleep_ms(10);
                assert_int_equal(conn_open(&c[3], HS.access_port, NULL), 0);
                k = conn_ask(&c[3], req, &a, err, sizeof(err));
                if (k < 0)
                        conn_close(&c[3]);
        }
        assert_int_equal(k, 0);
        expect_at(__LINE__, &a, 200, "allowed", NULL, NULL, NULL);
        for (int i = 1; i < 4; i++)
                conn_close(&c[i]);
}

/* ---- the unix socket ---- */

static struct harness HU;
static char sock_path[128];

static int setup_unix(void **state)
{
        char config[256];

        snprintf(tmp, sizeof(tmp), "/tmp/vigil-dtest-XXXXXX");
        if (!mkdtemp(tmp))
                return -1;
        snprintf(sock_path, sizeof(sock_path), "%s/access.sock", tmp);
        snprintf(config, sizeof(config), "access_listen = unix:%s\n", sock_path);
        return harness_start(&HU, config);
}

static int teardown_unix(void **state)
{
        int r = harness_stop(&HU);

        rmdir(tmp);
        return r;
}

static void test_unix_socket(void **state)
{
        struct conn c;
        struct answer a;
        struct stat st;

        assert_int_equal(HU.access_port, 0);
        assert_int_equal(lstat(sock_path, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0660);
        assert_int_equal(conn_open(&c, 0, sock_path), 0);
        /* the unix socket is trusted like loopback */
        for (int i = 0; i < 5; i++) {
                ask_on(&c, "X-Vigil-Client-Verify: NONE\r\n", &a);
                expect_at(__LINE__, &a, 200, "allowed", NULL, NULL, NULL);
        }
        assert_int_equal(c.asked, 5);
        conn_close(&c);
        /* vigild removes its socket when it stops */
        assert_int_equal(harness_stop(&HU), 0);
        assert_int_equal(lstat(sock_path, &st), -1);
        assert_int_equal(errno, ENOENT);
}

/* Runs vigild (init, or run on the data directory data with args); returns
 * its exit status with its output in out. */
static int vigild_try(const char *data, const char *args, char *out, size_t size)
{
        char cmd[1024];
        size_t n = 0, k;
        FILE *p;
        int st;

        snprintf(cmd, sizeof(cmd), "'%s' %s --data-dir '%s' %s 2>&1", getenv("VIGILD"), args[0] ? "run" : "init",
                 data, args);
        p = popen(cmd, "r");
        assert_non_null(p);
        while (n + 1 < size && (k = fread(out + n, 1, size - 1 - n, p)) > 0)
                n += k;
        out[n] = '\0';
        st = pclose(p);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_listen_refused(void **state)
{
        struct sockaddr_in sa = { .sin_family = AF_INET };
        socklen_t sl = sizeof(sa);
        char data[320], args[512], out[8192];
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        /* a port in use: bound here */
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(fd, 1), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
        snprintf(data, sizeof(data), "%s/other", HU.dir);
        assert_int_equal(vigild_try(data, "", out, sizeof(out)), 0);
        assert_int_not_equal(vigild_try(data, "--listen 127.0.0.1:0 --access-listen nowhere", out, sizeof(out)), 0);
        if (!strstr(out, "'nowhere' is not an address to listen on: ADDR:PORT"))
                fail_msg("vigild said: %s", out);
        snprintf(args, sizeof(args), "--listen 127.0.0.1:0 --access-listen 127.0.0.1:%u", ntohs(sa.sin_port));
        assert_int_not_equal(vigild_try(data, args, out, sizeof(out)), 0);
        snprintf(args, sizeof(args), "cannot listen on '127.0.0.1:%u': Address already in use", ntohs(sa.sin_port));
        if (!strstr(out, args))
                fail_msg("vigild said: %s", out);
        close(fd);
        /* the socket of the running vigild is left alone */
        snprintf(args, sizeof(args), "--listen 127.0.0.1:0 --access-listen unix:%s", sock_path);
        assert_int_not_equal(vigild_try(data, args, out, sizeof(out)), 0);
        if (!strstr(out, "another process listens there"))
                fail_msg("vigild said: %s", out);
}

/* ---- a peer that is not on loopback ---- */

static struct harness HR;
static char remote_ip[INET_ADDRSTRLEN];

/* The first IPv4 address of an interface that is up and not loopback. */
static bool remote_ip_find(void)
{
        struct ifaddrs *all, *i;
        bool found = false;

        if (getifaddrs(&all) < 0)
                return false;
        for (i = all; i && !found; i = i->ifa_next)
                if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && (i->ifa_flags & IFF_UP) &&
                    !(i->ifa_flags & IFF_LOOPBACK))
                        found = inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, remote_ip,
                                          sizeof(remote_ip)) != NULL;
        freeifaddrs(all);
        return found;
}

static int setup_remote(void **state)
{
        char config[128];

        if (!remote_ip_find())
                return 0;
        snprintf(config, sizeof(config), "access_listen = %s:0\n", remote_ip);
        return harness_start(&HR, config);
}

static int teardown_remote(void **state)
{
        return remote_ip[0] ? harness_stop(&HR) : 0;
}

/* Without a proxy secret only loopback and the unix socket are trusted: a
 * question from the host's own address on another interface is refused. */
static void test_remote_peer(void **state)
{
        struct sockaddr_in sa = { .sin_family = AF_INET };
        struct conn c = { .fd = -1 };
        struct answer a;
        char req[1024], err[256];

        if (!remote_ip[0])
                skip();
        sa.sin_port = htons((uint16_t)HR.access_port);
        assert_int_equal(inet_pton(AF_INET, remote_ip, &sa.sin_addr), 1);
        c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(connect(c.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        question(req, sizeof(req), "intranet.example.test", "/", "X-Forwarded-User: alice@example.com\r\n");
        for (int i = 0; i < 2; i++) {
                if (conn_ask(&c, req, &a, err, sizeof(err)) < 0)
                        fail_msg("%s", err);
                expect_at(__LINE__, &a, 403, "identity headers are trusted only from loopback or the unix socket",
                          NULL, NULL, NULL);
        }
        conn_close(&c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_no_policy),
                cmocka_unit_test(test_device_identity),
                cmocka_unit_test(test_freshness),
                cmocka_unit_test(test_device_controls),
                cmocka_unit_test(test_policy_in_effect),
                cmocka_unit_test(test_order),
                cmocka_unit_test(test_users),
                cmocka_unit_test(test_jwt),
                cmocka_unit_test(test_report_only),
                cmocka_unit_test(test_whatif),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_repeated_headers),
                cmocka_unit_test(test_restart),
                cmocka_unit_test(test_concurrency),
        };
        const struct CMUnitTest secret_tests[] = {
                cmocka_unit_test(test_proxy_secret),
                cmocka_unit_test(test_max_connections),
        };
        const struct CMUnitTest unix_tests[] = {
                cmocka_unit_test(test_listen_refused),
                cmocka_unit_test(test_unix_socket),
        };
        const struct CMUnitTest remote_tests[] = { cmocka_unit_test(test_remote_peer) };
        int r;

        setvbuf(stdout, NULL, _IOLBF, 0);
        r = cmocka_run_group_tests_name("access-decide", tests, setup, teardown);
        r += cmocka_run_group_tests_name("access-decide-secret", secret_tests, setup_secret, teardown_secret);
        r += cmocka_run_group_tests_name("access-decide-unix", unix_tests, setup_unix, teardown_unix);
        r += cmocka_run_group_tests_name("access-decide-remote", remote_tests, setup_remote, teardown_remote);
        return r ? 1 : 0;
}
