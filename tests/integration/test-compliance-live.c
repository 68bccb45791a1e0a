/* Integration: compliance evaluated by a real vigild. Devices with no
 * policy are noncompliant until the tenant setting says otherwise; a policy
 * applied twice through the CLI is unchanged the second time; a real high
 * alert makes the device noncompliant within a second (the latency printed,
 * from the upload's answer and from the connector's risk time to the
 * history row) and its resolution compliant again; bad documents are refused
 * with the member's path and change nothing; roles; group assignments with
 * include and exclude; the notify action delivered as a webhook to a
 * receiver on loopback; the isolate action created once per noncompliant
 * period; the connector's remote partner unresponsive with and without
 * block_on_missing_partner_data; and, through the stored times moved back
 * while vigild is stopped, a grace period and the validity period running
 * out on the evaluator's timer with no event. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "crypto/crypto.h"
#include "server/db/db.h"
#include "tests/integration/harness.h"
#include "util/strutil.h"

#define POLL_MS 2

static struct harness H;
static struct harness_device A, B, C;
static char *reader_token, *it_token, *sec_token;
static char policy_id[40];

static int64_t mono_ms(void)
{
        return util_mono_ms();
}

static void sleep_ms(unsigned ms)
{
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

        nanosleep(&ts, NULL);
}

static json_t *admin(const char *bearer, const char *method, const char *path, const char *body, long want)
{
        json_t *j = NULL;
        long st = harness_admin(&H, method, path, bearer, body, &j);

        if (st != want) {
                char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
                fail_msg("%s %s: HTTP %ld, expected %ld: %s", method, path, st, want, t ? t : "");
        }
        return j;
}

static void inventory(struct harness_device *dev, const char *firewall)
{
        char body[320], err[256];
        json_t *j = NULL;
        long st = -1;

        snprintf(body, sizeof(body), "{\"hostname\":\"%s\",\"os\":{\"name\":\"Debian GNU/Linux\",\"version_id\":"
                 "\"12\"},\"architecture\":\"x86_64\",\"kernel\":\"6.1.0-13-amd64\",\"firewall\":{\"state\":\"%s\"},"
                 "\"sensor\":{\"name\":\"bpf\"}}",
                 dev == &A ? "host-a" : dev == &B ? "host-b" : "host-c", firewall);
        assert_int_equal(httpc_request(dev->c, "PUT", "/agent/v1/inventory", NULL, body, strlen(body), &st, &j,
                                       err, sizeof(err)), 0);
        json_decref(j);
        assert_int_equal(st, 200);
}

static json_t *compliance_of(const struct harness_device *dev)
{
        char path[128];

        snprintf(path, sizeof(path), "/api/v1/devices/%s/compliance", dev->id);
        return admin(reader_token, "GET", path, NULL, 200);
}

static char *state_of(const struct harness_device *dev)
{
        json_t *j = compliance_of(dev);
        char *s = strdup(json_string_value(json_object_get(j, "state")));

        json_decref(j);
        return s;
}

/* Waits up to ms for the device's state; returns the ms waited, fails if it never comes. */
static int64_t wait_state(const struct harness_device *dev, const char *want, unsigned ms)
{
        int64_t t0 = mono_ms();

        for (;;) {
                char *s = state_of(dev);
                bool ok = strcmp(s, want) == 0;
                int64_t waited = mono_ms() - t0;

                if (ok) {
                        free(s);
                        return waited;
                }
                if (waited > ms) {
                        json_t *j = compliance_of(dev);
                        fail_msg("device %s: state %s after %lld ms, expected %s (%s)", dev->id, s,
                                 (long long)waited, want, json_string_value(json_object_get(j, "reason")));
                }
                free(s);
                sleep_ms(POLL_MS);
        }
}

/* Waits up to ms for the device's compliance reason to hold text. */
static void wait_reason(const struct harness_device *dev, const char *text, unsigned ms)
{
        int64_t t0 = mono_ms();

        for (;;) {
                json_t *j = compliance_of(dev);
                const char *reason = json_string_value(json_object_get(j, "reason"));

                if (reason && strstr(reason, text)) {
                        json_decref(j);
                        return;
                }
                if (mono_ms() - t0 > ms)
                        fail_msg("device %s: reason '%s' after %u ms, expected one with '%s'", dev->id,
                                 reason ? reason : "", ms, text);
                json_decref(j);
                sleep_ms(POLL_MS);
        }
}

