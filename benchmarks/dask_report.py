#!/usr/bin/env python3
"""segpy's dask report: a file-backed list summed by a 2-process Dask cluster.

    python -P benchmarks/dask_report.py [--size 4G] [--max-chunk none] [--repeat 3]
                                        [--dir DIR] [--json PATH]

Run it with ``python -P`` (or from outside the repository) so that the source
``segpy/`` directory, which holds no compiled modules, does not shadow the
installed package.  Needs dask[array], distributed and psutil.

It writes a file-backed list of int64 (0, 1, 2 ...; default 4 GB, 512M
elements) in a temporary directory, makes it a dask array whose tasks each map
their own chunk of the file (``to_dask``), and sums it on a LocalCluster of
two single-threaded worker processes.  The file is written through
``SegmentedList.open`` + ``extend`` in 1M-element chunks + ``flush`` when
segpy.FileAllocator exists; otherwise with numpy, in the same layout (a page
of header, then the elements end to end), read through
``segpy._dask.from_file``.  The directory is removed at the end.

The workers' peak RSS during each sum is their VmHWM (the kernel's
high-water mark, reset through /proc/PID/clear_refs just before the sum), so
no peak falls between samples.  Its parts are sampled from this process every
50 ms from /proc/PID/status: RssAnon (the workers' own memory) and RssFile
(pages of the file mapped by the tasks, which the kernel can drop); a chunk
summed in less than 50 ms can be missed by them.  Without /proc, psutil's RSS
is sampled instead.  The target is that no worker's RSS exceeds about 1 GB
however large the file: a task maps only its own chunk, and the pages go with
the chunk.

The file has just been written, so it is (mostly) in the page cache: the
times are those of reading cached pages through mmap, not of the disk.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
# Keep the source tree's segpy/ (no compiled modules) off sys.path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != REPO]

import numpy as np
import psutil
from distributed import Client, LocalCluster

import segpy
from segpy import _dask

TARGET_RSS = 1 << 30  # bytes per worker
HEADER = 4096  # bytes before the elements in the numpy-written file
WRITE_CHUNK = 1 << 20  # elements per extend / write
SAMPLE_EVERY = 0.05  # seconds
TIMEOUT = 3600  # seconds for one sum: a hung cluster fails the run


def parse_size(text):
    """'4G', '256M', '1000000' -> int (binary multiples)."""
    text = text.strip().upper()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(text[-1:], 1)
    return int(float(text[:-1] if mult > 1 else text) * mult)


def parse_max_chunk(text):
    return None if text.lower() == "none" else parse_size(text)


# --------------------------------------------------------------------------
# the file


def write_list(path, n):
    """Write 0..n-1 as int64; return (dask array maker, route name, write seconds)."""
    t0 = time.perf_counter()
    if getattr(segpy, "FileAllocator", None) is not None:
        lst = segpy.SegmentedList.open(path, "int64", mode="w")
        for start in range(0, n, WRITE_CHUNK):
            lst.extend(np.arange(start, min(start + WRITE_CHUNK, n), dtype=np.int64))
        lst.flush()
        return (lambda mc: lst.to_dask(max_chunk=mc)), "FileAllocator", time.perf_counter() - t0
    with open(path, "wb") as f:
        f.write(b"\0" * HEADER)
        for start in range(0, n, WRITE_CHUNK):
            np.arange(start, min(start + WRITE_CHUNK, n), dtype=np.int64).tofile(f)
        f.flush()
        os.fsync(f.fileno())
    s0 = segpy.SegmentedList("int64").first_segment  # the default geometry
    make = lambda mc: _dask.from_file(path, np.int64, HEADER, n, s0, mc)
    return make, "numpy file + _dask.from_file", time.perf_counter() - t0


# --------------------------------------------------------------------------
# memory sampling


def reset_peak(pid):
    """Reset `pid`'s VmHWM to its current RSS; False where the kernel does not allow it."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def read_peak(pid):
    """`pid`'s VmHWM in bytes, or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def read_memory(pid):
    """(VmRSS, RssAnon, RssFile) of `pid` in bytes; the last two None without /proc."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if line.startswith(("VmRSS", "Rss")))
        kb = {k: int(v.split()[0]) * 1024 for k, v in fields.items()}
        return kb["VmRSS"], kb.get("RssAnon"), kb.get("RssFile")
    except OSError:
        return psutil.Process(pid).memory_info().rss, None, None


class Sampler:
    """Peak VmRSS / RssAnon / RssFile of each pid, sampled on a thread."""

    def __init__(self, pids):
        self.pids = list(pids)
        self.peak = {pid: [0, 0, 0] for pid in self.pids}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for pid in self.pids:
                for i, v in enumerate(read_memory(pid)):
                    if v is not None:
                        self.peak[pid][i] = max(self.peak[pid][i], v)
            self.samples += 1
            self._stop.wait(SAMPLE_EVERY)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


