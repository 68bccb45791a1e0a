/* Integration: the connector on a real vigild over HTTPS. The builtin
 * partner follows the risk of a real uploaded alert and publishes
 * partner_risk_changed (seen in a webhook's delivery log); a remote partner
 * with a partner token pushes risk (one device, batches, stale times) and
 * heartbeats, goes unresponsive after 2 s of silence (state, reason,
 * history, what compliance sees), comes back; block_on_missing_partner_data
 * turns "not applicable" into "block"; wrong, absent, revoked and misplaced
 * tokens are refused; bad bodies are refused and change nothing; the CLI
 * shows and changes the settings, and swapping back to the builtin partner
 * brings defend's risk back; the settings survive a restart. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "crypto/crypto.h"
#include "tests/integration/harness.h"
#include "util/strutil.h"

static struct harness H;
static struct harness_device A, B;
static char *reader_token, *partner_token, *partner_id, webhook_id[40];

static int group_setup(void **state)
{
        if (harness_start(&H, NULL) < 0)
                return -1;
        if (harness_enroll(&H, &A, "conn-a") < 0 || harness_enroll(&H, &B, "conn-b") < 0)
                return -1;
        reader_token = harness_new_token(&H, "reader", NULL, NULL);
        return reader_token ? 0 : -1;
}

static int group_teardown(void **state)
{
        httpc_free(A.c);
        httpc_free(B.c);
        free(reader_token);
        free(partner_token);
        free(partner_id);
        return harness_stop(&H);
}

/* What compliance sees of a device; the caller decrefs. */
static json_t *device_view(const struct harness_device *dev)
{
        char path[128];
        json_t *j = NULL;

        snprintf(path, sizeof(path), "/api/v1/connector/devices/%s", dev->id);
        assert_int_equal(harness_admin(&H, "GET", path, reader_token, NULL, &j), 200);
        return j;
}

static void assert_view(const struct harness_device *dev, const char *risk, bool applicable, bool block,
                        const char *reason_part)
{
        json_t *j = device_view(dev);

        assert_string_equal(json_string_value(json_object_get(j, "risk")), risk);
        assert_int_equal(json_is_true(json_object_get(j, "applicable")), applicable);
        assert_int_equal(json_is_true(json_object_get(j, "block")), block);
        if (reason_part && !strstr(json_string_value(json_object_get(j, "reason")), reason_part))
                fail_msg("reason '%s' lacks '%s'", json_string_value(json_object_get(j, "reason")), reason_part);
        json_decref(j);
}

static json_t *status(void)
{
        json_t *j = NULL;

        assert_int_equal(harness_admin(&H, "GET", "/api/v1/connector/status", reader_token, NULL, &j), 200);
        return j;
}

static void assert_state(const char *want)
{
        json_t *j = status();

        if (strcmp(json_string_value(json_object_get(j, "state")), want) != 0)
                fail_msg("state %s, expected %s (%s)", json_string_value(json_object_get(j, "state")), want,
                         json_string_value(json_object_get(j, "reason")));
        json_decref(j);
}

static long put_settings(const char *body)
{
        return harness_admin(&H, "PUT", "/api/v1/connector", NULL, body, NULL);
}

/* Partner API with the partner token (or bearer). */
static long partner(const char *method, const char *path, const char *bearer, const char *body, json_t **ret)
{
        return harness_admin(&H, method, path, bearer ? bearer : partner_token, body, ret);
}

static long push(const struct harness_device *dev, const char *risk, const char *as_of, json_t **ret)
{
        char path[128], body[256];

        snprintf(path, sizeof(path), "/partner/v1/devices/%s/risk", dev->id);
        snprintf(body, sizeof(body), "{\"risk\":\"%s\",\"as_of\":\"%s\",\"reasons\":[\"partner says so\"]}",
                 risk, as_of);
        return partner("PUT", path, NULL, body, ret);
}

static void time_text(int64_t delta, char out[static 21])
{
        util_time_format(util_now() + delta, out);
}

static int64_t json_int(const json_t *o, const char *key)
{
        return (int64_t)json_integer_value(json_object_get(o, key));
}

