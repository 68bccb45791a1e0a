# Shell functions shared by the conditional access tests through a real
# reverse proxy (access-nginx.sh, access-caddy.sh, scenario.sh) and
# bench/time-to-block, which source it after lib.sh:
#     . "$(dirname "$0")/lib.sh"
#     . "$(dirname "$0")/access-lib.sh"
# access_setup starts vigild with its decision listener, onboards two real
# devices and applies the policies; the script then starts its proxy
# (nginx_start for nginx), in front of the app "intranet.example.test" on
# PPORT (its app answers on
# APORT with "intranet app; device=<X-Vigil-Device>; user=<X-Forwarded-User>"),
# and calls access_checks. The script defines fail, as lib.sh asks, and
# puts its proxy's pid in PROXY_PID, which proxy_stop (and access_cleanup)
# ends.

HOST=intranet.example.test
POLICY_NAME="Intranet needs a compliant device"
ADMIN_NAME="Intranet admin pages are blocked"
REPORT_NAME="Reports are blocked (report only)"

# access_need PROGRAM: the programs from the environment or the build folder
# (VIGILD, VIGIL, AGENT) and EXAMPLES (the examples folder); skips (77)
# without PROGRAM (the proxy), curl, jq or openssl.
access_need() {
    VIGILD=${VIGILD:-build/vigild}
    VIGIL=${VIGIL:-build/vigil}
    AGENT=${VIGIL_AGENT:-build/vigil-agent}
    EXAMPLES=$(cd "$(dirname "$0")/../../examples" && pwd)
    command -v "$1" >/dev/null || skip "$1 is not installed (scripts/install-deps.sh test installs it)"
    for _p in curl jq openssl; do
        command -v "$_p" >/dev/null || skip "$_p is not installed"
    done
}

PROXY_PID=""

# proxy_stop: ends the proxy (PROXY_PID), if it runs.
proxy_stop() {
    [ -n "$PROXY_PID" ] || return 0
    kill "$PROXY_PID" 2>/dev/null || true
    wait "$PROXY_PID" 2>/dev/null || true
    PROXY_PID=""
}

# access_cleanup: the exit trap: the proxy, then what lib.sh's cleanup ends.
access_cleanup() {
    proxy_stop
    end_processes
    remove_temp
}

# start_vigild_access: vigild as start_vigild starts it, with its decision
# listener on a loopback port of its choice (ACCESS_PORT).
start_vigild_access() {
    rm -f "$T/access-port"
    "$VIGILD" run --data-dir "$T/data" --listen "127.0.0.1:$PORT" --port-file "$T/port" \
        --access-listen 127.0.0.1:0 --access-port-file "$T/access-port" >>"$T/vigild.log" 2>&1 &
    SERVER_PID=$!
    within 10 test -s "$T/port" || fail "vigild did not start"
    within 10 test -s "$T/access-port" || fail "vigild did not write its decision listener's port"
    ACCESS_PORT=$(cat "$T/access-port")
}

# admin METHOD PATH [BODY]: the admin API, JSON on stdout; fails on an HTTP error.
admin() {
    curl -sS --fail-with-body --cacert "$T/data/server-ca.pem" -H "Authorization: Bearer $(cat "$T/token")" \
        -H "Content-Type: application/json" -X "$1" ${3:+--data-binary "$3"} "https://$SERVER_ADDR:$PORT$2"
}

# certs: the app's CA and its certificate for HOST (the proxy's TLS server),
# and a client certificate from a CA that is not Vigil's ($T/other.pem, .key).
certs() {
    _o="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
    # shellcheck disable=SC2086
    {
        openssl req -x509 $_o -keyout "$T/app-ca.key" -out "$T/app-ca.pem" -days 2 -subj "/CN=Test app CA" &&
        openssl req $_o -keyout "$T/site.key" -out "$T/site.csr" -subj "/CN=$HOST" &&
        printf 'subjectAltName=DNS:%s\n' "$HOST" >"$T/site.ext" &&
        openssl x509 -req -in "$T/site.csr" -CA "$T/app-ca.pem" -CAkey "$T/app-ca.key" -CAcreateserial \
            -out "$T/site.pem" -days 2 -extfile "$T/site.ext" &&
        openssl req -x509 $_o -keyout "$T/other-ca.key" -out "$T/other-ca.pem" -days 2 -subj "/CN=Not Vigil" &&
        openssl req $_o -keyout "$T/other.key" -out "$T/other.csr" -subj "/CN=impostor" &&
        openssl x509 -req -in "$T/other.csr" -CA "$T/other-ca.pem" -CAkey "$T/other-ca.key" -CAcreateserial \
            -out "$T/other.pem" -days 2
    } >"$T/openssl.log" 2>&1 || fail "openssl could not make the test certificates"
}

