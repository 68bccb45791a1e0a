/* Unit tests for lib/jwt: key sets and bearer tokens. The keys are made
 * here with GnuTLS and the tokens signed by the tests' signer
 * (tests/common/jwt-sign.h), so every check runs against real RS256 and
 * ES256 signatures, and the attacks (alg none, HS256, alg confusion,
 * tampering) are built the way an attacker would build them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>

#include "jwt/jwt.h"
#include "tests/common/jwt-sign.h"
#include "util/strutil.h"

#define NOW 1800000000
#define ISS "https://idp.example.com/realms/corp"
#define AUD "vigil-access"

static gnutls_privkey_t rsa_key, rsa_other, ec_key;
static char jwks_text[8192];
static struct jwks *jwks;

static const struct jwt_opts opts = { ISS, AUD, NOW, 60 };

static void b64(const void *in, size_t n, char *out)
{
        util_b64url_encode(in, n, out);
}

static gnutls_privkey_t key_gen(gnutls_pk_algorithm_t pk, unsigned bits)
{
        gnutls_privkey_t k;

        assert_int_equal(jwt_sign_key_new(pk, bits, &k), 0);
        return k;
}

/* The public half of an RSA or EC key as a JWK object. */
static void jwk_of(gnutls_privkey_t k, const char *kid, char *out, size_t size)
{
        assert_int_equal(jwt_sign_jwk(k, kid, out, size), 0);
}

/* A compact token of header and payload signed with k (heap); k NULL
 * leaves the signature empty. */
static char *sign(gnutls_privkey_t k, const char *header, const char *payload)
{
        char *tok = jwt_sign(k, header, payload);

        assert_non_null(tok);
        return tok;
}

static char *payload(char *out, size_t size, const char *iss, const char *aud, int64_t exp,
                     const char *extra)
{
        snprintf(out, size, "{\"iss\":\"%s\",\"aud\":%s,\"exp\":%lld,\"iat\":%d,\"sub\":\"u-42\"%s}",
                 iss, aud, (long long)exp, NOW - 10, extra);
        return out;
}

static int check(const char *tok, struct jwt_claims *c, struct jwt_err *err)
{
        memset(err, 0, sizeof(*err));
        return jwt_verify(tok, strlen(tok), jwks, &opts, c, err);
}

static int expect_fail(gnutls_privkey_t k, const char *hdr, const char *pl, int want, const char *msg)
{
        struct jwt_claims c;
        struct jwt_err err;
        char *tok = sign(k, hdr, pl);
        int r = check(tok, &c, &err);

        free(tok);
        assert_int_equal(r, want);
        if (!strstr(err.msg, msg))
                fail_msg("error '%s' does not say '%s'", err.msg, msg);
        return 0;
}

static int setup(void **state)
{
        char a[2048], b[2048], c[2048];
        struct jwt_err err;

        rsa_key = key_gen(GNUTLS_PK_RSA, 2048);
        rsa_other = key_gen(GNUTLS_PK_RSA, 2048);
        ec_key = key_gen(GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1));
        jwk_of(rsa_key, "r1", a, sizeof(a));
        jwk_of(ec_key, "e1", b, sizeof(b));
        snprintf(c, sizeof(c), "{\"kty\":\"RSA\",\"kid\":\"enc1\",\"use\":\"enc\",\"alg\":\"RSA-OAEP\","
                 "\"n\":\"AQAB\",\"e\":\"AQAB\"}");
        snprintf(jwks_text, sizeof(jwks_text), "{\"keys\":[%s,%s,%s]}", a, b, c);
        if (jwks_load(jwks_text, strlen(jwks_text), &jwks, &err) != 0)
                fail_msg("JWKS refused: %s", err.msg);
        return 0;
}

static int teardown(void **state)
{
        jwks_free(jwks);
        gnutls_privkey_deinit(rsa_key);
        gnutls_privkey_deinit(rsa_other);
        gnutls_privkey_deinit(ec_key);
        return 0;
}

