/* Fuzzes the two parsers of the isolation module on the same bytes: the
 * server URL split (isolate_url_split) and the state file
 * (isolate_state_parse). Any input gives success with bounded results, or
 * -EINVAL / -E2BIG with a message; parsed endpoints always make a valid
 * nft script. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/src/isolate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_url(const uint8_t *data, size_t size)
{
        char url[4096], host[ISOLATE_HOST_MAX + 1], err[256] = "";
        uint16_t port = 0;
        int r;

        if (size >= sizeof(url))
                return;
        memcpy(url, data, size);
        url[size] = '\0';
        r = isolate_url_split(url, host, sizeof(host), &port, err, sizeof(err));
        if (r < 0) {
                if (r != -EINVAL || err[0] == '\0')
                        abort();
                return;
        }
        if (r != 0 || port == 0 || host[0] == '\0' || strlen(host) > ISOLATE_HOST_MAX ||
            strncmp(url, "https://", 8) != 0)
                abort();
}

static void check_state(const uint8_t *data, size_t size)
{
        struct isolate_endpoint eps[ISOLATE_ENDPOINTS_MAX];
        char err[256] = "", *script;
        size_t n = 0;
        int r;

        r = isolate_state_parse((const char *)data, size, eps, ISOLATE_ENDPOINTS_MAX, &n, err, sizeof(err));
        if (r < 0) {
                if ((r != -EINVAL && r != -E2BIG) || err[0] == '\0')
                        abort();
                return;
        }
        if (n == 0 || n > ISOLATE_ENDPOINTS_MAX)
                abort();
        for (size_t i = 0; i < n; i++)
                if ((eps[i].family != AF_INET && eps[i].family != AF_INET6) || eps[i].port == 0)
                        abort();
        script = malloc(16384);
        if (!script || isolate_script_build(eps, n, script, 16384) != 0 || !strstr(script, "policy drop"))
                abort();
        free(script);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        check_url(data, size);
        check_state(data, size);
        return 0;
}
