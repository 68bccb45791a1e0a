/* sensor.bpf.c: the kernel side of Vigil's eBPF sensor.
 *
 * Only BTF-enabled tracepoints (tp_btf) are used, so no tracefs, kprobe or
 * ftrace support is needed (kernels that refuse fentry and BPF LSM still
 * run all of it): sched_process_exec/fork/exit for the process lifecycle,
 * sched_prepare_exec for setuid executions, and the raw sys_exit
 * tracepoint for the rest. sys_exit is a small dispatcher that tail-calls
 * one program per concern (credentials, injection, /proc/PID/mem, memfd,
 * files, network), so the loader can switch a concern off when this kernel
 * refuses its program and keep the others; no sys_enter program runs, as
 * what a call changed is read at its exit. Records go out through one ring
 * buffer in the layout of include/vigil/bpf_event.h; a record that does not
 * fit is counted in a per-CPU drop counter. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "vigil/bpf_event.h"

/* The kernel lends its GPL-only helpers (probe reads, ring buffer, ...)
 * only to GPL-compatible programs. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Loop bounds. */
#define PATH_WALK_MAX 80                /* path components plus mount crossings */
#define NAME_LEN_MAX 255                /* one component, as the kernel caps it */
#define STDIO_FDS 3

#define RINGBUF_BYTES_DEFAULT (8 << 20)  /* the loader sets the size it wants */

/* Kernel constants that are macros, hence absent from vmlinux.h. */
#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define S_IFREG 0100000
#define S_IFCHR 0020000
#define MINORBITS 20
#define FMODE_WRITE 0x2
#define FMODE_CREATED 0x100000
#define SB_KERNMOUNT (1UL << 22)
#define PROC_SUPER_MAGIC 0x9fa0
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define AT_FDCWD -100
#define EINPROGRESS 115
#define TS_COMPAT 0x0002
#define PTRACE_POKETEXT 4
#define PTRACE_POKEDATA 5
#define PTRACE_POKEUSR 6
#define PTRACE_SETREGS 13
#define PTRACE_SETFPREGS 15
#define PTRACE_ATTACH 16
#define PTRACE_SETREGSET 0x4205
#define PTRACE_SEIZE 0x4206

/* System call numbers and argument registers: only the native ABI is
 * decoded; 32-bit compat calls are skipped (see is_compat()). */
#if defined(__TARGET_ARCH_x86)
#define NR_write 1
#define NR_open 2
#define NR_pwrite64 18
#define NR_writev 20
#define NR_connect 42
#define NR_accept 43
#define NR_sendto 44
#define NR_sendmsg 46
#define NR_rename 82
#define NR_creat 85
#define NR_unlink 87
#define NR_ptrace 101
#define NR_setuid 105
#define NR_setreuid 113
#define NR_setresuid 117
#define NR_openat 257
#define NR_unlinkat 263
#define NR_renameat 264
#define NR_accept4 288
#define NR_pwritev 296
#define NR_process_vm_writev 311
#define NR_renameat2 316
#define NR_memfd_create 319
#define NR_pwritev2 328
#define NR_openat2 437
#define SYSCALL_NR(r) ((long)(r)->orig_ax)
#define SYSCALL_ARG1(r) ((r)->di)
#define SYSCALL_ARG2(r) ((r)->si)
#define SYSCALL_ARG3(r) ((r)->dx)
#define SYSCALL_ARG4(r) ((r)->r10)
#define SYSCALL_ARG5(r) ((r)->r8)
#define SYSCALL_ARG6(r) ((r)->r9)
#elif defined(__TARGET_ARCH_arm64)
#define NR_write 64
#define NR_open -1
#define NR_pwrite64 68
#define NR_writev 66
#define NR_connect 203
#define NR_accept 202
#define NR_sendto 206
#define NR_sendmsg 211
#define NR_rename -1
#define NR_creat -1
#define NR_unlink -1
#define NR_ptrace 117
#define NR_setuid 146
#define NR_setreuid 145
#define NR_setresuid 147
#define NR_openat 56
#define NR_unlinkat 35
#define NR_renameat 38
#define NR_accept4 242
#define NR_pwritev 70
#define NR_process_vm_writev 271
#define NR_renameat2 276
#define NR_memfd_create 279
#define NR_pwritev2 287
#define NR_openat2 437
#define SYSCALL_NR(r) ((long)(r)->syscallno)
#define SYSCALL_ARG1(r) ((r)->orig_x0)
#define SYSCALL_ARG2(r) ((r)->regs[1])
#define SYSCALL_ARG3(r) ((r)->regs[2])
#define SYSCALL_ARG4(r) ((r)->regs[3])
#define SYSCALL_ARG5(r) ((r)->regs[4])
#define SYSCALL_ARG6(r) ((r)->regs[5])
#else
#error "sensor.bpf.c: system call numbers are known for x86 and arm64 only"
#endif

/* Set by the loader before loading. */
const volatile __u32 agent_tgid = 0;            /* events of the agent itself are dropped */
/* Watched entries, pre-filtered here: see enum vigil_bpf_watch_kind. */
const volatile __u8 watch_kind[VIGIL_BPF_WATCH_MAX] = {};
const volatile __u16 watch_head_len[VIGIL_BPF_WATCH_MAX] = {};
const volatile __u16 watch_tail_len[VIGIL_BPF_WATCH_MAX] = {};
const volatile char watch_head[VIGIL_BPF_WATCH_MAX][VIGIL_BPF_WATCH_LEN] = {};
const volatile char watch_tail[VIGIL_BPF_WATCH_MAX][VIGIL_BPF_WATCH_LEN] = {};

