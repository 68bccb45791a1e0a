/* vigil: the admin's command-line client of vigild's REST API.
 *
 * Reads the server, token and CA from flags or VIGIL_SERVER, VIGIL_TOKEN and
 * VIGIL_CA. Prints aligned tables, or the API's JSON with --json. Any error
 * prints the server's message and exits non-zero. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/actions.h"
#include "cli/cli.h"
#include "cli/table.h"
#include "httpc/httpc.h"
#include "util/strutil.h"

/* Areas of commands kept in files of their own (cli.h). */
static const struct cli_area cli_areas[] = {
        { "actions", cli_actions, cli_actions_usage },
        { "connector", cli_connector, cli_connector_usage },
        { "profiles", cli_profiles, cli_profiles_usage },
        { "suppressions", cli_suppressions, cli_suppressions_usage },
        { "webhooks", cli_webhooks, cli_webhooks_usage },
        { "groups", cli_groups, cli_groups_usage },
        { "users", cli_users, cli_users_usage },
        { "user-groups", cli_user_groups, cli_user_groups_usage },
        { "policy", cli_policy, cli_policy_usage },
        { "compliance", cli_compliance, cli_compliance_usage },
        { "access", cli_access, cli_access_usage },
        { "tvm", cli_tvm, cli_tvm_usage },
        { NULL, NULL, NULL },
};

static void usage(FILE *f)
{
        fputs("usage: vigil [--server URL] [--token TOKEN] [--ca FILE] [--json] COMMAND\n"
              "commands:\n"
              "  devices list [--top N] [--skip N]\n"
              "  devices show ID\n"
              "  devices software ID\n"
              "  devices offboard ID   (revokes its certificate at once)\n"
              "  alerts list [--device ID] [--severity S] [--status S] [--rule ID] [--technique T]\n"
              "              [--limit N] [--offset N] [--json]\n"
              "  alerts show ID [--json]\n"
              "  alerts update ID [--status S] [--classification C] [--determination D]\n"
              "                   [--assign NAME] [--comment TEXT] [--json]\n"
              "  onboarding create [--expires 24h] [--uses N] -o FILE\n"
              "  tokens create --role security_admin|it_admin|reader [--name NAME]\n"
              "  tokens revoke ID\n"
              "  health\n", f);
        for (const struct cli_area *a = cli_areas; a->noun; a++)
                fputs(a->usage, f);
        fputs("environment: VIGIL_SERVER, VIGIL_TOKEN, VIGIL_CA\n", f);
}

static int devices_list(struct cli *c, int argc, char **argv)
{
        static const char *const cols[] = { "ID", "NAME", "OS", "VERSION", "HEALTH", "RISK", "COMPLIANCE",
                                            "LAST SEEN" };
        static const char *const keys[] = { "id", "name", "os_name", "os_version", "health_status",
                                            "risk_level", "compliance_state", "last_seen" };
        static const struct option opts[] = {
                { "top", required_argument, NULL, 't' }, { "skip", required_argument, NULL, 's' }, { 0 } };
        const char *top = "100", *skip = "0";
        char path[256];
        json_t *resp;
        uint64_t x;
        int opt;

        optind = 1;
        while ((opt = getopt_long(argc, argv, "t:s:", opts, NULL)) != -1) {
                if (opt == 't')
                        top = optarg;
                else if (opt == 's')
                        skip = optarg;
                else
                        return 2;
        }
        if (util_uint_parse(top, 1000, &x) < 0 || util_uint_parse(skip, UINT32_MAX, &x) < 0) {
                fprintf(stderr, "vigil: --top must be 0 to 1000 and --skip a non-negative integer\n");
                return 2;
        }
        snprintf(path, sizeof(path), "/api/v1/devices?top=%s&skip=%s", top, skip);
        if (cli_call(c, "GET", path, NULL, 200, &resp))
                return 1;
        cli_print_values(c, resp, cols, keys, sizeof(cols) / sizeof(cols[0]));
        json_decref(resp);
        return 0;
}

