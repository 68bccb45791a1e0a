/* Unit tests for the investigation package (agent/src/investigate.c) and
 * its two sources in the agent (the log ring, the recent-events ring): a
 * package built from a fake /proc, a temporary state directory, a utmp
 * file and a folder of files, read back with libarchive; the manifest's
 * sizes and digests, lineage, socket owners, the time window, the size cap;
 * the /proc/net line parser; the log ring; and against the real /proc, this
 * process with its lineage and a TCP listener it opened. As root, the
 * detection thread's ring holds an exec this test makes. */
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utmpx.h>
#include <cmocka.h>

#include "agent/src/agent.h"
#include "agent/src/investigate.h"
#include "agent/src/spool.h"
#include "crypto/crypto.h"
#include "util/strutil.h"

#define MEMBERS 8

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static void rm_rf(const char *dir)
{
        assert_int_equal(nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS), 0);
}

static void put(const char *dir, const char *name, const char *data, size_t len)
{
        char path[4096];
        int fd;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t)len);
        close(fd);
}

static void sub(const char *dir, const char *name)
{
        char path[4096];

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        assert_int_equal(mkdir(path, 0755), 0);
}

static void link_to(const char *dir, const char *name, const char *target)
{
        char path[4096];

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        assert_int_equal(symlink(target, path), 0);
}

/* A process in the fake /proc: stat, status, cmdline, exe, fd/. */
static void fake_proc(const char *root, unsigned pid, unsigned ppid, const char *comm, const char *exe,
                      const char *cmdline, size_t cmdline_len, unsigned uid, const char *socket_inode)
{
        char dir[4096], text[1024];
        int n;

        snprintf(dir, sizeof(dir), "%s/%u", root, pid);
        assert_int_equal(mkdir(dir, 0755), 0);
        n = snprintf(text, sizeof(text), "%u (%s) S %u %u %u 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 "
                     "%u 1000 100 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n",
                     pid, comm, ppid, pid, pid, 1000 + pid);
        put(dir, "stat", text, (size_t)n);
        n = snprintf(text, sizeof(text), "Name:\t%s\nTgid:\t%u\nPPid:\t%u\nUid:\t%u\t%u\t%u\t%u\n"
                     "Gid:\t0\t0\t0\t0\n", comm, pid, ppid, uid, uid, uid, uid);
        put(dir, "status", text, (size_t)n);
        put(dir, "cmdline", cmdline, cmdline_len);
        link_to(dir, "exe", exe);
        sub(dir, "fd");
        if (socket_inode) {
                snprintf(text, sizeof(text), "socket:[%s]", socket_inode);
                link_to(dir, "fd/3", text);
        }
        link_to(dir, "fd/0", "/dev/null");
}

static const char tcp_header[] =
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

static void fake_proc_root(const char *root)
{
        char text[2048];
        int n;

        assert_int_equal(mkdir(root, 0755), 0);
        put(root, "stat", "cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n", 46);
        fake_proc(root, 1, 0, "init", "/sbin/init", "/sbin/init\0", 11, 0, "5555");
        fake_proc(root, 100, 1, "bash", "/bin/bash", "bash\0-i\0", 8, 1000, NULL);
        fake_proc(root, 200, 100, "nc", "/usr/bin/nc", "nc\0-lp\0004444\0", 12, 1000, "7777");
        sub(root, "net");
        /* 0.0.0.0:4444 listening (nc); 127.0.0.1:4444 <- 127.0.0.1:50000 (init) */
        n = snprintf(text, sizeof(text), "%s"
                     "   0: 00000000:115C 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 7777 1 0 100 0 0 10 0\n"
                     "   1: 0100007F:115C 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 5555 1 0 20 4 30 10 -1\n",
                     tcp_header);
        put(root, "net/tcp", text, (size_t)n);
        /* [::1]:22 listening, no owner */
        n = snprintf(text, sizeof(text), "%s"
                     "   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A "
                     "00000000:00000000 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0\n", tcp_header);
        put(root, "net/tcp6", text, (size_t)n);
        put(root, "net/udp", tcp_header, strlen(tcp_header));
}

