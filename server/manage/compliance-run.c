/* compliance run: the tables, the policies and device states held in
 * memory, the evaluator thread (its queue and its timer), the evaluation of
 * a batch of devices with what it stores, publishes and sets off
 * (notify, isolate), and the module's start and stop. See
 * compliance-service.h. */
#include "server/manage/compliance-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/bus.h"
#include "server/connector/connector.h"
#include "server/db/db.h"
#include "server/defend/defend.h"
#include "server/enroll/enroll.h"
#include "server/log.h"
#include "server/tvm/results.h"
#include "server/vigild.h"
#include "util/strutil.h"

#define BATCH_MAX 256                   /* devices evaluated between two commits */
#define IDLE_WAIT_S 3600                /* sleep at most this long with nothing due */
#define ISOLATE_TIMEOUT_S (24 * 3600)
#define QUEUE_MAX 65536                 /* devices queued one by one; past it, every device is */
#define RETRY_S 5                       /* after a failed store, wait this long before the next */

static const struct db_migration compliance_migrations[] = {
        { 1,
          "CREATE TABLE compliance_policies ("
          "  id TEXT PRIMARY KEY,"
          "  name TEXT NOT NULL UNIQUE,"
          "  document TEXT NOT NULL,"
          "  version INTEGER NOT NULL,"
          "  created_at INTEGER NOT NULL,"
          "  created_by TEXT NOT NULL,"
          "  updated_at INTEGER NOT NULL,"
          "  updated_by TEXT NOT NULL);"
          "CREATE TABLE compliance_policy_assignments ("
          "  policy_id TEXT NOT NULL REFERENCES compliance_policies(id) ON DELETE CASCADE,"
          "  mode TEXT NOT NULL,"
          "  target TEXT NOT NULL,"
          "  PRIMARY KEY (policy_id, mode, target));"
          "CREATE INDEX compliance_policy_assignments_target ON compliance_policy_assignments(target);"
          "CREATE TABLE compliance_results ("
          "  device_id TEXT NOT NULL,"
          "  policy_id TEXT NOT NULL,"
          "  state TEXT NOT NULL,"
          "  first_noncompliant_at INTEGER NOT NULL,"
          "  actions_done INTEGER NOT NULL,"
          "  settings TEXT NOT NULL,"
          "  evaluated_at INTEGER NOT NULL,"
          "  PRIMARY KEY (device_id, policy_id));"
          "CREATE INDEX compliance_results_policy ON compliance_results(policy_id, state);"
          "CREATE TABLE compliance_device_state ("
          "  device_id TEXT PRIMARY KEY,"
          "  state TEXT NOT NULL,"
          "  since_ms INTEGER NOT NULL,"
          "  policy_id TEXT,"
          "  setting TEXT,"
          "  reason TEXT NOT NULL,"
          "  next_check INTEGER NOT NULL,"
          "  evaluated_at INTEGER NOT NULL);"
          "CREATE INDEX compliance_device_state_next ON compliance_device_state(next_check);"
          "CREATE INDEX compliance_device_state_state ON compliance_device_state(state, device_id);"
          "CREATE TABLE compliance_history ("
          "  seq INTEGER PRIMARY KEY,"
          "  at_ms INTEGER NOT NULL,"
          "  device_id TEXT NOT NULL,"
          "  from_state TEXT,"
          "  to_state TEXT NOT NULL,"
          "  policy_id TEXT,"
          "  setting TEXT,"
          "  reason TEXT NOT NULL,"
          "  risk_as_of_ns INTEGER NOT NULL);"
          "CREATE INDEX compliance_history_device ON compliance_history(device_id, seq);"
          "CREATE TABLE compliance_tenant ("
          "  id INTEGER PRIMARY KEY CHECK (id = 1),"
          "  no_policy_state TEXT NOT NULL,"
          "  validity_days INTEGER NOT NULL,"
          "  sensor_timeout_s INTEGER NOT NULL,"
          "  updated_at INTEGER NOT NULL,"
          "  updated_by TEXT NOT NULL);"
          "INSERT INTO compliance_tenant VALUES (1, 'noncompliant', 30, 600, 0, 'default');" },
};

int compliance_migrate(struct vigild *d)
{
        return db_migrate_locked(d->db, "manage_compliance", compliance_migrations,
                                 sizeof(compliance_migrations) / sizeof(compliance_migrations[0]));
}

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the map of device states ---- */

static struct compliance_dev *map_get(const struct compliance_map *m, const char *id)
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
static int map_reserve(struct compliance_map *m, size_t want)
{
        size_t cap = m->cap ? m->cap : COMPLIANCE_MAP_MIN;
        struct compliance_dev *slots;

        while (cap < 2 * want)
                cap *= 2;
        if (cap == m->cap)
                return 0;
        slots = calloc(cap, sizeof(*slots));
        if (!slots)
                return -ENOMEM;
        for (size_t i = 0; i < m->cap; i++)
                if (m->slots[i].id[0]) {
                        size_t k = (size_t)util_str_hash(m->slots[i].id) & (cap - 1);
                        while (slots[k].id[0])
                                k = (k + 1) & (cap - 1);
                        slots[k] = m->slots[i];
                }
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
        return 0;
}

/* Sets a device's state; room must have been made. */
static void map_put(struct compliance_map *m, const char *id, enum compliance_state state, int64_t since_ms,
                    int64_t next_check, uint64_t reason_hash)
{
        struct compliance_dev *e = map_get(m, id);

        if (!e) {
                size_t k = (size_t)util_str_hash(id) & (m->cap - 1);
                while (m->slots[k].id[0])
                        k = (k + 1) & (m->cap - 1);
                e = &m->slots[k];
                snprintf(e->id, sizeof(e->id), "%s", id);
                m->count++;
        }
        e->state = (uint8_t)state;
        e->since_ms = since_ms;
        e->next_check = next_check;
        e->reason_hash = reason_hash;
}

/* ---- policies in memory ---- */

struct compliance_entry *compliance_entry_find(struct compliance_service *s, const char *id)
{
        for (size_t i = 0; i < s->n_policies; i++)
                if (strcmp(s->policies[i]->id, id) == 0)
                        return s->policies[i];
        return NULL;
}

struct compliance_entry *compliance_entry_find_name(struct compliance_service *s, const char *name)
{
        for (size_t i = 0; i < s->n_policies; i++)
                if (strcmp(s->policies[i]->policy->name, name) == 0)
                        return s->policies[i];
        return NULL;
}

void compliance_entry_free(struct compliance_entry *e)
{
        if (!e)
                return;
        compliance_policy_free(e->policy);
        free(e);
}

/* The assignment of a compiled policy: none applies to no device. A group
 * deleted since the policy was stored is dropped, with a warning. */
