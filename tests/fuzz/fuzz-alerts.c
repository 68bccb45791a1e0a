/* Fuzzes the server's check of an agent's alert batch (POST /agent/v1/alerts):
 * the bytes are parsed as a batch and every alert in it checked. A refusal
 * must say why and use the documented errors; an accepted batch holds at most
 * DEFEND_BATCH_ALERTS_MAX objects; an accepted alert has a UUID id, a known
 * severity, techniques of the ATT&CK form and a count of at least 1. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "server/defend/defend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_accepted(const json_t *a)
{
        enum defend_level l;
        const json_t *t;
        int64_t first, last;
        size_t i;

        if (strlen(json_string_value(json_object_get(a, "id"))) != DEFEND_ALERT_ID_LEN ||
            defend_level_parse(json_string_value(json_object_get(a, "severity")), false, &l) < 0 ||
            json_integer_value(json_object_get(a, "count")) < 1 ||
            defend_time_parse(json_string_value(json_object_get(a, "first_seen")), &first) < 0 ||
            defend_time_parse(json_string_value(json_object_get(a, "last_seen")), &last) < 0 || last < first)
                abort();
        json_array_foreach(json_object_get(a, "techniques"), i, t) {
                const char *s = json_string_value(t);
                if (!s || s[0] != 'T' || (strlen(s) != 5 && strlen(s) != 9))
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        json_t *alerts = NULL, *a;
        char err[256];
        size_t i;
        int r;

        err[0] = '\0';
        r = defend_batch_parse((const char *)data, size, &alerts, err, sizeof(err));
        if (r < 0) {
                if ((r != -EINVAL && r != -E2BIG) || !err[0])
                        abort();
                return 0;
        }
        if (!json_is_array(alerts) || json_array_size(alerts) > DEFEND_BATCH_ALERTS_MAX)
                abort();
        json_array_foreach(alerts, i, a) {
                err[0] = '\0';
                r = defend_alert_check(a, err, sizeof(err));
                if (r == 0)
                        check_accepted(a);
                else if (r != -EINVAL || !err[0])
                        abort();
        }
        json_decref(alerts);
        return 0;
}
