/* groups: 'vigil groups ...', device groups (docs/MANAGE.md): list, create,
 * show, update, delete, their members, static members added and removed;
 * and 'vigil devices tag ID TAG...'. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/strutil.h"

const char cli_groups_usage[] =
        "  groups list [--limit N] [--offset N] [--json]\n"
        "  groups create --name NAME (--rule EXPRESSION | --static) [--description TEXT] [--json]\n"
        "  groups show|delete ID [--json]\n"
        "  groups update ID [--name NAME] [--description TEXT] [--rule EXPRESSION] [--json]\n"
        "  groups members ID [--limit N] [--offset N] [--json]\n"
        "  groups add ID DEVICE...      (static groups)\n"
        "  groups remove ID DEVICE      (static groups)\n"
        "  devices tag ID [TAG]...      (sets the device's tags; none clears them)\n";

static int usage_error(const char *msg)
{
        return cli_usage_error(cli_groups_usage, msg);
}

static void group_print(const struct cli *c, const json_t *g)
{
        static const char *const keys[] = { "id", "name", "kind", "rule", "description", "created_at", "updated_at" };

        if (c->json) {
                cli_print_json(g);
                return;
        }
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                printf("%-12s %s\n", keys[i], cli_str(g, keys[i]));
        printf("%-12s %lld\n", "members", (long long)json_integer_value(json_object_get(g, "member_count")));
}

/* --limit and --offset (and --json) from argv[first]; a page query into path. */
static int paging_read(struct cli *c, int argc, char **argv, int first, const char *base, char *path, size_t size)
{
        static const struct option opts[] = { { "limit", required_argument, NULL, 'l' },
                                               { "offset", required_argument, NULL, 'o' },
                                               { "json", no_argument, NULL, 'j' }, { 0 } };
        static const char *const names[] = { "limit", "offset" };
        const char *vals[2] = { NULL, NULL };
        int opt;

        optind = first;
        while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (opt) {
                case 'l': vals[0] = optarg; break;
                case 'o': vals[1] = optarg; break;
                case 'j': c->json = true; break;
                default: return usage_error(NULL);
                }
        }
        if (optind != argc)
                return usage_error(NULL);
        return cli_query_build(path, size, base, names, vals, 2) < 0 ? 2 : 0;
}

static void kind_text(json_t *g)
{
        if (!json_is_string(json_object_get(g, "rule")))
                json_object_set_new(g, "rule", json_string("-"));
}

static int groups_list(struct cli *c, int argc, char **argv)
{
        static const char *const cols[] = { "ID", "NAME", "KIND", "MEMBERS", "RULE" };
        static const char *const keys[] = { "id", "name", "kind", "members_text", "rule" };
        char path[512], num[24];
        json_t *resp, *g;
        size_t i;
        int r;

        r = paging_read(c, argc, argv, 1, "/api/v1/groups", path, sizeof(path));
        if (r)
                return r;
        if (cli_call(c, "GET", path, NULL, 200, &resp))
                return 1;
        json_array_foreach(json_object_get(resp, "value"), i, g) {
                if (c->json)
                        break;
                snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(json_object_get(g, "member_count")));
                json_object_set_new(g, "members_text", json_string(num));
                kind_text(g);
        }
        cli_print_values(c, resp, cols, keys, sizeof(cols) / sizeof(cols[0]));
        json_decref(resp);
        return 0;
}

/* create (id NULL) or update ID: the body from the options. */
static int groups_write(struct cli *c, const char *id, int argc, char **argv, int first)
{
        static const struct cli_body_opt opts[] = {
                { "name", CLI_OPT_ARG, "name", NULL }, { "description", CLI_OPT_ARG, "description", NULL },
                { "rule", CLI_OPT_ARG, "rule", NULL }, { "static", CLI_OPT_TEXT, "kind", "static" } };
        json_t *body = json_object(), *resp = NULL;
        char path[160];
        int r;

        r = cli_body_options(c, argc, argv, first, opts, sizeof(opts) / sizeof(opts[0]), body);
        if (r)
                goto out;
        if (optind != argc || json_object_size(body) == 0 || (!id && !json_object_get(body, "name")) ||
            (id && json_object_get(body, "kind")) ||
            (!id && !json_object_get(body, "kind") == !json_object_get(body, "rule"))) {
                r = usage_error(id ? "give at least one of --name, --description and --rule"
                                   : "give --name and one of --rule and --static");
                goto out;
        }
        if (!id && json_object_get(body, "rule"))
                json_object_set_new(body, "kind", json_string("dynamic"));
        if (id)
                snprintf(path, sizeof(path), "/api/v1/groups/%s", id);
        r = cli_call(c, id ? "PATCH" : "POST", id ? path : "/api/v1/groups", body, id ? 200 : 201, &resp);
        if (r == 0)
                group_print(c, resp);
out:
        json_decref(resp);
        json_decref(body);
        return r;
}

