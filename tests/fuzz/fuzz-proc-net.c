/* Fuzzes the parser of /proc/net/{tcp,udp}[6] lines that the investigation
 * package uses (investigate_net_line_parse), as IPv4 and as IPv6: success
 * with a family that matches, or -EINVAL. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "agent/src/investigate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        for (int v6 = 0; v6 < 2; v6++) {
                struct investigate_socket s = { .family = -1 };
                int r = investigate_net_line_parse((const char *)data, size, v6, &s);

                if (r != 0 && r != -EINVAL)
                        abort();
                if (r == 0 && s.family != (v6 ? AF_INET6 : AF_INET))
                        abort();
                if (r != 0 && s.family != -1)
                        abort();
                if (investigate_tcp_state_name(s.state) == NULL)
                        abort();
        }
        return 0;
}
