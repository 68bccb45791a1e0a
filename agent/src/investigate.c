/* investigate: the investigation package (see investigate.h and
 * docs/ACTIONS.md). Each member is built in memory, capped by what is left
 * of the package's byte budget, then written to the tar.gz with its size
 * and sha256 noted for the manifest, which comes last. A member that fails
 * or is cut says why in the manifest; only a package that cannot be
 * written at all is an error. */
#include "agent/src/investigate.h"

#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <jansson.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <utmpx.h>

#include "agent/src/agent.h"
#include "crypto/crypto.h"
#include "procfs/procfs.h"
#include "util/strutil.h"

#define MEMBERS_MAX 8
#define MANIFEST_RESERVE (64u << 10)    /* kept out of the budget for the manifest */
#define ARRAY_CLOSE 4                   /* room kept for "\n]\n" */
#define CMDLINE_KEPT 4096
#define USER_CACHE 64
#define GLOB_MAX 1024                   /* directories one "*" stands for */
#define SEGMENT_MAX (16u << 20)         /* cap on one spool segment read */
#define PROC_STAT_MAX (1u << 20)        /* /proc/stat (btime) */

const char *const investigate_default_paths[] = {
        "/etc", "/root/.ssh", "/home/*/.ssh", "/root/.bashrc", "/root/.profile",
        "/home/*/.bashrc", "/home/*/.profile", "/var/spool/cron",
        "/usr/lib/systemd/system", "/lib/systemd/system", NULL,
};

struct member {
        const char *name;
        const char *status;             /* "complete", "cut", "failed", "absent" */
        char reason[256];
        size_t size;
        char sha256[CRYPTO_SHA256_LEN * 2 + 1];
        long entries;                   /* -1: not counted */
};

struct proc_rec {
        uint32_t pid, ppid, uid;
        uint64_t start_ticks;
        bool kthread;
        char comm[PROCFS_COMM_MAX];
        char *image;                    /* "" when unreadable */
        char *cmdline;                  /* arguments joined by spaces */
};

struct user_cache {
        uint32_t uid[USER_CACHE];
        char name[USER_CACHE][64];
        unsigned n, next;
};

struct collect {
        const struct investigate_opts *o;
        const char *proc_root;
        int64_t now, since;
        size_t budget;                  /* member bytes left */
        struct archive *a;
        struct member m[MEMBERS_MAX];
        unsigned n;
        struct proc_rec *procs;         /* sorted by pid */
        size_t n_procs;
        struct user_cache users;
};

/* ---- small helpers ---- */

static void member_note(struct member *m, const char *status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void member_note(struct member *m, const char *status, const char *fmt, ...)
{
        va_list ap;

        m->status = status;
        if (!fmt)
                return;
        va_start(ap, fmt);
        vsnprintf(m->reason, sizeof(m->reason), fmt, ap);
        va_end(ap);
}

/* Text from the system (names, paths, utmp) as valid JSON text: bytes
 * outside printable ASCII become '?'. */
static json_t *text_json(const char *s, size_t n)
{
        char *t = malloc(n + 1);
        json_t *j;

        if (!t)
                return NULL;
        for (size_t i = 0; i < n; i++)
                t[i] = (s[i] >= ' ' && s[i] < 0x7f) ? s[i] : '?';
        j = json_stringn(t, n);
        free(t);
        return j;
}

static json_t *time_json(int64_t t)
{
        char buf[21];

        util_time_format(t, buf);
        return json_string(buf);
}

static const char *user_name(struct user_cache *c, uint32_t uid)
{
        struct passwd pw, *res = NULL;
        char buf[4096];
        unsigned i;

        for (i = 0; i < c->n; i++)
                if (c->uid[i] == uid)
                        return c->name[i];
        i = c->n < USER_CACHE ? c->n++ : c->next++ % USER_CACHE;
        c->uid[i] = uid;
        c->name[i][0] = '\0';
        if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res)
                snprintf(c->name[i], sizeof(c->name[i]), "%s", pw.pw_name);
        return c->name[i];
}

/* A JSON array built element by element in a vbuf, cut (and closed) when
 * the next element would not fit. */
struct jarr {
        struct vbuf b;
        size_t n;
        bool cut;
};

static void jarr_init(struct jarr *ja, size_t cap)
{
        vbuf_init(&ja->b, cap);
        ja->n = 0;
        ja->cut = false;
        if (cap < 2 + ARRAY_CLOSE || vbuf_puts(&ja->b, "[\n") < 0)
                ja->cut = true;
}

/* Adds elem (taken). Returns 0, -E2BIG once cut, -ENOMEM. */
static int jarr_add(struct jarr *ja, json_t *elem)
{
        char *s;
        size_t n;
        int r = -E2BIG;

        if (!elem)
                return -ENOMEM;
        if (ja->cut)
                goto out;
        s = json_dumps(elem, JSON_COMPACT);
        if (!s) {
                r = -ENOMEM;
                goto out;
        }
        n = strlen(s);
        if (ja->b.len + n + 2 + ARRAY_CLOSE > ja->b.max) {
                ja->cut = true;
        } else {
                r = vbuf_puts(&ja->b, ja->n ? ",\n" : "");
                if (r == 0)
                        r = vbuf_append(&ja->b, s, n);
                if (r == 0)
                        ja->n++;
        }
        free(s);
out:
        json_decref(elem);
        return r;
}

