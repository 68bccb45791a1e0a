/* httpc: the HTTPS client of the agent and the CLI, over libcurl (GnuTLS).
 *
 * One client keeps one connection alive to one server, verifies the server
 * against a given CA file only (never the system store), and can present a
 * client certificate. Requests and responses are JSON; response bodies are
 * capped. */
#pragma once

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>

struct httpc;

struct httpc_options {
        const char *ca_file;            /* required: the CA that signed the server */
        const char *cert_file;          /* optional client certificate (PEM) */
        const char *key_file;           /* its private key (PEM) */
        long timeout_s;                 /* whole request; 0 means 30 */
        size_t response_max;            /* 0 means 16 MiB */
};

/* Makes a client for base_url ("https://host:port"). Returns 0, -EINVAL for a
 * URL that is not https://, -ENOMEM. */
int httpc_new(const char *base_url, const struct httpc_options *opts, struct httpc **ret);
void httpc_free(struct httpc *c);

/* Sends METHOD base_url+path with an optional JSON body and bearer token.
 * Returns 0 once any HTTP response arrived: *ret_status holds its status and
 * *ret_json the parsed body (NULL if empty or not JSON; the caller decrefs).
 * Returns a negative errno on a transport failure (no connection, TLS
 * refused, timeout, oversized response), with a message in err. */
int httpc_request(struct httpc *c, const char *method, const char *path, const char *bearer,
                  const char *body, size_t body_len, long *ret_status, json_t **ret_json,
                  char *err, size_t err_size);

/* Makes every request of c give up (a transport failure, -ECANCELED) within
 * about a second once *flag is true; NULL removes it. For a thread that
 * must stop while a long request is under way. */
void httpc_set_abort(struct httpc *c, atomic_bool *flag);

/* What httpc_request_ex() adds to httpc_request(). */
struct httpc_extra {
        const char *content_type;       /* of body; NULL: application/json */
        FILE *out;                      /* a 2xx body goes here, unparsed and uncapped; NULL: parsed */
        long timeout_s;                 /* this request's; 0: the client's */
};

/* httpc_request() with a body of another type, a response written to a file,
 * or another timeout. On a 2xx written to x->out, *ret_json is NULL. */
int httpc_request_ex(struct httpc *c, const char *method, const char *path, const char *bearer,
                     const char *body, size_t body_len, const struct httpc_extra *x,
                     long *ret_status, json_t **ret_json, char *err, size_t err_size);

/* The message of an API error body ({"error": {"message": ...}}), or a
 * generic one for the status. */
const char *httpc_error_message(const json_t *body, long status);

/* The code of an API error body, or "". */
const char *httpc_error_code(const json_t *body);
