/* detect_builtin: the built-in detectors (see detect_builtin.h).
 *
 * Both memories are the same shape: a fixed array of slots, a hash index
 * over them and a list from most to least recently used; a full memory
 * reuses its least recently used slot. They are made once, so feeding
 * events allocates nothing. An entry older than the time to live counts as
 * absent and is dropped when met. */
#include "agent/src/detect_builtin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX
/* `curl URL > FILE`: how long before the tool's exec its parent may have
 * opened FILE for it (the shell opens the redirection, then forks and execs) */
#define REDIRECT_WINDOW_NS 2000000000ull

static const char *const download_exec_tags[] = {
        "attack.command-and-control", "attack.t1105", "attack.execution", "attack.t1204",
        "attack.t1204.002",
};

const struct alert_rule detect_builtin_download_exec = {
        .id = DETECT_BUILTIN_DOWNLOAD_EXEC_ID,
        .title = "File downloaded and then executed",
        .source = "builtin",
        .level = SIGMA_LEVEL_HIGH,
        .tags = download_exec_tags,
        .n_tags = sizeof(download_exec_tags) / sizeof(download_exec_tags[0]),
};

/* ---- a bounded LRU index ---- */

struct lru_node {
        uint64_t hash;
        uint64_t mono_ns;               /* when last set */
        uint32_t hnext, prev, next;
        bool used;
};

struct lru {
        struct lru_node *node;
        uint32_t *bucket;
        uint32_t cap, mask, count;
        uint32_t head, tail;            /* most and least recently used */
        uint32_t free_head;             /* unused slots, chained by hnext */
};

static int lru_init(struct lru *l, uint32_t cap)
{
        uint32_t nb = 1;

        while (nb < 2 * cap)
                nb <<= 1;
        l->node = calloc(cap, sizeof(*l->node));
        l->bucket = malloc(nb * sizeof(*l->bucket));
        if (!l->node || !l->bucket)
                return -ENOMEM;
        memset(l->bucket, 0xff, nb * sizeof(*l->bucket));
        for (uint32_t i = 0; i < cap; i++)
                l->node[i].hnext = i + 1 < cap ? i + 1 : NIL;
        l->free_head = cap ? 0 : NIL;
        l->cap = cap;
        l->mask = nb - 1;
        l->head = l->tail = NIL;
        return 0;
}

static void lru_release(struct lru *l)
{
        free(l->node);
        free(l->bucket);
}

static void lru_unlink(struct lru *l, uint32_t i)
{
        struct lru_node *n = &l->node[i];

        if (n->prev != NIL)
                l->node[n->prev].next = n->next;
        else
                l->head = n->next;
        if (n->next != NIL)
                l->node[n->next].prev = n->prev;
        else
                l->tail = n->prev;
}

static void lru_push_front(struct lru *l, uint32_t i)
{
        struct lru_node *n = &l->node[i];

        n->prev = NIL;
        n->next = l->head;
        if (l->head != NIL)
                l->node[l->head].prev = i;
        l->head = i;
        if (l->tail == NIL)
                l->tail = i;
}

static void lru_remove(struct lru *l, uint32_t i)
{
        uint32_t *p = &l->bucket[l->node[i].hash & l->mask];

        while (*p != i)
                p = &l->node[*p].hnext;
        *p = l->node[i].hnext;
        lru_unlink(l, i);
        l->node[i].used = false;
        l->node[i].hnext = l->free_head;
        l->free_head = i;
        l->count--;
}

/* A slot for a new key: a free one, else the least recently used. */
static uint32_t lru_insert(struct lru *l, uint64_t hash, uint64_t now)
{
        uint32_t *b = &l->bucket[hash & l->mask];
        uint32_t i;

        if (l->free_head == NIL)
                lru_remove(l, l->tail);
        i = l->free_head;
        l->free_head = l->node[i].hnext;
        l->node[i] = (struct lru_node){ .hash = hash, .mono_ns = now, .hnext = *b, .used = true };
        *b = i;
        lru_push_front(l, i);
        l->count++;
        return i;
}

static void lru_touch(struct lru *l, uint32_t i, uint64_t now)
{
        l->node[i].mono_ns = now;
        lru_unlink(l, i);
        lru_push_front(l, i);
}

/* ---- the detector ---- */

struct file_entry {
        uint32_t path_len;
        char path[DETECT_BUILTIN_PATH_KEEP];
        uint32_t writer_pid;
        uint64_t writer_start_ticks;
        char writer_comm[EV_COMM_MAX];
        uint64_t mono_ns;                       /* when written */
        int64_t wall_ns;
        char why[DETECT_BUILTIN_WHY_MAX];       /* "" until known to be downloaded */
};

/* A process that downloads, or (redirect) one whose child became a
 * download tool at tool_ns: only what it wrote just before counts. */
struct proc_entry {
        uint32_t pid;
        uint64_t start_ticks;
        bool redirect;
        uint64_t tool_ns;
        char why[DETECT_BUILTIN_WHY_MAX];
};

struct detect_builtin {
        uint64_t ttl_ns;
        struct lru files_idx, procs_idx;
        struct file_entry *files;
        struct proc_entry *procs;
};

