/* detect: the agent's detection — Sigma rules and built-in detectors over
 * the sensor's events, raising folded alerts.
 *
 * Rules are loaded from files and directories into a sigma ruleset built on
 * detect_schema (the agent's event fields, product "linux", the categories
 * of enum event_category) and compiled into one matcher. For each event the
 * fields its category's rules read are filled (event_fields.h: lazily, no
 * allocation), the matcher runs, the built-in detectors (detect_builtin.c)
 * see the event, and every match goes through the alert table (alert.h),
 * which folds repeats. What comes out is handed to a callback. The field
 * ids of detect_schema are the values of enum event_field; its category
 * ids, those of enum event_category. docs/DETECTION.md is the user's view. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/src/alert.h"
#include "agent/src/event.h"
#include "agent/src/event_fields.h"
#include "agent/src/proctable.h"
#include "sigma/sigma.h"

/* The agent's events as Sigma sees them: product "linux", fields
 * event_field_names, categories event_category_names. */
extern const struct sigma_schema detect_schema;

/* Room detect_event_from_json() needs in buf for the decimal text of every
 * numeric field of an event. */
#define DETECT_JSON_BUF_MIN 4096

/* Fills fields (detect_schema.n_fields entries) from one JSON event as
 * `vigil-agent events` prints it: each top-level scalar by its name;
 * strings as they are, numbers as decimal text and booleans as
 * "true"/"false", written into buf; null, arrays, objects and absent
 * fields get ptr NULL. For a process_access event without SourceImage,
 * SourceImage is Image. Strings point into event, which must outlive the
 * use of fields. Returns 0 and the category id of its "Category" in
 * *ret_category; -ENOENT when the event has no Category this schema knows
 * (fields are then unusable), -EINVAL when event is not an object, -ENOBUFS
 * when buf is too small. */
int detect_event_from_json(const json_t *event, struct sigma_str *fields, uint32_t *ret_category,
                           char *buf, size_t buf_size);

/* Adds the rules at path to rs: every .yml and .yaml file under it when it is a
 * directory, else the file itself. Returns the number of rules loaded, or a
 * negative errno when path cannot be read (-ENOENT, -EACCES, ...). */
int detect_rules_add(struct sigma_ruleset *rs, const char *path, sigma_diag_fn fn, void *userdata);

/* What loading counted, per outcome and per category. */
struct detect_load_stats {
        uint64_t loaded, unsupported, rejected;
        uint64_t loaded_by_category[EVENT_CATEGORY_COUNT];
};

/* Counts one diagnostic (loaded, unsupported or rejected) into st. */
void detect_load_stats_add(struct detect_load_stats *st, const struct sigma_diag *diag);

/* Sets st's loaded_by_category from the rules rs holds. */
void detect_load_stats_categories(struct detect_load_stats *st, const struct sigma_ruleset *rs);

/* Called for each alert detection emits: a new alert, or an update of one
 * emitted before (a repeat folded into it). The alert is valid during the
 * call only. */
typedef void (*detect_alert_fn)(const struct alert *a, enum alert_change change, void *userdata);

struct detect_config {
        const char *const *rule_paths;  /* files or directories */
        size_t n_rule_paths;
        const char *sensor;             /* the Sensor field of event JSON; outlives the detect */
        uint64_t fold_window_ns;        /* 0: ALERT_WINDOW_NS_DEFAULT */
        size_t alerts_max;              /* 0: ALERT_TABLE_MAX_DEFAULT */
        bool no_builtin;                /* leave out the built-in detectors */
        sigma_diag_fn diag_fn;          /* told of each rule loaded, unsupported or rejected; may be NULL */
        void *diag_userdata;
        detect_alert_fn alert_fn;
        void *alert_userdata;
};

/* What a detect has done so far. */
struct detect_stats {
        struct detect_load_stats load;
        uint64_t events;                /* events seen */
        uint64_t matched;               /* events that some rule or detector matched */
        uint64_t alerts_new, alerts_updated;
        uint64_t errors;                /* alerts that could not be built (ENOMEM) */
};

struct detect;

/* Loads the rules of cfg (reporting each through cfg->diag_fn), compiles
 * the matcher and sets up the built-in detectors. A rule path that cannot
 * be read is an error. Returns 0, or a negative errno with the reason in
 * err. */
int detect_new(const struct detect_config *cfg, struct detect **ret, char *err, size_t err_size);
void detect_free(struct detect *d);

/* Sets the Sensor field of the events detection writes into alerts (the
 * sensor is known only once opened, after the rules were loaded); the
 * string must outlive the detect. */
void detect_sensor_set(struct detect *d, const char *sensor);

/* Runs detection on one event. pt must already have been fed ev. Alerts go
 * to cfg->alert_fn. Returns the number of rules and detectors that matched
 * (>= 0). */
int detect_event(struct detect *d, const struct agent_event *ev, const struct proctable *pt);

/* Closes alerts whose fold window ended (call now and then). */
void detect_tick(struct detect *d, uint64_t now_mono_ns);

void detect_stats_get(const struct detect *d, struct detect_stats *ret);
