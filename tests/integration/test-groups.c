/* Integration: device groups, tags and the directory against a real vigild
 * with enrolled devices whose inventories differ. Dynamic membership follows
 * an inventory upload and a tag change; every change of a device's groups is
 * published (seen as groups_changed deliveries of a webhook whose receiver is
 * down); static members; roles; bad inputs refused with nothing changed; the
 * directory and primary users; offboarding; the index rebuilt at restart. */
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
#include <unistd.h>
#include <cmocka.h>

#include "crypto/crypto.h"
#include "tests/integration/harness.h"

static struct harness H;
static struct harness_device A, B, C;
static char *reader_token, *it_token;
static char webhook_id[40];

static int group_setup(void **state)
{
        if (harness_start(&H, NULL) < 0)
                return -1;
        reader_token = harness_new_token(&H, "reader", "rita", NULL);
        it_token = harness_new_token(&H, "it_admin", "ivan", NULL);
        if (!reader_token || !it_token || harness_enroll(&H, &A, "a") < 0 || harness_enroll(&H, &B, "b") < 0 ||
            harness_enroll(&H, &C, "c") < 0)
                return -1;
        return 0;
}

static int group_teardown(void **state)
{
        free(reader_token);
        free(it_token);
        return harness_stop(&H);
}

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

static void inventory(struct harness_device *dev, const char *host, const char *version)
{
        char body[256], err[256];
        json_t *j = NULL;
        long st = -1;

        snprintf(body, sizeof(body), "{\"hostname\":\"%s\",\"os\":{\"name\":\"Debian GNU/Linux\",\"version_id\":"
                 "\"%s\"},\"architecture\":\"x86_64\",\"kernel\":\"6.1.0-13-amd64\"}", host, version);
        assert_int_equal(httpc_request(dev->c, "PUT", "/agent/v1/inventory", NULL, body, strlen(body), &st, &j,
                                       err, sizeof(err)), 0);
        json_decref(j);
        assert_int_equal(st, 200);
}

static char *create_group(const char *bearer, const char *body)
{
        json_t *j = admin(bearer, "POST", "/api/v1/groups", body, 201);
        char *id = strdup(json_string_value(json_object_get(j, "id")));

        json_decref(j);
        return id;
}

static long member_count(const char *gid)
{
        char path[128];
        json_t *j;
        long n;

        snprintf(path, sizeof(path), "/api/v1/groups/%s", gid);
        j = admin(NULL, "GET", path, NULL, 200);
        n = (long)json_integer_value(json_object_get(j, "member_count"));
        json_decref(j);
        return n;
}

/* True if the device's JSON lists gid among its groups. */
static bool device_in(const struct harness_device *dev, const char *gid)
{
        char path[128];
        json_t *j, *g;
        size_t i;
        bool in = false;

        snprintf(path, sizeof(path), "/api/v1/devices/%s", dev->id);
        j = admin(reader_token, "GET", path, NULL, 200);
        json_array_foreach(json_object_get(j, "groups"), i, g)
                in = in || strcmp(json_string_value(g), gid) == 0;
        json_decref(j);
        return in;
}

/* groups_changed events published so far (the webhook's stored deliveries). */
static long events(void)
{
        char path[128];
        json_t *j;
        long n;

        snprintf(path, sizeof(path), "/api/v1/webhooks/%s/deliveries", webhook_id);
        j = admin(NULL, "GET", path, NULL, 200);
        n = (long)json_integer_value(json_object_get(j, "count"));
        json_decref(j);
        return n;
}

static long group_total(void)
{
        json_t *j = admin(reader_token, "GET", "/api/v1/groups", NULL, 200);
        long n = (long)json_integer_value(json_object_get(j, "count"));

        json_decref(j);
        return n;
}

static char *g_new, *g_kiosk, *g_static;

