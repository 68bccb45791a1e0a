/* bpf_event: the records the eBPF sensor (agent/bpf/sensor.bpf.c) writes to
 * its ring buffer and the loader (agent/src/evsrc_bpf.c) reads.
 *
 * Both sides are compiled from this one file, so the layout is fixed: only
 * fixed-width members, explicit padding, every struct a multiple of 8 bytes,
 * and enum values that never change. A record starts with struct
 * vigil_bpf_hdr; hdr.size says how many bytes of it are valid (records with
 * strings are cut after the last string). Strings carry their length,
 * terminating NUL included. */
#pragma once

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define VIGIL_BPF_COMM_MAX 16
#define VIGIL_BPF_PATH_MAX 4096         /* bytes of one path, NUL included */
#define VIGIL_BPF_ARGS_MAX 4096         /* bytes of argv copied */
#define VIGIL_BPF_MEMFD_NAME_MAX 256
#define VIGIL_BPF_WATCH_MAX 32          /* kernel-side watch entries */
#define VIGIL_BPF_WATCH_LEN 256         /* bytes of a head or tail, NUL included */

/* Values are stable; they match enum ev_type of agent/src/event.h. */
enum vigil_bpf_type {
        VIGIL_BPF_EXEC = 1,
        VIGIL_BPF_FORK = 2,
        VIGIL_BPF_EXIT = 3,
        VIGIL_BPF_CRED = 4,
        VIGIL_BPF_PTRACE = 5,
        VIGIL_BPF_VM_WRITE = 6,
        VIGIL_BPF_PROC_MEM_WRITE = 7,
        VIGIL_BPF_MEMFD = 8,
        VIGIL_BPF_CONNECT = 9,
        VIGIL_BPF_ACCEPT = 10,
        VIGIL_BPF_FILE = 11,
};

/* The process (thread group) a record belongs to, read from the task that
 * caused it. start_ns is the thread group leader's start_boottime. */
struct vigil_bpf_proc {
        __u32 pid;              /* tgid */
        __u32 tid;
        __u32 ppid;             /* real_parent's tgid */
        __u32 uid, euid, gid, egid;
        __u32 loginuid;         /* 0xffffffff when unset */
        __u64 cgroup_id;
        __u64 start_ns;         /* ns since boot, suspend included */
        char comm[VIGIL_BPF_COMM_MAX];
};

struct vigil_bpf_hdr {
        __u32 type;             /* enum vigil_bpf_type */
        __u32 size;             /* valid bytes of the record, header included */
        __u64 mono_ns;          /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
        struct vigil_bpf_proc proc;
};

/* Values are stable; bits 0-9 equal enum ev_exec_flags. */
enum vigil_bpf_exec_flags {
        VIGIL_BPF_EXEC_MEMFD = 1 << 0,
        VIGIL_BPF_EXEC_DELETED = 1 << 1,
        VIGIL_BPF_EXEC_STDIN_SOCKET = 1 << 2,
        VIGIL_BPF_EXEC_STDOUT_SOCKET = 1 << 3,
        VIGIL_BPF_EXEC_STDERR_SOCKET = 1 << 4,
        VIGIL_BPF_EXEC_STDIN_TTY = 1 << 5,
        VIGIL_BPF_EXEC_STDOUT_TTY = 1 << 6,
        VIGIL_BPF_EXEC_STDERR_TTY = 1 << 7,
        VIGIL_BPF_EXEC_ARGS_TRUNCATED = 1 << 8,
        VIGIL_BPF_EXEC_PATH_TRUNCATED = 1 << 9,
        VIGIL_BPF_EXEC_CWD_TRUNCATED = 1 << 10,
};

/* data holds three strings back to back: the image path (image_len bytes),
 * the working directory (cwd_len bytes), then args_len bytes of argv as the
 * process's memory holds it (NUL-separated; the last entry may be cut). */
#define VIGIL_BPF_EXEC_DATA (2 * VIGIL_BPF_PATH_MAX + VIGIL_BPF_ARGS_MAX)
struct vigil_bpf_exec {
        struct vigil_bpf_hdr hdr;
        __u32 flags;            /* enum vigil_bpf_exec_flags */
        __u32 argc;             /* entries the program was given */
        __u16 image_len, cwd_len, args_len;
        __u16 pad;
        char data[VIGIL_BPF_EXEC_DATA];
};

struct vigil_bpf_fork {
        struct vigil_bpf_hdr hdr;       /* the parent */
        __u32 child_pid;
        __u32 pad;
        __u64 child_start_ns;
};

