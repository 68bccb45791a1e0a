/* Fuzzes the dpkg status parser: any input must give 0 or a documented
 * error, leave the array untouched on error, and yield JSON that serializes. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "inventory/inventory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        json_t *pkgs, *first;
        char *dump;
        int r;

        pkgs = json_array();
        first = json_string("sentinel");
        if (!pkgs || !first || json_array_append_new(pkgs, first) < 0)
                abort();
        r = inventory_dpkg_parse((const char *)data, size, pkgs);
        if (r < 0 && r != -E2BIG && r != -ENOMEM)
                abort();
        if (r < 0 && json_array_size(pkgs) != 1)
                abort();
        for (size_t i = 1; i < json_array_size(pkgs); i++)
                if (json_object_size(json_array_get(pkgs, i)) != 5)
                        abort();
        dump = json_dumps(pkgs, JSON_COMPACT);
        if (!dump)
                abort();
        free(dump);
        json_decref(pkgs);
        return 0;
}