static void jarr_close(struct jarr *ja)
{
        if (ja->b.len == 0 && ja->b.max < 3)
                ja->b.max = 3;          /* an array cut before its opening bracket: "[]\n" */
        vbuf_puts(&ja->b, ja->b.len ? "\n]\n" : "[]\n");
}

/* ---- the archive ---- */

/* Adds a member holding data (len bytes) and notes its size and sha256. */
static int member_write(struct collect *c, struct member *m, const char *data, size_t len)
{
        uint8_t sum[CRYPTO_SHA256_LEN];
        struct archive_entry *e = archive_entry_new();
        int r = -EIO;

        if (!e)
                return -ENOMEM;
        archive_entry_set_pathname(e, m->name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0600);
        archive_entry_set_size(e, (la_int64_t)len);
        archive_entry_set_mtime(e, c->now, 0);
        if (archive_write_header(c->a, e) != ARCHIVE_OK)
                goto out;
        if (len > 0 && archive_write_data(c->a, data, len) != (la_ssize_t)len)
                goto out;
        if (crypto_sha256(data, len, sum) == 0)
                util_hex_encode(sum, sizeof(sum), m->sha256);
        m->size = len;
        c->budget -= len < c->budget ? len : c->budget;
        r = 0;
out:
        archive_entry_free(e);
        return r;
}

static struct member *member_new(struct collect *c, const char *name)
{
        struct member *m = &c->m[c->n++];

        m->name = name;
        m->status = "complete";
        m->entries = -1;
        return m;
}

/* Writes b as member m (unless m failed or is absent) and frees b. */
static int member_finish(struct collect *c, struct member *m, struct vbuf *b)
{
        int r = 0;

        if (strcmp(m->status, "failed") != 0 && strcmp(m->status, "absent") != 0)
                r = member_write(c, m, b->data ? b->data : "", b->len);
        vbuf_release(b);
        return r;
}

/* ---- processes.json ---- */

