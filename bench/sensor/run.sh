#!/bin/sh
# bench/sensor: what the agent's sensor costs the machine it watches.
#
#   bench/sensor/run.sh [BUILD_DIR] [ROUNDS]
#
# Loads, each timed with no sensor; with `vigil-agent events --sensor=bpf` and
# `--sensor=cnproc` following every process but printing nothing
# (`--output none`: the sensor and process table, what the agent itself runs);
# with `--sensor=bpf` printing every event as JSON (bpf-json: the debugging
# command's own cost on top); and with Debian's auditd carrying an execve rule,
# the modes interleaved round by round so drift hits them alike:
#   - exec storm: 20,000 fork+exec of /bin/true over 2 workers;
#   - build: a parallel build (ninja -j2) of this project from a clean copy.
# Prints per-mode medians and the ratio to the no-sensor median, the exec
# events the agent reported against the execs performed (completeness), the
# kernel drop counter, and the agent's CPU per event. Needs root. Leaves the
# audit rules and auditd as they were.
set -eu
BUILD=${1:-build}
ROUNDS=${2:-5}
N=${VIGIL_STORM_N:-20000}
top=$(cd "$(dirname "$0")/../.." && pwd)
AGENT=$BUILD/vigil-agent
STORM=$BUILD/bench/bench-storm
[ "$(id -u)" -eq 0 ] || { echo "bench/sensor: needs root" >&2; exit 2; }
for p in "$AGENT" "$STORM"; do [ -x "$p" ] || { echo "bench/sensor: '$p' missing: build first" >&2; exit 2; }; done
command -v auditctl >/dev/null || { echo "bench/sensor: install auditd (apt-get install auditd) for the comparison" >&2; exit 2; }

T=$(mktemp -d /tmp/vigil-sensorbench-XXXXXX)
AGENT_PID=""
AUDITD_STARTED=""
AUDIT_WAS=$(auditctl -s | awk '/^enabled/ {print $2}')
cleanup() {
    [ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
    auditctl -D -k vigil-bench >/dev/null 2>&1 || true
    if [ -n "$AUDITD_STARTED" ]; then kill "$(cat /var/run/auditd.pid 2>/dev/null)" 2>/dev/null || true; fi
    auditctl -e "${AUDIT_WAS:-0}" >/dev/null 2>&1 || true
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# a clean copy of the sources for the build load
git -C "$top" archive --format=tar HEAD | (mkdir -p "$T/src" && tar -x -C "$T/src")

agent_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

sensor_start() { # $1: none|bpf|cnproc|auditd; $2: label for the output file
    case $1 in
    bpf|cnproc|bpf-json)
        case $1 in
        bpf-json) "$AGENT" events --sensor=bpf >"$T/events-$2.jsonl" 2>"$T/agent-$2.log" & ;;
        *) "$AGENT" events --sensor="$1" --output none >"$T/events-$2.jsonl" 2>"$T/agent-$2.log" & ;;
        esac
        AGENT_PID=$!
        i=0
        until grep -qi "sensor" "$T/agent-$2.log" 2>/dev/null; do
            i=$((i + 1)); [ $i -lt 100 ] || { cat "$T/agent-$2.log" >&2; exit 1; }; sleep 0.1
        done
        sleep 0.5 ;;
    auditd)
        if ! pgrep -x auditd >/dev/null; then auditd; AUDITD_STARTED=1; sleep 0.5; fi
        auditctl -e 1 >/dev/null
        auditctl -a always,exit -F arch=b64 -S execve -k vigil-bench >/dev/null ;;
    esac
}
sensor_stop() { # $1: mode; $2: label
    case $1 in
    bpf|cnproc|bpf-json)
        sleep 1   # let the agent print what is still in flight
        CPU=$(agent_cpu_ticks "$AGENT_PID")
        kill -INT "$AGENT_PID"; wait "$AGENT_PID" || true; AGENT_PID=""
        echo "$CPU" >"$T/cpu-$2" ;;
    auditd)
        auditctl -D -k vigil-bench >/dev/null
        auditctl -e "${AUDIT_WAS:-0}" >/dev/null ;;
    esac
}

