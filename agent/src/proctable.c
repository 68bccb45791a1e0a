/* proctable: the process table with lineage (see proctable.h).
 *
 * Entries live in one array fixed at creation (its pages are touched only
 * as the table grows into them), chained by pid in a hash
 * table, and threaded on two lists: every entry on the "use" list (most
 * recently seen first), exited ones also on the "exit" list (in the order
 * they exited), so eviction and expiry take a list's end in O(1).
 *
 * The text of a process (image, argv, cwd) sits in a reference-counted
 * block shared by a parent and the children it forked until they exec.
 * Blocks come in four size classes; a freed block goes to its class's free
 * list and is reused, so once the table has grown to its working size an
 * event allocates nothing. The bytes held by blocks, free or not, never
 * exceed the table's string budget.
 *
 * proctable_seed() reads /proc through lib/procfs, bounded by the table's
 * capacity and the event caps. */
#include "agent/src/proctable.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "procfs/procfs.h"

#define NIL UINT32_MAX
#define CLASS_COUNT 4

static const size_t class_size[CLASS_COUNT] = { 256, 1024, 4096, 16384 };

struct pt_text {
        uint32_t refs;
        uint32_t cls;
        uint32_t image_len, args_len, cwd_len, argc, flags;
        struct pt_text *next_free;
        char data[];                    /* image \0 args... cwd \0 */
};

struct pt_entry {
        struct proctable_proc p;        /* first: a proctable_proc * is a pt_entry * */
        struct pt_text *text;           /* NULL: nothing known */
        uint32_t hnext;                 /* hash chain, or free list when unused */
        uint32_t use_prev, use_next;
        uint32_t exit_prev, exit_next;
        bool used;
        bool forked;                    /* its fork was seen: p.ppid is the forker */
};

struct proctable {
        struct pt_entry *e;
        uint32_t capacity, count;
        uint32_t *bucket;
        uint32_t mask;
        uint32_t free_head;             /* entries freed, chained by hnext */
        uint32_t fresh;                 /* entries from here on were never used */
        uint32_t use_head, use_tail;    /* head: most recently seen */
        uint32_t exit_head, exit_tail;  /* head: exited first */
        uint64_t last_exit_ns;
        struct pt_text *free_text[CLASS_COUNT];
        size_t text_bytes, text_max;
};

static uint32_t pid_hash(const struct proctable *pt, uint32_t pid)
{
        return (pid * 2654435761u) & pt->mask;
}

static uint64_t mono_now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- text blocks ---- */

static void text_unref(struct proctable *pt, struct pt_text *t)
{
        if (!t || --t->refs > 0)
                return;
        t->next_free = pt->free_text[t->cls];
        pt->free_text[t->cls] = t;
}

/* Frees blocks on the free lists of classes other than keep, so that their
 * bytes can serve another class. Returns true if anything was freed. */
static bool text_trim(struct proctable *pt, unsigned keep)
{
        bool any = false;

        for (unsigned c = 0; c < CLASS_COUNT; c++) {
                while (c != keep && pt->free_text[c]) {
                        struct pt_text *t = pt->free_text[c];

                        pt->free_text[c] = t->next_free;
                        pt->text_bytes -= class_size[c];
                        free(t);
                        any = true;
                }
        }
        return any;
}

static void entry_remove(struct proctable *pt, uint32_t i);

/* A block able to hold need bytes of data, or NULL when the budget is spent
 * even after trimming free lists and evicting exited processes (but not
 * entry keep, which the block is for). */
static struct pt_text *text_get(struct proctable *pt, size_t need, uint32_t keep)
{
        uint32_t victim;

        struct pt_text *t;
        unsigned c = 0;

