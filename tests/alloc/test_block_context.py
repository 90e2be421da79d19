"""Raw blocks from Python (Allocator.allocate / Block) and the default-allocator context."""

import asyncio
import gc
import threading
import weakref

import numpy as np
import pytest

import segpy
from segpy import AllocatorError, Block, SegmentedList, SystemAllocator

from seg_support import ALLOCATORS as REGISTRY

ALLOCATORS = [pytest.param(make, id=name) for name, make in REGISTRY.items()]


# -- blocks ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALLOCATORS)
@pytest.mark.parametrize("align", [1, 8, 16, 64, 256, 4096])
def test_block_is_writable_aligned_memory(kind, align):
    a = kind()
    b = a.allocate(200, align=align)
    assert isinstance(b, Block)
    assert b.nbytes == len(b) == 200 and b.align == align
    assert b.address % align == 0
    assert b.allocator is a and not b.released
    view = np.frombuffer(b, dtype=np.uint8)
    view[:] = np.arange(200) % 251
    assert bytes(memoryview(b)) == bytes(range(200))
    assert a.stats["bytes_in_use"] == 200 and a.stats["n_blocks"] == 1
    del view
    b.release()
    assert b.released and b.allocator is None
    assert a.stats["bytes_in_use"] == 0 and a.stats["n_blocks"] == 0


@pytest.mark.parametrize("kind", ALLOCATORS)
def test_released_block_refuses_every_use(kind):
    a = kind()
    b = a.allocate(64)
    b.release()
    for use in (lambda: memoryview(b), lambda: np.frombuffer(b, np.uint8), lambda: len(b),
                lambda: b.address, b.release):
        with pytest.raises(ValueError, match="released"):
            use()
    with pytest.raises(ValueError, match="already released"):
        a.release(b)
    assert "released" in repr(b)


@pytest.mark.parametrize("kind", ALLOCATORS)
def test_block_with_live_view_cannot_be_released(kind):
    a = kind()
    b = a.allocate(32)
    m = memoryview(b)
    with pytest.raises(BufferError, match="view"):
        b.release()
    with pytest.raises(BufferError):
        a.release(b)
    assert not b.released and a.stats["n_blocks"] == 1
    m[0] = 7                                  # the memory is still valid
    m.release()
    a.release(b)
    assert b.released


def test_block_of_another_allocator_is_refused():
    a, other = SystemAllocator(), SystemAllocator()
    b = other.allocate(16)
    with pytest.raises(ValueError, match="another allocator"):
        a.release(b)
    assert not b.released
    with pytest.raises(TypeError):
        a.release(bytearray(16))


def test_dropping_a_block_releases_it_and_it_keeps_its_allocator_alive():
    a = SystemAllocator()
    ref = weakref.ref(a)
    b = a.allocate(100)
    del a
    gc.collect()
    assert ref() is not None                  # the block holds its allocator
    assert ref().stats["n_blocks"] == 1
    del b
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize("nbytes, align, exc", [
    (0, 8, ValueError), (-1, 8, ValueError), (16, 0, ValueError), (16, 3, ValueError),
    (16, 1 << 20, ValueError), (1.5, 8, TypeError), ("16", 8, TypeError)])
def test_allocate_bad_arguments(nbytes, align, exc):
    a = SystemAllocator()
    before = a.stats
    with pytest.raises(exc):
        a.allocate(nbytes, align=align)
    assert a.stats == before


def test_allocate_beyond_the_limit_names_sizes_and_changes_nothing():
    a = SystemAllocator(max_bytes=1000)
    keep = a.allocate(600)
    before = a.stats
    with pytest.raises(MemoryError) as info:
        a.allocate(500)
    msg = str(info.value)
    assert "500 bytes" in msg and "1000" in msg and "600 bytes in use" in msg and "limit" in msg
    after = a.stats
    assert after.pop("n_limit_failures") == before.pop("n_limit_failures") + 1
    assert after == before
    keep.release()


def test_injected_os_failure_is_reported_as_such():
    a = SystemAllocator()
    a.inject_failure()
    with pytest.raises(MemoryError, match="OS refused"):
        a.allocate(100)
    assert a.stats["n_os_failures"] == 1 and a.stats["n_blocks"] == 0
    a.allocate(100).release()                # only one failure was armed


