/* access: conditional access wired into vigild — the policies and named
 * locations as admins store them, the decision endpoint that a reverse
 * proxy asks, the snapshot it answers from, the access log and what-if
 * (docs/ACCESS.md).
 *
 * Storage (store.c) owns the tables access_policies and access_locations
 * (migration track "access"): JSON documents as admins sent them, checked
 * with policy.h and against the directory on the way in. The log (log.c)
 * owns access_log (track "access_log").
 *
 * The decision endpoint answers from an in-memory snapshot of the policies,
 * the locations, the directory and every device's facts; a device's
 * compliance and enrollment live beside it in slots updated in place from
 * the bus, so a change of compliance is enforced on the very next request.
 * The snapshot is rebuilt by one thread and swapped atomically when
 * policies, locations, users, devices or groups change. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/http/http.h"

struct vigild;

#define ACCESS_POLICIES_MAX 1000        /* policies stored at once */
#define ACCESS_LOCATIONS_MAX 200        /* named locations stored at once */
#define ACCESS_LOCATION_ID_MAX 64       /* bytes of a stored location's id: a URL path segment */
#define ACCESS_LISTEN_DEFAULT "127.0.0.1:8444"

/* Creates or updates the module's tables (both tracks). Returns 0 or a
 * negative errno (see db_errmsg). */
int access_migrate(struct vigild *d);

/* Builds the first snapshot, subscribes to the bus, starts the snapshot
 * thread, the log writer and the decision listener on d->cfg.access_listen.
 * Call after compliance_start(). Returns 0 or a negative errno with a
 * message in err. */
int access_start(struct vigild *d, char *err, size_t err_size);

/* Stops the listener, the snapshot thread and the log writer (which writes
 * what it holds first). Safe after a failed or no access_start(). */
void access_stop(struct vigild *d);

/* The decision listener's TCP port once started (0 for a unix socket or
 * before start). */
uint16_t access_port(struct vigild *d);

/* Tells the snapshot thread that policies or locations changed: it reads
 * them again and swaps the snapshot, keeping its devices and directory
 * (changes of those come from the bus). Returns at once; a caller
 * that must see the change applied waits with access_settle(). Any
 * thread; before access_start() it does nothing. */
void access_changed(struct vigild *d);

/* Waits up to timeout_ms until every change signalled before the call is
 * in the live snapshot. Returns true if it is. */
bool access_settle(struct vigild *d, unsigned timeout_ms);

/* One stored policy or location as the snapshot reads them: its id (a
 * policy's UUID, a location's own id) and the document. */
struct access_stored {
        char id[ACCESS_LOCATION_ID_MAX + 1];
        char *doc;                      /* NUL-terminated, owned */
        size_t doc_len;
};

/* Reads every stored location (*ret_locations, in id order) and policy
 * (*ret_policies, in the order they are evaluated: position, then
 * creation). Takes the database lock itself. Free with
 * access_stored_free(). Returns 0, -ENOMEM or a database error. */
int access_store_read(struct vigild *d, struct access_stored **ret_locations, size_t *ret_n_locations,
                      struct access_stored **ret_policies, size_t *ret_n_policies);
void access_stored_free(struct access_stored *v, size_t n);

/* Route tables: the admin API of policies and locations (store.c), and the
 * access log and what-if (api.c). */
extern const struct http_route access_store_routes[];
extern const struct http_route access_routes[];
