/* index: which rules of a category an event may match, found without
 * evaluating them.
 *
 * For each rule we derive a set of "anchor atoms" (field, literal, kind:
 * exact, prefix, suffix or substring) such that the rule can only match
 * when at least one atom matches: a value contributes the literal it needs
 * (a glob its longest literal run); an AND needs only its most selective
 * bounded child; an OR needs the union of its children; a NOT, a regular
 * expression, a CIDR, a number, an existence or null test or a field
 * reference bounds nothing by itself (an AND sibling may). Literals are
 * lowercased (the event text the index sees is lowercase, so a `cased`
 * value anchors too) and cut to SIGMA_ANCHOR_LIT_MAX bytes; literals too
 * short to be selective do not anchor. A rule with no bounded set is
 * evaluated on every event.
 *
 * Per field, exact and prefix atoms go into an anchored trie run from the
 * text's start, suffix atoms into a trie of reversed literals run from its
 * end, substring atoms into an Aho-Corasick DFA; keyword atoms into one
 * DFA run over every field. A hit marks its atom's rules in a bitset. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sigma/sigma-internal.h"

#define KW_FIELD (UINT32_MAX - 1)
#define POOL_MAX (1u << 24)

struct aitem {
        uint32_t field;
        uint8_t kind;
        uint32_t off, len;      /* in the literal pool */
        uint32_t rule;
};

struct aset {
        bool unbounded;
        double weight;
        uint32_t start, n;
};

struct apool {
        struct aitem *v;
        uint32_t n, cap;
        char *lit;
        uint32_t n_lit, cap_lit;
};

struct atom {
        uint32_t field;
        uint8_t kind;
        uint32_t first, n;      /* in atom_rules */
};

struct ix_field {
        uint32_t field;
        struct sigma_dfa *dfa[3];       /* prefix/exact trie, suffix trie, substring AC */
        uint32_t *map[3];               /* dfa output -> atom */
};

struct sigma_index {
        uint32_t n_rules, n_words, n_always;
        uint64_t *always;
        struct atom *atoms;
        uint32_t n_atoms;
        uint32_t *atom_rules;
        struct ix_field *fields;
        uint32_t n_fields;
        struct sigma_dfa *kw;
        uint32_t *kw_map;
};

struct actx {
        const struct sigma_rule *r;
        struct apool *pool;
};

/* --- anchors of one rule ---------------------------------------------------------- */

/* Exact values that most events carry: anchoring on them marks nearly
 * every event, so they weigh like a one-byte substring. */
static bool common_value(const char *lit, const uint16_t *tok, uint32_t len)
{
        static const char *const common[] = { "true", "false", "yes", "no", "0", "1", "tcp", "udp", "root" };
        char buf[8];

        if (len >= sizeof(buf))
                return false;
        for (uint32_t i = 0; i < len; i++) {
                unsigned char c = lit ? (unsigned char)lit[i] : (unsigned char)tok[i];

                buf[i] = (char)((unsigned)(c - 'A') < 26u ? c + 32 : c);
        }
        buf[len] = '\0';
        for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
                if (strcmp(buf, common[i]) == 0)
                        return true;
        return false;
}

/* The weight of an atom estimates how often it matches: a substring can
 * match anywhere in a long text, an exact value or an end only at one
 * place, so they weigh less for the same length. */
static double atom_weight(uint8_t kind, uint32_t len)
{
        static const double factor[4] = { 0.05, 0.1, 0.1, 1.0 };

        return factor[kind] / (double)len;
}

