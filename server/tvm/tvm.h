/* tvm: threat and vulnerability management. For now: each device's software
 * inventory (dpkg packages), stored from what the agent reports and shown
 * through the API. Owns the table device_software. */
#pragma once

#include <jansson.h>

#include "server/http/http.h"
#include "vigil/wire.h"

struct db_stmt;
struct vigild;

#define TVM_PACKAGES_MAX VIGIL_WIRE_PACKAGES_MAX
#define TVM_FIELD_MAX VIGIL_WIRE_FIELD_MAX

/* Migrates tvm's tables. Returns 0 or a negative errno (see db_errmsg). */
int tvm_migrate(struct vigild *d);

/* Checks a "packages" array from an agent's inventory: an array of at most
 * TVM_PACKAGES_MAX objects whose name, version, architecture, source and
 * source_version are strings of at most TVM_FIELD_MAX bytes without control
 * characters (name
 * and version non-empty). Returns 0, or -EINVAL with the reason in err. */
int tvm_packages_check(const json_t *packages, char *err, size_t err_size);

/* Replaces a device's software with packages (already checked). The caller
 * holds the database lock inside a transaction. Returns 0 or a negative errno. */
int tvm_software_replace(struct vigild *d, const char *device_id, const json_t *packages);

/* Reads the rows of sql, a SELECT whose $1 is device_id, each made JSON by
 * row, into a new array at *ret, under the database lock. Returns 0, or a
 * negative errno (nothing at *ret). */
int tvm_device_rows(struct vigild *d, const char *device_id, const char *sql, json_t *(*row)(struct db_stmt *st),
                    json_t **ret);

extern const struct http_route tvm_routes[];