/* The device's state, in a buffer that lives until the next call. */
static const char *state_of_kept(const struct harness_device *dev)
{
        static char kept[32];
        char *s = state_of(dev);

        snprintf(kept, sizeof(kept), "%s", s);
        free(s);
        return kept;
}

static void settings(const char *body)
{
        json_decref(admin(NULL, "PATCH", "/api/v1/compliance/settings", body, 200));
}

static long upload_alert(struct harness_device *dev, const char *severity, char id[static 37])
{
        assert_int_equal(crypto_uuid4(id), 0);
        return harness_alert_upload(dev, id, "comp-rule", "Compliance test", severity);
}

static void resolve_alert(const char *id)
{
        char path[128];

        snprintf(path, sizeof(path), "/api/v1/alerts/%s", id);
        json_decref(admin(NULL, "PATCH", path, "{\"status\":\"resolved\"}", 200));
}

/* Writes text to a file of the test's directory and applies it with the CLI;
 * returns the CLI's exit status and its output in *out. */
static int cli_apply(const char *name, const char *text, char **out)
{
        char path[512], args[600];

        assert_int_equal(harness_write(&H, name, text, path, sizeof(path)), 0);
        snprintf(args, sizeof(args), "policy apply -f %s", path);
        return harness_cli(&H, args, out);
}

static int group_setup(void **state)
{
        (void)state;
        if (harness_start(&H, NULL) < 0)
                return -1;
        if (harness_enroll(&H, &A, "comp-a") < 0 || harness_enroll(&H, &B, "comp-b") < 0 ||
            harness_enroll(&H, &C, "comp-c") < 0)
                return -1;
        reader_token = harness_new_token(&H, "reader", NULL, NULL);
        it_token = harness_new_token(&H, "it_admin", NULL, NULL);
        sec_token = harness_new_token(&H, "security_admin", NULL, NULL);
        return reader_token && it_token && sec_token ? 0 : -1;
}

static int group_teardown(void **state)
{
        (void)state;
        httpc_free(A.c);
        httpc_free(B.c);
        httpc_free(C.c);
        free(reader_token);
        free(it_token);
        free(sec_token);
        return harness_stop(&H);
}

/* No policy: noncompliant by default (the secure choice), then compliant
 * once the tenant says so; the device JSON carries the state. */
static void test_no_policy(void **state)
{
        json_t *j;

        (void)state;
        inventory(&A, "active");
        inventory(&B, "active");
        inventory(&C, "active");
        wait_state(&A, "noncompliant", 1000);
        j = compliance_of(&A);
        assert_non_null(strstr(json_string_value(json_object_get(j, "reason")), "no"));
        json_decref(j);
        j = admin(reader_token, "GET", "/api/v1/compliance/settings", NULL, 200);
        assert_string_equal(json_string_value(json_object_get(j, "no_policy_state")), "noncompliant");
        json_decref(j);
        /* still noncompliant, for another reason: the reason shown follows */
        {
                char path[128];
                const char *id;

                j = admin(NULL, "POST", "/api/v1/compliance-policies",
                          "{\"name\":\"Needs OS 99\",\"platform\":\"linux\","
                          "\"settings\":{\"min_os_version\":\"99\"},"
                          "\"actions\":[{\"type\":\"mark_noncompliant\"}],"
                          "\"assignments\":{\"include\":[\"all_devices\"]}}", 201);
                id = json_string_value(json_object_get(j, "id"));
                assert_non_null(id);
                snprintf(path, sizeof(path), "/api/v1/compliance-policies/%s", id);
                json_decref(j);
                wait_reason(&A, "Needs OS 99", 1000);
                assert_string_equal(state_of_kept(&A), "noncompliant");
                json_decref(admin(NULL, "DELETE", path, NULL, 200));
                wait_reason(&A, "no compliance policy", 1000);
                assert_string_equal(state_of_kept(&A), "noncompliant");
        }
        json_decref(admin(reader_token, "PATCH", "/api/v1/compliance/settings",
                          "{\"no_policy_state\":\"compliant\"}", 403));
        j = admin(NULL, "PATCH", "/api/v1/compliance/settings", "{\"no_policy_state\":\"maybe\"}", 400);
        json_decref(j);
        settings("{\"no_policy_state\":\"compliant\"}");
        wait_state(&A, "compliant", 1000);
        wait_state(&C, "compliant", 1000);
        {
                char path[128];

                snprintf(path, sizeof(path), "/api/v1/devices/%s", A.id);
                j = admin(reader_token, "GET", path, NULL, 200);
                assert_string_equal(json_string_value(json_object_get(j, "compliance_state")), "compliant");
                assert_string_equal(json_string_value(json_object_get(j, "sensor")), "bpf");
                json_decref(j);
        }
        /* the sensor's name is one of three */
        {
                static const char bad[] = "{\"hostname\":\"host-a\",\"sensor\":{\"name\":\"ebpf\"}}";
                char err[256];
                long st = -1;

                j = NULL;
                assert_int_equal(httpc_request(A.c, "PUT", "/agent/v1/inventory", NULL, bad, strlen(bad), &st, &j,
                                               err, sizeof(err)), 0);
                assert_int_equal(st, 400);
                assert_non_null(strstr(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
                                       "sensor"));
                json_decref(j);
        }
}

