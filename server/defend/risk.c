/* defend risk: each device's risk level (the highest severity among its
 * unresolved alerts, docs/RISK.md), its timeline, the risk shown in the
 * device's JSON, and risk_changed on the bus. */
#include "server/defend/defend-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/bus.h"
#include "server/db/db.h"
#include "server/enroll/enroll.h"
#include "server/log.h"
#include "server/vigild.h"
#include "util/strutil.h"

#define TIMELINE_LIMIT_DEFAULT 100
#define TIMELINE_LIMIT_MAX 1000

enum defend_level defend_risk_get(struct vigild *d, const char *device_id)
{
        struct db_stmt *st;
        enum defend_level l = DEFEND_LEVEL_NONE;

        if (db_prepare(d->db, "SELECT risk_rank FROM defend_device_risk WHERE device_id = $1", &st) < 0)
                return l;
        db_bind_text(st, 1, device_id, strlen(device_id));
        if (db_step(st) == 1)
                l = (enum defend_level)db_column_int64(st, 0);
        db_stmt_done(st);
        return l >= DEFEND_LEVEL_NONE && l <= DEFEND_LEVEL_HIGH ? l : DEFEND_LEVEL_NONE;
}

int defend_risk_foreach(struct vigild *d, int (*fn)(const char *device_id, enum defend_level level,
                                                    int64_t changed_at, void *userdata), void *userdata)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, "SELECT device_id, risk_rank, changed_at FROM defend_device_risk", &st);
        while (r == 0 && (r = db_step(st)) == 1) {
                int64_t l = db_column_int64(st, 1);

                if (l < DEFEND_LEVEL_NONE || l > DEFEND_LEVEL_HIGH)
                        l = DEFEND_LEVEL_NONE;
                r = fn(db_column_text(st, 0, NULL), (enum defend_level)l, db_column_int64(st, 2), userdata);
        }
        db_stmt_done(st);
        return r < 0 ? r : 0;
}

static int risk_compute(struct vigild *d, const char *device_id, enum defend_level *ret)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, "SELECT coalesce(max(severity_rank), 0) FROM defend_alerts "
                              "WHERE device_id = $1 AND status <> 'resolved'", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, device_id, strlen(device_id));
        r = db_step(st);
        if (r == 1)
                *ret = (enum defend_level)db_column_int64(st, 0);
        db_stmt_done(st);
        return r == 1 ? 0 : r < 0 ? r : -EIO;
}

int defend_risk_update(struct vigild *d, const char *device_id, const json_t *alert_ids,
                       const char *by, struct defend_risk_change *ret)
{
        enum defend_level from = defend_risk_get(d, device_id), to;
        int64_t now = util_now();
        char *ids;
        int r;

        r = risk_compute(d, device_id, &to);
        if (r < 0 || to == from)
                return r;
        r = db_exec_params(d->db, "INSERT INTO defend_device_risk (device_id, risk, risk_rank, changed_at) "
                           "VALUES ($1, $2, $3, $4) ON CONFLICT (device_id) DO UPDATE SET "
                           "risk = excluded.risk, risk_rank = excluded.risk_rank, changed_at = excluded.changed_at",
                           DB_PARAMS(db_param_text(device_id, strlen(device_id)),
                                     db_param_text(defend_level_name(to), strlen(defend_level_name(to))),
                                     db_param_int64(to), db_param_int64(now)));
        if (r < 0)
                return r;
        ids = json_dumps(alert_ids, JSON_COMPACT);
        if (!ids)
                return -ENOMEM;
        r = db_exec_params(d->db, "INSERT INTO defend_device_timeline (device_id, at, kind, from_value, to_value, "
                           "alert_ids, by) VALUES ($1, $2, 'risk_changed', $3, $4, $5, $6)",
                           DB_PARAMS(db_param_text(device_id, strlen(device_id)), db_param_int64(now),
                                     db_param_text(defend_level_name(from), strlen(defend_level_name(from))),
                                     db_param_text(defend_level_name(to), strlen(defend_level_name(to))),
                                     db_param_text(ids, strlen(ids)), db_param_text(by, strlen(by))));
        free(ids);
        if (r == 0) {
                const json_t *v;
                size_t i;

                snprintf(ret->device_id, sizeof(ret->device_id), "%s", device_id);
                ret->from = from;
                ret->to = to;
                ret->changed = true;
                ret->n_alert_ids = 0;
                json_array_foreach(alert_ids, i, v)
                        if (ret->n_alert_ids < DEFEND_CHANGE_IDS_MAX)
                                snprintf(ret->alert_ids[ret->n_alert_ids++], DEFEND_ALERT_ID_LEN + 1, "%s",
                                         json_string_value(v));
                ret->alert_ids_more = json_array_size(alert_ids) > DEFEND_CHANGE_IDS_MAX;
        }
        return r;
}

