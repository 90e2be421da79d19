"""Sequence behaviour: equality, repr, iteration, copy(), numpy export."""

import gc
import operator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import segpy
from segpy import SegmentedList

from seg_support import examples, geometric_capacity, stable_id

# -- equality ------------------------------------------------------------------------


def test_equal_to_sequences_and_arrays():
    lst = SegmentedList("q", range(100), first_segment=2)
    for other in (list(range(100)), tuple(range(100)), range(100), np.arange(100),
                  np.arange(100, dtype="i1"), np.arange(100, dtype="f8"),
                  np.arange(100, dtype=">u2"), SegmentedList("i2", range(100)),
                  SegmentedList("d", range(100), first_segment=64)):
        assert (lst == other) is True
        assert (lst != other) is False
        assert (other == lst) is True or isinstance(other, np.ndarray)


def test_reflected_comparison_with_list():
    lst = SegmentedList("q", [1, 2])
    assert ([1, 2] == lst) is True
    assert ((1, 2) != lst) is False
    assert ([1, 3] == lst) is False


@pytest.mark.parametrize("other", [
    [0, 1, 2, 3], [0, 1, 2], [0, 1, 2, 3, 4, 5], [], [0, 1, 2, 4, 4],
    np.arange(4), np.arange(5).reshape(5, 1), np.arange(10).reshape(2, 5),
    SegmentedList("q", range(6)), [[0], [1], [2], [3], [4]],
], ids=repr)
def test_unequal(other):
    lst = SegmentedList("q", range(5))
    assert (lst == other) is False
    assert (lst != other) is True


@pytest.mark.parametrize("other", ["abcde", "", b"\x00\x01\x02\x03\x04", bytearray(5), 5, None,
                                   5.0, object(), {0: 0}, {0, 1, 2, 3, 4}], ids=stable_id)
def test_not_equal_to_non_sequences(other):
    lst = SegmentedList("q", range(5))
    assert (lst == other) is False
    assert (lst != other) is True


def test_strings_are_never_equal():
    lst = SegmentedList("U1", ["a", "b"])
    assert (lst == "ab") is False
    assert (lst == ["a", "b"]) is True
    assert (lst == np.array(["a", "b"])) is True
    b = SegmentedList("S1", [b"a", b"b"])
    assert (b == b"ab") is False
    assert (b == [b"a", b"b"]) is True


def test_equality_with_incomparable_elements_is_false():
    lst = SegmentedList("q", [1, 2])
    assert (lst == ["a", "b"]) is False
    assert (lst == [None, None]) is False
    assert (lst == [object(), object()]) is False


def test_equality_follows_numpy_elementwise():
    nan = float("nan")
    f = SegmentedList("d", [1.0, nan])
    assert (f == [1.0, nan]) is False             # NaN != NaN, as in numpy
    assert (f == f) is False  # noqa: PLR0124  (the point: a list holding NaN != itself)
    assert (SegmentedList("d", [0.0]) == [-0.0]) is True
    assert (SegmentedList("q", [1]) == [1.0]) is True
    assert (SegmentedList("q", [1]) == [True]) is True
    assert (SegmentedList("?", [True]) == [1]) is True
    t = SegmentedList("M8[D]", ["2020-01-01", "NaT"])
    assert (t == np.array(["2020-01-01", "NaT"], dtype="M8[D]")) is False
    one = SegmentedList("M8[D]", ["2020-01-01"])
    assert (one == np.array(["2020-01-01"], dtype="M8[D]")) is True


def test_record_equality():
    dt = np.dtype([("a", "<i4"), ("b", "<f8", (2,))])
    lst = SegmentedList(dt, [(1, [2.0, 3.0]), (4, [5.0, 6.0])])
    assert (lst == [(1, [2.0, 3.0]), (4, [5.0, 6.0])]) is True
    assert (lst == [(1, [2.0, 3.0]), (4, [5.0, 7.0])]) is False
    assert (lst == np.array([(1, [2, 3]), (4, [5, 6])], dtype=dt)) is True
    assert (lst == [(1, 2), (3, 4)]) is False
    assert (lst == lst.copy()) is True


