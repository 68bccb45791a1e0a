/* evsrc: an event source — the agent's sensor. Two implementations: eBPF
 * (evsrc_bpf.c) and the netlink proc connector with /proc enrichment
 * (evsrc_cnproc.c). The agent opens one, polls its descriptor and receives
 * struct agent_event through a callback; the source owns each event only for
 * the duration of the call. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/src/event.h"

#define EVSRC_WATCH_MAX 32

typedef void (*evsrc_cb)(const struct agent_event *ev, void *ctx);

struct evsrc_config {
        /* path prefixes whose file creation/modification is reported (EV_FILE);
         * NULL-terminated, at most EVSRC_WATCH_MAX; NULL for the defaults */
        const char *const *watch_paths;
};

struct evsrc;

struct evsrc_ops {
        const char *name;               /* "bpf" or "cnproc" */
        int (*fd)(struct evsrc *s);
        /* Waits up to timeout_ms and delivers what arrived. Returns events
         * delivered (>= 0) or a negative errno. */
        int (*poll)(struct evsrc *s, int timeout_ms, evsrc_cb cb, void *ctx);
        /* Events the kernel side could not deliver (ring buffer full, ...). */
        uint64_t (*dropped)(struct evsrc *s);
        /* One line: what this source cannot see. */
        const char *(*limitations)(struct evsrc *s);
        /* Stops (true) or resumes (false) the kernel side writing events,
         * from any thread; NULL where the kernel side cannot be paused. */
        void (*pause)(struct evsrc *s, bool paused);
        void (*close)(struct evsrc *s);
};

struct evsrc {
        const struct evsrc_ops *ops;
};

/* Opens the eBPF sensor: probes BTF and BPF support, loads and attaches the
 * programs. Returns 0, -EOPNOTSUPP (no BPF/BTF here, reason in err), -EPERM
 * (not privileged), or another negative errno with a message in err. */
int evsrc_bpf_open(const struct evsrc_config *cfg, struct evsrc **ret, char *err, size_t err_size);

/* Opens the proc-connector sensor. Returns 0, -EPERM, or a negative errno
 * with a message in err. */
int evsrc_cnproc_open(const struct evsrc_config *cfg, struct evsrc **ret, char *err, size_t err_size);

/* The default watched paths (NULL-terminated): /etc, cron, systemd units,
 * ~/.ssh/authorized_keys, /etc/ld.so.preload, shell profiles. */
extern const char *const evsrc_default_watch_paths[];

/* Added with the proc-connector sensor: true if path falls under a watched
 * entry. An entry is a byte-wise prefix of the path, except that a "*"
 * standing as a whole component matches exactly one non-empty path
 * component, so "/home/STAR/.ssh/authorized_keys" (STAR being "*") names
 * every user's keys without watching all of /home. */
bool evsrc_watch_match(const char *pattern, const char *path);

/* The eBPF sensor's clocks, for evsrc_bpf_record_convert(). */
struct evsrc_bpf_clock {
        int64_t wall_offset_ns;         /* CLOCK_REALTIME - CLOCK_MONOTONIC */
        uint64_t ns_per_tick;           /* 1e9 / sysconf(_SC_CLK_TCK) */
};

/* Converts one record of the eBPF sensor's ring buffer (the layout of
 * include/vigil/bpf_event.h, size bytes) into *ret, which is written only
 * on success. Returns 0, or -EINVAL for a record that is short, inconsistent
 * or of an unknown type. Exported for the unit test; present only in builds
 * with the eBPF sensor (HAVE_BPF). */
int evsrc_bpf_record_convert(const void *rec, size_t size, const struct evsrc_bpf_clock *clk,
                             struct agent_event *ret);
