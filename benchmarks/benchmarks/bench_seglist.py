"""asv benchmarks: segpy.SegmentedList against its baselines.

Every suite is parameterised by ``impl`` and holds segpy *and* its baselines,
so that ``asv compare`` / the html view shows them side by side:

``segpy``           segpy.SegmentedList(int64)
``list``            a Python list
``array``           array.array('q')
``numpy_doubling``  common.NumpyDoubling (ndarray, capacity doubled by copy)

plus suite-specific extras (``np_concatenate`` for extend, ``ndarray_copy``
for to_numpy).  Sizes come from common.py (N = 10M int64 by default; set
SEGPY_BENCH_N to change it).

The big benchmarks use ``number = 1`` so that asv re-runs ``setup`` and
``teardown`` around every sample: each sample builds a fresh container and
freeing it happens in ``teardown``, outside the timing.
"""

from __future__ import annotations

import gc

import numpy as np

from . import common
from .common import (
    CHUNK,
    DTYPE,
    N,
    append_loop,
    build_filled,
    byte_views,
    extend_chunks,
    make_chunks,
    new_container,
    random_indices,
)

BASE_IMPLS = ["segpy", "list", "array", "numpy_doubling"]


class _Big:
    """Timing attributes shared by the 10M-element suites."""

    number = 1
    repeat = (3, 10, 20.0)  # min samples, max samples, max seconds
    warmup_time = 0.0
    timeout = 600.0
    param_names = ["impl"]


# A filled container is expensive to build (a 10M-element list takes ~1 s and
# ~400 MB), and asv re-runs setup before every sample when number == 1, so the
# read-only suites cache the one they are using at module level.
_FILLED: dict = {}


def _filled(impl):
    if impl not in _FILLED:
        _FILLED.clear()
        gc.collect()
        _FILLED[impl] = build_filled(impl, N)
    return _FILLED[impl]


class Append(_Big):
    """``ap = lst.append; for x in range(N): ap(x)`` into a new container."""

    params = [BASE_IMPLS]

    def setup(self, impl):
        self.out = None
        # The payload's first use in a process pays page-fault / THP costs that
        # later ones do not: one untimed round puts every contender on the
        # same footing.
        if not getattr(self, "_warmed", False):
            append_loop(new_container(impl), N)
            self._warmed = True

    def teardown(self, impl):
        self.out = None

    def time_append(self, impl):
        self.out = append_loop(new_container(impl), N)


class AppendMemory:
    """Peak RSS while appending N int64 one by one.

    ``peakmem_append`` is asv's own measure: the benchmark process's peak RSS,
    which includes the interpreter, numpy and segpy (~25-30 MB).
    ``track_rss_over_payload`` runs a fresh interpreter and reports
    (peak RSS - RSS just before building) / (8 * N): the figure the memory
    target (<= 1.10 for segpy) is about.
    """

    params = [BASE_IMPLS]
    param_names = ["impl"]
    timeout = 600.0

    def peakmem_append(self, impl):
        append_loop(new_container(impl), N)

    def track_rss_over_payload(self, impl):
        return common.append_peak_rss(impl, N)["ratio"]

    track_rss_over_payload.unit = "x payload"


class Extend(_Big):
    """Extend a new container by N int64 in CHUNK-element ndarray chunks.

    ``array`` is ``array.frombytes`` per chunk (on a zero-copy uint8 view of the
    ndarray: frombytes refuses itemsize != 1), ``list`` is ``list.extend`` of
    the ndarray (numpy scalars), ``np_concatenate`` is one ``np.concatenate``
    of all chunks.
    """

    params = [["segpy", "array", "list", "numpy_doubling", "np_concatenate"]]

    def setup(self, impl):
        self.out = None
        self.chunks = make_chunks(N, CHUNK)
        self.bchunks = byte_views(self.chunks)
        if not getattr(self, "_warmed", False):
            extend_chunks(impl, self.chunks, self.bchunks)
            self._warmed = True

    def teardown(self, impl):
        self.out = None

    def time_extend(self, impl):
        self.out = extend_chunks(impl, self.chunks, self.bchunks)


class GetItem(_Big):
    """``for i in idx: lst[i]`` with N_READS random Python-int indices."""

    params = [BASE_IMPLS]

    def setup(self, impl):
        self.lst = _filled(impl)
        self.idx = random_indices(N, common.N_READS)

    def time_getitem(self, impl):
        lst = self.lst
        for i in self.idx:
            lst[i]


class Iterate(_Big):
    """``for x in lst: pass`` over N elements."""

    params = [BASE_IMPLS]

    def setup(self, impl):
        self.lst = _filled(impl)

    def time_iterate(self, impl):
        for _x in self.lst:
            pass


class ToNumpy(_Big):
    """A fresh contiguous int64 ndarray holding the N elements.

    ``segpy``: ``lst.to_numpy()``; ``ndarray_copy``: ``ndarray.copy()`` of an
    equal contiguous array (the target's baseline); ``list``:
    ``np.array(list)``; ``array``: ``np.frombuffer(a, int64).copy()``;
    ``numpy_doubling``: copy of the live prefix.
    """

    params = [["segpy", "ndarray_copy", "list", "array", "numpy_doubling"]]

    def setup(self, impl):
        self.out = None
        if impl == "ndarray_copy":
            self.src = np.arange(N, dtype=DTYPE)
        else:
            self.src = _filled(impl)
        self.time_to_numpy(impl)  # warm: first touch of a fresh 8N-byte block
        self.out = None

    def teardown(self, impl):
        self.out = None

    def time_to_numpy(self, impl):
        src = self.src
        if impl == "segpy" or impl == "numpy_doubling":
            self.out = src.to_numpy()
        elif impl == "ndarray_copy":
            self.out = src.copy()
        elif impl == "list":
            self.out = np.array(src, dtype=DTYPE)
        elif impl == "array":
            self.out = np.frombuffer(src, dtype=DTYPE).copy()
        else:
            raise ValueError(impl)
