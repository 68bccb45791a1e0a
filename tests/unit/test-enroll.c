/* Unit tests for server/enroll: enrollment tokens (sign, verify and every way
 * a token can be refused) and the in-memory device registry. Tokens with
 * chosen payloads are built here with a real HMAC, so a refusal is for the
 * payload and not for the signature. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "crypto/crypto.h"
#include "server/enroll/registry.h"
#include "server/enroll/token.h"
#include "util/strutil.h"

#define SRV "6b1f3c2a-8d4e-4f5a-9b6c-7d8e9f0a1b2c"
#define OTHER_SRV "00000000-1111-4222-8333-444444444444"
#define TID "a3c5e7f9-1b2d-4e6f-8a0b-c1d2e3f4a5b6"
#define EXP 1800000000

static const uint8_t key[ENROLL_KEY_LEN] = {
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
        0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
};

static int verify(const char *text, int64_t now, struct enroll_token *ret)
{
        return enroll_token_verify(text, strlen(text), SRV, key, now, ret);
}

static void sign_default(char out[ENROLL_TOKEN_MAX + 1])
{
        struct enroll_token t = { .srv = SRV, .tid = TID, .exp = EXP };

        assert_int_equal(enroll_token_sign(&t, key, out, ENROLL_TOKEN_MAX + 1), 0);
}

/* "vet1." + base64url(payload) + "." + base64url(HMAC(k, base64url(payload))) */
static void make_token(const char *payload, const uint8_t *k, char *out, size_t size)
{
        char p64[1024], m64[64];
        uint8_t mac[CRYPTO_SHA256_LEN];

        assert_true(util_b64url_len(strlen(payload)) < sizeof(p64));
        util_b64url_encode(payload, strlen(payload), p64);
        assert_int_equal(crypto_hmac_sha256(k, ENROLL_KEY_LEN, p64, strlen(p64), mac), 0);
        util_b64url_encode(mac, sizeof(mac), m64);
        assert_true((size_t)snprintf(out, size, "vet1.%s.%s", p64, m64) < size);
}

/* A result struct filled with a pattern, to see that failures leave it alone. */
static void poison(struct enroll_token *t)
{
        memset(t, 0x5a, sizeof(*t));
}

static void assert_poisoned(const struct enroll_token *t)
{
        struct enroll_token p;

        poison(&p);
        assert_memory_equal(t, &p, sizeof(p));
}

static void test_token_round_trip(void **state)
{
        char tok[ENROLL_TOKEN_MAX + 1], manual[1024];
        struct enroll_token got;

        sign_default(tok);
        assert_true(strncmp(tok, "vet1.", 5) == 0);
        assert_true(strlen(tok) <= ENROLL_TOKEN_MAX);
        /* the documented format, rebuilt independently, is what sign made */
        make_token("{\"srv\":\"" SRV "\",\"tid\":\"" TID "\",\"exp\":1800000000}", key,
                   manual, sizeof(manual));
        assert_string_equal(tok, manual);

        poison(&got);
        assert_int_equal(verify(tok, EXP - 1, &got), ENROLL_TOKEN_OK);
        assert_string_equal(got.srv, SRV);
        assert_string_equal(got.tid, TID);
        assert_int_equal(got.exp, EXP);

        /* fields in another order, with spaces: still the signer's bytes, still valid */
        make_token("{ \"exp\": 1800000000, \"tid\": \"" TID "\", \"srv\": \"" SRV "\" }", key,
                   manual, sizeof(manual));
        assert_int_equal(verify(manual, 0, &got), ENROLL_TOKEN_OK);
        assert_string_equal(got.tid, TID);
}

static void test_token_sign_too_small(void **state)
{
        struct enroll_token t = { .srv = SRV, .tid = TID, .exp = EXP };
        char small[64];

        assert_int_equal(enroll_token_sign(&t, key, small, sizeof(small)), -E2BIG);
}

