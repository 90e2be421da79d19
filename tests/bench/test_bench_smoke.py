"""Smoke tests of segpy._bench: every loop runs, returns a positive time and
leaves the allocator as it found it; bad arguments raise instead of crashing."""

import numpy as np
import pytest

import segpy
from segpy import _bench

from seg_support import REPO

N = 64
SIZES = np.arange(16, 257, 16)
PERM = np.random.default_rng(7).permutation(N)


def _targets():
    """(id, allocator-or-None) for glibc, SystemAllocator and whatever else exists."""
    out = [("glibc", None), ("system", segpy.SystemAllocator())]
    try:
        import segpy.heap as heap_mod
    except ImportError:  # pragma: no cover
        heap_mod = None
    Heap = getattr(heap_mod, "Heap", None)
    if Heap is not None:  # pragma: no cover - once the heap branch is merged
        out.append(("heap", Heap()))
    return out


TARGETS = _targets()


@pytest.fixture(params=TARGETS, ids=[t[0] for t in TARGETS])
def target(request):
    return request.param[1]


CALLS = {
    "requests": lambda a: _bench.requests(a, 16, N),
    "requests_big": lambda a: _bench.requests(a, 100_000, 4),
    "lifo_pairs": lambda a: _bench.lifo_pairs(a, SIZES, N),
    "realloc_after_random_free": lambda a: _bench.realloc_after_random_free(a, 64, N, PERM),
    "random_free": lambda a: _bench.random_free(a, 64, N, PERM),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_runs_and_returns_positive_ns(target, name):
    before = None if target is None else target.stats
    ns = CALLS[name](target)
    assert isinstance(ns, int)
    assert ns > 0
    if target is not None:
        st = target.stats
        # Everything was released: the allocator is back where it started.
        assert st["bytes_in_use"] == before["bytes_in_use"] == 0
        assert st["n_blocks"] == 0
        assert st["n_alloc"] > before["n_alloc"]
        assert st["n_alloc"] - before["n_alloc"] == st["n_release"] - before["n_release"]


def test_perm_as_list_and_unsigned():
    a = segpy.SystemAllocator()
    assert _bench.random_free(a, 32, 8, list(range(8))[::-1]) > 0
    assert _bench.random_free(None, 32, 8, np.arange(8, dtype=np.uint32)) > 0


@pytest.mark.parametrize("fn", [_bench.random_free, _bench.realloc_after_random_free])
@pytest.mark.parametrize("perm, exc", [
    (np.arange(N - 1), ValueError),                       # wrong length
    (np.zeros(N, dtype=np.int64), ValueError),            # repeated index
    (np.arange(1, N + 1), ValueError),                    # out of range
    (np.arange(N) - 1, ValueError),                       # negative
    (np.arange(N).reshape(8, 8), ValueError),             # not 1-D
    (np.arange(N, dtype=float), TypeError),               # not integers
])
def test_bad_perm_raises(target, fn, perm, exc):
    with pytest.raises(exc):
        fn(target, 64, N, perm)
    if target is not None:
        assert target.stats["bytes_in_use"] == 0


@pytest.mark.parametrize("call, exc", [
    (lambda a: _bench.requests(a, 0, 10), ValueError),
    (lambda a: _bench.requests(a, -1, 10), ValueError),
    (lambda a: _bench.requests(a, 16, 0), ValueError),
    (lambda a: _bench.requests(a, 16, 1 << 40), ValueError),
    (lambda a: _bench.requests(a, 1 << 40, 1), ValueError),
    (lambda a: _bench.requests(a, 16.0, 10), TypeError),
    (lambda a: _bench.lifo_pairs(a, [], 10), ValueError),
    (lambda a: _bench.lifo_pairs(a, [16, 0], 10), ValueError),
    (lambda a: _bench.lifo_pairs(a, [16.5], 10), TypeError),
])
def test_bad_arguments_raise(target, call, exc):
    with pytest.raises(exc):
        call(target)


def test_not_an_allocator_raises():
    with pytest.raises(TypeError):
        _bench.requests("glibc", 16, 10)


def test_release_false_needs_reset():
    # SystemAllocator has no reset(): leaving the blocks would leak them.
    with pytest.raises(ValueError):
        _bench.requests(segpy.SystemAllocator(), 16, 10, release=False)
    with pytest.raises(ValueError):
        _bench.requests(None, 16, 10, release=False)
    with pytest.raises(ValueError):
        _bench.request_only(segpy.SystemAllocator(), 16, 10)


def test_limit_failure_raises_memoryerror_and_cleans_up():
    a = segpy.SystemAllocator(max_bytes=16 * 10)
    with pytest.raises(MemoryError):
        _bench.requests(a, 16, 11)
    assert a.stats["bytes_in_use"] == 0
    with pytest.raises(MemoryError):
        _bench.random_free(a, 16, 11, np.arange(11))
    assert a.stats["bytes_in_use"] == 0
    with pytest.raises(MemoryError):
        _bench.lifo_pairs(a, [200], 3)
    assert a.stats["bytes_in_use"] == 0


def test_injected_os_failure_midway():
    a = segpy.SystemAllocator()
    a.inject_failure(after=5)
    with pytest.raises(MemoryError):
        _bench.realloc_after_random_free(a, 16, 10, np.arange(10))
    st = a.stats
    assert st["bytes_in_use"] == 0 and st["n_blocks"] == 0


def test_bump_reset_path_if_available():
    bump_mod = pytest.importorskip("segpy.bump")
    Bump = getattr(bump_mod, "BumpAllocator", None)
    if Bump is None:
        pytest.skip("segpy.bump.BumpAllocator not built in this branch")
    b = Bump()
    assert _bench.requests(b, 16, N) > 0            # released newest first: rolled back
    assert b.stats["bytes_in_use"] == 0
    b.reset()
    assert _bench.request_only(b, 16, N) > 0        # left live on purpose
    assert b.stats["n_blocks"] == N
    with pytest.raises(segpy.AllocatorError, match="live"):
        b.reset()                                   # refuses: nothing is freed


def test_asv_suite_runs_and_skips_missing(monkeypatch):
    import importlib
    import sys

    monkeypatch.setenv("SEGPY_BENCH_ALLOC_N", "256")
    bench_dir = str(REPO / "benchmarks")
    monkeypatch.syspath_prepend(bench_dir)
    for mod in [m for m in sys.modules if m == "benchmarks" or m.startswith("benchmarks.")]:
        monkeypatch.delitem(sys.modules, mod)
    m = importlib.import_module("benchmarks.bench_alloc")
    assert m.N_BLOCKS == 256
    for target in m.TARGETS:
        s = m.RandomFree()
        try:
            s.setup(target)
        except NotImplementedError:
            assert target in ("heap", "bump")
            continue
        assert s.track_random_free_64(target) > 0
        r = m.ReallocAfterRandomFree()
        r.setup(target, 16)
        assert r.track_realloc_after_random_free(target, 16) > 0
