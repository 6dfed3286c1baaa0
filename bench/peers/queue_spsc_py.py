#!/usr/bin/env python3
"""Peer benchmark: Python queue.Queue, single producer / single consumer.

Two threading.Thread objects share one queue.Queue(maxsize=1024): the
producer puts the integers 1..n, the consumer gets n items and checks that
they arrive in order.  Both threads are started first and released together
by a threading.Event; the time from the release until both have finished is
the measured interval.  A warm-up pass of n/10 items (at least 10,000) runs
before the timed pass.  (CPython's GIL lets only one of the threads run
Python code at a time.)

The default count is 10^6 items, not 10^7 as for the other queue-spsc
programs, because CPython is slow; the figure is still items per second.

Usage: queue_spsc_py.py [items]   (default 1,000,000 items)
Prints exactly: RESULT queue-spsc <items per second>
"""

import queue
import sys
import threading
import time

CAPACITY = 1024


def one_pass(n):
    """Move n items through a fresh queue; return the elapsed seconds."""
    q = queue.Queue(maxsize=CAPACITY)
    start = threading.Event()
    ok = [False]

    def producer():
        start.wait()
        put = q.put
        for i in range(1, n + 1):
            put(i)

    def consumer():
        start.wait()
        get = q.get
        good = True
        for i in range(1, n + 1):
            if get() != i:
                good = False
        ok[0] = good

    threads = [threading.Thread(target=consumer),
               threading.Thread(target=producer)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    start.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if not ok[0] or not q.empty():
        print("queue_spsc_py: items lost or out of order", file=sys.stderr)
        sys.exit(1)
    return elapsed


def main():
    items = 1000000
    if len(sys.argv) > 1:
        try:
            items = int(sys.argv[1])
        except ValueError:
            items = 0
        if items <= 0:
            print("queue_spsc_py: bad item count %r" % sys.argv[1],
                  file=sys.stderr)
            return 2
    one_pass(max(items // 10, 10000))
    elapsed = one_pass(items)
    print("RESULT queue-spsc %.1f" % (items / elapsed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
