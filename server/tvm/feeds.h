/* tvm feeds: advisory data in. Parses OSV records (Debian and Ubuntu
 * ecosystems) and the Debian security tracker's JSON into rows of the
 * advisory table tvm_affected, and imports a whole feed at once: everything
 * is parsed first, then the rows of that feed and origin are replaced in one
 * transaction, so a bad feed changes nothing. Every import, good or bad, is
 * recorded in tvm_feed_imports. Also the scheduled re-import of the
 * configured feeds (tvm_feed_paths, tvm_feed_interval).
 *
 * All input is bounded by the limits below; a refusal names the record
 * (OSV id or file, tracker package and CVE) and the reason, in printable
 * ASCII (any other byte it quotes becomes '?'). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/http/http.h"

struct vigild;

/* Sizes. */
#define TVM_FEED_BYTES_MAX (256u * 1024 * 1024)        /* one document, file or upload (the tracker's JSON is ~80 MB) */
#define TVM_FEED_UNZIPPED_MAX (1024u * 1024 * 1024)    /* all the records of a zip or folder together */
#define TVM_OSV_RECORD_MAX (4u * 1024 * 1024)          /* one OSV record */
/* Counts. */
#define TVM_FEED_RECORDS_MAX 500000                     /* OSV records, or tracker (package, CVE) entries, per feed */
#define TVM_FEED_ROWS_MAX 5000000                       /* rows of tvm_affected made from one feed */
#define TVM_OSV_AFFECTED_MAX 10000                      /* affected[] of one record */
#define TVM_OSV_RANGES_MAX 64                           /* ranges[] of one affected package */
#define TVM_OSV_EVENTS_MAX 1024                         /* events[] of one range */
#define TVM_OSV_LIST_MAX 1024                           /* aliases[], upstream[], severity[] */
#define TVM_TRACKER_RELEASES_MAX 64                     /* releases of one tracker entry */
#define TVM_FEED_PATHS_MAX 16                           /* entries of tvm_feed_paths */
/* Depth and string lengths. */
#define TVM_JSON_DEPTH_MAX 32                           /* nesting of any value in a record */
#define TVM_ID_MAX 128                                  /* advisory ids, CVE ids, codenames, ecosystems */
#define TVM_NAME_MAX 256                                /* source package names */
#define TVM_VERSION_MAX 256                             /* versions */
#define TVM_URGENCY_MAX 64                              /* urgency / priority words */
#define TVM_SUMMARY_MAX 512                             /* stored summary; longer text is cut at a character */
#define TVM_ORIGIN_MAX 1024                             /* an import's origin (path, URL or name) */

enum tvm_feed_kind {
        TVM_FEED_AUTO = 0,      /* detect: a zip or an OSV record is OSV, else the tracker's shape */
        TVM_FEED_OSV = 1,
        TVM_FEED_DEBIAN_TRACKER = 2,
};

/* One row of tvm_affected (see docs/TVM.md). Strings live in the feed that
 * holds the row; fixed and last_affected may be NULL. */
struct tvm_row {
        const char *advisory_id, *cve, *distro, *release, *source_package;
        const char *introduced, *fixed, *last_affected;
        const char *status, *severity, *urgency, *summary, *modified;
        double cvss;
        bool has_cvss;
        bool exploit_known;
};

/* A chain of blocks that strings are copied into, freed all at once. */
struct tvm_chunk;

/* A copy of s[0..n), NUL-terminated, in the first block of *chunks or a new
 * one put first (NULL on ENOMEM). */
const char *tvm_chunk_strndup(struct tvm_chunk **chunks, const char *s, size_t n);

/* Frees every block of the chain (NULL is fine). */
void tvm_chunks_free(struct tvm_chunk *chunks);

/* A parsed feed: its rows and counts. */
struct tvm_feed {
        enum tvm_feed_kind kind;        /* OSV or DEBIAN_TRACKER once something is parsed */
        struct tvm_row *rows;
        size_t n_rows, rows_cap;
        size_t records;                 /* OSV records, or tracker (package, CVE) entries, read */
        size_t skipped;                 /* OSV records of other ecosystems or withdrawn, tracker releases of unknown codenames */
        size_t unzipped;                /* bytes of records read from zips and folders so far */
        struct tvm_chunk *chunks;       /* where the rows' strings live */
};

/* "osv", "debian-tracker" (and "auto" for TVM_FEED_AUTO). */
const char *tvm_feed_kind_name(enum tvm_feed_kind kind);

/* Parses a feed kind name ("osv", "debian-tracker", "auto"). Returns 0 or -EINVAL. */
int tvm_feed_kind_parse(const char *s, enum tvm_feed_kind *ret);

