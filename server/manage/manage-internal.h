/* manage's private state, shared by its files: the membership index (index.c),
 * the groups and tags API (groups.c), the directory (users.c). */
#pragma once

#include <pthread.h>
#include <stdint.h>

#include "server/manage/manage.h"

/* One device as the index knows it. Its facts' strings live in blob. */
struct manage_index_device {
        char id[MANAGE_ID_LEN + 1];
        bool offboarded;
        char *blob;
        char **tags;
        size_t n_tags;
        struct manage_device_facts facts;
};

/* One group: its members are the set bits of bits (bit k: device slot k). */
struct manage_index_group {
        char id[MANAGE_ID_LEN + 1];
        struct manage_expr *rule;       /* NULL: a static group */
        uint64_t *bits;
        size_t n_members;
};

/* Device ids whose set of groups changed: what a change returns so that the
 * caller publishes BUS_GROUPS_CHANGED once its locks are released. */
struct manage_changed {
        char (*ids)[MANAGE_ID_LEN + 1];
        size_t n, cap;
};

/* The membership index. Every function below takes lock itself, as a
 * reader or a writer; none takes the database lock. */
struct manage_index {
        pthread_rwlock_t lock;
        struct manage_index_device *devs;       /* slots, in the order devices became known */
        size_t n_devs, cap_devs;
        uint32_t *hash;                         /* open addressing: slot + 1, 0 = empty */
        size_t hash_size;                       /* a power of two, at least 2 * cap_devs */
        struct manage_index_group **groups;     /* in creation order */
        size_t n_groups;
};

struct manage {
        struct manage_index index;
};

int manage_index_init(struct manage_index *x);
void manage_index_release(struct manage_index *x);

/* Sets a device's facts (strings copied; f->tags and f->n_tags ignored) and
 * whether it is offboarded, adding it if new, then re-evaluates every
 * dynamic group for it. Adds its id to changed (may be NULL) if its set of
 * groups changed. Returns 0, -E2BIG past max_devices, -ENOMEM. */
int manage_index_device_set(struct manage_index *x, const struct manage_device_facts *f, bool offboarded,
                            size_t max_devices, struct manage_changed *changed);

/* Replaces a known device's tags (copied) and re-evaluates. Returns 0,
 * -ENOENT (unknown device), -ENOMEM. */
int manage_index_tags_set(struct manage_index *x, const char *device_id, const char *const *tags, size_t n,
                          struct manage_changed *changed);

/* Adds a group (rule taken; NULL for a static group, whose members come
 * with manage_index_member_set) and evaluates its rule over every device.
 * Returns 0, -E2BIG past MANAGE_GROUPS_MAX, -ENOMEM (rule freed). */
int manage_index_group_add_take(struct manage_index *x, const char *id, struct manage_expr *rule,
                                struct manage_changed *changed);

/* Replaces a dynamic group's rule (taken) and re-evaluates it over every
 * device. Returns 0 or -ENOENT (rule freed). */
int manage_index_group_rule_take(struct manage_index *x, const char *id, struct manage_expr *rule,
                                 struct manage_changed *changed);

/* Removes a group; its members' ids go to changed. Returns 0 or -ENOENT. */
int manage_index_group_remove(struct manage_index *x, const char *id, struct manage_changed *changed);

/* Adds (in true) or removes a static member. Returns 0, -ENOENT (unknown
 * group or device). */
int manage_index_member_set(struct manage_index *x, const char *group_id, const char *device_id, bool in,
                            struct manage_changed *changed);

/* The number of members of a group, or -ENOENT. */
int64_t manage_index_group_count(struct manage_index *x, const char *group_id);

/* Fills arr with {"id", "name"} of the group's members from the offset-th,
 * at most limit. Returns the total, or -ENOENT, -ENOMEM. */
int64_t manage_index_members_json(struct manage_index *x, const char *group_id, uint64_t limit,
                                  uint64_t offset, json_t *arr);

/* Adds an id to changed (once). Returns 0 or -ENOMEM. */
int manage_changed_add(struct manage_changed *c, const char *id);
void manage_changed_release(struct manage_changed *c);

/* groups.c: fills the index from the database (lock held). Returns 0 or a
 * negative errno; -EINVAL if a stored rule no longer compiles (logged). */
int manage_groups_load(struct vigild *d);
/* Publishes BUS_GROUPS_CHANGED for each device in c, with its groups now.
 * Call with neither the database lock nor the index lock held. */
void manage_publish_changed(struct vigild *d, const struct manage_changed *c);
/* index.c: adds "tags" and "groups" to a device's JSON. */
void manage_device_json(struct vigild *d, const char *device_id, json_t *device, bool detail);

/* users.c: adds primary_user to a device's JSON. */
void manage_users_device_json(struct vigild *d, const char *device_id, json_t *device);
/* enroll_package_user_check_fn: 0 if a user with this id or UPN exists, else -ENOENT. */
int manage_user_check(struct vigild *d, const char *user);
/* Makes user (an id or UPN; NULL for none) the device's primary user. Takes
 * the database lock. Returns 0, -ENOENT (no such user) or a database error. */
int manage_primary_user_set(struct vigild *d, const char *device_id, const char *user);

/* Route handlers of users.c. */
void manage_handle_user_create(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void manage_handle_user_list(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void manage_handle_user_show(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void manage_handle_user_patch(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void manage_handle_user_delete(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void manage_handle_ugroup_create(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void manage_handle_ugroup_list(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void manage_handle_ugroup_show(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void manage_handle_ugroup_patch(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void manage_handle_ugroup_delete(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void manage_handle_ugroup_members(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void manage_handle_ugroup_member_add(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void manage_handle_ugroup_member_remove(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void manage_handle_primary_user(struct vigild *d, const struct http_request *req, struct http_reply *rep);
