"""Shared fixtures for segpy's benchmarks (used by the asv suite and report.py).

Everything here is plain Python + numpy, so that ``report.py`` can import it
without asv installed.

Environment knobs (read at import time):

``SEGPY_BENCH_N``
    number of int64 elements in the big benchmarks (default 10_000_000).
``SEGPY_BENCH_CHUNK``
    ndarray chunk length for the ``extend`` benchmarks (default 65_536, as
    report.py's ``--chunk``).
``SEGPY_BENCH_SIZES``
    the sizes of the asv suite ``bench_seglist.py`` (default
    ``1000,100000,1000000``).

The contenders (``IMPLS``), shared by the asv suite and ``report.py``:

``segpy``           segpy.SegmentedList
``list``            a Python list (to_numpy: ``np.array(lst, dtype)``)
``array``           array.array (int64 only: it cannot hold records)
``numpy_doubling``  :class:`NumpyDoubling`, an ndarray grown by doubling
                    (append: the loop written inline, ``_doubling_append``)
``numpy_oneshot``   an ndarray made once at its final size: ``np.empty(n)``
                    filled one by one (append), one ``np.concatenate`` of
                    the chunks (extend), ``ndarray.copy`` (to_numpy)

Each measure is a function of ``(impl, dtype, ...)`` here, so that both tools
time the same code.  A contender that cannot do a measure (array.array with a
record dtype) raises :class:`NotApplicable`.
"""

from __future__ import annotations

import array
import os

import numpy as np

try:
    # Imported here, not in the functions: an ``import`` statement in a
    # timed call costs more than a small SegmentedList's construction.
    import segpy
except ImportError:      # the fixtures that need no segpy still work
    segpy = None

#: Element count of the big benchmarks (int64, so the payload is 8*N bytes).
N = int(os.environ.get("SEGPY_BENCH_N", "10_000_000"))
#: Length of the ndarray chunks fed to ``extend``.
CHUNK = int(os.environ.get("SEGPY_BENCH_CHUNK", "65_536"))
#: Number of random ``lst[i]`` reads per benchmark call.
N_READS = int(os.environ.get("SEGPY_BENCH_READS", "1_000_000"))
DTYPE = np.dtype(np.int64)
#: array.array typecode matching DTYPE.
TYPECODE = "q"
SEED = 20240601

#: The record dtype of the benchmarks: 40 bytes, a typical table row.
RECORD = np.dtype([("id", "<i8"), ("x", "<f8"), ("y", "<f8"), ("z", "<f8"),
                   ("flag", "<i4"), ("pad", "<i4")])
#: The benchmarked dtypes by name.
DTYPES = {"int64": DTYPE, "record": RECORD}
#: Every contender, segpy first.
IMPLS = ["segpy", "list", "array", "numpy_doubling", "numpy_oneshot"]
#: Their names in tables and plots.
LABELS = {"segpy": "segpy", "list": "list + np.array", "array": "array.array",
          "numpy_doubling": "numpy doubling", "numpy_oneshot": "numpy one-shot"}


class NotApplicable(Exception):
    """The contender cannot do this measure (array.array holds no records)."""


def as_dtype(dtype) -> np.dtype:
    """``dtype`` given by name (a key of DTYPES) or as anything np.dtype takes."""
    if type(dtype) is str:
        return DTYPES[dtype] if dtype in DTYPES else np.dtype(dtype)
    # np.dtype(d) is d for a dtype; isinstance(d, np.dtype) would ask the
    # dtype metaclass, which costs as much as a small SegmentedList.
    return np.dtype(dtype)


def check_applicable(impl: str, dtype) -> None:
    """Raise NotApplicable if ``impl`` cannot hold ``dtype``.

    Runs inside timed calls: DTYPE itself (what ``as_dtype("int64")``
    returns) is recognised by identity, before any dtype comparison.
    """
    if impl == "array" and dtype is not DTYPE and as_dtype(dtype) != DTYPE:
        raise NotApplicable("array.array cannot hold records")


def sample_array(dtype, n: int, start: int = 0) -> np.ndarray:
    """``n`` elements of ``dtype``: ``start..start+n-1`` for int64, records
    whose ``id`` is that and whose other fields derive from it."""
    dt = as_dtype(dtype)
    ids = np.arange(start, start + n, dtype=np.int64)
    if dt == DTYPE:
        return ids
    out = np.empty(n, dtype=dt)
    for name in dt.names:
        out[name] = ids
    return out


def append_values(dtype, n: int, fresh: bool = False):
    """What the append loops append: ``range(n)`` for int64, else ``n``
    tuples, one per record: a list made before the clock starts, or with
    ``fresh`` a generator making each tuple as it is appended (the peak-RSS
    runs: a list then pays for its tuples, as it pays for its ints)."""
    if as_dtype(dtype) == DTYPE:
        return range(n)
    if fresh:
        return ((i, float(i), float(i), float(i), i, i) for i in range(n))
    return sample_array(dtype, n).tolist()


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


