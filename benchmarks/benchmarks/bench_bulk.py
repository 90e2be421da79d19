"""asv benchmarks: segpy's numpy-style bulk access, reductions, sort and pickle.

Every suite is parameterised by ``impl`` and holds segpy and its numpy
baseline (the one the target is stated against), so the html view
and ``asv compare`` show them side by side:

``segpy``     a SegmentedList of N elements
``ndarray``   an equal contiguous ndarray

Sizes come from common.py (N = 10M by default; SEGPY_BENCH_N changes it).
The filled containers are cached at module level, so asv's per-sample setup
does not rebuild them.  ``benchmarks/seq_report.py`` checks the targets.
"""

from __future__ import annotations

import gc
import pickle

import numpy as np

import segpy

from .common import SEED, N

IMPLS = ["segpy", "ndarray"]

_CACHE: dict = {}


def _data(dtype: str) -> tuple:
    """(SegmentedList, ndarray) of N equal elements of ``dtype`` (cached, one dtype at a time)."""
    if dtype not in _CACHE:
        _CACHE.clear()
        gc.collect()
        rng = np.random.default_rng(SEED)
        ref = rng.random(N) if dtype == "float64" else np.arange(N, dtype=dtype)
        lst = segpy.SegmentedList(dtype)
        lst.extend(ref)
        _CACHE[dtype] = (lst, ref)
    return _CACHE[dtype]


def _pick(impl, dtype="int64"):
    lst, ref = _data(dtype)
    return lst if impl == "segpy" else ref


class _Bulk:
    number = 1
    repeat = (3, 10, 20.0)
    warmup_time = 0.0
    timeout = 600.0


class Take(_Bulk):
    """``lst.take(idx)`` vs ``ndarray[idx]``: 1M random int64 indices (target <= 1.5)."""

    params = [IMPLS]
    param_names = ["impl"]

    def setup(self, impl):
        self.c = _pick(impl)
        self.idx = np.random.default_rng(SEED).integers(0, N, min(N, 1_000_000))

    def time_take(self, impl):
        if impl == "segpy":
            self.c.take(self.idx)
        else:
            self.c[self.idx]


class Mask(_Bulk):
    """``lst[mask]`` (``_getitem_fancy``) vs ``ndarray[mask]``, a random half of N."""

    params = [IMPLS]
    param_names = ["impl"]

    def setup(self, impl):
        self.c = _pick(impl)
        self.mask = np.random.default_rng(SEED).random(N) < 0.5

    def time_mask(self, impl):
        if impl == "segpy":
            segpy.seglist._getitem_fancy(self.c, self.mask)
        else:
            self.c[self.mask]


class ToNumpyRange(_Bulk):
    """``lst.to_numpy(N//3, 2*N//3)`` vs ``ndarray[N//3:2*N//3].copy()``."""

    params = [IMPLS]
    param_names = ["impl"]

    def setup(self, impl):
        self.c = _pick(impl)

    def time_to_numpy_range(self, impl):
        if impl == "segpy":
            self.c.to_numpy(N // 3, 2 * N // 3)
        else:
            self.c[N // 3:2 * N // 3].copy()


class Reduce(_Bulk):
    """``sum()`` (target <= 1.2), ``min()``, ``max()`` of N elements."""

    params = [IMPLS, ["sum", "min", "max"], ["int64", "float64"]]
    param_names = ["impl", "op", "dtype"]

    def setup(self, impl, op, dtype):
        self.f = getattr(_pick(impl, dtype), op)

    def time_reduce(self, impl, op, dtype):
        self.f()


class Sort(_Bulk):
    """Sort N random float64 (target <= 1.3 of ``np.sort``).

    ``segpy``: ``lst.sort()`` of a fresh copy; ``np_sort``: ``np.sort(arr)``
    (copies, then sorts); ``ndarray_sort``: in-place ``arr.sort()`` of a
    fresh copy.  The copies are made in setup, untimed.
    """

    params = [["segpy", "np_sort", "ndarray_sort"]]
    param_names = ["impl"]

    def setup(self, impl):
        lst, ref = _data("float64")
        self.out = None
        if impl == "segpy":
            self.c = lst.copy()
        elif impl == "ndarray_sort":
            self.c = ref.copy()
        else:
            self.c = ref

    def teardown(self, impl):
        self.c = self.out = None

    def time_sort(self, impl):
        if impl == "np_sort":
            self.out = np.sort(self.c)
        else:
            self.c.sort()


class Pickle(_Bulk):
    """``pickle.dumps`` / ``loads`` of N int64 (protocol 5 in band, and 4)."""

    params = [IMPLS, [4, 5]]
    param_names = ["impl", "protocol"]

    def setup(self, impl, protocol):
        self.c = _pick(impl)
        self.data = pickle.dumps(self.c, protocol=protocol)

    def time_dumps(self, impl, protocol):
        pickle.dumps(self.c, protocol=protocol)

    def time_loads(self, impl, protocol):
        pickle.loads(self.data)
