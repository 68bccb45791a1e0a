/* Unit tests for vigild's configuration file parser: defaults, every key and
 * its bounds, durations, comments and whitespace, and that an error names its
 * line and leaves the configuration as it was. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "server/vigild.h"

static int parse(const char *text, struct vigild_config *cfg, char *err, size_t err_size)
{
        return vigild_config_parse(text, strlen(text), cfg, err, err_size);
}

/* Parses text over the defaults and expects it to be refused without any
 * change, with "line N" in the message. */
static void assert_refused(const char *text, unsigned line)
{
        struct vigild_config cfg, before;
        char err[256] = "", want[32];

        vigild_config_defaults(&cfg);
        memcpy(&before, &cfg, sizeof(cfg));
        if (parse(text, &cfg, err, sizeof(err)) != -EINVAL)
                fail_msg("accepted: '%s'", text);
        snprintf(want, sizeof(want), "line %u:", line);
        if (!strstr(err, want))
                fail_msg("'%s': error '%s' does not name %s", text, err, want);
        assert_memory_equal(&cfg, &before, sizeof(cfg));
}

static void test_defaults(void **state)
{
        struct vigild_config cfg;
        char err[128] = "";

        memset(&cfg, 0xa5, sizeof(cfg));
        vigild_config_defaults(&cfg);
        assert_string_equal(cfg.listen, VIGILD_LISTEN_DEFAULT);
        assert_string_equal(cfg.public_url, "");
        assert_int_equal(cfg.heartbeat_interval, 60);
        assert_int_equal(cfg.inactive_after, 7 * 86400);
        assert_int_equal(cfg.body_max, 16 * 1024 * 1024);
        assert_int_equal(cfg.threads, 2);
        assert_int_equal(cfg.device_cert_days, 365);
        assert_int_equal(cfg.connection_timeout, 300);
        assert_int_equal(cfg.max_devices, 1000000);
        assert_int_equal(cfg.max_connections, 20000);
        assert_int_equal(cfg.log_level, 2);
        assert_true(cfg.tvm_count_open);
        assert_false(cfg.tvm_count_undetermined);

        /* an empty file, or one of comments, changes nothing */
        {
                struct vigild_config before = cfg;
                assert_int_equal(vigild_config_parse("", 0, &cfg, err, sizeof(err)), 0);
                assert_int_equal(parse("# nothing\n\n   \n\t# indented comment\n", &cfg, err, sizeof(err)), 0);
                assert_memory_equal(&cfg, &before, sizeof(cfg));
        }
}

static void test_every_key(void **state)
{
        struct vigild_config cfg;
        char err[128] = "";
        const char *text =
                "listen = 0.0.0.0:9443\n"
                "public_url = https://vigil.example.com:9443\n"
                "heartbeat_interval = 90s\n"
                "inactive_after = 7d\n"
                "body_max = 1048576\n"
                "threads = 8\n"
                "device_cert_days = 30\n"
                "connection_timeout = 120\n"
                "max_devices = 5000\n"
                "max_connections = 300\n"
                "log_level = debug\n"
                "tvm_count_open = no\n"
                "tvm_count_undetermined = yes\n";

        vigild_config_defaults(&cfg);
        assert_int_equal(parse(text, &cfg, err, sizeof(err)), 0);
        assert_string_equal(cfg.listen, "0.0.0.0:9443");
        assert_string_equal(cfg.public_url, "https://vigil.example.com:9443");
        assert_int_equal(cfg.heartbeat_interval, 90);
        assert_int_equal(cfg.inactive_after, 7 * 86400);
        assert_int_equal(cfg.body_max, 1048576);
        assert_int_equal(cfg.threads, 8);
        assert_int_equal(cfg.device_cert_days, 30);
        assert_int_equal(cfg.connection_timeout, 120);
        assert_int_equal(cfg.max_devices, 5000);
        assert_int_equal(cfg.max_connections, 300);
        assert_int_equal(cfg.log_level, 3);
        assert_false(cfg.tvm_count_open);
        assert_true(cfg.tvm_count_undetermined);
}

static void test_values_over_existing(void **state)
{
        struct vigild_config cfg;
        char err[128] = "";

        /* parse works over what cfg holds, not over the defaults */
        vigild_config_defaults(&cfg);
        cfg.threads = 7;
        assert_int_equal(parse("max_devices = 9\n", &cfg, err, sizeof(err)), 0);
        assert_int_equal(cfg.threads, 7);
        assert_int_equal(cfg.max_devices, 9);
        /* a later line wins */
        assert_int_equal(parse("threads = 3\nthreads = 4\n", &cfg, err, sizeof(err)), 0);
        assert_int_equal(cfg.threads, 4);
}

