#!/usr/bin/env python3
"""segpy's report: segpy against its peers across sizes, as a table and plots.

    python -P benchmarks/report.py [--quick] [--plots DIR] [--sizes 1e3,1e4,...]

Run it with ``python -P`` (or from outside the repository root) so that the
source ``segpy/`` directory, which holds no compiled modules, does not shadow
the installed package.  It needs the ``benchmarks/`` directory beside it
(``benchmarks/benchmarks/common.py`` defines the contenders, shared with the
asv suite), which is not installed with the package: that is why there is no
``segpy-report`` console script.

What is measured, for int64 at ``--sizes`` (default 10^3 ... 10^8) and for a
40-byte record dtype at ``--record-sizes`` (default 10^3 ... 10^6):

append    ``ap = c.append; for x in values: ap(x)`` into a new container
          (values: ``range(N)``, or a list of N tuples for records)
extend    a new container extended by ndarray chunks of ``--chunk`` elements
get       ``for i in idx: c[i]`` over random indices (``--reads`` of them)
iterate   ``for x in c: pass``, up to ``--iterate-max`` (default 10^7: its
          per-element cost is flat from there, and 10^8 took 16 s)
to_numpy  a new contiguous ndarray of the N elements
memory    peak RSS growth while appending N one by one, in a fresh process

The contenders: segpy; a Python ``list`` (made an ndarray by ``np.array``);
``array.array`` (int64 only: it cannot hold records, the tables say "n/a");
numpy doubling (``common.NumpyDoubling``: an ndarray whose capacity doubles
by copying; its append loop is written inline, as a user writes it); numpy
one-shot, an ndarray made once at its final size, the natural way per
measure: ``np.empty(N)`` filled by ``a[i] = x`` (append), one
``np.concatenate`` of the chunks (extend), ``ndarray.copy()`` (to_numpy).
The read measures index and iterate the ndarray itself for both numpy
contenders.  ``common.py`` has the exact code of each.  The list runs
extend, get, iterate and to_numpy up to ``--list-max`` (default 10^7; "not
run" beyond): at 10^8 its calls took 3-6 s, 10-30x the best peer's, and
14 s of the run.  Its peak-memory run (and so its append) is at every N.

How it measures, on a noisy shared machine:

* All contenders of a (measure, dtype, N) run inside every repetition, one
  after another, and their order alternates between repetitions, so a busy
  neighbour slows them alike.  Below 10^7, one untimed warm-up round comes
  first: the first use of a fresh block in a process pays page faults that
  later rounds do not (from 10^7 a call is long next to that, and the
  median drops a cold first sample).  At N >= ``--fresh-from`` (default
  10^8) there is one repetition (5 of int64 extend and to_numpy, for every
  contender but the list), and
  the append times come from the peak-memory runs: one fresh interpreter
  per contender, which times its append loop while its peak RSS is taken
  (there the container is not freed within the timing).  Before each such
  measure, twice its payload is faulted in and freed, untimed, so that the
  contender that runs first does not pay alone for the process's first use
  of that much memory.
* Below 10^7 elements, each timed sample of extend and to_numpy follows
  untimed calls of the same contender, as many as fill 3 ms
  (``PRIME_SECONDS``): without them, a sample paid for what the contender
  before it left in the caches and allocators (after the ``list``
  contender's 10^5 ints, the next one ran up to 5x slower, whichever it
  was).  One call was not enough: after the list freed 10^6 ints, the next
  two 8 MB extends of every contender were slow, and the alternating order
  put segpy after the list more often than any other contender.  A
  contender whose last call took 20 ms or more (the list's, from 10^6) is
  not primed.  For int64 these measures also take 15 repetitions there
  (9 or 5 elsewhere): they are memcpy ties between contenders.
* A sample times building a container and dropping it: freeing is part of
  a container's cost (a list frees its ints only then).  Below 10^5
  elements a sample times several such calls (10^5 elements in all), so
  that it is not shorter than the timer's noise.  The cyclic GC is off
  while timing.
* Peak RSS: after the imports (and building the values), the high-water mark
  is reset by writing ``5`` to ``/proc/self/clear_refs``; the growth of VmHWM
  over the RSS at that point, per element, is what the tables show (its
  ratio to the payload in parentheses).  Where ``clear_refs`` is not
  writable, ``ru_maxrss`` is used instead.  Record values are made as they
  are appended here, so that a list pays for its tuples as it pays for its
  ints.

How the table is computed, and why this way.  Each figure is the median over
the repetitions of one contender's time per element (ns).  The ratio beside
segpy's figure is segpy's figure divided by the best peer's figure (the
lowest), **as both are printed**, so anyone can check it with the two numbers
beside it.  An earlier version printed medians beside the median of the
per-repetition ratios; the two statistics differ whenever repetitions are
noisy, and rows contradicted themselves (a ratio below 1 beside a larger
segpy median).  The pairing that made per-repetition ratios attractive is
kept where it matters, in the interleaving: both medians come from the same
repetitions, run side by side.

Targets: at every N, segpy is no slower than the best peer on append, extend
and to_numpy; get and iterate are shown for information.  The verdict:

* PASS: the ratio is at most 1.00.
* tie: the ratio is above 1.00 but at most 1.05, and no peer was faster than
  segpy in enough of the interleaved repetitions to tell the difference from
  noise (a one-sided sign test at 5%: 5 of 5, 8 of 9, or 12 of 15).  Why
  not FAIL: the best peer is the lowest of three or four medians, and where they all run
  the same memcpy (extend and to_numpy from 10^4 up) the lowest of several
  equal, noisy figures is below the typical one, so a strict ratio called
  segpy slower in most runs of a tie.  The test compares segpy with each
  peer separately, so it has no such bias.
* FAIL: anything else, including any ratio above 1.00 with fewer than 5
  repetitions (append at 10^7, all but int64 extend and to_numpy from
  ``--fresh-from``), where the test cannot tell.

The exit status is 1 if a target fails.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import shlex
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

from benchmarks.common import (
    IMPLS,
    LABELS,
    NotApplicable,
    append_all,
    append_peak_rss,
    append_values,
    as_dtype,
    build_filled,
    byte_views,
    check_applicable,
    extend_all,
    get_loop,
    iterate,
    random_indices,
    readable,
    sample_array,
    to_numpy,
)

MEASURES = ("append", "extend", "get", "iterate", "to_numpy", "memory")
#: Measures with a target: segpy <= the best peer.
TARGETED = ("append", "extend", "to_numpy")
#: Measures whose timed calls follow untimed calls of the same contender.
PRIMED = ("extend", "to_numpy")
PEERS = [i for i in IMPLS if i != "segpy"]
DEFAULT_SIZES = "1e3,1e4,1e5,1e6,1e7,1e8"
DEFAULT_RECORD_SIZES = "1e3,1e4,1e5,1e6"
QUICK_SIZES = "1e3,1e4,1e5,1e6"
QUICK_RECORD_SIZES = "1e3,1e4,1e5"
#: Elements a sample covers at least (small N: several calls per sample).
SAMPLE_ELEMENTS = 100_000

# --------------------------------------------------------------------------
# timing helpers (seq_report.py imports these too)


# Untimed calls before each primed sample: as many as fill this long (at
# least one).  One call was not enough: after the ``list`` contender freed
# 10^6 ints, the next two 8 MB extends of any contender took 1.23 and 0.67
# ms against 0.59 ms in steady state (docs/performance.md has the runs), and
# the order of the contenders put segpy right after the list in three
# repetitions of five, array in two, numpy one-shot in none.
PRIME_SECONDS = 0.003
# Repetitions of int64 extend and to_numpy from --fresh-from, but for the
# list contender's (see time_measure).
FRESH_BULK_REPEAT = 5
# A call at least this long is not primed (see run_group).
PRIME_LONG_CALL = 0.02


def timed(fn, prime=False):
    """Run ``fn()`` once with the cyclic GC off; return (seconds, result).
    With ``prime``, untimed calls (their results freed) come first, after
    the collection, for ``PRIME_SECONDS`` (see run_group)."""
    gc.collect()
    gc.disable()
    try:
        if prime:
            end = time.perf_counter() + PRIME_SECONDS
            fn()
            while time.perf_counter() < end:
                fn()
        t0 = time.perf_counter()
        out = fn()
        t1 = time.perf_counter()
    finally:
        gc.enable()
    return t1 - t0, out


def run_group(contenders: dict, repeat: int, warmup: int = 1, tick=None,
              prime: bool = False) -> dict:
    """Time every contender ``repeat`` times, interleaved, the order reversed
    every other repetition, after ``warmup`` untimed rounds; what a call
    returns is freed after its clock stops.  ``tick()`` runs after each call.
    ``repeat`` is a count, or a dict of counts by contender (a contender
    with fewer sits out the later repetitions).

    With ``prime``, each timed call follows untimed calls of the same
    contender (``PRIME_SECONDS`` of them), so that it does not pay for what
    the contender before it left in the caches, the TLB and the allocators;
    except a contender whose last call took ``PRIME_LONG_CALL`` or more: what
    a neighbour leaves behind is a small part of such a call (the ``list``
    contender's extend of 10^6 record tuples took 0.4 s).  Without it, at 10^5
    int64 a ``list`` contender's 10^5 ints slowed the next contender's
    timed call, whichever it was, by up to 5x (``numpy one-shot`` by 18x).
    """
    names = list(contenders)
    samples = {k: [] for k in names}
    reps = repeat if isinstance(repeat, dict) else dict.fromkeys(names, repeat)
    last = {}
    for r in range(-warmup, max(reps.values())):
        order = names if r % 2 == 0 else names[::-1]
        for k in order:
            if r >= reps[k]:
                continue
            dt, out = timed(contenders[k], prime and last.get(k, 0.0) < PRIME_LONG_CALL)
            last[k] = dt
            del out
            if r >= 0:
                samples[k].append(dt)
            if tick is not None:
                tick()
    return samples


def paired_ratio(samples, num, den):
    """The median of the per-repetition ratios (seq_report.py's statistic)."""
    return statistics.median(a / b for a, b in zip(samples[num], samples[den]))


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
            kb = int(f.readline().split(":", 1)[1].split()[0])
            info["mem_total"] = f"{kb / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
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


# The cells of a result row of seq_report.py's table, in order.
COLUMNS = ("measure", "segpy", "baseline", "ratio", "target", "result", "note")


def json_rows(rows):
    """Result rows as dicts keyed by COLUMNS, for a --json output."""
    return [dict(zip(COLUMNS, r)) for r in rows]


def print_table(rows):
    """Print seq_report.py's six-column table; return the counts of targeted
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


# --------------------------------------------------------------------------
# progress


class Progress:
    """A one-line progress bar on stderr (a line per step when not a tty)."""

    def __init__(self, total: float, enabled: bool = True):
        self.total = max(total, 1e-9)
        self.done = 0.0
        self.what = ""
        self.t0 = time.perf_counter()
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.last = -1.0

    def step(self, what: str) -> None:
        self.what = what
        if self.enabled and not self.tty:
            print(f"  [{time.perf_counter() - self.t0:6.1f} s] {what}", file=sys.stderr,
                  flush=True)
        self.draw()

    def add(self, units: float) -> None:
        self.done = min(self.total, self.done + units)
        self.draw()

    def draw(self) -> None:
        if not (self.enabled and self.tty):
            return
        now = time.perf_counter()
        if now - self.last < 0.1 and self.done < self.total:
            return
        self.last = now
        frac = self.done / self.total
        bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
        line = f"[{bar}] {100 * frac:3.0f}% {now - self.t0:6.1f} s  {self.what}"
        print("\r" + line[:110].ljust(110), end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled and self.tty:
            self.done = self.total
            self.draw()
            print(file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# the plan: what runs at which size, and how often

#: Rough seconds per element and contender, only to weigh the progress bar.
_COST = {"append": 8e-8, "extend": 3e-9, "get": 6e-8, "iterate": 5e-8, "to_numpy": 5e-9,
         "memory": 1e-7, "build": 1e-8}


def fresh_bulk(n: int, args, measure: str, dtype: str) -> bool:
    """Whether (measure, dtype, n) is int64 extend or to_numpy from
    ``--fresh-from`` with the default repetitions: FRESH_BULK_REPEAT of them
    for every contender but the list, which takes one (see time_measure)."""
    return (n >= args.fresh_from and measure in PRIMED and dtype == "int64"
            and args.repeat is None and not args.quick)


def repeats_for(n: int, args, measure: str = "append", dtype: str = "int64") -> int:
    if args.repeat is not None:
        return args.repeat
    if n >= args.fresh_from:
        return FRESH_BULK_REPEAT if fresh_bulk(n, args, measure, dtype) else 1
    if n >= 10_000_000:
        # extend and to_numpy are short calls even here: 5 repetitions let
        # the verdict's sign test tell a tie (it needs 5), for 2 s more.
        return 5 if measure in PRIMED and not args.quick else 3
    if measure in PRIMED and dtype == "int64" and not args.quick:
        # Below 10^7, where extend and to_numpy of int64 are memcpy ties
        # between contenders, 15 repetitions (about 2 s per size) steady the
        # medians and give the sign test its power.  Records are far from a
        # tie there (segpy 0.07-0.4x the best peer) and their list contender
        # is slow: they keep the counts below.
        return 15
    if n >= 1_000_000:
        # The information-only measures take fewer: time for the targets.
        return 3 if args.quick or measure not in TARGETED else 5
    return 5 if args.quick else 9


# From this N on, no untimed warm-up round: a call is long (0.1-2 s at 10^7)
# next to what a first call pays for, and the median of the repetitions
# drops a cold first sample.  The warm-up round of append at 10^7 took 5 s.
NO_WARMUP_FROM = 10_000_000


def warmup_for(n: int, args) -> int:
    """Untimed rounds before a measure's repetitions."""
    return 0 if n >= min(NO_WARMUP_FROM, args.fresh_from) else 1


def primed(measure: str, n: int, args) -> bool:
    """Whether each sample of the measure at ``n`` is primed (see run_group).

    Priming doubles the calls, so only the bulk measures have it (an
    append loop's own time per element dwarfs what a neighbour leaves
    behind), and only to 10^6 elements: past that a call is long enough
    that what the previous contender left behind is a small part of it.
    """
    return measure in PRIMED and warmup_for(n, args) > 0 and n <= 1_000_000


def number_for(n: int) -> int:
    """Calls per sample: at least SAMPLE_ELEMENTS elements per sample."""
    return max(1, SAMPLE_ELEMENTS // max(n, 1))


def reads_for(n: int, args) -> int:
    return args.reads if args.reads is not None else min(max(n, 100_000), 1_000_000)


def impls_for(dtype: str, n: int | None = None, args=None) -> list:
    """The contenders that can hold ``dtype``; given ``n`` and ``args``, those
    of a timed measure at ``n``: not the list past ``--list-max``."""
    out = []
    for impl in IMPLS:
        try:
            check_applicable(impl, dtype)
        except NotApplicable:
            continue
        if impl == "list" and n is not None and n > args.list_max:
            continue
        out.append(impl)
    return out


def plan(args) -> list:
    """(dtype, measure, n) in the order they run."""
    tasks = []
    for dtype, sizes in (("int64", args.sizes), ("record", args.record_sizes)):
        for n in sizes:
            for m in args.measures:
                if m == "memory" and n not in args.mem_sizes:
                    continue
                if m == "iterate" and n > args.iterate_max:
                    continue
                if m == "append" and n >= args.fresh_from and "memory" in args.measures \
                        and n in args.mem_sizes:
                    continue            # timed by the memory runs
                tasks.append((dtype, m, n))
    return tasks


def task_cost(task, args) -> float:
    dtype, m, n = task
    nimpl = len(impls_for(dtype, n, args))
    k = nimpl * (2.5 if dtype == "record" else 1.0)
    if m == "memory":
        return _COST["memory"] * n * k
    rounds = repeats_for(n, args, m, dtype) + warmup_for(n, args)
    elements = reads_for(n, args) if m == "get" else max(n, SAMPLE_ELEMENTS)
    build = _COST["build"] * n * k if m == "get" else 0.0
    # A primed sample's untimed calls last at least PRIME_SECONDS.
    priming = PRIME_SECONDS * rounds * nimpl if primed(m, n, args) else 0.0
    return _COST[m] * elements * rounds * k + build + priming


# --------------------------------------------------------------------------
# the measures: impl -> per-element seconds of each repetition


def _batched(fn, number):
    """``number`` calls of ``fn`` whose results are dropped as they come, so
    that freeing them is timed: a list's ints are freed only when the list
    is, so timing the build alone would leave part of its cost out (and
    keeping small containers alive made every sample grow the heap afresh,
    timing the kernel's page faults)."""
    def run():
        for _ in range(number):
            fn()

    return run


READ_MEASURES = ("get", "iterate", "to_numpy")


class FilledCache:
    """The filled containers of the read measures, built once per (dtype, N)
    and shared by get, iterate and to_numpy (a list of 10^8 ints takes
    seconds to build); dropped when another (dtype, N) is asked for.

    Every contender is built from one sample array (at 10^8, making it five
    times took 2.3 s), and what was built is frozen out of the cyclic GC
    (``gc.freeze``) while it is kept: each timed sample starts with a
    collection, which otherwise walked the list's 10^8 items every time
    (0.7 s a sample).  Nothing here is timed; the samples are the same.
    """

    def __init__(self):
        self.key = None
        self.filled = None

    def get(self, dtype, n, impls):
        if self.key != (dtype, n, tuple(impls)):
            self.drop()
            dt = as_dtype(dtype)
            data = sample_array(dt, n)
            self.filled = {impl: build_filled(impl, n, dt, data) for impl in impls}
            del data
            self.key = (dtype, n, tuple(impls))
            gc.collect()
            gc.freeze()
        return self.filled

    def drop(self):
        gc.unfreeze()
        self.key = self.filled = None
        gc.collect()


def settle_memory(nbytes: int) -> None:
    """Fault in and free ``nbytes``, untimed, before a single-repetition
    measure.  The first contender to touch that much fresh memory in the
    process paid the kernel's first-time cost (finding and zeroing huge
    pages) that later ones did not: extend at 10^8 measured segpy, which
    runs first, at 10x numpy one-shot, which runs last, while in a process
    of their own either paid about the same for its first build."""
    buf = np.ones(max(nbytes, 8) // 8)
    del buf


def time_measure(measure, dtype, n, args, tick, cache=None):
    impls = impls_for(dtype, n, args)
    repeat = repeats_for(n, args, measure, dtype)
    if fresh_bulk(n, args, measure, dtype):
        # Bulk calls of 10^8 elements are 0.2-0.5 s but for the list's (2-9
        # s): 5 repetitions of every other contender let the verdict's sign
        # test tell a tie (one repetition called segpy's to_numpy 0.88x,
        # 0.88x and 1.02x the best peer in three runs), for about 10 s.
        repeat = {impl: (1 if impl == "list" else FRESH_BULK_REPEAT) for impl in impls}
    warmup = warmup_for(n, args)
    number = number_for(n)
    per = number * n
    dt = as_dtype(dtype)
    contenders = {}
    if measure == "append":
        values = append_values(dtype, n)
        for impl in impls:
            contenders[impl] = _batched(
                lambda impl=impl: append_all(impl, dtype, values, n), number)
    elif measure == "extend":
        chunk = max(1, args.chunk)
        chunks = [sample_array(dtype, min(chunk, n - s), s) for s in range(0, n, chunk)]
        bchunks = byte_views(chunks)
        for impl in impls:
            contenders[impl] = _batched(
                lambda impl=impl: extend_all(impl, dt, chunks, bchunks), number)
    else:
        filled = (cache or FilledCache()).get(dtype, n, impls)
        if measure == "get":
            reads = reads_for(n, args)
            idx = random_indices(n, reads)
            per = reads
            for impl in impls:
                c = readable(impl, filled[impl])
                contenders[impl] = lambda c=c: get_loop(c, idx)
        elif measure == "iterate":
            for impl in impls:
                c = readable(impl, filled[impl])
                contenders[impl] = _batched(lambda c=c: iterate(c), number)
        elif measure == "to_numpy":
            # Every contender's result is checked below the fresh sizes (the
            # code is the same at every size); at 10^8 the check was 7 s.
            ref = (to_numpy("numpy_oneshot", dtype, filled["numpy_oneshot"])
                   if n < args.fresh_from else None)
            for impl in impls:
                if ref is not None and not np.array_equal(to_numpy(impl, dtype, filled[impl]),
                                                          ref):
                    raise AssertionError(f"to_numpy: {impl} disagrees")
                contenders[impl] = _batched(
                    lambda impl=impl, c=filled[impl]: to_numpy(impl, dtype, c), number)
        else:
            raise ValueError(measure)
    if n >= args.fresh_from and measure not in ("get", "iterate"):
        # (The read measures allocate nothing: at 10^8 the settling took 4 s.
        # Extend and to_numpy keep it even with 5 repetitions: without it
        # segpy, which runs first, measured 1.06-1.17x numpy one-shot in
        # four rows, against 0.73-1.03x with it.)
        settle_memory(2 * n * dt.itemsize)
    samples = run_group(contenders, repeat, warmup, tick, prime=primed(measure, n, args))
    return {impl: [s / per for s in v] for impl, v in samples.items()}


def memory_measure(dtype, n):
    return {impl: append_peak_rss(impl, n, dtype) for impl in impls_for(dtype)}


# --------------------------------------------------------------------------
# the tables


def fmt_fig(x: float) -> str:
    """Three significant figures, no exponent (ns per element, bytes per element)."""
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def fmt_n(n: int) -> str:
    e = round(math.log10(n)) if n > 0 else 0
    return f"10^{e}" if 10 ** e == n else f"{n:,}"


# A tie: segpy at most this much slower than the best peer's median, and no
# peer consistently faster (see the module docstring).
TIE_MAX_RATIO = 1.05
SIGN_TEST_ALPHA = 0.05


def sign_test_min(n: int, alpha: float = SIGN_TEST_ALPHA):
    """The fewest wins out of ``n`` paired repetitions that a one-sided sign
    test at level ``alpha`` calls significant (``P(X >= k) <= alpha`` for
    ``X ~ Binomial(n, 1/2)``), or None if even ``n`` of ``n`` is not."""
    for k in range(n + 1):
        if sum(math.comb(n, j) for j in range(k, n + 1)) / 2 ** n <= alpha:
            return k
    return None


def verdict(ratio: float, per_impl: dict) -> str:
    """PASS, tie or FAIL for a targeted row (the module docstring says when)."""
    if ratio <= 1.0:
        return "PASS"
    seg = per_impl["segpy"]
    need = sign_test_min(len(seg))
    if ratio > TIE_MAX_RATIO or need is None:
        return "FAIL"
    for impl in PEERS:
        peer = per_impl.get(impl)
        if peer is None or len(peer) != len(seg):
            continue
        if sum(p < s for s, p in zip(seg, peer)) >= need:
            return "FAIL"
    return "tie"


def not_run_note(args) -> str:
    """What a ``not run`` cell means, as both outputs say it."""
    return (f"*{NOT_RUN}*: the list contender runs extend, get, iterate and to_numpy up to "
            f"{fmt_n(args.list_max)} (``--list-max``), the memory runs at every N. ")


def summary_line(tables) -> str:
    """The count of targeted rows by verdict, as the report's last line says it."""
    verdicts = [r[-1] for _, _, _, rows in tables for r in rows if r[-1] != "info"]
    met, ties, failed = (verdicts.count(v) for v in ("PASS", "tie", "FAIL"))
    return (f"{met}/{len(verdicts)} targets met, {ties} tied, {failed} failed "
            f"(segpy <= best peer on {', '.join(TARGETED)}).")


def ratio_of(seg: str, best: str) -> str:
    """The ratio of two printed figures, as printed (the table's only ratio)."""
    return f"{float(seg) / float(best):.2f}"


# A contender's cell at an N where it was not run (the list past --list-max).
NOT_RUN = "not run"


def table_rows(results, measure, dtype):
    """The rows of one (measure, dtype) table: [N, peers..., segpy, best, ratio, verdict]."""
    rows = []
    for n, per_impl in sorted(results.get((measure, dtype), {}).items()):
        figs = {}
        cells = [fmt_n(n)]
        for impl in IMPLS:
            if impl not in per_impl:
                figs[impl] = None
                continue
            if measure == "memory":
                r = per_impl[impl]
                figs[impl] = fmt_fig(max(r["growth_bytes"], 0) / n)
            else:
                figs[impl] = fmt_fig(statistics.median(per_impl[impl]) * 1e9)
        for impl in PEERS:
            if figs[impl] is None:
                cells.append(NOT_RUN if impl in impls_for(dtype) else "n/a")
            elif measure == "memory":
                cells.append(f"{figs[impl]} ({per_impl[impl]['ratio']:.2f}x)")
            else:
                cells.append(figs[impl])
        peers = [(float(figs[i]), i) for i in PEERS if figs[i] is not None]
        best = min(peers)[1]
        seg = figs["segpy"]
        if float(figs[best]) == 0:
            ratio = "-"
        else:
            ratio = ratio_of(seg, figs[best])
        if measure == "memory":
            cells.append(f"{seg} ({per_impl['segpy']['ratio']:.2f}x)")
        else:
            cells.append(seg)
        cells.append(f"{figs[best]} ({LABELS[best]})")
        cells.append(ratio)
        if measure in TARGETED and ratio != "-":
            cells.append(verdict(float(ratio), per_impl))
        else:
            cells.append("info")
        rows.append(cells)
    return rows


def headers_for(measure):
    unit = "bytes per element (x payload)" if measure == "memory" else "ns per element"
    return (["N"] + [LABELS[i] for i in PEERS]
            + ["segpy", "best peer", "segpy / best", "target"]), unit


def title_for(measure, dtype, results):
    what = {
        "append": "append one at a time",
        "extend": "extend by ndarray chunks",
        "get": "get: c[i] at random indices (ns per read)",
        "iterate": "iterate: for x in c",
        "to_numpy": "to_numpy: a new contiguous ndarray",
        "memory": "peak memory while appending one at a time",
    }[measure]
    dt = "int64" if dtype == "int64" else f"record ({as_dtype(dtype).itemsize} bytes)"
    return f"{what}, {dt}"


def text_table(headers, rows) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(c.rjust(w) for c, w in zip(cells, widths)).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths)]
                     + [line(r) for r in rows])


def md_table(headers, rows) -> str:
    out = ["| " + " | ".join(headers) + " |",
           "|" + "|".join("---:" for _ in headers) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def all_tables(results, args):
    """[(title, unit, headers, rows)] in report order."""
    out = []
    for dtype in ("int64", "record"):
        for m in args.measures:
            if (m, dtype) not in results or not results[(m, dtype)]:
                continue
            headers, unit = headers_for(m)
            out.append((title_for(m, dtype, results), unit, headers,
                        table_rows(results, m, dtype)))
    return out


# --------------------------------------------------------------------------
# the plots


def write_plots(results, args, outdir) -> list:
    """One PNG per (measure, dtype): time (or memory) per element vs N, log axes."""
    try:
        import matplotlib
        import matplotlib.ticker
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install segpy[bench]): no plots",
              file=sys.stderr)
        return []
    written = []
    for (m, dtype), per_n in sorted(results.items()):
        if not per_n:
            continue
        fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
        for impl in IMPLS:
            ns = sorted(n for n in per_n if impl in per_n[n])
            if not ns:
                continue
            if m == "memory":
                ys = [max(per_n[n][impl]["growth_bytes"], 1) / n for n in ns]
            else:
                ys = [statistics.median(per_n[n][impl]) * 1e9 for n in ns]
            ax.plot(ns, ys, marker="o", label=LABELS[impl],
                    linewidth=2.5 if impl == "segpy" else 1.5,
                    color="black" if impl == "segpy" else None)
        if m == "memory":
            ax.axhline(as_dtype(dtype).itemsize, color="grey", linestyle=":",
                       label="payload")
        ax.set_xscale("log")
        ax.set_yscale("log")
        # Plain numbers on the y axis: a plot often spans less than a decade,
        # where matplotlib's default labels minor ticks as 4x10^1.
        plain = matplotlib.ticker.FormatStrFormatter("%g")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_locator(matplotlib.ticker.LogLocator(10, subs=(2.0, 5.0)))
        ax.yaxis.set_minor_formatter(plain)
        ax.set_xlabel("N (elements)")
        ax.set_ylabel("peak RSS growth, bytes per element" if m == "memory"
                      else ("ns per read" if m == "get" else "ns per element"))
        ax.set_title(title_for(m, dtype, results))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
        fig.tight_layout()
        path = os.path.join(outdir, f"{m}_{dtype}.png")
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


