#!/bin/sh
# Integration: conditional access through a real nginx running the shipped
# configuration (examples/nginx, only ports and file paths changed) in
# front of an app, with vigild's decision listener and two devices
# onboarded by the real agent: a compliant device gets the app; no
# certificate 401; forged identity, host and address headers ignored; a
# noncompliant device claiming the other's identity 403; a blocked path
# however written 403; a certificate from another CA refused by nginx
# (400); a report-only block logged and not enforced; a high alert raised
# as the device makes the next requests 403 with the reason; the alert
# resolved lets it back in; the device offboarded 403; vigild with a proxy
# secret refusing nginx without it (403) and answering it with it; vigild
# stopped 503 (fail closed), and 200 with the README's fail-open change.
# Skips (77) without nginx.
set -eu

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/access-lib.sh"
access_need nginx

fail() { fail_with_logs FAIL: 40 "$*"; }

access_setup access-nginx

nginx_start

access_checks 400
grep -q "The SSL certificate error" "$T/otherca.b" || fail "the other CA's 400 is not nginx's certificate error"

# vigild as if on another machine: the proxy secret, written where the
# snippet's comment says
reload() { kill -HUP "$PROXY_PID"; }
write_secret() {
    substitute "$N/snippets/vigil-access.conf" '#     proxy_set_header X-Vigil-Proxy-Secret "the secret";' \
        "proxy_set_header X-Vigil-Proxy-Secret \"$SECRET\";"
}
access_secret_on
substitute "$N/conf.d/vigil-access.conf" "server 127.0.0.1:$OLD_PORT;" "server 127.0.0.1:$ACCESS_PORT;"
access_secret_checks reload write_secret
access_down 503
grep -q "access check is unavailable" "$T/down.b" || fail "the 503 page does not say the access check is unavailable"

# The README's way to fail open instead, reloaded into the same nginx: with
# vigild still stopped, the app answers (which is why it is not shipped).
substitute "$N/snippets/vigil-access.conf" "error_page 500 =503 /_vigil_unavailable;" \
    "error_page 500 = @vigil_fail_open;
location @vigil_fail_open {
    auth_request off;
    proxy_pass http://intranet_app;
}"
nginx -t -c "$N/nginx.conf" -p "$N/" -g "$G" >"$T/nginx-t.log" 2>&1 || fail "nginx -t, fail open: $(cat "$T/nginx-t.log")"
kill -HUP "$PROXY_PID"
open_now() { [ "$(req open "$(url /)")" = 200 ]; }
within 10 open_now || fail "the README's fail-open configuration did not let the request through: $(cat "$T/open.b")"
grep -q "^intranet app;" "$T/open.b" || fail "fail open: not the app's page: $(cat "$T/open.b")"
echo "the README's fail-open configuration, vigild stopped: 200 from the app"
echo "access-nginx: all checks passed"
