/* access policy: the conditional access policy engine. Parses and checks
 * named locations and policy documents as an admin sends them (every refusal
 * names the field by its path and says what it must be), and evaluates a
 * set of policies against one request: which apply, whether each grant is
 * satisfied, and the decision (200, 401 or 403). Pure: no database, no HTTP,
 * no threads, no lock; group membership, the device's facts and its
 * compliance are resolved by the caller. Evaluation allocates nothing and
 * may run in any number of threads at once (fuzzed). docs/ACCESS.md has the
 * document format and the decision rules. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/manage/expr.h"

#define ACCESS_DOC_MAX 65536            /* bytes of one policy or location document */
#define ACCESS_NAME_MAX 128             /* policy names and location ids, bytes */
#define ACCESS_ID_MAX 256               /* user and group ids and UPNs, bytes */
#define ACCESS_USERS_MAX 256            /* entries in users.include, and in users.exclude */
#define ACCESS_APPS_MAX 64              /* entries in applications.include */
#define ACCESS_HOST_MAX 253
#define ACCESS_PATH_MAX 1024
#define ACCESS_LOCATION_RANGES_MAX 256  /* ranges in one named location */
#define ACCESS_POLICY_RANGES_MAX 4096   /* ranges a policy's locations bring, all together */
#define ACCESS_LOCATION_REFS_MAX 64     /* entries in locations.include, and in .exclude */

/* Fixed values: they reach the access log. */
enum access_state {
        ACCESS_STATE_ENABLED = 0,
        ACCESS_STATE_DISABLED = 1,
        ACCESS_STATE_REPORT_ONLY = 2,
};

enum access_result {
        ACCESS_RESULT_SUCCESS = 0,
        ACCESS_RESULT_FAILURE = 1,
        ACCESS_RESULT_NOT_APPLIED = 2,
        ACCESS_RESULT_REPORT_ONLY_SUCCESS = 3,
        ACCESS_RESULT_REPORT_ONLY_FAILURE = 4,
        ACCESS_RESULT_REPORT_ONLY_NOT_APPLIED = 5,
};

/* What a failing policy lacked. */
enum access_control {
        ACCESS_CONTROL_NONE = 0,
        ACCESS_CONTROL_BLOCK = 1,               /* the grant is block */
        ACCESS_CONTROL_COMPLIANT_DEVICE = 2,    /* the device is not compliant */
        ACCESS_CONTROL_ENROLLED_DEVICE = 3,     /* the device is not enrolled */
        ACCESS_CONTROL_DEVICE_IDENTITY = 4,     /* the policy needs a device the request lacks */
        ACCESS_CONTROL_USER_IDENTITY = 5,       /* the policy needs a user the request lacks */
};

/* An IPv4 (family 4, the first 4 bytes) or IPv6 (family 6) address; family
 * 0 is "unknown". */
struct access_ip {
        uint8_t family;
        uint8_t addr[16];
};

struct access_range {
        struct access_ip net;
        uint8_t prefix;                 /* 0..32 or 0..128 */
};

/* A named location: {"id": "office", "ranges": ["10.0.0.0/8", ...],
 * "trusted": true}. */
struct access_location {
        char id[ACCESS_NAME_MAX + 1];
        bool trusted;
        size_t n_ranges;
        struct access_range ranges[ACCESS_LOCATION_RANGES_MAX];
};

/* One request as the caller resolved it. Strings are NUL-terminated and
 * borrowed; NULL or "" means absent. groups holds n_groups group ids the
 * user belongs to. facts is NULL when the request carries no verified
 * device. */
struct access_request {
        const char *user_id;
        const char *user_upn;
        const char *const *groups;
        size_t n_groups;
        const struct manage_device_facts *facts;
        bool enrolled;                  /* the device is enrolled (not offboarded or revoked) */
        bool compliant;                 /* its state is compliant or in_grace_period */
        struct access_ip client_ip;
        const char *method;
        const char *host;               /* without the port */
        const char *path;
};

/* The decision. policy is the index of the first enforced policy that
 * failed (SIZE_MAX when none did), control what it lacked. */
struct access_decision {
        int status;                     /* 200, 401 or 403 */
        size_t policy;
        enum access_control control;
};

struct access_policy;

/* "success", "failure", "not_applied", "report_only_success",
 * "report_only_failure", "report_only_not_applied"; NULL if out of range. */
const char *access_result_name(enum access_result r);

/* "enabled", "disabled", "report_only"; NULL if out of range. */
const char *access_state_name(enum access_state s);

/* "none", "block", "compliant_device", "enrolled_device", "device_identity",
 * "user_identity"; NULL if out of range. */
const char *access_control_name(enum access_control c);

/* Parses an IPv4 or IPv6 address in text (s, NUL-terminated). Returns 0 and
 * fills *ret, or -EINVAL. */
int access_ip_parse(const char *s, struct access_ip *ret);

/* Parses and checks a named location document of len bytes. On success
 * fills *ret and returns 0; -EINVAL with "path: reason" in err; -E2BIG past
 * ACCESS_DOC_MAX or the range bound. */
int access_location_parse(const char *doc, size_t len, struct access_location *ret, char *err, size_t err_size);

/* Parses and checks a policy document of len bytes. Location ids named in
 * conditions.locations must be among the n_locations locations given (their
 * ranges are copied into the policy, which does not keep the pointers).
 * The device filter is compiled here. On success *ret owns the policy (free
 * it with access_policy_free()). Returns 0; -EINVAL with "path: reason" in
 * err; -E2BIG past a bound; -ENOMEM. */
int access_policy_parse(const char *doc, size_t len, const struct access_location *locations, size_t n_locations,
                        struct access_policy **ret, char *err, size_t err_size);

/* NULL is fine. */
void access_policy_free(struct access_policy *p);

/* The policy's name (owned by the policy) and state. */
const char *access_policy_name(const struct access_policy *p);
enum access_state access_policy_state(const struct access_policy *p);

/* Evaluates one policy against a request: its result, and in *ret_control
 * (may be NULL) what it lacked when it failed (ACCESS_CONTROL_NONE
 * otherwise). Allocates nothing. */
enum access_result access_policy_eval(const struct access_policy *p, const struct access_request *req,
                                      enum access_control *ret_control);

/* Evaluates n policies in order, writing each result into results[i]
 * (results may be NULL), and returns the decision: 200 when every enforced
 * policy that applies is satisfied (or none applies); otherwise the first
 * enforced failure decides: 401 when it lacked a device or user identity,
 * 403 for anything else. Report-only policies never change the decision.
 * Allocates nothing. */
struct access_decision access_evaluate(const struct access_policy *const *policies, size_t n,
                                       const struct access_request *req, enum access_result *results);

/* An index of n policies by the hosts of their applications, so that a
 * decision evaluates only the policies that can apply to the request's
 * host (those for every application and those naming the host) and gives
 * the others their "not applied" result at once. Read-only once built:
 * threads may share it. The policies must outlive it. */
struct access_policy_index;

/* Builds the index of policies[0..n). Returns 0 with *ret, or -ENOMEM. */
int access_policy_index_build(const struct access_policy *const *policies, size_t n,
                              struct access_policy_index **ret);

/* NULL is fine. */
void access_policy_index_free(struct access_policy_index *x);

/* The same decision and results as access_evaluate() over the policies x
 * was built from (results may be NULL). Allocates nothing. */
struct access_decision access_evaluate_indexed(const struct access_policy *const *policies,
                                               const struct access_policy_index *x,
                                               const struct access_request *req, enum access_result *results);
