/* webhook api: the subscriptions as admins manage them (create, list, show,
 * change, delete, send a test ping) and each one's delivery log. */
#include "server/webhook/webhook-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/db/db.h"
#include "server/log.h"
#include "server/vigild.h"
#include "util/strutil.h"

#define LOG_LIMIT_DEFAULT 100
#define LOG_LIMIT_MAX 500
#define EVENTS_TEXT_MAX 512

static const char *const statuses[] = { "pending", "delivered", "failed", NULL };

#define SUB_COLUMNS "id, name, url, events, ca_pem, enabled, created_at, created_by, updated_at"

/* ",alert_raised,risk_changed," as stored, from a set of event bits. */
static void events_text(uint32_t bits, char *out, size_t size)
{
        size_t n = (size_t)snprintf(out, size, ",");

        for (size_t k = 0; webhook_event_names[k] && n < size; k++)
                if (bits & (1u << k))
                        n += (size_t)snprintf(out + n, size - n, "%s,", webhook_event_names[k]);
}

static json_t *events_json(const char *text)
{
        json_t *arr = json_array();

        for (size_t k = 0; webhook_event_names[k]; k++) {
                char want[64];
                snprintf(want, sizeof(want), ",%s,", webhook_event_names[k]);
                if (strstr(text, want))
                        json_array_append_new(arr, json_string(webhook_event_names[k]));
        }
        return arr;
}

static json_t *time_json(struct db_stmt *st, int col)
{
        char buf[21];

        if (db_column_is_null(st, col))
                return json_null();
        util_time_format(db_column_int64(st, col), buf);
        return json_string(buf);
}

/* Counts of the subscription's deliveries by status. Lock held. */
static json_t *counts_json(struct vigild *d, const char *id)
{
        json_t *j = json_pack("{s:i,s:i,s:i}", "pending", 0, "delivered", 0, "failed", 0);
        struct db_stmt *st;

        if (db_prepare(d->db, "SELECT status, count(*) FROM webhook_deliveries WHERE subscription_id = $1 "
                              "GROUP BY status", &st) < 0)
                return j;
        db_bind_text(st, 1, id, strlen(id));
        while (db_step(st) == 1)
                json_object_set_new(j, db_column_text(st, 0, NULL), json_integer(db_column_int64(st, 1)));
        db_stmt_done(st);
        return j;
}

/* A subscription row (SUB_COLUMNS) as JSON; never its secret. Lock held. */
static json_t *sub_json(struct vigild *d, struct db_stmt *st, bool detail)
{
        const char *id = db_column_text(st, 0, NULL), *pem = db_column_text(st, 4, NULL);
        struct crypto_cert_info ci;
        json_t *ca = json_null(), *j;

        if (pem && crypto_cert_info_pem(pem, strlen(pem), &ci) == 0) {
                char until[21];
                util_time_format(ci.not_after, until);
                json_decref(ca);
                ca = json_pack("{s:s,s:s,s:s}", "subject_cn", ci.cn, "fingerprint_sha256", ci.fpr_hex,
                               "not_after", until);
        }
        j = json_pack("{s:s,s:s,s:s,s:o,s:b,s:o,s:o,s:s,s:o,s:o}", "id", id, "name", db_column_text(st, 1, NULL),
                      "url", db_column_text(st, 2, NULL), "events", events_json(db_column_text(st, 3, NULL)),
                      "enabled", db_column_int64(st, 5) != 0, "ca", ca, "created_at", time_json(st, 6),
                      "created_by", db_column_text(st, 7, NULL), "updated_at", time_json(st, 8),
                      "deliveries", counts_json(d, id));
        if (detail)
                json_object_set_new(j, "ca_pem", pem ? json_string(pem) : json_null());
        return j;
}

/* The subscription as JSON, or NULL if there is none. Lock held. */
static json_t *sub_load(struct vigild *d, const char *id)
{
        struct db_stmt *st;
        json_t *j = NULL;

        if (db_prepare(d->db, "SELECT " SUB_COLUMNS " FROM webhook_subscriptions WHERE id = $1", &st) < 0)
                return NULL;
        db_bind_text(st, 1, id, strlen(id));
        if (db_step(st) == 1)
                j = sub_json(d, st, true);
        db_stmt_done(st);
        return j;
}

