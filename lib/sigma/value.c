/* value: a detection's `field|modifiers: values` compiled into patterns,
 * and the test of one pattern against one field's text.
 *
 * A value is first read into tokens (bytes plus the `*`, `?` and windash
 * wildcards, with `\*`, `\?`, `\\` escapes), then the transformation
 * modifiers run in the order written (windash, utf16le/utf16be/utf16/wide,
 * base64, base64offset, contains/startswith/endswith), and the result is
 * classified: a literal compared whole, as a prefix, a suffix or a
 * substring (the common cases, tested with memcmp/memmem), or a general
 * glob. Type modifiers make regular expressions (PCRE2, JIT), CIDR ranges,
 * numbers, date parts, existence tests and field references. Combinations
 * the specification forbids or this engine does not implement are refused
 * with a reason naming the modifier. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sigma/sigma-internal.h"



static const char *const mod_names[SIGMA_M_COUNT] = {
        "contains", "startswith", "endswith", "all", "cased", "re", "i", "m", "s",
        "cidr", "exists", "neq", "fieldref", "windash", "base64", "base64offset",
        "lt", "lte", "gt", "gte", "utf16le", "utf16be", "utf16", "wide",
        "minute", "hour", "day", "week", "month", "year",
};

#define B(x) (1u << (x))
#define MB_KIND (B(SIGMA_M_CONTAINS) | B(SIGMA_M_STARTSWITH) | B(SIGMA_M_ENDSWITH))
#define MB_NUM (B(SIGMA_M_LT) | B(SIGMA_M_LTE) | B(SIGMA_M_GT) | B(SIGMA_M_GTE))
#define MB_B64 (B(SIGMA_M_BASE64) | B(SIGMA_M_BASE64OFFSET))
#define MB_UTF (B(SIGMA_M_UTF16LE) | B(SIGMA_M_UTF16BE) | B(SIGMA_M_UTF16) | B(SIGMA_M_WIDE))
#define MB_XFORM (B(SIGMA_M_WINDASH) | MB_B64 | MB_UTF)
#define MB_TIME (B(SIGMA_M_MINUTE) | B(SIGMA_M_HOUR) | B(SIGMA_M_DAY) | B(SIGMA_M_WEEK) | B(SIGMA_M_MONTH) | \
                 B(SIGMA_M_YEAR))
#define MB_TYPE (B(SIGMA_M_RE) | B(SIGMA_M_CIDR) | B(SIGMA_M_EXISTS) | B(SIGMA_M_FIELDREF) | MB_NUM | MB_TIME)

/* What each modifier may be combined with (besides itself). */
static uint32_t mod_allowed(enum sigma_mod_bit m)
{
        switch (m) {
        case SIGMA_M_CONTAINS: case SIGMA_M_STARTSWITH: case SIGMA_M_ENDSWITH:
                return B(SIGMA_M_ALL) | B(SIGMA_M_CASED) | B(SIGMA_M_NEQ) | MB_XFORM | B(SIGMA_M_FIELDREF);
        case SIGMA_M_ALL:
                return ~(uint32_t)B(SIGMA_M_EXISTS);
        case SIGMA_M_NEQ:
                return ~(uint32_t)B(SIGMA_M_EXISTS);
        case SIGMA_M_CASED:
                return MB_KIND | B(SIGMA_M_ALL) | B(SIGMA_M_NEQ) | MB_XFORM | B(SIGMA_M_FIELDREF);
        case SIGMA_M_RE:
                return B(SIGMA_M_RE_I) | B(SIGMA_M_RE_M) | B(SIGMA_M_RE_S) | B(SIGMA_M_ALL) | B(SIGMA_M_NEQ);
        case SIGMA_M_RE_I: case SIGMA_M_RE_M: case SIGMA_M_RE_S:
                return B(SIGMA_M_RE) | B(SIGMA_M_RE_I) | B(SIGMA_M_RE_M) | B(SIGMA_M_RE_S) | B(SIGMA_M_ALL) | B(SIGMA_M_NEQ);
        case SIGMA_M_CIDR:
                return B(SIGMA_M_ALL) | B(SIGMA_M_NEQ);
        case SIGMA_M_EXISTS:
                return 0;
        case SIGMA_M_FIELDREF:
                return MB_KIND | B(SIGMA_M_CASED) | B(SIGMA_M_ALL) | B(SIGMA_M_NEQ);
        case SIGMA_M_WINDASH:
                return MB_KIND | B(SIGMA_M_ALL) | B(SIGMA_M_CASED) | B(SIGMA_M_NEQ) | MB_XFORM;
        case SIGMA_M_BASE64: case SIGMA_M_BASE64OFFSET:
                return MB_KIND | B(SIGMA_M_ALL) | B(SIGMA_M_CASED) | B(SIGMA_M_NEQ) | B(SIGMA_M_WINDASH) | MB_UTF;
        case SIGMA_M_UTF16LE: case SIGMA_M_UTF16BE: case SIGMA_M_UTF16: case SIGMA_M_WIDE:
                return MB_KIND | B(SIGMA_M_ALL) | B(SIGMA_M_CASED) | B(SIGMA_M_NEQ) | B(SIGMA_M_WINDASH) | MB_B64;
        case SIGMA_M_LT: case SIGMA_M_LTE: case SIGMA_M_GT: case SIGMA_M_GTE:
                return B(SIGMA_M_ALL) | B(SIGMA_M_NEQ) | MB_TIME;
        default:        /* a date part, compared with the value or with lt, lte, gt, gte */
                return B(SIGMA_M_ALL) | B(SIGMA_M_NEQ) | MB_NUM;
        }
}

