#!/usr/bin/env python3
"""How much of a bulk-copy comparison is the process's luck: report.py's rows, in fresh processes.

    python -P benchmarks/spread_report.py [--processes K] [--measures extend,to_numpy]
                                          [--sizes 1e5,1e6]

From 10^5 int64 up, extend and to_numpy spend nearly all their time in one
``memcpy`` for every contender but the ``list``, and how fast that copy runs
depends on where the process's memory landed (which physical pages back the
source and the destination, whether a huge page backs them).  One
process's repetitions share that placement, so report.py's median and its
sign test speak for that process's draw: in one run the interleaved medians
at 10^5 gave segpy / array 0.86, in the next 1.06 and 1.12, from the same
build.  This script runs report.py (the same code and method) in ``K``
fresh interpreters, one after another, and gives for each row the median
over the processes of the per-process ratio of segpy's figure to the best
peer's figure and to each peer's, with the range, and in how many processes
segpy's figure was the lowest.

A ratio is a process's own (both figures are medians of that process's
interleaved repetitions), so a machine that is busier in one process than
in the next moves both figures of that ratio alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = ("list", "array", "numpy_doubling", "numpy_oneshot")


def one_process(args, path):
    """Run report.py once into ``path`` (JSON); return its samples."""
    cmd = [sys.executable, "-P", os.path.join(HERE, "report.py"),
           "--measures", args.measures, "--sizes", args.sizes, "--record-sizes", "",
           "--mem-sizes", "", "--no-plots", "--no-progress", "--json", path]
    # report.py exits 1 when a target fails: that is a result here, not an error.
    done = subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"report.py failed:\n{done.stderr}")
    with open(path) as f:
        return json.load(f)["samples"]


def row_ratios(per_impl):
    """segpy's median over each peer's median, and over the lowest of them."""
    med = {k: statistics.median(v) for k, v in per_impl.items()}
    peers = {k: med[k] for k in PEERS if k in med}
    out = {k: med["segpy"] / v for k, v in peers.items()}
    out["best"] = med["segpy"] / min(peers.values())
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, default=10, help="fresh processes (default 10)")
    ap.add_argument("--measures", default="extend,to_numpy")
    ap.add_argument("--sizes", default="1e5,1e6")
    args = ap.parse_args(argv)

    ratios = {}  # (measure, n) -> {"best" | peer: [per-process ratio]}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.processes):
            samples = one_process(args, os.path.join(tmp, f"{k}.json"))
            for key, per_n in samples.items():
                measure = key.split("/")[0]
                for n, per_impl in per_n.items():
                    for name, r in row_ratios(per_impl).items():
                        ratios.setdefault((measure, int(n)), {}).setdefault(name, []).append(r)
            print(f"  process {k + 1}/{args.processes} done", file=sys.stderr)

    cols = ("best",) + PEERS
    print(f"segpy's figure / a peer's figure, per process, over {args.processes} "
          "processes: median [min-max]; 'lowest in' counts the processes where "
          "segpy's figure was the lowest")
    head = f"{'measure':9s} {'N':>5s} " + " ".join(f"{c:>19s}" for c in cols) + "  lowest in"
    print(head)
    print("-" * len(head))
    for (measure, n), per in sorted(ratios.items()):
        cells = []
        for c in cols:
            v = per.get(c)
            cells.append(f"{statistics.median(v):.2f} [{min(v):.2f}-{max(v):.2f}]"
                         if v else "n/a")
        wins = sum(r <= 1.0 for r in per["best"])
        print(f"{measure:9s} 10^{len(str(n)) - 1:<2d} " + " ".join(f"{c:>19s}" for c in cells)
              + f"  {wins}/{len(per['best'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
