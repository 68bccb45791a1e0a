/* dpkgver: Debian version comparison. See dpkgver.h. The algorithm is
 * dpkg's verrevcmp() on bounded spans, so that the upstream part needs no
 * copy; long runs of digits compare digit by digit and never overflow. */
#include "util/dpkgver.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>

/* A version cut into its three parts; each part is [start, end). */
struct span {
        const char *p, *end;
};

struct parts {
        struct span epoch, upstream, revision;
};

static bool is_digit(int c)
{
        return c >= '0' && c <= '9';
}

static bool is_alpha(int c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* dpkg's order(): '~' sorts before the end, the end and digits next,
 * letters by their code, anything else after every letter. c is taken as
 * dpkg takes a plain char, so bytes above 0x7f compare as it does. */
static int order(int c)
{
        if (is_digit(c))
                return 0;
        if (is_alpha(c))
                return c;
        if (c == '~')
                return -1;
        if (c)
                return c + 256;
        return 0;
}

static int at(const struct span *s)
{
        return s->p < s->end ? (signed char)*s->p : 0;
}

static bool at_digit(const struct span *s)
{
        return s->p < s->end && is_digit(*s->p);
}

/* dpkg's verrevcmp() on two spans. */
static int verrevcmp(struct span a, struct span b)
{
        while (a.p < a.end || b.p < b.end) {
                int first_diff = 0;

                while ((a.p < a.end && !is_digit(*a.p)) || (b.p < b.end && !is_digit(*b.p))) {
                        int ac = order(at(&a)), bc = order(at(&b));
                        if (ac != bc)
                                return ac - bc;
                        if (a.p < a.end)
                                a.p++;
                        if (b.p < b.end)
                                b.p++;
                }
                while (a.p < a.end && *a.p == '0')
                        a.p++;
                while (b.p < b.end && *b.p == '0')
                        b.p++;
                while (at_digit(&a) && at_digit(&b)) {
                        if (!first_diff)
                                first_diff = *a.p - *b.p;
                        a.p++;
                        b.p++;
                }
                if (at_digit(&a))
                        return 1;
                if (at_digit(&b))
                        return -1;
                if (first_diff)
                        return first_diff;
        }
        return 0;
}

/* Splits s (len bytes) the way dpkg's parseversion() does: the epoch is what
 * precedes the first ':', the revision what follows the last '-'. */
static void split(const char *s, size_t len, struct parts *ret)
{
        const char *end = s + len, *colon = memchr(s, ':', len), *hyphen = NULL;

        ret->epoch = (struct span){ s, colon ? colon : s };
        ret->upstream.p = colon ? colon + 1 : s;
        for (const char *q = ret->upstream.p; q < end; q++)
                if (*q == '-')
                        hyphen = q;
        ret->upstream.end = hyphen ? hyphen : end;
        ret->revision = (struct span){ hyphen ? hyphen + 1 : end, end };
}

/* Compares two epochs of digits as numbers of any length. */
static int epoch_compare(struct span a, struct span b)
{
        while (a.p < a.end && *a.p == '0')
                a.p++;
        while (b.p < b.end && *b.p == '0')
                b.p++;
        if (a.end - a.p != b.end - b.p)
                return a.end - a.p < b.end - b.p ? -1 : 1;
        for (; a.p < a.end; a.p++, b.p++)
                if (*a.p != *b.p)
                        return *a.p < *b.p ? -1 : 1;
        return 0;
}

int dpkgver_compare(const char *a, const char *b)
{
        struct parts pa, pb;
        int r;

        split(a, strlen(a), &pa);
        split(b, strlen(b), &pb);
        r = epoch_compare(pa.epoch, pb.epoch);
        if (r)
                return r;
        r = verrevcmp(pa.upstream, pb.upstream);
        if (r)
                return r;
        return verrevcmp(pa.revision, pb.revision);
}

static int fail(const char **ret_reason, const char *reason)
{
        *ret_reason = reason;
        return -EINVAL;
}

int dpkgver_check(const char *s, size_t len, const char **ret_reason)
{
        struct parts p;
        unsigned long long epoch = 0;

        if (len == 0)
                return fail(ret_reason, "version string is empty");
        if (len > DPKGVER_MAX)
                return fail(ret_reason, "version string is too long");
        split(s, len, &p);
        if (p.upstream.p != s) {
                if (p.epoch.p == p.epoch.end)
                        return fail(ret_reason, "epoch in version is empty");
                for (const char *q = p.epoch.p; q < p.epoch.end; q++) {
                        if (!is_digit(*q))
                                return fail(ret_reason, "epoch in version is not number");
                        epoch = epoch * 10 + (unsigned)(*q - '0');
                        if (epoch > INT_MAX)
                                return fail(ret_reason, "epoch in version is too big");
                }
                if (p.upstream.p == s + len)
                        return fail(ret_reason, "nothing after colon in version number");
        }
        if (p.upstream.end != s + len && p.revision.p == p.revision.end)
                return fail(ret_reason, "revision number is empty");
        if (p.upstream.p == p.upstream.end)
                return fail(ret_reason, "version number is empty");
        if (!is_digit(*p.upstream.p))
                return fail(ret_reason, "version number does not start with digit");
        for (const char *q = p.upstream.p; q < p.upstream.end; q++)
                if (!is_digit(*q) && !is_alpha(*q) && (!*q || !strchr(".-+~:", *q)))
                        return fail(ret_reason, "invalid character in version number");
        for (const char *q = p.revision.p; q < p.revision.end; q++)
                if (!is_digit(*q) && !is_alpha(*q) && (!*q || !strchr(".+~", *q)))
                        return fail(ret_reason, "invalid character in revision number");
        return 0;
}