static void test_token_expired(void **state)
{
        char tok[ENROLL_TOKEN_MAX + 1];
        struct enroll_token got;

        sign_default(tok);
        poison(&got);
        assert_int_equal(verify(tok, EXP, &got), ENROLL_TOKEN_EXPIRED);
        assert_int_equal(verify(tok, EXP + 86400, &got), ENROLL_TOKEN_EXPIRED);
        assert_poisoned(&got);
        assert_int_equal(verify(tok, EXP - 1, &got), ENROLL_TOKEN_OK);
}

static void test_token_foreign(void **state)
{
        char tok[ENROLL_TOKEN_MAX + 1];
        struct enroll_token got;

        sign_default(tok);
        poison(&got);
        assert_int_equal(enroll_token_verify(tok, strlen(tok), OTHER_SRV, key, 0, &got),
                         ENROLL_TOKEN_FOREIGN);
        assert_poisoned(&got);
}

static void test_token_forged(void **state)
{
        char tok[ENROLL_TOKEN_MAX + 1], altered[1024];
        uint8_t other_key[ENROLL_KEY_LEN];
        struct enroll_token got;
        char *mac;
        uint8_t raw[CRYPTO_SHA256_LEN];

        /* made under another key */
        memcpy(other_key, key, sizeof(other_key));
        other_key[31] ^= 0x01;
        make_token("{\"srv\":\"" SRV "\",\"tid\":\"" TID "\",\"exp\":1800000000}", other_key,
                   altered, sizeof(altered));
        poison(&got);
        assert_int_equal(verify(altered, 0, &got), ENROLL_TOKEN_FORGED);
        assert_poisoned(&got);

        /* one byte of the mac flipped (re-encoded, so it still decodes) */
        sign_default(tok);
        mac = strrchr(tok, '.') + 1;
        assert_int_equal(util_b64url_decode(mac, strlen(mac), raw, sizeof(raw)), (int)sizeof(raw));
        for (size_t i = 0; i < sizeof(raw); i += 31) {
                char flipped[ENROLL_TOKEN_MAX + 1];
                memcpy(flipped, tok, sizeof(flipped));
                raw[i] ^= 0x80;
                util_b64url_encode(raw, sizeof(raw), flipped + (mac - tok));
                raw[i] ^= 0x80;
                assert_int_equal(verify(flipped, 0, &got), ENROLL_TOKEN_FORGED);
        }

        /* the payload changed after signing (a later expiry), the old mac kept */
        {
                char p64[512];
                const char *payload = "{\"srv\":\"" SRV "\",\"tid\":\"" TID "\",\"exp\":1900000000}";
                util_b64url_encode(payload, strlen(payload), p64);
                assert_true((size_t)snprintf(altered, sizeof(altered), "vet1.%s.%s", p64, mac) <
                            sizeof(altered));
                assert_int_equal(verify(altered, 0, &got), ENROLL_TOKEN_FORGED);
        }
        /* another token id, same mac */
        {
                char p64[512];
                const char *payload = "{\"srv\":\"" SRV "\",\"tid\":\"b3c5e7f9-1b2d-4e6f-8a0b-c1d2e3f4a5b6\","
                                      "\"exp\":1800000000}";
                util_b64url_encode(payload, strlen(payload), p64);
                assert_true((size_t)snprintf(altered, sizeof(altered), "vet1.%s.%s", p64, mac) <
                            sizeof(altered));
                assert_int_equal(verify(altered, 0, &got), ENROLL_TOKEN_FORGED);
        }
        assert_poisoned(&got);
}