struct {
        __uint(type, BPF_MAP_TYPE_RINGBUF);
        __uint(max_entries, RINGBUF_BYTES_DEFAULT);
} events SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
        __uint(max_entries, 1);
        __type(key, __u32);
        __type(value, __u64);
} drops SEC(".maps");

/* Scratch space for the records too large for the BPF stack. Programs on
 * different hooks use different maps, so a nested run cannot clobber one. */
struct {
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
        __uint(max_entries, 1);
        __type(key, __u32);
        __type(value, struct vigil_bpf_exec);
} exec_buf SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
        __uint(max_entries, 1);
        __type(key, __u32);
        __type(value, struct vigil_bpf_file);
} file_buf SEC(".maps");

/* A path is built backwards from the middle; the second half takes the
 * overrun of a name copied at any offset of the first. */
struct path_buf {
        char buf[2 * VIGIL_BPF_PATH_MAX];
};

/* Two slots: 0 for the exec hook, 1 for sys_exit. */
struct {
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
        __uint(max_entries, 2);
        __type(key, __u32);
        __type(value, struct path_buf);
} path_bufs SEC(".maps");

struct cred_ids {
        __u32 uid, euid, gid, egid;
};

/* The ids each thread had when last seen (created, past an exec, after a
 * setuid-family call), so that the exit of a setuid-family call can say
 * what it changed without a sys_enter program running on every system
 * call. Threads older than the sensor are not in it. Entries are not
 * deleted at exit (a map update takes a lock, and costs more than the
 * rest of an event): a reused thread id is overwritten when its thread is
 * created, and the LRU drops the dead ones. */
struct {
        __uint(type, BPF_MAP_TYPE_LRU_HASH);
        __uint(max_entries, 32768);
        __type(key, __u32);
        __type(value, struct cred_ids);
} thread_ids SEC(".maps");

/* Processes that hold a /proc/PID/mem open for writing (opened while the
 * sensor runs, or inherited through fork): only their write-family calls
 * are looked at, so that other writes cost a map lookup. */
struct {
        __uint(type, BPF_MAP_TYPE_LRU_HASH);
        __uint(max_entries, 4096);
        __type(key, __u32);
        __type(value, __u8);
} mem_writers SEC(".maps");

/* UDP destinations already reported per socket. */
struct udp_key {
        __u64 sk;
        __u8 daddr[16];
        __u16 dport;
        __u16 family;
        __u32 pad;
};

struct {
        __uint(type, BPF_MAP_TYPE_LRU_HASH);
        __uint(max_entries, 16384);
        __type(key, struct udp_key);
        __type(value, __u8);
} udp_seen SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
        __uint(max_entries, VIGIL_BPF_SX_COUNT);
        __type(key, __u32);
        __type(value, __u32);
} sys_exit_tails SEC(".maps");

/* Resolve a pid number to a task: in the caller's namespace where the kernel
 * can (6.13+), else in the initial one. */
extern struct task_struct *bpf_task_from_vpid(s32 vpid) __ksym __weak;
extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym __weak;
extern void bpf_task_release(struct task_struct *p) __ksym __weak;

/* Set by the agent while threat defense is off (a configuration profile):
 * no record is written, so the sensor costs next to nothing; the maps that
 * follow processes (thread_ids, mem_writers, ...) are still kept. */
__u32 paused = 0;

static __always_inline void drop_count(void)
{
        __u32 zero = 0;
        __u64 *n;

        if (paused)
                return;
        n = bpf_map_lookup_elem(&drops, &zero);

        if (n)
                __sync_fetch_and_add(n, 1);
}

/* Waking the reader costs more than writing a small record, so the
 * frequent records (exec, fork, exit) wake it at most every
 * WAKEUP_INTERVAL_NS, or when WAKEUP_BYTES wait; the loader drains the
 * buffer every 10 ms (DRAIN_MS in evsrc_bpf.c), so a record not followed by
 * a wakeup waits at most that long. The rare records wake it at once. */
#define WAKEUP_INTERVAL_NS (5 * 1000 * 1000)
#define WAKEUP_BYTES (1 << 20)

__u64 last_wakeup_ns = 0;

static __always_inline __u64 wakeup_batched(void)
{
        __u64 now = bpf_ktime_get_ns();

        if (now - last_wakeup_ns < WAKEUP_INTERVAL_NS &&
            bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) < WAKEUP_BYTES)
                return BPF_RB_NO_WAKEUP;
        last_wakeup_ns = now;
        return BPF_RB_FORCE_WAKEUP;
}

static __always_inline void emit(void *rec, __u32 size, __u64 wakeup)
{
        if (paused)
                return;
        if (bpf_ringbuf_output(&events, rec, size, wakeup) < 0)
                drop_count();
}

static __always_inline void proc_fill(struct vigil_bpf_proc *p, struct task_struct *t)
{
        const struct cred *c = t->real_cred;

        p->pid = t->tgid;
        p->tid = t->pid;
        p->ppid = t->real_parent->tgid;
        p->uid = c->uid.val;
        p->euid = c->euid.val;
        p->gid = c->gid.val;
        p->egid = c->egid.val;
        p->loginuid = 0xffffffff;
        if (bpf_core_field_exists(t->loginuid))
                p->loginuid = t->loginuid.val;
        p->cgroup_id = bpf_get_current_cgroup_id();
        p->start_ns = t->group_leader->start_boottime;
        bpf_get_current_comm(p->comm, sizeof(p->comm));
}

/* Fills the header from the current task. */
static __always_inline void hdr_fill(struct vigil_bpf_hdr *h, __u32 type, __u32 size,
                                     struct task_struct *t)
{
        h->type = type;
        h->size = size;
        h->mono_ns = bpf_ktime_get_ns();
        proc_fill(&h->proc, t);
}

