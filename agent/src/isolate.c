/* isolate: network isolation with one nftables table, installed and removed
 * through libnftables (see isolate.h and docs/ACTIONS.md). */
#include "agent/src/isolate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/capability.h>
#include <linux/netlink.h>
#include <netdb.h>
#include <nftables/libnftables.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "inventory/inventory.h"
#include "util/strutil.h"

#define URL_MAX 2048
#define SCRIPT_MAX 16384
#define GUARD_ENV "VIGIL_TEST_NETNS_ONLY"
#define NET_INIT_INO 0xEFFFFFF9u   /* the initial network namespace (PROC_NET_INIT_INO, Linux 3.8+) */

/* libnftables keeps state of its own (and exit()s when it cannot open its
 * netlink socket): one user at a time, and only after the checks below. */

/* ---- the server URL ---- */

static bool host_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.' || c == '_';
}

static bool host6_char(char c)
{
        return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') ||
               c == ':' || c == '.';
}

/* The port after the host: ":N" or nothing, then the end or a path. */
static int url_port(const char *p, uint16_t *ret_port, char *err, size_t err_size)
{
        unsigned long port = 443;

        if (*p == ':') {
                size_t digits = 0;

                port = 0;
                for (p++; *p >= '0' && *p <= '9' && digits < 6; p++, digits++)
                        port = port * 10 + (unsigned long)(*p - '0');
                if (digits == 0 || digits > 5 || port == 0 || port > 65535) {
                        snprintf(err, err_size, "bad port in the server URL (1-65535)");
                        return -EINVAL;
                }
        }
        if (*p != '\0' && *p != '/') {
                snprintf(err, err_size, "unexpected '%c' after the host of the server URL",
                         (*p >= ' ' && *p < 0x7f) ? *p : '?');
                return -EINVAL;
        }
        *ret_port = (uint16_t)port;
        return 0;
}

int isolate_url_split(const char *url, char *host, size_t host_size, uint16_t *ret_port,
                      char *err, size_t err_size)
{
        const char *p, *start;
        size_t n;
        uint16_t port;
        bool v6;

        if (!url || strnlen(url, URL_MAX + 1) > URL_MAX || strncmp(url, "https://", 8) != 0) {
                snprintf(err, err_size, "the server URL is not https://HOST[:PORT] of at most %d bytes", URL_MAX);
                return -EINVAL;
        }
        p = url + 8;
        v6 = *p == '[';
        start = v6 ? p + 1 : p;
        for (p = start; *p && (v6 ? host6_char(*p) : host_char(*p)); p++)
                ;
        n = (size_t)(p - start);
        if (v6 && *p++ != ']') {
                snprintf(err, err_size, "the IPv6 address of the server URL lacks its closing ']'");
                return -EINVAL;
        }
        if (n == 0 || n > ISOLATE_HOST_MAX || n >= host_size) {
                snprintf(err, err_size, "the host of the server URL is empty or longer than %d bytes",
                         ISOLATE_HOST_MAX);
                return -EINVAL;
        }
        if (url_port(p, &port, err, err_size) < 0)
                return -EINVAL;
        memcpy(host, start, n);
        host[n] = '\0';
        *ret_port = port;
        return 0;
}

static bool endpoint_same(const struct isolate_endpoint *a, const struct isolate_endpoint *b)
{
        return a->family == b->family && a->port == b->port &&
               memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16) == 0;
}

