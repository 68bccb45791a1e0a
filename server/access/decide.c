/* access decide: one decision — from what the proxy passed in headers, or
 * from a what-if question — against the live snapshot.
 *
 * Identity headers are believed only from the configured proxy: a peer on
 * loopback or the unix socket when no shared secret is set, else a request
 * that carries the secret. A device identity counts only when the proxy
 * reports its certificate verification as SUCCESS and the serial,
 * fingerprint or certificate it passes is the current certificate of a
 * device Vigil onboarded. Every decision is queued for the access log. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "crypto/crypto.h"
#include "jwt/jwt.h"
#include "server/access/access-internal.h"
#include "server/http/http.h"
#include "server/vigild.h"
#include "util/strutil.h"

#define GROUPS_MAX 512                  /* groups of one request: directory and token together */
#define URI_MAX 4096
#define CERT_PEM_MAX 8192

/* What a request says about itself, resolved against a snapshot. */
struct input {
        char method[16];
        char host[ACCESS_HOST_MAX + 1];
        char path[URI_MAX];
        char ip_text[46];
        struct access_ip ip;
        const struct access_snap_device *dev;
        const char *device_problem;     /* why there is no device */
        char device_problem_buf[160];
        const struct access_snap_user *user;
        char upn[ACCESS_ID_MAX + 1];    /* as the request named the user, when not in the directory */
        const char *user_problem;       /* why there is no user */
        char user_problem_buf[JWT_ERR_MAX + 64];
        const char *groups[GROUPS_MAX];
        size_t n_groups;
        struct jwt_claims claims;
        bool have_claims;
};

/* Copies a header's value into out (NUL-terminated). Returns its length,
 * or -1 when absent, empty or too long. */
static ssize_t header_copy(const struct access_http_req *req, const char *name, char *out, size_t size)
{
        size_t n;
        const char *v = access_http_header(req, name, &n);

        if (!v || n == 0 || n >= size)
                return -1;
        memcpy(out, v, n);
        out[n] = '\0';
        return (ssize_t)n;
}

/* Percent-decodes len bytes into out (NUL-terminated). Returns the length,
 * or -EINVAL (bad escape, NUL) or -E2BIG. */
static ssize_t pct_decode(const char *s, size_t len, char *out, size_t size)
{
        size_t n = 0;

        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                if (c == '%') {
                        unsigned char byte;
                        if (i + 2 >= len || util_hex_decode(s + i + 1, 2, &byte, 1) != 1)
                                return -EINVAL;
                        c = (char)byte;
                        i += 2;
                }
                if (c == '\0')
                        return -EINVAL;
                if (n + 1 >= size)
                        return -E2BIG;
                out[n++] = c;
        }
        out[n] = '\0';
        return (ssize_t)n;
}

/* The request path a policy's path prefix is matched against: the query
 * dropped, an absolute-form target's scheme and authority dropped,
 * percent-escapes decoded, repeated slashes merged and "." and ".."
 * segments resolved — so "/wiki/../admin" and "/%61dmin" are "/admin".
 * Returns 0 or -EINVAL / -E2BIG. */
