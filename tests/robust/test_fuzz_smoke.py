"""The fuzz harnesses (tests/fuzz/) run in the normal suite, briefly.

Each harness's ``TestOneInput`` gets a few hundred random byte strings (a
fixed seed, so a failure reproduces) without atheris.  The long runs are
documented in docs/trust.md.
"""

from __future__ import annotations

import os
import random

import fuzz_file
import numpy as np
import pytest

import fuzz_alloc
import fuzz_hostile
import fuzz_seglist

RUNS = int(os.environ.get("SEGPY_FUZZ_SMOKE_RUNS", "300"))

# Overflowing casts (f8 -> f2) warn in numpy; expected in these harnesses.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


HARNESSES = [fuzz_alloc, fuzz_seglist, fuzz_hostile, fuzz_file]
IDS = ["alloc", "seglist", "hostile", "file"]


@pytest.mark.parametrize("harness", HARNESSES, ids=IDS)
def test_harness_survives_random_inputs(harness):
    rng = random.Random(20261124)
    for _ in range(RUNS):
        harness.TestOneInput(rng.randbytes(rng.randint(0, 400)))


@pytest.mark.parametrize("harness", HARNESSES, ids=IDS)
def test_harness_edge_inputs(harness):
    for data in (b"", b"\x00", b"\xff" * 600, bytes(range(256)) * 2):
        harness.TestOneInput(data)


def test_seglist_harness_detects_a_wrong_list(monkeypatch):
    """The harness is not vacuous: a list that drops appends is caught."""
    real = fuzz_seglist.segpy.SegmentedList

    class Lossy(real):
        def append(self, x, /):
            if len(self) < 3:
                super().append(x)

    monkeypatch.setattr(fuzz_seglist.segpy, "SegmentedList", Lossy)
    rng = random.Random(1)
    with pytest.raises(AssertionError):
        for _ in range(300):
            fuzz_seglist.TestOneInput(rng.randbytes(300))


def test_hostile_harness_detects_a_wrong_list(monkeypatch):
    """The hostile harness checks results too: an extend that drops the last
    element of a lying array or an own view is caught."""
    real = fuzz_hostile.segpy.SegmentedList

    class Lossy(real):
        def extend(self, values, /):
            super().extend(np.asarray(values)[:-1])

    monkeypatch.setattr(fuzz_hostile.segpy, "SegmentedList", Lossy)
    rng = random.Random(2)
    with pytest.raises(AssertionError):
        for _ in range(300):
            fuzz_hostile.TestOneInput(rng.randbytes(400))


def test_hostile_harness_detects_a_broken_list():
    """...and the consistency oracle is live: a list whose struct disagrees
    with its views fails the check every step ends with."""
    from hostile import consistent

    class Liar(fuzz_hostile.segpy.SegmentedList):
        def segments(self):
            return super().segments()[:-1]

    lst = Liar("d", range(100), first_segment=1)
    with pytest.raises(AssertionError):
        consistent(lst)
