/* jwt: JWKS loading and RS256/ES256 token verification over GnuTLS and
 * jansson. Every length is checked before anything is decoded; the header
 * and the claims are parsed only after the sizes are known to be sane, and
 * the claims only after the signature verifies. */
#include "jwt/jwt.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <jansson.h>

#include "util/strutil.h"

#define RSA_MIN_BYTES 256   /* 2048 bits */
#define RSA_MAX_BYTES 1024  /* 8192 bits */
#define RSA_E_MAX_BYTES 8
#define EC_COORD_BYTES 32
#define ES256_SIG_BYTES 64
#define SEG_MAX JWT_TOKEN_MAX  /* decoded size of any token segment */

enum jwt_alg {
        JWT_ALG_RS256,
        JWT_ALG_ES256,
};

struct jwk {
        char kid[JWT_KID_MAX + 1];
        enum jwt_alg alg;
        gnutls_pubkey_t pub;
};

struct jwks {
        struct jwk keys[JWT_KEYS_MAX];
        size_t n;
};

static const char *alg_name(enum jwt_alg a)
{
        return a == JWT_ALG_RS256 ? "RS256" : "ES256";
}

__attribute__((format(printf, 3, 4)))
static int fail(struct jwt_err *err, int r, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        return r;
}

/* A string member of obj, or NULL if absent; -EINVAL in *r if not a string. */
static const char *member_str(json_t *obj, const char *name, size_t max, int *r)
{
        json_t *v = json_object_get(obj, name);
        const char *s;

        if (!v)
                return NULL;
        s = json_string_value(v);
        if (!s || json_string_length(v) > max || strlen(s) != json_string_length(v) ||
            !util_str_is_text(s, max)) {
                *r = -EINVAL;
                return NULL;
        }
        return s;
}

/* Decodes a base64url member of a key into out, whose length is at most max. */
static int key_b64(json_t *key, const char *name, const char *label, unsigned char *out,
                   size_t max, struct jwt_err *err)
{
        int r = 0;
        const char *s = member_str(key, name, (max * 4 + 2) / 3 + 4, &r);

        if (r < 0)
                return fail(err, -EINVAL, "key %s: '%s' is not a string of a sane length", label, name);
        if (!s)
                return fail(err, -EINVAL, "key %s: '%s' is missing", label, name);
        r = util_b64url_decode(s, strlen(s), out, max);
        if (r < 0)
                return fail(err, -EINVAL, "key %s: '%s' is not base64url of at most %zu bytes",
                            label, name, max);
        return r;
}

static int key_rsa(json_t *key, const char *label, struct jwk *k, struct jwt_err *err)
{
        unsigned char n[RSA_MAX_BYTES + 1], e[RSA_E_MAX_BYTES];
        int nl, el, r;
        size_t off = 0;

        nl = key_b64(key, "n", label, n, sizeof(n), err);
        if (nl < 0)
                return nl;
        el = key_b64(key, "e", label, e, sizeof(e), err);
        if (el < 0)
                return el;
        while (off < (size_t)nl && n[off] == 0)
                off++;
        if ((size_t)nl - off < RSA_MIN_BYTES || (size_t)nl - off > RSA_MAX_BYTES)
                return fail(err, -EINVAL, "key %s: RSA modulus of %zu bits refused (2048 to 8192)",
                            label, ((size_t)nl - off) * 8);
        if (el == 0 || (e[el - 1] & 1) == 0 || (el == 1 && e[0] < 3))
                return fail(err, -EINVAL, "key %s: RSA exponent 'e' is not an odd number >= 3", label);
        gnutls_datum_t dn = { n + off, (unsigned)((size_t)nl - off) }, de = { e, (unsigned)el };
        if (gnutls_pubkey_init(&k->pub) < 0)
                return fail(err, -ENOMEM, "out of memory");
        r = gnutls_pubkey_import_rsa_raw(k->pub, &dn, &de);
        if (r < 0)
                return fail(err, -EINVAL, "key %s: RSA key refused: %s", label, gnutls_strerror(r));
        k->alg = JWT_ALG_RS256;
        return 0;
}

