"""Crash safety: a writer killed with SIGKILL loses no flushed element.

A child appends ``0, 1, 2, ...`` in chunks of random sizes, flushing now and
then and reporting each flushed length on stdout.  The parent kills it
(SIGKILL: no cleanup runs) right after a report, or at a random moment
that may fall inside a flush, then reopens the file.  Every report read
must be covered by the reopened length, and the data must be exactly
``arange(length)``.

SIGKILL of a process leaves its dirty page-cache pages to the kernel, so
this checks the protocol (the order of data, slot and generation), not the
disk's behaviour on power loss; docs/file-format.md states what a power
loss relies on (fdatasync honoured by the device).
"""

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from segpy import SegmentedList

WRITER = textwrap.dedent("""
    import sys, numpy as np, segpy
    path, seed = sys.argv[1], int(sys.argv[2])
    rng = np.random.default_rng(seed)
    mode = "r+" if sys.argv[3] == "append" else "w"
    lst = segpy.SegmentedList.open(path, "int64", mode=mode) if mode == "r+" else \\
        segpy.SegmentedList.open(path, "int64", mode="w", first_segment=512)
    n = len(lst)
    print("ready", n, flush=True)
    while True:
        k = int(rng.integers(1, 20000))
        lst.extend(np.arange(n, n + k))
        n += k
        if rng.random() < 0.3:
            lst.flush()
            print("flushed", n, flush=True)
""")


def _run_and_kill(path, seed, how, mode="new"):
    rng = random.Random(seed)
    # -P: the checkout's segpy/ (no compiled modules) must not shadow the install.
    proc = subprocess.Popen([sys.executable, "-P", "-c", WRITER, path, str(seed), mode],
                            stdout=subprocess.PIPE, text=True)
    flushed = 0
    try:
        line = proc.stdout.readline().split()
        assert line[0] == "ready", line
        flushed = int(line[1])
        reports = rng.randint(1, 12)
        for _ in range(reports):
            word, n = proc.stdout.readline().split()
            assert word == "flushed"
            flushed = int(n)
        if how == "random":
            time.sleep(rng.random() * 0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    return flushed


@pytest.mark.parametrize("how", ["after_flush", "random"])
@pytest.mark.parametrize("seed", range(6))
def test_sigkill_loses_no_flushed_element(tmp_path, how, seed):
    path = str(tmp_path / "crash.seg")
    flushed = _run_and_kill(path, seed, how)
    lst = SegmentedList.open(path)
    assert len(lst) >= flushed
    assert np.array_equal(lst.to_numpy(), np.arange(len(lst)))
    # Reopened for appending after the crash, then killed again.
    del lst
    flushed = _run_and_kill(path, seed + 100, how, mode="append")
    lst = SegmentedList.open(path)
    assert len(lst) >= flushed
    assert np.array_equal(lst.to_numpy(), np.arange(len(lst)))
    assert os.path.getsize(path) >= 4096 + 8 * len(lst)
