/* Unit tests for lib/procfs: each parser on good, tricky and bad bytes
 * (comm with spaces and parentheses, kernel threads, caps, numbers out of
 * range, nothing written on failure), then the readers on the fake /proc
 * trees of tests/data/procfs/ and on this very process. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include "procfs/procfs.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static const char *data_path(const char *rel)
{
        static char path[4096];
        const char *dir = getenv("VIGIL_TEST_DATA");
        int n;

        assert_non_null(dir);
        n = snprintf(path, sizeof(path), "%s/procfs/%s", dir, rel);
        assert_true(n > 0 && (size_t)n < sizeof(path));
        return path;
}

static int fake_open(uint32_t pid)
{
        return procfs_pid_open(data_path("proc"), pid);
}

static void test_stat_parse(void **state)
{
        struct procfs_stat st;

        assert_int_equal(procfs_stat_parse(S("8209 (cat) R 8207 8207 6055 34816 -1 4194304 101 0 0 0 0 0 0 0 "
                                             "20 0 1 0 326991 3133440 421 18446744073709551615 0 0\n"), &st), 0);
        assert_int_equal(st.pid, 8209);
        assert_string_equal(st.comm, "cat");
        assert_false(st.comm_truncated);
        assert_int_equal(st.state, 'R');
        assert_int_equal(st.ppid, 8207);
        assert_int_equal(st.pgrp, 8207);
        assert_int_equal(st.session, 6055);
        assert_int_equal(st.tty_nr, 34816);
        assert_int_equal(st.flags, 4194304);
        assert_int_equal(st.num_threads, 1);
        assert_int_equal(st.start_ticks, 326991);
        assert_false(st.kthread);

        /* exactly 22 fields, no newline */
        assert_int_equal(procfs_stat_parse(S("1 (init) S 0 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 18446744073709551615"), &st), 0);
        assert_int_equal(st.start_ticks, UINT64_MAX);
        /* a kernel thread */
        assert_int_equal(procfs_stat_parse(S("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 9 0 0\n"), &st), 0);
        assert_true(st.kthread);
        assert_int_equal(st.ppid, 0);
}

static void test_stat_comm(void **state)
{
        struct procfs_stat st;

        assert_int_equal(procfs_stat_parse(S("101 (a) (b) R 100 101 100 0 -1 0 1 2 3 4 5 6 -7 -8 20 -5 3 0 42 1\n"), &st), 0);
        assert_string_equal(st.comm, "a) (b");
        assert_int_equal(st.ppid, 100);
        assert_int_equal(st.num_threads, 3);
        assert_int_equal(st.start_ticks, 42);
        /* comm ending in ')' and holding a newline and a fake field list */
        assert_int_equal(procfs_stat_parse(S("7 (x) S 9 9 9) S 1 2 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 77\n"), &st), 0);
        assert_string_equal(st.comm, "x) S 9 9 9");
        assert_int_equal(st.ppid, 1);
        assert_int_equal(procfs_stat_parse(S("7 (a\nb)) S 1 2 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 77\n"), &st), 0);
        assert_string_equal(st.comm, "a\nb)");
        /* empty comm */
        assert_int_equal(procfs_stat_parse(S("7 () S 1 2 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 77\n"), &st), 0);
        assert_string_equal(st.comm, "");
        /* kernel threads' names reach 64 bytes: cut at 15, and said so */
        assert_int_equal(procfs_stat_parse(S("16 (rcu_exp_par_gp_kthread_worker/0) S 2 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 "
                                             "20 0 1 0 12 0\n"), &st), 0);
        assert_string_equal(st.comm, "rcu_exp_par_gp_");
        assert_true(st.comm_truncated);
        assert_int_equal(procfs_stat_parse(S("16 (123456789012345) S 2 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 12\n"), &st), 0);
        assert_string_equal(st.comm, "123456789012345");
        assert_false(st.comm_truncated);
}

