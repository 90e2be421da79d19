#!/usr/bin/env python3
"""segpy's sequence report: the drop-in-sequence targets, side by side, in one run.

    python benchmarks/seq_report.py [--n N] [--repeat R] [--quick] [--json PATH]

Run it from outside the repository root (or with ``python -P``), as report.py.
It reuses report.py's timing and table helpers: every contender of a measure
runs inside each repetition (order alternating), one untimed warm-up round
comes first, the ratio is the median of the per-repetition segpy/baseline
ratios, and the exit status is 1 if a target fails.  A measure whose segpy
operation does not exist in the installed build (insert/del, slicing) prints
'n/a' instead.

Measures that mutate (sort, insert/del) get a fresh container per repetition,
built outside the timing.
"""

from __future__ import annotations

import argparse
import array
import functools
import gc
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# report.py sets the BLAS thread count and drops the source tree from sys.path
# on import, before numpy and segpy are imported: keep this order.
# isort: off
from report import (
    fmt_t,
    json_rows,
    machine_info,
    paired_ratio,
    print_table,
    run_group,
    timed,
)

import numpy as np

import segpy
# isort: on


def run_group_setup(contenders: dict, repeat: int, warmup: int = 1) -> dict:
    """Like report.run_group, for ``name -> (setup, fn)``: ``fn(setup())`` is
    timed, ``setup()`` is not."""
    names = list(contenders)
    samples = {k: [] for k in names}
    for r in range(-warmup, repeat):
        order = names if r % 2 == 0 else names[::-1]
        for k in order:
            setup, fn = contenders[k]
            dt, out = timed(functools.partial(fn, setup()))
            del out
            if r >= 0:
                samples[k].append(dt)
    return samples


def supports(fn) -> bool:
    """True if ``fn()`` runs on this build (False for a missing method or index kind)."""
    try:
        fn()
    except (AttributeError, TypeError, NotImplementedError):
        return False
    return True


# --------------------------------------------------------------------------
# the measures

def measure_insert_del(n, ops, repeat, seed):
    rng = np.random.default_rng(seed)
    base = np.arange(n, dtype=np.int64)
    ins = rng.integers(0, n, ops).tolist()
    dels = rng.integers(0, n, ops).tolist()

    def seg_setup():
        lst = segpy.SegmentedList("q")
        lst.extend(base)
        return lst

    def arr_setup():
        a = array.array("q")
        a.frombytes(base.view(np.uint8))
        return a

    def run(c):
        insert = c.insert
        for i in ins:
            insert(i, -1)
        for i in dels:
            del c[i]
        return c

    return run_group_setup({"segpy": (seg_setup, run), "array": (arr_setup, run)}, repeat)


def measure_sort(n, repeat, seed):
    ref = np.random.default_rng(seed).random(n)
    base = segpy.SegmentedList("d")
    base.extend(ref)
    return run_group_setup({
        "segpy": (base.copy, lambda lst: lst.sort()),
        "np.sort": (lambda: ref, np.sort),
        "ndarray.sort": (ref.copy, lambda a: a.sort()),
    }, repeat)


def run_batched(contenders: dict, repeat: int, batch: int) -> dict:
    """run_group with each sample timing ``batch`` calls; samples are per call.

    The fast measures (a few ms) are shorter than the scheduling noise of a
    shared 2-core box: single calls come out bimodal (about 2.5x apart), and
    the median of paired single-call ratios then says more about the
    neighbours than about segpy.  Batches average that out for both
    contenders alike.
    """
    def many(fn):
        def run():
            for _ in range(batch):
                out = fn()
            return out
        return run

    samples = run_group({k: many(fn) for k, fn in contenders.items()}, repeat)
    return {k: [t / batch for t in v] for k, v in samples.items()}


def measure_take(seg, ref, idx, repeat, batch):
    return run_batched({"segpy": lambda: seg.take(idx), "ndarray[idx]": lambda: ref[idx]},
                       repeat, batch)


def measure_slice(seg, ref, repeat, batch):
    return run_batched({"segpy": lambda: seg[::7],
                        "ndarray[::7].copy()": lambda: ref[::7].copy()}, repeat, batch)


def measure_reduce(seg, ref, method, repeat, batch):
    return run_batched({"segpy": getattr(seg, method), "ndarray": getattr(ref, method)},
                       repeat, batch)


