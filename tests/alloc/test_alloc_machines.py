"""Stateful tests of every allocator against a model of its live blocks.

One hypothesis ``RuleBasedStateMachine`` per allocator (Heap, Heap in debug
mode, BumpAllocator with ``scope()`` and ``reset()``, BufferAllocator over a
bytearray, SystemAllocator).  Each rule goes through
``tests/fuzz/fuzz_models.py:AllocModel``, which performs the operation, predicts
its outcome, and after every step runs ``check()``, compares ``stats`` with the
model and verifies that every live block still holds its pattern.

Cost and long runs
------------------
The default run is short (a few seconds for all machines).  Two environment
variables scale it:

``SEGPY_FUZZ_STEPS=N``
    Each machine runs about ``N`` steps in total under pytest (examples of
    ``SEGPY_FUZZ_STEP_COUNT`` steps each).

For an exact, reported long run, run this file as a script::

    python -P tests/alloc/test_alloc_machines.py --steps 100000 [--machine Heap ...]

It repeats fresh hypothesis runs until each machine has executed ``--steps``
rules and prints steps, examples, seconds and failures per machine
(docs/trust.md records the figures).

Adding an operation: one method on ``AllocModel`` and one ``@rule`` here.
"""

from __future__ import annotations

import math
import os
import sys
import time

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import segpy

from fuzz_models import AllocModel, ModelMismatch, buffer_address

# Request sizes: small (header-dominated), page-ish, and large (new regions,
# the Heap's large-block path, a full BufferAllocator).
SIZES = st.one_of(st.integers(1, 64), st.integers(65, 4096), st.integers(4097, 1 << 18))
ALIGNS = (1, 2, 4, 8, 16, 32, 64, 256, 4096)
INDEX = st.integers(0, 1 << 16)

STEP_COUNT = int(os.environ.get("SEGPY_FUZZ_STEP_COUNT", "40"))


class AllocatorMachine(RuleBasedStateMachine):
    """Rules common to every allocator; subclasses choose the configurations."""

    CONFIGS: tuple = ()       # (label, factory, bounded) triples
    ALIGNS = ALIGNS
    CAN_GROW = False

    def __init__(self):
        super().__init__()
        self.model = None
        self.steps = 0

    def _make(self, label, factory, bounded):
        alloc = factory()
        self.label = label
        self.model = AllocModel(alloc, bounded=bounded, buffer_range=self._buffer_range(alloc))

    def _buffer_range(self, alloc):
        return None

    @initialize(cfg=st.integers(0, 1 << 10))
    def start(self, cfg):
        self._make(*self.CONFIGS[cfg % len(self.CONFIGS)])

    def _done(self):
        self.steps += 1
        STEPS[type(self).__name__] = STEPS.get(type(self).__name__, 0) + 1
        self.model.verify()

    @rule(nbytes=SIZES, align=st.integers(0, 63))
    def allocate(self, nbytes, align):
        self.model.allocate(nbytes, self.ALIGNS[align % len(self.ALIGNS)])
        self._done()

    @precondition(lambda self: self.model.live)
    @rule(i=INDEX, how=st.integers(0, 2))
    def release(self, i, how):
        self.model.release(i, how)
        self._done()

    @precondition(lambda self: self.CAN_GROW and self.model.live)
    @rule(i=INDEX, extra=st.one_of(st.integers(0, 64), st.integers(65, 1 << 16)))
    def grow(self, i, extra):
        self.model.grow(i, extra)
        self._done()

    @rule(after=st.integers(0, 2))
    def inject_failure(self, after):
        self.model.inject(after)
        self._done()

    @rule(which=st.integers(0, 3))
    def misuse(self, which):
        self.model.misuse(which)
        self._done()

    @invariant()
    def stats_are_plain_ints(self):
        if self.model is not None:
            st_ = self.model.alloc.stats
            assert all(isinstance(v, int) for k, v in st_.items() if k != "max_bytes")

    def teardown(self):
        # Release everything; the allocator must come back to zero in use.
        if self.model is None:
            return
        while self.model.live:
            self.model.release(0, 0)
        self.model.verify()
        assert self.model.alloc.stats["bytes_in_use"] == 0