static void fake_utmp(const char *path)
{
        struct utmpx u = { .ut_type = USER_PROCESS, .ut_pid = 100 };
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

        snprintf(u.ut_user, sizeof(u.ut_user), "alice");
        snprintf(u.ut_line, sizeof(u.ut_line), "pts/0");
        snprintf(u.ut_host, sizeof(u.ut_host), "198.51.100.7");
        u.ut_tv.tv_sec = 1700000100;
        assert_true(fd >= 0);
        assert_int_equal(write(fd, &u, sizeof(u)), (ssize_t)sizeof(u));
        u.ut_type = DEAD_PROCESS;
        snprintf(u.ut_user, sizeof(u.ut_user), "gone");
        assert_int_equal(write(fd, &u, sizeof(u)), (ssize_t)sizeof(u));
        close(fd);
}

/* The members of a package, read back with libarchive. */
struct package {
        char *name[MEMBERS + 1];
        char *data[MEMBERS + 1];
        size_t len[MEMBERS + 1];
        unsigned mode[MEMBERS + 1];
        size_t n;
};

static void package_read(const char *path, struct package *p)
{
        struct archive *a = archive_read_new();
        struct archive_entry *e;

        memset(p, 0, sizeof(*p));
        archive_read_support_filter_gzip(a);
        archive_read_support_format_tar(a);
        assert_int_equal(archive_read_open_filename(a, path, 16384), ARCHIVE_OK);
        while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
                size_t len = (size_t)archive_entry_size(e);

                assert_true(p->n <= MEMBERS);
                p->name[p->n] = strdup(archive_entry_pathname(e));
                p->data[p->n] = malloc(len + 1);
                assert_int_equal(archive_read_data(a, p->data[p->n], len), (la_ssize_t)len);
                p->data[p->n][len] = '\0';
                p->len[p->n] = len;
                p->mode[p->n] = archive_entry_perm(e);
                p->n++;
        }
        archive_read_free(a);
}

static void package_free(struct package *p)
{
        for (size_t i = 0; i < p->n; i++) {
                free(p->name[i]);
                free(p->data[i]);
        }
}

static const char *member(const struct package *p, const char *name, size_t *ret_len)
{
        for (size_t i = 0; i < p->n; i++)
                if (strcmp(p->name[i], name) == 0) {
                        if (ret_len)
                                *ret_len = p->len[i];
                        return p->data[i];
                }
        return NULL;
}

static json_t *member_json(const struct package *p, const char *name)
{
        const char *text = member(p, name, NULL);
        json_t *j;

        assert_non_null(text);
        j = json_loads(text, 0, NULL);
        assert_non_null(j);
        return j;
}

/* The manifest's entry for a member. */
static json_t *manifest_entry(json_t *man, const char *name)
{
        size_t i;
        json_t *e;

        json_array_foreach(json_object_get(man, "members"), i, e)
                if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
                        return e;
        fail_msg("no manifest entry for %s", name);
        return NULL;
}

static json_t *find_pid(json_t *arr, json_int_t pid)
{
        size_t i;
        json_t *e;

        json_array_foreach(arr, i, e)
                if (json_integer_value(json_object_get(e, "pid")) == pid)
                        return e;
        return NULL;
}

static int events_cb(void *ctx, struct vbuf *out)
{
        assert_string_equal(ctx, "ctx");
        return vbuf_puts(out, "{\"EventType\":\"process_exec\"}\n{\"EventType\":\"network_connect\"}\n");
}

struct fixture {
        char dir[64], proc[128], state[128], files[128], utmp[128], out[128];
};

