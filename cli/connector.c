/* connector: 'vigil connector ...', the link that carries device risk from
 * the threat-defense partner to compliance (docs/CONNECTOR.md): its
 * settings and state, one device's risk as compliance sees it, and partner
 * tokens. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

const char cli_connector_usage[] =
        "  connector show [--json]\n"
        "  connector set [--partner builtin|remote] [--platforms linux|none] [--unresponsive-after DURATION]\n"
        "                [--block-on-missing-data yes|no]\n"
        "  connector history [--json]\n"
        "  connector device ID [--json]\n"
        "  connector partner-token create --name NAME\n"
        "  connector partner-token revoke ID\n";

static int usage_error(const char *msg)
{
        return cli_usage_error(cli_connector_usage, msg);
}

static int connector_show(struct cli *c, int argc, char **argv)
{
        json_t *set = NULL, *st = NULL;
        const json_t *p;
        size_t i;
        int r = 1;

        if (!cli_json_flag(c, argc, argv, 1))
                return usage_error(NULL);
        if (cli_call(c, "GET", "/api/v1/connector", NULL, 200, &set) ||
            cli_call(c, "GET", "/api/v1/connector/status", NULL, 200, &st))
                goto out;
        if (c->json) {
                json_t *j = json_pack("{s:O,s:O}", "settings", set, "status", st);
                cli_print_json(j);
                json_decref(j);
                r = 0;
                goto out;
        }
        printf("partner:                        %s\n", cli_str(set, "partner"));
        printf("enabled platforms:              ");
        json_array_foreach(json_object_get(set, "enabled_platforms"), i, p)
                printf("%s%s", i ? ", " : "", json_string_value(p));
        printf("%s\n", json_array_size(json_object_get(set, "enabled_platforms")) ? "" : "(none)");
        printf("partner unresponsive after:     %s\n", cli_str(set, "partner_unresponsive_after"));
        printf("block on missing partner data:  %s\n",
               json_is_true(json_object_get(set, "block_on_missing_partner_data")) ? "yes" : "no");
        printf("state:                          %s (since %s)\n", cli_str(st, "state"), cli_str(st, "since"));
        printf("last heartbeat:                 %s\n", cli_str(st, "last_heartbeat"));
        if (json_string_length(json_object_get(st, "reason")))
                printf("reason:                         %s\n", cli_str(st, "reason"));
        printf("devices with risk:              %lld of %lld reported\n",
               (long long)json_integer_value(json_object_get(st, "devices_with_risk")),
               (long long)json_integer_value(json_object_get(st, "devices_reported")));
        r = 0;
out:
        json_decref(set);
        json_decref(st);
        return r;
}

static int connector_set(struct cli *c, int argc, char **argv)
{
        static const struct option opts[] = {
                { "partner", required_argument, NULL, 'p' }, { "platforms", required_argument, NULL, 'P' },
                { "unresponsive-after", required_argument, NULL, 'u' },
                { "block-on-missing-data", required_argument, NULL, 'b' }, { 0 } };
        json_t *body = json_object(), *resp = NULL;
        int opt, r = 2;

        optind = 1;
        while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (opt) {
                case 'p': json_object_set_new(body, "partner", json_string(optarg)); break;
                case 'P':
                        json_object_set_new(body, "enabled_platforms", strcmp(optarg, "none") == 0 ?
                                            json_array() : json_pack("[s]", optarg));
                        break;
                case 'u': json_object_set_new(body, "partner_unresponsive_after", json_string(optarg)); break;
                case 'b':
                        if (strcmp(optarg, "yes") != 0 && strcmp(optarg, "no") != 0) {
                                r = usage_error("--block-on-missing-data takes yes or no");
                                goto out;
                        }
                        json_object_set_new(body, "block_on_missing_partner_data", json_boolean(optarg[0] == 'y'));
                        break;
                default: goto out;
                }
        }
        if (optind != argc || json_object_size(body) == 0) {
                r = usage_error("connector set needs at least one setting");
                goto out;
        }
        r = cli_call(c, "PUT", "/api/v1/connector", body, 200, &resp);
        if (r == 0)
                cli_print_json(resp);
out:
        json_decref(body);
        json_decref(resp);
        return r;
}

static int connector_history(struct cli *c, int argc, char **argv)
{
        static const char *const cols[] = { "AT", "FROM", "TO", "PARTNER", "REASON" };
        static const char *const keys[] = { "at", "from", "to", "partner", "reason" };
        json_t *resp;

        if (!cli_json_flag(c, argc, argv, 1))
                return usage_error(NULL);
        if (cli_call(c, "GET", "/api/v1/connector/history", NULL, 200, &resp))
                return 1;
        cli_print_values(c, resp, cols, keys, sizeof(cols) / sizeof(cols[0]));
        json_decref(resp);
        return 0;
}

static int connector_device(struct cli *c, int argc, char **argv)
{
        char path[160];
        json_t *resp;

        if (argc < 2 || !cli_json_flag(c, argc, argv, 2))
                return usage_error(NULL);
        if (!cli_valid_id(argv[1]))
                return 2;
        snprintf(path, sizeof(path), "/api/v1/connector/devices/%s", argv[1]);
        if (cli_call(c, "GET", path, NULL, 200, &resp))
                return 1;
        if (c->json) {
                cli_print_json(resp);
        } else {
                printf("risk:        %s%s\n", cli_str(resp, "risk"),
                       json_is_true(json_object_get(resp, "applicable")) ? "" : " (not applicable)");
                printf("as of:       %s\n", cli_str(resp, "as_of"));
                printf("block:       %s\n", json_is_true(json_object_get(resp, "block")) ? "yes" : "no");
                printf("reason:      %s\n", cli_str(resp, "reason"));
        }
        json_decref(resp);
        return 0;
}

static int partner_token(struct cli *c, int argc, char **argv)
{
        json_t *body, *resp;
        char path[160];

        if (argc == 4 && strcmp(argv[1], "create") == 0 && strcmp(argv[2], "--name") == 0) {
                body = json_pack("{s:s}", "name", argv[3]);
                if (cli_call(c, "POST", "/api/v1/connector/partner-tokens", body, 201, &resp)) {
                        json_decref(body);
                        return 1;
                }
                json_decref(body);
                fprintf(stderr, "partner token %s ('%s') created; it is shown only once:\n", cli_str(resp, "id"),
                        cli_str(resp, "name"));
                printf("%s\n", cli_str(resp, "token"));
                json_decref(resp);
                return 0;
        }
        if (argc == 3 && strcmp(argv[1], "revoke") == 0) {
                if (!cli_valid_id(argv[2]))
                        return 2;
                snprintf(path, sizeof(path), "/api/v1/connector/partner-tokens/%s", argv[2]);
                if (cli_call(c, "DELETE", path, NULL, 200, &resp))
                        return 1;
                printf("partner token %s revoked\n", argv[2]);
                json_decref(resp);
                return 0;
        }
        return usage_error(NULL);
}

int cli_connector(struct cli *c, int argc, char **argv)
{
        const char *verb = argv[0];

        if (strcmp(verb, "show") == 0)
                return connector_show(c, argc, argv);
        if (strcmp(verb, "set") == 0)
                return connector_set(c, argc, argv);
        if (strcmp(verb, "history") == 0)
                return connector_history(c, argc, argv);
        if (strcmp(verb, "device") == 0)
                return connector_device(c, argc, argv);
        if (strcmp(verb, "partner-token") == 0)
                return partner_token(c, argc, argv);
        fprintf(stderr, "vigil: unknown command 'connector %s'\n", verb);
        return usage_error(NULL);
}
