#!/usr/bin/env python3
"""Interleaved benchmark driver: weft against peer implementations.

Usage:
    bench/run.py --builddir DIR [--rounds N] [--only WL[,WL...]] [--quick]
                 [--timeout SECONDS] [--list] [-v]

Every benchmark program prints lines ``RESULT <workload> <value>`` on stdout.
Programs are arranged in groups (one group = weft plus the peers it is
compared with).  For each round, each group runs weft and then each peer in
odd rounds, and the reverse order in even rounds, so that runs being compared
are adjacent in time (this machine switches between speed modes, so only
ratios taken from neighbouring runs mean anything).  Per round the ratio
weft/peer is computed for every workload; after all rounds the driver prints

    BENCH <workload> <system> <median value> <unit>(<direction>-is-better)
    RATIO <workload> weft/<system> <median of per-round ratios>

and, for anything that could not be measured,

    SKIP <workload> <system> <reason>

Each workload has a direction.  Most are costs (ns/switch, bytes/unit, ...):
lower is better, printed as e.g. ``ns/switch(lower-is-better)``.  Rates such
as the queue throughputs are higher-is-better, printed as e.g.
``items/s(higher-is-better)``.  RATIO is ALWAYS weft's value divided by the
peer's, whatever the direction: for a lower-is-better workload a ratio below
1 means weft is ahead; for a higher-is-better one (items/s) a ratio ABOVE 1
means weft is ahead.

Weft-only workloads.  A program may report only some of its group's
workloads (``Program(..., workloads=[...])``); a workload that only weft
reports (e.g. group-spawn-plain, timeout-scope) gets its BENCH line and no
RATIO line, and a program none of whose workloads is selected (``--only``)
is neither built nor run.

Derived ratios.  A group may also declare ratios between two workloads of
the SAME system (``Group(..., derived=[Derived(...)])``), or between one
workload of two systems of the group measured in the same round
(``Derived(..., system=A, denominator_system=B)``, label ``A/B``: e.g.
``RATIO queue-spsc weft-spsc/go``, weft's SPSC queue kind against Go).  For each round in
which that system's run reported both workloads, the driver takes
numerator/denominator from that one run; after all rounds it prints

    RATIO <workload> <label> <median of the per-round ratios>

e.g. ``RATIO group-spawn weft-group/weft-plain 1.12``: the median over
rounds of weft's group-spawn divided by weft's group-spawn-plain (so the
target "a group spawn costs at most 1.3x a plain spawn" reads as this value
<= 1.3).  The label never has the form weft/<system>, so derived RATIO lines
cannot be mistaken for weft-versus-peer ones.  A derived ratio is computed
only when both of its workloads are selected.

The BENCH, RATIO and SKIP lines are also saved to ``--save FILE`` (default
DIR/bench-output.txt; ``--save ''`` saves nothing) once the run is over,
after a first line ``# bench/run.py <date> <commit> loadavg=<1,5,15 min>
<arguments>``; bench/charts.py draws its charts from that file.

Raw per-round values go to stderr.  The exit status is 0 unless a weft
program crashed (exited non-zero or died from a signal).

A program that cannot run on this machine (a tool or module it needs is
missing) may print a line ``SKIP <reason>`` on stdout and exit 0: the
driver then prints ``SKIP <workload> <system> <reason>`` for its workloads
and does not run it again (this is not a crash, even for weft).

Wrapped programs (servers).  The network workloads measure a server that a
driver program loads: ``Program(..., wrap=Wrap("bench/echo_load"))`` runs
``DIR/bench/echo_load [wrap args] -- <the program's own command>``; the
driver (bench/echo_load.c, bench/http_load.c) appends a free port to that
command, starts the server, loads it, prints the RESULT lines and stops it.
Any kind of program (binary, go, script) can be wrapped; a missing wrapper
binary is SKIPped as missing(<name>).  ``--quick`` gives 3 rounds instead
of 5 and, for wrapped programs whose Wrap declares ``quick_args``, uses
those instead of its ``args`` (shorter load runs).

Go peers (bench/peers/*.go) are built by this driver, once per run, into
DIR/bench/peers/<name> with GOCACHE inside DIR, GO111MODULE=off and
GOPATH=DIR/gopath:/usr/share/gocode, the second entry being where Debian's
golang-*-dev packages put their sources (golang.org/x/sync for
group_spawn_go.go: golang-golang-x-sync-dev); a peer whose build fails
(e.g. an import that cannot be found) is SKIPped with build-failed.
Script peers (e.g. bench/peers/*.py) are run from the source tree by their
interpreter, found on PATH (``python3 bench/peers/<script> [args]``) unless
given as an absolute path; one whose interpreter or script is missing is
SKIPped.  The network and dist peers in Python run under /usr/bin/python3, Debian's
interpreter, because that is where Debian's python3-uvloop,
python3-gevent, python3-celery and python3-rq are importable (``python3`` on PATH may be another build);
a script whose module is missing exits 77 and its driver prints SKIP
server-unavailable.

To add a benchmark: add its workloads to WORKLOADS and a Group to GROUPS
(plus, if wanted, Derived ratios in the Group).
"""

import argparse
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PEER_SRC = REPO / "bench" / "peers"

LOWER = "lower"
HIGHER = "higher"
WEFT = "weft"


class Workload:
    def __init__(self, name, unit, direction=LOWER):
        assert direction in (LOWER, HIGHER)
        self.name = name
        self.unit = unit
        self.direction = direction

    @property
    def unit_token(self):
        return "%s(%s-is-better)" % (self.unit, self.direction)


class Wrap:
    """A driver program that runs a Program's command as a server and
    measures it (bench/echo_load, bench/http_load).

    ``binary`` is a path relative to the build dir.  The full command is
    ``<binary> <args> -- <the program's own argv>``; under --quick,
    ``quick_args`` (if given) replace ``args`` (e.g. a shorter duration).
    """

    def __init__(self, binary, args=(), quick_args=None):
        self.binary = binary
        self.args = list(args)
        self.quick_args = None if quick_args is None else list(quick_args)