# --------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=None,
                    help="elements of the big lists (default 10_000_000; 2_000_000 with --quick)")
    ap.add_argument("--insert-n", type=int, default=1_000_000,
                    help="list length for insert/del (default %(default)s)")
    ap.add_argument("--ops", type=int, default=None,
                    help="inserts (and as many dels) per repetition (default 1000; 200 with --quick)")
    ap.add_argument("--takes", type=int, default=1_000_000,
                    help="random indices per take (default %(default)s)")
    ap.add_argument("--repeat", type=int, default=None,
                    help="timed repetitions per measure (default 9; 5 with --quick)")
    ap.add_argument("--batch", type=int, default=10,
                    help="calls per timed sample for take, slicing and the reductions "
                         "(default %(default)s)")
    ap.add_argument("--quick", action="store_true", help="smaller N, fewer repetitions")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--json", metavar="PATH", help="also save all samples as JSON")
    args = ap.parse_args(argv)

    n = args.n if args.n is not None else (2_000_000 if args.quick else 10_000_000)
    repeat = args.repeat if args.repeat is not None else (5 if args.quick else 9)
    ops = args.ops if args.ops is not None else (200 if args.quick else 1000)
    takes = min(args.takes, n)

    info = machine_info()
    print("segpy sequence report")
    for k, v in info.items():
        print(f"  {k:15s} {v}")
    print(f"  N = {n:,}, insert/del: {ops:,} each on {args.insert_n:,} int64, "
          f"take: {takes:,} indices, repeat = {repeat} (+1 warm-up), "
          f"batch = {args.batch} calls per sample for take/slice/reductions")
    print(flush=True)

    t_start = time.perf_counter()
    rows = []   # (measure, segpy, baseline, ratio, target, result)
    raw = {}

    def add(measure, samples, base, target, seg="segpy"):
        s = statistics.median(samples[seg])
        b = statistics.median(samples[base])
        ratio = paired_ratio(samples, seg, base)
        verdict = "info" if target is None else ("PASS" if ratio <= target else "FAIL")
        rows.append((measure, fmt_t(s), fmt_t(b), f"{ratio:.2f}",
                     "-" if target is None else f"<= {target:g}", verdict))

    def na(measure, target, why):
        rows.append((measure, "n/a", "n/a", "n/a", f"<= {target:g}", "n/a"))
        raw[measure] = why

    def progress(what):
        print(f"  [{time.perf_counter() - t_start:6.1f} s] {what}", file=sys.stderr, flush=True)

    probe = segpy.SegmentedList("q", range(10))
    label = f"insert+del at random positions, {args.insert_n / 1e6:g}M int64 vs array.array"
    if supports(lambda: probe.insert(0, 1)) and supports(lambda: probe.__delitem__(0)):
        progress("insert/del")
        s = raw["insert_del"] = measure_insert_del(args.insert_n, ops, repeat, args.seed)
        add(label, s, "array", 1.0)
    else:
        na(label, 1.0, "SegmentedList.insert / del lst[i] not in this build")

    progress("sort")
    s = raw["sort"] = measure_sort(n, repeat, args.seed)
    add(f"sort() {n / 1e6:g}M float64 vs np.sort(contiguous)", s, "np.sort", 1.3)
    add("sort() vs in-place ndarray.sort()", s, "ndarray.sort", None)
    gc.collect()

    # Filled containers for the read-only measures, built once.
    ref = np.arange(n, dtype=np.int64)
    seg = segpy.SegmentedList("q")
    seg.extend(ref)
    reff = np.random.default_rng(args.seed).random(n)
    segf = segpy.SegmentedList("d")
    segf.extend(reff)

    progress("take")
    idx = np.random.default_rng(args.seed).integers(0, n, takes)
    s = raw["take"] = measure_take(seg, ref, idx, repeat, args.batch)
    add(f"take() {takes / 1e6:g}M random of {n / 1e6:g}M int64 vs ndarray[idx]", s,
        "ndarray[idx]", 1.5)
    del idx

    label = f"lst[::7] on {n / 1e6:g}M int64 vs ndarray[::7].copy()"
    if supports(lambda: probe[::7]):
        progress("slice")
        s = raw["slice"] = measure_slice(seg, ref, repeat, args.batch)
        add(label, s, "ndarray[::7].copy()", 2.0)
    else:
        na(label, 2.0, "slicing not in this build")

    for name, sl, arr in [("int64", seg, ref), ("float64", segf, reff)]:
        progress(f"reductions {name}")
        s = raw[f"sum_{name}"] = measure_reduce(sl, arr, "sum", repeat, args.batch)
        add(f"sum() {n / 1e6:g}M {name} vs ndarray.sum()", s, "ndarray", 1.2)
        for m in ["min", "max"]:
            s = raw[f"{m}_{name}"] = measure_reduce(sl, arr, m, repeat, args.batch)
            add(f"{m}() {n / 1e6:g}M {name} vs ndarray.{m}()", s, "ndarray", None)
    del seg, segf, ref, reff
    elapsed = time.perf_counter() - t_start

    n_t, n_f, n_na = print_table(rows)
    print()
    print(f"{n_t - n_f}/{n_t} targets met ({n_na} n/a).  Times are medians over {repeat} "
          f"interleaved repetitions; ratio = median of the per-repetition segpy/baseline "
          f"ratios.  Elapsed {elapsed:.0f} s.")

    if args.json:
        out = {
            "info": info,
            "config": {"n": n, "repeat": repeat, "batch": args.batch, "ops": ops, "insert_n": args.insert_n,
                       "takes": takes, "quick": args.quick, "seed": args.seed},
            "rows": json_rows(rows),
            "samples": raw,
            "elapsed_s": elapsed,
        }
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
        print(f"saved {args.json}")
    return 1 if n_f else 0


if __name__ == "__main__":
    sys.exit(main())
