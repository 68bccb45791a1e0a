/* procfs: bounded readers of /proc/PID for the agent's proc-connector sensor.
 *
 * A process is opened once as a directory (procfs_pid_open) and every file is
 * then read relative to that descriptor, so all the values describe the same
 * process even if its pid is reused meanwhile: once the process is gone, the
 * reads fail (-ESRCH or -ENOENT) instead of describing a newcomer. The root
 * ("/proc" by default) is a parameter so that tests can use fake trees.
 *
 * Each file has a pure parser on bytes (what the fuzzers call) and a reader
 * that reads the file with a size cap and calls the parser. Parsers never
 * read past len, need no NUL terminator, and write their ret_* only on
 * success. Errors: -EINVAL malformed, -E2BIG larger than the cap, -ERANGE a
 * number out of range, or a negative errno from the file system. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROCFS_ROOT_DEFAULT "/proc"
#define PROCFS_COMM_MAX 16              /* kept bytes of comm, NUL included (TASK_COMM_LEN) */
#define PROCFS_STAT_MAX 2048            /* /proc/PID/stat: one line, ~52 numbers and comm */
#define PROCFS_STATUS_MAX 4096          /* first bytes of /proc/PID/status read (Uid/Gid are early) */
#define PROCFS_CGROUP_MAX 8192          /* /proc/PID/cgroup */
#define PROCFS_CMDLINE_MAX 16384        /* largest out_size of procfs_cmdline_read */
#define PROCFS_KTHREAD_FLAG 0x00200000u /* PF_KTHREAD in the flags field of stat */

/* What /proc/PID/stat says that the agent uses. */
struct procfs_stat {
        uint32_t pid;
        char comm[PROCFS_COMM_MAX];     /* NUL-terminated; may hold spaces, ')' and newlines */
        bool comm_truncated;            /* the kernel gave more than PROCFS_COMM_MAX - 1 bytes */
        char state;                     /* R, S, D, Z, ... */
        uint32_t ppid, pgrp, session;
        uint32_t tty_nr;                /* encoded device number; 0 when none */
        uint32_t flags;                 /* PF_* */
        uint32_t num_threads;
        uint64_t start_ticks;           /* field 22: start time since boot, clock ticks */
        bool kthread;                   /* flags has PF_KTHREAD */
};

/* Parses the text of /proc/PID/stat. comm sits between the first '(' and the
 * LAST ')' of the text, since comm itself may contain parentheses. Returns 0,
 * -EINVAL (malformed, fewer than 22 fields) or -ERANGE. */
int procfs_stat_parse(const char *buf, size_t len, struct procfs_stat *ret);

enum procfs_id { PROCFS_ID_REAL = 0, PROCFS_ID_EFFECTIVE = 1, PROCFS_ID_SAVED = 2, PROCFS_ID_FS = 3 };

/* The Uid: and Gid: lines of /proc/PID/status, indexed by enum procfs_id. */
struct procfs_status {
        uint32_t uid[4];
        uint32_t gid[4];
        uint32_t tgid;                  /* 0 if the Tgid: line is absent */
        uint32_t ppid;                  /* 0 if the PPid: line is absent */
};

/* Parses the text of /proc/PID/status. Only lines ending in '\n' count, so a
 * read cut short never yields half a line. Uid: and Gid: must each appear
 * once with four ids. Returns 0, -EINVAL or -ERANGE. */
int procfs_status_parse(const char *buf, size_t len, struct procfs_status *ret);

/* Parses /proc/PID/loginuid: a decimal uid, optionally followed by '\n'
 * (4294967295 when unset). Returns 0, -EINVAL or -ERANGE. */
int procfs_loginuid_parse(const char *buf, size_t len, uint32_t *ret);

/* What procfs_cmdline_pack kept. */
struct procfs_args {
        uint32_t len;                   /* bytes used in out, every entry NUL-terminated */
        uint32_t argc;                  /* entries in out */
        bool truncated;                 /* entries or bytes were left out */
};

