/* expr: the device filter expression language of dynamic device groups (and
 * of any other module that selects devices by their attributes).
 *
 *   device.os_version >= "12" and device.tags contains "kiosk"
 *   not (device.name matches "lab-*" or device.architecture in ["armv7l", "i686"])
 *
 * A compiled expression is a small AST in one allocation, bounded in text
 * (MANAGE_EXPR_TEXT_MAX bytes), nesting (MANAGE_EXPR_DEPTH_MAX) and nodes
 * (MANAGE_EXPR_NODES_MAX); evaluating it takes no lock, allocates nothing and
 * may run in any number of threads at once. The grammar, the fields and the
 * meaning of each operator are in docs/MANAGE.md. Pure: no database, no
 * server state (fuzzed). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define MANAGE_EXPR_TEXT_MAX 4096
#define MANAGE_EXPR_DEPTH_MAX 32
#define MANAGE_EXPR_NODES_MAX 512
#define MANAGE_EXPR_LIST_MAX 64         /* strings in one in [...] */

/* What an expression is evaluated against: one device's attributes. Every
 * string is NUL-terminated and borrowed ("" when unknown); tags is a set of
 * n_tags strings. */
struct manage_device_facts {
        const char *id;
        const char *platform;           /* "linux" */
        const char *os_name;            /* "Debian GNU/Linux" */
        const char *os_version;         /* "12" */
        const char *name;               /* the hostname */
        const char *architecture;       /* "x86_64" */
        const char *kernel;             /* "6.1.0-13-amd64" */
        const char *const *tags;
        size_t n_tags;
};

struct manage_expr;

/* Compiles len bytes of text (which need not be NUL-terminated). On success
 * *ret owns the expression (free it with manage_expr_free()). Returns 0;
 * -EINVAL with "at column N: reason" in err (N counts bytes from 1); -E2BIG
 * with the same form for text, nesting or nodes past their bounds; -ENOMEM. */
int manage_expr_compile(const char *text, size_t len, struct manage_expr **ret, char *err, size_t err_size);

/* True if the device's facts satisfy the expression. */
bool manage_expr_eval(const struct manage_expr *e, const struct manage_device_facts *f);

/* NULL is fine. */
void manage_expr_free(struct manage_expr *e);

/* Compares two versions: runs of digits compared as numbers, other bytes
 * one by one, a digit above a non-digit; what is left past the end of the
 * other counts as more unless it is only ".0" parts. So "12" == "12.0" <
 * "12.4" < "12.10" < "13" and "6.1.0-9" < "6.1.0-13". Returns -1, 0 or 1 in
 * *ret and 0; or -EINVAL if either does not start with a digit (then it is
 * not a version and nothing is ordered against it). */
int manage_version_compare(const char *a, const char *b, int *ret);