int access_path_normalize(const char *uri, size_t len, char *out, size_t size)
{
        char dec[URI_MAX];
        const char *q = memchr(uri, '?', len), *h = memchr(uri, '#', len);
        ssize_t n;
        size_t o = 0;

        if (q)
                len = (size_t)(q - uri);
        if (h && (size_t)(h - uri) < len)
                len = (size_t)(h - uri);
        if (len >= 8 && (strncasecmp(uri, "http://", 7) == 0 || strncasecmp(uri, "https://", 8) == 0)) {
                const char *a = memchr(uri, ':', len) + 3, *slash = memchr(a, '/', len - (size_t)(a - uri));
                len = slash ? len - (size_t)(slash - uri) : 0;
                uri = slash ? slash : "/";
                if (!slash)
                        len = 1;
        }
        if (len == 0 || uri[0] != '/' || size < 2)
                return -EINVAL;
        n = pct_decode(uri, len, dec, sizeof(dec));
        if (n < 0)
                return (int)n;
        size_t last = 0, last_len = 0;
        for (size_t i = 0; i < (size_t)n;) {
                while (i < (size_t)n && dec[i] == '/')
                        i++;
                size_t j = i;
                while (j < (size_t)n && dec[j] != '/')
                        j++;
                size_t seg = j - i;
                if (seg > 0) {
                        last = i;
                        last_len = seg;
                }
                if (seg == 0 || (seg == 1 && dec[i] == '.')) {
                        /* nothing to add */
                } else if (seg == 2 && dec[i] == '.' && dec[i + 1] == '.') {
                        while (o > 0 && out[o - 1] != '/')
                                o--;
                        if (o > 0)
                                o--;
                } else {
                        if (o + 1 + seg >= size)
                                return -E2BIG;
                        out[o++] = '/';
                        memcpy(out + o, dec + i, seg);
                        o += seg;
                }
                i = j;
        }
        /* a path that ends in "/", "/." or "/.." names a directory */
        bool dir = dec[n - 1] == '/' || (last_len == 1 && dec[last] == '.') ||
                   (last_len == 2 && dec[last] == '.' && dec[last + 1] == '.');
        if (o > 0 && dir) {
                if (o + 1 >= size)
                        return -E2BIG;
                out[o++] = '/';
        }
        if (o == 0)
                out[o++] = '/';
        out[o] = '\0';
        return 0;
}

/* The host without port, lower case, without a trailing dot. */
static int host_normalize(const char *s, size_t len, char out[static ACCESS_HOST_MAX + 1])
{
        size_t n = 0;

        if (len > 0 && s[0] == '[') {
                const char *e = memchr(s, ']', len);
                if (!e)
                        return -EINVAL;
                len = (size_t)(e - s) + 1;
        } else {
                const char *c = memchr(s, ':', len);
                if (c)
                        len = (size_t)(c - s);
        }
        if (len > 0 && s[len - 1] == '.')
                len--;
        if (len == 0 || len > ACCESS_HOST_MAX)
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c <= 0x20 || c >= 0x7f || c == '/' || c == '\\' || c == '@')
                        return -EINVAL;
                out[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        out[n] = '\0';
        return 0;
}

/* The device of a certificate identity header: its entry, or NULL for an
 * identity that names no device. */
static const struct access_snap_device *device_by_header(const struct access_snapshot *s, int kind, const char *v,
                                                         size_t n)
{
        char buf[CERT_PEM_MAX];
        uint8_t fpr[32];
        size_t k = 0;

        switch (kind) {
        case 0: /* fingerprint: hex, colons allowed */
                for (size_t i = 0; i < n && k < sizeof(buf) - 1; i++)
                        if (v[i] != ':')
                                buf[k++] = v[i];
                return util_hex_decode(buf, k, fpr, sizeof(fpr)) == 32 ? access_snap_device_by_fpr(s, fpr) : NULL;
        case 1:
                return access_snap_device_by_serial(s, v, n);
        default: {
                struct crypto_cert_info ci;
                ssize_t len = pct_decode(v, n, buf, sizeof(buf));
                if (len > 0 && crypto_cert_info_pem(buf, (size_t)len, &ci) == 0 &&
                    util_hex_decode(ci.fpr_hex, strlen(ci.fpr_hex), fpr, sizeof(fpr)) == 32)
                        return access_snap_device_by_fpr(s, fpr);
                return NULL;
        }
        }
}

/* The device a verified certificate identifies. Every identity header the
 * proxy passed must name the same device. Returns NULL, or why the
 * question is denied outright. */
