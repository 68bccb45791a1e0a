/* Integration: the admin side of conditional access against a real vigild —
 * named locations and policies created, listed, shown, replaced, moved and
 * deleted; documents refused with the path of the field (unknown member,
 * bad device filter, unknown location, unknown user or group) and nothing
 * stored; the example bundle applied twice (the second time unchanged);
 * a bundle with one bad document changing nothing; a location that a
 * policy names kept (409) on delete and on a change that would break the
 * policy; the caps on locations and policies; roles; the audit; the CLI
 * (with what-if and the access log); and what the snapshot reads (access_store_read() on the same database). */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "server/access/access.h"
#include "server/db/db.h"
#include "server/vigild.h"
#include "tests/integration/harness.h"

static struct harness H;
static char *reader_token, *it_token;
static char user_id[40], group_id[40];

/* An admin request that must answer status; returns the body (caller frees). */
static json_t *admin(const char *bearer, const char *method, const char *path, const char *body, long status)
{
        json_t *j = NULL;
        long st = harness_admin(&H, method, path, bearer, body, &j);

        if (st != status) {
                char *text = j ? json_dumps(j, 0) : NULL;
                fail_msg("%s %s: %ld, want %ld: %s", method, path, st, status, text ? text : "");
        }
        return j;
}

static void expect_error(const char *bearer, const char *method, const char *path, const char *body, long status,
                         const char *code, const char *words)
{
        json_t *j = admin(bearer, method, path, body, status);
        const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));

        assert_string_equal(httpc_error_code(j), code);
        if (words && (!msg || !strstr(msg, words)))
                fail_msg("%s %s: message '%s' lacks '%s'", method, path, msg ? msg : "", words);
        json_decref(j);
}

static long count(const char *path)
{
        json_t *j = admin(reader_token, "GET", path, NULL, 200);
        long n = (long)json_integer_value(json_object_get(j, "count"));

        json_decref(j);
        return n;
}

/* A policy document for intranet.example.test; users and conditions are
 * JSON text ("" for no conditions). */
static void policy_doc(char *out, size_t size, const char *name, const char *users, const char *conditions)
{
        snprintf(out, size, "{\"name\":\"%s\",\"state\":\"enabled\",\"users\":%s,\"applications\":{\"include\":"
                 "[{\"name\":\"intranet\",\"host\":\"intranet.example.test\"}]}%s%s,\"grant\":{\"controls\":"
                 "[\"compliant_device\"]}}", name, users, conditions[0] ? ",\"conditions\":" : "", conditions);
}

static char *create_policy(const char *body, const char *query, long want_position)
{
        char path[128];
        json_t *j;
        char *id;

        snprintf(path, sizeof(path), "/api/v1/access/policies%s", query);
        j = admin(it_token, "POST", path, body, 201);
        assert_string_equal(json_string_value(json_object_get(j, "result")), "created");
        assert_int_equal(json_integer_value(json_object_get(j, "position")), want_position);
        id = strdup(json_string_value(json_object_get(j, "id")));
        json_decref(j);
        return id;
}

/* The names of the stored policies in evaluation order, joined by ','. */
static void order(char *out, size_t size)
{
        json_t *j = admin(reader_token, "GET", "/api/v1/access/policies", NULL, 200), *p;
        size_t i, n = 0;

        out[0] = '\0';
        json_array_foreach(json_object_get(j, "value"), i, p) {
                assert_int_equal(json_integer_value(json_object_get(p, "position")), (json_int_t)i + 1);
                n += (size_t)snprintf(out + n, size - n, "%s%s", i ? "," : "",
                                      json_string_value(json_object_get(p, "name")));
        }
        json_decref(j);
}

/* True if a line of text holds both a and b. */
static bool line_has(const char *text, const char *a, const char *b)
{
        for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
                const char *end = strchr(p, '\n'), *x = strstr(p, a), *y = strstr(p, b);

                if (x && y && (!end || (x < end && y < end)))
                        return true;
        }
        return false;
}

