/* Unit tests for detection: the Sigma schema, fields from JSON events
 * (detect_event_from_json), field values from agent_event and the process
 * table (event_fields) and their agreement with the JSON `events` prints,
 * ATT&CK tag parsing, alert folding, its window and its cap, the alert
 * JSON, the built-in "downloaded then executed" detector, the whole
 * pipeline through detect_event, and the alert spool. Events are synthetic. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "agent/src/alert.h"
#include "agent/src/detect.h"
#include "agent/src/detect_builtin.h"
#include "agent/src/event_fields.h"
#include "agent/src/event_json.h"
#include "agent/src/spool.h"
#include "util/strutil.h"

#define SEC 1000000000ull
#define MIN (60 * SEC)

static struct agent_event *ev_new(enum ev_type t, uint32_t pid, uint64_t start, uint32_t ppid)
{
        struct agent_event *ev = calloc(1, sizeof(*ev));

        assert_non_null(ev);
        ev->type = t;
        ev->mono_ns = 100 * SEC;
        ev->wall_ns = 1764462708123456789ll;
        ev->proc = (struct ev_proc){ .pid = pid, .tid = pid, .ppid = ppid, .start_ticks = start,
                                     .uid = 1000, .euid = 1000, .gid = 1000, .egid = 1000,
                                     .loginuid = 1000 };
        snprintf(ev->proc.comm, sizeof(ev->proc.comm), "c%u", pid);
        return ev;
}

/* argv given as one string with '|' between entries */
static void exec_set(struct agent_event *ev, const char *image, const char *argv)
{
        size_t n = strlen(argv);

        snprintf(ev->exec.image, sizeof(ev->exec.image), "%s", image);
        memcpy(ev->exec.args, argv, n + 1);
        for (size_t i = 0; i < n; i++)
                if (ev->exec.args[i] == '|')
                        ev->exec.args[i] = '\0';
        ev->exec.args_len = (uint32_t)n + 1;
}

static void feed_exec(struct proctable *pt, uint32_t pid, uint64_t start, uint32_t ppid, uint32_t uid,
                      const char *image, const char *argv)
{
        struct agent_event *ev = ev_new(EV_EXEC, pid, start, ppid);

        ev->proc.uid = ev->proc.euid = uid;
        exec_set(ev, image, argv);
        proctable_feed(pt, ev);
        free(ev);
}

static void feed_fork(struct proctable *pt, uint32_t pid, uint64_t start, uint32_t child, uint64_t cstart)
{
        struct agent_event *ev = ev_new(EV_FORK, pid, start, 1);

        ev->fork.child_pid = child;
        ev->fork.child_start_ticks = cstart;
        proctable_feed(pt, ev);
        free(ev);
}

/* The text of field `name`, or NULL when absent. */
static const char *text(struct event_fields *f, const char *name, char *buf, size_t size)
{
        const char *s;
        size_t n;

        for (int id = 0; id < EVENT_FIELD_COUNT; id++) {
                if (strcmp(event_field_names[id], name) != 0)
                        continue;
                if (event_fields_text(f, (enum event_field)id, &s, &n) < 0)
                        return NULL;
                snprintf(buf, size, "%.*s", (int)n, s);
                return buf;
        }
        fail_msg("no field %s", name);
        return NULL;
}

static void assert_field(struct event_fields *f, const char *name, const char *want)
{
        char buf[20000];
        const char *got = text(f, name, buf, sizeof(buf));

        if (!want && got)
                fail_msg("%s: expected absent, got '%s'", name, got);
        if (want && !got)
                fail_msg("%s: expected '%s', absent", name, want);
        if (want)
                assert_string_equal(got, want);
}

/* ---- schema and JSON ---- */

static void test_schema(void **state)
{
        static const char *const must[] = {
                "EventType", "Category", "Image", "CommandLine", "ParentImage", "ParentUid",
                "ParentUser", "TargetIsChild", "TargetUid", "TargetUser", "SourceImage",
                "DestinationIp", "DestinationPort", "TargetFilename", "Initiated", "CredCause",
                "NewEuid", "StdinIsSocket", "MemfdName", "PtraceRequestName",
        };

        assert_string_equal(detect_schema.product, "linux");
        assert_int_equal(detect_schema.n_fields, EVENT_FIELD_COUNT);
        assert_int_equal(detect_schema.n_categories, 6);
        assert_string_equal(detect_schema.categories[EVENT_CATEGORY_FILE_DELETE], "file_delete");
        assert_string_equal(detect_schema.categories[EVENT_CATEGORY_PROCESS_ACCESS], "process_access");
        assert_string_equal(detect_schema.categories[EVENT_CATEGORY_CREDENTIAL_CHANGE], "credential_change");
        for (size_t i = 0; i < EVENT_FIELD_COUNT; i++)
                for (size_t j = i + 1; j < EVENT_FIELD_COUNT; j++)
                        if (strcmp(detect_schema.fields[i], detect_schema.fields[j]) == 0)
                                fail_msg("duplicate field %s", detect_schema.fields[i]);
        for (size_t k = 0; k < sizeof(must) / sizeof(must[0]); k++) {
                bool found = false;

                for (size_t i = 0; i < EVENT_FIELD_COUNT; i++)
                        found = found || strcmp(detect_schema.fields[i], must[k]) == 0;
                if (!found)
                        fail_msg("schema lacks %s", must[k]);
        }
        static const struct { enum ev_type type; uint32_t op; int cat; } cats[] = {
                { EV_EXEC, 0, EVENT_CATEGORY_PROCESS_CREATION },
                { EV_PTRACE, 0, EVENT_CATEGORY_PROCESS_ACCESS },
                { EV_PROC_MEM_WRITE, 0, EVENT_CATEGORY_PROCESS_ACCESS },
                { EV_CRED, 0, EVENT_CATEGORY_CREDENTIAL_CHANGE },
                { EV_FILE, EV_FILE_CREATE, EVENT_CATEGORY_FILE_EVENT },
                { EV_FILE, EV_FILE_RENAME, EVENT_CATEGORY_FILE_EVENT },
                { EV_FILE, EV_FILE_DELETE, EVENT_CATEGORY_FILE_DELETE },
                { EV_FORK, 0, -1 },
                { EV_MEMFD, 0, -1 },
        };
        for (size_t k = 0; k < sizeof(cats) / sizeof(cats[0]); k++) {
                struct agent_event ev = { .type = cats[k].type };

                if (ev.type == EV_FILE)
                        ev.file.op = cats[k].op;
                assert_int_equal(event_category_of(&ev), cats[k].cat);
        }
}

