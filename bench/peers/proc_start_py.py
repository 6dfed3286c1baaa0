#!/usr/bin/env python3
"""Peer benchmark: multiprocessing.Process of an empty function, started and joined n
times one after the other, with the fork start method (the cheapest Python has here).

Usage: proc_start_py.py [n]   (default 500). Prints exactly:
    RESULT proc-start <starts/s>
"""

import multiprocessing as mp
import sys
import time


def empty():
    pass


def run(ctx, n):
    for _ in range(n):
        p = ctx.Process(target=empty)
        p.start()
        p.join()
        assert p.exitcode == 0


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    ctx = mp.get_context("fork")
    run(ctx, 20)
    t0 = time.perf_counter()
    run(ctx, n)
    print(f"RESULT proc-start {n / (time.perf_counter() - t0):.6g}")


if __name__ == "__main__":
    main()
