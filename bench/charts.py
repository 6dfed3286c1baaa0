#!/usr/bin/python3
"""Charts of the benchmark ratios: one PNG per group of workloads.

Usage:
    /usr/bin/python3 bench/charts.py [OUTPUT...] [--results bench/RESULTS.md]
                                     [--outdir bench/charts] [--list]

OUTPUT is the saved output of a bench/run.py run (its BENCH, RATIO and SKIP
lines, as run.py writes them to DIR/bench-output.txt; default
build-release/bench-output.txt).  With several files, a later one wins for
the workloads it has.  Every chart is a horizontal bar chart of weft/peer
(run.py's RATIO lines: the median of the per-round ratios), on a log axis
with a line at 1.0; a bar is green where weft is ahead (ratio below 1 for a
lower-is-better workload, above 1 for a higher-is-better one, as the units
say) and red where it is behind.

A workload the output files have no weft/peer ratio for (not run, or every
peer skipped) is drawn from the tables of bench/RESULTS.md instead: for each
workload, the newest section that has it (the date in the section's heading,
else the one in the "##" heading above it), the first row there that gives
each peer; such workloads are marked "RESULTS.md <date>" in the chart, and
its title says which figures came from where.  Rows of RESULTS.md are read
as: workload = the first cell up to its first "," or " (" (spaces as "-",
it must be a workload of run.py); ratios = the ratio column's "X vs Peer"
parts, or, when it has no "vs", its first number, the peer then being the
first words of the peer column; in a table without a ratio column, every
cell "<figure> → <ratio>", the peer being the column's header.

Needs matplotlib (Debian's python3-matplotlib, hence /usr/bin/python3; the
Agg backend, no display).  `make bench` runs it after bench/run.py.
"""

import argparse
import os
import re
import sys
import textwrap
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
import run  # noqa: E402  (bench/run.py: WORKLOADS and GROUPS, stdlib only)

# (file name, title, run.py groups), in the order of bench/RESULTS.md; a name ending in
# "*" stands for every group it begins.  A run.py group not named here goes to
# "other.png" (with a warning): add it to a chart.
CHARTS = [
    ("coroutines", "Coroutines: switch, spawn, memory, wake-up, lock, task groups",
     ["switch", "spawn", "memory", "wake", "lock", "group"]),
    ("threads-queues", "Threads and queues: queues, channels, contended locks",
     ["queue-spsc", "queue-mpmc", "chan-pingpong", "lock-contended-threads",
      "lock-contended-coros"]),
    ("pool", "Thread pool (concurrent.futures)", ["pool"]),
    ("network", "Network I/O: echo and HTTP servers", ["echo", "http"]),
    ("network-clients", "Network I/O: many HTTP clients (libcurl)", ["curl-many*"]),
    ("processes", "Processes: spawn, start, communicate, signals",
     ["proc-spawn", "proc-start", "proc-communicate", "signal"]),
    ("process-pools", "Process pools, primes, shared queue",
     ["procpool", "primes", "shared-queue"]),
    ("dist", "Distributed tasks through Redis", ["dist"]),
]

# Rows of RESULTS.md that name a workload but measure something else.
SKIP_ROWS = [
    # proc_spawn_interleaved: µs per start inside one process, its ratio peer/weft.
    re.compile(r"interleaved in one process"),
]

# Peers as RESULTS.md's prose names them, completed where the chart would not say what
# they are (the prose says it in the row's peer column).
PEER_NAMES = {
    "the executor": "Python ProcessPoolExecutor",
    "Python's executor": "Python ProcessPoolExecutor",
    "imap_unordered": "Python imap_unordered",
    "Pool.map": "Python Pool.map",
    "forkserver": "Python forkserver",
    "Queue": "Python mp.Queue",
    "SimpleQueue": "Python mp.SimpleQueue",
    "SimpleWorker": "RQ SimpleWorker",
}

DATE_RE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")


def shown(path):
    """A path as figures.txt shows it: from the repository's top if it is inside."""
    p = os.path.abspath(path)
    return os.path.relpath(p, REPO) if p.startswith(str(REPO) + os.sep) else p


def warn(msg):
    print("charts.py: " + msg, file=sys.stderr)


# --------------------------------------------------------------------------
# Sources.  Both give {workload: Figures}.
# --------------------------------------------------------------------------

class Figures:
    """The weft/peer ratios of one workload, from one source."""

    def __init__(self, workload, source):
        self.workload = workload
        self.source = source      # a short label: "run 2026-12-04 12:40" / "RESULTS.md 2026-11-22"
        self.ratios = []          # [(peer, ratio)], in the source's order
        self.direction = run.WORKLOADS[workload].direction
        self.unit = run.WORKLOADS[workload].unit


