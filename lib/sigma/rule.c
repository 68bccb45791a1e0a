/* rule: one YAML document compiled into a rule.
 *
 * A document is first validated and compiled whole (metadata, detection,
 * condition); only a valid rule is then routed by its logsource. So a rule
 * that breaks the specification is SIGMA_REJECTED even when its logsource
 * is one the caller does not produce, and SIGMA_UNSUPPORTED always means a
 * valid rule for other events. Routing: the rule's product, when given,
 * must be the schema's; its category must be one the schema produces; a
 * rule naming a service, or no category, is unsupported (the caller
 * produces categories of events, not a particular service's log).
 *
 * The detection becomes a tree of nodes: a selection map is an AND of its
 * keys, a list of maps an OR, a value list an OR (an AND with `all`),
 * plain strings are keyword searches; the condition refers to the
 * selections' roots, so a selection named twice is shared, not copied. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigma/sigma-internal.h"

#define UNKNOWN_FIELDS_MAX 256u
#define TAGS_MAX 256u

void sigma_rule_free(struct sigma_rule *r)
{
        if (!r)
                return;
        free(r->id);
        free(r->title);
        free(r->status);
        free(r->description);
        free(r->file);
        for (size_t i = 0; i < r->n_tags; i++)
                free(r->tags[i]);
        free(r->tags);
        for (size_t i = 0; i < r->n_unknown; i++)
                free(r->unknown[i]);
        free(r->unknown);
        for (uint32_t i = 0; i < r->n_pats; i++)
                sigma_pat_release(&r->pats[i]);
        free(r->pats);
        free(r->nodes);
        free(r->kids);
        free(r);
}

static int tmp_push(struct sigma_tmp *t, uint32_t v)
{
        int r = sigma_grow((void **)&t->v, &t->cap, t->n + 1, sizeof(uint32_t), SIGMA_RULE_NODES_MAX);

        if (r < 0)
                return r;
        t->v[t->n++] = v;
        return 0;
}

static int too_big(struct sigma_build *b, int r, unsigned line)
{
        return r == -E2BIG ? sigma_err_set(b->err, line, "rule too large (more than %u nodes or %u values)",
                                           SIGMA_RULE_NODES_MAX, SIGMA_RULE_PATS_MAX) : r;
}

static int node_add(struct sigma_build *b, uint8_t kind, uint32_t field, uint32_t a, uint32_t n,
                    uint32_t *ret)
{
        struct sigma_rule *r = b->r;
        int e;

        e = sigma_grow((void **)&r->nodes, &r->cap_nodes, r->n_nodes + 1, sizeof(*r->nodes),
                       SIGMA_RULE_NODES_MAX);
        if (e < 0)
                return too_big(b, e, 0);
        r->nodes[r->n_nodes] = (struct sigma_node){ .kind = kind, .field = field, .a = a, .n = n };
        *ret = r->n_nodes++;
        return 0;
}

/* An AND or OR over n nodes; one node stands for itself. */
static int group(struct sigma_build *b, uint8_t kind, const uint32_t *v, uint32_t n, uint32_t *ret)
{
        struct sigma_rule *r = b->r;
        uint32_t first = r->n_kids;
        int e;

        if (n == 1) {
                *ret = v[0];
                return 0;
        }
        if (n == 0)
                return node_add(b, kind == SIGMA_N_AND ? SIGMA_N_TRUE : SIGMA_N_FALSE, 0, 0, 0, ret);
        e = sigma_grow((void **)&r->kids, &r->cap_kids, r->n_kids + n, sizeof(uint32_t),
                       SIGMA_RULE_NODES_MAX);
        if (e < 0)
                return too_big(b, e, 0);
        memcpy(r->kids + first, v, n * sizeof(uint32_t));
        r->n_kids += n;
        return node_add(b, kind, 0, first, n, ret);
}