class Program:
    """One system's implementation of a group's workloads.

    Exactly one of ``binary`` (path relative to the build dir), ``go``
    (basename of bench/peers/<go>.go, built by the driver) or ``script``
    (file name in bench/peers, run as ``<interpreter> bench/peers/<script>``;
    ``interpreter`` is looked up on PATH and defaults to python3; an
    absolute path is used as it is) is given.
    ``args`` are extra command-line arguments (e.g. an iteration count).
    ``workloads``, if given, are the only ones of the group's workloads this
    program reports (default: all of them); the others are not expected
    from it (no SKIP no-result, no RATIO).
    ``wrap``, a Wrap, makes the program a server run under a driver: what
    is run is ``<wrap.binary> <wrap.args> -- <the program's argv>``, and the
    wrapper prints the RESULT lines (a missing wrapper binary is a SKIP).
    """

    def __init__(self, system, binary=None, go=None, script=None,
                 interpreter=None, args=(), workloads=None, wrap=None):
        assert sum(x is not None for x in (binary, go, script)) == 1
        assert interpreter is None or script is not None
        assert wrap is None or isinstance(wrap, Wrap)
        self.system = system
        self.binary = binary
        self.go = go
        self.script = script
        self.interpreter = interpreter or ("python3" if script else None)
        self.args = list(args)
        self.workloads = None if workloads is None else list(workloads)
        self.wrap = wrap

    def reports(self, workload):
        return self.workloads is None or workload in self.workloads

    def path(self, builddir):
        """The file that must exist: the binary, or the script."""
        if self.binary is not None:
            return builddir / self.binary
        if self.script is not None:
            return PEER_SRC / self.script
        return builddir / "bench" / "peers" / self.go

    def command(self, builddir, quick=False):
        """argv to run (interpreter resolved on PATH; None if not found),
        inside its wrapper's command if it has one."""
        if self.script is not None:
            interp = shutil.which(self.interpreter)
            if interp is None:
                return None
            cmd = [interp, str(self.path(builddir))] + self.args
        else:
            cmd = [str(self.path(builddir))] + self.args
        if self.wrap is not None:
            wargs = self.wrap.args
            if quick and self.wrap.quick_args is not None:
                wargs = self.wrap.quick_args
            cmd = [str(builddir / self.wrap.binary)] + wargs + ["--"] + cmd
        return cmd

    @property
    def label(self):
        if self.binary is not None:
            lab = self.binary
        elif self.script is not None:
            lab = self.script
            if self.args:  # e.g. echo_asyncio.py[--uvloop], no spaces
                lab += "[%s]" % ",".join(self.args)
        else:
            lab = self.go + ".go"
        if self.wrap is not None:
            lab = "%s:%s" % (os.path.basename(self.wrap.binary), lab)
        return lab


class Derived:
    """A ratio between two workloads of one system of a group, or between
    two systems of a group.

    Per round, ``numerator`` / ``denominator`` as reported by ``system``'s
    run of that round (the denominator by ``denominator_system``'s run of
    the same round, if given: e.g. weft's SPSC queue kind against Go);
    printed as ``RATIO <workload> <label> <median>``.
    """

    def __init__(self, workload, label, numerator, denominator,
                 system=WEFT, denominator_system=None):
        self.workload = workload
        self.label = label
        self.numerator = numerator
        self.denominator = denominator
        self.system = system
        self.denominator_system = denominator_system or system

    def systems(self):
        return (self.system, self.denominator_system)


class Group:
    """Programs that are run next to each other and compared.

    ``workloads`` are the group's workload names; each program is expected
    to report all of them unless it names a subset (Program.workloads).
    ``programs[0]`` must be weft's.  ``derived`` are Derived ratios.
    """

    def __init__(self, name, workloads, programs, derived=()):
        assert programs and programs[0].system == WEFT
        self.name = name
        self.workloads = list(workloads)
        self.programs = list(programs)
        self.derived = list(derived)


# --------------------------------------------------------------------------
# The table.  Later benchmarks (queues, pools, echo servers, ...) go here.
# --------------------------------------------------------------------------

WORKLOADS = {w.name: w for w in [
    Workload("switch", "ns/switch"),
    Workload("spawn-seq", "ns/spawn"),
    Workload("spawn-batch", "ns/spawn"),
    Workload("memory", "bytes/unit"),
    Workload("compact-switch-0", "ns/switch"),
    Workload("compact-switch-256", "ns/switch"),
    Workload("compact-switch-1024", "ns/switch"),
    Workload("compact-switch-4096", "ns/switch"),
    Workload("compact-switch-16384", "ns/switch"),
    Workload("wake-p50", "ns/roundtrip"),
    Workload("wake-p99", "ns/roundtrip"),
    Workload("lock", "ns/acquire+release"),
    Workload("queue-spsc", "items/s", HIGHER),
    Workload("queue-mpmc", "items/s", HIGHER),
    Workload("chan-pingpong", "ns/roundtrip"),
    Workload("lock-contended-threads", "ns/acquire+release"),
    Workload("lock-contended-coros", "ns/acquire+release"),
    Workload("group-spawn", "ns/child"),
    Workload("group-spawn-plain", "ns/child"),
    Workload("timeout-scope", "ns/scope"),
    Workload("pool-throughput", "tasks/s", HIGHER),
    Workload("pool-throughput-futures", "tasks/s", HIGHER),
    Workload("pool-throughput-futures-warm", "tasks/s", HIGHER),
    Workload("pool-futures-page-bound", "tasks/s", HIGHER),
    Workload("pool-roundtrip", "ns/roundtrip"),
    Workload("pool-roundtrip-caller-runs", "ns/roundtrip"),
    Workload("as-completed-1k", "ns/completion"),
    Workload("as-completed-100k", "ns/completion"),
    Workload("echo-c1", "server-cpu-us/roundtrip"),
    Workload("echo-c50", "server-cpu-us/roundtrip"),
    Workload("echo-c1000", "server-cpu-us/roundtrip"),
    Workload("http", "server-cpu-us/request"),
    Workload("http-rps", "requests/s", HIGHER),
    Workload("proc-spawn-seq", "spawns/s", HIGHER),
    Workload("proc-spawn-8", "spawns/s", HIGHER),
    Workload("proc-spawn-seq-coro", "spawns/s", HIGHER),
    Workload("proc-start", "starts/s", HIGHER),
    Workload("procpool-tasks", "tasks/s", HIGHER),
    Workload("procpool-chunked", "tasks/s", HIGHER),
    Workload("shared-queue", "msgs/s", HIGHER),
    Workload("primes-processes", "x-speedup-2-vs-1", HIGHER),
    Workload("primes-threads", "x-speedup-2-vs-1", HIGHER),
    Workload("signal-latency", "ns"),
    Workload("signal-latency-coro", "ns"),
    Workload("proc-communicate", "MB/s", HIGHER),
    Workload("proc-communicate-coro", "MB/s", HIGHER),
    Workload("dist-throughput", "tasks/s", HIGHER),
    Workload("dist-latency-p50", "us/task"),
    Workload("dist-latency-p99", "us/task"),
    Workload("curl-many-rps", "requests/s", HIGHER),
    Workload("curl-many-cpu", "client-cpu-us/request"),
    Workload("curl-many-10ms-rps", "requests/s", HIGHER),
    Workload("curl-many-10ms-cpu", "client-cpu-us/request"),
]}

