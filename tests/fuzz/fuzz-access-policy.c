/* Fuzzes the access policy parser on any bytes: parsed as a named location
 * and as a policy (against two fixed locations), it must return 0 with a
 * policy that evaluates against a few requests without crashing (every
 * result one of the six, a decision of 200, 401 or 403), or -EINVAL /
 * -E2BIG with "path: reason". */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/access/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const tags[] = { "kiosk", "" };
static const char *const groups[] = { "g-eng", "" };

static const struct manage_device_facts laptop = {
        .id = "d1", .platform = "linux", .os_name = "Debian GNU/Linux", .os_version = "12", .name = "lap-1",
        .architecture = "x86_64", .kernel = "6.1.0-13-amd64", .tags = tags, .n_tags = 2,
};

static const struct access_location locs[] = {
        { .id = "office", .trusted = true, .n_ranges = 1,
          .ranges = { { .net = { .family = 4, .addr = { 10 } }, .prefix = 8 } } },
        { .id = "v6", .n_ranges = 1,
          .ranges = { { .net = { .family = 6, .addr = { 0x20, 0x01, 0x0d, 0xb8 } }, .prefix = 32 } } },
};

static const struct access_request requests[] = {
        { .user_id = "u-1", .user_upn = "alice@example.com", .groups = groups, .n_groups = 2, .facts = &laptop,
          .enrolled = true, .compliant = true, .client_ip = { .family = 4, .addr = { 10, 1, 2, 3 } },
          .method = "GET", .host = "wiki.example.com", .path = "/docs" },
        { .facts = NULL, .client_ip = { .family = 6, .addr = { 0x20, 0x01, 0x0d, 0xb8, 1 } }, .host = "", .path = "" },
        { .user_upn = "bob@example.com", .facts = &laptop, .host = "a", .path = "/" },
        { .user_upn = "Alice@Example.COM", .facts = &laptop, .enrolled = true, .host = "WIKI.Example.com",
          .path = "/docs/x" },
};

static void check_err(int r, const char *err)
{
        if ((r != -EINVAL && r != -E2BIG && r != -ENOMEM) || !strstr(err, ": "))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct access_location *l = malloc(sizeof(*l));
        struct access_policy *p = NULL;
        char err[512] = "";
        int r;

        if (!l)
                return 0;
        r = access_location_parse((const char *)data, size, l, err, sizeof(err));
        if (r < 0)
                check_err(r, err);
        else if (l->n_ranges == 0 || l->n_ranges > ACCESS_LOCATION_RANGES_MAX)
                abort();
        free(l);

        err[0] = '\0';
        r = access_policy_parse((const char *)data, size, locs, 2, &p, err, sizeof(err));
        if (r < 0) {
                check_err(r, err);
                return 0;
        }
        /* the policy twice: the index must decide as the plain evaluation does */
        const struct access_policy *const ps[] = { p, p };
        struct access_policy_index *x = NULL;
        if (access_policy_index_build(ps, 2, &x) != 0)
                abort();
        for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
                enum access_result res[2], ires[2];
                struct access_decision d = access_evaluate(ps, 2, &requests[i], res);
                struct access_decision di = access_evaluate_indexed(ps, x, &requests[i], ires);

                if (!access_result_name(res[0]) || (d.status != 200 && d.status != 401 && d.status != 403))
                        abort();
                if (d.status != di.status || d.policy != di.policy || d.control != di.control ||
                    memcmp(res, ires, sizeof(res)) != 0)
                        abort();
        }
        access_policy_index_free(x);
        access_policy_free(p);
        return 0;
}
