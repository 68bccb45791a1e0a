/* evsrc_cnproc: the fallback sensor, built on the kernel's netlink proc
 * connector (CONFIG_PROC_EVENTS) and enriched from /proc.
 *
 * The connector says that a process forked, executed, changed ids, was
 * ptrace-attached or exited, with pids and ids only; the rest (image, argv,
 * cwd, standard descriptors, start time, loginuid, cgroup) is read from
 * /proc/PID right after, which a short-lived process can win: then the event
 * carries what is known and nothing more. A small per-pid cache keeps the
 * last ids, comm and start time, so that exits, forks and the "old" side of
 * an id change can be told without /proc. A uid change is held back briefly:
 * the kernel reports it before the exec of a setuid file that caused it, so
 * an exec of the same process that follows makes it EV_CRED_SETUID_EXEC.
 *
 * Messages are taken only from the kernel (sender port 0), every header is
 * checked (cnproc_parse), and losses are counted from the connector's
 * per-CPU sequence numbers and from receive-buffer overruns (ENOBUFS). */
#include "agent/src/evsrc.h"
#include "agent/src/cnproc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/magic.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "procfs/procfs.h"

#define CNPROC_PID_MAX 4194304          /* PID_MAX_LIMIT: no pid is larger */
#define CNPROC_EVENT_HDR_LEN 16         /* what, cpu, timestamp_ns of struct proc_event */
#define CNPROC_RCVBUF (8 * 1024 * 1024)
#define CNPROC_DATAGRAM_MAX 8192        /* a proc connector datagram is ~100 bytes */
#define CNPROC_DATAGRAMS_PER_POLL 4096  /* then return, so the caller is not starved */
#define CNPROC_ACK_TIMEOUT_MS 2000
#define CNPROC_CACHE_SIZE 4096          /* per-pid cache slots (direct-mapped, power of 2) */
#define CNPROC_PENDING_MAX 64           /* uid changes held back at once */
#define CNPROC_CRED_HOLD_NS (100 * 1000000ull)
#define CNPROC_CPU_MAX 1024             /* CPUs whose sequence numbers are followed */
#define CNPROC_SEQ_GAP_MAX (1u << 30)   /* larger "gaps" are restarts, not losses */
#define CNPROC_UNKNOWN UINT32_MAX

#ifndef PTRACE_ATTACH
#define PTRACE_ATTACH 16
#define PTRACE_DETACH 17
#endif

/* Where a NULL-terminated list of prefixes is matched (evsrc_watch_match):
 * "*" as a whole component stands for exactly one path component, which is
 * how "~/.ssh/authorized_keys" of every user is said without watching all of
 * /home. A prefix that ends in a file name also covers names that extend it:
 * ".../authorized_keys" covers sshd's other default, "authorized_keys2".
 * The cron and profile entries sit under /etc/ already; they are listed so
 * that a narrower configuration keeps them in view. */
const char *const evsrc_default_watch_paths[] = {
        "/etc/",
        "/etc/cron.d/",
        "/var/spool/cron/",
        "/etc/systemd/system/",
        "/usr/lib/systemd/system/",
        "/lib/systemd/system/",
        "/root/.ssh/authorized_keys",
        "/home/*/.ssh/authorized_keys",
        "/etc/ld.so.preload",
        "/etc/profile",
        "/etc/profile.d/",
        "/etc/bash.bashrc",
        "/root/.bashrc",
        "/root/.profile",
        NULL,
};

bool evsrc_watch_match(const char *pattern, const char *path)
{
        const char *p = pattern, *s = path;

        while (*p) {
                if (p[0] == '*' && p > pattern && p[-1] == '/' && (p[1] == '/' || p[1] == '\0')) {
                        const char *end = strchr(s, '/');
                        size_t n = end ? (size_t)(end - s) : strlen(s);

                        if (n == 0)
                                return false;
                        s += n;
                        p++;
                        continue;
                }
                if (*p != *s)
                        return false;
                p++;
                s++;
        }
        return true;
}

/* ---- the pure parser ---- */

static uint32_t rd32(const uint8_t *p)
{
        uint32_t v;

        memcpy(&v, p, sizeof(v));
        return v;
}

static uint64_t rd64(const uint8_t *p)
{
        uint64_t v;

        memcpy(&v, p, sizeof(v));
        return v;
}

/* Reads a pid field; a pid the kernel cannot have makes the message bad. */
static int rdpid(const uint8_t *p, uint32_t *ret)
{
        int32_t v = (int32_t)rd32(p);

        if (v < 0 || v > CNPROC_PID_MAX)
                return -EINVAL;
        *ret = (uint32_t)v;
        return 0;
}

