/* Fuzzes the decision endpoint's request-head parser on any bytes, read as
 * the listener reads them: request after request, each body skipped. Every
 * result must be 0, -EAGAIN (only below the head bound), -E2BIG or -EINVAL;
 * a parsed head must end in an empty line within the bound, every pointer
 * must lie inside it, the method and header names must be tokens, values
 * must hold no CR, LF or NUL and no blanks at either end, the head must
 * parse the same on its own and be incomplete without its last byte. The
 * bytes are also sent through access_http_answer_header(), whose value must
 * come out without a control byte. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/access/listener.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_span(const char *p, size_t n, const char *buf, size_t head_len)
{
        if (p < buf || n > head_len || p + n > buf + head_len)
                abort();
}

static bool is_token(const char *p, size_t n)
{
        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (p[i] <= ' ' || p[i] >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", p[i]))
                        return false;
        return true;
}

static void check_head(const char *buf, size_t len, const struct access_http_req *r, size_t head_len)
{
        struct access_http_req again;
        size_t again_len, n;

        if (head_len < 16 || head_len > len || head_len > ACCESS_HTTP_HEAD_MAX ||
            memcmp(buf + head_len - 4, "\r\n\r\n", 4) != 0)
                abort();
        check_span(r->method, r->method_len, buf, head_len);
        check_span(r->target, r->target_len, buf, head_len);
        if (!is_token(r->method, r->method_len) || r->target_len == 0 || r->minor > 1 ||
            r->n_headers > ACCESS_HTTP_HEADERS_MAX || r->content_length > ACCESS_HTTP_BODY_MAX)
                abort();
        for (size_t i = 0; i < r->target_len; i++)
                if (r->target[i] <= ' ' || r->target[i] >= 0x7f)
                        abort();
        for (size_t i = 0; i < r->n_headers; i++) {
                const struct access_http_header *h = &r->headers[i];
                char name[ACCESS_HTTP_HEAD_MAX + 1];
                const char *v;

                check_span(h->name, h->name_len, buf, head_len);
                check_span(h->value, h->value_len, buf, head_len);
                if (!is_token(h->name, h->name_len) || memchr(h->value, '\r', h->value_len) ||
                    memchr(h->value, '\n', h->value_len) || memchr(h->value, '\0', h->value_len))
                        abort();
                if (h->value_len && strchr(" \t", h->value[0]))
                        abort();
                if (h->value_len && strchr(" \t", h->value[h->value_len - 1]))
                        abort();
                /* a lookup by this name finds this header or an earlier one of the same name */
                memcpy(name, h->name, h->name_len);
                name[h->name_len] = '\0';
                v = access_http_header(r, name, &n);
                if (!v || v > h->value)
                        abort();
        }
        if (access_http_parse(buf, head_len, &again, &again_len) != 0 || again_len != head_len ||
            again.n_headers != r->n_headers || again.keep_alive != r->keep_alive ||
            again.content_length != r->content_length)
                abort();
        if (access_http_parse(buf, head_len - 1, &again, &again_len) != -EAGAIN)
                abort();
}

static void check_answer(const uint8_t *data, size_t size)
{
        struct access_http_answer a = { .status = 200 };
        const unsigned char *v;

        if (access_http_answer_header(&a, "X-Vigil-Reason", "%.*s", (int)(size < 4096 ? size : 4096), data) != 0)
                abort();
        v = (const unsigned char *)a.headers[0].value;
        if (strlen((const char *)v) > ACCESS_HTTP_VALUE_MAX)
                abort();
        for (; *v; v++)
                if (*v < 0x20 || *v == 0x7f)
                        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *buf = (const char *)data;
        struct access_http_req *r = malloc(sizeof(*r));
        size_t pos = 0, head_len;
        int k;

        if (!r)
                return 0;
        for (;;) {
                k = access_http_parse(buf + pos, size - pos, r, &head_len);
                if (k != 0)
                        break;
                check_head(buf + pos, size - pos, r, head_len);
                pos += head_len;
                pos += size - pos < r->content_length ? size - pos : (size_t)r->content_length;
        }
        if (k != -EINVAL && k != -E2BIG && !(k == -EAGAIN && size - pos < ACCESS_HTTP_HEAD_MAX))
                abort();
        free(r);
        check_answer(data, size);
        return 0;
}
