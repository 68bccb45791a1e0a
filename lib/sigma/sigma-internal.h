/* sigma-internal: what the files of lib/sigma share, and what the fuzz
 * harnesses and unit tests reach past the public interface: the bounded
 * YAML document tree, the condition parser, compiled patterns and the
 * expression nodes a rule is compiled into. Not for other modules. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "sigma/sigma.h"

/* Caps on one rule document. */
#define SIGMA_YAML_DEPTH_MAX 32u        /* nesting of maps and lists */
#define SIGMA_YAML_NODES_MAX 65536u     /* nodes of one document */
#define SIGMA_SCALAR_MAX 65536u         /* bytes of one scalar */
#define SIGMA_COND_MAX 4096u            /* bytes of one condition */
#define SIGMA_COND_TOKENS_MAX 512u      /* tokens of one condition */
#define SIGMA_COND_DEPTH_MAX 32u        /* nesting of parentheses and `not` */
#define SIGMA_SELECTIONS_MAX 1024u      /* search identifiers of one rule */
#define SIGMA_RULE_NODES_MAX 65536u     /* expression nodes of one rule */
#define SIGMA_RULE_PATS_MAX 16384u      /* values of one rule */
#define SIGMA_VALUE_MAX 8192u           /* bytes of one value after its modifiers */
#define SIGMA_RE_MAX 4096u              /* bytes of one regular expression */
#define SIGMA_EXPAND_MAX 256u           /* values one value may expand into */
#define SIGMA_TITLE_MAX 256u            /* bytes of a title (the spec's limit) */
#define SIGMA_RE_MATCH_LIMIT 1000000u   /* PCRE2 match limit: past it, no match */
#define SIGMA_RE_DEPTH_LIMIT 10000u     /* PCRE2 backtracking depth limit */
#define SIGMA_SCRATCH_TEXT 65536u       /* bytes of field text matched per event */
#define SIGMA_ANCHOR_LIT_MAX 32u        /* bytes of an anchor literal */
#define SIGMA_ANCHORS_RULE_MAX 1024u    /* anchor atoms of one rule */

/* A field id that no event carries: a field the schema does not have. */
#define SIGMA_FIELD_ABSENT UINT32_MAX

/* An error while loading: 1-based line (0 unknown) and reason. */
struct sigma_err {
        unsigned line;
        char reason[SIGMA_REASON_MAX];
};

/* Formats a reason into err (cut to size); returns -EINVAL so that a
 * caller can `return sigma_err_set(...)`. */
