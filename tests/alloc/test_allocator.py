"""Allocators: stats, limits, injected failures, and the lifetime of lists and allocators."""

import gc
import weakref

import numpy as np
import pytest

import segpy
from segpy import SegmentedList, SystemAllocator

from seg_support import geometric_capacity

STAT_KEYS = {"bytes_in_use", "bytes_mapped", "peak_bytes_in_use", "max_bytes", "overhead_bytes",
             "header_bytes", "cached_bytes", "n_regions", "n_blocks", "n_alloc", "n_release", "n_os_calls", "n_os_failures", "n_limit_failures"}


def grow_ops():
    """Each way a list can ask for a new segment, as (name, fn(lst))."""
    return [
        ("append", lambda lst: lst.append(1)),
        ("extend-list", lambda lst: lst.extend([1] * 100)),
        ("extend-generator", lambda lst: lst.extend(i for i in range(100))),
        ("extend-ndarray", lambda lst: lst.extend(np.arange(100))),
        ("extend-int8-ndarray", lambda lst: lst.extend(np.arange(100, dtype="i1"))),
        ("extend-bytes", lambda lst: lst.extend(bytes(100))),
        ("reserve", lambda lst: lst.reserve(len(lst) + 100)),
    ]


GROW_IDS = [name for name, _ in grow_ops()]
GROW_FNS = [fn for _, fn in grow_ops()]


def assert_unchanged_after_memory_error(lst, fn):
    before = lst.to_numpy()
    cap = lst.capacity
    in_use = lst.allocator.stats["bytes_in_use"]
    with pytest.raises(MemoryError):
        fn(lst)
    assert len(lst) == len(before)
    np.testing.assert_array_equal(lst.to_numpy(), before)
    assert lst.capacity == cap
    assert lst.allocator.stats["bytes_in_use"] == in_use


# -- stats ---------------------------------------------------------------------------


def test_fresh_allocator_stats():
    a = SystemAllocator()
    st = a.stats
    assert set(st) == STAT_KEYS
    assert st.pop("max_bytes") is None              # unbounded
    assert all(v == 0 for v in st.values())
    assert a.max_bytes is None
    assert a.name == "system"
    assert "SystemAllocator" in repr(a)


def test_stats_is_a_snapshot():
    a = SystemAllocator()
    st = a.stats
    lst = SegmentedList("q", [1], allocator=a)
    assert st["bytes_in_use"] == 0 and a.stats["bytes_in_use"] > 0
    del lst


@pytest.mark.parametrize("dtype", ["i1", "q", "c16", "S3", [("a", "f8"), ("b", "i1")]], ids=str)
@pytest.mark.parametrize("n", [1, 5, 64, 65, 1000, 70_000])
def test_bytes_in_use_follow_capacity(dtype, n):
    a = SystemAllocator()
    dt = np.dtype(dtype)
    lst = SegmentedList(dt, np.zeros(n, dtype=dt), allocator=a, first_segment=4)
    st = a.stats
    assert lst.capacity == geometric_capacity(n, 4)
    assert st["bytes_in_use"] == lst.capacity * dt.itemsize
    assert st["n_alloc"] == len(lst.segments())        # one request per segment
    assert st["n_release"] == 0
    assert st["bytes_mapped"] >= st["bytes_in_use"]
    assert st["overhead_bytes"] == st["bytes_mapped"] - st["bytes_in_use"]
    assert st["peak_bytes_in_use"] == st["bytes_in_use"]
    del lst
    st = a.stats
    assert st["bytes_in_use"] == 0 and st["bytes_mapped"] == 0
    assert st["n_release"] == st["n_alloc"]
    assert st["peak_bytes_in_use"] > 0


def test_large_segments_are_page_rounded():
    a = SystemAllocator()
    lst = SegmentedList("S100000", [b"x"], first_segment=1, allocator=a)   # 100000-byte segment
    st = a.stats
    assert st["bytes_in_use"] == 100_000
    assert st["bytes_mapped"] >= 100_000 and st["bytes_mapped"] % 4096 == 0
    assert st["overhead_bytes"] == st["bytes_mapped"] - 100_000
    del lst
    assert a.stats["bytes_mapped"] == 0


def test_peak_bytes_in_use():
    a = SystemAllocator()
    lst = SegmentedList("q", range(1000), allocator=a)
    peak = a.stats["bytes_in_use"]
    lst.clear()
    small = SegmentedList("q", [1], allocator=a)
    assert a.stats["peak_bytes_in_use"] == peak
    assert a.stats["bytes_in_use"] == small.capacity * 8


