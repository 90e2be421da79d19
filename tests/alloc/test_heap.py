"""segpy.heap.Heap: layout, split/coalesce, growth, region cache, limits, debug checks."""

import gc
import random
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import segpy
from segpy.alloc import AllocatorError
from segpy.heap import Heap

PAGE = 4096
ADEBUG_FILL_ALLOC = 0xCD
ADEBUG_FILL_FREE = 0xDD
ADEBUG_GUARD = 0xFD


def _release_all(h, blocks):
    """Release every block; the heap then checks out and holds nothing."""
    for b in blocks:
        b.release()
    h.check()
    assert h.stats["bytes_in_use"] == 0


def snapshot(h):
    st = dict(h.stats)
    return st, h.blocks().tobytes(), h.regions().tobytes()


def test_name_and_basic_stats():
    h = Heap()
    assert h.name == "heap"
    assert h.stats["bytes_mapped"] == 0
    b = h.allocate(100)
    st = h.stats
    assert st["bytes_in_use"] == 100 and st["n_blocks"] == 1 and st["n_regions"] == 1
    assert st["header_bytes"] == 16
    assert st["bytes_mapped"] == 4 * 1024 * 1024
    assert st["overhead_bytes"] == st["bytes_mapped"] - 100
    h.check()
    b.release()
    st = h.stats
    assert st["bytes_in_use"] == 0 and st["n_blocks"] == 0 and st["header_bytes"] == 0
    assert st["cached_bytes"] == st["bytes_mapped"]
    h.check()


@pytest.mark.parametrize("debug", [False, True])
def test_alignment_every_power_of_two(debug):
    h = Heap(debug=debug)
    blocks = []
    align = 1
    while align <= PAGE:
        for n in (1, 17, 100, 3000):
            h.blocks()
            b = h.allocate(n, align=align)
            assert b.address % align == 0
            blocks.append(b)
            h.check()
            # Waste: the used block holds at most header/debug + padding to 16 +
            # the alignment's leading gap never stays attached to it.
            rows = h.blocks()
            used = rows[rows["state"] == 1]
            assert used["size"].max() - 0 >= n
        align *= 2
    for b in blocks:
        h.blocks()
        b.release()
        h.check()
    assert h.stats["bytes_in_use"] == 0


def test_waste_bounded_by_alignment():
    h = Heap()
    for align in [2 ** k for k in range(13)]:
        b = h.allocate(48, align=align)
        rows = h.blocks()
        r = rows[(rows["state"] == 1)]
        regs = h.regions()
        ri = int(np.nonzero((regs["address"] <= b.address)
                            & (b.address < regs["address"] + regs["size"]))[0][0])
        off = b.address - int(regs["address"][ri])
        row = r[(r["offset"] == off) & (r["region"] == ri)]
        assert len(row) == 1
        # block payload = request rounded to 16 (plus nothing for alignment)
        assert row["size"][0] == 48
        b.release()
        h.check()
    assert h.stats["n_regions"] == 1


def test_split_and_coalesce_visible():
    h = Heap()
    a = h.allocate(64)
    b = h.allocate(64)
    c = h.allocate(64)
    rows = h.blocks()
    assert list(rows["state"]) == [1, 1, 1, 0]
    assert list(rows["size"][:3]) == [64, 64, 64]
    b.release()
    rows = h.blocks()
    assert list(rows["state"]) == [1, 0, 1, 0]
    h.check()
    a.release()
    rows = h.blocks()
    assert list(rows["state"]) == [0, 1, 0]
    assert rows["size"][0] == 64 + 16 + 64
    h.check()
    c.release()
    rows = h.blocks()
    assert list(rows["state"]) == [0]
    assert rows["size"][0] == 4 * 1024 * 1024 - 80
    h.check()


def test_grow_in_place():
    h = Heap()
    a = h.allocate(64)
    assert h.grow(a, 1000)
    assert a.nbytes == 1000
    assert h.stats["bytes_in_use"] == 1000
    h.check()
    b = h.allocate(64)
    assert not h.grow(a, 5000)      # b is in the way
    assert a.nbytes == 1000
    h.check()
    assert h.grow(a, 1000)          # same size: trivially
    assert h.grow(a, 1008)          # within the block's capacity
    with pytest.raises(ValueError):
        h.grow(a, 10)
    m = memoryview(a)
    with pytest.raises(BufferError):
        h.grow(a, 1020)
    del m
    # free b and the block after a opens up again
    b.release()
    assert h.grow(a, 100000)
    h.check()
    assert h.stats["bytes_in_use"] == 100000
    a.release()
    assert h.stats["bytes_in_use"] == 0
    h.check()


