/* Unit tests of webhook's pure parts: the signature against known vectors
 * (RFC 4231 and one computed by another HMAC implementation), the retry
 * schedule, the checks on a subscription and its URL, the webhook
 * settings of vigild.conf, and the queue in an in-memory database (which
 * subscriptions get an event, the cap, the outcome of attempts, pruning). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "server/db/db.h"
#include "server/vigild.h"
#include "server/webhook/webhook-internal.h"
#include "util/strutil.h"

static void test_signature_rfc4231(void **state)
{
        /* RFC 4231 test case 7: 131 bytes of 0xaa as the key; its data holds a
         * '.', so it splits into a "timestamp" and a "body" */
        static const char data[] = "This is a test using a larger than block-size key and a larger than block-size "
                                   "data. The key needs to be hashed before being used by the HMAC algorithm.";
        const char *dot = strchr(data, '.');
        uint8_t key[131];
        char sig[WEBHOOK_SIGNATURE_HEX_LEN + 1];

        memset(key, 0xaa, sizeof(key));
        assert_int_equal(webhook_signature(key, sizeof(key), data, (size_t)(dot - data), dot + 1, strlen(dot + 1), sig),
                         0);
        assert_string_equal(sig, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

static void test_signature_webhook(void **state)
{
        /* Python: hmac.new(secret, b"1796018710." + body, hashlib.sha256).hexdigest() */
        static const char secret[] = "a-receiver-secret-of-enough-length";
        static const char body[] = "{\"id\":\"51261525-fa79-444e-8e58-0b781278dccd\",\"type\":\"ping\"}";
        char sig[WEBHOOK_SIGNATURE_HEX_LEN + 1], other[WEBHOOK_SIGNATURE_HEX_LEN + 1];

        assert_int_equal(webhook_signature(secret, strlen(secret), "1796018710", 10, body, strlen(body), sig), 0);
        assert_string_equal(sig, "6ccf2d5c3585abf31d3aa725826c9942fe0bf55e383170c918a057153e3bbcf8");
        /* the timestamp is signed: another one gives another signature */
        assert_int_equal(webhook_signature(secret, strlen(secret), "1796018711", 10, body, strlen(body), other), 0);
        assert_string_not_equal(sig, other);
        /* an empty body is still signed */
        assert_int_equal(webhook_signature(secret, strlen(secret), "1", 1, "", 0, other), 0);
        assert_int_equal(strlen(other), WEBHOOK_SIGNATURE_HEX_LEN);
}

static void test_backoff(void **state)
{
        assert_int_equal(webhook_backoff_ms(1, 1000, 600000, 0), 1000);
        assert_int_equal(webhook_backoff_ms(2, 1000, 600000, 0), 2000);
        assert_int_equal(webhook_backoff_ms(3, 1000, 600000, 0), 4000);
        assert_int_equal(webhook_backoff_ms(10, 1000, 600000, 0), 512000);
        assert_int_equal(webhook_backoff_ms(11, 1000, 600000, 0), 600000);
        assert_int_equal(webhook_backoff_ms(100, 1000, 600000, 0), 600000);
        /* jitter takes off at most a quarter */
        assert_int_equal(webhook_backoff_ms(1, 1000, 600000, UINT32_MAX), 750);
        assert_int_equal(webhook_backoff_ms(100, 1000, 600000, UINT32_MAX), 450000);
        for (uint32_t j = 0; j < 1000; j++) {
                int64_t w = webhook_backoff_ms(3, 1000, 600000, j * 4294967u);
                assert_true(w >= 3000 && w <= 4000);
        }
}

static void test_url(void **state)
{
        static const char *const good[] = {
                "https://hooks.example.com/vigil", "https://203.0.113.7:8443/a?b=c", "http://127.0.0.1:9000/h",
                "http://localhost/h", "http://[::1]:8080/h", "http://127.8.9.10/h", "https://[2001:db8::1]/h",
                /* libcurl reads these as 127.0.0.1, and so connects there */
                "http://127.1/h", "http://2130706433/h",
        };
        static const char *const bad[] = {
                "http://10.0.0.1/h", "http://example.com/h", "ftp://127.0.0.1/h", "https://", "https:///h",
                "https://user:pw@example.com/h", "https://user@example.com/h", "https://example.com/h#x",
                "http://127.0.0.1.example.com/h", "http://0x7f000001.example.com/h", "https://exa mple.com/", "file:///etc/passwd",
                "https://example.com/\x01", "//example.com/h", "",
        };
        char err[256];

        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
                if (webhook_url_check(good[i], err, sizeof(err)) != 0)
                        fail_msg("refused '%s': %s", good[i], err);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                err[0] = '\0';
                if (webhook_url_check(bad[i], err, sizeof(err)) != -EINVAL || !err[0])
                        fail_msg("accepted '%s'", bad[i]);
        }
}

