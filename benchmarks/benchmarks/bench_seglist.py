"""asv benchmarks: segpy.SegmentedList against its baselines, over dtype and size.

Every suite is parameterised by ``impl``, ``dtype`` and ``n`` and holds segpy
*and* its baselines, the same contenders as ``report.py`` (both call the
functions of common.py), so that ``asv compare`` and the html view show them
side by side:

``segpy``           segpy.SegmentedList
``list``            a Python list (to_numpy: ``np.array(lst, dtype)``)
``array``           array.array('q'); skipped for records, which it cannot hold
``numpy_doubling``  common.NumpyDoubling (ndarray, capacity doubled by copy)
``numpy_oneshot``   an ndarray made at its final size: ``np.empty(n)`` filled
                    (append), ``np.concatenate`` (extend), ``ndarray.copy``

``dtype`` is ``int64`` or ``record`` (common.RECORD, 40 bytes).  The sizes
come from SEGPY_BENCH_SIZES (default ``1000,100000,1000000``).

The suites use ``number = 1`` so that asv re-runs ``setup`` and ``teardown``
around every sample: each sample builds a fresh container and freeing it
happens in ``teardown``, outside the timing.
"""

from __future__ import annotations

import gc
import os

from . import common
from .common import (
    CHUNK,
    IMPLS,
    NotApplicable,
    append_all,
    append_values,
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

DTYPE_NAMES = ["int64", "record"]
SIZES = [int(float(s)) for s in
         os.environ.get("SEGPY_BENCH_SIZES", "1000,100000,1000000").split(",") if s.strip()]


class _Suite:
    """Timing attributes and the parameter grid shared by every suite."""

    params = [IMPLS, DTYPE_NAMES, SIZES]
    param_names = ["impl", "dtype", "n"]
    number = 1
    repeat = (3, 10, 20.0)  # min samples, max samples, max seconds
    warmup_time = 0.0
    timeout = 600.0

    def _applicable(self, impl, dtype):
        # asv reports a setup that raises NotImplementedError as skipped.
        try:
            check_applicable(impl, dtype)
        except NotApplicable as e:
            raise NotImplementedError(str(e)) from None


# A filled container is expensive to build (a 1M-element list of records
# takes about a second), and asv re-runs setup before every sample when
# number == 1, so the read-only suites cache the one they are using.
_FILLED: dict = {}


def _filled(impl, dtype, n):
    key = (impl, dtype, n)
    if key not in _FILLED:
        _FILLED.clear()
        gc.collect()
        _FILLED[key] = build_filled(impl, n, common.as_dtype(dtype))
    return _FILLED[key]


class Append(_Suite):
    """``ap = c.append; for x in values: ap(x)`` into a new container
    (numpy_oneshot: ``a[i] = x`` into ``np.empty(n)``)."""

    def setup(self, impl, dtype, n):
        self._applicable(impl, dtype)
        self.out = None
        self.values = append_values(dtype, n)
        # The payload's first use in a process pays page faults that later
        # ones do not: one untimed round puts every contender on the same
        # footing.
        append_all(impl, dtype, self.values, n)

    def teardown(self, impl, dtype, n):
        self.out = None

    def time_append(self, impl, dtype, n):
        self.out = append_all(impl, dtype, self.values, n)


class AppendMemory(_Suite):
    """Peak RSS while appending n elements one by one.

    ``peakmem_append`` is asv's own measure: the benchmark process's peak RSS,
    which includes the interpreter, numpy and segpy (~25-30 MB).
    ``track_rss_over_payload`` runs a fresh interpreter and reports
    (peak RSS - RSS just before building) / payload, as report.py does.
    """

    def setup(self, impl, dtype, n):
        self._applicable(impl, dtype)

    def peakmem_append(self, impl, dtype, n):
        append_all(impl, dtype, append_values(dtype, n), n)

    def track_rss_over_payload(self, impl, dtype, n):
        return common.append_peak_rss(impl, n, dtype)["ratio"]

    track_rss_over_payload.unit = "x payload"


class Extend(_Suite):
    """A new container extended by ``n`` elements in CHUNK-element ndarrays.

    array: ``frombytes`` of each chunk's uint8 view (frombytes refuses
    itemsize != 1); list: ``list.extend(chunk.tolist())``; numpy_oneshot: one
    ``np.concatenate`` of all chunks.
    """

    def setup(self, impl, dtype, n):
        self._applicable(impl, dtype)
        self.out = None
        self.chunks = [sample_array(dtype, min(CHUNK, n - s), s) for s in range(0, n, CHUNK)]
        self.bchunks = byte_views(self.chunks)
        extend_all(impl, dtype, self.chunks, self.bchunks)     # warm, untimed

    def teardown(self, impl, dtype, n):
        self.out = None

    def time_extend(self, impl, dtype, n):
        self.out = extend_all(impl, dtype, self.chunks, self.bchunks)


class GetItem(_Suite):
    """``for i in idx: c[i]`` with min(max(n, 1e5), 1e6) random Python-int indices.

    numpy_doubling and numpy_oneshot index their ndarray.
    """

    def setup(self, impl, dtype, n):
        self._applicable(impl, dtype)
        self.c = readable(impl, _filled(impl, dtype, n))
        self.idx = random_indices(n, min(max(n, 100_000), common.N_READS))

    def time_getitem(self, impl, dtype, n):
        get_loop(self.c, self.idx)


class Iterate(_Suite):
    """``for x in c: pass`` over n elements (the ndarray for the numpy ones)."""

    def setup(self, impl, dtype, n):
        self._applicable(impl, dtype)
        self.c = readable(impl, _filled(impl, dtype, n))

    def time_iterate(self, impl, dtype, n):
        iterate(self.c)


class ToNumpy(_Suite):
    """A new contiguous ndarray of the n elements.

    segpy: ``lst.to_numpy()``; list: ``np.array(lst, dtype)``; array:
    ``np.frombuffer(a, int64).copy()``; numpy_doubling: a copy of the live
    prefix; numpy_oneshot: ``ndarray.copy()``.
    """

    def setup(self, impl, dtype, n):
        self._applicable(impl, dtype)
        self.out = None
        self.src = _filled(impl, dtype, n)
        to_numpy(impl, dtype, self.src)   # warm: first touch of a fresh block

    def teardown(self, impl, dtype, n):
        self.out = None

    def time_to_numpy(self, impl, dtype, n):
        self.out = to_numpy(impl, dtype, self.src)
