/* devices: enroll's tables (devices, enroll_tokens, enroll_revoked), the
 * registry's start-up load, and the device's JSON as the API shows it. */
#include "server/enroll/enroll-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/db/db.h"
#include "server/vigild.h"
#include "util/strutil.h"

static const struct db_migration enroll_migrations[] = {
        { 1,
          "CREATE TABLE enroll_tokens ("
          "  id TEXT PRIMARY KEY,"
          "  created_at INTEGER NOT NULL,"
          "  created_by TEXT NOT NULL,"
          "  expires_at INTEGER NOT NULL,"
          "  max_uses INTEGER NOT NULL,"
          "  uses INTEGER NOT NULL DEFAULT 0,"
          "  revoked_at INTEGER);"
          "CREATE TABLE devices ("
          "  id TEXT PRIMARY KEY,"
          "  name TEXT NOT NULL DEFAULT '',"
          "  os_platform TEXT NOT NULL DEFAULT 'linux',"
          "  os_name TEXT NOT NULL DEFAULT '',"
          "  os_version TEXT NOT NULL DEFAULT '',"
          "  kernel TEXT NOT NULL DEFAULT '',"
          "  architecture TEXT NOT NULL DEFAULT '',"
          "  machine_id TEXT NOT NULL DEFAULT '',"
          "  agent_version TEXT NOT NULL DEFAULT '',"
          "  disk_encryption TEXT NOT NULL DEFAULT 'unknown',"
          "  firewall TEXT NOT NULL DEFAULT 'unknown',"
          "  secure_boot TEXT NOT NULL DEFAULT 'unknown',"
          "  enrolled_at INTEGER NOT NULL,"
          "  enroll_token_id TEXT NOT NULL,"
          "  last_seen INTEGER,"
          "  cert_serial TEXT NOT NULL,"
          "  cert_fingerprint TEXT NOT NULL,"
          "  cert_not_after INTEGER NOT NULL,"
          "  inventory_sha256 TEXT,"
          "  inventory_at INTEGER,"
          "  offboarded_at INTEGER,"
          "  offboarded_by TEXT);"
          "CREATE INDEX devices_name ON devices(name);"
          "CREATE TABLE enroll_revoked ("
          "  serial TEXT PRIMARY KEY,"
          "  device_id TEXT NOT NULL,"
          "  revoked_at INTEGER NOT NULL,"
          "  reason TEXT NOT NULL);" },
        /* the user an onboarding package names as its devices' primary user (manage resolves it) */
        { 2, "ALTER TABLE enroll_tokens ADD COLUMN primary_user TEXT;" },
        /* the sensor the agent says it runs (bpf, cnproc, none); '' before it says */
        { 3, "ALTER TABLE devices ADD COLUMN sensor TEXT NOT NULL DEFAULT '';" },
};

int devices_migrate(struct vigild *d)
{
        return db_migrate_locked(d->db, "enroll", enroll_migrations,
                                 sizeof(enroll_migrations) / sizeof(enroll_migrations[0]));
}

int devices_load_registry(struct vigild *d)
{
        struct db_stmt *st = NULL;
        int r;

        db_lock(d->db);
        /* every stored device must fit, even if max_devices was lowered since */
        r = db_prepare(d->db, "SELECT count(*) FROM devices", &st);
        if (r == 0 && db_step(st) == 1)
                registry_reserve(&d->enroll->registry, (size_t)db_column_int64(st, 0));
        if (r == 0)
                db_stmt_done(st);
        st = NULL;
        r = db_prepare(d->db, "SELECT id, cert_serial, last_seen, offboarded_at, inventory_sha256 "
                              "FROM devices", &st);
        while (r == 0 && (r = db_step(st)) == 1) {
                uint8_t hash[32];
                size_t hlen = 0;
                const char *h = db_column_text(st, 4, &hlen);
                bool has_hash = h && util_hex_decode(h, hlen, hash, sizeof(hash)) == sizeof(hash);

                r = registry_put(&d->enroll->registry, db_column_text(st, 0, NULL),
                                 db_column_text(st, 1, NULL), db_column_int64(st, 2),
                                 !db_column_is_null(st, 3), has_hash ? hash : NULL);
        }
        if (st)
                db_stmt_done(st);
        db_unlock(d->db);
        return r < 0 ? r : 0;
}

#define DEVICE_COLUMNS \
        "id, name, os_platform, os_name, os_version, kernel, architecture, machine_id, " \
        "agent_version, disk_encryption, firewall, secure_boot, enrolled_at, last_seen, " \
        "cert_serial, cert_not_after, inventory_at, offboarded_at, sensor"

int enroll_device_name(struct vigild *d, const char *device_id, char *out, size_t size)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, "SELECT name FROM devices WHERE id = $1", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, device_id, strlen(device_id));
        r = db_step(st);
        if (r == 1)
                snprintf(out, size, "%s", db_column_text(st, 0, NULL));
        db_stmt_done(st);
        return r == 1 ? 0 : r == 0 ? -ENOENT : r;
}