static void entry_assign(struct compliance_service *s, struct compliance_entry *e)
{
        char err[256];

        memset(&e->assign, 0, sizeof(e->assign));
        if (e->policy->assignments &&
            manage_assignment_parse(s->d, e->policy->assignments, &e->assign, err, sizeof(err)) < 0) {
                log_warn("compliance: policy '%s' (%s): assignments: %s; it applies to no device until it is "
                         "applied again", e->policy->name, e->id, err);
                memset(&e->assign, 0, sizeof(e->assign));
        }
}

static int assignments_store(struct compliance_service *s, const struct compliance_entry *e)
{
        struct db *db = s->d->db;
        int r;

        r = db_exec_params(db, "DELETE FROM compliance_policy_assignments WHERE policy_id = $1",
                           DB_PARAMS(db_param_text(e->id, strlen(e->id))));
        if (r == 0 && e->assign.all_devices)
                r = db_exec_params(db, "INSERT INTO compliance_policy_assignments VALUES ($1, 'include', "
                                   "'all_devices')", DB_PARAMS(db_param_text(e->id, strlen(e->id))));
        for (size_t i = 0; r == 0 && i < e->assign.n_include + e->assign.n_exclude; i++) {
                bool inc = i < e->assign.n_include;
                const char *g = inc ? e->assign.include[i] : e->assign.exclude[i - e->assign.n_include];
                const char *mode = inc ? "include" : "exclude";

                r = db_exec_params(db, "INSERT INTO compliance_policy_assignments VALUES ($1, $2, $3)",
                                   DB_PARAMS(db_param_text(e->id, strlen(e->id)), db_param_text(mode, strlen(mode)),
                                             db_param_text(g, strlen(g))));
        }
        return r;
}

int compliance_entry_store_take(struct compliance_service *s, struct compliance_entry *e, bool create)
{
        struct db *db = s->d->db;
        size_t len;
        const char *doc = compliance_policy_canonical(e->policy, &len);
        const char *name = e->policy->name;
        int r;

        if (create && s->n_policies >= COMPLIANCE_POLICIES_MAX)
                return -E2BIG;
        db_lock(db);
        r = db_begin(db);
        if (r == 0 && create)
                r = db_exec_params(db, "INSERT INTO compliance_policies VALUES ($1, $2, $3, $4, $5, $6, $5, $6)",
                                   DB_PARAMS(db_param_text(e->id, strlen(e->id)), db_param_text(name, strlen(name)),
                                             db_param_text(doc, len), db_param_int64(e->version),
                                             db_param_int64(e->created_at),
                                             db_param_text(e->created_by, strlen(e->created_by))));
        else if (r == 0)
                r = db_exec_params(db, "UPDATE compliance_policies SET name = $2, document = $3, version = $4, "
                                   "updated_at = $5, updated_by = $6 WHERE id = $1",
                                   DB_PARAMS(db_param_text(e->id, strlen(e->id)), db_param_text(name, strlen(name)),
                                             db_param_text(doc, len), db_param_int64(e->version),
                                             db_param_int64(e->updated_at),
                                             db_param_text(e->updated_by, strlen(e->updated_by))));
        if (r == 0)
                r = assignments_store(s, e);
        r = db_finish(db, r);
        db_unlock(db);
        if (r < 0)
                return r;
        pthread_rwlock_wrlock(&s->lock);
        if (create) {
                s->policies[s->n_policies++] = e;
        } else {
                for (size_t i = 0; i < s->n_policies; i++)
                        if (strcmp(s->policies[i]->id, e->id) == 0) {
                                compliance_entry_free(s->policies[i]);
                                s->policies[i] = e;
                        }
        }
        pthread_rwlock_unlock(&s->lock);
        compliance_queue(s->d, NULL);
        return 0;
}

int compliance_entry_delete(struct compliance_service *s, const char *id)
{
        struct db *db = s->d->db;
        int r;

        db_lock(db);
        r = db_begin(db);
        if (r == 0)
                r = db_exec_params(db, "DELETE FROM compliance_policy_assignments WHERE policy_id = $1",
                                   DB_PARAMS(db_param_text(id, strlen(id))));
        if (r == 0)
                r = db_exec_params(db, "DELETE FROM compliance_policies WHERE id = $1",
                                   DB_PARAMS(db_param_text(id, strlen(id))));
        if (r == 0 && db_changes(db) == 0)
                r = -ENOENT;
        r = db_finish(db, r);
        db_unlock(db);
        if (r < 0)
                return r;
        pthread_rwlock_wrlock(&s->lock);
        for (size_t i = 0; i < s->n_policies; i++)
                if (strcmp(s->policies[i]->id, id) == 0) {
                        compliance_entry_free(s->policies[i]);
                        memmove(&s->policies[i], &s->policies[i + 1],
                                (s->n_policies - i - 1) * sizeof(s->policies[0]));
                        s->n_policies--;
                        break;
                }
        pthread_rwlock_unlock(&s->lock);
        compliance_queue(s->d, NULL);
        return 0;
}

int compliance_tenant_store(struct compliance_service *s, const struct compliance_tenant *t, const char *by)
{
        const char *nps = compliance_state_name(t->no_policy_state);
        int r;

        db_lock(s->d->db);
        r = db_exec_params(s->d->db, "UPDATE compliance_tenant SET no_policy_state = $1, validity_days = $2, "
                           "sensor_timeout_s = $3, updated_at = $4, updated_by = $5 WHERE id = 1",
                           DB_PARAMS(db_param_text(nps, strlen(nps)), db_param_int64(t->validity_days),
                                     db_param_int64(t->sensor_timeout_s), db_param_int64(util_now()),
                                     db_param_text(by, strlen(by))));
        db_unlock(s->d->db);
        if (r < 0)
                return r;
        pthread_rwlock_wrlock(&s->lock);
        s->tenant = *t;
        pthread_rwlock_unlock(&s->lock);
        compliance_queue(s->d, NULL);
        return 0;
}

/* ---- the queue ---- */

void compliance_queue(struct vigild *d, const char *device_id)
{
        struct compliance_service *s = d->compliance;

        if (!s || (device_id && strnlen(device_id, COMPLIANCE_DEVICE_ID_MAX + 1) > COMPLIANCE_DEVICE_ID_MAX))
                return;
        pthread_mutex_lock(&s->qlock);
        if (!device_id || s->q_len >= s->q_cap) {
                /* every device is looked at again: a full ring needs no more */
                s->q_all = true;
                s->q_len = 0;
        } else {
                snprintf(s->queue[(s->q_head + s->q_len) % s->q_cap], COMPLIANCE_DEVICE_ID_MAX + 1, "%s", device_id);
                s->q_len++;
        }
        s->q_seq++;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->qlock);
}

bool compliance_settle(struct vigild *d, unsigned timeout_ms)
{
        struct compliance_service *s = d->compliance;
        struct timespec until;
        uint64_t want;
        bool ok;

        if (!s)
                return false;
        until = util_deadline(CLOCK_REALTIME, timeout_ms);
        pthread_mutex_lock(&s->qlock);
        want = s->q_seq;
        while (s->done_seq < want && s->running)
                if (pthread_cond_timedwait(&s->settled, &s->qlock, &until) != 0)
                        break;
        ok = s->done_seq >= want;
        pthread_mutex_unlock(&s->qlock);
        return ok;
}