static void test_valid_rs256(void **state)
{
        char pl[1024];
        struct jwt_claims c;
        struct jwt_err err;
        char *tok;

        assert_int_equal(jwks_count(jwks), 2);  /* the "enc" key is skipped */
        payload(pl, sizeof(pl), ISS, "\"" AUD "\"", NOW + 300,
                ",\"preferred_username\":\"alice\",\"email\":\"a@example.com\",\"groups\":[\"admins\",\"eng\"]");
        tok = sign(rsa_key, "{\"alg\":\"RS256\",\"kid\":\"r1\",\"typ\":\"JWT\"}", pl);
        if (check(tok, &c, &err) != 0)
                fail_msg("valid token refused: %s", err.msg);
        assert_string_equal(c.kid, "r1");
        assert_string_equal(c.sub, "u-42");
        assert_string_equal(c.user, "alice");
        assert_int_equal(c.exp, NOW + 300);
        assert_int_equal(c.n_groups, 2);
        assert_string_equal(c.groups[0], "admins");
        assert_string_equal(c.groups[1], "eng");
        jwt_claims_release(&c);
        free(tok);
}

static void test_valid_es256_no_kid(void **state)
{
        char pl[1024];
        struct jwt_claims c;
        struct jwt_err err;
        char *tok;

        payload(pl, sizeof(pl), ISS, "[\"other\",\"" AUD "\"]", NOW + 300, ",\"upn\":\"bob@corp\"");
        for (int i = 0; i < 2; i++) {
                tok = sign(ec_key, i ? "{\"alg\":\"ES256\"}" : "{\"alg\":\"ES256\",\"kid\":\"e1\"}", pl);
                if (check(tok, &c, &err) != 0)
                        fail_msg("valid ES256 token refused: %s", err.msg);
                assert_string_equal(c.kid, "e1");
                assert_string_equal(c.user, "bob@corp");
                assert_null(c.groups);
                jwt_claims_release(&c);
                free(tok);
        }
        /* RS256 without kid: found among the RSA keys */
        tok = sign(rsa_key, "{\"alg\":\"RS256\"}", pl);
        assert_int_equal(check(tok, &c, &err), 0);
        assert_string_equal(c.kid, "r1");
        jwt_claims_release(&c);
        free(tok);
}

static void test_claims_refused(void **state)
{
        const char *h = "{\"alg\":\"RS256\",\"kid\":\"r1\"}";
        char pl[1024];
        struct jwt_claims c;
        struct jwt_err err;
        char *tok;

        expect_fail(rsa_key, h, payload(pl, sizeof(pl), ISS, "\"" AUD "\"", NOW - 61, ""),
                    -EACCES, "token expired at 2027-01-15T07:58:59Z");
        /* within the leeway it passes */
        tok = sign(rsa_key, h, payload(pl, sizeof(pl), ISS, "\"" AUD "\"", NOW - 30, ""));
        assert_int_equal(check(tok, &c, &err), 0);
        jwt_claims_release(&c);
        free(tok);
        expect_fail(rsa_key, h, payload(pl, sizeof(pl), "https://evil.example.com", "\"" AUD "\"", NOW + 60, ""),
                    -EACCES, "issuer 'https://evil.example.com' is not the expected");
        /* an embedded NUL cannot pass for the audience: such a payload is refused */
        expect_fail(rsa_key, h, payload(pl, sizeof(pl), ISS, "\"" AUD "\\u0000x\"", NOW + 60, ""),
                    -EINVAL, "payload is not a JSON object");
        expect_fail(rsa_key, h, payload(pl, sizeof(pl), ISS, "[\"a\",\"b\"]", NOW + 60, ""),
                    -EACCES, "audience does not include 'vigil-access'");
        expect_fail(rsa_key, h, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\"}", -EACCES, "no 'exp'");
        expect_fail(rsa_key, h, payload(pl, sizeof(pl), ISS, "\"" AUD "\"", NOW + 600, ",\"nbf\":1800000300"),
                    -EACCES, "not valid before");
        expect_fail(rsa_key, h, payload(pl, sizeof(pl), ISS, "\"" AUD "\"", NOW + 600, ",\"groups\":[\"a\",7]"),
                    -EACCES, "group #2");
        expect_fail(rsa_key, h, payload(pl, sizeof(pl), ISS, "\"" AUD "\"", NOW + 600, ",\"groups\":\"admins\""),
                    -EACCES, "'groups' is not an array");
}