/* Decodes the type-specific part d[0..n) of a proc_event into m. */
static int parse_event_data(const uint8_t *d, size_t n, struct cnproc_msg *m)
{
        size_t need;
        int r = 0;

        switch (m->what) {
        case CNPROC_NONE: need = 4; break;
        case CNPROC_EXEC: case CNPROC_SID: need = 8; break;
        case CNPROC_COREDUMP: need = 8; break;
        case CNPROC_FORK: case CNPROC_UID: case CNPROC_GID: case CNPROC_PTRACE: need = 16; break;
        case CNPROC_EXIT: need = 16; break;
        case CNPROC_COMM: need = 8 + 16; break;
        default: return 0;              /* a type we do not know: header only */
        }
        if (n < need)
                return -EINVAL;
        if (m->what == CNPROC_NONE) {
                m->ack_err = rd32(d);
                return 0;
        }
        if (m->what == CNPROC_FORK) {
                /* parent_pid, parent_tgid, child_pid, child_tgid */
                if (rdpid(d, &m->other_tid) < 0 || rdpid(d + 4, &m->other_pid) < 0 ||
                    rdpid(d + 8, &m->tid) < 0 || rdpid(d + 12, &m->pid) < 0)
                        return -EINVAL;
                return 0;
        }
        /* all the others start with process_pid, process_tgid */
        if (rdpid(d, &m->tid) < 0 || rdpid(d + 4, &m->pid) < 0)
                return -EINVAL;
        switch (m->what) {
        case CNPROC_UID: case CNPROC_GID:
                m->id_real = rd32(d + 8);
                m->id_effective = rd32(d + 12);
                break;
        case CNPROC_PTRACE:
                r = rdpid(d + 8, &m->other_tid) < 0 || rdpid(d + 12, &m->other_pid) < 0 ? -EINVAL : 0;
                break;
        case CNPROC_COMM:
                memcpy(m->comm, d + 8, EV_COMM_MAX - 1);
                m->comm[EV_COMM_MAX - 1] = '\0';
                break;
        case CNPROC_COREDUMP:
                if (n >= 16)
                        r = rdpid(d + 8, &m->other_tid) < 0 || rdpid(d + 12, &m->other_pid) < 0 ? -EINVAL : 0;
                break;
        case CNPROC_EXIT:
                m->exit_code = rd32(d + 8);
                m->exit_signal = rd32(d + 12);
                if (n >= 24)
                        r = rdpid(d + 16, &m->other_tid) < 0 || rdpid(d + 20, &m->other_pid) < 0 ? -EINVAL : 0;
                break;
        }
        return r;
}

int cnproc_parse(const void *buf, size_t len, struct cnproc_msg *ret)
{
        const uint8_t *p = buf;
        struct cnproc_msg m = { 0 };
        struct nlmsghdr nlh;
        struct cn_msg cn;
        size_t payload, consumed;
        const uint8_t *ev;
        int r;

        if (len < sizeof(nlh))
                return -EINVAL;
        memcpy(&nlh, p, sizeof(nlh));
        if (nlh.nlmsg_len < NLMSG_HDRLEN)
                return -EINVAL;
        if (nlh.nlmsg_len > len)
                return -E2BIG;
        if (nlh.nlmsg_type != NLMSG_DONE)
                return -EINVAL;
        payload = nlh.nlmsg_len - NLMSG_HDRLEN;
        if (payload < sizeof(cn))
                return -EINVAL;
        memcpy(&cn, p + NLMSG_HDRLEN, sizeof(cn));
        if (cn.id.idx != CN_IDX_PROC || cn.id.val != CN_VAL_PROC)
                return -EINVAL;
        if (cn.len > payload - sizeof(cn))
                return -E2BIG;
        if (cn.len < CNPROC_EVENT_HDR_LEN)
                return -EINVAL;
        ev = p + NLMSG_HDRLEN + sizeof(cn);
        m.what = rd32(ev);
        m.cpu = rd32(ev + 4);
        m.timestamp_ns = rd64(ev + 8);
        m.seq = cn.seq;
        m.ack = cn.ack;
        r = parse_event_data(ev + CNPROC_EVENT_HDR_LEN, cn.len - CNPROC_EVENT_HDR_LEN, &m);
        if (r < 0)
                return r;
        consumed = NLMSG_ALIGN(nlh.nlmsg_len);
        *ret = m;
        return (int)(consumed < len ? consumed : len);
}

static void proc_unknown(struct ev_proc *p)
{
        *p = (struct ev_proc){
                .uid = CNPROC_UNKNOWN, .euid = CNPROC_UNKNOWN,
                .gid = CNPROC_UNKNOWN, .egid = CNPROC_UNKNOWN,
                .loginuid = CNPROC_UNKNOWN,
        };
}