static void on_device_event(const struct bus_event *ev, void *userdata)
{
        struct vigild *d = userdata;

        if (ev->device_id)
                compliance_queue(d, ev->device_id);
}

static void on_connector_changed(const struct bus_event *ev, void *userdata)
{
        (void)ev;
        compliance_queue(userdata, NULL);
}

/* ---- evaluation ---- */

/* A device's stored result under one policy. */
struct stored_result {
        char policy_id[COMPLIANCE_ID_LEN + 1];
        enum compliance_state state;
        int64_t first_nc;
        uint32_t done;                          /* bit k: action k ran in this noncompliance episode */
        char sig[COMPLIANCE_SIG_MAX];
        bool kept;
};

/* What the batch sets off once committed. */
struct outcome {
        enum { OUT_CHANGED, OUT_REASON, OUT_NOTIFY, OUT_ISOLATE } kind;
        char device_id[COMPLIANCE_DEVICE_ID_MAX + 1];
        char policy_id[COMPLIANCE_ID_LEN + 1];
        char policy_name[COMPLIANCE_NAME_MAX + 1];
        int from;                               /* OUT_CHANGED: enum compliance_state, -1 for none */
        int64_t from_since_ms;
        int64_t next_check;
        uint64_t reason_hash;                   /* OUT_CHANGED */
        enum compliance_state to;
        const char *setting;                    /* static, or NULL */
        char reason[COMPLIANCE_DEVICE_REASON_MAX];
        size_t action_index;
        unsigned after_hours;
};

/* The evaluator's scratch: big, so on the heap once. */
struct compliance_scratch {
        struct stored_result stored[COMPLIANCE_POLICIES_MAX];
        size_t n_stored;
        struct compliance_result results[COMPLIANCE_POLICIES_MAX];
        const struct compliance_entry *entries[COMPLIANCE_POLICIES_MAX];
        /* the device's posture, copied out of the row */
        char platform[16], os_version[128];
        enum compliance_fact disk, firewall, secure_boot;
        enum compliance_sensor sensor;
        int64_t inventory_at, last_seen;
        bool offboarded, found;
        struct outcome *out;
        size_t n_out, cap_out;
};

static int posture_copy(const struct enroll_device_posture *p, void *userdata)
{
        struct compliance_scratch *x = userdata;

        snprintf(x->platform, sizeof(x->platform), "%s", p->platform);
        snprintf(x->os_version, sizeof(x->os_version), "%s", p->os_version);
        x->disk = compliance_fact_from_text(p->disk_encryption);
        x->firewall = compliance_fact_from_text(p->firewall);
        x->secure_boot = compliance_fact_from_text(p->secure_boot);
        x->sensor = strcmp(p->sensor, "bpf") == 0 ? COMPLIANCE_SENSOR_BPF :
                    strcmp(p->sensor, "cnproc") == 0 ? COMPLIANCE_SENSOR_PROC_CONNECTOR :
                    strcmp(p->sensor, "none") == 0 ? COMPLIANCE_SENSOR_NONE : COMPLIANCE_SENSOR_UNREPORTED;
        x->inventory_at = p->inventory_at;
        x->last_seen = p->last_seen;
        x->offboarded = p->offboarded;
        x->found = true;
        return 0;
}

/* Copies a text column into buf, cut to size: per row, so no formatting. */
static void text_copy(char *buf, size_t size, struct db_stmt *st, int col)
{
        size_t len = 0;
        const char *t = db_column_text(st, col, &len);

        if (!t)
                len = 0;
        if (len >= size)
                len = size - 1;
        memcpy(buf, t ? t : "", len);
        buf[len] = '\0';
}

/* Reads the device's stored results. db lock held. */
static int stored_read(struct compliance_service *s, struct compliance_scratch *x, const char *id)
{
        struct db_stmt *st;
        int r;

        x->n_stored = 0;
        r = db_prepare(s->d->db, "SELECT policy_id, state, first_noncompliant_at, actions_done, settings "
                                 "FROM compliance_results WHERE device_id = $1", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, id, strlen(id));
        while ((r = db_step(st)) == 1 && x->n_stored < COMPLIANCE_POLICIES_MAX) {
                struct stored_result *e = &x->stored[x->n_stored++];
                const char *state = db_column_text(st, 1, NULL);

                text_copy(e->policy_id, sizeof(e->policy_id), st, 0);
                if (compliance_state_parse(state, &e->state) < 0)
                        e->state = COMPLIANCE_UNKNOWN;
                e->first_nc = db_column_int64(st, 2);
                e->done = (uint32_t)db_column_int64(st, 3);
                text_copy(e->sig, sizeof(e->sig), st, 4);
                e->kept = false;
        }
        db_stmt_done(st);
        return r < 0 ? r : 0;
}

static struct stored_result *stored_find(struct compliance_scratch *x, const char *policy_id)
{
        for (size_t i = 0; i < x->n_stored; i++)
                if (strcmp(x->stored[i].policy_id, policy_id) == 0) {
                        x->stored[i].kept = true;
                        return &x->stored[i];
                }
        return NULL;
}

/* Appends s to buf[n..size) as the inside of a JSON string when escape (the
 * text checks upstream allow no control characters; any left become '?'),
 * as is otherwise; stops short of the end. Returns the new length. */
static size_t text_put(char *buf, size_t n, size_t size, const char *s, bool escape)
{
        for (; *s && n + 2 < size; s++) {
                if (escape && (*s == '"' || *s == '\\'))
                        buf[n++] = '\\';
                buf[n++] = escape && (unsigned char)*s < 0x20 ? '?' : *s;
        }
        buf[n] = '\0';
        return n;
}

/* The result's settings as stored: [{"setting", "state", "observed"}, ...],
 * the configured ones, compact, without reasons (those are made when the API
 * shows the result). Equal texts, equal results. Built without printf: it
 * runs for every policy of every device evaluated. */
static void result_settings(const struct compliance_result *r, char *buf, size_t size)
{
        size_t n = 1;

        buf[0] = '[';
        buf[1] = '\0';
        for (int k = 0; k < COMPLIANCE_SETTINGS_COUNT; k++) {
                if (!(r->policy->configured & (1u << k)))
                        continue;
                n = text_put(buf, n, size, n > 1 ? ",{\"setting\":\"" : "{\"setting\":\"", false);
                n = text_put(buf, n, size, compliance_setting_name((enum compliance_setting)k), false);
                n = text_put(buf, n, size, "\",\"state\":\"", false);
                n = text_put(buf, n, size, compliance_setting_state_name(r->settings[k].state), false);
                n = text_put(buf, n, size, "\",\"observed\":\"", false);
                n = text_put(buf, n, size, r->settings[k].observed, true);
                n = text_put(buf, n, size, "\"}", false);
        }
        text_put(buf, n, size, "]", false);
}

