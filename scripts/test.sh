#!/bin/sh
# 'make test': install what is missing, build, and run every test twice —
# in the ordinary build and in a build with AddressSanitizer and
# UndefinedBehaviorSanitizer — then fuzz every parser for a bounded time with
# libFuzzer. Ends with one summary line: "N passed, N failed, N skipped".
set -eu
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${VIGIL_FUZZ_SECONDS:-10}

scripts/install-deps.sh test

summary_counts() {
    # counts results in a meson testlog.json: prints "ok fail skip"
    jq -rs '[.[] | .result] | [ (map(select(. == "OK" or . == "EXPECTEDFAIL")) | length),
             (map(select(. == "FAIL" or . == "TIMEOUT" or . == "ERROR" or . == "UNEXPECTEDPASS")) | length),
             (map(select(. == "SKIP")) | length) ] | @tsv' "$1"
}

status=0
passed=0; failed=0; skipped=0
run_suite() {
    dir=$1; shift
    echo "== tests in $dir"
    meson test -C "$dir" --print-errorlogs "$@" || status=1
    set -- $(summary_counts "$dir/meson-logs/testlog.json")
    passed=$((passed + $1)); failed=$((failed + $2)); skipped=$((skipped + $3))
}

[ -f build/build.ninja ] || meson setup build
ninja -C build
run_suite build

[ -f build-asan/build.ninja ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
ninja -C build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    run_suite build-asan

# libFuzzer: every harness, from its seed corpus, for a bounded time.
if command -v clang >/dev/null 2>&1; then
    [ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz -Dfuzz=true \
        -Db_sanitize=address,undefined -Db_lundef=false -Dtests=enabled
    ninja -C build-fuzz $(cd tests/fuzz && ls fuzz-*.c | sed 's/\.c$//; /fuzz-driver/d; s|^|tests/fuzz/|')
    for f in tests/fuzz/fuzz-*.c; do
        name=$(basename "$f" .c | sed 's/^fuzz-//')
        [ "$name" = driver ] && continue
        corpus=$(mktemp -d)
        cp tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null || true
        echo "== fuzz $name for ${FUZZ_SECONDS}s"
        if build-fuzz/tests/fuzz/fuzz-"$name" -max_total_time="$FUZZ_SECONDS" -max_len=65536 \
                -print_final_stats=1 "$corpus" >"$corpus.log" 2>&1; then
            passed=$((passed + 1)); grep -E "stat::number_of_executed_units|stat::new_units_added" "$corpus.log" || true
        else
            failed=$((failed + 1)); status=1; tail -40 "$corpus.log"
        fi
        rm -rf "$corpus" "$corpus.log"
    done
fi

echo "vigil: $passed passed, $failed failed, $skipped skipped"
exit $status