        while (c < CLASS_COUNT && sizeof(struct pt_text) + need > class_size[c])
                c++;
        if (c == CLASS_COUNT)
                return NULL;
        for (;;) {
                t = pt->free_text[c];
                if (t) {
                        pt->free_text[c] = t->next_free;
                        break;
                }
                if (pt->text_bytes + class_size[c] <= pt->text_max) {
                        t = malloc(class_size[c]);
                        if (!t)
                                return NULL;
                        pt->text_bytes += class_size[c];
                        break;
                }
                if (text_trim(pt, c))
                        continue;
                victim = pt->exit_head;
                if (victim == keep)
                        victim = pt->e[victim].exit_next;
                if (victim == NIL)
                        return NULL;
                entry_remove(pt, victim);
        }
        memset(t, 0, sizeof(*t));
        t->refs = 1;
        t->cls = c;
        return t;
}

/* Copies image, argv (NUL-separated, args_len bytes) and cwd into a new
 * block; argv gets a final NUL if the sensor's lacked one. */
static struct pt_text *text_make(struct proctable *pt, uint32_t keep, const char *image,
                                 size_t image_len, const char *args, size_t args_len,
                                 const char *cwd, size_t cwd_len, uint32_t flags)
{
        bool add_nul = args_len > 0 && args[args_len - 1] != '\0';
        size_t alen = args_len + (add_nul ? 1 : 0);
        struct pt_text *t = text_get(pt, image_len + 1 + alen + cwd_len + 1, keep);
        char *d;

        if (!t)
                return NULL;
        d = t->data;
        memcpy(d, image, image_len);
        d[image_len] = '\0';
        d += image_len + 1;
        memcpy(d, args, args_len);
        if (add_nul)
                d[args_len] = '\0';
        for (size_t i = 0; i < alen; i++)
                t->argc += d[i] == '\0';
        d += alen;
        memcpy(d, cwd, cwd_len);
        d[cwd_len] = '\0';
        t->image_len = (uint32_t)image_len;
        t->args_len = (uint32_t)alen;
        t->cwd_len = (uint32_t)cwd_len;
        t->flags = flags;
        return t;
}

/* Points the public view of e at its text block (or at "" without one). */
static void entry_text_set(struct proctable *pt, struct pt_entry *e, struct pt_text *t)
{
        text_unref(pt, e->text);
        e->text = t;
        if (!t) {
                e->p.image = e->p.args = e->p.cwd = "";
                e->p.image_len = e->p.args_len = e->p.cwd_len = e->p.argc = 0;
                e->p.exec_flags = 0;
                return;
        }
        e->p.image = t->data;
        e->p.image_len = t->image_len;
        e->p.args = t->data + t->image_len + 1;
        e->p.args_len = t->args_len;
        e->p.argc = t->argc;
        e->p.cwd = e->p.args + t->args_len;
        e->p.cwd_len = t->cwd_len;
        e->p.exec_flags = t->flags;
}

/* ---- lists ---- */

static void use_unlink(struct proctable *pt, uint32_t i)
{
        struct pt_entry *e = &pt->e[i];

        if (e->use_prev != NIL)
                pt->e[e->use_prev].use_next = e->use_next;
        else
                pt->use_head = e->use_next;
        if (e->use_next != NIL)
                pt->e[e->use_next].use_prev = e->use_prev;
        else
                pt->use_tail = e->use_prev;
        e->use_prev = e->use_next = NIL;
}

static void use_push_front(struct proctable *pt, uint32_t i)
{
        struct pt_entry *e = &pt->e[i];

        e->use_prev = NIL;
        e->use_next = pt->use_head;
        if (pt->use_head != NIL)
                pt->e[pt->use_head].use_prev = i;
        else
                pt->use_tail = i;
        pt->use_head = i;
}

static void exit_unlink(struct proctable *pt, uint32_t i)
{
        struct pt_entry *e = &pt->e[i];

        if (!e->p.exited)
                return;
        if (e->exit_prev != NIL)
                pt->e[e->exit_prev].exit_next = e->exit_next;
        else
                pt->exit_head = e->exit_next;
        if (e->exit_next != NIL)
                pt->e[e->exit_next].exit_prev = e->exit_prev;
        else
                pt->exit_tail = e->exit_prev;
        e->exit_prev = e->exit_next = NIL;
}

