/* Fuzzes the check of a security task's request (POST /api/v1/tvm/tasks):
 * the bytes are parsed as JSON and checked. A refusal must say why; an
 * accepted request names a package within its limit, a known priority, a
 * due date of ten characters when it has one and notes within their limit. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "server/tvm/results.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char *const priorities[] = { "low", "medium", "high", "critical" };
        struct tvm_task_body b;
        json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
        char err[256] = "";
        bool known = false;
        int r;

        if (!body)
                return 0;
        r = tvm_task_body_check(body, &b, err, sizeof(err));
        if (r < 0) {
                if (r != -EINVAL || !err[0])
                        abort();
                json_decref(body);
                return 0;
        }
        for (size_t i = 0; i < 4; i++)
                known |= strcmp(b.priority, priorities[i]) == 0;
        if (!known || !*b.package || strlen(b.package) > TVM_REC_SOURCE_MAX ||
            (b.due_date && strlen(b.due_date) != 10) || (b.notes && strlen(b.notes) > TVM_TASK_NOTES_MAX))
                abort();
        json_decref(body);
        return 0;
}
