# Shell functions shared by the integration test scripts (sensor.sh,
# detect.sh, detect-benign.sh, detect-cli.sh, onboard.sh, the alerts-*.sh,
# isolate.sh, netprotect.sh) and the alert benchmarks, which source it:
#     . "$(dirname "$0")/lib.sh"
# A script defines fail MESSAGE (print its diagnostics, exit 1), which the
# functions here call, and sets, as far as it uses them: AGENT (vigil-agent),
# SENSOR (bpf or cnproc), HELPER (the behave program), RULES, VIGILD, PORT.
# The functions keep the processes they start in AGENT_PID, SERVER_PID and
# BG_PIDS, which cleanup ends.

AGENT_PID=""
AGENT_OUT=""
SERVER_PID=""
BG_PIDS=""

skip() { echo "SKIP: $*"; exit 77; }

# per_sensor ARG: for a test run once per sensor, SENSOR from ARG (bpf or
# cnproc; usage message and exit 2 otherwise) and HELPER (env BEHAVE); then
# need_sensor and need_helper.
per_sensor() {
    SENSOR=$1
    case $SENSOR in
    bpf|cnproc) ;;
    *) echo "usage: ${0##*/} bpf|cnproc" >&2; exit 2 ;;
    esac
    HELPER=${BEHAVE:-build/tests/integration/behave}
    need_sensor
    need_helper
}

# need_sensor: skips (77) unless this runs as root, the kernel has BTF (for
# the bpf sensor) and jq is installed.
need_sensor() {
    [ "$(id -u)" = 0 ] || skip "the $SENSOR sensor needs root"
    [ "$SENSOR" != bpf ] || [ -r /sys/kernel/btf/vmlinux ] || skip "no /sys/kernel/btf/vmlinux: this kernel has no BTF"
    command -v jq >/dev/null || skip "jq is not installed"
}

# need_helper: fails unless HELPER is the built behave program.
need_helper() {
    [ -x "$HELPER" ] || { echo "FAIL: no behave helper at '$HELPER'" >&2; exit 1; }
}

# need_detect: fails unless RULES is a folder; skips (77) when this
# vigil-agent has no detect command.
need_detect() {
    [ -d "$RULES" ] || { echo "FAIL: no rules folder at '$RULES'" >&2; exit 1; }
    case $("$AGENT" detect --help 2>&1 || true) in
    *"unknown command"*) skip "this vigil-agent has no 'detect' command yet" ;;
    esac
}