static void fixture_make(struct fixture *f)
{
        char spool[256];

        snprintf(f->dir, sizeof(f->dir), "/tmp/vigil-test-investigate-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->proc, sizeof(f->proc), "%s/proc", f->dir);
        snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
        snprintf(f->files, sizeof(f->files), "%s/files", f->dir);
        snprintf(f->utmp, sizeof(f->utmp), "%s/utmp", f->dir);
        snprintf(f->out, sizeof(f->out), "%s/package.tar.gz", f->dir);
        fake_proc_root(f->proc);
        fake_utmp(f->utmp);
        assert_int_equal(mkdir(f->state, 0700), 0);
        snprintf(spool, sizeof(spool), "%s/spool", f->state);
        assert_int_equal(mkdir(spool, 0700), 0);
        put(spool, "alerts-00000000000000000002.jsonl", "{\"id\":\"b\"}\n{\"id\":\"c\"}\n{\"id\":\"cut", 31);
        put(spool, "alerts-00000000000000000001.jsonl", "{\"id\":\"a\"}\n", 11);
        put(spool, "alerts.ack", "1 0\n", 4);
        assert_int_equal(mkdir(f->files, 0755), 0);
        put(f->files, "old.conf", "old", 3);
        sub(f->files, "cron.d");
}

static void test_package(void **state)
{
        const char *paths[] = { NULL, NULL };
        struct investigate_opts o = { .recent_events = events_cb, .ctx = "ctx", .device_id = "dev-1" };
        char err[512], newfile[256], hex[65];
        uint8_t sum[CRYPTO_SHA256_LEN];
        struct fixture f;
        struct package p;
        struct stat st;
        json_t *man, *procs, *conns, *users, *files, *e;
        size_t i;

        fixture_make(&f);
        sleep(2);       /* old.conf falls out of a 1 s window */
        snprintf(newfile, sizeof(newfile), "%s/cron.d", f.files);
        put(newfile, "evil", "* * * * * root sh\n", 18);
        paths[0] = f.files;
        o.state_dir = f.state;
        o.proc_root = f.proc;
        o.sensitive_paths = paths;
        o.changed_since_s = 1;
        o.utmp_path = f.utmp;
        assert_int_equal(investigate_collect(&o, f.out, err, sizeof(err)), 0);
        assert_int_equal(stat(f.out, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        package_read(f.out, &p);
        assert_int_equal(p.n, 7);       /* no agent.log: no function gave it */
        assert_string_equal(p.name[p.n - 1], "manifest.json");

        /* the manifest: device, each member's size and sha256, the absent log */
        man = member_json(&p, "manifest.json");
        assert_string_equal(json_string_value(json_object_get(man, "device_id")), "dev-1");
        assert_string_equal(json_string_value(json_object_get(man, "agent_version")), VIGIL_VERSION);
        assert_non_null(json_string_value(json_object_get(man, "hostname")));
        for (i = 0; i + 1 < p.n; i++) {
                e = manifest_entry(man, p.name[i]);
                assert_int_equal(p.mode[i], 0600);
                assert_int_equal(json_integer_value(json_object_get(e, "size")), p.len[i]);
                crypto_sha256(p.data[i], p.len[i], sum);
                util_hex_encode(sum, sizeof(sum), hex);
                assert_string_equal(json_string_value(json_object_get(e, "sha256")), hex);
        }
        assert_string_equal(json_string_value(json_object_get(manifest_entry(man, "processes.json"), "status")),
                            "complete");
        assert_string_equal(json_string_value(json_object_get(manifest_entry(man, "agent.log"), "status")), "absent");
        assert_null(member(&p, "agent.log", NULL));

        /* processes with lineage, user names and start times */
        procs = member_json(&p, "processes.json");
        assert_int_equal(json_array_size(procs), 3);
        e = find_pid(procs, 200);
        assert_non_null(e);
        assert_string_equal(json_string_value(json_object_get(e, "image")), "/usr/bin/nc");
        assert_string_equal(json_string_value(json_object_get(e, "command_line")), "nc -lp 4444");
        assert_int_equal(json_integer_value(json_object_get(e, "ppid")), 100);
        assert_int_equal(json_array_size(json_object_get(e, "lineage")), 2);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(e, "lineage"), 0), "pid")), 100);
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(e, "lineage"), 1), "image")),
                            "/sbin/init");
        assert_non_null(json_string_value(json_object_get(e, "start_time")));
        assert_string_equal(json_string_value(json_object_get(find_pid(procs, 1), "user")), "root");

        /* sockets with their owners */
        conns = member_json(&p, "connections.json");
        assert_int_equal(json_array_size(conns), 3);
        json_array_foreach(conns, i, e) {
                json_int_t port = json_integer_value(json_object_get(e, "local_port"));
                const char *state_name = json_string_value(json_object_get(e, "state"));

                if (port == 4444 && strcmp(state_name, "listen") == 0) {
                        assert_string_equal(json_string_value(json_object_get(e, "local_address")), "0.0.0.0");
                        assert_int_equal(json_integer_value(json_object_get(e, "pid")), 200);
                        assert_string_equal(json_string_value(json_object_get(e, "image")), "/usr/bin/nc");
                } else if (port == 4444) {
                        assert_string_equal(state_name, "established");
                        assert_int_equal(json_integer_value(json_object_get(e, "remote_port")), 50000);
                        assert_string_equal(json_string_value(json_object_get(e, "remote_address")), "127.0.0.1");
                        assert_int_equal(json_integer_value(json_object_get(e, "pid")), 1);
                } else {
                        assert_int_equal(port, 22);
                        assert_string_equal(json_string_value(json_object_get(e, "local_address")), "::1");
                        assert_null(json_object_get(e, "pid"));
                }
        }
        /* udp6 is missing from this /proc: said, not fatal */
        assert_non_null(strstr(json_string_value(json_object_get(manifest_entry(man, "connections.json"), "reason")),
                               "udp6"));

        users = member_json(&p, "users.json");
        assert_int_equal(json_array_size(users), 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(users, 0), "user")), "alice");
        assert_string_equal(json_string_value(json_object_get(json_array_get(users, 0), "host")), "198.51.100.7");

        /* the file changed within the window, not the old one */
        files = member_json(&p, "files.json");
        assert_int_equal(json_array_size(files), 1);
        e = json_array_get(files, 0);
        assert_non_null(strstr(json_string_value(json_object_get(e, "path")), "/files/cron.d/evil"));
        assert_int_equal(json_integer_value(json_object_get(e, "size")), 18);
        assert_string_equal(json_string_value(json_object_get(e, "mode")), "0644");
        crypto_sha256("* * * * * root sh\n", 18, sum);
        util_hex_encode(sum, sizeof(sum), hex);
        assert_string_equal(json_string_value(json_object_get(e, "sha256")), hex);

        /* alert lines in segment order, without the line cut by a crash */
        assert_string_equal(member(&p, "alerts.jsonl", NULL), "{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n");
        assert_int_equal(json_integer_value(json_object_get(manifest_entry(man, "alerts.jsonl"), "entries")), 3);
        assert_non_null(strstr(member(&p, "events.jsonl", NULL), "network_connect"));

        json_decref(man);
        json_decref(procs);
        json_decref(conns);
        json_decref(users);
        json_decref(files);
        package_free(&p);
        rm_rf(f.dir);
}

