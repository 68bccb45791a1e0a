/* Fuzzes the agent's check of the configuration the server sends (GET
 * /agent/v1/config, or STATE/config.json read back) and of a rules bundle,
 * both from the same bytes. A refusal is -EINVAL with a message; an accepted
 * configuration holds to its limits (a 64-hex version, at most
 * AGENT_CONFIG_PROFILES_MAX profiles, settings in range) and an accepted
 * bundle names only folder-like packs (no "..", no leading "/"). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/src/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_bundle(const uint8_t *data, size_t size)
{
        json_t *b = NULL, *v;
        char err[512] = "";
        size_t i;
        int r = agent_config_bundle_parse((const char *)data, size, &b, err, sizeof(err));

        if (r != 0) {
                if (r != -EINVAL || !err[0] || b)
                        abort();
                return;
        }
        json_array_foreach(json_object_get(b, "rule_packs"), i, v) {
                const char *s = json_string_value(v);

                if (!s || s[0] == '/' || strstr(s, "..") || !strchr(s, '/'))
                        abort();
        }
        if (json_array_size(json_object_get(b, "extra_rules")) > AGENT_CONFIG_RULES_MAX)
                abort();
        json_decref(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct agent_config_doc d;
        json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
        char err[512] = "";
        int r;

        check_bundle(data, size);
        if (!j)
                return 0;
        r = agent_config_check(j, &d, err, sizeof(err));
        json_decref(j);
        if (r != 0) {
                if ((r != -EINVAL && r != -ENOMEM) || !err[0])
                        abort();
                return 0;
        }
        if (strlen(d.version) != AGENT_CONFIG_VERSION_HEX || d.n_profiles > AGENT_CONFIG_PROFILES_MAX ||
            (d.heartbeat_s && (d.heartbeat_s < 5 || d.heartbeat_s > 86400)) || d.linger_ms > 60000 ||
            d.td_enabled < -1 || d.td_enabled > 1 || !json_is_object(d.settings) ||
            (d.bundle && (!d.signature || !d.certificate)))
                abort();
        agent_config_doc_release(&d);
        return 0;
}
