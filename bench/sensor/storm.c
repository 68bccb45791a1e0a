/* storm: the exec-storm load of bench/sensor. Runs N fork+exec of a program
 * (default /bin/true) across P worker processes, each one child at a time,
 * and prints the wall time and the CPU time (user + system, of every child:
 * the kernel's work on their behalf, eBPF programs included) in seconds. Nothing else: the sensor's cost shows
 * as the difference between runs with and without it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/strutil.h"

static int worker(unsigned long n, const char *prog)
{
        char *const argv[] = { (char *)prog, NULL };

        for (unsigned long i = 0; i < n; i++) {
                int status;
                pid_t pid = fork();
                if (pid < 0)
                        return 1;
                if (pid == 0) {
                        execv(prog, argv);
                        _exit(127);
                }
                if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        return 1;
        }
        return 0;
}

int main(int argc, char **argv)
{
        uint64_t n = 20000, p = 2;
        const char *prog = "/bin/true";
        struct timespec a, b;
        struct rusage ru;
        int failed = 0;

        if ((argc > 1 && util_uint_parse(argv[1], 10000000, &n) < 0) ||
            (argc > 2 && util_uint_parse(argv[2], 256, &p) < 0) || p == 0) {
                fprintf(stderr, "usage: storm [N [WORKERS [PROGRAM]]]\n");
                return 2;
        }
        if (argc > 3)
                prog = argv[3];
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (uint64_t w = 0; w < p; w++) {
                pid_t pid = fork();
                if (pid < 0)
                        return 1;
                if (pid == 0)
                        _exit(worker(n / p + (w < n % p), prog));
        }
        for (uint64_t w = 0; w < p; w++) {
                int status;
                if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        failed = 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (failed) {
                fprintf(stderr, "storm: a fork or exec failed\n");
                return 1;
        }
        getrusage(RUSAGE_CHILDREN, &ru);
        printf("%.3f %.3f\n", (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9,
               (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
        return 0;
}
