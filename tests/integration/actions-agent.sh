#!/bin/sh
# Device actions with the real programs, the agent inside a network
# namespace made here (203.0.113.2), vigild and a web server on this side of
# a veth pair (203.0.113.1). Through the CLI: isolate (--wait) cuts the web
# server, ICMP and the rest but not vigild; the agent killed with SIGKILL
# and the table deleted by hand (a reboot) finds the device isolated again
# at start; scan sends a fresh inventory; collect uploads a package the CLI
# downloads; release opens everything again; an it_admin may not isolate;
# offboard stops the agent and revokes the device. This namespace's ruleset
# never changes. VIGIL_TEST_NETNS_ONLY=1 is set throughout, so the agent
# refuses to isolate the initial namespace. Needs root; skips (77) without
# it, without ip or nft, or without network namespaces.
set -eu

VIGILD=${VIGILD:-build/vigild}
VIGIL=${VIGIL:-build/vigil}
AGENT=${VIGIL_AGENT:-build/vigil-agent}
TOOL=${ISOLATE_TOOL:-build/tests/integration/isolate-tool}
export VIGIL_TEST_NETNS_ONLY=1
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "isolation needs root (network namespaces, nftables)"
command -v nft >/dev/null || skip "nft (nftables) is not installed"
command -v jq >/dev/null || skip "jq is not installed"
[ -x "$TOOL" ] || { echo "FAIL: no isolate-tool at '$TOOL'" >&2; exit 1; }

