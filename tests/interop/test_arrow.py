"""The Arrow PyCapsule interface, against real consumers (pyarrow, polars,
DuckDB, nanoarrow) and hostile producers.

The export is zero-copy: each chunk's data buffer must be the segment
itself.  Exports count as segment views (the segments stay while any
lives).  from_arrow copies, refuses nulls and types a list cannot hold, and
releases everything it took, on errors too.
"""

import ctypes
import gc
import threading

import numpy as np
import pytest

import segpy
from segpy import SegmentedList

from seg_support import ALLOCATORS, make_allocator

pa = pytest.importorskip("pyarrow")


def address(view):
    return view.__array_interface__["data"][0]


def segment_addresses(lst):
    return [address(v) for v in lst.segments()]


def data_addresses(chunked):
    # The last buffer of a chunk is its (innermost) data buffer, also for
    # fixed-size lists, whose buffers() lists the child's after the parent's.
    return [c.buffers()[-1].address for c in chunked.chunks]


def values_for(dt, n=40):
    dt = np.dtype(dt)
    if dt.kind == "b":
        return np.arange(n) % 3 == 0
    if dt.kind in "iumM":
        return np.arange(n).astype(dt)
    if dt.kind == "f":
        return np.arange(n, dtype=dt) / 4
    # Strings and records: a byte pattern (compared as bytes).
    return (np.arange(n * dt.itemsize) % 251).astype(np.uint8).view(dt)


REC2 = np.dtype([("a", "<i4"), ("b", "<f8")])
HOMOGENEOUS = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4")])
SUBARRAY = np.dtype([("v", "<f8", (3,))])
SUBARRAY2D = np.dtype([("m", "<i2", (2, 3))])

# dtype -> (Arrow type, dtype after a trip through pyarrow, which keeps the
# type but not the schema metadata that names record fields).
MAPPED = {
    "i1": (pa.int8(), None), "i2": (pa.int16(), None), "i4": (pa.int32(), None),
    "i8": (pa.int64(), None), "u1": (pa.uint8(), None), "u2": (pa.uint16(), None),
    "u4": (pa.uint32(), None), "u8": (pa.uint64(), None), "f2": (pa.float16(), None),
    "f4": (pa.float32(), None), "f8": (pa.float64(), None), "?": (pa.bool_(), None),
    "M8[s]": (pa.timestamp("s"), None), "M8[ms]": (pa.timestamp("ms"), None),
    "M8[us]": (pa.timestamp("us"), None), "M8[ns]": (pa.timestamp("ns"), None),
    "m8[s]": (pa.duration("s"), None), "m8[ms]": (pa.duration("ms"), None),
    "m8[us]": (pa.duration("us"), None), "m8[ns]": (pa.duration("ns"), None),
    "S5": (pa.binary(5), None),
    SUBARRAY: (pa.list_(pa.field("item", pa.float64(), nullable=False), 3),
               np.dtype([("item", "<f8", (3,))])),
    SUBARRAY2D: (pa.list_(pa.field("item", pa.list_(
        pa.field("item", pa.int16(), nullable=False), 3), nullable=False), 2),
        np.dtype([("item", "<i2", (2, 3))])),
    HOMOGENEOUS: (pa.list_(pa.field("item", pa.float32(), nullable=False), 3),
                  np.dtype([("item", "<f4", (3,))])),
    REC2: (pa.binary(12), np.dtype("S12")),
}
MAPPED_IDS = [str(d) for d in MAPPED]

REFUSED = ["c8", "c16", "U3", "V8", ">i4", ">f8", "M8[D]", "m8[h]", "M8[2s]", "M8[m]",
           "g" if np.dtype("g").itemsize > 8 else "c8"]


def make(dtype, n=40, first_segment=8, **kw):
    return SegmentedList(dtype, values_for(dtype, n), first_segment=first_segment, **kw)


def assert_no_exports_left(lst):
    """Every export is released: clear() gives the segments back again."""
    gc.collect()
    lst.clear()
    assert lst.capacity == 0


def assert_same_list(got, want, dtype=None):
    assert got.dtype == (want.dtype if dtype is None else dtype)
    assert len(got) == len(want)
    assert got.tobytes() == want.tobytes()


# -- the mapping and zero-copy, through pyarrow ---------------------------------

