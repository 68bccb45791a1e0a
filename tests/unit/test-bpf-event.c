/* Unit tests for the eBPF sensor's record conversion
 * (evsrc_bpf_record_convert): kernel records built by hand in the layout of
 * include/vigil/bpf_event.h become agent events with clock ticks, wall
 * time, bounded argv and flagged cuts; short, inconsistent or unknown
 * records are refused without touching the result. An agent built without
 * the eBPF sensor skips this test. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "agent/src/evsrc.h"

#ifndef HAVE_BPF
int main(void)
{
        printf("skipped: this agent was built without the eBPF sensor\n");
        return 77;
}
#else

#include "vigil/bpf_event.h"

#define NS_PER_TICK 10000000ull         /* USER_HZ 100 */

static const struct evsrc_bpf_clock clk = {
        .wall_offset_ns = 1700000000000000000ll,
        .ns_per_tick = NS_PER_TICK,
};

static void hdr_init(struct vigil_bpf_hdr *h, uint32_t type, uint32_t size)
{
        memset(h, 0, sizeof(*h));
        h->type = type;
        h->size = size;
        h->mono_ns = 5000000000ull;
        h->proc.pid = 100;
        h->proc.tid = 101;
        h->proc.ppid = 1;
        h->proc.uid = 1000;
        h->proc.euid = 0;
        h->proc.loginuid = 0xffffffff;
        h->proc.cgroup_id = 42;
        h->proc.start_ns = 123456789012ull;
        memcpy(h->proc.comm, "bash", 5);
}

/* An exec record with the given strings (lengths include their NULs). */
static struct vigil_bpf_exec *exec_record(const char *image, size_t ilen, const char *cwd, size_t clen,
                                          const char *args, size_t alen, uint32_t argc)
{
        struct vigil_bpf_exec *k = calloc(1, sizeof(*k));
        size_t size = offsetof(struct vigil_bpf_exec, data) + ilen + clen + alen;

        assert_non_null(k);
        assert_true(ilen + clen + alen <= sizeof(k->data));
        hdr_init(&k->hdr, VIGIL_BPF_EXEC, (uint32_t)size);
        memcpy(k->data, image, ilen);
        memcpy(k->data + ilen, cwd, clen);
        memcpy(k->data + ilen + clen, args, alen);
        k->image_len = (uint16_t)ilen;
        k->cwd_len = (uint16_t)clen;
        k->args_len = (uint16_t)alen;
        k->argc = argc;
        return k;
}

static size_t exec_size(const struct vigil_bpf_exec *k)
{
        return k->hdr.size;
}

static void test_exec(void **state)
{
        static const char args[] = "sh\0-c\0echo hi";
        struct vigil_bpf_exec *k = exec_record("/usr/bin/dash", 14, "/tmp", 5, args, sizeof(args), 3);
        struct agent_event *ev = calloc(1, sizeof(*ev));

        k->flags = VIGIL_BPF_EXEC_MEMFD | VIGIL_BPF_EXEC_STDIN_SOCKET | VIGIL_BPF_EXEC_STDERR_TTY;
        assert_int_equal(evsrc_bpf_record_convert(k, exec_size(k), &clk, ev), 0);
        assert_int_equal(ev->type, EV_EXEC);
        assert_int_equal(ev->mono_ns, 5000000000ull);
        assert_int_equal(ev->wall_ns, 1700000005000000000ll);
        assert_int_equal(ev->proc.pid, 100);
        assert_int_equal(ev->proc.tid, 101);
        assert_int_equal(ev->proc.euid, 0);
        assert_int_equal(ev->proc.loginuid, UINT32_MAX);
        assert_int_equal(ev->proc.cgroup_id, 42);
        /* /proc/PID/stat field 22: 123.456789012 s at 100 Hz */
        assert_int_equal(ev->proc.start_ticks, 12345);
        assert_string_equal(ev->proc.comm, "bash");
        assert_string_equal(ev->exec.image, "/usr/bin/dash");
        assert_string_equal(ev->exec.cwd, "/tmp");
        assert_int_equal(ev->exec.argc, 3);
        assert_int_equal(ev->exec.args_len, sizeof(args));
        assert_memory_equal(ev->exec.args, args, sizeof(args));
        assert_int_equal(ev->exec.flags, EV_EXEC_MEMFD | EV_EXEC_STDIN_SOCKET | EV_EXEC_STDERR_TTY);
        free(ev);
        free(k);
}

