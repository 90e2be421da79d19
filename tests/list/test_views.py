"""segments(): zero-copy views that never move, writes through them, views and clear()."""

import gc
import itertools

import numpy as np
import pytest

import segpy
from segpy import SegmentedList

from seg_support import segment_lengths


def address(view):
    return view.__array_interface__["data"][0]


def test_empty_list_has_no_segments():
    assert SegmentedList("q").segments() == []
    assert SegmentedList("q", [1]).segments()[0].shape == (1,)


@pytest.mark.parametrize("dtype", ["i1", "q", "c16", ">f8", "S3", "U2", "M8[s]",
                                   [("a", "i4"), ("b", "f8", (2,))]], ids=str)
def test_view_properties(dtype):
    dt = np.dtype(dtype)
    lst = SegmentedList(dt, np.zeros(40, dtype=dt), first_segment=4)
    views = lst.segments()
    assert [len(v) for v in views] == segment_lengths(40, 4) == [4, 8, 16, 12]
    for v in views:
        assert isinstance(v, np.ndarray)
        assert v.dtype == dt
        assert v.ndim == 1
        assert v.flags.c_contiguous
        assert v.flags.writeable
        assert not v.flags.owndata
        assert address(v) % 64 == 0          # segments start on a cache line


def test_views_do_not_overlap_and_cover_the_list():
    lst = SegmentedList("q", range(1000), first_segment=8)
    spans = sorted((address(v), address(v) + v.nbytes) for v in lst.segments())
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start
    assert sum(len(v) for v in lst.segments()) == 1000


def test_views_are_stable_while_growing_past_a_million():
    lst = SegmentedList("q", range(100))                  # default first segment (64)
    early = lst.segments()
    early_addr = [address(v) for v in early]
    snapshots = [(early, early_addr, [v.copy() for v in early])]
    n = 100
    # Grow by appends across several segment boundaries, then by large
    # extends, taking views at each stage.
    for i in range(100, 5000):
        lst.append(i)
    n = 5000
    while n < 1_300_000:
        chunk = min(n, 1_300_000 - n)
        lst.extend(np.arange(n, n + chunk, dtype=np.int64))
        n += chunk
        views = lst.segments()
        snapshots.append((views, [address(v) for v in views], [v.copy() for v in views]))
        for views_then, addrs, contents in snapshots:
            for v, a, c in zip(views_then, addrs, contents):
                assert address(v) == a
                np.testing.assert_array_equal(v, c)
        # Later calls return views of the same memory for the same segments.
        for j, v in enumerate(lst.segments()[:len(early)]):
            assert address(v) == early_addr[j]
    assert len(lst) == n > 1_000_000
    np.testing.assert_array_equal(np.concatenate(lst.segments()), np.arange(n))
    assert lst[999_999] == 999_999


def test_writes_through_views_change_the_list():
    lst = SegmentedList("q", range(30), first_segment=2)
    views = lst.segments()
    for v in views:
        v *= -1
    assert list(lst) == [-i for i in range(30)]
    views[-1][-1] = 1234
    assert lst[-1] == 1234 and lst.to_numpy()[-1] == 1234
    # And list writes show in earlier views.
    lst[0] = 77
    lst[-2] = 88
    assert views[0][0] == 77 and views[-1][-2] == 88
    # Growing does not detach old views.
    lst.extend(range(1000))
    lst[1] = 99
    assert views[0][1] == 99


def test_last_view_covers_only_the_elements_present():
    lst = SegmentedList("q", range(5), first_segment=4)   # segments 4 + 8, 1 used of 8
    views = lst.segments()
    assert [len(v) for v in views] == [4, 1]
    lst.extend(range(5, 12))
    assert len(views[1]) == 1                             # a view never grows
    assert [len(v) for v in lst.segments()] == [4, 8]


def test_view_keeps_the_list_and_its_memory_alive():
    alloc = segpy.SystemAllocator()
    lst = SegmentedList("q", range(1000), first_segment=8, allocator=alloc)
    view = lst.segments()[3]
    first = view.copy()
    del lst
    gc.collect()
    assert alloc.stats["bytes_in_use"] > 0
    np.testing.assert_array_equal(view, first)            # still readable (ASan: no UAF)
    view[:] = 5                                           # and writable
    assert (view == 5).all()
    del view
    gc.collect()
    assert alloc.stats["bytes_in_use"] == 0


def test_view_of_a_temporary_list():
    alloc = segpy.SystemAllocator()
    v = SegmentedList("d", [1.5, 2.5], allocator=alloc).segments()[0]
    gc.collect()
    assert list(v) == [1.5, 2.5]
    del v
    assert alloc.stats["bytes_in_use"] == 0


def test_clear_with_views_keeps_segments():
    alloc = segpy.SystemAllocator()
    lst = SegmentedList("q", range(100), first_segment=8, allocator=alloc)
    cap = lst.capacity
    in_use = alloc.stats["bytes_in_use"]
    views = lst.segments()
    addrs = [address(v) for v in views]
    lst.clear()
    assert len(lst) == 0 and not lst
    assert lst.capacity == cap                            # segments kept
    assert alloc.stats["bytes_in_use"] == in_use
    assert [address(v) for v in views] == addrs
    np.testing.assert_array_equal(np.concatenate(views), np.arange(100))   # still readable
    assert lst.segments() == []
    # New elements reuse the kept segments: no allocation, same addresses.
    n_alloc = alloc.stats["n_alloc"]
    lst.extend(range(500, 600))
    assert alloc.stats["n_alloc"] == n_alloc
    assert [address(v) for v in lst.segments()] == addrs
    assert list(lst) == list(range(500, 600))
    np.testing.assert_array_equal(views[0], np.arange(500, 508))
    # Once the views are gone, clear() releases everything.
    del views
    gc.collect()
    lst.clear()
    assert lst.capacity == 0
    assert alloc.stats["bytes_in_use"] == 0
    assert alloc.stats["n_release"] == alloc.stats["n_alloc"]


def test_clear_with_views_then_grow_beyond_kept_capacity():
    lst = SegmentedList("q", range(10), first_segment=2)
    v = lst.segments()[0]
    lst.clear()
    lst.extend(range(1000))
    assert list(lst) == list(range(1000))
    assert list(v) == [0, 1]
    del v
    gc.collect()
    lst.clear()
    assert lst.capacity == 0


def test_clear_after_view_dropped_releases():
    alloc = segpy.SystemAllocator()
    lst = SegmentedList("q", range(10), allocator=alloc)
    lst.segments()                 # views created and dropped at once
    lst.clear()
    assert lst.capacity == 0 and alloc.stats["bytes_in_use"] == 0


def test_views_of_records_are_live():
    dt = np.dtype([("x", "f8"), ("y", "i2")])
    lst = SegmentedList(dt, [(1.0, 1), (2.0, 2)])
    v = lst.segments()[0]
    v["x"] += 10
    assert lst[0]["x"] == 11.0 and lst[1]["x"] == 12.0


def test_reinit_while_views_exist_is_refused():
    lst = SegmentedList("q", range(10))
    v = lst.segments()[0]
    with pytest.raises(BufferError):
        lst.__init__("d")
    assert lst.dtype == np.dtype("q") and list(lst) == list(range(10))
    assert list(v) == list(range(10))