static int proc_cmp(const void *a, const void *b)
{
        const struct proc_rec *x = a, *y = b;

        return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static const struct proc_rec *proc_find(const struct collect *c, uint32_t pid)
{
        struct proc_rec key = { .pid = pid };

        return c->n_procs ? bsearch(&key, c->procs, c->n_procs, sizeof(key), proc_cmp) : NULL;
}

static char *args_join(const char *args, const struct procfs_args *pa)
{
        char *s = malloc(pa->len + 1);

        if (!s)
                return NULL;
        memcpy(s, args, pa->len);
        for (uint32_t i = 0; i + 1 < pa->len; i++)
                if (s[i] == '\0')
                        s[i] = ' ';
        s[pa->len ? pa->len - 1 : 0] = '\0';
        return s;
}

/* Reads one process. Returns 0, or a negative errno (gone meanwhile). */
static int proc_read(const char *root, uint32_t pid, struct proc_rec *p)
{
        char image[4096], args[CMDLINE_KEPT];
        struct procfs_stat st;
        struct procfs_status ss;
        struct procfs_args pa = { 0 };
        uint32_t flags;
        int fd, r;

        fd = procfs_pid_open(root, pid);
        if (fd < 0)
                return fd;
        r = procfs_stat_read(fd, &st);
        if (r == 0)
                r = procfs_status_read(fd, &ss);
        if (r < 0)
                goto out;
        *p = (struct proc_rec){ .pid = pid, .ppid = st.ppid, .uid = ss.uid[PROCFS_ID_REAL],
                                .start_ticks = st.start_ticks, .kthread = st.kthread };
        memcpy(p->comm, st.comm, sizeof(p->comm));
        if (procfs_exe_read(fd, image, sizeof(image), &flags) < 0)
                image[0] = '\0';
        if (procfs_cmdline_read(fd, args, sizeof(args), 1024, &pa) < 0)
                pa.len = 0;
        p->image = strdup(image);
        p->cmdline = args_join(args, &pa);
        r = p->image && p->cmdline ? 0 : -ENOMEM;
out:
        close(fd);
        return r;
}

/* Lists the processes of proc_root into c->procs, sorted by pid. */
static int procs_scan(struct collect *c, struct member *m)
{
        DIR *d = opendir(c->proc_root);
        struct dirent *de;
        size_t alloc = 0;

        if (!d) {
                member_note(m, "failed", "cannot open '%s': %s", c->proc_root, strerror(errno));
                return -errno;
        }
        while ((de = readdir(d))) {
                uint64_t pid;

                if (util_uint_parse(de->d_name, UINT32_MAX, &pid) < 0 || pid == 0)
                        continue;
                if (c->n_procs == INVESTIGATE_PROCESSES_MAX) {
                        member_note(m, "cut", "more than %d processes", INVESTIGATE_PROCESSES_MAX);
                        break;
                }
                if (c->n_procs == alloc) {
                        size_t na = alloc ? alloc * 2 : 256;
                        struct proc_rec *np = realloc(c->procs, na * sizeof(*np));

                        if (!np)
                                break;
                        c->procs = np;
                        alloc = na;
                }
                if (proc_read(c->proc_root, (uint32_t)pid, &c->procs[c->n_procs]) == 0)
                        c->n_procs++;
        }
        closedir(d);
        qsort(c->procs, c->n_procs, sizeof(*c->procs), proc_cmp);
        return 0;
}

/* Boot time from proc_root/stat ("btime N"), 0 when unknown. */
static int64_t boot_time(const char *proc_root)
{
        char path[4200], *text, *p;
        uint64_t v = 0;
        size_t len;

        if (util_path_join(path, sizeof(path), proc_root, "stat") < 0 ||
            util_file_read(path, PROC_STAT_MAX, &text, &len) < 0)
                return 0;
        p = strstr(text, "\nbtime ");
        if (p) {
                p += 7;
                p[strcspn(p, "\n")] = '\0';
                if (util_uint_parse(p, INT64_MAX, &v) < 0)
                        v = 0;
        }
        free(text);
        return (int64_t)v;
}

static json_t *lineage_json(const struct collect *c, const struct proc_rec *p)
{
        json_t *arr = json_array();
        const struct proc_rec *q = p;

        for (int depth = 0; arr && depth < INVESTIGATE_LINEAGE_MAX && q->ppid != 0; depth++) {
                q = proc_find(c, q->ppid);
                if (!q)
                        break;
                json_array_append_new(arr, json_pack("{s:i,s:o,s:o}", "pid", (json_int_t)q->pid,
                                                     "image", text_json(q->image, strlen(q->image)),
                                                     "comm", text_json(q->comm, strlen(q->comm))));
        }
        return arr;
}

static json_t *proc_json(struct collect *c, const struct proc_rec *p, int64_t btime, long hz)
{
        json_t *o = json_pack("{s:i,s:i,s:i,s:s,s:o,s:o,s:o,s:b}",
                              "pid", (json_int_t)p->pid, "ppid", (json_int_t)p->ppid,
                              "uid", (json_int_t)p->uid, "user", user_name(&c->users, p->uid),
                              "image", text_json(p->image, strlen(p->image)),
                              "comm", text_json(p->comm, strlen(p->comm)),
                              "command_line", text_json(p->cmdline, strlen(p->cmdline)),
                              "kernel_thread", p->kthread);

        if (o && btime > 0 && hz > 0)
                json_object_set_new(o, "start_time", time_json(btime + (int64_t)(p->start_ticks / (uint64_t)hz)));
        if (o)
                json_object_set_new(o, "lineage", lineage_json(c, p));
        return o;
}

static int processes_collect(struct collect *c)
{
        struct member *m = member_new(c, "processes.json");
        int64_t btime = boot_time(c->proc_root);
        long hz = sysconf(_SC_CLK_TCK);
        struct jarr ja;

        if (procs_scan(c, m) < 0)
                return member_finish(c, m, &(struct vbuf){ 0 });
        jarr_init(&ja, c->budget);
        for (size_t i = 0; i < c->n_procs; i++)
                if (jarr_add(&ja, proc_json(c, &c->procs[i], btime, hz)) == -E2BIG)
                        break;
        jarr_close(&ja);
        if (ja.cut)
                member_note(m, "cut", "the package's size cap: %zu of %zu processes", ja.n, c->n_procs);
        if (btime == 0)
                snprintf(m->reason, sizeof(m->reason), "no boot time in '%s/stat': no start times",
                         c->proc_root);
        m->entries = (long)ja.n;
        return member_finish(c, m, &ja.b);
}

/* ---- connections.json ---- */

static int hex_num(const char *s, size_t n, uint64_t *ret)
{
        uint64_t v = 0;

        if (n == 0 || n > 16)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                char ch = s[i];
                int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 :
                        ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;

                if (d < 0)
                        return -EINVAL;
                v = v << 4 | (uint64_t)d;
        }
        *ret = v;
        return 0;
}