static void test_from_json(void **state)
{
        struct sigma_str f[EVENT_FIELD_COUNT];
        char buf[DETECT_JSON_BUF_MIN], small[6];
        uint32_t cat = 99;
        json_t *ev = json_pack("{s:s,s:s,s:i,s:b,s:b,s:n,s:[i],s:s,s:I}", "Category", "process_creation",
                               "Image", "/tmp/x", "ProcessId", 4242, "StdinIsSocket", 1,
                               "ImageDeleted", 0, "CommandLine", "Ancestors", 1, "User", "",
                               "CgroupId", (json_int_t)-5);

        assert_int_equal(detect_event_from_json(ev, f, &cat, buf, sizeof(buf)), 0);
        assert_int_equal(cat, EVENT_CATEGORY_PROCESS_CREATION);
        assert_int_equal(f[EVENT_FIELD_IMAGE].len, 6);
        assert_memory_equal(f[EVENT_FIELD_IMAGE].ptr, "/tmp/x", 6);
        assert_int_equal(f[EVENT_FIELD_PROCESS_ID].len, 4);
        assert_memory_equal(f[EVENT_FIELD_PROCESS_ID].ptr, "4242", 4);
        assert_memory_equal(f[EVENT_FIELD_CGROUP_ID].ptr, "-5", 2);
        assert_memory_equal(f[EVENT_FIELD_STDIN_IS_SOCKET].ptr, "true", 4);
        assert_int_equal(f[EVENT_FIELD_IMAGE_DELETED].len, 5);
        assert_memory_equal(f[EVENT_FIELD_IMAGE_DELETED].ptr, "false", 5);
        assert_null(f[EVENT_FIELD_COMMAND_LINE].ptr);           /* null */
        assert_null(f[EVENT_FIELD_PARENT_IMAGE].ptr);           /* absent */
        assert_non_null(f[EVENT_FIELD_USER].ptr);               /* empty is present */
        assert_int_equal(f[EVENT_FIELD_USER].len, 0);
        assert_int_equal(detect_event_from_json(ev, f, &cat, small, sizeof(small)), -ENOBUFS);

        /* SourceImage is Image for process_access */
        json_object_set_new(ev, "Category", json_string("process_access"));
        assert_int_equal(detect_event_from_json(ev, f, &cat, buf, sizeof(buf)), 0);
        assert_int_equal(cat, EVENT_CATEGORY_PROCESS_ACCESS);
        assert_memory_equal(f[EVENT_FIELD_SOURCE_IMAGE].ptr, "/tmp/x", 6);

        cat = 99;
        json_object_set_new(ev, "Category", json_string("registry_event"));
        assert_int_equal(detect_event_from_json(ev, f, &cat, buf, sizeof(buf)), -ENOENT);
        json_object_del(ev, "Category");
        assert_int_equal(detect_event_from_json(ev, f, &cat, buf, sizeof(buf)), -ENOENT);
        assert_int_equal(cat, 99);                              /* written only on success */
        json_decref(ev);
        ev = json_array();
        assert_int_equal(detect_event_from_json(ev, f, &cat, buf, sizeof(buf)), -EINVAL);
        json_decref(ev);
}

/* ---- field values ---- */

