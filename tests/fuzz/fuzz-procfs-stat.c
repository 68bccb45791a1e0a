/* Fuzzes the /proc parsers of lib/procfs on the same bytes: stat, status,
 * loginuid, cmdline packing, fd link targets and cgroup lines. Any input
 * gives success with bounded, NUL-terminated results, or a documented error. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "procfs/procfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_cmdline(const char *buf, size_t size, size_t out_size, uint32_t argc_max)
{
        char out[64];
        struct procfs_args a;
        uint32_t nuls = 0;

        if (procfs_cmdline_pack(buf, size, size & 1, out, out_size, argc_max, &a) != 0)
                abort();
        if (a.len > out_size || a.argc > argc_max)
                abort();
        for (uint32_t i = 0; i < a.len; i++)
                nuls += out[i] == '\0';
        if (nuls != a.argc || (a.len > 0 && out[a.len - 1] != '\0'))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *buf = (const char *)data;
        struct procfs_stat st;
        struct procfs_status status;
        const char *path;
        size_t plen;
        uint32_t v;
        int r;

        r = procfs_stat_parse(buf, size, &st);
        if (r != 0 && r != -EINVAL && r != -ERANGE)
                abort();
        if (r == 0 && (strnlen(st.comm, sizeof(st.comm)) >= sizeof(st.comm) ||
                       st.kthread != ((st.flags & PROCFS_KTHREAD_FLAG) != 0)))
                abort();
        r = procfs_status_parse(buf, size, &status);
        if (r != 0 && r != -EINVAL && r != -ERANGE)
                abort();
        r = procfs_loginuid_parse(buf, size, &v);
        if (r != 0 && r != -EINVAL && r != -ERANGE)
                abort();
        check_cmdline(buf, size, 1 + size % 64, (uint32_t)(size % 7));
        check_cmdline(buf, size, 64, 64);
        if (procfs_fd_kind_of(buf, size) > PROCFS_FD_TTY)
                abort();
        r = procfs_cgroup_v2_path(buf, size, &path, &plen);
        if (r == 0 && (path < buf || path + plen > buf + size || plen == 0 || path[0] != '/'))
                abort();
        if (r != 0 && r != -ENOENT && r != -EINVAL)
                abort();
        return 0;
}
