/* Unit tests for the process table: exec and fork, lineage and its depth
 * cap, pid reuse resolved by start time, expiry after the grace period, the
 * count cap and the string budget, and seeding from the real /proc. Events
 * are synthetic. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/src/proctable.h"

#define SEC 1000000000ull

static struct agent_event *ev_new(enum ev_type t, uint32_t pid, uint64_t start, uint32_t ppid,
                                  uint64_t mono)
{
        struct agent_event *ev = calloc(1, sizeof(*ev));

        assert_non_null(ev);
        ev->type = t;
        ev->mono_ns = mono;
        ev->proc.pid = ev->proc.tid = pid;
        ev->proc.ppid = ppid;
        ev->proc.start_ticks = start;
        ev->proc.uid = ev->proc.euid = ev->proc.gid = ev->proc.egid = 1000;
        ev->proc.loginuid = 1000;
        return ev;
}

/* argv given as one string with '|' between entries */
static void feed_exec(struct proctable *pt, uint32_t pid, uint64_t start, uint32_t ppid,
                      const char *image, const char *argv, uint64_t mono)
{
        struct agent_event *ev = ev_new(EV_EXEC, pid, start, ppid, mono);
        size_t n = strlen(argv);

        snprintf(ev->exec.image, sizeof(ev->exec.image), "%s", image);
        snprintf(ev->exec.cwd, sizeof(ev->exec.cwd), "/home/u");
        memcpy(ev->exec.args, argv, n + 1);
        for (size_t i = 0; i < n; i++)
                if (ev->exec.args[i] == '|')
                        ev->exec.args[i] = '\0';
        ev->exec.args_len = (uint32_t)n + 1;
        proctable_feed(pt, ev);
        free(ev);
}

static void feed_fork(struct proctable *pt, uint32_t pid, uint64_t start, uint32_t child,
                      uint64_t child_start, uint64_t mono)
{
        struct agent_event *ev = ev_new(EV_FORK, pid, start, 1, mono);

        ev->fork.child_pid = child;
        ev->fork.child_start_ticks = child_start;
        proctable_feed(pt, ev);
        free(ev);
}

static void feed_exit(struct proctable *pt, uint32_t pid, uint64_t start, uint64_t mono)
{
        struct agent_event *ev = ev_new(EV_EXIT, pid, start, 1, mono);

        proctable_feed(pt, ev);
        free(ev);
}

static void test_exec(void **state)
{
        struct proctable *pt = proctable_new(16, 0);
        const struct proctable_proc *p;

        feed_exec(pt, 100, 1000, 1, "/usr/bin/ls", "ls|-l|/tmp", SEC);
        p = proctable_lookup(pt, 100, 1000);
        assert_non_null(p);
        assert_string_equal(p->image, "/usr/bin/ls");
        assert_int_equal(p->image_len, 11);
        assert_int_equal(p->argc, 3);
        assert_int_equal(p->args_len, 11);
        assert_memory_equal(p->args, "ls\0-l\0/tmp\0", 11);
        assert_string_equal(p->cwd, "/home/u");
        assert_int_equal(p->ppid, 1);
        assert_int_equal(p->uid, 1000);
        assert_true(p->exec_seen);
        assert_false(p->exited);
        assert_null(proctable_lookup(pt, 100, 999));
        assert_ptr_equal(proctable_lookup(pt, 100, 0), p);
        assert_null(proctable_lookup(pt, 101, 0));
        /* argv without a final NUL gets one */
        {
                struct agent_event *ev = ev_new(EV_EXEC, 100, 1000, 1, SEC);

                memcpy(ev->exec.args, "a\0bc", 4);
                ev->exec.args_len = 4;
                proctable_feed(pt, ev);
                free(ev);
        }
        p = proctable_lookup(pt, 100, 1000);
        assert_int_equal(p->argc, 2);
        assert_int_equal(p->args_len, 5);
        assert_memory_equal(p->args, "a\0bc\0", 5);
        assert_string_equal(p->image, "");
        proctable_free(pt);
}