static void test_fields_exec(void **state)
{
        struct proctable *pt = proctable_new(64, 0);
        struct event_fields *f = event_fields_new("bpf");
        struct agent_event *ev = ev_new(EV_EXEC, 300, 30, 200);

        feed_exec(pt, 1, 1, 0, 0, "/sbin/init", "/sbin/init");
        feed_exec(pt, 200, 20, 1, 1000, "/bin/bash", "bash");
        feed_fork(pt, 200, 20, 300, 30);
        ev->proc.uid = 1000;
        ev->proc.euid = 0;                      /* a setuid binary */
        exec_set(ev, "/usr/bin/su\xff", "su|-c|id -u");
        proctable_feed(pt, ev);
        event_fields_begin(f, ev, pt);
        assert_field(f, "EventType", "process_exec");
        assert_field(f, "Category", "process_creation");
        assert_field(f, "Sensor", "bpf");
        assert_field(f, "Image", "/usr/bin/su\xef\xbf\xbd");
        assert_field(f, "CommandLine", "su -c \"id -u\"");
        assert_field(f, "CommandLineTruncated", "false");
        assert_field(f, "ParentImage", "/bin/bash");
        assert_field(f, "ParentCommandLine", "bash");
        assert_field(f, "ParentUid", "1000");
        assert_field(f, "Uid", "1000");
        assert_field(f, "Euid", "0");
        assert_field(f, "ProcessId", "300");
        assert_field(f, "ParentProcessId", "200");
        assert_field(f, "StdinIsSocket", "false");
        assert_field(f, "TargetFilename", NULL);
        assert_field(f, "SourceImage", NULL);
        assert_field(f, "TargetIsChild", NULL);
        assert_field(f, "DestinationIp", NULL);
        assert_field(f, "CurrentDirectory", NULL);      /* empty cwd: unknown */
        /* all at once, as detection holds them: the earlier values stay valid */
        {
                const char *img, *cmd, *pimg;
                size_t ni, nc, np;

                event_fields_begin(f, ev, pt);
                assert_int_equal(event_fields_text(f, EVENT_FIELD_IMAGE, &img, &ni), 0);
                assert_int_equal(event_fields_text(f, EVENT_FIELD_COMMAND_LINE, &cmd, &nc), 0);
                assert_int_equal(event_fields_text(f, EVENT_FIELD_PARENT_IMAGE, &pimg, &np), 0);
                for (int id = 0; id < EVENT_FIELD_COUNT; id++) {
                        const char *s;
                        size_t n;

                        event_fields_text(f, (enum event_field)id, &s, &n);
                }
                assert_int_equal(nc, strlen("su -c \"id -u\""));
                assert_memory_equal(cmd, "su -c \"id -u\"", nc);
                assert_memory_equal(img, "/usr/bin/su\xef\xbf\xbd", ni);
                assert_memory_equal(pimg, "/bin/bash", np);
        }
        free(ev);
        event_fields_free(f);
        proctable_free(pt);
}

static void test_fields_access(void **state)
{
        struct proctable *pt = proctable_new(64, 0);
        struct event_fields *f = event_fields_new("bpf");
        struct agent_event *ev = ev_new(EV_PTRACE, 200, 20, 1);

        feed_exec(pt, 200, 20, 1, 1000, "/usr/bin/gdb", "gdb");
        feed_fork(pt, 200, 20, 201, 21);
        feed_exec(pt, 201, 21, 200, 1000, "/usr/bin/prog", "prog");
        feed_exec(pt, 500, 5, 1, 0, "/usr/sbin/sshd", "sshd");
        ev->inject = (struct ev_inject){ .target_pid = 201, .target_start_ticks = 21, .request = 16 };
        proctable_feed(pt, ev);
        event_fields_begin(f, ev, pt);
        assert_field(f, "Category", "process_access");
        assert_field(f, "SourceImage", "/usr/bin/gdb");
        assert_field(f, "Image", "/usr/bin/gdb");
        assert_field(f, "TargetImage", "/usr/bin/prog");
        assert_field(f, "TargetIsChild", "true");
        assert_field(f, "TargetUid", "1000");
        assert_field(f, "PtraceRequestName", "PTRACE_ATTACH");
        assert_field(f, "BytesWritten", NULL);

        ev->inject.target_pid = 500;
        ev->inject.target_start_ticks = 5;
        event_fields_begin(f, ev, pt);
        assert_field(f, "TargetIsChild", "false");
        assert_field(f, "TargetUid", "0");
        assert_field(f, "TargetUser", "root");
        assert_field(f, "TargetImage", "/usr/sbin/sshd");

        ev->type = EV_VM_WRITE;
        ev->inject.bytes = 64;
        event_fields_begin(f, ev, pt);
        assert_field(f, "EventType", "process_vm_write");
        assert_field(f, "BytesWritten", "64");
        assert_field(f, "PtraceRequest", NULL);

        ev->type = EV_CRED;
        ev->cred = (struct ev_cred){ .old_uid = 1000, .new_uid = 0, .old_euid = 1000, .new_euid = 0,
                                     .old_gid = UINT32_MAX, .new_gid = 0, .old_egid = 0, .new_egid = 0,
                                     .cause = EV_CRED_SETUID_CALL };
        event_fields_begin(f, ev, pt);
        assert_field(f, "Category", "credential_change");
        assert_field(f, "NewUid", "0");
        assert_field(f, "OldGid", NULL);
        assert_field(f, "CredCause", "setuid_call");
        assert_field(f, "SourceImage", NULL);
        free(ev);
        event_fields_free(f);
        proctable_free(pt);
}

/* Every field detection reads has the value `events` prints. */
static void check_agree(struct event_json *ej, struct event_fields *f, const struct agent_event *ev,
                        const struct proctable *pt)
{
        char buf[DETECT_JSON_BUF_MIN], tmp[20000];
        struct sigma_str jf[EVENT_FIELD_COUNT];
        uint32_t cat;
        json_t *o;
        int r;

        assert_int_equal(event_json_build(ej, ev, pt, &o), 0);
        r = detect_event_from_json(o, jf, &cat, buf, sizeof(buf));
        event_fields_begin(f, ev, pt);
        for (int id = 0; id < EVENT_FIELD_COUNT; id++) {
                const char *got = text(f, event_field_names[id], tmp, sizeof(tmp));

                if (r < 0) {            /* no category: compare presence only */
                        assert_true((got != NULL) == (json_object_get(o, event_field_names[id]) != NULL));
                        continue;
                }
                if (!got) {
                        assert_null(jf[id].ptr);
                        continue;
                }
                assert_non_null(jf[id].ptr);
                assert_int_equal(strlen(got), jf[id].len);
                assert_memory_equal(got, jf[id].ptr, jf[id].len);
        }
        json_decref(o);
}