int cnproc_msg_event(const struct cnproc_msg *m, struct agent_event *ret)
{
        struct agent_event *e = ret;

        switch (m->what) {
        case CNPROC_EXEC: case CNPROC_UID: case CNPROC_PTRACE:
                break;
        case CNPROC_FORK:
                if (m->pid != m->tid)
                        return 0;       /* a new thread */
                break;
        case CNPROC_EXIT:
                if (m->pid != m->tid)
                        return 0;       /* a thread, not the group leader */
                break;
        default:
                return 0;
        }
        memset(e, 0, sizeof(*e));
        e->mono_ns = m->timestamp_ns;
        proc_unknown(&e->proc);
        e->proc.pid = m->pid;
        e->proc.tid = m->tid;
        switch (m->what) {
        case CNPROC_EXEC:
                e->type = EV_EXEC;
                break;
        case CNPROC_FORK:
                e->type = EV_FORK;
                e->proc.pid = m->other_pid;
                e->proc.tid = m->other_tid;
                e->fork.child_pid = m->pid;
                break;
        case CNPROC_EXIT:
                e->type = EV_EXIT;
                e->proc.ppid = m->other_pid;
                e->exit.code = (int32_t)m->exit_code;
                break;
        case CNPROC_UID:
                e->type = EV_CRED;
                e->cred = (struct ev_cred){
                        .old_uid = CNPROC_UNKNOWN, .old_euid = CNPROC_UNKNOWN,
                        .new_uid = m->id_real, .new_euid = m->id_effective,
                        .old_gid = CNPROC_UNKNOWN, .old_egid = CNPROC_UNKNOWN,
                        .new_gid = CNPROC_UNKNOWN, .new_egid = CNPROC_UNKNOWN,
                        .cause = EV_CRED_OTHER,
                };
                e->proc.uid = m->id_real;
                e->proc.euid = m->id_effective;
                break;
        case CNPROC_PTRACE:
                e->type = EV_PTRACE;
                e->proc.pid = m->other_pid;
                e->proc.tid = m->other_tid;
                e->inject.target_pid = m->pid;
                e->inject.request = m->other_pid ? PTRACE_ATTACH : PTRACE_DETACH;
                break;
        }
        return 1;
}

/* ---- the sensor ---- */

/* What the sensor last knew of a process. */
struct proc_entry {
        uint32_t pid;                   /* 0: empty slot */
        uint32_t ppid;
        uint32_t uid, euid, gid, egid, loginuid;
        /* the gids when the uids were last known: a setgid() that comes
         * before a setuid() (as in su, or any privilege drop) belongs to the
         * "old" side of the uid change that follows */
        uint32_t base_gid, base_egid;
        uint32_t tracer;                /* tgid that attached with ptrace; 0 for none */
        uint64_t start_ticks, cgroup_id;
        char comm[EV_COMM_MAX];
};

/* A uid change held back until we know whether an exec caused it. */
struct pending_cred {
        uint64_t mono_ns;
        struct ev_proc proc;
        struct ev_cred cred;
};

struct cpu_seq {
        uint32_t next;
        bool seen;
};

struct cnproc_src {
        struct evsrc base;
        int fd;                         /* -1 when detached */
        uint32_t portid, listen_seq;
        uint64_t overruns;              /* ENOBUFS: the socket buffer overflowed */
        uint64_t lost;                  /* messages missing from the per-CPU sequences */
        int64_t wall_offset_ns;
        char proc_root[256];
        char cgroup_root[256];          /* the cgroup2 mount; "" when none */
        struct cpu_seq cpus[CNPROC_CPU_MAX];
        size_t npending;
        struct pending_cred pending[CNPROC_PENDING_MAX];
        struct proc_entry cache[CNPROC_CACHE_SIZE];
        struct agent_event ev, cred_ev;
        uint8_t buf[CNPROC_DATAGRAM_MAX] __attribute__((aligned(8)));
};

static uint64_t mono_now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void wall_offset_update(struct cnproc_src *s)
{
        struct timespec rt;
        uint64_t mono = mono_now_ns();

        clock_gettime(CLOCK_REALTIME, &rt);
        s->wall_offset_ns = (int64_t)rt.tv_sec * 1000000000ll + rt.tv_nsec - (int64_t)mono;
}

static struct proc_entry *cache_slot(struct cnproc_src *s, uint32_t pid)
{
        return &s->cache[pid & (CNPROC_CACHE_SIZE - 1)];
}

static struct proc_entry *cache_find(struct cnproc_src *s, uint32_t pid)
{
        struct proc_entry *e = cache_slot(s, pid);

        return pid && e->pid == pid ? e : NULL;
}

/* Records p; keep_tracer keeps a ptrace attachment already noted for the
 * same process (same pid, and same start time where both are known). */
static void cache_store(struct cnproc_src *s, const struct ev_proc *p, bool keep_tracer)
{
        struct proc_entry *e = cache_slot(s, p->pid);
        bool same = e->pid == p->pid &&
                    (!e->start_ticks || !p->start_ticks || e->start_ticks == p->start_ticks);
        uint32_t tracer = keep_tracer && same ? e->tracer : 0;

        if (p->pid == 0)
                return;
        *e = (struct proc_entry){
                .pid = p->pid, .ppid = p->ppid,
                .uid = p->uid, .euid = p->euid, .gid = p->gid, .egid = p->egid,
                .base_gid = p->gid, .base_egid = p->egid,
                .loginuid = p->loginuid, .tracer = tracer,
                .start_ticks = p->start_ticks, .cgroup_id = p->cgroup_id,
        };
        memcpy(e->comm, p->comm, sizeof(e->comm));
}

