#!/bin/sh
# Integration: conditional access through a real Caddy running the shipped
# Caddyfile (examples/caddy, only ports and file paths changed, bound to
# loopback, no admin endpoint, no HTTP redirect listener) in front of an
# app, with vigild's decision listener and two devices onboarded by the
# real agent: a compliant device gets the app; no certificate 401; forged
# identity, host, address and URI headers ignored; a noncompliant device
# claiming the other's identity 403; a blocked path however written 403; a
# certificate from another CA refused in the TLS handshake; a report-only
# block logged and not enforced; a high alert raised as the device makes
# the next requests 403 with the reason; the alert resolved lets it back
# in; the device offboarded 403; vigild with a proxy secret refusing Caddy
# without it (403) and answering it with it; vigild stopped 503 (fail
# closed). Skips (77) without caddy.
set -eu

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/access-lib.sh"
access_need caddy

fail() { fail_with_logs FAIL: 40 "$*"; }

access_setup access-caddy

# The shipped Caddyfile with this test's ports and paths, and an app of the
# test's own: a site that answers with what it was told about the device
# and the user.
C=$T/caddy
mkdir -p "$C"
F=$C/Caddyfile
cp "$EXAMPLES/caddy/Caddyfile" "$F"
substitute "$F" "admin localhost:2019" "admin off"
substitute "$F" "http_port 80" "http_port $(free_port)
	auto_https disable_redirects"
substitute "$F" "https_port 443" "https_port $PPORT"
substitute "$F" "intranet.example.test {" "intranet.example.test {
	bind 127.0.0.1"
substitute "$F" "/etc/ssl/vigil-example/intranet.example.test.pem" "$T/site.pem"
substitute "$F" "/etc/ssl/vigil-example/intranet.example.test.key" "$T/site.key"
substitute "$F" "/var/lib/vigild/device-ca.pem" "$T/data/device-ca.pem"
substitute "$F" "forward_auth 127.0.0.1:8444 {" "forward_auth 127.0.0.1:$ACCESS_PORT {"
substitute "$F" "reverse_proxy 127.0.0.1:8080" "reverse_proxy 127.0.0.1:$APORT"
cat >>"$F" <<EOF

http://:$APORT {
	bind 127.0.0.1
	respond "intranet app; device={header.X-Vigil-Device}; user={header.X-Forwarded-User};"
}
EOF
# Caddy keeps its state (and an autosaved config) under these.
export HOME="$C" XDG_DATA_HOME="$C/data" XDG_CONFIG_HOME="$C/config"
caddy validate --config "$F" --adapter caddyfile >"$T/caddy-validate.log" 2>&1 ||
    fail "caddy validate: $(cat "$T/caddy-validate.log")"
caddy_start() {
    caddy run --config "$F" --adapter caddyfile >>"$T/caddy.log" 2>&1 &
    PROXY_PID=$!
    within 10 proxy_listening || fail "caddy did not start listening on $PPORT"
}
caddy_start

access_checks handshake

# vigild as if on another machine: the proxy secret, written where the
# Caddyfile's comment says (Caddy restarted: its admin endpoint is off)
reload() { proxy_stop; caddy_start; }
write_secret() {
    substitute "$F" '#     header_up X-Vigil-Proxy-Secret "the secret"' "header_up X-Vigil-Proxy-Secret \"$SECRET\""
}
access_secret_on
substitute "$F" "forward_auth 127.0.0.1:$OLD_PORT {" "forward_auth 127.0.0.1:$ACCESS_PORT {"
access_secret_checks reload write_secret
access_down 503
grep -q "access check is unavailable" "$T/down.b" || fail "the 503 page does not say the access check is unavailable"
echo "access-caddy: all checks passed"