static int device_show(struct cli *c, const char *id)
{
        static const char *const keys[] = {
                "id", "name", "os_platform", "os_name", "os_version", "kernel", "architecture",
                "machine_id", "agent_version", "health_status", "onboarding_status", "risk_level",
                "compliance_state", "disk_encryption", "firewall", "secure_boot", "enrolled_at",
                "last_seen", "inventory_at", "certificate_serial", "certificate_expires_at", "offboarded_at",
        };
        char path[160];
        json_t *resp;

        if (!cli_valid_id(id))
                return 2;
        snprintf(path, sizeof(path), "/api/v1/devices/%s", id);
        if (cli_call(c, "GET", path, NULL, 200, &resp))
                return 1;
        if (c->json) {
                cli_print_json(resp);
        } else {
                for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                        printf("%-24s %s\n", keys[i], cli_str(resp, keys[i]));
                printf("%-24s %s\n", "isolation", cli_str(json_object_get(resp, "isolation"), "state"));
                printf("%-24s %lld\n", "open_actions",
                       (long long)json_integer_value(json_object_get(resp, "open_actions")));
        }
        json_decref(resp);
        return 0;
}

static int device_software(struct cli *c, const char *id)
{
        static const char *const cols[] = { "NAME", "VERSION", "ARCH", "SOURCE" };
        static const char *const keys[] = { "name", "version", "architecture", "source" };
        char path[160];
        json_t *resp;

        if (!cli_valid_id(id))
                return 2;
        snprintf(path, sizeof(path), "/api/v1/devices/%s/software", id);
        if (cli_call(c, "GET", path, NULL, 200, &resp))
                return 1;
        cli_print_values(c, resp, cols, keys, sizeof(cols) / sizeof(cols[0]));
        json_decref(resp);
        return 0;
}

static int device_offboard(struct cli *c, const char *id)
{
        char path[160];
        json_t *resp;

        if (!cli_valid_id(id))
                return 2;
        snprintf(path, sizeof(path), "/api/v1/devices/%s/offboard", id);
        if (cli_call(c, "POST", path, NULL, 200, &resp))
                return 1;
        if (c->json)
                cli_print_json(resp);
        else
                printf("device %s offboarded; its certificate is revoked\n", id);
        json_decref(resp);
        return 0;
}

static int onboarding_create(struct cli *c, int argc, char **argv)
{
        static const struct option opts[] = {
                { "expires", required_argument, NULL, 'e' }, { "uses", required_argument, NULL, 'u' },
                { "output", required_argument, NULL, 'o' }, { 0 } };
        const char *expires = "24h", *out = NULL;
        uint64_t uses = 1;
        json_t *body, *resp;
        char *text;
        int opt, r;

        optind = 1;
        while ((opt = getopt_long(argc, argv, "e:u:o:", opts, NULL)) != -1) {
                if (opt == 'e') {
                        expires = optarg;
                } else if (opt == 'u') {
                        if (util_uint_parse(optarg, 1000000, &uses) < 0 || uses == 0) {
                                fprintf(stderr, "vigil: --uses must be an integer from 1 to 1000000\n");
                                return 2;
                        }
                } else if (opt == 'o') {
                        out = optarg;
                } else {
                        return 2;
                }
        }
        if (!out) {
                fprintf(stderr, "vigil: onboarding create needs -o FILE\n");
                return 2;
        }
        body = json_pack("{s:s,s:I}", "expires", expires, "uses", (json_int_t)uses);
        r = cli_call(c, "POST", "/api/v1/onboarding-packages", body, 201, &resp);
        json_decref(body);
        if (r)
                return 1;
        text = json_dumps(json_object_get(resp, "package"), JSON_INDENT(2));
        /* the package holds a live enrollment token: keep it private */
        r = text ? util_file_write(out, text, strlen(text), 0600) : -ENOMEM;
        free(text);
        if (r < 0) {
                fprintf(stderr, "vigil: cannot write '%s': %s\n", out, strerror(-r));
                json_decref(resp);
                return 1;
        }
        if (c->json)
                cli_print_json(resp);
        else
                printf("onboarding package %s written to %s (expires %s, %s use%s)\n",
                       cli_str(resp, "id"), out, cli_str(resp, "expires_at"),
                       uses == 1 ? "1" : "several", uses == 1 ? "" : "s");
        json_decref(resp);
        return 0;
}

