/* connector core: the settings and every device's risk held in memory for
 * compliance, their tables, the builtin partner fed by defend's
 * risk_changed, the remote partner's updates and heartbeats, the state
 * machine's moves (history, connector_changed) and the thread that notices
 * a silent partner. See connector.h. */
#include "server/connector/connector-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/bus.h"
#include "server/db/db.h"
#include "server/defend/defend.h"
#include "server/enroll/enroll.h"
#include "server/log.h"
#include "server/vigild.h"
#include "util/strutil.h"

#define TICK_S 1

static const struct db_migration connector_migrations[] = {
        { 1,
          "CREATE TABLE connector_config ("
          "  id INTEGER PRIMARY KEY CHECK (id = 1),"
          "  partner TEXT NOT NULL,"
          "  platforms INTEGER NOT NULL,"
          "  unresponsive_after INTEGER NOT NULL,"
          "  block_on_missing INTEGER NOT NULL,"
          "  last_heartbeat INTEGER NOT NULL DEFAULT 0,"
          "  updated_at INTEGER NOT NULL,"
          "  updated_by TEXT NOT NULL);"
          "INSERT INTO connector_config (id, partner, platforms, unresponsive_after, block_on_missing, "
          "  updated_at, updated_by) VALUES (1, 'builtin', 1, 86400, 0, 0, 'default');"
          "CREATE TABLE connector_device_risk ("
          "  device_id TEXT PRIMARY KEY,"
          "  risk TEXT NOT NULL,"
          "  risk_rank INTEGER NOT NULL,"
          "  as_of_ns INTEGER NOT NULL,"
          "  reasons TEXT NOT NULL,"
          "  updated_at INTEGER NOT NULL);"
          "CREATE TABLE connector_state_history ("
          "  seq INTEGER PRIMARY KEY,"
          "  at INTEGER NOT NULL,"
          "  from_state TEXT,"
          "  to_state TEXT NOT NULL,"
          "  partner TEXT NOT NULL,"
          "  reason TEXT NOT NULL);" },
};

int connector_migrate(struct vigild *d)
{
        return db_migrate_locked(d->db, "connector", connector_migrations,
                                 sizeof(connector_migrations) / sizeof(connector_migrations[0]));
}

static int64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

const struct connector_dev *connector_map_get(const struct connector_map *m, const char *id)
{
        if (!m->cap)
                return NULL;
        for (size_t i = (size_t)util_str_hash(id) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
                if (!m->slots[i].id[0])
                        return NULL;
                if (strcmp(m->slots[i].id, id) == 0)
                        return &m->slots[i];
        }
}

/* Makes room for want entries (at most half full). Returns 0 or -ENOMEM. */
static int map_reserve(struct connector_map *m, size_t want)
{
        struct connector_map n = { 0 };
        size_t cap = m->cap ? m->cap : CONNECTOR_MAP_MIN;

        while (cap < 2 * want)
                cap *= 2;
        if (cap == m->cap)
                return 0;
        n.slots = calloc(cap, sizeof(*n.slots));
        if (!n.slots)
                return -ENOMEM;
        n.cap = cap;
        for (size_t i = 0; i < m->cap; i++)
                if (m->slots[i].id[0]) {
                        size_t k = (size_t)util_str_hash(m->slots[i].id) & (cap - 1);
                        while (n.slots[k].id[0])
                                k = (k + 1) & (cap - 1);
                        n.slots[k] = m->slots[i];
                }
        n.count = m->count;
        n.risky = m->risky;
        free(m->slots);
        *m = n;
        return 0;
}

/* Sets a device's entry; room must have been reserved. */
static void map_put(struct connector_map *m, const char *id, enum connector_level level, int64_t as_of)
{
        size_t i = (size_t)util_str_hash(id) & (m->cap - 1);

        while (m->slots[i].id[0] && strcmp(m->slots[i].id, id) != 0)
                i = (i + 1) & (m->cap - 1);
        if (!m->slots[i].id[0]) {
                snprintf(m->slots[i].id, sizeof(m->slots[i].id), "%s", id);
                m->count++;
        } else if (m->slots[i].level > CONNECTOR_LEVEL_NONE) {
                m->risky--;
        }
        m->slots[i].level = (uint8_t)level;
        m->slots[i].as_of = as_of;
        if (level > CONNECTOR_LEVEL_NONE)
                m->risky++;
}

