/* tvm software: the device_software table and its API. See tvm.h. */
#include "server/tvm/tvm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "server/db/db.h"
#include "server/enroll/enroll.h"
#include "server/vigild.h"
#include "util/strutil.h"

static const struct db_migration tvm_migrations[] = {
        { 1,
          "CREATE TABLE device_software ("
          "  device_id TEXT NOT NULL,"
          "  name TEXT NOT NULL,"
          "  version TEXT NOT NULL,"
          "  architecture TEXT NOT NULL,"
          "  source TEXT NOT NULL,"
          "  source_version TEXT NOT NULL,"
          "  PRIMARY KEY (device_id, name, architecture));"
          "CREATE INDEX device_software_source ON device_software(source);" },
};

static const char *const package_fields[] = { "name", "version", "architecture", "source", "source_version" };
#define N_PACKAGE_FIELDS (sizeof(package_fields) / sizeof(package_fields[0]))

int tvm_migrate(struct vigild *d)
{
        return db_migrate_locked(d->db, "tvm", tvm_migrations,
                                 sizeof(tvm_migrations) / sizeof(tvm_migrations[0]));
}

int tvm_packages_check(const json_t *packages, char *err, size_t err_size)
{
        size_t i;
        json_t *p;

        if (!json_is_array(packages)) {
                snprintf(err, err_size, "'packages' must be an array");
                return -EINVAL;
        }
        if (json_array_size(packages) > TVM_PACKAGES_MAX) {
                snprintf(err, err_size, "more than %d packages", TVM_PACKAGES_MAX);
                return -EINVAL;
        }
        json_array_foreach(packages, i, p) {
                if (!json_is_object(p)) {
                        snprintf(err, err_size, "packages[%zu] is not an object", i);
                        return -EINVAL;
                }
                for (size_t f = 0; f < N_PACKAGE_FIELDS; f++) {
                        const json_t *v = json_object_get(p, package_fields[f]);
                        const char *s = json_string_value(v);
                        bool may_be_empty = f >= 2;
                        if (!s || (!*s && !may_be_empty) || !util_str_is_text(s, TVM_FIELD_MAX)) {
                                snprintf(err, err_size, "packages[%zu].%s must be a %sstring of at most %d bytes without control characters",
                                         i, package_fields[f], may_be_empty ? "" : "non-empty ", TVM_FIELD_MAX);
                                return -EINVAL;
                        }
                }
        }
        return 0;
}

int tvm_software_replace(struct vigild *d, const char *device_id, const json_t *packages)
{
        struct db_stmt *st;
        size_t i;
        json_t *p;
        int r;

        r = db_prepare(d->db, "DELETE FROM device_software WHERE device_id = $1", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, device_id, strlen(device_id));
        r = db_step(st);
        db_stmt_done(st);
        if (r < 0)
                return r;
        /* dpkg may list a name:arch pair twice only if its database is damaged;
         * keep the last one rather than fail the whole inventory */
        r = db_prepare(d->db, "INSERT OR REPLACE INTO device_software "
                              "(device_id, name, version, architecture, source, source_version) "
                              "VALUES ($1, $2, $3, $4, $5, $6)", &st);
        if (r < 0)
                return r;
        json_array_foreach(packages, i, p) {
                db_bind_text(st, 1, device_id, strlen(device_id));
                for (size_t f = 0; f < N_PACKAGE_FIELDS; f++) {
                        const char *s = json_string_value(json_object_get(p, package_fields[f]));
                        db_bind_text(st, (int)f + 2, s, strlen(s));
                }
                r = db_step(st);
                db_stmt_reset(st);
                if (r < 0)
                        break;
        }
        db_stmt_done(st);
        return r;
}

int tvm_device_rows(struct vigild *d, const char *device_id, const char *sql, json_t *(*row)(struct db_stmt *st),
                    json_t **ret)
{
        json_t *arr = json_array();
        struct db_stmt *st;
        int r;

        db_lock(d->db);
        r = db_prepare(d->db, sql, &st);
        if (r == 0) {
                db_bind_text(st, 1, device_id, strlen(device_id));
                while ((r = db_step(st)) == 1)
                        json_array_append_new(arr, row(st));
                db_stmt_done(st);
        }
        db_unlock(d->db);
        if (r < 0) {
                json_decref(arr);
                return r;
        }
        *ret = arr;
        return 0;
}

static json_t *package_row_json(struct db_stmt *st)
{
        json_t *o = json_object();

        for (size_t f = 0; f < N_PACKAGE_FIELDS; f++)
                json_object_set_new(o, package_fields[f], json_string(db_column_text(st, (int)f, NULL)));
        return o;
}

static void handle_software(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0];
        json_t *arr;

        if (!enroll_device_exists(d, id)) {
                http_reply_error(rep, 404, "device_not_found", "no device with id '%s'", id);
                return;
        }
        if (tvm_device_rows(d, id, "SELECT name, version, architecture, source, source_version "
                                   "FROM device_software WHERE device_id = $1 ORDER BY name, architecture",
                            package_row_json, &arr) < 0) {
                http_reply_list_failed(rep, NULL, "read the software inventory");
                return;
        }
        http_reply_json(rep, 200, json_pack("{s:s,s:I,s:o}", "device_id", id,
                                            "count", (json_int_t)json_array_size(arr), "value", arr));
}

const struct http_route tvm_routes[] = {
        { "GET", "/api/v1/devices/{id}/software", HTTP_AUTH_ADMIN, ROLES_ANY, handle_software, 0 },
        { 0 },
};