def test_os_call_counts():
    a = SystemAllocator()
    lst = SegmentedList("q", range(200), first_segment=8, allocator=a)
    n = len(lst.segments())
    assert a.stats["n_os_calls"] == n
    lst.clear()
    assert a.stats["n_os_calls"] == 2 * n
    assert a.stats["n_os_failures"] == 0


def test_empty_list_allocates_nothing():
    a = SystemAllocator()
    before = a.stats
    lists = [SegmentedList(d, allocator=a) for d in ("q", "i1", "U5", [("a", "f8")])]
    lists.append(SegmentedList("q", [], allocator=a))
    lists.append(SegmentedList("q", np.zeros(0, "q"), allocator=a))
    lists.append(lists[0].copy())
    lists[0].extend([])
    lists[0].extend(np.zeros(0, "q"))
    lists[0].clear()
    lists[0].reserve(0)
    assert all(lst.capacity == 0 for lst in lists)
    assert a.stats == before


def test_delete_returns_bytes():
    a = SystemAllocator()
    keep = SegmentedList("q", range(10), allocator=a)
    base = a.stats["bytes_in_use"]
    for n in (1, 100, 10_000, 300_000):
        lst = SegmentedList("q", range(n), allocator=a)
        assert a.stats["bytes_in_use"] > base
        del lst
        assert a.stats["bytes_in_use"] == base
    assert list(keep) == list(range(10))


def test_clear_returns_bytes():
    a = SystemAllocator()
    lst = SegmentedList("q", range(10_000), allocator=a)
    lst.clear()
    assert lst.capacity == 0 and a.stats["bytes_in_use"] == 0
    lst.extend(range(3))
    assert a.stats["bytes_in_use"] == lst.capacity * 8


# -- the default allocator -------------------------------------------------------------


def test_get_allocator():
    d = segpy.get_allocator()
    assert d is segpy.get_allocator()
    assert isinstance(d, segpy.Heap)             # the process-wide default
    assert d.name == "heap"
    before = d.stats["bytes_in_use"]
    lst = SegmentedList("q", range(1000))
    assert lst.allocator is d
    assert d.stats["bytes_in_use"] >= before + lst.capacity * 8
    del lst


# -- construction errors -----------------------------------------------------------------


def test_allocator_base_class_is_abstract():
    with pytest.raises(TypeError):
        segpy.Allocator()


def test_max_bytes_validation():
    with pytest.raises(ValueError):
        SystemAllocator(max_bytes=-1)
    with pytest.raises(TypeError):
        SystemAllocator(max_bytes=1.5)
    assert SystemAllocator(max_bytes=4096).max_bytes == 4096
    assert SystemAllocator(max_bytes=4096).stats["max_bytes"] == 4096
    assert SystemAllocator(max_bytes=None).max_bytes is None


def test_max_bytes_zero_allows_nothing():
    # max_bytes is an upper bound on the bytes in use (None means unbounded);
    # a bound of 0 must not turn into "no bound at all".
    a = SystemAllocator(max_bytes=0)
    assert a.max_bytes == 0 and a.stats["max_bytes"] == 0
    lst = SegmentedList("q", allocator=a)
    with pytest.raises(MemoryError):
        lst.append(1)
    with pytest.raises(MemoryError):
        lst.extend(range(1000))
    assert len(lst) == 0 and a.stats["bytes_in_use"] == 0
    assert a.stats["n_limit_failures"] == 2
    SegmentedList("q", [], allocator=a)             # an empty list needs nothing


def test_inject_failure_validation():
    with pytest.raises(ValueError):
        SystemAllocator().inject_failure(-1)


# -- limits ----------------------------------------------------------------------------------


@pytest.mark.parametrize("grow", GROW_FNS, ids=GROW_IDS)
def test_limit_refuses_growth_and_leaves_list_unchanged(grow):
    a = SystemAllocator(max_bytes=1000)
    lst = SegmentedList("q", range(64), first_segment=64, allocator=a)   # 512 bytes, full
    assert lst.capacity == 64
    assert_unchanged_after_memory_error(lst, grow)
    st = a.stats
    assert st["n_limit_failures"] == 1
    assert st["bytes_in_use"] == 512
    assert st["n_os_calls"] == 1                 # the refused request never reached the OS
    # It keeps failing while the limit holds, and works once room is freed.
    assert_unchanged_after_memory_error(lst, grow)
    assert a.stats["n_limit_failures"] == 2
    lst.clear()
    assert a.stats["bytes_in_use"] == 0
    lst.append(1)
    assert a.stats["bytes_in_use"] == 512


