#!/bin/sh
# Integration: benign activity raises no high alert. While
# `vigil-agent detect --sensor=bpf` runs with Vigil's rules (rules/) and, when
# the SigmaHQ corpus is there (VIGIL_SIGMA_CORPUS, default
# ../shared/corpus/sigma), its rules/linux, rules-emerging-threats and
# rules-threat-hunting (rules for other products are skipped as unsupported
# logsources), this script does
# what developers and administrators do every day, for real:
#   - builds a small C program with make and gcc, and runs it
#   - builds a tiny Debian package with dpkg-deb --build and inspects it;
#     with VIGIL_TEST_DPKG_INSTALL=1 also installs it (it ships a cron file and
#     a systemd unit, so the package-manager filters are exercised) and purges it
#   - queries packages: apt-cache policy, apt list --installed, dpkg -l, dpkg -S
#   - an interactive shell session (script -qc 'bash -i' with commands piped
#     in) and a login shell (bash -lc)
#   - systemctl status, ps, id, uname, ss, crontab -l, ssh-keygen, tar, python3
#   - gdb and strace on their own child, ssh with a ProxyCommand (a shell
#     whose stdio is ssh's), a port check with bash's /dev/tcp (medium by design)
#   - a download from a loopback web server that is not executed
#   - the project's own unit test binaries (VIGIL_BUILD_ROOT/tests/unit)
# then checks that no alert about this script's processes (the script in the
# process or its ancestors) has severity high. Every alert about them is
# printed, with its rule, severity and the command that raised it, so that
# the lower-severity noise of benign work is visible; high alerts about other
# processes of the host are printed as notes.
# Usage: detect-benign.sh   (env: VIGIL_AGENT, VIGIL_RULES, VIGIL_SIGMA_CORPUS,
# VIGIL_BUILD_ROOT). Needs root and the bpf sensor; exits 77 without them.
set -eu

SENSOR=bpf
AGENT=${VIGIL_AGENT:-build/vigil-agent}
RULES=${VIGIL_RULES:-rules}
here=$(cd "$(dirname "$0")" && pwd)
CORPUS=${VIGIL_SIGMA_CORPUS:-$here/../../../shared/corpus/sigma}
BUILD_ROOT=${VIGIL_BUILD_ROOT:-$(dirname "$AGENT")}

. "$here/lib.sh"
need_sensor
need_detect

PKG=vigil-benign-test
PKG_INSTALLED=""
make_temp benign
AL=$T/alerts.jsonl
cleanup() {
    end_processes
    [ -n "$PKG_INSTALLED" ] && dpkg --purge "$PKG" >/dev/null 2>&1 || true
    remove_temp
}

fail() {
    echo "FAIL (benign): $*" >&2
    echo "--- agent log" >&2
    tail -n 30 "$T/agent.log" >&2 || true
    exit 1
}

# --- the rules: Vigil's, and SigmaHQ's Linux rules when the corpus is there
set -- --rules "$RULES"
for d in rules/linux rules-emerging-threats rules-threat-hunting; do
    [ -d "$CORPUS/$d" ] && set -- "$@" --rules "$CORPUS/$d"