/* More entries than EV_ARGC_MAX: the first ones are kept, the cut flagged. */
static void test_exec_argc_cap(void **state)
{
        char args[EV_ARGC_MAX * 3 + 30];
        size_t alen = 0;
        struct vigil_bpf_exec *k;
        struct agent_event *ev = calloc(1, sizeof(*ev));

        for (int i = 0; i < EV_ARGC_MAX + 10; i++) {
                args[alen++] = (char)('a' + i % 26);
                args[alen++] = '\0';
        }
        k = exec_record("/bin/x", 7, "/", 2, args, alen, EV_ARGC_MAX + 10);
        assert_int_equal(evsrc_bpf_record_convert(k, exec_size(k), &clk, ev), 0);
        assert_int_equal(ev->exec.argc, EV_ARGC_MAX);
        assert_int_equal(ev->exec.args_len, EV_ARGC_MAX * 2);
        assert_true(ev->exec.flags & EV_EXEC_ARGS_TRUNCATED);
        free(ev);
        free(k);
}

/* The kernel copied VIGIL_BPF_ARGS_MAX bytes and cut the last entry: it
 * keeps a terminating NUL within EV_ARGS_MAX and the cut is flagged. */
static void test_exec_args_cut(void **state)
{
        char *args = malloc(VIGIL_BPF_ARGS_MAX);
        struct vigil_bpf_exec *k;
        struct agent_event *ev = calloc(1, sizeof(*ev));

        assert_non_null(args);
        memset(args, 'x', VIGIL_BPF_ARGS_MAX);
        memcpy(args, "cmd", 4);
        k = exec_record("/bin/cmd", 9, "/", 2, args, VIGIL_BPF_ARGS_MAX, 2);
        k->flags = VIGIL_BPF_EXEC_ARGS_TRUNCATED;
        assert_int_equal(evsrc_bpf_record_convert(k, exec_size(k), &clk, ev), 0);
        assert_int_equal(ev->exec.argc, 2);
        assert_int_equal(ev->exec.args_len, EV_ARGS_MAX);
        assert_int_equal(ev->exec.args[EV_ARGS_MAX - 1], '\0');
        assert_string_equal(ev->exec.args, "cmd");
        assert_int_equal(strlen(ev->exec.args + 4), EV_ARGS_MAX - 5);
        assert_true(ev->exec.flags & EV_EXEC_ARGS_TRUNCATED);

        /* fewer entries than the program got, though none was cut here */
        free(k);
        k = exec_record("/bin/cmd", 9, "/", 2, "cmd", 4, 5);
        assert_int_equal(evsrc_bpf_record_convert(k, exec_size(k), &clk, ev), 0);
        assert_int_equal(ev->exec.argc, 1);
        assert_true(ev->exec.flags & EV_EXEC_ARGS_TRUNCATED);
        free(args);
        free(ev);
        free(k);
}

static void test_exec_paths_flagged(void **state)
{
        struct vigil_bpf_exec *k = exec_record("/a/b", 5, "/c", 3, "", 0, 0);
        struct agent_event *ev = calloc(1, sizeof(*ev));

        k->flags = VIGIL_BPF_EXEC_PATH_TRUNCATED | VIGIL_BPF_EXEC_CWD_TRUNCATED | VIGIL_BPF_EXEC_DELETED;
        assert_int_equal(evsrc_bpf_record_convert(k, exec_size(k), &clk, ev), 0);
        assert_int_equal(ev->exec.flags,
                         EV_EXEC_PATH_TRUNCATED | EV_EXEC_CWD_TRUNCATED | EV_EXEC_DELETED);
        assert_int_equal(ev->exec.argc, 0);
        assert_int_equal(ev->exec.args_len, 0);

        /* a string without its NUL is ended and flagged, not overrun */
        free(k);
        k = exec_record("/abc", 4, "/d", 3, "", 0, 0);
        assert_int_equal(evsrc_bpf_record_convert(k, exec_size(k), &clk, ev), 0);
        assert_string_equal(ev->exec.image, "/ab");
        assert_true(ev->exec.flags & EV_EXEC_PATH_TRUNCATED);
        free(ev);
        free(k);
}

