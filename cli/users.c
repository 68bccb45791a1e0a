/* users: 'vigil users ...' and 'vigil user-groups ...', manage's small
 * directory (docs/MANAGE.md), and 'vigil devices primary-user ID USER|none'. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

const char cli_users_usage[] =
        "  users list [--json]\n"
        "  users create --upn NAME@DOMAIN [--display-name TEXT] [--disabled] [--json]\n"
        "  users update ID [--upn NAME@DOMAIN] [--display-name TEXT] [--enabled|--disabled] [--json]\n"
        "  users show|delete ID [--json]\n"
        "  devices primary-user ID USER|none   (USER: a user id or user principal name)\n";

const char cli_user_groups_usage[] =
        "  user-groups list [--json]\n"
        "  user-groups create --name NAME [--description TEXT] [--json]\n"
        "  user-groups show|delete|members ID [--json]\n"
        "  user-groups add ID USER...  |  user-groups remove ID USER-ID\n";

static void object_print(const struct cli *c, const json_t *o, const char *const *keys, size_t n)
{
        if (c->json) {
                cli_print_json(o);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                const json_t *v = json_object_get(o, keys[i]);
                if (json_is_boolean(v))
                        printf("%-20s %s\n", keys[i], json_is_true(v) ? "yes" : "no");
                else if (json_is_integer(v))
                        printf("%-20s %lld\n", keys[i], (long long)json_integer_value(v));
                else
                        printf("%-20s %s\n", keys[i], cli_str(o, keys[i]));
        }
}

static const char *const user_keys[] = { "id", "user_principal_name", "display_name", "enabled", "created_at",
                                         "updated_at" };
static const char *const ugroup_keys[] = { "id", "name", "description", "member_count", "created_at", "updated_at" };

/* list (path) with only --json allowed. */
static int list(struct cli *c, const char *usage, const char *path, int argc, char **argv, int first,
                const char *const *cols, const char *const *keys, size_t n)
{
        json_t *resp, *v;
        size_t i;

        if (argc > first + 1 || (argc == first + 1 && strcmp(argv[first], "--json") != 0))
                return cli_usage_error(usage, NULL);
        c->json = c->json || argc == first + 1;
        if (cli_call(c, "GET", path, NULL, 200, &resp))
                return 1;
        json_array_foreach(json_object_get(resp, "value"), i, v)
                if (!c->json)
                        json_object_set_new(v, "enabled_text",
                                            json_string(json_is_true(json_object_get(v, "enabled")) ? "yes" : "no"));
        cli_print_values(c, resp, cols, keys, n);
        json_decref(resp);
        return 0;
}

/* show, delete: GET or DELETE base/ID, printed with keys. */
static int one(struct cli *c, const char *usage, const char *base, const char *verb, int argc, char **argv,
               const char *const *keys, size_t n)
{
        json_t *resp = NULL;
        char path[200];
        int r;

        if (argc < 2 || argc > 3 || !cli_valid_id(argv[1]) || (argc == 3 && strcmp(argv[2], "--json") != 0))
                return cli_usage_error(usage, NULL);
        c->json = c->json || argc == 3;
        snprintf(path, sizeof(path), "%s/%s", base, argv[1]);
        r = cli_call(c, strcmp(verb, "delete") == 0 ? "DELETE" : "GET", path, NULL, 200, &resp);
        if (r == 0 && strcmp(verb, "delete") == 0 && !c->json)
                printf("deleted %s\n", argv[1]);
        else if (r == 0)
                object_print(c, resp, keys, n);
        json_decref(resp);
        return r;
}

static int users_write(struct cli *c, const char *id, int argc, char **argv, int first)
{
        static const struct cli_body_opt opts[] = {
                { "upn", CLI_OPT_ARG, "user_principal_name", NULL },
                { "display-name", CLI_OPT_ARG, "display_name", NULL },
                { "enabled", CLI_OPT_TRUE, "enabled", NULL }, { "disabled", CLI_OPT_FALSE, "enabled", NULL } };
        json_t *body = json_object(), *resp = NULL;
        char path[160];
        int r;

        r = cli_body_options(c, argc, argv, first, opts, sizeof(opts) / sizeof(opts[0]), body);
        if (r)
                goto out;
        if (optind != argc || json_object_size(body) == 0 || (!id && !json_object_get(body, "user_principal_name"))) {
                r = cli_usage_error(cli_users_usage, id ? "give something to change" : "--upn is required");
                goto out;
        }
        snprintf(path, sizeof(path), "/api/v1/users/%s", id ? id : "");
        r = cli_call(c, id ? "PATCH" : "POST", id ? path : "/api/v1/users", body, id ? 200 : 201, &resp);
        if (r == 0)
                object_print(c, resp, user_keys, sizeof(user_keys) / sizeof(user_keys[0]));
out:
        json_decref(resp);
        json_decref(body);
        return r;
}

int cli_users(struct cli *c, int argc, char **argv)
{
        static const char *const cols[] = { "ID", "USER PRINCIPAL NAME", "DISPLAY NAME", "ENABLED" };
        static const char *const keys[] = { "id", "user_principal_name", "display_name", "enabled_text" };
        const char *verb = argv[0];

        if (strcmp(verb, "list") == 0)
                return list(c, cli_users_usage, "/api/v1/users?limit=1000", argc, argv, 1, cols, keys, 4);
        if (strcmp(verb, "create") == 0)
                return users_write(c, NULL, argc, argv, 1);
        if (strcmp(verb, "update") == 0)
                return argc < 2 || !cli_valid_id(argv[1]) ? cli_usage_error(cli_users_usage, NULL)
                                                          : users_write(c, argv[1], argc, argv, 2);
        if (strcmp(verb, "show") == 0 || strcmp(verb, "delete") == 0)
                return one(c, cli_users_usage, "/api/v1/users", verb, argc, argv, user_keys,
                           sizeof(user_keys) / sizeof(user_keys[0]));
        fprintf(stderr, "vigil: unknown command 'users %s'\n", verb);
        return cli_usage_error(cli_users_usage, NULL);
}

