#!/bin/sh
# Network isolation (agent/src/isolate.c) for real, inside a network
# namespace made here: a veth pair joins it (203.0.113.2) to this namespace
# (203.0.113.1), where two TCP listeners run, one playing the server.
# Isolation applied in the namespace, with the agent's capabilities only,
# must leave the server's port open (a connection to it made before
# isolation too) and cut the other port (a connection made before too),
# ICMP and inbound connections, keep loopback, and leave this namespace's ruleset
# alone; after the table is deleted by hand (as a reboot would), restore
# re-installs it from the state file; release opens everything again.
# With VIGIL_TEST_NETNS_ONLY=1 (always set here) the module refuses to touch
# the initial namespace: tried there without CAP_NET_ADMIN, so that even a
# broken guard could change nothing, it must refuse and change nothing.
# Every ruleset change runs under `ip netns exec`. Needs root; skips (77)
# without it, without ip or nft, or without network namespaces and veth.
set -eu

TOOL=${ISOLATE_TOOL:-build/tests/integration/isolate-tool}
export VIGIL_TEST_NETNS_ONLY=1

. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "isolation needs root (network namespaces, nftables)"
command -v nft >/dev/null || skip "nft (nftables) is not installed"
[ -x "$TOOL" ] || { echo "FAIL: no isolate-tool at '$TOOL'" >&2; exit 1; }

SPORT=$((20000 + $$ % 20000))      # the server
OPORT=$((SPORT + 1))               # anything else on the same host
LPORT=$((SPORT + 2))               # loopback inside the namespace
IPORT=$((SPORT + 3))               # a listener inside the namespace
make_temp isolate
STATE=$T/state
BG_PIDS=""

cleanup() {
    for p in $BG_PIDS; do kill "$p" 2>/dev/null || true; done
    netns_cleanup
    rm -rf "$T"
}
fail() { fail_with_ruleset "$@"; }

tool_ns() { in_ns "$TOOL" --state "$STATE" --caps agent "$@"; }
reaches() { in_ns "$TOOL" connect "$1" "$2" "${3:-2000}"; }

# reachable HOW ADDR PORT: fail unless the namespace reaches ADDR:PORT
reachable() { reaches "$2" "$3" || fail "$1: $2:$3 not reachable from the namespace"; }
# cut HOW ADDR PORT: fail if the namespace reaches ADDR:PORT
cut() { ! reaches "$2" "$3" 1000 || fail "$1: $2:$3 still reachable from the namespace"; }

HOST_TABLES_BEFORE=$(nft list tables)
mkdir -m 0700 "$STATE"
netns_create iso
URL=https://$HOST:$SPORT

"$TOOL" listen "$HOST" "$SPORT" >/dev/null & BG_PIDS="$BG_PIDS $!"
"$TOOL" listen "$HOST" "$OPORT" >/dev/null & BG_PIDS="$BG_PIDS $!"
in_ns "$TOOL" listen 127.0.0.1 "$LPORT" >/dev/null & BG_PIDS="$BG_PIDS $!"
in_ns "$TOOL" listen "$PEER" "$IPORT" >/dev/null & BG_PIDS="$BG_PIDS $!"
for _ in 1 2 3 4 5 6 7 8 9 10; do
    reaches "$HOST" "$SPORT" 500 && reaches "$HOST" "$OPORT" 500 && break
    sleep 0.2
done

# before: everything flows
reachable "before isolation" "$HOST" "$SPORT"
reachable "before isolation" "$HOST" "$OPORT"
in_ns "$TOOL" ping "$HOST" 2000 || fail "before isolation: no ICMP echo reply from $HOST"
"$TOOL" connect "$PEER" "$IPORT" 2000 || fail "before isolation: $PEER:$IPORT not reachable from the host"
[ "$(in_ns "$TOOL" guard)" = allowed ] || fail "the guard refuses inside the namespace"
[ "$("$TOOL" endpoints "$URL")" = "ipv4 $HOST $SPORT" ] || fail "endpoints of $URL: $("$TOOL" endpoints "$URL")"

# a connection open before isolation (a remote shell) and one to the server
in_ns "$TOOL" hold "$HOST" "$OPORT" "$T/go" 1500 >"$T/hold-other" & HOLD_OTHER=$!
in_ns "$TOOL" hold "$HOST" "$SPORT" "$T/go" 1500 >"$T/hold-server" & HOLD_SERVER=$!
for _ in $(seq 50); do
    [ -s "$T/hold-other" ] && [ -s "$T/hold-server" ] && break
    sleep 0.1
done
[ -s "$T/hold-other" ] && [ -s "$T/hold-server" ] || fail "the connections held across isolation did not start"

