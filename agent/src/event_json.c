/* event_json: agent_event to JSON with Sigma's field names, and the
 * --filter language (see event_json.h and docs/EVENTS.md).
 *
 * Text from the sensors is bytes, not necessarily UTF-8 (a file name, an
 * argument); JSON needs UTF-8, so every string goes through a copy that
 * turns each byte of an invalid sequence into U+FFFD, into buffers of the
 * converter sized by the event caps. */
#include "agent/src/event_json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#define USER_NAME_MAX 64
#define USER_TTL_S 600          /* a cached name is looked up again after this */

struct user_slot {
        bool valid;
        uint32_t uid;
        int64_t at;
        char name[USER_NAME_MAX];
};

struct event_json {
        const char *sensor;
        struct user_slot users[EVENT_USER_CACHE];
        char pwbuf[16384];
        char text[3 * EV_PATH_MAX + 1];
        char cmdline[EVENT_CMDLINE_MAX + 1];
};

const char *event_type_name(enum ev_type t)
{
        switch (t) {
        case EV_EXEC: return "process_exec";
        case EV_FORK: return "process_fork";
        case EV_EXIT: return "process_exit";
        case EV_CRED: return "credential_change";
        case EV_PTRACE: return "ptrace";
        case EV_VM_WRITE: return "process_vm_write";
        case EV_PROC_MEM_WRITE: return "proc_mem_write";
        case EV_MEMFD: return "memfd_create";
        case EV_CONNECT: return "network_connect";
        case EV_ACCEPT: return "network_accept";
        case EV_FILE: return "file_event";
        }
        return "unknown";
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
        size_t len;
        uint32_t cp, min;

        if (s[0] < 0x80)
                return 1;
        if ((s[0] & 0xe0) == 0xc0) {
                len = 2, cp = s[0] & 0x1f, min = 0x80;
        } else if ((s[0] & 0xf0) == 0xe0) {
                len = 3, cp = s[0] & 0x0f, min = 0x800;
        } else if ((s[0] & 0xf8) == 0xf0) {
                len = 4, cp = s[0] & 0x07, min = 0x10000;
        } else {
                return 0;
        }
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return len;
}

/* Output that is cut whole characters at a time: out_put() appends all of
 * what it is given or nothing, and nothing after the first refusal. */
struct out {
        char *p;
        size_t len, size;       /* size includes the final NUL */
        bool truncated;
};

static bool out_put(struct out *o, const void *s, size_t n)
{
        if (o->truncated || o->len + n >= o->size) {
                o->truncated = true;
                return false;
        }
        memcpy(o->p + o->len, s, n);
        o->len += n;
        o->p[o->len] = '\0';
        return true;
}

/* Appends n bytes of s as UTF-8, escaping '"' and '\' when quoted. */
static void out_text(struct out *o, const char *s, size_t n, bool quoted)
{
        const unsigned char *u = (const unsigned char *)s;
        size_t i = 0;

        while (i < n && !o->truncated) {
                size_t k = utf8_seq(u + i, n - i);

                if (k == 0) {
                        out_put(o, "\xef\xbf\xbd", 3);
                        i++;
                        continue;
                }
                if (quoted && (u[i] == '"' || u[i] == '\\') && !out_put(o, "\\", 1))
                        break;
                out_put(o, u + i, k);
                i += k;
        }
}

static bool arg_needs_quotes(const char *a, size_t n)
{
        if (n == 0)
                return true;
        for (size_t i = 0; i < n; i++)
                if (strchr(" \t\n\"\\", a[i]))
                        return true;
        return false;
}

size_t event_cmdline_join(const char *args, size_t args_len, char *out, size_t size,
                          bool *ret_truncated)
{
        struct out o = { .p = out, .size = size };
        size_t i = 0;

        if (size == 0)
                return 0;
        out[0] = '\0';
        while (i < args_len && !o.truncated) {
                const char *a = args + i;
                const char *nul = memchr(a, '\0', args_len - i);
                size_t n = nul ? (size_t)(nul - a) : args_len - i;
                bool q = arg_needs_quotes(a, n);

                if (i > 0)
                        out_put(&o, " ", 1);
                if (q)
                        out_put(&o, "\"", 1);
                out_text(&o, a, n, q);
                if (q)
                        out_put(&o, "\"", 1);
                i += n + 1;
        }
        if (ret_truncated)
                *ret_truncated = o.truncated;
        return o.len;
}

