#!/bin/bash
# bench/sigma/record.sh: records a real event mix on this machine for the
# Sigma replay benchmark (bench/sigma/replay.c).
#
#   bench/sigma/record.sh [--build DIR] [--events N] [--max-duration SECONDS] [OUT]
#
# Runs `vigil-agent events --sensor=bpf --output json --count N` (default
# 1,000,000 events) while eight kinds of real activity run beside it, each in
# its own process group started as `record.sh --load KIND`:
#   builds    clean rebuilds of Vigil (a copy of the sources, meson + ninja -j2), repeated
#   make      make -j2 clean all of a generated 40-file C project with gcc, repeated
#   pkg       apt-cache policy/show/search, dpkg -l/-S, dpkg-query, apt list --installed
#   shell     bash and sh loops of coreutils, pipelines, a generated script, xargs, tar, gzip
#   services  systemctl status/list-units/is-active, journalctl -n, ps, ss
#   git       read-only git status/log/show/grep/blame in a copy of the repository
#   net       curl to a python3 http.server on 127.0.0.1 (loopback only)
#   files     temporary files created, appended, renamed, copied, edited and deleted
#             under /etc/vigil-bench-PID (a watched path), removed at the end
# The machine's other activity (other users' builds, daemons) is recorded
# too: it is part of the real mix. The recorder itself does not poll: it waits
# for the agent, and prints progress from a bash builtin timer.
#
# OUT defaults to /var/tmp/vigil-bench-sigma/events.jsonl.zst; it is written
# with zstd (.zst), gzip (.gz) or plain, by its name. Keep it out of the
# repository. At the end it prints how many events of each EventType and
# Category were recorded and which activity they came from (an event belongs
# to a kind when the kind's `record.sh --load KIND` is in its process's
# command line or ancestry), and writes the same to OUT.summary.txt
# (`record.sh --summary FILE` prints it again for any recording).
# Needs root (the eBPF sensor) and the build's vigil-agent.
set -eu

SELF=$(readlink -f "$0")
TOP=$(cd "$(dirname "$SELF")/../.." && pwd)

# ---------------------------------------------------------------------------
# The activity. Each kind is `record.sh --load KIND STATE_DIR`, looping until
# STATE_DIR/stop exists.

pause() { read -r -t "$1" -u 9 _ 2>/dev/null || true; }   # a sleep without an exec

load_builds() {
    S=$1/src
    while [ ! -e "$1/stop" ]; do
        rm -rf "$1/b"
        meson setup "$1/b" "$S" -Dtests=disabled >/dev/null 2>&1 || true
        ninja -C "$1/b" -j2 >/dev/null 2>&1 || true
    done
}

load_make() {
    cd "$1/mk"
    while [ ! -e "$1/stop" ]; do
        make -s -j2 clean all >/dev/null 2>&1 || true
        ./prog >/dev/null 2>&1 || true
    done
}

load_pkg() {
    while [ ! -e "$1/stop" ]; do
        apt-cache policy bash coreutils libc6 >/dev/null 2>&1
        apt-cache show libc6 zstd >/dev/null 2>&1
        apt-cache search --names-only '^lib.*ssl' >/dev/null 2>&1
        dpkg -l | wc -l >/dev/null
        dpkg -S /bin/ls /usr/bin/curl >/dev/null 2>&1
        dpkg-query -W -f='${Package} ${Version}\n' | sort | head -20 >/dev/null
        apt list --installed 2>/dev/null | wc -l >/dev/null
        pause 1
    done
}

load_shell() {
    d=$1/sh
    mkdir -p "$d"
    # shellcheck disable=SC2016 # the script's own variables
    printf '#!/bin/sh\nfor f in /etc/hostname /etc/os-release; do\n  [ -r "$f" ] && wc -c "$f"\ndone | sort -n | tail -1\nbasename "$0"\n' >"$d/script.sh"
    chmod +x "$d/script.sh"
    while [ ! -e "$1/stop" ]; do
        # shellcheck disable=SC2012 # ls is the activity
        ls -la /usr/bin | wc -l
        cut -d: -f1 /etc/passwd | sort | uniq | head -5
        find /usr/share/doc -maxdepth 1 -name 'lib*' | wc -l
        grep -c root /etc/group
        date +%s; id -u; uname -r; whoami; env | sort | head -3
        sh -c 'for i in 1 2 3; do echo "$i"; done' | tr '\n' ' '
        echo "$RANDOM" | md5sum | cut -c1-8
        awk 'BEGIN { print 1 + 1 }'; sed -n 1p /etc/os-release
        stat -c %s /etc/passwd; basename /a/b/c; dirname /a/b/c; readlink -f "$d"
        seq 1 4 | xargs -n1 echo | paste -sd, -
        "$d/script.sh"
        tar -cf - -C /etc os-release hostname 2>/dev/null | gzip -c | base64 | wc -c
        ps -e | wc -l; df -h / | tail -1; du -s "$d"
        cat /proc/loadavg; head -c 64 /dev/urandom | sha256sum
        pause 1
    done >/dev/null 2>&1
}

