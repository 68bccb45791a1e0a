/* Integration: the portal's server side against a real vigild. The embedded
 * files (types, gzip that inflates to the same bytes, ETag and 304, 404 for
 * an unknown file, the security headers on files and API answers alike),
 * sign-in with each role and the cookie's flags, CSRF refused and accepted,
 * roles kept through the cookie, sign-out, revocation, idle and maximum
 * expiry, and the event stream: an alert uploaded by an enrolled device
 * reaches it as alert and risk events within a bound, a device action as
 * an action event; past portal_sse_clients streams a client gets 503 until
 * one goes (within seconds: the refusal writes to every stream); the
 * keepalive comes, and the stream of a revoked token or a signed-out
 * session ends at once. libcurl
 * drives the requests, to see every header. */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "crypto/crypto.h"
#include "server/api/api.h"
#include "tests/integration/harness.h"
#include "util/strutil.h"

#define SSE_CLIENTS 3
#define EVENT_BOUND_MS 100              /* an event reaches a stream this long after the upload's answer at most */
#define STREAM_MAX (64 * 1024)

static struct harness H;

static int group_setup(void **state)
{
        char conf[64];

        snprintf(conf, sizeof(conf), "portal_sse_clients = %d\n", SSE_CLIENTS);
        return harness_start(&H, conf);
}

static int group_teardown(void **state)
{
        return harness_stop(&H);
}

static void sleep_ms(unsigned ms)
{
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

        nanosleep(&ts, NULL);
}

struct resp {
        long status;
        char headers[8192];
        size_t hl;
        char body[STREAM_MAX];
        size_t bl;
};

static size_t on_header(char *p, size_t size, size_t n, void *cls)
{
        struct resp *r = cls;
        size_t len = size * n;

        if (r->hl + len < sizeof(r->headers)) {
                memcpy(r->headers + r->hl, p, len);
                r->hl += len;
                r->headers[r->hl] = '\0';
        }
        return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *cls)
{
        struct resp *r = cls;
        size_t len = size * n;

        if (r->bl + len >= sizeof(r->body))
                return 0;
        memcpy(r->body + r->bl, p, len);
        r->bl += len;
        r->body[r->bl] = '\0';
        return len;
}

/* The value of header name in r (a static copy), or NULL. */
static const char *header(const struct resp *r, const char *name)
{
        static char value[1024];
        size_t nl = strlen(name);

        for (const char *line = r->headers; line && *line; line = strstr(line, "\n") ? strstr(line, "\n") + 1 : NULL) {
                const char *end = strpbrk(line, "\r\n");
                size_t vl;

                if (strncasecmp(line, name, nl) != 0 || line[nl] != ':')
                        continue;
                line += nl + 1;
                while (*line == ' ')
                        line++;
                vl = end ? (size_t)(end - line) : strlen(line);
                if (vl >= sizeof(value))
                        vl = sizeof(value) - 1;
                memcpy(value, line, vl);
                value[vl] = '\0';
                return value;
        }
        return NULL;
}

static CURL *easy(const char *method, const char *path, struct curl_slist *hdrs, const char *body, struct resp *r)
{
        char url[256];
        CURL *c = curl_easy_init();

        assert_non_null(c);
        memset(r, 0, sizeof(*r));
        snprintf(url, sizeof(url), "%s%s", H.url, path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CAINFO, H.ca);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (strcmp(method, "HEAD") == 0)
                curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
        if (body)
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        return c;
}

/* One request with up to three extra headers (NULL ends them). Returns the status. */
static long req(const char *method, const char *path, const char *body, struct resp *r, ...)
{
        struct curl_slist *hdrs = NULL;
        const char *h;
        CURL *c;
        va_list ap;
        CURLcode cr;

        va_start(ap, r);
        while ((h = va_arg(ap, const char *)))
                hdrs = curl_slist_append(hdrs, h);
        va_end(ap);
        c = easy(method, path, hdrs, body, r);
        cr = curl_easy_perform(c);
        if (cr != CURLE_OK)
                fail_msg("%s %s: %s", method, path, curl_easy_strerror(cr));
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        curl_easy_cleanup(c);
        curl_slist_free_all(hdrs);
        return r->status;
}

static const char *body_code(const struct resp *r)
{
        static char code[64];
        json_t *j = json_loads(r->body, 0, NULL);

        snprintf(code, sizeof(code), "%s", httpc_error_code(j));
        json_decref(j);
        return code;
}

