#!/bin/sh
# Installs the Debian packages Vigil needs to build, run and test, if any is missing.
# Usage: scripts/install-deps.sh [run|test]
# "test" adds what the tests and benchmarks run: among them nginx and Caddy
# (the conditional access tests start their own, on loopback ports), wrk,
# and Chromium, Node.js and npm for the portal's browser test, whose npm
# packages (tests/portal/package-lock.json) it installs with npm ci.
set -eu
mode=${1:-run}
pkgs="meson ninja-build pkg-config gcc libmicrohttpd-dev libgnutls28-dev gnutls-bin
      libjansson-dev libyaml-dev libpcre2-dev libsqlite3-dev libcurl4-gnutls-dev libnftables-dev
      libarchive-dev
      clang libbpf-dev bpftool"
if [ "$mode" = test ]; then
    pkgs="$pkgs libcmocka-dev zlib1g-dev clang libclang-rt-14-dev sqlite3 curl jq libcap2-bin
          nftables iproute2 openssl libnss3-tools nginx caddy wrk chromium nodejs npm"
fi
missing=""
for p in $pkgs; do
    # a Node.js build that carries its own npm needs no npm package
    [ "$p" = npm ] && command -v npm >/dev/null && continue
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed' || missing="$missing $p"
done
# portal_npm: the portal test's npm packages, as the lock file pins them
portal_npm() {
    [ "$mode" = test ] || return 0
    _dir=$(dirname "$0")/../tests/portal
    [ -f "$_dir/node_modules/playwright-core/package.json" ] && return 0
    echo "install-deps: npm ci in tests/portal"
    (cd "$_dir" && npm ci --no-audit --no-fund --prefer-offline)
}
if [ -z "$missing" ]; then
    portal_npm
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing Debian packages:$missing (run as root, or install them)" >&2
    exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
# Debian starts the nginx and caddy services it installs, listening on port
# 80; the tests run their own on loopback ports and need neither.
for svc in nginx caddy; do
    case " $missing " in
    *" $svc "*)
        if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
            echo "install-deps: stopping and disabling the $svc service Debian started"
            systemctl disable --now "$svc" >/dev/null 2>&1 || true
        fi ;;
    esac
done
portal_npm
