"""Fuzz SegmentedList against a model (a Python list of each element's bytes).

The bytes choose a dtype, an allocator (small ``max_bytes`` so MemoryError
paths are reached), a first segment size, then up to 48 operations: append
(valid numpy scalar, valid Python scalar, bad value), extend (list, ndarray of
the dtype, ndarray of another dtype, generator), getitem and setitem at any
index, clear, reserve, copy, to_numpy, segments (views are kept and must keep
showing the list's elements).  Only the documented exceptions are caught, and
after each the list must equal the model (unchanged).

Run (docs/trust.md)::

    python -P tests/fuzz/fuzz_seglist.py -runs=1000000 -max_len=512 -len_control=0
    python -P tests/fuzz/fuzz_seglist.py --fallback -runs=100000   # without atheris
"""

from __future__ import annotations

import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np

import segpy

from fuzz_reader import Reader, main

# numpy warns when a cast overflows (f8 -> f2): expected here, and not an error.
warnings.simplefilter("ignore", RuntimeWarning)

DTYPES = [np.dtype(d) for d in ("i1", "u1", "<i2", "<u4", "<i8", "<u8", "<f2", "<f4", "<f8",
                                 "<c8", "?", ">i4", ">f8", "S3", "<M8[s]")] + [
    np.dtype([("a", "<i4"), ("b", "u1")])]
# What a failed call may raise (README, docs/bad-input.md).
DOCUMENTED = (TypeError, ValueError, OverflowError, MemoryError)
BAD_VALUES = [object(), None, "x", [1, 2], 1.5, 2**70, -1, 1j, b"abcdefgh"]
OTHER_ARRAYS = ["<i8", "<f8", "<i2", "u1", "<c16", "?", "S2"]


def _allocator(r: Reader):
    k = r.int(0, 5)
    if k == 0:
        return segpy.Heap(max_bytes=r.choice([1 << 16, 1 << 18, 1 << 22]), region_size=1 << 16)
    if k == 1:
        return segpy.BumpAllocator(max_bytes=r.choice([1 << 14, 1 << 18]))
    if k == 2:
        return segpy.BufferAllocator(bytearray(r.choice([4096, 1 << 16])))
    if k == 3:
        return segpy.SystemAllocator(max_bytes=r.choice([1024, 1 << 16]))
    if k == 4:
        return segpy.Heap(debug=True, region_size=1 << 16)
    return None           # the process default


def _scalar(r: Reader, dt):
    """A valid value of dtype `dt`: a numpy scalar from raw bytes, and its bytes."""
    raw = r.bytes(dt.itemsize)
    if dt.kind == "b":
        raw = bytes(b & 1 for b in raw)
    if dt.kind == "M":
        raw = int.from_bytes(raw, "little", signed=True).__mod__(1 << 40).to_bytes(8, "little")
    arr = np.frombuffer(raw, dtype=dt)
    v = arr[0]
    if dt.kind in "iub" and r.bool():
        v = v.item()          # the Python-scalar fast paths
    return v, arr.tobytes()


def _same(got: bytes, want: bytes, dt) -> bool:
    if got == want:
        return True
    if dt.kind in "fc":       # NaN payloads may differ after a round trip
        a, b = np.frombuffer(got, dt), np.frombuffer(want, dt)
        return bool(np.array_equal(a, b, equal_nan=True))
    return False


def _check(x, model, dt, views):
    assert len(x) == len(model), (len(x), len(model))
    assert x.capacity >= len(x)
    arr = x.to_numpy()
    assert arr.dtype == dt and arr.tobytes() == b"".join(model)
    for start, v in views:
        for j in (0, len(v) - 1):
            if 0 <= j and start + j < len(model):
                assert v[j:j + 1].tobytes() == model[start + j], "a view lost its element"


def _expect_unchanged(x, model, dt, views, fn, *args):
    try:
        fn(*args)
    except DOCUMENTED:
        _check(x, model, dt, views)
        return False
    return True


