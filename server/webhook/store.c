/* webhook store: webhook's tables, the queue of deliveries in them (enqueue,
 * the outcome of each attempt, the cap on pending deliveries) and the
 * pruning of the delivery log. The queue lives in the database, so pending
 * deliveries survive a restart. */
#include "server/webhook/webhook-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/db/db.h"
#include "server/log.h"
#include "server/vigild.h"
#include "util/strutil.h"

#define PRUNE_BATCH 5000

static const struct db_migration webhook_migrations[] = {
        { 1,
          "CREATE TABLE webhook_subscriptions ("
          "  id TEXT PRIMARY KEY,"
          "  name TEXT NOT NULL UNIQUE,"
          "  url TEXT NOT NULL,"
          "  events TEXT NOT NULL,"
          "  secret TEXT NOT NULL,"
          "  ca_pem TEXT,"
          "  enabled INTEGER NOT NULL,"
          "  created_at INTEGER NOT NULL,"
          "  created_by TEXT NOT NULL,"
          "  updated_at INTEGER NOT NULL);"
          "CREATE TABLE webhook_deliveries ("
          "  seq INTEGER PRIMARY KEY,"
          "  id TEXT NOT NULL UNIQUE,"
          "  subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions(id) ON DELETE CASCADE,"
          "  event_id TEXT NOT NULL,"
          "  event_type TEXT NOT NULL,"
          "  body TEXT NOT NULL,"
          "  status TEXT NOT NULL,"
          "  created_at INTEGER NOT NULL,"
          "  attempts INTEGER NOT NULL,"
          "  last_attempt_at INTEGER,"
          "  last_http_status INTEGER,"
          "  last_error TEXT,"
          "  next_attempt_ms INTEGER,"
          "  finished_at INTEGER);"
          "CREATE INDEX webhook_deliveries_head ON webhook_deliveries(subscription_id, status, seq);"
          "CREATE INDEX webhook_deliveries_log ON webhook_deliveries(subscription_id, seq);"
          "CREATE INDEX webhook_deliveries_status ON webhook_deliveries(status, seq);"
          "CREATE INDEX webhook_deliveries_finished ON webhook_deliveries(finished_at);" },
};

int webhook_migrate(struct vigild *d)
{
        return db_migrate_locked(d->db, "webhook", webhook_migrations,
                                 sizeof(webhook_migrations) / sizeof(webhook_migrations[0]));
}

int64_t webhook_now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int webhook_pending_recount(struct vigild *d)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'", &st);
        if (r < 0)
                return r;
        r = db_step(st);
        if (r == 1)
                d->webhook->pending = db_column_int64(st, 0);
        db_stmt_done(st);
        return r < 0 ? r : 0;
}

/* The ids of the subscriptions that get an event of this type. Lock held. */
static int targets(struct vigild *d, const char *type, const char *only, json_t *ids)
{
        char want[64];
        struct db_stmt *st;
        int r;

        snprintf(want, sizeof(want), ",%s,", type);
        r = db_prepare(d->db, "SELECT id, events, enabled FROM webhook_subscriptions WHERE $1 IS NULL OR id = $1",
                       &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, only, only ? strlen(only) : 0);
        while ((r = db_step(st)) == 1) {
                const char *events = db_column_text(st, 1, NULL);
                if (only || (db_column_int64(st, 2) && strstr(events, want)))
                        json_array_append_new(ids, json_string(db_column_text(st, 0, NULL)));
        }
        db_stmt_done(st);
        return r < 0 ? r : 0;
}

/* Past webhook_queue_max pending deliveries, marks the oldest failed, saying
 * why. Lock and transaction held. Returns the number dropped or a negative errno. */
static int64_t queue_cap(struct vigild *d, int64_t now)
{
        int64_t max = d->cfg.webhook_queue_max, excess;
        char why[128];
        int r;

        if (d->webhook->pending <= max)
                return 0;
        r = webhook_pending_recount(d);
        excess = d->webhook->pending - max;
        if (r < 0 || excess <= 0)
                return r;
        snprintf(why, sizeof(why), "dropped: more than webhook_queue_max = %lld deliveries were pending",
                 (long long)max);
        r = db_exec_params(d->db, "UPDATE webhook_deliveries SET status = 'failed', last_error = $2, "
                           "next_attempt_ms = NULL, finished_at = $3 WHERE seq IN (SELECT seq FROM webhook_deliveries "
                           "WHERE status = 'pending' ORDER BY seq LIMIT $1)",
                           DB_PARAMS(db_param_int64(excess), db_param_text(why, strlen(why)), db_param_int64(now)));
        if (r < 0)
                return r;
        d->webhook->pending -= db_changes(d->db);
        return excess;
}

static int delivery_insert(struct vigild *d, const char *sub_id, const char *type, const char *event_id,
                           const char *body, int64_t now, char id[static WEBHOOK_ID_LEN + 1])
{
        if (crypto_uuid4(id) < 0)
                return -EIO;
        return db_exec_params(d->db, "INSERT INTO webhook_deliveries (id, subscription_id, event_id, event_type, "
                              "body, status, created_at, attempts, next_attempt_ms) "
                              "VALUES ($1, $2, $3, $4, $5, 'pending', $6, 0, $7)",
                              DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(sub_id, strlen(sub_id)),
                                        db_param_text(event_id, strlen(event_id)),
                                        db_param_text(type, strlen(type)), db_param_text(body, strlen(body)),
                                        db_param_int64(now), db_param_int64(webhook_now_ms())));
}

