/* sigma: Sigma detection rules, loaded from YAML and compiled into a matcher.
 *
 * A caller describes the events it produces with a schema: the field names
 * its events carry and the logsource categories it emits (for one product,
 * "linux" for the agent). Rule files are loaded into a ruleset; a rule whose
 * logsource the caller does not produce is reported as unsupported, a rule
 * that breaks the specification is rejected with its file, line and reason;
 * neither stops the others from loading. The ruleset is then compiled into a
 * matcher that indexes rules by field and literal so that an event is tested
 * only against the rules it could match. Matching allocates nothing: the
 * scratch space lives in a struct sigma_scratch made once per thread.
 *
 * Semantics follow the Sigma specification v2.1: values are compared
 * case-insensitively (ASCII) unless `cased` or `re` say otherwise; `*` and
 * `?` are wildcards in plain values, `\*`, `\?` and `\\` their escapes; a
 * list of values is an OR (an AND with `all`); the keys of one map are an AND;
 * a list of maps is an OR; a list of plain strings is a keyword search over
 * every field of the event; condition precedence is `not` over `and` over
 * `or`. Every field value an event carries is text (numbers as their decimal
 * text, booleans as "true"/"false"); numeric modifiers parse it as a number.
 *
 * lib/ rules: no globals, no logging, no exit(); errors are negative errno
 * values with a message in struct sigma_diag. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Caps on outside input (rule files). A rule past one is rejected. */
#define SIGMA_FILE_MAX (1u << 20)           /* bytes of one rule file */
#define SIGMA_RULES_MAX 100000u             /* rules in one ruleset */
#define SIGMA_FIELDS_MAX 1024u              /* fields of a schema */
#define SIGMA_CATEGORIES_MAX 64u            /* categories of a schema */
#define SIGMA_REASON_MAX 256u               /* bytes of a diagnostic reason */

/* What the caller's events look like. The arrays must outlive the ruleset
 * and every matcher made from it. Field ids are indexes into `fields`;
 * category ids are indexes into `categories`. */
struct sigma_schema {
        const char *product;                    /* logsource product: "linux" */
        const char *const *fields;              /* field names, exact case */
        size_t n_fields;
        const char *const *categories;          /* logsource categories produced */
        size_t n_categories;
};

/* Sigma rule levels; values are stable. */
enum sigma_level {
        SIGMA_LEVEL_INFORMATIONAL = 1,
        SIGMA_LEVEL_LOW = 2,
        SIGMA_LEVEL_MEDIUM = 3,
        SIGMA_LEVEL_HIGH = 4,
        SIGMA_LEVEL_CRITICAL = 5,
};

/* The outcome of loading one rule (one YAML document). */
enum sigma_load_status {
        SIGMA_LOADED = 0,
        SIGMA_UNSUPPORTED = 1,          /* valid rule, logsource not produced by the schema */
        SIGMA_REJECTED = 2,             /* invalid, or uses what this engine does not implement */
};

/* A diagnostic: where and why. `line` is 1-based, 0 when not known. */
struct sigma_diag {
        enum sigma_load_status status;
        char file[256];                 /* as given to the loader, cut when longer */
        unsigned line;
        char reason[SIGMA_REASON_MAX];
};

/* Called once per rule document a load call meets (loaded, unsupported or
 * rejected), so that a caller can print or count them. */
typedef void (*sigma_diag_fn)(const struct sigma_diag *diag, void *userdata);

struct sigma_ruleset;
struct sigma_rule;
struct sigma_matcher;
struct sigma_scratch;

/* An event as the caller hands it to the matcher. fields[i] is the value of
 * schema field i; ptr == NULL means the event does not carry that field
 * (an empty string is ptr != NULL, len == 0). The text needs no NUL. */
struct sigma_str {
        const char *ptr;
        uint32_t len;
};

struct sigma_event {
        uint32_t category;                      /* index into schema categories */
        const struct sigma_str *fields;         /* schema n_fields entries */
};

/* --- rulesets ------------------------------------------------------------ */

/* A new, empty ruleset for events described by `schema` (copied by
 * reference: it must outlive the ruleset). Returns 0 or -ENOMEM, -EINVAL
 * (schema past the caps, duplicate field names). */
int sigma_ruleset_new(const struct sigma_schema *schema, struct sigma_ruleset **ret);
void sigma_ruleset_free(struct sigma_ruleset *rs);

