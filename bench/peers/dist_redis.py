"""Shared by the dist peers (dist_celery_py.py, dist_rq_py.py) and bench/dist_kill_table.py:
a redis-server of the benchmark's own on a Unix socket in a temporary directory (no
persistence: --save "" and no append-only file, as bench/weft_dist.c starts its own), and
worker processes started in sessions of their own (so that a kill reaches a worker's
children too: Celery's prefork pool process, RQ's work horse), stopped after."""

import os
import shutil
import signal
import subprocess
import tempfile
import time

import redis

REDIS_SERVER = "/usr/bin/redis-server"
HERE = os.path.dirname(os.path.abspath(__file__))


class RedisServer:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="weft-bench-dist-")
        self.sock = os.path.join(self.dir, "redis.sock")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", "0", "--unixsocket", self.sock, "--dir", self.dir,
             "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                if redis.Redis(unix_socket_path=self.sock).ping():
                    break
            except redis.exceptions.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not answer")
            time.sleep(0.02)

    def client(self):
        return redis.Redis(unix_socket_path=self.sock)

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def start_worker(argv, env_extra=None, logname="worker.log", logdir=None):
    """A worker process (argv) run from bench/peers, in a session of its own; its output
    goes to logdir/logname."""
    env = dict(os.environ)
    env["PYTHONPATH"] = HERE + os.pathsep + env.get("PYTHONPATH", "")
    env.update(env_extra or {})
    out = open(os.path.join(logdir or tempfile.gettempdir(), logname), "ab")
    p = subprocess.Popen(argv, cwd=HERE, env=env, stdin=subprocess.DEVNULL, stdout=out,
                         stderr=subprocess.STDOUT, start_new_session=True)
    out.close()
    return p


def kill_worker(p):
    """kill -9 of the worker's whole session (the worker and its children)."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


def stop_worker(p, grace=10):
    """SIGTERM (a warm stop for Celery and RQ), then SIGKILL of the session after grace s."""
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        p.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    kill_worker(p)


def percentile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]
