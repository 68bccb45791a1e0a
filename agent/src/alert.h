/* alert: what detection raises, and the table that folds repeats.
 *
 * An alert names the rule that matched (a Sigma rule or a built-in
 * detector), its severity and ATT&CK techniques and tactics, the event that
 * triggered it, the process and its ancestors, and the network peer when
 * there is one. Repeats of the same rule on the same process tree fold into
 * the open alert (count and last seen change, the id stays) for a window
 * counted from the alert's first occurrence; after it a repeat opens a new
 * alert. "The same process tree" is the subject's parent (pid and start
 * time) when the process table knows it and it is not pid 1, else the
 * subject process itself: a script that runs the same suspicious command
 * ten times is one alert, two unrelated services started by init are two.
 * The table of open alerts is bounded; past its cap the alert seen least
 * recently is closed. docs/DETECTION.md describes the JSON. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sigma/sigma.h"

#define ALERT_ID_LEN 36                         /* a UUID as text */
#define ALERT_TECHNIQUES_MAX 16
#define ALERT_TECHNIQUE_LEN 16                  /* "T1059.004" and its NUL fit */
#define ALERT_TACTICS_MAX 14                    /* every ATT&CK enterprise tactic */
#define ALERT_WINDOW_NS_DEFAULT (10ull * 60 * 1000000000ull)
#define ALERT_TABLE_MAX_DEFAULT 1024u
#define ALERT_TEXT_MAX 1024                     /* bytes kept of a rule id or title */

/* The severities of DESIGN.md; values are stable. */
enum alert_severity {
        ALERT_SEVERITY_INFORMATIONAL = 1,
        ALERT_SEVERITY_LOW = 2,
        ALERT_SEVERITY_MEDIUM = 3,
        ALERT_SEVERITY_HIGH = 4,
};

/* Whether an emitted alert is new or a fold update of one emitted before. */
enum alert_change {
        ALERT_CHANGE_NEW = 1,
        ALERT_CHANGE_UPDATE = 2,
};

/* "informational", "low", "medium", "high". */
const char *alert_severity_name(enum alert_severity s);

/* A Sigma level as a severity: critical becomes high. */
enum alert_severity alert_severity_from_level(enum sigma_level level);

/* If tag is an ATT&CK technique ("attack.t1059", "attack.t1059.004", any
 * case), writes its id ("T1059", "T1059.004") into out and returns 0;
 * otherwise returns -EINVAL. out must hold ALERT_TECHNIQUE_LEN bytes. */
int alert_tag_technique(const char *tag, char out[static ALERT_TECHNIQUE_LEN]);

/* If tag is an ATT&CK tactic ("attack.privilege-escalation", or with '_'),
 * its name as MITRE writes it ("privilege-escalation"), else NULL. */
const char *alert_tag_tactic(const char *tag);

/* What raised an alert. Strings are copied. */
struct alert_rule {
        const char *id;                 /* the rule's id (a UUID); "" when it has none */
        const char *title;
        const char *source;             /* "sigma" or "builtin" */
        enum sigma_level level;
        const char *const *tags;        /* as written: "attack.t1105" */
        size_t n_tags;
};

/* The process an alert folds on (see the opening comment). */
struct alert_tree {
        uint32_t pid;
        uint64_t start_ticks;
};

/* When a detection happened: the event's clocks. */
struct alert_time {
        uint64_t mono_ns;               /* CLOCK_MONOTONIC: the fold window */
        int64_t wall_ns;                /* CLOCK_REALTIME: first_seen, last_seen */
};

/* What a new alert carries besides the rule; the alert takes each object
 * (NULL when there is none). */
struct alert_payload {
        const char *category;           /* Sigma category, static string */
        json_t *event;                  /* the triggering event */
        json_t *process;                /* the subject */
        json_t *ancestors;              /* its ancestors, parent first (array) */
        json_t *network;                /* the peer, for network events */
        json_t *evidence;               /* what a built-in detector adds */
};

/* Drops the payload's objects and empties it. */
void alert_payload_release(struct alert_payload *p);

struct alert {
        char id[ALERT_ID_LEN + 1];      /* random UUIDv4, kept when repeats fold */
        char *rule_id, *title, *rule_source;
        enum sigma_level level;
        enum alert_severity severity;
        char techniques[ALERT_TECHNIQUES_MAX][ALERT_TECHNIQUE_LEN];
        unsigned n_techniques;
        const char *tactics[ALERT_TACTICS_MAX];         /* static strings */
        unsigned n_tactics;
        struct alert_tree tree;
        struct alert_time first, last;
        uint64_t count;
        struct alert_payload payload;
};

struct alert_table;

/* A table of at most cap open alerts (0: ALERT_TABLE_MAX_DEFAULT) folding
 * repeats within window_ns (0: ALERT_WINDOW_NS_DEFAULT) of an alert's first
 * occurrence. Returns NULL on ENOMEM. */
struct alert_table *alert_table_new(size_t cap, uint64_t window_ns);
void alert_table_free(struct alert_table *t);

/* Folds one more occurrence of rule `rule_id` on `tree` at `at` into the
 * open alert, if there is one within the window: count and last seen are
 * updated and the alert is returned (owned by the table, valid until the
 * next call that changes it). Returns NULL when there is none. */
struct alert *alert_table_fold(struct alert_table *t, const char *rule_id,
                               const struct alert_tree *tree, const struct alert_time *at);

/* Opens a new alert (count 1) with a fresh random id; takes the objects of
 * payload whatever the outcome. When the table is full the alert seen least
 * recently is closed first. Returns 0 and the alert (owned by the table),
 * or -ENOMEM. */
int alert_table_open(struct alert_table *t, const struct alert_rule *rule,
                     const struct alert_tree *tree, const struct alert_time *at,
                     struct alert_payload *payload, struct alert **ret);

/* Closes the alerts whose window ended before now_mono_ns. Returns how many. */
size_t alert_table_expire(struct alert_table *t, uint64_t now_mono_ns);

/* Alerts open now; alerts closed early because the table was full. */
size_t alert_table_count(const struct alert_table *t);
uint64_t alert_table_evicted(const struct alert_table *t);

/* The alert as JSON (docs/DETECTION.md), with "change": "new" or "update".
 * Returns a new object (json_decref it) or NULL on ENOMEM. */
json_t *alert_to_json(const struct alert *a, enum alert_change change);

/* The alert's JSON as one line ending in '\n' (what `vigil-agent detect`
 * prints and `run` spools), into buf. Returns 0 and the length in
 * *ret_len, -E2BIG when it does not fit (ALERT_LINE_MAX is always enough)
 * or -ENOMEM. */
#define ALERT_LINE_MAX (4u << 20)
int alert_to_line(const struct alert *a, enum alert_change change, char *buf, size_t size,
                  size_t *ret_len);

/* One line of text for logs: `new high "TITLE" rule=ID id=ALERT_ID count=N
 * pid=PID image=IMAGE` (no newline), cut to size. */
void alert_summary(const struct alert *a, enum alert_change change, char *buf, size_t size);

/* Writes a random UUIDv4 (getrandom) as text into out. Returns 0 or a
 * negative errno. */
int alert_uuid_make(char out[static ALERT_ID_LEN + 1]);