# access_setup NAME: T, vigild with its decision listener (PORT,
# ACCESS_PORT), two devices onboarded with the real agent: the one the
# checks follow in $T/agent (DEVICE, SERIAL, FPR) and another in $T/other
# that a high alert has made noncompliant (OTHER); the test certificates,
# the example compliance policy and the access policies applied, DEVICE
# compliant; PPORT and APORT, free ports for the proxy and the app.
access_setup() {
    make_temp "$1"
    trap access_cleanup EXIT
    PORT=$(free_port)
    "$VIGILD" init --data-dir "$T/data" >"$T/token" 2>"$T/init.log" || fail "vigild init"
    start_vigild_access
    export VIGIL_SERVER="https://127.0.0.1:$PORT" VIGIL_TOKEN="$(cat "$T/token")" VIGIL_CA="$T/data/server-ca.pem"
    for a in agent other; do
        "$VIGIL" onboarding create --expires 1h --uses 1 -o "$T/pkg-$a.json" >"$T/cli.log" ||
            fail "onboarding create"
        "$AGENT" onboard "$T/pkg-$a.json" --state-dir "$T/$a" 2>"$T/onboard-$a.log" || fail "onboard $a"
        "$AGENT" run --state-dir "$T/$a" --once 2>"$T/agent-$a.log" || fail "agent run --once ($a)"
    done
    DEVICE=$(jq -r .device_id "$T/agent/agent.json")
    OTHER=$(jq -r .device_id "$T/other/agent.json")
    "$VIGIL" devices show "$DEVICE" >/dev/null && "$VIGIL" devices show "$OTHER" >/dev/null ||
        fail "the onboarded devices are not known to vigild"
    SERIAL=$(openssl x509 -in "$T/agent/device.pem" -noout -serial | sed 's/^serial=//')
    FPR=$(openssl x509 -in "$T/agent/device.pem" -noout -fingerprint -sha256 | sed 's/^.*=//; s/://g' |
          tr 'A-F' 'a-f')
    certs

    "$VIGIL" policy apply -f "$EXAMPLES/compliance-max-risk-medium.json" >"$T/policy.log" 2>&1 ||
        fail "compliance policy apply: $(cat "$T/policy.log")"
    cat >"$T/access.json" <<EOF
{"locations": [{"id": "office", "ranges": ["192.0.2.0/24"], "trusted": true}],
 "policies": [
  {"name": "$POLICY_NAME", "state": "enabled",
   "users": {"include": ["all"]},
   "applications": {"include": [{"name": "intranet", "host": "$HOST", "path_prefix": "/"}]},
   "conditions": {"locations": {"include": ["all"], "exclude": ["trusted"]}},
   "grant": {"controls": ["compliant_device"]}},
  {"name": "$ADMIN_NAME", "state": "enabled",
   "users": {"include": ["all"]},
   "applications": {"include": [{"name": "intranet admin", "host": "$HOST", "path_prefix": "/admin/"}]},
   "grant": {"block": true}},
  {"name": "$REPORT_NAME", "state": "report_only",
   "users": {"include": ["all"]},
   "applications": {"include": [{"name": "reports", "host": "$HOST", "path_prefix": "/reports/"}]},
   "grant": {"block": true}}
]}
EOF
    "$VIGIL" access apply -f "$T/access.json" >"$T/access-apply.log" 2>&1 ||
        fail "vigil access apply: $(cat "$T/access-apply.log")"
    within 10 compliant "$DEVICE" || fail "the device is not compliant: $(admin GET "/api/v1/devices/$DEVICE/compliance")"
    raise_alert high other >/dev/null
    within 10 noncompliant "$OTHER" || fail "the other device is not noncompliant"
    PPORT=$(free_port)
    APORT=$(free_port)
    while [ "$APORT" = "$PPORT" ]; do APORT=$(free_port); done
}

# compliant ID, noncompliant ID: the device's compliance state is that
compliant() { [ "$(admin GET "/api/v1/devices/$1/compliance" | jq -r .state)" = compliant ]; }
noncompliant() { [ "$(admin GET "/api/v1/devices/$1/compliance" | jq -r .state)" = noncompliant ]; }

