/* Unit tests for the proc-connector sensor: the netlink parser on
 * handcrafted messages (every header truncated or lying, foreign connector
 * ids, unknown types), the message-to-event mapping, the sensor's state
 * (enrichment from the fake /proc of tests/data/procfs, the id cache, uid
 * changes held back until an exec, ptrace detach, loss counting) fed through
 * cnproc_feed, the watched paths, and, as root, the real connector. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <linux/connector.h>
#include <linux/netlink.h>

#include "agent/src/cnproc.h"
#include "agent/src/evsrc.h"

#define MSG_MAX 256
#define HOLD_NS (100 * 1000000ull)      /* the sensor's hold time for uid changes */
#define T0 1000000000ull

struct msg {
        uint8_t b[MSG_MAX];
        size_t len;
};

/* Builds nlmsghdr + cn_msg + proc_event header + words. */
static struct msg mk(uint32_t what, uint32_t cpu, uint32_t seq, uint64_t ts, const uint32_t *w, size_t nw)
{
        struct msg m = { 0 };
        struct nlmsghdr nlh = { 0 };
        struct cn_msg cn = { 0 };
        size_t data = 16 + 4 * nw;

        nlh.nlmsg_len = (uint32_t)NLMSG_LENGTH(sizeof(cn) + data);
        nlh.nlmsg_type = NLMSG_DONE;
        cn.id.idx = CN_IDX_PROC;
        cn.id.val = CN_VAL_PROC;
        cn.seq = seq;
        cn.len = (uint16_t)data;
        memcpy(m.b, &nlh, sizeof(nlh));
        memcpy(m.b + 16, &cn, sizeof(cn));
        memcpy(m.b + 36, &what, 4);
        memcpy(m.b + 40, &cpu, 4);
        memcpy(m.b + 44, &ts, 8);
        memcpy(m.b + 52, w, 4 * nw);
        m.len = nlh.nlmsg_len;
        return m;
}

#define MK(what, ...) mk((what), 0, 0, T0, (const uint32_t[]){ __VA_ARGS__ }, \
                         sizeof((const uint32_t[]){ __VA_ARGS__ }) / 4)

static void put32(struct msg *m, size_t off, uint32_t v)
{
        memcpy(m->b + off, &v, 4);
}

static void put16(struct msg *m, size_t off, uint16_t v)
{
        memcpy(m->b + off, &v, 2);
}

static void test_parse_types(void **state)
{
        struct cnproc_msg c;
        struct msg m;

        m = MK(CNPROC_EXEC, 41, 40);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), (int)m.len);
        assert_int_equal(c.what, CNPROC_EXEC);
        assert_int_equal(c.tid, 41);
        assert_int_equal(c.pid, 40);
        assert_int_equal(c.timestamp_ns, T0);

        m = MK(CNPROC_FORK, 10, 10, 11, 11);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), (int)m.len);
        assert_int_equal(c.other_pid, 10);
        assert_int_equal(c.pid, 11);
        assert_int_equal(c.tid, 11);

        m = MK(CNPROC_UID, 5, 5, 0, 1000);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), (int)m.len);
        assert_int_equal(c.id_real, 0);
        assert_int_equal(c.id_effective, 1000);

        m = MK(CNPROC_PTRACE, 7, 7, 8, 9);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), (int)m.len);
        assert_int_equal(c.pid, 7);
        assert_int_equal(c.other_tid, 8);
        assert_int_equal(c.other_pid, 9);

        /* exit with and without the parent fields of kernels since 4.18 */
        m = MK(CNPROC_EXIT, 12, 12, 0x100, 17, 1, 1);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), (int)m.len);
        assert_int_equal(c.exit_code, 0x100);
        assert_int_equal(c.exit_signal, 17);
        assert_int_equal(c.other_pid, 1);
        m = MK(CNPROC_EXIT, 12, 12, 0x100, 17);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), (int)m.len);
        assert_int_equal(c.other_pid, 0);

        /* comm: 16 bytes, kept NUL-terminated even when the kernel's are not */
        {
                uint32_t w[6] = { 3, 3 };
                memcpy(&w[2], "ABCDEFGHIJKLMNOP", 16);
                m = mk(CNPROC_COMM, 0, 0, T0, w, 6);
        }
        assert_int_equal(cnproc_parse(m.b, m.len, &c), (int)m.len);
        assert_string_equal(c.comm, "ABCDEFGHIJKLMNO");

        /* the answer to LISTEN */
        m = MK(CNPROC_NONE, 1);
        put32(&m, 16 + 12, 43);        /* cn_msg.ack */
        assert_int_equal(cnproc_parse(m.b, m.len, &c), (int)m.len);
        assert_int_equal(c.ack, 43);
        assert_int_equal(c.ack_err, 1);

        /* a type we do not know: header only, still accepted */
        m = MK(0x400, 1, 2, 3);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), (int)m.len);
        assert_int_equal(c.what, 0x400);
        assert_int_equal(c.pid, 0);
        m = mk(0x20000000, 0, 0, T0, (const uint32_t[]){ 0 }, 0);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), (int)m.len);
}

