/* portal sessions: an admin token exchanged for a cookie. Owns the table
 * portal_sessions. Only a SHA-256 of the cookie value is stored; a session
 * names the token it was made from, whose role it has, and ends when that
 * token is revoked, after portal_session_idle without a request, or
 * portal_session_max after sign-in. See portal.h and docs/PORTAL.md. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "server/api/api.h"
#include "server/db/db.h"
#include "server/log.h"
#include "server/portal/portal.h"
#include "server/vigild.h"
#include "util/strutil.h"

#define SECRET_LEN 32                   /* bytes of the cookie value and of the CSRF token */
#define SECRET_B64_LEN 43               /* their base64url length */
#define CLEAR_COOKIE HTTP_SESSION_COOKIE "=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict"

static const struct db_migration portal_migrations[] = {
        { 1,
          "CREATE TABLE portal_sessions ("
          "  id_sha256 BLOB PRIMARY KEY,"
          "  token_id TEXT NOT NULL,"
          "  csrf TEXT NOT NULL,"
          "  created_at INTEGER NOT NULL,"
          "  last_seen INTEGER NOT NULL);"
          "CREATE INDEX portal_sessions_token ON portal_sessions (token_id);" },
};

int portal_migrate(struct vigild *d)
{
        return db_migrate_locked(d->db, "portal", portal_migrations,
                                 sizeof(portal_migrations) / sizeof(portal_migrations[0]));
}

struct session {
        char token_id[API_TOKEN_ID_LEN + 1];
        char csrf[SECRET_B64_LEN + 1];
        int64_t created_at;
};

int portal_session_body_parse(const char *body, size_t len, char *token, size_t size, char *err, size_t err_size)
{
        json_error_t jerr;
        const char *t;
        size_t tl;
        json_t *j;

        if (len == 0 || len > PORTAL_SESSION_BODY_MAX) {
                snprintf(err, err_size, "the body must be a JSON object {\"token\": \"...\"} of at most %d bytes",
                         PORTAL_SESSION_BODY_MAX);
                return -EINVAL;
        }
        j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!j) {
                snprintf(err, err_size, "malformed JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
                return -EINVAL;
        }
        if (!json_is_object(j) || json_object_size(j) != 1 || !json_is_string(json_object_get(j, "token"))) {
                snprintf(err, err_size, "the body must be {\"token\": \"<admin token>\"} and nothing else");
                json_decref(j);
                return -EINVAL;
        }
        t = json_string_value(json_object_get(j, "token"));
        tl = json_string_length(json_object_get(j, "token"));
        if (tl == 0 || tl >= size || tl > API_TOKEN_MAX || strlen(t) != tl) {
                snprintf(err, err_size, "'token' must be an admin token of at most %d characters", API_TOKEN_MAX);
                json_decref(j);
                return -EINVAL;
        }
        memcpy(token, t, tl + 1);
        json_decref(j);
        return 0;
}

/* Whether s is a cookie value this module could have made. */
static bool cookie_well_formed(const char *s)
{
        return strlen(s) == SECRET_B64_LEN &&
               strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == SECRET_B64_LEN;
}

/* Deletes the session of hash; lock held. */
static void session_delete_locked(struct vigild *d, const uint8_t hash[CRYPTO_SHA256_LEN])
{
        db_exec_params(d->db, "DELETE FROM portal_sessions WHERE id_sha256 = $1",
                       DB_PARAMS(db_param_blob(hash, CRYPTO_SHA256_LEN)));
}

/* Reads the session whose cookie value hashes to hash and, if touch,
 * records a request on it. Returns 0; -EACCES when unknown; -ETIMEDOUT when
 * it expired (it is removed); -EIO when the database failed. */
static int session_load_hash(struct vigild *d, const uint8_t hash[CRYPTO_SHA256_LEN], bool touch,
                             struct session *ret)
{
        int64_t now = util_now(), last_seen = 0;
        struct db_stmt *st;
        int r;