static const char *device_from_headers(struct input *in, const struct access_snapshot *s,
                                       const struct access_http_req *req)
{
        static const char *const names[] = { "X-Vigil-Client-Fingerprint", "X-Vigil-Client-Serial",
                                             "X-Vigil-Client-Cert" };
        size_t n;
        const char *v = access_http_header(req, "X-Vigil-Client-Verify", &n);
        bool any = false;

        if (!v || n == 0 || (n == 4 && strncasecmp(v, "NONE", 4) == 0)) {
                in->device_problem = "no client certificate";
                return NULL;
        }
        if (n != 7 || memcmp(v, "SUCCESS", 7) != 0) {
                snprintf(in->device_problem_buf, sizeof(in->device_problem_buf),
                         "the proxy did not verify the client certificate (%.*s)", (int)(n > 100 ? 100 : n), v);
                in->device_problem = in->device_problem_buf;
                return NULL;
        }
        for (int kind = 0; kind < 3; kind++) {
                if (!(v = access_http_header(req, names[kind], &n)) || n == 0)
                        continue;
                const struct access_snap_device *dev = device_by_header(s, kind, v, n);
                if (any && dev != in->dev) {
                        in->dev = NULL;
                        return "the certificate identities the proxy passed do not name the same device";
                }
                in->dev = dev;
                any = true;
        }
        in->device_problem = any ? "the client certificate is not the current certificate of an onboarded device"
                                 : "the proxy passed no certificate serial, fingerprint or certificate";
        return NULL;
}

/* Adds a group once; silently stops at GROUPS_MAX. */
static void group_add(struct input *in, const char *g)
{
        for (size_t i = 0; i < in->n_groups; i++)
                if (strcmp(in->groups[i], g) == 0)
                        return;
        if (in->n_groups < GROUPS_MAX)
                in->groups[in->n_groups++] = g;
}

/* The user: named by the directory, or as the request named it. A name
 * that is the id of a user group names no one: a policy's users entries
 * are compared to the name as to a UPN, so such a user would count as a
 * member of the group, and escape a policy that excludes it. */
static void user_resolve(struct input *in, const struct access_snapshot *s, const char *name, size_t len)
{
        in->user = access_snap_user(s, name, len);
        if (in->user) {
                for (size_t i = 0; i < in->user->n_groups; i++)
                        group_add(in, in->user->groups[i]);
                return;
        }
        if (access_snap_group_by_id(s, name, len)) {
                snprintf(in->user_problem_buf, sizeof(in->user_problem_buf),
                         "no user: the name '%.*s' is the id of a user group", (int)(len < 64 ? len : 64), name);
                in->user_problem = in->user_problem_buf;
                return;
        }
        snprintf(in->upn, sizeof(in->upn), "%.*s", (int)(len < ACCESS_ID_MAX ? len : ACCESS_ID_MAX), name);
}

static void user_from_headers(struct access *a, struct input *in, const struct access_snapshot *s,
                              const struct access_http_req *req)
{
        const struct vigild_config *cfg = &a->d->cfg;
        size_t n;
        const char *v;

        in->user_problem = "no user: the proxy passed none";
        if (cfg->access_user_header[0] && (v = access_http_header(req, cfg->access_user_header, &n)) && n > 0) {
                if (n > ACCESS_ID_MAX) {
                        in->user_problem = "the user header is too long";
                        return;
                }
                user_resolve(in, s, v, n);
                return;
        }
        if (!a->jwks)
                return;
        v = access_http_header(req, "Authorization", &n);
        if (!v || n < 7 || strncasecmp(v, "Bearer ", 7) != 0) {
                in->user_problem = "no user: no bearer token";
                return;
        }
        struct jwt_opts opts = { .issuer = cfg->access_jwt_issuer, .audience = cfg->access_jwt_audience,
                                 .now = util_now(), .leeway_s = 60 };
        struct jwt_err err;
        if (jwt_verify(v + 7, n - 7, a->jwks, &opts, &in->claims, &err) < 0) {
                snprintf(in->user_problem_buf, sizeof(in->user_problem_buf), "bearer token refused: %s", err.msg);
                in->user_problem = in->user_problem_buf;
                return;
        }
        in->have_claims = true;
        const char *name = in->claims.user[0] ? in->claims.user : in->claims.sub;
        user_resolve(in, s, name, strlen(name));
        for (size_t i = 0; i < in->claims.n_groups; i++) {
                const char *group = in->claims.groups[i];
                const struct access_snap_group *g = access_snap_group_by_name(s, group);
                /* a group named as a directory user is no user's group: it
                 * would match that user's entries in the policies */
                if (!access_snap_user(s, group, strlen(group)))
                        group_add(in, group);
                if (g)
                        group_add(in, g->id);
        }
}

/* The decision for in, against s: fills dec, results (one per policy) and
 * the reason. */
