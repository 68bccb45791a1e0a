#!/bin/sh
# Integration: vulnerability management with the real programs. vigild, the
# agent onboarded and its real dpkg inventory sent; advisory rows for
# packages installed here put in tvm_affected (made with the table's DDL
# where no feed import created it yet); the results seen through the API and
# the CLI: the CVEs that apply and none of those that do not (fixed at the
# installed version, not_affected, another release, undetermined), the
# exposure level with the device, the recommendations in order; a compliance
# policy with max_exposure_level making the device noncompliant; a task
# made from a recommendation, with roles, accepted, its device still
# vulnerable until the agent's next inventory, then completed, with every
# change and who made it in its history.
set -eu

VIGILD=${VIGILD:-build/vigild}
VIGIL=${VIGIL:-build/vigil}
AGENT=${VIGIL_AGENT:-build/vigil-agent}
. "$(dirname "$0")/lib.sh"
[ -r /var/lib/dpkg/status ] || skip "no dpkg database on this machine"
for tool in jq curl sqlite3; do command -v $tool >/dev/null || skip "$tool is not installed"; done
. /etc/os-release
case "$NAME" in
*Debian*) DISTRO=debian ;;
*Ubuntu*) DISTRO=ubuntu ;;
*) skip "this machine runs $NAME, not Debian or Ubuntu" ;;
esac
REL=$VERSION_ID

make_temp tvm
fail() { fail_with_logs "FAIL:" 40 "$*"; }

# as ROLE-TOKEN-FILE METHOD PATH [BODY]: the HTTP status, the body in $T/out.json
as() {
    curl -sS -o "$T/out.json" -w '%{http_code}' --cacert "$T/data/server-ca.pem" -X "$2" \
        -H "Authorization: Bearer $(cat "$1")" -H 'Content-Type: application/json' \
        ${4:+--data "$4"} "https://127.0.0.1:$PORT$3"
}
expect() { _st=$(as "$1" "$2" "$3" "${5:-}"); [ "$_st" = "$4" ] || fail "$2 $3: HTTP $_st, expected $4: $(cat "$T/out.json")"; }

PORT=$(free_port)
onboard_agent
"$VIGIL" tokens create --role security_admin --name sec-alice >"$T/sec" 2>/dev/null || fail "token"
"$VIGIL" tokens create --role it_admin --name it-bob >"$T/it" 2>/dev/null || fail "token"
"$VIGIL" tokens create --role reader --name reader-carol >"$T/reader" 2>/dev/null || fail "token"
"$AGENT" run --state-dir "$T/agent" --once 2>"$T/agent1.log" || fail "agent run --once"
ID=$("$VIGIL" --json devices list | jq -r '.value[0].id')
[ -n "$ID" ] && [ "$ID" != null ] || fail "device not listed"
stop_vigild

ver() { dpkg-query -W -f='${source:Version}' "$1"; }
DPKG=$(ver dpkg) COREUTILS=$(ver coreutils)
row() { echo "INSERT INTO tvm_affected (feed, advisory_id, cve, distro, release, source_package, introduced, fixed,
        status, severity, urgency, cvss, exploit_known) VALUES ($1);"; }
sqlite3 "$T/data/vigild.db" >"$T/sql.log" 2>&1 <<SQL || fail "cannot write the advisory rows"
CREATE TABLE IF NOT EXISTS tvm_affected (feed TEXT NOT NULL, advisory_id TEXT NOT NULL, cve TEXT NOT NULL,
  distro TEXT NOT NULL, release TEXT NOT NULL, source_package TEXT NOT NULL, introduced TEXT NOT NULL, fixed TEXT,
  status TEXT NOT NULL, severity TEXT NOT NULL, urgency TEXT NOT NULL, cvss REAL,
  exploit_known INTEGER NOT NULL DEFAULT 0, summary TEXT NOT NULL DEFAULT '', modified TEXT NOT NULL DEFAULT '',
  origin TEXT NOT NULL DEFAULT '', last_affected TEXT);