static int setup(void **state)
{
        json_t *j;

        if (harness_start(&H, "access_listen = 127.0.0.1:0\n") < 0)
                return -1;
        reader_token = harness_new_token(&H, "reader", "rita", NULL);
        it_token = harness_new_token(&H, "it_admin", "ivan", NULL);
        if (!reader_token || !it_token)
                return -1;
        j = admin(NULL, "POST", "/api/v1/users", "{\"user_principal_name\":\"alice@example.com\"}", 201);
        snprintf(user_id, sizeof(user_id), "%s", json_string_value(json_object_get(j, "id")));
        json_decref(j);
        j = admin(NULL, "POST", "/api/v1/user-groups", "{\"name\":\"engineering\"}", 201);
        snprintf(group_id, sizeof(group_id), "%s", json_string_value(json_object_get(j, "id")));
        json_decref(j);
        return 0;
}

static int teardown(void **state)
{
        free(reader_token);
        free(it_token);
        return harness_stop(&H);
}

static void test_locations(void **state)
{
        json_t *j;

        j = admin(it_token, "POST", "/api/v1/access/locations",
                  "{\"id\":\"office\",\"ranges\":[\"10.0.0.0/8\"],\"trusted\":true}", 201);
        assert_string_equal(json_string_value(json_object_get(j, "result")), "created");
        assert_true(json_is_true(json_object_get(json_object_get(j, "location"), "trusted")));
        assert_string_equal(json_string_value(json_object_get(j, "updated_by_name")), "ivan");
        json_decref(j);
        expect_error(it_token, "POST", "/api/v1/access/locations", "{\"id\":\"office\",\"ranges\":[\"10.0.0.0/8\"]}",
                     409, "location_exists", "\"office\" exists already");
        /* the same document with other blanks and order is unchanged */
        j = admin(it_token, "PUT", "/api/v1/access/locations/office",
                  "{ \"trusted\": true, \"ranges\": [\"10.0.0.0/8\"], \"id\": \"office\" }", 200);
        assert_string_equal(json_string_value(json_object_get(j, "result")), "unchanged");
        json_decref(j);
        j = admin(it_token, "PUT", "/api/v1/access/locations/office",
                  "{\"id\":\"office\",\"ranges\":[\"10.0.0.0/8\",\"2001:db8::/32\"],\"trusted\":true}", 200);
        assert_string_equal(json_string_value(json_object_get(j, "result")), "updated");
        json_decref(j);
        j = admin(reader_token, "GET", "/api/v1/access/locations/office", NULL, 200);
        assert_int_equal(json_array_size(json_object_get(json_object_get(j, "location"), "ranges")), 2);
        json_decref(j);

        expect_error(it_token, "PUT", "/api/v1/access/locations/office",
                     "{\"id\":\"home\",\"ranges\":[\"10.0.0.0/8\"]}", 400, "invalid_location", "id: must be \"office\"");
        expect_error(it_token, "PUT", "/api/v1/access/locations/nowhere",
                     "{\"id\":\"nowhere\",\"ranges\":[\"10.0.0.0/8\"]}", 404, "location_not_found", "nowhere");
        expect_error(it_token, "POST", "/api/v1/access/locations", "{\"id\":\"lab\",\"ranges\":[\"10.0.0.1/8\"]}", 400,
                     "invalid_location", "ranges[0]");
        expect_error(it_token, "POST", "/api/v1/access/locations", "{\"id\":\"the lab\",\"ranges\":[\"10.0.0.0/8\"]}",
                     400, "invalid_location", "id: must be 1 to 64 letters");
        expect_error(it_token, "POST", "/api/v1/access/locations", "{\"id\":\"lab\",\"ranges\":[],\"colour\":1}", 400,
                     "invalid_location", NULL);
        expect_error(reader_token, "POST", "/api/v1/access/locations", "{\"id\":\"lab\",\"ranges\":[\"10.0.0.0/8\"]}",
                     403, "forbidden", NULL);
        expect_error(reader_token, "GET", "/api/v1/access/locations/nowhere", NULL, 404, "location_not_found", NULL);
        assert_int_equal(count("/api/v1/access/locations"), 1);
        /* created, then updated: the unchanged PUT and the refusals leave no trace */
        assert_int_equal(count("/api/v1/access/audit?kind=location&object_id=office"), 2);
}

