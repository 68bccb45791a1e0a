/* registry: enroll's in-memory index of devices, so the agent hot path
 * (certificate check, heartbeat) needs no SQL. Keyed by device id; entries are
 * never removed (offboarding sets a flag), so the count only grows to the cap.
 * Thread-safe: one mutex, held for a hash probe at a time. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REG_ID_LEN 36
#define REG_SERIAL_MAX 40
#define REG_HASH_LEN 32

struct reg_entry {
        char id[REG_ID_LEN + 1];
        char serial[REG_SERIAL_MAX + 1];
        uint8_t flags;
        uint8_t inv_hash[REG_HASH_LEN];
        int64_t last_seen;
};

struct registry {
        pthread_mutex_t lock;
        struct reg_entry *slots;
        size_t cap;             /* a power of two */
        size_t count;
        size_t active;          /* not offboarded */
        size_t max;
};

/* A heartbeat time waiting to be written. */
struct reg_dirty {
        char id[REG_ID_LEN + 1];
        int64_t last_seen;
};

int registry_init(struct registry *r, size_t max);
void registry_release(struct registry *r);

/* Adds or replaces a device. inv_hash may be NULL (no inventory yet).
 * Returns 0, -E2BIG at the cap, -ENOMEM. */
int registry_put(struct registry *r, const char *id, const char *serial, int64_t last_seen,
                 bool offboarded, const uint8_t *inv_hash);

/* Returns 0 if id is onboarded and serial is its current certificate, else -EACCES. */
int registry_check(struct registry *r, const char *id, const char *serial);

/* Records a heartbeat at now. If inv_hash is given, *ret_inventory_current
 * says whether it equals the inventory the server holds. Returns 0 or -ENOENT. */
int registry_touch(struct registry *r, const char *id, int64_t now, const uint8_t *inv_hash,
                   bool *ret_inventory_current);

/* Stores the hash of the inventory the server now holds. Returns 0 or -ENOENT. */
int registry_set_inventory(struct registry *r, const char *id, const uint8_t hash[REG_HASH_LEN]);

/* Marks a device offboarded. Returns 0, -ENOENT, or -EALREADY. */
int registry_offboard(struct registry *r, const char *id);

/* The last heartbeat time held in memory (0 if none / unknown). */
int64_t registry_last_seen(struct registry *r, const char *id);

bool registry_exists(struct registry *r, const char *id);

/* True if id exists and is not offboarded. */
bool registry_onboarded(struct registry *r, const char *id);

/* True if one more device fits under the cap. */
bool registry_has_room(struct registry *r);

/* Raises the cap to at least max (never lowers it). */
void registry_reserve(struct registry *r, size_t max);
size_t registry_active(struct registry *r);

/* Moves up to max pending heartbeat times into out, clearing them.
 * Returns how many. */
size_t registry_take_dirty(struct registry *r, struct reg_dirty *out, size_t max);
