/* webhook's private declarations, shared by its files. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>

#include "server/bus.h"
#include "server/webhook/webhook.h"

#define WEBHOOK_ID_LEN 36
#define WEBHOOK_ERROR_MAX 256                   /* last_error as stored */

/* One subscribable event type: its bus type, its name on the wire and in
 * subscriptions (never renamed), and the body's "data" for one event (a new
 * reference). */
struct webhook_event_kind {
        enum bus_event_type type;
        const char *name;
        json_t *(*data)(const struct bus_event *ev);
};

extern const struct webhook_event_kind webhook_event_kinds[];

/* The module's state, behind struct vigild's webhook pointer. */
struct webhook {
        struct vigild *d;
        void *multi;                            /* CURLM *: the delivery thread's transfers */
        pthread_t thread;
        bool running;
        atomic_bool stop;
        atomic_bool wake;                       /* new deliveries or subscriptions changed */
        int64_t pending;                        /* rows in state pending; db lock held */
        char ca_dir[4200];                      /* DATA_DIR/webhook-ca: private CAs as files for libcurl */
};

/* event.c */
/* Subscribes the module to every event kind on the bus. Returns 0 or -E2BIG. */
int webhook_subscribe_bus(struct vigild *d);
/* Builds the body of an event (a new reference): id, type, time, device_id
 * (NULL gives null) and data (taken). */
json_t *webhook_body_new(const char *event_id, const char *type, int64_t at, const char *device_id, json_t *data);

/* store.c */
/* Stores one delivery of body (type, event_id) for each subscription that
 * gets it: every enabled one whose events hold type, or the one named
 * only_sub_id whatever its events (a ping). One transaction, then
 * webhook_queue_max is enforced. The delivery's id goes to ret_id when not
 * NULL (only_sub_id given). Returns 0 (nothing stored when no subscription
 * matches), -ENOENT (only_sub_id names none) or another negative errno.
 * Lock NOT held: takes it. */
int webhook_enqueue(struct vigild *d, const char *type, const char *only_sub_id, const char *event_id,
                    const char *body, char *ret_id);
/* Records the outcome of one attempt of the delivery seq: an HTTP status
 * (http_status > 0) or a transport error (error). A 2xx makes it delivered;
 * anything else schedules the next attempt, or makes it failed after
 * webhook_max_attempts. Returns 0 or a negative errno. Lock NOT held. */
int webhook_attempt_record(struct vigild *d, int64_t seq, long http_status, const char *error, int64_t now_ms);
/* Recounts the pending deliveries into the state. Lock held. */
int webhook_pending_recount(struct vigild *d);
/* Deletes the delivered and failed rows that finished before the retention
 * period (webhook_retention). Returns the number deleted or a negative errno.
 * Lock NOT held: takes it for each batch. */
int64_t webhook_prune(struct vigild *d, int64_t now);
/* Wall clock in milliseconds (next attempts are stored in it, to survive restarts). */
int64_t webhook_now_ms(void);

/* deliver.c */
int webhook_deliver_start(struct vigild *d, char *err, size_t err_size);
void webhook_deliver_stop(struct vigild *d);
/* Makes the delivery thread look at the queue now. Any thread. */
void webhook_wake(struct vigild *d);

/* api.c */
void webhook_handle_create(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void webhook_handle_list(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void webhook_handle_show(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void webhook_handle_patch(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void webhook_handle_delete(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void webhook_handle_test(struct vigild *d, const struct http_request *req, struct http_reply *rep);
void webhook_handle_deliveries(struct vigild *d, const struct http_request *req, struct http_reply *rep);
