/* tvm match: the advisory rows of one release held in memory by source
 * package, and the match of a device's packages against them. See
 * results.h and docs/TVM.md ("Matching"). */
#include "server/tvm/results.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/db/db.h"
#include "server/tvm/feeds.h"
#include "util/dpkgver.h"

#define EXPOSURE_MANY 10                /* this many CVEs of one severity count as one of the next */

/* One advisory row; strings live in the index's arena. */
struct adv_row {
        const char *cve, *advisory_id, *introduced, *fixed, *urgency;
        const char *last_affected;      /* with no fixed: the last affected version, NULL if none */
        enum tvm_severity severity;
        double cvss;
        bool exploit_known;
};

/* The rows of one source package: rows[first, first + n). */
struct adv_pkg {
        const char *source;
        size_t first, n;
};

struct tvm_advisories {
        struct adv_row *rows;
        size_t n_rows, cap_rows;
        const char **sources;           /* the source package of each row, while loading */
        struct adv_pkg *pkgs;
        size_t n_pkgs;
        size_t invalid;
        struct tvm_chunk *arena;
};

static const char *const severity_names[] = { "unknown", "low", "medium", "high", "critical" };
static const char *const exposure_names[] = { "none", "low", "medium", "high" };

const char *tvm_severity_name(enum tvm_severity s)
{
        return (unsigned)s <= TVM_SEVERITY_CRITICAL ? severity_names[s] : "unknown";
}

const char *tvm_exposure_name(enum tvm_exposure e)
{
        return (unsigned)e <= TVM_EXPOSURE_HIGH ? exposure_names[e] : "none";
}

int tvm_severity_parse(const char *s, enum tvm_severity *ret)
{
        for (int i = 0; i <= TVM_SEVERITY_CRITICAL; i++)
                if (s && strcmp(s, severity_names[i]) == 0) {
                        *ret = (enum tvm_severity)i;
                        return 0;
                }
        return -EINVAL;
}

const char *tvm_distro_of(const char *os_name)
{
        if (!os_name)
                return NULL;
        if (strcasestr(os_name, "debian"))
                return "debian";
        if (strcasestr(os_name, "ubuntu"))
                return "ubuntu";
        return NULL;
}

void tvm_advisories_free(struct tvm_advisories *a)
{
        if (!a)
                return;
        tvm_chunks_free(a->arena);
        free(a->rows);
        free(a->sources);
        free(a->pkgs);
        free(a);
}

size_t tvm_advisories_rows(const struct tvm_advisories *a)
{
        return a->n_rows;
}

size_t tvm_advisories_invalid(const struct tvm_advisories *a)
{
        return a->invalid;
}

static bool version_ok(const char *s, size_t len)
{
        const char *why;

        return dpkgver_check(s, len, &why) == 0;
}

/* Whether a row of this status and fixed version is kept. */
static bool status_counts(const char *status, const char *fixed, const struct tvm_match_options *o)
{
        if (strcmp(status, "not_affected") == 0 || (fixed && strcmp(fixed, "0") == 0))
                return false;
        if (strcmp(status, "open") == 0)
                return o->count_open;
        if (strcmp(status, "undetermined") == 0)
                return o->count_undetermined;
        /* 'fixed', or a status this version does not know: a row with a fixed
         * version is a range like any other; one without counts as open */
        return fixed || o->count_open;
}

