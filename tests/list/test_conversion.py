"""Value conversion on the way in (numpy assignment, casting 'same_kind') and out.

In: Python ints are range-checked (OverflowError), Python floats/complex and
non-bool ints are refused where numpy's 'same_kind' would refuse them
(TypeError), numpy scalars and 0-d arrays follow ``np.can_cast(..., 'same_kind')``
and are then cast as numpy casts them.  Out: Python scalars for numeric kinds,
numpy scalars otherwise; record reads are copies.  Every refused value leaves
the list exactly as it was.
"""

import math
import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import from_dtype

import segpy
from segpy import SegmentedList

from seg_support import (
    FAMILIES,
    assert_arrays_identical,
    assert_scalar_matches,
    converted,
    examples,
    expected_scalar,
)

NUMERIC_FAMILIES = [f for f in FAMILIES if f.numeric]
INT_DTYPES = ["i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", ">i4", ">u2", ">i8", ">u8"]
SCALAR_TYPES = [np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32,
                np.int64, np.uint64, np.float16, np.float32, np.float64, np.complex64,
                np.complex128]
NUMERIC_LIST_DTYPES = ["?", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8",
                       "c8", "c16", ">i4", ">u8", ">f8", ">f4", ">c16", "<f2"]


def _numpy_assign(value, dtype):
    """What numpy stores for ``a[0] = value`` (the reference conversion)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # overflow to inf in casts
        out = np.zeros(1, dtype=dtype)
        out[0] = value
    return out


def _unchanged_after(lst, exc, fn, match=None):
    """``fn()`` raises ``exc`` and leaves ``lst`` as it was.

    Byte counts are compared only for a list with its own allocator: the
    default one is shared with whatever else the process frees meanwhile.
    """
    own = lst.allocator is not segpy.get_allocator()
    before = lst.to_numpy()
    cap = lst.capacity
    in_use = lst.allocator.stats["bytes_in_use"]
    with pytest.raises(exc, match=match) as info:
        fn()
    assert len(lst) == len(before)
    assert_arrays_identical(lst.to_numpy(), before)
    assert lst.capacity == cap
    if own:
        assert lst.allocator.stats["bytes_in_use"] == in_use
    return info


# -- Python ints ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", INT_DTYPES)
@settings(max_examples=examples(40))
@given(data=st.data())
def test_python_ints_are_range_checked(dtype, data):
    info = np.iinfo(np.dtype(dtype))
    x = data.draw(st.one_of(
        st.integers(info.min, info.max),
        st.integers(info.min - 2 ** 70, info.max + 2 ** 70),
        st.sampled_from([info.min, info.max, info.min - 1, info.max + 1, 0, -1,
                         2 ** 63, 2 ** 64, -2 ** 63 - 1, 2 ** 200, -2 ** 200])))
    lst = SegmentedList(dtype, [0], first_segment=1, allocator=segpy.SystemAllocator())
    if info.min <= x <= info.max:
        lst.append(x)
        lst[0] = x
        lst.extend([x])
        assert list(lst) == [x, x, x]
        assert all(type(v) is int for v in lst)
    else:
        for fn in (lambda: lst.append(x), lambda: lst.extend([1, x]),
                   lambda: lst.__setitem__(0, x), lambda: lst.__setitem__(-1, x)):
            _unchanged_after(lst, OverflowError, fn, match="out of bounds")
        assert list(lst) == [0]


@settings(max_examples=examples(40))
@given(values=st.lists(st.one_of(
    st.integers(-2 ** 63, 2 ** 63 - 1),
    st.sampled_from([0, 1, -1, 2 ** 30 - 1, 2 ** 30, -2 ** 30 + 1, -2 ** 30, 2 ** 31,
                     2 ** 62, -2 ** 63, 2 ** 63 - 1, True, False])), max_size=40),
    first=st.sampled_from([1, 2, 4, 8]))
def test_int64_append_of_every_int_size_across_segments(values, first):
    # append's inline path takes one-digit ints while the segment has room;
    # longer ints, bools and a full segment go out of line.  Every mix, and
    # a refused int at any point, gives what numpy gives.
    lst = SegmentedList("i8", first_segment=first)
    for k, x in enumerate(values):
        lst.append(x)
        if k % 5 == 4:
            _unchanged_after(lst, OverflowError, lambda: lst.append(2 ** 63), match="out of bounds")
            _unchanged_after(lst, TypeError, lambda: lst.append(0.5))
    assert_arrays_identical(lst.to_numpy(), np.array([int(v) for v in values], dtype="i8"))


@settings(max_examples=examples(40))
@given(values=st.lists(st.one_of(st.floats(allow_nan=False), st.integers(-2 ** 53, 2 ** 53),
                                 st.sampled_from([np.float64(1.5), np.float32(0.25)])),
                       max_size=40),
       first=st.sampled_from([1, 2, 4, 8]))
def test_float64_append_of_floats_and_ints_across_segments(values, first):
    lst = SegmentedList("f8", first_segment=first)
    for x in values:
        lst.append(x)
    assert_arrays_identical(lst.to_numpy(), np.array([float(v) for v in values], dtype="f8"))


def test_huge_int_message_is_bounded():
    lst = SegmentedList("q")
    with pytest.raises(OverflowError) as info:
        lst.append(10 ** 5000)      # str() of it would itself fail past 4300 digits
    assert len(str(info.value)) < 300


@pytest.mark.parametrize("dtype", ["f2", "f4", "f8", "c8", "c16", ">f8", ">c16"])
def test_python_ints_into_floats(dtype):
    lst = SegmentedList(dtype)
    for x in [0, 1, -1, 2 ** 53 + 1, -2 ** 60, 12345]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # float16 overflows, as numpy
            lst.append(x)
        assert_arrays_identical(lst.to_numpy()[-1:], _numpy_assign(x, dtype))


def test_python_int_too_big_for_float64():
    lst = SegmentedList("d", [1.0])
    _unchanged_after(lst, OverflowError, lambda: lst.append(2 ** 1100))


# -- bool -----------------------------------------------------------------------------


def test_bool_list_takes_only_bools():
    lst = SegmentedList("?", [True, False, np.True_, np.bool_(False)])
    assert list(lst) == [True, False, True, False]
    assert all(type(v) is bool for v in lst)
    for bad in (0, 1, 2, -1, 1.0, 0.0, 1j, np.int8(1), np.uint8(0), np.float32(1), "True"):
        _unchanged_after(lst, TypeError, lambda bad=bad: lst.append(bad))
        _unchanged_after(lst, TypeError, lambda bad=bad: lst.__setitem__(0, bad))
        _unchanged_after(lst, TypeError, lambda bad=bad: lst.extend([True, bad]))


def test_bools_into_numeric_lists():
    for dtype in NUMERIC_LIST_DTYPES:
        lst = SegmentedList(dtype, [True, False, np.True_])
        assert_arrays_identical(lst.to_numpy(), converted([True, False, True], dtype))


# -- floats and complex ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", INT_DTYPES + ["?"])
@pytest.mark.parametrize("x", [1.0, 1.5, -0.0, float("nan"), float("inf"), np.float64(2.0),
                               1j, 1 + 0j, np.complex128(1)], ids=repr)
def test_python_floats_and_complex_refused_by_int_lists(dtype, x):
    lst = SegmentedList(dtype, [True])
    _unchanged_after(lst, TypeError, lambda: lst.append(x), match="same_kind")
    _unchanged_after(lst, TypeError, lambda: lst.__setitem__(0, x), match="same_kind")
    _unchanged_after(lst, TypeError, lambda: lst.extend([1, x]), match="same_kind")


@pytest.mark.parametrize("dtype", ["f2", "f4", "f8", ">f8", ">f4"])
@pytest.mark.parametrize("x", [1j, 0j, 1 + 2j, complex("nan"), np.complex64(1),
                               np.complex128(0)], ids=repr)
def test_complex_refused_by_float_lists(dtype, x):
    lst = SegmentedList(dtype, [1.0])
    _unchanged_after(lst, TypeError, lambda: lst.append(x), match="same_kind")
    _unchanged_after(lst, TypeError, lambda: lst.__setitem__(-1, x))
    _unchanged_after(lst, TypeError, lambda: lst.extend([2.0, x]))


FLOAT_SPECIALS = [0.0, -0.0, 1.5, float("inf"), -float("inf"), float("nan"), 1e-310,
                  1e300, -1e300, 65504.0, 70000.0, 3.4028235e38, 1e39]


@pytest.mark.parametrize("dtype", ["f2", "f4", "f8", ">f8", ">f4", "c8", "c16", ">c16"])
@pytest.mark.parametrize("x", FLOAT_SPECIALS, ids=repr)
def test_python_floats_convert_like_numpy(dtype, x):
    lst = SegmentedList(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lst.append(x)
        lst.append(np.float64(x))
    want = _numpy_assign(x, dtype)
    assert_arrays_identical(lst.to_numpy(), np.concatenate([want, want]).astype(dtype))


COMPLEX_SPECIALS = [0j, -0j, 1 + 2j, complex(0.0, -0.0), complex(-0.0, 0.0),
                    complex(0, float("inf")), complex(1, float("inf")),
                    complex(float("inf"), 0), complex(float("inf"), float("inf")),
                    complex(-float("inf"), 2), complex(0, -float("inf")),
                    complex(0, float("nan")), complex(float("nan"), 0),
                    complex(2.5, float("nan")), complex(1e300, 1e-300)]


@pytest.mark.parametrize("dtype", ["c8", "c16", ">c8", ">c16"])
@pytest.mark.parametrize("x", COMPLEX_SPECIALS, ids=repr)
def test_python_complex_convert_like_numpy(dtype, x):
    lst = SegmentedList(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lst.append(x)
    assert_arrays_identical(lst.to_numpy(), _numpy_assign(x, dtype))
    got = lst[0]
    assert type(got) is complex
    want = _numpy_assign(x, dtype)[0].item()
    for a, b in ((got.real, want.real), (got.imag, want.imag)):
        assert (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) ==
                                                     math.copysign(1, b))


@pytest.mark.parametrize("dtype", ["c8", "c16", ">c8", ">c16"])
@settings(max_examples=examples(60))
@given(x=st.complex_numbers(allow_nan=True, allow_infinity=True))
@example(x=complex(0.0, float("inf")))
@example(x=complex(-0.0, 0.0))
def test_python_complex_property(dtype, x):
    lst = SegmentedList(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lst.append(x)
        lst.extend([x])
        lst.append(np.complex128(x))
    want = _numpy_assign(x, dtype)
    assert_arrays_identical(lst.to_numpy(), np.repeat(want, 3))


# -- non-numbers into numeric lists -------------------------------------------------------


@pytest.mark.parametrize("dtype", NUMERIC_LIST_DTYPES)
@pytest.mark.parametrize("x", ["1", "", b"1", None, [1], [1, 2], (1,), {}, object(),
                               np.array([1]), np.zeros((1, 1)), np.array("1"),
                               np.datetime64("2020-01-01"), np.str_("1")],
                         ids=lambda x: type(x).__name__ + repr(getattr(x, "shape", "")))
def test_non_numbers_refused_by_numeric_lists(dtype, x):
    lst = SegmentedList(dtype, [True])
    _unchanged_after(lst, TypeError, lambda: lst.append(x))
    _unchanged_after(lst, TypeError, lambda: lst.__setitem__(0, x))
    _unchanged_after(lst, TypeError, lambda: lst.extend([True, x]))


# -- numpy scalars and 0-d arrays: np.can_cast(..., 'same_kind') -------------------------------


@pytest.mark.parametrize("dst", NUMERIC_LIST_DTYPES)
@pytest.mark.parametrize("src", SCALAR_TYPES, ids=lambda t: t.__name__)
@settings(max_examples=examples(8))
@given(data=st.data())
def test_numpy_scalars_follow_same_kind(dst, src, data):
    x = data.draw(from_dtype(np.dtype(src)), label="value")
    assert type(x) is src
    lst = SegmentedList(dst, [True], first_segment=1)
    allowed = np.can_cast(np.dtype(src), np.dtype(dst), casting="same_kind")
    # A numpy integer into an integer list is value-checked like the Python
    # int it equals (numpy 2 does that for signed targets, and wraps for
    # unsigned ones; segpy refuses both rather than store a wrong value).
    out_of_range = False
    if allowed and np.dtype(src).kind in "iu" and np.dtype(dst).kind in "iu":
        info = np.iinfo(np.dtype(dst))
        out_of_range = not info.min <= int(x) <= info.max
    if out_of_range:
        for fn in (lambda: lst.append(x), lambda: lst.__setitem__(0, x),
                   lambda: lst.extend([True, x]), lambda: lst.insert(0, x)):
            _unchanged_after(lst, OverflowError, fn, match="out of bounds|too large")
        lst.append(np.array(x))            # a 0-d array is cast, as numpy casts it
        assert_arrays_identical(lst.to_numpy()[1:], np.array(x).astype(dst).reshape(1))
    elif allowed:
        with warnings.catch_warnings():
            # Narrowing float casts overflow to inf with a warning, as in numpy.
            warnings.simplefilter("ignore", RuntimeWarning)
            lst.append(x)
            lst[0] = x
            lst.extend([x])
            lst.append(np.array(x))        # a 0-d array behaves as its scalar
            want = np.array(x).astype(dst)
        assert_arrays_identical(lst.to_numpy(), np.repeat(want.reshape(1), 4))
    else:
        for fn in (lambda: lst.append(x), lambda: lst.__setitem__(0, x),
                   lambda: lst.extend([True, x]), lambda: lst.append(np.array(x))):
            _unchanged_after(lst, TypeError, fn, match="same_kind")


@pytest.mark.parametrize("dst,x", [
    ("i1", np.int64(300)), ("i1", np.uint64(2 ** 64 - 1)), ("i1", np.int16(-129)),
    ("u1", np.uint64(2 ** 64 - 1)), ("u1", np.uint16(256 + 7)), ("u1", np.uint32(256)),
    ("i4", np.int64(2 ** 31)), (">i2", np.int32(40_000)), (">u2", np.uint32(70_000)),
])
def test_numpy_int_out_of_range_raises_like_numpy(dst, x):
    # numpy 2 raises OverflowError for arr[0] = np.int64(300) into int8 (it
    # used to wrap to 44, as segpy did); every path that stores one value
    # does the same for every integer target, and the list is unchanged.
    lst = SegmentedList(dst, [1, 2])
    for fn in (lambda: lst.append(x), lambda: lst.__setitem__(0, x),
               lambda: lst.insert(1, x), lambda: lst.extend([3, x]),
               lambda: lst.put([0], [x]), lambda: lst.fromlist([3, x])):
        _unchanged_after(lst, OverflowError, fn, match="out of bounds|too large")


def test_numpy_int_in_range_is_stored():
    lst = SegmentedList("i1")
    lst.append(np.int64(100))
    lst.append(np.uint64(127))
    lst.append(np.int16(-128))
    assert list(lst) == [100, 127, -128]


def test_numpy_float64_into_int_list_refused():
    lst = SegmentedList("q", [1])
    _unchanged_after(lst, TypeError, lambda: lst.append(np.float64(1.0)), match="same_kind")
    _unchanged_after(lst, TypeError, lambda: lst.append(np.array(1.0)), match="same_kind")


def test_zero_d_array_of_objects_refused():
    lst = SegmentedList("q", [1])
    _unchanged_after(lst, TypeError, lambda: lst.append(np.array(5, dtype=object)))


# -- datetimes ------------------------------------------------------------------------------


def test_datetime_lists_accept_strings_and_datetime64():
    lst = SegmentedList("M8[s]")
    lst.append("2020-01-02T03:04:05")
    lst.append(np.datetime64("2020-01-02", "D"))
    lst.append(np.datetime64("2020-01-02T03:04:05.999", "ms"))   # same_kind: truncates
    lst.append("NaT")
    lst.append(np.datetime64("NaT"))
    want = np.array(["2020-01-02T03:04:05", "2020-01-02", "2020-01-02T03:04:05", "NaT", "NaT"],
                    dtype="M8[s]")
    assert_arrays_identical(lst.to_numpy(), want)
    assert all(type(v) is np.datetime64 for v in lst)
    assert lst[0] == np.datetime64("2020-01-02T03:04:05")
    assert lst[0].dtype == np.dtype("M8[s]")


def test_datetime_list_refusals():
    lst = SegmentedList("M8[D]", ["2021-05-06"])
    _unchanged_after(lst, ValueError, lambda: lst.append("garbage"))
    _unchanged_after(lst, ValueError, lambda: lst.extend(["2020-01-01", "garbage"]))
    _unchanged_after(lst, TypeError, lambda: lst.append(1.5))
    _unchanged_after(lst, TypeError, lambda: lst.append(1j))
    _unchanged_after(lst, TypeError, lambda: lst.append(np.timedelta64(1, "D")))
    _unchanged_after(lst, TypeError, lambda: lst.append(np.float64(1.0)))
    _unchanged_after(lst, TypeError, lambda: lst.append(np.zeros(2, "M8[D]")))


def test_timedelta_list():
    lst = SegmentedList("m8[s]", [np.timedelta64(3, "m"), np.timedelta64(5, "s")])
    assert_arrays_identical(lst.to_numpy(), np.array([180, 5], dtype="m8[s]"))
    assert type(lst[0]) is np.timedelta64


# -- strings and records --------------------------------------------------------------------------


def test_string_lists():
    s = SegmentedList("S3", [b"ab", b"abc", b"a\x00", np.bytes_(b"xy")])
    assert list(s) == [b"ab", b"abc", b"a", b"xy"]
    assert all(type(v) is np.bytes_ for v in s)
    u = SegmentedList("U3", ["ab", "abc", np.str_("é"), "\U0001f600"])
    assert list(u) == ["ab", "abc", "é", "\U0001f600"]
    assert all(type(v) is np.str_ for v in u)


def test_record_list_values():
    dt = np.dtype([("a", "<i4"), ("b", "<f8", (2,)), ("c", "S2")])
    lst = SegmentedList(dt, [(1, [2.0, 3.0], b"x")])
    lst.append((4, [5.0, 6.0], b"yz"))
    lst.append(np.array((7, [8.0, 9.0], b"w"), dtype=dt)[()])      # np.void of the dtype
    lst.append(np.zeros((), dtype=dt))                               # 0-d record array
    want = np.array([(1, [2, 3], b"x"), (4, [5, 6], b"yz"), (7, [8, 9], b"w"),
                     (0, [0, 0], b"")], dtype=dt)
    assert_arrays_identical(lst.to_numpy(), want)
    assert all(type(v) is np.void for v in lst)
    assert lst[1]["a"] == 4 and list(lst[1]["b"]) == [5.0, 6.0] and lst[1]["c"] == b"yz"
    _unchanged_after(lst, ValueError, lambda: lst.append((1, 2)))
    _unchanged_after(lst, TypeError, lambda: lst.append(np.zeros(2, dtype=dt)))


# -- every family: reads and refused values -----------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
@settings(max_examples=examples(15))
@given(data=st.data())
def test_read_types_per_family(family, data):
    vals = data.draw(st.lists(family.values, min_size=1, max_size=10), label="values")
    lst = SegmentedList(family.dtype, vals, first_segment=2)
    want = converted(vals, family.dtype)
    for i in range(len(vals)):
        assert_scalar_matches(lst[i], expected_scalar(want, i), family.dtype)
    for got, i in zip(lst, range(len(vals))):
        assert_scalar_matches(got, expected_scalar(want, i), family.dtype)


_BAD_CASES = [pytest.param(f, v, e, id=f"{f.name}-{type(v).__name__}-{k}")
              for f in FAMILIES for k, (v, e) in enumerate(f.bad)]


@pytest.mark.parametrize("fam,value,exc", _BAD_CASES)
def test_refused_values_leave_the_list_unchanged(fam, value, exc):
    zeros = np.zeros(9, dtype=fam.dtype)          # s0=2: spans three segments
    lst = SegmentedList(fam.dtype, zeros, first_segment=2, allocator=segpy.SystemAllocator())
    _unchanged_after(lst, exc, lambda: lst.append(value))
    _unchanged_after(lst, exc, lambda: lst.__setitem__(3, value))
    _unchanged_after(lst, exc, lambda: lst.__setitem__(-1, value))
    # A refused value late in an iterable, after enough good ones to need new
    # segments: nothing of the call is kept.
    _unchanged_after(lst, exc, lambda: lst.extend(list(zeros) * 3 + [value]))
    _unchanged_after(lst, exc, lambda: lst.extend(iter(list(zeros) * 3 + [value])))
    assert_arrays_identical(lst.to_numpy(), zeros)


# -- record reads are copies -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["V4", "S4", "U2", "M8[s]",
                                   [("a", "<i4"), ("b", "<f8", (2,))],
                                   np.dtype([("a", "u1"), ("b", "<f8")], align=True)], ids=str)
def test_non_numeric_reads_are_copies(dtype):
    dt = np.dtype(dtype)
    ones = np.frombuffer(b"\x01" * dt.itemsize * 4, dtype=dt).copy()
    lst = SegmentedList(dt, ones, first_segment=1)
    first = lst[0]
    last = lst[-1]
    by_iter = next(iter(lst))
    keep = np.array([first, last, by_iter], dtype=dt)
    # Overwrite through every route: setitem, a segment view, clear + regrow.
    lst[0] = np.zeros((), dtype=dt)[()]
    for v in lst.segments():
        v[...] = np.zeros(len(v), dtype=dt)
    lst.clear()
    lst.extend(np.zeros(100, dtype=dt))
    assert_arrays_identical(np.array([first, last, by_iter], dtype=dt), keep)
    del lst
    assert_arrays_identical(np.array([first, last, by_iter], dtype=dt), keep)


def test_record_read_is_not_a_view():
    dt = np.dtype([("a", "<i4"), ("b", "<f8")])
    lst = SegmentedList(dt, [(1, 2.0)])
    r = lst[0]
    assert r.base is None or not isinstance(r.base, np.ndarray)
    lst[0] = (5, 6.0)
    assert r["a"] == 1 and r["b"] == 2.0


# Records from tuples: a record dtype of native number and bool fields
# converts a tuple of exact ints, floats and bools in C, and sends anything
# else to numpy.  Either way the result and the error are numpy's own
# ``arr[0] = value``: these dtypes and values straddle every edge of the C
# path (ranges, float32 overflow, bool fields, padding, overlapping and
# non-native fields, wrong lengths, subclasses).
RECORD_DTYPES = [
    [("id", "<i8"), ("x", "<f8"), ("y", "<f8"), ("z", "<f8"), ("flag", "<i4"), ("pad", "<i4")],
    [("a", "i1"), ("b", "u1"), ("c", "i2"), ("d", "u2"), ("e", "u4"), ("f", "u8"), ("g", "?"),
     ("h", "f4")],
    {"names": ["a", "b"], "formats": ["i4", "f8"], "offsets": [0, 8], "itemsize": 24},
    {"names": ["a", "b"], "formats": ["i4", "u2"], "offsets": [0, 2], "itemsize": 4},
    [("a", "f4"), ("b", ">i4")],
    [("a", "i8"), ("b", "c16")],
    [("a", "i8"), ("b", "f8", (2,))],
]


class _Int(int):
    pass


class _Tuple(tuple):
    pass


RECORD_ITEMS = [0, 1, -1, 127, 128, -129, 255, 256, 2**15, 2**16, 2**31 - 1, 2**31, -2**31 - 1,
                2**32, 2**63 - 1, 2**63, 2**64, -2**63, -2**63 - 1, 2**29, 2**30, -2**30,
                0.0, -0.0, 1.5, -1.5, 1e300, -1e300, 3.4028235e38, 3.5e38, math.inf, math.nan,
                True, False, None, "1", np.int64(3), np.float64(2.5), 1 + 2j, _Int(5)]


def _numpy_record_outcome(dt, value):
    """What numpy's ``arr[0] = value`` gives: ("ok", element) or ("err", type, message)."""
    a = np.zeros(1, dt)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a[0] = value
    except (TypeError, ValueError, OverflowError) as e:
        return ("err", type(e), str(e))
    return ("ok", a)


