#!/usr/bin/env python3
"""File-backed lists: appending more than RAM to a file, against ndarray.tofile.

    python -P benchmarks/file_report.py [--gb G] [--chunk N] [--runs R]
                                        [--pause S] [--dir DIR] [--json PATH]

Each run writes the same ``G`` GB (10**9 bytes; default 16) of int64 twice, in chunks of ``N``
elements, in alternating order: once by ``SegmentedList.extend`` into a list
opened with ``SegmentedList.open(path, 'int64', mode='w')`` and once by
``chunk.tofile(f)`` into a plain file.  Both end durable (``flush()``, and
``f.flush(); os.fsync``), so both times include writing the data back.  A
thread samples the process's anonymous resident memory (``RssAnon`` in
/proc/self/status) every 20 ms while each contender runs; the largest
sample is reported.  After the segpy write the file is reopened read-only
and checked: its length, and every chunk at 64 places spread over it.

The table gives, per run, the two throughputs and their ratio, then the
median and [min-max] over the runs, and the size of segpy's file (its
segments are reserved whole: up to twice the data).  Before each write the
report syncs, waits ``--pause`` seconds (default 2), and then waits until
the disk has done no I/O for 2 s (read from /sys/dev/block; at most 180 s;
the table shows the seconds waited), so that the previous job's writeback
and its deletion's discards cannot slow the next.  An
untimed round of ``--warmup-gb`` (default 16: a smaller one left the
first timed write slow, whichever contender made it) per contender comes
first.
Both files go in ``--dir`` (default: a temporary directory beside the
repository, on the same disk); each is deleted before the other contender
writes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != REPO]

import numpy as np

import segpy


def rss_anon():
    """The process's anonymous resident bytes (RssAnon), from /proc/self/status."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon in /proc/self/status")


class Sampler:
    """Samples RssAnon every ``period`` seconds on a thread; ``peak`` is the largest."""

    def __init__(self, period=0.02):
        self.period = period
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_anon())
            self._stop.wait(self.period)

    def __enter__(self):
        self.peak = rss_anon()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_anon())


def _disk_stat_path(where):
    """/sys's I/O counters of the block device holding ``where`` (None if unknown)."""
    st = os.stat(where)
    p = f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}/stat"
    return p if os.path.exists(p) else None


def _io_counters(stat_path):
    # Fields (Documentation/block/stat.rst): reads, writes and discards
    # completed, and the I/Os in flight; any change means the disk is busy.
    with open(stat_path) as fh:
        f = fh.read().split()
    return tuple(f[i] for i in (0, 4, 8, 11) if i < len(f))


def settle(pause, stat_path, idle=2.0, limit=180.0):
    """Sync, wait ``pause`` seconds, then until the disk has done no I/O for
    ``idle`` seconds (at most ``limit``), so that the previous job's
    writeback and its deletion's discards (this disk is mounted with
    ``discard``) cannot slow the next job.  Returns the seconds spent."""
    t0 = time.perf_counter()
    os.sync()
    time.sleep(pause)
    if stat_path is None:
        return time.perf_counter() - t0
    last, since = _io_counters(stat_path), time.perf_counter()
    while time.perf_counter() - t0 < limit:
        time.sleep(0.25)
        now = _io_counters(stat_path)
        if now != last:
            last, since = now, time.perf_counter()
        elif time.perf_counter() - since >= idle:
            break
    return time.perf_counter() - t0


def write_segpy(path, chunk, nchunks):
    with Sampler() as s:
        t = time.perf_counter()
        lst = segpy.SegmentedList.open(path, "int64", mode="w")
        for k in range(nchunks):
            chunk[0] = k              # each chunk is told apart by its first element
            lst.extend(chunk)
        lst.flush()
        elapsed = time.perf_counter() - t
        del lst
    return elapsed, s.peak, os.path.getsize(path)


def write_tofile(path, chunk, nchunks):
    with Sampler() as s:
        t = time.perf_counter()
        with open(path, "wb") as f:
            for k in range(nchunks):
                chunk[0] = k
                chunk.tofile(f)
            f.flush()
            os.fsync(f.fileno())
        elapsed = time.perf_counter() - t
    return elapsed, s.peak, os.path.getsize(path)


