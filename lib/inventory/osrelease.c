/* osrelease: the operating system identification of os-release(5).
 *
 * The file is meant to be sourced by a shell, so values follow shell quoting,
 * but nothing is expanded or executed here: quotes and escapes are undone and
 * a line this small subset does not understand is skipped, as os-release(5)
 * asks of its readers. */
#include "inventory/inventory.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "util/vbuf.h"

enum os_key {
        KEY_NAME,
        KEY_ID,
        KEY_VERSION,
        KEY_VERSION_ID,
        KEY_PRETTY_NAME,
        KEY_VERSION_CODENAME,
        KEY_COUNT,
};

static const struct {
        const char *var;
        const char *json;
} os_keys[KEY_COUNT] = {
        [KEY_NAME] = { "NAME", "name" },
        [KEY_ID] = { "ID", "id" },
        [KEY_VERSION] = { "VERSION", "version" },
        [KEY_VERSION_ID] = { "VERSION_ID", "version_id" },
        [KEY_PRETTY_NAME] = { "PRETTY_NAME", "pretty_name" },
        [KEY_VERSION_CODENAME] = { "VERSION_CODENAME", "version_codename" },
};

static bool is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\r';
}

static bool is_key_char(char c, bool first)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
               (!first && c >= '0' && c <= '9');
}

/* Strict UTF-8 without control characters, so JSON can carry the value as is. */
static bool text_valid(const unsigned char *s, size_t n)
{
        size_t i = 0;

        while (i < n) {
                unsigned char c = s[i];
                uint32_t cp, min;
                size_t k;

                if (c < 0x80) {
                        if (c < 0x20 || c == 0x7f)
                                return false;
                        i++;
                        continue;
                }
                if (c >= 0xc2 && c <= 0xdf) {
                        k = 1; cp = c & 0x1f; min = 0x80;
                } else if (c >= 0xe0 && c <= 0xef) {
                        k = 2; cp = c & 0x0f; min = 0x800;
                } else if (c >= 0xf0 && c <= 0xf4) {
                        k = 3; cp = c & 0x07; min = 0x10000;
                } else {
                        return false;
                }
                if (n - i - 1 < k)
                        return false;
                for (size_t j = 1; j <= k; j++) {
                        if ((s[i + j] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (s[i + j] & 0x3f);
                }
                if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                if (cp >= 0x80 && cp < 0xa0)    /* C1 controls */
                        return false;
                i += k + 1;
        }
        return true;
}

/* Undoes shell quoting of p[0..n) into out (at least n bytes). Returns the
 * length written, or -EINVAL for a value this parser does not accept. */
static int value_unquote(const char *p, size_t n, char *out)
{
        size_t i = 0, o = 0;

        while (i < n && !is_space(p[i])) {
                char c = p[i++];

                if (c == '\'') {
                        const char *q = memchr(p + i, '\'', n - i);
                        if (!q)
                                return -EINVAL;
                        memcpy(out + o, p + i, (size_t)(q - (p + i)));
                        o += (size_t)(q - (p + i));
                        i = (size_t)(q - p) + 1;
                } else if (c == '"') {
                        for (;;) {
                                if (i >= n)
                                        return -EINVAL;
                                c = p[i++];
                                if (c == '"')
                                        break;
                                if (c == '\\' && i < n && p[i] != '\0' && strchr("\"\\$`", p[i]))
                                        c = p[i++];
                                out[o++] = c;
                        }
                } else if (c == '\\') {
                        if (i >= n)
                                return -EINVAL;
                        out[o++] = p[i++];
                } else {
                        out[o++] = c;
                }
        }
        while (i < n && is_space(p[i]))
                i++;
        if (i < n && p[i] != '#')
                return -EINVAL;         /* a second word: not one assignment */
        return (int)o;
}

/* Applies one line; lines it does not understand change nothing. */
static int line_apply(const char *p, size_t n, struct vbuf values[KEY_COUNT])
{
        char out[INVENTORY_OS_RELEASE_LINE_MAX];
        size_t k = 0;
        int m;

        if (n > INVENTORY_OS_RELEASE_LINE_MAX)
                return 0;
        while (n > 0 && is_space(*p)) {
                p++;
                n--;
        }
        if (n == 0 || *p == '#')
                return 0;
        while (k < n && is_key_char(p[k], k == 0))
                k++;
        if (k == 0 || k >= n || p[k] != '=')
                return 0;
        m = value_unquote(p + k + 1, n - k - 1, out);
        if (m < 0 || !text_valid((const unsigned char *)out, (size_t)m))
                return 0;
        for (int key = 0; key < KEY_COUNT; key++) {
                if (strlen(os_keys[key].var) != k || memcmp(os_keys[key].var, p, k) != 0)
                        continue;
                vbuf_reset(&values[key]);
                return vbuf_append(&values[key], out, (size_t)m);
        }
        return 0;
}

int inventory_os_release_parse(const char *text, size_t len, json_t *ret_obj)
{
        struct vbuf values[KEY_COUNT];
        const char *p = text, *end = text + len;
        json_t *tmp = NULL;
        int r = 0;

        if (!json_is_object(ret_obj) || (!text && len > 0))
                return -EINVAL;
        if (len > INVENTORY_OS_RELEASE_MAX)
                return -E2BIG;
        for (int key = 0; key < KEY_COUNT; key++)
                vbuf_init(&values[key], INVENTORY_OS_RELEASE_LINE_MAX);

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

                r = line_apply(p, n, values);
                if (r < 0)
                        goto release;
                p += n + (nl ? 1 : 0);
        }

        /* build aside, so a failure leaves ret_obj as it was */
        tmp = json_object();
        if (!tmp) {
                r = -ENOMEM;
                goto release;
        }
        for (int key = 0; key < KEY_COUNT; key++) {
                json_t *v = json_stringn(vbuf_str(&values[key]), values[key].len);
                if (!v || json_object_set_new(tmp, os_keys[key].json, v) < 0) {
                        r = -ENOMEM;
                        goto release;
                }
        }
        if (json_object_update(ret_obj, tmp) < 0)
                r = -ENOMEM;

release:
        json_decref(tmp);
        for (int key = 0; key < KEY_COUNT; key++)
                vbuf_release(&values[key]);
        return r;
}