def test_grow_too_big_is_value_error():
    h = Heap()
    a = h.allocate(64)
    with pytest.raises(ValueError):
        h.grow(a, 1 << 60)
    a.release()


def test_header_bytes_debug():
    h = Heap(debug=True)
    bs = [h.allocate(10) for _ in range(3)]
    assert h.stats["header_bytes"] == 3 * (16 + 32 + 16)
    for b in bs:
        b.release()
    assert h.stats["header_bytes"] == 0
    h.check()


def test_messages_name_the_block():
    h = Heap()
    p = h._request_raw(64)
    keep = h._request_raw(64)
    h._release_raw(p, 64)
    with pytest.raises(AllocatorError, match=r"region 0 offset 64 size 64"):
        h._release_raw(p, 64)
    h._release_raw(keep, 64)


def test_grow_preserves_contents_debug():
    h = Heap(debug=True)
    a = h.allocate(40)
    np.frombuffer(a, np.uint8)[:] = 7
    assert h.grow(a, 200)
    arr = np.frombuffer(a, np.uint8)
    assert (arr[:40] == 7).all() and (arr[40:] == ADEBUG_FILL_ALLOC).all()
    del arr
    h.check()
    a.release()
    h.check()


def test_large_requests_get_own_region():
    h = Heap(region_size=1 << 20)
    small = h.allocate(100)
    big = h.allocate(3 << 20, align=64)
    regs = h.regions()
    assert len(regs) == 2
    assert sorted(regs["size"])[1] >= 3 << 20
    h.check()
    big.release()
    small.release()
    h.check()
    assert h.stats["cached_bytes"] == h.stats["bytes_mapped"]


def test_region_size_is_rounded_before_it_sets_the_large_threshold():
    # region_size=5000 is a two-page region: a request of 3000 bytes (under
    # half of 8192) shares it rather than getting a region of its own.
    h = Heap(region_size=5000)
    assert h.region_size == 8192
    b = h.allocate(3000)
    assert h.regions()["size"].tolist() == [8192]
    b.release()


def test_cached_regions_reused_and_trim():
    h = Heap()
    lst = segpy.SegmentedList("q", range(200000), allocator=h)
    calls = h.stats["n_os_calls"]
    del lst
    gc.collect()
    st = h.stats
    assert st["bytes_in_use"] == 0 and st["cached_bytes"] == st["bytes_mapped"] > 0
    lst = segpy.SegmentedList("q", range(200000), allocator=h)
    assert h.stats["n_os_calls"] == calls
    h.check()
    del lst
    mapped = h.stats["bytes_mapped"]
    assert h.trim() == mapped
    st = h.stats
    assert st["bytes_mapped"] == 0 and st["cached_bytes"] == 0 and st["n_regions"] == 0
    h.check()


def test_cache_bytes_zero_unmaps_at_once():
    h = Heap(cache_bytes=0)
    b = h.allocate(10)
    b.release()
    assert h.stats["bytes_mapped"] == 0 and h.stats["n_regions"] == 0
    h.check()


def test_max_bytes_memory_error_unchanged():
    h = Heap(max_bytes=4 * 1024 * 1024)
    keep = h.allocate(1000)
    before = snapshot(h)
    with pytest.raises(MemoryError, match=r"5000000 bytes.*limit"):
        h.allocate(5_000_000)
    after = snapshot(h)
    assert after[1:] == before[1:]
    st_b, st_a = before[0], after[0]
    assert st_a["n_limit_failures"] == st_b["n_limit_failures"] + 1
    for k in st_b:
        if k != "n_limit_failures":
            assert st_a[k] == st_b[k], k
    h.check()
    keep.release()


def test_small_max_bytes_maps_smaller_regions():
    h = Heap(max_bytes=100_000)
    bs = [h.allocate(1000) for _ in range(50)]
    st = h.stats
    assert st["bytes_mapped"] <= 100_000 and st["n_limit_failures"] == 0
    with pytest.raises(MemoryError, match="limit"):
        for _ in range(200):
            bs.append(h.allocate(1000))
    h.check()
    for b in bs:
        b.release()
    h.check()