static void test_dynamic(void **state)
{
        json_t *j;
        char path[160];

        /* a receiver that is down: deliveries stay in the log, which counts events */
        j = admin(NULL, "POST", "/api/v1/webhooks", "{\"name\":\"groups\",\"url\":\"http://127.0.0.1:9/hook\","
                  "\"events\":[\"groups_changed\"]}", 201);
        snprintf(webhook_id, sizeof(webhook_id), "%s", json_string_value(json_object_get(j, "id")));
        json_decref(j);

        inventory(&A, "kiosk-a", "11");
        inventory(&B, "desk-b", "12");
        inventory(&C, "desk-c", "13");
        g_new = create_group(it_token, "{\"name\":\"bookworm and later\",\"kind\":\"dynamic\","
                                       "\"rule\":\"device.os_version >= \\\"12\\\"\"}");
        assert_int_equal(member_count(g_new), 2);
        assert_false(device_in(&A, g_new));
        assert_true(device_in(&B, g_new));
        assert_true(device_in(&C, g_new));
        assert_int_equal(events(), 2);
        snprintf(path, sizeof(path), "/api/v1/groups/%s/members?limit=1", g_new);
        j = admin(reader_token, "GET", path, NULL, 200);
        assert_int_equal(json_integer_value(json_object_get(j, "count")), 2);
        assert_int_equal(json_array_size(json_object_get(j, "value")), 1);
        assert_int_equal(json_integer_value(json_object_get(j, "next_offset")), 1);
        json_decref(j);

        /* an inventory change moves A in; the same inventory again changes nothing */
        inventory(&A, "kiosk-a", "12.4");
        assert_true(device_in(&A, g_new));
        assert_int_equal(member_count(g_new), 3);
        assert_int_equal(events(), 3);
        inventory(&A, "kiosk-a", "12.4");
        assert_int_equal(events(), 3);

        /* tags */
        g_kiosk = create_group(NULL, "{\"name\":\"kiosks\",\"kind\":\"dynamic\","
                                     "\"rule\":\"device.tags contains \\\"kiosk\\\" and device.name matches \\\"KIOSK-*\\\"\"}");
        assert_int_equal(member_count(g_kiosk), 0);
        snprintf(path, sizeof(path), "/api/v1/devices/%s/tags", A.id);
        j = admin(it_token, "PUT", path, "{\"tags\":[\"kiosk\",\"floor-2\"]}", 200);
        assert_int_equal(json_array_size(json_object_get(j, "tags")), 2);
        json_decref(j);
        assert_true(device_in(&A, g_kiosk));
        assert_int_equal(events(), 4);

        /* a rule change */
        snprintf(path, sizeof(path), "/api/v1/groups/%s", g_new);
        j = admin(NULL, "PATCH", path, "{\"rule\":\"device.os_version >= \\\"13\\\"\",\"description\":\"trixie\"}",
                  200);
        assert_string_equal(json_string_value(json_object_get(j, "description")), "trixie");
        assert_int_equal(json_integer_value(json_object_get(j, "member_count")), 1);
        json_decref(j);
        assert_int_equal(events(), 6);
        assert_true(device_in(&C, g_new));
        assert_false(device_in(&B, g_new));
}

static void test_static(void **state)
{
        char path[160], body[160];
        json_t *j;

        g_static = create_group(NULL, "{\"name\":\"pilot\",\"kind\":\"static\",\"description\":\"first wave\"}");
        snprintf(path, sizeof(path), "/api/v1/groups/%s/members", g_static);
        snprintf(body, sizeof(body), "{\"devices\":[\"%s\",\"%s\"]}", B.id, C.id);
        j = admin(it_token, "POST", path, body, 200);
        assert_int_equal(json_integer_value(json_object_get(j, "member_count")), 2);
        json_decref(j);
        assert_true(device_in(&B, g_static));
        assert_int_equal(events(), 8);
        /* adding again changes nothing */
        json_decref(admin(it_token, "POST", path, body, 200));
        assert_int_equal(events(), 8);
        snprintf(path, sizeof(path), "/api/v1/groups/%s/members/%s", g_static, B.id);
        json_decref(admin(NULL, "DELETE", path, NULL, 200));
        assert_false(device_in(&B, g_static));
        assert_int_equal(member_count(g_static), 1);
        assert_int_equal(events(), 9);
        expect_error(NULL, "DELETE", path, NULL, 404, "member_not_found", B.id);
        /* members of a dynamic group come from its rule */
        snprintf(path, sizeof(path), "/api/v1/groups/%s/members", g_new);
        expect_error(NULL, "POST", path, body, 409, "group_dynamic", "dynamic");
        /* unknown device, unknown group */
        snprintf(path, sizeof(path), "/api/v1/groups/%s/members", g_static);
        expect_error(NULL, "POST", path, "{\"devices\":[\"no-such-device\"]}", 404, "device_not_found",
                     "'devices[0]': no onboarded device with id 'no-such-device'");
        expect_error(NULL, "POST", "/api/v1/groups/nope/members", body, 404, "group_not_found", "nope");
        assert_int_equal(member_count(g_static), 1);
}

