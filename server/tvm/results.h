/* tvm results: installed packages matched against the advisory rows of
 * tvm_affected (docs/TVM.md), per-device vulnerabilities, each device's
 * exposure level, security recommendations and remediation tasks.
 *
 * match.c holds the matching itself: an in-memory index of the advisory
 * rows of one release, by source package, and the match of a list of
 * packages against it (no database writes, no threads). vulns.c is the
 * service: one worker thread recomputes a device when its inventory changes
 * and every device when the advisories change, stores the results and
 * publishes exposure_changed; it also answers the vulnerability,
 * recommendation and device-exposure API. tasks.c holds the tasks.
 *
 * Owns the tables tvm_device_vulns, tvm_device_exposure, tvm_tasks and
 * tvm_task_events (migration track "tvm_result"); reads tvm_affected,
 * device_software and devices. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "server/http/http.h"

struct db;
struct vigild;

#define TVM_DEVICE_ID_MAX 64            /* bytes of a device id we keep */

/* A device's exposure level; stored by name, ordered. */
enum tvm_exposure {
        TVM_EXPOSURE_NONE = 0,
        TVM_EXPOSURE_LOW = 1,
        TVM_EXPOSURE_MEDIUM = 2,
        TVM_EXPOSURE_HIGH = 3,
};

/* Severity as tvm_affected normalizes it, ordered. */
enum tvm_severity {
        TVM_SEVERITY_UNKNOWN = 0,
        TVM_SEVERITY_LOW = 1,
        TVM_SEVERITY_MEDIUM = 2,
        TVM_SEVERITY_HIGH = 3,
        TVM_SEVERITY_CRITICAL = 4,
};

/* Which advisory rows without a fixed version count (config keys
 * tvm_count_open and tvm_count_undetermined). */
struct tvm_match_options {
        bool count_open;                /* status 'open': no fix yet, vulnerable from introduced on */
        bool count_undetermined;        /* status 'undetermined': not known yet whether affected */
};

/* One installed package as device_software stores it ("" source: the
 * package's own name; "" source_version: its version). Borrowed. */
struct tvm_package {
        const char *name, *version, *source, *source_version;
};

/* One vulnerability of a device: a CVE of an installed (binary) package.
 * Strings are borrowed from the advisories and the packages matched. */
struct tvm_vuln {
        const char *cve, *package, *source, *installed;
        const char *fixed;              /* NULL: no fix available */
        const char *advisory_id, *urgency;
        enum tvm_severity severity;
        double cvss;                    /* < 0: none */
        bool exploit_known;
};

struct tvm_advisories;

/* Loads the rows of tvm_affected that apply to a device of (distro,
 * release) — the release's own and those for every release ('') — except
 * 'not_affected' ones, rows whose status opts leaves out and rows whose
 * versions dpkgver_check() refuses, into an index by source package. Call
 * with the database lock held. On success *ret is the caller's (free with
 * tvm_advisories_free()). Returns 0, -ENOMEM or a database error. */
int tvm_advisories_load(struct db *db, const char *distro, const char *release,
                        const struct tvm_match_options *opts, struct tvm_advisories **ret);
void tvm_advisories_free(struct tvm_advisories *a);

/* The number of rows held, and of rows left out for a version that is not
 * a valid Debian version. */
size_t tvm_advisories_rows(const struct tvm_advisories *a);
size_t tvm_advisories_invalid(const struct tvm_advisories *a);

/* A growable list of vulnerabilities (at most TVM_VULNS_MAX; past it, the
 * match fails with -E2BIG). */
#define TVM_VULNS_MAX 1000000
struct tvm_vuln_list {
        struct tvm_vuln *v;
        size_t n, cap;
};
void tvm_vuln_list_release(struct tvm_vuln_list *l);

/* Matches packages against a: a package is vulnerable to a row of its
 * source package when introduced <= its source version < fixed (no fixed:
 * up to last_affected included when the row has one, else from introduced
 * on), comparing as dpkg does. One vulnerability per (CVE,
 * binary package): of several matching rows, the highest fixed version
 * (none if no row has one), the worst severity, the highest CVSS, an
 * exploit known if any row says so. Replaces out's contents, sorted by
 * package then CVE. Returns 0, -ENOMEM or -E2BIG. */
int tvm_match(const struct tvm_advisories *a, const struct tvm_package *pkgs, size_t n,
              struct tvm_vuln_list *out);

/* A vulnerability's severity for the exposure level and the counts of
 * "high": the record's severity; if unknown, from its CVSS (>= 9 critical,
 * >= 7 high, >= 4 medium, > 0 low); else from the tracker's urgency
 * ('high', 'medium', 'low', with or without trailing asterisks; 'unimportant'
 * low; anything else medium). */
enum tvm_severity tvm_vuln_severity(const struct tvm_vuln *v);

