#!/usr/bin/env python3
"""tests/test_dist_python.py: python/weft_dist.py against C workers (tests/dist_worker).

    test_dist_python.py DIST_WORKER SOURCE_ROOT

Starts its own redis-server (Unix socket in a temporary directory) and two dist_worker
processes (threads mode), then: the Lua texts are byte-identical to src/dist/scripts.c;
2,000 "square" tasks; "fail" raises EDOM; an unknown name ENOTASK; a delayed task cancelled
before it runs ECANCELED; an idempotency key gives the first task's id and result; and a
worker killed with SIGKILL after 20% of 2,000 "slow_square" tasks: every result arrives,
notified exactly once, with the right checksum. Exit 77 (skip) without redis-server or
redis-py; the whole run is bounded (ALARM seconds).
"""
import ast
import importlib.util
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

SKIP, ALARM = 77, 55
N = 2000
children = []           # every process started, stopped at the end whatever happens


def i64(v):
    return struct.pack("<q", v)


def from_i64(b):
    return struct.unpack("<q", b)[0]


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def c_string(source, var):
    """The value of `static const char var[] = "..." "...";` in C source text."""
    m = re.search(r"static const char %s\[\] =\s*((?:\"(?:[^\"\\]|\\.)*\"\s*)+);" % var,
                  source)
    check(m, "%s not found in src/dist/scripts.c" % var)
    # C and Python agree on the escapes these scripts use (\n, \\, \").
    return "".join(ast.literal_eval(lit)
                   for lit in re.findall(r"\"(?:[^\"\\]|\\.)*\"", m.group(1)))


