/* event_json: agent_event to JSON with Sigma's field names, and the
 * --filter language (see event_json.h and docs/EVENTS.md).
 *
 * Every top-level value comes from event_fields.c, in the order of
 * EVENT_FIELDS; only Ancestors, an array, is built here. Each value is
 * copied into the object as soon as it is read, so the field context's
 * arena is emptied after each one. */
#include "agent/src/event_json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct event_json {
        struct event_fields *fields;
};

static json_t *value_json(const struct event_value *v)
{
        switch (v->type) {
        case EVENT_FIELD_STRING: return json_stringn(v->str, v->len);
        case EVENT_FIELD_INT: return json_integer(v->num);
        case EVENT_FIELD_BOOL: return json_boolean(v->num);
        }
        return NULL;
}

/* Sets o[key] to a string of the field context, or fails. */
static int set_text(json_t *o, const char *key, int r, const char *s, size_t n)
{
        if (r == -ENOENT)
                return 0;
        if (r < 0 || json_object_set_new(o, key, json_stringn(s, n)) < 0)
                return -ENOMEM;
        return 0;
}

/* One ancestor: ProcessId, Image, CommandLine. */
static int ancestor_json(struct event_fields *f, const struct proctable_proc *p, json_t **ret)
{
        json_t *a = json_object();
        const char *s;
        size_t n;
        int r;

        if (!a || json_object_set_new(a, "ProcessId", json_integer(p->pid)) < 0)
                goto fail;
        r = event_fields_utf8(f, p->image, p->image_len + 1, &s, &n);
        if (set_text(a, "Image", r, s, n) < 0)
                goto fail;
        event_fields_scratch_reset(f);
        r = event_fields_cmdline(f, p->args, p->args_len, &s, &n, NULL);
        if (set_text(a, "CommandLine", r, s, n) < 0)
                goto fail;
        event_fields_scratch_reset(f);
        *ret = a;
        return 0;
fail:
        json_decref(a);
        return -ENOMEM;
}

/* Ancestors: the chain of parents from the process table, parent first. */
static int ancestors_add(struct event_fields *f, const struct proctable *pt, json_t *o)
{
        const struct proctable_proc *anc[PROCTABLE_ANCESTRY_MAX];
        const struct proctable_proc *self = event_fields_self(f);
        unsigned n = self ? proctable_ancestors(pt, self, anc, PROCTABLE_ANCESTRY_MAX) : 0;
        json_t *arr, *a;

        if (n == 0)
                return 0;
        arr = json_array();
        if (!arr || json_object_set_new(o, "Ancestors", arr) < 0)
                return -ENOMEM;
        for (unsigned i = 0; i < n; i++)
                if (ancestor_json(f, anc[i], &a) < 0 || json_array_append_new(arr, a) < 0)
                        return -ENOMEM;
        return 0;
}

int event_json_build(struct event_json *ej, const struct agent_event *ev,
                     const struct proctable *pt, json_t **ret)
{
        struct event_fields *f = ej->fields;
        struct event_value v;
        json_t *o = json_object();
        int r;

        if (!o)
                return -ENOMEM;
        event_fields_begin(f, ev, pt);
        for (int id = 0; id < EVENT_FIELD_COUNT; id++) {
                r = event_fields_value(f, (enum event_field)id, &v);
                if (r == -ENOENT)
                        continue;
                if (r < 0 || json_object_set_new(o, event_field_names[id], value_json(&v)) < 0)
                        goto fail;
                event_fields_scratch_reset(f);
        }
        if (pt && ancestors_add(f, pt, o) < 0)
                goto fail;
        *ret = o;
        return 0;
fail:
        json_decref(o);
        return -ENOMEM;
}

const char *event_json_user(struct event_json *ej, uint32_t uid)
{
        return event_fields_user(ej->fields, uid);
}

struct event_fields *event_json_fields(struct event_json *ej)
{
        return ej->fields;
}

struct event_json *event_json_new(const char *sensor)
{
        struct event_json *ej = calloc(1, sizeof(*ej));

        if (!ej)
                return NULL;
        ej->fields = event_fields_new(sensor);
        if (!ej->fields) {
                free(ej);
                return NULL;
        }
        return ej;
}

void event_json_free(struct event_json *ej)
{
        if (!ej)
                return;
        event_fields_free(ej->fields);
        free(ej);
}

/* ---- filter ---- */