static void evaluate(struct access *a, const struct access_snapshot *s, struct input *in,
                     struct access_decision *dec, enum access_result *results, char *reason, size_t reason_size,
                     struct access_slot_view *view)
{
        struct access_request r = {
                .user_id = in->user ? in->user->id : NULL,
                .user_upn = in->user ? in->user->upn : (in->upn[0] ? in->upn : NULL),
                .groups = in->groups,
                .n_groups = in->n_groups,
                .client_ip = in->ip,
                .method = in->method,
                .host = in->host,
                .path = in->path,
        };

        view->state = COMPLIANCE_NOT_EVALUATED;
        view->offboarded = false;
        view->reason[0] = '\0';
        if (in->dev) {
                access_slot_read(a, in->dev->slot, view, false);
                r.facts = &in->dev->facts;
                r.enrolled = !view->offboarded;
                r.compliant = r.enrolled &&
                              (view->state == COMPLIANCE_COMPLIANT || view->state == COMPLIANCE_IN_GRACE_PERIOD);
        }
        *dec = access_evaluate_indexed((const struct access_policy *const *)s->policies, s->pindex, &r, results);
        if (in->user && !in->user->enabled && dec->status == 200) {
                dec->status = 403;
                snprintf(reason, reason_size, "user %s is disabled in the directory", in->user->upn);
                return;
        }
        if (dec->status == 200) {
                snprintf(reason, reason_size, "allowed");
                return;
        }
        const char *name = s->pinfo[dec->policy].name;
        switch (dec->control) {
        case ACCESS_CONTROL_DEVICE_IDENTITY:
                snprintf(reason, reason_size, "policy \"%s\" needs a verified device: %s", name,
                         in->device_problem ? in->device_problem : "no device");
                break;
        case ACCESS_CONTROL_USER_IDENTITY:
                snprintf(reason, reason_size, "policy \"%s\" needs a known user: %s", name,
                         in->user_problem ? in->user_problem : "no user");
                break;
        case ACCESS_CONTROL_BLOCK:
                snprintf(reason, reason_size, "policy \"%s\" blocks access", name);
                break;
        case ACCESS_CONTROL_ENROLLED_DEVICE:
                snprintf(reason, reason_size, "policy \"%s\": device %s is offboarded", name, in->dev->facts.name);
                break;
        case ACCESS_CONTROL_COMPLIANT_DEVICE:
                if (view->offboarded) {
                        snprintf(reason, reason_size, "policy \"%s\": device %s is offboarded", name,
                                 in->dev->facts.name);
                        break;
                }
                access_slot_read(a, in->dev->slot, view, true);
                if (view->state == COMPLIANCE_NOT_EVALUATED)
                        snprintf(reason, reason_size, "policy \"%s\": device %s: compliance not evaluated yet", name,
                                 in->dev->facts.name);
                else
                        snprintf(reason, reason_size, "policy \"%s\": device %s %s: %s", name, in->dev->facts.name,
                                 compliance_state_name(view->state), view->reason);
                break;
        default:
                snprintf(reason, reason_size, "policy \"%s\" denies access", name);
                break;
        }
}

/* Fills the log record's request part. */
static void record_fill(struct access_log_record *rec, const struct access_snapshot *s, const struct input *in,
                        int status, const char *reason)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        rec->time_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        rec->snapshot_gen = s->gen;
        rec->status = status;
        snprintf(rec->method, sizeof(rec->method), "%s", in->method);
        snprintf(rec->host, sizeof(rec->host), "%s", in->host);
        snprintf(rec->path, sizeof(rec->path), "%s", in->path);
        snprintf(rec->client_ip, sizeof(rec->client_ip), "%s", in->ip_text);
        snprintf(rec->user, sizeof(rec->user), "%s", in->user ? in->user->upn : in->upn);
        snprintf(rec->user_id, sizeof(rec->user_id), "%s", in->user ? in->user->id : "");
        snprintf(rec->device_id, sizeof(rec->device_id), "%s", in->dev ? in->dev->id : "");
        snprintf(rec->reason, sizeof(rec->reason), "%s", reason);
}

/* A client address as access_ip_parse() reads it, an IPv4-mapped IPv6
 * address (::ffff:192.0.2.7, as a dual-stack proxy reports an IPv4
 * client) as the IPv4 address, so that IPv4 ranges hold it. Returns 0 or
 * -EINVAL. */
