/* Fuzzes the check of a webhook subscription as an admin sends it
 * (POST and PATCH /api/v1/webhooks): the bytes are read as JSON, as the HTTP
 * layer reads a body, and checked both as a creation and as a change. A
 * refusal must be -EINVAL and say why; an accepted body must give a URL that
 * passes the URL check again, a name of text, only known events, and a
 * secret within its bounds. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "server/webhook/webhook.h"
#include "util/strutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_accepted(const struct webhook_sub_input *in, bool partial)
{
        char err[512];
        uint32_t known = 0;

        for (size_t k = 0; webhook_event_names[k]; k++)
                known |= 1u << k;
        if (!partial && (!in->name || !in->url || !in->has_events))
                abort();
        if (in->name && (!*in->name || !util_str_is_text(in->name, WEBHOOK_NAME_MAX)))
                abort();
        if (in->url && webhook_url_check(in->url, err, sizeof(err)) != 0)
                abort();
        if (in->has_events && (in->events == 0 || (in->events & ~known)))
                abort();
        if (in->secret && (strlen(in->secret) < WEBHOOK_SECRET_MIN || !util_str_printable(in->secret, WEBHOOK_SECRET_MAX)))
                abort();
        if (in->ca_pem && !in->has_ca_pem)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct webhook_sub_input in;
        char err[512];
        json_t *j;

        /* NUL bytes in strings too, which the HTTP layer already refuses */
        j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
        if (!j)
                return 0;
        for (int partial = 0; partial < 2; partial++) {
                int r;

                err[0] = '\0';
                r = webhook_sub_check(j, partial, &in, err, sizeof(err));
                if (r == 0)
                        check_accepted(&in, partial);
                else if (r != -EINVAL || !err[0])
                        abort();
        }
        json_decref(j);
        return 0;
}
