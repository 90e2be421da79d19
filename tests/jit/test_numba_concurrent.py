"""Concurrent writers in @njit code (segpy/_numba_concurrent.py).

A writer from ``lst.concurrent_writer()`` passed to an ``@njit(nogil=True)``
function: pushes from every thread of a ``prange`` loop, of every dtype
numba can type, arrive exactly once; a failed growth is reported by the
push's return value and raised when the phase ends; the guards refuse a
function that holds the GIL, a second compiled call, a closed writer, and
a close from inside the call.  Skipped where numba is not installed.
"""

import ctypes
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from numpy.lib import recfunctions

numba = pytest.importorskip("numba")
segnumba = pytest.importorskip("segpy.numba")

from numba import prange
from numba.core.errors import TypingError

import segpy

from numba_support import random_elements, run_cached_twice
from seg_support import FAMILIES, FIRST_SEGMENTS

NOGIL = numba.njit(nogil=True)
PARALLEL = numba.njit(parallel=True, nogil=True)
NTHREADS = numba.config.NUMBA_NUM_THREADS


@PARALLEL
def fill(w, start, n):
    for i in prange(n):
        w.append(start + i)


@PARALLEL
def fill_from(w, values):
    for i in prange(len(values)):
        w.append(values[i])


@PARALLEL
def fill_tracking(w, n):
    # Which pushes stored their element.
    ok = np.zeros(n, dtype=np.bool_)
    for i in prange(n):
        ok[i] = w.append(i)
    return ok


@PARALLEL
def thread_ids(w, n):
    for _ in prange(n):
        w.append(numba.get_thread_id())


@NOGIL
def extend(w, values):
    return w.extend(values)


def _sorted_elements(a):
    """``a``'s elements as a sorted array of raw bytes (a record's padding
    left out): equal for two arrays holding the same multiset."""
    if a.dtype.names is not None:
        a = recfunctions.repack_fields(a)
    return np.sort(np.ascontiguousarray(a).view(np.dtype((np.void, a.dtype.itemsize))))


@pytest.mark.parametrize("s0", FIRST_SEGMENTS)
@pytest.mark.parametrize("n", [0, 1, 1000, 300_001])
def test_prange_pushes_arrive_exactly_once(n, s0):
    lst = segpy.SegmentedList("int64", [-1, -2], first_segment=s0)
    with lst.concurrent_writer() as w:
        fill(w, 0, n)
        fill(w, n, 5)                      # a second call in the same phase
        w.extend(np.arange(n + 5, n + 10))  # and Python pushes beside them
    assert len(lst) == n + 12
    a = lst.to_numpy()
    assert a[:2].tolist() == [-1, -2]      # the list before the phase stays put
    np.testing.assert_array_equal(np.sort(a[2:]), np.arange(n + 10))


@pytest.mark.skipif(NTHREADS < 2, reason="numba has one thread here")
def test_a_prange_loop_of_pushes_runs_on_every_thread():
    # A push that could raise would make numba run the loop on one thread;
    # pushes report failure by their result, so the loop stays parallel.
    lst = segpy.SegmentedList("int64")
    with lst.concurrent_writer() as w:
        thread_ids(w, 100_000)
    counts = np.bincount(lst.to_numpy(), minlength=NTHREADS)
    assert counts.sum() == 100_000 and (counts > 0).sum() == NTHREADS


SUPPORTED = [f for f in FAMILIES if segnumba._element_type(f.dtype) is not None]


@pytest.mark.parametrize("fam", SUPPORTED, ids=lambda f: f.name)
def test_every_supported_dtype(fam):
    values = random_elements(fam.dtype, 5000, seed=7)
    lst = segpy.SegmentedList(fam.dtype)
    with lst.concurrent_writer() as w:
        fill_from(w, values)
        assert extend(w, values[:100])
    assert len(lst) == 5100
    want = np.concatenate([values, values[:100]])
    np.testing.assert_array_equal(_sorted_elements(lst.to_numpy()), _sorted_elements(want))


def test_extend_casts_within_a_kind():
    lst = segpy.SegmentedList("int64")
    with lst.concurrent_writer() as w:
        assert extend(w, np.arange(10, dtype=np.int8))
        assert extend(w, np.arange(10, 20)[::2])          # strided
    assert sorted(lst.tolist()) == list(range(10)) + list(range(10, 20, 2))


