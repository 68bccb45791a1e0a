/* Fuzzes vigild's configuration parser: any input must give 0 or -EINVAL with
 * a message, leave the configuration untouched on error, and never yield a
 * value outside the bounds the parser promises. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/vigild.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_bounds(const struct vigild_config *cfg)
{
        if (!memchr(cfg->listen, '\0', sizeof(cfg->listen)) ||
            !memchr(cfg->public_url, '\0', sizeof(cfg->public_url)) || cfg->listen[0] == '\0')
                abort();
        if (cfg->public_url[0] && strncmp(cfg->public_url, "https://", 8) != 0)
                abort();
        if (cfg->heartbeat_interval < 1 || cfg->heartbeat_interval > 86400 || cfg->inactive_after < 1 || cfg->body_max < 1024 ||
            cfg->body_max > 256u * 1024 * 1024 || cfg->threads < 1 || cfg->threads > 64 ||
            cfg->device_cert_days < 1 || cfg->device_cert_days > 3650 ||
            cfg->connection_timeout < 1 || cfg->connection_timeout > 86400 ||
            cfg->max_devices < 1 || cfg->max_devices > 100000000 ||
            cfg->max_connections < 1 || cfg->max_connections > 1000000 ||
            cfg->log_level < 0 || cfg->log_level > 3)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct vigild_config cfg, before;
        char err[256];
        int r;

        vigild_config_defaults(&cfg);
        memcpy(&before, &cfg, sizeof(cfg));
        err[0] = '\0';
        r = vigild_config_parse((const char *)data, size, &cfg, err, sizeof(err));
        if (r == 0) {
                check_bounds(&cfg);
                return 0;
        }
        if (r != -EINVAL || err[0] == '\0' || memcmp(&cfg, &before, sizeof(cfg)) != 0)
                abort();
        return 0;
}