static __always_inline bool is_agent(struct task_struct *t)
{
        return agent_tgid && (__u32)t->tgid == agent_tgid;
}

static __always_inline void ids_read(struct cred_ids *ids, const struct cred *c)
{
        ids->uid = c->uid.val;
        ids->euid = c->euid.val;
        ids->gid = c->gid.val;
        ids->egid = c->egid.val;
}

#define PATH_CUT (1 << 16)

/* Builds the absolute path of (vfsmnt, dentry), as its mount namespace sees
 * it, backwards from the middle of path_bufs[slot]: walks dentries up and
 * crosses mounts, at most PATH_WALK_MAX steps. The path ends at offset
 * VIGIL_BPF_PATH_MAX - 1 (its NUL); returns where it starts, with PATH_CUT
 * set when it was too deep or too long and only its last part (the file
 * end) is there, or -1. A global function, so the verifier checks the walk
 * once rather than at every call site. */
__noinline int path_build(__u32 slot, __u64 vfsmnt, __u64 dentry_addr)
{
        struct path_buf *pb = bpf_map_lookup_elem(&path_bufs, &slot);
        __u64 mnt_off = bpf_core_field_offset(struct mount, mnt);
        struct mount *mnt = (struct mount *)(vfsmnt - mnt_off);
        const struct dentry *dentry = (const struct dentry *)dentry_addr;
        __u32 off = VIGIL_BPF_PATH_MAX - 1;
        bool complete = false;

        if (!pb || !dentry || !vfsmnt)
                return -1;
        pb->buf[off] = '\0';
        for (int i = 0; i < PATH_WALK_MAX; i++) {
                const struct dentry *root = BPF_CORE_READ(mnt, mnt.mnt_root);
                const struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
                struct qstr q;
                __u32 len;

                if (dentry == root) {
                        struct mount *up = BPF_CORE_READ(mnt, mnt_parent);

                        if (up == mnt || !up) {
                                complete = true;
                                break;
                        }
                        dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
                        mnt = up;
                        continue;
                }
                if (BPF_CORE_READ_INTO(&q, dentry, d_name) < 0)
                        break;
                len = q.len & NAME_LEN_MAX;
                if (len + 1 > off)
                        break;
                off -= len + 1;
                off &= VIGIL_BPF_PATH_MAX - 1;
                pb->buf[off] = '/';
                if (bpf_probe_read_kernel(&pb->buf[off + 1], len, q.name) < 0)
                        break;
                if (dentry == parent) {
                        /* not in the tree (a memfd, a pseudo file): its
                         * name is all there is */
                        complete = true;
                        break;
                }
                dentry = parent;
        }
        if (off == VIGIL_BPF_PATH_MAX - 1) {
                off = VIGIL_BPF_PATH_MAX - 2;
                pb->buf[off] = '/';
        }
        return off | (complete ? 0 : PATH_CUT);
}

/* Builds the path of (vfsmnt, dentry) into dst + at, which must have room
 * for VIGIL_BPF_PATH_MAX bytes there. Returns its length, NUL included, or
 * 0 when it cannot be read. */
static __always_inline __u32 path_write(char *dst, __u32 at, __u32 slot,
                                        const struct vfsmount *vfsmnt,
                                        const struct dentry *dentry, bool *cut)
{
        int r = path_build(slot, (__u64)vfsmnt, (__u64)dentry);
        struct path_buf *pb;
        __u32 off, len;

        if (r < 0)
                return 0;
        if (r & PATH_CUT)
                *cut = true;
        off = r & (VIGIL_BPF_PATH_MAX - 1);
        len = VIGIL_BPF_PATH_MAX - off;
        pb = bpf_map_lookup_elem(&path_bufs, &slot);
        barrier_var(len);
        barrier_var(at);
        if (!pb || len > VIGIL_BPF_PATH_MAX || len < 2 || at > 2 * VIGIL_BPF_PATH_MAX)
                return 0;
        if (bpf_probe_read_kernel(dst + at, len, pb->buf + off) < 0)
                return 0;
        return len;
}

static __always_inline struct file *fd_file(struct task_struct *t, long fd)
{
        struct fdtable *fdt = t->files->fdt;
        struct file **fds = fdt->fd;
        struct file *f = NULL;

        if (fd < 0 || fd >= fdt->max_fds)
                return NULL;
        bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
        return f;
}

static __always_inline bool tty_major(__u32 major)
{
        return major == 4 || major == 5 || (major >= 136 && major <= 143);
}

/* Marks which of fds 0-2 are sockets or terminals. */
static __always_inline __u32 stdio_flags(struct task_struct *t)
{
        __u32 flags = 0;

        for (int i = 0; i < STDIO_FDS; i++) {
                struct file *f = fd_file(t, i);
                __u32 mode;

                if (!f)
                        continue;
                mode = BPF_CORE_READ(f, f_inode, i_mode);
                if ((mode & S_IFMT) == S_IFSOCK) {
                        flags |= VIGIL_BPF_EXEC_STDIN_SOCKET << i;
                } else if ((mode & S_IFMT) == S_IFCHR) {
                        __u32 rdev = BPF_CORE_READ(f, f_inode, i_rdev);

                        if (tty_major(rdev >> MINORBITS))
                                flags |= VIGIL_BPF_EXEC_STDIN_TTY << i;
                }
        }
        return flags;
}

/* A memfd is a "memfd:NAME" file on the kernel's internal shmem (or
 * hugetlbfs) mount. */