def wait_ready(p, what, timeout=10.0):
    """Waits for the line "ready" on p's stdout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([p.stdout], [], [], 0.1)[0]:
            line = p.stdout.readline()
            if line.strip() == b"ready":
                return
            check(line, "%s exited before it was ready" % what)
    raise AssertionError("%s not ready within %.0f s" % (what, timeout))


def start_worker(path, url, name, log):
    p = subprocess.Popen([path, url, "default", "threads", "8", name, log],
                         stdout=subprocess.PIPE)
    children.append(p)
    wait_ready(p, name)
    return p


def expect_error(task, rc, name):
    try:
        task.result(timeout=10)
    except Exception as e:      # noqa: BLE001 (checked just below)
        check(type(e).__name__ == "TaskError" and e.rc == rc and e.name == name,
              "expected TaskError(%d, %s), got %r" % (rc, name, e))
        return e
    raise AssertionError("expected TaskError(%d, %s), got a result" % (rc, name))


def run(worker_path, src, tmp):
    import redis
    import weft_dist

    # 1. The scripts are those of the C library, byte for byte.
    with open(os.path.join(src, "src", "dist", "scripts.c")) as f:
        c_source = f.read()
    check(c_string(c_source, "submit_lua") == weft_dist.SUBMIT_LUA, "SUBMIT differs from C")
    check(c_string(c_source, "cancel_lua") == weft_dist.CANCEL_LUA, "CANCEL differs from C")
    print("scripts: SUBMIT and CANCEL identical to src/dist/scripts.c")

    # 2. The server and two workers.
    sock = os.path.join(tmp, "redis.sock")
    server = subprocess.Popen(
        ["redis-server", "--port", "0", "--unixsocket", sock, "--save", "", "--appendonly",
         "no", "--dir", tmp, "--daemonize", "no", "--loglevel", "warning", "--logfile",
         os.path.join(tmp, "redis.log")], stdout=subprocess.DEVNULL)
    children.append(server)
    url = "unix://" + sock
    r = redis.Redis(unix_socket_path=sock)
    deadline = time.monotonic() + 10
    while True:
        try:
            r.ping()
            break
        except redis.ConnectionError:
            check(time.monotonic() < deadline and server.poll() is None, "no redis-server")
            time.sleep(0.02)
    log = os.path.join(tmp, "runs.log")
    wa = start_worker(worker_path, url, "wa", log)
    wb = start_worker(worker_path, url, "wb", log)
    c = weft_dist.Client(url)

    # 3. 2,000 squares (negative arguments too).
    t0 = time.monotonic()
    tasks = [(v, c.submit("square", i64(v))) for v in range(-N // 2, N // 2)]
    check(len({t.id for _, t in tasks}) == N, "task ids are not unique")
    check(re.fullmatch(r"[0-9a-f]{16}-[0-9a-f]{32}", tasks[0][1].id), "id format: " + tasks[0][1].id)
    for v, t in tasks:
        got = from_i64(t.result(timeout=20))
        check(got == v * v, "square(%d) = %d" % (v, got))
    print("square: %d results right in %.2f s" % (N, time.monotonic() - t0))

    # 4. Failures.
    e = expect_error(c.submit("fail", i64(1)), -33, "EDOM")
    print("fail: %s" % e)
    e = expect_error(c.submit("no_such_task", b"x"), -4101, "ENOTASK")
    print("unknown name: %s" % e)
    check(from_i64(c.submit("echo", i64(-5)).result(timeout=10)) == -5, "echo")

    # 5. Cancel a delayed task before it runs.
    t = c.submit("square", i64(3), delay=30)
    check(c.inspect()["delayed"] == 1, "the delayed task is not in the delayed set")
    check(t.cancel(), "cancel of a delayed task refused")
    e = expect_error(t, -125, "ECANCELED")
    check(not t.cancel(), "a second cancel succeeded")
    check(c.inspect()["delayed"] == 0, "the cancelled task is still delayed")
    t = c.submit("square", i64(4))
    check(from_i64(t.result(timeout=10)) == 16 and not t.cancel(), "cancel of a done task")
    print("cancel: delayed task cancelled (%s); a done task refuses" % e)

    # 6. Idempotency: a repeated key gives the first task, done or not, to any client.
    t1 = c.submit("square", i64(5), idempotency_key="k1")
    check(from_i64(t1.result(timeout=10)) == 25, "square(5)")
    t2 = c.submit("square", i64(6), idempotency_key="k1")
    check(t2.id == t1.id and from_i64(t2.result(timeout=10)) == 25, "k1 repeated")
    c2 = weft_dist.Client(redis.Redis(unix_socket_path=sock))
    t3 = c2.submit("square", i64(7), idempotency_key="k2", delay=0.3)
    t4 = c.submit("square", i64(8), idempotency_key="k2")
    check(t4.id == t3.id, "k2 repeated while pending")
    deadline = time.monotonic() + 10
    while not t3.done() and time.monotonic() < deadline:
        time.sleep(0.02)
    # Both clients were told (the second through the set P:t:<id>:w).
    for cl in (c, c2):
        check(t3.id.encode() in r.lrange(cl.reply_key, 0, -1), "k2: a client not notified")
    check(from_i64(t4.result(timeout=10)) == 49 and from_i64(t3.result(timeout=10)) == 49,
          "k2 results")
    print("idempotency: repeated keys gave the first task's result (done and pending)")

    # 7. kill -9 of one worker after 20% of N tasks of 0-49 ms: every result, once. The
    # notifications are counted here (not Task.result's wake-ups): one per recorded result.
    ck = weft_dist.Client(url)
    base = 1_000_000                               # its runs in the log: arguments >= base
    t0 = time.monotonic()
    ktasks = {ck.submit("slow_square", i64(base + i)).id: base + i
              for i in range(N)}
    notified, killed_at = {}, None
    deadline = time.monotonic() + 30
    while len(notified) < N and time.monotonic() < deadline:
        got = r.execute_command("BLMPOP", 0.2, 1, ck.reply_key, "LEFT", "COUNT", 1000)
        for tid in got[1] if got else []:
            notified[tid.decode()] = notified.get(tid.decode(), 0) + 1
        if killed_at is None and len(notified) >= N // 5:
            wa.send_signal(signal.SIGKILL)
            wa.wait()
            killed_at = len(notified)
            print("kill: SIGKILL to wa after %d results (%.2f s)"
                  % (killed_at, time.monotonic() - t0))
    elapsed = time.monotonic() - t0
    time.sleep(0.3)                                # any late (duplicate) notification
    for tid in r.lrange(ck.reply_key, 0, -1):
        notified[tid.decode()] = notified.get(tid.decode(), 0) + 1
    check(killed_at is not None, "the worker was never killed")
    check(set(notified) == set(ktasks),
          "%d of %d results notified" % (len(set(notified) & set(ktasks)), N))
    dups = [tid for tid, n in notified.items() if n != 1]
    check(not dups, "notified more than once: %s" % dups[:5])
    checksum, rerun = 0, 0
    for tid, v in ktasks.items():
        got = from_i64(ck.task(tid).result(timeout=1))
        check(got == v * v, "slow_square(%d) = %d" % (v, got))
        checksum += got
        rerun += int(r.hget("weft:r:" + tid, "attempts")) > 1
    check(checksum == sum((base + i) ** 2 for i in range(N)), "checksum")
    with open(log) as f:
        runs = sum(1 for line in f if int(line) >= base)
    check(runs >= N, "%d runs for %d tasks" % (runs, N))
    # A task wa was running when killed was taken over by wb (its result says attempt 2);
    # it ran twice only if wa had finished the function but not yet recorded the result.
    print("kill: %d results in %.2f s, each notified once, checksum %d right; "
          "%d taken over (attempt 2); %d runs completed, %d of them a second run"
          % (N, elapsed, checksum, rerun, runs, runs - N))

    # 8. The queue at the end; then a clean stop of the survivor.
    info = ck.inspect()
    print("inspect:", {k: v for k, v in info.items() if k != "workers"},
          {w: (i["pending"], i["alive"]) for w, i in info["workers"].items()})
    check((info["queued"], info["running"], info["delayed"], info["dead"]) == (0, 0, 0, 2),
          "inspect: %r" % info)
    check(info["workers"]["wb"]["alive"] and not info["workers"]["wa"]["alive"],
          "inspect: workers %r" % info["workers"])
    wb.send_signal(signal.SIGTERM)
    out, _ = wb.communicate(timeout=10)
    check(wb.returncode == 0, "wb exited with %d" % wb.returncode)
    print("wb stopped:", out.decode().strip())


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    worker_path, src = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    sys.path.insert(0, os.path.join(src, "python"))
    if importlib.util.find_spec("redis") is None:
        print("SKIP: no redis module (python3-redis) for", sys.executable)
        return SKIP
    if not shutil.which("redis-server"):
        print("SKIP: no redis-server")
        return SKIP

    def on_alarm(sig, frame):
        raise TimeoutError("the test took more than %d s" % ALARM)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(ALARM)
    tmp = tempfile.mkdtemp(prefix="weft-pyredis-")
    try:
        run(worker_path, src, tmp)
        print("ok")
        return 0
    except Exception as e:      # noqa: BLE001
        print("FAIL: %s: %s" % (type(e).__name__, e))
        import traceback
        traceback.print_exc()
        return 1
    finally:
        signal.alarm(0)
        for p in reversed(children):   # workers first, the server last
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