@pytest.mark.parametrize("spec", RECORD_DTYPES, ids=range(len(RECORD_DTYPES)))
@given(data=st.data())
@settings(max_examples=examples(200), deadline=None)
def test_records_from_tuples_convert_like_numpy(spec, data):
    dt = np.dtype(spec)
    n = len(dt.names)
    items = data.draw(st.lists(st.sampled_from(RECORD_ITEMS), min_size=n - 1, max_size=n + 1))
    value = data.draw(st.sampled_from([tuple, _Tuple]))(items)
    expected = _numpy_record_outcome(dt, value)
    for store in ("append", "extend", "setitem"):
        lst = SegmentedList(dt, [tuple(0 for _ in dt.names)])
        before = lst.to_numpy()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if store == "append":
                    lst.append(value)
                elif store == "extend":
                    lst.extend([value])
                else:
                    lst[0] = value
        except (TypeError, ValueError, OverflowError) as e:
            assert expected == ("err", type(e), str(e)), store
            assert_arrays_identical(lst.to_numpy(), before)
            continue
        assert expected[0] == "ok", (store, expected)
        got = lst.to_numpy()[-1:]
        for name in dt.names:
            np.testing.assert_array_equal(got[name], expected[1][name], strict=True)
            assert (np.signbit(got[name].real) == np.signbit(expected[1][name].real)).all()