static void cache_apply(const struct proc_entry *e, struct ev_proc *p)
{
        p->ppid = e->ppid;
        p->uid = e->uid;
        p->euid = e->euid;
        p->gid = e->gid;
        p->egid = e->egid;
        p->loginuid = e->loginuid;
        p->start_ticks = e->start_ticks;
        p->cgroup_id = e->cgroup_id;
        memcpy(p->comm, e->comm, sizeof(p->comm));
}

/* Reads what /proc/PID says of the process into p, over what p held.
 * Returns whether stat could be read (comm, ppid, start time). */
static bool proc_read(struct cnproc_src *s, int dirfd, struct ev_proc *p)
{
        bool stat_ok = false;
        struct procfs_stat st;
        struct procfs_status status;
        uint32_t loginuid;
        uint64_t cgid;

        if (procfs_stat_read(dirfd, &st) == 0) {
                if (p->start_ticks && p->start_ticks != st.start_ticks) {
                        /* what we held described an earlier process with this pid */
                        uint32_t pid = p->pid, tid = p->tid;

                        proc_unknown(p);
                        p->pid = pid;
                        p->tid = tid;
                }
                memcpy(p->comm, st.comm, sizeof(p->comm));
                p->ppid = st.ppid;
                p->start_ticks = st.start_ticks;
                stat_ok = true;
        }
        if (procfs_status_read(dirfd, &status) == 0) {
                p->uid = status.uid[PROCFS_ID_REAL];
                p->euid = status.uid[PROCFS_ID_EFFECTIVE];
                p->gid = status.gid[PROCFS_ID_REAL];
                p->egid = status.gid[PROCFS_ID_EFFECTIVE];
        }
        if (procfs_loginuid_read(dirfd, &loginuid) == 0)
                p->loginuid = loginuid;
        if (s->cgroup_root[0] && procfs_cgroup_id_read(dirfd, s->cgroup_root, &cgid) == 0)
                p->cgroup_id = cgid;
        return stat_ok;
}

/* Fills p (pid set) from the cache and, when fresh or on a cache miss, from
 * /proc/PID; stores the result. With ret_dirfd the /proc/PID directory is
 * handed to the caller (-1 if the process is gone), who closes it. Returns
 * whether /proc/PID/stat was read. */
static bool proc_fill(struct cnproc_src *s, struct ev_proc *p, bool fresh, int *ret_dirfd)
{
        struct proc_entry *e = cache_find(s, p->pid);
        bool stat_ok;
        int dirfd;

        if (ret_dirfd)
                *ret_dirfd = -1;
        if (p->pid == 0)
                return false;
        if (e) {
                cache_apply(e, p);
                if (!fresh)
                        return false;
        }
        dirfd = procfs_pid_open(s->proc_root, p->pid);
        if (dirfd < 0)
                return false;
        stat_ok = proc_read(s, dirfd, p);
        cache_store(s, p, true);
        if (ret_dirfd)
                *ret_dirfd = dirfd;
        else
                close(dirfd);
        return stat_ok;
}

/* Enriches an EV_EXEC from /proc. Returns whether the image is setuid or
 * setgid. */
static bool exec_fill(struct cnproc_src *s, struct agent_event *e)
{
        struct ev_exec *x = &e->exec;
        struct procfs_args a;
        uint32_t f, mode;
        bool cut, setid = false;
        int dirfd;

        if (!proc_fill(s, &e->proc, true, &dirfd)) {
                /* the comm we knew was the one before this exec */
                struct proc_entry *c = cache_find(s, e->proc.pid);

                memset(e->proc.comm, 0, sizeof(e->proc.comm));
                if (c)
                        memset(c->comm, 0, sizeof(c->comm));
        }
        if (dirfd < 0)
                return false;
        if (procfs_exe_read(dirfd, x->image, sizeof(x->image), &f) == 0) {
                if (f & PROCFS_EXE_MEMFD)
                        x->flags |= EV_EXEC_MEMFD;
                if (f & PROCFS_EXE_DELETED)
                        x->flags |= EV_EXEC_DELETED;
                if (f & PROCFS_PATH_TRUNCATED)
                        x->flags |= EV_EXEC_PATH_TRUNCATED;
        }
        if (procfs_exe_mode_read(dirfd, &mode) == 0)
                setid = (mode & (S_ISUID | S_ISGID)) != 0;
        if (procfs_cwd_read(dirfd, x->cwd, sizeof(x->cwd), &cut) == 0 && cut)
                x->flags |= EV_EXEC_PATH_TRUNCATED;
        if (procfs_cmdline_read(dirfd, x->args, sizeof(x->args), EV_ARGC_MAX, &a) == 0) {
                x->args_len = a.len;
                x->argc = a.argc;
                if (a.truncated)
                        x->flags |= EV_EXEC_ARGS_TRUNCATED;
        }
        for (int fd = 0; fd <= 2; fd++) {
                enum procfs_fd_kind k;

                if (procfs_fd_kind_read(dirfd, fd, &k) < 0)
                        continue;
                if (k == PROCFS_FD_SOCKET)
                        x->flags |= (uint32_t)EV_EXEC_STDIN_SOCKET << fd;
                else if (k == PROCFS_FD_TTY)
                        x->flags |= (uint32_t)EV_EXEC_STDIN_TTY << fd;
        }
        close(dirfd);
        return setid;
}

