/* netprotect: network protection, the configuration-profile setting that
 * blocks a list of addresses, ranges and domain names on the device with
 * nftables and reports the attempts it blocked (docs/NETPROTECT.md).
 *
 * The policy is one nftables table, `inet vigil_netprotect`, independent of
 * isolation's (both may be installed; isolation drops everything else, so it
 * wins). Each entry of the policy has a chain of its own, eN, that counts the
 * packets opening a connection (ct state new) and drops every packet (or,
 * audit_only, accepts it). Verdict maps send traffic to those chains: addr4
 * and addr6 (intervals) hold the addresses and ranges, name4 and name6 the
 * addresses the domain names resolved to, each element with a timeout. The
 * output and forward chains look up destinations, the input and forward
 * chains sources. Domains are resolved with getaddrinfo() at apply, at
 * restore and at every netprotect_refresh(), which the agent calls every
 * NETPROTECT_REFRESH_S; addresses expire after NETPROTECT_NAME_TIMEOUT_S
 * when they are not resolved again. nftables matches addresses, never
 * names: what that cannot do is in the docs.
 *
 * The policy applied is kept in STATE/netprotect.json (restored at start
 * like isolation), the counts last seen in STATE/netprotect-counts.json
 * (for the time of the last blocked attempt). The ruleset is changed through
 * isolate_nft_run() in one transaction, and every function that changes it
 * calls isolate_guard() first (VIGIL_TEST_NETNS_ONLY).
 *
 * The functions that take a state directory are meant for one thread at a
 * time (the agent's profile thread); libnftables is used under
 * inventory_nft_lock(). Every function writes a message for the user into
 * err on failure. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/src/isolate.h"

#define NETPROTECT_TABLE "vigil_netprotect"             /* in family inet */
#define NETPROTECT_STATE_FILE "netprotect.json"         /* in the agent's state directory */
#define NETPROTECT_COUNTS_FILE "netprotect-counts.json"
#define NETPROTECT_ENTRIES_MAX 10000                    /* entries of one policy */
#define NETPROTECT_JSON_MAX (4u << 20)                  /* cap on the policy and the state file */
#define NETPROTECT_ENTRY_MAX 256                        /* one entry's text, with "*." */
#define NETPROTECT_NAME_MAX 253                         /* a domain name, without "*." */
#define NETPROTECT_NAME_ADDRS_MAX 32                    /* addresses kept per domain */
#define NETPROTECT_REFRESH_S 600                        /* how often domains are resolved again */
#define NETPROTECT_NAME_TIMEOUT_S 3600                  /* a resolved address left unrefreshed expires */

enum netprotect_kind {
        NETPROTECT_IPV4 = 1,    /* an address or a CIDR range */
        NETPROTECT_IPV6 = 2,
        NETPROTECT_DOMAIN = 3,  /* a name, or "*.name" */
};

/* One entry, in canonical form. */
struct netprotect_entry {
        enum netprotect_kind kind;
        uint8_t addr[16];               /* IPV4/IPV6: network byte order, host bits zero */
        unsigned prefix;                /* IPV4: 0-32, IPV6: 0-128 */
        bool wildcard;                  /* DOMAIN: "*.name" */
        char name[NETPROTECT_NAME_MAX + 1];     /* DOMAIN: lower case, no trailing dot */
};

/* A policy, parsed from the profile's JSON:
 *   {"block": ["198.51.100.0/24", "2001:db8::/32", "192.0.2.7", "bad.example",
 *              "*.ads.example"], "audit_only": false}
 * and the server it must never cut (netprotect_policy_set_server). */
struct netprotect_policy {
        struct netprotect_entry *entries;       /* in the order given, duplicates removed */
        size_t n;
        bool audit_only;                        /* count and report, do not block */
        char server_host[ISOLATE_HOST_MAX + 1]; /* "" until set */
        struct isolate_endpoint server[ISOLATE_ENDPOINTS_MAX];
        size_t n_server;
};

/* Parses and validates a policy (len bytes of JSON, at most
 * NETPROTECT_JSON_MAX; "block" is required, "audit_only" optional, no other
 * member). Entries: an IPv4 or IPv6 address, a CIDR range of one (host bits
 * zero), or a domain name of LDH labels (1-63 bytes, no leading or trailing
 * hyphen, at least two labels, the last not all digits, at most 253 bytes,
 * a trailing dot allowed), optionally "*." before it (the name and every
 * name under it). Entries are made canonical (lower case, no trailing dot,
 * "/32" and "/128" dropped, IPv6 compressed) and duplicates dropped.
 * Refused: more than NETPROTECT_ENTRIES_MAX entries; an entry that covers
 * loopback (127.0.0.0/8, ::1), that is IPv4-mapped IPv6, or a range
 * overlapping another; "localhost" and names under it. Pure and bounded.
 * Returns 0 and *ret (free it with netprotect_policy_free), or -EINVAL /
 * -E2BIG with the entry and the reason in err. */
