/* access internals shared by the module's files: the module's state, the
 * snapshot the decision endpoint answers from, the device slots updated in
 * place from the bus, and the log's queue. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/access/access.h"
#include "server/access/listener.h"
#include "server/access/policy.h"
#include "server/manage/compliance.h"

struct vigild;
struct jwks;

#define ACCESS_REASON_MAX 320           /* bytes of a device's compliance reason kept, NUL included */
#define ACCESS_SLOT_CHUNK_BITS 12
#define ACCESS_SLOT_CHUNK (1u << ACCESS_SLOT_CHUNK_BITS)
#define ACCESS_SLOT_CHUNKS 4096         /* slots for 16,777,216 devices */
#define ACCESS_WORKERS_MAX 64

/* What changes of a device between snapshots: written in place (under
 * slots_lock, as a seqlock) when compliance_changed or device_offboarded
 * arrives, read without a lock by the decision endpoint. */
struct access_slot {
        _Atomic uint32_t seq;           /* odd while being written */
        _Atomic uint8_t state;          /* enum compliance_state */
        _Atomic bool offboarded;
        char reason[ACCESS_REASON_MAX];
        char id[37];                    /* written once, before the slot is reachable */
};

/* A consistent read of a slot. */
struct access_slot_view {
        enum compliance_state state;
        bool offboarded;
        char reason[ACCESS_REASON_MAX];
};

/* An open-addressing index of entry numbers (stored +1; 0 is empty). */
struct access_index {
        uint32_t *v;
        size_t mask;
};

struct access_snap_device {
        const char *id;
        struct manage_device_facts facts;       /* strings in the snapshot's arena */
        uint32_t slot;
        char serial[41];                /* lower-case hex without leading zeros */
        uint8_t fpr[32];                /* SHA-256 of the certificate */
};

struct access_snap_user {
        const char *id;
        const char *upn;                /* lower case */
        bool enabled;
        const char **groups;            /* user group ids */
        size_t n_groups;
};

struct access_snap_group {
        const char *id;
        const char *name;
};

struct access_snap_policy {
        char id[37];
        const char *name;
        enum access_state state;
};

struct access_arena_block;

/* The devices and the directory of a snapshot: rebuilt when a device, a
 * user or a group changes, and shared by the snapshots built meanwhile for
 * policy changes alone. Immutable; freed when the last reference goes. */
struct access_fleet {
        _Atomic unsigned refs;
        struct access_arena_block *arena;
        struct access_snap_device *devs;
        size_t n_devs;
        struct access_snap_user *users;
        size_t n_users;
        struct access_snap_group *groups;
        size_t n_groups;
        struct access_index by_serial, by_fpr, by_device, by_upn, by_user, by_group_name, by_group_id;
};

/* Immutable once published; freed when the last reference goes. */
struct access_snapshot {
        _Atomic unsigned refs;
        uint64_t gen;                   /* 1, 2, ... in the order built */
        struct access_policy **policies;
        struct access_policy_index *pindex;     /* the policies by application host */
        struct access_snap_policy *pinfo;
        size_t n_policies;
        char *policy_set;               /* [{"id","name","state"}, ...] as JSON, for the log */
        struct access_fleet *fleet;     /* referenced */
};

/* A worker's reference to the live snapshot, on its own cache line. */
struct access_worker {
        struct access_snapshot *snap;
        uint64_t gen;
} __attribute__((aligned(64)));

struct access_log;

struct access {
        struct vigild *d;
        pthread_mutex_t lock;           /* guards asked, built, fleet_asked, fleet_built, stop */
        pthread_cond_t cond;            /* signalled on every change of them */
        uint64_t asked;                 /* changes signalled */
        uint64_t built;                 /* changes in the live snapshot */
        uint64_t fleet_asked;           /* of them, changes of devices or the directory */
        uint64_t fleet_built;
        bool stop;
        pthread_t builder;
        bool builder_started;

        pthread_mutex_t swap_lock;      /* guards live (not its contents) */
        struct access_snapshot *live;
        _Atomic uint64_t live_gen;

        pthread_mutex_t slots_lock;     /* guards slot creation and writes, and the id map */
        struct access_slot *chunks[ACCESS_SLOT_CHUNKS];
        _Atomic uint32_t n_slots;
        uint32_t *slot_map;             /* open addressing over ids: slot + 1 */
        size_t slot_map_size;

        struct jwks *jwks;              /* NULL: bearer tokens are not read */
        struct access_worker workers[ACCESS_WORKERS_MAX];
        unsigned n_workers;
        struct access_listener *listener;
        struct access_log *log;
};

/* snapshot.c */

/* Reads slot i consistently into *v (reason too when with_reason). */
void access_slot_read(struct access *a, uint32_t i, struct access_slot_view *v, bool with_reason);

/* The live snapshot with a reference taken (NULL before the first build);
 * release with access_snapshot_put(). For threads other than the
 * endpoint's workers. */
struct access_snapshot *access_snapshot_get(struct access *a);
void access_snapshot_put(struct access_snapshot *s);