static __always_inline bool file_is_memfd(struct file *file, const char *path)
{
        unsigned long sb_flags = BPF_CORE_READ(file, f_path.mnt, mnt_sb, s_flags);

        return (sb_flags & SB_KERNMOUNT) && path[1] == 'm' && path[2] == 'e' &&
               path[3] == 'm' && path[4] == 'f' && path[5] == 'd' && path[6] == ':';
}

/* A procfs file named "mem": /proc/PID/mem or /proc/PID/task/TID/mem. */
static __always_inline bool file_is_proc_mem(struct file *f)
{
        char name[4];

        if (bpf_probe_read_kernel(name, sizeof(name), BPF_CORE_READ(f, f_path.dentry, d_name.name)) < 0)
                return false;
        return name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && name[3] == '\0';
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vigil_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
        struct task_struct *t = bpf_get_current_task_btf();
        struct file *file = bprm->file;
        struct mm_struct *mm = t->mm;
        struct vigil_bpf_exec *ev;
        __u32 zero = 0, ilen, clen, alen, size, tid = t->pid;
        unsigned long arg_start, arg_end;
        struct cred_ids ids, *known;
        bool cut = false;

        ids_read(&ids, t->real_cred);
        known = bpf_map_lookup_elem(&thread_ids, &tid);
        if (!known || known->uid != ids.uid || known->euid != ids.euid)
                bpf_map_update_elem(&thread_ids, &tid, &ids, BPF_ANY);
        if (is_agent(t))
                return 0;
        ev = bpf_map_lookup_elem(&exec_buf, &zero);
        if (!ev)
                return 0;
        ev->flags = 0;
        ev->argc = bprm->argc;

        ilen = path_write(ev->data, 0, 0, BPF_CORE_READ(file, f_path.mnt),
                          BPF_CORE_READ(file, f_path.dentry), &cut);
        if (ilen > VIGIL_BPF_PATH_MAX || ilen < 2)
                return 0;
        if (cut)
                ev->flags |= VIGIL_BPF_EXEC_PATH_TRUNCATED;
        /* a memfd has no link either, but was never deleted */
        if (file_is_memfd(file, ev->data))
                ev->flags |= VIGIL_BPF_EXEC_MEMFD;
        else if (BPF_CORE_READ(file, f_inode, i_nlink) == 0)
                ev->flags |= VIGIL_BPF_EXEC_DELETED;

        cut = false;
        clen = path_write(ev->data, ilen, 0, BPF_CORE_READ(t, fs, pwd.mnt),
                          BPF_CORE_READ(t, fs, pwd.dentry), &cut);
        if (clen > VIGIL_BPF_PATH_MAX)
                return 0;
        if (cut)
                ev->flags |= VIGIL_BPF_EXEC_CWD_TRUNCATED;

        arg_start = BPF_CORE_READ(mm, arg_start);
        arg_end = BPF_CORE_READ(mm, arg_end);
        alen = 0;
        if (arg_end > arg_start) {
                __u64 want = arg_end - arg_start;
                __u32 at = ilen + clen;

                if (want > VIGIL_BPF_ARGS_MAX) {
                        want = VIGIL_BPF_ARGS_MAX;
                        ev->flags |= VIGIL_BPF_EXEC_ARGS_TRUNCATED;
                }
                alen = want;
                barrier_var(alen);
                barrier_var(at);
                if (at > 2 * VIGIL_BPF_PATH_MAX || alen > VIGIL_BPF_ARGS_MAX)
                        return 0;
                if (bpf_probe_read_user(&ev->data[at], alen, (void *)arg_start) < 0)
                        alen = 0;
        }
        ev->flags |= stdio_flags(t);
        ev->image_len = ilen;
        ev->cwd_len = clen;
        ev->args_len = alen;

        size = offsetof(struct vigil_bpf_exec, data) + ilen + clen + alen;
        barrier_var(size);
        if (size > sizeof(*ev))
                return 0;
        hdr_fill(&ev->hdr, VIGIL_BPF_EXEC, size, t);
        emit(ev, size, wakeup_batched());
        return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(vigil_fork, struct task_struct *parent, struct task_struct *child)
{
        struct task_struct *t = bpf_get_current_task_btf();
        struct vigil_bpf_fork *ev;
        __u32 ptgid = t->tgid, ctgid = child->tgid, ctid = child->pid;
        struct cred_ids ids;
        __u8 one = 1;

        ids_read(&ids, child->real_cred);
        bpf_map_update_elem(&thread_ids, &ctid, &ids, BPF_ANY);
        if (child->pid != child->tgid || is_agent(t))
                return 0;       /* a thread, not a process */
        if (bpf_map_lookup_elem(&mem_writers, &ptgid))
                bpf_map_update_elem(&mem_writers, &ctgid, &one, BPF_ANY);
        ev = paused ? NULL : bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
        if (!ev) {
                drop_count();
                return 0;
        }
        hdr_fill(&ev->hdr, VIGIL_BPF_FORK, sizeof(*ev), t);
        ev->child_pid = child->tgid;
        ev->pad = 0;
        ev->child_start_ns = child->start_boottime;
        bpf_ringbuf_submit(ev, wakeup_batched());
        return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(vigil_exit, struct task_struct *p)
{
        struct task_struct *t = bpf_get_current_task_btf();
        struct vigil_bpf_exit *ev;
        __u32 tgid = t->tgid;

        /* Only the last thread of the group: do_exit() has counted this one
         * out of signal->live already. */
        if (t->signal->live.counter != 0 || is_agent(t))
                return 0;
        if (bpf_map_lookup_elem(&mem_writers, &tgid))
                bpf_map_delete_elem(&mem_writers, &tgid);
        ev = paused ? NULL : bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
        if (!ev) {
                drop_count();
                return 0;
        }
        hdr_fill(&ev->hdr, VIGIL_BPF_EXIT, sizeof(*ev), t);
        ev->code = t->exit_code;
        ev->pad = 0;
        bpf_ringbuf_submit(ev, wakeup_batched());
        return 0;
}

static __always_inline void cred_emit(struct task_struct *t, const struct cred_ids *old,
                                      const struct cred_ids *new, __u32 cause)
{
        struct vigil_bpf_cred *ev;

        ev = paused ? NULL : bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
        if (!ev) {
                drop_count();
                return;
        }
        hdr_fill(&ev->hdr, VIGIL_BPF_CRED, sizeof(*ev), t);
        ev->old_uid = old->uid;
        ev->old_euid = old->euid;
        ev->old_gid = old->gid;
        ev->old_egid = old->egid;
        ev->new_uid = new->uid;
        ev->new_euid = new->euid;
        ev->new_gid = new->gid;
        ev->new_egid = new->egid;
        /* on the exec path the header was read before commit_creds() */
        ev->hdr.proc.uid = new->uid;
        ev->hdr.proc.euid = new->euid;
        ev->hdr.proc.gid = new->gid;
        ev->hdr.proc.egid = new->egid;
        ev->cause = cause;
        ev->pad = 0;
        bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
}

/* Past the point of no return of execve(): current still has its old
 * credentials and bprm->cred holds those it is about to get. */
SEC("tp_btf/sched_prepare_exec")
int BPF_PROG(vigil_exec_cred, struct task_struct *task, struct linux_binprm *bprm)
{
        struct task_struct *t = bpf_get_current_task_btf();
        struct cred_ids old, new;

        if (is_agent(t) || !bprm->cred)
                return 0;
        ids_read(&old, t->real_cred);
        ids_read(&new, bprm->cred);
        if (old.uid != new.uid || old.euid != new.euid)
                cred_emit(t, &old, &new, VIGIL_BPF_CRED_SETUID_EXEC);
        return 0;
}

static __always_inline bool is_compat(struct task_struct *t, struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
        if (bpf_core_field_exists(t->thread_info.status))
                return t->thread_info.status & TS_COMPAT;
        return false;
#else
        return regs->pstate & 0x10;     /* PSR_MODE32_BIT */
#endif
}

/* The dispatcher: one tail call for the system calls a concern watches,
 * nothing for the others. */
SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_exit, struct pt_regs *regs, long ret)
{
        long id = SYSCALL_NR(regs);
        struct task_struct *t;
        __u32 slot;

        if (id == NR_write || id == NR_pwrite64 || id == NR_writev || id == NR_pwritev ||
            id == NR_pwritev2) {
                __u32 tgid = bpf_get_current_pid_tgid() >> 32;

                if (ret <= 0 || !bpf_map_lookup_elem(&mem_writers, &tgid))
                        return 0;
                slot = VIGIL_BPF_SX_PROC_MEM;
        } else if (id == NR_open || id == NR_openat || id == NR_openat2 || id == NR_creat ||
                 id == NR_rename || id == NR_renameat || id == NR_renameat2 ||
                 id == NR_unlink || id == NR_unlinkat)
                slot = VIGIL_BPF_SX_FILE;
        else if (id == NR_connect || id == NR_accept || id == NR_accept4 ||
                 id == NR_sendto || id == NR_sendmsg)
                slot = VIGIL_BPF_SX_NET;
        else if (id == NR_setuid || id == NR_setreuid || id == NR_setresuid)
                slot = VIGIL_BPF_SX_CRED;
        else if (id == NR_ptrace || id == NR_process_vm_writev)
                slot = VIGIL_BPF_SX_INJECT;
        else if (id == NR_memfd_create)
                slot = VIGIL_BPF_SX_MEMFD;
        else
                return 0;
        t = bpf_get_current_task_btf();
        if (is_compat(t, regs) || is_agent(t))
                return 0;
        bpf_tail_call(ctx, &sys_exit_tails, slot);
        return 0;
}

/* setuid(), setreuid(), setresuid(): compared with the ids the thread had
 * when last seen; a thread older than the sensor has unknown old ids
 * (0xffffffff) and is reported once. */
SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sx_cred, struct pt_regs *regs, long ret)
{
        struct task_struct *t = bpf_get_current_task_btf();
        struct cred_ids unknown = { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff };
        struct cred_ids *known, now;
        __u32 tid = t->pid;

        ids_read(&now, t->real_cred);
        known = bpf_map_lookup_elem(&thread_ids, &tid);
        if (known && known->uid == now.uid && known->euid == now.euid)
                return 0;
        cred_emit(t, known ? known : &unknown, &now, VIGIL_BPF_CRED_SETUID_CALL);
        bpf_map_update_elem(&thread_ids, &tid, &now, BPF_ANY);
        return 0;
}

