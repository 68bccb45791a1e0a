/* ruleset: the rules loaded for one schema, and the loading of files and
 * directories.
 *
 * Every document of a file is built on its own and reported to the
 * caller's diagnostic function; a rejected or unsupported document leaves
 * nothing in the ruleset. A rule whose id is already loaded is rejected
 * (the first one wins). Field names are found through a small
 * open-addressing table; so are rule ids. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sigma/sigma-internal.h"

#define DIR_DEPTH_MAX 16
#define DIR_ENTRIES_MAX 100000u

static uint32_t hash_bytes(const char *s, size_t len)
{
        uint32_t h = 2166136261u;

        for (size_t i = 0; i < len; i++)
                h = (h ^ (unsigned char)s[i]) * 16777619u;
        return h;
}

int sigma_ruleset_new(const struct sigma_schema *schema, struct sigma_ruleset **ret)
{
        struct sigma_ruleset *rs;

        if (!schema || schema->n_fields > SIGMA_FIELDS_MAX || schema->n_categories > SIGMA_CATEGORIES_MAX ||
            (schema->n_fields && !schema->fields) || (schema->n_categories && !schema->categories))
                return -EINVAL;
        rs = calloc(1, sizeof(*rs));
        if (!rs)
                return -ENOMEM;
        rs->schema = schema;
        rs->cap_fieldmap = 2 * SIGMA_FIELDS_MAX;
        rs->fieldmap = calloc(rs->cap_fieldmap, sizeof(uint32_t));
        if (!rs->fieldmap)
                goto fail;
        for (size_t i = 0; i < schema->n_fields; i++) {
                const char *f = schema->fields[i];
                uint32_t h;

                if (!f || !*f || sigma_ruleset_field_lookup(rs, f, strlen(f)) != SIGMA_FIELD_ABSENT)
                        goto bad;
                h = hash_bytes(f, strlen(f)) & (rs->cap_fieldmap - 1);
                while (rs->fieldmap[h])
                        h = (h + 1) & (rs->cap_fieldmap - 1);
                rs->fieldmap[h] = (uint32_t)i + 1;
        }
        for (size_t i = 0; i < schema->n_categories; i++)
                if (!schema->categories[i])
                        goto bad;
        *ret = rs;
        return 0;
bad:
        sigma_ruleset_free(rs);
        return -EINVAL;
fail:
        sigma_ruleset_free(rs);
        return -ENOMEM;
}

void sigma_ruleset_free(struct sigma_ruleset *rs)
{
        if (!rs)
                return;
        for (uint32_t i = 0; i < rs->n_rules; i++)
                sigma_rule_free(rs->rules[i]);
        free(rs->rules);
        free(rs->ids);
        free(rs->fieldmap);
        free(rs);
}

uint32_t sigma_ruleset_field_lookup(const struct sigma_ruleset *rs, const char *name, size_t len)
{
        uint32_t h = hash_bytes(name, len) & (rs->cap_fieldmap - 1);

        while (rs->fieldmap[h]) {
                const char *f = rs->schema->fields[rs->fieldmap[h] - 1];

                if (strlen(f) == len && memcmp(f, name, len) == 0)
                        return rs->fieldmap[h] - 1;
                h = (h + 1) & (rs->cap_fieldmap - 1);
        }
        return SIGMA_FIELD_ABSENT;
}

int sigma_ruleset_field_id(const struct sigma_ruleset *rs, const char *name)
{
        uint32_t id = sigma_ruleset_field_lookup(rs, name, strlen(name));

        return id == SIGMA_FIELD_ABSENT ? -ENOENT : (int)id;
}

/* Index of the loaded rule with this id, or -1. */
static int64_t id_find(const struct sigma_ruleset *rs, const char *id)
{
        uint32_t h;

        if (!rs->cap_ids)
                return -1;
        h = hash_bytes(id, strlen(id)) & (rs->cap_ids - 1);
        while (rs->ids[h]) {
                if (strcmp(rs->rules[rs->ids[h] - 1]->id, id) == 0)
                        return rs->ids[h] - 1;
                h = (h + 1) & (rs->cap_ids - 1);
        }
        return -1;
}

static void id_put(uint32_t *ids, uint32_t cap, const char *id, uint32_t v)
{
        uint32_t h = hash_bytes(id, strlen(id)) & (cap - 1);

        while (ids[h])
                h = (h + 1) & (cap - 1);
        ids[h] = v;
}