def test_inject_failure():
    h = Heap()
    h.inject_failure()
    before = snapshot(h)
    with pytest.raises(MemoryError, match="injected"):
        h.allocate(10)
    assert snapshot(h)[1:] == before[1:]
    assert h.stats["n_os_failures"] == 1
    b = h.allocate(10)
    h.check()
    b.release()


def test_bad_arguments():
    h = Heap()
    with pytest.raises(ValueError):
        h.allocate(0)
    with pytest.raises(ValueError):
        h.allocate(10, align=3)
    with pytest.raises(ValueError):
        Heap(max_bytes=-1)
    with pytest.raises(TypeError):
        Heap(region_size=1.5)
    with pytest.raises(ValueError):
        h._request_raw(10, 3)


@pytest.mark.parametrize("debug", [False, True])
def test_foreign_pointer(debug):
    h = Heap(debug=debug)
    b = h.allocate(64)
    x = np.zeros(10)
    with pytest.raises(AllocatorError, match="foreign"):
        h._release_raw(x.ctypes.data, 8)
    with pytest.raises(AllocatorError, match="foreign"):
        h._release_raw(16, 8)
    # inside a region but not a block start
    with pytest.raises(AllocatorError):
        h._release_raw(b.address + 8, 8)
    h.check()
    b.release()
    h.check()


@pytest.mark.parametrize("debug", [False, True])
def test_double_release_raw(debug):
    h = Heap(debug=debug)
    p = h._request_raw(64)
    keep = h._request_raw(64)      # so p's block stays its own header
    q = h._request_raw(64)
    h._release_raw(p, 64)
    with pytest.raises(AllocatorError, match="double release"):
        h._release_raw(p, 64)
    h.check()
    h._release_raw(q, 64)
    h._release_raw(keep, 64)
    h.check()
    assert h.stats["n_blocks"] == 0


def test_double_release_merged_debug():
    h = Heap(debug=True)
    a = h._request_raw(64)
    b = h._request_raw(64)
    c = h._request_raw(64)
    h._release_raw(a, 64)
    h._release_raw(b, 64)          # merges into a: b's header becomes free memory
    with pytest.raises(AllocatorError, match="double release"):
        h._release_raw(b, 64)
    h.check()
    h._release_raw(c, 64)
    h.check()


def test_overflow_detected_at_release_and_check():
    h = Heap(debug=True)
    b = h.allocate(20)
    addr = b.address
    arr = np.frombuffer(b, np.uint8)
    # write one byte past the end through a raw view of the following memory
    import ctypes
    ctypes.memset(addr + 20, 0x41, 1)
    del arr
    with pytest.raises(AllocatorError, match=r"damaged block.*region 0 offset \d+ size \d+"):
        h.check()
    with pytest.raises(AllocatorError, match="past its end"):
        b.release()
    assert not b.released
    ctypes.memset(addr + 20, ADEBUG_GUARD, 1)   # repair, then it releases
    h.check()
    b.release()
    h.check()


def test_underflow_detected():
    import ctypes
    h = Heap(debug=True)
    b = h.allocate(20)
    ctypes.memset(b.address - 1, 0, 1)
    with pytest.raises(AllocatorError, match="guard"):
        h.check()
    with pytest.raises(AllocatorError, match="guard"):
        b.release()
    ctypes.memset(b.address - 1, ADEBUG_GUARD, 1)
    b.release()


def test_header_corruption_detected():
    import ctypes
    h = Heap()
    a = h.allocate(64)
    b = h.allocate(64)
    ctypes.memset(b.address - 8, 0x7F, 8)       # smash b's size word
    with pytest.raises(AllocatorError, match="damaged"):
        h.check()
    ctypes.memmove(b.address - 8, (ctypes.c_size_t * 1)(80 | 1), 8)
    h.check()
    a.release()
    b.release()
    h.check()


