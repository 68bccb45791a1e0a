/* isolate-tool: the test driver of isolate.sh. It calls the agent's
 * isolation module (agent/src/isolate.h) one function per subcommand, and
 * does the network probes the test needs, so that the test needs neither a
 * compiler nor ping, nc or socat:
 *
 *   [--state DIR] [--caps agent|no-net-admin] COMMAND ...
 *     --caps agent          first keep only the agent's capabilities
 *                           (CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, CAP_NET_ADMIN)
 *     --caps no-net-admin   first keep only CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH,
 *                           so that the kernel refuses any ruleset change
 *
 *   endpoints URL      print the endpoints isolate_endpoints_from_url gives
 *   guard              isolate_guard: print "allowed" (exit 0) or the refusal (exit 3)
 *   apply URL          isolate_apply with the URL's endpoints
 *   release            isolate_release
 *   restore            isolate_restore: print "isolated" or "not isolated"
 *   status             isolate_status: print "installed" or "not installed"
 *   listen ADDR PORT   accept TCP connections on ADDR:PORT, forever; answer each "ok\n",
 *                      and "ok\n" again to what it sends within 5 s
 *   connect ADDR PORT MS
 *                      exit 0 if ADDR:PORT answers "ok" within MS milliseconds, else 1
 *   hold ADDR PORT GOFILE MS
 *                      connect to ADDR:PORT and get "ok", print "connected", wait for
 *                      GOFILE to exist, send a line: exit 0 if "ok" comes back within MS
 *   ping ADDR MS       exit 0 if the IPv4 ADDR answers an ICMP echo within MS, else 1
 *
 * ADDR is IPv4 or IPv6 (ping: IPv4 only).
 *
 * Exit status 0 on success, 1 on failure (message on stderr), 2 on bad
 * usage, 3 when the guard refuses. The test runs every command that may
 * change the ruleset in a network namespace of its own. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/src/isolate.h"
#include "agent/src/privs.h"

static int usage(void)
{
        fprintf(stderr, "usage: isolate-tool [--state DIR] [--caps agent|no-net-admin] "
                "endpoints URL | guard | apply URL | release | restore | status | "
                "listen ADDR PORT | connect ADDR PORT MS | hold ADDR PORT GOFILE MS | ping ADDR MS\n");
        return 2;
}

static int fail(const char *what, const char *err)
{
        fprintf(stderr, "isolate-tool: %s: %s\n", what, err);
        return 1;
}

static int caps_reduce(const char *which)
{
        int agent[] = { CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, CAP_NET_ADMIN };
        char err[256];

        if (strcmp(which, "agent") != 0 && strcmp(which, "no-net-admin") != 0)
                return -EINVAL;
        if (privs_keep_only(agent, strcmp(which, "agent") == 0 ? 3 : 2, err, sizeof(err)) < 0) {
                fail("cannot drop capabilities", err);
                return -EPERM;
        }
        return 0;
}

static int endpoints(const char *url)
{
        struct isolate_endpoint eps[ISOLATE_ENDPOINTS_MAX];
        char err[512], a[INET6_ADDRSTRLEN];
        size_t n;

        if (isolate_endpoints_from_url(url, eps, ISOLATE_ENDPOINTS_MAX, &n, err, sizeof(err)) < 0)
                return fail("endpoints", err);
        for (size_t i = 0; i < n; i++)
                printf("%s %s %u\n", eps[i].family == AF_INET ? "ipv4" : "ipv6",
                       inet_ntop(eps[i].family, eps[i].addr, a, sizeof(a)), eps[i].port);
        return 0;
}

static int apply(const char *state, const char *url)
{
        struct isolate_endpoint eps[ISOLATE_ENDPOINTS_MAX];
        char err[512];
        size_t n;
        int r;

        if (isolate_endpoints_from_url(url, eps, ISOLATE_ENDPOINTS_MAX, &n, err, sizeof(err)) < 0)
                return fail("endpoints", err);
        r = isolate_apply(state, eps, n, err, sizeof(err));
        if (r == -EPERM && strstr(err, "VIGIL_TEST_NETNS_ONLY")) {
                printf("refused: %s\n", err);
                return 3;
        }
        return r < 0 ? fail("apply", err) : 0;
}

static int ruleset_cmd(const char *state, const char *cmd)
{
        char err[512] = "";
        bool on;
        int r;

        if (strcmp(cmd, "guard") == 0) {
                r = isolate_guard(err, sizeof(err));
                printf("%s%s\n", r < 0 ? "refused: " : "allowed", err);
                return r < 0 ? 3 : 0;
        }
        if (strcmp(cmd, "status") == 0) {
                if (isolate_status(&on, err, sizeof(err)) < 0)
                        return fail("status", err);
                printf("%s\n", on ? "installed" : "not installed");
                return 0;
        }
        if (!state)
                return usage();
        if (strcmp(cmd, "release") == 0)
                r = isolate_release(state, err, sizeof(err));
        else
                r = isolate_restore(state, err, sizeof(err));
        if (r == -EPERM && strstr(err, "VIGIL_TEST_NETNS_ONLY")) {
                printf("refused: %s\n", err);
                return 3;
        }
        if (r < 0)
                return fail(cmd, err);
        if (strcmp(cmd, "restore") == 0)
                printf("%s\n", r == 1 ? "isolated" : "not isolated");
        return 0;
}

/* ADDR (IPv4 or IPv6) and PORT into sa; the address's length in *ret_len. */
static int addr_parse(const char *addr, const char *port, struct sockaddr_in6 *sa, socklen_t *ret_len)
{
        struct sockaddr_in *sa4 = (struct sockaddr_in *)(void *)sa;
        char *end;
        long p = strtol(port, &end, 10);

        memset(sa, 0, sizeof(*sa));
        if (*end || p < 1 || p > 65535)
                return -EINVAL;
        if (inet_pton(AF_INET, addr, &sa4->sin_addr) == 1) {
                sa4->sin_family = AF_INET;
                sa4->sin_port = htons((uint16_t)p);
                *ret_len = sizeof(*sa4);
                return 0;
        }
        if (inet_pton(AF_INET6, addr, &sa->sin6_addr) != 1)
                return -EINVAL;
        sa->sin6_family = AF_INET6;
        sa->sin6_port = htons((uint16_t)p);
        *ret_len = sizeof(*sa);
        return 0;
}