static void test_bad_inputs(void **state)
{
        long n = group_total(), ev = events();
        char *big = malloc(6000), path[160], tags[2048];
        size_t k;

        expect_error(NULL, "POST", "/api/v1/groups", "{\"name\":\"x\",\"kind\":\"dynamic\","
                     "\"rule\":\"device.os_version >= 12\"}", 400, "invalid_group",
                     "'rule': at column 22: a value must be a string in double quotes");
        expect_error(NULL, "POST", "/api/v1/groups", "{\"name\":\"x\",\"kind\":\"dynamic\","
                     "\"rule\":\"device.owner == \\\"bob\\\"\"}", 400, "invalid_group",
                     "at column 1: unknown field 'device.owner'");
        expect_error(NULL, "POST", "/api/v1/groups", "{\"name\":\"x\",\"kind\":\"dynamic\"}", 400, "invalid_group",
                     "needs a 'rule'");
        expect_error(NULL, "POST", "/api/v1/groups", "{\"name\":\"x\",\"kind\":\"smart\"}", 400, "invalid_group",
                     "static or dynamic");
        expect_error(NULL, "POST", "/api/v1/groups", "{\"name\":\"x\",\"kind\":\"static\",\"owner\":1}", 400,
                     "invalid_group", "unknown member 'owner'");
        expect_error(NULL, "POST", "/api/v1/groups", "{\"name\":\"pilot\",\"kind\":\"static\"}", 409, "group_exists",
                     "pilot");
        k = (size_t)snprintf(big, 6000, "{\"name\":\"x\",\"kind\":\"dynamic\",\"rule\":\"");
        for (size_t i = 0; i < 4100; i++)
                big[k++] = ' ';
        snprintf(big + k, 6000 - k, "device.name == \\\"a\\\"\"}");
        expect_error(NULL, "POST", "/api/v1/groups", big, 400, "invalid_group", "longer than 4096 bytes");
        k = (size_t)snprintf(big, 6000, "{\"name\":\"");
        for (size_t i = 0; i < 129; i++)
                big[k++] = 'n';
        snprintf(big + k, 6000 - k, "\",\"kind\":\"static\"}");
        expect_error(NULL, "POST", "/api/v1/groups", big, 400, "invalid_group", "'name' must be a string of 1 to 128");
        snprintf(path, sizeof(path), "/api/v1/groups/%s", g_static);
        expect_error(NULL, "PATCH", path, "{\"kind\":\"dynamic\"}", 400, "invalid_group", "cannot change");
        expect_error(NULL, "PATCH", path, "{\"rule\":\"device.name == \\\"a\\\"\"}", 400, "invalid_group", "static");
        snprintf(path, sizeof(path), "/api/v1/groups/%s", g_new);
        expect_error(NULL, "PATCH", path, "{\"rule\":\"device.os_version >= \\\"13\\\" and (\"}", 400, "invalid_group",
                     "at column 32");
        assert_int_equal(member_count(g_new), 1);
        expect_error(NULL, "GET", "/api/v1/groups/nope", NULL, 404, "group_not_found", "nope");

        /* tags: too many, bad, repeated; nothing changes */
        snprintf(path, sizeof(path), "/api/v1/devices/%s/tags", A.id);
        k = (size_t)snprintf(tags, sizeof(tags), "{\"tags\":[");
        for (int i = 0; i < 33; i++)
                k += (size_t)snprintf(tags + k, sizeof(tags) - k, "%s\"t%d\"", i ? "," : "", i);
        snprintf(tags + k, sizeof(tags) - k, "]}");
        expect_error(NULL, "PUT", path, tags, 400, "invalid_tags", "at most 32 tags");
        expect_error(NULL, "PUT", path, "{\"tags\":[\"a b\"]}", 400, "invalid_tags", "'tags[0]'");
        expect_error(NULL, "PUT", path, "{\"tags\":[\"a\",\"a\"]}", 400, "invalid_tags", "listed twice");
        expect_error(NULL, "PUT", "/api/v1/devices/nope/tags", "{\"tags\":[]}", 404, "device_not_found", "nope");
        assert_true(device_in(&A, g_kiosk));

        assert_int_equal(group_total(), n);
        assert_int_equal(events(), ev);
        free(big);
}

