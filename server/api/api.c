/* api: admin tokens and the health endpoint. See api.h. */
#include "server/api/api.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "server/db/db.h"
#include "server/enroll/enroll.h"
#include "server/log.h"
#include "server/portal/portal.h"
#include "server/vigild.h"
#include "util/strutil.h"

#define TOKEN_PREFIX "vgt_"
#define SECRET_LEN 32
#define NAME_MAX_LEN 128

static const struct db_migration api_migrations[] = {
        { 1,
          "CREATE TABLE admin_tokens ("
          "  id TEXT PRIMARY KEY,"
          "  name TEXT NOT NULL,"
          "  role TEXT NOT NULL,"
          "  secret_sha256 BLOB NOT NULL,"
          "  created_at INTEGER NOT NULL,"
          "  created_by TEXT NOT NULL,"
          "  revoked_at INTEGER);" },
};

int api_migrate(struct vigild *d)
{
        return db_migrate_locked(d->db, "api", api_migrations,
                                 sizeof(api_migrations) / sizeof(api_migrations[0]));
}

static const struct { enum http_role role; const char *name; } roles[] = {
        { ROLE_SECURITY_ADMIN, "security_admin" },
        { ROLE_IT_ADMIN, "it_admin" },
        { ROLE_READER, "reader" },
        { ROLE_PARTNER, "partner" },
};

const char *api_role_name(enum http_role role)
{
        for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
                if (roles[i].role == role)
                        return roles[i].name;
        return "unknown";
}

int api_role_parse(const char *name, enum http_role *ret)
{
        for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
                if (strcmp(roles[i].name, name) == 0) {
                        *ret = roles[i].role;
                        return 0;
                }
        return -EINVAL;
}

int api_token_create(struct vigild *d, enum http_role role, const char *name, const char *created_by,
                     char out[static API_TOKEN_MAX + 1], char ret_id[static API_TOKEN_ID_LEN + 1])
{
        uint8_t idb[API_TOKEN_ID_LEN / 2], secret[SECRET_LEN], hash[CRYPTO_SHA256_LEN];
        char id[API_TOKEN_ID_LEN + 1], s64[64];
        const char *rname = api_role_name(role);
        struct db_stmt *st;
        int r;

        if (crypto_random(idb, sizeof(idb)) < 0 || crypto_random(secret, sizeof(secret)) < 0)
                return -EIO;
        util_hex_encode(idb, sizeof(idb), id);
        util_b64url_encode(secret, sizeof(secret), s64);
        crypto_sha256(s64, strlen(s64), hash);
        db_lock(d->db);
        r = db_prepare(d->db, "INSERT INTO admin_tokens (id, name, role, secret_sha256, created_at, created_by) "
                              "VALUES ($1, $2, $3, $4, $5, $6)", &st);
        if (r == 0) {
                db_bind_text(st, 1, id, strlen(id));
                db_bind_text(st, 2, name, strlen(name));
                db_bind_text(st, 3, rname, strlen(rname));
                db_bind_blob(st, 4, hash, sizeof(hash));
                db_bind_int64(st, 5, util_now());
                db_bind_text(st, 6, created_by, strlen(created_by));
                r = db_step(st);
                db_stmt_done(st);
        }
        db_unlock(d->db);
        if (r < 0)
                return r;
        snprintf(out, API_TOKEN_MAX + 1, "%s%s_%s", TOKEN_PREFIX, id, s64);
        memcpy(ret_id, id, sizeof(id));
        explicit_bzero(secret, sizeof(secret));
        explicit_bzero(s64, sizeof(s64));
        return 0;
}

int api_token_revoke(struct vigild *d, const char *id, enum http_role role)
{
        const char *rname = api_role_name(role);
        int r;

        db_lock(d->db);
        /* the last security_admin token stays: without it nobody could make
         * tokens again (vigild init refuses a data folder that exists) */
        r = db_exec_params(d->db, "UPDATE admin_tokens SET revoked_at = $3 WHERE id = $1 AND role = $2 "
                           "AND revoked_at IS NULL AND ($2 <> 'security_admin' OR (SELECT COUNT(*) FROM "
                           "admin_tokens WHERE role = 'security_admin' AND revoked_at IS NULL) > 1)",
                           DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(rname, strlen(rname)),
                                     db_param_int64(util_now())));
        if (r == 0 && db_changes(d->db) == 0)
                r = role == ROLE_SECURITY_ADMIN ? -EBUSY : -ENOENT;
        db_unlock(d->db);
        return r;
}