static void test_fields_agree_with_json(void **state)
{
        struct proctable *pt = proctable_new(64, 0);
        struct event_json *ej = event_json_new("bpf");
        struct event_fields *f = event_fields_new("bpf");
        struct agent_event *ev = ev_new(EV_EXEC, 300, 30, 200);

        feed_exec(pt, 200, 20, 1, 1000, "/bin/bash", "bash|-i");
        exec_set(ev, "/tmp/p", "/tmp/p|a b|c\"d");
        ev->exec.flags = EV_EXEC_STDIN_SOCKET;
        proctable_feed(pt, ev);
        check_agree(ej, f, ev, pt);
        ev->type = EV_CONNECT;
        ev->net = (struct ev_net){ .family = AF_INET, .protocol = EV_PROTO_TCP, .sport = 40000, .dport = 4444 };
        memcpy(ev->net.saddr, "\x0a\x00\x00\x02", 4);
        memcpy(ev->net.daddr, "\xc0\xa8\x01\x09", 4);
        check_agree(ej, f, ev, pt);
        ev->type = EV_FILE;
        ev->file.op = EV_FILE_CREATE;
        snprintf(ev->file.path, sizeof(ev->file.path), "/etc/cron.d/x");
        check_agree(ej, f, ev, pt);
        ev->type = EV_PROC_MEM_WRITE;
        ev->inject = (struct ev_inject){ .target_pid = 200, .target_start_ticks = 20, .bytes = 8 };
        check_agree(ej, f, ev, pt);
        ev->type = EV_EXIT;
        ev->exit.code = 0;
        check_agree(ej, f, ev, pt);
        free(ev);
        event_fields_free(f);
        event_json_free(ej);
        proctable_free(pt);
}

/* ---- alerts ---- */

static void test_tags(void **state)
{
        char t[ALERT_TECHNIQUE_LEN];

        assert_int_equal(alert_tag_technique("attack.t1059.004", t), 0);
        assert_string_equal(t, "T1059.004");
        assert_int_equal(alert_tag_technique("attack.T1105", t), 0);
        assert_string_equal(t, "T1105");
        assert_int_equal(alert_tag_technique("ATTACK.t1204.002", t), 0);
        assert_string_equal(t, "T1204.002");
        assert_int_equal(alert_tag_technique("attack.t105", t), -EINVAL);
        assert_int_equal(alert_tag_technique("attack.t1059.04", t), -EINVAL);
        assert_int_equal(alert_tag_technique("attack.t1059.0041", t), -EINVAL);
        assert_int_equal(alert_tag_technique("attack.g0032", t), -EINVAL);
        assert_int_equal(alert_tag_technique("attack.execution", t), -EINVAL);
        assert_int_equal(alert_tag_technique("cve.2021-4034", t), -EINVAL);
        assert_int_equal(alert_tag_technique("t1059", t), -EINVAL);
        assert_string_equal(alert_tag_tactic("attack.execution"), "execution");
        assert_string_equal(alert_tag_tactic("attack.privilege-escalation"), "privilege-escalation");
        assert_string_equal(alert_tag_tactic("attack.privilege_escalation"), "privilege-escalation");
        assert_string_equal(alert_tag_tactic("attack.Command-And-Control"), "command-and-control");
        assert_null(alert_tag_tactic("attack.t1059"));
        assert_null(alert_tag_tactic("attack.executio"));
        assert_null(alert_tag_tactic("attack.executions"));
        assert_null(alert_tag_tactic("detection.threat-hunting"));
        assert_int_equal(alert_severity_from_level(SIGMA_LEVEL_CRITICAL), ALERT_SEVERITY_HIGH);
        assert_int_equal(alert_severity_from_level(SIGMA_LEVEL_LOW), ALERT_SEVERITY_LOW);
        assert_string_equal(alert_severity_name(ALERT_SEVERITY_INFORMATIONAL), "informational");
}

static const char *const rule_tags[] = {
        "attack.execution", "attack.t1059.004", "attack.t1059.004", "attack.privilege_escalation",
        "attack.t1548.001", "attack.privilege-escalation", "detection.emerging-threats",
};
static const struct alert_rule rule_a = {
        .id = "rule-a", .title = "Rule A", .source = "sigma", .level = SIGMA_LEVEL_CRITICAL,
        .tags = rule_tags, .n_tags = sizeof(rule_tags) / sizeof(rule_tags[0]),
};

static struct alert *open_at(struct alert_table *t, const char *rule, uint32_t pid, uint64_t ns)
{
        struct alert_rule r = rule_a;
        struct alert_tree tree = { pid, pid * 10ull };
        struct alert_time at = { ns, (int64_t)ns };
        struct alert_payload p = { .category = "process_creation", .event = json_object(),
                                   .process = json_pack("{s:i,s:s}", "pid", (int)pid, "image", "/bin/x") };
        struct alert *a = NULL;

        r.id = rule;
        assert_int_equal(alert_table_open(t, &r, &tree, &at, &p, &a), 0);
        assert_null(p.event);                   /* taken */
        return a;
}

