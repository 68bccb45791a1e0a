/* webhooks: 'vigil webhooks ...', the outgoing webhooks of vigild
 * (docs/WEBHOOKS.md): list, create, show, delete, test and the delivery log. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/strutil.h"

#define CA_FILE_MAX (64 * 1024)

const char cli_webhooks_usage[] =
        "  webhooks list [--json]\n"
        "  webhooks create --name NAME --url URL --event EVENT [--event EVENT]... [--ca FILE]\n"
        "                  [--secret SECRET] [--disabled]\n"
        "  webhooks show|delete|test ID\n"
        "  webhooks deliveries ID [--status pending|delivered|failed] [--limit N] [--offset N] [--json]\n";

static int usage_error(const char *msg)
{
        return cli_usage_error(cli_webhooks_usage, msg);
}

static bool id_ok(const char *id)
{
        if (!util_str_printable(id, 64) || strpbrk(id, "/?#%& ") != NULL) {
                fprintf(stderr, "vigil: '%s' is not a webhook id\n", id);
                return false;
        }
        return true;
}

/* The JSON values the table shows as text: events joined, numbers, booleans. */
static void webhook_texts(json_t *w)
{
        json_t *counts = json_object_get(w, "deliveries"), *e;
        char events[512] = "", num[24];
        size_t i, n = 0;

        json_array_foreach(json_object_get(w, "events"), i, e)
                n += (size_t)snprintf(events + n, n < sizeof(events) ? sizeof(events) - n : 0, "%s%s",
                                      i ? "," : "", json_string_value(e));
        json_object_set_new(w, "events_text", json_string(events));
        json_object_set_new(w, "enabled_text", json_string(json_is_true(json_object_get(w, "enabled")) ? "yes" : "no"));
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(json_object_get(counts, "pending")));
        json_object_set_new(w, "pending_text", json_string(num));
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(json_object_get(counts, "failed")));
        json_object_set_new(w, "failed_text", json_string(num));
}

static int webhooks_list(struct cli *c, int argc, char **argv)
{
        static const char *const cols[] = { "ID", "NAME", "ENABLED", "EVENTS", "PENDING", "FAILED", "URL" };
        static const char *const keys[] = { "id", "name", "enabled_text", "events_text", "pending_text",
                                            "failed_text", "url" };
        json_t *resp, *w;
        size_t i;

        if (argc > 2 || (argc == 2 && strcmp(argv[1], "--json") != 0))
                return usage_error(NULL);
        if (argc == 2)
                c->json = true;
        if (cli_call(c, "GET", "/api/v1/webhooks", NULL, 200, &resp))
                return 1;
        if (!c->json)
                json_array_foreach(json_object_get(resp, "value"), i, w)
                        webhook_texts(w);
        cli_print_values(c, resp, cols, keys, sizeof(cols) / sizeof(cols[0]));
        json_decref(resp);
        return 0;
}

static void webhook_print(json_t *w)
{
        static const char *const keys[] = { "id", "name", "url", "events_text", "enabled_text", "created_at",
                                            "created_by", "updated_at", "pending_text", "failed_text" };
        static const char *const labels[] = { "id", "name", "url", "events", "enabled", "created_at",
                                              "created_by", "updated_at", "pending", "failed" };
        json_t *ca = json_object_get(w, "ca");

        webhook_texts(w);
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                printf("%-12s %s\n", labels[i], cli_str(w, keys[i]));
        if (json_is_object(ca))
                printf("%-12s %s (sha256 %s, until %s)\n", "ca", cli_str(ca, "subject_cn"),
                       cli_str(ca, "fingerprint_sha256"), cli_str(ca, "not_after"));
        else
                printf("%-12s the system trust store\n", "ca");
}

/* Reads the --ca file into the body as ca_pem. Returns 0, or 1 after saying why. */
static int ca_read(json_t *body, const char *path)
{
        char *text;
        size_t len;
        int r;

        r = util_file_read(path, CA_FILE_MAX, &text, &len);
        if (r < 0) {
                fprintf(stderr, "vigil: cannot read the CA file '%s': %s\n", path,
                        r == -E2BIG ? "larger than 64 KiB" : strerror(-r));
                return 1;
        }
        json_object_set_new(body, "ca_pem", json_stringn(text, len));
        free(text);
        return json_is_string(json_object_get(body, "ca_pem")) ? 0 : 1;
}

static int webhooks_create(struct cli *c, int argc, char **argv)
{
        static const struct option opts[] = {
                { "name", required_argument, NULL, 'n' }, { "url", required_argument, NULL, 'u' },
                { "event", required_argument, NULL, 'e' }, { "ca", required_argument, NULL, 'c' },
                { "secret", required_argument, NULL, 's' }, { "disabled", no_argument, NULL, 'd' },
                { "json", no_argument, NULL, 'j' }, { 0 } };
        json_t *body = json_object(), *events = json_array(), *resp = NULL;
        const char *ca = NULL;
        int opt, r = 2;

        optind = 1;
        while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (opt) {
                case 'n': json_object_set_new(body, "name", json_string(optarg)); break;
                case 'u': json_object_set_new(body, "url", json_string(optarg)); break;
                case 'e': json_array_append_new(events, json_string(optarg)); break;
                case 'c': ca = optarg; break;
                case 's': json_object_set_new(body, "secret", json_string(optarg)); break;
                case 'd': json_object_set_new(body, "enabled", json_false()); break;
                case 'j': c->json = true; break;
                default: goto out;
                }
        }
        if (!json_object_get(body, "name") || !json_object_get(body, "url") || !json_array_size(events) ||
            optind != argc) {
                r = usage_error("webhooks create needs --name, --url and at least one --event (valid UTF-8)");
                goto out;
        }
        json_object_set(body, "events", events);
        r = 1;
        if ((ca && ca_read(body, ca)) || cli_call(c, "POST", "/api/v1/webhooks", body, 201, &resp))
                goto out;
        if (c->json) {
                cli_print_json(resp);
        } else {
                printf("webhook %s created ('%s'); its signing secret is shown only once:\n", cli_str(resp, "id"),
                       cli_str(resp, "name"));
                printf("secret %s\n", cli_str(resp, "secret"));
        }
        r = 0;