static int check_text(const char *text, bool partial, struct webhook_sub_input *in, char *err, size_t size)
{
        json_t *j = json_loads(text, JSON_ALLOW_NUL, NULL);
        int r;

        assert_non_null(j);
        err[0] = '\0';
        r = webhook_sub_check(j, partial, in, err, size);
        json_decref(j);
        return r;
}

static void test_sub_check(void **state)
{
        struct webhook_sub_input in;
        char err[512];

        assert_int_equal(check_text("{\"name\":\"siem\",\"url\":\"https://siem.example.com/h\","
                                    "\"events\":[\"risk_changed\",\"alert_raised\"]}", false, &in, err, sizeof(err)), 0);
        assert_true(in.has_events && in.events == 3 && in.enabled && !in.secret && !in.has_ca_pem);
        assert_int_equal(check_text("{\"enabled\":false}", true, &in, err, sizeof(err)), 0);
        assert_true(in.has_enabled && !in.enabled && !in.name && !in.has_events);
        assert_int_equal(check_text("{\"ca_pem\":null}", true, &in, err, sizeof(err)), 0);
        assert_true(in.has_ca_pem && !in.ca_pem);

        assert_int_equal(check_text("{\"enabled\":false}", false, &in, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "'name' is required"));
        assert_int_equal(check_text("{}", true, &in, err, sizeof(err)), -EINVAL);
        assert_int_equal(check_text("{\"events\":[\"compliance_changd\"]}", true, &in, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "valid events are alert_raised, risk_changed, connector_changed, partner_risk_changed, groups_changed, compliance_changed and noncompliance_notify"));
        assert_int_equal(check_text("{\"events\":[\"ping\"]}", true, &in, err, sizeof(err)), -EINVAL);
        assert_int_equal(check_text("{\"events\":[1]}", true, &in, err, sizeof(err)), -EINVAL);
        assert_int_equal(check_text("{\"events\":[\"risk_changed\\u0000x\"]}", true, &in, err, sizeof(err)), -EINVAL);
        assert_int_equal(check_text("{\"name\":\"a\\u0007b\"}", true, &in, err, sizeof(err)), -EINVAL);
        assert_int_equal(check_text("{\"name\":\"\"}", true, &in, err, sizeof(err)), -EINVAL);
        assert_int_equal(check_text("{\"secret\":\"0123456789abcde\"}", true, &in, err, sizeof(err)), -EINVAL);
        assert_int_equal(check_text("{\"secret\":\"0123456789abcdef\"}", true, &in, err, sizeof(err)), 0);
        assert_int_equal(check_text("{\"secret\":\"0123456789 abcdef\"}", true, &in, err, sizeof(err)), -EINVAL);
        assert_int_equal(check_text("{\"url\":5}", true, &in, err, sizeof(err)), -EINVAL);
        assert_int_equal(check_text("{\"ca_pem\":\"-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----\\n\"}",
                                    true, &in, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "PEM certificate"));
        assert_int_equal(check_text("{\"Name\":\"x\"}", true, &in, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "unknown member 'Name'"));
        assert_int_equal(check_text("[1]", true, &in, err, sizeof(err)), -EINVAL);
}

