"""Segment geometry: lengths at segment edges, capacity, reserve, and index math.

Segment j holds s0 * 2**j elements and starts at index s0 * (2**j - 1); the
capacity of k segments is s0 * (2**k - 1).  ``segpy.seglist._locate`` exposes
the index -> (segment, offset) math, which is checked against a plain loop up
to and beyond 2**48 (and up to 2**62 - 1).
"""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import segpy
from segpy import SegmentedList
from segpy.seglist import _locate

from seg_support import (
    assert_arrays_identical,
    default_first_segment,
    examples,
    geometric_capacity,
    locate_reference,
    segment_lengths,
)

EDGE_S0 = [1, 2, 4, 8, 64]


def edge_lengths(s0):
    """Lengths around the first few segment boundaries."""
    out = set()
    for k in range(1, 6):
        edge = s0 * (2 ** k - 1)          # capacity of k segments
        out.update({edge - 1, edge, edge + 1})
    for m in (1, 2, 3):                   # s0-1, s0, s0+1, 2*s0-1, ..., 3*s0+1
        out.update({m * s0 - 1, m * s0, m * s0 + 1})
    return sorted(n for n in out if n >= 0)


def _check_full(lst, n, s0):
    assert len(lst) == n
    assert lst.capacity == geometric_capacity(n, s0)
    assert lst.nbytes == n * lst.itemsize
    want = np.arange(n, dtype=np.int64)
    np.testing.assert_array_equal(lst.to_numpy(), want)
    assert list(lst) == list(range(n))                         # every element, in order
    assert [lst[i] for i in range(n)] == list(range(n))        # every element, by index
    assert [lst[-i] for i in range(1, n + 1)] == list(range(n - 1, -1, -1))
    views = lst.segments()
    assert [len(v) for v in views] == segment_lengths(n, s0)
    start = 0
    for j, v in enumerate(views):
        if j < len(views) - 1:
            assert len(v) == s0 * 2 ** j                       # full segments
        np.testing.assert_array_equal(v, want[start:start + len(v)])
        start += len(v)


@pytest.mark.parametrize("s0", EDGE_S0)
def test_lengths_at_segment_edges_by_extend(s0):
    for n in edge_lengths(s0):
        lst = SegmentedList("q", np.arange(n), first_segment=s0)
        _check_full(lst, n, s0)


@pytest.mark.parametrize("s0", EDGE_S0)
def test_lengths_at_segment_edges_by_append(s0):
    lst = SegmentedList("q", first_segment=s0)
    edges = set(edge_lengths(s0))
    for n in range(max(edges) + 1):
        if n in edges:
            _check_full(lst, n, s0)
        lst.append(n)
        assert lst.capacity == geometric_capacity(n + 1, s0)


@pytest.mark.parametrize("s0", EDGE_S0)
def test_lengths_at_segment_edges_by_list_extend(s0):
    for n in edge_lengths(s0):
        lst = SegmentedList("q", list(range(n)), first_segment=s0)
        _check_full(lst, n, s0)


@pytest.mark.parametrize("s0", [1, 8])
def test_extend_in_chunks_that_straddle_edges(s0):
    lst = SegmentedList("q", first_segment=s0)
    n = 0
    for chunk in [1, 2, 5, 1, 13, 7, 40, 3, 100, 1, 256, 77]:
        lst.extend(np.arange(n, n + chunk))
        n += chunk
        _check_full(lst, n, s0)


def test_capacity_sequence_for_s0_1():
    lst = SegmentedList("i1", first_segment=1)
    caps = []
    for i in range(16):
        lst.append(i)
        caps.append(lst.capacity)
    assert caps == [1, 3, 3, 7, 7, 7, 7] + [15] * 8 + [31]


@pytest.mark.parametrize("dtype", ["i1", "i8", "c16", "S3", "U7", [("a", "f8"), ("b", "i1")]],
                         ids=str)
def test_default_geometry(dtype):
    dt = np.dtype(dtype)
    s0 = default_first_segment(dt.itemsize)
    # Item by item (an iterator), so that no bulk extend fits the first segment.
    lst = SegmentedList(dt, iter(np.zeros(3 * s0 + 1, dtype=dt)))
    assert lst.first_segment == s0
    assert lst.capacity == 7 * s0
    assert [len(v) for v in lst.segments()] == [s0, 2 * s0, 1]


@pytest.mark.parametrize("dtype", ["i1", "i8", "c16", "S3", [("a", "f8"), ("b", "i1")]],
                         ids=str)