static int tokens_create(struct cli *c, int argc, char **argv)
{
        static const struct option opts[] = {
                { "role", required_argument, NULL, 'r' }, { "name", required_argument, NULL, 'n' }, { 0 } };
        const char *role = NULL, *name = "";
        json_t *body, *resp;
        int opt, r;

        optind = 1;
        while ((opt = getopt_long(argc, argv, "r:n:", opts, NULL)) != -1) {
                if (opt == 'r')
                        role = optarg;
                else if (opt == 'n')
                        name = optarg;
                else
                        return 2;
        }
        if (!role) {
                fprintf(stderr, "vigil: tokens create needs --role security_admin|it_admin|reader\n");
                return 2;
        }
        body = json_pack("{s:s,s:s}", "role", role, "name", name);
        r = cli_call(c, "POST", "/api/v1/tokens", body, 201, &resp);
        json_decref(body);
        if (r)
                return 1;
        if (c->json) {
                cli_print_json(resp);
        } else {
                fprintf(stderr, "token %s (%s) created; it is shown only once:\n", cli_str(resp, "id"), role);
                printf("%s\n", cli_str(resp, "token"));
        }
        json_decref(resp);
        return 0;
}

static int tokens_revoke(struct cli *c, const char *id)
{
        char path[160];
        json_t *resp;

        if (!cli_valid_id(id))
                return 2;
        snprintf(path, sizeof(path), "/api/v1/tokens/%s", id);
        if (cli_call(c, "DELETE", path, NULL, 200, &resp))
                return 1;
        if (c->json)
                cli_print_json(resp);
        else
                printf("token %s revoked; its portal sessions are ended\n", id);
        json_decref(resp);
        return 0;
}

static int alerts_list(struct cli *c, int argc, char **argv)
{
        static const char *const cols[] = { "ID", "SEVERITY", "STATUS", "DEVICE", "TITLE", "COUNT", "LAST SEEN" };
        static const char *const keys[] = { "id", "severity", "status", "device_id", "title", "count", "last_seen" };
        static const char *const params[] = { "device", "severity", "status", "rule_id", "technique", "limit",
                                              "offset" };
        static const struct option opts[] = {
                { "device", required_argument, NULL, 0 }, { "severity", required_argument, NULL, 1 },
                { "status", required_argument, NULL, 2 }, { "rule", required_argument, NULL, 3 },
                { "technique", required_argument, NULL, 4 }, { "limit", required_argument, NULL, 5 },
                { "offset", required_argument, NULL, 6 }, { "json", no_argument, NULL, 'j' }, { 0 } };
        const char *vals[7] = { 0 };
        char path[1400];
        json_t *resp, *v;
        int opt;

        optind = 1;
        while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (opt == 'j')
                        c->json = true;
                else if (opt >= 0 && opt < 7)
                        vals[opt] = optarg;
                else
                        return 2;
        }
        if (cli_query_build(path, sizeof(path), "/api/v1/alerts", params, vals, 7) < 0)
                return 2;
        if (cli_call(c, "GET", path, NULL, 200, &resp))
                return 1;
        /* count is a number: show it as text in the table */
        if (!c->json) {
                size_t i;
                json_array_foreach(json_object_get(resp, "value"), i, v) {
                        char num[24];
                        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(json_object_get(v, "count")));
                        json_object_set_new(v, "count", json_string(num));
                }
        }
        cli_print_values(c, resp, cols, keys, sizeof(cols) / sizeof(cols[0]));
        if (!c->json && json_is_integer(json_object_get(resp, "next_offset")))
                printf("(%lld alerts in all; more with --offset %lld)\n",
                       (long long)json_integer_value(json_object_get(resp, "count")),
                       (long long)json_integer_value(json_object_get(resp, "next_offset")));
        json_decref(resp);
        return 0;
}

