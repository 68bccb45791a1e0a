/* compliance service's private declarations, shared by its files. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/manage/compliance-service.h"
#include "server/manage/manage.h"

#define COMPLIANCE_ID_LEN 36                    /* a UUID's text */
#define COMPLIANCE_DEVICE_ID_MAX 64
#define COMPLIANCE_BY_MAX 256                   /* bytes of created_by / updated_by */
#define COMPLIANCE_SIG_MAX 1536                 /* bytes of a result's stored settings */
#define COMPLIANCE_MAP_MIN 1024

/* A stored policy, compiled. Replaced whole (never changed in place), so an
 * evaluation holding the read lock sees one version. */
struct compliance_entry {
        char id[COMPLIANCE_ID_LEN + 1];
        int64_t version;
        struct compliance_policy *policy;       /* owned */
        struct manage_assignment assign;
        int64_t created_at, updated_at;
        char created_by[COMPLIANCE_BY_MAX], updated_by[COMPLIANCE_BY_MAX];
};

/* A device's state as last evaluated (one slot of the map). */
struct compliance_dev {
        char id[COMPLIANCE_DEVICE_ID_MAX + 1];  /* "" for a free slot */
        uint8_t state;
        int64_t since_ms;
        int64_t next_check;                     /* as stored; the evaluator's alone */
        uint64_t reason_hash;                   /* of the stored reason; the evaluator's alone */
};

/* Open-addressed map of device id -> state; never shrinks. */
struct compliance_map {
        struct compliance_dev *slots;
        size_t cap;                             /* a power of two, or 0 */
        size_t count;
};

/* The module's state, behind struct vigild's compliance pointer. Lock
 * order: change, then the database lock, then lock, then qlock. */
struct compliance_service {
        struct vigild *d;
        pthread_mutex_t change;                 /* one change of policies or settings at a time */
        pthread_rwlock_t lock;                  /* policies, tenant and map */
        struct compliance_entry *policies[COMPLIANCE_POLICIES_MAX];    /* in creation order */
        size_t n_policies;
        struct compliance_tenant tenant;
        struct compliance_map map;
        size_t max;                             /* devices the map may hold (max_devices) */
        /* the evaluator's queue */
        pthread_mutex_t qlock;
        pthread_cond_t wake, settled;
        char (*queue)[COMPLIANCE_DEVICE_ID_MAX + 1];    /* a ring of q_cap ids */
        size_t q_cap, q_head, q_len;
        bool q_all;                             /* every device */
        bool all_running;                       /* an evaluation of every device is under way */
        uint64_t q_seq, done_seq;               /* queued and evaluated, for compliance_settle() */
        int64_t next_wake;                      /* s: the earliest next_check; 0 none */
        int64_t backoff_until;                  /* s: after a failed store, nothing before */
        bool running, stop;
        pthread_t thread;
        struct compliance_scratch *scratch;     /* the evaluator's own */
};

/* compliance-run.c */
/* A policy's entry by id, or NULL. lock held. */
struct compliance_entry *compliance_entry_find(struct compliance_service *s, const char *id);
/* A policy's entry by name, or NULL. lock held. */
struct compliance_entry *compliance_entry_find_name(struct compliance_service *s, const char *name);
/* Frees an entry; NULL is fine. */
void compliance_entry_free(struct compliance_entry *e);
/* Stores a new or changed policy (e replaces the entry of its id, or is
 * added) with its assignments, and takes e into memory; the devices are
 * queued. change held. Returns 0 or a negative errno; e is the caller's
 * on failure. */
int compliance_entry_store_take(struct compliance_service *s, struct compliance_entry *e, bool create);
/* Deletes a policy by id. change held. Returns 0, -ENOENT or a database error. */
int compliance_entry_delete(struct compliance_service *s, const char *id);
/* The device's result under every policy assigned to it, evaluated now from
 * its facts and stored grace times, with reasons, as the API shows them (a
 * JSON array, the caller's), or NULL on ENOMEM or a database error. Any
 * thread; takes the database lock. */
json_t *compliance_live_results(struct compliance_service *s, const char *id);
/* Stores new tenant settings and queues every device. change held. Returns 0 or a database error. */
int compliance_tenant_store(struct compliance_service *s, const struct compliance_tenant *t, const char *by);
