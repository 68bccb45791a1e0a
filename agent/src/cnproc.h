/* cnproc: the pure half of the proc-connector sensor (evsrc_cnproc.c).
 *
 * cnproc_parse() checks and decodes one netlink message of the kernel's proc
 * connector (nlmsghdr, cn_msg, proc_event) into a flat struct cnproc_msg;
 * cnproc_msg_event() maps a decoded message to the agent_event it stands
 * for, before any /proc enrichment. Neither touches the system, so both are
 * unit-tested on handcrafted messages and fuzzed. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "agent/src/event.h"
#include "agent/src/evsrc.h"

/* The proc_event types (enum what of <linux/cn_proc.h>), as the kernel sends
 * them; repeated here because the values are ABI and some are newer than the
 * build host's headers. */
enum cnproc_what {
        CNPROC_NONE = 0x00000000,       /* the answer to a LISTEN/IGNORE request */
        CNPROC_FORK = 0x00000001,
        CNPROC_EXEC = 0x00000002,
        CNPROC_UID = 0x00000004,
        CNPROC_GID = 0x00000040,
        CNPROC_SID = 0x00000080,
        CNPROC_PTRACE = 0x00000100,
        CNPROC_COMM = 0x00000200,
        CNPROC_COREDUMP = 0x40000000,
        CNPROC_EXIT = 0x80000000,
};

/* One decoded message. "pid" is the thread group id and "tid" the thread id,
 * as in user space (the kernel's proc_event calls them tgid and pid). Fields
 * that the type does not carry are 0. */
struct cnproc_msg {
        uint32_t what;                  /* enum cnproc_what, or a type unknown to us */
        uint32_t cpu;                   /* CPU that sent it; UINT32_MAX for an answer (older kernels) */
        uint32_t seq;                   /* cn_msg seq: a per-CPU counter for events */
        uint32_t ack;                   /* cn_msg ack */
        uint64_t timestamp_ns;          /* CLOCK_MONOTONIC when the kernel sent it */
        /* the subject: exec, uid/gid, sid, comm, coredump and exit: the process;
         * fork: the child; ptrace: the target */
        uint32_t pid, tid;
        /* fork: the parent; ptrace: the tracer (0 on detach); exit and
         * coredump: the parent (0 from kernels before 4.18) */
        uint32_t other_pid, other_tid;
        uint32_t id_real, id_effective; /* uid: new ruid/euid; gid: new rgid/egid */
        uint32_t exit_code, exit_signal;
        uint32_t ack_err;               /* CNPROC_NONE: positive errno, 0 for success */
        char comm[EV_COMM_MAX];         /* CNPROC_COMM, NUL-terminated */
};

/* Checks and decodes the first netlink message in buf. Every header is
 * length-checked: the netlink message must be NLMSG_DONE and fit in len, the
 * cn_msg must name CN_IDX_PROC/CN_VAL_PROC and its len must fit in the netlink
 * payload, and the proc_event must be long enough for the part its type
 * uses. A type unknown to us decodes its common header only. Returns the
 * bytes consumed (the aligned message length, at most len), -EINVAL for a
 * malformed or foreign message, or -E2BIG when a length field claims more
 * bytes than there are. ret is written only on success. */
int cnproc_parse(const void *buf, size_t len, struct cnproc_msg *ret);

/* Maps a decoded message to the event it stands for, with only what the
 * message itself says: ids, loginuid and the cred "old" ids are UINT32_MAX
 * (unknown), start_ticks and cgroup_id 0, strings empty. EXEC → EV_EXEC;
 * FORK of a new process (child pid == child tgid) → EV_FORK with the parent
 * as the subject; EXIT of a thread group leader → EV_EXIT; UID → EV_CRED
 * (cause EV_CRED_OTHER); PTRACE → EV_PTRACE with the tracer as the subject
 * (pid 0 on detach, which the kernel reports without the tracer) and
 * request PTRACE_ATTACH or PTRACE_DETACH. Returns 1 when ret was filled, 0
 * when the message is no event (thread fork or exit, gid, sid, comm,
 * coredump, an answer, an unknown type). */
int cnproc_msg_event(const struct cnproc_msg *m, struct agent_event *ret);

/* For tests and fuzzing: a sensor with no socket, which enriches from
 * proc_root (a fake tree, or a missing directory for none) and cgroup_root
 * (NULL for no cgroup ids), and is fed by cnproc_feed(). Close it through
 * its ops. Returns 0 or -ENOMEM. */
int cnproc_open_detached(const char *proc_root, const char *cgroup_root, struct evsrc **ret);

/* Handles one datagram as if the kernel had sent it, at monotonic time
 * now_ns (uid changes held back longer than the hold time are then
 * delivered). Returns the events delivered to cb. */
int cnproc_feed(struct evsrc *s, const void *buf, size_t len, uint64_t now_ns, evsrc_cb cb, void *ctx);
