/* connector api: the settings and state as admins see and change them
 * (/api/v1/connector...), partner tokens, and the partner API the remote
 * partner calls (/partner/v1/...). docs/CONNECTOR.md has the reference. */
#include "server/connector/connector-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api/api.h"
#include "server/db/db.h"
#include "server/enroll/enroll.h"
#include "server/log.h"
#include "server/vigild.h"
#include "util/strutil.h"

#define HISTORY_LIMIT_DEFAULT 100
#define HISTORY_LIMIT_MAX 1000
#define HEARTBEAT_BODY_MAX 1024
#define TOKEN_NAME_MAX 128

static bool started(struct vigild *d, struct http_reply *rep)
{
        if (d->connector)
                return true;
        http_reply_error(rep, 503, "connector_unavailable", "the connector module is not running");
        return false;
}

/* RFC 3339 with nanoseconds when there are any. */
static json_t *time_ns_json(int64_t ns)
{
        char buf[21], out[40];

        if (ns <= 0)
                return json_null();
        util_time_format(ns / 1000000000LL, buf);
        if (ns % 1000000000LL == 0)
                return json_string(buf);
        buf[19] = '\0';
        snprintf(out, sizeof(out), "%s.%09lldZ", buf, (long long)(ns % 1000000000LL));
        return json_string(out);
}

static json_t *settings_json(const struct connector_settings *s)
{
        json_t *platforms = json_array();
        char after[32];

        for (size_t k = 0; connector_platform_names[k]; k++)
                if (s->platforms & (1u << k))
                        json_array_append_new(platforms, json_string(connector_platform_names[k]));
        if (s->unresponsive_after % 86400 == 0)
                snprintf(after, sizeof(after), "%lldd", (long long)(s->unresponsive_after / 86400));
        else if (s->unresponsive_after % 3600 == 0)
                snprintf(after, sizeof(after), "%lldh", (long long)(s->unresponsive_after / 3600));
        else if (s->unresponsive_after % 60 == 0)
                snprintf(after, sizeof(after), "%lldm", (long long)(s->unresponsive_after / 60));
        else
                snprintf(after, sizeof(after), "%llds", (long long)s->unresponsive_after);
        return json_pack("{s:s,s:o,s:s,s:b}", "partner", connector_partner_name(s->partner),
                         "enabled_platforms", platforms, "partner_unresponsive_after", after,
                         "block_on_missing_partner_data", s->block_on_missing);
}

static json_t *settings_now(struct connector *c)
{
        struct connector_settings s;

        pthread_rwlock_rdlock(&c->lock);
        s = c->set;
        pthread_rwlock_unlock(&c->lock);
        return settings_json(&s);
}

/* GET /api/v1/connector */
static void handle_get(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        if (started(d, rep))
                http_reply_json(rep, 200, settings_now(d->connector));
}

/* PUT /api/v1/connector {partner?, enabled_platforms?, partner_unresponsive_after?, block_on_missing_partner_data?} */
static void handle_put(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct connector_settings s;
        char err[256];
        json_t *body;
        int r;

        if (!started(d, rep))
                return;
        body = http_request_json(req, rep);
        if (!body)
                return;
        r = connector_settings_put(d->connector, body, req->who->token_id, &s, err, sizeof(err));
        if (r == -EINVAL) {
                http_reply_error(rep, 400, "invalid_request", "%s", err);
        } else if (r < 0) {
                http_reply_error(rep, 500, "database_error", "%s", err);
        } else {
                log_info("token %s changed the connector's settings: partner %s, unresponsive after %llds, "
                         "block on missing data %s", req->who->token_id, connector_partner_name(s.partner),
                         (long long)s.unresponsive_after, s.block_on_missing ? "yes" : "no");
                http_reply_json(rep, 200, settings_json(&s));
        }
        json_decref(body);
}

/* GET /api/v1/connector/status */
static void handle_status(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct connector *c = d->connector;
        int64_t now = util_now(), hb;
        json_t *j;

        if (!started(d, rep))
                return;
        pthread_rwlock_rdlock(&c->lock);
        hb = c->set.partner == CONNECTOR_PARTNER_BUILTIN ? now : c->last_heartbeat;
        j = json_pack("{s:s,s:s,s:o,s:o,s:s,s:I,s:I}", "partner", connector_partner_name(c->set.partner),
                      "state", connector_state_name(c->state), "since", http_time_or_null(c->since),
                      "last_heartbeat", http_time_or_null(hb), "reason", c->reason,
                      "devices_reported", (json_int_t)c->map.count, "devices_with_risk", (json_int_t)c->map.risky);
        pthread_rwlock_unlock(&c->lock);
        http_reply_json(rep, 200, j);
}

