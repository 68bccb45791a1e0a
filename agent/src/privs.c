/* privs: capability dropping with the raw capset(2) interface. See privs.h. */
#include "agent/src/privs.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/strutil.h"

#define CAP_LAST_FALLBACK 40

static int cap_last(void)
{
        char *text;
        uint64_t v;
        int r;

        r = util_file_read("/proc/sys/kernel/cap_last_cap", 32, &text, NULL);
        if (r < 0)
                return CAP_LAST_FALLBACK;
        text[strcspn(text, "\n")] = '\0';
        r = util_uint_parse(text, 63, &v);
        free(text);
        return r < 0 ? CAP_LAST_FALLBACK : (int)v;
}

static bool kept(const int *keep, size_t n, int cap)
{
        for (size_t i = 0; i < n; i++)
                if (keep[i] == cap)
                        return true;
        return false;
}

int privs_keep_only(const int *keep, size_t n, char *err, size_t err_size)
{
        struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct data[2];
        int last = cap_last();

        memset(data, 0, sizeof(data));
        for (size_t i = 0; i < n; i++) {
                if (keep[i] < 0 || keep[i] > 63)
                        continue;
                data[keep[i] / 32].effective |= 1u << (keep[i] % 32);
                data[keep[i] / 32].permitted |= 1u << (keep[i] % 32);
        }
        /* the bounding set first: dropping from it needs CAP_SETPCAP, which goes next */
        for (int cap = 0; cap <= last; cap++) {
                if (kept(keep, n, cap))
                        continue;
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
                        snprintf(err, err_size, "cannot drop capability %d from the bounding set: %s",
                                 cap, strerror(errno));
                        return -errno;
                }
        }
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
                snprintf(err, err_size, "cannot clear ambient capabilities: %s", strerror(errno));
                return -errno;
        }
        if (syscall(SYS_capset, &hdr, data) < 0) {
                snprintf(err, err_size, "capset: %s", strerror(errno));
                return -errno;
        }
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                snprintf(err, err_size, "cannot set no_new_privs: %s", strerror(errno));
                return -errno;
        }
        return 0;
}