static void test_config(void **state)
{
        struct vigild_config cfg;
        char err[256];
        const char *text = "webhook_max_attempts = 5\nwebhook_retry_base_ms = 50\nwebhook_retry_max = 2m\n"
                           "webhook_timeout = 3s\nwebhook_queue_max = 10\nwebhook_retention = 2d\n";

        vigild_config_defaults(&cfg);
        assert_int_equal(cfg.webhook_max_attempts, 12);
        assert_int_equal(cfg.webhook_retry_base_ms, 1000);
        assert_int_equal(cfg.webhook_retry_max, 600);
        assert_int_equal(cfg.webhook_timeout, 10);
        assert_int_equal(cfg.webhook_queue_max, 100000);
        assert_int_equal(cfg.webhook_retention, 30 * 86400);
        assert_int_equal(vigild_config_parse(text, strlen(text), &cfg, err, sizeof(err)), 0);
        assert_int_equal(cfg.webhook_max_attempts, 5);
        assert_int_equal(cfg.webhook_retry_base_ms, 50);
        assert_int_equal(cfg.webhook_retry_max, 120);
        assert_int_equal(cfg.webhook_timeout, 3);
        assert_int_equal(cfg.webhook_queue_max, 10);
        assert_int_equal(cfg.webhook_retention, 2 * 86400);
        static const char *const bad[] = { "webhook_max_attempts = 0\n", "webhook_max_attempts = 101\n",
                                           "webhook_retry_base_ms = 0\n", "webhook_retry_max = 2d\n",
                                           "webhook_timeout = 301\n", "webhook_queue_max = 0\n",
                                           "webhook_retention = 10m\n" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (vigild_config_parse(bad[i], strlen(bad[i]), &cfg, err, sizeof(err)) != -EINVAL)
                        fail_msg("accepted: %s", bad[i]);
}

static int64_t sql_int(struct db *db, const char *sql)
{
        struct db_stmt *st;
        int64_t v = -1;

        db_lock(db);
        assert_int_equal(db_prepare(db, sql, &st), 0);
        if (db_step(st) == 1)
                v = db_column_int64(st, 0);
        db_stmt_done(st);
        db_unlock(db);
        return v;
}

static void sql_exec(struct db *db, const char *sql)
{
        db_lock(db);
        assert_int_equal(db_exec(db, sql), 0);
        db_unlock(db);
}

static void test_queue(void **state)
{
        struct vigild d = { 0 };
        struct webhook w = { .d = &d };
        char id[WEBHOOK_ID_LEN + 1] = "";
        int64_t seq, now = webhook_now_ms();

        vigild_config_defaults(&d.cfg);
        d.cfg.webhook_queue_max = 3;
        d.cfg.webhook_max_attempts = 2;
        d.webhook = &w;
        assert_int_equal(db_open(":memory:", &d.db), 0);
        assert_int_equal(webhook_migrate(&d), 0);
        sql_exec(d.db, "INSERT INTO webhook_subscriptions VALUES "
                       "('s1', 'a', 'http://127.0.0.1/h', ',risk_changed,', '0123456789abcdef', NULL, 1, 0, 't', 0),"
                       "('s2', 'b', 'http://127.0.0.1/h', ',risk_changed,', '0123456789abcdef', NULL, 0, 0, 't', 0),"
                       "('s3', 'c', 'http://127.0.0.1/h', ',alert_raised,', '0123456789abcdef', NULL, 1, 0, 't', 0)");

        /* only the enabled subscription that names the event */
        assert_int_equal(webhook_enqueue(&d, "risk_changed", NULL, "e1", "{\"n\":1}", NULL), 0);
        assert_int_equal(sql_int(d.db, "SELECT count(*) FROM webhook_deliveries WHERE subscription_id = 's1'"), 1);
        assert_int_equal(sql_int(d.db, "SELECT count(*) FROM webhook_deliveries"), 1);
        /* a ping goes to the one named, whatever it subscribed to */
        assert_int_equal(webhook_enqueue(&d, "ping", "s3", "e2", "{}", id), 0);
        assert_int_equal(strlen(id), WEBHOOK_ID_LEN);
        assert_int_equal(webhook_enqueue(&d, "ping", "nope", "e3", "{}", id), -ENOENT);
        assert_int_equal(w.pending, 2);

        /* past the cap of 3 pending, the oldest are failed, with the reason */
        assert_int_equal(webhook_enqueue(&d, "risk_changed", NULL, "e4", "{}", NULL), 0);
        assert_int_equal(webhook_enqueue(&d, "risk_changed", NULL, "e5", "{}", NULL), 0);
        assert_int_equal(w.pending, 3);
        assert_int_equal(webhook_enqueue(&d, "risk_changed", NULL, "e6", "{}", NULL), 0);
        assert_int_equal(w.pending, 3);
        assert_int_equal(sql_int(d.db, "SELECT count(*) FROM webhook_deliveries WHERE event_id = 'e1' AND "
                                       "status = 'failed' AND last_error LIKE 'dropped: %webhook_queue_max = 3%'"), 1);

        /* a 500: retried later; another: failed after webhook_max_attempts */
        seq = sql_int(d.db, "SELECT seq FROM webhook_deliveries WHERE event_id = 'e4'");
        assert_int_equal(webhook_attempt_record(&d, seq, 500, NULL, now), 0);
        assert_int_equal(sql_int(d.db, "SELECT count(*) FROM webhook_deliveries WHERE event_id = 'e4' AND "
                                       "status = 'pending' AND attempts = 1 AND last_http_status = 500"), 1);
        assert_true(sql_int(d.db, "SELECT next_attempt_ms FROM webhook_deliveries WHERE event_id = 'e4'") >= now + 750);
        assert_int_equal(webhook_attempt_record(&d, seq, 0, "Couldn't connect to server", now), 0);
        assert_int_equal(sql_int(d.db, "SELECT count(*) FROM webhook_deliveries WHERE event_id = 'e4' AND "
                                       "status = 'failed' AND attempts = 2 AND last_http_status IS NULL AND "
                                       "last_error = 'Couldn''t connect to server' AND next_attempt_ms IS NULL"), 1);
        assert_int_equal(w.pending, 2);
        /* any 2xx delivers */
        seq = sql_int(d.db, "SELECT seq FROM webhook_deliveries WHERE event_id = 'e5'");
        assert_int_equal(webhook_attempt_record(&d, seq, 204, NULL, now), 0);
        assert_int_equal(sql_int(d.db, "SELECT count(*) FROM webhook_deliveries WHERE event_id = 'e5' AND "
                                       "status = 'delivered' AND attempts = 1 AND finished_at IS NOT NULL"), 1);
        assert_int_equal(w.pending, 1);
        /* a dropped delivery whose attempt then failed keeps why it was dropped */
        seq = sql_int(d.db, "SELECT seq FROM webhook_deliveries WHERE event_id = 'e1'");
        assert_int_equal(webhook_attempt_record(&d, seq, 500, NULL, now), 0);
        assert_int_equal(sql_int(d.db, "SELECT count(*) FROM webhook_deliveries WHERE event_id = 'e1' AND "
                                       "status = 'failed' AND last_error LIKE 'dropped:%'"), 1);
        assert_int_equal(w.pending, 1);

        /* pruning: finished rows past webhook_retention go, pending ones stay */
        assert_int_equal(webhook_prune(&d, util_now()), 0);
        sql_exec(d.db, "UPDATE webhook_deliveries SET finished_at = 1000 WHERE status <> 'pending'");
        assert_int_equal(webhook_prune(&d, util_now()), 4);
        assert_int_equal(sql_int(d.db, "SELECT count(*) FROM webhook_deliveries"), 1);
        assert_int_equal(sql_int(d.db, "SELECT count(*) FROM webhook_deliveries WHERE event_id = 'e6'"), 1);
        db_close(d.db);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_signature_rfc4231),
                cmocka_unit_test(test_signature_webhook),
                cmocka_unit_test(test_backoff),
                cmocka_unit_test(test_url),
                cmocka_unit_test(test_sub_check),
                cmocka_unit_test(test_config),
                cmocka_unit_test(test_queue),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