static struct outcome *outcome_add(struct compliance_scratch *x)
{
        if (x->n_out == x->cap_out) {
                size_t cap = x->cap_out ? 2 * x->cap_out : 64;
                struct outcome *o = realloc(x->out, cap * sizeof(*o));

                if (!o)
                        return NULL;
                x->out = o;
                x->cap_out = cap;
        }
        memset(&x->out[x->n_out], 0, sizeof(x->out[0]));
        return &x->out[x->n_out++];
}

static void facts_fill(struct compliance_service *s, struct compliance_scratch *x, const char *id,
                       struct compliance_facts *f, struct connector_risk *risk)
{
        enum tvm_exposure exposure;

        memset(f, 0, sizeof(*f));
        f->platform = x->platform;
        if (connector_device_risk(s->d, id, risk) < 0) {
                memset(risk, 0, sizeof(*risk));
                snprintf(risk->reason, sizeof(risk->reason), "the connector is not running");
        }
        f->risk = (enum defend_level)risk->level;
        f->risk_applicable = risk->applicable;
        f->risk_block = risk->block;
        f->risk_reason = risk->reason;
        f->inventory_at = x->inventory_at;
        f->os_version = x->os_version;
        f->disk_encryption = x->disk;
        f->firewall = x->firewall;
        f->secure_boot = x->secure_boot;
        f->sensor = x->sensor;
        f->last_heartbeat = x->last_seen;
        f->last_seen = x->last_seen;
        f->exposure_available = tvm_device_exposure_get(s->d, id, &exposure) == 0;
        f->exposure = f->exposure_available ? (enum compliance_exposure)exposure : COMPLIANCE_EXPOSURE_NONE;
}

/* Writes one policy's result for the device if it differs from what is
 * stored, and lists its due actions not yet run. db lock held, lock read. */
static int result_store(struct compliance_service *s, struct compliance_scratch *x, const char *id, size_t k,
                        int64_t now)
{
        const struct compliance_result *r = &x->results[k];
        const struct compliance_entry *e = x->entries[k];
        struct stored_result *st = stored_find(x, e->id);
        char sig[COMPLIANCE_SIG_MAX];
        uint32_t done = st && st->first_nc == r->first_noncompliant_at ? st->done : 0;
        const char *state = compliance_state_name(r->state);

        for (size_t i = 0; i < r->n_due; i++) {
                const struct compliance_action *a = &e->policy->actions[r->due[i].index];
                struct outcome *o;

                if (done & (1u << r->due[i].index))
                        continue;
                o = outcome_add(x);
                if (!o)
                        return -ENOMEM;
                o->kind = r->due[i].type == COMPLIANCE_ACTION_ISOLATE ? OUT_ISOLATE : OUT_NOTIFY;
                snprintf(o->device_id, sizeof(o->device_id), "%s", id);
                snprintf(o->policy_id, sizeof(o->policy_id), "%s", e->id);
                snprintf(o->policy_name, sizeof(o->policy_name), "%s", e->policy->name);
                o->to = r->state;
                o->action_index = r->due[i].index;
                o->after_hours = a->after_hours;
                compliance_result_reason(r, o->reason, sizeof(o->reason));
                done |= 1u << r->due[i].index;
        }
        result_settings(r, sig, sizeof(sig));
        if (st && st->state == r->state && st->first_nc == r->first_noncompliant_at && st->done == done &&
            strcmp(st->sig, sig) == 0)
                return 0;
        return db_exec_params(s->d->db, "INSERT INTO compliance_results VALUES ($1, $2, $3, $4, $5, $6, $7) "
                              "ON CONFLICT (device_id, policy_id) DO UPDATE SET state = $3, "
                              "first_noncompliant_at = $4, actions_done = $5, settings = $6, evaluated_at = $7",
                              DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(e->id, strlen(e->id)),
                                        db_param_text(state, strlen(state)),
                                        db_param_int64(r->first_noncompliant_at), db_param_int64(done),
                                        db_param_text(sig, strlen(sig)), db_param_int64(now)));
}

/* Stores the device's state when it changed (with its history row and an
 * outcome to publish), its reason when only that changed (an outcome to
 * publish, from and to alike, so that what shows the reason is not left
 * with the old one), or its next check when that moved. db lock held, lock
 * read. */
static int device_store(struct compliance_service *s, struct compliance_scratch *x, const char *id,
                        const struct compliance_device_result *dr, const struct connector_risk *risk, int64_t now,
                        int64_t at_ms)
{
        struct compliance_dev *prev = map_get(&s->map, id);
        const char *to = compliance_state_name(dr->state), *from = prev ? compliance_state_name(prev->state) : NULL;
        const char *pid = dr->result ? x->entries[dr->result - x->results]->id : NULL;
        const char *setting = dr->result && dr->result->decided_by >= 0 ?
                              compliance_setting_name(dr->result->decided_by) : NULL;
        int64_t next = dr->next_check && dr->next_check <= now ? now + 1 : dr->next_check;
        char reason[COMPLIANCE_DEVICE_REASON_MAX];
        uint64_t reason_hash;
        struct outcome *o;
        int r;

        compliance_device_reason(dr, reason, sizeof(reason));
        reason_hash = util_str_hash(reason);
        if (prev && prev->state == dr->state) {
                if (prev->next_check == next && prev->reason_hash == reason_hash)
                        return 0;
                /* only this thread reads or writes next_check and reason_hash */
                prev->next_check = next;
                if (prev->reason_hash == reason_hash)
                        return db_exec_params(s->d->db, "UPDATE compliance_device_state SET next_check = $2, "
                                              "evaluated_at = $3 WHERE device_id = $1",
                                              DB_PARAMS(db_param_text(id, strlen(id)), db_param_int64(next),
                                                        db_param_int64(now)));
                prev->reason_hash = reason_hash;
                o = outcome_add(x);
                if (!o)
                        return -ENOMEM;
                o->kind = OUT_REASON;
                snprintf(o->device_id, sizeof(o->device_id), "%s", id);
                snprintf(o->policy_id, sizeof(o->policy_id), "%s", pid ? pid : "");
                o->from = (int)prev->state;
                o->to = dr->state;
                o->setting = setting;
                snprintf(o->reason, sizeof(o->reason), "%s", reason);
                return db_exec_params(s->d->db, "UPDATE compliance_device_state SET policy_id = $2, setting = $3, "
                                      "reason = $4, next_check = $5, evaluated_at = $6 WHERE device_id = $1",
                                      DB_PARAMS(db_param_text(id, strlen(id)),
                                                pid ? db_param_text(pid, strlen(pid)) : db_param_null(),
                                                setting ? db_param_text(setting, strlen(setting)) : db_param_null(),
                                                db_param_text(reason, strlen(reason)), db_param_int64(next),
                                                db_param_int64(now)));
        }
        o = outcome_add(x);
        if (!o)
                return -ENOMEM;
        o->kind = OUT_CHANGED;
        o->reason_hash = reason_hash;
        snprintf(o->device_id, sizeof(o->device_id), "%s", id);
        snprintf(o->policy_id, sizeof(o->policy_id), "%s", pid ? pid : "");
        o->from = prev ? (int)prev->state : -1;
        o->from_since_ms = prev ? prev->since_ms : 0;
        o->to = dr->state;
        o->setting = setting;
        o->next_check = next;
        snprintf(o->reason, sizeof(o->reason), "%s", reason);
        r = db_exec_params(s->d->db, "INSERT INTO compliance_device_state VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                           "ON CONFLICT (device_id) DO UPDATE SET state = $2, since_ms = $3, policy_id = $4, "
                           "setting = $5, reason = $6, next_check = $7, evaluated_at = $8",
                           DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(to, strlen(to)),
                                     db_param_int64(at_ms), pid ? db_param_text(pid, strlen(pid)) : db_param_null(),
                                     setting ? db_param_text(setting, strlen(setting)) : db_param_null(),
                                     db_param_text(o->reason, strlen(o->reason)), db_param_int64(next),
                                     db_param_int64(now)));
        if (r == 0)
                r = db_exec_params(s->d->db, "INSERT INTO compliance_history (at_ms, device_id, from_state, "
                                   "to_state, policy_id, setting, reason, risk_as_of_ns) "
                                   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                                   DB_PARAMS(db_param_int64(at_ms), db_param_text(id, strlen(id)),
                                             from ? db_param_text(from, strlen(from)) : db_param_null(),
                                             db_param_text(to, strlen(to)),
                                             pid ? db_param_text(pid, strlen(pid)) : db_param_null(),
                                             setting ? db_param_text(setting, strlen(setting)) : db_param_null(),
                                             db_param_text(o->reason, strlen(o->reason)),
                                             db_param_int64(risk->as_of)));
        return r;
}

