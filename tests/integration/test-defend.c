/* Integration: defend on a real vigild over HTTPS with real enrolled device
 * certificates. Covers the alert upload (store and acknowledge, idempotent
 * re-upload, replay of an old batch, another device's alert id, malformed
 * and oversized batches, unknown enum values), the device risk and its
 * timeline, the alert lifecycle API (PATCH validation and history,
 * comments, bulk resolve), list filters and paging, roles, the CLI's alerts
 * commands, and vigild killed (SIGKILL) in the middle of an upload. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "crypto/crypto.h"
#include "tests/integration/harness.h"


static struct harness H;

static struct harness_device A, B, C;
static char *reader_token, *it_token;

static int group_setup(void **state)
{
        if (harness_start(&H, "body_max = 16777216\n") < 0)
                return -1;
        if (harness_enroll(&H, &A, "dev-a") < 0 || harness_enroll(&H, &B, "dev-b") < 0 ||
            harness_enroll(&H, &C, "dev-c") < 0)
                return -1;
        reader_token = harness_new_token(&H, "reader", NULL, NULL);
        it_token = harness_new_token(&H, "it_admin", NULL, NULL);
        return reader_token && it_token ? 0 : -1;
}

static int group_teardown(void **state)
{
        httpc_free(A.c);
        httpc_free(B.c);
        httpc_free(C.c);
        free(reader_token);
        free(it_token);
        return harness_stop(&H);
}

static long upload(struct harness_device *dev, const char *body, size_t len, json_t **ret)
{
        char err[512];
        long st = -1;
        json_t *j = NULL;

        if (httpc_request(dev->c, "POST", "/agent/v1/alerts", NULL, body, len, &st, &j, err, sizeof(err)) < 0) {
                fprintf(stderr, "upload: %s\n", err);
                return -1;
        }
        if (ret)
                *ret = j;
        else
                json_decref(j);
        return st;
}

/* An alert as the agent spools it. */
static json_t *alert_new(const char *id, const char *severity, const char *rule, const char *first,
                         const char *last, int count)
{
        return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:[s,s],s:[s],s:s,s:s,s:s,s:i,"
                         "s:{s:i,s:i},s:{s:i,s:s,s:s},s:[{s:i,s:s}],s:{s:s}}",
                         "change", "new", "id", id, "rule_id", rule, "title", "Test alert", "source", "sigma",
                         "severity", severity, "rule_level", severity, "techniques", "T1059", "T1059.004",
                         "tactics", "execution", "category", "process_creation", "first_seen", first,
                         "last_seen", last, "count", count, "tree", "pid", 10, "start_ticks", 5,
                         "process", "pid", 11, "image", "/usr/bin/bash", "command_line", "bash -c x",
                         "ancestors", "pid", 1, "image", "/sbin/init", "event", "EventType", "process_exec");
}

/* Uploads alerts (taking them) and returns the status; *ret the answer. */
static long upload_alerts(struct harness_device *dev, json_t *alerts, json_t **ret)
{
        json_t *b = json_pack("{s:o}", "alerts", alerts);
        char *text = json_dumps(b, JSON_COMPACT);
        long st = upload(dev, text, strlen(text), ret);

        free(text);
        json_decref(b);
        return st;
}

static const char *result_status(json_t *ans, size_t i)
{
        return json_string_value(json_object_get(json_array_get(json_object_get(ans, "results"), i), "status"));
}

static json_t *get_alert(const char *id, long want)
{
        char path[128];
        json_t *j = NULL;

        snprintf(path, sizeof(path), "/api/v1/alerts/%s", id);
        assert_int_equal(harness_admin(&H, "GET", path, NULL, NULL, &j), want);
        return j;
}

static long alert_count(const char *query)
{
        char path[512];
        json_t *j = NULL;
        long n;

        snprintf(path, sizeof(path), "/api/v1/alerts?%s", query);
        assert_int_equal(harness_admin(&H, "GET", path, NULL, NULL, &j), 200);
        n = (long)json_integer_value(json_object_get(j, "count"));
        json_decref(j);
        return n;
}

