/* matcher: a ruleset compiled for matching events, and the per-thread
 * scratch space that matching uses.
 *
 * Rules are grouped by category. For each event the fields the category's
 * rules read are lowercased once into the scratch, each cut to its share of
 * the scratch's text budget (a long field is matched on its first bytes,
 * and never crowds the others out); values were lowercased at load (unless `cased`), so every
 * comparison is a plain byte compare. Unless SIGMA_MATCHER_NAIVE is given,
 * each category has an index (index.c) that names the rules an event may
 * match; only those, and the rules the index cannot bound, are evaluated,
 * in ruleset order, with short-circuit AND and OR. Matching allocates
 * nothing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sigma/sigma-internal.h"

struct sigma_cat {
        uint32_t *rules;        /* ruleset indexes, in ruleset order */
        uint32_t n_rules;
        uint32_t n_words;       /* 64-bit words of a candidate set */
        bool *used;             /* per schema field */
        uint32_t *fields;       /* the used fields, ascending */
        uint32_t n_fields;
        struct sigma_index *ix; /* NULL: evaluate every rule */
};

struct sigma_matcher {
        const struct sigma_ruleset *rs;
        unsigned flags;
        uint32_t n_cats;
        struct sigma_cat *cats;
        uint32_t max_words;
        pcre2_match_context *mctx;
};

struct sigma_scratch {
        const struct sigma_matcher *m;
        char *text;
        struct sigma_view *views;
        uint64_t *cand;
        pcre2_match_data *md;
};

static void cat_mark_used(struct sigma_cat *c, const struct sigma_rule *r, uint32_t n_fields)
{
        for (uint32_t i = 0; i < r->n_nodes; i++) {
                const struct sigma_node *n = &r->nodes[i];

                if (n->kind == SIGMA_N_KEYWORD) {
                        for (uint32_t f = 0; f < n_fields; f++)
                                c->used[f] = true;
                } else if (n->kind == SIGMA_N_MATCH) {
                        if (n->field != SIGMA_FIELD_ABSENT)
                                c->used[n->field] = true;
                        if (r->pats[n->a].kind == SIGMA_P_FIELDREF && r->pats[n->a].ref != SIGMA_FIELD_ABSENT)
                                c->used[r->pats[n->a].ref] = true;
                }
        }
}

static int cat_build(struct sigma_matcher *m, struct sigma_cat *c, uint32_t cat)
{
        const struct sigma_ruleset *rs = m->rs;
        uint32_t nf = (uint32_t)rs->schema->n_fields;

        c->rules = malloc((rs->n_rules + 1) * sizeof(uint32_t));
        c->used = calloc(nf + 1, sizeof(bool));
        c->fields = malloc((nf + 1) * sizeof(uint32_t));
        if (!c->rules || !c->used || !c->fields)
                return -ENOMEM;
        for (uint32_t i = 0; i < rs->n_rules; i++)
                if (rs->rules[i]->category == cat) {
                        c->rules[c->n_rules++] = i;
                        cat_mark_used(c, rs->rules[i], nf);
                }
        for (uint32_t f = 0; f < nf; f++)
                if (c->used[f])
                        c->fields[c->n_fields++] = f;
        c->n_words = (c->n_rules + 63) / 64;
        if (c->n_words > m->max_words)
                m->max_words = c->n_words;
        if (m->flags & SIGMA_MATCHER_NAIVE || c->n_rules == 0)
                return 0;
        return sigma_index_new(rs, c->rules, c->n_rules, &c->ix);
}

int sigma_matcher_new(const struct sigma_ruleset *rs, unsigned flags, struct sigma_matcher **ret)
{
        struct sigma_matcher *m = calloc(1, sizeof(*m));
        int r = 0;

        if (!m)
                return -ENOMEM;
        m->rs = rs;
        m->flags = flags;
        m->n_cats = (uint32_t)rs->schema->n_categories;
        m->cats = calloc(m->n_cats + 1, sizeof(*m->cats));
        m->mctx = pcre2_match_context_create(NULL);
        if (!m->cats || !m->mctx) {
                r = -ENOMEM;
                goto fail;
        }
        pcre2_set_match_limit(m->mctx, SIGMA_RE_MATCH_LIMIT);
        pcre2_set_depth_limit(m->mctx, SIGMA_RE_DEPTH_LIMIT);
        for (uint32_t i = 0; i < m->n_cats && r >= 0; i++)
                r = cat_build(m, &m->cats[i], i);
        if (r < 0)
                goto fail;
        *ret = m;
        return 0;
fail:
        sigma_matcher_free(m);
        return r;
}

