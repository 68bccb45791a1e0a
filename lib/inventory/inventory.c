/* inventory: collects the facts the agent reports about its device.
 *
 * Every file is read under a root prefix with a size cap. Facts a compliance
 * policy checks (disk encryption, firewall, Secure Boot) are never guessed:
 * when they cannot be established they are "unknown", with a detail saying
 * why. The only live probe, the nftables ruleset, only lists. */
#include "inventory/inventory.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifdef HAVE_NFTABLES
#include <linux/capability.h>
#include <linux/netlink.h>
#include <nftables/libnftables.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#endif

#include "util/strutil.h"
#include "util/vbuf.h"

#define SMALL_FILE_MAX          4096u                   /* hostname, machine-id, sysfs attributes */
#define MOUNTINFO_MAX           (4u * 1024 * 1024)
#define BLOCK_DEPTH_MAX         8u                      /* dm/md stacks under the root device */
#define BLOCK_SLAVES_MAX        64u                     /* devices under one device */
#define NAME_MAX_SHOWN          64u                     /* device and fs names quoted in a detail */
#define DETAIL_MAX              512u

#define SECURE_BOOT_VAR "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"

struct span {
        const char *p;
        size_t n;
};

/* ROOT/rel into buf; root "/" (or NULL) is the real filesystem. */
static int root_path(const char *root, const char *rel, char *buf, size_t size)
{
        size_t rn = root ? strlen(root) : 0;
        int n;

        while (rn > 0 && root[rn - 1] == '/')
                rn--;
        while (*rel == '/')
                rel++;
        n = snprintf(buf, size, "%.*s/%s", (int)rn, rn ? root : "", rel);
        if (n < 0 || (size_t)n >= size)
                return -ENAMETOOLONG;
        return 0;
}

static int root_read(const char *root, const char *rel, size_t max, char **ret_data, size_t *ret_len)
{
        char path[PATH_MAX];
        int r;

        r = root_path(root, rel, path, sizeof(path));
        if (r < 0)
                return r;
        return util_file_read(path, max, ret_data, ret_len);
}

static bool is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static struct span span_trim(const char *p, size_t n)
{
        while (n > 0 && is_space(*p)) {
                p++;
                n--;
        }
        while (n > 0 && is_space(p[n - 1]))
                n--;
        return (struct span){ p, n };
}

/* Copies a name found in a file into a detail-safe string: printable ASCII,
 * at most NAME_MAX_SHOWN bytes. */
static void name_copy(char *out, size_t size, const char *p, size_t n)
{
        size_t o = 0;

        for (size_t i = 0; i < n && o + 1 < size && o < NAME_MAX_SHOWN; i++)
                out[o++] = (p[i] > ' ' && p[i] < 0x7f) ? p[i] : '?';
        out[o] = '\0';
}

static int obj_set_str(json_t *obj, const char *key, const char *s)
{
        json_t *v = json_string(s);

        if (!v || json_object_set_new(obj, key, v) < 0)
                return -ENOMEM;
        return 0;
}

static int state_new(const char *state, const char *detail, json_t **ret)
{
        json_t *o = json_object();

        if (!o || obj_set_str(o, "state", state) < 0 || obj_set_str(o, "detail", detail) < 0) {
                json_decref(o);
                return -ENOMEM;
        }
        *ret = o;
        return 0;
}

