#!/bin/sh
# Integration: vulnerability management end to end with the real programs.
# vigild, the agent onboarded and its real dpkg inventory sent (plus one
# made-up package, vigil-test-tool 1.0-1); advisory feeds for packages
# installed here, made by the test as a user gets them (a folder of OSV
# records, a zip of them, the Debian security tracker's JSON) and imported
# with `vigil tvm import` into the running vigild. The recompute on
# advisories_changed makes exactly the CVEs that apply appear (an open range,
# fixed above the installed version, epochs, binaries of a source of another
# name, last_affected at the installed version), and none of those that do
# not (fixed at or below the installed version, fixed_version "0", another
# release, undetermined, last_affected below); checked through the API and
# the CLI. Then: the exposure level with the device, the recommendations in
# order, a compliance policy with max_exposure_level making the device
# noncompliant and conditional access refusing it (vigild's decision
# endpoint), a task made from a recommendation with roles and history; the
# agent's next inventory without the vulnerable package makes the device
# compliant and allowed again and the task's device done; a feed re-import
# without an advisory makes its vulnerability go and the exposure level
# fall; the public samples of ../shared/corpus/vuln import and change
# nothing but what they name (skipped with a message when absent).
set -eu

VIGILD=${VIGILD:-build/vigild}
VIGIL=${VIGIL:-build/vigil}
AGENT=${VIGIL_AGENT:-build/vigil-agent}
CORPUS=${VIGIL_VULN_CORPUS:-$(dirname "$0")/../../../shared/corpus/vuln}
. "$(dirname "$0")/lib.sh"
[ -r /var/lib/dpkg/status ] || skip "no dpkg database on this machine"
for tool in jq curl sqlite3 python3 openssl; do command -v $tool >/dev/null || skip "$tool is not installed"; done
. /etc/os-release
case "$NAME" in
*Debian*) ;;
*) skip "this machine runs $NAME: the test builds a Debian security tracker document and needs Debian" ;;
esac
REL=$VERSION_ID
CODENAME=${VERSION_CODENAME:-}
[ -n "$CODENAME" ] && [ -n "$REL" ] || skip "this Debian has no VERSION_ID or VERSION_CODENAME (testing or sid)"

make_temp tvm
fail() { fail_with_logs "FAIL:" 40 "$*"; }

# as ROLE-TOKEN-FILE METHOD PATH [BODY]: the HTTP status, the body in $T/out.json
as() {
    curl -sS -o "$T/out.json" -w '%{http_code}' --cacert "$T/data/server-ca.pem" -X "$2" \
        -H "Authorization: Bearer $(cat "$1")" -H 'Content-Type: application/json' \
        ${4:+--data "$4"} "https://127.0.0.1:$PORT$3"
}
expect() { _st=$(as "$1" "$2" "$3" "${5:-}"); [ "$_st" = "$4" ] || fail "$2 $3: HTTP $_st, expected $4: $(cat "$T/out.json")"; }
# import ARG...: vigil tvm import ARG... as the security admin; fails the test if refused
import() {
    "$VIGIL" --token "$(cat "$T/sec")" tvm import "$@" >"$T/import.out" 2>"$T/import.log" ||
        fail "vigil tvm import $*: $(cat "$T/import.log")"
}

PORT=$(free_port)
onboard_agent
"$VIGIL" tokens create --role security_admin --name sec-alice >"$T/sec" 2>/dev/null || fail "token"
"$VIGIL" tokens create --role it_admin --name it-bob >"$T/it" 2>/dev/null || fail "token"
"$VIGIL" tokens create --role reader --name reader-carol >"$T/reader" 2>/dev/null || fail "token"
"$AGENT" run --state-dir "$T/agent" --once 2>"$T/agent1.log" || fail "agent run --once"
ID=$("$VIGIL" --json devices list | jq -r '.value[0].id')
[ -n "$ID" ] && [ "$ID" != null ] || fail "device not listed"
SERIAL=$(openssl x509 -in "$T/agent/device.pem" -noout -serial | sed 's/^serial=//')
# a package this machine does not have, which the agent's next inventory takes away
stop_vigild
sqlite3 "$T/data/vigild.db" "INSERT INTO device_software VALUES ('$ID', 'vigil-test-tool', '1.0-1', 'amd64', '', '')" ||
    fail "sqlite3"