def test_limit_message():
    a = SystemAllocator(max_bytes=1000)
    lst = SegmentedList("q", range(64), first_segment=64, allocator=a)
    with pytest.raises(MemoryError, match="allocator") as info:
        lst.append(1)
    assert "1024" in str(info.value) and "1000" in str(info.value)


def test_limit_at_construction_and_copy():
    a = SystemAllocator(max_bytes=1000)
    with pytest.raises(MemoryError):
        SegmentedList("q", range(1000), allocator=a)
    assert a.stats["bytes_in_use"] == 0
    lst = SegmentedList("q", range(64), first_segment=64, allocator=a)
    with pytest.raises(MemoryError):
        lst.copy()                               # 512 + 512 > 1000
    assert list(lst) == list(range(64))
    assert a.stats["bytes_in_use"] == 512


def test_limit_exactly_reached():
    a = SystemAllocator(max_bytes=8 * (64 + 128))
    lst = SegmentedList("q", range(64 + 128), first_segment=64, allocator=a)
    assert a.stats["bytes_in_use"] == a.max_bytes
    with pytest.raises(MemoryError):
        lst.append(0)
    assert len(lst) == 192


def test_limit_rolls_back_a_multi_segment_reserve():
    a = SystemAllocator(max_bytes=100 * 8)
    lst = SegmentedList("q", [1], first_segment=1, allocator=a)
    before = a.stats
    with pytest.raises(MemoryError):
        lst.reserve(1000)             # segments 2, 4, ... 64 fit; 128 does not
    after = a.stats
    assert lst.capacity == 1 and list(lst) == [1]
    assert after["bytes_in_use"] == before["bytes_in_use"]
    assert after["n_alloc"] - before["n_alloc"] == after["n_release"] - before["n_release"] > 0
    assert after["n_limit_failures"] == 1


# -- injected failures -------------------------------------------------------------------------


@pytest.mark.parametrize("grow", GROW_FNS, ids=GROW_IDS)
def test_injected_failure_refuses_growth(grow):
    a = SystemAllocator()
    lst = SegmentedList("q", range(64), first_segment=64, allocator=a)
    a.inject_failure()
    assert_unchanged_after_memory_error(lst, grow)
    assert a.stats["n_os_failures"] == 1
    # One failure only: the next request succeeds.
    grow(lst)
    assert lst.capacity > 64


def test_injected_failure_counts_requests():
    for after in range(6):
        a = SystemAllocator()
        lst = SegmentedList("q", allocator=a, first_segment=1)
        a.inject_failure(after=after)
        grown = 0
        with pytest.raises(MemoryError):
            for i in range(1000):
                lst.append(i)
                grown = i + 1
        # Each new segment is one request: `after` of them succeed.
        assert lst.capacity == 2 ** after - 1
        assert grown == len(lst) == 2 ** after - 1
        assert a.stats["n_alloc"] == after
        assert a.stats["n_os_failures"] == 1
        assert list(lst) == list(range(len(lst)))


def test_injected_failure_waits_for_a_request():
    a = SystemAllocator()
    lst = SegmentedList("q", range(10), first_segment=8, allocator=a)   # capacity 24
    a.inject_failure()
    for i in range(14):
        lst.append(i)                 # fits: no request, nothing fails
    with pytest.raises(MemoryError):
        lst.append(0)
    assert len(lst) == 24


def test_injected_failure_rolls_back_multi_segment_extend():
    a = SystemAllocator()
    lst = SegmentedList("q", [1], first_segment=1, allocator=a)
    for path in (lambda: lst.extend(np.arange(500)), lambda: lst.extend(list(range(500))),
                 lambda: lst.reserve(500)):
        a.inject_failure(after=3)
        before = a.stats
        with pytest.raises(MemoryError):
            path()
        after = a.stats
        assert list(lst) == [1] and lst.capacity == 1
        assert after["bytes_in_use"] == before["bytes_in_use"]
        assert after["n_alloc"] - before["n_alloc"] == 3
        assert after["n_release"] - before["n_release"] == 3


