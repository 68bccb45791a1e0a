#!/bin/sh
# Configuration profiles with the real programs: vigild on this side of a
# veth pair (203.0.113.1), the agent inside a network namespace made here
# (203.0.113.2), profiles assigned to all devices through the CLI:
#  - a sensor_settings profile with an extra Sigma rule reaches the running
#    agent within a second (the long-poll is woken), the agent loads the
#    signed rule and a process matching it raises an alert; status succeeded;
#  - a second sensor_settings profile with another heartbeat interval puts
#    both in conflict on the device;
#  - a threat_defense profile turning it off: the same process raises no
#    alert; turned on again, it does;
#  - a network_protection profile blocks 203.0.113.9 in the namespace, and
#    the report the agent uploads shows the attempt;
#  - the configuration kept on disk with its rules changed after signing is
#    refused at the next start (the rule is not loaded); once the server is
#    back the agent fetches the signed rules again and loads them.
# This namespace's ruleset never changes; VIGIL_TEST_NETNS_ONLY=1 makes the
# agent refuse to touch it. Needs root; skips (77) without it, without ip,
# nft or jq, or without network namespaces.
set -eu

VIGILD=${VIGILD:-build/vigild}
VIGIL=${VIGIL:-build/vigil}
AGENT=${VIGIL_AGENT:-build/vigil-agent}
TOOL=${ISOLATE_TOOL:-build/tests/integration/isolate-tool}
RULES=${RULES:-rules}
export VIGIL_TEST_NETNS_ONLY=1
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "the agent's sensor and network protection need root"
command -v nft >/dev/null || skip "nft (nftables) is not installed"
command -v jq >/dev/null || skip "jq is not installed"
[ -x "$TOOL" ] || { echo "FAIL: no isolate-tool at '$TOOL'" >&2; exit 1; }
[ -d "$RULES" ] || { echo "FAIL: no rules folder at '$RULES'" >&2; exit 1; }

make_temp profiles
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
netns_create prf
PORT=$(free_port)
"$VIGILD" init --data-dir "$T/data" --hostname "$HOST" >"$T/token" 2>"$T/init.log" || fail "vigild init"
"$VIGILD" run --data-dir "$T/data" --listen "$HOST:$PORT" --public-url "https://$HOST:$PORT" --access-listen 127.0.0.1:0 \
    --port-file "$T/port" >>"$T/vigild.log" 2>&1 &
SERVER_PID=$!
within 10 test -s "$T/port" || fail "vigild did not start"
export VIGIL_SERVER="https://$HOST:$PORT" VIGIL_TOKEN="$(cat "$T/token")" VIGIL_CA="$T/data/server-ca.pem"

"$VIGIL" onboarding create --uses 1 -o "$T/pkg.json" >/dev/null || fail "onboarding create"
in_ns "$AGENT" onboard "$T/pkg.json" --state-dir "$T/agent" 2>"$T/onboard.log" || fail "onboard in the namespace"

# run_agent N: the agent in the namespace with the repository's rules, logging
# to $T/agentN.log, until it says it runs
run_agent() {
    in_ns "$AGENT" run --state-dir "$T/agent" --rules "$RULES" >/dev/null 2>"$T/agent$1.log" &
    AGENT_PID=$!
    wait_for "$T/agent$1.log" "running as device" 20 || fail "the agent did not start"
}
agent_pid() { pgrep -f "^$AGENT run --state-dir $T/agent " | head -n 1; }
# profile_status NAME: the status of profile NAME on the device
profile_status() { "$VIGIL" --json profiles status "$(pid_of "$1")" | jq -r '.devices[0].status'; }
pid_of() { "$VIGIL" --json profiles list | jq -r --arg n "$1" '.value[] | select(.name == $n) | .id'; }
# marker N: a process the extra rule matches
marker() { in_ns sh -c "exec /bin/echo vigil-profile-marker-$1" >/dev/null; }
# alerts N: the alert lines (new or folded) of the extra rule in $T/agentN.log
alerts() { grep -c '"Profile marker"' "$T/agent$1.log" || true; }

run_agent 1
within 10 sh -c "'$VIGIL' --json devices list | jq -e '.count == 1' >/dev/null" || fail "the device is not listed"
ID=$("$VIGIL" --json devices list | jq -r '.value[0].id')
wait_for "$T/agent1.log" "rules: loaded" 20 || fail "detection did not start"

