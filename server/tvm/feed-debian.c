/* tvm feeds: the Debian security tracker's JSON
 * (https://security-tracker.debian.org/tracker/data/json) into rows of
 * tvm_affected: one row per source package, CVE (or TEMP- id) and release.
 * "resolved" with fixed_version "0" is not_affected, "resolved" with a
 * version is fixed, "open" is open (no fix), "undetermined" is
 * undetermined. See feeds.h and docs/TVM.md. */
#include "server/tvm/feed-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/strutil.h"

#define TRACKER_CVES_MAX 200000         /* entries of one source package */

/* Where the parse is, for messages. */
struct tracker_ctx {
        struct tvm_feed *f;
        const char *package, *cve, *release;
        char *err;
        size_t err_size;
};

/* "package 'P', 'CVE', release 'R': reason" into the error; returns r. */
static int __attribute__((format(printf, 3, 4))) fail(struct tracker_ctx *c, int r, const char *fmt, ...)
{
        char reason[256];
        int n = 0;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(reason, sizeof(reason), fmt, ap);
        va_end(ap);
        if (c->package)
                n = snprintf(c->err, c->err_size, "package '%.64s'", c->package);
        if (c->cve && n >= 0 && (size_t)n < c->err_size)
                n += snprintf(c->err + n, c->err_size - (size_t)n, ", '%.64s'", c->cve);
        if (c->release && n >= 0 && (size_t)n < c->err_size)
                n += snprintf(c->err + n, c->err_size - (size_t)n, ", release '%.64s'", c->release);
        if (n >= 0 && (size_t)n < c->err_size)
                snprintf(c->err + n, c->err_size - (size_t)n, "%s%s", n ? ": " : "", reason);
        return r;
}

static const char *str_of(const json_t *v)
{
        const char *s = json_string_value(v);

        return s && strlen(s) == json_string_length(v) ? s : NULL;
}

/* What every row of one (package, CVE) shares. */
struct tracker_entry {
        const char *package, *cve, *summary;
};

/* Reads one release of an entry into a row. */
static int release_read(struct tracker_ctx *c, const struct tracker_entry *e, const char *codename,
                        const json_t *rel)
{
        const json_t *fv = json_object_get(rel, "fixed_version"), *uv = json_object_get(rel, "urgency");
        const char *status = str_of(json_object_get(rel, "status")), *fixed = str_of(fv), *urgency = str_of(uv);
        const char *release = feed_debian_release(codename);
        struct tvm_row *row;
        int r;

        if (!json_is_object(rel))
                return fail(c, -EINVAL, "must be an object");
        if (!status)
                return fail(c, -EINVAL, "'status' must be a string");
        if (fv && !feed_version_ok(fixed))
                return fail(c, -EINVAL, "fixed_version '%.64s' is not a Debian version of at most %d bytes",
                            fixed ? fixed : "", TVM_VERSION_MAX);
        if (uv && (!urgency || !util_str_is_text(urgency, TVM_URGENCY_MAX)))
                return fail(c, -EINVAL, "'urgency' must be a string of at most %d bytes", TVM_URGENCY_MAX);
        if (strcmp(status, "resolved") != 0 && strcmp(status, "open") != 0 && strcmp(status, "undetermined") != 0)
                return fail(c, -EINVAL, "status must be resolved, open or undetermined, not '%.32s'", status);
        if (strcmp(status, "resolved") == 0 && !fixed)
                return fail(c, -EINVAL, "status 'resolved' without a 'fixed_version'");
        /* a release this program does not know yet cannot be a device's */
        if (!release) {
                c->f->skipped++;
                return 0;
        }
        r = feed_row_add(c->f, &row);
        if (r == -E2BIG)
                return fail(c, r, "the feed makes more than %d rows", TVM_FEED_ROWS_MAX);
        if (r < 0)
                return r;
        row->advisory_id = row->cve = e->cve;
        row->distro = "debian";
        row->release = release;
        row->source_package = e->package;
        row->introduced = "0";
        row->summary = e->summary;
        row->modified = "";
        row->urgency = urgency ? feed_strndup(c->f, urgency, strlen(urgency)) : "";
        row->severity = feed_urgency_severity(urgency);
        if (strcmp(status, "resolved") == 0 && strcmp(fixed, "0") == 0) {
                row->status = "not_affected";
        } else if (strcmp(status, "resolved") == 0) {
                row->status = "fixed";
                row->fixed = feed_strndup(c->f, fixed, strlen(fixed));
        } else {
                row->status = status[0] == 'o' ? "open" : "undetermined";
        }
        return row->urgency && (row->fixed || strcmp(row->status, "fixed") != 0) ? 0 : -ENOMEM;
}