load_services() {
    while [ ! -e "$1/stop" ]; do
        systemctl status ssh cron
        systemctl list-units --type=service --no-pager
        systemctl is-active cron
        journalctl -n 20 --no-pager
        service --status-all
        ps aux | wc -l; ss -tan | wc -l; uptime; who; last -n 3
        pause 3
    done >/dev/null 2>&1
}

load_git() {
    cd "$1/git"
    while [ ! -e "$1/stop" ]; do
        git status --short | wc -l
        git log --oneline -n 100 | wc -l
        git log --stat -n 5
        git show --stat HEAD
        git branch -a
        git grep -c sigma -- '*.c' | head
        git rev-parse HEAD
        git blame -- meson.build | wc -l
        git diff --stat
        pause 1
    done >/dev/null 2>&1
}

load_net() {
    mkdir -p "$1/www"
    head -c 20000 /dev/urandom >"$1/www/blob"
    echo hello >"$1/www/index.html"
    cd "$1/www"
    /usr/bin/python3 -u -m http.server --bind 127.0.0.1 0 >"$1/http.log" 2>&1 &
    srv=$!
    port=""
    for _ in $(seq 1 100); do
        port=$(sed -n 's/.*port \([0-9][0-9]*\).*/\1/p' "$1/http.log" | head -1)
        [ -n "$port" ] && break
        pause 0.1
    done
    [ -n "$port" ] || { kill "$srv"; echo "record.sh: http.server did not start" >&2; return 1; }
    while [ ! -e "$1/stop" ]; do
        curl -s -o /dev/null "http://127.0.0.1:$port/"
        curl -s -o /dev/null "http://127.0.0.1:$port/blob" -o /dev/null "http://127.0.0.1:$port/index.html"
        curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/missing"
        pause 0.2
    done >/dev/null 2>&1
    kill "$srv" 2>/dev/null || true
    wait "$srv" 2>/dev/null || true
}

load_files() {
    d=$(cat "$1/etcdir")
    mkdir -p "$d"
    while [ ! -e "$1/stop" ]; do
        for i in 1 2 3; do
            echo data >"$d/f$i"
            echo more >>"$d/f$i"
            mv "$d/f$i" "$d/g$i"
            cp "$d/g$i" "$d/h$i"
            sed -i s/data/DATA/ "$d/h$i"
            rm -f "$d/g$i" "$d/h$i"
        done
        pause 1
    done >/dev/null 2>&1
}

if [ "${1:-}" = --load ]; then
    set +e      # a failing command (systemctl without systemd) is activity too
    kind=$2 state=$3
    fifo=$state/pause-$kind
    mkfifo "$fifo"
    exec 9<>"$fifo"
    "load_$kind" "$state"
    exit 0
fi

# How many events of each EventType and Category a recording holds, and which
# activity they came from. One pass: EventType and Category are the object's
# first keys; the kind is the first `record.sh --load KIND` on the line (own or
# ancestors' command line), else the recorder itself, else the rest of the
# machine.
summarize() {
    case $1 in
    *.zst) cat_cmd="zstd -dc" ;;
    *.gz) cat_cmd="gzip -dc" ;;
    *) cat_cmd="cat" ;;
    esac
    $cat_cmd "$1" | awk '
    {
        n++
        t = "?"; c = "-"
        if (match($0, /^\{"EventType":"[^"]*"/)) t = substr($0, 15, RLENGTH - 15)
        if (match($0, /^\{"EventType":"[^"]*","Category":"[^"]*"/)) {
            s = substr($0, 1, RLENGTH - 1); sub(/.*"Category":"/, "", s); c = s
        }
        k = "other (machine, not the recorder)"
        if (match($0, /record\.sh --load [a-z]+/)) k = "load " substr($0, RSTART + 17, RLENGTH - 17)
        else if (index($0, "bench/sigma/record.sh")) k = "recorder itself"
        types[t]++; cats[c]++; kinds[k]++
        if (c != "-") kcat[k]++
    }
    function show(title, arr, extra,    key, cmd) {
        printf "\n%s\n", title
        cmd = "sort -t@ -k2,2nr | tr -d @"
        for (key in arr)
            if (extra) printf "  %-36s@%9d  %5.1f %%   %9d\n", key, arr[key], 100 * arr[key] / n, kcat[key] | cmd
            else printf "  %-20s@%9d  %5.1f %%\n", key, arr[key], 100 * arr[key] / n | cmd
        close(cmd)
    }
    END {
        printf "events: %d\n", n
        show("by EventType:", types, 0)
        show("by Category (\"-\": none, detection reads nothing):", cats, 0)
        show("by activity (all events, share, events with a category):", kinds, 1)
    }'
}

# ---------------------------------------------------------------------------
# The controller.

usage() { echo "usage: bench/sigma/record.sh [--build DIR] [--events N] [--max-duration SECONDS] [OUT]" >&2
          echo "       bench/sigma/record.sh --summary RECORDING" >&2; exit 2; }
if [ "${1:-}" = --summary ]; then
    if [ $# -ne 2 ] || [ ! -r "$2" ]; then usage; fi
    summarize "$2"
    exit 0
fi
BUILD=$TOP/build
N=1000000
MAXDUR=7200
OUT=/var/tmp/vigil-bench-sigma/events.jsonl.zst
while [ $# -gt 0 ]; do
    case $1 in
    --build) BUILD=$2; shift 2 ;;
    --events) N=$2; shift 2 ;;
    --max-duration) MAXDUR=$2; shift 2 ;;
    -h|--help) usage ;;
    -*) usage ;;
    *) OUT=$1; shift ;;
    esac
