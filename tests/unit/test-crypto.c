/* Unit tests for lib/crypto: hashes, random, keys, CAs, CSRs, certificates.
 * Certificates made by the module are read back with GnuTLS directly, so the
 * tests check the X.509 itself and not just what the module says about it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "crypto/crypto.h"
#include "util/strutil.h"

#define DAY 86400

static void hex_of(const uint8_t *b, size_t n, char *out)
{
        util_hex_encode(b, n, out);
}

static bool is_lower_hex(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

/* A CA made and loaded, with its PEM kept for verification. */
struct test_ca {
        char *cert, *key;
        size_t cert_len, key_len;
        struct crypto_ca *ca;
};

static void test_ca_make(struct test_ca *t, const char *cn)
{
        assert_int_equal(crypto_ca_create(cn, 365, &t->cert, &t->cert_len,
                                          &t->key, &t->key_len), 0);
        assert_int_equal(crypto_ca_load(t->cert, t->cert_len, t->key, t->key_len, &t->ca), 0);
}

static void test_ca_drop(struct test_ca *t)
{
        crypto_ca_free(t->ca);
        free(t->cert);
        free(t->key);
}

static gnutls_x509_crt_t crt_parse(const char *pem, size_t len)
{
        gnutls_x509_crt_t crt;
        gnutls_datum_t d = { (unsigned char *)pem, (unsigned)len };

        assert_int_equal(gnutls_x509_crt_init(&crt), 0);
        assert_int_equal(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM), 0);
        return crt;
}

/* PEM -> DER, in GnuTLS memory (gnutls_free the data). */
static gnutls_datum_t pem_to_der(const char *label, const char *pem, size_t len)
{
        gnutls_datum_t in = { (unsigned char *)pem, (unsigned)len }, out = { NULL, 0 };

        assert_int_equal(gnutls_pem_base64_decode2(label, &in, &out), 0);
        return out;
}

static char *der_to_pem(const char *label, const gnutls_datum_t *der, size_t *ret_len)
{
        gnutls_datum_t out = { NULL, 0 };
        char *s;

        assert_int_equal(gnutls_pem_base64_encode2(label, der, &out), 0);
        s = malloc(out.size + 1);
        assert_non_null(s);
        memcpy(s, out.data, out.size);
        s[out.size] = '\0';
        *ret_len = out.size;
        gnutls_free(out.data);
        return s;
}

/* A CSR built with GnuTLS directly, for key types the module never makes. */
static char *csr_make(gnutls_pk_algorithm_t pk, unsigned bits, gnutls_digest_algorithm_t dig,
                      size_t *ret_len, int *ret_sign)
{
        gnutls_x509_privkey_t key;
        gnutls_x509_crq_t crq;
        gnutls_datum_t out = { NULL, 0 };
        char *s = NULL;

        assert_int_equal(gnutls_x509_privkey_init(&key), 0);
        assert_int_equal(gnutls_x509_privkey_generate(key, pk, bits, 0), 0);
        assert_int_equal(gnutls_x509_crq_init(&crq), 0);
        assert_int_equal(gnutls_x509_crq_set_version(crq, 1), 0);
        assert_int_equal(gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0,
                                                       "other", 5), 0);
        assert_int_equal(gnutls_x509_crq_set_key(crq, key), 0);
        *ret_sign = gnutls_x509_crq_sign2(crq, key, dig, 0);
        if (*ret_sign == 0) {
                assert_int_equal(gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_PEM, &out), 0);
                s = malloc(out.size + 1);
                assert_non_null(s);
                memcpy(s, out.data, out.size);
                s[out.size] = '\0';
                *ret_len = out.size;
                gnutls_free(out.data);
        }
        gnutls_x509_crq_deinit(crq);
        gnutls_x509_privkey_deinit(key);
        return s;
}

