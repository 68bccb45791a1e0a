/* Unit tests for the agent side of alert delivery: the spool as the alert
 * uplink reads it (spool_read, spool_ack), cut lines, restarts, lines too
 * long to send, and making room when full (oldest low severity first). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/src/spool.h"
#include "agent/src/uplink_alerts.h"
#include "util/strutil.h"

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static void rm_rf(const char *dir)
{
        assert_int_equal(nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS), 0);
}

/* A line of exactly 64 bytes: {"id":"NNNN","severity":"SEV","p":"xxx..."} */
static size_t line_make(char *out, unsigned id, const char *sev)
{
        int n = snprintf(out, 128, "{\"id\":\"%04u\",\"severity\":\"%s\",\"p\":\"", id, sev);

        while (n < 61)
                out[n++] = 'x';
        memcpy(out + n, "\"}\n", 4);
        return 64;
}

/* What a read saw: ids in order, lines offered as too long, and a stop. */
struct seen {
        char ids[64][5];
        size_t n, too_long, stop_after;
};

static int on_line(const char *line, size_t len, void *userdata)
{
        struct seen *s = userdata;

        if (!line) {
                s->too_long++;
                return 0;
        }
        assert_int_equal(line[len - 1], '\n');
        if (s->stop_after && s->n == s->stop_after)
                return 1;
        assert_true(s->n < 64);
        memcpy(s->ids[s->n], line + 7, 4);
        s->ids[s->n][4] = '\0';
        s->n++;
        return 0;
}

static struct spool *open_dir(const char *dir, size_t max, size_t seg)
{
        struct spool *s = NULL;

        assert_int_equal(spool_open(dir, "alerts", max, seg, &s), 0);
        return s;
}

static void append(struct spool *s, unsigned id, const char *sev)
{
        char line[128];
        size_t n = line_make(line, id, sev);

        assert_int_equal(spool_append(s, line, n), 0);
}

static char *tmpdir(void)
{
        char *d = strdup("/tmp/vigil-test-uplink-XXXXXX");

        assert_non_null(mkdtemp(d));
        return d;
}

/* Reading from the acknowledged position, in batches; an acknowledgement
 * survives a restart and deletes what it passed; new lines follow. */
static void test_read_ack_restart(void **state)
{
        char *dir = tmpdir(), path[256];
        struct spool_pos end;
        struct seen seen = { .stop_after = 3 };
        struct spool *s = open_dir(dir, 0, 200);        /* 3 lines a segment */

        for (unsigned i = 1; i <= 7; i++)
                append(s, i, "high");
        assert_true(spool_pending(s));
        assert_int_equal(spool_read(s, on_line, &seen, &end), 0);
        assert_int_equal(seen.n, 3);
        assert_string_equal(seen.ids[0], "0001");
        assert_string_equal(seen.ids[2], "0003");
        /* a read does not move the position; an ack does */
        assert_int_equal(spool_read(s, on_line, &(struct seen){ 0 }, &(struct spool_pos){ 0 }), 0);
        assert_int_equal(spool_ack(s, &end), 0);
        /* the first segment is wholly acknowledged only once the position
         * is past it: it went when the read ended at the next one */
        snprintf(path, sizeof(path), "%s/alerts-00000000000000000001.jsonl", dir);
        assert_int_equal(access(path, F_OK), -1);
        spool_close(s);

        /* kill and restart: lines 4..7 remain, nothing acknowledged comes back */
        s = open_dir(dir, 0, 200);
        memset(&seen, 0, sizeof(seen));
        assert_int_equal(spool_read(s, on_line, &seen, &end), 0);
        assert_int_equal(seen.n, 4);
        assert_string_equal(seen.ids[0], "0004");
        assert_string_equal(seen.ids[3], "0007");
        assert_int_equal(spool_ack(s, &end), 0);
        assert_false(spool_pending(s));
        append(s, 8, "low");
        assert_true(spool_pending(s));
        memset(&seen, 0, sizeof(seen));
        assert_int_equal(spool_read(s, on_line, &seen, &end), 0);
        assert_int_equal(seen.n, 1);
        assert_string_equal(seen.ids[0], "0008");
        spool_close(s);

        /* the acknowledgement file says where: segment, offset */
        snprintf(path, sizeof(path), "%s/alerts.ack", dir);
        {
                char *text = NULL;

                assert_int_equal(util_file_read(path, 64, &text, NULL), 0);
                assert_string_equal(text, "3 64\n");
                free(text);
        }
        rm_rf(dir);
        free(dir);
}