start_vigild

# the device's inventory as vigild holds it: "binary source source_version" lines
expect "$T/reader" GET "/api/v1/devices/$ID/software" 200
jq -r '.value[] | .name + " " + (if .source == "" then .name else .source end) + " " +
       (if .source_version == "" then .version else .source_version end)' "$T/out.json" >"$T/inventory.txt"
grep -q '^dpkg dpkg ' "$T/inventory.txt" || fail "the inventory has no dpkg: $(head -c 300 "$T/out.json")"
# srcver SOURCE: the installed version of SOURCE; binaries SOURCE: its installed binaries
srcver() { awk -v s="$1" '$2 == s { print $3; exit }' "$T/inventory.txt"; }
binaries() { awk -v s="$1" '$2 == s { print $1 }' "$T/inventory.txt"; }
for s in dpkg tar grep sed gzip coreutils findutils glibc; do
    [ -n "$(srcver "$s")" ] || skip "source package $s is not installed here"
done
DPKG=$(srcver dpkg) COREUTILS=$(srcver coreutils) SED=$(srcver sed) GLIBC=$(srcver glibc)
# a source whose version has an epoch, and its binaries (some are named otherwise)
EPSRC=$(awk '$3 ~ /^[0-9]+:/ && $2 !~ /^(dpkg|tar|grep|sed|gzip|coreutils|findutils|glibc)$/ { print $2; exit }' "$T/inventory.txt")
[ -n "$EPSRC" ] || skip "no installed source package has an epoch"
EPVER=$(srcver "$EPSRC")
EPOCH=${EPVER%%:*} EPUP=${EPVER#*:}
[ "$(binaries glibc | grep -vcx glibc)" -gt 0 ] || fail "no binary of glibc has another name"

# ---- the advisory feeds, as a user downloads them ----
# osv DIR ID CVE ECOSYSTEM SOURCE EVENTS [RECORD-MEMBERS]: one OSV record, DIR/ID.json
osv() {
    jq -n --arg id "$2" --arg cve "$3" --arg eco "$4" --arg pkg "$5" --argjson events "$6" \
        --argjson more "${7:-{\}}" '{schema_version: "1.7.0", id: $id, modified: "2099-01-01T00:00:00Z",
        aliases: [$cve], summary: ("test advisory " + $id),
        affected: [{package: {ecosystem: $eco, name: $pkg}, ranges: [{type: "ECOSYSTEM", events: $events}]}]} + $more' \
        >"$1/$2.json" || fail "cannot write the OSV record $2"
}
HIGH='{"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"}]}'
CRITICAL='{"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
           "database_specific": {"known_exploited": true}}'
