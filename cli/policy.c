/* policy: 'vigil policy ...' (compliance policies: apply a JSON document
 * idempotently, list, show, delete), 'vigil compliance ...' (the report and
 * the tenant settings) and 'vigil devices compliance ID'. The documents and
 * their meaning are in docs/COMPLIANCE.md. */
#include <getopt.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/strutil.h"

#define DOCUMENT_MAX (64 * 1024)        /* as the server's COMPLIANCE_DOCUMENT_MAX */

const char cli_policy_usage[] =
        "  policy apply -f FILE.json   (creates, updates or leaves unchanged the policy of that name)\n"
        "  policy list [--json]\n"
        "  policy show ID [--json]\n"
        "  policy delete ID\n";

const char cli_compliance_usage[] =
        "  compliance report [--state S] [--limit N] [--offset N] [--json]\n"
        "  compliance settings [--no-policy-state compliant|noncompliant] [--validity-days N]\n"
        "                      [--sensor-timeout-seconds N] [--json]\n"
        "  devices compliance ID [--json]\n";

static int policy_apply(struct cli *c, int argc, char **argv)
{
        const char *file = NULL;
        json_t *doc, *resp = NULL;
        int opt, r;

        optind = 1;
        while ((opt = getopt(argc, argv, "f:")) != -1) {
                if (opt != 'f')
                        return cli_usage_error(cli_policy_usage, NULL);
                file = optarg;
        }
        if (!file || optind != argc)
                return cli_usage_error(cli_policy_usage, "policy apply needs -f FILE.json");
        doc = cli_json_file_read(file, DOCUMENT_MAX, "a policy document");
        if (!doc)
                return 1;
        if (cli_connect(c)) {
                json_decref(doc);
                return 1;
        }
        r = cli_call_any(c, "POST", "/api/v1/compliance-policies/apply", doc, 200, 201, &resp);
        json_decref(doc);
        if (r)
                return 1;
        if (c->json)
                cli_print_json(resp);
        else
                printf("%s: policy '%s' (%s), version %lld\n", cli_str(resp, "result"), cli_str(resp, "name"),
                       cli_str(resp, "id"), (long long)json_integer_value(json_object_get(resp, "version")));
        json_decref(resp);
        return 0;
}

static int policy_list(struct cli *c, int argc, char **argv)
{
        static const char *const cols[] = { "ID", "NAME", "VERSION", "UPDATED", "BY" };
        static const char *const keys[] = { "id", "name", "version", "updated_at", "updated_by" };
        json_t *resp = NULL;

        if (!cli_json_flag(c, argc, argv, 1))
                return cli_usage_error(cli_policy_usage, NULL);
        if (cli_call(c, "GET", "/api/v1/compliance-policies?limit=200", NULL, 200, &resp))
                return 1;
        cli_print_values(c, resp, cols, keys, sizeof(cols) / sizeof(cols[0]));
        json_decref(resp);
        return 0;
}

static int policy_show(struct cli *c, int argc, char **argv)
{
        char path[128];
        json_t *resp = NULL;

        if (argc < 2 || !cli_json_flag(c, argc, argv, 2))
                return cli_usage_error(cli_policy_usage, NULL);
        if (!cli_valid_id(argv[1]))
                return 2;
        snprintf(path, sizeof(path), "/api/v1/compliance-policies/%s", argv[1]);
        if (cli_call(c, "GET", path, NULL, 200, &resp))
                return 1;
        cli_print_json(resp);
        json_decref(resp);
        return 0;
}

static int policy_delete(struct cli *c, int argc, char **argv)
{
        char path[128];
        json_t *resp = NULL;

        if (argc != 2)
                return cli_usage_error(cli_policy_usage, NULL);
        if (!cli_valid_id(argv[1]))
                return 2;
        snprintf(path, sizeof(path), "/api/v1/compliance-policies/%s", argv[1]);
        if (cli_call(c, "DELETE", path, NULL, 200, &resp))
                return 1;
        printf("deleted: policy '%s' (%s)\n", cli_str(resp, "name"), argv[1]);
        json_decref(resp);
        return 0;
}

int cli_policy(struct cli *c, int argc, char **argv)
{
        if (strcmp(argv[0], "apply") == 0)
                return policy_apply(c, argc, argv);
        if (strcmp(argv[0], "list") == 0)
                return policy_list(c, argc, argv);
        if (strcmp(argv[0], "show") == 0)
                return policy_show(c, argc, argv);
        if (strcmp(argv[0], "delete") == 0)
                return policy_delete(c, argc, argv);
        return cli_usage_error(cli_policy_usage, "unknown policy command");
}

/* Prints a device's compliance: its state, then each policy's settings. */
static void device_compliance_print(const json_t *j)
{
        size_t i, k;
        json_t *p, *s;

        printf("device:  %s\n", cli_str(j, "device_id"));
        printf("state:   %s (since %s)\n", cli_str(j, "state"), cli_str(j, "since"));
        printf("reason:  %s\n", cli_str(j, "reason"));
        json_array_foreach(json_object_get(j, "policies"), i, p) {
                printf("\npolicy '%s': %s\n", cli_str(p, "policy"), cli_str(p, "state"));
                json_array_foreach(json_object_get(p, "settings"), k, s)
                        printf("  %-26s %-15s %-16s %s\n", cli_str(s, "setting"), cli_str(s, "state"),
                               cli_str(s, "observed"), cli_str(s, "reason"));
        }
}