static void test_roles(void **state)
{
        char path[160];

        json_decref(admin(reader_token, "GET", "/api/v1/groups", NULL, 200));
        json_decref(admin(reader_token, "GET", "/api/v1/users", NULL, 200));
        expect_error(reader_token, "POST", "/api/v1/groups", "{\"name\":\"r\",\"kind\":\"static\"}", 403, "forbidden",
                     NULL);
        snprintf(path, sizeof(path), "/api/v1/groups/%s", g_static);
        expect_error(reader_token, "DELETE", path, NULL, 403, "forbidden", NULL);
        snprintf(path, sizeof(path), "/api/v1/devices/%s/tags", A.id);
        expect_error(reader_token, "PUT", path, "{\"tags\":[]}", 403, "forbidden", NULL);
        expect_error(reader_token, "POST", "/api/v1/users", "{\"user_principal_name\":\"r@example.com\"}", 403,
                     "forbidden", NULL);
}

/* Enrolls a device with a package naming a primary user; its id into id. */
static void enroll_with_user(const char *user, char id[40])
{
        char pkg[160], *key = NULL, *csr = NULL, *text;
        size_t kl, cl;
        json_t *j, *req;

        snprintf(pkg, sizeof(pkg), "{\"uses\":1,\"primary_user\":\"%s\"}", user);
        j = admin(NULL, "POST", "/api/v1/onboarding-packages", pkg, 201);
        assert_string_equal(json_string_value(json_object_get(j, "primary_user")), user);
        assert_int_equal(crypto_key_generate(&key, &kl), 0);
        assert_int_equal(crypto_csr_create(key, kl, "owned", &csr, &cl), 0);
        req = json_pack("{s:s,s:s,s:s}", "token", json_string_value(json_object_get(json_object_get(j, "package"),
                                                                                    "enrollment_token")),
                        "csr", csr, "name", "owned");
        json_decref(j);
        text = json_dumps(req, JSON_COMPACT);
        j = admin("", "POST", "/agent/v1/enroll", text, 201);
        snprintf(id, 40, "%s", json_string_value(json_object_get(j, "device_id")));
        json_decref(j);
        json_decref(req);
        free(text);
        free(key);
        free(csr);
}