static void test_policies(void **state)
{
        char doc[2048], users[256], names[512], path[128];
        char *a, *b, *c;
        json_t *j, *e;

        policy_doc(doc, sizeof(doc), "A", "{\"include\":[\"all\"]}",
                   "{\"locations\":{\"include\":[\"all\"],\"exclude\":[\"office\"]}}");
        a = create_policy(doc, "", 1);
        snprintf(users, sizeof(users), "{\"include\":[\"ALICE@example.com\",\"%s\"],\"exclude\":[\"%s\"]}", group_id,
                 user_id);
        policy_doc(doc, sizeof(doc), "B", users, "");
        b = create_policy(doc, "", 2);
        policy_doc(doc, sizeof(doc), "C", "{\"include\":[\"all\"]}", "");
        c = create_policy(doc, "?position=1", 1);
        order(names, sizeof(names));
        assert_string_equal(names, "C,A,B");

        expect_error(it_token, "POST", "/api/v1/access/policies", doc, 409, "policy_exists", "\"C\" exists already");
        /* C moved last with its document unchanged */
        snprintf(path, sizeof(path), "/api/v1/access/policies/%s?position=99", c);
        j = admin(it_token, "PUT", path, doc, 200);
        assert_string_equal(json_string_value(json_object_get(j, "result")), "updated");
        assert_int_equal(json_integer_value(json_object_get(j, "position")), 3);
        json_decref(j);
        order(names, sizeof(names));
        assert_string_equal(names, "A,B,C");
        snprintf(path, sizeof(path), "/api/v1/access/policies/%s", c);
        j = admin(it_token, "PUT", path, doc, 200);
        assert_string_equal(json_string_value(json_object_get(j, "result")), "unchanged");
        json_decref(j);
        /* renamed to B's name: refused */
        policy_doc(doc, sizeof(doc), "B", "{\"include\":[\"all\"]}", "");
        expect_error(it_token, "PUT", path, doc, 409, "policy_exists", "\"B\"");
        policy_doc(doc, sizeof(doc), "C2", "{\"include\":[\"all\"]}", "");
        j = admin(it_token, "PUT", path, doc, 200);
        assert_string_equal(json_string_value(json_object_get(j, "name")), "C2");
        assert_string_equal(json_string_value(json_object_get(j, "state")), "enabled");
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "policy"), "name")), "C2");
        json_decref(j);
        expect_error(it_token, "PUT", "/api/v1/access/policies/nope", doc, 404, "policy_not_found", NULL);
        expect_error(it_token, "POST", "/api/v1/access/policies?position=0", doc, 400, "invalid_query", "position");

        /* A deleted: the others close the gap */
        snprintf(path, sizeof(path), "/api/v1/access/policies/%s", a);
        j = admin(it_token, "DELETE", path, NULL, 200);
        assert_string_equal(json_string_value(json_object_get(j, "name")), "A");
        json_decref(j);
        expect_error(reader_token, "GET", path, NULL, 404, "policy_not_found", NULL);
        order(names, sizeof(names));
        assert_string_equal(names, "B,C2");

        /* the audit of C: create, move, update (rename), newest first */
        snprintf(path, sizeof(path), "/api/v1/access/audit?object_id=%s", c);
        j = admin(reader_token, "GET", path, NULL, 200);
        assert_int_equal(json_integer_value(json_object_get(j, "count")), 3);
        e = json_array_get(json_object_get(j, "value"), 0);
        assert_string_equal(json_string_value(json_object_get(e, "action")), "update");
        assert_string_equal(json_string_value(json_object_get(json_object_get(e, "before"), "name")), "C");
        assert_string_equal(json_string_value(json_object_get(json_object_get(e, "after"), "name")), "C2");
        assert_string_equal(json_string_value(json_object_get(e, "by_name")), "ivan");
        e = json_array_get(json_object_get(j, "value"), 1);
        assert_string_equal(json_string_value(json_object_get(e, "action")), "move");
        assert_int_equal(json_integer_value(json_object_get(e, "position_before")), 1);
        assert_int_equal(json_integer_value(json_object_get(e, "position_after")), 3);
        json_decref(j);
        snprintf(path, sizeof(path), "/api/v1/access/audit?object_id=%s", a);
        j = admin(reader_token, "GET", path, NULL, 200);
        e = json_array_get(json_object_get(j, "value"), 0);
        assert_string_equal(json_string_value(json_object_get(e, "action")), "delete");
        assert_true(json_is_null(json_object_get(e, "after")));
        assert_string_equal(json_string_value(json_object_get(json_object_get(e, "before"), "name")), "A");
        json_decref(j);
        free(a);
        free(b);
        free(c);
}