static struct alert *fold_at(struct alert_table *t, const char *rule, uint32_t pid, uint64_t ns)
{
        struct alert_tree tree = { pid, pid * 10ull };
        struct alert_time at = { ns, (int64_t)ns };

        return alert_table_fold(t, rule, &tree, &at);
}

static void test_fold(void **state)
{
        struct alert_table *t = alert_table_new(3, 10 * MIN);
        struct alert *a, *b;
        char id[ALERT_ID_LEN + 1];

        assert_null(fold_at(t, "rule-a", 7, 1 * SEC));
        a = open_at(t, "rule-a", 7, 1 * SEC);
        assert_int_equal(strlen(a->id), 36);
        assert_int_equal(a->id[14], '4');                               /* UUID version 4 */
        assert_non_null(strchr("89ab", a->id[19]));                     /* RFC 4122 variant */
        memcpy(id, a->id, sizeof(id));
        assert_int_equal(a->severity, ALERT_SEVERITY_HIGH);             /* critical */
        assert_int_equal(a->n_techniques, 2);
        assert_string_equal(a->techniques[0], "T1059.004");
        assert_string_equal(a->techniques[1], "T1548.001");
        assert_int_equal(a->n_tactics, 2);
        assert_string_equal(a->tactics[0], "execution");
        assert_string_equal(a->tactics[1], "privilege-escalation");

        b = fold_at(t, "rule-a", 7, 5 * MIN);
        assert_ptr_equal(b, a);
        assert_string_equal(b->id, id);                                 /* the id stays */
        assert_int_equal(b->count, 2);
        assert_int_equal(b->first.mono_ns, 1 * SEC);
        assert_int_equal(b->last.mono_ns, 5 * MIN);
        assert_null(fold_at(t, "rule-b", 7, 5 * MIN));                 /* another rule */
        assert_null(fold_at(t, "rule-a", 8, 5 * MIN));                  /* another tree */
        /* the window counts from the first occurrence */
        assert_non_null(fold_at(t, "rule-a", 7, 1 * SEC + 10 * MIN));
        assert_null(fold_at(t, "rule-a", 7, 2 * SEC + 10 * MIN));
        b = open_at(t, "rule-a", 7, 2 * SEC + 10 * MIN);
        assert_string_not_equal(b->id, id);                             /* a new alert */
        assert_int_equal(alert_table_count(t), 2);
        assert_int_equal(alert_table_expire(t, 2 * SEC + 10 * MIN), 1); /* the first one */
        assert_int_equal(alert_table_count(t), 1);

        /* the cap: the alert seen least recently is closed */
        open_at(t, "rule-c", 1, 3 * SEC + 10 * MIN);
        open_at(t, "rule-d", 1, 4 * SEC + 10 * MIN);
        assert_non_null(fold_at(t, "rule-a", 7, 5 * SEC + 10 * MIN));   /* rule-c is now oldest */
        open_at(t, "rule-e", 1, 6 * SEC + 10 * MIN);
        assert_int_equal(alert_table_count(t), 3);
        assert_int_equal(alert_table_evicted(t), 1);
        assert_null(fold_at(t, "rule-c", 1, 7 * SEC + 10 * MIN));
        assert_non_null(fold_at(t, "rule-d", 1, 7 * SEC + 10 * MIN));
        alert_table_free(t);
}

static void test_alert_json(void **state)
{
        struct alert_table *t = alert_table_new(0, 0);
        struct alert *a = open_at(t, "rule-a", 7, 1 * SEC);
        char *line = malloc(ALERT_LINE_MAX), summary[512];
        json_t *o, *back;
        json_error_t jerr;
        size_t n;

        fold_at(t, "rule-a", 7, 2 * SEC);
        o = alert_to_json(a, ALERT_CHANGE_UPDATE);
        assert_non_null(o);
        assert_string_equal(json_string_value(json_object_get(o, "change")), "update");
        assert_string_equal(json_string_value(json_object_get(o, "id")), a->id);
        assert_string_equal(json_string_value(json_object_get(o, "rule_id")), "rule-a");
        assert_string_equal(json_string_value(json_object_get(o, "title")), "Rule A");
        assert_string_equal(json_string_value(json_object_get(o, "severity")), "high");
        assert_string_equal(json_string_value(json_object_get(o, "category")), "process_creation");
        assert_string_equal(json_string_value(json_array_get(json_object_get(o, "techniques"), 0)), "T1059.004");
        assert_string_equal(json_string_value(json_array_get(json_object_get(o, "tactics"), 1)), "privilege-escalation");
        assert_int_equal(json_integer_value(json_object_get(o, "count")), 2);
        assert_string_equal(json_string_value(json_object_get(o, "first_seen")), "1970-01-01T00:00:01.000000000Z");
        assert_string_equal(json_string_value(json_object_get(o, "last_seen")), "1970-01-01T00:00:02.000000000Z");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "tree"), "pid")), 7);
        assert_true(json_is_object(json_object_get(o, "event")));
        assert_null(json_object_get(o, "network"));
        json_decref(o);

        assert_int_equal(alert_to_line(a, ALERT_CHANGE_NEW, line, ALERT_LINE_MAX, &n), 0);
        assert_int_equal(line[n - 1], '\n');
        assert_null(memchr(line, '\n', n - 1));
        back = json_loadb(line, n, 0, &jerr);
        assert_non_null(back);
        assert_string_equal(json_string_value(json_object_get(back, "change")), "new");
        json_decref(back);
        assert_int_equal(alert_to_line(a, ALERT_CHANGE_NEW, line, 16, &n), -E2BIG);
        alert_summary(a, ALERT_CHANGE_NEW, summary, sizeof(summary));
        assert_non_null(strstr(summary, "new high \"Rule A\" rule=rule-a id="));
        assert_non_null(strstr(summary, "count=2 pid=7 image=/bin/x"));
        free(line);
        alert_table_free(t);
}

