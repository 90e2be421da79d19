"""The bump arena: block growth, rollback, grow, reset, scopes, limits, debug mode."""

import gc
import itertools
import mmap
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import segpy
from segpy.alloc import AllocatorError
from segpy.bump import BumpAllocator

PAGE = mmap.PAGESIZE


def sizes(arena):
    return [int(s) for s in arena.regions()["size"]]


def top(arena):
    """Address of the bump pointer (start of the current block + used)."""
    r = arena.regions()
    cur = [i for i in range(len(r)) if r["used"][i] > 0]
    i = cur[-1] if cur else 0
    return int(r["address"][i]) + int(r["used"][i])


# -- construction, growth -----------------------------------------------------------


def test_fresh_arena():
    a = BumpAllocator()
    assert a.name == "bump"
    assert a.max_bytes is None and not a.debug
    assert a.stats["bytes_mapped"] == 0 and a.stats["n_regions"] == 0
    assert len(a.regions()) == 0
    a.check()
    with pytest.raises(TypeError):
        a.blocks()
    assert "BumpAllocator" in repr(a)


@pytest.mark.parametrize("first, expect", [(0, 4096), (1, 4096), (4096, 4096),
                                           (5000, 8192), (1 << 16, 1 << 16)])
def test_first_block_rounding(first, expect):
    expect = max(expect, PAGE)
    a = BumpAllocator(first_block=first)
    assert a.first_block == expect
    a._request_raw(8)
    assert sizes(a) == [expect]


def test_bad_arguments():
    with pytest.raises(ValueError):
        BumpAllocator(-1)
    with pytest.raises(ValueError):
        BumpAllocator(first_block=-1)
    with pytest.raises(TypeError):
        BumpAllocator(1.5)
    a = BumpAllocator()
    with pytest.raises(ValueError):
        a.allocate(0)
    with pytest.raises(ValueError):
        a.allocate(8, align=3)
    with pytest.raises(ValueError):
        a._request_raw(8, align=3)
    with pytest.raises(ValueError):
        a._request_raw(0)
    assert a.stats["n_blocks"] == 0


def test_blocks_double_and_large_request():
    a = BumpAllocator()
    blocks = [a.allocate(1000) for _ in range(40)]
    s = sizes(a)
    assert s[0] == 4096
    for x, y in itertools.pairwise(s):
        assert y == 2 * x
    big = a.allocate(10 * s[-1])
    s2 = sizes(a)
    assert s2[-1] >= 10 * s[-1] + 8 and s2[-1] % PAGE == 0
    assert a.stats["bytes_mapped"] == sum(s2)
    assert a.stats["n_regions"] == len(s2)
    assert a.stats["bytes_in_use"] == 40 * 1000 + 10 * s[-1]
    a.check()
    del blocks, big


@pytest.mark.parametrize("align", [1, 2, 8, 16, 64, 256, 4096])
def test_alignment(align):
    a = BumpAllocator()
    addrs = []
    for n in (1, 3, 17, 100, 5000):
        addrs.append(a._request_raw(n, align))
    assert all(p % align == 0 for p in addrs)
    a.check()


def test_allocations_are_disjoint_and_writable():
    a = BumpAllocator()
    blocks = [a.allocate(n) for n in (1, 7, 64, 3000, 9000, 13)]
    arrays = [np.frombuffer(b, dtype=np.uint8) for b in blocks]
    for k, arr in enumerate(arrays):
        arr[:] = k
    for k, arr in enumerate(arrays):
        assert (arr == k).all()
    spans = sorted((b.address, b.address + b.nbytes) for b in blocks)
    for (_, e), (s, _) in itertools.pairwise(spans):
        assert e <= s


# -- release, rollback, grow ------------------------------------------------------


def test_rollback_of_last_allocation():
    a = BumpAllocator()
    p1 = a._request_raw(100)
    p2 = a._request_raw(100)
    a._release_raw(p2, 100)
    assert a._request_raw(100) == p2          # rolled back: same address again
    p3 = a._request_raw(50)
    a._release_raw(p1, 100)                   # not the last: a no-op for memory
    assert a._request_raw(50) > p3
    st_ = a.stats
    assert st_["n_blocks"] == 3 and st_["bytes_in_use"] == 200
    a.check()


