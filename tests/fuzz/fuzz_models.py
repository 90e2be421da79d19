"""Reference models shared by the allocator state machines and the fuzzers.

:class:`AllocModel` mirrors one allocator: the live blocks it handed out,
each filled with a pattern derived from a tag, and the counters its
``stats`` must show.  Every operation goes through the model, which performs
it on the real allocator, predicts the outcome, and :meth:`AllocModel.verify`
then checks

- ``check()`` passes (the allocator's own walk of its headers);
- ``bytes_in_use``, ``n_blocks``, ``n_alloc``, ``n_release`` and
  ``peak_bytes_in_use`` equal the model's figures, ``overhead_bytes`` is
  ``bytes_mapped - bytes_in_use`` and the limit holds;
- every live block still holds its pattern, is aligned as asked, and no two
  live blocks overlap (nor leave the managed buffer, for a BufferAllocator).

It is used by ``tests/alloc/test_alloc_machines.py`` (hypothesis picks the
operations) and by ``tests/fuzz/fuzz_alloc.py`` (atheris bytes pick them),
so both check the same contract.  A new operation is one method here plus a
rule there.

:func:`snapshot` is the "unchanged afterwards" probe of the bad-input and
resource tests: what a failed call must not change on a list, an allocator,
a block or a buffer.
"""

from __future__ import annotations

import itertools
import mmap

import numpy as np

import segpy