static int state_newf(const char *state, json_t **ret, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int state_newf(const char *state, json_t **ret, const char *fmt, ...)
{
        struct vbuf detail;
        va_list ap;
        int r;

        vbuf_init(&detail, DETAIL_MAX);
        va_start(ap, fmt);
        /* cannot reach the cap: every name quoted in a detail is capped */
        r = vbuf_vprintf(&detail, fmt, ap);
        va_end(ap);
        if (r >= 0)
                r = state_new(state, vbuf_str(&detail), ret);
        vbuf_release(&detail);
        return r;
}

/* ---- hostname, machine id ---- */

/* First line of ROOT/etc/hostname that is not a comment, if printable. */
static void hostname_read(const char *root, char *out, size_t size)
{
        char *data;
        size_t len;
        const char *p;

        out[0] = '\0';
        if (root_read(root, "etc/hostname", SMALL_FILE_MAX, &data, &len) < 0)
                return;
        for (p = data; p < data + len;) {
                const char *nl = memchr(p, '\n', (size_t)(data + len - p));
                size_t n = nl ? (size_t)(nl - p) : (size_t)(data + len - p);
                struct span t = span_trim(p, n);

                if (t.n > 0 && t.p[0] != '#') {
                        if (t.n < size) {
                                memcpy(out, t.p, t.n);
                                out[t.n] = '\0';
                                if (!util_str_printable(out, 253))
                                        out[0] = '\0';
                        }
                        break;
                }
                p += n + (nl ? 1 : 0);
        }
        free(data);
}

/* ROOT/etc/machine-id: 32 hex digits, returned lower-case; "" otherwise. */
static void machine_id_read(const char *root, char out[33])
{
        char *data;
        size_t len;
        struct span t;

        out[0] = '\0';
        if (root_read(root, "etc/machine-id", SMALL_FILE_MAX, &data, &len) < 0)
                return;
        t = span_trim(data, len);
        if (t.n == 32) {
                size_t i;
                for (i = 0; i < 32; i++) {
                        char c = t.p[i];
                        if (c >= 'A' && c <= 'F')
                                c = (char)(c - 'A' + 'a');
                        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                                break;
                        out[i] = c;
                }
                out[i == 32 ? 32 : 0] = '\0';
        }
        free(data);
}

/* ---- operating system ---- */

static int os_collect(const char *root, json_t **ret)
{
        static const char *const files[] = { "etc/os-release", "usr/lib/os-release" };
        json_t *os;
        char *data = NULL;
        size_t len = 0;
        int r = -ENOENT;

        os = json_object();
        if (!os || obj_set_str(os, "platform", "linux") < 0)
                goto fail_nomem;
        /* os-release(5): the second file only when the first does not exist */
        for (size_t i = 0; i < 2 && r == -ENOENT; i++)
                r = root_read(root, files[i], INVENTORY_OS_RELEASE_MAX, &data, &len);
        r = inventory_os_release_parse(r >= 0 ? data : "", r >= 0 ? len : 0, os);
        free(data);
        if (r < 0)
                goto fail;
        *ret = os;
        return 0;

fail_nomem:
        r = -ENOMEM;
fail:
        json_decref(os);
        return r;
}

/* ---- disk encryption of the root filesystem ---- */

struct root_mount {
        unsigned major, minor;
        char fstype[NAME_MAX_SHOWN + 1];
        char source[PATH_MAX];
};

/* Splits a mountinfo line into its space-separated fields. */
static size_t fields_split(const char *p, size_t n, struct span *f, size_t max)
{
        size_t count = 0, i = 0;

        while (i < n && count < max) {
                size_t start;
                while (i < n && p[i] == ' ')
                        i++;
                start = i;
                while (i < n && p[i] != ' ')
                        i++;
                if (i > start)
                        f[count++] = (struct span){ p + start, i - start };
        }
        return count;
}

static bool span_eq(struct span s, const char *word)
{
        return s.n == strlen(word) && memcmp(s.p, word, s.n) == 0;
}

static int devnum_parse(struct span s, unsigned *ret_major, unsigned *ret_minor)
{
        char buf[32], *colon;
        uint64_t ma, mi;

        if (s.n >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, s.p, s.n);
        buf[s.n] = '\0';
        colon = strchr(buf, ':');
        if (!colon)
                return -EINVAL;
        *colon = '\0';
        if (util_uint_parse(buf, UINT_MAX, &ma) < 0 || util_uint_parse(colon + 1, UINT_MAX, &mi) < 0)
                return -EINVAL;
        *ret_major = (unsigned)ma;
        *ret_minor = (unsigned)mi;
        return 0;
}

/* Finds the mount of "/" (the last one: it hides those before it). Line:
 * id parent maj:min root mountpoint options [optional...] - fstype source superopts */
static int mountinfo_find_root(const char *text, size_t len, struct root_mount *ret)
{
        const char *p = text, *end = text + len;
        bool found = false;

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p), count, sep;
                struct span f[32];

                count = fields_split(p, n, f, 32);
                p += n + (nl ? 1 : 0);
                if (count < 8 || !span_eq(f[4], "/"))
                        continue;
                for (sep = 6; sep < count && !span_eq(f[sep], "-"); sep++)
                        ;
                if (sep + 2 >= count || devnum_parse(f[2], &ret->major, &ret->minor) < 0)
                        continue;
                name_copy(ret->fstype, sizeof(ret->fstype), f[sep + 1].p, f[sep + 1].n);
                if (f[sep + 2].n < sizeof(ret->source)) {
                        memcpy(ret->source, f[sep + 2].p, f[sep + 2].n);
                        ret->source[f[sep + 2].n] = '\0';
                } else {
                        ret->source[0] = '\0';
                }
                found = true;
        }
        return found ? 0 : -ENOENT;
}

