/* Fuzzes the OSV feed parser (server/tvm/feed-*.c): the bytes are read as
 * an OSV feed, one record or a zip of records. A refusal must be -EINVAL or
 * -E2BIG with a message; an accepted feed holds at least one record, at
 * most TVM_FEED_ROWS_MAX rows, and every row names Debian or Ubuntu, a
 * source package, valid versions and a known status and severity. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/tvm/feeds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool one_of(const char *s, const char *const *set)
{
        for (; s && *set; set++)
                if (strcmp(s, *set) == 0)
                        return true;
        return false;
}

static bool version_ok(const char *s)
{
        return s && *s && strlen(s) <= TVM_VERSION_MAX && !strpbrk(s, " \t\n\"");
}

static void check_row(const struct tvm_row *w)
{
        static const char *const distros[] = { "debian", "ubuntu", NULL };
        static const char *const statuses[] = { "fixed", "open", NULL };
        static const char *const severities[] = { "unknown", "low", "medium", "high", "critical", NULL };

        if (!one_of(w->distro, distros) || !one_of(w->status, statuses) || !one_of(w->severity, severities) ||
            !w->advisory_id[0] || !w->cve[0] || !w->source_package[0] || !w->release || !version_ok(w->introduced) ||
            (w->fixed && !version_ok(w->fixed)) || (w->last_affected && !version_ok(w->last_affected)) ||
            (strcmp(w->status, "fixed") == 0) != (w->fixed != NULL) || !w->urgency || !w->summary ||
            strlen(w->summary) > TVM_SUMMARY_MAX || !w->modified[0] ||
            (w->has_cvss && (w->cvss < 0 || w->cvss > 10)))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct tvm_feed *f = NULL;
        char err[512];
        int r;

        err[0] = '\0';
        r = tvm_feed_parse((const char *)data, size, TVM_FEED_OSV, &f, err, sizeof(err));
        if (r < 0) {
                if ((r != -EINVAL && r != -E2BIG) || !err[0] || f)
                        abort();
                return 0;
        }
        if (f->kind != TVM_FEED_OSV || f->records == 0 || f->n_rows > TVM_FEED_ROWS_MAX)
                abort();
        for (size_t i = 0; i < f->n_rows; i++)
                check_row(&f->rows[i]);
        tvm_feed_free(f);
        return 0;
}