class NumpyDoubling:
    """The "numpy amortised doubling" baseline.

    A growable wrapper around one ndarray: when full, capacity doubles, a new
    ndarray is allocated with ``np.empty`` and the live prefix copied over
    (the old buffer is then freed).  Same strategy as CPython's list or
    ``std::vector`` but with an 8-byte payload per element.
    """

    # _cap mirrors _buf.shape[0]: append reads a slot, not an attribute of
    # the array and a tuple item (about a third of its time).
    __slots__ = ("_buf", "_cap", "_n")

    def __init__(self, dtype=DTYPE, capacity: int = 16):
        self._buf = np.empty(max(int(capacity), 1), dtype=dtype)
        self._n = 0
        self._cap = self._buf.shape[0]

    def _grow(self, need: int) -> None:
        cap = self._cap
        while cap < need:
            cap *= 2
        new = np.empty(cap, dtype=self._buf.dtype)
        new[: self._n] = self._buf[: self._n]
        self._buf = new
        self._cap = cap

    def append(self, x) -> None:
        n = self._n
        if n == self._cap:
            self._grow(n + 1)
        self._buf[n] = x
        self._n = n + 1

    def extend(self, arr) -> None:
        arr = np.asarray(arr, dtype=self._buf.dtype)
        n, k = self._n, arr.shape[0]
        if n + k > self._cap:
            self._grow(n + k)
        self._buf[n : n + k] = arr
        self._n = n + k

    def reserve(self, n: int) -> None:
        if n > self._cap:
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

    def array(self) -> np.ndarray:
        """The live elements as an ndarray view (no copy)."""
        return self._buf[: self._n]

    @property
    def capacity(self) -> int:
        return self._buf.shape[0]


# --------------------------------------------------------------------------
# The measures, one function per measure taking the contender's name.  Each
# returns what it built, so that the caller frees it outside the timing.

def new_segpy(dtype=DTYPE):
    return segpy.SegmentedList(as_dtype(dtype))


def append_loop(lst, values=N):
    """``ap = lst.append; for x in values: ap(x)`` (an int means ``range``); returns ``lst``."""
    ap = lst.append
    for x in range(values) if isinstance(values, int) else values:
        ap(x)
    return lst


def new_container(impl: str, dtype=DTYPE):
    """An empty growable container of ``impl`` (not numpy_oneshot: it has no growth)."""
    check_applicable(impl, dtype)
    if impl == "segpy":
        return new_segpy(dtype)
    if impl == "list":
        return []
    if impl == "array":
        return array.array(TYPECODE)
    if impl == "numpy_doubling":
        return NumpyDoubling(as_dtype(dtype))
    raise ValueError(impl)


def append_all(impl: str, dtype, values, n: int):
    """``n`` elements appended one at a time from ``values`` (see append_values).

    numpy_oneshot knows ``n`` up front: ``np.empty(n)`` then ``a[i] = x``.
    """
    check_applicable(impl, dtype)
    if impl == "numpy_oneshot":
        a = np.empty(n, dtype=as_dtype(dtype))
        for i, x in enumerate(range(values) if isinstance(values, int) else values):
            a[i] = x
        return a
    if impl == "numpy_doubling":
        return _doubling_append(as_dtype(dtype), values)
    return append_loop(new_container(impl, dtype), values)


def _doubling_append(dtype, values) -> NumpyDoubling:
    """numpy doubling as a user writes it by hand, inline in the loop.

    A call of :meth:`NumpyDoubling.append` per element (a Python frame and
    three attribute reads) made this peer about 1.6x slower than the same
    loop written inline, which is the code the benchmark stands for.  The
    growth is :meth:`NumpyDoubling._grow`'s: double, ``np.empty``, copy.
    """
    d = NumpyDoubling(dtype)
    buf, cap, n = d._buf, d._cap, 0
    for x in range(values) if isinstance(values, int) else values:
        if n == cap:
            d._n = n
            d._grow(n + 1)
            buf, cap = d._buf, d._cap
        buf[n] = x
        n += 1
    d._n = n
    return d


def extend_all(impl: str, dtype, chunks, bchunks=None):
    """A new container of ``impl`` extended by every ndarray of ``chunks``.

    array: ``frombytes`` of each chunk's uint8 view (``bchunks``, made
    untimed); list: ``list.extend(chunk.tolist())``, Python ints or tuples as
    ``np.array`` later wants them; numpy_oneshot: one ``np.concatenate``.
    """
    # What runs here is timed: no dtype lookups before the container's own
    # work when the caller passes a numpy dtype (report.py does), which is
    # what array.array's branch pays for its typecode.
    if type(dtype) is str:
        dtype = as_dtype(dtype)
    check_applicable(impl, dtype)
    if impl == "segpy":
        lst = segpy.SegmentedList(dtype)
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
            ext(c.tolist())
        return lst
    if impl == "numpy_doubling":
        d = NumpyDoubling(as_dtype(dtype))
        for c in chunks:
            d.extend(c)
        return d
    if impl == "numpy_oneshot":
        return np.concatenate(chunks)
    raise ValueError(impl)