static const char *const example_doc =
        "{\"name\":\"Max device risk medium\",\"platform\":\"linux\","
        "\"settings\":{\"max_device_risk\":\"medium\"},"
        "\"actions\":[{\"type\":\"mark_noncompliant\",\"grace_hours\":0}],"
        "\"assignments\":{\"include\":[\"all_devices\"]}}";

/* The example policy applied twice: created, then unchanged, no new version. */
static void test_apply_idempotent(void **state)
{
        char *out = NULL, path[512];
        json_t *j;

        (void)state;
        assert_int_equal(cli_apply("p1.json", example_doc, &out), 0);
        assert_non_null(strstr(out, "created: policy 'Max device risk medium'"));
        free(out);
        /* the same policy, keys reordered and a default spelt out */
        assert_int_equal(cli_apply("p1b.json", "{\"platform\":\"linux\",\"name\":\"Max device risk medium\","
                                   "\"description\":\"\",\"settings\":{\"max_device_risk\":\"medium\","
                                   "\"firewall_required\":false},\"actions\":[{\"type\":\"mark_noncompliant\","
                                   "\"after_hours\":0,\"grace_hours\":0}],"
                                   "\"assignments\":{\"include\":[\"all_devices\"]}}", &out), 0);
        assert_non_null(strstr(out, "unchanged: policy 'Max device risk medium'"));
        assert_non_null(strstr(out, "version 1"));
        free(out);
        j = admin(reader_token, "GET", "/api/v1/compliance-policies", NULL, 200);
        assert_int_equal(json_integer_value(json_object_get(j, "count")), 1);
        snprintf(policy_id, sizeof(policy_id), "%s",
                 json_string_value(json_object_get(json_array_get(json_object_get(j, "value"), 0), "id")));
        json_decref(j);
        /* the file under examples/ is the same policy with a description */
        snprintf(path, sizeof(path), "policy apply -f %s/examples/compliance-max-risk-medium.json",
                 getenv("VIGIL_SOURCE_ROOT") ? getenv("VIGIL_SOURCE_ROOT") : ".");
        assert_int_equal(harness_cli(&H, path, &out), 0);
        assert_non_null(strstr(out, "updated: policy 'Max device risk medium'"));
        assert_non_null(strstr(out, "version 2"));
        free(out);
        wait_state(&A, "compliant", 1000);
}

