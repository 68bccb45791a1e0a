#!/bin/sh
# Installs the Debian packages Vigil needs to build, run and test, if any is missing.
# Usage: scripts/install-deps.sh [run|test]
# "test" adds what the tests and benchmarks run: among them nginx and Caddy
# (the conditional access tests start their own, on loopback ports) and wrk.
set -eu
mode=${1:-run}
pkgs="meson ninja-build pkg-config gcc libmicrohttpd-dev libgnutls28-dev gnutls-bin
      libjansson-dev libyaml-dev libpcre2-dev libsqlite3-dev libcurl4-gnutls-dev libnftables-dev
      libarchive-dev
      clang libbpf-dev bpftool"
if [ "$mode" = test ]; then
    pkgs="$pkgs libcmocka-dev zlib1g-dev clang libclang-rt-14-dev sqlite3 curl jq libcap2-bin
          nftables iproute2 openssl libnss3-tools nginx caddy wrk"
fi
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
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
