/* Integration: device actions on a real vigild over HTTPS with real device
 * certificates, the device played by this test. Covers the request (comment
 * required, types, roles: only a security_admin isolates, releases or
 * offboards), the long-poll (an action reaches a waiting device within a
 * second; an idle wait ends empty after its time), the agent's reports
 * (in_progress, succeeded, failed; retries; another device's action;
 * reports on closed actions), one open isolate/release at a time, cancel,
 * expiry (timed_out), the isolation state on the device, the investigation
 * package (upload checks, download of the same bytes), the offboard action
 * and vigild stopping cleanly while devices wait. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "crypto/crypto.h"
#include "tests/integration/harness.h"
#include "util/strutil.h"

static struct harness H;
static struct harness_device A, B;
static char *reader_token, *it_token;

static int group_setup(void **state)
{
        if (harness_start(&H, NULL) < 0)
                return -1;
        if (harness_enroll(&H, &A, "act-a") < 0 || harness_enroll(&H, &B, "act-b") < 0)
                return -1;
        reader_token = harness_new_token(&H, "reader", NULL, NULL);
        it_token = harness_new_token(&H, "it_admin", NULL, NULL);
        return reader_token && it_token ? 0 : -1;
}

static int group_teardown(void **state)
{
        httpc_free(A.c);
        httpc_free(B.c);
        free(reader_token);
        free(it_token);
        return harness_stop(&H);
}

static const char *err_code(const json_t *j)
{
        const char *s = json_string_value(json_object_get(json_object_get(j, "error"), "code"));

        return s ? s : "";
}

static long device_req(struct harness_device *dev, const char *method, const char *path, const char *body,
                       json_t **ret)
{
        char err[512];
        long st = -1;
        json_t *j = NULL;

        if (httpc_request(dev->c, method, path, NULL, body, body ? strlen(body) : 0, &st, &j, err, sizeof(err)) < 0) {
                fprintf(stderr, "%s %s: %s\n", method, path, err);
                return -1;
        }
        if (ret)
                *ret = j;
        else
                json_decref(j);
        return st;
}

/* Asks for an action; returns its id (static buffer) or asserts the status. */
static const char *request(struct harness_device *dev, const char *type, const char *comment, const char *bearer,
                           long want, const char *want_code)
{
        static char id[40];
        char path[128];
        json_t *body, *j = NULL;
        char *text;

        snprintf(path, sizeof(path), "/api/v1/devices/%s/actions", dev->id);
        body = comment ? json_pack("{s:s,s:s}", "type", type, "comment", comment) : json_pack("{s:s}", "type", type);
        text = json_dumps(body, JSON_COMPACT);
        assert_int_equal(harness_admin(&H, "POST", path, bearer, text, &j), want);
        if (want_code)
                assert_string_equal(err_code(j), want_code);
        id[0] = '\0';
        if (want == 201) {
                snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(j, "id")));
                assert_string_equal(json_string_value(json_object_get(j, "status")), "pending");
                assert_string_equal(json_string_value(json_object_get(j, "comment")), comment);
        }
        json_decref(j);
        json_decref(body);
        free(text);
        return id;
}

static json_t *action_get(const char *id)
{
        char path[128];
        json_t *j = NULL;

        snprintf(path, sizeof(path), "/api/v1/actions/%s", id);
        assert_int_equal(harness_admin(&H, "GET", path, NULL, NULL, &j), 200);
        return j;
}

static void assert_status(const char *id, const char *want)
{
        json_t *j = action_get(id);

        assert_string_equal(json_string_value(json_object_get(j, "status")), want);
        json_decref(j);
}

static long report(struct harness_device *dev, const char *id, const char *status, const char *message,
                   json_t **ret)
{
        char path[128], body[512];

        snprintf(path, sizeof(path), "/agent/v1/actions/%s", id);
        if (message)
                snprintf(body, sizeof(body), "{\"status\":\"%s\",\"message\":\"%s\"}", status, message);
        else
                snprintf(body, sizeof(body), "{\"status\":\"%s\"}", status);
        return device_req(dev, "POST", path, body, ret);
}

static const char *isolation_of(struct harness_device *dev)
{
        static char state[32];
        char path[128];
        json_t *j = NULL;

        snprintf(path, sizeof(path), "/api/v1/devices/%s", dev->id);
        assert_int_equal(harness_admin(&H, "GET", path, NULL, NULL, &j), 200);
        snprintf(state, sizeof(state), "%s",
                 json_string_value(json_object_get(json_object_get(j, "isolation"), "state")));
        json_decref(j);
        return state;
}

