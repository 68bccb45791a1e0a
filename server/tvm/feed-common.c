/* tvm feeds: the parsed feed (rows and the strings they point to), the
 * checks the two parsers share, and the reading of a feed from a document,
 * a zip or a folder. See feeds.h. */
#include "server/tvm/feed-internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/strutil.h"

#define CHUNK_SIZE (1024 * 1024)
#define ZIP_MAGIC "PK\x03\x04"

/* A block of the feed's strings. */
struct tvm_chunk {
        struct tvm_chunk *next;
        size_t used, size;
        char data[];
};

const char *tvm_feed_kind_name(enum tvm_feed_kind kind)
{
        switch (kind) {
        case TVM_FEED_OSV: return "osv";
        case TVM_FEED_DEBIAN_TRACKER: return "debian-tracker";
        case TVM_FEED_AUTO: break;
        }
        return "auto";
}

int tvm_feed_kind_parse(const char *s, enum tvm_feed_kind *ret)
{
        static const enum tvm_feed_kind kinds[] = { TVM_FEED_AUTO, TVM_FEED_OSV, TVM_FEED_DEBIAN_TRACKER };

        for (size_t i = 0; s && i < sizeof(kinds) / sizeof(kinds[0]); i++)
                if (strcmp(s, tvm_feed_kind_name(kinds[i])) == 0) {
                        *ret = kinds[i];
                        return 0;
                }
        return -EINVAL;
}

struct tvm_feed *tvm_feed_new(void)
{
        return calloc(1, sizeof(struct tvm_feed));
}

void tvm_feed_free(struct tvm_feed *f)
{
        if (!f)
                return;
        tvm_chunks_free(f->chunks);
        free(f->rows);
        free(f);
}

const char *tvm_chunk_strndup(struct tvm_chunk **chunks, const char *s, size_t n)
{
        struct tvm_chunk *c = *chunks;
        char *p;

        if (!c || c->size - c->used < n + 1) {
                size_t size = n + 1 > CHUNK_SIZE ? n + 1 : CHUNK_SIZE;
                c = malloc(sizeof(*c) + size);
                if (!c)
                        return NULL;
                c->used = 0;
                c->size = size;
                c->next = *chunks;
                *chunks = c;
        }
        p = c->data + c->used;
        memcpy(p, s, n);
        p[n] = '\0';
        c->used += n + 1;
        return p;
}

void tvm_chunks_free(struct tvm_chunk *chunks)
{
        while (chunks) {
                struct tvm_chunk *next = chunks->next;
                free(chunks);
                chunks = next;
        }
}

const char *feed_strndup(struct tvm_feed *f, const char *s, size_t n)
{
        return tvm_chunk_strndup(&f->chunks, s, n);
}

int feed_row_add(struct tvm_feed *f, struct tvm_row **ret)
{
        if (f->n_rows >= TVM_FEED_ROWS_MAX)
                return -E2BIG;
        if (f->n_rows == f->rows_cap) {
                size_t cap = f->rows_cap ? f->rows_cap * 2 : 256;
                struct tvm_row *rows;

                if (cap > TVM_FEED_ROWS_MAX)    /* the last doubling stops at the cap */
                        cap = TVM_FEED_ROWS_MAX;
                rows = reallocarray(f->rows, cap, sizeof(*rows));
                if (!rows)
                        return -ENOMEM;
                f->rows = rows;
                f->rows_cap = cap;
        }
        *ret = &f->rows[f->n_rows++];
        memset(*ret, 0, sizeof(**ret));
        return 0;
}

