/* strutil: small, bounded helpers for text that crosses a boundary:
 * durations, integers, base64url, hex, timestamps, constant-time compare,
 * and files read with a size cap. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Parses a duration such as "90s", "15m", "24h", "7d" or a bare number of
 * seconds. Returns 0, or -EINVAL for anything else, -ERANGE if it overflows. */
int util_duration_parse(const char *s, int64_t *ret_seconds);

/* Parses a whole decimal unsigned integer no larger than max.
 * Returns 0, -EINVAL (not a number, trailing text) or -ERANGE. */
int util_uint_parse(const char *s, uint64_t max, uint64_t *ret);

/* Compares two byte strings in time that depends only on n. */
bool util_ct_equal(const void *a, const void *b, size_t n);

/* Base64url without padding. encode writes a NUL-terminated string into out
 * (size at least util_b64url_len(n) + 1). decode returns the number of bytes
 * written to out, -EINVAL on a bad character or length, -E2BIG if out is too small. */
size_t util_b64url_len(size_t n);
void util_b64url_encode(const void *in, size_t n, char *out);
int util_b64url_decode(const char *in, size_t n, void *out, size_t out_size);

/* Lower-case hex; out must hold 2n+1 bytes. */
void util_hex_encode(const void *in, size_t n, char *out);

/* Decodes lower- or upper-case hex of even length. Returns the number of
 * bytes written, -EINVAL on a bad digit or odd length, -E2BIG if out is too small. */
int util_hex_decode(const char *hex, size_t len, void *out, size_t out_size);

/* Formats seconds since the epoch as RFC 3339 UTC ("2026-11-30T00:31:48Z"). */
void util_time_format(int64_t t, char out[static 21]);

/* Parses what util_time_format() writes. Returns 0 or -EINVAL. */
int util_time_parse(const char *s, int64_t *ret);

/* Milliseconds since the epoch as RFC 3339 UTC with milliseconds
 * ("2026-11-30T00:31:48.481Z"), and back: the parse takes what
 * util_time_parse() takes, or a fraction of 1 to 9 digits before the "Z"
 * (kept to the millisecond). Returns 0 or -EINVAL. */
void util_time_ms_format(int64_t ms, char out[static 32]);
int util_time_ms_parse(const char *s, int64_t *ret_ms);

/* Formats one log line, "2026-11-30T00:31:48.123Z LEVEL: message\n", into out
 * (cut to size, always NUL-terminated and newline-ended). The programs write
 * it; this library only formats. */
void util_log_line_vformat(char *out, size_t size, const char *level, const char *fmt, va_list ap)
        __attribute__((format(printf, 4, 0)));

/* Writes "path: reason" (reason from fmt) into err, for refusals of a
 * document that name the field; returns -EINVAL. */
int util_path_fail(char *err, size_t err_size, const char *path, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Wall clock and monotonic clock, in seconds and in milliseconds. */
int64_t util_now(void);
int64_t util_mono_ms(void);

/* The time ms milliseconds from now on clock (CLOCK_REALTIME or
 * CLOCK_MONOTONIC), for pthread_cond_timedwait() and the like. */
struct timespec util_deadline(int clock, uint64_t ms);

/* FNV-1a of a NUL-terminated string: for hash tables keyed by ids that
 * outsiders do not choose (random UUIDs). */
uint64_t util_str_hash(const char *s);

/* Reads a whole file of at most max bytes into a NUL-terminated heap buffer.
 * Returns 0, -E2BIG if larger, or a negative errno from open/read. */
int util_file_read(const char *path, size_t max, char **ret_data, size_t *ret_len);

/* Builds "dir/name" into out. Returns 0 or -ENAMETOOLONG (out then holds a
 * cut string that must not be used). */
int util_path_join(char *out, size_t size, const char *dir, const char *name);

/* Writes all len bytes of data to fd, again after a short write or EINTR.
 * Returns 0 or a negative errno from write (part of data may be written). */
int util_fd_write(int fd, const void *data, size_t len);

/* Writes a file atomically (temporary file, fsync, rename) with the given mode.
 * Returns 0 or a negative errno. */
int util_file_write(const char *path, const void *data, size_t len, unsigned mode);

/* Duplicates at most n bytes into a NUL-terminated heap string (NULL on ENOMEM). */
char *util_strndup(const char *s, size_t n);

/* True if s is non-empty, at most max bytes, and every byte is printable ASCII. */
bool util_str_printable(const char *s, size_t max);

/* True if s (possibly empty) is at most max bytes and holds no control
 * characters (bytes below 0x20, and 0x7f). Says nothing of UTF-8 validity. */
bool util_str_is_text(const char *s, size_t max);
