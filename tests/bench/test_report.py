"""benchmarks/report.py at tiny sizes: it runs, writes its plots and table.md,
and every printed ratio is the ratio of the two figures printed beside it
(an earlier report printed medians beside a median of per-run ratios, and
its rows contradicted themselves)."""

import importlib.util
import json
import re
import subprocess
import sys

import pytest

from seg_support import REPO

REPORT = REPO / "benchmarks" / "report.py"
HAVE_MPL = importlib.util.find_spec("matplotlib") is not None

pytestmark = pytest.mark.skipif(not REPORT.exists(), reason="no benchmarks/ directory")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    proc = subprocess.run(
        [sys.executable, "-P", str(REPORT), "--sizes", "1000,10000", "--record-sizes", "1000",
         "--mem-sizes", "10000", "--repeat", "1", "--no-progress", "--plots", str(out)],
        check=False, capture_output=True, text=True, timeout=600, cwd=REPO)
    # 1 means a target failed, which tiny noisy sizes may do: not this test's concern.
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return proc, out


def _text_rows(stdout):
    """The data rows of every printed table, split into cells."""
    rows = []
    lines = stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("N ") or line.lstrip().startswith("N  "):
            for row in lines[i + 2:]:
                if not row.strip():
                    break
                rows.append(re.split(r"\s{2,}", row.strip()))
    return rows


def _md_rows(text):
    return [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in text.splitlines()
            if line.startswith("| 10^")]


def _check_rows(rows):
    assert rows
    for cells in rows:
        seg, best, ratio, target = cells[-4:]
        seg_fig = float(seg.split()[0])
        best_fig = float(best.split()[0])
        assert ratio == f"{seg_fig / best_fig:.2f}", cells
        assert target in ("PASS", "tie", "FAIL", "info"), cells
        if target != "info":
            assert (target == "PASS") == (float(ratio) <= 1.0), cells
        if target == "tie":
            assert 1.0 < float(ratio) <= 1.05, cells


def test_printed_ratios_match_their_figures(run):
    proc, _ = run
    rows = _text_rows(proc.stdout)
    _check_rows(rows)
    # int64 append, extend, get, iterate, to_numpy at two sizes, memory at
    # one; records: five measures at one size.
    assert len(rows) == 5 * 2 + 1 + 5


def test_array_cannot_hold_records(run):
    _, out = run
    md = (out / "table.md").read_text()
    record_rows = md.split("record (40 bytes)", 1)[1]
    assert "| n/a |" in record_rows


def test_table_md(run):
    proc, out = run
    md = (out / "table.md").read_text()
    for what in ("CPU", "cores", "RAM", "Python", "numpy", "--sizes 1000,10000"):
        assert what in md
    _check_rows(_md_rows(md))
    assert len(_md_rows(md)) == len(_text_rows(proc.stdout))


def test_plots(run):
    _, out = run
    pngs = sorted(p.name for p in out.glob("*.png"))
    if not HAVE_MPL:
        assert pngs == []
        return
    expected = {f"{m}_int64.png" for m in ("append", "extend", "get", "iterate", "to_numpy",
                                            "memory")}
    expected |= {f"{m}_record.png" for m in ("append", "extend", "get", "iterate", "to_numpy")}
    assert set(pngs) == expected
    for name in pngs:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


_VERDICTS = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("report", sys.argv[1])
r = importlib.util.module_from_spec(spec)
spec.loader.exec_module(r)
def rows(seg, **others):
    d = {"segpy": seg}
    d.update(others)
    return d
out = {
    "min": [r.sign_test_min(n) for n in range(1, 11)],
    # segpy 2% slower by the medians, faster than the peer in 2 of 9: a tie
    "tie": r.verdict(1.02, rows([1.02] * 7 + [0.9, 0.9], array=[1.0] * 9)),
    # the peer faster in 8 of 9: consistently, a FAIL
    "fail_consistent": r.verdict(1.02, rows([1.02] * 8 + [0.9], array=[1.0] * 9)),
    # a second peer, not the best one, consistently faster: a FAIL too
    "fail_other_peer": r.verdict(1.02, rows([1.02] * 7 + [0.9, 1.0],
                                            array=[1.0] * 7 + [1.0, 1.1],
                                            numpy_oneshot=[1.01] * 7 + [0.85, 0.95])),
    "fail_large": r.verdict(1.06, rows([1.06] * 5 + [0.9] * 4, array=[1.0] * 9)),
    "fail_few_reps": r.verdict(1.01, rows([1.01, 0.9, 1.01], array=[1.0] * 3)),
    "pass": r.verdict(1.0, rows([1.0] * 9, array=[0.5] * 9)),
}
print(json.dumps(out))
"""


def test_verdicts():
    # A tie needs both a small ratio and no peer faster in enough paired
    # repetitions for a one-sided sign test at 5%.
    proc = subprocess.run([sys.executable, "-P", "-c", _VERDICTS, str(REPORT)],
                          check=True, capture_output=True, text=True, timeout=300, cwd=REPO)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    # P(X >= k) <= 0.05 for X ~ Binomial(n, 1/2): none below 5 repetitions.
    assert out["min"] == [None, None, None, None, 5, 6, 7, 7, 8, 9]
    assert out["tie"] == "tie"
    assert out["fail_consistent"] == "FAIL"
    assert out["fail_other_peer"] == "FAIL"
    assert out["fail_large"] == "FAIL"
    assert out["fail_few_reps"] == "FAIL"
    assert out["pass"] == "PASS"


_PRIMING = r"""
import importlib.util, json, sys, time
spec = importlib.util.spec_from_file_location("report", sys.argv[1])
r = importlib.util.module_from_spec(spec)
spec.loader.exec_module(r)
calls = []
def fn():
    calls.append(time.perf_counter())
    time.sleep(0.0005)
    return len(calls)