/* Appends a rule (taken on success). */
static int ruleset_append(struct sigma_ruleset *rs, struct sigma_rule *r)
{
        int e;

        e = sigma_grow((void **)&rs->rules, &rs->cap_rules, rs->n_rules + 1, sizeof(*rs->rules), SIGMA_RULES_MAX);
        if (e < 0)
                return e;
        if (r->id[0] && 2 * (rs->n_rules + 1) > rs->cap_ids) {
                uint32_t cap = rs->cap_ids ? 2 * rs->cap_ids : 256;
                uint32_t *ids = calloc(cap, sizeof(*ids));

                if (!ids)
                        return -ENOMEM;
                for (uint32_t i = 0; i < rs->n_rules; i++)
                        if (rs->rules[i]->id[0])
                                id_put(ids, cap, rs->rules[i]->id, i + 1);
                free(rs->ids);
                rs->ids = ids;
                rs->cap_ids = cap;
        }
        rs->rules[rs->n_rules++] = r;
        if (r->id[0])
                id_put(rs->ids, rs->cap_ids, r->id, rs->n_rules);
        return 0;
}

static void diag_emit(sigma_diag_fn fn, void *userdata, enum sigma_load_status st, const char *name,
                      unsigned line, const char *reason)
{
        struct sigma_diag d = { .status = st, .line = line };

        if (!fn)
                return;
        snprintf(d.file, sizeof(d.file), "%s", name);
        snprintf(d.reason, sizeof(d.reason), "%s", reason);
        fn(&d, userdata);
}

/* One built document: checks the id, keeps or drops it, reports it.
 * Returns 1 when loaded, 0 when not, -ENOMEM/-E2BIG. */
static int doc_finish(struct sigma_ruleset *rs, const char *name, int st, struct sigma_rule *r,
                      struct sigma_err *err, sigma_diag_fn fn, void *userdata)
{
        int64_t dup;
        int e;

        if (st != SIGMA_REJECTED && r->id[0] && (dup = id_find(rs, r->id)) >= 0) {
                const struct sigma_rule *o = rs->rules[dup];

                sigma_err_set(err, r->id_line, "duplicate rule id '%.40s' (first in %.80s line %u)", r->id,
                              o->file, o->line);
                st = SIGMA_REJECTED;
        }
        if (st != SIGMA_LOADED) {
                sigma_rule_free(r);
                diag_emit(fn, userdata, (enum sigma_load_status)st, name, err->line, err->reason);
                return 0;
        }
        e = ruleset_append(rs, r);
        if (e < 0) {
                sigma_rule_free(r);
                return e;
        }
        diag_emit(fn, userdata, SIGMA_LOADED, name, r->line, "");
        return 1;
}

int sigma_ruleset_add_buffer(struct sigma_ruleset *rs, const char *name, const char *buf, size_t len,
                             sigma_diag_fn fn, void *userdata)
{
        struct sigma_yparser *yp = NULL;
        struct sigma_ydoc doc = { 0 };
        int loaded = 0, r;

        if (len > SIGMA_FILE_MAX)
                return -E2BIG;
        if (!buf && len)
                return -EINVAL;
        if (!buf)
                buf = "";
        if (!name)
                name = "";
        r = sigma_yparser_new(buf, len, &yp);
        while (r >= 0) {
                struct sigma_err err = { 0 };
                struct sigma_rule *rule = NULL;
                int st;

                if (rs->n_rules >= SIGMA_RULES_MAX) {
                        r = -E2BIG;
                        break;
                }
                r = sigma_yparser_next(yp, &doc, &err);
                if (r <= 0)
                        break;
                if (r == 2) {
                        diag_emit(fn, userdata, SIGMA_REJECTED, name, err.line, err.reason);
                        continue;
                }
                if (doc.root == UINT32_MAX || sigma_ynode_is_null(&doc, &doc.nodes[doc.root]))
                        continue;       /* an empty document is no rule */
                st = sigma_rule_build(rs, &doc, name, &rule, &err);
                if (st < 0) {
                        r = st;
                        break;
                }
                r = doc_finish(rs, name, st, rule, &err, fn, userdata);
                if (r > 0)
                        loaded++;
        }
        sigma_ydoc_release(&doc);
        sigma_yparser_free(yp);
        return r < 0 ? r : loaded;
}

int sigma_ruleset_add_file(struct sigma_ruleset *rs, const char *path, sigma_diag_fn fn, void *userdata)
{
        struct stat st;
        char *buf = NULL, reason[SIGMA_REASON_MAX];
        size_t got = 0;
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                snprintf(reason, sizeof(reason), "cannot open: %s", strerror(errno));
                goto reject;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                snprintf(reason, sizeof(reason), "not a regular file");
                goto reject;
        }
        if ((uint64_t)st.st_size > SIGMA_FILE_MAX) {
                snprintf(reason, sizeof(reason), "file larger than %u bytes", SIGMA_FILE_MAX);
                goto reject;
        }
        buf = malloc((size_t)st.st_size + 1);
        if (!buf) {
                close(fd);
                return -ENOMEM;
        }
        while (got < (size_t)st.st_size) {
                ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                got += (size_t)n;
        }
        close(fd);
        fd = -1;
        r = sigma_ruleset_add_buffer(rs, path, buf, got, fn, userdata);
        free(buf);
        return r;