@pytest.mark.parametrize("dtype", list(MAPPED), ids=MAPPED_IDS)
def test_pyarrow_chunked_array_is_the_segments(dtype):
    lst = make(dtype)
    ca = pa.chunked_array(lst)
    arrow_type, _ = MAPPED[dtype]
    assert ca.type == arrow_type
    assert [len(c) for c in ca.chunks] == [len(v) for v in lst.segments()] == [8, 16, 16]
    assert ca.null_count == 0
    if np.dtype(dtype).kind != "b":      # bools are packed into bitmaps: a copy
        assert data_addresses(ca) == segment_addresses(lst)
    if np.dtype(dtype).names is None:
        np.testing.assert_array_equal(ca.to_numpy(), lst.to_numpy())


@pytest.mark.parametrize("dtype", list(MAPPED), ids=MAPPED_IDS)
def test_every_mapped_dtype_round_trips(dtype):
    lst = make(dtype)
    # Directly (the schema metadata restores record fields) ...
    assert_same_list(SegmentedList.from_arrow(lst), lst)
    # ... and through pyarrow, which keeps the Arrow type only.
    _, through = MAPPED[dtype]
    assert_same_list(SegmentedList.from_arrow(pa.chunked_array(lst)), lst, through)
    assert_same_list(SegmentedList.from_arrow(pa.array(lst.arrow_array())), lst, through)
    # A pyarrow field keeps the metadata: the exact dtype comes back.
    if np.dtype(dtype).names is not None:
        field = pa.field(lst)
        assert field.metadata == {b"segpy.dtype": repr(
            np.lib.format.dtype_to_descr(np.dtype(dtype))).encode()}


@pytest.mark.parametrize("dtype", REFUSED)
def test_dtypes_arrow_cannot_express_are_refused(dtype):
    lst = SegmentedList(dtype, np.zeros(3, dtype=dtype))
    for export in (lst.__arrow_c_schema__, lst.__arrow_c_stream__, lst.arrow_chunks,
                   lst.arrow_array):
        with pytest.raises(TypeError, match="Arrow cannot express"):
            export()
    with pytest.raises(TypeError, match="Arrow cannot express"):
        pa.chunked_array(lst)
    assert_no_exports_left(lst)         # a refused export leaves none behind


def test_non_native_byte_order_says_so():
    with pytest.raises(TypeError, match="byte order"):
        SegmentedList(">i8", [1]).__arrow_c_schema__()


def test_schema_capsule_and_flags():
    cap = SegmentedList("q").__arrow_c_schema__()
    assert type(cap).__name__ == "PyCapsule"
    field = pa.field(SegmentedList("q"))
    assert field.type == pa.int64() and not field.nullable


def test_empty_list_is_an_empty_stream():
    ca = pa.chunked_array(SegmentedList("d"))
    assert ca.type == pa.float64() and ca.num_chunks == 0 and len(ca) == 0


def test_pyarrow_table_and_requested_schema():
    lst = make("q", 100)
    t = pa.table({"x": pa.chunked_array(lst)})
    assert t.column("x").to_pylist() == lst.tolist()
    assert data_addresses(t.column("x")) == segment_addresses(lst)
    # A requested type is a best-effort request: pyarrow casts what it gets.
    assert pa.chunked_array(lst, type=pa.float64()).to_pylist() == [float(x) for x in lst]
    with pytest.raises(TypeError, match="requested_schema"):
        lst.__arrow_c_stream__(42)


def test_the_list_has_no_arrow_c_array():
    # Consumers that see both prefer __arrow_c_array__ and would concatenate.
    assert not hasattr(SegmentedList("q"), "__arrow_c_array__")


# -- arrow_chunks and arrow_array --------------------------------------------

def test_arrow_chunks_are_zero_copy_arrays():
    lst = make("d", 100)
    chunks = lst.arrow_chunks()
    assert [len(c) for c in chunks] == [len(v) for v in lst.segments()]
    arrays = [pa.array(c) for c in chunks]
    assert [a.buffers()[1].address for a in arrays] == segment_addresses(lst)
    assert pa.chunked_array(chunks).to_pylist() == lst.tolist()
    assert "format 'g'" in repr(chunks[0])
    assert pa.field(chunks[0]).type == pa.float64()


def test_arrow_array_is_one_contiguous_copy():
    lst = make("q", 100)
    arr = pa.array(lst.arrow_array())
    assert arr.to_pylist() == lst.tolist()
    assert arr.buffers()[1].address not in segment_addresses(lst)
    lst.clear()
    lst.extend([7] * 100)
    assert arr.to_pylist() == list(range(100))


