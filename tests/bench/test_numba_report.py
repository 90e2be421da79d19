"""benchmarks/numba_report.py at tiny sizes: its rows, and the untimed
memory it makes and drops before each timed call of the fresh rows.

Settling exists because of a virtual machine's host (see the report's
docstring); what is tested here is that it is applied to both sides of
every fresh row, and to nothing else, and that --no-settle turns it off.
"""

import importlib.util
import json
import sys

import pytest

from seg_support import REPO

pytest.importorskip("numba")

PATH = REPO / "benchmarks" / "numba_report.py"
pytestmark = pytest.mark.skipif(not PATH.exists(), reason="no benchmarks/ directory")

N, READS, REPEAT = 4096, 512, 2
FRESH = {"append, fresh (default Heap)": 8 * N, "append, fresh (new Heap each run)": 8 * N,
         "append, fresh, vs typed.List": 8 * N, "append + to_numpy(), vs typed.List": 16 * N}


@pytest.fixture(scope="module")
def report():
    sys.path.insert(0, str(PATH.parent))
    try:
        spec = importlib.util.spec_from_file_location("numba_report_under_test", PATH)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(PATH.parent))
    return mod


def _run(report, tmp_path, monkeypatch, *extra):
    calls = []
    real = report.np.ones

    def ones(n, dtype=None):
        calls.append(8 * n)
        return real(n, dtype)

    monkeypatch.setattr(report.np, "ones", ones)
    out = tmp_path / "rows.json"
    rc = report.main(["--n", str(N), "--reads", str(READS), "--repeat", str(REPEAT),
                      "--json", str(out), *extra])
    assert rc in (0, 1)               # tiny noisy sizes may miss a target
    return json.loads(out.read_text())["rows"], calls


def test_every_row_and_the_settling_of_the_fresh_rows(report, tmp_path, monkeypatch):
    rows, calls = _run(report, tmp_path, monkeypatch)
    measures = [r["measure"] for r in rows]
    assert set(FRESH) <= set(measures)
    assert sum("random get" in m for m in measures) == 6
    for r in rows:
        assert r["samples"] == REPEAT and r["ratio"][1] <= r["ratio"][0] <= r["ratio"][2]
    # Two sides a round, REPEAT timed rounds and the untimed one, per fresh
    # row; the warm row's written array (np.ones(n) each round) is the only
    # other np.ones of n elements.
    rounds = 2 * (REPEAT + 1)
    want = sorted([b for b in FRESH.values() for _ in range(rounds)] + [8 * N] * (REPEAT + 1))
    assert sorted(c for c in calls if c >= 8 * N) == want


def test_no_settle_settles_nothing(report, tmp_path, monkeypatch):
    try:
        rows, calls = _run(report, tmp_path, monkeypatch, "--no-settle")
    finally:
        report.SETTLE = True
    assert len(rows) == 11
    # Only the warm row's written arrays remain.
    assert sorted(c for c in calls if c >= 8 * N) == [8 * N] * (REPEAT + 1)