static void test_stat_bad(void **state)
{
        static const char *const bad[] = {
                "",
                "1",
                "1 ",
                "1 (",
                "1 (x",
                "1 x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
                "1(x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
                " 1 (x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
                "-1 (x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
                "a (x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
                "1 (x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0",         /* 21 fields */
                "1 (x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 ",        /* empty 22nd */
                "1 (x) S  0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",      /* two spaces */
                "1 (x) SS 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",      /* state */
                "1 (x) S -3 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",      /* negative ppid */
                "1 (x) S 0 1 1 0 -1 0x10 0 0 0 0 0 0 0 0 20 0 1 0 5",    /* hex flags */
                "1 (x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 +5",
                "1 (x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5x",
                "1 (x) S 0 1 1 0 - 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
                "1 (x)\nS 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
        };
        struct procfs_stat st;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                memset(&st, 0xa5, sizeof(st));
                if (procfs_stat_parse(bad[i], strlen(bad[i]), &st) != -EINVAL)
                        fail_msg("accepted bad stat #%zu: '%s'", i, bad[i]);
                assert_int_equal(st.pid, 0xa5a5a5a5);   /* nothing written */
        }
        /* a NUL inside comm */
        assert_int_equal(procfs_stat_parse(S("1 (a\0b) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5"), &st), -EINVAL);
        /* numbers out of range */
        assert_int_equal(procfs_stat_parse(S("2147483648 (x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5"), &st), -ERANGE);
        assert_int_equal(procfs_stat_parse(S("1 (x) S 2147483648 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5"), &st), -ERANGE);
        assert_int_equal(procfs_stat_parse(S("1 (x) S 0 1 1 0 -1 4294967296 0 0 0 0 0 0 0 0 20 0 1 0 5"), &st), -ERANGE);
        assert_int_equal(procfs_stat_parse(S("1 (x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 18446744073709551616"), &st), -ERANGE);
        assert_int_equal(procfs_stat_parse(S("1 (x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 -2147483649 1 0 5"), &st), -ERANGE);
        /* the parser reads only len bytes: a prefix of a good line is bad */
        assert_int_equal(procfs_stat_parse("1 (x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5", 20, &st), -EINVAL);
}

static void test_status_parse(void **state)
{
        struct procfs_status st;

        assert_int_equal(procfs_status_parse(S("Name:\tbash\nTgid:\t100\nPPid:\t99\nUid:\t1000\t1001\t1002\t1003\n"
                                               "Gid:\t2000\t2001\t2002\t2003\nGroups:\t24 25\n"), &st), 0);
        assert_int_equal(st.uid[PROCFS_ID_REAL], 1000);
        assert_int_equal(st.uid[PROCFS_ID_EFFECTIVE], 1001);
        assert_int_equal(st.uid[PROCFS_ID_SAVED], 1002);
        assert_int_equal(st.uid[PROCFS_ID_FS], 1003);
        assert_int_equal(st.gid[PROCFS_ID_REAL], 2000);
        assert_int_equal(st.gid[PROCFS_ID_FS], 2003);
        assert_int_equal(st.tgid, 100);
        assert_int_equal(st.ppid, 99);
        /* spaces as separators, the largest id, no Tgid/PPid */
        assert_int_equal(procfs_status_parse(S("Uid: 4294967295 0 0 0 \nGid:\t0\t0\t0\t0\n"), &st), 0);
        assert_int_equal(st.uid[0], UINT32_MAX);
        assert_int_equal(st.tgid, 0);
        /* a Name: that looks like Uid: is only a name */
        assert_int_equal(procfs_status_parse(S("Name:\tUid:\t1\nUid:\t5\t5\t5\t5\nGid:\t6\t6\t6\t6\n"), &st), 0);
        assert_int_equal(st.uid[0], 5);
}

