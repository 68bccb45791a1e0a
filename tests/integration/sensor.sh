#!/bin/sh
# Integration: the agent's sensor against real behaviour. While
# `vigil-agent events --sensor=SENSOR` runs, this script does what an
# attacker does on a host, then checks the JSON lines the agent printed:
#   1. a binary copied to /tmp is executed          -> process_exec: Image, CommandLine, ParentImage
#   2. a program executed from a memfd              -> process_exec ImageIsMemfd (+ memfd_create: bpf)
#   3. a setuid-root copy run by uid 65534          -> process_exec Uid 65534 Euid 0, credential_change
#                                                      (setuid exec: bpf; the setuid(0) call: both)
#   4. ptrace attach to a sleeping process          -> ptrace TargetProcessId, PTRACE_ATTACH
#   5. process_vm_writev into a child               -> process_vm_write (bpf)
#   6. a shell whose stdio is a TCP socket to       -> process_exec StdinIsSocket, and
#      127.0.0.1 (a reverse shell)                     network_connect 127.0.0.1:PORT (bpf)
#   7. a file created in a watched cron directory   -> file_create TargetFilename (bpf)
#   8. a pid reused while its first owner's entry   -> ParentImage is the real parent's
#      is still in the process table
# What the proc connector cannot see (5, 6's connect, 7, memfd_create) must
# be absent or declared in the agent's "cannot see" line.
# Usage: sensor.sh bpf|cnproc   (env: VIGIL_AGENT, BEHAVE). Needs root.
set -eu

AGENT=${VIGIL_AGENT:-build/vigil-agent}
. "$(dirname "$0")/lib.sh"
per_sensor "${1:-}"

SUID_FILE=""
make_temp sensor
chmod 755 "$T"          # uid 65534 runs the setuid copy from here
ALL=$T/events.jsonl     # what the agent printed: every process of the host
EV=$T/ours.jsonl        # the lines about this test's processes, which the checks read
cleanup() {
    end_processes
    [ -n "$SUID_FILE" ] && rm -f "$SUID_FILE"
    remove_temp
}

fail() {
    echo "FAIL ($SENSOR): $*" >&2
    echo "--- agent log" >&2
    cat "$T/agent.log" >&2 || true
    echo "--- events about this test's files ($T), main fields" >&2
    grep -F "$T" "$ALL" | jq -c '{EventType, ProcessId, ProcessStartTicks, ParentProcessId, Image,
        CommandLine, ParentImage, ChildProcessId, ChildProcessStartTicks}' | tail -n 80 >&2 || true
    exit 1
}

# expect WHAT FILTER [jq options]: some event satisfies the jq condition FILTER.
expect() {
    what=$1 filter=$2
    shift 2
    n=$(jq -c "$@" "select($filter)" "$EV" | wc -l) || fail "jq failed on: $what"
    [ "$n" -gt 0 ] || fail "no event: $what"
    echo "ok: $what"
}

# count FILTER [jq options]: how many events satisfy FILTER.
count() {
    filter=$1
    shift
    jq -c "$@" "select($filter)" "$EV" | wc -l
}

# first FIELD FILTER [jq options]: FIELD of the first event that satisfies FILTER.
first() {
    field=$1 filter=$2
    shift 2
    jq -r "$@" "select($filter) | .$field" "$EV" | head -n 1
}

# absent_or_declared WHAT FILTER WORDS: for the proc connector, an event it
# cannot see is either absent or its kind is named in the "cannot see" line.
absent_or_declared() {
    what=$1 filter=$2 words=$3
    shift 3
    if [ "$(count "$filter" "$@")" -eq 0 ]; then
        grep -i "cannot see:" "$T/agent.log" | grep -qiE "$words" ||
            fail "$what: absent, and the sensor does not declare that it cannot see it ($words)"
        echo "ok: $what: absent and declared"
    else
        echo "ok: $what: seen"
    fi
}

mkdir -p "$T/root/etc/cron.d"
for name in payload old-parent new-parent child-a child-b marker; do
    cp "$HELPER" "$T/$name"