static int mod_lookup(const char *s, size_t len)
{
        for (int i = 0; i < SIGMA_M_COUNT; i++)
                if (strlen(mod_names[i]) == len && memcmp(mod_names[i], s, len) == 0)
                        return i;
        return -1;
}

static int mod_refuse(const char *s, size_t len, unsigned line, struct sigma_err *err)
{
        if (len == 6 && memcmp(s, "expand", 6) == 0)
                return sigma_err_set(err, line, "modifier 'expand' (placeholders) is not supported");
        if (len == 0)
                return sigma_err_set(err, line, "empty modifier");
        return sigma_err_set(err, line, "unknown modifier '%.*s'", (int)(len > 64 ? 64 : len), s);
}

/* A UTF-16 encoding must be followed by base64 or base64offset: its bytes
 * alone hold NULs (every ASCII character has one), and event text is UTF-8,
 * so the value could never match. windash works on text, so it must come
 * before any encoding: after base64 it would swap '/' of the encoded
 * alphabet, which means nothing. */
static int mods_check_order(const struct sigma_mods *m, unsigned line, struct sigma_err *err)
{
        int utf = -1, b64 = -1;
        bool encoded = false;

        for (uint8_t i = 0; i < m->n_xf; i++) {
                if (B(m->xf[i]) & MB_UTF)
                        utf = m->xf[i];
                else if (m->xf[i] == SIGMA_M_WINDASH && (utf >= 0 || b64 >= 0))
                        return sigma_err_set(err, line, "modifier 'windash' must come before '%s'",
                                             mod_names[b64 >= 0 ? b64 : utf]);
                else if (B(m->xf[i]) & MB_B64) {
                        b64 = m->xf[i];
                        encoded = utf >= 0;
                }
        }
        if (utf >= 0 && !encoded)
                return sigma_err_set(err, line,
                                     "modifier '%s' needs a later 'base64' or 'base64offset': UTF-16 holds NUL bytes, "
                                     "which never occur in the agent's UTF-8 event text", mod_names[utf]);
        return 0;
}

int sigma_mods_parse(const char *key, size_t len, unsigned line, struct sigma_mods *m,
                     struct sigma_err *err)
{
        const char *bar = memchr(key, '|', len), *p, *end = key + len;

        memset(m, 0, sizeof(*m));
        m->field = key;
        m->field_len = bar ? (size_t)(bar - key) : len;
        for (p = bar; p && p < end;) {
                const char *s = p + 1, *e = memchr(s, '|', (size_t)(end - s));
                int k;

                if (!e)
                        e = end;
                k = mod_lookup(s, (size_t)(e - s));
                if (k < 0)
                        return mod_refuse(s, (size_t)(e - s), line, err);
                if (m->bits & B(k))
                        return sigma_err_set(err, line, "modifier '%s' given twice", mod_names[k]);
                for (int j = 0; j < SIGMA_M_COUNT; j++)
                        if ((m->bits & B(j)) && (!(mod_allowed(k) & B(j)) || !(mod_allowed(j) & B(k))))
                                return sigma_err_set(err, line, "modifiers '%s' and '%s' cannot be combined",
                                                     mod_names[j], mod_names[k]);
                if (k == SIGMA_M_RE_I || k == SIGMA_M_RE_M || k == SIGMA_M_RE_S) {
                        if (!(m->bits & B(SIGMA_M_RE)))
                                return sigma_err_set(err, line, "modifier '%s' is only valid after 're'",
                                                     mod_names[k]);
                }
                if (B(k) & (MB_XFORM | MB_KIND)) {
                        if (m->n_xf >= sizeof(m->xf))
                                return sigma_err_set(err, line, "too many modifiers");
                        m->xf[m->n_xf++] = (uint8_t)k;
                }
                m->bits |= B(k);
                p = e;
        }
        return mods_check_order(m, line, err);
}


/* --- tokens ---------------------------------------------------------------- */

struct tstr {
        uint16_t *t;
        uint32_t n;
};

struct tlist {
        struct tstr *v;
        uint32_t n, cap;
};

static void tlist_release(struct tlist *l)
{
        for (uint32_t i = 0; i < l->n; i++)
                free(l->v[i].t);
        free(l->v);
        memset(l, 0, sizeof(*l));
}

