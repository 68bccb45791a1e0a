/* procfs: bounded readers of /proc/PID. See procfs.h. */
#include "procfs/procfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STAT_FIELDS_NEEDED 22           /* starttime is field 22 */
#define DELETED_SUFFIX " (deleted)"
#define MEMFD_PREFIX "/memfd:"
#define FD_LINK_MAX 256

static bool has_prefix(const char *s, size_t len, const char *prefix)
{
        size_t n = strlen(prefix);

        return len >= n && memcmp(s, prefix, n) == 0;
}

static bool has_suffix(const char *s, size_t len, const char *suffix)
{
        size_t n = strlen(suffix);

        return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* Parses [-]digits spanning exactly s..s+len. A negative value is stored as
 * its two's complement in 32 bits, as the kernel's int fields are. */
static int parse_num(const char *s, size_t len, bool allow_neg, uint64_t max, uint64_t *ret)
{
        bool neg = false;
        uint64_t v = 0;

        if (len > 0 && s[0] == '-' && allow_neg) {
                neg = true;
                s++;
                len--;
                max = (uint64_t)INT32_MAX + 1;
        }
        if (len == 0)
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                if (v > (max - (uint64_t)(s[i] - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t)(s[i] - '0');
        }
        *ret = neg ? (uint64_t)(uint32_t)(-(int64_t)v) : v;
        return 0;
}

/* Stores the numeric stat field number `field` (1-based) that we keep. */
static int stat_field(struct procfs_stat *st, int field, const char *tok, size_t n)
{
        uint64_t v;
        int r;

        switch (field) {
        case 3:
                if (n != 1 || tok[0] <= ' ' || tok[0] > '~')
                        return -EINVAL;
                st->state = tok[0];
                return 0;
        case 4: case 5: case 6: case 20:
                r = parse_num(tok, n, false, INT32_MAX, &v);
                break;
        case 7:
                r = parse_num(tok, n, true, UINT32_MAX, &v);
                break;
        case 9:
                r = parse_num(tok, n, false, UINT32_MAX, &v);
                break;
        case 22:
                r = parse_num(tok, n, false, UINT64_MAX, &v);
                break;
        default:
                /* fields we skip are still numbers; some are negative (nice, ...) */
                return parse_num(tok, n, true, UINT64_MAX, &v);
        }
        if (r < 0)
                return r;
        switch (field) {
        case 4: st->ppid = (uint32_t)v; break;
        case 5: st->pgrp = (uint32_t)v; break;
        case 6: st->session = (uint32_t)v; break;
        case 7: st->tty_nr = (uint32_t)v; break;
        case 9: st->flags = (uint32_t)v; break;
        case 20: st->num_threads = (uint32_t)v; break;
        case 22: st->start_ticks = v; break;
        }
        return 0;
}

int procfs_stat_parse(const char *buf, size_t len, struct procfs_stat *ret)
{
        struct procfs_stat st = { 0 };
        size_t open, close, comm_len, pos;
        uint64_t v;
        int field, r;

        for (open = 0; open < len && buf[open] != ' '; open++)
                ;
        if (open + 1 >= len || buf[open + 1] != '(')
                return -EINVAL;
        r = parse_num(buf, open, false, INT32_MAX, &v);
        if (r < 0)
                return r;
        st.pid = (uint32_t)v;
        open++;
        /* comm may hold ')' itself: it ends at the last ')' of the text */
        for (close = len - 1; close > open && buf[close] != ')'; close--)
                ;
        if (close == open)
                return -EINVAL;
        comm_len = close - open - 1;
        if (memchr(buf + open + 1, '\0', comm_len))
                return -EINVAL;
        st.comm_truncated = comm_len > PROCFS_COMM_MAX - 1;
        if (st.comm_truncated)
                comm_len = PROCFS_COMM_MAX - 1;
        memcpy(st.comm, buf + open + 1, comm_len);
        st.comm[comm_len] = '\0';

        /* fields 3.. follow, one space before each; the line may end in '\n' */
        if (len > close + 1 && buf[len - 1] == '\n')
                len--;
        pos = close + 1;
        for (field = 3; field <= STAT_FIELDS_NEEDED; field++) {
                size_t end;

                if (pos >= len || buf[pos] != ' ')
                        return -EINVAL;
                pos++;
                for (end = pos; end < len && buf[end] != ' '; end++)
                        ;
                r = stat_field(&st, field, buf + pos, end - pos);
                if (r < 0)
                        return r;
                pos = end;
        }
        st.kthread = (st.flags & PROCFS_KTHREAD_FLAG) != 0;
        *ret = st;
        return 0;
}

/* Parses "\t0\t1000\t1000\t1000" (whitespace-separated ids) into ids[n]. */
static int parse_ids(const char *s, size_t len, uint32_t *ids, size_t n)
{
        size_t pos = 0, got = 0;

        for (;;) {
                size_t start;
                uint64_t v;
                int r;

                while (pos < len && (s[pos] == ' ' || s[pos] == '\t'))
                        pos++;
                if (pos == len)
                        break;
                if (got == n)
                        return -EINVAL;
                for (start = pos; pos < len && s[pos] != ' ' && s[pos] != '\t'; pos++)
                        ;
                r = parse_num(s + start, pos - start, false, UINT32_MAX, &v);
                if (r < 0)
                        return r;
                ids[got++] = (uint32_t)v;
        }
        return got == n ? 0 : -EINVAL;
}

int procfs_status_parse(const char *buf, size_t len, struct procfs_status *ret)
{
        struct procfs_status st = { 0 };
        bool have_uid = false, have_gid = false;
        size_t pos = 0;
        int r;

        while (pos < len) {
                const char *line = buf + pos, *nl;
                size_t n;

                nl = memchr(line, '\n', len - pos);
                if (!nl)
                        break;          /* a line cut short says nothing */
                n = (size_t)(nl - line);
                pos += n + 1;
                if (has_prefix(line, n, "Uid:")) {
                        if (have_uid)
                                return -EINVAL;
                        r = parse_ids(line + 4, n - 4, st.uid, 4);
                        have_uid = true;
                } else if (has_prefix(line, n, "Gid:")) {
                        if (have_gid)
                                return -EINVAL;
                        r = parse_ids(line + 4, n - 4, st.gid, 4);
                        have_gid = true;
                } else if (has_prefix(line, n, "Tgid:")) {
                        r = parse_ids(line + 5, n - 5, &st.tgid, 1);
                } else if (has_prefix(line, n, "PPid:")) {
                        r = parse_ids(line + 5, n - 5, &st.ppid, 1);
                } else {
                        r = 0;
                }
                if (r < 0)
                        return r;
        }
        if (!have_uid || !have_gid)
                return -EINVAL;
        *ret = st;
        return 0;
}

int procfs_loginuid_parse(const char *buf, size_t len, uint32_t *ret)
{
        uint64_t v;
        int r;

        if (len > 0 && buf[len - 1] == '\n')
                len--;
        r = parse_num(buf, len, false, UINT32_MAX, &v);
        if (r < 0)
                return r;
        *ret = (uint32_t)v;
        return 0;
}

int procfs_cmdline_pack(const char *raw, size_t raw_len, bool raw_cut, char *out, size_t out_size,
                        uint32_t argc_max, struct procfs_args *ret)
{
        struct procfs_args a = { .truncated = raw_cut };
        size_t pos = 0;

        if (out_size == 0)
                return -EINVAL;
        while (pos < raw_len) {
                const char *nul = memchr(raw + pos, '\0', raw_len - pos);
                size_t n = nul ? (size_t)(nul - (raw + pos)) : raw_len - pos;
                size_t room = out_size - a.len, keep;
                bool cut;

                if (a.argc == argc_max || room == 0) {
                        a.truncated = true;
                        break;
                }
                cut = n + 1 > room;
                keep = cut ? room - 1 : n;
                memcpy(out + a.len, raw + pos, keep);
                out[a.len + keep] = '\0';
                a.len += (uint32_t)(keep + 1);
                a.argc++;
                if (cut) {
                        a.truncated = true;
                        break;
                }
                pos += n + 1;
        }
        *ret = a;
        return 0;
}

enum procfs_fd_kind procfs_fd_kind_of(const char *t, size_t len)
{
        if (has_prefix(t, len, "socket:["))
                return PROCFS_FD_SOCKET;
        if (has_prefix(t, len, "/dev/pts/") && len > 9) {
                for (size_t i = 9; i < len; i++)
                        if (t[i] < '0' || t[i] > '9')
                                return PROCFS_FD_OTHER;
                return PROCFS_FD_TTY;
        }
        if (has_prefix(t, len, "/dev/tty")) {
                if (memchr(t + 8, '/', len - 8) || memchr(t + 8, '\0', len - 8))
                        return PROCFS_FD_OTHER;
                return PROCFS_FD_TTY;
        }
        if (len == 12 && memcmp(t, "/dev/console", 12) == 0)
                return PROCFS_FD_TTY;
        return PROCFS_FD_OTHER;
}

int procfs_cgroup_v2_path(const char *buf, size_t len, const char **ret_path, size_t *ret_len)
{
        size_t pos = 0;

        while (pos < len) {
                const char *line = buf + pos, *nl = memchr(line, '\n', len - pos);
                size_t n = nl ? (size_t)(nl - line) : len - pos;

                pos += n + 1;
                if (!has_prefix(line, n, "0::"))
                        continue;
                if (n < 4 || line[3] != '/' || memchr(line, '\0', n))
                        return -EINVAL;
                *ret_path = line + 3;
                *ret_len = n - 3;
                return 0;
        }
        return -ENOENT;
}

int procfs_pid_open(const char *root, uint32_t pid)
{
        char path[4096];
        int fd, n;

        n = snprintf(path, sizeof(path), "%s/%u", root ? root : PROCFS_ROOT_DEFAULT, pid);
        if (n < 0 || (size_t)n >= sizeof(path))
                return -ENAMETOOLONG;
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* Reads the file name under dirfd into buf (at most size bytes) and says
 * whether more was left. Returns 0 or a negative errno. */
static int read_at(int dirfd, const char *name, char *buf, size_t size, size_t *ret_len, bool *ret_more)
{
        size_t len = 0;
        char extra;
        ssize_t n;
        int fd, r = 0;

        fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        while (len < size) {
                n = read(fd, buf + len, size - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        goto out_close;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        *ret_more = false;
        if (len == size) {
                do
                        n = read(fd, &extra, 1);
                while (n < 0 && errno == EINTR);
                if (n < 0) {
                        r = -errno;
                        goto out_close;
                }
                *ret_more = n > 0;
        }
        *ret_len = len;
out_close:
        close(fd);
        return r;
}

int procfs_stat_read(int dirfd, struct procfs_stat *ret)
{
        char buf[PROCFS_STAT_MAX];
        size_t len;
        bool more;
        int r;

        r = read_at(dirfd, "stat", buf, sizeof(buf), &len, &more);
        if (r < 0)
                return r;
        if (more)
                return -E2BIG;
        return procfs_stat_parse(buf, len, ret);
}

int procfs_status_read(int dirfd, struct procfs_status *ret)
{
        char buf[PROCFS_STATUS_MAX];
        size_t len;
        bool more;
        int r;

        /* the Groups: line can be long; the lines we need come before it,
         * and the parser ignores a last line cut short */
        r = read_at(dirfd, "status", buf, sizeof(buf), &len, &more);
        if (r < 0)
                return r;
        return procfs_status_parse(buf, len, ret);
}

int procfs_loginuid_read(int dirfd, uint32_t *ret)
{
        char buf[16];
        size_t len;
        bool more;
        int r;

        r = read_at(dirfd, "loginuid", buf, sizeof(buf), &len, &more);
        if (r < 0)
                return r;
        if (more)
                return -E2BIG;
        return procfs_loginuid_parse(buf, len, ret);
}

int procfs_cmdline_read(int dirfd, char *out, size_t out_size, uint32_t argc_max,
                        struct procfs_args *ret)
{
        char buf[PROCFS_CMDLINE_MAX + 1];
        size_t len;
        bool more;
        int r;

        if (out_size == 0 || out_size > PROCFS_CMDLINE_MAX)
                return -EINVAL;
        /* one byte more than out holds, so that a cut is seen */
        r = read_at(dirfd, "cmdline", buf, out_size + 1, &len, &more);
        if (r < 0)
                return r;
        return procfs_cmdline_pack(buf, len, more, out, out_size, argc_max, ret);
}

/* Reads a link under dirfd into out, NUL-terminated. */
static int link_read(int dirfd, const char *name, char *out, size_t out_size, bool *ret_truncated)
{
        ssize_t n;

        if (out_size < 2)
                return -EINVAL;
        n = readlinkat(dirfd, name, out, out_size);
        if (n < 0)
                return -errno;
        *ret_truncated = (size_t)n >= out_size;
        if (*ret_truncated)
                n = (ssize_t)out_size - 1;
        out[n] = '\0';
        return 0;
}

/* True if path, resolved inside the process's root, is the very file that
 * the exe link points to: then " (deleted)" is part of the real name. */
static bool exe_path_is_live(int dirfd, const char *path)
{
        char rel[4 + 4096 + 1];
        struct stat a, b;
        int n;

        n = snprintf(rel, sizeof(rel), "root%s", path);
        if (n < 0 || (size_t)n >= sizeof(rel))
                return false;
        if (fstatat(dirfd, "exe", &a, 0) < 0 || fstatat(dirfd, rel, &b, 0) < 0)
                return false;
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int procfs_exe_read(int dirfd, char *out, size_t out_size, uint32_t *ret_flags)
{
        uint32_t flags = 0;
        bool truncated;
        size_t len;
        int r;

        r = link_read(dirfd, "exe", out, out_size, &truncated);
        if (r < 0)
                return r;
        len = strlen(out);
        if (truncated)
                flags |= PROCFS_PATH_TRUNCATED;
        else if (has_suffix(out, len, DELETED_SUFFIX) && out[0] == '/' &&
                 !exe_path_is_live(dirfd, out)) {
                len -= strlen(DELETED_SUFFIX);
                out[len] = '\0';
                flags |= has_prefix(out, len, MEMFD_PREFIX) ? PROCFS_EXE_MEMFD : PROCFS_EXE_DELETED;
        }
        *ret_flags = flags;
        return 0;
}

int procfs_exe_mode_read(int dirfd, uint32_t *ret_mode)
{
        struct stat st;

        if (fstatat(dirfd, "exe", &st, 0) < 0)
                return -errno;
        *ret_mode = (uint32_t)st.st_mode;
        return 0;
}

int procfs_cwd_read(int dirfd, char *out, size_t out_size, bool *ret_truncated)
{
        return link_read(dirfd, "cwd", out, out_size, ret_truncated);
}

int procfs_fd_kind_read(int dirfd, int fd, enum procfs_fd_kind *ret)
{
        char name[32], target[FD_LINK_MAX];
        bool truncated;
        int r;

        if (fd < 0)
                return -EINVAL;
        snprintf(name, sizeof(name), "fd/%d", fd);
        r = link_read(dirfd, name, target, sizeof(target), &truncated);
        if (r < 0)
                return r;
        *ret = procfs_fd_kind_of(target, strlen(target));
        return 0;
}

int procfs_cgroup_id_read(int dirfd, const char *cgroup_root, uint64_t *ret)
{
        char buf[PROCFS_CGROUP_MAX], path[4096];
        const char *p;
        size_t len, plen;
        struct stat st;
        bool more;
        int r, n;

        r = read_at(dirfd, "cgroup", buf, sizeof(buf), &len, &more);
        if (r < 0)
                return r;
        if (more)
                return -E2BIG;
        r = procfs_cgroup_v2_path(buf, len, &p, &plen);
        if (r < 0)
                return r;
        n = snprintf(path, sizeof(path), "%s%.*s", cgroup_root, (int)plen, p);
        if (n < 0 || (size_t)n >= sizeof(path))
                return -ENAMETOOLONG;
        if (stat(path, &st) < 0)
                return -errno;
        *ret = (uint64_t)st.st_ino;
        return 0;
}
