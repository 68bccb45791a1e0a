/* sensor-helper: the behaviours the sensor integration test (sensor.sh)
 * performs, built with the tests so that the test needs no compiler when it
 * runs. Each subcommand does one thing an attacker might and prints what the
 * test needs to find its events:
 *
 *   sleep-ms MS                   sleep (a payload that lives long enough for /proc reads)
 *   memfd-exec MS                 copy this program into a memfd and execute it as "sleep-ms MS"
 *   ptrace-attach PID             PTRACE_ATTACH to PID, wait for the stop, detach
 *   vm-write                      fork a child and process_vm_writev into it; prints the child's pid
 *   listen PORTFILE               accept one TCP connection on 127.0.0.1 (port written to
 *                                 PORTFILE), send it a shell command, print what comes back
 *   connect-shell PORT MARK       connect to 127.0.0.1:PORT, make the socket stdin/stdout/stderr,
 *                                 exec "/bin/sh -s MARK" (a reverse shell)
 *   suid-root                     print uid/euid, wait 300 ms, setuid(0) (a setuid-root
 *                                 copy escalating), print them again
 *   fork-exec-wait PROG ARG...    fork, exec PROG in the child, wait; print the parent's pid
 *   fork-exec PROG ARG...         fork, exec PROG in the child, print "PID CHILD", wait
 *                                 200 ms and exit without waiting for the child (orphaning it)
 *   reuse-pid PID PROG ARG...     start PROG with pid PID (through ns_last_pid; retries);
 *                                 prints "reused PID" or "missed"
 *
 * Exit status 0 on success, 1 on failure (with a message on stderr), 2 on
 * bad usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
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
        fprintf(stderr, "sensor-helper: %s: %s\n", what, strerror(errno));
        return 1;
}

static long num(const char *s)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || *end || end == s || v < 0) {
                fprintf(stderr, "sensor-helper: not a number: '%s'\n", s);
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

static int memfd_exec(const char *ms)
{
        char buf[65536];
        char *const argv[] = { "vigil-memfd-payload", "sleep-ms", (char *)ms, NULL };
        int in, fd;
        ssize_t n;

        in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return die("open /proc/self/exe");
        fd = memfd_create("vigil-test-memfd", MFD_CLOEXEC);
        if (fd < 0)
                return die("memfd_create");
        while ((n = read(in, buf, sizeof(buf))) > 0)
                if (write(fd, buf, (size_t)n) != n)
                        return die("write memfd");
        if (n < 0)
                return die("read /proc/self/exe");
        close(in);
        fexecve(fd, argv, (char *const[]){ NULL });
        return die("fexecve");
}

static int ptrace_attach(pid_t pid)
{
        int st;

        if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) < 0)
                return die("PTRACE_ATTACH");
        if (waitpid(pid, &st, 0) < 0)
                return die("waitpid");
        if (ptrace(PTRACE_DETACH, pid, NULL, NULL) < 0)
                return die("PTRACE_DETACH");
        return 0;
}

static char target_buf[64] = "before";

static int vm_write(void)
{
        static const char msg[] = "written by process_vm_writev";
        struct iovec local = { .iov_base = (void *)msg, .iov_len = sizeof(msg) };
        struct iovec remote = { .iov_base = target_buf, .iov_len = sizeof(msg) };
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
        n = process_vm_writev(child, &local, 1, &remote, 1, 0);
        if (n != (ssize_t)sizeof(msg)) {
                kill(child, SIGKILL);
                return die("process_vm_writev");
        }
        if (write(go[1], "x", 1) != 1 || waitpid(child, &st, 0) < 0)
                return die("wake the child");
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                fprintf(stderr, "sensor-helper: the child did not see the write\n");
                return 1;
        }
        printf("%d %zd\n", (int)child, n);
        return 0;
}

static int tcp_listen(const char *portfile)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        /* the pause lets a sensor that reads /proc after the exec find the shell */
        static const char cmd[] = "echo vigil-revshell-ok; sleep 0.3; exit 0\n";
        char buf[256];
        FILE *f;
        int s, c;
        ssize_t n;

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
        if (write(c, cmd, sizeof(cmd) - 1) != (ssize_t)sizeof(cmd) - 1)
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

static int fork_exec_wait(char **argv)
{
        pid_t child;
        int st;

        printf("%d\n", (int)getpid());
        fflush(stdout);
        child = fork();
        if (child < 0)
                return die("fork");
        if (child == 0) {
                execv(argv[0], argv);
                _exit(127);
        }
        if (waitpid(child, &st, 0) < 0)
                return die("waitpid");
        return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

static int fork_exec(char **argv)
{
        pid_t child = fork();

        if (child < 0)
                return die("fork");
        if (child == 0) {
                execv(argv[0], argv);
                _exit(127);
        }
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
                        fprintf(stderr, "sensor-helper: cannot set ns_last_pid: %s\n", strerror(errno));
                        if (fd >= 0)
                                close(fd);
                        break;
                }
                close(fd);
                child = fork();
                if (child < 0)
                        return die("fork");
                if (child == 0) {
                        if (getpid() != want)
                                _exit(99);
                        execv(argv[0], argv);
                        _exit(127);
                }
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

int main(int argc, char **argv)
{
        const char *cmd = argc > 1 ? argv[1] : "";

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (strcmp(cmd, "sleep-ms") == 0 && argc == 3)
                return sleep_ms(num(argv[2]));
        if (strcmp(cmd, "memfd-exec") == 0 && argc == 3)
                return memfd_exec(argv[2]);
        if (strcmp(cmd, "ptrace-attach") == 0 && argc == 3)
                return ptrace_attach((pid_t)num(argv[2]));
        if (strcmp(cmd, "vm-write") == 0 && argc == 2)
                return vm_write();
        if (strcmp(cmd, "listen") == 0 && argc == 3)
                return tcp_listen(argv[2]);
        if (strcmp(cmd, "connect-shell") == 0 && argc == 4)
                return connect_shell(argv[2], argv[3]);
        if (strcmp(cmd, "suid-root") == 0 && argc == 2)
                return suid_root();
        if (strcmp(cmd, "fork-exec-wait") == 0 && argc >= 3)
                return fork_exec_wait(argv + 2);
        if (strcmp(cmd, "fork-exec") == 0 && argc >= 3)
                return fork_exec(argv + 2);
        if (strcmp(cmd, "reuse-pid") == 0 && argc >= 4)
                return reuse_pid((pid_t)num(argv[2]), argv + 3);
        fprintf(stderr, "usage: sensor-helper sleep-ms MS | memfd-exec MS | ptrace-attach PID | vm-write |\n"
                        "       listen PORTFILE | connect-shell PORT MARK | suid-root |\n"
                        "       fork-exec-wait PROG ARG... | fork-exec PROG ARG... |\n"
                        "       reuse-pid PID PROG ARG...\n");
        return 2;
}
