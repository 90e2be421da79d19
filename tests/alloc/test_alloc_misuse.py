"""Allocator misuse that used to go undetected (docs/bad-input.md, class 9).

* Two BufferAllocators over the same (or overlapping) bytes are refused.
* A bump scope object exits its own frame once, or raises and changes
  nothing: no second exit, no exit without an enter, no out-of-order exit.
* Every walk over headers that live in caller-writable memory (the
  BufferAllocator's table is in the caller's own buffer) is bounds-checked:
  scribbled headers make the calls raise AllocatorError, with nothing
  changed, and never read or write outside the buffer (run under ASan in
  CI).  The Heap's introspection walks are bounded the same way.
"""

import ctypes
import gc
import mmap
import random
import struct

import numpy as np
import pytest

import segpy
from segpy import AllocatorError
from segpy.buffer import BufferAllocator
from segpy.bump import BumpAllocator
from segpy.heap import Heap

# ---------------------------------------------------------------------------
# Two allocators over one buffer.
# ---------------------------------------------------------------------------


def _fingerprint(a):
    st = dict(a.stats)
    st.pop("n_limit_failures")
    return st, a.blocks().tolist()


@pytest.mark.parametrize("make", [
    lambda: bytearray(8192),
    lambda: np.zeros(8192, np.uint8),
    lambda: mmap.mmap(-1, 8192),
], ids=["bytearray", "ndarray", "mmap"])
def test_second_allocator_over_the_same_buffer_is_refused(make):
    buf = make()
    a = BufferAllocator(buf)
    b = a.allocate(100)
    memoryview(b)[:] = b"x" * 100
    before = _fingerprint(a)
    with pytest.raises(ValueError, match="overlaps .* the buffer of a live BufferAllocator"):
        BufferAllocator(buf)
    assert _fingerprint(a) == before
    a.check()
    assert bytes(memoryview(b)) == b"x" * 100


def test_overlapping_slices_are_refused_and_disjoint_ones_accepted():
    buf = bytearray(8192)
    mv = memoryview(buf)
    a = BufferAllocator(mv[1024:4096])
    for lo, hi in [(0, 2048), (2048, 3000), (3000, 8192), (0, 8192), (4095, 6000)]:
        with pytest.raises(ValueError, match="overlaps"):
            BufferAllocator(mv[lo:hi])
    left = BufferAllocator(mv[0:1024])       # touching, not overlapping
    right = BufferAllocator(mv[4096:8192])
    assert left.allocate(8).address < a.allocate(8).address < right.allocate(8).address


def test_refusal_releases_the_export_and_a_dead_allocator_frees_its_range():
    buf = bytearray(4096)
    a = BufferAllocator(buf)
    with pytest.raises(ValueError, match="overlaps"):
        BufferAllocator(buf)
    del a
    gc.collect()
    buf.extend(b"more")          # no export left: the refused one released its own
    buf[:] = bytearray(4096)
    a2 = BufferAllocator(buf)    # the range is free again
    assert a2.allocate(64).nbytes == 64


def test_a_live_block_keeps_its_allocator_and_so_its_range():
    buf = bytearray(4096)
    a = BufferAllocator(buf)
    blk = a.allocate(64)
    del a
    gc.collect()
    with pytest.raises(ValueError, match="overlaps"):
        BufferAllocator(buf)
    del blk
    gc.collect()
    BufferAllocator(buf)


def test_sub_allocator_inside_a_live_block_is_allowed_once():
    buf = bytearray(1 << 14)
    outer = BufferAllocator(buf)
    blk = outer.allocate(4096)
    inner = BufferAllocator(blk)
    # The block's bytes belong to the inner allocator now: no second one,
    # not over a slice of it either.
    with pytest.raises(ValueError, match="overlaps"):
        BufferAllocator(memoryview(blk)[100:1000])
    lst = segpy.SegmentedList("q", range(100), allocator=inner)
    assert list(lst) == list(range(100))
    # Space of the outer allocator that no live block owns is still refused.
    free_space = memoryview(buf)[8192:12288]
    with pytest.raises(ValueError, match="overlaps"):
        BufferAllocator(free_space)
    # The block cannot go back while the inner allocator uses it.
    with pytest.raises(BufferError):
        blk.release()
    outer.check()
    inner.check()


def test_sub_allocator_over_a_list_segment_of_another_is_allowed():
    buf = bytearray(1 << 14)
    a = BufferAllocator(buf)
    lst = segpy.SegmentedList("u1", bytes(2048), allocator=a, first_segment=2048)
    seg = lst.segments()[0]
    inner = BufferAllocator(seg)
    assert inner.allocate(100).nbytes == 100
    with pytest.raises(ValueError, match="overlaps"):
        BufferAllocator(buf)


# ---------------------------------------------------------------------------
# Bump scopes.
# ---------------------------------------------------------------------------


def _arena_state(arena):
    return dict(arena.stats), arena.regions().tolist()