static void test_token_malformed_text(void **state)
{
        char tok[ENROLL_TOKEN_MAX + 1], buf[2048];
        struct enroll_token got;
        const char *dot;
        size_t n;

        sign_default(tok);
        dot = strrchr(tok, '.');
        poison(&got);

        assert_int_equal(enroll_token_verify("", 0, SRV, key, 0, &got), ENROLL_TOKEN_MALFORMED);
        assert_int_equal(verify("vet1.", 0, &got), ENROLL_TOKEN_MALFORMED);
        assert_int_equal(verify("vet1", 0, &got), ENROLL_TOKEN_MALFORMED);
        assert_int_equal(verify("vet1..", 0, &got), ENROLL_TOKEN_MALFORMED);

        /* wrong prefix, on an otherwise valid token */
        memcpy(buf, tok, sizeof(tok));
        buf[3] = '2';
        assert_int_equal(verify(buf, 0, &got), ENROLL_TOKEN_MALFORMED);
        assert_int_equal(verify(tok + 5, 0, &got), ENROLL_TOKEN_MALFORMED);
        memcpy(buf, tok, sizeof(tok));
        buf[0] = 'V';
        assert_int_equal(verify(buf, 0, &got), ENROLL_TOKEN_MALFORMED);

        /* no dot between payload and mac */
        n = (size_t)(dot - tok);
        memcpy(buf, tok, n);
        memcpy(buf + n, dot + 1, strlen(dot + 1) + 1);
        assert_int_equal(verify(buf, 0, &got), ENROLL_TOKEN_MALFORMED);

        /* no mac, an empty mac, a short mac, a mac too long */
        memcpy(buf, tok, n);
        buf[n] = '\0';
        assert_int_equal(verify(buf, 0, &got), ENROLL_TOKEN_MALFORMED);
        memcpy(buf + n, ".", 2);
        assert_int_equal(verify(buf, 0, &got), ENROLL_TOKEN_MALFORMED);
        memcpy(buf, tok, strlen(tok) - 4);
        buf[strlen(tok) - 4] = '\0';
        assert_int_equal(verify(buf, 0, &got), ENROLL_TOKEN_MALFORMED);
        snprintf(buf, sizeof(buf), "%sAAAA", tok);
        assert_int_equal(verify(buf, 0, &got), ENROLL_TOKEN_MALFORMED);

        /* bad base64url: padding, '+' and '/', a space, in payload or mac */
        snprintf(buf, sizeof(buf), "%s=", tok);
        assert_int_equal(verify(buf, 0, &got), ENROLL_TOKEN_MALFORMED);
        memcpy(buf, tok, sizeof(tok));
        buf[7] = '+';
        assert_int_equal(verify(buf, 0, &got), ENROLL_TOKEN_MALFORMED);
        memcpy(buf, tok, sizeof(tok));
        buf[7] = '/';
        assert_int_equal(verify(buf, 0, &got), ENROLL_TOKEN_MALFORMED);
        memcpy(buf, tok, sizeof(tok));
        buf[strlen(tok) - 2] = ' ';
        assert_int_equal(verify(buf, 0, &got), ENROLL_TOKEN_MALFORMED);

        /* a trailing newline is not part of a token */
        snprintf(buf, sizeof(buf), "%s\n", tok);
        assert_int_equal(verify(buf, 0, &got), ENROLL_TOKEN_MALFORMED);

        /* length given shorter than the text: only the prefix is looked at */
        assert_int_equal(enroll_token_verify(tok, strlen(tok) - 1, SRV, key, 0, &got),
                         ENROLL_TOKEN_MALFORMED);
        assert_poisoned(&got);
}