static int leaf_atom(struct actx *a, uint32_t field, uint8_t kind, const char *lit, const uint16_t *tok,
                     uint32_t len, struct aset *ret)
{
        static const uint32_t min_len[4] = { 1, 2, 2, 3 };
        struct apool *p = a->pool;
        bool common = kind == SIGMA_P_EXACT && common_value(lit, tok, len);
        uint32_t from = 0;
        int r;

        if (field == KW_FIELD)
                kind = SIGMA_P_CONTAINS;
        if (len > SIGMA_ANCHOR_LIT_MAX) {
                if (kind == SIGMA_P_EXACT)
                        kind = SIGMA_P_PREFIX;
                if (kind == SIGMA_P_SUFFIX)
                        from = len - SIGMA_ANCHOR_LIT_MAX;
                len = SIGMA_ANCHOR_LIT_MAX;
        }
        if (len < min_len[kind]) {
                *ret = (struct aset){ .unbounded = true };
                return 0;
        }
        r = sigma_grow((void **)&p->v, &p->cap, p->n + 1, sizeof(*p->v), POOL_MAX);
        if (r >= 0)
                r = sigma_grow((void **)&p->lit, &p->cap_lit, p->n_lit + len, 1, POOL_MAX * 4);
        if (r < 0)
                return r;
        for (uint32_t i = 0; i < len; i++) {
                unsigned char c = lit ? (unsigned char)lit[from + i] : (unsigned char)tok[from + i];

                p->lit[p->n_lit + i] = (char)((unsigned)(c - 'A') < 26u ? c + 32 : c);
        }
        p->v[p->n] = (struct aitem){ .field = field, .kind = kind, .off = p->n_lit, .len = len };
        p->n_lit += len;
        *ret = (struct aset){ .weight = common ? 1.0 : atom_weight(kind, len), .start = p->n++, .n = 1 };
        return 0;
}

/* Skips a valid `{n}`, `{n,}` or `{n,m}` quantifier at re[i]; returns the
 * index past it and its minimum through ret_min, or 0 if it is none. */
static size_t re_quant_brace(const char *re, size_t len, size_t i, unsigned *ret_min)
{
        size_t j = i + 1;
        unsigned min = 0;

        if (j >= len || re[j] < '0' || re[j] > '9')
                return 0;
        while (j < len && re[j] >= '0' && re[j] <= '9')
                min = min < 100000 ? min * 10 + (unsigned)(re[j++] - '0') : min;
        if (j < len && re[j] == ',')
                for (j++; j < len && re[j] >= '0' && re[j] <= '9'; j++)
                        ;
        if (j >= len || re[j] != '}')
                return 0;
        *ret_min = min;
        return j + 1;
}

/* Index past the character class or group that starts at re[i], or 0 when
 * it does not end. */
static size_t re_skip(const char *re, size_t len, size_t i)
{
        int depth = 0;

        while (i < len) {
                char c = re[i];

                if (c == '\\') {
                        i += 2;
                } else if (c == '[') {
                        i++;
                        if (i < len && re[i] == '^')
                                i++;
                        if (i < len && re[i] == ']')
                                i++;
                        while (i < len && re[i] != ']') {
                                if (re[i] == '[' && i + 1 < len && re[i + 1] == ':') {
                                        const char *e = memmem(re + i + 2, len - i - 2, ":]", 2);

                                        if (!e)
                                                return 0;
                                        i = (size_t)(e - re) + 2;
                                        continue;
                                }
                                i += re[i] == '\\' ? 2 : 1;
                        }
                        if (i >= len)
                                return 0;
                        i++;
                        if (depth == 0)
                                return i;
                } else {
                        depth += c == '(' ? 1 : c == ')' ? -1 : 0;
                        i++;
                        if (depth == 0)
                                return i;
                }
        }
        return 0;
}

/* Skips the quantifier (with its lazy or possessive mark) after an item
 * ending at re[i]; lowers *min to 0 for an optional one. Returns the index
 * past it (i when there is none), or 0 for a malformed one. */
static size_t re_quantifier(const char *re, size_t len, size_t i, unsigned *min)
{
        size_t q = i;

        if (q < len && (re[q] == '*' || re[q] == '?')) {
                *min = 0;
                q++;
        } else if (q < len && re[q] == '+') {
                q++;
        } else if (q < len && re[q] == '{') {
                q = re_quant_brace(re, len, q, min);
                if (!q)
                        return 0;
        }
        if (q > i && q < len && (re[q] == '?' || re[q] == '+'))
                q++;
        return q;
}

/* The longest run of literal bytes every match of a regular expression
 * contains, found at its top level only and conservatively: any construct
 * this does not understand gives no literal (returns 0). */