/* Fills the target of an injection from a pid number of the caller's
 * namespace; leaves the number as it is when no task is found. */
static __always_inline void target_resolve(struct task_struct *t, __u32 nr,
                                           struct vigil_bpf_inject *ev)
{
        struct task_struct *target = NULL;

        ev->target_pid = nr;
        ev->target_start_ns = 0;
        if (bpf_task_from_vpid)
                target = bpf_task_from_vpid(nr);
        else if (bpf_task_from_pid && t->thread_pid->level == 0)
                target = bpf_task_from_pid(nr);
        if (!target)
                return;
        ev->target_pid = target->tgid;
        ev->target_start_ns = target->group_leader->start_boottime;
        bpf_task_release(target);
}

static __always_inline bool ptrace_request_watched(long req)
{
        return req == PTRACE_ATTACH || req == PTRACE_SEIZE || req == PTRACE_POKETEXT ||
               req == PTRACE_POKEDATA || req == PTRACE_POKEUSR || req == PTRACE_SETREGS ||
               req == PTRACE_SETFPREGS || req == PTRACE_SETREGSET;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sx_inject, struct pt_regs *regs, long ret)
{
        struct task_struct *t = bpf_get_current_task_btf();
        long id = SYSCALL_NR(regs);
        struct vigil_bpf_inject *ev;
        __u32 type, nr;
        long req = 0;
        __u64 bytes;

        if (id == NR_ptrace) {
                req = SYSCALL_ARG1(regs);
                if (ret != 0 || !ptrace_request_watched(req))
                        return 0;
                type = VIGIL_BPF_PTRACE;
                bytes = (req == PTRACE_POKETEXT || req == PTRACE_POKEDATA ||
                         req == PTRACE_POKEUSR) ? sizeof(long) : 0;
                nr = SYSCALL_ARG2(regs);
        } else {
                if (ret <= 0)
                        return 0;
                type = VIGIL_BPF_VM_WRITE;
                bytes = ret;
                nr = SYSCALL_ARG1(regs);
        }
        ev = paused ? NULL : bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
        if (!ev) {
                drop_count();
                return 0;
        }
        target_resolve(t, nr, ev);
        if (ev->target_pid == (__u32)t->tgid && ev->target_start_ns) {
                bpf_ringbuf_discard(ev, BPF_RB_NO_WAKEUP);
                return 0;       /* not another process */
        }
        hdr_fill(&ev->hdr, type, sizeof(*ev), t);
        ev->pad = 0;
        ev->request = req;
        ev->bytes = bytes;
        bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
        return 0;
}

