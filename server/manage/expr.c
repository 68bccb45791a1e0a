/* expr: compiles a device filter expression into a bounded AST and evaluates
 * it against a device's facts. A recursive-descent parser over a small lexer;
 * every error names the column of the token at fault. */
#include "server/manage/expr.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum field {
        F_PLATFORM, F_OS_NAME, F_OS_VERSION, F_NAME, F_ARCHITECTURE, F_KERNEL, F_TAGS,
};

static const char *const field_names[] = {
        "device.platform", "device.os_name", "device.os_version", "device.name",
        "device.architecture", "device.kernel", "device.tags",
};

#define FIELD_LIST "device.platform, device.os_name, device.os_version, device.name, " \
                   "device.architecture, device.kernel and device.tags"

enum op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_CONTAINS, OP_MATCHES, OP_IN };

enum kind { K_AND, K_OR, K_NOT, K_CMP };

struct node {
        uint8_t kind, field, op;
        uint16_t left, right;           /* K_AND, K_OR: both; K_NOT: left */
        uint16_t lit, n_lit;            /* K_CMP: its strings, lits[lit .. lit + n_lit) */
};

struct lit {
        uint32_t off, len;              /* in strs, NUL-terminated there */
};

struct manage_expr {
        uint16_t root, n_nodes, n_lits;
        struct node *nodes;
        struct lit *lits;
        char *strs;                     /* the literals' unescaped text */
};

enum tok {
        T_END, T_FIELD, T_STRING, T_AND, T_OR, T_NOT, T_OP, T_LPAREN, T_RPAREN, T_LBRACK, T_RBRACK, T_COMMA,
};

struct parser {
        const char *text;
        size_t len, pos;
        /* the current token */
        enum tok tok;
        size_t tok_pos;
        int tok_field;
        enum op tok_op;
        size_t str_off, str_len;        /* T_STRING: unescaped into strs */
        /* the AST as it grows */
        struct node nodes[MANAGE_EXPR_NODES_MAX];
        struct lit lits[MANAGE_EXPR_NODES_MAX];
        size_t n_nodes, n_lits, n_strs;
        char strs[MANAGE_EXPR_TEXT_MAX + 1];
        unsigned depth;
        char *err;
        size_t err_size;
};

