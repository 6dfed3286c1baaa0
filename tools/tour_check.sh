#!/bin/sh
# tools/tour_check.sh TOUR — runs the tour (not on a terminal: plain lines) and checks the
# shape of its tables: every section and row present, each row's time and speed-up positive,
# the final line saying every result was checked. Exit 0 only then.
set -u
out=$("$1") || { echo "$out"; echo "tour_check: the tour failed" >&2; exit 1; }
echo "$out"
for row in "weft, sequential" "weft, thread pool of 5" "weft, coroutines on one thread" \
           "without a lock" "with a weft_lock" "awaited in turn" "spawned, then awaited" \
           "in a task group" "spinner while" "3 coroutines + 2 threads"; do
    line=$(printf '%s\n' "$out" | grep -F "  $row" | head -n 1)
    if [ -z "$line" ]; then echo "tour_check: no row '$row'" >&2; exit 1; fi
    # The time column (a number followed by " s") must be positive.
    t=$(printf '%s\n' "$line" | sed -n 's/.* \([0-9][0-9]*\.[0-9]*\) s.*/\1/p')
    if [ -z "$t" ] || ! awk -v t="$t" 'BEGIN { exit !(t > 0) }'; then
        echo "tour_check: row '$row' has no positive time: $line" >&2; exit 1
    fi
done
for x in $(printf '%s\n' "$out" | sed -n 's/.* \([0-9][0-9]*\.[0-9]*\)x .*/\1/p'); do
    awk -v x="$x" 'BEGIN { exit !(x > 0) }' || { echo "tour_check: speed-up $x" >&2; exit 1; }
done
printf '%s\n' "$out" | grep -q "^tour: every result checked" || exit 1
printf '%s\n' "$out" | grep -q "$(printf '\033')" && { echo "tour_check: escape codes in a pipe" >&2; exit 1; }
exit 0