static void test_token_malformed_payload(void **state)
{
        static const char *const payloads[] = {
                "",
                "not json",
                "[\"" SRV "\",\"" TID "\",1800000000]",
                "{\"srv\":\"" SRV "\",\"tid\":\"" TID "\",\"exp\":1800000000",     /* truncated */
                "{\"tid\":\"" TID "\",\"exp\":1800000000}",                         /* no srv */
                "{\"srv\":\"" SRV "\",\"exp\":1800000000}",                         /* no tid */
                "{\"srv\":\"" SRV "\",\"tid\":\"" TID "\"}",                        /* no exp */
                "{\"srv\":\"" SRV "\",\"tid\":\"" TID "\",\"exp\":\"1800000000\"}", /* exp a string */
                "{\"srv\":\"" SRV "\",\"tid\":\"" TID "\",\"exp\":1.8e9}",          /* exp a real */
                "{\"srv\":42,\"tid\":\"" TID "\",\"exp\":1800000000}",
                "{\"srv\":\"" SRV "\",\"tid\":null,\"exp\":1800000000}",
                "{\"srv\":\"" SRV "x\",\"tid\":\"" TID "\",\"exp\":1800000000}",    /* srv 37 */
                "{\"srv\":\"6b1f3c2a-8d4e-4f5a-9b6c-7d8e9f0a1b2\",\"tid\":\"" TID "\",\"exp\":1800000000}",
                "{\"srv\":\"" SRV "\",\"tid\":\"" TID "0\",\"exp\":1800000000}",    /* tid 37 */
                "{\"srv\":\"" SRV "\",\"tid\":\"a3c5e7f9-1b2d-4e6f-8a0b-c1d2e3f4a5b\",\"exp\":1800000000}",
                "{\"srv\":\"" SRV "\",\"tid\":\"\",\"exp\":1800000000}",
                "{\"srv\":\"" SRV "\",\"tid\":\"a3c5e7f9-1b2d-4e6f-8a0b-c1d2e3f4a5b\\n\",\"exp\":1800000000}", /* control */
                "{\"srv\":\"" SRV "\",\"tid\":\"a3c5e7f9-1b2d-4e6f-8a0b-c1d2e3f4a5\\u00e9\",\"exp\":1800000000}",
                "{\"srv\":\"" SRV "\",\"srv\":\"" SRV "\",\"tid\":\"" TID "\",\"exp\":1800000000}", /* duplicate */
        };
        char tok[1024];
        struct enroll_token got;

        poison(&got);
        for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
                make_token(payloads[i], key, tok, sizeof(tok));
                if (verify(tok, 0, &got) != ENROLL_TOKEN_MALFORMED)
                        fail_msg("payload %zu accepted as other than malformed: %s", i, payloads[i]);
        }
        assert_poisoned(&got);

        /* the control: the same construction with a good payload verifies */
        make_token("{\"srv\":\"" SRV "\",\"tid\":\"" TID "\",\"exp\":1800000000}", key, tok, sizeof(tok));
        assert_int_equal(verify(tok, 0, &got), ENROLL_TOKEN_OK);
}

static void test_token_oversize(void **state)
{
        char tok[ENROLL_TOKEN_MAX + 1];
        size_t big = 1024 * 1024;
        char *buf = malloc(big);
        struct enroll_token got;

        assert_non_null(buf);
        sign_default(tok);
        /* a valid token followed by more base64url, one byte past the cap */
        memset(buf, 'A', big);
        memcpy(buf, tok, strlen(tok));
        poison(&got);
        assert_int_equal(enroll_token_verify(buf, ENROLL_TOKEN_MAX + 1, SRV, key, 0, &got),
                         ENROLL_TOKEN_MALFORMED);
        /* a long run after the prefix and dot */
        memcpy(buf, "vet1.", 5);
        buf[200] = '.';
        assert_int_equal(enroll_token_verify(buf, big, SRV, key, 0, &got), ENROLL_TOKEN_MALFORMED);
        assert_poisoned(&got);
        free(buf);
}

static void test_token_strerror(void **state)
{
        assert_string_equal(enroll_token_strerror(ENROLL_TOKEN_OK), "valid");
        assert_non_null(strstr(enroll_token_strerror(ENROLL_TOKEN_EXPIRED), "expired"));
        assert_non_null(strstr(enroll_token_strerror(ENROLL_TOKEN_FOREIGN), "another"));
        assert_string_not_equal(enroll_token_strerror(ENROLL_TOKEN_FORGED),
                                enroll_token_strerror(ENROLL_TOKEN_MALFORMED));
        assert_non_null(enroll_token_strerror(-99));
}

/* Device ids of the registry's length, numbered. */
static void dev_id(unsigned n, char out[REG_ID_LEN + 1])
{
        snprintf(out, REG_ID_LEN + 1, "%08x-0000-4000-8000-%012x", n, n * 7u);
        assert_int_equal(strlen(out), REG_ID_LEN);
}

