/* proctable: the agent's table of processes, with their lineage.
 *
 * Fed with every agent_event, it knows for each process (named by pid and
 * start_ticks, so that a reused pid is another process) its image, command
 * line, working directory and ids, and can walk up its ancestors. A forked
 * child carries its parent's image and arguments until its own exec. A
 * process that exited stays PROCTABLE_GRACE_NS so that late events about it
 * still resolve, then expires. Storage is bounded: at most `capacity`
 * entries (the oldest exited process is evicted first, then the least
 * recently seen one) and at most `string_bytes` of image/argument/cwd text;
 * after the table has grown to its working size, feeding it allocates
 * nothing (freed storage is reused). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/src/event.h"

#define PROCTABLE_CAPACITY_DEFAULT 65536
#define PROCTABLE_STRING_BYTES_DEFAULT (64u * 1024 * 1024)
#define PROCTABLE_GRACE_NS (30ull * 1000 * 1000 * 1000)
#define PROCTABLE_ANCESTRY_MAX 16       /* ancestors returned by proctable_ancestors() */

/* What the table knows of one process. Strings are NUL-terminated, never
 * NULL ("" when unknown), and stay valid until the next call that changes the
 * table (feed, expire, seed, free). */
struct proctable_proc {
        uint32_t pid;
        /* the parent: the process seen forking this one, which it keeps
         * after the kernel reparents it; else the ppid its events reported */
        uint32_t ppid;                  /* 0 when unknown */
        uint64_t start_ticks;           /* as in struct ev_proc; 0 when unknown */
        uint64_t parent_start_ticks;    /* the parent's, when known exactly (fork seen); else 0 */
        uint32_t uid, euid, gid, egid;  /* UINT32_MAX when unknown */
        uint32_t loginuid;              /* UINT32_MAX when unset or unknown */
        uint64_t cgroup_id;
        char comm[EV_COMM_MAX];
        bool exec_seen;                 /* image/args come from an exec or /proc, not inherited */
        bool exited;
        int32_t exit_code;              /* wait(2) status, when exited */
        uint64_t exit_mono_ns;          /* when it exited (CLOCK_MONOTONIC), when exited */
        const char *image;
        const char *args;               /* argv, each entry NUL-terminated */
        const char *cwd;
        uint32_t image_len, args_len, cwd_len;
        uint32_t argc;
        uint32_t exec_flags;            /* enum ev_exec_flags of the exec that set image/args */
};

struct proctable;

/* Creates an empty table holding at most capacity processes (0: the
 * default) and string_bytes of text (0: the default). Returns NULL on ENOMEM. */
struct proctable *proctable_new(uint32_t capacity, size_t string_bytes);
void proctable_free(struct proctable *pt);

/* Updates the table with one event: exec sets image/args/cwd/ids, fork
 * creates the child from its parent, exit marks the process exited, a
 * credential change updates its ids; any event creates the process it names
 * if the table did not know it. Also expires processes that exited more
 * than PROCTABLE_GRACE_NS before the event's time. */
void proctable_feed(struct proctable *pt, const struct agent_event *ev);

/* Removes processes that exited more than PROCTABLE_GRACE_NS before now
 * (CLOCK_MONOTONIC ns). Returns how many were removed. */
unsigned proctable_expire(struct proctable *pt, uint64_t now_mono_ns);

/* Finds a process. With start_ticks 0, the live process with that pid (or,
 * if none, the one that started last). Returns NULL if unknown. */
const struct proctable_proc *proctable_lookup(const struct proctable *pt, uint32_t pid,
                                              uint64_t start_ticks);

/* Finds the parent of p: the process with pid p->ppid that started at or
 * before p (exactly p->parent_start_ticks when the fork was seen). Returns
 * NULL at pid 0 or when the parent is unknown. */
const struct proctable_proc *proctable_parent(const struct proctable *pt,
                                              const struct proctable_proc *p);

/* Writes p's ancestors (parent first) into ret, at most max and at most
 * PROCTABLE_ANCESTRY_MAX; the walk stops after pid 1, before pid 0, and at an
 * unknown parent. Returns the number written. */
unsigned proctable_ancestors(const struct proctable *pt, const struct proctable_proc *p,
                             const struct proctable_proc **ret, unsigned max);

/* Adds the processes found under proc_root ("/proc", or a copy of its
 * layout for tests) that the table does not hold yet, until it is full.
 * Returns the number added, or a negative errno if proc_root cannot be read. */
int proctable_seed(struct proctable *pt, const char *proc_root);

/* Processes held now, and the text bytes they use. */
uint32_t proctable_count(const struct proctable *pt);
size_t proctable_string_bytes(const struct proctable *pt);
