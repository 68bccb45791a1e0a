/* common: what every command of the CLI shares (see cli.h). */
#include "cli/cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/table.h"
#include "httpc/httpc.h"

/* Sends a request; on success *ret holds the JSON body. Returns 0, or 1 after
 * printing the error. */
int cli_call(struct cli *c, const char *method, const char *path, json_t *body, long want,
                json_t **ret)
{
        struct httpc_options o = { .ca_file = c->ca };
        char err[512], *text = NULL;
        json_t *resp = NULL;
        long status = 0;
        int r;

        if (!c->http && httpc_new(c->server, &o, &c->http) < 0) {
                fprintf(stderr, "vigil: the server must be an https:// URL (got '%s')\n", c->server);
                return 1;
        }
        if (body)
                text = json_dumps(body, JSON_COMPACT);
        r = httpc_request(c->http, method, path, c->token, text, text ? strlen(text) : 0,
                          &status, &resp, err, sizeof(err));
        free(text);
        if (r < 0) {
                fprintf(stderr, "vigil: cannot reach the server: %s\n", err);
                return 1;
        }
        if (status != want) {
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