static uint32_t re_literal(const char *re, size_t len, char *out, uint32_t cap)
{
        char cur[SIGMA_ANCHOR_LIT_MAX];
        uint32_t run = 0, best = 0;
        size_t i = 0;

        if (memmem(re, len, "(?", 2) || memmem(re, len, "\\Q", 2) || memmem(re, len, "\\E", 2))
                return 0;
        while (i <= len) {
                unsigned char c = i < len ? (unsigned char)re[i] : 0;
                size_t next = i + 1, q;
                bool literal = false;
                unsigned min = 1;

                if (i == len) {
                        next = len + 1;
                } else if (c == '\\') {
                        if (i + 1 >= len)
                                return 0;
                        c = (unsigned char)re[i + 1];
                        next = i + 2;
                        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
                                literal = c < 0x80;
                        else if (!strchr("sSdDwWhHvVRbBAzZGtnrfea", (char)c))
                                return 0;       /* \x41, \p{..}, back references ... */
                } else if (c == '[' || c == '(') {
                        next = re_skip(re, len, i);
                        if (!next)
                                return 0;
                } else if (c == '|' || c == ')') {
                        return 0;
                } else if (c == '{') {
                        next = re_quant_brace(re, len, i, &min);
                        if (!next)
                                return 0;
                } else {
                        literal = c < 0x80 && !strchr(".^$*+?", (char)c);
                }
                q = i == len ? next : re_quantifier(re, len, next, &min);
                if (!q)
                        return 0;
                if (literal && min > 0 && run < sizeof(cur))
                        cur[run++] = (char)c;
                if (!literal || min == 0 || q > next || i == len) {
                        if (run > best && run <= cap) {
                                memcpy(out, cur, run);
                                best = run;
                        }
                        run = 0;
                }
                i = q;
        }
        return best;
}

/* A regular expression anchors on its longest mandatory literal. */
static int re_atom(struct actx *a, uint32_t field, const struct sigma_pat *p, struct aset *ret)
{
        char lit[SIGMA_ANCHOR_LIT_MAX];
        uint32_t n = re_literal(p->lit, p->len, lit, sizeof(lit));

        if (n < 3) {
                *ret = (struct aset){ .unbounded = true };
                return 0;
        }
        return leaf_atom(a, field, SIGMA_P_CONTAINS, lit, NULL, n, ret);
}

/* A glob's longest literal run, anchored where the run touches an end. */
static int glob_atom(struct actx *a, uint32_t field, const struct sigma_pat *p, struct aset *ret)
{
        uint32_t best = 0, best_len = 0, i = 0;
        uint8_t kind;

        while (i < p->len) {
                uint32_t j = i;

                while (j < p->len && p->tok[j] < 256)
                        j++;
                if (j - i > best_len) {
                        best = i;
                        best_len = j - i;
                }
                i = j + 1;
        }
        if (best_len == 0) {
                *ret = (struct aset){ .unbounded = true };
                return 0;
        }
        kind = best == 0 ? (best + best_len == p->len ? SIGMA_P_EXACT : SIGMA_P_PREFIX) :
               (best + best_len == p->len ? SIGMA_P_SUFFIX : SIGMA_P_CONTAINS);
        return leaf_atom(a, field, kind, NULL, p->tok + best, best_len, ret);
}

static int leaf(struct actx *a, const struct sigma_node *n, struct aset *ret)
{
        const struct sigma_pat *p = &a->r->pats[n->a];
        uint32_t field = n->kind == SIGMA_N_KEYWORD ? KW_FIELD : n->field;
        bool never = field == SIGMA_FIELD_ABSENT;

        if (p->kind == SIGMA_P_NULL || (p->kind == SIGMA_P_EXISTS && !p->op))
                never = false;  /* true for absent fields */
        if (p->kind == SIGMA_P_FIELDREF && p->ref == SIGMA_FIELD_ABSENT)
                never = true;
        if (never) {
                *ret = (struct aset){ .start = a->pool->n };
                return 0;
        }
        switch (p->kind) {
        case SIGMA_P_EXACT: case SIGMA_P_PREFIX: case SIGMA_P_SUFFIX: case SIGMA_P_CONTAINS:
                return leaf_atom(a, field, p->kind, p->lit, NULL, p->len, ret);
        case SIGMA_P_GLOB:
                return glob_atom(a, field, p, ret);
        case SIGMA_P_RE:
                return re_atom(a, field, p, ret);
        default:
                *ret = (struct aset){ .unbounded = true };
                return 0;
        }
}

static int anchors(struct actx *a, uint32_t ni, struct aset *ret);