/* Appends the current row of st (see the SELECT of tvm_advisories_load()). */
static int row_add(struct tvm_advisories *a, struct db_stmt *st, const struct tvm_match_options *o)
{
        size_t src_len, intro_len, fixed_len;
        const char *src = db_column_text(st, 0, &src_len);
        const char *intro = db_column_text(st, 3, &intro_len);
        const char *fixed = db_column_text(st, 4, &fixed_len);
        const char *status = db_column_text(st, 5, NULL);
        size_t last_len;
        const char *last = fixed ? NULL : db_column_text(st, 10, &last_len);
        enum tvm_severity sev = TVM_SEVERITY_UNKNOWN;
        struct adv_row *r;

        if (!src || !intro || !status || !db_column_text(st, 1, NULL) || !db_column_text(st, 2, NULL) ||
            !db_column_text(st, 7, NULL) || !status_counts(status, fixed, o))
                return 0;
        if ((strcmp(intro, "0") != 0 && !version_ok(intro, intro_len)) || (fixed && !version_ok(fixed, fixed_len)) ||
            (last && !version_ok(last, last_len))) {
                a->invalid++;
                return 0;
        }
        if (a->n_rows == a->cap_rows) {
                size_t cap = a->cap_rows ? 2 * a->cap_rows : 4096;
                struct adv_row *rows = realloc(a->rows, cap * sizeof(*rows));
                const char **sources = rows ? realloc(a->sources, cap * sizeof(*sources)) : NULL;

                if (rows)
                        a->rows = rows;
                if (!sources)
                        return -ENOMEM;
                a->sources = sources;
                a->cap_rows = cap;
        }
        r = &a->rows[a->n_rows];
        tvm_severity_parse(db_column_text(st, 6, NULL), &sev);
        r->severity = sev;
        r->cvss = db_column_is_null(st, 8) ? -1 : (double)db_column_int64(st, 8) / 10.0;
        r->exploit_known = db_column_int64(st, 9) != 0;
        a->sources[a->n_rows] = tvm_chunk_strndup(&a->arena, src, src_len);
        r->cve = tvm_chunk_strndup(&a->arena, db_column_text(st, 1, NULL), strlen(db_column_text(st, 1, NULL)));
        r->advisory_id = tvm_chunk_strndup(&a->arena, db_column_text(st, 2, NULL), strlen(db_column_text(st, 2, NULL)));
        r->introduced = tvm_chunk_strndup(&a->arena, intro, intro_len);
        r->fixed = fixed ? tvm_chunk_strndup(&a->arena, fixed, fixed_len) : NULL;
        r->last_affected = last ? tvm_chunk_strndup(&a->arena, last, last_len) : NULL;
        r->urgency = tvm_chunk_strndup(&a->arena, db_column_text(st, 7, NULL), strlen(db_column_text(st, 7, NULL)));
        if (!a->sources[a->n_rows] || !r->cve || !r->advisory_id || !r->introduced || (fixed && !r->fixed) ||
            (last && !r->last_affected) || !r->urgency)
                return -ENOMEM;
        a->n_rows++;
        return 0;
}

/* Groups the rows, already ordered by source package, into pkgs. */
static int index_build(struct tvm_advisories *a)
{
        a->pkgs = calloc(a->n_rows ? a->n_rows : 1, sizeof(*a->pkgs));
        if (!a->pkgs)
                return -ENOMEM;
        for (size_t i = 0; i < a->n_rows; i++) {
                if (a->n_pkgs && strcmp(a->pkgs[a->n_pkgs - 1].source, a->sources[i]) == 0) {
                        a->pkgs[a->n_pkgs - 1].n++;
                        continue;
                }
                a->pkgs[a->n_pkgs++] = (struct adv_pkg){ a->sources[i], i, 1 };
        }
        free(a->sources);
        a->sources = NULL;
        return 0;
}

