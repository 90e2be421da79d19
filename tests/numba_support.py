"""Helpers shared by the numba tests (tests/jit/)."""

import os
import subprocess
import sys
import textwrap

import numpy as np


def random_elements(dt, n, seed=0):
    """``n`` elements of ``dt`` from random bytes (bools kept 0 or 1)."""
    rng = np.random.default_rng(seed)
    out = rng.integers(0, 256, size=n * dt.itemsize, dtype=np.uint8).view(dt).copy()
    if dt.kind == "b":
        out = out.view(np.uint8) % 2 == 1
    return out


def run_cached_twice(tmp_path, module_name, module_source, code):
    """Run ``code`` in two fresh interpreters that share one numba cache
    directory, with ``module_source`` importable as ``module_name``; return
    the two outputs (stripped).  The first compiles and fills the cache, the
    second loads from it: code cached by ``@njit(cache=True)`` must link to
    segpy's C functions in a process that never compiled it.
    """
    (tmp_path / f"{module_name}.py").write_text(textwrap.dedent(module_source))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(tmp_path))
    outputs = []
    for _ in range(2):
        # -P: the checkout's segpy/ (no compiled modules) must not shadow
        # the installed package.
        out = subprocess.run([sys.executable, "-P", "-c", textwrap.dedent(code)], env=env,
                             capture_output=True, text=True, check=False, timeout=300)
        assert out.returncode == 0, out.stderr
        outputs.append(out.stdout.strip())
    return outputs
