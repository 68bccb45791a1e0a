#!/bin/sh
# 'make demo': the reference attack told step by step, with times, against
# the system 'make run' started: nginx (the shipped configuration, on a
# port of its own) in front of an intranet app; the example policies
# applied; an attack chain run as uid 65534 on this machine; its alerts,
# risk and compliance on the server; nginx's 403 with the reason; the
# alerts resolved; 200 again. It runs tests/integration/scenario.sh
# --running, the same script the test suite runs. Needs root and nginx.
# BUILD (default build) names the build folder; scripts/paths.sh's
# variables name the system's folders and address.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
. scripts/paths.sh
BUILD=${BUILD:-build}

[ "$(id -u)" -eq 0 ] || { echo "make demo: run it as root (the attack chain uses setpriv and a setuid program)" >&2; exit 1; }
if [ ! -x "$BUILD/tests/integration/behave" ]; then
    # the attack's helper is built with the tests, which need the test packages
    scripts/install-deps.sh test
    meson setup --reconfigure "$BUILD" >/dev/null
    ninja -C "$BUILD" >/dev/null
fi
command -v nginx >/dev/null || { echo "make demo: nginx is not installed (apt-get install nginx)" >&2; exit 1; }
[ -f "$DATA/vigild.pid" ] && kill -0 "$(cat "$DATA/vigild.pid")" 2>/dev/null ||
    { echo "make demo: vigild does not run; start Vigil with 'make run' first" >&2; exit 1; }

cat <<MSG
Vigil demo: an attack on this machine, and the intranet closing to it.
  vigild:  https://localhost:${LISTEN##*:} (data in $DATA)
  agent:   this machine (state in $STATE)
  applies: examples/compliance-max-risk-medium.json and examples/access/intranet-policy.json
           (they stay applied); resolves this device's open alerts first

MSG
rc=0
VIGILD=$BUILD/vigild VIGIL=$BUILD/vigil VIGIL_AGENT=$BUILD/vigil-agent BEHAVE=$BUILD/tests/integration/behave \
    VIGIL_RULES=rules tests/integration/scenario.sh --running "$DATA" "$STATE" || rc=$?
case $rc in
0)
    echo
    echo "The access log's last decisions ($BUILD/vigil access log --limit 6):"
    VIGIL_SERVER="https://localhost:${LISTEN##*:}" VIGIL_CA="$DATA/server-ca.pem" \
        VIGIL_TOKEN="$(cat "$DATA/initial-admin-token")" "$BUILD/vigil" access log --limit 6 || true
    ;;
77) echo "make demo: cannot run here (above: why)" >&2 ;;
*) echo "make demo: a step failed (above: which)" >&2 ;;
esac
exit "$rc"
