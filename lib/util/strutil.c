/* strutil: bounded helpers for text crossing a boundary. See strutil.h. */
#include "util/strutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int util_uint_parse(const char *s, uint64_t max, uint64_t *ret)
{
        uint64_t v = 0;

        if (!s || !*s)
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                if (v > (max - (uint64_t)(*s - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t)(*s - '0');
        }
        *ret = v;
        return 0;
}

int util_duration_parse(const char *s, int64_t *ret_seconds)
{
        char num[24];
        size_t n;
        uint64_t v, unit = 1;
        int r;

        if (!s)
                return -EINVAL;
        n = strlen(s);
        if (n == 0 || n >= sizeof(num))
                return -EINVAL;
        switch (s[n - 1]) {
        case 's': unit = 1; n--; break;
        case 'm': unit = 60; n--; break;
        case 'h': unit = 3600; n--; break;
        case 'd': unit = 86400; n--; break;
        default: break;
        }
        memcpy(num, s, n);
        num[n] = '\0';
        r = util_uint_parse(num, INT64_MAX / unit, &v);
        if (r < 0)
                return r;
        *ret_seconds = (int64_t)(v * unit);
        return 0;
}

bool util_ct_equal(const void *a, const void *b, size_t n)
{
        const volatile unsigned char *x = a, *y = b;
        unsigned char d = 0;

        for (size_t i = 0; i < n; i++)
                d |= x[i] ^ y[i];
        return d == 0;
}

static const char b64url_chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t util_b64url_len(size_t n)
{
        return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

void util_b64url_encode(const void *in, size_t n, char *out)
{
        const unsigned char *p = in;
        size_t i, o = 0;

        for (i = 0; i + 2 < n; i += 3) {
                uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
                out[o++] = b64url_chars[v >> 18 & 63];
                out[o++] = b64url_chars[v >> 12 & 63];
                out[o++] = b64url_chars[v >> 6 & 63];
                out[o++] = b64url_chars[v & 63];
        }
        if (n - i == 1) {
                uint32_t v = (uint32_t)p[i] << 16;
                out[o++] = b64url_chars[v >> 18 & 63];
                out[o++] = b64url_chars[v >> 12 & 63];
        } else if (n - i == 2) {
                uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
                out[o++] = b64url_chars[v >> 18 & 63];
                out[o++] = b64url_chars[v >> 12 & 63];
                out[o++] = b64url_chars[v >> 6 & 63];
        }
        out[o] = '\0';
}

static int b64url_value(char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '-')
                return 62;
        if (c == '_')
                return 63;
        return -1;
}

int util_b64url_decode(const char *in, size_t n, void *out, size_t out_size)
{
        unsigned char *o = out;
        uint32_t acc = 0;
        size_t bits = 0, len = 0;

        if (n % 4 == 1)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                int v = b64url_value(in[i]);
                if (v < 0)
                        return -EINVAL;
                acc = acc << 6 | (uint32_t)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        if (len >= out_size)
                                return -E2BIG;
                        o[len++] = (unsigned char)(acc >> bits);
                }
        }
        /* leftover bits must be zero, so every input has one decoding */
        if (acc & ((1u << bits) - 1))
                return -EINVAL;
        return (int)len;
}

void util_hex_encode(const void *in, size_t n, char *out)
{
        static const char hex[] = "0123456789abcdef";
        const unsigned char *p = in;

        for (size_t i = 0; i < n; i++) {
                out[2 * i] = hex[p[i] >> 4];
                out[2 * i + 1] = hex[p[i] & 15];
        }
        out[2 * n] = '\0';
}

