#!/usr/bin/env python3
"""segpy's Arrow interchange report: the zero-copy export, side by side, in one run.

    python benchmarks/interop_report.py [--n N ...] [--repeat R] [--quick] [--json PATH]

Run it from outside the repository root (or with ``python -P``), as report.py,
whose timing and table helpers it reuses: every contender of a measure runs
inside each repetition (order alternating), one untimed warm-up round comes
first, and the ratio is the median of the per-repetition ratios.  The export
itself takes microseconds, so each of its samples times ``--calls`` calls and
is reported per call.  Each time
cell is the median [min-max] over the repetitions.  The exit status is 1 if a
target fails.  pyarrow, polars and DuckDB are needed (a measure whose library
is missing prints 'n/a').

Targets: ``pa.chunked_array(lst)`` costs at most 1% of ``lst.to_numpy()`` at
10M elements (smaller N are shown, not judged) and does not grow with N (it is per segment, not per element); a DuckDB
``SELECT sum(value)`` over the list is within 1.5x of the same query, in the
same engine, over a pyarrow table of the same values in one numpy buffer.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
from pathlib import Path

# report.py sets the BLAS thread count and drops the source tree from sys.path
# when imported, so it comes before numpy and segpy.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import report  # noqa: I001

import numpy as np

import segpy

fmt_t = report.fmt_t
run_group = report.run_group


def optional(name):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def fmt_range(samples):
    """median [min-max] of a list of seconds."""
    return f"{fmt_t(statistics.median(samples))} [{fmt_t(min(samples))}-{fmt_t(max(samples))}]"


def segment_addresses(lst):
    return [v.__array_interface__["data"][0] for v in lst.segments()]


def per_call(fn, calls):
    """A contender that makes ``calls`` calls of ``fn``; the samples of
    run_group are then divided by ``calls``.  A call of a few microseconds
    timed alone measures the cache misses that the untimed gc.collect()
    before each sample causes, not the call."""
    def run():
        for _ in range(calls):
            out = fn()
        return out
    return run


def measure_pyarrow(pa, lst, repeat, calls):
    s = run_group({"segpy": per_call(lambda: pa.chunked_array(lst), calls),
                   "to_numpy": lst.to_numpy}, repeat)
    s["segpy"] = [t / calls for t in s["segpy"]]
    return s


def measure_polars(pa, pl, lst, repeat):
    c = {
        "pl.Series(lst)": lambda: pl.Series(lst),
        "pl.from_arrow(chunked, rechunk=False)":
            lambda: pl.from_arrow(pa.chunked_array(lst), rechunk=False),
        "to_numpy": lst.to_numpy,
    }
    return run_group(c, repeat)


def polars_is_zero_copy(pa, pl, na, lst):
    """(pl.Series(lst) keeps the segments, from_arrow(rechunk=False) does)."""
    if na is None:
        return None, None
    seg = segment_addresses(lst)

    def addresses(series):
        return [a.buffers[1] for a in na.c_array_stream(series)]

    return (addresses(pl.Series(lst)) == seg,
            addresses(pl.from_arrow(pa.chunked_array(lst), rechunk=False)) == seg)


def measure_duckdb(pa, duckdb, lst, ref, repeat):
    con = duckdb.connect()
    con.register("numpy_tbl", pa.table({"value": ref}))     # one buffer, zero-copy
    want = int(ref.sum())

    def over_list():
        scan = lst  # noqa: F841 - DuckDB's replacement scan reads the local
        return con.sql("select sum(value) from scan").fetchall()

    def over_numpy():
        return con.sql("select sum(value) from numpy_tbl").fetchall()

    assert over_list() == over_numpy() == [(want,)]
    s = run_group({"segpy": over_list, "numpy": over_numpy}, repeat)
    con.close()
    return s


OPTIONS = [
    ("--n", dict(type=int, nargs="+", default=None,
                 help="int64 elements (default 1_000_000 10_000_000; "
                      "1_000_000 2_000_000 with --quick)")),
    ("--repeat", dict(type=int, default=None,
                      help="timed repetitions per measure (default 15; 5 with --quick)")),
    ("--calls", dict(type=int, default=1000,
                     help="pa.chunked_array calls per timed sample (default %(default)s); "
                          "its time is per call")),
    ("--quick", dict(action="store_true", help="smaller N, fewer repetitions")),
    ("--json", dict(metavar="PATH", help="also save all samples as JSON")),
]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for flag, kw in OPTIONS:
        ap.add_argument(flag, **kw)
    args = ap.parse_args(argv)

    sizes = args.n or ([1_000_000, 2_000_000] if args.quick else [1_000_000, 10_000_000])
    repeat = args.repeat if args.repeat is not None else (5 if args.quick else 15)
    pa, pl, duckdb, na = (optional(m) for m in ("pyarrow", "polars", "duckdb", "nanoarrow"))

    info = report.machine_info()
    for name, mod in [("pyarrow", pa), ("polars", pl), ("duckdb", duckdb), ("nanoarrow", na)]:
        info[name] = getattr(mod, "__version__", "?") if mod is not None else "missing"
    print("segpy Arrow interchange report")
    for k, v in info.items():
        print(f"  {k:15s} {v}")
    print(f"  N = {', '.join(f'{n:,}' for n in sizes)} int64, repeat = {repeat} (+1 warm-up)")
    print(flush=True)

    t_start = time.perf_counter()
    rows = []   # (measure, segpy, baseline, ratio, target, result)
    raw = {}
    checks = {}

    def add(measure, samples, seg, base, target):
        ratio = report.paired_ratio(samples, seg, base)
        verdict = "info" if target is None else ("PASS" if ratio <= target else "FAIL")
        rows.append((measure, fmt_range(samples[seg]), fmt_range(samples[base]),
                     f"{ratio:.4f}" if ratio < 0.1 else f"{ratio:.2f}",
                     "-" if target is None else f"<= {target:g}", verdict))

    def na_row(measure, target, why):
        rows.append((measure, "n/a", "n/a", "n/a", "-" if target is None else f"<= {target:g}",
                     "n/a"))
        raw[measure] = why

    def progress(what):
        print(f"  [{time.perf_counter() - t_start:6.1f} s] {what}", file=sys.stderr, flush=True)

    lists = {}
    for n in sizes:
        ref = np.arange(n, dtype=np.int64)
        lst = segpy.SegmentedList("q")
        lst.extend(ref)
        lists[n] = (lst, ref)

    chunked = {}
    for n, (lst, ref) in lists.items():
        label = f"pa.chunked_array(lst) {n / 1e6:g}M int64 vs lst.to_numpy()"
        if pa is None:
            na_row(label, 0.01, "pyarrow missing")
            continue
        progress(f"pyarrow {n:,}")
        ca = pa.chunked_array(lst)
        checks[f"pyarrow_zero_copy_{n}"] = (
            [c.buffers()[1].address for c in ca.chunks] == segment_addresses(lst))
        del ca
        s = raw[f"pyarrow_{n}"] = measure_pyarrow(pa, lst, repeat, args.calls)
        chunked[n] = s["segpy"]
        # The 1% is at 10M elements; at 1M, to_numpy() takes about
        # 0.5 ms, and pyarrow's fixed cost of a few microseconds is near 1%.
        add(label, s, "segpy", "to_numpy", 0.01 if n >= 10_000_000 else None)
    if len(chunked) >= 2:
        small, big = min(chunked), max(chunked)
        s = {"big": chunked[big], "small": chunked[small]}
        add(f"pa.chunked_array(lst) {big / 1e6:g}M vs {small / 1e6:g}M (constant in N)",
            s, "big", "small", 2.0)

    for n, (lst, _ref) in lists.items():
        label = f"pl.Series(lst) {n / 1e6:g}M int64 vs lst.to_numpy()"
        if pa is None or pl is None:
            na_row(label, None, "pyarrow or polars missing")
            continue
        progress(f"polars {n:,}")
        series_zc, from_arrow_zc = polars_is_zero_copy(pa, pl, na, lst)
        checks[f"polars_series_zero_copy_{n}"] = series_zc
        checks[f"polars_from_arrow_zero_copy_{n}"] = from_arrow_zc
        s = raw[f"polars_{n}"] = measure_polars(pa, pl, lst, repeat)
        add(label + f" (zero-copy: {series_zc})", s, "pl.Series(lst)", "to_numpy", None)
        add(f"pl.from_arrow(pa.chunked_array(lst), rechunk=False) {n / 1e6:g}M "
            f"(zero-copy: {from_arrow_zc})", s, "pl.from_arrow(chunked, rechunk=False)",
            "to_numpy", None)

    for n, (lst, ref) in lists.items():
        label = (f"DuckDB sum(value) {n / 1e6:g}M int64: list stream vs "
                 "pyarrow table over numpy")
        if pa is None or duckdb is None:
            na_row(label, 1.5, "pyarrow or duckdb missing")
            continue
        progress(f"duckdb {n:,}")
        s = raw[f"duckdb_{n}"] = measure_duckdb(pa, duckdb, lst, ref, repeat)
        add(label, s, "segpy", "numpy", 1.5)
    del lists
    elapsed = time.perf_counter() - t_start

    n_t, n_f, n_na = report.print_table(rows)
    print()
    for k, v in checks.items():
        print(f"  {k}: {v}")
    print(f"{n_t - n_f}/{n_t} targets met ({n_na} n/a).  Times are median [min-max] over "
          f"{repeat} interleaved repetitions; ratio = median of the per-repetition "
          f"ratios.  Elapsed {elapsed:.0f} s.")

    if args.json:
        Path(args.json).write_text(json.dumps(dict(
            info=info, config=dict(sizes=sizes, repeat=repeat, calls=args.calls,
                                   quick=args.quick),
            rows=report.json_rows(rows), checks=checks, samples=raw, elapsed_s=elapsed,
        ), indent=1))
        print(f"saved {args.json}")
    return 1 if n_f else 0


if __name__ == "__main__":
    sys.exit(main())
