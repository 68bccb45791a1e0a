#!/bin/sh
# Integration: the detection commands of vigil-agent with the real programs.
#   1. scan-rules over good, rejected, unsupported and unknown-field rules:
#      the FILE:LINE: REASON lines, the summary line, the exit status
#   2. test-rules over recorded events: lines and json formats, a bad line
#   3. scan-rules over the SigmaHQ corpus (../shared/corpus/sigma): every
#      Linux process_creation, network_connection and file_event rule loads,
#      none is rejected (skipped, saying why, when the corpus is absent)
#   4. as root with the eBPF sensor: `detect` raises a Sigma alert, folds its
#      repeat, and raises "File downloaded and then executed"
#   5. as root: `run` with a real vigild writes alerts to its log and spool
# Parts 4 and 5 are skipped (said, not failed) without root or BPF; the test
# as a whole skips (77) only when nothing could run.
set -eu

AGENT=${VIGIL_AGENT:-build/vigil-agent}
VIGILD=${VIGILD:-build/vigild}
VIGIL=${VIGIL:-build/vigil}
here=$(cd "$(dirname "$0")" && pwd)
CORPUS=${VIGIL_SIGMA_CORPUS:-$here/../../../shared/corpus/sigma}
. "$here/lib.sh"
command -v jq >/dev/null || skip "jq is not installed"

make_temp detect-cli
chmod 755 "$T"

