/* vbuf: a growable byte buffer with a size cap fixed at creation.
 *
 * Every buffer that outside input can grow is a vbuf, so no input can make
 * the process allocate without bound. The data is always NUL-terminated, so
 * a vbuf holding text can be used as a C string. */
#pragma once

#include <stdarg.h>
#include <stddef.h>

struct vbuf {
        char *data;     /* NULL until the first append */
        size_t len;
        size_t alloc;
        size_t max;     /* cap on len, fixed by vbuf_init() */
};

/* Prepares an empty buffer that may hold at most max bytes. */
void vbuf_init(struct vbuf *b, size_t max);

/* Frees the data; the buffer is empty and reusable afterwards. */
void vbuf_release(struct vbuf *b);

/* Empties the buffer, keeping its memory. */
void vbuf_reset(struct vbuf *b);

/* Appends n bytes. Returns 0, -E2BIG past the cap (nothing appended), or -ENOMEM. */
int vbuf_append(struct vbuf *b, const void *p, size_t n);

/* Appends a NUL-terminated string; returns as vbuf_append(). */
int vbuf_puts(struct vbuf *b, const char *s);

/* Appends formatted text; returns as vbuf_append(). */
int vbuf_printf(struct vbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int vbuf_vprintf(struct vbuf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Returns the data as a C string ("" when empty); it stays owned by the buffer. */
const char *vbuf_str(const struct vbuf *b);

/* Hands the data to the caller (free() it) and leaves the buffer empty.
 * Returns a heap "" for an empty buffer, NULL only on -ENOMEM. */
char *vbuf_steal(struct vbuf *b, size_t *ret_len);