def test_second_exit_is_refused_and_the_enclosing_scope_survives():
    arena = BumpAllocator()
    keep = arena.allocate(100)               # outside every scope
    outer = arena.scope()
    outer.__enter__()
    inner = arena.scope()
    with inner:
        tmp = arena.allocate(1000)
        del tmp
    in_outer = arena.allocate(64)
    before = _arena_state(arena)
    with pytest.raises(RuntimeError, match="already exited"):
        inner.__exit__(None, None, None)
    assert _arena_state(arena) == before
    # The outer frame is still open: it owns in_outer and refuses to close
    # (rather than the second exit having closed it already).
    with pytest.raises(AllocatorError, match="live allocation"):
        outer.__exit__(None, None, None)
    del in_outer
    assert keep.nbytes == 100
    arena.check()


def test_outer_scope_rewinds_after_a_refused_second_exit():
    arena = BumpAllocator()
    keep = arena.allocate(100)
    with arena.scope():
        inner = arena.scope()
        with inner:
            pass
        with pytest.raises(RuntimeError, match="already exited"):
            inner.__exit__(None, None, None)
        blk = arena.allocate(4096)
        del blk
    # The outer scope's exit rewound its own allocations, and only those.
    assert arena.stats["bytes_in_use"] == 100
    assert keep.nbytes == 100
    arena.check()


def test_exit_without_enter_is_refused():
    arena = BumpAllocator()
    with arena.scope():
        blk = arena.allocate(64)
        before = _arena_state(arena)
        with pytest.raises(RuntimeError, match="never entered"):
            arena.scope().__exit__(None, None, None)
        assert _arena_state(arena) == before
        del blk
    assert arena.stats["bytes_in_use"] == 0
    arena.check()


def test_out_of_order_exit_is_refused_then_in_order_works():
    arena = BumpAllocator()
    outer, inner = arena.scope(), arena.scope()
    outer.__enter__()
    a = arena.allocate(64)
    inner.__enter__()
    b = arena.allocate(64)
    before = _arena_state(arena)
    with pytest.raises(RuntimeError, match="out of order: 1 scope"):
        outer.__exit__(None, None, None)
    assert _arena_state(arena) == before
    del b
    inner.__exit__(None, None, None)
    del a
    outer.__exit__(None, None, None)
    assert arena.stats["bytes_in_use"] == 0
    arena.check()


def test_busy_exit_closes_the_frame_once():
    # An exit refused for live allocations still closes the frame (they
    # move to the enclosing one); a second exit must not close another.
    arena = BumpAllocator()
    with arena.scope():
        s = arena.scope()
        s.__enter__()
        escaped = arena.allocate(64)
        with pytest.raises(AllocatorError, match="live allocation"):
            s.__exit__(None, None, None)
        with pytest.raises(RuntimeError, match="already exited"):
            s.__exit__(None, None, None)
        memoryview(escaped)[:] = b"z" * 64
        del escaped
    assert arena.stats["bytes_in_use"] == 0


def test_scope_type_cannot_be_made_from_python():
    arena = BumpAllocator()
    cls = type(arena.scope())
    with pytest.raises(TypeError, match="BumpAllocator.scope"):
        cls()
    with pytest.raises(TypeError, match="BumpAllocator.scope"):
        cls.__new__(cls)


# ---------------------------------------------------------------------------
# Damaged BufferAllocator headers.
# ---------------------------------------------------------------------------

HDR = 40                                  # sizeof(bufhdr_t) on 64-bit platforms
FIELDS = {"start": (0, "Q"), "end": (8, "Q"), "payload": (16, "Q"), "size": (24, "Q"),
          "state": (32, "I"), "magic": (36, "I")}


def _setup(debug, size=1 << 14):
    """An allocator with used and free blocks and a list on it."""
    buf = bytearray(size)
    a = BufferAllocator(buf, debug=debug)
    blocks = [a.allocate(n) for n in (64, 200, 64, 500, 64, 100, 64)]
    for k in (1, 3):                      # free blocks between used ones
        blocks[k].release()
    blocks = [b for b in blocks if not b.released]
    lst = segpy.SegmentedList("q", range(50), allocator=a, first_segment=16)
    return buf, a, blocks, lst


def _table(a, buf):
    """(offset of header 0 in buf, number of headers)."""
    base = int(a.regions()["address"][0])
    lim = ((base + len(buf)) & ~7) - base
    return lim, len(a.blocks())


def _hdr_offset(lim, i):
    return lim - (i + 1) * HDR


def _inside(buf, a, blk):
    base = int(a.regions()["address"][0])
    return base <= blk.address and blk.address + blk.nbytes <= base + len(buf)