static void reply_sub(struct vigild *d, const char *id, unsigned status, struct http_reply *rep)
{
        json_t *j;

        db_lock(d->db);
        j = sub_load(d, id);
        db_unlock(d->db);
        if (!j)
                http_reply_error(rep, 404, "webhook_not_found", "no webhook with id '%s'", id);
        else
                http_reply_json(rep, status, j);
}

static int sub_count(struct vigild *d, int64_t *ret)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, "SELECT count(*) FROM webhook_subscriptions", &st);
        if (r < 0)
                return r;
        r = db_step(st);
        *ret = db_column_int64(st, 0);
        db_stmt_done(st);
        return r < 0 ? r : 0;
}

/* Stores a checked new subscription. Lock held. Returns 0, -EEXIST (name
 * taken), -EDQUOT (too many) or a database error. */
static int sub_insert(struct vigild *d, const char *id, const struct webhook_sub_input *in, const char *secret,
                      const char *by)
{
        char events[EVENTS_TEXT_MAX];
        int64_t n = 0, now = util_now();
        int r;

        r = sub_count(d, &n);
        if (r < 0)
                return r;
        if (n >= WEBHOOK_SUBSCRIPTIONS_MAX)
                return -EDQUOT;
        events_text(in->events, events, sizeof(events));
        return db_exec_params(d->db, "INSERT INTO webhook_subscriptions (id, name, url, events, secret, ca_pem, "
                              "enabled, created_at, created_by, updated_at) "
                              "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8)",
                              DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(in->name, strlen(in->name)),
                                        db_param_text(in->url, strlen(in->url)),
                                        db_param_text(events, strlen(events)),
                                        db_param_text(secret, strlen(secret)),
                                        db_param_text(in->ca_pem, in->ca_pem ? strlen(in->ca_pem) : 0),
                                        db_param_int64(in->enabled), db_param_int64(now),
                                        db_param_text(by, strlen(by))));
}

/* POST /api/v1/webhooks {"name", "url", "events", "secret"?, "ca_pem"?, "enabled"?} */
void webhook_handle_create(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct webhook_sub_input in;
        char err[512], id[WEBHOOK_ID_LEN + 1], secret[WEBHOOK_SECRET_MAX + 1];
        uint8_t raw[WEBHOOK_SECRET_GEN_BYTES];
        json_t *body, *j = NULL;
        int r;

        body = http_request_json(req, rep);
        if (!body)
                return;
        if (webhook_sub_check(body, false, &in, err, sizeof(err)) < 0) {
                http_reply_error(rep, 400, "invalid_request", "%s", err);
                goto out;
        }
        if (crypto_uuid4(id) < 0 || (!in.secret && crypto_random(raw, sizeof(raw)) < 0)) {
                http_reply_error(rep, 500, "internal", "no random bytes");
                goto out;
        }
        if (in.secret)
                snprintf(secret, sizeof(secret), "%s", in.secret);
        else
                util_hex_encode(raw, sizeof(raw), secret);
        db_lock(d->db);
        r = sub_insert(d, id, &in, secret, req->who->token_id);
        if (r == 0)
                j = sub_load(d, id);
        db_unlock(d->db);
        if (r == -EEXIST)
                http_reply_error(rep, 409, "webhook_name_taken", "a webhook named '%s' exists already", in.name);
        else if (r == -EDQUOT)
                http_reply_error(rep, 409, "webhook_limit_reached", "there are %d webhooks already; delete one first",
                                 WEBHOOK_SUBSCRIPTIONS_MAX);
        else if (r < 0 || !j)
                http_reply_error(rep, 500, "database_error", "cannot store the webhook");
        if (r < 0 || !j)
                goto out;
        log_info("token %s created webhook %s ('%s')", req->who->token_id, id, in.name);
        /* the only time the secret is shown */
        json_object_set_new(j, "secret", json_string(secret));
        http_reply_json(rep, 201, j);
        j = NULL;
out:
        explicit_bzero(secret, sizeof(secret));
        explicit_bzero(raw, sizeof(raw));
        json_decref(j);
        json_decref(body);
}

