"""Resources: RSS over many list lifetimes, indices past 2**32, every MemoryError path.

Environment variables for the long versions (docs/trust.md has the figures):

``SEGPY_RSS_CYCLES=1000000``
    create/destroy cycles per allocator in ``test_rss_flat`` (default 100,000).
``SEGPY_SKIP_4G=1``
    skip the tests that need ~4.3 GB of memory (the 2**32 index test).
``SEGPY_BIG_HEAP=1``
    also run the 2**32 test on a Heap (another ~4.3 GB written).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from segpy import BufferAllocator, BumpAllocator, Heap, SegmentedList, SystemAllocator

from fuzz_models import snapshot
from seg_support import ALLOCATORS

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


# ---------------------------------------------------------------------------
# RSS stays flat over many create/destroy cycles
# ---------------------------------------------------------------------------

CYCLES = int(os.environ.get("SEGPY_RSS_CYCLES", "100000"))
_CHUNK = np.arange(100, dtype=np.int64)

# Each allocator is used as documented: a BumpAllocator gets its memory back
# at the end of a scope (one per batch of lists), the others per release.
ALLOCATORS = {**ALLOCATORS, "Heap-debug": lambda: Heap(debug=True)}


def _cycles(a, n: int) -> None:
    batch = 1000
    for start in range(0, n, batch):
        ctx = a.scope() if isinstance(a, BumpAllocator) else _Null()
        with ctx:
            for _ in range(min(batch, n - start)):
                x = SegmentedList("q", _CHUNK, allocator=a)   # two segments
                x.append(1)
                x[50] = 7
                del x


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")


@pytest.mark.skipif(UNDER_ASAN, reason="AddressSanitizer keeps freed memory in quarantine "
                                       "(up to 256 MiB), so RSS does not measure segpy there")
@pytest.mark.parametrize("name", list(ALLOCATORS))
def test_rss_flat(name):
    a = ALLOCATORS[name]()
    warm = max(CYCLES // 10, 2000)
    _cycles(a, warm)
    rss0, mapped0 = rss_bytes(), a.stats["bytes_mapped"]
    _cycles(a, CYCLES)
    growth = rss_bytes() - rss0
    print(f"\n{name}: {CYCLES} cycles after {warm} warm-up: RSS growth {growth} bytes")
    st = a.stats
    assert st["bytes_in_use"] == 0 and st["n_blocks"] == 0
    assert st["bytes_mapped"] <= mapped0, (mapped0, st)
    assert growth < 1 << 20, f"RSS grew by {growth} bytes over {CYCLES} cycles on {name}"
    a.check()


@pytest.mark.skipif(UNDER_ASAN, reason="RSS is not measured under AddressSanitizer")
def test_rss_probe_sees_growth():
    """The RSS probe is not vacuous: keeping 8 MiB alive shows."""
    rss0 = rss_bytes()
    keep = SegmentedList("q", np.ones(1 << 20, dtype=np.int64), allocator=SystemAllocator())
    assert rss_bytes() - rss0 > 4 << 20
    del keep


# ---------------------------------------------------------------------------
# Indices past 2**32
# ---------------------------------------------------------------------------

BIG_N = 2**32 + 4096
PROBES = [0, 2**31 - 1, 2**31, 2**31 + 1, 2**32 - 1, 2**32, 2**32 + 1, BIG_N - 1]


def _big_allocators():
    out = [pytest.param(BumpAllocator, id="Bump")]
    if os.environ.get("SEGPY_BIG_HEAP"):
        out.append(pytest.param(Heap, id="Heap"))
    return out


@pytest.mark.skipif(bool(os.environ.get("SEGPY_SKIP_4G")), reason="SEGPY_SKIP_4G is set")
@pytest.mark.parametrize("make", _big_allocators())
def test_indices_past_2_32(make):
    """An int8 list of 2**32 + 4096 elements: no 32-bit overflow in index or
    size math.  ~4.3 GB are written (the list must be that long to index it);
    the reservation maps ~8.6 GB lazily."""
    x = SegmentedList("i1", allocator=make())
    try:
        x.reserve(BIG_N)
    except MemoryError as e:
        pytest.skip(f"cannot reserve {BIG_N} bytes here: {e}")
    assert x.capacity >= BIG_N and len(x) == 0
    chunk = np.zeros(1 << 26, dtype=np.int8)
    try:
        while len(x) + len(chunk) <= BIG_N:
            x.extend(chunk)
        x.extend(chunk[:BIG_N - len(x)])
    except MemoryError as e:
        pytest.skip(f"cannot fill {BIG_N} bytes here: {e}")
    assert len(x) == BIG_N
    for i in PROBES:
        x[i] = i % 101 - 50
    for i in PROBES:
        want = i % 101 - 50
        assert x[i] == want, i
        assert x[i - BIG_N] == want, i - BIG_N       # negative index math
    with pytest.raises(IndexError):
        x[BIG_N]
    with pytest.raises(IndexError):
        x[-BIG_N - 1]
    views = x.segments()
    assert sum(len(v) for v in views) == BIG_N
    # The element at 2**32 seen through its segment view, found by walking
    # the view lengths (independent of segpy's index math).
    start = 0
    for v in views:
        if start <= 2**32 < start + len(v):
            assert v[2**32 - start] == 2**32 % 101 - 50
            v[2**32 - start] = 99
            break
        start += len(v)
    assert x[2**32] == 99
    x.append(5)
    assert x[BIG_N] == 5 and len(x) == BIG_N + 1
    del views, x


# ---------------------------------------------------------------------------
# Every MemoryError path, through a limit and through an injected OS failure
# ---------------------------------------------------------------------------

S0 = 8            # first segment: 8 elements of 8 bytes


def _fresh(make, n=S0 * 7):
    """A list at full capacity (s0 * (2**k - 1) elements): its next growth
    needs a new segment."""
    x = SegmentedList("q", np.arange(n, dtype=np.int64), allocator=make(), first_segment=S0)
    assert len(x) == x.capacity
    return x


# The growing entry points, each with the number of elements it adds.  A
# failed call must leave the list exactly as it was.
def growers(n: int) -> dict:
    """The growing entry points, each adding `n` elements (append: one)."""
    return {
        "append": lambda x: x.append(1),
        "extend-list": lambda x: x.extend(list(range(n))),
        "extend-generator": lambda x: x.extend(i for i in range(n)),
        "extend-ndarray": lambda x: x.extend(np.arange(n, dtype=np.int64)),
        "extend-ndarray-cast": lambda x: x.extend(np.arange(n, dtype=np.int16)),
        "extend-bytes-buffer": lambda x: x.extend(bytes(n)),
        "extend-memoryview": lambda x: x.extend(memoryview(np.arange(n, dtype=np.int64))),
        "extend-seglist": lambda x: x.extend(SegmentedList("q", range(n))),
        "extend-self": lambda x: x.extend(x),
        "reserve": lambda x: x.reserve(len(x) + n),
        "copy": lambda x: x.copy(),
        "construct": lambda x: SegmentedList("q", range(n), allocator=x.allocator),
    }


GROWERS = growers(5000)


def _fill_allocator(a, nbytes):
    """Allocate blocks of `nbytes`, then of half that ... down to 64 bytes
    (64-aligned, as segments are), each until the allocator refuses one: then
    every request of 64 bytes or more fails (the smallest segment here)."""
    ballast = []
    while nbytes >= 64:
        while True:
            try:
                ballast.append(a.allocate(nbytes, 64))
            except MemoryError:
                break
            assert len(ballast) < 100_000
        nbytes //= 2
    return ballast


LIMITED = {
    "Heap": lambda: Heap(max_bytes=1 << 20, region_size=1 << 16),
    "Heap-debug": lambda: Heap(max_bytes=1 << 20, region_size=1 << 16, debug=True),
    "Bump": lambda: BumpAllocator(max_bytes=1 << 20),
    "Buffer": lambda: BufferAllocator(bytearray(1 << 18)),
    "System": lambda: SystemAllocator(max_bytes=1 << 20),
}


@pytest.mark.parametrize("alloc", list(LIMITED))
@pytest.mark.parametrize("op", list(GROWERS))
def test_memory_error_limit(op, alloc):
    x = _fresh(LIMITED[alloc])
    a = x.allocator
    # The next segment has s0 * 2**k elements; fill the allocator so that it
    # can give no block of that size.
    ballast = _fill_allocator(a, (x.capacity + S0) * 8)
    before = snapshot(x)
    with pytest.raises(MemoryError) as info:
        GROWERS[op](x)
    msg = str(info.value)
    assert "could not provide" in msg or "limit" in msg, msg
    assert snapshot(x) == before
    a.check()
    # And the list still works once memory is back (a bump arena gets its
    # memory back only at reset, which the live list forbids).
    del ballast
    if not isinstance(a, BumpAllocator):
        GROWERS[op](x)
        a.check()


# Allocators where each new segment of >= 64 KiB needs its own OS call, so
# that the k-th OS call is the k-th new segment.
INJECTABLE = {
    "Heap": lambda: Heap(region_size=1 << 16, cache_bytes=0),
    "Heap-debug": lambda: Heap(region_size=1 << 16, cache_bytes=0, debug=True),
    "Bump": lambda: BumpAllocator(),
    "System": lambda: SystemAllocator(),
}

# Big enough to need several new segments of >= 64 KiB (several OS calls).
BIG_GROWERS = growers(200_000)


@pytest.mark.parametrize("alloc", list(INJECTABLE))
@pytest.mark.parametrize("op", list(BIG_GROWERS))
def test_memory_error_injected(op, alloc):
    """Each OS call the operation makes fails in turn (measured first on a
    twin list): MemoryError, the list is unchanged, segments taken before the
    failure are given back, and the operation works once the failure is spent."""
    grow = BIG_GROWERS[op]

    def fresh():
        # 8184 elements in segments of 8 * 2**j; the next is 64 KiB.
        return _fresh(INJECTABLE[alloc], n=S0 * (2**10 - 1))

    twin = fresh()
    calls0 = twin.allocator.stats["n_os_calls"]
    kept = grow(twin)      # kept alive: a dropped copy's unmaps are OS calls too
    n_calls = twin.allocator.stats["n_os_calls"] - calls0
    del kept
    assert n_calls >= 1, "the operation made no OS call: nothing to inject into"
    for k in range(n_calls):
        x = fresh()
        a = x.allocator
        before, in_use = snapshot(x), a.stats["bytes_in_use"]
        a.inject_failure(k)
        with pytest.raises(MemoryError, match="injected failure"):
            grow(x)
        assert snapshot(x) == before, k
        assert a.stats["bytes_in_use"] == in_use
        assert a.stats["n_os_failures"] == 1
        a.check()
        grow(x)            # the failure was one-shot
        a.check()


def test_memory_error_too_many_elements():
    """Beyond the addressable count: MemoryError before any allocation."""
    x = SegmentedList("q", [1, 2], allocator=SystemAllocator())
    before = snapshot(x)
    n_alloc = x.allocator.stats["n_alloc"]
    with pytest.raises(MemoryError, match="addressable elements"):
        x.reserve(2**62)
    assert snapshot(x) == before
    assert x.allocator.stats["n_alloc"] == n_alloc
