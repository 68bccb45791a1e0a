/* enroll's endpoints: onboarding packages and device management for admins;
 * enrollment, heartbeat and inventory for agents. */
#include "server/enroll/enroll-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/bus.h"
#include "server/db/db.h"
#include "server/log.h"
#include "server/manage/profiles.h"
#include "server/tvm/tvm.h"
#include "server/vigild.h"
#include "util/strutil.h"
#include "vigil/wire.h"

#define PACKAGE_EXPIRES_DEFAULT (24 * 3600)
#define PACKAGE_EXPIRES_MAX (90 * 86400)
#define PACKAGE_USES_MAX 1000000
#define ATTR_MAX VIGIL_WIRE_FIELD_MAX
#define NAME_MAX_LEN 255
#define LIST_TOP_DEFAULT 100
#define LIST_TOP_MAX 1000

/* Reads the optional "primary_user" of a package body into *ret (NULL when
 * absent). Returns 0, or -EINVAL with a 400 in rep. */
static int package_user_read(struct vigild *d, const json_t *body, const char **ret, struct http_reply *rep)
{
        const json_t *v = json_object_get(body, "primary_user");
        const char *s = json_string_value(v);
        int r;

        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!s || strlen(s) != json_string_length(v) || !util_str_printable(s, ENROLL_PRIMARY_USER_MAX)) {
                http_reply_error(rep, 400, "invalid_primary_user", "'primary_user' must be a user id or user "
                                 "principal name of at most %d printable bytes", ENROLL_PRIMARY_USER_MAX);
                return -EINVAL;
        }
        r = d->enroll->user_check ? d->enroll->user_check(d, s) : -ENOENT;
        if (r < 0) {
                http_reply_error(rep, 400, "invalid_primary_user", "'primary_user': no user '%s'", s);
                return -EINVAL;
        }
        *ret = s;
        return 0;
}

/* POST /api/v1/onboarding-packages {"expires": "24h", "uses": 1, "primary_user": "alice@example.com"} */
static void handle_package_create(struct vigild *d, const struct http_request *req,
                                  struct http_reply *rep)
{
        struct enroll *e = d->enroll;
        struct enroll_token t;
        char token[ENROLL_TOKEN_MAX + 1], exp_text[21];
        int64_t expires = PACKAGE_EXPIRES_DEFAULT, now = util_now();
        json_int_t uses = 1;
        const char *user = NULL;
        struct db_stmt *st;
        json_t *body = NULL, *v;
        int r;

        if (req->body_len) {
                body = http_request_json(req, rep);
                if (!body)
                        return;
                v = json_object_get(body, "expires");
                if (v && (!json_is_string(v) || util_duration_parse(json_string_value(v), &expires) < 0 ||
                          expires < 60 || expires > PACKAGE_EXPIRES_MAX)) {
                        http_reply_error(rep, 400, "invalid_expires",
                                         "'expires' must be a duration such as \"24h\" between 1m and 90d");
                        goto out;
                }
                v = json_object_get(body, "uses");
                if (v && (!json_is_integer(v) || json_integer_value(v) < 1 ||
                          json_integer_value(v) > PACKAGE_USES_MAX)) {
                        http_reply_error(rep, 400, "invalid_uses",
                                         "'uses' must be an integer from 1 to %d", PACKAGE_USES_MAX);
                        goto out;
                }
                if (v)
                        uses = json_integer_value(v);
                if (package_user_read(d, body, &user, rep) < 0)
                        goto out;
        }
        memcpy(t.srv, e->server_id, sizeof(t.srv));
        t.exp = now + expires;
        if (crypto_uuid4(t.tid) < 0 || enroll_token_sign(&t, e->enroll_key, token, sizeof(token)) < 0) {
                http_reply_error(rep, 500, "internal", "cannot make an enrollment token");
                goto out;
        }
        db_lock(d->db);
        r = db_prepare(d->db, "INSERT INTO enroll_tokens (id, created_at, created_by, expires_at, max_uses, "
                              "primary_user) VALUES ($1, $2, $3, $4, $5, $6)", &st);
        if (r == 0) {
                db_bind_text(st, 1, t.tid, strlen(t.tid));
                db_bind_int64(st, 2, now);
                db_bind_text(st, 3, req->who->token_id, strlen(req->who->token_id));
                db_bind_int64(st, 4, t.exp);
                db_bind_int64(st, 5, uses);
                db_bind_text(st, 6, user, user ? strlen(user) : 0);
                r = db_step(st);
                db_stmt_done(st);
        }
        db_unlock(d->db);
        if (r < 0) {
                http_reply_error(rep, 500, "database_error", "cannot store the enrollment token");
                goto out;
        }
        util_time_format(t.exp, exp_text);
        log_info("onboarding package %s created by token %s (expires %s, %lld uses)",
                 t.tid, req->who->token_id, exp_text, (long long)uses);
        http_reply_json(rep, 201, json_pack("{s:s,s:s,s:I,s:s?,s:{s:i,s:s,s:s,s:s,s:s}}",
                "id", t.tid, "expires_at", exp_text, "max_uses", uses, "primary_user", user,
                "package", "vigil_onboarding", 1, "server_url", d->cfg.public_url,
                "server_ca", e->server_ca_pem, "enrollment_token", token, "expires_at", exp_text));
out:
        json_decref(body);
}