int sigma_err_set(struct sigma_err *err, unsigned line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Grows *p (an array of elsize-byte elements, *cap allocated) to hold at
 * least need elements, never past max. Returns 0, -E2BIG or -ENOMEM. */
int sigma_grow(void **p, uint32_t *cap, uint32_t need, size_t elsize, uint32_t max);

/* --- bounded YAML tree -------------------------------------------------- */

enum sigma_ynode_type {
        SIGMA_YSCALAR = 0,
        SIGMA_YSEQ = 1,
        SIGMA_YMAP = 2,
};

/* One node. A scalar's text is doc->text + str (NUL-terminated, len
 * bytes); a list's items and a map's key/value pairs are doc->kids[first ..
 * first + n) (pairs: key, value, key, value ...; n counts the entries). */
struct sigma_ynode {
        uint8_t type;
        bool plain;             /* scalar written without quotes (may be null) */
        uint32_t line;          /* 1-based */
        uint32_t n;             /* scalar: bytes; list: items; map: pairs * 2 */
        uint32_t first;         /* scalar: offset in text; else index in kids */
};

struct sigma_ydoc {
        struct sigma_ynode *nodes;
        uint32_t n_nodes, cap_nodes;
        uint32_t *kids;
        uint32_t n_kids, cap_kids;
        char *text;
        uint32_t n_text, cap_text;
        uint32_t root;
        unsigned line;          /* line of the document start */
        /* builder state */
        uint32_t *stack;        /* open containers: node index */
        uint32_t *tmp;          /* children of open containers */
        uint32_t n_tmp, cap_tmp;
        uint32_t depth;
};

struct sigma_yparser;

/* A parser over len bytes at buf (which must outlive it). */
int sigma_yparser_new(const char *buf, size_t len, struct sigma_yparser **ret);
void sigma_yparser_free(struct sigma_yparser *yp);

/* Reads the next document into doc (reset first). Returns 1 with a
 * document, 2 with a bad document (err says why; after a YAML syntax
 * error the stream ends), 0 at the end of the stream, -ENOMEM. */
int sigma_yparser_next(struct sigma_yparser *yp, struct sigma_ydoc *doc, struct sigma_err *err);
void sigma_ydoc_release(struct sigma_ydoc *doc);

static inline const struct sigma_ynode *sigma_ydoc_node(const struct sigma_ydoc *d, uint32_t i)
{
        return &d->nodes[i];
}
static inline const char *sigma_ydoc_str(const struct sigma_ydoc *d, const struct sigma_ynode *n)
{
        return d->text + n->first;
}
/* The key node `key` of map node `map`, or NULL. */
const struct sigma_ynode *sigma_ydoc_key(const struct sigma_ydoc *d, const struct sigma_ynode *map,
                                         const char *key);
/* Value of key `key` in map node `map`, or NULL. */
const struct sigma_ynode *sigma_ydoc_get(const struct sigma_ydoc *d, const struct sigma_ynode *map,
                                         const char *key);
/* Whether a scalar is YAML's null: plain `null`, `Null`, `NULL`, `~` or empty. */
bool sigma_ynode_is_null(const struct sigma_ydoc *d, const struct sigma_ynode *n);

/* --- conditions ----------------------------------------------------------- */

enum sigma_cond_kind {
        SIGMA_C_ID = 0,         /* a = selection index */
        SIGMA_C_AND = 1,        /* kids[a .. a+n) */
        SIGMA_C_OR = 2,
        SIGMA_C_NOT = 3,        /* a = operand node */
        SIGMA_C_ONE_OF = 4,     /* sels[a .. a+n): selection indexes */
        SIGMA_C_ALL_OF = 5,
};

struct sigma_cond_node {
        uint8_t kind;
        uint32_t a, n;
};

struct sigma_cond {
        struct sigma_cond_node *nodes;
        uint32_t n_nodes, cap_nodes;
        uint32_t *kids;                 /* AND/OR operands and OF selections */
        uint32_t n_kids, cap_kids;
        uint32_t root;
};

/* Parses condition text against the rule's search identifiers `names`.
 * Returns 0 (ret holds the tree; release it with sigma_cond_release()),
 * -EINVAL with err->reason, -ENOMEM. */
int sigma_cond_parse(const char *text, size_t len, const char *const *names, size_t n_names,
                     struct sigma_cond *ret, struct sigma_err *err);
void sigma_cond_release(struct sigma_cond *c);

/* --- values and patterns ---------------------------------------------------- */

/* Tokens of a value being built: bytes 0..255 and these. */
#define SIGMA_T_STAR 256u       /* `*`: any text */
#define SIGMA_T_QMARK 257u      /* `?`: one character */
#define SIGMA_T_DASH 258u       /* windash: - / – — ― */

enum sigma_pat_kind {
        SIGMA_P_EXACT = 0,      /* lit */
        SIGMA_P_PREFIX = 1,
        SIGMA_P_SUFFIX = 2,
        SIGMA_P_CONTAINS = 3,
        SIGMA_P_GLOB = 4,       /* tok[0..len) */
        SIGMA_P_RE = 5,
        SIGMA_P_CIDR = 6,
        SIGMA_P_NUM = 7,        /* op: SIGMA_NUM_* */
        SIGMA_P_EXISTS = 8,     /* op: 1 exists, 0 absent */
        SIGMA_P_NULL = 9,       /* absent or empty */
        SIGMA_P_FIELDREF = 10,  /* op: EXACT PREFIX SUFFIX CONTAINS against field `ref` */
        SIGMA_P_TIME = 11,      /* part `unit` of a date, compared (op: SIGMA_NUM_*) with num */
};

enum { SIGMA_NUM_LT, SIGMA_NUM_LTE, SIGMA_NUM_GT, SIGMA_NUM_GTE, SIGMA_NUM_EQ };

/* A decimal number read from text, kept exactly: the value is
 * (neg ? -1 : 1) * 0.D * 10^exp, where D is the significant digits
 * int_d[0..n_int) then frac_d[0..n_frac) (no leading zero; no digits at all
 * for zero). A `whole` number (no point, no exponent, magnitude at most
 * UINT64_MAX) also has its magnitude in mag. The pointers are into the text
 * that was read, which must outlive the struct. */
struct sigma_num {
        const char *int_d, *frac_d;
        uint32_t n_int, n_frac;
        int64_t exp;
        uint64_t mag;
        bool neg, whole;
};

#define SIGMA_NUM_TEXT_MAX 63u  /* bytes of the longest text read as a number */

/* Reads len bytes of text as a decimal number: [+-] digits [. digits]
 * [e [+-] digits], digits on at least one side of the point, nothing else
 * (no spaces, no hexadecimal, no inf or nan). Returns whether it is one. */
bool sigma_num_parse(const char *s, size_t len, struct sigma_num *ret);

/* Compares two numbers exactly: <0, 0, >0. */
int sigma_num_cmp(const struct sigma_num *a, const struct sigma_num *b);

/* The parts of a date the time modifiers take. */
enum sigma_time_unit {
        SIGMA_TIME_MINUTE, SIGMA_TIME_HOUR, SIGMA_TIME_DAY, SIGMA_TIME_WEEK, SIGMA_TIME_MONTH, SIGMA_TIME_YEAR,
};

/* Reads len bytes of text as a date, YYYY-MM-DD, `T` (or `t` or a space),
 * HH:MM:SS, an optional fraction of a second, an optional `Z` or +hh:mm /
 * -hh:mm; stores its part `unit` as written (no time zone conversion; the
 * week is the ISO 8601 week number, 1..53). Returns false when the text is
 * not such a date (or names a day that does not exist). */
bool sigma_date_part(const char *s, size_t len, enum sigma_time_unit unit, uint32_t *ret);

struct sigma_pat {
        uint8_t kind;
        bool cased;             /* compare against the original text */
        uint8_t op;
        uint8_t cidr_bits;
        uint8_t cidr_family;    /* 4 or 6 */
        uint32_t len;           /* bytes of lit, tokens of tok */
        char *lit;              /* EXACT..CONTAINS; lowercase unless cased */
        uint16_t *tok;          /* GLOB */
        pcre2_code *re;
        uint8_t cidr_addr[16];
        uint8_t unit;           /* TIME: enum sigma_time_unit */
        struct sigma_num num;   /* NUM, TIME: the value (its digits in lit) */
        uint32_t ref;           /* FIELDREF: field id or SIGMA_FIELD_ABSENT */
};

void sigma_pat_release(struct sigma_pat *p);

/* The text of one field for matching: orig as the event has it, low its
 * ASCII-lowercase copy; both len bytes. */
struct sigma_view {
        const char *orig;
        const char *low;
        uint32_t len;
        bool present;
};

/* Whether a present field's text matches a value pattern (not EXISTS,
 * NULL, FIELDREF, which need the event: see the matcher). */
bool sigma_pat_match_text(const struct sigma_pat *p, const struct sigma_view *v,
                          pcre2_match_data *md, pcre2_match_context *mctx);

/* Glob match of tokens against text (already lowercased when needed). */
bool sigma_glob_match(const uint16_t *tok, uint32_t n, const char *s, uint32_t len);

/* --- compiled rules ----------------------------------------------------------- */

enum sigma_node_kind {
        SIGMA_N_AND = 0,        /* kids[a .. a+n) */
        SIGMA_N_OR = 1,
        SIGMA_N_NOT = 2,        /* a = operand */
        SIGMA_N_TRUE = 3,
        SIGMA_N_FALSE = 4,
        SIGMA_N_MATCH = 5,      /* field, a = pattern */
        SIGMA_N_KEYWORD = 6,    /* a = pattern, tried on every present field */
};

struct sigma_node {
        uint8_t kind;
        uint32_t field;
        uint32_t a, n;
};

struct sigma_rule {
        char *id, *title, *status, *description, *file;
        unsigned line;
        unsigned id_line;
        enum sigma_level level;
        uint32_t category;
        char **tags;
        size_t n_tags;
        char **unknown;
        size_t n_unknown;
        struct sigma_node *nodes;
        uint32_t n_nodes, cap_nodes;
        uint32_t *kids;
        uint32_t n_kids, cap_kids;
        struct sigma_pat *pats;
        uint32_t n_pats, cap_pats;
        uint32_t root;
        bool has_keywords;
        enum sigma_load_status load_status; /* LOADED or UNSUPPORTED after a build */
};

void sigma_rule_free(struct sigma_rule *r);

struct sigma_ruleset {
        const struct sigma_schema *schema;
        struct sigma_rule **rules;
        uint32_t n_rules, cap_rules;
        /* open-addressing set of loaded rule ids (indexes + 1 into rules) */
        uint32_t *ids;
        uint32_t cap_ids;
        /* open-addressing map of field names to ids + 1 */
        uint32_t *fieldmap;
        uint32_t cap_fieldmap;
};

/* Builds one rule from a document. Returns SIGMA_LOADED with *ret set,
 * SIGMA_UNSUPPORTED or SIGMA_REJECTED with err filled (nothing kept), or
 * -ENOMEM. */
int sigma_rule_build(const struct sigma_ruleset *rs, const struct sigma_ydoc *doc,
                     const char *file, struct sigma_rule **ret, struct sigma_err *err);

/* Field id of a name of len bytes, or SIGMA_FIELD_ABSENT. */
uint32_t sigma_ruleset_field_lookup(const struct sigma_ruleset *rs, const char *name, size_t len);

/* --- compiling a rule's detection ---------------------------------------------- */

enum sigma_mod_bit {
        SIGMA_M_CONTAINS, SIGMA_M_STARTSWITH, SIGMA_M_ENDSWITH, SIGMA_M_ALL, SIGMA_M_CASED,
        SIGMA_M_RE, SIGMA_M_RE_I, SIGMA_M_RE_M, SIGMA_M_RE_S, SIGMA_M_CIDR, SIGMA_M_EXISTS,
        SIGMA_M_NEQ, SIGMA_M_FIELDREF, SIGMA_M_WINDASH, SIGMA_M_BASE64, SIGMA_M_BASE64OFFSET,
        SIGMA_M_LT, SIGMA_M_LTE, SIGMA_M_GT, SIGMA_M_GTE,
        SIGMA_M_UTF16LE, SIGMA_M_UTF16BE, SIGMA_M_UTF16, SIGMA_M_WIDE,
        SIGMA_M_MINUTE, SIGMA_M_HOUR, SIGMA_M_DAY, SIGMA_M_WEEK, SIGMA_M_MONTH, SIGMA_M_YEAR,
        SIGMA_M_COUNT
};
_Static_assert(SIGMA_M_COUNT <= 32, "modifier bits must fit struct sigma_mods.bits");

/* A key `Field|mod|mod`: the field name and the modifiers, with the
 * transformations in the order written. */
struct sigma_mods {
        const char *field;
        size_t field_len;
        uint32_t bits;          /* 1 << enum sigma_mod_bit */
        uint8_t xf[8];
        uint8_t n_xf;
};

/* Parses a key of len bytes; -EINVAL with err for an unknown, unsupported
 * or conflicting modifier. */
int sigma_mods_parse(const char *key, size_t len, unsigned line, struct sigma_mods *m,
                     struct sigma_err *err);

/* A rule being compiled. */
struct sigma_build {
        const struct sigma_ruleset *rs;
        struct sigma_rule *r;
        const struct sigma_ydoc *d;
        struct sigma_err *err;
        uint32_t field;         /* field id of the key being compiled */
};

/* A short-lived list of node indexes. */
struct sigma_tmp {
        uint32_t *v;
        uint32_t n, cap;
};

/* Field id of name (len bytes); an unknown name is recorded in the rule
 * and gives SIGMA_FIELD_ABSENT. Returns 0, -EINVAL, -ENOMEM. */
int sigma_build_field(struct sigma_build *b, const char *name, size_t len, unsigned line, uint32_t *ret);

/* Adds a match node for pattern p (taken, released on failure) on
 * b->field, or a keyword node; appends its index to out. */
int sigma_build_match(struct sigma_build *b, struct sigma_pat *p, bool keyword, struct sigma_tmp *out);

/* Compiles one scalar value (s, len bytes) under modifiers m into match
 * nodes appended to out (several when a modifier expands the value). */
int sigma_value_compile(struct sigma_build *b, const struct sigma_mods *m, bool keyword,
                        const char *s, size_t len, unsigned line, struct sigma_tmp *out);

/* exists and null values: appends their node to out and returns 0; returns
 * 1 when v is neither, -EINVAL on a bad one. */
int sigma_value_special(struct sigma_build *b, const struct sigma_mods *m, const struct sigma_ydoc *d,
                        const struct sigma_ynode *v, struct sigma_tmp *out);

/* Literal test of kind EXACT/PREFIX/SUFFIX/CONTAINS. */
bool sigma_lit_match(uint8_t kind, const char *t, uint32_t len, const char *lit, uint32_t n);

/* --- multi-pattern automata ------------------------------------------------------ */

enum sigma_dfa_mode {
        SIGMA_DFA_AC = 0,       /* Aho-Corasick: every occurrence anywhere */
        SIGMA_DFA_TRIE = 1,     /* anchored at the start: prefixes of the text */
};

struct sigma_dfa;

/* Builds an automaton over n literals (lits[i], lens[i] bytes, each > 0);
 * literal i reports output i. Returns 0, -ENOMEM, -E2BIG. */
int sigma_dfa_new(enum sigma_dfa_mode mode, const char *const *lits, const uint32_t *lens,
                  uint32_t n, struct sigma_dfa **ret);
void sigma_dfa_free(struct sigma_dfa *d);
size_t sigma_dfa_bytes(const struct sigma_dfa *d);

/* Called for each literal found: id and the offset just past its end (for
 * TRIE run backwards, the offset of its first byte). */
typedef void (*sigma_dfa_hit_fn)(uint32_t id, uint32_t end, void *userdata);

/* Runs over len bytes: AC reports every occurrence; TRIE reports the
 * literals that are prefixes of the text. `reverse` walks the text from its
 * end (a TRIE built over reversed literals then finds suffixes). */
void sigma_dfa_run(const struct sigma_dfa *d, const char *s, uint32_t len, bool reverse,
                   sigma_dfa_hit_fn fn, void *userdata);

/* --- the matcher's index ------------------------------------------------------------ */

struct sigma_index;

/* Indexes n_rules rules of one category (ruleset indexes in `rules`, bit i
 * of a candidate set standing for rules[i]). Returns 0, -ENOMEM, -E2BIG. */
int sigma_index_new(const struct sigma_ruleset *rs, const uint32_t *rules, uint32_t n_rules,
                    struct sigma_index **ret);
void sigma_index_free(struct sigma_index *ix);

/* Rules that must be evaluated on every event (no anchor set). */
const uint64_t *sigma_index_always(const struct sigma_index *ix);

/* Sets in cand the rules an event may match: views[f] for every schema
 * field, fields[0..n) the ones the category reads. */
void sigma_index_scan(const struct sigma_index *ix, const struct sigma_view *views, const uint32_t *fields,
                      uint32_t n, uint64_t *cand);

/* Statistics for tests and benchmarks: anchored rules, atoms, table bytes. */
void sigma_index_stats(const struct sigma_index *ix, uint32_t *ret_always, uint32_t *ret_atoms,
                       size_t *ret_bytes);

/* Evaluates one rule on an event's views (the whole rule, no index). */
bool sigma_rule_eval(const struct sigma_rule *r, const struct sigma_view *views, const uint32_t *fields,
                     uint32_t n_fields, pcre2_match_data *md, pcre2_match_context *mctx);
