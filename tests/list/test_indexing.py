"""Indexing: negative and out-of-range indices, huge ints, index-like and non-int indices.

The reference is Python's list: it raises IndexError for any int index out of
range however large (``[][2**63]`` too) and TypeError for a non-int.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segpy import SegmentedList

from seg_support import examples, stable_id

_HUGE = ["2**62", "2**63-1", "2**63", "2**64", "2**64+1", "2**100",
         "-2**62", "-2**63", "-2**63-1", "-2**64", "-2**100"]
HUGE = [pytest.param(eval(e), id=e) for e in _HUGE]


def _list_raises_index_error(idx):
    with pytest.raises(IndexError):
        [1, 2, 3][idx]


@settings(max_examples=examples(60))
@given(n=st.integers(0, 40), s0=st.sampled_from([1, 2, 8]), data=st.data())
def test_get_and_set_match_list(n, s0, data):
    ref = list(range(n))
    lst = SegmentedList("q", ref, first_segment=s0)
    i = data.draw(st.integers(-n - 5, n + 5), label="index")
    if -n <= i < n:
        assert lst[i] == ref[i]
        lst[i] = -1
        ref[i] = -1
        assert list(lst) == ref
    else:
        with pytest.raises(IndexError, match="SegmentedList index out of range"):
            lst[i]
        with pytest.raises(IndexError, match="SegmentedList index out of range"):
            lst[i] = 0
        assert list(lst) == ref


def test_negative_indices():
    lst = SegmentedList("q", range(100), first_segment=2)
    for i in range(1, 101):
        assert lst[-i] == 100 - i
    for i in range(1, 101):
        lst[-i] = i
    assert list(lst) == list(range(100, 0, -1))


@pytest.mark.parametrize("n", [0, 1, 5])
def test_out_of_range_message(n):
    lst = SegmentedList("q", range(n))
    for idx in (n, n + 1, -n - 1, -n - 100):
        with pytest.raises(IndexError) as info:
            lst[idx]
        assert str(info.value) == "SegmentedList index out of range"


def test_empty_list_has_no_index_zero():
    lst = SegmentedList("q")
    for idx in (0, -1):
        with pytest.raises(IndexError):
            lst[idx]
        with pytest.raises(IndexError):
            lst[idx] = 1
    assert len(lst) == 0


@pytest.mark.parametrize("idx", HUGE)
def test_huge_get_index_is_index_error_like_list(idx):
    _list_raises_index_error(idx)
    lst = SegmentedList("q", range(3))
    with pytest.raises(IndexError):
        lst[idx]


@pytest.mark.parametrize("idx", HUGE)
def test_huge_set_index_is_index_error_and_list_unchanged(idx):
    lst = SegmentedList("q", range(3))
    with pytest.raises(IndexError):
        lst[idx] = 7
    assert list(lst) == [0, 1, 2]


def test_bool_indices_behave_like_ints():
    lst = SegmentedList("q", [10, 20])
    assert lst[True] == 20 and lst[False] == 10
    lst[True] = 5
    assert list(lst) == [10, 5]


@pytest.mark.parametrize("t", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
                               np.uint32, np.uint64, np.intp])
def test_numpy_integer_indices(t):
    lst = SegmentedList("q", range(10))
    assert lst[t(3)] == 3
    lst[t(4)] = 40
    assert lst[4] == 40
    if np.issubdtype(t, np.signedinteger):
        assert lst[t(-1)] == 9
    with pytest.raises(IndexError):
        lst[t(10)]


def test_numpy_uint64_beyond_ssize_t_is_index_error():
    lst = SegmentedList("q", range(3))
    with pytest.raises(IndexError):
        lst[np.uint64(2 ** 63)]
    with pytest.raises(IndexError):
        lst[np.uint64(2 ** 64 - 1)] = 1
    assert list(lst) == [0, 1, 2]


def test_index_protocol_objects():
    class Idx:
        def __init__(self, i):
            self.i = i

        def __index__(self):
            return self.i

    lst = SegmentedList("q", range(5))
    assert lst[Idx(2)] == 2
    assert lst[Idx(-1)] == 4
    with pytest.raises(IndexError):
        lst[Idx(5)]
    with pytest.raises(IndexError):
        lst[Idx(2 ** 70)]


# (A list of ints is numpy-style fancy indexing, tested in test_bulk.py.)
@pytest.mark.parametrize("idx", [1.0, 0.0, np.float64(0), "0", b"0", None, (0,), 1j,
                                 object()], ids=stable_id)
def test_non_int_index_is_type_error(idx):
    lst = SegmentedList("q", range(3))
    with pytest.raises(TypeError, match="integer"):
        lst[idx]
    with pytest.raises(TypeError):
        lst[idx] = 1
    assert list(lst) == [0, 1, 2]


def test_index_error_before_value_conversion():
    # An out-of-range index is reported even when the value is bad too, and
    # neither touches the list.
    lst = SegmentedList("q", range(3))
    with pytest.raises(IndexError):
        lst[3] = "bad"
    assert list(lst) == [0, 1, 2]


def test_setitem_value_conversion_that_shrinks_the_list():
    # Converting the value runs Python code (__array__ here) that may clear the
    # list; the store must then fail cleanly instead of writing freed memory.
    lst = SegmentedList("d", range(100), first_segment=1)

    class Sneaky:
        def __array__(self, dtype=None, copy=None):
            lst.clear()
            return np.array(1.5)

    with pytest.raises(IndexError):
        lst[50] = Sneaky()
    assert len(lst) == 0
    lst.append(2.0)
    assert list(lst) == [2.0]
