"""SegmentedList in @njit code (segpy.numba): the contract of its module docstring.

Every dtype family of seg_support is tried: the ones numba can type read,
store, append and iterate in compiled code, and the elements are the list's
own (no copy before or after the call); the others compile only what needs
no element.  Growth failures, read-only lists and the pin held during a call
mirror the Python side.  Skipped where numba is not installed.
"""

import importlib.metadata
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

numba = pytest.importorskip("numba")
segnumba = pytest.importorskip("segpy.numba")

from numba.core.errors import TypingError

import segpy

from numba_support import random_elements, run_cached_twice
from seg_support import FAMILIES, FIRST_SEGMENTS, segment_lengths

njit = numba.njit


def _fields(a):
    """The bytes of every field of ``a``: what two arrays of a record dtype
    with padding must share (numpy and numba copy records field by field, so
    padding bytes are undefined)."""
    if a.dtype.names is None:
        return a.tobytes()
    return [_fields(a[name]) for name in a.dtype.names]


def _bytes(lst):
    return _fields(lst.to_numpy())


# -- kernels (compiled once per list type) ---------------------------------------

@njit
def copy_by_index(src, dst):
    for i in range(len(src)):
        dst.append(src[i])
    return len(dst)


@njit
def copy_by_iteration(src, dst):
    for x in src:
        dst.append(x)


@njit
def store_reversed(src, dst):
    # Negative indices on both sides.
    for i in range(len(src)):
        dst[i] = src[-1 - i]


@njit
def length(lst):
    return len(lst)


@njit
def get(lst, i):
    return lst[i]


# numba's bounds checking, as for arrays: reads raise IndexError only when
# the function is compiled with it (stores always check).
get_checked = njit(boundscheck=True)(get.py_func)


@njit
def sum_at(lst, idx):
    total = 0
    for k in range(len(idx)):
        total += lst[idx[k]]
    return total


sum_at_checked = njit(boundscheck=True)(sum_at.py_func)


@njit
def put(lst, i, v):
    lst[i] = v


@njit
def append(lst, v):
    lst.append(v)


@njit
def append_range(lst, n):
    for i in range(n):
        lst.append(i)


@njit
def extend(lst, values):
    lst.extend(values)


@njit
def identity(lst):
    return lst


SUPPORTED = [f for f in FAMILIES if segnumba._element_type(f.dtype) is not None]
UNSUPPORTED = [f for f in FAMILIES if segnumba._element_type(f.dtype) is None]


def test_which_families_numba_can_use():
    # The module docstring's list: non-native byte order (numba's own rule
    # for arrays) and float16 are out; records of native fields are in.
    assert {f.name for f in UNSUPPORTED} == {
        "float16", "big-int32", "big-uint16", "big-float64", "big-complex64",
        "record-big-endian"}


@pytest.mark.parametrize("fam", SUPPORTED, ids=lambda f: f.name)
def test_read_store_append_iterate_every_supported_dtype(fam):
    dt = fam.dtype
    want = random_elements(dt, 300)
    src = segpy.SegmentedList(dt, want, first_segment=4)
    by_index = segpy.SegmentedList(dt, first_segment=2)
    assert copy_by_index(src, by_index) == 300
    by_iteration = segpy.SegmentedList(dt)
    copy_by_iteration(src, by_iteration)
    assert _bytes(by_index) == _bytes(by_iteration) == _fields(want)
    rev = segpy.SegmentedList(dt, np.zeros(300, dt))
    store_reversed(src, rev)
    assert _bytes(rev) == _fields(want[::-1])


@pytest.mark.parametrize("fam", UNSUPPORTED, ids=lambda f: f.name)
def test_unsupported_dtypes_give_len_and_a_typing_error(fam):
    lst = segpy.SegmentedList(fam.dtype, np.zeros(3, fam.dtype))
    assert length(lst) == 3
    for fn, args in ((get, (0,)), (copy_by_iteration, (lst,))):
        with pytest.raises(TypingError, match="have no numba type"):
            fn(lst, *args)


