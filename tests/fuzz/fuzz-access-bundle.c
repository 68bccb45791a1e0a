/* Fuzzes the parser of an access apply request (server/access/store.h) on
 * any bytes: it must return 0 with a bundle whose lists are within their
 * caps, every document canonical (no longer than ACCESS_DOC_MAX, its text
 * NUL-terminated at its length) and every location id fit for a URL and
 * given once; or -EINVAL / -E2BIG with "path: reason". */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/access/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_docs(const struct access_bundle_doc *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!json_is_object(v[i].json) || !v[i].text || strlen(v[i].text) != v[i].len ||
                    v[i].len > ACCESS_DOC_MAX)
                        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct access_bundle b = { 0 };
        char err[512] = "";
        int r;

        r = access_bundle_parse((const char *)data, size, &b, err, sizeof(err));
        if (r < 0) {
                if ((r != -EINVAL && r != -E2BIG && r != -ENOMEM) || !strstr(err, ": "))
                        abort();
                return 0;
        }
        if (b.n_locations > ACCESS_LOCATIONS_MAX || b.n_policies > ACCESS_POLICIES_MAX ||
            (b.single && (b.n_policies != 1 || b.n_locations != 0)))
                abort();
        check_docs(b.location_docs, b.n_locations);
        check_docs(b.policy_docs, b.n_policies);
        for (size_t i = 0; i < b.n_locations; i++) {
                if (!access_location_id_ok(b.locations[i].id))
                        abort();
                for (size_t k = 0; k < i; k++)
                        if (strcmp(b.locations[i].id, b.locations[k].id) == 0)
                                abort();
        }
        access_bundle_release(&b);
        return 0;
}
