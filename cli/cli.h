/* cli: what the commands of 'vigil' share. Each area of commands (alerts,
 * webhooks, ...) may live in a file of its own and is reached through
 * cli_areas[] in vigil.c: a noun, a function taking the verb and its
 * arguments, and its lines of the usage text. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct httpc;

struct cli {
        const char *server, *token, *ca;
        bool json;
        struct httpc *http;
};

/* A noun's commands: argv[0] is the verb. Returns the exit code; 2 after
 * printing the usage when the verb or its arguments are wrong. */
typedef int (*cli_area_fn)(struct cli *c, int argc, char **argv);

struct cli_area {
        const char *noun;
        cli_area_fn fn;
        const char *usage;              /* lines of the usage text, each "  noun verb ...\n" */
};

/* Makes c->http if not yet made. Returns 0, or 1 after printing why. */
int cli_connect(struct cli *c);
/* suppressions.c: vigil suppressions VERB ... */
int cli_suppressions(struct cli *c, int argc, char **argv);
extern const char cli_suppressions_usage[];

/* Sends a request with an optional JSON body; on the status want, *ret holds
 * the JSON body (may be NULL). Returns 0, or 1 after printing the error. */
int cli_call(struct cli *c, const char *method, const char *path, json_t *body, long want, json_t **ret);

/* As cli_call(), accepting either status want or want2. */
int cli_call_any(struct cli *c, const char *method, const char *path, json_t *body, long want, long want2,
                 json_t **ret);

/* Prints j indented. */
void cli_print_json(const json_t *j);

/* The string at key, or "-". */
const char *cli_str(const json_t *o, const char *key);

/* Prints resp's "value" array as a table of the given keys, or resp as JSON
 * with --json. */
void cli_print_values(const struct cli *c, const json_t *resp, const char *const *cols,
                      const char *const *keys, size_t n);

/* Prints "vigil: msg" (when msg is not NULL) and the usage text on stderr.
 * Returns 2, the exit status of a command used wrongly. */
int cli_usage_error(const char *usage, const char *msg);

/* true if argv[first..argc) are all "--json" (then c->json is set), false
 * if any other argument is there. */
bool cli_json_flag(struct cli *c, int argc, char **argv, int first);

/* An option of a command that writes a request body: --name sets the
 * member key of the body to the option's argument (CLI_OPT_ARG), to true
 * or false, or to the string text. */
enum cli_opt_kind { CLI_OPT_ARG, CLI_OPT_TRUE, CLI_OPT_FALSE, CLI_OPT_TEXT };

struct cli_body_opt {
        const char *name;
        enum cli_opt_kind kind;
        const char *key;
        const char *text;               /* CLI_OPT_TEXT */
};

#define CLI_BODY_OPTS_MAX 8

/* Reads the options in argv[first..argc) into body by opts (n of them, at
 * most CLI_BODY_OPTS_MAX) and --json (c->json), stopping at the first
 * argument that is not an option (optind says where). Returns 0, or 2
 * after getopt said which option it does not know. */
int cli_body_options(struct cli *c, int argc, char **argv, int first, const struct cli_body_opt *opts, size_t n,
                     json_t *body);

/* Reads the file at path as one JSON object of at most max bytes, without
 * duplicate keys; what names the document in messages ("a policy
 * document"). Returns the object (the caller's to json_decref()), or NULL
 * after saying why, naming the file and, for bad JSON, the line. */
json_t *cli_json_file_read(const char *path, size_t max, const char *what);

/* 1 if id can go in a URL path as an id; else 0 after saying so. */
int cli_valid_id(const char *id);

/* out = base?name=value&... for the values that are not NULL; each value
 * must need no URL encoding (letters, digits, - _ . :) and be at most 128
 * bytes. Returns 0, or -1 after printing why. */
int cli_query_build(char *out, size_t size, const char *base, const char *const *names, const char *const *vals,
                    size_t n);
/* webhooks.c: 'vigil webhooks ...' */
int cli_webhooks(struct cli *c, int argc, char **argv);
extern const char cli_webhooks_usage[];
/* connector.c: 'vigil connector ...' */
int cli_connector(struct cli *c, int argc, char **argv);
extern const char cli_connector_usage[];
/* groups.c: 'vigil groups ...' and 'vigil devices tag ID TAG...' */
int cli_groups(struct cli *c, int argc, char **argv);
int cli_devices_tag(struct cli *c, int argc, char **argv);
extern const char cli_groups_usage[];
/* users.c: 'vigil users ...', 'vigil user-groups ...', 'vigil devices primary-user ID USER' */
int cli_users(struct cli *c, int argc, char **argv);
int cli_user_groups(struct cli *c, int argc, char **argv);
int cli_devices_primary_user(struct cli *c, int argc, char **argv);
extern const char cli_users_usage[];
/* profiles.c: 'vigil profiles ...' */
int cli_profiles(struct cli *c, int argc, char **argv);
extern const char cli_profiles_usage[];
extern const char cli_user_groups_usage[];
/* policy.c: 'vigil policy ...', 'vigil compliance ...', 'vigil devices compliance ID' */
int cli_policy(struct cli *c, int argc, char **argv);
int cli_compliance(struct cli *c, int argc, char **argv);
int cli_devices_compliance(struct cli *c, int argc, char **argv);
extern const char cli_policy_usage[];
extern const char cli_compliance_usage[];
/* access.c: 'vigil access ...' */
int cli_access(struct cli *c, int argc, char **argv);
extern const char cli_access_usage[];
/* tvm.c: 'vigil tvm vulns|recommendations|tasks ...' */
int cli_tvm(struct cli *c, int argc, char **argv);
extern const char cli_tvm_usage[];
