"""benchmarks/concurrent_report.py at a tiny size, and its no-list ceiling
(``segpy._bench_cc.store_threads``): every row is printed and timed, and
every contender's values are checked by the report's sums."""

import json
import subprocess
import sys

import pytest

from seg_support import REPO

B = pytest.importorskip("segpy._bench_cc")
REPORT = REPO / "benchmarks" / "concurrent_report.py"
pytestmark = pytest.mark.skipif(not REPORT.exists(), reason="no benchmarks/ directory")

ROWS = ("1 thread", "2 threads", "plain push, 1 thread", "no list: stores, 1 thread",
        "no list: stores, 2 threads")
try:
    import numba  # noqa: F401
    # The numba rows: a prange loop through a concurrent writer.
    ROWS += ("numba prange, 1 thread", "numba prange, 2 threads")
except ImportError:
    pass


@pytest.mark.parametrize("warm", [False, True])
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("n", [1, 1000, 300_001])
def test_store_threads_stores_every_value(n, threads, warm):
    ns, total, err = B.store_threads(n, threads, warm)
    assert err == 0 and ns >= 0
    assert total == 3 * n * (n - 1) // 2 + n


@pytest.mark.parametrize("warm", [[], ["--warm"]])
def test_the_report_prints_every_row_and_both_ratios(warm, tmp_path):
    out = tmp_path / "cc.json"
    proc = subprocess.run(
        [sys.executable, "-P", str(REPORT), "--n", "200000", "--repeat", "2",
         "--json", str(out), *warm],
        check=False, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    # 1 means the target was missed, which a tiny noisy run may do.
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    assert "wrong result" not in proc.stderr, proc.stderr
    for row in ROWS:
        assert any(line.startswith(row + " ") for line in proc.stdout.splitlines()), row
    assert "this machine's ceiling" in proc.stdout
    assert ("numba prange through a concurrent writer" in proc.stdout) is (len(ROWS) == 7)
    data = json.loads(out.read_text())
    assert data["warm"] is bool(warm)
    assert set(data["times_ns"]) == set(ROWS)
    assert all(len(v) == 2 and min(v) > 0 for v in data["times_ns"].values())
    assert len(data["ratios"]) == len(data["ceiling_ratios"]) == 2