/* The exposure level of a device with these vulnerabilities (docs/TVM.md),
 * counting each CVE once at the worst tvm_vuln_severity() of its rows: high
 * if any is critical or has a known exploit, or 10 or more are high; medium
 * if any is high or 10 or more are medium; low if there is any; else none.
 * Returns 0 with *ret set, or -ENOMEM. */
int tvm_exposure_compute(const struct tvm_vuln *v, size_t n, enum tvm_exposure *ret);

const char *tvm_exposure_name(enum tvm_exposure e);
const char *tvm_severity_name(enum tvm_severity s);
/* Parses a severity name; returns 0 or -EINVAL. */
int tvm_severity_parse(const char *s, enum tvm_severity *ret);

/* The advisory distro of an os-release NAME: "debian" for a name containing
 * "Debian", "ubuntu" for "Ubuntu" (any case), else NULL. */
const char *tvm_distro_of(const char *os_name);

/* ---- the service (vulns.c) ---- */

/* Creates or updates the tables. Returns 0 or a negative errno (see db_errmsg). */
int tvm_results_migrate(struct vigild *d);

/* Loads the stored exposure levels, subscribes to inventory_changed,
 * advisories_changed and device_offboarded, adds exposure_level to the
 * device JSON and starts the worker, which recomputes every device once.
 * Call before compliance_start() (compliance reads the levels). Returns 0 or
 * a negative errno with a message in err. */
int tvm_results_start(struct vigild *d, char *err, size_t err_size);

/* Stops the worker (nothing is recomputed or published after it returns);
 * the levels stay readable until tvm_results_close(). Fine if never started. */
void tvm_results_stop(struct vigild *d);

/* Frees the module's state; call after compliance_close(). */
void tvm_results_close(struct vigild *d);

/* Queues the device (NULL: every device) for a recompute; never blocks on one. */
void tvm_results_queue(struct vigild *d, const char *device_id);

/* Advisory indexes kept between recomputes, one per (distro, release) in
 * use (at most 32; past that it starts over). Clear it when tvm_affected
 * changes. new returns NULL on ENOMEM; free(NULL) is fine. */
struct tvm_release_cache;
struct tvm_release_cache *tvm_release_cache_new(void);
void tvm_release_cache_clear(struct tvm_release_cache *c);
void tvm_release_cache_free(struct tvm_release_cache *c);

/* Recomputes the device (NULL: every device, and clears the stored results
 * of devices that no longer exist) now, in the calling thread, storing the
 * results (a device's rows are rewritten only when they changed) and
 * publishing exposure_changed for each change of level. Advisories come
 * from cache, loaded there on first use (cache NULL: loaded for this call
 * only). The caller must not hold the database lock; it is taken and left
 * every 16 devices. A device that cannot be recomputed is logged and holds
 * back no other. Works without tvm_results_start() (tests, benchmarks);
 * with it, stops between two batches once tvm_results_stop() is asked
 * (-ECANCELED). Returns 0 or the first negative errno. */
int tvm_results_recompute(struct vigild *d, const char *device_id, const struct tvm_match_options *opts,
                          struct tvm_release_cache *cache);

/* The device's exposure level as last computed, from memory (any thread).
 * Returns 0, or -ENOENT while it is not assessed (no inventory, not Debian
 * or Ubuntu, not computed yet). */
int tvm_device_exposure_get(struct vigild *d, const char *device_id, enum tvm_exposure *ret);

/* The security recommendations (docs/TVM.md), one per source package and
 * release with vulnerabilities (only source's when not NULL), ordered by
 * impact: a JSON array of {package, distro, release, fixed_version, devices,
 * cves, fixes_cves, fixes_high, open_cves, exploited_cves, impact, text},
 * the caller's. Call with the database lock held. Returns 0, -ENOMEM or a
 * database error. */
#define TVM_REC_SOURCE_MAX 128          /* bytes of a source package name we group by */
int tvm_recommendations(struct vigild *d, const char *source, json_t **ret);

/* A security task's request (POST /api/v1/tvm/tasks), checked: strings
 * borrowed from the JSON. */
#define TVM_TASK_NOTES_MAX 2000         /* bytes of a task's notes */
struct tvm_task_body {
        const char *package;            /* a source package name, 1 to TVM_REC_SOURCE_MAX bytes */
        const char *distro, *release;   /* the recommendation's, when the package has several; else NULL */
        const char *group_id;           /* NULL: every device */
        const char *priority;           /* low, medium, high, critical */
        const char *due_date;           /* YYYY-MM-DD of a real day, or NULL */
        const char *notes;              /* NULL: none */
};

/* Checks a task request: an object of the members above only, each a string
 * without control characters within its limits. Returns 0 with *ret filled,
 * or -EINVAL with "member: reason" in err. Only the syntax: whether the
 * group and the recommendation exist is the handler's to check. */
int tvm_task_body_check(const json_t *body, struct tvm_task_body *ret, char *err, size_t err_size);

/* Routes: vulnerabilities, recommendations (vulns.c) and tasks (tasks.c). */
extern const struct http_route tvm_results_routes[];
extern const struct http_route tvm_task_routes[];