@pytest.mark.parametrize("source", ["ndarray", "bytes", "list", "segmented"])
def test_first_bulk_extend_fits_the_first_segment(dtype, source):
    dt = np.dtype(dtype)
    s0 = default_first_segment(dt.itemsize)
    n = 3 * s0 + 1
    data = np.arange(n).astype(dt) if dt.names is None else np.zeros(n, dt)
    src = {"ndarray": data, "bytes": data.tobytes(), "list": data.tolist(),
           "segmented": SegmentedList(dt, data)}[source]
    if source == "bytes" and dt.itemsize != 1:
        src = data                       # bytes extend only a one-byte list
    lst = SegmentedList(dt)
    lst.extend(src)
    if source == "list":
        # Item by item: the default geometry.
        assert (lst.first_segment, lst.capacity) == (s0, 7 * s0)
    else:
        # One segment, the least power of two that holds the elements.
        assert (lst.first_segment, lst.capacity) == (4 * s0, 4 * s0)
        assert [len(v) for v in lst.segments()] == [n]
    assert lst.to_numpy().tobytes() == data.tobytes()
    # Only while the list holds no segment: later extends keep the geometry.
    s1 = lst.first_segment
    lst.extend(np.zeros(10 * n, dt))
    assert lst.first_segment == s1
    # An explicit first_segment is kept.
    fixed = SegmentedList(dt, data, first_segment=s0)
    assert fixed.first_segment == s0 and fixed.capacity == 7 * s0


def test_fitting_stops_once_a_segment_is_held_and_resumes_when_none_is():
    lst = SegmentedList("q")
    lst.append(1)                              # the default first segment: 64
    lst.extend(np.arange(1000))
    assert lst.first_segment == 64
    lst.clear()
    lst.shrink_to_fit()                        # no segment left
    assert lst.capacity == 0
    lst.extend(np.arange(1000))
    assert (lst.first_segment, lst.capacity) == (1024, 1024)
    # Small extends never shrink it.
    lst.clear()
    lst.shrink_to_fit()
    lst.extend(np.arange(3))
    assert lst.first_segment == 1024


def test_no_fitting_while_another_call_has_the_list_pinned():
    # A conversion hook's extend runs while the outer extend is in
    # progress: someone else may hold the geometry (numba keeps 2**shift
    # while it runs), so the first segment stays as it is.
    lst = SegmentedList("q")

    class Hook:
        def __array__(self, dtype=None, copy=None):
            lst.extend(np.arange(1000))
            return np.arange(5)

    lst.extend(Hook())
    assert lst.first_segment == 64
    assert lst.to_numpy().tolist() == list(range(1000)) + list(range(5))


def test_a_failed_fitted_extend_leaves_the_geometry():
    alloc = segpy.Heap(max_bytes=4096)
    lst = SegmentedList("q", allocator=alloc)
    with pytest.raises(MemoryError):
        lst.extend(np.arange(100_000))
    assert (lst.first_segment, lst.capacity, len(lst)) == (64, 0, 0)
    assert alloc.stats["bytes_in_use"] == 0
    lst.extend(np.arange(100))                   # fits in 4 KiB: 128 elements
    assert (lst.first_segment, lst.capacity) == (128, 128)


# -- reserve -------------------------------------------------------------------------


@pytest.mark.parametrize("s0", EDGE_S0)
def test_reserve_capacity(s0):
    for n in edge_lengths(s0):
        alloc = segpy.SystemAllocator()
        lst = SegmentedList("q", first_segment=s0, allocator=alloc)
        lst.reserve(n)
        assert lst.capacity == geometric_capacity(n, s0)
        assert len(lst) == 0
        assert alloc.stats["bytes_in_use"] == lst.capacity * 8
        # Filling the reserved room allocates nothing more.
        calls = alloc.stats["n_alloc"]
        lst.extend(range(n))
        for i in range(lst.capacity - n):
            lst.append(i)
        assert alloc.stats["n_alloc"] == calls
        assert lst.capacity == geometric_capacity(n, s0)


def test_reserve_never_shrinks_and_is_total_not_additional():
    lst = SegmentedList("q", range(10), first_segment=4)   # capacity 12
    assert lst.capacity == 12
    lst.reserve(5)
    assert lst.capacity == 12
    lst.reserve(12)
    assert lst.capacity == 12
    lst.reserve(13)                                         # total, not 10 + 13
    assert lst.capacity == 28
    lst.reserve(0)
    assert lst.capacity == 28
    assert list(lst) == list(range(10))


def test_reserve_zero_on_empty_allocates_nothing(allocator):
    lst = SegmentedList("q", allocator=allocator)
    lst.reserve(0)
    assert lst.capacity == 0
    assert allocator.stats["n_os_calls"] == 0


def test_reserve_accepts_index_types():
    lst = SegmentedList("q", first_segment=1)
    lst.reserve(np.int64(3))
    assert lst.capacity == 3
    lst.reserve(True)
    assert lst.capacity == 3


# -- _locate: pure index math ---------------------------------------------------------

