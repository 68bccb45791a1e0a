#!/bin/sh
# bench/alerts/outage.sh BUILD_DIR [N] [DOWN_SECONDS]: N distinct high alerts
# (default 1000) raised through the real agent (eBPF sensor, Vigil's rules,
# spool, alert uplink) while vigild is down for DOWN_SECONDS (default 60),
# then vigild started again. Each alert is a fileless exec (memfd) by a
# process of its own under a shell of its own (the agent folds repeats on
# one process tree into one alert), 4 at a time.
#
# Printed: how long raising the N took and how many the agent raised; once
# vigild is back, the time to the first upload it accepted (the uplink's
# backoff, which reached its 60 s cap during the outage), the time to
# drain (every alert raised on the server), the uploads it took, and the
# checks: every alert raised is on the server, each behaviour has exactly one
# alert, and no upload was answered "unchanged" (nothing sent twice).
# Needs root and BTF; prints why and exits 77 without them. Figures only:
# exits 1 only when the benchmark could not run or a check failed.
set -eu

BUILD=${1:-build}
N=${2:-1000}
DOWN=${3:-60}
BENCH=bench-outage
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || skip "curl is not installed"

make_temp bench-outage
M=vigil-out-$$

ms() { date +%s%3N; }
# log_ms LINE: the agent log line's time in ms since the epoch
log_ms() { date -d "$(echo "$1" | cut -d' ' -f1)" +%s%3N; }
# marked: "NUMBER ID" of each new alert the agent raised on a behaviour
marked() {
    grep "alert: new " "$T/agent.log" | grep -F -- "$M-" |
        sed -n "s/.* id=\([0-9a-f-]\{36\}\).*$M-\([0-9]*\).*/\2 \1/p" | sort -u
}
n_marked() { marked | wc -l; }

PORT=$(free_port)
onboard_agent
run_bench_agent
sleep 1

# --- vigild down; N behaviours
stop_vigild
down=$(ms)
seq 1 "$N" | xargs -P 4 -I{} sh -c '"$1" memfd-exec "$2-{}x" 20 >/dev/null; exit $?' sh "$HELPER" "$M" ||
    fail "a behaviour failed"
done_ms=$(ms)
enough() { [ "$(n_marked)" -ge "$N" ]; }
within 60 enough || true
raised=$(n_marked)
echo "bench-outage: $N behaviours performed in $(((done_ms - down) / 1000)).$(((done_ms - down) % 1000 / 100)) s;" \
    "the agent raised $raised alerts on them"
[ "$raised" -gt 0 ] || fail "no alert raised"
rest=$((DOWN * 1000 - ($(ms) - down)))
[ "$rest" -le 0 ] || sleep "$((rest / 1000)).$((rest % 1000 / 100))"

# --- vigild back: until every alert raised is on the server
start_vigild
up=$(ms)
echo "bench-outage: vigild was down $(((up - down) / 1000)) s; the spool held $(cat "$T/agent/spool/"alerts-*.jsonl | wc -c) bytes"
grep "alert: new " "$T/agent.log" | sed -n 's/.* id=\([0-9a-f-]\{36\}\).*/\1/p' | sort -u >"$T/raised-ids"
want=$(wc -l <"$T/raised-ids")
count() { api "/api/v1/alerts?limit=1" | jq -r .count; }
drained() { [ "$(count)" -ge "$want" ]; }
within 600 drained || fail "the server holds $(count) of the $want alerts raised after 600 s"
end=$(ms)

# which uploads: the first accepted after vigild came back, and the last
first_line=$(awk -v up="$(date -u -d "@$((up / 1000))" +%Y-%m-%dT%H:%M:%S)" \
    '$1 >= up && /alerts sent: /' "$T/agent.log" | head -n 1)
uploads=$(awk -v up="$(date -u -d "@$((up / 1000))" +%Y-%m-%dT%H:%M:%S)" '$1 >= up && /alerts sent: /' "$T/agent.log" |
    wc -l)
first=$(log_ms "$first_line")
echo "bench-outage: vigild back -> first upload accepted: $((first - up)) ms (the uplink's backoff)"
echo "bench-outage: first upload -> all $want alerts on the server: $((end - first)) ms, $uploads uploads" \
    "($(((want * 1000) / (end - first + 1))) alerts/s)"
echo "bench-outage: vigild back -> drained: $((end - up)) ms"

# --- the checks
: >"$T/server-ids"
offset=0
while [ "$offset" != null ]; do
    api "/api/v1/alerts?limit=500&offset=$offset" >"$T/page.json"
    jq -r '.value[].id' "$T/page.json" >>"$T/server-ids"
    offset=$(jq -r .next_offset "$T/page.json")
done
sort -o "$T/server-ids" "$T/server-ids"
missing=$(comm -23 "$T/raised-ids" "$T/server-ids" | wc -l)
extra=$(comm -13 "$T/raised-ids" "$T/server-ids" | wc -l)
doubled=$(marked | cut -d' ' -f1 | uniq -d | wc -l)
resent=$(grep "alerts sent: " "$T/agent.log" | grep -vc "unchanged 0," || true)
echo "bench-outage: $want alerts raised ($raised on the $N behaviours); on the server: $missing missing," \
    "$extra not raised, $doubled behaviours with two alerts, $resent uploads with an alert sent twice"
[ "$missing" -eq 0 ] && [ "$extra" -eq 0 ] && [ "$doubled" -eq 0 ] && [ "$resent" -eq 0 ] || fail "a check failed"
