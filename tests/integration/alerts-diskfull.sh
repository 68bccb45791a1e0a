#!/bin/sh
# Integration: the alert spool on a full disk. The agent's state directory
# is a 2 MiB tmpfs (in a private mount namespace, so it goes with the test);
# vigild on a loopback port; the agent run with its eBPF sensor and Vigil's
# rules. vigild is stopped, fileless execs (high alerts) are raised and
# spooled, the tmpfs is filled with a file, more are raised (the disk
# refuses them: held in memory), vigild is started: all of them reach the
# server, the disk still full (the acknowledgement cannot be saved: kept in
# memory), and so does one raised then, at once. Then the file is removed
# and one more raised. Every alert raised reaches the server once, nothing
# is sent twice, and the log says what could not be written and when it
# could again. Then the agent is killed and restarted: nothing
# acknowledged is sent again. Last, a line vigild refuses (413, with a
# small body_max) on a full disk is kept in memory and set aside in
# rejected/ once the disk has room.
# Needs root, BTF and mount namespaces; skips (77) without them.
set -eu

. "$(dirname "$0")/lib.sh"
need_alerts

# the tmpfs lives in a mount namespace of the test's own
if [ -z "${VIGIL_DISKFULL_NS:-}" ]; then
    command -v unshare >/dev/null || skip "unshare is not installed"
    unshare -m --propagation private true 2>/dev/null || skip "cannot make a mount namespace here"
    VIGIL_DISKFULL_NS=1 exec unshare -m --propagation private sh "$0" "$@"
fi

make_temp alerts-diskfull
M=vigil-df-$$

cleanup() {
    end_processes
    umount "$T/agent" 2>/dev/null || true
    remove_temp
}

fail() { fail_with_logs FAIL: 60 "$*"; }

PORT=$(free_port)

# fill_disk: appends to $T/agent/fill until the tmpfs has no byte left
fill_disk() {
    dd if=/dev/zero of="$T/agent/fill" bs=64k oflag=append conv=notrunc 2>/dev/null || true
    dd if=/dev/zero of="$T/agent/fill" bs=512 oflag=append conv=notrunc 2>/dev/null || true
    if printf x >>"$T/agent/fill" 2>/dev/null; then fail "the tmpfs is not full"; fi
}

mkdir "$T/agent"
mount -t tmpfs -o size=2m,mode=0700 tmpfs "$T/agent" || skip "cannot mount a tmpfs here"
onboard_agent

run_agent "$T/agent1.log"
tree "$HELPER" memfd-exec "$M-a" 100 >/dev/null
within 10 raised "$T/agent1.log" "$M-a" 1 || fail "no alert raised for the fileless exec"
ids_of "$T/agent1.log" "$M-a" >"$T/a-ids"
within 10 all_on_server "$T/a-ids" || fail "the first alert did not reach the server"

# --- vigild down: alerts spooled on the disk
stop_vigild
for k in 1 2 3; do tree "$HELPER" memfd-exec "$M-b$k" 100 >/dev/null; done
within 10 raised "$T/agent1.log" "$M-b" 3 || fail "3 alerts not raised with vigild down"
ids_of "$T/agent1.log" "$M-b" >"$T/b-ids"

# --- the disk full: the next alerts are held in memory
fill_disk
for k in 1 2 3; do tree "$HELPER" memfd-exec "$M-c$k" 100 >/dev/null; done
within 10 raised "$T/agent1.log" "$M-c" 3 || fail "3 alerts not raised on the full disk"
ids_of "$T/agent1.log" "$M-c" >"$T/c-ids"
within 10 grep -q "cannot write to the alert spool in .*: No space left on device; alert lines wait in memory" \
    "$T/agent1.log" || fail "the agent did not log that the spool's disk refused the alerts"

# --- vigild back, the disk still full: what the disk holds and what waits
# in memory are sent; the acknowledgement cannot be saved
start_vigild
within 90 all_on_server "$T/b-ids" || fail "the alerts spooled with vigild down did not reach the server"
within 10 all_on_server "$T/c-ids" || fail "the alerts held in memory did not reach the server while the disk was full"
within 10 grep -q "cannot save the alert spool's acknowledged position in .*: No space left on device" \
    "$T/agent1.log" || fail "the agent did not log that its acknowledged position could not be saved"