static void map_release(struct connector_map *m)
{
        free(m->slots);
        *m = (struct connector_map){ 0 };
}

/* Upserts one device's row. Lock held. */
static int row_store(struct vigild *d, const char *id, enum connector_level level, int64_t as_of,
                     const char *reasons)
{
        const char *name = connector_level_name(level);

        return db_exec_params(d->db, "INSERT INTO connector_device_risk (device_id, risk, risk_rank, as_of_ns, "
                              "reasons, updated_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (device_id) DO "
                              "UPDATE SET risk = excluded.risk, risk_rank = excluded.risk_rank, "
                              "as_of_ns = excluded.as_of_ns, reasons = excluded.reasons, "
                              "updated_at = excluded.updated_at",
                              DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(name, strlen(name)),
                                        db_param_int64(level), db_param_int64(as_of),
                                        db_param_text(reasons, strlen(reasons)), db_param_int64(util_now())));
}

struct builtin_load {
        struct vigild *d;
        struct connector_map *m;
        size_t max;
};

/* One device of defend's: kept as the table has it when the level is the
 * same (a restart writes nothing), else stored. */
static int builtin_row(const char *device_id, enum defend_level level, int64_t changed_at, void *userdata)
{
        struct builtin_load *b = userdata;
        const struct connector_dev *e;
        int r;

        if (strlen(device_id) > CONNECTOR_DEVICE_ID_MAX)
                return 0;
        e = connector_map_get(b->m, device_id);
        if (e && e->level == (uint8_t)level)
                return 0;
        if (b->m->count >= b->max)
                return -E2BIG;
        r = map_reserve(b->m, b->m->count + 1);
        if (r == 0)
                r = row_store(b->d, device_id, (enum connector_level)level, changed_at * 1000000000LL, "[]");
        if (r == 0)
                map_put(b->m, device_id, (enum connector_level)level, changed_at * 1000000000LL);
        return r;
}

/* Reads the table into m. Lock held. */
static int table_load(struct connector *c, struct connector_map *m)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(c->d->db, "SELECT device_id, risk_rank, as_of_ns FROM connector_device_risk", &st);
        while (r == 0 && (r = db_step(st)) == 1) {
                const char *id = db_column_text(st, 0, NULL);
                int64_t level = db_column_int64(st, 1);

                if (!id || strlen(id) > CONNECTOR_DEVICE_ID_MAX || level < 0 || level > CONNECTOR_LEVEL_HIGH)
                        continue;
                r = m->count >= c->max ? -E2BIG : map_reserve(m, m->count + 1);
                if (r == 0)
                        map_put(m, id, (enum connector_level)level, db_column_int64(st, 2));
        }
        db_stmt_done(st);
        return r < 0 ? r : 0;
}

/* Fills m with the partner's risks: the table (emptied first when clear,
 * for a new partner), then, for builtin, what defend holds now, written to
 * the table where it differs. Inside the caller's transaction; lock held. */
static int map_load(struct connector *c, enum connector_partner partner, bool clear, struct connector_map *m)
{
        struct builtin_load b = { c->d, m, c->max };
        int r;

        r = map_reserve(m, 0);
        if (r == 0 && clear)
                r = db_exec(c->d->db, "DELETE FROM connector_device_risk");
        if (r == 0)
                r = table_load(c, m);
        if (r == 0 && partner == CONNECTOR_PARTNER_BUILTIN)
                r = defend_risk_foreach(c->d, builtin_row, &b);
        return r;
}

/* Reads the settings, the last heartbeat and the last recorded state. Lock held. */
static int config_load(struct connector *c)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(c->d->db, "SELECT partner, platforms, unresponsive_after, block_on_missing, last_heartbeat "
                                 "FROM connector_config WHERE id = 1", &st);
        if (r < 0)
                return r;
        r = db_step(st);
        if (r == 1) {
                connector_partner_parse(db_column_text(st, 0, NULL), &c->set.partner);
                c->set.platforms = (uint32_t)db_column_int64(st, 1) & CONNECTOR_PLATFORM_LINUX;
                c->set.unresponsive_after = db_column_int64(st, 2);
                c->set.block_on_missing = db_column_int64(st, 3) != 0;
                c->last_heartbeat = db_column_int64(st, 4);
        }
        db_stmt_done(st);
        if (r != 1)
                return r < 0 ? r : -EIO;
        r = db_prepare(c->d->db, "SELECT to_state, at FROM connector_state_history ORDER BY seq DESC LIMIT 1", &st);
        if (r < 0)
                return r;
        c->state = (enum connector_state)-1;    /* none yet: the first move is recorded */
        if (db_step(st) == 1) {
                for (int k = CONNECTOR_UNAVAILABLE; k <= CONNECTOR_UNRESPONSIVE; k++)
                        if (strcmp(connector_state_name((enum connector_state)k), db_column_text(st, 0, NULL)) == 0)
                                c->state = (enum connector_state)k;
                c->since = db_column_int64(st, 1);
        }
        db_stmt_done(st);
        return 0;
}