/* Reads one (package, CVE) entry. */
static int entry_read(struct tracker_ctx *c, const char *package, const char *cve, const json_t *ent)
{
        const json_t *releases = json_object_get(ent, "releases"), *desc = json_object_get(ent, "description"), *rel;
        struct tracker_entry e;
        const char *codename;
        int r;

        if (!json_is_object(ent))
                return fail(c, -EINVAL, "must be an object");
        if (c->f->records >= TVM_FEED_RECORDS_MAX)
                return fail(c, -E2BIG, "the feed holds more than %d entries", TVM_FEED_RECORDS_MAX);
        c->f->records++;
        if (desc && !str_of(desc))
                return fail(c, -EINVAL, "'description' must be a string");
        /* the tracker writes an entry without releases as an empty array */
        if (json_is_array(releases) && json_array_size(releases) == 0)
                return 0;
        if (!json_is_object(releases))
                return fail(c, -EINVAL, "'releases' must be an object");
        if (json_object_size(releases) > TVM_TRACKER_RELEASES_MAX)
                return fail(c, -E2BIG, "more than %d releases", TVM_TRACKER_RELEASES_MAX);
        e.package = package;
        e.cve = feed_strndup(c->f, cve, strlen(cve));
        e.summary = feed_summary(c->f, str_of(desc), false);
        if (!e.cve || !e.summary)
                return -ENOMEM;
        json_object_foreach((json_t *)releases, codename, rel) {
                c->release = codename;
                if (!feed_id_ok(codename, TVM_ID_MAX))
                        return fail(c, -EINVAL, "not a release codename");
                r = release_read(c, &e, codename, rel);
                if (r < 0)
                        return r;
        }
        c->release = NULL;
        return 0;
}

/* Reads one source package's entries. */
static int package_read(struct tracker_ctx *c, const char *package, const json_t *cves)
{
        const char *pkg_copy, *cve;
        const json_t *ent;
        int r;

        c->package = package;
        c->cve = NULL;
        if (!feed_id_ok(package, TVM_NAME_MAX))
                return fail(c, -EINVAL, "not a source package name of at most %d bytes", TVM_NAME_MAX);
        if (!json_is_object(cves))
                return fail(c, -EINVAL, "must be an object of CVE ids (is this the tracker's JSON?)");
        if (json_object_size(cves) > TRACKER_CVES_MAX)
                return fail(c, -E2BIG, "more than %d entries", TRACKER_CVES_MAX);
        pkg_copy = feed_strndup(c->f, package, strlen(package));
        if (!pkg_copy)
                return -ENOMEM;
        /* the caller's name may not outlive this call; messages after it may name the package */
        c->package = pkg_copy;
        json_object_foreach((json_t *)cves, cve, ent) {
                c->cve = cve;
                if (!feed_id_ok(cve, TVM_ID_MAX))
                        return fail(c, -EINVAL, "not an id such as CVE-2024-1234 or TEMP-0000000-0000");
                r = entry_read(c, pkg_copy, cve, ent);
                if (r < 0)
                        return r;
        }
        return 0;
}

int feed_tracker_doc(struct tvm_feed *f, const json_t *doc, char *err, size_t err_size)
{
        struct tracker_ctx c = { .f = f, .err = err, .err_size = err_size };
        const char *package;
        const json_t *cves;
        int r;

        if (!json_is_object(doc))
                return fail(&c, -EINVAL, "the tracker's JSON must be an object of source packages");
        if (!feed_json_depth_ok(doc, 1))
                return fail(&c, -E2BIG, "nested deeper than %d", TVM_JSON_DEPTH_MAX);
        f->kind = TVM_FEED_DEBIAN_TRACKER;
        json_object_foreach((json_t *)doc, package, cves)
                if ((r = package_read(&c, package, cves)) < 0)
                        return r;
        return 0;
}