def test_empty_lists_are_equal():
    assert (SegmentedList("q") == []) is True
    assert (SegmentedList("q") == SegmentedList("U3")) is True
    assert (SegmentedList("q") == np.zeros(0)) is True
    assert (SegmentedList("q") == [1]) is False


def test_equality_with_zero_d_array_is_false_not_an_error():
    lst = SegmentedList("q", [5])
    assert (lst == np.array(5)) is False
    assert (lst != np.array(5)) is True


def test_equality_with_array_like_without_len():
    class ArrayLike:
        def __array__(self, dtype=None, copy=None):
            return np.array([5, 6])

    lst = SegmentedList("q", [5, 6])
    assert (lst == ArrayLike()) is True
    assert (SegmentedList("q", [5]) == ArrayLike()) is False


@settings(max_examples=examples(40))
@given(a=st.lists(st.integers(-3, 3), max_size=12), b=st.lists(st.integers(-3, 3), max_size=12),
       s0=st.sampled_from([1, 2, 8]))
def test_equality_property(a, b, s0):
    la = SegmentedList("i1", a, first_segment=s0)
    lb = SegmentedList("q", b)
    assert (la == b) is (a == b)
    assert (la == lb) is (a == b)
    assert (la != lb) is (a != b)
    assert (la == np.array(b, dtype="i8")) is (a == b)


# -- repr ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype,values,text", [
    ("q", [1, 2], "SegmentedList([1, 2], dtype=int64)"),
    ("q", [], "SegmentedList([], dtype=int64)"),
    ("i1", [-1], "SegmentedList([-1], dtype=int8)"),
    ("?", [True, False], "SegmentedList([ True, False], dtype=bool)"),
    ("d", [1.0, 2.5], "SegmentedList([1. , 2.5], dtype=float64)"),
    ("f", [0.5], "SegmentedList([0.5], dtype=float32)"),
    (">i4", [1], "SegmentedList([1], dtype='>i4')"),
    ("M8[D]", ["2020-01-01"], "SegmentedList(['2020-01-01'], dtype='datetime64[D]')"),
    ("U2", ["a", "bc"], "SegmentedList(['a', 'bc'], dtype='<U2')"),
    ("S2", [b"a"], "SegmentedList([b'a'], dtype='|S2')"),
    ([("a", "<i4"), ("b", "<f8")], [(1, 2.0)],
     "SegmentedList([(1, 2.)], dtype=[('a', '<i4'), ('b', '<f8')])"),
])
def test_repr(dtype, values, text):
    assert repr(SegmentedList(dtype, values)) == text


def test_repr_at_the_abbreviation_threshold():
    full = repr(SegmentedList("q", range(1000)))
    assert full.startswith(("SegmentedList([  0,   1,", "SegmentedList([0, 1,"))
    assert "..." not in full and "len=" not in full
    assert full.endswith("999], dtype=int64)")
    assert full.count(",") == 999 + 1   # 999 separators + the one before dtype
    short = repr(SegmentedList("q", range(1001)))
    assert "..." in short
    assert short.endswith(", dtype=int64, len=1001)")
    assert short.startswith("SegmentedList([0, 1, 2, ...,")
    assert "998" in short and "999" in short and "1000" in short
    assert len(short) < 120


def test_repr_of_a_long_record_list():
    dt = np.dtype([("a", "i4"), ("b", "f4")])
    text = repr(SegmentedList(dt, np.zeros(5000, dtype=dt)))
    assert "..." in text and "len=5000" in text and len(text) < 400


# -- iteration -------------------------------------------------------------------------


def test_iteration_sees_appends_like_list():
    lst = SegmentedList("q", range(3), first_segment=1)
    seen = []
    for x in lst:
        seen.append(x)
        if x < 20:
            lst.append(x + 3)
    assert seen == list(range(23))


def test_iteration_stops_after_clear():
    lst = SegmentedList("q", range(100), first_segment=1)
    it = iter(lst)
    assert next(it) == 0
    lst.clear()
    with pytest.raises(StopIteration):
        next(it)
    lst.extend(range(5))
    with pytest.raises(StopIteration):      # an exhausted iterator stays exhausted
        next(it)


