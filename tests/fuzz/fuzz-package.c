/* Fuzzes the agent's onboarding package parser: any input must give 0,
 * -EINVAL or -E2BIG with a message, and a parsed package must hold what the
 * parser promises (an https:// URL, a PEM marker, a printable token). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/src/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct agent_package p;
        char err[256];
        int r;

        err[0] = '\0';
        r = agent_package_parse((const char *)data, size, &p, err, sizeof(err));
        if (r < 0) {
                if ((r != -EINVAL && r != -E2BIG && r != -ENOMEM) || err[0] == '\0')
                        abort();
                return 0;
        }
        if (r != 0 || strncmp(p.server_url, "https://", 8) != 0 ||
            strlen(p.server_url) > AGENT_URL_MAX || !p.server_ca ||
            !strstr(p.server_ca, "-----BEGIN CERTIFICATE-----") || !p.token || !p.token[0])
                abort();
        for (const char *c = p.token; *c; c++)
                if (*c < 0x20 || *c > 0x7e)
                        abort();
        agent_package_release(&p);
        if (p.server_ca || p.token)
                abort();
        return 0;
}
