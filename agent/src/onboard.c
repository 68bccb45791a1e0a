/* Onboarding: make the device's key pair here (the private key never leaves
 * the device), send a CSR with the package's enrollment token, and keep the
 * certificate the server issues. Nothing in the state directory changes
 * unless onboarding succeeds. */
#include "agent/src/agent.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "httpc/httpc.h"
#include "util/strutil.h"

#define STATE_FILE "agent.json"
#define STATE_MAX 4096

/* The last LOG_RING_BYTES of log lines, for the investigation package:
 * whole lines in a circular buffer, the oldest dropped to make room. */
#define LOG_RING_BYTES (256u * 1024)

static struct {
        pthread_mutex_t lock;
        size_t start, len;              /* the held bytes: [start, start + len) mod size */
        char buf[LOG_RING_BYTES];
} log_ring = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Drops the oldest line (through its newline). */
static void log_ring_drop_line(void)
{
        while (log_ring.len > 0) {
                char c = log_ring.buf[log_ring.start];

                log_ring.start = (log_ring.start + 1) % LOG_RING_BYTES;
                log_ring.len--;
                if (c == '\n')
                        return;
        }
}

static void log_ring_add(const char *line, size_t n)
{
        size_t end, first;

        if (n == 0 || n > LOG_RING_BYTES)
                return;
        pthread_mutex_lock(&log_ring.lock);
        while (log_ring.len + n > LOG_RING_BYTES)
                log_ring_drop_line();
        end = (log_ring.start + log_ring.len) % LOG_RING_BYTES;
        first = n < LOG_RING_BYTES - end ? n : LOG_RING_BYTES - end;
        memcpy(log_ring.buf + end, line, first);
        memcpy(log_ring.buf, line + first, n - first);
        log_ring.len += n;
        pthread_mutex_unlock(&log_ring.lock);
}

int agent_log_recent(struct vbuf *out)
{
        size_t room = out->max - out->len, skip = 0, pos, first;
        int r;

        pthread_mutex_lock(&log_ring.lock);
        if (log_ring.len > room) {
                /* the newest lines that fit: start after a newline */
                skip = log_ring.len - room;
                while (skip < log_ring.len && log_ring.buf[(log_ring.start + skip - 1) % LOG_RING_BYTES] != '\n')
                        skip++;
        }
        pos = (log_ring.start + skip) % LOG_RING_BYTES;
        first = log_ring.len - skip < LOG_RING_BYTES - pos ? log_ring.len - skip : LOG_RING_BYTES - pos;
        r = vbuf_append(out, log_ring.buf + pos, first);
        if (r == 0)
                r = vbuf_append(out, log_ring.buf, log_ring.len - skip - first);
        pthread_mutex_unlock(&log_ring.lock);
        return r < 0 ? r : skip > 0;
}

void agent_log(const char *level, const char *fmt, ...)
{
        char line[1100];
        va_list ap;

        va_start(ap, fmt);
        util_log_line_vformat(line, sizeof(line), level, fmt, ap);
        va_end(ap);
        fputs(line, stderr);
        log_ring_add(line, strlen(line));
}

int agent_state_path(const struct agent_state *s, const char *name, char *out, size_t size)
{
        return util_path_join(out, size, s->dir, name);
}

int agent_state_httpc(const struct agent_state *s, long timeout_s, struct httpc **ret)
{
        char ca[4200], cert[4200], key[4200];
        struct httpc_options o = { .ca_file = ca, .cert_file = cert, .key_file = key, .timeout_s = timeout_s };

        if (agent_state_path(s, "server-ca.pem", ca, sizeof(ca)) < 0 ||
            agent_state_path(s, "device.pem", cert, sizeof(cert)) < 0 ||
            agent_state_path(s, "device.key", key, sizeof(key)) < 0)
                return -ENAMETOOLONG;
        return httpc_new(s->server_url, &o, ret);
}

int agent_state_load(struct agent_state *s, char *err, size_t err_size)
{
        const char *url, *id;
        char path[4200], *text;
        size_t len;
        json_t *j;
        int r;

        agent_state_path(s, STATE_FILE, path, sizeof(path));
        r = util_file_read(path, STATE_MAX, &text, &len);
        if (r < 0) {
                snprintf(err, err_size, "cannot read '%s': %s", path, strerror(-r));
                return r;
        }
        j = json_loadb(text, len, 0, NULL);
        free(text);
        r = -EINVAL;
        if (j && json_unpack(j, "{s:s,s:s}", "server_url", &url, "device_id", &id) == 0 &&
            strlen(url) <= AGENT_URL_MAX && strlen(id) <= AGENT_ID_MAX) {
                memcpy(s->server_url, url, strlen(url) + 1);
                memcpy(s->device_id, id, strlen(id) + 1);
                r = 0;
        } else {
                snprintf(err, err_size, "'%s' is damaged: onboard again with --force", path);
        }
        json_decref(j);
        return r;
}