static int key_ec(json_t *key, const char *label, struct jwk *k, struct jwt_err *err)
{
        unsigned char x[EC_COORD_BYTES + 1], y[EC_COORD_BYTES + 1];
        int xl, yl, r;

        xl = key_b64(key, "x", label, x, sizeof(x), err);
        if (xl < 0)
                return xl;
        yl = key_b64(key, "y", label, y, sizeof(y), err);
        if (yl < 0)
                return yl;
        if (xl != EC_COORD_BYTES || yl != EC_COORD_BYTES)
                return fail(err, -EINVAL, "key %s: P-256 'x' and 'y' must be 32 bytes each", label);
        gnutls_datum_t dx = { x, EC_COORD_BYTES }, dy = { y, EC_COORD_BYTES };
        if (gnutls_pubkey_init(&k->pub) < 0)
                return fail(err, -ENOMEM, "out of memory");
        r = gnutls_pubkey_import_ecc_raw(k->pub, GNUTLS_ECC_CURVE_SECP256R1, &dx, &dy);
        if (r < 0)
                return fail(err, -EINVAL, "key %s: P-256 key refused: %s", label, gnutls_strerror(r));
        k->alg = JWT_ALG_ES256;
        return 0;
}

/* Loads keys[i] into k. Returns 0 (loaded), 1 (skipped: not a signature
 * key Vigil verifies with), or a negative errno with err set. */
static int key_load(json_t *key, size_t i, struct jwk *k, struct jwt_err *err)
{
        char label[JWT_KID_MAX + 32];
        const char *kty, *kid, *alg, *use, *crv;
        int r = 0;

        if (!json_is_object(key))
                return fail(err, -EINVAL, "key #%zu is not an object", i + 1);
        kid = member_str(key, "kid", JWT_KID_MAX, &r);
        if (r < 0)
                return fail(err, -EINVAL, "key #%zu: 'kid' is not a string of at most %d bytes",
                            i + 1, JWT_KID_MAX);
        if (kid)
                snprintf(label, sizeof(label), "'%s'", kid);
        else
                snprintf(label, sizeof(label), "#%zu", i + 1);
        kty = member_str(key, "kty", 16, &r);
        alg = member_str(key, "alg", 16, &r);
        use = member_str(key, "use", 16, &r);
        crv = member_str(key, "crv", 16, &r);
        if (r < 0 || !kty)
                return fail(err, -EINVAL, "key %s: 'kty' missing, or kty, alg, use or crv not a short string",
                            label);
        if (use && strcmp(use, "sig") != 0)
                return 1;
        if (strcmp(kty, "RSA") == 0 && (!alg || strcmp(alg, "RS256") == 0))
                r = key_rsa(key, label, k, err);
        else if (strcmp(kty, "EC") == 0 && (!alg || strcmp(alg, "ES256") == 0) &&
                 crv && strcmp(crv, "P-256") == 0)
                r = key_ec(key, label, k, err);
        else if (strcmp(kty, "EC") == 0 && !crv)
                return fail(err, -EINVAL, "key %s: EC key without 'crv'", label);
        else
                return 1;
        if (r < 0)
                return r;
        snprintf(k->kid, sizeof(k->kid), "%s", kid ? kid : "");
        return 0;
}

static int jwks_add(struct jwks *s, json_t *keys, struct jwt_err *err)
{
        size_t i;
        json_t *key;

        json_array_foreach(keys, i, key) {
                struct jwk *k = &s->keys[s->n];
                int r = key_load(key, i, k, err);

                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                s->n++;
                for (size_t j = 0; k->kid[0] && j + 1 < s->n; j++)
                        if (strcmp(s->keys[j].kid, k->kid) == 0)
                                return fail(err, -EINVAL, "key id '%s' appears twice", k->kid);
        }
        if (s->n == 0)
                return fail(err, -EINVAL, "no usable RS256 or ES256 signing key in the JWKS");
        return 0;
}