/* Takes one use of an enrollment token and records the device, in one
 * transaction. Lock held. Returns 0, -EACCES (used up / revoked / unknown) or
 * a database error. */
static int enroll_commit(struct vigild *d, const struct enroll_token *t, const char *id,
                         const char *name, const struct crypto_cert_info *ci)
{
        struct db_stmt *st;
        int64_t now = util_now();
        int r;

        r = db_begin(d->db);
        if (r < 0)
                return r;
        r = db_prepare(d->db, "UPDATE enroll_tokens SET uses = uses + 1 "
                              "WHERE id = $1 AND uses < max_uses AND revoked_at IS NULL", &st);
        if (r == 0) {
                db_bind_text(st, 1, t->tid, strlen(t->tid));
                r = db_step(st);
                db_stmt_done(st);
        }
        if (r == 0 && db_changes(d->db) != 1)
                r = -EACCES;
        if (r == 0)
                r = db_prepare(d->db, "INSERT INTO devices (id, name, enrolled_at, enroll_token_id, "
                                      "last_seen, cert_serial, cert_fingerprint, cert_not_after) "
                                      "VALUES ($1, $2, $3, $4, $3, $5, $6, $7)", &st);
        if (r == 0) {
                db_bind_text(st, 1, id, strlen(id));
                db_bind_text(st, 2, name, strlen(name));
                db_bind_int64(st, 3, now);
                db_bind_text(st, 4, t->tid, strlen(t->tid));
                db_bind_text(st, 5, ci->serial_hex, strlen(ci->serial_hex));
                db_bind_text(st, 6, ci->fpr_hex, strlen(ci->fpr_hex));
                db_bind_int64(st, 7, ci->not_after);
                r = db_step(st);
                db_stmt_done(st);
        }
        return db_finish(d->db, r);
}

/* True if the token may still be used (checked again, atomically, at
 * commit); its primary user, if it names one, into user ("" if not). */
static bool token_has_uses(struct vigild *d, const char *tid, char user[static ENROLL_PRIMARY_USER_MAX + 1])
{
        struct db_stmt *st;
        bool ok = false;

        user[0] = '\0';
        db_lock(d->db);
        if (db_prepare(d->db, "SELECT primary_user FROM enroll_tokens WHERE id = $1 AND uses < max_uses "
                              "AND revoked_at IS NULL", &st) == 0) {
                db_bind_text(st, 1, tid, strlen(tid));
                ok = db_step(st) == 1;
                if (ok && !db_column_is_null(st, 0))
                        snprintf(user, ENROLL_PRIMARY_USER_MAX + 1, "%s", db_column_text(st, 0, NULL));
                db_stmt_done(st);
        }
        db_unlock(d->db);
        return ok;
}

static void csr_error(const struct http_request *req, struct http_reply *rep, int r)
{
        char peer[64];

        http_request_peer(req, peer, sizeof(peer));
        log_warn("enrollment from %s refused: bad CSR (%s)", peer, strerror(-r));
        if (r == -EKEYREJECTED)
                http_reply_error(rep, 400, "csr_key_mismatch",
                                 "the CSR's signature does not verify with its public key");
        else if (r == -EPERM)
                http_reply_error(rep, 400, "csr_key_rejected",
                                 "the CSR's key must be ECDSA P-256/P-384 or RSA of at least 2048 bits");
        else
                http_reply_error(rep, 400, "csr_malformed", "the CSR is not a PEM PKCS#10 request");
}

