#!/usr/bin/env python3
"""Peer benchmark: Python concurrent.futures.ThreadPoolExecutor(max_workers=2).

pool-throughput: submit N tasks, each an atomic increment of a shared
counter (next() on an itertools.count, which is atomic under the GIL), then
wait for all of them with concurrent.futures.wait(futures) (ALL_COMPLETED).
Interval: from the first submit until wait returns.  Reported as tasks per
second.

pool-roundtrip: R times, pool.submit(task, i).result(), checking the result
(i + 1).  Reported as ns per round trip.

The default counts are SMALLER than the other pool programs' (CPython is
slow): 100,000 tasks instead of 1,000,000 and 20,000 round trips instead of
100,000; the figures are still tasks per second and ns per round trip.  The
executor's two threads are started by the warm-up passes (a tenth of each
count), which run before the timed passes.

Usage: pool_py.py [tasks [roundtrips]]   (default 100,000 and 20,000)
Prints exactly:
    RESULT pool-throughput <tasks per second>
    RESULT pool-roundtrip <ns per round trip>
"""

import concurrent.futures
import itertools
import sys
import time


def throughput_pass(pool, n):
    """Submit n counter tasks, wait for all; return the elapsed seconds."""
    counter = itertools.count()
    task = counter.__next__
    submit = pool.submit
    t0 = time.perf_counter()
    futures = [submit(task) for _ in range(n)]
    done, not_done = concurrent.futures.wait(futures)
    elapsed = time.perf_counter() - t0
    if not_done or len(done) != n or next(counter) != n:
        print("pool_py: not all tasks ran", file=sys.stderr)
        sys.exit(1)
    for f in futures:
        if f.exception() is not None:
            print("pool_py: task failed: %r" % f.exception(), file=sys.stderr)
            sys.exit(1)
    return elapsed


def add_one(x):
    return x + 1


def roundtrip_pass(pool, r):
    """r times submit one task and wait for its result; elapsed seconds."""
    submit = pool.submit
    t0 = time.perf_counter()
    for i in range(1, r + 1):
        if submit(add_one, i).result() != i + 1:
            print("pool_py: round trip %d: wrong result" % i, file=sys.stderr)
            sys.exit(1)
    return time.perf_counter() - t0


def parse_count(s):
    try:
        v = int(s)
    except ValueError:
        v = 0
    if v < 10:
        print("pool_py: bad count %r (at least 10)" % s, file=sys.stderr)
        sys.exit(2)
    return v


def main():
    if len(sys.argv) > 3:
        print("usage: pool_py.py [tasks [roundtrips]]", file=sys.stderr)
        return 2
    tasks = parse_count(sys.argv[1]) if len(sys.argv) > 1 else 100000
    roundtrips = parse_count(sys.argv[2]) if len(sys.argv) > 2 else 20000
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        throughput_pass(pool, tasks // 10)
        elapsed = throughput_pass(pool, tasks)
        print("RESULT pool-throughput %.1f" % (tasks / elapsed))
        roundtrip_pass(pool, roundtrips // 10)
        elapsed = roundtrip_pass(pool, roundtrips)
        print("RESULT pool-roundtrip %.1f" % (elapsed * 1e9 / roundtrips))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