/* Ends a transformation of a value list: on success (r >= 0) *l becomes
 * out, on failure out is dropped and l left as it was, an overflow named. */
static int tlist_replace(struct tlist *l, struct tlist *out, int r, unsigned line, struct sigma_err *err)
{
        if (r < 0) {
                tlist_release(out);
                return r == -E2BIG ? sigma_err_set(err, line, "value expands into more than %u values",
                                                   SIGMA_EXPAND_MAX) : r;
        }
        tlist_release(l);
        *l = *out;
        return 0;
}


static int tlist_push(struct tlist *l, uint16_t *t, uint32_t n)
{
        int r = sigma_grow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v), SIGMA_EXPAND_MAX);

        if (r < 0) {
                free(t);
                return r;
        }
        l->v[l->n++] = (struct tstr){ t, n };
        return 0;
}

/* Plain value text into tokens, honouring the escapes. */
static int tokens_from_text(const char *s, size_t len, bool wild, struct tlist *out)
{
        uint16_t *t = malloc((len + 1) * sizeof(*t));
        uint32_t n = 0;

        if (!t)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];

                if (wild && c == '\\' && i + 1 < len && (s[i + 1] == '*' || s[i + 1] == '?' || s[i + 1] == '\\'))
                        t[n++] = (unsigned char)s[++i];
                else if (wild && c == '*')
                        t[n++] = SIGMA_T_STAR;
                else if (wild && c == '?')
                        t[n++] = SIGMA_T_QMARK;
                else
                        t[n++] = c;
        }
        return tlist_push(out, t, n);
}

static void xf_windash(struct tstr *v)
{
        uint32_t o = 0;

        for (uint32_t i = 0; i < v->n; i++) {
                if (v->t[i] == '-' || v->t[i] == '/') {
                        v->t[o++] = SIGMA_T_DASH;
                } else if (i + 2 < v->n && v->t[i] == 0xe2 && v->t[i + 1] == 0x80 &&
                           (v->t[i + 2] == 0x93 || v->t[i + 2] == 0x94 || v->t[i + 2] == 0x95)) {
                        v->t[o++] = SIGMA_T_DASH;
                        i += 2;
                } else {
                        v->t[o++] = v->t[i];
                }
        }
        v->n = o;
}

static const char *const dash_alts[5] = { "-", "/", "\xe2\x80\x93", "\xe2\x80\x94", "\xe2\x80\x95" };

