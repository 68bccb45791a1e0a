/* Fuzzes enrollment token verification with a fixed server id and key: any
 * input must give one of the documented results, leave the result untouched
 * unless valid, and a valid token must survive being signed again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/enroll/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Must match what the seeds in corpus/token/ were signed with. */
#define FUZZ_SERVER_ID "6b1f3c2a-8d4e-4f5a-9b6c-7d8e9f0a1b2c"
#define FUZZ_NOW 1700000000

static const uint8_t fuzz_key[ENROLL_KEY_LEN] = {
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
        0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct enroll_token t, sentinel, again;
        char resigned[ENROLL_TOKEN_MAX + 1];
        int r;

        memset(&t, 0x5a, sizeof(t));
        memcpy(&sentinel, &t, sizeof(t));
        r = enroll_token_verify((const char *)data, size, FUZZ_SERVER_ID, fuzz_key, FUZZ_NOW, &t);
        if (r != ENROLL_TOKEN_OK && r != ENROLL_TOKEN_MALFORMED && r != ENROLL_TOKEN_FOREIGN &&
            r != ENROLL_TOKEN_FORGED && r != ENROLL_TOKEN_EXPIRED)
                abort();
        if (!enroll_token_strerror(r))
                abort();
        if (r != ENROLL_TOKEN_OK) {
                if (memcmp(&t, &sentinel, sizeof(t)) != 0)
                        abort();
                return 0;
        }
        if (size > ENROLL_TOKEN_MAX || strcmp(t.srv, FUZZ_SERVER_ID) != 0 || t.exp <= FUZZ_NOW ||
            strlen(t.tid) != ENROLL_ID_LEN)
                abort();
        if (enroll_token_sign(&t, fuzz_key, resigned, sizeof(resigned)) != 0)
                abort();
        if (enroll_token_verify(resigned, strlen(resigned), FUZZ_SERVER_ID, fuzz_key, FUZZ_NOW,
                                &again) != ENROLL_TOKEN_OK ||
            strcmp(again.tid, t.tid) != 0 || again.exp != t.exp)
                abort();
        return 0;
}