/* One connection: "ok\n", then "ok\n" again for anything it sends within 5 s. */
static void serve(int c)
{
        struct pollfd p = { .fd = c, .events = POLLIN };
        char buf[64];

        if (write(c, "ok\n", 3) == 3 && poll(&p, 1, 5000) == 1 && read(c, buf, sizeof(buf)) > 0 &&
            write(c, "ok\n", 3) != 3)
                fprintf(stderr, "isolate-tool: listen: write: %s\n", strerror(errno));
        close(c);
}

static int listen_forever(const char *addr, const char *port)
{
        struct sockaddr_in6 sa;
        socklen_t sa_len;
        int one = 1, fd, c;

        if (addr_parse(addr, port, &sa, &sa_len) < 0)
                return usage();
        fd = socket(sa.sin6_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            (sa.sin6_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
            bind(fd, (struct sockaddr *)&sa, sa_len) < 0 || listen(fd, 16) < 0)
                return fail("listen", strerror(errno));
        signal(SIGCHLD, SIG_IGN);
        printf("listening\n");
        fflush(stdout);
        for (;;) {
                c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0)
                        continue;
                if (fork() == 0) {
                        close(fd);
                        serve(c);
                        _exit(0);
                }
                close(c);
        }
}

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd to become ready for events until deadline. */
static bool wait_fd(int fd, short events, int64_t deadline)
{
        struct pollfd p = { .fd = fd, .events = events };
        int64_t left = deadline - now_ms();

        return left > 0 && poll(&p, 1, (int)left) == 1;
}