static void expect_security_headers(const struct resp *r)
{
        assert_non_null(header(r, "Content-Security-Policy"));
        assert_non_null(strstr(header(r, "Content-Security-Policy"), "default-src 'none'; script-src 'self';"));
        assert_non_null(strstr(header(r, "Content-Security-Policy"), "frame-ancestors 'none'"));
        assert_string_equal(header(r, "X-Content-Type-Options"), "nosniff");
        assert_string_equal(header(r, "Referrer-Policy"), "no-referrer");
        assert_string_equal(header(r, "X-Frame-Options"), "DENY");
        assert_string_equal(header(r, "Strict-Transport-Security"), "max-age=31536000");
}

/* Inflates a gzip body. Returns its length. */
static size_t gunzip(const char *in, size_t n, char *out, size_t size)
{
        z_stream z = { 0 };

        assert_int_equal(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
        z.next_in = (Bytef *)in;
        z.avail_in = (uInt)n;
        z.next_out = (Bytef *)out;
        z.avail_out = (uInt)size;
        assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
        inflateEnd(&z);
        return z.total_out;
}

static void test_static_files(void **state)
{
        static struct resp plain, gz, again;
        static char inflated[STREAM_MAX];
        char inm[200], etag[128], gz_etag[128];
        size_t n;

        assert_int_equal(req("GET", "/", NULL, &plain, NULL), 200);
        assert_string_equal(header(&plain, "Content-Type"), "text/html; charset=utf-8");
        assert_string_equal(header(&plain, "Cache-Control"), "no-cache");
        assert_null(header(&plain, "Content-Encoding"));
        assert_non_null(strstr(plain.body, "<html"));
        expect_security_headers(&plain);
        assert_non_null(header(&plain, "ETag"));
        assert_int_equal(header(&plain, "ETag")[0], '"');
        snprintf(etag, sizeof(etag), "%s", header(&plain, "ETag"));
        snprintf(inm, sizeof(inm), "If-None-Match: \"nope\", %s", etag);

        assert_int_equal(req("GET", "/", NULL, &gz, "Accept-Encoding: gzip", NULL), 200);
        assert_string_equal(header(&gz, "Content-Encoding"), "gzip");
        /* another representation, another strong ETag */
        snprintf(gz_etag, sizeof(gz_etag), "%s", header(&gz, "ETag"));
        assert_string_not_equal(gz_etag, etag);
        assert_int_equal(gz_etag[0], '"');
        n = gunzip(gz.body, gz.bl, inflated, sizeof(inflated));
        assert_int_equal(n, plain.bl);
        assert_memory_equal(inflated, plain.body, n);
        /* q=0 refuses gzip */
        assert_int_equal(req("GET", "/", NULL, &again, "Accept-Encoding: gzip;q=0, identity", NULL), 200);
        assert_null(header(&again, "Content-Encoding"));

        assert_int_equal(req("GET", "/", NULL, &again, inm, NULL), 304);
        assert_int_equal(again.bl, 0);
        expect_security_headers(&again);
        /* each ETag validates its own representation only */
        assert_int_equal(req("GET", "/", NULL, &again, inm, "Accept-Encoding: gzip", NULL), 200);
        assert_string_equal(header(&again, "Content-Encoding"), "gzip");
        snprintf(inm, sizeof(inm), "If-None-Match: %s", gz_etag);
        assert_int_equal(req("GET", "/", NULL, &again, inm, "Accept-Encoding: gzip", NULL), 304);
        assert_string_equal(header(&again, "ETag"), gz_etag);
        assert_int_equal(req("GET", "/", NULL, &again, inm, NULL), 200);
        assert_null(header(&again, "Content-Encoding"));
        assert_string_equal(header(&again, "ETag"), etag);
        snprintf(inm, sizeof(inm), "If-None-Match: \"nope\", %s", etag);
        assert_int_equal(req("GET", "/", NULL, &again, "If-None-Match: \"0123\"", NULL), 200);

        assert_int_equal(req("GET", "/assets/app.js", NULL, &again, NULL), 200);
        assert_string_equal(header(&again, "Content-Type"), "text/javascript; charset=utf-8");
        assert_string_equal(header(&again, "Cache-Control"), "no-cache");
        assert_non_null(header(&again, "ETag"));
        assert_string_not_equal(header(&again, "ETag"), "");

        assert_int_equal(req("GET", "/assets/nope.js", NULL, &again, NULL), 404);
        assert_string_equal(body_code(&again), "not_found");
        expect_security_headers(&again);
        assert_int_equal(req("GET", "/assets/../index.html", NULL, &again, NULL), 404);
        assert_int_equal(req("POST", "/assets/app.js", "", &again, NULL), 405);
        /* HEAD is GET without the body */
        assert_int_equal(req("HEAD", "/", NULL, &again, NULL), 200);
        assert_int_equal(again.bl, 0);
        assert_string_equal(header(&again, "Content-Type"), "text/html; charset=utf-8");
        assert_string_equal(header(&again, "ETag"), etag);
        expect_security_headers(&again);
        assert_int_equal(req("HEAD", "/", NULL, &again, inm, NULL), 304);
        assert_int_equal(req("HEAD", "/assets/app.js", NULL, &again, NULL), 200);
        assert_non_null(header(&again, "ETag"));
        assert_int_equal(req("HEAD", "/assets/nope.js", NULL, &again, NULL), 404);

        /* the API's answers carry the same headers */
        assert_int_equal(req("GET", "/api/v1/health", NULL, &again, NULL), 200);
        expect_security_headers(&again);
}

struct session {
        char cookie[128];               /* "Cookie: __Host-vigil_session=..." */
        char csrf[128];                 /* "X-Vigil-CSRF: ..." */
        char role[32];
};

/* Signs in with token; fills s. Returns the status. */
static long sign_in(const char *token, struct session *s)
{
        static struct resp r;
        char body[256];
        const char *sc;
        json_t *j;
        long st;

        snprintf(body, sizeof(body), "{\"token\":\"%s\"}", token);
        st = req("POST", "/api/v1/session", body, &r, "Content-Type: application/json", NULL);
        if (st != 201)
                return st;
        sc = header(&r, "Set-Cookie");
        assert_non_null(sc);
        assert_non_null(strstr(sc, "; Path=/"));
        assert_non_null(strstr(sc, "; HttpOnly"));
        assert_non_null(strstr(sc, "; Secure"));
        assert_non_null(strstr(sc, "; SameSite=Strict"));
        assert_true(strncmp(sc, "__Host-vigil_session=", 21) == 0);
        assert_int_equal(strcspn(sc, ";"), 21 + 43);
        snprintf(s->cookie, sizeof(s->cookie), "Cookie: %.*s", (int)strcspn(sc, ";"), sc);
        j = json_loads(r.body, 0, NULL);
        assert_non_null(j);
        assert_int_equal(strlen(json_string_value(json_object_get(j, "csrf"))), 43);
        assert_non_null(json_string_value(json_object_get(j, "expires")));
        assert_int_equal(json_integer_value(json_object_get(j, "idle_timeout")), 1800);
        snprintf(s->csrf, sizeof(s->csrf), "X-Vigil-CSRF: %s", json_string_value(json_object_get(j, "csrf")));
        snprintf(s->role, sizeof(s->role), "%s", json_string_value(json_object_get(j, "role")));
        json_decref(j);
        return st;
}

static void test_sign_in_roles(void **state)
{
        static const char *const roles[] = { "security_admin", "it_admin", "reader" };
        static struct resp r;
        struct session s;
        json_t *j = NULL;
        char *partner;

        for (size_t i = 0; i < 3; i++) {
                char *tok = harness_new_token(&H, roles[i], "portal user", NULL);

                assert_non_null(tok);
                assert_int_equal(sign_in(tok, &s), 201);
                assert_string_equal(s.role, roles[i]);
                assert_int_equal(req("GET", "/api/v1/session", NULL, &r, s.cookie, NULL), 200);
                assert_null(header(&r, "Set-Cookie"));
                assert_non_null(strstr(r.body, roles[i]));
                assert_non_null(strstr(r.body, "\"name\":\"portal user\""));
                /* every admin route reads the cookie */
                assert_int_equal(req("GET", "/api/v1/devices", NULL, &r, s.cookie, NULL), 200);
                free(tok);
        }
        assert_int_equal(sign_in("vgt_0123456789abcdef_nope", &s), 401);
        assert_int_equal(req("POST", "/api/v1/session", "{\"token\":\"vgt_0123456789abcdef_x\"}", &r, NULL), 401);
        assert_string_equal(body_code(&r), "unauthorized");
        assert_int_equal(req("POST", "/api/v1/session", "{\"token\":1}", &r, NULL), 400);
        assert_int_equal(req("POST", "/api/v1/session", "{\"token\":\"a\",\"b\":1}", &r, NULL), 400);
        assert_int_equal(req("POST", "/api/v1/session", "", &r, NULL), 400);
        /* a partner token cannot sign in */
        assert_int_equal(harness_admin(&H, "POST", "/api/v1/connector/partner-tokens", NULL, "{\"name\":\"p\"}", &j),
                         201);
        partner = strdup(json_string_value(json_object_get(j, "token")));
        json_decref(j);
        assert_int_equal(sign_in(partner, &s), 403);
        free(partner);
        /* no session, a made-up one */
        assert_int_equal(req("GET", "/api/v1/session", NULL, &r, NULL), 401);
        assert_int_equal(req("GET", "/api/v1/devices", NULL, &r,
                             "Cookie: __Host-vigil_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL), 401);
        assert_string_equal(body_code(&r), "unauthenticated");
}

static void test_csrf_and_roles(void **state)
{
        static struct resp r;
        struct session sec, rd;
        char *reader = harness_new_token(&H, "reader", NULL, NULL);

        assert_int_equal(sign_in(H.token, &sec), 201);
        assert_int_equal(req("POST", "/api/v1/tokens", "{\"role\":\"reader\"}", &r, sec.cookie, NULL), 403);
        assert_string_equal(body_code(&r), "csrf_failed");
        assert_int_equal(req("POST", "/api/v1/tokens", "{\"role\":\"reader\"}", &r, sec.cookie,
                             "X-Vigil-CSRF: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL), 403);
        assert_string_equal(body_code(&r), "csrf_failed");
        assert_int_equal(req("POST", "/api/v1/tokens", "{\"role\":\"reader\"}", &r, sec.cookie, "X-Vigil-CSRF: x",
                             NULL), 403);
        assert_int_equal(req("POST", "/api/v1/tokens", "{\"role\":\"reader\"}", &r, sec.cookie, sec.csrf, NULL), 201);
        /* a bearer token needs none */
        assert_int_equal(harness_admin(&H, "POST", "/api/v1/tokens", NULL, "{\"role\":\"reader\"}", NULL), 201);

        /* a reader's session keeps the reader's role: refused an action even with the CSRF token */
        assert_non_null(reader);
        assert_int_equal(sign_in(reader, &rd), 201);
        assert_int_equal(req("POST", "/api/v1/tokens", "{\"role\":\"reader\"}", &r, rd.cookie, rd.csrf, NULL), 403);
        assert_string_equal(body_code(&r), "forbidden");
        assert_int_equal(req("POST", "/api/v1/onboarding-packages", "{\"expires\":\"1h\"}", &r, rd.cookie, rd.csrf,
                             NULL), 403);
        assert_string_equal(body_code(&r), "forbidden");
        assert_int_equal(req("GET", "/api/v1/alerts", NULL, &r, rd.cookie, NULL), 200);
        free(reader);
}

/* HEAD on the API is GET without the body. */
static void test_head(void **state)
{
        static struct resp r;
        struct session a;

        assert_int_equal(sign_in(H.token, &a), 201);
        assert_int_equal(req("HEAD", "/api/v1/session", NULL, &r, a.cookie, NULL), 200);
        assert_int_equal(r.bl, 0);
        assert_string_equal(header(&r, "Content-Type"), "application/json");
        expect_security_headers(&r);
        assert_int_equal(req("HEAD", "/api/v1/devices", NULL, &r, a.cookie, NULL), 200);
        assert_int_equal(req("HEAD", "/api/v1/devices", NULL, &r, NULL), 401);
        assert_int_equal(req("HEAD", "/api/v1/events", NULL, &r, a.cookie, NULL), 200);
        assert_string_equal(header(&r, "Content-Type"), "text/event-stream");
        assert_string_equal(header(&r, "Cache-Control"), "no-store");
}

/* Several session cookies are refused, whichever of them is valid. */
static void test_duplicate_cookies(void **state)
{
        static struct resp r;
        struct session a, b;
        char both[300];

        assert_int_equal(sign_in(H.token, &a), 201);
        assert_int_equal(req("GET", "/api/v1/session", NULL, &r, a.cookie, NULL), 200);
        /* a second __Host-vigil_session (planted for a sibling domain or a narrower
         * path, say) makes the request ambiguous: neither is taken */
        assert_int_equal(sign_in(H.token, &b), 201);
        snprintf(both, sizeof(both), "%s; %s", a.cookie, b.cookie + strlen("Cookie: "));
        assert_int_equal(req("GET", "/api/v1/session", NULL, &r, both, NULL), 401);
        assert_int_equal(req("GET", "/api/v1/devices", NULL, &r, both, NULL), 401);
        snprintf(both, sizeof(both), "%s; __Host-vigil_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", a.cookie);
        assert_int_equal(req("GET", "/api/v1/devices", NULL, &r, both, NULL), 401);
        snprintf(both, sizeof(both), "Cookie: __Host-vigil_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; %s",
                 a.cookie + strlen("Cookie: "));
        assert_int_equal(req("GET", "/api/v1/devices", NULL, &r, both, NULL), 401);
        /* other cookies around it are fine */
        snprintf(both, sizeof(both), "Cookie: theme=dark; %s; lang=\"en\"", a.cookie + strlen("Cookie: "));
        assert_int_equal(req("GET", "/api/v1/devices", NULL, &r, both, NULL), 200);
}

static void test_sign_out(void **state)
{
        static struct resp r;
        struct session s;

        assert_int_equal(sign_in(H.token, &s), 201);
        assert_int_equal(req("DELETE", "/api/v1/session", NULL, &r, s.cookie, NULL), 403);
        assert_string_equal(body_code(&r), "csrf_failed");
        assert_int_equal(req("GET", "/api/v1/devices", NULL, &r, s.cookie, NULL), 200);
        assert_int_equal(req("DELETE", "/api/v1/session", NULL, &r, s.cookie, s.csrf, NULL), 204);
        assert_non_null(header(&r, "Set-Cookie"));
        assert_non_null(strstr(header(&r, "Set-Cookie"), "__Host-vigil_session=;"));
        assert_non_null(strstr(header(&r, "Set-Cookie"), "Max-Age=0"));
        assert_int_equal(req("GET", "/api/v1/session", NULL, &r, s.cookie, NULL), 401);
        assert_int_equal(req("GET", "/api/v1/devices", NULL, &r, s.cookie, NULL), 401);
        assert_string_equal(body_code(&r), "unauthenticated");
        /* signing out again is the same answer */
        assert_int_equal(req("DELETE", "/api/v1/session", NULL, &r, s.cookie, NULL), 204);
}

static void test_revocation(void **state)
{
        static struct resp r;
        struct session s;
        char *id = NULL, *tok = harness_new_token(&H, "it_admin", "to revoke", &id), path[128];

        assert_non_null(tok);
        assert_int_equal(sign_in(tok, &s), 201);
        assert_int_equal(req("GET", "/api/v1/devices", NULL, &r, s.cookie, NULL), 200);
        snprintf(path, sizeof(path), "/api/v1/tokens/%s", id);
        /* an it_admin may not revoke tokens */
        assert_int_equal(req("DELETE", path, NULL, &r, s.cookie, s.csrf, NULL), 403);
        assert_int_equal(harness_admin(&H, "DELETE", path, NULL, NULL, NULL), 200);
        assert_int_equal(harness_admin(&H, "DELETE", path, NULL, NULL, NULL), 404);
        assert_int_equal(req("GET", "/api/v1/devices", NULL, &r, s.cookie, NULL), 401);
        assert_string_equal(body_code(&r), "session_expired");
        assert_int_equal(req("GET", "/api/v1/session", NULL, &r, s.cookie, NULL), 401);
        assert_int_equal(sign_in(tok, &s), 401);
        free(tok);
        free(id);
}

/* The last security_admin token cannot be revoked: nobody could make
 * tokens again. */
static void test_revoke_last_security_admin(void **state)
{
        static struct harness h4;
        char first[API_TOKEN_ID_LEN + 1], path[128], *id = NULL, *second;
        json_t *j = NULL;

        assert_int_equal(harness_start(&h4, NULL), 0);
        snprintf(first, sizeof(first), "%.*s", API_TOKEN_ID_LEN, h4.token + 4);
        snprintf(path, sizeof(path), "/api/v1/tokens/%s", first);
        assert_int_equal(harness_admin(&h4, "DELETE", path, NULL, NULL, &j), 409);
        assert_string_equal(httpc_error_code(j), "last_security_admin");
        json_decref(j);
        /* with another, it may go; then the other is the last */
        second = harness_new_token(&h4, "security_admin", "second", &id);
        assert_non_null(second);
        assert_int_equal(harness_admin(&h4, "DELETE", path, second, NULL, NULL), 200);
        snprintf(path, sizeof(path), "/api/v1/tokens/%s", id);
        assert_int_equal(harness_admin(&h4, "DELETE", path, second, NULL, &j), 409);
        json_decref(j);
        assert_int_equal(harness_admin(&h4, "GET", "/api/v1/devices", second, NULL, NULL), 200);
        free(second);
        free(id);
        assert_int_equal(harness_stop(&h4), 0);
}

/* A stream of GET /api/v1/events read by a thread. */
struct stream {
        pthread_t thread;
        char header[200];
        struct resp r;
        pthread_mutex_t lock;
        atomic_bool stop;
        atomic_bool done;               /* the server ended it, or stop did */
        long status;
        int64_t got_ms;                 /* when wanted first appeared; 0: not yet */
        const char *wanted;
};

static int on_progress(void *cls, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
        struct stream *s = cls;

        return atomic_load(&s->stop) ? 1 : 0;
}

static size_t on_stream(char *p, size_t size, size_t n, void *cls)
{
        struct stream *s = cls;
        size_t len;

        pthread_mutex_lock(&s->lock);
        len = on_body(p, size, n, &s->r);
        if (s->wanted && !s->got_ms && strstr(s->r.body, s->wanted))
                s->got_ms = util_mono_ms();
        pthread_mutex_unlock(&s->lock);
        return atomic_load(&s->stop) ? 0 : len;
}

static void *stream_main(void *arg)
{
        struct stream *s = arg;
        struct curl_slist *hdrs = curl_slist_append(NULL, s->header);
        CURL *c = easy("GET", "/api/v1/events", hdrs, NULL, &s->r);

        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
        curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s->status);
        curl_easy_cleanup(c);
        curl_slist_free_all(hdrs);
        atomic_store(&s->done, true);
        return NULL;
}

static struct stream *stream_open(const char *auth_header)
{
        struct stream *s = calloc(1, sizeof(*s));

        assert_non_null(s);
        snprintf(s->header, sizeof(s->header), "%s", auth_header);
        pthread_mutex_init(&s->lock, NULL);
        assert_int_equal(pthread_create(&s->thread, NULL, stream_main, s), 0);
        return s;
}

/* Waits up to ms for text in the stream. Returns whether it came. */
static bool stream_wait(struct stream *s, const char *text, unsigned ms)
{
        for (unsigned waited = 0;; waited += 10) {
                bool found;

                pthread_mutex_lock(&s->lock);
                found = strstr(s->r.body, text) != NULL;
                pthread_mutex_unlock(&s->lock);
                if (found || waited >= ms)
                        return found;
                sleep_ms(10);
        }
}

/* How many times text is in the stream so far. */
static unsigned stream_count(struct stream *s, const char *text)
{
        unsigned n = 0;

        pthread_mutex_lock(&s->lock);
        for (const char *p = strstr(s->r.body, text); p; p = strstr(p + 1, text))
                n++;
        pthread_mutex_unlock(&s->lock);
        return n;
}

static void stream_close(struct stream *s)
{
        atomic_store(&s->stop, true);
        pthread_join(s->thread, NULL);
        pthread_mutex_destroy(&s->lock);
        free(s);
}

static void test_events(void **state)
{
        static struct resp r;
        struct harness_device dev = { 0 };
        struct stream *a, *b, *c, *d;
        struct session s, rs;
        char *rid = NULL, *rtok = harness_new_token(&H, "reader", "streams", &rid), rpath[128];
        char bearer[200], want[128], timed_out[200];
        int64_t t0, t1;

        assert_int_equal(sign_in(H.token, &s), 201);
        a = stream_open(s.cookie);
        assert_true(stream_wait(a, "retry: 3000\n\n", 2000));
        assert_non_null(strstr(a->r.headers, "Content-Type: text/event-stream"));
        assert_non_null(strstr(a->r.headers, "Cache-Control: no-store"));
        expect_security_headers(&a->r);

        assert_int_equal(harness_enroll(&H, &dev, "portal-dev"), 0);
        snprintf(want, sizeof(want), "event: device\nid: ");
        assert_true(stream_wait(a, want, 2000));
        snprintf(want, sizeof(want), "{\"device_id\":\"%s\",\"change\":\"enrolled\"}", dev.id);
        assert_true(stream_wait(a, want, 2000));

        /* an alert: the alert and the device's new risk reach the stream at once */
        snprintf(want, sizeof(want), "data: {\"device_id\":\"%s\",\"risk_level\":\"high\",\"previous\":\"none\"}",
                 dev.id);
        pthread_mutex_lock(&a->lock);
        a->wanted = want;
        pthread_mutex_unlock(&a->lock);
        t0 = util_mono_ms();
        {
                char id[37];

                assert_int_equal(crypto_uuid4(id), 0);
                assert_int_equal(harness_alert_upload(&dev, id, "portal-rule", "Portal stream test", "high"), 200);
        }
        t1 = util_mono_ms();
        assert_true(stream_wait(a, want, 2000));
        assert_true(stream_wait(a, "event: alert\n", 100));
        assert_true(stream_wait(a, "\"severity\":\"high\",\"title\":\"Portal stream test\"", 100));
        assert_true(stream_wait(a, "event: risk\n", 100));
        pthread_mutex_lock(&a->lock);
        print_message("risk event %lld ms after the upload began, %lld ms after its answer\n",
                      (long long)(a->got_ms - t0), (long long)(a->got_ms - t1));
        assert_true(a->got_ms - t1 <= EVENT_BOUND_MS);
        pthread_mutex_unlock(&a->lock);

        /* a device action, as it is requested */
        {
                char path[128];
                json_t *j = NULL;

                snprintf(path, sizeof(path), "/api/v1/devices/%s/actions", dev.id);
                assert_int_equal(harness_admin(&H, "POST", path, NULL, "{\"type\":\"run_scan\",\"comment\":\"portal\","
                                               "\"timeout_s\":5}", &j), 201);
                snprintf(want, sizeof(want), "event: action\nid: ");
                assert_true(stream_wait(a, want, 1000));
                snprintf(want, sizeof(want), "{\"action_id\":\"%s\",\"device_id\":\"%s\",\"type\":\"run_scan\","
                         "\"status\":\"pending\"}", json_string_value(json_object_get(j, "id")), dev.id);
                assert_true(stream_wait(a, want, 1000));
                /* no agent runs: in 5 s it times out, and that is announced
                 * (seen below, on a stream opened since) without anyone asking */
                snprintf(timed_out, sizeof(timed_out), "{\"action_id\":\"%s\",\"device_id\":\"%s\","
                         "\"type\":\"run_scan\",\"status\":\"timed_out\"}",
                         json_string_value(json_object_get(j, "id")), dev.id);
                json_decref(j);
        }

        /* the cap: a bearer's stream and a reader's are fine, a fourth gets 503 */
        snprintf(bearer, sizeof(bearer), "Authorization: Bearer %s", H.token);
        b = stream_open(bearer);
        assert_true(stream_wait(b, "retry: 3000", 2000));
        assert_non_null(rtok);
        assert_int_equal(sign_in(rtok, &rs), 201);
        d = stream_open(rs.cookie);
        assert_true(stream_wait(d, "retry: 3000", 2000));
        assert_int_equal(req("GET", "/api/v1/events", NULL, &r, bearer, NULL), 503);
        assert_string_equal(body_code(&r), "too_many_streams");
        /* the refusal wrote a comment to every stream, so that clients that
         * went away are noticed: one that goes right after a keepalive frees
         * its place for a retry within seconds, not at the next keepalive */
        assert_true(stream_wait(b, ": ping\n\n", 1000));
        assert_true(stream_wait(b, ": keepalive\n\n", 16000));
        assert_true(stream_wait(b, timed_out, 8000));      /* 5 s after it was asked, and the 1 s tick */
        stream_close(a);
        c = NULL;
        for (int i = 0; i < 6 && !c; i++) {
                sleep_ms(500);
                c = stream_open(bearer);
                if (!stream_wait(c, "retry: 3000", 1000)) {
                        stream_close(c);
                        c = NULL;
                }
        }
        assert_non_null(c);
        /* seconds after a keepalive, the stream of a revoked token is
         * closed by the server at once, not at the next keepalive */
        snprintf(rpath, sizeof(rpath), "/api/v1/tokens/%s", rid);
        assert_int_equal(harness_admin(&H, "DELETE", rpath, NULL, NULL, NULL), 200);
        for (int i = 0; i < 20 && !atomic_load(&d->done); i++)
                sleep_ms(100);
        assert_true(atomic_load(&d->done));
        assert_int_equal(d->status, 200);
        {
                unsigned n = stream_count(b, ": keepalive\n\n");

                for (int i = 0; i < 170 && stream_count(b, ": keepalive\n\n") == n; i++)
                        sleep_ms(100);
                assert_int_equal(stream_count(b, ": keepalive\n\n"), n + 1);
        }
        /* so does the stream of a session signed out */
        stream_close(d);
        assert_int_equal(sign_in(H.token, &rs), 201);
        d = stream_open(rs.cookie);
        assert_true(stream_wait(d, "retry: 3000", 2000));
        assert_int_equal(req("DELETE", "/api/v1/session", NULL, &r, rs.cookie, rs.csrf, NULL), 204);
        for (int i = 0; i < 20 && !atomic_load(&d->done); i++)
                sleep_ms(100);
        assert_true(atomic_load(&d->done));
        stream_close(b);
        stream_close(c);
        stream_close(d);
        free(rtok);
        free(rid);
        /* without a token or a session, no stream */
        assert_int_equal(req("GET", "/api/v1/events", NULL, &r, NULL), 401);
        httpc_free(dev.c);
}

/* vigild stops cleanly, within its usual time, with event streams open
 * (idle: their connections suspended) and a client opening streams while
 * it stops. */
static atomic_bool opening;

/* Opens short event streams one after another while opening is set. */
static void *open_streams_main(void *arg)
{
        struct curl_slist *hdrs = curl_slist_append(NULL, arg);

        while (atomic_load(&opening)) {
                static struct resp r;
                CURL *c = easy("GET", "/api/v1/events", hdrs, NULL, &r);

                curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 100L);
                curl_easy_perform(c);
                curl_easy_cleanup(c);
        }
        curl_slist_free_all(hdrs);
        return NULL;
}

static void test_stop_with_streams(void **state)
{
        pthread_t opener;
        static struct harness h3;
        struct harness saved = H;
        struct stream *s[3];
        char bearer[200];
        int64_t t0;

        assert_int_equal(harness_start(&h3, NULL), 0);
        H = h3;
        snprintf(bearer, sizeof(bearer), "Authorization: Bearer %s", H.token);
        for (int i = 0; i < 3; i++) {
                s[i] = stream_open(bearer);
                assert_true(stream_wait(s[i], "retry: 3000", 2000));
        }
        atomic_store(&opening, true);
        assert_int_equal(pthread_create(&opener, NULL, open_streams_main, bearer), 0);
        sleep_ms(300);
        t0 = util_mono_ms();
        assert_int_equal(harness_stop(&h3), 0);
        assert_true(util_mono_ms() - t0 < 5000);
        atomic_store(&opening, false);
        pthread_join(opener, NULL);
        for (int i = 0; i < 3; i++) {
                for (int k = 0; k < 50 && !atomic_load(&s[i]->done); k++)
                        sleep_ms(100);
                assert_true(atomic_load(&s[i]->done));
                stream_close(s[i]);
        }
        H = saved;
}

/* Idle and maximum expiry, with a vigild of short timeouts. */
static void test_expiry(void **state)
{
        static struct harness h2;
        static struct resp r;
        struct harness saved = H;
        struct session s;

        assert_int_equal(harness_start(&h2, "portal_session_idle = 2s\nportal_session_max = 4s\n"), 0);
        H = h2;
        /* idle: no request for 2 s ends it */
        assert_int_equal(req("POST", "/api/v1/session", "", &r, NULL), 400);
        {
                char body[256];

                snprintf(body, sizeof(body), "{\"token\":\"%s\"}", H.token);
                assert_int_equal(req("POST", "/api/v1/session", body, &r, NULL), 201);
                snprintf(s.cookie, sizeof(s.cookie), "Cookie: %.*s", (int)strcspn(header(&r, "Set-Cookie"), ";"),
                         header(&r, "Set-Cookie"));
                assert_non_null(strstr(r.body, "\"idle_timeout\":2"));
        }
        assert_int_equal(req("GET", "/api/v1/devices", NULL, &r, s.cookie, NULL), 200);
        sleep_ms(2600);
        assert_int_equal(req("GET", "/api/v1/devices", NULL, &r, s.cookie, NULL), 401);
        assert_string_equal(body_code(&r), "session_expired");
        /* max: requests every 800 ms keep it from idling, not past 4 s */
        {
                char body[256];
                int64_t start = util_now();
                long st = 200;

                snprintf(body, sizeof(body), "{\"token\":\"%s\"}", H.token);
                assert_int_equal(req("POST", "/api/v1/session", body, &r, NULL), 201);
                snprintf(s.cookie, sizeof(s.cookie), "Cookie: %.*s", (int)strcspn(header(&r, "Set-Cookie"), ";"),
                         header(&r, "Set-Cookie"));
                while (st == 200 && util_now() - start < 8) {
                        sleep_ms(800);
                        st = req("GET", "/api/v1/session", NULL, &r, s.cookie, NULL);
                }
                assert_int_equal(st, 401);
                assert_string_equal(body_code(&r), "session_expired");
                assert_true(util_now() - start >= 3 && util_now() - start <= 6);
        }
        H = saved;
        assert_int_equal(harness_stop(&h2), 0);

        /* the longest maximum a duration can say: the session says the last
         * time RFC 3339 can write, not an overflow into the past */
        static const char *const longest[] = { "portal_session_max = 9223372036854775807s\n",
                                               "portal_session_max = 100000000d\n" };
        for (size_t i = 0; i < sizeof(longest) / sizeof(longest[0]); i++) {
                assert_int_equal(harness_start(&h2, longest[i]), 0);
                H = h2;
                assert_int_equal(sign_in(H.token, &s), 201);
                assert_int_equal(req("GET", "/api/v1/session", NULL, &r, s.cookie, NULL), 200);
                assert_non_null(strstr(r.body, "\"expires\":\"9999-12-31T23:59:59Z\""));
                H = saved;
                assert_int_equal(harness_stop(&h2), 0);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_static_files),
                cmocka_unit_test(test_sign_in_roles),
                cmocka_unit_test(test_csrf_and_roles),
                cmocka_unit_test(test_head),
                cmocka_unit_test(test_duplicate_cookies),
                cmocka_unit_test(test_sign_out),
                cmocka_unit_test(test_revocation),
                cmocka_unit_test(test_revoke_last_security_admin),
                cmocka_unit_test(test_events),
                cmocka_unit_test(test_stop_with_streams),
                cmocka_unit_test(test_expiry),
        };
        int r;

        curl_global_init(CURL_GLOBAL_DEFAULT);
        r = cmocka_run_group_tests(tests, group_setup, group_teardown);
        curl_global_cleanup();
        return r;
}
