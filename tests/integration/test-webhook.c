/* Integration: outgoing webhooks on a real vigild, delivered to real
 * receivers the test runs (libmicrohttpd on loopback, plain HTTP and HTTPS
 * with a private CA). Covers a real risk change (an alert uploaded by an
 * enrolled device) received, its signature and body checked; alert_raised
 * going only to its subscribers; a receiver answering 500 twice then 200
 * (attempts = 3 in the log); a receiver that is down and then comes up;
 * in-order delivery per subscription; a private CA and the system store;
 * an attempt timing out while the publisher is not held up; the last
 * attempt making a delivery failed; a pending delivery sent after vigild
 * restarts; the queue cap; disabling; bad inputs refused with clear errors;
 * roles; and the CLI. Retries are made fast through vigild.conf
 * (webhook_retry_base_ms, webhook_retry_max), as documented. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <microhttpd.h>

#include "crypto/crypto.h"
#include "tests/integration/harness.h"
#include "util/strutil.h"
#include "util/vbuf.h"


#define CONFIG "webhook_retry_base_ms = 50\nwebhook_retry_max = 1s\nwebhook_max_attempts = 8\nwebhook_timeout = 1s\n"
#define GOT_MAX 64
#define SECRET "a-receiver-secret-of-enough-length"

static struct harness H;
static char *reader_token, *it_token;
static struct harness_device dev;

/* ---- the receiver ---- */

struct got {
        char event[32], delivery[40], ts[24], sig[80];
        char *body;
        unsigned answered;
};

struct receiver {
        struct MHD_Daemon *mhd;
        unsigned port;
        pthread_mutex_t lock;
        unsigned script[8];             /* statuses for the first requests, then 200 */
        size_t n_script;
        unsigned delay_ms;              /* before answering */
        struct got got[GOT_MAX];
        size_t n_got;
};

static void header_copy(struct MHD_Connection *c, const char *name, char *out, size_t size)
{
        const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);

        snprintf(out, size, "%s", v ? v : "");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *data_size, void **req_cls)
{
        struct receiver *rv = cls;
        struct vbuf *body = *req_cls;
        struct MHD_Response *resp;
        enum MHD_Result ret;
        struct got *g;
        unsigned status = 200;

        if (!body) {
                body = calloc(1, sizeof(*body));
                vbuf_init(body, 1 << 20);
                *req_cls = body;
                return MHD_YES;
        }
        if (*data_size) {
                vbuf_append(body, data, *data_size);
                *data_size = 0;
                return MHD_YES;
        }
        if (rv->delay_ms)
                usleep(rv->delay_ms * 1000);
        pthread_mutex_lock(&rv->lock);
        if (rv->n_got < GOT_MAX) {
                g = &rv->got[rv->n_got];
                if (rv->n_got < rv->n_script)
                        status = rv->script[rv->n_got];
                header_copy(c, "X-Vigil-Event", g->event, sizeof(g->event));
                header_copy(c, "X-Vigil-Delivery", g->delivery, sizeof(g->delivery));
                header_copy(c, "X-Vigil-Timestamp", g->ts, sizeof(g->ts));
                header_copy(c, "X-Vigil-Signature", g->sig, sizeof(g->sig));
                g->body = strdup(vbuf_str(body));
                g->answered = status;
                rv->n_got++;
        }
        pthread_mutex_unlock(&rv->lock);
        resp = MHD_create_response_from_buffer(2, "{}", MHD_RESPMEM_PERSISTENT);
        ret = MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode toe)
{
        struct vbuf *body = *req_cls;

        if (body) {
                vbuf_release(body);
                free(body);
        }
}

/* A free loopback port (bound and released). */
static unsigned free_port(void)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
        close(fd);
        return ntohs(a.sin_port);
}

/* Starts rv on port (0: any), plain HTTP, or HTTPS with cert and key. */
static void receiver_start(struct receiver *rv, unsigned port, const char *cert, const char *key)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                 .sin_port = htons((uint16_t)port) };
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | (cert ? MHD_USE_TLS : 0);

        pthread_mutex_init(&rv->lock, NULL);
        if (cert)
                rv->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, rv,
                                           MHD_OPTION_SOCK_ADDR, &a, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
                                           MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_HTTPS_MEM_KEY, key,
                                           MHD_OPTION_END);
        else
                rv->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, rv,
                                           MHD_OPTION_SOCK_ADDR, &a, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
                                           MHD_OPTION_END);
        assert_non_null(rv->mhd);
        rv->port = MHD_get_daemon_info(rv->mhd, MHD_DAEMON_INFO_BIND_PORT)->port;
}

static void receiver_stop(struct receiver *rv)
{
        if (rv->mhd)
                MHD_stop_daemon(rv->mhd);
        rv->mhd = NULL;
        for (size_t i = 0; i < rv->n_got; i++)
                free(rv->got[i].body);
        rv->n_got = 0;
        pthread_mutex_destroy(&rv->lock);
}

static size_t received(struct receiver *rv)
{
        size_t n;

        pthread_mutex_lock(&rv->lock);
        n = rv->n_got;
        pthread_mutex_unlock(&rv->lock);
        return n;
}