/* Adds one resolved address unless already there. Returns 0 or -E2BIG. */
static int endpoint_add(const struct sockaddr *sa, uint16_t port, struct isolate_endpoint *out,
                        size_t max, size_t *n)
{
        struct isolate_endpoint e = { .family = sa->sa_family, .port = port };

        if (sa->sa_family == AF_INET)
                memcpy(e.addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        else if (sa->sa_family == AF_INET6)
                memcpy(e.addr, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
        else
                return 0;
        for (size_t i = 0; i < *n; i++)
                if (endpoint_same(&out[i], &e))
                        return 0;
        if (*n >= max)
                return -E2BIG;
        out[(*n)++] = e;
        return 0;
}

int isolate_endpoints_from_url(const char *url, struct isolate_endpoint *out, size_t max, size_t *ret_n,
                               char *err, size_t err_size)
{
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                  .ai_protocol = IPPROTO_TCP };
        struct addrinfo *res = NULL;
        char host[ISOLATE_HOST_MAX + 1];
        uint16_t port;
        size_t n = 0;
        int r;

        r = isolate_url_split(url, host, sizeof(host), &port, err, err_size);
        if (r < 0)
                return r;
        r = getaddrinfo(host, NULL, &hints, &res);
        if (r != 0) {
                snprintf(err, err_size, "cannot resolve the server's host '%s': %s", host, gai_strerror(r));
                return -EHOSTUNREACH;
        }
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                r = endpoint_add(ai->ai_addr, port, out, max, &n);
                if (r < 0) {
                        snprintf(err, err_size, "the server's host '%s' has more than %zu addresses", host, max);
                        goto free_res;
                }
        }
        if (n == 0) {
                snprintf(err, err_size, "the server's host '%s' has no IPv4 or IPv6 address", host);
                r = -EHOSTUNREACH;
                goto free_res;
        }
        *ret_n = n;
        r = 0;
free_res:
        freeaddrinfo(res);
        return r;
}

/* ---- the guard ---- */

int isolate_guard(char *err, size_t err_size)
{
        struct stat self, init;

        if (!getenv(GUARD_ENV))
                return 0;
        if (stat("/proc/self/ns/net", &self) < 0) {
                snprintf(err, err_size, "%s is set and the network namespace cannot be told (%s): "
                         "refusing to change the firewall", GUARD_ENV, strerror(errno));
                return -EPERM;
        }
        /* pid 1's namespace may be unreadable (it can hold capabilities this
         * process lacks); the kernel's own namespace has a fixed inode */
        if (self.st_ino == NET_INIT_INO ||
            (stat("/proc/1/ns/net", &init) == 0 && self.st_dev == init.st_dev && self.st_ino == init.st_ino)) {
                snprintf(err, err_size, "%s is set and this process is in the initial network namespace: "
                         "refusing to change the firewall", GUARD_ENV);
                return -EPERM;
        }
        return 0;
}

/* ---- the ruleset ---- */

/* Appends formatted text to out at *len; -E2BIG when it does not fit. */
static int __attribute__((format(printf, 4, 5))) put(char *out, size_t size, size_t *len, const char *fmt, ...)
{
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(out + *len, size - *len, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= size - *len)
                return -E2BIG;
        *len += (size_t)n;
        return 0;
}

static int endpoint_text(const struct isolate_endpoint *e, char out[static INET6_ADDRSTRLEN])
{
        if ((e->family != AF_INET && e->family != AF_INET6) || e->port == 0 ||
            !inet_ntop(e->family, e->addr, out, INET6_ADDRSTRLEN))
                return -EINVAL;
        return 0;
}

/* The endpoint rules of one direction: out to the server, answers in. */
static int script_endpoints(const struct isolate_endpoint *eps, size_t n, bool input,
                            char *out, size_t size, size_t *len)
{
        char a[INET6_ADDRSTRLEN];
        int r = 0;

        for (size_t i = 0; i < n && r == 0; i++) {
                const char *fam = eps[i].family == AF_INET ? "ip" : "ip6";

                if (endpoint_text(&eps[i], a) < 0)
                        return -EINVAL;
                if (input)
                        r = put(out, size, len, "\t\t%s saddr %s tcp sport %u ct state established,related accept\n",
                                fam, a, eps[i].port);
                else
                        r = put(out, size, len, "\t\t%s daddr %s tcp dport %u accept\n", fam, a, eps[i].port);
        }
        return r;
}