static void alert_print(const json_t *a)
{
        static const char *const keys[] = {
                "id", "title", "severity", "status", "classification", "determination", "assigned_to",
                "device_id", "rule_id", "source", "first_seen", "last_seen", "received_at", "resolved_at",
        };
        const json_t *v;
        size_t i;

        for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                printf("%-16s %s\n", keys[i], cli_str(a, keys[i]));
        printf("%-16s %lld\n", "count", (long long)json_integer_value(json_object_get(a, "count")));
        printf("%-16s", "techniques");
        json_array_foreach(json_object_get(a, "techniques"), i, v)
                printf(" %s", json_string_value(v));
        printf("\n%-16s %s\n", "process", cli_str(json_object_get(json_object_get(a, "alert"), "process"), "command_line"));
        json_array_foreach(json_object_get(a, "history"), i, v)
                printf("history          %s %s: %s %s -> %s\n", cli_str(v, "at"), cli_str(v, "by"), cli_str(v, "field"),
                       cli_str(v, "from"), cli_str(v, "to"));
        json_array_foreach(json_object_get(a, "comments"), i, v)
                printf("comment          %s %s: %s\n", cli_str(v, "at"), cli_str(v, "by"), cli_str(v, "text"));
}

static int alert_show(struct cli *c, int argc, char **argv)
{
        char path[160];
        json_t *resp;

        if (argc >= 3 && strcmp(argv[2], "--json") == 0)
                c->json = true;
        if (argc < 2 || argc > 3 || !cli_valid_id(argv[1]))
                return 2;
        snprintf(path, sizeof(path), "/api/v1/alerts/%s", argv[1]);
        if (cli_call(c, "GET", path, NULL, 200, &resp))
                return 1;
        if (c->json)
                cli_print_json(resp);
        else
                alert_print(resp);
        json_decref(resp);
        return 0;
}

static int alert_update(struct cli *c, int argc, char **argv)
{
        static const struct option opts[] = {
                { "status", required_argument, NULL, 0 }, { "classification", required_argument, NULL, 1 },
                { "determination", required_argument, NULL, 2 }, { "assign", required_argument, NULL, 3 },
                { "comment", required_argument, NULL, 4 }, { "json", no_argument, NULL, 'j' }, { 0 } };
        static const char *const keys[] = { "status", "classification", "determination", "assigned_to" };
        const char *id, *comment = NULL;
        json_t *body = json_object(), *resp = NULL;
        char path[200];
        int opt, r = 2;

        if (argc < 2 || argv[1][0] == '-' || !cli_valid_id(argv[1]))
                goto out;
        id = argv[1];
        optind = 2;
        while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (opt == 'j')
                        c->json = true;
                else if (opt >= 0 && opt < 4)
                        json_object_set_new(body, keys[opt], json_string(optarg));
                else if (opt == 4)
                        comment = optarg;
                else
                        goto out;
        }
        if (!json_object_size(body) && !comment) {
                fprintf(stderr, "vigil: nothing to update: give --status, --classification, --determination, "
                                "--assign or --comment\n");
                goto out;
        }
        r = 1;
        snprintf(path, sizeof(path), "/api/v1/alerts/%s", id);
        if (json_object_size(body) && cli_call(c, "PATCH", path, body, 200, &resp))
                goto out;
        if (comment) {
                json_t *cb = json_pack("{s:s}", "comment", comment);
                json_decref(resp);
                resp = NULL;
                snprintf(path, sizeof(path), "/api/v1/alerts/%s/comments", id);
                r = cli_call(c, "POST", path, cb, 201, &resp);
                json_decref(cb);
                if (r)
                        goto out;
        }
        if (c->json)
                cli_print_json(resp);
        else
                alert_print(resp);
        r = 0;
out:
        json_decref(resp);
        json_decref(body);
        return r;
}

static int health(struct cli *c)
{
        json_t *resp;

        if (cli_call(c, "GET", "/api/v1/health", NULL, 200, &resp))
                return 1;
        if (c->json)
                cli_print_json(resp);
        else
                printf("status %s, version %s, database %s\n", cli_str(resp, "status"), cli_str(resp, "version"),
                       cli_str(resp, "database"));
        json_decref(resp);
        return 0;
}

