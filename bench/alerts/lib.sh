# Shell set-up shared by the alert benchmarks (e2e.sh, outage.sh), which set
# BUILD (the build folder) and BENCH (their name in messages, bench-e2e) and
# source it:
#     . "$(dirname "$0")/lib.sh"
# It sets ROOT, VIGILD, VIGIL, AGENT, HELPER, RULES and SENSOR (bpf), brings
# in the functions of tests/integration/lib.sh, skips (77) without root, BTF
# or jq, fails without the behave helper, and defines fail and
# run_bench_agent.

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VIGILD=$BUILD/vigild
VIGIL=$BUILD/vigil
AGENT=$BUILD/vigil-agent
HELPER=$BUILD/tests/integration/behave
RULES=$ROOT/rules
SENSOR=bpf
. "$ROOT/tests/integration/lib.sh"
need_sensor
need_helper

fail() { fail_with_logs "$BENCH:" 30 "$*"; }

# run_bench_agent: the agent onboarded in $T/agent with detection in the
# background (AGENT_PID), its log to $T/agent.log; skips (77) when its sensor
# does not run within 30 s.
run_bench_agent() {
    "$AGENT" run --state-dir "$T/agent" --sensor "$SENSOR" --rules "$RULES" >/dev/null 2>"$T/agent.log" &
    AGENT_PID=$!
    wait_for "$T/agent.log" "sensor '$SENSOR' running" 30 ||
        skip "the $SENSOR sensor does not run here: $(tail -n 3 "$T/agent.log")"
}
