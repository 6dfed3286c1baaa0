#!/usr/bin/env python3
"""Peer benchmark (shared-queue): one producer process puts n ints on a queue, one
consumer process takes them and checks the sum; messages per second, from the start of
the consumer to its end. Variants: multiprocessing.Queue(1000) (pickling, a feeder
thread) and multiprocessing.SimpleQueue (a pipe and locks). Fork start method.

Usage: shared_queue_py.py queue|simple [n]   (default 200,000). Prints exactly:
    RESULT shared-queue <msgs/s>
"""

import multiprocessing as mp
import sys
import time


def consume(q, n, out):
    s = 0
    for _ in range(n):
        s += q.get()
    out.put(s)


def main():
    variant = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200000
    ctx = mp.get_context("fork")
    q = ctx.Queue(1000) if variant == "queue" else ctx.SimpleQueue()
    out = ctx.SimpleQueue()
    t0 = time.perf_counter()
    p = ctx.Process(target=consume, args=(q, n, out))
    p.start()
    for i in range(n):
        q.put(i)
    total = out.get()
    p.join()
    dt = time.perf_counter() - t0
    if total != n * (n - 1) // 2:
        sys.exit("wrong sum")
    print(f"RESULT shared-queue {n / dt:.6g}")


if __name__ == "__main__":
    main()