# --------------------------------------------------------------------------
# report


def fmt_mb(b):
    return f"{b / 2**20:.0f} MB"


def fmt_range(values, fmt):
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(statistics.median(values))} [{fmt(min(values))}-{fmt(max(values))}]"


def machine_info():
    return {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "dask": __import__("dask").__version__,
        "distributed": __import__("distributed").__version__,
        "segpy": getattr(segpy, "__version__", "?"),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "mem_total": psutil.virtual_memory().total,
    }


def run(args):
    n = args.size // 8
    want = n * (n - 1) // 2
    workdir = tempfile.mkdtemp(prefix="segpy-dask-", dir=args.dir)
    rows = []
    try:
        path = os.path.join(workdir, "list.seg")
        make, route, write_s = write_list(path, n)
        print(f"wrote {n:,} int64 ({fmt_mb(8 * n)}) in {write_s:.1f} s via {route}: {path}")
        with (
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=None) as cluster,
            Client(cluster, timeout=60) as client,
        ):
            pids = client.run(os.getpid)
            for mc in args.max_chunk:
                arr = make(mc)
                walls, rss, anon, filed, ok = [], [], [], [], True
                for _ in range(args.repeat):
                    # Every worker's mark is reset, so no short-circuit here.
                    resets = [reset_peak(pid) for pid in pids.values()]
                    hwm = all(resets)
                    with Sampler(pids.values()) as sampler:
                        t0 = time.perf_counter()
                        got = client.compute(arr.sum()).result(timeout=TIMEOUT)
                        walls.append(time.perf_counter() - t0)
                    ok &= int(got) == want
                    peaks = list(sampler.peak.values())
                    hwms = [read_peak(pid) for pid in pids.values()] if hwm else [None]
                    if None in hwms:  # no VmHWM: the sampled VmRSS
                        hwms = [p[0] for p in peaks]
                    rss.append(max(hwms))
                    anon.append(max(p[1] for p in peaks))
                    filed.append(max(p[2] for p in peaks))
                rows.append(dict(
                    n=n, bytes=8 * n, route=route, max_chunk=mc, chunks=len(arr.chunks[0]),
                    largest_chunk_bytes=8 * max(arr.chunks[0]), correct=ok,
                    wall_s=walls, max_worker_rss=rss, max_worker_rss_anon=anon,
                    max_worker_rss_file=filed, write_s=write_s,
                    result="PASS" if ok and max(rss) <= TARGET_RSS else "FAIL"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows


def print_table(rows):
    headers = ("max_chunk", "chunks", "largest", "correct", "wall", "max worker RSS",
               "RssAnon (sampled)", "RssFile (sampled)", "<= 1 GB")
    table = [(
        "none" if r["max_chunk"] is None else f"{r['max_chunk']:,}",
        str(r["chunks"]),
        fmt_mb(r["largest_chunk_bytes"]),
        "yes" if r["correct"] else "NO",
        fmt_range(r["wall_s"], lambda s: f"{s:.2f} s"),
        fmt_range(r["max_worker_rss"], fmt_mb),
        fmt_range(r["max_worker_rss_anon"], fmt_mb),
        fmt_range(r["max_worker_rss_file"], fmt_mb),
        r["result"],
    ) for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    print("  ".join("-" * w for w in widths))
    for t in table:
        print("  ".join(c.ljust(w) for c, w in zip(t, widths)).rstrip())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=parse_size, default=parse_size("4G"),
                    help="bytes of int64 data, e.g. 4G, 256M (default 4G = 512M elements)")
    ap.add_argument("--max-chunk", type=lambda t: [parse_max_chunk(x) for x in t.split(",")],
                    default=[None],
                    help="elements per chunk at most, comma-separated to compare several; "
                         "'none' for to_dask's default (for a file-backed list: dask's "
                         "array.chunk-size, 128 MiB = 16M int64; the default)")
    ap.add_argument("--repeat", type=int, default=3, help="sums per max_chunk (default 3)")
    ap.add_argument("--dir", default=None,
                    help="where to put the temporary file (default: the system temp dir)")
    ap.add_argument("--json", metavar="PATH", help="also save the rows as JSON")
    args = ap.parse_args(argv)
    if args.size < 8:
        ap.error("--size must hold at least one int64")

    rows = run(args)
    print()
    print_table(rows)
    print(f"\n{args.repeat} sums each; median [min-max]; max worker RSS: VmHWM during the "
          f"sum; RssAnon/RssFile sampled every {SAMPLE_EVERY * 1000:.0f} ms; target: "
          "worker RSS <= 1 GB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine_info(), "rows": rows}, f, indent=1)
    return 0 if all(r["result"] == "PASS" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
