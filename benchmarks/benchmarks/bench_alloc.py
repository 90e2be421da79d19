"""asv benchmarks: segpy's allocators against glibc malloc/free, at the C level.

The loops are in :mod:`segpy._bench` (nogil C, timed with
``clock_gettime(CLOCK_MONOTONIC)``); each allocator is driven through segpy's
C seam (``Allocator.iface``), and ``glibc`` runs the same loop calling
``malloc``/``free`` directly.  Every suite is parameterised by ``target`` so
that asv shows the allocators and glibc side by side:

``glibc``   malloc/free called directly
``system``  segpy.SystemAllocator (libc underneath: shows the seam's cost)
``heap``    segpy.heap.Heap
``bump``    segpy.bump.BumpAllocator

Allocators not built yet are skipped (``setup`` raises NotImplementedError),
as are measures that do not apply (a bump arena does not reuse freed blocks).
The ``track_*`` functions return ns per operation, measured by the C loop
itself, so asv's own timer overhead does not enter.  Set SEGPY_BENCH_ALLOC_N
to change the block count (default 1_000_000).
"""

from __future__ import annotations

import gc
import os
import time
import warnings

import numpy as np

from .common import SEED

#: Blocks per C-loop benchmark.
N_BLOCKS = int(os.environ.get("SEGPY_BENCH_ALLOC_N", "1_000_000"))
SIZES = np.arange(16, 257, 16)
TARGETS = ["glibc", "system", "heap", "bump"]


def _optional(module, name):
    # The placeholder modules exist but may be empty, hence getattr.
    try:
        mod = __import__(module, fromlist=[name])
    except ImportError:
        return None
    return getattr(mod, name, None)


def make_target(target):
    """A fresh allocator for ``target`` (None for glibc); NotImplementedError if not built."""
    import segpy

    if target == "glibc":
        return None
    if target == "system":
        return segpy.SystemAllocator()
    cls = {"heap": _optional("segpy.heap", "Heap"),
           "bump": _optional("segpy.bump", "BumpAllocator")}[target]
    if cls is None:
        raise NotImplementedError(f"{target} allocator not built")
    return cls()


class _CLoop:
    """Shared timing attributes: one C loop per sample, no asv timing loop."""

    param_names = ["target"]
    params = [TARGETS]
    number = 1
    repeat = (3, 10, 20.0)
    warmup_time = 0.0
    timeout = 300.0
    #: A bump arena never reuses freed blocks; suites that need reuse skip it.
    needs_reuse = False

    def setup(self, target):
        from segpy import _bench

        self.bench = _bench
        self.a = make_target(target)
        self.is_bump = target == "bump"
        if self.needs_reuse and self.is_bump:
            raise NotImplementedError("a bump arena does not reuse freed blocks")
        self.perm = np.random.default_rng(SEED).permutation(N_BLOCKS)
        gc.collect()


class Requests(_CLoop):
    """N requests of 16 B without release in between."""

    def setup(self, target):
        super().setup(target)
        if self.is_bump:
            # One retained block holds every request; reset() rewinds it.
            cls = type(self.a)
            self.a = cls(first_block=((16 * N_BLOCKS + 4096 + (1 << 21) - 1) >> 21) << 21)

    def track_requests_16(self, target):
        ns = self.bench.requests(self.a, 16, N_BLOCKS)   # released afterwards, untimed
        if self.is_bump:
            self.a.reset()
        return ns / N_BLOCKS

    track_requests_16.unit = "ns"


class LifoPairs(_CLoop):
    """N request+release pairs, the size cycling through 16, 32, ..., 256 B."""

    def track_lifo_pairs(self, target):
        return self.bench.lifo_pairs(self.a, SIZES, N_BLOCKS) / N_BLOCKS

    track_lifo_pairs.unit = "ns"


class ReallocAfterRandomFree(_CLoop):
    """N requests after N blocks were freed in random order (target: Heap <= 0.5x glibc)."""

    needs_reuse = True
    params = [TARGETS, [16, 64]]
    param_names = ["target", "size"]

    def setup(self, target, size):
        super().setup(target)

    def track_realloc_after_random_free(self, target, size):
        return self.bench.realloc_after_random_free(self.a, size, N_BLOCKS, self.perm) / N_BLOCKS

    track_realloc_after_random_free.unit = "ns"


class RandomFree(_CLoop):
    """N releases of 64 B blocks in random order (target: Heap <= 1.0x glibc)."""

    needs_reuse = True

    def track_random_free_64(self, target):
        return self.bench.random_free(self.a, 64, N_BLOCKS, self.perm) / N_BLOCKS

    track_random_free_64.unit = "ns"


class BumpResetDestroy:
    """BumpAllocator.reset() and destruction after k requests.

    ``layout`` ``same_bytes`` keeps k * size = 64 MiB (about the same number
    of arena blocks for every k); ``fixed_64`` requests 64 B each (blocks grow
    with k).  The cost should follow blocks, not requests.
    """

    params = [[1_000, 100_000, 1_000_000], ["same_bytes", "fixed_64"]]
    param_names = ["k", "layout"]
    number = 1
    repeat = (3, 10, 20.0)
    warmup_time = 0.0
    timeout = 300.0

    def setup(self, k, layout):
        from segpy import _bench

        self.bench = _bench
        self.cls = _optional("segpy.bump", "BumpAllocator")
        if self.cls is None:
            raise NotImplementedError("bump allocator not built")
        self.size = max(16, ((64 << 20) // k) & ~15) if layout == "same_bytes" else 64

    def _filled(self, k, live):
        # live=False: the k blocks are released again (reset() refuses live
        # allocations), leaving the block chain k requests built.
        b = self.cls()
        if live:
            self.bench.request_only(b, self.size, k)
        else:
            self.bench.requests(b, self.size, k)
        gc.collect()
        return b

    def track_reset(self, k, layout):
        b = self._filled(k, live=False)
        t0 = time.perf_counter_ns()
        b.reset()
        return time.perf_counter_ns() - t0

    track_reset.unit = "ns"

    def track_destroy(self, k, layout):
        b = self._filled(k, live=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter_ns()
            del b  # the last reference: __dealloc__ runs here
            return time.perf_counter_ns() - t0

    track_destroy.unit = "ns"

    def track_n_regions(self, k, layout):
        b = self._filled(k, live=False)
        return b.stats["n_regions"]

    track_n_regions.unit = "regions"
