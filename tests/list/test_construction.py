"""Construction: accepted and refused dtypes, first_segment, allocator, initial contents."""

import array

import numpy as np
import pytest

import segpy
from segpy import SegmentedList

from seg_support import (
    FAMILIES,
    TYPECODES,
    assert_arrays_identical,
    converted,
    default_first_segment,
    stable_id,
)

# -- dtypes ---------------------------------------------------------------------

EXTRA_DTYPES = [
    "S1", "U1", "V1", "V8", "S1000", "U300", "g", "G", "<f2", ">f2", ">i8", ">u8", ">c16",
    "M8[ns]", "M8[Y]", "m8[h]", ">M8[s]",
    np.dtype([("a", "i1")]),
    np.dtype([("a", "i1"), ("b", "V3"), ("c", "S2")]),
    np.dtype([("m", "<f4", (2, 2)), ("n", [("z", "c8", (2,))])]),
    np.dtype({"names": ["a", "b"], "formats": ["<i4", "<i2"], "offsets": [0, 8],
              "itemsize": 16}),
    np.dtype([("t", "M8[s]"), ("d", "m8[ms]")]),
]


@pytest.mark.parametrize("dtype", [f.dtype for f in FAMILIES] + TYPECODES + EXTRA_DTYPES,
                         ids=str)
def test_every_fixed_size_dtype_is_accepted(dtype):
    dt = np.dtype(dtype)
    lst = SegmentedList(dtype)
    assert lst.dtype == dt
    assert lst.itemsize == dt.itemsize
    assert len(lst) == 0 and lst.nbytes == 0 and lst.capacity == 0
    assert lst.first_segment == default_first_segment(dt.itemsize)
    # One zero element round-trips through the list.
    zero = np.zeros(1, dtype=dt)
    lst.extend(zero)
    assert len(lst) == 1
    assert_arrays_identical(lst.to_numpy(), zero)
    assert lst.to_numpy().dtype == dt  # byte order and record layout kept exactly


@pytest.mark.parametrize("code", TYPECODES)
def test_array_typecodes(code):
    lst = SegmentedList(code, [1, 2, 3])
    assert lst.dtype == np.dtype(code)
    assert lst.itemsize == array.array(code).itemsize
    assert list(lst) == [1, 2, 3]
    assert all(type(x) is (float if code in "fd" else int) for x in lst)


BAD_DTYPES = [
    "O",
    object,
    [("a", "i4"), ("o", "O")],
    [("outer", [("inner", "O")])],
    [("objs", "O", (2,))],
    "S0", "U0", "V0", "S", "U", "V",
    "(3,)f8",
    ("f8", (2, 2)),
    ("i4", (1,)),
]


@pytest.mark.parametrize("dtype", BAD_DTYPES, ids=repr)
def test_unsupported_dtype_is_a_type_error_naming_it(dtype):
    with pytest.raises(TypeError) as info:
        SegmentedList(dtype)
    assert repr(np.dtype(dtype)) in str(info.value)


def test_bad_dtype_never_reaches_the_allocator(allocator):
    for dtype in BAD_DTYPES:
        with pytest.raises(TypeError):
            SegmentedList(dtype, [1], allocator=allocator)
    assert allocator.stats["n_os_calls"] == 0


def test_dtype_that_numpy_refuses():
    with pytest.raises(TypeError):
        SegmentedList("not-a-dtype")


# -- first_segment -----------------------------------------------------------------


@pytest.mark.parametrize("k", [0, 1, 2, 3, 6, 10, 20, 29, 30])
def test_first_segment_powers_of_two(k, allocator):
    lst = SegmentedList("i1", first_segment=2 ** k, allocator=allocator)
    assert lst.first_segment == 2 ** k
    assert lst.capacity == 0
    assert allocator.stats["n_os_calls"] == 0  # nothing allocated up front


def test_first_segment_accepts_index_types():
    assert SegmentedList("q", first_segment=np.int64(8)).first_segment == 8
    assert SegmentedList("q", first_segment=np.uint16(16)).first_segment == 16

    class Idx:
        def __index__(self):
            return 4

    assert SegmentedList("q", first_segment=Idx()).first_segment == 4


@pytest.mark.parametrize("bad", [0, -1, -8, 3, 6, 12, 1000, 2 ** 30 + 1, 2 ** 31, 2 ** 40,
                                 2 ** 62, 2 ** 63, 2 ** 70, -2 ** 70])
def test_first_segment_value_errors(bad):
    with pytest.raises(ValueError, match="first_segment"):
        SegmentedList("q", first_segment=bad)