done
AGENT=$BUILD/vigil-agent
[ "$(id -u)" -eq 0 ] || { echo "record.sh: needs root (the eBPF sensor)" >&2; exit 2; }
[ -x "$AGENT" ] || { echo "record.sh: '$AGENT' missing: build first (or --build DIR)" >&2; exit 2; }
case $(readlink -m "$OUT") in "$TOP"/*) echo "record.sh: keep the recording out of the repository" >&2; exit 2 ;; esac
case $OUT in
*.zst) COMPRESS="zstd -q -T1 -3" ;;
*.gz) COMPRESS="gzip -3" ;;
*) COMPRESS="cat" ;;
esac
mkdir -p "$(dirname "$OUT")"

T=$(mktemp -d /var/tmp/vigil-sigma-rec-XXXXXX)
ETCDIR=/etc/vigil-bench-$$
echo "$ETCDIR" >"$T/etcdir"
PIPE_PID=""
LOAD_PIDS=""
stop_loads() {
    touch "$T/stop"
    for p in $LOAD_PIDS; do kill -TERM -- "-$p" 2>/dev/null || true; done
    for p in $LOAD_PIDS; do wait "$p" 2>/dev/null || true; done
    LOAD_PIDS=""
}
cleanup() {
    [ -n "$PIPE_PID" ] && kill "$PIPE_PID" 2>/dev/null
    stop_loads
    rm -rf "$ETCDIR" "$T"
    rm -f "$OUT.part"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Set-up, before the agent starts, so that it is not recorded.
mkdir -p "$T/src" "$T/git" "$T/mk"
tar -C "$TOP" --exclude='./build*' --exclude=./.git -cf - . | tar -x -C "$T/src"
cp -a "$T/src/." "$T/git/"
cp -a "$TOP/.git" "$T/git/.git"
for i in $(seq 1 40); do
    printf '#include <stdio.h>\n#include <string.h>\nint f%d(const char *s);\nint f%d(const char *s) { char b[64]; snprintf(b, sizeof(b), "%%s-%d", s); return (int)strlen(b); }\n' \
        "$i" "$i" "$i" >"$T/mk/f$i.c"
done
{
    printf 'int main(void) { return 0; }\n'
} >"$T/mk/main.c"
# shellcheck disable=SC2016 # make's variables
printf 'SRCS := $(wildcard *.c)\nOBJS := $(SRCS:.c=.o)\nCFLAGS := -O2 -Wall\nall: prog\nprog: $(OBJS)\n\t$(CC) -o $@ $^\nclean:\n\trm -f $(OBJS) prog\n.PHONY: all clean\n' >"$T/mk/Makefile"

echo "record.sh: recording $N events to $OUT (agent $AGENT); load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
START=$(date +%s)
# The agent stops by itself after N events; the compressor ends with it.
( "$AGENT" events --sensor=bpf --output json --count "$N" --duration "$MAXDUR" 2>"$T/agent.log" | $COMPRESS >"$OUT.part" ) &
PIPE_PID=$!
i=0
until grep -q "sensor 'bpf' running" "$T/agent.log" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -ge 200 ] || ! kill -0 "$PIPE_PID" 2>/dev/null; then cat "$T/agent.log" >&2; exit 1; fi
    sleep 0.1
done

for kind in builds make pkg shell services git net files; do
    setsid bash "$SELF" --load "$kind" "$T" </dev/null >/dev/null 2>"$T/load-$kind.err" &
    LOAD_PIDS="$LOAD_PIDS $!"
done

# Progress every 30 s from builtins only (no exec); the agent's own count is
# at the end of its log.
mkfifo "$T/tick"
exec 9<>"$T/tick"
while kill -0 "$PIPE_PID" 2>/dev/null; do
    read -r -t 30 -u 9 _ 2>/dev/null || true
    kill -0 "$PIPE_PID" 2>/dev/null || break
    read -r la _ </proc/loadavg
    echo "record.sh: $(( $(printf '%(%s)T' -1) - START )) s, load $la" >&2
done
wait "$PIPE_PID" || true
PIPE_PID=""
END=$(date +%s)
stop_loads
rm -rf "$ETCDIR"
mv "$OUT.part" "$OUT"

{
    echo "recording: $OUT ($(du -h "$OUT" | cut -f1)), $((END - START)) s, $(nproc) CPUs, kernel $(uname -r)"
    echo "agent: $(grep -o 'events seen:.*' "$T/agent.log" | tail -1)"
    summarize "$OUT"
} | tee "$OUT.summary.txt"