def test_release_keeps_stats_exact():
    a = BumpAllocator()
    ps = [(a._request_raw(n), n) for n in range(1, 200, 7)]
    for p, n in ps[::2]:
        a._release_raw(p, n)
    live = ps[1::2]
    assert a.stats["n_blocks"] == len(live)
    assert a.stats["bytes_in_use"] == sum(n for _, n in live)
    assert a.stats["overhead_bytes"] == a.stats["bytes_mapped"] - a.stats["bytes_in_use"]
    assert sum(int(x) for x in a.regions()["n_blocks"]) == len(live)
    a.check()


def test_foreign_and_double_release_non_debug():
    a = BumpAllocator()
    p = a._request_raw(64)
    q = a._request_raw(64)
    buf = bytearray(64)
    with pytest.raises(AllocatorError, match="foreign"):
        a._release_raw(id(buf), 64)
    with pytest.raises(AllocatorError, match="foreign"):
        a._release_raw(8, 64)
    a._release_raw(q, 64)
    with pytest.raises(AllocatorError, match="double release"):
        a._release_raw(q, 64)                 # beyond the bump pointer now
    a._release_raw(p, 64)
    with pytest.raises(AllocatorError, match="double release"):
        a._release_raw(p, 64)                 # nothing live left
    assert a.stats["n_blocks"] == 0
    a.check()


def test_grow_in_place():
    a = BumpAllocator()
    b1 = a.allocate(100)
    b2 = a.allocate(100)
    assert not a.grow(b1, 200)                # not the most recent
    assert b1.nbytes == 100
    assert a.grow(b2, 1000)
    assert b2.nbytes == 1000 and len(memoryview(b2)) == 1000
    assert a.stats["bytes_in_use"] == 1100
    b3 = a.allocate(8)
    assert b3.address >= b2.address + 1000
    assert not a.grow(b2, 2000)
    assert a.grow(b3, 8)
    assert not a.grow(b3, 10 ** 9)            # no room in the block
    assert b3.nbytes == 8 and a.stats["bytes_in_use"] == 1108
    with pytest.raises(ValueError):
        a.grow(b3, 4)
    other = BumpAllocator().allocate(8)
    with pytest.raises(ValueError):
        a.grow(other, 16)
    a.check()
    b3.release()
    b2.release()
    b1.release()
    assert a.stats["bytes_in_use"] == 0


# -- reset ------------------------------------------------------------------------


def test_reset_keeps_largest_block():
    a = BumpAllocator()
    for _ in range(30):
        a._request_raw(2000)
    s = sizes(a)
    with pytest.raises(AllocatorError, match="live"):
        a.reset()
    assert sizes(a) == s
    # release everything (addresses are not needed for the accounting)
    r = a.regions()
    assert int(r["n_blocks"].sum()) == 30


def test_reset_after_release():
    a = BumpAllocator()
    ps = [a._request_raw(2000) for _ in range(30)]
    s = sizes(a)
    for p in ps:
        a._release_raw(p, 2000)
    a.reset()
    assert sizes(a) == [max(s)]
    st_ = a.stats
    assert st_["bytes_mapped"] == max(s) and st_["n_regions"] == 1
    assert a.regions()["used"][0] == 0
    base = int(a.regions()["address"][0])
    assert a._request_raw(8, 64) == base      # capacity retained, starts over
    a.check()


def test_reset_refused_with_live_list_or_block():
    a = BumpAllocator()
    lst = segpy.SegmentedList("q", range(1000), allocator=a)
    before = a.stats
    with pytest.raises(AllocatorError):
        a.reset()
    assert a.stats == before
    del lst
    gc.collect()
    b = a.allocate(10)
    with pytest.raises(AllocatorError):
        a.reset()
    del b
    a.reset()
    assert a.stats["n_regions"] == 1 and a.stats["bytes_in_use"] == 0


# -- scopes -----------------------------------------------------------------------


