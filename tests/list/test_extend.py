"""extend(): the iterable path, the buffer/``__array__`` fast path, and rollback.

Arrays are cast with 'same_kind' and must be 1-D; any failure (a bad
element, a bad array, an exception from the iterator itself) leaves the list
exactly as before: length, contents, capacity and allocator bytes.
"""

import array

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import segpy
from segpy import SegmentedList

from seg_support import assert_arrays_identical, examples, stable_id


@pytest.fixture
def lst():
    """A list spanning several segments, with its own allocator."""
    return SegmentedList("q", range(11), first_segment=2, allocator=segpy.SystemAllocator())


def assert_unchanged_after(lst, exc, fn, match=None):
    before = lst.to_numpy()
    cap = lst.capacity
    stats = lst.allocator.stats
    with pytest.raises(exc, match=match):
        fn()
    assert len(lst) == len(before)
    assert_arrays_identical(lst.to_numpy(), before)
    assert lst.capacity == cap
    after = lst.allocator.stats
    assert after["bytes_in_use"] == stats["bytes_in_use"]
    assert after["bytes_mapped"] == stats["bytes_mapped"]


# -- what is accepted -----------------------------------------------------------------


@pytest.mark.parametrize("src,want", [
    ([5, 6], [5, 6]),
    ((5, 6), [5, 6]),
    (range(5, 7), [5, 6]),
    (np.array([5, 6], dtype="i1"), [5, 6]),
    (np.array([5, 6], dtype="u4"), [5, 6]),
    (np.array([5, 6], dtype=">i8"), [5, 6]),
    (np.array([True, False]), [1, 0]),
    (np.array([5, 0, 6], dtype="q")[::2], [5, 6]),
    (np.array([6, 5], dtype="q")[::-1], [5, 6]),
    (np.asfortranarray(np.array([5, 6])), [5, 6]),
    (array.array("b", [5, 6]), [5, 6]),
    (array.array("Q", [5, 6]), [5, 6]),
    (memoryview(array.array("i", [5, 6])), [5, 6]),
    (memoryview(array.array("i", [5, 0, 6]))[::2], [5, 6]),
    (b"\x05\x06", [5, 6]),
    (bytearray(b"\x05\x06"), [5, 6]),
    (memoryview(b"\x05\x06"), [5, 6]),
    (np.array([5, 6], dtype=object), [5, 6]),
], ids=lambda x: type(x).__name__)
def test_extend_sources(lst, src, want):
    lst.extend(src)
    assert list(lst) == list(range(11)) + want


def test_extend_from_array_like_objects(lst):
    class ArrayLike:
        def __array__(self, dtype=None, copy=None):
            return np.array([7, 8], dtype="i2")

    lst.extend(ArrayLike())
    assert list(lst)[-2:] == [7, 8]


def test_extend_from_other_segmented_lists(lst):
    lst.extend(SegmentedList("i1", [-1, -2]))
    assert list(lst)[-2:] == [-1, -2]
    f = SegmentedList("d", [0.5])
    f.extend(SegmentedList("q", [1, 2]))
    assert list(f) == [0.5, 1.0, 2.0]
    assert_unchanged_after(lst, TypeError, lambda: lst.extend(SegmentedList("d", [1.5])))


def test_extend_with_itself(lst):
    lst.extend(lst)
    assert list(lst) == list(range(11)) * 2
    lst.extend(iter(list(lst)))
    assert list(lst) == list(range(11)) * 4


def test_extend_with_its_own_segment_views(lst):
    for v in lst.segments():
        lst.extend(v)
    assert list(lst) == list(range(11)) * 2


def test_extend_strings_and_records():
    u = SegmentedList("U1")
    u.extend("abc")                       # a str iterates as its characters
    assert list(u) == ["a", "b", "c"]
    dt = np.dtype([("a", "i4"), ("b", "f4")])
    r = SegmentedList(dt)
    r.extend([(1, 2.0), (3, 4.0)])
    r.extend(np.array([(5, 6.0)], dtype=dt))
    r.extend(np.array([(7, 8.0)], dtype=[("a", ">i4"), ("b", ">f4")]))
    assert [tuple(x) for x in r] == [(1, 2.0), (3, 4.0), (5, 6.0), (7, 8.0)]


@settings(max_examples=examples(40))
@given(a=arrays(st.sampled_from(["i1", "u1", "i2", "u2", "i4", ">i4", "i8", "?", "u4"]),
                st.integers(0, 300)),
       dst=st.sampled_from(["i1", "u2", "i8", "u8", ">i8", "f4", "f8", "c16"]),
       s0=st.sampled_from([1, 2, 8, 64]),
       prefix=st.integers(0, 70))
def test_extend_array_casts_like_numpy(a, dst, s0, prefix):
    lst = SegmentedList(dst, np.zeros(prefix, dtype=dst), first_segment=s0)
    if np.can_cast(a.dtype, dst, casting="same_kind"):
        lst.extend(a)
        want = np.concatenate([np.zeros(prefix, dtype=dst), a.astype(dst)]).astype(dst)
        assert_arrays_identical(lst.to_numpy(), want)
    else:
        with pytest.raises(TypeError, match="same_kind"):
            lst.extend(a)
        assert len(lst) == prefix