/* POST /agent/v1/enroll {"token": "...", "csr": "PEM", "name": "host"} */
static void handle_enroll(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct enroll *e = d->enroll;
        struct crypto_cert_info ci;
        struct enroll_token t;
        const char *token, *csr, *name = "";
        char *cert = NULL, id[37], user[ENROLL_PRIMARY_USER_MAX + 1];
        size_t cert_len;
        json_t *body;
        int r;

        body = http_request_json(req, rep);
        if (!body)
                return;
        if (json_unpack(body, "{s:s,s:s}", "token", &token, "csr", &csr) < 0) {
                http_reply_error(rep, 400, "invalid_request", "'token' and 'csr' are required strings");
                goto out;
        }
        if (json_unpack(body, "{s?s}", "name", &name) < 0 || !util_str_is_text(name, NAME_MAX_LEN)) {
                http_reply_error(rep, 400, "invalid_request",
                                 "'name' must be a string of at most %d bytes without control characters",
                                 NAME_MAX_LEN);
                goto out;
        }
        if (enroll_device_count(d) >= d->cfg.max_devices || !registry_has_room(&d->enroll->registry)) {
                log_warn("enrollment refused: %u devices are onboarded, the configured maximum",
                         d->cfg.max_devices);
                http_reply_error(rep, 403, "device_limit_reached",
                                 "this server already has its maximum of %u onboarded devices", d->cfg.max_devices);
                goto out;
        }
        r = enroll_token_verify(token, strlen(token), e->server_id, e->enroll_key, util_now(), &t);
        if (r != ENROLL_TOKEN_OK) {
                static const char *const codes[] = { "", "token_malformed", "token_foreign",
                                                     "token_forged", "token_expired" };
                char peer[64];

                http_request_peer(req, peer, sizeof(peer));
                log_warn("enrollment from %s refused: %s", peer, enroll_token_strerror(r));
                http_reply_error(rep, r == ENROLL_TOKEN_MALFORMED ? 400 : 403, codes[-r], "%s",
                                 enroll_token_strerror(r));
                goto out;
        }
        /* a used-up or revoked token must not cost us a signature */
        if (!token_has_uses(d, t.tid, user)) {
                log_warn("enrollment with token %s refused: used up, revoked or unknown", t.tid);
                http_reply_error(rep, 403, "token_used_up",
                                 "the enrollment token has been used as often as it allows, or was revoked");
                goto out;
        }
        r = crypto_csr_check(csr, strlen(csr));
        if (r < 0) {
                csr_error(req, rep, r);
                goto out;
        }
        if (crypto_uuid4(id) < 0) {
                http_reply_error(rep, 500, "internal", "no random numbers");
                goto out;
        }
        pthread_mutex_lock(&e->ca_lock);
        r = crypto_ca_sign_csr(e->device_ca, csr, strlen(csr), id, d->cfg.device_cert_days,
                               &cert, &cert_len, &ci);
        pthread_mutex_unlock(&e->ca_lock);
        if (r == -ENOMEM || r == -EIO) {
                http_reply_error(rep, 500, "internal", "cannot sign the device certificate");
                goto out;
        }
        if (r < 0) {
                csr_error(req, rep, r);
                goto out;
        }
        db_lock(d->db);
        r = enroll_commit(d, &t, id, name, &ci);
        db_unlock(d->db);
        if (r == -EACCES) {
                log_warn("enrollment with token %s refused: used up, revoked or unknown", t.tid);
                http_reply_error(rep, 403, "token_used_up",
                                 "the enrollment token has been used as often as it allows, or was revoked");
                goto out;
        }
        if (r < 0) {
                http_reply_error(rep, 500, "database_error", "cannot record the device");
                goto out;
        }
        r = registry_put(&e->registry, id, ci.serial_hex, util_now(), false, NULL);
        if (r < 0)
                log_error("device %s is stored but not in the registry (%s); it can connect after a restart",
                          id, strerror(-r));
        log_info("device %s ('%s') enrolled with onboarding package %s", id, name, t.tid);
        bus_publish(d->bus, &(struct bus_event){ .type = BUS_DEVICE_ENROLLED, .device_id = id,
                                                 .device_enrolled = { user[0] ? user : NULL } });
        http_reply_json(rep, 201, json_pack("{s:s,s:s,s:s,s:I}", "device_id", id, "certificate", cert,
                                            "device_ca", e->device_ca_pem,
                                            "heartbeat_interval", (json_int_t)d->cfg.heartbeat_interval));
out:
        free(cert);
        json_decref(body);
}