/* An empty feed (NULL on ENOMEM); free with tvm_feed_free() (NULL is fine). */
struct tvm_feed *tvm_feed_new(void);
void tvm_feed_free(struct tvm_feed *f);

/* Computes the CVSS 3.0 or 3.1 base score of a vector
 * ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" -> 9.8) by the
 * specification's formula and rounding. Temporal and environmental metrics
 * may follow and are ignored. Returns 0, or -EINVAL for a vector that is not
 * CVSS 3.x or lacks, repeats or misspells a base metric. */
int tvm_cvss3_base_score(const char *vector, double *ret_score);

/* The normalized severity of a CVSS score: "low" (below 4.0), "medium",
 * "high" (7.0 and up), "critical" (9.0 and up). */
const char *tvm_cvss_severity(double score);

/* Parses one OSV record (JSON, at most TVM_OSV_RECORD_MAX bytes) and
 * appends its Debian and Ubuntu rows to f; a record naming neither, or
 * withdrawn, only counts in f->skipped. name says where the record came
 * from in messages (a file name; NULL for none). Returns 0; -EINVAL for bad
 * JSON or a record that breaks the OSV schema, -E2BIG past a limit, with
 * the record and reason in err; -ENOMEM. On error f may hold part of the
 * record's rows: a failed feed is thrown away whole. */
int tvm_osv_parse(struct tvm_feed *f, const char *data, size_t len, const char *name, char *err, size_t err_size);

/* Parses the Debian security tracker's JSON (source package -> CVE ->
 * {description, releases: {codename: {status, fixed_version, urgency}}})
 * and appends its rows to f. Returns 0, -EINVAL, -E2BIG or -ENOMEM as
 * tvm_osv_parse(). */
int tvm_tracker_parse(struct tvm_feed *f, const char *data, size_t len, char *err, size_t err_size);

/* Parses a feed document of the given kind (TVM_FEED_AUTO: detected): a zip
 * of OSV records, one OSV record, or the tracker's JSON. A feed with no
 * record at all is refused (an empty download must not wipe a feed).
 * On success *ret owns the feed. Returns 0, -EINVAL, -E2BIG or -ENOMEM with
 * the reason in err. */
int tvm_feed_parse(const char *data, size_t len, enum tvm_feed_kind kind, struct tvm_feed **ret,
                   char *err, size_t err_size);

/* As tvm_feed_parse() for a file (a document as above) or a folder of OSV
 * records (its *.json files, in name order, and its *.zip files).
 * Returns 0 or a negative errno with the file and reason in err. */
int tvm_feed_load_path(const char *path, enum tvm_feed_kind kind, struct tvm_feed **ret,
                       char *err, size_t err_size);

/* What an import did. */
struct tvm_import_result {
        int64_t id;                     /* its row in tvm_feed_imports */
        size_t records, rows, skipped;
        int64_t store_ms;               /* the transaction's time: the database is held that long */
};

/* Migrates the tables of the module "tvm_feed": tvm_affected and
 * tvm_feed_imports. Returns 0 or a negative errno (see db_errmsg). */
int tvm_feed_migrate(struct vigild *d);

/* Replaces the rows of f's feed from origin with f's, in one transaction,
 * and records the import (started: when it began, seconds since the
 * epoch). Takes the database lock; publishes BUS_ADVISORIES_CHANGED after
 * the commit. Returns 0 with ret filled, or a negative errno with the
 * reason in err (nothing changed but the failure's record). */
int tvm_feed_store(struct vigild *d, const struct tvm_feed *f, const char *origin, int64_t started,
                   struct tvm_import_result *ret, char *err, size_t err_size);

/* Records an import that failed before storing (a feed that did not parse). */
void tvm_feed_record_failure(struct vigild *d, enum tvm_feed_kind kind, const char *origin, int64_t started,
                             const char *error);

/* Parses tvm_feed_paths ("PATH-or-URL, ..."): each entry an absolute path
 * or an https:// URL of at most TVM_ORIGIN_MAX bytes, at most
 * TVM_FEED_PATHS_MAX of them. Returns the count, or -EINVAL. With out not
 * NULL, entries are copied there (each TVM_ORIGIN_MAX + 1 bytes). */
int tvm_feed_paths_parse(const char *s, char (*out)[TVM_ORIGIN_MAX + 1]);

/* Starts the thread that imports each configured feed at start and then
 * every tvm_feed_interval (nothing when tvm_feed_paths is empty). Returns 0
 * or a negative errno with a message in err. */
int tvm_feed_start(struct vigild *d, char *err, size_t err_size);

/* Stops that thread (waiting for an import under way). Fine if not started. */
void tvm_feed_stop(struct vigild *d);

/* POST /api/v1/tvm/import, GET /api/v1/tvm/feeds. */
extern const struct http_route tvm_feed_routes[];