def test_injected_failure_message():
    a = SystemAllocator()
    lst = SegmentedList("q", allocator=a)
    a.inject_failure()
    with pytest.raises(MemoryError, match="system"):
        lst.append(1)


# -- beyond what a list can address ---------------------------------------------------------


@pytest.mark.parametrize("dtype,n", [("i1", 2 ** 62 + 1), ("q", 2 ** 61), ("q", 2 ** 60),
                                     ("S1000", 2 ** 56)])
def test_reserve_beyond_addressable_size(dtype, n):
    a = SystemAllocator()
    lst = SegmentedList(dtype, allocator=a)
    lst.extend(np.zeros(3, dtype=dtype))
    before = a.stats
    with pytest.raises(MemoryError, match="addressable"):
        lst.reserve(n)
    assert len(lst) == 3 and a.stats == before


def test_reserve_negative_is_value_error():
    lst = SegmentedList("q", [1])
    with pytest.raises(ValueError):
        lst.reserve(-1)
    with pytest.raises(TypeError):
        lst.reserve(1.5)
    assert list(lst) == [1]


# -- lifetimes -----------------------------------------------------------------------------------


def _lifetime_check(make_allocator):
    alloc = make_allocator()
    ref = weakref.ref(alloc)
    lst = SegmentedList("q", range(1000), allocator=alloc)
    del alloc
    gc.collect()
    assert ref() is not None                       # the list keeps its allocator alive
    assert lst.allocator is ref()
    lst.extend(range(5000))                        # and keeps using it
    assert ref().stats["bytes_in_use"] == lst.capacity * 8
    c = lst.copy()
    del lst
    gc.collect()
    assert ref() is not None                       # the copy holds it too
    assert ref().stats["bytes_in_use"] == c.capacity * 8
    del c
    gc.collect()
    assert ref() is None                           # and then it goes


def test_list_keeps_its_allocator_alive():
    _lifetime_check(SystemAllocator)


def test_list_keeps_a_subclassed_allocator_alive():
    class Tracked(SystemAllocator):
        pass

    _lifetime_check(Tracked)


def test_views_keep_the_allocator_alive():
    class Tracked(SystemAllocator):
        pass

    alloc = Tracked()
    ref = weakref.ref(alloc)
    view = SegmentedList("q", range(100), allocator=alloc).segments()[0]
    del alloc
    gc.collect()
    assert ref() is not None and ref().stats["bytes_in_use"] > 0
    del view
    gc.collect()
    assert ref() is None


def test_lists_sharing_an_allocator():
    a = SystemAllocator()
    lists = [SegmentedList("q", range(n), allocator=a) for n in range(0, 500, 50)]
    assert a.stats["bytes_in_use"] == sum(lst.capacity * 8 for lst in lists)
    for i in range(0, len(lists), 2):
        lists[i] = None
    assert a.stats["bytes_in_use"] == sum(lst.capacity * 8 for lst in lists if lst is not None)
    lists.clear()
    assert a.stats["bytes_in_use"] == 0


@pytest.mark.parametrize("dtype,max_length", [
    ("i1", 2 ** 62), ("q", (2 ** 63 - 1) // 8), ("S3", (2 ** 63 - 1) // 3),
    ("S1000", (2 ** 63 - 1) // 1000), ("c16", (2 ** 63 - 1) // 16)], ids=str)
@pytest.mark.parametrize("s0", [1, None, 2 ** 30], ids=["s0=1", "default", "s0=2**30"])
def test_reserve_at_the_addressable_limit(dtype, max_length, s0):
    # Up to the limit a reserve is a request like any other (refused here by
    # max_bytes, all of its segments rolled back); one past it never asks.
    a = SystemAllocator(max_bytes=1 << 20)
    n = 0 if s0 == 2 ** 30 else 3                 # a 2**30-element segment is over the limit
    lst = SegmentedList(dtype, np.zeros(n, dtype=dtype), first_segment=s0, allocator=a)
    before = a.stats
    with pytest.raises(MemoryError) as info:
        lst.reserve(max_length)
    assert "addressable" not in str(info.value)
    after = a.stats
    assert after["bytes_in_use"] == before["bytes_in_use"]
    assert after["n_limit_failures"] == before["n_limit_failures"] + 1
    with pytest.raises(MemoryError, match="addressable"):
        lst.reserve(max_length + 1)
    assert a.stats["n_limit_failures"] == after["n_limit_failures"]
    assert len(lst) == n and lst.capacity == before["bytes_in_use"] // lst.itemsize