static char *device_risk(struct harness_device *dev, json_t **ret_reasons)
{
        char path[128];
        json_t *j = NULL;
        char *r;

        snprintf(path, sizeof(path), "/api/v1/devices/%s", dev->id);
        assert_int_equal(harness_admin(&H, "GET", path, NULL, NULL, &j), 200);
        r = strdup(json_string_value(json_object_get(j, "risk_level")));
        if (ret_reasons)
                *ret_reasons = json_incref(json_object_get(j, "risk_reasons"));
        json_decref(j);
        return r;
}

static void assert_risk(struct harness_device *dev, const char *want)
{
        char *r = device_risk(dev, NULL);

        assert_string_equal(r, want);
        free(r);
}

static void uuid(char out[37])
{
        assert_int_equal(crypto_uuid4(out), 0);
}

static long patch(const char *id, const char *bearer, const char *body, json_t **ret)
{
        char path[128];

        snprintf(path, sizeof(path), "/api/v1/alerts/%s", id);
        return harness_admin(&H, "PATCH", path, bearer, body, ret);
}

static void test_store_and_ack(void **state)
{
        char id1[37], id2[37];
        json_t *ans = NULL, *a, *reasons = NULL;
        char *risk;

        uuid(id1);
        uuid(id2);
        assert_int_equal(upload_alerts(&A, json_pack("[o,o]",
                alert_new(id1, "low", "rule-a", "2026-11-30T03:00:00.5Z", "2026-11-30T03:00:00.5Z", 1),
                alert_new(id2, "medium", "rule-b", "2026-11-30T03:01:00.123456789Z", "2026-11-30T03:02:00Z", 2)),
                &ans), 200);
        assert_string_equal(result_status(ans, 0), "stored");
        assert_string_equal(result_status(ans, 1), "stored");
        assert_string_equal(json_string_value(json_object_get(ans, "risk")), "medium");
        json_decref(ans);

        a = get_alert(id2, 200);
        assert_string_equal(json_string_value(json_object_get(a, "device_id")), A.id);
        assert_string_equal(json_string_value(json_object_get(a, "status")), "new");
        assert_int_equal(json_integer_value(json_object_get(a, "count")), 2);
        assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(a, "alert"),
                            "process"), "image")), "/usr/bin/bash");
        json_decref(a);

        risk = device_risk(&A, &reasons);
        assert_string_equal(risk, "medium");
        assert_int_equal(json_array_size(reasons), 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(reasons, 0), "alert_id")), id2);
        free(risk);
        json_decref(reasons);

        /* idempotent: the same batch again stores nothing twice */
        assert_int_equal(upload_alerts(&A, json_pack("[o,o]",
                alert_new(id1, "low", "rule-a", "2026-11-30T03:00:00.5Z", "2026-11-30T03:00:00.5Z", 1),
                alert_new(id2, "medium", "rule-b", "2026-11-30T03:01:00.123456789Z", "2026-11-30T03:02:00Z", 2)),
                &ans), 200);
        assert_string_equal(result_status(ans, 0), "unchanged");
        assert_string_equal(result_status(ans, 1), "unchanged");
        json_decref(ans);
        {
                char q[128];
                snprintf(q, sizeof(q), "device=%s", A.id);
                assert_int_equal(alert_count(q), 2);
        }
}