static void test_alg_refused(void **state)
{
        char pl[1024], hs[2048], n[1024];
        uint8_t mac[32];
        gnutls_datum_t m, e;

        payload(pl, sizeof(pl), ISS, "\"" AUD "\"", NOW + 300, "");
        expect_fail(NULL, "{\"alg\":\"none\"}", pl, -EPERM, "alg 'none' (unsigned) refused");
        expect_fail(NULL, "{\"alg\":\"NONE\",\"kid\":\"r1\"}", pl, -EPERM, "'none'");
        expect_fail(rsa_key, "{\"alg\":\"PS256\",\"kid\":\"r1\"}", pl, -EPERM, "only RS256 and ES256");
        expect_fail(rsa_key, "{\"alg\":\"RS256\",\"kid\":\"r1\",\"crit\":[\"x\"]}", pl, -EPERM, "crit");
        /* HS256 keyed with the public RSA modulus: the classic confusion attack */
        assert_int_equal(gnutls_privkey_export_rsa_raw2(rsa_key, &m, &e, NULL, NULL, NULL, NULL, NULL,
                                                        NULL, GNUTLS_EXPORT_FLAG_NO_LZ), 0);
        b64(m.data, m.size, n);
        char *tok = sign(NULL, "{\"alg\":\"HS256\",\"kid\":\"r1\"}", pl);
        assert_int_equal(gnutls_hmac_fast(GNUTLS_MAC_SHA256, n, strlen(n), tok, strlen(tok) - 1, mac), 0);
        snprintf(hs, sizeof(hs), "%s", tok);
        b64(mac, sizeof(mac), hs + strlen(hs));
        struct jwt_claims c;
        struct jwt_err err;
        assert_int_equal(check(hs, &c, &err), -EPERM);
        assert_non_null(strstr(err.msg, "shared-secret tokens are not accepted"));
        free(tok);
        gnutls_free(m.data);
        gnutls_free(e.data);
        /* alg confusion between key types: ES256 claimed for the RSA key */
        expect_fail(ec_key, "{\"alg\":\"ES256\",\"kid\":\"r1\"}", pl, -EPERM, "key 'r1' is for RS256");
        expect_fail(rsa_key, "{\"alg\":\"RS256\",\"kid\":\"e1\"}", pl, -EPERM, "key 'e1' is for ES256");
}

static void test_signature_refused(void **state)
{
        const char *h = "{\"alg\":\"RS256\",\"kid\":\"r1\"}";
        char pl[1024], *tok, *dot, saved;
        struct jwt_claims c;
        struct jwt_err err;

        payload(pl, sizeof(pl), ISS, "\"" AUD "\"", NOW + 300, "");
        expect_fail(rsa_other, h, pl, -EKEYREJECTED, "signature does not verify with key 'r1'");
        expect_fail(rsa_other, "{\"alg\":\"RS256\"}", pl, -EKEYREJECTED, "any of the 1 RS256 keys");
        expect_fail(rsa_key, "{\"alg\":\"RS256\",\"kid\":\"r9\"}", pl, -ENOKEY, "no key with kid 'r9'");
        /* tampered payload: one character of the middle segment changed */
        tok = sign(rsa_key, h, pl);
        dot = strchr(tok, '.');
        saved = dot[3];
        dot[3] = saved == 'A' ? 'B' : 'A';
        assert_int_equal(check(tok, &c, &err), -EKEYREJECTED);
        dot[3] = saved;
        assert_int_equal(check(tok, &c, &err), 0);
        jwt_claims_release(&c);
        /* tampered signature */
        dot = strrchr(tok, '.');
        dot[5] = dot[5] == 'A' ? 'B' : 'A';
        assert_int_equal(check(tok, &c, &err), -EKEYREJECTED);
        assert_non_null(strstr(err.msg, "does not verify with key 'r1'"));
        free(tok);
        /* ES256 signature of the wrong length */
        tok = sign(ec_key, "{\"alg\":\"ES256\",\"kid\":\"e1\"}", pl);
        snprintf(strrchr(tok, '.') + 1, 65, "%064d", 0);  /* 48 bytes */
        assert_int_equal(check(tok, &c, &err), -EKEYREJECTED);
        assert_non_null(strstr(err.msg, "not 64"));
        free(tok);
}

