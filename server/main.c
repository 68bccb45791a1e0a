/* vigild: the Vigil server. 'vigild init' creates a data directory; 'vigild
 * run' serves the admin API and the agent API over HTTPS from it. */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/access/access.h"
#include "server/api/api.h"
#include "server/bus.h"
#include "server/access/access.h"
#include "server/connector/connector.h"
#include "server/db/db.h"
#include "server/defend/defend.h"
#include "server/enroll/enroll.h"
#include "server/http/http.h"
#include "server/log.h"
#include "server/manage/compliance-service.h"
#include "server/manage/manage.h"
#include "server/manage/profiles.h"
#include "server/portal/portal.h"
#include "server/tvm/feeds.h"
#include "server/tvm/results.h"
#include "server/tvm/tvm.h"
#include "server/vigild.h"
#include "server/webhook/webhook.h"
#include "util/strutil.h"

#define HOSTNAMES_MAX 32
#define FLUSH_INTERVAL_S 1

static const struct http_route *const route_tables[] = { api_routes, enroll_routes, tvm_routes, tvm_feed_routes,
                                                          defend_routes,
                                                          defend_action_routes, webhook_routes, connector_routes,
                                                          manage_routes, compliance_routes, profiles_routes,
                                                          access_store_routes, access_routes, portal_routes,
                                                          portal_file_routes, tvm_results_routes, tvm_task_routes, NULL };

static void usage(FILE *f)
{
        fputs("usage: vigild init --data-dir DIR [--hostname NAME]...\n"
              "       vigild run --data-dir DIR [--listen ADDR:PORT] [--public-url URL]\n"
              "                  [--port-file FILE] [--log-level LEVEL]\n"
              "                  [--access-listen ADDR:PORT|unix:PATH] [--access-port-file FILE]\n"
              "       vigild --version\n", f);
}

/* Opens the database and brings every module's tables up to date. */
static int open_storage(struct vigild *d, char *err, size_t err_size)
{
        char path[4200];
        int r;

        util_path_join(path, sizeof(path), d->data_dir, VIGILD_DB_FILE);
        r = db_open(path, &d->db);
        if (r < 0) {
                snprintf(err, err_size, "cannot open the database '%s': %s", path, strerror(-r));
                return r;
        }
        r = api_migrate(d);
        if (r == 0)
                r = tvm_migrate(d);
        if (r == 0)
                r = tvm_feed_migrate(d);
        if (r == 0)
                r = tvm_results_migrate(d);
        if (r == 0)
                r = defend_migrate(d);
        if (r == 0)
                r = webhook_migrate(d);
        if (r == 0)
                r = connector_migrate(d);
        if (r == 0)
                r = manage_migrate(d);
        if (r == 0)
                r = compliance_migrate(d);
        if (r == 0)
                r = profiles_migrate(d);
        if (r == 0)
                r = access_migrate(d);
        if (r == 0)
                r = portal_migrate(d);
        if (r < 0) {
                snprintf(err, err_size, "cannot migrate the database '%s': %s", path, db_errmsg(d->db));
                return r;
        }
        r = enroll_open(d, err, err_size);
        if (r < 0)
                return r;
        d->bus = bus_new();
        r = d->bus ? defend_open(d) : -ENOMEM;
        if (r < 0) {
                snprintf(err, err_size, "cannot start the defend module: %s", strerror(-r));
                return r;
        }
        r = manage_open(d, err, err_size);
        if (r < 0)
                return r;
        r = profiles_open(d);
        if (r < 0)
                snprintf(err, err_size, "cannot start the profiles of the manage module: %s", strerror(-r));
        return r;
}