/* Spells out the windash tokens of v as bytes: one string per combination. */
static int dash_expand(const struct tstr *v, struct tlist *out, unsigned line, struct sigma_err *err)
{
        uint32_t k = 0, combos = 1;

        for (uint32_t i = 0; i < v->n; i++)
                if (v->t[i] == SIGMA_T_DASH && ++k && (combos *= 5) > SIGMA_EXPAND_MAX)
                        return sigma_err_set(err, line, "windash before an encoding expands into more than %u values",
                                             SIGMA_EXPAND_MAX);
        for (uint32_t c = 0; c < combos; c++) {
                uint16_t *t = malloc((size_t)(v->n * 3 + 1) * sizeof(*t));
                uint32_t n = 0, sel = c;
                int r;

                if (!t)
                        return -ENOMEM;
                for (uint32_t i = 0; i < v->n; i++) {
                        if (v->t[i] != SIGMA_T_DASH) {
                                t[n++] = v->t[i];
                                continue;
                        }
                        for (const char *a = dash_alts[sel % 5]; *a; a++)
                                t[n++] = (unsigned char)*a;
                        sel /= 5;
                }
                r = tlist_push(out, t, n);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The UTF-8 character at byte tokens t[i..n): its code point into *cp and
 * its length, or 0 when it is no valid UTF-8 (a stray or missing
 * continuation byte, an overlong form, a surrogate, past U+10FFFF). */
static uint32_t utf8_decode(const uint16_t *t, uint32_t n, uint32_t i, uint32_t *cp)
{
        static const uint32_t min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
        uint16_t c = t[i];
        uint32_t w = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
        uint32_t v;

        if (w == 0 || w > n - i)
                return 0;
        v = w == 1 ? c : c & (0x7fu >> w);
        for (uint32_t k = 1; k < w; k++) {
                if (t[i + k] > 255 || (t[i + k] & 0xc0) != 0x80)
                        return 0;
                v = v << 6 | (t[i + k] & 0x3fu);
        }
        if (v < min[w] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
                return 0;
        *cp = v;
        return w;
}

/* One value (byte tokens, no windash) as UTF-16 bytes: little-endian, or
 * big-endian for utf16be, after the byte order mark FF FE for utf16. `*`
 * and `?` stay as they are, for base64 to refuse. Each input byte gives at
 * most two output bytes. */
static int utf16_one(const struct tstr *v, int mod, unsigned line, struct tlist *out, struct sigma_err *err)
{
        uint16_t *t = malloc(((size_t)v->n * 2 + 2) * sizeof(*t));
        uint32_t o = 0, w;
        bool be = mod == SIGMA_M_UTF16BE;

        if (!t)
                return -ENOMEM;
        if (mod == SIGMA_M_UTF16) {
                t[o++] = 0xff;
                t[o++] = 0xfe;
        }
        for (uint32_t i = 0; i < v->n; i += w) {
                uint32_t cp, units[2], n_units = 1;

                w = 1;
                if (v->t[i] > 255) {
                        t[o++] = v->t[i];
                        continue;
                }
                w = utf8_decode(v->t, v->n, i, &cp);
                if (w == 0) {
                        free(t);
                        return sigma_err_set(err, line, "a %s value must be valid UTF-8", mod_names[mod]);
                }
                units[0] = cp;
                if (cp >= 0x10000) {
                        units[0] = 0xd800 | ((cp - 0x10000) >> 10);
                        units[1] = 0xdc00 | (cp & 0x3ff);
                        n_units = 2;
                }
                for (uint32_t k = 0; k < n_units; k++) {
                        t[o++] = (uint16_t)(be ? units[k] >> 8 : units[k] & 0xff);
                        t[o++] = (uint16_t)(be ? units[k] & 0xff : units[k] >> 8);
                }
        }
        return tlist_push(out, t, o);
}

/* utf16le, utf16be, utf16, wide: every value as UTF-16 bytes, its windash
 * tokens spelled out first (one value per combination). */
static int xf_utf16(struct tlist *l, int mod, unsigned line, struct sigma_err *err)
{
        struct tlist out = { 0 }, spelled = { 0 };
        int r = 0;

        for (uint32_t i = 0; i < l->n && r >= 0; i++) {
                r = dash_expand(&l->v[i], &spelled, line, err);
                for (uint32_t j = 0; j < spelled.n && r >= 0; j++)
                        r = utf16_one(&spelled.v[j], mod, line, &out, err);
                tlist_release(&spelled);
        }
        return tlist_replace(l, &out, r, line, err);
}

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding of n bytes at in, as tokens. */
static uint32_t b64_tokens(const unsigned char *in, uint32_t n, uint16_t *out)
{
        uint32_t o = 0, i;

        for (i = 0; i + 2 < n; i += 3) {
                uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

                out[o++] = (unsigned char)b64_alphabet[v >> 18];
                out[o++] = (unsigned char)b64_alphabet[(v >> 12) & 63];
                out[o++] = (unsigned char)b64_alphabet[(v >> 6) & 63];
                out[o++] = (unsigned char)b64_alphabet[v & 63];
        }
        if (i < n) {
                uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);

                out[o++] = (unsigned char)b64_alphabet[v >> 18];
                out[o++] = (unsigned char)b64_alphabet[(v >> 12) & 63];
                out[o++] = i + 1 < n ? (unsigned char)b64_alphabet[(v >> 6) & 63] : '=';
                out[o++] = '=';
        }
        return o;
}

/* base64 (variant -1) or one of the three base64offset variants of the
 * bytes of v: the value shifted by 0..2 bytes, encoded, with the characters
 * that depend on the unknown neighbours trimmed (as pySigma does). */
static int b64_variant(const struct tstr *v, int shift, struct tlist *out)
{
        static const uint32_t start_off[3] = { 0, 2, 3 };
        static const uint32_t end_trim[3] = { 0, 3, 2 };
        uint32_t sh = shift < 0 ? 0 : (uint32_t)shift, n = v->n + sh, o, s = 0, e;
        unsigned char *bytes = malloc(n + 1);
        uint16_t *t = malloc(((size_t)n / 3 + 2) * 4 * sizeof(*t));

        if (!bytes || !t) {
                free(bytes);
                free(t);
                return -ENOMEM;
        }
        memset(bytes, ' ', sh);
        for (uint32_t i = 0; i < v->n; i++)
                bytes[sh + i] = (unsigned char)v->t[i];
        o = b64_tokens(bytes, n, t);
        free(bytes);
        e = o;
        if (shift >= 0) {
                s = start_off[shift];
                e = o - end_trim[(v->n + sh) % 3];
                if (e < s)
                        e = s;
                memmove(t, t + s, (e - s) * sizeof(*t));
        }
        return tlist_push(out, t, e - s);
}

static int xf_base64(struct tlist *l, bool offset, unsigned line, struct sigma_err *err)
{
        struct tlist out = { 0 }, bytes = { 0 };
        int r = 0;

        for (uint32_t i = 0; i < l->n && r >= 0; i++) {
                for (uint32_t j = 0; j < l->v[i].n; j++)
                        if (l->v[i].t[j] == SIGMA_T_STAR || l->v[i].t[j] == SIGMA_T_QMARK) {
                                r = sigma_err_set(err, line, "a %s value cannot hold wildcards",
                                                  offset ? "base64offset" : "base64");
                                goto done;
                        }
                r = dash_expand(&l->v[i], &bytes, line, err);
                for (uint32_t j = 0; j < bytes.n && r >= 0; j++)
                        for (int sh = offset ? 0 : -1; sh < (offset ? 3 : 0) && r >= 0; sh++)
                                r = b64_variant(&bytes.v[j], sh, &out);
                tlist_release(&bytes);
        }
done:
        tlist_release(&bytes);
        return tlist_replace(l, &out, r, line, err);
}

/* contains/startswith/endswith: wildcards at one or both ends. */
static int xf_kind(struct tlist *l, bool front, bool back)
{
        for (uint32_t i = 0; i < l->n; i++) {
                struct tstr *v = &l->v[i];
                uint16_t *t = realloc(v->t, (v->n + 2) * sizeof(*t));

                if (!t)
                        return -ENOMEM;
                v->t = t;
                if (front && (v->n == 0 || t[0] != SIGMA_T_STAR)) {
                        memmove(t + 1, t, v->n * sizeof(*t));
                        t[0] = SIGMA_T_STAR;
                        v->n++;
                }
                if (back && (v->n == 0 || t[v->n - 1] != SIGMA_T_STAR))
                        t[v->n++] = SIGMA_T_STAR;
        }
        return 0;
}

static int run_transforms(const struct sigma_mods *m, bool keyword, struct tlist *l, unsigned line,
                          struct sigma_err *err)
{
        bool kind_seen = false;
        int r = 0;

        for (uint8_t i = 0; i < m->n_xf && r >= 0; i++) {
                switch (m->xf[i]) {
                case SIGMA_M_WINDASH:
                        for (uint32_t j = 0; j < l->n; j++)
                                xf_windash(&l->v[j]);
                        break;
                case SIGMA_M_BASE64:
                case SIGMA_M_BASE64OFFSET:
                        r = xf_base64(l, m->xf[i] == SIGMA_M_BASE64OFFSET, line, err);
                        break;
                case SIGMA_M_UTF16LE:
                case SIGMA_M_UTF16BE:
                case SIGMA_M_UTF16:
                case SIGMA_M_WIDE:
                        r = xf_utf16(l, m->xf[i], line, err);
                        break;
                default:
                        kind_seen = true;
                        r = xf_kind(l, m->xf[i] != SIGMA_M_STARTSWITH, m->xf[i] != SIGMA_M_ENDSWITH);
                        break;
                }
        }
        if (r >= 0 && keyword && !kind_seen)
                r = xf_kind(l, true, true);
        return r;
}

/* --- patterns ---------------------------------------------------------------- */

void sigma_pat_release(struct sigma_pat *p)
{
        free(p->lit);
        free(p->tok);
        if (p->re)
                pcre2_code_free(p->re);
        memset(p, 0, sizeof(*p));
}

/* Classifies tokens into a literal kind or a glob; takes v's tokens. */
static int pat_from_tokens(struct tstr *v, bool cased, struct sigma_pat *p)
{
        uint32_t lead = 0, trail = 0, n = v->n, o = 0;
        bool wild = false;

        if (!cased)
                for (uint32_t i = 0; i < n; i++)
                        if (v->t[i] >= 'A' && v->t[i] <= 'Z')
                                v->t[i] = (uint16_t)(v->t[i] + 32);
        /* collapse runs of stars */
        for (uint32_t i = 0; i < n; i++)
                if (!(v->t[i] == SIGMA_T_STAR && o > 0 && v->t[o - 1] == SIGMA_T_STAR))
                        v->t[o++] = v->t[i];
        n = v->n = o;
        while (lead < n && v->t[lead] == SIGMA_T_STAR)
                lead++;
        while (trail < n - lead && v->t[n - 1 - trail] == SIGMA_T_STAR)
                trail++;
        for (uint32_t i = lead; i < n - trail; i++)
                if (v->t[i] > 255)
                        wild = true;
        memset(p, 0, sizeof(*p));
        p->cased = cased;
        if (wild) {
                p->kind = SIGMA_P_GLOB;
                p->tok = v->t;
                p->len = n;
                v->t = NULL;
                return 0;
        }
        p->kind = lead ? (trail ? SIGMA_P_CONTAINS : SIGMA_P_SUFFIX) :
                         (trail ? SIGMA_P_PREFIX : SIGMA_P_EXACT);
        p->len = n - lead - trail;
        p->lit = malloc(p->len + 1);
        if (!p->lit)
                return -ENOMEM;
        for (uint32_t i = 0; i < p->len; i++)
                p->lit[i] = (char)v->t[lead + i];
        p->lit[p->len] = '\0';
        return 0;
}

static int pat_re(const char *s, size_t len, const struct sigma_mods *m, unsigned line,
                  struct sigma_pat *p, struct sigma_err *err)
{
        uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
        PCRE2_UCHAR msg[128];
        PCRE2_SIZE eoff;
        int ecode;

        if (len > SIGMA_RE_MAX)
                return sigma_err_set(err, line, "regular expression longer than %u bytes", SIGMA_RE_MAX);
        if (m->bits & B(SIGMA_M_RE_I))
                opts |= PCRE2_CASELESS;
        if (m->bits & B(SIGMA_M_RE_M))
                opts |= PCRE2_MULTILINE;
        if (m->bits & B(SIGMA_M_RE_S))
                opts |= PCRE2_DOTALL;
        memset(p, 0, sizeof(*p));
        p->kind = SIGMA_P_RE;
        p->re = pcre2_compile((PCRE2_SPTR)s, len, opts, &ecode, &eoff, NULL);
        if (!p->re) {
                pcre2_get_error_message(ecode, msg, sizeof(msg));
                return sigma_err_set(err, line, "invalid regular expression '%.*s': %s at offset %zu",
                                     (int)(len > 80 ? 80 : len), s, (const char *)msg, (size_t)eoff);
        }
        /* without JIT (no memory for it, unsupported CPU) pcre2_match interprets */
        pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE);
        /* the source stays for the index, which anchors on its literals */
        p->lit = malloc(len + 1);
        if (!p->lit)
                return -ENOMEM;
        memcpy(p->lit, s, len);
        p->lit[len] = '\0';
        p->len = (uint32_t)len;
        return 0;
}

static bool ip_parse(const char *s, size_t len, uint8_t addr[16], uint8_t *family)
{
        char buf[64];
        const char *pct;

        if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len))
                return false;
        memcpy(buf, s, len);
        buf[len] = '\0';
        if (memchr(buf, ':', len)) {
                pct = strchr(buf, '%');
                if (pct)
                        buf[pct - buf] = '\0';
                *family = 6;
                return inet_pton(AF_INET6, buf, addr) == 1;
        }
        *family = 4;
        return inet_pton(AF_INET, buf, addr) == 1;
}

