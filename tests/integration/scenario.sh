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
# again, 200. Needs root, BTF and nginx; skips (77) without them.
set -eu

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/access-lib.sh"
need_alerts
access_need nginx
command -v setpriv >/dev/null || skip "setpriv is not installed"

fail() { fail_with_logs FAIL: 40 "$*"; }

M=vigil-scn-$$
SUID=""
cleanup() {
    proxy_stop
    end_processes
    [ -z "$SUID" ] || rm -f "$SUID"
    remove_temp
}
scenario_setup scenario
findmnt -n -o OPTIONS --target "$T" | grep -qw nosuid && skip "$T is on a nosuid mount: no setuid step"
step() { echo "$(date -u +%H:%M:%S.%3N) $*"; }
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
step "alerts on the server: $(jq -r '[.value[] | "\(.title) [\(.techniques | join(","))]"] | join("; ")' \
    "$T/alerts.json")"
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
echo "scenario: all checks passed"