static void test_parse_bad(void **state)
{
        struct cnproc_msg c;
        struct msg good = MK(CNPROC_FORK, 10, 10, 11, 11), m;

        memset(&c, 0xa5, sizeof(c));
        /* every truncation of a good message */
        for (size_t k = 0; k < good.len; k++) {
                int r = cnproc_parse(good.b, k, &c);
                if (r != -EINVAL && r != -E2BIG)
                        fail_msg("truncated to %zu: %d", k, r);
        }
        assert_int_equal(c.what, 0xa5a5a5a5);  /* nothing written */

        /* nlmsg_len shorter than its own header, or longer than the buffer */
        m = good;
        put32(&m, 0, 15);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), -EINVAL);
        put32(&m, 0, (uint32_t)m.len + 1);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), -E2BIG);
        put32(&m, 0, UINT32_MAX);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), -E2BIG);
        /* nlmsg_len too short for the cn_msg */
        m = good;
        put32(&m, 0, 16 + 19);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), -EINVAL);
        /* not NLMSG_DONE */
        m = good;
        put16(&m, 4, NLMSG_ERROR);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), -EINVAL);
        put16(&m, 4, NLMSG_NOOP);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), -EINVAL);
        /* another connector */
        m = good;
        put32(&m, 16, CN_IDX_PROC + 1);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), -EINVAL);
        m = good;
        put32(&m, 20, CN_VAL_PROC + 1);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), -EINVAL);
        /* cn_msg.len lying: past the netlink payload, or short of the event header */
        m = good;
        put16(&m, 32, (uint16_t)(good.len - 36 + 1));
        assert_int_equal(cnproc_parse(m.b, m.len, &c), -E2BIG);
        put16(&m, 32, UINT16_MAX);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), -E2BIG);
        put16(&m, 32, 15);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), -EINVAL);
        /* cn_msg.len short of what the type needs */
        put16(&m, 32, 16 + 12);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), -EINVAL);
        m = MK(CNPROC_EXEC, 41);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), -EINVAL);
        m = MK(CNPROC_EXIT, 12, 12, 0);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), -EINVAL);
        m = MK(CNPROC_COMM, 3, 3, 0, 0, 0);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), -EINVAL);
        m = mk(CNPROC_NONE, 0, 0, T0, (const uint32_t[]){ 0 }, 0);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), -EINVAL);
        /* pids no kernel has */
        m = MK(CNPROC_EXEC, UINT32_MAX, 40);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), -EINVAL);
        m = MK(CNPROC_FORK, 10, 10, 11, 4194305);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), -EINVAL);
        m = MK(CNPROC_EXIT, 12, 12, 0, 0, 1, 0x80000000);
        assert_int_equal(cnproc_parse(m.b, m.len, &c), -EINVAL);
        assert_int_equal(c.what, 0xa5a5a5a5);
}

static void test_parse_stream(void **state)
{
        struct cnproc_msg c;
        struct msg a = MK(CNPROC_EXEC, 41, 40), b = MK(CNPROC_EXIT, 41, 40, 0, 0, 1, 1);
        uint8_t buf[2 * MSG_MAX];
        int r;

        /* two messages in one datagram */
        memcpy(buf, a.b, a.len);
        memcpy(buf + a.len, b.b, b.len);
        r = cnproc_parse(buf, a.len + b.len, &c);
        assert_int_equal(r, (int)a.len);
        assert_int_equal(c.what, CNPROC_EXEC);
        r = cnproc_parse(buf + r, a.len + b.len - (size_t)r, &c);
        assert_int_equal(r, (int)b.len);
        assert_int_equal(c.what, CNPROC_EXIT);

        /* a message whose length is not a multiple of 4: consumed up to the
         * alignment, but never past the buffer */
        a = MK(CNPROC_EXEC, 41, 40);
        put32(&a, 0, (uint32_t)a.len + 1);
        put16(&a, 32, 16 + 8 + 1);
        assert_int_equal(cnproc_parse(a.b, a.len + 1, &c), (int)a.len + 1);
        assert_int_equal(cnproc_parse(a.b, a.len + 4, &c), (int)a.len + 4);
}

