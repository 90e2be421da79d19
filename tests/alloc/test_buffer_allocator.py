"""BufferAllocator: a caller's buffer as the arena (layout, reuse, growth, limits, debug mode)."""

import gc
import itertools
import mmap
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import segpy
from segpy.alloc import AllocatorError
from segpy.buffer import BufferAllocator

GUARD = 16


def base_of(a):
    return int(a.regions()["address"][0])


def offset_of(a, block):
    return block.address - base_of(a)


def fill(block, value):
    memoryview(block)[:] = bytes([value]) * block.nbytes


# ---------------------------------------------------------------------------
# Construction: which buffers are accepted, and the export being held.
# ---------------------------------------------------------------------------

def test_bytearray_basics():
    buf = bytearray(4096)
    a = BufferAllocator(buf)
    st_ = a.stats
    assert a.name == "buffer"
    assert a.buffer is buf
    assert st_["bytes_mapped"] == 4096
    assert st_["n_regions"] == 1
    assert st_["max_bytes"] == 4096          # the buffer is the bound by default
    assert st_["bytes_in_use"] == 0 and st_["header_bytes"] == 0
    r = a.regions()
    assert len(r) == 1 and r["size"][0] == 4096 and r["index"][0] == 0
    a.check()


def test_numpy_array_and_data_lands_in_it():
    arr = np.zeros(1 << 14, dtype=np.uint8)
    a = BufferAllocator(arr)
    assert base_of(a) == arr.ctypes.data
    b = a.allocate(100)
    fill(b, 0x5A)
    off = offset_of(a, b)
    assert (arr[off:off + 100] == 0x5A).all()
    assert a.blocks()["offset"][0] == off
    b.release()


def test_numpy_non_contiguous_refused():
    arr = np.zeros((64, 64), dtype=np.uint8)
    with pytest.raises(ValueError, match="not C-contiguous"):
        BufferAllocator(arr[:, ::2])
    with pytest.raises(ValueError, match="not C-contiguous"):
        BufferAllocator(arr.T)


def test_read_only_refused():
    arr = np.zeros(4096, dtype=np.uint8)
    arr.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        BufferAllocator(arr)
    with pytest.raises(ValueError, match="read-only"):
        BufferAllocator(bytes(4096))


def test_non_buffer_and_bad_arguments_refused():
    with pytest.raises(TypeError):
        BufferAllocator([0] * 4096)
    with pytest.raises(TypeError):
        BufferAllocator(4096)
    with pytest.raises(ValueError, match="too small"):
        BufferAllocator(bytearray(64))
    with pytest.raises(ValueError):
        BufferAllocator(bytearray(4096), max_bytes=-1)
    with pytest.raises(TypeError):
        BufferAllocator(bytearray(4096), max_bytes=1.5)


def test_refused_buffer_is_not_held():
    buf = bytearray(64)
    with pytest.raises(ValueError):
        BufferAllocator(buf)
    buf.extend(b"x")          # no export left behind


def test_bytearray_export_held_while_alive():
    buf = bytearray(4096)
    a = BufferAllocator(buf)
    with pytest.raises(BufferError):
        buf.extend(b"more")
    del a
    gc.collect()
    buf.extend(b"more")
    assert len(buf) == 4100


def test_mmap_export_held_and_data_lands_in_it():
    m = mmap.mmap(-1, 1 << 16)
    a = BufferAllocator(m)
    b = a.allocate(16, align=64)
    memoryview(b)[:] = b"0123456789abcdef"
    off = offset_of(a, b)
    assert m[off:off + 16] == b"0123456789abcdef"
    with pytest.raises(BufferError):
        m.close()
    del b
    del a
    gc.collect()
    m.close()


def test_list_keeps_allocator_and_buffer_alive():
    buf = bytearray(1 << 16)
    lst = segpy.SegmentedList("q", range(100), allocator=BufferAllocator(buf))
    gc.collect()
    with pytest.raises(BufferError):
        buf.extend(b"x")
    assert lst.to_numpy().tolist() == list(range(100))
    del lst
    gc.collect()
    buf.extend(b"x")


# ---------------------------------------------------------------------------
# Layout, reuse, merging, growth, alignment.
# ---------------------------------------------------------------------------