        db_lock(d->db);
        r = db_prepare(d->db, "SELECT token_id, csrf, created_at, last_seen FROM portal_sessions "
                              "WHERE id_sha256 = $1", &st);
        if (r < 0) {
                db_unlock(d->db);
                return -EIO;
        }
        db_bind_blob(st, 1, hash, CRYPTO_SHA256_LEN);
        r = db_step(st);
        if (r == 1) {
                snprintf(ret->token_id, sizeof(ret->token_id), "%s", db_column_text(st, 0, NULL));
                snprintf(ret->csrf, sizeof(ret->csrf), "%s", db_column_text(st, 1, NULL));
                ret->created_at = db_column_int64(st, 2);
                last_seen = db_column_int64(st, 3);
        }
        db_stmt_done(st);
        if (r != 1) {
                db_unlock(d->db);
                return r == 0 ? -EACCES : -EIO;
        }
        if (now - last_seen >= d->cfg.portal_session_idle || now - ret->created_at >= d->cfg.portal_session_max) {
                session_delete_locked(d, hash);
                r = -ETIMEDOUT;
        } else {
                /* a second is the idle clock's grain: no write for the requests within one */
                if (touch && now > last_seen)
                        db_exec_params(d->db, "UPDATE portal_sessions SET last_seen = $2 WHERE id_sha256 = $1",
                                       DB_PARAMS(db_param_blob(hash, CRYPTO_SHA256_LEN), db_param_int64(now)));
                r = 0;
        }
        db_unlock(d->db);
        return r;
}

bool portal_session_valid(struct vigild *d, const uint8_t hash[CRYPTO_SHA256_LEN])
{
        struct session s;

        return session_load_hash(d, hash, false, &s) == 0;
}

/* The hash a session is stored under, of a cookie value. Returns 0, or
 * -EINVAL for a value this module could not have made. */
static int session_hash(const char *cookie, uint8_t ret[CRYPTO_SHA256_LEN])
{
        if (!cookie_well_formed(cookie))
                return -EINVAL;
        crypto_sha256(cookie, SECRET_B64_LEN, ret);
        return 0;
}

/* The principal of the session of hash, loaded: its token, unless revoked
 * since (the session is then removed). Returns 0 or -ETIMEDOUT. */
static int session_principal(struct vigild *d, const uint8_t hash[CRYPTO_SHA256_LEN], const struct session *s,
                             struct http_principal *who)
{
        if (api_token_get(d, s->token_id, who) == 0 && who->role != ROLE_PARTNER)
                return 0;
        db_lock(d->db);
        session_delete_locked(d, hash);
        db_unlock(d->db);
        return -ETIMEDOUT;
}

/* Whether csrf is the session's CSRF token (compared in constant time). */
static bool csrf_matches(const struct session *s, const char *csrf)
{
        return strlen(csrf) == strlen(s->csrf) && util_ct_equal(csrf, s->csrf, strlen(s->csrf));
}

int portal_session_auth(struct vigild *d, const char *cookie, const char *csrf, struct http_principal *who)
{
        uint8_t hash[CRYPTO_SHA256_LEN];
        struct session s;
        int r;

        if (session_hash(cookie, hash) < 0)
                return -EACCES;
        r = session_load_hash(d, hash, true, &s);
        if (r < 0)
                return r == -ETIMEDOUT ? r : -EACCES;
        if (csrf && !csrf_matches(&s, csrf))
                return -EPERM;
        r = session_principal(d, hash, &s, who);
        if (r == 0)
                memcpy(who->session_hash, hash, sizeof(hash));
        return r;
}

#define EXPIRES_MAX 253402300799LL       /* 9999-12-31T23:59:59Z: the last time RFC 3339 can write */

