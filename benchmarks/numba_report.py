#!/usr/bin/env python3
"""segpy.numba report: @njit appends and random reads on a SegmentedList, against numpy and numba.

    python -P benchmarks/numba_report.py [--quick] [--n N] [--reads M] [--repeat R] [--json PATH]
                                         [--no-settle]

Needs numba (``pip install 'segpy[numba]'``).  Run it with ``python -P`` (or
from outside the repository) so that the source ``segpy/`` directory, which
holds no compiled modules, does not shadow the installed package.

Every contender is an ``@njit`` function, compiled before the clock starts;
each repetition times the segpy side and its baseline back to back,
alternating which goes first, after one untimed warm-up round (which also
checks that both sides built or read the same numbers).  A row gives, for
each side, the median ns per element and the spread (min to max) over the
repetitions, and the median and spread of the per-repetition ratios.

Measures (and their targets)
----------------------------
append, fresh          ``lst.append(i)`` n times into a new list on the default
                       allocator vs ``a[i] = i`` into ``np.empty(n)`` made just
                       before (both the list's first use of its segments and
                       the array's first touch of its pages are in the loop)   <= 2x
append, fresh Heap     the same, on a new segpy.Heap per repetition (no memory
                       cached from the previous repetition's list)            info
append, warm           a list whose segments are kept (a view of them is
                       alive across ``clear()``) vs an array written before;
                       the array loop is vectorised, the list's keeps its
                       cursor and length in its struct                         info
vs typed.List          ``numba.typed.List.append`` n times, then its elements
                       copied into a new ndarray in the same @njit function,
                       vs segpy's fresh append: segpy at least 10x faster       >= 10x
                       (and vs segpy's append followed by ``lst.to_numpy()``)  info
random get             sum of ``lst[idx[k]]`` over m precomputed random indices
                       vs ``a[idx[k]]``, lists of 128 KiB, 8 MiB and n int64,
                       both compiled as numba compiles by default (no bounds
                       checking: an array reads past its end, a list clamps
                       the index; both loops vectorise into gathers)      <= 1.5x
                       (and both compiled with boundscheck=True, where each
                       raises IndexError out of range: an exit from the loop,
                       so neither is vectorised)                             info

Memory for the fresh rows.  On a virtual machine whose guest hands memory
it has held free for a few seconds back to its host (free page reporting),
the first huge-page faults on that memory are an order of magnitude slower
than on memory freed just before: numpy's ``np.empty`` + store measured 16
to 24 ns an element right after a typed.List run, and 1.8 to 2.0 right
after another ``np.empty`` run, and segpy's appends the same.  What a call
pays then depends on what ran before it, not on the side it times.  So
before each timed call of the fresh rows (either side) the report settles
memory as report.py does before its single-repetition measures
(``settle_memory``: an array as large as what the call fills is made and
dropped, untimed; the list's size, twice that when ``to_numpy()`` copies
it), and every call starts with memory the guest holds.  The list's
segments and the array's pages are still new mappings, faulted in the
loop.  ``--no-settle`` leaves this out.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# report.py drops the source tree from sys.path on import, before numpy and
# segpy are imported: keep this order.
# isort: off
from report import machine_info, settle_memory, timed

import numpy as np

import segpy

try:
    import numba
    from numba.typed import List
except ImportError:  # pragma: no cover - the report needs the numba extra
    sys.exit("numba_report.py needs numba: pip install 'segpy[numba]'")
import segpy.numba  # registers SegmentedList with numba
# isort: on

SEED = 20240601


# -- the contenders ---------------------------------------------------------------

@numba.njit
def append_range(lst, n):
    for i in range(n):
        lst.append(i)


@numba.njit
def store_range(a, n):
    for i in range(n):
        a[i] = i


@numba.njit
def typed_list_to_numpy(n):
    tl = List.empty_list(numba.int64)
    for i in range(n):
        tl.append(i)
    out = np.empty(len(tl), np.int64)
    for i in range(len(tl)):
        out[i] = tl[i]
    return out


@numba.njit
def sum_at(xs, idx):
    total = 0
    for k in range(len(idx)):
        total += xs[idx[k]]
    return total


# The same loop with numba's bounds checking: ``a[i]`` and ``lst[i]`` raise
# IndexError out of range, an exit from the loop, so numba vectorises
# neither (it vectorises both of sum_at's loops).
sum_at_checked = numba.njit(boundscheck=True)(sum_at.py_func)


def compile_all():
    lst, a = segpy.SegmentedList("q"), np.empty(4, np.int64)
    append_range(lst, 4)
    store_range(a, 4)
    typed_list_to_numpy(4)
    idx = np.zeros(2, np.int64)
    sum_at(lst, idx)
    sum_at(a, idx)
    sum_at_checked(a, idx)
    sum_at_checked(lst, idx)


# -- timing -----------------------------------------------------------------------

def spread(xs, per):
    """Median and (min, max) of seconds, in ns per element."""
    return (statistics.median(xs) * 1e9 / per, min(xs) * 1e9 / per, max(xs) * 1e9 / per)


def make_row(measure, s, f, per, baseline, target=None, faster=False):
    """A result row.  ``faster``: the target is a speed-up of segpy over the baseline."""
    ratios = [a / b for a, b in zip(s, f)]
    if faster:
        ratios = [1 / x for x in ratios]
    ratio = statistics.median(ratios)
    status = "info"
    if target is not None:
        status = "PASS" if (ratio >= target if faster else ratio <= target) else "FAIL"
    return {
        "measure": measure, "baseline": baseline,
        "segpy_ns": spread(s, per), "baseline_ns": spread(f, per),
        "ratio": (ratio, min(ratios), max(ratios)),
        "ratio_kind": "baseline/segpy" if faster else "segpy/baseline",
        "target": (f">= {target:g}x faster" if faster else f"<= {target:g}x")
        if target is not None else "",
        "status": status, "samples": len(s),
    }


def _same(a, b):
    if not np.array_equal(np.asarray(a), np.asarray(b)):
        raise RuntimeError("segpy and its baseline disagree")


def _check_list(lst, a):
    _same(lst.to_numpy(), a)


# -- the measures -------------------------------------------------------------------

def append_rows(n, repeat):
    rows = []

    def timed_fresh(alloc_factory):
        # The list (and its allocator) are made outside the clock.
        def run():
            lst = segpy.SegmentedList("q", allocator=alloc_factory())
            return _Clocked(lambda: append_range(lst, n), lst)
        return run

    s, f = paired_clocked(timed_fresh(lambda: None), _array_clocked(n, warm=False), repeat,
                          _check_list, settle=8 * n)
    rows.append(make_row("append, fresh (default Heap)", s, f, n, "np.empty + store", 2.0))
    s, f = paired_clocked(timed_fresh(segpy.Heap), _array_clocked(n, warm=False), repeat,
                          _check_list, settle=8 * n)
    rows.append(make_row("append, fresh (new Heap each run)", s, f, n, "np.empty + store"))

    warm = segpy.SegmentedList("q")
    append_range(warm, n)
    keep = warm.segments()       # keeps the segments across clear()

    def warm_list():
        warm.clear()
        return _Clocked(lambda: append_range(warm, n), warm)

    s, f = paired_clocked(warm_list, _array_clocked(n, warm=True), repeat, _check_list)
    rows.append(make_row("append, warm (segments kept)", s, f, n, "written array + store"))
    del keep

    def typed():
        return _Clocked(lambda: typed_list_to_numpy(n), None, result=True)

    s, f = paired_clocked(timed_fresh(lambda: None), typed, repeat,
                          lambda lst, a: _same(lst.to_numpy(), a), settle=8 * n)
    rows.append(make_row("append, fresh, vs typed.List", s, f, n,
                         "typed.List.append + copy to ndarray", 10.0, faster=True))

    def list_then_numpy():
        lst = segpy.SegmentedList("q")

        def run():
            append_range(lst, n)
            return lst.to_numpy()
        return _Clocked(run, None, result=True)

    s2, f2 = paired_clocked(list_then_numpy, typed, repeat, _same, settle=16 * n)
    rows.append(make_row("append + to_numpy(), vs typed.List", s2, f2, n,
                         "typed.List.append + copy to ndarray", faster=True))
    return rows


class _Clocked:
    """A prepared timed call: ``fn()`` is what the clock measures; ``value``
    (or fn's result, with ``result=True``) is what the check compares."""

    def __init__(self, fn, value, result=False):
        self.fn, self.value, self.result = fn, value, result


def _array_clocked(n, warm):
    def make():
        a = np.ones(n, np.int64) if warm else np.empty(n, np.int64)
        return _Clocked(lambda: store_range(a, n), a)
    return make


# Whether the fresh rows settle memory before each timed call (the module
# docstring, "Memory for the fresh rows"); --no-settle clears it.
SETTLE = True


def paired_clocked(seg, ref, repeat, check, settle=0):
    """Time the segpy side and its baseline ``repeat`` times, interleaved.

    ``seg`` and ``ref`` make a _Clocked call each time (untimed), whose
    ``fn()`` alone is timed; the untimed warm-up round passes the two
    values to ``check``.  ``settle``: bytes made and dropped (untimed) just
    before each timed call.  Returns the two lists of seconds.
    """
    s, f = [], []
    for r in range(-1, repeat):
        sides = [("seg", seg, s), ("ref", ref, f)]
        if r % 2:
            sides.reverse()
        out = {}
        for key, make, samples in sides:
            c = make()
            gc.collect()
            if SETTLE and settle:
                settle_memory(settle)
            dt, result = timed(c.fn)
            out[key] = result if c.result else c.value
            del c
            if r >= 0:
                samples.append(dt)
        if r < 0:
            check(out["seg"], out["ref"])
        del out
    return s, f


def _summing(xs, idx, fn=sum_at):
    return lambda: _Clocked(lambda: fn(xs, idx), None, result=True)


def get_rows(n, m, repeat):
    rows = []
    rng = np.random.default_rng(SEED)
    for size in (1 << 14, 1 << 20, n):
        lst = segpy.SegmentedList("q")
        append_range(lst, size)
        a = lst.to_numpy()
        idx = rng.integers(0, size, m, dtype=np.int64)
        s, f = paired_clocked(_summing(lst, idx), _summing(a, idx), repeat,
                              lambda x, y: _same([x], [y]))
        rows.append(make_row(f"random get, {size * 8 >> 10:,} KiB list", s, f, m,
                             "ndarray[i]", 1.5))
        s, f = paired_clocked(_summing(lst, idx, sum_at_checked),
                              _summing(a, idx, sum_at_checked), repeat,
                              lambda x, y: _same([x], [y]))
        rows.append(make_row(f"random get, {size * 8 >> 10:,} KiB list, both boundscheck=True",
                             s, f, m, "ndarray[i], boundscheck=True"))
        del lst, a
    return rows


def print_table(rows, header):
    print(header)
    print()

    def cell(t):
        return f"{t[0]:.3f} [{t[1]:.3f}-{t[2]:.3f}]"

    w = max(len(r["measure"]) for r in rows)
    b = max(len(r["baseline"]) for r in rows)
    print(f"{'measure':<{w}}  {'segpy ns [min-max]':>22}  {'baseline':<{b}}  "
          f"{'baseline ns [min-max]':>22}  {'ratio [min-max]':>22}  {'target':>14}  status")
    print("-" * (w + b + 110))
    for r in rows:
        ratio = f"{r['ratio'][0]:.2f}x [{r['ratio'][1]:.2f}-{r['ratio'][2]:.2f}]"
        print(f"{r['measure']:<{w}}  {cell(r['segpy_ns']):>22}  {r['baseline']:<{b}}  "
              f"{cell(r['baseline_ns']):>22}  {ratio:>22}  {r['target']:>14}  {r['status']}")
    print()
    print("ratio: segpy/baseline time, except the typed.List rows (baseline/segpy: "
          "how many times faster segpy is)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="4M elements, 1M reads and 3 repetitions (seconds)")
    ap.add_argument("--json", metavar="PATH", help="also write the rows (with every statistic) "
                    "as JSON to PATH")
    ap.add_argument("--n", type=int, default=None, help="int64 elements appended (default 64M)")
    ap.add_argument("--reads", type=int, default=None, help="random reads per run (default 16M)")
    ap.add_argument("--repeat", type=int, default=None, help="repetitions (default 7)")
    ap.add_argument("--no-settle", action="store_true",
                    help="do not make and drop an array as large as the list before each "
                    "timed call of the fresh rows (see 'Memory for the fresh rows')")
    args = ap.parse_args(argv)
    global SETTLE
    SETTLE = not args.no_settle
    n = args.n or ((4 if args.quick else 64) << 20)
    m = args.reads or ((1 if args.quick else 16) << 20)
    repeat = args.repeat or (3 if args.quick else 7)
    compile_all()
    rows = append_rows(n, repeat) + get_rows(n, m, repeat)
    info = machine_info()
    header = (f"segpy {segpy.__version__} numba report: n={n:,} int64 appended, {m:,} random "
              f"reads, repeat={repeat}, numba {numba.__version__}, numpy {np.__version__}, "
              f"default allocator {segpy.get_allocator().name}; {info.get('cpu', '?')}, "
              f"{info['cpus']} cpus, load {info.get('loadavg', '?')}; fresh rows "
              f"{'settled' if SETTLE else 'not settled (--no-settle)'}; ns per element")
    print_table(rows, header)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"header": header, "machine": info, "argv": sys.argv, "rows": rows},
                      out, indent=1)
    failed = [r["measure"] for r in rows if r["status"] == "FAIL"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
