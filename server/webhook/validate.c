/* webhook validate: the checks on a subscription as an admin sends it, the
 * signature and the retry schedule. Pure functions of their input (fuzzed). */
#include "server/webhook/webhook-internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/strutil.h"
#include "util/vbuf.h"

static const char *const sub_keys[] = { "name", "url", "events", "secret", "ca_pem", "enabled", NULL };

/* "a, b and c" for error messages. */
static void names_text(const char *const *names, char *out, size_t size)
{
        size_t n = 0;

        out[0] = '\0';
        for (size_t i = 0; names[i] && n < size; i++)
                n += (size_t)snprintf(out + n, size - n, "%s%s", i == 0 ? "" : names[i + 1] ? ", " : " and ",
                                      names[i]);
}

/* A JSON string without NUL bytes, or NULL. */
static const char *string_of(const json_t *v)
{
        const char *s = json_string_value(v);

        return s && strlen(s) == json_string_length(v) ? s : NULL;
}

/* True for 127.0.0.0/8 written as a dotted quad, [::1], ::1 and localhost. */
static bool host_is_loopback(const char *host)
{
        unsigned a, b, c, d;
        char tail;

        if (strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0)
                return true;
        return sscanf(host, "%3u.%3u.%3u.%3u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 &&
               c < 256 && d < 256;
}

/* Reads the URL's parts through libcurl's own parser, so what is checked
 * here is what libcurl will connect to. */
static int url_parts_check(const char *url, char *err, size_t err_size)
{
        char *scheme = NULL, *host = NULL, *user = NULL, *pass = NULL, *frag = NULL;
        CURLU *u = curl_url();
        int r = -EINVAL;

        if (!u) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
                snprintf(err, err_size, "'url' is not a valid absolute URL with a host");
                goto out;
        }
        curl_url_get(u, CURLUPART_USER, &user, 0);
        curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
        curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0);
        if (user || pass)
                snprintf(err, err_size, "'url' must not hold credentials (user:password@): the signature "
                         "authenticates vigild to the receiver, and URLs are shown to every reader");
        else if (frag)
                snprintf(err, err_size, "'url' must not hold a fragment ('#...')");
        else if (strcmp(scheme, "https") != 0 && !(strcmp(scheme, "http") == 0 && host_is_loopback(host)))
                snprintf(err, err_size, "'url' must be https://, or http:// to a loopback address "
                         "(127.0.0.1, [::1], localhost)");
        else
                r = 0;
out:
        curl_free(scheme);
        curl_free(host);
        curl_free(user);
        curl_free(pass);
        curl_free(frag);
        curl_url_cleanup(u);
        return r;
}

int webhook_url_check(const char *url, char *err, size_t err_size)
{
        if (!util_str_printable(url, WEBHOOK_URL_MAX) || strchr(url, ' ') ||
            (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) ||
            strchr(url, '/')[2] == '/') {
                snprintf(err, err_size, "'url' must be an http(s):// URL with a host, of at most %d printable ASCII "
                         "characters without spaces", WEBHOOK_URL_MAX);
                return -EINVAL;
        }
        return url_parts_check(url, err, err_size);
}

static int events_check(const json_t *v, uint32_t *ret, char *err, size_t err_size)
{
        char list[256];
        uint32_t bits = 0;
        const json_t *e;
        size_t i, k;

        names_text(webhook_event_names, list, sizeof(list));
        if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > WEBHOOK_EVENTS_MAX) {
                snprintf(err, err_size, "'events' must be an array of 1 to %d event names from %s",
                         WEBHOOK_EVENTS_MAX, list);
                return -EINVAL;
        }
        json_array_foreach(v, i, e) {
                const char *s = string_of(e);
                for (k = 0; s && webhook_event_names[k] && strcmp(s, webhook_event_names[k]) != 0; k++)
                        ;
                if (!s || !webhook_event_names[k]) {
                        snprintf(err, err_size, "unknown event '%.64s' in 'events': valid events are %s",
                                 s && util_str_printable(s, 64) ? s : "?", list);
                        return -EINVAL;
                }
                if (bits & (1u << k)) {
                        snprintf(err, err_size, "event '%s' is named twice in 'events'", s);
                        return -EINVAL;
                }
                bits |= 1u << k;
        }
        *ret = bits;
        return 0;
}

static int ca_pem_check(const char *pem, char *err, size_t err_size)
{
        struct crypto_cert_info info;

        if (strlen(pem) > CRYPTO_PEM_MAX || !strstr(pem, "-----BEGIN CERTIFICATE-----") ||
            crypto_cert_info_pem(pem, strlen(pem), &info) < 0) {
                snprintf(err, err_size, "'ca_pem' must be a PEM certificate (-----BEGIN CERTIFICATE-----) of at "
                         "most %d bytes", CRYPTO_PEM_MAX);
                return -EINVAL;
        }
        return 0;
}

