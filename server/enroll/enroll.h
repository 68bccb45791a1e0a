/* enroll: device registration — the device CA, the server's TLS identity,
 * onboarding packages and enrollment tokens, device certificates and their
 * revocation (offboarding), and the device records themselves.
 *
 * Owns the tables enroll_tokens, devices and enroll_revoked, the key material
 * under DATA_DIR/private, and an in-memory registry of devices that answers
 * "is this certificate still good?" and records heartbeats without SQL. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "server/http/http.h"

struct vigild;
struct enroll;

/* Creates the key material of a new data directory (which must exist and be
 * empty of it): the server CA and the server's certificate for names (plus
 * localhost, 127.0.0.1 and ::1), the device CA, the enrollment key and the
 * server id. Writes DIR/server-ca.pem for clients to trust.
 * Returns 0 or a negative errno with a message in err. */
int enroll_data_init(const char *dir, const char *const *names, size_t n_names,
                     char *err, size_t err_size);

/* Loads the key material, migrates enroll's tables and the device registry.
 * Returns 0 or a negative errno with a message in err. */
int enroll_open(struct vigild *d, char *err, size_t err_size);

/* Flushes pending heartbeats and frees everything. */
void enroll_close(struct vigild *d);

/* PEM text for the listener: our certificate and key, and the device CA that
 * device certificates must chain to. Owned by enroll. */
const char *enroll_server_cert_pem(const struct vigild *d);
const char *enroll_server_key_pem(const struct vigild *d);
const char *enroll_device_ca_pem(const struct vigild *d);

/* http_device_auth_fn: the certificate is the device's current one and the
 * device is not offboarded. */
int enroll_device_auth(struct vigild *d, struct http_principal *who);

/* Writes heartbeat times held in memory to the database. Returns 0 or a
 * negative errno. Called periodically and at shutdown. */
int enroll_flush(struct vigild *d);

/* True if a device with this id was ever enrolled (offboarded ones too). */
bool enroll_device_exists(struct vigild *d, const char *device_id);

/* True if the device is onboarded (exists and is not offboarded). */
bool enroll_device_onboarded(struct vigild *d, const char *device_id);

/* Offboards a device: revokes its certificate, so that its next request is
 * refused with device_offboarded. by names who did it (a token id, or
 * "action:ID"). Takes the database lock. Returns 0, -ENOENT (no such
 * device), -EALREADY (already offboarded) or another negative errno. */
int enroll_device_offboard(struct vigild *d, const char *device_id, const char *by);
/* Copies the device's hostname, as its last inventory reported it ("" before
 * any), into out (truncated to size). Call with the database lock held (a
 * caller matching inside its own transaction). Returns 0, -ENOENT for an
 * unknown device, or a database error. */
int enroll_device_name(struct vigild *d, const char *device_id, char *out, size_t size);

/* A device's attributes as its last inventory reported them, for modules
 * that select devices by them (manage's groups). Strings are borrowed from
 * the database row and valid only during the callback; "" when unknown. */
struct enroll_device_facts {
        const char *id, *platform, *os_name, *os_version, *name, *architecture, *kernel;
        bool offboarded;
};
typedef int (*enroll_device_facts_fn)(const struct enroll_device_facts *f, void *userdata);

/* Calls fn for the device device_id, or for every device when device_id is
 * NULL, stopping at the first negative return of fn. Call with the database
 * lock held. Returns 0, fn's negative return, -ENOENT for an unknown
 * device_id, or a database error. */
int enroll_device_facts_each(struct vigild *d, const char *device_id, enroll_device_facts_fn fn, void *userdata);

/* A device's current certificate, for matching what a reverse proxy saw:
 * serial (lower-case hex) and SHA-256 fingerprint (lower-case hex), as
 * issued. Borrowed strings, valid only during the callback. */
typedef int (*enroll_device_cert_fn)(const char *device_id, const char *serial_hex, const char *fpr_hex,
                                     bool offboarded, void *userdata);

/* Calls fn for every device, stopping at fn's first negative return. Call
 * with the database lock held. Returns 0, fn's return, or a database
 * error. */
int enroll_device_certs_each(struct vigild *d, enroll_device_cert_fn fn, void *userdata);

/* What compliance reads of a device: its platform and the facts of its last
 * inventory. Strings are borrowed from the database row and valid only
 * during the callback ("" or "unknown" before any inventory); times are
 * seconds since the epoch, 0 for never; last_seen is the registry's when
 * fresher than the table's. */
struct enroll_device_posture {
        const char *id, *platform, *os_version, *disk_encryption, *firewall, *secure_boot;
        const char *sensor;             /* "bpf", "cnproc", "none", or "" before the agent said */
        int64_t inventory_at, last_seen;
        bool offboarded;
};
typedef int (*enroll_device_posture_fn)(const struct enroll_device_posture *p, void *userdata);

/* Calls fn for the device device_id, or for every device (in id order) when
 * device_id is NULL, stopping at the first negative return of fn. Call with
 * the database lock held. Returns 0, fn's negative return, -ENOENT for an
 * unknown device_id, or a database error. */
int enroll_device_posture_each(struct vigild *d, const char *device_id, enroll_device_posture_fn fn,
                               void *userdata);

/* The number of onboarded (not offboarded) devices. */
size_t enroll_device_count(struct vigild *d);

/* Lets another module add its members to a device's JSON as the API shows
 * it (defend adds the risk level): fn is called without the database lock
 * held, with detail true for GET /api/v1/devices/{id} and false for each
 * device of a list. Register at start-up, after enroll_open(). Returns 0,
 * or -E2BIG past ENROLL_DEVICE_JSON_HOOKS_MAX. */
#define ENROLL_DEVICE_JSON_HOOKS_MAX 8
typedef void (*enroll_device_json_fn)(struct vigild *d, const char *device_id, json_t *device, bool detail);
int enroll_device_json_hook_add(struct vigild *d, enroll_device_json_fn fn);

/* An onboarding package may name a primary user for the devices it enrolls
 * ("primary_user": a user id or principal name, at most
 * ENROLL_PRIMARY_USER_MAX bytes); enroll keeps the text with the package and
 * hands it on in BUS_DEVICE_ENROLLED. fn, set by the module that owns users,
 * checks the name when the package is made: it returns 0 if the user exists,
 * -ENOENT if not, or another negative errno; it is called without the
 * database lock. Without fn, packages naming a primary user are refused. */
#define ENROLL_PRIMARY_USER_MAX 320
typedef int (*enroll_package_user_check_fn)(struct vigild *d, const char *user);
void enroll_package_user_check_set(struct vigild *d, enroll_package_user_check_fn fn);

extern const struct http_route enroll_routes[];
