/* Integration: a real vigild on a loopback port, driven over HTTPS. Covers
 * enrollment, the agent endpoints and every bad input the API must refuse
 * with a clear error while storing nothing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <gnutls/gnutls.h>

#include "crypto/crypto.h"
#include "server/enroll/token.h"
#include "tests/integration/harness.h"
#include "util/strutil.h"

#define BODY_MAX 65536

static struct harness H;

static int group_setup(void **state)
{
        char conf[64];

        snprintf(conf, sizeof(conf), "body_max = %d\ninactive_after = 2s\n", BODY_MAX);
        return harness_start(&H, conf);
}

static int group_teardown(void **state)
{
        return harness_stop(&H);
}

static const char *err_code(json_t *j)
{
        return httpc_error_code(j);
}

/* Asserts status and error code of an admin request. */
static void expect_admin(const char *method, const char *path, const char *bearer, const char *body,
                         long status, const char *code)
{
        json_t *j = NULL;

        assert_int_equal(harness_admin(&H, method, path, bearer, body, &j), status);
        if (code)
                assert_string_equal(err_code(j), code);
        json_decref(j);
}

static long device_count(void)
{
        json_t *j = NULL;
        long n;

        assert_int_equal(harness_admin(&H, "GET", "/api/v1/devices", NULL, NULL, &j), 200);
        n = (long)json_integer_value(json_object_get(j, "count"));
        json_decref(j);
        return n;
}

/* Creates an onboarding package and returns its enrollment token (heap). */
static char *new_token(int uses)
{
        char body[64];
        json_t *j = NULL;
        char *t;

        snprintf(body, sizeof(body), "{\"expires\":\"1h\",\"uses\":%d}", uses);
        assert_int_equal(harness_admin(&H, "POST", "/api/v1/onboarding-packages", NULL, body, &j), 201);
        t = strdup(json_string_value(json_object_get(json_object_get(j, "package"), "enrollment_token")));
        json_decref(j);
        assert_non_null(t);
        return t;
}

static char *new_csr(char **ret_key)
{
        char *key, *csr;
        size_t kl, cl;

        assert_int_equal(crypto_key_generate(&key, &kl), 0);
        assert_int_equal(crypto_csr_create(key, kl, "test-device", &csr, &cl), 0);
        if (ret_key)
                *ret_key = key;
        else
                free(key);
        return csr;
}

/* POST /agent/v1/enroll without a client certificate. */
static long enroll(const char *token, const char *csr, json_t **ret)
{
        json_t *req = json_pack("{s:s,s:s}", "token", token, "csr", csr);
        char *body = json_dumps(req, JSON_COMPACT);
        long st = harness_admin(&H, "POST", "/agent/v1/enroll", "", body, ret);

        free(body);
        json_decref(req);
        return st;
}

static void expect_enroll(const char *token, const char *csr, long status, const char *code)
{
        json_t *j = NULL;

        assert_int_equal(enroll(token, csr, &j), status);
        assert_string_equal(err_code(j), code);
        json_decref(j);
}

static void test_health_and_routes(void **state)
{
        expect_admin("GET", "/api/v1/health", "", NULL, 200, NULL);
        expect_admin("GET", "/api/v1/nope", NULL, NULL, 404, "not_found");
        expect_admin("DELETE", "/api/v1/devices", NULL, NULL, 405, "method_not_allowed");
}

static void test_admin_auth(void **state)
{
        json_t *j = NULL;
        char *reader;

        expect_admin("GET", "/api/v1/devices", "", NULL, 401, "unauthenticated");
        expect_admin("GET", "/api/v1/devices", "vgt_0123456789abcdef_wrong", NULL, 401, "invalid_token");
        expect_admin("GET", "/api/v1/devices", "garbage", NULL, 401, "invalid_token");
        assert_int_equal(harness_admin(&H, "POST", "/api/v1/tokens", NULL, "{\"role\":\"reader\"}", &j), 201);
        reader = strdup(json_string_value(json_object_get(j, "token")));
        json_decref(j);
        expect_admin("GET", "/api/v1/devices", reader, NULL, 200, NULL);
        expect_admin("POST", "/api/v1/onboarding-packages", reader, "{}", 403, "forbidden");
        expect_admin("POST", "/api/v1/tokens", reader, "{\"role\":\"security_admin\"}", 403, "forbidden");
        expect_admin("POST", "/api/v1/tokens", NULL, "{\"role\":\"root\"}", 400, "invalid_role");
        free(reader);
}

