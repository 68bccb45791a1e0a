#!/bin/sh
# Integration: batches refused as too large are sent in halves. vigild on a
# loopback port with a body_max (vigild.conf) of about three alert lines; an
# agent with its eBPF sensor and Vigil's rules raises 12 fileless execs
# (high alerts) while vigild is down, so they travel in one batch; a line
# larger than body_max is put after them in the spool. Once vigild is back:
# the 12 alerts are on the server, none set aside and none sent twice; the
# line too large alone is set aside in rejected/ and logged; alerts raised
# afterwards travel as usual.
# Needs root and BTF; skips (77) without them.
set -eu

VIGILD=${VIGILD:-build/vigild}
VIGIL=${VIGIL:-build/vigil}
AGENT=${VIGIL_AGENT:-build/vigil-agent}
HELPER=${BEHAVE:-build/tests/integration/behave}
RULES=${VIGIL_RULES:-rules}
SENSOR=bpf
N=12
. "$(dirname "$0")/lib.sh"
need_sensor
need_helper
command -v curl >/dev/null || skip "curl is not installed"
[ -d "$RULES" ] || { echo "FAIL: no rules folder at '$RULES'" >&2; exit 1; }

make_temp alerts-split
M=vigil-split-$$

fail() { echo "FAIL: $*" >&2; for f in "$T"/*.log; do echo "--- $f"; tail -n 60 "$f"; done >&2; exit 1; }

PORT=$(free_port)

stop_vigild() {
    kill "$SERVER_PID"; wait "$SERVER_PID" || fail "vigild did not exit cleanly"; SERVER_PID=""; rm -f "$T/port"
}

api() {
    curl -sS --fail --cacert "$T/data/server-ca.pem" -H "Authorization: Bearer $(cat "$T/token")" \
        "https://127.0.0.1:$PORT$1"
}

run_agent() {
    "$AGENT" run --state-dir "$T/agent" --sensor "$SENSOR" --rules "$RULES" >/dev/null 2>"$1" &
    AGENT_PID=$!
    _i=0
    until grep -q "sensor '$SENSOR' running" "$1" 2>/dev/null; do
        grep -q "detection is off" "$1" 2>/dev/null && skip "the $SENSOR sensor cannot run here: $(cat "$1")"
        kill -0 "$AGENT_PID" 2>/dev/null || fail "the agent exited before its sensor ran"
        _i=$((_i + 1))
        [ $_i -lt 300 ] || fail "the agent did not start its sensor in 30 s"
        sleep 0.1
    done
}

ids_of() {
    cat "$@" | grep "alert: new " | sed -n 's/.* id=\([0-9a-f-]\{36\}\).*/\1/p' | sort -u
}
raised() { [ "$(grep "alert: new " "$1" | grep -cF -- "$2")" -ge "$3" ]; }
on_server() { api "/api/v1/alerts/$1" >/dev/null 2>&1; }
all_on_server() { for _id in $(cat "$1"); do on_server "$_id" || return 1; done; }

"$VIGILD" init --data-dir "$T/data" >"$T/token" 2>"$T/init.log" || fail "vigild init"
start_vigild
export VIGIL_SERVER="https://127.0.0.1:$PORT" VIGIL_TOKEN="$(cat "$T/token")" VIGIL_CA="$T/data/server-ca.pem"
"$VIGIL" onboarding create --expires 1h --uses 1 -o "$T/pkg.json" >"$T/cli.log" || fail "onboarding create"
"$AGENT" onboard "$T/pkg.json" --state-dir "$T/agent" 2>"$T/onboard.log" || fail "onboard"
stop_vigild

# --- N alerts spooled while vigild is down, then a line too large alone
run_agent "$T/agent1.log"
for k in $(seq 1 $N); do tree "$HELPER" memfd-exec "$M-$k" 100 >/dev/null; done
within 20 raised "$T/agent1.log" "$M-" $N || fail "$N alerts not raised"
sleep 0.5
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "the agent did not stop cleanly"; AGENT_PID=""
longest=$(cat "$T/agent/spool/"alerts-*.jsonl | awk '{ if (length($0) > m) m = length($0) } END { print m + 1 }')
body_max=$((3 * longest + 64))
[ "$body_max" -ge 1024 ] || body_max=1024
seg=$(ls "$T/agent/spool/"alerts-*.jsonl | tail -n 1)
huge_id=0b0e0b0e-0000-4000-8000-$(printf '%012d' $$)
printf '{"id":"%s","change":"new","severity":"high","pad":"%s"}\n' "$huge_id" \
    "$(head -c "$body_max" /dev/zero | tr '\0' x)" >>"$seg"
echo "body_max = $body_max" >>"$T/data/vigild.conf"
echo "note: alert lines of at most $longest bytes, vigild's body_max $body_max bytes"

# --- vigild back with the small body_max
start_vigild
run_agent "$T/agent2.log"
ids_of "$T/agent1.log" >"$T/raised-ids"
within 60 all_on_server "$T/raised-ids" || fail "the alerts raised with vigild down did not all reach the server"
within 10 grep -q "refused as too large (HTTP 413).*sending it in parts of at most" "$T/agent2.log" ||
    fail "the agent did not log that it split the batch"
within 10 test -d "$T/agent/spool/rejected" || fail "the line too large alone was not set aside"
[ "$(cat "$T/agent/spool/rejected/"* | wc -l)" -eq 1 ] ||
    fail "rejected/ holds more than the line too large alone: $(cat "$T/agent/spool/rejected/"* | cut -c1-100)"
grep -q "$huge_id" "$T/agent/spool/rejected/"* || fail "rejected/ lacks the line too large alone"
grep -q "alert upload of 1 alerts refused (HTTP 413)" "$T/agent2.log" || fail "the line too large alone was not logged"

# --- later alerts travel as usual
tree "$HELPER" memfd-exec "$M-after" 100 >/dev/null
within 10 raised "$T/agent2.log" "$M-after" 1 || fail "no alert raised after the split"
ids_of "$T/agent2.log" >"$T/after-ids"
within 10 all_on_server "$T/after-ids" || fail "an alert raised after the split did not reach the server"

# none sent twice, and the server holds exactly the alerts raised (this
# machine's other activity included)
if grep "alerts sent: " "$T/agent2.log" | grep -v "unchanged 0," >/dev/null; then
    fail "alerts were sent twice: $(grep "alerts sent: " "$T/agent2.log")"
fi
ids_of "$T/agent1.log" "$T/agent2.log" >"$T/raised-ids"
n_raised=$(wc -l <"$T/raised-ids")
[ "$n_raised" -lt 500 ] || skip "over 500 alerts raised on this machine meanwhile: cannot list them in one page"
server_ids() { api "/api/v1/alerts?limit=500" | jq -r '.value[].id' | sort >"$T/server-ids"; }
same_ids() { server_ids && cmp -s "$T/raised-ids" "$T/server-ids"; }
within 30 same_ids || fail "the server's alerts differ from those raised: $(diff "$T/raised-ids" "$T/server-ids")"
uploads=$(grep -c "alerts sent: " "$T/agent2.log")
echo "ok: $n_raised alerts on the server, each once, none set aside, in $uploads uploads; the line too large alone set aside"
