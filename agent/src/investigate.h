/* investigate: the investigation package, a tar.gz of what an analyst needs
 * to look at a device (docs/ACTIONS.md lists every member and field):
 *
 *   processes.json    every process: pid, ppid, uid, user, image, command
 *                     line, start time, and its chain of ancestors
 *   connections.json  TCP and UDP sockets, IPv4 and IPv6 (/proc/net), with
 *                     state, addresses, ports and the owning process
 *   users.json        logged-in users (utmp)
 *   files.json        files changed within the window under the sensitive
 *                     paths, with size, mode, owner, times and sha256
 *   alerts.jsonl      the alert lines of the agent's spool
 *   events.jsonl      recent detection events (a callback of the caller)
 *   agent.log         the agent's recent log (a callback of the caller)
 *   manifest.json     last: the device, the time, each member's size and
 *                     sha256, what was cut or failed and why
 *
 * Every read is bounded; the failure of one part is recorded in the
 * manifest and never stops the others. Past max_bytes (uncompressed, all
 * members together) a member is cut, and the manifest says so. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/vbuf.h"

#define INVESTIGATE_MAX_BYTES_DEFAULT (64u << 20)
#define INVESTIGATE_WINDOW_DEFAULT_S (7 * 24 * 3600)
#define INVESTIGATE_PROCESSES_MAX 65536         /* processes listed */
#define INVESTIGATE_LINEAGE_MAX 64              /* ancestors listed per process */
#define INVESTIGATE_SOCKETS_MAX 65536           /* sockets listed */
#define INVESTIGATE_FDS_MAX (1u << 20)          /* descriptors examined to find socket owners */
#define INVESTIGATE_USERS_MAX 4096              /* utmp entries listed */
#define INVESTIGATE_FILES_MAX 20000             /* changed files listed */
#define INVESTIGATE_WALK_MAX 200000             /* directory entries examined */
#define INVESTIGATE_WALK_DEPTH 8                /* directories below a sensitive path */
#define INVESTIGATE_HASH_MAX (1u << 20)         /* files smaller than this get a sha256 */
#define INVESTIGATE_NET_LINE_MAX 512            /* one line of /proc/net/{tcp,udp}[6] */

/* The sensitive paths walked when investigate_opts.sensitive_paths is NULL
 * (docs/ACTIONS.md lists them). A path component "*" stands for every entry
 * of the directory before it, as in the home directories' .ssh. */
extern const char *const investigate_default_paths[];

struct investigate_opts {
        const char *state_dir;          /* the agent's state: spool/alerts-*.jsonl, agent.json */
        const char *proc_root;          /* "/proc" (tests may point elsewhere); NULL: "/proc" */
        const char *const *sensitive_paths;     /* NULL-terminated; NULL: investigate_default_paths */
        int64_t changed_since_s;        /* files changed in the last N seconds; 0: 7 days */
        /* recent events and the agent's recent log, written by the caller's
         * functions into out (whose cap is what is left of max_bytes); a
         * function returns 0, 1 when it left older lines out to fit, or a
         * negative errno. NULL: that member is left out and the manifest
         * says so. */
        int (*recent_events)(void *ctx, struct vbuf *out);
        int (*recent_log)(void *ctx, struct vbuf *out);
        void *ctx;
        size_t max_bytes;               /* 0: 64 MiB; past it, members are cut (manifest) */
        /* added: */
        const char *device_id;          /* NULL: read from STATE/agent.json if onboarded */
        const char *utmp_path;          /* NULL: the system's utmp */
};

/* Collects the package and writes it to out_path (a temporary file beside
 * it, then rename; mode 0600). Returns 0 when a package was written (parts
 * may have failed: see its manifest), or a negative errno with the reason
 * in err when none could be. */
int investigate_collect(const struct investigate_opts *o, const char *out_path, char *err, size_t err_size);

/* One socket of /proc/net/{tcp,tcp6,udp,udp6}. */
struct investigate_socket {
        int family;                     /* AF_INET or AF_INET6 */
        uint8_t local[16], remote[16];  /* network byte order */
        uint16_t local_port, remote_port;
        uint8_t state;                  /* the kernel's TCP_* state number */
        uint32_t uid;
        uint64_t inode;
};

/* Parses one entry line of /proc/net/{tcp,udp} (v6 false) or
 * /proc/net/{tcp6,udp6} (v6 true), without its newline; the header line is
 * not an entry. Pure and bounded (len at most INVESTIGATE_NET_LINE_MAX).
 * Returns 0, or -EINVAL for a line that is not an entry. */
int investigate_net_line_parse(const char *line, size_t len, bool v6, struct investigate_socket *ret);

/* The name of a TCP state number ("established", "listen", ...; "unknown"). */
const char *investigate_tcp_state_name(uint8_t state);
