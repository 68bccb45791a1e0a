/* netprotect: network protection with one nftables table, a chain per
 * entry and verdict maps of addresses (see netprotect.h and
 * docs/NETPROTECT.md). */
#include "agent/src/netprotect.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/strutil.h"
#include "util/vbuf.h"

#define SCRIPT_MAX (16u << 20)
#define PATH_MAX_ 4200

/* ---- entries ---- */

static void show(const char *s, char out[static 72])
{
        size_t o = 0;

        for (; *s && o < 64; s++)
                out[o++] = (*s >= ' ' && *s < 0x7f && *s != '"') ? *s : '?';
        if (*s)
                out[o++] = '.', out[o++] = '.', out[o++] = '.';
        out[o] = '\0';
}

static unsigned family_bits(enum netprotect_kind k)
{
        return k == NETPROTECT_IPV4 ? 32 : 128;
}

/* Whether the first bits bits of a and b are equal. */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
        unsigned whole = bits / 8, rest = bits % 8;

        if (memcmp(a, b, whole) != 0)
                return false;
        return rest == 0 || ((a[whole] ^ b[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/* Whether ranges a/pa and b/pb overlap (prefixes nest or are disjoint). */
static bool ranges_overlap(const uint8_t *a, unsigned pa, const uint8_t *b, unsigned pb)
{
        return prefix_equal(a, b, pa < pb ? pa : pb);
}

static int addr_parse(const char *s, enum netprotect_kind kind, struct netprotect_entry *e, const char **why)
{
        char a[INET6_ADDRSTRLEN + 8];
        const char *slash = strchr(s, '/');
        size_t n = slash ? (size_t)(slash - s) : strlen(s);
        unsigned bits = family_bits(kind), prefix = bits;

        if (n >= sizeof(a)) {
                *why = "not an address";
                return -EINVAL;
        }
        memcpy(a, s, n);
        a[n] = '\0';
        if (inet_pton(kind == NETPROTECT_IPV4 ? AF_INET : AF_INET6, a, e->addr) != 1) {
                *why = kind == NETPROTECT_IPV4 ? "not an IPv4 address" : "not an IPv6 address";
                return -EINVAL;
        }
        if (slash) {
                const char *p = slash + 1;

                prefix = 0;
                for (n = 0; p[n] >= '0' && p[n] <= '9' && n < 4; n++)
                        prefix = prefix * 10 + (unsigned)(p[n] - '0');
                if (n == 0 || p[n] != '\0' || (n > 1 && p[0] == '0') || prefix > bits) {
                        *why = kind == NETPROTECT_IPV4 ? "bad prefix length (0-32)" : "bad prefix length (0-128)";
                        return -EINVAL;
                }
        }
        for (unsigned i = prefix; i < bits; i++)
                if (e->addr[i / 8] & (0x80 >> (i % 8))) {
                        *why = "has host bits set after the prefix (give the range's first address)";
                        return -EINVAL;
                }
        e->kind = kind;
        e->prefix = prefix;
        return 0;
}

static int addr_check(const struct netprotect_entry *e, const char **why)
{
        static const uint8_t lo4[16] = { 127 }, lo6[16] = { [15] = 1 },
                             mapped[16] = { [10] = 0xff, [11] = 0xff };

        if (e->kind == NETPROTECT_IPV4 && ranges_overlap(e->addr, e->prefix, lo4, 8)) {
                *why = "covers loopback (127.0.0.0/8), which is never blocked";
                return -EINVAL;
        }
        if (e->kind == NETPROTECT_IPV6 && ranges_overlap(e->addr, e->prefix, lo6, 128)) {
                *why = "covers loopback (::1), which is never blocked";
                return -EINVAL;
        }
        if (e->kind == NETPROTECT_IPV6 && ranges_overlap(e->addr, e->prefix, mapped, 96)) {
                *why = "is IPv4-mapped IPv6 (::ffff:0:0/96): give the IPv4 address or range";
                return -EINVAL;
        }
        return 0;
}

static bool ldh(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

static int name_parse(const char *s, struct netprotect_entry *e, const char **why)
{
        size_t n, label = 0, labels = 1, start = 0;
        bool digits = true;

        e->kind = NETPROTECT_DOMAIN;
        e->wildcard = strncmp(s, "*.", 2) == 0;
        s += e->wildcard ? 2 : 0;
        n = strlen(s);
        if (n > 0 && s[n - 1] == '.')
                n--;
        if (n == 0 || n > NETPROTECT_NAME_MAX) {
                *why = "a domain name is 1 to 253 bytes";
                return -EINVAL;
        }
        for (size_t i = 0; i <= n; i++) {
                char c = i < n ? s[i] : '.';

                if (c >= 'A' && c <= 'Z')
                        c = (char)(c - 'A' + 'a');
                if (c == '.') {
                        if (label == 0 || label > 63 || e->name[start] == '-' || e->name[i - 1] == '-') {
                                *why = "each label of a domain name is 1 to 63 letters, digits or hyphens, "
                                       "neither first nor last a hyphen";
                                return -EINVAL;
                        }
                        if (i < n) {
                                labels++;
                                label = 0;
                                digits = true;
                                start = i + 1;
                        }
                } else if (!ldh(c)) {
                        *why = c == '*' ? "a wildcard is \"*.\" before a name, nothing else"
                                        : "a domain name has letters, digits, hyphens and dots only "
                                          "(internationalized names in their xn-- form)";
                        return -EINVAL;
                } else {
                        label++;
                        digits = digits && c >= '0' && c <= '9';
                }
                if (i < n)
                        e->name[i] = c;
        }
        e->name[n] = '\0';
        if (labels < 2 || digits) {
                *why = labels >= 2 ? "the last label of a domain name is not all digits"
                       : e->wildcard ? "a wildcard needs a name of at least two labels (*.example.com)"
                                     : "a single-label name is ambiguous (search domains): give the full name";
                return -EINVAL;
        }
        if (strcmp(e->name, "localhost") == 0 || (n > 10 && strcmp(e->name + n - 10, ".localhost") == 0)) {
                *why = "localhost is loopback, which is never blocked";
                return -EINVAL;
        }
        return 0;
}

static int entry_parse(const char *s, struct netprotect_entry *e, const char **why)
{
        size_t n = strnlen(s, NETPROTECT_ENTRY_MAX);

        memset(e, 0, sizeof(*e));
        if (n == 0 || n >= NETPROTECT_ENTRY_MAX) {
                *why = "empty or longer than 255 bytes";
                return -EINVAL;
        }
        if (strchr(s, ':'))
                return addr_parse(s, NETPROTECT_IPV6, e, why) < 0 ? -EINVAL : addr_check(e, why);
        if (strspn(s, "0123456789./") == n)
                return addr_parse(s, NETPROTECT_IPV4, e, why) < 0 ? -EINVAL : addr_check(e, why);
        return name_parse(s, e, why);
}

void netprotect_entry_text(const struct netprotect_entry *e, char out[static NETPROTECT_ENTRY_MAX])
{
        char a[INET6_ADDRSTRLEN];

        if (e->kind == NETPROTECT_DOMAIN) {
                snprintf(out, NETPROTECT_ENTRY_MAX, "%s%s", e->wildcard ? "*." : "", e->name);
                return;
        }
        inet_ntop(e->kind == NETPROTECT_IPV4 ? AF_INET : AF_INET6, e->addr, a, sizeof(a));
        if (e->prefix == family_bits(e->kind))
                snprintf(out, NETPROTECT_ENTRY_MAX, "%s", a);
        else
                snprintf(out, NETPROTECT_ENTRY_MAX, "%s/%u", a, e->prefix);
}

/* ---- the policy ---- */

struct sorted {
        const struct netprotect_entry *e;
        size_t i;
};

static int sorted_cmp(const void *x, const void *y)
{
        const struct sorted *a = x, *b = y;
        int c = (int)a->e->kind - (int)b->e->kind;

        if (c == 0 && a->e->kind == NETPROTECT_DOMAIN) {
                c = (int)a->e->wildcard - (int)b->e->wildcard;
                if (c == 0)
                        c = strcmp(a->e->name, b->e->name);
        } else if (c == 0) {
                c = memcmp(a->e->addr, b->e->addr, 16);
                if (c == 0)
                        c = (int)a->e->prefix - (int)b->e->prefix;
        }
        if (c == 0)
                c = a->i < b->i ? -1 : a->i > b->i;
        return c;
}

static bool entry_same(const struct netprotect_entry *a, const struct netprotect_entry *b)
{
        return a->kind == b->kind && a->prefix == b->prefix && a->wildcard == b->wildcard &&
               memcmp(a->addr, b->addr, 16) == 0 && strcmp(a->name, b->name) == 0;
}

/* Drops duplicates (the later ones) and refuses overlapping ranges: sorted
 * by address, a range overlapping any other overlaps its successor. */
static int entries_settle(struct netprotect_policy *p, char *err, size_t err_size)
{
        struct sorted *s = calloc(p->n ? p->n : 1, sizeof(*s));
        bool *dup = calloc(p->n ? p->n : 1, sizeof(*dup));
        char ta[NETPROTECT_ENTRY_MAX], tb[NETPROTECT_ENTRY_MAX];
        size_t o = 0;
        int r = -ENOMEM;

        if (!s || !dup)
                goto out;
        for (size_t i = 0; i < p->n; i++)
                s[i] = (struct sorted){ &p->entries[i], i };
        qsort(s, p->n, sizeof(*s), sorted_cmp);
        r = -EINVAL;
        for (size_t i = 1; i < p->n; i++) {
                const struct netprotect_entry *a = s[i - 1].e, *b = s[i].e;

                if (entry_same(a, b)) {
                        dup[s[i].i] = true;
                        s[i] = s[i - 1];
                        continue;
                }
                if (a->kind == b->kind && a->kind != NETPROTECT_DOMAIN &&
                    ranges_overlap(a->addr, a->prefix, b->addr, b->prefix)) {
                        const struct sorted *lo = s[i].i < s[i - 1].i ? &s[i] : &s[i - 1],
                                            *hi = lo == &s[i] ? &s[i - 1] : &s[i];

                        netprotect_entry_text(hi->e, ta);
                        netprotect_entry_text(lo->e, tb);
                        snprintf(err, err_size, "block[%zu] \"%s\": overlaps block[%zu] \"%s\" (give the wider "
                                 "range only)", hi->i, ta, lo->i, tb);
                        goto out;
                }
        }
        for (size_t i = 0; i < p->n; i++)
                if (!dup[i])
                        p->entries[o++] = p->entries[i];
        p->n = o;
        r = 0;
out:
        if (r == -ENOMEM)
                snprintf(err, err_size, "out of memory");
        free(dup);
        free(s);
        return r;
}

static int policy_from_json(json_t *j, struct netprotect_policy **ret, char *err, size_t err_size)
{
        struct netprotect_policy *p;
        const char *key, *why = NULL;
        json_t *v, *block = NULL;
        char shown[72];
        size_t i;
        int r = -EINVAL;

        if (!json_is_object(j)) {
                snprintf(err, err_size, "the policy is not a JSON object");
                return -EINVAL;
        }
        p = calloc(1, sizeof(*p));
        if (!p) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        json_object_foreach(j, key, v) {
                if (strcmp(key, "block") == 0 && json_is_array(v)) {
                        block = v;
                } else if (strcmp(key, "audit_only") == 0 && json_is_boolean(v)) {
                        p->audit_only = json_is_true(v);
                } else if (strcmp(key, "block") == 0 || strcmp(key, "audit_only") == 0) {
                        snprintf(err, err_size, "\"%s\" is not %s", key,
                                 key[0] == 'b' ? "an array of strings" : "true or false");
                        goto fail;
                } else {
                        show(key, shown);
                        snprintf(err, err_size, "unknown member \"%s\" (a policy has \"block\" and "
                                 "\"audit_only\")", shown);
                        goto fail;
                }
        }
        if (!block) {
                snprintf(err, err_size, "the policy has no \"block\" array");
                goto fail;
        }
        if (json_array_size(block) > NETPROTECT_ENTRIES_MAX) {
                snprintf(err, err_size, "\"block\" has %zu entries, more than %d", json_array_size(block),
                         NETPROTECT_ENTRIES_MAX);
                r = -E2BIG;
                goto fail;
        }
        p->entries = calloc(json_array_size(block) + 1, sizeof(*p->entries));
        if (!p->entries) {
                snprintf(err, err_size, "out of memory");
                r = -ENOMEM;
                goto fail;
        }
        json_array_foreach(block, i, v) {
                if (!json_is_string(v)) {
                        snprintf(err, err_size, "block[%zu]: not a string", i);
                        goto fail;
                }
                if (entry_parse(json_string_value(v), &p->entries[i], &why) < 0) {
                        show(json_string_value(v), shown);
                        snprintf(err, err_size, "block[%zu] \"%s\": %s", i, shown, why);
                        goto fail;
                }
                p->n++;
        }
        r = entries_settle(p, err, err_size);
        if (r < 0)
                goto fail;
        *ret = p;
        return 0;
fail:
        netprotect_policy_free(p);
        return r;
}

int netprotect_policy_parse(const char *json, size_t len, struct netprotect_policy **ret, char *err,
                            size_t err_size)
{
        json_error_t jerr;
        json_t *j;
        int r;

        if (len > NETPROTECT_JSON_MAX) {
                snprintf(err, err_size, "the policy is larger than %u bytes", NETPROTECT_JSON_MAX);
                return -E2BIG;
        }
        j = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!j) {
                snprintf(err, err_size, "the policy is not JSON (line %d: %s)", jerr.line, jerr.text);
                return -EINVAL;
        }
        r = policy_from_json(j, ret, err, err_size);
        json_decref(j);
        return r;
}

void netprotect_policy_free(struct netprotect_policy *p)
{
        if (!p)
                return;
        free(p->entries);
        free(p);
}

/* Whether host (lower case) is name or, for a wildcard, lies under it. */
static bool name_covers(const struct netprotect_entry *e, const char *host)
{
        size_t hn = strlen(host), n = strlen(e->name);

        if (strcmp(host, e->name) == 0)
                return true;
        return e->wildcard && hn > n && host[hn - n - 1] == '.' && strcmp(host + hn - n, e->name) == 0;
}

static int server_check(const struct netprotect_policy *p, const char *host, const struct isolate_endpoint *eps,
                        size_t n, char *err, size_t err_size)
{
        char t[NETPROTECT_ENTRY_MAX], a[INET6_ADDRSTRLEN];

        for (size_t i = 0; i < p->n; i++) {
                const struct netprotect_entry *e = &p->entries[i];

                netprotect_entry_text(e, t);
                if (e->kind == NETPROTECT_DOMAIN && name_covers(e, host)) {
                        snprintf(err, err_size, "entry \"%s\" covers the server's name %s: the device would lose "
                                 "its server", t, host);
                        return -EINVAL;
                }
                for (size_t k = 0; k < n && e->kind != NETPROTECT_DOMAIN; k++)
                        if (eps[k].family == (e->kind == NETPROTECT_IPV4 ? AF_INET : AF_INET6) &&
                            prefix_equal(e->addr, eps[k].addr, e->prefix)) {
                                inet_ntop(eps[k].family, eps[k].addr, a, sizeof(a));
                                snprintf(err, err_size, "entry \"%s\" covers the server's address %s: the device "
                                         "would lose its server", t, a);
                                return -EINVAL;
                        }
        }
        return 0;
}

int netprotect_policy_set_server(struct netprotect_policy *p, const char *server_url, char *err,
                                 size_t err_size)
{
        struct isolate_endpoint eps[ISOLATE_ENDPOINTS_MAX];
        char host[ISOLATE_HOST_MAX + 1];
        uint16_t port;
        size_t n;
        int r;

        r = isolate_url_split(server_url, host, sizeof(host), &port, err, err_size);
        if (r < 0)
                return r;
        for (char *c = host; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                        *c = (char)(*c - 'A' + 'a');
        r = isolate_endpoints_from_url(server_url, eps, ISOLATE_ENDPOINTS_MAX, &n, err, err_size);
        if (r < 0)
                return r;
        r = server_check(p, host, eps, n, err, err_size);
        if (r < 0)
                return r;
        snprintf(p->server_host, sizeof(p->server_host), "%s", host);
        memcpy(p->server, eps, n * sizeof(eps[0]));
        p->n_server = n;
        return 0;
}

/* ---- resolving names ---- */

struct resolved {
        struct netprotect_addr *a;
        size_t n, alloc;
};

static bool addr_skipped(const struct netprotect_policy *p, int family, const uint8_t *addr)
{
        static const uint8_t zero[16], lo6[16] = { [15] = 1 };

        if (family == AF_INET && (addr[0] == 127 || memcmp(addr, zero, 4) == 0))
                return true;
        if (family == AF_INET6 && (memcmp(addr, zero, 16) == 0 || memcmp(addr, lo6, 16) == 0 ||
                                   (memcmp(addr, zero, 10) == 0 && addr[10] == 0xff && addr[11] == 0xff)))
                return true;
        for (size_t i = 0; i < p->n_server; i++)
                if (p->server[i].family == family && memcmp(p->server[i].addr, addr, family == AF_INET ? 4 : 16) == 0)
                        return true;
        return false;
}

/* Adds one address of entry i unless skipped or given already for this
 * name. Returns 0 or -ENOMEM. */
static int resolved_add(struct resolved *rs, const struct netprotect_policy *p, size_t i, const struct sockaddr *sa,
                        size_t *per_name)
{
        struct netprotect_addr x = { .family = sa->sa_family, .entry = i };

        if (sa->sa_family == AF_INET)
                memcpy(x.addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        else if (sa->sa_family == AF_INET6)
                memcpy(x.addr, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
        else
                return 0;
        if (*per_name >= NETPROTECT_NAME_ADDRS_MAX || addr_skipped(p, x.family, x.addr))
                return 0;
        for (size_t k = rs->n - *per_name; k < rs->n; k++)
                if (rs->a[k].family == x.family && memcmp(rs->a[k].addr, x.addr, 16) == 0)
                        return 0;
        if (rs->n == rs->alloc) {
                size_t na = rs->alloc ? rs->alloc * 2 : 64;
                struct netprotect_addr *g = realloc(rs->a, na * sizeof(*g));

                if (!g)
                        return -ENOMEM;
                rs->a = g;
                rs->alloc = na;
        }
        rs->a[rs->n++] = x;
        (*per_name)++;
        return 0;
}

static int addr_cmp(const void *x, const void *y)
{
        const struct netprotect_addr *a = x, *b = y;
        int c = a->family - b->family;

        if (c == 0)
                c = memcmp(a->addr, b->addr, 16);
        return c ? c : a->entry < b->entry ? -1 : a->entry > b->entry;
}

/* An address shared by several names goes to the first of them: a map
 * holds one verdict per key. */
static void resolved_settle(struct resolved *rs)
{
        size_t o = 0;

        if (rs->n == 0)
                return;
        qsort(rs->a, rs->n, sizeof(rs->a[0]), addr_cmp);
        for (size_t i = 0; i < rs->n; i++)
                if (o == 0 || rs->a[o - 1].family != rs->a[i].family ||
                    memcmp(rs->a[o - 1].addr, rs->a[i].addr, 16) != 0)
                        rs->a[o++] = rs->a[i];
        rs->n = o;
}

/* Resolves every domain entry (a wildcard by its own name). A name that
 * does not resolve gives no address. Returns 0 or -ENOMEM. */
static int names_resolve(const struct netprotect_policy *p, struct resolved *rs)
{
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };

        for (size_t i = 0; i < p->n; i++) {
                struct addrinfo *res = NULL;
                size_t per_name = 0;

                if (p->entries[i].kind != NETPROTECT_DOMAIN || getaddrinfo(p->entries[i].name, NULL, &hints, &res) != 0)
                        continue;
                for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
                        if (resolved_add(rs, p, i, ai->ai_addr, &per_name) < 0) {
                                freeaddrinfo(res);
                                return -ENOMEM;
                        }
                freeaddrinfo(res);
        }
        resolved_settle(rs);
        return 0;
}

/* ---- the ruleset ---- */

/* "add element ... { a timeout Ns : jump eN, ... }" lines for name4/name6,
 * or the elements of a declaration (decl). */
static int script_names(struct vbuf *b, const struct netprotect_addr *addrs, size_t n, int family, bool decl)
{
        char a[INET6_ADDRSTRLEN];
        bool first = true;
        int r = 0;

        for (size_t i = 0; i < n && r == 0; i++) {
                if (addrs[i].family != family)
                        continue;
                if (!inet_ntop(family, addrs[i].addr, a, sizeof(a)))
                        return -EINVAL;
                if (first)
                        r = decl ? vbuf_puts(b, "\t\telements = { ")
                                 : vbuf_printf(b, "add element inet %s %s { ", NETPROTECT_TABLE,
                                               family == AF_INET ? "name4" : "name6");
                if (r == 0)
                        r = vbuf_printf(b, "%s%s timeout %ds : jump e%zu", first ? "" : ", ", a,
                                        NETPROTECT_NAME_TIMEOUT_S, addrs[i].entry);
                first = false;
        }
        if (r == 0 && !first)
                r = vbuf_puts(b, " }\n");
        return r;
}

static int script_ranges(struct vbuf *b, const struct netprotect_policy *p, enum netprotect_kind kind)
{
        char t[NETPROTECT_ENTRY_MAX];
        bool first = true;
        int r = 0;

        for (size_t i = 0; i < p->n && r == 0; i++) {
                if (p->entries[i].kind != kind)
                        continue;
                netprotect_entry_text(&p->entries[i], t);
                r = vbuf_printf(b, "%s%s : jump e%zu", first ? "\t\telements = { " : ", ", t, i);
                first = false;
        }
        if (r == 0 && !first)
                r = vbuf_puts(b, " }\n");
        return r;
}

static const char *const maps[] = { "addr4", "addr6", "name4", "name6" };

/* A base chain: each map looked up by destination and/or source. */
static int script_hook(struct vbuf *b, const char *hook, bool dst, bool src)
{
        int r = vbuf_printf(b, "\tchain %s {\n\t\ttype filter hook %s priority filter; policy accept;\n", hook, hook);

        for (size_t k = 0; k < 4 && r == 0; k++) {
                const char *fam = k % 2 == 0 ? "ip" : "ip6";

                if (dst)
                        r = vbuf_printf(b, "\t\t%s daddr vmap @%s\n", fam, maps[k]);
                if (r == 0 && src)
                        r = vbuf_printf(b, "\t\t%s saddr vmap @%s\n", fam, maps[k]);
        }
        return r ? r : vbuf_puts(b, "\t}\n");
}

int netprotect_script_build(const struct netprotect_policy *p, const struct netprotect_addr *addrs,
                            size_t n_addrs, char **ret_script, size_t max)
{
        struct vbuf b;
        int r;

        vbuf_init(&b, max);
        /* "add, delete, add" in one transaction replaces an earlier table */
        r = vbuf_printf(&b, "table inet %s\ndelete table inet %s\ntable inet %s {\n", NETPROTECT_TABLE,
                        NETPROTECT_TABLE, NETPROTECT_TABLE);
        for (size_t i = 0; i < p->n && r == 0; i++)
                r = vbuf_printf(&b, "\tchain e%zu {\n\t\tct state new counter\n\t\t%s\n\t}\n", i,
                                p->audit_only ? "accept" : "drop");
        for (size_t k = 0; k < 4 && r == 0; k++) {
                r = vbuf_printf(&b, "\tmap %s {\n\t\ttype %s : verdict\n\t\tflags %s\n", maps[k],
                                k % 2 == 0 ? "ipv4_addr" : "ipv6_addr", k < 2 ? "interval" : "timeout");
                if (r == 0)
                        r = k < 2 ? script_ranges(&b, p, k == 0 ? NETPROTECT_IPV4 : NETPROTECT_IPV6)
                                  : script_names(&b, addrs, n_addrs, k == 2 ? AF_INET : AF_INET6, true);
                if (r == 0)
                        r = vbuf_puts(&b, "\t}\n");
        }
        if (r == 0)
                r = script_hook(&b, "input", false, true);
        if (r == 0)
                r = script_hook(&b, "output", true, false);
        if (r == 0)
                r = script_hook(&b, "forward", true, true);
        if (r == 0)
                r = vbuf_puts(&b, "}\n");
        if (r == 0) {
                *ret_script = vbuf_steal(&b, NULL);
                r = *ret_script ? 0 : -ENOMEM;
        }
        vbuf_release(&b);
        return r;
}

static int table_install(const struct netprotect_policy *p, char *err, size_t err_size)
{
        struct resolved rs = { 0 };
        char *script = NULL;
        int r;

        r = names_resolve(p, &rs);
        if (r == 0)
                r = netprotect_script_build(p, rs.a, rs.n, &script, SCRIPT_MAX);
        if (r < 0)
                snprintf(err, err_size, "cannot build the network protection rules: %s", strerror(-r));
        else
                r = isolate_nft_run("install the network protection table", script, false, NULL, err, err_size);
        free(script);
        free(rs.a);
        return r;
}

/* ---- the state and counts files ---- */

/* The text of netprotect.json. Returns a heap string or NULL. */
static char *state_text(const struct netprotect_policy *p)
{
        char when[21], t[NETPROTECT_ENTRY_MAX], a[INET6_ADDRSTRLEN];
        json_t *block = json_array(), *eps = json_array(), *j;
        char *text = NULL;

        util_time_format(util_now(), when);
        j = json_pack("{s:i,s:s,s:{s:o,s:b},s:{s:i,s:s,s:o}}", "version", 1, "applied_at", when,
                      "policy", "block", block, "audit_only", p->audit_only,
                      "server", "version", 1, "host", p->server_host, "endpoints", eps);
        if (!j)
                return NULL;
        for (size_t i = 0; i < p->n; i++) {
                netprotect_entry_text(&p->entries[i], t);
                if (json_array_append_new(block, json_string(t)) < 0)
                        goto out;
        }
        for (size_t i = 0; i < p->n_server; i++)
                if (!inet_ntop(p->server[i].family, p->server[i].addr, a, sizeof(a)) ||
                    json_array_append_new(eps, json_pack("{s:s,s:i}", "address", a, "port", p->server[i].port)) < 0)
                        goto out;
        text = json_dumps(j, JSON_INDENT(2));
out:
        json_decref(j);
        return text;
}

/* Reads netprotect.json back: the policy with its server, and when it was
 * applied. Returns 1, 0 when there is none, or a negative errno. */
static int state_load(const char *dir, struct netprotect_policy **ret, char ret_applied[static 21],
                      char *err, size_t err_size)
{
        char path[PATH_MAX_], why[300], *text, *server = NULL;
        const char *host, *applied;
        struct netprotect_policy *p = NULL;
        json_t *j, *pol, *srv;
        json_int_t version;
        size_t len;
        int r;

        r = isolate_state_path(dir, NETPROTECT_STATE_FILE, path, sizeof(path), err, err_size);
        if (r < 0)
                return r;
        r = isolate_state_read(path, NETPROTECT_JSON_MAX, &text, &len, err, err_size);
        if (r <= 0)
                return r;
        j = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
        free(text);
        r = -EINVAL;
        if (!j || json_unpack(j, "{s:I,s:s,s:o,s:o}", "version", &version, "applied_at", &applied, "policy", &pol,
                              "server", &srv) < 0 || version != 1 || strlen(applied) > 20 ||
            json_unpack(srv, "{s:s}", "host", &host) < 0 || strlen(host) > ISOLATE_HOST_MAX) {
                snprintf(why, sizeof(why), "needs \"version\": 1, \"applied_at\", \"policy\" and \"server\"");
                goto out;
        }
        r = policy_from_json(pol, &p, why, sizeof(why));
        server = r == 0 ? json_dumps(srv, JSON_COMPACT) : NULL;
        if (r == 0 && (!server || isolate_state_parse(server, strlen(server), p->server, ISOLATE_ENDPOINTS_MAX,
                                                      &p->n_server, why, sizeof(why)) < 0))
                r = -EINVAL;
        if (r < 0)
                goto out;
        snprintf(p->server_host, sizeof(p->server_host), "%s", host);
        snprintf(ret_applied, 21, "%s", applied);
        *ret = p;
        p = NULL;
        r = 1;
out:
        if (r < 0)
                snprintf(err, err_size, "'%s': %s", path, why);
        free(server);
        netprotect_policy_free(p);
        json_decref(j);
        return r;
}

/* Starts the counts over: a table installed has all its counters at 0. */
static int counts_reset(const char *dir, char *err, size_t err_size)
{
        char path[PATH_MAX_], when[21], *text;
        json_t *j;
        int r;

        r = isolate_state_path(dir, NETPROTECT_COUNTS_FILE, path, sizeof(path), err, err_size);
        if (r < 0)
                return r;
        util_time_format(util_now(), when);
        j = json_pack("{s:s,s:[]}", "counted_since", when, "counts");
        text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        r = text ? util_file_write(path, text, strlen(text), 0600) : -ENOMEM;
        if (r < 0)
                snprintf(err, err_size, "cannot write '%s': %s", path, strerror(-r));
        free(text);
        json_decref(j);
        return r;
}

/* ---- apply, remove, restore, refresh ---- */

int netprotect_apply(const char *state_dir, const struct netprotect_policy *p, char *err, size_t err_size)
{
        char path[PATH_MAX_], *text = NULL, *old = NULL;
        size_t old_len = 0;
        int r;

        r = isolate_guard(err, err_size);
        if (r < 0)
                return r;
        if (p->n_server == 0) {
                snprintf(err, err_size, "the policy does not know the server it must not cut "
                         "(netprotect_policy_set_server)");
                return -EINVAL;
        }
        r = isolate_state_path(state_dir, NETPROTECT_STATE_FILE, path, sizeof(path), err, err_size);
        if (r < 0)
                return r;
        text = state_text(p);
        if (!text) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        r = isolate_state_replace(state_dir, path, text, NETPROTECT_JSON_MAX, &old, &old_len, err, err_size);
        if (r < 0)
                goto out;
        r = table_install(p, err, err_size);
        if (r < 0) {
                isolate_state_revert(state_dir, path, old, old_len);
                goto out;
        }
        r = counts_reset(state_dir, err, err_size);
out:
        free(old);
        free(text);
        return r;
}

int netprotect_remove(const char *state_dir, char *err, size_t err_size)
{
        static const char cmds[] = "table inet " NETPROTECT_TABLE "\ndelete table inet " NETPROTECT_TABLE "\n";
        static const char *const files[] = { NETPROTECT_STATE_FILE, NETPROTECT_COUNTS_FILE };
        char path[PATH_MAX_];
        int r;

        r = isolate_guard(err, err_size);
        if (r < 0)
                return r;
        r = isolate_nft_run("remove the network protection table", cmds, false, NULL, err, err_size);
        for (size_t i = 0; i < 2 && r == 0; i++) {
                r = isolate_state_path(state_dir, files[i], path, sizeof(path), err, err_size);
                if (r == 0)
                        r = isolate_state_remove(path, err, err_size);
        }
        if (r == 0)
                isolate_dir_sync(state_dir);
        return r;
}

int netprotect_restore(const char *state_dir, char *err, size_t err_size)
{
        struct netprotect_policy *p = NULL;
        char applied[21];
        int r;

        r = state_load(state_dir, &p, applied, err, err_size);
        if (r <= 0)
                return r;
        r = isolate_guard(err, err_size);
        if (r == 0)
                r = table_install(p, err, err_size);
        if (r == 0)
                r = counts_reset(state_dir, err, err_size);
        netprotect_policy_free(p);
        return r < 0 ? r : 1;
}

int netprotect_refresh(const char *state_dir, char *err, size_t err_size)
{
        struct netprotect_policy *p = NULL;
        struct resolved rs = { 0 };
        struct vbuf b;
        json_t *report = NULL;
        char applied[21];
        bool there = false;
        int r;

        r = state_load(state_dir, &p, applied, err, err_size);
        if (r <= 0)
                return r;
        r = isolate_guard(err, err_size);
        if (r == 0)
                r = isolate_nft_table_exists(NETPROTECT_TABLE, &there, err, err_size);
        if (r == 0 && !there) {
                netprotect_policy_free(p);
                return netprotect_restore(state_dir, err, err_size);
        }
        vbuf_init(&b, SCRIPT_MAX);
        if (r == 0) {
                r = names_resolve(p, &rs);
                if (r == 0)
                        r = vbuf_printf(&b, "flush map inet %s name4\nflush map inet %s name6\n",
                                        NETPROTECT_TABLE, NETPROTECT_TABLE);
                if (r == 0)
                        r = script_names(&b, rs.a, rs.n, AF_INET, false);
                if (r == 0)
                        r = script_names(&b, rs.a, rs.n, AF_INET6, false);
                if (r < 0)
                        snprintf(err, err_size, "cannot build the refreshed addresses: %s", strerror(-r));
        }
        if (r == 0)
                r = isolate_nft_run("refresh the addresses of the blocked names", vbuf_str(&b), false, NULL, err,
                                    err_size);
        vbuf_release(&b);
        free(rs.a);
        netprotect_policy_free(p);
        if (r == 0)
                r = netprotect_report(state_dir, &report, err, err_size);
        json_decref(report);
        return r < 0 ? r : 1;
}

/* ---- the report ---- */

/* The entry index of a chain named "eN", or -1. */
static long chain_entry(const char *name, size_t n)
{
        long v = 0;

        if (!name || name[0] != 'e' || name[1] == '\0' || strlen(name) > 7)
                return -1;
        for (const char *c = name + 1; *c; c++) {
                if (*c < '0' || *c > '9')
                        return -1;
                v = v * 10 + (*c - '0');
        }
        return (size_t)v < n ? v : -1;
}

/* From nft's JSON listing of the table: each entry's counter into counts,
 * the addresses of name4/name6 into addrs (arrays of strings, per entry). */
static void listing_read(json_t *listing, size_t n, json_int_t *counts, json_t *addrs)
{
        json_t *item, *o, *e, *elem;
        size_t i, k;

        json_array_foreach(json_object_get(listing, "nftables"), i, item) {
                if ((o = json_object_get(item, "rule"))) {
                        long ent = chain_entry(json_string_value(json_object_get(o, "chain")), n);

                        json_array_foreach(json_object_get(o, "expr"), k, e)
                                if (ent >= 0 && json_object_get(e, "counter"))
                                        counts[ent] = json_integer_value(
                                                json_object_get(json_object_get(e, "counter"), "packets"));
                } else if ((o = json_object_get(item, "map"))) {
                        json_array_foreach(json_object_get(o, "elem"), k, elem) {
                                json_t *key = json_array_get(elem, 0), *target;
                                long ent;

                                if (json_is_object(key))
                                        key = json_object_get(json_object_get(key, "elem"), "val");
                                target = json_object_get(json_object_get(json_array_get(elem, 1), "jump"), "target");
                                ent = chain_entry(json_string_value(target), n);
                                if (ent >= 0 && json_is_string(key) &&
                                    json_array_size(json_array_get(addrs, (size_t)ent)) < NETPROTECT_NAME_ADDRS_MAX)
                                        json_array_append(json_array_get(addrs, (size_t)ent), key);
                        }
                }
        }
}

/* Updates netprotect-counts.json with counts read now: an entry whose count
 * grew was last hit now. Hands back each entry's last time (or null). */
static int counts_update(const char *dir, const json_int_t *counts, size_t n, json_t *last, char ret_since[static 21],
                         char *err, size_t err_size)
{
        char path[PATH_MAX_], now[21], *text = NULL;
        const char *since = NULL;
        json_t *j = NULL, *arr;
        size_t len;
        bool changed = false;
        int r;

        r = isolate_state_path(dir, NETPROTECT_COUNTS_FILE, path, sizeof(path), err, err_size);
        if (r < 0)
                return r;
        util_time_format(util_now(), now);
        if (util_file_read(path, NETPROTECT_JSON_MAX, &text, &len) == 0)
                j = json_loadb(text, len, 0, NULL);
        free(text);
        if (!j || json_unpack(j, "{s:s,s:o}", "counted_since", &since, "counts", &arr) < 0 || !json_is_array(arr) ||
            strlen(since) > 20) {
                json_decref(j);
                j = json_pack("{s:s,s:[]}", "counted_since", now, "counts");
                arr = json_object_get(j, "counts");
                since = now;
        }
        snprintf(ret_since, 21, "%s", since);
        for (size_t i = 0; i < n; i++) {
                json_t *was = json_array_get(arr, i);
                json_int_t before = json_integer_value(json_array_get(was, 0));
                json_t *when = json_string_value(json_array_get(was, 1)) ? json_array_get(was, 1) : NULL;

                /* a count lower than recorded: counted again from 0 since */
                if (!was || counts[i] != before) {
                        when = counts[i] > before ? json_string(now) : when ? json_incref(when) : json_null();
                        was = json_pack("[I,o]", counts[i], when);
                        if (i < json_array_size(arr))
                                json_array_set_new(arr, i, was);
                        else
                                json_array_append_new(arr, was);
                        changed = true;
                }
                json_array_append(last, when ? when : json_null());
        }
        text = changed ? json_dumps(j, JSON_COMPACT) : NULL;
        if (text && util_file_write(path, text, strlen(text), 0600) < 0)
                r = -EIO;
        free(text);
        json_decref(j);
        if (r < 0)
                snprintf(err, err_size, "cannot write '%s'", path);
        return r;
}

static json_t *report_entries(const struct netprotect_policy *p, const json_int_t *counts, json_t *addrs, json_t *last)
{
        char t[NETPROTECT_ENTRY_MAX];
        json_t *arr = json_array();

        for (size_t i = 0; arr && i < p->n; i++) {
                const struct netprotect_entry *e = &p->entries[i];
                const char *kind = e->kind == NETPROTECT_DOMAIN ? "domain" :
                                   e->prefix == family_bits(e->kind) ? "address" : "range";
                json_t *o;

                netprotect_entry_text(e, t);
                o = json_pack("{s:s,s:s,s:I,s:O}", "entry", t, "kind", kind, "attempts", counts[i],
                              "last_attempt_at", json_array_get(last, i));
                if (o && e->kind == NETPROTECT_DOMAIN)
                        json_object_set(o, "addresses", json_array_get(addrs, i));
                json_array_append_new(arr, o);
        }
        return arr;
}

int netprotect_report(const char *state_dir, json_t **ret, char *err, size_t err_size)
{
        static const char cmd[] = "list table inet " NETPROTECT_TABLE;
        struct netprotect_policy *p = NULL;
        json_t *listing = NULL, *addrs = json_array(), *last = json_array();
        json_int_t *counts = NULL;
        char applied[21], since[21], now[21], *out = NULL;
        bool there = false;
        int r;

        r = state_load(state_dir, &p, applied, err, err_size);
        if (r <= 0) {
                if (r == 0)
                        *ret = NULL;
                goto out;
        }
        counts = calloc(p->n + 1, sizeof(*counts));
        r = counts && addrs && last ? 0 : -ENOMEM;
        if (r < 0)
                snprintf(err, err_size, "out of memory");
        for (size_t i = 0; r == 0 && i < p->n; i++)
                json_array_append_new(addrs, json_array());
        if (r == 0)
                r = isolate_nft_table_exists(NETPROTECT_TABLE, &there, err, err_size);
        if (r == 0 && there)
                r = isolate_nft_run("read the network protection counters", cmd, true, &out, err, err_size);
        if (r == 0 && there) {
                listing = json_loads(out, 0, NULL);
                if (listing)
                        listing_read(listing, p->n, counts, addrs);
        }
        if (r == 0)
                r = counts_update(state_dir, counts, p->n, last, since, err, err_size);
        if (r < 0)
                goto out;
        util_time_format(util_now(), now);
        *ret = json_pack("{s:b,s:b,s:s,s:s,s:s,s:o}", "installed", there, "audit_only", p->audit_only,
                         "applied_at", applied, "counted_since", since, "read_at", now,
                         "entries", report_entries(p, counts, addrs, last));
        r = *ret ? 0 : -ENOMEM;
        if (r < 0)
                snprintf(err, err_size, "out of memory");
out:
        json_decref(listing);
        json_decref(addrs);
        json_decref(last);
        free(out);
        free(counts);
        netprotect_policy_free(p);
        return r;
}