# a high alert raised now on a full disk (the segments acknowledged were
# deleted, which gave it room: filled again) arrives at once
fill_disk
n_before=$(wc -l <"$T/agent1.log")
tree "$HELPER" memfd-exec "$M-d" 100 >/dev/null
within 10 raised "$T/agent1.log" "$M-d" 1 || fail "no alert raised on the full disk with vigild up"
ids_of "$T/agent1.log" "$M-d" >"$T/d-ids"
within 5 all_on_server "$T/d-ids" || fail "a high alert raised on the full disk did not reach the server at once"
# (only what came after the disk was filled again: an alert another process
# on the machine raised before could have been written in the room there was)
tail -n +"$((n_before + 1))" "$T/agent1.log" | grep -q "can be written again" &&
    fail "the alert raised on the full disk was written to it"
sleep 2
resent "$T/agent1.log" && fail "alerts were sent again while the acknowledgement could not be saved: \
$(grep "alerts sent: " "$T/agent1.log")"

# --- room again: the next alert is written, the position saved
rm "$T/agent/fill"
tree "$HELPER" memfd-exec "$M-e" 100 >/dev/null
within 10 raised "$T/agent1.log" "$M-e" 1 || fail "no alert raised once the disk had room"
ids_of "$T/agent1.log" "$M-e" >"$T/e-ids"
within 10 all_on_server "$T/e-ids" || fail "an alert raised once the disk had room did not reach the server"
within 10 grep -q "the alert spool in .* can be written again: the alert lines held in memory are written; 0 were dropped" \
    "$T/agent1.log" || fail "the agent did not log that the spool could be written again"
within 10 grep -q "acknowledged position is saved again" "$T/agent1.log" ||
    fail "the agent did not log that its acknowledged position was saved again"
resent "$T/agent1.log" && fail "alerts were sent twice: $(grep "alerts sent: " "$T/agent1.log")"
grep -q "dropped (counted" "$T/agent1.log" && fail "alert lines were dropped: $(grep dropped "$T/agent1.log")"

# --- kill -9 and restart: nothing acknowledged comes back; the server holds
# each alert raised once (this machine's other activity included)
kill -KILL "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null || true; AGENT_PID=""
"$AGENT" run --state-dir "$T/agent" --no-detect >/dev/null 2>"$T/agent2.log" &
AGENT_PID=$!
sleep 3
resent "$T/agent2.log" && fail "the restarted agent sent acknowledged alerts again: $(grep "alerts sent: " "$T/agent2.log")"
alert_ids "$T/agent1.log" >"$T/raised-ids"
server_holds_raised
echo "ok: $n_raised alerts on the server, each once; 4 of them sent from memory while the disk was full"

# --- a batch the server refuses, on a full disk: kept in memory, set aside
# in rejected/ once the disk has room. vigild with a body_max below the
# line's size answers 413 to it alone.
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "the agent did not stop cleanly"; AGENT_PID=""
stop_vigild
echo "body_max = 1024" >>"$T/data/vigild.conf"
seg=$(ls "$T/agent/spool/"alerts-*.jsonl | tail -n 1)
refused_id=0b0e0b0e-0000-4000-8000-$(printf '%012d' $$)
printf '{"id":"%s","change":"new","severity":"high","pad":"%s"}\n' "$refused_id" \
    "$(head -c 2048 /dev/zero | tr '\0' x)" >>"$seg"
fill_disk
start_vigild
"$AGENT" run --state-dir "$T/agent" --no-detect >/dev/null 2>"$T/agent3.log" &
AGENT_PID=$!
within 30 grep -q "cannot set the refused batch of 1 alert lines aside in .*: No space left on device; it is kept in memory" \
    "$T/agent3.log" || fail "the agent did not log that it could not set the refused line aside"
rm "$T/agent/fill"
within 10 grep -q "the 1 refused alert lines kept in memory were set aside as" "$T/agent3.log" ||
    fail "the refused line was not set aside once the disk had room"
grep -q "$refused_id" "$T/agent/spool/rejected/"alerts-*.jsonl || fail "rejected/ lacks the refused line"
echo "ok: a line refused on a full disk set aside in rejected/ once the disk had room"