/* Waits up to seconds for rv to have received n requests. */
static void wait_received(struct receiver *rv, size_t n, int seconds)
{
        for (int i = 0; i < seconds * 20 && received(rv) < n; i++)
                usleep(50000);
        assert_true(received(rv) >= n);
}

/* True if the signature header of g is HMAC-SHA256(secret, ts "." body), computed here on its own. */
static bool signature_ok(const struct got *g, const char *secret)
{
        uint8_t mac[CRYPTO_SHA256_LEN];
        char hex[2 * CRYPTO_SHA256_LEN + 1], *msg;
        size_t n = strlen(g->ts) + 1 + strlen(g->body);

        msg = malloc(n + 1);
        snprintf(msg, n + 1, "%s.%s", g->ts, g->body);
        assert_int_equal(crypto_hmac_sha256(secret, strlen(secret), msg, n, mac), 0);
        free(msg);
        util_hex_encode(mac, sizeof(mac), hex);
        return strncmp(g->sig, "sha256=", 7) == 0 && strcmp(g->sig + 7, hex) == 0;
}

/* ---- vigild and the API ---- */

static int group_setup(void **state)
{
        if (harness_start(&H, CONFIG) < 0)
                return -1;
        if (harness_enroll(&H, &dev, "dev-w") < 0)
                return -1;
        reader_token = harness_new_token(&H, "reader", NULL, NULL);
        it_token = harness_new_token(&H, "it_admin", NULL, NULL);
        return reader_token && it_token ? 0 : -1;
}

static int group_teardown(void **state)
{
        httpc_free(dev.c);
        free(reader_token);
        free(it_token);
        return harness_stop(&H);
}

/* Uploads one alert of the device; returns the HTTP status. */
static long upload_alert(const char *id, const char *severity)
{
        json_t *b = json_pack("{s:[{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:[s],s:[s],s:s,s:s,s:i,s:{s:i,s:i},s:{s:s}}]}",
                              "alerts", "change", "new", "id", id, "rule_id", "rule-w", "title", "Webhook test",
                              "source", "sigma", "severity", severity, "rule_level", severity,
                              "techniques", "T1059", "tactics", "execution",
                              "first_seen", "2026-11-30T03:00:00Z", "last_seen", "2026-11-30T03:00:00Z",
                              "count", 1, "tree", "pid", 10, "start_ticks", 5, "event", "EventType", "x");
        char *text = json_dumps(b, JSON_COMPACT), err[512];
        json_t *j = NULL;
        long st = -1;

        if (httpc_request(dev.c, "POST", "/agent/v1/alerts", NULL, text, strlen(text), &st, &j, err,
                          sizeof(err)) < 0)
                fprintf(stderr, "upload: %s\n", err);
        json_decref(j);
        json_decref(b);
        free(text);
        return st;
}

/* Creates a webhook; returns its id (heap). */
static char *webhook_create(const char *name, const char *url, const char *events_json, const char *extra)
{
        char body[80000];
        json_t *j = NULL;
        char *id;

        snprintf(body, sizeof(body), "{\"name\":\"%s\",\"url\":\"%s\",\"events\":%s,\"secret\":\"" SECRET "\"%s%s}",
                 name, url, events_json, extra ? "," : "", extra ? extra : "");
        assert_int_equal(harness_admin(&H, "POST", "/api/v1/webhooks", NULL, body, &j), 201);
        assert_string_equal(json_string_value(json_object_get(j, "secret")), SECRET);
        id = strdup(json_string_value(json_object_get(j, "id")));
        json_decref(j);
        return id;
}

static void webhook_delete(char *id)
{
        char path[128];

        snprintf(path, sizeof(path), "/api/v1/webhooks/%s", id);
        assert_int_equal(harness_admin(&H, "DELETE", path, NULL, NULL, NULL), 200);
        free(id);
}

/* Queues a ping; returns its delivery id in out. */
static void ping(const char *id, char out[40])
{
        char path[128];
        json_t *j = NULL;

        snprintf(path, sizeof(path), "/api/v1/webhooks/%s/test", id);
        assert_int_equal(harness_admin(&H, "POST", path, NULL, NULL, &j), 202);
        snprintf(out, 40, "%s", json_string_value(json_object_get(j, "delivery_id")));
        json_decref(j);
}

/* The delivery log of a webhook (newest first). */
static json_t *deliveries(const char *id, const char *query)
{
        char path[256];
        json_t *j = NULL;

        snprintf(path, sizeof(path), "/api/v1/webhooks/%s/deliveries%s", id, query ? query : "");
        assert_int_equal(harness_admin(&H, "GET", path, NULL, NULL, &j), 200);
        return j;
}

/* The log row of one delivery (a new reference), or NULL. */
static json_t *delivery(const char *id, const char *delivery_id)
{
        json_t *j = deliveries(id, "?limit=500"), *v, *found = NULL;
        size_t i;

        json_array_foreach(json_object_get(j, "value"), i, v)
                if (strcmp(json_string_value(json_object_get(v, "id")), delivery_id) == 0)
                        found = json_incref(v);
        json_decref(j);
        return found;
}