# --- a sensor_settings profile with an extra rule
cat >"$T/sensor.json" <<'EOF'
{"name": "Fast sensor", "type": "sensor_settings",
 "settings": {"heartbeat_interval_seconds": 30, "alert_upload_delay_ms": 200,
   "extra_rules": ["title: Profile marker\nid: 3f7c2b0e-1d2a-4c55-9a51-0c7d6f1e2a10\nstatus: test\nlogsource:\n  product: linux\n  category: process_creation\ndetection:\n  sel:\n    Image|endswith: '/echo'\n    CommandLine|contains: 'vigil-profile-marker'\n  condition: sel\nlevel: high\n"]},
 "assignments": {"include": ["all_devices"]}}
EOF
start=$(date +%s%N)
"$VIGIL" profiles create -f "$T/sensor.json" >"$T/create.out" 2>"$T/create.log" || fail "profile create: $(cat "$T/create.log")"
wait_for "$T/agent1.log" "detection rules reloaded" 5 || fail "the agent did not reload its rules"
echo "# profile created to rules reloaded on the agent: $((($(date +%s%N) - start) / 1000000)) ms"
within 5 sh -c "[ \"\$('$VIGIL' --json profiles status \"\$('$VIGIL' --json profiles list | jq -r '.value[0].id')\" | jq -r '.devices[0].status')\" = succeeded ]" ||
    fail "the profile's status is not succeeded: $("$VIGIL" --json profiles status "$(pid_of "Fast sensor")")"
ms=$((($(date +%s%N) - start) / 1000000))
echo "# profile created to status succeeded: $ms ms"
[ "$ms" -lt 3000 ] || fail "the profile took $ms ms to apply"
[ -f "$T/agent/config.json" ] || fail "the agent did not keep its configuration"
sleep 0.5
marker 1
within 10 sh -c "grep -q '\"Profile marker\"' '$T/agent1.log'" || fail "the extra rule raised no alert"
"$VIGIL" --json devices show "$ID" >/dev/null || fail "devices show"
"$VIGIL" --json profiles list | jq -e '.value[0].version == 1' >/dev/null || fail "a new profile is not version 1"

# --- a second profile with another heartbeat: both in conflict
cat >"$T/sensor2.json" <<'EOF'
{"name": "Slow sensor", "type": "sensor_settings", "settings": {"heartbeat_interval_seconds": 120},
 "assignments": {"include": ["all_devices"]}}
EOF
"$VIGIL" profiles create -f "$T/sensor2.json" >/dev/null 2>"$T/create2.log" || fail "second profile: $(cat "$T/create2.log")"
[ "$(profile_status "Fast sensor")" = conflict ] || fail "the first profile is not in conflict"
[ "$(profile_status "Slow sensor")" = conflict ] || fail "the second profile is not in conflict"
"$VIGIL" --json profiles list >/dev/null
held=$(curl -sf --cacert "$VIGIL_CA" -H "Authorization: Bearer $VIGIL_TOKEN" \
    "$VIGIL_SERVER/api/v1/devices/$ID/profiles" | jq -r '.held[0]')
[ "$held" = sensor_settings.heartbeat_interval_seconds ] || fail "the device's held setting is '$held'"
"$VIGIL" profiles delete "$(pid_of "Slow sensor")" >/dev/null || fail "profile delete"
within 5 sh -c "[ \"\$('$VIGIL' --json profiles status \"\$('$VIGIL' --json profiles list | jq -r '.value[0].id')\" | jq -r '.devices[0].status')\" = succeeded ]" ||
    fail "the first profile did not succeed again once the conflict was gone"

# --- threat defense off: no alert; on again: alerts
cat >"$T/td.json" <<'EOF'
{"name": "Threat defense", "type": "threat_defense", "settings": {"enabled": false},
 "assignments": {"include": ["all_devices"]}}
EOF
IT=$("$VIGIL" tokens create --role it_admin 2>/dev/null)
VIGIL_TOKEN=$IT "$VIGIL" profiles create -f "$T/td.json" 2>"$T/it.log" >/dev/null && fail "an it_admin made a threat_defense profile"
grep -q "security_admin" "$T/it.log" || fail "the refusal does not say who may: $(cat "$T/it.log")"
"$VIGIL" profiles create -f "$T/td.json" >/dev/null 2>"$T/td.log" || fail "threat_defense profile: $(cat "$T/td.log")"
wait_for "$T/agent1.log" "threat defense off" 5 || fail "the agent did not turn threat defense off"
within 5 sh -c "[ \"\$('$VIGIL' --json profiles status \"\$('$VIGIL' --json profiles list | jq -r '.value[1].id')\" | jq -r '.devices[0].status')\" = succeeded ]" ||
    fail "the threat_defense profile did not succeed"
