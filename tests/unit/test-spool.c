/* Unit tests for the spool on a full disk: each test puts the spool on a
 * small tmpfs of its own (in a private mount namespace), fills it with a
 * file, drives spool.c, then frees the space. Appends the disk refuses are
 * held in memory, read all the same, and written in order later where the
 * reader expects them; a write cut half-way leaves no cut line; the held
 * lines give way lowest severity first and what is dropped is counted; an
 * acknowledgement the disk refuses still holds (no line read twice) and is
 * saved later; a rewrite that finds no room deletes no segment. Needs root
 * (mount); exits 77 without it. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/src/spool.h"
#include "util/strutil.h"

#define DISK_BYTES (256u << 10)

struct disk {
        char root[64];          /* the tmpfs */
        char spool[128];        /* the spool's folder in it */
        char fill[128];         /* the file that fills it */
};

static void disk_mount(struct disk *d)
{
        snprintf(d->root, sizeof(d->root), "/tmp/vigil-test-spool-XXXXXX");
        assert_non_null(mkdtemp(d->root));
        assert_int_equal(mount("tmpfs", d->root, "tmpfs", 0, "size=256k,mode=0700"), 0);
        snprintf(d->spool, sizeof(d->spool), "%s/spool", d->root);
        snprintf(d->fill, sizeof(d->fill), "%s/fill", d->root);
}

static void disk_unmount(struct disk *d)
{
        assert_int_equal(umount2(d->root, MNT_DETACH), 0);
        assert_int_equal(rmdir(d->root), 0);
}