static uint64_t hash_bytes(const void *p, size_t n, uint64_t h)
{
        const unsigned char *s = p;

        for (size_t i = 0; i < n; i++)
                h = (h ^ s[i]) * 0x100000001b3ull;      /* FNV-1a */
        return h;
}

static uint64_t proc_hash(uint32_t pid, uint64_t start)
{
        uint64_t h = hash_bytes(&pid, sizeof(pid), 0xcbf29ce484222325ull);

        return hash_bytes(&start, sizeof(start), h);
}

static bool expired(const struct detect_builtin *b, const struct lru_node *n, uint64_t now)
{
        return now > n->mono_ns && now - n->mono_ns > b->ttl_ns;
}

/* Slot i when its entry is still fresh; else forgets it and returns NIL. */
static uint32_t fresh(struct detect_builtin *b, struct lru *l, uint32_t i, uint64_t now)
{
        if (!expired(b, &l->node[i], now))
                return i;
        lru_remove(l, i);
        return NIL;
}

static uint32_t proc_find(struct detect_builtin *b, uint32_t pid, uint64_t start, uint64_t now)
{
        uint64_t h = proc_hash(pid, start);
        struct lru *l = &b->procs_idx;

        for (uint32_t i = l->bucket[h & l->mask]; i != NIL; i = l->node[i].hnext)
                if (l->node[i].hash == h && b->procs[i].pid == pid && b->procs[i].start_ticks == start)
                        return fresh(b, l, i, now);
        return NIL;
}

/* Remembers that a process downloads (a tool, or it connected out), or
 * with redirect that its child just became a download tool. */
static void proc_mark(struct detect_builtin *b, uint32_t pid, uint64_t start, uint64_t now,
                      const char *why, bool redirect)
{
        uint32_t i = proc_find(b, pid, start, now);
        struct proc_entry *e;

        if (i != NIL) {
                lru_touch(&b->procs_idx, i, now);
                e = &b->procs[i];
                if (!e->redirect)
                        return;         /* it downloads itself: keep the first reason */
        } else {
                i = lru_insert(&b->procs_idx, proc_hash(pid, start), now);
                e = &b->procs[i];
        }
        e->pid = pid;
        e->start_ticks = start;
        e->redirect = redirect;
        e->tool_ns = now;
        snprintf(e->why, sizeof(e->why), "%s", why);
}

static uint32_t file_find(struct detect_builtin *b, const char *path, size_t len, uint64_t now)
{
        uint64_t h = hash_bytes(path, len, 0xcbf29ce484222325ull);
        size_t keep = len < DETECT_BUILTIN_PATH_KEEP ? len : DETECT_BUILTIN_PATH_KEEP - 1;
        struct lru *l = &b->files_idx;

        for (uint32_t i = l->bucket[h & l->mask]; i != NIL; i = l->node[i].hnext) {
                const struct file_entry *e = &b->files[i];

                if (l->node[i].hash == h && e->path_len == len && memcmp(e->path, path, keep) == 0)
                        return fresh(b, l, i, now);
        }
        return NIL;
}

/* Fills e->why when its writer is known to download; true if it does. */
static bool file_downloaded(struct detect_builtin *b, struct file_entry *e, uint64_t now)
{
        uint32_t p;

        if (e->why[0])
                return true;
        p = proc_find(b, e->writer_pid, e->writer_start_ticks, now);
        if (p == NIL)
                return false;
        if (b->procs[p].redirect &&
            (e->mono_ns > b->procs[p].tool_ns || b->procs[p].tool_ns - e->mono_ns > REDIRECT_WINDOW_NS))
                return false;
        snprintf(e->why, sizeof(e->why), "%s", b->procs[p].why);
        return true;
}

static void on_file(struct detect_builtin *b, const struct agent_event *ev, uint64_t now)
{
        const char *path = ev->file.path;
        size_t len = strnlen(path, sizeof(ev->file.path));
        uint32_t i = file_find(b, path, len, now);
        struct file_entry *e;

        if (ev->file.op == EV_FILE_DELETE) {
                if (i != NIL)
                        lru_remove(&b->files_idx, i);
                return;
        }
        /* a downloaded file stays downloaded whoever writes to it next */
        if (i != NIL && file_downloaded(b, &b->files[i], now)) {
                lru_touch(&b->files_idx, i, now);
                return;
        }
        if (i == NIL)
                i = lru_insert(&b->files_idx, hash_bytes(path, len, 0xcbf29ce484222325ull), now);
        else
                lru_touch(&b->files_idx, i, now);
        e = &b->files[i];
        e->path_len = (uint32_t)len;
        snprintf(e->path, sizeof(e->path), "%.*s", (int)len, path);
        e->writer_pid = ev->proc.pid;
        e->writer_start_ticks = ev->proc.start_ticks;
        memcpy(e->writer_comm, ev->proc.comm, sizeof(e->writer_comm));
        e->writer_comm[sizeof(e->writer_comm) - 1] = '\0';
        e->mono_ns = now;
        e->wall_ns = ev->wall_ns;
        e->why[0] = '\0';
        file_downloaded(b, e, now);
}

