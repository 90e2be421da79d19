"""The C-level API: fused pushes, segment iteration, allocators created from C,
the SegmentedList bridge (struct out, adopt without copy), error codes turned
into exceptions, and the ``segpy.seglist.capi`` capsule driven through ctypes.

The compiled side of these tests is ``segpy._capi_testing``, which uses the
cimportable API the way a consumer extension would.
"""

import ctypes
import gc
import weakref

import numpy as np
import pytest

import segpy
from segpy import _capi_testing as capi_t
from segpy import seglist

from seg_support import ALLOCATORS, make_allocator

SEGPY_ENOMEM = -1
SEGPY_EINVAL = -3

# C type of the fused push -> the numpy dtype of the same size and meaning.
CTYPES = {
    "int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
    "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64,
    "float32": np.float32, "float64": np.float64,
    "complex64": np.complex64, "complex128": np.complex128,
}
RECORD = np.dtype([("id", "<i8"), ("kind", "<i4"), ("flags", "<u4"),
                   ("x", "<f8"), ("left", "<i8"), ("right", "<i8")])


def data_address(a):
    return a.__array_interface__["data"][0]


def snapshot(lst):
    """Everything a failed call must leave as it was."""
    return len(lst), lst.capacity, lst.to_numpy().tobytes()


# -- typed and raw pushes ----------------------------------------------------

@pytest.mark.parametrize("ctype", sorted(CTYPES))
def test_fused_push_stores_the_value(ctype):
    dt = np.dtype(CTYPES[ctype])
    lst = segpy.SegmentedList(dt, [1, 2])
    value = 3 + 4j if dt.kind == "c" else (2.5 if dt.kind == "f" else 7)
    assert capi_t.push_one(lst, ctype, value) == 0
    assert len(lst) == 3
    assert lst[-1] == value
    assert lst.to_numpy().dtype == dt


@pytest.mark.parametrize("ctype", ["int8", "int32", "uint16", "float32", "complex128"])
def test_fused_push_of_the_wrong_size_is_refused(ctype):
    # An int64 list takes only 8-byte values; the refusal leaves it unchanged.
    lst = segpy.SegmentedList("q", range(7), first_segment=8)
    before = snapshot(lst)
    assert capi_t.push_one(lst, ctype, 1) == SEGPY_EINVAL
    assert snapshot(lst) == before
    with pytest.raises(ValueError, match="8-byte elements of length 7"):
        capi_t.raise_for(lst, SEGPY_EINVAL, 1)
    assert snapshot(lst) == before


def test_fused_push_checks_size_only():
    # Documented: same size, other meaning -> the bits are stored.
    lst = segpy.SegmentedList("q")
    assert capi_t.push_one(lst, "float64", 1.5) == 0
    assert lst[0] == np.array([1.5]).view(np.int64)[0]


# -- typed gets -----------------------------------------------------------------

@pytest.mark.parametrize("ctype", sorted(CTYPES))
@pytest.mark.parametrize("op", ["get", "get_unchecked"])
def test_fused_get_reads_every_element(ctype, op):
    dt = np.dtype(CTYPES[ctype])
    values = (np.arange(300) * 7 % 120).astype(dt)
    if dt.kind == "c":
        values = values + 1j * values[::-1]
    lst = segpy.SegmentedList(dt, values, first_segment=2)      # 8 segments
    got = [capi_t.typed_op(lst, ctype, op, i) for i in range(len(values))]
    assert [rc for rc, _ in got] == [0] * len(values)
    assert np.array([v for _, v in got], dtype=dt).tobytes() == values.tobytes()


@pytest.mark.parametrize("i", [-1, 5, 6, 2**40, -2**62])
def test_fused_get_refuses_an_index_outside_the_list(i):
    lst = segpy.SegmentedList("q", range(5))
    lst.reserve(100)                     # capacity beyond length is still out of range
    assert capi_t.typed_op(lst, "int64", "get", i) == (SEGPY_EINVAL, None)
    assert capi_t.typed_op(lst, "int64", "get", 4) == (0, 4)


@pytest.mark.parametrize("ctype", ["int8", "int32", "uint16", "float32", "complex128"])
def test_fused_get_of_the_wrong_size_is_refused(ctype):
    lst = segpy.SegmentedList("q", range(7))
    before = snapshot(lst)
    assert capi_t.typed_op(lst, ctype, "get", 3) == (SEGPY_EINVAL, None)
    assert snapshot(lst) == before