static void test_status_bad(void **state)
{
        static const char *const bad[] = {
                "",
                "Uid:\t0\t0\t0\t0\n",                                   /* no Gid */
                "Gid:\t0\t0\t0\t0\n",
                "Uid:\t0\t0\t0\nGid:\t0\t0\t0\t0\n",                    /* three ids */
                "Uid:\t0\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n",              /* five */
                "Uid:\t0\t0\t0\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n",
                "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t-1\t0\n",
                "Uid:\t0\t0\t0\tx\nGid:\t0\t0\t0\t0\n",
                "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0",                   /* last line cut short */
                "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nTgid:\tx\n",
                "Uid:\n Gid:\t0\t0\t0\t0\n",
        };
        struct procfs_status st;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                memset(&st, 0xa5, sizeof(st));
                if (procfs_status_parse(bad[i], strlen(bad[i]), &st) != -EINVAL)
                        fail_msg("accepted bad status #%zu", i);
                assert_int_equal(st.uid[0], 0xa5a5a5a5);
        }
        assert_int_equal(procfs_status_parse(S("Uid:\t4294967296\t0\t0\t0\nGid:\t0\t0\t0\t0\n"), &st), -ERANGE);
        /* a cut read of "Uid:\t1000..." must not be taken for uid 10 */
        assert_int_equal(procfs_status_parse(S("Gid:\t0\t0\t0\t0\nUid:\t1000\t1000\t1000\t10"), &st), -EINVAL);
}

static void test_loginuid_parse(void **state)
{
        uint32_t v = 7;

        assert_int_equal(procfs_loginuid_parse(S("1000"), &v), 0);
        assert_int_equal(v, 1000);
        assert_int_equal(procfs_loginuid_parse(S("4294967295\n"), &v), 0);
        assert_int_equal(v, UINT32_MAX);
        v = 7;
        assert_int_equal(procfs_loginuid_parse(S(""), &v), -EINVAL);
        assert_int_equal(procfs_loginuid_parse(S("\n"), &v), -EINVAL);
        assert_int_equal(procfs_loginuid_parse(S("-1"), &v), -EINVAL);
        assert_int_equal(procfs_loginuid_parse(S("12a"), &v), -EINVAL);
        assert_int_equal(procfs_loginuid_parse(S("1000\n\n"), &v), -EINVAL);
        assert_int_equal(procfs_loginuid_parse(S("4294967296"), &v), -ERANGE);
        assert_int_equal(v, 7);
}

static void test_cmdline_pack(void **state)
{
        struct procfs_args a;
        char out[16];

        assert_int_equal(procfs_cmdline_pack(S("ls\0-l\0/tmp\0"), false, out, sizeof(out), 64, &a), 0);
        assert_int_equal(a.argc, 3);
        assert_int_equal(a.len, 11);
        assert_false(a.truncated);
        assert_memory_equal(out, "ls\0-l\0/tmp\0", 11);
        /* the last entry without its NUL (setproctitle) gets one */
        assert_int_equal(procfs_cmdline_pack(S("sshd: alice"), false, out, sizeof(out), 64, &a), 0);
        assert_int_equal(a.argc, 1);
        assert_int_equal(a.len, 12);
        assert_string_equal(out, "sshd: alice");
        /* an empty entry is an entry */
        assert_int_equal(procfs_cmdline_pack(S("a\0\0"), false, out, sizeof(out), 64, &a), 0);
        assert_int_equal(a.argc, 2);
        assert_int_equal(a.len, 3);
        /* empty: a kernel thread or a zombie */
        assert_int_equal(procfs_cmdline_pack("", 0, false, out, sizeof(out), 64, &a), 0);
        assert_int_equal(a.argc, 0);
        assert_int_equal(a.len, 0);
        assert_false(a.truncated);
        /* entry cap */
        assert_int_equal(procfs_cmdline_pack(S("a\0b\0c\0"), false, out, sizeof(out), 2, &a), 0);
        assert_int_equal(a.argc, 2);
        assert_int_equal(a.len, 4);
        assert_true(a.truncated);
        /* exactly at the entry cap is no cut */
        assert_int_equal(procfs_cmdline_pack(S("a\0b\0"), false, out, sizeof(out), 2, &a), 0);
        assert_false(a.truncated);
        /* byte cap: exact fit, then one byte over (the entry is cut, NUL kept) */
        assert_int_equal(procfs_cmdline_pack(S("0123456\089abcde\0"), false, out, 16, 64, &a), 0);
        assert_int_equal(a.len, 16);
        assert_false(a.truncated);
        assert_int_equal(procfs_cmdline_pack(S("0123456\089abcdef\0"), false, out, 16, 64, &a), 0);
        assert_int_equal(a.argc, 2);
        assert_int_equal(a.len, 16);
        assert_true(a.truncated);
        assert_memory_equal(out, "0123456\089abcde\0", 16);
        /* the next entry has no room at all */
        assert_int_equal(procfs_cmdline_pack(S("0123456\089abcde\0x\0"), false, out, 16, 64, &a), 0);
        assert_int_equal(a.argc, 2);
        assert_true(a.truncated);
        /* the raw bytes were cut already */
        assert_int_equal(procfs_cmdline_pack(S("a\0"), true, out, sizeof(out), 64, &a), 0);
        assert_true(a.truncated);
        /* the smallest buffer */
        assert_int_equal(procfs_cmdline_pack(S("abc\0"), false, out, 1, 64, &a), 0);
        assert_int_equal(a.argc, 1);
        assert_int_equal(a.len, 1);
        assert_true(a.truncated);
        assert_string_equal(out, "");
        assert_int_equal(procfs_cmdline_pack(S("abc\0"), false, out, 0, 64, &a), -EINVAL);
}