def test_a_record_append_that_fails_midway_leaves_no_trace():
    # The C path writes a record's fields straight into the next slot and
    # commits it only when every field converted: a failure in the fifth
    # field leaves a half-written slot past the end, which the next append
    # overwrites whole.
    dt = np.dtype(RECORD_DTYPES[0])
    lst = SegmentedList(dt, [(1, 1.0, 1.0, 1.0, 1, 1)])
    before = lst.to_numpy()
    with pytest.raises(OverflowError):
        lst.append((7, 7.0, 7.0, 7.0, 2**40, 7))
    assert_arrays_identical(lst.to_numpy(), before)
    lst.append((2, 2.0, 2.0, 2.0, 2, 2))
    lst.append((3, np.float64(3.0), 3.0, 3.0, 3, 3))     # a numpy item: numpy's path
    assert lst.to_numpy().tolist() == [(1, 1.0, 1.0, 1.0, 1, 1), (2, 2.0, 2.0, 2.0, 2, 2),
                                       (3, 3.0, 3.0, 3.0, 3, 3)]
    # Across a segment boundary too (the C path needs room in the segment).
    lst = SegmentedList(dt, first_segment=2)
    for i in range(9):
        lst.append((i, i / 2, 0.0, 0.0, i, 0))
    assert lst.to_numpy()["x"].tolist() == [i / 2 for i in range(9)]