/* Loads every rule document of `len` bytes of YAML at `buf`; `name` names it
 * in diagnostics. Each document is loaded, unsupported or rejected on its
 * own; `fn` (may be NULL) is called for each. Returns the number of rules
 * loaded (>= 0), or -E2BIG (input or ruleset past a cap), -ENOMEM; a bad
 * document is not an error of the call. */
int sigma_ruleset_add_buffer(struct sigma_ruleset *rs, const char *name,
                             const char *buf, size_t len, sigma_diag_fn fn, void *userdata);

/* The same for a file; an unreadable or oversized file is one rejection
 * (reported through fn) and returns 0. */
int sigma_ruleset_add_file(struct sigma_ruleset *rs, const char *path,
                           sigma_diag_fn fn, void *userdata);

/* Every *.yml and *.yaml file under `dir`, recursively, in sorted order
 * (hidden entries skipped, symlinks not followed). Returns rules loaded or
 * a negative errno when `dir` cannot be opened. */
int sigma_ruleset_add_dir(struct sigma_ruleset *rs, const char *dir,
                          sigma_diag_fn fn, void *userdata);

size_t sigma_ruleset_count(const struct sigma_ruleset *rs);
const struct sigma_rule *sigma_ruleset_rule(const struct sigma_ruleset *rs, size_t i);

/* Field id of `name` in the schema, or -ENOENT. */
int sigma_ruleset_field_id(const struct sigma_ruleset *rs, const char *name);

/* --- rules --------------------------------------------------------------- */

const char *sigma_rule_id(const struct sigma_rule *r);          /* "" when the rule has none */
const char *sigma_rule_title(const struct sigma_rule *r);
const char *sigma_rule_status(const struct sigma_rule *r);      /* "" when absent */
const char *sigma_rule_description(const struct sigma_rule *r); /* "" when absent */
const char *sigma_rule_file(const struct sigma_rule *r);
unsigned sigma_rule_line(const struct sigma_rule *r);           /* line of the document start */
enum sigma_level sigma_rule_level(const struct sigma_rule *r);  /* MEDIUM when the rule says none */
uint32_t sigma_rule_category(const struct sigma_rule *r);       /* schema category id */
size_t sigma_rule_tag_count(const struct sigma_rule *r);
const char *sigma_rule_tag(const struct sigma_rule *r, size_t i); /* as written: "attack.t1059.004" */
/* Fields the rule names that the schema does not have: the rule loads, but
 * such a field is never present in an event. Count and names. */
size_t sigma_rule_unknown_field_count(const struct sigma_rule *r);
const char *sigma_rule_unknown_field(const struct sigma_rule *r, size_t i);

const char *sigma_level_name(enum sigma_level l);       /* "informational", ... "critical" */

/* --- matching ------------------------------------------------------------ */

enum sigma_matcher_flags {
        /* Evaluate every rule of the event's category, without the index:
         * the baseline that benchmarks compare against. Same results. */
        SIGMA_MATCHER_NAIVE = 1 << 0,
};

/* Compiles the rules of `rs` into a matcher. The ruleset must outlive it and
 * must not gain rules while it exists. Returns 0, -ENOMEM, -E2BIG. */
int sigma_matcher_new(const struct sigma_ruleset *rs, unsigned flags, struct sigma_matcher **ret);
void sigma_matcher_free(struct sigma_matcher *m);

/* Whether any rule can read field `id` (so a caller may skip filling fields
 * no rule reads, such as an expensive command line). Keyword searches read
 * every field: when a rule of the category has keywords, every field is used. */
bool sigma_matcher_field_used(const struct sigma_matcher *m, uint32_t category, uint32_t field_id);

/* Per-thread scratch space for sigma_matcher_match(); sized once, for the
 * matcher given. */
int sigma_scratch_new(const struct sigma_matcher *m, struct sigma_scratch **ret);
void sigma_scratch_free(struct sigma_scratch *s);

/* Called for each rule that matches, in ruleset order. Return nonzero to
 * stop matching this event. */
typedef int (*sigma_match_fn)(const struct sigma_rule *rule, void *userdata);

/* Matches one event against every rule of its category. Calls fn for each
 * match; returns the number of matching rules reported (>= 0), or -EINVAL
 * for a category out of range. Allocates nothing. Field text longer than
 * the scratch's per-event budget (64 KiB in all) is matched on its first
 * bytes only. */
int sigma_matcher_match(const struct sigma_matcher *m, struct sigma_scratch *s,
                        const struct sigma_event *ev, sigma_match_fn fn, void *userdata);