static int pat_cidr(const char *s, size_t len, unsigned line, struct sigma_pat *p, struct sigma_err *err)
{
        const char *slash = memchr(s, '/', len);
        size_t alen = slash ? (size_t)(slash - s) : len;
        unsigned bits = 0;

        memset(p, 0, sizeof(*p));
        p->kind = SIGMA_P_CIDR;
        if (!ip_parse(s, alen, p->cidr_addr, &p->cidr_family))
                goto bad;
        bits = p->cidr_family == 4 ? 32 : 128;
        if (slash) {
                size_t i = alen + 1;

                if (i >= len || len - i > 3)
                        goto bad;
                bits = 0;
                for (; i < len; i++) {
                        if (!isdigit((unsigned char)s[i]))
                                goto bad;
                        bits = bits * 10 + (unsigned)(s[i] - '0');
                }
                if (bits > (p->cidr_family == 4 ? 32u : 128u))
                        goto bad;
        }
        p->cidr_bits = (uint8_t)bits;
        return 0;
bad:
        return sigma_err_set(err, line, "invalid CIDR '%.*s'", (int)(len > 64 ? 64 : len), s);
}

/* --- compiling one value -------------------------------------------------------- */

static int num_op(const struct sigma_mods *m)
{
        return m->bits & B(SIGMA_M_LT) ? SIGMA_NUM_LT : m->bits & B(SIGMA_M_LTE) ? SIGMA_NUM_LTE :
               m->bits & B(SIGMA_M_GT) ? SIGMA_NUM_GT : m->bits & B(SIGMA_M_GTE) ? SIGMA_NUM_GTE : SIGMA_NUM_EQ;
}