struct block_walk {
        char path[PATH_MAX];                    /* sysfs directory of the current device */
        char crypt_dev[NAME_MAX_SHOWN + 1];     /* first dm-crypt device met */
        char crypt_type[NAME_MAX_SHOWN + 1];    /* its type: LUKS2, PLAIN, ... */
        char plain_dev[NAME_MAX_SHOWN + 1];     /* first device with nothing encrypted under it */
};

/* Appends suffix to w->path at len; the caller cuts it off again. */
static int walk_push(struct block_walk *w, size_t len, const char *a, const char *b)
{
        int n = snprintf(w->path + len, sizeof(w->path) - len, "%s%s", a, b);

        if (n < 0 || (size_t)n >= sizeof(w->path) - len) {
                w->path[len] = '\0';
                return -ENAMETOOLONG;
        }
        return 0;
}

/* If the device at w->path is a dm-crypt target, records it and returns true.
 * cryptsetup names them by a dm uuid "CRYPT-<TYPE>-..."; SUBDEV is the
 * dm-integrity device under an authenticated one, not encryption itself. */
static bool walk_is_crypt(struct block_walk *w, size_t len, const char *name)
{
        char *data;
        size_t n;
        struct span t, type;
        bool crypt = false;

        if (walk_push(w, len, "/dm/uuid", "") < 0)
                return false;
        if (util_file_read(w->path, SMALL_FILE_MAX, &data, &n) >= 0) {
                t = span_trim(data, n);
                if (t.n > 6 && memcmp(t.p, "CRYPT-", 6) == 0) {
                        type = (struct span){ t.p + 6, 0 };
                        while (6 + type.n < t.n && type.p[type.n] != '-')
                                type.n++;
                        crypt = !span_eq(type, "SUBDEV");
                }
                if (crypt && !w->crypt_dev[0]) {
                        name_copy(w->crypt_dev, sizeof(w->crypt_dev), name, strlen(name));
                        name_copy(w->crypt_type, sizeof(w->crypt_type), type.p, type.n);
                }
                free(data);
        }
        w->path[len] = '\0';
        return crypt;
}

/* Returns 1 if the device at w->path (len bytes) is dm-crypt or every device
 * it is built on is, 0 if not, -ELOOP or -E2BIG if the stack is too deep or
 * wide to tell. A device without slaves/ entries is a plain leaf. */
