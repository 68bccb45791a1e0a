/* spool: segment files of JSON lines with a total size cap (see spool.h).
 *
 * The segments present are listed once at open (sorted by sequence) and
 * then tracked in memory; the segment being written is the last. Dropping
 * counts the newlines of the segment it deletes (a segment is at most a few
 * MiB, read in fixed chunks), so the count is exact even across restarts. */
#include "agent/src/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/strutil.h"

struct segment {
        uint64_t seq;
        uint64_t bytes;
};

struct spool {
        char dir[4096];
        char name[SPOOL_NAME_MAX];
        size_t max_bytes, segment_bytes;
        struct segment seg[SPOOL_SEGMENTS_MAX];
        size_t n_seg;
        uint64_t total, dropped;
        int fd;                         /* the last segment, open for appending; -1 if none */
        bool dirty;                     /* written since the last sync */
        bool torn;                      /* a write failed half-way: begin a new segment */
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

static uint64_t lines_count(const char *path)
{
        char buf[65536];
        uint64_t n = 0;
        ssize_t got;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return 0;
        while ((got = read(fd, buf, sizeof(buf))) > 0)
                for (ssize_t i = 0; i < got; i++)
                        n += buf[i] == '\n';
        close(fd);
        return n;
}

static void dropped_save(const struct spool *s)
{
        char path[4200], text[32];
        int n = snprintf(text, sizeof(text), "%" PRIu64 "\n", s->dropped);

        if (snprintf(path, sizeof(path), "%s/%s.dropped", s->dir, s->name) < (int)sizeof(path))
                util_file_write(path, text, (size_t)n, 0600);
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
}

/* Deletes the oldest segment, counting its lines as dropped. */
static void segment_drop_oldest(struct spool *s)
{
        char path[4200];

        if (segment_path(s, s->seg[0].seq, path, sizeof(path)) == 0) {
                s->dropped += lines_count(path);
                unlink(path);
        }
        s->total -= s->seg[0].bytes;
        memmove(s->seg, s->seg + 1, (s->n_seg - 1) * sizeof(s->seg[0]));
        s->n_seg--;
        dropped_save(s);
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
                s->seg[s->n_seg++] = (struct segment){ seq, (uint64_t)st.st_size };
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
        int r = segment_path(s, seq, path, sizeof(path));

        if (r < 0)
                return r;
        if (s->fd >= 0) {
                fdatasync(s->fd);
                close(s->fd);
        }
        s->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (s->fd < 0)
                return -errno;
        if (s->n_seg == SPOOL_SEGMENTS_MAX)
                segment_drop_oldest(s);
        s->seg[s->n_seg++] = (struct segment){ seq, 0 };
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
                return segment_begin(s, 1);
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
        dropped_load(s);
        r = segments_scan(s);
        if (r == 0)
                r = spool_resume(s);
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
        free(s);
}

static int write_all(int fd, const char *p, size_t len)
{
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

int spool_append(struct spool *s, const char *line, size_t len)
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
        r = write_all(s->fd, line, len);
        if (r < 0) {
                s->torn = true;
                return r;
        }
        cur->bytes += len;
        s->total += len;
        s->dirty = true;
        while (s->total > s->max_bytes && s->n_seg > 1)
                segment_drop_oldest(s);
        return 0;
}

int spool_sync(struct spool *s)
{
        if (!s->dirty || s->fd < 0)
                return 0;
        if (fdatasync(s->fd) < 0)
                return -errno;
        s->dirty = false;
        return 0;
}

uint64_t spool_bytes(const struct spool *s)
{
        return s->total;
}

uint64_t spool_dropped(const struct spool *s)
{
        return s->dropped;
}
