"""bench/peers/curl_many_gevent.py -- the curl-many workload in Python (issue 16): gevent's
monkey patching and requests, the model libweft_hook copies.

Usage: curl_many_gevent.py [--requests N] [--inflight C] [--passes P] [--name W] PORT, run
under bench/curl_many_load (the server in its own process; it appends the port), with
Debian's /usr/bin/python3 (python3-gevent, python3-requests).

gevent.monkey.patch_all(), then a gevent Pool of C greenlets, each with a requests.Session
of its own (one kept-alive connection) taking the next request from a shared counter until
N are done; every body checked. The same workload as bench/curl_many.h describes: a
warm-up pass, then P passes measured; RESULT W-rps (requests/s) and W-cpu (user + sys CPU
of this process per request, us, from getrusage), W being curl-many unless --name says.
Without gevent or requests: prints SKIP and exits 0.
"""

try:
    from gevent import monkey
    monkey.patch_all()
    import gevent.pool
    import requests
except ImportError as e:  # the driver prints SKIP <workload> gevent <reason>
    print("SKIP module-missing(%s)" % getattr(e, "name", "gevent"), flush=True)
    raise SystemExit(0)

import itertools
import resource
import sys
import time


def parse(argv):
    opts = {"--requests": 1000, "--inflight": 100, "--passes": 5, "--name": "curl-many"}
    args = argv[1:]
    while len(args) > 1 and args[0] in opts:
        opts[args[0]] = args[1] if args[0] == "--name" else int(args[1])
        args = args[2:]
    if len(args) != 1:
        sys.exit("usage: curl_many_gevent.py [--requests N] [--inflight C] [--passes P] "
                 "[--name W] PORT")
    return (opts["--requests"], opts["--inflight"], opts["--passes"], opts["--name"],
            int(args[0]))


def one_pass(requests_n, inflight, port):
    """Runs one pass; returns how many requests failed. Blocks in pool.join (the
    greenlets run)."""
    counter = itertools.count()      # one thread: next() is atomic between greenlets
    failed = [0]

    def worker():
        with requests.Session() as s:
            while True:
                k = next(counter)
                if k >= requests_n:
                    return
                try:
                    r = s.get("http://127.0.0.1:%d/item/%d" % (port, k), timeout=30)
                    ok = r.status_code == 200 and r.text == "you asked for /item/%d\n" % k
                except requests.RequestException as e:
                    print("curl-many gevent: request %d: %s" % (k, e), file=sys.stderr)
                    ok = False
                if not ok:
                    failed[0] += 1

    pool = gevent.pool.Pool(inflight)
    for _ in range(inflight):
        pool.spawn(worker)
    pool.join()
    return failed[0]


def cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def main():
    n, inflight, passes, name, port = parse(sys.argv)
    bad = one_pass(n, inflight, port)            # warm-up
    w0, c0 = time.monotonic(), cpu_seconds()
    for _ in range(passes):
        if bad:
            break
        bad += one_pass(n, inflight, port)
    w1, c1 = time.monotonic(), cpu_seconds()
    if bad:
        print("%s gevent: %d requests failed" % (name, bad), file=sys.stderr)
        return 1
    total = n * passes
    rps = total / (w1 - w0)
    cpu_us = (c1 - c0) * 1e6 / total
    print("%s gevent: %d passes of %d requests, %d in flight: %.0f requests/s, "
          "client CPU %.1f us/request (%.0f%% of a CPU)"
          % (name, passes, n, inflight, rps, cpu_us, 100 * (c1 - c0) / (w1 - w0)),
          file=sys.stderr)
    print("RESULT %s-rps %.6g" % (name, rps))
    print("RESULT %s-cpu %.6g" % (name, cpu_us), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
