#!/usr/bin/env python3
"""segpy's allocator report: segpy's allocators against glibc malloc/free, in one run.

    python -P benchmarks/alloc_report.py [--quick] [--json] [--repeat R] [--n N]

Run it with ``python -P`` (or from outside the repository) so that the source
``segpy/`` directory, which holds no compiled modules, does not shadow the
installed package.

The allocator loops are C loops in :mod:`segpy._bench`: each allocator is
driven through segpy's C seam (``Allocator.iface``), and glibc through the
same loop calling ``malloc``/``free`` directly.  Each repetition runs segpy's
allocator and then glibc (the order alternates between repetitions), and one
untimed warm-up round comes first; the table shows the median ns/op of each
side and the median of the per-repetition ratios (segpy / glibc).

Allocators not built yet (``segpy.heap.Heap``, ``segpy.bump.BumpAllocator``)
are skipped with a note.  ``SystemAllocator`` is measured too, for
information: it is libc underneath, so its ratio shows the seam's own cost.

Measures
--------
requests          n requests of 16 B, no release between (released afterwards, untimed)
lifo_pairs        n request+release pairs, sizes cycling 16..256 B
realloc 16 / 64   n requests after n blocks were freed in random order  (Heap <= 0.5x)
random_free 64    n releases in random order                            (Heap <= 1.0x)
bump reset/destroy  BumpAllocator.reset() and destruction after k requests, with the
                  same bytes (about the same block count) vs a fixed 64 B size (more
                  blocks as k grows): the cost should follow blocks, not requests
extend            default allocator: extend a NEW list by 1M-element int64 chunks up to
                  10M, vs array.array('q').frombytes of the same chunks  (<= 0.8x)
"""

from __future__ import annotations

import argparse
import array
import gc
import json
import os
import platform
import statistics
import sys
import time
import warnings
from functools import partial

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# report.py sets the BLAS thread count and drops the source tree from sys.path
# on import, before numpy and segpy are imported: keep this order.
# isort: off
import report  # noqa: F401

import numpy as np

import segpy
from segpy import _bench
# isort: on

SEED = 20240601
SIZES = np.arange(16, 257, 16)


def optional(module: str, name: str):
    """``module.name`` or None: the placeholder modules exist but may be empty."""
    try:
        mod = __import__(module, fromlist=[name])
    except ImportError:
        return None
    return getattr(mod, name, None)


Heap = optional("segpy.heap", "Heap")
BumpAllocator = optional("segpy.bump", "BumpAllocator")


# --------------------------------------------------------------------------
# timing

def interleaved(seg, ref, repeat: int, warmup: int = 1):
    """Run ``seg()`` and ``ref()`` alternately; each returns ns.  Return the two sample lists."""
    s, g = [], []
    for r in range(-warmup, repeat):
        pair = [(seg, s), (ref, g)] if r % 2 == 0 else [(ref, g), (seg, s)]
        for fn, out in pair:
            gc.collect()
            ns = fn()
            if r >= 0:
                out.append(ns)
    return s, g


def row(measure, alloc_name, s, g, per, target=None):
    """A result row: medians in ns/op (``per`` ops per sample) and the median paired ratio."""
    ratio = statistics.median(a / b for a, b in zip(s, g))
    if target is None:
        status = "info"
    else:
        status = "PASS" if ratio <= target else "FAIL"
    return {
        "measure": measure,
        "allocator": alloc_name,
        "segpy_ns": statistics.median(s) / per,
        "glibc_ns": statistics.median(g) / per,
        "ratio": ratio,
        "target": target,
        "status": status,
        "samples": len(s),
    }


# --------------------------------------------------------------------------
# the C-loop measures