before = time.perf_counter()
dt, out = r.timed(fn, prime=True)
primed = list(calls)
calls.clear()
r.timed(fn)
print(json.dumps({"before": before, "primed": primed, "result": out, "plain": len(calls),
                  "budget": r.PRIME_SECONDS}))
"""


def test_priming_fills_its_budget():
    # One untimed call was not enough after the list contender freed 10^6
    # ints: the timed call comes after PRIME_SECONDS of untimed calls.  The
    # bounds below hold however long a call takes on a loaded machine (the
    # budget's clock starts between ``before`` and the first call).
    proc = subprocess.run([sys.executable, "-P", "-c", _PRIMING, str(REPORT)],
                          check=True, capture_output=True, text=True, timeout=300, cwd=REPO)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["plain"] == 1
    starts, budget = out["primed"], out["budget"]
    assert len(starts) >= 2
    # The timed call starts once the budget is spent ...
    assert starts[-1] >= out["before"] + budget
    # ... and no untimed call starts after it was spent.
    assert starts[-2] < starts[0] + budget
    # The timed call's result is the last call's.
    assert out["result"] == len(starts)


def test_spread_report(tmp_path):
    spread = REPO / "benchmarks" / "spread_report.py"
    proc = subprocess.run(
        [sys.executable, "-P", str(spread), "--processes", "2", "--measures", "extend",
         "--sizes", "1000"],
        check=True, capture_output=True, text=True, timeout=600, cwd=REPO)
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith("extend ")]
    assert len(rows) == 1, proc.stdout
    cells = rows[0]
    assert cells[1] == "10^3"
    # five ratio columns (best peer and four peers), each "median [min-max]"
    ratios = [float(c) for c in cells[2:-1:2]]
    spans = cells[3:-1:2]
    assert len(ratios) == 5 and all(x > 0 for x in ratios)
    for med, span in zip(ratios, spans):
        lo, hi = (float(x) for x in span.strip("[]").split("-"))
        assert lo <= med <= hi
    # per process, the ratio to the best peer is the largest of the ratios to
    # each peer, so its median is at least each peer's median (to rounding)
    assert ratios[0] >= max(ratios[1:]) - 0.005
    wins, total = cells[-1].split("/")
    assert total == "2" and 0 <= int(wins) <= 2


_PER_CONTENDER = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("report", sys.argv[1])
r = importlib.util.module_from_spec(spec)
spec.loader.exec_module(r)
calls = {"a": 0, "b": 0}
def make(k):
    def fn():
        calls[k] += 1
    return fn
samples = r.run_group({"a": make("a"), "b": make("b")}, {"a": 3, "b": 1}, warmup=1)
print(json.dumps({"samples": {k: len(v) for k, v in samples.items()}, "calls": calls}))
"""


def test_run_group_takes_repetitions_per_contender():
    # From --fresh-from, the list contender's bulk calls take one repetition
    # while the others take five.
    proc = subprocess.run([sys.executable, "-P", "-c", _PER_CONTENDER, str(REPORT)],
                          check=True, capture_output=True, text=True, timeout=300, cwd=REPO)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["samples"] == {"a": 3, "b": 1}
    assert out["calls"] == {"a": 4, "b": 2}     # one warm-up round each


def test_list_max_skips_the_list_but_not_its_memory_run():
    proc = subprocess.run(
        [sys.executable, "-P", str(REPORT), "--sizes", "1000,10000", "--record-sizes", "",
         "--mem-sizes", "10000", "--measures", "extend,get,memory", "--repeat", "1",
         "--list-max", "1000", "--no-plots", "--no-progress"],
        check=False, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    rows = _text_rows(proc.stdout)
    _check_rows(rows)
    by_n = {}
    for cells in rows:
        by_n.setdefault(cells[0], []).append(cells[1])     # the list's column
    # extend and get at 10^3 ran the list; at 10^4 they did not, the memory run did.
    assert [c != "not run" for c in by_n["10^3"]] == [True, True]
    extend, get, memory = by_n["10^4"]
    assert extend == get == "not run"
    assert memory.endswith("x)")
    assert "not run: the list contender runs" in proc.stdout
