/* Unit tests for lib/util/dpkgver: Debian version comparison checked against
 * dpkg itself. Known pairs and the syntax check run everywhere; the pairs of
 * ../shared/corpus/vuln/osv-scalibr (or $VIGIL_CORPUS/vuln/osv-scalibr) are
 * checked against what the files state, and a list of corpus and random
 * versions built from tricky pieces is sorted with dpkgver_compare() and
 * every neighbour pair confirmed by `dpkg --compare-versions`: dpkg's order
 * is total, so agreeing on every neighbour means agreeing on every pair of
 * the list. Without the corpus the test exits 77 after the other checks;
 * without dpkg the dpkg checks are skipped. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/dpkgver.h"

extern char **environ;

#define SPAWN_POOL 4
#define RANDOM_VERSIONS 5000
#define CORPUS_SAMPLE 3000
#define RANDOM_PAIRS 800
#define VERSION_LEN_MAX 200

static int sign(int x)
{
        return (x > 0) - (x < 0);
}

static void expect(const char *a, const char *b, int want)
{
        int got = sign(dpkgver_compare(a, b)), back = sign(dpkgver_compare(b, a));

        if (got != want || back != -want)
                fail_msg("'%s' vs '%s': got %d (reverse %d), want %d", a, b, got, back, want);
}

static void test_known(void **state)
{
        static const char long_a[] = "1.00000000000000000000000000000000000000000000000000000000000000000012";
        static const char long_b[] = "1.99999999999999999999999999999999999999999999999999999999";

        expect("1.0", "1.0", 0);
        expect("1.0-1", "1.0-2", -1);
        expect("1:1.0", "2.0", 1);
        expect("0:1.0", "1.0", 0);
        expect("00:1.0", "1.0", 0);
        expect("2147483647:1", "2147483646:9", 1);
        expect("1.0~rc1", "1.0", -1);
        expect("1.0~~", "1.0~", -1);
        expect("1.0~", "1.0", -1);
        expect("1.0", "1.0a", -1);
        expect("1.0a", "1.0+", -1);
        expect("1.0+", "1.0.", -1);
        expect("1.0-1~deb12u1", "1.0-1", -1);
        expect("1.0-1+deb12u1", "1.0-1", 1);
        expect("1.0-0", "1.0", 0);
        expect("1.0-00", "1.0", 0);
        expect("1.001", "1.1", 0);
        expect("1.9", "1.10", -1);
        expect(long_a, long_b, -1);
        expect(long_a, "1.12", 0);
        expect("3.0.15-1~deb12u1", "3.0.11-1~deb12u2", 1);
        expect("2.7.4+reloaded2-13ubuntu1", "2.7.4+reloaded2-13+deb9u1", -1);
        expect("1:2:3-4", "1:2:3-5", -1);
        expect("1.0-a-b", "1.0-a-c", -1);
        expect("", "0", 0);
        expect("", "~", 1);
}

static void check_ok(const char *s)
{
        const char *why = NULL;

        if (dpkgver_check(s, strlen(s), &why) != 0)
                fail_msg("'%s' refused: %s", s, why);
}

static void check_bad(const char *s, const char *reason)
{
        const char *why = NULL;

        assert_int_equal(dpkgver_check(s, strlen(s), &why), -EINVAL);
        assert_string_equal(why, reason);
}

/* Versions dpkg refuses or warns about, with dpkgver's reason. */
static const struct {
        const char *s, *reason;
} bad_versions[] = {
        { "", "version string is empty" },
        { ":1.0", "epoch in version is empty" },
        { "a:1.0", "epoch in version is not number" },
        { "1.0:2", "epoch in version is not number" },
        { "2147483648:1.0", "epoch in version is too big" },
        { "99999999999999999999:1.0", "epoch in version is too big" },
        { "1:", "nothing after colon in version number" },
        { "1.0-", "revision number is empty" },
        { "-1", "version number is empty" },
        { "1:-1", "version number is empty" },
        { "a1.0", "version number does not start with digit" },
        { "1.0_1", "invalid character in version number" },
        { "1.0 1", "invalid character in version number" },
        { "1:1.0-1:2", "invalid character in revision number" },
        { "1.0-1_2", "invalid character in revision number" },
};