static void test_registry_put_check(void **state)
{
        struct registry r;
        char a[REG_ID_LEN + 1], b[REG_ID_LEN + 1], c[REG_ID_LEN + 1];
        char serial_max[REG_SERIAL_MAX + 2];

        dev_id(1, a);
        dev_id(2, b);
        dev_id(3, c);
        assert_int_equal(registry_init(&r, 100), 0);
        assert_int_equal(registry_put(&r, a, "01ab", 100, false, NULL), 0);
        assert_int_equal(registry_put(&r, b, "02cd", 200, true, NULL), 0);

        assert_int_equal(registry_check(&r, a, "01ab"), 0);
        assert_int_equal(registry_check(&r, a, "01aB"), -EACCES);
        assert_int_equal(registry_check(&r, a, "01a"), -EACCES);
        assert_int_equal(registry_check(&r, a, ""), -EACCES);
        assert_int_equal(registry_check(&r, b, "02cd"), -EACCES); /* offboarded */
        assert_int_equal(registry_check(&r, c, "01ab"), -EACCES); /* unknown */
        assert_true(registry_exists(&r, a));
        assert_true(registry_exists(&r, b));
        assert_false(registry_exists(&r, c));
        assert_false(registry_exists(&r, "short"));
        assert_int_equal(registry_last_seen(&r, a), 100);
        assert_int_equal(registry_last_seen(&r, b), 200);
        assert_int_equal(registry_last_seen(&r, c), 0);

        /* a new certificate replaces the old serial */
        assert_int_equal(registry_put(&r, a, "03ef", 300, false, NULL), 0);
        assert_int_equal(registry_check(&r, a, "01ab"), -EACCES);
        assert_int_equal(registry_check(&r, a, "03ef"), 0);
        assert_int_equal(registry_last_seen(&r, a), 300);

        /* ids of another length and serials over the cap are refused */
        assert_int_equal(registry_put(&r, "short", "01", 0, false, NULL), -EINVAL);
        memset(serial_max, 'f', sizeof(serial_max));
        serial_max[REG_SERIAL_MAX + 1] = '\0';
        assert_int_equal(registry_put(&r, c, serial_max, 0, false, NULL), -EINVAL);
        assert_false(registry_exists(&r, c));
        serial_max[REG_SERIAL_MAX] = '\0';
        assert_int_equal(registry_put(&r, c, serial_max, 0, false, NULL), 0);
        assert_int_equal(registry_check(&r, c, serial_max), 0);
        registry_release(&r);
}

static void test_registry_touch_inventory(void **state)
{
        struct registry r;
        char a[REG_ID_LEN + 1], b[REG_ID_LEN + 1], unknown[REG_ID_LEN + 1];
        uint8_t h1[REG_HASH_LEN], h2[REG_HASH_LEN];
        bool current;

        memset(h1, 0x11, sizeof(h1));
        memcpy(h2, h1, sizeof(h2));
        h2[REG_HASH_LEN - 1] ^= 1;
        dev_id(10, a);
        dev_id(11, b);
        dev_id(12, unknown);
        assert_int_equal(registry_init(&r, 10), 0);
        assert_int_equal(registry_put(&r, a, "aa", 1, false, NULL), 0);
        assert_int_equal(registry_put(&r, b, "bb", 1, false, h1), 0);

        /* no inventory held yet: nothing is current, not even a hash of zeros */
        current = true;
        assert_int_equal(registry_touch(&r, a, 50, h1, &current), 0);
        assert_false(current);
        {
                const uint8_t zeros[REG_HASH_LEN] = { 0 };
                current = true;
                assert_int_equal(registry_touch(&r, a, 50, zeros, &current), 0);
                assert_false(current);
        }
        assert_int_equal(registry_last_seen(&r, a), 50);

        assert_int_equal(registry_set_inventory(&r, a, h1), 0);
        current = false;
        assert_int_equal(registry_touch(&r, a, 60, h1, &current), 0);
        assert_true(current);
        assert_int_equal(registry_touch(&r, a, 70, h2, &current), 0);
        assert_false(current);
        assert_int_equal(registry_last_seen(&r, a), 70);

        /* the hash given at put counts */
        current = false;
        assert_int_equal(registry_touch(&r, b, 80, h1, &current), 0);
        assert_true(current);
        assert_int_equal(registry_set_inventory(&r, b, h2), 0);
        assert_int_equal(registry_touch(&r, b, 81, h1, &current), 0);
        assert_false(current);

        /* without a hash the answer is not written */
        current = true;
        assert_int_equal(registry_touch(&r, b, 90, NULL, &current), 0);
        assert_true(current);
        assert_int_equal(registry_last_seen(&r, b), 90);

        current = true;
        assert_int_equal(registry_touch(&r, unknown, 90, h1, &current), -ENOENT);
        assert_true(current);
        assert_int_equal(registry_set_inventory(&r, unknown, h1), -ENOENT);
        assert_false(registry_exists(&r, unknown));
        registry_release(&r);
}

