/* httpc: JSON over HTTPS with libcurl. See httpc.h. */
#include "httpc/httpc.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/vbuf.h"

#define URL_MAX 2048
#define RESPONSE_MAX_DEFAULT (16 * 1024 * 1024)

struct httpc {
        CURL *curl;
        char base[URL_MAX];
        long timeout_s;
        struct vbuf resp;
        bool overflow;
        FILE *out;                      /* this request's 2xx body goes here */
        bool out_failed;
        atomic_bool *abort_flag;
};

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
        struct httpc *c = userdata;

        (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
        return c->abort_flag && atomic_load(c->abort_flag) ? 1 : 0;
}

void httpc_set_abort(struct httpc *c, atomic_bool *flag)
{
        c->abort_flag = flag;
        curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, flag ? on_progress : NULL);
        curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, c);
        curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, flag ? 0L : 1L);
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
        curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_data(char *p, size_t size, size_t n, void *userdata)
{
        struct httpc *c = userdata;
        long status = 0;

        if (c->out) {
                curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
                if (status >= 200 && status < 300) {
                        if (fwrite(p, 1, size * n, c->out) != size * n) {
                                c->out_failed = true;
                                return 0;
                        }
                        return size * n;
                }
        }
        if (vbuf_append(&c->resp, p, size * n) < 0) {
                c->overflow = true;
                return 0;       /* makes curl fail the transfer */
        }
        return size * n;
}

int httpc_new(const char *base_url, const struct httpc_options *o, struct httpc **ret)
{
        struct httpc *c;
        size_t n = strlen(base_url);

        if (strncmp(base_url, "https://", 8) != 0 || n >= URL_MAX - 512 || !o->ca_file)
                return -EINVAL;
        pthread_once(&global_once, global_init);
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->curl = curl_easy_init();
        if (!c->curl) {
                free(c);
                return -ENOMEM;
        }
        memcpy(c->base, base_url, n + 1);
        while (n > 8 && c->base[n - 1] == '/')
                c->base[--n] = '\0';
        vbuf_init(&c->resp, o->response_max ? o->response_max : RESPONSE_MAX_DEFAULT);
        curl_easy_setopt(c->curl, CURLOPT_CAINFO, o->ca_file);
        curl_easy_setopt(c->curl, CURLOPT_CAPATH, NULL);
        curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 2L);
        curl_easy_setopt(c->curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        if (o->cert_file) {
                curl_easy_setopt(c->curl, CURLOPT_SSLCERT, o->cert_file);
                curl_easy_setopt(c->curl, CURLOPT_SSLKEY, o->key_file);
        }
        c->timeout_s = o->timeout_s ? o->timeout_s : 30L;
        curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, c->timeout_s);
        curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "https");
        curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
        curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "vigil/" VIGIL_VERSION);
        *ret = c;
        return 0;
}

void httpc_free(struct httpc *c)
{
        if (!c)
                return;
        curl_easy_cleanup(c->curl);
        vbuf_release(&c->resp);
        free(c);
}

int httpc_request(struct httpc *c, const char *method, const char *path, const char *bearer,
                  const char *body, size_t body_len, long *ret_status, json_t **ret_json,
                  char *err, size_t err_size)
{
        return httpc_request_ex(c, method, path, bearer, body, body_len, NULL, ret_status, ret_json, err, err_size);
}

int httpc_request_ex(struct httpc *c, const char *method, const char *path, const char *bearer,
                     const char *body, size_t body_len, const struct httpc_extra *x,
                     long *ret_status, json_t **ret_json, char *err, size_t err_size)
{
        static const struct httpc_extra none = { 0 };
        struct curl_slist *headers = NULL;
        char url[URL_MAX], auth[512], type[128];
        CURLcode cr;
        int r = 0;

        if (!x)
                x = &none;
        *ret_json = NULL;
        if ((size_t)snprintf(url, sizeof(url), "%s%s", c->base, path) >= sizeof(url)) {
                snprintf(err, err_size, "URL too long");
                return -EINVAL;
        }
        vbuf_reset(&c->resp);
        c->overflow = false;
        c->out = x->out;
        c->out_failed = false;
        headers = curl_slist_append(headers, x->out ? "Accept: */*" : "Accept: application/json");
        if (body) {
                snprintf(type, sizeof(type), "Content-Type: %s", x->content_type ? x->content_type : "application/json");
                headers = curl_slist_append(headers, type);
        }
        if (bearer) {
                if ((size_t)snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer) >= sizeof(auth)) {
                        curl_slist_free_all(headers);
                        snprintf(err, err_size, "token too long");
                        return -EINVAL;
                }
                headers = curl_slist_append(headers, auth);
                explicit_bzero(auth, sizeof(auth));
        }
        curl_easy_setopt(c->curl, CURLOPT_URL, url);
        curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
        if (body) {
                curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        } else {
                curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
                curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
        }
        curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, x->timeout_s ? x->timeout_s : c->timeout_s);
        cr = curl_easy_perform(c->curl);
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
        curl_slist_free_all(headers);
        c->out = NULL;
        if (cr != CURLE_OK) {
                if (c->out_failed) {
                        snprintf(err, err_size, "%s: cannot write the response: %s", url, strerror(errno));
                        return -EIO;
                }
                if (c->overflow) {
                        snprintf(err, err_size, "%s: response larger than %zu bytes", url, c->resp.max);
                        return -E2BIG;
                }
                if (cr == CURLE_ABORTED_BY_CALLBACK) {
                        snprintf(err, err_size, "%s: given up: the caller stops", url);
                        return -ECANCELED;
                }
                snprintf(err, err_size, "%s: %s", url, curl_easy_strerror(cr));
                return cr == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT :
                       cr == CURLE_COULDNT_CONNECT ? -ECONNREFUSED : -EIO;
        }
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, ret_status);
        *ret_json = c->resp.len ? json_loadb(c->resp.data, c->resp.len, 0, NULL) : NULL;
        return r;
}

const char *httpc_error_message(const json_t *body, long status)
{
        const char *m = json_string_value(json_object_get(json_object_get(body, "error"), "message"));

        if (m)
                return m;
        switch (status) {
        case 401: return "unauthenticated";
        case 403: return "forbidden";
        case 404: return "not found";
        case 413: return "request too large";
        default: return status >= 500 ? "server error" : "unexpected response";
        }
}

const char *httpc_error_code(const json_t *body)
{
        const char *s = json_string_value(json_object_get(json_object_get(body, "error"), "code"));

        return s ? s : "";
}