int sigma_build_field(struct sigma_build *b, const char *name, size_t len, unsigned line, uint32_t *ret)
{
        struct sigma_rule *r = b->r;
        uint32_t id = sigma_ruleset_field_lookup(b->rs, name, len);
        char *copy;
        void *p;

        if (len == 0)
                return sigma_err_set(b->err, line, "empty field name");
        *ret = id;
        if (id != SIGMA_FIELD_ABSENT)
                return 0;
        for (size_t i = 0; i < r->n_unknown; i++)
                if (strlen(r->unknown[i]) == len && memcmp(r->unknown[i], name, len) == 0)
                        return 0;
        if (r->n_unknown >= UNKNOWN_FIELDS_MAX)
                return sigma_err_set(b->err, line, "more than %u unknown fields", UNKNOWN_FIELDS_MAX);
        copy = strndup(name, len);
        p = realloc(r->unknown, (r->n_unknown + 1) * sizeof(*r->unknown));
        if (!copy || !p) {
                free(copy);
                if (p)
                        r->unknown = p;
                return -ENOMEM;
        }
        r->unknown = p;
        r->unknown[r->n_unknown++] = copy;
        return 0;
}

int sigma_build_match(struct sigma_build *b, struct sigma_pat *p, bool keyword, struct sigma_tmp *out)
{
        struct sigma_rule *r = b->r;
        uint32_t node;
        int e;

        e = sigma_grow((void **)&r->pats, &r->cap_pats, r->n_pats + 1, sizeof(*r->pats), SIGMA_RULE_PATS_MAX);
        if (e < 0) {
                sigma_pat_release(p);
                return too_big(b, e, 0);
        }
        r->pats[r->n_pats] = *p;
        e = node_add(b, keyword ? SIGMA_N_KEYWORD : SIGMA_N_MATCH, keyword ? 0 : b->field, r->n_pats++, 0, &node);
        if (e < 0)
                return e;
        if (keyword)
                r->has_keywords = true;
        e = tmp_push(out, node);
        return e < 0 ? too_big(b, e, 0) : 0;
}

/* One value of a key: its match nodes (several when it expands) ORed. */
static int build_one_value(struct sigma_build *b, const struct sigma_mods *m, bool keyword,
                           const struct sigma_ynode *v, struct sigma_tmp *out)
{
        struct sigma_tmp t = { 0 };
        uint32_t node;
        int r;

        if (v->type != SIGMA_YSCALAR)
                return sigma_err_set(b->err, v->line, "a value must be a plain value, not a %s",
                                     v->type == SIGMA_YMAP ? "mapping" : "list");
        if (sigma_ynode_is_null(b->d, v))
                return sigma_err_set(b->err, v->line, "null cannot be one of a list of values");
        r = sigma_value_compile(b, m, keyword, sigma_ydoc_str(b->d, v), v->n, v->line, &t);
        if (r >= 0)
                r = group(b, SIGMA_N_OR, t.v, t.n, &node);
        if (r >= 0)
                r = tmp_push(out, node);
        free(t.v);
        return r == -E2BIG ? too_big(b, r, v->line) : r;
}