static int client_ip_parse(const char *text, struct access_ip *ret)
{
        static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

        if (access_ip_parse(text, ret) < 0)
                return -EINVAL;
        if (ret->family == 6 && memcmp(ret->addr, mapped, sizeof(mapped)) == 0) {
                memmove(ret->addr, ret->addr + 12, 4);
                memset(ret->addr + 4, 0, sizeof(ret->addr) - 4);
                ret->family = 4;
        }
        return 0;
}

/* The last line of a header the request may repeat, or NULL. */
static const char *header_last(const struct access_http_req *req, const char *name, size_t *ret_len)
{
        size_t len = strlen(name);

        for (size_t i = req->n_headers; i-- > 0;)
                if (req->headers[i].name_len == len && strncasecmp(req->headers[i].name, name, len) == 0) {
                        *ret_len = req->headers[i].value_len;
                        return req->headers[i].value;
                }
        return NULL;
}

/* The name of a header the decision rests on that the request carries more
 * than once, or NULL. Only the first line of a header is read, so a proxy
 * that adds its line after the client's instead of replacing it would let
 * the client choose: such a question is refused. X-Forwarded-For is a list
 * that proxies extend, and is read from its last line. */
static const char *header_repeated(struct access *a, const struct access_http_req *req)
{
        static const char *const once[] = {
                "Host", "X-Original-Method", "X-Original-URI", "X-Forwarded-Method", "X-Forwarded-Host",
                "X-Forwarded-Uri", "X-Real-IP", "X-Vigil-Client-Verify", "X-Vigil-Client-Serial",
                "X-Vigil-Client-Fingerprint", "X-Vigil-Client-Cert", "X-Vigil-Proxy-Secret", "Authorization",
        };
        const char *user = a->d->cfg.access_user_header;

        /* repeats are rare: find one first, then ask whether it matters */
        for (size_t i = 0; i + 1 < req->n_headers; i++) {
                const struct access_http_header *h = &req->headers[i];
                bool repeated = false;

                for (size_t j = i + 1; !repeated && j < req->n_headers; j++)
                        repeated = req->headers[j].name_len == h->name_len &&
                                   strncasecmp(req->headers[j].name, h->name, h->name_len) == 0;
                if (!repeated)
                        continue;
                for (size_t k = 0; k < sizeof(once) / sizeof(once[0]); k++)
                        if (h->name_len == strlen(once[k]) && strncasecmp(h->name, once[k], h->name_len) == 0)
                                return once[k];
                if (user[0] && h->name_len == strlen(user) && strncasecmp(h->name, user, h->name_len) == 0)
                        return user;
        }
        return NULL;
}