/* A cap that the processes do not fit in: cut, said so, still valid JSON;
 * missing parts fail alone. */
static void test_package_cut(void **state)
{
        struct investigate_opts o = { .max_bytes = (64u << 10) + 400 };
        const char *paths[] = { "/nonexistent-vigil-path", NULL };
        char err[512];
        struct fixture f;
        struct package p;
        json_t *man, *procs, *e;

        fixture_make(&f);
        o.proc_root = f.proc;
        o.state_dir = "/nonexistent-vigil-state";
        o.sensitive_paths = paths;
        o.utmp_path = "/nonexistent-vigil-utmp";
        assert_int_equal(investigate_collect(&o, f.out, err, sizeof(err)), 0);
        package_read(f.out, &p);
        man = member_json(&p, "manifest.json");
        e = manifest_entry(man, "processes.json");
        assert_string_equal(json_string_value(json_object_get(e, "status")), "cut");
        assert_non_null(strstr(json_string_value(json_object_get(e, "reason")), "size cap"));
        procs = member_json(&p, "processes.json");
        assert_true(json_array_size(procs) < 3);
        assert_int_equal(json_integer_value(json_object_get(e, "entries")), json_array_size(procs));
        assert_string_equal(json_string_value(json_object_get(manifest_entry(man, "users.json"), "status")), "failed");
        assert_string_equal(json_string_value(json_object_get(manifest_entry(man, "alerts.jsonl"), "status")), "failed");
        assert_string_equal(json_string_value(json_object_get(manifest_entry(man, "events.jsonl"), "status")), "absent");
        assert_true(json_is_null(json_object_get(man, "device_id")));
        json_decref(procs);
        json_decref(man);
        package_free(&p);

        /* nowhere to write: an error, and nothing left behind */
        assert_int_equal(investigate_collect(&o, "/nonexistent-vigil-dir/p.tar.gz", err, sizeof(err)), -ENOENT);
        assert_non_null(strstr(err, "cannot create"));
        rm_rf(f.dir);
}

