#!/bin/sh
# Integration: 'make demo' (scripts/demo.sh) against a system laid out as
# 'make run' lays it out (scripts/paths.sh's folders, with VIGIL_DATA_DIR,
# VIGIL_STATE_DIR and VIGIL_LISTEN pointing into the test's folder):
# vigild with its first admin token in initial-admin-token, its pid in
# vigild.pid and its decision listener set in vigild.conf; this machine's
# agent onboarded and running with its pid in agent.pid. The demo tells
# every step and ends with the access log, which holds its 403. Needs root,
# BTF and nginx; skips (77) without them.
set -eu

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/access-lib.sh"
need_alerts
access_need nginx
command -v setpriv >/dev/null || skip "setpriv is not installed"
fail() { fail_with_logs FAIL: 40 "$*"; }

TOP=$(cd "$(dirname "$0")/../.." && pwd)
make_temp demo
D=$T/server S=$T/agent-state
PORT=$(free_port)
ACCESS_PORT=$(free_port)
"$VIGILD" init --data-dir "$D" --hostname localhost >"$T/token" 2>"$T/init.log" || fail "vigild init"
cp "$T/token" "$D/initial-admin-token"
echo "access_listen = 127.0.0.1:$ACCESS_PORT" >>"$D/vigild.conf"
"$VIGILD" run --data-dir "$D" --listen "127.0.0.1:$PORT" --public-url "https://localhost:$PORT" \
    --port-file "$D/port" >>"$T/vigild.log" 2>&1 &
SERVER_PID=$!
echo "$SERVER_PID" >"$D/vigild.pid"
within 10 test -s "$D/port" || fail "vigild did not start"
export VIGIL_SERVER="https://localhost:$PORT" VIGIL_TOKEN="$(cat "$T/token")" VIGIL_CA="$D/server-ca.pem"
"$VIGIL" onboarding create --expires 10m --uses 1 -o "$T/pkg.json" >"$T/cli.log" || fail "onboarding create"
"$AGENT" onboard "$T/pkg.json" --state-dir "$S" 2>"$T/onboard.log" || fail "onboard"
"$AGENT" run --state-dir "$S" --sensor "$SENSOR" --rules "$RULES" >/dev/null 2>"$T/agent.log" &
AGENT_PID=$!
echo "$AGENT_PID" >"$S/agent.pid"
wait_for "$T/agent.log" "sensor '$SENSOR' running" 30 || fail "the agent's sensor did not start"

rc=0
VIGIL_DATA_DIR=$D VIGIL_STATE_DIR=$S VIGIL_LISTEN=127.0.0.1:$PORT BUILD=$(dirname "$VIGILD") \
    "$TOP/scripts/demo.sh" >"$T/demo.out" 2>&1 || rc=$?
cat "$T/demo.out"
[ "$rc" = 0 ] || fail "make demo exited $rc"
for want in "is compliant" "through nginx: 200" "reverse shell" "T1620" "T1548.001" "T1055.008" "T1059.004" \
            "compliance noncompliant" "through nginx: 403, reason: " "200 after" "all checks passed"; do
    grep -qF -- "$want" "$T/demo.out" || fail "the demo's output lacks '$want'"
done
grep -q "^[0-9TZ:.-]*  *403  *GET  *intranet.example.test" "$T/demo.out" ||
    fail "the access log the demo shows lacks its 403"
# the running system is left running, with the example policies applied
kill -0 "$SERVER_PID" && kill -0 "$AGENT_PID" || fail "the demo stopped vigild or the agent"
"$VIGIL" access policies list | grep -q "Intranet" || fail "the example access policy is not applied"
echo "ok"
