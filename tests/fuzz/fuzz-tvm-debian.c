/* Fuzzes the Debian security tracker JSON parser (server/tvm/feed-debian.c).
 * A refusal must be -EINVAL or -E2BIG with a message; an accepted feed holds
 * at least one entry, and every row is a Debian release's, introduced "0",
 * with a fixed version exactly when its status is fixed, and a known
 * status and severity. */
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

static void check_row(const struct tvm_row *w)
{
        static const char *const statuses[] = { "fixed", "open", "undetermined", "not_affected", NULL };
        static const char *const severities[] = { "unknown", "low", "medium", "high", "critical", NULL };

        if (strcmp(w->distro, "debian") != 0 || !w->release[0] || strcmp(w->introduced, "0") != 0 ||
            !one_of(w->status, statuses) || !one_of(w->severity, severities) || !w->cve[0] ||
            strcmp(w->cve, w->advisory_id) != 0 || !w->source_package[0] || w->has_cvss || w->last_affected ||
            (strcmp(w->status, "fixed") == 0) != (w->fixed != NULL) ||
            (w->fixed && (!w->fixed[0] || strlen(w->fixed) > TVM_VERSION_MAX || strchr(w->fixed, ' '))) ||
            !w->urgency || strlen(w->urgency) > TVM_URGENCY_MAX || strlen(w->summary) > TVM_SUMMARY_MAX)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct tvm_feed *f = NULL;
        char err[512];
        int r;

        err[0] = '\0';
        r = tvm_feed_parse((const char *)data, size, TVM_FEED_DEBIAN_TRACKER, &f, err, sizeof(err));
        if (r < 0) {
                if ((r != -EINVAL && r != -E2BIG) || !err[0] || f)
                        abort();
                return 0;
        }
        if (f->kind != TVM_FEED_DEBIAN_TRACKER || f->records == 0 || f->n_rows > TVM_FEED_ROWS_MAX)
                abort();
        for (size_t i = 0; i < f->n_rows; i++)
                check_row(&f->rows[i]);
        tvm_feed_free(f);
        return 0;
}
