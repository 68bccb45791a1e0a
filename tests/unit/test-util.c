/* Unit tests for lib/util: capped buffers, durations, base64url, times,
 * writing files. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/strutil.h"
#include "util/vbuf.h"

static void test_vbuf_cap(void **state)
{
        struct vbuf b;

        vbuf_init(&b, 8);
        assert_int_equal(vbuf_puts(&b, "1234"), 0);
        assert_int_equal(vbuf_printf(&b, "%d", 5678), 0);
        assert_string_equal(vbuf_str(&b), "12345678");
        assert_int_equal(vbuf_puts(&b, "9"), -E2BIG);
        assert_int_equal(b.len, 8);
        assert_string_equal(vbuf_str(&b), "12345678");
        vbuf_reset(&b);
        assert_int_equal(vbuf_printf(&b, "%s", "123456789"), -E2BIG);
        assert_int_equal(b.len, 0);
        vbuf_release(&b);
}

static void test_duration(void **state)
{
        int64_t s;

        assert_int_equal(util_duration_parse("24h", &s), 0);
        assert_int_equal(s, 86400);
        assert_int_equal(util_duration_parse("15m", &s), 0);
        assert_int_equal(s, 900);
        assert_int_equal(util_duration_parse("7d", &s), 0);
        assert_int_equal(s, 7 * 86400);
        assert_int_equal(util_duration_parse("42", &s), 0);
        assert_int_equal(s, 42);
        assert_int_equal(util_duration_parse("", &s), -EINVAL);
        assert_int_equal(util_duration_parse("h", &s), -EINVAL);
        assert_int_equal(util_duration_parse("-1h", &s), -EINVAL);
        assert_int_equal(util_duration_parse("1x", &s), -EINVAL);
        assert_int_equal(util_duration_parse("99999999999999999999d", &s), -ERANGE);
        assert_int_equal(util_duration_parse("1234567890123456789012345d", &s), -EINVAL);
        assert_int_equal(util_duration_parse("9999999999999999d", &s), -ERANGE);
}

static void test_b64url(void **state)
{
        static const char *cases[][2] = {
                { "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
                { "foob", "Zm9vYg" }, { "\xfb\xff", "-_8" },
        };
        char enc[16];
        unsigned char dec[16];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                size_t n = strlen(cases[i][0]);
                util_b64url_encode(cases[i][0], n, enc);
                assert_string_equal(enc, cases[i][1]);
                assert_int_equal(util_b64url_len(n), strlen(enc));
                assert_int_equal(util_b64url_decode(enc, strlen(enc), dec, sizeof(dec)), (int)n);
                assert_memory_equal(dec, cases[i][0], n);
        }
        assert_int_equal(util_b64url_decode("Zm9v=", 5, dec, sizeof(dec)), -EINVAL);
        assert_int_equal(util_b64url_decode("Z", 1, dec, sizeof(dec)), -EINVAL);
        assert_int_equal(util_b64url_decode("Zh", 2, dec, sizeof(dec)), -EINVAL); /* stray bits */
        assert_int_equal(util_b64url_decode("Zm9vYg", 6, dec, 3), -E2BIG);
}

static void test_time(void **state)
{
        char buf[21];
        int64_t t;

        util_time_format(1796000000, buf);
        assert_int_equal(util_time_parse(buf, &t), 0);
        assert_int_equal(t, 1796000000);
        assert_int_equal(util_time_parse("2026-11-30T00:00:00", &t), -EINVAL);
        assert_int_equal(util_time_parse("2026-11-30T00:00:00Zjunk", &t), -EINVAL);
}

static void test_time_ms(void **state)
{
        char buf[32];
        int64_t t;

        util_time_ms_format(1796000000481, buf);
        assert_string_equal(buf, "2026-11-30T00:53:20.481Z");
        assert_int_equal(util_time_ms_parse(buf, &t), 0);
        assert_int_equal(t, 1796000000481);
        assert_int_equal(util_time_ms_parse("2026-11-30T00:53:20Z", &t), 0);
        assert_int_equal(t, 1796000000000);
        assert_int_equal(util_time_ms_parse("2026-11-30T00:53:20.5Z", &t), 0);
        assert_int_equal(t, 1796000000500);
        assert_int_equal(util_time_ms_parse("2026-11-30T00:53:20.123456789Z", &t), 0);
        assert_int_equal(t, 1796000000123);
        assert_int_equal(util_time_ms_parse("2026-11-30T00:53:20.1234567890Z", &t), -EINVAL);
        assert_int_equal(util_time_ms_parse("2026-11-30T00:53:20.Z", &t), -EINVAL);
        assert_int_equal(util_time_ms_parse("2026-11-30T00:53:20.5", &t), -EINVAL);
        assert_int_equal(util_time_ms_parse("2026-11-30T00:53:20.5Zx", &t), -EINVAL);
        assert_int_equal(util_time_ms_parse("2026-11-30T00:53:20.5x5Z", &t), -EINVAL);
        assert_int_equal(util_time_ms_parse(".5Z", &t), -EINVAL);
}

static void test_ct_equal(void **state)
{
        assert_true(util_ct_equal("abc", "abc", 3));
        assert_false(util_ct_equal("abc", "abd", 3));
        assert_true(util_str_printable("abc", 3));
        assert_false(util_str_printable("abcd", 3));
        assert_false(util_str_printable("a\nb", 10));
        assert_false(util_str_printable("", 10));
}

static void log_line(char *out, size_t size, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        util_log_line_vformat(out, size, "info", fmt, ap);
        va_end(ap);
}

static void test_log_line(void **state)
{
        char line[64], small[40];
        char big[200];

        log_line(line, sizeof(line), "device %s", "x");
        assert_int_equal(strlen(line), strlen("2026-11-30T00:31:48.123Z info: device x\n"));
        assert_string_equal(line + 24, " info: device x\n");
        assert_int_equal(line[23], 'Z');
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        log_line(small, sizeof(small), "%s", big);
        assert_int_equal(strlen(small), sizeof(small) - 1);
        assert_int_equal(small[sizeof(small) - 2], '\n');
}

/* util_file_write() (through util_fd_write()) writes a file larger than one
 * write may take, whole; a write to a descriptor not open for writing
 * returns the errno. */
static void test_file_write(void **state)
{
        char dir[] = "/tmp/vigil-test-util-XXXXXX", path[64], *data = malloc(300000), *back = NULL;
        size_t len = 0;
        int fd;

        assert_non_null(data);
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/f", dir);
        for (size_t i = 0; i < 300000; i++)
                data[i] = (char)('a' + i % 26);
        assert_int_equal(util_file_write(path, data, 300000, 0600), 0);
        assert_int_equal(util_file_read(path, 300000, &back, &len), 0);
        assert_int_equal(len, 300000);
        assert_memory_equal(back, data, len);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(util_fd_write(fd, "x", 1), -EBADF);
        assert_int_equal(util_fd_write(fd, "", 0), 0);
        close(fd);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
        free(back);
        free(data);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_vbuf_cap),
                cmocka_unit_test(test_duration),
                cmocka_unit_test(test_b64url),
                cmocka_unit_test(test_time),
                cmocka_unit_test(test_time_ms),
                cmocka_unit_test(test_ct_equal),
                cmocka_unit_test(test_log_line),
                cmocka_unit_test(test_file_write),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