static void test_fork_inherits(void **state)
{
        struct proctable *pt = proctable_new(16, 0);
        const struct proctable_proc *parent, *child;

        feed_exec(pt, 100, 1000, 1, "/bin/bash", "bash|-i", SEC);
        feed_fork(pt, 100, 1000, 101, 1005, SEC);
        child = proctable_lookup(pt, 101, 1005);
        assert_non_null(child);
        assert_string_equal(child->image, "/bin/bash");
        assert_memory_equal(child->args, "bash\0-i\0", 8);
        assert_false(child->exec_seen);
        assert_int_equal(child->ppid, 100);
        assert_int_equal(child->parent_start_ticks, 1000);
        assert_int_equal(child->uid, 1000);
        parent = proctable_parent(pt, child);
        assert_non_null(parent);
        assert_int_equal(parent->pid, 100);

        feed_exec(pt, 101, 1005, 100, "/usr/bin/id", "id", SEC);
        child = proctable_lookup(pt, 101, 1005);
        parent = proctable_lookup(pt, 100, 1000);
        assert_string_equal(child->image, "/usr/bin/id");
        assert_true(child->exec_seen);
        assert_string_equal(parent->image, "/bin/bash");      /* the shared text was not touched */
        assert_int_equal(proctable_count(pt), 2);

        /* a fork of an unknown parent creates both */
        feed_fork(pt, 300, 3000, 301, 3001, SEC);
        assert_non_null(proctable_lookup(pt, 300, 3000));
        child = proctable_lookup(pt, 301, 3001);
        assert_non_null(child);
        assert_string_equal(child->image, "");

        /* the child's exec arrived before the fork: the fork keeps the exec */
        feed_exec(pt, 401, 4001, 400, "/usr/bin/true", "true", SEC);
        feed_fork(pt, 400, 4000, 401, 4001, SEC);
        child = proctable_lookup(pt, 401, 4001);
        assert_string_equal(child->image, "/usr/bin/true");
        assert_int_equal(child->parent_start_ticks, 4000);
        proctable_free(pt);
}

static void test_ancestors(void **state)
{
        struct proctable *pt = proctable_new(64, 0);
        const struct proctable_proc *anc[PROCTABLE_ANCESTRY_MAX + 4], *p;
        unsigned n;

        feed_exec(pt, 1, 1, 0, "/sbin/init", "/sbin/init", SEC);
        feed_exec(pt, 50, 10, 1, "/usr/sbin/sshd", "sshd", SEC);
        feed_exec(pt, 100, 20, 50, "/bin/bash", "-bash", SEC);
        feed_exec(pt, 101, 30, 100, "/usr/bin/python3", "python3|x.py", SEC);
        feed_exec(pt, 102, 40, 101, "/bin/sh", "sh|-c|id", SEC);
        p = proctable_lookup(pt, 102, 40);
        n = proctable_ancestors(pt, p, anc, PROCTABLE_ANCESTRY_MAX);
        assert_int_equal(n, 4);
        assert_int_equal(anc[0]->pid, 101);
        assert_int_equal(anc[1]->pid, 100);
        assert_int_equal(anc[2]->pid, 50);
        assert_int_equal(anc[3]->pid, 1);
        assert_null(proctable_parent(pt, anc[3]));
        assert_int_equal(proctable_ancestors(pt, p, anc, 2), 2);

        /* an unknown parent ends the walk */
        feed_exec(pt, 201, 50, 200, "/bin/x", "x", SEC);
        p = proctable_lookup(pt, 201, 50);
        assert_int_equal(proctable_ancestors(pt, p, anc, PROCTABLE_ANCESTRY_MAX), 0);

        /* a chain deeper than the cap: the walk stops at PROCTABLE_ANCESTRY_MAX */
        for (uint32_t i = 0; i < 30; i++)
                feed_exec(pt, 1000 + i, 100 + i, i ? 1000 + i - 1 : 1, "/bin/sh", "sh", SEC);
        p = proctable_lookup(pt, 1029, 129);
        n = proctable_ancestors(pt, p, anc, PROCTABLE_ANCESTRY_MAX + 4);
        assert_int_equal(n, PROCTABLE_ANCESTRY_MAX);
        assert_int_equal(anc[0]->pid, 1028);
        assert_int_equal(anc[PROCTABLE_ANCESTRY_MAX - 1]->pid, 1029 - PROCTABLE_ANCESTRY_MAX);

        /* a process that names itself as its parent does not loop */
        feed_exec(pt, 77, 7, 77, "/bin/loop", "loop", SEC);
        p = proctable_lookup(pt, 77, 7);
        assert_null(proctable_parent(pt, p));
        proctable_free(pt);
}

