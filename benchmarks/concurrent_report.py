#!/usr/bin/env python3
"""Concurrent pushes: 2 threads against 1 filling one list, side by side.

    python -P benchmarks/concurrent_report.py [--n N] [--repeat R (15)] [--json PATH] [--warm]

Each repetition pushes N int64 (default 64M, 512 MB) into a new list on the
default allocator from 1 thread and from 2 threads (a static OpenMP
``prange``, each thread through its own writer, one concurrent
phase: ``segpy._bench_cc.push_threads``), in alternating order after one
untimed round.  The time covers the whole phase, segment requests and page
faults included.  With ``--warm`` every run pushes into the same list,
emptied, whose segments were written once before (views of them keep
them): the same phase without the page faults.  Each row gives the median
[min-max] of the elapsed times and the median of the per-repetition
throughput ratios (1 thread's time / 2 threads' time).  A reference row
times ordinary one-thread pushes (``seglist_push_value``).  Every run
checks the list's sum against the expected one, and its length.

The machine's ceiling.  Two more rows store the same values from the same
``prange`` into a new anonymous mapping, advised for huge pages as the
list's large segments are, with no list at all
(``segpy._bench_cc.store_threads``; with ``--warm``, a mapping written
once before the clock starts).  Their ratio is what this machine's memory
and page faults allow two threads of plain stores; a list's ratio above
it is not to be expected.

numba.  Where numba is installed, two more rows push the same values from
an ``@njit(parallel=True, nogil=True)`` ``prange`` loop through the list's
``concurrent_writer()`` (segpy.numba), with numba's thread count set to 1
and to 2; their ratio is printed beside the target's, for information.

Target: 2 threads >= 1.6x the throughput of 1 thread.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != REPO]

import segpy
from segpy import _bench_cc as B


def run(fn, n, nthreads, warm=None):
    want = 3 * n * (n - 1) // 2 + n
    if fn is B.store_threads:
        ns, total, _ = fn(n, nthreads, warm is not None)
        if total != want:
            raise SystemExit(f"wrong result: sum {total} != {want}")
        return ns
    if warm is None:
        lst = segpy.SegmentedList("int64")
    else:
        # The warm list: emptied, its segments kept (and their pages
        # faulted in) by the views held in warm[1].
        lst = warm[0]
        del lst[:]
    gc.collect()
    if nthreads:
        ns, total, err = fn(lst, n, nthreads)
    else:
        ns, total, err = fn(lst, n)
    if err or total != want or len(lst) != n:
        raise SystemExit(f"wrong result: error {err}, length {len(lst)}, sum {total} != {want}")
    if warm is None:
        del lst
    return ns


def numba_pusher():
    """``push(lst, n, nthreads) -> (ns, total, err)`` through a numba
    prange loop and the list's concurrent writer, as push_threads does in
    C; None where numba is not installed."""
    try:
        import numba
    except ImportError:
        return None

    @numba.njit(parallel=True, nogil=True)
    def fill(w, n):
        for i in numba.prange(n):
            w.append(3 * i + 1)

    def push(lst, n, nthreads):
        numba.set_num_threads(nthreads)
        t = time.perf_counter_ns()
        with lst.concurrent_writer() as w:
            fill(w, n)
        ns = time.perf_counter_ns() - t
        return ns, int(lst.sum()), 0

    return push


def warm_list(n):
    """An int64 list with every segment for ``n`` elements written once, and
    views of them: while views exist, emptying the list keeps its segments."""
    lst = segpy.SegmentedList("int64")
    B.push_threads(lst, n, 1)
    return lst, lst.segments()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=64 * 2**20)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--json", default=None)
    ap.add_argument("--warm", action="store_true",
                    help="push into segments written before (no page faults in the timing)")
    args = ap.parse_args(argv)
    n = args.n
    warm = warm_list(n) if args.warm else None
    contenders = [("1 thread", B.push_threads, 1), ("2 threads", B.push_threads, 2),
                  ("plain push, 1 thread", B.push_plain, 0),
                  ("no list: stores, 1 thread", B.store_threads, 1),
                  ("no list: stores, 2 threads", B.store_threads, 2)]
    nb_push = numba_pusher()
    if nb_push is not None:
        contenders += [("numba prange, 1 thread", nb_push, 1),
                       ("numba prange, 2 threads", nb_push, 2)]
    times = {name: [] for name, _, _ in contenders}
    for r in range(-1, args.repeat):
        order = contenders if r % 2 == 0 else contenders[::-1]
        for name, fn, k in order:
            ns = run(fn, n, k, warm)
            if r >= 0:
                times[name].append(ns)
    ratios = [a / b for a, b in zip(times["1 thread"], times["2 threads"], strict=True)]
    ceiling = [a / b for a, b in zip(times["no list: stores, 1 thread"],
                                     times["no list: stores, 2 threads"], strict=True)]

    def cell(v):
        return (f"{statistics.median(v) / n:.3f} ns/elt "
                f"[{min(v) / n:.3f}-{max(v) / n:.3f}]")

    print(f"# {n:,} int64 per run, {'segments written before' if warm else 'a new list'}, "
          f"{args.repeat} repetitions (+1 untimed), "
          f"{os.cpu_count()} cpus, {platform.python_version()}")
    for name, _, _ in contenders:
        print(f"{name:<26} {cell(times[name])}  "
              f"{n * 8 / statistics.median(times[name]):.2f} GB/s")
    med = statistics.median(ratios)
    if nb_push is not None:
        nb = [a / b for a, b in zip(times["numba prange, 1 thread"],
                                    times["numba prange, 2 threads"], strict=True)]
        print(f"numba prange through a concurrent writer, 2 threads / 1 thread (info): "
              f"{statistics.median(nb):.2f} [{min(nb):.2f}-{max(nb):.2f}]")
    print(f"this machine's ceiling, plain stores with no list, 2 threads / 1 thread: "
          f"{statistics.median(ceiling):.2f} [{min(ceiling):.2f}-{max(ceiling):.2f}]")
    print(f"throughput, 2 threads / 1 thread (target >= 1.6): {med:.2f} "
          f"[{min(ratios):.2f}-{max(ratios):.2f}]  {'PASS' if med >= 1.6 else 'FAIL'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"n": n, "warm": bool(args.warm), "times_ns": times, "ratios": ratios,
                       "ceiling_ratios": ceiling}, f, indent=1)
    return 0 if med >= 1.6 else 1


if __name__ == "__main__":
    sys.exit(main())
