/* config: vigild.conf, a flat "key = value" file in the data directory.
 * 'vigild run' flags (--listen, --public-url, --log-level) go through the
 * same parser and win over the file. */
#include "server/vigild.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/tvm/feeds.h"
#include "util/strutil.h"

#define CONFIG_MAX (64 * 1024)
#define CONFIG_LINE_MAX 1024

void vigild_config_defaults(struct vigild_config *cfg)
{
        memset(cfg, 0, sizeof(*cfg));
        snprintf(cfg->listen, sizeof(cfg->listen), "%s", VIGILD_LISTEN_DEFAULT);
        cfg->heartbeat_interval = 60;
        cfg->inactive_after = 7 * 86400;
        cfg->body_max = 16 * 1024 * 1024;
        cfg->threads = 2;
        cfg->device_cert_days = 365;
        cfg->connection_timeout = 300;
        cfg->max_devices = 1000000;
        cfg->max_connections = 20000;
        /* every online agent keeps a connection: keep each one small. Requests
         * are small; bodies stream through it. */
        cfg->connection_memory = 8192;
        cfg->log_level = 2;
        cfg->webhook_max_attempts = 12;
        cfg->webhook_retry_base_ms = 1000;
        cfg->webhook_retry_max = 600;
        cfg->webhook_timeout = 10;
        cfg->webhook_queue_max = 100000;
        cfg->webhook_retention = 30 * 86400;
        snprintf(cfg->access_listen, sizeof(cfg->access_listen), "%s", "127.0.0.1:8444");
        cfg->access_threads = 2;
        cfg->access_max_connections = 4096;
        cfg->access_log_retention = 30 * 86400;
        cfg->access_log_max = 16384;
        cfg->portal_session_idle = 30 * 60;
        cfg->portal_session_max = 12 * 3600;
        cfg->portal_sse_clients = 64;
        cfg->tvm_feed_interval = 6 * 3600;
        cfg->tvm_count_open = true;
        cfg->tvm_count_undetermined = false;
}

/* A header name: 1 to 64 token characters. */
static int set_header_name(char *dst, size_t size, const char *v)
{
        size_t n = strlen(v);

        if (n == 0 || n >= size || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != n)
                return -EINVAL;
        memcpy(dst, v, n + 1);
        return 0;
}

static int set_string(char *dst, size_t size, const char *v)
{
        size_t n = strlen(v);

        if (n == 0 || n >= size || !util_str_printable(v, size - 1))
                return -EINVAL;
        memcpy(dst, v, n + 1);
        return 0;
}

static int set_uint(unsigned *dst, const char *v, uint64_t min, uint64_t max)
{
        uint64_t x;

        if (util_uint_parse(v, max, &x) < 0 || x < min)
                return -EINVAL;
        *dst = (unsigned)x;
        return 0;
}

static int set_duration(int64_t *dst, const char *v, int64_t min)
{
        int64_t s;

        if (util_duration_parse(v, &s) < 0 || s < min)
                return -EINVAL;
        *dst = s;
        return 0;
}

/* yes/true or no/false. */
static int set_bool(bool *dst, const char *v)
{
        if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0) {
                *dst = true;
                return 0;
        }
        if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0) {
                *dst = false;
                return 0;
        }
        return -EINVAL;
}