static int dec_num(const char *s, size_t n, uint64_t max, uint64_t *ret)
{
        uint64_t v = 0;

        if (n == 0 || n > 20)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                if (v > (max - (uint64_t)(s[i] - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t)(s[i] - '0');
        }
        *ret = v;
        return 0;
}

/* "ADDR:PORT": the address as the kernel prints it, 32-bit words in host
 * order (one for IPv4, four for IPv6). */
static int net_addr(const char *s, size_t n, bool v6, uint8_t addr[16], uint16_t *port)
{
        size_t words = v6 ? 4 : 1;
        uint64_t v;

        if (n != words * 8 + 5 || s[words * 8] != ':')
                return -EINVAL;
        for (size_t w = 0; w < words; w++) {
                uint32_t x;

                if (hex_num(s + w * 8, 8, &v) < 0)
                        return -EINVAL;
                x = (uint32_t)v;
                memcpy(addr + w * 4, &x, 4);
        }
        if (hex_num(s + words * 8 + 1, 4, &v) < 0)
                return -EINVAL;
        *port = (uint16_t)v;
        return 0;
}

/* The next blank-separated field of line. */
static bool next_field(const char **p, const char *end, const char **ret, size_t *ret_n)
{
        while (*p < end && (**p == ' ' || **p == '\t'))
                (*p)++;
        *ret = *p;
        while (*p < end && **p != ' ' && **p != '\t')
                (*p)++;
        *ret_n = (size_t)(*p - *ret);
        return *ret_n > 0;
}

int investigate_net_line_parse(const char *line, size_t len, bool v6, struct investigate_socket *ret)
{
        const char *p = line, *end = line + len, *f[10];
        struct investigate_socket s = { .family = v6 ? AF_INET6 : AF_INET };
        size_t n[10];
        uint64_t v;

        if (!line || len > INVESTIGATE_NET_LINE_MAX)
                return -EINVAL;
        /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
        for (int i = 0; i < 10; i++)
                if (!next_field(&p, end, &f[i], &n[i]))
                        return -EINVAL;
        if (f[0][n[0] - 1] != ':' || hex_num(f[0], n[0] - 1, &v) < 0)
                return -EINVAL;
        if (net_addr(f[1], n[1], v6, s.local, &s.local_port) < 0 ||
            net_addr(f[2], n[2], v6, s.remote, &s.remote_port) < 0 ||
            n[3] != 2 || hex_num(f[3], 2, &v) < 0)
                return -EINVAL;
        s.state = (uint8_t)v;
        if (dec_num(f[7], n[7], UINT32_MAX, &v) < 0)
                return -EINVAL;
        s.uid = (uint32_t)v;
        if (dec_num(f[9], n[9], INT64_MAX, &v) < 0)
                return -EINVAL;
        s.inode = v;
        *ret = s;
        return 0;
}

const char *investigate_tcp_state_name(uint8_t state)
{
        static const char *const names[] = {
                [1] = "established", [2] = "syn_sent", [3] = "syn_recv", [4] = "fin_wait1",
                [5] = "fin_wait2", [6] = "time_wait", [7] = "close", [8] = "close_wait",
                [9] = "last_ack", [10] = "listen", [11] = "closing", [12] = "new_syn_recv",
        };

        return state < sizeof(names) / sizeof(names[0]) && names[state] ? names[state] : "unknown";
}

struct owner {
        uint64_t inode;
        uint32_t pid;
};

struct owners {
        struct owner *v;
        size_t n, alloc, examined;
        bool cut;
};

static int owner_cmp(const void *a, const void *b)
{
        const struct owner *x = a, *y = b;

        return x->inode < y->inode ? -1 : x->inode > y->inode;
}

static int owner_add(struct owners *o, uint64_t inode, uint32_t pid)
{
        if (o->n == o->alloc) {
                size_t na = o->alloc ? o->alloc * 2 : 1024;
                struct owner *nv = realloc(o->v, na * sizeof(*nv));

                if (!nv)
                        return -ENOMEM;
                o->v = nv;
                o->alloc = na;
        }
        o->v[o->n++] = (struct owner){ inode, pid };
        return 0;
}

/* The socket inodes of one process's descriptors ("socket:[N]" links). */
static void owners_of(struct owners *o, const char *proc_root, uint32_t pid)
{
        char path[4200], target[64];
        struct dirent *de;
        DIR *d;
        int dfd;

        snprintf(path, sizeof(path), "%s/%u/fd", proc_root, pid);
        d = opendir(path);
        if (!d)
                return;
        dfd = dirfd(d);
        while ((de = readdir(d))) {
                ssize_t n;
                uint64_t inode;

                if (de->d_name[0] == '.')
                        continue;
                if (o->examined++ >= INVESTIGATE_FDS_MAX) {
                        o->cut = true;
                        break;
                }
                n = readlinkat(dfd, de->d_name, target, sizeof(target) - 1);
                if (n < 10 || strncmp(target, "socket:[", 8) != 0 || target[n - 1] != ']')
                        continue;
                if (dec_num(target + 8, (size_t)n - 9, UINT64_MAX, &inode) == 0 &&
                    owner_add(o, inode, pid) < 0)
                        break;
        }
        closedir(d);
}

static json_t *socket_json(const struct collect *c, const struct owners *ow, const struct investigate_socket *s,
                           bool udp)
{
        char la[INET6_ADDRSTRLEN], ra[INET6_ADDRSTRLEN];
        struct owner key = { .inode = s->inode }, *own;
        const char *state = investigate_tcp_state_name(s->state);
        const struct proc_rec *p;
        json_t *o;

        inet_ntop(s->family, s->local, la, sizeof(la));
        inet_ntop(s->family, s->remote, ra, sizeof(ra));
        if (udp)        /* UDP sockets use TCP_ESTABLISHED for connected, TCP_CLOSE for not */
                state = s->state == 1 ? "connected" : s->state == 7 ? "unconnected" : state;
        o = json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:i,s:i,s:I}", "protocol", udp ? "udp" : "tcp",
                      "family", s->family == AF_INET ? "ipv4" : "ipv6", "state", state,
                      "local_address", la, "local_port", (json_int_t)s->local_port,
                      "remote_address", ra, "remote_port", (json_int_t)s->remote_port,
                      "uid", (json_int_t)s->uid, "inode", (json_int_t)s->inode);
        own = s->inode && ow->n ? bsearch(&key, ow->v, ow->n, sizeof(key), owner_cmp) : NULL;
        if (o && own) {
                json_object_set_new(o, "pid", json_integer(own->pid));
                p = proc_find(c, own->pid);
                if (p)
                        json_object_set_new(o, "image", text_json(p->image, strlen(p->image)));
        }
        return o;
}

/* Adds the sockets of proc_root/net/NAME. Returns -E2BIG once the array is cut. */
static int sockets_add(struct collect *c, const struct owners *ow, const char *name, bool v6, bool udp,
                       struct jarr *ja, struct member *m, size_t *total)
{
        char path[4200], line[INVESTIGATE_NET_LINE_MAX + 2];
        struct investigate_socket s;
        bool first = true;
        FILE *f;
        int r = 0;