def test_values_of_another_kind_are_typing_errors():
    @NOGIL
    def push(w, v):
        return w.append(v)

    lst = segpy.SegmentedList("int32")
    with lst.concurrent_writer() as w:
        with pytest.raises(TypingError, match="same_kind"):
            push(w, 1.5)
        with pytest.raises(TypingError, match="same_kind"):
            extend(w, np.ones(3))
        with pytest.raises(TypingError, match="one-dimensional"):
            extend(w, np.ones((2, 2), dtype=np.int32))
        assert push(w, np.int64(2**40 + 3))               # wraps, as numba's casts do
    assert lst.tolist() == [3]


def test_the_type_names_the_element_and_a_returned_writer_is_the_same_object():
    @NOGIL
    def identity(w):
        return w

    with segpy.SegmentedList("f4").concurrent_writer() as w:
        assert str(numba.typeof(w)) == "ConcurrentWriter(float32)"
        assert isinstance(numba.typeof(w), segnumba.ConcurrentWriterType)
        refs = sys.getrefcount(w)
        assert identity(w) is w
        assert sys.getrefcount(w) == refs


# -- failures --------------------------------------------------------------------

def test_a_failed_growth_returns_false_and_is_raised_at_close():
    heap = segpy.Heap(max_bytes=1 << 20)
    lst = segpy.SegmentedList("int64", allocator=heap, first_segment=64)
    w = lst.concurrent_writer()
    ok = fill_tracking(w, 10**6)
    assert not ok.all() and ok.any()
    with pytest.raises(MemoryError, match="could not provide"):
        w.close()
    # Exactly the pushes that said so were stored, each once, and the list
    # ends at the start of the segment that could not be made.
    a = lst.to_numpy()
    assert len(a) == ok.sum()
    assert set(a.tolist()) == set(np.flatnonzero(ok).tolist())
    assert len(a) in [64 * (2**j - 1) for j in range(1, 30)]
    assert heap.stats["bytes_in_use"] == lst.capacity * 8
    w.close()                              # closed: no second raise
    lst.clear()
    lst.append(1)                          # a normal list again


def test_a_function_that_holds_the_gil_is_refused():
    @numba.njit(parallel=True)
    def fill_holding_the_gil(w, n):
        for i in prange(n):
            w.append(i)

    @numba.njit
    def push_holding_the_gil(w, v):
        return w.append(v)

    lst = segpy.SegmentedList("int64", [5])
    with lst.concurrent_writer() as w:
        for fn, args in ((fill_holding_the_gil, (10**6,)), (push_holding_the_gil, (1,))):
            with pytest.raises(TypeError, match="nogil=True"):
                fn(w, *args)
        fill(w, 0, 3)                      # the refusals left the phase usable
    assert sorted(lst.tolist()) == [0, 1, 2, 5]


def test_one_compiled_call_at_a_time_and_no_close_from_inside():
    @NOGIL
    def nested(w):
        with numba.objmode():
            extend(w, np.arange(3))       # a second compiled call on w

    @NOGIL
    def close_inside(w):
        w.append(1)
        with numba.objmode():
            w.close()

    lst = segpy.SegmentedList("int64")
    with lst.concurrent_writer() as w:
        with pytest.raises(RuntimeError, match="in use by another compiled call"):
            nested(w)
        with pytest.raises(RuntimeError, match="from inside the compiled call"):
            close_inside(w)
        fill(w, 10, 2)
    assert sorted(lst.tolist()) == [1, 10, 11]


def test_a_closed_writer_is_refused():
    lst = segpy.SegmentedList("int64")
    w = lst.concurrent_writer()
    w.close()
    with pytest.raises(ValueError, match="closed"):
        fill(w, 0, 3)
    assert len(lst) == 0


def test_close_from_another_thread_waits_for_the_compiled_call():
    @NOGIL
    def slow_fill(w, started, n):
        started[0] = 1
        for i in range(n):
            w.append(i)

    lst = segpy.SegmentedList("int64")
    w = lst.concurrent_writer()
    started = np.zeros(1, dtype=np.int64)
    slow_fill(w, np.zeros(1, dtype=np.int64), 1)        # compile first
    w.close()
    lst.clear()
    w = lst.concurrent_writer()
    n = 20_000_000
    t = threading.Thread(target=slow_fill, args=(w, started, n))
    t.start()
    while not started[0]:
        time.sleep(0.0001)
    w.close()                              # while slow_fill pushes
    t.join()
    assert len(lst) == n
    np.testing.assert_array_equal(lst.to_numpy(), np.arange(n))