static void test_replay_no_rollback(void **state)
{
        char id[37];
        json_t *ans = NULL, *a, *upd;

        uuid(id);
        assert_int_equal(upload_alerts(&A, json_pack("[o]",
                alert_new(id, "low", "rule-r", "2026-11-30T04:00:00Z", "2026-11-30T04:00:00Z", 1)), NULL), 200);
        upd = alert_new(id, "low", "rule-r", "2026-11-30T04:00:00Z", "2026-11-30T04:05:00.25Z", 7);
        json_object_set_new(upd, "change", json_string("update"));
        assert_int_equal(upload_alerts(&A, json_pack("[o]", upd), &ans), 200);
        assert_string_equal(result_status(ans, 0), "updated");
        json_decref(ans);
        /* the old batch replayed: nothing rolls back */
        assert_int_equal(upload_alerts(&A, json_pack("[o]",
                alert_new(id, "low", "rule-r", "2026-11-30T04:00:00Z", "2026-11-30T04:00:00Z", 1)), &ans), 200);
        assert_string_equal(result_status(ans, 0), "unchanged");
        json_decref(ans);
        a = get_alert(id, 200);
        assert_int_equal(json_integer_value(json_object_get(a, "count")), 7);
        assert_string_equal(json_string_value(json_object_get(a, "last_seen")), "2026-11-30T04:05:00.25Z");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(a, "alert"), "count")), 7);
        json_decref(a);
}

static void test_foreign_alert_id(void **state)
{
        char id[37], idb[37];
        json_t *ans = NULL, *a, *res;

        json_t *named;

        uuid(id);
        uuid(idb);
        assert_int_equal(upload_alerts(&A, json_pack("[o]",
                alert_new(id, "high", "rule-f", "2026-11-30T04:00:00Z", "2026-11-30T04:00:00Z", 1)), NULL), 200);
        named = alert_new(idb, "low", "rule-f", "2026-11-30T04:00:00Z", "2026-11-30T04:00:00Z", 1);
        json_object_set_new(named, "device_id", json_string(A.id));
        assert_int_equal(upload_alerts(&B, json_pack("[o,o]",
                alert_new(id, "low", "rule-f", "2026-11-30T04:00:00Z", "2026-11-30T05:00:00Z", 99), named), &ans), 200);
        res = json_array_get(json_object_get(ans, "results"), 0);
        assert_string_equal(json_string_value(json_object_get(res, "status")), "rejected");
        assert_string_equal(json_string_value(json_object_get(res, "error")), "alert id belongs to another device");
        assert_string_equal(result_status(ans, 1), "stored");
        assert_string_equal(json_string_value(json_object_get(ans, "risk")), "low");
        json_decref(ans);
        a = get_alert(id, 200);
        assert_string_equal(json_string_value(json_object_get(a, "device_id")), A.id);
        assert_int_equal(json_integer_value(json_object_get(a, "count")), 1);
        json_decref(a);
        /* the body never names the device: a device_id member changes nothing */
        a = get_alert(idb, 200);
        assert_string_equal(json_string_value(json_object_get(a, "device_id")), B.id);
        json_decref(a);
        assert_risk(&A, "high");
        /* leave A as it was for later tests: resolve the high alert */
        assert_int_equal(patch(id, NULL, "{\"status\":\"resolved\"}", NULL), 200);
}

static void expect_batch_error(const char *body, size_t len, long status, const char *code)
{
        json_t *j = NULL;

        assert_int_equal(upload(&C, body, len, &j), status);
        assert_string_equal(httpc_error_code(j), code);
        json_decref(j);
}