done
[ $# -gt 2 ] || echo "note: no SigmaHQ corpus at $CORPUS: Vigil's rules only"
echo "rules: $*"

start_agent "$AL" 60 detect --sensor=bpf "$@" --output json
grep "rules: loaded" "$T/agent.log" || true

step() { echo "- $*"; }

# --- a small C program built with make and gcc, then run
step "make + gcc"
mkdir -p "$T/src"
cat >"$T/src/hello.c" <<'EOF'
#include <stdio.h>
int main(void) { puts("hello from a benign build"); return 0; }
EOF
printf 'hello: hello.c\n\t$(CC) -O2 -Wall -o $@ hello.c\nclean:\n\trm -f hello\n' >"$T/src/Makefile"
make -s -C "$T/src" >/dev/null
"$T/src/hello" >/dev/null
make -s -C "$T/src" clean

# --- a tiny Debian package: built, inspected (installed and purged on request)
step "dpkg-deb --build"
P=$T/pkg
mkdir -p "$P/DEBIAN" "$P/usr/share/doc/$PKG" "$P/etc/cron.d" "$P/lib/systemd/system"
cat >"$P/DEBIAN/control" <<EOF
Package: $PKG
Version: 1.0
Architecture: all
Maintainer: Vigil tests <tests@vigil.invalid>
Description: Vigil benign-activity test package
 Ships a comment-only cron file and a systemd unit that is never enabled.
EOF
echo "Vigil benign-activity test package" >"$P/usr/share/doc/$PKG/README"
echo "# $PKG: comment only" >"$P/etc/cron.d/$PKG"
printf '[Unit]\nDescription=%s (never enabled)\n[Service]\nExecStart=/bin/true\n' "$PKG" \
    >"$P/lib/systemd/system/$PKG.service"
dpkg-deb --root-owner-group --build "$P" "$T/$PKG.deb" >/dev/null
dpkg-deb -I "$T/$PKG.deb" >/dev/null
dpkg-deb -c "$T/$PKG.deb" >/dev/null
if [ -n "${VIGIL_TEST_DPKG_INSTALL:-}" ]; then
    if dpkg -s "$PKG" >/dev/null 2>&1; then
        echo "note: $PKG is already installed: not installing it again"
    else
        step "dpkg -i and dpkg --purge"
        PKG_INSTALLED=1
        dpkg -i "$T/$PKG.deb" >/dev/null
        dpkg --purge "$PKG" >/dev/null
        PKG_INSTALLED=""
    fi
fi

# --- package queries
step "apt-cache policy, apt list --installed, dpkg -l, dpkg -S"
apt-cache policy bash >/dev/null 2>&1 || true
apt list --installed 2>/dev/null | head -n 5 >/dev/null || true
dpkg -l >/dev/null
dpkg -S /bin/ls >/dev/null 2>&1 || true

# --- an interactive shell session and a login shell
step "script -qc 'bash -i', bash -lc"
if command -v script >/dev/null; then
    printf '%s\n' 'cd /etc' 'ls | head -n 3' 'echo $HOME' 'id' 'cat /etc/os-release | head -n 2' \
        'ps -ef | wc -l' 'history | tail -n 2' 'exit' |
        script -qec 'bash -i' /dev/null >/dev/null 2>&1 || true
fi
bash -lc 'echo login shell; uname -a; hostname; whoami' >/dev/null 2>&1 || true

# --- administration commands
step "systemctl status, ps, ss, crontab -l, ssh-keygen, tar, python3"
systemctl status --no-pager >/dev/null 2>&1 || true
systemctl list-units --no-pager >/dev/null 2>&1 || true
ps aux >/dev/null
command -v ss >/dev/null && ss -tln >/dev/null 2>&1 || true
command -v crontab >/dev/null && crontab -l >/dev/null 2>&1 || true
command -v ssh-keygen >/dev/null && ssh-keygen -q -t ed25519 -N '' -f "$T/id_test" >/dev/null 2>&1 || true
tar -czf "$T/etc-sample.tgz" -C / etc/hostname etc/os-release 2>/dev/null || true
find /etc -maxdepth 1 -name '*.conf' >/dev/null
python3 -c 'import json, platform; print(json.dumps(platform.uname()._asdict()))' >/dev/null 2>&1 || true

# --- debugging and tracing one's own programs, ssh through a proxy command,
# a port check with bash's /dev/tcp
step "gdb and strace on a child, ssh ProxyCommand, a /dev/tcp port check"
command -v gdb >/dev/null && gdb -q -batch -ex run -ex bt --args /bin/true >/dev/null 2>&1 || true
command -v strace >/dev/null && strace -f -o /dev/null ls / >/dev/null 2>&1 || true
# ssh runs its ProxyCommand through a shell whose stdin and stdout are ssh's
# (pipes in Debian's OpenSSH, a socket pair in some builds); the proxy here
# ends at once, so nothing is contacted
command -v ssh >/dev/null && ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o "ProxyCommand=sh -c 'sleep 0.2; exit 0'" vigil-benign.invalid true \
    >/dev/null 2>&1 || true
if command -v python3 >/dev/null; then
    python3 -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(1); print(s.getsockname()[1], flush=True); c,_=s.accept(); c.close(); time.sleep(0.2)' \
        >"$T/check.port" 2>/dev/null &
    CHECK=$!
    BG_PIDS="$BG_PIDS $CHECK"
    within 5 test -s "$T/check.port" || true
    [ -s "$T/check.port" ] && bash -c "echo > /dev/tcp/127.0.0.1/$(cat "$T/check.port")" 2>/dev/null || true
    wait "$CHECK" 2>/dev/null || true
fi

# --- a download from a loopback web server, read but not executed
if command -v python3 >/dev/null && command -v curl >/dev/null; then
    step "curl from a loopback web server (not executed)"
    mkdir -p "$T/www"
    echo "just a text file" >"$T/www/notes.txt"
    start_httpd "$T/www"
    curl -sSf -o "$T/notes.txt" "http://127.0.0.1:$HPORT/notes.txt"
    grep -q "text file" "$T/notes.txt"
    kill "$HTTPD" 2>/dev/null || true
fi

# --- the project's unit tests
TEST_DATA=$(cd "$(dirname "$0")/../data" && pwd)
step "unit tests from $BUILD_ROOT/tests/unit"
ran=0
for t in test-util test-procfs test-proctable test-event-json test-config; do
    if [ -x "$BUILD_ROOT/tests/unit/$t" ]; then
        (cd "$BUILD_ROOT" && VIGIL_TEST_DATA="$TEST_DATA" "tests/unit/$t" >/dev/null 2>&1) ||
            fail "unit test $t failed while detection watched"
        ran=$((ran + 1))
    fi
done
[ "$ran" -gt 0 ] || echo "note: no unit test binaries under $BUILD_ROOT/tests/unit"

# --- stop once the agent has reported all of it: a last program run from
# /tmp raises Vigil's medium "run from a temporary folder" alert
cp /bin/true "$T/end-marker"
tree "$T/end-marker"
await_output "the end marker" -F "$T/end-marker"
stop_agent

# ours: this script's processes (the subject or one of its ancestors)
ours='select((.process.pid == $me) or any(.ancestors[]?; .pid == $me))'
summary='"\(.severity)\t\(.rule_id)\t\(.title)\t\(.process.image // "")\t\(.process.command_line // "" | .[0:150])"'
echo "--- alerts about this script's processes (severity, rule, title, process)"
jq -r --argjson me $$ "$ours | $summary" "$AL" | sort | uniq -c | sort -k2,2 -k1,1nr || true
echo "--- high alerts about other processes of the host (not this test's)"
jq -r --argjson me $$ "select(.severity == \"high\") | select(((.process.pid == \$me) or any(.ancestors[]?; .pid == \$me)) | not)
    | $summary" "$AL" | sort | uniq -c || true
echo "---"
high=$(jq -c --argjson me $$ "$ours | select(.severity == \"high\")" "$AL" | wc -l)
[ "$high" -eq 0 ] || fail "$high high alert(s) on benign activity (listed above)"
n=$(jq -c --argjson me $$ "$ours" "$AL" | wc -l)
echo "PASS (benign): no high alert; $n lower alert lines about this script's processes, $(wc -l <"$AL") in all"