static void test_refused(void **state)
{
        long policies = count("/api/v1/access/policies"), audit = count("/api/v1/access/audit");
        char doc[2048], users[256];
        json_t *j;

        expect_error(it_token, "POST", "/api/v1/access/policies",
                     "{\"name\":\"X\",\"state\":\"enabled\",\"users\":{\"include\":[\"all\"]},\"colour\":\"red\","
                     "\"applications\":{\"include\":[\"all\"]},\"grant\":{\"block\":true}}",
                     400, "invalid_policy", "colour");
        policy_doc(doc, sizeof(doc), "X", "{\"include\":[\"all\"]}", "{\"device_filter\":\"device.tags contains\"}");
        expect_error(it_token, "POST", "/api/v1/access/policies", doc, 400, "invalid_policy",
                     "conditions.device_filter: at column");
        policy_doc(doc, sizeof(doc), "X", "{\"include\":[\"all\"]}", "{\"locations\":{\"include\":[\"lab\"]}}");
        expect_error(it_token, "POST", "/api/v1/access/policies", doc, 400, "invalid_policy",
                     "conditions.locations.include[0]");
        policy_doc(doc, sizeof(doc), "X", "{\"include\":[\"alice@example.com\",\"bob@example.com\"]}", "");
        expect_error(it_token, "POST", "/api/v1/access/policies", doc, 400, "invalid_policy",
                     "users.include[1]: no user or user group \"bob@example.com\"");
        /* the member the message begins with, for a program to find */
        j = admin(it_token, "POST", "/api/v1/access/policies", doc, 400);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "field")), "users.include[1]");
        json_decref(j);
        snprintf(users, sizeof(users), "{\"include\":[\"all\"],\"exclude\":[\"%s\",\"g-nobody\"]}", group_id);
        policy_doc(doc, sizeof(doc), "X", users, "");
        expect_error(it_token, "POST", "/api/v1/access/policies", doc, 400, "invalid_policy",
                     "users.exclude[1]: no user or user group \"g-nobody\"");
        expect_error(it_token, "POST", "/api/v1/access/policies", "[1]", 400, "invalid_json", NULL);
        expect_error(reader_token, "POST", "/api/v1/access/policies", doc, 403, "forbidden", NULL);
        assert_int_equal(count("/api/v1/access/policies"), policies);
        assert_int_equal(count("/api/v1/access/audit"), audit);
}

