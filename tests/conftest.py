"""pytest configuration: shared fixtures (dtype families, first-segment sizes).

The families, the hypothesis profiles and the helpers live in
``seg_support.py``; this directory and ``fuzz/`` are put on ``sys.path`` so
test modules can import them (pytest runs with ``--import-mode=importlib``,
which does not).  The tests are grouped by concern, one directory each:
``list/`` (the sequence), ``alloc/`` (allocators), ``capi/`` (the Cython and C
API), ``robust/`` (hostile input, lifetimes, threads, resources), ``interop/``
(Arrow export and import against pyarrow, polars, DuckDB, nanoarrow), ``api/``
(signatures and docstrings) and ``bench/`` (the benchmark helpers).
"""

import glob
import importlib.util
import os
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(_HERE)


def _source_tree_without_extensions(path):
    """True if ``path`` is the repository root, whose segpy/ has no compiled modules."""
    if os.path.abspath(path or os.getcwd()) != _REPO:
        return False
    pkg = os.path.join(_REPO, "segpy")
    return not glob.glob(os.path.join(pkg, "seglist*.so")) + glob.glob(
        os.path.join(pkg, "seglist*.pyd"))


# ``python -m pytest`` puts the current directory (the repository root) first
# on sys.path, where the uncompiled source package would shadow the installed
# build; drop it so the tests always import the installed segpy.
sys.path[:] = [p for p in sys.path if not _source_tree_without_extensions(p)]
sys.path.insert(0, _HERE)
sys.path.insert(1, os.path.join(_HERE, "fuzz"))

# The suite drives the C API through a test-only extension that a plain
# install leaves out; say how to get it rather than fail test by test.
if importlib.util.find_spec("segpy._capi_testing") is None:
    raise pytest.UsageError(
        "segpy is installed without its test extension modules: install it with "
        "pip install '.[test]' -Cinstall-args=--tags=runtime,python-runtime,tests "
        "(the README's test command)")

import segpy

from seg_support import FAMILIES, FIRST_SEGMENTS


@pytest.fixture(params=FAMILIES, ids=lambda f: f.name)
def family(request):
    return request.param


@pytest.fixture(params=FIRST_SEGMENTS, ids=lambda s: f"s0={s}")
def first_segment(request):
    return request.param


@pytest.fixture
def allocator():
    """A fresh SystemAllocator, so that byte counts are this test's alone."""
    return segpy.SystemAllocator()


