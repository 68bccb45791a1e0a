/* evsrc_bpf: the user side of the eBPF sensor (agent/bpf/sensor.bpf.c).
 *
 * Opening probes what this kernel offers (BTF, BPF ring buffers, and each
 * program's tracepoint), loads the programs, and switches off, with the
 * reason kept for ->limitations, every program the kernel refuses to load
 * or attach, so the sensor runs with what there is; only the process
 * lifecycle (exec, fork, exit) is required. Polling drains the ring buffer
 * and turns each record into struct agent_event: monotonic timestamps get a
 * wall-clock twin, start times become clock ticks as /proc/PID/stat counts
 * them, and file events are matched exactly against the watched entries the
 * kernel side only pre-filters. */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/src/evsrc.h"
#include "sensor.skel.h"
#include "util/strutil.h"
#include "vigil/bpf_event.h"

#define RINGBUF_BYTES (8u << 20)        /* a power of two, as BPF ring buffers need */
#define REASON_MAX 160
#define LIMITS_MAX 2048
#define LIBBPF_MSG_MAX 256
#define BTF_PATH "/sys/kernel/btf/vmlinux"

/* One program of sensor.bpf.c and what is lost without it. */
struct prog_desc {
        const char *name;
        const char *tracepoint;         /* the tp_btf it attaches to */
        const char *sees;               /* what goes missing when it is off */
        int tail_slot;                  /* enum vigil_bpf_sx_slot, called from vigil_sys_exit;
                                         * -1: attached itself */
        int needs;                      /* a program it is useless without, or -1 */
        bool core;                      /* the sensor is not worth running without it */
};

enum {
        P_EXEC, P_FORK, P_EXIT, P_EXEC_CRED, P_SYS_EXIT,
        P_SX_CRED, P_SX_INJECT, P_SX_PROC_MEM, P_SX_MEMFD, P_SX_FILE, P_SX_NET,
        P_COUNT
};

static const struct prog_desc prog_descs[P_COUNT] = {
        [P_EXEC] = { "vigil_exec", "sched_process_exec", "process exec", -1, -1, true },
        [P_FORK] = { "vigil_fork", "sched_process_fork", "fork", -1, -1, true },
        [P_EXIT] = { "vigil_exit", "sched_process_exit", "exit", -1, -1, true },
        [P_EXEC_CRED] = { "vigil_exec_cred", "sched_prepare_exec",
                          "uid changes by setuid executables", -1, -1, false },
        [P_SYS_EXIT] = { "vigil_sys_exit", "sys_exit", "system call events", -1, -1, false },
        [P_SX_CRED] = { "vigil_sx_cred", "sys_exit", "uid changes by setuid calls",
                        VIGIL_BPF_SX_CRED, -1, false },
        [P_SX_INJECT] = { "vigil_sx_inject", "sys_exit", "ptrace and process_vm_writev",
                          VIGIL_BPF_SX_INJECT, -1, false },
        [P_SX_PROC_MEM] = { "vigil_sx_proc_mem", "sys_exit", "/proc/PID/mem writes",
                            VIGIL_BPF_SX_PROC_MEM, P_SX_FILE, false },   /* which marks the writers */
        [P_SX_MEMFD] = { "vigil_sx_memfd", "sys_exit", "memfd_create",
                         VIGIL_BPF_SX_MEMFD, -1, false },
        [P_SX_FILE] = { "vigil_sx_file", "sys_exit", "file changes under watched paths",
                        VIGIL_BPF_SX_FILE, -1, false },
        [P_SX_NET] = { "vigil_sx_net", "sys_exit", "network connections",
                       VIGIL_BPF_SX_NET, -1, false },
};

/* Records delivered by one poll at most, so the caller regains control. */
#define POLL_BUDGET 4096

struct evsrc_bpf {
        struct evsrc base;
        struct sensor *skel;
        struct ring_buffer *rb;
        struct bpf_link *links[P_COUNT];
        char off[P_COUNT][REASON_MAX];  /* why a program is off; "" while it runs */
        int off_errno[P_COUNT];         /* the error that switched it off, if any */
        struct evsrc_bpf_clock clock;
        const char *watch[EVSRC_WATCH_MAX + 1];         /* NULL-terminated; points into watch_owned */
        char *watch_owned[EVSRC_WATCH_MAX];
        int ncpus;
        uint64_t *drop_values;                          /* one per possible CPU */
        evsrc_cb cb;                                    /* set during a poll */
        void *cb_ctx;
        int delivered;
        char limitations[LIMITS_MAX];
        struct agent_event ev;                          /* the event being delivered */
};

