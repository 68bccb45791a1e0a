/* Fuzzes the device filter expression compiler on any bytes: it must
 * return 0 with an expression that evaluates against a few devices without
 * crashing, or -EINVAL / -E2BIG with "at column N: reason", and never
 * recurse without bound. Versions are compared both ways for symmetry. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/manage/expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const tags[] = { "kiosk", "floor-2", "" };

static const struct manage_device_facts devices[] = {
        { .id = "a", .platform = "linux", .os_name = "Debian GNU/Linux", .os_version = "12", .name = "lab-1",
          .architecture = "x86_64", .kernel = "6.1.0-13-amd64", .tags = tags, .n_tags = 3 },
        { .id = "b" },
        { .id = "c", .os_version = "22.04.3", .name = "*?", .kernel = "x" },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct manage_expr *e = NULL;
        char err[512] = "";
        int r, c1, c2;

        r = manage_expr_compile((const char *)data, size, &e, err, sizeof(err));
        if (r == 0) {
                for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++)
                        manage_expr_eval(e, &devices[i]);
                manage_expr_free(e);
        } else if ((r != -EINVAL && r != -E2BIG) || strncmp(err, "at column ", 10) != 0) {
                abort();
        }
        /* the first half against the second as versions */
        if (size >= 2 && size < 256 && !memchr(data, 0, size)) {
                char a[256], b[256];
                size_t h = size / 2;

                memcpy(a, data, h);
                a[h] = '\0';
                memcpy(b, data + h, size - h);
                b[size - h] = '\0';
                r = manage_version_compare(a, b, &c1);
                if (r == 0 && (manage_version_compare(b, a, &c2) != 0 || c1 != -c2))
                        abort();
        }
        return 0;
}
