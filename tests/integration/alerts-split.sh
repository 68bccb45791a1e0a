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

N=12
. "$(dirname "$0")/lib.sh"
need_alerts

make_temp alerts-split
M=vigil-split-$$

fail() { fail_with_logs FAIL: 60 "$*"; }

PORT=$(free_port)

# raised LOG MARK N: LOG has at least N lines of new alerts on images
# naming MARK
raised() { [ "$(grep "alert: new " "$1" | grep -cF -- "$2")" -ge "$3" ]; }

onboard_agent
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
alert_ids "$T/agent1.log" >"$T/raised-ids"
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
alert_ids "$T/agent2.log" >"$T/after-ids"
within 10 all_on_server "$T/after-ids" || fail "an alert raised after the split did not reach the server"

# none sent twice, and the server holds exactly the alerts raised (this
# machine's other activity included)
if resent "$T/agent2.log"; then
    fail "alerts were sent twice: $(grep "alerts sent: " "$T/agent2.log")"
fi
alert_ids "$T/agent1.log" "$T/agent2.log" >"$T/raised-ids"
server_holds_raised
uploads=$(grep -c "alerts sent: " "$T/agent2.log")
echo "ok: $n_raised alerts on the server, each once, none set aside, in $uploads uploads; the line too large alone set aside"
