/* Fuzzes the parsers of the connector's outside input: the bytes as a
 * remote partner's risk body, both as one device's PUT
 * /partner/v1/devices/{id}/risk and as a batch POST /partner/v1/risk, and,
 * read as JSON, as an admin's PUT /api/v1/connector. A refusal must be
 * -EINVAL or -E2BIG and say why; an accepted body must give 1 to
 * CONNECTOR_BATCH_MAX updates of known levels, ids of printable text,
 * times no later than the allowed skew, and settings within bounds. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "server/connector/connector.h"
#include "util/strutil.h"

#define NOW_NS (1796025600LL * 1000000000LL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct connector_update u[CONNECTOR_BATCH_MAX];

static void check_updates(size_t n)
{
        if (n < 1 || n > CONNECTOR_BATCH_MAX)
                abort();
        for (size_t i = 0; i < n; i++) {
                if (!util_str_printable(u[i].device_id, CONNECTOR_DEVICE_ID_MAX) || strchr(u[i].device_id, '/'))
                        abort();
                if (u[i].level > CONNECTOR_LEVEL_HIGH || u[i].as_of > NOW_NS + CONNECTOR_FUTURE_SKEW_NS)
                        abort();
                if (u[i].reasons && (!json_is_array(u[i].reasons) ||
                                     json_array_size(u[i].reasons) > CONNECTOR_REASONS_MAX))
                        abort();
                for (size_t k = 0; k < i && n <= 64; k++)
                        if (strcmp(u[k].device_id, u[i].device_id) == 0)
                                abort();
        }
}

static void fuzz_partner(const char *body, size_t size, const char *id)
{
        char err[512] = "";
        json_t *j = NULL;
        size_t n = 0;
        int r;

        r = connector_partner_body_parse(body, size, id, NOW_NS, u, &n, &j, err, sizeof(err));
        if (r == 0) {
                if (!j || (id && n != 1))
                        abort();
                check_updates(n);
                json_decref(j);
        } else if ((r != -EINVAL && r != -E2BIG) || !err[0] || j) {
                abort();
        }
}

static void fuzz_settings(const char *body, size_t size)
{
        struct connector_settings cur = { CONNECTOR_PARTNER_BUILTIN, CONNECTOR_PLATFORM_LINUX, 86400, false }, s;
        char err[512] = "";
        json_t *j = json_loadb(body, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
        int r;

        if (!j)
                return;
        r = connector_settings_check(j, &cur, &s, err, sizeof(err));
        if (r == 0) {
                if (s.partner > CONNECTOR_PARTNER_REMOTE || (s.platforms & ~CONNECTOR_PLATFORM_LINUX) ||
                    s.unresponsive_after < CONNECTOR_UNRESPONSIVE_MIN ||
                    s.unresponsive_after > CONNECTOR_UNRESPONSIVE_MAX)
                        abort();
        } else if (r != -EINVAL || !err[0]) {
                abort();
        }
        json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        fuzz_partner((const char *)data, size, "6d1e068f-a298-449c-ae65-efd4002fd234");
        fuzz_partner((const char *)data, size, NULL);
        fuzz_settings((const char *)data, size);
        return 0;
}