def test_explicit_next_method_and_length_hint():
    """``it.__next__()`` (the slot wrapper) and ``next(it)`` (the C slot) share one cursor."""
    import collections.abc
    import operator

    for dtype in ("q", "d", "u1", "M8[s]"):
        lst = SegmentedList(dtype, [1, 2, 3, 4], first_segment=1)
        it = iter(lst)
        assert isinstance(it, collections.abc.Iterator)
        assert operator.length_hint(it) == 4
        first = it.__next__()
        second = next(it)
        assert [first, second] == lst.to_numpy()[:2].tolist()
        assert operator.length_hint(it) == 2
        assert list(it) == lst.to_numpy()[2:].tolist()
        assert operator.length_hint(it) == 0
        with pytest.raises(StopIteration):
            it.__next__()


def test_iterator_after_shrink_with_views_sees_new_values():
    """Shrinking keeps segments while views exist, and must not let a cached cursor
    bound (the old length) survive: re-grown elements are read afresh."""
    lst = SegmentedList("q", range(40), first_segment=8)
    it = iter(lst)
    assert [next(it) for _ in range(5)] == [0, 1, 2, 3, 4]
    views = lst.segments()
    lst.clear()
    lst.extend(range(100, 140))
    assert list(it) == list(range(105, 140))
    assert views[0].shape == (8,)


def test_reversed():
    lst = SegmentedList("q", range(70), first_segment=2)
    assert list(reversed(lst)) == list(range(69, -1, -1))
    assert list(reversed(SegmentedList("q"))) == []
    it = reversed(lst)
    assert next(it) == 69
    lst.clear()
    with pytest.raises(StopIteration):
        next(it)


def test_length_hints():
    lst = SegmentedList("q", range(5))
    it = iter(lst)
    assert operator.length_hint(it) == 5
    next(it)
    assert operator.length_hint(it) == 4
    r = reversed(lst)
    assert operator.length_hint(r) == 5
    next(r)
    assert operator.length_hint(r) == 4
    list(r)
    assert operator.length_hint(r) == 0


# Geometries whose first segment is 64 KiB, so that the OS tends to map a
# re-initialised list's first segment at the address the old one had.
SAME_SIZE_GEOMETRIES = [("i1", 65536), ("i4", 16384), ("q", 8192), ("d", 8192)]

# Re-initialising to an itemsize no larger than before: a stale iterator
# cursor would stay inside the old mapping and read wrong values, not crash.
_SHRINKING_REINITS = [pytest.param(o, n, id=f"{o[0]}->{n[0]}")
                      for o in SAME_SIZE_GEOMETRIES for n in SAME_SIZE_GEOMETRIES
                      if np.dtype(n[0]).itemsize <= np.dtype(o[0]).itemsize]


@pytest.mark.parametrize("old,new", _SHRINKING_REINITS)
def test_iterator_after_reinit(old, new):
    # list.__init__ on a live list: its iterators continue by index over the
    # new contents.  SegmentedList allows __init__ again (without views), so
    # an iterator must not keep reading through the old geometry.
    (d0, s0), (d1, s1) = old, new
    lst = SegmentedList(d0, np.arange(70_000) % 100, first_segment=s0)
    ref = (np.arange(70_000) % 100).tolist()
    it, ref_it = iter(lst), iter(ref)
    for _ in range(6_000):              # inside the first segment of every geometry
        assert next(it) == next(ref_it)
    new_items = (np.arange(80_000) % 101).astype(d1)    # made first: no allocation
    lst.__init__(d1, new_items, first_segment=s1)       # between free and re-map
    ref.__init__(new_items.tolist())
    got = [next(it) for _ in range(10_000)]
    want = [next(ref_it) for _ in range(10_000)]
    assert got == want
    assert list(it) == list(ref_it)


_GROWING_REINIT = """
import numpy as np, segpy
lst = segpy.SegmentedList("i1", np.arange(70_000) % 100, first_segment=65536)
it = iter(lst)
for _ in range(60_000):
    next(it)
new_items = np.arange(200_000, dtype="q")
lst.__init__("q", new_items, first_segment=8192)
got = [next(it) for _ in range(5_535)]
assert got == list(range(60_000, 65_535)), (got[:3], got[-3:])
"""


