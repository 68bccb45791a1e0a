/* Fuzz harness for lib/jwt, the parser of bearer tokens and JWKS documents.
 * The first byte picks what the rest is: 'J' a JWKS document for
 * jwks_load(); 'T' a token checked against a fixed JWKS; 'C' a claims
 * payload that the harness signs ES256 with the fixed key before checking,
 * so mutations reach the claims parser past the signature. The fixed key
 * pair exists only for this harness. Results are checked for consistency;
 * leaks and crashes are the bugs. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>

#include "jwt/jwt.h"
#include "util/strutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed_jwks[] =
        "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"fz-e\",\"crv\":\"P-256\",\"alg\":\"ES256\",\"use\":\"sig\","
        "\"x\":\"r-6hHO75QX001jL37DyY0QjqlFXqPBQTovbPmYxH8rA\","
        "\"y\":\"AmmS84GOEGVD0TJx9eNF3YAaFF63NbfzHqO9c3evHyo\"},"
        "{\"kty\":\"RSA\",\"kid\":\"fz-r\",\"alg\":\"RS256\",\"e\":\"AQAB\",\"n\":"
        "\"r0Ljw6IXvYTuhCNlVZI3tlekgpyyOn3s9qeI24UIZHCDX2VsUPOTA3O1AhXQkIta20R-rgJXtes0XkVAvINbAZHi3a"
        "xLjahAqplQST2b0m3l2lZ8NsRZo9Qk_Sa8PfTqEB_QjuHbIWPkHOk7AmpD2ydTJ1yySeKOWrpibWfR4MN9ad0tVL8yF4fLF"
        "SRd01Wdk3abHFlgHLaDHEmhwl1c4-7l3BM5jdxvUwWqtiFD46X1IUzTEFkco-VQkd_54ex53-SSz88UxhEHIVCzCeBbY9-d"
        "5MA7MLsHTVcg2De6tTPESCm_AaePRkRaRNgH8MyQeBA3EK1Tgf-mnbcRZyhtHQ\"}]}";

/* The private scalar of the fixed "fz-e" key. */
static const uint8_t fixed_d[32] = {
        0x6e, 0x27, 0x55, 0x7d, 0xb3, 0x92, 0x40, 0xb0, 0xdf, 0xd2, 0x14, 0xd7, 0xe0, 0xe6, 0x34, 0xdc,
        0x99, 0x7a, 0x29, 0x61, 0x37, 0x6d, 0xf0, 0x32, 0x32, 0x31, 0x16, 0x00, 0x28, 0xbd, 0xdb, 0x74,
};

static const struct jwt_opts opts = { "https://idp.example.com", "vigil-access", 1800000000, 60 };

static struct jwks *jwks;
static gnutls_privkey_t signer;

static void setup(void)
{
        unsigned char x[32], y[32];
        struct jwt_err err;

        if (jwks)
                return;
        if (jwks_load(fixed_jwks, sizeof(fixed_jwks) - 1, &jwks, &err) != 0 || jwks_count(jwks) != 2)
                abort();
        if (util_b64url_decode("r-6hHO75QX001jL37DyY0QjqlFXqPBQTovbPmYxH8rA", 43, x, 32) != 32 ||
            util_b64url_decode("AmmS84GOEGVD0TJx9eNF3YAaFF63NbfzHqO9c3evHyo", 43, y, 32) != 32)
                abort();
        gnutls_datum_t dx = { x, 32 }, dy = { y, 32 }, dk = { (unsigned char *)fixed_d, 32 };
        if (gnutls_privkey_init(&signer) < 0 ||
            gnutls_privkey_import_ecc_raw(signer, GNUTLS_ECC_CURVE_SECP256R1, &dx, &dy, &dk) < 0)
                abort();
}

static void verify(const char *tok, size_t len)
{
        struct jwt_claims c;
        struct jwt_err err;

        if (jwt_verify(tok, len, jwks, &opts, &c, &err) == 0) {
                if (c.exp + opts.leeway_s <= opts.now || c.n_groups > JWT_GROUPS_MAX ||
                    strlen(c.user) > JWT_CLAIM_MAX || (c.n_groups && !c.groups))
                        abort();
                jwt_claims_release(&c);
        } else if (err.msg[0] == '\0') {
                abort();
        }
}

/* Signs payload as an ES256 token with the fixed key and verifies it. */
static void sign_and_verify(const uint8_t *payload, size_t n)
{
        static const char hdr[] = "{\"alg\":\"ES256\",\"kid\":\"fz-e\"}";
        char tok[JWT_TOKEN_MAX + 200];
        unsigned char raw[64] = { 0 };
        gnutls_datum_t data, sig, r, s;
        size_t len;

        if (n > 8192)
                return;
        util_b64url_encode(hdr, sizeof(hdr) - 1, tok);
        len = strlen(tok);
        tok[len++] = '.';
        util_b64url_encode(payload, n, tok + len);
        len = strlen(tok);
        data = (gnutls_datum_t){ (unsigned char *)tok, (unsigned)len };
        if (gnutls_privkey_sign_data2(signer, GNUTLS_SIGN_ECDSA_SHA256, 0, &data, &sig) < 0)
                abort();
        if (gnutls_decode_rs_value(&sig, &r, &s) < 0 || r.size > 33 || s.size > 33)
                abort();
        memcpy(raw + 32 - (r.size > 32 ? 32 : r.size), r.data + (r.size > 32 ? 1 : 0), r.size > 32 ? 32 : r.size);
        memcpy(raw + 64 - (s.size > 32 ? 32 : s.size), s.data + (s.size > 32 ? 1 : 0), s.size > 32 ? 32 : s.size);
        tok[len++] = '.';
        util_b64url_encode(raw, sizeof(raw), tok + len);
        verify(tok, strlen(tok));
        gnutls_free(r.data);
        gnutls_free(s.data);
        gnutls_free(sig.data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct jwks *s = NULL;
        struct jwt_err err;

        setup();
        if (size == 0)
                return 0;
        switch (data[0]) {
        case 'J':
                if (jwks_load((const char *)data + 1, size - 1, &s, &err) == 0 &&
                    (jwks_count(s) == 0 || jwks_count(s) > JWT_KEYS_MAX))
                        abort();
                jwks_free(s);
                break;
        case 'C':
                sign_and_verify(data + 1, size - 1);
                break;
        default:
                verify((const char *)data + 1, size - 1);
                break;
        }
        return 0;
}
