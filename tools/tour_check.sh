#!/bin/sh
# tools/tour_check.sh TOUR [--may-skip-processes] [--no-sqlite] — runs the tour (not on a
# terminal: plain lines) and checks the shape of its tables: every section present, every
# row of each section present in that section, each row's time and speed-up positive, the
# final line saying every result was checked, no escape code and no carriage return.
# Exit 0 only then.
#
# Rows may say "(not run: why)" instead of a time only where the build says they cannot
# run: the process rows under a sanitizer (--may-skip-processes: ASan's allocator is not
# fork-safe; TSan cannot start threads in a forked child), the SQLite row in a build
# without SQLite (--no-sqlite). The tour itself counts any other trouble as a wrong result.
set -u
tour=$1; shift
skip_proc=no; skip_sqlite=no
for a in "$@"; do
    case $a in
        --may-skip-processes) skip_proc=yes ;;
        --no-sqlite) skip_sqlite=yes ;;
        *) echo "tour_check: unknown option $a" >&2; exit 2 ;;
    esac
done
out=$("$tour") || { echo "$out"; echo "tour_check: the tour failed" >&2; exit 1; }
echo "$out"
fail() { echo "tour_check: $*" >&2; exit 1; }
printf '%s' "$out" | grep -q "$(printf '\r')" && fail "carriage returns in a pipe"
printf '%s' "$out" | grep -q "$(printf '\033')" && fail "escape codes in a pipe"

# section N: the lines from "N. " to the next section's heading (or the end).
section() {
    printf '%s\n' "$out" | awk -v n="$1" '
        /^[0-9]+\. / { cur = $0 ~ "^" n "\\. " } cur'
}
check_row() {        # check_row SECTION ROW MAY_SKIP
    body=$(section "$1")
    [ -n "$body" ] || fail "no section $1"
    line=$(printf '%s\n' "$body" | grep -F "  $2" | head -n 1)
    [ -n "$line" ] || fail "no row '$2' in section $1"
    if printf '%s\n' "$line" | grep -q '(not run: [a-z]'; then
        [ "$3" = yes ] && return
        fail "row '$2' of section $1 did not run: $line"
    fi
    # The time column (a number followed by " s") must be positive.
    t=$(printf '%s\n' "$line" | sed -n 's/^  .\{38\} *\([0-9][0-9]*\.[0-9]*\) s.*/\1/p')
    if [ -z "$t" ] || ! awk -v t="$t" 'BEGIN { exit !(t > 0) }'; then
        fail "row '$2' of section $1 has no positive time: $line"
    fi
}
for row in "weft, sequential" "weft, thread pool of 5" "weft, coroutines on one thread"; do
    check_row 1 "$row" no
done
check_row 1 "weft, process pool of 5" $skip_proc
for row in "weft, sequential" "weft, thread pool of"; do check_row 2 "$row" no; done
check_row 2 "weft, process pool of" $skip_proc
for row in "without a lock" "with a weft_lock"; do check_row 3 "$row" no; done
for row in "awaited in turn" "spawned, then awaited" "in a task group"; do check_row 4 "$row" no; done
for row in "spinner thread" "spinner coroutine"; do check_row 5 "$row" no; done
check_row 5 "spinner process" $skip_proc
check_row 6 "3 coroutines + 2 threads" no
for row in "non-daemon thread" "daemon thread"; do check_row 7 "$row" no; done
check_row 8 "100 coroutines -> 1 writer thread" $skip_sqlite
for x in $(printf '%s\n' "$out" | sed -n 's/.* \([0-9][0-9]*\.[0-9]*\)x .*/\1/p'); do
    awk -v x="$x" 'BEGIN { exit !(x > 0) }' || fail "speed-up $x"
done
printf '%s\n' "$out" | grep -q "^tour: every result checked" || fail "the last line"
exit 0