void sigma_matcher_free(struct sigma_matcher *m)
{
        if (!m)
                return;
        for (uint32_t i = 0; m->cats && i < m->n_cats; i++) {
                free(m->cats[i].rules);
                free(m->cats[i].used);
                free(m->cats[i].fields);
                sigma_index_free(m->cats[i].ix);
        }
        free(m->cats);
        if (m->mctx)
                pcre2_match_context_free(m->mctx);
        free(m);
}

bool sigma_matcher_field_used(const struct sigma_matcher *m, uint32_t category, uint32_t field_id)
{
        if (category >= m->n_cats || field_id >= m->rs->schema->n_fields)
                return false;
        return m->cats[category].used[field_id];
}

int sigma_scratch_new(const struct sigma_matcher *m, struct sigma_scratch **ret)
{
        struct sigma_scratch *s = calloc(1, sizeof(*s));

        if (!s)
                return -ENOMEM;
        s->m = m;
        s->text = malloc(SIGMA_SCRATCH_TEXT);
        s->views = calloc(m->rs->schema->n_fields + 1, sizeof(*s->views));
        s->cand = calloc(m->max_words + 1, sizeof(uint64_t));
        s->md = pcre2_match_data_create(1, NULL);
        if (!s->text || !s->views || !s->cand || !s->md) {
                sigma_scratch_free(s);
                return -ENOMEM;
        }
        *ret = s;
        return 0;
}

void sigma_scratch_free(struct sigma_scratch *s)
{
        if (!s)
                return;
        free(s->text);
        free(s->views);
        free(s->cand);
        if (s->md)
                pcre2_match_data_free(s->md);
        free(s);
}

/* --- evaluation ------------------------------------------------------------- */

struct ectx {
        const struct sigma_rule *r;
        const struct sigma_view *views;
        const uint32_t *fields;
        uint32_t n_fields;
        pcre2_match_data *md;
        pcre2_match_context *mctx;
};

static const struct sigma_view absent_view = { .orig = "", .low = "", .len = 0, .present = false };

static bool eval_match(const struct ectx *c, const struct sigma_node *n)
{
        const struct sigma_pat *p = &c->r->pats[n->a];
        const struct sigma_view *v = n->field == SIGMA_FIELD_ABSENT ? &absent_view : &c->views[n->field];
        const struct sigma_view *ref;

        switch (p->kind) {
        case SIGMA_P_EXISTS:
                return v->present == (p->op != 0);
        case SIGMA_P_NULL:
                return !v->present || v->len == 0;
        case SIGMA_P_FIELDREF:
                ref = p->ref == SIGMA_FIELD_ABSENT ? &absent_view : &c->views[p->ref];
                if (!v->present || !ref->present)
                        return false;
                return sigma_lit_match(p->op, p->cased ? v->orig : v->low, v->len,
                                       p->cased ? ref->orig : ref->low, ref->len);
        default:
                return v->present && sigma_pat_match_text(p, v, c->md, c->mctx);
        }
}

static bool eval(const struct ectx *c, uint32_t ni)
{
        const struct sigma_node *n = &c->r->nodes[ni];

        /* kids is indexed only for AND and OR: elsewhere n->a is no kids
         * index, and a rule without groups has no kids at all */
        switch (n->kind) {
        case SIGMA_N_AND:
                for (uint32_t i = 0; i < n->n; i++)
                        if (!eval(c, c->r->kids[n->a + i]))
                                return false;
                return true;
        case SIGMA_N_OR:
                for (uint32_t i = 0; i < n->n; i++)
                        if (eval(c, c->r->kids[n->a + i]))
                                return true;
                return false;
        case SIGMA_N_NOT:
                return !eval(c, n->a);
        case SIGMA_N_TRUE:
                return true;
        case SIGMA_N_FALSE:
                return false;
        case SIGMA_N_MATCH:
                return eval_match(c, n);
        default:        /* keyword: any present field */
                for (uint32_t i = 0; i < c->n_fields; i++) {
                        const struct sigma_view *v = &c->views[c->fields[i]];

                        if (v->present && sigma_pat_match_text(&c->r->pats[n->a], v, c->md, c->mctx))
                                return true;
                }
                return false;
        }
}

bool sigma_rule_eval(const struct sigma_rule *r, const struct sigma_view *views, const uint32_t *fields,
                     uint32_t n_fields, pcre2_match_data *md, pcre2_match_context *mctx)
{
        struct ectx c = { r, views, fields, n_fields, md, mctx };

        return eval(&c, r->root);
}

/* ASCII lowercase of n bytes, eight at a time: a byte gets 0x20 added when
 * it is in 'A'..'Z' (computed without branches on the whole word). */
