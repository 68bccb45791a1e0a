#!/bin/sh
# bench/access/run.sh BUILD_DIR [DEVICES] [POLICIES] [SECONDS] [RUNS]: what a
# conditional access decision costs over HTTP, on a real vigild holding
# DEVICES devices (default 100,000) and POLICIES access policies (default
# 1,000), with wrk (one thread, 32 keep-alive connections, SECONDS per run,
# default 10, RUNS runs of each, default 3; the medians are printed):
#
#   a. the decision endpoint alone: GET /v1/decide with the headers nginx's
#      /_vigil location sends, real devices' serials (the fleet's, in the
#      database), a mix of hosts, paths, users and client addresses
#      (requests.lua): requests/s and latency p50/p99, and the mix of
#      answers;
#   b. nginx serving a small static page with auth_request to vigild (the
#      shipped examples/nginx snippet and upstream; the device's serial comes
#      from a request header, since wrk presents no client certificate)
#      against the same nginx location without auth_request, runs
#      alternating: requests/s, p50/p99 and their ratios.
#
# The fleet is stored with SQL in enroll's devices table while vigild is
# stopped (as bench-compliance-store does), 1 device in 50 with a high risk
# in defend's table; the example compliance policy (max risk medium) makes
# those noncompliant; the access policies and 16 named locations are
# applied in one POST /api/v1/access/apply. Everything runs on this machine
# (wrk, nginx and vigild share its cores) in a temporary folder removed at
# the end. Figures only: nothing passes or fails on a number.
set -eu

BUILD=${1:-build}
DEVICES=${2:-100000}
POLICIES=${3:-1000}
SECS=${4:-10}
RUNS=${5:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VIGILD=$BUILD/vigild
VIGIL=$BUILD/vigil
. "$ROOT/tests/integration/lib.sh"
. "$ROOT/tests/integration/access-lib.sh"
for p in wrk nginx sqlite3 jq curl python3; do
    command -v "$p" >/dev/null || skip "$p is not installed (scripts/install-deps.sh test installs it)"
done
[ -x "$VIGILD" ] || { echo "bench-access: no vigild in '$BUILD'" >&2; exit 1; }

fail() { fail_with_logs bench-access: 30 "$*"; }

WWW=""
bench_cleanup() {
    proxy_stop
    [ -z "$WWW" ] || rm -rf "$WWW"
    end_processes
    remove_temp
}
make_temp bench-access
trap bench_cleanup EXIT

# median: the median of the numbers on stdin, one a line
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# ---- vigild with the fleet
PORT=$(free_port)
"$VIGILD" init --data-dir "$T/data" >"$T/token" 2>"$T/init.log" || fail "vigild init"
echo "access_user_header = X-Forwarded-User" >>"$T/data/vigild.conf"
start_vigild_access
stop_vigild
t0=$(date +%s%N)
now=$(date +%s)
sqlite3 "$T/data/vigild.db" >"$T/sqlite.log" 2>&1 <<EOF || fail "storing the fleet: $(cat "$T/sqlite.log")"
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $DEVICES)
INSERT INTO devices (id, name, os_version, disk_encryption, firewall, secure_boot, enrolled_at,
                     enroll_token_id, last_seen, cert_serial, cert_fingerprint, cert_not_after, inventory_at)
SELECT printf('%08x-0000-4000-8000-%012x', i, i), printf('bench-%d', i), CASE i % 4 WHEN 0 THEN '11' ELSE '12' END,
       'encrypted', 'active', 'enabled', $now - 86400, 'bench', $now, printf('4%031x', i), printf('%064x', i),
       $now + 31536000, $now FROM n;
INSERT INTO defend_device_risk (device_id, risk, risk_rank, changed_at)
SELECT printf('%08x-0000-4000-8000-%012x', i, i), 'high', 4, $now FROM
    (WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 50 FROM n WHERE i + 50 < $DEVICES) SELECT i FROM n);
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < 40)
INSERT INTO manage_user_groups (id, name, created_at, updated_at) SELECT 'g-' || i, 'g-' || i, $now, $now FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < 500)
INSERT INTO manage_users (id, upn, created_at, updated_at) SELECT 'u-' || i, 'user' || i || '@example.com', $now, $now
FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < 500)
INSERT OR IGNORE INTO manage_user_group_members (group_id, user_id)
SELECT 'g-' || ((i * k) % 40), 'u-' || i FROM n, (SELECT 1 AS k UNION SELECT 7 UNION SELECT 13) WHERE k <= 1 + 6 * (i % 4);
COMMIT;
EOF
echo "stored $DEVICES devices, 500 users in 40 groups in $(( ($(date +%s%N) - t0) / 1000000 )) ms"