static int walk_device(struct block_walk *w, size_t len, const char *name, unsigned depth)
{
        struct dirent *de;
        unsigned slaves = 0;
        bool all = true;
        DIR *d;
        int r = 0;

        if (walk_is_crypt(w, len, name))
                return 1;
        if (depth >= BLOCK_DEPTH_MAX)
                return -ELOOP;
        if (walk_push(w, len, "/slaves", "") < 0)
                return -ENAMETOOLONG;
        d = opendir(w->path);
        w->path[len] = '\0';
        while (d && (de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                if (++slaves > BLOCK_SLAVES_MAX) {
                        r = -E2BIG;
                        goto close;
                }
                r = walk_push(w, len, "/slaves/", de->d_name);
                if (r >= 0)
                        r = walk_device(w, strlen(w->path), de->d_name, depth + 1);
                w->path[len] = '\0';
                if (r < 0)
                        goto close;
                all = all && r == 1;
        }
        if (slaves == 0 && !w->plain_dev[0])
                name_copy(w->plain_dev, sizeof(w->plain_dev), name, strlen(name));
        r = slaves > 0 && all;
close:
        if (d)
                closedir(d);
        return r;
}

/* Kernel name of a block device (DEVNAME= in its uevent), else "MAJ:MIN". */
static void block_name(struct block_walk *w, size_t len, const char *devnum, char *out, size_t size)
{
        char *data;
        size_t n;

        name_copy(out, size, devnum, strlen(devnum));
        if (walk_push(w, len, "/uevent", "") < 0)
                return;
        if (util_file_read(w->path, SMALL_FILE_MAX, &data, &n) >= 0) {
                for (const char *p = data; p < data + n;) {
                        const char *nl = memchr(p, '\n', (size_t)(data + n - p));
                        size_t k = nl ? (size_t)(nl - p) : (size_t)(data + n - p);
                        if (k > 8 && memcmp(p, "DEVNAME=", 8) == 0) {
                                name_copy(out, size, p + 8, k - 8);
                                break;
                        }
                        p += k + (nl ? 1 : 0);
                }
                free(data);
        }
        w->path[len] = '\0';
}

/* A root on btrfs shows an anonymous device (major 0) in mountinfo; its
 * source names the real block device. */
static void root_mount_resolve(const char *root, struct root_mount *m)
{
        char path[PATH_MAX];
        struct stat st;

        if (m->major != 0 || strncmp(m->source, "/dev/", 5) != 0)
                return;
        if (root_path(root, m->source, path, sizeof(path)) < 0 || stat(path, &st) < 0)
                return;
        if (S_ISBLK(st.st_mode) && major(st.st_rdev) != 0) {
                m->major = major(st.st_rdev);
                m->minor = minor(st.st_rdev);
        }
}

static int disk_encryption_collect(const char *root, json_t **ret)
{
        struct root_mount m = { 0 };
        struct block_walk *w;
        char devnum[32], devname[NAME_MAX_SHOWN + 1], *data;
        size_t len;
        int r;

        r = root_read(root, "proc/self/mountinfo", MOUNTINFO_MAX, &data, &len);
        if (r < 0)
                return state_newf("unknown", ret, "cannot read mountinfo: %s", strerrorname_np(-r) ?: "error");
        r = mountinfo_find_root(data, len, &m);
        free(data);
        if (r < 0)
                return state_new("unknown", "no mount of / in mountinfo", ret);
        root_mount_resolve(root, &m);
        if (m.major == 0)
                return state_newf("unknown", ret, "root filesystem is %s (no block device)", m.fstype);

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        snprintf(devnum, sizeof(devnum), "%u:%u", m.major, m.minor);
        r = root_path(root, "sys/dev/block/", w->path, sizeof(w->path));
        if (r >= 0)
                r = walk_push(w, strlen(w->path), devnum, "");
        if (r < 0) {
                r = state_newf("unknown", ret, "path of block device %s too long", devnum);
                goto free_walk;
        }
        len = strlen(w->path);
        if (access(w->path, F_OK) < 0) {
                r = state_newf("unknown", ret, "no sysfs entry for block device %s", devnum);
                goto free_walk;
        }
        block_name(w, len, devnum, devname, sizeof(devname));
        r = walk_device(w, len, devname, 0);
        if (r < 0)
                r = state_newf("unknown", ret, "%s: device stack too deep or wide to inspect", devname);
        else if (r == 1 && strcmp(w->crypt_dev, devname) == 0)
                r = state_newf("encrypted", ret, "%s is dm-crypt (%s)", devname, w->crypt_type);
        else if (r == 1)
                r = state_newf("encrypted", ret, "%s over dm-crypt (%s) on %s",
                               devname, w->crypt_type, w->crypt_dev);
        else if (strcmp(w->plain_dev, devname) == 0 || !w->plain_dev[0])
                r = state_newf("not_encrypted", ret, "%s (no dm-crypt layer)", devname);
        else
                r = state_newf("not_encrypted", ret, "%s (no dm-crypt layer under %s)",
                               devname, w->plain_dev);
free_walk:
        free(w);
        return r;
}

/* ---- firewall ---- */

struct nft_walk {
        struct inventory_nft_summary s;
        unsigned depth;
        unsigned table_base;    /* base chains of the current table */
        bool dormant;           /* the current table has "flags dormant" */
        bool in_chain;          /* depth 2 is the body of a chain */
        bool chain_base;        /* the current chain has a hook */
};

static bool token_sep(char c)
{
        return c == ' ' || c == '\t' || c == ',' || c == ';' || c == '{';
}

/* True if the line starts with the word w. */
static bool starts_word(struct span t, const char *w)
{
        size_t n = strlen(w);

        return t.n >= n && memcmp(t.p, w, n) == 0 && (t.n == n || token_sep(t.p[n]));
}

/* True if any token of the line (split at blanks, commas, semicolons) is w. */
static bool has_word(struct span t, const char *w)
{
        size_t i = 0;

        while (i < t.n) {
                size_t start;
                while (i < t.n && token_sep(t.p[i]))
                        i++;
                start = i;
                while (i < t.n && !token_sep(t.p[i]))
                        i++;
                if (span_eq((struct span){ t.p + start, i - start }, w))
                        return true;
        }
        return false;
}

/* A line in the body of a chain: its hook declaration, a chain attribute or a rule. */
static void nft_chain_line(struct nft_walk *nw, struct span t)
{
        static const char *const attributes[] = { "policy", "comment", "flags", "devices" };

        if (t.n == 0 || t.p[0] == '}' || t.p[0] == '#')
                return;
        if (starts_word(t, "type") && has_word(t, "hook")) {
                if (!nw->chain_base)
                        nw->table_base++;
                nw->chain_base = true;
                return;
        }
        for (size_t i = 0; i < sizeof(attributes) / sizeof(attributes[0]); i++)
                if (starts_word(t, attributes[i]))
                        return;
        nw->s.rules++;
}

/* Follows the braces of a line, outside "strings". */
static int nft_braces(struct nft_walk *nw, struct span t, bool opens_chain)
{
        bool quoted = false;

        for (size_t i = 0; i < t.n; i++) {
                if (t.p[i] == '"')
                        quoted = !quoted;
                if (quoted)
                        continue;
                if (t.p[i] == '{') {
                        nw->depth++;
                        if (nw->depth == 2 && opens_chain)
                                nw->in_chain = true;
                } else if (t.p[i] == '}') {
                        if (nw->depth == 0)
                                return -EINVAL;
                        nw->depth--;
                        if (nw->depth == 1)
                                nw->in_chain = false;
                        if (nw->depth == 0) {
                                if (!nw->dormant)
                                        nw->s.base_chains += nw->table_base;
                                nw->table_base = 0;
                                nw->dormant = false;
                        }
                }
        }
        return 0;
}

int inventory_nft_ruleset_summarize(const char *text, size_t len,
                                    struct inventory_nft_summary *ret_summary)
{
        struct nft_walk nw = { 0 };
        const char *p = text, *end = text + len;

        if (!text && len > 0)
                return -EINVAL;
        if (len > INVENTORY_NFT_LISTING_MAX)
                return -E2BIG;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
                struct span t = span_trim(p, n);
                bool opens_chain = false;

                if (nw.depth == 0 && starts_word(t, "table")) {
                        nw.s.tables++;
                        nw.table_base = 0;
                        nw.dormant = false;
                } else if (nw.depth == 1 && starts_word(t, "chain")) {
                        nw.s.chains++;
                        nw.chain_base = false;
                        opens_chain = true;
                } else if (nw.depth == 1 && starts_word(t, "flags") && has_word(t, "dormant")) {
                        nw.dormant = true;
                } else if (nw.depth == 2 && nw.in_chain) {
                        nft_chain_line(&nw, t);
                }
                if (nft_braces(&nw, t, opens_chain) < 0)
                        return -EINVAL;
                p += n + (nl ? 1 : 0);
        }
        if (nw.depth != 0)
                return -EINVAL;
        *ret_summary = nw.s;
        return 0;
}