def TestOneInput(data: bytes) -> None:
    trace: list = []
    try:
        _run(data, trace)
    except AssertionError as e:
        raise AssertionError(f"{e} after operations {trace}") from e


def _run(data: bytes, trace: list) -> None:
    r = Reader(data)
    dt = r.choice(DTYPES)
    alloc = _allocator(r)
    s0 = r.choice([1, 2, 8, 64, None])
    trace.append((str(dt), repr(alloc), s0))
    try:
        x = segpy.SegmentedList(dt, allocator=alloc, first_segment=s0)
    except MemoryError:
        return
    model: list[bytes] = []
    views: list = []
    for _ in range(48):
        if r.remaining <= 0:
            break
        op = r.int(0, 13)
        trace.append(op)
        if op <= 2:
            v, b = _scalar(r, dt)
            if _expect_unchanged(x, model, dt, views, x.append, v):
                model.append(b)
        elif op == 3:
            bad = r.choice(BAD_VALUES)
            before = len(model)
            if _expect_unchanged(x, model, dt, views, x.append, bad):
                # Accepted: it converts as numpy would (e.g. -1 into int8).
                model.append(x.to_numpy()[before:].tobytes())
        elif op == 4:
            vals = [_scalar(r, dt) for _ in range(r.int(0, 40))]
            if _expect_unchanged(x, model, dt, views, x.extend, [v for v, _ in vals]):
                model.extend(b for _, b in vals)
        elif op == 5:
            n = r.int(0, 300)
            raw = r.bytes(n * dt.itemsize)
            if dt.kind == "b":
                raw = bytes(c & 1 for c in raw)
            if dt.kind == "M":
                raw = bytes(n * dt.itemsize)
            arr = np.frombuffer(raw, dtype=dt)
            if r.bool() and n > 1:
                arr = arr[::2]                            # non-contiguous
            if _expect_unchanged(x, model, dt, views, x.extend, arr):
                model.extend(arr[i:i + 1].tobytes() for i in range(len(arr)))
        elif op == 6:
            other = np.dtype(r.choice(OTHER_ARRAYS))
            raw = r.bytes(8 * other.itemsize)
            if other.kind == "b":       # canonical bools only (numpy copies others as they are)
                raw = bytes(c & 1 for c in raw)
            arr = np.frombuffer(raw, dtype=other)
            before = len(model)
            if _expect_unchanged(x, model, dt, views, x.extend, arr):
                got = x.to_numpy()[before:]
                assert len(got) == len(arr)
                model.extend(got[i:i + 1].tobytes() for i in range(len(got)))
        elif op == 7:
            i = r.int(-2 * len(model) - 2, 2 * len(model) + 2)
            if -len(model) <= i < len(model):
                got = x[i]
                assert _same(np.array([got], dtype=dt).tobytes(), model[i], dt), (i, got)
            else:
                try:
                    x[i]
                    raise AssertionError(f"index {i} of {len(model)} did not raise")
                except IndexError:
                    pass
        elif op == 8 and model:
            i = r.int(-len(model), len(model) - 1)
            v, b = _scalar(r, dt)
            x[i] = v
            model[i] = b
        elif op == 9:
            x.clear()
            model.clear()
        elif op == 10:
            n = r.int(0, 1 << r.int(0, 16))
            _expect_unchanged(x, model, dt, views, x.reserve, n)
        elif op == 11:
            try:
                y = x.copy()
            except MemoryError:
                pass
            else:
                _check(y, model, dt, [])
                if model:
                    y[0] = _scalar(r, dt)[0]                  # the copy is separate
                del y
        elif op == 12:
            segs = x.segments()
            start = 0
            for seg in segs:
                if r.bool() and len(views) < 4:
                    views.append((start, seg))
                start += len(seg)
            assert start == len(model)
            segs = seg = None
        else:
            views.clear()
        _check(x, model, dt, views)
    del views       # the views, copies and exports are gone: all memory comes back
    a = x.allocator
    del x
    if alloc is not None:
        assert a.stats["bytes_in_use"] == 0, a.stats
        a.check()


if __name__ == "__main__":
    main(TestOneInput)