def test_heap_aligned_split_keeps_boundary_tag():
    # Found by HeapMachine and shrunk (fixed in heap.pyx's _carve): an
    # aligned request served from a free block by splitting off its front,
    # with the tail absorbed, left the next block's prev_size stale.
    h = segpy.Heap()
    a = h.allocate(17)
    b = h.allocate(1, 256)          # leaves a free gap after a
    c = h.allocate(17, 64)          # front split of the gap, tail absorbed
    h.check()
    for blk in (c, b, a):
        blk.release()
        h.check()
    assert h.stats["n_blocks"] == 0


def _sweeping(h):
    h._sweep_min = 0          # every drain walks the regions
    return h


class HeapMachine(AllocatorMachine):
    CAN_GROW = True
    CONFIGS = (
        ("Heap(region_size=64K)", lambda: segpy.Heap(region_size=1 << 16), False),
        ("Heap()", lambda: segpy.Heap(), False),
        ("Heap(max_bytes=1M, region_size=64K)",
         lambda: segpy.Heap(max_bytes=1 << 20, region_size=1 << 16), True),
        ("Heap(cache_bytes=0)", lambda: segpy.Heap(region_size=1 << 16, cache_bytes=0), False),
        ("Heap(cache_bytes=64K), drains sweep",
         lambda: _sweeping(segpy.Heap(region_size=1 << 16, cache_bytes=1 << 16)), False),
    )

    @rule(ops=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 600), INDEX),
                       min_size=4, max_size=60))
    def raw_burst(self, ops):
        # Raw requests and releases with nothing in between that drains
        # (verify reads the stats, which drains), so deferred releases stay
        # pending while the dv fast paths, LIFO releases and the bucket
        # searches that drain run around them.  All are released again, in
        # the order left, before the model is verified.
        m = self.model
        h = m.alloc
        live, extra = [], 0
        for op, nbytes, i in ops:
            if op and live:
                addr, n = live.pop(i % len(live))
                h._release_raw(addr, n)
                extra -= n
                m.n_release += 1
                continue
            try:
                addr = h._request_raw(nbytes, 16)
            except MemoryError as e:
                if "injected failure" in str(e):
                    assert m.injected
                    m.injected = False
                else:
                    assert m.bounded
                continue
            live.append((addr, nbytes))
            extra += nbytes
            m.n_alloc += 1
            m.peak = max(m.peak, m.in_use + extra)
        for addr, n in live:
            h._release_raw(addr, n)
            m.n_release += 1
        self._done()

    @rule()
    def trim(self):
        a = self.model.alloc
        cached = a.stats["cached_bytes"]
        freed = a.trim()
        assert freed == cached and a.stats["cached_bytes"] == 0
        self._done()

    @precondition(lambda self: self.model.live)
    @rule(i=INDEX)
    def grow_with_a_view(self, i):
        # A view's length would go stale: the Heap refuses, changing nothing.
        e = self.model.live[i % len(self.model.live)]
        with memoryview(e.block), pytest.raises(BufferError, match="view"):
            self.model.alloc.grow(e.block, e.size + 1)
        self._done()


class HeapDebugMachine(HeapMachine):
    CONFIGS = (
        ("Heap(debug=True, region_size=64K)",
         lambda: segpy.Heap(debug=True, region_size=1 << 16), False),
        ("Heap(debug=True)", lambda: segpy.Heap(debug=True), False),
        ("Heap(debug=True, max_bytes=1M, region_size=64K)",
         lambda: segpy.Heap(debug=True, max_bytes=1 << 20, region_size=1 << 16), True),
    )


