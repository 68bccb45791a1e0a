#!/bin/sh
# 'make run': install what is missing, build, initialise a data directory if
# there is none, start vigild (embedded SQLite) and onboard and start the
# local machine's agent. 'scripts/run.sh stop' stops both.
#
# As root the server lives in /var/lib/vigild and the agent in /var/lib/vigil;
# otherwise both live under ./.vigil/. VIGIL_DATA_DIR, VIGIL_STATE_DIR and
# VIGIL_LISTEN override.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)

. scripts/paths.sh
PORT=${LISTEN##*:}
RUNDIR=$(dirname "$DATA")

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if [ "${1:-}" = stop ]; then
    for p in "$STATE/agent.pid" "$DATA/vigild.pid"; do
        if alive "$p"; then kill "$(cat "$p")"; echo "stopped $(basename "$p" .pid)"; fi
        rm -f "$p"
    done
    exit 0
fi

scripts/install-deps.sh run
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

if [ ! -d "$DATA" ]; then
    mkdir -p "$RUNDIR"
    # the first admin token is shown once; keep it for this machine's admin only
    umask 077
    build/vigild init --data-dir "$DATA" --hostname "$(hostname)" >"$DATA.token.tmp"
    mv "$DATA.token.tmp" "$DATA/initial-admin-token"
    chmod 600 "$DATA/initial-admin-token"
    umask 022
fi

if alive "$DATA/vigild.pid"; then
    echo "vigild is already running (pid $(cat "$DATA/vigild.pid"))"
else
    rm -f "$DATA/port"
    nohup build/vigild run --data-dir "$DATA" --listen "$LISTEN" --public-url "https://localhost:$PORT" \
        --port-file "$DATA/port" >>"$DATA/vigild.log" 2>&1 &
    echo $! >"$DATA/vigild.pid"
    i=0
    until [ -s "$DATA/port" ]; do
        i=$((i + 1))
        if [ $i -gt 100 ] || ! alive "$DATA/vigild.pid"; then
            echo "vigild did not start; its log:" >&2; tail -20 "$DATA/vigild.log" >&2; exit 1
        fi
        sleep 0.1
    done
fi

export VIGIL_SERVER="https://localhost:$PORT" VIGIL_CA="$DATA/server-ca.pem"
if [ -r "$DATA/initial-admin-token" ]; then
    VIGIL_TOKEN=$(cat "$DATA/initial-admin-token"); export VIGIL_TOKEN
fi

if [ ! -f "$STATE/agent.json" ]; then
    pkg=$(mktemp)
    build/vigil onboarding create --expires 10m --uses 1 -o "$pkg" >/dev/null
    build/vigil-agent onboard "$pkg" --state-dir "$STATE"
    rm -f "$pkg"
fi
if alive "$STATE/agent.pid"; then
    echo "vigil-agent is already running (pid $(cat "$STATE/agent.pid"))"
else
    # the repository's own Sigma rules (an installed agent reads PREFIX/share/vigil/rules)
    nohup build/vigil-agent run --state-dir "$STATE" --rules "$top/rules" >>"$STATE/agent.log" 2>&1 &
    echo $! >"$STATE/agent.pid"
fi
sleep 1

cat <<MSG

Vigil is running.
  API:          https://localhost:$PORT/api/v1/  (server log: $DATA/vigild.log)
  CA to trust:  $DATA/server-ca.pem
  Admin token:  $DATA/initial-admin-token  (role security_admin; delete it once you have made your own)
  Agent:        state in $STATE, log in $STATE/agent.log (alerts: grep ' alert: '; spool: $STATE/spool/)

Try:
  export VIGIL_SERVER=https://localhost:$PORT VIGIL_CA=$DATA/server-ca.pem
  export VIGIL_TOKEN=\$(cat $DATA/initial-admin-token)
  build/vigil devices list
Stop with: make stop
MSG
build/vigil devices list || true