# Drivers of the network workloads (see "Wrapped programs" above).
ECHO_LOAD = Wrap("bench/echo_load", quick_args=["--seconds", "1"])
HTTP_LOAD = Wrap("bench/http_load", quick_args=["--seconds", "3"])
# The curl-many driver turns the roles round: it is the server (examples/slow_http.h, delay
# 0) and runs the wrapped program as the client, the port appended (bench/curl_many_load.c).
CURL_LOAD = Wrap("bench/curl_many_load")
CURL_LOAD_10MS = Wrap("bench/curl_many_load", args=["--delay-ms", "10"])
# Debian's interpreter: python3-uvloop, python3-gevent, python3-celery, python3-rq import there.
NET_PY = "/usr/bin/python3"

GROUPS = [
    Group("switch", ["switch"], [
        Program(WEFT, binary="bench/weft_switch"),
        Program("boost.context", binary="bench/peers/switch_boost"),
        Program("go", go="switch_go"),
    ]),
    Group("spawn", ["spawn-seq", "spawn-batch"], [
        Program(WEFT, binary="bench/weft_spawn"),
        Program("go", go="spawn_go"),
    ]),
    # weft-compact: the same program with compact coroutines (--compact,
    # WEFT_SPAWN_COMPACT); RATIO memory weft-compact/go is issue 18's
    # "below Go's bytes per blocked coroutine".
    Group("memory", ["memory"], [
        Program(WEFT, binary="bench/weft_memory"),
        Program("weft-compact", binary="bench/weft_memory", args=["--compact"]),
        Program("go", go="memory_go"),
    ], derived=[
        Derived("memory", "weft-compact/go", "memory", "memory",
                system="weft-compact", denominator_system="go"),
    ]),
    # Compact coroutines' switch cost against their live stack (libaco's
    # table): weft = two compact coroutines copying at every switch,
    # weft-mixed = compact with plain (no copy), weft-plain = two plain
    # ones; pad bytes of live array plus ~250 bytes of frames.
    Group("compact-switch", ["compact-switch-0", "compact-switch-256",
                             "compact-switch-1024", "compact-switch-4096",
                             "compact-switch-16384"], [
        Program(WEFT, binary="bench/weft_compact"),
        Program("weft-mixed", binary="bench/weft_compact", args=["--mixed"]),
        Program("weft-plain", binary="bench/weft_compact", args=["--plain"]),
    ]),
    Group("wake", ["wake-p50", "wake-p99"], [
        Program(WEFT, binary="bench/weft_wake"),
        Program("futex", binary="bench/peers/wake_futex"),
    ]),
    Group("lock", ["lock"], [
        Program(WEFT, binary="bench/weft_lock"),
        Program("pthread", binary="bench/peers/lock_pthread"),
    ]),
    # 1 producer + 1 consumer thread, capacity 1024, 10^7 items (Python:
    # 10^6 by default, still items/s).  GLib's GAsyncQueue is unbounded.
    # weft is the default FIFO queue (the MPMC ring); weft-spsc the same
    # program with a WEFT_QUEUE_SPSC queue (--spsc), whose ratios against
    # the peers are derived: RATIO queue-spsc weft-spsc/go etc.
    Group("queue-spsc", ["queue-spsc"], [
        Program(WEFT, binary="bench/weft_queue_spsc"),
        Program("weft-spsc", binary="bench/weft_queue_spsc", args=["--spsc"]),
        Program("go", go="queue_spsc_go"),
        Program("ck", binary="bench/peers/queue_spsc_ck"),
        Program("glib", binary="bench/peers/queue_spsc_glib"),
        Program("python", script="queue_spsc_py.py", interpreter="python3"),
    ], derived=[
        Derived("queue-spsc", "weft-spsc/" + peer, "queue-spsc", "queue-spsc",
                system="weft-spsc", denominator_system=peer)
        for peer in ("go", "ck", "glib", "python")
    ]),
    # 2 producers + 2 consumers, capacity 1024, 10^7 items in total.
    Group("queue-mpmc", ["queue-mpmc"], [
        Program(WEFT, binary="bench/weft_queue_mpmc"),
        Program("go", go="queue_mpmc_go"),
    ]),
    # Two contexts on one thread, one item bounced through two channels.
    Group("chan-pingpong", ["chan-pingpong"], [
        Program(WEFT, binary="bench/weft_chan_pingpong"),
        Program("go", go="chan_pingpong_go"),
    ]),
    # weft_lock_contended prints both lock-contended-* workloads; it is run
    # in each of the two groups so that every ratio comes from neighbouring
    # runs.  Definitions: bench/peers/lock_contended_pthread.c and
    # bench/peers/lock_contended_go_coros.go.
    Group("lock-contended-threads", ["lock-contended-threads"], [
        Program(WEFT, binary="bench/weft_lock_contended"),
        Program("pthread", binary="bench/peers/lock_contended_pthread"),
        Program("go", go="lock_contended_go"),
    ]),
    Group("lock-contended-coros", ["lock-contended-coros"], [
        Program(WEFT, binary="bench/weft_lock_contended"),
        Program("go", go="lock_contended_go_coros"),
    ]),
    # Structured concurrency.  group-spawn: R times { open a group, spawn
    # 1,000 empty children in it, wait for them }, ns per child (Go:
    # errgroup.Group, g.Go, g.Wait at GOMAXPROCS=1; group_spawn_go.go).
    # group-spawn-plain and timeout-scope are weft-only (ns per child
    # spawned without a group; ns per timeout scope), reported by the same
    # weft_group run; the derived ratio weft-group/weft-plain is how the
    # target "group <= 1.3x plain spawn" is read.
    Group("group", ["group-spawn", "group-spawn-plain", "timeout-scope"], [
        Program(WEFT, binary="bench/weft_group"),
        Program("go", go="group_spawn_go", workloads=["group-spawn"]),
    ], derived=[
        Derived("group-spawn", "weft-group/weft-plain",
                "group-spawn", "group-spawn-plain"),
    ]),
    # Thread pools with 2 workers.  pool-throughput: one thread submits
    # 1,000,000 tasks (each an atomic increment of a shared counter), then
    # waits for all; tasks/s.  pool-roundtrip: submit one task and wait for
    # its result, 100,000 times; ns each.  Python uses 100,000 tasks and
    # 20,000 round trips (same units).  How each peer submits and waits is
    # in its header comment (bench/peers/pool_*).  go: 2 worker goroutines
    # on a chan func() (round trip: request/reply channels, one worker);
    # go-goroutines: a goroutine per task + WaitGroup.  TBB's arena of 2
    # is the main thread plus one worker, and its round trip mostly runs
    # the task on the waiting thread itself (task_group::wait).
    # pool-roundtrip-caller-runs: weft with the opt-in caller_runs (the
    # waiting thread runs a job no worker has started), beside TBB, whose
    # wait always does (its program reports its one round trip under both
    # names); RATIO pool-roundtrip-caller-runs weft-caller-runs/go sets it
    # beside Go's round trip of the same round (issue 18: "<= Go in every
    # run", which the default pool meets only in the fast mode).
    # floor (bench/peers/pool_floor.c) is no pool: two threads bounce one
    # value between two cache lines, the least any pool whose worker runs on
    # another CPU must pay per round trip; RATIO pool-roundtrip go/floor says
    # how far below it Go's one-P channel goes (issue 18's note).
    # pool-futures-page-bound (weft_pool, weft-only) is no pool either: the
    # jobs/s pool-throughput-futures would reach if clearing its fresh pages
    # were all it did; RATIO pool-throughput-futures cold/page-bound.
    # as-completed-1k / -100k are weft-only (ns per completion).
    Group("pool", ["pool-throughput", "pool-throughput-futures",
                   "pool-throughput-futures-warm", "pool-futures-page-bound",
                   "pool-roundtrip",
                   "pool-roundtrip-caller-runs",
                   "as-completed-1k", "as-completed-100k"], [
        Program(WEFT, binary="bench/weft_pool"),
        Program("go", go="pool_go",
                workloads=["pool-throughput", "pool-roundtrip"]),
        Program("go-goroutines", go="pool_go_goroutines",
                workloads=["pool-throughput"]),
        Program("tbb", binary="bench/peers/pool_tbb",
                workloads=["pool-throughput", "pool-roundtrip",
                           "pool-roundtrip-caller-runs"]),
        Program("glib", binary="bench/peers/pool_glib",
                workloads=["pool-throughput", "pool-roundtrip"]),
        Program("libuv", binary="bench/peers/pool_uv",
                workloads=["pool-throughput", "pool-roundtrip"]),
        Program("python", script="pool_py.py", interpreter="python3",
                workloads=["pool-throughput", "pool-roundtrip"]),
        Program("floor", binary="bench/peers/pool_floor",
                workloads=["pool-roundtrip"]),
    ], derived=[
        Derived("pool-roundtrip-caller-runs", "weft-caller-runs/go",
                "pool-roundtrip-caller-runs", "pool-roundtrip",
                denominator_system="go"),
        Derived("pool-roundtrip", "go/floor", "pool-roundtrip", "pool-roundtrip",
                system="go", denominator_system="floor"),
        Derived("pool-throughput-futures", "cold/page-bound",
                "pool-throughput-futures", "pool-futures-page-bound"),
    ]),
    # Echo servers on one thread, 64-byte ping-pong from one load process
    # (bench/echo_load.c: epoll, TCP_NODELAY, 1 / 50 / 1,000 connections,
    # 0.2 s warm-up then 2 s each, 1 s under --quick; the load process
    # busy-polls on one CPU, the server is pinned to the other).  The figure
    # is the server's CPU time (schedstat, all its threads) per round trip;
    # round trips/s go to stderr.  Peers: bench/peers/echo_* (bare epoll; libuv;
    # Go at GOMAXPROCS=1, a goroutine per connection; asyncio and uvloop
    # protocols, one script; gevent StreamServer).
    Group("echo", ["echo-c1", "echo-c50", "echo-c1000"], [
        Program(WEFT, binary="bench/weft_echo", wrap=ECHO_LOAD),
        Program("epoll", binary="bench/peers/echo_epoll", wrap=ECHO_LOAD),
        Program("libuv", binary="bench/peers/echo_uv", wrap=ECHO_LOAD),
        Program("go", go="echo_go", wrap=ECHO_LOAD),
        Program("asyncio", script="echo_asyncio.py", interpreter=NET_PY,
                wrap=ECHO_LOAD),
        Program("uvloop", script="echo_asyncio.py", interpreter=NET_PY,
                args=["--uvloop"], wrap=ECHO_LOAD),
        Program("gevent", script="echo_gevent.py", interpreter=NET_PY,
                wrap=ECHO_LOAD),
    ]),
    # Minimal keep-alive HTTP servers on one loop thread, fixed 200 response
    # ("Hello, World!"), loaded by wrk -t1 -c50 -d10s (3 s under --quick)
    # through bench/http_load.c, which first checks that two pipelined
    # requests (one split across writes) get two responses.  http: server
    # CPU time per request; http-rps: wrk's requests/s.  Peers:
    # bench/peers/http_* (bare epoll; libuv; Go net/http at GOMAXPROCS=1;
    # asyncio and uvloop protocols, one script).
    Group("http", ["http", "http-rps"], [
        Program(WEFT, binary="bench/weft_http", wrap=HTTP_LOAD),
        Program("epoll", binary="bench/peers/http_epoll", wrap=HTTP_LOAD),
        Program("libuv", binary="bench/peers/http_uv", wrap=HTTP_LOAD),
        Program("go", go="http_go", wrap=HTTP_LOAD),
        Program("asyncio", script="http_asyncio.py", interpreter=NET_PY,
                wrap=HTTP_LOAD),
        Program("uvloop", script="http_asyncio.py", interpreter=NET_PY,
                args=["--uvloop"], wrap=HTTP_LOAD),
    ]),
    # Processes (weft/proc.h).  proc-spawn-seq: /bin/true started and waited
    # for, 2,000 times one after the other (weft: from a plain thread);
    # proc-spawn-8: the same with 8 in flight (weft: 8 coroutines on one
    # loop; C: waitpid(-1) / poll over pidfds; Go: 8 goroutines; Python: 8
    # threads; asyncio: 8 tasks; libuv: exit callbacks starting the next);
    # spawns/s.  proc-spawn-seq-coro is weft-only (one at a time from a
    # coroutine).  posix_spawn+pidfd is the design weft did not take
    # (posix_spawn, then pidfd_open): see src/proc/spawn.c.
    Group("proc-spawn", ["proc-spawn-seq", "proc-spawn-8", "proc-spawn-seq-coro"], [
        Program(WEFT, binary="bench/weft_proc_spawn"),
        Program("posix_spawn", binary="bench/peers/proc_spawn_c",
                args=["posix_spawn"], workloads=["proc-spawn-seq", "proc-spawn-8"]),
        Program("posix_spawn+pidfd", binary="bench/peers/proc_spawn_c",
                args=["posix_spawn_pidfd"], workloads=["proc-spawn-seq", "proc-spawn-8"]),
        Program("fork+exec", binary="bench/peers/proc_spawn_c", args=["fork"],
                workloads=["proc-spawn-seq", "proc-spawn-8"]),
        Program("go", go="proc_spawn_go", workloads=["proc-spawn-seq", "proc-spawn-8"]),
        Program("libuv", binary="bench/peers/proc_spawn_uv",
                workloads=["proc-spawn-seq", "proc-spawn-8"]),
        Program("python", script="proc_spawn_py.py", interpreter="python3",
                workloads=["proc-spawn-seq", "proc-spawn-8"]),
        Program("asyncio", script="proc_spawn_asyncio.py", interpreter="python3",
                workloads=["proc-spawn-seq", "proc-spawn-8"]),
    ]),
    # proc-start: a function started in a child process and joined, one after
    # the other (weft_process_start + join, from a plain thread); beside a bare
    # fork + waitpid (the floor) and Python's multiprocessing.Process with the
    # fork and the forkserver start methods.  Starts per second.
    Group("proc-start", ["proc-start"], [
        Program(WEFT, binary="bench/weft_proc_start"),
        Program("fork+waitpid", binary="bench/peers/proc_start_c"),
        Program("python", script="proc_start_py.py", interpreter="python3"),
        Program("python-forkserver", script="proc_start_py.py", interpreter="python3",
                args=["forkserver"]),
    ]),
    # procpool-tasks: 2 worker processes, 100,000 tasks returning their int
    # argument, one task per message, every result read back: weft's process
    # pool beside a bare C fork + pipes pool (16 in flight per worker: the
    # floor), Python's ProcessPoolExecutor.map and multiprocessing's
    # Pool.imap_unordered (chunk size 1).  Tasks per second.
    # procpool-chunked: the same job, n * 10 items, through weft_procpool_map with
    # chunks of 1,000, beside PPE.map(chunksize=1000) and Pool.map.
    # primes: the seeds' 20 numbers below 2^47 on 1 and 2 workers, as a speed-up; the
    # peer is bare fork / pthreads over an atomic counter (the machine's ceiling).
    # shared-queue: 1 producer process -> 1 consumer process, 8-byte messages through a
    # queue of 1,000 slots; beside Python's multiprocessing.Queue and SimpleQueue.
    Group("shared-queue", ["shared-queue"], [
        Program(WEFT, binary="bench/weft_shared_queue"),
        Program("python-queue", script="shared_queue_py.py", interpreter="python3",
                args=["queue"]),
        Program("python-simplequeue", script="shared_queue_py.py", interpreter="python3",
                args=["simple"]),
    ]),
    Group("primes", ["primes-processes", "primes-threads"], [
        Program(WEFT, binary="bench/weft_primes"),
        Program("bare", binary="bench/peers/primes_bare"),
    ]),
    Group("procpool", ["procpool-tasks", "procpool-chunked"], [
        Program(WEFT, binary="bench/weft_procpool"),
        Program("fork+pipes", binary="bench/peers/procpool_c",
                workloads=["procpool-tasks"]),
        Program("python-ppe", script="procpool_py.py", interpreter="python3",
                args=["ppe"], workloads=["procpool-tasks"]),
        Program("python-imap", script="procpool_py.py", interpreter="python3",
                args=["imap"], workloads=["procpool-tasks"]),
        Program("python-ppe-chunked", script="procpool_py.py", interpreter="python3",
                args=["ppe-chunked"], workloads=["procpool-chunked"]),
        Program("python-pool-map", script="procpool_py.py", interpreter="python3",
                args=["map"], workloads=["procpool-chunked"]),
    ]),
    # signal-latency: kill(getpid(), SIGUSR1) until the waiter has it, one at a
    # time, median ns: weft's receiver from a thread and from a coroutine (its
    # handler, self-pipe and router thread), beside a bare signalfd read (the
    # kernel's own path) and asyncio's add_signal_handler.
    Group("signal", ["signal-latency", "signal-latency-coro"], [
        Program(WEFT, binary="bench/weft_signal"),
        Program("signalfd", binary="bench/peers/signal_c", workloads=["signal-latency"]),
        Program("asyncio", script="signal_py.py", interpreter="python3",
                workloads=["signal-latency"]),
    ]),
    # 64 MB through /bin/cat's stdin and back from its stdout, every byte
    # checked; MB/s, the median of 3 runs after a warm-up.  weft from a plain
    # thread (its ppoll loop); proc-communicate-coro (weft-only) from a
    # coroutine (a task group).  Python: Popen.communicate; poll: a bare C
    # poll(2) loop (bench/peers/proc_communicate_poll.c).
    Group("proc-communicate", ["proc-communicate", "proc-communicate-coro"], [
        Program(WEFT, binary="bench/weft_proc_communicate"),
        Program("poll", binary="bench/peers/proc_communicate_poll",
                workloads=["proc-communicate"]),
        Program("python", script="proc_communicate_py.py", interpreter="python3",
                workloads=["proc-communicate"]),
    ]),
    # Distributed tasks through Redis (issue 15).  Each program starts a
    # redis-server of its own (Unix socket in a temporary directory, no
    # persistence) and 2 worker processes, and stops them after.
    # dist-throughput: 1 client submits empty tasks (return the argument),
    # then reads every result back; tasks/s.  dist-latency-p50/-p99: one
    # task at a time, submit -> result, us.  weft: 100,000 tasks, 2,000
    # round trips, workers in COROUTINES mode (bench/weft_dist.c).  Celery
    # 5.2 (Redis broker and result backend, 2 workers -P prefork -c 1):
    # 5,000 tasks, 500 round trips.  RQ 1.13, 2 workers: the default
    # forking Worker (a fork per job: ~20 tasks/s here) 300 tasks, 100
    # round trips; SimpleWorker (no fork) 2,000 and 300.  The Python peers
    # run under Debian's interpreter (python3-celery, python3-rq).
    Group("dist", ["dist-throughput", "dist-latency-p50", "dist-latency-p99"], [
        Program(WEFT, binary="bench/weft_dist"),
        Program("celery", script="dist_celery_py.py", interpreter=NET_PY),
        Program("rq", script="dist_rq_py.py", interpreter=NET_PY,
                args=["300", "100", "fork"]),
        Program("rq-simple", script="dist_rq_py.py", interpreter=NET_PY,
                args=["2000", "300", "simple"]),
    ]),
    # curl-many (issue 16): 1,000 GETs with 100 in flight against a local HTTP server in
    # another process (bench/curl_many_load: slow_http.h, answers at once; nothing
    # pinned: its header says why), every body checked; a warm-up pass, then 5
    # measured (bench/curl_many.h).  curl-many-rps: requests/s;
    # curl-many-cpu: the client's CPU time (getrusage RUSAGE_SELF, user + sys, all its
    # threads) per request.  weft: libcurl's easy API in 100 coroutines on one thread,
    # made cooperative by libweft_hook; curl-multi: libcurl's multi API on one thread
    # (curl_multi_poll loop, 100 handles); pthreads: 100 threads, an easy handle each;
    # gevent: monkey.patch_all + requests, a Pool of 100 (Debian's python3).
    Group("curl-many", ["curl-many-rps", "curl-many-cpu"], [
        Program(WEFT, binary="bench/weft_curl_many", wrap=CURL_LOAD),
        Program("curl-multi", binary="bench/peers/curl_many_c", args=["multi"],
                wrap=CURL_LOAD),
        Program("pthreads", binary="bench/peers/curl_many_c", args=["threads"],
                wrap=CURL_LOAD),
        Program("gevent", script="curl_many_gevent.py", interpreter=NET_PY,
                wrap=CURL_LOAD),
    ]),
    # curl-many-10ms: the same clients against the server answering after 10 ms, as a
    # distant server would: every worker's request then waits at the server and answers
    # come in a trickle, not a flood (requests/s is capped at 100 / 10 ms = 10,000).
    Group("curl-many-10ms", ["curl-many-10ms-rps", "curl-many-10ms-cpu"], [
        Program(WEFT, binary="bench/weft_curl_many", args=["--name", "curl-many-10ms"],
                wrap=CURL_LOAD_10MS),
        Program("curl-multi", binary="bench/peers/curl_many_c",
                args=["multi", "--name", "curl-many-10ms"], wrap=CURL_LOAD_10MS),
        Program("pthreads", binary="bench/peers/curl_many_c",
                args=["threads", "--name", "curl-many-10ms"], wrap=CURL_LOAD_10MS),
        Program("gevent", script="curl_many_gevent.py", interpreter=NET_PY,
                args=["--name", "curl-many-10ms"], wrap=CURL_LOAD_10MS),
    ]),
]