static void test_fd_kind(void **state)
{
        assert_int_equal(procfs_fd_kind_of(S("socket:[12345]")), PROCFS_FD_SOCKET);
        assert_int_equal(procfs_fd_kind_of(S("/dev/pts/0")), PROCFS_FD_TTY);
        assert_int_equal(procfs_fd_kind_of(S("/dev/pts/17")), PROCFS_FD_TTY);
        assert_int_equal(procfs_fd_kind_of(S("/dev/tty1")), PROCFS_FD_TTY);
        assert_int_equal(procfs_fd_kind_of(S("/dev/ttyS0")), PROCFS_FD_TTY);
        assert_int_equal(procfs_fd_kind_of(S("/dev/tty")), PROCFS_FD_TTY);
        assert_int_equal(procfs_fd_kind_of(S("/dev/console")), PROCFS_FD_TTY);
        assert_int_equal(procfs_fd_kind_of(S("/dev/pts/ptmx")), PROCFS_FD_OTHER);
        assert_int_equal(procfs_fd_kind_of(S("/dev/pts/")), PROCFS_FD_OTHER);
        assert_int_equal(procfs_fd_kind_of(S("/dev/tty/x")), PROCFS_FD_OTHER);
        assert_int_equal(procfs_fd_kind_of(S("/dev/null")), PROCFS_FD_OTHER);
        assert_int_equal(procfs_fd_kind_of(S("pipe:[1]")), PROCFS_FD_OTHER);
        assert_int_equal(procfs_fd_kind_of(S("socket:")), PROCFS_FD_OTHER);
        assert_int_equal(procfs_fd_kind_of(S("/home/socket:[1]")), PROCFS_FD_OTHER);
        assert_int_equal(procfs_fd_kind_of("", 0), PROCFS_FD_OTHER);
}