/* Writes into /proc/PID/mem or /proc/PID/task/TID/mem, by the processes in
 * mem_writers. */
SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sx_proc_mem, struct pt_regs *regs, long ret)
{
        struct task_struct *t = bpf_get_current_task_btf();
        __u64 ino_off = bpf_core_field_offset(struct proc_inode, vfs_inode);
        struct vigil_bpf_inject *ev;
        struct proc_inode *pi;
        struct inode *inode;
        struct file *f;
        __u32 nr;

        if (ret <= 0)
                return 0;
        f = fd_file(t, SYSCALL_ARG1(regs));
        if (!f)
                return 0;
        inode = BPF_CORE_READ(f, f_inode);
        if (BPF_CORE_READ(inode, i_sb, s_magic) != PROC_SUPER_MAGIC || !file_is_proc_mem(f))
                return 0;
        pi = (struct proc_inode *)((__u64)inode - ino_off);
        nr = BPF_CORE_READ(pi, pid, numbers[0].nr);

        ev = paused ? NULL : bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
        if (!ev) {
                drop_count();
                return 0;
        }
        ev->target_pid = nr;
        ev->target_start_ns = 0;
        if (bpf_task_from_pid) {
                struct task_struct *target = bpf_task_from_pid(nr);

                if (target) {
                        ev->target_pid = target->tgid;
                        ev->target_start_ns = target->group_leader->start_boottime;
                        bpf_task_release(target);
                }
        }
        if (ev->target_pid == (__u32)t->tgid) {
                bpf_ringbuf_discard(ev, BPF_RB_NO_WAKEUP);
                return 0;
        }
        hdr_fill(&ev->hdr, VIGIL_BPF_PROC_MEM_WRITE, sizeof(*ev), t);
        ev->pad = 0;
        ev->request = 0;
        ev->bytes = ret;
        bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
        return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sx_memfd, struct pt_regs *regs, long ret)
{
        struct task_struct *t = bpf_get_current_task_btf();
        struct vigil_bpf_memfd *ev;

        if (ret < 0)
                return 0;
        ev = paused ? NULL : bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
        if (!ev) {
                drop_count();
                return 0;
        }
        hdr_fill(&ev->hdr, VIGIL_BPF_MEMFD, sizeof(*ev), t);
        ev->flags = SYSCALL_ARG2(regs);
        ev->fd = ret;
        if (bpf_probe_read_user_str(ev->name, sizeof(ev->name), (void *)SYSCALL_ARG1(regs)) < 0)
                ev->name[0] = '\0';
        bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
        return 0;
}

/* Where the path component starting at offset from ends (the offset of
 * its '/' or NUL), or 0 if it is empty or longer than a name can be. A
 * global function, checked once. */
__noinline int component_end(struct vigil_bpf_file *ev, __u32 from)
{
        if (!ev || from >= VIGIL_BPF_PATH_MAX)
                return 0;
        for (int i = 0; i <= NAME_LEN_MAX; i++) {
                __u32 at = from + i;
                char c = ev->path[at & (2 * VIGIL_BPF_PATH_MAX - 1)];

                if (c == '/' || c == '\0')
                        return i ? at : 0;
        }
        return 0;
}

/* Whether the path may lie under a watched entry: a superset of what
 * evsrc_watch_match() accepts, which the loader applies after. The entries
 * are constants of the loaded program, so the verifier drops unused slots. */
static __always_inline bool path_watched(struct vigil_bpf_file *ev)
{
#pragma unroll
        for (int i = 0; i < VIGIL_BPF_WATCH_MAX; i++) {
                __u32 hlen = watch_head_len[i], tlen = watch_tail_len[i];
                int end;

                if (watch_kind[i] == VIGIL_BPF_WATCH_NONE)
                        break;
                if (hlen == 0 || hlen >= VIGIL_BPF_WATCH_LEN || tlen >= VIGIL_BPF_WATCH_LEN)
                        continue;
                if (bpf_strncmp(ev->path, hlen, (const char *)watch_head[i]) != 0)
                        continue;
                if (watch_kind[i] == VIGIL_BPF_WATCH_PREFIX)
                        return true;
                end = component_end(ev, hlen);
                if (end <= 0 || end >= VIGIL_BPF_PATH_MAX)
                        continue;
                if (tlen == 0 || bpf_strncmp(ev->path + end, tlen, (const char *)watch_tail[i]) == 0)
                        return true;
        }
        return false;
}