/* Marks e exited at t (kept monotonic so the exit list stays in order). */
static void entry_mark_exited(struct proctable *pt, uint32_t i, uint64_t t, int32_t code)
{
        struct pt_entry *e = &pt->e[i];

        if (e->p.exited)
                return;
        if (t < pt->last_exit_ns)
                t = pt->last_exit_ns;
        pt->last_exit_ns = t;
        e->p.exited = true;
        e->p.exit_code = code;
        e->p.exit_mono_ns = t;
        e->exit_next = NIL;
        e->exit_prev = pt->exit_tail;
        if (pt->exit_tail != NIL)
                pt->e[pt->exit_tail].exit_next = i;
        else
                pt->exit_head = i;
        pt->exit_tail = i;
}

/* ---- entries ---- */

static void entry_remove(struct proctable *pt, uint32_t i)
{
        struct pt_entry *e = &pt->e[i];
        uint32_t *link = &pt->bucket[pid_hash(pt, e->p.pid)];

        while (*link != i)
                link = &pt->e[*link].hnext;
        *link = e->hnext;
        exit_unlink(pt, i);
        use_unlink(pt, i);
        text_unref(pt, e->text);
        e->text = NULL;
        e->used = false;
        e->hnext = pt->free_head;
        pt->free_head = i;
        pt->count--;
}

/* A new entry for (pid, start_ticks), evicting when the table is full.
 * Never fails: a table of capacity >= 1 always has something to evict. */
static uint32_t entry_add(struct proctable *pt, uint32_t pid, uint64_t start_ticks)
{
        uint32_t i, b;
        struct pt_entry *e;

        if (pt->free_head == NIL && pt->fresh == pt->capacity)
                entry_remove(pt, pt->exit_head != NIL ? pt->exit_head : pt->use_tail);
        if (pt->free_head != NIL) {
                i = pt->free_head;
                pt->free_head = pt->e[i].hnext;
        } else {
                i = pt->fresh++;
        }
        e = &pt->e[i];
        memset(e, 0, sizeof(*e));
        e->used = true;
        e->p.pid = pid;
        e->p.start_ticks = start_ticks;
        e->p.uid = e->p.euid = e->p.gid = e->p.egid = e->p.loginuid = UINT32_MAX;
        e->exit_prev = e->exit_next = NIL;
        entry_text_set(pt, e, NULL);
        b = pid_hash(pt, pid);
        e->hnext = pt->bucket[b];
        pt->bucket[b] = i;
        use_push_front(pt, i);
        pt->count++;
        return i;
}

static uint32_t find_exact(const struct proctable *pt, uint32_t pid, uint64_t start_ticks)
{
        for (uint32_t i = pt->bucket[pid_hash(pt, pid)]; i != NIL; i = pt->e[i].hnext)
                if (pt->e[i].p.pid == pid && pt->e[i].p.start_ticks == start_ticks)
                        return i;
        return NIL;
}

/* The live entry with pid, else the one that started last; NIL if none. */
static uint32_t find_pid(const struct proctable *pt, uint32_t pid)
{
        uint32_t best = NIL;

        for (uint32_t i = pt->bucket[pid_hash(pt, pid)]; i != NIL; i = pt->e[i].hnext) {
                const struct proctable_proc *p = &pt->e[i].p;

                if (p->pid != pid)
                        continue;
                if (!p->exited)
                        return i;
                if (best == NIL || p->start_ticks > pt->e[best].p.start_ticks)
                        best = i;
        }
        return best;
}

/* Copies the ids that src knows (a sensor gives UINT32_MAX for one it does
 * not), so that what the table learned earlier is kept. */
static void id_set(uint32_t *dst, uint32_t v)
{
        if (v != UINT32_MAX)
                *dst = v;
}

static void proc_ids_set(struct proctable_proc *p, const struct ev_proc *src)
{
        id_set(&p->uid, src->uid);
        id_set(&p->euid, src->euid);
        id_set(&p->gid, src->gid);
        id_set(&p->egid, src->egid);
        id_set(&p->loginuid, src->loginuid);
        if (src->cgroup_id)
                p->cgroup_id = src->cgroup_id;
        if (src->comm[0])
                memcpy(p->comm, src->comm, sizeof(p->comm));
        p->comm[sizeof(p->comm) - 1] = '\0';
}