/* A copy of the value's text, read as a number into p->num (which points
 * into the copy). Returns 0, 1 when it is no number, -ENOMEM. */
static int pat_num(const char *s, size_t len, struct sigma_pat *p)
{
        if (len > SIGMA_NUM_TEXT_MAX)
                return 1;
        p->lit = malloc(len + 1);
        if (!p->lit)
                return -ENOMEM;
        memcpy(p->lit, s, len);
        p->lit[len] = '\0';
        p->len = (uint32_t)len;
        return sigma_num_parse(p->lit, len, &p->num) ? 0 : 1;
}

/* The time modifiers: a date part compared with a whole number, which
 * must be one the part can take when compared for equality. */
static int pat_time(const char *s, size_t len, const struct sigma_mods *m, unsigned line, struct sigma_pat *p,
                    struct sigma_err *err)
{
        static const uint32_t lo[6] = { 0, 0, 1, 1, 1, 0 }, hi[6] = { 59, 23, 31, 53, 12, 9999 };
        int unit = 0, r;

        while (!(m->bits & B(SIGMA_M_MINUTE + unit)))
                unit++;
        p->kind = SIGMA_P_TIME;
        p->unit = (uint8_t)unit;
        p->op = (uint8_t)num_op(m);
        r = pat_num(s, len, p);
        if (r < 0)
                return r;
        if (r > 0 || !p->num.whole || (p->num.neg && p->num.mag))
                return sigma_err_set(err, line, "modifier '%s' needs a whole number, not '%.*s'",
                                     mod_names[SIGMA_M_MINUTE + unit], (int)(len > 64 ? 64 : len), s);
        if (p->op == SIGMA_NUM_EQ && (p->num.mag < lo[unit] || p->num.mag > hi[unit]))
                return sigma_err_set(err, line, "modifier '%s' needs a number from %u to %u, not '%.*s'",
                                     mod_names[SIGMA_M_MINUTE + unit], lo[unit], hi[unit],
                                     (int)(len > 64 ? 64 : len), s);
        return 0;
}