/* DHCP (v4 and v6) keeps the lease, neighbour discovery and MLD (hop limit
 * 255 or 1: they cannot come from or go past a router) keep IPv6 working on
 * the link, ICMP errors of tracked connections keep path MTU discovery. */
static const char link_in[] =
        "\t\tudp sport 67 udp dport 68 accept\n"
        "\t\tip6 saddr fe80::/10 udp sport 547 udp dport 546 accept\n"
        "\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert, nd-redirect } "
        "ip6 hoplimit 255 accept\n"
        "\t\ticmpv6 type mld-listener-query ip6 hoplimit 1 accept\n"
        "\t\tmeta l4proto { icmp, ipv6-icmp } ct state related accept\n"
        "\t\tcounter comment \"dropped by isolation\"\n";
static const char link_out[] =
        "\t\tudp sport 68 udp dport 67 accept\n"
        "\t\tip6 daddr ff02::1:2 udp sport 546 udp dport 547 accept\n"
        "\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } "
        "ip6 hoplimit 255 accept\n"
        "\t\ticmpv6 type { mld-listener-report, mld2-listener-report } ip6 hoplimit 1 accept\n"
        "\t\tmeta l4proto { icmp, ipv6-icmp } ct state related accept\n"
        "\t\tcounter comment \"dropped by isolation\"\n";

int isolate_script_build(const struct isolate_endpoint *eps, size_t n, char *out, size_t size)
{
        size_t len = 0;
        int r;

        if (n == 0 || n > ISOLATE_ENDPOINTS_MAX || size == 0)
                return -EINVAL;
        /* "add, delete, add" in one transaction: replaces an earlier table
         * atomically, and works as well when there is none */
        r = put(out, size, &len, "table inet %s\ndelete table inet %s\ntable inet %s {\n"
                "\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n"
                "\t\tiif \"lo\" accept\n", ISOLATE_TABLE, ISOLATE_TABLE, ISOLATE_TABLE);
        if (r == 0)
                r = script_endpoints(eps, n, true, out, size, &len);
        if (r == 0)
                r = put(out, size, &len, "%s\t}\n\tchain output {\n"
                        "\t\ttype filter hook output priority filter; policy drop;\n"
                        "\t\toif \"lo\" accept\n", link_in);
        if (r == 0)
                r = script_endpoints(eps, n, false, out, size, &len);
        if (r == 0)
                r = put(out, size, &len, "%s\t}\n\tchain forward {\n"
                        "\t\ttype filter hook forward priority filter; policy drop;\n"
                        "\t\tcounter comment \"dropped by isolation\"\n\t}\n}\n", link_out);
        return r;
}

/* The first line of libnftables' error text, made printable. */
static void nft_error(const char *what, const char *text, char *err, size_t err_size)
{
        char line[200];
        size_t o = 0;

        while (text && (*text == '\n' || *text == ' '))
                text++;
        for (; text && *text && *text != '\n' && o + 1 < sizeof(line); text++)
                line[o++] = (*text >= ' ' && *text < 0x7f) ? *text : '?';
        line[o] = '\0';
        snprintf(err, err_size, "nftables: cannot %s: %s", what, o ? line : "failed");
}

/* libnftables exit()s when it cannot open its netlink socket and prints
 * when it lacks privilege: find out first. */
static int nft_precheck(char *err, size_t err_size)
{
        struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct caps[2] = { 0 };
        int fd;

        if (syscall(SYS_capget, &hdr, caps) == 0 &&
            !(caps[CAP_NET_ADMIN / 32].effective & (1u << (CAP_NET_ADMIN % 32)))) {
                snprintf(err, err_size, "nftables: changing or reading the ruleset needs CAP_NET_ADMIN");
                return -EPERM;
        }
        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
        if (fd < 0) {
                snprintf(err, err_size, "nftables: no netfilter netlink socket: %s", strerror(errno));
                return -errno;
        }
        close(fd);
        return 0;
}