int netprotect_policy_parse(const char *json, size_t len, struct netprotect_policy **ret, char *err,
                            size_t err_size);

/* Frees a policy; NULL is fine. */
void netprotect_policy_free(struct netprotect_policy *p);

/* Records the server of this agent (its URL, https://HOST[:PORT]) in p:
 * resolves it (isolate_endpoints_from_url) and refuses an entry that would
 * cut it: a range covering one of its addresses, or a domain entry that is
 * or covers its host name. netprotect_apply() refuses a policy without it.
 * Returns 0, or -EINVAL / -EHOSTUNREACH / -E2BIG with the reason (naming the
 * entry) in err; p's server is unchanged on failure. */
int netprotect_policy_set_server(struct netprotect_policy *p, const char *server_url, char *err,
                                 size_t err_size);

/* The canonical text of one entry ("198.51.100.0/24", "192.0.2.7",
 * "*.example.com") into out (at least NETPROTECT_ENTRY_MAX bytes). */
void netprotect_entry_text(const struct netprotect_entry *e, char out[static NETPROTECT_ENTRY_MAX]);

/* Installs p (whose server is set): calls isolate_guard, resolves the
 * domains (an address of loopback, unspecified or of the server is left
 * out; a name that does not resolve blocks nothing until it does), writes
 * STATE_DIR/netprotect.json (mode 0600, atomically), then installs the table
 * in one transaction that replaces an earlier one (counts start from zero).
 * If the table cannot be installed the earlier state file (or none) is put
 * back. Returns 0 or a negative errno (-EPERM from the guard or the kernel,
 * -EINVAL for a policy without its server). */
int netprotect_apply(const char *state_dir, const struct netprotect_policy *p, char *err, size_t err_size);

/* Removes network protection: calls isolate_guard, deletes the table (if
 * present), then the state and counts files (if present). Idempotent.
 * Returns 0 or a negative errno. */
int netprotect_remove(const char *state_dir, char *err, size_t err_size);

/* At agent start: if STATE_DIR/netprotect.json exists, installs the table
 * again from it (domains resolved anew; the guard applies). Returns 1 if
 * network protection is installed now, 0 if there is no state file, or a
 * negative errno (-EINVAL for a state file that is not one, naming it; then
 * nothing is changed). */
int netprotect_restore(const char *state_dir, char *err, size_t err_size);

/* Every NETPROTECT_REFRESH_S: resolves the domains of the policy in
 * STATE_DIR/netprotect.json again and replaces the contents of name4 and
 * name6 in one transaction (counts are kept: they live in the entries'
 * chains); if the table is gone (deleted by hand), installs it again as
 * netprotect_restore does. Also reads the counters (see netprotect_report),
 * so that the time of the last attempt is at most one refresh late. Returns
 * 0 when there is no policy, 1 when it was refreshed, or a negative errno. */
int netprotect_refresh(const char *state_dir, char *err, size_t err_size);

/* The blocked attempts since the table was installed (apply or restore):
 *   {"installed": true, "audit_only": false, "applied_at": "...",
 *    "counted_since": "...", "read_at": "...",
 *    "entries": [{"entry": "198.51.100.0/24", "kind": "range"|"address"|"domain",
 *                 "attempts": N, "last_attempt_at": "..."|null,
 *                 "addresses": ["192.0.2.7", ...]   (domains: what it resolves to now)}]}
 * Counts are read from the entries' chain counters; last_attempt_at is the
 * first reading (report or refresh) that saw the count grow, and is kept in
 * STATE/netprotect-counts.json. Returns 0 and *ret (the caller's), 0 and
 * NULL when there is no policy, or a negative errno. */
int netprotect_report(const char *state_dir, json_t **ret, char *err, size_t err_size);

/* Writes the nft script that installs p into out (no guard, no kernel):
 * name4/name6 hold addrs[0..n_addrs), each the index of its domain entry
 * (addrs of AF_INET or AF_INET6, as resolved). Returns 0, -EINVAL or -E2BIG
 * (more than max bytes). Exposed for the tests. */
struct netprotect_addr {
        int family;
        uint8_t addr[16];
        size_t entry;
};
int netprotect_script_build(const struct netprotect_policy *p, const struct netprotect_addr *addrs,
                            size_t n_addrs, char **ret_script, size_t max);