/* libbpf's messages are not shown. The first warning since the last reset
 * is kept as the detail of an error, or better, the verifier's verdict
 * when a program load log comes. The agent has one sensor open at a time. */
static char libbpf_last[LIBBPF_MSG_MAX];

/* The verifier's verdict: the last line of a load log that is not one of
 * its statistics. */
static void verifier_verdict(const char *log)
{
        const char *end = strstr(log, "-- END PROG LOAD LOG --");
        const char *start = strstr(log, "-- BEGIN PROG LOAD LOG --");

        if (!end || !start)
                return;
        while (end > start) {
                const char *line = end - 1;
                size_t n;

                while (line > start && line[-1] != '\n')
                        line--;
                n = (size_t)(end - line);
                while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
                        n--;
                if (n > 0 && strncmp(line, "processed ", 10) != 0 && strncmp(line, "verification time", 17) != 0 &&
                    strncmp(line, "stack depth", 11) != 0 && strncmp(line, "--", 2) != 0) {
                        snprintf(libbpf_last, sizeof(libbpf_last), "verifier: %.*s", (int)n, line);
                        return;
                }
                end = line;
        }
}

static int on_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
        char *msg = NULL;

        if (level == LIBBPF_DEBUG)
                return 0;
        if (vasprintf(&msg, fmt, ap) < 0)
                return 0;
        if (strstr(msg, "-- BEGIN PROG LOAD LOG --")) {
                verifier_verdict(msg);
        } else if (!libbpf_last[0]) {
                size_t n = strcspn(msg, "\n");

                snprintf(libbpf_last, sizeof(libbpf_last), "%.*s", (int)n,
                         strncmp(msg, "libbpf: ", 8) == 0 ? msg + 8 : msg);
        }
        free(msg);
        return 0;
}

/* ---- converting records ---- */

static uint64_t ticks_from_ns(const struct evsrc_bpf_clock *clk, uint64_t ns)
{
        return clk->ns_per_tick ? ns / clk->ns_per_tick : 0;
}

/* Copies a counted string, NUL included, into dst of dst_size bytes; the
 * copy always ends in NUL. Returns true if it had to be cut. */
static bool string_copy(char *dst, size_t dst_size, const char *src, size_t len)
{
        bool cut = false;

        if (len == 0) {
                dst[0] = '\0';
                return false;
        }
        if (len > dst_size) {
                len = dst_size;
                cut = true;
        }
        memcpy(dst, src, len);
        if (dst[len - 1] != '\0')
                cut = cut || memchr(src, '\0', len) == NULL;
        dst[len - 1] = '\0';
        return cut;
}

static void proc_convert(const struct vigil_bpf_proc *k, const struct evsrc_bpf_clock *clk,
                         struct ev_proc *p)
{
        p->pid = k->pid;
        p->tid = k->tid;
        p->ppid = k->ppid;
        p->uid = k->uid;
        p->euid = k->euid;
        p->gid = k->gid;
        p->egid = k->egid;
        p->loginuid = k->loginuid;
        p->cgroup_id = k->cgroup_id;
        p->start_ticks = ticks_from_ns(clk, k->start_ns);
        string_copy(p->comm, sizeof(p->comm), k->comm, sizeof(k->comm));
}

/* Keeps argv entries while they fit EV_ARGC_MAX and EV_ARGS_MAX, each
 * NUL-terminated. Returns true if anything was left out or cut. */
static bool args_convert(const char *src, size_t len, uint32_t argc_total, struct ev_exec *e)
{
        const char *p = src, *end = src + len;
        bool cut = false;
        size_t out = 0;

        e->argc = 0;
        while (p < end && e->argc < EV_ARGC_MAX && out < EV_ARGS_MAX) {
                const char *nul = memchr(p, '\0', (size_t)(end - p));
                size_t n = nul ? (size_t)(nul - p) : (size_t)(end - p);

                if (!nul)
                        cut = true;     /* the kernel cut the last entry */
                if (out + n + 1 > EV_ARGS_MAX) {
                        n = EV_ARGS_MAX - out - 1;
                        cut = true;
                }
                memcpy(e->args + out, p, n);
                e->args[out + n] = '\0';
                out += n + 1;
                e->argc++;
                p = nul ? nul + 1 : end;
        }
        if (p < end || argc_total > e->argc)
                cut = true;
        e->args_len = (uint32_t)out;
        return cut;
}