#ifdef HAVE_NFTABLES
static int firewall_from_summary(const struct inventory_nft_summary *s, json_t **ret)
{
        if (s->tables == 0)
                return state_new("inactive", "nftables: empty ruleset", ret);
        return state_newf(s->base_chains > 0 ? "active" : "inactive", ret,
                          "nftables: %u table%s, %u base chain%s, %u rule%s",
                          s->tables, s->tables == 1 ? "" : "s",
                          s->base_chains, s->base_chains == 1 ? "" : "s",
                          s->rules, s->rules == 1 ? "" : "s");
}

/* The first line of what libnftables reported, e.g. "Operation not permitted". */
static int firewall_from_error(const char *err, json_t **ret)
{
        char line[161];
        size_t o = 0;

        while (err && (*err == '\n' || *err == ' '))
                err++;
        for (; err && *err && *err != '\n' && o + 1 < sizeof(line); err++)
                line[o++] = (*err >= ' ' && *err < 0x7f) ? *err : '?';
        line[o] = '\0';
        return state_newf("unknown", ret, "nftables: %s", o ? line : "list ruleset failed");
}

/* libnftables prints to stderr when it lacks privilege, and exit()s when it
 * cannot open its netlink socket; find out first, so neither happens here. */
static int firewall_precheck(json_t **ret)
{
        struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct caps[2] = { 0 };
        int fd;

        if (syscall(SYS_capget, &hdr, caps) == 0 &&
            !(caps[CAP_NET_ADMIN / 32].effective & (1u << (CAP_NET_ADMIN % 32))))
                return state_new("unknown", "nftables: listing the ruleset needs CAP_NET_ADMIN", ret);
        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
        if (fd < 0)
                return state_newf("unknown", ret, "nftables: no netfilter netlink socket: %s",
                                  strerrorname_np(errno) ?: "error");
        close(fd);
        return 1;
}

