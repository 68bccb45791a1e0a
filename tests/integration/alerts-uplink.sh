#!/bin/sh
# Integration: alerts from the agent to the server. vigild on a loopback
# port, an agent onboarded into a temporary state directory and run with its
# eBPF sensor and Vigil's rules; a fileless exec (a high alert) must be
# stored on the server, which the admin API shows, and the time from its
# being raised to the server's acknowledgement (after its commit) is
# printed. Then the outage: vigild stopped, alerts raised, the agent killed
# with SIGKILL and started again, vigild started again: every alert is on
# the server once, and nothing acknowledged before was sent again. Then,
# against a stand-in server: a 503 is retried, a 400 set aside once, a 400
# too_many_alerts sent again in halves down to single alerts.
# Needs root and BTF; skips (77) without them.
set -eu

. "$(dirname "$0")/lib.sh"
need_alerts

make_temp alerts-uplink
M=vigil-up-$$

fail() { fail_with_logs FAIL: 60 "$*"; }

PORT=$(free_port)

# ms_of LINE: the log line's timestamp in ms since the epoch
ms_of() {
    echo "$(date -d "$(echo "$1" | cut -d' ' -f1)" +%s%3N)"
}

onboard_agent
api "/api/v1/alerts" >/dev/null || fail "the server has no GET /api/v1/alerts"

# --- a high alert reaches the server at once: the time from the agent's
# logging it (raised) to the admin API's showing it (polled without pause:
# an upper bound, curl's start and handshake included)
run_agent "$T/agent1.log"
tree "$HELPER" memfd-exec "$M-a" 100 >/dev/null &
BEHAVIOUR=$!
within 10 raised "$T/agent1.log" "$M-a" 1 || fail "no alert raised for the fileless exec"
ID=$(grep "alert: new " "$T/agent1.log" | grep -F -- "$M-a" | head -n 1 | sed -n 's/.* id=\([0-9a-f-]\{36\}\).*/\1/p')
_i=0
until on_server "$ID"; do
    _i=$((_i + 1))
    [ $_i -lt 500 ] || fail "alert $ID did not reach the server"