        snprintf(path, sizeof(path), "%s/net/%s", c->proc_root, name);
        f = fopen(path, "re");
        if (!f) {
                snprintf(m->reason, sizeof(m->reason), "cannot read '%s': %s", path, strerror(errno));
                return 0;
        }
        while (r == 0 && fgets(line, sizeof(line), f)) {
                size_t n = strcspn(line, "\n");

                if (line[n] != '\n') {  /* longer than a socket line: skip the rest */
                        int ch;
                        while ((ch = fgetc(f)) != EOF && ch != '\n')
                                ;
                        continue;
                }
                if (first) {
                        first = false;
                        continue;       /* the header */
                }
                if (investigate_net_line_parse(line, n, v6, &s) < 0)
                        continue;
                if (++*total > INVESTIGATE_SOCKETS_MAX) {
                        member_note(m, "cut", "more than %d sockets", INVESTIGATE_SOCKETS_MAX);
                        r = -E2BIG;
                        break;
                }
                r = jarr_add(ja, socket_json(c, ow, &s, udp));
        }
        fclose(f);
        return r == -E2BIG ? r : 0;
}

static int connections_collect(struct collect *c)
{
        static const struct { const char *name; bool v6, udp; } files[] = {
                { "tcp", false, false }, { "tcp6", true, false }, { "udp", false, true }, { "udp6", true, true },
        };
        struct member *m = member_new(c, "connections.json");
        struct owners ow = { 0 };
        size_t total = 0;
        struct jarr ja;

        for (size_t i = 0; i < c->n_procs && !ow.cut; i++)
                owners_of(&ow, c->proc_root, c->procs[i].pid);
        if (ow.n)
                qsort(ow.v, ow.n, sizeof(*ow.v), owner_cmp);
        jarr_init(&ja, c->budget);
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
                if (sockets_add(c, &ow, files[i].name, files[i].v6, files[i].udp, &ja, m, &total) < 0)
                        break;
        jarr_close(&ja);
        if (ja.cut)
                member_note(m, "cut", "the package's size cap: %zu sockets listed", ja.n);
        else if (ow.cut)
                member_note(m, "complete", "owners looked for in the first %u descriptors only",
                            INVESTIGATE_FDS_MAX);
        m->entries = (long)ja.n;
        free(ow.v);
        return member_finish(c, m, &ja.b);
}

/* ---- users.json ---- */

/* getutxent() keeps its place in a global: one reader at a time. */
static pthread_mutex_t utmp_lock = PTHREAD_MUTEX_INITIALIZER;

static json_t *utmp_json(const struct utmpx *u)
{
        json_t *o = json_pack("{s:o,s:o,s:o,s:i}",
                              "user", text_json(u->ut_user, strnlen(u->ut_user, sizeof(u->ut_user))),
                              "tty", text_json(u->ut_line, strnlen(u->ut_line, sizeof(u->ut_line))),
                              "host", text_json(u->ut_host, strnlen(u->ut_host, sizeof(u->ut_host))),
                              "pid", (json_int_t)u->ut_pid);

        if (o)
                json_object_set_new(o, "login_time", time_json(u->ut_tv.tv_sec));
        return o;
}

static int users_collect(struct collect *c)
{
        struct member *m = member_new(c, "users.json");
        const char *path = c->o->utmp_path ? c->o->utmp_path : _PATH_UTMPX;
        struct utmpx *u;
        struct jarr ja;
        size_t seen = 0;

        jarr_init(&ja, c->budget);
        if (access(path, R_OK) < 0) {
                member_note(m, "failed", "cannot read '%s': %s", path, strerror(errno));
                return member_finish(c, m, &ja.b);
        }
        pthread_mutex_lock(&utmp_lock);
        if (utmpxname(path) < 0) {
                member_note(m, "failed", "cannot use '%s' as utmp", path);
        } else {
                setutxent();
                while ((u = getutxent()) && seen++ < INVESTIGATE_USERS_MAX)
                        if (u->ut_type == USER_PROCESS && jarr_add(&ja, utmp_json(u)) == -E2BIG)
                                break;
                endutxent();
        }
        utmpxname(_PATH_UTMPX);
        pthread_mutex_unlock(&utmp_lock);
        jarr_close(&ja);
        if (ja.cut)
                member_note(m, "cut", "the package's size cap: %zu users listed", ja.n);
        else if (seen > INVESTIGATE_USERS_MAX)
                member_note(m, "cut", "more than %d utmp entries: %zu users listed", INVESTIGATE_USERS_MAX, ja.n);
        m->entries = (long)ja.n;
        return member_finish(c, m, &ja.b);
}

/* ---- files.json ---- */

struct walk {
        struct collect *c;
        struct jarr ja;
        size_t examined;
        size_t too_deep;                /* directories not entered */
        size_t matched;
        bool stopped;                   /* a cap was reached */
};

/* The sha256 of a regular file under INVESTIGATE_HASH_MAX, read through
 * dirfd without following links; NULL when it cannot be had. */
