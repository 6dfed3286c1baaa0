#!/usr/bin/env python3
"""Peer benchmark: Python's Popen.communicate, 64 MB through /bin/cat and back.

Popen(["/bin/cat"], stdin=PIPE, stdout=PIPE).communicate(data), the output
checked.  MB/s: 64 MB over the time from Popen to the child's exit; the median
of 3 runs after a warm-up run.

Usage: proc_communicate_py.py [megabytes]   (default 64)
Prints exactly:
    RESULT proc-communicate <MB/s>
"""

import statistics
import subprocess
import sys
import time


def once(data):
    t0 = time.perf_counter()
    p = subprocess.Popen(["/bin/cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    out, _ = p.communicate(data)
    secs = time.perf_counter() - t0
    if p.returncode != 0 or out != data:
        raise SystemExit("cat gave back something else")
    return len(data) / (1 << 20) / secs


def main():
    mb = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    data = bytes((i * 2654435761 >> 24) & 0xff for i in range(1 << 16)) * (mb * 16)
    once(data)
    print("RESULT proc-communicate %.6g" % statistics.median([once(data) for _ in range(3)]),
          flush=True)


if __name__ == "__main__":
    main()
