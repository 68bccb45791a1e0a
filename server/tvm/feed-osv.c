/* tvm feeds: OSV records (https://ossf.github.io/osv-schema/) of the Debian
 * and Ubuntu ecosystems into rows of tvm_affected. Each affected package of
 * such an ecosystem with ECOSYSTEM ranges gives one row per CVE the record
 * names and per affected interval of its ranges. See feeds.h and the
 * "Advisory feeds" section of docs/TVM.md. */
#include "server/tvm/feed-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/strutil.h"

#define CVES_MAX 64     /* CVEs kept from one record's aliases */

/* What a record says, shared by every row it makes. */
struct osv_ctx {
        struct tvm_feed *f;
        const char *id, *name;          /* the record's id; where it came from (may be NULL) */
        const char *cves[CVES_MAX];
        size_t n_cves;
        const char *summary, *modified;
        const char *severity;           /* from the record's own severity, or NULL */
        double cvss;
        bool has_cvss;
        bool exploit_known;
        char *err;
        size_t err_size;
};

/* Writes "record 'ID' (in 'NAME'): WHERE: reason" into the error; returns r. */
static int __attribute__((format(printf, 4, 5))) fail(struct osv_ctx *c, int r, const char *where, const char *fmt,
                                                      ...)
{
        char reason[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(reason, sizeof(reason), fmt, ap);
        va_end(ap);
        snprintf(c->err, c->err_size, "record '%s'%s%s%s: %s%s%s", c->id ? c->id : "(no id)",
                 c->name ? " in '" : "", c->name ? c->name : "", c->name ? "'" : "", where ? where : "",
                 where ? ": " : "", reason);
        return r;
}

/* A JSON string without NUL bytes, or NULL. */
static const char *str_of(const json_t *v)
{
        const char *s = json_string_value(v);

        return s && strlen(s) == json_string_length(v) ? s : NULL;
}

/* An optional string member of at most max bytes without control
 * characters: 0 with *ret NULL when absent. */
static int opt_text(struct osv_ctx *c, const json_t *o, const char *key, size_t max, const char *where,
                    const char **ret)
{
        const json_t *v = json_object_get(o, key);
        const char *s = str_of(v);

        *ret = NULL;
        if (!v)
                return 0;
        if (!s || !util_str_is_text(s, max))
                return fail(c, -EINVAL, where, "'%s' must be a string of at most %zu bytes without control characters",
                            key, max);
        *ret = s;
        return 0;
}

/* An optional array member of at most max items: 0 with *ret NULL when absent. */
static int opt_array(struct osv_ctx *c, const json_t *o, const char *key, size_t max, const char *where,
                     const json_t **ret)
{
        const json_t *v = json_object_get(o, key);

        *ret = NULL;
        if (!v)
                return 0;
        if (!json_is_array(v))
                return fail(c, -EINVAL, where, "'%s' must be an array", key);
        if (json_array_size(v) > max)
                return fail(c, -E2BIG, where, "'%s' has more than %zu items", key, max);
        *ret = v;
        return 0;
}

static bool is_cve(const char *s)
{
        return strncmp(s, "CVE-", 4) == 0;
}

/* Adds the CVE ids among an array of ids (aliases, upstream) to c->cves. */
static int cves_add(struct osv_ctx *c, const json_t *ids, const char *key)
{
        const json_t *v;
        size_t i;

        json_array_foreach(ids, i, v) {
                const char *s = str_of(v);
                bool dup = false;
                if (!feed_id_ok(s, TVM_ID_MAX))
                        return fail(c, -EINVAL, NULL, "%s[%zu] must be an id of at most %d bytes", key, i, TVM_ID_MAX);
                for (size_t k = 0; k < c->n_cves && !dup; k++)
                        dup = strcmp(c->cves[k], s) == 0;
                if (!is_cve(s) || dup)
                        continue;
                if (c->n_cves == CVES_MAX)
                        return fail(c, -E2BIG, NULL, "names more than %d CVEs", CVES_MAX);
                c->cves[c->n_cves++] = s;
        }
        return 0;
}

/* The CVEs a row is about: the id if it is a CVE, else the CVE aliases,
 * else the upstream CVEs (DEBIAN-CVE-* records), else the id. */
static int cves_read(struct osv_ctx *c, const json_t *rec)
{
        const json_t *aliases, *upstream;
        int r;

        if ((r = opt_array(c, rec, "aliases", TVM_OSV_LIST_MAX, NULL, &aliases)) < 0 ||
            (r = opt_array(c, rec, "upstream", TVM_OSV_LIST_MAX, NULL, &upstream)) < 0)
                return r;
        if (is_cve(c->id)) {
                c->cves[c->n_cves++] = c->id;
                return 0;
        }
        if (aliases && (r = cves_add(c, aliases, "aliases")) < 0)
                return r;
        if (c->n_cves == 0 && upstream && (r = cves_add(c, upstream, "upstream")) < 0)
                return r;
        if (c->n_cves == 0)
                c->cves[c->n_cves++] = c->id;
        return 0;
}

/* Reads a severity[] array: a CVSS_V3 vector gives the score and severity;
 * an "Ubuntu" priority the severity when there is no score. */
static int severity_read(struct osv_ctx *c, const json_t *o, const char *where, double *score, bool *has_score,
                         const char **severity)
{
        const json_t *arr, *s;
        size_t i;
        int r;

        if ((r = opt_array(c, o, "severity", TVM_OSV_LIST_MAX, where, &arr)) < 0 || !arr)
                return r;
        json_array_foreach(arr, i, s) {
                const char *type = str_of(json_object_get(s, "type"));
                const char *text = str_of(json_object_get(s, "score"));
                if (!json_is_object(s) || !type || !text || !util_str_is_text(text, 256))
                        return fail(c, -EINVAL, where, "severity[%zu] must be an object with a string 'type' and "
                                    "a 'score' of at most 256 bytes", i);
                if (strcmp(type, "CVSS_V3") == 0) {
                        if (tvm_cvss3_base_score(text, score) < 0)
                                return fail(c, -EINVAL, where, "severity[%zu]: '%s' is not a CVSS 3.x vector", i,
                                            text);
                        *has_score = true;
                        *severity = tvm_cvss_severity(*score);
                } else if (strcmp(type, "Ubuntu") == 0 && !*has_score) {
                        *severity = feed_urgency_severity(text);
                } else if (strcmp(type, "CVSS_V2") != 0 && strcmp(type, "CVSS_V4") != 0 &&
                           strcmp(type, "Ubuntu") != 0) {
                        return fail(c, -EINVAL, where, "severity[%zu]: unknown type '%.32s'", i, type);
                }
        }
        return 0;
}

/* true if a database_specific or ecosystem_specific object flags a known
 * exploit (known_exploited, kev, cisa_kev, exploit_known: true or an object). */
static bool exploit_flagged(const json_t *o)
{
        static const char *const keys[] = { "known_exploited", "kev", "cisa_kev", "exploit_known" };

        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                const json_t *v = json_object_get(o, keys[i]);
                if (json_is_true(v) || (json_is_object(v) && json_object_size(v) > 0))
                        return true;
        }
        return false;
}

