/* suppressions: the CLI's commands for defend's suppression rules
 * (/api/v1/suppressions): list, create, show, update, delete and audit. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/strutil.h"

const char cli_suppressions_usage[] =
        "  suppressions list [--json]\n"
        "  suppressions create --name NAME --comment WHY [--rule ID] [--device ID]... [--device-name GLOB]\n"
        "                      [--device-group ID] [--image GLOB] [--command-line GLOB]\n"
        "                      [--expires TIME|DURATION] [--disabled] [--apply-to-existing] [--json]\n"
        "  suppressions show ID [--json]\n"
        "  suppressions update ID [--name NAME] [--comment WHY] [--enable|--disable] [--rule ID]\n"
        "                      [--device ID]... [--device-name GLOB] [--device-group ID] [--image GLOB]\n"
        "                      [--command-line GLOB] [--expires TIME|DURATION|never] [--apply-to-existing] [--json]\n"
        "  suppressions delete ID [--json]\n"
        "  suppressions audit ID [--json]\n";

enum { OPT_NAME, OPT_COMMENT, OPT_RULE, OPT_DEVICE, OPT_DEVICE_NAME, OPT_IMAGE, OPT_COMMAND_LINE, OPT_EXPIRES,
       OPT_ENABLE, OPT_DISABLE, OPT_APPLY, OPT_JSON, OPT_DEVICE_GROUP };

static const struct option rule_opts[] = {
        { "name", required_argument, NULL, OPT_NAME }, { "comment", required_argument, NULL, OPT_COMMENT },
        { "rule", required_argument, NULL, OPT_RULE }, { "device", required_argument, NULL, OPT_DEVICE },
        { "device-name", required_argument, NULL, OPT_DEVICE_NAME }, { "image", required_argument, NULL, OPT_IMAGE },
        { "command-line", required_argument, NULL, OPT_COMMAND_LINE },
        { "device-group", required_argument, NULL, OPT_DEVICE_GROUP },
        { "expires", required_argument, NULL, OPT_EXPIRES }, { "enable", no_argument, NULL, OPT_ENABLE },
        { "disable", no_argument, NULL, OPT_DISABLE }, { "disabled", no_argument, NULL, OPT_DISABLE },
        { "apply-to-existing", no_argument, NULL, OPT_APPLY }, { "json", no_argument, NULL, OPT_JSON }, { 0 } };

static int id_ok(const char *id)
{
        if (!util_str_printable(id, 64) || !*id || strpbrk(id, "/?#%& ") != NULL) {
                fprintf(stderr, "vigil: '%s' is not a suppression rule id\n", id);
                return 0;
        }
        return 1;
}

/* --expires: an RFC 3339 time as is, a duration ("24h", "7d") from now, or
 * "never" (update only). */
static json_t *expires_json(const char *v)
{
        int64_t secs;
        char t[21];

        if (strcmp(v, "never") == 0)
                return json_null();
        if (util_duration_parse(v, &secs) == 0) {
                util_time_format(util_now() + secs, t);
                return json_string(t);
        }
        return json_string(v);
}

/* Reads the options of create and update into body (its conditions under
 * cond). Returns 0, or 2 on a usage error. */
static int rule_options(struct cli *c, int argc, char **argv, json_t *body, json_t *cond)
{
        static const char *const keys[] = { "name", "comment", "rule_id", "device_ids", "device_name", "image",
                                            "command_line" };
        int opt;

        while ((opt = getopt_long(argc, argv, "", rule_opts, NULL)) != -1) {
                if (opt == OPT_NAME || opt == OPT_COMMENT)
                        json_object_set_new(body, keys[opt], json_string(optarg));
                else if (opt == OPT_DEVICE) {
                        if (!json_object_get(cond, "device_ids"))
                                json_object_set_new(cond, "device_ids", json_array());
                        json_array_append_new(json_object_get(cond, "device_ids"), json_string(optarg));
                } else if (opt >= OPT_RULE && opt <= OPT_COMMAND_LINE)
                        json_object_set_new(cond, keys[opt], json_string(optarg));
                else if (opt == OPT_DEVICE_GROUP)
                        json_object_set_new(cond, "device_group", json_string(optarg));
                else if (opt == OPT_EXPIRES)
                        json_object_set_new(body, "expires_at", expires_json(optarg));
                else if (opt == OPT_ENABLE || opt == OPT_DISABLE)
                        json_object_set_new(body, "enabled", json_boolean(opt == OPT_ENABLE));
                else if (opt == OPT_APPLY)
                        json_object_set_new(body, "apply_to_existing", json_true());
                else if (opt == OPT_JSON)
                        c->json = true;
                else
                        return 2;
        }
        if (optind != argc) {
                fprintf(stderr, "vigil: unexpected argument '%s'\n", argv[optind]);
                return 2;
        }
        return 0;
}