# isolated: the server's port only
tool_ns apply "$URL" || fail "apply failed"
touch "$T/go"
rc=0; wait "$HOLD_OTHER" || rc=$?
[ "$rc" = 1 ] || fail "isolated: a connection opened before isolation still flows (exit $rc)"
wait "$HOLD_SERVER" || fail "isolated: the connection to the server opened before isolation was cut"
[ "$(tool_ns status)" = installed ] || fail "after apply: the table is not installed"
reachable "isolated" "$HOST" "$SPORT"
cut "isolated" "$HOST" "$OPORT"
! in_ns "$TOOL" ping "$HOST" 1000 || fail "isolated: $HOST still answers ICMP echo"
! "$TOOL" connect "$PEER" "$IPORT" 1000 || fail "isolated: the host still reaches $PEER:$IPORT"
reaches 127.0.0.1 "$LPORT" || fail "isolated: loopback inside the namespace is cut"
[ "$(nft list tables)" = "$HOST_TABLES_BEFORE" ] || fail "the host's own ruleset changed"
[ "$(stat -c %a "$STATE/isolation.json")" = 600 ] || fail "isolation.json is not mode 0600"
jq -e --arg a "$HOST" --argjson p "$SPORT" \
    '.version == 1 and (.endpoints == [{"address": $a, "port": $p}]) and (.isolated_at | test("Z$"))' \
    "$STATE/isolation.json" >/dev/null || fail "isolation.json: $(cat "$STATE/isolation.json")"

# applied again: replaced in place, still one table
tool_ns apply "$URL" || fail "the second apply failed"
[ "$(in_ns nft list tables | grep -c vigil_isolation)" = 1 ] || fail "not exactly one isolation table"
reachable "isolated twice" "$HOST" "$SPORT"
cut "isolated twice" "$HOST" "$OPORT"

# the agent restarts after a reboot: the kernel forgot the table, the state file did not
in_ns nft delete table inet vigil_isolation
[ "$(tool_ns status)" = "not installed" ] || fail "the table deleted by hand is still there"
reachable "table deleted" "$HOST" "$OPORT"
[ "$(tool_ns restore)" = isolated ] || fail "restore did not isolate"
[ "$(tool_ns status)" = installed ] || fail "after restore: the table is not installed"
reachable "restored" "$HOST" "$SPORT"
cut "restored" "$HOST" "$OPORT"

# a state file that is not one changes nothing
cp "$STATE/isolation.json" "$T/good.json"
printf '{"version":1,"endpoints":[{"address":"nowhere","port":1}]}' >"$STATE/isolation.json"
tool_ns restore 2>"$T/err" && fail "restore took a bad state file"
grep -q "isolation.json.*not an IPv4 or IPv6 address" "$T/err" || fail "restore's message: $(cat "$T/err")"
[ "$(tool_ns status)" = installed ] || fail "a bad state file removed the table"
cp "$T/good.json" "$STATE/isolation.json"

# released: everything flows again; releasing twice is fine
tool_ns release || fail "release failed"
[ "$(tool_ns status)" = "not installed" ] || fail "after release: the table is still installed"
[ ! -e "$STATE/isolation.json" ] || fail "after release: isolation.json is still there"
reachable "released" "$HOST" "$SPORT"
reachable "released" "$HOST" "$OPORT"
in_ns "$TOOL" ping "$HOST" 2000 || fail "released: no ICMP echo reply from $HOST"
"$TOOL" connect "$PEER" "$IPORT" 2000 || fail "released: $PEER:$IPORT not reachable from the host"
tool_ns release || fail "the second release failed"
[ "$(tool_ns restore)" = "not isolated" ] || fail "restore without a state file isolated"

# the guard: the initial namespace is refused, and nothing changes there.
# Without CAP_NET_ADMIN the kernel would refuse too, but with another message.
mkdir -m 0700 "$T/host-state"
out=$("$TOOL" --caps no-net-admin guard) && fail "the guard allows the initial namespace"
case $out in *"initial network namespace"*) ;; *) fail "guard: $out" ;; esac
rc=0; out=$("$TOOL" --state "$T/host-state" --caps no-net-admin apply "$URL") || rc=$?
[ "$rc" = 3 ] || fail "apply in the initial namespace: exit $rc, not refused by the guard: $out"
[ ! -e "$T/host-state/isolation.json" ] || fail "the refused apply wrote a state file"
cp "$T/good.json" "$T/host-state/isolation.json"
rc=0; "$TOOL" --state "$T/host-state" --caps no-net-admin restore >/dev/null || rc=$?
[ "$rc" = 3 ] || fail "restore in the initial namespace: exit $rc, not refused by the guard"
rc=0; "$TOOL" --state "$T/host-state" --caps no-net-admin release >/dev/null || rc=$?
[ "$rc" = 3 ] || fail "release in the initial namespace: exit $rc, not refused by the guard"
[ -e "$T/host-state/isolation.json" ] || fail "the refused release removed the state file"
[ "$(nft list tables)" = "$HOST_TABLES_BEFORE" ] || fail "the host's own ruleset changed"

echo "isolate: ok (server port open, other port, open connections, ICMP and inbound cut, loopback kept, restore, release, guard)"