/* The urgency an affected entry gives: ecosystem_specific "urgency" (Debian)
 * or "ubuntu_priority", else the record's database_specific "urgency". */
static int urgency_read(struct osv_ctx *c, const json_t *aff, const json_t *rec, const char *where,
                        const char **ret)
{
        const json_t *es = json_object_get(aff, "ecosystem_specific");
        const json_t *ds = json_object_get(rec, "database_specific");
        const char *u;
        int r;

        if ((r = opt_text(c, es, "urgency", TVM_URGENCY_MAX, where, &u)) < 0)
                return r;
        if (!u && (r = opt_text(c, es, "ubuntu_priority", TVM_URGENCY_MAX, where, &u)) < 0)
                return r;
        if (!u && (r = opt_text(c, ds, "urgency", TVM_URGENCY_MAX, NULL, &u)) < 0)
                return r;
        *ret = u ? u : "";
        return 0;
}

/* Splits an ecosystem: "Debian", "Debian:12", "Debian:sid",
 * "Ubuntu:22.04:LTS", "Ubuntu:Pro:18.04:LTS". Returns 1 for Debian or
 * Ubuntu (distro and release set), 0 for another ecosystem or an Ubuntu
 * stream no release is (Ubuntu:Pro:FIPS:20.04:LTS: the FIPS packages,
 * whose versions are their own), -EINVAL for a bad release. */