static void test_malformed_batches(void **state)
{
        char id[37], *text;
        json_t *arr, *b;
        size_t n;

        expect_batch_error("not json", 8, 400, "invalid_batch");
        expect_batch_error("[]", 2, 400, "invalid_batch");
        expect_batch_error("{\"alerts\":{}}", 13, 400, "invalid_batch");
        /* a valid alert beside a non-object: nothing stored */
        uuid(id);
        b = json_pack("{s:[o,i]}", "alerts",
                      alert_new(id, "high", "rule-m", "2026-11-30T04:00:00Z", "2026-11-30T04:00:00Z", 1), 5);
        text = json_dumps(b, JSON_COMPACT);
        expect_batch_error(text, strlen(text), 400, "invalid_batch");
        free(text);
        json_decref(b);
        json_decref(get_alert(id, 404));
        /* 501 alerts */
        arr = json_array();
        for (int i = 0; i < 501; i++) {
                char x[37];
                uuid(x);
                json_array_append_new(arr, alert_new(x, "low", "rule-m", "2026-11-30T04:00:00Z",
                                                     "2026-11-30T04:00:00Z", 1));
        }
        json_array_set_new(arr, 0, alert_new(id, "high", "rule-m", "2026-11-30T04:00:00Z",
                                             "2026-11-30T04:00:00Z", 1));
        b = json_pack("{s:o}", "alerts", arr);
        text = json_dumps(b, JSON_COMPACT);
        expect_batch_error(text, strlen(text), 413, "batch_too_large");
        free(text);
        json_decref(b);
        json_decref(get_alert(id, 404));
        /* more than 4 MiB */
        n = 4 * 1024 * 1024 + 100;
        text = malloc(n + 1);
        assert_non_null(text);
        memset(text, ' ', n);
        memcpy(text, "{\"alerts\":[]}", 13);
        text[n] = '\0';
        expect_batch_error(text, n, 413, "batch_too_large");
        free(text);
        assert_risk(&C, "none");
        {
                char q[128];
                snprintf(q, sizeof(q), "device=%s", C.id);
                assert_int_equal(alert_count(q), 0);
        }
}

static void test_per_alert_rejections(void **state)
{
        char id1[37], id2[37], id3[37];
        json_t *ans = NULL, *bad_sev, *bad_tech, *res;

        uuid(id1);
        uuid(id2);
        uuid(id3);
        bad_sev = alert_new(id2, "critical", "rule-x", "2026-11-30T04:00:00Z", "2026-11-30T04:00:00Z", 1);
        bad_tech = alert_new(id3, "low", "rule-x", "2026-11-30T04:00:00Z", "2026-11-30T04:00:00Z", 1);
        json_object_set_new(bad_tech, "techniques", json_pack("[s]", "T10"));
        assert_int_equal(upload_alerts(&B, json_pack("[o,o,o,o,o]",
                alert_new(id1, "informational", "rule-x", "2026-11-30T04:00:00Z", "2026-11-30T04:00:00Z", 1),
                bad_sev, bad_tech,
                alert_new("not-a-uuid", "low", "rule-x", "2026-11-30T04:00:00Z", "2026-11-30T04:00:00Z", 1),
                alert_new(id1, "low", "rule-x", "yesterday", "2026-11-30T04:00:00Z", 0)), &ans), 200);
        assert_string_equal(result_status(ans, 0), "stored");
        res = json_array_get(json_object_get(ans, "results"), 1);
        assert_string_equal(json_string_value(json_object_get(res, "status")), "rejected");
        assert_non_null(strstr(json_string_value(json_object_get(res, "error")), "severity"));
        assert_string_equal(result_status(ans, 2), "rejected");
        res = json_array_get(json_object_get(ans, "results"), 3);
        assert_string_equal(json_string_value(json_object_get(res, "status")), "rejected");
        assert_string_equal(json_string_value(json_object_get(res, "id")), "not-a-uuid");
        assert_string_equal(result_status(ans, 4), "rejected");
        json_decref(ans);
        json_decref(get_alert(id2, 404));
        json_decref(get_alert(id3, 404));
}

static json_t *timeline(struct harness_device *dev)
{
        char path[128];
        json_t *j = NULL;

        snprintf(path, sizeof(path), "/api/v1/devices/%s/timeline", dev->id);
        assert_int_equal(harness_admin(&H, "GET", path, NULL, NULL, &j), 200);
        return j;
}