/* ---- the built-in detector ---- */

static int builtin_step(struct detect_builtin *b, enum ev_type type, uint32_t pid, uint64_t ns,
                        const char *path, uint32_t op_or_port, struct detect_builtin_hit *hit)
{
        struct agent_event *ev = ev_new(type, pid, pid, 1);
        int r;

        ev->mono_ns = ns;
        if (type == EV_EXEC)
                exec_set(ev, path, path);
        if (type == EV_FILE) {
                snprintf(ev->file.path, sizeof(ev->file.path), "%s", path);
                ev->file.op = op_or_port;
        }
        if (type == EV_CONNECT)
                ev->net = (struct ev_net){ .family = AF_INET, .protocol = EV_PROTO_TCP, .dport = (uint16_t)op_or_port };
        r = detect_builtin_feed(b, ev, NULL, hit);
        free(ev);
        return r;
}

static void test_builtin(void **state)
{
        struct detect_builtin *b = detect_builtin_new(4, 16, 30 * MIN);
        struct detect_builtin_hit hit;

        assert_true(detect_builtin_download_tool("/usr/bin/curl"));
        assert_true(detect_builtin_download_tool("wget"));
        assert_false(detect_builtin_download_tool("/usr/bin/curlx"));
        assert_true(detect_builtin_writable_path("/tmp/x"));
        assert_true(detect_builtin_writable_path("/home/u/Downloads/x"));
        assert_true(detect_builtin_writable_path("/dev/shm/x"));
        assert_false(detect_builtin_writable_path("/usr/bin/x"));
        assert_false(detect_builtin_writable_path("/tmpfoo/x"));

        /* curl -o /tmp/a; /tmp/a */
        assert_int_equal(builtin_step(b, EV_EXEC, 10, 1 * SEC, "/usr/bin/curl", 0, &hit), 0);
        assert_int_equal(builtin_step(b, EV_FILE, 10, 2 * SEC, "/tmp/a", EV_FILE_CREATE, &hit), 0);
        assert_int_equal(builtin_step(b, EV_EXEC, 11, 3 * SEC, "/tmp/a", 0, &hit), 1);
        assert_ptr_equal(hit.rule, &detect_builtin_download_exec);
        assert_string_equal(hit.path, "/tmp/a");
        assert_int_equal(hit.writer_pid, 10);
        assert_string_equal(hit.why, "download tool curl");
        assert_string_equal(hit.writer_comm, "c10");
        /* an executable written by a process that never downloaded: nothing */
        assert_int_equal(builtin_step(b, EV_FILE, 20, 4 * SEC, "/tmp/b", EV_FILE_CREATE, &hit), 0);
        assert_int_equal(builtin_step(b, EV_EXEC, 21, 5 * SEC, "/tmp/b", 0, &hit), 0);
        /* `curl URL > /tmp/b`: the shell's child opens it, then becomes curl */
        assert_int_equal(builtin_step(b, EV_FILE, 22, 6 * SEC, "/tmp/b", EV_FILE_MODIFY, &hit), 0);
        assert_int_equal(builtin_step(b, EV_EXEC, 22, 6 * SEC, "/usr/bin/wget", 0, &hit), 0);
        assert_int_equal(builtin_step(b, EV_EXEC, 23, 7 * SEC, "/tmp/b", 0, &hit), 1);
        assert_string_equal(hit.why, "download tool wget");
        /* dash opens the redirection itself, then its child becomes curl */
        {
                struct proctable *pt = proctable_new(64, 0);
                struct agent_event *ev = ev_new(EV_EXEC, 41, 41, 40);

                feed_exec(pt, 40, 40, 1, 0, "/usr/bin/dash", "sh|-c|...");
                feed_fork(pt, 40, 40, 41, 41);
                assert_int_equal(builtin_step(b, EV_FILE, 40, 20 * SEC, "/tmp/old", EV_FILE_CREATE, &hit), 0);
                assert_int_equal(builtin_step(b, EV_FILE, 40, 22 * SEC, "/tmp/r", EV_FILE_CREATE, &hit), 0);
                ev->mono_ns = 22 * SEC + SEC / 10;
                exec_set(ev, "/usr/bin/curl", "curl|http://x/");
                proctable_feed(pt, ev);
                assert_int_equal(detect_builtin_feed(b, ev, pt, &hit), 0);
                assert_int_equal(builtin_step(b, EV_FILE, 40, 25 * SEC, "/tmp/later", EV_FILE_CREATE, &hit), 0);
                assert_int_equal(builtin_step(b, EV_EXEC, 42, 26 * SEC, "/tmp/r", 0, &hit), 1);
                assert_int_equal(hit.writer_pid, 40);
                assert_int_equal(builtin_step(b, EV_EXEC, 42, 26 * SEC, "/tmp/later", 0, &hit), 0);
                assert_int_equal(builtin_step(b, EV_EXEC, 42, 26 * SEC, "/tmp/old", 0, &hit), 0);
                free(ev);
                proctable_free(pt);
        }
        /* a name lookup does not count; another connection does */
        assert_int_equal(builtin_step(b, EV_CONNECT, 30, 8 * SEC, NULL, 53, &hit), 0);
        assert_int_equal(builtin_step(b, EV_FILE, 30, 8 * SEC, "/var/tmp/c", EV_FILE_CREATE, &hit), 0);
        assert_int_equal(builtin_step(b, EV_EXEC, 31, 9 * SEC, "/var/tmp/c", 0, &hit), 0);
        assert_int_equal(builtin_step(b, EV_CONNECT, 30, 10 * SEC, NULL, 443, &hit), 0);
        assert_int_equal(builtin_step(b, EV_EXEC, 31, 11 * SEC, "/var/tmp/c", 0, &hit), 1);
        assert_string_equal(hit.why, "outbound connection");
        /* a file outside the writable folders is not remembered */
        assert_int_equal(builtin_step(b, EV_FILE, 10, 12 * SEC, "/usr/local/bin/d", EV_FILE_CREATE, &hit), 0);
        assert_int_equal(builtin_step(b, EV_EXEC, 11, 12 * SEC, "/usr/local/bin/d", 0, &hit), 0);
        /* deleted: forgotten */
        assert_int_equal(builtin_step(b, EV_FILE, 10, 13 * SEC, "/var/tmp/c", EV_FILE_DELETE, &hit), 0);
        assert_int_equal(builtin_step(b, EV_EXEC, 31, 13 * SEC, "/var/tmp/c", 0, &hit), 0);
        /* the cap of 4 files: /tmp/e, /tmp/f and two more push out /tmp/b */
        assert_int_equal(builtin_step(b, EV_FILE, 10, 14 * SEC, "/tmp/e", EV_FILE_CREATE, &hit), 0);
        assert_int_equal(builtin_step(b, EV_FILE, 10, 14 * SEC, "/tmp/f", EV_FILE_CREATE, &hit), 0);
        assert_int_equal(builtin_step(b, EV_FILE, 10, 14 * SEC, "/tmp/g", EV_FILE_CREATE, &hit), 0);
        assert_int_equal(builtin_step(b, EV_FILE, 10, 14 * SEC, "/tmp/h", EV_FILE_CREATE, &hit), 0);
        assert_int_equal(detect_builtin_files(b), 4);
        assert_int_equal(builtin_step(b, EV_EXEC, 23, 15 * SEC, "/tmp/b", 0, &hit), 0);
        assert_int_equal(builtin_step(b, EV_EXEC, 23, 15 * SEC, "/tmp/e", 0, &hit), 1);
        /* past the time to live */
        assert_int_equal(builtin_step(b, EV_EXEC, 23, 14 * SEC + 31 * MIN, "/tmp/f", 0, &hit), 0);
        detect_builtin_free(b);
}