static void exec_convert(const struct vigil_bpf_exec *k, struct ev_exec *e)
{
        const char *image = k->data, *cwd = image + k->image_len, *args = cwd + k->cwd_len;

        e->flags = k->flags & (EV_EXEC_MEMFD | EV_EXEC_DELETED | EV_EXEC_STDIN_SOCKET |
                               EV_EXEC_STDOUT_SOCKET | EV_EXEC_STDERR_SOCKET | EV_EXEC_STDIN_TTY |
                               EV_EXEC_STDOUT_TTY | EV_EXEC_STDERR_TTY | EV_EXEC_ARGS_TRUNCATED |
                               EV_EXEC_PATH_TRUNCATED);
        if (k->flags & VIGIL_BPF_EXEC_CWD_TRUNCATED)
                e->flags |= EV_EXEC_CWD_TRUNCATED;
        if (string_copy(e->image, sizeof(e->image), image, k->image_len))
                e->flags |= EV_EXEC_PATH_TRUNCATED;
        if (string_copy(e->cwd, sizeof(e->cwd), cwd, k->cwd_len))
                e->flags |= EV_EXEC_CWD_TRUNCATED;
        if (args_convert(args, k->args_len, k->argc, e))
                e->flags |= EV_EXEC_ARGS_TRUNCATED;
}

/* IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are reported as IPv4. */
static bool v4_mapped(const uint8_t a[16])
{
        static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

        return memcmp(a, prefix, sizeof(prefix)) == 0;
}

static void net_convert(const struct vigil_bpf_net *k, struct ev_net *n)
{
        static const uint8_t any[16];

        n->family = k->family;
        n->protocol = k->protocol;
        n->sport = k->sport;
        n->dport = k->dport;
        memcpy(n->saddr, k->saddr, sizeof(n->saddr));
        memcpy(n->daddr, k->daddr, sizeof(n->daddr));
        if (k->family == AF_INET6 && v4_mapped(k->daddr) &&
            (v4_mapped(k->saddr) || memcmp(k->saddr, any, sizeof(any)) == 0)) {
                n->family = AF_INET;
                memset(n->saddr, 0, sizeof(n->saddr));
                memset(n->daddr, 0, sizeof(n->daddr));
                if (v4_mapped(k->saddr))
                        memcpy(n->saddr, k->saddr + 12, 4);
                memcpy(n->daddr, k->daddr + 12, 4);
        }
}

/* The fixed size each record type needs at least. */
static size_t record_min(uint32_t type)
{
        switch (type) {
        case VIGIL_BPF_EXEC: return offsetof(struct vigil_bpf_exec, data);
        case VIGIL_BPF_FORK: return sizeof(struct vigil_bpf_fork);
        case VIGIL_BPF_EXIT: return sizeof(struct vigil_bpf_exit);
        case VIGIL_BPF_CRED: return sizeof(struct vigil_bpf_cred);
        case VIGIL_BPF_PTRACE:
        case VIGIL_BPF_VM_WRITE:
        case VIGIL_BPF_PROC_MEM_WRITE: return sizeof(struct vigil_bpf_inject);
        case VIGIL_BPF_MEMFD: return sizeof(struct vigil_bpf_memfd);
        case VIGIL_BPF_CONNECT:
        case VIGIL_BPF_ACCEPT: return sizeof(struct vigil_bpf_net);
        case VIGIL_BPF_FILE: return offsetof(struct vigil_bpf_file, path);
        default: return 0;
        }
}

static void inject_convert(const struct vigil_bpf_inject *k, const struct evsrc_bpf_clock *clk,
                           struct ev_inject *i)
{
        i->target_pid = k->target_pid;
        i->target_start_ticks = ticks_from_ns(clk, k->target_start_ns);
        i->request = k->request;
        i->bytes = k->bytes;
}

static void file_convert(const struct vigil_bpf_file *k, struct ev_file *f)
{
        f->op = k->op;
        f->flags = (k->flags & VIGIL_BPF_FILE_PATH_TRUNCATED) ? EV_FILE_PATH_TRUNCATED : 0;
        if (string_copy(f->path, sizeof(f->path), k->path, k->path_len))
                f->flags |= EV_FILE_PATH_TRUNCATED;
}

/* Checks what the fixed size does not: counted strings within the record,
 * enum values in range. size is the record's own (hdr.size). */