static void test_msg_event(void **state)
{
        struct agent_event e;
        struct cnproc_msg c;
        struct msg m;

        m = MK(CNPROC_EXEC, 41, 40);
        assert_true(cnproc_parse(m.b, m.len, &c) > 0);
        assert_int_equal(cnproc_msg_event(&c, &e), 1);
        assert_int_equal(e.type, EV_EXEC);
        assert_int_equal(e.proc.pid, 40);
        assert_int_equal(e.proc.tid, 41);
        assert_int_equal(e.proc.uid, UINT32_MAX);
        assert_int_equal(e.proc.loginuid, UINT32_MAX);
        assert_int_equal(e.mono_ns, T0);
        assert_string_equal(e.exec.image, "");

        m = MK(CNPROC_FORK, 11, 10, 20, 20);
        assert_true(cnproc_parse(m.b, m.len, &c) > 0);
        assert_int_equal(cnproc_msg_event(&c, &e), 1);
        assert_int_equal(e.type, EV_FORK);
        assert_int_equal(e.proc.pid, 10);
        assert_int_equal(e.proc.tid, 11);
        assert_int_equal(e.fork.child_pid, 20);
        m = MK(CNPROC_FORK, 10, 10, 21, 10);   /* a new thread of 10 */
        assert_true(cnproc_parse(m.b, m.len, &c) > 0);
        assert_int_equal(cnproc_msg_event(&c, &e), 0);

        m = MK(CNPROC_EXIT, 20, 20, 0x0900, 0, 10, 10);
        assert_true(cnproc_parse(m.b, m.len, &c) > 0);
        assert_int_equal(cnproc_msg_event(&c, &e), 1);
        assert_int_equal(e.type, EV_EXIT);
        assert_int_equal(e.exit.code, 0x0900);
        assert_int_equal(e.proc.ppid, 10);
        m = MK(CNPROC_EXIT, 21, 20, 0, 0, 10, 10);     /* a thread */
        assert_true(cnproc_parse(m.b, m.len, &c) > 0);
        assert_int_equal(cnproc_msg_event(&c, &e), 0);

        m = MK(CNPROC_UID, 30, 30, 1000, 0);
        assert_true(cnproc_parse(m.b, m.len, &c) > 0);
        assert_int_equal(cnproc_msg_event(&c, &e), 1);
        assert_int_equal(e.type, EV_CRED);
        assert_int_equal(e.cred.new_uid, 1000);
        assert_int_equal(e.cred.new_euid, 0);
        assert_int_equal(e.cred.old_uid, UINT32_MAX);
        assert_int_equal(e.cred.new_gid, UINT32_MAX);
        assert_int_equal(e.cred.cause, EV_CRED_OTHER);

        m = MK(CNPROC_PTRACE, 50, 50, 61, 60);
        assert_true(cnproc_parse(m.b, m.len, &c) > 0);
        assert_int_equal(cnproc_msg_event(&c, &e), 1);
        assert_int_equal(e.type, EV_PTRACE);
        assert_int_equal(e.proc.pid, 60);
        assert_int_equal(e.inject.target_pid, 50);
        assert_int_equal(e.inject.request, 16);        /* PTRACE_ATTACH */
        m = MK(CNPROC_PTRACE, 50, 50, 0, 0);
        assert_true(cnproc_parse(m.b, m.len, &c) > 0);
        assert_int_equal(cnproc_msg_event(&c, &e), 1);
        assert_int_equal(e.proc.pid, 0);
        assert_int_equal(e.inject.request, 17);        /* PTRACE_DETACH */

        m = MK(CNPROC_GID, 30, 30, 0, 0);
        assert_true(cnproc_parse(m.b, m.len, &c) > 0);
        assert_int_equal(cnproc_msg_event(&c, &e), 0);
        m = MK(CNPROC_SID, 30, 30);
        assert_true(cnproc_parse(m.b, m.len, &c) > 0);
        assert_int_equal(cnproc_msg_event(&c, &e), 0);
        m = MK(0x400, 1, 2);
        assert_true(cnproc_parse(m.b, m.len, &c) > 0);
        assert_int_equal(cnproc_msg_event(&c, &e), 0);
}