static void test_registry_offboard_active(void **state)
{
        struct registry r;
        char a[REG_ID_LEN + 1], b[REG_ID_LEN + 1], c[REG_ID_LEN + 1], d[REG_ID_LEN + 1];

        dev_id(20, a);
        dev_id(21, b);
        dev_id(22, c);
        dev_id(23, d);
        assert_int_equal(registry_init(&r, 10), 0);
        assert_int_equal(registry_active(&r), 0);
        assert_int_equal(registry_put(&r, a, "1", 0, false, NULL), 0);
        assert_int_equal(registry_put(&r, b, "2", 0, false, NULL), 0);
        assert_int_equal(registry_put(&r, c, "3", 0, true, NULL), 0);
        assert_int_equal(registry_active(&r), 2);

        assert_int_equal(registry_offboard(&r, a), 0);
        assert_int_equal(registry_active(&r), 1);
        assert_int_equal(registry_check(&r, a, "1"), -EACCES);
        assert_int_equal(registry_offboard(&r, a), -EALREADY);
        assert_int_equal(registry_offboard(&r, c), -EALREADY);
        assert_int_equal(registry_active(&r), 1);
        assert_int_equal(registry_offboard(&r, d), -ENOENT);
        assert_int_equal(registry_active(&r), 1);
        assert_true(registry_exists(&r, a)); /* entries stay */

        /* replacing an active entry keeps the count; re-enrolling an offboarded one adds */
        assert_int_equal(registry_put(&r, b, "2b", 0, false, NULL), 0);
        assert_int_equal(registry_active(&r), 1);
        assert_int_equal(registry_put(&r, a, "1b", 0, false, NULL), 0);
        assert_int_equal(registry_active(&r), 2);
        assert_int_equal(registry_check(&r, a, "1b"), 0);
        /* and putting an active entry as offboarded removes it */
        assert_int_equal(registry_put(&r, b, "2b", 0, true, NULL), 0);
        assert_int_equal(registry_active(&r), 1);
        registry_release(&r);
}

static void test_registry_cap(void **state)
{
        struct registry r;
        char id[REG_ID_LEN + 1];

        assert_int_equal(registry_init(&r, 3), 0);
        for (unsigned i = 0; i < 3; i++) {
                dev_id(100 + i, id);
                assert_int_equal(registry_put(&r, id, "s", 0, i == 2, NULL), 0);
        }
        dev_id(103, id);
        assert_int_equal(registry_put(&r, id, "s", 0, false, NULL), -E2BIG);
        assert_false(registry_exists(&r, id));
        assert_int_equal(registry_active(&r), 2);
        /* offboarded entries still count; replacing an existing one is no growth */
        dev_id(102, id);
        assert_int_equal(registry_offboard(&r, id), -EALREADY);
        dev_id(100, id);
        assert_int_equal(registry_put(&r, id, "t", 5, false, NULL), 0);
        assert_int_equal(registry_check(&r, id, "t"), 0);
        registry_release(&r);
}

#define MANY 5000