def test_iterator_after_reinit_to_a_larger_itemsize(tmp_path):
    # As above, but a stale cursor would walk past the end of the old 64 KiB
    # mapping; run in a child process so that a crash fails only this test.
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _GROWING_REINIT], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, check=False)   # not the source tree
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_iterator_after_reinit_to_a_shorter_list():
    lst = SegmentedList("i1", np.zeros(65_536, "i1"), first_segment=65_536)
    it = iter(lst)
    for _ in range(1000):
        next(it)
    lst.__init__("q", range(10), first_segment=8192)
    with pytest.raises(StopIteration):
        next(it)


# All 8-byte elements: a re-init among these cannot move a stale cursor past
# the end of a mapping (see the re-init tests above for the other cases).
_ITER_GEOMETRIES = [("q", 1), ("q", 64), ("d", 8), ("q", 8192), ("d", 8192)]


@settings(max_examples=examples(30))
@given(data=st.data())
def test_iterators_follow_list_iterator_semantics(data):
    """Iterators interleaved with mutations behave as list iterators do."""
    dtype, s0 = data.draw(st.sampled_from(_ITER_GEOMETRIES), label="geometry")
    n = data.draw(st.integers(0, 300), label="n")
    lst = SegmentedList(dtype, [i % 100 for i in range(n)], first_segment=s0)
    ref = [i % 100 for i in range(n)]
    its = [(iter(lst), iter(ref)), (reversed(lst), reversed(ref))]
    held = []
    for _ in range(data.draw(st.integers(1, 25), label="steps")):
        op = data.draw(st.sampled_from(
            ["next", "next", "advance", "new_iter", "append", "extend", "setitem", "clear",
             "clear_with_view", "reinit"]), label="op")
        if op == "next":
            k = data.draw(st.integers(0, len(its) - 1))
            a, b = its[k]
            assert next(a, None) == next(b, None)
        elif op == "advance":
            k = data.draw(st.integers(0, len(its) - 1))
            a, b = its[k]
            for _ in range(data.draw(st.integers(0, 70_000))):
                x, y = next(a, None), next(b, None)
                assert x == y
                if y is None:
                    break
        elif op == "new_iter":
            its.append(data.draw(st.sampled_from([(iter(lst), iter(ref)),
                                                  (reversed(lst), reversed(ref))])))
        elif op == "append":
            lst.append(7)
            ref.append(7)
        elif op == "extend":
            m = data.draw(st.integers(0, 70_000))
            lst.extend(np.arange(m) % 50)
            ref.extend(list(np.arange(m) % 50))
        elif op == "setitem" and ref:
            i = data.draw(st.integers(-len(ref), len(ref) - 1))
            lst[i] = 42
            ref[i] = 42
        elif op == "clear":
            held.clear()
            lst.clear()
            ref.clear()
        elif op == "clear_with_view":
            held.extend(lst.segments())
            lst.clear()
            ref.clear()
        elif op == "reinit" and not held:
            dtype, s0 = data.draw(st.sampled_from(_ITER_GEOMETRIES), label="new geometry")
            m = data.draw(st.integers(0, 70_000))
            lst.__init__(dtype, np.arange(m) % 99, first_segment=s0)
            ref.__init__(list(np.arange(m) % 99))
        assert len(lst) == len(ref)
    for a, b in its:
        assert list(a) == list(b)


def test_iterator_keeps_the_list_alive():
    alloc = segpy.SystemAllocator()
    it = iter(SegmentedList("q", range(300), first_segment=1, allocator=alloc))
    gc.collect()
    assert list(it) == list(range(300))
    del it
    gc.collect()
    assert alloc.stats["bytes_in_use"] == 0


def test_bool_and_len():
    lst = SegmentedList("q")
    assert not lst and len(lst) == 0
    lst.append(0)
    assert lst and len(lst) == 1
    lst.clear()
    assert not lst