before=$(alerts 1)
marker 2
sleep 3
[ "$(alerts 1)" = "$before" ] || fail "threat defense is off but an alert was raised"
sed 's/"enabled": false/"enabled": true/' "$T/td.json" >"$T/td-on.json"
"$VIGIL" profiles update "$(pid_of "Threat defense")" -f "$T/td-on.json" >/dev/null 2>"$T/td.log" ||
    fail "threat_defense update: $(cat "$T/td.log")"
wait_for "$T/agent1.log" "threat defense on" 5 || fail "the agent did not turn threat defense on"
# the eBPF sensor itself was paused: next to nothing came from it meanwhile
# (the records already in the ring buffer when it paused), while the test ran
# processes
wait_for "$T/agent1.log" "events came from the sensor while it was off" 5 || fail "no count of the events while off"
n_off=$(sed -n 's/.*threat defense on again: \([0-9]*\) events came.*/\1/p' "$T/agent1.log" | tail -n 1)
[ "$n_off" -lt 50 ] || fail "the sensor was not paused: $n_off events came while threat defense was off"
"$VIGIL" --json profiles show "$(pid_of "Threat defense")" | jq -e '.version == 2' >/dev/null ||
    fail "the update did not make version 2"
sleep 0.5
marker 3
within 10 sh -c "[ \$(grep -c '\"Profile marker\"' '$T/agent1.log') -gt $before ]" ||
    fail "threat defense is on again but no alert"

# --- network protection blocks 203.0.113.9 inside the namespace, and reports it
cat >"$T/np.json" <<'EOF'
{"name": "Block a host", "type": "network_protection", "settings": {"block": ["203.0.113.9"]},
 "assignments": {"include": ["all_devices"]}}
EOF
"$VIGIL" profiles create -f "$T/np.json" >/dev/null 2>"$T/np.log" || fail "network_protection profile: $(cat "$T/np.log")"
wait_for "$T/agent1.log" "network protection applied" 5 || fail "the agent did not apply network protection"
in_ns nft list table inet vigil_netprotect >/dev/null || fail "no netprotect table in the namespace"
[ "$(nft list ruleset | sha256sum)" = "$HOST_RULES_BEFORE" ] || fail "this namespace's ruleset changed"
in_ns "$TOOL" connect 203.0.113.9 80 1000 >/dev/null 2>&1 && fail "203.0.113.9 was reachable"
within 40 sh -c "curl -sf --cacert '$VIGIL_CA' -H 'Authorization: Bearer $VIGIL_TOKEN' \
    '$VIGIL_SERVER/api/v1/devices/$ID/network-protection' | jq -e '.report.entries[0].attempts >= 1' >/dev/null" ||
    fail "the report does not show the blocked attempt"
"$VIGIL" profiles delete "$(pid_of "Block a host")" >/dev/null || fail "delete network protection"
wait_for "$T/agent1.log" "network protection removed" 5 || fail "the agent did not remove network protection"
! in_ns nft list table inet vigil_netprotect >/dev/null 2>&1 || fail "the netprotect table is still there"

# --- the kept configuration with its rules changed after signing: refused at start
kill "$(agent_pid)"
wait "$AGENT_PID" 2>/dev/null || true
jq '.rules.bundle |= sub("vigil-profile-marker"; "vigil-tampered-marker")' "$T/agent/config.json" >"$T/tampered.json"
cp "$T/tampered.json" "$T/agent/config.json"
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
run_agent 2
wait_for "$T/agent2.log" "signature does not verify" 10 || fail "the tampered rules were not refused"
sleep 0.5
in_ns sh -c "exec /bin/echo vigil-tampered-marker-4" >/dev/null
sleep 2
[ "$(alerts 2)" = 0 ] || fail "a tampered rule raised an alert"
# the server back: the agent fetches the signed rules again and loads them
"$VIGILD" run --data-dir "$T/data" --listen "$HOST:$PORT" --public-url "https://$HOST:$PORT" --access-listen 127.0.0.1:0 \
    >>"$T/vigild.log" 2>&1 &
SERVER_PID=$!
wait_for "$T/agent2.log" "detection rules reloaded" 60 || fail "the agent did not load the server's rules again"
sleep 0.5
marker 5
within 10 sh -c "grep -q '\"Profile marker\"' '$T/agent2.log'" || fail "the rules sent again raised no alert"
[ "$(nft list ruleset | sha256sum)" = "$HOST_RULES_BEFORE" ] || fail "this namespace's ruleset changed"
echo "PASS"