# substitute FILE FROM TO: replaces the text FROM (one line or part of one)
# by TO (lines) in FILE; fails when FILE does not hold FROM (the example
# changed under the test).
substitute() {
    grep -qF -- "$2" "$1" || fail "$1 no longer holds '$2': update the test with the example"
    _from=$(printf '%s' "$2" | sed 's/[][\.*^$|/]/\\&/g')
    _to=$(printf '%s' "$3" | sed 's/[\&|]/\\&/g' | sed ':a;N;$!ba;s/\n/\\n/g')
    sed -i "s|$_from|$_to|" "$1"
}

# proxy_listening: something accepts connections on PPORT.
proxy_listening() {
    _rc=0
    curl -s -o /dev/null --max-time 2 -k "https://127.0.0.1:$PPORT/" || _rc=$?
    [ "$_rc" != 7 ]
}

# req NAME CURL-ARG...: one request to https://HOST:PPORT (the URL and
# any other argument given), through the proxy; prints the status (000 when
# no HTTP answer came), keeps the headers in $T/NAME.h, the body in
# $T/NAME.b, curl's error in $T/NAME.err and its exit status in $T/NAME.rc.
req() {
    _n=$1
    shift
    _rc=0
    curl -sS --max-time 10 --cacert "$T/app-ca.pem" --resolve "$HOST:$PPORT:127.0.0.1" \
        -D "$T/$_n.h" -o "$T/$_n.b" -w '%{http_code}' "$@" 2>"$T/$_n.err" || _rc=$?
    echo "$_rc" >"$T/$_n.rc"
}

# url PATH: the URL of PATH on the proxy
url() { echo "https://$HOST:$PPORT$1"; }

# device_req NAME PATH [CURL-ARG...]: req with the device's certificate
device_req() {
    _n=$1 _p=$2
    shift 2
    req "$_n" --cert "$T/agent/device.pem" --key "$T/agent/device.key" "$@" "$(url "$_p")"
}

# header NAME FIELD: the value of FIELD in the answer kept as NAME
header() {
    tr -d '\r' <"$T/$1.h" | sed -n "s/^$2: *//Ip" | tail -n 1
}

# expect NAME GOT WANT WHAT: fails with the answer unless status GOT is WANT
expect() {
    [ "$2" = "$3" ] || fail "$4: HTTP $2, expected $3 (reason: $(header "$1" X-Vigil-Reason); body: $(head -c 300 "$T/$1.b" 2>/dev/null); error: $(cat "$T/$1.err"))"
}

# raise_alert SEVERITY [STATE]: uploads a new alert as the device of
# $T/STATE (default agent: DEVICE) with its certificate, through the agent
# API, as the agent does; prints the alert's id.
raise_alert() {
    _s=$T/${2:-agent}
    _id=$(cat /proc/sys/kernel/random/uuid)
    _now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    _body=$(jq -cn --arg id "$_id" --arg now "$_now" --arg sev "$1" '{alerts: [{change: "new", id: $id,
        rule_id: "access-proxy-test", title: "Reverse shell (access test)", source: "sigma", severity: $sev,
        rule_level: $sev, techniques: ["T1059"], tactics: ["execution"], category: "process_creation",
        first_seen: $now, last_seen: $now, count: 1, tree: {pid: 10, start_ticks: 5},
        process: {pid: 11, image: "/usr/bin/bash", command_line: "bash -i"},
        ancestors: [{pid: 1, image: "/sbin/init"}], event: {EventType: "process_exec"}}]}')
    curl -sS --fail-with-body --cacert "$_s/server-ca.pem" --cert "$_s/device.pem" \
        --key "$_s/device.key" -H "Content-Type: application/json" --data-binary "$_body" \
        "https://$SERVER_ADDR:$PORT/agent/v1/alerts" >"$T/alert.json" || fail "alert upload: $(cat "$T/alert.json")"
    echo "$_id"
}