static void test_risk_transitions(void **state)
{
        char low[37], high[37];
        json_t *t, *e;

        uuid(low);
        uuid(high);
        assert_risk(&C, "none");
        assert_int_equal(upload_alerts(&C, json_pack("[o]",
                alert_new(low, "low", "rule-c1", "2026-11-30T04:00:00Z", "2026-11-30T04:00:00Z", 1)), NULL), 200);
        assert_risk(&C, "low");
        assert_int_equal(upload_alerts(&C, json_pack("[o]",
                alert_new(high, "high", "rule-c2", "2026-11-30T04:01:00Z", "2026-11-30T04:01:00Z", 1)), NULL), 200);
        assert_risk(&C, "high");
        assert_int_equal(patch(high, NULL, "{\"status\":\"resolved\"}", NULL), 200);
        assert_risk(&C, "low");
        assert_int_equal(patch(low, NULL, "{\"status\":\"in_progress\"}", NULL), 200);
        assert_risk(&C, "low");
        assert_int_equal(patch(low, NULL, "{\"status\":\"resolved\"}", NULL), 200);
        assert_risk(&C, "none");

        t = timeline(&C);
        assert_int_equal(json_integer_value(json_object_get(t, "count")), 4);
        e = json_array_get(json_object_get(t, "value"), 3);    /* newest first */
        assert_string_equal(json_string_value(json_object_get(e, "from")), "none");
        assert_string_equal(json_string_value(json_object_get(e, "to")), "low");
        assert_string_equal(json_string_value(json_array_get(json_object_get(e, "alert_ids"), 0)), low);
        assert_string_equal(json_string_value(json_object_get(e, "by")), "agent");
        e = json_array_get(json_object_get(t, "value"), 2);
        assert_string_equal(json_string_value(json_object_get(e, "to")), "high");
        assert_string_equal(json_string_value(json_array_get(json_object_get(e, "alert_ids"), 0)), high);
        e = json_array_get(json_object_get(t, "value"), 1);
        assert_string_equal(json_string_value(json_object_get(e, "from")), "high");
        assert_string_equal(json_string_value(json_object_get(e, "to")), "low");
        e = json_array_get(json_object_get(t, "value"), 0);
        assert_string_equal(json_string_value(json_object_get(e, "to")), "none");
        assert_string_not_equal(json_string_value(json_object_get(e, "by")), "agent");
        json_decref(t);
}

static void test_patch_and_history(void **state)
{
        char id[37];
        json_t *a, *j = NULL, *h;

        uuid(id);
        assert_int_equal(upload_alerts(&B, json_pack("[o]",
                alert_new(id, "medium", "rule-p", "2026-11-30T04:00:00Z", "2026-11-30T04:00:00Z", 1)), NULL), 200);
        assert_int_equal(patch(id, NULL, "{\"status\":\"in_progress\",\"color\":\"red\"}", &j), 400);
        assert_non_null(strstr(httpc_error_message(j, 400), "color"));
        json_decref(j);
        j = NULL;
        assert_int_equal(patch(id, NULL, "{\"status\":\"in_progress\",\"classification\":\"maybe\"}", &j), 400);
        assert_non_null(strstr(httpc_error_message(j, 400), "classification"));
        json_decref(j);
        assert_int_equal(patch(id, NULL, "{\"determination\":\"aliens\"}", NULL), 400);
        assert_int_equal(patch(id, NULL, "{\"status\":7}", NULL), 400);
        assert_int_equal(patch(id, NULL, "{}", NULL), 400);
        assert_int_equal(patch(id, NULL, "not json", NULL), 400);
        a = get_alert(id, 200);
        assert_string_equal(json_string_value(json_object_get(a, "status")), "new");
        assert_int_equal(json_array_size(json_object_get(a, "history")), 0);
        json_decref(a);

        assert_int_equal(patch(id, NULL, "{\"status\":\"in_progress\",\"classification\":\"true_positive\","
                               "\"determination\":\"security_testing\",\"assigned_to\":\"alice\"}", NULL), 200);
        assert_int_equal(patch(id, NULL, "{\"status\":\"new\"}", &j), 409);
        json_decref(j);
        assert_int_equal(patch(id, NULL, "{\"status\":\"resolved\"}", NULL), 200);
        assert_int_equal(patch(id, NULL, "{\"status\":\"in_progress\"}", NULL), 200);  /* reopen */
        assert_int_equal(harness_admin(&H, "POST", "/api/v1/alerts/00000000-0000-4000-8000-000000000000/comments",
                                       NULL, "{\"comment\":\"x\"}", NULL), 404);
        {
                char path[128];
                snprintf(path, sizeof(path), "/api/v1/alerts/%s/comments", id);
                assert_int_equal(harness_admin(&H, "POST", path, NULL, "{\"comment\":\"looked at it\"}", NULL), 201);
                assert_int_equal(harness_admin(&H, "POST", path, NULL, "{\"comment\":\"\"}", NULL), 400);
        }
        a = get_alert(id, 200);
        assert_string_equal(json_string_value(json_object_get(a, "status")), "in_progress");
        assert_string_equal(json_string_value(json_object_get(a, "assigned_to")), "alice");
        assert_string_equal(json_string_value(json_object_get(a, "determination")), "security_testing");
        h = json_object_get(a, "history");
        assert_int_equal(json_array_size(h), 6);
        assert_string_equal(json_string_value(json_object_get(json_array_get(h, 0), "field")), "status");
        assert_string_equal(json_string_value(json_object_get(json_array_get(h, 0), "from")), "new");
        assert_string_equal(json_string_value(json_object_get(json_array_get(h, 0), "to")), "in_progress");
        assert_true(strlen(json_string_value(json_object_get(json_array_get(h, 0), "by"))) > 0);
        assert_string_equal(json_string_value(json_object_get(json_array_get(h, 0), "by_name")), "initial");
        assert_int_equal(json_array_size(json_object_get(a, "comments")), 1);
        json_decref(a);
        assert_int_equal(patch("00000000-0000-4000-8000-000000000000", NULL, "{\"status\":\"resolved\"}", NULL), 404);
}