def test_headers_at_the_end():
    buf = bytearray(4096)
    a = BufferAllocator(buf)
    blocks = [a.allocate(100) for _ in range(3)]
    hdr = a.stats["header_bytes"]
    assert hdr > 0 and hdr % 3 == 0
    # Data at the bottom, the header table at the top: the top `hdr` bytes
    # changed, the bytes between the data and the table did not.
    data_end = max(offset_of(a, b) + b.nbytes for b in blocks)
    lim = (base_of(a) + 4096) // 8 * 8 - base_of(a)
    assert any(buf[lim - hdr:lim])
    assert not any(buf[data_end:lim - hdr])
    assert [offset_of(a, b) for b in blocks] == sorted(offset_of(a, b) for b in blocks)
    del blocks
    gc.collect()
    assert a.stats["header_bytes"] == 0 and a.stats["bytes_in_use"] == 0
    a.check()


def test_free_space_reused_and_neighbours_merge():
    a = BufferAllocator(bytearray(1 << 14))
    b1, b2, b3, b4 = (a.allocate(256) for _ in range(4))
    offs = [offset_of(a, b) for b in (b1, b2, b3, b4)]
    b2.release()
    b3.release()
    a.check()
    blk = a.blocks()
    free = blk[blk["state"] == 0]
    assert len(free) == 1                    # merged into one
    assert free["offset"][0] == offs[1]
    assert free["size"][0] >= 512
    b5 = a.allocate(400)                     # first fit: into the merged hole
    assert offs[1] <= offset_of(a, b5) < offs[3]
    a.check()
    b1.release()
    b5.release()
    b4.release()
    a.check()
    assert len(a.blocks()) == 0 and a.stats["header_bytes"] == 0


def test_top_block_grows_in_place():
    buf = bytearray(1 << 14)
    a = BufferAllocator(buf)
    b = a.allocate(100)
    fill(b, 7)
    addr = b.address
    assert a.grow(b, 1000)
    assert b.nbytes == 1000 and b.address == addr and len(memoryview(b)) == 1000
    assert bytes(memoryview(b)[:100]) == bytes([7]) * 100
    assert a.stats["bytes_in_use"] == 1000
    assert a.stats["peak_bytes_in_use"] == 1000
    a.check()
    assert not a.grow(b, 1 << 20)            # no room: unchanged
    assert b.nbytes == 1000
    with pytest.raises(ValueError):
        a.grow(b, 10)
    b.release()
    with pytest.raises(ValueError):
        a.grow(b, 2000)


def test_grow_into_following_free_block():
    a = BufferAllocator(bytearray(1 << 14))
    b1, b2, b3 = (a.allocate(256) for _ in range(3))
    fill(b1, 1)
    assert not a.grow(b1, 400)               # b2 is in the way
    b2.release()
    assert a.grow(b1, 400)                   # takes part of the hole
    a.check()
    assert a.grow(b1, 256 + 256)             # and then the rest of it
    a.check()
    assert bytes(memoryview(b1)[:256]) == bytes([1]) * 256
    assert not a.grow(b1, 2000)
    del b1, b3
    gc.collect()
    a.check()


@pytest.mark.parametrize("align", [1, 2, 8, 64, 256, 4096])
def test_alignment(align):
    a = BufferAllocator(bytearray(1 << 16))
    blocks = [a.allocate(n, align=align) for n in (1, 3, 17, 100)]
    for b in blocks:
        assert b.address % align == 0
    a.check()


def test_alignment_on_a_misaligned_buffer():
    arr = np.zeros(1 << 14, dtype=np.uint8)
    a = BufferAllocator(arr[3:])             # base not even 8-aligned
    b = a.allocate(10, align=64)
    assert b.address % 64 == 0
    c = a.allocate(10, align=8)
    assert c.address % 8 == 0
    a.check()


