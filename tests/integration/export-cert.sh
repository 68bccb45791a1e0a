#!/bin/sh
# Integration: `vigil-agent export-cert` with the real programs. vigild on a
# free loopback port, the agent onboarded into a temporary state directory
# (which must now keep the device CA), the certificate exported as PKCS#12
# with a password and as PEM: OpenSSL reads the PKCS#12 file (SHA-256 MAC,
# AES-256 PBES2, the device's serial as the API reports it, the device CA,
# one friendly name and local key id on certificate and key), NSS imports it
# as a certificate paired with its key (as Firefox and Chromium do), and
# curl reaches a device endpoint of vigild over mTLS with either file; the
# password from a file, a variable or none; files of mode 0600, never
# overwritten, none left behind by a failed export; refusals with clear
# messages (no password option, not onboarded, unreadable state, empty or
# missing password, offboarded device). Skips (77) without openssl, curl,
# jq or NSS's pk12util.
set -eu

VIGILD=${VIGILD:-build/vigild}
VIGIL=${VIGIL:-build/vigil}
AGENT=${VIGIL_AGENT:-build/vigil-agent}
. "$(dirname "$0")/lib.sh"
for tool in openssl curl jq pk12util certutil; do
    command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/install-deps.sh test)"
done

make_temp export

fail() { fail_with_logs "FAIL:" 40 "$*"; }

PORT=$(free_port)
onboard_agent
A=$T/agent
ID=$(jq -r .device_id "$A/agent.json")
SERIAL=$(api "/api/v1/devices/$ID" | jq -r .certificate_serial)
[ -n "$SERIAL" ] && [ "$SERIAL" != null ] || fail "no certificate_serial for device $ID"

# onboarding keeps the CA that issued the device certificate
cmp -s "$A/device-ca.pem" "$T/data/device-ca.pem" || fail "onboarding did not keep the device CA"

# export ARG...: vigil-agent export-cert on the state directory, its messages in $T/export.log
export_cert() { "$AGENT" export-cert --state-dir "$A" "$@" >"$T/export.out" 2>"$T/export.log"; }
# refused CODE TEXT ARG...: export_cert ARG... exits CODE and says TEXT
refused() {
    _code=$1 _text=$2
    shift 2
    _rc=0
    export_cert "$@" || _rc=$?
    [ "$_rc" = "$_code" ] || fail "export-cert $* exited $_rc, not $_code"
    grep -q -- "$_text" "$T/export.log" || fail "export-cert $*: no '$_text' in: $(cat "$T/export.log")"
}
mode() { stat -c %a "$1"; }
# device_get CURL-ARG...: the HTTP status of GET /agent/v1/config with these client credentials
device_get() {
    curl -sS -o /dev/null -w '%{http_code}' --cacert "$T/data/server-ca.pem" "$@" \
        "https://127.0.0.1:$PORT/agent/v1/config"
}
# serial_of_p12 FILE PASSWORD: the serial of the device certificate in FILE, lower case
serial_of_p12() {
    openssl pkcs12 -in "$1" -passin "pass:$2" -nokeys -clcerts 2>/dev/null |
        openssl x509 -noout -serial | sed 's/^serial=//' | tr 'A-F' 'a-f'
}

# --- refusals before anything is written
refused 2 "--password-file FILE" --pkcs12 "$T/nopass.p12"
grep -q -- "--password-env VAR" "$T/export.log" && grep -q -- "--no-password" "$T/export.log" ||
    fail "the refusal without a password option does not name every option"
[ ! -e "$T/nopass.p12" ] || fail "a refused export left a file"
refused 2 "--pkcs12 FILE or --pem FILE"
refused 2 "only one of" --pkcs12 "$T/x.p12" --no-password --password-env HOME
refused 2 "are for --pkcs12" --pem "$T/x.pem" --no-password
refused 1 "cannot read the password file '$T/missing'" --pkcs12 "$T/x.p12" --password-file "$T/missing"
: >"$T/empty-pw"
refused 1 "is empty (give --no-password" --pkcs12 "$T/x.p12" --password-file "$T/empty-pw"
unset VIGIL_TEST_UNSET_PW
refused 1 "'VIGIL_TEST_UNSET_PW' is not set" --pkcs12 "$T/x.p12" --password-env VIGIL_TEST_UNSET_PW
printf 'caf\303\251\n' >"$T/utf8-pw"
refused 1 "printable ASCII" --pkcs12 "$T/x.p12" --password-file "$T/utf8-pw"
"$AGENT" export-cert --state-dir "$T/nowhere" --pem "$T/x.pem" 2>"$T/export.log" && fail "exported from no state"
grep -q "not onboarded: the state directory '$T/nowhere' does not exist" "$T/export.log" ||
    fail "no clear message for a missing state directory: $(cat "$T/export.log")"
