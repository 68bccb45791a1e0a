/* harness: a real vigild per test group. See harness.h. */
#include "tests/integration/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "util/strutil.h"

extern char **environ;

static int run_capture(char *const argv[], char *out, size_t size)
{
        posix_spawn_file_actions_t fa;
        int pipefd[2], status;
        size_t len = 0;
        pid_t pid;
        ssize_t n;

        if (pipe(pipefd) < 0)
                return -1;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
        posix_spawn_file_actions_addclose(&fa, pipefd[0]);
        if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
                posix_spawn_file_actions_destroy(&fa);
                return -1;
        }
        posix_spawn_file_actions_destroy(&fa);
        close(pipefd[1]);
        while (len + 1 < size && (n = read(pipefd[0], out + len, size - 1 - len)) > 0)
                len += (size_t)n;
        out[len] = '\0';
        close(pipefd[0]);
        waitpid(pid, &status, 0);
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static const char *bin(const char *var, const char *fallback)
{
        const char *v = getenv(var);

        return v ? v : fallback;
}

static int wait_port(const char *path, unsigned *ret_port)
{
        for (int i = 0; i < 200; i++) {
                char *text;
                uint64_t port;
                if (util_file_read(path, 32, &text, NULL) == 0) {
                        char *nl = strchr(text, '\n');
                        if (nl)
                                *nl = '\0';
                        int r = util_uint_parse(text, 65535, &port);
                        free(text);
                        if (r == 0) {
                                *ret_port = (unsigned)port;
                                return 0;
                        }
                }
                usleep(25000);
        }
        return -1;
}