static int anchors_and(struct actx *a, const struct sigma_node *n, struct aset *ret)
{
        struct apool *p = a->pool;
        struct aset best = { .unbounded = true, .start = p->n }, sub;
        uint32_t start = p->n;
        int r;

        for (uint32_t i = 0; i < n->n; i++) {
                r = anchors(a, a->r->kids[n->a + i], &sub);
                if (r < 0)
                        return r;
                if (!sub.unbounded && (best.unbounded || sub.weight < best.weight)) {
                        if (sub.n)
                                memmove(p->v + start, p->v + sub.start, sub.n * sizeof(*p->v));
                        best = (struct aset){ .weight = sub.weight, .start = start, .n = sub.n };
                }
                p->n = best.unbounded ? start : start + best.n;
                if (!best.unbounded && best.n == 0)
                        break;  /* this AND never matches */
        }
        *ret = best;
        return 0;
}

static int anchors_or(struct actx *a, const struct sigma_node *n, struct aset *ret)
{
        struct apool *p = a->pool;
        struct aset all = { .start = p->n }, sub;
        int r;

        for (uint32_t i = 0; i < n->n; i++) {
                r = anchors(a, a->r->kids[n->a + i], &sub);
                if (r < 0)
                        return r;
                if (sub.unbounded || p->n - all.start > SIGMA_ANCHORS_RULE_MAX) {
                        p->n = all.start;
                        *ret = (struct aset){ .unbounded = true, .start = all.start };
                        return 0;
                }
                all.weight += sub.weight;
        }
        all.n = p->n - all.start;
        *ret = all;
        return 0;
}

static int anchors(struct actx *a, uint32_t ni, struct aset *ret)
{
        const struct sigma_node *n = &a->r->nodes[ni];

        switch (n->kind) {
        case SIGMA_N_AND:
                return anchors_and(a, n, ret);
        case SIGMA_N_OR:
                return anchors_or(a, n, ret);
        case SIGMA_N_FALSE:
                *ret = (struct aset){ .start = a->pool->n };
                return 0;
        case SIGMA_N_MATCH:
        case SIGMA_N_KEYWORD:
                return leaf(a, n, ret);
        default:        /* NOT, TRUE */
                *ret = (struct aset){ .unbounded = true, .start = a->pool->n };
                return 0;
        }
}

/* --- building ------------------------------------------------------------------------ */

static int item_cmp(const void *x, const void *y, void *pool)
{
        const struct aitem *a = x, *b = y;
        const char *lit = pool;
        int c;

        if (a->field != b->field)
                return a->field < b->field ? -1 : 1;
        if (a->kind != b->kind)
                return a->kind < b->kind ? -1 : 1;
        if (a->len != b->len)
                return a->len < b->len ? -1 : 1;
        c = memcmp(lit + a->off, lit + b->off, a->len);
        if (c)
                return c;
        return a->rule < b->rule ? -1 : a->rule > b->rule;
}

static bool item_same_atom(const struct aitem *a, const struct aitem *b, const char *lit)
{
        return a->field == b->field && a->kind == b->kind && a->len == b->len &&
               memcmp(lit + a->off, lit + b->off, a->len) == 0;
}

/* Unique atoms with their rule lists, from the sorted items; item_atom[i]
 * is the atom of item i. */
static int atoms_build(struct sigma_index *ix, const struct apool *p, uint32_t *item_atom)
{
        ix->atoms = calloc(p->n + 1, sizeof(*ix->atoms));
        ix->atom_rules = malloc((p->n + 1) * sizeof(uint32_t));
        if (!ix->atoms || !ix->atom_rules)
                return -ENOMEM;
        for (uint32_t i = 0, n_rules = 0; i < p->n; i++) {
                const struct aitem *it = &p->v[i];
                bool same = i > 0 && item_same_atom(it, &p->v[i - 1], p->lit);

                if (!same)
                        ix->atoms[ix->n_atoms++] = (struct atom){ .field = it->field, .kind = it->kind,
                                                                  .first = n_rules };
                item_atom[i] = ix->n_atoms - 1;
                if (same && it->rule == p->v[i - 1].rule)
                        continue;
                ix->atom_rules[n_rules++] = it->rule;
                ix->atoms[ix->n_atoms - 1].n++;
        }
        return 0;
}

/* One automaton over the atoms of items [from, to) whose kinds are in
 * `kinds`; *ret stays NULL when there are none. */
