/* access: 'vigil access ...', conditional access (docs/ACCESS.md): the
 * policies and named locations (list, show, delete, and apply a bundle of
 * them from a file), their audit, the access log and what-if. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/table.h"

#define BUNDLE_MAX (8 << 20)            /* as the server's ACCESS_APPLY_BODY_MAX */
#define QUERY_VALUE_MAX 320             /* bytes of one query value (a UPN is at most 320) */
#define PATH_MAX_LEN 4096

const char cli_access_usage[] =
        "  access policies list [--json]   (in evaluation order)\n"
        "  access policies show ID [--json]\n"
        "  access policies delete ID\n"
        "  access locations list [--json]\n"
        "  access locations show ID [--json]\n"
        "  access locations delete ID\n"
        "  access apply -f FILE.json [--json]   (a bundle of locations and policies, or one policy)\n"
        "  access audit [--kind policy|location] [--object ID] [--limit N] [--offset N] [--json]\n"
        "  access log [--user U] [--device D] [--app NAME] [--result allow|deny] [--status 200|401|403]\n"
        "             [--policy ID] [--since T] [--until T] [--limit N] [--offset N] [--policies applied|all]\n"
        "             [--json]\n"
        "  access whatif --app URL [--user U] [--device D] [--ip IP] [--method M] [--json]\n";

static int usage_error(const char *msg)
{
        return cli_usage_error(cli_access_usage, msg);
}

/* A JSON value as a table cell: strings as they are, integers in
 * decimal, true and false, "-" for anything else. */
static const char *cell(const json_t *v, char *buf, size_t size)
{
        if (json_is_string(v))
                return json_string_value(v);
        if (json_is_integer(v)) {
                snprintf(buf, size, "%lld", (long long)json_integer_value(v));
                return buf;
        }
        if (json_is_boolean(v))
                return json_is_true(v) ? "yes" : "no";
        return "-";
}

/* Appends "&name=value" (or "?name=value" first) to out, the value of
 * option --opt percent-encoded. Returns 0, or -1 after saying why. */
static int query_add(char *out, size_t size, size_t *len, const char *opt, const char *name, const char *value)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t n = strlen(value);

        if (n == 0 || n > QUERY_VALUE_MAX) {
                fprintf(stderr, "vigil: --%s must be 1 to %d bytes\n", opt, QUERY_VALUE_MAX);
                return -1;
        }
        *len += (size_t)snprintf(out + *len, *len < size ? size - *len : 0, "%c%s=", strchr(out, '?') ? '&' : '?',
                                 name);
        for (const char *p = value; *p && *len + 4 < size; p++) {
                unsigned char ch = (unsigned char)*p;

                if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                    strchr("-_.~", ch)) {
                        out[(*len)++] = (char)ch;
                } else {
                        out[(*len)++] = '%';
                        out[(*len)++] = hex[ch >> 4];
                        out[(*len)++] = hex[ch & 15];
                }
        }
        if (*len + 4 >= size) {
                fprintf(stderr, "vigil: arguments too long\n");
                return -1;
        }
        out[*len] = '\0';
        return 0;
}

/* ---- policies and locations ---- */

static void policies_print(const json_t *resp)
{
        static const char *const cols[] = { "POS", "ID", "NAME", "STATE", "UPDATED", "BY" };
        static const char *const keys[] = { "position", "id", "name", "state", "updated_at", "updated_by_name" };
        const char *row[6];
        char buf[6][32];
        struct table t;
        json_t *v;
        size_t i;

        table_init(&t, cols, 6);
        json_array_foreach(json_object_get(resp, "value"), i, v) {
                for (size_t k = 0; k < 6; k++)
                        row[k] = cell(json_object_get(v, keys[k]), buf[k], sizeof(buf[k]));
                table_add(&t, row);
        }
        table_print(&t, stdout);
        table_release(&t);
}

static void locations_print(const json_t *resp)
{
        static const char *const cols[] = { "ID", "TRUSTED", "RANGES", "UPDATED", "BY" };
        char ranges[256];
        const char *row[5];
        struct table t;
        json_t *v, *r;
        size_t i, k;

        table_init(&t, cols, 5);
        json_array_foreach(json_object_get(resp, "value"), i, v) {
                const json_t *doc = json_object_get(v, "location");
                size_t len = 0;

                ranges[0] = '\0';
                json_array_foreach(json_object_get(doc, "ranges"), k, r) {
                        if (len + 32 >= sizeof(ranges)) {
                                snprintf(ranges + len, sizeof(ranges) - len, " (%zu in all)",
                                         json_array_size(json_object_get(doc, "ranges")));
                                break;
                        }
                        len += (size_t)snprintf(ranges + len, sizeof(ranges) - len, "%s%s", k ? " " : "",
                                                json_string_value(r));
                }
                row[0] = cli_str(v, "id");
                row[1] = json_is_true(json_object_get(doc, "trusted")) ? "yes" : "no";
                row[2] = ranges;
                row[3] = cli_str(v, "updated_at");
                row[4] = cli_str(v, "updated_by_name");
                table_add(&t, row);
        }
        table_print(&t, stdout);
        table_release(&t);
}