static int record_check(const void *rec, size_t size)
{
        const struct vigil_bpf_hdr *h = rec;

        switch (h->type) {
        case VIGIL_BPF_EXEC: {
                const struct vigil_bpf_exec *k = rec;
                size_t strings = (size_t)k->image_len + k->cwd_len + k->args_len;

                if (k->image_len == 0 || strings > size - offsetof(struct vigil_bpf_exec, data))
                        return -EINVAL;
                return 0;
        }
        case VIGIL_BPF_CRED: {
                const struct vigil_bpf_cred *k = rec;

                return k->cause >= VIGIL_BPF_CRED_SETUID_EXEC && k->cause <= VIGIL_BPF_CRED_OTHER ? 0 : -EINVAL;
        }
        case VIGIL_BPF_FILE: {
                const struct vigil_bpf_file *k = rec;

                if (k->path_len == 0 || k->path_len > size - offsetof(struct vigil_bpf_file, path))
                        return -EINVAL;
                return k->op >= VIGIL_BPF_FILE_CREATE && k->op <= VIGIL_BPF_FILE_DELETE ? 0 : -EINVAL;
        }
        default:
                return 0;
        }
}

/* Fills the union member of the type, clearing it first (exec and file
 * strings are written whole instead). */
static void body_convert(const void *rec, const struct evsrc_bpf_clock *clk, struct agent_event *ev)
{
        const struct vigil_bpf_hdr *h = rec;

        if (h->type != VIGIL_BPF_EXEC && h->type != VIGIL_BPF_FILE)
                memset(&ev->memfd, 0, sizeof(ev->memfd));       /* the largest of the small members */
        switch (h->type) {
        case VIGIL_BPF_EXEC:
                exec_convert(rec, &ev->exec);
                break;
        case VIGIL_BPF_FORK: {
                const struct vigil_bpf_fork *k = rec;

                ev->fork.child_pid = k->child_pid;
                ev->fork.child_start_ticks = ticks_from_ns(clk, k->child_start_ns);
                break;
        }
        case VIGIL_BPF_EXIT:
                ev->exit.code = ((const struct vigil_bpf_exit *)rec)->code;
                break;
        case VIGIL_BPF_CRED: {
                const struct vigil_bpf_cred *k = rec;

                ev->cred = (struct ev_cred){
                        .old_uid = k->old_uid, .old_euid = k->old_euid,
                        .new_uid = k->new_uid, .new_euid = k->new_euid,
                        .old_gid = k->old_gid, .old_egid = k->old_egid,
                        .new_gid = k->new_gid, .new_egid = k->new_egid,
                        .cause = k->cause,
                };
                break;
        }
        case VIGIL_BPF_PTRACE:
        case VIGIL_BPF_VM_WRITE:
        case VIGIL_BPF_PROC_MEM_WRITE:
                inject_convert(rec, clk, &ev->inject);
                break;
        case VIGIL_BPF_MEMFD: {
                const struct vigil_bpf_memfd *k = rec;

                ev->memfd.flags = k->flags;
                string_copy(ev->memfd.name, sizeof(ev->memfd.name), k->name, sizeof(k->name));
                break;
        }
        case VIGIL_BPF_CONNECT:
        case VIGIL_BPF_ACCEPT:
                net_convert(rec, &ev->net);
                break;
        case VIGIL_BPF_FILE:
                file_convert(rec, &ev->file);
                break;
        }
}

int evsrc_bpf_record_convert(const void *rec, size_t size, const struct evsrc_bpf_clock *clk,
                             struct agent_event *ret)
{
        const struct vigil_bpf_hdr *h = rec;
        size_t min;

        if (!rec || size < sizeof(*h) || h->size < sizeof(*h) || h->size > size)
                return -EINVAL;
        size = h->size;
        min = record_min(h->type);
        if (min == 0 || size < min || record_check(rec, size) < 0)
                return -EINVAL;
        body_convert(rec, clk, ret);
        ret->type = (enum ev_type)h->type;
        ret->mono_ns = h->mono_ns;
        ret->wall_ns = (int64_t)h->mono_ns + clk->wall_offset_ns;
        proc_convert(&h->proc, clk, &ret->proc);
        return 0;
}

/* ---- the open sensor ---- */