def c_loop_rows(name, make, n, repeat, targets):
    """All C-loop measures for one allocator kind (``make()`` builds a fresh one)."""
    a = make()
    is_bump = BumpAllocator is not None and isinstance(a, BumpAllocator)
    perm = np.random.default_rng(SEED).permutation(n)
    rows = []

    if is_bump:
        # Every request comes from one retained block: the arena is made with
        # a first block that holds all n, and reset() (untimed; the blocks
        # were released) rewinds it between repetitions.
        a = BumpAllocator(first_block=segpy_round_up(16 * n + 4096))

        def seg_req():
            ns = _bench.requests(a, 16, n)
            a.reset()
            return ns

        def seg_inline():
            ns = _bench.bump_requests_inline(a, 16, n)
            a.reset()
            return ns
    else:
        def seg_req():
            return _bench.requests(a, 16, n)
    s, g = interleaved(seg_req, lambda: _bench.requests(None, 16, n), repeat)
    rows.append(row("requests 16 B", name, s, g, n, targets.get("requests")))
    if is_bump:
        s, g = interleaved(seg_inline, lambda: _bench.requests(None, 16, n), repeat)
        rows.append(row("requests 16 B, cimported fast path", name, s, g, n, None))
        for r in rows:
            # The arena's target is absolute: one request from a retained
            # block costs at most 4 ns (loop body included).
            r["target"] = "<= 4 ns"
            r["status"] = "PASS" if r["segpy_ns"] <= 4.0 else "FAIL"

    s, g = interleaved(lambda: _bench.lifo_pairs(a, SIZES, n),
                       lambda: _bench.lifo_pairs(None, SIZES, n), repeat)
    rows.append(row("lifo_pairs 16..256 B", name, s, g, n, targets.get("lifo")))

    if is_bump:
        # A bump arena does not reuse freed blocks: these measures do not apply.
        return rows
    for size in (16, 64):
        s, g = interleaved(partial(_bench.realloc_after_random_free, a, size, n, perm),
                           partial(_bench.realloc_after_random_free, None, size, n, perm),
                           repeat)
        rows.append(row(f"realloc after random free {size} B", name, s, g, n,
                        targets.get("realloc")))
    s, g = interleaved(lambda: _bench.random_free(a, 64, n, perm),
                       lambda: _bench.random_free(None, 64, n, perm), repeat)
    rows.append(row("random_free 64 B", name, s, g, n, targets.get("random_free")))
    return rows


def segpy_round_up(nbytes, to=1 << 21):
    """``nbytes`` rounded up to a multiple of ``to`` (a power of two)."""
    return (nbytes + to - 1) & ~(to - 1)