/* `key: value(s)`; key NULL for a list of keywords. */
static int build_key(struct sigma_build *b, const struct sigma_ynode *key, const struct sigma_ynode *val,
                     uint32_t *ret)
{
        struct sigma_mods m = { 0 };
        struct sigma_tmp t = { 0 };
        bool keyword = true, all;
        uint32_t node, n_vals = val->type == SIGMA_YSEQ ? val->n : 1;
        int r;

        if (key) {
                r = sigma_mods_parse(sigma_ydoc_str(b->d, key), key->n, key->line, &m, b->err);
                if (r < 0)
                        return r;
                keyword = m.field_len == 0;
                if (!keyword) {
                        r = sigma_build_field(b, m.field, m.field_len, key->line, &b->field);
                        if (r < 0)
                                return r;
                } else if (m.bits & (1u << SIGMA_M_EXISTS | 1u << SIGMA_M_FIELDREF)) {
                        return sigma_err_set(b->err, key->line, "modifiers 'exists' and 'fieldref' need a field name");
                }
        }
        all = m.bits & (1u << SIGMA_M_ALL);
        if (val->type == SIGMA_YMAP)
                return sigma_err_set(b->err, val->line, "a field's value cannot be a mapping");
        if (val->type == SIGMA_YSEQ && val->n == 0)
                return sigma_err_set(b->err, val->line, "empty list of values");
        if (all && n_vals < 2)
                return sigma_err_set(b->err, val->line, "modifier 'all' needs a list of at least two values");
        if (val->type == SIGMA_YSCALAR && !keyword) {
                r = sigma_value_special(b, &m, b->d, val, &t);
                if (r <= 0)
                        goto done;
        } else if (m.bits & (1u << SIGMA_M_EXISTS)) {
                r = sigma_err_set(b->err, val->line, "modifier 'exists' needs true or false");
                goto done;
        }
        for (uint32_t i = 0; i < n_vals; i++) {
                const struct sigma_ynode *v = val->type == SIGMA_YSEQ ?
                        sigma_ydoc_node(b->d, b->d->kids[val->first + i]) : val;

                r = build_one_value(b, &m, keyword, v, &t);
                if (r < 0)
                        goto done;
        }
        r = group(b, all ? SIGMA_N_AND : SIGMA_N_OR, t.v, t.n, &node);
        if (r >= 0 && (m.bits & (1u << SIGMA_M_NEQ)))
                r = node_add(b, SIGMA_N_NOT, 0, node, 0, &node);
        t.n = 1;
        t.v[0] = node;
done:
        if (r >= 0)
                *ret = t.v[0];
        free(t.v);
        return r;
}

static int build_map(struct sigma_build *b, const struct sigma_ynode *map, uint32_t *ret)
{
        const struct sigma_ydoc *d = b->d;
        struct sigma_tmp t = { 0 };
        uint32_t node;
        int r = 0;

        if (map->n == 0)
                return sigma_err_set(b->err, map->line, "empty search identifier");
        for (uint32_t k = 0; k < map->n && r >= 0; k += 2) {
                const struct sigma_ynode *key = sigma_ydoc_node(d, d->kids[map->first + k]);

                for (uint32_t j = 0; j < k && r >= 0; j += 2) {
                        const struct sigma_ynode *o = sigma_ydoc_node(d, d->kids[map->first + j]);

                        if (o->n == key->n && memcmp(sigma_ydoc_str(d, o), sigma_ydoc_str(d, key), key->n) == 0)
                                r = sigma_err_set(b->err, key->line, "duplicate key '%.*s'",
                                                  (int)(key->n > 64 ? 64 : key->n), sigma_ydoc_str(d, key));
                }
                if (r >= 0)
                        r = build_key(b, key, sigma_ydoc_node(d, d->kids[map->first + k + 1]), &node);
                if (r >= 0)
                        r = tmp_push(&t, node);
        }
        if (r >= 0)
                r = group(b, SIGMA_N_AND, t.v, t.n, ret);
        free(t.v);
        return r == -E2BIG ? too_big(b, r, map->line) : r;
}