reject:
        if (fd >= 0)
                close(fd);
        diag_emit(fn, userdata, SIGMA_REJECTED, path, 0, reason);
        return 0;
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_rule_file(const char *n)
{
        size_t l = strlen(n);

        return (l > 4 && strcmp(n + l - 4, ".yml") == 0) || (l > 5 && strcmp(n + l - 5, ".yaml") == 0);
}

/* Sorted names of dir's entries, hidden ones left out. */
static int dir_names(const char *dir, char ***ret, size_t *ret_n)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        char **v = NULL;
        size_t n = 0, cap = 0;

        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                if (n == cap) {
                        char **nv;

                        if (cap >= DIR_ENTRIES_MAX)
                                break;
                        cap = cap ? cap * 2 : 64;
                        nv = realloc(v, cap * sizeof(*v));
                        if (!nv)
                                goto nomem;
                        v = nv;
                }
                v[n] = strdup(de->d_name);
                if (!v[n])
                        goto nomem;
                n++;
        }
        closedir(d);
        if (n)
                qsort(v, n, sizeof(*v), cmp_names);
        *ret = v;
        *ret_n = n;
        return 0;
nomem:
        closedir(d);
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
        return -ENOMEM;
}

static int add_dir_rec(struct sigma_ruleset *rs, const char *dir, int depth, sigma_diag_fn fn, void *userdata)
{
        char **names = NULL, path[4096];
        size_t n = 0;
        int loaded = 0, r;

        r = dir_names(dir, &names, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++) {
                struct stat st;

                if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= sizeof(path) ||
                    lstat(path, &st) < 0)
                        continue;
                if (S_ISDIR(st.st_mode) && depth < DIR_DEPTH_MAX) {
                        r = add_dir_rec(rs, path, depth + 1, fn, userdata);
                        if (r == -ENOMEM || r == -E2BIG)
                                break;
                        r = r < 0 ? 0 : r;      /* an unreadable subdirectory is skipped */
                } else if (S_ISREG(st.st_mode) && is_rule_file(names[i])) {
                        r = sigma_ruleset_add_file(rs, path, fn, userdata);
                }
                if (r > 0)
                        loaded += r;
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return r < 0 ? r : loaded;
}

int sigma_ruleset_add_dir(struct sigma_ruleset *rs, const char *dir, sigma_diag_fn fn, void *userdata)
{
        return add_dir_rec(rs, dir, 0, fn, userdata);
}

size_t sigma_ruleset_count(const struct sigma_ruleset *rs)
{
        return rs->n_rules;
}

const struct sigma_rule *sigma_ruleset_rule(const struct sigma_ruleset *rs, size_t i)
{
        return i < rs->n_rules ? rs->rules[i] : NULL;
}

const char *sigma_rule_id(const struct sigma_rule *r) { return r->id; }
const char *sigma_rule_title(const struct sigma_rule *r) { return r->title; }
const char *sigma_rule_status(const struct sigma_rule *r) { return r->status; }
const char *sigma_rule_description(const struct sigma_rule *r) { return r->description; }
const char *sigma_rule_file(const struct sigma_rule *r) { return r->file; }
unsigned sigma_rule_line(const struct sigma_rule *r) { return r->line; }
enum sigma_level sigma_rule_level(const struct sigma_rule *r) { return r->level; }
uint32_t sigma_rule_category(const struct sigma_rule *r) { return r->category; }
size_t sigma_rule_tag_count(const struct sigma_rule *r) { return r->n_tags; }
size_t sigma_rule_unknown_field_count(const struct sigma_rule *r) { return r->n_unknown; }

const char *sigma_rule_tag(const struct sigma_rule *r, size_t i)
{
        return i < r->n_tags ? r->tags[i] : "";
}

const char *sigma_rule_unknown_field(const struct sigma_rule *r, size_t i)
{
        return i < r->n_unknown ? r->unknown[i] : "";
}

const char *sigma_level_name(enum sigma_level l)
{
        static const char *const names[] = { "informational", "low", "medium", "high", "critical" };

        return l >= SIGMA_LEVEL_INFORMATIONAL && l <= SIGMA_LEVEL_CRITICAL ? names[l - 1] : "";
}