/* A typed value (re, cidr, number, date part, fieldref): one pattern. */
static int compile_typed(struct sigma_build *b, const struct sigma_mods *m, const char *s, size_t len,
                         unsigned line, struct sigma_pat *p)
{
        struct sigma_err *err = b->err;
        int r;

        if (m->bits & B(SIGMA_M_RE))
                return pat_re(s, len, m, line, p, err);
        if (m->bits & B(SIGMA_M_CIDR))
                return pat_cidr(s, len, line, p, err);
        memset(p, 0, sizeof(*p));
        if (m->bits & MB_TIME)
                return pat_time(s, len, m, line, p, err);
        if (m->bits & MB_NUM) {
                p->kind = SIGMA_P_NUM;
                p->op = (uint8_t)num_op(m);
                r = pat_num(s, len, p);
                if (r > 0)
                        return sigma_err_set(err, line, "modifier '%s' needs a number, not '%.*s'",
                                             mod_names[SIGMA_M_LT + num_op(m)], (int)(len > 64 ? 64 : len), s);
                return r;
        }
        /* fieldref */
        p->kind = SIGMA_P_FIELDREF;
        p->cased = m->bits & B(SIGMA_M_CASED);
        p->op = m->bits & B(SIGMA_M_CONTAINS) ? SIGMA_P_CONTAINS : m->bits & B(SIGMA_M_STARTSWITH) ? SIGMA_P_PREFIX :
                m->bits & B(SIGMA_M_ENDSWITH) ? SIGMA_P_SUFFIX : SIGMA_P_EXACT;
        return sigma_build_field(b, s, len, line, &p->ref);
}

int sigma_value_compile(struct sigma_build *b, const struct sigma_mods *m, bool keyword,
                        const char *s, size_t len, unsigned line, struct sigma_tmp *out)
{
        struct tlist l = { 0 };
        struct sigma_pat p;
        int r;

        if (len > SIGMA_VALUE_MAX)
                return sigma_err_set(b->err, line, "value longer than %u bytes", SIGMA_VALUE_MAX);
        if (m->bits & MB_TYPE) {
                r = compile_typed(b, m, s, len, line, &p);
                if (r < 0) {
                        sigma_pat_release(&p);
                        return r;
                }
                return sigma_build_match(b, &p, keyword, out);
        }
        r = tokens_from_text(s, len, true, &l);
        if (r >= 0)
                r = run_transforms(m, keyword, &l, line, b->err);
        for (uint32_t i = 0; i < l.n && r >= 0; i++) {
                if (l.v[i].n > SIGMA_VALUE_MAX) {
                        r = sigma_err_set(b->err, line, "value longer than %u bytes", SIGMA_VALUE_MAX);
                        break;
                }
                r = pat_from_tokens(&l.v[i], m->bits & B(SIGMA_M_CASED), &p);
                if (r >= 0)
                        r = sigma_build_match(b, &p, keyword, out);
        }
        tlist_release(&l);
        return r;
}

int sigma_value_special(struct sigma_build *b, const struct sigma_mods *m, const struct sigma_ydoc *d,
                        const struct sigma_ynode *v, struct sigma_tmp *out)
{
        struct sigma_pat p = { 0 };

        if (m->bits & B(SIGMA_M_EXISTS)) {
                const char *s = v->type == SIGMA_YSCALAR ? sigma_ydoc_str(d, v) : "";

                if (v->type != SIGMA_YSCALAR || (strcasecmp(s, "true") && strcasecmp(s, "false")))
                        return sigma_err_set(b->err, v->line, "modifier 'exists' needs true or false");
                p.kind = SIGMA_P_EXISTS;
                p.op = s[0] == 't' || s[0] == 'T';
                return sigma_build_match(b, &p, false, out);
        }
        if (v->type == SIGMA_YSCALAR && sigma_ynode_is_null(d, v)) {
                if (m->bits)
                        return sigma_err_set(b->err, v->line, "null cannot take modifiers");
                p.kind = SIGMA_P_NULL;
                return sigma_build_match(b, &p, false, out);
        }
        return 1;       /* not special */
}

/* --- matching ----------------------------------------------------------------------- */