/* POST /agent/v1/heartbeat {"inventory_sha256": "hex"} (other members are
 * ignored); the answer says the version of the device's configuration. */
static void handle_heartbeat(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *hash_hex = NULL;
        char config[PROFILES_VERSION_HEX + 1] = "";
        uint8_t hash[32];
        bool current = false;
        json_t *body = NULL;

        if (req->body_len) {
                body = http_request_json(req, rep);
                if (!body)
                        return;
                if (json_unpack(body, "{s?s}", "inventory_sha256", &hash_hex) < 0 ||
                    (hash_hex && util_hex_decode(hash_hex, strlen(hash_hex), hash, sizeof(hash)) != sizeof(hash))) {
                        http_reply_error(rep, 400, "invalid_request",
                                         "'inventory_sha256' must be 64 hex digits");
                        goto out;
                }
        }
        registry_touch(&d->enroll->registry, req->who->device_id, util_now(),
                       hash_hex ? hash : NULL, &current);
        if (profiles_device_version(d, req->who->device_id, config) < 0)
                log_warn("cannot compute the configuration version of device %s", req->who->device_id);
        http_reply_json(rep, 200, json_pack("{s:I,s:b,s:s}",
                        "heartbeat_interval", (json_int_t)d->cfg.heartbeat_interval,
                        "inventory_current", current, "config_version", config));
out:
        json_decref(body);
}

/* Reads a bounded printable string member; "" if absent. */
static int attr_get(const json_t *obj, const char *key, const char **ret)
{
        const json_t *v = json_object_get(obj, key);
        const char *s;

        *ret = "";
        if (!v)
                return 0;
        s = json_string_value(v);
        if (!s || !util_str_is_text(s, ATTR_MAX))
                return -EINVAL;
        *ret = s;
        return 0;
}

struct inventory_attrs {
        const char *name, *os_name, *os_version, *kernel, *arch, *machine_id, *agent_version;
        const char *disk, *firewall, *secure_boot;
        const char *sensor;                     /* "" when the agent does not say */
};

/* True if v is "unknown", a or b. */
static bool one_of(const char *v, const char *a, const char *b)
{
        return strcmp(v, "unknown") == 0 || strcmp(v, a) == 0 || strcmp(v, b) == 0;
}

static int inventory_attrs_read(const json_t *inv, struct inventory_attrs *a, char *err, size_t err_size)
{
        const json_t *os = json_object_get(inv, "os");
        const json_t *disk = json_object_get(inv, "disk_encryption");
        const json_t *fw = json_object_get(inv, "firewall");
        const json_t *sensor = json_object_get(inv, "sensor");
        struct { const json_t *obj; const char *key; const char **dst; } f[] = {
                { inv, "hostname", &a->name }, { os, "name", &a->os_name },
                { os, "version_id", &a->os_version }, { inv, "kernel", &a->kernel },
                { inv, "architecture", &a->arch }, { inv, "machine_id", &a->machine_id },
                { inv, "agent_version", &a->agent_version }, { disk, "state", &a->disk },
                { fw, "state", &a->firewall }, { inv, "secure_boot", &a->secure_boot },
                { sensor, "name", &a->sensor },
        };

        for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
                if (f[i].obj && !json_is_object(f[i].obj)) {
                        snprintf(err, err_size, "inventory member holding '%s' must be an object", f[i].key);
                        return -EINVAL;
                }
                if (attr_get(f[i].obj, f[i].key, f[i].dst) < 0) {
                        snprintf(err, err_size, "'%s' must be a string of at most %d bytes without control characters",
                                 f[i].key, ATTR_MAX);
                        return -EINVAL;
                }
        }
        if (!*a->disk)
                a->disk = "unknown";
        if (!*a->firewall)
                a->firewall = "unknown";
        if (!*a->secure_boot)
                a->secure_boot = "unknown";
        if (!one_of(a->disk, "encrypted", "not_encrypted") || !one_of(a->firewall, "active", "inactive") ||
            !one_of(a->secure_boot, "enabled", "disabled")) {
                snprintf(err, err_size, "disk_encryption.state must be encrypted, not_encrypted or unknown; "
                         "firewall.state active, inactive or unknown; secure_boot enabled, disabled or unknown");
                return -EINVAL;
        }
        if (sensor && (json_object_size(sensor) != 1 || (strcmp(a->sensor, "bpf") != 0 &&
                                                          strcmp(a->sensor, "cnproc") != 0 &&
                                                          strcmp(a->sensor, "none") != 0))) {
                snprintf(err, err_size, "sensor must be {\"name\": \"bpf\" | \"cnproc\" | \"none\"}");
                return -EINVAL;
        }
        return 0;
}

