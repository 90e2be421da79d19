"""The type sweep: no segpy type can be used to kill the process (docs/bad-input.md, class 3).

Every class segpy defines is found by walking the subclass tree of
``object`` (so internal iterators, scopes, exports and Cython's own helper
types are covered, and a new type needs no change here).  For each one a
subprocess (``sweep_child.py``) builds instances through ``cls.__new__(cls)``
alone, ``cls()``, a Python subclass, and every factory of normal use, then
calls every method with hostile argument sets and pokes the protocols.  A
Python exception is a pass; a process killed by a signal (a segfault, or
an abort from a sanitizer) fails the test and names the type.

The harness is checked to detect a real crash: a child that reads address 0
must be reported as killed by a signal.
"""

import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from seg_support import TESTS

CHILD = TESTS / "sweep_child.py"
TIMEOUT = 120          # seconds per child; a child takes well under 1 s


def _child_env():
    env = dict(os.environ)
    # Under AddressSanitizer a wild read is reported and the process exits
    # with status 1 unless abort_on_error is set; make it die by SIGABRT so
    # it is told apart from a Python-level failure.
    if "asan" in env.get("LD_PRELOAD", "") or "ASAN_OPTIONS" in env:
        opts = env.get("ASAN_OPTIONS", "")
        env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "abort_on_error=1"
    return env


def run_child(args, env=None):
    """Run ``python -P <args>``; return (returncode, stdout, stderr).

    -P keeps the source tree (which has no compiled modules) off sys.path.
    """
    proc = subprocess.run([sys.executable, "-P", *args], check=False, capture_output=True,
                          text=True, timeout=TIMEOUT, env=env or _child_env(),
                          stdin=subprocess.DEVNULL)
    return proc.returncode, proc.stdout, proc.stderr


def describe_death(code):
    """'killed by SIGSEGV' for a negative return code, else None."""
    if code >= 0:
        return None
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


def _discover():
    code, out, err = run_child([str(CHILD), "--list"])
    assert code == 0, f"type discovery failed ({code}):\n{err}"
    return json.loads(out.strip().splitlines()[-1])


TYPES = _discover()


@pytest.fixture(scope="module")
def sweep_results():
    # Two children at a time: the CI machines have two cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda key: (key, run_child([str(CHILD), key])), TYPES))
    return dict(runs)


def test_discovery_finds_the_known_types():
    # The walk must see the types that are not exported by any module, or
    # the sweep would silently skip them.
    for key in ("segpy.seglist.SegmentedList", "segpy.seglist._Iterator",
                "segpy.seglist._ReverseIterator", "segpy.seglist._SegmentExport",
                "segpy.bump._Scope", "segpy.bump.BumpAllocator", "segpy.heap.Heap",
                "segpy.buffer.BufferAllocator", "segpy.alloc.Allocator",
                "segpy.alloc.SystemAllocator", "segpy.alloc.Block"):
        assert key in TYPES
    # Types of the test-only modules, including Cython's generated helpers.
    assert any(k.startswith("segpy._capi_testing.") for k in TYPES)
    assert any(k.startswith("segpy._bench.") for k in TYPES)


@pytest.mark.parametrize("key", TYPES)
def test_no_type_kills_the_process(sweep_results, key):
    code, out, err = sweep_results[key]
    death = describe_death(code)
    assert death is None, f"{key}: the sweep child was {death}:\n{err[-3000:]}"
    assert code == 0, f"{key}: the sweep child failed ({code}):\n{err[-3000:]}"
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["calls"] > 0


# The internal types must refuse to be made from Python (TypeError), both by
# a call and by __new__ alone; these are the ones segpy itself defines.
SEALED = ["segpy.seglist._Iterator", "segpy.seglist._ReverseIterator",
          "segpy.seglist._SegmentExport", "segpy.bump._Scope", "segpy.alloc.Allocator"]


@pytest.mark.parametrize("key", SEALED)
def test_internal_types_refuse_construction(sweep_results, key):
    summary = json.loads(sweep_results[key][1].strip().splitlines()[-1])
    assert summary["new_refused"] and summary["call_refused"], summary


def test_sweep_exercised_the_types(sweep_results):
    # Normal-use factories reached the internal types (otherwise only the
    # refused __new__ would have been tried), and the sweep made many calls.
    summaries = {k: json.loads(v[1].strip().splitlines()[-1]) for k, v in sweep_results.items()}
    for key in ("segpy.seglist._Iterator", "segpy.seglist._ReverseIterator",
                "segpy.seglist._SegmentExport", "segpy.bump._Scope", "segpy.alloc.Block",
                "segpy.seglist.SegmentedList", "segpy.heap.Heap"):
        assert summaries[key]["instances"] >= 1, key
    total = sum(s["calls"] for s in summaries.values())
    print(f"type sweep: {len(summaries)} types, {total} hostile calls")
    assert total > 50_000


def test_harness_detects_a_crash(tmp_path):
    # The check above can fail: a child that dereferences NULL is seen as
    # killed by a signal (SIGSEGV, or SIGABRT under AddressSanitizer).  Its
    # sanitizer report, which is expected, goes to this test's own
    # directory, not to the log_path where CI looks for real ones.
    env = _child_env()
    for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        if name in env:
            opts = [o for o in env[name].split(":") if o and not o.startswith("log_path=")]
            env[name] = ":".join([*opts, f"log_path={tmp_path / 'expected-report'}"])
    code, _, _ = run_child(["-c", "import ctypes; ctypes.string_at(0)"], env=env)
    assert describe_death(code) is not None, code


def test_harness_passes_a_clean_exit():
    code, _, _ = run_child(["-c", "raise SystemExit(0)"])
    assert code == 0 and describe_death(code) is None