# until_status WANT SECONDS NAME PATH [CURL-ARG...]: device_req until the
# status is WANT; the first status in FIRST, the time taken in WAITED (ms);
# fails after SECONDS.
until_status() {
    _want=$1 _secs=$2
    shift 2
    _t0=$(date +%s%N)
    FIRST=$(device_req "$@")
    _st=$FIRST
    while [ "$_st" != "$_want" ]; do
        [ $(( ($(date +%s%N) - _t0) / 1000000000 )) -lt "$_secs" ] || expect "$1" "$_st" "$_want" "$1 after $_secs s"
        sleep 0.05
        _st=$(device_req "$@")
    done
    WAITED=$(( ($(date +%s%N) - _t0) / 1000000 ))
}

# logged PATH RESULT: the access log has a request for PATH in which the
# report-only policy's result is RESULT
logged() {
    admin GET "/api/v1/access/log?limit=200" >"$T/log.json" &&
        jq -e --arg p "$1" --arg n "$REPORT_NAME" --arg r "$2" \
            '[.value[] | select(.path == $p) | .policies[] | select(.name == $n and .result == $r)] | length > 0' \
            "$T/log.json" >/dev/null
}

# access_checks OTHER_CA: the requests every proxy must answer as the
# policies say; OTHER_CA is what a certificate from another CA gets: an
# HTTP status, or "handshake" for a TLS handshake refused.
access_checks() {
    # no certificate: 401 from the policy, its name in the reason; waiting
    # for the policies to reach the decision snapshot (until then, no
    # policy applies and the answer is 200)
    _t0=$(date +%s)
    while [ "$(req nocert "$(url /)")" = 200 ] && [ $(($(date +%s) - _t0)) -lt 5 ]; do sleep 0.1; done
    st=$(req nocert "$(url /)")
    expect nocert "$st" 401 "no client certificate"
    header nocert X-Vigil-Reason | grep -qF "$POLICY_NAME" ||
        fail "401 without the policy's name in X-Vigil-Reason: '$(header nocert X-Vigil-Reason)'"
    echo "no certificate: 401, reason: $(header nocert X-Vigil-Reason)"

    # a compliant device: the app's page, the device named by Vigil, not by
    # the client
    st=$(device_req ok / -H "X-Vigil-Device: forged-device" -H "X-Forwarded-User: mallory")
    expect ok "$st" 200 "compliant device"
    grep -q "^intranet app; device=$DEVICE; user=;" "$T/ok.b" ||
        fail "the app did not get Vigil's device id, or got the client's headers: $(cat "$T/ok.b")"
    echo "compliant device: 200, the app saw device=$DEVICE"

    # headers the client made up, without a certificate: still 401 (the
    # device's own serial and fingerprint; another host, which no policy
    # covers; an address in the trusted location the policy exempts)
    st=$(req forged -H "X-Vigil-Client-Verify: SUCCESS" -H "X-Vigil-Client-Serial: $SERIAL" \
         -H "X-Vigil-Client-Fingerprint: $FPR" -H "X-Forwarded-User: alice@example.com" \
         -H "X-Forwarded-Tls-Client-Cert: x" -H "X-Forwarded-Host: other.example.test" \
         -H "X-Real-IP: 192.0.2.1" -H "X-Forwarded-For: 192.0.2.1" "$(url /)")
    expect forged "$st" 401 "forged identity, host and address headers without a certificate"
    echo "forged X-Vigil-Client-Serial/-Fingerprint/-Verify, X-Forwarded-User, -Host, -For, X-Real-IP: 401"

    # the noncompliant device claiming to be the compliant one in headers:
    # refused as itself
    _cert=$(jq -sRr @uri "$T/agent/device.pem")
    st=$(req impostor --cert "$T/other/device.pem" --key "$T/other/device.key" \
         -H "X-Vigil-Client-Serial: $SERIAL" -H "X-Vigil-Client-Fingerprint: $FPR" \
         -H "X-Vigil-Client-Cert: $_cert" -H "X-Vigil-Device: $DEVICE" "$(url /)")
    expect impostor "$st" 403 "the noncompliant device sending the compliant one's serial, fingerprint and certificate"
    header impostor X-Vigil-Reason | grep -q noncompliant ||
        fail "the impostor's 403 does not say noncompliant: '$(header impostor X-Vigil-Reason)'"
    echo "noncompliant device sending the compliant one's serial, fingerprint and certificate: 403"

    # the blocked path, with the device: 403, however the path is written
    # or whatever URI the client claims in headers
    for p in /admin/users /%61dmin/users /public/../admin/users //admin//users; do
        st=$(device_req admin "$p" --path-as-is -H "X-Original-URI: /public" -H "X-Forwarded-Uri: /public" \
             -H "X-Original-Method: OPTIONS" -H "X-Forwarded-Method: OPTIONS")
        expect admin "$st" 403 "the blocked path written $p"
        header admin X-Vigil-Reason | grep -qF "$ADMIN_NAME" ||
            fail "$p: 403 without the block policy's name: '$(header admin X-Vigil-Reason)'"
    done
    echo "blocked /admin/ (also as /%61dmin/, /public/../admin/, //admin//, forged X-Original-URI/-Forwarded-Uri): 403"

    # a certificate from another CA
    st=$(req otherca --cert "$T/other.pem" --key "$T/other.key" "$(url /)")
    if [ "$1" = handshake ]; then
        [ "$st" = 000 ] || fail "a certificate from another CA got HTTP $st, expected a refused handshake"
        # curl's status for a TLS 1.3 server that refuses the certificate
        # depends on when the alert arrives: in the handshake (35), or as
        # the first read or its peer gone (56, 55)
        case $(cat "$T/otherca.rc") in
        35|55|56) ;;
        *) fail "a certificate from another CA: curl failed with $(cat "$T/otherca.rc"), not in TLS: $(cat "$T/otherca.err")" ;;
        esac
        echo "certificate from another CA: handshake refused ($(tr -d '\n' <"$T/otherca.err"))"
    else
        expect otherca "$st" "$1" "a certificate from another CA"
        echo "certificate from another CA: HTTP $st from the proxy"
    fi

    # a report-only policy that would block: allowed, logged as such
    st=$(device_req report /reports/q3.html)
    expect report "$st" 200 "report-only block policy"
    within 5 logged /reports/q3.html report_only_failure ||
        fail "the access log has no report_only_failure for /reports/q3.html: $(cat "$T/log.json")"
    echo "report-only policy that would block: 200, logged report_only_failure"

    # the device raises a high alert: noncompliant, 403 with the reason
    alert=$(raise_alert high)
    until_status 403 1 alert /
    header alert X-Vigil-Reason | grep -qF "$POLICY_NAME" ||
        fail "403 without the policy's name in X-Vigil-Reason: '$(header alert X-Vigil-Reason)'"
    header alert X-Vigil-Reason | grep -qi "noncompliant" ||
        fail "403 whose reason does not say noncompliant: '$(header alert X-Vigil-Reason)'"
    echo "high alert: 403 after $WAITED ms (first request after the upload: $FIRST), reason: $(header alert X-Vigil-Reason)"

    # the alert resolved: compliant again, access returns
    admin PATCH "/api/v1/alerts/$alert" '{"status":"resolved"}' >/dev/null || fail "resolve the alert"
    until_status 200 5 resolved /
    echo "alert resolved: 200 after $WAITED ms"

    # the device offboarded (its certificate revoked): 403
    "$VIGIL" devices offboard "$DEVICE" >"$T/offboard.log" 2>&1 || fail "offboard: $(cat "$T/offboard.log")"
    until_status 403 2 offboarded /
    echo "offboarded device: 403 after $WAITED ms (first: $FIRST), reason: $(header offboarded X-Vigil-Reason)"
}