/* 'access policies|locations list|show|delete'; what is "policies" or "locations". */
static int objects(struct cli *c, const char *what, int argc, char **argv)
{
        bool list = strcmp(argv[0], "list") == 0, show = strcmp(argv[0], "show") == 0;
        bool del = strcmp(argv[0], "delete") == 0;
        char path[256];
        json_t *resp = NULL;

        if (!list && !show && !del)
                return usage_error("the verbs are list, show and delete");
        if (list ? !cli_json_flag(c, argc, argv, 1) : argc < 2 || (del ? argc != 2 : !cli_json_flag(c, argc, argv, 2)))
                return usage_error(NULL);
        if (!list && !cli_valid_id(argv[1]))
                return 2;
        if (list)
                snprintf(path, sizeof(path), "/api/v1/access/%s?limit=%d", what,
                         strcmp(what, "policies") == 0 ? 1000 : 200);
        else
                snprintf(path, sizeof(path), "/api/v1/access/%s/%s", what, argv[1]);
        if (cli_call(c, list ? "GET" : show ? "GET" : "DELETE", path, NULL, 200, &resp))
                return 1;
        if (c->json || show)
                cli_print_json(resp);
        else if (del)
                printf("deleted: %s %s\n", strcmp(what, "policies") == 0 ? "policy" : "location", argv[1]);
        else if (strcmp(what, "policies") == 0)
                policies_print(resp);
        else
                locations_print(resp);
        json_decref(resp);
        return 0;
}

static int apply(struct cli *c, int argc, char **argv)
{
        static const struct option opts[] = { { "file", required_argument, NULL, 'f' },
                                              { "json", no_argument, NULL, 'j' }, { 0 } };
        const char *file = NULL;
        json_t *doc, *resp = NULL, *e;
        size_t i;
        int opt, r;

        optind = 1;
        while ((opt = getopt_long(argc, argv, "f:", opts, NULL)) != -1) {
                if (opt == 'f')
                        file = optarg;
                else if (opt == 'j')
                        c->json = true;
                else
                        return usage_error(NULL);
        }
        if (!file || optind != argc)
                return usage_error("access apply needs -f FILE.json");
        doc = cli_json_file_read(file, BUNDLE_MAX,
                                 "a bundle {\"locations\": [...], \"policies\": [...]} or a policy");
        if (!doc)
                return 1;
        r = cli_call(c, "POST", "/api/v1/access/apply", doc, 200, &resp);
        json_decref(doc);
        if (r)
                return 1;
        if (c->json) {
                cli_print_json(resp);
        } else {
                json_array_foreach(json_object_get(resp, "locations"), i, e)
                        printf("%s: location \"%s\"\n", cli_str(e, "result"), cli_str(e, "id"));
                json_array_foreach(json_object_get(resp, "policies"), i, e)
                        printf("%s: policy \"%s\" (%s)\n", cli_str(e, "result"), cli_str(e, "name"), cli_str(e, "id"));
        }
        json_decref(resp);
        return 0;
}

/* ---- audit and log ---- */

/* An option of a list command: --opt VALUE becomes the query's name=VALUE. */
struct query_opt {
        const char *opt, *name;
};

#define QUERY_OPTS_MAX 12

/* Reads the options opts (n, each with an argument) and --json from
 * argv[1..] into path: base and the query. Returns 0, or 2 after the
 * usage. */
static int query_options(struct cli *c, int argc, char **argv, const struct query_opt *q, size_t n, const char *base,
                         char *path, size_t size)
{
        struct option opts[QUERY_OPTS_MAX + 2];
        const char *vals[QUERY_OPTS_MAX] = { NULL };
        size_t len;
        int opt;

        if (n > QUERY_OPTS_MAX)
                return usage_error(NULL);
        for (size_t i = 0; i < n; i++)
                opts[i] = (struct option){ q[i].opt, required_argument, NULL, (int)i + 1 };
        opts[n] = (struct option){ "json", no_argument, NULL, 'j' };
        opts[n + 1] = (struct option){ 0 };
        optind = 1;
        while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (opt == 'j')
                        c->json = true;
                else if (opt >= 1 && opt <= (int)n)
                        vals[opt - 1] = optarg;
                else
                        return usage_error(NULL);
        }
        if (optind != argc)
                return usage_error(NULL);
        len = (size_t)snprintf(path, size, "%s", base);
        for (size_t i = 0; i < n; i++)
                if (vals[i] && query_add(path, size, &len, q[i].opt, q[i].name, vals[i]) < 0)
                        return 2;
        return 0;
}