static void test_list_filters_and_paging(void **state)
{
        struct harness_device D;
        char q[256], ids[3][37];
        json_t *j = NULL, *up;
        const char *sev[3] = { "low", "high", "high" };

        assert_int_equal(harness_enroll(&H, &D, "dev-d"), 0);
        for (int i = 0; i < 3; i++) {
                char first[32];
                uuid(ids[i]);
                snprintf(first, sizeof(first), "2026-11-2%dT10:00:00Z", i + 1);
                up = alert_new(ids[i], sev[i], i == 2 ? "rule-z" : "rule-l", first, first, 1);
                if (i == 2)
                        json_object_set_new(up, "techniques", json_pack("[s]", "T1548.001"));
                assert_int_equal(upload_alerts(&D, json_pack("[o]", up), NULL), 200);
        }
        snprintf(q, sizeof(q), "device=%s", D.id);
        assert_int_equal(alert_count(q), 3);
        snprintf(q, sizeof(q), "device=%s&severity=high", D.id);
        assert_int_equal(alert_count(q), 2);
        snprintf(q, sizeof(q), "device=%s&technique=T1548.001", D.id);
        assert_int_equal(alert_count(q), 1);
        snprintf(q, sizeof(q), "device=%s&technique=T1059", D.id);
        assert_int_equal(alert_count(q), 2);
        snprintf(q, sizeof(q), "device=%s&rule_id=rule-z", D.id);
        assert_int_equal(alert_count(q), 1);
        snprintf(q, sizeof(q), "device=%s&since=2026-11-22T00:00:00Z&until=2026-11-23T00:00:00Z", D.id);
        assert_int_equal(alert_count(q), 1);
        snprintf(q, sizeof(q), "device=%s&status=resolved", D.id);
        assert_int_equal(alert_count(q), 0);

        /* paging: newest first, one per page */
        snprintf(q, sizeof(q), "/api/v1/alerts?device=%s&limit=1&offset=1", D.id);
        assert_int_equal(harness_admin(&H, "GET", q, NULL, NULL, &j), 200);
        assert_int_equal(json_array_size(json_object_get(j, "value")), 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "value"), 0), "id")),
                            ids[1]);
        assert_int_equal(json_integer_value(json_object_get(j, "next_offset")), 2);
        json_decref(j);
        assert_int_equal(harness_admin(&H, "GET", "/api/v1/alerts?limit=501", NULL, NULL, NULL), 400);
        assert_int_equal(harness_admin(&H, "GET", "/api/v1/alerts?severity=critical", NULL, NULL, NULL), 400);
        assert_int_equal(harness_admin(&H, "GET", "/api/v1/alerts?since=yesterday", NULL, NULL, NULL), 400);

        /* bulk resolve by device */
        assert_risk(&D, "high");
        assert_int_equal(harness_admin(&H, "POST", "/api/v1/alerts/resolve", NULL, "{\"device_id\":\"x\"}", NULL), 400);
        snprintf(q, sizeof(q), "{\"device_id\":\"%s\",\"comment\":\"reimaged\"}", D.id);
        assert_int_equal(harness_admin(&H, "POST", "/api/v1/alerts/resolve", NULL, q, &j), 200);
        assert_int_equal(json_integer_value(json_object_get(j, "resolved")), 3);
        json_decref(j);
        assert_risk(&D, "none");
        snprintf(q, sizeof(q), "device=%s&status=resolved", D.id);
        assert_int_equal(alert_count(q), 3);
        httpc_free(D.c);
}

