"""benchmarks/report.py's plan, in process: which samples are primed, and
the progress bar's cost model, which must count the priming it does."""

import importlib.util
import sys

import pytest

from seg_support import REPO

PATH = REPO / "benchmarks" / "report.py"
pytestmark = pytest.mark.skipif(not PATH.exists(), reason="no benchmarks/ directory")


@pytest.fixture(scope="module")
def report():
    saved = list(sys.path)
    try:
        spec = importlib.util.spec_from_file_location("report_under_test", PATH)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path[:] = saved
    return mod


SIZES = [1000, 10_000, 1_000_000, 2_000_000, 10**7]


class Reached(Exception):
    """Raised by the fake run_group: time_measure got there."""


@pytest.mark.parametrize("measure", ["append", "extend", "get", "iterate", "to_numpy"])
@pytest.mark.parametrize("dtype", ["int64", "record"])
def test_the_cost_model_counts_what_run_group_primes(report, monkeypatch, measure, dtype):
    args = report.parse_args(["--sizes", ",".join(map(str, SIZES)), "--record-sizes",
                              "1000,1000000", "--no-progress", "--no-plots"])
    seen = {}

    def fake_run_group(contenders, repeat, warmup, tick, prime=False):
        seen["prime"] = prime
        seen["impls"] = list(contenders)
        raise Reached            # stop before anything is timed

    monkeypatch.setattr(report, "run_group", fake_run_group)
    sizes = SIZES if dtype == "int64" else [1000, 1_000_000]
    for n in sizes:
        seen.clear()
        try:
            report.time_measure(measure, dtype, n, args, tick=None)
        except Reached:
            pass
        assert seen, "time_measure did not reach run_group"
        assert seen["prime"] == report.primed(measure, n, args)
        cost = report.task_cost((dtype, measure, n), args)
        monkeypatch.setattr(report, "PRIME_SECONDS", 0.0)
        unprimed = report.task_cost((dtype, measure, n), args)
        monkeypatch.undo()
        monkeypatch.setattr(report, "run_group", fake_run_group)
        rounds = report.repeats_for(n, args, measure, dtype) + report.warmup_for(n, args)
        extra = report.PRIME_SECONDS * rounds * len(seen["impls"]) if seen["prime"] else 0.0
        assert cost == pytest.approx(unprimed + extra)
    # The bulk measures are primed up to 10^6 elements, and nothing else is.
    assert report.primed(measure, 1000, args) == (measure in ("extend", "to_numpy"))
    assert not report.primed(measure, 2_000_000, args)