/* A high alert: noncompliant within a second; resolved: compliant again. */
static void test_risk_latency(void **state)
{
        char alert[37], path[160];
        int64_t waited, back;
        json_t *j, *h;

        (void)state;
        assert_int_equal(upload_alert(&A, "high", alert), 200);
        waited = wait_state(&A, "noncompliant", 1000);
        printf("compliance: upload answered -> noncompliant visible in the API: %lld ms\n", (long long)waited);
        j = compliance_of(&A);
        assert_string_equal(json_string_value(json_object_get(j, "setting")), "max_device_risk");
        assert_non_null(strstr(json_string_value(json_object_get(j, "reason")), "risk high is above the allowed medium"));
        assert_string_equal(json_string_value(json_object_get(j, "policy_id")), policy_id);
        h = json_array_get(json_object_get(j, "policies"), 0);
        assert_string_equal(json_string_value(json_object_get(h, "state")), "noncompliant");
        json_decref(j);
        /* the history row: at_ms beside the connector's risk time */
        snprintf(path, sizeof(path), "/api/v1/devices/%s/compliance/history?limit=1", A.id);
        j = admin(reader_token, "GET", path, NULL, 200);
        h = json_array_get(json_object_get(j, "value"), 0);
        assert_string_equal(json_string_value(json_object_get(h, "to")), "noncompliant");
        assert_string_equal(json_string_value(json_object_get(h, "from")), "compliant");
        assert_true(json_is_integer(json_object_get(h, "risk_as_of_ms")));
        printf("compliance: risk_changed (connector's time) -> compliance_changed (history): %lld ms\n",
               (long long)(json_integer_value(json_object_get(h, "at_ms")) -
                           json_integer_value(json_object_get(h, "risk_as_of_ms"))));
        assert_true(json_integer_value(json_object_get(h, "at_ms")) -
                    json_integer_value(json_object_get(h, "risk_as_of_ms")) < 1000);
        json_decref(j);
        resolve_alert(alert);
        back = wait_state(&A, "compliant", 1000);
        printf("compliance: alert resolved -> compliant visible: %lld ms\n", (long long)back);
        /* the CLI shows it */
        {
                char args[128], *out = NULL;

                snprintf(args, sizeof(args), "devices compliance %s", A.id);
                assert_int_equal(harness_cli(&H, args, &out), 0);
                assert_non_null(strstr(out, "state:   compliant"));
                assert_non_null(strstr(out, "max_device_risk"));
                free(out);
        }
}

/* A refused document: the message names PATH_PART; with FIELD, the error's
 * "field" is FIELD, the member the message begins with. */
static void expect_refused(const char *doc, const char *path_part, const char *field)
{
        json_t *j = admin(NULL, "POST", "/api/v1/compliance-policies/apply", doc, 400);
        json_t *err = json_object_get(j, "error");
        const char *msg = json_string_value(json_object_get(err, "message"));

        if (!msg || !strstr(msg, path_part))
                fail_msg("refusal '%s' lacks '%s'", msg ? msg : "", path_part);
        if (field)
                assert_string_equal(json_string_value(json_object_get(err, "field")) ?: "(none)", field);
        json_decref(j);
}

/* Bad documents: refused with the member's path; nothing changes. */
static void test_bad_policies(void **state)
{
        char *out = NULL;
        json_t *j;

        (void)state;
        expect_refused("{\"name\":\"x\",\"platform\":\"linux\",\"settings\":{\"max_device_risk\":\"severe\"},"
                       "\"actions\":[{\"type\":\"mark_noncompliant\"}]}", "settings.max_device_risk",
                       "settings.max_device_risk");
        expect_refused("{\"name\":\"x\",\"platform\":\"linux\",\"settings\":{\"max_device_risk\":\"low\"},"
                       "\"actions\":[{\"type\":\"mark_noncompliant\"},{\"type\":\"reboot\"}]}", "actions[1].type",
                       "actions[1].type");
        expect_refused("{\"name\":\"x\",\"platform\":\"linux\",\"settings\":{\"antivirus_required\":true},"
                       "\"actions\":[{\"type\":\"mark_noncompliant\"}]}", "settings.antivirus_required",
                       "settings.antivirus_required");
        expect_refused("{\"name\":\"x\",\"platform\":\"linux\",\"settings\":{\"max_device_risk\":\"low\"},"
                       "\"actions\":[{\"type\":\"mark_noncompliant\"}],\"assignments\":{\"include\":"
                       "[\"00000000-0000-4000-8000-000000000000\"]}}", "assignments", "assignments");
        expect_refused("{\"name\":\"x\",\"name\":\"y\"}", "", NULL);
        expect_refused("not json", "", NULL);
        /* the CLI names the file and line of a broken file */
        assert_int_equal(cli_apply("bad.json", "{\n\"name\": \"x\",\n}\n", &out), 1);
        assert_non_null(strstr(out, "bad.json"));
        assert_non_null(strstr(out, "line 3"));
        free(out);
        j = admin(reader_token, "GET", "/api/v1/compliance-policies", NULL, 200);
        assert_int_equal(json_integer_value(json_object_get(j, "count")), 1);
        json_decref(j);
}