# access_secret_on: vigild restarted with access_proxy_secret (SECRET) in
# vigild.conf, as when it runs on another machine than the proxy; its
# decision listener on a new port (ACCESS_PORT; the old one in OLD_PORT).
access_secret_on() {
    SECRET=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
    stop_vigild
    echo "access_proxy_secret = $SECRET" >>"$T/data/vigild.conf"
    OLD_PORT=$ACCESS_PORT
    start_vigild_access
}

# nocert_answers STATUS TEXT: a request without a certificate gets STATUS
# with TEXT in its reason
nocert_answers() {
    [ "$(req secret "$(url /)")" = "$1" ] && header secret X-Vigil-Reason | grep -qF "$2"
}

# access_secret_checks RELOAD WRITE: after access_secret_on, with the
# proxy's configuration pointed at the new port, RELOAD (a function) makes
# the proxy read it: Vigil refuses it as untrusted (403); WRITE then puts
# the secret where the example's comment says, RELOAD again: the policy
# answers (401).
access_secret_checks() {
    "$1"
    within 10 nocert_answers 403 "proxy secret" ||
        fail "vigild with a proxy secret, the proxy without it: $(cat "$T/secret.rc") $(header secret X-Vigil-Reason)"
    echo "vigild with access_proxy_secret, the proxy without it: 403 ($(header secret X-Vigil-Reason))"
    "$2"
    "$1"
    within 10 nocert_answers 401 "$POLICY_NAME" ||
        fail "the proxy with the secret: not the policy's 401: $(header secret X-Vigil-Reason)"
    echo "the proxy with the secret, as its comment shows: 401 from the policy"
}