# -- what is refused, with the list unchanged ----------------------------------------------


@pytest.mark.parametrize("bad", [
    np.zeros((2, 2), dtype="q"),
    np.zeros((0, 3), dtype="q"),
    np.zeros((1, 1, 1), dtype="q"),
    np.array(5),
    memoryview(np.zeros((2, 2), dtype="q")),
], ids=lambda a: f"shape{getattr(a, 'shape', None)}")
def test_extend_needs_a_one_dimensional_array(lst, bad):
    assert_unchanged_after(lst, ValueError, lambda: lst.extend(bad), match="1-D")


@pytest.mark.parametrize("bad", [
    np.array([[1, 2], [3, 4]], dtype=object),
    np.empty((2, 2), dtype=object),
    np.array(5, dtype=object),
], ids=["object-2x2-ints", "object-2x2-empty", "object-0d"])
def test_extend_needs_a_one_dimensional_object_array(lst, bad):
    # Object arrays go element by element, but the 1-D rule is the same.
    assert_unchanged_after(lst, ValueError, lambda: lst.extend(bad), match="1-D")


def test_extend_with_2d_array_like_object(lst):
    class ArrayLike:
        def __array__(self, dtype=None, copy=None):
            return np.zeros((3, 3))

    assert_unchanged_after(lst, ValueError, lambda: lst.extend(ArrayLike()))


@pytest.mark.parametrize("bad", [
    np.array([1.5, 2.5]),
    np.array([1.0]),
    np.array([1j]),
    np.array(["1", "2"]),
    np.array([b"1"]),
    np.array(["2020-01-01"], dtype="M8[D]"),
    np.array([1], dtype="m8[s]"),
    array.array("d", [1.0]),
    memoryview(array.array("f", [1.0])),
], ids=lambda a: str(getattr(a, "dtype", type(a).__name__)))
def test_extend_with_array_of_wrong_kind(lst, bad):
    assert_unchanged_after(lst, TypeError, lambda: lst.extend(bad))


@pytest.mark.parametrize("bad", [5, None, 1.5, object()], ids=stable_id)
def test_extend_with_non_iterable(lst, bad):
    assert_unchanged_after(lst, TypeError, lambda: lst.extend(bad))


def test_extend_with_a_bad_element_adds_nothing(lst):
    assert_unchanged_after(lst, TypeError, lambda: lst.extend([1, 2, "x"]))
    assert_unchanged_after(lst, OverflowError, lambda: lst.extend([1, 2 ** 70]))
    assert_unchanged_after(lst, TypeError, lambda: lst.extend([1, 2, 3.5]))
    assert_unchanged_after(lst, TypeError, lambda: lst.extend(list(range(1000)) + [None]))
    assert_unchanged_after(lst, TypeError, lambda: lst.extend(np.array([1, "x"], dtype=object)))


def test_extend_rollback_releases_new_segments():
    alloc = segpy.SystemAllocator()
    lst = SegmentedList("q", [1, 2, 3], first_segment=1, allocator=alloc)
    before = alloc.stats
    with pytest.raises(TypeError):
        lst.extend(list(range(5000)) + ["x"])       # needed ~10 new segments
    after = alloc.stats
    assert lst.capacity == 3 and list(lst) == [1, 2, 3]
    assert after["bytes_in_use"] == before["bytes_in_use"]
    assert after["n_alloc"] - before["n_alloc"] == after["n_release"] - before["n_release"] > 0


class Boom(Exception):
    pass


@pytest.mark.parametrize("fail_at", [0, 1, 2, 3, 50, 1000])
def test_iterator_exceptions_roll_back(lst, fail_at):
    def gen():
        yield from range(fail_at)
        raise Boom

    assert_unchanged_after(lst, Boom, lambda: lst.extend(gen()))


def test_keyboard_interrupt_in_iterator_rolls_back(lst):
    def gen():
        yield 1
        yield 2
        raise KeyboardInterrupt

    assert_unchanged_after(lst, KeyboardInterrupt, lambda: lst.extend(gen()))


def test_iterator_that_clears_the_list():
    # Python code run by the iterator may shrink the list; extend must cope.
    lst = SegmentedList("q", range(50), first_segment=1)

    def gen():
        yield 1
        lst.clear()
        yield 2

    lst.extend(gen())
    assert list(lst) == [2]

    def gen_then_fail():
        yield 1
        lst.clear()
        yield 2
        raise Boom

    with pytest.raises(Boom):
        lst.extend(gen_then_fail())
    assert len(lst) <= 1
    lst.append(9)
    assert list(lst)[-1] == 9


def test_iterator_that_appends_to_the_list():
    lst = SegmentedList("q", [0], first_segment=1)

    def gen():
        for i in range(1, 40):
            lst.append(-i)
            yield i

    lst.extend(gen())
    assert len(lst) == 79
    assert sorted(lst) == sorted([0] + [-i for i in range(1, 40)] + list(range(1, 40)))