static void lower_copy(char *out, const char *in, uint32_t n)
{
        const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
        uint32_t i = 0;

        for (; i + 8 <= n; i += 8) {
                uint64_t x, low7, ge_a, gt_z;

                memcpy(&x, in + i, 8);
                low7 = x & ~high;
                ge_a = low7 + (0x80 - 'A') * ones;
                gt_z = low7 + (0x80 - 'Z' - 1) * ones;
                x |= ((ge_a ^ gt_z) & ~x & high) >> 2;
                memcpy(out + i, &x, 8);
        }
        for (; i < n; i++) {
                unsigned char ch = (unsigned char)in[i];

                out[i] = (char)((unsigned)(ch - 'A') < 26u ? ch + 32 : ch);
        }
}

/* Every field keeps a share of the budget, so no field is ever cut to
 * nothing (which would read as empty, and match `null`). */
_Static_assert(SIGMA_SCRATCH_TEXT / SIGMA_FIELDS_MAX >= 64, "each field keeps at least 64 bytes of text");

/* Bytes of the used fields that fit the budget when each is cut to `share`. */
static uint64_t views_total(const struct sigma_cat *c, const struct sigma_event *ev, uint32_t share)
{
        uint64_t total = 0;

        for (uint32_t i = 0; i < c->n_fields; i++) {
                const struct sigma_str *in = &ev->fields[c->fields[i]];

                if (in->ptr)
                        total += in->len < share ? in->len : share;
        }
        return total;
}

/* How many bytes each field may keep: all of them when the used fields
 * fit the budget; else the largest share such that they fit when each is
 * cut to it (so one long field cannot crowd out the others, and each keeps
 * at least SIGMA_SCRATCH_TEXT / SIGMA_FIELDS_MAX bytes). */
static uint32_t views_share(const struct sigma_cat *c, const struct sigma_event *ev)
{
        uint32_t lo = SIGMA_SCRATCH_TEXT / SIGMA_FIELDS_MAX, hi = SIGMA_SCRATCH_TEXT;

        if (views_total(c, ev, UINT32_MAX) <= SIGMA_SCRATCH_TEXT)
                return UINT32_MAX;
        while (lo < hi) {
                uint32_t mid = lo + (hi - lo + 1) / 2;

                if (views_total(c, ev, mid) <= SIGMA_SCRATCH_TEXT)
                        lo = mid;
                else
                        hi = mid - 1;
        }
        return lo;
}

/* The used fields of the event, each cut to its share of the budget (a
 * long field is matched on its first bytes) and lowercased. */
static void views_fill(struct sigma_scratch *s, const struct sigma_cat *c, const struct sigma_event *ev)
{
        uint32_t room = SIGMA_SCRATCH_TEXT, share = views_share(c, ev);
        char *out = s->text;

        for (uint32_t i = 0; i < c->n_fields; i++) {
                uint32_t f = c->fields[i];
                const struct sigma_str *in = &ev->fields[f];
                struct sigma_view *v = &s->views[f];
                uint32_t len;

                if (!in->ptr) {
                        *v = absent_view;
                        continue;
                }
                len = in->len < share ? in->len : share;
                len = len < room ? len : room;
                lower_copy(out, in->ptr, len);
                *v = (struct sigma_view){ .orig = len ? in->ptr : "", .low = out, .len = len, .present = true };
                out += len;
                room -= len;
        }
}

int sigma_matcher_match(const struct sigma_matcher *m, struct sigma_scratch *s, const struct sigma_event *ev,
                        sigma_match_fn fn, void *userdata)
{
        const struct sigma_cat *c;
        const uint64_t *always = NULL;
        struct ectx x;
        int n = 0;

        if (!ev || !ev->fields || ev->category >= m->n_cats || s->m != m)
                return -EINVAL;
        c = &m->cats[ev->category];
        if (c->n_rules == 0)
                return 0;
        views_fill(s, c, ev);
        x = (struct ectx){ NULL, s->views, c->fields, c->n_fields, s->md, m->mctx };
        if (c->ix) {
                memset(s->cand, 0, c->n_words * sizeof(uint64_t));
                sigma_index_scan(c->ix, s->views, c->fields, c->n_fields, s->cand);
                always = sigma_index_always(c->ix);
        }
        for (uint32_t w = 0; w < c->n_words; w++) {
                uint64_t bits = c->ix ? s->cand[w] | always[w] : ~0ull;

                if (!c->ix && w == c->n_words - 1 && c->n_rules % 64)
                        bits = (1ull << (c->n_rules % 64)) - 1;
                while (bits) {
                        uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(bits);
                        const struct sigma_rule *r = m->rs->rules[c->rules[i]];

                        bits &= bits - 1;
                        x.r = r;
                        if (!eval(&x, r->root))
                                continue;
                        n++;
                        if (fn && fn(r, userdata))
                                return n;
                }
        }
        return n;
}
