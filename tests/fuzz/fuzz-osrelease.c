/* Fuzzes the os-release parser: any input must give 0 or a documented error,
 * and on success all six keys, as strings that serialize. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "inventory/inventory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        json_t *os;
        char *dump;
        int r;

        os = json_object();
        if (!os)
                abort();
        r = inventory_os_release_parse((const char *)data, size, os);
        if (r < 0 && r != -E2BIG && r != -ENOMEM)
                abort();
        if (r == 0 && json_object_size(os) != 6)
                abort();
        if (r < 0 && json_object_size(os) != 0)
                abort();
        dump = json_dumps(os, JSON_COMPACT);
        if (!dump)
                abort();
        free(dump);
        json_decref(os);
        return 0;
}