def _bridge_fn(name, restype, *argtypes):
    return ctypes.PYFUNCTYPE(restype, *argtypes)(segpy.seglist._numba_bridge()[name])


def test_the_unboxing_guard():
    # What the unboxing calls, through ctypes (the dispatcher always types
    # a writer afresh, so a size mismatch cannot come from @njit code).
    enter = _bridge_fn("cc_enter", ctypes.c_void_p, ctypes.py_object, ctypes.c_ssize_t,
                       ctypes.c_int)
    leave = _bridge_fn("cc_exit", None, ctypes.py_object)
    lst = segpy.SegmentedList("int64")
    w = lst.concurrent_writer()
    with pytest.raises(TypeError, match="typed for 4-byte"):
        enter(w, 4, 1)
    with pytest.raises(TypeError, match="expected a concurrent writer"):
        enter(lst, 8, 1)
    with pytest.raises(TypeError, match="nogil=True"):
        enter(w, 8, 0)
    assert enter(w, 8, 1)
    with pytest.raises(RuntimeError, match="in use by another compiled call"):
        enter(w, 8, 1)
    leave(w)
    w.close()                              # nothing in flight: does not wait


def test_a_thread_id_past_the_table_loses_its_push_and_close_says_so():
    # numba's ids are below its thread count, the table's size; the slow
    # path still refuses one past it rather than write outside the table.
    enter = _bridge_fn("cc_enter", ctypes.c_void_p, ctypes.py_object, ctypes.c_ssize_t,
                       ctypes.c_int)
    leave = _bridge_fn("cc_exit", None, ctypes.py_object)
    push_slow = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                 ctypes.c_void_p)(
        segpy.seglist._numba_bridge()["cc_push_slow"])
    lst = segpy.SegmentedList("int64", [1])
    w = lst.concurrent_writer()
    nb = enter(w, 8, 1)
    v = ctypes.c_int64(5)
    assert push_slow(None, nb, ctypes.addressof(v)) == -3      # SEGPY_EINVAL
    leave(w)
    with pytest.raises(RuntimeError, match="were lost"):
        w.close()
    assert lst.tolist() == [1]


# -- registration -------------------------------------------------------------------

def test_the_lowering_module_imports_first_or_second():
    # segpy._numba_concurrent imports segpy.numba, which imports it back:
    # either may be imported first (a tool that walks segpy's modules in
    # name order imports segpy._numba_concurrent first).
    for first in ("segpy._numba_concurrent", "segpy.numba"):
        code = textwrap.dedent(f"""
            import {first}
            import numba, segpy, segpy.numba

            @numba.njit(nogil=True)
            def push(w):
                return w.append(3)

            lst = segpy.SegmentedList("q")
            with lst.concurrent_writer() as w:
                assert push(w)
            assert lst.tolist() == [3]
            assert isinstance(numba.typeof(w), segpy.numba.ConcurrentWriterType)
        """)
        out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True,
                             text=True, check=False, timeout=300)
        assert out.returncode == 0, out.stderr


def test_cached_code_links_in_a_new_process(tmp_path):
    # The nogil decision is made when the wrapper is compiled, so it is in
    # the cached code: a function holding the GIL is still refused.
    hits = run_cached_twice(tmp_path, "cached_cc", """
        import numba

        @numba.njit(cache=True, nogil=True, parallel=True)
        def fill(w, n):
            for i in numba.prange(n):
                w.append(i)

        @numba.njit(cache=True)
        def fill_holding_the_gil(w, n):
            for i in range(n):
                w.append(i)
    """, """
        import segpy, cached_cc
        lst = segpy.SegmentedList("q")
        with lst.concurrent_writer() as w:
            cached_cc.fill(w, 1000)
            try:
                cached_cc.fill_holding_the_gil(w, 3)
            except TypeError:
                pass
            else:
                raise AssertionError("a function holding the GIL was not refused")
        assert sorted(lst.tolist()) == list(range(1000))
        print(sum(cached_cc.fill.stats.cache_hits.values()),
              sum(cached_cc.fill_holding_the_gil.stats.cache_hits.values()))
    """)
    assert hits == ["0 0", "1 1"]
