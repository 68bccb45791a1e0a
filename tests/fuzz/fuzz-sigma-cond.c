/* Fuzzes the Sigma condition parser on any text, against a fixed set of
 * search identifiers: it must return 0 with a tree whose every reference
 * is in range, or -EINVAL with a reason, and never crash or recurse
 * without bound. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sigma/sigma-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = { "selection", "sel_1", "sel_2", "filter_main", "filter_opt", "_hidden",
                                     "keywords", "a", "b" };
#define N_NAMES (sizeof(names) / sizeof(names[0]))

static void check(const struct sigma_cond *c, uint32_t i, unsigned depth)
{
        const struct sigma_cond_node *n;

        if (i >= c->n_nodes || depth > 4 * SIGMA_COND_DEPTH_MAX + 8)
                abort();
        n = &c->nodes[i];
        switch (n->kind) {
        case SIGMA_C_ID:
                if (n->a >= N_NAMES)
                        abort();
                break;
        case SIGMA_C_NOT:
                check(c, n->a, depth + 1);
                break;
        case SIGMA_C_AND:
        case SIGMA_C_OR:
                if (n->n < 2 || n->a + n->n > c->n_kids)
                        abort();
                for (uint32_t k = 0; k < n->n; k++)
                        check(c, c->kids[n->a + k], depth + 1);
                break;
        case SIGMA_C_ONE_OF:
        case SIGMA_C_ALL_OF:
                if (n->n < 1 || n->a + n->n > c->n_kids)
                        abort();
                for (uint32_t k = 0; k < n->n; k++)
                        if (c->kids[n->a + k] >= N_NAMES)
                                abort();
                break;
        default:
                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct sigma_cond c;
        struct sigma_err err = { 0 };
        int r;

        r = sigma_cond_parse((const char *)data, size, names, N_NAMES, &c, &err);
        if (r == 0) {
                check(&c, c.root, 0);
                sigma_cond_release(&c);
        } else if (r != -EINVAL || err.reason[0] == '\0' || !memchr(err.reason, '\0', sizeof(err.reason))) {
                abort();
        }
        return 0;
}