static int ecosystem_split(const char *eco, const char **distro, char release[TVM_ID_MAX + 1])
{
        const char *rest;
        size_t n;

        if (strcmp(eco, "Debian") == 0 || strcmp(eco, "Ubuntu") == 0) {
                *distro = eco[0] == 'D' ? "debian" : "ubuntu";
                release[0] = '\0';
                return 1;
        }
        if (strncmp(eco, "Debian:", 7) == 0) {
                *distro = "debian";
                rest = eco + 7;
        } else if (strncmp(eco, "Ubuntu:", 7) == 0) {
                *distro = "ubuntu";
                rest = eco + 7;
                if (strncmp(rest, "Pro:", 4) == 0)
                        rest += 4;
                if (*rest < '0' || *rest > '9')
                        return 0;
        } else {
                return 0;
        }
        n = strcspn(rest, ":");
        if (n == 0 || n > TVM_ID_MAX || (rest[n] && strcmp(rest + n, ":LTS") != 0) ||
            strspn(rest, "0123456789.abcdefghijklmnopqrstuvwxyz") < n)
                return -EINVAL;
        memcpy(release, rest, n);
        release[n] = '\0';
        return 1;
}

/* What one affected package gives every row. */
struct osv_pkg {
        const char *distro, *release, *name, *urgency, *severity;
        double cvss;
        bool has_cvss, exploit_known;
};

/* Adds one row per CVE for the interval [introduced, fixed) (or up to
 * last_affected, or open). */
static int rows_add(struct osv_ctx *c, const struct osv_pkg *p, const char *introduced, const char *fixed,
                    const char *last_affected)
{
        for (size_t k = 0; k < c->n_cves; k++) {
                struct tvm_row *row;
                int r = feed_row_add(c->f, &row);
                if (r == -E2BIG)
                        return fail(c, r, NULL, "the feed makes more than %d rows", TVM_FEED_ROWS_MAX);
                if (r < 0)
                        return r;
                row->advisory_id = c->id;
                row->cve = c->cves[k];
                row->distro = p->distro;
                row->release = p->release;
                row->source_package = p->name;
                row->introduced = introduced;
                row->fixed = fixed;
                row->last_affected = last_affected;
                row->status = fixed ? "fixed" : "open";
                row->severity = p->severity;
                row->urgency = p->urgency;
                row->cvss = p->cvss;
                row->has_cvss = p->has_cvss;
                row->exploit_known = p->exploit_known;
                row->summary = c->summary;
                row->modified = c->modified;
        }
        return 0;
}

/* Reads the events of an ECOSYSTEM range, in the order given: an
 * "introduced" opens an interval (a second one while open is ignored),
 * "fixed" or "limit" closes it, "last_affected" closes it inclusively; an
 * interval still open at the end has no fix. */
static int events_read(struct osv_ctx *c, const struct osv_pkg *p, const json_t *events, const char *where)
{
        const char *open = NULL;
        const json_t *ev;
        size_t i;
        int r;

        json_array_foreach(events, i, ev) {
                static const char *const kinds[] = { "introduced", "fixed", "last_affected", "limit" };
                const char *kind = NULL, *v = NULL, *copy;
                for (size_t k = 0; k < 4; k++) {
                        const json_t *x = json_object_get(ev, kinds[k]);
                        if (x && (kind || !(v = str_of(x))))
                                return fail(c, -EINVAL, where, "events[%zu] must hold exactly one of introduced, "
                                            "fixed, last_affected or limit, a string", i);
                        if (x)
                                kind = kinds[k];
                }
                if (!json_is_object(ev) || !kind || json_object_size(ev) != 1)
                        return fail(c, -EINVAL, where, "events[%zu] must be an object with exactly one of "
                                    "introduced, fixed, last_affected or limit", i);
                if (!feed_version_ok(v))
                        return fail(c, -EINVAL, where, "events[%zu].%s: '%.64s' is not a Debian version of at "
                                    "most %d bytes", i, kind, v, TVM_VERSION_MAX);
                copy = feed_strndup(c->f, v, strlen(v));
                if (!copy)
                        return -ENOMEM;
                if (kind[0] == 'i') {
                        if (!open)
                                open = copy;
                        continue;
                }
                if (!open)
                        continue;
                r = kind[0] == 'l' && kind[1] == 'a' ? rows_add(c, p, open, NULL, copy) : rows_add(c, p, open, copy, NULL);
                if (r < 0)
                        return r;
                open = NULL;
        }
        return open ? rows_add(c, p, open, NULL, NULL) : 0;
}

