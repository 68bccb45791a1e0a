/* Fuzzes the server's check of an agent's "packages" array: the bytes are read
 * as JSON and, if they hold an array (alone, or as "packages" of an object as
 * in an inventory report), checked. A refusal must say why; an accepted array
 * must hold only objects with the five fields as strings. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "server/tvm/tvm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const json_t *packages)
{
        static const char *const fields[] = { "name", "version", "architecture", "source",
                                              "source_version" };
        char err[256];
        size_t i;
        json_t *p;
        int r;

        err[0] = '\0';
        r = tvm_packages_check(packages, err, sizeof(err));
        if (r < 0) {
                if (r != -EINVAL || err[0] == '\0')
                        abort();
                return;
        }
        if (r != 0)
                abort();
        json_array_foreach(packages, i, p)
                for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
                        const char *s = json_string_value(json_object_get(p, fields[f]));
                        if (!s || strlen(s) > TVM_FIELD_MAX || (f < 2 && !*s))
                                abort();
                }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);

        if (!j)
                return 0;
        if (json_is_array(j))
                check(j);
        else if (json_is_object(j) && json_is_array(json_object_get(j, "packages")))
                check(json_object_get(j, "packages"));
        json_decref(j);
        return 0;
}