static void test_registry_growth(void **state)
{
        struct registry r;
        char id[REG_ID_LEN + 1];

        assert_int_equal(registry_init(&r, MANY), 0);
        for (unsigned i = 0; i < MANY; i++) {
                char serial[16];
                dev_id(i, id);
                snprintf(serial, sizeof(serial), "%x", i);
                assert_int_equal(registry_put(&r, id, serial, 1000 + i, false, NULL), 0);
        }
        assert_int_equal(registry_active(&r), MANY);
        for (unsigned i = 0; i < MANY; i++) {
                char serial[16];
                dev_id(i, id);
                snprintf(serial, sizeof(serial), "%x", i);
                if (registry_check(&r, id, serial) != 0 || registry_last_seen(&r, id) != 1000 + i)
                        fail_msg("device %u lost after growth", i);
        }
        dev_id(MANY, id);
        assert_false(registry_exists(&r, id));
        assert_int_equal(registry_put(&r, id, "x", 0, false, NULL), -E2BIG);
        registry_release(&r);
}

static int cmp_dirty(const void *a, const void *b)
{
        return strcmp(((const struct reg_dirty *)a)->id, ((const struct reg_dirty *)b)->id);
}

static void test_registry_take_dirty(void **state)
{
        struct registry r;
        struct reg_dirty out[8];
        char ids[5][REG_ID_LEN + 1];
        size_t n;

        assert_int_equal(registry_init(&r, 10), 0);
        for (unsigned i = 0; i < 5; i++) {
                dev_id(200 + i, ids[i]);
                assert_int_equal(registry_put(&r, ids[i], "s", 1, false, NULL), 0);
        }
        /* put alone does not make an entry dirty */
        assert_int_equal(registry_take_dirty(&r, out, 8), 0);

        assert_int_equal(registry_touch(&r, ids[0], 10, NULL, NULL), 0);
        assert_int_equal(registry_touch(&r, ids[3], 20, NULL, NULL), 0);
        assert_int_equal(registry_touch(&r, ids[0], 30, NULL, NULL), 0);
        n = registry_take_dirty(&r, out, 8);
        assert_int_equal(n, 2);
        qsort(out, n, sizeof(out[0]), cmp_dirty);
        assert_string_equal(out[0].id, ids[0]);
        assert_int_equal(out[0].last_seen, 30);
        assert_string_equal(out[1].id, ids[3]);
        assert_int_equal(out[1].last_seen, 20);
        assert_int_equal(registry_take_dirty(&r, out, 8), 0);

        /* max bounds one call; the rest waits for the next */
        for (unsigned i = 0; i < 5; i++)
                assert_int_equal(registry_touch(&r, ids[i], 100 + i, NULL, NULL), 0);
        n = registry_take_dirty(&r, out, 2);
        assert_int_equal(n, 2);
        n += registry_take_dirty(&r, out + 2, 2);
        assert_int_equal(n, 4);
        n += registry_take_dirty(&r, out + 4, 4);
        assert_int_equal(n, 5);
        assert_int_equal(registry_take_dirty(&r, out, 8), 0);
        qsort(out, n, sizeof(out[0]), cmp_dirty);
        for (unsigned i = 0; i < 5; i++) {
                assert_string_equal(out[i].id, ids[i]);
                assert_int_equal(out[i].last_seen, 100 + i);
        }
        registry_release(&r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_token_round_trip),
                cmocka_unit_test(test_token_sign_too_small),
                cmocka_unit_test(test_token_expired),
                cmocka_unit_test(test_token_foreign),
                cmocka_unit_test(test_token_forged),
                cmocka_unit_test(test_token_malformed_text),
                cmocka_unit_test(test_token_malformed_payload),
                cmocka_unit_test(test_token_oversize),
                cmocka_unit_test(test_token_strerror),
                cmocka_unit_test(test_registry_put_check),
                cmocka_unit_test(test_registry_touch_inventory),
                cmocka_unit_test(test_registry_offboard_active),
                cmocka_unit_test(test_registry_cap),
                cmocka_unit_test(test_registry_growth),
                cmocka_unit_test(test_registry_take_dirty),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