/* Reads the ranges of an affected package of Debian or Ubuntu. */
static int ranges_read(struct osv_ctx *c, const struct osv_pkg *p, const json_t *aff, size_t ai)
{
        const json_t *ranges = json_object_get(aff, "ranges");
        /* some published feeds (Freexian's ELA records) write a lone range as an object */
        bool lone = json_is_object(ranges);
        size_t n = lone ? 1 : json_array_size(ranges);
        char where[64];
        int r;

        snprintf(where, sizeof(where), "affected[%zu]", ai);
        if (ranges && !lone && !json_is_array(ranges))
                return fail(c, -EINVAL, where, "'ranges' must be an array");
        if (n > TVM_OSV_RANGES_MAX)
                return fail(c, -E2BIG, where, "'ranges' has more than %d items", TVM_OSV_RANGES_MAX);
        for (size_t i = 0; i < n; i++) {
                const json_t *rg = lone ? ranges : json_array_get(ranges, i);
                const char *type = str_of(json_object_get(rg, "type"));
                const json_t *events = json_object_get(rg, "events");
                snprintf(where, sizeof(where), "affected[%zu].ranges[%zu]", ai, i);
                if (!json_is_object(rg) || !type)
                        return fail(c, -EINVAL, where, "must be an object with a string 'type'");
                if (strcmp(type, "SEMVER") != 0 && strcmp(type, "ECOSYSTEM") != 0 && strcmp(type, "GIT") != 0)
                        return fail(c, -EINVAL, where, "type must be ECOSYSTEM, SEMVER or GIT, not '%.32s'", type);
                if (!json_is_array(events) || json_array_size(events) == 0)
                        return fail(c, -EINVAL, where, "'events' must be a non-empty array");
                if (json_array_size(events) > TVM_OSV_EVENTS_MAX)
                        return fail(c, -E2BIG, where, "more than %d events", TVM_OSV_EVENTS_MAX);
                /* Debian and Ubuntu versions are compared as dpkg does: only ECOSYSTEM ranges apply */
                if (strcmp(type, "ECOSYSTEM") != 0)
                        continue;
                r = events_read(c, p, events, where);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Reads one affected[] entry; *ret_ours says whether it was Debian or Ubuntu. */
static int affected_read(struct osv_ctx *c, const json_t *rec, const json_t *aff, size_t ai, bool *ret_ours)
{
        const json_t *pkg = json_object_get(aff, "package");
        const char *eco = str_of(json_object_get(pkg, "ecosystem")), *name = str_of(json_object_get(pkg, "name"));
        struct osv_pkg p = { .severity = c->severity, .cvss = c->cvss, .has_cvss = c->has_cvss,
                             .exploit_known = c->exploit_known };
        char where[64], release[TVM_ID_MAX + 1];
        int r;

        snprintf(where, sizeof(where), "affected[%zu]", ai);
        if (!json_is_object(aff))
                return fail(c, -EINVAL, where, "must be an object");
        /* package is optional in the schema (an advisory of a git repository) */
        if (!pkg)
                return 0;
        if (!json_is_object(pkg) || !eco || !name || strlen(eco) > TVM_ID_MAX)
                return fail(c, -EINVAL, where, "'package' must be an object with string 'ecosystem' (at most %d "
                            "bytes) and 'name'", TVM_ID_MAX);
        r = ecosystem_split(eco, &p.distro, release);
        if (r < 0)
                return fail(c, -EINVAL, where, "ecosystem '%.64s': the release must be a number such as 12 or "
                            "22.04, or a series such as sid", eco);
        if (r == 0)
                return 0;
        *ret_ours = true;
        if (!feed_id_ok(name, TVM_NAME_MAX))
                return fail(c, -EINVAL, where, "package name '%.64s' is not a source package name of at most %d "
                            "bytes", name, TVM_NAME_MAX);
        if (!(p.release = feed_strndup(c->f, release, strlen(release))) ||
            !(p.name = feed_strndup(c->f, name, strlen(name))))
                return -ENOMEM;
        if ((r = urgency_read(c, aff, rec, where, &p.urgency)) < 0 ||
            (r = severity_read(c, aff, where, &p.cvss, &p.has_cvss, &p.severity)) < 0)
                return r;
        if (!(p.urgency = feed_strndup(c->f, p.urgency, strlen(p.urgency))))
                return -ENOMEM;
        if (!p.severity)
                p.severity = feed_urgency_severity(p.urgency);
        p.exploit_known = p.exploit_known || exploit_flagged(json_object_get(aff, "ecosystem_specific")) ||
                          exploit_flagged(json_object_get(aff, "database_specific"));
        return ranges_read(c, &p, aff, ai);
}

/* Copies what the rows keep of the record into the feed. */
static int record_strings(struct osv_ctx *c, const json_t *rec)
{
        const char *summary, *details, *modified;
        int64_t ms;

        /* free text: control characters become spaces in the stored summary */
        summary = str_of(json_object_get(rec, "summary"));
        if (json_object_get(rec, "summary") && !summary)
                return fail(c, -EINVAL, NULL, "'summary' must be a string");
        details = str_of(json_object_get(rec, "details"));
        if (json_object_get(rec, "details") && !details)
                return fail(c, -EINVAL, NULL, "'details' must be a string");
        modified = str_of(json_object_get(rec, "modified"));
        if (!modified || strlen(modified) > 64 || util_time_ms_parse(modified, &ms) < 0)
                return fail(c, -EINVAL, NULL, "'modified' must be an RFC 3339 UTC time such as "
                            "2024-07-01T00:00:00Z");
        c->summary = feed_summary(c->f, summary ? summary : details, !summary);
        c->modified = feed_strndup(c->f, modified, strlen(modified));
        for (size_t k = 0; k < c->n_cves; k++)
                if (c->cves[k] && !(c->cves[k] = feed_strndup(c->f, c->cves[k], strlen(c->cves[k]))))
                        return -ENOMEM;
        return c->summary && c->modified ? 0 : -ENOMEM;
}

int feed_osv_record(struct tvm_feed *f, const json_t *rec, const char *name, char *err, size_t err_size)
{
        struct osv_ctx c = { .f = f, .name = name, .err = err, .err_size = err_size };
        const json_t *affected, *aff;
        bool ours = false;
        size_t i;
        int r;

        if (!json_is_object(rec))
                return fail(&c, -EINVAL, NULL, "an OSV record must be a JSON object");
        c.id = str_of(json_object_get(rec, "id"));
        if (!feed_id_ok(c.id, TVM_ID_MAX)) {
                c.id = NULL;
                return fail(&c, -EINVAL, NULL, "'id' must be a string of at most %d letters, digits and . + - _ :",
                            TVM_ID_MAX);
        }
        if (f->records >= TVM_FEED_RECORDS_MAX)
                return fail(&c, -E2BIG, NULL, "the feed holds more than %d records", TVM_FEED_RECORDS_MAX);
        f->records++;
        f->kind = TVM_FEED_OSV;
        if (!feed_json_depth_ok(rec, 1))
                return fail(&c, -E2BIG, NULL, "nested deeper than %d", TVM_JSON_DEPTH_MAX);
        affected = json_object_get(rec, "affected");
        if (affected && !json_is_array(affected))
                return fail(&c, -EINVAL, NULL, "'affected' must be an array");
        if (json_array_size(affected) > TVM_OSV_AFFECTED_MAX)
                return fail(&c, -E2BIG, NULL, "'affected' has more than %d items", TVM_OSV_AFFECTED_MAX);
        if ((r = cves_read(&c, rec)) < 0 || (r = record_strings(&c, rec)) < 0)
                return r;
        if (!(c.id = feed_strndup(f, c.id, strlen(c.id))))
                return -ENOMEM;
        if ((r = severity_read(&c, rec, NULL, &c.cvss, &c.has_cvss, &c.severity)) < 0)
                return r;
        c.exploit_known = exploit_flagged(json_object_get(rec, "database_specific"));
        if (json_object_get(rec, "withdrawn")) {
                if (!str_of(json_object_get(rec, "withdrawn")))
                        return fail(&c, -EINVAL, NULL, "'withdrawn' must be a time");
                f->skipped++;
                return 0;
        }
        json_array_foreach(affected, i, aff)
                if ((r = affected_read(&c, rec, aff, i, &ours)) < 0)
                        return r;
        if (!ours)
                f->skipped++;
        return 0;
}