/* Evaluates every policy assigned to the device into x->results; returns
 * their number. lock held (read). */
static size_t eval_policies(struct compliance_service *s, struct compliance_scratch *x, const char *id,
                            const struct compliance_facts *f, const struct compliance_tenant *t, int64_t now)
{
        size_t n = 0;

        for (size_t i = 0; i < s->n_policies; i++) {
                const struct compliance_entry *e = s->policies[i];
                const struct stored_result *st;

                if (!manage_assignment_applies(s->d, &e->assign, id))
                        continue;
                st = stored_find(x, e->id);
                compliance_evaluate(e->policy, f, t, now, st ? st->first_nc : 0, &x->results[n]);
                if (x->results[n].applies)
                        x->entries[n++] = e;
        }
        for (size_t k = 0; k < x->n_stored; k++)
                x->stored[k].kept = false;
        return n;
}

/* Evaluates one device and writes what changed. db lock held, in a
 * transaction. A device unknown or offboarded is left alone. */
static int eval_one(struct compliance_service *s, struct compliance_scratch *x, const char *id, int64_t now,
                    int64_t at_ms)
{
        struct compliance_device_result dr;
        struct connector_risk risk;
        struct compliance_facts f;
        struct compliance_tenant t;
        size_t n;
        int r;

        x->found = false;
        r = enroll_device_posture_each(s->d, id, posture_copy, x);
        if (r == -ENOENT || (r == 0 && x->offboarded)) {
                struct compliance_dev *e = map_get(&s->map, id);

                /* nothing more happens to it by itself */
                if (!e || !e->next_check)
                        return 0;
                e->next_check = 0;
                return db_exec_params(s->d->db, "UPDATE compliance_device_state SET next_check = 0 WHERE "
                                      "device_id = $1", DB_PARAMS(db_param_text(id, strlen(id))));
        }
        if (r == 0)
                r = stored_read(s, x, id);
        if (r < 0)
                return r;
        facts_fill(s, x, id, &f, &risk);
        pthread_rwlock_rdlock(&s->lock);
        t = s->tenant;
        n = eval_policies(s, x, id, &f, &t, now);
        compliance_device_state(x->results, n, &t, &f, now, &dr);
        for (size_t k = 0; r == 0 && k < n; k++)
                r = result_store(s, x, id, k, now);
        for (size_t k = 0; r == 0 && k < x->n_stored; k++)
                if (!x->stored[k].kept)
                        r = db_exec_params(s->d->db, "DELETE FROM compliance_results WHERE device_id = $1 AND "
                                           "policy_id = $2", DB_PARAMS(db_param_text(id, strlen(id)),
                                           db_param_text(x->stored[k].policy_id, strlen(x->stored[k].policy_id))));
        if (r == 0)
                r = device_store(s, x, id, &dr, &risk, now, at_ms);
        pthread_rwlock_unlock(&s->lock);
        return r;
}

json_t *compliance_live_results(struct compliance_service *s, const char *id)
{
        struct compliance_scratch *x = calloc(1, sizeof(*x));
        struct connector_risk risk;
        struct compliance_facts f;
        struct compliance_tenant t;
        json_t *arr = NULL;
        size_t n;
        int r;

        if (!x)
                return NULL;
        db_lock(s->d->db);
        r = enroll_device_posture_each(s->d, id, posture_copy, x);
        if (r == 0)
                r = stored_read(s, x, id);
        db_unlock(s->d->db);
        if (r == 0) {
                facts_fill(s, x, id, &f, &risk);
                arr = json_array();
                pthread_rwlock_rdlock(&s->lock);
                t = s->tenant;
                n = x->offboarded ? 0 : eval_policies(s, x, id, &f, &t, util_now());
                for (size_t k = 0; arr && k < n; k++) {
                        json_t *j = compliance_result_to_json(&x->results[k]);

                        if (j)
                                json_object_set_new(j, "policy_id", json_string(x->entries[k]->id));
                        if (!j || json_array_append_new(arr, j) < 0) {
                                json_decref(arr);
                                arr = NULL;
                        }
                }
                pthread_rwlock_unlock(&s->lock);
        }
        free(x);
        return arr;
}

/* Clears an action's bit so the next evaluation runs it again. */
static void action_undo(struct compliance_service *s, const struct outcome *o)
{
        db_lock(s->d->db);
        db_exec_params(s->d->db, "UPDATE compliance_results SET actions_done = actions_done & ~$3 "
                       "WHERE device_id = $1 AND policy_id = $2",
                       DB_PARAMS(db_param_text(o->device_id, strlen(o->device_id)),
                                 db_param_text(o->policy_id, strlen(o->policy_id)),
                                 db_param_int64((int64_t)1 << o->action_index)));
        db_unlock(s->d->db);
}

