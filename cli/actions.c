/* actions: the device actions of the CLI (docs/ACTIONS.md).
 *
 *   vigil devices isolate|release|collect|scan ID --comment TEXT [--wait] [--timeout S]
 *   vigil devices offboard ID --comment TEXT [--wait]   (the agent told first)
 *   vigil actions list [--device ID] [--type T] [--status S] [--limit N] [--offset N]
 *   vigil actions show ID
 *   vigil actions cancel ID [--comment TEXT]
 *   vigil actions download ID -o FILE
 *
 * With --wait the command follows the action until it is closed, printing
 * each change of status, and exits 0 only if it succeeded. */
#include "cli/actions.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "httpc/httpc.h"
#include "util/strutil.h"

#define WAIT_POLL_MS 250
#define WAIT_DEFAULT_S 600

static const char *type_of_verb(const char *verb)
{
        static const char *const map[][2] = {
                { "isolate", "isolate" }, { "release", "release" },
                { "collect", "collect_investigation_package" }, { "scan", "run_scan" },
                { "offboard", "offboard" },
        };

        for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
                if (strcmp(verb, map[i][0]) == 0)
                        return map[i][1];
        return NULL;
}

bool cli_is_device_action(const char *verb)
{
        return type_of_verb(verb) != NULL;
}

static bool status_open(const char *s)
{
        return strcmp(s, "pending") == 0 || strcmp(s, "in_progress") == 0;
}

static void action_print(const json_t *a)
{
        static const char *const keys[] = { "id", "device_id", "type", "status", "comment", "requested_by_name",
                                            "created_at", "started_at", "finished_at", "expires_at", "message" };
        const json_t *pkg = json_object_get(a, "package"), *h;
        size_t i;

        for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                printf("%-18s %s\n", keys[i], cli_str(a, keys[i]));
        if (pkg)
                printf("%-18s %lld bytes, sha256 %s\n", "package",
                       (long long)json_integer_value(json_object_get(pkg, "size")), cli_str(pkg, "sha256"));
        json_array_foreach(json_object_get(a, "history"), i, h)
                printf("%-18s %s %s -> %s by %s%s%s\n", i ? "" : "history", cli_str(h, "at"), cli_str(h, "from"),
                       cli_str(h, "to"), cli_str(h, "by_name"), json_is_string(json_object_get(h, "message")) ?
                       ": " : "", json_is_string(json_object_get(h, "message")) ? cli_str(h, "message") : "");
}

/* Follows the action until it is closed or wait_s pass. Returns 0 if it
 * succeeded, 1 otherwise. */
static int follow(struct cli *c, const char *id, long wait_s)
{
        int64_t end = util_mono_ms() + wait_s * 1000;
        char path[128], last[32] = "";
        struct timespec nap = { .tv_nsec = WAIT_POLL_MS * 1000000L };
        json_t *a = NULL;

        snprintf(path, sizeof(path), "/api/v1/actions/%s", id);
        for (;;) {
                const char *st;
                if (cli_call(c, "GET", path, NULL, 200, &a))
                        return 1;
                st = cli_str(a, "status");
                if (strcmp(st, last) != 0) {
                        char now[21];
                        util_time_format(util_now(), now);
                        fprintf(stderr, "%s action %s: %s%s%s\n", now, id, st,
                                json_is_string(json_object_get(a, "message")) ? ": " : "",
                                json_is_string(json_object_get(a, "message")) ? cli_str(a, "message") : "");
                        snprintf(last, sizeof(last), "%s", st);
                }
                if (!status_open(st))
                        break;
                if (util_mono_ms() >= end) {
                        fprintf(stderr, "vigil: action %s is still %s after %ld s\n", id, st, wait_s);
                        json_decref(a);
                        return 1;
                }
                json_decref(a);
                a = NULL;
                nanosleep(&nap, NULL);
        }
        if (c->json)
                cli_print_json(a);
        else
                action_print(a);
        {
                int r = strcmp(cli_str(a, "status"), "succeeded") == 0 ? 0 : 1;
                json_decref(a);
                return r;
        }
}

