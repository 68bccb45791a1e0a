/* evsrc_bpf_none: the eBPF sensor of an agent built without clang/bpftool. */
#include <errno.h>
#include <stdio.h>

#include "agent/src/evsrc.h"

int evsrc_bpf_open(const struct evsrc_config *cfg, struct evsrc **ret, char *err, size_t err_size)
{
        snprintf(err, err_size, "this agent was built without the eBPF sensor (clang or bpftool missing)");
        return -EOPNOTSUPP;
}