done

# --- start the agent and wait until it runs
start_agent "$ALL" 30 events --sensor="$SENSOR" --watch "$T/root/etc/cron.d/"
grep "running" "$T/agent.log"
# attached, the agent keeps only CAP_DAC_READ_SEARCH (2) and CAP_SYS_PTRACE (19)
capeff=$(awk '/^CapEff:/ {print $2}' "/proc/$AGENT_PID/status")
[ "$capeff" = 0000000000080004 ] || fail "the agent kept capabilities $capeff, not only 0000000000080004"
capbnd=$(awk '/^CapBnd:/ {print $2}' "/proc/$AGENT_PID/status")
[ "$capbnd" = 0000000000080004 ] || fail "the agent's bounding set is $capbnd"

# --- 1. a binary copied to /tmp
PARENT_IMAGE=$(readlink /proc/$$/exe)
"$T/payload" sleep-ms 300

# --- 2. exec from a memfd
"$HELPER" memfd-exec vigil-test-memfd 300 vigil-memfd-payload

# --- 3. a setuid-root copy run by an unprivileged user: in a directory that
# is not mounted nosuid
SUID_OUT=""
for d in "$T" /var/tmp /root; do
    if [ -d "$d" ] && ! findmnt -n -o OPTIONS --target "$d" | grep -q nosuid; then
        SUID_FILE=$d/vigil-suid-$$
        break
    fi
done
if [ -n "$SUID_FILE" ] && command -v setpriv >/dev/null; then
    cp "$HELPER" "$SUID_FILE"
    chown root:root "$SUID_FILE"
    chmod 4755 "$SUID_FILE"
    chmod 755 "$(dirname "$SUID_FILE")" 2>/dev/null || true
    SUID_OUT=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$SUID_FILE" suid-root) ||
        fail "the setuid copy failed: $SUID_OUT"
    [ "$(echo "$SUID_OUT" | head -n 1)" = "uid=65534 euid=0" ] ||
        fail "the setuid copy did not run with euid 0: $SUID_OUT"
else
    echo "note: no setpriv or no directory without nosuid: the setuid case is not run"
fi

# --- 4. ptrace attach to a sleeping process
sleep 30 &
TARGET=$!
BG_PIDS="$BG_PIDS $TARGET"
sleep 0.3
"$HELPER" ptrace-attach "$TARGET"
kill "$TARGET"