static json_t *file_sha256(int dirfd, const char *name, const struct stat *st)
{
        char hex[CRYPTO_SHA256_LEN * 2 + 1];
        uint8_t sum[CRYPTO_SHA256_LEN];
        struct stat now;
        size_t len = 0;
        char *buf = NULL;
        json_t *j = NULL;
        int fd;

        if (!S_ISREG(st->st_mode) || st->st_size >= INVESTIGATE_HASH_MAX)
                return NULL;
        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return NULL;
        if (fstat(fd, &now) < 0 || now.st_ino != st->st_ino || !S_ISREG(now.st_mode))
                goto out;
        buf = malloc(INVESTIGATE_HASH_MAX);
        while (buf && len < INVESTIGATE_HASH_MAX) {
                ssize_t n = read(fd, buf + len, INVESTIGATE_HASH_MAX - len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        goto out;
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        if (buf && len < INVESTIGATE_HASH_MAX && crypto_sha256(buf, len, sum) == 0) {
                util_hex_encode(sum, sizeof(sum), hex);
                j = json_string(hex);
        }
out:
        free(buf);
        close(fd);
        return j;
}

static json_t *file_json(struct walk *w, int dirfd, const char *name, const char *path, const struct stat *st)
{
        char mode[8], target[4096];
        json_t *o, *sum;

        snprintf(mode, sizeof(mode), "%04o", (unsigned)(st->st_mode & 07777));
        o = json_pack("{s:o,s:s,s:I,s:s,s:i,s:s,s:i,s:o,s:o}", "path", text_json(path, strlen(path)),
                      "type", S_ISREG(st->st_mode) ? "file" : "symlink", "size", (json_int_t)st->st_size,
                      "mode", mode, "uid", (json_int_t)st->st_uid, "user", user_name(&w->c->users, st->st_uid),
                      "gid", (json_int_t)st->st_gid, "mtime", time_json(st->st_mtim.tv_sec),
                      "ctime", time_json(st->st_ctim.tv_sec));
        if (!o)
                return NULL;
        if (S_ISLNK(st->st_mode)) {
                ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
                if (n >= 0)
                        json_object_set_new(o, "link_target", text_json(target, (size_t)n));
        }
        sum = file_sha256(dirfd, name, st);
        if (sum)
                json_object_set_new(o, "sha256", sum);
        return o;
}

static void walk_dir(struct walk *w, int dfd, char *path, size_t plen, size_t cap, int depth);

/* One entry under dfd, named name, whose path is path[0..plen). */
static void walk_entry(struct walk *w, int dfd, const char *name, char *path, size_t plen, size_t cap,
                       int depth)
{
        struct stat st;
        int sub;

        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return;
        if (S_ISDIR(st.st_mode)) {
                if (depth >= INVESTIGATE_WALK_DEPTH) {
                        w->too_deep++;
                        return;
                }
                sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub >= 0)
                        walk_dir(w, sub, path, plen, cap, depth + 1);
                return;
        }
        if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
                return;
        if (st.st_mtim.tv_sec < w->c->since && st.st_ctim.tv_sec < w->c->since)
                return;
        if (++w->matched > INVESTIGATE_FILES_MAX) {
                w->stopped = true;
                return;
        }
        if (jarr_add(&w->ja, file_json(w, dfd, name, path, &st)) == -E2BIG)
                w->stopped = true;
}

/* Walks the directory dfd (taken) whose path is path[0..plen). */
static void walk_dir(struct walk *w, int dfd, char *path, size_t plen, size_t cap, int depth)
{
        DIR *d = fdopendir(dfd);
        struct dirent *de;

        if (!d) {
                close(dfd);
                return;
        }
        while (!w->stopped && (de = readdir(d))) {
                size_t n = strlen(de->d_name);

                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (++w->examined > INVESTIGATE_WALK_MAX) {
                        w->stopped = true;
                        break;
                }
                if (plen + 1 + n >= cap)
                        continue;
                path[plen] = '/';
                memcpy(path + plen + 1, de->d_name, n + 1);
                walk_entry(w, dirfd(d), de->d_name, path, plen + 1 + n, cap, depth);
                path[plen] = '\0';
        }
        closedir(d);
}

/* Walks one sensitive path (a directory or a file), without following a
 * link at its end. */
static void walk_root(struct walk *w, const char *root)
{
        char path[4096], *slash, dir[4096];
        size_t len = strlen(root);
        int dfd;

        if (len == 0 || len >= sizeof(path) || root[0] != '/')
                return;
        memcpy(path, root, len + 1);
        while (len > 1 && path[len - 1] == '/')
                path[--len] = '\0';
        slash = strrchr(path, '/');
        snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return;
        walk_entry(w, dfd, slash + 1, path, len, sizeof(path), 0);
        close(dfd);
}

/* True if root is, or is under, one of roots[0..n) (already walked). */
static bool root_seen(char (*roots)[4096], size_t n, const char *real)
{
        for (size_t i = 0; i < n; i++) {
                size_t l = strlen(roots[i]);

                if (strncmp(real, roots[i], l) == 0 && (real[l] == '\0' || real[l] == '/' || l == 1))
                        return true;
        }
        return false;
}

/* Walks one configured path, expanding "*" components. */
static void walk_pattern(struct walk *w, const char *pattern, char (*roots)[4096], size_t *n_roots,
                         size_t max_roots)
{
        glob_t g;

        if (glob(pattern, GLOB_NOSORT | GLOB_NOESCAPE, NULL, &g) != 0)
                return;
        for (size_t i = 0; i < g.gl_pathc && i < GLOB_MAX && !w->stopped; i++) {
                char real[PATH_MAX];

                /* a root reached twice (/lib -> /usr/lib) or inside another is walked once */
                if (!realpath(g.gl_pathv[i], real) || root_seen(roots, *n_roots, real))
                        continue;
                if (*n_roots < max_roots)
                        snprintf(roots[(*n_roots)++], sizeof(roots[0]), "%s", real);
                walk_root(w, g.gl_pathv[i]);
        }
        globfree(&g);
}

static int files_collect(struct collect *c)
{
        const char *const *paths = c->o->sensitive_paths ? c->o->sensitive_paths : investigate_default_paths;
        struct member *m = member_new(c, "files.json");
        struct walk w = { .c = c };
        char (*roots)[4096] = calloc(64, sizeof(*roots));
        size_t n_roots = 0;

        jarr_init(&w.ja, c->budget);
        for (size_t i = 0; paths[i] && roots && !w.stopped; i++)
                walk_pattern(&w, paths[i], roots, &n_roots, 64);
        free(roots);
        jarr_close(&w.ja);
        if (w.ja.cut)
                member_note(m, "cut", "the package's size cap: %zu files listed", w.ja.n);
        else if (w.stopped)
                member_note(m, "cut", "stopped at %d files changed or %d entries examined",
                            INVESTIGATE_FILES_MAX, INVESTIGATE_WALK_MAX);
        else if (w.too_deep)
                member_note(m, "complete", "%zu directories deeper than %d levels not walked",
                            w.too_deep, INVESTIGATE_WALK_DEPTH);
        m->entries = (long)w.ja.n;
        return member_finish(c, m, &w.ja.b);
}

/* ---- alerts.jsonl ---- */

static int name_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the whole lines of one segment file; false once the cap is hit. */
static bool segment_add(struct vbuf *b, const char *path, struct member *m, size_t *lines)
{
        char *text;
        size_t len, off = 0;
        int r = util_file_read(path, SEGMENT_MAX, &text, &len);

        if (r < 0) {
                snprintf(m->reason, sizeof(m->reason), "cannot read '%s': %s", path, strerror(-r));
                return true;
        }
        while (off < len) {
                char *nl = memchr(text + off, '\n', len - off);
                size_t n;

                if (!nl)
                        break;          /* a last line cut by a crash */
                n = (size_t)(nl - (text + off)) + 1;
                if (vbuf_append(b, text + off, n) < 0) {
                        free(text);
                        return false;
                }
                (*lines)++;
                off += n;
        }
        free(text);
        return true;
}

static int alerts_collect(struct collect *c)
{
        struct member *m = member_new(c, "alerts.jsonl");
        char dir[4200], path[4500], **names = NULL;
        size_t n = 0, lines = 0;
        struct dirent *de;
        struct vbuf b;
        DIR *d;

        vbuf_init(&b, c->budget);
        if (!c->o->state_dir || util_path_join(dir, sizeof(dir), c->o->state_dir, "spool") < 0 ||
            !(d = opendir(dir))) {
                member_note(m, "failed", "cannot open the spool '%s/spool': %s",
                            c->o->state_dir ? c->o->state_dir : "(no state directory)", strerror(errno));
                return member_finish(c, m, &b);
        }
        while ((de = readdir(d)) && n < 4096) {
                size_t l = strlen(de->d_name);
                char **nn;

                if (strncmp(de->d_name, "alerts-", 7) != 0 || l < 13 || strcmp(de->d_name + l - 6, ".jsonl") != 0)
                        continue;
                nn = realloc(names, (n + 1) * sizeof(*names));
                if (!nn || !(nn[n] = strdup(de->d_name))) {
                        names = nn ? nn : names;
                        break;
                }
                names = nn;
                n++;
        }
        closedir(d);
        if (n)
                qsort(names, n, sizeof(*names), name_cmp);
        for (size_t i = 0; i < n; i++) {
                snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
                if (!segment_add(&b, path, m, &lines)) {
                        member_note(m, "cut", "the package's size cap: %zu alert lines kept", lines);
                        break;
                }
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        m->entries = (long)lines;
        return member_finish(c, m, &b);
}

/* ---- events.jsonl and agent.log, from the caller ---- */

static int callback_collect(struct collect *c, const char *name, int (*fn)(void *, struct vbuf *))
{
        struct member *m = member_new(c, name);
        struct vbuf b;
        int r;

        vbuf_init(&b, c->budget);
        if (!fn) {
                member_note(m, "absent", "not available in this agent");
                return member_finish(c, m, &b);
        }
        r = fn(c->o->ctx, &b);
        if (r == 1 || r == -E2BIG)
                member_note(m, "cut", "the package's size cap: older lines left out");
        else if (r < 0)
                member_note(m, "failed", "%s", strerror(-r));
        return member_finish(c, m, &b);
}

/* ---- manifest.json ---- */

static json_t *members_json(const struct collect *c)
{
        json_t *arr = json_array();

        for (unsigned i = 0; arr && i < c->n; i++) {
                const struct member *m = &c->m[i];
                json_t *o = json_pack("{s:s,s:s}", "name", m->name, "status", m->status);

                if (!o)
                        continue;
                if (strcmp(m->status, "failed") != 0 && strcmp(m->status, "absent") != 0) {
                        json_object_set_new(o, "size", json_integer((json_int_t)m->size));
                        json_object_set_new(o, "sha256", json_string(m->sha256));
                }
                if (m->entries >= 0)
                        json_object_set_new(o, "entries", json_integer(m->entries));
                if (m->reason[0])
                        json_object_set_new(o, "reason", json_string(m->reason));
                json_array_append_new(arr, o);
        }
        return arr;
}

static int manifest_write(struct collect *c, size_t max_bytes)
{
        struct member man = { .name = "manifest.json", .status = "complete" };
        const char *device = c->o->device_id;
        struct agent_state st = { 0 };
        char host[256] = "", kernel[400] = "", why[128];
        struct utsname u;
        json_t *j;
        char *text;
        int r;

        if (!device && c->o->state_dir &&
            snprintf(st.dir, sizeof(st.dir), "%s", c->o->state_dir) < (int)sizeof(st.dir) &&
            agent_state_load(&st, why, sizeof(why)) == 0)
                device = st.device_id;
        gethostname(host, sizeof(host) - 1);
        if (uname(&u) == 0)
                snprintf(kernel, sizeof(kernel), "%s %s %s %s", u.sysname, u.release, u.version, u.machine);
        j = json_pack("{s:s,s:i,s:o,s:o,s:s,s:s,s:o,s:o,s:I,s:o}", "format", "vigil-investigation",
                      "version", 1, "device_id", device ? json_string(device) : json_null(),
                      "hostname", text_json(host, strlen(host)), "kernel", kernel,
                      "agent_version", VIGIL_VERSION, "created_at", time_json(c->now),
                      "files_changed_since", time_json(c->since), "max_bytes", (json_int_t)max_bytes,
                      "members", members_json(c));
        text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
        json_decref(j);
        if (!text)
                return -ENOMEM;
        r = member_write(c, &man, text, strlen(text));
        free(text);
        return r;
}

/* ---- the package ---- */

static int archive_begin(struct collect *c, int fd, char *err, size_t err_size)
{
        c->a = archive_write_new();
        if (!c->a) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        if (archive_write_add_filter_gzip(c->a) != ARCHIVE_OK ||
            archive_write_set_format_pax_restricted(c->a) != ARCHIVE_OK ||
            archive_write_open_fd(c->a, fd) != ARCHIVE_OK) {
                snprintf(err, err_size, "cannot start the tar.gz: %s", archive_error_string(c->a));
                return -EIO;
        }
        return 0;
}

/* Collects every member into the open archive; stops only when the archive
 * itself cannot be written. */
static int members_collect(struct collect *c, char *err, size_t err_size)
{
        int r = processes_collect(c);

        if (r == 0)
                r = connections_collect(c);
        if (r == 0)
                r = users_collect(c);
        if (r == 0)
                r = files_collect(c);
        if (r == 0)
                r = alerts_collect(c);
        if (r == 0)
                r = callback_collect(c, "events.jsonl", c->o->recent_events);
        if (r == 0)
                r = callback_collect(c, "agent.log", c->o->recent_log);
        if (r < 0)
                snprintf(err, err_size, "cannot write the tar.gz: %s",
                         r == -EIO ? archive_error_string(c->a) : strerror(-r));
        return r;
}

static void collect_release(struct collect *c)
{
        for (size_t i = 0; i < c->n_procs; i++) {
                free(c->procs[i].image);
                free(c->procs[i].cmdline);
        }
        free(c->procs);
        if (c->a)
                archive_write_free(c->a);
}

int investigate_collect(const struct investigate_opts *o, const char *out_path, char *err, size_t err_size)
{
        size_t max = o->max_bytes ? o->max_bytes : INVESTIGATE_MAX_BYTES_DEFAULT;
        struct collect c = { .o = o, .proc_root = o->proc_root ? o->proc_root : PROCFS_ROOT_DEFAULT,
                             .now = util_now() };
        char tmp[4200];
        int fd, r;

        c.since = c.now - (o->changed_since_s > 0 ? o->changed_since_s : INVESTIGATE_WINDOW_DEFAULT_S);
        c.budget = max > MANIFEST_RESERVE ? max - MANIFEST_RESERVE : 0;
        if (snprintf(tmp, sizeof(tmp), "%s.tmp%ld", out_path, (long)getpid()) >= (int)sizeof(tmp)) {
                snprintf(err, err_size, "the package's path is too long");
                return -ENAMETOOLONG;
        }
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
                r = -errno;
                snprintf(err, err_size, "cannot create '%s': %s", tmp, strerror(errno));
                return r;
        }
        r = archive_begin(&c, fd, err, err_size);
        if (r == 0)
                r = members_collect(&c, err, err_size);
        if (r == 0 && manifest_write(&c, max) < 0) {
                snprintf(err, err_size, "cannot write the manifest: %s", archive_error_string(c.a));
                r = -EIO;
        }
        if (r == 0 && archive_write_close(c.a) != ARCHIVE_OK) {
                snprintf(err, err_size, "cannot finish the tar.gz: %s", archive_error_string(c.a));
                r = -EIO;
        }
        if (r == 0 && fsync(fd) < 0) {
                r = -errno;
                snprintf(err, err_size, "cannot sync '%s': %s", tmp, strerror(errno));
        }
        collect_release(&c);
        close(fd);
        if (r == 0 && rename(tmp, out_path) < 0) {
                r = -errno;
                snprintf(err, err_size, "cannot rename '%s' to '%s': %s", tmp, out_path, strerror(errno));
        }
        if (r < 0)
                unlink(tmp);
        return r;
}
