#!/bin/sh
# Integration: advisory feeds imported into a real vigild through the CLI
# (`vigil tvm import`): the public OSV samples as a folder and as a zip, the
# Debian security tracker's JSON; the rows stored (checked in the database
# with sqlite3); an import of the same origin replaces, another origin
# adds; a bad OSV record or a truncated tracker document is refused with
# the record and the reason, recorded as failed, and changes no row; a
# reader may list the imports but not import; and the scheduled re-import
# of tvm_feed_paths at start, with a missing path logged and the rest
# imported, from paths and from a loopback HTTPS server. Skips (77) without
# the samples (../shared/corpus/vuln), curl, jq, sqlite3, python3 or openssl.
set -eu

VIGILD=${VIGILD:-build/vigild}
VIGIL=${VIGIL:-build/vigil}
CORPUS=${VIGIL_VULN_CORPUS:-$(dirname "$0")/../../../shared/corpus/vuln}
. "$(dirname "$0")/lib.sh"
[ -d "$CORPUS/osv-debian-like" ] || skip "the public advisory samples are absent ($CORPUS)"
for tool in curl jq sqlite3 python3 openssl; do
    command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/install-deps.sh test)"
done
CORPUS=$(cd "$CORPUS" && pwd)

make_temp tvm-feeds
fail() { fail_with_logs "FAIL:" 40 "$*"; }

# sql QUERY: runs QUERY on vigild's database
sql() { sqlite3 "$T/data/vigild.db" "$1"; }
# rows_are FEED N: the feed holds N rows
rows_are() {
    _n=$(sql "SELECT COUNT(*) FROM tvm_affected WHERE feed = '$1'")
    [ "$_n" = "$2" ] || fail "the $1 feed holds $_n rows, not $2"
}
# snapshot FILE: every row of tvm_affected, in a fixed order
snapshot() {
    sql "SELECT feed, origin, advisory_id, cve, distro, release, source_package, introduced, fixed, status,
                severity, urgency, cvss, exploit_known, summary, modified FROM tvm_affected ORDER BY 1,2,3,4,5,6,7,8,9" >"$1"
}
# import ARG...: vigil tvm import ARG..., output in $T/import.out and $T/import.log
import() { "$VIGIL" tvm import "$@" >"$T/import.out" 2>"$T/import.log"; }
# refused TEXT ARG...: vigil tvm import ARG... fails and says TEXT
refused() {
    _text=$1
    shift
    if import "$@"; then fail "tvm import $* was accepted"; fi
    grep -qF -- "$_text" "$T/import.log" || fail "tvm import $*: no '$_text' in: $(cat "$T/import.log")"
}

PORT=$(free_port)
"$VIGILD" init --data-dir "$T/data" >"$T/token" 2>"$T/init.log" || fail "vigild init"
start_vigild
export VIGIL_SERVER="https://127.0.0.1:$PORT" VIGIL_TOKEN="$(cat "$T/token")" VIGIL_CA="$T/data/server-ca.pem"

# the OSV folder: 5 records (Debian, Freexian ELA, Ubuntu), 8 rows
OSV=$CORPUS/osv-debian-like
import "$OSV" || fail "tvm import of the OSV folder: $(cat "$T/import.log")"
grep -qF "imported the osv feed '$OSV': 5 records, 8 rows, 0 skipped" "$T/import.out" ||
    fail "unexpected output: $(cat "$T/import.out")"
rows_are osv 8
[ "$(sql "SELECT cvss, severity, status FROM tvm_affected WHERE advisory_id = 'DEBIAN-CVE-2016-1585' AND release = '12'")" = "9.8|critical|open" ] ||
    fail "DEBIAN-CVE-2016-1585 in Debian 12: $(sql "SELECT * FROM tvm_affected WHERE advisory_id = 'DEBIAN-CVE-2016-1585'")"
[ "$(sql "SELECT cve, fixed FROM tvm_affected WHERE advisory_id = 'DSA-3029-1' AND distro = 'debian' AND release = '7'")" = "CVE-2014-3616|1.2.1-2.2+wheezy3" ] ||
    fail "DSA-3029-1 not stored as expected"
[ "$(sql "SELECT distro, release, urgency FROM tvm_affected WHERE advisory_id = 'CVE-2010-5298'")" = "ubuntu|14.04|low" ] ||
    fail "the Ubuntu record not stored as expected"

# the tracker's JSON: 7 entries, 25 rows; resolved "0" is not_affected
TRACKER=$CORPUS/debian-security-tracker-json/vunnel-fixture-debian.json
cp "$TRACKER" "$T/tracker.json"
import "$T/tracker.json" --feed debian-tracker || fail "tvm import of the tracker: $(cat "$T/import.log")"
grep -qF "imported the debian-tracker feed '$T/tracker.json': 7 records, 25 rows" "$T/import.out" ||
    fail "unexpected output: $(cat "$T/import.out")"