/* "rule_id=x image=/usr/bin/x*" */
static void conditions_text(const json_t *cond, char *out, size_t size)
{
        size_t n = 0;
        const char *k;
        json_t *v;

        out[0] = '\0';
        json_object_foreach((json_t *)cond, k, v) {
                if (n >= size)
                        break;
                if (json_is_array(v))
                        n += (size_t)snprintf(out + n, size - n, "%s%s=%zu devices", n ? " " : "", k,
                                              json_array_size(v));
                else
                        n += (size_t)snprintf(out + n, size - n, "%s%s=%s", n ? " " : "", k, json_string_value(v));
        }
}

static void rule_print(const json_t *r)
{
        static const char *const keys[] = { "id", "name", "comment", "expires_at", "created_at", "created_by_name",
                                            "updated_at", "updated_by_name", "last_hit_at" };
        const json_t *applied = json_object_get(r, "applied");
        char cond[1024];

        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                printf("%-16s %s\n", keys[i], cli_str(r, keys[i]));
        printf("%-16s %s%s\n", "enabled", json_is_true(json_object_get(r, "enabled")) ? "yes" : "no",
               json_is_true(json_object_get(r, "expired")) ? " (expired)" : "");
        printf("%-16s %lld\n", "hits", (long long)json_integer_value(json_object_get(r, "hits")));
        conditions_text(json_object_get(r, "conditions"), cond, sizeof(cond));
        printf("%-16s %s\n", "conditions", cond);
        if (applied)
                printf("%-16s %lld alerts resolved%s\n", "applied",
                       (long long)json_integer_value(json_object_get(applied, "resolved")),
                       json_is_true(json_object_get(applied, "more")) ? " (more left: update with "
                                                                        "--apply-to-existing again)" : "");
}

static int print_rule_reply(struct cli *c, json_t *resp)
{
        if (c->json)
                cli_print_json(resp);
        else
                rule_print(resp);
        json_decref(resp);
        return 0;
}

static int sup_list(struct cli *c, int argc, char **argv)
{
        static const char *const cols[] = { "ID", "NAME", "ENABLED", "HITS", "EXPIRES", "CONDITIONS" };
        static const char *const keys[] = { "id", "name", "enabled", "hits", "expires_at", "conditions" };
        json_t *resp, *v;
        size_t i;

        if (argc == 2 && strcmp(argv[1], "--json") == 0)
                c->json = true;
        else if (argc != 1) {
                fprintf(stderr, "vigil: suppressions list takes only --json\n");
                return 2;
        }
        if (cli_call(c, "GET", "/api/v1/suppressions", NULL, 200, &resp))
                return 1;
        if (!c->json) {
                json_array_foreach(json_object_get(resp, "value"), i, v) {
                        char cond[1024], hits[24];
                        conditions_text(json_object_get(v, "conditions"), cond, sizeof(cond));
                        snprintf(hits, sizeof(hits), "%lld", (long long)json_integer_value(json_object_get(v, "hits")));
                        json_object_set_new(v, "hits", json_string(hits));
                        json_object_set_new(v, "enabled", json_string(json_is_true(json_object_get(v, "expired")) ?
                                            "expired" : json_is_true(json_object_get(v, "enabled")) ? "yes" : "no"));
                        json_object_set_new(v, "conditions", json_string(cond));
                }
        }
        cli_print_values(c, resp, cols, keys, sizeof(cols) / sizeof(cols[0]));
        json_decref(resp);
        return 0;
}