static void test_check(void **state)
{
        char big[DPKGVER_MAX + 2];
        const char *why;

        check_ok("1.0");
        check_ok("1:2.30-1~deb12u1");
        check_ok("0:0");
        check_ok("2147483647:1");
        check_ok("1:2:3-4");
        check_ok("1.0-a-b");
        check_ok("7.88.1-10+deb12u5");
        check_ok("1.0~rc1+dfsg-0ubuntu0.22.04.1");
        for (size_t i = 0; i < sizeof(bad_versions) / sizeof(bad_versions[0]); i++)
                check_bad(bad_versions[i].s, bad_versions[i].reason);
        assert_int_equal(dpkgver_check("1.0\0x", 5, &why), -EINVAL);
        memset(big, '1', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        check_bad(big, "version string is too long");
        big[DPKGVER_MAX] = '\0';
        check_ok(big);
}

/* --- dpkg itself ------------------------------------------------------------------------------- */

static bool have_dpkg(void)
{
        return access("/usr/bin/dpkg", X_OK) == 0;
}

/* One dpkg run: argv of `dpkg --compare-versions a op b`, and what it must
 * answer (its exit status; 0 = true). */
struct job {
        const char *a, *op, *b;
        int want;
        pid_t pid;
};

static pid_t job_start(struct job *j, const char *err_path)
{
        const char *argv[] = { "dpkg", "--compare-versions", j->a, j->op, j->b, NULL };
        posix_spawn_file_actions_t fa;
        pid_t pid;
        int r;

        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, err_path ? err_path : "/dev/null",
                                         O_WRONLY | O_CREAT | O_TRUNC, 0600);
        r = posix_spawn(&pid, "/usr/bin/dpkg", &fa, NULL, (char *const *)argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0)
                fail_msg("cannot run dpkg: %s", strerror(r));
        return pid;
}

/* Runs every job, SPAWN_POOL at a time, and fails on the first answer that
 * differs from the job's want. */
static void jobs_run(struct job *jobs, size_t n)
{
        size_t next = 0, running = 0, bad = 0;

        while (next < n || running > 0) {
                int status;
                pid_t pid;

                while (running < SPAWN_POOL && next < n) {
                        jobs[next].pid = job_start(&jobs[next], NULL);
                        next++;
                        running++;
                }
                pid = waitpid(-1, &status, 0);
                assert_true(pid > 0);
                running--;
                for (size_t i = 0; i < next; i++) {
                        if (jobs[i].pid != pid)
                                continue;
                        jobs[i].pid = 0;
                        if (!WIFEXITED(status) || WEXITSTATUS(status) != jobs[i].want) {
                                print_error("dpkg --compare-versions '%s' %s '%s' exits %d, dpkgver says it is %s\n",
                                            jobs[i].a, jobs[i].op, jobs[i].b,
                                            WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                                            jobs[i].want ? "false" : "true");
                                bad++;
                        }
                        break;
                }
        }
        assert_int_equal(bad, 0);
}

static const char *op_of(int c)
{
        return c < 0 ? "lt" : c > 0 ? "gt" : "eq";
}

/* --- versions: the corpus and random ones ------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return (uint32_t)(rng_state % n);
}

static void piece(char *out, size_t size, size_t *len, bool revision, bool epoch)
{
        static const char *const words[] = { "a", "b", "z", "A", "Z", "rc", "alpha", "deb", "ubuntu",
                                             "dfsg", "git", "really", "build", "u" };
        static const char *const seps[] = { ".", "+", "~", "~~", "-", ":" };
        static const char *const nums[] = { "0", "00", "1", "01", "2", "9", "10", "12", "22",
                                            "04", "100", "4294967296", "18446744073709551617",
                                            "000000000000000000000000000000000000000001" };
        const char *s;

        switch (rnd(3)) {
        case 0:
                s = words[rnd(sizeof(words) / sizeof(words[0]))];
                break;
        case 1:
                /* no '-' in a revision, no ':' without an epoch */
                s = seps[rnd(revision ? 3 : epoch ? 6 : 5)];
                break;
        default:
                s = nums[rnd(sizeof(nums) / sizeof(nums[0]))];
                break;
        }
        *len += (size_t)snprintf(out + *len, size - *len, "%s", s);
}