static int64_t heard_from(const struct connector *c, int64_t now)
{
        return c->set.partner == CONNECTOR_PARTNER_BUILTIN ? now : c->last_heartbeat;
}

void connector_transition(struct connector *c, int64_t now, bool settings_changed)
{
        char reason[CONNECTOR_REASON_MAX];
        enum connector_state to, from;
        const char *partner;
        int r = 0;

        pthread_rwlock_rdlock(&c->lock);
        to = connector_state_compute(&c->set, heard_from(c, now), now, reason, sizeof(reason));
        from = c->state;
        partner = connector_partner_name(c->set.partner);
        pthread_rwlock_unlock(&c->lock);
        if (to != from) {
                const char *fn = (int)from < 0 ? NULL : connector_state_name(from), *tn = connector_state_name(to);
                db_lock(c->d->db);
                r = db_exec_params(c->d->db, "INSERT INTO connector_state_history (at, from_state, to_state, "
                                   "partner, reason) VALUES ($1, $2, $3, $4, $5)",
                                   DB_PARAMS(db_param_int64(now), db_param_text(fn, fn ? strlen(fn) : 0),
                                             db_param_text(tn, strlen(tn)), db_param_text(partner, strlen(partner)),
                                             db_param_text(reason, strlen(reason))));
                db_unlock(c->d->db);
                if (r < 0)
                        log_error("connector: cannot record the move from %s to %s: %s", fn ? fn : "-", tn,
                                  strerror(-r));
        }
        pthread_rwlock_wrlock(&c->lock);
        memcpy(c->reason, reason, sizeof(reason));
        snprintf(c->device_reason, sizeof(c->device_reason), "connector %s: %s", connector_state_name(to), reason);
        if (to != from) {
                c->state = to;
                c->since = now;
        }
        pthread_rwlock_unlock(&c->lock);
        if (to != from || settings_changed) {
                struct bus_event ev = { .type = BUS_CONNECTOR_CHANGED };

                ev.connector_changed.from = (int)from < 0 ? NULL : connector_state_name(from);
                ev.connector_changed.to = connector_state_name(to);
                ev.connector_changed.partner = partner;
                ev.connector_changed.reason = reason;
                ev.connector_changed.settings_changed = settings_changed;
                if (to != from)
                        log_info("connector: %s partner %s%s%s", partner, connector_state_name(to),
                                 reason[0] ? ": " : "", reason);
                bus_publish(c->d->bus, &ev);
        }
}

static void publish_risk(struct connector *c, const char *id, const char *from, enum connector_level to)
{
        struct bus_event ev = { .type = BUS_PARTNER_RISK_CHANGED, .device_id = id };

        ev.partner_risk_changed.from = from;
        ev.partner_risk_changed.to = connector_level_name(to);
        bus_publish(c->d->bus, &ev);
}

/* defend's risk_changed: the builtin partner's report. */
static void on_risk_changed(const struct bus_event *ev, void *userdata)
{
        struct connector *c = userdata;
        enum connector_level to, from = CONNECTOR_LEVEL_NONE;
        const struct connector_dev *e;
        int64_t as_of = now_ns();
        int r;

        if (!ev->device_id || strlen(ev->device_id) > CONNECTOR_DEVICE_ID_MAX ||
            connector_level_parse(ev->risk_changed.to, &to) < 0)
                return;
        pthread_mutex_lock(&c->change);
        if (c->set.partner != CONNECTOR_PARTNER_BUILTIN)
                goto out;
        pthread_rwlock_wrlock(&c->lock);
        e = connector_map_get(&c->map, ev->device_id);
        if (e)
                from = (enum connector_level)e->level;
        r = e ? 0 : c->map.count >= c->max ? -E2BIG : map_reserve(&c->map, c->map.count + 1);
        pthread_rwlock_unlock(&c->lock);
        if (r == 0) {
                db_lock(c->d->db);
                r = row_store(c->d, ev->device_id, to, as_of, "[]");
                db_unlock(c->d->db);
        }
        if (r < 0) {
                log_error("connector: cannot store the risk of device %s: %s", ev->device_id, strerror(-r));
                goto out;
        }
        pthread_rwlock_wrlock(&c->lock);
        map_put(&c->map, ev->device_id, to, as_of);
        pthread_rwlock_unlock(&c->lock);
        if (from != to)
                publish_risk(c, ev->device_id, connector_level_name(from), to);
out:
        pthread_mutex_unlock(&c->change);
}