static int64_t timespec_ns(const struct timespec *t)
{
        return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* CLOCK_REALTIME - CLOCK_MONOTONIC, read between two monotonic reads so
 * the offset is as close as the clocks allow. */
static void clock_refresh(struct evsrc_bpf_clock *clk)
{
        struct timespec m1, r, m2;

        clock_gettime(CLOCK_MONOTONIC, &m1);
        clock_gettime(CLOCK_REALTIME, &r);
        clock_gettime(CLOCK_MONOTONIC, &m2);
        clk->wall_offset_ns = timespec_ns(&r) - (timespec_ns(&m1) + timespec_ns(&m2)) / 2;
}

static bool file_event_watched(const struct evsrc_bpf *s, const char *path)
{
        for (size_t i = 0; s->watch[i]; i++)
                if (evsrc_watch_match(s->watch[i], path))
                        return true;
        return false;
}

static int on_record(void *ctx, void *data, size_t size)
{
        struct evsrc_bpf *s = ctx;

        if (evsrc_bpf_record_convert(data, size, &s->clock, &s->ev) < 0)
                return 0;       /* cannot come from our programs; skip it */
        if (s->ev.type == EV_FILE && !file_event_watched(s, s->ev.file.path))
                return 0;
        if (s->cb) {
                s->cb(&s->ev, s->cb_ctx);
                s->delivered++;
        }
        /* a negative answer makes libbpf stop here (the record counts as
         * consumed), so one poll returns even under a continuous burst */
        return s->delivered >= POLL_BUDGET ? -EAGAIN : 0;
}

static int bpf_fd(struct evsrc *base)
{
        struct evsrc_bpf *s = (struct evsrc_bpf *)base;

        return ring_buffer__epoll_fd(s->rb);
}

#define DRAIN_MS 10

static int bpf_poll(struct evsrc *base, int timeout_ms, evsrc_cb cb, void *ctx)
{
        struct evsrc_bpf *s = (struct evsrc_bpf *)base;
        int r;

        clock_refresh(&s->clock);       /* follows clock steps (NTP, settimeofday) */
        s->cb = cb;
        s->cb_ctx = ctx;
        s->delivered = 0;
        /* records written without a wakeup (see sensor.bpf.c) are drained
         * every DRAIN_MS, so none waits longer, whatever the caller's timeout */
        for (int64_t end = util_mono_ms() + timeout_ms;;) {
                int64_t left = end - util_mono_ms();
                r = ring_buffer__poll(s->rb, left <= 0 ? 0 : left < DRAIN_MS ? (int)left : DRAIN_MS);
                if (r >= 0 || r == -EINTR)
                        r = ring_buffer__consume(s->rb);
                if ((r < 0 && r != -EAGAIN) || s->delivered || left <= DRAIN_MS)
                        break;
        }
        s->cb = NULL;
        if (r < 0 && r != -EINTR && r != -EAGAIN)
                return r;
        return s->delivered;
}

static void bpf_pause(struct evsrc *base, bool paused)
{
        struct evsrc_bpf *s = (struct evsrc_bpf *)base;

        __atomic_store_n(&s->skel->bss->paused, paused ? 1u : 0u, __ATOMIC_RELAXED);
}

static uint64_t bpf_dropped(struct evsrc *base)
{
        struct evsrc_bpf *s = (struct evsrc_bpf *)base;
        uint32_t zero = 0;
        uint64_t sum = 0;

        if (bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.drops), &zero, s->drop_values) < 0)
                return 0;
        for (int i = 0; i < s->ncpus; i++)
                sum += s->drop_values[i];
        return sum;
}

static const char *bpf_limitations(struct evsrc *base)
{
        return ((struct evsrc_bpf *)base)->limitations;
}

static void bpf_close(struct evsrc *base)
{
        struct evsrc_bpf *s = (struct evsrc_bpf *)base;

        if (!s)
                return;
        ring_buffer__free(s->rb);
        for (int i = 0; i < P_COUNT; i++)
                bpf_link__destroy(s->links[i]);
        sensor__destroy(s->skel);
        for (int i = 0; i < EVSRC_WATCH_MAX; i++)
                free(s->watch_owned[i]);
        free(s->drop_values);
        free(s);
}

static const struct evsrc_ops bpf_ops = {
        .name = "bpf",
        .fd = bpf_fd,
        .poll = bpf_poll,
        .dropped = bpf_dropped,
        .limitations = bpf_limitations,
        .pause = bpf_pause,
        .close = bpf_close,
};

/* ---- configuring, loading, attaching ---- */