/* ---- the pipeline ---- */

struct seen {
        int n_new, n_update;
        uint64_t last_count;
        char rule_id[64], id[ALERT_ID_LEN + 1];
        json_t *last;
};

static void on_alert(const struct alert *a, enum alert_change change, void *userdata)
{
        struct seen *s = userdata;

        if (change == ALERT_CHANGE_NEW)
                s->n_new++;
        else
                s->n_update++;
        s->last_count = a->count;
        snprintf(s->rule_id, sizeof(s->rule_id), "%s", a->rule_id);
        snprintf(s->id, sizeof(s->id), "%s", a->id);
        json_decref(s->last);
        s->last = alert_to_json(a, change);
}

static void test_detect_builtin_pipeline(void **state)
{
        struct proctable *pt = proctable_new(64, 0);
        struct seen s = { 0 };
        struct detect_config cfg = { .sensor = "bpf", .alert_fn = on_alert, .alert_userdata = &s };
        struct detect *d = NULL;
        struct agent_event *ev;
        char err[256];
        const json_t *anc;

        if (detect_new(&cfg, &d, err, sizeof(err)) == -ENOSYS)
                skip();                 /* the Sigma engine is a stub in this build */
        assert_non_null(d);
        feed_exec(pt, 1, 1, 0, 0, "/sbin/init", "/sbin/init");
        feed_exec(pt, 100, 10, 1, 4000000, "/bin/bash", "bash");
        feed_fork(pt, 100, 10, 101, 11);
        feed_exec(pt, 101, 11, 100, 1000, "/usr/bin/curl", "curl|-o|/tmp/p|http://x/p");
        ev = ev_new(EV_FILE, 101, 11, 100);
        ev->file.op = EV_FILE_CREATE;
        snprintf(ev->file.path, sizeof(ev->file.path), "/tmp/p");
        proctable_feed(pt, ev);
        /* the curl exec reached the detector through the table above only: feed it too */
        free(ev);
        ev = ev_new(EV_EXEC, 101, 11, 100);
        exec_set(ev, "/usr/bin/curl", "curl|-o|/tmp/p|http://x/p");
        assert_int_equal(detect_event(d, ev, pt), 0);
        ev->type = EV_FILE;
        ev->file.op = EV_FILE_CREATE;
        snprintf(ev->file.path, sizeof(ev->file.path), "/tmp/p");
        assert_int_equal(detect_event(d, ev, pt), 0);
        free(ev);

        feed_fork(pt, 100, 10, 102, 12);
        ev = ev_new(EV_EXEC, 102, 12, 100);
        exec_set(ev, "/tmp/p", "/tmp/p|--x");
        proctable_feed(pt, ev);
        assert_int_equal(detect_event(d, ev, pt), 1);
        assert_int_equal(s.n_new, 1);
        assert_string_equal(s.rule_id, DETECT_BUILTIN_DOWNLOAD_EXEC_ID);
        assert_string_equal(json_string_value(json_object_get(s.last, "title")), "File downloaded and then executed");
        assert_string_equal(json_string_value(json_object_get(s.last, "source")), "builtin");
        assert_string_equal(json_string_value(json_object_get(s.last, "severity")), "high");
        assert_string_equal(json_string_value(json_object_get(json_object_get(s.last, "process"), "image")), "/tmp/p");
        assert_string_equal(json_string_value(json_object_get(json_object_get(s.last, "process"), "command_line")), "/tmp/p --x");
        anc = json_object_get(s.last, "ancestors");
        assert_int_equal(json_array_size(anc), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(anc, 0), "image")), "/bin/bash");
        assert_string_equal(json_string_value(json_object_get(json_array_get(anc, 0), "user")), "4000000");
        assert_string_equal(json_string_value(json_object_get(json_object_get(s.last, "evidence"), "TargetFilename")), "/tmp/p");
        assert_string_equal(json_string_value(json_object_get(json_object_get(s.last, "event"), "Image")), "/tmp/p");
        assert_null(json_object_get(json_object_get(s.last, "event"), "Ancestors"));
        assert_string_equal(json_string_value(json_array_get(json_object_get(s.last, "techniques"), 0)), "T1105");

        /* the same shell runs it again: folded */
        free(ev);
        feed_fork(pt, 100, 10, 103, 13);
        ev = ev_new(EV_EXEC, 103, 13, 100);
        exec_set(ev, "/tmp/p", "/tmp/p");
        ev->mono_ns += SEC;
        proctable_feed(pt, ev);
        assert_int_equal(detect_event(d, ev, pt), 1);
        assert_int_equal(s.n_new, 1);
        assert_int_equal(s.n_update, 1);
        assert_int_equal(s.last_count, 2);
        free(ev);
        json_decref(s.last);
        detect_free(d);
        proctable_free(pt);
}