int isolate_nft_run(const char *what, const char *cmds, bool json, char **ret_out, char *err, size_t err_size)
{
        struct nft_ctx *ctx;
        const char *text;
        int r;

        inventory_nft_lock();
        r = nft_precheck(err, err_size);
        if (r < 0)
                goto unlock;
        r = -ENOMEM;
        ctx = nft_ctx_new(NFT_CTX_DEFAULT);
        if (!ctx) {
                snprintf(err, err_size, "nftables: cannot create a context");
                goto unlock;
        }
        if (nft_ctx_buffer_output(ctx) < 0 || nft_ctx_buffer_error(ctx) < 0) {
                snprintf(err, err_size, "nftables: cannot buffer output");
                goto free_ctx;
        }
        if (json)
                nft_ctx_output_set_flags(ctx, nft_ctx_output_get_flags(ctx) | NFT_CTX_OUTPUT_JSON);
        if (nft_run_cmd_from_buffer(ctx, cmds) != 0) {
                text = nft_ctx_get_error_buffer(ctx);
                nft_error(what, text, err, err_size);
                r = text && strstr(text, "Operation not permitted") ? -EPERM : -EIO;
                goto free_ctx;
        }
        r = 0;
        if (ret_out) {
                text = nft_ctx_get_output_buffer(ctx);
                *ret_out = strdup(text ? text : "");
                if (!*ret_out)
                        r = -ENOMEM;
        }
free_ctx:
        nft_ctx_free(ctx);
unlock:
        inventory_nft_unlock();
        return r;
}

int isolate_nft_table_exists(const char *table, bool *ret_exists, char *err, size_t err_size)
{
        char *out = NULL;
        bool found = false;
        size_t tn = strlen(table);
        int r;

        r = isolate_nft_run("list tables", "list tables inet", false, &out, err, err_size);
        if (r < 0)
                return r;
        for (const char *p = out; *p;) {
                size_t n = strcspn(p, "\n");

                if (n == 11 + tn && memcmp(p, "table inet ", 11) == 0 && memcmp(p + 11, table, tn) == 0)
                        found = true;
                p += n + (p[n] == '\n');
        }
        free(out);
        *ret_exists = found;
        return 0;
}

int isolate_status(bool *ret_installed, char *err, size_t err_size)
{
        return isolate_nft_table_exists(ISOLATE_TABLE, ret_installed, err, err_size);
}

/* ---- the state file ---- */

int isolate_state_path(const char *state_dir, const char *name, char *out, size_t size, char *err, size_t err_size)
{
        if (!state_dir || util_path_join(out, size, state_dir, name) < 0) {
                snprintf(err, err_size, "the state directory's path is missing or too long");
                return -ENAMETOOLONG;
        }
        return 0;
}

static int endpoint_parse(json_t *e, struct isolate_endpoint *ret, char *err, size_t err_size, size_t i)
{
        const char *addr;
        json_int_t port;
        struct isolate_endpoint x = { 0 };

        if (json_unpack(e, "{s:s,s:I}", "address", &addr, "port", &port) < 0 || port < 1 || port > 65535) {
                snprintf(err, err_size, "endpoint %zu: needs \"address\" and a \"port\" of 1-65535", i);
                return -EINVAL;
        }
        x.port = (uint16_t)port;
        if (inet_pton(AF_INET, addr, x.addr) == 1) {
                x.family = AF_INET;
        } else if (inet_pton(AF_INET6, addr, x.addr) == 1) {
                x.family = AF_INET6;
        } else {
                snprintf(err, err_size, "endpoint %zu: \"address\" is not an IPv4 or IPv6 address", i);
                return -EINVAL;
        }
        *ret = x;
        return 0;
}