/* A cut last line (the agent killed mid-write) is never offered: in the
 * segment being written it waits for its newline; in an older segment
 * (the restarted spool began a new one) it is passed. */
static void test_partial_lines(void **state)
{
        char *dir = tmpdir(), path[256], line[128];
        struct spool_pos end;
        struct seen seen = { 0 };
        struct spool *s = open_dir(dir, 0, 0);
        int fd;

        append(s, 1, "medium");
        spool_close(s);
        snprintf(path, sizeof(path), "%s/alerts-00000000000000000001.jsonl", dir);
        fd = open(path, O_WRONLY | O_APPEND);
        assert_true(fd >= 0);
        line_make(line, 2, "high");
        assert_int_equal(write(fd, line, 30), 30);
        close(fd);

        s = open_dir(dir, 0, 0);
        append(s, 3, "high");
        assert_int_equal(spool_read(s, on_line, &seen, &end), 0);
        assert_int_equal(seen.n, 2);
        assert_string_equal(seen.ids[0], "0001");
        assert_string_equal(seen.ids[1], "0003");
        assert_int_equal(end.seq, 2);
        assert_int_equal(end.off, 64);
        assert_int_equal(spool_ack(s, &end), 0);
        assert_int_equal(access(path, F_OK), -1);       /* the cut segment went */
        spool_close(s);
        rm_rf(dir);
        free(dir);
}

/* A line longer than a read holds is offered as too long and passed: it
 * never blocks the lines after it. */
static void test_line_too_long(void **state)
{
        char *dir = tmpdir(), *big = malloc(SPOOL_READ_CHUNK + 100);
        struct spool_pos end;
        struct seen seen = { 0 };
        struct spool *s = open_dir(dir, 0, 0);

        assert_non_null(big);
        memset(big, 'x', SPOOL_READ_CHUNK + 99);
        big[SPOOL_READ_CHUNK + 99] = '\n';
        append(s, 1, "high");
        assert_int_equal(spool_append(s, big, SPOOL_READ_CHUNK + 100), 0);
        append(s, 2, "high");
        assert_int_equal(spool_read(s, on_line, &seen, &end), 0);
        assert_int_equal(seen.n, 2);
        assert_int_equal(seen.too_long, 1);
        assert_string_equal(seen.ids[1], "0002");
        assert_int_equal(spool_ack(s, &end), 0);
        assert_false(spool_pending(s));
        spool_close(s);
        free(big);
        rm_rf(dir);
        free(dir);
}

/* Full: informational and low lines go first, oldest segment first, then
 * medium, then whole segments; each drop counted by severity. A rewrite
 * keeps the acknowledged bytes, so the position holds, but refuses an
 * acknowledgement read before it. Each segment holds 4 lines: high,
 * informational, medium, low (ids 1-4, 5-8, ...); 16 lines fill it. */
