/* Fuzzes lib/util/dpkgver: the input is cut at newlines into three
 * versions a, b and c. dpkgver_check() must accept or refuse each with a
 * reason; dpkgver_compare() must be a total preorder on any strings:
 * reflexive (a = a), antisymmetric (the sign of a ? b is minus that of
 * b ? a) and transitive (a <= b <= c implies a <= c, and strictly if
 * either step is strict). A checked version must also equal itself with
 * an explicit "0:" epoch, as dpkg reads a missing epoch as 0. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/dpkgver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_VERSION_MAX 512

static int sign(int x)
{
        return (x > 0) - (x < 0);
}

/* Copies the next line of data into out (NUL bytes inside it cut it
 * short, as they would a C string). */
static void next_line(const uint8_t **p, const uint8_t *end, char out[static FUZZ_VERSION_MAX + 1])
{
        size_t n = 0;

        while (*p < end && **p != '\n' && n < FUZZ_VERSION_MAX)
                out[n++] = (char)*(*p)++;
        out[n] = '\0';
        while (*p < end && **p != '\n')
                (*p)++;
        if (*p < end)
                (*p)++;
}

static void check_one(const char *s)
{
        const char *why = NULL;
        char with_epoch[FUZZ_VERSION_MAX + 3];
        int r = dpkgver_check(s, strlen(s), &why);

        if (r != 0 && (r != -EINVAL || !why || !*why))
                abort();
        if (r == 0 && !strchr(s, ':')) {
                snprintf(with_epoch, sizeof(with_epoch), "0:%s", s);
                if (dpkgver_compare(s, with_epoch) != 0)
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char a[FUZZ_VERSION_MAX + 1], b[FUZZ_VERSION_MAX + 1], c[FUZZ_VERSION_MAX + 1];
        const uint8_t *p = data, *end = data + size;
        int ab, ba, bc, ac;

        next_line(&p, end, a);
        next_line(&p, end, b);
        next_line(&p, end, c);
        check_one(a);
        check_one(b);
        check_one(c);
        if (dpkgver_compare(a, a) != 0)
                abort();
        ab = sign(dpkgver_compare(a, b));
        ba = sign(dpkgver_compare(b, a));
        bc = sign(dpkgver_compare(b, c));
        ac = sign(dpkgver_compare(a, c));
        if (ab != -ba)
                abort();
        if (ab <= 0 && bc <= 0 && ac > (ab < 0 || bc < 0 ? -1 : 0))
                abort();
        if (ab >= 0 && bc >= 0 && ac < (ab > 0 || bc > 0 ? 1 : 0))
                abort();
        return 0;
}