class BumpMachine(AllocatorMachine):
    """Adds scopes (entered and exited by hand) and reset() to the rules."""

    CAN_GROW = True
    CONFIGS = (
        ("BumpAllocator()", lambda: segpy.BumpAllocator(), False),
        ("BumpAllocator(first_block=64K)", lambda: segpy.BumpAllocator(first_block=1 << 16), False),
        ("BumpAllocator(debug=True)", lambda: segpy.BumpAllocator(debug=True), False),
        ("BumpAllocator(max_bytes=1M)", lambda: segpy.BumpAllocator(max_bytes=1 << 20), True),
        ("BumpAllocator(max_bytes=1M, debug=True)",
         lambda: segpy.BumpAllocator(max_bytes=1 << 20, debug=True), True),
    )

    def _make(self, *cfg):
        super()._make(*cfg)
        self.scopes = []
        self.closed = []          # exited scope objects, kept to exit them again

    @rule()
    def enter_scope(self):
        s = self.model.alloc.scope()
        assert s.__enter__() is self.model.alloc
        self.scopes.append(s)
        self.model.depth = len(self.scopes)
        self._done()

    @precondition(lambda self: self.scopes)
    @rule()
    def exit_scope(self):
        m = self.model
        inside = [e for e in m.live if e.depth == len(self.scopes)]
        before = m.alloc.stats
        s = self.scopes.pop()
        if inside:
            # Escaped allocations: the frame closes but nothing is rewound;
            # they now belong to the enclosing frame.
            with pytest.raises(segpy.AllocatorError, match="nothing was rewound"):
                s.__exit__(None, None, None)
            for e in inside:
                e.depth = len(self.scopes)
        else:
            s.__exit__(None, None, None)
        self.closed = [*self.closed[-3:], s]
        m.depth = len(self.scopes)
        after = m.alloc.stats
        assert after["bytes_mapped"] == before["bytes_mapped"]   # blocks stay mapped
        assert after["bytes_in_use"] == before["bytes_in_use"]
        self._done()

    # Scope objects used out of turn (docs/bad-input.md, class 9): each exit below
    # would, if it reached the C pop, close a frame that is not its own.
    # All are refused with the arena exactly as before.

    def _refused_exit(self, s, match):
        a = self.model.alloc
        before = (a.stats, a.regions().tolist())
        with pytest.raises(RuntimeError, match=match):
            s.__exit__(None, None, None)
        assert (a.stats, a.regions().tolist()) == before
        self._done()

    @rule()
    def exit_never_entered(self):
        self._refused_exit(self.model.alloc.scope(), "never entered")

    @precondition(lambda self: self.closed)
    @rule(i=INDEX)
    def exit_again(self, i):
        self._refused_exit(self.closed[i % len(self.closed)], "already exited")

    @precondition(lambda self: len(self.scopes) >= 2)
    @rule(i=INDEX)
    def exit_out_of_order(self, i):
        self._refused_exit(self.scopes[i % (len(self.scopes) - 1)], "out of order")

    @rule()
    def reset(self):
        m = self.model
        before = m.alloc.stats
        if m.live or self.scopes:
            with pytest.raises(segpy.AllocatorError):
                m.alloc.reset()
            assert m.alloc.stats == before
        else:
            m.alloc.reset()
            after = m.alloc.stats
            assert after["bytes_mapped"] <= before["bytes_mapped"]
            assert after["n_regions"] <= 1
        self._done()

    @precondition(lambda self: self.model.live)
    @rule(i=INDEX)
    def grow_not_last(self, i):
        # Only the most recent allocation can grow: an older one never does.
        m = self.model
        if len(m.live) < 2:
            return
        e = m.live[i % (len(m.live) - 1)]
        assert m.alloc.grow(e.block, e.size + 1) is False
        self._done()

    def teardown(self):
        super().teardown()
        if self.model is not None:
            while self.scopes:
                self.scopes.pop().__exit__(None, None, None)
            self.model.alloc.reset()
            self.model.alloc.check()