static void deliver(struct cnproc_src *s, struct agent_event *e, evsrc_cb cb, void *ctx)
{
        /* unsigned: a timestamp no kernel sends must not overflow */
        e->wall_ns = (int64_t)(e->mono_ns + (uint64_t)s->wall_offset_ns);
        cb(e, ctx);
}

/* Delivers the held-back uid change i with the given cause. */
static int pending_deliver(struct cnproc_src *s, size_t i, uint32_t cause, evsrc_cb cb, void *ctx)
{
        struct agent_event *e = &s->cred_ev;

        memset(e, 0, sizeof(*e));
        e->type = EV_CRED;
        e->mono_ns = s->pending[i].mono_ns;
        e->proc = s->pending[i].proc;
        e->cred = s->pending[i].cred;
        e->cred.cause = cause;
        s->npending--;
        memmove(&s->pending[i], &s->pending[i + 1], (s->npending - i) * sizeof(s->pending[0]));
        deliver(s, e, cb, ctx);
        return 1;
}

static struct pending_cred *pending_find(struct cnproc_src *s, uint32_t pid, size_t *ret_i)
{
        for (size_t i = 0; i < s->npending; i++)
                if (s->pending[i].proc.pid == pid) {
                        if (ret_i)
                                *ret_i = i;
                        return &s->pending[i];
                }
        return NULL;
}

static int pending_flush_pid(struct cnproc_src *s, uint32_t pid, uint32_t cause, evsrc_cb cb, void *ctx)
{
        size_t i;

        if (!pid || !pending_find(s, pid, &i))
                return 0;
        return pending_deliver(s, i, cause, cb, ctx);
}

static int pending_flush_expired(struct cnproc_src *s, uint64_t now, evsrc_cb cb, void *ctx)
{
        int n = 0;

        /* oldest first: the array is in arrival order */
        while (s->npending > 0 && s->pending[0].mono_ns + CNPROC_CRED_HOLD_NS <= now)
                n += pending_deliver(s, 0, EV_CRED_OTHER, cb, ctx);
        return n;
}

/* PROC_EVENT_UID: the old ids come from the cache (UINT32_MAX when the
 * process was not seen before), the new gids from /proc. */
static int on_uid(struct cnproc_src *s, const struct cnproc_msg *m, evsrc_cb cb, void *ctx)
{
        struct agent_event *e = &s->ev;
        struct proc_entry *c, old = { 0 };
        struct pending_cred *pc;
        int n;

        cnproc_msg_event(m, e);
        c = cache_find(s, m->pid);
        if (c) {
                old = *c;
                /* only the saved or fs uid changed, or another thread of the
                 * process repeats a change already reported */
                if (old.uid == m->id_real && old.euid == m->id_effective)
                        return 0;
        }
        n = pending_flush_pid(s, m->pid, EV_CRED_OTHER, cb, ctx);
        proc_fill(s, &e->proc, true, NULL);
        e->proc.uid = m->id_real;
        e->proc.euid = m->id_effective;
        cache_store(s, &e->proc, true);
        if (c && (!old.start_ticks || old.start_ticks == e->proc.start_ticks)) {
                e->cred.old_uid = old.uid;
                e->cred.old_euid = old.euid;
                e->cred.old_gid = old.base_gid;
                e->cred.old_egid = old.base_egid;
        }
        e->cred.new_gid = e->proc.gid;
        e->cred.new_egid = e->proc.egid;
        if (s->npending == CNPROC_PENDING_MAX)
                n += pending_deliver(s, 0, EV_CRED_OTHER, cb, ctx);
        pc = &s->pending[s->npending++];
        pc->mono_ns = e->mono_ns;
        pc->proc = e->proc;
        pc->cred = e->cred;
        return n;
}

/* PROC_EVENT_GID: no event of its own (EV_CRED is about uids), but the ids
 * are kept, and a held-back uid change of the same commit gets them. */
static void on_gid(struct cnproc_src *s, const struct cnproc_msg *m)
{
        struct proc_entry *c = cache_find(s, m->pid);
        struct pending_cred *pc = pending_find(s, m->pid, NULL);

        if (c) {
                c->gid = m->id_real;
                c->egid = m->id_effective;
        }
        if (pc) {
                pc->proc.gid = pc->cred.new_gid = m->id_real;
                pc->proc.egid = pc->cred.new_egid = m->id_effective;
        }
}

static void on_comm(struct cnproc_src *s, const struct cnproc_msg *m)
{
        struct proc_entry *c = cache_find(s, m->pid);

        /* a process's comm is its leader's; threads name themselves apart */
        if (c && m->pid == m->tid)
                memcpy(c->comm, m->comm, sizeof(c->comm));
}