@pytest.mark.parametrize("s0", FIRST_SEGMENTS)
def test_appends_cross_every_segment_edge(s0):
    lst = segpy.SegmentedList("q", first_segment=s0)
    n = sum(segment_lengths(1000, lst.first_segment)) + 1
    append_range(lst, n)
    np.testing.assert_array_equal(lst.to_numpy(), np.arange(n))
    # Every element read back at its index, the segment edges included.
    assert [get(lst, i) for i in range(n)] == list(range(n))


def test_the_elements_are_the_lists_own():
    lst = segpy.SegmentedList("f8", [1.0, 2.0], first_segment=8)
    view = lst.segments()[0]
    put(lst, 0, 5.0)
    append(lst, 3.0)
    # The compiled code stored into the segment the view shows, in place.
    assert view[0] == 5.0 and lst[2] == 3.0 and len(lst) == 3
    assert identity(lst) is lst


def test_values_convert_within_a_kind_and_not_across():
    ints = segpy.SegmentedList("i1")
    append(ints, 7)
    append(ints, np.int64(300))           # within a kind, numba's cast wraps
    assert ints.tolist() == [7, 300 - 256]
    floats = segpy.SegmentedList("f4")
    append(floats, 2)                      # int -> float: same_kind
    assert floats.tolist() == [2.0]
    with pytest.raises(TypingError, match="same_kind"):
        append(ints, 1.5)
    with pytest.raises(TypingError, match="same_kind"):
        append(segpy.SegmentedList("?"), 1)
    with pytest.raises(TypingError, match="same_kind"):
        put(floats, 0, 1j)
    bools = segpy.SegmentedList("?")
    append(bools, True)
    assert bools.tolist() == [True]


def test_indexing_like_python():
    lst = segpy.SegmentedList("q", range(10))
    for g in (get, get_checked):
        assert g(lst, -1) == 9 and g(lst, -10) == 0 and g(lst, 9) == 9
        assert g(lst, np.uint8(3)) == 3 and g(lst, np.int8(-3)) == 7
    for bad in (10, -11, 2**62, -2**63, np.uint64(2**64 - 1)):
        with pytest.raises(IndexError, match="SegmentedList index out of range"):
            get_checked(lst, bad)
        with pytest.raises(IndexError):
            put(lst, bad, 1)
    put(lst, -2, 42)
    assert lst[8] == 42
    for g in (get, get_checked):
        with pytest.raises(IndexError, match="SegmentedList index out of range"):
            g(segpy.SegmentedList("q"), 0)


@pytest.mark.parametrize("s0", FIRST_SEGMENTS)
def test_unchecked_reads_stay_inside_the_list(s0):
    # Without boundscheck (numba's default) an index out of range reads the
    # last element, the same for every out-of-range index, never memory
    # past the list: no IndexError and no crash, at every segment edge.
    full = segpy.SegmentedList("q", range(300), first_segment=s0)
    edges = np.cumsum([len(v) for v in full.segments()])[:-1]
    sizes = sorted({1, 2} | {int(e) + d for e in edges for d in (-1, 0, 1)} - {0})
    for n in sizes:
        lst = segpy.SegmentedList("q", range(100, 100 + n), first_segment=s0)
        for bad in (n, n + 1, 2 * n + 7, 2**62, -n - 1, -2**63, np.uint64(2**64 - 1)):
            assert get(lst, bad) == 100 + n - 1
        idx = np.array([0, n - 1, -1, -n, n, -n - 1, 2**40], dtype=np.int64)
        want = [100, 100 + n - 1, 100 + n - 1, 100, 100 + n - 1, 100 + n - 1, 100 + n - 1]
        assert sum_at(lst, idx) == sum(want)
        with pytest.raises(IndexError, match="SegmentedList index out of range"):
            sum_at_checked(lst, idx)
        assert sum_at_checked(lst, idx[:4]) == sum(want[:4])
    with pytest.raises(IndexError, match="SegmentedList index out of range"):
        sum_at(segpy.SegmentedList("q"), np.zeros(3, np.int64))
    assert sum_at(segpy.SegmentedList("q"), np.zeros(0, np.int64)) == 0


@given(st.sampled_from(FIRST_SEGMENTS), st.integers(0, 200),
       st.lists(st.integers(-2**63, 2**63 - 1) | st.integers(-300, 300), max_size=12))