/* Stores the heartbeat at now. Lock held. */
static int heartbeat_store(struct connector *c, int64_t now)
{
        return db_exec_params(c->d->db, "UPDATE connector_config SET last_heartbeat = $1 WHERE id = 1",
                              DB_PARAMS(db_param_int64(now)));
}

int connector_heartbeat(struct connector *c, int64_t now)
{
        int r;

        pthread_mutex_lock(&c->change);
        r = c->set.partner == CONNECTOR_PARTNER_REMOTE ? 0 : -EPERM;
        if (r == 0) {
                db_lock(c->d->db);
                r = heartbeat_store(c, now);
                db_unlock(c->d->db);
        }
        if (r == 0) {
                pthread_rwlock_wrlock(&c->lock);
                c->last_heartbeat = now;
                pthread_rwlock_unlock(&c->lock);
                connector_transition(c, now, false);
        }
        pthread_mutex_unlock(&c->change);
        return r;
}

/* Stores the updates that are not stale (stale[i] set by the caller) and
 * the heartbeat, in one transaction. Lock held. */
static int updates_store(struct connector *c, const struct connector_update *u, size_t n, const bool *stale,
                         int64_t now)
{
        int r = db_begin(c->d->db);

        for (size_t i = 0; r == 0 && i < n; i++) {
                char *reasons;

                if (stale[i])
                        continue;
                reasons = u[i].reasons ? json_dumps(u[i].reasons, JSON_COMPACT) : strdup("[]");
                r = reasons ? row_store(c->d, u[i].device_id, u[i].level, u[i].as_of, reasons) : -ENOMEM;
                free(reasons);
        }
        if (r == 0)
                r = heartbeat_store(c, now);
        return db_finish(c->d->db, r);
}

int connector_apply(struct connector *c, const struct connector_update *u, size_t n, size_t *ret_changed,
                    size_t *ret_stale, size_t *ret_bad)
{
        enum connector_level from[CONNECTOR_BATCH_MAX];
        bool stale[CONNECTOR_BATCH_MAX], known[CONNECTOR_BATCH_MAX];
        size_t changed = 0, n_stale = 0, i;
        int64_t now = util_now();
        int r = 0;

        for (i = 0; i < n; i++)
                if (!enroll_device_exists(c->d, u[i].device_id)) {
                        *ret_bad = i;
                        return -ENOENT;
                }
        pthread_mutex_lock(&c->change);
        if (c->set.partner != CONNECTOR_PARTNER_REMOTE) {
                pthread_mutex_unlock(&c->change);
                return -EPERM;
        }
        pthread_rwlock_wrlock(&c->lock);
        for (i = 0; i < n; i++) {
                const struct connector_dev *e = connector_map_get(&c->map, u[i].device_id);

                known[i] = e != NULL;
                from[i] = e ? (enum connector_level)e->level : CONNECTOR_LEVEL_NONE;
                stale[i] = e && u[i].as_of < e->as_of;
                n_stale += stale[i];
                changed += !stale[i] && (!e || from[i] != u[i].level);
        }
        if (c->map.count + n > c->max)
                r = -E2BIG;
        else
                r = map_reserve(&c->map, c->map.count + n);
        pthread_rwlock_unlock(&c->lock);
        if (r == 0) {
                db_lock(c->d->db);
                r = updates_store(c, u, n, stale, now);
                db_unlock(c->d->db);
        }
        if (r == 0) {
                pthread_rwlock_wrlock(&c->lock);
                for (i = 0; i < n; i++)
                        if (!stale[i])
                                map_put(&c->map, u[i].device_id, u[i].level, u[i].as_of);
                c->last_heartbeat = now;
                pthread_rwlock_unlock(&c->lock);
                connector_transition(c, now, false);
                for (i = 0; i < n; i++)
                        if (!stale[i] && (!known[i] || from[i] != u[i].level))
                                publish_risk(c, u[i].device_id, known[i] ? connector_level_name(from[i]) : NULL,
                                             u[i].level);
                *ret_changed = changed;
                *ret_stale = n_stale;
        }
        pthread_mutex_unlock(&c->change);
        return r;
}

