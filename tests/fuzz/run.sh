#!/bin/sh
# tests/fuzz/run.sh BUILD_DIR SECONDS — `make fuzz`'s runner (see README.md here).
# For each fuzzer (BUILD_DIR/fuzz_stream, fuzz_http, fuzz_procpool, fuzz_dist): replays the inputs kept in
# tests/fuzz/regress/<name>/ (inputs that once failed), then fuzzes for SECONDS, starting
# from the seeds in tests/fuzz/corpus/<name>/ and from what earlier runs found in
# BUILD_DIR/corpus/<name>/ (where new inputs go: the source tree is not written). A failing
# input is saved as BUILD_DIR/fuzz_<name>-crash-<sha1> (or -leak-, -timeout-...), and its
# report is in BUILD_DIR/fuzz_<name>.log. Exit status 0 only if every run passed.
set -u
if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
build=$1
secs=$2
here=$(cd "$(dirname "$0")" && pwd)
status=0
for name in stream http procpool dist; do
    exe=$build/fuzz_$name
    log=$build/fuzz_$name.log
    set -- -artifact_prefix="$build/fuzz_$name-" -timeout=30 -rss_limit_mb=2048 \
           -print_final_stats=1
    [ -f "$here/$name.dict" ] && set -- "$@" -dict="$here/$name.dict"
    : >"$log"
    if ls "$here/regress/$name"/* >/dev/null 2>&1; then
        if ! "$exe" "$@" "$here/regress/$name"/* >>"$log" 2>&1; then
            echo "=== fuzz_$name: a kept input fails again (tests/fuzz/regress/$name/):"
            tail -n 40 "$log"
            status=1
            continue
        fi
    fi
    mkdir -p "$build/corpus/$name"
    if "$exe" "$@" -max_total_time="$secs" "$build/corpus/$name" "$here/corpus/$name" \
            >>"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        echo "=== fuzz_$name: ${runs:-?} inputs in $secs s, no failure"
    else
        echo "=== fuzz_$name: FAILED; the report (all of it in $log):"
        grep -v '^#[0-9]' "$log" | tail -n 60
        status=1
    fi
done
exit $status