/* The number of the webhook's deliveries of events of type. */
static int deliveries_of(const char *type)
{
        char path[128];
        json_t *j = NULL, *v;
        size_t i;
        int n = 0;

        snprintf(path, sizeof(path), "/api/v1/webhooks/%s/deliveries?limit=500", webhook_id);
        assert_int_equal(harness_admin(&H, "GET", path, NULL, NULL, &j), 200);
        json_array_foreach(json_object_get(j, "value"), i, v)
                n += strcmp(json_string_value(json_object_get(v, "event_type")), type) == 0;
        json_decref(j);
        return n;
}

static long upload_high_alert(struct harness_device *dev)
{
        char id[37];

        assert_int_equal(crypto_uuid4(id), 0);
        return harness_alert_upload(dev, id, "conn-rule", "Connector test", "high");
}

static void test_builtin_follows_defend(void **state)
{
        json_t *j = NULL;

        assert_int_equal(harness_admin(&H, "GET", "/api/v1/connector", reader_token, NULL, &j), 200);
        assert_string_equal(json_string_value(json_object_get(j, "partner")), "builtin");
        assert_string_equal(json_string_value(json_array_get(json_object_get(j, "enabled_platforms"), 0)), "linux");
        assert_string_equal(json_string_value(json_object_get(j, "partner_unresponsive_after")), "1d");
        assert_false(json_is_true(json_object_get(j, "block_on_missing_partner_data")));
        json_decref(j);
        assert_state("enabled");
        assert_view(&A, "none", true, false, "builtin");
        /* a receiver that is never there: the delivery log still shows what was published */
        assert_int_equal(harness_admin(&H, "POST", "/api/v1/webhooks", NULL,
                                       "{\"name\":\"conn\",\"url\":\"http://127.0.0.1:9/hook\","
                                       "\"events\":[\"partner_risk_changed\",\"connector_changed\"]}", &j), 201);
        snprintf(webhook_id, sizeof(webhook_id), "%s", json_string_value(json_object_get(j, "id")));
        json_decref(j);
        assert_int_equal(upload_high_alert(&A), 200);
        assert_view(&A, "high", true, false, "builtin");
        assert_view(&B, "none", true, false, NULL);
        j = status();
        assert_int_equal(json_int(j, "devices_with_risk"), 1);
        json_decref(j);
        assert_int_equal(deliveries_of("partner_risk_changed"), 1);
}

static void test_partner_token(void **state)
{
        json_t *j = NULL;

        assert_int_equal(harness_admin(&H, "POST", "/api/v1/connector/partner-tokens", reader_token,
                                       "{\"name\":\"edr\"}", NULL), 403);
        assert_int_equal(harness_admin(&H, "POST", "/api/v1/connector/partner-tokens", NULL, "{\"name\":\"\"}",
                                       NULL), 400);
        /* a partner token cannot be made through the admin tokens' endpoint */
        assert_int_equal(harness_admin(&H, "POST", "/api/v1/tokens", NULL, "{\"role\":\"partner\"}", NULL), 400);
        assert_int_equal(harness_admin(&H, "POST", "/api/v1/connector/partner-tokens", NULL,
                                       "{\"name\":\"outside edr\"}", &j), 201);
        partner_token = strdup(json_string_value(json_object_get(j, "token")));
        partner_id = strdup(json_string_value(json_object_get(j, "id")));
        json_decref(j);
        /* the builtin partner is in charge: a remote one is told so */
        assert_int_equal(partner("POST", "/partner/v1/heartbeat", NULL, "", &j), 409);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                            "partner_not_remote");
        json_decref(j);
}