static void test_malformed(void **state)
{
        struct jwt_claims c;
        struct jwt_err err;
        char *big = malloc(JWT_TOKEN_MAX + 2);

        memset(big, 'A', JWT_TOKEN_MAX + 1);
        big[JWT_TOKEN_MAX + 1] = '\0';
        assert_int_equal(check(big, &c, &err), -E2BIG);
        struct jwt_opts bad = opts;
        bad.leeway_s = JWT_LEEWAY_MAX + 1;
        assert_int_equal(jwt_verify("a.b.c", 5, jwks, &bad, &c, &err), -EINVAL);
        bad = opts;
        bad.audience = NULL;
        assert_int_equal(jwt_verify("a.b.c", 5, jwks, &bad, &c, &err), -EINVAL);
        free(big);
        assert_int_equal(check("", &c, &err), -EINVAL);
        assert_int_equal(check("abc.def", &c, &err), -EINVAL);
        assert_int_equal(check("a.b.c.d.e", &c, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "encrypted tokens"));
        assert_int_equal(check(".e30.sig", &c, &err), -EINVAL);
        /* the payload is read only once the signature verifies */
        assert_int_equal(check("eyJhbGciOiJSUzI1NiJ9.e30=.AAAA", &c, &err), -EKEYREJECTED);
        assert_int_equal(check("eyJhbGciOiJSUzI1NiJ9.e30.AA=A", &c, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "signature is not base64url"));
        assert_int_equal(check("ey*hbGciOiJSUzI1NiJ9.e30.AAAA", &c, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "header is not base64url"));
        assert_int_equal(check("bm90IGpzb24.e30.AAAA", &c, &err), -EINVAL);  /* "not json" */
        assert_non_null(strstr(err.msg, "header is not a JSON object"));
        assert_int_equal(check("eyJhbGciOiJSUzI1NiJ9.e30.", &c, &err), -EKEYREJECTED);
}

static void jwks_bad(const char *text, int want, const char *msg)
{
        struct jwks *s = NULL;
        struct jwt_err err = { { 0 } };

        assert_int_equal(jwks_load(text, strlen(text), &s, &err), want);
        assert_null(s);
        if (!strstr(err.msg, msg))
                fail_msg("error '%s' does not say '%s'", err.msg, msg);
}

static void test_jwks_refused(void **state)
{
        char small[1024], *many, ec[512];
        gnutls_privkey_t k1024 = key_gen(GNUTLS_PK_RSA, 1024);
        size_t n = 0;

        jwks_bad("not json", -EINVAL, "not JSON");
        jwks_bad("{\"keys\":{}}", -EINVAL, "no 'keys' array");
        jwks_bad("{\"keys\":[]}", -EINVAL, "no usable");
        jwks_bad("{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}", -EINVAL, "no usable");
        jwks_bad("{\"keys\":[{\"kty\":\"EC\",\"kid\":\"x\",\"x\":\"AA\",\"y\":\"AA\"}]}", -EINVAL, "without 'crv'");
        jwks_bad("{\"keys\":[{\"kty\":\"EC\",\"kid\":\"x\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}]}",
                 -EINVAL, "key 'x': P-256 'x' and 'y' must be 32 bytes");
        jwks_bad("{\"keys\":[{\"kty\":\"RSA\",\"n\":\"A*B\",\"e\":\"AQAB\"}]}", -EINVAL, "key #1: 'n' is not base64url");
        jwks_bad("{\"keys\":[{\"kty\":\"RSA\",\"kid\":7}]}", -EINVAL, "'kid' is not a string");
        jwk_of(k1024, "weak", small, sizeof(small));
        gnutls_privkey_deinit(k1024);
        char doc[1200];
        snprintf(doc, sizeof(doc), "{\"keys\":[%s]}", small);
        jwks_bad(doc, -EINVAL, "key 'weak': RSA modulus of 1024 bits refused");
        jwk_of(ec_key, "e1", ec, sizeof(ec));
        snprintf(doc, sizeof(doc), "{\"keys\":[%s,%s]}", ec, ec);
        jwks_bad(doc, -EINVAL, "key id 'e1' appears twice");
        many = malloc(64 * 1024);
        n = (size_t)snprintf(many, 64 * 1024, "{\"keys\":[");
        for (int i = 0; i <= JWT_KEYS_MAX; i++)
                n += (size_t)snprintf(many + n, 64 * 1024 - n, "%s{\"kty\":\"oct\"}", i ? "," : "");
        snprintf(many + n, 64 * 1024 - n, "]}");
        jwks_bad(many, -E2BIG, "33 keys, more than 32");
        free(many);
        many = calloc(1, JWT_JWKS_MAX + 2);
        memset(many, ' ', JWT_JWKS_MAX + 1);
        jwks_bad(many, -E2BIG, "larger than");
        free(many);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid_rs256),
                cmocka_unit_test(test_valid_es256_no_kid),
                cmocka_unit_test(test_claims_refused),
                cmocka_unit_test(test_alg_refused),
                cmocka_unit_test(test_signature_refused),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_jwks_refused),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