/* Waits up to seconds for the delivery to reach status; returns its row. */
static json_t *wait_status(const char *id, const char *delivery_id, const char *status, int seconds)
{
        json_t *row = NULL;

        for (int i = 0; i < seconds * 10; i++) {
                json_decref(row);
                row = delivery(id, delivery_id);
                if (row && strcmp(json_string_value(json_object_get(row, "status")), status) == 0)
                        return row;
                usleep(100000);
        }
        fprintf(stderr, "delivery %s never became %s; last row:\n", delivery_id, status);
        if (row)
                json_dumpf(row, stderr, JSON_INDENT(2));
        fail();
        return NULL;
}

static int64_t attempts_of(const json_t *row)
{
        return json_integer_value(json_object_get(row, "attempts"));
}

/* Reads the delivery's row every 50 ms, 50 times at most, until it shows n
 * attempts or more; returns the last row read (a new reference, or NULL). */
static json_t *wait_attempts(const char *id, const char *delivery_id, int64_t n)
{
        json_t *row = NULL;

        for (int i = 0; i < 50; i++) {
                json_decref(row);
                row = delivery(id, delivery_id);
                if (attempts_of(row) >= n)
                        break;
                usleep(50000);
        }
        return row;
}

static void url_of(const struct receiver *rv, const char *scheme, char *out, size_t size)
{
        snprintf(out, size, "%s://127.0.0.1:%u/hooks/vigil?x=1", scheme, rv->port);
}

/* ---- tests ---- */

static void expect_400(const char *body, const char *needle)
{
        json_t *j = NULL;
        const char *msg;

        if (harness_admin(&H, "POST", "/api/v1/webhooks", NULL, body, &j) != 400) {
                fprintf(stderr, "not refused: %s\n", body);
                fail();
        }
        msg = httpc_error_message(j, 400);
        if (!strstr(msg, needle)) {
                fprintf(stderr, "for %s: message '%s' lacks '%s'\n", body, msg, needle);
                fail();
        }
        json_decref(j);
}

