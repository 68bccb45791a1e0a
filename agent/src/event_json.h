/* event_json: an agent_event as a JSON object with Sigma's field names
 * (Image, CommandLine, ParentImage, DestinationIp, TargetFilename, ...) and
 * Vigil's own where Sigma has none; the process table supplies what the
 * event itself does not carry (parent, ancestors, the image of a process
 * that is not exec'ing). The values come from event_fields.c, which
 * detection reads too; this file only writes them as JSON. docs/EVENTS.md
 * lists every field.
 *
 * Also the small filter language of `vigil-agent events --filter`, which
 * matches those objects. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/src/event.h"
#include "agent/src/event_fields.h"
#include "agent/src/proctable.h"

struct event_json;

/* Creates a converter for events of the named sensor ("bpf", "cnproc"; it
 * becomes the field "Sensor"; the string must outlive the converter).
 * Returns NULL on ENOMEM. */
struct event_json *event_json_new(const char *sensor);
void event_json_free(struct event_json *ej);

/* Builds the JSON object of ev. pt (may be NULL) should already have been fed
 * ev, so that it knows the process and its parent. Returns 0 and the object
 * in *ret (the caller owns it: json_decref), or -ENOMEM. */
int event_json_build(struct event_json *ej, const struct agent_event *ev,
                     const struct proctable *pt, json_t **ret);

/* The user name of uid, as event_fields_user(). */
const char *event_json_user(struct event_json *ej, uint32_t uid);

/* The converter's field context, for a caller that also wants field values
 * of the events it converts (detection). */
struct event_fields *event_json_fields(struct event_json *ej);

/* ---- the --filter language ----
 *
 *   EXPR  := TERM { "," TERM }            every term must match
 *   TERM  := FIELD OP VALUE
 *   FIELD := [A-Za-z][A-Za-z0-9_]*        a top-level field of the object
 *   OP    := "=" (equal) | "~" (contains) | "!=" (not equal) | "!~" (does not contain)
 *   VALUE := any text; "\," is a comma, "\\" a backslash
 *
 * Numbers compare as their decimal text, booleans as "true"/"false". An
 * absent field matches only "!=" and "!~". */
#define EVENT_FILTER_TERMS_MAX 16
#define EVENT_FILTER_EXPR_MAX 1024
#define EVENT_FILTER_FIELD_MAX 64

enum event_filter_op { EVENT_FILTER_EQ, EVENT_FILTER_CONTAINS, EVENT_FILTER_NE, EVENT_FILTER_NOT_CONTAINS };

struct event_filter_term {
        const char *field;              /* points into buf */
        const char *value;              /* points into buf */
        size_t value_len;
        enum event_filter_op op;
};

struct event_filter {
        unsigned count;
        struct event_filter_term term[EVENT_FILTER_TERMS_MAX];
        char buf[EVENT_FILTER_EXPR_MAX + EVENT_FILTER_TERMS_MAX * 2];
};

/* Parses expr into f. Returns 0, or -EINVAL / -E2BIG with the reason in err
 * (f is then unusable). */
int event_filter_parse(struct event_filter *f, const char *expr, char *err, size_t err_size);

/* True if obj satisfies every term of f (an empty filter matches all). */
bool event_filter_match(const struct event_filter *f, const json_t *obj);