/* Who may do what. */
static void test_roles(void **state)
{
        static const char *const isolating =
                "{\"name\":\"Isolate high risk\",\"platform\":\"linux\",\"settings\":{\"max_device_risk\":\"medium\"},"
                "\"actions\":[{\"type\":\"mark_noncompliant\"},{\"type\":\"isolate\"}],"
                "\"assignments\":{\"include\":[]}}";
        char path[128];
        json_t *j;

        (void)state;
        json_decref(admin(reader_token, "POST", "/api/v1/compliance-policies/apply", example_doc, 403));
        json_decref(admin(reader_token, "GET", "/api/v1/compliance/report", NULL, 200));
        j = admin(it_token, "POST", "/api/v1/compliance-policies/apply", example_doc, 200);
        assert_string_equal(json_string_value(json_object_get(j, "result")), "updated");
        assert_int_equal(json_integer_value(json_object_get(j, "version")), 3);
        json_decref(j);
        json_decref(admin(it_token, "POST", "/api/v1/compliance-policies/apply", isolating, 403));
        json_decref(admin(it_token, "POST", "/api/v1/compliance-policies", example_doc, 409));
        snprintf(path, sizeof(path), "/api/v1/compliance-policies/%s", policy_id);
        json_decref(admin(reader_token, "DELETE", path, NULL, 403));
        json_decref(admin(reader_token, "GET", path, NULL, 200));
        json_decref(admin(reader_token, "GET", "/api/v1/compliance-policies/00000000-0000-4000-8000-000000000000",
                          NULL, 404));
}

/* A receiver of webhooks on loopback: answers 200 to everything and counts
 * the bodies that name an event type. */
struct receiver {
        int fd;
        unsigned port;
        pthread_t thread;
        pthread_mutex_t lock;
        int notify, changed;
};

static void *receiver_main(void *arg)
{
        struct receiver *rv = arg;
        static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

        for (;;) {
                char buf[16384];
                size_t n = 0;
                int c = accept(rv->fd, NULL, NULL);

                if (c < 0)
                        return NULL;
                /* the request is small: read until the peer has sent a body */
                for (int i = 0; i < 50 && n < sizeof(buf) - 1; i++) {
                        ssize_t k = recv(c, buf + n, sizeof(buf) - 1 - n, 0);

                        if (k <= 0)
                                break;
                        n += (size_t)k;
                        buf[n] = '\0';
                        if (strstr(buf, "\r\n\r\n") && strstr(buf, "\"data\""))
                                break;
                }
                buf[n] = '\0';
                pthread_mutex_lock(&rv->lock);
                rv->notify += strstr(buf, "\"noncompliance_notify\"") != NULL;
                rv->changed += strstr(buf, "\"compliance_changed\"") != NULL;
                pthread_mutex_unlock(&rv->lock);
                if (send(c, ok, sizeof(ok) - 1, MSG_NOSIGNAL) < 0)
                        perror("receiver: send");
                close(c);
        }
}

static void receiver_start(struct receiver *rv)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);

        rv->fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(rv->fd >= 0);
        assert_int_equal(bind(rv->fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(rv->fd, 16), 0);
        assert_int_equal(getsockname(rv->fd, (struct sockaddr *)&a, &len), 0);
        rv->port = ntohs(a.sin_port);
        pthread_mutex_init(&rv->lock, NULL);
        assert_int_equal(pthread_create(&rv->thread, NULL, receiver_main, rv), 0);
}

static void receiver_stop(struct receiver *rv)
{
        shutdown(rv->fd, SHUT_RDWR);
        close(rv->fd);
        pthread_join(rv->thread, NULL);
}

static int received_notify(struct receiver *rv)
{
        int n;

        pthread_mutex_lock(&rv->lock);
        n = rv->notify;
        pthread_mutex_unlock(&rv->lock);
        return n;
}