/* Packs the raw bytes of /proc/PID/cmdline (NUL-separated argv; the last entry
 * may lack its NUL) into out: at most argc_max entries and out_size bytes,
 * each entry NUL-terminated; an entry that does not fit is cut and the cut is
 * flagged. raw_cut says the raw bytes were themselves cut short. out_size
 * must be at least 1. Returns 0 (an empty cmdline, as of a kernel thread or
 * a zombie, gives argc 0). */
int procfs_cmdline_pack(const char *raw, size_t raw_len, bool raw_cut, char *out, size_t out_size,
                        uint32_t argc_max, struct procfs_args *ret);

enum procfs_fd_kind { PROCFS_FD_OTHER = 0, PROCFS_FD_SOCKET = 1, PROCFS_FD_TTY = 2 };

/* Classifies the target of a /proc/PID/fd/N link: "socket:[N]" is a socket;
 * /dev/pts/N, /dev/ttyX, /dev/tty and /dev/console are terminals. */
enum procfs_fd_kind procfs_fd_kind_of(const char *target, size_t len);

/* Finds the cgroup v2 line ("0::/path") of /proc/PID/cgroup. On success
 * *ret_path points into buf (not NUL-terminated) and *ret_len is its length.
 * Returns 0, -ENOENT (no v2 line, a v1-only host) or -EINVAL. */
int procfs_cgroup_v2_path(const char *buf, size_t len, const char **ret_path, size_t *ret_len);

/* Opens ROOT/PID as a directory (root NULL means "/proc"). Returns the
 * descriptor, which the caller closes, or a negative errno (-ENOENT once the
 * process is gone). */
int procfs_pid_open(const char *root, uint32_t pid);

/* The readers: dirfd comes from procfs_pid_open. */
int procfs_stat_read(int dirfd, struct procfs_stat *ret);
int procfs_status_read(int dirfd, struct procfs_status *ret);
/* -ENOENT where the kernel has no audit support. */
int procfs_loginuid_read(int dirfd, uint32_t *ret);
/* Reads cmdline with a cap of out_size + 1 bytes and packs it (see above).
 * out_size is at most PROCFS_CMDLINE_MAX (-EINVAL otherwise). */
int procfs_cmdline_read(int dirfd, char *out, size_t out_size, uint32_t argc_max,
                        struct procfs_args *ret);

enum procfs_exe_flags {
        PROCFS_EXE_DELETED = 1 << 0,    /* the file was unlinked (not a memfd) */
        PROCFS_EXE_MEMFD = 1 << 1,      /* the file is a memfd ("/memfd:NAME") */
        PROCFS_PATH_TRUNCATED = 1 << 2, /* the path did not fit in out */
};

/* Reads the exe link into out (NUL-terminated). The kernel's " (deleted)"
 * suffix is removed and reported as a flag; when the process is still there
 * the link count of the file decides (so a file really named "x (deleted)"
 * is not flagged), otherwise the suffix is trusted. A memfd is flagged MEMFD,
 * not DELETED. Returns 0 and sets *ret_flags (enum procfs_exe_flags), or a
 * negative errno (-ENOENT for a kernel thread or a process gone). */
int procfs_exe_read(int dirfd, char *out, size_t out_size, uint32_t *ret_flags);

/* The mode bits (st_mode) of the file the process executes, to tell a
 * setuid or setgid image. Returns 0 or a negative errno. */
int procfs_exe_mode_read(int dirfd, uint32_t *ret_mode);

/* Reads the cwd link into out as the kernel gives it. Returns 0 and sets
 * *ret_truncated, or a negative errno. */
int procfs_cwd_read(int dirfd, char *out, size_t out_size, bool *ret_truncated);

/* Classifies descriptor fd of the process. Returns 0, or -ENOENT when fd is
 * not open, or another negative errno. */
int procfs_fd_kind_read(int dirfd, int fd, enum procfs_fd_kind *ret);

/* The cgroup v2 id of the process: the inode number of its cgroup directory
 * under cgroup_root (the cgroup2 mount). Returns 0, -ENOENT (no v2 cgroup or
 * the directory is gone), or a negative errno. */
int procfs_cgroup_id_read(int dirfd, const char *cgroup_root, uint64_t *ret);
