/* tvm: 'vigil tvm ...', vulnerability management (docs/TVM.md): the
 * devices' vulnerabilities, the security recommendations and the
 * remediation tasks made from them; 'tvm import' is in tvm-import.c. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/tvm.h"

const char cli_tvm_usage[] =
        "  tvm vulns [--device ID] [--cve CVE] [--severity LEVEL] [--limit N] [--offset N] [--json]\n"
        "  tvm recommendations [--package NAME] [--json]\n"
        "  tvm tasks list [--status STATUS] [--limit N] [--offset N] [--json]\n"
        "  tvm tasks create --package NAME --priority low|medium|high|critical [--distro D --release R]\n"
        "                   [--group ID] [--due YYYY-MM-DD] [--notes TEXT] [--json]   (security_admin)\n"
        "  tvm tasks show ID [--json]\n"
        "  tvm tasks accept|complete ID [--json]                          (it_admin)\n"
        "  tvm tasks reject ID --reason TEXT [--json]                     (it_admin)\n"
        "  tvm import FILE|DIR [--feed osv|debian-tracker] [--origin NAME] [--json]   (security_admin)\n";

static int usage_error(const char *msg)
{
        return cli_usage_error(cli_tvm_usage, msg);
}

/* Sets the number at key of each value as text, for the table. */
static void numbers_as_text(json_t *resp, const char *const *keys, size_t n)
{
        size_t i;
        json_t *v;

        json_array_foreach(json_object_get(resp, "value"), i, v) {
                for (size_t k = 0; k < n; k++) {
                        json_t *x = json_object_get(v, keys[k]);
                        char num[32];

                        if (json_is_integer(x))
                                snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(x));
                        else if (json_is_real(x))
                                snprintf(num, sizeof(num), "%.1f", json_real_value(x));
                        else if (json_is_boolean(x))
                                snprintf(num, sizeof(num), "%s", json_is_true(x) ? "yes" : "no");
                        else
                                continue;
                        json_object_set_new(v, keys[k], json_string(num));
                }
        }
}

/* Options that become query arguments of the same name, and --json:
 * the path of the GET on base in path. Returns 0, 2 on a usage error. */
static int query_get(struct cli *c, int argc, char **argv, int first, const char *base,
                     const char *const *options, size_t n, char *path, size_t size)
{
        struct option opts[10];
        const char *vals[9] = { 0 };
        int opt;

        for (size_t i = 0; i < n; i++)
                opts[i] = (struct option){ options[i], required_argument, NULL, (int)i };
        opts[n] = (struct option){ "json", no_argument, NULL, 'j' };
        opts[n + 1] = (struct option){ 0 };
        optind = first;
        while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (opt == 'j')
                        c->json = true;
                else if (opt >= 0 && (size_t)opt < n)
                        vals[opt] = optarg;
                else
                        return usage_error(NULL);
        }
        if (optind != argc)
                return usage_error(NULL);
        return cli_query_build(path, size, base, options, vals, n) < 0 ? 2 : 0;
}

static void more_print(const struct cli *c, const json_t *resp, const char *what)
{
        if (!c->json && json_is_integer(json_object_get(resp, "next_offset")))
                printf("(%lld %s in all; more with --offset %lld)\n",
                       (long long)json_integer_value(json_object_get(resp, "count")), what,
                       (long long)json_integer_value(json_object_get(resp, "next_offset")));
}

/* A listing: the options as query arguments of a GET on base, the
 * numbers at numbers[] set as text for the table, the table of cols (keys)
 * or the JSON, and how to get more. Returns 0, 1 on a failed call, 2 on a
 * usage error. */
static int list_get(struct cli *c, int argc, char **argv, int first, const char *base, const char *const *options,
                    size_t nopt, const char *const *cols, const char *const *keys, size_t ncols,
                    const char *const *numbers, size_t nnum, const char *what)
{
        char path[1024];
        json_t *resp;
        int r = query_get(c, argc, argv, first, base, options, nopt, path, sizeof(path));

        if (r)
                return r;
        if (cli_call(c, "GET", path, NULL, 200, &resp))
                return 1;
        if (!c->json)
                numbers_as_text(resp, numbers, nnum);
        cli_print_values(c, resp, cols, keys, ncols);
        more_print(c, resp, what);
        json_decref(resp);
        return 0;
}

static int tvm_vulns(struct cli *c, int argc, char **argv)
{
        static const char *const options[] = { "device", "cve", "severity", "limit", "offset" };
        static const char *const cols[] = { "DEVICE", "CVE", "PACKAGE", "INSTALLED", "FIXED", "RATING", "CVSS",
                                            "EXPLOIT" };
        static const char *const keys[] = { "device_id", "cve", "package", "installed_version", "fixed_version",
                                            "rating", "cvss", "exploit_known" };
        static const char *const numbers[] = { "cvss", "exploit_known" };

        return list_get(c, argc, argv, 1, "/api/v1/tvm/vulnerabilities", options, 5, cols, keys,
                        sizeof(cols) / sizeof(cols[0]), numbers, 2, "vulnerabilities");
}

static int tvm_recommendations(struct cli *c, int argc, char **argv)
{
        static const char *const options[] = { "package" };
        char path[512];
        json_t *resp, *v;
        size_t i;
        int r = query_get(c, argc, argv, 1, "/api/v1/tvm/recommendations", options, 1, path, sizeof(path));

        if (r)
                return r;
        if (cli_call(c, "GET", path, NULL, 200, &resp))
                return 1;
        if (c->json)
                cli_print_json(resp);
        else
                json_array_foreach(json_object_get(resp, "value"), i, v)
                        printf("%s\n", cli_str(v, "text"));
        json_decref(resp);
        return 0;
}

