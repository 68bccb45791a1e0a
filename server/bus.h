/* bus: vigild's in-process event bus. Modules publish typed events (an alert
 * raised, a device's risk changed, ...) and others subscribe, so that no
 * module calls into one that comes after it in the chain
 * alert_raised -> risk_changed -> compliance_changed.
 *
 * Synchronous: bus_publish() calls every subscriber of the event's type in
 * the publishing thread, in the order they subscribed. Publish after the
 * change is committed and without holding the database lock (a subscriber
 * may take it). Subscribe at start-up, before the server's threads run:
 * the subscriber list is not locked. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define BUS_SUBSCRIBERS_MAX 64

/* Event types; the numbers never change. */
enum bus_event_type {
        BUS_ALERT_RAISED = 1,           /* a new alert is stored */
        BUS_RISK_CHANGED = 2,           /* a device's risk level changed */
        BUS_COMPLIANCE_CHANGED = 3,     /* a device's compliance state changed, or only its reason (from == to) */
        BUS_CONNECTOR_CHANGED = 4,      /* the connector's state or settings changed: re-evaluate every device */
        BUS_PARTNER_RISK_CHANGED = 5,   /* the connector's partner reported a new risk level for a device */
        BUS_INVENTORY_CHANGED = 6,      /* a device's inventory upload is stored */
        BUS_DEVICE_ENROLLED = 7,        /* a device is onboarded */
        BUS_DEVICE_OFFBOARDED = 8,      /* a device is offboarded */
        BUS_GROUPS_CHANGED = 9,         /* the set of device groups a device is in changed */
        BUS_COMPLIANCE_NOTIFY = 10,     /* a compliance policy's notify action fell due for a device */
        BUS_DIRECTORY_CHANGED = 11,     /* users, user groups, their members or a primary user changed */
        BUS_TAGS_CHANGED = 12,          /* an admin replaced a device's tags */
        BUS_ACTION_CHANGED = 13,        /* a device action was requested or its status changed */
        BUS_ADVISORIES_CHANGED = 14,    /* an advisory feed was imported: re-match every device */
        BUS_EXPOSURE_CHANGED = 15,      /* a device's exposure level (vulnerabilities) changed */
};

struct bus_event {
        enum bus_event_type type;
        const char *device_id;          /* the device (NULL for connector_changed) */
        union {
                struct {
                        const char *alert_id;
                        const char *severity;
                        const char *title;      /* may be NULL */
                } alert_raised;
                struct {
                        const char *from, *to;  /* risk level names */
                        const char *const *alert_ids;   /* alerts whose change caused it (may be none) */
                        size_t n_alert_ids;
                        bool alert_ids_more;    /* more alerts caused it than are listed */
                } risk_changed;
                struct {
                        const char *from, *to;  /* state names; from NULL at the very first */
                        const char *partner;    /* "builtin" or "remote" */
                        const char *reason;     /* why the state is what it is ("" for enabled) */
                        bool settings_changed;  /* an admin changed the settings (the state may stay) */
                } connector_changed;
                struct {
                        const char *from, *to;  /* risk level names; from NULL when the partner had no data */
                } partner_risk_changed;
                struct {
                        const char *primary_user;       /* as its onboarding package names it, or NULL */
                } device_enrolled;
                struct {
                        const char *const *group_ids;   /* the groups it is in now */
                        size_t n_group_ids;
                } groups_changed;
                struct {
                        const char *from, *to;  /* compliance state names; from NULL at the first evaluation */
                        const char *policy_id;  /* the policy that decided the new state; NULL: a tenant rule */
                        const char *setting;    /* its deciding setting, or NULL */
                        const char *reason;     /* why, for people */
                } compliance_changed;
                struct {
                        const char *from, *to;  /* exposure level names; NULL: not assessed */
                } exposure_changed;
                struct {
                        const char *policy_id, *policy_name;
                        const char *state;      /* the policy's state for the device */
                        const char *reason;
                        size_t action_index;    /* in the policy's actions */
                        unsigned after_hours;
                } compliance_notify;
                struct {
                        const char *action_id, *action_type, *status;
                } action_changed;
        };
};

typedef void (*bus_handler_fn)(const struct bus_event *ev, void *userdata);

struct bus;

/* A bus with no subscribers (NULL on ENOMEM). bus_free(NULL) is fine. */
struct bus *bus_new(void);
void bus_free(struct bus *b);

/* Adds a subscriber to one event type. Returns 0, or -E2BIG past
 * BUS_SUBSCRIBERS_MAX. */
int bus_subscribe(struct bus *b, enum bus_event_type type, bus_handler_fn fn, void *userdata);

/* Calls every subscriber of ev->type. NULL b is fine (nothing happens). */
void bus_publish(struct bus *b, const struct bus_event *ev);