/* 'access audit' and 'access log': the options q (n of them) and --json
 * into a query on base, then GET it. With --json the answer is printed and
 * *ret is NULL; else *ret is the answer to print as a table (the caller's
 * to json_decref()). Returns 0, or the exit code after saying why. */
static int query_get(struct cli *c, int argc, char **argv, const struct query_opt *q, size_t n, const char *base,
                     json_t **ret)
{
        char path[PATH_MAX_LEN];
        json_t *resp = NULL;
        int r;

        r = query_options(c, argc, argv, q, n, base, path, sizeof(path));
        if (r)
                return r;
        if (cli_call(c, "GET", path, NULL, 200, &resp))
                return 1;
        if (c->json) {
                cli_print_json(resp);
                json_decref(resp);
                resp = NULL;
        }
        *ret = resp;
        return 0;
}

static int audit(struct cli *c, int argc, char **argv)
{
        static const struct query_opt q[] = { { "kind", "kind" }, { "object", "object_id" }, { "limit", "limit" },
                                              { "offset", "offset" } };
        static const char *const cols[] = { "AT", "KIND", "OBJECT", "ACTION", "BY", "POSITION" };
        const char *row[6];
        json_t *resp = NULL, *v;
        struct table t;
        char pos[48];
        size_t i;
        int r;

        r = query_get(c, argc, argv, q, sizeof(q) / sizeof(q[0]), "/api/v1/access/audit", &resp);
        if (r || !resp)
                return r;
        table_init(&t, cols, 6);
        json_array_foreach(json_object_get(resp, "value"), i, v) {
                const json_t *a = json_object_get(v, "position_before"), *b = json_object_get(v, "position_after");

                if (json_is_integer(a) && json_is_integer(b) && json_integer_value(a) != json_integer_value(b))
                        snprintf(pos, sizeof(pos), "%lld -> %lld", (long long)json_integer_value(a),
                                 (long long)json_integer_value(b));
                else
                        snprintf(pos, sizeof(pos), "-");
                row[0] = cli_str(v, "at");
                row[1] = cli_str(v, "kind");
                row[2] = cli_str(v, "object_id");
                row[3] = cli_str(v, "action");
                row[4] = strcmp(cli_str(v, "by_name"), "") != 0 ? cli_str(v, "by_name") : cli_str(v, "by");
                row[5] = pos;
                table_add(&t, row);
        }
        table_print(&t, stdout);
        table_release(&t);
        json_decref(resp);
        return 0;
}

/* The access log's row: the deciding policy (the first that failed) or "-". */
static const char *deciding_policy(const json_t *v)
{
        const json_t *p;
        size_t i;

        json_array_foreach(json_object_get(v, "policies"), i, p)
                if (strcmp(cli_str(p, "result"), "failure") == 0)
                        return cli_str(p, "name");
        return "-";
}

static int log_list(struct cli *c, int argc, char **argv)
{
        static const struct query_opt q[] = { { "user", "user" }, { "device", "device" }, { "app", "app" },
                                              { "result", "result" }, { "status", "status" }, { "policy", "policy" },
                                              { "since", "since" }, { "until", "until" }, { "limit", "limit" },
                                              { "offset", "offset" }, { "policies", "policies" } };
        static const char *const cols[] = { "TIME", "STATUS", "METHOD", "HOST", "PATH", "USER", "DEVICE", "POLICY",
                                            "REASON" };
        const char *row[9];
        json_t *resp = NULL, *v;
        struct table t;
        char st[16];
        size_t i;
        int r;

        r = query_get(c, argc, argv, q, sizeof(q) / sizeof(q[0]), "/api/v1/access/log", &resp);
        if (r || !resp)
                return r;
        table_init(&t, cols, 9);
        json_array_foreach(json_object_get(resp, "value"), i, v) {
                row[0] = cli_str(v, "time");
                row[1] = cell(json_object_get(v, "status"), st, sizeof(st));
                row[2] = cli_str(v, "method");
                row[3] = cli_str(v, "host");
                row[4] = cli_str(v, "path");
                row[5] = cli_str(v, "user");
                row[6] = strcmp(cli_str(v, "device_name"), "-") != 0 ? cli_str(v, "device_name")
                                                                      : cli_str(v, "device_id");
                row[7] = deciding_policy(v);
                row[8] = cli_str(v, "reason");
                table_add(&t, row);
        }
        table_print(&t, stdout);
        table_release(&t);
        if (!json_is_null(json_object_get(resp, "next_offset")) && json_object_get(resp, "next_offset"))
                printf("(%lld in all; more with --offset %lld)\n",
                       (long long)json_integer_value(json_object_get(resp, "count")),
                       (long long)json_integer_value(json_object_get(resp, "next_offset")));
        if (json_integer_value(json_object_get(resp, "not_logged")) > 0)
                printf("(%lld decisions were not logged: the log could not keep up)\n",
                       (long long)json_integer_value(json_object_get(resp, "not_logged")));
        json_decref(resp);
        return 0;
}