rows_are debian-tracker 25
[ "$(sql "SELECT status, fixed FROM tvm_affected WHERE cve = 'CVE-2022-0456' AND release = '11'")" = "fixed|98.0.4758.80-1~deb11u1" ] ||
    fail "CVE-2022-0456 in Debian 11 not stored as expected"
[ "$(sql "SELECT status, quote(fixed) FROM tvm_affected WHERE cve = 'CVE-2007-2383' AND release = '9'")" = "not_affected|NULL" ] ||
    fail "CVE-2007-2383 in Debian 9 is not not_affected"
[ "$(sql "SELECT status, quote(fixed) FROM tvm_affected WHERE cve = 'CVE-2022-0456' AND release = '10'")" = "open|NULL" ] ||
    fail "CVE-2022-0456 in Debian 10 is not open"

# a bad record in the folder refuses the whole feed, naming it; nothing changes
snapshot "$T/before"
mkdir "$T/bad"
cp "$OSV"/*.json "$T/bad/"
cat >"$T/bad/zz-bad.json" <<'EOF'
{"id": "DSA-9999-1", "modified": "2024-01-01T00:00:00Z",
 "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
               "ranges": [{"type": "RANGE", "events": [{"introduced": "0"}]}]}]}
EOF
refused "record 'DSA-9999-1' in 'zz-bad.json': affected[0].ranges[0]: type must be ECOSYSTEM, SEMVER or GIT" \
    "$T/bad" --origin "$OSV"
grep -qF "nothing was changed" "$T/import.log" || fail "the refusal does not say nothing changed"
# a truncated tracker document, from the tracker's origin
head -c 3000 "$TRACKER" >"$T/tracker.json"
refused "not valid JSON" "$T/tracker.json" --feed debian-tracker
refused "package 'id': must be an object of CVE ids" "$T/bad/zz-bad.json" --feed debian-tracker
snapshot "$T/after"
cmp -s "$T/before" "$T/after" || fail "a refused feed changed rows: $(diff "$T/before" "$T/after" | head)"

# the CLI's own refusals, before any request
rc=0; import >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "tvm import without a file exited $rc, not 2"
rc=0; import "$OSV" --feed nvd || rc=$?
[ "$rc" = 2 ] && grep -qF -- "--feed must be osv or debian-tracker" "$T/import.log" || fail "--feed nvd: $(cat "$T/import.log")"
refused "cannot read '$T/nothing.json': No such file or directory" "$T/nothing.json"

# the same origin again replaces; the OSV records as a zip under another origin add
import "$OSV" || fail "tvm import of the OSV folder again: $(cat "$T/import.log")"
rows_are osv 8
python3 -c 'import sys, zipfile, glob, os
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    for f in sorted(glob.glob(os.path.join(sys.argv[2], "*.json"))):
        z.write(f, "osv/" + os.path.basename(f))' "$T/osv.zip" "$OSV"
import "$T/osv.zip" --origin osv-zip --json || fail "tvm import of a zip: $(cat "$T/import.log")"
[ "$(jq -r '.feed + " " + (.rows | tostring)' "$T/import.out")" = "osv 8" ] || fail "zip import: $(cat "$T/import.out")"
rows_are osv 16

# the imports, newest first, and what each origin holds
api "/api/v1/tvm/feeds" >"$T/feeds.json" || fail "GET /api/v1/tvm/feeds"
[ "$(jq -r '.count' "$T/feeds.json")" = 7 ] || fail "7 imports expected: $(cat "$T/feeds.json")"
[ "$(jq -r '[.value[] | select(.status == "failed")] | length' "$T/feeds.json")" = 3 ] || fail "3 failed imports expected"
jq -e '.value[] | select(.status == "failed" and .origin == "'"$OSV"'") | .error | test("DSA-9999-1")' \
    "$T/feeds.json" >/dev/null || fail "the failed import does not keep its reason"
[ "$(jq -r '.stored | map(.feed + ":" + (.rows | tostring)) | join(",")' "$T/feeds.json")" = "debian-tracker:25,osv:8,osv:8" ] ||
    fail "stored rows: $(jq -c .stored "$T/feeds.json")"

# a reader lists the imports but may not import
READER=$("$VIGIL" tokens create --role reader 2>/dev/null) || fail "tokens create"
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$T/data/server-ca.pem" -H "Authorization: Bearer $READER" \
    --data-binary "@$OSV/DSA-3029-1.osv-schema-example.json" "https://127.0.0.1:$PORT/api/v1/tvm/import")
[ "$code" = 403 ] || fail "a reader's import got HTTP $code, not 403"
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$T/data/server-ca.pem" -H "Authorization: Bearer $READER" \
    "https://127.0.0.1:$PORT/api/v1/tvm/feeds")
[ "$code" = 200 ] || fail "a reader's list got HTTP $code, not 200"

# scheduled: the configured feeds imported at start, from paths and from an
# HTTPS server verified by tvm_feed_ca_file; a missing file and a URL that
# answers 404 are logged, the others imported
mkdir "$T/www"
cp "$T/osv.zip" "$T/www/osv.zip"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$T/www-key.pem" -out "$T/www-ca.pem" 2>"$T/openssl.log" ||
    fail "openssl req"
python3 -u -c 'import http.server, ssl, sys, functools
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), h)
c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
c.load_cert_chain(sys.argv[2], sys.argv[3])
s.socket = c.wrap_socket(s.socket, server_side=True)
print("port", s.server_address[1])
s.serve_forever()' "$T/www" "$T/www-ca.pem" "$T/www-key.pem" >"$T/https.log" 2>&1 &
BG_PIDS="$BG_PIDS $!"
wait_for "$T/https.log" "port [0-9]" 10 || fail "the HTTPS server did not start: $(cat "$T/https.log")"
HP=$(sed -n 's/^port \([0-9]*\).*/\1/p' "$T/https.log" | head -n 1)
URL=https://127.0.0.1:$HP
stop_vigild
# a log of its own: the lines of the imports above must not count
mv "$T/vigild.log" "$T/vigild-api.log"
cp "$TRACKER" "$T/tracker.json"
sql "DELETE FROM tvm_affected"
printf 'tvm_feed_paths = %s, %s, %s, %s, %s\ntvm_feed_interval = 1h\ntvm_feed_ca_file = %s\n' \
    "$OSV" "$T/missing.zip" "$T/tracker.json" "$URL/osv.zip" "$URL/none.json" "$T/www-ca.pem" >>"$T/data/vigild.conf"