def write_markdown(tables, info, args, elapsed, plots, outdir) -> str:
    cmd = "python -P benchmarks/report.py " + " ".join(shlex.quote(a) for a in args.argv)
    lines = [
        "# segpy performance report", "",
        f"Command: `{cmd.strip()}`  ",
        (f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
         f"elapsed {elapsed:.0f} s"), "",
        "| machine | |", "|---|---|",
        f"| CPU | {info.get('cpu', '?')} |",
        f"| cores | {info.get('cpus', '?')} |",
        f"| RAM | {info.get('mem_total', '?')} |",
        f"| Python | {info['python']} ({info['implementation']}) |",
        f"| numpy | {info['numpy']} |",
        f"| segpy | {info['segpy']} |",
        f"| platform | {info['platform']} |",
        f"| load average at start | {info.get('loadavg', '?')} |",
        "",
        ("Each figure is the median over interleaved repetitions (order alternating, one "
        "untimed warm-up below 10^7) of one contender's time per element in ns; up to "
        "10^6, each "
        "timed extend or to_numpy follows 3 ms of untimed calls of the same contender. "
        "*segpy / best* is "
        "segpy's figure over the best peer's, both as printed. Memory: peak RSS growth per "
        "element while appending one at a time in a fresh process, its ratio to the "
        "payload in parentheses. array.array cannot hold records (n/a). "
        f"{not_run_note(args)}"
         "Target verdicts: PASS at a ratio of at most 1.00; *tie* above it but at most "
         f"{TIE_MAX_RATIO:.2f} when no peer was faster than segpy in enough of the "
         "interleaved repetitions to tell it from noise (one-sided sign test at 5%); "
         "FAIL otherwise. "
         "See `benchmarks/report.py` for the exact code of each contender."),
        "",
        summary_line(tables),
        "",
    ]
    for title, unit, headers, rows in tables:
        lines += [f"## {title}", "", f"{unit}", "", md_table(headers, rows), ""]
    if plots:
        lines += ["## Plots", ""] + [f"- `{os.path.basename(p)}`" for p in plots] + [""]
    path = os.path.join(outdir, "table.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


# --------------------------------------------------------------------------


def parse_sizes(text: str) -> list:
    out = []
    for part in text.split(","):
        part = part.strip()
        if part:
            out.append(int(float(part)))
    return sorted(set(out))


def parse_args(argv=None):
    """The command line, parsed and its sizes and measures resolved."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default=None,
                    help=f"int64 sizes (default {DEFAULT_SIZES}; {QUICK_SIZES} with --quick)")
    ap.add_argument("--record-sizes", default=None,
                    help=f"record sizes (default {DEFAULT_RECORD_SIZES}; "
                         f"{QUICK_RECORD_SIZES} with --quick; '' for none)")
    ap.add_argument("--mem-sizes", default=None,
                    help="sizes with a peak-memory run (default: every size >= 1e5)")
    ap.add_argument("--measures", default=",".join(MEASURES),
                    help="comma-separated subset of %(default)s")
    ap.add_argument("--repeat", type=int, default=None,
                    help="repetitions per measure (default: 9 up to 1e5, 5 at 1e6 (3 for "
                         "get and iterate), 3 at 1e7, 1 from --fresh-from; 15 below 1e7 "
                         "and 5 at 1e7 for int64 extend and to_numpy; fewer with --quick)")
    ap.add_argument("--iterate-max", type=float, default=1e7,
                    help="largest N of the iterate measure (default %(default)g: at 1e8 it "
                         "took 16 s of a 3-minute run, at the per-element cost of 1e7)")
    ap.add_argument("--list-max", type=float, default=1e7,
                    help="largest N at which the list contender runs extend, get, "
                         "iterate and to_numpy; the memory runs (and append at "
                         "--fresh-from) take it at every N (default %(default)g: at "
                         "1e8 it took 14 s of those measures, 10-30x the best peer)")
    ap.add_argument("--chunk", type=int, default=65_536,
                    help="ndarray chunk length for extend (default %(default)s)")
    ap.add_argument("--reads", type=int, default=None,
                    help="random reads per get sample (default N within [1e5, 1e6])")
    ap.add_argument("--fresh-from", type=float, default=1e8,
                    help="from this N on: one repetition (5 for int64 extend and "
                         "to_numpy but the list's), no warm-up, append timed "
                         "in the memory runs (default %(default)g)")
    ap.add_argument("--quick", action="store_true",
                    help="sizes up to 1e6 and fewer repetitions (well under a minute)")
    ap.add_argument("--plots", metavar="DIR",
                    default=os.path.join(HERE, "results"),
                    help="where the PNGs and table.md go (default %(default)s)")
    ap.add_argument("--no-plots", action="store_true", help="write no PNGs and no table.md")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ap.add_argument("--json", metavar="PATH", help="also save every sample as JSON")
    args = ap.parse_args(argv)
    args.argv = argv
    args.fresh_from = int(args.fresh_from)
    args.list_max = int(args.list_max)
    args.sizes = parse_sizes(args.sizes if args.sizes is not None
                             else (QUICK_SIZES if args.quick else DEFAULT_SIZES))
    args.record_sizes = parse_sizes(
        args.record_sizes if args.record_sizes is not None
        else (QUICK_RECORD_SIZES if args.quick else DEFAULT_RECORD_SIZES))
    args.mem_sizes = (parse_sizes(args.mem_sizes) if args.mem_sizes is not None
                      else [n for n in args.sizes + args.record_sizes if n >= 100_000])
    args.measures = [m.strip() for m in args.measures.split(",") if m.strip()]
    bad = [m for m in args.measures if m not in MEASURES]
    if bad:
        ap.error(f"unknown measures {bad}; choose from {MEASURES}")
    return args


def main(argv=None):
    args = parse_args(argv)
    info = machine_info()
    print("segpy report")
    for k, v in info.items():
        print(f"  {k:15s} {v}")
    print(f"  int64 sizes {', '.join(map(fmt_n, args.sizes))}; record sizes "
          f"{', '.join(map(fmt_n, args.record_sizes)) or 'none'}; memory at "
          f"{', '.join(map(fmt_n, args.mem_sizes)) or 'none'}; chunk {args.chunk:,}")
    print(flush=True)

    tasks = plan(args)
    progress = Progress(sum(task_cost(t, args) for t in tasks), not args.no_progress)
    results = {}            # (measure, dtype) -> {n: {impl: samples or rss dict}}
    cache = FilledCache()
    t_start = time.perf_counter()
    task_seconds = {}       # where the run's time went, saved with --json
    for task in tasks:
        dtype, m, n = task
        t_task = time.perf_counter()
        if m not in READ_MEASURES:
            cache.drop()
        cost = task_cost(task, args)
        progress.step(f"{m} {dtype} N={fmt_n(n)}")
        if m == "memory":
            rss = memory_measure(dtype, n)
            results.setdefault(("memory", dtype), {})[n] = rss
            if n >= args.fresh_from and "append" in args.measures:
                results.setdefault(("append", dtype), {})[n] = {
                    impl: [r["seconds"] / n] for impl, r in rss.items()}
            progress.add(cost)
        else:
            k = len(impls_for(dtype, n, args))
            rounds = repeats_for(n, args, m, dtype) + warmup_for(n, args)
            unit = cost / max(1, k * rounds)
            results.setdefault((m, dtype), {})[n] = time_measure(
                m, dtype, n, args, lambda unit=unit: progress.add(unit), cache)
        gc.collect()
        task_seconds[f"{m}/{dtype}/{n}"] = time.perf_counter() - t_task
    cache.drop()
    progress.close()
    elapsed = time.perf_counter() - t_start

    tables = all_tables(results, args)
    for title, unit, headers, rows in tables:
        print(f"{title}  [{unit}]")
        print(text_table(headers, rows))
        print()
    if any(NOT_RUN in r for _, _, _, rows in tables for r in rows):
        print(not_run_note(args).replace("``", "").replace("*", ""))
    print(f"{summary_line(tables)}  Figures: medians of interleaved repetitions; "
          f"segpy / best = the two printed figures' ratio.  Elapsed {elapsed:.0f} s.")

    if not args.no_plots:
        os.makedirs(args.plots, exist_ok=True)
        plots = write_plots(results, args, args.plots)
        md = write_markdown(tables, info, args, elapsed, plots, args.plots)
        print(f"wrote {md} and {len(plots)} plots to {args.plots}")

    if args.json:
        out = {
            "info": info,
            "argv": args.argv,
            "tables": [{"title": t, "unit": u, "headers": h, "rows": r}
                       for t, u, h, r in tables],
            "samples": {f"{m}/{d}": {str(n): v for n, v in per_n.items()}
                        for (m, d), per_n in results.items()},
            "elapsed_s": elapsed,
            "task_seconds": task_seconds,
        }
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
        print(f"saved {args.json}")
    return 1 if any(r[-1] == "FAIL" for _, _, _, rows in tables for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
