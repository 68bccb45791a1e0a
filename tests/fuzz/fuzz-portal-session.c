/* Fuzzes the portal's sign-in body parser: any input must be accepted with a
 * token that fits its buffer and is no longer than an admin token, or
 * refused with a message, leaving the token buffer untouched. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/api/api.h"
#include "server/portal/portal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char token[API_TOKEN_MAX + 1], sentinel[API_TOKEN_MAX + 1], err[256] = "";
        int r;

        memset(token, 0x5a, sizeof(token));
        memcpy(sentinel, token, sizeof(token));
        r = portal_session_body_parse((const char *)data, size, token, sizeof(token), err, sizeof(err));
        if (r == -EINVAL) {
                if (!err[0] || memcmp(token, sentinel, sizeof(token)) != 0)
                        abort();
                return 0;
        }
        if (r != 0 || strlen(token) == 0 || strlen(token) > API_TOKEN_MAX || size > PORTAL_SESSION_BODY_MAX)
                abort();
        return 0;
}