static void isolate_run(struct compliance_service *s, const struct outcome *o)
{
        char by[16 + COMPLIANCE_ID_LEN], comment[COMPLIANCE_DEVICE_REASON_MAX + COMPLIANCE_NAME_MAX + 64], id[37];
        int r;

        snprintf(by, sizeof(by), "policy:%s", o->policy_id);
        snprintf(comment, sizeof(comment), "compliance policy '%s' (action %zu): %s", o->policy_name,
                 o->action_index, o->reason);
        r = defend_action_request(s->d, o->device_id, "isolate", comment, by, o->policy_name, ISOLATE_TIMEOUT_S, id);
        if (r == 0 || r == -EBUSY) {
                log_info("compliance: policy '%s' isolates device %s: action %s%s", o->policy_name, o->device_id,
                         id, r == -EBUSY ? " (already open)" : "");
        } else if (r != -ESHUTDOWN && r != -ENOENT) {
                log_error("compliance: policy '%s' cannot isolate device %s: %s; tried again at its next "
                          "evaluation", o->policy_name, o->device_id, strerror(-r));
                action_undo(s, o);
        }
}

/* After the commit: memory, then compliance_changed, then the actions. */
static void outcomes_run(struct compliance_service *s, struct compliance_scratch *x)
{
        pthread_rwlock_wrlock(&s->lock);
        for (size_t i = 0; i < x->n_out; i++) {
                const struct outcome *o = &x->out[i];

                if (o->kind != OUT_CHANGED)
                        continue;
                if (map_get(&s->map, o->device_id) || (s->map.count < s->max &&
                                                        map_reserve(&s->map, s->map.count + 1) == 0))
                        map_put(&s->map, o->device_id, o->to, now_ms(), o->next_check, o->reason_hash);
        }
        pthread_rwlock_unlock(&s->lock);
        for (size_t i = 0; i < x->n_out; i++) {
                const struct outcome *o = &x->out[i];
                struct bus_event ev = { .device_id = o->device_id };

                if (o->kind == OUT_CHANGED || o->kind == OUT_REASON) {
                        ev.type = BUS_COMPLIANCE_CHANGED;
                        ev.compliance_changed.from = o->from < 0 ? NULL : compliance_state_name(o->from);
                        ev.compliance_changed.to = compliance_state_name(o->to);
                        ev.compliance_changed.policy_id = o->policy_id[0] ? o->policy_id : NULL;
                        ev.compliance_changed.setting = o->setting;
                        ev.compliance_changed.reason = o->reason;
                        /* a device's first state is no news: a fleet's first evaluation would
                         * log every device */
                        if (o->kind == OUT_REASON)
                                log_info("compliance: device %s still %s, now because: %s", o->device_id,
                                         ev.compliance_changed.to, o->reason);
                        else if (ev.compliance_changed.from)
                                log_info("compliance: device %s %s -> %s: %s", o->device_id,
                                         ev.compliance_changed.from, ev.compliance_changed.to, o->reason);
                        else
                                log_debug("compliance: device %s first evaluated %s: %s", o->device_id,
                                          ev.compliance_changed.to, o->reason);
                        bus_publish(s->d->bus, &ev);
                } else if (o->kind == OUT_NOTIFY) {
                        ev.type = BUS_COMPLIANCE_NOTIFY;
                        ev.compliance_notify.policy_id = o->policy_id;
                        ev.compliance_notify.policy_name = o->policy_name;
                        ev.compliance_notify.state = compliance_state_name(o->to);
                        ev.compliance_notify.reason = o->reason;
                        ev.compliance_notify.action_index = o->action_index;
                        ev.compliance_notify.after_hours = o->after_hours;
                        bus_publish(s->d->bus, &ev);
                } else {
                        isolate_run(s, o);
                }
        }
        x->n_out = 0;
}

/* Evaluates ids[0..n) (distinct) in one transaction, then publishes and acts. */
static void eval_batch(struct compliance_service *s, char (*ids)[COMPLIANCE_DEVICE_ID_MAX + 1], size_t n)
{
        struct compliance_scratch *x = s->scratch;
        int64_t now = util_now(), at_ms = now_ms();
        size_t i = 0;
        int r;

        x->n_out = 0;
        db_lock(s->d->db);
        r = db_begin(s->d->db);
        for (; r == 0 && i < n; i++)
                r = eval_one(s, x, ids[i], now, at_ms);
        r = db_finish(s->d->db, r);
        db_unlock(s->d->db);
        if (r < 0) {
                log_error("compliance: cannot store the evaluation of %zu devices (device %s): %s; they are "
                          "evaluated again", n, ids[i ? i - 1 : 0], strerror(-r));
                x->n_out = 0;
                for (i = 0; i < n; i++)
                        compliance_queue(s->d, ids[i]);
                pthread_mutex_lock(&s->qlock);
                s->backoff_until = now + RETRY_S;
                pthread_mutex_unlock(&s->qlock);
                return;
        }
        outcomes_run(s, x);
}

/* Takes up to max distinct ids off the queue into ids. If that empties it,
 * *ret_seq is the sequence number it settles, else 0. qlock held. */
static size_t queue_take(struct compliance_service *s, char (*ids)[COMPLIANCE_DEVICE_ID_MAX + 1], size_t max,
                         uint64_t *ret_seq)
{
        size_t n = 0;

        while (s->q_len && n < max) {
                const char *id = s->queue[s->q_head];
                bool dup = false;

                for (size_t i = 0; i < n && !dup; i++)
                        dup = strcmp(ids[i], id) == 0;
                if (!dup)
                        memcpy(ids[n++], id, COMPLIANCE_DEVICE_ID_MAX + 1);
                s->q_head = (s->q_head + 1) % s->q_cap;
                s->q_len--;
        }
        *ret_seq = s->q_len || s->q_all || s->all_running ? 0 : s->q_seq;
        return n;
}

static void settled(struct compliance_service *s, uint64_t seq)
{
        if (!seq)
                return;
        pthread_mutex_lock(&s->qlock);
        if (seq > s->done_seq)
                s->done_seq = seq;
        pthread_cond_broadcast(&s->settled);
        pthread_mutex_unlock(&s->qlock);
}

/* Evaluates what is queued for single devices, a batch at a time. */
static void eval_queued(struct compliance_service *s, char (*ids)[COMPLIANCE_DEVICE_ID_MAX + 1])
{
        for (;;) {
                uint64_t seq;
                size_t n;

                pthread_mutex_lock(&s->qlock);
                n = s->stop || s->backoff_until > util_now() ? 0 : queue_take(s, ids, BATCH_MAX, &seq);
                pthread_mutex_unlock(&s->qlock);
                if (!n)
                        return;
                eval_batch(s, ids, n);
                settled(s, seq);
        }
}

struct id_list {
        char (*ids)[COMPLIANCE_DEVICE_ID_MAX + 1];
        size_t n, cap;
};

static int id_collect(const struct enroll_device_posture *p, void *userdata)
{
        struct id_list *l = userdata;

        if (p->offboarded || strlen(p->id) > COMPLIANCE_DEVICE_ID_MAX)
                return 0;
        if (l->n == l->cap) {
                size_t cap = l->cap ? 2 * l->cap : 1024;
                void *ids = realloc(l->ids, cap * sizeof(*l->ids));

                if (!ids)
                        return -ENOMEM;
                l->ids = ids;
                l->cap = cap;
        }
        snprintf(l->ids[l->n++], COMPLIANCE_DEVICE_ID_MAX + 1, "%s", p->id);
        return 0;
}