/* A random valid version: [epoch:]digit pieces[-pieces]. */
static char *random_version(void)
{
        static const char *const epochs[] = { "", "", "", "0:", "00:", "1:", "2:", "10:" };
        char buf[VERSION_LEN_MAX + 64];
        const char *e = epochs[rnd(sizeof(epochs) / sizeof(epochs[0]))];
        size_t len = 0, n;
        bool revision = rnd(3) > 0;
        const char *why;

        do {
                len = (size_t)snprintf(buf, sizeof(buf), "%s%u", e, rnd(4));
                n = rnd(6);
                for (size_t i = 0; i < n; i++)
                        piece(buf, sizeof(buf), &len, false, *e != '\0');
                if (revision) {
                        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "-%u", rnd(3));
                        n = rnd(5);
                        for (size_t i = 0; i < n; i++)
                                piece(buf, sizeof(buf), &len, true, false);
                }
        } while (dpkgver_check(buf, len, &why) < 0);
        return strdup(buf);
}

struct versions {
        char **v;
        size_t n, alloc;
};

static void versions_add(struct versions *vs, const char *s, size_t len)
{
        if (vs->n == vs->alloc) {
                vs->alloc = vs->alloc ? vs->alloc * 2 : 1024;
                vs->v = realloc(vs->v, vs->alloc * sizeof(*vs->v));
                assert_non_null(vs->v);
        }
        vs->v[vs->n] = strndup(s, len);
        assert_non_null(vs->v[vs->n]);
        vs->n++;
}

static void versions_free(struct versions *vs)
{
        for (size_t i = 0; i < vs->n; i++)
                free(vs->v[i]);
        free(vs->v);
}

static const char *corpus_dir(void)
{
        static char path[4096];
        const char *c = getenv("VIGIL_CORPUS"), *data = getenv("VIGIL_TEST_DATA");
        struct stat st;

        if (c)
                snprintf(path, sizeof(path), "%s/vuln/osv-scalibr", c);
        else if (data)
                snprintf(path, sizeof(path), "%s/../../../shared/corpus/vuln/osv-scalibr", data);
        else
                return NULL;
        return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? path : NULL;
}

/* Reads one corpus file of lines "A OP B" (OP one of < = >; blank lines
 * and others skipped), checks each pair against its stated answer and adds
 * both versions to vs. Returns the number of pairs. */
static size_t corpus_file(const char *name, struct versions *vs)
{
        char path[4200], line[1024], a[512], b[512], op[4];
        size_t n = 0;
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", corpus_dir(), name);
        f = fopen(path, "re");
        if (!f)
                fail_msg("cannot open '%s': %s", path, strerror(errno));
        while (fgets(line, sizeof(line), f)) {
                int want;

                if (sscanf(line, "%511s %3s %511s", a, op, b) != 3 || strlen(op) != 1)
                        continue;
                want = op[0] == '<' ? -1 : op[0] == '>' ? 1 : op[0] == '=' ? 0 : 2;
                if (want == 2)
                        continue;
                expect(a, b, want);
                versions_add(vs, a, strlen(a));
                versions_add(vs, b, strlen(b));
                n++;
        }
        fclose(f);
        return n;
}

static int qsort_compare(const void *a, const void *b)
{
        return dpkgver_compare(*(char *const *)a, *(char *const *)b);
}

/* Sorts the list with dpkgver and has dpkg confirm every neighbour pair,
 * then RANDOM_PAIRS pairs taken anywhere in the list. */