@pytest.mark.parametrize("make_one", ["chunk", "copy"])
def test_export_objects_are_sealed(make_one):
    lst = make("q")
    obj = lst.arrow_chunks()[0] if make_one == "chunk" else lst.arrow_array()
    with pytest.raises(TypeError, match="cannot create"):
        type(obj)()
    with pytest.raises(TypeError, match="cannot create"):
        type(obj).__new__(type(obj))


# -- lifetimes: exports are segment views --------------------------------------

def _exporters():
    return {
        "stream capsule": lambda lst: lst.__arrow_c_stream__(),
        "pyarrow chunked array": lambda lst: pa.chunked_array(lst),
        "pyarrow chunk": lambda lst: pa.chunked_array(lst).chunk(1),
        "arrow_chunks": lambda lst: lst.arrow_chunks(),
        "one chunk object": lambda lst: lst.arrow_chunks()[2],
    }


@pytest.mark.parametrize("how", list(_exporters()))
def test_exports_keep_the_segments_like_views(how):
    lst = make("q", 40)
    want = lst.tolist()
    capacity = lst.capacity
    export = _exporters()[how](lst)
    lst.clear()                         # keeps the segments
    assert lst.capacity == capacity
    lst.shrink_to_fit()                 # releases nothing
    assert lst.capacity == capacity
    with pytest.raises(BufferError):
        lst.__init__("q")
    lst.extend(range(1000, 1100))       # growth stays allowed
    if how == "pyarrow chunked array":
        # The appends reused the kept segments: like views, exports see writes.
        assert len(export) == len(want)
    del export
    assert_no_exports_left(lst)         # now the segments go back
    lst.__init__("q", [1])


def test_exported_data_stays_valid_while_the_list_grows():
    lst = make("q", 40)
    ca = pa.chunked_array(lst)
    lst.extend(range(10_000))           # new segments; the old ones do not move
    assert ca.to_pylist() == list(range(40))
    assert len(ca) == 40


def test_stream_length_is_fixed_when_made():
    lst = make("q", 40)
    cap = lst.__arrow_c_stream__()
    lst.extend(range(100))

    class Holder:
        def __arrow_c_stream__(self, requested_schema=None):
            return cap

    assert len(pa.chunked_array(Holder())) == 40


def test_pop_that_drops_a_segment_keeps_it_while_exported():
    lst = make("q", 9, first_segment=8)
    ca = pa.chunked_array(lst)
    capacity = lst.capacity
    lst.pop()
    assert lst.capacity == capacity and ca.to_pylist()[-1] == make("q", 9)[-1]


def test_release_in_another_thread():
    lst = make("q", 1000)
    holder = [pa.chunked_array(lst), lst.__arrow_c_stream__(), lst.arrow_chunks()]
    t = threading.Thread(target=holder.clear)
    t.start()
    t.join()
    assert_no_exports_left(lst)


def test_arrays_released_by_pyarrow_threads():
    # pyarrow computes on its own threads (no GIL); the last release there
    # takes the GIL to drop the list.
    lst = make("d", 100_000, first_segment=1024)
    ca = pa.chunked_array(lst)
    import pyarrow.compute as pc

    assert pc.sum(ca).as_py() == pytest.approx(float(lst.sum()))
    del ca
    assert_no_exports_left(lst)


# -- polars, DuckDB, nanoarrow ------------------------------------------------

def test_polars():
    pl = pytest.importorskip("polars")
    na = pytest.importorskip("nanoarrow")
    lst = make("q", 100)
    # polars.Series rechunks a stream into one buffer (a copy, polars' choice).
    s = pl.Series(lst)
    assert s.to_list() == lst.tolist()
    # From a pyarrow chunked array without rechunking it keeps the segments.
    s = pl.from_arrow(pa.chunked_array(lst), rechunk=False)
    assert s.n_chunks() == len(lst.segments())
    assert [a.buffers[1] for a in na.c_array_stream(s)] == segment_addresses(lst)
    # A single segment is a single array: zero-copy.
    s = pl.Series(lst.arrow_chunks()[1])
    assert [a.buffers[1] for a in na.c_array_stream(s)] == segment_addresses(lst)[1:2]
    assert_same_list(SegmentedList.from_arrow(pl.Series(lst)), lst)