/* A search identifier: a map, a list of maps, keywords. */
static int build_selection(struct sigma_build *b, const struct sigma_ynode *sel, uint32_t *ret)
{
        const struct sigma_ydoc *d = b->d;
        struct sigma_tmp t = { 0 };
        uint32_t node, n_maps = 0;
        int r = 0;

        if (sel->type == SIGMA_YMAP)
                return build_map(b, sel, ret);
        if (sel->type == SIGMA_YSCALAR) {
                if (sigma_ynode_is_null(d, sel))
                        return sigma_err_set(b->err, sel->line, "empty search identifier");
                return build_key(b, NULL, sel, ret);
        }
        if (sel->n == 0)
                return sigma_err_set(b->err, sel->line, "empty search identifier");
        for (uint32_t i = 0; i < sel->n; i++) {
                const struct sigma_ynode *it = sigma_ydoc_node(d, d->kids[sel->first + i]);

                if (it->type == SIGMA_YSEQ)
                        return sigma_err_set(b->err, it->line, "a search identifier cannot hold nested lists");
                n_maps += it->type == SIGMA_YMAP;
        }
        if (n_maps == 0)
                return build_key(b, NULL, sel, ret);
        if (n_maps != sel->n)
                return sigma_err_set(b->err, sel->line, "a search identifier's list mixes maps and plain values");
        for (uint32_t i = 0; i < sel->n && r >= 0; i++) {
                r = build_map(b, sigma_ydoc_node(d, d->kids[sel->first + i]), &node);
                if (r >= 0)
                        r = tmp_push(&t, node);
        }
        if (r >= 0)
                r = group(b, SIGMA_N_OR, t.v, t.n, ret);
        free(t.v);
        return r == -E2BIG ? too_big(b, r, sel->line) : r;
}

/* The condition tree onto the rule's nodes. */
static int lower(struct sigma_build *b, const struct sigma_cond *c, uint32_t ci, const uint32_t *roots,
                 uint32_t *ret)
{
        const struct sigma_cond_node *cn = &c->nodes[ci];
        struct sigma_tmp t = { 0 };
        uint32_t node;
        int r = 0;

        switch (cn->kind) {
        case SIGMA_C_ID:
                *ret = roots[cn->a];
                return 0;
        case SIGMA_C_NOT:
                r = lower(b, c, cn->a, roots, &node);
                return r < 0 ? r : node_add(b, SIGMA_N_NOT, 0, node, 0, ret);
        default:
                break;
        }
        for (uint32_t i = 0; i < cn->n && r >= 0; i++) {
                uint32_t k = c->kids[cn->a + i];

                if (cn->kind == SIGMA_C_ONE_OF || cn->kind == SIGMA_C_ALL_OF)
                        node = roots[k];
                else
                        r = lower(b, c, k, roots, &node);
                if (r >= 0)
                        r = tmp_push(&t, node);
        }
        if (r >= 0)
                r = group(b, cn->kind == SIGMA_C_AND || cn->kind == SIGMA_C_ALL_OF ? SIGMA_N_AND : SIGMA_N_OR,
                          t.v, t.n, ret);
        free(t.v);
        return r == -E2BIG ? too_big(b, r, 0) : r;
}

static int build_condition_one(struct sigma_build *b, const struct sigma_ynode *cn, const char *const *names,
                               uint32_t n_names, const uint32_t *roots, uint32_t *ret)
{
        struct sigma_cond c;
        int r;

        if (cn->type != SIGMA_YSCALAR || sigma_ynode_is_null(b->d, cn))
                return sigma_err_set(b->err, cn->line, "a condition must be a string");
        r = sigma_cond_parse(sigma_ydoc_str(b->d, cn), cn->n, names, n_names, &c, b->err);
        if (r < 0) {
                b->err->line = cn->line;
                return r;
        }
        r = lower(b, &c, c.root, roots, ret);
        sigma_cond_release(&c);
        return r;
}

static int build_condition(struct sigma_build *b, const struct sigma_ynode *cond, const char *const *names,
                           uint32_t n_names, const uint32_t *roots)
{
        struct sigma_tmp t = { 0 };
        uint32_t node;
        int r = 0;

        if (cond->type != SIGMA_YSEQ)
                return build_condition_one(b, cond, names, n_names, roots, &b->r->root);
        if (cond->n == 0)
                return sigma_err_set(b->err, cond->line, "empty list of conditions");
        for (uint32_t i = 0; i < cond->n && r >= 0; i++) {
                r = build_condition_one(b, sigma_ydoc_node(b->d, b->d->kids[cond->first + i]), names, n_names,
                                        roots, &node);
                if (r >= 0)
                        r = tmp_push(&t, node);
        }
        if (r >= 0)
                r = group(b, SIGMA_N_OR, t.v, t.n, &b->r->root);
        free(t.v);
        return r == -E2BIG ? too_big(b, r, cond->line) : r;
}

