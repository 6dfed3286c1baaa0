#!/usr/bin/env python3
"""Peer benchmark: 2 worker processes run n tasks returning their int argument, one task
per message (chunk size 1), every result read back. Two variants:
  ppe:  concurrent.futures.ProcessPoolExecutor(2).map(f, range(n), chunksize=1)
  imap: multiprocessing.Pool(2).imap_unordered(f, range(n), chunksize=1)
Fork start method (Python 3.11's default on Linux).

Usage: procpool_py.py ppe|imap [n]   (default 100,000). Prints exactly:
    RESULT procpool-tasks <tasks/s>
"""

import concurrent.futures as cf
import multiprocessing as mp
import sys
import time


def identity(x):
    return x


def main():
    variant = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
    ctx = mp.get_context("fork")
    if variant == "ppe":
        with cf.ProcessPoolExecutor(2, mp_context=ctx) as ex:
            list(ex.map(identity, range(2000), chunksize=1))
            t0 = time.perf_counter()
            total = sum(ex.map(identity, range(n), chunksize=1))
            dt = time.perf_counter() - t0
    else:
        with ctx.Pool(2) as pool:
            list(pool.imap_unordered(identity, range(2000), chunksize=1))
            t0 = time.perf_counter()
            total = sum(pool.imap_unordered(identity, range(n), chunksize=1))
            dt = time.perf_counter() - t0
    assert total == n * (n - 1) // 2
    print(f"RESULT procpool-tasks {n / dt:.6g}")


if __name__ == "__main__":
    main()
