#!/bin/sh
# The web portal end to end in headless Chromium (tests/portal/portal-test.mjs,
# driven by playwright-core), against the real programs: vigild on this side
# of a veth pair (203.0.113.1), the agent inside a network namespace made
# here (203.0.113.2) with its bpf sensor and Vigil's rules. The browser signs
# in, sees the device, watches the dashboard and the device page change
# without reload when a program run here from a memfd makes the agent raise
# a high alert, opens its process tree, resolves it, isolates and releases
# the device (inside the namespace: VIGIL_TEST_NETNS_ONLY is set, and this
# namespace's ruleset never changes), sees a compliance policy's field error,
# and checks what a reader and an it_admin are offered. For vulnerability
# management it makes a small OSV feed naming a source package installed
# here (dpkg's own) with a fixed version above the installed one, which the
# browser test imports with "vigil tvm import": the agent's real inventory
# matches it, and the device page, the Vulnerabilities page and a security
# task follow. Screenshots of every page go to
# PORTAL_ARTIFACTS. Needs root, BTF, Chromium, Node.js and the npm packages
# of tests/portal (scripts/install-deps.sh test installs them); skips (77)
# without them.
set -eu

VIGILD=${VIGILD:-build/vigild}
VIGIL=${VIGIL:-build/vigil}
AGENT=${VIGIL_AGENT:-build/vigil-agent}
HELPER=${BEHAVE:-build/tests/integration/behave}
RULES=${VIGIL_RULES:-rules}
TOOL=${ISOLATE_TOOL:-build/tests/integration/isolate-tool}
PORTAL_TESTS=${PORTAL_TESTS:-tests/portal}
ARTIFACTS=${PORTAL_ARTIFACTS:-build/portal-artifacts}
CHROMIUM=${CHROMIUM:-$(command -v chromium || true)}
export VIGIL_TEST_NETNS_ONLY=1
SENSOR=bpf
. "$(dirname "$0")/lib.sh"

need_sensor
need_helper
command -v nft >/dev/null || skip "nft (nftables) is not installed"
command -v curl >/dev/null || skip "curl is not installed"
command -v dpkg-query >/dev/null || skip "dpkg-query is not installed: vulnerability matching needs a dpkg inventory"
command -v node >/dev/null || skip "node is not installed (scripts/install-deps.sh test)"
[ -n "$CHROMIUM" ] && [ -x "$CHROMIUM" ] || skip "chromium is not installed (scripts/install-deps.sh test)"
[ -f "$PORTAL_TESTS/node_modules/playwright-core/package.json" ] ||
    skip "playwright-core is not installed in $PORTAL_TESTS (scripts/install-deps.sh test runs npm ci there)"
[ -d "$RULES" ] || { echo "FAIL: no rules folder at '$RULES'" >&2; exit 1; }
[ -x "$TOOL" ] || { echo "FAIL: no isolate-tool at '$TOOL'" >&2; exit 1; }

