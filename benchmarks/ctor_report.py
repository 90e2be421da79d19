#!/usr/bin/env python3
"""Construction cost of a SegmentedList, against array.array.

    python -P benchmarks/ctor_report.py [--repeat R] [--number N]

Each repetition times every contender (``timeit``, ``N`` constructions),
in an order that alternates between repetitions; the table gives the median
time per construction, its spread (min to max) and the median of the
per-repetition ratios to ``array.array`` with the same arguments.  Small
lists are made by the million in some programs (one per group, per row), so
argument binding and dtype parsing show here and nowhere else.
"""

from __future__ import annotations

import argparse
import array
import os
import statistics
import sys
import timeit

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
# Keep the source tree's segpy/ (no compiled modules) off sys.path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != REPO]

import segpy

CASES = [
    # (label, segpy statement, array.array statement)
    ("empty, typecode 'd'", "S('d')", "A('d')"),
    ("3 ints, typecode 'q'", "S('q', [1, 2, 3])", "A('q', [1, 2, 3])"),
    ("empty, np.dtype", "S(DT)", "A('d')"),
]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--number", type=int, default=200_000)
    args = ap.parse_args(argv)
    import numpy as np
    env = {"S": segpy.SegmentedList, "A": array.array, "DT": np.dtype("f8")}
    print(f"segpy {segpy.__version__} from {os.path.dirname(segpy.__file__)}")
    print(f"{args.repeat} repetitions of {args.number:,} constructions each; us per construction")
    print("| case | segpy median (min-max) | array.array median | segpy/array ratio (min-max) |")
    print("|---|---|---|---|")
    for label, s_stmt, a_stmt in CASES:
        s_t, a_t, ratios = [], [], []
        for rep in range(args.repeat):
            pair = [(s_stmt, s_t), (a_stmt, a_t)]
            for stmt, out in (pair if rep % 2 == 0 else pair[::-1]):
                out.append(timeit.timeit(stmt, globals=env, number=args.number) / args.number * 1e6)
            ratios.append(s_t[-1] / a_t[-1])
        print(f"| {label} | {statistics.median(s_t):.3f} ({min(s_t):.3f}-{max(s_t):.3f}) "
              f"| {statistics.median(a_t):.3f} "
              f"| {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) |")


if __name__ == "__main__":
    main()