/* The entry an event's process names, created if unknown. A live entry of
 * the same pid that started earlier is a process whose exit was missed: it
 * is marked exited, so that it expires and no lookup takes it for this one
 * (a late event of a process older than the live one marks nothing). */
static uint32_t entry_for(struct proctable *pt, const struct ev_proc *src, uint64_t now)
{
        uint32_t i = src->start_ticks ? find_exact(pt, src->pid, src->start_ticks) : find_pid(pt, src->pid);

        if (i == NIL && src->start_ticks) {
                uint32_t old = find_pid(pt, src->pid);

                if (old != NIL && !pt->e[old].p.exited) {
                        if (pt->e[old].p.start_ticks == 0) {
                                pt->e[old].p.start_ticks = src->start_ticks;
                                i = old;
                        } else if (pt->e[old].p.start_ticks < src->start_ticks) {
                                entry_mark_exited(pt, old, now, 0);
                        }
                }
        }
        if (i == NIL) {
                i = entry_add(pt, src->pid, src->start_ticks);
                proc_ids_set(&pt->e[i].p, src);
                pt->e[i].p.ppid = src->ppid;
                return i;
        }
        use_unlink(pt, i);
        use_push_front(pt, i);
        return i;
}

/* ---- feeding ---- */

static void feed_exec(struct proctable *pt, uint32_t i, const struct agent_event *ev)
{
        struct pt_entry *e = &pt->e[i];
        const struct ev_exec *x = &ev->exec;
        size_t args_len = x->args_len < EV_ARGS_MAX ? x->args_len : EV_ARGS_MAX;
        struct pt_text *t;

        proc_ids_set(&e->p, &ev->proc);
        /* The parent is the process seen forking this one: after a double
         * fork the kernel reparents the child to a reaper, and a sensor that
         * reads /proc late may see that even when the exec came first. The
         * exec's ppid serves only when the fork was not seen. */
        if (ev->proc.ppid && !e->forked)
                e->p.ppid = ev->proc.ppid;
        t = text_make(pt, i, x->image, strnlen(x->image, EV_PATH_MAX - 1), x->args, args_len,
                      x->cwd, strnlen(x->cwd, EV_PATH_MAX - 1), x->flags);
        entry_text_set(pt, e, t);
        e->p.exec_seen = t != NULL;
}

/* ev->proc forked a child: the child starts with its parent's ids and text,
 * unless its exec was reported first or the parent was evicted to make room
 * for it. */
static void feed_fork(struct proctable *pt, uint32_t parent, const struct agent_event *ev)
{
        uint32_t c = find_exact(pt, ev->fork.child_pid, ev->fork.child_start_ticks);
        struct pt_entry *pe = &pt->e[parent], *ce;

        if (c == NIL) {
                struct ev_proc child = ev->proc;

                child.pid = child.tid = ev->fork.child_pid;
                child.ppid = ev->proc.pid;
                child.start_ticks = ev->fork.child_start_ticks;
                c = entry_for(pt, &child, ev->mono_ns);
                ce = &pt->e[c];
                if (!ce->p.exec_seen && ce != pe && pe->used && pe->p.pid == ev->proc.pid) {
                        ce->p.loginuid = pe->p.loginuid;
                        if (pe->text)
                                pe->text->refs++;
                        entry_text_set(pt, ce, pe->text);
                }
        }
        ce = &pt->e[c];
        ce->p.ppid = ev->proc.pid;
        ce->p.parent_start_ticks = ev->proc.start_ticks;
        ce->forked = true;
}

void proctable_feed(struct proctable *pt, const struct agent_event *ev)
{
        uint64_t now = ev->mono_ns ? ev->mono_ns : mono_now_ns();
        uint32_t i;

        if (ev->proc.pid == 0)          /* no subject (cnproc's ptrace detach) */
                return;
        proctable_expire(pt, now);
        i = entry_for(pt, &ev->proc, now);
        switch (ev->type) {
        case EV_EXEC:
                feed_exec(pt, i, ev);
                break;
        case EV_FORK:
                feed_fork(pt, i, ev);
                break;
        case EV_EXIT:
                entry_mark_exited(pt, i, now, ev->exit.code);
                break;
        case EV_CRED:
                id_set(&pt->e[i].p.uid, ev->cred.new_uid);
                id_set(&pt->e[i].p.euid, ev->cred.new_euid);
                id_set(&pt->e[i].p.gid, ev->cred.new_gid);
                id_set(&pt->e[i].p.egid, ev->cred.new_egid);
                break;
        default:
                break;
        }
}