/* The parent of a process is the one with its ppid that started before it,
 * not a newer process that reused the pid. */
static void test_pid_reuse(void **state)
{
        struct proctable *pt = proctable_new(64, 0);
        const struct proctable_proc *p, *parent;

        feed_exec(pt, 200, 500, 1, "/usr/sbin/sshd", "sshd", 1 * SEC);
        feed_exec(pt, 300, 600, 200, "/bin/bash", "bash", 2 * SEC);    /* no fork seen */
        feed_exit(pt, 200, 500, 3 * SEC);
        feed_exec(pt, 200, 900, 1, "/tmp/evil", "evil", 4 * SEC);      /* pid 200 reused */
        feed_exec(pt, 301, 950, 200, "/bin/sh", "sh", 5 * SEC);

        p = proctable_lookup(pt, 300, 600);
        parent = proctable_parent(pt, p);
        assert_non_null(parent);
        assert_int_equal(parent->start_ticks, 500);
        assert_string_equal(parent->image, "/usr/sbin/sshd");
        assert_true(parent->exited);

        p = proctable_lookup(pt, 301, 950);
        parent = proctable_parent(pt, p);
        assert_non_null(parent);
        assert_int_equal(parent->start_ticks, 900);
        assert_string_equal(parent->image, "/tmp/evil");

        /* lookup by pid alone takes the live process */
        assert_int_equal(proctable_lookup(pt, 200, 0)->start_ticks, 900);

        /* a child whose parent's pid was reused before the child's exec, but
         * whose fork was seen, keeps its exact parent */
        feed_fork(pt, 300, 600, 310, 700, 6 * SEC);
        feed_exit(pt, 300, 600, 7 * SEC);
        feed_exec(pt, 300, 800, 1, "/usr/bin/other", "other", 8 * SEC);
        feed_exec(pt, 310, 700, 300, "/usr/bin/cat", "cat", 9 * SEC);
        p = proctable_lookup(pt, 310, 700);
        parent = proctable_parent(pt, p);
        assert_non_null(parent);
        assert_string_equal(parent->image, "/bin/bash");

        /* a child seen forked keeps its forker as parent when its exec reports
         * the reaper (double fork, or a sensor reading /proc late) */
        feed_fork(pt, 301, 950, 320, 960, 9 * SEC);
        feed_exit(pt, 301, 950, 9 * SEC);
        feed_exec(pt, 320, 960, 1, "/tmp/daemon", "daemon", 9 * SEC);
        p = proctable_lookup(pt, 320, 960);
        assert_int_equal(p->ppid, 301);
        assert_string_equal(proctable_parent(pt, p)->image, "/bin/sh");
        /* without a fork seen, the exec's ppid counts */
        feed_exec(pt, 330, 970, 1, "/tmp/x", "x", 9 * SEC);
        feed_exec(pt, 330, 970, 50, "/tmp/y", "y", 9 * SEC);
        assert_int_equal(proctable_lookup(pt, 330, 970)->ppid, 50);

        /* an exit that was missed: a new start of the same pid retires the old one */
        feed_exec(pt, 400, 1000, 1, "/bin/old", "old", 10 * SEC);
        feed_exec(pt, 400, 2000, 1, "/bin/new", "new", 11 * SEC);
        assert_true(proctable_lookup(pt, 400, 1000)->exited);
        assert_false(proctable_lookup(pt, 400, 2000)->exited);
        assert_string_equal(proctable_lookup(pt, 400, 0)->image, "/bin/new");

        /* a late event of a process gone from the table does not retire the
         * live process that now has its pid */
        proctable_expire(pt, 12 * SEC + PROCTABLE_GRACE_NS);
        assert_null(proctable_lookup(pt, 400, 1000));
        feed_exit(pt, 400, 1000, 12 * SEC + PROCTABLE_GRACE_NS);
        assert_true(proctable_lookup(pt, 400, 1000)->exited);
        assert_false(proctable_lookup(pt, 400, 2000)->exited);
        feed_exec(pt, 400, 1000, 1, "/bin/late", "late", 12 * SEC + PROCTABLE_GRACE_NS);
        assert_false(proctable_lookup(pt, 400, 2000)->exited);
        assert_string_equal(proctable_lookup(pt, 400, 0)->image, "/bin/new");
        proctable_free(pt);
}