# access_down WANT: vigild stopped, the proxy answers WANT, never 200
access_down() {
    stop_vigild
    st=$(req down "$(url /)")
    expect down "$st" "$1" "vigild stopped, no certificate"
    st=$(device_req down2 /)
    expect down2 "$st" "$1" "vigild stopped, with the device's certificate"
    echo "vigild stopped: $st (fail closed)"
}

# nginx_start: the shipped files (examples/nginx), laid out as in /etc/nginx
# under $T/nginx (N; the site's file in S), with the test's ports (PPORT in
# front of HOST, on 127.0.0.1 and SERVER_ADDR, ACCESS_PORT for vigild's decisions) and paths; a main
# nginx.conf of the test's own adds the app on APORT: a server that answers
# with what it was told about the device and the user. nginx runs in the
# background (PROXY_PID; G: its -g directives); fails unless it listens
# within 10 s.
nginx_start() {
    N=$T/nginx
    mkdir -p "$N/conf.d" "$N/snippets" "$N/sites-enabled"
    cp "$EXAMPLES/nginx/conf.d/vigil-access.conf" "$N/conf.d/"
    cp "$EXAMPLES/nginx/snippets/vigil-access.conf" "$N/snippets/"
    cp "$EXAMPLES/nginx/sites-available/intranet.conf" "$N/sites-enabled/"
    substitute "$N/conf.d/vigil-access.conf" "server 127.0.0.1:8444;" "server 127.0.0.1:$ACCESS_PORT;"
    S=$N/sites-enabled/intranet.conf
    _listen="listen 127.0.0.1:$PPORT ssl http2;"
    [ "$SERVER_ADDR" = 127.0.0.1 ] || _listen="$_listen
    listen $SERVER_ADDR:$PPORT ssl http2;"
    substitute "$S" "listen 443 ssl http2;" "$_listen"
    substitute "$S" "/etc/ssl/vigil-example/intranet.example.test.pem" "$T/site.pem"
    substitute "$S" "/etc/ssl/vigil-example/intranet.example.test.key" "$T/site.key"
    substitute "$S" "/var/lib/vigild/device-ca.pem" "$T/data/device-ca.pem"
    substitute "$S" "server 127.0.0.1:8080;" "server 127.0.0.1:$APORT;"
    cat >"$N/nginx.conf" <<EOF
worker_processes 1;
events { worker_connections 256; }
http {
    access_log $N/access.log;
    client_body_temp_path $N/tmp-body;
    proxy_temp_path $N/tmp-proxy;
    fastcgi_temp_path $N/tmp-fastcgi;
    uwsgi_temp_path $N/tmp-uwsgi;
    scgi_temp_path $N/tmp-scgi;
    include conf.d/vigil-access.conf;
    include sites-enabled/intranet.conf;
    server {
        listen 127.0.0.1:$APORT;
        location / {
            default_type text/plain;
            return 200 "intranet app; device=\$http_x_vigil_device; user=\$http_x_forwarded_user;\n";
        }
    }
}
EOF
    G="daemon off; pid $N/nginx.pid; error_log $T/nginx-error.log;"
    nginx -t -c "$N/nginx.conf" -p "$N/" -g "$G" >"$T/nginx-t.log" 2>&1 || fail "nginx -t: $(cat "$T/nginx-t.log")"
    nginx -c "$N/nginx.conf" -p "$N/" -g "$G" >>"$T/nginx-error.log" 2>&1 &
    PROXY_PID=$!
    within 10 proxy_listening || fail "nginx did not start listening on $PPORT"
}

