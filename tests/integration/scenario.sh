#!/bin/sh
# Integration: the reference attack end to end, for real. vigild with its
# decision listener; nginx with the shipped configuration (examples/nginx)
# in front of an intranet app; the agent onboarded and running with its
# eBPF sensor and Vigil's rules; the example compliance policy (max device
# risk medium) and access policy (the intranet needs a compliant device)
# applied with the CLI. The device's certificate gets the intranet (200).
# Then, as uid 65534: a "document" drops a payload in a folder of /tmp and
# runs it; the payload runs code from a memfd, gains root through a
# setuid-root copy the test installs, attaches with ptrace to another
# process with it, and opens a shell on a TCP connection to a listener on
# 127.0.0.1. The alerts reach vigild with their techniques, the device's
# risk is high, it is noncompliant, and nginx answers the device 403 with
# the reason. The analyst resolves the alerts with the CLI: compliant
# again, 200. Then the same through isolation: the agent runs in a network
# namespace of the test's own (203.0.113.2, vigild and nginx on this side
# of the veth pair, 203.0.113.1); "vigil devices isolate" cuts the device
# off nginx but not off vigild, "release" gives it back; this namespace's
# ruleset never changes (VIGIL_TEST_NETNS_ONLY is set: the agent refuses
# to isolate the machine's own network). Needs root, BTF, nginx and nft;
# skips (77) without them.
#
# scenario.sh --running DATA STATE: the same story told against a system
# that already runs ('make demo' after 'make run': vigild with its data in
# DATA, this machine's agent with its state in STATE); only nginx and the
# app are the script's own. The example policies stay applied, and the
# device's open alerts are resolved first. The isolation step is left out:
# the agent there guards this machine's own network, and isolating it
# would cut off whoever runs the demo.
set -eu
export VIGIL_TEST_NETNS_ONLY=1
RUNNING=""
if [ "${1:-}" = --running ]; then
    [ $# -eq 3 ] || { echo "usage: scenario.sh [--running DATA_DIR STATE_DIR]" >&2; exit 2; }
    RUNNING=$2 RUNNING_STATE=$3
fi

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/access-lib.sh"
need_alerts
access_need nginx
command -v setpriv >/dev/null || skip "setpriv is not installed"
command -v nft >/dev/null || skip "nft (nftables) is not installed"

fail() { fail_with_logs FAIL: 40 "$*"; }

M=vigil-scn-$$
SUID=""
cleanup() {
    proxy_stop
    end_processes
    netns_cleanup
    [ -z "$SUID" ] || rm -f "$SUID"
    remove_temp
}
HOST_RULES_BEFORE=$(nft list ruleset | sha256sum)
T0=$(date +%s%N)
# step TEXT: TEXT after the time and the seconds since the start
step() {
    _ms=$((($(date +%s%N) - T0) / 1000000))
    printf '%s %4d.%03d s  %s\n' "$(date -u +%H:%M:%S.%3N)" $((_ms / 1000)) $((_ms % 1000)) "$*"
}
if [ -n "$RUNNING" ]; then
    scenario_running scenario "$RUNNING" "$RUNNING_STATE"
else
    scenario_setup scenario netns
fi
findmnt -n -o OPTIONS --target "$T" | grep -qw nosuid && skip "$T is on a nosuid mount: no setuid step"
step "vigild, nginx and the agent run; device $DEVICE is compliant"

st=$(device_req before /)
expect before "$st" 200 "the compliant device before the attack"
grep -q "^intranet app; device=$DEVICE;" "$T/before.b" || fail "not the app's page: $(cat "$T/before.b")"
step "the device's certificate through nginx: 200"

# --- the attack chain, as uid 65534
# as_nobody CMD ARG...: CMD as uid and gid 65534 without other groups, in a
# process tree of its own (tree)
as_nobody() { tree setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
cp "$HELPER" "$T/document"
chmod 755 "$T/document"
mkdir "$T/drop"
chown 65534:65534 "$T/drop"
PAYLOAD=$T/drop/payload-$M
# a "document" drops the payload in /tmp and runs it; the payload runs
# code from a memfd
as_nobody sh -c 'cp "$1" "$2" && chmod 755 "$2" && "$2" memfd-exec "$3" 300' document \
    "$T/document" "$PAYLOAD" "$M-memfd" >/dev/null || fail "the dropped payload did not run"
step "uid 65534: payload dropped in $T/drop and run, code run from a memfd"
# root through a setuid-root copy (installed by the test, removed at exit)
SUID=$T/suid-$M
cp "$HELPER" "$SUID"
chmod 4755 "$SUID"
out=$(as_nobody "$SUID" suid-root) || fail "the setuid copy failed: $out"
[ "$(echo "$out" | head -n 1)" = "uid=65534 euid=0" ] || fail "the setuid copy did not run with euid 0: $out"
step "uid 65534: setuid-root copy run: $(echo "$out" | head -n 1)"
# with that root, ptrace attach to another process
sleep 60 &
TARGET=$!
BG_PIDS="$BG_PIDS $TARGET"
as_nobody "$SUID" ptrace-attach "$TARGET" 300 || fail "the ptrace attach as euid 0 failed"
kill "$TARGET" 2>/dev/null || true
step "uid 65534 as euid 0: ptrace attach to pid $TARGET"
# a shell on a TCP connection to a listener on 127.0.0.1
# (start_listener would use $T/port, vigild's port file)
"$HELPER" listen "$T/lport" "$M" >"$T/listen.out" &
LISTENER=$!
BG_PIDS="$BG_PIDS $LISTENER"
within 5 test -s "$T/lport" || fail "the listener did not start"
LPORT=$(cat "$T/lport")
as_nobody "$PAYLOAD" connect-shell "$LPORT" "$M" || fail "the reverse shell failed"
wait "$LISTENER" || fail "the listener failed"
grep -q "$M-ok" "$T/listen.out" || fail "the reverse shell did not answer"
step "uid 65534: reverse shell to 127.0.0.1:$LPORT answered"

# --- the alerts on the server, with their techniques
WANT="T1620 T1548.001 T1055.008 T1059.004"
techniques_stored() {
    admin GET "/api/v1/alerts?device=$DEVICE&status=new&limit=500" >"$T/alerts.json" || return 1
    for _t in $WANT; do
        of_attack "$_t" || return 1
    done
}
# of_attack TECHNIQUE: one of the alerts in $T/alerts.json lists TECHNIQUE
# and, read whole, names the attack's mark (its image or command line)
of_attack() {
    for _id in $(jq -r --arg t "$1" '.value[] | select(.techniques | index($t)) | .id' "$T/alerts.json"); do
        admin GET "/api/v1/alerts/$_id" | grep -qF -- "$M" && return 0
    done
    return 1
}
within 30 techniques_stored || fail "the server lacks an alert of the attack for one of $WANT: \
$(jq -c '[.value[] | {rule_id, severity, techniques}]' "$T/alerts.json")"
step "alerts on the server, with their ATT&CK techniques:"
jq -r '[.value[] | "\((.severity + "        ")[0:8])\(.title) [\(.techniques | join(","))]"] | unique | .[] | "                           " + .' \
    "$T/alerts.json"
risk_high() { [ "$(admin GET "/api/v1/devices/$DEVICE" | jq -r .risk_level)" = high ]; }
within 10 risk_high || fail "the device's risk is not high: $(admin GET "/api/v1/devices/$DEVICE")"
within 10 noncompliant "$DEVICE" || fail "the device is not noncompliant: $(admin GET "/api/v1/devices/$DEVICE/compliance")"
step "device risk high, compliance noncompliant"
until_status 403 5 blocked /
header blocked X-Vigil-Reason | grep -qi noncompliant ||
    fail "403 whose reason does not say noncompliant: '$(header blocked X-Vigil-Reason)'"
step "the device through nginx: 403, reason: $(header blocked X-Vigil-Reason)"

# --- the analyst resolves the alerts with the CLI: compliant, 200
within 20 settled || fail "the device is not compliant after its alerts were resolved: \
$(admin GET "/api/v1/devices/$DEVICE/compliance")"
step "alerts resolved with 'vigil alerts update ID --status resolved': compliant"
until_status 200 10 after /
step "the device through nginx: 200 after $WAITED ms"

if [ -n "$RUNNING" ]; then
    step "isolation is not shown here: this agent guards this machine's own network ('make test' runs it in a namespace)"
    echo "scenario: all checks passed"
    exit 0
fi
# --- the same through isolation, seen from the device's own network
# from_device NAME: the status nginx answers the device for / when the
# device itself asks (from the namespace; 000: no answer within 2 s)
from_device() {
    in_ns curl -sS --max-time 2 --cacert "$T/app-ca.pem" --resolve "$HOST:$PPORT:$SERVER_ADDR" \
        --cert "$T/agent/device.pem" --key "$T/agent/device.key" -o "$T/$1.b" -w '%{http_code}' \
        "https://$HOST:$PPORT/" 2>"$T/$1.err" || true
}
server_from_device() {
    in_ns curl -sf --max-time 5 --cacert "$VIGIL_CA" "https://$SERVER_ADDR:$PORT/api/v1/health" >/dev/null
}
isolation() { "$VIGIL" --json devices show "$DEVICE" | jq -r .isolation.state; }
st=$(from_device ns-before)
[ "$st" = 200 ] || fail "from the device's network, before isolation: HTTP $st ($(cat "$T/ns-before.err"))"
step "from the device's own network ($PEER): 200 through nginx"
"$VIGIL" devices isolate "$DEVICE" --comment "scenario: contain the device" --wait --timeout 60 \
    >"$T/isolate.out" 2>"$T/isolate.log" || fail "vigil devices isolate: $(cat "$T/isolate.out" "$T/isolate.log")"
[ "$(isolation)" = isolated ] || fail "the server does not show the device isolated"
step "vigil devices isolate --wait: $(sed -n 's/^status  *//p' "$T/isolate.out")"
st=$(from_device ns-isolated)
[ "$st" = 000 ] || fail "isolated: nginx still answers the device (HTTP $st)"
server_from_device || fail "isolated: vigild is no longer reachable from the device"
step "isolated: nginx is cut off ($(tr -d '\n' <"$T/ns-isolated.err")), vigild still reachable"
"$VIGIL" devices release "$DEVICE" --comment "scenario: clean" --wait --timeout 60 \
    >"$T/release.out" 2>"$T/release.log" || fail "vigil devices release: $(cat "$T/release.out" "$T/release.log")"
[ "$(isolation)" = not_isolated ] || fail "the server still shows the device isolated"
st=$(from_device ns-released)
[ "$st" = 200 ] || fail "released: HTTP $st from the device's network ($(cat "$T/ns-released.err"))"
step "vigil devices release --wait: 200 through nginx from the device's network again"
[ "$(nft list ruleset | sha256sum)" = "$HOST_RULES_BEFORE" ] || fail "this namespace's ruleset changed"
echo "scenario: all checks passed"
