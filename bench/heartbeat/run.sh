#!/bin/sh
# The heartbeat benchmark, self-contained: a fresh vigild data directory, vigild
# on a free loopback port, an onboarding package made with the CLI, then
# bench-heartbeat against it (enrollment, heartbeats with every device,
# heartbeats on kept-alive connections, and two baselines under the same load:
# GET /api/v1/health and GET of an unknown path). Prints figures; builds
# nothing. vigild is stopped and the temporary directory removed on any exit.
#
# Usage: bench/heartbeat/run.sh [BUILD_DIR] [bench-heartbeat options...]
#   BUILD_DIR defaults to ./build; e.g. bench/heartbeat/run.sh build --devices 2000
# VIGIL_BENCH_KEEP=1 keeps the temporary directory (vigild.log) for a look.
# shellcheck disable=SC3045 # ulimit -n and -H: dash and bash both have them
set -eu

BUILD=${1:-build}
[ $# -gt 0 ] && shift
VIGILD=$BUILD/vigild
VIGIL=$BUILD/vigil
BENCH=$BUILD/bench/bench-heartbeat
for p in "$VIGILD" "$VIGIL" "$BENCH"; do
    [ -x "$p" ] || { echo "run.sh: '$p' is missing; build first (meson setup $BUILD && ninja -C $BUILD)" >&2; exit 2; }
done

T=$(mktemp -d /tmp/vigil-bench-XXXXXX)
SERVER_PID=""
BENCH_PID=""
cleanup() {
    if [ -n "$BENCH_PID" ]; then
        kill "$BENCH_PID" 2>/dev/null || true
        wait "$BENCH_PID" 2>/dev/null || true
    fi
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ -n "${VIGIL_BENCH_KEEP:-}" ]; then
        echo "run.sh: kept $T" >&2
    else
        rm -rf "$T"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
    echo "run.sh: $*" >&2
    [ -f "$T/vigild.log" ] && tail -n 20 "$T/vigild.log" >&2
    exit 1
}

# Every open connection is a descriptor, on both sides; raise the soft limit
# as far as the hard limit allows (vigild inherits it).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -H -n)" 2>/dev/null || true

"$VIGILD" init --data-dir "$T/data" >"$T/token" 2>"$T/init.log" || fail "vigild init failed: $(cat "$T/init.log")"
"$VIGILD" run --data-dir "$T/data" --listen 127.0.0.1:0 --port-file "$T/port" --access-listen 127.0.0.1:0 >"$T/vigild.log" 2>&1 &
SERVER_PID=$!
i=0
until [ -s "$T/port" ]; do
    kill -0 "$SERVER_PID" 2>/dev/null || fail "vigild exited at start"
    i=$((i + 1))
    [ $i -lt 200 ] || fail "vigild did not write its port within 10 s"
    sleep 0.05
done
PORT=$(cat "$T/port")

VIGIL_SERVER="https://127.0.0.1:$PORT" VIGIL_TOKEN=$(cat "$T/token") VIGIL_CA="$T/data/server-ca.pem" \
    "$VIGIL" onboarding create --uses 1000000 --expires 1h -o "$T/pkg.json" >"$T/cli.log" 2>&1 ||
    fail "cannot create the onboarding package: $(cat "$T/cli.log")"

echo "vigild $("$VIGILD" --version | cut -d' ' -f2) pid $SERVER_PID on 127.0.0.1:$PORT, data $T/data" \
     "(defaults: threads 2, connection_timeout 300 s)"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), open files limit $(ulimit -n)"
# In the background so that a signal reaches the trap at once, not when the
# benchmark ends.
"$BENCH" --package "$T/pkg.json" --pid "$SERVER_PID" \
    --baseline /api/v1/health --baseline /bench/unknown-path=404 "$@" &
BENCH_PID=$!
if ! wait "$BENCH_PID"; then
    BENCH_PID=""
    fail "bench-heartbeat failed"
fi
BENCH_PID=""
kill -0 "$SERVER_PID" 2>/dev/null || fail "vigild died during the run"
echo "vigild log: $(grep -c . "$T/vigild.log") lines, $(grep -ci -e error -e warning "$T/vigild.log" || true) errors or warnings"
