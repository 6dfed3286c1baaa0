#!/usr/bin/env python3
"""The kill -9 table of bench/RESULTS.md ("Distributed tasks (issue 15)"): run by hand, not
by run.py.

For each system — weft_dist, Celery with acks early (its default), Celery with
task_acks_late=True and task_reject_on_worker_lost=True, RQ (default forking Worker) — on a
redis-server of its own (Unix socket, no persistence): 2 worker processes, each running one
task at a time (weft: THREADS mode, concurrency 1, default heartbeats: 1 s, dead after 3 s;
Celery: -P prefork -c 1, default prefetch 4; RQ: one job at a time by design), one client
submits 1,000 tasks `sleep20` (20 ms each; weft: attempts 3, as a takeover counts one). Once
200 results are in, the whole session of worker 0 (the worker and its children: Celery's
pool process, RQ's work horse) gets SIGKILL. The client then waits for the rest, at most
BOUND s after the kill.

Every run of a task appends "S <i> <pid> <ns>" when it starts and "E ..." when it ends to
a log file. Reported per system:
  lost       tasks without a result BOUND s after the kill
  run twice  tasks started more than once (from the log)
  in flight  tasks the killed worker had started and not ended (from the log)
  recovered  time from the kill until the last of those in-flight tasks had its result from
             the other worker; "never" when any task was lost
  all in     time from the kill until the last result (the survivor alone needs ~16 s for
             the ~800 remaining tasks)
Result arrival times: weft's client prints each as its future completes; for Celery and RQ
the client polls the result keys every 50 ms (one MGET / pipeline per sweep).

Usage: bench/dist_kill_table.py [--builddir build-release] [--bound 60] [--tasks 1000]
                                [--only weft,celery,celery-acks-late,rq]
(--only weft-coroutines: an extra row, weft's workers in COROUTINES mode with 16 tasks at
once each, not in the default list: it is not the one-task-at-a-time setting of the peers.)
Needs redis-server, python3-redis, python3-celery, python3-rq; run under /usr/bin/python3
(Debian's interpreter, where those import).
"""

import argparse
import json
import os
import queue
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "peers"))
import dist_redis  # noqa: E402

REPO = os.path.dirname(HERE)


