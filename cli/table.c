/* table: aligned text tables. See table.h. */
#include "cli/table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void table_init(struct table *t, const char *const *header, size_t n_cols)
{
        memset(t, 0, sizeof(*t));
        t->header = header;
        t->n_cols = n_cols < TABLE_COLS_MAX ? n_cols : TABLE_COLS_MAX;
        for (size_t c = 0; c < t->n_cols; c++)
                t->width[c] = strlen(header[c]);
}

int table_add(struct table *t, const char *const *row)
{
        if ((t->n_rows + 1) * t->n_cols > t->alloc) {
                size_t alloc = t->alloc ? t->alloc * 2 : t->n_cols * 16;
                char **cells = realloc(t->cells, alloc * sizeof(*cells));
                if (!cells)
                        return -ENOMEM;
                t->cells = cells;
                t->alloc = alloc;
        }
        for (size_t c = 0; c < t->n_cols; c++) {
                const char *v = row[c] ? row[c] : "";
                size_t n = strlen(v);
                t->cells[t->n_rows * t->n_cols + c] = strdup(v);
                if (n > t->width[c])
                        t->width[c] = n;
        }
        t->n_rows++;
        return 0;
}

static void print_row(const struct table *t, FILE *f, const char *const *cells)
{
        for (size_t c = 0; c < t->n_cols; c++) {
                const char *v = cells[c] ? cells[c] : "";
                if (c + 1 == t->n_cols)
                        fprintf(f, "%s\n", v);
                else
                        fprintf(f, "%-*s  ", (int)t->width[c], v);
        }
}

void table_print(const struct table *t, FILE *f)
{
        print_row(t, f, t->header);
        for (size_t r = 0; r < t->n_rows; r++)
                print_row(t, f, (const char *const *)&t->cells[r * t->n_cols]);
}

void table_release(struct table *t)
{
        for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
                free(t->cells[i]);
        free(t->cells);
        t->cells = NULL;
}
