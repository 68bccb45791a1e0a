/* uplink_alerts: the thread that sends the alert spool to the server
 * (POST /agent/v1/alerts, docs/PROTOCOL.md "Alert upload").
 *
 * It reads the spool from its acknowledged position, sends the lines in
 * batches of at most ALERT_UPLINK_BATCH_MAX alerts and ALERT_UPLINK_BODY_MAX
 * bytes, and moves the position only once the server answered 200 (it
 * answers after its commit). A line over the cap or not JSON is skipped and
 * logged; an alert the server rejects is logged with its reason and counted;
 * a batch refused as too large (413, or 400 batch_too_large or
 * too_many_alerts) is sent again in halves, down to one alert; a batch
 * refused otherwise (a 4xx other than 401, 403, 408, 429), or one alert
 * refused as too large, is written to STATE/spool/rejected/ (at most
 * ALERT_UPLINK_REJECTED_MAX files; kept in memory, at most
 * ALERT_UPLINK_ASIDE_MAX bytes, while the disk refuses it) and passed;
 * other failures are retried with backoff (1 s doubling to 60 s). A high
 * alert is sent at once when the detection thread wakes the uplink; others
 * wait at most ALERT_UPLINK_LINGER_MS so that they travel together. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "agent/src/agent.h"
#include "agent/src/spool.h"

#define ALERT_UPLINK_BATCH_MAX 500
#define ALERT_UPLINK_BODY_MAX (4u << 20)
#define ALERT_UPLINK_LINGER_MS 1000
#define ALERT_UPLINK_BACKOFF_MIN_MS 1000
#define ALERT_UPLINK_BACKOFF_MAX_MS 60000
#define ALERT_UPLINK_REJECTED_MAX 64
#define ALERT_UPLINK_ASIDE_MAX (8u << 20)       /* refused lines waiting for room on the disk */
#define ALERT_UPLINK_POLL_MS 1000               /* a look at the disk while refused lines wait */
#define ALERT_UPLINK_PATH "/agent/v1/alerts"

struct alert_uplink;

/* Counters since the uplink was made. */
struct alert_uplink_stats {
        uint64_t batches, sent, stored, updated, unchanged, rejected, skipped, set_aside;
        uint64_t splits;                /* batches refused as too large and sent in halves */
        uint64_t aside_lost;            /* refused lines neither set aside nor kept: dropped */
};

/* Makes the uplink for the device in state, sending spool (not taken; it
 * must outlive the uplink). Its thread starts with alert_uplink_start().
 * Returns 0 or a negative errno (logged). */
int alert_uplink_new(const struct agent_state *state, struct spool *spool, struct alert_uplink **ret);

/* Starts the thread, with every signal blocked in it. Returns 0 or a
 * negative errno. */
int alert_uplink_start(struct alert_uplink *u);

/* Says that lines were spooled: urgent sends at once, else within
 * ALERT_UPLINK_LINGER_MS. Any thread; NULL is fine. */
void alert_uplink_wake(struct alert_uplink *u, bool urgent);

/* How long a lazy wake waits for other alerts before the upload, in ms (a
 * configuration profile's alert_upload_delay_ms); negative: back to
 * ALERT_UPLINK_LINGER_MS. Any thread; NULL is fine. */
void alert_uplink_set_linger(struct alert_uplink *u, int64_t ms);

/* Stops the thread (an upload under way ends first) and frees the uplink;
 * NULL is fine. */
void alert_uplink_free(struct alert_uplink *u);

void alert_uplink_stats_get(struct alert_uplink *u, struct alert_uplink_stats *ret);

/* What one attempt came to. */
enum alert_uplink_result {
        ALERT_UPLINK_IDLE = 0,          /* nothing to send */
        ALERT_UPLINK_SENT = 1,          /* a batch acknowledged: there may be more */
        ALERT_UPLINK_RETRY = 2,         /* not delivered: back off */
};

/* One attempt, in the calling thread: read a batch, send it, handle the
 * answer. For the thread and for tests. */
enum alert_uplink_result alert_uplink_send_once(struct alert_uplink *u);