int cli_devices_compliance(struct cli *c, int argc, char **argv)
{
        char path[128];
        json_t *resp = NULL;

        if (argc < 2 || !cli_json_flag(c, argc, argv, 2))
                return cli_usage_error(cli_compliance_usage, NULL);
        if (!cli_valid_id(argv[1]))
                return 2;
        snprintf(path, sizeof(path), "/api/v1/devices/%s/compliance", argv[1]);
        if (cli_call(c, "GET", path, NULL, 200, &resp))
                return 1;
        if (c->json)
                cli_print_json(resp);
        else
                device_compliance_print(resp);
        json_decref(resp);
        return 0;
}

static int compliance_report(struct cli *c, int argc, char **argv)
{
        static const struct option opts[] = { { "state", required_argument, NULL, 's' },
                                              { "limit", required_argument, NULL, 'l' },
                                              { "offset", required_argument, NULL, 'o' },
                                              { "json", no_argument, NULL, 'j' }, { 0 } };
        static const char *const cols[] = { "DEVICE", "STATE", "SINCE", "SETTING", "REASON" };
        static const char *const keys[] = { "device_id", "state", "since", "setting", "reason" };
        static const char *const names[] = { "state", "limit", "offset" };
        const char *vals[3] = { NULL, NULL, NULL };
        char path[512];
        json_t *resp = NULL, *p;
        const char *k;
        json_t *v;
        size_t i;
        int opt;

        optind = 1;
        while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (opt == 's')
                        vals[0] = optarg;
                else if (opt == 'l')
                        vals[1] = optarg;
                else if (opt == 'o')
                        vals[2] = optarg;
                else if (opt == 'j')
                        c->json = true;
                else
                        return cli_usage_error(cli_compliance_usage, NULL);
        }
        if (optind != argc)
                return cli_usage_error(cli_compliance_usage, NULL);
        if (cli_query_build(path, sizeof(path), "/api/v1/compliance/report", names, vals, 3) < 0)
                return 2;
        if (cli_call(c, "GET", path, NULL, 200, &resp))
                return 1;
        if (c->json) {
                cli_print_json(resp);
                json_decref(resp);
                return 0;
        }
        printf("devices:");
        json_object_foreach(json_object_get(resp, "devices"), k, v)
                printf(" %s %lld", k, (long long)json_integer_value(v));
        printf("\n");
        json_array_foreach(json_object_get(resp, "policies"), i, p) {
                printf("policy '%s' (%s):", cli_str(p, "name"), cli_str(p, "id"));
                json_object_foreach(json_object_get(p, "counts"), k, v)
                        printf(" %s %lld", k, (long long)json_integer_value(v));
                printf("\n");
        }
        printf("\n");
        cli_print_values(c, resp, cols, keys, sizeof(cols) / sizeof(cols[0]));
        json_decref(resp);
        return 0;
}

static int compliance_settings(struct cli *c, int argc, char **argv)
{
        static const struct option opts[] = { { "no-policy-state", required_argument, NULL, 'n' },
                                              { "validity-days", required_argument, NULL, 'v' },
                                              { "sensor-timeout-seconds", required_argument, NULL, 't' },
                                              { "json", no_argument, NULL, 'j' }, { 0 } };
        json_t *body = json_object(), *resp = NULL;
        uint64_t n;
        int opt, r;

        optind = 1;
        while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (opt == 'n') {
                        json_object_set_new(body, "no_policy_state", json_string(optarg));
                } else if (opt == 'v' || opt == 't') {
                        if (util_uint_parse(optarg, 1000000, &n) < 0) {
                                json_decref(body);
                                return cli_usage_error(cli_compliance_usage, "a whole number is needed");
                        }
                        json_object_set_new(body, opt == 'v' ? "validity_days" : "sensor_timeout_seconds",
                                            json_integer((json_int_t)n));
                } else if (opt == 'j') {
                        c->json = true;
                } else {
                        json_decref(body);
                        return cli_usage_error(cli_compliance_usage, NULL);
                }
        }
        if (optind != argc) {
                json_decref(body);
                return cli_usage_error(cli_compliance_usage, NULL);
        }
        r = json_object_size(body) ? cli_call(c, "PATCH", "/api/v1/compliance/settings", body, 200, &resp)
                                   : cli_call(c, "GET", "/api/v1/compliance/settings", NULL, 200, &resp);
        json_decref(body);
        if (r)
                return 1;
        if (c->json) {
                cli_print_json(resp);
        } else {
                printf("no_policy_state:        %s\n", cli_str(resp, "no_policy_state"));
                printf("validity_days:          %lld\n",
                       (long long)json_integer_value(json_object_get(resp, "validity_days")));
                printf("sensor_timeout_seconds: %lld\n",
                       (long long)json_integer_value(json_object_get(resp, "sensor_timeout_seconds")));
        }
        json_decref(resp);
        return 0;
}

int cli_compliance(struct cli *c, int argc, char **argv)
{
        if (strcmp(argv[0], "report") == 0)
                return compliance_report(c, argc, argv);
        if (strcmp(argv[0], "settings") == 0)
                return compliance_settings(c, argc, argv);
        return cli_usage_error(cli_compliance_usage, "unknown compliance command");
}
