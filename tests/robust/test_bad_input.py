"""The bad-input catalogue: every public entry point, what each bad input gets.

``ROWS`` below *is* the catalogue.  Each row names an entry point and a bad
input, and states the exact exception type and a key part of its message;
``test_bad_input`` runs it and then checks that the object it was called on
(the list, the allocator, the block, the buffer) is exactly as before.  A few
rows state inputs that are *accepted* on purpose (``exc`` is None): they
check the result instead.

``docs/bad-input.md`` shows the same table; ``test_doc_lists_every_row``
fails when the two drift.  Regenerate the table with::

    python -P tests/robust/test_bad_input.py > /tmp/table.md

and paste it between the markers in docs/bad-input.md.

Adding an entry point: add rows (``Row(id, entry, bad, make, call, exc,
match)``), regenerate the table.  Row ids are stable names, never reused.
"""

from __future__ import annotations

import mmap
import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import segpy
from segpy import (
    AllocatorError,
    BufferAllocator,
    BumpAllocator,
    Heap,
    SegmentedList,
    SystemAllocator,
)

from fuzz_models import snapshot
from seg_support import REPO

DOC = REPO / "docs" / "bad-input.md"


def _forged_pickle(x, payload, length=True):
    """A pickle that rebuilds a list like ``x`` from ``payload`` (bytes a real
    list would never write), through the real reconstructor; with ``x``'s
    recorded length, or in the format from before it was recorded."""
    fn, args = x.__reduce_ex__(2)[:2]
    cls, dtype, first_segment, _, n = args
    args = (cls, dtype, first_segment, payload) + ((n,) if length else ())
    return pickle.dumps(_Forged(fn, args), protocol=2)


def _loads_oob(x, tamper):
    """Pickle ``x`` with protocol 5 out-of-band buffers; load it with ``tamper(buffers)``."""
    bufs = []
    data = pickle.dumps(x, protocol=5, buffer_callback=bufs.append)
    return pickle.loads(data, buffers=tamper([bytes(b.raw()) for b in bufs]))


def _lying_first_segment(x):
    fn, args = x.__reduce_ex__(5)[:2]
    cls, dtype, first_segment, payload, n = args
    return fn(cls, dtype, first_segment * 2, [bytes(b.raw()) for b in payload], n)


class _Forged:
    """Pickles as ``fn(*args)``."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


@dataclass(frozen=True)
class Row:
    id: str
    entry: str                       # the entry point, as a user writes it
    bad: str                         # the bad input, in words
    make: Callable[[], Any]          # builds the subject (what must stay unchanged)
    call: Callable[[Any], Any]       # the bad call, given the subject
    exc: type | None                 # the exact exception type; None = accepted
    match: str = ""                  # a key part of the message (or, if accepted, of the note)
    expect: Callable[[Any, Any], None] | None = None   # accepted rows: check (subject, result)


# ---------------------------------------------------------------------------
# Subjects and snapshots
# ---------------------------------------------------------------------------

def lst(dtype="q", values=(1, 2, 3), allocator=None, **kw):
    """A list on its own allocator (a fresh Heap by default), so that no
    other test's objects (freed by a GC pass, say) change what is compared."""
    return SegmentedList(dtype, values, allocator=allocator or Heap(), **kw)


def released_block():
    b = Heap().allocate(16)
    b.release()
    return b


def block_and_view(nbytes):
    b = Heap().allocate(nbytes)
    return b, memoryview(b)


def arena_with_open_scope():
    a = BumpAllocator()
    a.scope().__enter__()
    return (a,)


def scope_with_live_list():
    a = BumpAllocator()
    s = a.scope()
    s.__enter__()
    return s, a, lst(allocator=a)


def entered_scope():
    a = BumpAllocator()
    s = a.scope()
    s.__enter__()
    return a, s


def exit_twice(a):
    s = a.scope()
    with s:
        pass
    s.__exit__(None, None, None)


def nested_open_scopes():
    a = BumpAllocator()
    outer, inner = a.scope(), a.scope()
    outer.__enter__()
    inner.__enter__()
    return a, outer, inner


def readonly(arr):
    arr.setflags(write=False)
    return arr


def live_views(values=(1, 2, 3)):
    x = lst("q", values)
    return x, x.segments()


def _contents(expected, dtype="q"):
    def check(subject, result):
        x = subject if isinstance(subject, SegmentedList) else subject[0]
        assert x.to_numpy().tolist() == expected
        assert x.dtype == np.dtype(dtype)
    return check


def _equal(got, want):
    assert got == want, (got, want)


def _serves_bytes(a, size):
    assert a.stats["bytes_mapped"] == size
    blk = a.allocate(64)
    with memoryview(blk) as m:
        m[:] = bytes(range(64))
    assert bytes(blk) == bytes(range(64))
    blk.release()


REC = [("a", "<i4"), ("b", "<f8")]

# ---------------------------------------------------------------------------
# The catalogue
# ---------------------------------------------------------------------------