/* Writes the settings row; a new partner loses the last one's heartbeat. Lock held. */
static int settings_store(struct connector *c, const struct connector_settings *s, const char *by, int64_t hb)
{
        const char *p = connector_partner_name(s->partner);

        return db_exec_params(c->d->db, "UPDATE connector_config SET partner = $1, platforms = $2, "
                              "unresponsive_after = $3, block_on_missing = $4, last_heartbeat = $5, "
                              "updated_at = $6, updated_by = $7 WHERE id = 1",
                              DB_PARAMS(db_param_text(p, strlen(p)), db_param_int64(s->platforms),
                                        db_param_int64(s->unresponsive_after), db_param_int64(s->block_on_missing),
                                        db_param_int64(hb), db_param_int64(util_now()),
                                        db_param_text(by, strlen(by))));
}

int connector_settings_put(struct connector *c, const json_t *body, const char *by,
                           struct connector_settings *ret, char *err, size_t err_size)
{
        struct connector_map m = { 0 };
        struct connector_settings s;
        bool swap;
        int64_t hb;
        int r;

        pthread_mutex_lock(&c->change);
        r = connector_settings_check(body, &c->set, &s, err, err_size);
        if (r < 0)
                goto out;
        swap = s.partner != c->set.partner;
        hb = swap ? 0 : c->last_heartbeat;
        db_lock(c->d->db);
        r = db_begin(c->d->db);
        if (r == 0)
                r = settings_store(c, &s, by, hb);
        if (r == 0 && swap)
                r = map_load(c, s.partner, true, &m);
        r = db_finish(c->d->db, r);
        db_unlock(c->d->db);
        if (r < 0) {
                snprintf(err, err_size, "cannot store the connector's settings");
                goto out;
        }
        pthread_rwlock_wrlock(&c->lock);
        c->set = s;
        c->last_heartbeat = hb;
        if (swap) {
                map_release(&c->map);
                c->map = m;
                m = (struct connector_map){ 0 };
        }
        pthread_rwlock_unlock(&c->lock);
        connector_transition(c, util_now(), true);
        *ret = s;
out:
        pthread_mutex_unlock(&c->change);
        map_release(&m);
        return r;
}

/* The thread that notices a partner gone silent, and keeps the reason's
 * "no heartbeat for" current. */
static void *tick_main(void *arg)
{
        struct connector *c = arg;

        pthread_mutex_lock(&c->tick_lock);
        while (!c->stop) {
                struct timespec until;

                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += TICK_S;
                pthread_cond_timedwait(&c->tick, &c->tick_lock, &until);
                if (c->stop)
                        break;
                pthread_mutex_unlock(&c->tick_lock);
                pthread_mutex_lock(&c->change);
                connector_transition(c, util_now(), false);
                pthread_mutex_unlock(&c->change);
                pthread_mutex_lock(&c->tick_lock);
        }
        pthread_mutex_unlock(&c->tick_lock);
        return NULL;
}

static struct connector *connector_new(struct vigild *d)
{
        struct connector *c = calloc(1, sizeof(*c));

        if (!c)
                return NULL;
        c->d = d;
        c->max = d->cfg.max_devices;
        pthread_mutex_init(&c->change, NULL);
        pthread_rwlock_init(&c->lock, NULL);
        pthread_mutex_init(&c->tick_lock, NULL);
        pthread_cond_init(&c->tick, NULL);
        return c;
}

static int connector_load(struct connector *c)
{
        int r;

        db_lock(c->d->db);
        r = config_load(c);
        if (r == 0)
                r = db_begin(c->d->db);
        if (r == 0)
                r = db_finish(c->d->db, map_load(c, c->set.partner, false, &c->map));
        db_unlock(c->d->db);
        return r;
}

