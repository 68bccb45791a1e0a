/* profiles: 'vigil profiles ...', configuration profiles (docs/PROFILES.md):
 * list, create and update from a JSON document, show, delete, and the
 * status of a profile on its devices. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define DOCUMENT_MAX (4u << 20)        /* the server's cap on a profile document */

const char cli_profiles_usage[] =
        "  profiles list [--json]\n"
        "  profiles create -f FILE.json\n"
        "  profiles show ID [--json]\n"
        "  profiles update ID -f FILE.json\n"
        "  profiles delete ID\n"
        "  profiles status ID [--json]\n";

static int usage_error(const char *msg)
{
        return cli_usage_error(cli_profiles_usage, msg);
}

static void profile_print(const struct cli *c, const json_t *p)
{
        if (c->json) {
                cli_print_json(p);
                return;
        }
        printf("id        %s\n", cli_str(p, "id"));
        printf("name      %s\n", cli_str(p, "name"));
        printf("type      %s\n", cli_str(p, "type"));
        printf("version   %lld\n", (long long)json_integer_value(json_object_get(p, "version")));
        printf("updated   %s\n", cli_str(p, "updated_at"));
        printf("settings  ");
        cli_print_json(json_object_get(p, "settings"));
        printf("assigned  ");
        cli_print_json(json_object_get(p, "assignments"));
}

/* create -f FILE, update ID -f FILE */
static int profiles_write(struct cli *c, int argc, char **argv, bool create)
{
        int first = create ? 1 : 2;
        char path[160];
        json_t *doc, *resp = NULL;
        int r;

        if (argc != first + 2 || strcmp(argv[first], "-f") != 0)
                return usage_error(create ? "profiles create needs -f FILE.json" : "profiles update needs ID -f FILE");
        if (!create && !cli_valid_id(argv[1]))
                return 2;
        doc = cli_json_file_read(argv[first + 1], DOCUMENT_MAX, "a profile document");
        if (!doc)
                return 1;
        if (create)
                r = cli_call(c, "POST", "/api/v1/profiles", doc, 201, &resp);
        else {
                snprintf(path, sizeof(path), "/api/v1/profiles/%s", argv[1]);
                r = cli_call(c, "PUT", path, doc, 200, &resp);
        }
        if (r == 0)
                profile_print(c, resp);
        json_decref(doc);
        json_decref(resp);
        return r;
}

static int profiles_status(struct cli *c, int argc, char **argv)
{
        char path[160];
        const json_t *d;
        json_t *resp;
        size_t i;

        if (argc < 2 || !cli_json_flag(c, argc, argv, 2))
                return usage_error(NULL);
        if (!cli_valid_id(argv[1]))
                return 2;
        snprintf(path, sizeof(path), "/api/v1/profiles/%s/status", argv[1]);
        if (cli_call(c, "GET", path, NULL, 200, &resp))
                return 1;
        if (c->json) {
                cli_print_json(resp);
        } else {
                const json_t *n = json_object_get(resp, "counts");

                printf("version %lld: %lld succeeded, %lld pending, %lld failed, %lld conflict\n",
                       (long long)json_integer_value(json_object_get(resp, "version")),
                       (long long)json_integer_value(json_object_get(n, "succeeded")),
                       (long long)json_integer_value(json_object_get(n, "pending")),
                       (long long)json_integer_value(json_object_get(n, "failed")),
                       (long long)json_integer_value(json_object_get(n, "conflict")));
                printf("%-36s  %-9s  %s\n", "DEVICE", "STATUS", "MESSAGE");
                json_array_foreach(json_object_get(resp, "devices"), i, d)
                        printf("%-36s  %-9s  %s\n", cli_str(d, "device_id"), cli_str(d, "status"),
                               json_object_get(d, "message") ? cli_str(d, "message") : "");
        }
        json_decref(resp);
        return 0;
}

static int profiles_one(struct cli *c, int argc, char **argv, const char *method)
{
        char path[160];
        json_t *resp;

        if (argc < 2 || !cli_json_flag(c, argc, argv, 2) || (strcmp(method, "DELETE") == 0 && argc != 2))
                return usage_error(NULL);
        if (!cli_valid_id(argv[1]))
                return 2;
        snprintf(path, sizeof(path), "/api/v1/profiles/%s", argv[1]);
        if (cli_call(c, method, path, NULL, 200, &resp))
                return 1;
        if (strcmp(method, "DELETE") == 0)
                printf("profile %s deleted\n", argv[1]);
        else
                profile_print(c, resp);
        json_decref(resp);
        return 0;
}

int cli_profiles(struct cli *c, int argc, char **argv)
{
        static const char *const cols[] = { "ID", "NAME", "TYPE", "UPDATED" };
        static const char *const keys[] = { "id", "name", "type", "updated_at" };
        const char *verb = argv[0];
        json_t *resp;

        if (strcmp(verb, "list") == 0) {
                if (!cli_json_flag(c, argc, argv, 1))
                        return usage_error(NULL);
                if (cli_call(c, "GET", "/api/v1/profiles?limit=1000", NULL, 200, &resp))
                        return 1;
                cli_print_values(c, resp, cols, keys, sizeof(cols) / sizeof(cols[0]));
                json_decref(resp);
                return 0;
        }
        if (strcmp(verb, "create") == 0 || strcmp(verb, "update") == 0)
                return profiles_write(c, argc, argv, verb[0] == 'c');
        if (strcmp(verb, "show") == 0)
                return profiles_one(c, argc, argv, "GET");
        if (strcmp(verb, "delete") == 0)
                return profiles_one(c, argc, argv, "DELETE");
        if (strcmp(verb, "status") == 0)
                return profiles_status(c, argc, argv);
        fprintf(stderr, "vigil: unknown command 'profiles %s'\n", verb);
        return usage_error(NULL);
}