static void test_directory(void **state)
{
        char path[160], body[160], uid[40], gid[40], dev[40];
        json_t *j;

        j = admin(it_token, "POST", "/api/v1/users", "{\"user_principal_name\":\"Alice@Example.com\","
                  "\"display_name\":\"Alice\"}", 201);
        assert_string_equal(json_string_value(json_object_get(j, "user_principal_name")), "alice@example.com");
        assert_true(json_is_true(json_object_get(j, "enabled")));
        snprintf(uid, sizeof(uid), "%s", json_string_value(json_object_get(j, "id")));
        json_decref(j);
        expect_error(NULL, "POST", "/api/v1/users", "{\"user_principal_name\":\"ALICE@example.com\"}", 409,
                     "user_exists", "alice@example.com");
        expect_error(NULL, "POST", "/api/v1/users", "{\"user_principal_name\":\"alice\"}", 400, "invalid_user",
                     "name@domain");
        expect_error(NULL, "POST", "/api/v1/users", "{\"display_name\":\"x\"}", 400, "invalid_user", "required");
        snprintf(path, sizeof(path), "/api/v1/users/%s", uid);
        j = admin(NULL, "PATCH", path, "{\"enabled\":false}", 200);
        assert_true(json_is_false(json_object_get(j, "enabled")));
        json_decref(j);
        j = admin(reader_token, "GET", path, NULL, 200);
        assert_string_equal(json_string_value(json_object_get(j, "display_name")), "Alice");
        json_decref(j);

        /* the primary user, by UPN, shown in the device JSON, cleared by null */
        snprintf(path, sizeof(path), "/api/v1/devices/%s/primary-user", A.id);
        j = admin(it_token, "PUT", path, "{\"user\":\"alice@example.com\"}", 200);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "primary_user"), "id")), uid);
        json_decref(j);
        snprintf(path, sizeof(path), "/api/v1/devices/%s", A.id);
        j = admin(reader_token, "GET", path, NULL, 200);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "primary_user"),
                                                              "user_principal_name")), "alice@example.com");
        json_decref(j);
        snprintf(path, sizeof(path), "/api/v1/devices/%s/primary-user", B.id);
        expect_error(NULL, "PUT", path, "{\"user\":\"bob@example.com\"}", 404, "user_not_found", "bob@example.com");
        expect_error(NULL, "PUT", path, "{\"user\":7}", 400, "invalid_request", "null");
        snprintf(path, sizeof(path), "/api/v1/devices/%s/primary-user", A.id);
        j = admin(NULL, "PUT", path, "{\"user\":null}", 200);
        assert_true(json_is_null(json_object_get(j, "primary_user")));
        json_decref(j);

        /* set at onboarding, by the package */
        {
                enroll_with_user("alice@example.com", dev);
                snprintf(path, sizeof(path), "/api/v1/devices/%s", dev);
                j = admin(reader_token, "GET", path, NULL, 200);
                assert_string_equal(json_string_value(json_object_get(json_object_get(j, "primary_user"), "id")), uid);
                json_decref(j);
                expect_error(NULL, "POST", "/api/v1/onboarding-packages", "{\"primary_user\":\"zed@example.com\"}",
                             400, "invalid_primary_user", "no user 'zed@example.com'");
                snprintf(path, sizeof(path), "/api/v1/devices/%s/offboard", dev);
                json_decref(admin(NULL, "POST", path, NULL, 200));
        }

        /* user groups */
        j = admin(NULL, "POST", "/api/v1/user-groups", "{\"name\":\"finance\"}", 201);
        snprintf(gid, sizeof(gid), "%s", json_string_value(json_object_get(j, "id")));
        json_decref(j);
        expect_error(NULL, "POST", "/api/v1/user-groups", "{\"name\":\"finance\"}", 409, "user_group_exists", NULL);
        snprintf(path, sizeof(path), "/api/v1/user-groups/%s/members", gid);
        j = admin(NULL, "POST", path, "{\"users\":[\"alice@example.com\"]}", 200);
        assert_int_equal(json_integer_value(json_object_get(j, "member_count")), 1);
        json_decref(j);
        expect_error(NULL, "POST", path, "{\"users\":[\"alice@example.com\",\"zed@example.com\"]}", 404,
                     "user_not_found", "users[1]");
        j = admin(reader_token, "GET", path, NULL, 200);
        assert_int_equal(json_integer_value(json_object_get(j, "count")), 1);
        json_decref(j);
        snprintf(path, sizeof(path), "/api/v1/user-groups/%s/members/%s", gid, uid);
        j = admin(NULL, "DELETE", path, NULL, 200);
        assert_int_equal(json_integer_value(json_object_get(j, "member_count")), 0);
        json_decref(j);
        /* deleting the user takes it out of everything */
        snprintf(body, sizeof(body), "/api/v1/users/%s", uid);
        json_decref(admin(NULL, "DELETE", body, NULL, 200));
        expect_error(NULL, "GET", body, NULL, 404, "user_not_found", NULL);
        snprintf(path, sizeof(path), "/api/v1/devices/%s", dev);
        j = admin(NULL, "GET", path, NULL, 200);
        assert_true(json_is_null(json_object_get(j, "primary_user")));
        json_decref(j);
}

/* Runs the CLI; asserts its exit status and that its output holds words. */
static void cli(const char *args, int status, const char *words)
{
        char *out = NULL;
        int st = harness_cli(&H, args, &out);

        if (st != status || (words && (!out || !strstr(out, words))))
                fail_msg("vigil %s: status %d (want %d), output lacks '%s':\n%s", args, st, status, words ? words : "",
                         out ? out : "");
        free(out);
}