static int ugroups_create(struct cli *c, int argc, char **argv)
{
        static const struct cli_body_opt opts[] = {
                { "name", CLI_OPT_ARG, "name", NULL }, { "description", CLI_OPT_ARG, "description", NULL } };
        json_t *body = json_object(), *resp = NULL;
        int r;

        r = cli_body_options(c, argc, argv, 1, opts, sizeof(opts) / sizeof(opts[0]), body);
        if (r)
                goto out;
        if (optind != argc || !json_object_get(body, "name")) {
                r = cli_usage_error(cli_user_groups_usage, "--name is required");
                goto out;
        }
        r = cli_call(c, "POST", "/api/v1/user-groups", body, 201, &resp);
        if (r == 0)
                object_print(c, resp, ugroup_keys, sizeof(ugroup_keys) / sizeof(ugroup_keys[0]));
out:
        json_decref(resp);
        json_decref(body);
        return r;
}

/* add ID USER... | remove ID USER-ID */
static int ugroups_member(struct cli *c, const char *verb, int argc, char **argv)
{
        json_t *users = json_array(), *body = NULL, *resp = NULL;
        char path[240];
        int r;

        if (argc < 3 || !cli_valid_id(argv[1]) || (strcmp(verb, "remove") == 0 && (argc != 3 || !cli_valid_id(argv[2])))) {
                json_decref(users);
                return cli_usage_error(cli_user_groups_usage, NULL);
        }
        if (strcmp(verb, "remove") == 0) {
                json_decref(users);
                snprintf(path, sizeof(path), "/api/v1/user-groups/%s/members/%s", argv[1], argv[2]);
                r = cli_call(c, "DELETE", path, NULL, 200, &resp);
        } else {
                for (int i = 2; i < argc; i++)
                        json_array_append_new(users, json_string(argv[i]));
                body = json_pack("{s:o}", "users", users);
                snprintf(path, sizeof(path), "/api/v1/user-groups/%s/members", argv[1]);
                r = cli_call(c, "POST", path, body, 200, &resp);
        }
        if (r == 0)
                object_print(c, resp, ugroup_keys, sizeof(ugroup_keys) / sizeof(ugroup_keys[0]));
        json_decref(resp);
        json_decref(body);
        return r;
}

int cli_user_groups(struct cli *c, int argc, char **argv)
{
        static const char *const cols[] = { "ID", "NAME", "DESCRIPTION" };
        static const char *const keys[] = { "id", "name", "description" };
        static const char *const mcols[] = { "ID", "USER PRINCIPAL NAME", "DISPLAY NAME", "ENABLED" };
        static const char *const mkeys[] = { "id", "user_principal_name", "display_name", "enabled_text" };
        const char *verb = argv[0];
        char path[200];

        if (strcmp(verb, "list") == 0)
                return list(c, cli_user_groups_usage, "/api/v1/user-groups?limit=1000", argc, argv, 1, cols, keys, 3);
        if (strcmp(verb, "create") == 0)
                return ugroups_create(c, argc, argv);
        if (strcmp(verb, "show") == 0 || strcmp(verb, "delete") == 0)
                return one(c, cli_user_groups_usage, "/api/v1/user-groups", verb, argc, argv, ugroup_keys,
                           sizeof(ugroup_keys) / sizeof(ugroup_keys[0]));
        if (strcmp(verb, "members") == 0) {
                if (argc < 2 || !cli_valid_id(argv[1]))
                        return cli_usage_error(cli_user_groups_usage, NULL);
                snprintf(path, sizeof(path), "/api/v1/user-groups/%s/members?limit=1000", argv[1]);
                return list(c, cli_user_groups_usage, path, argc, argv, 2, mcols, mkeys, 4);
        }
        if (strcmp(verb, "add") == 0 || strcmp(verb, "remove") == 0)
                return ugroups_member(c, verb, argc, argv);
        fprintf(stderr, "vigil: unknown command 'user-groups %s'\n", verb);
        return cli_usage_error(cli_user_groups_usage, NULL);
}

int cli_devices_primary_user(struct cli *c, int argc, char **argv)
{
        json_t *body, *resp = NULL, *u;
        char path[160];
        int r;

        if (argc != 3 || !cli_valid_id(argv[1]))
                return cli_usage_error(cli_users_usage, NULL);
        body = json_pack("{s:o}", "user", strcmp(argv[2], "none") == 0 ? json_null() : json_string(argv[2]));
        snprintf(path, sizeof(path), "/api/v1/devices/%s/primary-user", argv[1]);
        r = cli_call(c, "PUT", path, body, 200, &resp);
        u = json_object_get(resp, "primary_user");
        if (r == 0 && c->json)
                cli_print_json(resp);
        else if (r == 0)
                printf("device %s: primary user %s\n", argv[1], json_is_object(u) ? cli_str(u, "user_principal_name")
                                                                                : "none");
        json_decref(resp);
        json_decref(body);
        return r;
}