/* GET /api/v1/webhooks */
void webhook_handle_list(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        json_t *arr = json_array();
        struct db_stmt *st;
        int r;

        db_lock(d->db);
        r = db_prepare(d->db, "SELECT " SUB_COLUMNS " FROM webhook_subscriptions ORDER BY created_at, name", &st);
        while (r == 0 && (r = db_step(st)) == 1)
                json_array_append_new(arr, sub_json(d, st, false));
        db_stmt_done(st);
        db_unlock(d->db);
        if (r < 0)
                http_reply_list_failed(rep, arr, "list the webhooks");
        else
                http_reply_values(rep, arr);
}

/* GET /api/v1/webhooks/{id} */
void webhook_handle_show(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        reply_sub(d, req->params[0], 200, rep);
}

/* Applies a checked change. Lock held. Returns 0, -ENOENT, -EEXIST (name taken) or a database error. */
static int sub_update(struct vigild *d, const char *id, const struct webhook_sub_input *in)
{
        char events[EVENTS_TEXT_MAX];
        int r;

        events_text(in->events, events, sizeof(events));
        r = db_exec_params(d->db, "UPDATE webhook_subscriptions SET name = coalesce($2, name), "
                           "url = coalesce($3, url), events = coalesce($4, events), secret = coalesce($5, secret), "
                           "ca_pem = CASE WHEN $6 = 1 THEN $7 ELSE ca_pem END, "
                           "enabled = CASE WHEN $8 = 1 THEN $9 ELSE enabled END, updated_at = $10 WHERE id = $1",
                           DB_PARAMS(db_param_text(id, strlen(id)),
                                     db_param_text(in->name, in->name ? strlen(in->name) : 0),
                                     db_param_text(in->url, in->url ? strlen(in->url) : 0),
                                     in->has_events ? db_param_text(events, strlen(events)) : db_param_null(),
                                     db_param_text(in->secret, in->secret ? strlen(in->secret) : 0),
                                     db_param_int64(in->has_ca_pem),
                                     db_param_text(in->ca_pem, in->ca_pem ? strlen(in->ca_pem) : 0),
                                     db_param_int64(in->has_enabled), db_param_int64(in->enabled),
                                     db_param_int64(util_now())));
        if (r == 0 && db_changes(d->db) == 0)
                r = -ENOENT;
        return r;
}

/* PATCH /api/v1/webhooks/{id} {any of "name", "url", "events", "secret", "ca_pem" (null removes it), "enabled"} */
void webhook_handle_patch(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0];
        struct webhook_sub_input in;
        char err[512];
        json_t *body;
        int r;

        body = http_request_json(req, rep);
        if (!body)
                return;
        if (webhook_sub_check(body, true, &in, err, sizeof(err)) < 0) {
                http_reply_error(rep, 400, "invalid_request", "%s", err);
                goto out;
        }
        db_lock(d->db);
        r = sub_update(d, id, &in);
        db_unlock(d->db);
        if (r == -ENOENT)
                http_reply_error(rep, 404, "webhook_not_found", "no webhook with id '%s'", id);
        else if (r == -EEXIST)
                http_reply_error(rep, 409, "webhook_name_taken", "a webhook named '%s' exists already", in.name);
        else if (r < 0)
                http_reply_error(rep, 500, "database_error", "cannot change the webhook");
        if (r < 0)
                goto out;
        log_info("token %s changed webhook %s", req->who->token_id, id);
        /* enabled again, or a new URL: held deliveries may go now */
        webhook_wake(d);
        reply_sub(d, id, 200, rep);
out:
        json_decref(body);
}

/* Deletes a subscription and its delivery log. Lock held. */
static int sub_delete(struct vigild *d, const char *id)
{
        struct db_stmt *st;
        int64_t pending = 0;
        int r;

        r = db_begin(d->db);
        if (r < 0)
                return r;
        r = db_prepare(d->db, "SELECT count(*) FROM webhook_deliveries WHERE subscription_id = $1 "
                              "AND status = 'pending'", &st);
        if (r == 0) {
                db_bind_text(st, 1, id, strlen(id));
                r = db_step(st);
                pending = db_column_int64(st, 0);
                db_stmt_done(st);
                r = r < 0 ? r : 0;
        }
        if (r == 0)
                r = db_exec_params(d->db, "DELETE FROM webhook_deliveries WHERE subscription_id = $1",
                                   DB_PARAMS(db_param_text(id, strlen(id))));
        if (r == 0)
                r = db_exec_params(d->db, "DELETE FROM webhook_subscriptions WHERE id = $1",
                                   DB_PARAMS(db_param_text(id, strlen(id))));
        if (r == 0 && db_changes(d->db) == 0)
                r = -ENOENT;
        r = db_finish(d->db, r);
        if (r == 0 && d->webhook)
                d->webhook->pending -= pending;
        return r;
}

