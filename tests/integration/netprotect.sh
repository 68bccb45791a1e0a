#!/bin/sh
# Network protection (agent/src/netprotect.c) for real, inside a network
# namespace made here: a veth pair joins it (203.0.113.2, 2001:db8::2) to this
# namespace, whose side holds the server (203.0.113.1) and more IPv4 and IPv6
# addresses, all answering on one TCP port. The namespace's hosts file
# (/etc/netns/NS/hosts, which `ip netns exec` mounts over /etc/hosts) names
# bad.vigil.test (IPv4 and IPv6) and the server srv.vigil.test. A policy
# blocking a range, addresses and that name must cut them (a connection opened
# before too) and count the attempts, and keep the server and other addresses
# reachable; a policy covering the server is refused; after the table is
# deleted by hand, restore re-installs it; refresh follows the name to new
# addresses; audit_only counts without blocking; with isolation installed too,
# each comes off without the other; remove opens everything.
# With VIGIL_TEST_NETNS_ONLY=1 (always set here) the module refuses the
# initial namespace; this namespace's ruleset must never change. Needs root;
# skips (77) without it, without ip or nft, or without network namespaces.
set -eu

TOOL=${ISOLATE_TOOL:-build/tests/integration/isolate-tool}
NP=${NETPROTECT_TOOL:-build/tests/integration/netprotect-tool}
export VIGIL_TEST_NETNS_ONLY=1

. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "network protection needs root (network namespaces, nftables)"
command -v nft >/dev/null || skip "nft (nftables) is not installed"
[ -x "$TOOL" ] && [ -x "$NP" ] || { echo "FAIL: no isolate-tool at '$TOOL' or netprotect-tool at '$NP'" >&2; exit 1; }

PORT=$((20000 + $$ % 20000))
make_temp netprotect
STATE=$T/state
BG_PIDS=""
ETC_NS=""

cleanup() {
    for p in $BG_PIDS; do kill "$p" 2>/dev/null || true; done
    netns_cleanup
    [ -z "$ETC_NS" ] || { rm -rf "$ETC_NS"; rmdir /etc/netns 2>/dev/null || true; }
    rm -rf "$T"
}
fail() { fail_with_ruleset "$@"; }

np() { in_ns "$NP" --state "$STATE" --caps agent "$@"; }
reaches() { in_ns "$TOOL" connect "$1" "$PORT" "${2:-2000}"; }
reachable() { reaches "$2" || fail "$1: $2 not reachable from the namespace"; }
cut() { ! reaches "$2" 700 || fail "$1: $2 still reachable from the namespace"; }
# attempts ENTRY: the count the report gives for ENTRY
attempts() { np report | jq -r --arg e "$1" '.entries[] | select(.entry == $e) | .attempts'; }

HOST_RULESET_BEFORE=$(nft list ruleset | sha256sum)
mkdir -m 0700 "$STATE"
netns_create np
for a in 10 20 30 40 50; do ip addr add "203.0.113.$a/32" dev "$VH"; done
# IPv6 too (documentation prefix), without duplicate address detection
ip addr add 2001:db8::1/64 dev "$VH" nodad
for a in 10 20 40 50; do ip addr add "2001:db8::$a/128" dev "$VH" nodad; done
in_ns ip addr add 2001:db8::2/64 dev "$VN" nodad
ETC_NS=/etc/netns/$NS
mkdir -p "$ETC_NS"
printf '203.0.113.40 bad.vigil.test\n2001:db8::40 bad.vigil.test\n203.0.113.1 srv.vigil.test\n' >"$ETC_NS/hosts"
URL=https://srv.vigil.test:$PORT

"$TOOL" listen 0.0.0.0 "$PORT" >/dev/null & BG_PIDS="$BG_PIDS $!"
"$TOOL" listen :: "$PORT" >/dev/null & BG_PIDS="$BG_PIDS $!"
within 5 reaches "$HOST" 300 || fail "the listener does not answer"
within 5 reaches 2001:db8::1 300 || fail "the IPv6 listener does not answer"
for a in 1 10 20 30 40 50; do reachable "before" "203.0.113.$a"; done
for a in 10 20 40 50; do reachable "before" "2001:db8::$a"; done