static void test_cgroup_path(void **state)
{
        const char *p;
        size_t n;

        assert_int_equal(procfs_cgroup_v2_path(S("4:memory:/x\n0::/user.slice/a.scope\n"), &p, &n), 0);
        assert_int_equal(n, strlen("/user.slice/a.scope"));
        assert_memory_equal(p, "/user.slice/a.scope", n);
        assert_int_equal(procfs_cgroup_v2_path(S("0::/"), &p, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(procfs_cgroup_v2_path(S("4:memory:/x\n1:cpu:/\n"), &p, &n), -ENOENT);
        assert_int_equal(procfs_cgroup_v2_path(S(""), &p, &n), -ENOENT);
        assert_int_equal(procfs_cgroup_v2_path(S("0::\n"), &p, &n), -EINVAL);
        assert_int_equal(procfs_cgroup_v2_path(S("0::x\n"), &p, &n), -EINVAL);
        assert_int_equal(procfs_cgroup_v2_path(S("0::/a\0b\n"), &p, &n), -EINVAL);
        /* a "10::" line is not the v2 one */
        assert_int_equal(procfs_cgroup_v2_path(S("10::/a\n"), &p, &n), -ENOENT);
}

static void test_read_fake_bash(void **state)
{
        struct procfs_stat st;
        struct procfs_status ids;
        struct procfs_args a;
        enum procfs_fd_kind k;
        char path[4096], args[4096];
        uint32_t loginuid, flags;
        uint64_t cgid;
        struct stat sb;
        bool cut;
        int fd;

        fd = fake_open(100);
        assert_true(fd >= 0);
        assert_int_equal(procfs_stat_read(fd, &st), 0);
        assert_string_equal(st.comm, "bash");
        assert_int_equal(st.ppid, 99);
        assert_int_equal(st.start_ticks, 123456);
        assert_int_equal(procfs_status_read(fd, &ids), 0);
        assert_int_equal(ids.uid[PROCFS_ID_EFFECTIVE], 1001);
        assert_int_equal(ids.gid[PROCFS_ID_SAVED], 2002);
        assert_int_equal(procfs_loginuid_read(fd, &loginuid), 0);
        assert_int_equal(loginuid, 1000);
        assert_int_equal(procfs_exe_read(fd, path, sizeof(path), &flags), 0);
        assert_string_equal(path, "/usr/bin/bash");
        assert_int_equal(flags, 0);
        assert_int_equal(procfs_cwd_read(fd, path, sizeof(path), &cut), 0);
        assert_string_equal(path, "/home/alice");
        assert_false(cut);
        assert_int_equal(procfs_cmdline_read(fd, args, sizeof(args), 64, &a), 0);
        assert_int_equal(a.argc, 3);
        assert_memory_equal(args, "bash\0-c\0echo hi\0", a.len);
        assert_int_equal(procfs_fd_kind_read(fd, 0, &k), 0);
        assert_int_equal(k, PROCFS_FD_TTY);
        assert_int_equal(procfs_fd_kind_read(fd, 1, &k), 0);
        assert_int_equal(k, PROCFS_FD_SOCKET);
        assert_int_equal(procfs_fd_kind_read(fd, 2, &k), 0);
        assert_int_equal(k, PROCFS_FD_OTHER);
        assert_int_equal(procfs_fd_kind_read(fd, 3, &k), -ENOENT);
        assert_int_equal(procfs_fd_kind_read(fd, -1, &k), -EINVAL);
        assert_int_equal(procfs_cgroup_id_read(fd, data_path("cgroup"), &cgid), 0);
        assert_int_equal(stat(data_path("cgroup/user.slice/user-1000.slice/session-3.scope"), &sb), 0);
        assert_int_equal(cgid, sb.st_ino);
        /* a cut exe path is flagged */
        assert_int_equal(procfs_exe_read(fd, path, 5, &flags), 0);
        assert_string_equal(path, "/usr");
        assert_int_equal(flags, PROCFS_PATH_TRUNCATED);
        assert_int_equal(procfs_cwd_read(fd, path, 4, &cut), 0);
        assert_true(cut);
        assert_string_equal(path, "/ho");
        close(fd);
}

static void test_read_fake_others(void **state)
{
        struct procfs_stat st;
        struct procfs_status ids;
        struct procfs_args a;
        enum procfs_fd_kind k;
        char path[4096], args[4096];
        uint32_t v, flags;
        uint64_t cgid;
        int fd;

        assert_int_equal(fake_open(999), -ENOENT);

        fd = fake_open(101);
        assert_int_equal(procfs_stat_read(fd, &st), 0);
        assert_string_equal(st.comm, "a) (b");
        assert_int_equal(st.start_ticks, 987654321);
        assert_int_equal(procfs_loginuid_read(fd, &v), 0);
        assert_int_equal(v, UINT32_MAX);
        assert_int_equal(procfs_cgroup_id_read(fd, data_path("cgroup"), &cgid), -ENOENT);
        close(fd);

        fd = fake_open(2);
        assert_int_equal(procfs_stat_read(fd, &st), 0);
        assert_true(st.kthread);
        assert_int_equal(procfs_exe_read(fd, path, sizeof(path), &flags), -ENOENT);
        assert_int_equal(procfs_cmdline_read(fd, args, sizeof(args), 64, &a), 0);
        assert_int_equal(a.argc, 0);
        close(fd);

        fd = fake_open(102);
        assert_int_equal(procfs_exe_read(fd, path, sizeof(path), &flags), 0);
        assert_string_equal(path, "/tmp/x");
        assert_int_equal(flags, PROCFS_EXE_DELETED);
        assert_int_equal(procfs_fd_kind_read(fd, 0, &k), 0);
        assert_int_equal(k, PROCFS_FD_SOCKET);
        assert_int_equal(procfs_fd_kind_read(fd, 1, &k), 0);
        assert_int_equal(k, PROCFS_FD_TTY);
        assert_int_equal(procfs_fd_kind_read(fd, 2, &k), 0);
        assert_int_equal(k, PROCFS_FD_TTY);
        close(fd);

        fd = fake_open(103);
        assert_int_equal(procfs_exe_read(fd, path, sizeof(path), &flags), 0);
        assert_string_equal(path, "/memfd:payload");
        assert_int_equal(flags, PROCFS_EXE_MEMFD);
        assert_int_equal(procfs_cwd_read(fd, path, sizeof(path), &(bool){ false }), -ENOENT);
        close(fd);

        fd = fake_open(104);
        assert_int_equal(procfs_cmdline_read(fd, args, sizeof(args), 64, &a), 0);
        assert_int_equal(a.argc, 2);
        assert_int_equal(a.len, sizeof(args));
        assert_true(a.truncated);
        assert_string_equal(args, "big");
        assert_int_equal(args[sizeof(args) - 1], '\0');
        assert_int_equal(procfs_cmdline_read(fd, args, PROCFS_CMDLINE_MAX + 1, 64, &a), -EINVAL);
        close(fd);

        fd = fake_open(107);
        assert_int_equal(procfs_cmdline_read(fd, args, sizeof(args), 64, &a), 0);
        assert_int_equal(a.argc, 64);
        assert_int_equal(a.len, 64 * 6);
        assert_true(a.truncated);
        close(fd);

        fd = fake_open(105);
        memset(&st, 0xa5, sizeof(st));
        assert_int_equal(procfs_stat_read(fd, &st), -EINVAL);
        assert_int_equal(st.pid, 0xa5a5a5a5);
        assert_int_equal(procfs_status_read(fd, &ids), -EINVAL);
        assert_int_equal(procfs_loginuid_read(fd, &v), -EINVAL);
        assert_int_equal(procfs_cmdline_read(fd, args, sizeof(args), 64, &a), -ENOENT);
        close(fd);

        fd = fake_open(106);
        assert_int_equal(procfs_stat_read(fd, &st), 0);
        assert_int_equal(st.state, 'Z');
        assert_int_equal(procfs_status_read(fd, &ids), 0);
        assert_int_equal(ids.uid[0], 1000);
        assert_int_equal(ids.ppid, 100);
        assert_int_equal(procfs_cmdline_read(fd, args, sizeof(args), 64, &a), 0);
        assert_int_equal(a.argc, 0);
        assert_int_equal(procfs_exe_read(fd, path, sizeof(path), &flags), -ENOENT);
        close(fd);
}

/* A tree made at run time: an exe really named "x (deleted)" is not
 * flagged, and a stat file past the cap is refused. */
static void test_read_tmp_tree(void **state)
{
        char dir[] = "/tmp/vigil-procfs-XXXXXX", p[4200], real[4200], path[4096];
        struct procfs_stat st;
        uint32_t flags;
        FILE *f;
        int fd;

        assert_non_null(mkdtemp(dir));
        snprintf(real, sizeof(real), "%s/x (deleted)", dir);
        f = fopen(real, "w");
        assert_non_null(f);
        fclose(f);
        snprintf(p, sizeof(p), "%s/7", dir);
        assert_int_equal(mkdir(p, 0700), 0);
        snprintf(p, sizeof(p), "%s/7/exe", dir);
        assert_int_equal(symlink(real, p), 0);
        snprintf(p, sizeof(p), "%s/7/root", dir);
        assert_int_equal(symlink("/", p), 0);
        snprintf(p, sizeof(p), "%s/7/stat", dir);
        f = fopen(p, "w");
        assert_non_null(f);
        fprintf(f, "7 (");
        for (int i = 0; i < PROCFS_STAT_MAX; i++)
                fputc('x', f);
        fprintf(f, ") S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5\n");
        fclose(f);

        fd = procfs_pid_open(dir, 7);
        assert_true(fd >= 0);
        assert_int_equal(procfs_exe_read(fd, path, sizeof(path), &flags), 0);
        assert_string_equal(path, real);
        assert_int_equal(flags, 0);
        assert_int_equal(procfs_stat_read(fd, &st), -E2BIG);
        close(fd);

        unlink(real);
        assert_int_equal(procfs_exe_read(fd = procfs_pid_open(dir, 7), path, sizeof(path), &flags), 0);
        assert_int_equal(flags, PROCFS_EXE_DELETED);
        assert_int_equal(strlen(path), strlen(real) - strlen(" (deleted)"));
        close(fd);

        snprintf(p, sizeof(p), "%s/7/exe", dir);
        unlink(p);
        snprintf(p, sizeof(p), "%s/7/root", dir);
        unlink(p);
        snprintf(p, sizeof(p), "%s/7/stat", dir);
        unlink(p);
        snprintf(p, sizeof(p), "%s/7", dir);
        rmdir(p);
        rmdir(dir);
}

/* The real /proc, on this process. */
static void test_read_self(void **state)
{
        struct procfs_stat st;
        struct procfs_status ids;
        struct procfs_args a;
        char path[4096], args[4096];
        uint32_t flags;
        int fd;

        fd = procfs_pid_open(NULL, (uint32_t)getpid());
        assert_true(fd >= 0);
        assert_int_equal(procfs_stat_read(fd, &st), 0);
        assert_int_equal(st.pid, (uint32_t)getpid());
        assert_int_equal(st.ppid, (uint32_t)getppid());
        assert_string_equal(st.comm, "test-procfs");
        assert_true(st.start_ticks > 0);
        assert_int_equal(procfs_status_read(fd, &ids), 0);
        assert_int_equal(ids.uid[PROCFS_ID_REAL], getuid());
        assert_int_equal(ids.gid[PROCFS_ID_EFFECTIVE], getegid());
        assert_int_equal(ids.tgid, (uint32_t)getpid());
        assert_int_equal(procfs_exe_read(fd, path, sizeof(path), &flags), 0);
        assert_non_null(strstr(path, "test-procfs"));
        assert_int_equal(flags, 0);
        assert_int_equal(procfs_cmdline_read(fd, args, sizeof(args), 64, &a), 0);
        assert_true(a.argc >= 1);
        assert_non_null(strstr(args, "test-procfs"));
        close(fd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_stat_parse),
                cmocka_unit_test(test_stat_comm),
                cmocka_unit_test(test_stat_bad),
                cmocka_unit_test(test_status_parse),
                cmocka_unit_test(test_status_bad),
                cmocka_unit_test(test_loginuid_parse),
                cmocka_unit_test(test_cmdline_pack),
                cmocka_unit_test(test_fd_kind),
                cmocka_unit_test(test_cgroup_path),
                cmocka_unit_test(test_read_fake_bash),
                cmocka_unit_test(test_read_fake_others),
                cmocka_unit_test(test_read_tmp_tree),
                cmocka_unit_test(test_read_self),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