ROWS: list[Row] = [
    # -- SegmentedList construction ----------------------------------------
    Row("ctor-object-dtype", "SegmentedList(dtype)", "object dtype `object`",
        lambda: None, lambda _: SegmentedList(object), TypeError, "Python object references"),
    Row("ctor-object-field", "SegmentedList(dtype)", "record with an object field",
        lambda: None, lambda _: SegmentedList([("a", "O")]), TypeError, "Python object references"),
    Row("ctor-unsized", "SegmentedList(dtype)", "unsized flexible dtype `'S'`",
        lambda: None, lambda _: SegmentedList("S"), TypeError, "unsized flexible dtype"),
    Row("ctor-unsized-void", "SegmentedList(dtype)", "unsized `'V'`",
        lambda: None, lambda _: SegmentedList("V"), TypeError, "unsized flexible dtype"),
    Row("ctor-subarray", "SegmentedList(dtype)", "subarray dtype `('f8', (3,))`",
        lambda: None, lambda _: SegmentedList(("f8", (3,))), TypeError, "subarray dtype"),
    Row("ctor-not-a-dtype", "SegmentedList(dtype)", "unknown dtype string",
        lambda: None, lambda _: SegmentedList("nonsense"), TypeError, "not understood"),
    Row("ctor-int-dtype", "SegmentedList(dtype)", "an int as dtype",
        lambda: None, lambda _: SegmentedList(5), TypeError, "as a data type"),
    Row("ctor-misspelt-keyword", "SegmentedList()", "misspelt keyword `alocator=`",
        lambda: None, lambda _: SegmentedList("q", alocator=None), TypeError,
        "SegmentedList() got an unexpected keyword argument 'alocator'"),
    Row("ctor-allocator-positional", "SegmentedList()", "allocator given by position",
        lambda: None, lambda _: SegmentedList("q", (), Heap()), TypeError,
        "SegmentedList() takes from 1 to 2 positional arguments but 3 were given"),
    Row("ctor-no-dtype", "SegmentedList()", "no dtype",
        lambda: None, lambda _: SegmentedList(), TypeError,
        "SegmentedList() missing 1 required positional argument: 'dtype'"),
    Row("ctor-allocator-type", "SegmentedList(allocator=)", "not an Allocator (int)",
        lambda: None, lambda _: SegmentedList("q", allocator=5), TypeError,
        "allocator must be a segpy allocator, not int"),
    Row("ctor-allocator-class", "SegmentedList(allocator=)", "the class `segpy.Heap`, not an instance",
        lambda: None, lambda _: SegmentedList("q", allocator=Heap), TypeError,
        "allocator must be a segpy allocator, not type"),
    Row("ctor-first-segment-not-pow2", "SegmentedList(first_segment=)", "3 (not a power of two)",
        lambda: None, lambda _: SegmentedList("q", first_segment=3), ValueError,
        "first_segment must be a power of two"),
    Row("ctor-first-segment-zero", "SegmentedList(first_segment=)", "0",
        lambda: None, lambda _: SegmentedList("q", first_segment=0), ValueError,
        "first_segment must be a power of two"),
    Row("ctor-first-segment-negative", "SegmentedList(first_segment=)", "-4",
        lambda: None, lambda _: SegmentedList("q", first_segment=-4), ValueError,
        "first_segment must be a power of two"),
    Row("ctor-first-segment-huge", "SegmentedList(first_segment=)", "2**70",
        lambda: None, lambda _: SegmentedList("q", first_segment=2**70), ValueError,
        "first_segment must be a power of two"),
    Row("ctor-first-segment-float", "SegmentedList(first_segment=)", "4.0",
        lambda: None, lambda _: SegmentedList("q", first_segment=4.0), TypeError,
        "first_segment must be an int, not float"),
    Row("ctor-first-segment-bool", "SegmentedList(first_segment=)", "True",
        lambda: None, lambda _: SegmentedList("q", first_segment=True), TypeError,
        "first_segment must be an int, not bool"),
    Row("ctor-not-iterable", "SegmentedList(dtype, iterable)", "an int",
        lambda: None, lambda _: SegmentedList("q", 5), TypeError, "not iterable"),
    Row("ctor-none-iterable", "SegmentedList(dtype, iterable)", "None (as `array.array('q', None)`)",
        lambda: None, lambda _: SegmentedList("q", None), TypeError,
        "'NoneType' object is not iterable"),
    Row("ctor-bad-element", "SegmentedList(dtype, iterable)", "a str element into int64",
        lambda: None, lambda _: SegmentedList("q", [1, "a"]), TypeError, "cannot store str 'a'"),
    Row("ctor-positional-allocator", "SegmentedList(dtype, iterable)", "allocator passed positionally",
        lambda: None, lambda _: SegmentedList("q", [], Heap()), TypeError, "positional argument"),
    Row("reinit-with-views", "SegmentedList.__init__", "re-initialised while segment views exist",
        live_views, lambda s: s[0].__init__("f8"), BufferError, "while segment views exist"),

    # -- append / __setitem__: scalar conversion ----------------------------
    Row("append-str-into-int", "append", "str into int64",
        lst, lambda x: x.append("x"), TypeError, "cannot store str 'x' in a SegmentedList of int64"),
    Row("append-float-into-int", "append", "1.5 into int64",
        lst, lambda x: x.append(1.5), TypeError, "cannot store float 1.5"),
    Row("append-nan-into-int", "append", "NaN into int64",
        lst, lambda x: x.append(float("nan")), TypeError, "cannot store float nan"),
    Row("append-np-nan-into-int", "append", "np.float64 NaN into int64",
        lst, lambda x: x.append(np.float64("nan")), TypeError, "cannot store float64"),
    Row("append-overflow-int64", "append", "2**63 into int64",
        lst, lambda x: x.append(2**63), OverflowError,
        "Python int 9223372036854775808 out of bounds for int64"),
    Row("append-overflow-int8", "append", "128 into int8",
        lambda: lst("i1"), lambda x: x.append(128), OverflowError, "out of bounds for int8"),
    Row("append-numpy-int-overflow", "append", "`np.int64(300)` into int8 (numpy 2 raises too)",
        lambda: lst("i1"), lambda x: x.append(np.int64(300)), OverflowError,
        "300 out of bounds for int8"),
    Row("setitem-numpy-uint-overflow", "x[i] = v", "`np.uint64(2**64-1)` into int8",
        lambda: lst("i1"), lambda x: x.__setitem__(0, np.uint64(2**64 - 1)), OverflowError,
        "18446744073709551615 out of bounds for int8"),
    Row("append-negative-unsigned", "append", "-1 into uint32",
        lambda: lst("u4"), lambda x: x.append(-1), OverflowError, "Python int -1 out of bounds for uint32"),
    Row("append-huge-int", "append", "10**5000 (message stays short)",
        lst, lambda x: x.append(10**5000), OverflowError, "an int of 16610 bits"),
    Row("append-overflow-big-endian", "append", "2**40 into big-endian int32",
        lambda: lst(">i4"), lambda x: x.append(2**40), OverflowError, "out of bounds for >i4"),
    Row("append-none-into-float", "append", "None into float64",
        lambda: lst("f8", (1.0,)), lambda x: x.append(None), TypeError, "cannot store NoneType None"),
    Row("append-complex-into-float", "append", "1j into float64",
        lambda: lst("f8", (1.0,)), lambda x: x.append(1j), TypeError, "cannot store complex 1j"),
    Row("append-int-into-bool", "append", "2 into bool",
        lambda: lst("?", (True,)), lambda x: x.append(2), TypeError, "cannot store int 2"),
    Row("append-array", "append", "an ndarray (not a scalar)",
        lst, lambda x: x.append(np.zeros(2)), TypeError, "expected a scalar"),
    Row("append-record-wrong-length", "append", "3-tuple into a 2-field record",
        lambda: lst(REC, ((1, 2.0),)), lambda x: x.append((1, 2, 3)), ValueError,
        "could not assign tuple of length 3"),
    Row("append-bad-datetime", "append", "unparsable string into datetime64",
        lambda: lst("M8[s]", ("2020-01-01",)), lambda x: x.append("garbage"), ValueError,
        "Error parsing datetime string"),
    Row("append-two-arguments", "append", "two arguments",
        lst, lambda x: x.append(1, 2), TypeError, "takes exactly one argument (2 given)"),
    Row("setitem-nan-into-int", "x[i] = v", "NaN into int64",
        lst, lambda x: x.__setitem__(0, float("nan")), TypeError, "cannot store float nan"),
    Row("setitem-overflow", "x[i] = v", "2**64 into int64",
        lst, lambda x: x.__setitem__(0, 2**64), OverflowError, "out of bounds for int64"),
    Row("setitem-out-of-range", "x[i] = v", "index == len",
        lst, lambda x: x.__setitem__(3, 1), IndexError, "SegmentedList index out of range"),
    Row("setitem-negative-out-of-range", "x[i] = v", "index == -len-1",
        lst, lambda x: x.__setitem__(-4, 1), IndexError, "SegmentedList index out of range"),
    Row("setitem-extended-slice-size", "x[a:b:c] = v", "a sequence of the wrong size",
        lst, lambda x: x.__setitem__(slice(0, 3, 2), [1]), ValueError,
        "attempt to assign sequence of size 1 to extended slice of size 2"),
    Row("setitem-slice-bad-value", "x[a:b] = v", "a str among the values",
        lst, lambda x: x.__setitem__(slice(0, 1), ["a"]), TypeError, "cannot store str 'a'"),
    Row("setitem-str-index", "x[i] = v", "a str index",
        lst, lambda x: x.__setitem__("0", 1), TypeError, "indices must be integers or slices, not str"),
    Row("delitem-out-of-range", "del x[i]", "index == len",
        lst, lambda x: x.__delitem__(3), IndexError, "SegmentedList index out of range"),
    Row("insert-str-index", "insert", "a str index",
        lst, lambda x: x.insert("a", 1), TypeError, "'str' object cannot be interpreted as an integer"),
    Row("pop-out-of-range", "pop", "index == len",
        lst, lambda x: x.pop(5), IndexError, "pop index out of range"),
    Row("remove-missing", "remove", "a value not in the list",
        lst, lambda x: x.remove(9), ValueError, "x not in SegmentedList"),
    Row("index-missing", "index", "a value not in the list",
        lst, lambda x: x.index(9), ValueError, "x not in SegmentedList"),
    Row("take-out-of-range", "take", "an index == len",
        lst, lambda x: x.take([7]), IndexError, "index 7 is out of bounds for axis 0 with size 3"),
    Row("mask-wrong-length", "x[mask]", "a bool mask of the wrong length",
        lst, lambda x: x[np.array([True])], IndexError, "boolean index did not match"),

    # -- __getitem__ --------------------------------------------------------
    Row("getitem-out-of-range", "x[i]", "index == len",
        lst, lambda x: x[3], IndexError, "SegmentedList index out of range"),
    Row("getitem-negative-out-of-range", "x[i]", "index == -len-1",
        lst, lambda x: x[-4], IndexError, "SegmentedList index out of range"),
    Row("getitem-empty", "x[i]", "index 0 of an empty list",
        lambda: lst(values=()), lambda x: x[0], IndexError, "SegmentedList index out of range"),
    Row("getitem-huge", "x[i]", "2**70",
        lst, lambda x: x[2**70], IndexError, "cannot fit 'int' into an index-sized integer"),
    Row("getitem-float-index", "x[i]", "1.0",
        lst, lambda x: x[1.0], TypeError, "indices must be integers or slices, not float"),
    Row("getitem-str-index", "x[i]", "'a'",
        lst, lambda x: x["a"], TypeError, "indices must be integers or slices, not str"),
    Row("getitem-none-index", "x[i]", "None",
        lst, lambda x: x[None], TypeError, "indices must be integers or slices, not NoneType"),
    Row("getitem-tuple-index", "x[i]", "(0,)",
        lst, lambda x: x[0, ], TypeError, "indices must be integers or slices, not tuple"),

    # -- extend ---------------------------------------------------------------
    Row("extend-not-iterable", "extend", "an int",
        lst, lambda x: x.extend(5), TypeError, "'int' object is not iterable"),
    Row("extend-none", "extend", "None",
        lst, lambda x: x.extend(None), TypeError, "'NoneType' object is not iterable"),
    Row("extend-2d-array", "extend", "a 2-D array",
        lst, lambda x: x.extend(np.zeros((2, 2), "q")), ValueError, "takes a 1-D array"),
    Row("extend-0d-array", "extend", "a 0-D array",
        lst, lambda x: x.extend(np.array(5)), ValueError, "takes a 1-D array, got an array of shape ()"),
    Row("extend-2d-memoryview", "extend", "a 2-D memoryview",
        lambda: lst("B", (1,)), lambda x: x.extend(memoryview(bytes(4)).cast("B", (2, 2))),
        ValueError, "takes a 1-D array"),
    Row("extend-float-array-into-int", "extend", "float64 array into int64",
        lst, lambda x: x.extend(np.zeros(3)), TypeError, "with an array of float64 under 'same_kind'"),
    Row("extend-nan-array-into-int", "extend", "float array holding NaN into int64",
        lst, lambda x: x.extend(np.array([1.0, np.nan])), TypeError, "with an array of float64"),
    Row("extend-complex-into-float", "extend", "complex128 array into float64",
        lambda: lst("f8", (1.0,)), lambda x: x.extend(np.zeros(3, "c16")), TypeError,
        "with an array of complex128"),
    Row("extend-str-array-into-int", "extend", "'<U1' array into int64",
        lst, lambda x: x.extend(np.array(["1", "2"])), TypeError, "with an array of <U1"),
    Row("extend-array.array-d-into-int", "extend", "array.array('d') into int64",
        lst, lambda x: x.extend(__import__("array").array("d", [1.0])), TypeError,
        "with an array of float64"),
    Row("extend-nan-in-list", "extend", "NaN in the middle of a list, into int64",
        lst, lambda x: x.extend([4, float("nan"), 5]), TypeError, "cannot store float nan"),
    Row("extend-overflow-in-list", "extend", "2**64 at the end of a list",
        lst, lambda x: x.extend([4, 5, 2**64]), OverflowError, "out of bounds for int64"),
    Row("extend-str", "extend", "a str (iterated: its characters)",
        lst, lambda x: x.extend("abc"), TypeError, "cannot store str 'a'"),
    Row("extend-object-array", "extend", "object array with a str",
        lst, lambda x: x.extend(np.array([4, "x"], dtype=object)), TypeError, "cannot store str 'x'"),
    Row("extend-generator-raises", "extend", "a generator that raises after one item",
        lst, lambda x: x.extend(4 // v for v in (1, 0)), ZeroDivisionError, "by zero"),
    Row("bytes-raw", "bytes(x)", "a list of int64: accepted, the raw bytes (as `array.array`)",
        lst, bytes, None, "",
        lambda x, got: _equal(got, np.array([1, 2, 3], "q").tobytes())),
    Row("extend-non-contiguous", "extend", "non-contiguous int64 array: accepted (copied)",
        lst, lambda x: x.extend(np.arange(10)[::4]), None, "",
        _contents([1, 2, 3, 0, 4, 8])),
    Row("extend-non-native", "extend", "big-endian int64 array into int64: accepted (converted)",
        lst, lambda x: x.extend(np.array([7, 8], dtype=">i8")), None, "",
        _contents([1, 2, 3, 7, 8])),

    # -- reserve ------------------------------------------------------------
    Row("reserve-negative", "reserve", "-1",
        lst, lambda x: x.reserve(-1), ValueError, "non-negative count, got -1"),
    Row("reserve-float", "reserve", "1.5",
        lst, lambda x: x.reserve(1.5), TypeError, "'float' object cannot be interpreted as an integer"),
    Row("reserve-none", "reserve", "None",
        lst, lambda x: x.reserve(None), TypeError, "cannot be interpreted as an integer"),
    Row("reserve-huge", "reserve", "2**62 (beyond addressable)",
        lst, lambda x: x.reserve(2**62), MemoryError, "addressable elements"),
    Row("reserve-max-ssize", "reserve", "sys.maxsize",
        lst, lambda x: x.reserve(sys.maxsize), MemoryError, "addressable elements"),
    Row("reserve-beyond-ssize", "reserve", "2**64",
        lst, lambda x: x.reserve(2**64), OverflowError, "cannot fit 'int' into an index-sized integer"),
    Row("reserve-heap-over-limit", "reserve", "past the allocator's max_bytes",
        lambda: lst(allocator=Heap(max_bytes=1 << 20)), lambda x: x.reserve(1 << 20), MemoryError,
        "the limit would be exceeded"),
    Row("reserve-heap-injected-failure", "reserve", "the OS refuses (injected)",
        lambda: lst(allocator=Heap()), lambda x: (x.allocator.inject_failure(0), x.reserve(1 << 20)),
        MemoryError, "the OS refused (injected failure"),

    # -- other methods --------------------------------------------------------
    Row("multiply-float", "x * n", "a float n",
        lst, lambda x: x * 2.0, TypeError, "can't multiply sequence by non-int of type 'float'"),
    Row("to-numpy-str-start", "to_numpy", "a str start",
        lst, lambda x: x.to_numpy("a"), TypeError, "slice indices must be integers"),
    Row("array-copy-false", "np.asarray(x, copy=False)", "copy=False (not contiguous)",
        lst, lambda x: np.asarray(x, copy=False), ValueError, "cannot be exported to numpy without a copy"),
    Row("segments-argument", "segments", "an argument",
        lst, lambda x: x.segments(1), TypeError, "takes exactly 0 positional arguments"),
    Row("copy-argument", "copy", "an argument",
        lst, lambda x: x.copy(1), TypeError, "takes exactly 0 positional arguments"),
    Row("copy-over-limit", "copy", "the copy does not fit the allocator's max_bytes",
        lambda: lst(values=range(40000), allocator=Heap(max_bytes=800_000, region_size=1 << 16)),
        lambda x: x.copy(), MemoryError, "the limit would be exceeded"),
    Row("unpickle-bad-payload", "pickle.loads", "a payload shorter than the recorded length",
        lst, lambda x: pickle.loads(_forged_pickle(x, b"12345")), ValueError,
        "has 24 bytes, but its payload holds 5"),
    Row("unpickle-old-bad-payload", "pickle.loads",
        "a pickle without a length, its payload not a multiple of the itemsize",
        lst, lambda x: pickle.loads(_forged_pickle(x, b"12345", length=False)), ValueError,
        "is not a multiple of the itemsize 8"),
    Row("unpickle-oob-reordered", "pickle.loads(buffers=)", "out-of-band buffers in reverse order",
        lambda: lst(values=range(100), first_segment=4),
        lambda x: _loads_oob(x, lambda b: b[::-1]), ValueError, "segment buffer 0 holds"),
    Row("unpickle-oob-truncated", "pickle.loads(buffers=)", "the last buffer one element short",
        lambda: lst(values=range(100), first_segment=4),
        lambda x: _loads_oob(x, lambda b: b[:-1] + [b[-1][:-8]]), ValueError,
        "segment buffer 4 holds 312 bytes, expected 320"),
    Row("unpickle-oob-missing", "pickle.loads(buffers=)", "a buffer missing, an empty one in its place",
        lambda: lst(values=range(100), first_segment=4),
        lambda x: _loads_oob(x, lambda b: b[1:] + [b""]), ValueError, "segment buffer 0 holds"),
    Row("unpickle-lying-first-segment", "pickle.loads", "a first_segment that is not the pickled list's",
        lambda: lst(values=range(100), first_segment=4),
        _lying_first_segment, ValueError, "segment buffer 0 holds 32 bytes, expected 64"),
    Row("hash", "hash", "a list (mutable)",
        lst, lambda x: hash(x), TypeError, "unhashable type"),
    Row("order-compare-int", "x < y", "a list and an int",
        lst, lambda x: x < 5, TypeError, "'<' not supported"),

    # -- allocators' constructors --------------------------------------------
    Row("heap-max-bytes-negative", "Heap(max_bytes=)", "-1",
        lambda: None, lambda _: Heap(max_bytes=-1), ValueError, "max_bytes must be non-negative, got -1"),
    Row("heap-max-bytes-float", "Heap(max_bytes=)", "1.5",
        lambda: None, lambda _: Heap(max_bytes=1.5), TypeError, "cannot be interpreted as an integer"),
    Row("heap-max-bytes-str", "Heap(max_bytes=)", "'1'",
        lambda: None, lambda _: Heap(max_bytes="1"), TypeError, "cannot be interpreted as an integer"),
    Row("heap-region-size-negative", "Heap(region_size=)", "-1",
        lambda: None, lambda _: Heap(region_size=-1), ValueError, "region_size must be non-negative"),
    Row("heap-region-size-huge", "Heap(region_size=)", "2**70",
        lambda: None, lambda _: Heap(region_size=2**70), OverflowError, "too large to convert"),
    Row("heap-cache-bytes-negative", "Heap(cache_bytes=)", "-1",
        lambda: None, lambda _: Heap(cache_bytes=-1), ValueError, "cache_bytes must be non-negative"),
    Row("heap-unknown-keyword", "Heap()", "unknown keyword",
        lambda: None, lambda _: Heap(foo=1), TypeError,
        "Heap() got an unexpected keyword argument 'foo'"),
    Row("bump-unknown-keyword", "BumpAllocator()", "misspelt keyword",
        lambda: None, lambda _: BumpAllocator(first_blok=1), TypeError,
        "BumpAllocator() got an unexpected keyword argument 'first_blok'"),
    Row("system-unknown-keyword", "SystemAllocator()", "misspelt keyword",
        lambda: None, lambda _: SystemAllocator(maxbytes=1), TypeError,
        "SystemAllocator() got an unexpected keyword argument 'maxbytes'"),
    Row("buffer-unknown-keyword", "BufferAllocator()", "misspelt keyword",
        lambda: bytearray(4096), lambda b: BufferAllocator(b, debgu=True), TypeError,
        "BufferAllocator() got an unexpected keyword argument 'debgu'"),
    Row("system-positional", "SystemAllocator()", "two positional arguments",
        lambda: None, lambda _: SystemAllocator(1, 2), TypeError,
        "SystemAllocator() takes from 0 to 1 positional arguments but 2 were given"),
    Row("bump-first-block-negative", "BumpAllocator(first_block=)", "-1",
        lambda: None, lambda _: BumpAllocator(first_block=-1), ValueError, "first_block must be from 0"),
    Row("bump-first-block-huge", "BumpAllocator(first_block=)", "2**70",
        lambda: None, lambda _: BumpAllocator(first_block=2**70), ValueError, "first_block must be from 0"),
    Row("bump-first-block-float", "BumpAllocator(first_block=)", "1.0",
        lambda: None, lambda _: BumpAllocator(first_block=1.0), TypeError,
        "cannot be interpreted as an integer"),
    Row("bump-max-bytes-negative", "BumpAllocator(max_bytes=)", "-5",
        lambda: None, lambda _: BumpAllocator(max_bytes=-5), ValueError, "max_bytes must be non-negative"),
    Row("system-max-bytes-negative", "SystemAllocator(max_bytes=)", "-1",
        lambda: None, lambda _: SystemAllocator(max_bytes=-1), ValueError, "max_bytes must be non-negative"),
    Row("system-max-bytes-float", "SystemAllocator(max_bytes=)", "2.0",
        lambda: None, lambda _: SystemAllocator(max_bytes=2.0), TypeError,
        "cannot be interpreted as an integer"),
    Row("allocator-abstract", "Allocator()", "the abstract base class",
        lambda: None, lambda _: segpy.Allocator(), TypeError, "abstract base class"),
    Row("buffer-bytes-readonly", "BufferAllocator(buffer)", "bytes (read-only)",
        lambda: bytes(4096), lambda b: BufferAllocator(b), ValueError, "the bytes buffer is read-only"),
    Row("buffer-memoryview-readonly", "BufferAllocator(buffer)", "read-only memoryview",
        lambda: memoryview(bytearray(4096)).toreadonly(), lambda b: BufferAllocator(b), ValueError,
        "the memoryview buffer is read-only"),
    Row("buffer-ndarray-readonly", "BufferAllocator(buffer)", "ndarray with write=False",
        lambda: readonly(np.zeros(4096, "u1")), lambda b: BufferAllocator(b), ValueError,
        "the ndarray buffer is read-only"),
    Row("buffer-mmap-readonly", "BufferAllocator(buffer)", "mmap with PROT_READ",
        lambda: mmap.mmap(-1, 4096, prot=mmap.PROT_READ), lambda b: BufferAllocator(b), ValueError,
        "the mmap buffer is read-only"),
    Row("buffer-non-contiguous", "BufferAllocator(buffer)", "strided ndarray `a[::2]`",
        lambda: np.zeros(8192, "u1")[::2], lambda b: BufferAllocator(b), ValueError,
        "the ndarray buffer is not C-contiguous"),
    Row("buffer-fortran", "BufferAllocator(buffer)", "Fortran-ordered 2-D ndarray",
        lambda: np.zeros((64, 64), "u1", order="F"), lambda b: BufferAllocator(b), ValueError,
        "not C-contiguous"),
    Row("buffer-too-small", "BufferAllocator(buffer)", "16 bytes",
        lambda: bytearray(16), lambda b: BufferAllocator(b), ValueError, "too small for a BufferAllocator"),
    Row("buffer-empty", "BufferAllocator(buffer)", "empty bytearray",
        lambda: bytearray(), lambda b: BufferAllocator(b), ValueError, "a buffer of 0 bytes is too small"),
    Row("buffer-not-a-buffer", "BufferAllocator(buffer)", "a list",
        lambda: [0] * 100, lambda b: BufferAllocator(b), TypeError, "needs an object with a writable buffer"),
    Row("buffer-str", "BufferAllocator(buffer)", "a str",
        lambda: "x" * 4096, lambda b: BufferAllocator(b), TypeError, "got str"),
    Row("buffer-max-bytes-negative", "BufferAllocator(max_bytes=)", "-1",
        lambda: bytearray(4096), lambda b: BufferAllocator(b, max_bytes=-1), ValueError,
        "max_bytes must be non-negative"),
    Row("buffer-non-native", "BufferAllocator(buffer)", "big-endian int64 ndarray: accepted (raw bytes)",
        lambda: np.zeros(1024, ">i8"), lambda b: BufferAllocator(b), None, "",
        lambda b, a: _serves_bytes(a, 8192)),

    # -- allocate / release / grow / inject_failure ---------------------------
    Row("allocate-zero", "a.allocate(nbytes)", "0",
        Heap, lambda a: a.allocate(0), ValueError, "nbytes must be at least 1, got 0"),
    Row("allocate-negative", "a.allocate(nbytes)", "-1",
        Heap, lambda a: a.allocate(-1), ValueError, "nbytes must be at least 1, got -1"),
    Row("allocate-float", "a.allocate(nbytes)", "1.5",
        Heap, lambda a: a.allocate(1.5), TypeError, "cannot be interpreted as an integer"),
    Row("allocate-beyond-ssize", "a.allocate(nbytes)", "2**64",
        Heap, lambda a: a.allocate(2**64), OverflowError, "too large to convert to C ssize_t"),
    Row("allocate-huge-heap", "Heap.allocate(nbytes)", "2**62 (beyond the request limit)",
        Heap, lambda a: a.allocate(2**62), ValueError, "bad request"),
    Row("allocate-huge-bump", "BumpAllocator.allocate(nbytes)", "2**62",
        BumpAllocator, lambda a: a.allocate(2**62), ValueError, "invalid size or alignment"),
    Row("allocate-huge-system", "SystemAllocator.allocate(nbytes)", "2**62",
        SystemAllocator, lambda a: a.allocate(2**62), MemoryError, "the OS refused"),
    Row("allocate-huge-buffer", "BufferAllocator.allocate(nbytes)", "2**62",
        lambda: BufferAllocator(bytearray(4096)), lambda a: a.allocate(2**62), MemoryError,
        "the limit would be exceeded"),
    Row("allocate-over-limit", "a.allocate(nbytes)", "past max_bytes",
        lambda: Heap(max_bytes=1 << 20), lambda a: a.allocate(2 << 20), MemoryError,
        "the limit would be exceeded"),
    Row("allocate-injected-failure", "a.allocate(nbytes)", "the OS refuses (injected)",
        lambda: BumpAllocator(), lambda a: (a.inject_failure(0), a.allocate(64)), MemoryError,
        "the OS refused (injected failure"),
    Row("allocate-align-3", "a.allocate(nbytes, align)", "3 (not a power of two)",
        Heap, lambda a: a.allocate(8, 3), ValueError, "align must be a power of two"),
    Row("allocate-align-zero", "a.allocate(nbytes, align)", "0",
        Heap, lambda a: a.allocate(8, 0), ValueError, "align must be a power of two"),
    Row("allocate-align-negative", "a.allocate(nbytes, align)", "-8",
        Heap, lambda a: a.allocate(8, -8), ValueError, "align must be a power of two"),
    Row("allocate-align-above-page", "a.allocate(nbytes, align)", "8192 (above the page size)",
        Heap, lambda a: a.allocate(8, 8192), ValueError, "to the page size"),
    Row("release-none", "a.release(block)", "None",
        Heap, lambda a: a.release(None), TypeError, "expected segpy.alloc.Block, got NoneType"),
    Row("release-int", "a.release(block)", "an int",
        Heap, lambda a: a.release(5), TypeError, "expected segpy.alloc.Block, got int"),
    Row("release-foreign-block", "a.release(block)", "a block of another allocator",
        lambda: (Heap(), Heap().allocate(8)), lambda s: s[0].release(s[1]), ValueError,
        "the block belongs to another allocator"),
    Row("release-with-view", "block.release()", "while a memoryview of it exists",
        lambda: block_and_view(8), lambda s: s[0].release(),
        BufferError, "cannot release a block while 1 view(s) of it exist"),
    Row("heap-grow-shrink", "Heap.grow(block, nbytes)", "smaller than the block",
        lambda: Heap().allocate(64), lambda b: b.allocator.grow(b, 8), ValueError,
        "cannot grow a block of 64 bytes to 8"),
    Row("heap-grow-negative", "Heap.grow(block, nbytes)", "-1",
        lambda: Heap().allocate(64), lambda b: b.allocator.grow(b, -1), ValueError,
        "cannot grow a block of 64 bytes to -1"),
    Row("heap-grow-huge", "Heap.grow(block, nbytes)", "2**62 (beyond the request limit)",
        lambda: Heap().allocate(64), lambda b: b.allocator.grow(b, 2**62), ValueError,
        "cannot grow a block of 64 bytes to"),
    Row("heap-grow-with-view", "Heap.grow(block, nbytes)", "while a view exists",
        lambda: block_and_view(64), lambda s: s[0].allocator.grow(s[0], 128),
        BufferError, "cannot grow a block while 1 view(s) of it exist"),
    Row("heap-grow-foreign", "Heap.grow(block, nbytes)", "a block of another allocator",
        lambda: (Heap(), Heap().allocate(8)), lambda s: s[0].grow(s[1], 16), ValueError,
        "the block belongs to another allocator"),
    Row("bump-grow-shrink", "BumpAllocator.grow(block, nbytes)", "smaller than the block",
        lambda: BumpAllocator().allocate(64), lambda b: b.allocator.grow(b, 8), ValueError,
        "grow cannot shrink a block"),
    Row("bump-grow-foreign", "BumpAllocator.grow(block, nbytes)", "a Heap block",
        lambda: (BumpAllocator(), Heap().allocate(8)), lambda s: s[0].grow(s[1], 16), ValueError,
        "the block belongs to another allocator"),
    Row("buffer-grow-shrink", "BufferAllocator.grow(block, nbytes)", "smaller than the block",
        lambda: BufferAllocator(bytearray(4096)).allocate(64), lambda b: b.allocator.grow(b, 8),
        ValueError, "grow cannot shrink a block"),
    Row("inject-failure-negative", "a.inject_failure(after)", "-1",
        Heap, lambda a: a.inject_failure(-1), ValueError, "after must be non-negative, got -1"),
    Row("inject-failure-float", "a.inject_failure(after)", "1.5",
        Heap, lambda a: a.inject_failure(1.5), TypeError, "cannot be interpreted as an integer"),
    Row("blocks-system", "SystemAllocator.blocks()", "(no headers kept)",
        SystemAllocator, lambda a: a.blocks(), TypeError, "does not keep per-block headers"),
    Row("regions-system", "SystemAllocator.regions()", "(no regions tracked)",
        SystemAllocator, lambda a: a.regions(), TypeError, "does not track regions"),
    Row("blocks-bump-nondebug", "BumpAllocator.blocks()", "without debug=True",
        BumpAllocator, lambda a: a.blocks(), TypeError, "does not keep per-block headers"),
    Row("release-raw-system", "SystemAllocator._release_raw", "(test hook not offered)",
        SystemAllocator, lambda a: a._release_raw(1, 2), TypeError, "no raw test hooks"),
    Row("release-raw-foreign", "Heap._release_raw", "an address in no region",
        Heap, lambda a: a._release_raw(12345, 8), AllocatorError, "release of a foreign pointer"),
    Row("block-pickle", "pickle.dumps(block)", "a Block",
        lambda: Heap().allocate(8), lambda b: pickle.dumps(b), TypeError, "cannot pickle"),
    Row("allocator-pickle", "pickle.dumps(allocator)", "a Heap",
        Heap, lambda a: pickle.dumps(a), TypeError, "cannot pickle"),

    # -- released blocks ------------------------------------------------------
    Row("released-block-release", "block.release()", "a released block",
        released_block, lambda b: b.release(), ValueError, "the block was released"),
    Row("released-block-release-via-allocator", "a.release(block)", "a released block",
        released_block, lambda b: Heap().release(b), ValueError, "the block was already released"),
    Row("released-block-buffer", "memoryview(block)", "a released block",
        released_block, lambda b: memoryview(b), ValueError, "the block was released"),
    Row("released-block-frombuffer", "np.frombuffer(block)", "a released block",
        released_block, lambda b: np.frombuffer(b, "u1"), ValueError, "the block was released"),
    Row("released-block-address", "block.address", "a released block",
        released_block, lambda b: b.address, ValueError, "the block was released"),
    Row("released-block-len", "len(block)", "a released block",
        released_block, lambda b: len(b), ValueError, "the block was released"),
    Row("released-block-heap-grow", "Heap.grow(block, nbytes)", "a released block",
        released_block, lambda b: Heap().grow(b, 32), ValueError, "the block was released"),
    Row("released-block-bump-grow", "BumpAllocator.grow(block, nbytes)", "a released block",
        released_block, lambda b: BumpAllocator().grow(b, 32), ValueError, "the block was released"),

    # -- BumpAllocator reset / scope ------------------------------------------
    Row("bump-reset-live-list", "BumpAllocator.reset()", "while a list lives in the arena",
        lambda: lst(allocator=BumpAllocator()), lambda x: x.allocator.reset(), AllocatorError,
        "reset with 1 live allocation(s)"),
    Row("bump-reset-open-scope", "BumpAllocator.reset()", "while a scope is open",
        arena_with_open_scope, lambda s: s[0].reset(),
        AllocatorError, "scope"),
    Row("bump-scope-exit-live-list", "leaving BumpAllocator.scope()", "a list made inside is still alive",
        scope_with_live_list,
        lambda s: s[0].__exit__(None, None, None), AllocatorError, "nothing was rewound"),
    Row("bump-scope-reenter", "BumpAllocator.scope().__enter__", "the same scope object twice",
        entered_scope,
        lambda s: s[1].__enter__(), RuntimeError, "can be entered only once"),
    Row("bump-scope-exit-unopened", "BumpAllocator.scope().__exit__", "a scope object never entered",
        BumpAllocator, lambda a: a.scope().__exit__(None, None, None), RuntimeError,
        "never entered"),
    Row("bump-scope-exit-twice", "BumpAllocator.scope().__exit__", "a scope object exited twice",
        BumpAllocator, exit_twice, RuntimeError, "already exited"),
    Row("bump-scope-exit-out-of-order", "BumpAllocator.scope().__exit__",
        "an outer scope while an inner one is open",
        nested_open_scopes, lambda s: s[1].__exit__(None, None, None), RuntimeError,
        "out of order"),
    Row("bump-scope-direct", "type(arena.scope())()", "the internal scope type, made directly",
        BumpAllocator, lambda a: type(a.scope())(), TypeError, "cannot create"),

    # -- construction contracts (docs/bad-input.md, class 3) --------------------
    Row("iterator-direct", "type(iter(lst))()", "the internal iterator type, made directly",
        lst, lambda x: type(iter(x))(), TypeError, "made by iter()"),
    Row("iterator-new", "type(iter(lst)).__new__", "`__new__` alone",
        lst, lambda x: type(iter(x)).__new__(type(iter(x))), TypeError, "made by iter()"),
    Row("reverse-iterator-direct", "type(reversed(lst))()", "the internal type, made directly",
        lst, lambda x: type(reversed(x))(), TypeError, "made by reversed()"),
    Row("segment-export-direct", "type(view.base)()", "the base of a segment view, made directly",
        live_views, lambda s: type(s[1][0].base)(), TypeError, "cannot create"),
    Row("allocator-python-subclass", "class A(segpy.Allocator)", "a Python subclass of the bare base",
        lambda: None, lambda _: type("A", (segpy.Allocator,), {})(), TypeError,
        "derives from segpy.Allocator directly"),
    Row("buffer-shared", "BufferAllocator(buffer)", "a buffer another live BufferAllocator manages",
        lambda: BufferAllocator(bytearray(4096)), lambda a: BufferAllocator(a.buffer), ValueError,
        "overlaps"),
    Row("buffer-overlapping-slice", "BufferAllocator(buffer)",
        "a slice overlapping another live BufferAllocator's",
        lambda: BufferAllocator(memoryview(bytearray(8192))[:4096]),
        lambda a: BufferAllocator(memoryview(a.buffer.obj)[2048:]), ValueError, "overlaps"),

    # -- segpy.allocator() ------------------------------------------------------
    Row("allocator-context-int", "segpy.allocator(a)", "an int",
        lambda: None, lambda _: segpy.allocator(5), TypeError, "needs an Allocator, got int"),
    Row("allocator-context-none", "segpy.allocator(a)", "None",
        lambda: None, lambda _: segpy.allocator(None), TypeError, "needs an Allocator, got NoneType"),
    Row("allocator-context-class", "segpy.allocator(a)", "the class `segpy.Heap`",
        lambda: None, lambda _: segpy.allocator(Heap), TypeError, "needs an Allocator, got type"),
]

# -- Every growing entry point, through a limit and an injected OS failure ----
# (tests/robust/test_resources.py covers them in more depth; one row each here.)
for _name, _grow in [
    ("append", lambda x: x.append(4)),
    ("extend-list", lambda x: x.extend([4, 5, 6])),
    ("extend-array", lambda x: x.extend(np.arange(10, dtype="q"))),
    ("reserve", lambda x: x.reserve(100)),
]:
    ROWS.append(Row(f"{_name}-injected-failure", _name.split("-")[0],
                    "the allocator's next OS call fails (injected)",
                    lambda: lst(values=range(8), first_segment=8, allocator=SystemAllocator()),
                    lambda x, g=_grow: (x.allocator.inject_failure(0), g(x)), MemoryError,
                    "the OS refused (injected failure"))
    ROWS.append(Row(f"{_name}-over-limit", _name.split("-")[0],
                    "the list is full up to max_bytes",
                    lambda: lst(values=range(8), first_segment=8, allocator=SystemAllocator(max_bytes=64)),
                    _grow, MemoryError, "the limit would be exceeded"))
del _name, _grow


def _ids():
    ids = [r.id for r in ROWS]
    dup = {i for i in ids if ids.count(i) > 1}
    assert not dup, f"duplicate row ids: {dup}"
    return ids


@pytest.mark.parametrize("row", ROWS, ids=_ids())
def test_bad_input(row: Row):
    subject = row.make()
    before = snapshot(subject)
    if row.exc is None:
        result = row.call(subject)
        row.expect(subject, result)
        return
    with pytest.raises(BaseException) as info:
        row.call(subject)
    assert type(info.value) is row.exc, f"{row.id}: got {type(info.value).__name__}: {info.value}"
    assert row.match in str(info.value), f"{row.id}: message {str(info.value)!r}"
    assert snapshot(subject) == before, f"{row.id}: the subject changed"
    if isinstance(subject, (segpy.Allocator, SegmentedList)):
        (subject if isinstance(subject, segpy.Allocator) else subject.allocator).check()


def test_snapshot_sees_changes():
    """The unchanged-afterwards check is not vacuous."""
    x = lst()
    before = snapshot(x)
    x[0] = 9
    assert snapshot(x) != before
    y = lst()
    before = snapshot(y)
    y.reserve(1000)
    assert snapshot(y) != before


# ---------------------------------------------------------------------------
# docs/bad-input.md holds the same table
# ---------------------------------------------------------------------------

BEGIN = "<!-- bad-input-table: generated by python -P tests/robust/test_bad_input.py -->"
END = "<!-- end of bad-input-table -->"


def _cell(s: str) -> str:
    return s.replace("|", "\\|")


def markdown_table() -> str:
    lines = ["| id | entry point | bad input | raises | message contains |",
             "|---|---|---|---|---|"]
    for r in ROWS:
        raises = r.exc.__name__ if r.exc else "accepted"
        msg = f"`{_cell(r.match)}`" if r.match else ""
        lines.append(f"| `{r.id}` | `{_cell(r.entry)}` | {_cell(r.bad)} | {raises} | {msg} |")
    return "\n".join(lines)


def test_doc_lists_every_row():
    text = DOC.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, "docs/bad-input.md lost its table markers"
    table = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert table == markdown_table(), (
        "docs/bad-input.md is out of date: regenerate the table with "
        "'python -P tests/robust/test_bad_input.py' and paste it between the markers")


if __name__ == "__main__":
    print(markdown_table())