int jwks_load(const char *text, size_t len, struct jwks **ret, struct jwt_err *err)
{
        json_error_t jerr;
        json_t *doc, *keys;
        struct jwks *s;
        int r;

        if (len > JWT_JWKS_MAX)
                return fail(err, -E2BIG, "JWKS of %zu bytes is larger than %d", len, JWT_JWKS_MAX);
        doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!doc)
                return fail(err, -EINVAL, "JWKS is not JSON: %s (line %d)", jerr.text, jerr.line);
        keys = json_object_get(doc, "keys");
        if (!json_is_array(keys)) {
                r = fail(err, -EINVAL, "JWKS has no 'keys' array");
                goto out_doc;
        }
        if (json_array_size(keys) > JWT_KEYS_MAX) {
                r = fail(err, -E2BIG, "JWKS has %zu keys, more than %d",
                         json_array_size(keys), JWT_KEYS_MAX);
                goto out_doc;
        }
        s = calloc(1, sizeof(*s));
        if (!s) {
                r = fail(err, -ENOMEM, "out of memory");
                goto out_doc;
        }
        r = jwks_add(s, keys, err);
        if (r < 0) {
                /* a key that failed half-way may hold an initialised pubkey */
                if (s->n < JWT_KEYS_MAX && s->keys[s->n].pub)
                        gnutls_pubkey_deinit(s->keys[s->n].pub);
                jwks_free(s);
                goto out_doc;
        }
        *ret = s;
out_doc:
        json_decref(doc);
        return r;
}

void jwks_free(struct jwks *jwks)
{
        if (!jwks)
                return;
        for (size_t i = 0; i < jwks->n; i++)
                gnutls_pubkey_deinit(jwks->keys[i].pub);
        free(jwks);
}

size_t jwks_count(const struct jwks *jwks)
{
        return jwks->n;
}

/* Decodes one base64url segment of a token into a heap buffer. */
static int seg_decode(const char *s, size_t n, const char *what, unsigned char **ret,
                      size_t *ret_len, struct jwt_err *err)
{
        unsigned char *buf = malloc(SEG_MAX);
        int r;

        if (!buf)
                return fail(err, -ENOMEM, "out of memory");
        r = util_b64url_decode(s, n, buf, SEG_MAX);
        if (r < 0) {
                free(buf);
                return fail(err, -EINVAL, "token %s is not base64url", what);
        }
        *ret = buf;
        *ret_len = (size_t)r;
        return 0;
}

static int seg_json(const char *s, size_t n, const char *what, json_t **ret, struct jwt_err *err)
{
        unsigned char *buf;
        size_t len;
        json_error_t jerr;
        int r;

        r = seg_decode(s, n, what, &buf, &len, err);
        if (r < 0)
                return r;
        *ret = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
        free(buf);
        if (!*ret || !json_is_object(*ret)) {
                json_decref(*ret);
                return fail(err, -EINVAL, "token %s is not a JSON object", what);
        }
        return 0;
}

/* Reads the header: the alg, refused unless RS256 or ES256, and the kid. */
static int header_check(json_t *hdr, enum jwt_alg *ret_alg, const char **ret_kid,
                        struct jwt_err *err)
{
        const char *alg, *kid;
        int r = 0;

        alg = member_str(hdr, "alg", 32, &r);
        kid = member_str(hdr, "kid", JWT_KID_MAX, &r);
        if (r < 0 || !alg)
                return fail(err, -EINVAL, "token header has no usable 'alg', or 'kid' is not a string of at most %d bytes",
                            JWT_KID_MAX);
        if (json_object_get(hdr, "crit"))
                return fail(err, -EPERM, "token header has 'crit' extensions, which are not supported");
        if (strcmp(alg, "RS256") == 0)
                *ret_alg = JWT_ALG_RS256;
        else if (strcmp(alg, "ES256") == 0)
                *ret_alg = JWT_ALG_ES256;
        else if (strcasecmp(alg, "none") == 0)
                return fail(err, -EPERM, "token alg 'none' (unsigned) refused");
        else if (strncmp(alg, "HS", 2) == 0)
                return fail(err, -EPERM, "token alg '%s' refused: shared-secret tokens are not accepted", alg);
        else
                return fail(err, -EPERM, "token alg '%s' refused: only RS256 and ES256 are accepted", alg);
        *ret_kid = kid;
        return 0;
}

