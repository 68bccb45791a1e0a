/* cond: the parser of a Sigma rule's `condition`.
 *
 * Grammar (keywords in any case; precedence not > and > or):
 *
 *   expr    := and { "or" and }
 *   and     := unary { "and" unary }
 *   unary   := "not" unary | primary
 *   primary := "(" expr ")" | ("1" | "all") "of" (PATTERN | "them") | IDENT
 *
 * Identifiers name search identifiers of the rule's detection; a PATTERN
 * may hold `*` wildcards; `them` means every identifier not starting with
 * `_`. The result is a tree of nodes over selection indexes; `1 of` and
 * `all of` are expanded here. Length, tokens and nesting are capped;
 * aggregations (`| count() ...`), `any of` and `N of` with N other than 1
 * are refused with a reason. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sigma/sigma-internal.h"

enum tok_kind { T_END, T_LPAREN, T_RPAREN, T_WORD, T_PIPE, T_BAD };

struct tok {
        uint8_t kind;
        uint32_t off, len;
};

struct cparser {
        const char *s;
        size_t len;
        struct tok *toks;
        uint32_t n_toks, pos;
        const char *const *names;
        size_t n_names;
        struct sigma_cond *c;
        uint32_t *ops;          /* operands of the open AND/OR lists */
        uint32_t n_ops, cap_ops;
        uint32_t depth;
        struct sigma_err *err;
};

static bool is_word_byte(unsigned char c)
{
        return isalnum(c) || c == '_' || c == '*' || c == '-' || c == '.' || c >= 0x80;
}

static int tokenize(struct cparser *p)
{
        size_t i = 0;

        p->toks = calloc(SIGMA_COND_TOKENS_MAX + 1, sizeof(*p->toks));
        if (!p->toks)
                return -ENOMEM;
        for (;;) {
                struct tok *t;

                while (i < p->len && (p->s[i] == ' ' || p->s[i] == '\t' || p->s[i] == '\n' ||
                                      p->s[i] == '\r'))
                        i++;
                if (p->n_toks >= SIGMA_COND_TOKENS_MAX)
                        return sigma_err_set(p->err, 0, "condition has more than %u tokens",
                                             SIGMA_COND_TOKENS_MAX);
                t = &p->toks[p->n_toks++];
                t->off = (uint32_t)i;
                if (i >= p->len) {
                        t->kind = T_END;
                        return 0;
                }
                if (p->s[i] == '(' || p->s[i] == ')' || p->s[i] == '|') {
                        t->kind = p->s[i] == '(' ? T_LPAREN : p->s[i] == ')' ? T_RPAREN : T_PIPE;
                        t->len = 1;
                        i++;
                        continue;
                }
                if (!is_word_byte((unsigned char)p->s[i]))
                        return sigma_err_set(p->err, 0, "unexpected character '%c' in condition",
                                             isprint((unsigned char)p->s[i]) ? p->s[i] : '?');
                while (i < p->len && is_word_byte((unsigned char)p->s[i]))
                        i++;
                t->kind = T_WORD;
                t->len = (uint32_t)i - t->off;
        }
}

static bool tok_is(const struct cparser *p, const struct tok *t, const char *kw)
{
        return t->kind == T_WORD && strlen(kw) == t->len &&
               strncasecmp(p->s + t->off, kw, t->len) == 0;
}

static bool tok_is_keyword(const struct cparser *p, const struct tok *t)
{
        static const char *const kws[] = { "and", "or", "not", "of", "them", "all", "any" };

        for (size_t i = 0; i < sizeof(kws) / sizeof(kws[0]); i++)
                if (tok_is(p, t, kws[i]))
                        return true;
        return false;
}

static int node_add(struct cparser *p, uint8_t kind, uint32_t a, uint32_t n, uint32_t *ret)
{
        struct sigma_cond *c = p->c;
        int r;

        r = sigma_grow((void **)&c->nodes, &c->cap_nodes, c->n_nodes + 1, sizeof(*c->nodes),
                       4 * SIGMA_COND_TOKENS_MAX);
        if (r < 0)
                return r;
        c->nodes[c->n_nodes] = (struct sigma_cond_node){ .kind = kind, .a = a, .n = n };
        *ret = c->n_nodes++;
        return 0;
}

