/* tvm import: 'vigil tvm import FILE|DIR', sending an advisory feed to
 * POST /api/v1/tvm/import. A file goes as it is (an OSV record, a zip of
 * OSV records or the Debian security tracker's JSON); a folder's *.json
 * files go as one zip, so the server imports them as one feed. The origin
 * the server records and replaces by is the file's absolute path unless
 * --origin names another. */
#include "cli/tvm.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "httpc/httpc.h"
#include "util/strutil.h"
#include "util/vbuf.h"

#define IMPORT_BYTES_MAX (256u * 1024 * 1024)  /* the server's TVM_FEED_BYTES_MAX */
#define IMPORT_FILES_MAX 500000                 /* its TVM_FEED_RECORDS_MAX */
#define IMPORT_RECORD_MAX (4u * 1024 * 1024)    /* its TVM_OSV_RECORD_MAX */
#define IMPORT_TIMEOUT_S 600
#define ORIGIN_MAX 1024

static const char cli_tvm_import_usage[] =
        "  tvm import FILE|DIR [--feed osv|debian-tracker] [--origin NAME] [--json]\n"
        "                      (an OSV record, a zip or folder of them, or the tracker's JSON)\n";

static ssize_t on_zip_write(struct archive *a, void *arg, const void *p, size_t n)
{
        if (vbuf_append(arg, p, n) < 0) {
                archive_set_error(a, E2BIG, "larger than %u bytes", IMPORT_BYTES_MAX);
                return -1;
        }
        return (ssize_t)n;
}

static bool is_json_name(const char *name)
{
        size_t n = strlen(name);

        return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".json") == 0;
}

/* Adds one file to the zip. Returns 0, or 1 after saying why. */
static int zip_add(struct archive *a, const char *dir, const char *name)
{
        struct archive_entry *e;
        char path[4200], *data;
        size_t len;
        int r;

        util_path_join(path, sizeof(path), dir, name);
        r = util_file_read(path, IMPORT_RECORD_MAX, &data, &len);
        if (r < 0) {
                fprintf(stderr, "vigil: cannot read '%s': %s\n", path,
                        r == -E2BIG ? "larger than an OSV record may be (4 MiB)" : strerror(-r));
                return 1;
        }
        e = archive_entry_new();
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)len);
        r = archive_write_header(a, e) != ARCHIVE_OK || archive_write_data(a, data, len) != (la_ssize_t)len;
        archive_entry_free(e);
        free(data);
        if (r)
                fprintf(stderr, "vigil: cannot pack '%s': %s\n", path, archive_error_string(a));
        return r;
}

/* Packs a folder's *.json files into a zip in body. Returns 0, or 1 after
 * saying why. */
static int zip_dir(const char *dir, struct vbuf *body)
{
        struct dirent **names = NULL;
        struct archive *a;
        int n, r = 0;

        n = scandir(dir, &names, NULL, alphasort);
        if (n < 0) {
                fprintf(stderr, "vigil: cannot read the folder '%s': %s\n", dir, strerror(errno));
                return 1;
        }
        a = archive_write_new();
        if (!a || archive_write_set_format_zip(a) != ARCHIVE_OK ||
            archive_write_open(a, body, NULL, on_zip_write, NULL) != ARCHIVE_OK) {
                fprintf(stderr, "vigil: cannot make a zip: %s\n", a ? archive_error_string(a) : "out of memory");
                r = 1;
        }
        for (int i = 0, files = 0; i < n; i++) {
                if (r == 0 && is_json_name(names[i]->d_name)) {
                        if (++files > IMPORT_FILES_MAX) {
                                fprintf(stderr, "vigil: '%s' holds more than %d records\n", dir, IMPORT_FILES_MAX);
                                r = 1;
                        } else {
                                r = zip_add(a, dir, names[i]->d_name);
                        }
                }
                free(names[i]);
        }
        free(names);
        if (a && archive_write_close(a) != ARCHIVE_OK && r == 0) {
                fprintf(stderr, "vigil: cannot make a zip of '%s': %s\n", dir, archive_error_string(a));
                r = 1;
        }
        archive_write_free(a);
        return r;
}

/* Appends s to out percent-encoded. Returns 0, or -1 if it does not fit. */
static int url_encode(char *out, size_t size, const char *s)
{
        size_t n = strlen(out);

        for (; *s; s++) {
                unsigned char ch = (unsigned char)*s;
                bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                             strchr("-_.~/", ch);
                int w = plain ? snprintf(out + n, size - n, "%c", ch) : snprintf(out + n, size - n, "%%%02X", ch);
                if (w < 0 || (size_t)w >= size - n)
                        return -1;
                n += (size_t)w;
        }
        return 0;
}

