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

# The shipped files, laid out as in /etc/nginx, with this test's ports and
# paths; a main nginx.conf of the test's own adds the app: a server that
# answers with what it was told about the device and the user.
N=$T/nginx
mkdir -p "$N/conf.d" "$N/snippets" "$N/sites-enabled"
cp "$EXAMPLES/nginx/conf.d/vigil-access.conf" "$N/conf.d/"
cp "$EXAMPLES/nginx/snippets/vigil-access.conf" "$N/snippets/"
cp "$EXAMPLES/nginx/sites-available/intranet.conf" "$N/sites-enabled/"
substitute "$N/conf.d/vigil-access.conf" "server 127.0.0.1:8444;" "server 127.0.0.1:$ACCESS_PORT;"
S=$N/sites-enabled/intranet.conf
substitute "$S" "listen 443 ssl http2;" "listen 127.0.0.1:$PPORT ssl http2;"
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