/* Records that cannot be right are refused, and the result is untouched. */
static void test_malformed(void **state)
{
        struct vigil_bpf_exec *k = exec_record("/bin/x", 7, "/", 2, "x", 2, 1);
        struct vigil_bpf_cred cred = { 0 };
        struct vigil_bpf_file file = { 0 };
        struct agent_event *ev = calloc(1, sizeof(*ev));

        ev->type = 99;
        assert_int_equal(evsrc_bpf_record_convert(k, sizeof(struct vigil_bpf_hdr) - 1, &clk, ev), -EINVAL);
        /* hdr.size larger than what the ring buffer gave */
        assert_int_equal(evsrc_bpf_record_convert(k, exec_size(k) - 1, &clk, ev), -EINVAL);
        /* string lengths past the record */
        k->args_len = 200;
        assert_int_equal(evsrc_bpf_record_convert(k, exec_size(k), &clk, ev), -EINVAL);
        k->args_len = 2;
        k->image_len = 0;
        assert_int_equal(evsrc_bpf_record_convert(k, exec_size(k), &clk, ev), -EINVAL);
        k->image_len = 7;
        k->hdr.type = 77;
        assert_int_equal(evsrc_bpf_record_convert(k, exec_size(k), &clk, ev), -EINVAL);
        k->hdr.size = sizeof(struct vigil_bpf_hdr) - 8;
        assert_int_equal(evsrc_bpf_record_convert(k, exec_size(k) + 8, &clk, ev), -EINVAL);

        hdr_init(&cred.hdr, VIGIL_BPF_CRED, sizeof(cred));
        cred.cause = 9;
        assert_int_equal(evsrc_bpf_record_convert(&cred, sizeof(cred), &clk, ev), -EINVAL);
        hdr_init(&cred.hdr, VIGIL_BPF_CRED, sizeof(cred) - 8);
        cred.cause = VIGIL_BPF_CRED_SETUID_CALL;
        assert_int_equal(evsrc_bpf_record_convert(&cred, sizeof(cred), &clk, ev), -EINVAL);

        hdr_init(&file.hdr, VIGIL_BPF_FILE, offsetof(struct vigil_bpf_file, path) + 5);
        memcpy(file.path, "/etc", 5);
        file.path_len = 5;
        file.flags = 0;
        file.op = 7;
        assert_int_equal(evsrc_bpf_record_convert(&file, file.hdr.size, &clk, ev), -EINVAL);
        file.op = VIGIL_BPF_FILE_CREATE;
        file.path_len = 6;
        assert_int_equal(evsrc_bpf_record_convert(&file, file.hdr.size, &clk, ev), -EINVAL);
        assert_int_equal(ev->type, 99);
        free(ev);
        free(k);
}

static void test_fork_exit_cred(void **state)
{
        struct vigil_bpf_fork fork = { .child_pid = 555, .child_start_ns = 2000000000ull };
        struct vigil_bpf_exit ex = { .code = 0x0f };
        struct vigil_bpf_cred cred = {
                .old_uid = 65534, .old_euid = 65534, .new_uid = 65534, .new_euid = 0,
                .old_gid = 65534, .old_egid = 65534, .new_gid = 65534, .new_egid = 65534,
                .cause = VIGIL_BPF_CRED_SETUID_EXEC,
        };
        struct agent_event ev;

        hdr_init(&fork.hdr, VIGIL_BPF_FORK, sizeof(fork));
        assert_int_equal(evsrc_bpf_record_convert(&fork, sizeof(fork), &clk, &ev), 0);
        assert_int_equal(ev.type, EV_FORK);
        assert_int_equal(ev.fork.child_pid, 555);
        assert_int_equal(ev.fork.child_start_ticks, 200);

        hdr_init(&ex.hdr, VIGIL_BPF_EXIT, sizeof(ex));
        assert_int_equal(evsrc_bpf_record_convert(&ex, sizeof(ex), &clk, &ev), 0);
        assert_int_equal(ev.type, EV_EXIT);
        assert_int_equal(ev.exit.code, 0x0f);

        hdr_init(&cred.hdr, VIGIL_BPF_CRED, sizeof(cred));
        assert_int_equal(evsrc_bpf_record_convert(&cred, sizeof(cred), &clk, &ev), 0);
        assert_int_equal(ev.type, EV_CRED);
        assert_int_equal(ev.cred.old_euid, 65534);
        assert_int_equal(ev.cred.new_euid, 0);
        assert_int_equal(ev.cred.cause, EV_CRED_SETUID_EXEC);
}

