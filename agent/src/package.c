/* The onboarding package: a small JSON file an admin hands to a device,
 * {"vigil_onboarding": 1, "server_url": "https://...", "server_ca": "PEM",
 *  "enrollment_token": "...", "expires_at": "..."}. Parsed with bounds. */
#include "agent/src/agent.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strutil.h"

#define TOKEN_MAX 1024
#define CA_MAX (32 * 1024)

int agent_package_parse(const char *text, size_t len, struct agent_package *ret,
                        char *err, size_t err_size)
{
        const char *url, *ca, *token;
        json_int_t version;
        json_error_t jerr;
        json_t *j;
        int r = -EINVAL;

        if (len > AGENT_PACKAGE_MAX) {
                snprintf(err, err_size, "larger than %d bytes: not an onboarding package", AGENT_PACKAGE_MAX);
                return -E2BIG;
        }
        j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!j) {
                snprintf(err, err_size, "not JSON (line %d: %s)", jerr.line, jerr.text);
                return -EINVAL;
        }
        if (json_unpack(j, "{s:I,s:s,s:s,s:s}", "vigil_onboarding", &version, "server_url", &url,
                        "server_ca", &ca, "enrollment_token", &token) < 0) {
                snprintf(err, err_size, "missing vigil_onboarding, server_url, server_ca or enrollment_token");
                goto out;
        }
        if (version != 1) {
                snprintf(err, err_size, "package format %lld is not supported (this agent reads 1)",
                         (long long)version);
                goto out;
        }
        if (strncmp(url, "https://", 8) != 0 || strlen(url) <= 8 || strlen(url) > AGENT_URL_MAX ||
            !util_str_printable(url, AGENT_URL_MAX) || strchr(url, ' ')) {
                snprintf(err, err_size, "server_url must be an https:// URL of at most %d bytes", AGENT_URL_MAX);
                goto out;
        }
        if (strlen(ca) > CA_MAX || !strstr(ca, "-----BEGIN CERTIFICATE-----")) {
                snprintf(err, err_size, "server_ca must be a PEM certificate");
                goto out;
        }
        if (strlen(token) > TOKEN_MAX || !util_str_printable(token, TOKEN_MAX)) {
                snprintf(err, err_size, "enrollment_token is not a token");
                goto out;
        }
        {
                char *ca_copy = strdup(ca), *token_copy = strdup(token);
                if (!ca_copy || !token_copy) {
                        free(ca_copy);
                        free(token_copy);
                        r = -ENOMEM;
                        snprintf(err, err_size, "out of memory");
                        goto out;
                }
                ret->server_ca = ca_copy;
                ret->token = token_copy;
        }
        memcpy(ret->server_url, url, strlen(url) + 1);
        r = 0;
out:
        json_decref(j);
        return r;
}

void agent_package_release(struct agent_package *p)
{
        free(p->server_ca);
        if (p->token)
                explicit_bzero(p->token, strlen(p->token));
        free(p->token);
        p->server_ca = NULL;
        p->token = NULL;
}