int tvm_advisories_load(struct db *db, const char *distro, const char *release,
                        const struct tvm_match_options *opts, struct tvm_advisories **ret)
{
        struct tvm_advisories *a = calloc(1, sizeof(*a));
        struct db_stmt *st;
        int r;

        if (!a)
                return -ENOMEM;
        /* CVSS is read as tenths so that the layer's integer columns suffice;
         * ORDER BY uses the same byte order as strcmp() for the lookups */
        r = db_prepare(db, "SELECT source_package, cve, advisory_id, introduced, fixed, status, severity, urgency, "
                           "CAST(round(cvss * 10) AS INTEGER), exploit_known, last_affected FROM tvm_affected "
                           "WHERE distro = $1 AND (release = $2 OR release = '') AND status <> 'not_affected' "
                           "ORDER BY source_package", &st);
        if (r < 0)
                goto fail;
        db_bind_text(st, 1, distro, strlen(distro));
        db_bind_text(st, 2, release, strlen(release));
        while ((r = db_step(st)) == 1) {
                r = row_add(a, st, opts);
                if (r < 0)
                        break;
        }
        db_stmt_done(st);
        if (r == 0)
                r = index_build(a);
        if (r < 0)
                goto fail;
        *ret = a;
        return 0;
fail:
        tvm_advisories_free(a);
        return r;
}

