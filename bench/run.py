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

Raw per-round values go to stderr.  The exit status is 0 unless a weft
program crashed (exited non-zero or died from a signal).

Go peers (bench/peers/*.go) are built by this driver, once per run, into
DIR/bench/peers/<name> with GOCACHE/GOPATH inside DIR and GO111MODULE=off.

To add a benchmark: add its workloads to WORKLOADS and a Group to GROUPS.
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


class Program:
    """One system's implementation of a group's workloads.

    Exactly one of ``binary`` (path relative to the build dir) or ``go``
    (basename of bench/peers/<go>.go, built by the driver) is given.
    ``args`` are extra command-line arguments (e.g. an iteration count).
    """

    def __init__(self, system, binary=None, go=None, args=()):
        assert (binary is None) != (go is None)
        self.system = system
        self.binary = binary
        self.go = go
        self.args = list(args)

    def path(self, builddir):
        if self.binary is not None:
            return builddir / self.binary
        return builddir / "bench" / "peers" / self.go

    @property
    def label(self):
        return self.binary if self.binary is not None else self.go + ".go"


class Group:
    """Programs that are run next to each other and compared.

    ``workloads`` are the workload names every program of the group is
    expected to report; ``programs[0]`` must be weft's.
    """

    def __init__(self, name, workloads, programs):
        assert programs and programs[0].system == WEFT
        self.name = name
        self.workloads = list(workloads)
        self.programs = list(programs)


# --------------------------------------------------------------------------
# The table.  Later benchmarks (queues, pools, echo servers, ...) go here.
# --------------------------------------------------------------------------

WORKLOADS = {w.name: w for w in [
    Workload("switch", "ns/switch"),
    Workload("spawn-seq", "ns/spawn"),
    Workload("spawn-batch", "ns/spawn"),
    Workload("memory", "bytes/unit"),
    Workload("wake-p50", "ns/roundtrip"),
    Workload("wake-p99", "ns/roundtrip"),
    Workload("lock", "ns/acquire+release"),
]}

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
    Group("memory", ["memory"], [
        Program(WEFT, binary="bench/weft_memory"),
        Program("go", go="memory_go"),
    ]),
    Group("wake", ["wake-p50", "wake-p99"], [
        Program(WEFT, binary="bench/weft_wake"),
        Program("futex", binary="bench/peers/wake_futex"),
    ]),
    Group("lock", ["lock"], [
        Program(WEFT, binary="bench/weft_lock"),
        Program("pthread", binary="bench/peers/lock_pthread"),
    ]),
]

# --------------------------------------------------------------------------

RESULT_RE = re.compile(r"^RESULT (\S+) ([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)$")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def out(msg):
    print(msg, flush=True)


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
        "GOPATH": str(builddir / "gopath"),
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


def run_program(path, args, timeout):
    """Run one benchmark program.

    Returns (status, results, stdout/stderr text, seconds) where status is
    "ok", "timeout" or "rc=N" / "signal=NAME".
    """
    t0 = time.monotonic()
    proc = subprocess.Popen([str(path)] + args, stdout=subprocess.PIPE,
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
        elif line.strip():
            log("  [%s] unexpected stdout line: %r" % (path.name, line))
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
                    help="fewer rounds (3)")
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="per-program timeout in seconds (default 120)")
    ap.add_argument("--list", action="store_true",
                    help="list workloads and systems, then exit")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="echo each program's stderr")
    a = ap.parse_args()

    if a.list:
        for g in GROUPS:
            for w in g.workloads:
                wl = WORKLOADS[w]
                print("%-14s %-28s %s" % (w, wl.unit_token, " ".join(
                    "%s=%s" % (p.system, p.label) for p in g.programs)))
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

    go_status = build_go([p for g, _ in groups for p in g.programs],
                         builddir, a.timeout)
    for g, wls in groups:
        for p in g.programs:
            if p.go is not None and go_status.get(p.go):
                skip(g, wls, p.system, go_status[p.go])
            elif not p.path(builddir).is_file():
                skip(g, wls, p.system, "missing")

    # values[(workload, system)] = [per-round values]
    # ratios[(workload, system)] = [per-round weft/system ratios]
    values = {}
    ratios = {}
    weft_crashed = False

    for rnd in range(1, rounds + 1):
        for g, wls in groups:
            order = list(g.programs)
            if rnd % 2 == 0:
                order.reverse()
            this_round = {}  # system -> {workload: value}
            for p in order:
                if (g.name, p.system) in skipped:
                    continue
                path = p.path(builddir)
                status, res, err, secs = run_program(path, p.args, a.timeout)
                if a.verbose and err.strip():
                    log("  [%s stderr] %s" % (p.label, err.rstrip()))
                if status != "ok":
                    if not a.verbose and err.strip():
                        log("  [%s output] %s" % (p.label, err.rstrip()))
                    reason = "timeout" if status == "timeout" else \
                        "crashed(%s)" % status
                    if p.system == WEFT and status != "timeout":
                        weft_crashed = True
                    skip(g, wls, p.system, reason)
                    # A program that failed once is not trusted at all.
                    for w in wls:
                        values.pop((w, p.system), None)
                        for q in g.programs[1:]:
                            if p.system in (WEFT, q.system):
                                ratios.pop((w, q.system), None)
                    continue
                got = {}
                for w in wls:
                    if w not in res:
                        continue
                    got[w] = res[w]
                    values.setdefault((w, p.system), []).append(res[w])
                    log("round %d/%d %-12s %-14s %12s %s  (%.2fs)" % (
                        rnd, rounds, w, p.system, fmt3(res[w]),
                        WORKLOADS[w].unit, secs))
                missing = [w for w in wls if w not in got]
                for w in missing:
                    skip_line(w, p.system, "no-result")
                if missing and not got:
                    # Reports nothing useful: do not run it again.
                    skipped[(g.name, p.system)] = "no-result"
                extra = set(res) - set(g.workloads)
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
                        log("round %d/%d %-12s weft/%-9s %12s" % (
                            rnd, rounds, w, p.system, fmt3(r)))

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

    return 1 if weft_crashed else 0


if __name__ == "__main__":
    sys.exit(main())
