/* dpkg: the installed packages listed in /var/lib/dpkg/status.
 *
 * The file is a series of RFC-822-like stanzas. Only five fields matter here
 * and all are single-line, so a stanza is kept as slices of the input text and
 * nothing is copied until an installed package is turned into JSON. */
#include "inventory/inventory.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

struct span {
        const char *p;
        size_t n;
};

enum dpkg_field {
        FIELD_PACKAGE,
        FIELD_STATUS,
        FIELD_VERSION,
        FIELD_ARCHITECTURE,
        FIELD_SOURCE,
        FIELD_COUNT,
        FIELD_OTHER = FIELD_COUNT,
};

static const char *const field_names[FIELD_COUNT] = {
        [FIELD_PACKAGE] = "Package",
        [FIELD_STATUS] = "Status",
        [FIELD_VERSION] = "Version",
        [FIELD_ARCHITECTURE] = "Architecture",
        [FIELD_SOURCE] = "Source",
};

struct stanza {
        struct span field[FIELD_COUNT];
        bool any_field;
        bool last_kept;         /* the last field line was one of ours */
        bool broken;
};

static bool is_blank(char c)
{
        return c == ' ' || c == '\t' || c == '\r';
}

static struct span span_trim(const char *p, size_t n)
{
        while (n > 0 && is_blank(*p)) {
                p++;
                n--;
        }
        while (n > 0 && is_blank(p[n - 1]))
                n--;
        return (struct span){ p, n };
}

/* Package names, versions, architectures: printable ASCII, no spaces. */
static bool span_is_word(struct span s)
{
        if (s.n == 0)
                return false;
        for (size_t i = 0; i < s.n; i++)
                if ((unsigned char)s.p[i] <= ' ' || (unsigned char)s.p[i] >= 0x7f)
                        return false;
        return true;
}

static bool span_eq(struct span s, const char *word)
{
        return s.n == strlen(word) && memcmp(s.p, word, s.n) == 0;
}

static enum dpkg_field field_lookup(const char *name, size_t n)
{
        for (int f = 0; f < FIELD_COUNT; f++)
                if (strlen(field_names[f]) == n && strncasecmp(name, field_names[f], n) == 0)
                        return (enum dpkg_field)f;
        return FIELD_OTHER;
}

/* True if the third word of a Status value is "installed". */
static bool status_installed(struct span s)
{
        struct span w = { s.p, 0 };
        const char *end = s.p + s.n;
        int words = 0;

        for (const char *p = s.p; p <= end; p++) {
                if (p == end || is_blank(*p)) {
                        if (p > w.p) {
                                w.n = (size_t)(p - w.p);
                                words++;
                                if (words == 3 && !span_eq(w, "installed"))
                                        return false;
                        }
                        w.p = p + 1;
                }
        }
        return words == 3;
}

/* Splits "foo" or "foo (1.2-3)"; the version is left alone when absent. */
static bool source_split(struct span s, struct span *ret_name, struct span *ret_version)
{
        size_t i = 0;
        struct span rest;

        while (i < s.n && !is_blank(s.p[i]))
                i++;
        *ret_name = (struct span){ s.p, i };
        rest = span_trim(s.p + i, s.n - i);
        if (rest.n == 0)
                return span_is_word(*ret_name);
        if (rest.n < 3 || rest.p[0] != '(' || rest.p[rest.n - 1] != ')')
                return false;
        *ret_version = span_trim(rest.p + 1, rest.n - 2);
        return span_is_word(*ret_name) && span_is_word(*ret_version);
}

static int obj_set_span(json_t *obj, const char *key, struct span s)
{
        json_t *v = json_stringn(s.p ? s.p : "", s.n);

        if (!v || json_object_set_new(obj, key, v) < 0)
                return -ENOMEM;
        return 0;
}