/* ---- what-if ---- */

static void whatif_print(const json_t *resp)
{
        static const char *const cols[] = { "POLICY", "STATE", "RESULT", "CONTROL", "WHY" };
        const json_t *dev = json_object_get(resp, "device"), *user = json_object_get(resp, "user"), *p;
        const char *row[5];
        struct table t;
        size_t i;

        printf("decision: %lld\n", (long long)json_integer_value(json_object_get(resp, "status")));
        printf("reason:   %s\n", cli_str(resp, "reason"));
        printf("request:  %s%s\n", cli_str(resp, "host"), cli_str(resp, "path"));
        if (json_is_object(user) && json_is_string(json_object_get(user, "id")))
                printf("user:     %s (%s)%s\n", cli_str(user, "upn"), cli_str(user, "id"),
                       json_is_false(json_object_get(user, "enabled")) ? ", disabled" : "");
        else if (json_is_object(user))
                printf("user:     %s (not in the directory)\n", cli_str(user, "upn"));
        if (json_is_object(dev))
                printf("device:   %s (%s), %s%s\n", cli_str(dev, "name"), cli_str(dev, "id"),
                       cli_str(dev, "compliance_state"),
                       json_is_true(json_object_get(dev, "offboarded")) ? ", offboarded" : "");
        if (json_array_size(json_object_get(resp, "policies")) == 0) {
                printf("no policy applies\n");
                return;
        }
        printf("\n");
        table_init(&t, cols, 5);
        json_array_foreach(json_object_get(resp, "policies"), i, p) {
                row[0] = cli_str(p, "name");
                row[1] = cli_str(p, "state");
                row[2] = cli_str(p, "result");
                row[3] = cli_str(p, "control");
                row[4] = cli_str(p, "why");
                table_add(&t, row);
        }
        table_print(&t, stdout);
        table_release(&t);
}

static int whatif(struct cli *c, int argc, char **argv)
{
        static const struct cli_body_opt opts[] = {
                { "user", CLI_OPT_ARG, "user", NULL }, { "device", CLI_OPT_ARG, "device", NULL },
                { "app", CLI_OPT_ARG, "url", NULL }, { "ip", CLI_OPT_ARG, "ip", NULL },
                { "method", CLI_OPT_ARG, "method", NULL },
        };
        json_t *body = json_object(), *resp = NULL;
        int r;

        if (cli_body_options(c, argc, argv, 1, opts, sizeof(opts) / sizeof(opts[0]), body) != 0 || optind != argc) {
                json_decref(body);
                return usage_error(NULL);
        }
        if (!json_object_get(body, "url")) {
                json_decref(body);
                return usage_error("access whatif needs --app URL (https://host/path)");
        }
        r = cli_call(c, "POST", "/api/v1/access/whatif", body, 200, &resp);
        json_decref(body);
        if (r)
                return 1;
        if (c->json)
                cli_print_json(resp);
        else
                whatif_print(resp);
        json_decref(resp);
        return 0;
}

int cli_access(struct cli *c, int argc, char **argv)
{
        if ((strcmp(argv[0], "policies") == 0 || strcmp(argv[0], "locations") == 0) && argc > 1)
                return objects(c, argv[0], argc - 1, argv + 1);
        if (strcmp(argv[0], "apply") == 0)
                return apply(c, argc, argv);
        if (strcmp(argv[0], "audit") == 0)
                return audit(c, argc, argv);
        if (strcmp(argv[0], "log") == 0)
                return log_list(c, argc, argv);
        if (strcmp(argv[0], "whatif") == 0)
                return whatif(c, argc, argv);
        return usage_error("unknown access command");
}
