/* event_fields: an agent_event and the process table as named values (see
 * event_fields.h; the fields are documented in docs/EVENTS.md).
 *
 * Text from the sensors is bytes, not necessarily UTF-8 (a file name, an
 * argument). A value that already is valid UTF-8 is handed out where it
 * lies, in the event or the process table; otherwise a copy in which each
 * byte of an invalid sequence became U+FFFD is made in the context's arena.
 * The arena is sized so that every field of one event fits at once, which
 * is what detection needs; nothing is allocated per event. */
#include "agent/src/event_fields.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#define USER_NAME_MAX 64
#define USER_TTL_S 600          /* a cached name is looked up again after this */
#define UTF8_GROWTH 3           /* an invalid byte becomes 3 bytes of U+FFFD */

/* Every field of one event at once: three command lines, six paths grown
 * by the U+FFFD replacement, and the short ones (names, numbers, memfd). */
#define ARENA_SIZE (3 * (EVENT_CMDLINE_MAX + 1) + 6 * UTF8_GROWTH * EV_PATH_MAX + 16384)

#define FIELD_NAME_(id, name, type) [EVENT_FIELD_##id] = name,
const char *const event_field_names[EVENT_FIELD_COUNT] = { EVENT_FIELDS(FIELD_NAME_) };
#undef FIELD_NAME_

#define FIELD_TYPE_(id, name, type) [EVENT_FIELD_##id] = EVENT_FIELD_##type,
const enum event_field_type event_field_types[EVENT_FIELD_COUNT] = { EVENT_FIELDS(FIELD_TYPE_) };
#undef FIELD_TYPE_

const char *const event_category_names[EVENT_CATEGORY_COUNT] = {
        [EVENT_CATEGORY_PROCESS_CREATION] = "process_creation",
        [EVENT_CATEGORY_NETWORK_CONNECTION] = "network_connection",
        [EVENT_CATEGORY_FILE_EVENT] = "file_event",
        [EVENT_CATEGORY_PROCESS_ACCESS] = "process_access",
        [EVENT_CATEGORY_CREDENTIAL_CHANGE] = "credential_change",
        [EVENT_CATEGORY_FILE_DELETE] = "file_delete",
};

struct user_slot {
        bool valid;
        uint32_t uid;
        int64_t at;
        char name[USER_NAME_MAX];
};

/* A looked-up process: done tells a NULL "unknown" from "not asked yet". */
struct lookup {
        bool done;
        const struct proctable_proc *p;
};

