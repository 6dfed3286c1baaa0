#!/usr/bin/env python3
"""Peer benchmark: signal-latency with asyncio: loop.add_signal_handler(SIGUSR1) resolves a
future; os.kill(os.getpid(), SIGUSR1), then await the future; median ns over n, after 1,000.

Usage: signal_py.py [n]   (default 20,000). Prints exactly:
    RESULT signal-latency <ns>
"""

import asyncio
import os
import signal
import sys
import time


async def main(n):
    loop = asyncio.get_running_loop()
    box = {}
    loop.add_signal_handler(signal.SIGUSR1, lambda: box["f"].set_result(None))
    times = []
    pid = os.getpid()
    for i in range(-1000, n):
        box["f"] = loop.create_future()
        t0 = time.perf_counter_ns()
        os.kill(pid, signal.SIGUSR1)
        await box["f"]
        if i >= 0:
            times.append(time.perf_counter_ns() - t0)
    times.sort()
    print(f"RESULT signal-latency {times[n // 2]}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000))