/* ---- the sensor, detached, on the fake /proc ---- */

#define GOT_MAX 16

struct got {
        size_t n;
        struct agent_event ev[GOT_MAX];
};

static void collect(const struct agent_event *ev, void *ctx)
{
        struct got *g = ctx;

        assert_true(g->n < GOT_MAX);
        g->ev[g->n++] = *ev;
}

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

static struct evsrc *fake_sensor(void)
{
        struct evsrc *s;
        char cg[4096];

        snprintf(cg, sizeof(cg), "%s", data_path("cgroup"));
        assert_int_equal(cnproc_open_detached(data_path("proc"), cg, &s), 0);
        assert_string_equal(s->ops->name, "cnproc");
        return s;
}

static int feed(struct evsrc *s, struct msg m, uint64_t now, struct got *g)
{
        return cnproc_feed(s, m.b, m.len, now, collect, g);
}

static void test_sensor_exec(void **state)
{
        static struct got g;
        struct evsrc *s = fake_sensor();
        const struct agent_event *e;
        struct stat sb;

        g.n = 0;
        assert_int_equal(feed(s, MK(CNPROC_EXEC, 100, 100), T0, &g), 1);
        e = &g.ev[0];
        assert_int_equal(e->type, EV_EXEC);
        assert_int_equal(e->proc.pid, 100);
        assert_int_equal(e->proc.ppid, 99);
        assert_int_equal(e->proc.uid, 1000);
        assert_int_equal(e->proc.euid, 1001);
        assert_int_equal(e->proc.gid, 2000);
        assert_int_equal(e->proc.egid, 2001);
        assert_int_equal(e->proc.loginuid, 1000);
        assert_int_equal(e->proc.start_ticks, 123456);
        assert_string_equal(e->proc.comm, "bash");
        assert_int_equal(stat(data_path("cgroup/user.slice/user-1000.slice/session-3.scope"), &sb), 0);
        assert_int_equal(e->proc.cgroup_id, sb.st_ino);
        assert_string_equal(e->exec.image, "/usr/bin/bash");
        assert_string_equal(e->exec.cwd, "/home/alice");
        assert_int_equal(e->exec.argc, 3);
        assert_int_equal(e->exec.args_len, 16);
        assert_memory_equal(e->exec.args, "bash\0-c\0echo hi\0", 16);
        assert_int_equal(e->exec.flags, EV_EXEC_STDIN_TTY | EV_EXEC_STDOUT_SOCKET);
        assert_int_equal(e->mono_ns, T0);
        assert_true(e->wall_ns != 0);

        g.n = 0;
        assert_int_equal(feed(s, MK(CNPROC_EXEC, 102, 102), T0, &g), 1);
        assert_string_equal(g.ev[0].exec.image, "/tmp/x");
        assert_int_equal(g.ev[0].exec.flags, EV_EXEC_DELETED | EV_EXEC_STDIN_SOCKET |
                         EV_EXEC_STDOUT_TTY | EV_EXEC_STDERR_TTY);
        assert_int_equal(g.ev[0].proc.loginuid, UINT32_MAX);   /* no loginuid file */
        assert_int_equal(g.ev[0].proc.cgroup_id, 0);           /* no cgroup file */

        g.n = 0;
        assert_int_equal(feed(s, MK(CNPROC_EXEC, 103, 103), T0, &g), 1);
        assert_string_equal(g.ev[0].exec.image, "/memfd:payload");
        assert_int_equal(g.ev[0].exec.flags, EV_EXEC_MEMFD);
        assert_string_equal(g.ev[0].exec.cwd, "");

        g.n = 0;
        assert_int_equal(feed(s, MK(CNPROC_EXEC, 104, 104), T0, &g), 1);
        assert_int_equal(g.ev[0].exec.flags, EV_EXEC_ARGS_TRUNCATED);
        assert_int_equal(g.ev[0].exec.args_len, EV_ARGS_MAX);
        g.n = 0;
        assert_int_equal(feed(s, MK(CNPROC_EXEC, 107, 107), T0, &g), 1);
        assert_int_equal(g.ev[0].exec.argc, EV_ARGC_MAX);
        assert_int_equal(g.ev[0].exec.flags, EV_EXEC_ARGS_TRUNCATED);

        /* gone before enrichment: what is known, nothing flagged */
        g.n = 0;
        assert_int_equal(feed(s, MK(CNPROC_EXEC, 999, 999), T0, &g), 1);
        e = &g.ev[0];
        assert_int_equal(e->proc.pid, 999);
        assert_int_equal(e->proc.uid, UINT32_MAX);
        assert_int_equal(e->proc.start_ticks, 0);
        assert_string_equal(e->proc.comm, "");
        assert_string_equal(e->exec.image, "");
        assert_int_equal(e->exec.flags, 0);
        assert_int_equal(e->exec.argc, 0);
        s->ops->close(s);
}

