"""Shared fixtures for segpy's benchmarks (used by the asv suite and report.py).

Everything here is plain Python + numpy, so that ``report.py`` can import it
without asv installed.

Environment knobs (read at import time):

``SEGPY_BENCH_N``
    number of int64 elements in the big benchmarks (default 10_000_000).
``SEGPY_BENCH_CHUNK``
    ndarray chunk length for the ``extend`` benchmarks (default 1_000_000).
"""

from __future__ import annotations

import array
import os

import numpy as np

#: Element count of the big benchmarks (int64, so the payload is 8*N bytes).
N = int(os.environ.get("SEGPY_BENCH_N", "10_000_000"))
#: Length of the ndarray chunks fed to ``extend``.
CHUNK = int(os.environ.get("SEGPY_BENCH_CHUNK", "1_000_000"))
#: Number of random ``lst[i]`` reads per benchmark call.
N_READS = int(os.environ.get("SEGPY_BENCH_READS", "1_000_000"))
DTYPE = np.dtype(np.int64)
#: array.array typecode matching DTYPE.
TYPECODE = "q"
SEED = 20240601


def make_chunks(n: int = N, chunk: int = CHUNK) -> list[np.ndarray]:
    """``n`` consecutive int64 values as a list of contiguous ndarrays of ``chunk``."""
    return [np.arange(s, min(s + chunk, n), dtype=DTYPE) for s in range(0, n, chunk)]


def byte_views(chunks: list[np.ndarray]) -> list[np.ndarray]:
    """Zero-copy uint8 views of ``chunks``.

    ``array.frombytes`` refuses buffers whose itemsize is not 1 ("a bytes-like
    object is required"), so the array.array baseline is given these views:
    still no copy before frombytes' own memcpy.
    """
    return [c.view(np.uint8) for c in chunks]


def random_indices(n: int = N, count: int = N_READS, seed: int = SEED) -> list[int]:
    """``count`` random indices in ``[0, n)`` as a list of Python ints (same for all)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=count, dtype=np.int64).tolist()


def filled_array(n: int = N) -> array.array:
    a = array.array(TYPECODE)
    a.frombytes(np.arange(n, dtype=DTYPE).view(np.uint8))
    return a


class NumpyDoubling:
    """The "numpy amortised doubling" baseline.

    A growable wrapper around one ndarray: when full, capacity doubles, a new
    ndarray is allocated with ``np.empty`` and the live prefix copied over
    (the old buffer is then freed).  Same strategy as CPython's list or
    ``std::vector`` but with an 8-byte payload per element.
    """

    __slots__ = ("_buf", "_n")

    def __init__(self, dtype=DTYPE, capacity: int = 16):
        self._buf = np.empty(max(int(capacity), 1), dtype=dtype)
        self._n = 0

    def _grow(self, need: int) -> None:
        cap = self._buf.shape[0]
        while cap < need:
            cap *= 2
        new = np.empty(cap, dtype=self._buf.dtype)
        new[: self._n] = self._buf[: self._n]
        self._buf = new

    def append(self, x) -> None:
        n = self._n
        if n == self._buf.shape[0]:
            self._grow(n + 1)
        self._buf[n] = x
        self._n = n + 1

    def extend(self, arr) -> None:
        arr = np.asarray(arr, dtype=self._buf.dtype)
        n, k = self._n, arr.shape[0]
        if n + k > self._buf.shape[0]:
            self._grow(n + k)
        self._buf[n : n + k] = arr
        self._n = n + k

    def reserve(self, n: int) -> None:
        if n > self._buf.shape[0]:
            self._grow(n)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):
        # Bounds/negative handling as for a list, boxed to a Python int like
        # segpy and array.array do.
        n = self._n
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("index out of range")
        return self._buf.item(i)

    def __iter__(self):
        # A memoryview over the live prefix yields Python ints without a
        # full-size temporary (ndarray iteration would yield numpy scalars).
        return iter(memoryview(self._buf[: self._n]))

    def to_numpy(self) -> np.ndarray:
        return self._buf[: self._n].copy()

    @property
    def capacity(self) -> int:
        return self._buf.shape[0]


# --------------------------------------------------------------------------
# Contender builders shared by asv and report.py.  Each takes the data and
# returns the finished container, so the caller can free it outside timing.

def new_segpy():
    import segpy

    return segpy.SegmentedList(DTYPE)


def append_loop(lst, n: int = N):
    """``ap = lst.append; for x in range(n): ap(x)`` -- returns ``lst``."""
    ap = lst.append
    for x in range(n):
        ap(x)
    return lst


def new_container(impl: str):
    if impl == "segpy":
        return new_segpy()
    if impl == "list":
        return []
    if impl == "array":
        return array.array(TYPECODE)
    if impl == "numpy_doubling":
        return NumpyDoubling(DTYPE)
    raise ValueError(impl)


def build_filled(impl: str, n: int = N):
    """A container of ``impl`` holding ``0..n-1`` (built the fast way)."""
    data = np.arange(n, dtype=DTYPE)
    if impl == "segpy":
        lst = new_segpy()
        lst.extend(data)
        return lst
    if impl == "list":
        return data.tolist()
    if impl == "array":
        a = array.array(TYPECODE)
        a.frombytes(data.view(np.uint8))
        return a
    if impl == "numpy_doubling":
        d = NumpyDoubling(DTYPE)
        d.extend(data)
        return d
    raise ValueError(impl)


def extend_chunks(impl: str, chunks, bchunks=None):
    """Extend a *new* container of ``impl`` by every chunk; return it."""
    if impl == "segpy":
        lst = new_segpy()
        ext = lst.extend
        for c in chunks:
            ext(c)
        return lst
    if impl == "array":
        a = array.array(TYPECODE)
        fb = a.frombytes
        for c in bchunks if bchunks is not None else byte_views(chunks):
            fb(c)
        return a
    if impl == "list":
        lst = []
        ext = lst.extend
        for c in chunks:
            ext(c)  # iterates the ndarray: numpy int64 scalars end up in the list
        return lst
    if impl == "numpy_doubling":
        d = NumpyDoubling(DTYPE)
        for c in chunks:
            d.extend(c)
        return d
    if impl == "np_concatenate":
        return np.concatenate(chunks)
    raise ValueError(impl)


# --------------------------------------------------------------------------
# Peak RSS of appending N elements one by one, measured in a fresh process.

_RSS_CHILD = r"""
import gc, json, os, resource, sys
sys.path.insert(0, sys.argv[3])
from benchmarks.common import append_loop, new_container