int harness_start(struct harness *h, const char *extra_config)
{
        char portfile[320], access_portfile[320], conf[320], log[320];
        struct httpc_options o = { 0 };
        unsigned port;
        char *nl;

        memset(h, 0, sizeof(*h));
        snprintf(h->dir, sizeof(h->dir), "/tmp/vigil-test-XXXXXX");
        if (!mkdtemp(h->dir)) {
                perror("mkdtemp");
                return -1;
        }
        snprintf(h->data, sizeof(h->data), "%s/data", h->dir);
        snprintf(h->ca, sizeof(h->ca), "%s/server-ca.pem", h->data);
        {
                char *argv[] = { (char *)bin("VIGILD", "build/vigild"), "init", "--data-dir", h->data, NULL };
                if (run_capture(argv, h->token, sizeof(h->token)) < 0) {
                        fprintf(stderr, "harness: vigild init failed\n");
                        return -1;
                }
        }
        nl = strchr(h->token, '\n');
        if (nl)
                *nl = '\0';
        if (extra_config) {
                int fd;
                snprintf(conf, sizeof(conf), "%s/vigild.conf", h->data);
                fd = open(conf, O_WRONLY | O_APPEND);
                if (fd < 0 || write(fd, extra_config, strlen(extra_config)) < 0)
                        return -1;
                close(fd);
        }
        snprintf(portfile, sizeof(portfile), "%s/port", h->dir);
        snprintf(access_portfile, sizeof(access_portfile), "%s/access-port", h->dir);
        snprintf(log, sizeof(log), "%s/vigild.log", h->dir);
        h->access_flag = !extra_config || !strstr(extra_config, "access_listen");
        /* without the flag, argv ends before its value and vigild.conf's access_listen holds */
        {
                char *argv[] = { (char *)bin("VIGILD", "build/vigild"), "run", "--data-dir", h->data,
                                 "--listen", "127.0.0.1:0", "--port-file", portfile,
                                 "--access-port-file", access_portfile,
                                 h->access_flag ? "--access-listen" : NULL, "127.0.0.1:0", NULL };
                posix_spawn_file_actions_t fa;
                posix_spawn_file_actions_init(&fa);
                posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                if (posix_spawn(&h->pid, argv[0], &fa, NULL, argv, environ) != 0) {
                        posix_spawn_file_actions_destroy(&fa);
                        return -1;
                }
                posix_spawn_file_actions_destroy(&fa);
        }
        /* the access port is written after the https one: both are up */
        if (wait_port(portfile, &port) < 0 || wait_port(access_portfile, &h->access_port) < 0) {
                fprintf(stderr, "harness: vigild did not start (see %s)\n", log);
                return -1;
        }
        snprintf(h->url, sizeof(h->url), "https://127.0.0.1:%u", port);
        o.ca_file = h->ca;
        return httpc_new(h->url, &o, &h->admin) < 0 ? -1 : 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

int harness_stop(struct harness *h)
{
        int status = 0, r = 0;

        httpc_free(h->admin);
        h->admin = NULL;
        if (h->pid > 0) {
                kill(h->pid, SIGTERM);
                waitpid(h->pid, &status, 0);
                h->pid = 0;
                /* a sanitizer report or a crash at shutdown fails the test */
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                        char log[320], *text;
                        snprintf(log, sizeof(log), "%s/vigild.log", h->dir);
                        fprintf(stderr, "harness: vigild ended badly (status 0x%x); its log:\n", status);
                        if (util_file_read(log, 1 << 20, &text, NULL) == 0) {
                                fputs(text, stderr);
                                free(text);
                        }
                        r = -1;
                }
        }
        if (h->dir[0] && !getenv("VIGIL_TEST_KEEP"))
                nftw(h->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        return r;
}

long harness_admin(struct harness *h, const char *method, const char *path, const char *bearer,
                   const char *body, json_t **ret_json)
{
        char err[512];
        long status = 0;
        json_t *j = NULL;

        /* bearer "" sends no token at all */
        if (httpc_request(h->admin, method, path, bearer ? (*bearer ? bearer : NULL) : h->token, body,
                          body ? strlen(body) : 0, &status, &j, err, sizeof(err)) < 0) {
                fprintf(stderr, "harness: %s\n", err);
                return -1;
        }
        if (ret_json)
                *ret_json = j;
        else
                json_decref(j);
        return status;
}

int harness_write(struct harness *h, const char *name, const char *text, char *out, size_t size)
{
        snprintf(out, size, "%s/%s", h->dir, name);
        return util_file_write(out, text, strlen(text), 0600);
}

long harness_alert_upload(struct harness_device *dev, const char *id, const char *rule_id, const char *title,
                          const char *severity)
{
        char now[21], err[256], *text;
        long st = -1;
        json_t *b, *ans = NULL;

        util_time_format(util_now(), now);
        b = json_pack("{s:[{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:[s],s:[s],s:s,s:s,s:s,s:i,"
                      "s:{s:i,s:i},s:{s:i,s:s,s:s},s:[{s:i,s:s}],s:{s:s}}]}", "alerts",
                      "change", "new", "id", id, "rule_id", rule_id, "title", title, "source", "sigma",
                      "severity", severity, "rule_level", severity, "techniques", "T1059", "tactics", "execution",
                      "category", "process_creation", "first_seen", now, "last_seen", now, "count", 1,
                      "tree", "pid", 10, "start_ticks", 5, "process", "pid", 11, "image", "/usr/bin/bash",
                      "command_line", "bash -c x", "ancestors", "pid", 1, "image", "/sbin/init",
                      "event", "EventType", "process_exec");
        text = json_dumps(b, JSON_COMPACT);
        if (httpc_request(dev->c, "POST", "/agent/v1/alerts", NULL, text, strlen(text), &st, &ans, err,
                          sizeof(err)) < 0) {
                fprintf(stderr, "harness: alert upload: %s\n", err);
                st = -1;
        }
        json_decref(ans);
        free(text);
        json_decref(b);
        return st;
}

char *harness_new_token(struct harness *h, const char *role, const char *name, char **ret_id)
{
        char body[160];
        json_t *j = NULL;
        const char *t, *id;
        char *ret = NULL;

        if (name)
                snprintf(body, sizeof(body), "{\"role\":\"%s\",\"name\":\"%s\"}", role, name);
        else
                snprintf(body, sizeof(body), "{\"role\":\"%s\"}", role);
        if (harness_admin(h, "POST", "/api/v1/tokens", NULL, body, &j) == 201 &&
            (t = json_string_value(json_object_get(j, "token"))) &&
            (id = json_string_value(json_object_get(j, "id")))) {
                ret = strdup(t);
                if (ret_id)
                        *ret_id = strdup(id);
        } else
                fprintf(stderr, "harness: cannot make a %s token\n", role);
        json_decref(j);
        return ret;
}

int harness_enroll(struct harness *h, struct harness_device *dev, const char *name)
{
        struct httpc_options o = { .ca_file = h->ca };
        char *key = NULL, *csr = NULL, *body = NULL, fname[64];
        json_t *j = NULL, *req = NULL;
        const char *token, *cert;
        size_t kl, cl;
        int r = -1;

        memset(dev, 0, sizeof(*dev));
        if (harness_admin(h, "POST", "/api/v1/onboarding-packages", NULL, "{\"uses\":1}", &j) != 201 ||
            !(token = json_string_value(json_object_get(json_object_get(j, "package"), "enrollment_token"))))
                goto out;
        if (crypto_key_generate(&key, &kl) < 0 || crypto_csr_create(key, kl, name, &csr, &cl) < 0)
                goto out;
        req = json_pack("{s:s,s:s,s:s}", "token", token, "csr", csr, "name", name);
        body = req ? json_dumps(req, JSON_COMPACT) : NULL;
        json_decref(j);
        j = NULL;
        if (!body || harness_admin(h, "POST", "/agent/v1/enroll", "", body, &j) != 201 ||
            !(cert = json_string_value(json_object_get(j, "certificate"))))
                goto out;
        snprintf(dev->id, sizeof(dev->id), "%s", json_string_value(json_object_get(j, "device_id")));
        snprintf(fname, sizeof(fname), "%s.pem", name);
        if (harness_write(h, fname, cert, dev->cert, sizeof(dev->cert)) < 0)
                goto out;
        snprintf(fname, sizeof(fname), "%s.key", name);
        if (harness_write(h, fname, key, dev->key, sizeof(dev->key)) < 0)
                goto out;
        o.cert_file = dev->cert;
        o.key_file = dev->key;
        if (httpc_new(h->url, &o, &dev->c) == 0)
                r = 0;
out:
        if (r < 0)
                fprintf(stderr, "harness: cannot enroll device %s\n", name);
        json_decref(j);
        json_decref(req);
        free(body);
        free(key);
        free(csr);
        return r;
}

int harness_restart(struct harness *h)
{
        const char *port = strrchr(h->url, ':') + 1, *vigild = getenv("VIGILD");
        char listen[64], portfile[320], access_portfile[320], log[320];
        char *argv[] = { (char *)vigild, "run", "--data-dir", h->data, "--listen", listen,
                         "--port-file", portfile, "--access-port-file", access_portfile,
                         h->access_flag ? "--access-listen" : NULL, "127.0.0.1:0", NULL };
        posix_spawn_file_actions_t fa;

        if (!vigild) {
                fprintf(stderr, "harness: VIGILD is not set\n");
                return -1;
        }
        snprintf(listen, sizeof(listen), "127.0.0.1:%s", port);
        snprintf(portfile, sizeof(portfile), "%s/port-restart", h->dir);
        snprintf(access_portfile, sizeof(access_portfile), "%s/access-port-restart", h->dir);
        snprintf(log, sizeof(log), "%s/vigild.log", h->dir);
        unlink(portfile);
        unlink(access_portfile);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_APPEND, 0644);
        /* the old listening socket may linger a moment */
        for (int i = 0; i < 50 && access(portfile, F_OK) < 0; i++) {
                if (posix_spawn(&h->pid, argv[0], &fa, NULL, argv, environ) != 0)
                        break;
                for (int w = 0; w < 100 && access(portfile, F_OK) < 0; w++) {
                        if (waitpid(h->pid, NULL, WNOHANG) == h->pid)
                                break;
                        usleep(50000);
                }
                if (access(portfile, F_OK) < 0)
                        usleep(100000);
        }
        posix_spawn_file_actions_destroy(&fa);
        if (access(portfile, F_OK) < 0 || wait_port(access_portfile, &h->access_port) < 0) {
                fprintf(stderr, "harness: vigild did not start again on port %s\n", port);
                return -1;
        }
        return 0;
}

int harness_cli(struct harness *h, const char *args, char **ret_out)
{
        const char *vigil = getenv("VIGIL");
        char cmd[2048], *out = calloc(1, 65536);
        size_t n = 0, k;
        FILE *p;
        int st;

        if (!vigil || !out || (size_t)snprintf(cmd, sizeof(cmd), "VIGIL_SERVER='%s' VIGIL_TOKEN='%s' "
                                               "VIGIL_CA='%s' '%s' %s 2>&1", h->url, h->token, h->ca, vigil,
                                               args) >= sizeof(cmd) || !(p = popen(cmd, "r"))) {
                fprintf(stderr, "harness: cannot run the CLI (is VIGIL set?)\n");
                free(out);
                return -1;
        }
        while (n < 65535 && (k = fread(out + n, 1, 65535 - n, p)) > 0)
                n += k;
        st = pclose(p);
        *ret_out = out;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