def build_filled(impl: str, n: int = N, dtype=DTYPE, data=None):
    """A container of ``impl`` holding ``sample_array(dtype, n)`` (built the fast way).

    ``data``, if given, is that array, made by the caller (numpy_oneshot's
    container is then ``data`` itself).
    """
    check_applicable(impl, dtype)
    if data is None:
        data = sample_array(dtype, n)
    if impl == "segpy":
        lst = new_segpy(dtype)
        lst.extend(data)
        return lst
    if impl == "list":
        return data.tolist()
    if impl == "array":
        a = array.array(TYPECODE)
        a.frombytes(data.view(np.uint8))
        return a
    if impl == "numpy_doubling":
        d = NumpyDoubling(as_dtype(dtype))
        d.extend(data)
        return d
    if impl == "numpy_oneshot":
        return data
    raise ValueError(impl)


def readable(impl: str, container):
    """What the read measures index and iterate: the container, or for
    numpy_doubling the ndarray of its live elements (a numpy user reads the
    array, not the Python wrapper)."""
    return container.array() if impl == "numpy_doubling" else container


def get_loop(c, idx) -> None:
    """``for i in idx: c[i]``."""
    for i in idx:
        c[i]


def iterate(c) -> None:
    """``for x in c: pass``."""
    for _x in c:
        pass


def to_numpy(impl: str, dtype, c) -> np.ndarray:
    """A new contiguous ndarray of ``c``'s elements: ``to_numpy()`` (segpy and
    numpy doubling), ``np.array(lst, dtype)``, ``np.frombuffer(a, dtype).copy()``,
    ``ndarray.copy()``."""
    if impl in ("segpy", "numpy_doubling"):
        return c.to_numpy()
    if impl == "list":
        return np.array(c, dtype=as_dtype(dtype))
    if impl == "array":
        return np.frombuffer(c, dtype=DTYPE).copy()
    if impl == "numpy_oneshot":
        return c.copy()
    raise ValueError(impl)


# --------------------------------------------------------------------------
# Peak RSS of appending N elements one by one, measured in a fresh process.

_RSS_CHILD = r"""
import gc, json, os, resource, sys, time
sys.path.insert(0, sys.argv[4])
from benchmarks.common import append_all, append_values

def status_kb(key):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None

impl, dtype, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
import numpy, array
if impl == "segpy":
    import segpy
values = append_values(dtype, n, fresh=True)
gc.collect()
# Reset the high-water mark so that import-time transients and the values
# do not count (Linux >= 4.0); otherwise fall back on ru_maxrss, which
# cannot be reset.
method = "VmHWM"
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
except OSError:
    method = "ru_maxrss"
base_kb = status_kb("VmRSS")
gc.disable()
t0 = time.perf_counter()
lst = append_all(impl, dtype, values, n)
seconds = time.perf_counter() - t0
if method == "VmHWM":
    peak_kb = status_kb("VmHWM")
else:
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
end_kb = status_kb("VmRSS")
print(json.dumps({"impl": impl, "dtype": dtype, "n": n, "method": method,
                  "base_kb": base_kb, "peak_kb": peak_kb, "end_kb": end_kb,
                  "len": len(lst), "seconds": seconds}))
# Skip the interpreter's teardown: freeing a list of 10^8 ints one by one
# took seconds, and nothing is measured after this.
sys.stdout.flush()
os._exit(0)
"""


def append_peak_rss(impl: str, n: int = N, dtype: str = "int64") -> dict:
    """Append ``n`` elements one by one into a new ``impl`` container in a
    fresh interpreter (``append_all``); return a dict with the peak RSS
    growth (bytes) over the RSS just before building, ``ratio`` = growth /
    payload (``n * itemsize``) and ``seconds``, the append loop's time (the
    cyclic GC off)."""
    import json
    import subprocess
    import sys

    check_applicable(impl, dtype)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    out = subprocess.run(
        [sys.executable, "-P", "-c", _RSS_CHILD, impl, dtype, str(n), here],
        check=True, capture_output=True, text=True, cwd=os.path.expanduser("~"), env=env,
    ).stdout
    r = json.loads(out.strip().splitlines()[-1])
    if r["len"] != n:
        raise RuntimeError(f"{impl}: built {r['len']} elements, expected {n}")
    r["growth_bytes"] = (r["peak_kb"] - r["base_kb"]) * 1024
    r["payload_bytes"] = n * as_dtype(dtype).itemsize
    r["ratio"] = r["growth_bytes"] / r["payload_bytes"]
    return r
