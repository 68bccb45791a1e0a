/* Fuzzes the portal's header parsers: the Cookie header (http_cookie_find),
 * Accept-Encoding (portal_accepts_gzip) and If-None-Match
 * (portal_etag_matches). Any input must give a documented result; a cookie
 * found must fit its buffer, hold only cookie octets, and be found again in
 * a header made of it alone. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/http.h"
#include "server/portal/portal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INPUT_MAX 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char in[INPUT_MAX + 1], out[64], again[64], header[128];
        int r, r2;

        if (size > INPUT_MAX)
                return 0;
        memcpy(in, data, size);
        in[size] = '\0';
        memset(out, 0x5a, sizeof(out));
        r = http_cookie_find(in, HTTP_SESSION_COOKIE, out, sizeof(out));
        if (r != -ENOENT && r != -E2BIG && r != -EINVAL && (r < 0 || r >= (int)sizeof(out)))
                abort();
        if (r >= 0) {
                if (strlen(out) != (size_t)r || strpbrk(out, " ;,\"\\"))
                        abort();
                memcpy(header, HTTP_SESSION_COOKIE "=", sizeof(HTTP_SESSION_COOKIE));
                memcpy(header + sizeof(HTTP_SESSION_COOKIE), out, (size_t)r + 1);
                r2 = http_cookie_find(header, HTTP_SESSION_COOKIE, again, sizeof(again));
                if (r2 != r || strcmp(again, out) != 0)
                        abort();
        }
        (void)portal_accepts_gzip(in);
        (void)portal_etag_matches(in, "\"0123456789abcdef0123456789abcdef\"");
        return 0;
}