static int hex_value(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int util_hex_decode(const char *hex, size_t len, void *out, size_t out_size)
{
        unsigned char *o = out;

        if (len % 2)
                return -EINVAL;
        if (len / 2 > out_size)
                return -E2BIG;
        for (size_t i = 0; i < len; i += 2) {
                int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
                if (hi < 0 || lo < 0)
                        return -EINVAL;
                o[i / 2] = (unsigned char)(hi << 4 | lo);
        }
        return (int)(len / 2);
}

void util_time_format(int64_t t, char out[static 21])
{
        struct tm tm;
        time_t tt = (time_t)t;

        if (!gmtime_r(&tt, &tm) || strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                memcpy(out, "1970-01-01T00:00:00Z", 21);
}

int util_time_parse(const char *s, int64_t *ret)
{
        struct tm tm = { 0 };
        const char *end;

        if (!s)
                return -EINVAL;
        end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (!end || *end)
                return -EINVAL;
        *ret = (int64_t)timegm(&tm);
        return 0;
}

int64_t util_now(void)
{
        return (int64_t)time(NULL);
}

int64_t util_mono_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void util_time_ms_format(int64_t ms, char out[static 32])
{
        char t[21];

        util_time_format(ms / 1000, t);
        snprintf(out, 32, "%.19s.%03lldZ", t, (long long)(ms % 1000));
}

int util_time_ms_parse(const char *s, int64_t *ret_ms)
{
        const char *dot = strchr(s, '.');
        char whole[32];
        int64_t t, ms = 0;
        size_t n = 0;

        if (!dot) {
                if (util_time_parse(s, &t) < 0)
                        return -EINVAL;
                *ret_ms = t * 1000;
                return 0;
        }
        if ((size_t)(dot - s) + 2 > sizeof(whole))
                return -EINVAL;
        snprintf(whole, sizeof(whole), "%.*sZ", (int)(dot - s), s);
        if (util_time_parse(whole, &t) < 0)
                return -EINVAL;
        for (const char *p = dot + 1; *p != 'Z'; p++, n++) {
                if (*p < '0' || *p > '9' || n == 9)
                        return -EINVAL;
                if (n < 3)
                        ms = ms * 10 + (*p - '0');
        }
        if (n == 0 || dot[1 + n + 1] != '\0')
                return -EINVAL;
        for (; n < 3; n++)
                ms *= 10;
        *ret_ms = t * 1000 + ms;
        return 0;
}

int util_path_fail(char *err, size_t err_size, const char *path, const char *fmt, ...)
{
        va_list ap;
        int n = snprintf(err, err_size, "%s: ", path);

        va_start(ap, fmt);
        if (n >= 0 && (size_t)n < err_size)
                vsnprintf(err + n, err_size - (size_t)n, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

struct timespec util_deadline(int clock, uint64_t ms)
{
        struct timespec ts;

        clock_gettime(clock, &ts);
        ts.tv_sec += (time_t)(ms / 1000);
        ts.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        return ts;
}

uint64_t util_str_hash(const char *s)
{
        uint64_t h = 1469598103934665603ull;

        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 1099511628211ull;
        return h;
}

int util_file_read(const char *path, size_t max, char **ret_data, size_t *ret_len)
{
        char *buf = NULL;
        size_t len = 0, alloc = 0;      /* alloc counts data bytes, plus one for the NUL */
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (;;) {
                ssize_t n;
                if (len + 1 >= alloc) {
                        /* room for max + 1 bytes, so one byte too many is seen */
                        size_t na = alloc ? alloc * 2 : 4096;
                        char *p;
                        if (na > max + 2)
                                na = max + 2;
                        p = realloc(buf, na);
                        if (!p) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        buf = p;
                        alloc = na;
                }
                n = read(fd, buf + len, alloc - 1 - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto fail;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > max) {
                        r = -E2BIG;
                        goto fail;
                }
        }
        close(fd);
        buf[len] = '\0';
        *ret_data = buf;
        if (ret_len)
                *ret_len = len;
        return 0;
fail:
        close(fd);
        free(buf);
        return r;
}

int util_path_join(char *out, size_t size, const char *dir, const char *name)
{
        int n = snprintf(out, size, "%s/%s", dir, name);

        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int util_fd_write(int fd, const void *data, size_t len)
{
        const char *p = data;

        while (len > 0) {
                ssize_t n = write(fd, p, len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

int util_file_write(const char *path, const void *data, size_t len, unsigned mode)
{
        char tmp[PATH_MAX];
        int fd, r;

        if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid()) >= sizeof(tmp))
                return -ENAMETOOLONG;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, mode) < 0)
                goto fail_errno;
        r = util_fd_write(fd, data, len);
        if (r < 0)
                goto fail;
        if (fsync(fd) < 0)
                goto fail_errno;
        if (close(fd) < 0) {
                fd = -1;
                goto fail_errno;
        }
        if (rename(tmp, path) < 0) {
                r = -errno;
                unlink(tmp);
                return r;
        }
        return 0;
fail_errno:
        r = -errno;
fail:
        if (fd >= 0)
                close(fd);
        unlink(tmp);
        return r;
}

char *util_strndup(const char *s, size_t n)
{
        char *p = malloc(n + 1);

        if (!p)
                return NULL;
        memcpy(p, s, n);
        p[n] = '\0';
        return p;
}

bool util_str_printable(const char *s, size_t max)
{
        size_t i;

        if (!s || !*s)
                return false;
        for (i = 0; s[i]; i++)
                if (i >= max || (unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
                        return false;
        return true;
}

bool util_str_is_text(const char *s, size_t max)
{
        size_t i;

        if (!s)
                return false;
        for (i = 0; s[i]; i++)
                if (i >= max || (unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
                        return false;
        return true;
}

void util_log_line_vformat(char *out, size_t size, const char *level, const char *fmt, va_list ap)
{
        struct timespec ts;
        struct tm tm;
        size_t n;
        int k;

        if (size < 2)
                return;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
        k = snprintf(out + n, size - n, ".%03ldZ %s: ", ts.tv_nsec / 1000000, level);
        n = k < 0 || (size_t)k >= size - n ? size - 1 : n + (size_t)k;
        if (n < size - 1)
                vsnprintf(out + n, size - n, fmt, ap);
        n = strlen(out);
        if (n >= size - 1)
                n = size - 2;
        out[n] = '\n';
        out[n + 1] = '\0';
}