int cli_device_action(struct cli *c, int argc, char **argv)
{
        static const struct option opts[] = {
                { "comment", required_argument, NULL, 'm' }, { "wait", no_argument, NULL, 'w' },
                { "timeout", required_argument, NULL, 't' }, { 0 } };
        const char *type = type_of_verb(argv[0]), *comment = NULL, *id;
        uint64_t timeout = 0;
        bool wait = false;
        char path[160];
        json_t *body, *resp = NULL;
        int opt, r;

        if (argc < 2) {
                fprintf(stderr, "vigil: usage: vigil devices %s ID --comment TEXT [--wait] [--timeout SECONDS]\n",
                        argv[0]);
                return 2;
        }
        id = argv[1];
        optind = 2;
        while ((opt = getopt_long(argc, argv, "m:wt:", opts, NULL)) != -1) {
                if (opt == 'm')
                        comment = optarg;
                else if (opt == 'w')
                        wait = true;
                else if (opt == 't' && util_uint_parse(optarg, 30 * 24 * 3600, &timeout) == 0)
                        ;
                else
                        return 2;
        }
        if (optind != argc || !comment) {
                fprintf(stderr, "vigil: usage: vigil devices %s ID --comment TEXT [--wait] [--timeout SECONDS]\n",
                        argv[0]);
                return 2;
        }
        if (!cli_valid_id(id))
                return 2;
        body = json_pack("{s:s,s:s}", "type", type, "comment", comment);
        if (timeout)
                json_object_set_new(body, "timeout_s", json_integer((json_int_t)timeout));
        snprintf(path, sizeof(path), "/api/v1/devices/%s/actions", id);
        r = cli_call(c, "POST", path, body, 201, &resp);
        json_decref(body);
        if (r)
                return 1;
        if (wait) {
                char aid[40];
                snprintf(aid, sizeof(aid), "%s", cli_str(resp, "id"));
                json_decref(resp);
                return follow(c, aid, timeout ? (long)timeout : WAIT_DEFAULT_S);
        }
        if (c->json)
                cli_print_json(resp);
        else
                printf("action %s: %s of device %s is pending\n", cli_str(resp, "id"), type, id);
        json_decref(resp);
        return 0;
}

static int actions_list(struct cli *c, int argc, char **argv)
{
        static const char *const cols[] = { "ID", "DEVICE", "TYPE", "STATUS", "REQUESTED BY", "CREATED", "FINISHED" };
        static const char *const keys[] = { "id", "device_id", "type", "status", "requested_by_name", "created_at",
                                            "finished_at" };
        static const char *const params[] = { "device", "type", "status", "limit", "offset" };
        static const struct option opts[] = {
                { "device", required_argument, NULL, 0 }, { "type", required_argument, NULL, 1 },
                { "status", required_argument, NULL, 2 }, { "limit", required_argument, NULL, 3 },
                { "offset", required_argument, NULL, 4 }, { 0 } };
        const char *vals[5] = { 0 };
        char path[1024];
        json_t *resp;
        int opt;

        optind = 1;
        while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (opt < 0 || opt > 4)
                        return 2;
                vals[opt] = optarg;
        }
        if (cli_query_build(path, sizeof(path), "/api/v1/actions", params, vals, 5) < 0)
                return 2;
        if (cli_call(c, "GET", path, NULL, 200, &resp))
                return 1;
        cli_print_values(c, resp, cols, keys, sizeof(cols) / sizeof(cols[0]));
        json_decref(resp);
        return 0;
}

static int action_show(struct cli *c, const char *id)
{
        char path[128];
        json_t *resp;

        if (!cli_valid_id(id))
                return 2;
        snprintf(path, sizeof(path), "/api/v1/actions/%s", id);
        if (cli_call(c, "GET", path, NULL, 200, &resp))
                return 1;
        if (c->json)
                cli_print_json(resp);
        else
                action_print(resp);
        json_decref(resp);
        return 0;
}