/* ---- building ---- */

struct build {
        struct event_json *ej;
        json_t *o;
        bool failed;
};

static void set(struct build *b, json_t *o, const char *key, json_t *v)
{
        if (!v || json_object_set_new(o, key, v) < 0)
                b->failed = true;
}

static void set_int(struct build *b, const char *key, long long v)
{
        set(b, b->o, key, json_integer(v));
}

static void set_bool(struct build *b, const char *key, bool v)
{
        set(b, b->o, key, json_boolean(v));
}

static void set_str(struct build *b, const char *key, const char *s)
{
        set(b, b->o, key, json_string(s));
}

/* The text of s (at most n bytes, or up to its NUL), made UTF-8. */
static json_t *text_value(struct event_json *ej, const char *s, size_t n)
{
        struct out o = { .p = ej->text, .size = sizeof(ej->text) };

        ej->text[0] = '\0';
        out_text(&o, s, strnlen(s, n), false);
        return json_stringn(ej->text, o.len);
}

static void set_text(struct build *b, json_t *o, const char *key, const char *s, size_t n)
{
        set(b, o, key, text_value(b->ej, s, n));
}

static void set_cmdline(struct build *b, json_t *o, const char *key, const char *args,
                        size_t args_len, bool *ret_truncated)
{
        size_t n = event_cmdline_join(args, args_len, b->ej->cmdline, sizeof(b->ej->cmdline),
                                      ret_truncated);

        set(b, o, key, json_stringn(b->ej->cmdline, n));
}

const char *event_json_user(struct event_json *ej, uint32_t uid)
{
        struct user_slot *u = &ej->users[uid % EVENT_USER_CACHE];
        struct timespec ts;
        struct passwd pw, *res = NULL;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (u->valid && u->uid == uid && ts.tv_sec - u->at < USER_TTL_S)
                return u->name;
        u->valid = true;
        u->uid = uid;
        u->at = ts.tv_sec;
        if (getpwuid_r(uid, &pw, ej->pwbuf, sizeof(ej->pwbuf), &res) == 0 && res &&
            res->pw_name[0] && strlen(res->pw_name) < sizeof(u->name))
                snprintf(u->name, sizeof(u->name), "%s", res->pw_name);
        else
                snprintf(u->name, sizeof(u->name), "%u", uid);
        return u->name;
}

/* RFC 3339 UTC with nanoseconds: 2026-11-30T00:31:48.123456789Z */
static void timestamp_format(int64_t wall_ns, char out[static 40])
{
        struct timespec ts;
        struct tm tm;
        time_t sec;
        long nsec;

        if (wall_ns == 0) {
                clock_gettime(CLOCK_REALTIME, &ts);
                wall_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        }
        sec = (time_t)(wall_ns / 1000000000);
        nsec = (long)(wall_ns % 1000000000);
        if (nsec < 0) {
                nsec += 1000000000;
                sec--;
        }
        gmtime_r(&sec, &tm);
        strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(out + strlen(out), 40 - strlen(out), ".%09ldZ", nsec);
}

static const char *ptrace_request_name(int64_t r)
{
        static const struct { int64_t v; const char *name; } names[] = {
                { 0, "PTRACE_TRACEME" }, { 1, "PTRACE_PEEKTEXT" }, { 2, "PTRACE_PEEKDATA" },
                { 3, "PTRACE_PEEKUSER" }, { 4, "PTRACE_POKETEXT" }, { 5, "PTRACE_POKEDATA" },
                { 6, "PTRACE_POKEUSER" }, { 7, "PTRACE_CONT" }, { 8, "PTRACE_KILL" },
                { 9, "PTRACE_SINGLESTEP" }, { 12, "PTRACE_GETREGS" }, { 13, "PTRACE_SETREGS" },
                { 16, "PTRACE_ATTACH" }, { 17, "PTRACE_DETACH" }, { 0x4200, "PTRACE_SETOPTIONS" },
                { 0x4204, "PTRACE_SETREGSET" }, { 0x4206, "PTRACE_SEIZE" },
                { 0x4207, "PTRACE_INTERRUPT" },
        };

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (names[i].v == r)
                        return names[i].name;
        return NULL;
}