static void test_bad_bodies(void **state)
{
        char *big = malloc(BODY_MAX + 2);

        expect_admin("POST", "/api/v1/tokens", NULL, "{bad", 400, "invalid_json");
        expect_admin("POST", "/api/v1/tokens", NULL, "[1,2]", 400, "invalid_json");
        expect_admin("POST", "/api/v1/onboarding-packages", NULL, "{\"uses\":0}", 400, "invalid_uses");
        expect_admin("POST", "/api/v1/onboarding-packages", NULL, "{\"expires\":\"forever\"}", 400,
                     "invalid_expires");
        memset(big, ' ', BODY_MAX + 1);
        big[0] = '{';
        big[BODY_MAX] = '}';
        big[BODY_MAX + 1] = '\0';
        expect_admin("POST", "/api/v1/tokens", NULL, big, 413, "body_too_large");
        /* the connection is still usable afterwards */
        expect_admin("GET", "/api/v1/health", "", NULL, 200, NULL);
        free(big);
}

/* Reads the server's id and enrollment key from its data directory, as only
 * someone holding the server's files could. */
static void server_secrets(char id[37], uint8_t key[ENROLL_KEY_LEN])
{
        char path[400], *text;
        size_t len;

        snprintf(path, sizeof(path), "%s/server-id", H.data);
        assert_int_equal(util_file_read(path, 36, &text, &len), 0);
        memcpy(id, text, 37);
        free(text);
        snprintf(path, sizeof(path), "%s/private/enroll.key", H.data);
        assert_int_equal(util_file_read(path, ENROLL_KEY_LEN, &text, &len), 0);
        memcpy(key, text, ENROLL_KEY_LEN);
        free(text);
}

static void test_bad_tokens(void **state)
{
        struct enroll_token t;
        uint8_t key[ENROLL_KEY_LEN], other[ENROLL_KEY_LEN];
        char token[ENROLL_TOKEN_MAX + 1], *csr = new_csr(NULL), *good;
        long before = device_count();

        server_secrets(t.srv, key);
        assert_int_equal(crypto_uuid4(t.tid), 0);
        t.exp = util_now() - 10;
        assert_int_equal(enroll_token_sign(&t, key, token, sizeof(token)), 0);
        expect_enroll(token, csr, 403, "token_expired");

        t.exp = util_now() + 3600;
        crypto_random(other, sizeof(other));
        assert_int_equal(enroll_token_sign(&t, other, token, sizeof(token)), 0);
        expect_enroll(token, csr, 403, "token_forged");

        assert_int_equal(crypto_uuid4(t.srv), 0);
        assert_int_equal(enroll_token_sign(&t, other, token, sizeof(token)), 0);
        expect_enroll(token, csr, 403, "token_foreign");

        expect_enroll("hello", csr, 400, "token_malformed");

        /* a validly signed token whose id the server never issued */
        server_secrets(t.srv, key);
        assert_int_equal(enroll_token_sign(&t, key, token, sizeof(token)), 0);
        expect_enroll(token, csr, 403, "token_used_up");

        good = new_token(1);
        {
                json_t *j = NULL;
                assert_int_equal(enroll(good, csr, &j), 201);
                json_decref(j);
        }
        expect_enroll(good, csr, 403, "token_used_up");
        assert_int_equal(device_count(), before + 1);
        free(good);
        free(csr);
}