static void test_bad_inputs(void **state)
{
        char big[300], body[600];
        json_t *j = NULL;

        expect_400("{\"name\":\"x\",\"url\":\"http://10.1.2.3/h\",\"events\":[\"risk_changed\"]}", "loopback");
        expect_400("{\"name\":\"x\",\"url\":\"ftp://127.0.0.1/h\",\"events\":[\"risk_changed\"]}", "http(s)://");
        expect_400("{\"name\":\"x\",\"url\":\"https://u:p@example.com/h\",\"events\":[\"risk_changed\"]}",
                   "credentials");
        expect_400("{\"name\":\"x\",\"url\":\"https://example.com/h#f\",\"events\":[\"risk_changed\"]}", "fragment");
        expect_400("{\"name\":\"x\",\"url\":\"https:///h\",\"events\":[\"risk_changed\"]}", "host");
        expect_400("{\"name\":\"x\",\"url\":\"https://example.com/h\",\"events\":[\"risk_change\"]}",
                   "unknown event 'risk_change' in 'events': valid events are alert_raised, risk_changed, connector_changed, partner_risk_changed, groups_changed, compliance_changed and noncompliance_notify");
        expect_400("{\"name\":\"x\",\"url\":\"https://example.com/h\",\"events\":[\"risk_changed\",\"risk_changed\"]}",
                   "twice");
        expect_400("{\"name\":\"x\",\"url\":\"https://example.com/h\",\"events\":[]}", "1 to 16");
        expect_400("{\"name\":\"x\",\"url\":\"https://example.com/h\",\"events\":\"risk_changed\"}", "array");
        expect_400("{\"name\":\"x\",\"url\":\"https://example.com/h\"}", "'events' is required");
        expect_400("{\"url\":\"https://example.com/h\",\"events\":[\"risk_changed\"]}", "'name' is required");
        expect_400("{\"name\":\"x\",\"url\":\"https://example.com/h\",\"events\":[\"risk_changed\"],\"secret\":\"short\"}",
                   "'secret' must be 16 to 256");
        expect_400("{\"name\":\"x\",\"url\":\"https://example.com/h\",\"events\":[\"risk_changed\"],\"ca_pem\":\"nope\"}",
                   "PEM certificate");
        expect_400("{\"name\":\"x\",\"url\":\"https://example.com/h\",\"events\":[\"risk_changed\"],\"enabled\":1}",
                   "true or false");
        expect_400("{\"name\":\"x\",\"url\":\"https://example.com/h\",\"events\":[\"risk_changed\"],\"evnts\":[]}",
                   "unknown member 'evnts'");
        memset(big, 'n', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        snprintf(body, sizeof(body), "{\"name\":\"%s\",\"url\":\"https://example.com/h\",\"events\":[\"risk_changed\"]}",
                 big);
        expect_400(body, "at most 128 bytes");
        /* nothing was stored */
        assert_int_equal(harness_admin(&H, "GET", "/api/v1/webhooks", NULL, NULL, &j), 200);
        assert_int_equal(json_integer_value(json_object_get(j, "count")), 0);
        json_decref(j);
        assert_int_equal(harness_admin(&H, "PATCH", "/api/v1/webhooks/00000000-0000-4000-8000-000000000000", NULL,
                                       "{\"enabled\":false}", NULL), 404);
        assert_int_equal(harness_admin(&H, "POST", "/api/v1/webhooks/00000000-0000-4000-8000-000000000000/test",
                                       NULL, NULL, NULL), 404);
}

static void test_roles_and_crud(void **state)
{
        char *id;
        char path[160];
        json_t *j = NULL;

        assert_int_equal(harness_admin(&H, "POST", "/api/v1/webhooks", reader_token,
                                       "{\"name\":\"r\",\"url\":\"https://example.com/h\",\"events\":[\"risk_changed\"]}",
                                       NULL), 403);
        assert_int_equal(harness_admin(&H, "POST", "/api/v1/webhooks", it_token,
                                       "{\"name\":\"by-it\",\"url\":\"https://example.com/h\","
                                       "\"events\":[\"alert_raised\"],\"enabled\":false}", &j), 201);
        /* a generated secret: 32 random bytes in hex, shown once */
        assert_int_equal(strlen(json_string_value(json_object_get(j, "secret"))), 64);
        id = strdup(json_string_value(json_object_get(j, "id")));
        json_decref(j);
        snprintf(path, sizeof(path), "/api/v1/webhooks/%s", id);
        assert_int_equal(harness_admin(&H, "GET", path, reader_token, NULL, &j), 200);
        assert_null(json_object_get(j, "secret"));
        assert_false(json_is_true(json_object_get(j, "enabled")));
        json_decref(j);
        assert_int_equal(harness_admin(&H, "POST", "/api/v1/webhooks", NULL,
                                       "{\"name\":\"by-it\",\"url\":\"https://example.com/h\",\"events\":[\"risk_changed\"]}",
                                       &j), 409);
        assert_string_equal(httpc_error_code(j), "webhook_name_taken");
        json_decref(j);
        assert_int_equal(harness_admin(&H, "PATCH", path, reader_token, "{\"enabled\":true}", NULL), 403);
        assert_int_equal(harness_admin(&H, "PATCH", path, NULL, "{\"events\":[\"nope\"]}", NULL), 400);
        assert_int_equal(harness_admin(&H, "PATCH", path, it_token, "{\"events\":[\"risk_changed\",\"alert_raised\"],"
                                       "\"url\":\"https://hooks.example.com/v\"}", &j), 200);
        assert_int_equal(json_array_size(json_object_get(j, "events")), 2);
        assert_string_equal(json_string_value(json_object_get(j, "url")), "https://hooks.example.com/v");
        json_decref(j);
        /* a disabled webhook cannot be tested */
        snprintf(path, sizeof(path), "/api/v1/webhooks/%s/test", id);
        assert_int_equal(harness_admin(&H, "POST", path, NULL, NULL, &j), 409);
        assert_string_equal(httpc_error_code(j), "webhook_disabled");
        json_decref(j);
        snprintf(path, sizeof(path), "/api/v1/webhooks/%s/deliveries?status=lost", id);
        assert_int_equal(harness_admin(&H, "GET", path, reader_token, NULL, NULL), 400);
        snprintf(path, sizeof(path), "/api/v1/webhooks/%s", id);
        assert_int_equal(harness_admin(&H, "DELETE", path, reader_token, NULL, NULL), 403);
        assert_int_equal(harness_admin(&H, "DELETE", path, it_token, NULL, NULL), 200);
        assert_int_equal(harness_admin(&H, "GET", path, NULL, NULL, NULL), 404);
        free(id);
}

/* A real risk change: an alert uploaded by the device reaches the receiver,
 * signed, with the change and the alert that caused it. */
static void test_risk_changed(void **state)
{
        struct receiver rv = { 0 }, rv2 = { 0 };
        char url[128], alert_id[37];
        char *risk_hook, *alert_hook;
        json_t *body, *data, *row;
        int64_t ts;
        uint64_t t;

        receiver_start(&rv, 0, NULL, NULL);
        receiver_start(&rv2, 0, NULL, NULL);
        url_of(&rv, "http", url, sizeof(url));
        risk_hook = webhook_create("risk", url, "[\"risk_changed\"]", NULL);
        url_of(&rv2, "http", url, sizeof(url));
        alert_hook = webhook_create("alerts", url, "[\"alert_raised\"]", NULL);
        assert_int_equal(crypto_uuid4(alert_id), 0);
        assert_int_equal(upload_alert(alert_id, "high"), 200);
        wait_received(&rv, 1, 10);
        wait_received(&rv2, 1, 10);
        usleep(300000);
        assert_int_equal(received(&rv), 1);
        assert_int_equal(received(&rv2), 1);

        assert_string_equal(rv.got[0].event, "risk_changed");
        assert_true(signature_ok(&rv.got[0], SECRET));
        assert_int_equal(util_uint_parse(rv.got[0].ts, INT64_MAX, &t), 0);
        ts = (int64_t)t;
        assert_true(ts <= util_now() && ts > util_now() - 60);
        body = json_loads(rv.got[0].body, 0, NULL);
        assert_non_null(body);
        assert_string_equal(json_string_value(json_object_get(body, "type")), "risk_changed");
        assert_int_equal(strlen(json_string_value(json_object_get(body, "id"))), 36);
        assert_string_equal(json_string_value(json_object_get(body, "device_id")), dev.id);
        assert_int_equal(strlen(json_string_value(json_object_get(body, "time"))), 20);
        data = json_object_get(body, "data");
        assert_string_equal(json_string_value(json_object_get(data, "from")), "none");
        assert_string_equal(json_string_value(json_object_get(data, "to")), "high");
        assert_string_equal(json_string_value(json_array_get(json_object_get(data, "alert_ids"), 0)), alert_id);
        assert_false(json_is_true(json_object_get(data, "alert_ids_more")));
        /* a forged signature would not verify */
        rv.got[0].body[2] ^= 1;
        assert_false(signature_ok(&rv.got[0], SECRET));
        rv.got[0].body[2] ^= 1;

        row = wait_status(risk_hook, rv.got[0].delivery, "delivered", 5);
        assert_int_equal(attempts_of(row), 1);
        assert_int_equal(json_integer_value(json_object_get(row, "last_http_status")), 200);
        assert_string_equal(json_string_value(json_object_get(row, "event_type")), "risk_changed");
        assert_string_equal(json_string_value(json_object_get(row, "event_id")),
                            json_string_value(json_object_get(body, "id")));
        assert_true(json_is_null(json_object_get(row, "next_attempt_at")));
        json_decref(row);
        json_decref(body);

        assert_string_equal(rv2.got[0].event, "alert_raised");
        body = json_loads(rv2.got[0].body, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(json_object_get(body, "data"), "alert_id")), alert_id);
        assert_string_equal(json_string_value(json_object_get(json_object_get(body, "data"), "severity")), "high");
        json_decref(body);

        /* resolving the alert: risk falls back to none, one more risk_changed */
        {
                char b[200];
                snprintf(b, sizeof(b), "{\"device_id\":\"%s\",\"comment\":\"done\"}", dev.id);
                assert_int_equal(harness_admin(&H, "POST", "/api/v1/alerts/resolve", NULL, b, NULL), 200);
        }
        wait_received(&rv, 2, 10);
        body = json_loads(rv.got[1].body, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(json_object_get(body, "data"), "to")), "none");
        json_decref(body);
        receiver_stop(&rv);
        receiver_stop(&rv2);
        webhook_delete(risk_hook);
        webhook_delete(alert_hook);
}