/* Turns a raw ES256 signature (r || s) into the DER GnuTLS verifies. */
static int es256_der(const unsigned char *sig, size_t len, gnutls_datum_t *der, struct jwt_err *err)
{
        gnutls_datum_t r = { (unsigned char *)sig, 32 }, s = { (unsigned char *)sig + 32, 32 };

        if (len != ES256_SIG_BYTES)
                return fail(err, -EKEYREJECTED, "ES256 signature is %zu bytes, not 64", len);
        if (gnutls_encode_rs_value(der, &r, &s) < 0)
                return fail(err, -ENOMEM, "out of memory");
        return 0;
}

static bool key_verifies(const struct jwk *k, const gnutls_datum_t *data, const gnutls_datum_t *sig)
{
        gnutls_sign_algorithm_t algo = k->alg == JWT_ALG_RS256 ? GNUTLS_SIGN_RSA_SHA256
                                                                : GNUTLS_SIGN_ECDSA_SHA256;

        return gnutls_pubkey_verify_data2(k->pub, algo, 0, data, sig) >= 0;
}

/* Finds the key for (alg, kid) and checks the signature over the first two
 * segments. Copies the kid of the key that verified into ret_kid. */
static int signature_check(const struct jwks *jwks, enum jwt_alg alg, const char *kid,
                           const char *token, size_t signed_len, const unsigned char *sig,
                           size_t sig_len, char *ret_kid, struct jwt_err *err)
{
        gnutls_datum_t data = { (unsigned char *)token, (unsigned)signed_len };
        gnutls_datum_t s = { (unsigned char *)sig, (unsigned)sig_len }, der = { NULL, 0 };
        const struct jwk *hit = NULL;
        size_t tried = 0;
        int r;

        if (alg == JWT_ALG_ES256) {
                r = es256_der(sig, sig_len, &der, err);
                if (r < 0)
                        return r;
                s = der;
        }
        for (size_t i = 0; i < jwks->n && !hit; i++) {
                const struct jwk *k = &jwks->keys[i];

                if (kid && strcmp(k->kid, kid) != 0)
                        continue;
                if (k->alg != alg && !kid)
                        continue;
                if (k->alg != alg) {
                        r = fail(err, -EPERM, "token alg %s refused: key '%s' is for %s",
                                 alg_name(alg), k->kid, alg_name(k->alg));
                        goto out;
                }
                tried++;
                if (key_verifies(k, &data, &s))
                        hit = k;
        }
        if (hit) {
                snprintf(ret_kid, JWT_KID_MAX + 1, "%s", hit->kid);
                r = 0;
        } else if (kid && tried == 0)
                r = fail(err, -ENOKEY, "no key with kid '%s' in the JWKS", kid);
        else if (kid)
                r = fail(err, -EKEYREJECTED, "signature does not verify with key '%s'", kid);
        else if (tried == 0)
                r = fail(err, -ENOKEY, "token has no kid and the JWKS has no %s key", alg_name(alg));
        else
                r = fail(err, -EKEYREJECTED, "signature does not verify with any of the %zu %s keys",
                         tried, alg_name(alg));
out:
        gnutls_free(der.data);
        return r;
}

/* A NumericDate claim: absent (returns 1), a whole number of seconds within
 * a sane range (returns 0), or refused. */
static int claim_time(json_t *claims, const char *name, int64_t *ret, struct jwt_err *err)
{
        json_t *v = json_object_get(claims, name);
        double d;

        if (!v)
                return 1;
        if (!json_is_number(v))
                return fail(err, -EACCES, "token claim '%s' is not a number", name);
        d = json_number_value(v);
        if (!isfinite(d) || d < 0 || d > 253402300799.0)  /* 9999-12-31T23:59:59Z */
                return fail(err, -EACCES, "token claim '%s' is out of range", name);
        *ret = (int64_t)d;
        return 0;
}

