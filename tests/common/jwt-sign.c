/* jwt-sign: a JWK writer and a JWS signer for tests. See jwt-sign.h. */
#include "tests/common/jwt-sign.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "util/strutil.h"

int jwt_sign_key_new(gnutls_pk_algorithm_t pk, unsigned bits, gnutls_privkey_t *ret)
{
        gnutls_privkey_t k;
        int r = gnutls_privkey_init(&k);

        if (r < 0)
                return r;
        r = gnutls_privkey_generate(k, pk, bits, 0);
        if (r < 0) {
                gnutls_privkey_deinit(k);
                return r;
        }
        *ret = k;
        return 0;
}

int jwt_sign_jwk(gnutls_privkey_t k, const char *kid, char *out, size_t size)
{
        gnutls_datum_t a = { 0 }, b = { 0 };
        char ea[1400], eb[1400];
        int n;

        if (gnutls_privkey_get_pk_algorithm(k, NULL) == GNUTLS_PK_RSA) {
                if (gnutls_privkey_export_rsa_raw2(k, &a, &b, NULL, NULL, NULL, NULL, NULL, NULL,
                                                   GNUTLS_EXPORT_FLAG_NO_LZ) < 0 ||
                    a.size > 1024 || b.size > 1024)
                        goto fail_export;
                util_b64url_encode(a.data, a.size, ea);
                util_b64url_encode(b.data, b.size, eb);
                n = snprintf(out, size, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"use\":\"sig\",\"alg\":\"RS256\","
                             "\"n\":\"%s\",\"e\":\"%s\"}", kid, ea, eb);
        } else {
                unsigned char x[32] = { 0 }, y[32] = { 0 };

                if (gnutls_privkey_export_ecc_raw2(k, NULL, &a, &b, NULL, GNUTLS_EXPORT_FLAG_NO_LZ) < 0 ||
                    a.size > 32 || b.size > 32)
                        goto fail_export;
                /* without leading zeros: put back to the 32 bytes of a P-256 coordinate */
                memcpy(x + 32 - a.size, a.data, a.size);
                memcpy(y + 32 - b.size, b.data, b.size);
                util_b64url_encode(x, 32, ea);
                util_b64url_encode(y, 32, eb);
                n = snprintf(out, size, "{\"kty\":\"EC\",\"kid\":\"%s\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}",
                             kid, ea, eb);
        }
        gnutls_free(a.data);
        gnutls_free(b.data);
        return n < 0 || (size_t)n >= size ? -E2BIG : 0;

fail_export:
        gnutls_free(a.data);
        gnutls_free(b.data);
        return -EIO;
}

/* An ECDSA signature (DER) as the 64 bytes r || s: r and s may carry a DER
 * sign byte or be short. */
static int es256_raw(const gnutls_datum_t *sig, unsigned char raw[static 64])
{
        gnutls_datum_t r, s;

        if (gnutls_decode_rs_value(sig, &r, &s) < 0)
                return -EIO;
        memset(raw, 0, 64);
        memcpy(raw + 32 - (r.size > 32 ? 32 : r.size), r.data + (r.size > 32 ? r.size - 32 : 0),
               r.size > 32 ? 32 : r.size);
        memcpy(raw + 64 - (s.size > 32 ? 32 : s.size), s.data + (s.size > 32 ? s.size - 32 : 0),
               s.size > 32 ? 32 : s.size);
        gnutls_free(r.data);
        gnutls_free(s.data);
        return 0;
}

char *jwt_sign(gnutls_privkey_t k, const char *header, const char *payload)
{
        size_t hl = strlen(header), pl = strlen(payload), n;
        char *tok = malloc(2 * (hl + pl) + 1500);     /* a signature of up to 1024 bytes in base64url */
        gnutls_datum_t data, sig;
        unsigned char raw[64];

        if (!tok)
                return NULL;
        util_b64url_encode(header, hl, tok);
        n = strlen(tok);
        tok[n++] = '.';
        util_b64url_encode(payload, pl, tok + n);
        n = strlen(tok);
        data = (gnutls_datum_t){ (unsigned char *)tok, (unsigned)n };
        tok[n++] = '.';
        tok[n] = '\0';
        if (!k)
                return tok;
        if (gnutls_privkey_get_pk_algorithm(k, NULL) == GNUTLS_PK_RSA) {
                if (gnutls_privkey_sign_data2(k, GNUTLS_SIGN_RSA_SHA256, 0, &data, &sig) < 0 || sig.size > 1024)
                        goto fail_sign;
                util_b64url_encode(sig.data, sig.size, tok + n);
        } else {
                if (gnutls_privkey_sign_data2(k, GNUTLS_SIGN_ECDSA_SHA256, 0, &data, &sig) < 0)
                        goto fail_sign;
                if (es256_raw(&sig, raw) < 0) {
                        gnutls_free(sig.data);
                        goto fail_sign;
                }
                util_b64url_encode(raw, 64, tok + n);
        }
        gnutls_free(sig.data);
        return tok;

fail_sign:
        free(tok);
        return NULL;
}
