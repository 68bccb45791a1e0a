#!/bin/sh
# bench/sigma: how fast the Sigma engine matches a real event mix, on one core,
# indexed matcher beside the evaluate-every-rule baseline.
#
#   bench/sigma/run.sh [BUILD_DIR] [--recording FILE] [--events N] [bench-sigma-replay options...]
#
# Builds bench-sigma-replay and vigil-agent in BUILD_DIR (default ./build) if
# they are missing; records FILE (default
# /var/tmp/vigil-bench-sigma/events.jsonl.zst) with bench/sigma/record.sh if
# it does not exist (N events, default 1,000,000; root, some 20-30 minutes
# on a 2-core machine); then runs the replay with Vigil's rules/ and, when
# present, the SigmaHQ Linux set beside the repository
# (../shared/corpus/sigma/{rules/linux,rules-emerging-threats,rules-threat-hunting}).
# Giving --rules PATH replaces those defaults. Other options go to
# bench-sigma-replay (--rounds N, --cpu C, --top K, --limit N, --verbose).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=build
case ${1:-} in -*|"") ;; *) BUILD=$1; shift ;; esac
REC=/var/tmp/vigil-bench-sigma/events.jsonl.zst
N=1000000
RULES=""
REST=""
while [ $# -gt 0 ]; do
    case $1 in
    --recording) REC=$2; shift 2 ;;
    --events) N=$2; shift 2 ;;
    --rules) RULES="$RULES --rules $2"; shift 2 ;;
    *) REST="$REST $1"; shift ;;
    esac
done

REPLAY=$BUILD/bench/bench-sigma-replay
if [ ! -x "$REPLAY" ] || [ ! -x "$BUILD/vigil-agent" ]; then
    [ -d "$BUILD" ] || meson setup "$BUILD" "$top"
    ninja -C "$BUILD" bench/bench-sigma-replay vigil-agent
fi
if [ ! -e "$REC" ]; then
    "$top/bench/sigma/record.sh" --build "$BUILD" --events "$N" "$REC"
fi
if [ -z "$RULES" ]; then
    [ -d "$top/rules" ] && RULES="--rules $top/rules"
    for d in rules/linux rules-emerging-threats rules-threat-hunting; do
        p=$(cd "$top/.." && pwd)/shared/corpus/sigma/$d
        [ -d "$p" ] && RULES="$RULES --rules $p"
    done
fi
[ -n "$RULES" ] || { echo "run.sh: no rules found; give --rules PATH" >&2; exit 2; }

echo "bench/sigma: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), kernel $(uname -r)"
echo "build: $BUILD ($(sed -n 's/.*"buildtype", "value": "\([a-z]*\)".*/\1/p' "$BUILD/meson-info/intro-buildoptions.json" 2>/dev/null || true))"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared; see 'involuntary context switches' below)"
echo "--- the recording ---"
if [ -f "$REC.summary.txt" ]; then cat "$REC.summary.txt"; else "$top/bench/sigma/record.sh" --summary "$REC"; fi
echo "---"
status=0
# shellcheck disable=SC2086 # RULES and REST are word lists built above
"$REPLAY" --events "$REC" $RULES $REST || status=$?
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
