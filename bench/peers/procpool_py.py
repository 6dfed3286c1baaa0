#!/usr/bin/env python3
"""Peer benchmark: 2 worker processes run n tasks returning their int argument, one task
per message (chunk size 1), every result read back. Two variants:
  ppe:  concurrent.futures.ProcessPoolExecutor(2).map(f, range(n), chunksize=1)
  imap: multiprocessing.Pool(2).imap_unordered(f, range(n), chunksize=1)
Fork start method (Python 3.11's default on Linux).

and, chunked (procpool-chunked, n * 10 items):
  ppe-chunked: ProcessPoolExecutor(2).map(f, range(n), chunksize=1000)
  map:         multiprocessing.Pool(2).map(f, range(n))   (its default chunk size)

Usage: procpool_py.py ppe|imap|ppe-chunked|map [n]   (default 100,000). Prints exactly:
    RESULT procpool-tasks <tasks/s>     or     RESULT procpool-chunked <tasks/s>
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
    elif variant == "imap":
        with ctx.Pool(2) as pool:
            list(pool.imap_unordered(identity, range(2000), chunksize=1))
            t0 = time.perf_counter()
            total = sum(pool.imap_unordered(identity, range(n), chunksize=1))
            dt = time.perf_counter() - t0
    else:
        n *= 10
        with cf.ProcessPoolExecutor(2, mp_context=ctx) if variant == "ppe-chunked" \
                else ctx.Pool(2) as ex:
            if variant == "ppe-chunked":
                list(ex.map(identity, range(n // 10), chunksize=1000))
                t0 = time.perf_counter()
                total = sum(ex.map(identity, range(n), chunksize=1000))
            else:
                ex.map(identity, range(n // 10))
                t0 = time.perf_counter()
                total = sum(ex.map(identity, range(n)))
            dt = time.perf_counter() - t0
        assert total == n * (n - 1) // 2
        print(f"RESULT procpool-chunked {n / dt:.6g}")
        return
    assert total == n * (n - 1) // 2
    print(f"RESULT procpool-tasks {n / dt:.6g}")


if __name__ == "__main__":
    main()
