/* manage: device management — device tags, device groups (static members and
 * dynamic rules in the expression language of expr.h), a small directory of
 * users and user groups with each device's primary user, and assignments
 * (which groups a policy or profile applies to).
 *
 * Dynamic membership is computed, never stored: an in-memory index holds
 * every device's facts (from enroll, plus its tags) and, per group, a bit set
 * of its member devices. It is updated incrementally when a device's facts
 * change (inventory, tags, onboarding, offboarding: bus events) or a group
 * changes, so "is device X in group G" is O(1) and "which groups is X in" is
 * O(groups), without SQL. When a device's set of groups changes,
 * BUS_GROUPS_CHANGED is published after the change is committed; every
 * committed change of the directory publishes BUS_DIRECTORY_CHANGED.
 *
 * Locking. The index has its own read-write lock, taken inside every
 * function below that reads it; none of them takes the database lock, so
 * they may be called with it held or not (lock order: database, then the
 * index; the index lock is never held while waiting for the database).
 * Request threads and bus handlers may call them at once.
 *
 * Owns the tables manage_groups, manage_group_members, manage_device_tags,
 * manage_users, manage_user_groups, manage_user_group_members and
 * manage_primary_users. Offboarded devices belong to no group. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "server/http/http.h"
#include "server/manage/expr.h"

struct vigild;

#define MANAGE_ID_LEN 36                /* a UUID's text */
#define MANAGE_GROUPS_MAX 1000
#define MANAGE_GROUP_NAME_MAX 128
#define MANAGE_DESCRIPTION_MAX 1024
#define MANAGE_STATIC_MEMBERS_MAX 100000 /* per group */
#define MANAGE_TAGS_MAX 32              /* per device */
#define MANAGE_TAG_MAX 64               /* bytes: letters, digits and . _ : - */
#define MANAGE_USERS_MAX 100000
#define MANAGE_USER_GROUPS_MAX 1000
#define MANAGE_UPN_MAX 320
#define MANAGE_ASSIGN_GROUPS_MAX 64     /* include or exclude, each */

/* Creates or updates manage's tables. Returns 0 or a negative errno (see db_errmsg). */
int manage_migrate(struct vigild *d);

/* Builds the membership index from the database (every device's facts and
 * tags, every group), subscribes to the bus and adds manage's members to the
 * device JSON. Call after enroll_open() and once the bus exists. Returns 0 or
 * a negative errno with a message in err. */
int manage_open(struct vigild *d, char *err, size_t err_size);

/* Frees the index. NULL state is fine. */
void manage_close(struct vigild *d);

/* True if a device group with this id exists. */
bool manage_group_exists(struct vigild *d, const char *group_id);

/* True if the device is a member of the group (static or by its rule). */
bool manage_device_in_group(struct vigild *d, const char *group_id, const char *device_id);

/* Lists the ids of the groups the device is in, at most max of them, into
 * ret_ids, in the order the groups were created, and their number in *ret_n
 * (which may exceed max: then only max are written). Returns 0, or -ENOENT
 * for a device the index does not know. */
int manage_device_groups(struct vigild *d, const char *device_id, char (*ret_ids)[MANAGE_ID_LEN + 1],
                         size_t max, size_t *ret_n);

/* Calls fn with the facts (tags included) of every device the membership
 * index knows, in the order devices became known, under the index's read
 * lock: fn must not call back into manage. Strings are valid only during
 * the call. Stops at fn's first negative return. Returns 0 or that return. */
typedef int (*manage_device_facts_fn)(const struct manage_device_facts *f, bool offboarded, void *userdata);
int manage_device_facts_each(struct vigild *d, manage_device_facts_fn fn, void *userdata);

/* The directory as conditional access reads it: user_fn for each user and
 * each of its user groups (group_id NULL for a user in none), ordered by
 * user; then group_fn for every user group. Call with the database lock
 * held. Stops at the first negative return. Returns 0, that return, or a
 * database error. */
typedef int (*manage_directory_user_fn)(const char *user_id, const char *upn, bool enabled, const char *group_id,
                                        void *userdata);
typedef int (*manage_directory_group_fn)(const char *group_id, const char *name, void *userdata);
int manage_directory_each(struct vigild *d, manage_directory_user_fn user_fn, manage_directory_group_fn group_fn,
                          void *userdata);

/* Which devices something applies to: every onboarded device or the members
 * of any include group, less the members of any exclude group (exclusion
 * wins). */
struct manage_assignment {
        bool all_devices;
        size_t n_include, n_exclude;
        char include[MANAGE_ASSIGN_GROUPS_MAX][MANAGE_ID_LEN + 1];
        char exclude[MANAGE_ASSIGN_GROUPS_MAX][MANAGE_ID_LEN + 1];
};

/* Reads {"include": ["all_devices" | group id, ...], "exclude": [group id,
 * ...]} ("exclude" optional) into *ret. Refuses other members, wrong types,
 * repeated ids, more than MANAGE_ASSIGN_GROUPS_MAX ids in a list, and ids of
 * groups that do not exist (err names the id). Returns 0 or -EINVAL with the
 * reason in err. */
int manage_assignment_parse(struct vigild *d, const json_t *j, struct manage_assignment *ret,
                            char *err, size_t err_size);

/* The assignment as its JSON (the caller owns it), or NULL on ENOMEM. */
json_t *manage_assignment_json(const struct manage_assignment *a);

/* True if the assignment applies to the device: it is onboarded, included
 * (by all_devices or a group) and in no exclude group. */
bool manage_assignment_applies(struct vigild *d, const struct manage_assignment *a, const char *device_id);

/* True if s names a principal of the directory: a user by id or UPN (without
 * regard to case) or a user group by id. The caller holds the database
 * lock. Returns 1, 0, or a negative errno of the database. */
int manage_directory_principal_exists(struct vigild *d, const char *s);

extern const struct http_route manage_routes[];