struct vigil_bpf_exit {
        struct vigil_bpf_hdr hdr;
        __s32 code;                     /* as wait(2) encodes it */
        __u32 pad;
};

/* Values are stable; they equal enum ev_cred_cause. */
enum vigil_bpf_cred_cause {
        VIGIL_BPF_CRED_SETUID_EXEC = 1,
        VIGIL_BPF_CRED_SETUID_CALL = 2,
        VIGIL_BPF_CRED_OTHER = 3,
};

/* hdr.proc holds the new ids already. */
struct vigil_bpf_cred {
        struct vigil_bpf_hdr hdr;
        __u32 old_uid, old_euid, new_uid, new_euid;
        __u32 old_gid, old_egid, new_gid, new_egid;
        __u32 cause;                    /* enum vigil_bpf_cred_cause */
        __u32 pad;
};

/* VIGIL_BPF_PTRACE, VIGIL_BPF_VM_WRITE and VIGIL_BPF_PROC_MEM_WRITE. */
struct vigil_bpf_inject {
        struct vigil_bpf_hdr hdr;
        __u32 target_pid;               /* tgid; the caller's number when unresolved */
        __u32 pad;
        __u64 target_start_ns;          /* 0 when unresolved */
        __s64 request;                  /* PTRACE_* for VIGIL_BPF_PTRACE */
        __u64 bytes;
};

struct vigil_bpf_memfd {
        struct vigil_bpf_hdr hdr;
        __u32 flags;                    /* MFD_* */
        __s32 fd;
        char name[VIGIL_BPF_MEMFD_NAME_MAX];
};

/* VIGIL_BPF_CONNECT and VIGIL_BPF_ACCEPT: s* is the local end, d* the
 * remote one, whichever side opened the connection. */
struct vigil_bpf_net {
        struct vigil_bpf_hdr hdr;
        __u16 family;                   /* AF_INET, AF_INET6 */
        __u16 protocol;                 /* IPPROTO_TCP, IPPROTO_UDP */
        __u16 sport, dport;             /* host byte order */
        __u8 saddr[16], daddr[16];      /* IPv4 in the first 4 bytes */
};

/* Values are stable; they equal enum ev_file_op. */
enum vigil_bpf_file_op {
        VIGIL_BPF_FILE_CREATE = 1,
        VIGIL_BPF_FILE_MODIFY = 2,
        VIGIL_BPF_FILE_RENAME = 3,
        VIGIL_BPF_FILE_DELETE = 4,
};

enum vigil_bpf_file_flags {
        VIGIL_BPF_FILE_PATH_TRUNCATED = 1 << 0,
};

/* The path of a file event: at most VIGIL_BPF_PATH_MAX bytes are used; the
 * room after it lets the kernel side append a name at any offset below that
 * without a verifier-visible overflow. */
#define VIGIL_BPF_FILE_DATA (2 * VIGIL_BPF_PATH_MAX)
struct vigil_bpf_file {
        struct vigil_bpf_hdr hdr;
        __u32 op;                       /* enum vigil_bpf_file_op */
        __u16 path_len;
        __u16 flags;                    /* enum vigil_bpf_file_flags */
        char path[VIGIL_BPF_FILE_DATA];
};

/* How the kernel side pre-filters file events against a watched entry; the
 * loader checks the exact entry (evsrc_watch_match) in user space. */
enum vigil_bpf_watch_kind {
        VIGIL_BPF_WATCH_NONE = 0,       /* an unused slot; the ones after it are unused too */
        VIGIL_BPF_WATCH_PREFIX = 1,     /* the path starts with head */
        VIGIL_BPF_WATCH_STAR = 2,       /* head, one non-empty component, then tail */
};

/* Slots of the sys_exit dispatcher's tail-call table: one program per
 * concern, so that each can be switched off alone. */
enum vigil_bpf_sx_slot {
        VIGIL_BPF_SX_CRED = 0,          /* setuid-family calls */
        VIGIL_BPF_SX_INJECT = 1,        /* ptrace, process_vm_writev */
        VIGIL_BPF_SX_PROC_MEM = 2,      /* write-family calls into /proc/PID/mem */
        VIGIL_BPF_SX_MEMFD = 3,         /* memfd_create */
        VIGIL_BPF_SX_FILE = 4,          /* open/rename/unlink under watched paths */
        VIGIL_BPF_SX_NET = 5,           /* connect, accept, UDP sends */
        VIGIL_BPF_SX_COUNT = 6,
};