static void test_net_line(void **state)
{
        static const char *const bad[] = {
                "", "sl local", tcp_header,
                "   0: 00000000:115C 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0",
                "   0: 0000000:115C 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 7777",
                "   0: 0000000G:115C 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 7777",
                "   0: 00000000:115C 00000000:0000 0AB 00000000:00000000 00:00000000 00000000  1000 0 7777",
                "   0: 00000000:115C 00000000:0000 0A 00000000:00000000 00:00000000 00000000  -1 0 7777",
                "   0 00000000:115C 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 7777",
        };
        const char v4[] = "   1: 0100007F:115C 0200A8C0:C350 01 00000000:00000000 00:00000000 00000000   1000  0 5555 1";
        const char v6[] = "   0: 0000000000000000FFFF00000100007F:0016 00000000000000000000000000000000:0000 0A "
                          "00000000:00000000 00:00000000 00000000     0        0 4242 1";
        struct investigate_socket s;
        char a[INET6_ADDRSTRLEN];

        assert_int_equal(investigate_net_line_parse(v4, strlen(v4), false, &s), 0);
        assert_int_equal(s.family, AF_INET);
        assert_string_equal(inet_ntop(AF_INET, s.local, a, sizeof(a)), "127.0.0.1");
        assert_string_equal(inet_ntop(AF_INET, s.remote, a, sizeof(a)), "192.168.0.2");
        assert_int_equal(s.local_port, 4444);
        assert_int_equal(s.remote_port, 50000);
        assert_int_equal(s.state, 1);
        assert_int_equal(s.uid, 1000);
        assert_int_equal(s.inode, 5555);
        assert_string_equal(investigate_tcp_state_name(s.state), "established");
        assert_int_equal(investigate_net_line_parse(v6, strlen(v6), true, &s), 0);
        assert_string_equal(inet_ntop(AF_INET6, s.local, a, sizeof(a)), "::ffff:127.0.0.1");
        assert_int_equal(s.local_port, 22);
        assert_string_equal(investigate_tcp_state_name(s.state), "listen");
        assert_string_equal(investigate_tcp_state_name(200), "unknown");
        /* a v4 line read as v6 and the reverse */
        assert_int_equal(investigate_net_line_parse(v4, strlen(v4), true, &s), -EINVAL);
        assert_int_equal(investigate_net_line_parse(v6, strlen(v6), false, &s), -EINVAL);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(investigate_net_line_parse(bad[i], strlen(bad[i]), false, &s), -EINVAL);
        assert_int_equal(investigate_net_line_parse(v4, INVESTIGATE_NET_LINE_MAX + 1, false, &s), -EINVAL);
}

static void test_log_ring(void **state)
{
        int saved = dup(STDERR_FILENO), null = open("/dev/null", O_WRONLY);
        struct vbuf b;
        const char *s;

        /* the lines go to stderr too: not into the test's log */
        assert_true(saved >= 0 && null >= 0);
        dup2(null, STDERR_FILENO);
        for (int i = 0; i < 3000; i++)
                agent_log("info", "ring line %04d %s", i, "................................................."
                          "..................................................");
        dup2(saved, STDERR_FILENO);
        close(saved);
        close(null);
        vbuf_init(&b, 1 << 20);
        assert_int_equal(agent_log_recent(&b), 0);
        s = vbuf_str(&b);
        /* about 256 KiB of whole lines, the newest last */
        assert_true(b.len <= 256 * 1024 && b.len > 250 * 1024);
        assert_null(strstr(s, "ring line 0000 "));
        assert_non_null(strstr(s, "ring line 2999 "));
        assert_int_equal(s[b.len - 1], '\n');
        assert_true(s[0] >= '0' && s[0] <= '9');        /* a timestamp: a line's start */
        vbuf_release(&b);

        vbuf_init(&b, 400);
        assert_int_equal(agent_log_recent(&b), 1);
        s = vbuf_str(&b);
        assert_true(b.len > 0 && b.len <= 400);
        assert_non_null(strstr(s, "ring line 2999 "));
        assert_null(strstr(s, "ring line 2990 "));
        assert_true(s[0] >= '0' && s[0] <= '9');
        vbuf_release(&b);
}

/* The real /proc: this process with its parent in its lineage, and a TCP
 * listener it opened, with this process as its owner. */
