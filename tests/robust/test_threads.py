"""Threads sharing one list.

segpy's thread model (docs/trust.md): every public method runs with the GIL
held from start to end, except where it calls back into Python code
(converting a value, iterating an iterable, ``__array__``, ``__index__``):
there the GIL can pass to another thread, exactly as in a pure-Python
method.  No segpy code releases the GIL (no ``with nogil`` block outside the
private ``_bench`` module), so no bulk copy can race with a mutation.

These tests run several threads appending, extending, reading and exporting
views (``segments()``, ``to_numpy()``) on one list at once, with a tiny
switch interval so that the GIL changes hands often, and check that nothing
crashes, that every read sees a value some thread wrote, and that the final
contents are exactly the multiset of values written.
"""

from __future__ import annotations

import collections
import sys
import threading

import numpy as np
import pytest

import segpy
from segpy import BumpAllocator, Heap, SegmentedList, SystemAllocator

from seg_support import ALLOCATORS, REPO

N_THREADS = 4
PER_THREAD = 4000           # values per thread, written in batches of each kind
STRIDE = 10**6              # value = thread * STRIDE + k: the writer is value // STRIDE


@pytest.fixture
def busy_switching():
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def _values(t):
    return np.arange(PER_THREAD, dtype=np.int64) + t * STRIDE


def _writer(x, t, errors, barrier):
    """Append this thread's values through every growing path, reading and
    exporting in between."""
    try:
        vals = _values(t)
        barrier.wait()
        q = len(vals) // 4
        for v in vals[:q].tolist():                         # append, one by one
            x.append(v)
            _read_some(x)
        x.extend(vals[q:2 * q].tolist())                    # extend from a list
        x.extend(int(v) for v in vals[2 * q:3 * q])         # from a generator (runs Python code)
        for chunk in np.array_split(vals[3 * q:], 10):      # from arrays (memcpy path)
            x.extend(chunk)
            _export_some(x)
    except BaseException as e:  # noqa: BLE001 - handed to the main thread, which fails the test
        errors.append(e)


def _valid(v):
    return 0 <= v % STRIDE < PER_THREAD and 0 <= v // STRIDE < N_THREADS