static void test_sha256(void **state)
{
        uint8_t md[CRYPTO_SHA256_LEN];
        char hex[2 * CRYPTO_SHA256_LEN + 1];

        assert_int_equal(crypto_sha256("abc", 3, md), 0);
        hex_of(md, sizeof(md), hex);
        assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_int_equal(crypto_sha256(NULL, 0, md), 0);
        hex_of(md, sizeof(md), hex);
        assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_hmac(void **state)
{
        uint8_t key[20], md[CRYPTO_SHA256_LEN];
        char hex[2 * CRYPTO_SHA256_LEN + 1];

        /* RFC 4231, test cases 1 and 2 */
        memset(key, 0x0b, sizeof(key));
        assert_int_equal(crypto_hmac_sha256(key, sizeof(key), "Hi There", 8, md), 0);
        hex_of(md, sizeof(md), hex);
        assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
        assert_int_equal(crypto_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, md), 0);
        hex_of(md, sizeof(md), hex);
        assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        /* an empty key and empty data are legal HMAC inputs */
        assert_int_equal(crypto_hmac_sha256(NULL, 0, NULL, 0, md), 0);
        hex_of(md, sizeof(md), hex);
        assert_string_equal(hex, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

static void test_random_uuid(void **state)
{
        uint8_t a[32], b[32];
        char u1[37], u2[37];

        assert_int_equal(crypto_random(a, sizeof(a)), 0);
        assert_int_equal(crypto_random(b, sizeof(b)), 0);
        assert_memory_not_equal(a, b, sizeof(a));
        assert_int_equal(crypto_random(a, 0), 0);

        for (int i = 0; i < 64; i++) {
                assert_int_equal(crypto_uuid4(u1), 0);
                assert_int_equal(strlen(u1), 36);
                for (int j = 0; j < 36; j++) {
                        if (j == 8 || j == 13 || j == 18 || j == 23)
                                assert_int_equal(u1[j], '-');
                        else
                                assert_true(is_lower_hex(&u1[j], 1));
                }
                assert_int_equal(u1[14], '4');
                assert_non_null(strchr("89ab", u1[19]));
        }
        assert_int_equal(crypto_uuid4(u2), 0);
        assert_string_not_equal(u1, u2);
}

static void test_key_generate(void **state)
{
        gnutls_x509_privkey_t key;
        gnutls_datum_t d;
        unsigned bits = 0;
        char *pem;
        size_t len;

        assert_int_equal(crypto_key_generate(&pem, &len), 0);
        assert_int_equal(strlen(pem), len);
        assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
        d.data = (unsigned char *)pem;
        d.size = (unsigned)len;
        assert_int_equal(gnutls_x509_privkey_init(&key), 0);
        assert_int_equal(gnutls_x509_privkey_import(key, &d, GNUTLS_X509_FMT_PEM), 0);
        assert_int_equal(gnutls_x509_privkey_get_pk_algorithm2(key, &bits), GNUTLS_PK_ECDSA);
        assert_int_equal(bits, 256);
        gnutls_x509_privkey_deinit(key);
        free(pem);
}

static void test_ca_create_load(void **state)
{
        struct test_ca t, other;
        struct crypto_cert_info info;
        struct crypto_ca *ca;
        gnutls_x509_crt_t crt;
        unsigned critical = 0, usage = 0;
        int64_t now = time(NULL);

        test_ca_make(&t, "Vigil Device CA");
        assert_non_null(strstr(t.cert, "-----BEGIN CERTIFICATE-----"));
        assert_int_equal(strlen(t.cert), t.cert_len);
        assert_int_equal(strlen(t.key), t.key_len);
        assert_int_equal(crypto_cert_info_pem(t.cert, t.cert_len, &info), 0);
        assert_string_equal(info.cn, "Vigil Device CA");
        assert_true(info.not_before <= now && info.not_before >= now - 120);
        assert_true(info.not_after >= now + 365 * DAY - 5 && info.not_after <= now + 365 * DAY + 5);

        crt = crt_parse(t.cert, t.cert_len);
        assert_int_equal(gnutls_x509_crt_get_version(crt), 3);
        assert_int_equal(gnutls_x509_crt_get_ca_status(crt, &critical), 1);
        assert_int_equal(gnutls_x509_crt_get_key_usage(crt, &usage, &critical), 0);
        assert_int_equal(usage, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN);
        gnutls_x509_crt_deinit(crt);
        assert_true(crypto_cert_key_match(t.cert, t.cert_len, t.key, t.key_len));

        /* a key that is not the certificate's, or input that is not PEM */
        assert_int_equal(crypto_ca_create("Other CA", 10, &other.cert, &other.cert_len,
                                          &other.key, &other.key_len), 0);
        assert_int_equal(crypto_ca_load(t.cert, t.cert_len, other.key, other.key_len, &ca), -EINVAL);
        assert_int_equal(crypto_ca_load(t.cert, t.cert_len, "junk", 4, &ca), -EINVAL);
        assert_int_equal(crypto_ca_load("junk", 4, t.key, t.key_len, &ca), -EINVAL);
        assert_int_equal(crypto_ca_load(t.cert, CRYPTO_PEM_MAX + 1, t.key, t.key_len, &ca), -EINVAL);
        assert_int_equal(crypto_ca_create("", 10, &other.cert, &other.cert_len,
                                          &other.key, &other.key_len), -EINVAL);
        free(other.cert);
        free(other.key);
        crypto_ca_free(NULL);
        test_ca_drop(&t);
}

static void test_csr(void **state)
{
        char *key, *csr, *bad;
        size_t key_len, csr_len, bad_len;
        gnutls_datum_t der;
        gnutls_x509_crq_t crq;
        char *big;

        assert_int_equal(crypto_key_generate(&key, &key_len), 0);
        assert_int_equal(crypto_csr_create(key, key_len, "device-asks", &csr, &csr_len), 0);
        assert_int_equal(strlen(csr), csr_len);
        assert_non_null(strstr(csr, "CERTIFICATE REQUEST-----"));
        assert_int_equal(crypto_csr_check(csr, csr_len), 0);
        assert_int_equal(crypto_csr_create(key, key_len, "", &bad, &bad_len), -EINVAL);
        assert_int_equal(crypto_csr_create("junk", 4, "x", &bad, &bad_len), -EINVAL);

        /* not a CSR at all */
        assert_int_equal(crypto_csr_check("garbage", 7), -EBADMSG);
        assert_int_equal(crypto_csr_check("", 0), -EBADMSG);
        assert_int_equal(crypto_csr_check(csr, csr_len / 2), -EBADMSG);
        big = malloc(CRYPTO_PEM_MAX + 2);
        assert_non_null(big);
        memset(big, 'A', CRYPTO_PEM_MAX + 2);
        memcpy(big, csr, csr_len);
        assert_int_equal(crypto_csr_check(big, CRYPTO_PEM_MAX + 1), -EBADMSG);
        free(big);
        /* input is read by its length: an exact-size copy with no NUL after it
         * (the sanitizer build catches a read past the end) */
        big = malloc(csr_len);
        assert_non_null(big);
        memcpy(big, csr, csr_len);
        assert_int_equal(crypto_csr_check(big, csr_len), 0);
        assert_int_equal(crypto_csr_check(big, csr_len - 30), -EBADMSG);
        free(big);

        /* the last byte of the DER is the end of the signature's s value: the
         * CSR still parses but its signature no longer verifies */
        der = pem_to_der("NEW CERTIFICATE REQUEST", csr, csr_len);
        der.data[der.size - 1] ^= 0x01;
        bad = der_to_pem("NEW CERTIFICATE REQUEST", &der, &bad_len);
        assert_int_equal(gnutls_x509_crq_init(&crq), 0);
        assert_int_equal(gnutls_x509_crq_import(crq, &der, GNUTLS_X509_FMT_DER), 0);
        gnutls_x509_crq_deinit(crq);
        assert_int_equal(crypto_csr_check(bad, bad_len), -EKEYREJECTED);
        free(bad);
        der.data[der.size - 1] ^= 0x01;

        /* a signed field changed after signing: the CN "device-asks" becomes
         * "device-askt" */
        {
                unsigned char *p = memmem(der.data, der.size, "device-asks", 11);
                assert_non_null(p);
                p[10] = 't';
                bad = der_to_pem("CERTIFICATE REQUEST", &der, &bad_len);
                assert_int_equal(crypto_csr_check(bad, bad_len), -EKEYREJECTED);
                free(bad);
        }
        gnutls_free(der.data);
        free(csr);
        free(key);
}

static void test_csr_key_types(void **state)
{
        static const struct {
                gnutls_pk_algorithm_t pk;
                unsigned bits;
                int want;
        } cases[] = {
                { GNUTLS_PK_RSA, 1024, -EPERM },
                { GNUTLS_PK_RSA, 2048, 0 },
                { GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0 },
                { GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1), 0 },
                { GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP521R1), -EPERM },
                { GNUTLS_PK_EDDSA_ED25519, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_ED25519), -EPERM },
        };
        char *csr;
        size_t len = 0;
        int sign;

        /* GnuTLS itself verifies SHA-1 signed requests; the module must not */
        csr = csr_make(GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
                       GNUTLS_DIG_SHA1, &len, &sign);
        assert_int_equal(sign, 0);
        assert_int_equal(crypto_csr_check(csr, len), -EPERM);
        free(csr);

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                gnutls_digest_algorithm_t dig = cases[i].pk == GNUTLS_PK_EDDSA_ED25519 ?
                                                GNUTLS_DIG_UNKNOWN : GNUTLS_DIG_SHA256;

                csr = csr_make(cases[i].pk, cases[i].bits, dig, &len, &sign);
                assert_int_equal(sign, 0);
                assert_int_equal(crypto_csr_check(csr, len), cases[i].want);
                free(csr);
        }
}