static void test_real_proc(void **state)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        struct investigate_opts o = { .proc_root = "/proc" };
        const char *paths[] = { NULL, NULL };
        char dir[] = "/tmp/vigil-test-investigate-XXXXXX", out[128], err[512];
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        json_t *procs, *conns, *me, *e;
        struct package p;
        bool found = false;
        size_t i;

        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(fd, 1), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        assert_non_null(mkdtemp(dir));
        paths[0] = dir;
        o.sensitive_paths = paths;
        o.state_dir = dir;
        snprintf(out, sizeof(out), "%s/p.tar.gz", dir);
        assert_int_equal(investigate_collect(&o, out, err, sizeof(err)), 0);
        package_read(out, &p);
        procs = member_json(&p, "processes.json");
        me = find_pid(procs, getpid());
        assert_non_null(me);
        assert_int_equal(json_integer_value(json_object_get(me, "ppid")), getppid());
        assert_non_null(strstr(json_string_value(json_object_get(me, "image")), "test-investigate"));
        assert_true(json_array_size(json_object_get(me, "lineage")) >= 1);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(me, "lineage"), 0), "pid")),
                         getppid());
        conns = member_json(&p, "connections.json");
        json_array_foreach(conns, i, e)
                if (json_integer_value(json_object_get(e, "local_port")) == ntohs(sa.sin_port) &&
                    strcmp(json_string_value(json_object_get(e, "state")), "listen") == 0) {
                        assert_int_equal(json_integer_value(json_object_get(e, "pid")), getpid());
                        assert_string_equal(json_string_value(json_object_get(e, "local_address")), "127.0.0.1");
                        found = true;
                }
        assert_true(found);
        json_decref(procs);
        json_decref(conns);
        package_free(&p);
        close(fd);
        rm_rf(dir);
}

/* True if a line of text holds both a and b. */
static bool event_line_has(const char *text, const char *a, const char *b)
{
        for (const char *p = text; *p;) {
                size_t n = strcspn(p, "\n");
                char *line = strndup(p, n);
                bool both = line && strstr(line, a) && strstr(line, b);

                free(line);
                if (both)
                        return true;
                p += n + (p[n] == '\n');
        }
        return false;
}

/* As root: the detection thread's ring holds an exec made after it
 * started, rendered as `vigil-agent events` would. Last: starting the
 * detection thread drops this process's capabilities. */
static void test_events_ring(void **state)
{
        char dir[] = "/tmp/vigil-test-investigate-XXXXXX", mark[64];
        struct agent_run_opts o = { .sensor = "cnproc" };
        struct run_detect *rd = NULL;
        struct spool *spool = NULL;
        struct vbuf b;
        bool seen = false;
        pid_t pid;

        if (geteuid() != 0)
                skip();
        assert_non_null(mkdtemp(dir));
        o.state_dir = dir;
        assert_int_equal(spool_open(dir, "alerts", 0, 0, &spool), 0);
        if (agent_detect_start(&o, spool, NULL, &rd) < 0)
                skip();
        snprintf(mark, sizeof(mark), "vigil-ring-mark-%d", getpid());
        for (int tries = 0; tries < 50 && !seen; tries++) {
                pid = fork();
                if (pid == 0) {
                        execl("/bin/sh", "sh", "-c", "sleep 0.2", mark, (char *)NULL);
                        _exit(127);
                }
                waitpid(pid, NULL, 0);
                vbuf_init(&b, 8u << 20);
                assert_true(agent_detect_recent_events(rd, &b) >= 0);
                seen = event_line_has(vbuf_str(&b), mark, "\"EventType\":\"process_exec\"");
                vbuf_release(&b);
        }
        assert_true(seen);
        /* a small cap keeps the newest whole lines */
        vbuf_init(&b, 4096);
        assert_true(agent_detect_recent_events(rd, &b) >= 0);
        assert_true(b.len == 0 || vbuf_str(&b)[b.len - 1] == '\n');
        vbuf_release(&b);
        agent_detect_stop(rd);
        spool_close(spool);
        rm_rf(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_package),
                cmocka_unit_test(test_package_cut),
                cmocka_unit_test(test_net_line),
                cmocka_unit_test(test_log_ring),
                cmocka_unit_test(test_real_proc),
                cmocka_unit_test(test_events_ring),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