static int claims_times(json_t *claims, const struct jwt_opts *o, struct jwt_claims *c,
                        struct jwt_err *err)
{
        char when[21];
        int64_t t;
        int r;

        r = claim_time(claims, "exp", &c->exp, err);
        if (r > 0)
                return fail(err, -EACCES, "token has no 'exp' (expiry) claim");
        if (r < 0)
                return r;
        if (c->exp + o->leeway_s <= o->now) {
                util_time_format(c->exp, when);
                return fail(err, -EACCES, "token expired at %s", when);
        }
        r = claim_time(claims, "nbf", &t, err);
        if (r < 0)
                return r;
        if (r == 0 && t - o->leeway_s > o->now) {
                util_time_format(t, when);
                return fail(err, -EACCES, "token not valid before %s", when);
        }
        r = claim_time(claims, "iat", &t, err);
        if (r < 0)
                return r;
        if (r == 0 && t - o->leeway_s > o->now) {
                util_time_format(t, when);
                return fail(err, -EACCES, "token issued in the future (iat %s)", when);
        }
        return 0;
}

/* True if v is a JSON string equal to want (no embedded NUL passes). */
static bool json_str_is(json_t *v, const char *want)
{
        return json_is_string(v) && json_string_length(v) == strlen(want) &&
               strcmp(json_string_value(v), want) == 0;
}

static int claims_iss_aud(json_t *claims, const struct jwt_opts *o, struct jwt_err *err)
{
        json_t *aud = json_object_get(claims, "aud"), *v;
        const char *iss;
        size_t i;
        int r = 0;

        iss = member_str(claims, "iss", 1024, &r);
        if (r < 0 || !iss)
                return fail(err, -EACCES, "token has no usable 'iss' (issuer) claim");
        if (strcmp(iss, o->issuer) != 0)
                return fail(err, -EACCES, "token issuer '%.100s' is not the expected '%.100s'",
                            iss, o->issuer);
        if (json_str_is(aud, o->audience))
                return 0;
        if (json_is_array(aud) && json_array_size(aud) <= JWT_AUD_MAX)
                json_array_foreach(aud, i, v)
                        if (json_str_is(v, o->audience))
                                return 0;
        if (!aud)
                return fail(err, -EACCES, "token has no 'aud' (audience) claim");
        return fail(err, -EACCES, "token audience does not include '%.100s'", o->audience);
}

/* sub, the user name and the groups. */
static int claims_who(json_t *claims, struct jwt_claims *c, struct jwt_err *err)
{
        static const char *const user_claims[] = { "preferred_username", "upn", "email" };
        json_t *groups = json_object_get(claims, "groups"), *v;
        const char *s;
        size_t i;
        int r = 0;

        s = member_str(claims, "sub", JWT_CLAIM_MAX, &r);
        if (r < 0)
                return fail(err, -EACCES, "token claim 'sub' is not a string of at most %d bytes",
                            JWT_CLAIM_MAX);
        snprintf(c->sub, sizeof(c->sub), "%s", s ? s : "");
        for (i = 0; i < sizeof(user_claims) / sizeof(user_claims[0]) && !c->user[0]; i++) {
                s = member_str(claims, user_claims[i], JWT_CLAIM_MAX, &r);
                if (r < 0)
                        return fail(err, -EACCES, "token claim '%s' is not a string of at most %d bytes",
                                    user_claims[i], JWT_CLAIM_MAX);
                snprintf(c->user, sizeof(c->user), "%s", s ? s : "");
        }
        if (!groups)
                return 0;
        if (!json_is_array(groups) || json_array_size(groups) > JWT_GROUPS_MAX)
                return fail(err, -EACCES, "token claim 'groups' is not an array of at most %d entries",
                            JWT_GROUPS_MAX);
        c->groups = calloc(json_array_size(groups) + 1, sizeof(char *));
        if (!c->groups)
                return fail(err, -ENOMEM, "out of memory");
        json_array_foreach(groups, i, v) {
                s = json_string_value(v);
                if (!s || json_string_length(v) == 0 || json_string_length(v) > JWT_CLAIM_MAX ||
                    strlen(s) != json_string_length(v) || !util_str_is_text(s, JWT_CLAIM_MAX))
                        return fail(err, -EACCES, "token group #%zu is not a string of 1 to %d bytes",
                                    i + 1, JWT_CLAIM_MAX);
                c->groups[i] = strdup(s);
                if (!c->groups[i])
                        return fail(err, -ENOMEM, "out of memory");
                c->n_groups++;
        }
        return 0;
}

