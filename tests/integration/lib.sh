# Shell functions shared by the integration test scripts (sensor.sh,
# detect.sh, detect-benign.sh, detect-cli.sh, onboard.sh), which source it:
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

# start_vigild: vigild with its data in $T/data on 127.0.0.1:$PORT in the
# background (SERVER_PID), logging to $T/vigild.log; waits (10 s at most)
# for it to write its port file $T/port.
start_vigild() {
    "$VIGILD" run --data-dir "$T/data" --listen "127.0.0.1:$PORT" --port-file "$T/port" >>"$T/vigild.log" 2>&1 &
    SERVER_PID=$!
    within 10 test -s "$T/port" || fail "vigild did not start"
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