def test_scope_rewinds():
    a = BumpAllocator()
    keep = a.allocate(100)
    used0 = a.stats["bytes_in_use"]
    mark = top(a)
    with a.scope() as arena:
        assert arena is a
        addrs = [a._request_raw(300) for _ in range(50)]   # spans several blocks
        for p in addrs:
            a._release_raw(p, 300)
    assert a.stats["bytes_in_use"] == used0
    assert top(a) == mark
    mapped = a.stats["bytes_mapped"]
    with a.scope():
        again = [a._request_raw(300) for _ in range(50)]
        assert again == addrs                 # the same memory is reused
        for p in again:
            a._release_raw(p, 300)
    assert a.stats["bytes_mapped"] == mapped  # blocks cached, nothing new mapped
    assert a.stats["cached_bytes"] > 0
    a.check()
    del keep


def test_nested_scopes():
    a = BumpAllocator()
    a._request_raw(10)
    with a.scope():
        p1 = a._request_raw(100)
        m1 = top(a)
        with a.scope():
            p2 = a._request_raw(5000)
            a._release_raw(p2, 5000)
            q = a._request_raw(100)
            a._release_raw(q, 100)
        assert top(a) == m1
        a._release_raw(p1, 100)
    assert a.stats["bytes_in_use"] == 10
    a.check()


def test_scope_refused_with_live_allocation():
    a = BumpAllocator()
    with pytest.raises(AllocatorError, match="live"), a.scope():
        lst = segpy.SegmentedList("q", range(500), allocator=a)
        b = a.allocate(64)
        before = a.stats
        mark = top(a)
    assert a.stats == before and top(a) == mark
    assert list(lst) == list(range(500))      # memory still valid
    a.check()
    with pytest.raises(AllocatorError), a.scope():
        b2 = a.allocate(8)
    del b, b2, lst
    gc.collect()
    assert a.stats["n_blocks"] == 0
    a.check()


def test_scope_release_of_outer_allocation_inside():
    a = BumpAllocator()
    p = a._request_raw(100)
    with a.scope():
        q = a._request_raw(100)
        a._release_raw(p, 100)                # belongs to the outer frame
        a._release_raw(q, 100)
    assert a.stats["n_blocks"] == 0
    a.check()


def test_scope_enter_once():
    a = BumpAllocator()
    s = a.scope()
    with s:
        pass
    with pytest.raises(RuntimeError, match="only once"):
        s.__enter__()
    a.check()


def test_reset_refused_in_scope():
    a = BumpAllocator()
    with a.scope(), pytest.raises(AllocatorError, match="scope"):
        a.reset()


# -- lists --------------------------------------------------------------------------


def test_list_append_extend_clear():
    a = BumpAllocator()
    lst = segpy.SegmentedList("d", allocator=a)
    for i in range(3000):
        lst.append(i)
    lst.extend(np.arange(5000.0))
    assert len(lst) == 8000 and lst[2999] == 2999 and lst[-1] == 4999
    assert a.stats["bytes_in_use"] > 0
    a.check()
    lst.clear()
    assert a.stats["bytes_in_use"] == 0 and a.stats["n_blocks"] == 0
    lst.extend(range(10))
    assert list(lst) == list(range(10))
    a.check()


def test_lists_share_an_arena():
    a = BumpAllocator()
    lists = [segpy.SegmentedList("q", allocator=a) for _ in range(4)]
    for k in range(2000):
        for j, lst in enumerate(lists):
            lst.append(k * 10 + j)
    for j, lst in enumerate(lists):
        assert lst.to_numpy().tolist() == [k * 10 + j for k in range(2000)]
    del lst
    a.check()
    del lists[1]
    gc.collect()
    a.check()
    del lists
    gc.collect()
    assert a.stats["n_blocks"] == 0 and a.stats["bytes_in_use"] == 0
    a.reset()


def test_list_keeps_arena_alive():
    lst = segpy.SegmentedList("q", range(100), allocator=BumpAllocator())
    gc.collect()
    assert list(lst) == list(range(100))


