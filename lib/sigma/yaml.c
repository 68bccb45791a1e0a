/* yaml: a small, bounded document tree built from libyaml's event API.
 *
 * Rule files come from outside, so the tree has caps on nesting, node count
 * and scalar size, and YAML aliases are refused outright (an alias could
 * make a small file expand into a huge tree: "billion laughs"). Anchors
 * alone are harmless and ignored. Each node keeps its 1-based line so that
 * a rejection can point at the offending place. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "sigma/sigma-internal.h"

struct sigma_yparser {
        yaml_parser_t parser;
        bool done;
};

int sigma_err_set(struct sigma_err *err, unsigned line, const char *fmt, ...)
{
        va_list ap;

        err->line = line;
        va_start(ap, fmt);
        vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
        va_end(ap);
        return -EINVAL;
}

int sigma_grow(void **p, uint32_t *cap, uint32_t need, size_t elsize, uint32_t max)
{
        uint32_t n;
        void *q;

        if (need <= *cap)
                return 0;
        if (need > max)
                return -E2BIG;
        n = *cap ? *cap : 8;
        while (n < need)
                n = n > max / 2 ? max : n * 2;
        q = realloc(*p, (size_t)n * elsize);
        if (!q)
                return -ENOMEM;
        *p = q;
        *cap = n;
        return 0;
}

int sigma_yparser_new(const char *buf, size_t len, struct sigma_yparser **ret)
{
        struct sigma_yparser *yp = calloc(1, sizeof(*yp));

        if (!yp)
                return -ENOMEM;
        if (!yaml_parser_initialize(&yp->parser)) {
                free(yp);
                return -ENOMEM;
        }
        yaml_parser_set_input_string(&yp->parser, (const unsigned char *)buf, len);
        *ret = yp;
        return 0;
}

void sigma_yparser_free(struct sigma_yparser *yp)
{
        if (!yp)
                return;
        yaml_parser_delete(&yp->parser);
        free(yp);
}

void sigma_ydoc_release(struct sigma_ydoc *doc)
{
        free(doc->nodes);
        free(doc->kids);
        free(doc->text);
        free(doc->stack);
        free(doc->tmp);
        memset(doc, 0, sizeof(*doc));
}

static void ydoc_reset(struct sigma_ydoc *doc)
{
        doc->n_nodes = doc->n_kids = doc->n_text = doc->n_tmp = 0;
        doc->depth = 0;
        doc->root = UINT32_MAX;
        doc->line = 0;
}

/* Appends a node and makes it a child of the open container, if any. */
static int ydoc_add(struct sigma_ydoc *doc, uint8_t type, unsigned line, uint32_t *ret)
{
        int r;

        r = sigma_grow((void **)&doc->nodes, &doc->cap_nodes, doc->n_nodes + 1,
                       sizeof(*doc->nodes), SIGMA_YAML_NODES_MAX);
        if (r < 0)
                return r;
        r = sigma_grow((void **)&doc->tmp, &doc->cap_tmp, doc->n_tmp + 1, sizeof(uint32_t),
                       SIGMA_YAML_NODES_MAX);
        if (r < 0)
                return r;
        doc->nodes[doc->n_nodes] = (struct sigma_ynode){ .type = type, .line = line };
        if (doc->depth == 0)
                doc->root = doc->n_nodes;
        else
                doc->tmp[doc->n_tmp++] = doc->n_nodes;
        *ret = doc->n_nodes++;
        return 0;
}

static int ydoc_scalar(struct sigma_ydoc *doc, const yaml_event_t *ev, struct sigma_err *err)
{
        size_t len = ev->data.scalar.length;
        unsigned line = (unsigned)ev->start_mark.line + 1;
        uint32_t i;
        int r;

        if (len > SIGMA_SCALAR_MAX)
                return sigma_err_set(err, line, "scalar longer than %u bytes", SIGMA_SCALAR_MAX);
        r = ydoc_add(doc, SIGMA_YSCALAR, line, &i);
        if (r < 0)
                return r == -E2BIG ? sigma_err_set(err, line, "more than %u YAML nodes",
                                                   SIGMA_YAML_NODES_MAX) : r;
        /* text is at most a few times the 1 MiB file: nodes and scalars are capped */
        r = sigma_grow((void **)&doc->text, &doc->cap_text, doc->n_text + (uint32_t)len + 1, 1,
                       UINT32_MAX / 2);
        if (r < 0)
                return r == -E2BIG ? sigma_err_set(err, line, "document too large") : r;
        memcpy(doc->text + doc->n_text, ev->data.scalar.value, len);
        doc->text[doc->n_text + len] = '\0';
        doc->nodes[i].first = doc->n_text;
        doc->nodes[i].n = (uint32_t)len;
        doc->nodes[i].plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        doc->n_text += (uint32_t)len + 1;
        return 0;
}

static int ydoc_open(struct sigma_ydoc *doc, uint8_t type, const yaml_event_t *ev,
                     struct sigma_err *err)
{
        unsigned line = (unsigned)ev->start_mark.line + 1;
        uint32_t i;
        int r;

        if (doc->depth >= SIGMA_YAML_DEPTH_MAX)
                return sigma_err_set(err, line, "YAML nested deeper than %u levels",
                                     SIGMA_YAML_DEPTH_MAX);
        if (!doc->stack) {
                doc->stack = calloc(SIGMA_YAML_DEPTH_MAX, 2 * sizeof(uint32_t));
                if (!doc->stack)
                        return -ENOMEM;
        }
        r = ydoc_add(doc, type, line, &i);
        if (r < 0)
                return r == -E2BIG ? sigma_err_set(err, line, "more than %u YAML nodes",
                                                   SIGMA_YAML_NODES_MAX) : r;
        doc->stack[2 * doc->depth] = i;
        doc->stack[2 * doc->depth + 1] = doc->n_tmp;
        doc->depth++;
        return 0;
}