int isolate_state_parse(const char *text, size_t len, struct isolate_endpoint *out, size_t max,
                        size_t *ret_n, char *err, size_t err_size)
{
        json_error_t jerr;
        json_int_t version;
        json_t *j, *eps;
        size_t n;
        int r = -EINVAL;

        if (len > ISOLATE_STATE_MAX) {
                snprintf(err, err_size, "larger than %d bytes", ISOLATE_STATE_MAX);
                return -E2BIG;
        }
        j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!j) {
                snprintf(err, err_size, "not JSON (line %d: %s)", jerr.line, jerr.text);
                return -EINVAL;
        }
        if (json_unpack(j, "{s:I,s:o}", "version", &version, "endpoints", &eps) < 0 || version != 1 ||
            !json_is_array(eps)) {
                snprintf(err, err_size, "needs \"version\": 1 and an \"endpoints\" array");
                goto out;
        }
        n = json_array_size(eps);
        if (n == 0 || n > max || n > ISOLATE_ENDPOINTS_MAX) {
                snprintf(err, err_size, "needs 1 to %zu endpoints, has %zu",
                         max < ISOLATE_ENDPOINTS_MAX ? max : (size_t)ISOLATE_ENDPOINTS_MAX, n);
                goto out;
        }
        for (size_t i = 0; i < n; i++)
                if (endpoint_parse(json_array_get(eps, i), &out[i], err, err_size, i) < 0)
                        goto out;
        *ret_n = n;
        r = 0;
out:
        json_decref(j);
        return r;
}

/* The text of isolation.json for eps. Returns a heap string or NULL. */
static char *state_text(const struct isolate_endpoint *eps, size_t n)
{
        char when[21], a[INET6_ADDRSTRLEN];
        json_t *j, *arr;
        char *text = NULL;

        util_time_format(util_now(), when);
        arr = json_array();
        j = json_pack("{s:i,s:s,s:o}", "version", 1, "isolated_at", when, "endpoints", arr);
        if (!j)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (endpoint_text(&eps[i], a) < 0 ||
                    json_array_append_new(arr, json_pack("{s:s,s:i}", "address", a, "port", eps[i].port)) < 0)
                        goto out;
        text = json_dumps(j, JSON_INDENT(2));
out:
        json_decref(j);
        return text;
}

void isolate_dir_sync(const char *state_dir)
{
        int fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd >= 0) {
                fsync(fd);
                close(fd);
        }
}

int isolate_state_read(const char *path, size_t max, char **ret_text, size_t *ret_len, char *err, size_t err_size)
{
        int r = util_file_read(path, max, ret_text, ret_len);

        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                snprintf(err, err_size, "cannot read '%s': %s", path, strerror(-r));
                return r;
        }
        return 1;
}

int isolate_state_replace(const char *state_dir, const char *path, const char *text, size_t max,
                          char **ret_old, size_t *ret_old_len, char *err, size_t err_size)
{
        char *old = NULL;
        size_t old_len = 0;
        int r;

        if (util_file_read(path, max, &old, &old_len) < 0)
                old = NULL;
        r = util_file_write(path, text, strlen(text), 0600);
        if (r < 0) {
                snprintf(err, err_size, "cannot write '%s': %s", path, strerror(-r));
                free(old);
                return r;
        }
        isolate_dir_sync(state_dir);
        *ret_old = old;
        *ret_old_len = old_len;
        return 0;
}

void isolate_state_revert(const char *state_dir, const char *path, const char *old, size_t old_len)
{
        if (old)
                util_file_write(path, old, old_len, 0600);
        else
                unlink(path);
        isolate_dir_sync(state_dir);
}

int isolate_state_remove(const char *path, char *err, size_t err_size)
{
        int r;

        if (unlink(path) < 0 && errno != ENOENT) {
                r = -errno;
                snprintf(err, err_size, "cannot remove '%s': %s", path, strerror(errno));
                return r;
        }
        return 0;
}