static int fail(struct parser *p, size_t pos, int r, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(struct parser *p, size_t pos, int r, const char *fmt, ...)
{
        char why[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        snprintf(p->err, p->err_size, "at column %zu: %s", pos + 1, why);
        return r;
}

static bool digit(char c)
{
        return c >= '0' && c <= '9';
}

static bool is_word(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

/* Reads a string literal starting at the opening quote into strs. */
static int lex_string(struct parser *p)
{
        size_t start = p->pos++;

        p->str_off = p->n_strs;
        for (;;) {
                char c;

                if (p->pos >= p->len)
                        return fail(p, start, -EINVAL, "%s", "string not closed: a '\"' is missing");
                c = p->text[p->pos++];
                if (c == '"')
                        break;
                if ((unsigned char)c < 0x20 || c == 0x7f)
                        return fail(p, p->pos - 1, -EINVAL, "%s", "control character in a string");
                if (c == '\\') {
                        if (p->pos >= p->len || (p->text[p->pos] != '"' && p->text[p->pos] != '\\'))
                                return fail(p, p->pos - 1, -EINVAL, "%s",
                                            "'\\' in a string must come before '\"' or '\\'");
                        c = p->text[p->pos++];
                }
                p->strs[p->n_strs++] = c;
        }
        p->str_len = p->n_strs - p->str_off;
        p->strs[p->n_strs++] = '\0';
        p->tok = T_STRING;
        return 0;
}

static int lex_word(struct parser *p)
{
        static const struct { const char *w; enum tok t; int op; } words[] = {
                { "and", T_AND, 0 }, { "or", T_OR, 0 }, { "not", T_NOT, 0 },
                { "contains", T_OP, OP_CONTAINS }, { "matches", T_OP, OP_MATCHES }, { "in", T_OP, OP_IN },
        };
        size_t start = p->pos, n;
        char word[40];

        while (p->pos < p->len && is_word(p->text[p->pos]))
                p->pos++;
        n = p->pos - start;
        if (n < sizeof(word)) {
                memcpy(word, p->text + start, n);
                word[n] = '\0';
                for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
                        if (strcmp(word, words[i].w) == 0) {
                                p->tok = words[i].t;
                                p->tok_op = (enum op)words[i].op;
                                return 0;
                        }
                for (size_t i = 0; i < sizeof(field_names) / sizeof(field_names[0]); i++)
                        if (strcmp(word, field_names[i]) == 0) {
                                p->tok = T_FIELD;
                                p->tok_field = (int)i;
                                return 0;
                        }
                if (strncmp(word, "device.", 7) == 0)
                        return fail(p, start, -EINVAL, "unknown field '%s'; the fields are " FIELD_LIST, word);
        }
        if (digit(p->text[start]))
                return fail(p, start, -EINVAL, "a value must be a string in double quotes, such as \"%.*s\"",
                            (int)(n < 32 ? n : 32), p->text + start);
        return fail(p, start, -EINVAL, "%s", "expected a field (such as device.os_version), 'not', '(' or a "
                    "string in double quotes");
}

/* Reads the next token into p->tok. */
static int lex(struct parser *p)
{
        static const struct { const char *s; enum op op; } ops[] = {
                { "==", OP_EQ }, { "!=", OP_NE }, { "<=", OP_LE }, { ">=", OP_GE }, { "<", OP_LT }, { ">", OP_GT },
        };
        static const char puncts[] = "()[],";
        static const enum tok punct_toks[] = { T_LPAREN, T_RPAREN, T_LBRACK, T_RBRACK, T_COMMA };
        const char *c;

        while (p->pos < p->len && strchr(" \t\r\n", p->text[p->pos]) && p->text[p->pos])
                p->pos++;
        p->tok_pos = p->pos;
        if (p->pos >= p->len) {
                p->tok = T_END;
                return 0;
        }
        if (p->text[p->pos] == '"')
                return lex_string(p);
        if (p->text[p->pos] && (c = strchr(puncts, p->text[p->pos])) != NULL) {
                p->tok = punct_toks[c - puncts];
                p->pos++;
                return 0;
        }
        for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
                size_t n = strlen(ops[i].s);
                if (p->len - p->pos >= n && memcmp(p->text + p->pos, ops[i].s, n) == 0) {
                        p->tok = T_OP;
                        p->tok_op = ops[i].op;
                        p->pos += n;
                        return 0;
                }
        }
        if (is_word(p->text[p->pos]))
                return lex_word(p);
        if (p->text[p->pos] == '=')
                return fail(p, p->pos, -EINVAL, "%s", "unexpected '='; equality is written '=='");
        return fail(p, p->pos, -EINVAL, "%s", "unexpected character");
}

static int node_add(struct parser *p, struct node n, uint16_t *ret)
{
        if (p->n_nodes + p->n_lits >= MANAGE_EXPR_NODES_MAX)
                return fail(p, p->tok_pos, -E2BIG, "the expression has more than %d nodes (comparisons, "
                            "operators and strings)", MANAGE_EXPR_NODES_MAX);
        *ret = (uint16_t)p->n_nodes;
        p->nodes[p->n_nodes++] = n;
        return 0;
}

static int lit_add(struct parser *p)
{
        if (p->n_nodes + p->n_lits >= MANAGE_EXPR_NODES_MAX)
                return fail(p, p->tok_pos, -E2BIG, "the expression has more than %d nodes (comparisons, "
                            "operators and strings)", MANAGE_EXPR_NODES_MAX);
        p->lits[p->n_lits++] = (struct lit){ .off = (uint32_t)p->str_off, .len = (uint32_t)p->str_len };
        return 0;
}

static bool is_version_field(int f)
{
        return f == F_OS_VERSION || f == F_KERNEL;
}

static bool is_version(const char *s)
{
        return s[0] >= '0' && s[0] <= '9';
}

/* Checks that op fits field; pos is the operator's column. */
static int op_check(struct parser *p, int field, enum op op, size_t pos)
{
        if (field == F_TAGS && op != OP_CONTAINS && op != OP_IN && op != OP_MATCHES)
                return fail(p, pos, -EINVAL, "%s", "device.tags is a set: test it with contains, in or matches");
        if (field != F_TAGS && op == OP_CONTAINS)
                return fail(p, pos, -EINVAL, "'contains' tests a set and %s is a string; use matches \"*text*\"",
                            field_names[field]);
        if (op >= OP_LT && op <= OP_GE && !is_version_field(field))
                return fail(p, pos, -EINVAL, "'<', '<=', '>' and '>=' compare versions, and %s is not one "
                            "(the versions are device.os_version and device.kernel)", field_names[field]);
        return 0;
}

/* One string operand: checked for the operator (versions start with a digit). */
static int operand(struct parser *p, enum op op)
{
        int r;

        if (p->tok != T_STRING)
                return fail(p, p->tok_pos, -EINVAL, "%s", "expected a string in double quotes");
        if (op >= OP_LT && op <= OP_GE && !is_version(p->strs + p->str_off))
                return fail(p, p->tok_pos, -EINVAL, "%s", "a version must start with a digit, such as \"12\" or "
                            "\"12.4\"");
        r = lit_add(p);
        return r < 0 ? r : lex(p);
}

/* in [ "a", "b", ... ] */
static int operand_list(struct parser *p, size_t *ret_n)
{
        size_t open = p->tok_pos, n = 0;
        int r;

        if (p->tok != T_LBRACK)
                return fail(p, p->tok_pos, -EINVAL, "%s", "'in' takes a list such as [\"a\", \"b\"]");
        r = lex(p);
        if (r == 0 && p->tok == T_RBRACK)
                return fail(p, open, -EINVAL, "%s", "the list is empty");
        while (r == 0) {
                if (++n > MANAGE_EXPR_LIST_MAX)
                        return fail(p, p->tok_pos, -E2BIG, "a list holds at most %d strings", MANAGE_EXPR_LIST_MAX);
                r = operand(p, OP_IN);
                if (r < 0)
                        return r;
                if (p->tok == T_RBRACK)
                        break;
                if (p->tok != T_COMMA)
                        return fail(p, p->tok_pos, -EINVAL, "%s", "expected ',' or ']' in the list");
                r = lex(p);
        }
        if (r < 0)
                return r;
        *ret_n = n;
        return lex(p);
}

static int parse_cmp(struct parser *p, uint16_t *ret)
{
        struct node n = { .kind = K_CMP };
        size_t n_lit = 1, op_pos;
        int r;

        if (p->tok != T_FIELD)
                return fail(p, p->tok_pos, -EINVAL, "%s", "expected a field (such as device.os_version), 'not' "
                            "or '('");
        n.field = (uint8_t)p->tok_field;
        r = lex(p);
        if (r < 0)
                return r;
        op_pos = p->tok_pos;
        if (p->tok != T_OP)
                return fail(p, op_pos, -EINVAL, "expected an operator (==, !=, <, <=, >, >=, contains, matches, "
                            "in) after %s", field_names[n.field]);
        n.op = (uint8_t)p->tok_op;
        r = op_check(p, n.field, p->tok_op, op_pos);
        if (r == 0)
                r = lex(p);
        n.lit = (uint16_t)p->n_lits;
        if (r == 0)
                r = n.op == OP_IN ? operand_list(p, &n_lit) : operand(p, (enum op)n.op);
        if (r < 0)
                return r;
        n.n_lit = (uint16_t)n_lit;
        return node_add(p, n, ret);
}

static int parse_or(struct parser *p, uint16_t *ret);

static int parse_unary(struct parser *p, uint16_t *ret)
{
        size_t at = p->tok_pos;
        uint16_t child;
        int r;

        if (p->tok != T_NOT && p->tok != T_LPAREN)
                return parse_cmp(p, ret);
        if (++p->depth > MANAGE_EXPR_DEPTH_MAX)
                return fail(p, at, -E2BIG, "nested more than %d deep ('not' and parentheses)", MANAGE_EXPR_DEPTH_MAX);
        if (p->tok == T_NOT) {
                r = lex(p);
                if (r == 0)
                        r = parse_unary(p, &child);
                if (r == 0)
                        r = node_add(p, (struct node){ .kind = K_NOT, .left = child }, ret);
        } else {
                r = lex(p);
                if (r == 0)
                        r = parse_or(p, ret);
                if (r == 0 && p->tok != T_RPAREN)
                        r = fail(p, p->tok_pos, -EINVAL, "%s", "expected ')' or an operator ('and', 'or')");
                if (r == 0)
                        r = lex(p);
        }
        p->depth--;
        return r;
}

/* A chain of 'and' (tight) or 'or' (loose) operands, left to right. */
static int parse_chain(struct parser *p, enum tok t, uint16_t *ret)
{
        uint16_t left, right;
        int r;

        r = t == T_AND ? parse_unary(p, &left) : parse_chain(p, T_AND, &left);
        while (r == 0 && p->tok == t) {
                r = lex(p);
                if (r == 0)
                        r = t == T_AND ? parse_unary(p, &right) : parse_chain(p, T_AND, &right);
                if (r == 0)
                        r = node_add(p, (struct node){ .kind = t == T_AND ? K_AND : K_OR, .left = left,
                                                       .right = right }, &left);
        }
        if (r == 0)
                *ret = left;
        return r;
}

static int parse_or(struct parser *p, uint16_t *ret)
{
        return parse_chain(p, T_OR, ret);
}

static struct manage_expr *expr_build(const struct parser *p, uint16_t root)
{
        size_t nb = p->n_nodes * sizeof(struct node), lb = p->n_lits * sizeof(struct lit);
        struct manage_expr *e = malloc(sizeof(*e) + nb + lb + p->n_strs + 1);

        if (!e)
                return NULL;
        e->root = root;
        e->n_nodes = (uint16_t)p->n_nodes;
        e->n_lits = (uint16_t)p->n_lits;
        e->nodes = (struct node *)(e + 1);
        e->lits = (struct lit *)((char *)e->nodes + nb);
        e->strs = (char *)e->lits + lb;
        memcpy(e->nodes, p->nodes, nb);
        memcpy(e->lits, p->lits, lb);
        memcpy(e->strs, p->strs, p->n_strs);
        e->strs[p->n_strs] = '\0';
        return e;
}

int manage_expr_compile(const char *text, size_t len, struct manage_expr **ret, char *err, size_t err_size)
{
        struct parser *p;
        uint16_t root;
        int r;

        if (len > MANAGE_EXPR_TEXT_MAX) {
                snprintf(err, err_size, "at column %d: the expression is longer than %d bytes",
                         MANAGE_EXPR_TEXT_MAX + 1, MANAGE_EXPR_TEXT_MAX);
                return -E2BIG;
        }
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        *p = (struct parser){ .text = text, .len = len, .err = err, .err_size = err_size };
        r = lex(p);
        if (r == 0 && p->tok == T_END)
                r = fail(p, 0, -EINVAL, "%s", "the expression is empty");
        if (r == 0)
                r = parse_or(p, &root);
        if (r == 0 && p->tok != T_END)
                r = fail(p, p->tok_pos, -EINVAL, "%s", "expected 'and', 'or' or the end of the expression");
        if (r == 0) {
                *ret = expr_build(p, root);
                if (!*ret)
                        r = -ENOMEM;
        }
        free(p);
        return r;
}

void manage_expr_free(struct manage_expr *e)
{
        free(e);
}

/* ---- evaluation ---- */

static char lower(char c)
{
        return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool glob_match(const char *p, const char *s, bool nocase)
{
        const char *star = NULL, *mark = NULL;

        while (*s) {
                if (*p == '*') {
                        star = ++p;
                        mark = s;
                        continue;
                }
                if (*p && (*p == '?' || (nocase ? lower(*p) == lower(*s) : *p == *s))) {
                        p++;
                        s++;
                        continue;
                }
                if (!star)
                        return false;
                p = star;
                s = ++mark;
        }
        while (*p == '*')
                p++;
        return *p == '\0';
}

/* Leading digits of *s as a number (capped), advancing *s past them. */
static uint64_t version_number(const char **s)
{
        uint64_t n = 0;

        for (; **s >= '0' && **s <= '9'; (*s)++)
                n = n < UINT64_MAX / 10 - 10 ? n * 10 + (uint64_t)(**s - '0') : n;
        return n;
}

int manage_version_compare(const char *a, const char *b, int *ret)
{
        const char *rest;

        if (!is_version(a) || !is_version(b))
                return -EINVAL;
        while (*a && *b) {
                if (digit(*a) && digit(*b)) {
                        uint64_t x = version_number(&a), y = version_number(&b);
                        if (x != y) {
                                *ret = x < y ? -1 : 1;
                                return 0;
                        }
                        continue;
                }
                if (digit(*a) != digit(*b) || *a != *b) {
                        *ret = digit(*a) ? 1 : digit(*b) ? -1 : (unsigned char)*a < (unsigned char)*b ? -1 : 1;
                        return 0;
                }
                a++;
                b++;
        }
        /* what one has past the other: only ".0" parts are equal to nothing */
        rest = *a ? a : b;
        *ret = strspn(rest, ".0") == strlen(rest) ? 0 : *a ? 1 : -1;
        return 0;
}

static const char *fact(const struct manage_device_facts *f, int field)
{
        const char *v[] = { f->platform, f->os_name, f->os_version, f->name, f->architecture, f->kernel };

        return field < F_TAGS && v[field] ? v[field] : "";
}

static bool equal(int field, const char *v, const char *lit)
{
        int c;

        if (is_version_field(field) && manage_version_compare(v, lit, &c) == 0)
                return c == 0;
        return field == F_NAME ? strcasecmp(v, lit) == 0 : strcmp(v, lit) == 0;
}

/* One value (a string field, or one tag) against a comparison. */
static bool value_match(const struct manage_expr *e, const struct node *n, const char *v)
{
        const char *lit = e->strs + e->lits[n->lit].off;
        int c;

        switch ((enum op)n->op) {
        case OP_EQ:
        case OP_CONTAINS:
                return equal(n->field, v, lit);
        case OP_NE:
                return !equal(n->field, v, lit);
        case OP_MATCHES:
                return glob_match(lit, v, n->field == F_NAME);
        case OP_IN:
                for (uint16_t i = 0; i < n->n_lit; i++)
                        if (equal(n->field, v, e->strs + e->lits[n->lit + i].off))
                                return true;
                return false;
        case OP_LT:
        case OP_LE:
        case OP_GT:
        case OP_GE:
                if (manage_version_compare(v, lit, &c) < 0)
                        return false;
                return n->op == OP_LT ? c < 0 : n->op == OP_LE ? c <= 0 : n->op == OP_GT ? c > 0 : c >= 0;
        }
        return false;
}

static bool eval_node(const struct manage_expr *e, uint16_t i, const struct manage_device_facts *f)
{
        const struct node *n = &e->nodes[i];

        switch ((enum kind)n->kind) {
        case K_AND:
                return eval_node(e, n->left, f) && eval_node(e, n->right, f);
        case K_OR:
                return eval_node(e, n->left, f) || eval_node(e, n->right, f);
        case K_NOT:
                return !eval_node(e, n->left, f);
        case K_CMP:
                break;
        }
        if (n->field != F_TAGS)
                return value_match(e, n, fact(f, n->field));
        for (size_t t = 0; t < f->n_tags; t++)
                if (value_match(e, n, f->tags[t]))
                        return true;
        return false;
}

bool manage_expr_eval(const struct manage_expr *e, const struct manage_device_facts *f)
{
        return eval_node(e, e->root, f);
}