/* Checks one member; fills the matching field of in. */
static int member_check(const char *key, const json_t *v, struct webhook_sub_input *in, char *err, size_t err_size)
{
        const char *s = string_of(v);

        if (strcmp(key, "name") == 0) {
                if (!s || !*s || !util_str_is_text(s, WEBHOOK_NAME_MAX)) {
                        snprintf(err, err_size, "'name' must be a non-empty string of at most %d bytes without "
                                 "control characters", WEBHOOK_NAME_MAX);
                        return -EINVAL;
                }
                in->name = s;
        } else if (strcmp(key, "url") == 0) {
                if (!s) {
                        snprintf(err, err_size, "'url' must be a string");
                        return -EINVAL;
                }
                if (webhook_url_check(s, err, err_size) < 0)
                        return -EINVAL;
                in->url = s;
        } else if (strcmp(key, "events") == 0) {
                if (events_check(v, &in->events, err, err_size) < 0)
                        return -EINVAL;
                in->has_events = true;
        } else if (strcmp(key, "secret") == 0) {
                if (!s || strlen(s) < WEBHOOK_SECRET_MIN || !util_str_printable(s, WEBHOOK_SECRET_MAX) ||
                    strchr(s, ' ')) {
                        snprintf(err, err_size, "'secret' must be %d to %d printable ASCII characters without "
                                 "spaces (leave it out to have one generated)", WEBHOOK_SECRET_MIN,
                                 WEBHOOK_SECRET_MAX);
                        return -EINVAL;
                }
                in->secret = s;
        } else if (strcmp(key, "ca_pem") == 0) {
                if (!json_is_null(v) && (!s || ca_pem_check(s, err, err_size) < 0)) {
                        if (!s)
                                snprintf(err, err_size, "'ca_pem' must be a PEM string, or null for the system "
                                         "trust store");
                        return -EINVAL;
                }
                in->ca_pem = s;
                in->has_ca_pem = true;
        } else {
                if (!json_is_boolean(v)) {
                        snprintf(err, err_size, "'enabled' must be true or false");
                        return -EINVAL;
                }
                in->enabled = json_is_true(v);
                in->has_enabled = true;
        }
        return 0;
}

int webhook_sub_check(const json_t *body, bool partial, struct webhook_sub_input *ret,
                      char *err, size_t err_size)
{
        struct webhook_sub_input in = { .enabled = true };
        char list[128];
        const char *key;
        json_t *v;

        if (!json_is_object(body) || json_object_size(body) == 0) {
                snprintf(err, err_size, "the body must be a JSON object with %s",
                         partial ? "at least one member to change" : "'name', 'url' and 'events'");
                return -EINVAL;
        }
        json_object_foreach((json_t *)body, key, v) {
                size_t k;
                for (k = 0; sub_keys[k] && strcmp(key, sub_keys[k]) != 0; k++)
                        ;
                if (!sub_keys[k]) {
                        names_text(sub_keys, list, sizeof(list));
                        snprintf(err, err_size, "unknown member '%.64s': a webhook has %s",
                                 util_str_printable(key, 64) ? key : "?", list);
                        return -EINVAL;
                }
                if (member_check(key, v, &in, err, err_size) < 0)
                        return -EINVAL;
        }
        if (!partial && (!in.name || !in.url || !in.has_events)) {
                snprintf(err, err_size, "'%s' is required", !in.name ? "name" : !in.url ? "url" : "events");
                return -EINVAL;
        }
        *ret = in;
        return 0;
}

int webhook_signature(const void *key, size_t key_len, const char *timestamp, size_t ts_len,
                      const char *body, size_t body_len, char out[static WEBHOOK_SIGNATURE_HEX_LEN + 1])
{
        uint8_t mac[CRYPTO_SHA256_LEN];
        struct vbuf msg;
        int r;

        vbuf_init(&msg, ts_len + 1 + body_len);
        r = vbuf_append(&msg, timestamp, ts_len);
        if (r == 0)
                r = vbuf_append(&msg, ".", 1);
        if (r == 0)
                r = vbuf_append(&msg, body, body_len);
        if (r == 0)
                r = crypto_hmac_sha256(key, key_len, msg.data, msg.len, mac);
        vbuf_release(&msg);
        if (r < 0)
                return -EIO;
        util_hex_encode(mac, sizeof(mac), out);
        return 0;
}

int64_t webhook_backoff_ms(unsigned attempts, int64_t base_ms, int64_t max_ms, uint32_t jitter)
{
        int64_t d = base_ms;

        for (unsigned i = 1; i < attempts && d < max_ms; i++)
                d *= 2;
        if (d > max_ms)
                d = max_ms;
        /* spread retries of many deliveries that failed together */
        return d - (int64_t)((double)d / 4.0 * ((double)jitter / (double)UINT32_MAX));
}