# --------------------------------------------------------------------------

RESULT_RE = re.compile(r"^RESULT (\S+) ([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)$")
SKIP_RE = re.compile(r"^SKIP (\S+)$")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


SAVED = []  # the lines out() printed, for --save


def out(msg):
    SAVED.append(msg)
    print(msg, flush=True)


def save_output(path, argv):
    """Write the lines out() printed to ``path`` (through a temporary file,
    so an interrupted run leaves the previous file as it was)."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            timeout=30).stdout.decode().strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        commit = "unknown"
    try:
        load = ",".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        load = "unknown"
    head = "# bench/run.py %s %s loadavg=%s %s" % (
        time.strftime("%Y-%m-%dT%H:%M:%S%z"), commit, load, " ".join(argv))
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join([head] + SAVED) + "\n")
    os.replace(tmp, path)
    log("saved %d lines to %s" % (len(SAVED), path))


def fmt3(v):
    """About three significant digits, plain decimal notation."""
    if v == 0 or not math.isfinite(v):
        return "0" if v == 0 else repr(v)
    decimals = 2 - int(math.floor(math.log10(abs(v))))
    if decimals <= 0:
        return "%d" % round(v)
    return "%.*f" % (decimals, v)


def check_group_table():
    seen = set()
    for g in GROUPS:
        if g.name in seen:
            raise SystemExit("run.py: duplicate group %s" % g.name)
        seen.add(g.name)
        systems = [p.system for p in g.programs]
        if len(set(systems)) != len(systems):
            raise SystemExit("run.py: duplicate system in group %s" % g.name)
        for w in g.workloads:
            if w not in WORKLOADS:
                raise SystemExit("run.py: group %s: unknown workload %s"
                                 % (g.name, w))
        for p in g.programs:
            for w in p.workloads or ():
                if w not in g.workloads:
                    raise SystemExit("run.py: group %s: %s reports %s, "
                                     "not a workload of the group"
                                     % (g.name, p.system, w))
        labels = set()
        for d in g.derived:
            for w in (d.workload, d.numerator, d.denominator):
                if w not in g.workloads:
                    raise SystemExit("run.py: group %s: derived ratio %s: "
                                     "%s is not a workload of the group"
                                     % (g.name, d.label, w))
            num = [p for p in g.programs if p.system == d.system]
            den = [p for p in g.programs if p.system == d.denominator_system]
            if not num or not den or not (num[0].reports(d.numerator)
                                          and den[0].reports(d.denominator)):
                raise SystemExit("run.py: group %s: derived ratio %s: %s "
                                 "does not report %s or %s does not report %s"
                                 % (g.name, d.label, d.system, d.numerator,
                                    d.denominator_system, d.denominator))
            if (not re.match(r"^\S+$", d.label)
                    or d.label.startswith(WEFT + "/")
                    or (d.workload, d.label) in labels):
                raise SystemExit("run.py: group %s: bad or duplicate derived "
                                 "ratio label %r" % (g.name, d.label))
            labels.add((d.workload, d.label))


def build_go(programs, builddir, timeout):
    """Build the Go peers once.  Returns {go name: None or failure reason}."""
    status = {}
    names = sorted({p.go for p in programs if p.go is not None})
    if not names:
        return status
    gobin = shutil.which("go")
    if gobin is None:
        return {n: "go-not-installed" for n in names}
    env = dict(os.environ)
    env.update({
        "GOCACHE": str(builddir / "gocache"),
        # Debian's golang-*-dev packages (e.g. golang.org/x/sync, for
        # group_spawn_go.go) install their sources under /usr/share/gocode.
        "GOPATH": os.pathsep.join([str(builddir / "gopath"),
                                   "/usr/share/gocode"]),
        "GO111MODULE": "off",
        "GOFLAGS": "",
        "CGO_ENABLED": "0",
    })
    outdir = builddir / "bench" / "peers"
    outdir.mkdir(parents=True, exist_ok=True)
    for n in names:
        src = PEER_SRC / (n + ".go")
        if not src.is_file():
            status[n] = "source-missing"
            continue
        cmd = [gobin, "build", "-o", str(outdir / n), str(src)]
        log("building: " + " ".join(cmd))
        try:
            r = subprocess.run(cmd, env=env, cwd=str(REPO),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            status[n] = "build-timeout"
            continue
        if r.returncode != 0:
            log(r.stdout.decode(errors="replace").rstrip())
            status[n] = "build-failed"
        else:
            status[n] = None
    return status


def describe_interpreters(programs):
    """Log which interpreter each script peer will run under (stderr)."""
    for name in sorted({p.interpreter for p in programs
                        if p.script is not None}):
        exe = shutil.which(name)
        if exe is None:
            log("interpreter %s: not found on PATH" % name)
            continue
        try:
            r = subprocess.run([exe, "--version"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, timeout=30)
            ver = r.stdout.decode(errors="replace").strip()
        except (OSError, subprocess.TimeoutExpired):
            ver = "version unknown"
        log("interpreter %s: %s (%s)" % (name, exe, ver))


def run_program(cmd, name, timeout):
    """Run one benchmark program: argv ``cmd``, ``name`` for messages.

    Returns (status, results, stdout/stderr text, seconds) where status is
    "ok", "timeout", "rc=N" / "signal=NAME", or "skip:REASON" when the
    program exited 0 after printing a line ``SKIP <reason>`` on stdout.
    """
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        so, se = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        so, se = proc.communicate()
        return "timeout", {}, (so + se).decode(errors="replace"), \
            time.monotonic() - t0
    secs = time.monotonic() - t0
    text_out = so.decode(errors="replace")
    text_err = se.decode(errors="replace")
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = str(-proc.returncode)
        return "signal=" + name, {}, text_out + text_err, secs
    if proc.returncode != 0:
        return "rc=%d" % proc.returncode, {}, text_out + text_err, secs
    results = {}
    for line in text_out.splitlines():
        m = RESULT_RE.match(line.strip())
        if m:
            results[m.group(1)] = float(m.group(2))
            continue
        m = SKIP_RE.match(line.strip())
        if m:
            return "skip:" + m.group(1), {}, text_err, secs
        if line.strip():
            log("  [%s] unexpected stdout line: %r" % (name, line))
    return "ok", results, text_err, secs


def main():
    check_group_table()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--builddir", required=False,
                    help="meson build directory (release build)")
    ap.add_argument("--rounds", type=int, default=None,
                    help="number of interleaved rounds (default 5, 3 with "
                         "--quick)")
    ap.add_argument("--only", action="append", default=[],
                    help="comma-separated workloads to run (repeatable)")
    ap.add_argument("--quick", action="store_true",
                    help="fewer rounds (3), and the shorter runs some "
                         "wrapped programs declare (Wrap quick_args)")
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="per-program timeout in seconds (default 120)")
    ap.add_argument("--list", action="store_true",
                    help="list workloads and systems, then exit")
    ap.add_argument("--save", default=None, metavar="FILE",
                    help="also save the BENCH/RATIO/SKIP lines to FILE "
                         "(default DIR/bench-output.txt; '' for none)")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="echo each program's stderr")
    a = ap.parse_args()

    if a.list:
        for g in GROUPS:
            for w in g.workloads:
                wl = WORKLOADS[w]
                print("%-22s %-36s %s" % (w, wl.unit_token, " ".join(
                    "%s=%s" % (p.system, p.label) for p in g.programs
                    if p.reports(w))))
            for d in g.derived:
                if d.denominator_system == d.system:
                    how = "%s: %s / %s" % (d.system, d.numerator,
                                           d.denominator)
                else:
                    how = "%s's %s / %s's %s" % (
                        d.system, d.numerator, d.denominator_system,
                        d.denominator)
                print("%-22s %-36s %s" % (d.workload, "ratio " + d.label,
                                          how))
        return 0
    if not a.builddir:
        ap.error("--builddir is required")

    rounds = a.rounds if a.rounds is not None else (3 if a.quick else 5)
    if rounds < 1:
        ap.error("--rounds must be >= 1")

    only = set()
    for item in a.only:
        only.update(x.strip() for x in item.split(",") if x.strip())
    unknown = only - set(WORKLOADS)
    if unknown:
        ap.error("unknown workload(s): %s (known: %s)" % (
            ", ".join(sorted(unknown)), ", ".join(WORKLOADS)))

    builddir = Path(a.builddir).resolve()
    if not builddir.is_dir():
        ap.error("build dir %s does not exist" % builddir)

    # Selected groups, each restricted to the selected workloads.
    groups = []
    for g in GROUPS:
        wls = [w for w in g.workloads if not only or w in only]
        if wls:
            groups.append((g, wls))

    def selected(g, wls):
        """(program, its selected workloads) for the programs of g that
        report at least one selected workload, in table order."""
        res = []
        for p in g.programs:
            pw = [w for w in wls if p.reports(w)]
            if pw:
                res.append((p, pw))
        return res

    # skipped[(group, system)] = reason; programs in it are not run again.
    skipped = {}
    skip_printed = set()  # (workload, system)

    def skip_line(w, system, reason):
        if (w, system) not in skip_printed:
            skip_printed.add((w, system))
            out("SKIP %s %s %s" % (w, system, reason))

    def skip(g, wls, system, reason):
        if (g.name, system) in skipped:
            return
        skipped[(g.name, system)] = reason
        for w in wls:
            skip_line(w, system, reason)

    to_run = [p for g, wls in groups for p, _ in selected(g, wls)]
    go_status = build_go(to_run, builddir, a.timeout)
    describe_interpreters(to_run)
    for g, wls in groups:
        for p, pw in selected(g, wls):
            if p.go is not None and go_status.get(p.go):
                skip(g, pw, p.system, go_status[p.go])
            elif p.script is not None and not p.path(builddir).is_file():
                skip(g, pw, p.system, "source-missing")
            elif p.script is not None and p.command(builddir) is None:
                skip(g, pw, p.system,
                     "interpreter-not-installed(%s)" % p.interpreter)
            elif not p.path(builddir).is_file():
                skip(g, pw, p.system, "missing")
            elif (p.wrap is not None
                  and not (builddir / p.wrap.binary).is_file()):
                skip(g, pw, p.system,
                     "missing(%s)" % os.path.basename(p.wrap.binary))

    # values[(workload, system)] = [per-round values]
    # ratios[(workload, system)] = [per-round weft/system ratios]
    # derived[(group name, index in g.derived)] = [per-round ratios]
    values = {}
    ratios = {}
    derived = {}
    weft_crashed = False

    for rnd in range(1, rounds + 1):
        for g, wls in groups:
            order = selected(g, wls)
            if rnd % 2 == 0:
                order.reverse()
            this_round = {}  # system -> {workload: value}
            for p, pw in order:
                if (g.name, p.system) in skipped:
                    continue
                cmd = p.command(builddir, a.quick)
                status, res, err, secs = run_program(cmd, p.label, a.timeout)
                if a.verbose and err.strip():
                    log("  [%s stderr] %s" % (p.label, err.rstrip()))
                if status != "ok":
                    if not a.verbose and err.strip():
                        log("  [%s output] %s" % (p.label, err.rstrip()))
                    if status.startswith("skip:"):
                        # The program found it cannot run here (e.g. a
                        # module or tool is missing): a SKIP, not a crash.
                        reason = status[len("skip:"):]
                    elif status == "timeout":
                        reason = "timeout"
                    else:
                        reason = "crashed(%s)" % status
                        if p.system == WEFT or p.system.startswith(WEFT + "-"):
                            weft_crashed = True
                    skip(g, pw, p.system, reason)
                    # A program that failed once is not trusted at all.
                    for w in pw:
                        values.pop((w, p.system), None)
                        for q in g.programs[1:]:
                            if p.system in (WEFT, q.system):
                                ratios.pop((w, q.system), None)
                    for i, d in enumerate(g.derived):
                        if p.system in d.systems():
                            derived.pop((g.name, i), None)
                    continue
                got = {}
                for w in pw:
                    if w not in res:
                        continue
                    got[w] = res[w]
                    values.setdefault((w, p.system), []).append(res[w])
                    log("round %d/%d %-22s %-14s %12s %s  (%.2fs)" % (
                        rnd, rounds, w, p.system, fmt3(res[w]),
                        WORKLOADS[w].unit, secs))
                missing = [w for w in pw if w not in got]
                for w in missing:
                    skip_line(w, p.system, "no-result")
                if missing and not got:
                    # Reports nothing useful: do not run it again.
                    skipped[(g.name, p.system)] = "no-result"
                # Workloads of other groups (a program may serve several
                # groups, e.g. weft_lock_contended) are dropped silently.
                extra = set(res) - set(WORKLOADS)
                if extra:
                    log("  [%s] ignoring unknown workloads: %s" % (
                        p.label, ", ".join(sorted(extra))))
                this_round[p.system] = got
            weft_vals = this_round.get(WEFT, {})
            for p in g.programs[1:]:
                peer_vals = this_round.get(p.system, {})
                for w in wls:
                    if w in weft_vals and w in peer_vals and peer_vals[w] != 0:
                        r = weft_vals[w] / peer_vals[w]
                        ratios.setdefault((w, p.system), []).append(r)
                        log("round %d/%d %-22s weft/%-9s %12s" % (
                            rnd, rounds, w, p.system, fmt3(r)))
            for i, d in enumerate(g.derived):
                vals = this_round.get(d.system, {})
                dvals = this_round.get(d.denominator_system, {})
                if (d.numerator in vals and d.denominator in dvals
                        and dvals[d.denominator] != 0):
                    r = vals[d.numerator] / dvals[d.denominator]
                    derived.setdefault((g.name, i), []).append(r)
                    log("round %d/%d %-22s %-14s %12s" % (
                        rnd, rounds, d.workload, d.label, fmt3(r)))

    for g, wls in groups:
        for w in wls:
            wl = WORKLOADS[w]
            for p in g.programs:
                vs = values.get((w, p.system))
                if vs:
                    out("BENCH %s %s %s %s" % (w, p.system,
                                               fmt3(statistics.median(vs)),
                                               wl.unit_token))
            for p in g.programs[1:]:
                rs = ratios.get((w, p.system))
                if rs:
                    out("RATIO %s weft/%s %s" % (
                        w, p.system, fmt3(statistics.median(rs))))
        for i, d in enumerate(g.derived):
            rs = derived.get((g.name, i))
            if rs:
                out("RATIO %s %s %s" % (d.workload, d.label,
                                        fmt3(statistics.median(rs))))

    save = a.save if a.save is not None else builddir / "bench-output.txt"
    if save:
        save_output(save, sys.argv[1:])
    return 1 if weft_crashed else 0


if __name__ == "__main__":
    sys.exit(main())
