/* Enrollment tokens: what an onboarding package carries so that a device may
 * enroll. A token is "vet1.<payload>.<mac>", both base64url: the payload is
 * compact JSON {"srv": server id, "tid": token id, "exp": unix time} and the
 * mac is HMAC-SHA-256 of the payload under the server's enrollment key, so
 * only the server that made a token can vouch for it. How many times a token
 * may be used lives in the database, keyed by tid. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define ENROLL_TOKEN_MAX 512
#define ENROLL_KEY_LEN 32
#define ENROLL_ID_LEN 36

struct enroll_token {
        char srv[ENROLL_ID_LEN + 1];
        char tid[ENROLL_ID_LEN + 1];
        int64_t exp;
};

enum enroll_token_error {
        ENROLL_TOKEN_OK = 0,
        ENROLL_TOKEN_MALFORMED = -1,    /* not a token at all */
        ENROLL_TOKEN_FOREIGN = -2,      /* made by another server */
        ENROLL_TOKEN_FORGED = -3,       /* ours by its claim, but the mac does not verify */
        ENROLL_TOKEN_EXPIRED = -4,
};

/* Makes a token for t under key into out (size at least ENROLL_TOKEN_MAX + 1).
 * Returns 0 or a negative errno. */
int enroll_token_sign(const struct enroll_token *t, const uint8_t key[ENROLL_KEY_LEN],
                      char *out, size_t out_size);

/* Checks a token from outside against our server id, key and the time now.
 * Returns ENROLL_TOKEN_OK and fills ret, or one of enum enroll_token_error
 * (ret untouched). Bounded: anything longer than ENROLL_TOKEN_MAX is malformed. */
int enroll_token_verify(const char *text, size_t len, const char *server_id,
                        const uint8_t key[ENROLL_KEY_LEN], int64_t now, struct enroll_token *ret);

/* A short message for a verification result. */
const char *enroll_token_strerror(int e);
