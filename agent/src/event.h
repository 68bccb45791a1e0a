/* event: what the agent's sensors see, in one form whatever the sensor.
 *
 * Both event sources (eBPF in evsrc_bpf.c, the netlink proc connector in
 * evsrc_cnproc.c) turn what they read into struct agent_event; the process
 * table, detection and `vigil-agent events` consume only this. Strings are
 * NUL-terminated and bounded by the caps below; a value that was cut is
 * flagged, never silently shortened. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EV_PATH_MAX 4096        /* Image, cwd, TargetFilename */
#define EV_ARGS_MAX 4096        /* bytes of argv, NUL-separated */
#define EV_ARGC_MAX 64          /* argv entries kept */
#define EV_COMM_MAX 16

/* Values are stable: they reach JSON names and tests. */
enum ev_type {
        EV_EXEC = 1,            /* a program image was executed */
        EV_FORK = 2,            /* a new process (not thread) */
        EV_EXIT = 3,            /* a process (thread group) ended */
        EV_CRED = 4,            /* uid or euid changed (setuid exec, setuid-family call, ...) */
        EV_PTRACE = 5,          /* ptrace attach/seize/poke on another process */
        EV_VM_WRITE = 6,        /* process_vm_writev into another process */
        EV_PROC_MEM_WRITE = 7,  /* write to /proc/PID/mem of another process */
        EV_MEMFD = 8,           /* memfd_create */
        EV_CONNECT = 9,         /* outbound connect (TCP) or first send (UDP) */
        EV_ACCEPT = 10,         /* inbound connection accepted */
        EV_FILE = 11,           /* file created or modified under a watched path */
};

/* The process an event belongs to. start_ticks is the process start time
 * since boot in clock ticks (USER_HZ, as field 22 of /proc/PID/stat), so that
 * (pid, start_ticks) names one process across pid reuse, whichever sensor
 * saw it. */
struct ev_proc {
        uint32_t pid;           /* thread group id */
        uint32_t tid;
        uint32_t ppid;          /* real parent's tgid */
        uint32_t uid, euid, gid, egid;
        uint32_t loginuid;      /* audit login uid; UINT32_MAX when unset */
        uint64_t cgroup_id;     /* 0 when unknown */
        uint64_t start_ticks;
        char comm[EV_COMM_MAX];
};

enum ev_exec_flags {
        EV_EXEC_MEMFD = 1 << 0,         /* the file executed is a memfd */
        EV_EXEC_DELETED = 1 << 1,       /* the file was unlinked */
        EV_EXEC_STDIN_SOCKET = 1 << 2,
        EV_EXEC_STDOUT_SOCKET = 1 << 3,
        EV_EXEC_STDERR_SOCKET = 1 << 4,
        EV_EXEC_STDIN_TTY = 1 << 5,
        EV_EXEC_STDOUT_TTY = 1 << 6,
        EV_EXEC_STDERR_TTY = 1 << 7,
        EV_EXEC_ARGS_TRUNCATED = 1 << 8,
        EV_EXEC_PATH_TRUNCATED = 1 << 9,
        EV_EXEC_CWD_TRUNCATED = 1 << 10,
};

struct ev_exec {
        char image[EV_PATH_MAX];        /* full path of the executed file */
        char cwd[EV_PATH_MAX];
        char args[EV_ARGS_MAX];         /* argv, each entry NUL-terminated */
        uint32_t args_len;              /* bytes used in args */
        uint32_t argc;                  /* entries in args */
        uint32_t flags;                 /* enum ev_exec_flags */
};

struct ev_fork {
        uint32_t child_pid;
        uint64_t child_start_ticks;
};

struct ev_exit {
        int32_t code;                   /* exit status as wait(2) encodes it */
};

enum ev_cred_cause {
        EV_CRED_SETUID_EXEC = 1,        /* executed a setuid/setgid or file-capability binary */
        EV_CRED_SETUID_CALL = 2,        /* setuid/setreuid/setresuid/setfsuid... */
        EV_CRED_OTHER = 3,              /* commit_creds from elsewhere (capset, keyctl, ...) */
};

struct ev_cred {
        uint32_t old_uid, old_euid, new_uid, new_euid;
        uint32_t old_gid, old_egid, new_gid, new_egid;
        uint32_t cause;                 /* enum ev_cred_cause */
};

/* ptrace, process_vm_writev, /proc/PID/mem: one process touching another. */
struct ev_inject {
        uint32_t target_pid;
        uint64_t target_start_ticks;    /* 0 when unknown */
        int64_t request;                /* PTRACE_* for EV_PTRACE; 0 otherwise */
        uint64_t bytes;                 /* bytes written, where known */
};

struct ev_memfd {
        char name[256];                 /* the name given to memfd_create */
        uint32_t flags;
};

enum ev_net_proto { EV_PROTO_TCP = 6, EV_PROTO_UDP = 17 };

struct ev_net {
        uint16_t family;                /* AF_INET or AF_INET6 */
        uint16_t protocol;              /* enum ev_net_proto */
        uint8_t saddr[16], daddr[16];   /* IPv4 in the first 4 bytes */
        uint16_t sport, dport;          /* host byte order */
};

enum ev_file_op { EV_FILE_CREATE = 1, EV_FILE_MODIFY = 2, EV_FILE_RENAME = 3, EV_FILE_DELETE = 4 };

enum ev_file_flags { EV_FILE_PATH_TRUNCATED = 1 << 0 };

struct ev_file {
        char path[EV_PATH_MAX];         /* the target file */
        uint32_t op;                    /* enum ev_file_op */
        uint32_t flags;                 /* enum ev_file_flags */
};

struct agent_event {
        enum ev_type type;
        uint64_t mono_ns;               /* CLOCK_MONOTONIC when the kernel saw it */
        int64_t wall_ns;                /* CLOCK_REALTIME, derived from mono_ns */
        struct ev_proc proc;
        union {
                struct ev_exec exec;
                struct ev_fork fork;
                struct ev_exit exit;
                struct ev_cred cred;
                struct ev_inject inject;
                struct ev_memfd memfd;
                struct ev_net net;
                struct ev_file file;
        };
};

/* The name of an event type as it appears in JSON ("process_exec", ...). */
const char *event_type_name(enum ev_type t);
