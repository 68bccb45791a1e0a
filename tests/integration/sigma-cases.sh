#!/bin/sh
# Data-driven Sigma tests of vigil-agent (tests/data/sigma, tests/data/sigma-reject).
#
# tests/data/sigma/NNN-name/: rule.yml (one or more rules), events.jsonl and
# expected ("LINE RULE_ID" per match, sorted by line then id; empty: no match).
# The case passes when `vigil-agent test-rules --format lines` exits 0, its
# matches (columns 1-2) are exactly the expected ones, and `vigil-agent
# scan-rules` rejects none of the rules (exit status 0), so that a valid rule
# cannot pass a case by being dropped.
#
# tests/data/sigma-reject/NNN-name/: rule.yml and expected (line 1: the line
# the rejection must name, line 2: a substring its reason must contain,
# compared without case). The case passes when `vigil-agent scan-rules`
# exits 1 and prints a line "...rule.yml:LINE: REASON" whose REASON (the text
# after "rule.yml:LINE: ", not the case's path) contains the substring.
#
# Environment: VIGIL_AGENT (the vigil-agent to test, required),
# VIGIL_TEST_DATA (default: tests/data next to this script's directory).
# Arguments: optional case-name substrings to run only some cases.
# Exit status: 0 when every case passed, 1 otherwise, 77 (skip) without VIGIL_AGENT.

set -u

if [ -z "${VIGIL_AGENT:-}" ] || [ ! -x "$VIGIL_AGENT" ]; then
        echo "sigma-cases: VIGIL_AGENT is not set to an executable vigil-agent" >&2
        exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
data=${VIGIL_TEST_DATA:-$here/../data}
if [ ! -d "$data/sigma" ] || [ ! -d "$data/sigma-reject" ]; then
        echo "sigma-cases: no $data/sigma or $data/sigma-reject" >&2
        exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sigma-cases.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

pass=0
fail=0
failed=

selected() {    # selected NAME: whether the command line picks the case
        [ -z "$filters" ] && return 0
        for f in $filters; do
                case $1 in *"$f"*) return 0 ;; esac
        done
        return 1
}
filters=$*

failure() {     # failure NAME: count a failed case
        fail=$((fail + 1))
        failed="$failed $1"
}

for dir in "$data"/sigma/*/; do
        dir=${dir%/}
        name=sigma/${dir##*/}
        selected "$name" || continue
        if [ ! -f "$dir/rule.yml" ] || [ ! -f "$dir/events.jsonl" ] || [ ! -f "$dir/expected" ]; then
                echo "FAIL $name: rule.yml, events.jsonl or expected is missing"
                failure "$name"
                continue
        fi
        "$VIGIL_AGENT" test-rules --format lines "$dir/rule.yml" "$dir/events.jsonl" \
                >"$tmp/out" 2>"$tmp/err"
        rc=$?
        # every rule of a case is valid: none may be rejected (unsupported
        # log sources are not rejections)
        "$VIGIL_AGENT" scan-rules "$dir/rule.yml" >"$tmp/scan" 2>&1
        scan_rc=$?
        # LINE<TAB>RULE_ID<TAB>LEVEL<TAB>TITLE -> "LINE RULE_ID"
        awk -F '\t' 'NF { print $1 " " $2 }' "$tmp/out" | LC_ALL=C sort -k1,1n -k2,2 >"$tmp/got"
        LC_ALL=C sort -k1,1n -k2,2 "$dir/expected" | sed '/^[[:space:]]*$/d' >"$tmp/want"
        if [ "$rc" -eq 0 ] && [ "$scan_rc" -eq 0 ] && cmp -s "$tmp/want" "$tmp/got"; then
                pass=$((pass + 1))
                continue
        fi
        echo "FAIL $name (test-rules exit status $rc, scan-rules exit status $scan_rc)"
        diff -u --label "$name/expected" --label "$name/got" "$tmp/want" "$tmp/got" | sed 's/^/    /'
        if [ "$scan_rc" -ne 0 ]; then
                echo "    scan-rules:"
                sed 's/^/      /' "$tmp/scan" | head -n 20
        fi
        if [ -s "$tmp/err" ]; then
                echo "    stderr:"
                sed 's/^/      /' "$tmp/err" | head -n 20
        fi
        failure "$name"
done

for dir in "$data"/sigma-reject/*/; do
        dir=${dir%/}
        name=sigma-reject/${dir##*/}
        selected "$name" || continue
        if [ ! -f "$dir/rule.yml" ] || [ ! -f "$dir/expected" ]; then
                echo "FAIL $name: rule.yml or expected is missing"
                failure "$name"
                continue
        fi
        line=$(sed -n 1p "$dir/expected")
        reason=$(sed -n 2p "$dir/expected")
        "$VIGIL_AGENT" scan-rules "$dir/rule.yml" >"$tmp/out" 2>&1
        rc=$?
        # a line naming the file and the line; the reason is what follows
        # (the case's own path must not count: it may contain the words)
        if [ "$rc" -eq 1 ] &&
           sed -n "s/^.*rule\.yml:$line: //p" "$tmp/out" | grep -qiF -- "$reason"; then
                pass=$((pass + 1))
                continue
        fi
        echo "FAIL $name: want exit status 1 and a line 'rule.yml:$line: ...$reason...'; got exit status $rc:"
        sed 's/^/    /' "$tmp/out" | head -n 20
        failure "$name"
done

echo "sigma-cases: $pass passed, $fail failed"
if [ "$fail" -gt 0 ]; then
        echo "failed:$failed"
        exit 1
fi
exit 0