def test_fill_patterns():
    h = Heap(debug=True)
    b = h.allocate(100)
    arr = np.frombuffer(b, np.uint8)
    assert (arr == ADEBUG_FILL_ALLOC).all()
    arr[:] = 1
    addr = b.address
    del arr
    keep = h.allocate(16)              # keeps the region from being unmapped
    b.release()
    import ctypes
    raw = ctypes.string_at(addr + 16, 64)    # past the free-list links
    assert set(raw) == {ADEBUG_FILL_FREE}
    keep.release()


def test_leak_report():
    h = Heap(debug=True)
    h._request_raw(123)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        del h
        gc.collect()
    msgs = [str(x.message) for x in w if issubclass(x.category, ResourceWarning)]
    assert any("123 bytes" in m and "region 0 offset" in m for m in msgs)


def test_no_leak_report_without_debug():
    h = Heap()
    h._request_raw(123)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        del h
        gc.collect()
    assert not [x for x in w if issubclass(x.category, ResourceWarning)]


def test_many_random_frees_coalesce_to_one_block():
    h = Heap()
    addrs = [h._request_raw(64) for _ in range(20000)]
    random.Random(1).shuffle(addrs)
    for a in addrs[:10000]:
        h._release_raw(a, 64)
    h.check()
    for a in addrs[10000:]:
        h._release_raw(a, 64)
    h.check()
    rows = h.blocks()
    assert (rows["state"] == 0).all()
    assert len(rows) == h.stats["n_regions"]
    assert h.stats["bytes_in_use"] == 0


@pytest.mark.parametrize("debug", [False, True])
def test_segmented_list_on_heap(debug):
    h = Heap(debug=debug)
    lst = segpy.SegmentedList("q", allocator=h)
    for i in range(1000):
        lst.append(i)
    lst.extend(range(50000))
    assert lst[999] == 999 and lst[-1] == 49999
    h.check()
    lst.reserve(200000)
    dup = lst.copy()
    h.check()
    del dup
    lst.clear()
    h.check()
    lst.extend(np.arange(30000))
    assert int(lst[29999]) == 29999
    del lst
    gc.collect()
    assert h.stats["bytes_in_use"] == 0 and h.stats["n_blocks"] == 0
    h.check()


OPS = st.lists(
    st.tuples(st.sampled_from(["alloc", "free", "grow", "trim"]), st.integers(1, 70000),
              st.sampled_from([1, 8, 16, 64, 256, 4096]), st.integers(0, 10 ** 6)),
    max_size=100)


@settings(max_examples=500, deadline=None)
@given(OPS, st.booleans())
def test_random_sequences(ops, debug):
    h = Heap(debug=debug, region_size=64 * 1024, cache_bytes=128 * 1024)
    live = []    # (block, fill byte)
    counter = 0
    for op, n, align, pick in ops:
        if op == "alloc" or not live:
            b = h.allocate(n, align=align)
            assert b.address % align == 0
            counter = (counter % 250) + 1
            np.frombuffer(b, np.uint8)[:] = counter
            live.append((b, counter))
        elif op == "trim":
            before = h.stats
            given = h.trim()
            assert given == before["cached_bytes"]
            assert h.stats["bytes_mapped"] == before["bytes_mapped"] - given
        elif op == "free":
            b, _ = live.pop(pick % len(live))
            b.release()
        else:
            b, fill = live[pick % len(live)]
            old = b.nbytes
            if h.grow(b, old + n):
                np.frombuffer(b, np.uint8)[old:] = fill
        h.check()
        for b, fill in live:
            assert (np.frombuffer(b, np.uint8) == fill).all()
        assert h.stats["bytes_in_use"] == sum(b.nbytes for b, _ in live)
        assert h.stats["n_blocks"] == len(live)
    _release_all(h, [b for b, _ in live])


@pytest.mark.parametrize("debug", [False, True])
def test_aligned_exact_fit_after_gap_keeps_boundary_tag(debug):
    # Regression: an aligned request that used all of a free block after
    # splitting off the alignment gap left the next header's prev_size at the
    # old (pre-gap) size; check() then failed and a later release that
    # coalesced backwards read a wrong predecessor.  This is the segment
    # pattern of a list (s0 = 1, 12-byte records, 64-byte aligned segments)
    # and its copies that first exposed it (as a bytes_in_use drift in debug).
    h = Heap(debug=debug)
    sizes = [12, 24, 48, 96, 192, 384]

    def make():
        blocks = []
        for n in sizes:
            blocks.append(h.allocate(n, align=64))
            h.check()
        return blocks

    def drop(blocks):
        for b in reversed(blocks):
            h.release(b)
            h.check()

    keep = make()
    drop(make())
    old = None
    for _ in range(4):
        new = make()
        if old:
            drop(old)
        old = new
        drop(make())
    drop(old)
    drop(keep)
    assert h.stats["bytes_in_use"] == 0
    assert h.stats["n_blocks"] == 0