static void test_apply(void **state)
{
        long policies, locations, audit;
        char cmd[512], *out = NULL;
        json_t *j;

        snprintf(cmd, sizeof(cmd), "access apply -f %s/examples/access/intranet.json",
                 getenv("VIGIL_SOURCE_ROOT") ? getenv("VIGIL_SOURCE_ROOT") : ".");
        assert_int_equal(harness_cli(&H, cmd, &out), 0);
        if (!strstr(out, "updated: location \"office\"") || !strstr(out, "created: location \"vpn\"") ||
            !strstr(out, "created: policy \"Intranet needs a compliant device\""))
                fail_msg("first apply: %s", out);
        free(out);
        audit = count("/api/v1/access/audit");
        assert_int_equal(harness_cli(&H, cmd, &out), 0);
        if (strstr(out, "created") || strstr(out, "updated") || !strstr(out, "unchanged: policy \"Admin pages"))
                fail_msg("second apply: %s", out);
        free(out);
        assert_int_equal(count("/api/v1/access/audit"), audit);
        assert_int_equal(harness_cli(&H, "access policies list", &out), 0);
        if (!strstr(out, "POS") || !line_has(out, "Intranet needs a compliant device", "enabled") ||
            !line_has(out, "Admin pages only from the office or the VPN", "report_only"))
                fail_msg("policies list: %s", out);
        free(out);
        assert_int_equal(harness_cli(&H, "access audit --kind location --object vpn", &out), 0);
        if (!line_has(out, " vpn ", " create ") || strstr(out, "office"))
                fail_msg("audit: %s", out);
        free(out);

        /* one policy document alone, by name */
        j = admin(it_token, "POST", "/api/v1/access/apply",
                  "{\"name\":\"Intranet needs a compliant device\",\"state\":\"report_only\",\"users\":{\"include\":"
                  "[\"all\"]},\"applications\":{\"include\":[{\"name\":\"intranet\",\"host\":"
                  "\"intranet.example.test\"}]},\"grant\":{\"controls\":[\"compliant_device\"]}}", 200);
        assert_int_equal(json_array_size(json_object_get(j, "updated")), 1);
        json_decref(j);

        /* a bundle with a new location, a good and a bad policy changes nothing */
        policies = count("/api/v1/access/policies");
        locations = count("/api/v1/access/locations");
        audit = count("/api/v1/access/audit");
        expect_error(it_token, "POST", "/api/v1/access/apply",
                     "{\"locations\":[{\"id\":\"lab\",\"ranges\":[\"203.0.113.0/24\"]}],\"policies\":["
                     "{\"name\":\"Lab\",\"state\":\"enabled\",\"users\":{\"include\":[\"all\"]},\"applications\":"
                     "{\"include\":[\"all\"]},\"conditions\":{\"locations\":{\"include\":[\"lab\"]}},\"grant\":"
                     "{\"block\":true}},"
                     "{\"name\":\"Bad\",\"state\":\"enabled\",\"users\":{\"include\":[\"carol@example.com\"]},"
                     "\"applications\":{\"include\":[\"all\"]},\"grant\":{\"block\":true}}]}",
                     400, "invalid_policy", "policies[1].users.include[0]: no user or user group");
        expect_error(it_token, "POST", "/api/v1/access/apply",
                     "{\"locations\":[{\"id\":\"lab\",\"ranges\":[\"203.0.113.0/24\"]},{\"id\":\"lab\",\"ranges\":"
                     "[\"198.18.0.0/15\"]}]}", 400, "invalid_bundle", "locations[1].id: \"lab\" is already locations[0]");
        expect_error(it_token, "POST", "/api/v1/access/apply", "{\"locations\":[],\"extra\":1}", 400, "invalid_bundle",
                     "extra: unknown member");
        expect_error(it_token, "POST", "/api/v1/access/apply", "{\"locations\":[{\"id\":\"lab\",\"ranges\":[\"x\"]}]}",
                     400, "invalid_bundle", "locations[0].ranges[0]");
        expect_error(reader_token, "POST", "/api/v1/access/apply", "{\"locations\":[]}", 403, "forbidden", NULL);
        assert_int_equal(count("/api/v1/access/policies"), policies);
        assert_int_equal(count("/api/v1/access/locations"), locations);
        assert_int_equal(count("/api/v1/access/audit"), audit);
}

/* The CLI's what-if and log against the decision side's endpoints: the
 * policies just stored decide (the snapshot is rebuilt in the background,
 * so the what-if is asked until it sees them). */