@pytest.mark.parametrize("first_segment", [1, 64])
def test_nogil_random_gets_agree_with_numpy(first_segment):
    rng = np.random.default_rng(5)
    ref = rng.integers(-2**62, 2**62, 50_000)
    lst = segpy.SegmentedList("q", ref, first_segment=first_segment)
    idx = rng.integers(0, len(ref), 20_000)
    want = int(ref[idx].sum(dtype=np.int64))      # wraps as the C sum does
    assert capi_t.sum_gets(lst, idx, "typed") == (want, 0)
    assert capi_t.sum_gets(lst, idx, "pointer") == (want, 0)
    bad = np.concatenate([idx, [-1, len(ref), 2**50]])
    assert capi_t.sum_gets(lst, bad, "checked") == (want, 3)
    with pytest.raises(ValueError, match="out of range"):
        capi_t.sum_gets(lst, bad, "typed")


def test_raw_push_checks_the_callers_size():
    lst = segpy.SegmentedList(RECORD)
    rec = np.zeros(1, RECORD)
    rec["id"], rec["x"] = 42, 0.5
    assert capi_t.push_bytes(lst, rec.tobytes()) == 0
    assert lst.to_numpy()["id"].tolist() == [42]
    before = snapshot(lst)
    assert capi_t.push_bytes(lst, rec.tobytes()[:32]) == SEGPY_EINVAL
    assert capi_t.push_bytes(lst, rec.tobytes() + b"\0") == SEGPY_EINVAL
    assert snapshot(lst) == before


@pytest.mark.parametrize("checked", [True, False])
@pytest.mark.parametrize("first_segment", [1, 4, 64])
@pytest.mark.parametrize("n", [0, 1, 5, 63, 64, 65, 1000])
def test_nogil_push_loop(checked, first_segment, n):
    lst = segpy.SegmentedList("q", first_segment=first_segment)
    assert capi_t.push_range(lst, n, checked) == (n, 0)
    np.testing.assert_array_equal(lst.to_numpy(), np.arange(n))
    lst.append(-1)      # the Python path continues where C left off
    assert lst[n] == -1 and len(lst) == n + 1


def test_nogil_push_after_python_appends_and_reserve():
    lst = segpy.SegmentedList("q", [10, 11], first_segment=2)
    lst.reserve(100)
    assert capi_t.push_range(lst, 50) == (50, 0)
    assert lst.to_numpy().tolist() == [10, 11] + list(range(50))


# -- segment iteration -------------------------------------------------------

@pytest.mark.parametrize("first_segment", [1, 2, 16])
@pytest.mark.parametrize("n", [0, 1, 3, 16, 17, 100])
def test_segment_iteration_matches_segments(first_segment, n):
    lst = segpy.SegmentedList("q", range(n), first_segment=first_segment)
    lst.reserve(4 * n + 8)     # spare segments are not reported
    views = lst.segments()
    got = capi_t.segments_of(lst, extra=3)
    assert got[0] == (0, 0)                       # j = -1
    assert got[1:1 + len(views)] == [(data_address(v), len(v)) for v in views]
    assert got[1 + len(views):] == [(0, 0)] * 3    # past the used segments
    assert sum(c for _, c in got) == n


# -- the lookup table (bases) ---------------------------------------------------

@pytest.mark.parametrize("first_segment", [1, 8, 64])
def test_bases_follow_every_segment_added_and_released(first_segment):
    lst = segpy.SegmentedList("q", first_segment=first_segment)
    assert capi_t.struct_problems(lst) == []
    for n in (1, 5, 100, 3000):
        lst.extend(range(n))
        assert capi_t.struct_problems(lst) == []
    lst.reserve(50_000)
    assert capi_t.struct_problems(lst) == []
    del lst[10:]
    lst.shrink_to_fit()                    # releases segments
    assert capi_t.struct_problems(lst) == []
    lst.clear()
    assert capi_t.struct_problems(lst) == []
    lst.extend(range(777))
    assert lst[776] == 776 and capi_t.struct_problems(lst) == []