static void test_request_checks(void **state)
{
        char path[128];
        json_t *j = NULL;

        request(&A, "isolate", NULL, NULL, 400, "comment_required");
        request(&A, "isolate", "", NULL, 400, "comment_required");
        request(&A, "reboot", "why", NULL, 400, "invalid_action");
        request(&A, "isolate", "why", it_token, 403, "forbidden");
        request(&A, "release", "why", it_token, 403, "forbidden");
        request(&A, "offboard", "why", it_token, 403, "forbidden");
        request(&A, "run_scan", "why", reader_token, 403, "forbidden");
        snprintf(path, sizeof(path), "/api/v1/devices/%s/actions", A.id);
        assert_int_equal(harness_admin(&H, "POST", path, NULL,
                                       "{\"type\":\"run_scan\",\"comment\":\"x\",\"extra\":1}", &j), 400);
        assert_string_equal(err_code(j), "invalid_action");
        json_decref(j);
        assert_int_equal(harness_admin(&H, "POST", path, NULL,
                                       "{\"type\":\"run_scan\",\"comment\":\"x\",\"timeout_s\":1}", &j), 400);
        json_decref(j);
        assert_int_equal(harness_admin(&H, "POST", "/api/v1/devices/00000000-0000-4000-8000-000000000000/actions",
                                       NULL, "{\"type\":\"run_scan\",\"comment\":\"x\"}", &j), 404);
        assert_string_equal(err_code(j), "device_not_found");
        json_decref(j);
        /* nothing was stored by any of these */
        assert_int_equal(harness_admin(&H, "GET", "/api/v1/actions", NULL, NULL, &j), 200);
        assert_int_equal(json_integer_value(json_object_get(j, "count")), 0);
        json_decref(j);
}

struct poll_arg {
        struct harness_device *dev;
        int wait_s;
        long status;
        json_t *resp;
        int64_t done_ms;
};

static void *poll_main(void *p)
{
        struct poll_arg *a = p;
        char path[64];

        snprintf(path, sizeof(path), "/agent/v1/actions?wait=%d", a->wait_s);
        a->status = device_req(a->dev, "GET", path, NULL, &a->resp);
        a->done_ms = util_mono_ms();
        return NULL;
}

/* The first open action of a poll's answer, or NULL. */
static const json_t *first_action(const json_t *resp)
{
        return json_array_get(json_object_get(resp, "actions"), 0);
}

static void test_long_poll(void **state)
{
        struct poll_arg a = { .dev = &A, .wait_s = 20 };
        pthread_t t;
        int64_t start, asked;
        const char *id;
        char kept[40];

        /* an idle wait ends empty after its time */
        start = util_mono_ms();
        a.wait_s = 1;
        poll_main(&a);
        assert_int_equal(a.status, 200);
        assert_int_equal(json_array_size(json_object_get(a.resp, "actions")), 0);
        assert_true(a.done_ms - start >= 900);
        assert_true(a.done_ms - start < 3000);
        json_decref(a.resp);

        /* a waiting device gets a new action within a second */
        a.wait_s = 20;
        a.resp = NULL;
        assert_int_equal(pthread_create(&t, NULL, poll_main, &a), 0);
        usleep(300 * 1000);
        asked = util_mono_ms();
        id = request(&A, "run_scan", "fresh inventory", it_token, 201, NULL);
        printf("# request took %lld ms\n", (long long)(util_mono_ms() - asked));
        snprintf(kept, sizeof(kept), "%s", id);
        pthread_join(t, NULL);
        assert_int_equal(a.status, 200);
        assert_non_null(first_action(a.resp));
        assert_string_equal(json_string_value(json_object_get(first_action(a.resp), "id")), kept);
        assert_string_equal(json_string_value(json_object_get(first_action(a.resp), "type")), "run_scan");
        assert_string_equal(json_string_value(json_object_get(first_action(a.resp), "comment")), "fresh inventory");
        printf("# action delivered %lld ms after it was requested\n", (long long)(a.done_ms - asked));
        assert_true(a.done_ms - asked < 1000);
        json_decref(a.resp);

        /* B's wait is not ended by A's action, and B never sees it */
        a = (struct poll_arg){ .dev = &B, .wait_s = 0 };
        poll_main(&a);
        assert_int_equal(json_array_size(json_object_get(a.resp, "actions")), 0);
        json_decref(a.resp);
        assert_int_equal(report(&B, kept, "in_progress", NULL, NULL), 404);

        /* the reports: in_progress, again (a retry), succeeded; then closed */
        assert_int_equal(report(&A, kept, "in_progress", NULL, NULL), 200);
        assert_int_equal(report(&A, kept, "in_progress", NULL, NULL), 200);
        assert_status(kept, "in_progress");
        assert_int_equal(report(&A, kept, "succeeded", "inventory sent", NULL), 200);
        assert_status(kept, "succeeded");
        {
                json_t *j = NULL;
                assert_int_equal(report(&A, kept, "failed", NULL, &j), 409);
                assert_string_equal(err_code(j), "action_closed");
                json_decref(j);
                assert_int_equal(device_req(&A, "POST", "/agent/v1/actions/x", "{\"status\":\"done\"}", &j), 400);
                json_decref(j);
                j = action_get(kept);
                assert_int_equal(json_array_size(json_object_get(j, "history")), 3);
                assert_string_equal(json_string_value(json_object_get(j, "message")), "inventory sent");
                json_decref(j);
        }
        /* a bad wait */
        assert_int_equal(device_req(&A, "GET", "/agent/v1/actions?wait=99", NULL, NULL), 400);
}