static int isolate_actions(const struct harness_device *dev)
{
        char path[128];
        json_t *j, *v;
        size_t i;
        int n = 0;

        snprintf(path, sizeof(path), "/api/v1/devices/%s/actions?type=isolate", dev->id);
        j = admin(reader_token, "GET", path, NULL, 200);
        json_array_foreach(json_object_get(j, "value"), i, v)
                n += strncmp(json_string_value(json_object_get(v, "requested_by")), "policy:", 7) == 0;
        json_decref(j);
        return n;
}

/* Groups: a policy that notifies and isolates, for group G's members but
 * C, excluded by group X. B falls under it; A and C do not. */
static void test_actions_and_groups(void **state)
{
        struct receiver rv = { 0 };
        char body[1024], url[64], *g = NULL, *x = NULL, alert[37], path[160];
        json_t *j;

        (void)state;
        receiver_start(&rv);
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/hook", rv.port);
        snprintf(body, sizeof(body), "{\"name\":\"comp\",\"url\":\"%s\",\"events\":[\"noncompliance_notify\","
                 "\"compliance_changed\"]}", url);
        json_decref(admin(NULL, "POST", "/api/v1/webhooks", body, 201));
        snprintf(body, sizeof(body), "{\"name\":\"comp-g\",\"kind\":\"static\"}");
        j = admin(NULL, "POST", "/api/v1/groups", body, 201);
        g = strdup(json_string_value(json_object_get(j, "id")));
        json_decref(j);
        j = admin(NULL, "POST", "/api/v1/groups", "{\"name\":\"comp-x\",\"kind\":\"static\"}", 201);
        x = strdup(json_string_value(json_object_get(j, "id")));
        json_decref(j);
        snprintf(path, sizeof(path), "/api/v1/groups/%s/members", g);
        snprintf(body, sizeof(body), "{\"devices\":[\"%s\",\"%s\"]}", B.id, C.id);
        json_decref(admin(NULL, "POST", path, body, 200));
        snprintf(path, sizeof(path), "/api/v1/groups/%s/members", x);
        snprintf(body, sizeof(body), "{\"devices\":[\"%s\"]}", C.id);
        json_decref(admin(NULL, "POST", path, body, 200));
        /* the first policy now leaves B and C out: only A keeps it */
        snprintf(body, sizeof(body), "{\"name\":\"Max device risk medium\",\"platform\":\"linux\","
                 "\"settings\":{\"max_device_risk\":\"medium\"},\"actions\":[{\"type\":\"mark_noncompliant\"}],"
                 "\"assignments\":{\"include\":[\"all_devices\"],\"exclude\":[\"%s\"]}}", g);
        j = admin(NULL, "POST", "/api/v1/compliance-policies/apply", body, 200);
        assert_string_equal(json_string_value(json_object_get(j, "result")), "updated");
        assert_int_equal(json_integer_value(json_object_get(j, "version")), 4);
        json_decref(j);
        snprintf(body, sizeof(body), "{\"name\":\"Firewall and risk\",\"platform\":\"linux\","
                 "\"settings\":{\"max_device_risk\":\"low\",\"firewall_required\":true},"
                 "\"actions\":[{\"type\":\"mark_noncompliant\"},{\"type\":\"notify\"},{\"type\":\"isolate\"}],"
                 "\"assignments\":{\"include\":[\"%s\"],\"exclude\":[\"%s\"]}}", g, x);
        json_decref(admin(it_token, "POST", "/api/v1/compliance-policies/apply", body, 403));
        j = admin(sec_token, "POST", "/api/v1/compliance-policies/apply", body, 201);
        assert_string_equal(json_string_value(json_object_get(j, "result")), "created");
        json_decref(j);
        /* B breaks the policy: noncompliant, notified once, isolated once */
        assert_int_equal(upload_alert(&B, "medium", alert), 200);
        wait_state(&B, "noncompliant", 1000);
        for (int i = 0; i < 100 && received_notify(&rv) < 1; i++)
                sleep_ms(50);
        assert_int_equal(received_notify(&rv), 1);
        assert_int_equal(isolate_actions(&B), 1);
        /* C is excluded: no policy, compliant by the tenant's setting; A's risk is none */
        wait_state(&C, "compliant", 1000);
        assert_int_equal(isolate_actions(&C), 0);
        j = compliance_of(&C);
        assert_int_equal(json_array_size(json_object_get(j, "policies")), 0);
        json_decref(j);
        /* evaluating again (every device, by a setting change) runs nothing twice */
        settings("{\"validity_days\":30}");
        inventory(&B, "inactive");
        sleep_ms(300);
        wait_state(&B, "noncompliant", 1000);
        assert_int_equal(received_notify(&rv), 1);
        assert_int_equal(isolate_actions(&B), 1);
        /* the report counts by policy and state */
        j = admin(reader_token, "GET", "/api/v1/compliance/report?state=noncompliant", NULL, 200);
        assert_int_equal(json_integer_value(json_object_get(j, "count")), 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "value"), 0),
                                                              "device_id")), B.id);
        assert_int_equal(json_array_size(json_object_get(j, "policies")), 2);
        json_decref(j);
        /* back to health: the alert resolved, the firewall on */
        resolve_alert(alert);
        inventory(&B, "active");
        wait_state(&B, "compliant", 1000);
        snprintf(path, sizeof(path), "/api/v1/groups/%s", x);
        json_decref(admin(NULL, "DELETE", path, NULL, 200));
        /* C, no longer excluded, falls under the firewall policy, and holds to it */
        wait_state(&C, "compliant", 1000);
        for (int i = 0; i < 100; i++) {
                j = compliance_of(&C);
                if (json_array_size(json_object_get(j, "policies")) == 1) {
                        json_decref(j);
                        break;
                }
                json_decref(j);
                assert_true(i < 99);
                sleep_ms(10);
        }
        receiver_stop(&rv);
        free(g);
        free(x);
}