/* Applies one setting. Returns 0, -ENOENT for an unknown key, -EINVAL for a bad value. */
static int config_set(struct vigild_config *cfg, const char *key, const char *v)
{
        uint64_t x;

        if (strcmp(key, "listen") == 0)
                return set_string(cfg->listen, sizeof(cfg->listen), v);
        if (strcmp(key, "public_url") == 0) {
                if (strncmp(v, "https://", 8) != 0 || strlen(v) <= 8 || strchr(v, ' '))
                        return -EINVAL;
                return set_string(cfg->public_url, sizeof(cfg->public_url), v);
        }
        if (strcmp(key, "heartbeat_interval") == 0) {
                int r = set_duration(&cfg->heartbeat_interval, v, 1);
                /* agents ignore intervals past a day */
                return r == 0 && cfg->heartbeat_interval > 86400 ? -EINVAL : r;
        }
        if (strcmp(key, "inactive_after") == 0)
                return set_duration(&cfg->inactive_after, v, 1);
        if (strcmp(key, "body_max") == 0) {
                if (util_uint_parse(v, 256u * 1024 * 1024, &x) < 0 || x < 1024)
                        return -EINVAL;
                cfg->body_max = x;
                return 0;
        }
        if (strcmp(key, "threads") == 0)
                return set_uint(&cfg->threads, v, 1, 64);
        if (strcmp(key, "device_cert_days") == 0)
                return set_uint(&cfg->device_cert_days, v, 1, 3650);
        if (strcmp(key, "connection_timeout") == 0)
                return set_uint(&cfg->connection_timeout, v, 1, 86400);
        if (strcmp(key, "connection_memory") == 0)
                return set_uint(&cfg->connection_memory, v, 4096, 1024 * 1024);
        if (strcmp(key, "max_connections") == 0)
                return set_uint(&cfg->max_connections, v, 1, 1000000);
        if (strcmp(key, "max_devices") == 0)
                return set_uint(&cfg->max_devices, v, 1, 100000000);
        if (strcmp(key, "webhook_max_attempts") == 0)
                return set_uint(&cfg->webhook_max_attempts, v, 1, 100);
        if (strcmp(key, "webhook_retry_base_ms") == 0)
                return set_uint(&cfg->webhook_retry_base_ms, v, 1, 3600 * 1000);
        if (strcmp(key, "webhook_retry_max") == 0) {
                int r = set_duration(&cfg->webhook_retry_max, v, 1);
                return r == 0 && cfg->webhook_retry_max > 86400 ? -EINVAL : r;
        }
        if (strcmp(key, "webhook_timeout") == 0) {
                int r = set_duration(&cfg->webhook_timeout, v, 1);
                return r == 0 && cfg->webhook_timeout > 300 ? -EINVAL : r;
        }
        if (strcmp(key, "webhook_queue_max") == 0)
                return set_uint(&cfg->webhook_queue_max, v, 1, 10000000);
        if (strcmp(key, "webhook_retention") == 0)
                return set_duration(&cfg->webhook_retention, v, 3600);
        if (strcmp(key, "access_listen") == 0)
                return set_string(cfg->access_listen, sizeof(cfg->access_listen), v);
        if (strcmp(key, "access_threads") == 0)
                return set_uint(&cfg->access_threads, v, 1, 64);
        if (strcmp(key, "access_max_connections") == 0)
                return set_uint(&cfg->access_max_connections, v, 1, 1000000);
        if (strcmp(key, "access_proxy_secret") == 0) {
                /* compared in headers: printable, no blanks, long enough not to be guessed */
                if (strlen(v) < 16 || strpbrk(v, " \t"))
                        return -EINVAL;
                return set_string(cfg->access_proxy_secret, sizeof(cfg->access_proxy_secret), v);
        }
        if (strcmp(key, "access_user_header") == 0)
                return set_header_name(cfg->access_user_header, sizeof(cfg->access_user_header), v);
        if (strcmp(key, "access_jwks_file") == 0)
                return v[0] == '/' ? set_string(cfg->access_jwks_file, sizeof(cfg->access_jwks_file), v) : -EINVAL;
        if (strcmp(key, "access_jwt_issuer") == 0)
                return set_string(cfg->access_jwt_issuer, sizeof(cfg->access_jwt_issuer), v);
        if (strcmp(key, "access_jwt_audience") == 0)
                return set_string(cfg->access_jwt_audience, sizeof(cfg->access_jwt_audience), v);
        if (strcmp(key, "access_log_retention") == 0)
                return set_duration(&cfg->access_log_retention, v, 3600);
        if (strcmp(key, "access_log_max") == 0)
                return set_uint(&cfg->access_log_max, v, 1024, 10000000);
        if (strcmp(key, "portal_session_idle") == 0)
                return set_duration(&cfg->portal_session_idle, v, 1);
        if (strcmp(key, "portal_session_max") == 0)
                return set_duration(&cfg->portal_session_max, v, 1);
        if (strcmp(key, "portal_sse_clients") == 0)
                return set_uint(&cfg->portal_sse_clients, v, 0, 100000);
        if (strcmp(key, "tvm_feed_paths") == 0) {
                if (strlen(v) >= sizeof(cfg->tvm_feed_paths) || tvm_feed_paths_parse(v, NULL) < 0)
                        return -EINVAL;
                memcpy(cfg->tvm_feed_paths, v, strlen(v) + 1);
                return 0;
        }
        if (strcmp(key, "tvm_feed_ca_file") == 0)
                return v[0] == '/' ? set_string(cfg->tvm_feed_ca_file, sizeof(cfg->tvm_feed_ca_file), v) : -EINVAL;
        if (strcmp(key, "tvm_feed_interval") == 0)
                return set_duration(&cfg->tvm_feed_interval, v, 60);
        if (strcmp(key, "tvm_count_open") == 0)
                return set_bool(&cfg->tvm_count_open, v);
        if (strcmp(key, "tvm_count_undetermined") == 0)
                return set_bool(&cfg->tvm_count_undetermined, v);
        if (strcmp(key, "log_level") == 0) {
                static const char *const levels[] = { "error", "warning", "info", "debug" };
                for (int i = 0; i < 4; i++)
                        if (strcmp(v, levels[i]) == 0) {
                                cfg->log_level = i;
                                return 0;
                        }
                return -EINVAL;
        }
        return -ENOENT;
}