$(row "'osv', 'DSA-9001-1', 'CVE-2099-0001', '$DISTRO', '$REL', 'dpkg', '0', '$DPKG+zz9', 'fixed', 'high', '', 7.8, 0")
$(row "'debian-tracker', 'CVE-2099-0002', 'CVE-2099-0002', '$DISTRO', '', 'coreutils', '0', '$COREUTILS+zz9', 'fixed', 'unknown', 'medium', NULL, 0")
$(row "'debian-tracker', 'CVE-2099-0003', 'CVE-2099-0003', '$DISTRO', '$REL', 'dpkg', '0', '$DPKG', 'fixed', 'high', '', NULL, 0")
$(row "'debian-tracker', 'CVE-2099-0004', 'CVE-2099-0004', '$DISTRO', '$REL', 'tar', '0', '0', 'not_affected', 'unknown', '', NULL, 0")
$(row "'osv', 'DSA-9005-1', 'CVE-2099-0005', '$DISTRO', '0', 'grep', '0', '99:1', 'fixed', 'critical', '', NULL, 0")
$(row "'osv', 'DSA-9006-1', 'CVE-2099-0006', '$DISTRO', '$REL', 'vigil-test-tool', '0', '2.0-1', 'fixed', 'critical', '', 9.8, 1")
$(row "'debian-tracker', 'CVE-2099-0007', 'CVE-2099-0007', '$DISTRO', '$REL', 'grep', '0', NULL, 'undetermined', 'unknown', '', NULL, 0")
INSERT INTO device_software VALUES ('$ID', 'vigil-test-tool', '1.0-1', 'amd64', '', '');
SQL
start_vigild

# the start recomputes every device
cves() { as "$T/reader" GET "/api/v1/devices/$ID/vulnerabilities" >/dev/null; jq -c '[.value[].cve] | unique' "$T/out.json"; }
want='["CVE-2099-0001","CVE-2099-0002","CVE-2099-0006"]'
has_cves() { [ "$(cves)" = "$1" ]; }
within 10 has_cves "$want" || fail "vulnerabilities: $(cves), expected $want"
expect "$T/reader" GET "/api/v1/devices/$ID" 200
[ "$(jq -r .exposure_level "$T/out.json")" = high ] || fail "exposure $(jq -r .exposure_level "$T/out.json"), expected high"
expect "$T/reader" GET "/api/v1/tvm/vulnerabilities?cve=CVE-2099-0002" 200
jq -e '.value[0] | .package == "coreutils" and .fixed_version == "'"$COREUTILS"'+zz9" and .rating == "medium"
       and .urgency == "medium" and .cvss == null' "$T/out.json" >/dev/null || fail "coreutils row: $(cat "$T/out.json")"
expect "$T/reader" GET "/api/v1/tvm/vulnerabilities?device=$ID&severity=critical" 200
jq -e '.count == 1 and .value[0].exploit_known and .value[0].cvss == 9.8' "$T/out.json" >/dev/null || fail "critical filter"
expect "$T/reader" GET "/api/v1/tvm/vulnerabilities?severity=severe" 400
"$VIGIL" --token "$(cat "$T/reader")" tvm vulns --device "$ID" >"$T/vulns.txt" || fail "vigil tvm vulns"
grep -q "CVE-2099-0001 *dpkg *$DPKG" "$T/vulns.txt" || fail "CLI table: $(cat "$T/vulns.txt")"

# recommendations, by impact
"$VIGIL" --token "$(cat "$T/reader")" tvm recommendations >"$T/recs.txt" || fail "vigil tvm recommendations"
OS="$(echo "$DISTRO" | sed 's/^./\U&/') $REL"
head -n 1 "$T/recs.txt" | grep -qx "upgrade vigil-test-tool to 2.0-1 or later ($OS) — affects 1 device, fixes 1 CVE (1 high)" ||
    fail "first recommendation: $(cat "$T/recs.txt")"
grep -qx "upgrade dpkg to $DPKG+zz9 or later ($OS) — affects 1 device, fixes 1 CVE (1 high)" "$T/recs.txt" ||
    fail "dpkg recommendation: $(cat "$T/recs.txt")"

# compliance: at most medium exposure
cat >"$T/policy.json" <<'EOF2'
{"name": "Exposure at most medium", "platform": "linux", "settings": {"max_exposure_level": "medium"},
 "actions": [{"type": "mark_noncompliant", "grace_hours": 0}], "assignments": {"include": ["all_devices"]}}
EOF2
"$VIGIL" policy apply -f "$T/policy.json" >/dev/null || fail "policy apply"
state() { as "$T/reader" GET "/api/v1/devices/$ID/compliance" >/dev/null; jq -r .state "$T/out.json"; }
is_state() { [ "$(state)" = "$1" ]; }
within 10 is_state noncompliant || fail "compliance: $(cat "$T/out.json"), expected noncompliant"
grep -q "exposure high is above the allowed medium" "$T/out.json" || fail "no exposure reason: $(cat "$T/out.json")"