out:
        json_decref(resp);
        json_decref(events);
        json_decref(body);
        return r;
}

/* show, delete and test: one id, one request. */
static int webhooks_one(struct cli *c, const char *verb, int argc, char **argv)
{
        bool show = strcmp(verb, "show") == 0, del = strcmp(verb, "delete") == 0;
        char path[160];
        json_t *resp;

        if (argc != 2 || !id_ok(argv[1]))
                return usage_error(NULL);
        snprintf(path, sizeof(path), "/api/v1/webhooks/%s%s", argv[1], show || del ? "" : "/test");
        if (cli_call(c, show ? "GET" : del ? "DELETE" : "POST", path, NULL, show || del ? 200 : 202, &resp))
                return 1;
        if (c->json)
                cli_print_json(resp);
        else if (show)
                webhook_print(resp);
        else if (del)
                printf("webhook %s deleted, with its delivery log\n", argv[1]);
        else
                printf("ping queued for webhook %s: delivery %s (see 'vigil webhooks deliveries %s')\n", argv[1],
                       cli_str(resp, "delivery_id"), argv[1]);
        json_decref(resp);
        return 0;
}

/* The log rows' numbers as text for the table. */
static void delivery_texts(json_t *v)
{
        json_t *st = json_object_get(v, "last_http_status");
        char num[24];

        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(json_object_get(v, "attempts")));
        json_object_set_new(v, "attempts_text", json_string(num));
        if (json_is_integer(st)) {
                snprintf(num, sizeof(num), "HTTP %lld", (long long)json_integer_value(st));
                json_object_set_new(v, "result_text", json_string(num));
        } else {
                json_object_set(v, "result_text", json_object_get(v, "last_error"));
        }
}

static int webhooks_deliveries(struct cli *c, int argc, char **argv)
{
        static const char *const cols[] = { "ID", "EVENT", "STATUS", "ATTEMPTS", "LAST RESULT", "CREATED",
                                            "LAST ATTEMPT", "NEXT ATTEMPT" };
        static const char *const keys[] = { "id", "event_type", "status", "attempts_text", "result_text",
                                            "created_at", "last_attempt_at", "next_attempt_at" };
        static const struct option opts[] = {
                { "status", required_argument, NULL, 's' }, { "limit", required_argument, NULL, 'l' },
                { "offset", required_argument, NULL, 'o' }, { "json", no_argument, NULL, 'j' }, { 0 } };
        const char *status = NULL, *id;
        uint64_t limit = 100, offset = 0;
        char path[256];
        json_t *resp, *v;
        size_t i;
        int opt;

        if (argc < 2 || argv[1][0] == '-' || !id_ok(argv[1]))
                return usage_error(NULL);
        id = argv[1];
        optind = 2;
        while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (opt == 's')
                        status = optarg;
                else if (opt == 'l' && util_uint_parse(optarg, 500, &limit) == 0 && limit > 0)
                        continue;
                else if (opt == 'o' && util_uint_parse(optarg, INT32_MAX, &offset) == 0)
                        continue;
                else if (opt == 'j')
                        c->json = true;
                else
                        return usage_error("--limit must be 1 to 500 and --offset an integer of at least 0");
        }
        if (status && strcmp(status, "pending") != 0 && strcmp(status, "delivered") != 0 &&
            strcmp(status, "failed") != 0)
                return usage_error("--status must be pending, delivered or failed");
        snprintf(path, sizeof(path), "/api/v1/webhooks/%s/deliveries?limit=%llu&offset=%llu%s%s", id,
                 (unsigned long long)limit, (unsigned long long)offset, status ? "&status=" : "",
                 status ? status : "");
        if (cli_call(c, "GET", path, NULL, 200, &resp))
                return 1;
        if (!c->json)
                json_array_foreach(json_object_get(resp, "value"), i, v)
                        delivery_texts(v);
        cli_print_values(c, resp, cols, keys, sizeof(cols) / sizeof(cols[0]));
        if (!c->json && json_is_integer(json_object_get(resp, "next_offset")))
                printf("(%lld deliveries in all; more with --offset %lld)\n",
                       (long long)json_integer_value(json_object_get(resp, "count")),
                       (long long)json_integer_value(json_object_get(resp, "next_offset")));
        json_decref(resp);
        return 0;
}

int cli_webhooks(struct cli *c, int argc, char **argv)
{
        const char *verb = argv[0];

        if (strcmp(verb, "list") == 0)
                return webhooks_list(c, argc, argv);
        if (strcmp(verb, "create") == 0)
                return webhooks_create(c, argc, argv);
        if (strcmp(verb, "show") == 0 || strcmp(verb, "delete") == 0 || strcmp(verb, "test") == 0)
                return webhooks_one(c, verb, argc, argv);
        if (strcmp(verb, "deliveries") == 0)
                return webhooks_deliveries(c, argc, argv);
        fprintf(stderr, "vigil: unknown command 'webhooks %s'\n", verb);
        return usage_error(NULL);
}