# the parser gives the canonical form
printf '{"block": ["203.0.113.16/29", "203.0.113.30/32", "Bad.Vigil.Test.", "2001:DB8:BAD::/48", "203.0.113.30", %s]}' \
    '"2001:db8:0::20/128"' >"$T/block.json"
[ "$("$NP" parse "$T/block.json" | tr '\n' ' ')" = \
  "203.0.113.16/29 203.0.113.30 bad.vigil.test 2001:db8:bad::/48 2001:db8::20 " ] ||
    fail "canonical form: $("$NP" parse "$T/block.json")"

# a policy that would cut the server is refused, and nothing changes
printf '{"block": ["203.0.113.0/24"]}' >"$T/server.json"
np apply "$T/server.json" "$URL" 2>"$T/err" && fail "a range covering the server was applied"
grep -q 'entry "203.0.113.0/24" covers the server.s address 203.0.113.1' "$T/err" || fail "message: $(cat "$T/err")"
printf '{"block": ["*.vigil.test"]}' >"$T/server.json"
np apply "$T/server.json" "$URL" 2>"$T/err" && fail "a wildcard covering the server's name was applied"
grep -q 'covers the server.s name srv.vigil.test' "$T/err" || fail "message: $(cat "$T/err")"
[ ! -e "$STATE/netprotect.json" ] || fail "a refused policy wrote a state file"
! in_ns nft list tables | grep -q vigil_netprotect || fail "a refused policy installed a table"

# blocking: the range, the address and the name are cut, the rest flows; a
# connection to a blocked address opened before is cut too
in_ns "$TOOL" hold 203.0.113.30 "$PORT" "$T/go" 1500 >"$T/hold" & HOLD=$!
within 5 test -s "$T/hold" || fail "the connection held across apply did not start"
np apply "$T/block.json" "$URL" || fail "apply failed"
touch "$T/go"
rc=0; wait "$HOLD" || rc=$?
[ "$rc" = 1 ] || fail "blocked: a connection to 203.0.113.30 opened before apply still flows (exit $rc)"
[ "$(stat -c %a "$STATE/netprotect.json")" = 600 ] || fail "netprotect.json is not mode 0600"
cut "blocked" 203.0.113.20
cut "blocked" 203.0.113.30
cut "blocked" 203.0.113.40
cut "blocked" 2001:db8::20
cut "blocked" 2001:db8::40
reachable "blocked" "$HOST"
reachable "blocked" 203.0.113.10
reachable "blocked" 203.0.113.50
reachable "blocked" 2001:db8::10
reachable "blocked" 2001:db8::50
np report >"$T/report.json"
jq -e '.installed and (.audit_only | not) and (.entries | length == 5)
       and (.entries[0] | .entry == "203.0.113.16/29" and .kind == "range" and .attempts >= 1 and (.last_attempt_at | test("Z$")))
       and (.entries[1] | .entry == "203.0.113.30" and .kind == "address" and .attempts >= 1)
       and (.entries[2] | .entry == "bad.vigil.test" and .kind == "domain" and .attempts >= 2
                          and (.addresses | sort) == ["2001:db8::40", "203.0.113.40"])
       and (.entries[3] | .attempts == 0 and .last_attempt_at == null)
       and (.entries[4] | .entry == "2001:db8::20" and .kind == "address" and .attempts >= 1)' "$T/report.json" >/dev/null ||
    fail "report: $(cat "$T/report.json")"
[ "$(nft list ruleset | sha256sum)" = "$HOST_RULESET_BEFORE" ] || fail "the host's own ruleset changed"

# the agent restarts after a reboot: the table is gone, the state file is not
in_ns nft delete table inet vigil_netprotect
reachable "table deleted" 203.0.113.30
[ "$(np restore)" = installed ] || fail "restore did not install the policy"
cut "restored" 203.0.113.30
cut "restored" 203.0.113.40
reachable "restored" 203.0.113.10
[ "$(attempts 203.0.113.30)" -ge 1 ] || fail "restored: attempts not counted again"

