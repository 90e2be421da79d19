"""sort(*, kind=None, reverse=False): numpy's order for every dtype, list.sort's
semantics for reverse, and no change to the list on bad arguments."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import segpy
from segpy import SegmentedList

from seg_support import FAMILIES, assert_arrays_identical, examples

KINDS = [None, "quicksort", "mergesort", "heapsort", "stable"]


def varied(dt, n, seed=0):
    """Elements with many duplicates (so equal keys meet), NaN/NaT included."""
    dt = np.dtype(dt)
    rng = np.random.default_rng(seed)
    small = rng.integers(-5, 5, n)
    if dt.names is not None:
        out = np.zeros(n, dtype=dt)
        for name in dt.names:
            f = out[name]
            if f.dtype.names is None:
                out[name] = rng.integers(0, 3, f.shape).astype(f.dtype)
            else:
                for sub in f.dtype.names:
                    out[name][sub] = rng.integers(0, 3, n)
        return out
    k = dt.kind
    if k == "b":
        return (small > 0).astype(dt)
    if k in "iu":
        return (small + 5).astype(dt) if k == "u" else small.astype(dt)
    if k == "f":
        v = (small / 2).astype(dt)
        v[rng.random(n) < 0.1] = np.nan
        v[rng.random(n) < 0.1] = -0.0
        return v
    if k == "c":
        return (small + 1j * rng.integers(-2, 2, n)).astype(dt)
    if k in "Mm":
        v = small.astype(dt)
        v[rng.random(n) < 0.1] = np.array("NaT").astype(dt)
        return v
    if k == "S":
        return np.array([bytes([97 + x % 3]) * (x % 4) for x in small + 5], dtype=dt)
    if k == "U":
        return np.array(["ab"[x % 2] * (x % 3) for x in small + 5], dtype=dt)
    return np.frombuffer(rng.bytes(n * dt.itemsize), dtype=dt).copy()


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
@pytest.mark.parametrize("n", [0, 1, 2, 37, 500])
def test_sort_matches_numpy(family, first_segment, n):
    ref = varied(family.dtype, n)
    lst = SegmentedList(family.dtype, first_segment=first_segment)
    lst.extend(ref)
    lst.sort()
    assert_arrays_identical(lst.to_numpy(), np.sort(ref))


@pytest.mark.parametrize("kind", KINDS)
def test_kinds(kind):
    ref = varied("f8", 1000, seed=3)
    lst = SegmentedList("f8", ref, first_segment=2)
    lst.sort(kind=kind)
    assert_arrays_identical(lst.to_numpy(), np.sort(ref, kind=kind))


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_reverse_is_reversed_numpy_order(family):
    ref = varied(family.dtype, 300, seed=1)
    lst = SegmentedList(family.dtype, ref, first_segment=4)
    lst.sort(reverse=True, kind="stable")
    # list.sort(reverse=True) == reverse, stable sort, reverse.
    assert_arrays_identical(lst.to_numpy(), np.sort(ref[::-1], kind="stable")[::-1])


def test_reverse_keeps_equal_elements_in_order_like_list_sort():
    # 0.0 and -0.0 are equal but distinguishable.
    vals = [0.0, -0.0, 1.0, -0.0, 0.0, 1.0, -1.0]
    lst = SegmentedList("f8", vals, first_segment=1)
    lst.sort(reverse=True, kind="stable")
    want = sorted(vals, reverse=True)
    assert [np.copysign(1, x) for x in lst.to_numpy()] == [np.copysign(1, x) for x in want]
    assert lst.to_numpy().tolist() == want
    lst = SegmentedList("f8", vals, first_segment=1)
    lst.sort(kind="stable")
    want = sorted(vals)
    assert [np.copysign(1, x) for x in lst.to_numpy()] == [np.copysign(1, x) for x in want]


def test_nan_placement():
    vals = [np.nan, 2.0, -np.inf, np.nan, 0.5]
    lst = SegmentedList("f8", vals)
    lst.sort()
    assert np.array_equal(lst.to_numpy(), [-np.inf, 0.5, 2.0, np.nan, np.nan], equal_nan=True)
    lst.sort(reverse=True)
    assert np.array_equal(lst.to_numpy(), [np.nan, np.nan, 2.0, 0.5, -np.inf], equal_nan=True)


def test_records_sort_field_by_field():
    dt = np.dtype([("a", "<i4"), ("b", "<f8"), ("c", "S2")])
    ref = np.array([(1, 2.0, b"x"), (0, 5.0, b"y"), (1, 1.0, b"z"), (1, 1.0, b"a"), (0, 5.0, b"b")],
                   dtype=dt)
    lst = SegmentedList(dt, ref, first_segment=1)
    lst.sort()
    assert lst.to_numpy().tolist() == sorted(ref.tolist())


def test_void_sorts_bytewise():
    ref = np.array([b"\x02\x00", b"\x01\xff", b"\x01\x00"], dtype="V2")
    lst = SegmentedList("V2", ref)
    lst.sort()
    assert_arrays_identical(lst.to_numpy(), np.sort(ref))


@pytest.mark.parametrize("kw, exc", [
    (dict(kind="bogus"), ValueError),
    (dict(kind=3), TypeError),
    (dict(reverse="yes"), TypeError),
    (dict(reverse=1.0), TypeError),
    (dict(reverse=None), TypeError),
])
def test_bad_arguments_change_nothing(kw, exc):
    ref = varied("i8", 200)
    lst = SegmentedList("i8", ref, first_segment=2)
    with pytest.raises(exc):
        lst.sort(**kw)
    assert_arrays_identical(lst.to_numpy(), ref)


def test_positional_arguments_refused():
    lst = SegmentedList("i8", [2, 1])
    with pytest.raises(TypeError):
        lst.sort(None)
    assert lst.to_numpy().tolist() == [2, 1]


def test_reverse_accepts_ints_like_list_sort():
    lst = SegmentedList("i8", [1, 3, 2])
    lst.sort(reverse=1)
    assert lst.to_numpy().tolist() == [3, 2, 1]
    lst.sort(reverse=False)
    assert lst.to_numpy().tolist() == [1, 2, 3]


def test_sort_in_place_views_see_it_and_nothing_moves():
    a = segpy.SystemAllocator()
    lst = SegmentedList("i4", range(100, 0, -1), first_segment=4, allocator=a)
    views = lst.segments()
    addrs = [v.__array_interface__["data"][0] for v in views]
    used = a.stats["bytes_in_use"]
    lst.sort()
    assert np.concatenate(views).tolist() == list(range(1, 101))
    assert [v.__array_interface__["data"][0] for v in lst.segments()] == addrs
    assert a.stats["bytes_in_use"] == used
    assert len(lst) == 100


@settings(max_examples=examples(80))
@given(st.lists(st.integers(-2**63, 2**63 - 1), max_size=300), st.sampled_from([1, 2, 64]),
       st.booleans())
def test_sort_property_vs_sorted(vals, s0, reverse):
    lst = SegmentedList("i8", vals, first_segment=s0)
    lst.sort(reverse=reverse)
    assert lst.to_numpy().tolist() == sorted(vals, reverse=reverse)