def test_system_allocator_has_no_block_table():
    a = SystemAllocator()
    with pytest.raises(TypeError, match="per-block headers"):
        a.blocks()
    with pytest.raises(TypeError, match="regions"):
        a.regions()
    a.check()                                 # nothing to walk: passes
    assert a.debug is False


def test_system_allocator_refuses_the_raw_hooks():
    # libc's free cannot detect a foreign pointer, so the hooks that promise
    # never to crash on one are not offered.
    a = SystemAllocator()
    with pytest.raises(TypeError, match="foreign pointer"):
        a._request_raw(8)
    with pytest.raises(TypeError, match="foreign pointer"):
        a._release_raw(1234, 8)
    assert a.stats["n_os_calls"] == 0


def test_allocator_error_is_a_runtime_error():
    assert issubclass(AllocatorError, RuntimeError)


# -- the default allocator and its context ----------------------------------------------------


def test_allocator_context_sets_and_restores_the_default():
    outer = segpy.get_allocator()
    a, b = SystemAllocator(), SystemAllocator()
    with segpy.allocator(a) as got:
        assert got is a and segpy.get_allocator() is a
        assert SegmentedList("q", [1]).allocator is a
        with segpy.allocator(b):
            assert SegmentedList("q").allocator is b
        assert segpy.get_allocator() is a
        assert SegmentedList("q", allocator=b).allocator is b   # explicit wins
    assert segpy.get_allocator() is outer
    assert SegmentedList("q").allocator is outer


def test_allocator_context_restores_after_an_exception():
    outer = segpy.get_allocator()
    with pytest.raises(KeyError), segpy.allocator(SystemAllocator()):
        raise KeyError("boom")
    assert segpy.get_allocator() is outer


def test_allocator_context_object_is_reusable_and_reentrant():
    a = SystemAllocator()
    ctx = segpy.allocator(a)
    outer = segpy.get_allocator()
    with ctx:
        with ctx:
            assert segpy.get_allocator() is a
        assert segpy.get_allocator() is a
    assert segpy.get_allocator() is outer


def test_allocator_context_rejects_non_allocators():
    with pytest.raises(TypeError, match="Allocator"):
        segpy.allocator("heap")
    with pytest.raises(TypeError):
        segpy.allocator(None)


def test_allocator_context_does_not_leak_across_threads():
    a = SystemAllocator()
    outer = segpy.get_allocator()
    seen = {}
    inside = threading.Event()
    done = threading.Event()

    def other_thread():
        inside.wait()
        seen["other"] = segpy.get_allocator()
        seen["other_list"] = SegmentedList("q").allocator
        done.set()

    t = threading.Thread(target=other_thread)
    t.start()
    with segpy.allocator(a):
        inside.set()
        done.wait()
        seen["main"] = segpy.get_allocator()
    t.join()
    assert seen["main"] is a
    assert seen["other"] is outer and seen["other_list"] is outer


def test_allocator_context_in_a_thread_stays_in_that_thread():
    a = SystemAllocator()
    outer = segpy.get_allocator()
    seen = {}
    barrier = threading.Barrier(2)

    def worker():
        with segpy.allocator(a):
            barrier.wait()          # main thread looks while we are inside
            barrier.wait()
            seen["worker"] = SegmentedList("q").allocator

    t = threading.Thread(target=worker)
    t.start()
    barrier.wait()
    seen["main"] = segpy.get_allocator()
    barrier.wait()
    t.join()
    assert seen["worker"] is a and seen["main"] is outer


def test_allocator_context_is_per_asyncio_task():
    a, b = SystemAllocator(), SystemAllocator()

    async def task(alloc, results, key):
        with segpy.allocator(alloc):
            await asyncio.sleep(0)          # let the other task run inside its block
            await asyncio.sleep(0)
            results[key] = SegmentedList("q").allocator

    async def main():
        results = {}
        await asyncio.gather(task(a, results, "a"), task(b, results, "b"))
        return results

    outer = segpy.get_allocator()
    results = asyncio.run(main())
    assert results["a"] is a and results["b"] is b
    assert segpy.get_allocator() is outer