def test_duckdb():
    duckdb = pytest.importorskip("duckdb")
    lst = make("q", 10_000, first_segment=64)
    con = duckdb.connect()
    # DuckDB scans the list's stream directly (one column, "value") ...
    assert con.sql("select sum(value) from lst").fetchall() == [(lst.sum(),)]
    # ... and a table of it.  (Registered: a replacement scan of a pyarrow
    # table in a function keeps a reference to it in duckdb 2.0.)
    con.register("tbl", pa.table({"x": pa.chunked_array(lst)}))
    assert con.sql("select sum(x), count(*) from tbl").fetchall() == [(lst.sum(), 10_000)]
    con.unregister("tbl")
    con.close()
    del con
    assert_no_exports_left(lst)


def test_nanoarrow_stream():
    na = pytest.importorskip("nanoarrow")
    lst = make("i4", 100)
    stream = na.c_array_stream(lst)
    assert stream.get_schema().format == "i"
    arrays = list(stream)
    assert [a.length for a in arrays] == [len(v) for v in lst.segments()]
    assert [a.buffers[1] for a in arrays] == segment_addresses(lst)
    assert all(a.buffers[0] == 0 and a.null_count == 0 for a in arrays)


# -- from_arrow -----------------------------------------------------------------

@pytest.mark.parametrize("name", list(ALLOCATORS))
def test_from_arrow_allocator_and_first_segment(name):
    alloc = make_allocator(name)
    lst = SegmentedList.from_arrow(pa.array(np.arange(50)), allocator=alloc, first_segment=4)
    assert lst.allocator is alloc and lst.first_segment == 4
    assert lst.tolist() == list(range(50))


@pytest.mark.parametrize("arr", [
    pa.array(np.arange(20)).slice(3, 9),
    pa.array([True, False, True, True] * 5).slice(5, 11),
    pa.array([b"ab", b"cd", b"ef", b"gh"], pa.binary(2)).slice(1, 2),
    pa.array([[i, i + 1] for i in range(6)], pa.list_(pa.float64(), 2)).slice(2, 3),
    pa.array([None, 1, 2]).slice(1),
], ids=["int", "bool", "binary", "fixed_size_list", "null-skipped"])
def test_from_arrow_honours_offsets(arr):
    lst = SegmentedList.from_arrow(arr)
    got = lst.tolist()
    want = arr.to_pylist()
    if lst.dtype.names is not None:
        got = [list(r[0]) for r in got]
    assert got == want


@pytest.mark.parametrize("arr", [
    pa.array([1, None, 3]),
    pa.array([True, None]),
    pa.array([[1.0, None]], pa.list_(pa.float64(), 2)),
    pa.array([None, [1.0, 2.0]], pa.list_(pa.float64(), 2)),
    pa.chunked_array([[1, 2], [None]]),
], ids=["int", "bool", "list-child", "list", "second chunk"])
def test_from_arrow_refuses_nulls(arr):
    with pytest.raises(ValueError, match="contains nulls"):
        SegmentedList.from_arrow(arr)


@pytest.mark.parametrize("arr", [
    pa.array(["a"]), pa.array([1], pa.decimal128(5, 2)),
    pa.array([1, 2], pa.int64()).dictionary_encode(),
    pa.array([{"a": 1}]), pa.array([0], pa.timestamp("s", tz="UTC")),
    pa.array([0], pa.date32()), pa.array([[1]], pa.list_(pa.int64())),
], ids=["utf8", "decimal", "dictionary", "struct", "tz", "date32", "list"])
def test_from_arrow_refuses_types_a_list_cannot_hold(arr):
    with pytest.raises(TypeError, match="cannot hold"):
        SegmentedList.from_arrow(arr)


def test_from_arrow_prefers_the_stream():
    calls = []
    lst = make("q")

    class Both:
        def __arrow_c_stream__(self, requested_schema=None):
            calls.append("stream")
            return lst.__arrow_c_stream__()

        def __arrow_c_array__(self, requested_schema=None):
            calls.append("array")
            return lst.arrow_array().__arrow_c_array__()

    assert_same_list(SegmentedList.from_arrow(Both()), lst)
    assert calls == ["stream"]


def test_from_arrow_of_a_subclass():
    class Mine(SegmentedList):
        pass

    assert type(Mine.from_arrow(pa.array([1, 2]))) is Mine


# -- hostile producers ------------------------------------------------------------

class _Returns:
    def __init__(self, stream=None, array=None):
        if stream is not None:
            self.__arrow_c_stream__ = lambda requested_schema=None: stream()
        if array is not None:
            self.__arrow_c_array__ = lambda requested_schema=None: array()