struct event_fields {
        const char *sensor;
        const struct agent_event *ev;
        const struct proctable *pt;
        struct lookup self, parent, target;
        /* the exec's CommandLine, joined once for CommandLine and
         * CommandLineTruncated; valid while cmd_str is in the arena */
        const char *cmd_str;
        size_t cmd_len;
        bool cmd_cut;
        char net_local[INET6_ADDRSTRLEN], net_remote[INET6_ADDRSTRLEN];
        bool net_done;
        struct user_slot users[EVENT_USER_CACHE];
        char pwbuf[16384];
        size_t arena_len;
        char arena[ARENA_SIZE];
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

int event_category_of(const struct agent_event *ev)
{
        switch (ev->type) {
        case EV_EXEC: return EVENT_CATEGORY_PROCESS_CREATION;
        case EV_CONNECT:
        case EV_ACCEPT: return EVENT_CATEGORY_NETWORK_CONNECTION;
        case EV_FILE:
                return ev->file.op == EV_FILE_DELETE ? EVENT_CATEGORY_FILE_DELETE : EVENT_CATEGORY_FILE_EVENT;
        case EV_PTRACE:
        case EV_VM_WRITE:
        case EV_PROC_MEM_WRITE: return EVENT_CATEGORY_PROCESS_ACCESS;
        case EV_CRED: return EVENT_CATEGORY_CREDENTIAL_CHANGE;
        default: return -1;
        }
}

int event_category_find(const char *name, size_t len)
{
        for (int i = 0; i < EVENT_CATEGORY_COUNT; i++)
                if (strlen(event_category_names[i]) == len && memcmp(event_category_names[i], name, len) == 0)
                        return i;
        return -ENOENT;
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

static bool utf8_valid(const char *s, size_t n)
{
        const unsigned char *u = (const unsigned char *)s;
        size_t i = 0, k;

        while (i < n) {
                if (u[i] < 0x80) {
                        i++;
                        continue;
                }
                k = utf8_seq(u + i, n - i);
                if (k == 0)
                        return false;
                i += k;
        }
        return true;
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
                size_t k, run = 0;

                /* the common case: a run of plain ASCII copied at once */
                while (i + run < n && u[i + run] >= 0x20 && u[i + run] < 0x7f &&
                       !(quoted && (u[i + run] == '"' || u[i + run] == '\\')))
                        run++;
                if (run) {
                        /* ASCII is one byte a character: a cut fits what fits */
                        size_t room = o->size - 1 - o->len;

                        if (run > room) {
                                out_put(o, u + i, room);
                                o->truncated = true;
                                break;
                        }
                        out_put(o, u + i, run);
                        i += run;
                        continue;
                }
                k = utf8_seq(u + i, n - i);

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
                if (a[i] == ' ' || a[i] == '\t' || a[i] == '\n' || a[i] == '"' || a[i] == '\\')
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

/* ---- the arena ---- */

/* Room for up to max bytes (and a NUL) at the arena's end; NULL when full. */
static char *arena_room(struct event_fields *f, size_t max)
{
        if (max + 1 > sizeof(f->arena) - f->arena_len)
                return NULL;
        return f->arena + f->arena_len;
}

int event_fields_utf8(struct event_fields *f, const char *s, size_t n, const char **ret_str,
                      size_t *ret_len)
{
        struct out o;
        char *p;

        n = strnlen(s, n);
        if (utf8_valid(s, n)) {
                *ret_str = s;
                *ret_len = n;
                return 0;
        }
        p = arena_room(f, UTF8_GROWTH * n);
        if (!p)
                return -ENOBUFS;
        o = (struct out){ .p = p, .size = UTF8_GROWTH * n + 1 };
        out_text(&o, s, n, false);
        f->arena_len += o.len + 1;
        *ret_str = p;
        *ret_len = o.len;
        return 0;
}

int event_fields_cmdline(struct event_fields *f, const char *args, size_t args_len,
                         const char **ret_str, size_t *ret_len, bool *ret_truncated)
{
        char *p = arena_room(f, EVENT_CMDLINE_MAX);
        size_t n;

        if (!p)
                return -ENOBUFS;
        n = event_cmdline_join(args, args_len, p, EVENT_CMDLINE_MAX + 1, ret_truncated);
        f->arena_len += n + 1;
        *ret_str = p;
        *ret_len = n;
        return 0;
}

void event_fields_scratch_reset(struct event_fields *f)
{
        f->arena_len = 0;
        f->cmd_str = NULL;
}

/* ---- lookups ---- */

const char *event_fields_user(struct event_fields *f, uint32_t uid)
{
        struct user_slot *u = &f->users[uid % EVENT_USER_CACHE];
        struct timespec ts;
        struct passwd pw, *res = NULL;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (u->valid && u->uid == uid && ts.tv_sec - u->at < USER_TTL_S)
                return u->name;
        u->valid = true;
        u->uid = uid;
        u->at = ts.tv_sec;
        if (getpwuid_r(uid, &pw, f->pwbuf, sizeof(f->pwbuf), &res) == 0 && res &&
            res->pw_name[0] && strlen(res->pw_name) < sizeof(u->name))
                snprintf(u->name, sizeof(u->name), "%s", res->pw_name);
        else
                snprintf(u->name, sizeof(u->name), "%u", uid);
        return u->name;
}

const struct proctable_proc *event_fields_self(struct event_fields *f)
{
        if (!f->self.done) {
                f->self.done = true;
                f->self.p = f->pt ? proctable_lookup(f->pt, f->ev->proc.pid, f->ev->proc.start_ticks) : NULL;
        }
        return f->self.p;
}

static const struct proctable_proc *parent_get(struct event_fields *f)
{
        const struct proctable_proc *self = event_fields_self(f);

        if (!f->parent.done) {
                f->parent.done = true;
                f->parent.p = self ? proctable_parent(f->pt, self) : NULL;
        }
        return f->parent.p;
}

static const struct proctable_proc *target_get(struct event_fields *f)
{
        const struct ev_inject *x = &f->ev->inject;

        if (!f->target.done) {
                f->target.done = true;
                f->target.p = f->pt ? proctable_lookup(f->pt, x->target_pid, x->target_start_ticks) : NULL;
        }
        return f->target.p;
}

void event_timestamp_format(int64_t wall_ns, char out[static EVENT_TIMESTAMP_MAX])
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
        strftime(out, EVENT_TIMESTAMP_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(out + strlen(out), EVENT_TIMESTAMP_MAX - strlen(out), ".%09ldZ", nsec);
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

/* ---- values ---- */

static int val_int(struct event_value *v, int64_t n)
{
        *v = (struct event_value){ .type = EVENT_FIELD_INT, .num = n };
        return 0;
}

static int val_bool(struct event_value *v, bool b)
{
        *v = (struct event_value){ .type = EVENT_FIELD_BOOL, .num = b };
        return 0;
}

/* A static ASCII string; NULL is "absent". */
static int val_static(struct event_value *v, const char *s)
{
        if (!s)
                return -ENOENT;
        *v = (struct event_value){ .type = EVENT_FIELD_STRING, .str = s, .len = strlen(s) };
        return 0;
}

/* Text of at most n bytes, or up to a NUL, made UTF-8. */
static int val_text(struct event_fields *f, struct event_value *v, const char *s, size_t n)
{
        *v = (struct event_value){ .type = EVENT_FIELD_STRING };
        return event_fields_utf8(f, s, n, &v->str, &v->len);
}

/* An id: UINT32_MAX means unknown. */
static int val_id(struct event_value *v, uint32_t id)
{
        return id == UINT32_MAX ? -ENOENT : val_int(v, id);
}

/* The event's id unless it does not know it, then the table's. */
static uint32_t id_pick(uint32_t ev_v, const uint32_t *table_v)
{
        return ev_v != UINT32_MAX || !table_v ? ev_v : *table_v;
}

static int val_user(struct event_fields *f, struct event_value *v, uint32_t uid)
{
        if (uid == UINT32_MAX)
                return -ENOENT;
        return val_text(f, v, event_fields_user(f, uid), USER_NAME_MAX);
}

/* A process-table entry's image or command line; absent when unknown. */
static int val_proc_image(struct event_fields *f, struct event_value *v, const struct proctable_proc *p)
{
        if (!p || !p->image_len)
                return -ENOENT;
        return val_text(f, v, p->image, p->image_len + 1);
}

static int val_proc_cmdline(struct event_fields *f, struct event_value *v, const struct proctable_proc *p)
{
        if (!p || !p->args_len)
                return -ENOENT;
        *v = (struct event_value){ .type = EVENT_FIELD_STRING };
        return event_fields_cmdline(f, p->args, p->args_len, &v->str, &v->len, NULL);
}

/* The exec's CommandLine, joined once per event. */
static int exec_cmdline(struct event_fields *f)
{
        const struct ev_exec *x = &f->ev->exec;
        size_t n = x->args_len < EV_ARGS_MAX ? x->args_len : EV_ARGS_MAX;
        int r;

        if (f->cmd_str)
                return 0;
        r = event_fields_cmdline(f, x->args, n, &f->cmd_str, &f->cmd_len, &f->cmd_cut);
        if (r < 0)
                f->cmd_str = NULL;
        return r;
}

/* Timestamp .. Comm: the subject as the event and the table know it. */
static int value_subject(struct event_fields *f, enum event_field id, struct event_value *v)
{
        const struct ev_proc *p = &f->ev->proc;
        const struct proctable_proc *self = event_fields_self(f);
        char *ts;

        switch (id) {
        case EVENT_FIELD_TIMESTAMP:
                ts = arena_room(f, EVENT_TIMESTAMP_MAX);
                if (!ts)
                        return -ENOBUFS;
                event_timestamp_format(f->ev->wall_ns, ts);
                f->arena_len += strlen(ts) + 1;
                return val_static(v, ts);
        case EVENT_FIELD_MONOTONIC_NS: return val_int(v, (int64_t)f->ev->mono_ns);
        case EVENT_FIELD_PROCESS_ID: return val_int(v, p->pid);
        case EVENT_FIELD_THREAD_ID: return val_int(v, p->tid);
        case EVENT_FIELD_PROCESS_START_TICKS:
                return val_int(v, (int64_t)(p->start_ticks || !self ? p->start_ticks : self->start_ticks));
        case EVENT_FIELD_PARENT_PROCESS_ID:
                /* the parent the table resolves ParentImage from: the one at
                 * fork or exec, which an orphan keeps after reparenting */
                return val_int(v, self && self->ppid ? self->ppid : p->ppid);
        case EVENT_FIELD_UID: return val_id(v, id_pick(p->uid, self ? &self->uid : NULL));
        case EVENT_FIELD_EUID: return val_id(v, id_pick(p->euid, self ? &self->euid : NULL));
        case EVENT_FIELD_GID: return val_id(v, id_pick(p->gid, self ? &self->gid : NULL));
        case EVENT_FIELD_EGID: return val_id(v, id_pick(p->egid, self ? &self->egid : NULL));
        case EVENT_FIELD_USER:
                return val_user(f, v, id_pick(p->uid, self ? &self->uid : NULL));
        case EVENT_FIELD_LOGON_ID:
                /* UINT32_MAX is also the kernel's "no login uid", so it is kept */
                return val_int(v, p->loginuid != UINT32_MAX || !self ? p->loginuid : self->loginuid);
        case EVENT_FIELD_CGROUP_ID:
                return val_int(v, (int64_t)(p->cgroup_id || !self ? p->cgroup_id : self->cgroup_id));
        case EVENT_FIELD_COMM:
                return val_text(f, v, p->comm[0] || !self ? p->comm : self->comm, EV_COMM_MAX - 1);
        default:
                return -ENOENT;
        }
}

/* Image, CommandLine, CurrentDirectory: the exec's own, else the table's. */
static int value_image(struct event_fields *f, enum event_field id, struct event_value *v)
{
        const struct agent_event *ev = f->ev;
        const struct proctable_proc *self;
        bool exec = ev->type == EV_EXEC;
        int r;

        if (exec && (id == EVENT_FIELD_COMMAND_LINE || id == EVENT_FIELD_COMMAND_LINE_TRUNCATED)) {
                r = exec_cmdline(f);
                if (r < 0)
                        return r;
                if (id == EVENT_FIELD_COMMAND_LINE_TRUNCATED)
                        return val_bool(v, f->cmd_cut || (ev->exec.flags & EV_EXEC_ARGS_TRUNCATED));
                *v = (struct event_value){ .type = EVENT_FIELD_STRING, .str = f->cmd_str, .len = f->cmd_len };
                return 0;
        }
        if (exec && id == EVENT_FIELD_IMAGE)
                return val_text(f, v, ev->exec.image, sizeof(ev->exec.image) - 1);
        if (exec && id == EVENT_FIELD_CURRENT_DIRECTORY)
                return ev->exec.cwd[0] ? val_text(f, v, ev->exec.cwd, sizeof(ev->exec.cwd) - 1) : -ENOENT;
        if (exec || id == EVENT_FIELD_COMMAND_LINE_TRUNCATED)
                return -ENOENT;
        self = event_fields_self(f);
        if (id == EVENT_FIELD_IMAGE)
                return val_proc_image(f, v, self);
        if (id == EVENT_FIELD_COMMAND_LINE)
                return val_proc_cmdline(f, v, self);
        if (!self || !self->cwd_len)
                return -ENOENT;
        return val_text(f, v, self->cwd, self->cwd_len + 1);
}

/* ParentImage .. ParentUser and TargetImage .. TargetUser: what the table
 * knows of the parent or of the target. */
enum proc_what { WHAT_IMAGE, WHAT_CMDLINE, WHAT_UID, WHAT_USER };

static int value_proc(struct event_fields *f, const struct proctable_proc *p, enum proc_what what,
                      struct event_value *v)
{
        if (!p)
                return -ENOENT;
        switch (what) {
        case WHAT_IMAGE: return val_proc_image(f, v, p);
        case WHAT_CMDLINE: return val_proc_cmdline(f, v, p);
        case WHAT_UID: return val_id(v, p->uid);
        case WHAT_USER: return val_user(f, v, p->uid);
        }
        return -ENOENT;
}

static int value_parent(struct event_fields *f, enum event_field id, struct event_value *v)
{
        enum proc_what what = id == EVENT_FIELD_PARENT_IMAGE ? WHAT_IMAGE :
                              id == EVENT_FIELD_PARENT_COMMAND_LINE ? WHAT_CMDLINE :
                              id == EVENT_FIELD_PARENT_UID ? WHAT_UID : WHAT_USER;

        return value_proc(f, parent_get(f), what, v);
}

static int value_exec_flag(const struct agent_event *ev, enum event_field id, struct event_value *v)
{
        static const uint32_t bit[] = {
                [EVENT_FIELD_IMAGE_IS_MEMFD] = EV_EXEC_MEMFD,
                [EVENT_FIELD_IMAGE_DELETED] = EV_EXEC_DELETED,
                [EVENT_FIELD_IMAGE_TRUNCATED] = EV_EXEC_PATH_TRUNCATED,
                [EVENT_FIELD_STDIN_IS_SOCKET] = EV_EXEC_STDIN_SOCKET,
                [EVENT_FIELD_STDOUT_IS_SOCKET] = EV_EXEC_STDOUT_SOCKET,
                [EVENT_FIELD_STDERR_IS_SOCKET] = EV_EXEC_STDERR_SOCKET,
                [EVENT_FIELD_STDIN_IS_TTY] = EV_EXEC_STDIN_TTY,
                [EVENT_FIELD_STDOUT_IS_TTY] = EV_EXEC_STDOUT_TTY,
                [EVENT_FIELD_STDERR_IS_TTY] = EV_EXEC_STDERR_TTY,
        };

        if (ev->type != EV_EXEC)
                return -ENOENT;
        return val_bool(v, ev->exec.flags & bit[id]);
}

/* ChildProcessId .. CredCause: fork, exit and credential changes. */
static int value_lifecycle(const struct agent_event *ev, enum event_field id, struct event_value *v)
{
        const struct ev_cred *c = &ev->cred;
        int32_t st = ev->exit.code;

        if (ev->type == EV_FORK && id == EVENT_FIELD_CHILD_PROCESS_ID)
                return val_int(v, ev->fork.child_pid);
        if (ev->type == EV_FORK && id == EVENT_FIELD_CHILD_PROCESS_START_TICKS)
                return val_int(v, (int64_t)ev->fork.child_start_ticks);
        if (ev->type == EV_EXIT && id == EVENT_FIELD_EXIT_STATUS)
                return val_int(v, st);
        if (ev->type == EV_EXIT && id == EVENT_FIELD_EXIT_CODE)
                return WIFEXITED(st) ? val_int(v, WEXITSTATUS(st)) : -ENOENT;
        if (ev->type == EV_EXIT && id == EVENT_FIELD_EXIT_SIGNAL)
                return WIFSIGNALED(st) ? val_int(v, WTERMSIG(st)) : -ENOENT;
        if (ev->type != EV_CRED)
                return -ENOENT;
        switch (id) {
        case EVENT_FIELD_OLD_UID: return val_id(v, c->old_uid);
        case EVENT_FIELD_OLD_EUID: return val_id(v, c->old_euid);
        case EVENT_FIELD_NEW_UID: return val_id(v, c->new_uid);
        case EVENT_FIELD_NEW_EUID: return val_id(v, c->new_euid);
        case EVENT_FIELD_OLD_GID: return val_id(v, c->old_gid);
        case EVENT_FIELD_OLD_EGID: return val_id(v, c->old_egid);
        case EVENT_FIELD_NEW_GID: return val_id(v, c->new_gid);
        case EVENT_FIELD_NEW_EGID: return val_id(v, c->new_egid);
        case EVENT_FIELD_CRED_CAUSE: return val_static(v, cred_cause_name(c->cause));
        default: return -ENOENT;
        }
}

/* Whether the table's parent of the target is the subject. */
static bool target_is_child(struct event_fields *f, const struct proctable_proc *t)
{
        const struct proctable_proc *tp = proctable_parent(f->pt, t);
        const struct proctable_proc *self = event_fields_self(f);

        if (!tp || tp->pid != f->ev->proc.pid)
                return false;
        return !self || tp == self;
}

/* SourceImage .. BytesWritten: one process acting on another. */
static int value_access(struct event_fields *f, enum event_field id, struct event_value *v)
{
        const struct agent_event *ev = f->ev;
        const struct ev_inject *x = &ev->inject;
        const struct proctable_proc *t;

        if (event_category_of(ev) != EVENT_CATEGORY_PROCESS_ACCESS)
                return -ENOENT;
        switch (id) {
        case EVENT_FIELD_SOURCE_IMAGE: return value_image(f, EVENT_FIELD_IMAGE, v);
        case EVENT_FIELD_TARGET_PROCESS_ID: return val_int(v, x->target_pid);
        case EVENT_FIELD_TARGET_PROCESS_START_TICKS: return val_int(v, (int64_t)x->target_start_ticks);
        case EVENT_FIELD_PTRACE_REQUEST:
                return ev->type == EV_PTRACE ? val_int(v, x->request) : -ENOENT;
        case EVENT_FIELD_PTRACE_REQUEST_NAME:
                return ev->type == EV_PTRACE ? val_static(v, ptrace_request_name(x->request)) : -ENOENT;
        case EVENT_FIELD_BYTES_WRITTEN:
                return ev->type != EV_PTRACE ? val_int(v, (int64_t)x->bytes) : -ENOENT;
        default:
                break;
        }
        t = target_get(f);
        switch (id) {
        case EVENT_FIELD_TARGET_IMAGE: return value_proc(f, t, WHAT_IMAGE, v);
        case EVENT_FIELD_TARGET_COMMAND_LINE: return value_proc(f, t, WHAT_CMDLINE, v);
        case EVENT_FIELD_TARGET_UID: return value_proc(f, t, WHAT_UID, v);
        case EVENT_FIELD_TARGET_USER: return value_proc(f, t, WHAT_USER, v);
        case EVENT_FIELD_TARGET_IS_CHILD: return t ? val_bool(v, target_is_child(f, t)) : -ENOENT;
        default: return -ENOENT;
        }
}

/* Source is the side that opened the connection, as in Sysmon: this process
 * for connect, the peer for accept. The sensor gives saddr/sport as the
 * local end and daddr/dport as the remote end. */
static int value_net(struct event_fields *f, enum event_field id, struct event_value *v)
{
        const struct ev_net *n = &f->ev->net;
        bool out = f->ev->type == EV_CONNECT, v6 = n->family == AF_INET6;
        int af = v6 ? AF_INET6 : AF_INET;

        if (f->ev->type != EV_CONNECT && f->ev->type != EV_ACCEPT)
                return -ENOENT;
        if (!f->net_done) {
                f->net_done = true;
                if (!inet_ntop(af, n->saddr, f->net_local, sizeof(f->net_local)))
                        f->net_local[0] = '\0';
                if (!inet_ntop(af, n->daddr, f->net_remote, sizeof(f->net_remote)))
                        f->net_remote[0] = '\0';
        }
        switch (id) {
        case EVENT_FIELD_INITIATED: return val_static(v, out ? "true" : "false");
        case EVENT_FIELD_PROTOCOL:
                return val_static(v, n->protocol == EV_PROTO_UDP ? "udp" : n->protocol == EV_PROTO_TCP ? "tcp" : "other");
        case EVENT_FIELD_SOURCE_IP: return val_static(v, out ? f->net_local : f->net_remote);
        case EVENT_FIELD_SOURCE_PORT: return val_int(v, out ? n->sport : n->dport);
        case EVENT_FIELD_DESTINATION_IP: return val_static(v, out ? f->net_remote : f->net_local);
        case EVENT_FIELD_DESTINATION_PORT: return val_int(v, out ? n->dport : n->sport);
        case EVENT_FIELD_SOURCE_IS_IPV6:
        case EVENT_FIELD_DESTINATION_IS_IPV6: return val_static(v, v6 ? "true" : "false");
        default: return -ENOENT;
        }
}

int event_fields_value(struct event_fields *f, enum event_field id, struct event_value *v)
{
        const struct agent_event *ev = f->ev;
        int cat = event_category_of(ev);

        switch (id) {
        case EVENT_FIELD_EVENT_TYPE:
                return val_static(v, ev->type == EV_FILE ? file_op_type(ev->file.op) : event_type_name(ev->type));
        case EVENT_FIELD_CATEGORY: return val_static(v, cat >= 0 ? event_category_names[cat] : NULL);
        case EVENT_FIELD_SENSOR: return val_static(v, f->sensor);
        case EVENT_FIELD_TIMESTAMP ... EVENT_FIELD_COMM: return value_subject(f, id, v);
        case EVENT_FIELD_IMAGE ... EVENT_FIELD_CURRENT_DIRECTORY: return value_image(f, id, v);
        case EVENT_FIELD_PARENT_IMAGE ... EVENT_FIELD_PARENT_USER: return value_parent(f, id, v);
        case EVENT_FIELD_IMAGE_IS_MEMFD ... EVENT_FIELD_STDERR_IS_TTY: return value_exec_flag(ev, id, v);
        case EVENT_FIELD_CHILD_PROCESS_ID ... EVENT_FIELD_CRED_CAUSE: return value_lifecycle(ev, id, v);
        case EVENT_FIELD_SOURCE_IMAGE ... EVENT_FIELD_BYTES_WRITTEN: return value_access(f, id, v);
        case EVENT_FIELD_MEMFD_NAME:
                return ev->type == EV_MEMFD ? val_text(f, v, ev->memfd.name, sizeof(ev->memfd.name) - 1) : -ENOENT;
        case EVENT_FIELD_MEMFD_FLAGS: return ev->type == EV_MEMFD ? val_int(v, ev->memfd.flags) : -ENOENT;
        case EVENT_FIELD_INITIATED ... EVENT_FIELD_DESTINATION_IS_IPV6: return value_net(f, id, v);
        case EVENT_FIELD_TARGET_FILENAME:
                return ev->type == EV_FILE ? val_text(f, v, ev->file.path, sizeof(ev->file.path) - 1) : -ENOENT;
        case EVENT_FIELD_COUNT:
                break;
        }
        return -ENOENT;
}

/* v in decimal into out (24 bytes), NUL-terminated; snprintf costs more
 * than the rest of filling a field. Returns the length. */
static size_t decimal_format(int64_t v, char *out)
{
        char tmp[24];
        uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        size_t n = 0, len = 0;

        do {
                tmp[n++] = (char)('0' + u % 10);
                u /= 10;
        } while (u);
        if (v < 0)
                out[len++] = '-';
        while (n)
                out[len++] = tmp[--n];
        out[len] = '\0';
        return len;
}

int event_fields_text(struct event_fields *f, enum event_field id, const char **ret_str,
                      size_t *ret_len)
{
        struct event_value v;
        char *p;
        int r = event_fields_value(f, id, &v);

        if (r < 0)
                return r;
        switch (v.type) {
        case EVENT_FIELD_STRING:
                *ret_str = v.str;
                *ret_len = v.len;
                return 0;
        case EVENT_FIELD_BOOL:
                *ret_str = v.num ? "true" : "false";
                *ret_len = v.num ? 4 : 5;
                return 0;
        case EVENT_FIELD_INT:
                p = arena_room(f, 24);
                if (!p)
                        return -ENOBUFS;
                *ret_len = decimal_format(v.num, p);
                f->arena_len += *ret_len + 1;
                *ret_str = p;
                return 0;
        }
        return -ENOENT;
}

void event_fields_begin(struct event_fields *f, const struct agent_event *ev,
                        const struct proctable *pt)
{
        f->ev = ev;
        f->pt = pt;
        f->self.done = f->parent.done = f->target.done = false;
        f->net_done = false;
        event_fields_scratch_reset(f);
}

struct event_fields *event_fields_new(const char *sensor)
{
        struct event_fields *f = calloc(1, sizeof(*f));

        if (f)
                f->sensor = sensor;
        return f;
}

void event_fields_sensor_set(struct event_fields *f, const char *sensor)
{
        f->sensor = sensor;
}

void event_fields_free(struct event_fields *f)
{
        free(f);
}
