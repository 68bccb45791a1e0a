/* isolate: network isolation of the device with nftables (docs/ACTIONS.md).
 *
 * Isolation is one nftables table, `inet vigil_isolation`, whose input,
 * output and forward base chains drop everything except: loopback; TCP to
 * the server's endpoints (address and port) and their answers; what keeps
 * the device on its network (DHCP client traffic, IPv6 neighbour discovery
 * and MLD, which never leave the link); and ICMP errors related to a
 * connection conntrack already tracks. DNS is not left open: the server's
 * name is resolved before isolation and its addresses are pinned in the
 * rules and in STATE/isolation.json, so that isolation survives restarts and
 * reboots (isolate_restore). Connections that were open before isolation are
 * cut: no rule accepts "established" traffic of any other peer.
 *
 * The table is installed through libnftables in one transaction that
 * replaces an earlier table of the same name, so there is never a moment
 * without rules; CAP_NET_ADMIN is all it needs. libnftables is used under a
 * lock of this module (it is not known to be safe to use from two threads).
 *
 * Test guard: when VIGIL_TEST_NETNS_ONLY is set in the environment, every
 * function that changes the ruleset refuses (-EPERM) to run in the initial
 * network namespace, so a test can never cut off the machine it runs on.
 *
 * Every function writes a message for the user into err on failure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ISOLATE_TABLE "vigil_isolation"         /* in family inet */
#define ISOLATE_STATE_FILE "isolation.json"     /* in the agent's state directory */
#define ISOLATE_ENDPOINTS_MAX 16                /* endpoints one isolation leaves open */
#define ISOLATE_STATE_MAX 8192                  /* cap on isolation.json */
#define ISOLATE_HOST_MAX 253                    /* a DNS name, or an IPv6 literal without brackets */

/* One endpoint left open: an address of the server and its TCP port. */
struct isolate_endpoint {
        int family;             /* AF_INET or AF_INET6 */
        uint8_t addr[16];       /* network byte order; IPv4 in the first 4 bytes */
        uint16_t port;          /* host byte order */
};

/* Splits a server URL "https://HOST[:PORT][/...]" (HOST a name, an IPv4
 * address or a bracketed IPv6 address; PORT 1-65535, 443 when absent) into
 * host (NUL-terminated, without brackets) and *ret_port. Pure and bounded
 * (the URL is at most 2048 bytes). Returns 0, or -EINVAL with the reason in
 * err. */
int isolate_url_split(const char *url, char *host, size_t host_size, uint16_t *ret_port,
                      char *err, size_t err_size);

/* Resolves the server URL's host (https://host:port) to the endpoints to
 * leave open: every distinct TCP address getaddrinfo() gives for it (IPv4
 * and IPv6), with the URL's port, at most max. Returns 0 and the count in
 * *ret_n (at least 1), or -EINVAL (bad URL), -EHOSTUNREACH (the name does
 * not resolve), -E2BIG (more addresses than max; none is dropped silently),
 * with the reason in err. */
int isolate_endpoints_from_url(const char *url, struct isolate_endpoint *out, size_t max, size_t *ret_n,
                               char *err, size_t err_size);

/* Refuses (-EPERM, reason in err) when VIGIL_TEST_NETNS_ONLY is set in the
 * environment and this process is in the initial network namespace
 * (/proc/self/ns/net is /proc/1/ns/net, or has the inode number the kernel
 * gives its initial namespace, for when pid 1 cannot be read), or when
 * /proc/self/ns/net cannot be read.
 * Returns 0 when the ruleset may be changed. */
int isolate_guard(char *err, size_t err_size);

/* Runs nft commands (cmds, NUL-terminated) in one transaction through
 * libnftables, under inventory_nft_lock() and after checking that this
 * process holds CAP_NET_ADMIN and can open a netfilter socket (libnftables
 * would exit() otherwise); what (e.g. "install the isolation table") names
 * the step in err. With ret_out, hands back what nft printed (JSON when
 * json is true; free() it). Shared with the network protection module.
 * Returns 0, -EPERM (no privilege), -EIO (refused), -ENOMEM. */
int isolate_nft_run(const char *what, const char *cmds, bool json, char **ret_out, char *err, size_t err_size);

