"""Lists and views that die inside garbage cycles release through a live allocator.

Cython's generated tp_clear would set a list's ``_allocator`` to None before
``__dealloc__`` returns the segments through the C pointer into it; with a
private allocator that is a use-after-free (reported by the ASan run in
.ci/run), and a view owner cleared that way would never uncount its export.
"""

import gc

import numpy as np

import segpy


class _Sub(segpy.SegmentedList):
    """A subclass has a __dict__, so an instance can sit in a reference cycle."""


def test_list_in_garbage_cycle_with_private_allocator():
    probe = segpy.SystemAllocator()
    for _ in range(50):
        lst = _Sub("q", range(10_000), allocator=segpy.SystemAllocator())
        lst.me = lst  # a cycle: only the cyclic GC can free it
        del lst
        gc.collect()
        # Allocate again so that freed memory is reused: under ASan a
        # use-after-free above is reported; here we check the result too.
        other = segpy.SegmentedList("q", range(10_000), allocator=probe)
        assert other[9_999] == 9_999
        del other
    assert probe.stats["bytes_in_use"] == 0


def test_list_in_cycle_returns_every_byte_to_its_allocator():
    alloc = segpy.SystemAllocator()
    lst = _Sub("d", np.arange(100_000, dtype="f8"), allocator=alloc)
    assert alloc.stats["bytes_in_use"] >= 800_000
    lst.me = lst
    del lst
    gc.collect()
    assert alloc.stats["bytes_in_use"] == 0
    assert alloc.stats["n_alloc"] == alloc.stats["n_release"]


def test_view_owner_in_cycle_still_uncounts_its_export():
    lst = _Sub("q", range(1000))
    view = lst.segments()[0]
    lst.keep = [view, lst]  # list -> dict -> [view, list]: a cycle through the view
    del view
    lst.keep = None  # break it by hand; the owner dies by refcount
    gc.collect()
    lst.clear()  # no export left, so clear() releases everything
    assert lst.capacity == 0
