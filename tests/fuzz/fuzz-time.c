/* Fuzzes the RFC 3339 time parsers on any bytes (a NUL-terminated copy):
 * they must answer 0 or -EINVAL, and a time they accept must format and
 * parse back to the same value. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/strutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s, buf[32];
        int64_t t, again;
        int r;

        if (size > 256)
                return 0;
        s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';
        r = util_time_ms_parse(s, &t);
        if (r != 0 && r != -EINVAL)
                abort();
        if (r == 0 && t >= 0) {
                util_time_ms_format(t, buf);
                if (util_time_ms_parse(buf, &again) != 0 || again != t)
                        abort();
        }
        r = util_time_parse(s, &t);
        if (r != 0 && r != -EINVAL)
                abort();
        free(s);
        return 0;
}