def test_max_bytes_memory_error():
    a = BumpAllocator(max_bytes=64 * 1024)
    lst = segpy.SegmentedList("q", allocator=a)
    with pytest.raises(MemoryError, match=r"could not provide \d+ bytes.*limit would be "
                                          r"exceeded.*max_bytes 65536"):
        while True:
            before_list = len(lst)
            before = a.stats
            lst.append(len(lst))
    assert len(lst) == before_list and lst.to_numpy().tolist() == list(range(before_list))
    after = a.stats
    assert after.pop("n_limit_failures") == before.pop("n_limit_failures") + 1
    assert after == before                     # the arena is unchanged
    assert a.stats["bytes_mapped"] <= 64 * 1024
    a.check()
    # a multi-segment extend that fails part way leaves the list and the
    # bytes in use unchanged (blocks mapped for its first segments stay cached)
    in_use = a.stats["bytes_in_use"]
    with pytest.raises(MemoryError):
        lst.extend(range(100000))
    assert len(lst) == before_list and a.stats["bytes_in_use"] == in_use
    a.check()


def test_max_bytes_zero():
    a = BumpAllocator(max_bytes=0)
    with pytest.raises(MemoryError, match="limit"):
        a.allocate(1)
    assert a.stats["bytes_mapped"] == 0


def test_inject_failure():
    a = BumpAllocator()
    lst = segpy.SegmentedList("q", range(10), allocator=a)
    st_ = a.stats
    a.inject_failure()
    with pytest.raises(MemoryError, match="injected"):
        lst.extend(range(100000))
    assert list(lst) == list(range(10))
    after = a.stats
    assert after["n_os_failures"] == st_["n_os_failures"] + 1
    assert after["bytes_mapped"] == st_["bytes_mapped"]
    assert after["bytes_in_use"] == st_["bytes_in_use"]
    lst.extend(range(100000))                # the failure was one-shot
    assert len(lst) == 100010
    a.check()


def test_inject_failure_within_block_does_not_fire():
    a = BumpAllocator()
    a._request_raw(8)
    a.inject_failure()
    a._request_raw(8)                          # fits: no OS call
    with pytest.raises(MemoryError):
        a._request_raw(100000)
    a._request_raw(100000)


# -- debug mode -------------------------------------------------------------------


def test_debug_fill_and_blocks():
    a = BumpAllocator(debug=True)
    b = a.allocate(32, align=64)
    assert b.address % 64 == 0
    assert bytes(b) == bytes([0xCD]) * 32
    c = a.allocate(10)
    rows = a.blocks()
    assert rows.dtype.names == ("region", "offset", "size", "state")
    assert rows["size"].tolist() == [32, 10] and rows["state"].tolist() == [1, 1]
    base = int(a.regions()["address"][0])
    assert rows["offset"].tolist() == [b.address - base, c.address - base]
    assert a.stats["header_bytes"] == 2 * 32
    b.release()                                # not the last: stays, state 0
    rows = a.blocks()
    assert rows["state"].tolist() == [0, 1]
    view = (np.ctypeslib.as_array(
        (np.ctypeslib.ctypes.c_uint8 * 32).from_address(int(rows["offset"][0]) + base)))
    assert (view == 0xDD).all()
    a.check()
    c.release()
    a.check()


def test_debug_double_release():
    a = BumpAllocator(debug=True)
    p = a._request_raw(40)
    a._request_raw(8)
    a._release_raw(p, 40)
    with pytest.raises(AllocatorError, match="double release.*arena block 0 offset"):
        a._release_raw(p, 40)
    assert a.stats["n_blocks"] == 1


def test_debug_foreign_release():
    a = BumpAllocator(debug=True)
    p = a._request_raw(40)
    buf = bytearray(100)
    with pytest.raises(AllocatorError, match="foreign pointer.*not inside"):
        a._release_raw(id(buf), 40)
    with pytest.raises(AllocatorError, match="damaged|double"):
        a._release_raw(p + 8, 16)              # inside the block, not a payload
    with pytest.raises(AllocatorError, match="damaged"):
        a._release_raw(p, 41)                  # wrong size
    a._release_raw(p, 40)
    a.check()