start_vigild_access
export VIGIL_SERVER="https://127.0.0.1:$PORT" VIGIL_TOKEN="$(cat "$T/token")" VIGIL_CA="$T/data/server-ca.pem"
t0=$(date +%s%N)
"$VIGIL" policy apply -f "$ROOT/examples/compliance-max-risk-medium.json" >"$T/policy.log" 2>&1 ||
    fail "compliance policy apply: $(cat "$T/policy.log")"
# every device has a state: the report counts devices by the state stored
evaluated() {
    [ "$(admin GET "/api/v1/compliance/report?limit=1" |
         jq '[.devices | to_entries[] | select(.key != "not_evaluated") | .value] | add // 0')" -ge "$DEVICES" ]
}
within 600 evaluated || fail "the fleet was not evaluated within 600 s"
echo "compliance of $DEVICES devices evaluated in $(( ($(date +%s%N) - t0) / 1000000 )) ms"

# ---- the policies: one for the host of part b, the rest a mix as in
# bench-access-eval, each for one of 50 hosts (never "all" applications, so
# that part b's host is decided by its own policy while every policy is
# evaluated)
python3 - "$POLICIES" >"$T/bundle.json" <<'PY'
import json, random, sys
n = int(sys.argv[1])
rnd = random.Random(20261130)
locations = [{"id": "loc-%d" % i, "ranges": ["10.%d.0.0/16" % i, "172.16.%d.0/24" % i, "2001:db8:%x::/48" % i],
              "trusted": i % 4 == 0} for i in range(16)]
grants = [{"controls": ["compliant_device"]}, {"controls": ["enrolled_device"]},
          {"controls": ["compliant_device", "enrolled_device"], "operator": "and"},
          {"controls": ["compliant_device", "enrolled_device"], "operator": "or"}]
policies = [{"name": "Bench needs a compliant device", "state": "enabled", "users": {"include": ["all"]},
             "applications": {"include": [{"name": "bench", "host": "bench.example.test", "path_prefix": "/"}]},
             "grant": {"controls": ["compliant_device"]}}]
for i in range(1, n):
    if rnd.randrange(4) == 0:
        users = {"include": ["all"], "exclude": ["g-%d" % rnd.randrange(40)]}
    else:
        users = {"include": ["g-%d" % rnd.randrange(40), "g-%d" % rnd.randrange(40),
                             "user%d@example.com" % rnd.randrange(500)]}
    apps = {"include": [{"name": "app", "host": "app%d.example.com" % rnd.randrange(50),
                         "path_prefix": "/p%d" % rnd.randrange(3)}]}
    c = rnd.randrange(4)
    cond = [{"platforms": ["linux"]},
            {"locations": {"include": ["all"], "exclude": ["trusted", "loc-%d" % rnd.randrange(16)]}},
            {"device_filter": 'not (device.tags contains "kiosk") and device.os_version >= "12"'}, {}][c]
    s = rnd.randrange(20)
    policies.append({"name": "policy %d" % i, "state": "enabled" if s < 17 else "report_only" if s < 19 else "disabled",
                     "users": users, "applications": apps, "conditions": cond,
                     "grant": {"block": True} if rnd.randrange(50) == 0 else grants[rnd.randrange(4)]})
json.dump({"locations": locations, "policies": policies}, sys.stdout)
PY
t0=$(date +%s%N)
admin POST /api/v1/access/apply "@$T/bundle.json" >"$T/apply.json" || fail "access apply: $(cat "$T/apply.json")"
echo "applied $(jq '.created | length' "$T/apply.json") policies and locations in $(( ($(date +%s%N) - t0) / 1000000 )) ms"