def test_aligned_exact_fit_after_gap_constructed():
    # The same boundary-tag rule, built directly.  A free 144-byte block whose
    # payload sits 48 (mod 64) bytes past a 64-byte boundary, asked for 48
    # bytes aligned to 64: the gap is 16 + 64 (a gap must hold a free
    # block), which leaves exactly the 64-byte block the request needs.
    h = Heap()
    front = h.allocate(32)                      # 48-byte block, payload at 64
    hole = h.allocate(128)                      # 144-byte block, payload at 112
    back = h.allocate(16)                       # keeps the hole from merging onward
    assert [r["offset"] for r in h.blocks()][:3] == [64, 112, 256]
    hole.release()
    exact = h.allocate(48, align=64)
    assert exact.address % 64 == 0
    assert [(r["offset"], r["size"], r["state"]) for r in h.blocks()][:3] == \
        [(64, 32, 1), (112, 64, 0), (192, 48, 1)]
    h.check()
    back.release()          # coalesces backwards through the boundary tag
    h.check()
    exact.release()
    front.release()
    h.check()
    assert h.stats["n_blocks"] == 0


def test_pending_free_blocks_grow_trim_and_refill():
    # Released blocks are coalesced at once but filed in their buckets
    # lazily (pending).  Every path that takes a free block must accept a
    # pending one: growing into it, trimming its region, and requests that
    # search the buckets (which file the pending blocks first).
    h = Heap(region_size=64 * 1024, cache_bytes=1 << 20)
    a, b, c, d = (h.allocate(200) for _ in range(4))
    b.release()                                   # pending, between used a and c
    h.check()
    assert h.grow(a, 200 + 150)                   # into the pending neighbour
    h.check()
    d.release()
    c.release()                                   # merges with pending d (and the dv)
    h.check()
    big = h.allocate(1000, align=256)             # searches the buckets
    assert big.address % 256 == 0
    h.check()
    for blk in (a, big):
        blk.release()
        h.check()
    assert h.stats["n_blocks"] == 0
    assert h.trim() > 0                           # the empty region, pending or not
    h.check()
    assert h.stats["bytes_mapped"] == 0


def test_random_order_release_then_refill_is_contiguous():
    # After 2000 blocks are freed in random order they are one free block
    # again, so the next 2000 requests are carved in address order.
    h = Heap()
    rng = random.Random(5)
    blocks = [h.allocate(64) for _ in range(2000)]
    first = [b.address for b in blocks]
    order = list(range(len(blocks)))
    rng.shuffle(order)
    for i in order:
        blocks[i].release()
    h.check()
    assert sum(1 for r in h.blocks() if r["state"] == 0) == 1
    again = [h.allocate(64) for _ in range(2000)]
    h.check()
    assert [b.address for b in again] == first
    for b in again:
        b.release()


# ---------------------------------------------------------------------------
# Deferred coalescing: releases stay pending until a drain.
# ---------------------------------------------------------------------------

def _layout(h):
    """(address, size, state) of every block, in address order (drains)."""
    regs = h.regions()
    return [(int(regs["address"][r["region"]]) + int(r["offset"]), int(r["size"]), int(r["state"]))
            for r in h.blocks()]


def test_release_defers_coalescing_until_a_drain():
    h = Heap()
    blocks = [h.allocate(64) for _ in range(6)]
    for i in (1, 2, 4):
        blocks[i].release()
    assert h._n_pending == 3          # marked free, not merged yet
    h.check()                         # checks the uncoalesced heap, then drains
    assert h._n_pending == 0
    assert [(s, st) for _, s, st in _layout(h)][:5] == \
        [(64, 1), (64 + 16 + 64, 0), (64, 1), (64, 0), (64, 1)]
    h.check()