/* Flips one byte of the signature at the end of a PEM CSR's DER. */
static char *corrupt_csr(const char *pem)
{
        gnutls_datum_t in = { (unsigned char *)pem, (unsigned)strlen(pem) }, der, out;
        char *r;

        assert_int_equal(gnutls_pem_base64_decode2("NEW CERTIFICATE REQUEST", &in, &der), 0);
        der.data[der.size - 1] ^= 0x01;
        assert_int_equal(gnutls_pem_base64_encode2("NEW CERTIFICATE REQUEST", &der, &out), 0);
        r = strndup((char *)out.data, out.size);
        gnutls_free(der.data);
        gnutls_free(out.data);
        return r;
}

static void test_bad_csrs(void **state)
{
        char *token = new_token(1), *csr = new_csr(NULL), *bad = corrupt_csr(csr);
        long before = device_count();
        json_t *j = NULL;

        expect_enroll(token, bad, 400, "csr_key_mismatch");
        expect_enroll(token, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
                      400, "csr_malformed");
        expect_enroll(token, "", 400, "csr_malformed");
        {
                json_t *e = NULL;
                assert_int_equal(harness_admin(&H, "POST", "/agent/v1/enroll", "", "{\"token\":1}", &e), 400);
                assert_string_equal(err_code(e), "invalid_request");
                json_decref(e);
        }
        /* none of that used the token up */
        assert_int_equal(device_count(), before);
        assert_int_equal(enroll(token, csr, &j), 201);
        json_decref(j);
        free(token);
        free(csr);
        free(bad);
}

/* A client authenticated with the given certificate and key files. */
static struct httpc *device_client(const char *cert, const char *key)
{
        struct httpc_options o = { .ca_file = H.ca, .cert_file = cert, .key_file = key };
        struct httpc *c;

        assert_int_equal(httpc_new(H.url, &o, &c), 0);
        return c;
}

static long device_req(struct httpc *c, const char *method, const char *path, const char *body, json_t **ret)
{
        char err[512];
        long st = -1;
        json_t *j = NULL;

        if (httpc_request(c, method, path, NULL, body, strlen(body), &st, &j, err, sizeof(err)) < 0)
                return -1;
        if (ret)
                *ret = j;
        else
                json_decref(j);
        return st;
}