static int connect_probe(const char *addr, const char *port, long ms)
{
        struct sockaddr_in6 sa;
        socklen_t sa_len;
        int64_t deadline = now_ms() + ms;
        char buf[8];
        ssize_t n = 0;
        int fd, r = 1, soerr = 0;
        socklen_t len = sizeof(soerr);

        if (addr_parse(addr, port, &sa, &sa_len) < 0 || ms <= 0)
                return usage();
        fd = socket(sa.sin6_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return fail("socket", strerror(errno));
        if (connect(fd, (struct sockaddr *)&sa, sa_len) < 0 && errno != EINPROGRESS)
                goto out;
        if (!wait_fd(fd, POLLOUT, deadline) || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr)
                goto out;
        if (wait_fd(fd, POLLIN, deadline))
                n = read(fd, buf, sizeof(buf));
        r = n >= 2 && memcmp(buf, "ok", 2) == 0 ? 0 : 1;
out:
        close(fd);
        return r;
}

/* Reads "ok" from fd before deadline. */
static bool read_ok(int fd, int64_t deadline)
{
        char buf[8];

        return wait_fd(fd, POLLIN, deadline) && read(fd, buf, sizeof(buf)) >= 2 && memcmp(buf, "ok", 2) == 0;
}

/* A connection made before isolation: connect and get "ok", print
 * "connected", wait for gofile to exist, then send a line: exit 0 if "ok"
 * comes back within ms, 1 if not. */
static int hold_probe(const char *addr, const char *port, const char *gofile, long ms)
{
        struct sockaddr_in6 sa;
        socklen_t sa_len;
        int64_t deadline;
        int fd, r = 1;

        if (addr_parse(addr, port, &sa, &sa_len) < 0 || ms <= 0)
                return usage();
        fd = socket(sa.sin6_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sa_len) < 0 || !read_ok(fd, now_ms() + ms))
                return fail("hold: first exchange", strerror(errno));
        printf("connected\n");
        fflush(stdout);
        for (int i = 0; i < 200 && access(gofile, F_OK) < 0; i++)
                usleep(50 * 1000);
        fcntl(fd, F_SETFL, O_NONBLOCK);
        deadline = now_ms() + ms;
        if (write(fd, "again\n", 6) == 6 && read_ok(fd, deadline))
                r = 0;
        close(fd);
        return r;
}

static uint16_t icmp_sum(const void *p, size_t n)
{
        const uint8_t *b = p;
        uint32_t s = 0;

        for (size_t i = 0; i + 1 < n; i += 2)
                s += (uint32_t)(b[i] << 8 | b[i + 1]);
        if (n & 1)
                s += (uint32_t)b[n - 1] << 8;
        while (s >> 16)
                s = (s & 0xffff) + (s >> 16);
        return htons((uint16_t)~s);
}

static int ping_probe(const char *addr, long ms)
{
        struct sockaddr_in sa = { .sin_family = AF_INET };
        struct icmphdr req = { .type = ICMP_ECHO, .un.echo.id = htons((uint16_t)getpid()),
                               .un.echo.sequence = htons(1) };
        int64_t deadline = now_ms() + ms;
        uint8_t buf[1500];
        int fd;

        if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1 || ms <= 0)
                return usage();
        fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
        if (fd < 0)
                return fail("raw socket", strerror(errno));
        req.checksum = icmp_sum(&req, sizeof(req));
        if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                goto out;
        while (wait_fd(fd, POLLIN, deadline)) {
                ssize_t n = recv(fd, buf, sizeof(buf), 0);
                const struct iphdr *ip = (const void *)buf;
                const struct icmphdr *ic;

                if (n < (ssize_t)sizeof(*ip) || n < ip->ihl * 4 + (ssize_t)sizeof(*ic))
                        continue;
                ic = (const void *)(buf + ip->ihl * 4);
                if (ic->type == ICMP_ECHOREPLY && ic->un.echo.id == req.un.echo.id) {
                        close(fd);
                        return 0;
                }
        }
out:
        close(fd);
        return 1;
}

int main(int argc, char **argv)
{
        const char *state = NULL;
        int i = 1;

        for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
                if (strcmp(argv[i], "--state") == 0)
                        state = argv[i + 1];
                else if (strcmp(argv[i], "--caps") != 0)
                        return usage();
                else if (caps_reduce(argv[i + 1]) < 0)
                        return 2;
        }
        if (i >= argc)
                return usage();
        argv += i;
        argc -= i;
        if (strcmp(argv[0], "endpoints") == 0 && argc == 2)
                return endpoints(argv[1]);
        if (strcmp(argv[0], "apply") == 0 && argc == 2 && state)
                return apply(state, argv[1]);
        if ((!strcmp(argv[0], "guard") || !strcmp(argv[0], "status") || !strcmp(argv[0], "release") ||
             !strcmp(argv[0], "restore")) && argc == 1)
                return ruleset_cmd(state, argv[0]);
        if (strcmp(argv[0], "listen") == 0 && argc == 3)
                return listen_forever(argv[1], argv[2]);
        if (strcmp(argv[0], "connect") == 0 && argc == 4)
                return connect_probe(argv[1], argv[2], strtol(argv[3], NULL, 10));
        if (strcmp(argv[0], "hold") == 0 && argc == 5)
                return hold_probe(argv[1], argv[2], argv[3], strtol(argv[4], NULL, 10));
        if (strcmp(argv[0], "ping") == 0 && argc == 3)
                return ping_probe(argv[1], strtol(argv[2], NULL, 10));
        return usage();
}