class BufferMachine(AllocatorMachine):
    CAN_GROW = True
    CONFIGS = (
        ("BufferAllocator(bytearray(1M))", lambda: segpy.BufferAllocator(bytearray(1 << 20)), True),
        ("BufferAllocator(bytearray(64K))", lambda: segpy.BufferAllocator(bytearray(1 << 16)), True),
        ("BufferAllocator(bytearray(1M), debug=True)",
         lambda: segpy.BufferAllocator(bytearray(1 << 20), debug=True), True),
        ("BufferAllocator(bytearray(1M), max_bytes=256K)",
         lambda: segpy.BufferAllocator(bytearray(1 << 20), max_bytes=1 << 18), True),
    )

    def _buffer_range(self, alloc):
        lo = buffer_address(alloc.buffer)
        return lo, lo + len(alloc.buffer)


class SystemMachine(AllocatorMachine):
    CONFIGS = (
        ("SystemAllocator()", lambda: segpy.SystemAllocator(), False),
        ("SystemAllocator(max_bytes=1M)", lambda: segpy.SystemAllocator(max_bytes=1 << 20), True),
    )


MACHINES = {
    "Heap": HeapMachine,
    "HeapDebug": HeapDebugMachine,
    "Bump": BumpMachine,
    "Buffer": BufferMachine,
    "System": SystemMachine,
}
STEPS: dict[str, int] = {}


def _settings(total_steps: int | None) -> settings:
    if total_steps:
        n = max(1, math.ceil(total_steps / STEP_COUNT))
    else:
        n = 25
    return settings(max_examples=n, stateful_step_count=STEP_COUNT, deadline=None,
                    report_multiple_bugs=False)


_ENV_STEPS = int(os.environ.get("SEGPY_FUZZ_STEPS", "0")) or None

for _name, _machine in MACHINES.items():
    _case = _machine.TestCase
    _case.settings = _settings(_ENV_STEPS)
    globals()[f"Test{_name}"] = type(f"Test{_name}", (_case,), {})
del _name, _machine, _case


def test_model_catches_a_corrupted_block():
    """The model is not vacuous: overwriting a live block is reported."""
    m = AllocModel(segpy.Heap(), bounded=False)
    e = m.allocate(64, 8)
    with memoryview(e.block) as v:
        v[3] ^= 0xFF
    with pytest.raises(ModelMismatch, match="overwritten"):
        m.verify()


def test_model_catches_wrong_accounting():
    m = AllocModel(segpy.Heap(), bounded=False)
    m.allocate(64, 8)
    m.in_use += 1
    with pytest.raises(ModelMismatch, match="stats"):
        m.verify()


# ---------------------------------------------------------------------------
# Long runs: python -P tests/alloc/test_alloc_machines.py --steps 100000
# ---------------------------------------------------------------------------


def main(argv=None) -> int:
    import argparse
    import traceback

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=100_000, help="rules per machine")
    p.add_argument("--machine", action="append", choices=sorted(MACHINES),
                   help="machines to run (default: all)")
    p.add_argument("--batch", type=int, default=200, help="examples per hypothesis run")
    args = p.parse_args(argv)
    failures = 0
    for name in args.machine or list(MACHINES):
        machine = MACHINES[name]
        key = machine.__name__
        STEPS[key] = 0
        examples = fails = 0
        t0 = time.perf_counter()
        while STEPS[key] < args.steps:
            try:
                run_state_machine_as_test(machine, settings=settings(
                    max_examples=args.batch, stateful_step_count=STEP_COUNT, deadline=None,
                    database=None, report_multiple_bugs=False))
            except Exception:   # noqa: BLE001 - any failure is reported, then the next machine runs
                fails += 1
                traceback.print_exc()
                break
            examples += args.batch
        dt = time.perf_counter() - t0
        failures += fails
        print(f"{name:10s} steps={STEPS[key]:8d} examples~{examples:7d} "
              f"time={dt:7.1f}s failures={fails}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
