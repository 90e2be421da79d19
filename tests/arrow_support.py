"""Helpers shared by the Arrow tests (tests/interop/test_arrow*.py).

Kept here, beside seg_support.py, so that the tests that need pyarrow and
the ones that do not (which also run under the sanitizers, where the
consumers are not installed) build their lists and check them the same way.
"""

import gc

import numpy as np

from segpy import SegmentedList


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

REC2 = np.dtype([("a", "<i4"), ("b", "<f8")])
HOMOGENEOUS = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4")])
SUBARRAY = np.dtype([("v", "<f8", (3,))])
SUBARRAY2D = np.dtype([("m", "<i2", (2, 3))])

# Every dtype the export maps (test_arrow.py pairs each with its Arrow type).
MAPPED_DTYPES = ["i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "?",
                 "M8[s]", "M8[ms]", "M8[us]", "M8[ns]", "m8[s]", "m8[ms]", "m8[us]", "m8[ns]",
                 "S5", SUBARRAY, SUBARRAY2D, HOMOGENEOUS, REC2]

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



def check_export_keeps_segments(lst, export):
    """An export made by ``export(lst)`` holds the segments as a view does:
    clear and shrink_to_fit release none, __init__ refuses, growth goes on;
    once it is gone the segments go back.  Returns nothing; asserts."""
    capacity = lst.capacity
    held = export(lst)
    lst.clear()                         # keeps the segments
    assert lst.capacity == capacity
    lst.shrink_to_fit()                 # releases nothing
    assert lst.capacity == capacity
    try:
        lst.__init__("q")
    except BufferError:
        pass
    else:
        raise AssertionError("__init__ did not refuse while an export lives")
    lst.extend(range(1000, 1100))       # growth stays allowed
    del held
    assert_no_exports_left(lst)         # now the segments go back
    lst.__init__("q", [1])