# decide SERIAL: the status vigild's decision endpoint gives the bench host
# for a device with this serial (none: NONE)
decide() {
    curl -s -o /dev/null -w '%{http_code}' -H "X-Original-Method: GET" -H "X-Original-URI: /" \
        -H "X-Forwarded-Host: bench.example.test" -H "X-Real-IP: 127.0.0.1" \
        -H "X-Vigil-Client-Verify: $([ "$1" = NONE ] && echo NONE || echo SUCCESS)" \
        -H "X-Vigil-Client-Serial: $1" "http://127.0.0.1:$ACCESS_PORT/v1/decide"
}
live() { [ "$(decide NONE)" = 401 ]; }
within 30 live || fail "the bench policy is not enforced within 30 s (no device: $(decide NONE))"
# Every device's serial (upper-case hex, as nginx gives it) asked once for
# the bench host: 200 a compliant device, 403 one with a high risk, 401 a
# certificate the snapshot does not know; the runs use the devices it
# identifies (serials-all) and the compliant ones (serials-compliant).
sqlite3 "$T/data/vigild.db" "SELECT upper(cert_serial) FROM devices WHERE enroll_token_id = 'bench'" >"$T/serials"
python3 - "$ACCESS_PORT" "$T/serials" "$T/serials-all" "$T/serials-compliant" "$T/serials-risky" <<'PY' ||
import http.client, sys
port, src, known, compliant, risky = sys.argv[1:]
c = http.client.HTTPConnection("127.0.0.1", int(port))
counts = {}
with open(src) as f, open(known, "w") as k, open(compliant, "w") as ok, open(risky, "w") as bad:
    for serial in f.read().split():
        c.request("GET", "/v1/decide", headers={"X-Original-Method": "GET", "X-Original-URI": "/",
                  "X-Forwarded-Host": "bench.example.test", "X-Real-IP": "127.0.0.1",
                  "X-Vigil-Client-Verify": "SUCCESS", "X-Vigil-Client-Serial": serial})
        r = c.getresponse()
        r.read()
        counts[r.status] = counts.get(r.status, 0) + 1
        if r.status in (200, 403):
            k.write(serial + "\n")
        if r.status == 200:
            ok.write(serial + "\n")
        if r.status == 403:
            bad.write(serial + "\n")
print("devices asked once: " + ", ".join("%d: %d" % (s, n) for s, n in sorted(counts.items())) +
      " (200 compliant, 403 high risk, 401 certificate unknown to the snapshot)")
PY
    fail "sorting the serials"
[ -s "$T/serials-compliant" ] && [ -s "$T/serials-risky" ] || fail "no device was allowed, or none refused"
[ "$(decide NONE)" = 401 ] || fail "no certificate: $(decide NONE), want 401"
n_known=$(wc -l <"$T/serials-all")
[ "$n_known" = "$DEVICES" ] ||
    echo "WARNING: the decision endpoint identifies $n_known of $DEVICES devices; the runs use those"

# ---- a. the decision endpoint alone
L=$ROOT/bench/access/requests.lua
W="wrk -t1 -c32 -d${SECS}s --latency"
BENCH_COUNT=1 wrk -t1 -c32 -d2s -s "$L" "http://127.0.0.1:$ACCESS_PORT/v1/decide" -- "$T/serials-all" decide \
    >"$T/mix.out" 2>&1 || fail "wrk: $(cat "$T/mix.out")"
echo
echo "a. GET /v1/decide, $DEVICES devices, $POLICIES policies, wrk -t1 -c32 -d${SECS}s, $RUNS runs"
echo "   answers (a 2 s run): $(sed -n 's/^wrk-statuses //p' "$T/mix.out")"
: >"$T/a"
for r in $(seq "$RUNS"); do
    $W -s "$L" "http://127.0.0.1:$ACCESS_PORT/v1/decide" -- "$T/serials-all" decide >"$T/a.$r" 2>&1 ||
        fail "wrk: $(cat "$T/a.$r")"
    sed -n 's/^wrk-result //p' "$T/a.$r" | tee -a "$T/a" |
        awk '{ printf "   run: %d req/s, p50 %d us, p99 %d us (%d requests, %d sockets errors)\n", $1, $2, $3, $4, $6 }'
done
echo "   median: $(cut -d' ' -f1 "$T/a" | median) req/s, p50 $(cut -d' ' -f2 "$T/a" | median) us," \
     "p99 $(cut -d' ' -f3 "$T/a" | median) us"

# ---- b. nginx with and without auth_request
WWW=$(mktemp -d /tmp/vigil-bench-www-XXXXXX)
chmod 755 "$WWW"
mkdir -p "$WWW/with-vigil" "$WWW/without"
python3 -c 'print("<!doctype html><title>Intranet</title><h1>Intranet</h1>" + "<p>news of the day</p>" * 20)' |
    tee "$WWW/with-vigil/index.html" >"$WWW/without/index.html"
