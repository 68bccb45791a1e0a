#!/bin/sh
# Installs the Debian packages Vigil needs to build, run and test, if any is missing.
# Usage: scripts/install-deps.sh [run|test]
set -eu
mode=${1:-run}
pkgs="meson ninja-build pkg-config gcc libmicrohttpd-dev libgnutls28-dev gnutls-bin
      libjansson-dev libyaml-dev libpcre2-dev libsqlite3-dev libcurl4-gnutls-dev libnftables-dev
      libarchive-dev
      clang libbpf-dev bpftool"
if [ "$mode" = test ]; then
    pkgs="$pkgs libcmocka-dev clang libclang-rt-14-dev sqlite3 curl jq libcap2-bin
          nftables iproute2 openssl libnss3-tools"
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