def test_struct_problems_reports_a_stale_base():
    lst = segpy.SegmentedList("q", range(100), first_segment=8)
    old = capi_t.poke_base(lst, 4, 12345)          # shift 3: slot 4 is segment 1
    try:
        problems = capi_t.struct_problems(lst)
    finally:
        capi_t.poke_base(lst, 4, old)
    assert len(problems) == 1 and problems[0].startswith("bases[4] = 0x3039")
    assert capi_t.struct_problems(lst) == []
    old = capi_t.poke_base(lst, 63, 8)             # a slot past the segments must be 0
    try:
        assert capi_t.struct_problems(lst) == ["bases[63] = 0x8, want 0x0 (shift=3, nseg=4)"]
    finally:
        capi_t.poke_base(lst, 63, old)


# -- allocators created from C -----------------------------------------------

@pytest.mark.parametrize("kind", ["system", "heap", "bump", "buffer"])
def test_allocator_created_from_c(kind):
    n = 20_000
    r = capi_t.c_allocator_roundtrip(kind, n)
    assert r["name"] == kind
    assert r["rc"] == 0 and r["pushed"] == n
    assert r["sum_at"] == r["sum_segments"] == 3 * n * (n - 1) // 2
    assert r["bytes_in_use"] == 0        # the list gave every segment back
    assert r["n_alloc"] > 1


@pytest.mark.parametrize("kind", ["system", "heap", "bump", "buffer"])
def test_allocator_created_from_c_with_a_limit(kind):
    r = capi_t.c_allocator_roundtrip(kind, 10**6, max_bytes=64 * 1024)
    assert r["rc"] == SEGPY_ENOMEM
    assert 0 < r["pushed"] < 10**6
    p = r["pushed"]
    assert r["sum_at"] == r["sum_segments"] == 3 * p * (p - 1) // 2
    assert r["bytes_in_use"] == 0


# -- the bridge --------------------------------------------------------------

def test_struct_of_a_list_is_the_capsule_pointer():
    lst = segpy.SegmentedList("q")
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    assert capi_t.struct_address(lst) == get(seglist.capsule(lst), b"segpy.seglist_t")
    with pytest.raises(TypeError, match="got None"):
        capi_t.struct_address(None)


@pytest.mark.parametrize("first_segment_shift", [0, 3, 6])
@pytest.mark.parametrize("n", [0, 1, 9, 1000])
def test_adopt_wraps_without_copy(first_segment_shift, n):
    heap = segpy.Heap()
    lst, first, src_len, src_nseg = capi_t.build_and_adopt("q", heap, n, first_segment_shift)
    assert type(lst) is segpy.SegmentedList
    assert (src_len, src_nseg) == (0, 0)          # the source handed its segments over
    np.testing.assert_array_equal(lst.to_numpy(), np.arange(n))
    assert lst.allocator is heap
    assert lst.first_segment == 1 << first_segment_shift
    if n:
        assert data_address(lst.segments()[0]) == first     # same memory: no copy
    lst.append(-5)
    assert lst[-1] == -5 and len(lst) == n + 1
    assert heap.stats["bytes_in_use"] == lst.capacity * 8


def test_adopted_list_keeps_its_allocator_alive():
    heap = segpy.Heap()
    ref = weakref.ref(heap)
    lst = capi_t.build_and_adopt("q", heap, 500, 2)[0]
    del heap
    gc.collect()
    assert ref() is not None
    np.testing.assert_array_equal(lst.to_numpy(), np.arange(500))
    del lst
    gc.collect()
    assert ref() is None


def test_adopt_records():
    heap = segpy.Heap()
    lst, first, _, _ = capi_t.build_and_adopt(RECORD, heap, 300, 4, RECORD.itemsize)
    assert lst.dtype == RECORD
    arr = lst.to_numpy()
    np.testing.assert_array_equal(arr["id"], np.arange(300))
    assert (arr["x"] == 0).all()
    assert data_address(lst.segments()[0]) == first


@pytest.mark.parametrize("dtype", ["i4", "f4", "S9", [("a", "i8"), ("b", "i8")]])
def test_adopt_refuses_a_dtype_of_another_size(dtype):
    heap = segpy.Heap()
    with pytest.raises(ValueError, match=r"cannot wrap a list of 8-byte elements as dtype"):
        capi_t.build_and_adopt(dtype, heap, 100, 3)
    # The refused list was still the C side's to destroy: nothing leaked.
    assert heap.stats["bytes_in_use"] == 0 and heap.stats["n_alloc"] > 0