/* Evaluates every onboarded device, a batch at a time, with what is queued
 * for single devices in between so that their latency stays low. */
static void eval_all(struct compliance_service *s, char (*ids)[COMPLIANCE_DEVICE_ID_MAX + 1])
{
        struct id_list l = { 0 };
        int r;

        db_lock(s->d->db);
        r = enroll_device_posture_each(s->d, NULL, id_collect, &l);
        db_unlock(s->d->db);
        if (r < 0) {
                log_error("compliance: cannot list the devices to evaluate: %s", strerror(-r));
                free(l.ids);
                return;
        }
        for (size_t i = 0; i < l.n && !s->stop; i += BATCH_MAX) {
                eval_batch(s, l.ids + i, l.n - i < BATCH_MAX ? l.n - i : BATCH_MAX);
                eval_queued(s, ids);
        }
        free(l.ids);
}

/* The devices whose next check has come, at most BATCH_MAX, into ids. */
static size_t due_take(struct compliance_service *s, char (*ids)[COMPLIANCE_DEVICE_ID_MAX + 1], int64_t now)
{
        struct db_stmt *st;
        size_t n = 0;

        db_lock(s->d->db);
        if (db_prepare(s->d->db, "SELECT device_id FROM compliance_device_state WHERE next_check > 0 AND "
                                 "next_check <= $1 ORDER BY next_check LIMIT $2", &st) == 0) {
                db_bind_int64(st, 1, now);
                db_bind_int64(st, 2, BATCH_MAX);
                while (n < BATCH_MAX && db_step(st) == 1)
                        snprintf(ids[n++], COMPLIANCE_DEVICE_ID_MAX + 1, "%s", db_column_text(st, 0, NULL));
                db_stmt_done(st);
        }
        db_unlock(s->d->db);
        return n;
}

/* The earliest next check of any device, 0 for none. */
static int64_t next_wake_read(struct compliance_service *s)
{
        struct db_stmt *st;
        int64_t t = 0;

        db_lock(s->d->db);
        if (db_prepare(s->d->db, "SELECT min(next_check) FROM compliance_device_state WHERE next_check > 0",
                       &st) == 0) {
                if (db_step(st) == 1 && !db_column_is_null(st, 0))
                        t = db_column_int64(st, 0);
                db_stmt_done(st);
        }
        db_unlock(s->d->db);
        return t;
}

/* Sleeps until something is queued, the next check comes, or stop. qlock held. */
static void eval_wait(struct compliance_service *s)
{
        int64_t now = util_now(), until = now + IDLE_WAIT_S;
        struct timespec ts = { 0 };

        if (s->next_wake && s->next_wake < until)
                until = s->next_wake;
        if (s->backoff_until > now)
                until = s->backoff_until;
        else if (s->q_len || s->q_all)
                return;
        ts.tv_sec = until;
        pthread_cond_timedwait(&s->wake, &s->qlock, &ts);
}

static void *eval_main(void *arg)
{
        struct compliance_service *s = arg;
        char (*ids)[COMPLIANCE_DEVICE_ID_MAX + 1] = calloc(BATCH_MAX, sizeof(*ids));

        if (!ids) {
                log_error("compliance: out of memory: devices are not evaluated");
                return NULL;
        }
        pthread_mutex_lock(&s->qlock);
        while (!s->stop) {
                int64_t now = util_now();
                uint64_t seq = 0;
                bool all = false;
                size_t n = 0;

                if (s->backoff_until <= now && s->q_all) {
                        all = true;
                        s->all_running = true;
                        s->q_all = false;
                        s->q_len = 0;
                        seq = s->q_seq;
                } else if (s->backoff_until > now || (!s->q_len && (!s->next_wake || s->next_wake > now))) {
                        eval_wait(s);
                        continue;
                }
                pthread_mutex_unlock(&s->qlock);
                if (all) {
                        eval_all(s, ids);
                        pthread_mutex_lock(&s->qlock);
                        s->all_running = false;
                        /* what was queued meanwhile is settled too if nothing is left */
                        if (!s->q_len && !s->q_all)
                                seq = s->q_seq;
                        pthread_mutex_unlock(&s->qlock);
                        settled(s, seq);
                } else {
                        eval_queued(s, ids);
                        n = s->next_wake && s->next_wake <= now ? due_take(s, ids, now) : 0;
                        if (n)
                                eval_batch(s, ids, n);
                }
                now = next_wake_read(s);
                pthread_mutex_lock(&s->qlock);
                s->next_wake = now;
        }
        pthread_mutex_unlock(&s->qlock);
        free(ids);
        return NULL;
}

/* ---- start and stop ---- */

static int tenant_load(struct compliance_service *s)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(s->d->db, "SELECT no_policy_state, validity_days, sensor_timeout_s FROM compliance_tenant "
                                 "WHERE id = 1", &st);
        if (r < 0)
                return r;
        s->tenant = COMPLIANCE_TENANT_DEFAULTS;
        if (db_step(st) == 1) {
                if (compliance_state_parse(db_column_text(st, 0, NULL), &s->tenant.no_policy_state) < 0)
                        s->tenant.no_policy_state = COMPLIANCE_NONCOMPLIANT;
                s->tenant.validity_days = (uint32_t)db_column_int64(st, 1);
                s->tenant.sensor_timeout_s = (uint32_t)db_column_int64(st, 2);
        }
        db_stmt_done(st);
        return 0;
}

static int entry_from_row(struct compliance_service *s, struct db_stmt *st)
{
        struct compliance_entry *e = calloc(1, sizeof(*e));
        const char *doc = db_column_text(st, 1, NULL);
        char err[COMPLIANCE_REASON_MAX];

        if (!e)
                return -ENOMEM;
        snprintf(e->id, sizeof(e->id), "%s", db_column_text(st, 0, NULL));
        if (!doc || compliance_policy_parse(doc, strlen(doc), &e->policy, err, sizeof(err)) < 0) {
                log_error("compliance: stored policy %s no longer compiles (%s): it is left out", e->id,
                          doc ? err : "no document");
                free(e);
                return 0;
        }
        e->version = db_column_int64(st, 2);
        e->created_at = db_column_int64(st, 3);
        snprintf(e->created_by, sizeof(e->created_by), "%s", db_column_text(st, 4, NULL));
        e->updated_at = db_column_int64(st, 5);
        snprintf(e->updated_by, sizeof(e->updated_by), "%s", db_column_text(st, 6, NULL));
        entry_assign(s, e);
        s->policies[s->n_policies++] = e;
        return 0;
}

static int policies_load(struct compliance_service *s)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(s->d->db, "SELECT id, document, version, created_at, created_by, updated_at, updated_by "
                                 "FROM compliance_policies ORDER BY created_at, id", &st);
        if (r < 0)
                return r;
        while ((r = db_step(st)) == 1 && s->n_policies < COMPLIANCE_POLICIES_MAX) {
                r = entry_from_row(s, st);
                if (r < 0)
                        break;
        }
        db_stmt_done(st);
        return r < 0 ? r : 0;
}