static void test_expiry(void **state)
{
        struct proctable *pt = proctable_new(16, 0);
        const struct proctable_proc *p;

        feed_exec(pt, 100, 10, 1, "/bin/a", "a", 100 * SEC);
        feed_exec(pt, 101, 11, 1, "/bin/b", "b", 100 * SEC);
        feed_exit(pt, 100, 10, 101 * SEC);
        p = proctable_lookup(pt, 100, 10);
        assert_non_null(p);
        assert_true(p->exited);
        assert_int_equal(p->exit_mono_ns, 101 * SEC);
        assert_int_equal(proctable_expire(pt, 101 * SEC + PROCTABLE_GRACE_NS - 1), 0);
        assert_string_equal(proctable_lookup(pt, 100, 10)->image, "/bin/a");
        assert_int_equal(proctable_expire(pt, 101 * SEC + PROCTABLE_GRACE_NS), 1);
        assert_null(proctable_lookup(pt, 100, 10));
        assert_non_null(proctable_lookup(pt, 101, 11));         /* live: never expires */
        assert_int_equal(proctable_count(pt), 1);

        /* feeding a later event expires too */
        feed_exit(pt, 101, 11, 200 * SEC);
        feed_exec(pt, 102, 12, 1, "/bin/c", "c", 200 * SEC + PROCTABLE_GRACE_NS);
        assert_null(proctable_lookup(pt, 101, 11));
        assert_int_equal(proctable_count(pt), 1);
        proctable_free(pt);
}

static void test_count_cap(void **state)
{
        struct proctable *pt = proctable_new(4, 0);

        for (uint32_t i = 0; i < 4; i++)
                feed_exec(pt, 10 + i, 10 + i, 1, "/bin/x", "x", SEC);
        assert_int_equal(proctable_count(pt), 4);
        feed_exit(pt, 12, 12, 2 * SEC);
        feed_exec(pt, 20, 20, 1, "/bin/y", "y", 3 * SEC);
        assert_int_equal(proctable_count(pt), 4);
        assert_null(proctable_lookup(pt, 12, 12));              /* the exited one went first */
        assert_non_null(proctable_lookup(pt, 10, 10));
        assert_non_null(proctable_lookup(pt, 11, 11));
        assert_non_null(proctable_lookup(pt, 13, 13));

        /* no exited process: the least recently seen one goes */
        feed_exec(pt, 10, 10, 1, "/bin/x2", "x2", 4 * SEC);     /* 10 seen again */
        feed_exec(pt, 21, 21, 1, "/bin/z", "z", 5 * SEC);
        assert_int_equal(proctable_count(pt), 4);
        assert_null(proctable_lookup(pt, 11, 11));
        assert_non_null(proctable_lookup(pt, 10, 10));

        /* a fork into a full table keeps parent and child */
        feed_fork(pt, 21, 21, 22, 22, 6 * SEC);
        assert_non_null(proctable_lookup(pt, 21, 21));
        assert_string_equal(proctable_lookup(pt, 22, 22)->image, "/bin/z");
        assert_int_equal(proctable_count(pt), 4);

        /* a table of one still works */
        proctable_free(pt);
        pt = proctable_new(1, 0);
        feed_exec(pt, 1, 1, 0, "/a", "a", SEC);
        feed_fork(pt, 1, 1, 2, 2, SEC);
        assert_int_equal(proctable_count(pt), 1);
        assert_non_null(proctable_lookup(pt, 2, 2));
        proctable_free(pt);
}