static int build_detection(struct sigma_build *b, const struct sigma_ynode *det, unsigned key_line)
{
        const struct sigma_ydoc *d = b->d;
        const struct sigma_ynode *cond = NULL;
        const char **names = NULL;
        uint32_t *roots = NULL, n = 0;
        int r = 0;

        if (det->type != SIGMA_YMAP)
                return sigma_err_set(b->err, det->line, "detection must be a mapping");
        if (det->n / 2 > SIGMA_SELECTIONS_MAX + 1)
                return sigma_err_set(b->err, det->line, "more than %u search identifiers", SIGMA_SELECTIONS_MAX);
        names = calloc(det->n / 2 + 1, sizeof(*names));
        roots = calloc(det->n / 2 + 1, sizeof(*roots));
        if (!names || !roots) {
                r = -ENOMEM;
                goto out;
        }
        for (uint32_t k = 0; k < det->n && r >= 0; k += 2) {
                const struct sigma_ynode *key = sigma_ydoc_node(d, d->kids[det->first + k]);
                const struct sigma_ynode *val = sigma_ydoc_node(d, d->kids[det->first + k + 1]);
                const char *name = sigma_ydoc_str(d, key);

                if (strcmp(name, "condition") == 0) {
                        cond = val;
                        continue;
                }
                if (strcmp(name, "timeframe") == 0) {
                        r = sigma_err_set(b->err, key->line, "timeframe (aggregation) is not supported");
                        break;
                }
                for (uint32_t j = 0; j < n && r >= 0; j++)
                        if (strcmp(names[j], name) == 0)
                                r = sigma_err_set(b->err, key->line, "duplicate search identifier '%s'", name);
                if (r >= 0 && (key->n == 0 || strlen(name) != key->n))
                        r = sigma_err_set(b->err, key->line, "bad search identifier name");
                if (r >= 0)
                        r = build_selection(b, val, &roots[n]);
                names[n++] = name;
        }
        if (r >= 0 && !cond)
                r = sigma_err_set(b->err, key_line, "detection has no condition");
        if (r >= 0)
                r = build_condition(b, cond, names, n, roots);
out:
        free(names);
        free(roots);
        return r;
}

static int meta_str(struct sigma_build *b, const struct sigma_ynode *root, const char *key, char **ret,
                    const struct sigma_ynode **ret_node)
{
        const struct sigma_ynode *n = sigma_ydoc_get(b->d, root, key);

        if (ret_node)
                *ret_node = n;
        if (n && n->type != SIGMA_YSCALAR)
                return sigma_err_set(b->err, n->line, "'%s' must be a plain value", key);
        *ret = strdup(n && !sigma_ynode_is_null(b->d, n) ? sigma_ydoc_str(b->d, n) : "");
        return *ret ? 0 : -ENOMEM;
}

static int build_level(struct sigma_build *b, const struct sigma_ynode *root)
{
        static const char *const names[] = { "informational", "low", "medium", "high", "critical" };
        const struct sigma_ynode *n = sigma_ydoc_get(b->d, root, "level");

        b->r->level = SIGMA_LEVEL_MEDIUM;
        if (!n || sigma_ynode_is_null(b->d, n))
                return 0;
        if (n->type == SIGMA_YSCALAR)
                for (int i = 0; i < 5; i++)
                        if (strcmp(sigma_ydoc_str(b->d, n), names[i]) == 0) {
                                b->r->level = (enum sigma_level)(SIGMA_LEVEL_INFORMATIONAL + i);
                                return 0;
                        }
        return sigma_err_set(b->err, n->line, "unknown level '%.64s'",
                             n->type == SIGMA_YSCALAR ? sigma_ydoc_str(b->d, n) : "");
}