# a state file that is not one changes nothing
cp "$STATE/netprotect.json" "$T/good.json"
printf '{"version":1}' >"$STATE/netprotect.json"
np restore 2>"$T/err" && fail "restore took a bad state file"
grep -q "netprotect.json" "$T/err" || fail "restore's message: $(cat "$T/err")"
cp "$T/good.json" "$STATE/netprotect.json"
cut "bad state file" 203.0.113.30

# the name moves to other addresses: refresh follows it
printf '203.0.113.50 bad.vigil.test\n2001:db8::50 bad.vigil.test\n203.0.113.1 srv.vigil.test\n' >"$ETC_NS/hosts"
[ "$(np refresh)" = refreshed ] || fail "refresh failed"
cut "refreshed" 203.0.113.50
cut "refreshed" 2001:db8::50
reachable "refreshed" 203.0.113.40
reachable "refreshed" 2001:db8::40
[ "$(np report | jq -c '.entries[2].addresses | sort')" = '["2001:db8::50","203.0.113.50"]' ] || fail "refresh: $(np report)"

# audit only: everything flows, and is counted
printf '{"block": ["203.0.113.16/29", "bad.vigil.test"], "audit_only": true}' >"$T/audit.json"
np apply "$T/audit.json" "$URL" || fail "apply (audit) failed"
[ "$(attempts 203.0.113.16/29)" = 0 ] || fail "audit: counts did not start from zero"
reachable "audit" 203.0.113.20
reachable "audit" 203.0.113.50
reachable "audit" 203.0.113.30
np report >"$T/report.json"
jq -e '.audit_only and .entries[0].attempts >= 1 and .entries[1].attempts >= 1' "$T/report.json" >/dev/null ||
    fail "audit report: $(cat "$T/report.json")"
[ "$(in_ns nft list tables | grep -c vigil_netprotect)" = 1 ] || fail "not exactly one table"

# with isolation as well: isolation drops everything else, and each comes
# off without touching the other
in_ns "$TOOL" --state "$STATE" --caps agent apply "https://$HOST:$PORT" || fail "isolation failed"
reachable "isolated" "$HOST"
cut "isolated" 203.0.113.10
np remove || fail "remove under isolation failed"
cut "isolated, protection removed" 203.0.113.10
[ -e "$STATE/isolation.json" ] || fail "remove took isolation's state file"
np apply "$T/audit.json" "$URL" || fail "apply under isolation failed"
cut "isolated, audit applied" 203.0.113.20
in_ns "$TOOL" --state "$STATE" --caps agent release || fail "release failed"
reachable "released" 203.0.113.20
[ "$(in_ns nft list tables | grep -c vigil_netprotect)" = 1 ] || fail "release took the protection table"

# removed: everything flows again; removing twice is fine
np remove || fail "remove failed"
[ ! -e "$STATE/netprotect.json" ] && [ ! -e "$STATE/netprotect-counts.json" ] || fail "remove left state files"
for a in 1 10 20 30 40 50; do reachable "removed" "203.0.113.$a"; done
for a in 10 20 40 50; do reachable "removed" "2001:db8::$a"; done
np remove || fail "the second remove failed"
[ "$(np restore)" = "no policy" ] || fail "restore without a state file installed something"
[ "$(np report)" = null ] || fail "report without a policy: $(np report)"

# the guard: the initial namespace is refused, and nothing changes there
mkdir -m 0700 "$T/host-state"
rc=0; "$NP" --state "$T/host-state" --caps no-net-admin apply "$T/block.json" "https://$HOST:$PORT" >/dev/null || rc=$?
[ "$rc" = 3 ] || fail "apply in the initial namespace: exit $rc, not refused by the guard"
cp "$T/good.json" "$T/host-state/netprotect.json"
for c in restore refresh remove; do
    rc=0; "$NP" --state "$T/host-state" --caps no-net-admin "$c" >/dev/null || rc=$?
    [ "$rc" = 3 ] || fail "$c in the initial namespace: exit $rc, not refused by the guard"
done
[ -e "$T/host-state/netprotect.json" ] || fail "the refused remove removed the state file"
[ "$(nft list ruleset | sha256sum)" = "$HOST_RULESET_BEFORE" ] || fail "the host's own ruleset changed"

echo "netprotect: ok (range, address and name cut and counted, server refused, restore, refresh, audit, remove, guard)"