static void test_sign_csr(void **state)
{
        struct test_ca t;
        struct crypto_cert_info info, again;
        gnutls_x509_crt_t crt;
        char *key, *csr, *cert;
        size_t key_len, csr_len, cert_len, n;
        char oid[128];
        unsigned critical = 0, usage = 0;
        int64_t now = time(NULL);

        test_ca_make(&t, "Vigil Device CA");
        assert_int_equal(crypto_key_generate(&key, &key_len), 0);
        assert_int_equal(crypto_csr_create(key, key_len, "i-want-to-be-admin", &csr, &csr_len), 0);
        assert_int_equal(crypto_ca_sign_csr(t.ca, csr, csr_len, "device-42", 30,
                                            &cert, &cert_len, &info), 0);
        assert_int_equal(strlen(cert), cert_len);
        assert_string_equal(info.cn, "device-42");
        assert_int_equal(strlen(info.serial_hex), 32);
        assert_true(is_lower_hex(info.serial_hex, 32));
        assert_int_equal(strlen(info.fpr_hex), CRYPTO_FPR_HEX_LEN);
        assert_true(is_lower_hex(info.fpr_hex, CRYPTO_FPR_HEX_LEN));
        assert_true(info.not_after >= now + 30 * DAY - 5 && info.not_after <= now + 30 * DAY + 5);
        assert_true(info.not_before <= now && info.not_before >= now - 120);
        assert_int_equal(crypto_cert_info_pem(cert, cert_len, &again), 0);
        assert_memory_equal(&info, &again, sizeof(info));
        assert_null(strstr(cert, "i-want-to-be-admin"));

        crt = crt_parse(cert, cert_len);
        assert_int_equal(gnutls_x509_crt_get_ca_status(crt, &critical), 0);
        assert_int_equal(gnutls_x509_crt_get_key_usage(crt, &usage, &critical), 0);
        assert_int_equal(usage, GNUTLS_KEY_DIGITAL_SIGNATURE);
        n = sizeof(oid);
        assert_int_equal(gnutls_x509_crt_get_key_purpose_oid(crt, 0, oid, &n, &critical), 0);
        assert_string_equal(oid, GNUTLS_KP_TLS_WWW_CLIENT);
        n = sizeof(oid);
        assert_int_equal(gnutls_x509_crt_get_key_purpose_oid(crt, 1, oid, &n, &critical),
                         GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
        n = sizeof(oid);
        assert_int_equal(gnutls_x509_crt_get_dn(crt, oid, &n), 0);
        assert_string_equal(oid, "CN=device-42");
        gnutls_x509_crt_deinit(crt);

        /* the certificate carries the CSR's key, not the CA's */
        assert_true(crypto_cert_key_match(cert, cert_len, key, key_len));
        assert_false(crypto_cert_key_match(cert, cert_len, t.key, t.key_len));
        assert_false(crypto_cert_key_match(cert, cert_len, "junk", 4));
        assert_false(crypto_cert_key_match("junk", 4, key, key_len));

        free(cert);

        /* the checks of crypto_csr_check() apply, and the CN is ours to vet */
        assert_int_equal(crypto_ca_sign_csr(t.ca, "garbage", 7, "d", 30, &cert, &cert_len, &info),
                         -EBADMSG);
        assert_int_equal(crypto_ca_sign_csr(t.ca, csr, csr_len, "", 30, &cert, &cert_len, &info),
                         -EINVAL);
        assert_int_equal(crypto_ca_sign_csr(t.ca, csr, csr_len, "d", 0, &cert, &cert_len, &info),
                         -EINVAL);
        free(csr);
        free(key);
        test_ca_drop(&t);
}

static void test_verify(void **state)
{
        struct test_ca t, other;
        struct crypto_cert_info info, info_der;
        gnutls_datum_t der, ca_der;
        char *key, *csr, *cert;
        size_t key_len, csr_len, cert_len;
        int64_t now = time(NULL);

        test_ca_make(&t, "Vigil Device CA");
        test_ca_make(&other, "Vigil Device CA");    /* same name, other key */
        assert_int_equal(crypto_key_generate(&key, &key_len), 0);
        assert_int_equal(crypto_csr_create(key, key_len, "d", &csr, &csr_len), 0);
        assert_int_equal(crypto_ca_sign_csr(t.ca, csr, csr_len, "device-1", 7,
                                            &cert, &cert_len, &info), 0);
        der = pem_to_der("CERTIFICATE", cert, cert_len);
        assert_int_equal(crypto_cert_info_der(der.data, der.size, &info_der), 0);
        assert_memory_equal(&info, &info_der, sizeof(info));

        assert_int_equal(crypto_cert_verify_der(t.cert, t.cert_len, der.data, der.size, now), 0);
        assert_int_equal(crypto_cert_verify_der(other.cert, other.cert_len, der.data, der.size, now),
                         -EKEYREJECTED);
        assert_int_equal(crypto_cert_verify_der(t.cert, t.cert_len, der.data, der.size,
                                                info.not_after), 0);
        assert_int_equal(crypto_cert_verify_der(t.cert, t.cert_len, der.data, der.size,
                                                info.not_after + 1), -EKEYREJECTED);
        assert_int_equal(crypto_cert_verify_der(t.cert, t.cert_len, der.data, der.size,
                                                info.not_before - 1), -EKEYREJECTED);
        assert_int_equal(crypto_cert_verify_der(t.cert, t.cert_len, "junk", 4, now), -EBADMSG);
        assert_int_equal(crypto_cert_verify_der("junk", 4, der.data, der.size, now), -EBADMSG);

        /* a changed byte in the signed part breaks the signature */
        {
                unsigned char *p = memmem(der.data, der.size, "device-1", 8);
                assert_non_null(p);
                p[7] = '2';
                assert_int_equal(crypto_cert_verify_der(t.cert, t.cert_len, der.data, der.size,
                                                        now), -EKEYREJECTED);
        }

        /* the CA's own certificate is no device certificate */
        ca_der = pem_to_der("CERTIFICATE", t.cert, t.cert_len);
        assert_int_equal(crypto_cert_verify_der(t.cert, t.cert_len, ca_der.data, ca_der.size, now),
                         -EKEYREJECTED);
        assert_int_equal(crypto_cert_info_der("junk", 4, &info), -EBADMSG);
        assert_int_equal(crypto_cert_info_pem("junk", 4, &info), -EBADMSG);
        assert_int_equal(crypto_cert_info_pem(cert, 0, &info), -EBADMSG);
        assert_int_equal(crypto_cert_info_pem(cert, CRYPTO_PEM_MAX + 1, &info), -EBADMSG);
        {
                char *exact = malloc(cert_len);
                assert_non_null(exact);
                memcpy(exact, cert, cert_len);
                assert_int_equal(crypto_cert_info_pem(exact, cert_len, &info_der), 0);
                assert_string_equal(info_der.fpr_hex, info.fpr_hex);
                free(exact);
        }

        gnutls_free(ca_der.data);
        gnutls_free(der.data);
        free(cert);
        free(csr);
        free(key);
        test_ca_drop(&other);
        test_ca_drop(&t);
}

static void test_issue_server(void **state)
{
        static const char *const names[] = { "vigil.example", "localhost", "127.0.0.1", "::1" };
        static const char *const bad_names[] = { "vigil.example", "bad name" };
        struct test_ca t;
        struct crypto_cert_info info;
        gnutls_x509_crt_t crt;
        char *key, *cert;
        size_t key_len, cert_len;
        unsigned char v4[4], v6[16];
        char buf[256];
        unsigned critical = 0, usage = 0, seen = 0;
        int type;

        test_ca_make(&t, "Vigil Server CA");
        assert_int_equal(crypto_key_generate(&key, &key_len), 0);
        assert_int_equal(crypto_ca_issue_server(t.ca, key, key_len, names, 4, 90,
                                                &cert, &cert_len), 0);
        assert_int_equal(crypto_cert_info_pem(cert, cert_len, &info), 0);
        assert_string_equal(info.cn, "vigil.example");
        assert_true(crypto_cert_key_match(cert, cert_len, key, key_len));

        assert_int_equal(inet_pton(AF_INET, "127.0.0.1", v4), 1);
        assert_int_equal(inet_pton(AF_INET6, "::1", v6), 1);
        crt = crt_parse(cert, cert_len);
        for (unsigned i = 0;; i++) {
                size_t n = sizeof(buf);
                unsigned san_type = 0;

                type = gnutls_x509_crt_get_subject_alt_name2(crt, i, buf, &n, &san_type, &critical);
                if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
                        break;
                assert_true(type >= 0);
                assert_true(i < 4);
                if (i < 2) {
                        assert_int_equal(type, GNUTLS_SAN_DNSNAME);
                        assert_int_equal(n, strlen(names[i]));
                        assert_memory_equal(buf, names[i], n);
                } else {
                        assert_int_equal(type, GNUTLS_SAN_IPADDRESS);
                        assert_int_equal(n, i == 2 ? 4 : 16);
                        assert_memory_equal(buf, i == 2 ? v4 : v6, n);
                }
                seen++;
        }
        assert_int_equal(seen, 4);
        /* GnuTLS's own host name check agrees */
        assert_true(gnutls_x509_crt_check_hostname(crt, "vigil.example"));
        assert_true(gnutls_x509_crt_check_hostname(crt, "127.0.0.1"));
        assert_true(gnutls_x509_crt_check_hostname(crt, "::1"));
        assert_false(gnutls_x509_crt_check_hostname(crt, "other.example"));
        assert_int_equal(gnutls_x509_crt_get_key_usage(crt, &usage, &critical), 0);
        assert_int_equal(usage, GNUTLS_KEY_DIGITAL_SIGNATURE);
        {
                size_t n = sizeof(buf);
                assert_int_equal(gnutls_x509_crt_get_key_purpose_oid(crt, 0, buf, &n, &critical), 0);
                assert_string_equal(buf, GNUTLS_KP_TLS_WWW_SERVER);
        }
        assert_int_equal(gnutls_x509_crt_get_ca_status(crt, &critical), 0);
        gnutls_x509_crt_deinit(crt);
        free(cert);

        assert_int_equal(crypto_ca_issue_server(t.ca, key, key_len, bad_names, 2, 90,
                                                &cert, &cert_len), -EINVAL);
        assert_int_equal(crypto_ca_issue_server(t.ca, key, key_len, names, 0, 90,
                                                &cert, &cert_len), -EINVAL);
        assert_int_equal(crypto_ca_issue_server(t.ca, "junk", 4, names, 4, 90,
                                                &cert, &cert_len), -EINVAL);
        free(key);
        test_ca_drop(&t);
}

/* A server key signs; the agent accepts the signature only with the server
 * certificate issued by its CA, over the very bytes signed. */
static void test_sign_verify(void **state)
{
        static const char *const names[] = { "vigil.example" };
        static const char data[] = "{\"extra_rules\":[\"title: x\"]}";
        struct test_ca t, other;
        char *key, *cert, *key2, *cert2;
        size_t key_len, cert_len, key2_len, cert2_len, sig_len;
        uint8_t *sig;
        int64_t now = (int64_t)time(NULL);

        (void)state;
        test_ca_make(&t, "Vigil Server CA");
        test_ca_make(&other, "Another CA");
        assert_int_equal(crypto_key_generate(&key, &key_len), 0);
        assert_int_equal(crypto_ca_issue_server(t.ca, key, key_len, names, 1, 90, &cert, &cert_len), 0);
        assert_int_equal(crypto_key_generate(&key2, &key2_len), 0);
        assert_int_equal(crypto_ca_issue_server(other.ca, key2, key2_len, names, 1, 90, &cert2, &cert2_len), 0);

        assert_int_equal(crypto_sign(key, key_len, data, sizeof(data) - 1, &sig, &sig_len), 0);
        assert_true(sig_len > 0);
        assert_int_equal(crypto_signed_verify(t.cert, t.cert_len, cert, cert_len, data, sizeof(data) - 1,
                                              sig, sig_len, now), 0);
        /* other data, a flipped byte of the signature */
        assert_int_equal(crypto_signed_verify(t.cert, t.cert_len, cert, cert_len, data, sizeof(data) - 2,
                                              sig, sig_len, now), -EKEYREJECTED);
        sig[sig_len / 2] ^= 0x01;
        assert_int_equal(crypto_signed_verify(t.cert, t.cert_len, cert, cert_len, data, sizeof(data) - 1,
                                              sig, sig_len, now), -EKEYREJECTED);
        sig[sig_len / 2] ^= 0x01;
        /* a certificate of another CA, the right certificate with the wrong CA */
        assert_int_equal(crypto_signed_verify(t.cert, t.cert_len, cert2, cert2_len, data, sizeof(data) - 1,
                                              sig, sig_len, now), -EKEYREJECTED);
        assert_int_equal(crypto_signed_verify(other.cert, other.cert_len, cert, cert_len, data,
                                              sizeof(data) - 1, sig, sig_len, now), -EKEYREJECTED);
        /* the CA's own certificate is no signer; a certificate out of its validity */
        assert_int_equal(crypto_signed_verify(t.cert, t.cert_len, t.cert, t.cert_len, data, sizeof(data) - 1,
                                              sig, sig_len, now), -EKEYREJECTED);
        assert_int_equal(crypto_signed_verify(t.cert, t.cert_len, cert, cert_len, data, sizeof(data) - 1,
                                              sig, sig_len, now + 200 * 86400), -EKEYREJECTED);
        /* a signature by a key whose certificate is not the one given */
        free(sig);
        assert_int_equal(crypto_sign(key2, key2_len, data, sizeof(data) - 1, &sig, &sig_len), 0);
        assert_int_equal(crypto_signed_verify(t.cert, t.cert_len, cert, cert_len, data, sizeof(data) - 1,
                                              sig, sig_len, now), -EKEYREJECTED);
        /* junk */
        assert_int_equal(crypto_signed_verify(t.cert, t.cert_len, "junk", 4, data, sizeof(data) - 1, sig,
                                              sig_len, now), -EBADMSG);
        assert_int_equal(crypto_signed_verify(t.cert, t.cert_len, cert, cert_len, data, sizeof(data) - 1, sig,
                                              0, now), -EBADMSG);
        assert_int_equal(crypto_sign("junk", 4, data, sizeof(data) - 1, &sig, &sig_len), -EINVAL);
        free(sig);
        free(key);
        free(cert);
        free(key2);
        free(cert2);
        test_ca_drop(&t);
        test_ca_drop(&other);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sha256),
                cmocka_unit_test(test_hmac),
                cmocka_unit_test(test_random_uuid),
                cmocka_unit_test(test_key_generate),
                cmocka_unit_test(test_ca_create_load),
                cmocka_unit_test(test_csr),
                cmocka_unit_test(test_csr_key_types),
                cmocka_unit_test(test_sign_csr),
                cmocka_unit_test(test_verify),
                cmocka_unit_test(test_issue_server),
                cmocka_unit_test(test_sign_verify),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