static __always_inline void file_emit(struct task_struct *t, struct vigil_bpf_file *ev,
                                      __u32 op, __u32 len, bool cut)
{
        __u32 size;

        if (len < 2 || len > VIGIL_BPF_PATH_MAX)
                return;
        if (!path_watched(ev))
                return;
        ev->op = op;
        ev->path_len = len;
        ev->flags = cut ? VIGIL_BPF_FILE_PATH_TRUNCATED : 0;
        size = offsetof(struct vigil_bpf_file, path) + len;
        barrier_var(size);
        if (size > sizeof(*ev))
                return;
        hdr_fill(&ev->hdr, VIGIL_BPF_FILE, size, t);
        emit(ev, size, BPF_RB_FORCE_WAKEUP);
}

/* open()-family calls that returned a descriptor for writing. */
static __always_inline void file_opened(struct task_struct *t, struct vigil_bpf_file *ev, long fd)
{
        struct file *f = fd_file(t, fd);
        bool cut = false;
        __u32 mode, fmode, len;

        if (!f)
                return;
        fmode = BPF_CORE_READ(f, f_mode);
        if (!(fmode & FMODE_WRITE))
                return;
        mode = BPF_CORE_READ(f, f_inode, i_mode);
        if ((mode & S_IFMT) != S_IFREG)
                return;
        if (BPF_CORE_READ(f, f_inode, i_sb, s_magic) == PROC_SUPER_MAGIC) {
                if (file_is_proc_mem(f)) {
                        __u32 tgid = t->tgid;
                        __u8 one = 1;

                        bpf_map_update_elem(&mem_writers, &tgid, &one, BPF_ANY);
                }
                return;         /* procfs is not watched */
        }
        len = path_write(ev->path, 0, 1, BPF_CORE_READ(f, f_path.mnt),
                         BPF_CORE_READ(f, f_path.dentry), &cut);
        file_emit(t, ev, (fmode & FMODE_CREATED) ? VIGIL_BPF_FILE_CREATE : VIGIL_BPF_FILE_MODIFY,
                  len, cut);
}

/* rename()/unlink()-family calls: the target as the caller named it, made
 * absolute with the directory descriptor or the working directory. */
static __always_inline void file_named(struct task_struct *t, struct vigil_bpf_file *ev,
                                       __u32 op, long dfd, const char *upath)
{
        bool cut = false;
        __u32 pos = 0;
        long len;
        char c0 = 0;

        if (bpf_probe_read_user(&c0, 1, upath) < 0)
                return;
        if (c0 != '/') {
                const struct vfsmount *mnt;
                const struct dentry *dentry;

                if (dfd == AT_FDCWD) {
                        mnt = BPF_CORE_READ(t, fs, pwd.mnt);
                        dentry = BPF_CORE_READ(t, fs, pwd.dentry);
                } else {
                        struct file *f = fd_file(t, dfd);

                        if (!f)
                                return;
                        mnt = BPF_CORE_READ(f, f_path.mnt);
                        dentry = BPF_CORE_READ(f, f_path.dentry);
                }
                pos = path_write(ev->path, 0, 1, mnt, dentry, &cut);
                if (pos < 2 || pos > VIGIL_BPF_PATH_MAX)
                        return;
                pos--;                  /* onto the NUL */
                if (pos > 1)
                        ev->path[pos++ & (VIGIL_BPF_PATH_MAX - 1)] = '/';
        }
        barrier_var(pos);
        if (pos >= VIGIL_BPF_PATH_MAX)
                return;
        len = bpf_probe_read_user_str(&ev->path[pos], VIGIL_BPF_PATH_MAX, upath);
        if (len <= 0)
                return;
        pos += len;
        if (pos > VIGIL_BPF_PATH_MAX) {
                pos = VIGIL_BPF_PATH_MAX;
                ev->path[VIGIL_BPF_PATH_MAX - 1] = '\0';
                cut = true;
        }
        file_emit(t, ev, op, pos, cut);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sx_file, struct pt_regs *regs, long ret)
{
        struct task_struct *t = bpf_get_current_task_btf();
        long id = SYSCALL_NR(regs);
        struct vigil_bpf_file *ev;
        __u32 zero = 0;

        if (ret < 0)
                return 0;
        ev = bpf_map_lookup_elem(&file_buf, &zero);
        if (!ev)
                return 0;
        if (id == NR_open || id == NR_openat || id == NR_openat2 || id == NR_creat)
                file_opened(t, ev, ret);
        else if (id == NR_rename)
                file_named(t, ev, VIGIL_BPF_FILE_RENAME, AT_FDCWD, (const char *)SYSCALL_ARG2(regs));
        else if (id == NR_renameat || id == NR_renameat2)
                file_named(t, ev, VIGIL_BPF_FILE_RENAME, (int)SYSCALL_ARG3(regs),
                           (const char *)SYSCALL_ARG4(regs));
        else if (id == NR_unlink)
                file_named(t, ev, VIGIL_BPF_FILE_DELETE, AT_FDCWD, (const char *)SYSCALL_ARG1(regs));
        else if (id == NR_unlinkat)
                file_named(t, ev, VIGIL_BPF_FILE_DELETE, (int)SYSCALL_ARG1(regs),
                           (const char *)SYSCALL_ARG2(regs));
        return 0;
}