void defend_risk_publish(struct vigild *d, const struct defend_risk_change *c)
{
        struct bus_event ev = { .type = BUS_RISK_CHANGED, .device_id = c->device_id };
        const char *ids[DEFEND_CHANGE_IDS_MAX];

        if (!c->changed)
                return;
        for (size_t i = 0; i < c->n_alert_ids; i++)
                ids[i] = c->alert_ids[i];
        ev.risk_changed.from = defend_level_name(c->from);
        ev.risk_changed.to = defend_level_name(c->to);
        ev.risk_changed.alert_ids = ids;
        ev.risk_changed.n_alert_ids = c->n_alert_ids;
        ev.risk_changed.alert_ids_more = c->alert_ids_more;
        log_info("device %s risk changed from %s to %s", c->device_id, ev.risk_changed.from, ev.risk_changed.to);
        bus_publish(d->bus, &ev);
}

/* The unresolved alerts of the top severity: why the device has its risk. */
static json_t *risk_reasons(struct vigild *d, const char *device_id, enum defend_level risk)
{
        json_t *arr = json_array();
        struct db_stmt *st;

        if (risk == DEFEND_LEVEL_NONE ||
            db_prepare(d->db, "SELECT id, title, severity, status, last_seen FROM defend_alerts "
                              "WHERE device_id = $1 AND status <> 'resolved' AND severity_rank = $2 "
                              "ORDER BY last_seen_ns DESC, id LIMIT $3", &st) < 0)
                return arr;
        db_bind_text(st, 1, device_id, strlen(device_id));
        db_bind_int64(st, 2, risk);
        db_bind_int64(st, 3, DEFEND_REASON_IDS_MAX);
        while (db_step(st) == 1)
                json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s}",
                        "alert_id", db_column_text(st, 0, NULL), "title", db_column_text(st, 1, NULL),
                        "severity", db_column_text(st, 2, NULL), "status", db_column_text(st, 3, NULL),
                        "last_seen", db_column_text(st, 4, NULL)));
        db_stmt_done(st);
        return arr;
}

void defend_device_json(struct vigild *d, const char *device_id, json_t *device, bool detail)
{
        enum defend_level risk;

        db_lock(d->db);
        risk = defend_risk_get(d, device_id);
        json_object_set_new(device, "risk_level", json_string(defend_level_name(risk)));
        if (detail)
                json_object_set_new(device, "risk_reasons", risk_reasons(d, device_id, risk));
        db_unlock(d->db);
}

/* GET /api/v1/devices/{id}/timeline?limit=100&offset=0, newest first */
void defend_handle_timeline(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0];
        uint64_t limit, offset;
        struct db_stmt *st;
        json_t *arr;
        int r;

        if (http_request_paging(req, TIMELINE_LIMIT_DEFAULT, TIMELINE_LIMIT_MAX, &limit, &offset, rep) < 0)
                return;
        if (!enroll_device_exists(d, id)) {
                http_reply_error(rep, 404, "device_not_found", "no device with id '%s'", id);
                return;
        }
        arr = json_array();
        db_lock(d->db);
        r = db_prepare(d->db, "SELECT at, kind, from_value, to_value, alert_ids, by FROM defend_device_timeline "
                              "WHERE device_id = $1 ORDER BY seq DESC LIMIT $2 OFFSET $3", &st);
        if (r == 0) {
                db_bind_text(st, 1, id, strlen(id));
                db_bind_int64(st, 2, (int64_t)limit);
                db_bind_int64(st, 3, (int64_t)offset);
                while ((r = db_step(st)) == 1) {
                        json_t *ids = json_loads(db_column_text(st, 4, NULL), 0, NULL);
                        char at[21];

                        util_time_format(db_column_int64(st, 0), at);
                        json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:o,s:s}", "at", at,
                                "kind", db_column_text(st, 1, NULL), "from", db_column_text(st, 2, NULL),
                                "to", db_column_text(st, 3, NULL),
                                "alert_ids", ids ? ids : json_array(),
                                "by", db_column_text(st, 5, NULL)));
                }
                db_stmt_done(st);
        }
        db_unlock(d->db);
        if (r < 0) {
                json_decref(arr);
                http_reply_error(rep, 500, "database_error", "cannot read the timeline");
                return;
        }
        http_reply_json(rep, 200, json_pack("{s:s,s:I,s:o}", "device_id", id,
                                            "count", (json_int_t)json_array_size(arr), "value", arr));
}