def test_adopt_refuses_other_owner_object_dtype_and_null():
    heap, other = segpy.Heap(), segpy.Heap()
    with pytest.raises(ValueError, match="do not come from this heap allocator"):
        capi_t.build_and_adopt("q", heap, 10, 3, 8, other)
    with pytest.raises(TypeError, match="Python object references"):
        capi_t.build_and_adopt("O", heap, 10, 3)
    with pytest.raises(ValueError, match="NULL list"):
        capi_t.adopt_null("q", heap)
    with pytest.raises(TypeError, match="got None"):
        capi_t.adopt_null("q", None)
    assert heap.stats["bytes_in_use"] == 0


# -- growth failure inside nogil code -> MemoryError at the boundary ----------

@pytest.mark.parametrize("name", list(ALLOCATORS))
def test_nogil_growth_failure_becomes_memory_error(name):
    alloc = make_allocator(name, max_bytes=256 * 1024)
    lst = segpy.SegmentedList("q", range(3), allocator=alloc, first_segment=8)
    pushed, rc = capi_t.push_range(lst, 10**7)
    assert rc == SEGPY_ENOMEM and 0 < pushed < 10**7
    before = snapshot(lst)
    np.testing.assert_array_equal(lst.to_numpy()[3:], np.arange(pushed))
    with pytest.raises(MemoryError, match="could not provide") as exc:
        capi_t.raise_for(lst, rc, 1)
    assert snapshot(lst) == before
    # Same message as the Python path's refusal of the same request.
    with pytest.raises(MemoryError) as exc2:
        lst.append(0)
    assert str(exc.value) == str(exc2.value)
    assert snapshot(lst) == before
    assert capi_t.raise_for(lst, 0, 1) == 0


def test_unknown_code_is_a_system_error():
    with pytest.raises(SystemError, match="unknown segpy error code -99"):
        capi_t.raise_for(segpy.SegmentedList("q"), -99, 0)


# -- the capsule, through ctypes --------------------------------------------

ssize = ctypes.c_ssize_t
vp = ctypes.c_void_p


class CAPI(ctypes.Structure):
    """Mirror of ``segpy_capi_t`` (seglist.pxd; docs/c-api.md)."""
    _fields_ = [
        ("version", ctypes.c_int),
        ("struct_size", ctypes.c_int),
        ("seglist_size", ctypes.c_size_t),
        ("init", ctypes.CFUNCTYPE(ctypes.c_int, vp, ssize, ctypes.c_int, vp)),
        ("destroy", ctypes.CFUNCTYPE(ctypes.c_int, vp)),
        ("push", ctypes.CFUNCTYPE(ctypes.c_int, vp, vp)),
        ("emplace", ctypes.CFUNCTYPE(vp, vp)),
        ("at", ctypes.CFUNCTYPE(vp, vp, ssize)),
        ("reserve", ctypes.CFUNCTYPE(ctypes.c_int, vp, ssize)),
        ("truncate", ctypes.CFUNCTYPE(ctypes.c_int, vp, ssize)),
        ("length", ctypes.CFUNCTYPE(ssize, vp)),
        ("itemsize", ctypes.CFUNCTYPE(ssize, vp)),
        ("used_segments", ctypes.CFUNCTYPE(ctypes.c_int, vp)),
        ("segment", ctypes.CFUNCTYPE(vp, vp, ctypes.c_int, ctypes.POINTER(ssize))),
        ("append_n", ctypes.CFUNCTYPE(ctypes.c_int, vp, vp, ssize)),
        ("read_range", ctypes.CFUNCTYPE(ctypes.c_int, vp, ssize, vp, ssize)),
        ("last_error", ctypes.CFUNCTYPE(ctypes.c_int, vp)),
    ]


def capsule_pointer(cap, name):
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return get(cap, name)


@pytest.fixture
def api():
    return CAPI.from_address(capsule_pointer(seglist.capi, b"segpy.seglist.capi"))


