#!/bin/sh
# tools/tour_check.sh TOUR — runs the tour (not on a terminal: plain lines) and checks the
# shape of its tables: every section and row present, each row's time and speed-up positive,
# the final line saying every result was checked, no escape code. Exit 0 only then.
#
# A few rows cannot run everywhere and then say "(not run: why)" instead of a time: the
# process rows under a sanitizer (ASan's allocator is not fork-safe; TSan cannot start
# threads in a forked child) or without pidfd_open (Valgrind), and the SQLite row in a build
# without SQLite. Those are accepted only for those rows and only with a reason; the tour
# itself counts any other trouble of theirs as a wrong result (exit 1).
set -u
out=$("$1") || { echo "$out"; echo "tour_check: the tour failed" >&2; exit 1; }
out=$(printf "%s\n" "$out" | tr -d "\r")
echo "$out"
check_row() {        # check_row ROW MAY_SKIP
    line=$(printf '%s\n' "$out" | grep -F "  $1" | head -n 1)
    if [ -z "$line" ]; then echo "tour_check: no row '$1'" >&2; exit 1; fi
    if [ "$2" = yes ] && printf '%s\n' "$line" | grep -q '(not run: [a-z]'; then return; fi
    # The time column (a number followed by " s") must be positive.
    t=$(printf '%s\n' "$line" | sed -n 's/^  .\{38\} *\([0-9][0-9]*\.[0-9]*\) s.*/\1/p')
    if [ -z "$t" ] || ! awk -v t="$t" 'BEGIN { exit !(t > 0) }'; then
        echo "tour_check: row '$1' has no positive time: $line" >&2; exit 1
    fi
}
for row in "weft, sequential" "weft, thread pool of 5" "weft, coroutines on one thread" \
           "weft, thread pool of" "without a lock" "with a weft_lock" "awaited in turn" \
           "spawned, then awaited" "in a task group" "spinner thread" "spinner coroutine" \
           "3 coroutines + 2 threads" "non-daemon thread" "daemon thread"; do
    check_row "$row" no
done
for row in "weft, process pool of 5" "weft, process pool of" "spinner process" \
           "100 coroutines -> 1 writer thread"; do
    check_row "$row" yes
done
for n in 1 2 3 4 5 6 7 8; do
    printf '%s\n' "$out" | grep -q "^$n\. " || { echo "tour_check: no section $n" >&2; exit 1; }
done
for x in $(printf '%s\n' "$out" | sed -n 's/.* \([0-9][0-9]*\.[0-9]*\)x .*/\1/p'); do
    awk -v x="$x" 'BEGIN { exit !(x > 0) }' || { echo "tour_check: speed-up $x" >&2; exit 1; }
done
printf '%s\n' "$out" | grep -q "^tour: every result checked" || exit 1
printf '%s\n' "$out" | grep -q "$(printf '\033')" && { echo "tour_check: escape codes in a pipe" >&2; exit 1; }
exit 0