# a task from the recommendation: security_admin creates, it_admin acts
task='{"package":"vigil-test-tool","priority":"high","due_date":"2099-12-31","notes":"roll out 2.0-1"}'
expect "$T/reader" POST /api/v1/tvm/tasks 403 "$task"
expect "$T/it" POST /api/v1/tvm/tasks 403 "$task"
expect "$T/sec" POST /api/v1/tvm/tasks 400 '{"package":"vigil-test-tool","priority":"urgent"}'
expect "$T/sec" POST /api/v1/tvm/tasks 400 '{"package":"vigil-test-tool","priority":"high","due_date":"2099-02-30"}'
expect "$T/sec" POST /api/v1/tvm/tasks 404 '{"package":"no-such-package","priority":"high"}'
expect "$T/sec" POST /api/v1/tvm/tasks 404 '{"package":"vigil-test-tool","priority":"high","release":"0"}'
expect "$T/sec" POST /api/v1/tvm/tasks 201 "$task"
TASK=$(jq -r .id "$T/out.json")
jq -e '.status == "pending" and .fixed_version == "2.0-1" and .distro == "'"$DISTRO"'" and .release == "'"$REL"'" and
       .still_vulnerable == 1 and
       .devices_still_vulnerable[0].device_id == "'"$ID"'"' "$T/out.json" >/dev/null || fail "new task: $(cat "$T/out.json")"
expect "$T/sec" POST "/api/v1/tvm/tasks/$TASK/accept" 403
expect "$T/it" POST "/api/v1/tvm/tasks/$TASK/reject" 400 '{}'
"$VIGIL" --token "$(cat "$T/it")" tvm tasks accept "$TASK" >"$T/accept.txt" || fail "vigil tvm tasks accept"
grep -q "^status  *accepted" "$T/accept.txt" || fail "accept: $(cat "$T/accept.txt")"
expect "$T/it" POST "/api/v1/tvm/tasks/$TASK/accept" 409
# a task for a group the device is not in has no device to wait for
GROUP=$("$VIGIL" --json groups create --name "tvm empty" --static | jq -r .id)
expect "$T/sec" POST /api/v1/tvm/tasks 404 '{"package":"vigil-test-tool","priority":"low","group_id":"00000000-0000-4000-8000-000000000000"}'
expect "$T/sec" POST /api/v1/tvm/tasks 201 '{"package":"vigil-test-tool","priority":"low","group_id":"'"$GROUP"'"}'
jq -e '.group_id == "'"$GROUP"'" and .still_vulnerable == 0' "$T/out.json" >/dev/null || fail "group task: $(cat "$T/out.json")"
# a second task, rejected with a reason
expect "$T/sec" POST /api/v1/tvm/tasks 201 '{"package":"dpkg","priority":"low"}'
TASK2=$(jq -r .id "$T/out.json")
expect "$T/it" POST "/api/v1/tvm/tasks/$TASK2/reject" 200 '{"reason":"dpkg is pinned on these hosts"}'
jq -e '.status == "rejected" and .reason == "dpkg is pinned on these hosts"' "$T/out.json" >/dev/null || fail "reject"
expect "$T/it" POST "/api/v1/tvm/tasks/$TASK2/complete" 409

# the agent's next inventory no longer has the package: the task's device is done
stop_vigild
sqlite3 "$T/data/vigild.db" "UPDATE devices SET inventory_sha256 = NULL" || fail "sqlite3"
start_vigild
"$AGENT" run --state-dir "$T/agent" --once 2>"$T/agent2.log" || fail "agent run --once"
want='["CVE-2099-0001","CVE-2099-0002"]'
within 10 has_cves "$want" || fail "after the inventory: $(cves), expected $want"
left() { as "$T/reader" GET "/api/v1/tvm/tasks/$TASK" >/dev/null; [ "$(jq .still_vulnerable "$T/out.json")" = 0 ]; }
within 10 left || fail "task still lists devices: $(cat "$T/out.json")"
within 10 is_state compliant || fail "compliance after the inventory: $(cat "$T/out.json")"
expect "$T/reader" GET "/api/v1/devices/$ID" 200
[ "$(jq -r .exposure_level "$T/out.json")" = medium ] || fail "exposure after the inventory: $(jq -r .exposure_level "$T/out.json")"
expect "$T/it" POST "/api/v1/tvm/tasks/$TASK/complete" 200
jq -e '[.history[] | .action + ":" + .by_name] == ["created:sec-alice","accepted:it-bob","completed:it-bob"]' \
    "$T/out.json" >/dev/null || fail "history: $(jq -c .history "$T/out.json")"
"$VIGIL" --token "$(cat "$T/reader")" tvm tasks list --status completed >"$T/tasks.txt" || fail "vigil tvm tasks list"
grep -q "$TASK *vigil-test-tool *2.0-1 *high *2099-12-31 *completed *0" "$T/tasks.txt" || fail "tasks table: $(cat "$T/tasks.txt")"
[ "$("$VIGIL" --json tvm tasks list | jq .count)" = 3 ] || fail "not three tasks listed"
stop_vigild
echo "tvm: all checks passed"