/* 500, 500, then 200: delivered on the third attempt, in the log with
 * attempts = 3; every attempt carries the same delivery id, signed anew. */
static void test_retry_then_delivered(void **state)
{
        struct receiver rv = { .script = { 500, 500 }, .n_script = 2 };
        char url[128], did[40];
        char *hook;
        json_t *row;

        receiver_start(&rv, 0, NULL, NULL);
        url_of(&rv, "http", url, sizeof(url));
        hook = webhook_create("retry", url, "[\"risk_changed\"]", NULL);
        ping(hook, did);
        row = wait_status(hook, did, "delivered", 10);
        assert_int_equal(attempts_of(row), 3);
        assert_int_equal(json_integer_value(json_object_get(row, "last_http_status")), 200);
        json_decref(row);
        assert_int_equal(received(&rv), 3);
        for (int i = 0; i < 3; i++) {
                assert_string_equal(rv.got[i].delivery, did);
                assert_string_equal(rv.got[i].event, "ping");
                assert_true(signature_ok(&rv.got[i], SECRET));
        }
        assert_int_equal(rv.got[0].answered, 500);
        assert_int_equal(rv.got[2].answered, 200);
        receiver_stop(&rv);
        webhook_delete(hook);
}

/* Deliveries of one subscription go in order: while the first is retried,
 * the later ones wait. */
static void test_in_order(void **state)
{
        struct receiver rv = { .script = { 503, 503, 503 }, .n_script = 3 };
        char url[128], d[3][40];
        char *hook;
        json_t *row;

        receiver_start(&rv, 0, NULL, NULL);
        url_of(&rv, "http", url, sizeof(url));
        hook = webhook_create("order", url, "[\"risk_changed\"]", NULL);
        for (int i = 0; i < 3; i++)
                ping(hook, d[i]);
        row = wait_status(hook, d[2], "delivered", 10);
        json_decref(row);
        assert_int_equal(received(&rv), 6);
        for (int i = 0; i < 4; i++)
                assert_string_equal(rv.got[i].delivery, d[0]);
        assert_string_equal(rv.got[4].delivery, d[1]);
        assert_string_equal(rv.got[5].delivery, d[2]);
        receiver_stop(&rv);
        webhook_delete(hook);
}