def test_reads_agree_with_python_indexing(s0, n, indices):
    # Checked: what Python's lst[i] gives, or IndexError where it raises.
    # Unchecked: the same inside the list, the last element outside it,
    # and IndexError from an empty list either way.
    lst = segpy.SegmentedList("q", range(7, 7 + n), first_segment=s0)
    for i in indices:
        try:
            want = lst[i]
        except IndexError:
            want = None
        if want is None:
            with pytest.raises(IndexError, match="SegmentedList index out of range"):
                get_checked(lst, i)
            if n == 0:
                with pytest.raises(IndexError):
                    get(lst, i)
            else:
                assert get(lst, i) == 7 + n - 1
        else:
            assert get_checked(lst, i) == want
            assert get(lst, i) == want


def test_iteration_sees_appends_made_during_the_loop():
    @njit
    def grow_while_iterating(lst):
        seen = 0
        for x in lst:
            seen += 1
            if x < 5:
                lst.append(x + 5)
        return seen

    lst = segpy.SegmentedList("q", range(5), first_segment=1)
    assert grow_while_iterating(lst) == 10
    assert lst.tolist() == list(range(10))


@pytest.mark.parametrize("values", [
    np.arange(1000, dtype=np.int64),          # the list's dtype: one memcpy a segment
    np.arange(2000, dtype=np.int64)[::2],     # strided: element by element
    np.arange(1000, dtype=np.int32),          # cast within the kind
    np.arange(0, dtype=np.int64),
], ids=["same-dtype", "strided", "int32", "empty"])
def test_extend_from_an_array(values):
    lst = segpy.SegmentedList("q", [-1], first_segment=2)
    extend(lst, values)
    np.testing.assert_array_equal(lst.to_numpy(), np.r_[-1, values])


def test_extend_refuses_what_python_refuses():
    lst = segpy.SegmentedList("q")
    with pytest.raises(TypingError, match="same_kind"):
        extend(lst, np.ones(3))
    with pytest.raises(TypingError, match="one-dimensional"):
        extend(lst, np.ones((2, 2), dtype=np.int64))
    assert len(lst) == 0


# -- growth failures ----------------------------------------------------------------

def _bounded(dtype="q"):
    """A list whose allocator refuses a third segment."""
    alloc = segpy.BufferAllocator(bytearray(4096))
    lst = segpy.SegmentedList(dtype, allocator=alloc, first_segment=64)
    return lst


def test_a_refused_append_raises_memory_error_and_changes_nothing():
    lst = _bounded()
    with pytest.raises(MemoryError):
        append_range(lst, 10_000)
    n = len(lst)
    assert n == lst.capacity > 0          # every slot filled, then refused
    before = lst.to_numpy()
    np.testing.assert_array_equal(before, np.arange(n))
    in_use = lst.allocator.stats["bytes_in_use"]
    with pytest.raises(MemoryError, match="allocator refused"):
        append(lst, 1)
    with pytest.raises(MemoryError):
        lst.append(1)                      # Python agrees
    np.testing.assert_array_equal(lst.to_numpy(), before)
    assert lst.allocator.stats["bytes_in_use"] == in_use


@pytest.mark.parametrize("values", [np.arange(10_000), np.arange(20_000)[::2]],
                         ids=["memcpy", "strided"])
def test_a_refused_extend_adds_nothing(values):
    lst = _bounded()
    append_range(lst, 10)
    cap = lst.capacity
    with pytest.raises(MemoryError):
        extend(lst, values)
    assert lst.tolist() == list(range(10)) and lst.capacity == cap


# -- guards ---------------------------------------------------------------------------

@pytest.fixture
def read_only(tmp_path):
    path = tmp_path / "ro.seg"
    w = segpy.SegmentedList.open(path, "q", mode="w")
    w.extend(range(100))
    w.flush()
    del w
    return segpy.SegmentedList.open(path, mode="r")


def test_a_read_only_list_reads_and_refuses_stores_at_compile_time(read_only):
    assert length(read_only) == 100 and get(read_only, -1) == 99
    out = segpy.SegmentedList("q")
    copy_by_iteration(read_only, out)
    assert out.tolist() == list(range(100))
    assert "readonly" in str(numba.typeof(read_only))
    for fn, args in ((append, (1,)), (put, (0, 1)), (extend, (np.arange(3),))):
        with pytest.raises(TypingError, match="read-only SegmentedList"):
            fn(read_only, *args)
    assert read_only.tolist() == list(range(100))


