"""Fuzz every allocator: allocate / release / grow / inject_failure / misuse /
reset / scope, decoded from bytes, checked against ``fuzz_models.AllocModel``
(``check()``, stats, block contents and overlap after every operation).

Run (docs/trust.md)::

    python -P tests/fuzz/fuzz_alloc.py -runs=1000000 -max_len=512
    python -P tests/fuzz/fuzz_alloc.py --fallback -runs=100000   # without atheris

Only the documented exceptions are caught (by the model); anything else,
and any model mismatch, is a crash.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import segpy

from fuzz_models import AllocModel, buffer_address
from fuzz_reader import Reader, main

SIZES = [1, 7, 8, 16, 24, 63, 64, 100, 256, 1000, 4096, 5000, 40_000, 70_000]
ALIGNS = [1, 2, 4, 8, 16, 32, 64, 256, 4096]

def _make(r: Reader):
    k = r.int(0, 8)
    if k == 0:
        return segpy.Heap(region_size=1 << 16), False
    if k == 1:
        return segpy.Heap(region_size=1 << 16, debug=True), False
    if k == 2:
        return segpy.Heap(max_bytes=1 << 20, region_size=1 << 16, cache_bytes=0), True
    if k == 3:
        return segpy.BumpAllocator(), False
    if k == 4:
        return segpy.BumpAllocator(max_bytes=1 << 19, debug=True), True
    if k == 5:
        return segpy.BufferAllocator(bytearray(1 << 16)), True
    if k == 6:
        return segpy.BufferAllocator(bytearray(1 << 18), debug=True, max_bytes=1 << 17), True
    if k == 7:
        return segpy.SystemAllocator(max_bytes=1 << 20), True
    return segpy.SystemAllocator(), False


def TestOneInput(data: bytes) -> None:
    r = Reader(data)
    alloc, bounded = _make(r)
    rng = None
    if isinstance(alloc, segpy.BufferAllocator):
        lo = buffer_address(alloc.buffer)
        rng = (lo, lo + len(alloc.buffer))
    m = AllocModel(alloc, bounded=bounded, buffer_range=rng)
    aligns = ALIGNS
    scopes = []
    closed = []
    for _ in range(64):
        if r.remaining <= 0:
            break
        op = r.int(0, 9)
        if op <= 2:
            m.allocate(r.choice(SIZES) + r.int(0, 3), r.choice(aligns))
        elif op <= 4 and m.live:
            m.release(r.int(0, 255), r.int(0, 2))
        elif op == 5 and m.live and hasattr(alloc, "grow"):
            m.grow(r.int(0, 255), r.choice(SIZES[:10]))
        elif op == 6:
            m.inject(r.int(0, 2))
        elif op == 7:
            m.misuse(r.int(0, 3))
        elif op == 8 and isinstance(alloc, segpy.BumpAllocator):
            if r.int(0, 3) == 0 and (closed or len(scopes) >= 2):
                # A scope object out of turn: exited again, or an outer one
                # while an inner one is open.  Refused, nothing changes.
                s = closed[-1] if closed and (len(scopes) < 2 or r.bool()) else scopes[0]
                before = alloc.stats
                try:
                    s.__exit__(None, None, None)
                except RuntimeError:
                    pass
                else:
                    raise AssertionError("a scope object exited out of turn")
                assert alloc.stats == before, "a refused scope exit changed the arena"
            elif r.bool():
                scopes.append(alloc.scope())
                scopes[-1].__enter__()
                m.depth = len(scopes)
            elif scopes:
                inside = [e for e in m.live if e.depth == len(scopes)]
                closed.append(scopes.pop())
                try:
                    closed[-1].__exit__(None, None, None)
                    assert not inside, "a scope closed over live allocations without an error"
                except segpy.AllocatorError:
                    assert inside, "scope exit refused without live allocations"
                    for e in inside:
                        e.depth = len(scopes)
                m.depth = len(scopes)
        elif op == 9 and isinstance(alloc, segpy.BumpAllocator):
            try:
                alloc.reset()
                assert not m.live and not scopes, "reset succeeded with live blocks or a scope"
            except segpy.AllocatorError:
                assert m.live or scopes, "reset refused with nothing live"
        elif op == 9 and isinstance(alloc, segpy.Heap):
            alloc.trim()
        m.verify(contents=False)
    m.verify()
    while m.live:
        m.release(0, 0)
    m.verify()


if __name__ == "__main__":
    main(TestOneInput)
