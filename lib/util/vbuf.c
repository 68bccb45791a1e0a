/* vbuf: capped growable buffer. See vbuf.h. */
#include "util/vbuf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vbuf_init(struct vbuf *b, size_t max)
{
        b->data = NULL;
        b->len = 0;
        b->alloc = 0;
        b->max = max;
}

void vbuf_release(struct vbuf *b)
{
        free(b->data);
        b->data = NULL;
        b->len = 0;
        b->alloc = 0;
}

void vbuf_reset(struct vbuf *b)
{
        b->len = 0;
        if (b->data)
                b->data[0] = '\0';
}

/* Makes room for n more bytes plus the terminating NUL. */
static int vbuf_reserve(struct vbuf *b, size_t n)
{
        size_t need, alloc;
        char *p;

        if (n > b->max || b->len > b->max - n)
                return -E2BIG;
        need = b->len + n + 1;
        if (need <= b->alloc)
                return 0;
        alloc = b->alloc ? b->alloc : 64;
        while (alloc < need)
                alloc = alloc > SIZE_MAX / 2 ? need : alloc * 2;
        if (alloc > b->max + 1)
                alloc = b->max + 1;
        p = realloc(b->data, alloc);
        if (!p)
                return -ENOMEM;
        b->data = p;
        b->alloc = alloc;
        return 0;
}

int vbuf_append(struct vbuf *b, const void *p, size_t n)
{
        int r = vbuf_reserve(b, n);

        if (r < 0)
                return r;
        if (n)
                memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
}

int vbuf_puts(struct vbuf *b, const char *s)
{
        return vbuf_append(b, s, strlen(s));
}

int vbuf_vprintf(struct vbuf *b, const char *fmt, va_list ap)
{
        va_list aq;
        int n, r;

        va_copy(aq, ap);
        n = vsnprintf(NULL, 0, fmt, aq);
        va_end(aq);
        if (n < 0)
                return -EINVAL;
        r = vbuf_reserve(b, (size_t)n);
        if (r < 0)
                return r;
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        b->len += (size_t)n;
        return 0;
}

int vbuf_printf(struct vbuf *b, const char *fmt, ...)
{
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vbuf_vprintf(b, fmt, ap);
        va_end(ap);
        return r;
}

const char *vbuf_str(const struct vbuf *b)
{
        return b->data ? b->data : "";
}

char *vbuf_steal(struct vbuf *b, size_t *ret_len)
{
        char *p = b->data;
        size_t len = b->len;

        if (!p)
                p = calloc(1, 1);
        if (!p)
                return NULL;
        b->data = NULL;
        b->len = 0;
        b->alloc = 0;
        if (ret_len)
                *ret_len = len;
        return p;
}