/* Reads the original request: method, host, path and client address. */
static const char *request_from_headers(struct input *in, const struct access_http_req *req)
{
        size_t n, on = 0, fn = 0;
        const char *v, *orig = access_http_header(req, "X-Original-URI", &on);
        const char *fwd = access_http_header(req, "X-Forwarded-Uri", &fn);
        int r;

        if (orig && fwd)
                return "the proxy passed both X-Original-URI and X-Forwarded-Uri";
        if (header_copy(req, "X-Original-Method", in->method, sizeof(in->method)) < 0 &&
            header_copy(req, "X-Forwarded-Method", in->method, sizeof(in->method)) < 0)
                snprintf(in->method, sizeof(in->method), "%.*s",
                         (int)(req->method_len < sizeof(in->method) - 1 ? req->method_len : sizeof(in->method) - 1),
                         req->method);
        if (orig && on > 0)
                r = access_path_normalize(orig, on, in->path, sizeof(in->path));
        else if (fwd && fn > 0)
                r = access_path_normalize(fwd, fn, in->path, sizeof(in->path));
        else if (req->target_len >= 10 && memcmp(req->target, "/v1/decide", 10) == 0 &&
                 (req->target_len == 10 || req->target[10] == '/' || req->target[10] == '?'))
                r = req->target_len > 10 && req->target[10] == '/'
                            ? access_path_normalize(req->target + 10, req->target_len - 10, in->path, sizeof(in->path))
                            : access_path_normalize("/", 1, in->path, sizeof(in->path));
        else
                return "the decision endpoint is /v1/decide";
        if (r < 0)
                return "the original request's URI is malformed";
        if (!((v = access_http_header(req, "X-Forwarded-Host", &n)) && n > 0) &&
            !((v = access_http_header(req, "Host", &n)) && n > 0))
                return "the proxy passed no host";
        if (host_normalize(v, n, in->host) < 0)
                return "the original request's host is malformed";
        ssize_t real = header_copy(req, "X-Real-IP", in->ip_text, sizeof(in->ip_text));
        if ((v = header_last(req, "X-Forwarded-For", &n)) && n > 0) {
                /* the right-most entry of the last line: the one the proxy added */
                const char *c = v + n;
                while (c > v && c[-1] != ',')
                        c--;
                while (c < v + n && (*c == ' ' || *c == '\t'))
                        c++;
                size_t k = (size_t)(v + n - c);
                if (real >= 0 && ((size_t)real != k || memcmp(in->ip_text, c, k) != 0))
                        return "the proxy passed two different client addresses (X-Real-IP and X-Forwarded-For)";
                if (real < 0 && k < sizeof(in->ip_text)) {
                        memcpy(in->ip_text, c, k);
                        in->ip_text[k] = '\0';
                }
        }
        if (in->ip_text[0] && client_ip_parse(in->ip_text, &in->ip) < 0)
                return "the client address the proxy passed is not an IP address";
        return NULL;
}

static bool proxy_trusted(struct access *a, const struct access_http_req *req)
{
        const char *secret = a->d->cfg.access_proxy_secret;
        size_t n, want;
        const char *v;

        if (!secret[0])
                return req->peer_local;
        want = strlen(secret);
        v = access_http_header(req, "X-Vigil-Proxy-Secret", &n);
        return v && n == want && util_ct_equal(v, secret, want);
}

/* Denies a question that cannot be decided (an untrusted peer, a
 * malformed or ambiguous request), and logs it with what was read of it. */
static void deny_early(struct access *a, unsigned worker, const struct access_snapshot *s, const struct input *in,
                       struct access_http_answer *ans, const char *reason)
{
        struct access_log_record rec;

        ans->status = 403;
        access_http_answer_header(ans, "X-Vigil-Reason", "%s", reason);
        if (!s)
                return;
        record_fill(&rec, s, in, 403, reason);
        access_log_push(a, worker, &rec, s, NULL);
}

void access_decide_http(void *ctx, unsigned worker, const struct access_http_req *req,
                        struct access_http_answer *ans)
{
        struct access *a = ctx;
        struct access_snapshot *s = access_worker_snapshot(a, worker);
        enum access_result results[ACCESS_POLICIES_MAX];
        struct access_log_record rec;
        struct access_slot_view view;
        struct access_decision dec = { .status = 403, .policy = SIZE_MAX };
        char reason[ACCESS_HTTP_VALUE_MAX + 1];
        struct input in;
        const char *bad, *twice;

        in.method[0] = in.host[0] = in.path[0] = in.ip_text[0] = in.upn[0] = '\0';
        in.ip.family = 0;
        in.dev = NULL;
        in.user = NULL;
        in.device_problem = in.user_problem = NULL;
        in.n_groups = 0;
        in.have_claims = false;
        if (!proxy_trusted(a, req)) {
                /* what an untrusted peer says is not logged as if it were true */
                if (req->peer.family)
                        inet_ntop(req->peer.family == 4 ? AF_INET : AF_INET6, req->peer.addr, in.ip_text,
                                  sizeof(in.ip_text));
                snprintf(in.method, sizeof(in.method), "%s", "-");
                deny_early(a, worker, s, &in, ans,
                           a->d->cfg.access_proxy_secret[0]
                                   ? "the question lacks the configured proxy secret"
                                   : "identity headers are trusted only from loopback or the unix socket");
                return;
        }
        twice = header_repeated(a, req);
        if (twice) {
                snprintf(reason, sizeof(reason), "the question carries %s more than once", twice);
                deny_early(a, worker, s, &in, ans, reason);
                return;
        }
        bad = request_from_headers(&in, req);
        if (!s || bad) {
                deny_early(a, worker, s, &in, ans, bad ? bad : "no access snapshot yet");
                return;
        }
        bad = device_from_headers(&in, s, req);
        if (bad) {
                deny_early(a, worker, s, &in, ans, bad);
                return;
        }
        user_from_headers(a, &in, s, req);
        evaluate(a, s, &in, &dec, results, reason, sizeof(reason), &view);
        ans->status = dec.status;
        access_http_answer_header(ans, "X-Vigil-Reason", "%s", reason);
        if (in.dev)
                access_http_answer_header(ans, "X-Vigil-Device", "%s", in.dev->id);
        if (in.user || in.upn[0])
                access_http_answer_header(ans, "X-Vigil-User", "%s", in.user ? in.user->upn : in.upn);
        if (dec.policy != SIZE_MAX)
                access_http_answer_header(ans, "X-Vigil-Policy", "%s", s->pinfo[dec.policy].name);
        record_fill(&rec, s, &in, dec.status, reason);
        access_log_push(a, worker, &rec, s, results);
        if (in.have_claims)
                jwt_claims_release(&in.claims);
}