static __always_inline struct sock *fd_sock(struct task_struct *t, long fd)
{
        struct file *f = fd_file(t, fd);
        struct socket *sock;

        if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
                return NULL;
        sock = BPF_CORE_READ(f, private_data);
        return sock ? BPF_CORE_READ(sock, sk) : NULL;
}

/* Fills the addresses of an IPv4/IPv6 TCP or UDP socket; false for others. */
static __always_inline bool net_fill(struct vigil_bpf_net *ev, struct sock *sk)
{
        __u16 proto = BPF_CORE_READ(sk, sk_protocol);
        __u16 type = BPF_CORE_READ(sk, sk_type);

        ev->family = BPF_CORE_READ(sk, __sk_common.skc_family);
        if (!((proto == IPPROTO_TCP && type == SOCK_STREAM) ||
              (proto == IPPROTO_UDP && type == SOCK_DGRAM)))
                return false;
        ev->protocol = proto;
        ev->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
        ev->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
        __builtin_memset(ev->saddr, 0, sizeof(ev->saddr));
        __builtin_memset(ev->daddr, 0, sizeof(ev->daddr));
        if (ev->family == AF_INET) {
                bpf_core_read(ev->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
                bpf_core_read(ev->daddr, 4, &sk->__sk_common.skc_daddr);
        } else if (ev->family == AF_INET6) {
                bpf_core_read(ev->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
                bpf_core_read(ev->daddr, 16, &sk->__sk_common.skc_v6_daddr);
        } else {
                return false;
        }
        return true;
}

struct sockaddr_any {
        __u16 family;
        __u16 port;                     /* network order */
        union {
                __u8 v4[4];
                struct {
                        __u32 flowinfo;
                        __u8 v6[16];
                };
        };
};

/* The destination of a sendto()/sendmsg() on an unconnected UDP socket:
 * reported once per socket and destination. */
static __always_inline void udp_sent(struct task_struct *t, struct sock *sk,
                                     const void *uaddr, __u32 ulen)
{
        struct sockaddr_any sa = {};
        struct udp_key key = {};
        struct vigil_bpf_net *ev;
        __u8 one = 1;

        /* sockaddr_in is 16 bytes, sockaddr_in6 24 up to its address. */
        if (!uaddr || ulen < 16 || bpf_probe_read_user(&sa, 16, uaddr) < 0)
                return;
        key.sk = (__u64)sk;
        key.family = sa.family;
        key.dport = sa.port;
        if (sa.family == AF_INET) {
                __builtin_memcpy(key.daddr, sa.v4, 4);
        } else if (sa.family == AF_INET6 && ulen >= 24) {
                if (bpf_probe_read_user(&sa, 24, uaddr) < 0)
                        return;
                __builtin_memcpy(key.daddr, sa.v6, 16);
        } else {
                return;
        }
        if (bpf_map_lookup_elem(&udp_seen, &key))
                return;
        bpf_map_update_elem(&udp_seen, &key, &one, BPF_ANY);

        ev = paused ? NULL : bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
        if (!ev) {
                drop_count();
                return;
        }
        if (!net_fill(ev, sk) || ev->protocol != IPPROTO_UDP) {
                bpf_ringbuf_discard(ev, BPF_RB_NO_WAKEUP);
                return;
        }
        ev->family = sa.family;
        ev->dport = bpf_ntohs(sa.port);
        __builtin_memcpy(ev->daddr, key.daddr, sizeof(ev->daddr));
        hdr_fill(&ev->hdr, VIGIL_BPF_CONNECT, sizeof(*ev), t);
        bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sx_net, struct pt_regs *regs, long ret)
{
        struct task_struct *t = bpf_get_current_task_btf();
        long id = SYSCALL_NR(regs);
        struct vigil_bpf_net *ev;
        struct sock *sk;
        __u32 type;

        if (id == NR_sendto || id == NR_sendmsg) {
                const void *uaddr = NULL;
                __u32 ulen = 0;

                if (ret < 0)
                        return 0;
                if (id == NR_sendto) {
                        uaddr = (const void *)SYSCALL_ARG5(regs);
                        ulen = SYSCALL_ARG6(regs);
                } else {
                        struct user_msghdr mh;

                        if (bpf_probe_read_user(&mh, sizeof(mh), (void *)SYSCALL_ARG2(regs)) < 0)
                                return 0;
                        uaddr = mh.msg_name;
                        ulen = mh.msg_namelen;
                }
                if (!uaddr)
                        return 0;
                sk = fd_sock(t, SYSCALL_ARG1(regs));
                if (sk && BPF_CORE_READ(sk, sk_protocol) == IPPROTO_UDP)
                        udp_sent(t, sk, uaddr, ulen);
                return 0;
        }
        if (id == NR_connect) {
                if (ret != 0 && ret != -EINPROGRESS)
                        return 0;
                sk = fd_sock(t, SYSCALL_ARG1(regs));
                type = VIGIL_BPF_CONNECT;
        } else {
                if (ret < 0)
                        return 0;
                sk = fd_sock(t, ret);
                type = VIGIL_BPF_ACCEPT;
        }
        if (!sk)
                return 0;
        ev = paused ? NULL : bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
        if (!ev) {
                drop_count();
                return 0;
        }
        if (!net_fill(ev, sk) || ev->dport == 0 ||
            (type == VIGIL_BPF_ACCEPT && ev->protocol != IPPROTO_TCP)) {
                bpf_ringbuf_discard(ev, BPF_RB_NO_WAKEUP);
                return 0;
        }
        hdr_fill(&ev->hdr, type, sizeof(*ev), t);
        bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
        return 0;
}
