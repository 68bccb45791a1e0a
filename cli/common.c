/* common: what every command of the CLI shares (see cli.h). */
#include "cli/cli.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/table.h"
#include "httpc/httpc.h"
#include "util/strutil.h"

int cli_connect(struct cli *c)
{
        struct httpc_options o = { .ca_file = c->ca };

        if (!c->http && httpc_new(c->server, &o, &c->http) < 0) {
                fprintf(stderr, "vigil: the server must be an https:// URL (got '%s')\n", c->server);
                return 1;
        }
        return 0;
}

/* Sends a request; on success *ret holds the JSON body. Returns 0, or 1 after
 * printing the error. */
int cli_call(struct cli *c, const char *method, const char *path, json_t *body, long want,
                json_t **ret)
{
        return cli_call_any(c, method, path, body, want, want, ret);
}

int cli_call_any(struct cli *c, const char *method, const char *path, json_t *body, long want, long want2,
                 json_t **ret)
{
        char err[512], *text = NULL;
        json_t *resp = NULL;
        long status = 0;
        int r;

        if (cli_connect(c))
                return 1;
        if (body)
                text = json_dumps(body, JSON_COMPACT);
        r = httpc_request(c->http, method, path, c->token, text, text ? strlen(text) : 0,
                          &status, &resp, err, sizeof(err));
        free(text);
        if (r < 0) {
                fprintf(stderr, "vigil: cannot reach the server: %s\n", err);
                return 1;
        }
        if (status != want && status != want2) {
                fprintf(stderr, "vigil: %s (HTTP %ld)\n", httpc_error_message(resp, status), status);
                json_decref(resp);
                return 1;
        }
        *ret = resp;
        return 0;
}

void cli_print_json(const json_t *j)
{
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

        if (s)
                printf("%s\n", s);
        free(s);
}

const char *cli_str(const json_t *o, const char *key)
{
        const char *s = json_string_value(json_object_get(o, key));

        return s ? s : "-";
}

/* Prints resp's "value" array as a table of the given keys, or resp as JSON. */
void cli_print_values(const struct cli *c, const json_t *resp, const char *const *cols,
                         const char *const *keys, size_t n)
{
        const char *row[TABLE_COLS_MAX];
        struct table t;
        json_t *v;
        size_t i;

        if (c->json) {
                cli_print_json(resp);
                return;
        }
        table_init(&t, cols, n);
        json_array_foreach(json_object_get(resp, "value"), i, v) {
                for (size_t k = 0; k < n && k < TABLE_COLS_MAX; k++)
                        row[k] = cli_str(v, keys[k]);
                table_add(&t, row);
        }
        table_print(&t, stdout);
        table_release(&t);
}

int cli_usage_error(const char *usage, const char *msg)
{
        if (msg)
                fprintf(stderr, "vigil: %s\n", msg);
        fputs("usage:\n", stderr);
        fputs(usage, stderr);
        return 2;
}

bool cli_json_flag(struct cli *c, int argc, char **argv, int first)
{
        for (int i = first; i < argc; i++) {
                if (strcmp(argv[i], "--json") != 0)
                        return false;
                c->json = true;
        }
        return true;
}

int cli_body_options(struct cli *c, int argc, char **argv, int first, const struct cli_body_opt *opts, size_t n,
                     json_t *body)
{
        enum { JSON_OPT = 1, FIRST_OPT = 0x100 };
        struct option lo[CLI_BODY_OPTS_MAX + 2] = { { "json", no_argument, NULL, JSON_OPT } };
        int opt;

        assert(n <= CLI_BODY_OPTS_MAX);
        for (size_t i = 0; i < n; i++)
                lo[i + 1] = (struct option){ opts[i].name,
                                             opts[i].kind == CLI_OPT_ARG ? required_argument : no_argument, NULL,
                                             FIRST_OPT + (int)i };
        optind = first;
        while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
                const struct cli_body_opt *o = opt >= FIRST_OPT ? &opts[opt - FIRST_OPT] : NULL;

                if (opt == JSON_OPT)
                        c->json = true;
                else if (!o)
                        return 2;
                else
                        json_object_set_new(body, o->key, o->kind == CLI_OPT_ARG ? json_string(optarg)
                                                          : o->kind == CLI_OPT_TRUE ? json_true()
                                                          : o->kind == CLI_OPT_FALSE ? json_false()
                                                          : json_string(o->text));
        }
        return 0;
}

json_t *cli_json_file_read(const char *path, size_t max, const char *what)
{
        json_error_t e;
        json_t *doc;
        char *text;
        size_t len;
        int r;

        r = util_file_read(path, max, &text, &len);
        if (r == -E2BIG) {
                fprintf(stderr, "vigil: '%s': %s is at most %zu bytes\n", path, what, max);
                return NULL;
        }
        if (r < 0) {
                fprintf(stderr, "vigil: cannot read '%s': %s\n", path, strerror(-r));
                return NULL;
        }
        doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
        free(text);
        if (!doc) {
                fprintf(stderr, "vigil: '%s': line %d: %s\n", path, e.line, e.text);
                return NULL;
        }
        if (!json_is_object(doc)) {
                fprintf(stderr, "vigil: '%s': %s is a JSON object\n", path, what);
                json_decref(doc);
                return NULL;
        }
        return doc;
}

int cli_valid_id(const char *id)
{
        if (!util_str_printable(id, 64) || strpbrk(id, "/?#%&") != NULL) {
                fprintf(stderr, "vigil: '%s' is not an id\n", id);
                return 0;
        }
        return 1;
}

/* A query value that needs no URL encoding. */
static int query_value_ok(const char *name, const char *v)
{
        for (const char *p = v; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '-' || *p == '_' || *p == '.' || *p == ':')) {
                        fprintf(stderr, "vigil: --%s '%s' holds a character that is not allowed\n", name, v);
                        return 0;
                }
        return *v != '\0' && strlen(v) <= 128;
}

int cli_query_build(char *out, size_t size, const char *base, const char *const *names, const char *const *vals,
                    size_t n)
{
        size_t len = (size_t)snprintf(out, size, "%s", base);
        char sep = '?';

        for (size_t i = 0; i < n && len < size; i++) {
                if (!vals[i])
                        continue;
                if (!query_value_ok(names[i], vals[i]))
                        return -1;
                len += (size_t)snprintf(out + len, size - len, "%c%s=%s", sep, names[i], vals[i]);
                sep = '&';
        }
        if (len >= size) {
                fprintf(stderr, "vigil: arguments too long\n");
                return -1;
        }
        return 0;
}