/* Splits a token into its three segments and checks their shape. */
static int token_split(const char *token, size_t len, size_t dots[2], struct jwt_err *err)
{
        size_t n = 0;

        if (len > JWT_TOKEN_MAX)
                return fail(err, -E2BIG, "token of %zu bytes is larger than %d", len, JWT_TOKEN_MAX);
        for (size_t i = 0; i < len; i++) {
                if (token[i] != '.')
                        continue;
                if (n == 2)
                        return fail(err, -EINVAL, "token has more than three parts (encrypted tokens are not accepted)");
                dots[n++] = i;
        }
        if (n != 2)
                return fail(err, -EINVAL, "token is not header.payload.signature");
        if (dots[0] == 0 || dots[1] == dots[0] + 1)
                return fail(err, -EINVAL, "token has an empty header or payload");
        return 0;
}

static int payload_check(const char *token, size_t dots[2], const struct jwt_opts *opts,
                         struct jwt_claims *c, struct jwt_err *err)
{
        json_t *claims;
        int r;

        r = seg_json(token + dots[0] + 1, dots[1] - dots[0] - 1, "payload", &claims, err);
        if (r < 0)
                return r;
        r = claims_iss_aud(claims, opts, err);
        if (r == 0)
                r = claims_times(claims, opts, c, err);
        if (r == 0)
                r = claims_who(claims, c, err);
        json_decref(claims);
        return r;
}

int jwt_verify(const char *token, size_t len, const struct jwks *jwks, const struct jwt_opts *opts,
               struct jwt_claims *ret, struct jwt_err *err)
{
        struct jwt_claims c = { 0 };
        unsigned char *sig = NULL;
        size_t dots[2], sig_len;
        json_t *hdr = NULL;
        enum jwt_alg alg = JWT_ALG_RS256;
        const char *kid = NULL;
        int r;

        if (!opts->issuer || !opts->audience || opts->leeway_s < 0 || opts->leeway_s > JWT_LEEWAY_MAX)
                return fail(err, -EINVAL, "token checks need an issuer, an audience and a leeway of 0 to %d seconds",
                            JWT_LEEWAY_MAX);
        r = token_split(token, len, dots, err);
        if (r < 0)
                return r;
        r = seg_json(token, dots[0], "header", &hdr, err);
        if (r < 0)
                return r;
        r = header_check(hdr, &alg, &kid, err);
        if (r < 0)
                goto out;
        r = seg_decode(token + dots[1] + 1, len - dots[1] - 1, "signature", &sig, &sig_len, err);
        if (r < 0)
                goto out;
        if (sig_len == 0) {
                r = fail(err, -EKEYREJECTED, "token has no signature");
                goto out;
        }
        r = signature_check(jwks, alg, kid, token, dots[1], sig, sig_len, c.kid, err);
        if (r < 0)
                goto out;
        r = payload_check(token, dots, opts, &c, err);
        if (r < 0) {
                jwt_claims_release(&c);
                goto out;
        }
        *ret = c;
out:
        free(sig);
        json_decref(hdr);
        return r;
}

void jwt_claims_release(struct jwt_claims *claims)
{
        for (size_t i = 0; i < claims->n_groups; i++)
                free(claims->groups[i]);
        free(claims->groups);
        claims->groups = NULL;
        claims->n_groups = 0;
}