mkdir "$T/empty-state"
"$AGENT" export-cert --state-dir "$T/empty-state" --pem "$T/x.pem" 2>"$T/export.log" && fail "exported from an empty state"
grep -q "not onboarded: '$T/empty-state' holds no agent.json" "$T/export.log" ||
    fail "no clear message for an empty state directory: $(cat "$T/export.log")"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    chmod 0711 "$T"
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$AGENT" export-cert --state-dir "$A" \
        --pem /tmp/never-written.pem 2>"$T/export.log" && fail "exported from a state directory it cannot read"
    grep -q "cannot read the state directory '$A': Permission denied (run as root)" "$T/export.log" ||
        fail "no clear message for an unreadable state directory: $(cat "$T/export.log")"
fi
[ ! -e "$T/x.p12" ] && [ ! -e "$T/x.pem" ] || fail "a refused export left a file"

# --- PKCS#12 with a password from a file, and PEM, in one run
PW='Corr3ct horse: battery!'
printf '%s\nsecond line is not the password\n' "$PW" >"$T/pw"
export_cert --pkcs12 "$T/dev.p12" --password-file "$T/pw" --pem "$T/dev.pem" || fail "export-cert: $(cat "$T/export.log")"
grep -q "wrote '$T/dev.p12'" "$T/export.out" && grep -q "serial $SERIAL" "$T/export.out" ||
    fail "export-cert did not say what it wrote: $(cat "$T/export.out")"
[ "$(mode "$T/dev.p12")" = 600 ] || fail "the PKCS#12 file has mode $(mode "$T/dev.p12")"
[ "$(mode "$T/dev.pem")" = 600 ] || fail "the PEM file has mode $(mode "$T/dev.pem")"

# OpenSSL reads it: MAC and ciphers, the device's serial, the CA, names and key ids
openssl pkcs12 -info -in "$T/dev.p12" -passin "pass:$PW" -nokeys >"$T/info.txt" 2>&1 || fail "openssl cannot read the PKCS#12 file"
grep -q "^MAC: sha256" "$T/info.txt" || fail "the MAC is not HMAC-SHA-256: $(head -3 "$T/info.txt")"
grep -q "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC" "$T/info.txt" || fail "the certificate bag is not AES-256 PBES2"
grep -q "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC" "$T/info.txt" || fail "the key is not AES-256 PBES2"
[ "$(serial_of_p12 "$T/dev.p12" "$PW")" = "$SERIAL" ] || fail "the PKCS#12 certificate's serial is not $SERIAL"
openssl pkcs12 -in "$T/dev.p12" -passin "pass:$PW" -nokeys -cacerts 2>/dev/null | openssl x509 -noout -fingerprint -sha256 >"$T/ca-fpr"
openssl x509 -in "$T/data/device-ca.pem" -noout -fingerprint -sha256 | cmp -s - "$T/ca-fpr" || fail "the PKCS#12 file lacks the device CA"
openssl pkcs12 -info -in "$T/dev.p12" -passin "pass:$PW" -passout pass:unused >"$T/info-all.txt" 2>&1 || fail "openssl cannot read the key"
[ "$(grep -c "friendlyName: .*Vigil device $ID" "$T/info-all.txt")" = 2 ] || fail "certificate and key do not both carry the friendly name"
[ "$(grep "localKeyID:" "$T/info-all.txt" | sort -u | wc -l)" = 1 ] && [ "$(grep -c "localKeyID:" "$T/info-all.txt")" = 2 ] ||
    fail "certificate and key do not carry the same local key id"
openssl pkcs12 -in "$T/dev.p12" -passin pass:wrong -noout 2>/dev/null && fail "openssl accepted a wrong password"
openssl x509 -in "$T/dev.pem" -noout -serial | tr 'A-F' 'a-f' | grep -q "^serial=$SERIAL$" || fail "the PEM certificate's serial is not $SERIAL"
openssl pkey -in "$T/dev.pem" -noout 2>/dev/null || fail "the PEM file holds no readable key"

# the files open the device API to curl; without them it stays shut
[ "$(device_get)" = 401 ] || fail "the device endpoint answered without a client certificate"
[ "$(device_get --cert "$T/dev.p12:$PW" --cert-type P12)" = 200 ] || fail "curl with the PKCS#12 file did not get 200"
[ "$(device_get --cert "$T/dev.pem")" = 200 ] || fail "curl with the PEM file did not get 200"

# NSS, under Firefox and Chromium, imports the certificate with its key
mkdir "$T/nss" "$T/nss-empty"
certutil -N -d "sql:$T/nss" --empty-password || fail "certutil -N"
pk12util -i "$T/dev.p12" -d "sql:$T/nss" -W "$PW" >"$T/pk12util.log" 2>&1 || fail "NSS cannot import the PKCS#12 file: $(cat "$T/pk12util.log")"
certutil -L -d "sql:$T/nss" | grep "Vigil device $ID" | grep -q "u,u,u" || fail "NSS did not pair the certificate with its key"
certutil -K -d "sql:$T/nss" | grep -q "Vigil device $ID" || fail "NSS holds no key for the device"