# -- copy ----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 100])
def test_copy(n):
    alloc = segpy.SystemAllocator()
    lst = SegmentedList("q", range(n), first_segment=8, allocator=alloc)
    lst.reserve(1000)
    c = lst.copy()
    assert type(c) is SegmentedList
    assert c is not lst
    assert list(c) == list(range(n))
    assert c.dtype == lst.dtype and c.first_segment == 8 and c.allocator is alloc
    assert c.capacity == geometric_capacity(n, 8)          # no spare capacity copied
    assert alloc.stats["bytes_in_use"] == (lst.capacity + c.capacity) * 8
    if n:
        c[0] = -5
        c.append(-6)
        lst[-1] = 42
        assert list(c) == [-5] + list(range(1, n)) + [-6]
        assert list(lst) == list(range(n - 1)) + [42]


def test_copy_of_records_and_views():
    dt = np.dtype([("a", "u1"), ("b", "<f8")], align=True)
    lst = SegmentedList(dt, [(1, 2.0), (3, 4.0)], first_segment=1)
    c = lst.copy()
    v = lst.segments()[0]
    v["a"] = 9
    assert c[0]["a"] == 1
    assert c.segments()[0].__array_interface__["data"][0] != v.__array_interface__["data"][0]


# -- numpy export ------------------------------------------------------------------------------


def test_to_numpy_is_a_new_contiguous_array():
    lst = SegmentedList(">i4", range(100), first_segment=2)
    a = lst.to_numpy()
    assert type(a) is np.ndarray
    assert a.dtype == np.dtype(">i4")
    assert a.flags.c_contiguous and a.flags.writeable
    np.testing.assert_array_equal(a, np.arange(100))
    a[:] = 0
    assert list(lst) == list(range(100))
    assert lst.to_numpy() is not lst.to_numpy()
    assert SegmentedList("q").to_numpy().shape == (0,)


@pytest.mark.parametrize("dtype", ["i1", "i2", "q", "c16", "S3", "S24", "S5000", "U3",
                                   [("a", "u1"), ("b", "<f8")]], ids=str)
@pytest.mark.parametrize("nbytes", [(1 << 20) - 8, 1 << 20, 3 << 20])
def test_to_numpy_of_large_lists(dtype, nbytes):
    # Past 1 MiB to_numpy places its result in a larger buffer (to dodge 4K
    # aliasing in memcpy); the result must still be exactly the elements.
    dt = np.dtype(dtype)
    n = nbytes // dt.itemsize + 1
    raw = np.random.default_rng(n).integers(0, 127, size=n * dt.itemsize, dtype=np.uint8)
    want = raw.view(dt) if dt.kind != "U" else np.char.mod("%d", np.arange(n) % 997).astype(dt)
    for s0 in (None, 1, 4096):
        lst = SegmentedList(dt, want, first_segment=s0)
        a = lst.to_numpy()
        assert a.shape == (n,) and a.dtype == dt
        assert a.flags.c_contiguous and a.flags.writeable
        assert a.tobytes() == want.tobytes()
        assert a.tobytes() == b"".join(v.tobytes() for v in lst.segments())
        b = np.asarray(lst)
        assert b.tobytes() == want.tobytes()
        a[...] = np.zeros((), dtype=dt)
        assert lst.to_numpy().tobytes() == want.tobytes()     # a copy, not a view


def test_numpy_protocol():
    lst = SegmentedList("q", range(10), first_segment=2)
    np.testing.assert_array_equal(np.asarray(lst), np.arange(10))
    f = np.array(lst, dtype="f4")
    assert f.dtype == np.float32
    np.testing.assert_array_equal(f, np.arange(10, dtype="f4"))
    assert np.asarray(lst, dtype="i8").dtype == np.int64
    a = np.array(lst, copy=True)
    a[0] = 5
    assert lst[0] == 0
    assert np.sum(lst) == 45


def test_numpy_refuses_a_zero_copy_export():
    lst = SegmentedList("q", range(10))
    with pytest.raises(ValueError, match="copy"):
        np.asarray(lst, copy=False)
    with pytest.raises(ValueError):
        np.array(lst, copy=False)


def test_nbytes_and_itemsize():
    dt = np.dtype([("a", "i1"), ("b", "S7")])
    lst = SegmentedList(dt, np.zeros(13, dtype=dt))
    assert lst.itemsize == 8
    assert lst.nbytes == 13 * 8
    lst.clear()
    assert lst.nbytes == 0