static int sup_create(struct cli *c, int argc, char **argv)
{
        json_t *body = json_object(), *cond = json_object(), *resp;
        int r;

        optind = 1;
        r = rule_options(c, argc, argv, body, cond);
        if (r == 0 && (!json_object_get(body, "name") || !json_object_get(body, "comment"))) {
                fprintf(stderr, "vigil: suppressions create needs --name and --comment (why it is suppressed)\n");
                r = 2;
        }
        if (r == 0 && json_object_size(cond) == 0) {
                fprintf(stderr, "vigil: suppressions create needs at least one condition: --rule, --device, "
                                "--device-name, --device-group, --image or --command-line\n");
                r = 2;
        }
        if (r == 0 && json_is_null(json_object_get(body, "expires_at"))) {
                fprintf(stderr, "vigil: --expires never is for update; leave --expires out instead\n");
                r = 2;
        }
        json_object_set_new(body, "conditions", cond);
        if (r == 0)
                r = cli_call(c, "POST", "/api/v1/suppressions", body, 201, &resp);
        json_decref(body);
        return r ? r : print_rule_reply(c, resp);
}

/* Changed conditions are laid over the rule's current ones. */
static int sup_update(struct cli *c, int argc, char **argv)
{
        json_t *body = json_object(), *cond = json_object(), *cur = NULL, *resp;
        char path[160];
        int r = 2;

        if (argc < 2 || argv[1][0] == '-') {
                fprintf(stderr, "vigil: usage: suppressions update ID [options]\n");
                goto out;
        }
        if (!id_ok(argv[1]))
                goto out;
        optind = 2;
        r = rule_options(c, argc, argv, body, cond);
        if (r == 0 && json_object_size(body) == 0 && json_object_size(cond) == 0) {
                fprintf(stderr, "vigil: nothing to update: give --name, --comment, --enable, --disable, a condition, "
                                "--expires or --apply-to-existing\n");
                r = 2;
        }
        if (r)
                goto out;
        snprintf(path, sizeof(path), "/api/v1/suppressions/%s", argv[1]);
        r = 1;
        if (json_object_size(cond)) {
                if (cli_call(c, "GET", path, NULL, 200, &cur))
                        goto out;
                json_object_update(json_object_get(cur, "conditions"), cond);
                json_object_set(body, "conditions", json_object_get(cur, "conditions"));
        }
        if (cli_call(c, "PATCH", path, body, 200, &resp))
                goto out;
        r = print_rule_reply(c, resp);
out:
        json_decref(cur);
        json_decref(cond);
        json_decref(body);
        return r;
}

/* show, delete and audit: VERB ID [--json] */
static int sup_one(struct cli *c, int argc, char **argv)
{
        static const char *const cols[] = { "AT", "ACTION", "BY", "BY NAME" };
        static const char *const keys[] = { "at", "action", "by", "by_name" };
        const char *verb = argv[0];
        char path[200];
        json_t *resp;

        if (argc == 3 && strcmp(argv[2], "--json") == 0)
                c->json = true;
        else if (argc != 2) {
                fprintf(stderr, "vigil: usage: suppressions %s ID [--json]\n", verb);
                return 2;
        }
        if (!id_ok(argv[1]))
                return 2;
        snprintf(path, sizeof(path), "/api/v1/suppressions/%s%s", argv[1], strcmp(verb, "audit") == 0 ? "/audit" : "");
        if (cli_call(c, strcmp(verb, "delete") == 0 ? "DELETE" : "GET", path, NULL, 200, &resp))
                return 1;
        if (strcmp(verb, "audit") == 0) {
                cli_print_values(c, resp, cols, keys, sizeof(cols) / sizeof(cols[0]));
                json_decref(resp);
                return 0;
        }
        if (strcmp(verb, "delete") == 0 && !c->json) {
                printf("suppression rule %s deleted; the alerts it resolved stay resolved\n", argv[1]);
                json_decref(resp);
                return 0;
        }
        return print_rule_reply(c, resp);
}

int cli_suppressions(struct cli *c, int argc, char **argv)
{
        const char *verb = argv[0];

        if (strcmp(verb, "list") == 0)
                return sup_list(c, argc, argv);
        if (strcmp(verb, "create") == 0)
                return sup_create(c, argc, argv);
        if (strcmp(verb, "update") == 0)
                return sup_update(c, argc, argv);
        if (strcmp(verb, "show") == 0 || strcmp(verb, "delete") == 0 || strcmp(verb, "audit") == 0)
                return sup_one(c, argc, argv);
        fprintf(stderr, "vigil: unknown command 'suppressions %s'\nusage:\n%s", verb, cli_suppressions_usage);
        return 2;
}