static void test_remote_partner(void **state)
{
        char t1[21], t0[21], t2[21], body[512];
        json_t *j = NULL;
        int connector_events = deliveries_of("connector_changed");

        assert_int_equal(put_settings("{\"partner\":\"remote\",\"partner_unresponsive_after\":\"2s\"}"), 200);
        assert_state("unavailable");
        assert_int_equal(deliveries_of("connector_changed"), connector_events + 1);
        assert_view(&A, "none", false, false, "never connected");
        assert_int_equal(partner("POST", "/partner/v1/heartbeat", NULL, "{}", &j), 200);
        assert_string_equal(json_string_value(json_object_get(j, "state")), "enabled");
        json_decref(j);
        assert_state("enabled");
        /* enabled, but nothing reported for A yet */
        assert_view(&A, "none", false, false, "no risk for this device");
        time_text(-60, t1);
        time_text(-120, t0);
        time_text(-30, t2);
        assert_int_equal(push(&A, "medium", t1, &j), 200);
        assert_int_equal(json_int(j, "changed"), 1);
        json_decref(j);
        assert_view(&A, "medium", true, false, "remote");
        j = device_view(&A);
        assert_string_equal(json_string_value(json_array_get(json_object_get(j, "reasons"), 0)), "partner says so");
        assert_string_equal(json_string_value(json_object_get(j, "as_of")), t1);
        json_decref(j);
        /* older than what is stored: ignored */
        assert_int_equal(push(&A, "high", t0, &j), 200);
        assert_int_equal(json_int(j, "stale"), 1);
        assert_int_equal(json_int(j, "changed"), 0);
        json_decref(j);
        assert_view(&A, "medium", true, false, NULL);
        /* the same again: accepted, no change */
        assert_int_equal(push(&A, "medium", t1, &j), 200);
        assert_int_equal(json_int(j, "changed"), 0);
        json_decref(j);
        snprintf(body, sizeof(body), "{\"devices\":[{\"id\":\"%s\",\"risk\":\"low\",\"as_of\":\"%s\"},"
                 "{\"id\":\"%s\",\"risk\":\"high\",\"as_of\":\"%s\"}]}", A.id, t2, B.id, t2);
        assert_int_equal(partner("POST", "/partner/v1/risk", NULL, body, &j), 200);
        assert_int_equal(json_int(j, "accepted"), 2);
        assert_int_equal(json_int(j, "changed"), 2);
        json_decref(j);
        assert_view(&A, "low", true, false, NULL);
        assert_view(&B, "high", true, false, NULL);
        j = status();
        assert_int_equal(json_int(j, "devices_with_risk"), 2);
        json_decref(j);
        /* builtin high, then medium, low for A, high for B */
        assert_int_equal(deliveries_of("partner_risk_changed"), 4);
}

static void test_unresponsive(void **state)
{
        json_t *j = NULL, *h = NULL;
        struct timespec nap = { 0, 100000000 };

        /* 2 s without a heartbeat, then the state thread's next check (every
         * second); a loaded machine may take longer: up to 15 s */
        for (int i = 0; i < 150; i++) {
                j = status();
                if (strcmp(json_string_value(json_object_get(j, "state")), "unresponsive") == 0)
                        break;
                json_decref(j);
                j = NULL;
                nanosleep(&nap, NULL);
        }
        if (!j)
                j = status();
        assert_string_equal(json_string_value(json_object_get(j, "state")), "unresponsive");
        assert_non_null(strstr(json_string_value(json_object_get(j, "reason")), "partner unresponsive since"));
        assert_non_null(strstr(json_string_value(json_object_get(j, "reason")), "no heartbeat for"));
        assert_true(json_is_string(json_object_get(j, "last_heartbeat")));
        json_decref(j);
        assert_view(&A, "none", false, false, "unresponsive");
        assert_int_equal(harness_admin(&H, "GET", "/api/v1/connector/history?limit=1", reader_token, NULL, &h), 200);
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(h, "value"), 0), "to")),
                            "unresponsive");
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(h, "value"), 0), "from")),
                            "enabled");
        assert_true(json_integer_value(json_object_get(h, "count")) >= 4);
        json_decref(h);
        /* block_on_missing_partner_data: not applicable now blocks */
        assert_int_equal(put_settings("{\"block_on_missing_partner_data\":true}"), 200);
        assert_view(&A, "none", false, true, "no heartbeat");
        assert_view(&B, "none", false, true, NULL);
        /* a heartbeat brings it back, with the risks as they were */
        assert_int_equal(partner("POST", "/partner/v1/heartbeat", NULL, NULL, NULL), 200);
        assert_state("enabled");
        assert_view(&A, "low", true, false, NULL);
        assert_view(&B, "high", true, false, NULL);
        assert_int_equal(harness_admin(&H, "GET", "/api/v1/connector/history?limit=1", reader_token, NULL, &h), 200);
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(h, "value"), 0), "to")),
                            "enabled");
        json_decref(h);
        assert_int_equal(put_settings("{\"block_on_missing_partner_data\":false,\"partner_unresponsive_after\":\"1h\"}"),
                         200);
}