# fail_with_logs PREFIX LINES MESSAGE: prints "PREFIX MESSAGE" and the last
# LINES lines of each $T/*.log on stderr; exits 1. A script's fail can be
# just this.
fail_with_logs() {
    echo "$1 $3" >&2
    for _f in "$T"/*.log; do echo "--- $_f"; tail -n "$2" "$_f"; done >&2
    exit 1
}

# fail_with_ruleset MESSAGE: prints MESSAGE and the ruleset in the network
# namespace NS (netns_create) on stderr; exits 1.
fail_with_ruleset() {
    echo "FAIL: $*" >&2
    echo "--- ruleset in the namespace:" >&2
    ip netns exec "$NS" nft list ruleset >&2 || true
    exit 1
}

# make_temp NAME: T, a new folder /tmp/vigil-NAME-XXXXXX, and the traps that
# run cleanup on exit and end the test on INT and TERM.
make_temp() {
    T=$(mktemp -d "/tmp/vigil-$1-XXXXXX")
    trap cleanup EXIT
    trap 'exit 1' INT TERM
}

# end_processes: ends the processes the test started and waits for them.
end_processes() {
    for p in $BG_PIDS $AGENT_PID $SERVER_PID; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}

# remove_temp: removes T (kept, and named, with VIGIL_TEST_KEEP set).
remove_temp() {
    if [ -n "${VIGIL_TEST_KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}

# cleanup: the exit trap; a script with more to undo defines its own, which
# calls end_processes first and remove_temp last.
cleanup() {
    end_processes
    remove_temp
}

# within SECONDS CMD ARG...: runs CMD every 0.1 s until it succeeds; returns
# 1 when it has not within SECONDS.
within() {
    _n=$(($1 * 10))
    shift
    _j=0
    until "$@"; do
        _j=$((_j + 1))
        [ $_j -lt $_n ] || return 1
        sleep 0.1
    done
}

# wait_for FILE PATTERN SECONDS: until FILE has a line matching PATTERN;
# returns 1 when it has none after SECONDS.
wait_for() {
    within "$3" grep -q -- "$2" "$1" 2>/dev/null
}

# tree CMD ARG...: runs CMD as the child of a shell of its own. The agent folds
# repeats of a rule on one process tree (the subject's parent) into the alert
# it opened first, which keeps its first event; so a step run in a tree of its
# own gets an alert of its own.
tree() { sh -c '"$@"; rc=$?; exit $rc' tree "$@"; }

# start_agent OUT SECONDS ARG...: runs "$AGENT" ARG... in the background
# (AGENT_PID), its output to OUT (AGENT_OUT) and its log to $T/agent.log, and
# waits until the log says "running". Skips (77) when the agent exits 3 (its
# sensor cannot run here); fails when it exits otherwise or has not started
# within SECONDS.
start_agent() {
    AGENT_OUT=$1 _secs=$2
    shift 2
    "$AGENT" "$@" >"$AGENT_OUT" 2>"$T/agent.log" &
    AGENT_PID=$!
    _i=0
    until grep -q "running" "$T/agent.log" 2>/dev/null; do
        if ! kill -0 "$AGENT_PID" 2>/dev/null; then
            _rc=0
            wait "$AGENT_PID" || _rc=$?
            AGENT_PID=""
            [ "$_rc" -eq 3 ] && skip "the $SENSOR sensor cannot run here: $(cat "$T/agent.log")"
            fail "the agent exited ($_rc) before its sensor ran"
        fi
        _i=$((_i + 1))
        [ $_i -lt $((_secs * 10)) ] || fail "the agent did not start its sensor in $_secs s"
        sleep 0.1
    done
}

# await_output WHAT GREP-ARG...: waits until grep GREP-ARG... finds a line in
# the agent's output; fails when the agent exits first or when 120 s pass.
await_output() {
    _what=$1
    shift
    _i=0
    until grep -q "$@" "$AGENT_OUT" 2>/dev/null; do
        kill -0 "$AGENT_PID" 2>/dev/null || fail "the agent exited before it reported $_what"
        _i=$((_i + 1))
        [ $_i -lt 600 ] || fail "the agent did not report $_what within 120 s"
        sleep 0.2
    done
}

# stop_agent: sends the agent SIGTERM; fails unless it exits 0 within 30 s
# and what it printed is JSON lines.
stop_agent() {
    kill -TERM "$AGENT_PID"
    _i=0
    while kill -0 "$AGENT_PID" 2>/dev/null && [ "$(ps -o stat= -p "$AGENT_PID")" != Z ]; do
        _i=$((_i + 1))
        [ $_i -lt 300 ] || fail "the agent did not stop within 30 s of SIGTERM"
        sleep 0.1
    done
    _rc=0
    wait "$AGENT_PID" || _rc=$?
    AGENT_PID=""
    [ "$_rc" -eq 0 ] || fail "the agent exited with $_rc on SIGTERM"
    jq -e . "$AGENT_OUT" >/dev/null || fail "the output is not JSON lines"
}

# start_listener MARK: "$HELPER" listen in the background (LISTENER), on a
# loopback port (PORT) written to $T/port, answering MARK; what the shell
# that connects sends back goes to $T/listen.out.
start_listener() {
    "$HELPER" listen "$T/port" "$1" >"$T/listen.out" &
    LISTENER=$!
    BG_PIDS="$BG_PIDS $LISTENER"
    within 5 test -s "$T/port" || fail "the listener did not start"
    PORT=$(cat "$T/port")
}

# start_httpd DIR: a web server for DIR on 127.0.0.1 in the background
# (HTTPD), on port HPORT, logging to $T/http.log.
start_httpd() {
    python3 -u -m http.server --bind 127.0.0.1 --directory "$1" 0 >"$T/http.log" 2>&1 &
    HTTPD=$!
    BG_PIDS="$BG_PIDS $HTTPD"
    wait_for "$T/http.log" "port [0-9]" 10 || fail "the loopback HTTP server did not start: $(cat "$T/http.log")"
    HPORT=$(sed -n 's/.* port \([0-9][0-9]*\).*/\1/p' "$T/http.log" | head -n 1)
}

# free_port: prints a loopback TCP port that is free now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
        shuf -i 20000-60000 -n 1
}