static int states_load(struct compliance_service *s)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(s->d->db, "SELECT device_id, state, since_ms, next_check, reason FROM compliance_device_state",
                       &st);
        if (r < 0)
                return r;
        while ((r = db_step(st)) == 1) {
                const char *id = db_column_text(st, 0, NULL);
                enum compliance_state state;

                if (!id || strlen(id) > COMPLIANCE_DEVICE_ID_MAX || s->map.count >= s->max)
                        continue;
                if (compliance_state_parse(db_column_text(st, 1, NULL), &state) < 0)
                        state = COMPLIANCE_UNKNOWN;
                r = map_reserve(&s->map, s->map.count + 1);
                if (r < 0)
                        break;
                map_put(&s->map, id, state, db_column_int64(st, 2), db_column_int64(st, 3),
                        util_str_hash(db_column_text(st, 4, NULL) ? db_column_text(st, 4, NULL) : ""));
        }
        db_stmt_done(st);
        return r < 0 ? r : 0;
}

static void device_json(struct vigild *d, const char *device_id, json_t *device, bool detail)
{
        int64_t since;
        enum compliance_state state = compliance_device_state_get(d, device_id, &since);

        json_object_set_new(device, "compliance_state", json_string(compliance_state_name(state)));
        if (detail) {
                char buf[21];

                if (since > 0) {
                        util_time_format(since / 1000, buf);
                        json_object_set_new(device, "compliance_since", json_string(buf));
                } else {
                        json_object_set_new(device, "compliance_since", json_null());
                }
        }
}

enum compliance_state compliance_device_state_get(struct vigild *d, const char *device_id, int64_t *ret_since_ms)
{
        struct compliance_service *s = d->compliance;
        enum compliance_state state = COMPLIANCE_NOT_EVALUATED;
        int64_t since = 0;

        if (s && device_id) {
                const struct compliance_dev *e;

                pthread_rwlock_rdlock(&s->lock);
                e = map_get(&s->map, device_id);
                if (e) {
                        state = (enum compliance_state)e->state;
                        since = e->since_ms;
                }
                pthread_rwlock_unlock(&s->lock);
        }
        if (ret_since_ms)
                *ret_since_ms = since;
        return state;
}

static struct compliance_service *service_new(struct vigild *d)
{
        struct compliance_service *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        s->d = d;
        s->max = d->cfg.max_devices ? d->cfg.max_devices : 1;
        s->q_cap = s->max < QUEUE_MAX ? s->max : QUEUE_MAX;
        s->queue = calloc(s->q_cap, sizeof(*s->queue));
        s->scratch = calloc(1, sizeof(*s->scratch));
        if (!s->queue || !s->scratch) {
                free(s->queue);
                free(s->scratch);
                free(s);
                return NULL;
        }
        pthread_mutex_init(&s->change, NULL);
        pthread_rwlock_init(&s->lock, NULL);
        pthread_mutex_init(&s->qlock, NULL);
        pthread_cond_init(&s->wake, NULL);
        pthread_cond_init(&s->settled, NULL);
        return s;
}

static int subscribe(struct vigild *d)
{
        static const enum bus_event_type device_events[] = { BUS_PARTNER_RISK_CHANGED, BUS_INVENTORY_CHANGED,
                                                             BUS_GROUPS_CHANGED, BUS_DEVICE_ENROLLED,
                                                             BUS_DEVICE_OFFBOARDED, BUS_EXPOSURE_CHANGED };
        int r = 0;

        for (size_t i = 0; r == 0 && i < sizeof(device_events) / sizeof(device_events[0]); i++)
                r = bus_subscribe(d->bus, device_events[i], on_device_event, d);
        if (r == 0)
                r = bus_subscribe(d->bus, BUS_CONNECTOR_CHANGED, on_connector_changed, d);
        return r;
}

int compliance_start(struct vigild *d, char *err, size_t err_size)
{
        struct compliance_service *s = service_new(d);
        int r;

        if (!s) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        d->compliance = s;
        db_lock(d->db);
        r = tenant_load(s);
        if (r == 0)
                r = policies_load(s);
        if (r == 0)
                r = states_load(s);
        db_unlock(d->db);
        if (r < 0) {
                snprintf(err, err_size, "cannot load the compliance policies and device states: %s",
                         r == -ENOMEM ? "out of memory" : db_errmsg(d->db));
                return r;
        }
        r = subscribe(d);
        if (r == 0)
                r = enroll_device_json_hook_add(d, device_json);
        if (r < 0) {
                snprintf(err, err_size, "cannot subscribe to the event bus: %s", strerror(-r));
                return r;
        }
        s->q_all = true;
        s->q_seq = 1;
        r = -pthread_create(&s->thread, NULL, eval_main, s);
        if (r < 0) {
                snprintf(err, err_size, "cannot start the compliance evaluator: %s", strerror(-r));
                return r;
        }
        s->running = true;
        log_info("compliance: %zu policies, %zu devices evaluated before", s->n_policies, s->map.count);
        return 0;
}

void compliance_stop(struct vigild *d)
{
        struct compliance_service *s = d->compliance;

        if (!s || !s->running)
                return;
        pthread_mutex_lock(&s->qlock);
        s->stop = true;
        pthread_cond_broadcast(&s->wake);
        pthread_cond_broadcast(&s->settled);
        pthread_mutex_unlock(&s->qlock);
        pthread_join(s->thread, NULL);
        pthread_mutex_lock(&s->qlock);
        s->running = false;
        pthread_mutex_unlock(&s->qlock);
}

void compliance_close(struct vigild *d)
{
        struct compliance_service *s = d->compliance;

        if (!s)
                return;
        compliance_stop(d);
        for (size_t i = 0; i < s->n_policies; i++)
                compliance_entry_free(s->policies[i]);
        free(s->map.slots);
        free(s->queue);
        if (s->scratch)
                free(s->scratch->out);
        free(s->scratch);
        pthread_cond_destroy(&s->settled);
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->qlock);
        pthread_rwlock_destroy(&s->lock);
        pthread_mutex_destroy(&s->change);
        free(s);
        d->compliance = NULL;
}

int compliance_device_states_each(struct vigild *d, compliance_state_fn fn, void *userdata)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, "SELECT device_id, state, reason FROM compliance_device_state", &st);
        if (r < 0)
                return r;
        while ((r = db_step(st)) == 1) {
                enum compliance_state s;

                if (compliance_state_parse(db_column_text(st, 1, NULL), &s) < 0)
                        s = COMPLIANCE_UNKNOWN;
                r = fn(db_column_text(st, 0, NULL), s, db_column_text(st, 2, NULL), userdata);
                if (r < 0)
                        break;
        }
        db_stmt_done(st);
        return r < 0 ? r : 0;
}