static const char *cred_cause_name(uint32_t c)
{
        switch (c) {
        case EV_CRED_SETUID_EXEC: return "setuid_exec";
        case EV_CRED_SETUID_CALL: return "setuid_call";
        case EV_CRED_OTHER: return "other";
        }
        return "unknown";
}

static const char *file_op_type(uint32_t op)
{
        switch (op) {
        case EV_FILE_CREATE: return "file_create";
        case EV_FILE_MODIFY: return "file_modify";
        case EV_FILE_RENAME: return "file_rename";
        case EV_FILE_DELETE: return "file_delete";
        }
        return "file_event";
}

/* The Sigma log source category of an event type, or NULL. */
static const char *sigma_category(enum ev_type t)
{
        switch (t) {
        case EV_EXEC: return "process_creation";
        case EV_CONNECT:
        case EV_ACCEPT: return "network_connection";
        case EV_FILE: return "file_event";
        default: return NULL;
        }
}

/* Sets key to an id the event gives, else to what the table knows; leaves
 * it out when neither knows (UINT32_MAX). Returns the value. */
static uint32_t set_id(struct build *b, const char *key, uint32_t ev_v, const uint32_t *table_v)
{
        uint32_t v = ev_v != UINT32_MAX || !table_v ? ev_v : *table_v;

        if (v != UINT32_MAX)
                set_int(b, key, v);
        return v;
}

/* Image, CommandLine, CurrentDirectory and ids of the acting process. */
static void add_process(struct build *b, const struct agent_event *ev,
                        const struct proctable_proc *self)
{
        const struct ev_proc *p = &ev->proc;
        char ts[40];
        uint32_t uid;
        bool cut;

        timestamp_format(ev->wall_ns, ts);
        set_str(b, "Timestamp", ts);
        set_int(b, "MonotonicNs", (long long)ev->mono_ns);
        set_int(b, "ProcessId", p->pid);
        set_int(b, "ThreadId", p->tid);
        set_int(b, "ProcessStartTicks", (long long)(p->start_ticks || !self ? p->start_ticks : self->start_ticks));
        /* the parent the table resolves ParentImage from: the one at fork or
         * exec, which an orphan keeps after the kernel reparents it */
        set_int(b, "ParentProcessId", self && self->ppid ? self->ppid : p->ppid);
        uid = set_id(b, "Uid", p->uid, self ? &self->uid : NULL);
        set_id(b, "Euid", p->euid, self ? &self->euid : NULL);
        set_id(b, "Gid", p->gid, self ? &self->gid : NULL);
        set_id(b, "Egid", p->egid, self ? &self->egid : NULL);
        if (uid != UINT32_MAX)
                set_text(b, b->o, "User", event_json_user(b->ej, uid), USER_NAME_MAX);
        /* UINT32_MAX is also the kernel's "no login uid", so LogonId keeps it */
        set_int(b, "LogonId", p->loginuid != UINT32_MAX || !self ? p->loginuid : self->loginuid);
        set_int(b, "CgroupId", (long long)(p->cgroup_id || !self ? p->cgroup_id : self->cgroup_id));
        if (p->comm[0] || !self)
                set_text(b, b->o, "Comm", p->comm, sizeof(p->comm) - 1);
        else
                set_text(b, b->o, "Comm", self->comm, sizeof(self->comm) - 1);
        if (ev->type == EV_EXEC) {
                set_text(b, b->o, "Image", ev->exec.image, sizeof(ev->exec.image) - 1);
                set_cmdline(b, b->o, "CommandLine", ev->exec.args,
                            ev->exec.args_len < EV_ARGS_MAX ? ev->exec.args_len : EV_ARGS_MAX, &cut);
                set_bool(b, "CommandLineTruncated",
                         cut || (ev->exec.flags & EV_EXEC_ARGS_TRUNCATED));
                if (ev->exec.cwd[0])
                        set_text(b, b->o, "CurrentDirectory", ev->exec.cwd, sizeof(ev->exec.cwd) - 1);
                return;
        }
        if (!self)
                return;
        if (self->image_len)
                set_text(b, b->o, "Image", self->image, self->image_len + 1);
        if (self->args_len)
                set_cmdline(b, b->o, "CommandLine", self->args, self->args_len, &cut);
        if (self->cwd_len)
                set_text(b, b->o, "CurrentDirectory", self->cwd, self->cwd_len + 1);
}