static size_t skip_space(const char *d, size_t len, size_t i)
{
        while (i < len && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n'))
                i++;
        return i;
}

/* Decodes the JSON string key at d[*i] into a new json string; moves *i past it. */
static json_t *key_read(struct tracker_ctx *c, const char *d, size_t len, size_t *i)
{
        size_t j = *i + 1;
        json_t *k;

        if (*i >= len || d[*i] != '"') {
                fail(c, -EINVAL, "not valid JSON at byte %zu: a package name in quotes expected", *i);
                return NULL;
        }
        for (; j < len && d[j] != '"'; j++)
                if (d[j] == '\\')
                        j++;
        if (j >= len || j - *i > 6 * TVM_NAME_MAX) {
                fail(c, -EINVAL, "at byte %zu: a package name of at most %d bytes expected", *i, TVM_NAME_MAX);
                return NULL;
        }
        k = json_loadb(d + *i, j + 1 - *i, JSON_DECODE_ANY, NULL);
        if (!json_is_string(k)) {
                json_decref(k);
                fail(c, -EINVAL, "not valid JSON at byte %zu: a bad package name", *i);
                return NULL;
        }
        *i = j + 1;
        return k;
}

/* Reads "NAME": {...} at d[*i], one source package, and moves past it. */
static int member_read(struct tracker_ctx *c, json_t *seen, const char *d, size_t len, size_t *i)
{
        json_t *key, *value;
        const char *name;
        json_error_t je;
        int r;

        if (!(key = key_read(c, d, len, i)))
                return -EINVAL;
        name = json_string_value(key);
        c->package = name;
        *i = skip_space(d, len, *i);
        r = -EINVAL;
        if (*i >= len || d[*i] != ':') {
                fail(c, r, "not valid JSON at byte %zu: ':' expected", *i);
                goto out;
        }
        if (json_object_get(seen, name)) {
                fail(c, r, "appears twice in the document");
                goto out;
        }
        if (json_object_size(seen) >= TVM_FEED_RECORDS_MAX || json_object_set_new(seen, name, json_null()) < 0) {
                r = fail(c, -E2BIG, "more than %d source packages", TVM_FEED_RECORDS_MAX);
                goto out;
        }
        *i = skip_space(d, len, *i + 1);
        value = json_loadb(d + *i, len - *i, JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
        if (!value) {
                fail(c, r, "not valid JSON at byte %zu: %s", *i + (size_t)je.position, je.text);
                goto out;
        }
        *i += (size_t)je.position;
        if (feed_json_depth_ok(value, 2))
                r = package_read(c, name, value);
        else
                r = fail(c, -E2BIG, "nested deeper than %d", TVM_JSON_DEPTH_MAX);
        json_decref(value);
out:
        json_decref(key);
        return r;
}

int feed_tracker_text(struct tvm_feed *f, const char *d, size_t len, char *err, size_t err_size)
{
        struct tracker_ctx c = { .f = f, .err = err, .err_size = err_size };
        json_t *seen;
        size_t i = skip_space(d, len, 0);
        int r = 0;

        if (i >= len || d[i] != '{')
                return fail(&c, -EINVAL, "the tracker's JSON must be an object of source packages");
        seen = json_object();
        if (!seen)
                return -ENOMEM;
        f->kind = TVM_FEED_DEBIAN_TRACKER;
        i = skip_space(d, len, i + 1);
        if (i < len && d[i] == '}')
                i++;
        else
                for (;;) {
                        c.package = c.cve = c.release = NULL;
                        r = member_read(&c, seen, d, len, &i);
                        if (r < 0)
                                goto out;
                        /* a syntax error after a package names the package before it */
                        c.cve = c.release = NULL;
                        i = skip_space(d, len, i);
                        if (i < len && d[i] == '}') {
                                i++;
                                break;
                        }
                        if (i >= len || d[i] != ',') {
                                r = fail(&c, -EINVAL, "not valid JSON after it, at byte %zu: ',' or '}' expected", i);
                                goto out;
                        }
                        i = skip_space(d, len, i + 1);
                }
        i = skip_space(d, len, i);
        if (i != len)
                r = fail(&c, -EINVAL, "not valid JSON at byte %zu: the document goes on after its end", i);
out:
        json_decref(seen);
        return r;
}