static void prog_off(struct evsrc_bpf *s, int i, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void prog_off(struct evsrc_bpf *s, int i, const char *fmt, ...)
{
        va_list ap;

        if (s->off[i][0])
                return;         /* keep the first reason */
        va_start(ap, fmt);
        vsnprintf(s->off[i], sizeof(s->off[i]), fmt, ap);
        va_end(ap);
}

/* Copies at most max-1 bytes of src[0..len) into dst, NUL-terminated. */
static size_t watch_part(volatile char *dst, size_t max, const char *src, size_t len)
{
        if (len > max - 1)
                len = max - 1;  /* a shorter head or tail only widens the pre-filter */
        for (size_t i = 0; i < len; i++)
                dst[i] = src[i];
        dst[len] = '\0';
        return len;
}

/* Fills the kernel-side pre-filter from the watched entries: the literal
 * head up to a "*" component, and the literal tail after it up to the next
 * one. Entries that are not absolute paths are left out. */
static void watch_configure(struct evsrc_bpf *s, struct sensor *skel)
{
        size_t slot = 0;

        for (size_t i = 0; s->watch[i] && slot < VIGIL_BPF_WATCH_MAX; i++) {
                const char *w = s->watch[i], *star = strstr(w, "/*");
                size_t hlen, tlen;

                if (w[0] != '/')
                        continue;
                while (star && star[2] != '/' && star[2] != '\0')
                        star = strstr(star + 1, "/*");
                if (!star) {
                        hlen = watch_part(skel->rodata->watch_head[slot], VIGIL_BPF_WATCH_LEN, w, strlen(w));
                        skel->rodata->watch_kind[slot] = VIGIL_BPF_WATCH_PREFIX;
                        skel->rodata->watch_head_len[slot] = (uint16_t)hlen;
                        skel->rodata->watch_tail_len[slot] = 0;
                } else {
                        const char *tail = star + 2, *next = strstr(tail, "/*");

                        tlen = next ? (size_t)(next - tail) + 1 : strlen(tail);
                        hlen = watch_part(skel->rodata->watch_head[slot], VIGIL_BPF_WATCH_LEN, w,
                                          (size_t)(star - w) + 1);
                        tlen = watch_part(skel->rodata->watch_tail[slot], VIGIL_BPF_WATCH_LEN, tail, tlen);
                        skel->rodata->watch_kind[slot] = VIGIL_BPF_WATCH_STAR;
                        skel->rodata->watch_head_len[slot] = (uint16_t)hlen;
                        skel->rodata->watch_tail_len[slot] = (uint16_t)tlen;
                }
                slot++;
        }
}

/* Opens the skeleton with the configuration set and only the programs
 * still on (and, if only >= 0, only that one) marked for loading. */
static int skel_open(struct evsrc_bpf *s, int only, struct sensor **ret)
{
        struct sensor *skel = sensor__open();

        if (!skel)
                return errno ? -errno : -ENOMEM;
        skel->rodata->agent_tgid = (uint32_t)getpid();
        watch_configure(s, skel);
        bpf_map__set_max_entries(skel->maps.events, RINGBUF_BYTES);
        for (int i = 0; i < P_COUNT; i++) {
                struct bpf_program *p = bpf_object__find_program_by_name(skel->obj, prog_descs[i].name);

                if (!p) {
                        sensor__destroy(skel);
                        return -ENOENT;
                }
                bpf_program__set_autoload(p, !s->off[i][0] && (only < 0 || only == i));
        }
        *ret = skel;
        return 0;
}

/* Switches off the programs whose tracepoint this kernel lacks. */
static int tracepoints_probe(struct evsrc_bpf *s, char *err, size_t err_size)
{
        struct btf *vmlinux = btf__load_vmlinux_btf();
        char name[128];

        if (!vmlinux) {
                snprintf(err, err_size, "cannot read the kernel's BTF (%s): %s", BTF_PATH, strerror(errno));
                return -EOPNOTSUPP;
        }
        for (int i = 0; i < P_COUNT; i++) {
                snprintf(name, sizeof(name), "btf_trace_%s", prog_descs[i].tracepoint);
                if (btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF) < 0)
                        prog_off(s, i, "this kernel has no %s tracepoint", prog_descs[i].tracepoint);
        }
        btf__free(vmlinux);
        return 0;
}

/* Loads each program on its own to find those this kernel refuses, after a
 * load of all of them failed. */
static void refused_find(struct evsrc_bpf *s)
{
        for (int i = 0; i < P_COUNT; i++) {
                struct sensor *skel = NULL;
                char why[128];
                int r;

                if (s->off[i][0])
                        continue;
                libbpf_last[0] = '\0';
                r = skel_open(s, i, &skel);
                if (r == 0)
                        r = sensor__load(skel);
                sensor__destroy(skel);
                if (r == 0)
                        continue;
                libbpf_strerror(r, why, sizeof(why));
                prog_off(s, i, "refused by the kernel: %s%s%s", why, libbpf_last[0] ? ": " : "",
                         libbpf_last);
                s->off_errno[i] = r;
        }
}

/* Switches off what is useless without a program that is off: the tail
 * calls without the dispatcher, and each program without its partner; a
 * switched-off program is detached. Repeats until nothing changes, which
 * takes at most P_COUNT rounds. */