def _exercise(buf, a, blocks, lst):
    """Call every method that walks or uses headers.  Each must succeed or
    raise a clean error; a failed allocator call leaves the buffer and the
    counters exactly as they were.  Returns the number of calls that raised."""
    clean = (AllocatorError, ValueError, MemoryError, BufferError)
    failures = 0
    ops = [("check", a.check), ("blocks", a.blocks), ("regions", a.regions),
           ("stats", lambda: a.stats), ("repr", lambda: repr(a))]
    for n in (8, 64, 300, 5000):
        ops.append((f"allocate {n}", lambda n=n: blocks.append(a.allocate(n))))
    for blk in list(blocks):
        ops.append(("grow", lambda blk=blk: a.grow(blk, blk.nbytes + 48)))
        ops.append(("release", blk.release))
    base = int(a.regions()["address"][0])
    for off in (0, 64, 8, len(buf) - 40, len(buf) - 8):
        ops.append(("_release_raw", lambda off=off: a._release_raw(base + off, 64)))
    for name, op in ops:
        before = (bytes(buf), _fingerprint_stats(a))
        try:
            op()
        except clean:
            failures += 1
            if name not in ("check", "blocks", "regions", "stats", "repr"):
                assert (bytes(buf), _fingerprint_stats(a)) == before, name
    for blk in blocks:
        if not blk.released:
            assert _inside(buf, a, blk)
    # The list's own walks over its segments, and its releases.
    for op in (lambda: lst.extend(range(500)), lambda: lst.to_numpy(), lambda: lst.clear(),
               lambda: lst.extend(range(100)), lambda: lst.__delitem__(slice(10, None))):
        try:
            op()
        except clean:
            failures += 1
    return failures


def _fingerprint_stats(a):
    st = dict(a.stats)
    st.pop("n_limit_failures")
    return st


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
@pytest.mark.parametrize("field", sorted(FIELDS))
@pytest.mark.parametrize("value", [0, 1, 7, 1 << 14, (1 << 14) + 4096, 2 ** 63, 2 ** 64 - 1],
                         ids=lambda v: hex(v))
def test_each_header_field_damaged(debug, field, value):
    buf, a, blocks, lst = _setup(debug)
    lim, n = _table(a, buf)
    off, fmt = FIELDS[field]
    if fmt == "I":
        value &= 0xFFFFFFFF
    for i in range(n):
        struct.pack_into("<" + fmt, buf, _hdr_offset(lim, i) + off, value)
    _exercise(buf, a, blocks, lst)


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_damage_is_reported_not_used(debug):
    # A free block whose end points past the buffer: the next request that
    # would carve it fails with AllocatorError instead of handing out
    # memory beyond the buffer, and nothing changes.
    buf = bytearray(1 << 14)
    a = BufferAllocator(buf, debug=debug)
    blocks = [a.allocate(n) for n in (64, 200, 64, 64)]
    blocks.pop(1).release()              # header 1 is free, between used 0 and 2
    lim, _ = _table(a, buf)
    assert a.blocks()["state"].tolist() == [1, 0, 1, 1]
    struct.pack_into("<Q", buf, _hdr_offset(lim, 1) + 8, len(buf) * 4)
    before = (bytes(buf), _fingerprint_stats(a))
    with pytest.raises(AllocatorError, match="damaged block"):
        a.allocate(64)
    assert (bytes(buf), _fingerprint_stats(a)) == before
    with pytest.raises(AllocatorError, match="damaged block"):
        a.check()
    with pytest.raises(AllocatorError, match="damaged block"):
        a.blocks()
    # Releasing either used neighbour of the damaged free block must not
    # merge with it.
    for blk in blocks[:2]:
        with pytest.raises(AllocatorError, match="damaged block"):
            blk.release()
        assert not blk.released
    assert (bytes(buf), _fingerprint_stats(a)) == before


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
@pytest.mark.parametrize("where", ["table", "anywhere"])
def test_random_scribbles(debug, where):
    rng = random.Random(1234 + debug)
    raised = 0
    for _ in range(60):
        buf, a, blocks, lst = _setup(debug)
        lim, n = _table(a, buf)
        lo = _hdr_offset(lim, n + 1) if where == "table" else 0
        for _ in range(rng.randint(1, 24)):
            k = rng.randrange(lo, len(buf))
            buf[k] = rng.randrange(256)
        if rng.random() < 0.5:            # a whole random header
            i = rng.randrange(n)
            buf[_hdr_offset(lim, i):_hdr_offset(lim, i) + HDR] = rng.randbytes(HDR)
        raised += _exercise(buf, a, blocks, lst)
    assert raised > 0                     # the damage was seen, not ignored


# ---------------------------------------------------------------------------
# The Heap: foreign addresses and damaged headers.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_heap_release_raw_of_any_address_in_a_region(debug):
    heap = Heap(debug=debug)
    live = [heap.allocate(n) for n in (16, 100, 1000, 40, 5000)]
    base = int(heap.regions()["address"][0])
    refused = 0
    for off in range(0, 12000, 8):
        for n in (1, 16, 1 << 40):
            try:
                heap._release_raw(base + off, n)
            except AllocatorError:
                refused += 1
    assert refused > 0
    del live
    gc.collect()


def test_heap_walks_refuse_a_damaged_size():
    heap = Heap()
    blocks = [heap.allocate(64) for _ in range(4)]
    heap.blocks()                        # drains any pending release
    # A stray write from C (ctypes here) over the size word of a header.
    word = ctypes.c_size_t.from_address(blocks[1].address - 8)
    saved = word.value
    word.value = (1 << 40) | 1
    for walk in (heap.blocks, heap.regions, heap.check):
        with pytest.raises(AllocatorError, match="damaged block"):
            walk()
    word.value = saved
    heap.check()