/* ---- apply, release, restore ---- */

/* isolate_guard, then the path of isolation.json into path (size bytes).
 * Returns 0 or the negative errno of the one that refused. */
static int guard_and_path(const char *state_dir, char *path, size_t size, char *err, size_t err_size)
{
        int r = isolate_guard(err, err_size);

        if (r == 0)
                r = isolate_state_path(state_dir, ISOLATE_STATE_FILE, path, size, err, err_size);
        return r;
}

static int table_install(const struct isolate_endpoint *eps, size_t n, char *err, size_t err_size)
{
        char *script = malloc(SCRIPT_MAX);
        int r;

        if (!script) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        r = isolate_script_build(eps, n, script, SCRIPT_MAX);
        if (r < 0)
                snprintf(err, err_size, "bad endpoints to leave open (1 to %d, IPv4 or IPv6, port 1-65535)",
                         ISOLATE_ENDPOINTS_MAX);
        else
                r = isolate_nft_run("install the isolation table", script, false, NULL, err, err_size);
        free(script);
        return r;
}

/* The intent is on disk before the rules change, so that a crash in
 * between still isolates after a restart; if the rules cannot be installed,
 * the earlier state file (or none) is put back. */
int isolate_apply(const char *state_dir, const struct isolate_endpoint *eps, size_t n,
                  char *err, size_t err_size)
{
        char path[4200], *text = NULL, *old = NULL;
        size_t old_len = 0;
        int r;

        r = guard_and_path(state_dir, path, sizeof(path), err, err_size);
        if (r < 0)
                return r;
        text = n > 0 && n <= ISOLATE_ENDPOINTS_MAX ? state_text(eps, n) : NULL;
        if (!text) {
                snprintf(err, err_size, "bad endpoints to leave open (1 to %d, IPv4 or IPv6, port 1-65535)",
                         ISOLATE_ENDPOINTS_MAX);
                return -EINVAL;
        }
        r = isolate_state_replace(state_dir, path, text, ISOLATE_STATE_MAX, &old, &old_len, err, err_size);
        if (r < 0)
                goto out;
        r = table_install(eps, n, err, err_size);
        if (r < 0)
                isolate_state_revert(state_dir, path, old, old_len);
out:
        free(old);
        free(text);
        return r;
}

int isolate_release(const char *state_dir, char *err, size_t err_size)
{
        static const char cmds[] = "table inet " ISOLATE_TABLE "\ndelete table inet " ISOLATE_TABLE "\n";
        char path[4200];
        int r;

        r = guard_and_path(state_dir, path, sizeof(path), err, err_size);
        if (r < 0)
                return r;
        r = isolate_nft_run("remove the isolation table", cmds, false, NULL, err, err_size);
        if (r < 0)
                return r;
        r = isolate_state_remove(path, err, err_size);
        if (r < 0)
                return r;
        isolate_dir_sync(state_dir);
        return 0;
}

int isolate_restore(const char *state_dir, char *err, size_t err_size)
{
        struct isolate_endpoint eps[ISOLATE_ENDPOINTS_MAX];
        char path[4200], why[256], *text;
        size_t len, n;
        int r;

        r = isolate_state_path(state_dir, ISOLATE_STATE_FILE, path, sizeof(path), err, err_size);
        if (r < 0)
                return r;
        r = isolate_state_read(path, ISOLATE_STATE_MAX, &text, &len, err, err_size);
        if (r <= 0)
                return r;
        r = isolate_state_parse(text, len, eps, ISOLATE_ENDPOINTS_MAX, &n, why, sizeof(why));
        free(text);
        if (r < 0) {
                snprintf(err, err_size, "'%s': %s", path, why);
                return r;
        }
        r = isolate_guard(err, err_size);
        if (r < 0)
                return r;
        r = table_install(eps, n, err, err_size);
        return r < 0 ? r : 1;
}