int enroll_device_facts_each(struct vigild *d, const char *device_id, enroll_device_facts_fn fn, void *userdata)
{
        struct db_stmt *st;
        bool any = false;
        int r;

        r = db_prepare(d->db, device_id ? "SELECT id, os_platform, os_name, os_version, name, architecture, kernel, "
                                          "offboarded_at FROM devices WHERE id = $1"
                                        : "SELECT id, os_platform, os_name, os_version, name, architecture, kernel, "
                                          "offboarded_at FROM devices ORDER BY enrolled_at, id", &st);
        if (r < 0)
                return r;
        if (device_id)
                db_bind_text(st, 1, device_id, strlen(device_id));
        while ((r = db_step(st)) == 1) {
                struct enroll_device_facts f = {
                        .id = db_column_text(st, 0, NULL), .platform = db_column_text(st, 1, NULL),
                        .os_name = db_column_text(st, 2, NULL), .os_version = db_column_text(st, 3, NULL),
                        .name = db_column_text(st, 4, NULL), .architecture = db_column_text(st, 5, NULL),
                        .kernel = db_column_text(st, 6, NULL), .offboarded = !db_column_is_null(st, 7),
                };
                any = true;
                r = fn(&f, userdata);
                if (r < 0)
                        break;
        }
        db_stmt_done(st);
        if (r == 0 && device_id && !any)
                r = -ENOENT;
        return r < 0 ? r : 0;
}

static int posture_row(struct vigild *d, struct db_stmt *st, enroll_device_posture_fn fn, void *userdata)
{
        struct enroll_device_posture p;
        const char *v;

        p.id = db_column_text(st, 0, NULL);
        v = db_column_text(st, 1, NULL);
        p.platform = v ? v : "";
        v = db_column_text(st, 2, NULL);
        p.os_version = v ? v : "";
        v = db_column_text(st, 3, NULL);
        p.disk_encryption = v ? v : "unknown";
        v = db_column_text(st, 4, NULL);
        p.firewall = v ? v : "unknown";
        v = db_column_text(st, 5, NULL);
        p.secure_boot = v ? v : "unknown";
        p.inventory_at = db_column_is_null(st, 6) ? 0 : db_column_int64(st, 6);
        p.last_seen = db_column_is_null(st, 7) ? 0 : db_column_int64(st, 7);
        p.offboarded = !db_column_is_null(st, 8);
        v = db_column_text(st, 9, NULL);
        p.sensor = v ? v : "";
        if (p.id) {
                int64_t seen = registry_last_seen(&d->enroll->registry, p.id);
                if (seen > p.last_seen)
                        p.last_seen = seen;
        }
        return p.id ? fn(&p, userdata) : -EIO;
}

int enroll_device_posture_each(struct vigild *d, const char *device_id, enroll_device_posture_fn fn,
                               void *userdata)
{
        struct db_stmt *st;
        bool found = false;
        int r;

        r = db_prepare(d->db, device_id ?
                       "SELECT id, os_platform, os_version, disk_encryption, firewall, secure_boot, "
                       "inventory_at, last_seen, offboarded_at, sensor FROM devices WHERE id = $1" :
                       "SELECT id, os_platform, os_version, disk_encryption, firewall, secure_boot, "
                       "inventory_at, last_seen, offboarded_at, sensor FROM devices ORDER BY id", &st);
        if (r < 0)
                return r;
        if (device_id)
                db_bind_text(st, 1, device_id, strlen(device_id));
        while ((r = db_step(st)) == 1) {
                found = true;
                r = posture_row(d, st, fn, userdata);
                if (r < 0)
                        break;
        }
        db_stmt_done(st);
        if (r == 0 && device_id && !found)
                r = -ENOENT;
        return r < 0 ? r : 0;
}

static json_t *time_or_null(struct db_stmt *st, int col)
{
        char buf[21];

        if (db_column_is_null(st, col))
                return json_null();
        util_time_format(db_column_int64(st, col), buf);
        return json_string(buf);
}

static const char *health_status(struct vigild *d, int64_t last_seen, bool offboarded)
{
        if (offboarded)
                return "inactive";
        if (last_seen == 0 || util_now() - last_seen > d->cfg.inactive_after)
                return "inactive";
        return "active";
}

/* One row of DEVICE_COLUMNS as the API's device object. The heartbeat time
 * comes from the registry, which is fresher than the table. */
