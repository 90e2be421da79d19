#!/usr/bin/env python3
"""Method-call overhead of ``SegmentedList.append`` against ``list.append``.

    python -P benchmarks/call_report.py [--n N] [--repeat R] [--json PATH]

``append`` is a METH_O method (one positional-only argument, no argument
parsing), the calling convention of ``list.append``.  Changes to Cython's
directives (``binding``, ``embedsignature``) can silently turn it into a
FASTCALL|KEYWORDS method that parses its arguments on every call; this report
shows the cost side by side with ``list.append``.

Two loops per container, each appending ``range(N)``:

* ``bound``: ``ap = c.append; for x in r: ap(x)`` (report.py's append measure);
* ``attr``: ``for x in r: c.append(x)`` (the method looked up on every call).

Every repetition runs all four contenders, in an order that alternates
between repetitions, with the cyclic GC off and the container freed outside
the clock; one untimed warm-up round comes first.  The table gives, for each
contender, the median time, the spread (min to max) and, for segpy, the
median of the per-repetition segpy/list ratios with their spread.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
# Keep the source tree's segpy/ (no compiled modules) off sys.path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != REPO]

import segpy


def bound(c, n):
    ap = c.append
    for x in range(n):
        ap(x)
    return c


def attr(c, n):
    for x in range(n):
        c.append(x)
    return c


CONTENDERS = {
    "segpy bound": lambda n: bound(segpy.SegmentedList("q"), n),
    "list bound": lambda n: bound([], n),
    "segpy attr": lambda n: attr(segpy.SegmentedList("q"), n),
    "list attr": lambda n: attr([], n),
}


def timed(fn, n):
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        out = fn(n)
        t1 = time.perf_counter()
    finally:
        gc.enable()
    del out
    return t1 - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000_000, help="appends per run (default %(default)s)")
    ap.add_argument("--repeat", type=int, default=9, help="timed repetitions (default %(default)s)")
    ap.add_argument("--json", metavar="PATH", help="also save every sample as JSON")
    args = ap.parse_args(argv)

    names = list(CONTENDERS)
    samples = {k: [] for k in names}
    for r in range(-1, args.repeat):
        for k in names if r % 2 == 0 else names[::-1]:
            dt = timed(CONTENDERS[k], args.n)
            if r >= 0:
                samples[k].append(dt)

    print(f"segpy {segpy.__version__} from {os.path.dirname(segpy.__file__)}")
    print(f"N = {args.n:,} appends, {args.repeat} runs (+1 warm-up); times in ms, ns per append")
    print(f"{'contender':14s} {'median':>9s} {'min':>9s} {'max':>9s} {'ns/op':>7s}")
    for k in names:
        s = samples[k]
        print(f"{k:14s} {statistics.median(s) * 1e3:9.1f} {min(s) * 1e3:9.1f} "
              f"{max(s) * 1e3:9.1f} {statistics.median(s) / args.n * 1e9:7.1f}")
    for how in ("bound", "attr"):
        ratios = [a / b for a, b in zip(samples[f"segpy {how}"], samples[f"list {how}"])]
        print(f"segpy/list ({how}): median {statistics.median(ratios):.3f}, "
              f"min {min(ratios):.3f}, max {max(ratios):.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"n": args.n, "repeat": args.repeat, "samples": samples}, f, indent=1)


if __name__ == "__main__":
    main()