# SERVER_ADDR: the address vigild listens on and the tests reach it at;
# 127.0.0.1 unless a test whose agent runs in a network namespace sets it
# to this side of the veth pair (netns_create's HOST) before onboard_agent.
SERVER_ADDR=${SERVER_ADDR:-127.0.0.1}

# elsewhere ARG...: prints ARG... (words without spaces) when vigild is not
# on 127.0.0.1, which its certificate and defaults already name
elsewhere() { [ "$SERVER_ADDR" = 127.0.0.1 ] || echo "$@"; }

# start_vigild: vigild with its data in $T/data on SERVER_ADDR:$PORT in the
# background (SERVER_PID), logging to $T/vigild.log; waits (10 s at most)
# for it to write its port file $T/port. Its decision endpoint listens on a
# free loopback port, written to $T/access-port.
start_vigild() {
    # shellcheck disable=SC2046
    "$VIGILD" run --data-dir "$T/data" --listen "$SERVER_ADDR:$PORT" --port-file "$T/port" \
        $(elsewhere --public-url "https://$SERVER_ADDR:$PORT") \
        --access-listen 127.0.0.1:0 --access-port-file "$T/access-port" >>"$T/vigild.log" 2>&1 &
    SERVER_PID=$!
    within 10 test -s "$T/port" || fail "vigild did not start"
}

# stop_vigild: ends vigild (SERVER_PID); fails unless it exits cleanly.
# Removes $T/port, so that start_vigild waits for the next one.
stop_vigild() {
    kill "$SERVER_PID"; wait "$SERVER_PID" || fail "vigild did not exit cleanly"; SERVER_PID=""; rm -f "$T/port"
}

# api PATH: GETs PATH from vigild's admin API on PORT with the token in
# $T/token, JSON on stdout; fails (curl's status) on an HTTP error.
api() {
    curl -sS --fail --cacert "$T/data/server-ca.pem" -H "Authorization: Bearer $(cat "$T/token")" \
        "https://$SERVER_ADDR:$PORT$1"
}

# onboard_agent: vigild initialised in $T/data (its admin token in $T/token)
# and started on SERVER_ADDR:PORT; VIGIL_SERVER, VIGIL_TOKEN and VIGIL_CA
# exported for the vigil CLI; an onboarding package for one device made with
# it and the agent onboarded into $T/agent (inside the namespace NS when
# AGENT_IN_NS is set). Fails at the first step that fails.
onboard_agent() {
    # shellcheck disable=SC2046
    "$VIGILD" init --data-dir "$T/data" $(elsewhere --hostname "$SERVER_ADDR") >"$T/token" 2>"$T/init.log" || fail "vigild init"
    start_vigild
    export VIGIL_SERVER="https://$SERVER_ADDR:$PORT" VIGIL_TOKEN="$(cat "$T/token")" VIGIL_CA="$T/data/server-ca.pem"
    "$VIGIL" onboarding create --expires 1h --uses 1 -o "$T/pkg.json" >"$T/cli.log" || fail "onboarding create"
    agent_cmd onboard "$T/pkg.json" --state-dir "$T/agent" 2>"$T/onboard.log" || fail "onboard"
}

# agent_cmd ARG...: "$AGENT" ARG..., inside the namespace NS (in_ns) when
# AGENT_IN_NS is set, here otherwise
agent_cmd() {
    if [ -n "${AGENT_IN_NS:-}" ]; then in_ns "$AGENT" "$@"; else "$AGENT" "$@"; fi
}

# ---- the alerts tests (alerts-uplink.sh, alerts-split.sh, alerts-diskfull.sh)

# need_alerts: the programs from the environment or the build folder
# (VIGILD, VIGIL, AGENT, HELPER, RULES) and the bpf sensor (SENSOR); skips
# (77) without root, BTF, jq or curl; fails without the behave helper or
# the rules folder.
need_alerts() {
    VIGILD=${VIGILD:-build/vigild}
    VIGIL=${VIGIL:-build/vigil}
    AGENT=${VIGIL_AGENT:-build/vigil-agent}
    HELPER=${BEHAVE:-build/tests/integration/behave}
    RULES=${VIGIL_RULES:-rules}
    SENSOR=bpf
    need_sensor
    need_helper
    command -v curl >/dev/null || skip "curl is not installed"
    [ -d "$RULES" ] || { echo "FAIL: no rules folder at '$RULES'" >&2; exit 1; }
}