/* ParentImage, ParentCommandLine and Ancestors, from the process table. */
static void add_lineage(struct build *b, const struct proctable *pt,
                        const struct proctable_proc *self)
{
        const struct proctable_proc *anc[PROCTABLE_ANCESTRY_MAX];
        unsigned n = proctable_ancestors(pt, self, anc, PROCTABLE_ANCESTRY_MAX);
        json_t *arr;

        if (n == 0)
                return;
        if (anc[0]->image_len)
                set_text(b, b->o, "ParentImage", anc[0]->image, anc[0]->image_len + 1);
        if (anc[0]->args_len)
                set_cmdline(b, b->o, "ParentCommandLine", anc[0]->args, anc[0]->args_len, NULL);
        arr = json_array();
        if (!arr) {
                b->failed = true;
                return;
        }
        for (unsigned i = 0; i < n; i++) {
                json_t *a = json_object();

                if (!a || json_array_append_new(arr, a) < 0) {
                        b->failed = true;
                        break;
                }
                set(b, a, "ProcessId", json_integer(anc[i]->pid));
                set_text(b, a, "Image", anc[i]->image, anc[i]->image_len + 1);
                set_cmdline(b, a, "CommandLine", anc[i]->args, anc[i]->args_len, NULL);
        }
        set(b, b->o, "Ancestors", arr);
}

static void add_exec(struct build *b, const struct ev_exec *x)
{
        set_bool(b, "ImageIsMemfd", x->flags & EV_EXEC_MEMFD);
        set_bool(b, "ImageDeleted", x->flags & EV_EXEC_DELETED);
        set_bool(b, "ImageTruncated", x->flags & EV_EXEC_PATH_TRUNCATED);
        set_bool(b, "StdinIsSocket", x->flags & EV_EXEC_STDIN_SOCKET);
        set_bool(b, "StdoutIsSocket", x->flags & EV_EXEC_STDOUT_SOCKET);
        set_bool(b, "StderrIsSocket", x->flags & EV_EXEC_STDERR_SOCKET);
        set_bool(b, "StdinIsTty", x->flags & EV_EXEC_STDIN_TTY);
        set_bool(b, "StdoutIsTty", x->flags & EV_EXEC_STDOUT_TTY);
        set_bool(b, "StderrIsTty", x->flags & EV_EXEC_STDERR_TTY);
}

