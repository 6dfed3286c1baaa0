#!/usr/bin/env python3
"""Peer benchmark: dist-throughput and dist-latency on RQ (Debian's python3-rq 1.13), a
redis-server of the benchmark's own on a Unix socket, no persistence, as bench/weft_dist.c.

Workers: 2 `rq worker` processes, default queue: the default Worker class, which forks a
work horse per job (RQ's documented default), or with `simple`, SimpleWorker (runs the job
in the worker process itself, no fork). RQ 1.13 has no blocking wait for a result: the
client polls Job.return_value() (one XREVRANGE on the job's result stream) with 0.5 ms
sleeps between polls, and Job.get_status() to see a failure.

dist-throughput: n jobs `identity` (returns its argument) enqueued, then every result read
back in order and checked; tasks/s after a warm-up of 50. dist-latency: m times enqueue +
wait for the result, µs, after 20.

Also the tasks of bench/dist_kill_table.py (`sleep20`, logging its start and end to
$DIST_BENCH_LOG).

Usage: dist_rq_py.py [n [m [fork|simple]]]   (default 300 and 100, fork; the program runs
about 20 s with the forking worker (~20 tasks/s here), so run.py passes 2,000 and 300 for
`simple`; RQ is too slow for weft's 100,000: the figures are rates and percentiles,
comparable all the same). Prints
    RESULT dist-throughput <tasks/s>
    RESULT dist-latency-p50 <us>
    RESULT dist-latency-p99 <us>
or SKIP rq-not-installed when python3-rq is missing.
"""

import os
import sys
import time


def identity(x):
    return x


def sleep20(x):
    log = os.environ.get("DIST_BENCH_LOG")
    if log:
        with open(log, "a") as f:
            f.write("S %d %d %d\n" % (x, os.getpid(), time.time_ns()))
    time.sleep(0.02)
    if log:
        with open(log, "a") as f:
            f.write("E %d %d %d\n" % (x, os.getpid(), time.time_ns()))
    return x


def worker_argv(server, name, simple=False):
    return ([sys.executable, "-m", "rq.cli", "worker", "--url", "unix://" + server.sock,
             "--name", name, "--quiet", "--path", os.path.dirname(os.path.abspath(__file__))]
            + (["-w", "rq.worker.SimpleWorker"] if simple else []))


def start_workers(server, env_extra=None, logdir=None, simple=False):
    """2 RQ workers on server; returns them once both are registered."""
    import dist_redis
    from rq import Worker
    ws = [dist_redis.start_worker(worker_argv(server, "w%d" % i, simple), env_extra,
                                  "rq-w%d.log" % i, logdir or server.dir) for i in range(2)]
    conn = server.client()
    deadline = time.monotonic() + 60
    while len(Worker.all(connection=conn)) < 2:
        if time.monotonic() > deadline or any(w.poll() is not None for w in ws):
            for w in ws:
                dist_redis.kill_worker(w)
            raise RuntimeError("rq workers did not start (see %s)" % server.dir)
        time.sleep(0.05)
    return ws


def wait_result(job, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        v = job.return_value()
        if v is not None:
            return v
        if job.get_status() == "failed" or time.monotonic() > deadline:
            raise SystemExit("job %s failed or timed out" % job.id)
        time.sleep(0.0005)


def main():
    try:
        from rq import Queue
    except ImportError:
        print("SKIP rq-not-installed")
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    m = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    simple = len(sys.argv) > 3 and sys.argv[3] == "simple"
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import dist_redis
    from dist_rq_py import identity as task  # the workers import it by this name
    server = dist_redis.RedisServer()
    ws = []
    try:
        ws = start_workers(server, simple=simple)
        q = Queue(connection=server.client())

        def throughput(k):
            jobs = [q.enqueue(task, i) for i in range(k)]
            for i, j in enumerate(jobs):
                if wait_result(j) != i:
                    raise SystemExit("wrong result")

        throughput(50)
        t0 = time.perf_counter()
        throughput(n)
        print("RESULT dist-throughput %.6g" % (n / (time.perf_counter() - t0)), flush=True)

        def roundtrip(i):
            t = time.perf_counter()
            if wait_result(q.enqueue(task, i)) != i:
                raise SystemExit("wrong result")
            return (time.perf_counter() - t) * 1e6

        for i in range(20):
            roundtrip(i)
        lat = sorted(roundtrip(i) for i in range(m))
        print("RESULT dist-latency-p50 %.6g" % dist_redis.percentile(lat, 0.5))
        print("RESULT dist-latency-p99 %.6g" % dist_redis.percentile(lat, 0.99), flush=True)
    finally:
        for w in ws:
            dist_redis.stop_worker(w)
        server.stop()


if __name__ == "__main__":
    main()
