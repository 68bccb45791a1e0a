#!/bin/sh
# Integration: the whole onboarding path with the real programs. vigild on a
# fixed free loopback port, a package made with the CLI, the agent onboarded
# into a temporary state directory, its device and packages seen through the
# CLI; the agent riding out a server outage; re-onboarding refused; offboarding
# stopping the agent.
set -eu

VIGILD=${VIGILD:-build/vigild}
VIGIL=${VIGIL:-build/vigil}
AGENT=${VIGIL_AGENT:-build/vigil-agent}
. "$(dirname "$0")/lib.sh"
[ -r /var/lib/dpkg/status ] || skip "no dpkg database on this machine"

make_temp onboard

fail() { echo "FAIL: $*" >&2; for f in "$T"/*.log; do echo "--- $f"; cat "$f"; done >&2; exit 1; }

# A port that is free now; vigild must come back on the same one after a restart.
PORT=$(free_port)

"$VIGILD" init --data-dir "$T/data" >"$T/token" 2>"$T/init.log" || fail "vigild init"
"$VIGILD" init --data-dir "$T/data" >/dev/null 2>"$T/init2.log" && fail "init overwrote an existing directory"
grep -q "already exists" "$T/init2.log" || fail "init did not say why it refused"
[ "$(stat -c %a "$T/data/private/device-ca.key")" = 600 ] || fail "device CA key is not 0600"

start_vigild
export VIGIL_SERVER="https://127.0.0.1:$PORT" VIGIL_TOKEN="$(cat "$T/token")" VIGIL_CA="$T/data/server-ca.pem"

"$VIGIL" onboarding create --expires 1h --uses 1 -o "$T/pkg.json" >"$T/cli.log" || fail "onboarding create"
[ "$(stat -c %a "$T/pkg.json")" = 600 ] || fail "the onboarding package is not private"

"$AGENT" onboard "$T/pkg.json" --state-dir "$T/agent" 2>"$T/onboard.log" || fail "onboard"
[ "$(stat -c %a "$T/agent/device.key")" = 600 ] || fail "device key is not 0600"
grep -q "PRIVATE KEY" "$T/data/vigild.db" && fail "a private key reached the server's database"
sum_before=$(cat "$T/agent"/* | sha256sum)
"$AGENT" onboard "$T/pkg.json" --state-dir "$T/agent" 2>"$T/onboard2.log" && fail "second onboard succeeded"
grep -q "already onboarded" "$T/onboard2.log" || fail "second onboard did not say why"
[ "$sum_before" = "$(cat "$T/agent"/* | sha256sum)" ] || fail "second onboard changed the state"
# the package was for one use: a forced second onboarding is refused by the server
"$AGENT" onboard "$T/pkg.json" --state-dir "$T/agent" --force 2>"$T/onboard3.log" && fail "used-up package accepted"
grep -q "used as often" "$T/onboard3.log" || fail "used-up package: no clear reason"
[ "$sum_before" = "$(cat "$T/agent"/* | sha256sum)" ] || fail "a refused onboarding changed the state"

"$AGENT" run --state-dir "$T/agent" --once 2>"$T/agent1.log" || fail "agent run --once"
ID=$("$VIGIL" --json devices list | jq -r '.value[0].id')
[ -n "$ID" ] && [ "$ID" != null ] || fail "device not listed"
"$VIGIL" devices list | grep -q "$ID" || fail "table lacks the device"
"$VIGIL" devices show "$ID" >"$T/show.txt" || fail "devices show"
grep -q "^health_status  *active" "$T/show.txt" || fail "device not active"
grep -q "^os_name  *$(. /etc/os-release; echo "$NAME")" "$T/show.txt" || fail "OS name missing"
grep -q "^kernel  *$(uname -r)" "$T/show.txt" || fail "kernel missing"
n_local=$(dpkg-query -W -f='${db:Status-Status}\n' | grep -c '^installed$')
n_server=$("$VIGIL" --json devices software "$ID" | jq .count)
[ "$n_local" = "$n_server" ] || fail "packages: $n_local installed, server has $n_server"
"$VIGIL" devices software "$ID" | grep -q "^dpkg " || fail "dpkg not in the software table"

# a clean stop keeps the heartbeat times held in memory
seen=$("$VIGIL" --json devices show "$ID" | jq -r .last_seen)
stop_vigild
sqlite3 "$T/data/vigild.db" "SELECT last_seen FROM devices" >"$T/db-seen" 2>/dev/null || true
[ "$(cat "$T/db-seen")" = "$(date -d "$seen" +%s)" ] || fail "last_seen $seen was not written at shutdown"

# the server goes away; the agent keeps trying and says so, then catches up
"$AGENT" run --state-dir "$T/agent" 2>"$T/agent2.log" &
AGENT_PID=$!
sleep 2
grep -q "server unreachable" "$T/agent2.log" || fail "agent did not log the outage"
kill -0 "$AGENT_PID" || fail "agent died during the outage"
start_vigild
reconnected() { grep -q "inventory sent" "$T/agent2.log" || grep -q "heartbeat" "$T/vigild.log"; }
within 10 reconnected || fail "agent did not reconnect"

# an inventory the server refuses (here: over body_max) does not stop heartbeats
kill "$AGENT_PID"; wait "$AGENT_PID" || true; AGENT_PID=""
stop_vigild
echo "body_max = 4096" >>"$T/data/vigild.conf"
sqlite3 "$T/data/vigild.db" "UPDATE devices SET inventory_sha256 = NULL" || fail "sqlite3"
start_vigild
"$AGENT" run --state-dir "$T/agent" --once 2>"$T/agent-413.log" || fail "agent stopped on a refused inventory"
grep -q "inventory upload refused (HTTP 413)" "$T/agent-413.log" || fail "refused inventory not logged"
stop_vigild
sed -i '/^body_max = 4096$/d' "$T/data/vigild.conf"
start_vigild

# offboarding revokes the certificate; the agent stops at its next request
"$VIGIL" devices offboard "$ID" >/dev/null || fail "offboard"
"$VIGIL" devices show "$ID" | grep -q "^onboarding_status  *offboarded" || fail "not shown offboarded"
"$AGENT" run --state-dir "$T/agent" 2>"$T/agent3.log" && rc=0 || rc=$?
[ "$rc" = 0 ] || fail "offboarded agent exited $rc"
grep -q "offboarded" "$T/agent3.log" || fail "agent did not log that it was offboarded"
"$AGENT" status --state-dir "$T/agent" >"$T/status.txt" && fail "status of an offboarded device exits 0"
grep -q "offboarded by the server" "$T/status.txt" || fail "status does not say offboarded"

# bad admin input through the CLI: clear message, non-zero exit
"$VIGIL" --token wrong devices list 2>"$T/cli-err.log" && fail "wrong token accepted"
grep -q "unknown or revoked" "$T/cli-err.log" || fail "CLI error message unclear"
"$VIGIL" devices show no-such-device 2>"$T/cli-err.log" && fail "unknown device shown"
grep -q "no device" "$T/cli-err.log" || fail "CLI 404 message unclear"
stop_vigild
echo "onboard: all checks passed"