static int groups_members(struct cli *c, const char *id, int argc, char **argv)
{
        static const char *const cols[] = { "DEVICE", "NAME" };
        static const char *const keys[] = { "id", "name" };
        char base[160], path[512];
        json_t *resp;
        int r;

        snprintf(base, sizeof(base), "/api/v1/groups/%s/members", id);
        r = paging_read(c, argc, argv, 2, base, path, sizeof(path));
        if (r)
                return r;
        if (cli_call(c, "GET", path, NULL, 200, &resp))
                return 1;
        cli_print_values(c, resp, cols, keys, 2);
        if (!c->json)
                printf("%lld members\n", (long long)json_integer_value(json_object_get(resp, "count")));
        json_decref(resp);
        return 0;
}

static int groups_add(struct cli *c, const char *id, int argc, char **argv)
{
        json_t *devs = json_array(), *body, *resp = NULL;
        char path[160];
        int r;

        for (int i = 2; i < argc; i++) {
                if (!cli_valid_id(argv[i])) {
                        json_decref(devs);
                        return 2;
                }
                json_array_append_new(devs, json_string(argv[i]));
        }
        body = json_pack("{s:o}", "devices", devs);
        snprintf(path, sizeof(path), "/api/v1/groups/%s/members", id);
        r = cli_call(c, "POST", path, body, 200, &resp);
        if (r == 0)
                group_print(c, resp);
        json_decref(resp);
        json_decref(body);
        return r;
}

static int groups_one(struct cli *c, const char *verb, const char *id, int argc, char **argv)
{
        json_t *resp = NULL;
        char path[240];
        int r;

        if (strcmp(verb, "remove") == 0) {
                if (argc != 3 || !cli_valid_id(argv[2]))
                        return usage_error(NULL);
                snprintf(path, sizeof(path), "/api/v1/groups/%s/members/%s", id, argv[2]);
                r = cli_call(c, "DELETE", path, NULL, 200, &resp);
        } else {
                if (argc > 3 || (argc == 3 && strcmp(argv[2], "--json") != 0))
                        return usage_error(NULL);
                c->json = c->json || argc == 3;
                snprintf(path, sizeof(path), "/api/v1/groups/%s", id);
                r = cli_call(c, strcmp(verb, "show") == 0 ? "GET" : "DELETE", path, NULL, 200, &resp);
        }
        if (r == 0 && strcmp(verb, "delete") == 0 && !c->json)
                printf("deleted group %s\n", id);
        else if (r == 0)
                group_print(c, resp);
        json_decref(resp);
        return r;
}

int cli_groups(struct cli *c, int argc, char **argv)
{
        const char *verb = argv[0];

        if (strcmp(verb, "list") == 0)
                return groups_list(c, argc, argv);
        if (strcmp(verb, "create") == 0)
                return groups_write(c, NULL, argc, argv, 1);
        if (argc < 2 || !cli_valid_id(argv[1]))
                return usage_error(argc < 2 ? "a group id is needed" : NULL);
        if (strcmp(verb, "update") == 0)
                return groups_write(c, argv[1], argc, argv, 2);
        if (strcmp(verb, "members") == 0)
                return groups_members(c, argv[1], argc, argv);
        if (strcmp(verb, "add") == 0)
                return argc < 3 ? usage_error("name at least one device") : groups_add(c, argv[1], argc, argv);
        if (strcmp(verb, "show") == 0 || strcmp(verb, "delete") == 0 || strcmp(verb, "remove") == 0)
                return groups_one(c, verb, argv[1], argc, argv);
        fprintf(stderr, "vigil: unknown command 'groups %s'\n", verb);
        return usage_error(NULL);
}

int cli_devices_tag(struct cli *c, int argc, char **argv)
{
        json_t *tags = json_array(), *body, *resp = NULL, *t;
        char path[160];
        size_t i;
        int r;

        if (argc < 2 || !cli_valid_id(argv[1])) {
                json_decref(tags);
                return usage_error(NULL);
        }
        for (int k = 2; k < argc; k++)
                json_array_append_new(tags, json_string(argv[k]));
        body = json_pack("{s:o}", "tags", tags);
        snprintf(path, sizeof(path), "/api/v1/devices/%s/tags", argv[1]);
        r = cli_call(c, "PUT", path, body, 200, &resp);
        if (r == 0 && c->json)
                cli_print_json(resp);
        else if (r == 0) {
                printf("device %s: tags", argv[1]);
                json_array_foreach(json_object_get(resp, "tags"), i, t)
                        printf(" %s", json_string_value(t));
                printf("%s\n", json_array_size(json_object_get(resp, "tags")) ? "" : " (none)");
        }
        json_decref(resp);
        json_decref(body);
        return r;
}