/* The body of POST and GET /api/v1/session. */
static json_t *session_json(struct vigild *d, const struct http_principal *who, const struct session *s)
{
        /* portal_session_max may be as long as a duration can be: no overflow,
         * and no year RFC 3339 cannot write */
        int64_t expires = d->cfg.portal_session_max < EXPIRES_MAX - s->created_at
                          ? s->created_at + d->cfg.portal_session_max : EXPIRES_MAX;

        return json_pack("{s:s,s:s,s:s,s:o,s:I}", "role", api_role_name(who->role), "name", who->token_name,
                         "csrf", s->csrf, "expires", http_time_or_null(expires),
                         "idle_timeout", (json_int_t)d->cfg.portal_session_idle);
}

/* Removes the expired sessions, and says whether there is room for one
 * more; lock held. Returns 0, -ENOSPC, -EIO. */
static int session_room_locked(struct vigild *d, int64_t now)
{
        struct db_stmt *st;
        int64_t n = 0;
        int r;

        r = db_exec_params(d->db, "DELETE FROM portal_sessions WHERE last_seen <= $1 OR created_at <= $2",
                           DB_PARAMS(db_param_int64(now - d->cfg.portal_session_idle),
                                     db_param_int64(now - d->cfg.portal_session_max)));
        if (r < 0 || db_prepare(d->db, "SELECT COUNT(*) FROM portal_sessions", &st) < 0)
                return -EIO;
        if (db_step(st) == 1)
                n = db_column_int64(st, 0);
        db_stmt_done(st);
        return n >= PORTAL_SESSIONS_MAX ? -ENOSPC : 0;
}

/* Stores a new session of who; fills s and the cookie value. Returns 0,
 * -ENOSPC, -EIO. */
static int session_create(struct vigild *d, const struct http_principal *who, struct session *s,
                          char cookie[static SECRET_B64_LEN + 1])
{
        uint8_t secret[SECRET_LEN], csrf[SECRET_LEN], hash[CRYPTO_SHA256_LEN];
        int64_t now = util_now();
        int r;

        if (crypto_random(secret, sizeof(secret)) < 0 || crypto_random(csrf, sizeof(csrf)) < 0)
                return -EIO;
        util_b64url_encode(secret, sizeof(secret), cookie);
        util_b64url_encode(csrf, sizeof(csrf), s->csrf);
        explicit_bzero(secret, sizeof(secret));
        crypto_sha256(cookie, SECRET_B64_LEN, hash);
        memcpy(s->token_id, who->token_id, sizeof(s->token_id));
        s->created_at = now;
        db_lock(d->db);
        r = session_room_locked(d, now);
        if (r == 0 && db_exec_params(d->db, "INSERT INTO portal_sessions (id_sha256, token_id, csrf, created_at, "
                                            "last_seen) VALUES ($1, $2, $3, $4, $4)",
                                     DB_PARAMS(db_param_blob(hash, sizeof(hash)),
                                               db_param_text(s->token_id, strlen(s->token_id)),
                                               db_param_text(s->csrf, strlen(s->csrf)), db_param_int64(now))) < 0)
                r = -EIO;
        db_unlock(d->db);
        return r;
}

/* POST /api/v1/session {"token": "..."}: signs in. */
static void handle_session_create(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        char token[API_TOKEN_MAX + 1], cookie[SECRET_B64_LEN + 1], err[256], header[HTTP_SET_COOKIE_MAX];
        struct http_principal who = { 0 };
        struct session s;
        int r;

        if (portal_session_body_parse(req->body, req->body_len, token, sizeof(token), err, sizeof(err)) < 0) {
                http_reply_error(rep, 400, "invalid_request", "%s", err);
                return;
        }
        r = api_admin_auth(d, token, &who);
        explicit_bzero(token, sizeof(token));
        if (r < 0) {
                http_reply_error(rep, 401, "unauthorized", "the admin token is unknown or revoked");
                return;
        }
        if (who.role == ROLE_PARTNER) {
                http_reply_error(rep, 403, "forbidden", "a partner token cannot sign in to the portal");
                return;
        }
        r = session_create(d, &who, &s, cookie);
        if (r == -ENOSPC) {
                http_reply_error(rep, 503, "too_many_sessions", "%d portal sessions are open; sign some out "
                                 "or wait for them to expire", PORTAL_SESSIONS_MAX);
                return;
        }
        if (r < 0) {
                http_reply_failed(rep, r, "store the session");
                return;
        }
        snprintf(header, sizeof(header), HTTP_SESSION_COOKIE "=%s; Path=/; HttpOnly; Secure; SameSite=Strict",
                 cookie);
        explicit_bzero(cookie, sizeof(cookie));
        http_reply_cookie(rep, header);
        explicit_bzero(header, sizeof(header));
        log_info("portal: token %s (%s) signed in", who.token_id, api_role_name(who.role));
        http_reply_json(rep, 201, session_json(d, &who, &s));
}