static const struct adv_pkg *pkg_find(const struct tvm_advisories *a, const char *source)
{
        size_t lo = 0, hi = a->n_pkgs;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(a->pkgs[mid].source, source);

                if (c == 0)
                        return &a->pkgs[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

void tvm_vuln_list_release(struct tvm_vuln_list *l)
{
        free(l->v);
        l->v = NULL;
        l->n = l->cap = 0;
}

static struct tvm_vuln *vuln_add(struct tvm_vuln_list *l)
{
        if (l->n == l->cap) {
                size_t cap = l->cap ? 2 * l->cap : 64;
                struct tvm_vuln *v;

                if (cap > TVM_VULNS_MAX)
                        cap = TVM_VULNS_MAX;
                if (l->n == cap)
                        return NULL;
                v = realloc(l->v, cap * sizeof(*v));
                if (!v)
                        return NULL;
                l->v = v;
                l->cap = cap;
        }
        return &l->v[l->n++];
}

static int vuln_order(const void *pa, const void *pb)
{
        const struct tvm_vuln *a = pa, *b = pb;
        int c = strcmp(a->package, b->package);

        return c ? c : strcmp(a->cve, b->cve);
}

/* Folds b, the same (CVE, package) as a, into a. */
static void vuln_merge(struct tvm_vuln *a, const struct tvm_vuln *b)
{
        if (b->fixed && (!a->fixed || dpkgver_compare(b->fixed, a->fixed) > 0)) {
                a->fixed = b->fixed;
                a->advisory_id = b->advisory_id;
        }
        if (b->severity > a->severity)
                a->severity = b->severity;
        if (b->cvss > a->cvss)
                a->cvss = b->cvss;
        if (!*a->urgency)
                a->urgency = b->urgency;
        a->exploit_known |= b->exploit_known;
}

/* Keeps one vulnerability per (package, CVE); l is sorted. */
static void vulns_fold(struct tvm_vuln_list *l)
{
        size_t w = 0;

        for (size_t i = 0; i < l->n; i++) {
                if (w && vuln_order(&l->v[w - 1], &l->v[i]) == 0) {
                        vuln_merge(&l->v[w - 1], &l->v[i]);
                        continue;
                }
                l->v[w++] = l->v[i];
        }
        l->n = w;
}

static int package_match(const struct tvm_advisories *a, const struct tvm_package *p, struct tvm_vuln_list *out)
{
        const char *source = *p->source ? p->source : p->name;
        const char *version = *p->source_version ? p->source_version : p->version;
        const struct adv_pkg *pk = pkg_find(a, source);

        if (!pk)
                return 0;
        for (size_t i = pk->first; i < pk->first + pk->n; i++) {
                const struct adv_row *r = &a->rows[i];
                struct tvm_vuln *v;

                if (strcmp(r->introduced, "0") != 0 && dpkgver_compare(version, r->introduced) < 0)
                        continue;
                if (r->fixed && dpkgver_compare(version, r->fixed) >= 0)
                        continue;
                if (r->last_affected && dpkgver_compare(version, r->last_affected) > 0)
                        continue;
                v = vuln_add(out);
                if (!v)
                        return out->n == TVM_VULNS_MAX ? -E2BIG : -ENOMEM;
                *v = (struct tvm_vuln){ r->cve, p->name, source, version, r->fixed, r->advisory_id, r->urgency,
                                        r->severity, r->cvss, r->exploit_known };
        }
        return 0;
}

int tvm_match(const struct tvm_advisories *a, const struct tvm_package *pkgs, size_t n,
              struct tvm_vuln_list *out)
{
        int r;

        out->n = 0;
        for (size_t i = 0; i < n; i++) {
                r = package_match(a, &pkgs[i], out);
                if (r < 0)
                        return r;
        }
        if (out->n)     /* v is NULL while nothing matched: qsort() must not see it */
                qsort(out->v, out->n, sizeof(*out->v), vuln_order);
        vulns_fold(out);
        return 0;
}

/* Whether the tracker's urgency is word, with or without the asterisks it
 * adds when the urgency is not yet final ("high**"). */
static bool urgency_is(const char *urgency, const char *word)
{
        size_t n = strlen(word);

        if (strncmp(urgency, word, n) != 0)
                return false;
        for (urgency += n; *urgency == '*'; urgency++)
                ;
        return *urgency == '\0';
}

enum tvm_severity tvm_vuln_severity(const struct tvm_vuln *v)
{
        if (v->severity != TVM_SEVERITY_UNKNOWN)
                return v->severity;
        if (v->cvss >= 9.0)
                return TVM_SEVERITY_CRITICAL;
        if (v->cvss >= 7.0)
                return TVM_SEVERITY_HIGH;
        if (v->cvss >= 4.0)
                return TVM_SEVERITY_MEDIUM;
        if (v->cvss > 0)
                return TVM_SEVERITY_LOW;
        if (urgency_is(v->urgency, "high"))
                return TVM_SEVERITY_HIGH;
        if (urgency_is(v->urgency, "low") || urgency_is(v->urgency, "unimportant"))
                return TVM_SEVERITY_LOW;
        return TVM_SEVERITY_MEDIUM;
}

/* The worst of a CVE's rows (one per binary package of the list). */
struct cve_worst {
        const char *cve;
        enum tvm_severity sev;
        bool exploit;
};

static int cve_order(const void *pa, const void *pb)
{
        return strcmp(((const struct cve_worst *)pa)->cve, ((const struct cve_worst *)pb)->cve);
}

int tvm_exposure_compute(const struct tvm_vuln *v, size_t n, enum tvm_exposure *ret)
{
        struct cve_worst *c;
        size_t n_c = 0, count[TVM_SEVERITY_CRITICAL + 1] = { 0 };
        bool exploit = false;

        if (n == 0) {
                *ret = TVM_EXPOSURE_NONE;
                return 0;
        }
        c = malloc(n * sizeof(*c));
        if (!c)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                c[i] = (struct cve_worst){ v[i].cve, tvm_vuln_severity(&v[i]), v[i].exploit_known };
        qsort(c, n, sizeof(*c), cve_order);
        for (size_t i = 0; i < n; i++) {
                if (n_c && strcmp(c[n_c - 1].cve, c[i].cve) == 0) {
                        if (c[i].sev > c[n_c - 1].sev)
                                c[n_c - 1].sev = c[i].sev;
                        c[n_c - 1].exploit |= c[i].exploit;
                        continue;
                }
                c[n_c++] = c[i];
        }
        for (size_t i = 0; i < n_c; i++) {
                count[c[i].sev]++;
                exploit |= c[i].exploit;
        }
        free(c);
        if (count[TVM_SEVERITY_CRITICAL] || exploit || count[TVM_SEVERITY_HIGH] >= EXPOSURE_MANY)
                *ret = TVM_EXPOSURE_HIGH;
        else if (count[TVM_SEVERITY_HIGH] || count[TVM_SEVERITY_MEDIUM] >= EXPOSURE_MANY)
                *ret = TVM_EXPOSURE_MEDIUM;
        else
                *ret = TVM_EXPOSURE_LOW;
        return 0;
}