static int inventory_store(struct vigild *d, const char *id, const struct inventory_attrs *a,
                           const json_t *packages, const char *hash_hex)
{
        const char *v[] = { a->name, a->os_name, a->os_version, a->kernel, a->arch, a->machine_id,
                            a->agent_version, a->disk, a->firewall, a->secure_boot, hash_hex, a->sensor };
        struct db_stmt *st;
        int r;

        r = db_begin(d->db);
        if (r < 0)
                return r;
        r = db_prepare(d->db, "UPDATE devices SET name = COALESCE(NULLIF($1, ''), name), os_name = $2, os_version = $3, kernel = $4, "
                              "architecture = $5, machine_id = $6, agent_version = $7, disk_encryption = $8, "
                              "firewall = $9, secure_boot = $10, inventory_sha256 = $11, sensor = $12, "
                              "inventory_at = $13 WHERE id = $14", &st);
        if (r == 0) {
                for (int i = 0; i < 12; i++)
                        db_bind_text(st, i + 1, v[i], strlen(v[i]));
                db_bind_int64(st, 13, util_now());
                db_bind_text(st, 14, id, strlen(id));
                r = db_step(st);
                db_stmt_done(st);
        }
        if (r == 0 && packages)
                r = tvm_software_replace(d, id, packages);
        return db_finish(d->db, r);
}

/* PUT /agent/v1/inventory — the whole inventory document. */
static void handle_inventory(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct inventory_attrs a;
        uint8_t hash[32];
        char hash_hex[65], err[256];
        const json_t *packages;
        json_t *inv;
        int r;

        inv = http_request_json(req, rep);
        if (!inv)
                return;
        if (inventory_attrs_read(inv, &a, err, sizeof(err)) < 0) {
                http_reply_error(rep, 400, "invalid_inventory", "%s", err);
                goto out;
        }
        packages = json_object_get(inv, "packages");
        if (packages && tvm_packages_check(packages, err, sizeof(err)) < 0) {
                http_reply_error(rep, 400, "invalid_inventory", "%s", err);
                goto out;
        }
        crypto_sha256(req->body, req->body_len, hash);
        util_hex_encode(hash, sizeof(hash), hash_hex);
        db_lock(d->db);
        r = inventory_store(d, req->who->device_id, &a, packages, hash_hex);
        db_unlock(d->db);
        if (r < 0) {
                http_reply_error(rep, 500, "database_error", "cannot store the inventory");
                goto out;
        }
        registry_set_inventory(&d->enroll->registry, req->who->device_id, hash);
        registry_touch(&d->enroll->registry, req->who->device_id, util_now(), NULL, NULL);
        log_info("device %s sent its inventory (%zu packages)", req->who->device_id,
                 packages ? json_array_size(packages) : 0);
        bus_publish(d->bus, &(struct bus_event){ .type = BUS_INVENTORY_CHANGED, .device_id = req->who->device_id });
        http_reply_json(rep, 200, json_pack("{s:s,s:I}", "inventory_sha256", hash_hex,
                                            "packages", (json_int_t)(packages ? json_array_size(packages) : 0)));
out:
        json_decref(inv);
}

static int query_uint(const struct http_request *req, const char *name, size_t def, size_t max,
                      size_t *ret, struct http_reply *rep)
{
        const char *v = http_request_query(req, name);
        uint64_t x;

        *ret = def;
        if (!v)
                return 0;
        if (util_uint_parse(v, max, &x) < 0) {
                http_reply_error(rep, 400, "invalid_query", "'%s' must be an integer from 0 to %zu", name, max);
                return -EINVAL;
        }
        *ret = (size_t)x;
        return 0;
}