def test_filling_the_buffer_raises_memory_error_unchanged():
    a = BufferAllocator(bytearray(8192))
    blocks = []
    with pytest.raises(MemoryError, match=r"buffer allocator could not provide 1000 bytes"):
        while True:
            blocks.append(a.allocate(1000))
    before = (a.stats, a.blocks().tolist())
    with pytest.raises(MemoryError):
        a.allocate(1000)
    after = (a.stats, a.blocks().tolist())
    assert before[1] == after[1]
    for k in ("bytes_in_use", "n_blocks", "header_bytes", "n_alloc"):
        assert before[0][k] == after[0][k]
    assert after[0]["n_limit_failures"] == before[0]["n_limit_failures"] + 1
    assert len(blocks) >= 7
    a.check()
    # Small requests still fit in what is left.
    a.allocate(8).release()


def test_max_bytes_bounds_bytes_in_use():
    a = BufferAllocator(bytearray(1 << 16), max_bytes=1000)
    b = a.allocate(600)
    with pytest.raises(MemoryError, match="limit"):
        a.allocate(600)
    assert not a.grow(b, 1200)
    assert a.grow(b, 1000)
    assert a.stats["bytes_in_use"] == 1000
    a.check()


def test_inject_failure_has_no_effect():
    a = BufferAllocator(bytearray(4096))
    a.inject_failure(0)
    a.allocate(10).release()
    assert a.stats["n_os_calls"] == 0 and a.stats["n_os_failures"] == 0


def test_segmented_list_until_memory_error_keeps_data():
    a = BufferAllocator(bytearray(1 << 20))
    lst = segpy.SegmentedList("q", allocator=a)
    n = 0
    with pytest.raises(MemoryError):
        while True:
            lst.append(n)
            n += 1
    assert len(lst) == n
    assert n > 1000
    assert (lst.to_numpy() == np.arange(n)).all()
    a.check()
    assert a.stats["bytes_in_use"] <= 1 << 20
    del lst
    gc.collect()
    assert a.stats["bytes_in_use"] == 0
    a.check()


# ---------------------------------------------------------------------------
# Misuse through the raw test hooks.
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("debug", [False, True])
def test_foreign_and_double_release(debug):
    a = BufferAllocator(bytearray(1 << 14), debug=debug)
    p = a._request_raw(100, 64)
    q = a._request_raw(100, 64)
    assert p % 64 == 0
    with pytest.raises(AllocatorError, match="outside the buffer"):
        a._release_raw(1234, 100)
    with pytest.raises(AllocatorError, match="outside the buffer"):
        a._release_raw(base_of(a) + (1 << 20), 100)
    with pytest.raises(AllocatorError, match="foreign.*not its start"):
        a._release_raw(p + 8, 100)
    with pytest.raises(AllocatorError, match="not the start of a block"):
        a._release_raw(base_of(a) + (1 << 14) - 8, 8)     # inside the header table
    if p != base_of(a):                                    # padding / guard before block 0
        with pytest.raises(AllocatorError, match="not the start of a block"):
            a._release_raw(base_of(a), 8)
    with pytest.raises(AllocatorError, match="has size 100"):
        a._release_raw(p, 99)
    a.check()
    a._release_raw(p, 100)
    with pytest.raises(AllocatorError, match="double release"):
        a._release_raw(p, 100)
    a._release_raw(q, 100)
    with pytest.raises(AllocatorError, match="double release"):
        a._release_raw(q, 100)
    a.check()
    assert a.stats["bytes_in_use"] == 0


def test_raw_hooks_bad_arguments():
    a = BufferAllocator(bytearray(4096))
    with pytest.raises(ValueError):
        a._request_raw(0)
    with pytest.raises(ValueError):
        a._request_raw(8, 3)
    with pytest.raises(MemoryError):
        a._request_raw(1 << 30)


# ---------------------------------------------------------------------------
# Debug mode.
# ---------------------------------------------------------------------------

def test_debug_fill_and_guards():
    buf = bytearray(8192)
    a = BufferAllocator(buf, debug=True)
    b = a.allocate(32)
    off = offset_of(a, b)
    assert bytes(memoryview(b)) == b"\xcd" * 32
    assert buf[off - GUARD:off] == b"\xfd" * GUARD
    assert buf[off + 32:off + 32 + GUARD] == b"\xfd" * GUARD
    assert a.stats["header_bytes"] > 2 * GUARD
    c = a.allocate(8)                        # keeps b from being the top block
    b.release()
    assert buf[off:off + 32] == b"\xdd" * 32
    c.release()