/* DELETE /api/v1/webhooks/{id} */
void webhook_handle_delete(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0];
        int r;

        db_lock(d->db);
        r = sub_delete(d, id);
        db_unlock(d->db);
        if (r == -ENOENT) {
                http_reply_error(rep, 404, "webhook_not_found", "no webhook with id '%s'", id);
                return;
        }
        if (r < 0) {
                http_reply_error(rep, 500, "database_error", "cannot delete the webhook");
                return;
        }
        log_info("token %s deleted webhook %s", req->who->token_id, id);
        http_reply_json(rep, 200, json_pack("{s:s,s:b}", "id", id, "deleted", 1));
}

/* 1 if the subscription is enabled, 0 if not, -ENOENT if there is none. Lock held. */
static int sub_enabled(struct vigild *d, const char *id)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, "SELECT enabled FROM webhook_subscriptions WHERE id = $1", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, id, strlen(id));
        r = db_step(st);
        if (r == 1)
                r = db_column_int64(st, 0) ? 1 : 0;
        else if (r == 0)
                r = -ENOENT;
        db_stmt_done(st);
        return r;
}

/* POST /api/v1/webhooks/{id}/test: queues a ping for this subscription only. */
void webhook_handle_test(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0];
        char event_id[WEBHOOK_ID_LEN + 1], delivery_id[WEBHOOK_ID_LEN + 1], *text = NULL;
        json_t *body = NULL;
        int r;

        db_lock(d->db);
        r = sub_enabled(d, id);
        db_unlock(d->db);
        if (r == 0) {
                http_reply_error(rep, 409, "webhook_disabled", "webhook '%s' is disabled; enable it to test it", id);
                return;
        }
        if (r > 0) {
                r = crypto_uuid4(event_id) < 0 ? -EIO : 0;
                if (r == 0)
                        body = webhook_body_new(event_id, "ping", util_now(), NULL,
                                                json_pack("{s:s,s:s}", "webhook_id", id, "requested_by",
                                                          req->who->token_id));
                text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
                r = r < 0 ? r : text ? webhook_enqueue(d, "ping", id, event_id, text, delivery_id) : -ENOMEM;
        }
        if (r == -ENOENT)
                http_reply_error(rep, 404, "webhook_not_found", "no webhook with id '%s'", id);
        else if (r < 0)
                http_reply_error(rep, 500, "database_error", "cannot queue the test delivery");
        else {
                webhook_wake(d);
                http_reply_json(rep, 202, json_pack("{s:s,s:s,s:s}", "event_id", event_id, "delivery_id",
                                                    delivery_id, "status", "pending"));
        }
        free(text);
        json_decref(body);
}

static json_t *delivery_json(struct db_stmt *st)
{
        char next[21];
        json_t *j;

        j = json_pack("{s:s,s:s,s:s,s:s,s:o,s:I,s:o}", "id", db_column_text(st, 0, NULL),
                      "event_id", db_column_text(st, 1, NULL), "event_type", db_column_text(st, 2, NULL),
                      "status", db_column_text(st, 3, NULL), "created_at", time_json(st, 4),
                      "attempts", (json_int_t)db_column_int64(st, 5), "last_attempt_at", time_json(st, 6));
        json_object_set_new(j, "last_http_status", db_column_is_null(st, 7) ? json_null() :
                            json_integer(db_column_int64(st, 7)));
        json_object_set_new(j, "last_error", db_column_is_null(st, 8) ? json_null() :
                            json_string(db_column_text(st, 8, NULL)));
        if (db_column_is_null(st, 9)) {
                json_object_set_new(j, "next_attempt_at", json_null());
        } else {
                util_time_format((db_column_int64(st, 9) + 999) / 1000, next);
                json_object_set_new(j, "next_attempt_at", json_string(next));
        }
        json_object_set_new(j, "finished_at", time_json(st, 10));
        return j;
}