def read_output(path):
    """BENCH/RATIO lines of a saved run.py output -> ({workload: Figures}, label)."""
    text = Path(path).read_text()
    label = None
    figs = {}
    for line in text.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0] == "#" and len(f) >= 4 and f[1] == "bench/run.py":
            # "# bench/run.py 2026-12-04T12:40:01+0000 <commit> loadavg=a,b,c <args>"
            # (the date and load average are taken when the run ended)
            label = "run ending %s (%s" % (f[2][:16].replace("T", " "), f[3])
            if len(f) > 4 and f[4].startswith("loadavg="):
                try:
                    load = "/".join("%.1f" % float(x) for x in f[4][8:].split(","))
                    label += ", load average %s then" % load
                except ValueError:
                    pass
            label += ")"
        elif f[0] == "BENCH" and len(f) == 5:
            m = re.search(r"\((lower|higher)-is-better\)$", f[4])
            if f[1] in run.WORKLOADS and m and m.group(1) != run.WORKLOADS[f[1]].direction:
                warn("%s: %s is %s-is-better here, not as in run.py" % (path, f[1], m.group(1)))
        elif f[0] == "RATIO" and len(f) == 4 and f[2].startswith("weft/"):
            w, peer = f[1], f[2][len("weft/"):]
            if w not in run.WORKLOADS:
                warn("%s: unknown workload %s, left out" % (path, w))
                continue
            try:
                r = float(f[3])
            except ValueError:
                continue
            figs.setdefault(w, Figures(w, None)).ratios.append((peer, r))
        # Derived ratios (e.g. weft-group/weft-plain) and SKIP lines are not drawn.
    if label is None:
        label = "output %s of %s" % (Path(path).name, time.strftime(
            "%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(path))))
    for fg in figs.values():
        fg.source = label
    return figs, label


def split_top(s, sep=";"):
    """Split on sep outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


NUM = r"([0-9][0-9,]*(?:\.[0-9]+)?)"
PART_RE = re.compile(r"^" + NUM + r"(?:\s+vs\.?\s+(.+?))?\s*(?:\(.*\))?\s*$")


def parse_number(s):
    return float(s.replace(",", ""))


def read_results(path):
    """The tables of RESULTS.md -> {workload: Figures} (the newest section wins).

    A table is one whose header's first cell is "workload".  With a "ratio..." column, its
    "X vs Peer" parts (or its first number, for the peer of the "peer..." column); without
    one, every cell "<peer's figure> → <ratio>", the peer being the column's header."""
    h2_date = h3_date = None
    best = {}   # workload -> (date, Figures)
    cols = None
    for line in Path(path).read_text().splitlines():
        if line.startswith("#"):
            m = DATE_RE.search(line)
            if line.startswith("## "):
                h2_date, h3_date = (m.group(1) if m else None), None
            elif line.startswith("### "):
                h3_date = m.group(1) if m else None
            cols = None
            continue
        if not line.startswith("|"):
            cols = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cols is None:        # a header row
            heads = [c.lower() for c in cells]
            if heads and heads[0] == "workload":
                cols = {"peer": next((i for i, h in enumerate(heads) if h.startswith("peer")), None),
                        "ratio": next((i for i, h in enumerate(heads) if h.startswith("ratio")), None),
                        "heads": [c.replace("**", "").replace("`", "") for c in cells]}
            else:
                cols = False    # not a workload table: skip its rows
            continue
        if cols is False or set(line.replace("|", "").strip()) <= set("-: "):
            continue
        date = h3_date or h2_date
        cells = [c.replace("**", "") for c in cells]
        clean = [c.replace("`", "") for c in cells]
        first = clean[0]
        if any(p.search(first) for p in SKIP_ROWS):
            continue
        w = re.split(r",| \(", first, maxsplit=1)[0].strip().lower().replace(" ", "-")
        if w not in run.WORKLOADS:
            continue
        ratios = []
        if cols["ratio"] is None:
            # A column per peer, "29.4 → 1.28 (1.22–1.43)": the peer's figure, then the ratio.
            for i, cell in enumerate(clean[1:len(cols["heads"])], 1):
                m = re.search(r"→\s*" + NUM, cell)
                if m:
                    ratios.append((cols["heads"][i], parse_number(m.group(1))))
        parts = split_top(clean[cols["ratio"]]) if cols["ratio"] is not None and \
            cols["ratio"] < len(clean) else []
        for i, part in enumerate(parts):
            m = PART_RE.match(part)
            if not m:
                continue
            if m.group(2):
                peer = m.group(2).strip()
                ratios.append((PEER_NAMES.get(peer, peer), parse_number(m.group(1))))
            elif i == 0 and not any(" vs " in p for p in parts):
                # "**1.96**; 1.85, 1.97" : the first number is the ratio, the peer is
                # the peer column's first words ("Go `Gosched`, ...: 80.2" -> "Go").
                if cols["peer"] is None:
                    continue
                peer = re.split(r"[`0-9:,;(]", cells[cols["peer"]], maxsplit=1)[0]
                peer = " ".join(peer.split()[:2])
                if peer:
                    ratios.append((peer, parse_number(m.group(1))))
        if not ratios:
            continue
        # One row per workload, so that its ratios come from one run: the newest
        # section's row with the most peers (the first of equals); a row for one
        # more peer only (runtime core: "switch" vs boost, then vs Go) is added to it.
        old = best.get(w)
        if old is not None and (date or "") < (old[0] or ""):
            continue
        if old is not None and (date or "") == (old[0] or ""):
            fg = old[1]
            have = {p for p, _ in fg.ratios}
            if len(ratios) == 1 and len(fg.ratios) == 1 and ratios[0][0] not in have:
                fg.ratios.extend(ratios)
                continue
            if len(ratios) <= len(fg.ratios):
                continue
        fg = Figures(w, "RESULTS.md %s" % (date or "(undated)"))
        fg.ratios = ratios
        best[w] = (date, fg)
    return {w: fg for w, (_, fg) in best.items()}


# --------------------------------------------------------------------------
# Drawing.
# --------------------------------------------------------------------------

AHEAD, BEHIND = "#2166ac", "#e08214"   # blue, orange: told apart with any colour vision


def fmt_ratio(r):
    if r >= 100:
        return "%.0f" % r
    if r >= 10:
        return "%.1f" % r
    if r >= 0.1:
        return "%.2f" % r
    return "%#.2g" % r


def draw(name, title, figs, outdir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter, LogLocator

    rows = []   # ("head", Figures) or ("bar", peer, ratio, ahead)
    for fg in figs:
        rows.append(("head", fg))
        for peer, r in fg.ratios:
            ahead = r < 1 if fg.direction == run.LOWER else r > 1
            rows.append(("bar", peer, r, ahead))
    sources = []
    for fg in figs:
        if fg.source not in sources:
            sources.append(fg.source)
    mixed = len(sources) > 1
    # Workloads are marked with their source, but for the main one: the run's that gave
    # the most (RESULTS.md's only if no run gave any).
    main = max(sources, key=lambda s: (not s.startswith("RESULTS.md"),
                                       sum(fg.source == s for fg in figs)))

    allr = [row[2] for row in rows if row[0] == "bar"]
    lo, hi = min(allr + [1.0]), max(allr + [1.0])
    # Room for the value labels and the headings on both sides of 1.
    xlo, xhi = lo / 4.0, hi * 4.0
    xlo, xhi = min(xlo, 0.25), max(xhi, 4.0)

    height = 1.5 + 0.27 * len(rows) + 0.18 * len(sources)
    fig, ax = plt.subplots(figsize=(10, height), dpi=110)
    ax.set_xscale("log")
    ax.set_xlim(xlo, xhi)
    n = len(rows)
    ax.set_ylim(n - 0.4, -0.8)
    yt, yl = [], []
    for y, row in enumerate(rows):
        if row[0] == "head":
            fg = row[1]
            better = "lower is better" if fg.direction == run.LOWER else "higher is better"
            where = "weft ahead left of 1" if fg.direction == run.LOWER else "weft ahead right of 1"
            text = "%s  (%s: %s, %s)" % (fg.workload, fg.unit, better, where)
            if mixed and fg.source != main:
                text += "  [%s]" % fg.source.split(" (")[0]
            ax.text(0.005, y + 0.15, text, transform=ax.get_yaxis_transform(),
                    fontsize=9, fontweight="bold", va="center", ha="left",
                    bbox=dict(facecolor="white", edgecolor="none", pad=1.0))
            if y > 0:
                ax.axhline(y - 0.5, color="#bbbbbb", lw=0.6)
            continue
        _, peer, r, ahead = row
        ax.barh(y, r - 1.0, left=1.0, height=0.62, color=AHEAD if ahead else BEHIND)
        ax.text(r * (1.06 if r >= 1 else 1 / 1.06), y, fmt_ratio(r), va="center",
                ha="left" if r >= 1 else "right", fontsize=8)
        yt.append(y)
        yl.append("vs " + peer)
    ax.set_yticks(yt)
    ax.set_yticklabels(yl, fontsize=8.5)
    ax.tick_params(axis="y", length=0)
    ax.axvline(1.0, color="black", lw=1.1)
    ax.xaxis.set_major_locator(LogLocator(base=10))
    ax.xaxis.set_minor_locator(LogLocator(base=10, subs=(2, 5)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: "%g" % v))
    ax.xaxis.set_minor_formatter(FuncFormatter(
        lambda v, _: "%g" % v if xhi / xlo < 1e4 else ""))
    ax.tick_params(axis="x", which="both", labelsize=8)
    ax.grid(axis="x", which="both", color="#e6e6e6", lw=0.6)
    ax.set_axisbelow(True)
    ax.set_xlabel("weft / peer  (log scale; the bar runs from 1 to the ratio)", fontsize=9,
                  loc="left")
    ax.legend(handles=[Patch(color=AHEAD, label="weft ahead"),
                       Patch(color=BEHIND, label="weft behind")],
              loc="upper right", bbox_to_anchor=(1.0, -0.045), ncol=2, fontsize=8,
              frameon=False)
    sub = []
    for s in sources:
        ws = [fg.workload for fg in figs if fg.source == s]
        if s.startswith("RESULTS.md"):
            what = "figures of %s from RESULTS.md" % s[len("RESULTS.md "):]
        else:
            what = "figures of the %s" % s
        if mixed and s != main:
            what = "%s: %s" % (", ".join(ws), what)
        sub.extend(textwrap.wrap(what, 115, subsequent_indent="    "))
    ax.set_title(title, fontsize=11, fontweight="bold", loc="left", pad=8 + 12 * len(sub))
    ax.text(0, 1.01, "\n".join(sub), transform=ax.transAxes, fontsize=8.5,
            va="bottom", ha="left")
    fig.tight_layout()
    out = Path(outdir) / (name + ".png")
    fig.savefig(out)
    plt.close(fig)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outputs", nargs="*",
                    default=[str(REPO / "build-release" / "bench-output.txt")],
                    help="saved bench/run.py output (default build-release/bench-output.txt)")
    ap.add_argument("--results", default=str(BENCH_DIR / "RESULTS.md"))
    ap.add_argument("--outdir", default=str(BENCH_DIR / "charts"))
    ap.add_argument("--list", action="store_true",
                    help="print the figures each chart would draw (as OUTDIR/figures.txt "
                         "gets them), draw nothing")
    a = ap.parse_args()

    fresh = {}
    heads = []
    for p in a.outputs:
        if not os.path.isfile(p):
            warn("%s: no such file (only RESULTS.md's figures)" % p)
            continue
        figs, label = read_output(p)
        warn("%s: %s, %d workloads with ratios" % (p, label, len(figs)))
        first = Path(p).read_text().split("\n", 1)[0]
        heads.append("# %s: %s" % (shown(p), first.lstrip("# ") if first.startswith("#") else label))
        fresh.update(figs)
    old = read_results(a.results) if os.path.isfile(a.results) else {}

    def expand(names):
        res = []
        for n in names:
            res += [g.name for g in run.GROUPS
                    if g.name == n or (n.endswith("*") and g.name.startswith(n[:-1]))]
        return res

    charts = [(name, title, expand(gn)) for name, title, gn in CHARTS]
    named = {g for c in charts for g in c[2]}
    rest = [g.name for g in run.GROUPS if g.name not in named]
    if rest:
        warn("run.py groups in no chart (drawn in other.png): " + ", ".join(rest))
        charts.append(["other", "Other workloads", rest])
    groups = {g.name: g for g in run.GROUPS}

    listing = ["# The figures drawn in bench/charts/*.png, written by bench/charts.py with them:",
               "# chart, then per workload its source and weft/peer for each peer.",
               "# Runs read (later ones win per workload); the rest from %s:" % shown(a.results)] + heads
    todo = []
    for name, title, gnames in charts:
        figs = []
        for gn in gnames:
            for w in groups[gn].workloads if gn in groups else ():
                fg = fresh.get(w) if fresh.get(w) and fresh[w].ratios else old.get(w)
                if fg is not None and fg.ratios and fg not in figs:
                    figs.append(fg)
        if not figs:
            warn("%s: no figures, not drawn" % name)
            continue
        listing.append("%s.png" % name)
        for fg in figs:
            listing.append("  %s  [%s]  %s" % (fg.workload, fg.source, ", ".join(
                "%s %g" % (p, r) for p, r in fg.ratios)))
        todo.append((name, title, figs))
    if a.list:
        print("\n".join(listing))
        return 0

    os.makedirs(a.outdir, exist_ok=True)
    for name, title, figs in todo:
        try:
            out = draw(name, title, figs, a.outdir)
        except ImportError as e:
            warn("matplotlib is needed (Debian: python3-matplotlib, for /usr/bin/python3): %s" % e)
            return 1
        print("chart: %s (%s)" % (out, "; ".join(sorted({fg.source for fg in figs}))))
    Path(a.outdir, "figures.txt").write_text("\n".join(listing) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
