/* Fuzzes the proc-connector parser: any bytes give messages that decode
 * within the buffer or a documented error; decoded messages map to sane
 * events; and the same bytes, fed to a detached sensor (no /proc behind
 * it), never crash its state (cache, held uid changes, loss counting). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/src/cnproc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PID_LIMIT 4194304

static void check_event(const struct agent_event *e, void *ctx)
{
        if (e->type < EV_EXEC || e->type > EV_PTRACE)
                abort();
        if (e->proc.pid > PID_LIMIT || e->proc.tid > PID_LIMIT)
                abort();
        if (e->type == EV_EXEC && (e->exec.args_len > EV_ARGS_MAX || e->exec.argc > EV_ARGC_MAX ||
                                   !memchr(e->exec.image, '\0', sizeof(e->exec.image))))
                abort();
        if (!memchr(e->proc.comm, '\0', sizeof(e->proc.comm)))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct evsrc *sensor;
        static uint64_t now;
        size_t off = 0;

        if (!sensor && cnproc_open_detached("/nonexistent/vigil-fuzz-proc", NULL, &sensor) < 0)
                abort();
        while (off < size) {
                struct cnproc_msg m;
                struct agent_event *e;
                int r = cnproc_parse(data + off, size - off, &m);

                if (r == -EINVAL || r == -E2BIG)
                        break;
                if (r <= 0 || (size_t)r > size - off)
                        abort();
                if (!memchr(m.comm, '\0', sizeof(m.comm)))
                        abort();
                e = malloc(sizeof(*e));
                if (!e)
                        abort();
                if (cnproc_msg_event(&m, e) == 1)
                        check_event(e, NULL);
                free(e);
                off += (size_t)r;
        }
        now += 50 * 1000000ull;
        if (cnproc_feed(sensor, data, size, now, check_event, NULL) < 0)
                abort();
        (void)sensor->ops->dropped(sensor);
        return 0;
}