static int dispatch(struct cli *c, int argc, char **argv)
{
        const char *noun = argv[0], *verb = argc > 1 ? argv[1] : "";

        if (strcmp(noun, "health") == 0)
                return health(c);
        if (!c->token) {
                fprintf(stderr, "vigil: no admin token: set VIGIL_TOKEN or pass --token\n");
                return 2;
        }
        if (strcmp(noun, "devices") == 0) {
                if (strcmp(verb, "list") == 0)
                        return devices_list(c, argc - 1, argv + 1);
                if (strcmp(verb, "tag") == 0)
                        return cli_devices_tag(c, argc - 1, argv + 1);
                if (strcmp(verb, "primary-user") == 0)
                        return cli_devices_primary_user(c, argc - 1, argv + 1);
                if (strcmp(verb, "compliance") == 0)
                        return cli_devices_compliance(c, argc - 1, argv + 1);
                /* offboard with a comment is the action; without, the revoke at once */
                if (cli_is_device_action(verb) && (strcmp(verb, "offboard") != 0 || argc > 3))
                        return cli_device_action(c, argc - 1, argv + 1);
                if (argc != 3)
                        goto bad;
                if (strcmp(verb, "show") == 0)
                        return device_show(c, argv[2]);
                if (strcmp(verb, "software") == 0)
                        return device_software(c, argv[2]);
                if (strcmp(verb, "offboard") == 0)
                        return device_offboard(c, argv[2]);
        } else if (strcmp(noun, "alerts") == 0) {
                if (strcmp(verb, "list") == 0)
                        return alerts_list(c, argc - 1, argv + 1);
                if (strcmp(verb, "show") == 0)
                        return alert_show(c, argc - 1, argv + 1);
                if (strcmp(verb, "update") == 0)
                        return alert_update(c, argc - 1, argv + 1);
        } else if (strcmp(noun, "onboarding") == 0 && strcmp(verb, "create") == 0) {
                return onboarding_create(c, argc - 1, argv + 1);
        } else if (strcmp(noun, "tokens") == 0 && strcmp(verb, "create") == 0) {
                return tokens_create(c, argc - 1, argv + 1);
        } else if (strcmp(noun, "tokens") == 0 && strcmp(verb, "revoke") == 0 && argc == 3) {
                return tokens_revoke(c, argv[2]);
        } else {
                for (const struct cli_area *a = cli_areas; a->noun; a++)
                        if (strcmp(noun, a->noun) == 0 && argc > 1)
                                return a->fn(c, argc - 1, argv + 1);
        }
bad:
        fprintf(stderr, "vigil: unknown command '%s %s'\n", noun, verb);
        usage(stderr);
        return 2;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "server", required_argument, NULL, 's' }, { "token", required_argument, NULL, 't' },
                { "ca", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' }, { 0 } };
        struct cli c = { .server = getenv("VIGIL_SERVER"), .token = getenv("VIGIL_TOKEN"),
                         .ca = getenv("VIGIL_CA") };
        int opt, r;

        /* global options come before the command; the command's own after it */
        while ((opt = getopt_long(argc, argv, "+s:t:c:jhV", opts, NULL)) != -1) {
                switch (opt) {
                case 's': c.server = optarg; break;
                case 't': c.token = optarg; break;
                case 'c': c.ca = optarg; break;
                case 'j': c.json = true; break;
                case 'h': usage(stdout); return 0;
                case 'V': printf("vigil %s\n", VIGIL_VERSION); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (optind >= argc) {
                usage(stderr);
                return 2;
        }
        if (!c.server)
                c.server = "https://localhost:8443";
        if (!c.ca) {
                fprintf(stderr, "vigil: no CA: set VIGIL_CA or pass --ca (the server's DATA_DIR/server-ca.pem)\n");
                return 2;
        }
        r = dispatch(&c, argc - optind, argv + optind);
        httpc_free(c.http);
        return r;
}