static void test_whatif_log(void **state)
{
        char *out = NULL, cmd[256];
        int tries = 0, r;

        for (;;) {
                r = harness_cli(&H, "access whatif --user alice@example.com --app https://intranet.example.test/", &out);
                if ((r == 0 && strstr(out, "policy \"C2\"")) || ++tries == 50)
                        break;
                free(out);
                usleep(100 * 1000);
        }
        assert_int_equal(r, 0);
        snprintf(cmd, sizeof(cmd), "user:     alice@example.com (%s)", user_id);
        /* B excludes alice; C2 needs a device the what-if does not name */
        if (!strstr(out, "decision: 401") || !strstr(out, cmd) || !line_has(out, "C2", "device_identity") ||
            !line_has(out, "B ", "not_applied"))
                fail_msg("whatif: %s", out);
        free(out);
        assert_int_equal(harness_cli(&H, "access whatif --user alice@example.com", &out), 2);
        free(out);
        assert_int_equal(harness_cli(&H, "access log --user alice@example.com --status 403 --since "
                                         "2026-01-01T00:00:00Z", &out), 0);
        if (!strstr(out, "TIME") || !strstr(out, "REASON"))
                fail_msg("log: %s", out);
        free(out);
        assert_int_equal(harness_cli(&H, "access log --status 999", &out), 1);
        if (!strstr(out, "status: expected 200, 401 or 403 (HTTP 400)"))
                fail_msg("log: %s", out);
        free(out);
}

/* 16 ranges of 10.x.y.0/24 per 4096, n of them, as a JSON list. */
static void ranges(char *out, size_t size, int base, int n)
{
        size_t len = (size_t)snprintf(out, size, "[");

        for (int i = 0; i < n; i++)
                len += (size_t)snprintf(out + len, size - len, "%s\"10.%d.%d.0/24\"", i ? "," : "", base, i);
        snprintf(out + len, size - len, "]");
}

static void test_location_in_use(void **state)
{
        size_t size = 1 << 20, len;
        char *body = malloc(size), r[8192], names[1024], doc[2048];
        char *out = NULL;
        long audit;
        json_t *j;

        /* a policy naming 15 locations of 256 ranges and two of one: 3842 ranges of the 4096 allowed */
        len = (size_t)snprintf(body, size, "{\"locations\":[");
        for (int k = 0; k < 17; k++) {
                ranges(r, sizeof(r), 100 + k, k < 15 ? 256 : 1);
                len += (size_t)snprintf(body + len, size - len, "%s{\"id\":\"big%d\",\"ranges\":%s}", k ? "," : "", k, r);
        }
        snprintf(body + len, size - len, "]}");
        j = admin(it_token, "POST", "/api/v1/access/apply", body, 200);
        assert_int_equal(json_array_size(json_object_get(j, "created")), 17);
        json_decref(j);
        len = 0;
        for (int k = 0; k < 17; k++)
                len += (size_t)snprintf(names + len, sizeof(names) - len, "%s\"big%d\"", k ? "," : "", k);
        snprintf(r, sizeof(r), "{\"locations\":{\"include\":[%s]}}", names);
        policy_doc(doc, sizeof(doc), "Wide", "{\"include\":[\"all\"]}", r);
        free(create_policy(doc, "", (long)count("/api/v1/access/policies") + 1));

        audit = count("/api/v1/access/audit");
        /* big15 grown to 256 ranges would bring 4097 */
        ranges(r, sizeof(r), 115, 256);
        snprintf(body, size, "{\"id\":\"big15\",\"ranges\":%s}", r);
        expect_error(it_token, "PUT", "/api/v1/access/locations/big15", body, 409, "location_in_use",
                     "changing location \"big15\" would break policy \"Wide\"");
        snprintf(body, size, "{\"locations\":[{\"id\":\"big15\",\"ranges\":%s}]}", r);
        expect_error(it_token, "POST", "/api/v1/access/apply", body, 409, "location_in_use", "policy \"Wide\"");
        expect_error(it_token, "DELETE", "/api/v1/access/locations/big3", NULL, 409, "location_in_use",
                     "deleting location \"big3\" would break policy \"Wide\"");
        assert_int_equal(harness_cli(&H, "access locations delete vpn", &out), 1);
        if (!strstr(out, "would break policy \"Admin pages only from the office or the VPN\""))
                fail_msg("CLI: %s", out);
        free(out);
        assert_int_equal(count("/api/v1/access/audit"), audit);
        j = admin(reader_token, "GET", "/api/v1/access/locations/big15", NULL, 200);
        assert_int_equal(json_array_size(json_object_get(json_object_get(j, "location"), "ranges")), 1);
        json_decref(j);
        free(body);
}