S0_STRATEGY = st.integers(0, 30).map(lambda k: 2 ** k)


@settings(max_examples=examples(300))
@given(i=st.one_of(st.integers(0, 2 ** 62 - 1), st.integers(2 ** 47, 2 ** 50)), s0=S0_STRATEGY)
@example(i=2 ** 62 - 1, s0=1)
@example(i=2 ** 62 - 1, s0=2 ** 30)
@example(i=2 ** 48, s0=1)
@example(i=2 ** 48 - 1, s0=1)
@example(i=2 ** 48 - 2, s0=2)
def test_locate_matches_reference(i, s0):
    assert _locate(i, s0) == locate_reference(i, s0)


@settings(max_examples=examples(200))
@given(s0=S0_STRATEGY, j=st.integers(0, 62), delta=st.integers(-2, 2))
def test_locate_at_segment_starts(s0, j, delta):
    start = s0 * (2 ** j - 1)
    i = start + delta
    if not 0 <= i < 2 ** 62:
        return
    seg, off = _locate(i, s0)
    assert (seg, off) == locate_reference(i, s0)
    if delta >= 0 and i < s0 * (2 ** (j + 1) - 1):
        assert (seg, off) == (j, delta)


@pytest.mark.parametrize("s0", [1, 2, 8, 64, 2 ** 20, 2 ** 30])
def test_locate_every_boundary_up_to_2_62(s0):
    j = 0
    while True:
        start = s0 * (2 ** j - 1)
        if start >= 2 ** 62:
            break
        for i in (start - 1, start, start + 1, start + s0 * 2 ** j - 1):
            if 0 <= i < 2 ** 62:
                assert _locate(i, s0) == locate_reference(i, s0), (i, s0)
        assert _locate(start, s0) == (j, 0)
        j += 1
    # Beyond 2**48: well inside the range the core must address.
    for i in (2 ** 48 - 1, 2 ** 48, 2 ** 48 + 1, 2 ** 52 + 12345, 2 ** 61, 2 ** 62 - 1):
        assert _locate(i, s0) == locate_reference(i, s0)


@pytest.mark.parametrize("s0", [1, 2, 8, 64])
def test_locate_agrees_with_real_lists(s0):
    n = 20 * s0 + 3
    lst = SegmentedList("q", range(n), first_segment=s0)
    views = lst.segments()
    for i in range(n):
        j, off = _locate(i, s0)
        assert views[j][off] == lst[i] == i


@pytest.mark.parametrize("i", [-1, -2 ** 62, 2 ** 62, 2 ** 62 + 1, 2 ** 63 - 1])
def test_locate_rejects_out_of_range(i):
    with pytest.raises(ValueError):
        _locate(i, 1)


@pytest.mark.parametrize("s0", [0, 3, 2 ** 31, -1])
def test_locate_rejects_bad_first_segment(s0):
    with pytest.raises(ValueError):
        _locate(0, s0)


def _distinct_values(dt, n, seed=0):
    """``n`` elements of ``dt`` with varied bytes (valid code points for 'U')."""
    rng = np.random.default_rng(seed)
    if dt.kind == "U":
        chars = rng.integers(0x20, 0x7E, size=(n, dt.itemsize // 4), dtype=np.uint32)
        return chars.view(dt).reshape(n)
    raw = rng.integers(0, 256, size=n * dt.itemsize, dtype=np.uint8).tobytes()
    return np.frombuffer(raw, dtype=dt).copy()


def test_every_family_at_segment_edges(family, first_segment):
    dt = family.dtype
    s0 = default_first_segment(dt.itemsize) if first_segment is None else first_segment
    for n in sorted({0, 1, s0 - 1, s0, s0 + 1, 3 * s0 - 1, 3 * s0, 3 * s0 + 1}):
        if n < 0:
            continue
        want = _distinct_values(dt, n, seed=n)
        # One element first, so that the default first segment is not
        # fitted to the bulk extend (test_first_bulk_extend_fits_...).
        lst = SegmentedList(dt, want[:1], first_segment=first_segment)
        lst.extend(want[1:])
        assert lst.first_segment == s0
        assert len(lst) == n and lst.capacity == geometric_capacity(n, s0)
        assert_arrays_identical(lst.to_numpy(), want)
        views = lst.segments()
        assert [len(v) for v in views] == segment_lengths(n, s0)
        start = 0
        for v in views:
            assert v.tobytes() == want[start:start + len(v)].tobytes()
            start += len(v)
        # Element by element, appended one at a time, gives the same bytes.
        one = SegmentedList(dt, first_segment=first_segment)
        for i in range(n):
            one.extend(want[i:i + 1])
        assert one.to_numpy().tobytes() == want.tobytes()
        assert one.capacity == lst.capacity