def test_debug_write_past_end_detected_by_check_and_release():
    buf = bytearray(8192)
    a = BufferAllocator(buf, debug=True)
    b = a.allocate(32)
    off = offset_of(a, b)
    buf[off + 32] = 0                        # one byte past the end
    with pytest.raises(AllocatorError, match=rf"write past the end of the block at offset {off} \(size 32\)"):
        a.check()
    with pytest.raises(AllocatorError, match="damaged block"):
        b.release()
    assert not b.released
    with pytest.raises(AllocatorError):
        a.grow(b, 64)
    buf[off + 32] = 0xFD                     # repair, then it works
    a.check()
    b.release()


def test_debug_write_before_start_detected():
    buf = bytearray(8192)
    a = BufferAllocator(buf, debug=True)
    b = a.allocate(32)
    off = offset_of(a, b)
    buf[off - 1] = 1
    with pytest.raises(AllocatorError, match=rf"before the block at offset {off}"):
        a.check()
    buf[off - 1] = 0xFD
    b.release()


def test_debug_leak_report():
    a = BufferAllocator(bytearray(8192), debug=True)
    p = a._request_raw(48)
    off = p - base_of(a)
    # The warning comes from the finaliser that gc.collect() runs.
    with pytest.warns(ResourceWarning, match=rf"1 live block.*48 bytes.*offset {off} size 48"):  # noqa: PT031
        del a
        gc.collect()


def test_no_leak_report_without_debug():
    a = BufferAllocator(bytearray(8192))
    a._request_raw(48)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        del a
        gc.collect()


def test_check_detects_header_damage():
    buf = bytearray(4096)
    a = BufferAllocator(buf)
    a._request_raw(100)
    lim = (base_of(a) + 4096) // 8 * 8 - base_of(a)
    saved = bytes(buf[lim - 8:lim])
    buf[lim - 8:lim] = b"\0" * 8             # the magic of header 0
    with pytest.raises(AllocatorError, match="header 0.*bad magic"):
        a.check()
    buf[lim - 8:lim] = saved
    a.check()


# ---------------------------------------------------------------------------
# Random sequences.
# ---------------------------------------------------------------------------

ops = st.lists(
    st.one_of(
        st.tuples(st.just("alloc"), st.integers(1, 3000), st.sampled_from([1, 8, 64, 512])),
        st.tuples(st.just("free"), st.integers(0, 1 << 30), st.just(0)),
        st.tuples(st.just("grow"), st.integers(0, 1 << 30), st.integers(1, 2000)),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops, debug=st.booleans(), size=st.sampled_from([1024, 8192, 65536]))
def test_random_sequences(ops, debug, size):
    a = BufferAllocator(bytearray(size), debug=debug)
    live = []          # (block, fill byte)
    tag = 0
    for op, x, y in ops:
        if op == "alloc":
            try:
                b = a.allocate(x, align=y)
            except MemoryError:
                a.check()
                continue
            assert b.address % y == 0
            tag = (tag + 1) % 251 + 1
            fill(b, tag)
            live.append((b, tag))
        elif op == "free" and live:
            b, _ = live.pop(x % len(live))
            b.release()
        elif op == "grow" and live:
            b, t = live[x % len(live)]
            old = b.nbytes
            if a.grow(b, old + y):
                assert b.nbytes == old + y
                memoryview(b)[old:] = bytes([t]) * y
            else:
                assert b.nbytes == old
        a.check()
        st_ = a.stats
        assert st_["bytes_in_use"] == sum(b.nbytes for b, _ in live)
        assert st_["n_blocks"] == len(live)
        for b, t in live:
            assert bytes(memoryview(b)) == bytes([t]) * b.nbytes
        # Blocks never overlap and stay inside the buffer.
        spans = sorted((offset_of(a, b), b.nbytes) for b, _ in live)
        for (o1, n1), (o2, _) in itertools.pairwise(spans):
            assert o1 + n1 <= o2
        if spans:
            assert spans[-1][0] + spans[-1][1] <= size - 32 * len(a.blocks())
    for b, _ in live:
        b.release()
    a.check()
    assert a.stats["bytes_in_use"] == 0 and a.stats["header_bytes"] == 0