/* Bytes one token matches at s[i] (0: no match). */
static uint32_t tok_width(uint16_t t, const unsigned char *s, uint32_t i, uint32_t len)
{
        unsigned char c = s[i];

        if (t < 256)
                return c == t;
        if (t == SIGMA_T_QMARK) {
                uint32_t w = c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;

                if (w > len - i)
                        return 1;
                for (uint32_t k = 1; k < w; k++)
                        if ((s[i + k] & 0xc0) != 0x80)
                                return 1;
                return w;
        }
        if (c == '-' || c == '/')
                return 1;
        if (c == 0xe2 && len - i >= 3 && s[i + 1] == 0x80 && s[i + 2] >= 0x93 && s[i + 2] <= 0x95)
                return 3;
        return 0;
}

bool sigma_glob_match(const uint16_t *tok, uint32_t n, const char *str, uint32_t len)
{
        const unsigned char *s = (const unsigned char *)str;
        uint32_t pi = 0, si = 0, star_pi = UINT32_MAX, star_si = 0, w;

        while (si < len) {
                if (pi < n && tok[pi] == SIGMA_T_STAR) {
                        star_pi = pi++;
                        star_si = si;
                } else if (pi < n && (w = tok_width(tok[pi], s, si, len)) != 0) {
                        pi++;
                        si += w;
                } else if (star_pi != UINT32_MAX) {
                        pi = star_pi + 1;
                        si = ++star_si;
                } else {
                        return false;
                }
        }
        while (pi < n && tok[pi] == SIGMA_T_STAR)
                pi++;
        return pi == n;
}

static bool cidr_match(const struct sigma_pat *p, const char *s, uint32_t len)
{
        uint8_t addr[16], fam;
        const uint8_t *a = addr;
        unsigned full, rem;

        if (!ip_parse(s, len, addr, &fam))
                return false;
        if (fam == 6 && p->cidr_family == 4) {
                static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

                if (memcmp(addr, mapped, 12) != 0)
                        return false;
                a = addr + 12;
        } else if (fam != p->cidr_family) {
                return false;
        }
        full = p->cidr_bits / 8;
        rem = p->cidr_bits % 8;
        if (memcmp(a, p->cidr_addr, full) != 0)
                return false;
        return rem == 0 || ((a[full] ^ p->cidr_addr[full]) & (0xff00u >> rem) & 0xff) == 0;
}

static bool num_test(uint8_t op, int c)
{
        switch (op) {
        case SIGMA_NUM_LT: return c < 0;
        case SIGMA_NUM_LTE: return c <= 0;
        case SIGMA_NUM_GT: return c > 0;
        case SIGMA_NUM_GTE: return c >= 0;
        default: return c == 0;
        }
}

static bool num_match(const struct sigma_pat *p, const char *s, uint32_t len)
{
        struct sigma_num v;

        return sigma_num_parse(s, len, &v) && num_test(p->op, sigma_num_cmp(&v, &p->num));
}

/* The value of a time pattern is a whole number (see pat_time). */
static bool time_match(const struct sigma_pat *p, const char *s, uint32_t len)
{
        uint32_t part;

        if (!sigma_date_part(s, len, (enum sigma_time_unit)p->unit, &part))
                return false;
        return num_test(p->op, part < p->num.mag ? -1 : part > p->num.mag);
}

bool sigma_lit_match(uint8_t kind, const char *t, uint32_t len, const char *lit, uint32_t n)
{
        switch (kind) {
        case SIGMA_P_EXACT:
                return len == n && memcmp(t, lit, n) == 0;
        case SIGMA_P_PREFIX:
                return len >= n && memcmp(t, lit, n) == 0;
        case SIGMA_P_SUFFIX:
                return len >= n && memcmp(t + len - n, lit, n) == 0;
        default:
                return n == 0 || (len >= n && memmem(t, len, lit, n) != NULL);
        }
}

bool sigma_pat_match_text(const struct sigma_pat *p, const struct sigma_view *v,
                          pcre2_match_data *md, pcre2_match_context *mctx)
{
        const char *t = p->cased ? v->orig : v->low;

        switch (p->kind) {
        case SIGMA_P_EXACT: case SIGMA_P_PREFIX: case SIGMA_P_SUFFIX: case SIGMA_P_CONTAINS:
                return sigma_lit_match(p->kind, t, v->len, p->lit, p->len);
        case SIGMA_P_GLOB:
                return sigma_glob_match(p->tok, p->len, t, v->len);
        case SIGMA_P_RE:
                return pcre2_match(p->re, (PCRE2_SPTR)(v->len ? v->orig : ""), v->len, 0, 0, md, mctx) >= 0;
        case SIGMA_P_CIDR:
                return cidr_match(p, v->orig, v->len);
        case SIGMA_P_NUM:
                return num_match(p, v->orig, v->len);
        case SIGMA_P_TIME:
                return time_match(p, v->orig, v->len);
        default:
                return false;
        }
}