static void dependents_off(struct evsrc_bpf *s)
{
        bool changed = true;

        for (int round = 0; changed && round < P_COUNT; round++) {
                changed = false;
                for (int i = 0; i < P_COUNT; i++) {
                        int need = prog_descs[i].tail_slot >= 0 && s->off[P_SYS_EXIT][0] ? P_SYS_EXIT
                                                                                         : prog_descs[i].needs;

                        if (s->off[i][0] || need < 0 || !s->off[need][0])
                                continue;
                        prog_off(s, i, "needs %s, which is off", prog_descs[need].name);
                        changed = true;
                }
        }
        for (int i = 0; i < P_COUNT; i++)
                if (s->off[i][0] && s->links[i]) {
                        bpf_link__destroy(s->links[i]);
                        s->links[i] = NULL;
                }
}

static int load(struct evsrc_bpf *s, char *err, size_t err_size)
{
        int r;

        dependents_off(s);
        libbpf_last[0] = '\0';
        r = skel_open(s, -1, &s->skel);
        if (r < 0) {
                snprintf(err, err_size, "cannot open the BPF programs: %s", strerror(-r));
                return r;
        }
        r = sensor__load(s->skel);
        if (r == 0)
                return 0;
        sensor__destroy(s->skel);
        s->skel = NULL;
        refused_find(s);
        dependents_off(s);
        for (int i = 0; i < P_COUNT; i++)
                if (prog_descs[i].core && s->off[i][0]) {
                        snprintf(err, err_size, "cannot see %s: %s", prog_descs[i].sees, s->off[i]);
                        return s->off_errno[i] == -EPERM ? -EPERM : -EOPNOTSUPP;
                }
        r = skel_open(s, -1, &s->skel);
        if (r == 0)
                r = sensor__load(s->skel);
        if (r < 0) {
                snprintf(err, err_size, "cannot load the BPF programs: %s%s%s", strerror(-r),
                         libbpf_last[0] ? ": " : "", libbpf_last);
                return r;
        }
        return 0;
}

static int attach(struct evsrc_bpf *s, char *err, size_t err_size)
{
        int tails = bpf_map__fd(s->skel->maps.sys_exit_tails);

        for (int i = 0; i < P_COUNT; i++) {
                struct bpf_program *p = bpf_object__find_program_by_name(s->skel->obj, prog_descs[i].name);
                char why[128];

                if (s->off[i][0] || prog_descs[i].tail_slot >= 0)
                        continue;
                s->links[i] = bpf_program__attach(p);
                if (!s->links[i]) {
                        libbpf_strerror(-errno, why, sizeof(why));
                        prog_off(s, i, "cannot attach to %s: %s", prog_descs[i].tracepoint, why);
                }
        }
        dependents_off(s);
        for (int i = 0; i < P_COUNT; i++) {
                struct bpf_program *p = bpf_object__find_program_by_name(s->skel->obj, prog_descs[i].name);
                uint32_t slot = (uint32_t)prog_descs[i].tail_slot;
                int fd = bpf_program__fd(p);

                if (s->off[i][0] || prog_descs[i].tail_slot < 0)
                        continue;
                if (bpf_map_update_elem(tails, &slot, &fd, BPF_ANY) < 0)
                        prog_off(s, i, "cannot install as a tail call: %s", strerror(errno));
        }
        for (int i = 0; i < P_COUNT; i++)
                if (prog_descs[i].core && s->off[i][0]) {
                        snprintf(err, err_size, "cannot see %s: %s", prog_descs[i].sees, s->off[i]);
                        return -EOPNOTSUPP;
                }
        return 0;
}