/* Writes the fill file until the disk refuses a byte. */
static void disk_fill(struct disk *d)
{
        static char block[4096];
        int fd = open(d->fill, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        ssize_t n;

        assert_true(fd >= 0);
        while ((n = write(fd, block, sizeof(block))) > 0)
                ;
        while ((n = write(fd, block, 1)) > 0)
                ;
        assert_int_equal(errno, ENOSPC);
        close(fd);
}

static void disk_free(struct disk *d)
{
        assert_int_equal(unlink(d->fill), 0);
}

/* A line of len bytes (at least 64): {"id":"NNNN","severity":"SEV","p":"xx..."} */
static char *line_make(unsigned id, const char *sev, size_t len)
{
        char *out = malloc(len + 1);
        int n;

        assert_non_null(out);
        n = snprintf(out, len + 1, "{\"id\":\"%04u\",\"severity\":\"%s\",\"p\":\"", id, sev);
        memset(out + n, 'x', len - 3 - (size_t)n);
        memcpy(out + len - 3, "\"}\n", 4);
        return out;
}

static int append(struct spool *s, unsigned id, const char *sev, size_t len)
{
        char *line = line_make(id, sev, len);
        int r = spool_append(s, line, len);

        free(line);
        return r;
}

/* What a read saw: the ids in order, and their severities' first letters;
 * it stops after stop_after lines if set. */
struct seen {
        unsigned ids[4096];
        char sev[4096];
        size_t n, stop_after;
};

static int on_line(const char *line, size_t len, void *userdata)
{
        struct seen *s = userdata;
        const char *k;

        assert_non_null(line);
        assert_int_equal(line[len - 1], '\n');
        if (s->stop_after && s->n == s->stop_after)
                return 1;
        assert_true(s->n < 4096);
        s->ids[s->n] = (unsigned)strtoul(line + 7, NULL, 10);
        k = strstr(line, "\"severity\":\"");
        s->sev[s->n] = k ? k[12] : '?';
        s->n++;
        return 0;
}

static void read_some(struct spool *s, struct seen *seen, size_t stop_after, struct spool_pos *end)
{
        memset(seen, 0, sizeof(*seen));
        seen->stop_after = stop_after;
        assert_int_equal(spool_read(s, on_line, seen, end), 0);
}

static void read_all(struct spool *s, struct seen *seen, struct spool_pos *end)
{
        read_some(s, seen, 0, end);
}

/* read_all, which must see exactly the ids first, first + 1, ... (n of
 * them). */
static void read_expect(struct spool *s, struct seen *seen, struct spool_pos *end, unsigned first, unsigned n)
{
        read_all(s, seen, end);
        assert_int_equal(seen->n, n);
        for (unsigned i = 0; i < n; i++)
                assert_int_equal(seen->ids[i], first + i);
}

/* The spool "alerts" on the disk d, opened with no caps of its own. */
static struct spool *spool_on(const struct disk *d)
{
        struct spool *s = NULL;

        assert_int_equal(spool_open(d->spool, "alerts", 0, 0, &s), 0);
        return s;
}

/* Appends the lines first to last, of len bytes and severity sev; the
 * spool must take each. */
static void append_range(struct spool *s, unsigned first, unsigned last, const char *sev, size_t len)
{
        for (unsigned i = first; i <= last; i++)
                assert_int_equal(append(s, i, sev, len), 0);
}

static off_t file_size(const char *dir, uint64_t seq)
{
        char path[256];
        struct stat st;

        snprintf(path, sizeof(path), "%s/alerts-%020llu.jsonl", dir, (unsigned long long)seq);
        assert_int_equal(stat(path, &st), 0);
        return st.st_size;
}

/* Appends the disk refuses are held, in order, and read all the same (the
 * alerts reach the server while the disk is full); those acknowledged
 * leave memory, the others are written once the disk has room, where the
 * reader expects them. A write cut half-way (the tmpfs had part of a page
 * left) is cut off again, so no cut line is ever on disk. */
static void test_append_held(void **state)
{
        struct disk d;
        struct spool *s = NULL;
        struct spool_pos end;
        struct seen *seen = malloc(sizeof(*seen));

        disk_mount(&d);
        s = spool_on(&d);
        /* 40 lines of 100 bytes: 4000, 96 bytes left in the page */
        append_range(s, 1, 40, "high", 100);
        disk_fill(&d);
        for (unsigned i = 41; i <= 45; i++)
                assert_int_equal(append(s, i, i % 2 ? "high" : "low", 100), 0);
        assert_int_equal(spool_held(s), 500);
        assert_int_equal(file_size(d.spool, 1), 4000);
        assert_int_equal(spool_sync(s), 0);
        assert_true(spool_pending(s));
        /* read up to 42 and acknowledge: 41 and 42 leave memory */
        read_some(s, seen, 42, &end);
        assert_int_equal(seen->n, 42);
        for (unsigned i = 0; i < 42; i++)
                assert_int_equal(seen->ids[i], i + 1);
        assert_int_equal(spool_ack(s, &end), 0);
        assert_int_equal(spool_held(s), 300);
        /* segment 1 is wholly acknowledged: gone, which gives the disk room */
        {
                char path[256];

                snprintf(path, sizeof(path), "%s/alerts-00000000000000000001.jsonl", d.spool);
                assert_int_equal(access(path, F_OK), -1);
        }
        read_all(s, seen, &end);
        assert_int_equal(seen->n, 3);
        assert_int_equal(seen->ids[0], 43);
        assert_int_equal(seen->ids[2], 45);
        assert_int_equal(append(s, 46, "high", 100), 0);
        assert_int_equal(spool_held(s), 400);
        assert_int_equal(spool_dropped(s), 0);

        disk_free(&d);
        /* the next sync writes them (the uplink's next read would too), at
         * the start of a segment of their own, where the position is */
        assert_int_equal(spool_sync(s), 0);
        assert_int_equal(spool_held(s), 0);
        assert_int_equal(file_size(d.spool, 3), 400);
        read_expect(s, seen, &end, 43, 4);
        assert_int_equal(spool_ack(s, &end), 0);
        assert_false(spool_pending(s));
        assert_int_equal(append(s, 47, "high", 100), 0);
        read_expect(s, seen, &end, 47, 1);
        assert_int_equal(spool_dropped(s), 0);
        spool_close(s);
        free(seen);
        disk_unmount(&d);
}

/* Held lines acknowledged before they reached the disk, then a restart:
 * nothing acknowledged comes back, and new lines are read. */
static void test_held_acked_restart(void **state)
{
        struct disk d;
        struct spool *s = NULL;
        struct spool_pos end;
        struct seen *seen = malloc(sizeof(*seen));

        disk_mount(&d);
        s = spool_on(&d);
        append_range(s, 1, 10, "high", 100);
        disk_fill(&d);
        append_range(s, 11, 13, "high", 2000);
        read_expect(s, seen, &end, 1, 13);
        assert_int_equal(spool_ack(s, &end), 0);
        assert_int_equal(spool_held(s), 0);
        assert_false(spool_pending(s));
        disk_free(&d);
        spool_close(s);

        s = spool_on(&d);
        read_expect(s, seen, &end, 0, 0);
        assert_int_equal(append(s, 14, "high", 100), 0);
        read_expect(s, seen, &end, 14, 1);
        assert_int_equal(spool_ack(s, &end), 0);
        spool_close(s);
        s = spool_on(&d);
        read_expect(s, seen, &end, 0, 0);
        spool_close(s);
        free(seen);
        disk_unmount(&d);
}

/* Past SPOOL_HELD_MAX bytes held, lower severities give way (oldest of the
 * lowest first), a line finding none lower is dropped, and each drop is
 * counted by severity. */
static void test_held_full(void **state)
{
        const size_t len = 64u << 10, fit = SPOOL_HELD_MAX / len;       /* 128 lines */
        uint64_t by[SPOOL_SEVERITIES];
        struct disk d;
        struct spool *s = NULL;
        struct spool_pos end;
        struct seen *seen = malloc(sizeof(*seen));
        unsigned id = 1;

        disk_mount(&d);
        s = spool_on(&d);
        disk_fill(&d);
        for (size_t i = 0; i < fit; i++, id++)
                assert_int_equal(append(s, id, i % 2 ? "medium" : "low", len), 0);
        /* full: a low line finds nothing lower and is dropped */
        assert_int_equal(append(s, id++, "low", len), -ENOSPC);
        assert_int_equal(spool_dropped(s), 1);
        /* a high line pushes out the oldest low one (1); 10 more the next ones */
        for (unsigned k = 0; k < 11; k++, id++)
                assert_int_equal(append(s, id, "high", len), 0);
        assert_int_equal(spool_dropped(s), 12);
        spool_dropped_by_severity(s, by);
        assert_int_equal(by[2], 12);
        assert_int_equal(by[3], 0);
        assert_int_equal(spool_held(s), SPOOL_HELD_MAX);

        disk_free(&d);
        /* room for what is held (8 MiB) is not on a 256 KiB disk: the lines
         * go as far as it takes them, the rest stay held; a read offers
         * them all, in order */
        read_all(s, seen, &end);
        assert_true(spool_held(s) > 0 && spool_held(s) < SPOOL_HELD_MAX);
        assert_int_equal(seen->n, fit);
        assert_int_equal(seen->ids[0], 2);
        assert_int_equal(seen->sev[0], 'm');
        for (size_t i = 1; i < seen->n; i++)
                assert_true(seen->ids[i] > seen->ids[i - 1]);
        assert_int_equal(seen->ids[fit - 1], id - 1);
        assert_int_equal(spool_ack(s, &end), 0);
        assert_int_equal(spool_held(s), 0);
        spool_close(s);
        free(seen);
        disk_unmount(&d);
}

/* An acknowledgement the disk refuses still moves the position (the server
 * has the lines: nothing is read twice) and is saved at the next sync. */
static void test_ack_refused(void **state)
{
        char path[256], *text = NULL;
        struct disk d;
        struct spool *s = NULL;
        struct spool_pos end;
        struct seen *seen = malloc(sizeof(*seen));

        disk_mount(&d);
        s = spool_on(&d);
        append_range(s, 1, 10, "high", 100);
        read_expect(s, seen, &end, 1, 10);
        disk_fill(&d);
        assert_int_equal(spool_ack(s, &end), 0);
        snprintf(path, sizeof(path), "%s/alerts.ack", d.spool);
        assert_int_equal(access(path, F_OK), -1);
        read_expect(s, seen, &end, 0, 0);
        assert_false(spool_pending(s));

        disk_free(&d);
        assert_int_equal(spool_sync(s), 0);
        assert_int_equal(util_file_read(path, 64, &text, NULL), 0);
        assert_string_equal(text, "1 1000\n");
        free(text);
        spool_close(s);
        /* and a restart starts after it */
        s = spool_on(&d);
        read_expect(s, seen, &end, 0, 0);
        spool_close(s);
        free(seen);
        disk_unmount(&d);
}

/* Over its size with no room on the disk to rewrite a segment without its
 * low lines, the spool deletes no segment (that would drop high alerts
 * while low ones remain); with room again, it rewrites as usual. */
static void test_rewrite_refused(void **state)
{
        uint64_t by[SPOOL_SEVERITIES];
        struct disk d;
        struct spool *s = NULL;
        struct spool_pos end;
        struct seen *seen = malloc(sizeof(*seen));
        size_t high = 0;
        unsigned id = 1;

        disk_mount(&d);
        /* segments of 20 lines of 100 bytes (one page each), every other
         * line low; 39 lines: 3900 bytes of the 3950 allowed */
        assert_int_equal(spool_open(d.spool, "alerts", 3950, 2000, &s), 0);
        for (; id <= 39; id++)
                assert_int_equal(append(s, id, id % 2 ? "low" : "high", 100), 0);
        /* the page of segment 2 has room for line 40, the disk none for a
         * rewritten segment 1 */
        disk_fill(&d);
        assert_int_equal(append(s, id++, "high", 100), 0);
        assert_int_equal(spool_held(s), 0);
        assert_int_equal(spool_bytes(s), 4000);
        assert_int_equal(spool_dropped(s), 0);
        assert_int_equal(file_size(d.spool, 1), 2000);
        assert_int_equal(spool_sync(s), 0);
        assert_int_equal(spool_dropped(s), 0);

        disk_free(&d);
        assert_int_equal(spool_sync(s), 0);
        assert_int_equal(spool_dropped(s), 10);
        spool_dropped_by_severity(s, by);
        assert_int_equal(by[2], 10);
        assert_int_equal(by[4], 0);
        assert_int_equal(spool_bytes(s), 3000);
        read_all(s, seen, &end);
        assert_int_equal(seen->n, 30);
        for (size_t i = 0; i < seen->n; i++)
                high += seen->sev[i] == 'h';
        assert_int_equal(high, 20);
        spool_close(s);
        free(seen);
        disk_unmount(&d);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_append_held),
                cmocka_unit_test(test_held_acked_restart),
                cmocka_unit_test(test_held_full),
                cmocka_unit_test(test_ack_refused),
                cmocka_unit_test(test_rewrite_refused),
        };

        if (geteuid() != 0) {
                printf("SKIP: the full-disk tests mount a tmpfs: they need root\n");
                return 77;
        }
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                printf("SKIP: cannot make a private mount namespace: %s\n", strerror(errno));
                return 77;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
