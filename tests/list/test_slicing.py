"""Slicing: ``lst[a:b:c]``, slice assignment and ``del lst[a:b:c]`` against list.

Every start/stop/step combination in a small range around the segment edges
is checked exhaustively, for lengths just below, at and above a boundary and
for several first-segment sizes, so each copy, gather, scatter and shift
crosses segment boundaries in every possible way.  Element types of 1, 2, 4,
8, 12 and 16 bytes take each of the C copy loops (12-byte records and
``'U3'`` the generic one).
"""

import array

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import segpy
from segpy import SegmentedList

from seg_support import assert_arrays_identical, examples

# (first_segment, lengths around its boundaries s0, 3*s0, 7*s0)
GEOMETRIES = [(1, [0, 1, 2, 3, 4, 7, 8]), (2, [2, 5, 6, 7, 14, 15]), (4, [3, 4, 12, 13, 28])]
STEPS = [None, 1, 2, 3, 5, -1, -2, -3, -7, 100, -100]

RECORD = np.dtype([("a", "<i4"), ("b", "<f8")])      # 12 bytes: the generic loop
DTYPES = ["i1", "u2", "f4", "i8", "c16", RECORD, "U3"]


def _values(dt, n, offset=0):
    """``n`` distinct values of ``dt`` as an ndarray."""
    dt = np.dtype(dt)
    k = np.arange(offset, offset + n)
    if dt.names is not None:
        out = np.zeros(n, dtype=dt)
        out["a"] = k
        out["b"] = k * 0.5
        return out
    if dt.kind == "U":
        return np.array([str(v % 1000) for v in k], dtype=dt)
    return (k % 100).astype(dt)


def _bounds(n):
    return [None] + list(range(-n - 2, n + 3))


def _slices(n):
    for a in _bounds(n):
        for b in _bounds(n):
            for c in STEPS:
                yield slice(a, b, c)


@pytest.mark.parametrize("s0,lengths", GEOMETRIES, ids=lambda g: str(g))
def test_read_every_slice_int64(s0, lengths):
    for n in lengths:
        ref = list(range(n))
        lst = SegmentedList("q", ref, first_segment=s0)
        for sl in _slices(n):
            got = lst[sl]
            assert type(got) is SegmentedList
            assert got.tolist() == ref[sl], (n, sl)
            assert got.first_segment == s0
            assert got.allocator is lst.allocator


@pytest.mark.parametrize("dt", DTYPES, ids=str)
def test_read_slices_every_itemsize(dt):
    for s0 in (1, 2, 4):
        for n in (0, 3, 7, 15):
            arr = _values(dt, n)
            lst = SegmentedList(dt, arr, first_segment=s0)
            for sl in _slices(n):
                got = lst[sl]
                assert got.dtype == np.dtype(dt)
                assert_arrays_identical(got.to_numpy(), arr[sl])


@pytest.mark.parametrize("s0,lengths", GEOMETRIES, ids=lambda g: str(g))
def test_delete_every_slice(s0, lengths):
    for n in lengths:
        ref = list(range(n))
        lst = SegmentedList("q", ref, first_segment=s0)
        for sl in _slices(n):
            r = ref[:]
            del r[sl]
            c = lst.copy()
            del c[sl]
            assert c.tolist() == r, (n, sl)


@pytest.mark.parametrize("s0,lengths", GEOMETRIES, ids=lambda g: str(g))
def test_assign_every_slice(s0, lengths):
    for n in lengths:
        ref = list(range(n))
        lst = SegmentedList("q", ref, first_segment=s0)
        for sl in _slices(n):
            size = len(ref[sl])
            simple = sl.step in (None, 1)
            for m in ({0, size, size + 1, max(size - 1, 0), size + 9} if simple else {size}):
                new = list(range(1000, 1000 + m))
                r = ref[:]
                r[sl] = new
                c = lst.copy()
                c[sl] = new
                assert c.tolist() == r, (n, sl, m)