def check(path, chunk, nchunks):
    """Reopen read-only and compare 64 chunks spread over the list."""
    lst = segpy.SegmentedList.open(path)
    n = chunk.size
    if len(lst) != n * nchunks:
        return False
    expect = chunk.copy()
    for k in np.unique(np.linspace(0, nchunks - 1, 64).astype(int)):
        expect[0] = k
        if not np.array_equal(lst.to_numpy(k * n, (k + 1) * n), expect):
            return False
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gb", type=float, default=16.0, help="GB (1e9 bytes) per contender")
    ap.add_argument("--chunk", type=int, default=1 << 20, help="elements per chunk")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pause", type=float, default=2.0,
                    help="seconds to wait before a write, before waiting for the disk to be idle")
    ap.add_argument("--warmup-gb", type=float, default=16.0,
                    help="GB each contender writes once, untimed, before the runs")
    ap.add_argument("--dir", default=None, help="where the files go")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    nchunks = max(1, int(args.gb * 1e9) // (8 * args.chunk))
    chunk = np.arange(args.chunk, dtype=np.int64)
    total = nchunks * args.chunk * 8
    where = tempfile.mkdtemp(prefix="segpy-file-report-", dir=args.dir or os.path.dirname(REPO))
    seg_path, raw_path = os.path.join(where, "list.seg"), os.path.join(where, "raw.bin")
    stat_path = _disk_stat_path(where)
    rows = []
    print(f"# {total / 1e9:.2f} GB of int64 in {nchunks} chunks of {args.chunk} elements, "
          f"{args.runs} runs, files in {where}")
    print(f"{'run':>3} {'segpy GB/s':>11} {'tofile GB/s':>12} {'ratio':>6} "
          f"{'segpy RssAnon MiB':>18} {'tofile RssAnon MiB':>19} {'intact':>6} {'settled s':>10}")
    try:
        # One untimed round first, as report.py does: the first large write
        # of a session was measured at half the speed of the later ones,
        # whichever contender made it.
        warm = max(1, int(args.warmup_gb * 1e9) // (8 * args.chunk)) if args.warmup_gb else 0
        for fn, p in ((write_segpy, seg_path), (write_tofile, raw_path)) if warm else ():
            settle(args.pause, stat_path)
            fn(p, chunk, warm)
            os.unlink(p)
        for r in range(args.runs):
            order = [("segpy", write_segpy, seg_path), ("tofile", write_tofile, raw_path)]
            if r % 2:
                order.reverse()
            res = {}
            waited = []
            for name, fn, p in order:
                waited.append(settle(args.pause, stat_path))
                res[name] = fn(p, chunk, nchunks)
                # Each contender's file is deleted (after the check) before
                # the other writes, so each writes with the same free space.
                if name == "segpy":
                    intact = check(seg_path, chunk, nchunks)
                os.unlink(p)
            row = {
                "run": r,
                "segpy_s": res["segpy"][0], "tofile_s": res["tofile"][0],
                "segpy_gbps": total / res["segpy"][0] / 1e9,
                "tofile_gbps": total / res["tofile"][0] / 1e9,
                "segpy_rss_anon_peak": res["segpy"][1],
                "tofile_rss_anon_peak": res["tofile"][1],
                "intact": intact, "segpy_file_bytes": res["segpy"][2],
                "settle_s": waited,
            }
            row["ratio"] = row["segpy_gbps"] / row["tofile_gbps"]
            rows.append(row)
            print(f"{r:>3} {row['segpy_gbps']:>11.3f} {row['tofile_gbps']:>12.3f} "
                  f"{row['ratio']:>6.2f} {row['segpy_rss_anon_peak'] / 2**20:>18.1f} "
                  f"{row['tofile_rss_anon_peak'] / 2**20:>19.1f} {intact!s:>6} "
                  f"{'/'.join(f'{w:.0f}' for w in waited):>10}")
    finally:
        for p in (seg_path, raw_path):
            if os.path.exists(p):
                os.unlink(p)
        os.rmdir(where)

    def med(key):
        vals = [row[key] for row in rows]
        return statistics.median(vals), min(vals), max(vals)

    print()
    for key, label, scale in [("ratio", "throughput segpy / tofile (target >= 0.8)", 1),
                              ("segpy_gbps", "segpy GB/s", 1), ("tofile_gbps", "tofile GB/s", 1),
                              ("segpy_rss_anon_peak", "segpy peak RssAnon MiB (target < 256)",
                               2**20)]:
        m, lo, hi = med(key)
        print(f"{label}: {m / scale:.3f} [{lo / scale:.3f}-{hi / scale:.3f}]")
    print(f"reopened intact in every run: {all(r['intact'] for r in rows)}")
    print(f"segpy's file: {rows[0]['segpy_file_bytes'] / 1e9:.2f} GB for {total / 1e9:.2f} GB "
          f"of data")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": platform.machine(), "python": platform.python_version(),
                       "gb": total / 1e9, "chunk": args.chunk, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