static int dfa_build(const struct apool *p, const uint32_t *item_atom, uint32_t from, uint32_t to,
                     uint32_t kinds, enum sigma_dfa_mode mode, bool rev, struct sigma_dfa **ret,
                     uint32_t **ret_map)
{
        const char **lits = malloc((to - from + 1) * sizeof(*lits));
        uint32_t *lens = malloc((to - from + 1) * sizeof(*lens)), *map = malloc((to - from + 1) * sizeof(*map));
        char *buf = rev ? malloc(p->n_lit + 1) : NULL;
        uint32_t n = 0;
        int r = 0;

        *ret = NULL;
        if (!lits || !lens || !map || (rev && !buf)) {
                r = -ENOMEM;
                goto out;
        }
        for (uint32_t i = from; i < to; i++) {
                const struct aitem *it = &p->v[i];

                if (!(kinds & (1u << it->kind)) || (i > from && item_atom[i] == item_atom[i - 1]))
                        continue;
                lits[n] = rev ? buf + it->off : p->lit + it->off;
                if (rev)
                        for (uint32_t k = 0; k < it->len; k++)
                                buf[it->off + k] = p->lit[it->off + it->len - 1 - k];
                lens[n] = it->len;
                map[n++] = item_atom[i];
        }
        if (n)
                r = sigma_dfa_new(mode, lits, lens, n, ret);
        if (r >= 0 && n) {
                *ret_map = map;
                map = NULL;
        }
out:
        free(lits);
        free(lens);
        free(map);
        free(buf);
        return r;
}

/* The automata: per field, and the keyword one. */
static int automata_build(struct sigma_index *ix, const struct apool *p, const uint32_t *item_atom)
{
        static const uint32_t kinds[3] = { 1u << SIGMA_P_EXACT | 1u << SIGMA_P_PREFIX, 1u << SIGMA_P_SUFFIX,
                                           1u << SIGMA_P_CONTAINS };
        uint32_t i = 0;
        int r;

        ix->fields = calloc(p->n + 1, sizeof(*ix->fields));
        if (!ix->fields)
                return -ENOMEM;
        while (i < p->n) {
                uint32_t j = i, f = p->v[i].field;

                while (j < p->n && p->v[j].field == f)
                        j++;
                if (f == KW_FIELD) {
                        r = dfa_build(p, item_atom, i, j, ~0u, SIGMA_DFA_AC, false, &ix->kw, &ix->kw_map);
                        if (r < 0)
                                return r;
                } else {
                        struct ix_field *xf = &ix->fields[ix->n_fields++];

                        xf->field = f;
                        for (int k = 0; k < 3; k++) {
                                r = dfa_build(p, item_atom, i, j, kinds[k], k == 2 ? SIGMA_DFA_AC : SIGMA_DFA_TRIE,
                                              k == 1, &xf->dfa[k], &xf->map[k]);
                                if (r < 0)
                                        return r;
                        }
                }
                i = j;
        }
        return 0;
}

/* Keeps only the literals of the items from `start` on, packed from
 * lit_start: what the discarded branches of a rule wrote is dropped. */
static int pool_compact(struct apool *p, uint32_t start, uint32_t lit_start)
{
        uint32_t total = 0, o = 0;
        char *tmp;

        for (uint32_t k = start; k < p->n; k++)
                total += p->v[k].len;
        tmp = malloc(total + 1);
        if (!tmp)
                return -ENOMEM;
        for (uint32_t k = start; k < p->n; k++) {
                memcpy(tmp + o, p->lit + p->v[k].off, p->v[k].len);
                p->v[k].off = lit_start + o;
                o += p->v[k].len;
        }
        if (total)
                memcpy(p->lit + lit_start, tmp, total);
        p->n_lit = lit_start + total;
        free(tmp);
        return 0;
}

/* Anchors of every rule into the pool; rules without any into `always`. */
static int rules_anchor(struct sigma_index *ix, const struct sigma_ruleset *rs, const uint32_t *rules,
                        struct apool *p)
{
        for (uint32_t i = 0; i < ix->n_rules; i++) {
                struct actx a = { .r = rs->rules[rules[i]], .pool = p };
                uint32_t start = p->n, lit_start = p->n_lit;
                struct aset set;
                int r;

                r = anchors(&a, a.r->root, &set);
                if (r < 0)
                        return r;
                if (set.unbounded || set.n > SIGMA_ANCHORS_RULE_MAX) {
                        p->n = start;
                        p->n_lit = lit_start;
                        ix->always[i / 64] |= 1ull << (i % 64);
                        ix->n_always++;
                        continue;
                }
                if (set.n)
                        memmove(p->v + start, p->v + set.start, set.n * sizeof(*p->v));
                p->n = start + set.n;
                for (uint32_t k = start; k < p->n; k++)
                        p->v[k].rule = i;
                r = pool_compact(p, start, lit_start);
                if (r < 0)
                        return r;
        }
        return 0;
}

