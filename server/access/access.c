/* access: the module's start and stop, and its routes on the admin API. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwt/jwt.h"
#include "server/access/access-internal.h"
#include "server/log.h"
#include "server/vigild.h"
#include "util/strutil.h"

/* Loads the JWKS that bearer tokens are verified against. */
static int jwks_open(struct access *a, char *err, size_t err_size)
{
        const struct vigild_config *cfg = &a->d->cfg;
        struct jwt_err jerr;
        char *text;
        size_t len;
        int r;

        if (!cfg->access_jwks_file[0])
                return 0;
        if (!cfg->access_jwt_issuer[0] || !cfg->access_jwt_audience[0]) {
                snprintf(err, err_size, "access_jwks_file is set: access_jwt_issuer and access_jwt_audience must be "
                                        "set too");
                return -EINVAL;
        }
        r = util_file_read(cfg->access_jwks_file, JWT_JWKS_MAX, &text, &len);
        if (r < 0) {
                snprintf(err, err_size, "cannot read %s: %s", cfg->access_jwks_file,
                         r == -E2BIG ? "larger than 64 KiB" : strerror(-r));
                return r;
        }
        r = jwks_load(text, len, &a->jwks, &jerr);
        free(text);
        if (r < 0) {
                snprintf(err, err_size, "%s: %s", cfg->access_jwks_file, jerr.msg);
                return r;
        }
        log_info("access: bearer tokens of %s for %s are verified with %zu keys of %s", cfg->access_jwt_issuer,
                 cfg->access_jwt_audience, jwks_count(a->jwks), cfg->access_jwks_file);
        return 0;
}

/* True when the address is a unix socket or a loopback one. */
static bool listen_local(const char *listen)
{
        return strncmp(listen, "unix:", 5) == 0 || strncmp(listen, "127.", 4) == 0 ||
               strncmp(listen, "[::1]:", 6) == 0 || strncmp(listen, "localhost:", 10) == 0;
}

int access_start(struct vigild *d, char *err, size_t err_size)
{
        const struct vigild_config *cfg = &d->cfg;
        struct access *a = calloc(1, sizeof(*a));
        char msg[512];
        int r;

        if (!a) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        a->d = d;
        a->n_workers = cfg->access_threads;
        pthread_mutex_init(&a->lock, NULL);
        pthread_cond_init(&a->cond, NULL);
        pthread_mutex_init(&a->swap_lock, NULL);
        pthread_mutex_init(&a->slots_lock, NULL);
        d->access = a;
        r = jwks_open(a, msg, sizeof(msg));
        if (r == 0)
                r = access_log_start(a, a->n_workers, msg, sizeof(msg));
        if (r == 0)
                r = access_snapshot_start(a, msg, sizeof(msg));
        if (r == 0) {
                struct access_listener_config lc = {
                        .listen = cfg->access_listen,
                        .threads = a->n_workers,
                        .max_connections = cfg->access_max_connections,
                        .idle_timeout_s = cfg->connection_timeout,
                };
                r = access_listener_start(&lc, access_decide_http, a, &a->listener, msg, sizeof(msg));
        }
        if (r < 0) {
                snprintf(err, err_size, "%s", msg);
                access_stop(d);
                return r;
        }
        if (!listen_local(cfg->access_listen) && !cfg->access_proxy_secret[0])
                log_warn("access: the decision endpoint listens on %s without access_proxy_secret: requests from "
                            "any peer but loopback are denied",
                            cfg->access_listen);
        log_info("access: decision endpoint on %s (port %u)", cfg->access_listen,
                 access_listener_port(a->listener));
        return 0;
}

void access_stop(struct vigild *d)
{
        struct access *a = d->access;

        if (!a)
                return;
        access_listener_stop(a->listener);
        a->listener = NULL;
        access_snapshot_stop(a);
        access_log_stop(a);
        jwks_free(a->jwks);
        d->access = NULL;
        pthread_mutex_destroy(&a->lock);
        pthread_cond_destroy(&a->cond);
        pthread_mutex_destroy(&a->swap_lock);
        pthread_mutex_destroy(&a->slots_lock);
        free(a);
}

uint16_t access_port(struct vigild *d)
{
        return d->access && d->access->listener ? access_listener_port(d->access->listener) : 0;
}

const struct http_route access_routes[] = {
        { "GET", "/api/v1/access/log", HTTP_AUTH_ADMIN, ROLES_ANY, access_handle_log, 0 },
        { "POST", "/api/v1/access/whatif", HTTP_AUTH_ADMIN, ROLES_ANY, access_handle_whatif, 0 },
        { NULL, NULL, 0, 0, NULL, 0 },
};