#define LOG_WHERE " WHERE subscription_id = $1 AND ($2 IS NULL OR status = $2)"

/* The page of the delivery log, newest first, and the total. Lock held. */
static int log_read(struct vigild *d, const char *id, const char *status, uint64_t limit, uint64_t offset,
                    json_t *arr, int64_t *ret_total)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, "SELECT count(*) FROM webhook_deliveries" LOG_WHERE, &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, id, strlen(id));
        db_bind_text(st, 2, status, status ? strlen(status) : 0);
        r = db_step(st);
        *ret_total = db_column_int64(st, 0);
        db_stmt_done(st);
        if (r < 0)
                return r;
        r = db_prepare(d->db, "SELECT id, event_id, event_type, status, created_at, attempts, last_attempt_at, "
                              "last_http_status, last_error, next_attempt_ms, finished_at FROM webhook_deliveries"
                              LOG_WHERE " ORDER BY seq DESC LIMIT $3 OFFSET $4", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, id, strlen(id));
        db_bind_text(st, 2, status, status ? strlen(status) : 0);
        db_bind_int64(st, 3, (int64_t)limit);
        db_bind_int64(st, 4, (int64_t)offset);
        while ((r = db_step(st)) == 1)
                json_array_append_new(arr, delivery_json(st));
        db_stmt_done(st);
        return r;
}

/* GET /api/v1/webhooks/{id}/deliveries?status=&limit=&offset= */
void webhook_handle_deliveries(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0], *status = http_request_query(req, "status");
        uint64_t limit, offset;
        int64_t total = 0;
        json_t *arr, *next;
        size_t k;
        int r;

        for (k = 0; status && statuses[k] && strcmp(status, statuses[k]) != 0; k++)
                ;
        if (status && !statuses[k]) {
                http_reply_error(rep, 400, "invalid_query", "'status' must be pending, delivered or failed");
                return;
        }
        if (http_request_paging(req, LOG_LIMIT_DEFAULT, LOG_LIMIT_MAX, &limit, &offset, rep) < 0)
                return;
        arr = json_array();
        db_lock(d->db);
        r = sub_enabled(d, id);
        if (r >= 0)
                r = log_read(d, id, status, limit, offset, arr, &total);
        db_unlock(d->db);
        if (r < 0) {
                json_decref(arr);
                if (r == -ENOENT)
                        http_reply_error(rep, 404, "webhook_not_found", "no webhook with id '%s'", id);
                else
                        http_reply_error(rep, 500, "database_error", "cannot read the delivery log");
                return;
        }
        next = http_page_next(json_array_size(arr), total, offset);
        http_reply_json(rep, 200, json_pack("{s:s,s:I,s:o,s:o}", "webhook_id", id, "count", (json_int_t)total,
                                            "value", arr, "next_offset", next));
}

const struct http_route webhook_routes[] = {
        { "GET", "/api/v1/webhooks", HTTP_AUTH_ADMIN, ROLES_ANY, webhook_handle_list, 0 },
        { "POST", "/api/v1/webhooks", HTTP_AUTH_ADMIN, ROLES_ADMIN, webhook_handle_create, 0 },
        { "GET", "/api/v1/webhooks/{id}", HTTP_AUTH_ADMIN, ROLES_ANY, webhook_handle_show, 0 },
        { "PATCH", "/api/v1/webhooks/{id}", HTTP_AUTH_ADMIN, ROLES_ADMIN, webhook_handle_patch, 0 },
        { "DELETE", "/api/v1/webhooks/{id}", HTTP_AUTH_ADMIN, ROLES_ADMIN, webhook_handle_delete, 0 },
        { "POST", "/api/v1/webhooks/{id}/test", HTTP_AUTH_ADMIN, ROLES_ADMIN, webhook_handle_test, 0 },
        { "GET", "/api/v1/webhooks/{id}/deliveries", HTTP_AUTH_ADMIN, ROLES_ANY, webhook_handle_deliveries, 0 },
        { 0 },
};