static int filter_fail(char *err, size_t err_size, int r, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int filter_fail(char *err, size_t err_size, int r, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
        return r;
}

/* Parses one TERM at *s into t, copying its parts into *w. */
static int term_parse(const char **s, char **w, struct event_filter_term *t, char *err, size_t err_size)
{
        const char *p = *s;
        size_t n = 0;

        t->field = *w;
        while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
               (n > 0 && ((*p >= '0' && *p <= '9') || *p == '_'))) {
                if (++n > EVENT_FILTER_FIELD_MAX)
                        return filter_fail(err, err_size, -E2BIG, "field name longer than %d bytes", EVENT_FILTER_FIELD_MAX);
                *(*w)++ = *p++;
        }
        *(*w)++ = '\0';
        if (n == 0)
                return filter_fail(err, err_size, -EINVAL, "expected a field name at '%s'", *s);
        if (p[0] == '=')
                t->op = EVENT_FILTER_EQ, p += 1;
        else if (p[0] == '~')
                t->op = EVENT_FILTER_CONTAINS, p += 1;
        else if (p[0] == '!' && p[1] == '=')
                t->op = EVENT_FILTER_NE, p += 2;
        else if (p[0] == '!' && p[1] == '~')
                t->op = EVENT_FILTER_NOT_CONTAINS, p += 2;
        else
                return filter_fail(err, err_size, -EINVAL, "expected '=', '~', '!=' or '!~' after field '%s'", t->field);
        t->value = *w;
        while (*p && *p != ',') {
                if (*p == '\\') {
                        if (p[1] != ',' && p[1] != '\\')
                                return filter_fail(err, err_size, -EINVAL,
                                                   "bad escape at '%s' (use \\, or \\\\)", p);
                        p++;
                }
                *(*w)++ = *p++;
        }
        t->value_len = (size_t)(*w - t->value);
        *(*w)++ = '\0';
        *s = p;
        return 0;
}

int event_filter_parse(struct event_filter *f, const char *expr, char *err, size_t err_size)
{
        const char *s = expr;
        char *w = f->buf;
        int r;

        f->count = 0;
        if (strlen(expr) > EVENT_FILTER_EXPR_MAX)
                return filter_fail(err, err_size, -E2BIG, "filter longer than %d bytes", EVENT_FILTER_EXPR_MAX);
        if (!*s)
                return 0;
        for (;;) {
                if (f->count == EVENT_FILTER_TERMS_MAX)
                        return filter_fail(err, err_size, -E2BIG, "more than %d terms", EVENT_FILTER_TERMS_MAX);
                r = term_parse(&s, &w, &f->term[f->count], err, err_size);
                if (r < 0)
                        return r;
                f->count++;
                if (!*s)
                        return 0;
                s++;            /* the ',' */
        }
}

/* The text of a scalar JSON value; false for arrays and objects. */
static bool value_text(const json_t *v, char *tmp, size_t tmp_size, const char **ret, size_t *ret_len)
{
        switch (json_typeof(v)) {
        case JSON_STRING:
                *ret = json_string_value(v);
                *ret_len = json_string_length(v);
                return true;
        case JSON_INTEGER:
                snprintf(tmp, tmp_size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                break;
        case JSON_REAL:
                snprintf(tmp, tmp_size, "%.17g", json_real_value(v));
                break;
        case JSON_TRUE:
                snprintf(tmp, tmp_size, "true");
                break;
        case JSON_FALSE:
                snprintf(tmp, tmp_size, "false");
                break;
        case JSON_NULL:
                tmp[0] = '\0';
                break;
        default:
                return false;
        }
        *ret = tmp;
        *ret_len = strlen(tmp);
        return true;
}

static bool term_match(const struct event_filter_term *t, const json_t *obj)
{
        const json_t *v = json_object_get(obj, t->field);
        bool neg = t->op == EVENT_FILTER_NE || t->op == EVENT_FILTER_NOT_CONTAINS;
        const char *s;
        char tmp[64];
        size_t n;
        bool hit;

        if (!v || !value_text(v, tmp, sizeof(tmp), &s, &n))
                return neg;
        if (t->op == EVENT_FILTER_EQ || t->op == EVENT_FILTER_NE)
                hit = n == t->value_len && memcmp(s, t->value, n) == 0;
        else
                hit = t->value_len == 0 || memmem(s, n, t->value, t->value_len) != NULL;
        return neg ? !hit : hit;
}

bool event_filter_match(const struct event_filter *f, const json_t *obj)
{
        for (unsigned i = 0; i < f->count; i++)
                if (!term_match(&f->term[i], obj))
                        return false;
        return true;
}