static void test_evict_order(void **state)
{
        static const char *const sev[] = { "low", "high", "informational", "medium" };
        char *dir = tmpdir(), path[256], *text = NULL;
        uint64_t by[SPOOL_SEVERITIES];
        struct spool_pos end, stale;
        struct seen seen = { .stop_after = 1 };
        struct spool *s = open_dir(dir, 1024, 256);
        unsigned id;

        for (id = 1; id <= 16; id++)
                append(s, id, sev[id % 4]);
        /* acknowledge line 1, then read (and not acknowledge) lines 2 and 3 */
        assert_int_equal(spool_read(s, on_line, &seen, &end), 0);
        assert_int_equal(spool_ack(s, &end), 0);
        memset(&seen, 0, sizeof(seen));
        seen.stop_after = 2;
        assert_int_equal(spool_read(s, on_line, &seen, &stale), 0);
        assert_string_equal(seen.ids[0], "0002");
        assert_int_equal(spool_dropped(s), 0);

        /* one line over: segment 1 loses 2 (informational) and 4 (low) */
        append(s, id++, "high");
        assert_int_equal(spool_dropped(s), 2);
        spool_dropped_by_severity(s, by);
        assert_int_equal(by[1], 1);
        assert_int_equal(by[2], 1);
        assert_int_equal(spool_ack(s, &stale), -ESTALE);
        memset(&seen, 0, sizeof(seen));
        assert_int_equal(spool_read(s, on_line, &seen, &end), 0);
        assert_int_equal(seen.n, 14);
        assert_string_equal(seen.ids[0], "0003");      /* after the acknowledged line 1 */
        assert_string_equal(seen.ids[1], "0005");

        /* a restart forgets which segments were rewritten: no harm */
        spool_close(s);
        s = open_dir(dir, 1024, 256);
        /* 18..25 (high): the other segments lose their low lines, then
         * segment 1 its medium one (3) */
        while (id <= 25)
                append(s, id++, "high");
        assert_int_equal(spool_dropped(s), 9);
        spool_dropped_by_severity(s, by);
        assert_int_equal(by[1], 4);
        assert_int_equal(by[2], 4);
        assert_int_equal(by[3], 1);
        while (id <= 28)
                append(s, id++, "high");
        spool_dropped_by_severity(s, by);
        assert_int_equal(by[3], 4);
        assert_int_equal(by[4], 0);
        /* nothing low or medium left: the oldest segment goes, which holds
         * only the acknowledged line 1 (not counted) */
        append(s, id++, "high");
        assert_int_equal(spool_dropped(s), 12);
        snprintf(path, sizeof(path), "%s/alerts-00000000000000000001.jsonl", dir);
        assert_int_equal(access(path, F_OK), -1);
        /* then the oldest anything: segment 2, holding only 5 (high) */
        append(s, id++, "high");
        assert_int_equal(spool_dropped(s), 13);
        spool_dropped_by_severity(s, by);
        assert_int_equal(by[4], 1);
        assert_int_equal(spool_bytes(s), 1024);
        memset(&seen, 0, sizeof(seen));
        assert_int_equal(spool_read(s, on_line, &seen, &end), 0);
        assert_int_equal(seen.n, 16);
        assert_string_equal(seen.ids[0], "0009");
        assert_string_equal(seen.ids[15], "0030");
        assert_int_equal(spool_ack(s, &end), 0);
        spool_close(s);
        snprintf(path, sizeof(path), "%s/alerts.dropped-severity", dir);
        assert_int_equal(util_file_read(path, 256, &text, NULL), 0);
        assert_string_equal(text, "informational 4\nlow 4\nmedium 4\nhigh 1\nother 0\n");
        free(text);
        rm_rf(dir);
        free(dir);
}

/* The uplink without a server: lines it cannot send (not JSON, over the
 * 4 MiB cap) are passed without a request and counted; an alert is kept
 * (the position does not move) while the server cannot be reached. A line
 * with a key twice is passed too: the server would refuse the whole batch. */
static void test_uplink_offline(void **state)
{
        char *dir = tmpdir(), spool_dir[256], *big = malloc(ALERT_UPLINK_BODY_MAX + 2);
        struct agent_state st = { 0 };
        struct alert_uplink_stats stats;
        struct alert_uplink *u = NULL;
        struct spool_pos before;
        struct spool *s;

        assert_non_null(big);
        snprintf(st.dir, sizeof(st.dir), "%s", dir);
        snprintf(st.server_url, sizeof(st.server_url), "https://127.0.0.1:1");
        snprintf(spool_dir, sizeof(spool_dir), "%s/spool", dir);
        s = open_dir(spool_dir, 0, 0);
        assert_int_equal(alert_uplink_new(&st, s, &u), 0);
        assert_int_equal(alert_uplink_send_once(u), ALERT_UPLINK_IDLE);

        assert_int_equal(spool_append(s, "not json\n", 9), 0);
        assert_int_equal(spool_append(s, "{\"id\":\"a\",\"id\":\"b\"}\n", 20), 0);
        memset(big, ' ', ALERT_UPLINK_BODY_MAX + 1);
        memcpy(big, "{\"id\":\"big\"}", 12);
        big[ALERT_UPLINK_BODY_MAX + 1] = '\n';
        assert_int_equal(spool_append(s, big, ALERT_UPLINK_BODY_MAX + 2), 0);
        assert_int_equal(alert_uplink_send_once(u), ALERT_UPLINK_SENT);
        assert_false(spool_pending(s));
        alert_uplink_stats_get(u, &stats);
        assert_int_equal(stats.skipped, 3);
        assert_int_equal(stats.sent, 0);

        append(s, 1, "high");
        before = spool_acked(s);
        assert_int_equal(alert_uplink_send_once(u), ALERT_UPLINK_RETRY);
        assert_true(spool_pending(s));
        assert_int_equal(spool_acked(s).off, before.off);
        assert_int_equal(spool_acked(s).seq, before.seq);

        alert_uplink_free(u);
        spool_close(s);
        free(big);
        rm_rf(dir);
        free(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_read_ack_restart),
                cmocka_unit_test(test_partial_lines),
                cmocka_unit_test(test_line_too_long),
                cmocka_unit_test(test_evict_order),
                cmocka_unit_test(test_uplink_offline),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