/* Appends the stanza to out if it is a well-formed installed package. */
static int stanza_flush(const struct stanza *st, json_t *out)
{
        const struct span *f = st->field;
        struct span src = f[FIELD_PACKAGE], src_version = f[FIELD_VERSION];
        json_t *pkg;
        int r;

        if (st->broken || !f[FIELD_STATUS].p || !status_installed(f[FIELD_STATUS]))
                return 0;
        if (!span_is_word(f[FIELD_PACKAGE]) || !span_is_word(f[FIELD_VERSION]))
                return 0;
        if (f[FIELD_ARCHITECTURE].n > 0 && !span_is_word(f[FIELD_ARCHITECTURE]))
                return 0;
        if (f[FIELD_SOURCE].n > 0 && !source_split(f[FIELD_SOURCE], &src, &src_version))
                return 0;
        if (json_array_size(out) >= INVENTORY_DPKG_PACKAGES_MAX)
                return -E2BIG;

        pkg = json_object();
        if (!pkg)
                return -ENOMEM;
        r = obj_set_span(pkg, "name", f[FIELD_PACKAGE]);
        if (r >= 0)
                r = obj_set_span(pkg, "version", f[FIELD_VERSION]);
        if (r >= 0)
                r = obj_set_span(pkg, "architecture", f[FIELD_ARCHITECTURE]);
        if (r >= 0)
                r = obj_set_span(pkg, "source", src);
        if (r >= 0)
                r = obj_set_span(pkg, "source_version", src_version);
        if (r >= 0 && json_array_append_new(out, pkg) < 0)
                return -ENOMEM;         /* append_new dropped pkg */
        if (r < 0)
                json_decref(pkg);
        return r;
}

/* Takes one non-blank line into the stanza. */
static int stanza_add_line(struct stanza *st, const char *line, size_t n)
{
        const char *colon;
        enum dpkg_field f;
        struct span v;

        if (line[0] == ' ' || line[0] == '\t') {
                /* continuation: only the fields we ignore may have one */
                if (!st->any_field || st->last_kept)
                        st->broken = true;
                return 0;
        }
        st->any_field = true;
        st->last_kept = false;
        colon = memchr(line, ':', n);
        if (!colon || colon == line) {
                st->broken = true;
                return 0;
        }
        f = field_lookup(line, (size_t)(colon - line));
        if (f == FIELD_OTHER)
                return 0;
        v = span_trim(colon + 1, n - (size_t)(colon - line) - 1);
        if (v.n > INVENTORY_DPKG_FIELD_MAX)
                return -E2BIG;
        st->field[f] = v;
        st->last_kept = true;
        return 0;
}

int inventory_dpkg_parse(const char *text, size_t len, json_t *ret_array)
{
        const char *p = text, *end = text + len;
        struct stanza st = { 0 };
        json_t *out;
        int r = 0;

        if (!json_is_array(ret_array) || (!text && len > 0))
                return -EINVAL;
        out = json_array();
        if (!out)
                return -ENOMEM;

        while (p < end) {
                size_t rest = (size_t)(end - p), scan, n;
                const char *nl;
                struct span t;

                scan = rest < INVENTORY_DPKG_LINE_MAX + 1 ? rest : INVENTORY_DPKG_LINE_MAX + 1;
                nl = memchr(p, '\n', scan);
                n = nl ? (size_t)(nl - p) : rest;
                if (n > INVENTORY_DPKG_LINE_MAX) {
                        r = -E2BIG;
                        goto fail;
                }
                t = span_trim(p, n);
                if (t.n == 0) {
                        r = stanza_flush(&st, out);
                        st = (struct stanza){ 0 };
                } else {
                        r = stanza_add_line(&st, p, n);
                }
                if (r < 0)
                        goto fail;
                p += n + (nl ? 1 : 0);
        }
        r = stanza_flush(&st, out);
        if (r < 0)
                goto fail;
        if (json_array_extend(ret_array, out) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        json_decref(out);
        return 0;

fail:
        json_decref(out);
        return r;
}