/* Appends to the limitations line; what does not fit is dropped. */
static void limits_add(struct evsrc_bpf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void limits_add(struct evsrc_bpf *s, const char *fmt, ...)
{
        size_t used = strlen(s->limitations);
        va_list ap;

        if (used + 1 >= sizeof(s->limitations))
                return;
        va_start(ap, fmt);
        vsnprintf(s->limitations + used, sizeof(s->limitations) - used, fmt, ap);
        va_end(ap);
}

static void limitations_build(struct evsrc_bpf *s, size_t watch_ignored)
{
        bool any = false;

        s->limitations[0] = '\0';
        for (int i = 0; i < P_COUNT; i++) {
                if (!s->off[i][0])
                        continue;
                limits_add(s, "%s%s: no %s (%s)", any ? "; " : "switched off: ", prog_descs[i].name,
                           prog_descs[i].sees, s->off[i]);
                any = true;
        }
        if (watch_ignored)
                limits_add(s, "%s%zu watched entries ignored (not absolute paths)", any ? "; " : "",
                           watch_ignored);
        limits_add(s, "%snot seen: 32-bit (compat) system calls, io_uring operations, sendmmsg, "
                   "connect() that fails before returning (blocking refusals), files changed "
                   "without open/creat/rename/unlink (truncate, link, mmap of an fd opened "
                   "elsewhere), uid changes outside setuid executables and setuid/setreuid/setresuid; "
                   "file modification is reported when a file is opened for writing",
                   (any || watch_ignored) ? "; " : "");
}

/* Copies the watched entries of cfg, or the defaults; at most
 * EVSRC_WATCH_MAX. Entries that are not absolute paths are left out and
 * counted in *ret_ignored. Returns 0, -E2BIG or -ENOMEM. */
static int watch_take(struct evsrc_bpf *s, const struct evsrc_config *cfg, size_t *ret_ignored)
{
        const char *const *src = cfg && cfg->watch_paths ? cfg->watch_paths : evsrc_default_watch_paths;
        size_t n = 0, ignored = 0;

        for (size_t i = 0; src[i]; i++) {
                if (n == EVSRC_WATCH_MAX)
                        return -E2BIG;
                if (src[i][0] != '/') {
                        ignored++;
                        continue;
                }
                s->watch_owned[n] = strdup(src[i]);
                if (!s->watch_owned[n])
                        return -ENOMEM;
                s->watch[n] = s->watch_owned[n];
                n++;
        }
        s->watch[n] = NULL;
        *ret_ignored = ignored;
        return 0;
}

/* BPF privilege, BTF and BPF ring buffers are the least the sensor needs. */
static int host_probe(char *err, size_t err_size)
{
        int r, fd;

        /* libbpf's probes cannot tell "not permitted" from "not supported" */
        fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, sizeof(uint32_t), sizeof(uint32_t), 1, NULL);
        if (fd < 0 && (errno == EPERM || errno == EACCES)) {
                snprintf(err, err_size, "not permitted to use BPF (needs root, or CAP_BPF and CAP_PERFMON)");
                return -EPERM;
        }
        if (fd < 0) {
                r = -errno;
                snprintf(err, err_size, "cannot use BPF: %s", strerror(errno));
                return r == -ENOSYS ? -EOPNOTSUPP : r;
        }
        close(fd);
        if (access(BTF_PATH, R_OK) < 0) {
                snprintf(err, err_size, "the kernel exposes no BTF (%s: %s)", BTF_PATH, strerror(errno));
                return -EOPNOTSUPP;
        }
        r = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL);
        if (r == 1)
                return 0;
        if (r == 0) {
                snprintf(err, err_size, "the kernel has no BPF ring buffer (Linux 5.8+)");
                return -EOPNOTSUPP;
        }
        snprintf(err, err_size, "cannot use BPF: %s", strerror(-r));
        return r == -EPERM || r == -EACCES ? -EPERM : r;
}

int evsrc_bpf_open(const struct evsrc_config *cfg, struct evsrc **ret, char *err, size_t err_size)
{
        struct evsrc_bpf *s;
        size_t watch_ignored = 0;
        long hz;
        int r;

        r = host_probe(err, err_size);
        if (r < 0)
                return r;
        s = calloc(1, sizeof(*s));
        if (!s) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        s->base.ops = &bpf_ops;
        hz = sysconf(_SC_CLK_TCK);
        s->clock.ns_per_tick = hz > 0 ? 1000000000ull / (uint64_t)hz : 10000000ull;
        clock_refresh(&s->clock);
        r = watch_take(s, cfg, &watch_ignored);
        if (r < 0) {
                snprintf(err, err_size, "cannot take the watched paths: %s", strerror(-r));
                goto fail;
        }
        s->ncpus = libbpf_num_possible_cpus();
        if (s->ncpus <= 0) {
                r = s->ncpus < 0 ? s->ncpus : -EINVAL;
                snprintf(err, err_size, "cannot count the CPUs: %s", strerror(-r));
                goto fail;
        }
        s->drop_values = calloc((size_t)s->ncpus, sizeof(*s->drop_values));
        if (!s->drop_values) {
                r = -ENOMEM;
                snprintf(err, err_size, "out of memory");
                goto fail;
        }

        libbpf_set_print(on_libbpf_print);
        r = tracepoints_probe(s, err, err_size);
        if (r < 0)
                goto fail;
        r = load(s, err, err_size);
        if (r < 0)
                goto fail;
        r = attach(s, err, err_size);
        if (r < 0)
                goto fail;
        s->rb = ring_buffer__new(bpf_map__fd(s->skel->maps.events), on_record, s, NULL);
        if (!s->rb) {
                r = errno ? -errno : -ENOMEM;
                snprintf(err, err_size, "cannot map the BPF ring buffer: %s", strerror(-r));
                goto fail;
        }
        limitations_build(s, watch_ignored);
        *ret = &s->base;
        return 0;

fail:
        bpf_close(&s->base);
        return r;
}