fail() {
    echo "FAIL: $*" >&2
    for f in "$T"/*.log "$T"/*.out; do [ -f "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }; done >&2
    exit 1
}
ok() { echo "ok: $*"; }

rule() {        # rule FILE ID CATEGORY DETECTION-LINES...
    f=$1 id=$2 cat=$3
    shift 3
    { printf 'title: test rule %s\nid: %s\nstatus: test\nlogsource:\n    product: linux\n    category: %s\ndetection:\n' \
        "$(basename "$f" .yml)" "$id" "$cat"
      for l in "$@"; do printf '    %s\n' "$l"; done
      printf 'level: high\ntags:\n    - attack.execution\n    - attack.t1059.004\n'; } >"$f"
}

# ---- 1. scan-rules ----
mkdir -p "$T/rules/sub"
rule "$T/rules/good.yml" 11111111-1111-4111-8111-111111111111 process_creation \
    'selection:' "    CommandLine|contains: 'vigil-detect-cli-marker'" 'condition: selection'
rule "$T/rules/sub/bad.yml" 22222222-2222-4222-8222-222222222222 process_creation \
    'selection:' "    Image|endwith: '/nc'" 'condition: selection'
rule "$T/rules/unknown.yml" 33333333-3333-4333-8333-333333333333 process_creation \
    'selection:' "    OriginalFileName: 'x.exe'" 'condition: selection'
cat >"$T/rules/unsupported.yml" <<'EOF'
title: auditd rule
id: 44444444-4444-4444-8444-444444444444
logsource:
    product: linux
    service: auditd
detection:
    selection:
        type: EXECVE
    condition: selection
EOF

"$AGENT" scan-rules "$T/rules" >"$T/scan.out" 2>"$T/scan.log" && fail "scan-rules exited 0 with a rejected rule"
grep -qx 'loaded 2, unsupported-logsource 1, rejected 1' "$T/scan.out" || fail "scan-rules summary line"
grep -q "^$T/rules/sub/bad.yml:9: .*endwith" "$T/scan.out" || fail "scan-rules: no FILE:LINE: REASON for the bad rule"
grep -q "^$T/rules/unknown.yml:1: fields no event carries: OriginalFileName" "$T/scan.out" ||
    fail "scan-rules: the unknown field is not named"
grep -q "^loaded by category: process_creation 2, network_connection 0, file_event 0" "$T/scan.out" ||
    fail "scan-rules: per-category counts"
grep -q "unsupported:" "$T/scan.out" && fail "scan-rules: unsupported listed without --verbose"
"$AGENT" scan-rules --verbose "$T/rules" >"$T/scan-v.out" 2>&1 || true
grep -q "^$T/rules/unsupported.yml:[0-9]*: unsupported: .*auditd" "$T/scan-v.out" || fail "scan-rules --verbose: no unsupported line"
rm "$T/rules/sub/bad.yml"
"$AGENT" scan-rules "$T/rules" >"$T/scan2.out" 2>&1 || fail "scan-rules exited non-zero without a rejected rule"
grep -qx 'loaded 2, unsupported-logsource 1, rejected 0' "$T/scan2.out" || fail "scan-rules summary without the bad rule"
"$AGENT" scan-rules "$T/no-such-dir" >"$T/scan3.out" 2>&1 && fail "scan-rules of a missing path exited 0"
grep -q "no-such-dir: cannot read" "$T/scan3.out" || fail "scan-rules: a missing path is not named"
ok "scan-rules"

# ---- 2. test-rules ----
cat >"$T/events.jsonl" <<'EOF'
{"EventType":"process_exec","Category":"process_creation","ProcessId":10,"Image":"/bin/sh","CommandLine":"sh -c vigil-detect-cli-marker"}
{"EventType":"process_exec","Category":"process_creation","ProcessId":11,"Image":"/bin/sh","CommandLine":"sh -c other"}

{"EventType":"process_fork","ProcessId":12,"CommandLine":"vigil-detect-cli-marker"}
{"EventType":"process_exec","Category":"process_creation","ProcessId":13,"CommandLine":"VIGIL-DETECT-CLI-MARKER x","StdinIsSocket":true}
EOF
"$AGENT" test-rules --format lines "$T/rules" "$T/events.jsonl" >"$T/test.out" 2>"$T/test.log" || fail "test-rules"
printf '1\t11111111-1111-4111-8111-111111111111\thigh\ttest rule good\n5\t11111111-1111-4111-8111-111111111111\thigh\ttest rule good\n' >"$T/test.want"
cmp -s "$T/test.out" "$T/test.want" || { diff "$T/test.want" "$T/test.out" >&2 || true; fail "test-rules --format lines output"; }
"$AGENT" test-rules --format json "$T/rules/good.yml" "$T/events.jsonl" >"$T/test-json.out" 2>"$T/test.log" ||
    fail "test-rules --format json"
[ "$(jq -s 'map(.line)' -c "$T/test-json.out")" = "[1,5]" ] || fail "test-rules json: lines"
[ "$(jq -r -s '.[0].tags[1]' "$T/test-json.out")" = "attack.t1059.004" ] || fail "test-rules json: tags"
printf '{"Category":"process_creation","CommandLine":"vigil-detect-cli-marker"}\n{"Category": oops}\n' >"$T/bad.jsonl"
"$AGENT" test-rules "$T/rules" "$T/bad.jsonl" >"$T/bad.out" 2>"$T/bad.log" && fail "test-rules accepted a bad JSON line"
grep -q "bad.jsonl:2: bad JSON" "$T/bad.log" || fail "test-rules: the bad line is not named"
ok "test-rules"

# ---- 3. the SigmaHQ corpus ----
if [ -d "$CORPUS/rules/linux" ]; then
    "$AGENT" scan-rules --verbose "$CORPUS/rules/linux" "$CORPUS/rules-emerging-threats" \
        "$CORPUS/rules-threat-hunting" >"$T/corpus.out" 2>&1 || fail "the corpus has rejected rules"
    grep -q '^loaded [1-9][0-9]*, unsupported-logsource [0-9]*, rejected 0$' "$T/corpus.out" || fail "corpus summary"
    if grep 'unsupported:' "$T/corpus.out" | grep 'product=linux' |
        grep -E 'category=(process_creation|network_connection|file_event)'; then
        fail "Linux rules of a produced category were found unsupported"
    fi
    ok "corpus: $(grep '^loaded [0-9]*,' "$T/corpus.out")"
else
    echo "skipped: the SigmaHQ corpus is not at $CORPUS (set VIGIL_SIGMA_CORPUS)"
fi

# ---- 4. detect, live ----
if [ "$(id -u)" != 0 ]; then
    echo "skipped: detect and run need root for the sensor"; exit 0
fi
"$AGENT" detect --sensor=bpf --rules "$T/rules" --duration 60 >"$T/detect.out" 2>"$T/detect.log" &
DPID=$!
BG_PIDS="$BG_PIDS $DPID"
if ! wait_for "$T/detect.log" "running" 30; then
    kill -0 "$DPID" 2>/dev/null || { wait "$DPID" && rc=0 || rc=$?; }
    [ "${rc:-0}" = 3 ] && { echo "skipped: the eBPF sensor cannot run here"; exit 0; }
    fail "detect did not start"
fi
grep -q "rules: loaded 2 (process_creation 2" "$T/detect.log" || fail "detect: no rule summary in the log"
sh -c 'true vigil-detect-cli-marker'
sh -c 'true vigil-detect-cli-marker'
wait_for "$T/detect.out" '"change":"update"' 10 || fail "detect: no fold update"
jq -e -s '[.[] | select(.rule_id == "11111111-1111-4111-8111-111111111111")] |
    .[0].change == "new" and .[0].count == 1 and .[1].change == "update" and .[1].count == 2 and
    .[0].id == .[1].id and .[0].severity == "high" and .[0].techniques == ["T1059.004"] and
    .[0].tactics == ["execution"] and (.[0].process.command_line | test("vigil-detect-cli-marker")) and
    (.[0].ancestors | length) > 0 and .[0].event.Category == "process_creation"' "$T/detect.out" >/dev/null ||
    fail "detect: the alert and its fold update"
ok "detect: Sigma alert and fold"
if command -v python3 >/dev/null && command -v curl >/dev/null; then
    mkdir "$T/www"
    cp /bin/true "$T/www/payload"
    start_httpd "$T/www"
    dl=/tmp/vigil-detect-cli-dl-$$
    curl -s -o "$dl" "http://127.0.0.1:$HPORT/payload" && chmod +x "$dl" && "$dl"
    rm -f "$dl"
    wait_for "$T/detect.out" "File downloaded and then executed" 10 || fail "detect: download then exec not seen"
    jq -e -s "[.[] | select(.source == \"builtin\")][0] | .evidence.TargetFilename == \"$dl\" and
        .evidence.DownloadedBy == \"download tool curl\" and .process.image == \"$dl\"" "$T/detect.out" >/dev/null ||
        fail "detect: the built-in alert"
    ok "detect: file downloaded and then executed"
else
    echo "skipped: no python3 or curl for the download-then-execute check"
fi
kill "$DPID"; wait "$DPID" || true
grep -q "events seen: .*alerts: [0-9]* new" "$T/detect.log" || fail "detect: no final count"

# ---- 5. run with vigild ----
[ -r /var/lib/dpkg/status ] || { echo "skipped: run (no dpkg database for the inventory)"; exit 0; }
PORT=$(free_port)
onboard_agent
"$AGENT" run --state-dir "$T/agent" --rules "$T/rules" 2>"$T/agent.log" &
APID=$!
BG_PIDS="$BG_PIDS $APID"
wait_for "$T/agent.log" "sensor '.*' running" 30 || fail "run: the sensor did not start"
grep -q "CAP_NET_ADMIN" "$T/agent.log" || fail "run: the capabilities kept are not logged"
sh -c 'true vigil-detect-cli-marker'
wait_for "$T/agent.log" 'alert: new high "test rule good"' 10 || fail "run: the alert is not in the log"
wait_for "$T/agent.log" "inventory sent" 30 || fail "run: the uplink stopped working"
spool=$(ls "$T/agent/spool/"alerts-*.jsonl 2>/dev/null | head -n 1)
[ -n "$spool" ] || fail "run: no spool segment"
[ "$(stat -c %a "$T/agent/spool")" = 700 ] || fail "run: the spool directory is not private"
jq -e -s '[.[] | select(.rule_id == "11111111-1111-4111-8111-111111111111")][0] |
    .change == "new" and .title == "test rule good" and .count == 1' "$spool" >/dev/null ||
    fail "run: the alert is not in the spool"
kill "$APID"; wait "$APID" || fail "run did not exit cleanly on SIGTERM"
grep -q "detection stopped: events seen" "$T/agent.log" || fail "run: detection did not stop cleanly"
ok "run: alert in the log and the spool"
echo "detect-cli: all checks passed"