/* ---- what-if ---- */

static const char *why_text(enum access_result r, enum access_control c)
{
        switch (r) {
        case ACCESS_RESULT_NOT_APPLIED:
        case ACCESS_RESULT_REPORT_ONLY_NOT_APPLIED:
                return "the request is outside its users, applications or conditions, or it is disabled";
        case ACCESS_RESULT_SUCCESS:
        case ACCESS_RESULT_REPORT_ONLY_SUCCESS:
                return "it applies and its grant is satisfied";
        default:
                break;
        }
        switch (c) {
        case ACCESS_CONTROL_BLOCK: return "it applies and blocks access";
        case ACCESS_CONTROL_COMPLIANT_DEVICE: return "it needs a compliant device";
        case ACCESS_CONTROL_ENROLLED_DEVICE: return "it needs an enrolled device";
        case ACCESS_CONTROL_DEVICE_IDENTITY: return "it needs a device and the request has none";
        case ACCESS_CONTROL_USER_IDENTITY: return "it needs a user and the request has none";
        default: return "its grant is not satisfied";
        }
}

/* Splits "https://host[:port]/path" into in's host and path. */
static int url_split(const char *url, struct input *in)
{
        const char *p = strstr(url, "://"), *slash;

        if (!p || (size_t)(p - url) > 5)
                return -EINVAL;
        p += 3;
        slash = strchr(p, '/');
        if (host_normalize(p, slash ? (size_t)(slash - p) : strlen(p), in->host) < 0)
                return -EINVAL;
        return access_path_normalize(slash ? slash : "/", slash ? strlen(slash) : 1, in->path, sizeof(in->path));
}