/* ---- the spool ---- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static void rm_rf(const char *dir)
{
        assert_int_equal(nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS), 0);
}

static size_t count_files(const char *dir, const char *suffix)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        size_t n = 0, k = strlen(suffix);

        assert_non_null(d);
        while ((e = readdir(d))) {
                size_t l = strlen(e->d_name);

                n += l > k && strcmp(e->d_name + l - k, suffix) == 0;
        }
        closedir(d);
        return n;
}

static void test_spool(void **state)
{
        char dir[] = "/tmp/vigil-test-spool-XXXXXX", path[256], *text = NULL;
        const char *line = "{\"a\":\"0123456789012345678901234567890123456789\"}\n";  /* 48 bytes */
        size_t len = strlen(line);
        struct spool *s;
        int fd;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/spool", dir);
        /* segments of 100 bytes (2 lines), 250 bytes in all */
        assert_int_equal(spool_open(path, "alerts", 250, 100, &s), 0);
        for (int i = 0; i < 4; i++)
                assert_int_equal(spool_append(s, line, len), 0);
        assert_int_equal(spool_sync(s), 0);
        assert_int_equal(count_files(path, ".jsonl"), 2);
        assert_int_equal(spool_bytes(s), 4 * len);
        assert_int_equal(spool_dropped(s), 0);
        assert_int_equal(spool_append(s, line, len), 0);        /* 5 lines, 240 bytes */
        assert_int_equal(spool_append(s, line, len), 0);        /* 288: the oldest 2 go */
        assert_int_equal(spool_dropped(s), 2);
        assert_int_equal(spool_bytes(s), 4 * len);
        spool_close(s);
        snprintf(path, sizeof(path), "%s/spool/alerts.dropped", dir);
        assert_int_equal(util_file_read(path, 64, &text, NULL), 0);
        assert_string_equal(text, "2\n");
        free(text);

        /* reopened, it counts on; a cut last line makes it begin a new segment */
        snprintf(path, sizeof(path), "%s/spool/alerts-00000000000000000003.jsonl", dir);
        assert_int_equal(access(path, F_OK), 0);
        fd = open(path, O_WRONLY | O_APPEND);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "{\"cut", 5), 5);
        close(fd);
        snprintf(path, sizeof(path), "%s/spool", dir);
        assert_int_equal(spool_open(path, "alerts", 250, 100, &s), 0);
        assert_int_equal(spool_dropped(s), 2);
        assert_int_equal(spool_append(s, line, len), 0);
        spool_close(s);
        snprintf(path, sizeof(path), "%s/spool/alerts-00000000000000000004.jsonl", dir);
        assert_int_equal(util_file_read(path, 4096, &text, NULL), 0);
        assert_string_equal(text, line);
        free(text);
        rm_rf(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_schema),
                cmocka_unit_test(test_from_json),
                cmocka_unit_test(test_fields_exec),
                cmocka_unit_test(test_fields_access),
                cmocka_unit_test(test_fields_agree_with_json),
                cmocka_unit_test(test_tags),
                cmocka_unit_test(test_fold),
                cmocka_unit_test(test_alert_json),
                cmocka_unit_test(test_builtin),
                cmocka_unit_test(test_detect_builtin_pipeline),
                cmocka_unit_test(test_spool),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