@pytest.mark.parametrize("dt", DTYPES, ids=str)
def test_assign_and_delete_every_itemsize(dt):
    for s0 in (1, 4):
        for n in (0, 5, 13):
            arr = _values(dt, n)
            lst = SegmentedList(dt, arr, first_segment=s0)
            for sl in _slices(n):
                size = len(arr[sl])
                for m in ({size, size + 2} if sl.step in (None, 1) else {size}):
                    new = _values(dt, m, offset=500)
                    want = list(arr)
                    want[sl] = list(new)
                    c = lst.copy()
                    c[sl] = new
                    assert_arrays_identical(c.to_numpy(), np.array(want, dtype=dt))
                keep = np.ones(n, dtype=bool)
                keep[sl] = False
                c = lst.copy()
                del c[sl]
                assert_arrays_identical(c.to_numpy(), arr[keep])


@pytest.mark.parametrize("s0", [1, 2, 8])
def test_extended_slice_size_mismatch(s0):
    ref = list(range(20))
    lst = SegmentedList("q", ref, first_segment=s0)
    for sl, m in ((slice(None, None, 2), 9), (slice(None, None, 2), 11), (slice(None, None, -3), 0),
                  (slice(1, 2, -1), 1), (slice(None, None, 5), 3)):
        with pytest.raises(ValueError) as info:
            ref[sl] = [0] * m
        with pytest.raises(ValueError) as mine:
            lst[sl] = [0] * m
        assert str(mine.value) == str(info.value)
        assert lst.tolist() == ref


@pytest.mark.parametrize("step", [2, -1])
def test_non_iterable_to_slice(step):
    lst = SegmentedList("q", range(4))
    ref = list(range(4))
    for value in (5, 5.0, None):
        with pytest.raises(TypeError) as want:
            ref[::step] = value
        with pytest.raises(TypeError) as got:
            lst[::step] = value
        assert str(got.value) == str(want.value)
        with pytest.raises(TypeError) as want:
            ref[1:2] = value
        with pytest.raises(TypeError) as got:
            lst[1:2] = value
        assert str(got.value) == str(want.value)
    # A numpy scalar is not an iterable either (numpy would broadcast it).
    with pytest.raises(TypeError, match="iterable"):
        lst[1:2] = np.int64(3)
    assert lst.tolist() == ref


def test_assign_from_every_source():
    base = list(range(30))
    sources = {
        "list": lambda v: list(v),
        "tuple": lambda v: tuple(v),
        "generator": lambda v: (x for x in v),
        "range": lambda v: range(v[0], v[0] + len(v)) if len(v) else range(0),
        "ndarray": lambda v: np.array(v, dtype="q"),
        "strided ndarray": lambda v: np.repeat(np.array(v, dtype="q"), 2)[::2],
        "int32 ndarray": lambda v: np.array(v, dtype="i4"),
        "array.array": lambda v: array.array("q", v),
        "memoryview": lambda v: memoryview(array.array("q", v)),
        "SegmentedList": lambda v: SegmentedList("q", v, first_segment=1),
        "SegmentedList i2": lambda v: SegmentedList("i2", v),
    }
    new = list(range(100, 107))
    for name, make in sources.items():
        for sl in (slice(3, 5), slice(3, 20), slice(29, 2, -4), slice(None)):
            r = base[:]
            vals = new[:len(r[sl])] if sl.step not in (None, 1) else new
            r[sl] = vals
            lst = SegmentedList("q", base, first_segment=2)
            lst[sl] = make(vals)
            assert lst.tolist() == r, (name, sl)


def test_assign_self_to_slice():
    for s0 in (1, 2, 8):
        for sl in (slice(None), slice(2, 5), slice(10, 10), slice(None, None, -1), slice(0, 40, 2)):
            ref = list(range(20))
            lst = SegmentedList("q", ref, first_segment=s0)
            try:
                ref[sl] = ref
            except ValueError:
                with pytest.raises(ValueError):
                    lst[sl] = lst
            else:
                lst[sl] = lst
            assert lst.tolist() == ref, sl


@pytest.mark.parametrize("value,exc", [([1.5], TypeError), (["x"], TypeError), ([2 ** 70], OverflowError),
                                       (np.array([1.5]), TypeError),
                                       (np.zeros((2, 2), dtype="q"), ValueError),
                                       ([1, 2, None], TypeError)])