static int build_tags(struct sigma_build *b, const struct sigma_ynode *root)
{
        const struct sigma_ynode *n = sigma_ydoc_get(b->d, root, "tags");
        struct sigma_rule *r = b->r;

        if (!n || sigma_ynode_is_null(b->d, n))
                return 0;
        if (n->type != SIGMA_YSEQ)
                return sigma_err_set(b->err, n->line, "tags must be a list");
        if (n->n > TAGS_MAX)
                return sigma_err_set(b->err, n->line, "more than %u tags", TAGS_MAX);
        r->tags = calloc(n->n + 1, sizeof(*r->tags));
        if (!r->tags)
                return -ENOMEM;
        for (uint32_t i = 0; i < n->n; i++) {
                const struct sigma_ynode *t = sigma_ydoc_node(b->d, b->d->kids[n->first + i]);

                if (t->type != SIGMA_YSCALAR)
                        return sigma_err_set(b->err, t->line, "a tag must be a plain value");
                r->tags[i] = strdup(sigma_ydoc_str(b->d, t));
                if (!r->tags[i])
                        return -ENOMEM;
                r->n_tags++;
        }
        return 0;
}

static int build_status(struct sigma_build *b, const struct sigma_ynode *root)
{
        static const char *const ok[] = { "stable", "test", "experimental", "deprecated", "unsupported", "" };
        const struct sigma_ynode *n;
        int r = meta_str(b, root, "status", &b->r->status, &n);

        if (r < 0)
                return r;
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
                if (strcmp(b->r->status, ok[i]) == 0)
                        return 0;
        return sigma_err_set(b->err, n->line, "unknown status '%.64s'", b->r->status);
}

/* Refuses documents that are not detection rules. */
static int check_kind(struct sigma_build *b, const struct sigma_ynode *root)
{
        const struct sigma_ynode *n;

        if ((n = sigma_ydoc_key(b->d, root, "action")))
                return sigma_err_set(b->err, n->line, "rule collections (action:) are not supported by this engine");
        if ((n = sigma_ydoc_key(b->d, root, "correlation")))
                return sigma_err_set(b->err, n->line, "correlation rules are not supported by this engine");
        if ((n = sigma_ydoc_key(b->d, root, "filter")))
                return sigma_err_set(b->err, n->line, "Sigma filters are not supported by this engine");
        n = sigma_ydoc_get(b->d, root, "taxonomy");
        if (n && (n->type != SIGMA_YSCALAR || strcmp(sigma_ydoc_str(b->d, n), "sigma") != 0))
                return sigma_err_set(b->err, n->line, "only the 'sigma' taxonomy is supported");
        return 0;
}

static int build_meta(struct sigma_build *b, const struct sigma_ynode *root)
{
        struct sigma_rule *r = b->r;
        const struct sigma_ynode *n;
        int e;

        e = check_kind(b, root);
        if (e < 0)
                return e;
        e = meta_str(b, root, "title", &r->title, &n);
        if (e < 0)
                return e;
        if (!n || r->title[0] == '\0')
                return sigma_err_set(b->err, n ? n->line : b->d->line, "rule has no title");
        if (strlen(r->title) > SIGMA_TITLE_MAX)
                return sigma_err_set(b->err, n->line, "title longer than %u characters", SIGMA_TITLE_MAX);
        e = meta_str(b, root, "id", &r->id, &n);
        if (e < 0)
                return e;
        r->id_line = n ? n->line : 0;
        e = meta_str(b, root, "description", &r->description, NULL);
        if (e >= 0)
                e = build_status(b, root);
        if (e >= 0)
                e = build_level(b, root);
        if (e >= 0)
                e = build_tags(b, root);
        return e;
}

