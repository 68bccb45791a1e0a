# Sourced by scripts/run.sh and scripts/demo.sh from the repository's top
# (top): where 'make run' keeps the server's data (DATA) and the agent's
# state (STATE), and where vigild listens (LISTEN). As root /var/lib/vigild
# and /var/lib/vigil; otherwise under ./.vigil/. VIGIL_DATA_DIR,
# VIGIL_STATE_DIR and VIGIL_LISTEN override.
if [ "$(id -u)" -eq 0 ]; then
    DATA=${VIGIL_DATA_DIR:-/var/lib/vigild}
    STATE=${VIGIL_STATE_DIR:-/var/lib/vigil}
else
    DATA=${VIGIL_DATA_DIR:-$top/.vigil/server}
    STATE=${VIGIL_STATE_DIR:-$top/.vigil/agent}
fi
LISTEN=${VIGIL_LISTEN:-127.0.0.1:8443}