/* GET /api/v1/connector/history?limit=&offset=, newest first */
static void handle_history(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        uint64_t limit, offset;
        struct db_stmt *st;
        int64_t total = 0;
        json_t *arr;
        int r;

        if (http_request_paging(req, HISTORY_LIMIT_DEFAULT, HISTORY_LIMIT_MAX, &limit, &offset, rep) < 0)
                return;
        arr = json_array();
        db_lock(d->db);
        r = db_prepare(d->db, "SELECT count(*) FROM connector_state_history", &st);
        if (r == 0 && (r = db_step(st)) == 1)
                total = db_column_int64(st, 0);
        db_stmt_done(st);
        if (r >= 0)
                r = db_prepare(d->db, "SELECT at, from_state, to_state, partner, reason FROM connector_state_history "
                                      "ORDER BY seq DESC LIMIT $1 OFFSET $2", &st);
        if (r == 0) {
                db_bind_int64(st, 1, (int64_t)limit);
                db_bind_int64(st, 2, (int64_t)offset);
                while ((r = db_step(st)) == 1)
                        json_array_append_new(arr, json_pack("{s:o,s:s?,s:s,s:s,s:s}",
                                "at", http_time_or_null(db_column_int64(st, 0)), "from", db_column_text(st, 1, NULL),
                                "to", db_column_text(st, 2, NULL), "partner", db_column_text(st, 3, NULL),
                                "reason", db_column_text(st, 4, NULL)));
                db_stmt_done(st);
        }
        db_unlock(d->db);
        if (r < 0)
                http_reply_list_failed(rep, arr, "read the connector's history");
        else
                http_reply_page(rep, arr, total, offset);
}

/* The stored reasons of a device's risk (an array), or an empty one. */
static json_t *reasons_load(struct vigild *d, const char *id)
{
        struct db_stmt *st;
        json_t *j = NULL;

        db_lock(d->db);
        if (db_prepare(d->db, "SELECT reasons FROM connector_device_risk WHERE device_id = $1", &st) == 0) {
                db_bind_text(st, 1, id, strlen(id));
                if (db_step(st) == 1)
                        j = json_loads(db_column_text(st, 0, NULL), 0, NULL);
                db_stmt_done(st);
        }
        db_unlock(d->db);
        if (json_is_array(j))
                return j;
        json_decref(j);
        return json_array();
}

/* GET /api/v1/connector/devices/{id}: what compliance sees of the device. */
static void handle_device(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0];
        struct connector_risk r;

        if (!started(d, rep))
                return;
        if (!enroll_device_exists(d, id)) {
                http_reply_error(rep, 404, "device_not_found", "no device with id '%s'", id);
                return;
        }
        if (connector_device_risk(d, id, &r) < 0) {
                http_reply_error(rep, 400, "invalid_device_id", "'%s' is not a device id", id);
                return;
        }
        http_reply_json(rep, 200, json_pack("{s:s,s:s,s:b,s:b,s:s,s:o,s:s,s:o}", "device_id", id,
                        "risk", connector_level_name(r.level), "applicable", r.applicable, "block", r.block,
                        "state", connector_state_name(r.state), "as_of", time_ns_json(r.as_of),
                        "reason", r.reason, "reasons", r.applicable ? reasons_load(d, id) : json_array()));
}

/* POST /api/v1/connector/partner-tokens {"name"} */
static void handle_token_create(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        char token[API_TOKEN_MAX + 1], id[API_TOKEN_ID_LEN + 1];
        const char *name = NULL;
        json_t *body;

        body = http_request_json(req, rep);
        if (!body)
                return;
        if (json_unpack(body, "{s:s!}", "name", &name) < 0 || !name[0] || !util_str_is_text(name, TOKEN_NAME_MAX)) {
                http_reply_error(rep, 400, "invalid_request", "the body must be {\"name\": TEXT} with a name of "
                                 "1 to %d bytes without control characters", TOKEN_NAME_MAX);
                goto out;
        }
        if (api_token_create(d, ROLE_PARTNER, name, req->who->token_id, token, id) < 0) {
                http_reply_error(rep, 500, "database_error", "cannot store the partner token");
                goto out;
        }
        log_info("partner token %s ('%s') created by token %s", id, name, req->who->token_id);
        http_reply_json(rep, 201, json_pack("{s:s,s:s,s:s,s:s}", "id", id, "role", "partner", "name", name,
                                            "token", token));
        explicit_bzero(token, sizeof(token));
out:
        json_decref(body);
}

/* DELETE /api/v1/connector/partner-tokens/{id} */
static void handle_token_revoke(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0];
        int r = api_token_revoke(d, id, ROLE_PARTNER);

        if (r == -ENOENT) {
                http_reply_error(rep, 404, "token_not_found", "no partner token '%s' that is not revoked yet", id);
                return;
        }
        if (r < 0) {
                http_reply_error(rep, 500, "database_error", "cannot revoke the partner token");
                return;
        }
        log_info("partner token %s revoked by token %s", id, req->who->token_id);
        http_reply_json(rep, 200, json_pack("{s:s,s:b}", "id", id, "revoked", 1));
}