LOW='{"database_specific": {"urgency": "low"}}'
mkdir -p "$T/osv" "$T/osvzip"
# the folder: fixed above the installed version (CVSS 7.8: high); an open
# range; last_affected below (no) and at (yes) the installed version; another release (no)
osv "$T/osv" DSA-9001-1 CVE-2099-0001 "Debian:$REL" dpkg '[{"introduced": "0"}, {"fixed": "'"$DPKG"'+zz9"}]' "$HIGH"
osv "$T/osv" DSA-9002-1 CVE-2099-0002 "Debian:$REL" tar '[{"introduced": "0"}]'
osv "$T/osv" DSA-9003-1 CVE-2099-0003 "Debian:$REL" grep '[{"introduced": "0"}, {"last_affected": "0.1"}]'
osv "$T/osv" DSA-9004-1 CVE-2099-0004 "Debian:$((REL - 1))" gzip '[{"introduced": "0"}, {"fixed": "99:1"}]'
osv "$T/osv" DSA-9005-1 CVE-2099-0005 "Debian:$REL" sed '[{"introduced": "0"}, {"last_affected": "'"$SED"'"}]'
# the zip: the made-up package (critical, exploited); glibc, whose binaries
# are named otherwise; epochs: a higher epoch matches, the same upstream
# version without the epoch is older than what is installed
osv "$T/osvzip" DSA-9006-1 CVE-2099-0006 "Debian:$REL" vigil-test-tool '[{"introduced": "0"}, {"fixed": "2.0-1"}]' "$CRITICAL"
osv "$T/osvzip" DSA-9007-1 CVE-2099-0007 "Debian:$REL" glibc '[{"introduced": "0"}, {"fixed": "'"$GLIBC"'+zz9"}]' "$LOW"
osv "$T/osvzip" DSA-9008-1 CVE-2099-0008 "Debian:$REL" "$EPSRC" '[{"introduced": "0"}, {"fixed": "'"$((EPOCH + 1))"':0.1"}]' "$LOW"
osv "$T/osvzip" DSA-9009-1 CVE-2099-0009 "Debian:$REL" "$EPSRC" '[{"introduced": "0"}, {"fixed": "'"$EPUP"'+zz9"}]' "$LOW"
(cd "$T/osvzip" && python3 -m zipfile -c "$T/osv.zip" ./*.json) || fail "cannot make the zip"
# the tracker: fixed above (yes), below (no), in another release (no); fixed
# at the installed version (no); fixed_version "0" (no); undetermined (no by
# default); open (yes)
if [ "$CODENAME" = bullseye ]; then OTHER=buster; else OTHER=bullseye; fi
jq -n --arg rel "$CODENAME" --arg other "$OTHER" --arg coreutils "$COREUTILS+zz9" --arg dpkg "$DPKG" '
  def r(st; v; u): {status: st, repositories: {}, urgency: u} + (if v == null then {} else {fixed_version: v} end);
  {coreutils: {"CVE-2099-0010": {description: "test", releases: {($rel): r("resolved"; $coreutils; "medium")}},
               "CVE-2099-0011": {description: "test", releases: {($rel): r("resolved"; "1.0-1"; "high")}},
               "CVE-2099-0012": {description: "test", releases: {($other): r("resolved"; "99:1"; "high")}}},
   dpkg: {"CVE-2099-0013": {description: "test", releases: {($rel): r("resolved"; $dpkg; "high")}}},
   tar: {"CVE-2099-0014": {description: "test", releases: {($rel): r("resolved"; "0"; "high")}}},
   grep: {"CVE-2099-0015": {description: "test", releases: {($rel): r("undetermined"; null; "high")}}},
   findutils: {"CVE-2099-0016": {description: "test", releases: {($rel): r("open"; null; "low**")}}}}' \
    >"$T/tracker.json" || fail "cannot write the tracker document"

# expected CVE SOURCE...: the "CVE binary" lines of the CVE on every binary of each SOURCE
expected() { _c=$1; shift; for _s in "$@"; do binaries "$_s" | sed "s/^/$_c /"; done; }
want_all() {
    {
        expected CVE-2099-0001 dpkg; expected CVE-2099-0002 tar; expected CVE-2099-0005 sed
        [ "${1:-}" = upgraded ] || echo "CVE-2099-0006 vigil-test-tool"
        expected CVE-2099-0007 glibc; expected CVE-2099-0008 "$EPSRC"; expected CVE-2099-0010 coreutils
        expected CVE-2099-0016 findutils
    } | LC_ALL=C sort
}
# got: the device's "CVE binary" lines as the API gives them
got() {
    as "$T/reader" GET "/api/v1/devices/$ID/vulnerabilities" >/dev/null
    jq -r '.value[] | .cve + " " + .package' "$T/out.json" | LC_ALL=C sort
}
same() { got >"$T/got.txt"; cmp -s "$T/got.txt" "$1"; }
differ() { echo "$(diff "$1" "$T/got.txt" | grep '^[<>]' | head -n 20 | tr '\n' ';')"; }
level() { as "$T/reader" GET "/api/v1/devices/$ID" >/dev/null; jq -r .exposure_level "$T/out.json"; }
level_is() { [ "$(level)" = "$1" ]; }

# assessed, nothing imported yet: no vulnerability
within 10 level_is none || fail "exposure before any feed: $(level), expected none"

# compliance: at most medium exposure; conditional access wants a compliant device
cat >"$T/policy.json" <<'EOF2'
{"name": "Exposure at most medium", "platform": "linux", "settings": {"max_exposure_level": "medium"},
 "actions": [{"type": "mark_noncompliant", "grace_hours": 0}], "assignments": {"include": ["all_devices"]}}
EOF2
"$VIGIL" policy apply -f "$T/policy.json" >/dev/null || fail "policy apply"
cat >"$T/access.json" <<'EOF2'
{"policies": [{"name": "Intranet needs a compliant device", "state": "enabled", "users": {"include": ["all"]},
  "applications": {"include": [{"name": "intranet", "host": "intranet.example.test", "path_prefix": "/"}]},
  "grant": {"controls": ["compliant_device"]}}]}
EOF2
"$VIGIL" access apply -f "$T/access.json" >"$T/access-apply.log" 2>&1 || fail "access apply: $(cat "$T/access-apply.log")"
state() { as "$T/reader" GET "/api/v1/devices/$ID/compliance" >/dev/null; jq -r .state "$T/out.json"; }
is_state() { [ "$(state)" = "$1" ]; }
# decide: what vigild's decision endpoint answers the proxy for this device's certificate
decide() {
    curl -sS -o /dev/null -D "$T/decide.h" -w '%{http_code}' -H 'Host: intranet.example.test' \
        -H 'X-Original-URI: /wiki/' -H 'X-Original-Method: GET' -H 'X-Real-IP: 203.0.113.7' \
        -H 'X-Vigil-Client-Verify: SUCCESS' -H "X-Vigil-Client-Serial: $SERIAL" \
        "http://127.0.0.1:$(cat "$T/access-port")/v1/decide"
}
decides() { [ "$(decide)" = "$1" ]; }
# the decision follows the compliance state within the snapshot's latency
denied() { [ "$(decide)" = 403 ] && grep -qi "^X-Vigil-Reason:.*exposure high is above the allowed medium" "$T/decide.h"; }
within 10 is_state compliant || fail "compliance before any feed: $(cat "$T/out.json")"
within 10 decides 200 || fail "access before any feed: $(decide), expected 200: $(cat "$T/decide.h")"

import "$T/osv"
grep -qF "imported the osv feed '$T/osv': 5 records" "$T/import.out" || fail "folder import: $(cat "$T/import.out")"
import "$T/osv.zip"
grep -qF "imported the osv feed '$T/osv.zip': 4 records" "$T/import.out" || fail "zip import: $(cat "$T/import.out")"
import "$T/tracker.json" --feed debian-tracker
grep -qF "imported the debian-tracker feed '$T/tracker.json': 7 records" "$T/import.out" ||
    fail "tracker import: $(cat "$T/import.out")"
want_all >"$T/want.txt"
within 10 same "$T/want.txt" || fail "vulnerabilities after the imports, -expected +got: $(differ "$T/want.txt")"
within 10 level_is high || fail "exposure $(level), expected high"
# the imports alone make the device noncompliant and refused
within 10 is_state noncompliant || fail "compliance: $(cat "$T/out.json"), expected noncompliant"
grep -q "exposure high is above the allowed medium" "$T/out.json" || fail "no exposure reason: $(cat "$T/out.json")"
within 10 denied || fail "access for the exposed device: $(decide), expected 403 for its exposure: $(cat "$T/decide.h")"

# the rows as the API and the CLI give them
expect "$T/reader" GET "/api/v1/tvm/vulnerabilities?cve=CVE-2099-0010" 200
jq -e '.count == 1 and (.value[0] | .package == "coreutils" and .fixed_version == "'"$COREUTILS"'+zz9" and
       .rating == "medium" and .urgency == "medium" and .cvss == null and .advisory_id == "CVE-2099-0010" and
       .distro == "debian" and .release == "'"$REL"'")' "$T/out.json" >/dev/null || fail "coreutils row: $(cat "$T/out.json")"
expect "$T/reader" GET "/api/v1/tvm/vulnerabilities?cve=CVE-2099-0001&device=$ID" 200
jq -e '.value[] | select(.package == "dpkg") | .cvss == 7.8 and .severity == "high" and .advisory_id == "DSA-9001-1" and
       .installed_version == "'"$DPKG"'"' "$T/out.json" >/dev/null || fail "dpkg row: $(cat "$T/out.json")"
expect "$T/reader" GET "/api/v1/tvm/vulnerabilities?cve=CVE-2099-0002" 200
jq -e '.value[0].fixed_version == null and .value[0].rating == "medium"' "$T/out.json" >/dev/null ||
    fail "open range row: $(cat "$T/out.json")"
expect "$T/reader" GET "/api/v1/tvm/vulnerabilities?cve=CVE-2099-0008" 200
jq -e '[.value[].fixed_version] | unique == ["'"$((EPOCH + 1))"':0.1"]' "$T/out.json" >/dev/null ||
    fail "epoch row: $(cat "$T/out.json")"
expect "$T/reader" GET "/api/v1/tvm/vulnerabilities?cve=CVE-2099-0016" 200
jq -e '.value[0].urgency == "low**" and .value[0].rating == "low"' "$T/out.json" >/dev/null ||
    fail "open tracker row: $(cat "$T/out.json")"
expect "$T/reader" GET "/api/v1/tvm/vulnerabilities?device=$ID&severity=critical" 200
jq -e '.count == 1 and .value[0].exploit_known and .value[0].cvss == 9.8' "$T/out.json" >/dev/null || fail "critical filter"
expect "$T/reader" GET "/api/v1/tvm/vulnerabilities?severity=severe" 400
"$VIGIL" --token "$(cat "$T/reader")" tvm vulns --device "$ID" >"$T/vulns.txt" || fail "vigil tvm vulns"
grep -q "CVE-2099-0001 *dpkg *$DPKG" "$T/vulns.txt" || fail "CLI table: $(cat "$T/vulns.txt")"
"$VIGIL" --token "$(cat "$T/reader")" --json tvm vulns --device "$ID" --limit 1000 >"$T/vulns.json" || fail "vigil tvm vulns --json"
jq -r '.value[] | .cve + " " + .package' "$T/vulns.json" | LC_ALL=C sort | cmp -s - "$T/want.txt" ||
    fail "vigil tvm vulns --json: $(jq -c '[.value[].cve]' "$T/vulns.json")"

# recommendations, one per source and release, by impact (critical and
# exploited 20, high 5, medium 2, low 1 per device; none without a fix), then name
OS="Debian $REL"
"$VIGIL" --token "$(cat "$T/reader")" tvm recommendations >"$T/recs.txt" || fail "vigil tvm recommendations"
cat >"$T/recs-want.txt" <<EOF2
upgrade vigil-test-tool to 2.0-1 or later ($OS) — affects 1 device, fixes 1 CVE (1 high)
upgrade dpkg to $DPKG+zz9 or later ($OS) — affects 1 device, fixes 1 CVE (1 high)
upgrade coreutils to $COREUTILS+zz9 or later ($OS) — affects 1 device, fixes 1 CVE (0 high)
EOF2
for s in "$EPSRC" glibc; do echo "$s"; done | LC_ALL=C sort | while read -r s; do
    if [ "$s" = glibc ]; then v="$GLIBC+zz9"; else v="$((EPOCH + 1)):0.1"; fi
    echo "upgrade $s to $v or later ($OS) — affects 1 device, fixes 1 CVE (0 high)"
done >>"$T/recs-want.txt"
for s in findutils sed tar; do echo "no fix yet for $s ($OS) — affects 1 device, 1 CVE open"; done >>"$T/recs-want.txt"
cmp -s "$T/recs.txt" "$T/recs-want.txt" || fail "recommendations: $(diff "$T/recs-want.txt" "$T/recs.txt" | tr '\n' ';')"
expect "$T/reader" GET "/api/v1/tvm/recommendations?package=vigil-test-tool" 200
jq -e '.value == [{"package": "vigil-test-tool", "distro": "debian", "release": "'"$REL"'", "fixed_version": "2.0-1",
       "devices": 1, "cves": 1, "fixes_cves": 1, "fixes_high": 1, "open_cves": 0, "exploited_cves": 1, "impact": 20,
       "text": "upgrade vigil-test-tool to 2.0-1 or later ('"$OS"') — affects 1 device, fixes 1 CVE (1 high)"}]' \
    "$T/out.json" >/dev/null || fail "the vigil-test-tool recommendation: $(cat "$T/out.json")"

# a task from the recommendation: security_admin creates, it_admin acts
task='{"package":"vigil-test-tool","priority":"high","due_date":"2099-12-31","notes":"roll out 2.0-1"}'
expect "$T/reader" POST /api/v1/tvm/tasks 403 "$task"
expect "$T/it" POST /api/v1/tvm/tasks 403 "$task"
expect "$T/sec" POST /api/v1/tvm/tasks 400 '{"package":"vigil-test-tool","priority":"urgent"}'
expect "$T/sec" POST /api/v1/tvm/tasks 400 '{"package":"vigil-test-tool","priority":"high","due_date":"2099-02-30"}'
expect "$T/sec" POST /api/v1/tvm/tasks 400 '{"package":"vigil-test-tool","priority":"high","due_date":"2020-01-01"}'
grep -q "must not be before today" "$T/out.json" || fail "a due date in the past: $(cat "$T/out.json")"
expect "$T/sec" POST /api/v1/tvm/tasks 404 '{"package":"no-such-package","priority":"high"}'
expect "$T/sec" POST /api/v1/tvm/tasks 404 '{"package":"vigil-test-tool","priority":"high","release":"0"}'
expect "$T/sec" POST /api/v1/tvm/tasks 409 '{"package":"tar","priority":"high"}'
expect "$T/sec" POST /api/v1/tvm/tasks 201 "$task"
TASK=$(jq -r .id "$T/out.json")
jq -e '.status == "pending" and .fixed_version == "2.0-1" and .distro == "debian" and .release == "'"$REL"'" and
       .still_vulnerable == 1 and
       .devices_still_vulnerable == [{"device_id": "'"$ID"'", "cves": ["CVE-2099-0006"]}]' "$T/out.json" >/dev/null ||
    fail "new task: $(cat "$T/out.json")"
expect "$T/sec" POST "/api/v1/tvm/tasks/$TASK/accept" 403
expect "$T/it" POST "/api/v1/tvm/tasks/$TASK/reject" 400 '{}'
# the task's reason is its rejection's: an accept takes none
expect "$T/it" POST "/api/v1/tvm/tasks/$TASK/accept" 400 '{"reason":"on it"}'
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

# the agent's next inventory no longer has the package ("upgraded"): the
# device is compliant and allowed again, the task's device done
stop_vigild
sqlite3 "$T/data/vigild.db" "UPDATE devices SET inventory_sha256 = NULL" || fail "sqlite3"
start_vigild
"$AGENT" run --state-dir "$T/agent" --once 2>"$T/agent2.log" || fail "agent run --once"
want_all upgraded >"$T/want.txt"
within 10 same "$T/want.txt" || fail "after the inventory, -expected +got: $(differ "$T/want.txt")"
left() { as "$T/reader" GET "/api/v1/tvm/tasks/$TASK" >/dev/null; [ "$(jq .still_vulnerable "$T/out.json")" = 0 ]; }
within 10 left || fail "task still lists devices: $(cat "$T/out.json")"
within 10 is_state compliant || fail "compliance after the inventory: $(cat "$T/out.json")"
within 10 level_is medium || fail "exposure after the inventory: $(level), expected medium"
within 10 decides 200 || fail "access for the upgraded device: $(decide), expected 200: $(cat "$T/decide.h")"
expect "$T/it" POST "/api/v1/tvm/tasks/$TASK/complete" 200
jq -e '[.history[] | .action + ":" + .by_name] == ["created:sec-alice","accepted:it-bob","completed:it-bob"]' \
    "$T/out.json" >/dev/null || fail "history: $(jq -c .history "$T/out.json")"
"$VIGIL" --token "$(cat "$T/reader")" tvm tasks list --status completed >"$T/tasks.txt" || fail "vigil tvm tasks list"
grep -q "$TASK *vigil-test-tool *2.0-1 *high *2099-12-31 *completed *0" "$T/tasks.txt" || fail "tasks table: $(cat "$T/tasks.txt")"
[ "$("$VIGIL" --json tvm tasks list | jq .count)" = 3 ] || fail "not three tasks listed"

# the folder imported again without DSA-9001-1: its CVE goes, and with it
# the only high one, so the exposure level falls to low
rm "$T/osv/DSA-9001-1.json"
import "$T/osv"
grep -qF "imported the osv feed '$T/osv': 4 records" "$T/import.out" || fail "re-import: $(cat "$T/import.out")"
grep -v '^CVE-2099-0001 ' "$T/want.txt" >"$T/want2.txt"
within 10 same "$T/want2.txt" || fail "after the re-import, -expected +got: $(differ "$T/want2.txt")"
within 10 level_is low || fail "exposure after the re-import: $(level), expected low"
"$VIGIL" --token "$(cat "$T/reader")" tvm recommendations >"$T/recs.txt" || fail "vigil tvm recommendations"
grep -q "dpkg" "$T/recs.txt" && fail "dpkg is still recommended: $(cat "$T/recs.txt")"

# the public samples: they import, and change nothing but what they name
# (CVE-2016-1585 is open in Debian 12 for every apparmor binary installed)
if [ -d "$CORPUS/osv-debian-like" ]; then
    as "$T/reader" GET "/api/v1/devices/$ID/vulnerabilities" >/dev/null
    jq -S .value "$T/out.json" >"$T/before.json"
    import "$CORPUS/osv-debian-like"
    grep -qF "5 records, 8 rows, 0 skipped" "$T/import.out" || fail "the OSV samples: $(cat "$T/import.out")"
    import "$CORPUS/debian-security-tracker-json/vunnel-fixture-debian.json" --feed debian-tracker
    grep -qF "7 records, 25 rows" "$T/import.out" || fail "the tracker sample: $(cat "$T/import.out")"
    {
        cat "$T/want2.txt"
        [ "$REL" = 12 ] && expected CVE-2016-1585 apparmor
    } | LC_ALL=C sort >"$T/want3.txt"
    within 10 same "$T/want3.txt" || fail "after the samples, -expected +got: $(differ "$T/want3.txt")"
    jq -S '[.value[] | select(.cve | startswith("CVE-2099-"))]' "$T/out.json" | cmp -s - "$T/before.json" ||
        fail "the samples changed the test's vulnerabilities"
else
    echo "tvm: the public advisory samples are absent ($CORPUS): not imported"
fi
stop_vigild
echo "tvm: all checks passed"
