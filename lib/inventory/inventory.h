/* inventory: what the Linux agent reports about its device.
 *
 * The collector reads the operating system release, the installed Debian
 * packages, the encryption of the root filesystem, the state of the nftables
 * firewall and UEFI Secure Boot, and returns them as one JSON object. Every
 * file it reads lives under a root prefix, so the tests run it on fake trees.
 * The parsers of outside text (dpkg status, os-release, nft ruleset listings)
 * are exported on their own so they can be unit-tested and fuzzed. */
#pragma once

#include "vigil/wire.h"
#include <stddef.h>

#include <jansson.h>

/* Caps on /var/lib/dpkg/status. */
#define INVENTORY_DPKG_STATUS_MAX       (64u * 1024 * 1024)     /* whole file */
#define INVENTORY_DPKG_LINE_MAX         (64u * 1024)            /* one line, any field */
#define INVENTORY_DPKG_FIELD_MAX        ((unsigned)VIGIL_WIRE_FIELD_MAX)   /* Package, Status, Version, Architecture, Source */
#define INVENTORY_DPKG_PACKAGES_MAX     ((unsigned)VIGIL_WIRE_PACKAGES_MAX) /* installed packages appended by one call */

/* Caps on os-release. */
#define INVENTORY_OS_RELEASE_MAX        (64u * 1024)    /* whole file */
#define INVENTORY_OS_RELEASE_LINE_MAX   4096u           /* longer lines are skipped */

/* libnftables is not known to be safe with contexts in two threads at once:
 * every user of it in the process (the firewall probe here, the agent's
 * isolation) holds this lock around its calls. */
void inventory_nft_lock(void);
void inventory_nft_unlock(void);

/* Cap on an nft ruleset listing. */
#define INVENTORY_NFT_LISTING_MAX       (64u * 1024 * 1024)

/* Parses the text of /var/lib/dpkg/status (len bytes, need not be
 * NUL-terminated) and appends one object per installed package to ret_array:
 *   {"name", "version", "architecture", "source", "source_version"}
 * A package is installed when the third word of its Status is "installed"
 * ("install ok installed", "hold ok installed"). "Source: foo" gives source foo
 * at the binary's version, "Source: foo (1.2-3)" gives source_version 1.2-3,
 * and without Source the source is the package itself.
 *
 * Stanzas are separated by blank (or whitespace-only) lines, field names are
 * case-insensitive and a later copy of a field replaces an earlier one.
 * A malformed stanza is skipped, not fatal, so one broken entry cannot hide
 * the rest of the inventory. Malformed means: a continuation line before any
 * field or after one of the five fields above (they are single-line), a line
 * without "name:", no Package or Version, or a Package, Version, Architecture
 * or Source that is not printable ASCII without spaces, or a Source whose
 * "(version)" part is broken.
 *
 * Returns 0; -EINVAL if ret_array is not an array or text is NULL with len > 0;
 * -E2BIG if a line is longer than INVENTORY_DPKG_LINE_MAX, one of the five
 * fields above is longer than INVENTORY_DPKG_FIELD_MAX (in any stanza), or
 * more than INVENTORY_DPKG_PACKAGES_MAX packages would be appended; -ENOMEM.
 * On error ret_array is unchanged. */
int inventory_dpkg_parse(const char *text, size_t len, json_t *ret_array);

/* Parses os-release(5) text (len bytes, need not be NUL-terminated) and sets
 * "name", "id", "version", "version_id", "pretty_name" and "version_codename"
 * of ret_obj from NAME, ID, VERSION, VERSION_ID, PRETTY_NAME and
 * VERSION_CODENAME; a key the text lacks is set to "".
 *
 * Lines are KEY=value in shell syntax: "double quotes" (where \" \\ \$ \`
 * are escapes), 'single quotes' and bare words, concatenated; the last
 * assignment of a key wins. Blank lines and # comments are ignored. As
 * os-release(5) asks, bad lines are skipped: no KEY=, an unterminated quote,
 * text after the value, control characters or invalid UTF-8 in the value, or
 * longer than INVENTORY_OS_RELEASE_LINE_MAX.
 *
 * Returns 0; -EINVAL if ret_obj is not an object or text is NULL with len > 0;
 * -E2BIG if len > INVENTORY_OS_RELEASE_MAX; -ENOMEM. On error ret_obj is
 * unchanged. */
int inventory_os_release_parse(const char *text, size_t len, json_t *ret_obj);

/* What a `nft list ruleset` listing holds. A base chain is a chain with a
 * "type ... hook ..." line, i.e. one attached to a netfilter hook; those of
 * a table with "flags dormant" are not counted, since they see no packets. */
struct inventory_nft_summary {
        unsigned tables;
        unsigned chains;
        unsigned base_chains;
        unsigned rules;         /* statements in chains, base or not */
};

/* Summarizes the text output of `nft list ruleset` (len bytes). Pure: it
 * reads nothing else. Returns 0; -EINVAL on unbalanced braces or NULL text
 * with len > 0; -E2BIG if len > INVENTORY_NFT_LISTING_MAX. */
int inventory_nft_ruleset_summarize(const char *text, size_t len,
                                    struct inventory_nft_summary *ret_summary);

enum inventory_flags {
        /* Skip probes of the running kernel (the nftables ruleset); the
         * firewall is then "unknown". They are also skipped for any root but "/". */
        INVENTORY_NO_LIVE_PROBES = 1u << 0,
};

struct inventory_options {
        const char *root;       /* prefix of every file read; NULL or "/" is this machine */
        unsigned flags;         /* enum inventory_flags */
};

/* Collects the device inventory into a new object (the caller owns it and
 * adds "agent_version"):
 *   {"hostname", "os": {"platform": "linux", "name", "id", "version",
 *    "version_id", "pretty_name", "version_codename"}, "kernel",
 *    "architecture", "machine_id",
 *    "disk_encryption": {"state": "encrypted"|"not_encrypted"|"unknown", "detail"},
 *    "firewall": {"state": "active"|"inactive"|"unknown", "detail"},
 *    "secure_boot": "enabled"|"disabled"|"unknown", "packages": [...]}
 * opts may be NULL (this machine, live probes on). The hostname comes from
 * uname(2) for "/" and from ROOT/etc/hostname otherwise; kernel and
 * architecture always from uname(2). Facts that cannot be read become "" or
 * "unknown" with a detail saying why; only the package list is strict.
 *
 * Returns 0; -ENOMEM; or the error of reading or parsing
 * ROOT/var/lib/dpkg/status (a missing file is an empty list), e.g. -E2BIG or
 * -EACCES: an inventory without its packages would look like a clean one. */
int inventory_collect(const struct inventory_options *opts, json_t **ret_inventory);