def test_bad_values_leave_list_unchanged(value, exc):
    alloc = segpy.SystemAllocator()
    for sl in (slice(1, 3), slice(1, 2), slice(0, 40)):
        lst = SegmentedList("q", range(30), allocator=alloc, first_segment=2)
        cap, in_use = lst.capacity, alloc.stats["bytes_in_use"]
        with pytest.raises(exc):
            lst[sl] = value
        assert lst.tolist() == list(range(30))
        assert lst.capacity == cap
        assert alloc.stats["bytes_in_use"] == in_use


def test_slice_assignment_refused_by_allocator_leaves_list_unchanged():
    alloc = segpy.SystemAllocator()
    lst = SegmentedList("q", range(6), allocator=alloc, first_segment=2)
    alloc.inject_failure(after=0)
    try:
        with pytest.raises(MemoryError):
            lst[2:3] = list(range(100))
        alloc.inject_failure(after=0)     # one failure is armed at a time
        with pytest.raises(MemoryError):
            lst[:4]
    finally:
        alloc.inject_failure(after=2 ** 40)
    assert lst.tolist() == list(range(6))
    assert lst.capacity == 6


def test_slice_index_types():
    ref = list(range(10))
    lst = SegmentedList("q", ref)

    class Idx:
        def __index__(self):
            return 3

    assert lst[Idx():np.int64(8):np.int8(2)].tolist() == ref[3:8:2]
    assert lst[True:] .tolist() == ref[1:]
    assert lst[-2 ** 70:2 ** 70].tolist() == ref
    assert lst[::2 ** 70].tolist() == ref[::2 ** 70]
    assert lst[::-2 ** 70].tolist() == ref[::-2 ** 70]
    for bad in (slice("a"), slice(None, 1.5), slice(None, None, 0)):
        with pytest.raises(Exception) as want:
            ref[bad]
        with pytest.raises(type(want.value)) as got:
            lst[bad]
        assert str(got.value) == str(want.value)
        with pytest.raises(type(want.value)):
            del lst[bad]
        with pytest.raises(type(want.value)):
            lst[bad] = []
    assert lst.tolist() == ref


def test_slice_of_subclass_is_base_type():
    # As array.array: slices, copies and concatenations of a subclass are of
    # the base type.
    class Sub(SegmentedList):
        def __init__(self, values=()):
            super().__init__("q", values)
            self.tag = "sub"

    s = Sub(range(5))
    assert type(s[1:3]) is SegmentedList
    assert s[1:3].tolist() == [1, 2]


def test_slice_index_whose_index_method_shrinks_the_list():
    # __index__ runs before the bounds are clipped to the (new) length.
    lst = SegmentedList("q", range(20), first_segment=2)

    class Shrink:
        def __index__(self):
            del lst[5:]
            return 0

    assert lst[Shrink():].tolist() == list(range(5))
    lst.extend(range(5, 20))
    del lst[Shrink()::2]
    assert lst.tolist() == [1, 3]


def test_iterator_value_that_mutates_the_list_during_slice_assignment():
    lst = SegmentedList("q", range(20), first_segment=2)

    def gen():
        yield 1
        del lst[3:]
        yield 2

    lst[10:15] = gen()        # the slice is clipped to the list as it is then
    assert lst.tolist() == [0, 1, 2, 1, 2]


@settings(max_examples=examples(150))
@given(n=st.integers(0, 70), s0=st.sampled_from([1, 2, 4, 16]),
       a=st.none() | st.integers(-80, 80), b=st.none() | st.integers(-80, 80),
       c=st.none() | st.integers(-9, 9).filter(bool), m=st.integers(0, 70))
def test_random_slices_match_list(n, s0, a, b, c, m):
    ref = list(range(n))
    lst = SegmentedList("q", ref, first_segment=s0)
    sl = slice(a, b, c)
    assert lst[sl].tolist() == ref[sl]
    if c in (None, 1):
        new = list(range(-m, 0))
    else:
        new = list(range(-len(ref[sl]), 0))
    r = ref[:]
    r[sl] = new
    c1 = lst.copy()
    c1[sl] = new
    assert c1.tolist() == r
    r = ref[:]
    del r[sl]
    c2 = lst.copy()
    del c2[sl]
    assert c2.tolist() == r