static void on_fork(struct cnproc_src *s, struct agent_event *e)
{
        struct ev_proc child;
        struct procfs_stat st;
        int dirfd;

        proc_fill(s, &e->proc, false, NULL);
        /* the child starts as a copy of its parent */
        child = e->proc;
        child.pid = child.tid = e->fork.child_pid;
        child.ppid = e->proc.pid;
        child.start_ticks = 0;
        dirfd = procfs_pid_open(s->proc_root, child.pid);
        if (dirfd >= 0) {
                if (procfs_stat_read(dirfd, &st) == 0) {
                        child.start_ticks = st.start_ticks;
                        child.ppid = st.ppid;
                        memcpy(child.comm, st.comm, sizeof(child.comm));
                }
                close(dirfd);
        }
        e->fork.child_start_ticks = child.start_ticks;
        cache_store(s, &child, false);
}

static void on_exit_event(struct cnproc_src *s, struct agent_event *e)
{
        struct proc_entry *c;
        uint32_t ppid = e->proc.ppid;

        proc_fill(s, &e->proc, false, NULL);
        if (ppid)
                e->proc.ppid = ppid;
        c = cache_find(s, e->proc.pid);
        if (c)
                memset(c, 0, sizeof(*c));
}

static void on_ptrace(struct cnproc_src *s, struct agent_event *e)
{
        struct ev_proc target;
        struct proc_entry *c;

        proc_unknown(&target);
        target.pid = target.tid = e->inject.target_pid;
        proc_fill(s, &target, false, NULL);
        e->inject.target_start_ticks = target.start_ticks;
        c = cache_find(s, target.pid);
        if (e->inject.request == PTRACE_DETACH) {
                /* the kernel names no tracer on detach: the one we saw attach */
                if (c && c->tracer) {
                        e->proc.pid = e->proc.tid = c->tracer;
                        c->tracer = 0;
                }
        } else if (c) {
                c->tracer = e->proc.pid;
        }
        proc_fill(s, &e->proc, false, NULL);
}

static void seq_account(struct cnproc_src *s, const struct cnproc_msg *m)
{
        struct cpu_seq *c;

        /* answers count too on kernels that number them per CPU; older ones
         * send them with cpu -1 */
        if (m->cpu >= CNPROC_CPU_MAX)
                return;
        c = &s->cpus[m->cpu];
        if (c->seen) {
                uint32_t gap = m->seq - c->next;

                if (gap < CNPROC_SEQ_GAP_MAX)
                        s->lost += gap;
        }
        c->seen = true;
        c->next = m->seq + 1;
}

/* Handles one decoded message. Returns the events delivered. */
static int on_msg(struct cnproc_src *s, const struct cnproc_msg *m, evsrc_cb cb, void *ctx)
{
        struct agent_event *e = &s->ev;
        uint32_t cause = EV_CRED_OTHER;
        int n = 0;

        seq_account(s, m);
        switch (m->what) {
        case CNPROC_UID:
                return on_uid(s, m, cb, ctx);
        case CNPROC_GID:
                on_gid(s, m);
                return 0;
        case CNPROC_COMM:
                on_comm(s, m);
                return 0;
        }
        if (!cnproc_msg_event(m, e))
                return 0;
        switch (e->type) {
        case EV_EXEC:
                if (exec_fill(s, e))
                        cause = EV_CRED_SETUID_EXEC;
                break;
        case EV_FORK:
                on_fork(s, e);
                break;
        case EV_EXIT:
                on_exit_event(s, e);
                break;
        case EV_PTRACE:
                on_ptrace(s, e);
                break;
        default:
                break;
        }
        /* a uid change of this process comes first, as the kernel made it */
        n += pending_flush_pid(s, e->proc.pid, cause, cb, ctx);
        deliver(s, e, cb, ctx);
        return n + 1;
}

static int on_datagram(struct cnproc_src *s, const uint8_t *buf, size_t len, evsrc_cb cb, void *ctx)
{
        size_t off = 0;
        int n = 0;

        while (off < len) {
                struct cnproc_msg m;
                int r = cnproc_parse(buf + off, len - off, &m);

                if (r < 0)
                        break;          /* the rest of a malformed datagram cannot be framed */
                off += (size_t)r;
                n += on_msg(s, &m, cb, ctx);
        }
        return n;
}

/* ---- the socket ---- */

static struct cnproc_src *to_src(struct evsrc *base)
{
        return (struct cnproc_src *)base;
}