# scenario_setup NAME [netns]: the reference attack's set-up (scenario.sh,
# bench/time-to-block): T (readable by all: uid 65534 runs programs from
# it), vigild with its decision listener (PORT, ACCESS_PORT), the agent
# onboarded in $T/agent (DEVICE) and running with its bpf sensor and
# Vigil's rules (need_alerts's variables; its log $T/agent.log), the example
# compliance policy and the example access policy "Intranet needs a
# compliant device" applied with the CLI, nginx in front of the app
# (nginx_start); returns once the device is compliant. With "netns", the
# agent runs in a network namespace of the test's own (netns_create: the
# caller's cleanup calls netns_cleanup), so that the device can be
# isolated; vigild and nginx then listen on this side of the veth pair
# (SERVER_ADDR) too. The sensor sees every process either way.
scenario_setup() {
    make_temp "$1"
    chmod 755 "$T"
    if [ "${2:-}" = netns ]; then
        _app=$HOST
        netns_create scn
        SERVER_ADDR=$HOST AGENT_IN_NS=1 HOST=$_app
    fi
    PORT=$(free_port)
    onboard_agent
    within 10 test -s "$T/access-port" || fail "vigild did not write its decision listener's port"
    ACCESS_PORT=$(cat "$T/access-port")
    DEVICE=$(jq -r .device_id "$T/agent/agent.json")
    scenario_policies_and_proxy
    run_agent "$T/agent.log"
    within 20 settled || fail "the device is not compliant: $(admin GET "/api/v1/devices/$DEVICE/compliance")"
}

# scenario_running NAME DATA STATE: the reference attack's set-up against a
# vigild and an agent that already run (make run): T, with data and agent
# links to DATA (vigild's data directory: its port file, CA certificates
# and first admin token) and STATE (the agent's state); PORT, ACCESS_PORT
# (access_listen in DATA's vigild.conf, else 8444), DEVICE; the
# example policies applied with the CLI, nginx in front of the app; returns
# once the device is compliant (its new alerts resolved). Fails with what
# is missing when vigild or the agent does not run.
scenario_running() {
    for _f in "$2/port" "$2/initial-admin-token" "$2/server-ca.pem" "$3/agent.json" "$3/device.pem"; do
        [ -r "$_f" ] || fail "no $_f: start Vigil with 'make run' first"
    done
    [ -f "$3/agent.pid" ] && kill -0 "$(cat "$3/agent.pid")" 2>/dev/null ||
        fail "the agent of $3 does not run: start Vigil with 'make run' first"
    make_temp "$1"
    chmod 755 "$T"
    ln -s "$2" "$T/data"
    ln -s "$3" "$T/agent"
    cp "$2/initial-admin-token" "$T/token"
    PORT=$(cat "$2/port")
    _al=$(sed -n 's/^access_listen *= *//p' "$2/vigild.conf" 2>/dev/null | tail -n 1)
    ACCESS_PORT=${_al##*:}
    [ -n "$ACCESS_PORT" ] || ACCESS_PORT=8444
    export VIGIL_SERVER="https://$SERVER_ADDR:$PORT" VIGIL_TOKEN="$(cat "$T/token")" VIGIL_CA="$T/data/server-ca.pem"
    admin GET /api/v1/health >/dev/null || fail "vigild does not answer on $SERVER_ADDR:$PORT"
    DEVICE=$(jq -r .device_id "$T/agent/agent.json")
    scenario_policies_and_proxy
    within 20 settled || fail "the device is not compliant: $(admin GET "/api/v1/devices/$DEVICE/compliance")"
}

# scenario_policies_and_proxy: the example compliance and access policies
# applied with the CLI, the test certificates, nginx in front of the app
# (PPORT, APORT)
scenario_policies_and_proxy() {
    "$VIGIL" policy apply -f "$EXAMPLES/compliance-max-risk-medium.json" >"$T/policy.log" 2>&1 ||
        fail "vigil policy apply: $(cat "$T/policy.log")"
    "$VIGIL" access apply -f "$EXAMPLES/access/intranet-policy.json" >"$T/access-apply.log" 2>&1 ||
        fail "vigil access apply: $(cat "$T/access-apply.log")"
    certs
    PPORT=$(free_port)
    APORT=$(free_port)
    while [ "$APORT" = "$PPORT" ]; do APORT=$(free_port); done
    nginx_start
}

# settled: resolves with the CLI the device's alerts that are new (this
# machine's own activity raises some too); true once the device is
# compliant
settled() {
    for _id in $(admin GET "/api/v1/alerts?device=$DEVICE&status=new&limit=500" | jq -r '.value[].id'); do
        "$VIGIL" alerts update "$_id" --status resolved --comment "resolved by the analyst" >>"$T/resolve.log" 2>&1 ||
            fail "vigil alerts update $_id --status resolved: $(tail -n 3 "$T/resolve.log")"
    done
    compliant "$DEVICE"
}