make_temp portal
cleanup() {
    end_processes
    netns_cleanup
    remove_temp
}
fail() {
    echo "FAIL: $*" >&2
    for f in "$T"/*.log; do echo "--- $f"; tail -n 40 "$f"; done >&2
    exit 1
}

HOST_RULES_BEFORE=$(nft list ruleset | sha256sum)
netns_create ptl
PORT=$(free_port)
WPORT=$(free_port)
[ "$WPORT" != "$PORT" ] || WPORT=$(free_port)
"$VIGILD" init --data-dir "$T/data" --hostname "$HOST" >"$T/token" 2>"$T/init.log" || fail "vigild init"
"$VIGILD" run --data-dir "$T/data" --listen "$HOST:$PORT" --public-url "https://$HOST:$PORT" \
    --access-listen 127.0.0.1:0 --access-port-file "$T/access-port" --port-file "$T/port" >>"$T/vigild.log" 2>&1 &
SERVER_PID=$!
within 10 test -s "$T/port" || fail "vigild did not start"
within 10 test -s "$T/access-port" || fail "vigild did not write its decision listener's port"
"$TOOL" listen "$HOST" "$WPORT" >/dev/null & BG_PIDS="$BG_PIDS $!"
export VIGIL_SERVER="https://$HOST:$PORT" VIGIL_TOKEN="$(cat "$T/token")" VIGIL_CA="$T/data/server-ca.pem"

"$VIGIL" onboarding create --uses 1 -o "$T/pkg.json" >/dev/null || fail "onboarding create"
in_ns "$AGENT" onboard "$T/pkg.json" --state-dir "$T/agent" 2>"$T/onboard.log" || fail "onboard in the namespace"
in_ns "$AGENT" run --state-dir "$T/agent" --sensor "$SENSOR" --rules "$RULES" >/dev/null 2>"$T/agent.log" &
AGENT_PID=$!
_i=0
until grep -q "sensor '$SENSOR' running" "$T/agent.log" 2>/dev/null; do
    grep -q "detection is off" "$T/agent.log" 2>/dev/null && skip "the $SENSOR sensor cannot run here: $(cat "$T/agent.log")"
    kill -0 "$AGENT_PID" 2>/dev/null || fail "the agent exited before its sensor ran"
    _i=$((_i + 1))
    [ $_i -lt 300 ] || fail "the agent did not start its sensor in 30 s"
    sleep 0.1
done
within 20 sh -c "'$VIGIL' --json devices list | jq -e '.value[0].inventory_at != null' >/dev/null" ||
    fail "the device has not sent its inventory"
ID=$("$VIGIL" --json devices list | jq -r '.value[0].id')
READER=$("$VIGIL" tokens create --role reader --name portal-reader 2>/dev/null) || fail "tokens create"
IT=$("$VIGIL" tokens create --role it_admin --name portal-it 2>/dev/null) || fail "tokens create"
SERIAL=$("$VIGIL" --json devices list | jq -r '.value[0].certificate_serial')

reaches() { in_ns "$TOOL" connect "$HOST" "$1" "${2:-2000}"; }
reaches "$WPORT" || fail "before isolation: the web server is not reachable from the namespace"

# the advisory feed: a critical CVE of dpkg's source fixed just above the
# installed version, and an open one (no fix yet) with a known exploit
TVM_DISTRO=$(. /etc/os-release; echo "$ID")
TVM_ECO=$(. /etc/os-release; case "$ID" in debian) echo "Debian:$VERSION_ID" ;; ubuntu) echo "Ubuntu:$VERSION_ID" ;; esac)
[ -n "$TVM_ECO" ] || skip "this machine is neither Debian nor Ubuntu: no vulnerability would match"
TVM_PKG=$(dpkg-query -W -f '${source:Package}' dpkg)
TVM_FIXED="$(dpkg-query -W -f '${source:Version}' dpkg)+vigil1"
mkdir -p "$T/feed"
osv() { # ID CVE VECTOR EVENTS EXTRA
    printf '{"schema_version": "1.7.0", "id": "%s", "modified": "2026-11-30T00:00:00Z", "aliases": ["%s"],
  "summary": "portal test advisory", "severity": [{"type": "CVSS_V3", "score": "%s"}],
  "affected": [{"package": {"ecosystem": "%s", "name": "%s"}, "ranges": [{"type": "ECOSYSTEM", "events": %s}]}]%s}\n' \
        "$1" "$2" "$3" "$TVM_ECO" "$TVM_PKG" "$4" "$5"
}
osv PORTAL-TEST-1 CVE-2099-41001 "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" \
    "[{\"introduced\": \"0\"}, {\"fixed\": \"$TVM_FIXED\"}]" "" >"$T/feed/portal-test-1.json"
osv PORTAL-TEST-2 CVE-2099-41002 "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N" '[{"introduced": "0"}]' \
    ', "database_specific": {"known_exploited": true}' >"$T/feed/portal-test-2.json"

M=vigil-portal-$$
mkdir -p "$ARTIFACTS"
rm -f "$ARTIFACTS"/*.png
rc=0
VIGIL_URL="https://$HOST:$PORT" ADMIN_TOKEN="$VIGIL_TOKEN" READER_TOKEN="$READER" IT_TOKEN="$IT" DEVICE_ID="$ID" MARK="$M" \
    ALERT_TITLE="Program Executed From an Anonymous Memory File" OUT="$ARTIFACTS" CHROMIUM="$CHROMIUM" \
    IMPORT_CMD="'$VIGIL' tvm import '$T/feed'" TVM_PACKAGE="$TVM_PKG" TVM_FIXED="$TVM_FIXED" TVM_DISTRO="$TVM_DISTRO" \
    RAISE_CMD="sh -c '\"\$0\" memfd-exec \"$M-memfd\" 300 \"<i>$M</i>\"' '$HELPER'" \
    ISOLATED_CMD="! ip netns exec '$NS' '$TOOL' connect '$HOST' '$WPORT' 1000" \
    RELEASED_CMD="ip netns exec '$NS' '$TOOL' connect '$HOST' '$WPORT' 2000" \
    ACCESS_CMD="curl -s -o /dev/null -H 'Host: intranet.example.test' -H 'X-Original-URI: /wiki/' \
        -H 'X-Original-Method: GET' -H 'X-Real-IP: 203.0.113.7' -H 'X-Vigil-Client-Verify: SUCCESS' \
        -H 'X-Vigil-Client-Serial: $SERIAL' http://127.0.0.1:$(cat "$T/access-port")/v1/decide" \
    node "$PORTAL_TESTS/portal-test.mjs" || rc=$?
[ "$rc" = 0 ] || fail "the browser test failed ($rc); screenshots in $ARTIFACTS"

# what the browser did, as the API and the namespace tell it
curl -sS --fail --cacert "$VIGIL_CA" -H "Authorization: Bearer $VIGIL_TOKEN" \
    "$VIGIL_SERVER/api/v1/actions?device=$ID" >"$T/actions.json" || fail "the device's actions could not be read"
for type in isolate release; do
    jq -e --arg t "$type" '[.value[] | select(.type == $t and .status == "succeeded")] | length == 1' "$T/actions.json" \
        >/dev/null || fail "no succeeded $type action: $(cat "$T/actions.json")"
done
curl -sS --fail --cacert "$VIGIL_CA" -H "Authorization: Bearer $VIGIL_TOKEN" \
    "$VIGIL_SERVER/api/v1/tvm/tasks" >"$T/tasks.json" || fail "the security tasks could not be read"
jq -e --arg p "$TVM_PKG" '[.value[] | select(.package == $p and .status == "accepted" and .priority == "high")] | length == 1' \
    "$T/tasks.json" >/dev/null || fail "no accepted high-priority task for $TVM_PKG: $(cat "$T/tasks.json")"
reaches "$WPORT" || fail "after release: the web server is not reachable from the namespace"
! in_ns nft list table inet vigil_isolation >/dev/null 2>&1 || fail "after release: the isolation table is still there"
[ "$(nft list ruleset | sha256sum)" = "$HOST_RULES_BEFORE" ] || fail "this namespace's ruleset changed"
echo "ok: $(ls "$ARTIFACTS"/*.png | wc -l) screenshots in $ARTIFACTS"
