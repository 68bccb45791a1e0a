/* table: aligned text tables for the CLI. Cells are copied; columns are as
 * wide as their widest cell. */
#pragma once

#include <stddef.h>
#include <stdio.h>

#define TABLE_COLS_MAX 12

struct table {
        size_t n_cols, n_rows, alloc;
        const char *const *header;
        char **cells;                   /* n_rows * n_cols */
        size_t width[TABLE_COLS_MAX];
};

void table_init(struct table *t, const char *const *header, size_t n_cols);
/* Appends a row of n_cols cells. Returns 0 or -ENOMEM. */
int table_add(struct table *t, const char *const *row);
void table_print(const struct table *t, FILE *f);
void table_release(struct table *t);