static void test_device_certificates(void **state)
{
        char *token = new_token(1), *key, *csr = new_csr(&key), certp[400], keyp[400], path[128];
        char *fca, *fcakey, *fcert;
        size_t l1, l2, l3;
        struct crypto_ca *foreign;
        struct crypto_cert_info info;
        struct httpc *dev, *none, *alien;
        json_t *j = NULL;
        const char *id;

        assert_int_equal(enroll(token, csr, &j), 201);
        id = json_string_value(json_object_get(j, "device_id"));
        assert_int_equal(harness_write(&H, "dev.pem", json_string_value(json_object_get(j, "certificate")),
                                       certp, sizeof(certp)), 0);
        assert_int_equal(harness_write(&H, "dev.key", key, keyp, sizeof(keyp)), 0);
        dev = device_client(certp, keyp);
        assert_int_equal(device_req(dev, "POST", "/agent/v1/heartbeat", "{}", NULL), 200);
        assert_int_equal(device_req(dev, "PUT", "/agent/v1/inventory", "{\"hostname\":7}", NULL), 400);
        assert_int_equal(device_req(dev, "PUT", "/agent/v1/inventory",
                                    "{\"hostname\":\"h\",\"packages\":[{\"name\":\"x\"}]}", NULL), 400);
        assert_int_equal(device_req(dev, "PUT", "/agent/v1/inventory",
                "{\"hostname\":\"h\",\"os\":{\"version_id\":\"12\"},\"packages\":[{\"name\":\"openssl\","
                "\"version\":\"3.0.15-1~deb12u1\",\"architecture\":\"amd64\",\"source\":\"openssl\","
                "\"source_version\":\"3.0.15-1~deb12u1\"}]}", NULL), 200);
        snprintf(path, sizeof(path), "/api/v1/devices/%s/software", id);
        {
                json_t *s = NULL;
                assert_int_equal(harness_admin(&H, "GET", path, NULL, NULL, &s), 200);
                assert_int_equal(json_integer_value(json_object_get(s, "count")), 1);
                json_decref(s);
        }

        /* no certificate at all */
        none = device_client(NULL, NULL);
        assert_int_equal(device_req(none, "POST", "/agent/v1/heartbeat", "{}", NULL), 401);

        /* a certificate from a CA the server does not know */
        assert_int_equal(crypto_ca_create("Foreign CA", 30, &fca, &l1, &fcakey, &l2), 0);
        assert_int_equal(crypto_ca_load(fca, l1, fcakey, l2, &foreign), 0);
        assert_int_equal(crypto_ca_sign_csr(foreign, csr, strlen(csr), id, 30, &fcert, &l3, &info), 0);
        assert_int_equal(harness_write(&H, "alien.pem", fcert, certp, sizeof(certp)), 0);
        alien = device_client(certp, keyp);
        {
                json_t *e = NULL;
                assert_int_equal(device_req(alien, "POST", "/agent/v1/heartbeat", "{}", &e), 403);
                assert_string_equal(err_code(e), "device_certificate_invalid");
                json_decref(e);
        }

        /* offboarded: refused, even on the connection kept alive from before */
        snprintf(path, sizeof(path), "/api/v1/devices/%s/offboard", id);
        expect_admin("POST", path, NULL, NULL, 200, NULL);
        expect_admin("POST", path, NULL, NULL, 409, "already_offboarded");
        {
                json_t *e = NULL;
                assert_int_equal(device_req(dev, "POST", "/agent/v1/heartbeat", "{}", &e), 403);
                assert_string_equal(err_code(e), "device_offboarded");
                json_decref(e);
        }
        expect_admin("POST", "/api/v1/devices/00000000-0000-4000-8000-000000000000/offboard", NULL, NULL,
                     404, "device_not_found");
        json_decref(j);
        httpc_free(dev);
        httpc_free(none);
        httpc_free(alien);
        crypto_ca_free(foreign);
        free(fca);
        free(fcakey);
        free(fcert);
        free(token);
        free(key);
        free(csr);
}

static const char *health_of(const char *id, char *buf, size_t size)
{
        char path[128];
        json_t *j = NULL;

        snprintf(path, sizeof(path), "/api/v1/devices/%s", id);
        assert_int_equal(harness_admin(&H, "GET", path, NULL, NULL, &j), 200);
        snprintf(buf, size, "%s", json_string_value(json_object_get(j, "health_status")));
        json_decref(j);
        return buf;
}

/* A device is active while it heartbeats and inactive after inactive_after
 * (2 s here) without one. */
static void test_health_status(void **state)
{
        char *token = new_token(1), *key, *csr = new_csr(&key), certp[400], keyp[400], buf[32], id[64];
        struct httpc *dev;
        json_t *j = NULL;

        assert_int_equal(enroll(token, csr, &j), 201);
        snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(j, "device_id")));
        harness_write(&H, "h.pem", json_string_value(json_object_get(j, "certificate")), certp, sizeof(certp));
        harness_write(&H, "h.key", key, keyp, sizeof(keyp));
        json_decref(j);
        dev = device_client(certp, keyp);
        assert_int_equal(device_req(dev, "POST", "/agent/v1/heartbeat", "{}", NULL), 200);
        assert_string_equal(health_of(id, buf, sizeof(buf)), "active");
        sleep(3);
        assert_string_equal(health_of(id, buf, sizeof(buf)), "inactive");
        assert_int_equal(device_req(dev, "POST", "/agent/v1/heartbeat", "{}", NULL), 200);
        assert_string_equal(health_of(id, buf, sizeof(buf)), "active");
        httpc_free(dev);
        free(token);
        free(key);
        free(csr);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_health_and_routes),
                cmocka_unit_test(test_admin_auth),
                cmocka_unit_test(test_bad_bodies),
                cmocka_unit_test(test_bad_tokens),
                cmocka_unit_test(test_bad_csrs),
                cmocka_unit_test(test_device_certificates),
                cmocka_unit_test(test_health_status),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