/* A receiver down (connection refused) and then up. */
static void test_down_then_up(void **state)
{
        struct receiver rv = { 0 };
        char url[128], did[40];
        char *hook;
        json_t *row = NULL;
        unsigned port = free_port();

        snprintf(url, sizeof(url), "http://localhost:%u/h", port);
        hook = webhook_create("down", url, "[\"risk_changed\"]", NULL);
        ping(hook, did);
        row = wait_attempts(hook, did, 2);
        assert_true(attempts_of(row) >= 2);
        assert_string_equal(json_string_value(json_object_get(row, "status")), "pending");
        assert_true(json_is_null(json_object_get(row, "last_http_status")));
        assert_non_null(json_string_value(json_object_get(row, "last_error")));
        assert_true(json_is_string(json_object_get(row, "next_attempt_at")));
        fprintf(stderr, "receiver down: %s\n", json_string_value(json_object_get(row, "last_error")));
        json_decref(row);
        receiver_start(&rv, port, NULL, NULL);
        row = wait_status(hook, did, "delivered", 10);
        assert_true(attempts_of(row) >= 3);
        assert_true(json_is_null(json_object_get(row, "last_error")));
        json_decref(row);
        assert_int_equal(received(&rv), 1);
        receiver_stop(&rv);
        webhook_delete(hook);
}

/* An HTTPS receiver with a certificate from a private CA: verified with
 * the webhook's ca_pem; without it (system trust store), refused. */
static void test_private_ca(void **state)
{
        const char *names[] = { "127.0.0.1" };
        char *ca_pem, *ca_key, *key, *cert, url[128], did[40], extra[8192], *quoted;
        struct crypto_ca *ca;
        size_t l1, l2, l3, l4;
        struct receiver rv = { 0 };
        char *hook, *hook2;
        json_t *row, *s;

        assert_int_equal(crypto_ca_create("Receiver CA", 30, &ca_pem, &l1, &ca_key, &l2), 0);
        assert_int_equal(crypto_ca_load(ca_pem, l1, ca_key, l2, &ca), 0);
        assert_int_equal(crypto_key_generate(&key, &l3), 0);
        assert_int_equal(crypto_ca_issue_server(ca, key, l3, names, 1, 30, &cert, &l4), 0);
        receiver_start(&rv, 0, cert, key);
        url_of(&rv, "https", url, sizeof(url));
        s = json_string(ca_pem);
        quoted = json_dumps(s, JSON_ENCODE_ANY);
        snprintf(extra, sizeof(extra), "\"ca_pem\":%s", quoted);
        hook = webhook_create("private-ca", url, "[\"risk_changed\"]", extra);
        ping(hook, did);
        row = wait_status(hook, did, "delivered", 10);
        assert_int_equal(attempts_of(row), 1);
        json_decref(row);
        {
                char path[128];
                json_t *j = NULL;
                snprintf(path, sizeof(path), "/api/v1/webhooks/%s", hook);
                assert_int_equal(harness_admin(&H, "GET", path, NULL, NULL, &j), 200);
                assert_string_equal(json_string_value(json_object_get(json_object_get(j, "ca"), "subject_cn")),
                                    "Receiver CA");
                json_decref(j);
        }
        hook2 = webhook_create("system-store", url, "[\"risk_changed\"]", NULL);
        ping(hook2, did);
        row = wait_attempts(hook2, did, 1);
        assert_string_equal(json_string_value(json_object_get(row, "status")), "pending");
        fprintf(stderr, "without the CA: %s\n", json_string_value(json_object_get(row, "last_error")));
        assert_non_null(json_string_value(json_object_get(row, "last_error")));
        json_decref(row);
        assert_int_equal(received(&rv), 1);
        webhook_delete(hook2);
        receiver_stop(&rv);
        webhook_delete(hook);
        crypto_ca_free(ca);
        free(quoted);
        json_decref(s);
        free(ca_pem);
        free(ca_key);
        free(key);
        free(cert);
}

/* A receiver slower than webhook_timeout: the attempt times out, and the
 * agent's upload that raised the event is answered without waiting for it. */
static void test_timeout_not_blocking(void **state)
{
        struct receiver rv = { .delay_ms = 2500 };
        char url[128], alert_id[37];
        char *hook;
        json_t *j, *row = NULL;
        int64_t t0;

        receiver_start(&rv, 0, NULL, NULL);
        url_of(&rv, "http", url, sizeof(url));
        hook = webhook_create("slow", url, "[\"alert_raised\"]", NULL);
        assert_int_equal(crypto_uuid4(alert_id), 0);
        t0 = util_mono_ms();
        assert_int_equal(upload_alert(alert_id, "low"), 200);
        fprintf(stderr, "upload answered in %lld ms with a receiver taking 2.5 s\n",
                (long long)(util_mono_ms() - t0));
        assert_true(util_mono_ms() - t0 < 1000);
        for (int i = 0; i < 60; i++) {
                j = deliveries(hook, NULL);
                json_decref(row);
                row = json_incref(json_array_get(json_object_get(j, "value"), 0));
                json_decref(j);
                if (row && attempts_of(row) >= 1)
                        break;
                usleep(100000);
        }
        assert_non_null(row);
        assert_non_null(strstr(json_string_value(json_object_get(row, "last_error")), "imed out"));
        json_decref(row);
        webhook_delete(hook);
        receiver_stop(&rv);
}