def bump_reset_rows(ks, total_bytes, small_size, repeat):
    """Time reset() and destruction of a BumpAllocator after k requests.

    Two series: ``same bytes`` keeps k * size = total_bytes (so roughly the
    same number of arena blocks whatever k is), ``fixed size`` uses
    ``small_size`` bytes per request (blocks grow with k).  If the cost
    follows blocks, the first series stays flat while k grows 1000x.
    """
    out = []
    for series in ("same bytes", "fixed size"):
        for k in ks:
            size = max(16, (total_bytes // k) & ~15) if series == "same bytes" else small_size
            reset_ns, destroy_ns, regions = [], [], []
            for _ in range(repeat):
                b = BumpAllocator()
                # reset() refuses while allocations are live: request k blocks
                # and release them (untimed), leaving the k-request block chain.
                _bench.requests(b, size, k)
                regions.append(b.stats["n_regions"])
                gc.collect()
                t0 = time.perf_counter_ns()
                b.reset()
                reset_ns.append(time.perf_counter_ns() - t0)
                _bench.request_only(b, size, k)
                gc.collect()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t0 = time.perf_counter_ns()
                    del b  # the last reference: __dealloc__ runs here
                    destroy_ns.append(time.perf_counter_ns() - t0)
            out.append({
                "measure": f"bump {series} k={k:g} ({size} B)",
                "allocator": "bump",
                "k": k,
                "size": size,
                "n_regions": statistics.median(regions),
                "reset_ns": statistics.median(reset_ns),
                "destroy_ns": statistics.median(destroy_ns),
                "status": "info",
            })
    return out


# --------------------------------------------------------------------------
# extend into a new list vs array.frombytes (Python level, default allocator)

def extend_row(n, chunk, repeat):
    chunks = [np.arange(s, min(s + chunk, n), dtype=np.int64) for s in range(0, n, chunk)]
    bchunks = [c.view(np.uint8) for c in chunks]  # frombytes refuses itemsize != 1

    def seg():
        gc.disable()
        try:
            t0 = time.perf_counter_ns()
            lst = segpy.SegmentedList(np.int64)
            ext = lst.extend
            for c in chunks:
                ext(c)
            dt = time.perf_counter_ns() - t0
        finally:
            gc.enable()
        del lst  # freed outside the timing
        return dt

    def frombytes():
        gc.disable()
        try:
            t0 = time.perf_counter_ns()
            a = array.array("q")
            fb = a.frombytes
            for c in bchunks:
                fb(c)
            dt = time.perf_counter_ns() - t0
        finally:
            gc.enable()
        del a
        return dt

    s, g = interleaved(seg, frombytes, repeat)
    r = row(f"extend {n // 10**6}M in {chunk // 10**6}M chunks, new list", segpy.get_allocator().name,
            s, g, n, 0.8)
    r["baseline"] = "array.frombytes"
    return r


# --------------------------------------------------------------------------
# report

def fmt_target(t):
    if t is None:
        return ""
    return t if isinstance(t, str) else f"<= {t:g}x"


def print_table(rows, notes, header):
    print(header)
    print()
    w = max(len(r["measure"]) for r in rows) if rows else 10
    print(f"{'measure':<{w}}  {'allocator':<9} {'segpy ns/op':>12} {'glibc ns/op':>12} "
          f"{'ratio':>7} {'target':>8}  status")
    print("-" * (w + 66))
    for r in rows:
        if "reset_ns" in r:
            continue
        base = r.get("baseline", "glibc")
        note = "" if base == "glibc" else f"  (baseline: {base})"
        print(f"{r['measure']:<{w}}  {r['allocator']:<9} {r['segpy_ns']:>12.2f} "
              f"{r['glibc_ns']:>12.2f} {r['ratio']:>7.3f} {fmt_target(r['target']):>8}  "
              f"{r['status']}{note}")
    bump = [r for r in rows if "reset_ns" in r]
    if bump:
        print()
        print("BumpAllocator reset / destroy (cost should follow blocks, not requests):")
        print(f"{'measure':<36} {'regions':>8} {'reset us':>10} {'destroy us':>11}")
        for r in bump:
            print(f"{r['measure']:<36} {r['n_regions']:>8g} {r['reset_ns'] / 1e3:>10.1f} "
                  f"{r['destroy_ns'] / 1e3:>11.1f}")
    for note in notes:
        print(f"note: {note}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="fewer repetitions and smaller info-only measures (< 1 minute)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON instead")
    ap.add_argument("--n", type=int, default=1_000_000, help="blocks per C-loop measure")
    ap.add_argument("--repeat", type=int, default=None, help="repetitions per measure")
    args = ap.parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 9)
    n = args.n

    notes = []
    kinds = [("system", segpy.SystemAllocator, {})]
    if Heap is not None:
        kinds.insert(0, ("heap", Heap, {"lifo": 1.0, "realloc": 0.5, "random_free": 1.0}))
    else:
        notes.append("segpy.heap.Heap is not built yet: heap measures skipped")
    if BumpAllocator is not None:
        kinds.insert(0, ("bump", BumpAllocator, {}))   # the 4 ns target is checked below
    else:
        notes.append("segpy.bump.BumpAllocator is not built yet: bump measures skipped")

    rows = []
    for name, make, targets in list(kinds):
        try:
            make()  # a constructor that needs arguments we do not know: skip, say why
        except Exception as exc:  # noqa: BLE001
            notes.append(f"{name}: cannot construct {make.__name__}() ({exc!r}); skipped")
            kinds.remove((name, make, targets))
            continue
        rows += c_loop_rows(name, make, n, repeat, targets)
    if BumpAllocator is not None and any(k[0] == "bump" for k in kinds):
        ks = [1_000, 100_000] if args.quick else [1_000, 100_000, 1_000_000]
        rows += bump_reset_rows(ks, 64 << 20, 64, max(1, repeat // 2 if args.quick else repeat))
    rows.append(extend_row(10_000_000, 1_000_000, repeat))

    header = (f"segpy {segpy.__version__} allocator report: n={n:,}, repeat={repeat}, "
              f"{platform.python_implementation()} {platform.python_version()}, "
              f"numpy {np.__version__}, {platform.machine()}, {os.cpu_count()} cpus; "
              "ns/op medians, ratio = median of per-repetition segpy/glibc")
    if args.json:
        json.dump({"header": header, "notes": notes, "rows": rows}, sys.stdout, indent=1)
        print()
    else:
        print_table(rows, notes, header)
    return 1 if any(r["status"] == "FAIL" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
