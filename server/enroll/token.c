/* Enrollment tokens: signing and checking. See token.h. */
#include "server/enroll/token.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/strutil.h"

#define TOKEN_PREFIX "vet1."
#define PAYLOAD_MAX 256

int enroll_token_sign(const struct enroll_token *t, const uint8_t key[ENROLL_KEY_LEN],
                      char *out, size_t out_size)
{
        uint8_t mac[CRYPTO_SHA256_LEN];
        char payload[PAYLOAD_MAX], p64[PAYLOAD_MAX * 2], m64[64];
        int n;

        n = snprintf(payload, sizeof(payload), "{\"srv\":\"%s\",\"tid\":\"%s\",\"exp\":%lld}",
                     t->srv, t->tid, (long long)t->exp);
        if (n < 0 || (size_t)n >= sizeof(payload))
                return -E2BIG;
        util_b64url_encode(payload, (size_t)n, p64);
        if (crypto_hmac_sha256(key, ENROLL_KEY_LEN, p64, strlen(p64), mac) < 0)
                return -EIO;
        util_b64url_encode(mac, sizeof(mac), m64);
        n = snprintf(out, out_size, "%s%s.%s", TOKEN_PREFIX, p64, m64);
        if (n < 0 || (size_t)n >= out_size || (size_t)n > ENROLL_TOKEN_MAX)
                return -E2BIG;
        return 0;
}

/* Reads the claims of a payload; says nothing yet about who made it. */
static int payload_parse(const char *p64, size_t n, struct enroll_token *ret)
{
        char payload[PAYLOAD_MAX];
        const char *srv, *tid;
        json_int_t exp;
        json_t *j;
        int len, r = -1;

        len = util_b64url_decode(p64, n, payload, sizeof(payload));
        if (len <= 0)
                return -1;
        j = json_loadb(payload, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
        if (!j)
                return -1;
        if (json_unpack(j, "{s:s,s:s,s:I}", "srv", &srv, "tid", &tid, "exp", &exp) == 0 &&
            strlen(srv) == ENROLL_ID_LEN && strlen(tid) == ENROLL_ID_LEN &&
            util_str_printable(srv, ENROLL_ID_LEN) && util_str_printable(tid, ENROLL_ID_LEN)) {
                memcpy(ret->srv, srv, ENROLL_ID_LEN + 1);
                memcpy(ret->tid, tid, ENROLL_ID_LEN + 1);
                ret->exp = exp;
                r = 0;
        }
        json_decref(j);
        return r;
}

int enroll_token_verify(const char *text, size_t len, const char *server_id,
                        const uint8_t key[ENROLL_KEY_LEN], int64_t now, struct enroll_token *ret)
{
        uint8_t mac[CRYPTO_SHA256_LEN], want[CRYPTO_SHA256_LEN];
        struct enroll_token t;
        const char *p64, *dot;
        size_t plen, prefix = strlen(TOKEN_PREFIX);

        if (len > ENROLL_TOKEN_MAX || len <= prefix || memcmp(text, TOKEN_PREFIX, prefix) != 0)
                return ENROLL_TOKEN_MALFORMED;
        p64 = text + prefix;
        dot = memchr(p64, '.', len - prefix);
        if (!dot)
                return ENROLL_TOKEN_MALFORMED;
        plen = (size_t)(dot - p64);
        if (payload_parse(p64, plen, &t) < 0)
                return ENROLL_TOKEN_MALFORMED;
        if (util_b64url_decode(dot + 1, len - prefix - plen - 1, mac, sizeof(mac)) != sizeof(mac))
                return ENROLL_TOKEN_MALFORMED;
        if (strcmp(t.srv, server_id) != 0)
                return ENROLL_TOKEN_FOREIGN;
        if (crypto_hmac_sha256(key, ENROLL_KEY_LEN, p64, plen, want) < 0 ||
            !util_ct_equal(mac, want, sizeof(mac)))
                return ENROLL_TOKEN_FORGED;
        if (now >= t.exp)
                return ENROLL_TOKEN_EXPIRED;
        *ret = t;
        return ENROLL_TOKEN_OK;
}

const char *enroll_token_strerror(int e)
{
        switch (e) {
        case ENROLL_TOKEN_OK: return "valid";
        case ENROLL_TOKEN_MALFORMED: return "the enrollment token is malformed";
        case ENROLL_TOKEN_FOREIGN: return "the enrollment token was issued by another Vigil server";
        case ENROLL_TOKEN_FORGED: return "the enrollment token's signature does not verify";
        case ENROLL_TOKEN_EXPIRED: return "the enrollment token has expired";
        default: return "the enrollment token is invalid";
        }
}