int webhook_enqueue(struct vigild *d, const char *type, const char *only_sub_id, const char *event_id,
                    const char *body, char *ret_id)
{
        json_t *ids = json_array(), *v;
        char id[WEBHOOK_ID_LEN + 1];
        int64_t now = util_now(), dropped = 0;
        size_t i;
        int r;

        db_lock(d->db);
        r = targets(d, type, only_sub_id, ids);
        if (r < 0 || json_array_size(ids) == 0)
                goto out;
        r = db_begin(d->db);
        if (r < 0)
                goto out;
        json_array_foreach(ids, i, v)
                if (r == 0)
                        r = delivery_insert(d, json_string_value(v), type, event_id, body, now, id);
        if (r == 0) {
                d->webhook->pending += (int64_t)json_array_size(ids);
                dropped = queue_cap(d, now);
                r = dropped < 0 ? (int)dropped : 0;
        }
        r = db_finish(d->db, r);
        if (r < 0)
                webhook_pending_recount(d);
out:
        db_unlock(d->db);
        if (r == 0 && only_sub_id && json_array_size(ids) == 0)
                r = -ENOENT;
        if (r == 0 && ret_id && only_sub_id)
                memcpy(ret_id, id, sizeof(id));
        if (r == 0 && dropped > 0)
                log_warn("webhook queue full: more than webhook_queue_max = %u deliveries pending; the %lld "
                         "oldest marked failed", d->cfg.webhook_queue_max, (long long)dropped);
        json_decref(ids);
        return r;
}

/* Sets the fields an attempt changes; state as given. Lock and transaction held. */
static int attempt_update(struct vigild *d, int64_t seq, const char *status, int64_t attempts, long http_status,
                          const char *error, int64_t next_ms, bool finished)
{
        int64_t now = util_now();

        return db_exec_params(d->db, "UPDATE webhook_deliveries SET status = $2, attempts = $3, "
                              "last_attempt_at = $4, last_http_status = $5, last_error = $6, next_attempt_ms = $7, "
                              "finished_at = $8 WHERE seq = $1",
                              DB_PARAMS(db_param_int64(seq), db_param_text(status, strlen(status)),
                                        db_param_int64(attempts), db_param_int64(now),
                                        http_status > 0 ? db_param_int64(http_status) : db_param_null(),
                                        db_param_text(error, error ? strnlen(error, WEBHOOK_ERROR_MAX) : 0),
                                        next_ms ? db_param_int64(next_ms) : db_param_null(),
                                        finished ? db_param_int64(now) : db_param_null()));
}

/* Decides and stores what follows an attempt. Lock and transaction held. */
static int attempt_apply(struct vigild *d, int64_t seq, long http_status, const char *error, int64_t now_ms,
                         const char *old_status, int64_t attempts)
{
        bool ok = http_status >= 200 && http_status <= 299, was_pending = strcmp(old_status, "pending") == 0;
        uint32_t jitter = 0;
        int r;

        /* a 2xx is the truth even for a delivery dropped while it was on its way */
        if (ok)
                r = attempt_update(d, seq, "delivered", attempts, http_status, NULL, 0, true);
        else if (!was_pending)
                /* dropped meanwhile: keep the reason it was dropped for */
                r = db_exec_params(d->db, "UPDATE webhook_deliveries SET attempts = $2, last_attempt_at = $3 "
                                   "WHERE seq = $1", DB_PARAMS(db_param_int64(seq), db_param_int64(attempts),
                                                               db_param_int64(util_now())));
        else if (attempts >= d->cfg.webhook_max_attempts)
                r = attempt_update(d, seq, "failed", attempts, http_status, error, 0, true);
        else {
                crypto_random(&jitter, sizeof(jitter));
                r = attempt_update(d, seq, "pending", attempts, http_status, error,
                                   now_ms + webhook_backoff_ms((unsigned)attempts, d->cfg.webhook_retry_base_ms,
                                                               d->cfg.webhook_retry_max * 1000, jitter), false);
                return r;
        }
        if (r == 0 && was_pending)
                d->webhook->pending--;
        return r;
}

int webhook_attempt_record(struct vigild *d, int64_t seq, long http_status, const char *error, int64_t now_ms)
{
        char old_status[16] = "";
        struct db_stmt *st;
        int64_t attempts = 0;
        int r;

        db_lock(d->db);
        r = db_begin(d->db);
        if (r < 0)
                goto out;
        r = db_prepare(d->db, "SELECT status, attempts FROM webhook_deliveries WHERE seq = $1", &st);
        if (r == 0) {
                db_bind_int64(st, 1, seq);
                r = db_step(st);
                if (r == 1) {
                        snprintf(old_status, sizeof(old_status), "%s", db_column_text(st, 0, NULL));
                        attempts = db_column_int64(st, 1) + 1;
                }
                db_stmt_done(st);
        }
        /* r == 0: the subscription was deleted meanwhile, and its log with it */
        if (r == 1)
                r = attempt_apply(d, seq, http_status, error, now_ms, old_status, attempts);
        r = db_finish(d->db, r);
out:
        db_unlock(d->db);
        return r;
}

int64_t webhook_prune(struct vigild *d, int64_t now)
{
        int64_t total = 0, n;
        int r;

        do {
                db_lock(d->db);
                r = db_exec_params(d->db, "DELETE FROM webhook_deliveries WHERE seq IN (SELECT seq FROM "
                                   "webhook_deliveries WHERE finished_at < $1 ORDER BY finished_at LIMIT $2)",
                                   DB_PARAMS(db_param_int64(now - d->cfg.webhook_retention),
                                             db_param_int64(PRUNE_BATCH)));
                n = r == 0 ? db_changes(d->db) : 0;
                db_unlock(d->db);
                total += n;
        } while (r == 0 && n == PRUNE_BATCH);
        return r < 0 ? r : total;
}