/* POST /api/v1/access/whatif {"user", "device", "url", "ip", "method"} */
void access_handle_whatif(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct access *a = d->access;
        enum access_result results[ACCESS_POLICIES_MAX];
        struct access_slot_view view;
        struct access_decision dec;
        char reason[ACCESS_HTTP_VALUE_MAX + 1];
        const char *user = NULL, *device = NULL, *url = NULL, *ip = NULL, *method = "GET";
        struct access_snapshot *s;
        struct input in;
        json_t *body, *pols, *out;

        if (!a) {
                http_reply_error(rep, 503, "access_unavailable", "conditional access is not running");
                return;
        }
        body = http_request_json(req, rep);
        if (!body)
                return;
        if (json_unpack(body, "{s?s, s?s, s:s, s?s, s?s !}", "user", &user, "device", &device, "url", &url, "ip",
                        &ip, "method", &method) < 0) {
                http_reply_error(rep, 400, "invalid_whatif",
                                 "expected {\"url\": \"https://host/path\", \"user\": \"UPN or id\", "
                                 "\"device\": \"device id\", \"ip\": \"address\", \"method\": \"GET\"} "
                                 "(url required, strings only, no other members)");
                json_decref(body);
                return;
        }
        memset(&in, 0, sizeof(in));
        if (url_split(url, &in) < 0) {
                http_reply_error_at(rep, 400, "invalid_whatif", "url: expected https://host[:port]/path");
                goto out;
        }
        if (strlen(method) == 0 || strlen(method) >= sizeof(in.method) || !util_str_printable(method, 15)) {
                http_reply_error_at(rep, 400, "invalid_whatif", "method: expected an HTTP method such as GET");
                goto out;
        }
        snprintf(in.method, sizeof(in.method), "%s", method);
        if (ip && (strlen(ip) >= sizeof(in.ip_text) || client_ip_parse(ip, &in.ip) < 0)) {
                http_reply_error_at(rep, 400, "invalid_whatif", "ip: \"%.64s\" is not an IPv4 or IPv6 address", ip);
                goto out;
        }
        if (ip)
                snprintf(in.ip_text, sizeof(in.ip_text), "%s", ip);
        if (user && (strlen(user) == 0 || strlen(user) > ACCESS_ID_MAX)) {
                http_reply_error_at(rep, 400, "invalid_whatif", "user: expected a UPN or user id of 1 to %d bytes",
                                 ACCESS_ID_MAX);
                goto out;
        }
        s = access_snapshot_get(a);
        if (!s) {
                http_reply_error(rep, 503, "access_unavailable", "no access snapshot yet");
                goto out;
        }
        in.device_problem = "no device was named";
        in.user_problem = "no user was named";
        if (device) {
                in.dev = access_snap_device_by_id(s, device);
                if (!in.dev) {
                        access_snapshot_put(s);
                        http_reply_error(rep, 404, "device_not_found", "no onboarded device with id '%.64s'", device);
                        goto out;
                }
        }
        if (user)
                user_resolve(&in, s, user, strlen(user));
        evaluate(a, s, &in, &dec, results, reason, sizeof(reason), &view);
        /* decoded, the path may hold any byte: shown as UTF-8 */
        access_utf8_scrub(in.path);
        pols = json_array();
        for (size_t i = 0; i < s->n_policies; i++) {
                enum access_control c = ACCESS_CONTROL_NONE;
                enum access_result r = results[i];
                if (r == ACCESS_RESULT_FAILURE || r == ACCESS_RESULT_REPORT_ONLY_FAILURE) {
                        struct access_request rq = {
                                .user_id = in.user ? in.user->id : NULL,
                                .user_upn = in.user ? in.user->upn : (in.upn[0] ? in.upn : NULL),
                                .groups = in.groups, .n_groups = in.n_groups,
                                .facts = in.dev ? &in.dev->facts : NULL,
                                .enrolled = in.dev && !view.offboarded,
                                .compliant = in.dev && !view.offboarded &&
                                             (view.state == COMPLIANCE_COMPLIANT ||
                                              view.state == COMPLIANCE_IN_GRACE_PERIOD),
                                .client_ip = in.ip, .method = in.method, .host = in.host, .path = in.path,
                        };
                        access_policy_eval(s->policies[i], &rq, &c);
                }
                json_array_append_new(pols, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", s->pinfo[i].id,
                                                      "name", s->pinfo[i].name, "state",
                                                      access_state_name(s->pinfo[i].state), "result",
                                                      access_result_name(r), "control", access_control_name(c),
                                                      "why", why_text(r, c)));
        }
        out = json_pack("{s:i, s:s, s:o, s:o, s:o, s:s, s:s, s:o}", "status", dec.status, "reason", reason,
                        "device",
                        in.dev ? json_pack("{s:s, s:s, s:s, s:b}", "id", in.dev->id, "name", in.dev->facts.name,
                                           "compliance_state", compliance_state_name(view.state), "offboarded",
                                           view.offboarded)
                               : json_null(),
                        "user",
                        in.user ? json_pack("{s:s, s:s, s:b, s:i}", "id", in.user->id, "upn", in.user->upn,
                                            "enabled", in.user->enabled, "groups", (int)in.user->n_groups)
                                : (in.upn[0] ? json_pack("{s:n, s:s}", "id", "upn", in.upn) : json_null()),
                        "policies", pols, "host", in.host, "path", in.path, "snapshot",
                        json_integer((json_int_t)s->gen));
        access_snapshot_put(s);
        http_reply_json(rep, 200, out);
out:
        json_decref(body);
}
