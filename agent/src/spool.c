/* spool: segment files of JSON lines with a total size cap (see spool.h).
 *
 * The segments present are listed once at open (sorted by sequence) and
 * then tracked in memory; the segment being written is the last. Dropping
 * counts the lines of what it deletes by severity (a segment is at most a
 * few MiB), so the counts are exact even across restarts. One mutex guards
 * it all: the detection thread appends, the alert uplink reads and
 * acknowledges.
 *
 * A write the disk refuses is undone (ftruncate back to the last whole
 * line, which needs no space) and its line joins the held lines, written
 * before any newer one once the disk has room: the order on disk stays the
 * order of the alerts. The held lines have their place in the spool before
 * they reach the disk: segment held_seq, from the bytes it has on disk on
 * (held_base(); 0 while it is not begun), where they will be written (never
 * past a segment's end into the next). So the reader reads them like the
 * rest and the alerts reach the server while the disk is full; an
 * acknowledgement that passes some of them takes them out of memory (they
 * are on the server) and moves held_seq on to a new segment, so that what
 * remains is written from its start. */
#include "agent/src/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/src/agent.h"
#include "util/strutil.h"
#include "util/vbuf.h"

#define SEGMENT_READ_MAX (64u << 20)  /* a segment read whole to be rewritten or counted */

struct segment {
        uint64_t seq;
        uint64_t bytes;
        int purged;                     /* severities up to this one were removed */
};

struct spool {
        char dir[4096];
        char name[SPOOL_NAME_MAX];
        size_t max_bytes, segment_bytes;
        struct segment seg[SPOOL_SEGMENTS_MAX];
        size_t n_seg;
        uint64_t total, dropped;
        uint64_t dropped_sev[SPOOL_SEVERITIES];
        struct spool_pos ack;           /* gen: the current generation */
        pthread_mutex_t lock;
        int fd;                         /* the last segment, open for appending; -1 if none */
        bool dirty;                     /* written since the last sync */
        bool torn;                      /* a write failed half-way: begin a new segment */
        struct vbuf held;               /* lines the disk refused, oldest first */
        uint64_t held_lines;
        uint64_t held_seq;              /* the segment they are written to */
        bool disk_full;                 /* lines are held: logged when it begins and ends */
        uint64_t full_dropped;          /* lines dropped for lack of room since it began */
        bool ack_unsaved;               /* the position in ack is not on disk yet */
        bool dropped_unsaved;           /* the drop counts are not on disk yet */
        bool room_blocked;              /* a rewrite to make room found no disk space */
};