def test_release_next_to_the_dv_merges_the_pending_run_at_once():
    h = Heap()
    blocks = [h.allocate(64) for _ in range(5)]       # the dv follows blocks[4]
    blocks[2].release()
    blocks[3].release()
    assert h._n_pending == 2
    blocks[4].release()               # borders the dv: no deferral
    assert h._n_pending == 0
    assert [st for _, _, st in _layout(h)] == [1, 1, 0]
    h.check()


@pytest.mark.parametrize("sweep_min", [0, 1 << 40], ids=["sweep", "one-by-one"])
@pytest.mark.parametrize("seed", range(4))
def test_drain_coalesces_like_an_oracle(sweep_min, seed):
    # Both ways of draining must leave exactly the maximal free runs of the
    # table the blocks were carved in.
    rng = random.Random(seed)
    h = Heap(region_size=1 << 16, cache_bytes=1 << 30)
    h._sweep_min = sweep_min
    blocks = [h.allocate(rng.choice([1, 16, 48, 64, 200, 1000, 5000])) for _ in range(3000)]
    before = _layout(h)
    gone = set()
    for i in rng.sample(range(len(blocks)), 2000):
        gone.add(blocks[i].address)
        blocks[i].release()
    assert h._n_pending > 1000
    want = []
    for addr, size, state in before:
        free = state == 0 or addr in gone
        if free and want and want[-1][2] == 0 and want[-1][0] + want[-1][1] + 16 == addr:
            want[-1] = (want[-1][0], want[-1][1] + 16 + size, 0)
        else:
            want.append((addr, size, 0 if free else 1))
    h.check()
    assert _layout(h) == want
    assert h._n_pending == 0


def test_bulk_release_drains_once_past_cache_bytes():
    # Deferred bytes past cache_bytes drain inside the release, so memory
    # released in bulk reaches the region cache (and past it, the OS) even
    # if nothing else is asked of the heap.
    h = Heap(region_size=1 << 16, cache_bytes=1 << 16)
    addrs = [h._request_raw(64) for _ in range(4000)]
    mapped = h.regions()["size"].sum()
    assert mapped >= 4 << 16
    random.Random(2).shuffle(addrs)
    for a in addrs:
        h._release_raw(a, 64)
    assert 0 < h._n_pending * 80 <= (1 << 16) + 80
    st = h.stats
    assert st["bytes_in_use"] == 0 and st["n_blocks"] == 0
    assert st["cached_bytes"] == st["bytes_mapped"] <= 1 << 16
    h.check()


def test_deferred_double_release_is_refused():
    h = Heap()
    a = h._request_raw(64)
    keep = [h._request_raw(64) for _ in range(2)]
    h._release_raw(a, 64)
    assert h._n_pending == 1
    with pytest.raises(AllocatorError, match="already"):
        h._release_raw(a, 64)         # still pending: refused, nothing drained
    assert h._n_pending == 1
    before = snapshot(h)
    with pytest.raises(AllocatorError, match="already"):
        h._release_raw(a, 64)         # drained and filed: refused as well
    assert snapshot(h) == before
    for k in keep:
        h._release_raw(k, 64)
    h.check()


@pytest.mark.parametrize("align", [8, 64])
def test_block_released_last_is_reused_at_the_same_size(align):
    # a's release is deferred (its neighbours are used, neither is the dv);
    # the next request of its size takes it back as it is, without a drain.
    h = Heap()
    a = h.allocate(8192, align)
    b = h.allocate(8192, align)
    c = h.allocate(100)
    addr = a.address
    a.release()
    d = h.allocate(8192, align)
    assert d.address == addr
    h.check()
    st = h.stats
    assert st["bytes_in_use"] == 8192 * 2 + 100 and st["n_blocks"] == 3
    # Another size is not served from it: a drain files it first.
    d.release()
    e = h.allocate(4000, align)
    h.check()
    _release_all(h, [b, c, e])


@pytest.mark.parametrize("debug", [False, True])
def test_large_blocks_start_on_a_page(debug):
    h = Heap(debug=debug)
    small = h.allocate(100)
    big = [h.allocate(n, 64) for n in (65536, 100_000, 1 << 20)]
    if not debug:
        # (debug mode keeps its guard prefix before the user bytes)
        assert all(x.address % PAGE == 0 for x in big)
    assert h.allocate(65535, 64).address % 64 == 0
    h.check()
    _release_all(h, big + [small])