# never overwritten; a run that cannot write every file leaves none
sum=$(sha256sum <"$T/dev.p12")
refused 1 "'$T/dev.p12' already exists; export-cert never overwrites" --pkcs12 "$T/dev.p12" --password-file "$T/pw"
[ "$(sha256sum <"$T/dev.p12")" = "$sum" ] || fail "an existing PKCS#12 file was changed"
refused 1 "'$T/dev.pem' already exists" --pkcs12 "$T/new.p12" --password-file "$T/pw" --pem "$T/dev.pem"
[ ! -e "$T/new.p12" ] || fail "a failed export left '$T/new.p12' behind"
ln -s "$T/target" "$T/link.p12"
refused 1 "already exists" --pkcs12 "$T/link.p12" --password-file "$T/pw"
[ ! -e "$T/target" ] || fail "export-cert followed a symbolic link"
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
    mkdir "$T/full"
    # a one-page tmpfs, filled: the file is created but cannot be written
    unshare -m sh -c 'mount -t tmpfs -o size=4k tmpfs "$1" && head -c 4096 /dev/zero >"$1/fill" 2>/dev/null;
        "$2" export-cert --state-dir "$3" --pkcs12 "$1/dev.p12" --password-file "$4" >/dev/null 2>"$5"
        rc=$?; ls "$1" >"$6"; exit $rc' sh "$T/full" "$AGENT" "$A" "$T/pw" "$T/export.log" "$T/full.ls" &&
        fail "export-cert succeeded on a full file system"
    grep -q "cannot write '$T/full/dev.p12': No space left on device; nothing was exported" "$T/export.log" ||
        fail "no clear message on a full file system: $(cat "$T/export.log")"
    ! grep -q dev.p12 "$T/full.ls" || fail "a partly written PKCS#12 file was left behind"
fi

# the password from a variable; an empty password when asked for explicitly
VIGIL_TEST_P12_PW=$PW export_cert --pkcs12 "$T/env.p12" --password-env VIGIL_TEST_P12_PW || fail "--password-env: $(cat "$T/export.log")"
[ "$(serial_of_p12 "$T/env.p12" "$PW")" = "$SERIAL" ] || fail "the --password-env file does not open with its password"
export_cert --pkcs12 "$T/empty.p12" --no-password || fail "--no-password: $(cat "$T/export.log")"
[ "$(mode "$T/empty.p12")" = 600 ] || fail "the --no-password file has mode $(mode "$T/empty.p12")"
[ "$(serial_of_p12 "$T/empty.p12" "")" = "$SERIAL" ] || fail "the --no-password file does not open with an empty password"
[ "$(device_get --cert "$T/empty.p12:" --cert-type P12)" = 200 ] || fail "curl with the --no-password file did not get 200"
certutil -N -d "sql:$T/nss-empty" --empty-password || fail "certutil -N"
pk12util -i "$T/empty.p12" -d "sql:$T/nss-empty" -W "" >"$T/pk12util.log" 2>&1 || fail "NSS cannot import the empty-password file: $(cat "$T/pk12util.log")"

# a device onboarded by an earlier agent has no device CA: exported without it
mv "$A/device-ca.pem" "$T/device-ca.kept"
export_cert --pkcs12 "$T/noca.p12" --password-file "$T/pw" || fail "export without a device CA: $(cat "$T/export.log")"
grep -q "holds no device CA" "$T/export.log" || fail "the missing device CA was not mentioned"
[ "$(openssl pkcs12 -in "$T/noca.p12" -passin "pass:$PW" -nokeys 2>/dev/null | grep -c "BEGIN CERTIFICATE")" = 1 ] ||
    fail "the file without a device CA does not hold the device certificate alone"
# a CA that did not issue the certificate is left out
cp "$T/data/server-ca.pem" "$A/device-ca.pem"
export_cert --pkcs12 "$T/otherca.p12" --password-file "$T/pw" || fail "export with a foreign CA: $(cat "$T/export.log")"
grep -q "did not issue the device certificate; it is left out" "$T/export.log" || fail "the foreign CA was not mentioned"
[ "$(openssl pkcs12 -in "$T/otherca.p12" -passin "pass:$PW" -nokeys 2>/dev/null | grep -c "BEGIN CERTIFICATE")" = 1 ] ||
    fail "a CA that did not issue the certificate was exported"
mv "$T/device-ca.kept" "$A/device-ca.pem"

# an offboarded device's certificate is revoked: nothing to export
"$VIGIL" devices offboard "$ID" >/dev/null || fail "offboard"
"$AGENT" run --state-dir "$A" --once 2>"$T/agent.log" || true
[ -e "$A/offboarded" ] || fail "the agent did not record that it was offboarded"
refused 1 "the server offboarded this device" --pem "$T/off.pem"
[ ! -e "$T/off.pem" ] || fail "an offboarded device exported its certificate"
[ "$(device_get --cert "$T/dev.pem")" = 403 ] || fail "the revoked certificate still opens the device endpoint"

echo "export-cert: all checks passed"