static void close_storage(struct vigild *d)
{
        profiles_close(d);
        manage_close(d);
        defend_close(d);
        enroll_close(d);
        bus_free(d->bus);
        d->bus = NULL;
        db_close(d->db);
        d->db = NULL;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static int write_config(const char *dir, const char *hostname)
{
        char path[4200], text[1024];
        int n;

        n = snprintf(text, sizeof(text),
                     "# vigild configuration; 'vigild run' flags override these.\n"
                     "listen = %s\n"
                     "%spublic_url = https://%s:8443\n"
                     "# heartbeat_interval = 60s\n"
                     "# inactive_after = 7d\n"
                     "# body_max = 16777216\n"
                     "# max_connections = 20000\n"
                     "# connection_memory = 8192\n"
                     "# max_devices = 1000000\n"
                     "# connection_timeout = 300\n"
                     "# threads = 2\n"
                     "# device_cert_days = 365\n"
                     "# log_level = info\n"
                     "# webhook_max_attempts = 12\n"
                     "# webhook_retry_base_ms = 1000\n"
                     "# webhook_retry_max = 10m\n"
                     "# webhook_timeout = 10s\n"
                     "# webhook_queue_max = 100000\n"
                     "# webhook_retention = 30d\n",
                     VIGILD_LISTEN_DEFAULT, hostname ? "" : "# ", hostname ? hostname : "localhost");
        util_path_join(path, sizeof(path), dir, VIGILD_CONFIG_FILE);
        return util_file_write(path, text, (size_t)n, 0644);
}

static int cmd_init(int argc, char **argv)
{
        static const struct option opts[] = {
                { "data-dir", required_argument, NULL, 'd' },
                { "hostname", required_argument, NULL, 'H' },
                { "help", no_argument, NULL, 'h' },
                { 0 },
        };
        const char *names[HOSTNAMES_MAX];
        char token[API_TOKEN_MAX + 1], id[API_TOKEN_ID_LEN + 1], err[512] = "";
        struct vigild d = { 0 };
        const char *dir = NULL;
        size_t n_names = 0;
        int c, r;

        while ((c = getopt_long(argc, argv, "d:H:h", opts, NULL)) != -1) {
                switch (c) {
                case 'd': dir = optarg; break;
                case 'H':
                        if (n_names >= HOSTNAMES_MAX || !util_str_printable(optarg, 253)) {
                                fprintf(stderr, "vigild init: bad or too many --hostname values\n");
                                return 2;
                        }
                        names[n_names++] = optarg;
                        break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (!dir) {
                fprintf(stderr, "vigild init: --data-dir is required\n");
                return 2;
        }
        if (strlen(dir) >= sizeof(d.data_dir) - 64) {
                fprintf(stderr, "vigild init: data directory path too long\n");
                return 2;
        }
        if (mkdir(dir, 0700) < 0) {
                if (errno == EEXIST)
                        fprintf(stderr, "vigild init: '%s' already exists; refusing to overwrite it\n", dir);
                else
                        fprintf(stderr, "vigild init: cannot create '%s': %s\n", dir, strerror(errno));
                return 1;
        }
        snprintf(d.data_dir, sizeof(d.data_dir), "%s", dir);
        vigild_config_defaults(&d.cfg);
        r = enroll_data_init(dir, names, n_names, err, sizeof(err));
        if (r == 0 && write_config(dir, n_names ? names[0] : NULL) < 0) {
                snprintf(err, sizeof(err), "cannot write the configuration file");
                r = -EIO;
        }
        if (r == 0)
                r = open_storage(&d, err, sizeof(err));
        if (r == 0) {
                r = api_token_create(&d, ROLE_SECURITY_ADMIN, "initial", "vigild-init", token, id);
                if (r < 0)
                        snprintf(err, sizeof(err), "cannot create the first admin token: %s", db_errmsg(d.db));
        }
        close_storage(&d);
        if (r < 0) {
                fprintf(stderr, "vigild init: %s\n", err);
                nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
                return 1;
        }
        fprintf(stderr, "vigild init: created '%s'; clients must trust '%s/server-ca.pem'.\n"
                        "The first admin token (role security_admin) follows; it is shown only once.\n",
                dir, dir);
        printf("%s\n", token);
        explicit_bzero(token, sizeof(token));
        return 0;
}

/* Derives the URL agents use when none is configured: the listen address,
 * or localhost when listening on a wildcard address. */
static void public_url_default(struct vigild *d, uint16_t port)
{
        char host[80];
        const char *colon = strrchr(d->cfg.listen, ':');
        size_t hl = colon ? (size_t)(colon - d->cfg.listen) : 0;

        if (d->cfg.public_url[0])
                return;
        if (hl == 0 || hl >= sizeof(host))
                hl = 0;
        memcpy(host, d->cfg.listen, hl);
        host[hl] = '\0';
        if (!hl || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "[::]") == 0)
                snprintf(host, sizeof(host), "localhost");
        snprintf(d->cfg.public_url, sizeof(d->cfg.public_url), "https://%s:%u", host, port);
}

/* Each connection is a descriptor: lift the soft limit toward what
 * max_connections needs, as far as the hard limit allows. */
static void raise_fd_limit(unsigned max_connections)
{
        struct rlimit rl;
        rlim_t want = (rlim_t)max_connections + 64, enough = (rlim_t)max_connections;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
                return;
        rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < enough)
                log_warn("only %llu file descriptors allowed; fewer than max_connections = %u connections "
                         "can be open at once", (unsigned long long)rl.rlim_cur, max_connections);
}

/* Writes a bound port into a file, for scripts that listen on port 0. */
static void port_file_write(const char *path, unsigned port)
{
        char text[16];
        int n = snprintf(text, sizeof(text), "%u\n", port);

        if (util_file_write(path, text, (size_t)n, 0644) < 0)
                log_warn("cannot write the port file '%s'", path);
}

static int serve(struct vigild *d, const char *port_file, const char *access_port_file)
{
        struct http_server_config hc = {
                .listen = d->cfg.listen,
                .threads = d->cfg.threads,
                .body_max = d->cfg.body_max,
                .connection_timeout = d->cfg.connection_timeout,
                .max_connections = d->cfg.max_connections,
                .connection_memory = d->cfg.connection_memory,
                .cert_pem = enroll_server_cert_pem(d),
                .key_pem = enroll_server_key_pem(d),
                .trust_pem = enroll_device_ca_pem(d),
                .session_auth = portal_session_auth,
        };
        struct timespec tick = { .tv_sec = FLUSH_INTERVAL_S };
        struct http_server *srv = NULL;
        char err[512];
        sigset_t set;
        int sig, r;

        raise_fd_limit(d->cfg.max_connections);
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        signal(SIGPIPE, SIG_IGN);
        /* first: it subscribes to the bus before any module's thread publishes */
        r = portal_events_start(d, err, sizeof(err));
        if (r < 0) {
                log_error("cannot start the portal's event streams: %s", err);
                portal_events_stop(d);
                return r;
        }
        r = webhook_start(d, err, sizeof(err));
        if (r < 0) {
                log_error("cannot start the webhook module: %s", err);
                webhook_stop(d);
                portal_events_stop(d);
                return r;
        }
        r = connector_start(d, err, sizeof(err));
        if (r < 0) {
                log_error("cannot start the connector module: %s", err);
                connector_stop(d);
                webhook_stop(d);
                portal_events_stop(d);
                return r;
        }
        /* before compliance: access follows every compliance change from the first */
        r = access_start(d, err, sizeof(err));
        if (r < 0) {
                log_error("cannot start conditional access: %s", err);
                connector_stop(d);
                webhook_stop(d);
                portal_events_stop(d);
                return r;
        }
        /* before compliance: it reads the exposure levels */
        r = tvm_results_start(d, err, sizeof(err));
        if (r < 0) {
                log_error("cannot start vulnerability matching: %s", err);
                tvm_results_close(d);
                access_stop(d);
                connector_stop(d);
                webhook_stop(d);
                return r;
        }
        r = compliance_start(d, err, sizeof(err));
        if (r < 0) {
                log_error("cannot start the compliance module: %s", err);
                tvm_results_stop(d);
                compliance_stop(d);
                connector_stop(d);
                compliance_close(d);
                tvm_results_close(d);
                access_stop(d);
                webhook_stop(d);
                portal_events_stop(d);
                return r;
        }
        r = http_server_start(&hc, d, route_tables, api_admin_auth, enroll_device_auth, &srv, err, sizeof(err));
        if (r < 0) {
                log_error("%s", err);
                tvm_results_stop(d);
                compliance_stop(d);
                connector_stop(d);
                compliance_close(d);
                tvm_results_close(d);
                access_stop(d);
                webhook_stop(d);
                portal_events_stop(d);
                return r;
        }
        __atomic_store_n(&d->http, srv, __ATOMIC_RELEASE);
        public_url_default(d, http_server_port(srv));
        log_info("vigild %s listening on https://%s (port %u), agents use %s, %zu devices onboarded",
                 VIGIL_VERSION, d->cfg.listen, http_server_port(srv), d->cfg.public_url,
                 enroll_device_count(d));
        if (port_file)
                port_file_write(port_file, http_server_port(srv));
        if (access_port_file)
                port_file_write(access_port_file, access_port(d));
        /* after the listener: a bad feed is logged, and the API serves meanwhile */
        if (tvm_feed_start(d, err, sizeof(err)) < 0)
                log_error("no scheduled advisory feed imports: %s", err);
        for (;;) {
                sig = sigtimedwait(&set, NULL, &tick);
                if (sig == SIGTERM || sig == SIGINT)
                        break;
                enroll_flush(d);
                defend_actions_tick(d);
        }
        log_info("received %s; stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        /* the evaluator stops first: it may wake a long-poll (an isolate a
         * policy requests) through d->http, which must outlive it */
        __atomic_store_n(&d->http, NULL, __ATOMIC_RELEASE);
        tvm_feed_stop(d);
        compliance_stop(d);
        http_server_stop(srv);
        tvm_results_stop(d);
        connector_stop(d);
        compliance_close(d);
        tvm_results_close(d);
        access_stop(d);
        webhook_stop(d);
        /* last: its streams ended with the listener, and nothing publishes now */
        portal_events_stop(d);
        return 0;
}

static int cmd_run(int argc, char **argv)
{
        static const struct option opts[] = {
                { "data-dir", required_argument, NULL, 'd' },
                { "listen", required_argument, NULL, 'l' },
                { "public-url", required_argument, NULL, 'u' },
                { "port-file", required_argument, NULL, 'p' },
                { "log-level", required_argument, NULL, 'L' },
                { "access-listen", required_argument, NULL, 'A' },
                { "access-port-file", required_argument, NULL, 'P' },
                { "help", no_argument, NULL, 'h' },
                { 0 },
        };
        const char *dir = NULL, *port_file = NULL, *access_port_file = NULL;
        char overrides[1024] = "", err[512] = "";
        struct vigild *d;
        size_t ol = 0;
        int c, r;

        while ((c = getopt_long(argc, argv, "d:l:u:p:L:A:P:h", opts, NULL)) != -1) {
                const char *key = NULL;
                switch (c) {
                case 'd': dir = optarg; break;
                case 'p': port_file = optarg; break;
                case 'P': access_port_file = optarg; break;
                case 'A': key = "access_listen"; break;
                case 'l': key = "listen"; break;
                case 'u': key = "public_url"; break;
                case 'L': key = "log_level"; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
                /* flags go through the config parser, so they are checked alike */
                if (key && strchr(optarg, '\n') == NULL)
                        ol += (size_t)snprintf(overrides + ol, sizeof(overrides) - ol, "%s = %s\n", key, optarg);
                if (ol >= sizeof(overrides)) {
                        fprintf(stderr, "vigild run: options too long\n");
                        return 2;
                }
        }
        if (!dir) {
                fprintf(stderr, "vigild run: --data-dir is required\n");
                return 2;
        }
        d = calloc(1, sizeof(*d));
        if (!d || strlen(dir) >= sizeof(d->data_dir) - 64) {
                fprintf(stderr, "vigild run: data directory path too long\n");
                free(d);
                return 2;
        }
        snprintf(d->data_dir, sizeof(d->data_dir), "%s", dir);
        vigild_config_defaults(&d->cfg);
        r = vigild_config_load(dir, &d->cfg, err, sizeof(err));
        if (r == 0 && vigild_config_parse(overrides, ol, &d->cfg, err, sizeof(err)) < 0)
                r = -EINVAL;
        if (r < 0) {
                fprintf(stderr, "vigild run: %s\n", err);
                free(d);
                return 2;
        }
        log_set_level((enum log_level)d->cfg.log_level);
        r = open_storage(d, err, sizeof(err));
        if (r < 0)
                log_error("%s", err);
        else
                r = serve(d, port_file, access_port_file);
        close_storage(d);
        free(d);
        return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                usage(stderr);
                return 2;
        }
        if (strcmp(argv[1], "init") == 0)
                return cmd_init(argc - 1, argv + 1);
        if (strcmp(argv[1], "run") == 0)
                return cmd_run(argc - 1, argv + 1);
        if (strcmp(argv[1], "--version") == 0) {
                printf("vigild %s\n", VIGIL_VERSION);
                return 0;
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                usage(stdout);
                return 0;
        }
        fprintf(stderr, "vigild: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return 2;
}