/* Reads FILE, or packs DIR into a zip, into *ret (the caller frees it);
 * *is_zip says what to send it as. Returns 0, or 1 after saying why. */
static int body_read(const char *path, char **ret, size_t *ret_len, bool *is_zip)
{
        struct vbuf zip;
        struct stat st;
        int r;

        if (stat(path, &st) < 0) {
                fprintf(stderr, "vigil: cannot read '%s': %s\n", path, strerror(errno));
                return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
                r = util_file_read(path, IMPORT_BYTES_MAX, ret, ret_len);
                if (r < 0) {
                        fprintf(stderr, "vigil: cannot read '%s': %s\n", path,
                                r == -E2BIG ? "larger than a feed may be (256 MiB)" : strerror(-r));
                        return 1;
                }
                *is_zip = *ret_len >= 4 && memcmp(*ret, "PK\x03\x04", 4) == 0;
                return 0;
        }
        vbuf_init(&zip, IMPORT_BYTES_MAX);
        r = zip_dir(path, &zip);
        if (r == 0 && !(*ret = vbuf_steal(&zip, ret_len))) {
                fprintf(stderr, "vigil: out of memory\n");
                r = 1;
        }
        vbuf_release(&zip);
        *is_zip = true;
        return r;
}

/* Prints what the server did. */
static void result_print(const struct cli *c, const json_t *resp)
{
        if (c->json) {
                cli_print_json(resp);
                return;
        }
        printf("imported the %s feed '%s': %lld records, %lld rows, %lld skipped (import %lld)\n",
               cli_str(resp, "feed"), cli_str(resp, "origin"),
               (long long)json_integer_value(json_object_get(resp, "records")),
               (long long)json_integer_value(json_object_get(resp, "rows")),
               (long long)json_integer_value(json_object_get(resp, "skipped")),
               (long long)json_integer_value(json_object_get(resp, "id")));
}

/* Sends the feed. Returns the exit code. */
static int send_feed(struct cli *c, const char *query, const char *body, size_t len, bool is_zip)
{
        struct httpc_extra x = { .content_type = is_zip ? "application/zip" : "application/json",
                                 .timeout_s = IMPORT_TIMEOUT_S };
        json_t *resp = NULL;
        char err[512];
        long status = 0;
        int r;

        if (cli_connect(c))
                return 1;
        r = httpc_request_ex(c->http, "POST", query, c->token, body, len, &x, &status, &resp, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "vigil: cannot reach the server: %s\n", err);
                return 1;
        }
        if (status != 200) {
                fprintf(stderr, "vigil: %s (HTTP %ld)\n", httpc_error_message(resp, status), status);
                json_decref(resp);
                return 1;
        }
        result_print(c, resp);
        json_decref(resp);
        return 0;
}

int cli_tvm_import(struct cli *c, int argc, char **argv)
{
        static const struct option opts[] = { { "feed", required_argument, NULL, 'f' },
                                              { "origin", required_argument, NULL, 'o' },
                                              { "json", no_argument, NULL, 'j' }, { 0 } };
        const char *feed = NULL, *origin = NULL;
        char query[3 * ORIGIN_MAX + 128], abs[PATH_MAX], *body = NULL;
        size_t len = 0;
        bool is_zip = false;
        int opt, r;

        /* 0, not 1: GNU getopt starts afresh, permuting, so options may follow FILE */
        optind = 0;
        while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (opt) {
                case 'f': feed = optarg; break;
                case 'o': origin = optarg; break;
                case 'j': c->json = true; break;
                default: return cli_usage_error(cli_tvm_import_usage, NULL);
                }
        }
        if (optind != argc - 1)
                return cli_usage_error(cli_tvm_import_usage, "name one file or folder");
        if (feed && strcmp(feed, "osv") != 0 && strcmp(feed, "debian-tracker") != 0)
                return cli_usage_error(cli_tvm_import_usage, "--feed must be osv or debian-tracker");
        if (!origin)
                origin = realpath(argv[optind], abs) ? abs : argv[optind];
        if (!*origin || strlen(origin) > ORIGIN_MAX || !util_str_is_text(origin, ORIGIN_MAX))
                return cli_usage_error(cli_tvm_import_usage, "the origin must be 1 to 1024 bytes of text");
        snprintf(query, sizeof(query), "/api/v1/tvm/import?feed=%s&origin=", feed ? feed : "auto");
        if (url_encode(query, sizeof(query), origin) < 0)
                return cli_usage_error(cli_tvm_import_usage, "the origin is too long");
        r = body_read(argv[optind], &body, &len, &is_zip);
        if (r == 0)
                r = send_feed(c, query, body, len, is_zip);
        free(body);
        return r;
}