static void test_inject_memfd(void **state)
{
        struct vigil_bpf_inject inj = { .target_pid = 77, .target_start_ns = 0, .request = 16, .bytes = 8 };
        struct vigil_bpf_memfd m = { .flags = 1, .fd = 3 };
        struct agent_event ev;

        hdr_init(&inj.hdr, VIGIL_BPF_PTRACE, sizeof(inj));
        assert_int_equal(evsrc_bpf_record_convert(&inj, sizeof(inj), &clk, &ev), 0);
        assert_int_equal(ev.type, EV_PTRACE);
        assert_int_equal(ev.inject.target_pid, 77);
        assert_int_equal(ev.inject.target_start_ticks, 0);     /* unknown stays unknown */
        assert_int_equal(ev.inject.request, 16);
        assert_int_equal(ev.inject.bytes, 8);

        inj.hdr.type = VIGIL_BPF_PROC_MEM_WRITE;
        inj.target_start_ns = 990000000ull;
        assert_int_equal(evsrc_bpf_record_convert(&inj, sizeof(inj), &clk, &ev), 0);
        assert_int_equal(ev.type, EV_PROC_MEM_WRITE);
        assert_int_equal(ev.inject.target_start_ticks, 99);

        hdr_init(&m.hdr, VIGIL_BPF_MEMFD, sizeof(m));
        memset(m.name, 'n', sizeof(m.name));   /* no NUL: the copy still ends in one */
        assert_int_equal(evsrc_bpf_record_convert(&m, sizeof(m), &clk, &ev), 0);
        assert_int_equal(ev.type, EV_MEMFD);
        assert_int_equal(ev.memfd.flags, 1);
        assert_int_equal(strlen(ev.memfd.name), sizeof(ev.memfd.name) - 1);
}

static void test_net(void **state)
{
        static const uint8_t mapped[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 7 };
        static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
        struct vigil_bpf_net n = { .family = AF_INET6, .protocol = 6, .sport = 4444, .dport = 443 };
        struct agent_event ev;

        hdr_init(&n.hdr, VIGIL_BPF_CONNECT, sizeof(n));
        memcpy(n.daddr, mapped, 16);
        assert_int_equal(evsrc_bpf_record_convert(&n, sizeof(n), &clk, &ev), 0);
        assert_int_equal(ev.type, EV_CONNECT);
        assert_int_equal(ev.net.family, AF_INET);
        assert_int_equal(ev.net.protocol, EV_PROTO_TCP);
        assert_int_equal(ev.net.dport, 443);
        assert_int_equal(ev.net.sport, 4444);
        assert_memory_equal(ev.net.daddr, "\x0a\x00\x00\x07", 4);
        assert_int_equal(ev.net.daddr[4], 0);

        n.hdr.type = VIGIL_BPF_ACCEPT;
        memcpy(n.daddr, v6, 16);
        memcpy(n.saddr, v6, 16);
        assert_int_equal(evsrc_bpf_record_convert(&n, sizeof(n), &clk, &ev), 0);
        assert_int_equal(ev.type, EV_ACCEPT);
        assert_int_equal(ev.net.family, AF_INET6);
        assert_memory_equal(ev.net.daddr, v6, 16);
}

static void test_file(void **state)
{
        struct vigil_bpf_file *k = calloc(1, sizeof(*k));
        struct agent_event *ev = calloc(1, sizeof(*ev));
        static const char path[] = "/etc/cron.d/job";

        hdr_init(&k->hdr, VIGIL_BPF_FILE, offsetof(struct vigil_bpf_file, path) + sizeof(path));
        memcpy(k->path, path, sizeof(path));
        k->path_len = sizeof(path);
        k->op = VIGIL_BPF_FILE_RENAME;
        k->flags = VIGIL_BPF_FILE_PATH_TRUNCATED;
        assert_int_equal(evsrc_bpf_record_convert(k, k->hdr.size, &clk, ev), 0);
        assert_int_equal(ev->type, EV_FILE);
        assert_int_equal(ev->file.op, EV_FILE_RENAME);
        assert_int_equal(ev->file.flags, EV_FILE_PATH_TRUNCATED);
        assert_string_equal(ev->file.path, path);
        free(ev);
        free(k);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exec),
                cmocka_unit_test(test_exec_argc_cap),
                cmocka_unit_test(test_exec_args_cut),
                cmocka_unit_test(test_exec_paths_flagged),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_fork_exit_cred),
                cmocka_unit_test(test_inject_memfd),
                cmocka_unit_test(test_net),
                cmocka_unit_test(test_file),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
