#!/usr/bin/env python3
"""Peer benchmark: asyncio's subprocesses starting /bin/true and waiting for it.

proc-spawn-seq: n times { p = await create_subprocess_exec("/bin/true");
                await p.wait() } in one coroutine.
proc-spawn-8:   8 tasks doing the same until n have run.
Spawns per second, after a warm-up of 100.  The default event loop and child
watcher of this Python (3.11: ThreadedChildWatcher, or PidfdChildWatcher where
the policy picks it).

Usage: proc_spawn_asyncio.py [n]   (default 2,000)
Prints exactly:
    RESULT proc-spawn-seq <spawns/s>
    RESULT proc-spawn-8 <spawns/s>
"""

import asyncio
import sys
import time


async def one():
    p = await asyncio.create_subprocess_exec("/bin/true")
    if await p.wait() != 0:
        raise SystemExit("/bin/true failed")


async def seq(n):
    t0 = time.perf_counter()
    for _ in range(n):
        await one()
    return n / (time.perf_counter() - t0)


async def eight(n):
    left = [n]

    async def worker():
        while left[0] > 0:
            left[0] -= 1
            await one()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(8)))
    return n / (time.perf_counter() - t0)


async def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    await seq(100)
    print("RESULT proc-spawn-seq %.6g" % await seq(n), flush=True)
    await eight(100)
    print("RESULT proc-spawn-8 %.6g" % await eight(n), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