static int firewall_probe(json_t **ret)
{
        struct inventory_nft_summary s;
        struct nft_ctx *ctx;
        const char *out;
        int r;

        r = firewall_precheck(ret);
        if (r <= 0)
                return r;
        ctx = nft_ctx_new(NFT_CTX_DEFAULT);
        if (!ctx)
                return state_new("unknown", "nftables: cannot create a context", ret);
        if (nft_ctx_buffer_output(ctx) < 0 || nft_ctx_buffer_error(ctx) < 0) {
                r = state_new("unknown", "nftables: cannot buffer output", ret);
                goto free_ctx;
        }
        /* "list" reads only; the dry run makes sure nothing could be committed */
        nft_ctx_set_dry_run(ctx, true);
        if (nft_run_cmd_from_buffer(ctx, "list ruleset") != 0) {
                r = firewall_from_error(nft_ctx_get_error_buffer(ctx), ret);
                goto free_ctx;
        }
        out = nft_ctx_get_output_buffer(ctx);
        if (inventory_nft_ruleset_summarize(out, out ? strlen(out) : 0, &s) < 0)
                r = state_new("unknown", "nftables: ruleset listing not understood", ret);
        else
                r = firewall_from_summary(&s, ret);
free_ctx:
        nft_ctx_free(ctx);
        return r;
}
#endif

/* libnftables is not known to be safe with contexts in two threads at once */
static pthread_mutex_t nft_mutex = PTHREAD_MUTEX_INITIALIZER;

void inventory_nft_lock(void)
{
        pthread_mutex_lock(&nft_mutex);
}

void inventory_nft_unlock(void)
{
        pthread_mutex_unlock(&nft_mutex);
}

static int firewall_collect(bool real_root, unsigned flags, json_t **ret)
{
        if (!real_root)
                return state_new("unknown", "not probed: not the running system's root", ret);
        if (flags & INVENTORY_NO_LIVE_PROBES)
                return state_new("unknown", "not probed: live probes disabled", ret);
#ifdef HAVE_NFTABLES
        int r;

        inventory_nft_lock();
        r = firewall_probe(ret);
        inventory_nft_unlock();
        return r;
#else
        return state_new("unknown", "not probed: built without libnftables", ret);
#endif
}

/* ---- Secure Boot ---- */

/* True if the EFI variables are readable at all (efivarfs mounted). */
static bool efivars_listed(const char *root)
{
        char path[PATH_MAX];
        struct dirent *de;
        bool any = false;
        DIR *d;

        if (root_path(root, "sys/firmware/efi/efivars", path, sizeof(path)) < 0)
                return false;
        d = opendir(path);
        if (!d)
                return false;
        while (!any && (de = readdir(d)))
                any = de->d_name[0] != '.';
        closedir(d);
        return any;
}