static void task_print(const struct cli *c, const json_t *t)
{
        static const char *const keys[] = { "id", "package", "distro", "release", "fixed_version", "group_id",
                                            "priority", "due_date",
                                            "status", "reason", "notes", "created_at", "created_by", "updated_at",
                                            "updated_by" };
        const json_t *v;
        size_t i;

        if (c->json) {
                cli_print_json(t);
                return;
        }
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
                printf("%-16s %s\n", keys[k], cli_str(t, keys[k]));
        printf("%-16s %lld\n", "still_vulnerable", (long long)json_integer_value(json_object_get(t, "still_vulnerable")));
        json_array_foreach(json_object_get(t, "devices_still_vulnerable"), i, v)
                printf("  %s (%zu CVEs)\n", cli_str(v, "device_id"), json_array_size(json_object_get(v, "cves")));
        json_array_foreach(json_object_get(t, "history"), i, v)
                printf("%s  %-9s by %s%s%s\n", cli_str(v, "at"), cli_str(v, "action"), cli_str(v, "by"),
                       *json_string_value(json_object_get(v, "reason")) ? ": " : "", json_string_value(json_object_get(v, "reason")));
}

/* Calls method path with body (may be NULL) and prints the task answered
 * with status. Returns 0, or 1 on a failed call. */
static int task_call(struct cli *c, const char *method, const char *path, json_t *body, long status)
{
        json_t *resp;

        if (cli_call(c, method, path, body, status, &resp))
                return 1;
        task_print(c, resp);
        json_decref(resp);
        return 0;
}

static int tasks_list(struct cli *c, int argc, char **argv)
{
        static const char *const options[] = { "status", "limit", "offset" };
        static const char *const cols[] = { "ID", "PACKAGE", "VERSION", "PRIORITY", "DUE", "STATUS", "LEFT" };
        static const char *const keys[] = { "id", "package", "fixed_version", "priority", "due_date", "status",
                                            "still_vulnerable" };
        static const char *const numbers[] = { "still_vulnerable" };

        return list_get(c, argc, argv, 2, "/api/v1/tvm/tasks", options, 3, cols, keys,
                        sizeof(cols) / sizeof(cols[0]), numbers, 1, "tasks");
}

static int tasks_create(struct cli *c, int argc, char **argv)
{
        static const struct cli_body_opt opts[] = {
                { "package", CLI_OPT_ARG, "package", NULL }, { "priority", CLI_OPT_ARG, "priority", NULL },
                { "group", CLI_OPT_ARG, "group_id", NULL }, { "due", CLI_OPT_ARG, "due_date", NULL },
                { "notes", CLI_OPT_ARG, "notes", NULL }, { "distro", CLI_OPT_ARG, "distro", NULL },
                { "release", CLI_OPT_ARG, "release", NULL } };
        json_t *body = json_object();
        int r = cli_body_options(c, argc, argv, 2, opts, sizeof(opts) / sizeof(opts[0]), body);

        if (r)
                goto out;
        if (optind != argc || !json_object_get(body, "package") || !json_object_get(body, "priority")) {
                r = usage_error("give --package and --priority");
                goto out;
        }
        r = task_call(c, "POST", "/api/v1/tvm/tasks", body, 201);
out:
        json_decref(body);
        return r;
}

/* show, accept, reject, complete: ID first. */
static int tasks_one(struct cli *c, const char *verb, int argc, char **argv)
{
        static const struct cli_body_opt opts[] = { { "reason", CLI_OPT_ARG, "reason", NULL } };
        bool show = strcmp(verb, "show") == 0, reject = strcmp(verb, "reject") == 0;
        json_t *body = json_object();
        char path[256];
        int r;

        if (argc < 3 || !cli_valid_id(argv[2])) {
                r = usage_error(argc < 3 ? "give the task's ID" : NULL);
                goto out;
        }
        r = cli_body_options(c, argc, argv, 3, opts, reject ? 1 : 0, body);
        if (r)
                goto out;
        if (optind != argc || (reject && !json_object_get(body, "reason"))) {
                r = usage_error(reject ? "give --reason" : NULL);
                goto out;
        }
        if (show) {
                snprintf(path, sizeof(path), "/api/v1/tvm/tasks/%s", argv[2]);
                r = task_call(c, "GET", path, NULL, 200);
        } else {
                snprintf(path, sizeof(path), "/api/v1/tvm/tasks/%s/%s", argv[2], verb);
                r = task_call(c, "POST", path, json_object_size(body) ? body : NULL, 200);
        }
out:
        json_decref(body);
        return r;
}

static int tvm_tasks(struct cli *c, int argc, char **argv)
{
        const char *verb = argc > 1 ? argv[1] : "";

        if (strcmp(verb, "list") == 0)
                return tasks_list(c, argc, argv);
        if (strcmp(verb, "create") == 0)
                return tasks_create(c, argc, argv);
        if (strcmp(verb, "show") == 0 || strcmp(verb, "accept") == 0 || strcmp(verb, "reject") == 0 ||
            strcmp(verb, "complete") == 0)
                return tasks_one(c, verb, argc, argv);
        return usage_error(*verb ? "unknown tasks command" : "give a tasks command");
}

int cli_tvm(struct cli *c, int argc, char **argv)
{
        const char *verb = argc > 0 ? argv[0] : "";

        if (strcmp(verb, "vulns") == 0)
                return tvm_vulns(c, argc, argv);
        if (strcmp(verb, "recommendations") == 0)
                return tvm_recommendations(c, argc, argv);
        if (strcmp(verb, "tasks") == 0)
                return tvm_tasks(c, argc, argv);
        if (strcmp(verb, "import") == 0)
                return cli_tvm_import(c, argc, argv);
        return usage_error(*verb ? "unknown tvm command" : "give a tvm command");
}