static void test_sensor_fork_exit(void **state)
{
        static struct got g;
        struct evsrc *s = fake_sensor();
        const struct agent_event *e;

        g.n = 0;
        /* 100 forks 106 (the cache, primed from the tree, knows 100) */
        assert_int_equal(feed(s, MK(CNPROC_FORK, 100, 100, 106, 106), T0, &g), 1);
        e = &g.ev[0];
        assert_int_equal(e->type, EV_FORK);
        assert_int_equal(e->proc.pid, 100);
        assert_int_equal(e->proc.uid, 1000);
        assert_string_equal(e->proc.comm, "bash");
        assert_int_equal(e->fork.child_pid, 106);
        assert_int_equal(e->fork.child_start_ticks, 8000);
        /* a new thread is no event */
        assert_int_equal(feed(s, MK(CNPROC_FORK, 100, 100, 120, 100), T0, &g), 0);
        /* a thread's exit is no event; the leader's is */
        assert_int_equal(feed(s, MK(CNPROC_EXIT, 120, 100, 0, 0, 99, 99), T0, &g), 0);
        g.n = 0;
        assert_int_equal(feed(s, MK(CNPROC_EXIT, 106, 106, 0x0100, 17, 100, 100), T0, &g), 1);
        e = &g.ev[0];
        assert_int_equal(e->type, EV_EXIT);
        assert_int_equal(e->exit.code, 0x0100);
        assert_int_equal(e->proc.ppid, 100);
        assert_int_equal(e->proc.start_ticks, 8000);
        assert_string_equal(e->proc.comm, "zomb");
        /* a fork and an exit of processes never seen: pids only */
        g.n = 0;
        assert_int_equal(feed(s, MK(CNPROC_FORK, 900, 900, 901, 901), T0, &g), 1);
        assert_int_equal(g.ev[0].proc.uid, UINT32_MAX);
        assert_int_equal(g.ev[0].fork.child_start_ticks, 0);
        s->ops->close(s);
}

static void test_sensor_cred(void **state)
{
        static struct got g;
        struct evsrc *s = fake_sensor();
        const struct agent_event *e;

        g.n = 0;
        /* 100 (uid 1000, euid 1001) becomes root: held back, then reported */
        assert_int_equal(feed(s, MK(CNPROC_UID, 100, 100, 0, 0), T0, &g), 0);
        assert_int_equal(cnproc_feed(s, NULL, 0, T0 + HOLD_NS - 1, collect, &g), 0);
        assert_int_equal(cnproc_feed(s, NULL, 0, T0 + HOLD_NS, collect, &g), 1);
        e = &g.ev[0];
        assert_int_equal(e->type, EV_CRED);
        assert_int_equal(e->proc.pid, 100);
        assert_int_equal(e->cred.old_uid, 1000);
        assert_int_equal(e->cred.old_euid, 1001);
        assert_int_equal(e->cred.new_uid, 0);
        assert_int_equal(e->cred.new_euid, 0);
        assert_int_equal(e->cred.old_gid, 2000);
        assert_int_equal(e->cred.new_gid, 2000);
        assert_int_equal(e->cred.cause, EV_CRED_OTHER);
        assert_int_equal(e->proc.uid, 0);
        assert_int_equal(e->mono_ns, T0);

        /* the same ids again (another thread, or only suid/fsuid): nothing */
        g.n = 0;
        assert_int_equal(feed(s, MK(CNPROC_UID, 100, 100, 0, 0), T0, &g), 0);
        assert_int_equal(cnproc_feed(s, NULL, 0, T0 + 2 * HOLD_NS, collect, &g), 0);

        /* a uid change, then a gid change of the same commit, then an exit:
         * the change comes out first, with the new gids */
        g.n = 0;
        assert_int_equal(feed(s, MK(CNPROC_UID, 106, 106, 1000, 0), T0, &g), 0);
        assert_int_equal(feed(s, MK(CNPROC_GID, 106, 106, 5, 6), T0, &g), 0);
        assert_int_equal(feed(s, MK(CNPROC_EXIT, 106, 106, 0, 0, 100, 100), T0, &g), 2);
        assert_int_equal(g.ev[0].type, EV_CRED);
        assert_int_equal(g.ev[0].cred.old_euid, 1000);
        assert_int_equal(g.ev[0].cred.new_euid, 0);
        assert_int_equal(g.ev[0].cred.new_gid, 5);
        assert_int_equal(g.ev[0].cred.new_egid, 6);
        assert_int_equal(g.ev[1].type, EV_EXIT);

        /* a process never seen: old ids unknown */
        g.n = 0;
        assert_int_equal(feed(s, MK(CNPROC_UID, 950, 950, 0, 0), T0, &g), 0);
        assert_int_equal(cnproc_feed(s, NULL, 0, T0 + HOLD_NS, collect, &g), 1);
        assert_int_equal(g.ev[0].cred.old_uid, UINT32_MAX);
        assert_int_equal(g.ev[0].cred.old_gid, UINT32_MAX);
        assert_int_equal(g.ev[0].cred.new_uid, 0);
        s->ops->close(s);
}