/* GET /api/v1/devices?top=100&skip=0 */
static void handle_devices_list(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        size_t top, skip, total = 0;
        json_t *arr;

        if (query_uint(req, "top", LIST_TOP_DEFAULT, LIST_TOP_MAX, &top, rep) < 0 ||
            query_uint(req, "skip", 0, SIZE_MAX / 2, &skip, rep) < 0)
                return;
        arr = devices_to_json_list(d, top, skip, &total);
        if (!arr) {
                http_reply_error(rep, 500, "database_error", "cannot list devices");
                return;
        }
        http_reply_json(rep, 200, json_pack("{s:I,s:o}", "count", (json_int_t)total, "value", arr));
}

static void handle_device_show(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        json_t *j = devices_to_json_one(d, req->params[0]);

        if (!j) {
                http_reply_error(rep, 404, "device_not_found", "no device with id '%s'", req->params[0]);
                return;
        }
        http_reply_json(rep, 200, j);
}

static int offboard_commit(struct vigild *d, const char *id, const char *by)
{
        struct db_stmt *st;
        int64_t now = util_now();
        int r;

        r = db_begin(d->db);
        if (r == 0)
                r = db_prepare(d->db, "INSERT INTO enroll_revoked (serial, device_id, revoked_at, reason) "
                                      "SELECT cert_serial, id, $2, 'offboarded' FROM devices "
                                      "WHERE id = $1 AND offboarded_at IS NULL", &st);
        if (r == 0) {
                db_bind_text(st, 1, id, strlen(id));
                db_bind_int64(st, 2, now);
                r = db_step(st);
                db_stmt_done(st);
        }
        if (r == 0 && db_changes(d->db) != 1)
                r = -EALREADY;
        if (r == 0)
                r = db_prepare(d->db, "UPDATE devices SET offboarded_at = $2, offboarded_by = $3 "
                                      "WHERE id = $1", &st);
        if (r == 0) {
                db_bind_text(st, 1, id, strlen(id));
                db_bind_int64(st, 2, now);
                db_bind_text(st, 3, by, strlen(by));
                r = db_step(st);
                db_stmt_done(st);
        }
        return db_finish(d->db, r);
}

int enroll_device_offboard(struct vigild *d, const char *device_id, const char *by)
{
        int r;

        if (!enroll_device_exists(d, device_id))
                return -ENOENT;
        db_lock(d->db);
        r = offboard_commit(d, device_id, by);
        /* before the lock goes: no device request may pass between the two */
        if (r == 0)
                registry_offboard(&d->enroll->registry, device_id);
        db_unlock(d->db);
        if (r == 0) {
                log_info("device %s offboarded by %s; its certificate is revoked", device_id, by);
                bus_publish(d->bus, &(struct bus_event){ .type = BUS_DEVICE_OFFBOARDED, .device_id = device_id });
        }
        return r;
}

/* POST /api/v1/devices/{id}/offboard: revokes the device's certificate at
 * once, whether the agent hears of it or not (the offboard device action
 * tells the agent first). */
static void handle_offboard(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0];
        int r;

        r = enroll_device_offboard(d, id, req->who->token_id);
        if (r == -ENOENT) {
                http_reply_error(rep, 404, "device_not_found", "no device with id '%s'", id);
                return;
        }
        if (r == -EALREADY) {
                http_reply_error(rep, 409, "already_offboarded", "device %s is already offboarded", id);
                return;
        }
        if (r < 0) {
                http_reply_error(rep, 500, "database_error", "cannot offboard the device");
                return;
        }
        handle_device_show(d, req, rep);
}

const struct http_route enroll_routes[] = {
        { "POST", "/api/v1/onboarding-packages", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_package_create, 0 },
        { "GET", "/api/v1/devices", HTTP_AUTH_ADMIN, ROLES_ANY, handle_devices_list, 0 },
        { "GET", "/api/v1/devices/{id}", HTTP_AUTH_ADMIN, ROLES_ANY, handle_device_show, 0 },
        { "POST", "/api/v1/devices/{id}/offboard", HTTP_AUTH_ADMIN, ROLE_SECURITY_ADMIN, handle_offboard, 0 },
        { "POST", "/agent/v1/enroll", HTTP_AUTH_NONE, 0, handle_enroll, 0 },
        { "POST", "/agent/v1/heartbeat", HTTP_AUTH_DEVICE, 0, handle_heartbeat, 0 },
        { "PUT", "/agent/v1/inventory", HTTP_AUTH_DEVICE, 0, handle_inventory, 0 },
        { 0 },
};