/* Whether table inet TABLE exists now, read from the kernel's ruleset.
 * Returns 0 and *ret_exists, or a negative errno (as isolate_nft_run). */
int isolate_nft_table_exists(const char *table, bool *ret_exists, char *err, size_t err_size);

/* Makes the creation, replacement or removal of a file in state_dir
 * durable (fsync of the directory; errors ignored, the file itself is
 * already synced by util_file_write). */
void isolate_dir_sync(const char *state_dir);

/* The state files of isolation and network protection. */

/* Joins state_dir and name (a file name) into out (size bytes). Returns 0, or
 * -ENAMETOOLONG when state_dir is NULL or the path does not fit. */
int isolate_state_path(const char *state_dir, const char *name, char *out, size_t size, char *err, size_t err_size);

/* Reads the state file at path (at most max bytes) into *ret_text (free()
 * it) and *ret_len. Returns 1, 0 when there is no such file, or a negative
 * errno (as util_file_read). */
int isolate_state_read(const char *path, size_t max, char **ret_text, size_t *ret_len, char *err, size_t err_size);

/* Writes text (mode 0600, atomically) to the state file at path in
 * state_dir and makes it durable, first keeping the file's earlier content
 * (at most max bytes; NULL when there was none or it could not be read) in
 * *ret_old and *ret_old_len for isolate_state_revert() (free() it). Returns
 * 0, or a negative errno when the file cannot be written (nothing changed,
 * nothing kept). */
int isolate_state_replace(const char *state_dir, const char *path, const char *text, size_t max,
                          char **ret_old, size_t *ret_old_len, char *err, size_t err_size);

/* Puts back what isolate_state_replace() kept: old (old_len bytes) into
 * the file at path, or, when old is NULL, removes the file; makes it
 * durable. Errors are ignored: this undoes a change that already failed. */
void isolate_state_revert(const char *state_dir, const char *path, const char *old, size_t old_len);

/* Removes the state file at path; a missing file is fine. Returns 0 or a
 * negative errno. */
int isolate_state_remove(const char *path, char *err, size_t err_size);

/* Isolates the device: calls isolate_guard, then installs the table in one
 * transaction (replacing an earlier one) leaving eps[0..n) open (1 <= n <=
 * ISOLATE_ENDPOINTS_MAX), then writes STATE_DIR/isolation.json (endpoints
 * and time, mode 0600) atomically (temporary file, fsync, rename). If the
 * state file cannot be written the table stays (the device is isolated) and
 * the error is returned. Returns 0 or a negative errno (-EPERM from the
 * guard or from the kernel, -EINVAL for bad endpoints). */
int isolate_apply(const char *state_dir, const struct isolate_endpoint *eps, size_t n,
                  char *err, size_t err_size);

/* Ends isolation: calls isolate_guard, deletes the table (if present) and
 * then the state file (if present). Idempotent. Returns 0 or a negative
 * errno. */
int isolate_release(const char *state_dir, char *err, size_t err_size);

/* At agent start: if STATE_DIR/isolation.json exists, re-installs the table
 * from its endpoints (after a reboot the kernel forgot it; the guard
 * applies). Returns 1 if the device is isolated now, 0 if there is no state
 * file, or a negative errno (-EINVAL for a state file that is not one, in
 * which case nothing is changed). */
int isolate_restore(const char *state_dir, char *err, size_t err_size);

/* Whether the table is installed now, read from the kernel's ruleset.
 * Returns 0 and *ret_installed, or a negative errno. */
int isolate_status(bool *ret_installed, char *err, size_t err_size);

/* Parses the text of isolation.json (len bytes, at most ISOLATE_STATE_MAX):
 * {"version":1,"isolated_at":"RFC 3339","endpoints":[{"address":"IP",
 * "port":N},...]}. Pure. Returns 0 with the endpoints in out (at most max)
 * and their count in *ret_n, or -EINVAL / -E2BIG with the reason in err. */
int isolate_state_parse(const char *text, size_t len, struct isolate_endpoint *out, size_t max,
                        size_t *ret_n, char *err, size_t err_size);

/* Writes the nft script that isolate_apply() runs into out (NUL-terminated),
 * for eps[0..n). Returns 0, -EINVAL (bad endpoint or count) or -E2BIG. */
int isolate_script_build(const struct isolate_endpoint *eps, size_t n, char *out, size_t size);
