#!/usr/bin/env python3
"""Long run of the SegmentedList sequence machines: at least N rule steps each.

    python -P tools/sequence_machine_long_run.py [--steps 100000]

The machines are those of ``tests/list/test_model.py`` (every mutating operation,
slices, iterators, views and injected failures against a Python list, for
int64, float64 and a record dtype).  Steps are counted with an extra
invariant: hypothesis runs invariants after a machine's initialisation and
after every rule, so steps = invariant calls - examples.  Any failure stops
the run with hypothesis' report of the failing sequence.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

from hypothesis import settings
from hypothesis.stateful import invariant, run_state_machine_as_test

TESTS = Path(__file__).resolve().parent.parent / "tests"


def load_test_model():
    sys.path.insert(0, str(TESTS))
    spec = importlib.util.spec_from_file_location("test_model", TESTS / "test_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(machine_class, steps: int) -> tuple[int, int]:
    """Run ``machine_class`` until ``steps`` rules ran; (steps, examples)."""
    calls = [0]
    examples = [0]

    class Counted(machine_class):
        def __init__(self):
            super().__init__()
            examples[0] += 1

        @invariant()
        def _count_steps(self):
            calls[0] += 1

    while calls[0] - examples[0] < steps:
        run_state_machine_as_test(Counted, settings=settings(
            max_examples=2000, stateful_step_count=10, deadline=None, database=None,
            report_multiple_bugs=False))
    return calls[0] - examples[0], examples[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100_000, help="rule steps per machine")
    args = parser.parse_args()
    tm = load_test_model()
    for name in tm._SEQ_CASES:
        t0 = time.perf_counter()
        steps, examples = run(tm.make_sequence_machine(name), args.steps)
        print(f"{name}: {steps} steps in {examples} examples, "
              f"{time.perf_counter() - t0:.0f} s, 0 failures", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
