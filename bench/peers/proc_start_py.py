#!/usr/bin/env python3
"""Peer benchmark: multiprocessing.Process of an empty function, started and joined n
times one after the other, with the fork start method (the cheapest Python has here) or
forkserver (Python 3.14's default on Linux: a server process forks the children).

Usage: proc_start_py.py [fork|forkserver] [n]   (default fork, 500). Prints exactly:
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
    args = sys.argv[1:]
    method = args.pop(0) if args and not args[0].isdigit() else "fork"
    n = int(args[0]) if args else 500
    ctx = mp.get_context(method)
    run(ctx, 20)
    t0 = time.perf_counter()
    run(ctx, n)
    print(f"RESULT proc-start {n / (time.perf_counter() - t0):.6g}")


if __name__ == "__main__":
    main()