static int kid_add(struct sigma_cond *c, uint32_t v)
{
        int r = sigma_grow((void **)&c->kids, &c->cap_kids, c->n_kids + 1, sizeof(uint32_t),
                           SIGMA_COND_TOKENS_MAX * SIGMA_SELECTIONS_MAX);

        if (r < 0)
                return r;
        c->kids[c->n_kids++] = v;
        return 0;
}

/* Whether name matches a pattern whose only wildcard is `*`. */
static bool name_match(const char *pat, size_t plen, const char *name)
{
        size_t nlen = strlen(name), pi = 0, ni = 0, star_p = SIZE_MAX, star_n = 0;

        while (ni < nlen) {
                if (pi < plen && pat[pi] == '*') {
                        star_p = pi++;
                        star_n = ni;
                } else if (pi < plen && pat[pi] == name[ni]) {
                        pi++;
                        ni++;
                } else if (star_p != SIZE_MAX) {
                        pi = star_p + 1;
                        ni = ++star_n;
                } else {
                        return false;
                }
        }
        while (pi < plen && pat[pi] == '*')
                pi++;
        return pi == plen;
}

static int parse_of(struct cparser *p, bool all, uint32_t *ret)
{
        const struct tok *t;
        uint32_t first = p->c->n_kids, n = 0;
        bool them;
        int r;

        p->pos++;                               /* the quantifier */
        if (!tok_is(p, &p->toks[p->pos], "of"))
                return sigma_err_set(p->err, 0, "expected 'of' after '%s'", all ? "all" : "1");
        t = &p->toks[++p->pos];
        if (t->kind != T_WORD || (tok_is_keyword(p, t) && !tok_is(p, t, "them")))
                return sigma_err_set(p->err, 0, "expected a search identifier pattern or 'them' after 'of'");
        them = tok_is(p, t, "them");
        for (size_t i = 0; i < p->n_names; i++) {
                if (them ? p->names[i][0] == '_' : !name_match(p->s + t->off, t->len, p->names[i]))
                        continue;
                r = kid_add(p->c, (uint32_t)i);
                if (r < 0)
                        return r;
                n++;
        }
        if (n == 0)
                return sigma_err_set(p->err, 0, "condition pattern '%.*s' matches no search identifier",
                                     (int)t->len, p->s + t->off);
        p->pos++;
        return node_add(p, all ? SIGMA_C_ALL_OF : SIGMA_C_ONE_OF, first, n, ret);
}

static int parse_expr(struct cparser *p, uint32_t *ret);

static int parse_ident(struct cparser *p, uint32_t *ret)
{
        const struct tok *t = &p->toks[p->pos];

        if (memchr(p->s + t->off, '*', t->len))
                return sigma_err_set(p->err, 0, "wildcard '%.*s' outside '1 of' or 'all of'",
                                     (int)t->len, p->s + t->off);
        for (size_t i = 0; i < p->n_names; i++)
                if (strlen(p->names[i]) == t->len && memcmp(p->names[i], p->s + t->off, t->len) == 0) {
                        p->pos++;
                        return node_add(p, SIGMA_C_ID, (uint32_t)i, 0, ret);
                }
        return sigma_err_set(p->err, 0, "condition names unknown search identifier '%.*s'",
                             (int)t->len, p->s + t->off);
}

static int parse_primary(struct cparser *p, uint32_t *ret)
{
        const struct tok *t = &p->toks[p->pos];
        int r;

        switch (t->kind) {
        case T_LPAREN:
                if (++p->depth > SIGMA_COND_DEPTH_MAX)
                        return sigma_err_set(p->err, 0, "condition nested deeper than %u levels",
                                             SIGMA_COND_DEPTH_MAX);
                p->pos++;
                r = parse_expr(p, ret);
                if (r < 0)
                        return r;
                if (p->toks[p->pos].kind != T_RPAREN)
                        return sigma_err_set(p->err, 0, "missing ')' in condition");
                p->pos++;
                p->depth--;
                return 0;
        case T_PIPE:
                return sigma_err_set(p->err, 0, "aggregation expressions are not supported");
        case T_END:
                return sigma_err_set(p->err, 0, "condition ends where an operand is expected");
        case T_RPAREN:
                return sigma_err_set(p->err, 0, "unexpected ')' in condition");
        default:
                break;
        }
        if (tok_is(p, t, "all") || (t->len == 1 && p->s[t->off] == '1'))
                return parse_of(p, tok_is(p, t, "all"), ret);
        if (tok_is(p, t, "any"))
                return sigma_err_set(p->err, 0, "'any of' is not Sigma: use '1 of'");
        if (isdigit((unsigned char)p->s[t->off]) && tok_is(p, &p->toks[p->pos + 1], "of"))
                return sigma_err_set(p->err, 0, "only '1 of' and 'all of' are supported, not '%.*s of'",
                                     (int)t->len, p->s + t->off);
        if (tok_is_keyword(p, t))
                return sigma_err_set(p->err, 0, "unexpected '%.*s' in condition", (int)t->len,
                                     p->s + t->off);
        return parse_ident(p, ret);
}