int api_admin_auth(struct vigild *d, const char *token, struct http_principal *who)
{
        uint8_t hash[CRYPTO_SHA256_LEN];
        char id[API_TOKEN_ID_LEN + 1];
        const char *secret, *role_name;
        const void *stored;
        size_t len = strnlen(token, API_TOKEN_MAX + 1), stored_len = 0;
        enum http_role role = 0;
        struct db_stmt *st;
        bool ok = false;

        if (len > API_TOKEN_MAX || len < strlen(TOKEN_PREFIX) + API_TOKEN_ID_LEN + 2 ||
            strncmp(token, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0)
                return -EACCES;
        memcpy(id, token + strlen(TOKEN_PREFIX), API_TOKEN_ID_LEN);
        id[API_TOKEN_ID_LEN] = '\0';
        secret = token + strlen(TOKEN_PREFIX) + API_TOKEN_ID_LEN;
        if (*secret++ != '_')
                return -EACCES;
        crypto_sha256(secret, strlen(secret), hash);
        db_lock(d->db);
        if (db_prepare(d->db, "SELECT secret_sha256, role, name FROM admin_tokens "
                              "WHERE id = $1 AND revoked_at IS NULL", &st) == 0) {
                db_bind_text(st, 1, id, strlen(id));
                if (db_step(st) == 1) {
                        stored = db_column_blob(st, 0, &stored_len);
                        role_name = db_column_text(st, 1, NULL);
                        ok = stored && stored_len == sizeof(hash) && util_ct_equal(stored, hash, sizeof(hash)) &&
                             role_name && api_role_parse(role_name, &role) == 0;
                        if (ok)
                                snprintf(who->token_name, sizeof(who->token_name), "%s",
                                         db_column_text(st, 2, NULL) ? db_column_text(st, 2, NULL) : "");
                }
                db_stmt_done(st);
        }
        db_unlock(d->db);
        if (!ok)
                return -EACCES;
        who->role = role;
        memcpy(who->token_id, id, sizeof(id));
        return 0;
}

int api_token_get(struct vigild *d, const char *id, struct http_principal *who)
{
        const char *role_name, *name;
        enum http_role role = 0;
        struct db_stmt *st;
        bool ok = false;

        if (strlen(id) != API_TOKEN_ID_LEN)
                return -EACCES;
        db_lock(d->db);
        if (db_prepare(d->db, "SELECT role, name FROM admin_tokens WHERE id = $1 AND revoked_at IS NULL", &st) == 0) {
                db_bind_text(st, 1, id, strlen(id));
                if (db_step(st) == 1) {
                        role_name = db_column_text(st, 0, NULL);
                        name = db_column_text(st, 1, NULL);
                        ok = role_name && api_role_parse(role_name, &role) == 0;
                        if (ok)
                                snprintf(who->token_name, sizeof(who->token_name), "%s", name ? name : "");
                }
                db_stmt_done(st);
        }
        db_unlock(d->db);
        if (!ok)
                return -EACCES;
        who->role = role;
        memcpy(who->token_id, id, API_TOKEN_ID_LEN + 1);
        return 0;
}

/* GET /api/v1/health — no authentication, for load balancers and probes. */
static void handle_health(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct db_stmt *st;
        bool db_ok = false;

        db_lock(d->db);
        if (db_prepare(d->db, "SELECT 1", &st) == 0) {
                db_ok = db_step(st) == 1;
                db_stmt_done(st);
        }
        db_unlock(d->db);
        /* anyone may ask: say nothing about the fleet here */
        http_reply_json(rep, db_ok ? 200 : 503, json_pack("{s:s,s:s,s:s}",
                        "status", db_ok ? "ok" : "degraded", "version", VIGIL_VERSION,
                        "database", db_ok ? "ok" : "unavailable"));
}

/* POST /api/v1/tokens {"role": "reader", "name": "..."} */
static void handle_token_create(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        char token[API_TOKEN_MAX + 1], id[API_TOKEN_ID_LEN + 1];
        const char *role_name, *name = "";
        enum http_role role;
        json_t *body;

        body = http_request_json(req, rep);
        if (!body)
                return;
        if (json_unpack(body, "{s?s}", "name", &name) < 0 || !util_str_is_text(name, NAME_MAX_LEN)) {
                http_reply_error(rep, 400, "invalid_name",
                                 "'name' must be a string of at most %d bytes without control characters",
                                 NAME_MAX_LEN);
                goto out;
        }
        /* partner tokens come from POST /api/v1/connector/partner-tokens only */
        if (json_unpack(body, "{s:s}", "role", &role_name) < 0 || api_role_parse(role_name, &role) < 0 ||
            role == ROLE_PARTNER) {
                http_reply_error(rep, 400, "invalid_role",
                                 "'role' must be one of security_admin, it_admin, reader");
                goto out;
        }
        if (api_token_create(d, role, name, req->who->token_id, token, id) < 0) {
                http_reply_error(rep, 500, "database_error", "cannot store the token");
                goto out;
        }
        log_info("admin token %s (%s) created by token %s", id, role_name, req->who->token_id);
        http_reply_json(rep, 201, json_pack("{s:s,s:s,s:s,s:s}", "id", id, "role", role_name,
                                            "name", name, "token", token));
        explicit_bzero(token, sizeof(token));
out:
        json_decref(body);
}

/* DELETE /api/v1/tokens/{id}: revokes an admin token (partner tokens have
 * their own endpoint); its portal sessions end with it. */
static void handle_token_revoke(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0];
        struct http_principal who = { 0 };
        int r = api_token_get(d, id, &who) < 0 || who.role == ROLE_PARTNER ? -ENOENT :
                api_token_revoke(d, id, who.role);

        if (r == -ENOENT) {
                http_reply_error(rep, 404, "token_not_found", "no admin token '%s' that is not revoked yet", id);
                return;
        }
        if (r == -EBUSY) {
                http_reply_error(rep, 409, "last_security_admin", "token '%s' is the last security_admin token: "
                                 "make another (POST /api/v1/tokens) before revoking it", id);
                return;
        }
        if (r < 0) {
                http_reply_error(rep, 500, "database_error", "cannot revoke the token");
                return;
        }
        /* its sessions end at their next request; its event streams now */
        portal_events_token_revoked(d, id);
        log_info("admin token %s (%s) revoked by token %s", id, api_role_name(who.role), req->who->token_id);
        http_reply_json(rep, 200, json_pack("{s:s,s:b}", "id", id, "revoked", 1));
}

const struct http_route api_routes[] = {
        { "GET", "/api/v1/health", HTTP_AUTH_NONE, 0, handle_health, 0 },
        { "POST", "/api/v1/tokens", HTTP_AUTH_ADMIN, ROLE_SECURITY_ADMIN, handle_token_create, 0 },
        { "DELETE", "/api/v1/tokens/{id}", HTTP_AUTH_ADMIN, ROLE_SECURITY_ADMIN, handle_token_revoke, 0 },
        { 0 },
};