int sigma_index_new(const struct sigma_ruleset *rs, const uint32_t *rules, uint32_t n_rules,
                    struct sigma_index **ret)
{
        struct sigma_index *ix = calloc(1, sizeof(*ix));
        struct apool p = { 0 };
        uint32_t *item_atom = NULL;
        int r;

        if (!ix)
                return -ENOMEM;
        ix->n_rules = n_rules;
        ix->n_words = (n_rules + 63) / 64;
        ix->always = calloc(ix->n_words + 1, sizeof(uint64_t));
        r = ix->always ? rules_anchor(ix, rs, rules, &p) : -ENOMEM;
        if (r < 0)
                goto out;
        if (p.n)
                qsort_r(p.v, p.n, sizeof(*p.v), item_cmp, p.lit);
        item_atom = malloc((p.n + 1) * sizeof(uint32_t));
        r = item_atom ? atoms_build(ix, &p, item_atom) : -ENOMEM;
        if (r >= 0)
                r = automata_build(ix, &p, item_atom);
out:
        free(item_atom);
        free(p.v);
        free(p.lit);
        if (r < 0) {
                sigma_index_free(ix);
                return r;
        }
        *ret = ix;
        return 0;
}

void sigma_index_free(struct sigma_index *ix)
{
        if (!ix)
                return;
        for (uint32_t i = 0; i < ix->n_fields; i++)
                for (int k = 0; k < 3; k++) {
                        sigma_dfa_free(ix->fields[i].dfa[k]);
                        free(ix->fields[i].map[k]);
                }
        free(ix->fields);
        sigma_dfa_free(ix->kw);
        free(ix->kw_map);
        free(ix->atoms);
        free(ix->atom_rules);
        free(ix->always);
        free(ix);
}

const uint64_t *sigma_index_always(const struct sigma_index *ix)
{
        return ix->always;
}

void sigma_index_stats(const struct sigma_index *ix, uint32_t *ret_always, uint32_t *ret_atoms,
                       size_t *ret_bytes)
{
        size_t bytes = ix->kw ? sigma_dfa_bytes(ix->kw) : 0;

        for (uint32_t i = 0; i < ix->n_fields; i++)
                for (int k = 0; k < 3; k++)
                        if (ix->fields[i].dfa[k])
                                bytes += sigma_dfa_bytes(ix->fields[i].dfa[k]);
        *ret_always = ix->n_always;
        *ret_atoms = ix->n_atoms;
        *ret_bytes = bytes;
}

/* --- scanning ----------------------------------------------------------------------------- */

struct scan {
        const struct sigma_index *ix;
        const uint32_t *map;
        uint64_t *cand;
        uint32_t len;
};

static void scan_hit(uint32_t id, uint32_t end, void *userdata)
{
        struct scan *s = userdata;
        const struct atom *a = &s->ix->atoms[s->map[id]];
        const uint32_t *rules = s->ix->atom_rules + a->first;

        if (a->kind == SIGMA_P_EXACT && end != s->len)
                return;
        for (uint32_t i = 0; i < a->n; i++)
                s->cand[rules[i] / 64] |= 1ull << (rules[i] % 64);
}

void sigma_index_scan(const struct sigma_index *ix, const struct sigma_view *views, const uint32_t *fields,
                      uint32_t n, uint64_t *cand)
{
        struct scan s = { .ix = ix, .cand = cand };

        for (uint32_t i = 0; i < ix->n_fields; i++) {
                const struct ix_field *xf = &ix->fields[i];
                const struct sigma_view *v = &views[xf->field];

                if (!v->present)
                        continue;
                s.len = v->len;
                for (int k = 0; k < 3; k++) {
                        if (!xf->dfa[k])
                                continue;
                        s.map = xf->map[k];
                        sigma_dfa_run(xf->dfa[k], v->low, v->len, k == 1, scan_hit, &s);
                }
        }
        if (!ix->kw)
                return;
        s.map = ix->kw_map;
        for (uint32_t i = 0; i < n; i++) {
                const struct sigma_view *v = &views[fields[i]];

                if (v->present) {
                        s.len = v->len;
                        sigma_dfa_run(ix->kw, v->low, v->len, false, scan_hit, &s);
                }
        }
}
