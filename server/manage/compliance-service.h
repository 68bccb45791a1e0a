/* compliance service: manage's compliance policies wired into vigild — their
 * storage, the evaluation of every device the moment one of its facts
 * changes, the timer for what changes with time alone, the noncompliance
 * actions, the history of every device's state, and the API
 * (docs/COMPLIANCE.md, "In vigild").
 *
 * One evaluator thread does every evaluation, so results are written by one
 * writer in order. Bus handlers (partner_risk_changed, inventory_changed,
 * groups_changed, device_enrolled, connector_changed) and the API only queue
 * the devices concerned and wake it: they never wait for an evaluation. The
 * thread sleeps until the earliest next_check of any device when nothing is
 * queued. Each change of a device's state is stored with its history row,
 * then published as compliance_changed on the bus.
 *
 * Owns the tables compliance_policies, compliance_policy_assignments,
 * compliance_results, compliance_device_state, compliance_history and
 * compliance_tenant (migration track "manage_compliance"). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "server/http/http.h"
#include "server/manage/compliance.h"

struct vigild;

#define COMPLIANCE_POLICIES_MAX 200     /* policies stored at once */

/* Creates or updates the module's tables. Returns 0 or a negative errno (see db_errmsg). */
int compliance_migrate(struct vigild *d);

/* Loads the tenant settings, the policies and every device's state into
 * memory, subscribes to the bus, adds compliance_state to the device JSON
 * and starts the evaluator thread, which evaluates every device once. Call
 * after connector_start() and before the HTTP listener starts. Returns 0 or
 * a negative errno with a message in err. */
int compliance_start(struct vigild *d, char *err, size_t err_size);

/* Stops the evaluator thread: nothing is evaluated or published after it
 * returns; bus handlers still queue, harmlessly. Call after the HTTP listener
 * stopped and before connector_stop() (the evaluator asks the connector).
 * Fine if compliance_start() was not called. */
void compliance_stop(struct vigild *d);

/* Frees the module's state. Call after compliance_stop() and once nothing
 * publishes on the bus any more (after connector_stop()). NULL state is fine. */
void compliance_close(struct vigild *d);

/* The device's compliance state as last evaluated, from memory (any thread,
 * no SQL), and since when (ms since the epoch) in *ret_since_ms (may be
 * NULL). COMPLIANCE_NOT_EVALUATED for a device not evaluated yet. */
enum compliance_state compliance_device_state_get(struct vigild *d, const char *device_id, int64_t *ret_since_ms);

/* Calls fn with every stored device state and its reason (as the
 * evaluator last wrote them), stopping at fn's first negative return. Reads
 * the database: call with its lock held; needs only the tables, not a
 * started service. Returns 0, fn's return or a database error. */
typedef int (*compliance_state_fn)(const char *device_id, enum compliance_state state, const char *reason,
                                   void *userdata);
int compliance_device_states_each(struct vigild *d, compliance_state_fn fn, void *userdata);

/* Queues the device (NULL: every device) for evaluation and wakes the
 * evaluator. Never blocks on an evaluation; any thread. */
void compliance_queue(struct vigild *d, const char *device_id);

/* True once every device queued before the call has been evaluated (for
 * benchmarks and tests that need a settled state); waits at most timeout_ms.
 * Returns true if settled in time. */
bool compliance_settle(struct vigild *d, unsigned timeout_ms);

extern const struct http_route compliance_routes[];