/* Many devices waiting hold no server thread: with every worker's worth of
 * waits and more, other requests are answered at once, and one action for
 * the device wakes every wait on it. */
#define WAITERS 64

static void test_many_waiting(void **state)
{
        static struct harness_device clones[WAITERS];
        static struct poll_arg args[WAITERS];
        struct httpc_options o = { .ca_file = H.ca, .cert_file = A.cert, .key_file = A.key };
        pthread_t t[WAITERS];
        int64_t start, asked, slowest = 0;
        json_t *j = NULL;
        char id[40];

        for (int i = 0; i < WAITERS; i++) {
                clones[i] = A;
                assert_int_equal(httpc_new(H.url, &o, &clones[i].c), 0);
                args[i] = (struct poll_arg){ .dev = &clones[i], .wait_s = 20 };
                assert_int_equal(pthread_create(&t[i], NULL, poll_main, &args[i]), 0);
        }
        usleep(1500 * 1000);
        start = util_mono_ms();
        assert_int_equal(harness_admin(&H, "GET", "/api/v1/health", NULL, NULL, &j), 200);
        json_decref(j);
        printf("# health answered in %lld ms with %d devices waiting\n", (long long)(util_mono_ms() - start),
               WAITERS);
        assert_true(util_mono_ms() - start < 1000);
        asked = util_mono_ms();
        snprintf(id, sizeof(id), "%s", request(&A, "run_scan", "wake them all", NULL, 201, NULL));
        for (int i = 0; i < WAITERS; i++) {
                pthread_join(t[i], NULL);
                assert_int_equal(args[i].status, 200);
                assert_string_equal(json_string_value(json_object_get(first_action(args[i].resp), "id")), id);
                if (args[i].done_ms - asked > slowest)
                        slowest = args[i].done_ms - asked;
                json_decref(args[i].resp);
                httpc_free(clones[i].c);
        }
        printf("# all %d waits answered within %lld ms of the request\n", WAITERS, (long long)slowest);
        assert_true(slowest < 2000);
        assert_int_equal(report(&A, id, "succeeded", NULL, NULL), 200);
}

