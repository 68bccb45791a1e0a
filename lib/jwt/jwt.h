/* jwt: bearer tokens from an identity provider, verified against its JWKS.
 *
 * jwks_load() reads a JSON Web Key Set (RFC 7517) of RSA and EC P-256 public
 * keys; jwt_verify() checks a compact JWS token (RFC 7515/7519) signed RS256
 * or ES256 by one of them, then its issuer, audience and times, and hands
 * back who it names: subject, user name and groups. Nothing else is accepted:
 * no "none", no shared-secret (HS*) tokens, no algorithm a key does not
 * allow. Every refusal fills a struct jwt_err with a reason an admin can act
 * on. Signatures are checked with GnuTLS. No logging, no globals. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define JWT_JWKS_MAX (64 * 1024)   /* bytes of JWKS text jwks_load() reads */
#define JWT_KEYS_MAX 32            /* keys in one JWKS */
#define JWT_TOKEN_MAX (16 * 1024)  /* bytes of one token */
#define JWT_KID_MAX 128            /* bytes of a key id */
#define JWT_CLAIM_MAX 256          /* bytes of sub, user name, and each group */
#define JWT_GROUPS_MAX 256         /* entries of the groups claim */
#define JWT_AUD_MAX 32             /* entries of an aud array */
#define JWT_LEEWAY_MAX 3600       /* seconds of clock skew allowed at most */
#define JWT_ERR_MAX 256

/* Why a JWKS or a token was refused. */
struct jwt_err {
        char msg[JWT_ERR_MAX];
};

/* A loaded key set; read-only once loaded, so threads may share it. */
struct jwks;

/* Parses a JWKS document of at most JWT_JWKS_MAX bytes. Keys of kty "RSA"
 * (n of 2048 to 8192 bits, e) and "EC" with crv "P-256" (x, y of 32 bytes)
 * are loaded with their kid, alg and use. Keys Vigil does not verify with —
 * use "enc", another kty or curve, an alg other than RS256/ES256 — are
 * skipped; a supported key that is malformed, a duplicate kid or more than
 * JWT_KEYS_MAX keys refuses the whole document.
 * Returns 0, -E2BIG (too large, too many keys), -EINVAL (bad document or
 * key, or no usable key: err says which and why), -ENOMEM. */
int jwks_load(const char *text, size_t len, struct jwks **ret, struct jwt_err *err);
void jwks_free(struct jwks *jwks);

/* Number of usable keys in a loaded set. */
size_t jwks_count(const struct jwks *jwks);

/* What a token must show. issuer and audience are required; now is seconds
 * since the epoch; leeway_s (0 to JWT_LEEWAY_MAX) is the clock skew allowed
 * on exp, nbf and iat. */
struct jwt_opts {
        const char *issuer;
        const char *audience;
        int64_t now;
        int64_t leeway_s;
};

/* What a verified token says. user is the first of preferred_username, upn
 * and email that the token has ("" if none). groups is NULL when the token
 * has no groups claim. Release with jwt_claims_release(). */
struct jwt_claims {
        char kid[JWT_KID_MAX + 1];      /* key that verified it ("" if none) */
        char sub[JWT_CLAIM_MAX + 1];
        char user[JWT_CLAIM_MAX + 1];
        char **groups;
        size_t n_groups;
        int64_t exp;
};

/* Verifies a compact JWS token (at most JWT_TOKEN_MAX bytes): header alg
 * RS256 or ES256 and allowed by the key (the key named by kid when the
 * header has one, else any key of that alg), signature, then iss equal to
 * opts->issuer, aud equal to or containing opts->audience, exp present and
 * not past (with leeway), nbf and iat not in the future. On success fills
 * *ret (owned by the caller).
 * Returns 0, -E2BIG (too large), -EINVAL (malformed), -EPERM (alg refused),
 * -ENOKEY (no key for it), -EKEYREJECTED (signature does not verify),
 * -EACCES (a claim refused), -ENOMEM; err says why. -EINVAL too when opts
 * lacks the issuer or audience or its leeway is out of range. */
int jwt_verify(const char *token, size_t len, const struct jwks *jwks, const struct jwt_opts *opts,
               struct jwt_claims *ret, struct jwt_err *err);

/* Frees what jwt_verify() put in claims (not claims itself). */
void jwt_claims_release(struct jwt_claims *claims);