static void test_caps(void **state)
{
        size_t size = 1 << 20, len;
        char *body = malloc(size), doc[512];
        long n = count("/api/v1/access/locations");

        len = (size_t)snprintf(body, size, "{\"locations\":[");
        for (long k = n; k < ACCESS_LOCATIONS_MAX; k++)
                len += (size_t)snprintf(body + len, size - len, "%s{\"id\":\"cap%ld\",\"ranges\":[\"192.0.2.%ld\"]}",
                                        k > n ? "," : "", k, k % 250);
        snprintf(body + len, size - len, "]}");
        json_decref(admin(it_token, "POST", "/api/v1/access/apply", body, 200));
        assert_int_equal(count("/api/v1/access/locations"), ACCESS_LOCATIONS_MAX);
        expect_error(it_token, "POST", "/api/v1/access/locations", "{\"id\":\"one-more\",\"ranges\":[\"192.0.2.1\"]}",
                     409, "too_many_locations", "200");

        len = (size_t)snprintf(body, size, "{\"locations\":[");
        for (int k = 0; k <= ACCESS_LOCATIONS_MAX; k++)
                len += (size_t)snprintf(body + len, size - len, "%s{\"id\":\"l%d\",\"ranges\":[\"192.0.2.1\"]}",
                                        k ? "," : "", k);
        snprintf(body + len, size - len, "]}");
        expect_error(it_token, "POST", "/api/v1/access/apply", body, 413, "bundle_too_large", "locations: more than");

        n = count("/api/v1/access/policies");
        len = (size_t)snprintf(body, size, "{\"policies\":[");
        for (long k = n; k < ACCESS_POLICIES_MAX; k++)
                len += (size_t)snprintf(body + len, size - len, "%s{\"name\":\"p%ld\",\"state\":\"disabled\","
                                        "\"users\":{\"include\":[\"all\"]},\"applications\":{\"include\":[\"all\"]},"
                                        "\"grant\":{\"block\":true}}", k > n ? "," : "", k);
        snprintf(body + len, size - len, "]}");
        json_decref(admin(it_token, "POST", "/api/v1/access/apply", body, 200));
        assert_int_equal(count("/api/v1/access/policies"), ACCESS_POLICIES_MAX);
        policy_doc(doc, sizeof(doc), "One more", "{\"include\":[\"all\"]}", "");
        expect_error(it_token, "POST", "/api/v1/access/policies", doc, 409, "too_many_policies", "1000");
        free(body);
}

/* What the snapshot reads, from the same database file while vigild runs. */
static void test_store_read(void **state)
{
        struct access_stored *locs = NULL, *pols = NULL;
        struct vigild d = { 0 };
        size_t nl = 0, np = 0;
        char path[400];
        json_t *j;

        snprintf(path, sizeof(path), "%s/vigild.db", H.data);
        assert_int_equal(db_open(path, &d.db), 0);
        assert_int_equal(access_store_read(&d, &locs, &nl, &pols, &np), 0);
        db_close(d.db);
        assert_int_equal(nl, ACCESS_LOCATIONS_MAX);
        assert_int_equal(np, ACCESS_POLICIES_MAX);
        /* locations by id; policies in evaluation order, as the API lists them */
        for (size_t i = 1; i < nl; i++)
                assert_true(strcmp(locs[i - 1].id, locs[i].id) < 0);
        assert_string_equal(locs[0].id, "big0");
        assert_true(strstr(locs[0].doc, "\"id\":\"big0\"") != NULL);
        assert_int_equal(strlen(locs[0].doc), locs[0].doc_len);
        j = admin(reader_token, "GET", "/api/v1/access/policies?limit=3", NULL, 200);
        for (size_t i = 0; i < 3; i++)
                assert_string_equal(pols[i].id, json_string_value(json_object_get(json_array_get(
                        json_object_get(j, "value"), i), "id")));
        json_decref(j);
        access_stored_free(locs, nl);
        access_stored_free(pols, np);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_locations),
                cmocka_unit_test(test_policies),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_apply),
                cmocka_unit_test(test_whatif_log),
                cmocka_unit_test(test_location_in_use),
                cmocka_unit_test(test_caps),
                cmocka_unit_test(test_store_read),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