static void reply_not_remote(struct http_reply *rep)
{
        http_reply_error(rep, 409, "partner_not_remote", "the connector's partner is builtin; a security admin "
                         "must set partner to remote (PUT /api/v1/connector) before a remote partner may report");
}

/* POST /partner/v1/heartbeat, an empty body or {} */
static void handle_heartbeat(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        json_t *body = NULL;
        int r;

        if (!started(d, rep))
                return;
        if (req->body_len) {
                body = json_loadb(req->body, req->body_len, 0, NULL);
                if (!json_is_object(body) || json_object_size(body)) {
                        http_reply_error(rep, 400, "invalid_request", "a heartbeat's body must be empty or {}");
                        json_decref(body);
                        return;
                }
                json_decref(body);
        }
        r = connector_heartbeat(d->connector, util_now());
        if (r == -EPERM) {
                reply_not_remote(rep);
                return;
        }
        if (r < 0) {
                http_reply_error(rep, 500, "database_error", "cannot store the heartbeat");
                return;
        }
        http_reply_json(rep, 200, json_pack("{s:s}", "state", connector_state_name(connector_state_get(d, NULL))));
}

/* PUT /partner/v1/devices/{id}/risk and POST /partner/v1/risk */
static void risk_push(struct vigild *d, const struct http_request *req, const char *device_id,
                      struct http_reply *rep)
{
        struct connector_update *u;
        size_t n = 0, changed = 0, stale = 0, bad = 0;
        char err[512];
        json_t *body = NULL;
        int r;

        if (!started(d, rep))
                return;
        u = calloc(CONNECTOR_BATCH_MAX, sizeof(*u));
        if (!u) {
                http_reply_error(rep, 503, "out_of_memory", "no memory for the request; try again");
                return;
        }
        r = connector_partner_body_parse(req->body, req->body_len, device_id, util_now() * 1000000000LL, u, &n,
                                         &body, err, sizeof(err));
        if (r < 0) {
                http_reply_error(rep, r == -E2BIG ? 413 : 400, r == -E2BIG ? "too_large" : "invalid_request",
                                 "%s", err);
                free(u);
                return;
        }
        r = connector_apply(d->connector, u, n, &changed, &stale, &bad);
        if (r == -ENOENT && device_id)
                http_reply_error(rep, 404, "device_not_found", "no device with id '%s'", u[bad].device_id);
        else if (r == -ENOENT)
                http_reply_error(rep, 404, "device_not_found", "devices[%zu]: no device with id '%s'; nothing "
                                 "was stored", bad, u[bad].device_id);
        else if (r == -EPERM)
                reply_not_remote(rep);
        else if (r == -E2BIG)
                http_reply_error(rep, 507, "device_limit_reached", "more devices than max_devices");
        else if (r < 0)
                http_reply_error(rep, 500, "database_error", "cannot store the risk levels");
        else
                http_reply_json(rep, 200, json_pack("{s:I,s:I,s:I}", "accepted", (json_int_t)(n - stale),
                                                    "changed", (json_int_t)changed, "stale", (json_int_t)stale));
        json_decref(body);
        free(u);
}

static void handle_device_risk(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        risk_push(d, req, req->params[0], rep);
}

static void handle_risk_batch(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        risk_push(d, req, NULL, rep);
}

const struct http_route connector_routes[] = {
        { "GET", "/api/v1/connector", HTTP_AUTH_ADMIN, ROLES_ANY, handle_get, 0 },
        { "PUT", "/api/v1/connector", HTTP_AUTH_ADMIN, ROLE_SECURITY_ADMIN, handle_put, 0 },
        { "GET", "/api/v1/connector/status", HTTP_AUTH_ADMIN, ROLES_ANY, handle_status, 0 },
        { "GET", "/api/v1/connector/history", HTTP_AUTH_ADMIN, ROLES_ANY, handle_history, 0 },
        { "GET", "/api/v1/connector/devices/{id}", HTTP_AUTH_ADMIN, ROLES_ANY, handle_device, 0 },
        { "POST", "/api/v1/connector/partner-tokens", HTTP_AUTH_ADMIN, ROLE_SECURITY_ADMIN, handle_token_create, 0 },
        { "DELETE", "/api/v1/connector/partner-tokens/{id}", HTTP_AUTH_ADMIN, ROLE_SECURITY_ADMIN,
          handle_token_revoke, 0 },
        { "POST", "/partner/v1/heartbeat", HTTP_AUTH_ADMIN, ROLE_PARTNER, handle_heartbeat, HEARTBEAT_BODY_MAX },
        { "PUT", "/partner/v1/devices/{id}/risk", HTTP_AUTH_ADMIN, ROLE_PARTNER, handle_device_risk,
          CONNECTOR_BODY_MAX },
        { "POST", "/partner/v1/risk", HTTP_AUTH_ADMIN, ROLE_PARTNER, handle_risk_batch, CONNECTOR_BODY_MAX },
        { 0 },
};