/* A receiver that always fails: after webhook_max_attempts (8 here) the delivery is failed. */
static void test_max_attempts(void **state)
{
        struct receiver rv = { .script = { 500, 500, 500, 500, 500, 500, 500, 500 }, .n_script = 8 };
        char url[128], did[40];
        char *hook;
        json_t *row, *j;

        receiver_start(&rv, 0, NULL, NULL);
        url_of(&rv, "http", url, sizeof(url));
        hook = webhook_create("failing", url, "[\"risk_changed\"]", NULL);
        ping(hook, did);
        row = wait_status(hook, did, "failed", 20);
        assert_int_equal(attempts_of(row), 8);
        assert_int_equal(json_integer_value(json_object_get(row, "last_http_status")), 500);
        assert_true(json_is_null(json_object_get(row, "next_attempt_at")));
        json_decref(row);
        assert_int_equal(received(&rv), 8);
        j = deliveries(hook, "?status=failed");
        assert_int_equal(json_integer_value(json_object_get(j, "count")), 1);
        json_decref(j);
        j = deliveries(hook, "?status=delivered");
        assert_int_equal(json_integer_value(json_object_get(j, "count")), 0);
        json_decref(j);
        receiver_stop(&rv);
        webhook_delete(hook);
}

/* Stops vigild and starts it again on the same data directory and port. */
static void vigild_restart(void)
{
        int status;

        kill(H.pid, SIGTERM);
        assert_int_equal(waitpid(H.pid, &status, 0), H.pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(harness_restart(&H), 0);
}

/* A delivery pending when vigild stops is sent after it starts again. */
static void test_pending_survives_restart(void **state)
{
        struct receiver rv = { 0 };
        char url[128], did[40];
        char *hook;
        json_t *row = NULL;
        unsigned port = free_port();

        snprintf(url, sizeof(url), "http://127.0.0.1:%u/h", port);
        hook = webhook_create("restart", url, "[\"risk_changed\"]", NULL);
        ping(hook, did);
        row = wait_attempts(hook, did, 1);
        assert_string_equal(json_string_value(json_object_get(row, "status")), "pending");
        json_decref(row);
        vigild_restart();
        receiver_start(&rv, port, NULL, NULL);
        row = wait_status(hook, did, "delivered", 10);
        json_decref(row);
        assert_int_equal(received(&rv), 1);
        assert_string_equal(rv.got[0].delivery, did);
        assert_true(signature_ok(&rv.got[0], SECRET));
        receiver_stop(&rv);
        webhook_delete(hook);
}

/* A disabled webhook gets nothing queued; enabled again, it does. */
static void test_disabled(void **state)
{
        struct receiver rv = { 0 };
        char url[128], path[160], alert_id[37];
        char *hook;
        json_t *j;

        receiver_start(&rv, 0, NULL, NULL);
        url_of(&rv, "http", url, sizeof(url));
        hook = webhook_create("off", url, "[\"alert_raised\"]", "\"enabled\":false");
        assert_int_equal(crypto_uuid4(alert_id), 0);
        assert_int_equal(upload_alert(alert_id, "informational"), 200);
        j = deliveries(hook, NULL);
        assert_int_equal(json_integer_value(json_object_get(j, "count")), 0);
        json_decref(j);
        snprintf(path, sizeof(path), "/api/v1/webhooks/%s", hook);
        /* enabled again, with a new secret: what follows is signed with it */
        assert_int_equal(harness_admin(&H, "PATCH", path, NULL,
                                       "{\"enabled\":true,\"secret\":\"the-rotated-secret-0001\"}", NULL), 200);
        assert_int_equal(crypto_uuid4(alert_id), 0);
        assert_int_equal(upload_alert(alert_id, "informational"), 200);
        wait_received(&rv, 1, 10);
        assert_non_null(strstr(rv.got[0].body, alert_id));
        assert_true(signature_ok(&rv.got[0], "the-rotated-secret-0001"));
        assert_false(signature_ok(&rv.got[0], SECRET));
        receiver_stop(&rv);
        webhook_delete(hook);
}

static void test_cli(void **state)
{
        struct receiver rv = { 0 };
        char url[128], cmd[2048], out[8192], id[40] = "", ca_id[40], *p;
        const char *vigil = getenv("VIGIL");
        FILE *f;
        size_t n;
        int st;

        assert_non_null(vigil);
        receiver_start(&rv, 0, NULL, NULL);
        url_of(&rv, "http", url, sizeof(url));
#define CLI(args) \
        do { \
                snprintf(cmd, sizeof(cmd), "VIGIL_SERVER='%s' VIGIL_TOKEN='%s' VIGIL_CA='%s' '%s' %s 2>&1", \
                         H.url, H.token, H.ca, vigil, args); \
                f = popen(cmd, "r"); \
                n = fread(out, 1, sizeof(out) - 1, f); \
                out[n] = '\0'; \
                st = pclose(f); \
        } while (0)
        snprintf(cmd, sizeof(cmd), "webhooks create --name cli-hook --url '%s' --event risk_changed "
                 "--event alert_raised", url);
        {
                char args[1024];
                snprintf(args, sizeof(args), "%s", cmd);
                CLI(args);
        }
        assert_int_equal(WEXITSTATUS(st), 0);
        assert_non_null(strstr(out, "secret"));
        p = strstr(out, "webhook ");
        assert_non_null(p);
        snprintf(id, sizeof(id), "%.36s", p + 8);
        CLI("webhooks list");
        assert_int_equal(WEXITSTATUS(st), 0);
        assert_non_null(strstr(out, "cli-hook"));
        {
                char args[256];
                snprintf(args, sizeof(args), "webhooks show %s", id);
                CLI(args);
                assert_int_equal(WEXITSTATUS(st), 0);
                assert_non_null(strstr(out, "alert_raised"));
                snprintf(args, sizeof(args), "webhooks test %s", id);
                CLI(args);
                assert_int_equal(WEXITSTATUS(st), 0);
                wait_received(&rv, 1, 10);
                usleep(200000);
                snprintf(args, sizeof(args), "webhooks deliveries %s --status delivered", id);
                CLI(args);
                assert_int_equal(WEXITSTATUS(st), 0);
                assert_non_null(strstr(out, "ping"));
                assert_non_null(strstr(out, "delivered"));
                snprintf(args, sizeof(args), "webhooks deliveries %s --status nope", id);
                CLI(args);
                assert_int_equal(WEXITSTATUS(st), 2);
                CLI("webhooks create --name x --url https://example.com/h --event risk_chnged");
                assert_int_equal(WEXITSTATUS(st), 1);
                assert_non_null(strstr(out, "valid events are"));
                /* --ca: a file read and sent as ca_pem, or a clear refusal */
                CLI("webhooks create --name ca-missing --url https://127.0.0.1:1/h --event alert_raised "
                    "--ca /nonexistent/ca.pem");
                assert_int_equal(WEXITSTATUS(st), 1);
                assert_non_null(strstr(out, "cannot read the CA file '/nonexistent/ca.pem'"));
                snprintf(args, sizeof(args), "webhooks create --name ca-file --url https://127.0.0.1:1/h "
                         "--event alert_raised --disabled --ca '%s'", H.ca);
                CLI(args);
                assert_int_equal(WEXITSTATUS(st), 0);
                p = strstr(out, "webhook ");
                assert_non_null(p);
                snprintf(ca_id, sizeof(ca_id), "%.36s", p + 8);
                snprintf(args, sizeof(args), "webhooks show %s", ca_id);
                CLI(args);
                assert_int_equal(WEXITSTATUS(st), 0);
                assert_non_null(strstr(out, "Vigil Server CA"));
                snprintf(args, sizeof(args), "webhooks delete %s", ca_id);
                CLI(args);
                assert_int_equal(WEXITSTATUS(st), 0);
                snprintf(args, sizeof(args), "webhooks delete %s", id);
                CLI(args);
                assert_int_equal(WEXITSTATUS(st), 0);
                snprintf(args, sizeof(args), "webhooks show %s", id);
                CLI(args);
                assert_int_equal(WEXITSTATUS(st), 1);
        }
#undef CLI
        receiver_stop(&rv);
}

/* Past webhook_queue_max pending deliveries, the oldest are failed with the
 * reason in the log. Last: it restarts vigild with a queue of 3. */
static void test_queue_cap(void **state)
{
        char conf[400], url[64], did[5][40];
        char *hook;
        json_t *row, *j;
        int fd;

        snprintf(conf, sizeof(conf), "%s/vigild.conf", H.data);
        fd = open(conf, O_WRONLY | O_APPEND);
        assert_true(fd >= 0);
        assert_true(write(fd, "webhook_queue_max = 3\n", 22) == 22);
        close(fd);
        vigild_restart();
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/h", free_port());
        hook = webhook_create("capped", url, "[\"risk_changed\"]", NULL);
        for (int i = 0; i < 5; i++)
                ping(hook, did[i]);
        for (int i = 0; i < 2; i++) {
                row = delivery(hook, did[i]);
                assert_string_equal(json_string_value(json_object_get(row, "status")), "failed");
                assert_non_null(strstr(json_string_value(json_object_get(row, "last_error")), "webhook_queue_max"));
                json_decref(row);
        }
        j = deliveries(hook, "?status=pending");
        assert_int_equal(json_integer_value(json_object_get(j, "count")), 3);
        json_decref(j);
        webhook_delete(hook);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bad_inputs),
                cmocka_unit_test(test_roles_and_crud),
                cmocka_unit_test(test_risk_changed),
                cmocka_unit_test(test_retry_then_delivered),
                cmocka_unit_test(test_in_order),
                cmocka_unit_test(test_down_then_up),
                cmocka_unit_test(test_private_ca),
                cmocka_unit_test(test_timeout_not_blocking),
                cmocka_unit_test(test_max_attempts),
                cmocka_unit_test(test_disabled),
                cmocka_unit_test(test_cli),
                cmocka_unit_test(test_pending_survives_restart),
                cmocka_unit_test(test_queue_cap),
        };

        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