static void test_isolate_release(void **state)
{
        char iso[40], rel[40];
        json_t *j = NULL;

        assert_string_equal(isolation_of(&A), "not_isolated");
        snprintf(iso, sizeof(iso), "%s", request(&A, "isolate", "lateral movement suspected", NULL, 201, NULL));
        /* one isolate or release open at a time */
        request(&A, "isolate", "again", NULL, 409, "action_pending");
        request(&A, "release", "undo", NULL, 409, "action_pending");
        assert_int_equal(report(&A, iso, "in_progress", NULL, NULL), 200);
        assert_string_equal(isolation_of(&A), "not_isolated");
        assert_int_equal(report(&A, iso, "succeeded", "isolated: 1 server endpoint left open", NULL), 200);
        assert_string_equal(isolation_of(&A), "isolated");
        snprintf(rel, sizeof(rel), "%s", request(&A, "release", "cleaned up", NULL, 201, NULL));
        assert_int_equal(report(&A, rel, "in_progress", NULL, NULL), 200);
        assert_int_equal(report(&A, rel, "failed", "nft: cannot delete the table", NULL), 200);
        assert_string_equal(isolation_of(&A), "isolated");
        snprintf(rel, sizeof(rel), "%s", request(&A, "release", "cleaned up, again", NULL, 201, NULL));
        assert_int_equal(report(&A, rel, "succeeded", NULL, NULL), 200);
        assert_string_equal(isolation_of(&A), "not_isolated");
        /* the device's actions, newest first */
        {
                char path[128];
                snprintf(path, sizeof(path), "/api/v1/devices/%s/actions?type=release", A.id);
                assert_int_equal(harness_admin(&H, "GET", path, reader_token, NULL, &j), 200);
                assert_int_equal(json_integer_value(json_object_get(j, "count")), 2);
                assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "value"), 0),
                                                                      "id")), rel);
                json_decref(j);
                assert_int_equal(harness_admin(&H, "GET", "/api/v1/actions?status=sideways", NULL, NULL, &j), 400);
                json_decref(j);
        }
}

static void test_cancel_and_expiry(void **state)
{
        char id[40], path[128];
        json_t *j = NULL;

        snprintf(id, sizeof(id), "%s", request(&B, "isolate", "to be cancelled", NULL, 201, NULL));
        snprintf(path, sizeof(path), "/api/v1/actions/%s/cancel", id);
        assert_int_equal(harness_admin(&H, "POST", path, it_token, "{}", &j), 403);
        json_decref(j);
        assert_int_equal(harness_admin(&H, "POST", path, NULL, "{\"comment\":\"wrong device\"}", &j), 200);
        assert_string_equal(json_string_value(json_object_get(j, "status")), "cancelled");
        json_decref(j);
        assert_int_equal(harness_admin(&H, "POST", path, NULL, NULL, &j), 409);
        assert_string_equal(err_code(j), "action_closed");
        json_decref(j);
        /* the agent that started it hears that it is closed */
        assert_int_equal(report(&B, id, "in_progress", NULL, &j), 409);
        assert_string_equal(err_code(j), "action_closed");
        json_decref(j);

        /* expiry */
        snprintf(path, sizeof(path), "/api/v1/devices/%s/actions", B.id);
        assert_int_equal(harness_admin(&H, "POST", path, NULL,
                                       "{\"type\":\"run_scan\",\"comment\":\"soon gone\",\"timeout_s\":5}", &j), 201);
        snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(j, "id")));
        json_decref(j);
        sleep(6);
        assert_status(id, "timed_out");
        assert_int_equal(report(&B, id, "succeeded", NULL, NULL), 409);
}