def test_debug_overrun_detected_by_release_and_check():
    a = BumpAllocator(debug=True)
    b = a.allocate(24)
    keep = a.allocate(8)
    m = memoryview(b)
    arr = (np.ctypeslib.ctypes.c_uint8 * 1).from_address(b.address + 24)
    arr[0] = 0                                 # one byte past the end
    with pytest.raises(AllocatorError, match=r"damaged block.*offset \d+ size 24"):
        a.check()
    del m
    with pytest.raises(AllocatorError, match="damaged block.*guard"):
        b.release()
    assert not b.released
    arr[0] = 0xFD                              # repair, then it releases fine
    b.release()
    a.check()
    del keep


def test_debug_header_damage():
    a = BumpAllocator(debug=True)
    p = a._request_raw(24)
    (np.ctypeslib.ctypes.c_uint8 * 1).from_address(p - 16)[0] = 0
    with pytest.raises(AllocatorError, match="header"):
        a.check()
    with pytest.raises(AllocatorError, match="header"):
        a._release_raw(p, 24)
    (np.ctypeslib.ctypes.c_uint8 * 1).from_address(p - 16)[0] = 0x55
    a._release_raw(p, 24)


def test_debug_leak_warning():
    a = BumpAllocator(debug=True)
    a._request_raw(100)
    # The warning comes from the finaliser that gc.collect() runs.
    with pytest.warns(ResourceWarning, match=r"1 live block.*region 0 offset \d+ size 100"):  # noqa: PT031
        del a
        gc.collect()


def test_no_leak_warning_when_clean():
    a = BumpAllocator(debug=True)
    p = a._request_raw(100)
    a._release_raw(p, 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        del a
        gc.collect()


def test_debug_scope_and_list():
    a = BumpAllocator(debug=True)
    with a.scope():
        lst = segpy.SegmentedList("i", range(3000), allocator=a)
        a.check()
        assert len(a.blocks()) == a.stats["n_blocks"]
        del lst
    a.check()
    assert a.stats["n_blocks"] == 0
    a.reset()
    a.check()


def test_debug_grow():
    a = BumpAllocator(debug=True)
    b = a.allocate(16)
    assert a.grow(b, 100)
    assert bytes(b)[16:] == bytes([0xCD]) * 84
    a.check()
    assert a.blocks()["size"].tolist() == [100]
    b.release()
    a.check()


# -- random sequences ---------------------------------------------------------------

ops = st.lists(
    st.one_of(
        st.tuples(st.just("req"), st.integers(1, 6000), st.sampled_from([1, 8, 16, 64, 4096])),
        st.tuples(st.just("rel"), st.integers(0, 1000), st.just(0)),
        st.tuples(st.just("push"), st.just(0), st.just(0)),
        st.tuples(st.just("pop"), st.just(0), st.just(0)),
        st.tuples(st.just("reset"), st.just(0), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(ops=ops, debug=st.booleans())
def test_random_sequences(ops, debug):
    a = BumpAllocator(debug=debug, first_block=4096)
    live = []          # (address, nbytes, scope depth at allocation)
    depth = 0
    scopes = []
    for op, x, y in ops:
        if op == "req":
            p = a._request_raw(x, y)
            assert p % y == 0
            for q, n, _ in live:
                assert p + x <= q or q + n <= p
            live.append((p, x, depth))
        elif op == "rel" and live:
            p, n, _ = live.pop(x % len(live))
            a._release_raw(p, n)
        elif op == "push":
            depth += 1
            scopes.append(a.scope())
            scopes[-1].__enter__()
        elif op == "pop" and depth:
            inside = [t for t in live if t[2] >= depth]
            s = scopes.pop()
            depth -= 1
            if inside:
                before = a.stats
                with pytest.raises(AllocatorError):
                    s.__exit__(None, None, None)
                assert a.stats == before
                live = [(p, n, min(d, depth)) for p, n, d in live]
            else:
                s.__exit__(None, None, None)
        elif op == "reset":
            if live or depth:
                with pytest.raises(AllocatorError):
                    a.reset()
            else:
                a.reset()
        a.check()
        st_ = a.stats
        assert st_["n_blocks"] == len(live)
        assert st_["bytes_in_use"] == sum(n for _, n, _ in live)
        if debug:
            assert len(a.blocks()[a.blocks()["state"] == 1]) == len(live)
    for p, n, _ in live:
        a._release_raw(p, n)
    while scopes:
        scopes.pop().__exit__(None, None, None)
    a.check()