chmod -R a+rX "$WWW"
N=$T/nginx
mkdir -p "$N/conf.d" "$N/snippets"
cp "$ROOT/examples/nginx/conf.d/vigil-access.conf" "$N/conf.d/"
cp "$ROOT/examples/nginx/snippets/vigil-access.conf" "$N/snippets/"
substitute "$N/conf.d/vigil-access.conf" "server 127.0.0.1:8444;" "server 127.0.0.1:$ACCESS_PORT;"
substitute "$N/snippets/vigil-access.conf" 'X-Vigil-Client-Verify $ssl_client_verify;' 'X-Vigil-Client-Verify SUCCESS;'
substitute "$N/snippets/vigil-access.conf" 'X-Vigil-Client-Serial $ssl_client_serial;' \
    'X-Vigil-Client-Serial $http_x_bench_serial;'
NPORT=$(free_port)
cat >"$N/nginx.conf" <<EOF
worker_processes 1;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $N/tmp-body;
    proxy_temp_path $N/tmp-proxy;
    fastcgi_temp_path $N/tmp-fastcgi;
    uwsgi_temp_path $N/tmp-uwsgi;
    scgi_temp_path $N/tmp-scgi;
    include conf.d/vigil-access.conf;
    server {
        listen 127.0.0.1:$NPORT;
        server_name bench.example.test;
        root $WWW;
        include snippets/vigil-access.conf;
        location /with-vigil/ { }
        location /without/ { auth_request off; }
    }
}
EOF
G="daemon off; pid $N/nginx.pid; error_log $T/nginx-error.log;"
nginx -t -c "$N/nginx.conf" -p "$N/" -g "$G" >"$T/nginx-t.log" 2>&1 || fail "nginx -t: $(cat "$T/nginx-t.log")"
nginx -c "$N/nginx.conf" -p "$N/" -g "$G" >>"$T/nginx-error.log" 2>&1 &
PROXY_PID=$!
nginx_up() { curl -s -o /dev/null "http://127.0.0.1:$NPORT/without/index.html"; }
within 10 nginx_up || fail "nginx did not start"
page() {
    curl -s -o /dev/null -w '%{http_code}' -H "Host: bench.example.test" -H "X-Bench-Serial: $2" \
        "http://127.0.0.1:$NPORT$1"
}
ok=$(page /with-vigil/index.html "$(head -n 1 "$T/serials-compliant")")
bad=$(page /with-vigil/index.html "$(head -n 1 "$T/serials-risky")")
[ "$ok" = 200 ] && [ "$bad" = 403 ] || fail "nginx: compliant device $ok (want 200), high-risk device $bad (want 403)"

echo
echo "b. nginx (1 worker) serving a $(wc -c <"$WWW/without/index.html")-byte page over HTTP, wrk -t1 -c32 -d${SECS}s, $RUNS runs each, alternating"
: >"$T/without"
: >"$T/with"
for r in $(seq "$RUNS"); do
    for m in without with; do
        $W -s "$L" "http://127.0.0.1:$NPORT/" -- "$T/serials-compliant" "$m" >"$T/$m.$r" 2>&1 ||
            fail "wrk: $(cat "$T/$m.$r")"
        sed -n 's/^wrk-result //p' "$T/$m.$r" | tee -a "$T/$m" |
            awk -v m="$m" '{ printf "   %-7s: %d req/s, p50 %d us, p99 %d us (%d requests, %d not 2xx, %d socket errors)\n",
                              m, $1, $2, $3, $4, $5, $6 }'
    done
done
for m in without with; do
    eval "${m}_rps=\$(cut -d' ' -f1 \"\$T/\$m\" | median)"
    eval "${m}_p50=\$(cut -d' ' -f2 \"\$T/\$m\" | median)"
    eval "${m}_p99=\$(cut -d' ' -f3 \"\$T/\$m\" | median)"
done
# shellcheck disable=SC2154
{
    echo "   median without auth_request: $without_rps req/s, p50 $without_p50 us, p99 $without_p99 us"
    echo "   median with auth_request:    $with_rps req/s, p50 $with_p50 us, p99 $with_p99 us"
    awk -v a="$with_rps" -v b="$without_rps" -v c="$with_p50" -v d="$without_p50" -v e="$with_p99" -v f="$without_p99" \
        'BEGIN { printf "   ratio with/without: throughput x%.2f, p50 x%.2f, p99 x%.2f\n", a / b, c / d, e / f }'
}

# What the access log kept: alike decisions are stored as one row with a
# count, and a writer that falls behind drops decisions rather than slow
# the endpoint down.
sleep 1
echo "access log: $(sqlite3 "$T/data/access-log.db" "SELECT coalesce(sum(count), 0) FROM access_log") decisions" \
     "stored in $(sqlite3 "$T/data/access-log.db" "SELECT count(*) FROM access_log") rows;" \
     "$(grep "not logged" "$T/vigild.log" | tail -n 1 | sed 's/^.*access log: //')"
