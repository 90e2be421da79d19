#!/usr/bin/env python3
"""segpy's report command: the performance targets, side by side, in one run.

    python benchmarks/report.py [--n N] [--repeat R] [--quick] [--json PATH]

Run it from outside the repository root (or with ``python -P``) so that the
source ``segpy/`` directory, which holds no compiled modules, does not shadow
the installed package.

Every contender of a measure runs inside each repetition, one after the other
(the order alternates between repetitions), so a noisy shared machine slows
them alike.  Each repetition yields one ratio per (segpy, baseline) pair; the
table shows the medians of the times and the median of the paired ratios.
One untimed warm-up round comes first: the first use of a fresh 80 MB block in
a process costs page faults that later rounds do not pay.

Peak RSS is measured in a fresh interpreter per contender: the high-water mark
(VmHWM, reset through /proc/self/clear_refs; ru_maxrss where that is not
possible) minus the RSS just before the container is built, divided by the
payload (8 bytes per int64).
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

# One BLAS thread: numpy's OpenBLAS workers otherwise spin on a 2-core box
# (no benchmark here calls BLAS).  Must be set before numpy is imported.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

# Keep the source tree's segpy/ (no compiled modules) off sys.path: with
# `python benchmarks/report.py` run from the repo root, sys.path[0] is this
# directory (harmless), but '' or the repo root may be there too.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != REPO]
sys.path.insert(0, HERE)

import numpy as np

import segpy

from benchmarks import common
from benchmarks.common import (
    DTYPE,
    TYPECODE,
    NumpyDoubling,
    append_loop,
    append_peak_rss,
    byte_views,
    make_chunks,
    random_indices,
)

# --------------------------------------------------------------------------
# timing helpers

def timed(fn):
    """Run ``fn()`` once with the cyclic GC off; return (seconds, result)."""
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        out = fn()
        t1 = time.perf_counter()
    finally:
        gc.enable()
    return t1 - t0, out


def run_group(contenders: dict, repeat: int, warmup: int = 1) -> dict:
    """Time every contender ``repeat`` times, interleaved; results freed untimed."""
    names = list(contenders)
    samples = {k: [] for k in names}
    for r in range(-warmup, repeat):
        order = names if r % 2 == 0 else names[::-1]
        for k in order:
            dt, out = timed(contenders[k])
            del out  # freeing a 10M-element container happens outside the timing
            if r >= 0:
                samples[k].append(dt)
    return samples


def paired_ratio(samples, num, den):
    return statistics.median(a / b for a, b in zip(samples[num], samples[den]))


# --------------------------------------------------------------------------
# the measures

def measure_append(n, repeat, with_info):
    def seg():
        return append_loop(segpy.SegmentedList(DTYPE), n)

    def lst():
        return append_loop([], n)

    def arr():
        return append_loop(array.array(TYPECODE), n)

    def npd():
        return append_loop(NumpyDoubling(DTYPE), n)

    c = {"segpy": seg, "list": lst, "array": arr}
    if with_info:
        c["numpy_doubling"] = npd
    return run_group(c, repeat)


def measure_extend(n, chunk, repeat, with_info):
    chunks = make_chunks(n, chunk)
    bchunks = byte_views(chunks)

    def seg():
        lst = segpy.SegmentedList(DTYPE)
        ext = lst.extend
        for ch in chunks:
            ext(ch)
        return lst

    def frombytes():
        a = array.array(TYPECODE)
        fb = a.frombytes
        for ch in bchunks:
            fb(ch)
        return a

    def concat():
        return np.concatenate(chunks)

    def npd():
        d = NumpyDoubling(DTYPE)
        for ch in chunks:
            d.extend(ch)
        return d

    def list_extend():
        out = []
        for ch in chunks:
            out.extend(ch)
        return out

    c = {"segpy": seg, "array.frombytes": frombytes, "np.concatenate": concat}
    if with_info:
        c["numpy_doubling"] = npd
        c["list.extend"] = list_extend
    s = run_group(c, repeat)
    # sanity: same contents
    assert np.array_equal(seg().to_numpy(), concat())
    return s


def measure_to_numpy(seg_list, ref, arr, repeat):
    c = {
        "segpy": seg_list.to_numpy,
        "ndarray.copy": ref.copy,
        "np.frombuffer(array).copy": lambda: np.frombuffer(arr, dtype=DTYPE).copy(),
    }
    return run_group(c, repeat)


def measure_getitem(seg_list, arr, idx, repeat):
    def seg():
        lst = seg_list
        for i in idx:
            lst[i]

    def a():
        lst = arr
        for i in idx:
            lst[i]

    return run_group({"segpy": seg, "array": a}, repeat)


def measure_iter(seg_list, arr, repeat):
    def seg():
        for _x in seg_list:
            pass

    def a():
        for _x in arr:
            pass

    return run_group({"segpy": seg, "array": a}, repeat)


# --------------------------------------------------------------------------
# report

def fmt_t(s):
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} us"


def machine_info():
    info = {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "numpy": np.__version__,
        "segpy": getattr(segpy, "__version__", "?"),
        "segpy_path": os.path.dirname(segpy.__file__),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "libc": " ".join(platform.libc_ver()),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            info["mem_total"] = f.readline().split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            info["thp"] = f.read().strip()
    except OSError:
        pass
    try:
        info["loadavg"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        pass
    return info


# The cells of a result row, in order; a row may carry a seventh, a note.
COLUMNS = ("measure", "segpy", "baseline", "ratio", "target", "result", "note")


def json_rows(rows):
    """The result rows as dicts keyed by COLUMNS, for the --json output."""
    return [dict(zip(COLUMNS, r)) for r in rows]


def print_table(rows):
    """Print the result table (the first six cells of each row: measure,
    segpy, baseline, ratio, target, result); return the counts of targeted
    rows, failed rows and 'n/a' rows."""
    headers = COLUMNS[:6]
    table = [r[:6] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(headers)]
    right = {1, 2, 3}

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for r in table:
        print(line(r))
    results = [r[5] for r in rows]
    n_t = sum(1 for x in results if x in ("PASS", "FAIL"))
    return n_t, results.count("FAIL"), results.count("n/a")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=None,
                    help="int64 elements (default 10_000_000; 2_000_000 with --quick)")
    ap.add_argument("--repeat", type=int, default=None,
                    help="timed repetitions per measure (default 9; 5 with --quick)")
    ap.add_argument("--chunk", type=int, default=common.CHUNK,
                    help="ndarray chunk length for extend (default %(default)s)")
    ap.add_argument("--reads", type=int, default=None,
                    help="random lst[i] reads per repetition (default min(n, 1_000_000))")
    ap.add_argument("--rss-n", type=int, default=None,
                    help="elements appended in the peak-RSS subprocesses "
                         "(default: 10_000_000, whatever --n is, so the ratio "
                         "is not dominated by 2 MiB huge-page granularity)")
    ap.add_argument("--quick", action="store_true",
                    help="smaller N and fewer repetitions (under a minute)")
    ap.add_argument("--no-info", action="store_true",
                    help="skip the informational (untargeted) contenders")
    ap.add_argument("--json", metavar="PATH", help="also save all samples as JSON")
    args = ap.parse_args(argv)

    n = args.n if args.n is not None else (2_000_000 if args.quick else 10_000_000)
    repeat = args.repeat if args.repeat is not None else (5 if args.quick else 9)
    reads = args.reads if args.reads is not None else min(n, 1_000_000)
    rss_n = args.rss_n if args.rss_n is not None else 10_000_000
    with_info = not args.no_info and not args.quick

    info = machine_info()
    print("segpy report")
    for k, v in info.items():
        print(f"  {k:15s} {v}")
    print(f"  N = {n:,} int64 ({n * 8 / 1e6:.0f} MB payload), chunk = {args.chunk:,}, "
          f"reads = {reads:,}, repeat = {repeat} (+1 warm-up), RSS N = {rss_n:,}")
    print(flush=True)

    t_start = time.perf_counter()
    rows = []   # (measure, segpy, baseline, ratio, target, verdict, note)
    raw = {}

    def add(measure, samples, base, target, seg="segpy", note=""):
        s = statistics.median(samples[seg])
        b = statistics.median(samples[base])
        ratio = paired_ratio(samples, seg, base)
        verdict = "" if target is None else ("PASS" if ratio <= target else "FAIL")
        rows.append((measure, fmt_t(s), fmt_t(b), f"{ratio:.2f}",
                     "-" if target is None else f"<= {target:g}", verdict or "info", note))

    def progress(what):
        print(f"  [{time.perf_counter() - t_start:6.1f} s] {what}", file=sys.stderr, flush=True)

    progress("append")
    s = raw["append"] = measure_append(n, repeat, with_info)
    add("append: ap(x) loop vs list.append", s, "list", 1.1)
    add("append: ap(x) loop vs array.append", s, "array", 0.6)
    if with_info:
        add("append: ap(x) loop vs numpy doubling", s, "numpy_doubling", None)

    progress("extend")
    s = raw["extend"] = measure_extend(n, args.chunk, repeat, with_info)
    add(f"extend({args.chunk:,}-elt chunks) vs array.frombytes", s, "array.frombytes", 1.0)
    add("extend(chunks) vs one np.concatenate", s, "np.concatenate", 1.5)
    if with_info:
        add("extend(chunks) vs numpy doubling extend", s, "numpy_doubling", None)
        add("extend(chunks) vs list.extend(ndarray)", s, "list.extend", None)

    # Filled containers for the read-side measures, built once.
    ref = np.arange(n, dtype=DTYPE)
    seg_list = segpy.SegmentedList(DTYPE)
    seg_list.extend(ref)
    arr = array.array(TYPECODE)
    arr.frombytes(ref.view(np.uint8))

    progress("to_numpy")
    s = raw["to_numpy"] = measure_to_numpy(seg_list, ref, arr, repeat)
    add("to_numpy() vs ndarray.copy()", s, "ndarray.copy", 1.2)
    add("to_numpy() vs np.frombuffer(array).copy()", s, "np.frombuffer(array).copy", None)

    progress("getitem")
    idx = random_indices(n, reads)
    s = raw["getitem"] = measure_getitem(seg_list, arr, idx, repeat)
    add(f"lst[i], {reads:,} random int indices vs array[i]", s, "array", 1.0)
    del idx

    progress("iteration")
    s = raw["iter"] = measure_iter(seg_list, arr, repeat)
    add("for x in lst vs for x in array", s, "array", 1.0)
    del seg_list, arr, ref
    gc.collect()

    progress("peak RSS (fresh subprocesses)")
    rss = {}
    for impl in ["segpy", "array", "numpy_doubling"] + (["list"] if with_info else []):
        rss[impl] = append_peak_rss(impl, rss_n)
    raw["peak_rss"] = rss
    payload_mb = rss_n * 8 / 1e6

    def rss_row(impl, target, label):
        r = rss[impl]
        mb = r["growth_bytes"] / 1e6
        verdict = "info" if target is None else ("PASS" if r["ratio"] <= target else "FAIL")
        rows.append((f"peak RSS, append {rss_n / 1e6:g}M: {label}", f"{mb:.1f} MB",
                     f"{payload_mb:.0f} MB", f"{r['ratio']:.3f}",
                     "-" if target is None else f"<= {target:g}", verdict,
                     f"payload = {payload_mb:.0f} MB; {r['method']}"))

    rss_row("segpy", 1.10, "segpy / payload")
    rss_row("array", None, "array.array / payload")
    rss_row("numpy_doubling", None, "numpy doubling / payload")
    if "list" in rss:
        rss_row("list", None, "list of int / payload")

    elapsed = time.perf_counter() - t_start

    n_t, n_f, _ = print_table(rows)
    print()
    print(f"{n_t - n_f}/{n_t} targets met.  Times are medians over {repeat} interleaved "
          f"repetitions; ratio = median of the per-repetition segpy/baseline ratios "
          f"(peak RSS: growth over the payload).  Elapsed {elapsed:.0f} s.")

    if args.json:
        out = {
            "info": info,
            "config": {"n": n, "repeat": repeat, "chunk": args.chunk, "reads": reads,
                       "rss_n": rss_n, "quick": args.quick},
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