# --- 5. process_vm_writev into a child
VM_OUT=$("$HELPER" vm-write) || fail "vm-write failed"
VM_CHILD=${VM_OUT% *}
VM_BYTES=${VM_OUT#* }

# --- 6. a reverse shell over loopback TCP
MARK=vigil-revshell-$$
start_listener "$MARK"
"$HELPER" connect-shell "$PORT" "$MARK" &
SHELL_PID=$!
wait "$SHELL_PID" || fail "the reverse shell failed"
wait "$LISTENER" || fail "the listener failed"
grep -q "$MARK-ok" "$T/listen.out" || fail "the reverse shell did not answer"

# --- 7. a file in a watched cron directory
echo "* * * * * root true" >"$T/root/etc/cron.d/vigil-job"

# --- 8. pid reuse: old-parent (pid P) starts child-a (which outlives it)
# and exits; new-parent then gets pid P and runs child-b. child-b's parent
# is new-parent; child-a's stays old-parent (not the newer owner of P).
"$T/old-parent" fork-exec "$T/child-a" sleep-ms 1500 >"$T/old.pid"
OLD_PID=$(cut -d' ' -f1 "$T/old.pid")
CHILD_A=$(cut -d' ' -f2 "$T/old.pid")
REUSE_OUT=$("$HELPER" reuse-pid "$OLD_PID" "$T/new-parent" spawn "$T/child-b" sleep-ms 300) ||
    fail "reuse-pid failed: $REUSE_OUT"
ended() { ! kill -0 "$1" 2>/dev/null; }
within 5 ended "$CHILD_A" || fail "child-a did not end"

# --- stop the agent once it has printed everything above: on a busy host it
# may lag behind, and it drops what is still queued when it stops. A last
# process marks the end; its exit is reported even when nothing else of it is.
"$T/marker" sleep-ms 10 &
MARKER=$!
wait "$MARKER"
await_output "the end marker (pid $MARKER)" "\"EventType\":\"process_exit\".*\"ProcessId\":$MARKER,"
stop_agent
grep -q "events seen: .* dropped by the sensor: " "$T/agent.log" || fail "no final count in the log"
[ "$(jq -c --arg s "$SENSOR" 'select((.EventType | type) != "string" or (.Timestamp | type) != "string"
                                     or .Sensor != $s)' "$ALL" | wc -l)" -eq 0 ] ||
    fail "an event lacks EventType, Timestamp or Sensor"
# The host may be busy (a build beside the test): keep the lines that name
# this test's files, helper or script, so each check reads only those.
grep -F -e "$T" -e "${HELPER##*/}" -e sensor.sh -e vigil-memfd -e vigil-revshell -e vigil-suid -e vigil-test-memfd \
    "$ALL" >"$EV" || true

# --- 1
expect "exec of a binary copied to /tmp: Image, CommandLine, ParentImage" \
    '.EventType == "process_exec" and .Image == $img and .CommandLine == $img + " sleep-ms 300"
     and .ParentImage == $pimg and .ParentProcessId == ($ppid | tonumber) and .Category == "process_creation"' \
    --arg img "$T/payload" --arg pimg "$PARENT_IMAGE" --arg ppid "$$"
expect "exit of that process" '.EventType == "process_exit" and .Image == $img and .ExitCode == 0' --arg img "$T/payload"
expect "fork of the test's shell" '.EventType == "process_fork" and .ProcessId == ($ppid | tonumber)' --arg ppid "$$"

# --- 2
expect "exec from a memfd: ImageIsMemfd" \
    '.EventType == "process_exec" and .CommandLine == "vigil-memfd-payload sleep-ms 300" and .ImageIsMemfd == true'
if [ "$SENSOR" = bpf ]; then
    expect "memfd_create: MemfdName" '.EventType == "memfd_create" and (.MemfdName | contains("vigil-test-memfd"))'
else
    absent_or_declared "memfd_create" '.EventType == "memfd_create"' 'memfd'
fi

# --- 3
if [ -n "$SUID_OUT" ]; then
    SUID_PID=$(first ProcessId '.EventType == "process_exec" and .Image == $img' --arg img "$SUID_FILE")
    [ -n "$SUID_PID" ] || fail "no exec of the setuid copy $SUID_FILE"
    expect "exec of the setuid copy: Uid 65534, Euid 0" \
        '.EventType == "process_exec" and .ProcessId == ($p | tonumber) and .Uid == 65534 and .Euid == 0' --arg p "$SUID_PID"
    expect "credential_change: uid dropped to 65534 (setpriv)" \
        '.EventType == "credential_change" and .ProcessId == ($p | tonumber) and .NewUid == 65534' --arg p "$SUID_PID"
    expect "credential_change: setuid(0) by the setuid copy" \
        '.EventType == "credential_change" and .ProcessId == ($p | tonumber) and .NewUid == 0 and .NewEuid == 0' --arg p "$SUID_PID"
    if [ "$SENSOR" = bpf ]; then
        expect "credential_change: setuid exec to euid 0 from uid 65534" \
            '.EventType == "credential_change" and .ProcessId == ($p | tonumber) and .OldUid == 65534
             and .OldEuid == 65534 and .NewEuid == 0 and .CredCause == "setuid_exec"' --arg p "$SUID_PID"
    fi
fi

# --- 4
expect "ptrace attach: TargetProcessId, PtraceRequest, TargetImage" \
    '.EventType == "ptrace" and .TargetProcessId == ($t | tonumber) and .PtraceRequest == 16
     and (.TargetImage | endswith("sleep"))' --arg t "$TARGET"

# --- 5
if [ "$SENSOR" = bpf ]; then
    expect "process_vm_writev into a child: TargetProcessId, BytesWritten" \
        '.EventType == "process_vm_write" and .TargetProcessId == ($c | tonumber) and .BytesWritten == ($b | tonumber)' \
        --arg c "$VM_CHILD" --arg b "$VM_BYTES"
else
    absent_or_declared "process_vm_writev" '.EventType == "process_vm_write"' 'process_vm_writev|vm_write'
fi

# --- 6
expect "reverse shell: exec of sh with stdin/stdout/stderr a socket" \
    '.EventType == "process_exec" and .CommandLine == "sh -s " + $m and .StdinIsSocket == true
     and .StdoutIsSocket == true and .StderrIsSocket == true and .StdinIsTty == false' --arg m "$MARK"
if [ "$SENSOR" = bpf ]; then
    expect "reverse shell: network_connect to 127.0.0.1:$PORT" \
        '.EventType == "network_connect" and .ProcessId == ($p | tonumber) and .Initiated == "true"
         and .Protocol == "tcp" and .DestinationIp == "127.0.0.1" and .DestinationPort == ($port | tonumber)
         and .SourceIp == "127.0.0.1" and .DestinationIsIpv6 == "false" and .Category == "network_connection"' \
        --arg p "$SHELL_PID" --arg port "$PORT"
    # an accept, if the sensor reports it, names the listener's port as the destination
    [ "$(count '.EventType == "network_accept" and .ProcessId == ($p | tonumber) and
                (.DestinationPort != ($port | tonumber) or .Initiated != "false")' \
                --arg p "$LISTENER" --arg port "$PORT")" -eq 0 ] || fail "a network_accept with wrong fields"
else
    absent_or_declared "network_connect" '.EventType == "network_connect" and .DestinationPort == ($port | tonumber)' \
        'network|connect' --arg port "$PORT"
fi

# --- 7
if [ "$SENSOR" = bpf ]; then
    expect "file created in a watched cron directory: TargetFilename" \
        '(.EventType == "file_create" or .EventType == "file_modify") and .TargetFilename == $f
         and .Category == "file_event"' --arg f "$T/root/etc/cron.d/vigil-job"
else
    absent_or_declared "file_event" '.Category == "file_event"' 'file'
fi

# --- 8
expect "child-a's ParentImage is old-parent" \
    '.EventType == "process_exec" and .Image == $c and .ParentImage == $p and .ParentProcessId == ($pp | tonumber)' \
    --arg c "$T/child-a" --arg p "$T/old-parent" --arg pp "$OLD_PID"
expect "child-b's ParentImage is new-parent" \
    '.EventType == "process_exec" and .Image == $c and .ParentImage == $p' --arg c "$T/child-b" --arg p "$T/new-parent"
case $REUSE_OUT in
*"reused $OLD_PID"*)
    expect "new-parent reused old-parent's pid $OLD_PID" \
        '.EventType == "process_exec" and .Image == $p and .ProcessId == ($pp | tonumber)' \
        --arg p "$T/new-parent" --arg pp "$OLD_PID"
    expect "child-b's parent is pid $OLD_PID, resolved to new-parent" \
        '.EventType == "process_exec" and .Image == $c and .ParentProcessId == ($pp | tonumber)
         and .Ancestors[0].Image == $p' --arg c "$T/child-b" --arg p "$T/new-parent" --arg pp "$OLD_PID"
    expect "child-a's exit, after pid $OLD_PID was reused, still names old-parent" \
        '.EventType == "process_exit" and .ProcessId == ($c | tonumber) and .ParentImage == $p
         and .ParentProcessId == ($pp | tonumber)' --arg c "$CHILD_A" --arg p "$T/old-parent" --arg pp "$OLD_PID" ;;
*)
    echo "note: pid $OLD_PID was taken by another process; lineage checked without reuse" ;;
esac

echo "PASS ($SENSOR): $(wc -l <"$ALL") events, $(wc -l <"$EV") about this test"