def status_kb(key):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None

impl, n = sys.argv[1], int(sys.argv[2])
import numpy, array
if impl == "segpy":
    import segpy
lst = new_container(impl)
gc.collect()
# Reset the high-water mark so that import-time transients do not count
# (Linux >= 4.0); otherwise fall back on ru_maxrss, which cannot be reset.
method = "VmHWM"
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
except OSError:
    method = "ru_maxrss"
base_kb = status_kb("VmRSS")
if method == "VmHWM":
    hwm0 = status_kb("VmHWM")
append_loop(lst, n)
if method == "VmHWM":
    peak_kb = status_kb("VmHWM")
else:
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
end_kb = status_kb("VmRSS")
print(json.dumps({"impl": impl, "n": n, "method": method, "base_kb": base_kb,
                  "peak_kb": peak_kb, "end_kb": end_kb, "len": len(lst)}))
"""


def append_peak_rss(impl: str, n: int = N, itemsize: int = DTYPE.itemsize) -> dict:
    """Append ``n`` ints one by one into a new ``impl`` container in a fresh
    interpreter; return a dict with the peak RSS growth (bytes) over the RSS
    just before building, and ``ratio`` = growth / payload (``n * itemsize``)."""
    import json
    import subprocess
    import sys

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    out = subprocess.run(
        [sys.executable, "-P", "-c", _RSS_CHILD, impl, str(n), here],
        check=True, capture_output=True, text=True, cwd=os.path.expanduser("~"), env=env,
    ).stdout
    r = json.loads(out.strip().splitlines()[-1])
    if r["len"] != n:
        raise RuntimeError(f"{impl}: built {r['len']} elements, expected {n}")
    r["growth_bytes"] = (r["peak_kb"] - r["base_kb"]) * 1024
    r["payload_bytes"] = n * itemsize
    r["ratio"] = r["growth_bytes"] / r["payload_bytes"]
    return r