static void test_durations(void **state)
{
        static const struct {
                const char *text;
                int64_t seconds;
        } ok[] = {
                { "heartbeat_interval = 90s", 90 }, { "heartbeat_interval = 45", 45 },
                { "heartbeat_interval = 15m", 900 }, { "heartbeat_interval = 24h", 86400 },
                { "heartbeat_interval = 1d", 86400 }, { "heartbeat_interval = 86400", 86400 },
                { "heartbeat_interval = 1", 1 },
        };
        static const char *const bad[] = {
                "heartbeat_interval = 0", "heartbeat_interval = 0s", "heartbeat_interval = -5s",
                "heartbeat_interval = 5x", "heartbeat_interval = s", "heartbeat_interval = 1.5h",
                "heartbeat_interval = 5 s", "heartbeat_interval = 9999999999999999d",
                "heartbeat_interval = 86401", "heartbeat_interval = 2d", /* agents ignore > 1 day */
                "inactive_after = 0d", "inactive_after = 1w", "inactive_after = ",
        };
        struct vigild_config cfg;
        char err[128];

        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                vigild_config_defaults(&cfg);
                if (parse(ok[i].text, &cfg, err, sizeof(err)) != 0)
                        fail_msg("'%s' refused: %s", ok[i].text, err);
                assert_int_equal(cfg.heartbeat_interval, ok[i].seconds);
        }
        vigild_config_defaults(&cfg);
        assert_int_equal(parse("inactive_after = 36h", &cfg, err, sizeof(err)), 0);
        assert_int_equal(cfg.inactive_after, 36 * 3600);
        assert_int_equal(parse("inactive_after = 90s", &cfg, err, sizeof(err)), 0);
        assert_int_equal(cfg.inactive_after, 90);
        assert_int_equal(parse("inactive_after = 7d", &cfg, err, sizeof(err)), 0);
        assert_int_equal(cfg.inactive_after, 7 * 86400);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_refused(bad[i], 1);
}

static void test_whitespace_and_comments(void **state)
{
        struct vigild_config cfg;
        char err[128] = "";
        const char *text =
                "# vigild.conf\n"
                "\n"
                "   threads=5   \n"
                "\tlog_level\t=\terror\t\n"
                "device_cert_days = 10\r\n"          /* CRLF */
                "    # a comment after spaces\n"
                "\r\n"
                "connection_timeout =60";            /* no final newline */

        vigild_config_defaults(&cfg);
        assert_int_equal(parse(text, &cfg, err, sizeof(err)), 0);
        assert_int_equal(cfg.threads, 5);
        assert_int_equal(cfg.log_level, 0);
        assert_int_equal(cfg.device_cert_days, 10);
        assert_int_equal(cfg.connection_timeout, 60);

        /* '=' inside a value belongs to the value */
        assert_int_equal(parse("listen = a=b", &cfg, err, sizeof(err)), 0);
        assert_string_equal(cfg.listen, "a=b");
        /* a '#' that is not first on the line is not a comment */
        assert_refused("threads = 4 # four", 1);
}

static void test_unknown_key(void **state)
{
        struct vigild_config cfg;
        char err[128] = "";

        assert_refused("threads = 4\n\n# c\nthread = 4\n", 4);
        assert_refused("Threads = 4", 1);
        assert_refused("thr eads = 4", 1);
        assert_refused("= 4", 1);
        assert_refused("threads 4", 1);         /* no '=' */
        assert_refused("threads", 1);

        vigild_config_defaults(&cfg);
        assert_int_equal(parse("\n\nbogus = 1\n", &cfg, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "line 3"));
        assert_non_null(strstr(err, "bogus"));

        /* a small err buffer is still NUL-terminated */
        {
                char tiny[8];
                memset(tiny, 'x', sizeof(tiny));
                assert_int_equal(parse("bogus = 1", &cfg, tiny, sizeof(tiny)), -EINVAL);
                assert_non_null(memchr(tiny, '\0', sizeof(tiny)));
        }
}