static int action_cancel(struct cli *c, int argc, char **argv)
{
        static const struct option opts[] = { { "comment", required_argument, NULL, 'm' }, { 0 } };
        const char *comment = NULL;
        char path[128];
        json_t *body, *resp;
        int opt, r;

        if (argc < 2 || !cli_valid_id(argv[1]))
                return 2;
        optind = 2;
        while ((opt = getopt_long(argc, argv, "m:", opts, NULL)) != -1) {
                if (opt != 'm')
                        return 2;
                comment = optarg;
        }
        if (optind != argc)
                return 2;
        snprintf(path, sizeof(path), "/api/v1/actions/%s/cancel", argv[1]);
        body = comment ? json_pack("{s:s}", "comment", comment) : json_object();
        r = cli_call(c, "POST", path, body, 200, &resp);
        json_decref(body);
        if (r)
                return 1;
        if (c->json)
                cli_print_json(resp);
        else
                printf("action %s cancelled\n", argv[1]);
        json_decref(resp);
        return 0;
}

static int action_download(struct cli *c, int argc, char **argv)
{
        static const struct option opts[] = { { "output", required_argument, NULL, 'o' }, { 0 } };
        const char *out = NULL;
        char path[128], tmp[4200], err[512];
        json_t *resp = NULL;
        long status = 0;
        FILE *f;
        int opt, r;

        if (argc < 2 || !cli_valid_id(argv[1])) {
                fprintf(stderr, "vigil: usage: vigil actions download ID -o FILE\n");
                return 2;
        }
        optind = 2;
        while ((opt = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
                if (opt != 'o')
                        return 2;
                out = optarg;
        }
        if (optind != argc || !out) {
                fprintf(stderr, "vigil: usage: vigil actions download ID -o FILE\n");
                return 2;
        }
        if (cli_connect(c))
                return 1;
        if ((size_t)snprintf(tmp, sizeof(tmp), "%s.part", out) >= sizeof(tmp)) {
                fprintf(stderr, "vigil: output path too long\n");
                return 2;
        }
        f = fopen(tmp, "wbx");
        if (!f) {
                fprintf(stderr, "vigil: cannot create '%s': %s\n", tmp, strerror(errno));
                return 1;
        }
        snprintf(path, sizeof(path), "/api/v1/actions/%s/package", argv[1]);
        {
                struct httpc_extra x = { .out = f, .timeout_s = 600 };
                r = httpc_request_ex(c->http, "GET", path, c->token, NULL, 0, &x, &status, &resp, err, sizeof(err));
        }
        if (fclose(f) != 0 && r == 0) {
                snprintf(err, sizeof(err), "cannot write '%s': %s", tmp, strerror(errno));
                r = -EIO;
        }
        if (r < 0 || status != 200) {
                if (r < 0)
                        fprintf(stderr, "vigil: %s\n", err);
                else
                        fprintf(stderr, "vigil: %s (HTTP %ld)\n", httpc_error_message(resp, status), status);
                json_decref(resp);
                unlink(tmp);
                return 1;
        }
        /* a link, not a rename: an existing file is never replaced */
        if (link(tmp, out) < 0) {
                fprintf(stderr, "vigil: cannot save to '%s': %s\n", out,
                        errno == EEXIST ? "the file exists (not overwritten)" : strerror(errno));
                unlink(tmp);
                return 1;
        }
        unlink(tmp);
        fprintf(stderr, "investigation package of action %s saved to %s\n", argv[1], out);
        return 0;
}

int cli_actions(struct cli *c, int argc, char **argv)
{
        if (strcmp(argv[0], "list") == 0)
                return actions_list(c, argc, argv);
        if (strcmp(argv[0], "show") == 0 && argc == 2)
                return action_show(c, argv[1]);
        if (strcmp(argv[0], "cancel") == 0)
                return action_cancel(c, argc, argv);
        if (strcmp(argv[0], "download") == 0)
                return action_download(c, argc, argv);
        fprintf(stderr, "vigil: unknown command 'actions %s'\n", argv[0]);
        return 2;
}

const char cli_actions_usage[] =
        "  devices isolate|release|collect|scan ID --comment TEXT [--wait] [--timeout SECONDS]\n"
        "  devices offboard ID --comment TEXT [--wait]   (tells the agent first)\n"
        "  actions list [--device ID] [--type T] [--status S] [--limit N] [--offset N]\n"
        "  actions show ID\n"
        "  actions cancel ID [--comment TEXT]\n"
        "  actions download ID -o FILE\n";