int agent_state_mark_offboarded(const struct agent_state *s)
{
        char path[4200], stamp[21];
        int r = agent_state_path(s, "offboarded", path, sizeof(path));

        util_time_format(util_now(), stamp);
        return r < 0 ? r : util_file_write(path, stamp, strlen(stamp), 0644);
}

bool agent_state_offboarded(const struct agent_state *s)
{
        char path[4200];

        return agent_state_path(s, "offboarded", path, sizeof(path)) == 0 && access(path, F_OK) == 0;
}

static int write_state_file(const struct agent_state *s, const char *name, const char *data,
                            unsigned mode)
{
        char path[4200];
        int r = agent_state_path(s, name, path, sizeof(path));

        if (r == 0)
                r = util_file_write(path, data, strlen(data), mode);
        if (r < 0)
                agent_log("error", "cannot write '%s': %s", path, strerror(-r));
        return r;
}

/* Sends the enrollment request. Returns 0 with the server's answer in
 * *ret_json, or -1 after logging why. */
static int enroll_request(const struct agent_state *s, const struct agent_package *pkg,
                          const char *ca_file, const char *csr, const char *name, json_t **ret_json)
{
        struct httpc_options o = { .ca_file = ca_file };
        struct httpc *c = NULL;
        char err[512], *body = NULL;
        json_t *req, *resp = NULL;
        long status = 0;
        int r = -1;

        req = json_pack("{s:s,s:s,s:s}", "token", pkg->token, "csr", csr, "name", name);
        body = req ? json_dumps(req, JSON_COMPACT) : NULL;
        if (!body || httpc_new(pkg->server_url, &o, &c) < 0) {
                agent_log("error", "cannot prepare the enrollment request");
                goto out;
        }
        if (httpc_request(c, "POST", "/agent/v1/enroll", NULL, body, strlen(body), &status, &resp,
                          err, sizeof(err)) < 0) {
                agent_log("error", "cannot reach the server: %s", err);
                goto out;
        }
        if (status != 201) {
                agent_log("error", "the server refused to enroll this device (HTTP %ld): %s", status,
                          httpc_error_message(resp, status));
                goto out;
        }
        *ret_json = resp;
        resp = NULL;
        r = 0;
out:
        httpc_free(c);
        json_decref(req);
        json_decref(resp);
        if (body)
                explicit_bzero(body, strlen(body));
        free(body);
        return r;
}

static void device_name(char *out, size_t size)
{
        struct utsname u;

        if (uname(&u) == 0 && util_str_printable(u.nodename, size - 1))
                snprintf(out, size, "%s", u.nodename);
        else
                snprintf(out, size, "linux-device");
}

/* Writes device-ca.pem, the CA that issued the device certificate, from the
 * answer's device_ca when it is one (export-cert puts it beside the
 * certificate); removes an older one otherwise, so that a device onboarded
 * again never keeps another server's CA. Returns 0 or -1 after logging. */
static int keep_device_ca(const struct agent_state *s, const char *cert, json_t *resp)
{
        const char *ca = json_string_value(json_object_get(resp, "device_ca"));
        char path[4200];

        if (ca && strlen(ca) <= CRYPTO_PEM_MAX &&
            agent_cert_issued_by(cert, strlen(cert), ca, strlen(ca)) == 0)
                return write_state_file(s, "device-ca.pem", ca, 0644);
        agent_log("warning", "the server's answer holds no device CA that issued this device's certificate; "
                  "'vigil-agent export-cert' will export the certificate without it");
        if (agent_state_path(s, "device-ca.pem", path, sizeof(path)) == 0 && unlink(path) < 0 && errno != ENOENT) {
                agent_log("error", "cannot remove '%s': %s", path, strerror(errno));
                return -1;
        }
        return 0;
}