def _raise():
    raise KeyError("producer failed")


@pytest.mark.parametrize("producer,exc,match", [
    (_Returns(stream=lambda: 42), TypeError, "PyCapsule named 'arrow_array_stream'"),
    (_Returns(stream=lambda: SegmentedList("q").__arrow_c_schema__()), TypeError,
     "named 'arrow_schema'"),
    (_Returns(stream=lambda: segpy.seglist.capi), TypeError, "arrow_array_stream"),
    (_Returns(stream=_raise), KeyError, "producer failed"),
    (_Returns(array=lambda: 42), TypeError, "tuple of two"),
    (_Returns(array=lambda: (1, 2)), TypeError, "arrow_schema"),
    (_Returns(array=lambda: SegmentedList("q").arrow_array().__arrow_c_array__()[::-1]),
     TypeError, "arrow_schema"),
    (object(), TypeError, "__arrow_c_stream__ or __arrow_c_array__"),
    ([1, 2], TypeError, "__arrow_c_stream__ or __arrow_c_array__"),
], ids=["int", "schema capsule", "capi capsule", "raises", "array int", "array ints",
        "array swapped", "object", "list"])
def test_from_arrow_with_bad_producers(producer, exc, match):
    with pytest.raises(exc, match=match):
        SegmentedList.from_arrow(producer)


def test_a_stream_consumed_twice():
    cap = make("q").__arrow_c_stream__()
    src = _Returns(stream=lambda: cap)
    assert len(SegmentedList.from_arrow(src)) == 40
    with pytest.raises(ValueError, match="already consumed"):
        SegmentedList.from_arrow(src)


def test_a_producer_that_mutates_its_list():
    lst = make("q", 40)

    def stream():
        cap = lst.__arrow_c_stream__()
        lst.clear()                     # the export keeps the segments
        lst.extend(range(5))
        return cap

    got = SegmentedList.from_arrow(_Returns(stream=stream))
    assert len(got) == 40 and got.tolist()[:5] == [0, 1, 2, 3, 4]


# A C stream built with ctypes, for the failures no real producer makes.

class CSchema(ctypes.Structure):
    pass


class CArray(ctypes.Structure):
    pass


class CStream(ctypes.Structure):
    pass


_SCHEMA_RELEASE = ctypes.CFUNCTYPE(None, ctypes.POINTER(CSchema))
_ARRAY_RELEASE = ctypes.CFUNCTYPE(None, ctypes.POINTER(CArray))
CSchema._fields_ = [
    ("format", ctypes.c_char_p), ("name", ctypes.c_char_p), ("metadata", ctypes.c_char_p),
    ("flags", ctypes.c_int64), ("n_children", ctypes.c_int64),
    ("children", ctypes.POINTER(ctypes.POINTER(CSchema))),
    ("dictionary", ctypes.POINTER(CSchema)), ("release", _SCHEMA_RELEASE),
    ("private_data", ctypes.c_void_p)]
CArray._fields_ = [
    ("length", ctypes.c_int64), ("null_count", ctypes.c_int64), ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64), ("n_children", ctypes.c_int64),
    ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.POINTER(ctypes.POINTER(CArray))),
    ("dictionary", ctypes.POINTER(CArray)), ("release", _ARRAY_RELEASE),
    ("private_data", ctypes.c_void_p)]
_GET_SCHEMA = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(CStream), ctypes.POINTER(CSchema))
_GET_NEXT = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(CStream), ctypes.POINTER(CArray))
_LAST_ERROR = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.POINTER(CStream))
_STREAM_RELEASE = ctypes.CFUNCTYPE(None, ctypes.POINTER(CStream))
CStream._fields_ = [("get_schema", _GET_SCHEMA), ("get_next", _GET_NEXT),
                    ("get_last_error", _LAST_ERROR), ("release", _STREAM_RELEASE),
                    ("private_data", ctypes.c_void_p)]

_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]