static void test_bounds(void **state)
{
        static const char *const good[] = {
                "threads = 1", "threads = 64", "body_max = 1024", "body_max = 268435456",
                "device_cert_days = 1", "device_cert_days = 3650", "connection_timeout = 1",
                "connection_timeout = 86400", "max_devices = 1", "max_devices = 100000000",
                "max_connections = 1", "max_connections = 1000000",
                "log_level = error", "log_level = warning", "log_level = info", "log_level = debug",
                "public_url = https://a", "listen = [::1]:8443",
                "tvm_feed_paths = /srv/feeds/debian.zip, https://security-tracker.debian.org/tracker/data/json",
                "tvm_feed_interval = 1m", "tvm_feed_interval = 7d", "tvm_feed_ca_file = /etc/vigil/mirror-ca.pem",
        };
        static const char *const bad[] = {
                "threads = 0", "threads = 65", "threads = -1", "threads = 4x", "threads = 0x10",
                "threads = +4", "threads = 4294967298", "threads =",
                "body_max = 0", "body_max = 1023", "body_max = 268435457", "body_max = 1k",
                "device_cert_days = 0", "device_cert_days = 3651",
                "connection_timeout = 0", "connection_timeout = 86401",
                "max_devices = 0", "max_devices = 100000001",
                "max_connections = 0", "max_connections = 1000001",
                "log_level = verbose", "log_level = DEBUG", "log_level = 3", "log_level =",
                "public_url = http://vigil.example.com", "public_url = vigil.example.com",
                "public_url = HTTPS://vigil.example.com", "public_url = ftp://x", "public_url =",
                "public_url = https://a\tb", "listen =", "listen = a\tb",
                "tvm_feed_paths = feeds/debian.zip", "tvm_feed_paths = http://example.org/json",
                "tvm_feed_paths = /a b", "tvm_feed_interval = 59s", "tvm_feed_interval = 0",
                "tvm_feed_ca_file = mirror-ca.pem",
                "tvm_count_open = maybe", "tvm_count_open = YES", "tvm_count_open = 1", "tvm_count_undetermined =",
        };
        struct vigild_config cfg;
        char err[128];

        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                vigild_config_defaults(&cfg);
                if (parse(good[i], &cfg, err, sizeof(err)) != 0)
                        fail_msg("'%s' refused: %s", good[i], err);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_refused(bad[i], 1);

        /* threads = 64 really is 64, not something clipped */
        vigild_config_defaults(&cfg);
        assert_int_equal(parse("threads = 64\nbody_max = 268435456\nmax_devices = 100000000", &cfg,
                               err, sizeof(err)), 0);
        assert_int_equal(cfg.threads, 64);
        assert_int_equal(cfg.body_max, 268435456);
        assert_int_equal(cfg.max_devices, 100000000);
        vigild_config_defaults(&cfg);
        assert_int_equal(cfg.tvm_feed_interval, 6 * 3600);
        assert_int_equal(parse("tvm_feed_paths = /a,/b\ntvm_feed_interval = 2h", &cfg, err, sizeof(err)), 0);
        assert_string_equal(cfg.tvm_feed_paths, "/a,/b");
        assert_int_equal(cfg.tvm_feed_interval, 7200);
}

static void test_string_lengths(void **state)
{
        struct vigild_config cfg;
        char text[400], err[128];
        const size_t listen_max = sizeof(cfg.listen) - 1, url_max = sizeof(cfg.public_url) - 1;

        vigild_config_defaults(&cfg);
        snprintf(text, sizeof(text), "listen = %.*s", (int)listen_max,
                 "1111111111222222222233333333334444444444555555555566666666667777777777888888888899");
        assert_int_equal(parse(text, &cfg, err, sizeof(err)), 0);
        assert_int_equal(strlen(cfg.listen), listen_max);
        snprintf(text, sizeof(text), "listen = %.*s", (int)listen_max + 1,
                 "1111111111222222222233333333334444444444555555555566666666667777777777888888888899");
        assert_refused(text, 1);

        {
                char url[300];
                memset(url, 'a', sizeof(url));
                memcpy(url, "https://", 8);
                url[url_max] = '\0';
                snprintf(text, sizeof(text), "public_url = %s", url);
                vigild_config_defaults(&cfg);
                assert_int_equal(parse(text, &cfg, err, sizeof(err)), 0);
                assert_string_equal(cfg.public_url, url);
                url[url_max] = 'a';
                url[url_max + 1] = '\0';
                snprintf(text, sizeof(text), "public_url = %s", url);
                assert_refused(text, 1);
        }
}

static void test_error_leaves_cfg(void **state)
{
        struct vigild_config cfg, before;
        char err[128] = "";

        /* good lines before the bad one are not applied */
        vigild_config_defaults(&cfg);
        memcpy(&before, &cfg, sizeof(cfg));
        assert_int_equal(parse("threads = 9\nlisten = 1.2.3.4:5\nlog_level = debug\nthreads = 0\n",
                               &cfg, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "line 4"));
        assert_non_null(strstr(err, "threads"));
        assert_memory_equal(&cfg, &before, sizeof(cfg));
}