static void test_roles(void **state)
{
        char id[37], path[128];

        uuid(id);
        assert_int_equal(upload_alerts(&B, json_pack("[o]",
                alert_new(id, "low", "rule-role", "2026-11-30T04:00:00Z", "2026-11-30T04:00:00Z", 1)), NULL), 200);
        snprintf(path, sizeof(path), "/api/v1/alerts/%s", id);
        assert_int_equal(harness_admin(&H, "GET", path, reader_token, NULL, NULL), 200);
        assert_int_equal(harness_admin(&H, "GET", "/api/v1/alerts", reader_token, NULL, NULL), 200);
        assert_int_equal(harness_admin(&H, "PATCH", path, reader_token, "{\"status\":\"resolved\"}", NULL), 403);
        assert_int_equal(harness_admin(&H, "PATCH", path, it_token, "{\"status\":\"resolved\"}", NULL), 403);
        snprintf(path, sizeof(path), "/api/v1/alerts/%s/comments", id);
        assert_int_equal(harness_admin(&H, "POST", path, reader_token, "{\"comment\":\"x\"}", NULL), 403);
        assert_int_equal(harness_admin(&H, "POST", "/api/v1/alerts/resolve", reader_token,
                                       "{\"rule_id\":\"rule-role\",\"comment\":\"x\"}", NULL), 403);
        /* a device cannot use the admin API, nor an admin token the upload */
        assert_int_equal(harness_admin(&H, "POST", "/agent/v1/alerts", NULL, "{\"alerts\":[]}", NULL), 401);
        {
                json_t *a = get_alert(id, 200);
                assert_string_equal(json_string_value(json_object_get(a, "status")), "new");
                json_decref(a);
        }
        /* bulk resolve by rule, by the security admin */
        assert_int_equal(harness_admin(&H, "POST", "/api/v1/alerts/resolve", NULL,
                                       "{\"rule_id\":\"rule-role\",\"comment\":\"benign\"}", NULL), 200);
        assert_int_equal(alert_count("rule_id=rule-role&status=resolved"), 1);
}