start_vigild
wait_for "$T/vigild.log" "cannot import the feed '$URL/none.json': the server answered HTTP 404" 30 ||
    fail "the scheduled imports did not all happen"
grep -qF "imported the debian-tracker feed '$T/tracker.json': 7 records, 25 rows" "$T/vigild.log" ||
    fail "the scheduled import of the tracker did not happen"
grep -qF "imported the osv feed '$OSV': 5 records, 8 rows" "$T/vigild.log" || fail "the scheduled OSV import did not happen"
grep -qF "imported the osv feed '$URL/osv.zip': 5 records, 8 rows" "$T/vigild.log" ||
    fail "the OSV zip was not imported from the HTTPS server"
grep -qF "cannot import the feed '$T/missing.zip'" "$T/vigild.log" || fail "the missing feed is not logged"
rows_are osv 16
rows_are debian-tracker 25
stop_vigild

# the longest interval a duration can say: one import at start, then none
# (the wait's deadline once overflowed into the past and imports ran back to back)
# A URL's user and password are used to download, and never logged,
# recorded or listed (any admin role lists the imports): "***" stands for them
mv "$T/vigild.log" "$T/vigild-scheduled.log"
printf 'tvm_feed_paths = %s, %s\ntvm_feed_interval = 9223372036854775807s\ntvm_feed_ca_file = %s\n' \
    "$T/tracker.json" "https://mirror:s3cr3t@127.0.0.1:$HP/osv.zip" "$T/www-ca.pem" >>"$T/data/vigild.conf"
start_vigild
wait_for "$T/vigild.log" "imported the osv feed 'https://\*\*\*@127.0.0.1:$HP/osv.zip': 5 records, 8 rows" 30 ||
    fail "the import of the URL with a password did not happen: $(grep tvm: "$T/vigild.log")"
grep -qF "imported the debian-tracker feed '$T/tracker.json'" "$T/vigild.log" || fail "the import at start did not happen"
! grep -q s3cr3t "$T/vigild.log" || fail "the feed URL's password is in the log"
[ "$(sql "SELECT COUNT(*) FROM tvm_feed_imports WHERE origin LIKE '%s3cr3t%'")" = 0 ] ||
    fail "the feed URL's password is recorded in tvm_feed_imports"
! api /api/v1/tvm/feeds | grep -q s3cr3t || fail "GET /api/v1/tvm/feeds lists the feed URL's password"
rows_are osv 24
sleep 2
_n=$(grep -cF "imported the debian-tracker feed '$T/tracker.json'" "$T/vigild.log")
[ "$_n" = 1 ] || fail "the tracker was imported $_n times in 2 s with a 292-billion-year interval"
stop_vigild
echo "PASS: tvm-feeds"