make_temp actions
cleanup() {
    end_processes
    netns_cleanup
    remove_temp
}
fail() {
    echo "FAIL: $*" >&2
    for f in "$T"/*.log; do echo "--- $f"; cat "$f"; done >&2
    [ -z "${NS:-}" ] || { echo "--- ruleset in the namespace:"; in_ns nft list ruleset; } >&2 || true
    exit 1
}

HOST_RULES_BEFORE=$(nft list ruleset | sha256sum)
netns_create act
PORT=$(free_port)
WPORT=$(free_port)
[ "$WPORT" != "$PORT" ] || WPORT=$(free_port)
"$VIGILD" init --data-dir "$T/data" --hostname "$HOST" >"$T/token" 2>"$T/init.log" || fail "vigild init"
"$VIGILD" run --data-dir "$T/data" --listen "$HOST:$PORT" --public-url "https://$HOST:$PORT" --access-listen 127.0.0.1:0 \
    --port-file "$T/port" >>"$T/vigild.log" 2>&1 &
SERVER_PID=$!
within 10 test -s "$T/port" || fail "vigild did not start"
"$TOOL" listen "$HOST" "$WPORT" >/dev/null & BG_PIDS="$BG_PIDS $!"
export VIGIL_SERVER="https://$HOST:$PORT" VIGIL_TOKEN="$(cat "$T/token")" VIGIL_CA="$T/data/server-ca.pem"

"$VIGIL" onboarding create --uses 1 -o "$T/pkg.json" >/dev/null || fail "onboarding create"
in_ns "$AGENT" onboard "$T/pkg.json" --state-dir "$T/agent" 2>"$T/onboard.log" || fail "onboard in the namespace"

# run_agent N: the agent in the namespace, logging to $T/agentN.log, until it says it runs
run_agent() {
    in_ns "$AGENT" run --state-dir "$T/agent" >/dev/null 2>"$T/agent$1.log" &
    AGENT_PID=$!
    wait_for "$T/agent$1.log" "running as device" 20 || fail "the agent did not start"
}
# agent_pid: the agent's own pid (ip netns exec may have forked)
agent_pid() { pgrep -f "^$AGENT run --state-dir $T/agent\$" | head -n 1; }
reaches() { in_ns "$TOOL" connect "$HOST" "$1" "${2:-2000}"; }
api_ok() { in_ns curl -sf -m 5 --cacert "$VIGIL_CA" "https://$HOST:$PORT/api/v1/health" >/dev/null; }
isolation() { "$VIGIL" --json devices show "$ID" | jq -r .isolation.state; }

run_agent 1
within 10 sh -c "'$VIGIL' --json devices list | jq -e '.count == 1' >/dev/null" || fail "the device is not listed"
ID=$("$VIGIL" --json devices list | jq -r '.value[0].id')
reaches "$WPORT" || fail "before isolation: the web server is not reachable from the namespace"
api_ok || fail "before isolation: vigild is not reachable from the namespace"
[ "$(isolation)" = not_isolated ] || fail "a new device is isolated"

# --- isolate: only vigild stays reachable
start=$(date +%s%N)
"$VIGIL" devices isolate "$ID" --comment "test: contain the device" --wait --timeout 60 >"$T/isolate.out" \
    2>"$T/isolate.log" || fail "isolate did not succeed"
echo "# isolate requested to succeeded: $((($(date +%s%N) - start) / 1000000)) ms (CLI polling every 250 ms)"
grep -q "^status  *succeeded" "$T/isolate.out" || fail "isolate: $(cat "$T/isolate.out")"
! reaches "$WPORT" 1000 || fail "isolated: the web server is still reachable"
! in_ns "$TOOL" ping "$HOST" 1000 || fail "isolated: ICMP still answered"
api_ok || fail "isolated: vigild is no longer reachable"
[ "$(isolation)" = isolated ] || fail "the server does not show the device isolated"
[ "$(nft list ruleset | sha256sum)" = "$HOST_RULES_BEFORE" ] || fail "this namespace's ruleset changed"

# --- killed, and the kernel's table lost as in a reboot: isolated again at start
kill -9 "$(agent_pid)"
wait "$AGENT_PID" 2>/dev/null || true
in_ns nft list table inet vigil_isolation >/dev/null || fail "the isolation went with the agent"
in_ns nft delete table inet vigil_isolation
reaches "$WPORT" || fail "the table deleted by hand: the web server should be reachable"
run_agent 2
grep -q "this device is isolated" "$T/agent2.log" || fail "the restarted agent did not say it is isolated"
! reaches "$WPORT" 1000 || fail "after the restart: the web server is reachable"
api_ok || fail "after the restart: vigild is not reachable"

# --- isolating again while isolated (DNS cut, or not) succeeds
"$VIGIL" devices isolate "$ID" --comment "test: again" --wait --timeout 60 >/dev/null 2>&1 ||
    fail "isolating an isolated device failed"

# --- scan and collect work through isolation
"$VIGIL" devices scan "$ID" --comment "test: fresh inventory" --wait --timeout 60 >"$T/scan.out" 2>/dev/null ||
    fail "scan did not succeed: $(cat "$T/scan.out")"
grep -q "inventory and posture sent" "$T/scan.out" || fail "scan: no message"
"$VIGIL" devices collect "$ID" --comment "test: triage" --wait --timeout 120 >"$T/collect.out" 2>/dev/null ||
    fail "collect did not succeed: $(cat "$T/collect.out")"
AID=$(sed -n 's/^id  *//p' "$T/collect.out")
"$VIGIL" actions download "$AID" -o "$T/pkg.tar.gz" 2>/dev/null || fail "download"
"$VIGIL" actions download "$AID" -o "$T/pkg.tar.gz" 2>/dev/null && fail "download overwrote a file"
[ "$(sha256sum <"$T/pkg.tar.gz" | cut -d' ' -f1)" = "$("$VIGIL" --json actions show "$AID" | jq -r .package.sha256)" ] ||
    fail "the downloaded package is not the one stored"
mkdir "$T/pkg"
tar -xzf "$T/pkg.tar.gz" -C "$T/pkg" || fail "the package is not a tar.gz"
for m in manifest.json processes.json connections.json files.json agent.log; do
    [ -f "$T/pkg/$m" ] || fail "the package lacks $m"
done
# users.json comes from utmp, which a machine may lack: then the manifest says why
[ -f "$T/pkg/users.json" ] || jq -e '.members[] | select(.name == "users.json") | .reason' "$T/pkg/manifest.json" \
    >/dev/null || fail "the package lacks users.json and the manifest does not say why"
jq -e --arg id "$ID" '.device_id == $id' "$T/pkg/manifest.json" >/dev/null || fail "the manifest names another device"
grep -q "vigil-agent" "$T/pkg/processes.json" || fail "the process list lacks the agent"
grep -q "action" "$T/pkg/agent.log" || fail "the agent's log lacks its actions"

# --- an it_admin may not isolate or release
IT=$("$VIGIL" tokens create --role it_admin 2>/dev/null)
VIGIL_TOKEN=$IT "$VIGIL" devices release "$ID" --comment "not mine" 2>"$T/it.log" && fail "an it_admin released"
grep -q "security_admin" "$T/it.log" || fail "the refusal does not say who may: $(cat "$T/it.log")"
# a reader token revoked with the CLI is refused from then on
"$VIGIL" --json tokens create --role reader --name "to revoke" >"$T/reader.json" 2>/dev/null || fail "tokens create"
RID=$(jq -r .id "$T/reader.json")
VIGIL_TOKEN=$(jq -r .token "$T/reader.json") "$VIGIL" devices list >/dev/null 2>&1 || fail "the new reader token is refused"
"$VIGIL" tokens revoke "$RID" >"$T/revoke.out" 2>&1 || fail "vigil tokens revoke: $(cat "$T/revoke.out")"
grep -q "token $RID revoked" "$T/revoke.out" || fail "tokens revoke said: $(cat "$T/revoke.out")"
VIGIL_TOKEN=$(jq -r .token "$T/reader.json") "$VIGIL" devices list >/dev/null 2>"$T/revoked.log" &&
    fail "a revoked token is still accepted"
grep -q "unknown or revoked" "$T/revoked.log" || fail "the revoked token's refusal: $(cat "$T/revoked.log")"
"$VIGIL" tokens revoke "$RID" 2>"$T/revoke2.log" && fail "a revoked token was revoked again"
grep -q "not revoked yet" "$T/revoke2.log" || fail "revoking twice: $(cat "$T/revoke2.log")"

# --- release
"$VIGIL" devices release "$ID" --comment "test: clean" --wait --timeout 60 >/dev/null 2>&1 || fail "release failed"
reaches "$WPORT" || fail "released: the web server is not reachable"
in_ns "$TOOL" ping "$HOST" 2000 || fail "released: no ICMP"
[ "$(isolation)" = not_isolated ] || fail "the server still shows the device isolated"
! in_ns nft list table inet vigil_isolation >/dev/null 2>&1 || fail "released: the table is still there"
[ ! -e "$T/agent/isolation.json" ] || fail "released: the state file is still there"

# --- offboard: the agent is told, the certificate revoked, the agent stops
"$VIGIL" devices offboard "$ID" --comment "test: retired" --wait --timeout 60 >/dev/null 2>&1 ||
    fail "the offboard action failed"
rc=0
within 15 sh -c "! kill -0 $AGENT_PID 2>/dev/null" || fail "the agent did not stop after offboarding"
wait "$AGENT_PID" || rc=$?
AGENT_PID=""
[ "$rc" = 0 ] || fail "the offboarded agent exited $rc"
"$VIGIL" devices show "$ID" | grep -q "^onboarding_status  *offboarded" || fail "the device is not offboarded"
[ -e "$T/agent/offboarded" ] || fail "the agent did not record that it was offboarded"
[ "$(nft list ruleset | sha256sum)" = "$HOST_RULES_BEFORE" ] || fail "this namespace's ruleset changed"
echo "ok"