/* The text budget holds, even with argv at its cap, and a full budget
 * degrades to unknown text rather than failing. */
static void test_string_budget(void **state)
{
        const size_t budget = 64 * 1024;
        struct proctable *pt = proctable_new(64, budget);
        struct agent_event *ev = ev_new(EV_EXEC, 0, 0, 1, SEC);

        memset(ev->exec.args, 'a', EV_ARGS_MAX);
        ev->exec.args[EV_ARGS_MAX - 1] = '\0';
        ev->exec.args_len = EV_ARGS_MAX;
        memset(ev->exec.image, 'i', EV_PATH_MAX - 1);
        memset(ev->exec.cwd, 'c', EV_PATH_MAX - 1);
        for (uint32_t i = 0; i < 40; i++) {
                ev->proc.pid = 100 + i;
                ev->proc.start_ticks = 100 + i;
                proctable_feed(pt, ev);
                assert_true(proctable_string_bytes(pt) <= budget);
        }
        assert_int_equal(proctable_count(pt), 40);
        assert_int_equal(proctable_lookup(pt, 100, 100)->image_len, EV_PATH_MAX - 1);
        assert_int_equal(proctable_lookup(pt, 100, 100)->args_len, EV_ARGS_MAX);
        assert_int_equal(proctable_lookup(pt, 139, 139)->image_len, 0); /* over budget */
        free(ev);

        /* exited processes give their text back when the budget is short */
        for (uint32_t i = 0; i < 40; i++)
                feed_exit(pt, 100 + i, 100 + i, 2 * SEC);
        feed_exec(pt, 500, 500, 1, "/bin/short", "short", 3 * SEC);
        assert_string_equal(proctable_lookup(pt, 500, 500)->image, "/bin/short");
        proctable_free(pt);
}

/* Once warm, a steady stream of fork/exec/exit does not grow the storage. */
static void test_steady_state(void **state)
{
        struct proctable *pt = proctable_new(256, 0);
        size_t bytes = 0;

        feed_exec(pt, 10, 10, 1, "/bin/bash", "bash", SEC);
        for (uint32_t round = 0; round < 2000; round++) {
                uint64_t t = (uint64_t)(round + 1) * SEC;
                uint32_t pid = 1000 + round % 50000;

                feed_fork(pt, 10, 10, pid, 100 + round, t);
                feed_exec(pt, pid, 100 + round, 10, "/usr/bin/cat", "cat|/etc/hostname", t);
                feed_exit(pt, pid, 100 + round, t);
                if (round == 100)
                        bytes = proctable_string_bytes(pt);
                if (round > 100)
                        assert_int_equal(proctable_string_bytes(pt), bytes);
        }
        assert_true(proctable_count(pt) <= 256);
        proctable_free(pt);
}