unsigned proctable_expire(struct proctable *pt, uint64_t now_mono_ns)
{
        unsigned n = 0;

        while (pt->exit_head != NIL &&
               pt->e[pt->exit_head].p.exit_mono_ns + PROCTABLE_GRACE_NS <= now_mono_ns) {
                entry_remove(pt, pt->exit_head);
                n++;
        }
        return n;
}

/* ---- lookups ---- */

const struct proctable_proc *proctable_lookup(const struct proctable *pt, uint32_t pid,
                                              uint64_t start_ticks)
{
        uint32_t i = start_ticks ? find_exact(pt, pid, start_ticks) : find_pid(pt, pid);

        return i == NIL ? NULL : &pt->e[i].p;
}

const struct proctable_proc *proctable_parent(const struct proctable *pt,
                                              const struct proctable_proc *p)
{
        const struct proctable_proc *best = NULL;

        if (p->ppid == 0 || p->ppid == p->pid)
                return NULL;
        if (p->parent_start_ticks)
                return proctable_lookup(pt, p->ppid, p->parent_start_ticks);
        /* The latest process with that pid that started no later than p: one
         * that started after p reused the pid and cannot be its parent. */
        for (uint32_t i = pt->bucket[pid_hash(pt, p->ppid)]; i != NIL; i = pt->e[i].hnext) {
                const struct proctable_proc *c = &pt->e[i].p;

                if (c->pid != p->ppid)
                        continue;
                if (p->start_ticks && c->start_ticks > p->start_ticks)
                        continue;
                if (!best || c->start_ticks > best->start_ticks)
                        best = c;
        }
        return best;
}

unsigned proctable_ancestors(const struct proctable *pt, const struct proctable_proc *p,
                             const struct proctable_proc **ret, unsigned max)
{
        unsigned n = 0;

        if (max > PROCTABLE_ANCESTRY_MAX)
                max = PROCTABLE_ANCESTRY_MAX;
        while (n < max && p->pid != 1) {
                p = proctable_parent(pt, p);
                if (!p)
                        break;
                ret[n++] = p;
        }
        return n;
}

uint32_t proctable_count(const struct proctable *pt)
{
        return pt->count;
}

size_t proctable_string_bytes(const struct proctable *pt)
{
        return pt->text_bytes;
}

/* ---- life ---- */

struct proctable *proctable_new(uint32_t capacity, size_t string_bytes)
{
        struct proctable *pt = calloc(1, sizeof(*pt));
        uint32_t nb = 16;

        if (!pt)
                return NULL;
        pt->capacity = capacity ? capacity : PROCTABLE_CAPACITY_DEFAULT;
        pt->text_max = string_bytes ? string_bytes : PROCTABLE_STRING_BYTES_DEFAULT;
        while (nb < pt->capacity && nb < (1u << 30))
                nb <<= 1;
        pt->mask = nb - 1;
        pt->e = calloc(pt->capacity, sizeof(*pt->e));
        pt->bucket = malloc(nb * sizeof(*pt->bucket));
        if (!pt->e || !pt->bucket) {
                proctable_free(pt);
                return NULL;
        }
        memset(pt->bucket, 0xff, nb * sizeof(*pt->bucket));
        pt->free_head = NIL;
        pt->use_head = pt->use_tail = pt->exit_head = pt->exit_tail = NIL;
        return pt;
}

void proctable_free(struct proctable *pt)
{
        if (!pt)
                return;
        if (pt->e)
                for (uint32_t i = 0; i < pt->fresh; i++)
                        if (pt->e[i].used)
                                text_unref(pt, pt->e[i].text);
        text_trim(pt, CLASS_COUNT);
        free(pt->e);
        free(pt->bucket);
        free(pt);
}