static int segment_path(const struct spool *s, uint64_t seq, char *out, size_t size)
{
        int n = snprintf(out, size, "%s/%s-%020" PRIu64 ".jsonl", s->dir, s->name, seq);

        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* The sequence of a segment's file name, or -EINVAL for another file. */
static int segment_seq(const struct spool *s, const char *file, uint64_t *ret)
{
        size_t nl = strlen(s->name), fl = strlen(file);
        char digits[21];

        if (fl != nl + 1 + 20 + 6 || strncmp(file, s->name, nl) != 0 || file[nl] != '-' ||
            strcmp(file + nl + 21, ".jsonl") != 0)
                return -EINVAL;
        memcpy(digits, file + nl + 1, 20);
        digits[20] = '\0';
        return util_uint_parse(digits, UINT64_MAX, ret);
}

static int segment_cmp(const void *a, const void *b)
{
        const struct segment *x = a, *y = b;

        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The severity of an alert line (its first "severity" key is the alert's:
 * alert_to_json() puts it before every nested object), 0 if unknown. */
static int line_severity(const char *p, size_t len)
{
        static const char *const names[] = { NULL, "informational\"", "low\"", "medium\"", "high\"" };
        const char *k = memmem(p, len, "\"severity\":\"", 12);
        size_t rest;

        if (!k)
                return 0;
        k += 12;
        rest = len - (size_t)(k - p);
        for (int i = 1; i < SPOOL_SEVERITIES; i++)
                if (rest >= strlen(names[i]) && memcmp(k, names[i], strlen(names[i])) == 0)
                        return i;
        return 0;
}

/* Counts the whole lines of data by severity into counts. */
static uint64_t lines_count(const char *data, size_t len, uint64_t counts[static SPOOL_SEVERITIES])
{
        const char *p = data, *end = data + len, *nl;
        uint64_t n = 0;

        while (p < end && (nl = memchr(p, '\n', (size_t)(end - p)))) {
                counts[line_severity(p, (size_t)(nl - p))]++;
                n++;
                p = nl + 1;
        }
        return n;
}

static void counts_log(const struct spool *s, const char *what, const uint64_t c[static SPOOL_SEVERITIES])
{
        agent_log("warning", "spool full (%zu bytes): %s: dropped %" PRIu64 " informational, %" PRIu64
                  " low, %" PRIu64 " medium, %" PRIu64 " high, %" PRIu64 " other alert lines; dropped "
                  "in all so far %" PRIu64 " (informational %" PRIu64 ", low %" PRIu64 ", medium %" PRIu64
                  ", high %" PRIu64 ", other %" PRIu64 ")", s->max_bytes, what, c[1], c[2], c[3], c[4], c[0],
                  s->dropped, s->dropped_sev[1], s->dropped_sev[2], s->dropped_sev[3], s->dropped_sev[4],
                  s->dropped_sev[0]);
}

static const char *const severity_keys[SPOOL_SEVERITIES] = {
        "other", "informational", "low", "medium", "high"
};

/* NAME.dropped: the total; NAME.dropped-severity: "KEY COUNT" lines. What
 * the disk refuses stays in memory and is saved again at the next sync. */
static void dropped_save(struct spool *s)
{
        char path[4200], text[256];
        int n = snprintf(text, sizeof(text), "%" PRIu64 "\n", s->dropped), r = -ENAMETOOLONG;

        if (snprintf(path, sizeof(path), "%s/%s.dropped", s->dir, s->name) < (int)sizeof(path))
                r = util_file_write(path, text, (size_t)n, 0600);
        n = 0;
        for (int i = 1; i <= SPOOL_SEVERITIES; i++)
                n += snprintf(text + n, sizeof(text) - (size_t)n, "%s %" PRIu64 "\n",
                              severity_keys[i % SPOOL_SEVERITIES], s->dropped_sev[i % SPOOL_SEVERITIES]);
        if (r == 0 && snprintf(path, sizeof(path), "%s/%s.dropped-severity", s->dir, s->name) < (int)sizeof(path))
                r = util_file_write(path, text, (size_t)n, 0600);
        if (r < 0 && !s->dropped_unsaved)
                agent_log("warning", "cannot save the alert spool's drop counts in '%s': %s; they are kept in "
                          "memory and saved again at the next sync", s->dir, strerror(-r));
        s->dropped_unsaved = r < 0;
}

static void dropped_severity_load(struct spool *s)
{
        char path[4200], *text = NULL, *line, *next;
        uint64_t v;

        snprintf(path, sizeof(path), "%s/%s.dropped-severity", s->dir, s->name);
        if (util_file_read(path, 1024, &text, NULL) < 0)
                return;
        for (line = text; *line; line = next) {
                char *sp;

                next = line + strcspn(line, "\n");
                if (*next)
                        *next++ = '\0';
                sp = strchr(line, ' ');
                if (!sp)
                        continue;
                *sp = '\0';
                for (int i = 0; i < SPOOL_SEVERITIES; i++)
                        if (strcmp(line, severity_keys[i]) == 0 && util_uint_parse(sp + 1, UINT64_MAX, &v) == 0)
                                s->dropped_sev[i] = v;
        }
        free(text);
}

static void dropped_load(struct spool *s)
{
        char path[4200], *text = NULL;

        snprintf(path, sizeof(path), "%s/%s.dropped", s->dir, s->name);
        if (util_file_read(path, 32, &text, NULL) < 0)
                return;
        text[strcspn(text, "\n")] = '\0';
        if (util_uint_parse(text, UINT64_MAX, &s->dropped) < 0)
                s->dropped = 0;
        free(text);
        dropped_severity_load(s);
}

/* Removes segment i from the list (its file is gone). */
static void segment_forget(struct spool *s, size_t i)
{
        s->total -= s->seg[i].bytes;
        memmove(s->seg + i, s->seg + i + 1, (s->n_seg - i - 1) * sizeof(s->seg[0]));
        s->n_seg--;
}

static int ack_path(const struct spool *s, char *out, size_t size)
{
        int n = snprintf(out, size, "%s/%s.ack", s->dir, s->name);

        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* NAME.ack: "SEQUENCE OFFSET"; absent or unreadable: nothing acknowledged. */
static void ack_load(struct spool *s)
{
        char path[4200], *text = NULL, *sp;
        uint64_t seq, off;

        if (ack_path(s, path, sizeof(path)) < 0 || util_file_read(path, 64, &text, NULL) < 0)
                return;
        text[strcspn(text, "\n")] = '\0';
        sp = strchr(text, ' ');
        if (sp) {
                *sp = '\0';
                if (util_uint_parse(text, UINT64_MAX / 2, &seq) == 0 &&
                    util_uint_parse(sp + 1, UINT64_MAX, &off) == 0)
                        s->ack = (struct spool_pos){ seq, off, 0 };
        }
        free(text);
}

static int ack_save(const struct spool *s, const struct spool_pos *pos)
{
        char path[4200], text[64];
        int n = snprintf(text, sizeof(text), "%" PRIu64 " %" PRIu64 "\n", pos->seq, pos->off);
        int r = ack_path(s, path, sizeof(path));

        return r < 0 ? r : util_file_write(path, text, (size_t)n, 0600);
}

/* At open: deletes the segments wholly acknowledged, and keeps the
 * position within what is there (a spool emptied by hand, a power loss
 * that took acknowledged bytes, lines held in memory acknowledged before
 * they reached the disk): lines appended later must lie after it, so when
 * no segment is left spool_resume() begins segment ack.seq. */
static void ack_apply(struct spool *s)
{
        char path[4200];

        while (s->n_seg > 0 && s->seg[0].seq < s->ack.seq) {
                if (segment_path(s, s->seg[0].seq, path, sizeof(path)) == 0)
                        unlink(path);
                segment_forget(s, 0);
        }
        if (s->n_seg == 0) {
                s->ack.seq = s->ack.seq ? s->ack.seq : 1;
                s->ack.off = 0;
        } else if (s->seg[0].seq == s->ack.seq && s->ack.off > s->seg[0].bytes) {
                s->ack.off = s->seg[0].bytes;
        }
}

/* Deletes the oldest segment, counting its unacknowledged lines as dropped. */
static void segment_drop_oldest(struct spool *s)
{
        uint64_t counts[SPOOL_SEVERITIES] = { 0 }, from = 0;
        char path[4200], what[64], *data = NULL;
        size_t len = 0;

        if (segment_path(s, s->seg[0].seq, path, sizeof(path)) == 0) {
                if (util_file_read(path, SEGMENT_READ_MAX, &data, &len) == 0) {
                        if (s->seg[0].seq == s->ack.seq && s->ack.off <= len)
                                from = s->ack.off;
                        s->dropped += lines_count(data + from, len - from, counts);
                        for (int i = 0; i < SPOOL_SEVERITIES; i++)
                                s->dropped_sev[i] += counts[i];
                        free(data);
                }
                unlink(path);
        }
        snprintf(what, sizeof(what), "segment %" PRIu64 " deleted", s->seg[0].seq);
        segment_forget(s, 0);
        s->ack.gen++;
        dropped_save(s);
        counts_log(s, what, counts);
}

/* True if data holds a whole line of severity 1..level. */
static bool purge_any(const char *data, size_t len, int level)
{
        const char *p = data, *end = data + len, *nl;

        for (; p < end && (nl = memchr(p, '\n', (size_t)(end - p))); p = nl + 1) {
                int sev = line_severity(p, (size_t)(nl - p));

                if (sev >= 1 && sev <= level)
                        return true;
        }
        return false;
}

/* Writes segment i's file again without its lines of severity 1..level
 * after the acknowledged position (cut last lines go too). Returns the
 * lines dropped, counted into counts, or a negative errno. */
static int segment_purge(struct spool *s, size_t i, int level, uint64_t counts[static SPOOL_SEVERITIES])
{
        char path[4200], tmp[4300], *data = NULL;
        const char *p, *end, *nl;
        size_t len = 0, keep;
        int fd = -1, r, n = 0;
        uint64_t written = 0;

        r = segment_path(s, s->seg[i].seq, path, sizeof(path));
        if (r < 0 || (r = util_file_read(path, SEGMENT_READ_MAX, &data, &len)) < 0)
                return r;
        keep = s->seg[i].seq == s->ack.seq && s->ack.off <= len ? s->ack.off : 0;
        if (!purge_any(data + keep, len - keep, level))
                goto out;       /* nothing to remove: no rewrite, which would need disk space */
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
                r = -errno;
                goto out;
        }
        r = util_fd_write(fd, data, keep);
        written = keep;
        for (p = data + keep, end = data + len; r == 0 && p < end && (nl = memchr(p, '\n', (size_t)(end - p)));
             p = nl + 1) {
                int sev = line_severity(p, (size_t)(nl - p));

                if (sev >= 1 && sev <= level) {
                        counts[sev]++;
                        n++;
                        continue;
                }
                r = util_fd_write(fd, p, (size_t)(nl + 1 - p));
                written += (uint64_t)(nl + 1 - p);
        }
        if (r == 0 && fdatasync(fd) < 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                unlink(tmp);
                goto out;
        }
        s->total = s->total - s->seg[i].bytes + written;
        s->seg[i].bytes = written;
        r = n;
out:
        if (fd >= 0)
                close(fd);
        free(data);
        return r;
}

static bool no_space(int r)
{
        return r == -ENOSPC || r == -EDQUOT;
}

/* Makes room past max_bytes: informational and low lines of the older
 * segments first, oldest segment first; then medium ones; then whole
 * segments, oldest first. The newest segment is never rewritten. A rewrite
 * the disk has no room for stops it: deleting whole segments instead would
 * drop high alerts while lower ones remain; the spool stays over its size
 * (by at most a segment, the room a rewrite needs) and the next append or
 * sync tries again. */
static void spool_make_room(struct spool *s)
{
        for (int level = 2; level <= 3 && s->total > s->max_bytes; level++) {
                for (size_t i = 0; i + 1 < s->n_seg && s->total > s->max_bytes; i++) {
                        uint64_t counts[SPOOL_SEVERITIES] = { 0 };
                        char what[96];
                        int n;

                        if (s->seg[i].purged >= level)
                                continue;
                        n = segment_purge(s, i, level, counts);
                        if (no_space(n)) {
                                if (!s->room_blocked)
                                        agent_log("warning", "spool full (%zu bytes): cannot rewrite segment %"
                                                  PRIu64 " without its lower severities: %s; the spool stays "
                                                  "over its size until the disk has room", s->max_bytes,
                                                  s->seg[i].seq, strerror(-n));
                                s->room_blocked = true;
                                return;
                        }
                        if (n < 0) {
                                agent_log("error", "spool full: cannot rewrite segment %" PRIu64 ": %s",
                                          s->seg[i].seq, strerror(-n));
                                continue;
                        }
                        s->seg[i].purged = level;
                        if (n == 0)
                                continue;
                        s->ack.gen++;
                        s->dropped += (uint64_t)n;
                        for (int k = 0; k < SPOOL_SEVERITIES; k++)
                                s->dropped_sev[k] += counts[k];
                        dropped_save(s);
                        snprintf(what, sizeof(what), "segment %" PRIu64 " rewritten without its %s lines",
                                 s->seg[i].seq, level == 2 ? "informational and low" : "medium");
                        counts_log(s, what, counts);
                }
        }
        while (s->total > s->max_bytes && s->n_seg > 1)
                segment_drop_oldest(s);
        s->room_blocked = false;
}

/* Lists the segments in dir, oldest first. */
static int segments_scan(struct spool *s)
{
        DIR *d = opendir(s->dir);
        struct dirent *e;
        struct stat st;
        uint64_t seq;

        if (!d)
                return -errno;
        while ((e = readdir(d))) {
                size_t l = strlen(e->d_name);

                /* a rewrite cut short by a crash: the segment itself is whole */
                if (l > 10 && strcmp(e->d_name + l - 10, ".jsonl.tmp") == 0 &&
                    strncmp(e->d_name, s->name, strlen(s->name)) == 0) {
                        unlinkat(dirfd(d), e->d_name, 0);
                        continue;
                }
                if (segment_seq(s, e->d_name, &seq) < 0 || fstatat(dirfd(d), e->d_name, &st, 0) < 0)
                        continue;
                if (s->n_seg == SPOOL_SEGMENTS_MAX) {
                        /* keep the newest: replace the oldest held */
                        qsort(s->seg, s->n_seg, sizeof(s->seg[0]), segment_cmp);
                        if (seq < s->seg[0].seq)
                                continue;
                        s->total -= s->seg[0].bytes;
                        s->seg[0] = s->seg[--s->n_seg];
                }
                s->seg[s->n_seg++] = (struct segment){ seq, (uint64_t)st.st_size, 0 };
                s->total += (uint64_t)st.st_size;
        }
        closedir(d);
        qsort(s->seg, s->n_seg, sizeof(s->seg[0]), segment_cmp);
        return 0;
}

/* Begins segment seq (a new file) and makes it the one written. */
static int segment_begin(struct spool *s, uint64_t seq)
{
        char path[4200];
        int r = segment_path(s, seq, path, sizeof(path)), fd;

        if (r < 0)
                return r;
        /* the old one stays the one written when the new cannot be made */
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        if (s->fd >= 0) {
                fdatasync(s->fd);
                close(s->fd);
        }
        s->fd = fd;
        if (s->n_seg == SPOOL_SEGMENTS_MAX)
                segment_drop_oldest(s);
        s->seg[s->n_seg++] = (struct segment){ seq, 0, 0 };
        s->dirty = false;
        return 0;
}

/* True if the segment's file ends with a newline (or is empty). */
static bool segment_whole(const struct spool *s, const struct segment *g)
{
        char path[4200], c = '\n';
        int fd;

        if (g->bytes == 0 || segment_path(s, g->seq, path, sizeof(path)) < 0)
                return g->bytes == 0;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        if (pread(fd, &c, 1, (off_t)g->bytes - 1) != 1)
                c = 0;
        close(fd);
        return c == '\n';
}

/* Continues the last segment when it has room and no cut line, else
 * begins the next. */
static int spool_resume(struct spool *s)
{
        struct segment *last = s->n_seg ? &s->seg[s->n_seg - 1] : NULL;
        char path[4200];
        int r;

        if (!last)
                return segment_begin(s, s->ack.seq);
        if (last->bytes >= s->segment_bytes || !segment_whole(s, last))
                return segment_begin(s, last->seq + 1);
        r = segment_path(s, last->seq, path, sizeof(path));
        if (r < 0)
                return r;
        s->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
        return s->fd < 0 ? -errno : 0;
}

int spool_open(const char *dir, const char *name, size_t max_bytes, size_t segment_bytes,
               struct spool **ret)
{
        struct spool *s;
        int r;

        if (strlen(dir) >= sizeof(s->dir) - 64 || strlen(name) >= SPOOL_NAME_MAX || !name[0])
                return -ENAMETOOLONG;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        snprintf(s->dir, sizeof(s->dir), "%s", dir);
        snprintf(s->name, sizeof(s->name), "%s", name);
        s->max_bytes = max_bytes ? max_bytes : SPOOL_MAX_BYTES_DEFAULT;
        s->segment_bytes = segment_bytes ? segment_bytes : SPOOL_SEGMENT_BYTES_DEFAULT;
        s->fd = -1;
        vbuf_init(&s->held, SPOOL_HELD_MAX);
        pthread_mutex_init(&s->lock, NULL);
        dropped_load(s);
        ack_load(s);
        r = segments_scan(s);
        if (r == 0) {
                ack_apply(s);
                r = spool_resume(s);
        }
        if (r < 0) {
                spool_close(s);
                return r;
        }
        *ret = s;
        return 0;
}

void spool_close(struct spool *s)
{
        if (!s)
                return;
        if (s->fd >= 0) {
                spool_sync(s);
                close(s->fd);
        }
        if (s->held_lines > 0) {
                uint64_t counts[SPOOL_SEVERITIES] = { 0 };

                agent_log("error", "the alert spool's disk still has no room: %" PRIu64 " alert lines held in "
                          "memory are lost with the agent's exit (counted as dropped)", s->held_lines);
                s->dropped += lines_count(s->held.data, s->held.len, counts);
                for (int i = 0; i < SPOOL_SEVERITIES; i++)
                        s->dropped_sev[i] += counts[i];
                dropped_save(s);
        }
        vbuf_release(&s->held);
        pthread_mutex_destroy(&s->lock);
        free(s);
}

/* Writes one line to the newest segment, beginning the next one first
 * when it is full or a cut line ends it. A failed write is cut off again
 * (shrinking needs no space), so a retry leaves no cut line behind. */
static int line_write(struct spool *s, const char *line, size_t len)
{
        struct segment *cur = &s->seg[s->n_seg - 1];
        int r;

        if (s->torn || (cur->bytes > 0 && cur->bytes + len > s->segment_bytes)) {
                r = segment_begin(s, cur->seq + 1);
                if (r < 0)
                        return r;
                cur = &s->seg[s->n_seg - 1];
                s->torn = false;
        }
        r = util_fd_write(s->fd, line, len);
        if (r < 0) {
                if (ftruncate(s->fd, (off_t)cur->bytes) < 0)
                        s->torn = true;
                return r;
        }
        cur->bytes += len;
        s->total += len;
        s->dirty = true;
        return 0;
}

/* The bytes segment held_seq has on disk, where the held lines go on. */
static uint64_t held_base(const struct spool *s)
{
        const struct segment *last = &s->seg[s->n_seg - 1];

        return last->seq == s->held_seq ? last->bytes : 0;
}

/* Counts a line dropped for lack of room: logged the first time while the
 * disk is full, in the summary when it has room again. */
static void held_drop(struct spool *s, int sev, size_t len)
{
        s->dropped++;
        s->dropped_sev[sev]++;
        if (s->full_dropped++ == 0)
                agent_log("error", "the alert spool's disk has no room and %u bytes of alert lines already wait "
                          "in memory: a %s alert line of %zu bytes is dropped (counted; further drops are "
                          "summed up when the disk has room)", SPOOL_HELD_MAX, severity_keys[sev], len);
        dropped_save(s);
}

/* Removes from the held lines the oldest of the lowest severity if it is
 * below sev; the lines after it move, so positions read before are stale.
 * Returns 0, or -ENOSPC if none is. */
static int held_evict_below(struct spool *s, int sev)
{
        char *p = s->held.data, *end = p + s->held.len, *nl, *at = NULL;
        int low = sev;
        size_t len;

        for (; p < end && (nl = memchr(p, '\n', (size_t)(end - p))); p = nl + 1) {
                int v = line_severity(p, (size_t)(nl - p));

                if (v < low) {
                        low = v;
                        at = p;
                }
        }
        if (!at)
                return -ENOSPC;
        len = (size_t)((char *)memchr(at, '\n', (size_t)(end - at)) + 1 - at);
        memmove(at, at + len, (size_t)(end - at) - len);
        s->held.len -= len;
        s->held.data[s->held.len] = '\0';
        s->held_lines--;
        s->ack.gen++;
        held_drop(s, low, len);
        return 0;
}

/* Keeps a line the disk refused (err) until it can be written: after the
 * newest segment's bytes when it holds none (a segment just begun), else
 * from the start of the next. Returns 0, or err when it is dropped: no
 * room left, even after the held lines of a lower severity gave way. */
static int held_add(struct spool *s, const char *line, size_t len, int err)
{
        const struct segment *last = &s->seg[s->n_seg - 1];
        int sev = line_severity(line, len);

        if (!s->disk_full) {
                agent_log("error", "cannot write to the alert spool in '%s': %s; alert lines wait in memory "
                          "(at most %u bytes, lower severities give way first; they are sent all the same) "
                          "until the disk has room", s->dir, strerror(-err), SPOOL_HELD_MAX);
                s->disk_full = true;
        }
        if (s->held.len == 0) {
                uint64_t seq = last->bytes == 0 && !s->torn ? last->seq : last->seq + 1;

                /* never before the acknowledged position: there they
                 * would not be read */
                s->held_seq = seq > s->ack.seq ? seq : s->ack.seq;
        }
        while (len <= SPOOL_HELD_MAX && s->held.len + len > SPOOL_HELD_MAX)
                if (held_evict_below(s, sev) < 0)
                        break;
        if (vbuf_append(&s->held, line, len) < 0) {
                held_drop(s, sev, len);
                return err;
        }
        s->held_lines++;
        return 0;
}

/* Writes one held line at its place: the end of segment held_seq (begun
 * if need be). A write cut half-way that cannot be cut off again leaves a
 * cut line: the held lines then move to the next segment (positions read
 * before are stale). */
static int held_write(struct spool *s, const char *line, size_t len)
{
        struct segment *last = &s->seg[s->n_seg - 1];
        int r;

        if (last->seq != s->held_seq) {
                r = segment_begin(s, s->held_seq);
                if (r < 0)
                        return r;
                last = &s->seg[s->n_seg - 1];
                s->torn = false;
        }
        r = util_fd_write(s->fd, line, len);
        if (r < 0) {
                if (ftruncate(s->fd, (off_t)last->bytes) < 0) {
                        s->torn = true;
                        s->held_seq = last->seq + 1;
                        s->ack.gen++;
                }
                return r;
        }
        last->bytes += len;
        s->total += len;
        s->dirty = true;
        return 0;
}

/* Writes the held lines, oldest first, as far as the disk lets it; the
 * disk-full spell ends once some were written and none is left. Returns 0
 * when none is left, else the failed write's negative errno. */
static int held_flush(struct spool *s)
{
        char *p = s->held.data, *end = p + s->held.len, *nl;
        uint64_t written = 0;
        int r = 0;

        for (; p < end && (nl = memchr(p, '\n', (size_t)(end - p))); p = nl + 1) {
                r = held_write(s, p, (size_t)(nl + 1 - p));
                if (r < 0)
                        break;
                written++;
        }
        if (written == 0)
                return r;
        memmove(s->held.data, p, (size_t)(end - p));
        s->held.len = (size_t)(end - p);
        s->held.data[s->held.len] = '\0';
        s->held_lines -= written;
        if (r == 0) {
                agent_log("info", "the alert spool in '%s' can be written again: the alert lines held in "
                          "memory are written; %" PRIu64 " were dropped for lack of room meanwhile", s->dir,
                          s->full_dropped);
                s->disk_full = false;
                s->full_dropped = 0;
                if (s->total > s->max_bytes)
                        spool_make_room(s);
        }
        return r;
}

/* While the disk is full a line joins the held ones first, so that the
 * order stays, then they are tried. */
static int append_locked(struct spool *s, const char *line, size_t len)
{
        int r;

        if (len == 0 || line[len - 1] != '\n')
                return -EINVAL;
        if (s->disk_full) {
                r = held_add(s, line, len, -ENOSPC);
                held_flush(s);
                return r;
        }
        r = line_write(s, line, len);
        if (r < 0)
                return held_add(s, line, len, r);
        if (s->total > s->max_bytes)
                spool_make_room(s);
        return 0;
}

int spool_append(struct spool *s, const char *line, size_t len)
{
        int r;

        pthread_mutex_lock(&s->lock);
        r = append_locked(s, line, len);
        pthread_mutex_unlock(&s->lock);
        return r;
}

static int sync_locked(struct spool *s)
{
        if (!s->dirty || s->fd < 0)
                return 0;
        if (fdatasync(s->fd) < 0)
                return -errno;
        s->dirty = false;
        return 0;
}

/* Saves the acknowledged position once the lines before it reached the
 * disk. What the disk refuses stays in memory (the server has those lines)
 * and is saved at the next acknowledgement or sync: after a crash before
 * then, the lines since the last saved position are sent again and the
 * server answers "unchanged". */
static int ack_persist(struct spool *s)
{
        int r = sync_locked(s);

        if (r == 0)
                r = ack_save(s, &s->ack);
        if (r < 0 && !s->ack_unsaved)
                agent_log("warning", "cannot save the alert spool's acknowledged position in '%s': %s; it is "
                          "kept in memory and saved again at the next acknowledgement or sync", s->dir,
                          strerror(-r));
        else if (r == 0 && s->ack_unsaved)
                agent_log("info", "the alert spool's acknowledged position is saved again");
        s->ack_unsaved = r < 0;
        return r;
}

int spool_sync(struct spool *s)
{
        int r;

        pthread_mutex_lock(&s->lock);
        if (s->disk_full)
                held_flush(s);
        else if (s->room_blocked)
                spool_make_room(s);
        if (s->ack_unsaved)
                ack_persist(s);
        if (s->dropped_unsaved)
                dropped_save(s);
        r = sync_locked(s);
        pthread_mutex_unlock(&s->lock);
        return r;
}

/* The counters are read by the other thread too: under the lock. */
uint64_t spool_bytes(const struct spool *s)
{
        struct spool *w = (struct spool *)s;
        uint64_t v;

        pthread_mutex_lock(&w->lock);
        v = s->total;
        pthread_mutex_unlock(&w->lock);
        return v;
}

uint64_t spool_held(const struct spool *s)
{
        struct spool *w = (struct spool *)s;
        uint64_t v;

        pthread_mutex_lock(&w->lock);
        v = s->held.len;
        pthread_mutex_unlock(&w->lock);
        return v;
}

uint64_t spool_dropped(const struct spool *s)
{
        struct spool *w = (struct spool *)s;
        uint64_t v;

        pthread_mutex_lock(&w->lock);
        v = s->dropped;
        pthread_mutex_unlock(&w->lock);
        return v;
}

void spool_dropped_by_severity(const struct spool *s, uint64_t ret[static SPOOL_SEVERITIES])
{
        struct spool *w = (struct spool *)s;

        pthread_mutex_lock(&w->lock);
        memcpy(ret, s->dropped_sev, sizeof(s->dropped_sev));
        pthread_mutex_unlock(&w->lock);
}

struct spool_pos spool_acked(const struct spool *s)
{
        struct spool *w = (struct spool *)s;
        struct spool_pos v;

        pthread_mutex_lock(&w->lock);
        v = s->ack;
        pthread_mutex_unlock(&w->lock);
        return v;
}

bool spool_pending(const struct spool *s)
{
        struct spool *w = (struct spool *)s;
        const struct segment *last;
        bool pending;

        pthread_mutex_lock(&w->lock);
        last = &s->seg[s->n_seg - 1];
        pending = s->held.len > 0 || last->seq > s->ack.seq || (last->seq == s->ack.seq && last->bytes > s->ack.off);
        pthread_mutex_unlock(&w->lock);
        return pending;
}

/* A line longer than a chunk begins at *pos: finds its end and offers it
 * to fn as NULL. Returns 2 to go on, 1 if fn stopped, 0 if the line is cut
 * (no newline before end), or a negative errno. */
static int line_skip(int fd, uint64_t *pos, uint64_t end, char *buf, spool_line_fn fn, void *userdata)
{
        for (uint64_t q = *pos + SPOOL_READ_CHUNK; q < end;) {
                size_t want = end - q > SPOOL_READ_CHUNK ? SPOOL_READ_CHUNK : (size_t)(end - q);
                ssize_t got = pread(fd, buf, want, (off_t)q);
                const char *nl;

                if (got <= 0)
                        return got < 0 ? -errno : 0;
                nl = memchr(buf, '\n', (size_t)got);
                if (nl) {
                        size_t len = (size_t)(q + (uint64_t)(nl + 1 - buf) - *pos);

                        if (fn(NULL, len, userdata) > 0)
                                return 1;
                        *pos += len;
                        return 2;
                }
                q += (uint64_t)got;
        }
        return 0;
}

/* Offers the whole lines of fd's bytes [*pos, end) to fn; moves *pos past
 * what was taken. Returns 1 if fn stopped, 0 at the end (a cut last line
 * left), or a negative errno. */
static int segment_read(int fd, uint64_t *pos, uint64_t end, char *buf, spool_line_fn fn, void *userdata)
{
        while (*pos < end) {
                size_t want = end - *pos > SPOOL_READ_CHUNK ? SPOOL_READ_CHUNK : (size_t)(end - *pos);
                ssize_t got = pread(fd, buf, want, (off_t)*pos);
                const char *p = buf, *nl;
                int r;

                if (got < 0)
                        return -errno;
                if (got == 0)
                        return 0;
                while ((nl = memchr(p, '\n', (size_t)(buf + got - p)))) {
                        if (fn(p, (size_t)(nl + 1 - p), userdata) > 0)
                                return 1;
                        *pos += (uint64_t)(nl + 1 - p);
                        p = nl + 1;
                }
                if (p > buf)
                        continue;
                if ((size_t)got < SPOOL_READ_CHUNK)
                        return 0;       /* a cut last line */
                r = line_skip(fd, pos, end, buf, fn, userdata);
                if (r != 2)
                        return r;
        }
        return 0;
}

/* Offers the held lines after *pos (all of them, when it is before
 * segment held_seq) to fn, moving *pos past those taken. Returns 0 or 1
 * (fn stopped). */
static int held_read(const struct spool *s, struct spool_pos *pos, spool_line_fn fn, void *userdata)
{
        uint64_t base = held_base(s);
        const char *p, *end = s->held.data + s->held.len, *nl;

        if (pos->seq < s->held_seq) {
                pos->seq = s->held_seq;
                pos->off = base;
        }
        if (pos->seq != s->held_seq || pos->off < base || pos->off - base > s->held.len)
                return 0;
        p = s->held.data + (pos->off - base);
        for (; p < end && (nl = memchr(p, '\n', (size_t)(end - p))); p = nl + 1) {
                if (fn(p, (size_t)(nl + 1 - p), userdata) > 0)
                        return 1;
                pos->off += (uint64_t)(nl + 1 - p);
        }
        return 0;
}

static int read_locked(struct spool *s, spool_line_fn fn, void *userdata, char *buf, struct spool_pos *ret_end)
{
        struct spool_pos pos = s->ack;
        char path[4200];
        int r = 0;

        pos.gen = s->ack.gen;
        for (size_t i = 0; i < s->n_seg && r == 0; i++) {
                const struct segment *g = &s->seg[i];
                bool newest = i + 1 == s->n_seg;
                uint64_t at;
                int fd;

                if (g->seq < pos.seq)
                        continue;
                at = g->seq == pos.seq ? pos.off : 0;
                if ((r = segment_path(s, g->seq, path, sizeof(path))) < 0)
                        break;
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0) {
                        r = -errno;
                        break;
                }
                r = segment_read(fd, &at, g->bytes, buf, fn, userdata);
                close(fd);
                pos.seq = g->seq;
                pos.off = at;
                /* an older segment read to its end (a cut last line
                 * included) is done: the position moves to the next */
                if (r == 0 && !newest) {
                        pos.seq = s->seg[i + 1].seq;
                        pos.off = 0;
                }
        }
        if (r == 0 && s->held.len > 0)
                r = held_read(s, &pos, fn, userdata);
        if (r < 0)
                return r;
        *ret_end = pos;
        return 0;
}

int spool_read(struct spool *s, spool_line_fn fn, void *userdata, struct spool_pos *ret_end)
{
        char *buf = malloc(SPOOL_READ_CHUNK);
        int r;

        if (!buf)
                return -ENOMEM;
        pthread_mutex_lock(&s->lock);
        if (s->disk_full)
                held_flush(s);
        r = read_locked(s, fn, userdata, buf, ret_end);
        pthread_mutex_unlock(&s->lock);
        free(buf);
        return r;
}

/* The first k bytes of the held lines reached the server: they leave
 * memory, and the position moves to the start of a new segment, where the
 * rest will be written (what segment held_seq has on disk is before them). */
static void held_acked(struct spool *s, uint64_t k)
{
        if (k > s->held.len)
                k = s->held.len;
        for (const char *p = s->held.data; p < s->held.data + k; p++)
                s->held_lines -= *p == '\n';
        memmove(s->held.data, s->held.data + k, s->held.len - k);
        s->held.len -= k;
        s->held.data[s->held.len] = '\0';
        s->held_seq++;
        s->ack.seq = s->held_seq;
        s->ack.off = 0;
        s->ack.gen++;
}

int spool_ack(struct spool *s, const struct spool_pos *pos)
{
        char path[4200];
        int r = 0;

        pthread_mutex_lock(&s->lock);
        if (pos->gen != s->ack.gen) {
                r = -ESTALE;
                goto out;
        }
        if (pos->seq == s->ack.seq && pos->off == s->ack.off)
                goto out;
        if (s->held.len > 0 && pos->seq == s->held_seq && pos->off > held_base(s)) {
                held_acked(s, pos->off - held_base(s));
        } else {
                s->ack.seq = pos->seq;
                s->ack.off = pos->off;
        }
        /* saved before the segments it passes go, so that a restart never
         * sends them again; when the disk refuses, deleting them first may
         * give it the room */
        ack_persist(s);
        while (s->n_seg > 1 && s->seg[0].seq < s->ack.seq) {
                if (segment_path(s, s->seg[0].seq, path, sizeof(path)) == 0)
                        unlink(path);
                segment_forget(s, 0);
        }
        if (s->ack_unsaved)
                ack_persist(s);
out:
        pthread_mutex_unlock(&s->lock);
        return r;
}