def session_pids(sid):
    """Pids of the processes in session sid (the worker and its children)."""
    pids = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[3]) == sid:   # field 6 of stat: session
                    pids.add(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return pids


def wait_for_line(path, text, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                if text in f.read():
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError("no %r in %s" % (text, path))


class WeftSystem:
    def __init__(self, builddir, mode="threads", concurrency="1"):
        self.binary = os.path.join(builddir, "bench", "weft_dist")
        self.mode, self.concurrency = mode, concurrency
        self.name = "weft" if mode == "threads" else "weft-" + mode

    def start_workers(self, server, log):
        url = "unix://" + server.sock
        ws = []
        for i in range(2):
            wl = os.path.join(server.dir, "weft-w%d.log" % i)
            ws.append(dist_redis.start_worker(
                [self.binary, "worker", url, self.mode, self.concurrency, "w%d" % i, log],
                None, os.path.basename(wl), server.dir))
            wait_for_line(wl, "ready")
        return ws

    def submit(self, server, n, arrivals):
        """Submits n tasks; puts (i, ns, ok) on arrivals as results come."""
        self.client = subprocess.Popen(
            [self.binary, "kill-client", "unix://" + server.sock, str(n)],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)

        def reader():
            for line in self.client.stdout:
                p = line.split()
                if p and p[0] == "R":
                    arrivals.put((int(p[1]), int(p[2]), p[3] == "0"))
        threading.Thread(target=reader, daemon=True).start()

    def finish(self):
        self.client.kill()
        self.client.wait()


class PollingSystem:
    """Celery and RQ: the client polls the result keys every 50 ms."""

    def submit(self, server, n, arrivals):
        ids = self.enqueue(server, n)
        self.stop = threading.Event()
        conn = server.client()

        def poller():
            pending = dict(enumerate(ids))
            while pending and not self.stop.is_set():
                idx = list(pending)
                states = self.states(conn, [pending[i] for i in idx])
                now = time.time_ns()
                for i, st in zip(idx, states):
                    if st is not None:
                        arrivals.put((i, now, st))
                        del pending[i]
                time.sleep(0.05)
        threading.Thread(target=poller, daemon=True).start()

    def finish(self):
        self.stop.set()


class CelerySystem(PollingSystem):
    def __init__(self, acks_late):
        self.acks_late = acks_late
        self.name = "celery-acks-late" if acks_late else "celery"

    def start_workers(self, server, log):
        os.environ["DIST_CELERY_ACKS_LATE"] = "1" if self.acks_late else "0"
        import dist_celery_py as c
        url = c.celery_url(server)
        c.app.conf.broker_url = url
        c.app.conf.result_backend = url
        c.app.conf.task_acks_late = self.acks_late
        c.app.conf.task_reject_on_worker_lost = self.acks_late
        self.c = c
        return c.start_workers(server, {"DIST_BENCH_LOG": log,
                                        "DIST_CELERY_ACKS_LATE": os.environ[
                                            "DIST_CELERY_ACKS_LATE"]})

    def enqueue(self, server, n):
        return [self.c.sleep20.delay(i).id for i in range(n)]

    def states(self, conn, ids):
        out = []
        for raw in conn.mget(["celery-task-meta-" + t for t in ids]):
            if raw is None:
                out.append(None)
                continue
            st = json.loads(raw)["status"]
            out.append(True if st == "SUCCESS" else
                       False if st in ("FAILURE", "REVOKED") else None)
        return out


class RqSystem(PollingSystem):
    name = "rq"

    def start_workers(self, server, log):
        import dist_rq_py
        return dist_rq_py.start_workers(server, {"DIST_BENCH_LOG": log})

    def enqueue(self, server, n):
        from rq import Queue
        from dist_rq_py import sleep20
        q = Queue(connection=server.client())
        return [q.enqueue(sleep20, i).id for i in range(n)]

    def states(self, conn, ids):
        pipe = conn.pipeline(transaction=False)
        for t in ids:
            pipe.hget("rq:job:" + t, "status")
        out = []
        for st in pipe.execute():
            st = st.decode() if st else None
            out.append(True if st == "finished" else
                       False if st in ("failed", "stopped", "canceled") else None)
        return out


def run(system, n, kill_after, bound):
    server = dist_redis.RedisServer()
    log = os.path.join(server.dir, "exec.log")
    ws = []
    try:
        ws = system.start_workers(server, log)
        arrivals = queue.Queue()
        t_start = time.time_ns()
        system.submit(server, n, arrivals)
        got = {}
        t_kill = None
        killed = set()
        deadline = None
        while len(got) < n:
            timeout = 1.0 if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                i, ns, ok = arrivals.get(timeout=timeout)
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if time.time_ns() - t_start > 300e9:
                    break
                continue
            got[i] = (ns, ok)
            if t_kill is None and len(got) >= kill_after:
                killed = session_pids(ws[0].pid)
                t_kill = time.time_ns()
                dist_redis.kill_worker(ws[0])
                deadline = time.monotonic() + bound
        system.finish()
    finally:
        for w in ws:
            dist_redis.stop_worker(w, grace=5)
        runs = {}
        started_by_killed, ended_by_killed = set(), set()
        try:
            with open(log) as f:
                for line in f:
                    p = line.split()
                    if len(p) != 4:
                        continue
                    i, pid, ns = int(p[1]), int(p[2]), int(p[3])
                    if p[0] == "S":
                        runs[i] = runs.get(i, 0) + 1
                    if pid in killed:
                        (started_by_killed if p[0] == "S" else ended_by_killed).add(i)
        except OSError:
            pass
        server.stop()
    ok = {i for i, (ns, good) in got.items() if good}
    lost = n - len(ok)
    twice = sum(1 for c in runs.values() if c > 1)
    in_flight = started_by_killed - ended_by_killed
    if t_kill is None:
        recovered = "no kill"
    elif lost:
        recovered = "never (within %d s)" % bound
    elif in_flight:
        recovered = "%.2f s" % ((max(got[i][0] for i in in_flight) - t_kill) / 1e9)
    else:
        recovered = "nothing in flight"
    all_in = ("%.2f s" % ((max(ns for ns, _ in got.values()) - t_kill) / 1e9)
              if t_kill is not None and not lost else "-")
    return dict(system=system.name, lost=lost, twice=twice, in_flight=len(in_flight),
                recovered=recovered, all_in=all_in, runs=sum(runs.values()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--builddir", default=os.path.join(REPO, "build-release"))
    ap.add_argument("--bound", type=int, default=60)
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--only", default="weft,celery,celery-acks-late,rq")
    ap.add_argument("--one", help=argparse.SUPPRESS)   # a child run: one system, JSON out
    a = ap.parse_args()
    systems = {"weft": lambda: WeftSystem(os.path.abspath(a.builddir)),
               "weft-coroutines": lambda: WeftSystem(os.path.abspath(a.builddir),
                                                     "coroutines", "16"),
               "celery": lambda: CelerySystem(False),
               "celery-acks-late": lambda: CelerySystem(True),
               "rq": lambda: RqSystem()}
    if a.one:
        print(json.dumps(run(systems[a.one](), a.tasks, a.tasks // 5, a.bound)), flush=True)
        os._exit(0)   # Celery's result objects would reach for the server gone
    rows = []
    for name in a.only.split(","):
        # Each system in a process of its own (Celery's app caches its connections).
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", name,
                              "--builddir", a.builddir, "--bound", str(a.bound),
                              "--tasks", str(a.tasks)], stdout=subprocess.PIPE, text=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print("%s: %s" % (name, r), file=sys.stderr, flush=True)
        rows.append(r)
    print("| system | tasks lost | tasks run twice | in flight at the kill | "
          "their results in after | all results in after | runs logged |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %(system)s | %(lost)d | %(twice)d | %(in_flight)d | %(recovered)s | "
              "%(all_in)s | %(runs)d |" % r)


if __name__ == "__main__":
    main()
