"""The Arrow PyCapsule interface, against real consumers (pyarrow, polars,
DuckDB, nanoarrow) and hostile producers.

The export is zero-copy: each chunk's data buffer must be the segment
itself.  Exports count as segment views (the segments stay while any
lives).  from_arrow copies, refuses nulls and types a list cannot hold, and
releases everything it took, on errors too.
"""

import threading

import numpy as np
import pytest
from arrow_support import (
    HOMOGENEOUS,
    REC2,
    REFUSED,
    SUBARRAY,
    SUBARRAY2D,
    assert_no_exports_left,
    assert_same_list,
    check_export_keeps_segments,
    data_addresses,
    make,
    segment_addresses,
)

from segpy import SegmentedList

from seg_support import ALLOCATORS, make_allocator

pa = pytest.importorskip("pyarrow")


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
def test_dtypes_arrow_cannot_express_are_refused_by_pyarrow_too(dtype):
    # segpy's own exports are refused in test_arrow_core.py.
    lst = SegmentedList(dtype, np.zeros(3, dtype=dtype))
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
    # segpy's own exporters are checked in test_arrow_core.py.
    return {
        "pyarrow chunked array": lambda lst: pa.chunked_array(lst),
        "pyarrow chunk": lambda lst: pa.chunked_array(lst).chunk(1),
    }


@pytest.mark.parametrize("how", list(_exporters()))
def test_exports_keep_the_segments_like_views(how):
    check_export_keeps_segments(make("q", 40), _exporters()[how])


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
    # polars.Series reads the stream: one chunk per segment, zero-copy (it
    # would copy element by element were the list a registered Sequence).
    s = pl.Series(lst)
    assert s.to_list() == lst.tolist()
    assert s.n_chunks() == len(lst.segments())
    assert [a.buffers[1] for a in na.c_array_stream(s)] == segment_addresses(lst)
    del s
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