static void test_ids(void **state)
{
        struct proctable *pt = proctable_new(16, 0);
        struct agent_event *ev;
        const struct proctable_proc *p;

        feed_exec(pt, 100, 10, 1, "/usr/bin/su", "su", SEC);
        ev = ev_new(EV_CRED, 100, 10, 1, SEC);
        ev->cred.new_uid = 0;
        ev->cred.new_euid = 0;
        ev->cred.new_gid = UINT32_MAX;                  /* unknown: kept */
        ev->cred.new_egid = 0;
        proctable_feed(pt, ev);
        p = proctable_lookup(pt, 100, 10);
        assert_int_equal(p->uid, 0);
        assert_int_equal(p->euid, 0);
        assert_int_equal(p->gid, 1000);
        assert_int_equal(p->egid, 0);

        /* an event that knows no ids does not erase them */
        ev->type = EV_MEMFD;
        ev->proc.uid = ev->proc.euid = ev->proc.gid = ev->proc.egid = UINT32_MAX;
        proctable_feed(pt, ev);
        assert_int_equal(p->gid, 1000);

        /* an unknown process learned from such an event has unknown ids, not root's */
        ev->proc.pid = 555;
        ev->proc.start_ticks = 55;
        proctable_feed(pt, ev);
        assert_int_equal(proctable_lookup(pt, 555, 55)->uid, UINT32_MAX);

        /* an event without a subject (pid 0) is ignored */
        ev->proc.pid = 0;
        proctable_feed(pt, ev);
        assert_null(proctable_lookup(pt, 0, 0));
        free(ev);
        proctable_free(pt);
}

/* start_ticks unknown (0), as the proc connector may report for a process
 * already gone: the live process of that pid is meant. */
static void test_unknown_start(void **state)
{
        struct proctable *pt = proctable_new(16, 0);
        const struct proctable_proc *p;

        feed_exec(pt, 100, 10, 1, "/bin/a", "a", SEC);
        feed_exit(pt, 100, 0, 2 * SEC);
        p = proctable_lookup(pt, 100, 10);
        assert_true(p->exited);
        assert_int_equal(proctable_count(pt), 1);

        /* a process first seen without its start time adopts it later */
        feed_exec(pt, 200, 0, 1, "/bin/b", "b", 3 * SEC);
        feed_exec(pt, 200, 20, 1, "/bin/c", "c", 4 * SEC);
        assert_int_equal(proctable_count(pt), 2);
        assert_string_equal(proctable_lookup(pt, 200, 20)->image, "/bin/c");
        proctable_free(pt);
}

static void test_seed(void **state)
{
        struct proctable *pt = proctable_new(0, 0);
        const struct proctable_proc *me, *parent;
        char exe[4096];
        ssize_t n;
        int r;

        assert_int_equal(proctable_seed(pt, "/nonexistent-proc"), -ENOENT);
        r = proctable_seed(pt, "/proc");
        assert_true(r > 1);
        assert_int_equal(proctable_count(pt), (uint32_t)r);
        me = proctable_lookup(pt, (uint32_t)getpid(), 0);
        assert_non_null(me);
        n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        assert_true(n > 0);
        exe[n] = '\0';
        assert_string_equal(me->image, exe);
        assert_true(me->start_ticks > 0);
        assert_int_equal(me->ppid, (uint32_t)getppid());
        assert_int_equal(me->uid, getuid());
        assert_true(me->argc >= 1);
        parent = proctable_parent(pt, me);
        assert_non_null(parent);
        assert_int_equal(parent->pid, (uint32_t)getppid());
        /* seeding again adds only what started meanwhile */
        n = proctable_seed(pt, "/proc");
        assert_true(n >= 0 && n < r);
        assert_ptr_equal(proctable_lookup(pt, (uint32_t)getpid(), me->start_ticks), me);
        proctable_free(pt);

        /* a small table stops at its capacity */
        pt = proctable_new(2, 0);
        assert_int_equal(proctable_seed(pt, "/proc"), 2);
        assert_int_equal(proctable_count(pt), 2);
        proctable_free(pt);
        proctable_free(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exec),
                cmocka_unit_test(test_fork_inherits),
                cmocka_unit_test(test_ancestors),
                cmocka_unit_test(test_pid_reuse),
                cmocka_unit_test(test_expiry),
                cmocka_unit_test(test_count_cap),
                cmocka_unit_test(test_string_budget),
                cmocka_unit_test(test_steady_state),
                cmocka_unit_test(test_ids),
                cmocka_unit_test(test_unknown_start),
                cmocka_unit_test(test_seed),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