static void confirm_with_dpkg(struct versions *vs)
{
        size_t n_jobs = vs->n - 1 + RANDOM_PAIRS, k = 0;
        struct job *jobs = calloc(n_jobs, sizeof(*jobs));

        assert_non_null(jobs);
        qsort(vs->v, vs->n, sizeof(*vs->v), qsort_compare);
        for (size_t i = 0; i + 1 < vs->n; i++, k++)
                jobs[k] = (struct job){ vs->v[i], op_of(dpkgver_compare(vs->v[i], vs->v[i + 1])), vs->v[i + 1], 0, 0 };
        for (size_t i = 0; i < RANDOM_PAIRS; i++, k++) {
                const char *a = vs->v[rnd((uint32_t)vs->n)], *b = vs->v[rnd((uint32_t)vs->n)];
                jobs[k] = (struct job){ a, op_of(dpkgver_compare(a, b)), b, 0, 0 };
        }
        jobs_run(jobs, n_jobs);
        print_message("dpkg confirmed the order of %zu versions (%zu pairs) in %zu runs\n",
                      vs->n, vs->n * (vs->n - 1) / 2, n_jobs);
        free(jobs);
}

static void test_against_dpkg(void **state)
{
        struct versions corpus = { 0 }, vs = { 0 };
        size_t pairs;

        if (!corpus_dir()) {
                print_message("skipped: no ../shared/corpus/vuln/osv-scalibr (set VIGIL_CORPUS)\n");
                skip();
        }
        pairs = corpus_file("debian-versions.txt", &corpus);
        pairs += corpus_file("debian-versions-generated.txt", &corpus);
        print_message("%zu corpus pairs agree with the corpus\n", pairs);
        assert_true(pairs > 10000);
        if (!have_dpkg()) {
                versions_free(&corpus);
                print_message("skipped: no /usr/bin/dpkg to compare with\n");
                skip();
        }
        for (size_t i = 0; i < CORPUS_SAMPLE; i++) {
                const char *s = corpus.v[rnd((uint32_t)corpus.n)];
                versions_add(&vs, s, strlen(s));
        }
        for (size_t i = 0; i < RANDOM_VERSIONS; i++) {
                char *s = random_version();
                versions_add(&vs, s, strlen(s));
                free(s);
        }
        confirm_with_dpkg(&vs);
        versions_free(&vs);
        versions_free(&corpus);
}

/* dpkg refuses (exit 2) or warns about (a message on stderr) every version
 * dpkgver_check() refuses, except the stricter cases of dpkgver.h. */
static void test_check_against_dpkg(void **state)
{
        char err_path[] = "/tmp/test-dpkgver-XXXXXX";
        int fd = mkstemp(err_path);

        if (!have_dpkg()) {
                print_message("skipped: no /usr/bin/dpkg to compare with\n");
                close(fd);
                unlink(err_path);
                skip();
        }
        assert_true(fd >= 0);
        close(fd);
        for (size_t i = 1; i < sizeof(bad_versions) / sizeof(bad_versions[0]); i++) {
                struct job j = { bad_versions[i].s, "eq", "1", 0, 0 };
                struct stat st;
                int status;

                if (strchr(j.a, ' '))
                        continue;
                j.pid = job_start(&j, err_path);
                assert_int_equal(waitpid(j.pid, &status, 0), j.pid);
                assert_int_equal(stat(err_path, &st), 0);
                if (!(WIFEXITED(status) && WEXITSTATUS(status) == 2) && st.st_size == 0)
                        fail_msg("dpkg accepts '%s' silently, dpkgver refuses it: %s", j.a, bad_versions[i].reason);
        }
        unlink(err_path);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_known),
                cmocka_unit_test(test_check),
                cmocka_unit_test(test_check_against_dpkg),
                cmocka_unit_test(test_against_dpkg),
        };
        int failed = cmocka_run_group_tests(tests, NULL, NULL);

        if (failed == 0 && !corpus_dir()) {
                fprintf(stderr, "skipped: no ../shared/corpus/vuln/osv-scalibr (set VIGIL_CORPUS)\n");
                return 77;
        }
        return failed;
}
