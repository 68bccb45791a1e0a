/* connector's private declarations, shared by its files. */
#pragma once

#include <pthread.h>
#include <stdbool.h>

#include "server/connector/connector.h"

#define CONNECTOR_MAP_MIN 1024

/* A device's risk as the partner last reported it (one slot of the map). */
struct connector_dev {
        char id[CONNECTOR_DEVICE_ID_MAX + 1];   /* "" for a free slot */
        uint8_t level;
        int64_t as_of;                          /* ns */
};

/* Open-addressed map of device id -> risk; never shrinks but when replaced whole. */
struct connector_map {
        struct connector_dev *slots;
        size_t cap;                             /* a power of two, or 0 */
        size_t count;
        size_t risky;                           /* entries above none */
};

/* The module's state, behind struct vigild's connector pointer. Lock order:
 * change, then the database lock, then lock (held only for memory). */
struct connector {
        struct vigild *d;
        pthread_mutex_t change;                 /* one writer at a time: stores, state moves, publishes in order */
        pthread_rwlock_t lock;                  /* what follows; readers are compliance's calls */
        struct connector_settings set;
        int64_t last_heartbeat;                 /* s; 0 never (remote partner) */
        enum connector_state state;
        int64_t since;
        char reason[CONNECTOR_REASON_MAX];
        char device_reason[CONNECTOR_REASON_MAX]; /* "connector STATE: reason", for connector_device_risk() */
        struct connector_map map;
        size_t max;                             /* devices the map may hold (max_devices) */
        /* the thread that notices silence */
        pthread_t thread;
        bool running, stop;
        pthread_mutex_t tick_lock;
        pthread_cond_t tick;
};

/* connector.c */
/* Moves the state to what it is at now: stores a change in the history and
 * publishes connector_changed; with settings_changed, publishes it even when
 * the state stays (compliance must look again). change held. */
void connector_transition(struct connector *c, int64_t now, bool settings_changed);
/* Applies checked updates from the remote partner (a heartbeat too): drops
 * the stale ones, stores the rest in one transaction, updates memory and
 * publishes partner_risk_changed for each changed level. Counts go to
 * ret_changed and ret_stale. Returns 0, -ENOENT (ret_bad: index of an
 * unknown device), -EPERM (the partner is not remote), -ENOMEM or a database error. */
int connector_apply(struct connector *c, const struct connector_update *u, size_t n, size_t *ret_changed,
                    size_t *ret_stale, size_t *ret_bad);
/* Records a heartbeat of the remote partner at now. Returns 0, -EPERM (the
 * partner is not remote) or a database error. */
int connector_heartbeat(struct connector *c, int64_t now);
/* Checks a PUT /api/v1/connector body against the settings of the moment
 * (connector_settings_check()) and stores the result (by names the token),
 * one change at a time. Fills *ret with the new settings. Returns 0, -EINVAL
 * with the reason in err, or another negative errno. */
int connector_settings_put(struct connector *c, const json_t *body, const char *by,
                           struct connector_settings *ret, char *err, size_t err_size);
/* Looks a device up in the map: its slot or NULL. lock held (read). */
const struct connector_dev *connector_map_get(const struct connector_map *m, const char *id);