bool feed_version_ok(const char *s)
{
        size_t n = s ? strlen(s) : 0;

        return n > 0 && n <= TVM_VERSION_MAX &&
               strspn(s, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.+~:-_") == n;
}

bool feed_id_ok(const char *s, size_t max)
{
        size_t n = s ? strlen(s) : 0;

        return n > 0 && n <= max &&
               strspn(s, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.+-_:") == n;
}

bool feed_json_depth_ok(const json_t *v, int depth)
{
        const char *k;
        json_t *x;
        size_t i;

        if (depth > TVM_JSON_DEPTH_MAX)
                return false;
        if (json_is_object(v)) {
                json_object_foreach((json_t *)v, k, x)
                        if ((json_is_object(x) || json_is_array(x)) && !feed_json_depth_ok(x, depth + 1))
                                return false;
        } else if (json_is_array(v)) {
                json_array_foreach(v, i, x)
                        if ((json_is_object(x) || json_is_array(x)) && !feed_json_depth_ok(x, depth + 1))
                                return false;
        }
        return true;
}

const char *feed_summary(struct tvm_feed *f, const char *s, bool first_line)
{
        char buf[TVM_SUMMARY_MAX + 1];
        size_t n = 0;

        for (; s && s[n] && n < TVM_SUMMARY_MAX; n++) {
                if (first_line && s[n] == '\n')
                        break;
                buf[n] = (unsigned char)s[n] < 0x20 || s[n] == 0x7f ? ' ' : s[n];
        }
        /* cut before a partial UTF-8 sequence: back over continuation bytes
         * to the lead byte, and drop it when its sequence does not fit */
        if (s && s[n] && !(first_line && s[n] == '\n') && ((unsigned char)s[n] & 0xc0) == 0x80) {
                while (n > 0 && ((unsigned char)buf[n - 1] & 0xc0) == 0x80)
                        n--;
                if (n > 0)
                        n--;
        }
        while (n > 0 && buf[n - 1] == ' ')
                n--;
        return feed_strndup(f, buf, n);
}

const char *feed_urgency_severity(const char *urgency)
{
        static const char *const words[][2] = {
                { "unimportant", "low" }, { "negligible", "low" }, { "low", "low" }, { "medium", "medium" },
                { "high", "high" }, { "critical", "critical" },
        };
        size_t n = urgency ? strcspn(urgency, "*") : 0;

        for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
                if (strlen(words[i][0]) == n && strncmp(urgency, words[i][0], n) == 0)
                        return words[i][1];
        return "unknown";
}

const char *feed_debian_release(const char *codename)
{
        static const char *const releases[][2] = {
                { "woody", "3.0" }, { "sarge", "3.1" }, { "etch", "4" }, { "lenny", "5" }, { "squeeze", "6" },
                { "wheezy", "7" }, { "jessie", "8" }, { "stretch", "9" }, { "buster", "10" },
                { "bullseye", "11" }, { "bookworm", "12" }, { "trixie", "13" }, { "forky", "14" },
                { "duke", "15" }, { "sid", "sid" },
        };

        for (size_t i = 0; i < sizeof(releases) / sizeof(releases[0]); i++)
                if (strcmp(codename, releases[i][0]) == 0)
                        return releases[i][1];
        return NULL;
}

/* Messages quote the feed (names, versions, types, cut at a byte count):
 * keep them printable ASCII, so that a log line stays one line and the
 * message stays a valid JSON string in tvm_feed_imports and the API. */
static void err_printable(char *err, size_t err_size)
{
        for (size_t i = 0; i < err_size && err[i]; i++)
                if ((unsigned char)err[i] < 0x20 || (unsigned char)err[i] > 0x7e)
                        err[i] = '?';
}

json_t *feed_json_load(const char *data, size_t len, char *err, size_t err_size)
{
        json_error_t je;
        json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);

        if (!j)
                snprintf(err, err_size, "not valid JSON: line %d column %d: %s", je.line, je.column, je.text);
        return j;
}

int tvm_osv_parse(struct tvm_feed *f, const char *data, size_t len, const char *name, char *err, size_t err_size)
{
        char msg[256];
        json_t *j;
        int r;

        if (len > TVM_OSV_RECORD_MAX) {
                snprintf(err, err_size, "record%s%s%s: larger than %u bytes", name ? " in '" : "", name ? name : "",
                         name ? "'" : "", TVM_OSV_RECORD_MAX);
                return -E2BIG;
        }
        j = feed_json_load(data, len, msg, sizeof(msg));
        if (!j) {
                snprintf(err, err_size, "record%s%s%s: %s", name ? " in '" : "", name ? name : "", name ? "'" : "",
                         msg);
                return -EINVAL;
        }
        r = feed_osv_record(f, j, name, err, err_size);
        json_decref(j);
        if (r < 0)
                err_printable(err, err_size);
        return r;
}

int tvm_tracker_parse(struct tvm_feed *f, const char *data, size_t len, char *err, size_t err_size)
{
        int r;

        if (len > TVM_FEED_BYTES_MAX) {
                snprintf(err, err_size, "the tracker's JSON is larger than %u bytes", TVM_FEED_BYTES_MAX);
                return -E2BIG;
        }
        r = feed_tracker_text(f, data, len, err, err_size);
        if (r < 0)
                err_printable(err, err_size);
        return r;
}

/* A name from a zip or folder fit for a message. */
static const char *shown_name(const char *name)
{
        return name && util_str_printable(name, 255) ? name : "(unprintable name)";
}

static bool has_suffix(const char *s, const char *suffix)
{
        size_t n = strlen(s), m = strlen(suffix);

        return n > m && strcmp(s + n - m, suffix) == 0;
}

/* Reads the entry the archive is at into buf (TVM_OSV_RECORD_MAX + 1 bytes). */
static int zip_entry_read(struct tvm_feed *f, struct archive *a, const char *name, char *buf, size_t *ret_len,
                          char *err, size_t err_size)
{
        size_t len = 0;
        la_ssize_t n;

        while ((n = archive_read_data(a, buf + len, TVM_OSV_RECORD_MAX + 1 - len)) > 0) {
                len += (size_t)n;
                if (len > TVM_OSV_RECORD_MAX) {
                        snprintf(err, err_size, "zip entry '%s': larger than %u bytes", shown_name(name),
                                 TVM_OSV_RECORD_MAX);
                        return -E2BIG;
                }
        }
        if (n < 0) {
                snprintf(err, err_size, "zip entry '%s': %s", shown_name(name), archive_error_string(a));
                return -EINVAL;
        }
        if (f->unzipped + len > TVM_FEED_UNZIPPED_MAX) {
                snprintf(err, err_size, "the records hold more than %u bytes", TVM_FEED_UNZIPPED_MAX);
                return -E2BIG;
        }
        f->unzipped += len;
        *ret_len = len;
        return 0;
}

/* Parses every *.json entry of a zip as an OSV record. */
static int zip_parse(struct tvm_feed *f, const char *data, size_t len, char *err, size_t err_size)
{
        struct archive_entry *e;
        struct archive *a;
        size_t entries = 0, n;
        char *buf;
        int r = 0, ar;

        buf = malloc(TVM_OSV_RECORD_MAX + 1);
        a = archive_read_new();
        if (!buf || !a) {
                r = -ENOMEM;
                goto out;
        }
        archive_read_support_format_zip(a);
        if (archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
                snprintf(err, err_size, "not a zip archive: %s", archive_error_string(a));
                r = -EINVAL;
                goto out;
        }
        while ((ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
                const char *name = archive_entry_pathname(e);
                if (++entries > TVM_FEED_RECORDS_MAX) {
                        snprintf(err, err_size, "the zip holds more than %d entries", TVM_FEED_RECORDS_MAX);
                        r = -E2BIG;
                        goto out;
                }
                if (archive_entry_filetype(e) != AE_IFREG || !name || !has_suffix(name, ".json"))
                        continue;
                r = zip_entry_read(f, a, name, buf, &n, err, err_size);
                if (r == 0)
                        r = tvm_osv_parse(f, buf, n, shown_name(name), err, err_size);
                if (r < 0)
                        goto out;
        }
        if (ar != ARCHIVE_EOF) {
                snprintf(err, err_size, "bad zip archive: %s", archive_error_string(a));
                r = -EINVAL;
        }
out:
        archive_read_free(a);
        free(buf);
        return r;
}

/* Parses one document into f: a zip, an OSV record or the tracker's JSON. */
static int doc_parse(struct tvm_feed *f, const char *data, size_t len, enum tvm_feed_kind kind, char *err,
                     size_t err_size)
{
        json_t *j;
        int r;

        if (len > TVM_FEED_BYTES_MAX) {
                snprintf(err, err_size, "the feed is larger than %u bytes", TVM_FEED_BYTES_MAX);
                return -E2BIG;
        }
        if (len >= 4 && memcmp(data, ZIP_MAGIC, 4) == 0) {
                if (kind == TVM_FEED_DEBIAN_TRACKER) {
                        snprintf(err, err_size, "a zip holds OSV records, not the tracker's JSON");
                        return -EINVAL;
                }
                return zip_parse(f, data, len, err, err_size);
        }
        /* past the size of an OSV record only the tracker's JSON remains */
        if (kind == TVM_FEED_DEBIAN_TRACKER || (kind == TVM_FEED_AUTO && len > TVM_OSV_RECORD_MAX))
                return tvm_tracker_parse(f, data, len, err, err_size);
        if (kind == TVM_FEED_OSV)
                return tvm_osv_parse(f, data, len, NULL, err, err_size);
        j = feed_json_load(data, len, err, err_size);
        if (!j)
                return -EINVAL;
        if (json_is_string(json_object_get(j, "id")))
                r = feed_osv_record(f, j, NULL, err, err_size);
        else
                r = feed_tracker_doc(f, j, err, err_size);
        json_decref(j);
        return r;
}

/* Refuses a feed that holds nothing: a truncated download must not wipe
 * what is there. */
static int feed_finish(struct tvm_feed *f, enum tvm_feed_kind kind, struct tvm_feed **ret, char *err,
                       size_t err_size)
{
        if (f->records == 0) {
                snprintf(err, err_size, "the feed holds no %s", kind == TVM_FEED_DEBIAN_TRACKER
                         ? "entries" : kind == TVM_FEED_OSV ? "OSV records" : "records");
                tvm_feed_free(f);
                return -EINVAL;
        }
        *ret = f;
        return 0;
}

int tvm_feed_parse(const char *data, size_t len, enum tvm_feed_kind kind, struct tvm_feed **ret,
                   char *err, size_t err_size)
{
        struct tvm_feed *f = tvm_feed_new();
        int r;

        if (!f)
                return -ENOMEM;
        r = doc_parse(f, data, len, kind, err, err_size);
        if (r < 0) {
                err_printable(err, err_size);
                tvm_feed_free(f);
                return r;
        }
        return feed_finish(f, kind, ret, err, err_size);
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.json and *.zip names of a folder, sorted; the caller frees them. */
static int dir_list(const char *path, char ***ret, size_t *ret_n, char *err, size_t err_size)
{
        struct dirent *de;
        char **names = NULL;
        size_t n = 0;
        DIR *dir;
        int r = 0;

        *ret = NULL;
        *ret_n = 0;
        dir = opendir(path);
        if (!dir) {
                r = -errno;
                util_path_fail(err, err_size, path, "%s", strerror(-r));
                return r;
        }
        while ((de = readdir(dir))) {
                char **more;
                if (de->d_name[0] == '.' || (!has_suffix(de->d_name, ".json") && !has_suffix(de->d_name, ".zip")))
                        continue;
                if (n >= TVM_FEED_RECORDS_MAX) {
                        util_path_fail(err, err_size, path, "more than %d files", TVM_FEED_RECORDS_MAX);
                        r = -E2BIG;
                        break;
                }
                more = reallocarray(names, n + 1, sizeof(*names));
                if (!more || !(more[n] = strdup(de->d_name))) {
                        names = more ? more : names;
                        r = -ENOMEM;
                        break;
                }
                names = more;
                n++;
        }
        closedir(dir);
        if (r == 0 && n)
                qsort(names, n, sizeof(*names), cmp_names);
        *ret = names;
        *ret_n = n;
        return r;
}

/* Reads a file of the feed into f. */
static int file_parse(struct tvm_feed *f, const char *path, enum tvm_feed_kind kind, bool in_dir, char *err,
                      size_t err_size)
{
        char *data, msg[512];
        size_t len;
        int r;

        r = util_file_read(path, TVM_FEED_BYTES_MAX, &data, &len);
        if (r == -E2BIG)
                util_path_fail(err, err_size, path, "larger than %u bytes", TVM_FEED_BYTES_MAX);
        else if (r < 0)
                util_path_fail(err, err_size, path, "%s", strerror(-r));
        if (r < 0)
                return r;
        /* a folder's records count against the same total as a zip's */
        if (in_dir && (f->unzipped += len) > TVM_FEED_UNZIPPED_MAX) {
                free(data);
                util_path_fail(err, err_size, path, "the folder's records hold more than %u bytes",
                               TVM_FEED_UNZIPPED_MAX);
                return -E2BIG;
        }
        r = doc_parse(f, data, len, kind, msg, sizeof(msg));
        free(data);
        if (r < 0)
                util_path_fail(err, err_size, path, "%s", msg);
        return r;
}

static int dir_parse(struct tvm_feed *f, const char *path, char *err, size_t err_size)
{
        char **names, file[4200];
        size_t n;
        int r;

        r = dir_list(path, &names, &n, err, err_size);
        for (size_t i = 0; r == 0 && i < n; i++) {
                util_path_join(file, sizeof(file), path, names[i]);
                r = file_parse(f, file, TVM_FEED_OSV, true, err, err_size);
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return r;
}

int tvm_feed_load_path(const char *path, enum tvm_feed_kind kind, struct tvm_feed **ret,
                       char *err, size_t err_size)
{
        struct tvm_feed *f;
        struct stat st;
        int r;

        if (stat(path, &st) < 0) {
                r = -errno;
                util_path_fail(err, err_size, path, "%s", strerror(-r));
                return r;
        }
        if (S_ISDIR(st.st_mode) && kind == TVM_FEED_DEBIAN_TRACKER)
                return util_path_fail(err, err_size, path, "a folder holds OSV records; the tracker's JSON is one file");
        f = tvm_feed_new();
        if (!f)
                return -ENOMEM;
        r = S_ISDIR(st.st_mode) ? dir_parse(f, path, err, err_size) : file_parse(f, path, kind, false, err, err_size);
        if (r == 0 && f->records == 0)
                r = util_path_fail(err, err_size, path, "holds no records");
        if (r < 0) {
                err_printable(err, err_size);
                tvm_feed_free(f);
                return r;
        }
        *ret = f;
        return 0;
}