/* ---- seeding from /proc ---- */

/* Reads what /proc/PID (dirfd) shows of a process into ev: the subject of an
 * exec event. Returns 0 or a negative errno (the process is gone). */
static int seed_read(int dfd, uint32_t pid, struct agent_event *ev)
{
        struct procfs_stat st;
        struct procfs_status ids;
        struct procfs_args a;
        uint32_t exe_flags = 0;
        bool cut = false;
        int r;

        memset(ev, 0, sizeof(*ev));
        r = procfs_stat_read(dfd, &st);
        if (r < 0)
                return r;
        ev->type = EV_EXEC;
        ev->proc.pid = ev->proc.tid = pid;
        ev->proc.ppid = st.ppid;
        ev->proc.start_ticks = st.start_ticks;
        memcpy(ev->proc.comm, st.comm, sizeof(ev->proc.comm));
        ev->proc.comm[sizeof(ev->proc.comm) - 1] = '\0';
        ev->proc.uid = ev->proc.euid = ev->proc.gid = ev->proc.egid = UINT32_MAX;
        if (procfs_status_read(dfd, &ids) == 0) {
                ev->proc.uid = ids.uid[PROCFS_ID_REAL];
                ev->proc.euid = ids.uid[PROCFS_ID_EFFECTIVE];
                ev->proc.gid = ids.gid[PROCFS_ID_REAL];
                ev->proc.egid = ids.gid[PROCFS_ID_EFFECTIVE];
        }
        if (procfs_loginuid_read(dfd, &ev->proc.loginuid) < 0)
                ev->proc.loginuid = UINT32_MAX;
        if (st.kthread)
                return 0;
        if (procfs_exe_read(dfd, ev->exec.image, sizeof(ev->exec.image), &exe_flags) < 0)
                ev->exec.image[0] = '\0';
        if (procfs_cwd_read(dfd, ev->exec.cwd, sizeof(ev->exec.cwd), &cut) < 0)
                ev->exec.cwd[0] = '\0';
        if (procfs_cmdline_read(dfd, ev->exec.args, sizeof(ev->exec.args), EV_ARGC_MAX, &a) == 0) {
                ev->exec.args_len = a.len;
                ev->exec.argc = a.argc;
                if (a.truncated)
                        ev->exec.flags |= EV_EXEC_ARGS_TRUNCATED;
        }
        if (exe_flags & PROCFS_EXE_DELETED)
                ev->exec.flags |= EV_EXEC_DELETED;
        if (exe_flags & PROCFS_EXE_MEMFD)
                ev->exec.flags |= EV_EXEC_MEMFD;
        if (exe_flags & PROCFS_PATH_TRUNCATED)
                ev->exec.flags |= EV_EXEC_PATH_TRUNCATED;
        return 0;
}

int proctable_seed(struct proctable *pt, const char *proc_root)
{
        struct agent_event *ev;
        struct dirent *de;
        DIR *d;
        int added = 0;

        d = opendir(proc_root);
        if (!d)
                return -errno;
        ev = malloc(sizeof(*ev));
        if (!ev) {
                closedir(d);
                return -ENOMEM;
        }
        while (pt->count < pt->capacity && (de = readdir(d))) {
                char *end;
                unsigned long pid = strtoul(de->d_name, &end, 10);
                uint32_t i;
                int dfd;

                if (*end || pid == 0 || pid > UINT32_MAX)
                        continue;
                dfd = procfs_pid_open(proc_root, (uint32_t)pid);
                if (dfd < 0)
                        continue;       /* it exited meanwhile */
                if (seed_read(dfd, (uint32_t)pid, ev) == 0 &&
                    find_exact(pt, ev->proc.pid, ev->proc.start_ticks) == NIL) {
                        i = entry_for(pt, &ev->proc, mono_now_ns());
                        if (ev->exec.image[0] || ev->exec.args_len)
                                feed_exec(pt, i, ev);
                        added++;
                }
                close(dfd);
        }
        free(ev);
        closedir(d);
        return added;
}