/* Writes ROOT/PID/{stat,status,exe} for a process running the file exe. */
static void tmp_proc(const char *root, int pid, const char *exe)
{
        char p[4200];
        FILE *f;

        snprintf(p, sizeof(p), "%s/%d", root, pid);
        assert_int_equal(mkdir(p, 0700), 0);
        snprintf(p, sizeof(p), "%s/%d/stat", root, pid);
        assert_non_null(f = fopen(p, "w"));
        fprintf(f, "%d (sh) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 777\n", pid);
        fclose(f);
        snprintf(p, sizeof(p), "%s/%d/status", root, pid);
        assert_non_null(f = fopen(p, "w"));
        fprintf(f, "Uid:\t1000\t1000\t1000\t1000\nGid:\t100\t100\t100\t100\n");
        fclose(f);
        snprintf(p, sizeof(p), "%s/%d/exe", root, pid);
        assert_int_equal(symlink(exe, p), 0);
}

static void tmp_proc_remove(const char *root, int pid)
{
        static const char *const names[] = { "stat", "status", "exe" };
        char p[4200];

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                snprintf(p, sizeof(p), "%s/%d/%s", root, pid, names[i]);
                unlink(p);
        }
        snprintf(p, sizeof(p), "%s/%d", root, pid);
        assert_int_equal(rmdir(p), 0);
}

static void test_sensor_setuid_exec(void **state)
{
        static struct got g;
        char root[] = "/tmp/vigil-cnproc-XXXXXX", file[4200];
        struct evsrc *s;
        int fd;

        assert_non_null(mkdtemp(root));
        snprintf(file, sizeof(file), "%s/setuid-bin", root);
        fd = open(file, O_WRONLY | O_CREAT, 0755);
        assert_true(fd >= 0);
        assert_int_equal(fchmod(fd, 04755), 0);
        close(fd);
        tmp_proc(root, 300, file);
        tmp_proc(root, 301, "/bin/sh");
        assert_int_equal(cnproc_open_detached(root, NULL, &s), 0);

        /* the kernel reports the uid change of a setuid exec before the exec */
        g.n = 0;
        assert_int_equal(feed(s, MK(CNPROC_UID, 300, 300, 1000, 0), T0, &g), 0);
        assert_int_equal(feed(s, MK(CNPROC_EXEC, 300, 300), T0 + 1000, &g), 2);
        assert_int_equal(g.ev[0].type, EV_CRED);
        assert_int_equal(g.ev[0].cred.cause, EV_CRED_SETUID_EXEC);
        assert_int_equal(g.ev[0].cred.old_euid, 1000);
        assert_int_equal(g.ev[0].cred.new_euid, 0);
        assert_int_equal(g.ev[1].type, EV_EXEC);
        assert_string_equal(g.ev[1].exec.image, file);

        /* setuid() and then an exec of an ordinary file: not a setuid exec */
        g.n = 0;
        assert_int_equal(feed(s, MK(CNPROC_UID, 301, 301, 0, 0), T0, &g), 0);
        assert_int_equal(feed(s, MK(CNPROC_EXEC, 301, 301), T0 + 1000, &g), 2);
        assert_int_equal(g.ev[0].cred.cause, EV_CRED_OTHER);
        assert_int_equal(g.ev[1].type, EV_EXEC);
        s->ops->close(s);
        tmp_proc_remove(root, 300);
        tmp_proc_remove(root, 301);
        unlink(file);
        assert_int_equal(rmdir(root), 0);
}

