"""Reference and memory leaks at the boundary between Python and segpy's C core.

Three probes, each run over the boundary functions (construction, append,
extend from each source kind, indexing, setitem, copy, to_numpy, segments,
allocate/release, and the error paths of each):

- ``sys.getrefcount`` of every object passed in (values, dtypes, iterables,
  arrays, allocators, indices) is the same after 100 calls as before;
- ``tracemalloc``: after a warm-up, some round of 500 calls does not grow
  traced Python memory by 4 KiB (a leaked object per call grows every round
  by >= 8 KiB);
- ``weakref``: lists, allocators and blocks die when their last reference
  goes, after views, iterators and failed calls.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
import weakref

import numpy as np
import pytest

import segpy
from segpy import BufferAllocator, Heap, SegmentedList, SystemAllocator

from seg_support import ALLOCATORS

BIG = 2**64 + 12345                    # too big for int64; not a cached small int
VALUE_F = 1234.5
DT = np.dtype("q")
REC_DT = np.dtype([("a", "<i4"), ("b", "<f8")])
ARR = np.arange(100, dtype=np.int64)
ARR_CAST = np.arange(100, dtype=np.int16)
LIST_VALUES = list(range(100))
REC_VALUE = (7, 2.5)
IDX = 2**40 + 1                        # an out-of-range index object
BAD_STR = "not a number"


def _calls(a):
    """(name, call, objects passed in) for each boundary function; `a` is the allocator."""
    x = SegmentedList(DT, range(10), allocator=a)
    r = SegmentedList(REC_DT, [REC_VALUE], allocator=a)
    f = SegmentedList("f8", [1.0], allocator=a)

    def expect(exc, fn, *args):
        try:
            fn(*args)
        except exc:
            pass
        else:   # pragma: no cover
            raise AssertionError(f"{fn} did not raise {exc}")

    def churn_append():
        x.append(BIG >> 8)
        x.clear()

    return [
        ("construct", lambda: SegmentedList(DT, LIST_VALUES, allocator=a), [DT, LIST_VALUES, a]),
        ("append-int", churn_append, [x]),
        ("append-float", lambda: (f.append(VALUE_F), f.clear()), [VALUE_F]),
        ("append-record", lambda: (r.append(REC_VALUE), r.clear()), [REC_VALUE]),
        ("extend-list", lambda: (x.extend(LIST_VALUES), x.clear()), [LIST_VALUES]),
        ("extend-array", lambda: (x.extend(ARR), x.clear()), [ARR]),
        ("extend-array-cast", lambda: (x.extend(ARR_CAST), x.clear()), [ARR_CAST]),
        ("setitem", lambda: (x.append(0), x.__setitem__(0, BIG >> 8), x.clear()), []),
        ("getitem", lambda: (x.append(0), x[0], x[-1], x.clear()), []),
        ("copy", lambda: x.copy(), [x]),
        ("to_numpy", lambda: x.to_numpy(), [x]),
        ("segments", lambda: (x.append(1), x.segments(), x.clear()), [x]),
        ("iterate", lambda: (x.append(1), list(x), list(reversed(x)), x.clear()), [x]),
        ("allocate-release", lambda: a.allocate(64).release(), [a]),
        ("stats", lambda: a.stats, [a]),
        # error paths: the bad value, the index, the list must not be kept
        ("append-overflow", lambda: expect(OverflowError, x.append, BIG), [BIG]),
        ("append-bad-str", lambda: expect(TypeError, x.append, BAD_STR), [BAD_STR]),
        ("getitem-out-of-range", lambda: expect(IndexError, x.__getitem__, IDX), [IDX]),
        ("setitem-bad", lambda: (x.append(0), expect(TypeError, x.__setitem__, 0, BAD_STR),
                                 x.clear()), [BAD_STR]),
        ("extend-bad-array", lambda: expect(TypeError, x.extend, np.zeros(3)), []),
        ("reserve-negative", lambda: expect(ValueError, x.reserve, -1), []),
        ("allocate-bad", lambda: expect(ValueError, a.allocate, 0), [a]),
    ]


NAMES = [c[0] for c in _calls(SystemAllocator())]


@pytest.mark.parametrize("alloc", list(ALLOCATORS))
def test_refcounts_unchanged(alloc):
    a = ALLOCATORS[alloc]()
    for name, call, objs in _calls(a):
        call()                                   # warm-up (caches, interning)
        gc.collect()
        before = [sys.getrefcount(o) for o in objs]
        for _ in range(100):
            call()
        gc.collect()
        after = [sys.getrefcount(o) for o in objs]
        assert after == before, f"{alloc} {name}: refcounts {before} -> {after}"


ROUND = 500


def _min_growth(call, rounds=4, warm_rounds=2):
    """The smallest traced-memory growth over `rounds` rounds of ROUND calls,
    after `warm_rounds` rounds under tracing.  Caches that fill up (numpy's
    dimension cache, dict resizes) grow less in each round; a leak of one
    object per call grows >= 16 bytes * ROUND in every round."""
    tracemalloc.start()
    try:
        growth = []
        for r in range(warm_rounds + rounds):
            gc.collect()
            base, _ = tracemalloc.get_traced_memory()
            for _ in range(ROUND):
                call()
            gc.collect()
            now, _ = tracemalloc.get_traced_memory()
            if r >= warm_rounds:
                growth.append(now - base)
    finally:
        tracemalloc.stop()
    return min(growth)


@pytest.mark.parametrize("name", NAMES)
def test_no_traced_growth(name):
    a = Heap()
    call = {n: c for n, c, _ in _calls(a)}[name]
    for _ in range(200):
        call()
    growth = _min_growth(call)
    assert growth < 4 * 1024, f"{name}: traced memory grew by {growth} bytes in each of 4 rounds of {ROUND} calls"


def test_tracemalloc_probe_sees_a_leak():
    """The probe is not vacuous: a call that keeps one small object per call shows."""
    kept = []
    assert _min_growth(lambda: kept.append(object())) >= 4 * 1024


@pytest.mark.parametrize("alloc", list(ALLOCATORS))
def test_lists_and_allocators_die(alloc):
    a = ALLOCATORS[alloc]()
    wa = weakref.ref(a)
    x = SegmentedList("q", range(1000), allocator=a)
    wx = weakref.ref(x)
    views = x.segments()
    it = iter(x)
    next(it)
    try:
        x.append("bad")
    except TypeError as e:
        err = e
    y = x.copy()
    wy = weakref.ref(y)
    arr = x.to_numpy()
    del x, y, a, views, it, err
    gc.collect()
    assert wx() is None and wy() is None, "a list outlived its last reference"
    assert wa() is None, "the allocator outlived its last list"
    assert arr[999] == 999             # to_numpy's result owns its memory


def test_views_keep_list_alive_then_release_it():
    x = SegmentedList("q", range(100), allocator=Heap())
    wx = weakref.ref(x)
    views = x.segments()
    del x
    gc.collect()
    assert wx() is not None            # the views pin the list (and its memory)
    assert int(views[0][3]) == 3
    del views
    gc.collect()
    assert wx() is None


def test_block_keeps_allocator_alive_then_releases():
    a = Heap()
    wa = weakref.ref(a)
    b = a.allocate(64)
    wb = weakref.ref(b) if hasattr(type(b), "__weakref__") else None
    del a
    gc.collect()
    assert wa() is not None and b.allocator is wa()
    assert wa().stats["n_blocks"] == 1
    m = memoryview(b)
    del b
    gc.collect()
    assert wa() is not None and wa().stats["n_blocks"] == 1   # the view pins the block
    m.release()
    del m
    gc.collect()
    if wb is not None:
        assert wb() is None
    assert wa() is None


def test_failed_allocator_construction_leaks_nothing():
    buf = bytearray(16)
    n = sys.getrefcount(buf)
    for _ in range(100):
        with pytest.raises(ValueError):
            BufferAllocator(buf)            # too small: the buffer export is released
    assert sys.getrefcount(buf) == n
    buf.extend(b"x")                        # resizable again: no export left behind
    ro = bytes(4096)
    n = sys.getrefcount(ro)
    for _ in range(100):
        with pytest.raises(ValueError):
            BufferAllocator(ro)
    assert sys.getrefcount(ro) == n


def test_buffer_allocator_export_released_when_it_dies():
    buf = bytearray(1 << 16)
    a = BufferAllocator(buf)
    with pytest.raises(BufferError):
        buf.extend(b"x")                    # exported while the allocator lives
    x = SegmentedList("q", range(10), allocator=a)
    del a
    gc.collect()
    with pytest.raises(BufferError):
        buf.extend(b"x")                    # the list keeps the allocator alive
    del x
    gc.collect()
    buf.extend(b"x")
    assert segpy.get_allocator() is not None
