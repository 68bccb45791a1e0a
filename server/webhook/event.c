/* webhook event: the event kinds a subscription may name, the body sent for
 * an event, the bus handler that turns each published event into stored
 * deliveries (it never sends anything itself: the delivery thread does), and
 * the module's start and stop. */
#include "server/webhook/webhook-internal.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/db/db.h"
#include "server/log.h"
#include "server/vigild.h"
#include "util/strutil.h"

static json_t *alert_raised_data(const struct bus_event *ev)
{
        return json_pack("{s:s?,s:s?}", "alert_id", ev->alert_raised.alert_id,
                         "severity", ev->alert_raised.severity);
}

static json_t *risk_changed_data(const struct bus_event *ev)
{
        json_t *ids = json_array();

        for (size_t i = 0; i < ev->risk_changed.n_alert_ids; i++)
                json_array_append_new(ids, json_string(ev->risk_changed.alert_ids[i]));
        return json_pack("{s:s?,s:s?,s:o,s:b}", "from", ev->risk_changed.from, "to", ev->risk_changed.to,
                         "alert_ids", ids, "alert_ids_more", ev->risk_changed.alert_ids_more);
}

static json_t *connector_changed_data(const struct bus_event *ev)
{
        return json_pack("{s:s?,s:s?,s:s?,s:s?,s:b}", "from", ev->connector_changed.from,
                         "to", ev->connector_changed.to, "partner", ev->connector_changed.partner,
                         "reason", ev->connector_changed.reason, "settings_changed",
                         ev->connector_changed.settings_changed);
}

static json_t *partner_risk_changed_data(const struct bus_event *ev)
{
        return json_pack("{s:s?,s:s?}", "from", ev->partner_risk_changed.from, "to", ev->partner_risk_changed.to);
}

static json_t *groups_changed_data(const struct bus_event *ev)
{
        json_t *ids = json_array();

        for (size_t i = 0; i < ev->groups_changed.n_group_ids; i++)
                json_array_append_new(ids, json_string(ev->groups_changed.group_ids[i]));
        return json_pack("{s:o}", "groups", ids);
}

static json_t *compliance_changed_data(const struct bus_event *ev)
{
        return json_pack("{s:s?,s:s?,s:s?,s:s?,s:s?}", "from", ev->compliance_changed.from,
                         "to", ev->compliance_changed.to, "policy_id", ev->compliance_changed.policy_id,
                         "setting", ev->compliance_changed.setting, "reason", ev->compliance_changed.reason);
}

static json_t *noncompliance_notify_data(const struct bus_event *ev)
{
        return json_pack("{s:s?,s:s?,s:s?,s:s?,s:I,s:I}", "policy_id", ev->compliance_notify.policy_id,
                         "policy_name", ev->compliance_notify.policy_name, "state", ev->compliance_notify.state,
                         "reason", ev->compliance_notify.reason, "action_index",
                         (json_int_t)ev->compliance_notify.action_index, "after_hours",
                         (json_int_t)ev->compliance_notify.after_hours);
}

/* Index k here is bit k of a subscription's event set and webhook_event_names[k]. */
const struct webhook_event_kind webhook_event_kinds[] = {
        { BUS_ALERT_RAISED, "alert_raised", alert_raised_data },
        { BUS_RISK_CHANGED, "risk_changed", risk_changed_data },
        { BUS_CONNECTOR_CHANGED, "connector_changed", connector_changed_data },
        { BUS_PARTNER_RISK_CHANGED, "partner_risk_changed", partner_risk_changed_data },
        { BUS_GROUPS_CHANGED, "groups_changed", groups_changed_data },
        { BUS_COMPLIANCE_CHANGED, "compliance_changed", compliance_changed_data },
        { BUS_COMPLIANCE_NOTIFY, "noncompliance_notify", noncompliance_notify_data },
        { 0, NULL, NULL },
};

const char *const webhook_event_names[] = { "alert_raised", "risk_changed", "connector_changed",
                                             "partner_risk_changed", "groups_changed", "compliance_changed",
                                             "noncompliance_notify", NULL };

_Static_assert(sizeof(webhook_event_kinds) / sizeof(webhook_event_kinds[0]) ==
               sizeof(webhook_event_names) / sizeof(webhook_event_names[0]), "one name per event kind");
_Static_assert(sizeof(webhook_event_names) / sizeof(webhook_event_names[0]) <= 32, "event sets are 32-bit");

json_t *webhook_body_new(const char *event_id, const char *type, int64_t at, const char *device_id, json_t *data)
{
        char time[21];

        util_time_format(at, time);
        return json_pack("{s:s,s:s,s:s,s:s?,s:o}", "id", event_id, "type", type, "time", time,
                         "device_id", device_id, "data", data ? data : json_object());
}

/* The bus handler: runs in the publishing thread, after the publisher's
 * commit and without its lock; stores and wakes, nothing more. */
static void on_event(const struct bus_event *ev, void *userdata)
{
        struct vigild *d = userdata;
        const struct webhook_event_kind *k;
        char event_id[WEBHOOK_ID_LEN + 1], *text;
        json_t *body;
        int r;

        if (!d->webhook)
                return;
        for (k = webhook_event_kinds; k->name && k->type != ev->type; k++)
                ;
        if (!k->name || crypto_uuid4(event_id) < 0)
                return;
        body = webhook_body_new(event_id, k->name, util_now(), ev->device_id, k->data(ev));
        text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        r = text ? webhook_enqueue(d, k->name, NULL, event_id, text, NULL) : -ENOMEM;
        if (r < 0)
                log_error("cannot queue the webhook deliveries of %s event %s (device %s): %s", k->name, event_id,
                          ev->device_id ? ev->device_id : "-", strerror(-r));
        else
                webhook_wake(d);
        free(text);
        json_decref(body);
}

int webhook_subscribe_bus(struct vigild *d)
{
        for (const struct webhook_event_kind *k = webhook_event_kinds; k->name; k++) {
                int r;

                assert(strcmp(k->name, webhook_event_names[k - webhook_event_kinds]) == 0);
                r = bus_subscribe(d->bus, k->type, on_event, d);
                if (r < 0)
                        return r;
        }
        return 0;
}

int webhook_start(struct vigild *d, char *err, size_t err_size)
{
        struct webhook *w = calloc(1, sizeof(*w));
        int r;

        if (!w) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        w->d = d;
        d->webhook = w;
        db_lock(d->db);
        r = webhook_pending_recount(d);
        db_unlock(d->db);
        if (r < 0) {
                snprintf(err, err_size, "cannot read the queue of webhook deliveries: %s", strerror(-r));
                return r;
        }
        r = webhook_subscribe_bus(d);
        if (r < 0) {
                snprintf(err, err_size, "cannot subscribe to the event bus: %s", strerror(-r));
                return r;
        }
        r = webhook_deliver_start(d, err, err_size);
        if (r == 0 && w->pending)
                log_info("webhook: %lld deliveries pending from before; resuming them", (long long)w->pending);
        return r;
}

void webhook_stop(struct vigild *d)
{
        if (!d->webhook)
                return;
        webhook_deliver_stop(d);
        free(d->webhook);
        d->webhook = NULL;
}
