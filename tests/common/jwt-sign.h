/* jwt-sign: what tests need to play an identity provider — a JWK of a
 * GnuTLS key's public half and a signer of compact JWS tokens (RS256 and
 * ES256, the latter as the raw r || s of RFC 7518). Real signatures, made
 * the way a provider makes them, so lib/jwt is tested against them. */
#pragma once

#include <stddef.h>

#include <gnutls/abstract.h>

/* Generates a key: pk GNUTLS_PK_RSA with bits, or GNUTLS_PK_ECDSA with
 * GNUTLS_CURVE_TO_BITS(curve). Returns 0 with *ret (gnutls_privkey_deinit()
 * frees it), or a negative GnuTLS error. */
int jwt_sign_key_new(gnutls_pk_algorithm_t pk, unsigned bits, gnutls_privkey_t *ret);

/* Writes the public half of an RSA or EC P-256 key as a JWK object with kid
 * (and for RSA "use":"sig", "alg":"RS256") into out. Returns 0, -E2BIG when
 * out is too small, or -EIO when GnuTLS cannot export the key. */
int jwt_sign_jwk(gnutls_privkey_t k, const char *kid, char *out, size_t size);

/* Signs: header and payload JSON in, a compact token out (heap, the caller
 * frees it), RS256 for an RSA key and ES256 for an EC key, whatever the
 * header says (so tests can lie in it). k NULL leaves the signature empty.
 * NULL when out of memory or GnuTLS cannot sign. */
char *jwt_sign(gnutls_privkey_t k, const char *header, const char *payload);