/* A download tool starts: it downloads, and what its parent opened for it
 * just before (a redirection) is what it downloads into. */
static void on_tool(struct detect_builtin *b, const struct agent_event *ev, const struct proctable *pt,
                    uint64_t now)
{
        const char *base = strrchr(ev->exec.image, '/');
        const struct proctable_proc *self, *parent;
        char why[DETECT_BUILTIN_WHY_MAX];

        snprintf(why, sizeof(why), "download tool %s", base ? base + 1 : ev->exec.image);
        proc_mark(b, ev->proc.pid, ev->proc.start_ticks, now, why, false);
        self = pt ? proctable_lookup(pt, ev->proc.pid, ev->proc.start_ticks) : NULL;
        parent = self ? proctable_parent(pt, self) : NULL;
        if (parent && parent->pid > 1)
                proc_mark(b, parent->pid, parent->start_ticks, now, why, true);
}

static int on_exec(struct detect_builtin *b, const struct agent_event *ev, const struct proctable *pt,
                   uint64_t now, struct detect_builtin_hit *ret)
{
        const char *image = ev->exec.image;
        size_t len = strnlen(image, sizeof(ev->exec.image));
        uint32_t i = file_find(b, image, len, now);
        struct file_entry *e;

        if (detect_builtin_download_tool(image))
                on_tool(b, ev, pt, now);
        if (i == NIL || !file_downloaded(b, &b->files[i], now))
                return 0;
        e = &b->files[i];
        *ret = (struct detect_builtin_hit){
                .rule = &detect_builtin_download_exec,
                .writer_pid = e->writer_pid,
                .writer_start_ticks = e->writer_start_ticks,
                .written_mono_ns = e->mono_ns,
                .written_wall_ns = e->wall_ns,
        };
        memcpy(ret->path, e->path, sizeof(ret->path));
        memcpy(ret->writer_comm, e->writer_comm, sizeof(ret->writer_comm));
        memcpy(ret->why, e->why, sizeof(ret->why));
        return 1;
}

int detect_builtin_feed(struct detect_builtin *b, const struct agent_event *ev,
                        const struct proctable *pt, struct detect_builtin_hit *ret)
{
        uint64_t now = ev->mono_ns;

        switch (ev->type) {
        case EV_EXEC:
                return on_exec(b, ev, pt, now, ret);
        case EV_CONNECT:
                /* a name lookup is not a download */
                if (ev->net.dport != 53)
                        proc_mark(b, ev->proc.pid, ev->proc.start_ticks, now, "outbound connection", false);
                return 0;
        case EV_FILE:
                if (detect_builtin_writable_path(ev->file.path))
                        on_file(b, ev, now);
                return 0;
        default:
                return 0;
        }
}

bool detect_builtin_writable_path(const char *path)
{
        static const char *const dirs[] = {
                "/tmp/", "/var/tmp/", "/dev/shm/", "/home/", "/root/", "/run/user/",
        };

        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
                if (strncmp(path, dirs[i], strlen(dirs[i])) == 0)
                        return true;
        return false;
}

bool detect_builtin_download_tool(const char *image)
{
        static const char *const tools[] = {
                "curl", "wget", "wget2", "aria2c", "axel", "lftp", "ftp", "tftp", "scp", "sftp",
                "rsync", "nc", "ncat", "netcat", "nc.openbsd", "nc.traditional", "socat",
                "lwp-download", "lwp-request", "GET", "http", "https", "xh", "fetch", "smbclient",
        };
        const char *base = strrchr(image, '/');

        base = base ? base + 1 : image;
        for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
                if (base[0] == tools[i][0] && strcmp(base, tools[i]) == 0)
                        return true;
        return false;
}

struct detect_builtin *detect_builtin_new(size_t files_max, size_t procs_max, uint64_t ttl_ns)
{
        struct detect_builtin *b = calloc(1, sizeof(*b));

        if (!b)
                return NULL;
        files_max = files_max ? files_max : DETECT_BUILTIN_FILES_MAX;
        procs_max = procs_max ? procs_max : DETECT_BUILTIN_PROCS_MAX;
        b->ttl_ns = ttl_ns ? ttl_ns : DETECT_BUILTIN_TTL_NS;
        b->files = calloc(files_max, sizeof(*b->files));
        b->procs = calloc(procs_max, sizeof(*b->procs));
        if (!b->files || !b->procs || files_max > UINT32_MAX / 2 || procs_max > UINT32_MAX / 2 ||
            lru_init(&b->files_idx, (uint32_t)files_max) < 0 ||
            lru_init(&b->procs_idx, (uint32_t)procs_max) < 0) {
                detect_builtin_free(b);
                return NULL;
        }
        return b;
}

void detect_builtin_free(struct detect_builtin *b)
{
        if (!b)
                return;
        lru_release(&b->files_idx);
        lru_release(&b->procs_idx);
        free(b->files);
        free(b->procs);
        free(b);
}

size_t detect_builtin_files(const struct detect_builtin *b)
{
        return b->files_idx.count;
}

size_t detect_builtin_procs(const struct detect_builtin *b)
{
        return b->procs_idx.count;
}