static long connector_put(const char *body)
{
        return harness_admin(&H, "PUT", "/api/v1/connector", NULL, body, NULL);
}

static const char *risk_setting_state(const json_t *dev, const char *policy)
{
        json_t *p, *st;
        size_t i, k;

        json_array_foreach(json_object_get(dev, "policies"), i, p) {
                if (strcmp(json_string_value(json_object_get(p, "policy")), policy) != 0)
                        continue;
                json_array_foreach(json_object_get(p, "settings"), k, st)
                        if (strcmp(json_string_value(json_object_get(st, "setting")), "max_device_risk") == 0)
                                return json_string_value(json_object_get(st, "state"));
        }
        return "";
}

/* A remote partner: its risk counts; unresponsive, the risk setting is not
 * applicable, or noncompliant with block_on_missing_partner_data. */
static void test_connector_unresponsive(void **state)
{
        char *token, path[128], body[256], now[21];
        json_t *j;

        (void)state;
        j = admin(NULL, "POST", "/api/v1/connector/partner-tokens", "{\"name\":\"edr\"}", 201);
        token = strdup(json_string_value(json_object_get(j, "token")));
        json_decref(j);
        assert_int_equal(connector_put("{\"partner\":\"remote\",\"partner_unresponsive_after\":\"2s\"}"), 200);
        snprintf(path, sizeof(path), "/partner/v1/devices/%s/risk", A.id);
        util_time_format(util_now(), now);
        snprintf(body, sizeof(body), "{\"risk\":\"high\",\"as_of\":\"%s\"}", now);
        assert_int_equal(harness_admin(&H, "PUT", path, token, body, NULL), 200);
        printf("compliance: remote partner's high risk -> noncompliant: %lld ms\n",
               (long long)wait_state(&A, "noncompliant", 1000));
        util_time_format(util_now(), now);
        snprintf(body, sizeof(body), "{\"risk\":\"none\",\"as_of\":\"%s\"}", now);
        assert_int_equal(harness_admin(&H, "PUT", path, token, body, NULL), 200);
        wait_state(&A, "compliant", 1000);
        /* silence: unresponsive after 2 s; the risk no longer applies */
        for (int i = 0; i < 100; i++) {
                j = compliance_of(&A);
                if (strcmp(risk_setting_state(j, "Max device risk medium"), "not_applicable") == 0)
                        break;
                json_decref(j);
                j = NULL;
                sleep_ms(50);
        }
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "state")), "compliant");
        json_decref(j);
        assert_int_equal(connector_put("{\"block_on_missing_partner_data\":true}"), 200);
        wait_state(&A, "noncompliant", 1000);
        j = compliance_of(&A);
        assert_non_null(strstr(json_string_value(json_object_get(j, "reason")), "unresponsive"));
        json_decref(j);
        assert_int_equal(connector_put("{\"partner\":\"builtin\",\"block_on_missing_partner_data\":false}"), 200);
        wait_state(&A, "compliant", 1000);
        free(token);
}

