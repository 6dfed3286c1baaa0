#!/usr/bin/env python3
"""Peer benchmark: dist-throughput and dist-latency on Celery (Debian's python3-celery 5.2,
kombu's Redis transport), Redis as broker and result backend: a redis-server of the
benchmark's own on a Unix socket (redis+socket://), no persistence, as bench/weft_dist.c.

Workers: 2 `celery worker` processes, each `-P prefork -c 1` (Celery's default pool, one
pool process each: 2 processes run tasks, as weft's 2 worker processes), default prefetch
(4 per pool process), acks early (the default), --without-gossip --without-mingle
--without-heartbeat (no broker traffic between workers). JSON serializer (the default).

dist-throughput: n tasks `identity` (returns its argument) sent with .delay(), then every
result read back with AsyncResult.get() in order (the Redis backend's pub/sub result
consumer; the task's channel is subscribed at send time) and checked; tasks/s after a
warm-up of 200. dist-latency: m times .delay(i).get(), µs, after 50.

Also the app of bench/dist_kill_table.py (task `sleep20`, logging its start and end to
$DIST_BENCH_LOG; $DIST_CELERY_ACKS_LATE=1: task_acks_late and task_reject_on_worker_lost).

Usage: dist_celery_py.py [n [m]]   (default 5,000 and 500: Celery is too slow for weft's
100,000; the figures are rates and percentiles, comparable all the same). Prints
    RESULT dist-throughput <tasks/s>
    RESULT dist-latency-p50 <us>
    RESULT dist-latency-p99 <us>
or SKIP celery-not-installed when python3-celery is missing.
"""

import os
import sys
import time

try:
    from celery import Celery
except ImportError:
    Celery = None

URL = os.environ.get("DIST_BENCH_URL", "redis://localhost")
ACKS_LATE = os.environ.get("DIST_CELERY_ACKS_LATE") == "1"

if Celery is not None:
    app = Celery("dist_celery_py", broker=URL, backend=URL)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=ACKS_LATE,
        task_reject_on_worker_lost=ACKS_LATE,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )

    @app.task
    def identity(x):
        return x

    @app.task
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


def worker_argv(name):
    return [sys.executable, "-m", "celery", "-A", "dist_celery_py", "worker", "-P", "prefork",
            "-c", "1", "-n", name + "@%h", "--without-gossip", "--without-mingle",
            "--without-heartbeat", "-l", "WARNING"]


def start_workers(server, env_extra=None, logdir=None):
    """2 Celery workers on server; returns them once both answer a ping."""
    import dist_redis
    env = {"DIST_BENCH_URL": celery_url(server)}
    env.update(env_extra or {})
    ws = [dist_redis.start_worker(worker_argv("w%d" % i), env, "celery-w%d.log" % i,
                                  logdir or server.dir) for i in range(2)]
    deadline = time.monotonic() + 60
    while len(app.control.ping(timeout=0.5) or []) < 2:
        if time.monotonic() > deadline or any(w.poll() is not None for w in ws):
            for w in ws:
                dist_redis.kill_worker(w)
            raise RuntimeError("celery workers did not start (see %s)" % server.dir)
    return ws


def celery_url(server):
    return "redis+socket://" + server.sock


def main():
    if Celery is None:
        print("SKIP celery-not-installed")
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    m = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import dist_redis
    server = dist_redis.RedisServer()
    ws = []
    try:
        url = celery_url(server)
        app.conf.broker_url = url
        app.conf.result_backend = url
        t = time.monotonic()
        ws = start_workers(server)
        print("workers up in %.1f s" % (time.monotonic() - t), file=sys.stderr)

        def throughput(k):
            rs = [identity.delay(i) for i in range(k)]
            for i, r in enumerate(rs):
                if r.get(timeout=60) != i:
                    raise SystemExit("wrong result")
                r.forget()

        throughput(200)
        t0 = time.perf_counter()
        throughput(n)
        print("RESULT dist-throughput %.6g" % (n / (time.perf_counter() - t0)), flush=True)

        def roundtrip(i):
            t = time.perf_counter()
            if identity.delay(i).get(timeout=60) != i:
                raise SystemExit("wrong result")
            return (time.perf_counter() - t) * 1e6

        for i in range(50):
            roundtrip(i)
        lat = sorted(roundtrip(i) for i in range(m))
        print("RESULT dist-latency-p50 %.6g" % dist_redis.percentile(lat, 0.5))
        print("RESULT dist-latency-p99 %.6g" % dist_redis.percentile(lat, 0.99), flush=True)
    finally:
        t = time.monotonic()
        for w in ws:
            dist_redis.stop_worker(w)
        server.stop()
        print("stopped in %.1f s" % (time.monotonic() - t), file=sys.stderr)
    # Celery's AsyncResult.__del__ would reach for the server gone: leave without teardown.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