static void test_cli(void **state)
{
        char args[256], gid[40], uid[40] = "";
        char *out = NULL;
        json_t *j;

        cli("groups create --name cli-dyn --rule 'device.os_version >= \"12\"' --description 'from the CLI'", 0,
            "dynamic");
        j = admin(NULL, "GET", "/api/v1/groups?limit=1000", NULL, 200);
        gid[0] = '\0';
        for (size_t i = 0; i < json_array_size(json_object_get(j, "value")); i++) {
                json_t *g = json_array_get(json_object_get(j, "value"), i);
                if (strcmp(json_string_value(json_object_get(g, "name")), "cli-dyn") == 0)
                        snprintf(gid, sizeof(gid), "%s", json_string_value(json_object_get(g, "id")));
        }
        json_decref(j);
        assert_true(gid[0]);
        cli("groups list", 0, "cli-dyn");
        snprintf(args, sizeof(args), "groups members %s", gid);
        cli(args, 0, A.id);
        snprintf(args, sizeof(args), "groups update %s --rule 'device.os_version >= 12'", gid);
        cli(args, 1, "at column 22");
        cli("groups create --name x --rule a --static", 2, "one of --rule and --static");
        snprintf(args, sizeof(args), "devices tag %s kiosk lab", B.id);
        cli(args, 0, "tags kiosk lab");
        cli("users create --upn carol@example.com --display-name Carol", 0, "carol@example.com");
        snprintf(args, sizeof(args), "devices primary-user %s carol@example.com", B.id);
        cli(args, 0, "primary user carol@example.com");
        cli("users list", 0, "Carol");
        j = admin(NULL, "GET", "/api/v1/users", NULL, 200);
        for (size_t i = 0; i < json_array_size(json_object_get(j, "value")); i++) {
                json_t *u = json_array_get(json_object_get(j, "value"), i);
                if (strcmp(json_string_value(json_object_get(u, "user_principal_name")), "carol@example.com") == 0)
                        snprintf(uid, sizeof(uid), "%s", json_string_value(json_object_get(u, "id")));
        }
        json_decref(j);
        snprintf(args, sizeof(args), "--json users update %s --disabled", uid);
        cli(args, 0, "\"enabled\": false");
        snprintf(args, sizeof(args), "--json users update %s --enabled", uid);
        cli(args, 0, "\"enabled\": true");
        cli("users create --upn dave@example.com --nickname d", 2, "nickname");
        cli("groups create --name cli-static --static --description kiosks", 0, "static");
        cli("user-groups create --name ops", 0, "ops");
        snprintf(args, sizeof(args), "groups delete %s", gid);
        cli(args, 0, "deleted");
        assert_int_equal(harness_cli(&H, "groups show nope", &out), 1);
        assert_non_null(strstr(out, "no device group with id 'nope'"));
        free(out);
}

static void test_offboard_and_restart(void **state)
{
        char path[160];
        int status;
        json_t *j;
        long ev = events();

        snprintf(path, sizeof(path), "/api/v1/devices/%s/offboard", C.id);
        json_decref(admin(NULL, "POST", path, NULL, 200));
        assert_false(device_in(&C, g_new));
        assert_int_equal(member_count(g_new), 0);
        assert_int_equal(member_count(g_static), 0);
        assert_int_equal(events(), ev + 1);

        assert_int_equal(kill(H.pid, SIGTERM), 0);
        assert_int_equal(waitpid(H.pid, &status, 0), H.pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(harness_restart(&H), 0);
        assert_true(device_in(&A, g_kiosk));
        assert_int_equal(member_count(g_kiosk), 1);
        assert_int_equal(member_count(g_new), 0);
        assert_int_equal(member_count(g_static), 0);
        snprintf(path, sizeof(path), "/api/v1/devices/%s", A.id);
        j = admin(NULL, "GET", path, NULL, 200);
        assert_int_equal(json_array_size(json_object_get(j, "tags")), 2);
        json_decref(j);

        /* deleting a group: its members' groups change */
        ev = events();
        snprintf(path, sizeof(path), "/api/v1/groups/%s", g_kiosk);
        json_decref(admin(NULL, "DELETE", path, NULL, 200));
        assert_false(device_in(&A, g_kiosk));
        assert_int_equal(events(), ev + 1);
        expect_error(NULL, "DELETE", path, NULL, 404, "group_not_found", NULL);
        free(g_new);
        free(g_kiosk);
        free(g_static);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_dynamic),
                cmocka_unit_test(test_static),
                cmocka_unit_test(test_bad_inputs),
                cmocka_unit_test(test_roles),
                cmocka_unit_test(test_directory),
                cmocka_unit_test(test_cli),
                cmocka_unit_test(test_offboard_and_restart),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