@pytest.mark.parametrize("bad", [8.0, "8", True, False, [8], 1j])
def test_first_segment_type_errors(bad):
    with pytest.raises(TypeError, match="first_segment"):
        SegmentedList("q", first_segment=bad)


@pytest.mark.parametrize("itemsize", [1, 2, 3, 4, 5, 8, 16, 24, 100, 511, 512, 513, 4096])
def test_default_first_segment_is_about_512_bytes(itemsize):
    lst = SegmentedList(f"S{itemsize}")
    s0 = lst.first_segment
    assert s0 & (s0 - 1) == 0
    assert s0 * itemsize >= 512
    assert s0 == 1 or (s0 // 2) * itemsize < 512
    assert s0 == default_first_segment(itemsize)


# -- allocator argument ----------------------------------------------------------------


@pytest.mark.parametrize("bad", [5, "system", object(), segpy.SystemAllocator, {}])
def test_allocator_must_be_a_segpy_allocator(bad):
    with pytest.raises(TypeError, match="allocator"):
        SegmentedList("q", allocator=bad)


def test_default_allocator():
    lst = SegmentedList("q", [1])
    assert lst.allocator is segpy.get_allocator()
    assert isinstance(lst.allocator, segpy.Allocator)
    assert isinstance(lst.allocator, segpy.Heap)


def test_explicit_allocator(allocator):
    lst = SegmentedList("q", [1], allocator=allocator)
    assert lst.allocator is allocator
    assert allocator.stats["bytes_in_use"] == lst.capacity * 8


def test_keyword_only_arguments():
    with pytest.raises(TypeError):
        SegmentedList("q", [], None)  # allocator is keyword-only
    with pytest.raises(TypeError):
        SegmentedList("q", [], None, 8)


# -- initial contents --------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda: [1, 2, 3],
    lambda: (1, 2, 3),
    lambda: range(1, 4),
    lambda: (x for x in [1, 2, 3]),
    lambda: iter([1, 2, 3]),
    lambda: np.array([1, 2, 3]),
    lambda: np.array([1, 2, 3], dtype="i1"),
    lambda: np.array([1, 9, 2, 9, 3], dtype=">i8")[::2],
    lambda: array.array("q", [1, 2, 3]),
    lambda: memoryview(array.array("h", [1, 2, 3])),
    lambda: bytes([1, 2, 3]),
    lambda: bytearray([1, 2, 3]),
    lambda: SegmentedList("i2", [1, 2, 3]),
    lambda: {1: "a", 2: "b", 3: "c"},
], ids=["list", "tuple", "range", "generator", "iterator", "ndarray", "int8-ndarray",
        "strided-big-endian", "array.array", "memoryview", "bytes", "bytearray",
        "SegmentedList", "dict"])
def test_initial_iterable(make):
    lst = SegmentedList("q", make())
    assert list(lst) == [1, 2, 3]
    assert_arrays_identical(lst.to_numpy(), np.array([1, 2, 3], dtype="q"))


@pytest.mark.parametrize("empty", [(), [], iter(()), np.zeros(0, "q"), b"", range(0)],
                         ids=stable_id)
def test_empty_initial_iterable_allocates_nothing(empty, allocator):
    lst = SegmentedList("q", empty, allocator=allocator)
    assert len(lst) == 0
    assert lst.capacity == 0
    assert allocator.stats["n_os_calls"] == 0
    assert allocator.stats["bytes_in_use"] == 0


def test_none_is_not_an_iterable(allocator):
    # array.array('q', None) raises TypeError; None is not "no contents".
    with pytest.raises(TypeError, match="'NoneType' object is not iterable"):
        SegmentedList("q", None, allocator=allocator)
    assert allocator.stats["bytes_in_use"] == 0


def test_initial_contents_of_every_family(family):
    zeros = np.zeros(5, dtype=family.dtype)
    lst = SegmentedList(family.dtype, list(zeros))
    assert_arrays_identical(lst.to_numpy(), converted(list(zeros), family.dtype))


def test_bad_initial_contents_raise():
    with pytest.raises(TypeError):
        SegmentedList("q", [1, 2, "x"])
    with pytest.raises(OverflowError):
        SegmentedList("i1", [1, 2, 300])
    with pytest.raises(TypeError):
        SegmentedList("q", 5)  # not iterable


def test_new_without_init_is_a_usable_empty_list():
    lst = SegmentedList.__new__(SegmentedList)
    assert len(lst) == 0
    lst.append(1.5)
    assert list(lst) == [1.5]


def test_attributes_are_read_only():
    lst = SegmentedList("q", [1])
    for name in ("dtype", "itemsize", "nbytes", "capacity", "first_segment", "allocator"):
        with pytest.raises(AttributeError):
            setattr(lst, name, getattr(lst, name))


