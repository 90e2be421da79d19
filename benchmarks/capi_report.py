#!/usr/bin/env python3
"""segpy's C-level API report: nogil pushes and gets from Cython against a C array floor.

    python -P benchmarks/capi_report.py [--quick] [--json] [--repeat R] [--n N]

Run it with ``python -P`` (or from outside the repository) so that the source
``segpy/`` directory, which holds no compiled modules, does not shadow the
installed package.

The loops are C loops in :mod:`segpy._bench_capi`, compiled from Cython
against segpy's ``.pxd`` files exactly as a consumer's would be: the push is
the inline ``seglist_emplace`` fast path.  Each repetition runs the segpy
loop and its floor (the same loop storing into, or reading from, one
preallocated C array), alternating which goes first, after one untimed
warm-up round; a row shows the median ns per element of each side and the
median of the per-repetition ratios.  Both sides return a checksum of what
they wrote or read, and the report stops if the two disagree.

Measures (and their targets)
-------------------------------
push int64, fresh   a new list on the default allocator vs a freshly mapped array
                    (both first-touch their pages inside the timed loop)   <= 2x, <= 1.5 ns
push int64, warm    a list whose segments were written before (filled, truncated to
                    0) vs an array written before                           <= 2x
push int64 variants unchecked fused push, emplace + store                   info
seed's Rust list    push ns / 4 ns (40 us per 10k pushes)                   info
push records 40 B   seglist_emplace + struct store vs an array of the struct,
                    same bytes as the int64 measure, fresh and warm        <= 2x
                    (seglist_push_bytes: size check + memcpy, info)
random get          sum of m gets at one precomputed random index sequence,
                    the typed get seglist_get_value_unchecked vs array[i] of the
                    same int64_t in the same scalar loop, at three list sizes <= 1.5x
                    (the pointer gets seglist_at_unchecked, whose multiply by the
                    run-time itemsize is one more instruction, and seglist_at,
                    NULL-checked: info; and the typed get against the array loop
                    as the compiler makes it, which gcc vectorises: info).
                    The index sequence is min(m, max(n, 64K)) long, swept
                    until m gets are done, so the 32 KiB list's gets are
                    measured rather than the bandwidth of streaming 32 MiB of
                    indices.
                    Each repetition builds the list and its array once, then
                    times 6 rounds (after a warm-up round) of one warm pass
                    each, alternating which side goes first, in thread CPU
                    time; ratios are taken over two rounds of opposite order

Every row shows the median ratio and, in brackets, the lowest and highest
of the ratios it is the median of.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
from functools import partial

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# report.py sets the BLAS thread count and drops the source tree from sys.path
# on import, before numpy and segpy are imported: keep this order.
# isort: off
import report  # noqa: F401

import numpy as np

import segpy
from segpy import _bench_capi as B
# isort: on

SEED = 20240601
RUST_NS_PER_PUSH = 4.0   # the seed's Rust list: about 40 us per 10k pushes


def interleaved(seg, ref, repeat: int, warmup: int = 1):
    """Run ``seg()`` and ``ref()`` alternately; each returns (ns, checksum).

    Returns the two ns sample lists; raises if a checksum pair disagrees.
    """
    s, f = [], []
    for r in range(-warmup, repeat):
        out = {}
        order = [("seg", seg), ("ref", ref)] if r % 2 == 0 else [("ref", ref), ("seg", seg)]
        for key, fn in order:
            gc.collect()
            out[key] = fn()
        if out["seg"][1] != out["ref"][1]:
            raise RuntimeError(f"checksums differ: segpy {out['seg'][1]}, floor {out['ref'][1]}")
        if r >= 0:
            s.append(out["seg"][0])
            f.append(out["ref"][0])
    return s, f


def row(measure, s, f, per, target=None, abs_target=None):
    """A result row: medians in ns per element and the median paired ratio."""
    ratios = [a / b for a, b in zip(s, f)]
    ratio = statistics.median(ratios)
    seg_ns = statistics.median(s) / per
    status = "info"
    checks = []
    if target is not None:
        checks.append(ratio <= target)
    if abs_target is not None:
        checks.append(seg_ns <= abs_target)
    if checks:
        status = "PASS" if all(checks) else "FAIL"
    return {
        "measure": measure,
        "segpy_ns": seg_ns,
        "floor_ns": statistics.median(f) / per,
        "ratio": ratio,
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "target": target,
        "abs_target_ns": abs_target,
        "status": status,
        "samples": len(s),
    }


def push_rows(n, repeat):
    alloc = segpy.get_allocator()
    rows = []
    for warm in (False, True):
        tag = "warm" if warm else "fresh"
        s, f = interleaved(partial(B.push_int64, alloc, n, "checked", warm),
                           partial(B.floor_int64, n, warm), repeat)
        rows.append(row(f"push int64, {tag} (checked fused push)", s, f, n, 2.0,
                        1.5 if not warm else None))
        if not warm:
            fresh = rows[-1]
        for variant in ("unchecked", "emplace"):
            s, f = interleaved(partial(B.push_int64, alloc, n, variant, warm),
                               partial(B.floor_int64, n, warm), repeat)
            rows.append(row(f"push int64, {tag} ({variant})", s, f, n))
    rust = {
        "measure": "push int64, fresh, vs the seed's Rust list (4 ns)",
        "segpy_ns": fresh["segpy_ns"], "floor_ns": RUST_NS_PER_PUSH,
        "ratio": fresh["segpy_ns"] / RUST_NS_PER_PUSH,
        "ratio_min": None, "ratio_max": None, "target": None,
        "abs_target_ns": None, "status": "info", "samples": fresh["samples"],
        "baseline": "Rust list",
    }
    rows.append(rust)
    return rows


def record_rows(n, repeat):
    alloc = segpy.get_allocator()
    rows = []
    for warm in (False, True):
        tag = "warm" if warm else "fresh"
        for variant, target in (("emplace", 2.0), ("push_bytes", None)):
            s, f = interleaved(partial(B.push_records, alloc, n, variant, warm),
                               partial(B.floor_records, n, warm), repeat)
            rows.append(row(f"push 40 B records, {tag} ({variant})", s, f, n, target))
    return rows


def get_rows(sizes, m, repeat, rounds=6):
    """Random gets: ``repeat`` builds of a list and its floor array, each measured
    over ``rounds`` paired passes after one untimed warm-up round.

    Rounds alternate which side goes first, and on a list near the cache
    size the side timed second is slower (the first evicted part of it), so
    the ratio is taken per two consecutive rounds (one of each order): the
    list's two times over the floor's two.  The row's ratio is the median of
    those order-balanced ratios.  The index sequence for a list of ``n`` is
    ``min(m, max(n, 64K))`` long (one index per element, and a short one
    for a small list, which stays in cache) and a pass sweeps it
    ``m // len`` times.
    """
    alloc = segpy.get_allocator()
    rows = []
    rng = np.random.default_rng(SEED)
    for n in sizes:
        k = min(m, max(n, 1 << 16))
        idx = rng.integers(0, n, k, dtype=np.int64)
        sweeps = m // k
        per = 2 * k * sweeps
        for get, what, target in (("typed", "seglist_get_value_unchecked", 1.5),
                                  ("pointer", "seglist_at_unchecked", None),
                                  ("checked", "seglist_at", None)):
            s, f, c = [], [], []
            for _ in range(repeat):
                gc.collect()
                ls, fs, cs, _sum = B.random_get(alloc, n, idx, get, rounds + 1, sweeps)
                ls, fs, cs = ls[1:], fs[1:], cs[1:]
                s += [ls[j] + ls[j + 1] for j in range(0, rounds - 1, 2)]
                f += [fs[j] + fs[j + 1] for j in range(0, rounds - 1, 2)]
                c += [cs[j] + cs[j + 1] for j in range(0, rounds - 1, 2)]
            rows.append(row(f"random get, {n * 8 >> 10} KiB list ({what})", s, f, per, target))
            if get == "typed":
                typed_s, compiled_f = s, c
        rows.append(row(f"random get, {n * 8 >> 10} KiB list (typed) vs the array loop "
                        "as compiled", typed_s, compiled_f, per))
    return rows


def fmt_target(r):
    parts = []
    if r["target"] is not None:
        parts.append(f"<= {r['target']:g}x")
    if r["abs_target_ns"] is not None:
        parts.append(f"<= {r['abs_target_ns']:g} ns")
    return ", ".join(parts)


def print_table(rows, header):
    print(header)
    print()
    w = max(len(r["measure"]) for r in rows)
    print(f"{'measure':<{w}}  {'segpy ns':>9} {'floor ns':>9} {'ratio':>7} {'[min..max]':>14} "
          f"{'target':>17}  status")
    print("-" * (w + 71))
    for r in rows:
        note = f"  (baseline: {r['baseline']})" if "baseline" in r else ""
        spread = (f"[{r['ratio_min']:.2f}..{r['ratio_max']:.2f}]"
                  if r["ratio_min"] is not None else "")
        print(f"{r['measure']:<{w}}  {r['segpy_ns']:>9.3f} {r['floor_ns']:>9.3f} "
              f"{r['ratio']:>7.3f} {spread:>14} {fmt_target(r):>17}  {r['status']}{note}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="8M elements instead of 64M, 1M random gets instead of 4M, and 3 "
                    "repetitions of the push measures (well under a minute)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON instead")
    ap.add_argument("--n", type=int, default=None, help="int64 elements per push measure")
    ap.add_argument("--repeat", type=int, default=None, help="repetitions per measure")
    args = ap.parse_args(argv)
    n = args.n or ((8 if args.quick else 64) << 20)
    repeat = args.repeat or (3 if args.quick else 7)
    # The get rows are cheap, and their ratios at 8 MiB spread widely
    # over 3 repetitions on a busy machine: they keep 7 under --quick.
    get_repeat = args.repeat or 7
    n_rec = n * 8 // 40           # the same bytes as the int64 measure
    m = 1 << (20 if args.quick else 22)
    sizes = [1 << 12, 1 << 20, 1 << 24]

    rows = push_rows(n, repeat) + record_rows(n_rec, repeat) + get_rows(sizes, m, get_repeat)
    header = (f"segpy {segpy.__version__} C-level API report: {n:,} int64 / {n_rec:,} records "
              f"per push measure, {m:,} random gets, repeat={repeat} ({get_repeat} for the gets), "
              "default allocator "
              f"{segpy.get_allocator().name}, {platform.python_implementation()} "
              f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} cpus; "
              "ns per element (medians), ratio = median of per-repetition segpy/floor")
    if args.json:
        json.dump({"header": header, "rows": rows}, sys.stdout, indent=1)
        print()
    else:
        print_table(rows, header)
    return 1 if any(r["status"] == "FAIL" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