static const char *secure_boot_collect(const char *root)
{
        char path[PATH_MAX], *data;
        struct stat st;
        size_t len;
        int r, value = -1;

        if (root_path(root, "sys/firmware/efi", path, sizeof(path)) < 0 ||
            stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
                return "unknown";       /* not booted through UEFI */
        /* efivarfs: 4 bytes of attributes, then the value */
        r = root_read(root, "sys/firmware/efi/efivars/" SECURE_BOOT_VAR, SMALL_FILE_MAX, &data, &len);
        if (r >= 0) {
                if (len == 5)
                        value = data[4];
                free(data);
        } else if (r == -ENOENT) {
                /* the old sysfs interface, removed in Linux 6.0: the value alone */
                r = root_read(root, "sys/firmware/efi/vars/" SECURE_BOOT_VAR "/data",
                              SMALL_FILE_MAX, &data, &len);
                if (r >= 0) {
                        if (len == 1)
                                value = data[0];
                        free(data);
                } else if (r == -ENOENT && efivars_listed(root)) {
                        value = 0;      /* firmware without Secure Boot */
                }
        }
        return value == 1 ? "enabled" : value == 0 ? "disabled" : "unknown";
}

/* ---- packages ---- */

static int packages_collect(const char *root, json_t **ret)
{
        json_t *pkgs;
        char *data;
        size_t len;
        int r;

        pkgs = json_array();
        if (!pkgs)
                return -ENOMEM;
        r = root_read(root, "var/lib/dpkg/status", INVENTORY_DPKG_STATUS_MAX, &data, &len);
        if (r >= 0) {
                r = inventory_dpkg_parse(data, len, pkgs);
                free(data);
        } else if (r == -ENOENT) {
                r = 0;          /* not a Debian system */
        }
        if (r < 0) {
                json_decref(pkgs);
                return r;
        }
        *ret = pkgs;
        return 0;
}

/* ---- the whole inventory ---- */

static bool root_is_real(const char *root)
{
        while (*root == '/')
                root++;
        return *root == '\0';
}

/* Sets obj[key] to v (taking it) when r says v was made. */
static int obj_take(json_t *obj, const char *key, int r, json_t *v)
{
        if (r < 0)
                return r;
        if (json_object_set_new(obj, key, v) < 0)
                return -ENOMEM;
        return 0;
}

static const char *printable_or_empty(const char *s)
{
        return util_str_printable(s, 255) ? s : "";
}

int inventory_collect(const struct inventory_options *opts, json_t **ret_inventory)
{
        const char *root = opts && opts->root ? opts->root : "/";
        unsigned flags = opts ? opts->flags : 0;
        bool real_root = root_is_real(root);
        char hostname[256], machine_id[33];
        struct utsname u;
        json_t *inv, *v = NULL;
        int r;

        inv = json_object();
        if (!inv)
                return -ENOMEM;
        if (uname(&u) < 0)
                memset(&u, 0, sizeof(u));
        if (real_root)
                snprintf(hostname, sizeof(hostname), "%s", printable_or_empty(u.nodename));
        else
                hostname_read(root, hostname, sizeof(hostname));
        machine_id_read(root, machine_id);

        r = obj_set_str(inv, "hostname", hostname);
        if (r >= 0)
                r = os_collect(root, &v);
        r = obj_take(inv, "os", r, v);
        if (r >= 0)
                r = obj_set_str(inv, "kernel", printable_or_empty(u.release));
        if (r >= 0)
                r = obj_set_str(inv, "architecture", printable_or_empty(u.machine));
        if (r >= 0)
                r = obj_set_str(inv, "machine_id", machine_id);
        if (r >= 0)
                r = disk_encryption_collect(root, &v);
        r = obj_take(inv, "disk_encryption", r, v);
        if (r >= 0)
                r = firewall_collect(real_root, flags, &v);
        r = obj_take(inv, "firewall", r, v);
        if (r >= 0)
                r = obj_set_str(inv, "secure_boot", secure_boot_collect(root));
        if (r >= 0)
                r = packages_collect(root, &v);
        r = obj_take(inv, "packages", r, v);
        if (r < 0) {
                json_decref(inv);
                return r;
        }
        *ret_inventory = inv;
        return 0;
}
