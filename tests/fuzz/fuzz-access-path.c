/* Fuzzes the decision endpoint's request-target normalization on any
 * bytes: it must return 0 with a path that starts with "/", has no empty,
 * "." or ".." segment and normalizes to itself, or -EINVAL / -E2BIG — and
 * never read or write out of bounds. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/access/access-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char out[4096], again[4096];
        int r;

        r = access_path_normalize((const char *)data, size, out, sizeof(out));
        if (r == -EINVAL || r == -E2BIG)
                return 0;
        if (r != 0 || out[0] != '/' || strstr(out, "//") || strstr(out, "/./") || strstr(out, "/../"))
                abort();
        size_t n = strlen(out);
        if ((n >= 2 && strcmp(out + n - 2, "/.") == 0) || (n >= 3 && strcmp(out + n - 3, "/..") == 0))
                abort();
        /* decoding may bring back '%', '?' or '#': only a path without them is stable */
        if (!strpbrk(out, "%?#")) {
                if (access_path_normalize(out, n, again, sizeof(again)) != 0 || strcmp(out, again) != 0)
                        abort();
        }
        return 0;
}