static void test_sensor_ptrace_and_drops(void **state)
{
        static struct got g;
        struct evsrc *s = fake_sensor();
        uint8_t junk[64];

        g.n = 0;
        assert_int_equal(feed(s, MK(CNPROC_PTRACE, 101, 101, 100, 100), T0, &g), 1);
        assert_int_equal(g.ev[0].type, EV_PTRACE);
        assert_int_equal(g.ev[0].proc.pid, 100);
        assert_int_equal(g.ev[0].proc.uid, 1000);
        assert_int_equal(g.ev[0].inject.target_pid, 101);
        assert_int_equal(g.ev[0].inject.target_start_ticks, 987654321);
        assert_int_equal(g.ev[0].inject.request, 16);
        /* the kernel names no tracer on detach; the sensor remembers it */
        assert_int_equal(feed(s, MK(CNPROC_PTRACE, 101, 101, 0, 0), T0, &g), 1);
        assert_int_equal(g.ev[1].proc.pid, 100);
        assert_int_equal(g.ev[1].inject.request, 17);
        /* a second detach: the tracer is no longer known */
        assert_int_equal(feed(s, MK(CNPROC_PTRACE, 101, 101, 0, 0), T0, &g), 1);
        assert_int_equal(g.ev[2].proc.pid, 0);

        /* junk is no event */
        memset(junk, 0xff, sizeof(junk));
        assert_int_equal(cnproc_feed(s, junk, sizeof(junk), T0, collect, &g), 0);
        assert_int_equal(cnproc_feed(s, junk, 3, T0, collect, &g), 0);

        /* losses: the per-CPU sequence jumps from 5 to 9 on CPU 1 */
        assert_int_equal(s->ops->dropped(s), 0);
        g.n = 0;
        assert_int_equal(feed(s, mk(CNPROC_SID, 1, 5, T0, (const uint32_t[]){ 1, 1 }, 2), T0, &g), 0);
        assert_int_equal(feed(s, mk(CNPROC_SID, 2, 5, T0, (const uint32_t[]){ 1, 1 }, 2), T0, &g), 0);
        assert_int_equal(feed(s, mk(CNPROC_SID, 1, 6, T0, (const uint32_t[]){ 1, 1 }, 2), T0, &g), 0);
        assert_int_equal(s->ops->dropped(s), 0);
        assert_int_equal(feed(s, mk(CNPROC_SID, 1, 9, T0, (const uint32_t[]){ 1, 1 }, 2), T0, &g), 0);
        assert_int_equal(s->ops->dropped(s), 2);
        assert_non_null(strstr(s->ops->limitations(s), "network"));
        s->ops->close(s);
}

static void test_watch_paths(void **state)
{
        size_t n = 0;
        bool etc = false, home = false;

        for (; evsrc_default_watch_paths[n]; n++) {
                assert_int_equal(evsrc_default_watch_paths[n][0], '/');
                etc |= strcmp(evsrc_default_watch_paths[n], "/etc/") == 0;
                home |= evsrc_watch_match(evsrc_default_watch_paths[n], "/home/bob/.ssh/authorized_keys");
        }
        assert_true(n > 0 && n <= EVSRC_WATCH_MAX);
        assert_true(etc);
        assert_true(home);

        assert_true(evsrc_watch_match("/etc/", "/etc/passwd"));
        assert_false(evsrc_watch_match("/etc/", "/etcx/passwd"));
        assert_false(evsrc_watch_match("/etc/", "/et"));
        assert_true(evsrc_watch_match("/root/.ssh/authorized_keys", "/root/.ssh/authorized_keys2"));
        assert_true(evsrc_watch_match("/home/*/.ssh/authorized_keys", "/home/alice/.ssh/authorized_keys"));
        assert_true(evsrc_watch_match("/home/*/.ssh/authorized_keys", "/home/a/.ssh/authorized_keys2"));
        assert_false(evsrc_watch_match("/home/*/.ssh/authorized_keys", "/home//.ssh/authorized_keys"));
        assert_false(evsrc_watch_match("/home/*/.ssh/authorized_keys", "/home/a/b/.ssh/authorized_keys"));
        assert_false(evsrc_watch_match("/home/*/.ssh/authorized_keys", "/home/alice/.bashrc"));
        assert_false(evsrc_watch_match("/home/*/.ssh/authorized_keys", "/home/alice"));
        /* "*" inside a component is a plain byte */
        assert_false(evsrc_watch_match("/home/a*/x", "/home/ab/x"));
        assert_true(evsrc_watch_match("/home/a*/x", "/home/a*/x"));
        assert_true(evsrc_watch_match("/var/*", "/var/log"));
        assert_false(evsrc_watch_match("/var/*", "/var/"));
}

