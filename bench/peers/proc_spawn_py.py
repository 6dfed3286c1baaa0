#!/usr/bin/env python3
"""Peer benchmark: Python's subprocess starting /bin/true and waiting for it.

proc-spawn-seq: n times subprocess.run(["/bin/true"], check=True).
proc-spawn-8:   the same n runs by 8 threads at once (a ThreadPoolExecutor of 8:
                subprocess releases the GIL while it forks/execs and waits).
Spawns per second, after a warm-up of 100.  CPython uses vfork or
posix_spawn where it can (3.10+).

Usage: proc_spawn_py.py [n]   (default 2,000)
Prints exactly:
    RESULT proc-spawn-seq <spawns/s>
    RESULT proc-spawn-8 <spawns/s>
"""

import concurrent.futures
import subprocess
import sys
import time


def one(_=None):
    subprocess.run(["/bin/true"], check=True)


def seq(n):
    t0 = time.perf_counter()
    for _ in range(n):
        one()
    return n / (time.perf_counter() - t0)


def eight(n):
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        t0 = time.perf_counter()
        list(ex.map(one, range(n)))
        return n / (time.perf_counter() - t0)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    seq(100)
    print("RESULT proc-spawn-seq %.6g" % seq(n), flush=True)
    eight(100)
    print("RESULT proc-spawn-8 %.6g" % eight(n), flush=True)


if __name__ == "__main__":
    main()