def _read_some(x):
    n = len(x)
    if n:
        # The list only grows while writers run: an index below a length
        # seen earlier stays valid.
        for i in (0, n // 2, n - 1, -1):
            assert _valid(x[i])


def _export_some(x):
    views = x.segments()
    assert sum(len(v) for v in views) <= len(x)
    for v in views:
        if len(v):
            assert _valid(int(v[0])) and _valid(int(v[-1]))
    arr = x.to_numpy()
    assert arr.dtype == np.int64
    assert all(_valid(int(v)) for v in arr[:: max(1, len(arr) // 16)])


def _reader(x, stop, errors, counts):
    try:
        while not stop.is_set():
            _read_some(x)
            _export_some(x)
            seen = 0
            for v in x:                  # iterate while others append
                assert _valid(v)
                seen += 1
                if seen > 2000:
                    break
            counts.append(seen)
    except BaseException as e:  # noqa: BLE001 - handed to the main thread
        errors.append(e)


ALLOCATORS = {"default": lambda: None, **ALLOCATORS}


@pytest.mark.parametrize("alloc", list(ALLOCATORS))
def test_threads_append_extend_read_export(alloc, busy_switching):
    x = SegmentedList("q", allocator=ALLOCATORS[alloc](), first_segment=4)
    errors, counts = [], []
    stop = threading.Event()
    barrier = threading.Barrier(N_THREADS)
    writers = [threading.Thread(target=_writer, args=(x, t, errors, barrier))
               for t in range(N_THREADS)]
    readers = [threading.Thread(target=_reader, args=(x, stop, errors, counts))
               for _ in range(2)]
    for th in readers + writers:
        th.start()
    for th in writers:
        th.join()
    stop.set()
    for th in readers:
        th.join()
    assert not errors, errors[0]
    assert counts, "the readers never ran"
    assert len(x) == N_THREADS * PER_THREAD
    got = collections.Counter(x.to_numpy().tolist())
    want = collections.Counter(np.concatenate([_values(t) for t in range(N_THREADS)]).tolist())
    assert got == want
    # Each thread's own values keep their relative order.
    arr = x.to_numpy()
    for t in range(N_THREADS):
        mine = arr[arr // STRIDE == t]
        assert (np.diff(mine) > 0).all()
    if alloc != "default":
        # Not the process-wide default: every earlier test has used it, so its
        # check() would judge them too (the open Heap aligned-split bug,
        # tests/alloc/test_alloc_machines.py, shows up there in a full-suite run).
        x.allocator.check()


def test_threads_each_own_list_shared_allocator(busy_switching):
    """Lists on one shared allocator, one per thread: the allocator's
    bookkeeping stays exact."""
    a = Heap(region_size=1 << 16)
    errors = []
    done = []

    def work(t):
        try:
            for k in range(30):
                x = SegmentedList("q", allocator=a)
                x.extend(range(k * 50))
                x.append(t)
                assert x[-1] == t and len(x) == k * 50 + 1
                del x
            done.append(t)
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            errors.append(e)

    ths = [threading.Thread(target=work, args=(t,)) for t in range(N_THREADS)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    assert not errors, errors[0]
    assert sorted(done) == list(range(N_THREADS))
    assert a.stats["bytes_in_use"] == 0
    a.check()


def test_allocator_context_is_per_thread():
    """segpy.allocator() is a contextvar: another thread does not see it."""
    mine = BumpAllocator()
    seen = {}

    def other():
        seen["other"] = SegmentedList("q").allocator

    with segpy.allocator(mine):
        th = threading.Thread(target=other)
        th.start()
        th.join()
        assert SegmentedList("q").allocator is mine
    assert seen["other"] is not mine


def test_no_gil_release_in_segpy():
    """The thread model above holds only while no public path drops the GIL.
    A GIL-releasing bulk copy must come with a guard (see docs/trust.md)."""
    import pathlib

    # The sources of the checkout the tests sit in, else beside the package.
    pkg = REPO / "segpy"
    if not (pkg / "seglist.pyx").exists():
        pkg = pathlib.Path(segpy.__file__).parent
    sources = sorted(pkg.glob("*.pyx")) + sorted(pkg.glob("*.pxi"))
    if not any(p.name == "seglist.pyx" for p in sources):
        pytest.skip("segpy installed without its sources")
    # Guarded releases, each with its thread tests: a concurrent phase's
    # writer copies without the GIL into slots no one else can touch (the
    # phase pins the list, every mutating method refuses until it ends, and
    # close() waits for copies in flight, releasing the GIL so that they
    # can finish; tests/capi/test_concurrent.py).
    guarded = {"_seglist_concurrent.pxi": 2}
    for path in sources:
        name, text = path.name, path.read_text()
        assert text.count("with nogil") == guarded.get(name, 0), (
            f"{name} releases the GIL: guard the copy against concurrent mutation "
            "(docs/trust.md) and add a thread test for it")


# ---------------------------------------------------------------------------
# A call that runs Python code can be interleaved with another thread's call.
# ---------------------------------------------------------------------------


class Boom(Exception):
    pass


def test_failed_extend_keeps_other_threads_appends():
    x = SegmentedList("q", [0, 0, 0], allocator=SystemAllocator())

    def gen():
        yield 1
        x.append(777)          # what another thread does when the GIL passes here
        yield 2
        raise Boom

    with pytest.raises(Boom):
        x.extend(gen())
    assert 777 in x.to_numpy().tolist()


def test_failed_extend_keeps_segments_that_views_see():
    x = SegmentedList("q", [0] * 8, first_segment=8, allocator=SystemAllocator())
    held = []

    def gen():
        for i in range(100):
            yield i
            if len(x) == 30:                  # this call added segments 1 and 2
                held.extend(x.segments())     # what another thread may do here
                raise Boom

    with pytest.raises(Boom):
        x.extend(gen())
    assert len(x) == 8
    # The views of segments 1 and 2 must still be backed by the list: the
    # rollback kept the segments a view made during the call can see.
    # Writing through them is then safe (ASan would report a use after free).
    assert x.capacity >= 8 + 16 + 32
    assert x.allocator.stats["bytes_in_use"] >= sum(v.nbytes for v in held[:2]) + 32 * 8
    for v in held[1:]:
        v[:] = 5
    x.extend(range(30))                  # refills those segments, in place
    assert x.to_numpy()[8:].tolist() == list(range(30))