def test_not_hashable():
    with pytest.raises(TypeError):
        hash(SegmentedList("q"))


def test_dtypes_from_strings_are_not_shared_when_mutable():
    # Lists made from the same string share its parsed dtype, except a
    # record dtype, whose field names can be assigned in place.
    a = SegmentedList("i4,f8")
    b = SegmentedList("i4,f8")
    a.dtype.names = ("x", "y")
    assert b.dtype.names == ("f0", "f1")
    assert SegmentedList("q").dtype == np.dtype(np.int64)
    assert SegmentedList("q").dtype.type is np.int64


def test_consecutive_lists_of_different_dtypes_keep_their_own():
    # The constructor remembers the last dtype argument and the last dtype's
    # kind: a list of another dtype, even an equal-looking one in the other
    # byte order, must not get the remembered one.
    order = ["<i8", ">i8", np.dtype("<i8"), np.dtype(">i8"), "q", np.dtype("q"),
             "<f8", ">f8", np.dtype(">f4"), "i4,f8", np.dtype("i4,f8")]
    for dtype in order + order[::-1]:
        want = np.dtype(dtype)
        values = np.arange(5).astype(want) if want.names is None else np.zeros(5, want)
        lst = SegmentedList(dtype, values)
        assert lst.dtype == want
        assert lst.dtype.byteorder == want.byteorder or want.itemsize == 1
        assert_arrays_identical(lst.to_numpy(), values)
        if want.names is None:
            lst.append(7)
            assert lst[-1] == 7
            assert lst.to_numpy().tobytes()[-want.itemsize:] == np.array([7], want).tobytes()


def test_record_dtypes_from_one_dtype_object_are_that_object():
    # The dtype cache keeps no record dtype: each list holds the object it
    # was given, as numpy arrays do, never one remembered from another call.
    d1, d2 = np.dtype("i4,f8"), np.dtype("i4,f8")
    a, b = SegmentedList(d1), SegmentedList(d2)
    assert a.dtype is d1 and b.dtype is d2
    d1.names = ("x", "y")
    assert b.dtype.names == ("f0", "f1")


def test_a_reused_list_object_starts_empty():
    # Dropped lists' objects are recycled (a free list); a new list made
    # from one must not see the old one's state.
    for _ in range(20):
        lst = SegmentedList("q", np.arange(10_000), first_segment=4)
        lst.extend(range(5))
        del lst
        fresh = SegmentedList("f4")
        assert len(fresh) == 0 and fresh.capacity == 0
        assert fresh.first_segment == default_first_segment(4)
        fresh.append(1.5)
        assert fresh.to_numpy().tolist() == [1.5]
        assert fresh.allocator is segpy.get_allocator()


def test_every_call_form_builds_the_same_list():
    # SegmentedList(dtype) takes the type's vectorcall shortcut; every other
    # form goes through type.__call__ and __init__.  Same list either way,
    # and neither keeps a reference to what it was given.
    import sys

    heap = segpy.Heap()
    dt = np.dtype("i4")
    base_heap, base_dt = sys.getrefcount(heap), sys.getrefcount(dt)
    forms = [
        lambda: SegmentedList(dt),
        lambda: SegmentedList(dt, ()),
        lambda: SegmentedList(dtype=dt),
        lambda: SegmentedList(dt, allocator=heap),
        lambda: SegmentedList(dt, [], allocator=heap, first_segment=128),
        lambda: SegmentedList.__new__(SegmentedList).__init__(dt) or None,
    ]
    for _ in range(200):
        for make in forms:
            lst = make()
            if lst is not None:
                assert lst.dtype == dt and len(lst) == 0 and lst.first_segment == 128
                lst.append(3)
                assert lst.to_numpy().tolist() == [3]
            del lst
    assert sys.getrefcount(heap) == base_heap
    # The constructor's memos hold the last dtype argument, its result (here
    # the same object) and the last dtype classified; a leak would be 1,200.
    assert sys.getrefcount(dt) <= base_dt + 3


def test_subclasses_are_built_through_their_own_init():
    # The vectorcall shortcut is the base type's own (CPython never
    # inherits tp_vectorcall): a subclass's __init__ and __new__ run.
    calls = []

    class Tagged(SegmentedList):
        def __init__(self, tag, dtype="q"):
            calls.append(tag)
            super().__init__(dtype)

    class Plain(SegmentedList):
        pass

    t = Tagged("a")
    assert type(t) is Tagged and calls == ["a"] and t.dtype == np.int64
    p = Plain("f4")
    assert type(p) is Plain and p.dtype == np.float32
    with pytest.raises(TypeError, match=r"SegmentedList\(\) missing 1 required"):
        Plain()
