"""Concurrent pushes: many threads append to one list in one phase.

From C (OpenMP prange and Python threads calling a nogil push, through
segpy._capi_testing) and from Python (SegmentedList.concurrent_writer()).
Every element must arrive exactly once; a failed growth must leave a list
whose every element was stored by a call, ending where the docs say.
"""

import gc
import threading

import numpy as np
import pytest

import segpy
from segpy import Heap, SegmentedList

T = pytest.importorskip("segpy._capi_testing")


def run_threads(fns):
    errors = []

    def guard(fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - handed to the main thread, which asserts none
            errors.append(e)

    threads = [threading.Thread(target=guard, args=(fn,)) for fn in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def assert_each_once(values, expect):
    values = np.sort(np.asarray(values))
    assert values.shape == expect.shape
    assert np.array_equal(values, expect)


# -- from C -------------------------------------------------------------------

@pytest.mark.openmp
@pytest.mark.parametrize("nthreads", [1, 2, 4])
@pytest.mark.parametrize("n", [0, 1, 511, 10_000, 1_000_003])
def test_prange_pushes_arrive_exactly_once(n, nthreads):
    lst = SegmentedList("int64", [-3, -2, -1], first_segment=16)
    added, err, errors = T.cc_prange_push(lst, n, nthreads)
    assert (added, err, errors) == (n, 0, [0] * nthreads)
    assert len(lst) == n + 3
    assert lst[:3].tolist() == [-3, -2, -1]
    assert_each_once(lst.to_numpy()[3:], np.arange(n))
    lst.append(7)                      # the list is an ordinary list again
    assert lst[-1] == 7


def test_python_threads_calling_a_nogil_push():
    lst = SegmentedList("int64", first_segment=4)
    phase = T.CCPhase(lst)
    per, k = 50_000, 4
    rcs = []
    # Half the threads buffer their pushes, half push one element at a time.
    errs = run_threads([lambda j=j: rcs.append(phase.push_range(j * per, (j + 1) * per, j % 2 == 0))
                        for j in range(k)])
    assert not errs and rcs == [0] * k
    assert len(lst) == 0               # the length moves only at the end
    assert phase.end() == (k * per, 0)
    assert_each_once(lst.to_numpy(), np.arange(k * per))


def test_unbuffered_c_pushes_keep_each_thread_in_order():
    lst = SegmentedList("int64", first_segment=1)
    phase = T.CCPhase(lst)
    errs = run_threads([lambda j=j: phase.push_range(j * 10**6, j * 10**6 + 20_000, False)
                        for j in range(3)])
    assert not errs
    phase.end()
    a = lst.to_numpy()
    for j in range(3):
        mine = a[(a >= j * 10**6) & (a < j * 10**6 + 20_000)]
        assert np.array_equal(mine, np.arange(j * 10**6, j * 10**6 + 20_000))


def test_writer_gaps_are_closed_from_the_top():
    # Writer A claims a run and fills 3 of its slots; single pushes land
    # above it; writer B fills one run and part of a second.  The phase's
    # end moves the top elements into A's gap: every element once, and the
    # length exact.
    lst = SegmentedList("int64", [-1], first_segment=8)
    phase = T.CCPhase(lst)
    assert phase.push_range(0, 3) == 0
    assert phase.push_range(1000, 1010, False) == 0
    assert phase.push_range(2000, 2700) == 0
    assert phase.end() == (713, 0)
    assert len(lst) == 714 and lst[0] == -1
    assert_each_once(lst.to_numpy()[1:], np.concatenate(
        [np.arange(3), np.arange(1000, 1010), np.arange(2000, 2700)]))
    # No slot outside the list was claimed twice: appends continue after it.
    lst.append(5)
    assert lst[-1] == 5 and len(lst) == 715


@pytest.mark.parametrize("sizes", [[1, 0, 2, 700, 5], [513] * 6, [0, 0, 0], [4096, 1, 4097]])
def test_many_writers_with_gaps(sizes):
    lst = SegmentedList("int64", first_segment=1)
    phase = T.CCPhase(lst)
    base = 0
    expect = []
    for k, size in enumerate(sizes):
        assert phase.push_range(base, base + size, k % 2 == 0) == 0
        expect.append(np.arange(base, base + size))
        base += 10_000
    added, err = phase.end()
    want = np.concatenate(expect)
    assert (added, err) == (len(want), 0)
    assert_each_once(lst.to_numpy(), want)


def test_pushes_after_a_writers_last_flush_are_not_kept():
    # Not flushing is a misuse: the writer's run then counts as unfilled,
    # so what it pushed is dropped, and no unwritten slot enters the list.
    lst = SegmentedList("int64", [7])
    phase = T.CCPhase(lst)
    assert phase.push_range(0, 100, True, False) == 0
    assert phase.push_range(100, 150) == 0
    assert phase.end() == (50, 0)
    assert lst.to_numpy().tolist() == [7] + list(range(100, 150))


def test_a_phase_takes_at_most_256_writers():
    lst = SegmentedList("int64")
    phase = T.CCPhase(lst)
    for k in range(256):
        assert phase.push_range(k, k + 1) == 0
    assert phase.push_range(1000, 1005) == -3              # SEGPY_EINVAL
    assert phase.push_range(2000, 2002, False) == 0        # runs still work
    assert phase.end() == (258, 0)
    assert_each_once(lst.to_numpy(), np.concatenate([np.arange(256), [2000, 2001]]))


def test_a_writer_fills_every_slot_of_a_claim_cut_short():
    # The first claim (512 slots from index 0) spans segments of 8, 16, 32
    # ... elements; the heap's limit cuts it at a segment start past the
    # first one.  The writer must still fill every slot it got, across
    # segment boundaries, so the list ends exactly at that start.
    heap = Heap(max_bytes=1 << 12)
    lst = SegmentedList("int64", allocator=heap, first_segment=8)
    phase = T.CCPhase(lst)
    assert phase.push_range(0, 1000) == -1                  # SEGPY_ENOMEM
    added, err = phase.end()
    assert err == -1
    assert added in [8 * (2**j - 1) for j in range(2, 7)]  # past the first segment
    assert lst.to_numpy().tolist() == list(range(added))   # one writer: in order


@pytest.mark.openmp
def test_a_failed_growth_in_c_ends_the_list_at_the_failed_segment():
    heap = Heap(max_bytes=1 << 20)
    lst = SegmentedList("int64", allocator=heap, first_segment=64)
    added, err, errors = T.cc_prange_push(lst, 10**6, 2)
    assert err == -1 and -1 in errors            # SEGPY_ENOMEM
    n = len(lst)
    assert added == n and 0 < n < 10**6
    # The list ends at a segment boundary, and holds distinct pushed values.
    assert n in [64 * (2**j - 1) for j in range(1, 30)]
    a = lst.to_numpy()
    assert len(np.unique(a)) == n and a.min() >= 0 and a.max() < 10**6
    assert heap.stats["bytes_in_use"] == lst.capacity * 8


# -- from Python --------------------------------------------------------------

def test_writer_extend_from_threads():
    lst = SegmentedList("int64", [10, 20])
    chunks = [np.arange(k * 1000, (k + 1) * 1000) for k in range(400)]
    with lst.concurrent_writer() as w:
        errs = run_threads([lambda j=j: [w.extend(c) for c in chunks[j::4]] for j in range(4)])
        assert not errs
        assert len(lst) == 2
    assert lst[:2].tolist() == [10, 20]
    a = lst.to_numpy()[2:]
    assert_each_once(a, np.arange(400_000))
    # Each run (one extend) is contiguous and in order.
    starts = np.flatnonzero(a % 1000 == 0)
    for s in starts:
        assert np.array_equal(a[s:s + 1000], np.arange(a[s], a[s] + 1000))


@pytest.mark.parametrize("dtype", ["int8", "float32", "complex128", "S3",
                                   np.dtype([("x", "f8"), ("n", "i4")])])
def test_writer_append_and_extend_convert_as_the_list_does(dtype):
    lst = SegmentedList(dtype)
    ref = SegmentedList(dtype)
    vals = list(SegmentedList(dtype, np.zeros(5, dtype)).tolist())
    with lst.concurrent_writer() as w:
        w.append(vals[0])
        w.extend(vals[1:])
        w.extend(iter(vals))
    ref.append(vals[0])
    ref.extend(vals[1:])
    ref.extend(vals)
    assert lst == ref


def test_every_mutation_is_refused_while_the_phase_is_open():
    lst = SegmentedList("int64", range(10))
    with lst.concurrent_writer() as w:
        for op in (lambda: lst.append(1), lambda: lst.extend([1]), lambda: lst.clear(),
                   lambda: lst.pop(), lambda: lst.insert(0, 1), lambda: lst.__setitem__(0, 5),
                   lambda: lst.__delitem__(0), lambda: lst.sort(), lambda: lst.reverse(),
                   lambda: lst.reserve(100), lambda: lst.shrink_to_fit(),
                   lambda: lst.__iadd__([1]), lambda: lst.concurrent_writer(),
                   lambda: lst.__init__("int64")):
            with pytest.raises(BufferError):
                op()
        assert lst.tolist() == list(range(10))     # reads are fine
        w.append(10)
    assert lst.tolist() == list(range(11))


def test_a_failed_growth_from_python():
    heap = Heap(max_bytes=1 << 20)
    lst = SegmentedList("int64", allocator=heap, first_segment=64)
    ok = []
    with lst.concurrent_writer() as w:
        for i in range(1000):
            try:
                w.extend(np.arange(i * 1000, (i + 1) * 1000))
                ok.append(i)
            except MemoryError as e:
                assert "could not provide" in str(e)
                break
        else:
            pytest.fail("the heap's limit was never reached")
        with pytest.raises(MemoryError):
            w.append(1)                           # past the failed segment
        assert w.error == -1
    n = len(lst)
    assert n in [64 * (2**j - 1) for j in range(1, 30)]
    assert n >= len(ok) * 1000
    assert np.array_equal(lst.to_numpy(), np.arange(n))   # one thread: in order
    lst.clear()
    lst.append(1)                                        # a normal list again


def test_closing_is_idempotent_and_a_closed_writer_refuses():
    lst = SegmentedList("int64")
    w = lst.concurrent_writer()
    w.extend([1, 2])
    w.close()
    w.close()
    with pytest.raises(ValueError, match="closed"):
        w.append(3)
    assert lst.tolist() == [1, 2]


def test_a_dropped_writer_ends_its_phase():
    lst = SegmentedList("int64")
    w = lst.concurrent_writer()
    w.extend([1, 2, 3])
    del w
    gc.collect()
    lst.append(4)
    assert lst.tolist() == [1, 2, 3, 4]


def test_conversion_code_that_closes_the_writer_is_refused():
    lst = SegmentedList("int64")
    w = lst.concurrent_writer()

    class Closing:
        def __array__(self, dtype=None, copy=None):
            w.close()
            return np.array(1)

    with pytest.raises(ValueError, match="closed"):
        w.append(Closing())
    assert lst.tolist() == []
    lst.append(2)


def test_hostile_iterable_cannot_mutate_the_list():
    lst = SegmentedList("int64", [1])

    def gen():
        yield 2
        lst.append(99)          # refused inside the phase
        yield 3

    with lst.concurrent_writer() as w, pytest.raises(BufferError):
        w.extend(gen())
    assert lst.tolist() == [1]


def test_the_writer_type_is_sealed():
    w = SegmentedList("int64").concurrent_writer()
    with pytest.raises(TypeError, match="internal type"):
        type(w)()
    w.close()


def test_read_only_file_lists_refuse(tmp_path):
    p = tmp_path / "x.seg"
    lst = SegmentedList.open(p, "int64", mode="w")
    lst.extend(range(3))
    lst.flush()
    ro = SegmentedList.open(p)
    with pytest.raises(ValueError, match="read-only"):
        ro.concurrent_writer()
    with lst.concurrent_writer() as w:
        w.extend(np.arange(3, 100_000))
    lst.flush()
    assert np.array_equal(SegmentedList.open(p).to_numpy(), np.arange(100_000))
    assert isinstance(segpy.__version__, str)