def test_the_list_is_pinned_during_a_call_only():
    @njit
    def reinit_inside(lst):
        with numba.objmode():
            lst.__init__("f4")
        return len(lst)

    lst = segpy.SegmentedList("q", range(3))
    refs = sys.getrefcount(lst)
    # Python code run by the call cannot change the element size under it.
    with pytest.raises(RuntimeError, match="while one of its methods is running"):
        reinit_inside(lst)
    with pytest.raises(IndexError):
        get_checked(lst, 5)
    assert sys.getrefcount(lst) == refs
    lst.__init__("f4", [1.5])              # unpinned after both calls
    assert get(lst, 0) == 1.5              # and retyped


def test_the_unboxing_guard_checks_size_and_writability(read_only):
    # What the unboxing calls, through ctypes: the dispatcher types each
    # list afresh, so a mismatch cannot reach it from @njit code.
    import ctypes
    bridge = segpy.seglist._numba_bridge()
    enter = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_ssize_t,
                              ctypes.c_int)(bridge["enter"])
    leave = ctypes.PYFUNCTYPE(None, ctypes.py_object)(bridge["exit"])
    lst = segpy.SegmentedList("q", [1])
    with pytest.raises(TypeError, match="typed for 4-byte"):
        enter(lst, 4, 1)
    with pytest.raises(TypeError, match="expected a SegmentedList"):
        enter(object(), 8, 0)
    with pytest.raises(ValueError, match="read-only"):
        enter(read_only, 8, 1)
    assert enter(read_only, 8, 0)          # reading a read-only list is fine
    leave(read_only)
    assert enter(lst, 8, 1)
    with pytest.raises(RuntimeError, match="while one of its methods is running"):
        lst.__init__("f4")
    leave(lst)
    lst.__init__("f4")                     # unpinned: the failed enters pinned nothing


def test_a_subclass_is_a_segmented_list():
    class Sub(segpy.SegmentedList):
        pass

    lst = Sub("i4", [1, 2])
    append(lst, 3)
    assert lst.tolist() == [1, 2, 3]


# -- registration -------------------------------------------------------------------

def test_the_type_names_the_element():
    assert str(numba.typeof(segpy.SegmentedList("f4"))) == "SegmentedList(float32)"
    assert numba.typeof(segpy.SegmentedList("q")) is numba.typeof(segpy.SegmentedList("q"))


def test_numba_finds_the_extension_through_its_entry_point():
    eps = importlib.metadata.entry_points(group="numba_extensions")
    assert any(ep.value == "segpy.numba:_init_extension" for ep in eps)
    # A fresh interpreter that never imports segpy.numba itself.
    code = textwrap.dedent("""
        import numba, segpy, sys
        @numba.njit
        def f(lst):
            lst.append(2)
            return len(lst)
        lst = segpy.SegmentedList("q", [1])
        assert f(lst) == 2 and lst.tolist() == [1, 2]
        assert "segpy.numba" in sys.modules
    """)
    # -P: the checkout's segpy/ (no compiled modules) must not shadow the
    # installed package.
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True,
                         check=False, timeout=300)
    assert out.returncode == 0, out.stderr


def test_docstring_examples():
    # tests/api/test_doctests.py runs the always-installed modules; this one
    # needs numba.
    import doctest
    result = doctest.testmod(segnumba, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_cached_code_links_in_a_new_process(tmp_path):
    # cache=True code refers to segpy's C functions by symbol name, which
    # the loading process registers when numba imports segpy.numba.
    hits = run_cached_twice(tmp_path, "cached_fn", """
        import numba

        @numba.njit(cache=True)
        def push(lst):
            lst.append(7)
            return len(lst), lst[-1]
    """, """
        import segpy, cached_fn
        lst = segpy.SegmentedList("q", [1])
        assert cached_fn.push(lst) == (2, 7) and lst.tolist() == [1, 7]
        print(sum(cached_fn.push.stats.cache_hits.values()))
    """)
    assert hits == ["0", "1"]