done
seen=$(date +%s%3N)
raised=$(ms_of "$(grep "alert: new " "$T/agent1.log" | grep -F -- "$ID" | head -n 1)")
echo "latency: raised -> visible in the admin API: $((seen - raised)) ms (upper bound)"
# and, when the next upload after it carried it alone, the time to the
# server's answer (sent after its commit), from the agent's log
acked_line=$(awk -v id="$ID" '
    index($0, "id=" id) { found = 1; next }
    found && /alert: new / { exit }
    found && /alerts sent: 1 / { print; exit }' "$T/agent1.log")
if [ -n "$acked_line" ]; then
    echo "latency: raised -> stored (the server's answer): $(($(ms_of "$acked_line") - raised)) ms"
fi
api "/api/v1/alerts/$ID" | jq -e '.severity == "high"' >/dev/null || fail "alert $ID is not high on the server"
[ $((seen - raised)) -lt 1000 ] || fail "the high alert took $((seen - raised)) ms to be stored"
wait "$BEHAVIOUR" || fail "the fileless exec failed"
# the inventory says which sensor runs, and the server shows it
sensor_shown() { api "/api/v1/devices" | jq -e --arg s "$SENSOR" '.value[0].sensor == $s' >/dev/null; }
within 10 sensor_shown || fail "the device's sensor is not '$SENSOR' on the server"

# --- the outage: the server down, alerts raised, the agent killed and restarted
stop_vigild
for k in 1 2 3; do tree "$HELPER" memfd-exec "$M-out$k" 100 >/dev/null; done
within 10 raised "$T/agent1.log" "$M-out" 3 || fail "3 alerts not raised during the outage"
sleep 0.5
ids_of "$T/agent1.log" "$M-out" >"$T/outage-ids"
within 10 grep -q "alert upload: server unreachable" "$T/agent1.log" || fail "the agent did not log the outage"
sleep 0.5
kill -KILL "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null || true; AGENT_PID=""
ls "$T/agent/spool/"alerts-*.jsonl >/dev/null || fail "no spool left after the kill"
# lines the server cannot take must not hold the queue: one not JSON (left
# out, logged), one an alert the server rejects (logged with its reason)
seg=$(ls "$T/agent/spool/"alerts-*.jsonl | tail -n 1)
printf 'not json\n{"id":"%s","change":"new","severity":"catastrophic"}\n' "$M-bogus" >>"$seg"
run_agent "$T/agent2.log"
sleep 1
start_vigild
for id in $(cat "$T/outage-ids"); do
    within 90 on_server "$id" || fail "alert $id raised during the outage is not on the server"
done
# each once: with detection stopped and the spool drained by an agent
# without it, the server holds exactly the alerts the agent raised (this
# machine's other activity included)
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "the agent did not stop cleanly"; AGENT_PID=""
"$AGENT" run --state-dir "$T/agent" --no-detect >/dev/null 2>"$T/agent3.log" &
AGENT_PID=$!
alert_ids "$T/agent1.log" "$T/agent2.log" >"$T/raised-ids"
server_holds_raised
grep -q "not an alert" "$T/agent2.log" || fail "the line that is not JSON was not logged"
grep -q "the server rejected alert $M-bogus: " "$T/agent2.log" || fail "the rejected alert was not logged"
# what the first run had acknowledged was not sent again
if resent "$T/agent2.log" "$T/agent3.log"; then
    fail "a restarted agent sent acknowledged alerts again: $(grep -h "alerts sent: " "$T/agent2.log" "$T/agent3.log")"
fi
echo "ok: $n_raised alerts on the server, each once, 3 of them raised during the outage"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "the draining agent did not stop cleanly"; AGENT_PID=""

# --- a batch refused whole (400) is set aside, once; a 503 is retried with
# backoff and keeps the batch. vigild never answers 400 to the lines the
# agent sends, so a stand-in on vigild's certificate answers (python3).
command -v python3 >/dev/null || { echo "note: no python3: the refused-batch checks are skipped"; exit 0; }
cat >"$T/fake.py" <<'PY'
import http.server, json, ssl, sys
mode_file, log_file, cert, key = sys.argv[1:5]
class H(http.server.BaseHTTPRequestHandler):
    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_any(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        if self.path != "/agent/v1/alerts":
            return self.answer(200, {"heartbeat_interval": 60, "inventory_current": True})
        mode = open(mode_file).read().split()
        status, code = int(mode[0]), mode[1] if len(mode) > 1 else "invalid_batch"
        alerts = len(json.loads(body)["alerts"]) if status == 400 else 0
        with open(log_file, "a") as f:
            f.write("%d %d\n" % (status, alerts))
        self.answer(status, {"error": {"code": code, "message": "stand-in says %d" % status}})
    do_POST = do_PUT = do_any
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
echo 503 >"$T/fake.mode"
python3 -u "$T/fake.py" "$T/fake.mode" "$T/fake.requests" "$T/data/server.pem" "$T/data/private/server.key" \
    >"$T/fake.port" 2>"$T/fake.log" &
BG_PIDS="$BG_PIDS $!"
within 10 test -s "$T/fake.port" || fail "the stand-in server did not start"
cp -a "$T/agent" "$T/agent-fake"
jq --arg u "https://127.0.0.1:$(cat "$T/fake.port")" '.server_url = $u' "$T/agent/agent.json" >"$T/agent-fake/agent.json"
seg=$(ls "$T/agent-fake/spool/"alerts-*.jsonl | tail -n 1)
printf '{"id":"%s","change":"new","severity":"high"}\n' "$M-refused" >>"$seg"
"$AGENT" run --state-dir "$T/agent-fake" --no-detect >/dev/null 2>"$T/agent-fake.log" &
AGENT_PID=$!
# 503: tried at once, then after 1 s, 2 s...: kept, not set aside
tried() { [ "$(cat "$T/fake.requests" 2>/dev/null | wc -l)" -ge "$1" ]; }
within 10 tried 3 || fail "the agent did not retry after 503"
[ ! -d "$T/agent-fake/spool/rejected" ] || fail "a batch answered 503 was set aside"
grep -q "refused (HTTP 503)" "$T/agent-fake.log" || fail "the 503 was not logged"
# 400: set aside in rejected/, and not sent again
echo 400 >"$T/fake.mode"
within 15 test -d "$T/agent-fake/spool/rejected" || fail "the batch refused with 400 was not set aside"
grep -q "$M-refused" "$T/agent-fake/spool/rejected/"alerts-*.jsonl || fail "rejected/ lacks the refused batch"
grep -q "refused (HTTP 400): stand-in says 400" "$T/agent-fake.log" || fail "the 400 was not logged with its reason"
n=$(grep -c 400 "$T/fake.requests")
sleep 2
[ "$(grep -c 400 "$T/fake.requests")" -eq "$n" ] || fail "the batch refused with 400 was sent again"
echo "ok: a batch answered 503 retried and kept, one answered 400 set aside once"

# 400 too_many_alerts: the batch is sent in halves, down to one alert, each
# then set aside alone (this stand-in refuses every size)
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "the agent did not stop cleanly"; AGENT_PID=""
echo "400 too_many_alerts" >"$T/fake.mode"
: >"$T/fake.requests"
seg=$(ls "$T/agent-fake/spool/"alerts-*.jsonl | tail -n 1)
for k in 1 2 3 4; do printf '{"id":"%s","change":"new","severity":"high"}\n' "$M-big$k" >>"$seg"; done
"$AGENT" run --state-dir "$T/agent-fake" --no-detect >/dev/null 2>>"$T/agent-fake.log" &
AGENT_PID=$!
set_aside_alone() { [ "$(grep -l "$M-big" "$T/agent-fake/spool/rejected/"alerts-*.jsonl | wc -l)" -eq 4 ]; }
within 15 set_aside_alone || fail "the batch refused as too_many_alerts was not split down to single alerts: \
$(cat "$T/fake.requests")"
[ "$(cat "$T/fake.requests")" = "$(printf '400 4\n400 2\n400 1\n400 1\n400 1\n400 1')" ] ||
    fail "the batch of 4 was not sent as 4, 2, then 1 by 1: $(cat "$T/fake.requests")"
grep -q "refused as too large (HTTP 400): stand-in says 400; sending it in parts of at most 2" "$T/agent-fake.log" ||
    fail "the split was not logged"
echo "ok: a batch answered 400 too_many_alerts sent in halves, each alert then set aside alone"