int connector_start(struct vigild *d, char *err, size_t err_size)
{
        struct connector *c = connector_new(d);
        int r;

        if (!c) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        d->connector = c;
        r = connector_load(c);
        if (r < 0) {
                snprintf(err, err_size, "cannot load the connector's settings and device risks: %s",
                         r == -E2BIG ? "more devices than max_devices" : db_errmsg(d->db));
                return r;
        }
        r = bus_subscribe(d->bus, BUS_RISK_CHANGED, on_risk_changed, c);
        if (r < 0) {
                snprintf(err, err_size, "cannot subscribe to the event bus: %s", strerror(-r));
                return r;
        }
        pthread_mutex_lock(&c->change);
        connector_transition(c, util_now(), false);
        pthread_mutex_unlock(&c->change);
        r = -pthread_create(&c->thread, NULL, tick_main, c);
        if (r < 0) {
                snprintf(err, err_size, "cannot start the connector's thread: %s", strerror(-r));
                return r;
        }
        c->running = true;
        log_info("connector: partner %s, %s, %zu devices with risk above none",
                 connector_partner_name(c->set.partner), connector_state_name(c->state), c->map.risky);
        return 0;
}

void connector_stop(struct vigild *d)
{
        struct connector *c = d->connector;

        if (!c)
                return;
        if (c->running) {
                pthread_mutex_lock(&c->tick_lock);
                c->stop = true;
                pthread_cond_signal(&c->tick);
                pthread_mutex_unlock(&c->tick_lock);
                pthread_join(c->thread, NULL);
        }
        map_release(&c->map);
        pthread_cond_destroy(&c->tick);
        pthread_mutex_destroy(&c->tick_lock);
        pthread_rwlock_destroy(&c->lock);
        pthread_mutex_destroy(&c->change);
        free(c);
        d->connector = NULL;
}

/* The reason of an applicable risk, by partner and level: no formatting per call. */
static const char *const applicable_reasons[2][5] = {
        { "risk none reported by the builtin partner", "risk informational reported by the builtin partner",
          "risk low reported by the builtin partner", "risk medium reported by the builtin partner",
          "risk high reported by the builtin partner" },
        { "risk none reported by the remote partner", "risk informational reported by the remote partner",
          "risk low reported by the remote partner", "risk medium reported by the remote partner",
          "risk high reported by the remote partner" },
};

int connector_device_risk(struct vigild *d, const char *device_id, struct connector_risk *ret)
{
        struct connector *c = d->connector;
        const struct connector_dev *e;
        struct connector_risk r;
        const char *why;

        if (!c)
                return -ENODEV;
        if (!device_id || !device_id[0] || strnlen(device_id, CONNECTOR_DEVICE_ID_MAX + 1) > CONNECTOR_DEVICE_ID_MAX)
                return -EINVAL;
        r.level = CONNECTOR_LEVEL_NONE;
        r.as_of = 0;
        r.applicable = false;
        pthread_rwlock_rdlock(&c->lock);
        r.state = c->state;
        e = connector_map_get(&c->map, device_id);
        if (c->state != CONNECTOR_ENABLED || !(c->set.platforms & CONNECTOR_PLATFORM_LINUX)) {
                why = c->device_reason;
        } else if (!e && c->set.partner == CONNECTOR_PARTNER_REMOTE) {
                why = "the remote partner has reported no risk for this device";
        } else {
                r.applicable = true;
                r.level = e ? (enum connector_level)e->level : CONNECTOR_LEVEL_NONE;
                r.as_of = e ? e->as_of : 0;
                why = applicable_reasons[c->set.partner == CONNECTOR_PARTNER_REMOTE][r.level];
        }
        r.block = !r.applicable && c->set.block_on_missing;
        snprintf(r.reason, sizeof(r.reason), "%s", why);
        pthread_rwlock_unlock(&c->lock);
        *ret = r;
        return 0;
}

enum connector_state connector_state_get(struct vigild *d, int64_t *ret_since)
{
        struct connector *c = d->connector;
        enum connector_state s = CONNECTOR_UNAVAILABLE;

        if (!c)
                return s;
        pthread_rwlock_rdlock(&c->lock);
        s = (int)c->state < 0 ? CONNECTOR_UNAVAILABLE : c->state;
        if (ret_since)
                *ret_since = c->since;
        pthread_rwlock_unlock(&c->lock);
        return s;
}
