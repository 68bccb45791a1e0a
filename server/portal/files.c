/* portal files: serves the files of portal/ embedded in vigild (the table
 * gen-files.py generates), with their type, ETag and gzip. See portal.h. */
#include <string.h>
#include <strings.h>

#include "server/portal/portal.h"

/* Skips spaces and tabs. */
static const char *skip_ows(const char *p)
{
        while (*p == ' ' || *p == '\t')
                p++;
        return p;
}

/* Whether the parameters of one coding (from just after its name to the
 * next ',' or the end) set q to zero: "q=0", "q=0.0", "q=0.000". */
static bool q_is_zero(const char *p, const char *end)
{
        while (p < end) {
                const char *semi = memchr(p, ';', (size_t)(end - p));
                const char *v;

                if (!semi)
                        return false;
                p = skip_ows(semi + 1);
                if (end - p < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=')
                        continue;
                v = p + 2;
                if (v >= end || *v != '0')
                        return false;
                for (v++; v < end && *v != ';' && *v != ' ' && *v != '\t'; v++)
                        if (*v != '.' && *v != '0')
                                return false;
                return true;
        }
        return false;
}

bool portal_accepts_gzip(const char *h)
{
        const char *p = h;

        if (!p)
                return false;
        while (*p) {
                const char *end = strchr(p, ','), *name, *name_end;

                if (!end)
                        end = p + strlen(p);
                name = skip_ows(p);
                name_end = name;
                while (name_end < end && *name_end != ';' && *name_end != ' ' && *name_end != '\t')
                        name_end++;
                if ((((size_t)(name_end - name) == 4 && strncasecmp(name, "gzip", 4) == 0) ||
                     ((size_t)(name_end - name) == 1 && *name == '*')) &&
                    !q_is_zero(name_end, end))
                        return true;
                p = *end ? end + 1 : end;
        }
        return false;
}

bool portal_etag_matches(const char *h, const char *etag)
{
        size_t el = strlen(etag);
        const char *p = h;

        if (!p)
                return false;
        p = skip_ows(p);
        if (strcmp(p, "*") == 0)
                return true;
        while (*p) {
                const char *end = strchr(p, ',');

                if (!end)
                        end = p + strlen(p);
                p = skip_ows(p);
                if (end - p >= 2 && p[0] == 'W' && p[1] == '/')
                        p += 2;         /* If-None-Match compares weakly (RFC 9110 13.1.2) */
                if ((size_t)(end - p) >= el && strncmp(p, etag, el) == 0 && *skip_ows(p + el) == *end)
                        return true;
                p = *end ? end + 1 : end;
        }
        return false;
}

static const struct portal_file *file_find(const char *path)
{
        for (size_t i = 0; i < portal_files_count; i++)
                if (strcmp(portal_files[i].path, path) == 0)
                        return &portal_files[i];
        return NULL;
}

void portal_file_serve(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const struct portal_file *f = file_find(req->path);
        struct http_bytes b;

        if (!f) {
                http_reply_error(rep, 404, "not_found", "no such file: %s", req->path);
                return;
        }
        /* no-cache: the browser asks every time, and an unchanged file costs a 304 */
        b = (struct http_bytes){ .data = f->data, .len = f->len, .type = f->type, .etag = f->etag,
                                 .cache_control = "no-cache" };
        if (f->gz && portal_accepts_gzip(http_request_header(req, "Accept-Encoding"))) {
                b.data = f->gz;
                b.len = f->gz_len;
                b.encoding = "gzip";
                b.etag = f->gz_etag;
        }
        http_reply_bytes(rep, portal_etag_matches(http_request_header(req, "If-None-Match"), b.etag) ? 304 : 200,
                         &b);
}