/* The request's session cookie into out. Returns its length, or a negative
 * errno when there is none that this module could have made. */
static int request_cookie(const struct http_request *req, char out[static SECRET_B64_LEN + 1])
{
        int r = http_cookie_find(http_request_header(req, "Cookie"), HTTP_SESSION_COOKIE, out,
                                 SECRET_B64_LEN + 1);

        return r < 0 ? r : cookie_well_formed(out) ? r : -EACCES;
}

/* GET /api/v1/session: the session of the cookie. */
static void handle_session_get(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        char cookie[SECRET_B64_LEN + 1];
        uint8_t hash[CRYPTO_SHA256_LEN];
        struct http_principal who = { 0 };
        struct session s;
        int r;

        r = request_cookie(req, cookie);
        if (r >= 0)
                r = session_hash(cookie, hash);
        if (r >= 0)
                r = session_load_hash(d, hash, true, &s);
        if (r >= 0)
                r = session_principal(d, hash, &s, &who);
        explicit_bzero(cookie, sizeof(cookie));
        if (r == -ETIMEDOUT)
                http_reply_error(rep, 401, "session_expired", "the session expired or its token was revoked: "
                                 "sign in again");
        else if (r == -EIO)
                http_reply_failed(rep, r, "read the session");
        else if (r < 0)
                http_reply_error(rep, 401, "unauthenticated", "no session: sign in with POST /api/v1/session");
        else
                http_reply_json(rep, 200, session_json(d, &who, &s));
}

/* DELETE /api/v1/session: signs out (with the session's CSRF token). */
static void handle_session_delete(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        static const struct http_bytes none = { .data = "", .len = 0, .type = "application/json" };
        char cookie[SECRET_B64_LEN + 1];
        uint8_t hash[CRYPTO_SHA256_LEN];
        const char *csrf = http_request_header(req, HTTP_CSRF_HEADER);
        struct session s;

        if (request_cookie(req, cookie) >= 0 && session_hash(cookie, hash) == 0 &&
            session_load_hash(d, hash, false, &s) == 0) {
                if (!csrf || !csrf_matches(&s, csrf)) {
                        explicit_bzero(cookie, sizeof(cookie));
                        http_reply_error(rep, 403, "csrf_failed", "signing out must carry the " HTTP_CSRF_HEADER
                                         " header that signing in returned");
                        return;
                }
                db_lock(d->db);
                session_delete_locked(d, hash);
                db_unlock(d->db);
                portal_events_session_ended(d, hash);
                log_info("portal: token %s signed out", s.token_id);
        }
        explicit_bzero(cookie, sizeof(cookie));
        /* signed out already, or never in: the same answer */
        http_reply_cookie(rep, CLEAR_COOKIE);
        http_reply_bytes(rep, 204, &none);
}

const struct http_route portal_routes[] = {
        { "POST", "/api/v1/session", HTTP_AUTH_NONE, 0, handle_session_create, PORTAL_SESSION_BODY_MAX },
        { "GET", "/api/v1/session", HTTP_AUTH_NONE, 0, handle_session_get, 0 },
        { "DELETE", "/api/v1/session", HTTP_AUTH_NONE, 0, handle_session_delete, 0 },
        { "GET", "/api/v1/events", HTTP_AUTH_ADMIN, ROLES_ANY, portal_events_handle, 0 },
        { 0 },
};