static json_t *row_to_json(struct vigild *d, struct db_stmt *st)
{
        static const char *const text_keys[] = {
                "id", "name", "os_platform", "os_name", "os_version", "kernel", "architecture",
                "machine_id", "agent_version", "disk_encryption", "firewall", "secure_boot",
        };
        const char *id = db_column_text(st, 0, NULL);
        int64_t seen = registry_last_seen(&d->enroll->registry, id);
        bool offboarded = !db_column_is_null(st, 17);
        char buf[21];
        json_t *j = json_object();

        if (!j)
                return NULL;
        for (int i = 0; i < (int)(sizeof(text_keys) / sizeof(text_keys[0])); i++) {
                const char *v = db_column_text(st, i, NULL);
                json_object_set_new(j, text_keys[i], json_string(v ? v : ""));
        }
        if (seen == 0 && !db_column_is_null(st, 13))
                seen = db_column_int64(st, 13);
        json_object_set_new(j, "enrolled_at", time_or_null(st, 12));
        if (seen) {
                util_time_format(seen, buf);
                json_object_set_new(j, "last_seen", json_string(buf));
        } else {
                json_object_set_new(j, "last_seen", json_null());
        }
        json_object_set_new(j, "health_status", json_string(health_status(d, seen, offboarded)));
        json_object_set_new(j, "onboarding_status", json_string(offboarded ? "offboarded" : "onboarded"));
        /* risk belongs to defend and compliance to manage, which overwrite
         * these through JSON hooks */
        json_object_set_new(j, "risk_level", json_string("none"));
        json_object_set_new(j, "compliance_state", json_string("not_evaluated"));
        json_object_set_new(j, "certificate_serial", json_string(db_column_text(st, 14, NULL)));
        json_object_set_new(j, "certificate_expires_at", time_or_null(st, 15));
        json_object_set_new(j, "inventory_at", time_or_null(st, 16));
        json_object_set_new(j, "offboarded_at", time_or_null(st, 17));
        {
                const char *sensor = db_column_text(st, 18, NULL);
                json_object_set_new(j, "sensor", sensor && sensor[0] ? json_string(sensor) : json_null());
        }
        return j;
}

void enroll_package_user_check_set(struct vigild *d, enroll_package_user_check_fn fn)
{
        d->enroll->user_check = fn;
}

int enroll_device_json_hook_add(struct vigild *d, enroll_device_json_fn fn)
{
        struct enroll *e = d->enroll;

        if (e->n_json_hooks >= ENROLL_DEVICE_JSON_HOOKS_MAX)
                return -E2BIG;
        e->json_hooks[e->n_json_hooks++] = fn;
        return 0;
}

/* Lets other modules decorate a device's JSON; lock not held. */
static void json_hooks_run(struct vigild *d, json_t *j, bool detail)
{
        const char *id = json_string_value(json_object_get(j, "id"));

        for (size_t i = 0; id && i < d->enroll->n_json_hooks; i++)
                d->enroll->json_hooks[i](d, id, j, detail);
}

json_t *devices_to_json_one(struct vigild *d, const char *id)
{
        struct db_stmt *st;
        json_t *j = NULL;

        db_lock(d->db);
        if (db_prepare(d->db, "SELECT " DEVICE_COLUMNS " FROM devices WHERE id = $1", &st) == 0) {
                db_bind_text(st, 1, id, strlen(id));
                if (db_step(st) == 1)
                        j = row_to_json(d, st);
                db_stmt_done(st);
        }
        db_unlock(d->db);
        if (j)
                json_hooks_run(d, j, true);
        return j;
}

json_t *devices_to_json_list(struct vigild *d, size_t top, size_t skip, size_t *ret_total)
{
        struct db_stmt *st;
        json_t *arr = json_array();
        int r;

        if (!arr)
                return NULL;
        db_lock(d->db);
        r = db_prepare(d->db, "SELECT count(*) FROM devices", &st);
        if (r == 0 && db_step(st) == 1)
                *ret_total = (size_t)db_column_int64(st, 0);
        if (r == 0)
                db_stmt_done(st);
        r = db_prepare(d->db, "SELECT " DEVICE_COLUMNS " FROM devices "
                              "ORDER BY enrolled_at, id LIMIT $1 OFFSET $2", &st);
        if (r == 0) {
                db_bind_int64(st, 1, (int64_t)top);
                db_bind_int64(st, 2, (int64_t)skip);
                while ((r = db_step(st)) == 1)
                        json_array_append_new(arr, row_to_json(d, st));
                db_stmt_done(st);
        }
        db_unlock(d->db);
        if (r < 0) {
                json_decref(arr);
                return NULL;
        }
        for (size_t i = 0; i < json_array_size(arr); i++)
                json_hooks_run(d, json_array_get(arr, i), false);
        return arr;
}

int enroll_device_certs_each(struct vigild *d, enroll_device_cert_fn fn, void *userdata)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, "SELECT id, cert_serial, cert_fingerprint, offboarded_at FROM devices", &st);
        if (r < 0)
                return r;
        while ((r = db_step(st)) == 1) {
                r = fn(db_column_text(st, 0, NULL), db_column_text(st, 1, NULL), db_column_text(st, 2, NULL),
                       !db_column_is_null(st, 3), userdata);
                if (r < 0)
                        break;
        }
        db_stmt_done(st);
        return r < 0 ? r : 0;
}