/* Moves the children of the innermost open container into kids. */
static int ydoc_close(struct sigma_ydoc *doc, struct sigma_err *err)
{
        uint32_t i, start, n;
        int r;

        doc->depth--;
        i = doc->stack[2 * doc->depth];
        start = doc->stack[2 * doc->depth + 1];
        n = doc->n_tmp - start;
        r = sigma_grow((void **)&doc->kids, &doc->cap_kids, doc->n_kids + n, sizeof(uint32_t),
                       SIGMA_YAML_NODES_MAX);
        if (r < 0)
                return r == -E2BIG ? sigma_err_set(err, doc->nodes[i].line, "document too large") : r;
        if (n)
                memcpy(doc->kids + doc->n_kids, doc->tmp + start, n * sizeof(uint32_t));
        doc->nodes[i].first = doc->n_kids;
        doc->nodes[i].n = n;
        doc->n_kids += n;
        doc->n_tmp = start;
        if (doc->nodes[i].type == SIGMA_YMAP) {
                for (uint32_t k = 0; k < n; k += 2)
                        if (doc->nodes[doc->kids[doc->nodes[i].first + k]].type != SIGMA_YSCALAR)
                                return sigma_err_set(err, doc->nodes[doc->kids[doc->nodes[i].first + k]].line,
                                                     "a mapping key must be a plain value");
        }
        return 0;
}

/* One event into the tree. Returns 0, 1 at the document end, -EINVAL with
 * err, -ENOMEM. */
static int ydoc_event(struct sigma_ydoc *doc, const yaml_event_t *ev, struct sigma_err *err)
{
        switch (ev->type) {
        case YAML_DOCUMENT_START_EVENT:
                doc->line = (unsigned)ev->start_mark.line + 1;
                return 0;
        case YAML_DOCUMENT_END_EVENT:
                return 1;
        case YAML_ALIAS_EVENT:
                return sigma_err_set(err, (unsigned)ev->start_mark.line + 1,
                                     "YAML aliases are not supported");
        case YAML_SCALAR_EVENT:
                return ydoc_scalar(doc, ev, err);
        case YAML_SEQUENCE_START_EVENT:
                return ydoc_open(doc, SIGMA_YSEQ, ev, err);
        case YAML_MAPPING_START_EVENT:
                return ydoc_open(doc, SIGMA_YMAP, ev, err);
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
                return ydoc_close(doc, err);
        default:
                return 0;
        }
}

int sigma_yparser_next(struct sigma_yparser *yp, struct sigma_ydoc *doc, struct sigma_err *err)
{
        bool bad = false, in_doc = false;
        yaml_event_t ev;
        int r;

        ydoc_reset(doc);
        while (!yp->done) {
                if (!yaml_parser_parse(&yp->parser, &ev)) {
                        yp->done = true;
                        if (yp->parser.error == YAML_MEMORY_ERROR)
                                return -ENOMEM;
                        if (!bad)
                                sigma_err_set(err, (unsigned)yp->parser.problem_mark.line + 1,
                                              "YAML syntax error: %s",
                                              yp->parser.problem ? yp->parser.problem : "unknown");
                        if (!doc->line)
                                doc->line = (unsigned)yp->parser.problem_mark.line + 1;
                        return 2;
                }
                if (ev.type == YAML_STREAM_END_EVENT)
                        yp->done = true;
                if (ev.type == YAML_DOCUMENT_START_EVENT)
                        in_doc = true;
                r = bad ? (ev.type == YAML_DOCUMENT_END_EVENT) : ydoc_event(doc, &ev, err);
                yaml_event_delete(&ev);
                if (r == -ENOMEM)
                        return r;
                if (r == 1)
                        return bad ? 2 : 1;
                if (r < 0)
                        bad = true;     /* skip to this document's end */
        }
        return in_doc && bad ? 2 : 0;
}

const struct sigma_ynode *sigma_ydoc_key(const struct sigma_ydoc *d, const struct sigma_ynode *map,
                                         const char *key)
{
        size_t klen = strlen(key);

        if (map->type != SIGMA_YMAP)
                return NULL;
        for (uint32_t k = 0; k < map->n; k += 2) {
                const struct sigma_ynode *kn = &d->nodes[d->kids[map->first + k]];

                if (kn->n == klen && memcmp(sigma_ydoc_str(d, kn), key, klen) == 0)
                        return kn;
        }
        return NULL;
}

const struct sigma_ynode *sigma_ydoc_get(const struct sigma_ydoc *d, const struct sigma_ynode *map,
                                         const char *key)
{
        const struct sigma_ynode *kn = sigma_ydoc_key(d, map, key);

        /* a key's value is the node right after it in kids */
        if (!kn)
                return NULL;
        for (uint32_t k = 0; k < map->n; k += 2)
                if (&d->nodes[d->kids[map->first + k]] == kn)
                        return &d->nodes[d->kids[map->first + k + 1]];
        return NULL;
}

bool sigma_ynode_is_null(const struct sigma_ydoc *d, const struct sigma_ynode *n)
{
        const char *s;

        if (n->type != SIGMA_YSCALAR || !n->plain)
                return false;
        s = sigma_ydoc_str(d, n);
        return n->n == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
               strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}