/* The worker's snapshot, refreshed when a newer one is live: no lock but
 * when the snapshot changed. */
struct access_snapshot *access_worker_snapshot(struct access *a, unsigned worker);

/* Index lookups in a snapshot; NULL when absent. serial is hex in any
 * case, with or without leading zeros or colons; fpr is 32 bytes. */
const struct access_snap_device *access_snap_device_by_serial(const struct access_snapshot *s, const char *serial,
                                                              size_t len);
const struct access_snap_device *access_snap_device_by_fpr(const struct access_snapshot *s, const uint8_t fpr[32]);
const struct access_snap_device *access_snap_device_by_id(const struct access_snapshot *s, const char *id);
/* By UPN or user id, in any case. */
const struct access_snap_user *access_snap_user(const struct access_snapshot *s, const char *key, size_t len);
const struct access_snap_group *access_snap_group_by_name(const struct access_snapshot *s, const char *name);
/* By id, in any case (as a policy's users entries are compared to a UPN). */
const struct access_snap_group *access_snap_group_by_id(const struct access_snapshot *s, const char *id, size_t len);

/* Subscribes to the bus, builds the first snapshot and starts the builder
 * thread. Returns 0 or a negative errno with a message in err. */
int access_snapshot_start(struct access *a, char *err, size_t err_size);
/* Stops the builder and frees the snapshots and slots. */
void access_snapshot_stop(struct access *a);

/* decide.c */

/* The decision endpoint's handler (access_http_fn); ctx is struct access. */
void access_decide_http(void *ctx, unsigned worker, const struct access_http_req *req,
                        struct access_http_answer *ans);

/* The path a policy's path prefix is matched against, from a request
 * target of len bytes: the query and fragment dropped, an absolute-form
 * target's scheme and authority dropped, percent-escapes decoded, repeated
 * slashes merged and "." and ".." segments resolved (never above the
 * root), a trailing slash kept. Writes it NUL-terminated into out.
 * Returns 0, -EINVAL (not starting with "/", a bad escape or an escaped
 * NUL) or -E2BIG (past size or 4 KiB). */
int access_path_normalize(const char *uri, size_t len, char *out, size_t size);

/* The route of what-if. */
void access_handle_whatif(struct vigild *d, const struct http_request *req, struct http_reply *rep);

/* log.c */

#define ACCESS_LOG_PATH_MAX 256         /* bytes of a request path kept in the log */
#define ACCESS_LOG_INLINE 16            /* policy results kept inline in a record */

/* One decision for the log. Policy results other than not_applied and
 * report_only_not_applied are kept as (policy index, result) pairs: the
 * first ACCESS_LOG_INLINE inline, the rest in more (malloc'd, freed by
 * the log). */
struct access_log_record {
        int64_t time_ms;
        uint64_t snapshot_gen;          /* the snapshot that decided; its policy set names the results */
        int status;
        char method[16];
        char host[ACCESS_HOST_MAX + 1];
        char path[ACCESS_LOG_PATH_MAX + 1];
        char client_ip[46];
        char user[ACCESS_ID_MAX + 1];
        char user_id[37];
        char device_id[37];
        char reason[ACCESS_HTTP_VALUE_MAX + 1];
        uint16_t n_results;
        struct access_log_pair { uint16_t policy; uint8_t result; } results[ACCESS_LOG_INLINE];
        struct access_log_more *more;
        /* in the queue only: repeats of this decision the worker counted
         * here instead of queueing them (ACCESS_LOG_CLOSED once the writer
         * took the record), and the last one's time */
        _Atomic uint32_t repeats;
        _Atomic int64_t last_ms;
};
#define ACCESS_LOG_CLOSED 0x80000000u

#define ACCESS_LOG_DB_FILE "access-log.db"   /* in the data directory */

/* Opens the log's own database (DATA_DIR/access-log.db, migrated here) and
 * starts the writer thread with one queue per worker (n_workers). Returns 0
 * or a negative errno with a message. */
int access_log_start(struct access *a, unsigned n_workers, char *err, size_t err_size);
/* Writes what is queued, stops the writer and frees. */
void access_log_stop(struct access *a);

/* Queues a decision made by an endpoint worker. Never blocks: when the
 * worker's queue is full the record is dropped and counted. The record's
 * results come from results[] (one per policy of snapshot s; NULL: none
 * applied, for a question denied before the policies were asked). */
void access_log_push(struct access *a, unsigned worker, struct access_log_record *rec,
                     const struct access_snapshot *s, const enum access_result *results);

/* Replaces each byte of s that is no part of a well-formed UTF-8 sequence
 * with '?', in place: a request's path or user may hold any byte, and a
 * field cut to its size may end inside a character, but the API answers
 * JSON, which holds only UTF-8. */
void access_utf8_scrub(char *s);

/* Tells the log the policies of a new snapshot, before it is published. */
void access_log_policy_set(struct access *a, const struct access_snapshot *s);

/* GET /api/v1/access/log */
void access_handle_log(struct vigild *d, const struct http_request *req, struct http_reply *rep);
