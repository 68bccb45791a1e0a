/* bus: the in-process event bus. See bus.h. */
#include "server/bus.h"

#include <errno.h>
#include <stdlib.h>

struct bus_subscriber {
        enum bus_event_type type;
        bus_handler_fn fn;
        void *userdata;
};

struct bus {
        struct bus_subscriber subs[BUS_SUBSCRIBERS_MAX];
        size_t n;
};

struct bus *bus_new(void)
{
        return calloc(1, sizeof(struct bus));
}

void bus_free(struct bus *b)
{
        free(b);
}

int bus_subscribe(struct bus *b, enum bus_event_type type, bus_handler_fn fn, void *userdata)
{
        if (b->n >= BUS_SUBSCRIBERS_MAX)
                return -E2BIG;
        b->subs[b->n++] = (struct bus_subscriber){ .type = type, .fn = fn, .userdata = userdata };
        return 0;
}

void bus_publish(struct bus *b, const struct bus_event *ev)
{
        if (!b)
                return;
        for (size_t i = 0; i < b->n; i++)
                if (b->subs[i].type == ev->type)
                        b->subs[i].fn(ev, b->subs[i].userdata);
}