class HostileStream:
    """An ArrowArrayStream whose schema, arrays and errors the test chooses;
    it counts what the consumer released."""

    def __init__(self, fmt=b"l", arrays=(), schema_error=0, next_error_at=None,
                 message=b"the producer broke"):
        self.fmt, self.arrays = fmt, list(arrays)
        self.schema_error, self.next_error_at = schema_error, next_error_at
        self.message = ctypes.create_string_buffer(message)   # outlives the call
        self.released = {"stream": 0, "schema": 0, "array": 0}
        self.given = 0
        self.keep = []
        self.c = CStream(_GET_SCHEMA(self._get_schema), _GET_NEXT(self._get_next),
                         _LAST_ERROR(self._last_error), _STREAM_RELEASE(self._release))
        self._schema_release = _SCHEMA_RELEASE(self._release_schema)
        self._array_release = _ARRAY_RELEASE(self._release_array)

    def __arrow_c_stream__(self, requested_schema=None):
        return _capsule_new(ctypes.addressof(self.c), b"arrow_array_stream", None)

    def _get_schema(self, stream, out):
        if self.schema_error:
            return self.schema_error
        s = out.contents
        s.format, s.name, s.metadata, s.flags = self.fmt, b"", None, 0
        s.n_children, s.children, s.dictionary = 0, None, None
        s.release = self._schema_release
        return 0

    def _get_next(self, stream, out):
        i = self.given
        if i == self.next_error_at:
            return 5
        a = out.contents
        if i >= len(self.arrays):
            a.release = _ARRAY_RELEASE()
            return 0
        self.given += 1
        spec = self.arrays[i]
        bufs = (ctypes.c_void_p * max(1, len(spec["buffers"])))(*spec["buffers"])
        self.keep.append(bufs)
        a.length, a.null_count, a.offset = spec["length"], spec.get("null_count", 0), 0
        a.n_buffers, a.n_children = spec.get("n_buffers", len(spec["buffers"])), 0
        a.buffers = ctypes.cast(bufs, ctypes.POINTER(ctypes.c_void_p))
        a.children, a.dictionary = None, None
        a.release = self._array_release
        return 0

    def _last_error(self, stream):
        return ctypes.addressof(self.message)

    def _release(self, stream):
        self.released["stream"] += 1
        stream.contents.release = _STREAM_RELEASE()

    def _release_schema(self, schema):
        self.released["schema"] += 1
        schema.contents.release = _SCHEMA_RELEASE()

    def _release_array(self, array):
        self.released["array"] += 1
        array.contents.release = _ARRAY_RELEASE()


DATA = np.arange(8, dtype=np.int64)
GOOD = {"length": 8, "buffers": [None, DATA.ctypes.data]}


def test_a_well_behaved_ctypes_stream():
    src = HostileStream(arrays=[GOOD, GOOD])
    assert SegmentedList.from_arrow(src).tolist() == list(range(8)) * 2
    assert src.released == {"stream": 1, "schema": 1, "array": 2}


@pytest.mark.parametrize("kw,exc,match,arrays_released", [
    (dict(schema_error=22), OSError, "get_schema failed: the producer broke", 0),
    (dict(arrays=[GOOD, GOOD], next_error_at=1), OSError, "get_next failed", 1),
    (dict(fmt=b"u", arrays=[GOOD]), TypeError, "cannot hold", 0),
    (dict(fmt=b"w:x", arrays=[GOOD]), ValueError, "malformed", 0),
    (dict(fmt=b"+w:2", arrays=[GOOD]), ValueError, "exactly one child", 0),
    (dict(arrays=[dict(GOOD, null_count=3)]), ValueError, "contains nulls", 1),
    (dict(arrays=[dict(GOOD, length=-1)]), ValueError, "length -1", 1),
    (dict(arrays=[dict(GOOD, n_buffers=3)]), ValueError, "3 buffers", 1),
    (dict(arrays=[{"length": 8, "buffers": [None, None]}]), ValueError, "data buffer", 1),
    (dict(arrays=[GOOD, dict(GOOD, null_count=1)]), ValueError, "contains nulls", 2),
], ids=["get_schema", "get_next", "utf8", "bad width", "list without child", "nulls",
        "negative length", "buffers", "no data", "second array"])
def test_hostile_streams_raise_and_release_everything(kw, exc, match, arrays_released):
    src = HostileStream(**kw)
    with pytest.raises(exc, match=match):
        SegmentedList.from_arrow(src)
    assert src.released["stream"] == 1
    assert src.released["array"] == arrays_released
    assert src.released["schema"] == (0 if kw.get("schema_error") else 1)


def test_get_next_error_carries_the_errno():
    with pytest.raises(OSError) as info:
        SegmentedList.from_arrow(HostileStream(arrays=[GOOD], next_error_at=0))
    assert info.value.errno == 5