/* Asks the kernel to start or stop sending events to this socket. */
static int mcast_send(struct cnproc_src *s, uint32_t op)
{
        uint8_t msg[NLMSG_LENGTH(sizeof(struct cn_msg) + sizeof(uint32_t))] __attribute__((aligned(4)));
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
        struct nlmsghdr nlh = {
                .nlmsg_len = sizeof(msg), .nlmsg_type = NLMSG_DONE,
                .nlmsg_seq = s->listen_seq, .nlmsg_pid = s->portid,
        };
        struct cn_msg cn = {
                .id = { .idx = CN_IDX_PROC, .val = CN_VAL_PROC },
                .seq = s->listen_seq, .ack = s->listen_seq, .len = sizeof(uint32_t),
        };

        memcpy(msg, &nlh, sizeof(nlh));
        memcpy(msg + NLMSG_HDRLEN, &cn, sizeof(cn));
        memcpy(msg + NLMSG_HDRLEN + sizeof(cn), &op, sizeof(op));
        if (sendto(s->fd, msg, sizeof(msg), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
                return -errno;
        return 0;
}

/* Receives one datagram from the kernel into s->buf. Returns its length,
 * 0 for something to skip (not from the kernel, truncated, an overrun),
 * -EAGAIN when there is nothing, or a negative errno. */
static ssize_t recv_datagram(struct cnproc_src *s)
{
        struct sockaddr_nl from;
        struct iovec iov = { .iov_base = s->buf, .iov_len = sizeof(s->buf) };
        struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        n = recvmsg(s->fd, &mh, MSG_DONTWAIT);
        if (n < 0) {
                if (errno == ENOBUFS) {
                        s->overruns++;
                        return 0;
                }
                if (errno == EINTR)
                        return 0;
                return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        }
        /* only the kernel (port 0) speaks for the proc connector: a local
         * process can send to our port, and is ignored */
        if (mh.msg_namelen != sizeof(from) || from.nl_family != AF_NETLINK || from.nl_pid != 0 ||
            (mh.msg_flags & MSG_TRUNC))
                return 0;
        return n;
}

/* Waits for the kernel's answer to our LISTEN: a PROC_EVENT_NONE whose ack
 * is ours + 1 (its seq is ours on older kernels, a per-CPU counter on newer
 * ones, so it is not compared). Events that come first are dropped: the
 * sensor is not started yet. */
static int listen_wait_ack(struct cnproc_src *s)
{
        uint64_t deadline = mono_now_ns() + CNPROC_ACK_TIMEOUT_MS * 1000000ull;

        for (;;) {
                struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
                uint64_t now = mono_now_ns();
                ssize_t n;
                size_t off;

                if (now >= deadline)
                        return -ETIMEDOUT;
                if (poll(&pfd, 1, (int)((deadline - now) / 1000000 + 1)) < 0 && errno != EINTR)
                        return -errno;
                n = recv_datagram(s);
                if (n == -EAGAIN || n == 0)
                        continue;
                if (n < 0)
                        return (int)n;
                for (off = 0; off < (size_t)n;) {
                        struct cnproc_msg m;
                        int r = cnproc_parse(s->buf + off, (size_t)n - off, &m);

                        if (r < 0)
                                break;
                        off += (size_t)r;
                        seq_account(s, &m);
                        if (m.what == CNPROC_NONE && m.ack == s->listen_seq + 1)
                                return -(int)m.ack_err;
                }
        }
}

/* Finds the cgroup2 mount: /sys/fs/cgroup on unified hosts, its "unified"
 * subdirectory on hybrid ones. */
static void cgroup_root_find(struct cnproc_src *s)
{
        static const char *const candidates[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
        struct statfs sf;

        s->cgroup_root[0] = '\0';
        for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
                if (statfs(candidates[i], &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC) {
                        snprintf(s->cgroup_root, sizeof(s->cgroup_root), "%s", candidates[i]);
                        return;
                }
}

/* Learns the processes already running, so that their exits, forks and id
 * changes have ids, comm and start times. At most one per cache slot. */
static void cache_prime(struct cnproc_src *s)
{
        char path[300];
        int dfd;
        DIR *d;
        struct dirent *de;

        snprintf(path, sizeof(path), "%s", s->proc_root);
        dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return;
        d = fdopendir(dfd);
        if (!d) {
                close(dfd);
                return;
        }
        while ((de = readdir(d))) {
                struct ev_proc p;
                char *end;
                unsigned long pid = strtoul(de->d_name, &end, 10);

                if (de->d_name[0] < '1' || de->d_name[0] > '9' || *end || pid > CNPROC_PID_MAX)
                        continue;
                proc_unknown(&p);
                p.pid = p.tid = (uint32_t)pid;
                proc_fill(s, &p, true, NULL);
        }
        closedir(d);
}

static int cnproc_fd(struct evsrc *base)
{
        return to_src(base)->fd;
}

static int cnproc_poll(struct evsrc *base, int timeout_ms, evsrc_cb cb, void *ctx)
{
        struct cnproc_src *s = to_src(base);
        struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
        uint64_t now = mono_now_ns();
        int n, wait = timeout_ms;

        wall_offset_update(s);
        n = pending_flush_expired(s, now, cb, ctx);
        if (n > 0)
                wait = 0;
        if (s->npending > 0) {
                uint64_t due = s->pending[0].mono_ns + CNPROC_CRED_HOLD_NS;
                int until = due > now ? (int)((due - now) / 1000000 + 1) : 0;

                if (wait < 0 || until < wait)
                        wait = until;
        }
        if (poll(&pfd, 1, wait) < 0)
                return errno == EINTR ? n : -errno;
        /* an overrun shows as POLLERR, and stays until a receive collects it */
        for (int i = 0; i < CNPROC_DATAGRAMS_PER_POLL && (pfd.revents & (POLLIN | POLLERR)); i++) {
                ssize_t len = recv_datagram(s);

                if (len == -EAGAIN)
                        break;
                if (len < 0)
                        return n > 0 ? n : (int)len;
                n += on_datagram(s, s->buf, (size_t)len, cb, ctx);
        }
        return n + pending_flush_expired(s, mono_now_ns(), cb, ctx);
}

static uint64_t cnproc_dropped(struct evsrc *base)
{
        struct cnproc_src *s = to_src(base);

        /* each overrun lost one message at least; the sequence gaps say how
         * many were lost in all, once a later message of the CPU arrives */
        return s->lost > s->overruns ? s->lost : s->overruns;
}

static const char *cnproc_limitations(struct evsrc *base)
{
        return "proc connector: no network connections, file writes, process_vm_writev, "
               "/proc/PID/mem writes or memfd_create; ptrace attach/detach only (no request type); "
               "gid-only changes not reported; image, args and cwd are read from /proc after the fact, "
               "so they can be missing or raced for short-lived processes";
}

static void cnproc_close(struct evsrc *base)
{
        struct cnproc_src *s = to_src(base);

        if (!s)
                return;
        if (s->fd >= 0) {
                mcast_send(s, PROC_CN_MCAST_IGNORE);
                close(s->fd);
        }
        free(s);
}

static const struct evsrc_ops cnproc_ops = {
        .name = "cnproc",
        .fd = cnproc_fd,
        .poll = cnproc_poll,
        .dropped = cnproc_dropped,
        .limitations = cnproc_limitations,
        .close = cnproc_close,
};

static struct cnproc_src *src_new(const char *proc_root)
{
        struct cnproc_src *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        s->base.ops = &cnproc_ops;
        s->fd = -1;
        snprintf(s->proc_root, sizeof(s->proc_root), "%s", proc_root);
        return s;
}

static int socket_open(struct cnproc_src *s, char *err, size_t err_size)
{
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC };
        socklen_t salen = sizeof(sa);
        int size = CNPROC_RCVBUF;

        s->fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR);
        if (s->fd < 0) {
                int r = errno == EPROTONOSUPPORT || errno == EAFNOSUPPORT ? -EOPNOTSUPP : -errno;

                snprintf(err, err_size, "cannot open the netlink connector socket: %s", strerror(errno));
                return r;
        }
        if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = -errno;

                snprintf(err, err_size, "cannot join the proc connector group: %s%s", strerror(errno),
                         r == -EPERM ? " (root or CAP_NET_ADMIN is needed)" : "");
                return r;
        }
        if (getsockname(s->fd, (struct sockaddr *)&sa, &salen) < 0) {
                snprintf(err, err_size, "cannot read the netlink port: %s", strerror(errno));
                return -errno;
        }
        s->portid = sa.nl_pid;
        s->listen_seq = sa.nl_pid;
        /* a burst of forks must not overrun us: ask for a large buffer, past
         * rmem_max when privileged */
        if (setsockopt(s->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
                setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        return 0;
}

/* cfg is not used: the proc connector reports no file activity, so there
 * are no watched paths to apply. */
int evsrc_cnproc_open(const struct evsrc_config *cfg, struct evsrc **ret, char *err, size_t err_size)
{
        struct cnproc_src *s;
        int r;

        s = src_new(PROCFS_ROOT_DEFAULT);
        if (!s) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        r = socket_open(s, err, err_size);
        if (r < 0)
                goto fail;
        r = mcast_send(s, PROC_CN_MCAST_LISTEN);
        if (r < 0) {
                snprintf(err, err_size, "cannot subscribe to the proc connector: %s", strerror(-r));
                goto fail;
        }
        r = listen_wait_ack(s);
        if (r == -ETIMEDOUT) {
                snprintf(err, err_size, "the proc connector did not answer (kernel without CONFIG_PROC_EVENTS?)");
                r = -EOPNOTSUPP;
                goto fail;
        }
        if (r < 0) {
                snprintf(err, err_size, "the proc connector refused to subscribe: %s%s", strerror(-r),
                         r == -EPERM ? " (root or CAP_NET_ADMIN is needed)" : "");
                goto fail;
        }
        cgroup_root_find(s);
        cache_prime(s);
        wall_offset_update(s);
        *ret = &s->base;
        return 0;
fail:
        cnproc_close(&s->base);
        return r;
}

int cnproc_open_detached(const char *proc_root, const char *cgroup_root, struct evsrc **ret)
{
        struct cnproc_src *s = src_new(proc_root);

        if (!s)
                return -ENOMEM;
        if (cgroup_root)
                snprintf(s->cgroup_root, sizeof(s->cgroup_root), "%s", cgroup_root);
        cache_prime(s);
        wall_offset_update(s);
        *ret = &s->base;
        return 0;
}

int cnproc_feed(struct evsrc *base, const void *buf, size_t len, uint64_t now_ns, evsrc_cb cb, void *ctx)
{
        struct cnproc_src *s = to_src(base);
        int n;

        n = on_datagram(s, buf, len, cb, ctx);
        return n + pending_flush_expired(s, now_ns, cb, ctx);
}