struct live {
        pid_t child;
        struct got g;
};

/* Keeps the events of one child among all the machine's. */
static void collect_live(const struct agent_event *ev, void *ctx)
{
        struct live *l = ctx;

        if (ev->proc.pid != (uint32_t)l->child &&
            !(ev->type == EV_FORK && ev->fork.child_pid == (uint32_t)l->child))
                return;
        if (l->g.n < GOT_MAX)
                l->g.ev[l->g.n++] = *ev;
}

/* The real connector: as root, an exec of a child is seen with its image
 * and argv, and its fork and exit too. Skipped without root. */
static void test_live(void **state)
{
        static struct live l;
        struct got *g = &l.g;
        struct evsrc *s;
        char err[256];
        bool fork_seen = false, exec_seen = false, exit_seen = false;
        pid_t child;
        time_t end;
        int r;

        if (geteuid() != 0)
                skip();
        r = evsrc_cnproc_open(NULL, &s, err, sizeof(err));
        if (r == -EOPNOTSUPP || r == -EPERM) {
                fprintf(stderr, "proc connector unavailable: %s\n", err);
                skip();
        }
        assert_int_equal(r, 0);
        assert_true(s->ops->fd(s) >= 0);
        child = fork();
        assert_true(child >= 0);
        if (child == 0) {
                execl("/bin/sleep", "sleep", "0.2", (char *)NULL);
                _exit(127);
        }
        l.child = child;
        for (end = time(NULL) + 10; time(NULL) < end && !(fork_seen && exec_seen && exit_seen);) {
                g->n = 0;
                r = s->ops->poll(s, 100, collect_live, &l);
                assert_true(r >= 0);
                for (size_t i = 0; i < g->n; i++) {
                        const struct agent_event *e = &g->ev[i];

                        if (e->type == EV_FORK && e->fork.child_pid == (uint32_t)child) {
                                fork_seen = true;
                                assert_int_equal(e->proc.pid, (uint32_t)getpid());
                        }
                        if (e->type == EV_EXEC && e->proc.pid == (uint32_t)child) {
                                exec_seen = true;
                                assert_non_null(strstr(e->exec.image, "sleep"));
                                assert_int_equal(e->exec.argc, 2);
                                assert_memory_equal(e->exec.args, "sleep\0" "0.2\0", 10);
                                assert_int_equal(e->proc.ppid, (uint32_t)getpid());
                                assert_true(e->proc.start_ticks > 0);
                        }
                        if (e->type == EV_EXIT && e->proc.pid == (uint32_t)child) {
                                exit_seen = true;
                                assert_int_equal(e->exit.code, 0);
                        }
                }
        }
        waitpid(child, NULL, 0);
        assert_true(fork_seen);
        assert_true(exec_seen);
        assert_true(exit_seen);
        s->ops->close(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_types),
                cmocka_unit_test(test_parse_bad),
                cmocka_unit_test(test_parse_stream),
                cmocka_unit_test(test_msg_event),
                cmocka_unit_test(test_sensor_exec),
                cmocka_unit_test(test_sensor_fork_exit),
                cmocka_unit_test(test_sensor_cred),
                cmocka_unit_test(test_sensor_setuid_exec),
                cmocka_unit_test(test_sensor_ptrace_and_drops),
                cmocka_unit_test(test_watch_paths),
                cmocka_unit_test(test_live),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