/* Stops vigild, runs sql on its database, starts it again. */
static void restart_with(const char *sql)
{
        char path[400];
        struct db *db;
        int status;

        kill(H.pid, SIGTERM);
        assert_int_equal(waitpid(H.pid, &status, 0), H.pid);
        /* a clean stop: the evaluator thread joined, nothing leaked */
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        snprintf(path, sizeof(path), "%s/vigild.db", H.data);
        assert_int_equal(db_open(path, &db), 0);
        db_lock(db);
        if (db_exec(db, sql) < 0)
                fail_msg("%s: %s", sql, db_errmsg(db));
        db_unlock(db);
        db_close(db);
        assert_int_equal(harness_restart(&H), 0);
}

/* Time alone: a grace period and the validity period end on the
 * evaluator's timer, with no event. */
static void test_timer(void **state)
{
        char body[1024], sql[1024], gid[40];
        int64_t now, t0, waited;
        json_t *j;

        (void)state;
        /* G: the group B and C are in (the firewall policy's) */
        j = admin(reader_token, "GET", "/api/v1/groups?limit=10", NULL, 200);
        snprintf(gid, sizeof(gid), "%s", json_string_value(json_object_get(json_array_get(
                 json_object_get(j, "value"), 0), "id")));
        json_decref(j);
        snprintf(body, sizeof(body), "{\"name\":\"Firewall with grace\",\"platform\":\"linux\","
                 "\"settings\":{\"firewall_required\":true},\"actions\":[{\"type\":\"mark_noncompliant\","
                 "\"grace_hours\":1}],\"assignments\":{\"include\":[\"all_devices\"],\"exclude\":[\"%s\"]}}",
                 gid);
        j = admin(NULL, "POST", "/api/v1/compliance-policies/apply", body, 201);
        json_decref(j);
        inventory(&A, "inactive");
        wait_state(&A, "in_grace_period", 1000);
        settings("{\"validity_days\":1}");
        wait_state(&C, "compliant", 1000);
        /* the grace began an hour less 3 s ago; C last checked in a day less 3 s ago */
        now = util_now();
        snprintf(sql, sizeof(sql), "UPDATE compliance_results SET first_noncompliant_at = %lld WHERE device_id = '%s' "
                 "AND first_noncompliant_at > 0; UPDATE devices SET last_seen = %lld WHERE id = '%s';",
                 (long long)(now - 3600 + 3), A.id, (long long)(now - 86400 + 3), C.id);
        restart_with(sql);
        t0 = mono_ms();
        wait_state(&A, "in_grace_period", 2000);
        wait_state(&C, "compliant", 2000);
        wait_state(&A, "noncompliant", 6000);
        waited = mono_ms() - t0;
        printf("compliance: grace end reached by the timer %lld ms after the restart (due about 3000)\n",
               (long long)waited);
        assert_true(waited >= 1000);
        wait_state(&C, "noncompliant", 6000);
        j = compliance_of(&C);
        assert_non_null(strstr(json_string_value(json_object_get(j, "reason")), "no check-in"));
        json_decref(j);
        j = compliance_of(&A);
        assert_string_equal(json_string_value(json_object_get(j, "setting")), "firewall_required");
        json_decref(j);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_no_policy),
                cmocka_unit_test(test_apply_idempotent),
                cmocka_unit_test(test_risk_latency),
                cmocka_unit_test(test_bad_policies),
                cmocka_unit_test(test_roles),
                cmocka_unit_test(test_actions_and_groups),
                cmocka_unit_test(test_connector_unresponsive),
                cmocka_unit_test(test_timer),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