static void add_exit(struct build *b, int32_t status)
{
        set_int(b, "ExitStatus", status);
        if (WIFEXITED(status))
                set_int(b, "ExitCode", WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
                set_int(b, "ExitSignal", WTERMSIG(status));
}

/* An id a sensor does not know is UINT32_MAX and left out. */
static void add_cred(struct build *b, const struct ev_cred *c)
{
        set_id(b, "OldUid", c->old_uid, NULL);
        set_id(b, "OldEuid", c->old_euid, NULL);
        set_id(b, "NewUid", c->new_uid, NULL);
        set_id(b, "NewEuid", c->new_euid, NULL);
        set_id(b, "OldGid", c->old_gid, NULL);
        set_id(b, "OldEgid", c->old_egid, NULL);
        set_id(b, "NewGid", c->new_gid, NULL);
        set_id(b, "NewEgid", c->new_egid, NULL);
        set_str(b, "CredCause", cred_cause_name(c->cause));
}

static void add_inject(struct build *b, const struct agent_event *ev, const struct proctable *pt)
{
        const struct ev_inject *x = &ev->inject;
        const struct proctable_proc *t = pt ? proctable_lookup(pt, x->target_pid, x->target_start_ticks) : NULL;
        const char *name;

        set_int(b, "TargetProcessId", x->target_pid);
        set_int(b, "TargetProcessStartTicks", (long long)x->target_start_ticks);
        if (t && t->image_len)
                set_text(b, b->o, "TargetImage", t->image, t->image_len + 1);
        if (t && t->args_len)
                set_cmdline(b, b->o, "TargetCommandLine", t->args, t->args_len, NULL);
        if (ev->type == EV_PTRACE) {
                set_int(b, "PtraceRequest", (long long)x->request);
                name = ptrace_request_name(x->request);
                if (name)
                        set_str(b, "PtraceRequestName", name);
        } else {
                set_int(b, "BytesWritten", (long long)x->bytes);
        }
}

/* Source is the side that opened the connection, as in Sysmon: this process
 * for connect, the peer for accept. The sensor gives saddr/sport as the
 * local end and daddr/dport as the remote end. */
static void add_net(struct build *b, const struct agent_event *ev)
{
        const struct ev_net *n = &ev->net;
        bool out = ev->type == EV_CONNECT, v6 = n->family == AF_INET6;
        char local[INET6_ADDRSTRLEN], remote[INET6_ADDRSTRLEN];
        int af = v6 ? AF_INET6 : AF_INET;

        if (!inet_ntop(af, n->saddr, local, sizeof(local)))
                local[0] = '\0';
        if (!inet_ntop(af, n->daddr, remote, sizeof(remote)))
                remote[0] = '\0';
        set_str(b, "Initiated", out ? "true" : "false");
        set_str(b, "Protocol", n->protocol == EV_PROTO_UDP ? "udp" : n->protocol == EV_PROTO_TCP ? "tcp" : "other");
        set_str(b, "SourceIp", out ? local : remote);
        set_int(b, "SourcePort", out ? n->sport : n->dport);
        set_str(b, "SourceIsIpv6", v6 ? "true" : "false");
        set_str(b, "DestinationIp", out ? remote : local);
        set_int(b, "DestinationPort", out ? n->dport : n->sport);
        set_str(b, "DestinationIsIpv6", v6 ? "true" : "false");
}

static void add_details(struct build *b, const struct agent_event *ev, const struct proctable *pt)
{
        switch (ev->type) {
        case EV_EXEC:
                add_exec(b, &ev->exec);
                break;
        case EV_FORK:
                set_int(b, "ChildProcessId", ev->fork.child_pid);
                set_int(b, "ChildProcessStartTicks", (long long)ev->fork.child_start_ticks);
                break;
        case EV_EXIT:
                add_exit(b, ev->exit.code);
                break;
        case EV_CRED:
                add_cred(b, &ev->cred);
                break;
        case EV_PTRACE:
        case EV_VM_WRITE:
        case EV_PROC_MEM_WRITE:
                add_inject(b, ev, pt);
                break;
        case EV_MEMFD:
                set_text(b, b->o, "MemfdName", ev->memfd.name, sizeof(ev->memfd.name) - 1);
                set_int(b, "MemfdFlags", ev->memfd.flags);
                break;
        case EV_CONNECT:
        case EV_ACCEPT:
                add_net(b, ev);
                break;
        case EV_FILE:
                set_text(b, b->o, "TargetFilename", ev->file.path, sizeof(ev->file.path) - 1);
                break;
        }
}

int event_json_build(struct event_json *ej, const struct agent_event *ev,
                     const struct proctable *pt, json_t **ret)
{
        const struct proctable_proc *self = NULL;
        const char *cat = sigma_category(ev->type);
        struct build b = { .ej = ej, .o = json_object() };

        if (!b.o)
                return -ENOMEM;
        if (pt)
                self = proctable_lookup(pt, ev->proc.pid, ev->proc.start_ticks);
        set_str(&b, "EventType", ev->type == EV_FILE ? file_op_type(ev->file.op) : event_type_name(ev->type));
        if (cat)
                set_str(&b, "Category", cat);
        set_str(&b, "Sensor", ej->sensor);
        add_process(&b, ev, self);
        if (self)
                add_lineage(&b, pt, self);
        add_details(&b, ev, pt);
        if (b.failed) {
                json_decref(b.o);
                return -ENOMEM;
        }
        *ret = b.o;
        return 0;
}

struct event_json *event_json_new(const char *sensor)
{
        struct event_json *ej = calloc(1, sizeof(*ej));

        if (ej)
                ej->sensor = sensor;
        return ej;
}

void event_json_free(struct event_json *ej)
{
        free(ej);
}

/* ---- filter ---- */

static int filter_fail(char *err, size_t err_size, int r, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int filter_fail(char *err, size_t err_size, int r, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
        return r;
}

/* Parses one TERM at *s into t, copying its parts into *w. */
static int term_parse(const char **s, char **w, struct event_filter_term *t, char *err, size_t err_size)
{
        const char *p = *s;
        size_t n = 0;

        t->field = *w;
        while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
               (n > 0 && ((*p >= '0' && *p <= '9') || *p == '_'))) {
                if (++n > EVENT_FILTER_FIELD_MAX)
                        return filter_fail(err, err_size, -E2BIG, "field name longer than %d bytes", EVENT_FILTER_FIELD_MAX);
                *(*w)++ = *p++;
        }
        *(*w)++ = '\0';
        if (n == 0)
                return filter_fail(err, err_size, -EINVAL, "expected a field name at '%s'", *s);
        if (p[0] == '=')
                t->op = EVENT_FILTER_EQ, p += 1;
        else if (p[0] == '~')
                t->op = EVENT_FILTER_CONTAINS, p += 1;
        else if (p[0] == '!' && p[1] == '=')
                t->op = EVENT_FILTER_NE, p += 2;
        else if (p[0] == '!' && p[1] == '~')
                t->op = EVENT_FILTER_NOT_CONTAINS, p += 2;
        else
                return filter_fail(err, err_size, -EINVAL, "expected '=', '~', '!=' or '!~' after field '%s'", t->field);
        t->value = *w;
        while (*p && *p != ',') {
                if (*p == '\\') {
                        if (p[1] != ',' && p[1] != '\\')
                                return filter_fail(err, err_size, -EINVAL,
                                                   "bad escape at '%s' (use \\, or \\\\)", p);
                        p++;
                }
                *(*w)++ = *p++;
        }
        t->value_len = (size_t)(*w - t->value);
        *(*w)++ = '\0';
        *s = p;
        return 0;
}

int event_filter_parse(struct event_filter *f, const char *expr, char *err, size_t err_size)
{
        const char *s = expr;
        char *w = f->buf;
        int r;

        f->count = 0;
        if (strlen(expr) > EVENT_FILTER_EXPR_MAX)
                return filter_fail(err, err_size, -E2BIG, "filter longer than %d bytes", EVENT_FILTER_EXPR_MAX);
        if (!*s)
                return 0;
        for (;;) {
                if (f->count == EVENT_FILTER_TERMS_MAX)
                        return filter_fail(err, err_size, -E2BIG, "more than %d terms", EVENT_FILTER_TERMS_MAX);
                r = term_parse(&s, &w, &f->term[f->count], err, err_size);
                if (r < 0)
                        return r;
                f->count++;
                if (!*s)
                        return 0;
                s++;            /* the ',' */
        }
}

/* The text of a scalar JSON value; false for arrays and objects. */
static bool value_text(const json_t *v, char *tmp, size_t tmp_size, const char **ret, size_t *ret_len)
{
        switch (json_typeof(v)) {
        case JSON_STRING:
                *ret = json_string_value(v);
                *ret_len = json_string_length(v);
                return true;
        case JSON_INTEGER:
                snprintf(tmp, tmp_size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                break;
        case JSON_REAL:
                snprintf(tmp, tmp_size, "%.17g", json_real_value(v));
                break;
        case JSON_TRUE:
                snprintf(tmp, tmp_size, "true");
                break;
        case JSON_FALSE:
                snprintf(tmp, tmp_size, "false");
                break;
        case JSON_NULL:
                tmp[0] = '\0';
                break;
        default:
                return false;
        }
        *ret = tmp;
        *ret_len = strlen(tmp);
        return true;
}

static bool term_match(const struct event_filter_term *t, const json_t *obj)
{
        const json_t *v = json_object_get(obj, t->field);
        bool neg = t->op == EVENT_FILTER_NE || t->op == EVENT_FILTER_NOT_CONTAINS;
        const char *s;
        char tmp[64];
        size_t n;
        bool hit;

        if (!v || !value_text(v, tmp, sizeof(tmp), &s, &n))
                return neg;
        if (t->op == EVENT_FILTER_EQ || t->op == EVENT_FILTER_NE)
                hit = n == t->value_len && memcmp(s, t->value, n) == 0;
        else
                hit = t->value_len == 0 || memmem(s, n, t->value, t->value_len) != NULL;
        return neg ? !hit : hit;
}

bool event_filter_match(const struct event_filter *f, const json_t *obj)
{
        for (unsigned i = 0; i < f->count; i++)
                if (!term_match(&f->term[i], obj))
                        return false;
        return true;
}