# A pattern source: block contents are PATTERN[t : t + n] for a tag t < 251
# (251 is prime, so neighbouring blocks and grown tails differ).
_PERIOD = 251
_MAX_PATTERN = 1 << 20
PATTERN = bytes(range(256)) * ((_MAX_PATTERN + 2 * _PERIOD) // 256 + 1)


def pattern(tag: int, n: int) -> bytes:
    t = tag % _PERIOD
    return PATTERN[t:t + n]


class ModelMismatch(AssertionError):
    """The allocator disagrees with the model."""


class Entry:
    """One live block of the model."""

    __slots__ = ("align", "block", "depth", "size", "tag")

    def __init__(self, block, tag, size, align, depth):
        self.block = block
        self.tag = tag
        self.size = size
        self.align = align
        self.depth = depth     # BumpAllocator: scope depth it was made at


def _fill(block, tag: int) -> None:
    with memoryview(block) as m:
        m[:] = pattern(tag, len(m))


def _same_stats_but_failures(before: dict, after: dict) -> None:
    """A refused request changes only its failure counter (and OS-call count)."""
    for k in ("bytes_in_use", "n_blocks", "n_alloc", "n_release", "peak_bytes_in_use",
              "bytes_mapped", "n_regions"):
        if before[k] != after[k]:
            raise ModelMismatch(f"refused request changed {k}: {before[k]} -> {after[k]}")
    fails = (after["n_limit_failures"] - before["n_limit_failures"]
             + after["n_os_failures"] - before["n_os_failures"])
    if fails != 1:
        raise ModelMismatch(f"refused request counted {fails} failures, expected 1")


class AllocModel:
    """A model of allocator ``alloc``.

    Parameters
    ----------
    alloc : segpy.Allocator
        The allocator under test (fresh: no live blocks).
    bounded : bool
        Whether MemoryError is a legitimate outcome of a request without an
        injected failure (a ``max_bytes`` limit, or a BufferAllocator).
    buffer_range : (int, int), optional
        The managed buffer's address range; every block must lie inside.
    """

    def __init__(self, alloc, *, bounded: bool, buffer_range=None):
        self.alloc = alloc
        self.bounded = bounded
        self.buffer_range = buffer_range
        self.live: list[Entry] = []
        self.released: list = []          # a few released Blocks, to misuse
        self.next_tag = 1
        self.depth = 0
        self.injected = False
        st = alloc.stats
        self.n_alloc = st["n_alloc"]
        self.n_release = st["n_release"]
        self.peak = st["peak_bytes_in_use"]
        self.in_use = st["bytes_in_use"]

    # -- operations ---------------------------------------------------------

    def allocate(self, nbytes: int, align: int):
        """Allocate; return the Entry, or None if refused with MemoryError."""
        before = self.alloc.stats
        try:
            b = self.alloc.allocate(nbytes, align)
        except MemoryError as e:
            msg = str(e)
            if "limit would be exceeded" in msg:
                if not self.bounded:
                    raise ModelMismatch(f"unbounded allocator refused by a limit: {msg}") from e
            elif "injected failure" in msg:
                if not self.injected:
                    raise ModelMismatch(f"injected failure that was not armed: {msg}") from e
                self.injected = False
            elif not self.bounded:
                raise
            _same_stats_but_failures(before, self.alloc.stats)
            return None
        if b.nbytes != nbytes or b.align != align or b.address % align:
            raise ModelMismatch(f"bad block {b!r} for request ({nbytes}, {align})")
        tag = self.next_tag
        self.next_tag += 1
        _fill(b, tag)
        e = Entry(b, tag, nbytes, align, self.depth)
        self.live.append(e)
        self.n_alloc += 1
        self.in_use += nbytes
        self.peak = max(self.peak, self.in_use)
        return e

    def _take(self, i: int) -> Entry:
        e = self.live.pop(i % len(self.live))
        self._verify_entry(e)
        return e

    def release(self, i: int, how: int) -> None:
        """Release live block ``i`` by ``block.release()`` (0), through the
        allocator (1) or by dropping the last reference (2)."""
        e = self._take(i)
        how %= 3
        if how == 0:
            e.block.release()
        elif how == 1:
            self.alloc.release(e.block)
        if how != 2:
            assert e.block.released and e.block.allocator is None
            self.released.append(e.block)
            del self.released[:-4]
        e.block = None          # how == 2: the Block dies here (CPython refcounting)
        self.n_release += 1
        self.in_use -= e.size

    def grow(self, i: int, extra: int) -> bool:
        """``alloc.grow`` live block ``i`` by ``extra`` bytes; verify the old
        bytes survive and refill the block."""
        e = self.live[i % len(self.live)]
        new = e.size + extra
        if self.alloc.grow(e.block, new):
            if e.block.nbytes != new:
                raise ModelMismatch(f"grow returned True but nbytes is {e.block.nbytes}")
            with memoryview(e.block) as m:
                if m[:e.size] != pattern(e.tag, e.size):
                    raise ModelMismatch(f"grow lost the contents of block tag {e.tag}")
            self.in_use += extra
            self.peak = max(self.peak, self.in_use)
            e.size = new
            e.tag = self.next_tag
            self.next_tag += 1
            _fill(e.block, e.tag)
            return True
        if e.block.nbytes != e.size:
            raise ModelMismatch("grow returned False but changed the block's size")
        return False

    def inject(self, after: int) -> None:
        self.alloc.inject_failure(after)
        self.injected = True

    def misuse(self, which: int) -> None:
        """Misuse the allocator; each must raise its documented error and change nothing."""
        which %= 4
        a = self.alloc
        if which == 0 and self.released:
            b = self.released[-1]
            _expect(ValueError, "already released", a.release, b)
            _expect(ValueError, "released", bytes, b)
            _expect(ValueError, "released", b.release)
        elif which == 1 and self.live:
            # A view pins the block: release is refused while it exists.
            e = self.live[-1]
            with memoryview(e.block):
                _expect(BufferError, "view", e.block.release)
        elif which == 2 and self.live:
            other = segpy.SystemAllocator()
            _expect(ValueError, "another allocator", other.release, self.live[0].block)
        elif which == 3:
            _expect(ValueError, "nbytes must be at least 1", a.allocate, 0)
            _expect(ValueError, "power of two", a.allocate, 8, 3)

    # -- verification -------------------------------------------------------

    def _verify_entry(self, e: Entry) -> None:
        b = e.block
        if b.released or b.nbytes != e.size:
            raise ModelMismatch(f"block tag {e.tag} changed: {b!r}")
        with memoryview(b) as m:
            if m != pattern(e.tag, e.size):
                raise ModelMismatch(f"contents of block tag {e.tag} ({b!r}) were overwritten")

    def verify(self, contents: bool = True) -> None:
        """Check the allocator against the model; ``contents=False`` skips
        re-reading every live block (the fuzzers' per-step check: released
        and grown blocks are verified anyway, and everything at the end)."""
        a = self.alloc
        a.check()
        st = a.stats
        want = {"bytes_in_use": self.in_use, "n_blocks": len(self.live),
                "n_alloc": self.n_alloc, "n_release": self.n_release,
                "peak_bytes_in_use": self.peak}
        got = {k: st[k] for k in want}
        if got != want:
            raise ModelMismatch(f"stats {got} != model {want}")
        if not isinstance(a, segpy.SystemAllocator):
            if st["overhead_bytes"] != st["bytes_mapped"] - st["bytes_in_use"]:
                raise ModelMismatch(f"overhead_bytes inconsistent: {st}")
            if not st["header_bytes"] <= st["overhead_bytes"] or \
                    not st["cached_bytes"] <= st["overhead_bytes"]:
                raise ModelMismatch(f"header/cached bytes exceed the overhead: {st}")
        # The limit bounds the memory held from the OS (Heap, Bump); the
        # BufferAllocator maps nothing (bytes_mapped is its buffer's size).
        if st["max_bytes"] is not None and st["bytes_mapped"] > st["max_bytes"] and \
                isinstance(a, (segpy.Heap, segpy.BumpAllocator)):
            raise ModelMismatch(f"bytes_mapped exceeds max_bytes: {st}")
        if st["max_bytes"] is not None and st["bytes_in_use"] > st["max_bytes"]:
            raise ModelMismatch(f"bytes_in_use exceeds max_bytes: {st}")
        spans = []
        for e in self.live:
            if contents:
                self._verify_entry(e)
            spans.append((e.block.address, e.block.address + e.size, e.tag))
        spans.sort()
        for (_, e0, t0), (s1, _, t1) in itertools.pairwise(spans):
            if s1 < e0:
                raise ModelMismatch(f"blocks tag {t0} and tag {t1} overlap")
        if self.buffer_range and spans:
            lo, hi = self.buffer_range
            if spans[0][0] < lo or max(s[1] for s in spans) > hi:
                raise ModelMismatch("a block lies outside the managed buffer")


def _expect(exc_type, fragment: str, fn, *args) -> None:
    try:
        fn(*args)
    except exc_type as e:
        if fragment not in str(e):
            raise ModelMismatch(f"{fn!r}{args!r}: message {str(e)!r} lacks {fragment!r}") from e
    else:
        raise ModelMismatch(f"{fn!r}{args!r} did not raise {exc_type.__name__}")


def snapshot(obj):
    """Everything observable about ``obj`` that a failed call must not change.

    For an allocator: what is in use (bytes, live blocks, and the used rows of
    ``blocks()``).  Cumulative counters are left out: a refused request counts
    a failure, and a list that failed half-way through a reserve has requested
    and given back segments (``n_alloc``, ``peak_bytes_in_use``), which is
    fine as long as nothing stays in use.
    """
    if isinstance(obj, segpy.SegmentedList):
        return ("list", obj.dtype.descr, len(obj), obj.capacity, obj.first_segment,
                obj.to_numpy().tobytes(), snapshot(obj.allocator))
    if isinstance(obj, segpy.Allocator):
        st = obj.stats
        try:
            rows = obj.blocks()
            base = obj.regions()["address"]
        except TypeError:
            blocks = None
        else:
            # By address: a region mapped (and cached) by a failed request
            # renumbers the regions without moving any block.
            blocks = sorted((int(base[r["region"]]) + int(r["offset"]), int(r["size"]))
                            for r in rows if r["state"])
        return ("allocator", st["bytes_in_use"], st["n_blocks"], blocks)
    if isinstance(obj, segpy.Block):
        if obj.released:
            return ("block", True, obj.nbytes)
        return ("block", False, obj.nbytes, obj.address, bytes(obj), snapshot(obj.allocator))
    if isinstance(obj, np.ndarray):
        return ("ndarray", obj.dtype.str, obj.shape, obj.tobytes())
    if isinstance(obj, (bytes, bytearray, memoryview, mmap.mmap)):
        return ("buffer", bytes(obj))
    if isinstance(obj, (tuple, list)):
        return tuple(snapshot(x) for x in obj)
    if obj is None or isinstance(obj, (int, str, type)):
        return obj
    return ("opaque", type(obj).__name__)   # views etc.: only kept alive


def buffer_address(buf) -> int:
    """Address of a writable buffer's first byte (via numpy, no ctypes)."""
    return np.frombuffer(buf, dtype=np.uint8).__array_interface__["data"][0]