/* Routing by logsource; the rule is valid by now. */
static int route(struct sigma_build *b, const struct sigma_ynode *ls)
{
        const struct sigma_schema *sc = b->rs->schema;
        static const char *const keys[] = { "product", "category", "service" };
        const char *v[3] = { NULL, NULL, NULL };
        char desc[SIGMA_REASON_MAX] = "";
        size_t off = 0;

        for (int i = 0; i < 3; i++) {
                const struct sigma_ynode *n = sigma_ydoc_get(b->d, ls, keys[i]);

                if (n && !sigma_ynode_is_null(b->d, n))
                        v[i] = sigma_ydoc_str(b->d, n);
                if (v[i] && off < sizeof(desc))
                        off += (size_t)snprintf(desc + off, sizeof(desc) - off, " %s=%.60s", keys[i], v[i]);
        }
        if ((!v[0] || !sc->product || strcmp(v[0], sc->product) == 0) && v[1] && !v[2])
                for (size_t i = 0; i < sc->n_categories; i++)
                        if (strcmp(sc->categories[i], v[1]) == 0) {
                                b->r->category = (uint32_t)i;
                                return SIGMA_LOADED;
                        }
        sigma_err_set(b->err, sigma_ydoc_key(b->d, sigma_ydoc_node(b->d, b->d->root), "logsource")->line,
                      "logsource%s is not produced", off ? desc : " (empty)");
        return SIGMA_UNSUPPORTED;
}

static int check_logsource(struct sigma_build *b, const struct sigma_ynode *ls, unsigned line)
{
        if (!ls)
                return sigma_err_set(b->err, line, "rule has no logsource");
        if (ls->type != SIGMA_YMAP)
                return sigma_err_set(b->err, ls->line, "logsource must be a mapping");
        if (ls->n == 0)
                return sigma_err_set(b->err, ls->line, "empty logsource");
        for (uint32_t k = 1; k < ls->n; k += 2)
                if (sigma_ydoc_node(b->d, b->d->kids[ls->first + k])->type != SIGMA_YSCALAR)
                        return sigma_err_set(b->err, sigma_ydoc_node(b->d, b->d->kids[ls->first + k])->line,
                                             "logsource values must be plain values");
        return 0;
}

int sigma_rule_build(const struct sigma_ruleset *rs, const struct sigma_ydoc *doc, const char *file,
                     struct sigma_rule **ret, struct sigma_err *err)
{
        const struct sigma_ynode *root = sigma_ydoc_node(doc, doc->root), *ls, *det;
        struct sigma_build b = { .rs = rs, .d = doc, .err = err };
        int r;

        if (root->type != SIGMA_YMAP)
                return sigma_err_set(err, root->line, "a rule must be a YAML mapping"), SIGMA_REJECTED;
        b.r = calloc(1, sizeof(*b.r));
        if (!b.r)
                return -ENOMEM;
        b.r->line = doc->line ? doc->line : root->line;
        b.r->file = strdup(file);
        r = b.r->file ? build_meta(&b, root) : -ENOMEM;
        ls = sigma_ydoc_get(doc, root, "logsource");
        if (r >= 0)
                r = check_logsource(&b, ls, root->line);
        det = sigma_ydoc_get(doc, root, "detection");
        if (r >= 0 && !det)
                r = sigma_err_set(err, root->line, "rule has no detection");
        if (r >= 0)
                r = build_detection(&b, det, sigma_ydoc_key(doc, root, "detection")->line);
        if (r == -ENOMEM) {
                sigma_rule_free(b.r);
                return r;
        }
        if (r < 0) {
                if (err->line == 0)
                        err->line = b.r->line;
                sigma_rule_free(b.r);
                return SIGMA_REJECTED;
        }
        b.r->load_status = route(&b, ls);
        *ret = b.r;
        return b.r->load_status;
}