static int parse_unary(struct cparser *p, uint32_t *ret)
{
        uint32_t operand;
        int r;

        if (!tok_is(p, &p->toks[p->pos], "not"))
                return parse_primary(p, ret);
        if (++p->depth > SIGMA_COND_DEPTH_MAX)
                return sigma_err_set(p->err, 0, "condition nested deeper than %u levels",
                                     SIGMA_COND_DEPTH_MAX);
        p->pos++;
        r = parse_unary(p, &operand);
        if (r < 0)
                return r;
        p->depth--;
        return node_add(p, SIGMA_C_NOT, operand, 0, ret);
}

/* A list `x op y op z`: operands stacked in p->ops, then moved to kids. */
static int parse_list(struct cparser *p, const char *op, int (*sub)(struct cparser *, uint32_t *),
                      uint8_t kind, uint32_t *ret)
{
        uint32_t start = p->n_ops, v, n;
        int r;

        for (;;) {
                r = sub(p, &v);
                if (r < 0)
                        return r;
                r = sigma_grow((void **)&p->ops, &p->cap_ops, p->n_ops + 1, sizeof(uint32_t),
                               SIGMA_COND_TOKENS_MAX);
                if (r < 0)
                        return r;
                p->ops[p->n_ops++] = v;
                if (!tok_is(p, &p->toks[p->pos], op))
                        break;
                p->pos++;
        }
        n = p->n_ops - start;
        if (n == 1) {
                *ret = p->ops[start];
                p->n_ops = start;
                return 0;
        }
        v = p->c->n_kids;
        for (uint32_t i = 0; i < n; i++) {
                r = kid_add(p->c, p->ops[start + i]);
                if (r < 0)
                        return r;
        }
        p->n_ops = start;
        return node_add(p, kind, v, n, ret);
}

static int parse_and(struct cparser *p, uint32_t *ret)
{
        return parse_list(p, "and", parse_unary, SIGMA_C_AND, ret);
}

static int parse_expr(struct cparser *p, uint32_t *ret)
{
        return parse_list(p, "or", parse_and, SIGMA_C_OR, ret);
}

int sigma_cond_parse(const char *text, size_t len, const char *const *names, size_t n_names,
                     struct sigma_cond *ret, struct sigma_err *err)
{
        struct sigma_cond c = { 0 };
        struct cparser p = { .s = text, .len = len, .names = names, .n_names = n_names,
                             .c = &c, .err = err };
        const struct tok *t;
        int r;

        if (len > SIGMA_COND_MAX) {
                r = sigma_err_set(err, 0, "condition longer than %u bytes", SIGMA_COND_MAX);
                goto fail;
        }
        if (memchr(text, '|', len)) {
                r = sigma_err_set(err, 0, "aggregation expressions are not supported");
                goto fail;
        }
        r = tokenize(&p);
        if (r < 0)
                goto fail;
        r = parse_expr(&p, &c.root);
        if (r < 0)
                goto fail;
        t = &p.toks[p.pos];
        if (t->kind == T_PIPE)
                r = sigma_err_set(err, 0, "aggregation expressions are not supported");
        else if (t->kind == T_RPAREN)
                r = sigma_err_set(err, 0, "unbalanced ')' in condition");
        else if (t->kind != T_END)
                r = sigma_err_set(err, 0, "unexpected '%.*s' in condition", (int)t->len, text + t->off);
        if (r < 0)
                goto fail;
        free(p.toks);
        free(p.ops);
        *ret = c;
        return 0;
fail:
        free(p.toks);
        free(p.ops);
        sigma_cond_release(&c);
        return r == -E2BIG ? sigma_err_set(err, 0, "condition too large") : r;
}

void sigma_cond_release(struct sigma_cond *c)
{
        free(c->nodes);
        free(c->kids);
        memset(c, 0, sizeof(*c));
}