static char *trim(char *s)
{
        char *e;

        while (*s == ' ' || *s == '\t')
                s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
                *--e = '\0';
        return s;
}

int vigild_config_parse(const char *text, size_t len, struct vigild_config *cfg,
                        char *err, size_t err_size)
{
        struct vigild_config next = *cfg;
        char line[CONFIG_LINE_MAX + 1];
        size_t pos = 0;
        unsigned lineno = 0;

        if (len > CONFIG_MAX) {
                snprintf(err, err_size, "file is larger than %d bytes", CONFIG_MAX);
                return -EINVAL;
        }
        while (pos < len) {
                const char *nl = memchr(text + pos, '\n', len - pos);
                size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
                char *key, *val, *eq;
                int r;

                lineno++;
                if (n > CONFIG_LINE_MAX || memchr(text + pos, '\0', n)) {
                        snprintf(err, err_size, "line %u: line too long or contains a NUL byte", lineno);
                        return -EINVAL;
                }
                memcpy(line, text + pos, n);
                line[n] = '\0';
                pos += n + (nl ? 1 : 0);
                key = trim(line);
                if (*key == '\0' || *key == '#')
                        continue;
                eq = strchr(key, '=');
                if (!eq) {
                        snprintf(err, err_size, "line %u: expected 'key = value'", lineno);
                        return -EINVAL;
                }
                *eq = '\0';
                key = trim(key);
                val = trim(eq + 1);
                r = config_set(&next, key, val);
                if (r == -ENOENT) {
                        snprintf(err, err_size, "line %u: unknown setting '%.64s'", lineno, key);
                        return -EINVAL;
                }
                if (r < 0) {
                        snprintf(err, err_size, "line %u: invalid value for '%s': '%.64s'", lineno, key, val);
                        return -EINVAL;
                }
        }
        *cfg = next;
        return 0;
}

int vigild_config_load(const char *data_dir, struct vigild_config *cfg, char *err, size_t err_size)
{
        char path[4200], msg[256];
        char *text;
        size_t len;
        int r;

        util_path_join(path, sizeof(path), data_dir, VIGILD_CONFIG_FILE);
        r = util_file_read(path, CONFIG_MAX, &text, &len);
        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                snprintf(err, err_size, "cannot read '%s': %s", path, strerror(-r));
                return r;
        }
        r = vigild_config_parse(text, len, cfg, msg, sizeof(msg));
        free(text);
        if (r < 0)
                snprintf(err, err_size, "'%s': %s", path, msg);
        return r;
}