static void test_cli(void **state)
{
        char id[37], args[512], *out;
        json_t *j;

        uuid(id);
        assert_int_equal(upload_alerts(&B, json_pack("[o]",
                alert_new(id, "medium", "rule-cli", "2026-11-30T04:00:00Z", "2026-11-30T04:00:00Z", 3)), NULL), 200);
        snprintf(args, sizeof(args), "alerts list --device %s --severity medium --status new --json", B.id);
        assert_int_equal(harness_cli(&H, args, &out), 0);
        j = json_loads(out, 0, NULL);
        assert_non_null(j);
        assert_true(json_integer_value(json_object_get(j, "count")) >= 1);
        json_decref(j);
        free(out);
        snprintf(args, sizeof(args), "alerts list --device %s", B.id);
        assert_int_equal(harness_cli(&H, args, &out), 0);
        assert_non_null(strstr(out, id));
        free(out);
        snprintf(args, sizeof(args), "alerts update %s --status resolved --classification false_positive "
                 "--determination not_malicious --assign bob --comment 'cron job'", id);
        assert_int_equal(harness_cli(&H, args, &out), 0);
        free(out);
        snprintf(args, sizeof(args), "alerts show %s --json", id);
        assert_int_equal(harness_cli(&H, args, &out), 0);
        j = json_loads(out, 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "status")), "resolved");
        assert_string_equal(json_string_value(json_object_get(j, "assigned_to")), "bob");
        assert_int_equal(json_array_size(json_object_get(j, "comments")), 1);
        json_decref(j);
        free(out);
        snprintf(args, sizeof(args), "alerts update %s --status bogus", id);
        assert_int_equal(harness_cli(&H, args, &out), 1);
        assert_non_null(strstr(out, "status"));
        free(out);
}

/* vigild killed (SIGKILL) while a batch of 500 alerts is on its way: once it
 * is back, the batch sent again is stored exactly once, all or nothing. */
static void test_killed_mid_upload(void **state)
{
        json_t *arr = json_array(), *ans = NULL;
        char ids[500][37], q[128];
        size_t n_stored = 0, n_unchanged = 0;
        pid_t killer;
        char *text;
        long st;

        for (int i = 0; i < 500; i++) {
                uuid(ids[i]);
                json_array_append_new(arr, alert_new(ids[i], "informational", "rule-kill", "2026-11-30T04:00:00Z",
                                                     "2026-11-30T04:00:00Z", 1));
        }
        {
                json_t *b = json_pack("{s:O}", "alerts", arr);
                text = json_dumps(b, JSON_COMPACT);
                json_decref(b);
        }
        killer = fork();
        assert_true(killer >= 0);
        if (killer == 0) {
                usleep(3000);
                kill(H.pid, SIGKILL);
                _exit(0);
        }
        st = upload(&A, text, strlen(text), NULL);     /* 200, or no answer */
        waitpid(killer, NULL, 0);
        waitpid(H.pid, NULL, 0);
        assert_int_equal(harness_restart(&H), 0);
        assert_int_equal(upload(&A, text, strlen(text), &ans), 200);
        for (size_t i = 0; i < 500; i++) {
                const char *s = result_status(ans, i);
                n_stored += strcmp(s, "stored") == 0;
                n_unchanged += strcmp(s, "unchanged") == 0;
        }
        /* one transaction: all were committed before the kill or none */
        assert_true((n_stored == 500 && n_unchanged == 0) || (n_stored == 0 && n_unchanged == 500));
        if (st == 200)
                assert_int_equal(n_unchanged, 500);
        fprintf(stderr, "killed mid-upload: first answer %ld, batch %s before the kill\n", st,
                n_unchanged ? "committed" : "not committed");
        json_decref(ans);
        assert_int_equal(upload(&A, text, strlen(text), &ans), 200);
        assert_string_equal(result_status(ans, 499), "unchanged");
        json_decref(ans);
        assert_int_equal(alert_count("rule_id=rule-kill&limit=1"), 500);
        snprintf(q, sizeof(q), "rule_id=rule-kill&device=%s", B.id);
        assert_int_equal(alert_count(q), 0);
        free(text);
        json_decref(arr);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_store_and_ack),
                cmocka_unit_test(test_replay_no_rollback),
                cmocka_unit_test(test_foreign_alert_id),
                cmocka_unit_test(test_malformed_batches),
                cmocka_unit_test(test_per_alert_rejections),
                cmocka_unit_test(test_risk_transitions),
                cmocka_unit_test(test_patch_and_history),
                cmocka_unit_test(test_list_filters_and_paging),
                cmocka_unit_test(test_roles),
                cmocka_unit_test(test_cli),
                cmocka_unit_test(test_killed_mid_upload),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