# run_agent LOG: the agent onboarded in $T/agent with detection in the
# background (AGENT_PID), its log to LOG; waits until its sensor runs.
# Skips (77) when detection is off (the sensor cannot run here); fails when
# the agent exits first or its sensor has not started within 30 s.
run_agent() {
    # not through agent_cmd: AGENT_PID must be the agent's own pid (or ip's,
    # which execs it), not that of a subshell running a function
    if [ -n "${AGENT_IN_NS:-}" ]; then
        ip netns exec "$NS" "$AGENT" run --state-dir "$T/agent" --sensor "$SENSOR" --rules "$RULES" >/dev/null 2>"$1" &
    else
        "$AGENT" run --state-dir "$T/agent" --sensor "$SENSOR" --rules "$RULES" >/dev/null 2>"$1" &
    fi
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

# alert_ids LOG...: the ids of every new alert the agent logs report, sorted
alert_ids() {
    cat "$@" | grep "alert: new " | sed -n 's/.* id=\([0-9a-f-]\{36\}\).*/\1/p' | sort -u
}

# ids_of LOG MARK: the ids of the new alerts LOG reports on images naming MARK
ids_of() {
    grep "alert: new " "$1" | grep -F -- "$2" | sed -n 's/.* id=\([0-9a-f-]\{36\}\).*/\1/p' | sort -u
}

# raised LOG MARK N: LOG reports at least N new alerts on images naming
# MARK (a sanitizer build's helper adds a ptrace alert of LeakSanitizer's)
raised() { [ "$(ids_of "$1" "$2" | wc -l)" -ge "$3" ]; }

# on_server ID: the admin API has alert ID
on_server() { api "/api/v1/alerts/$1" >/dev/null 2>&1; }

# all_on_server FILE: the admin API has every alert whose id FILE lists
all_on_server() { for _id in $(cat "$1"); do on_server "$_id" || return 1; done; }

# resent LOG...: an upload the server answered with an alert "unchanged"
# (sent twice)
resent() { cat "$@" | grep "alerts sent: " | grep -v "unchanged 0," >/dev/null; }

# server_holds_raised: fails unless, within 30 s, the server's alerts are
# exactly those whose ids $T/raised-ids lists (n_raised: how many); skips
# (77) when they are 500 or more (one page cannot list them).
server_holds_raised() {
    n_raised=$(wc -l <"$T/raised-ids")
    [ "$n_raised" -lt 500 ] || skip "over 500 alerts raised on this machine meanwhile: cannot list them in one page"
    within 30 same_ids || fail "the server's alerts differ from those raised: $(diff "$T/raised-ids" "$T/server-ids")"
}

# same_ids: the ids of the server's alerts (a page of 500), written to
# $T/server-ids, are those of $T/raised-ids
same_ids() {
    api "/api/v1/alerts?limit=500" | jq -r '.value[].id' | sort >"$T/server-ids" && cmp -s "$T/raised-ids" "$T/server-ids"
}

# netns_create TAG: a network namespace NS joined to this one by a veth pair,
# this side VH with HOST (203.0.113.1/24), the namespace's side VN with PEER
# (203.0.113.2/24), loopback up inside; addresses of the documentation range,
# never the machine's own network. Skips (77) when this machine cannot make
# them. TAG is at most 3 characters. netns_cleanup removes them and ends
# what runs inside (call it from cleanup); in_ns CMD ARG... runs inside.
netns_create() {
    command -v ip >/dev/null || skip "ip (iproute2) is not installed"
    NS=vigil-$1-$$ VH=v$1$$h VN=v$1$$n HOST=203.0.113.1 PEER=203.0.113.2
    ip netns add "$NS" || skip "cannot create a network namespace"
    ip link add "$VH" type veth peer name "$VN" || skip "cannot create a veth pair"
    ip link set "$VN" netns "$NS"
    ip addr add "$HOST/24" dev "$VH"
    ip link set "$VH" up
    in_ns ip addr add "$PEER/24" dev "$VN"
    in_ns ip link set "$VN" up
    in_ns ip link set lo up
}

netns_cleanup() {
    [ -n "${NS:-}" ] || return 0
    # `ip netns exec` may fork: what runs inside is ended by its pids there
    for _p in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$_p" 2>/dev/null || true; done
    ip netns del "$NS" 2>/dev/null || true
    ip link del "$VH" 2>/dev/null || true
}

in_ns() { ip netns exec "$NS" "$@"; }
