#!/usr/bin/env bash
# The lost wake-up soak (issue 20): test_cond, test_queue and test_lock of an aarch64 build,
# run over and over under qemu-user beside two CPU hogs, for SECONDS seconds in all.
#
# Why these three: they share the waiter and the lock's WOKEN/WAITERS hand-off, and under
# qemu (which turns aarch64's acquire/release pairs into plain x86 moves the host may
# reorder) they stalled with every thread asleep until the sleep/wake paths got a full fence
# between the publishing store and the look that follows it (weft__store_load_fence). The
# hogs take the host's cores away at random moments, which widens such windows.
#
# Usage: tools/soak.sh BUILD_DIR SECONDS. Each run is bounded (a stall shows as a timeout);
# any failure or timeout fails the soak. Prints one line per run and a summary.
set -u
dir=${1:?usage: soak.sh BUILD_DIR SECONDS}
seconds=${2:-150}
qemu=(qemu-aarch64 -L /usr/aarch64-linux-gnu)
# Each binary takes 6-16 s alone under qemu on this machine; ten times that is a stall.
per_run=180

hogs=()
for _ in 1 2; do
    ( exec yes >/dev/null ) &
    hogs+=($!)
done
trap 'kill "${hogs[@]}" 2>/dev/null' EXIT

runs=0
bad=0
end=$((SECONDS + seconds))
while [ $SECONDS -lt $end ]; do
    for t in cond queue lock; do
        t0=$SECONDS
        timeout --signal=KILL $per_run "${qemu[@]}" "$dir/tests/test_$t" >/tmp/soak.$$.log 2>&1
        rc=$?
        runs=$((runs + 1))
        if [ $rc -ne 0 ]; then
            bad=$((bad + 1))
            echo "soak: test_$t FAILED (exit $rc after $((SECONDS - t0)) s; 137 = stalled, killed)"
            tail -n 20 /tmp/soak.$$.log
        else
            echo "soak: test_$t ok in $((SECONDS - t0)) s"
        fi
        [ $SECONDS -lt $end ] || break
    done
done
rm -f /tmp/soak.$$.log
echo "soak: $runs runs, $bad failed, in $SECONDS s"
[ $bad -eq 0 ]