storm() { "$STORM" "$N" 2; }
build() {
    rm -rf "$T/b"
    meson setup "$T/b" "$T/src" -Dtests=disabled >/dev/null
    s=$(date +%s.%N); ninja -C "$T/b" -j2 >/dev/null; e=$(date +%s.%N)
    echo "$s $e" | awk '{printf "%.3f\n", $2 - $1}'
}

MODES="none bpf cnproc auditd bpf-json"
for r in $(seq 1 "$ROUNDS"); do
    for m in $MODES; do
        sensor_start "$m" "storm-$m-$r"
        t=$(storm)
        sensor_stop "$m" "storm-$m-$r"
        echo "${t% *}" >>"$T/storm-$m"
        echo "${t#* }" >>"$T/stormcpu-$m"
        if [ "$m" != none ] && [ "$m" != auditd ]; then
            # exec events the agent counted (all execs on the machine during the storm)
            seen=$(grep -o '(exec [0-9]*' "$T/agent-storm-$m-$r.log" | grep -o '[0-9]*$' | tail -1)
            if [ "$m" = bpf-json ]; then   # and those whose JSON names the program
                seen="$seen $(grep -c '"EventType":"process_exec".*"Image":"[^"]*/true"' "$T/events-storm-$m-$r.jsonl" || true)"
            else
                seen="$seen -"
            fi
            events=$(grep -o 'events seen: [0-9]*' "$T/agent-storm-$m-$r.log" | grep -o '[0-9]*$' | tail -1)
            dropped=$(grep -o 'dropped by the sensor: [0-9]*' "$T/agent-storm-$m-$r.log" | grep -o '[0-9]*$' | tail -1)
            echo "$seen $events ${dropped:-?} $(cat "$T/cpu-storm-$m-$r")" >>"$T/complete-$m"
        fi
        sensor_start "$m" "build-$m-$r"
        t=$(build)
        sensor_stop "$m" "build-$m-$r"
        echo "$t" >>"$T/build-$m"
    done
    echo "round $r of $ROUNDS done" >&2
done

median() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
hz=$(getconf CLK_TCK)
echo "bench/sensor: $ROUNDS rounds, exec storm of $N fork+exec of /bin/true (2 workers), build = ninja -j2 of this project"
echo "machine: $(nproc) CPUs, kernel $(uname -r)"
for load in storm stormcpu build; do
    base=$(median "$T/$load-none")
    case $load in
    storm) title="storm, wall" ;; stormcpu) title="storm, CPU of the storm's processes (kernel time, eBPF included)" ;;
    build) title="build, wall" ;; esac
    printf '\n%s\n%-8s %-8s %10s %8s   %s\n' "$title" "" mode "median s" ratio "all rounds (s)"
    for m in $MODES; do
        med=$(median "$T/$load-$m")
        printf '%-8s %-8s %10.3f %8.3f   %s\n' "" "$m" "$med" "$(echo "$med $base" | awk '{print $1 / $2}')" \
            "$(tr '\n' ' ' <"$T/$load-$m")"
    done
done
echo
echo "completeness during the storm: exec events counted by the agent (for bpf-json also those whose"
echo "Image is .../true) against $N performed; all events; sensor drops; agent CPU per event"
for m in bpf cnproc bpf-json; do
    while read -r seen named events dropped ticks; do
        printf '  %-8s %6s (%s) / %d   %7s events   dropped %s   %s us/event\n' "$m" "$seen" "$named" "$N" "$events" "$dropped" \
            "$(echo "$ticks $hz $events" | awk '{ if ($3 > 0) printf "%.1f", $1 / $2 * 1e6 / $3; else print "-" }')"
    done <"$T/complete-$m"
done