static void test_tokens_refused(void **state)
{
        char bad[256];
        json_t *j = NULL;

        assert_int_equal(partner("POST", "/partner/v1/heartbeat", "", NULL, NULL), 401);
        assert_int_equal(partner("POST", "/partner/v1/heartbeat", "vgt_0123456789abcdef_nope", NULL, NULL), 401);
        /* the right id with another secret */
        snprintf(bad, sizeof(bad), "vgt_%s_%s", partner_id, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        assert_int_equal(partner("POST", "/partner/v1/heartbeat", bad, NULL, NULL), 401);
        /* an admin token is not a partner's, and a partner's is not an admin's */
        assert_int_equal(partner("POST", "/partner/v1/heartbeat", H.token, NULL, NULL), 403);
        assert_int_equal(partner("GET", "/api/v1/connector", NULL, NULL, NULL), 403);
        assert_int_equal(partner("GET", "/api/v1/alerts", NULL, NULL, NULL), 403);
        assert_int_equal(harness_admin(&H, "PUT", "/api/v1/connector", reader_token, "{\"partner\":\"builtin\"}",
                                       NULL), 403);
        /* a revoked partner token */
        assert_int_equal(harness_admin(&H, "POST", "/api/v1/connector/partner-tokens", NULL, "{\"name\":\"old\"}",
                                       &j), 201);
        {
                char *tok = strdup(json_string_value(json_object_get(j, "token"))), path[128];

                snprintf(path, sizeof(path), "/api/v1/connector/partner-tokens/%s",
                         json_string_value(json_object_get(j, "id")));
                assert_int_equal(partner("POST", "/partner/v1/heartbeat", tok, NULL, NULL), 200);
                assert_int_equal(harness_admin(&H, "DELETE", path, NULL, NULL, NULL), 200);
                assert_int_equal(harness_admin(&H, "DELETE", path, NULL, NULL, NULL), 404);
                assert_int_equal(partner("POST", "/partner/v1/heartbeat", tok, NULL, NULL), 401);
                free(tok);
        }
        json_decref(j);
}

static void expect_bad(const char *method, const char *path, const char *body, long want, const char *msg_part)
{
        json_t *j = NULL;
        const char *msg;

        assert_int_equal(partner(method, path, NULL, body, &j), want);
        msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
        if (!msg || !strstr(msg, msg_part))
                fail_msg("error '%s' lacks '%s'", msg ? msg : "(none)", msg_part);
        json_decref(j);
}

static void test_bad_bodies(void **state)
{
        char path[128], now[21], body[512], *big;
        size_t len;
        int events = deliveries_of("partner_risk_changed");

        time_text(0, now);
        snprintf(path, sizeof(path), "/partner/v1/devices/%s/risk", A.id);
        expect_bad("PUT", path, "{\"risk\":", 400, "not JSON");
        expect_bad("PUT", path, "{\"risk\":\"critical\",\"as_of\":\"2026-11-30T00:00:00Z\"}", 400, "'risk'");
        expect_bad("PUT", path, "{\"risk\":\"high\",\"as_of\":\"noon\"}", 400, "RFC 3339");
        expect_bad("PUT", path, "{\"risk\":\"high\",\"as_of\":\"2099-01-01T00:00:00Z\"}", 400, "future");
        expect_bad("PUT", path, "{\"risk\":\"high\",\"as_of\":\"2026-11-30T00:00:00Z\",\"score\":9}", 400,
                   "unknown member 'score'");
        expect_bad("PUT", "/partner/v1/devices/no-such-device/risk", "{\"risk\":\"high\",\"as_of\":\"2026-11-30T00:00:00Z\"}",
                   404, "no device");
        expect_bad("POST", "/partner/v1/heartbeat", "{\"hello\":1}", 400, "empty or {}");
        /* a batch naming one unknown device stores nothing */
        snprintf(body, sizeof(body), "{\"devices\":[{\"id\":\"%s\",\"risk\":\"none\",\"as_of\":\"%s\"},"
                 "{\"id\":\"nobody\",\"risk\":\"high\",\"as_of\":\"%s\"}]}", A.id, now, now);
        expect_bad("POST", "/partner/v1/risk", body, 404, "devices[1]");
        snprintf(body, sizeof(body), "{\"devices\":[{\"id\":\"%s\",\"risk\":\"none\",\"as_of\":\"%s\"},"
                 "{\"id\":\"%s\",\"risk\":\"high\",\"as_of\":\"%s\"}]}", A.id, now, A.id, now);
        expect_bad("POST", "/partner/v1/risk", body, 400, "listed already");
        big = malloc(1001 * 120 + 32);
        assert_non_null(big);
        len = (size_t)snprintf(big, 32, "{\"devices\":[");
        for (int i = 0; i < 1001; i++)
                len += (size_t)snprintf(big + len, 120, "%s{\"id\":\"%s\",\"risk\":\"low\",\"as_of\":\"%s\"}",
                                        i ? "," : "", A.id, now);
        memcpy(big + len, "]}", 3);
        expect_bad("POST", "/partner/v1/risk", big, 413, "at most 1000");
        free(big);
        assert_view(&A, "low", true, false, NULL);
        assert_int_equal(deliveries_of("partner_risk_changed"), events);
        assert_int_equal(put_settings("{\"partner_unresponsive_after\":\"0s\"}"), 400);
        assert_int_equal(put_settings("{\"enabled_platforms\":[\"beos\"]}"), 400);
        assert_int_equal(put_settings("[]"), 400);
}

static void test_cli_and_swap(void **state)
{
        char *out = NULL;

        assert_int_equal(harness_cli(&H, "connector show", &out), 0);
        assert_non_null(strstr(out, "remote"));
        assert_non_null(strstr(out, "enabled"));
        free(out);
        assert_int_equal(harness_cli(&H, "connector set --block-on-missing-data maybe", &out), 2);
        free(out);
        assert_int_equal(harness_cli(&H, "connector set --partner builtin", &out), 0);
        free(out);
        /* defend's view is back: A has its high alert, B none */
        assert_view(&A, "high", true, false, "builtin");
        assert_view(&B, "none", true, false, NULL);
        assert_int_equal(harness_cli(&H, "connector set --platforms none", &out), 0);
        free(out);
        assert_state("available");
        assert_view(&A, "none", false, false, "enabled for no platform");
        assert_int_equal(harness_cli(&H, "connector history", &out), 0);
        assert_non_null(strstr(out, "unresponsive"));
        free(out);
        assert_int_equal(harness_cli(&H, "connector partner-token create --name cli-edr", &out), 0);
        assert_non_null(strstr(out, "vgt_"));
        free(out);
}

static void test_restart(void **state)
{
        int st;

        kill(H.pid, SIGTERM);
        waitpid(H.pid, &st, 0);
        assert_int_equal(harness_restart(&H), 0);
        assert_state("available");
        assert_int_equal(put_settings("{\"enabled_platforms\":[\"linux\"]}"), 200);
        assert_state("enabled");
        assert_view(&A, "high", true, false, NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_builtin_follows_defend),
                cmocka_unit_test(test_partner_token),
                cmocka_unit_test(test_remote_partner),
                cmocka_unit_test(test_unresponsive),
                cmocka_unit_test(test_tokens_refused),
                cmocka_unit_test(test_bad_bodies),
                cmocka_unit_test(test_cli_and_swap),
                cmocka_unit_test(test_restart),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