/* Checks the answer and writes the state files. Returns 0 or -1 after logging. */
static int keep_identity(const struct agent_state *s, const struct agent_package *pkg,
                         const char *key, size_t key_len, json_t *resp)
{
        const char *id, *cert;
        char *state = NULL;
        json_t *sj;
        int r = -1;

        if (json_unpack(resp, "{s:s,s:s}", "device_id", &id, "certificate", &cert) < 0 ||
            strlen(id) > AGENT_ID_MAX || !util_str_printable(id, AGENT_ID_MAX) ||
            !crypto_cert_key_match(cert, strlen(cert), key, key_len)) {
                agent_log("error", "the server's answer does not hold a certificate for this device's key");
                return -1;
        }
        sj = json_pack("{s:s,s:s}", "server_url", pkg->server_url, "device_id", id);
        state = sj ? json_dumps(sj, JSON_INDENT(2)) : NULL;
        json_decref(sj);
        if (!state)
                return -1;
        /* agent.json last: until it exists the device is not onboarded */
        if (write_state_file(s, "device.key", key, 0600) == 0 &&
            write_state_file(s, "device.pem", cert, 0644) == 0 &&
            write_state_file(s, "server-ca.pem", pkg->server_ca, 0644) == 0 &&
            keep_device_ca(s, cert, resp) == 0 &&
            write_state_file(s, STATE_FILE, state, 0644) == 0)
                r = 0;
        if (r == 0) {
                char path[4200];
                if (agent_state_path(s, "offboarded", path, sizeof(path)) == 0)
                        unlink(path);
        }
        free(state);
        if (r == 0)
                agent_log("info", "onboarded: this device is %s at %s", id, pkg->server_url);
        return r;
}

static int onboard_with(struct agent_state *s, const struct agent_package *pkg, const char *name)
{
        char ca_tmp[4200], *key = NULL, *csr = NULL, hostname[256];
        size_t key_len = 0, csr_len;
        json_t *resp = NULL;
        int r = 1;

        if (!name) {
                device_name(hostname, sizeof(hostname));
                name = hostname;
        }
        if (crypto_key_generate(&key, &key_len) < 0 ||
            crypto_csr_create(key, key_len, name, &csr, &csr_len) < 0) {
                agent_log("error", "cannot make the device's key pair");
                goto out;
        }
        /* curl reads the CA from a file; keep it beside the state until we know */
        if (agent_state_path(s, ".onboard-ca.pem", ca_tmp, sizeof(ca_tmp)) < 0 ||
            util_file_write(ca_tmp, pkg->server_ca, strlen(pkg->server_ca), 0600) < 0) {
                agent_log("error", "cannot write in '%s'", s->dir);
                goto out;
        }
        if (enroll_request(s, pkg, ca_tmp, csr, name, &resp) == 0 &&
            keep_identity(s, pkg, key, key_len, resp) == 0)
                r = 0;
        unlink(ca_tmp);
out:
        if (key)
                explicit_bzero(key, key_len);
        free(key);
        free(csr);
        json_decref(resp);
        return r;
}

int agent_onboard(const char *package_file, const char *state_dir, const char *name, bool force)
{
        struct agent_package pkg = { 0 };
        struct agent_state s = { 0 };
        char err[512], *text;
        bool created = false;
        size_t len;
        int r;

        if (strlen(state_dir) >= sizeof(s.dir) - 64) {
                agent_log("error", "state directory path too long");
                return 2;
        }
        snprintf(s.dir, sizeof(s.dir), "%s", state_dir);
        r = util_file_read(package_file, AGENT_PACKAGE_MAX, &text, &len);
        if (r < 0) {
                agent_log("error", "cannot read onboarding package '%s': %s", package_file,
                          r == -E2BIG ? "too large to be one" : strerror(-r));
                return 1;
        }
        r = agent_package_parse(text, len, &pkg, err, sizeof(err));
        explicit_bzero(text, len);
        free(text);
        if (r < 0) {
                agent_log("error", "'%s' is not a valid onboarding package: %s", package_file, err);
                return 1;
        }
        if (agent_state_load(&s, err, sizeof(err)) == 0 && !force && !agent_state_offboarded(&s)) {
                agent_log("error", "this device is already onboarded as %s at %s; nothing changed "
                          "(use --force to onboard it again)", s.device_id, s.server_url);
                agent_package_release(&pkg);
                return 1;
        }
        if (mkdir(state_dir, 0700) == 0) {
                created = true;
        } else if (errno != EEXIST) {
                agent_log("error", "cannot create '%s': %s", state_dir, strerror(errno));
                agent_package_release(&pkg);
                return 1;
        }
        r = onboard_with(&s, &pkg, name);
        if (r != 0 && created)
                rmdir(state_dir);
        agent_package_release(&pkg);
        return r;
}
