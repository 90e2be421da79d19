"""The Arrow PyCapsule interface without any Arrow library: segpy as both
producer and consumer, and hostile producers.

These run wherever segpy does, including the sanitizer run of .ci/run, which
has no pyarrow: every export, import and release path of
_seglist_arrow.pxi and _seglist_arrow_import.pxi is exercised here.
test_arrow.py checks the same exports against real consumers.
"""

import ctypes
import threading

import numpy as np
import pytest
from arrow_support import (
    MAPPED_DTYPES,
    REFUSED,
    assert_no_exports_left,
    assert_same_list,
    check_export_keeps_segments,
    make,
)

import segpy
from segpy import SegmentedList

IDS = [str(d) for d in MAPPED_DTYPES]


@pytest.mark.parametrize("dtype", MAPPED_DTYPES, ids=IDS)
def test_every_mapped_dtype_round_trips_through_segpy(dtype):
    lst = make(dtype)
    assert_same_list(SegmentedList.from_arrow(lst), lst)
    assert_same_list(SegmentedList.from_arrow(lst.arrow_array()), lst)
    chunks = lst.arrow_chunks()
    assert [len(SegmentedList.from_arrow(c)) for c in chunks] == [8, 16, 16]
    assert b"".join(SegmentedList.from_arrow(c).tobytes() for c in chunks) == lst.tobytes()
    del chunks
    assert_no_exports_left(lst)


@pytest.mark.parametrize("dtype", REFUSED)
def test_refused_dtypes_leave_no_export(dtype):
    lst = SegmentedList(dtype, np.zeros(3, dtype=dtype))
    for export in (lst.__arrow_c_schema__, lst.__arrow_c_stream__, lst.arrow_chunks,
                   lst.arrow_array):
        with pytest.raises(TypeError, match="Arrow cannot express"):
            export()
    assert_no_exports_left(lst)


@pytest.mark.parametrize("how", ["stream capsule", "arrow_chunks", "one chunk object"])
def test_segpy_exports_keep_the_segments_like_views(how):
    export = {"stream capsule": lambda lst: lst.__arrow_c_stream__(),
              "arrow_chunks": lambda lst: lst.arrow_chunks(),
              "one chunk object": lambda lst: lst.arrow_chunks()[2]}[how]
    check_export_keeps_segments(make("q", 40), export)


def test_a_stream_outlives_its_list_and_is_released_in_another_thread():
    lst = make("q", 1000)
    want = lst.tolist()
    holder = [lst.__arrow_c_stream__(), lst.arrow_chunks()]
    cap = holder[0]
    del lst                              # the export keeps the list alive
    got = SegmentedList.from_arrow(type("P", (), {
        "__arrow_c_stream__": lambda self, requested_schema=None: cap})())
    assert got.tolist() == want
    t = threading.Thread(target=holder.clear)
    t.start()
    t.join()


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