static void test_line_too_long(void **state)
{
        struct vigild_config cfg;
        char err[128] = "";
        static char text[3000];
        size_t n;

        /* a comment line of exactly 1024 bytes is fine */
        memset(text, 'x', 1024);
        text[0] = '#';
        memcpy(text + 1024, "\nthreads = 3\n", 14);
        vigild_config_defaults(&cfg);
        assert_int_equal(parse(text, &cfg, err, sizeof(err)), 0);
        assert_int_equal(cfg.threads, 3);

        /* one more byte is not, even in a comment, on line 2 */
        memcpy(text, "threads = 5\n", 12);
        memset(text + 12, 'x', 1025);
        text[12] = '#';
        memcpy(text + 12 + 1025, "\n", 2);
        assert_refused(text, 2);

        /* and a whole file over the cap is refused */
        {
                size_t big = 65 * 1024;
                char *huge = malloc(big);
                struct vigild_config before;
                assert_non_null(huge);
                for (n = 0; n + 1 < big; n++)
                        huge[n] = (n % 64 == 63) ? '\n' : '#';
                huge[big - 1] = '\n';
                vigild_config_defaults(&cfg);
                before = cfg;
                assert_int_equal(vigild_config_parse(huge, big, &cfg, err, sizeof(err)), -EINVAL);
                assert_memory_equal(&cfg, &before, sizeof(cfg));
                /* the same lines under the cap are fine */
                assert_int_equal(vigild_config_parse(huge, 64 * 1024, &cfg, err, sizeof(err)), 0);
                free(huge);
        }
}

/* The portal's keys: defaults, durations, the stream cap and its bounds. */
static void test_portal_keys(void **state)
{
        struct vigild_config cfg;
        char err[256] = "";

        vigild_config_defaults(&cfg);
        assert_int_equal(cfg.portal_session_idle, 1800);
        assert_int_equal(cfg.portal_session_max, 12 * 3600);
        assert_int_equal(cfg.portal_sse_clients, 64);
        assert_int_equal(parse("portal_session_idle = 10m\nportal_session_max = 1d\nportal_sse_clients = 0\n",
                               &cfg, err, sizeof(err)), 0);
        assert_int_equal(cfg.portal_session_idle, 600);
        assert_int_equal(cfg.portal_session_max, 86400);
        assert_int_equal(cfg.portal_sse_clients, 0);
        assert_refused("portal_session_idle = 0\n", 1);
        assert_refused("portal_session_max = soon\n", 1);
        assert_refused("portal_sse_clients = 100001\n", 1);
        assert_refused("portal_sse_clients = -1\n", 1);
}

static void test_nul_byte(void **state)
{
        static const char text[] = "threads = 4\nlisten = 1.2.3.4:5\0garbage\nlog_level = info\n";
        static const char in_comment[] = "# a\0b\nthreads = 4\n";
        struct vigild_config cfg, before;
        char err[128] = "";

        vigild_config_defaults(&cfg);
        memcpy(&before, &cfg, sizeof(cfg));
        assert_int_equal(vigild_config_parse(text, sizeof(text) - 1, &cfg, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "line 2"));
        assert_memory_equal(&cfg, &before, sizeof(cfg));
        assert_int_equal(vigild_config_parse(in_comment, sizeof(in_comment) - 1, &cfg, err, sizeof(err)),
                         -EINVAL);
        assert_non_null(strstr(err, "line 1"));
        assert_memory_equal(&cfg, &before, sizeof(cfg));
        /* the length bounds the parse, not a NUL: text past len is not read */
        assert_int_equal(vigild_config_parse("threads = 4\nthreads = 0", 12, &cfg, err, sizeof(err)), 0);
        assert_int_equal(cfg.threads, 4);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_every_key),
                cmocka_unit_test(test_values_over_existing),
                cmocka_unit_test(test_durations),
                cmocka_unit_test(test_whitespace_and_comments),
                cmocka_unit_test(test_unknown_key),
                cmocka_unit_test(test_bounds),
                cmocka_unit_test(test_string_lengths),
                cmocka_unit_test(test_error_leaves_cfg),
                cmocka_unit_test(test_line_too_long),
                cmocka_unit_test(test_nul_byte),
                cmocka_unit_test(test_portal_keys),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