static void test_package(void **state)
{
        struct poll_arg a = { .dev = &B, .wait_s = 0 };
        struct httpc_extra gz = { .content_type = "application/gzip" };
        char id[40], path[128], err[256], tmpl[] = "/tmp/vigil-pkg-XXXXXX";
        unsigned char pkg[4096];
        uint8_t hash[32];
        char hex[65];
        json_t *j = NULL;
        long st;
        FILE *f;
        int fd;

        snprintf(id, sizeof(id), "%s", request(&B, "collect_investigation_package", "triage", it_token, 201, NULL));
        poll_main(&a);
        assert_string_equal(json_string_value(json_object_get(first_action(a.resp), "id")), id);
        json_decref(a.resp);
        snprintf(path, sizeof(path), "/agent/v1/actions/%s/package", id);
        /* not in progress yet */
        memset(pkg, 0, sizeof(pkg));
        pkg[0] = 0x1f;
        pkg[1] = 0x8b;
        for (size_t i = 2; i < sizeof(pkg); i++)
                pkg[i] = (unsigned char)(i * 7);
        assert_int_equal(httpc_request_ex(B.c, "PUT", path, NULL, (char *)pkg, sizeof(pkg), &gz, &st, &j,
                                          err, sizeof(err)), 0);
        assert_int_equal(st, 409);
        json_decref(j);
        assert_int_equal(report(&B, id, "in_progress", NULL, NULL), 200);
        /* not gzip; another device's */
        assert_int_equal(httpc_request_ex(B.c, "PUT", path, NULL, "plain text, not a package", 25, &gz, &st, &j,
                                          err, sizeof(err)), 0);
        assert_int_equal(st, 400);
        assert_string_equal(err_code(j), "invalid_package");
        json_decref(j);
        assert_int_equal(httpc_request_ex(A.c, "PUT", path, NULL, (char *)pkg, sizeof(pkg), &gz, &st, &j,
                                          err, sizeof(err)), 0);
        assert_int_equal(st, 404);
        json_decref(j);
        /* succeeded before the package: refused */
        assert_int_equal(report(&B, id, "succeeded", NULL, &j), 409);
        assert_string_equal(err_code(j), "package_missing");
        json_decref(j);
        assert_int_equal(httpc_request_ex(B.c, "PUT", path, NULL, (char *)pkg, sizeof(pkg), &gz, &st, &j,
                                          err, sizeof(err)), 0);
        assert_int_equal(st, 200);
        crypto_sha256(pkg, sizeof(pkg), hash);
        util_hex_encode(hash, sizeof(hash), hex);
        assert_string_equal(json_string_value(json_object_get(j, "sha256")), hex);
        json_decref(j);
        /* download before it succeeded: refused */
        snprintf(path, sizeof(path), "/api/v1/actions/%s/package", id);
        assert_int_equal(harness_admin(&H, "GET", path, NULL, NULL, &j), 409);
        json_decref(j);
        assert_int_equal(report(&B, id, "succeeded", "12 files", NULL), 200);
        /* the download is the same bytes; a reader may not have it */
        assert_int_equal(harness_admin(&H, "GET", path, reader_token, NULL, &j), 403);
        json_decref(j);
        fd = mkstemp(tmpl);
        assert_true(fd >= 0);
        f = fdopen(fd, "w+");
        {
                struct httpc_extra out = { .out = f };
                assert_int_equal(httpc_request_ex(H.admin, "GET", path, H.token, NULL, 0, &out, &st, &j,
                                                  err, sizeof(err)), 0);
        }
        assert_int_equal(st, 200);
        assert_null(j);
        fflush(f);
        {
                unsigned char back[8192];
                size_t n;
                rewind(f);
                n = fread(back, 1, sizeof(back), f);
                assert_int_equal(n, sizeof(pkg));
                assert_memory_equal(back, pkg, sizeof(pkg));
        }
        fclose(f);
        unlink(tmpl);
        j = action_get(id);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "package"), "sha256")), hex);
        json_decref(j);
}

/* A device waits while vigild stops: vigild still exits cleanly (the group
 * teardown checks it), the wait ends. Then offboarding by action. */
static void test_offboard(void **state)
{
        char id[40];
        json_t *j = NULL;

        snprintf(id, sizeof(id), "%s", request(&B, "offboard", "device retired", NULL, 201, NULL));
        assert_int_equal(report(&B, id, "in_progress", NULL, NULL), 200);
        assert_int_equal(report(&B, id, "succeeded", "isolation removed; stopping", NULL), 200);
        /* the certificate is revoked: the device is refused from now on */
        assert_int_equal(device_req(&B, "GET", "/agent/v1/actions", NULL, &j), 403);
        assert_string_equal(err_code(j), "device_offboarded");
        json_decref(j);
        request(&B, "run_scan", "too late", NULL, 409, "device_offboarded");
}

static void test_stop_while_waiting(void **state)
{
        struct poll_arg a = { .dev = &A, .wait_s = 30 };
        pthread_t t;
        int64_t start = util_mono_ms();

        assert_int_equal(pthread_create(&t, NULL, poll_main, &a), 0);
        usleep(500 * 1000);
        assert_int_equal(harness_stop(&H), 0);
        pthread_join(t, NULL);
        /* answered (empty) or cut as vigild went: not left for the whole wait */
        assert_true(a.done_ms - start < 10000);
        json_decref(a.resp);
        assert_int_equal(harness_start(&H, NULL), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_request_checks),
                cmocka_unit_test(test_long_poll),
                cmocka_unit_test(test_many_waiting),
                cmocka_unit_test(test_isolate_release),
                cmocka_unit_test(test_cancel_and_expiry),
                cmocka_unit_test(test_package),
                cmocka_unit_test(test_offboard),
                cmocka_unit_test(test_stop_while_waiting),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