def test_capsule_table_layout(api):
    assert api.version == 1
    assert api.struct_size == ctypes.sizeof(CAPI)
    assert api.seglist_size >= 64 * ctypes.sizeof(vp)
    with pytest.raises(ValueError):
        capsule_pointer(seglist.capi, b"wrong.name")


def test_capsule_drives_a_list(api):
    lst = segpy.SegmentedList("q", [5], first_segment=2)
    s = capsule_pointer(seglist.capsule(lst), b"segpy.seglist_t")
    v = ctypes.c_int64()
    for i in range(10):
        v.value = i * i
        assert api.push(s, ctypes.byref(v)) == 0
    slot = api.emplace(s)
    ctypes.c_int64.from_address(slot).value = -1
    assert lst.to_numpy().tolist() == [5] + [i * i for i in range(10)] + [-1]
    assert api.length(s) == 12 and api.itemsize(s) == 8
    assert ctypes.c_int64.from_address(api.at(s, 4)).value == 9
    assert api.at(s, 12) is None and api.at(s, -1) is None
    views = lst.segments()
    n = ssize()
    assert api.used_segments(s) == len(views)
    for j, view in enumerate(views):
        assert api.segment(s, j, ctypes.byref(n)) == data_address(view)
        assert n.value == len(view)
    src = (ctypes.c_int64 * 3)(7, 8, 9)
    assert api.append_n(s, src, 3) == 0
    dst = (ctypes.c_int64 * 4)()
    assert api.read_range(s, 11, dst, 4) == 0
    assert list(dst) == [-1, 7, 8, 9]
    assert api.read_range(s, 13, dst, 4) == SEGPY_EINVAL
    assert api.reserve(s, 1000) == 0 and lst.capacity >= 1000
    assert api.truncate(s, 3) == 0 and lst.to_numpy().tolist() == [5, 0, 1]
    assert api.truncate(s, 4) == SEGPY_EINVAL and api.last_error(s) == SEGPY_EINVAL


def test_capsule_keeps_the_list_alive(api):
    lst = segpy.SegmentedList("q", range(100))
    ref = weakref.ref(lst)
    cap = seglist.capsule(lst)
    del lst
    gc.collect()
    assert ref() is not None
    s = capsule_pointer(cap, b"segpy.seglist_t")
    assert api.length(s) == 100
    del cap
    gc.collect()
    assert ref() is None


def test_capsule_memory_error_code(api):
    lst = segpy.SegmentedList("q", allocator=segpy.Heap(max_bytes=64 * 1024))
    s = capsule_pointer(seglist.capsule(lst), b"segpy.seglist_t")
    assert api.reserve(s, 10**6) == SEGPY_ENOMEM
    assert api.last_error(s) == SEGPY_ENOMEM and lst.capacity < 10**6
    with pytest.raises(MemoryError, match="heap allocator could not provide"):
        capi_t.raise_for(lst, api.last_error(s), 10**6)


def test_capsule_init_refuses_bad_arguments(api):
    buf = ctypes.create_string_buffer(api.seglist_size)
    assert api.init(ctypes.addressof(buf), 0, 3, None) == SEGPY_EINVAL
    assert api.init(ctypes.addressof(buf), 8, 31, None) == SEGPY_EINVAL
    with pytest.raises(TypeError):
        seglist.capsule(None)
    with pytest.raises(TypeError):
        seglist.capsule([1, 2])


def test_every_einval_is_recorded_in_last_error(api):
    # The C API's promise: each error code a function returns is also in
    # last_error.  These paths returned EINVAL without recording it.
    def fresh():
        lst = segpy.SegmentedList("q", range(5))
        s = capsule_pointer(seglist.capsule(lst), b"segpy.seglist_t")
        assert api.last_error(s) == 0
        return lst, s

    lst, s = fresh()
    dst = (ctypes.c_int64 * 4)()
    assert api.read_range(s, 3, dst, 4) == SEGPY_EINVAL
    assert api.last_error(s) == SEGPY_EINVAL
    lst, s = fresh()
    assert capi_t.typed_op(lst, "int64", "get", 7) == (SEGPY_EINVAL, None)
    assert api.last_error(s) == SEGPY_EINVAL
    lst, s = fresh()
    assert capi_t.typed_op(lst, "int32", "get", 1) == (SEGPY_EINVAL, None)
    assert api.last_error(s) == SEGPY_EINVAL
