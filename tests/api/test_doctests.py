"""Every example in segpy's docstrings runs, and prints what it says it prints.

pytest's ``--doctest-modules`` collects only ``.py`` files, and segpy's
docstrings live in compiled modules, so this runs :mod:`doctest` over each
installed module instead.  Cython's ``autotestdict`` lists each docstring a
second time under ``__test__``; the examples are deduplicated by docstring so
each runs once.
"""

import doctest
import importlib

import pytest

MODULES = ["segpy", "segpy.alloc", "segpy.bump", "segpy.heap", "segpy.buffer",
           "segpy.file", "segpy.seglist", "segpy.demo"]
# Examples that use an optional consumer run only where it is installed
# (.ci/run installs them all for the main run, and removes the native ones
# before the sanitizer run).
OPTIONAL = ("dask", "pyarrow", "polars", "duckdb", "nanoarrow")


def _missing(test):
    """The optional modules the examples mention that cannot be imported."""
    source = "".join(e.source for e in test.examples)
    out = []
    for mod in OPTIONAL:
        if mod in source:
            try:
                importlib.import_module(mod)
            except ImportError:
                out.append(mod)
    return out
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _examples(name):
    """The module's doctests, one per distinct docstring."""
    module = importlib.import_module(name)
    seen, out = set(), []
    for test in doctest.DocTestFinder(exclude_empty=True).find(module, name):
        if test.examples and test.docstring not in seen:
            seen.add(test.docstring)
            out.append(test)
    return out


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    report = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in _examples(name):
        if not _missing(test):
            runner.run(test, out=report.append)
    failed, _ = runner.summarize(verbose=False)
    assert failed == 0, "".join(report)


def test_the_examples_are_found():
    # The finder must see the methods of the compiled classes, or the test
    # above would pass on nothing.
    names = {t.name for name in MODULES for t in _examples(name)}
    for where in ("segpy.seglist.SegmentedList", "segpy.seglist.SegmentedList.take",
                  "segpy.alloc.Allocator.allocate", "segpy.bump.BumpAllocator.scope",
                  "segpy.heap.Heap", "segpy.buffer.BufferAllocator"):
        assert where in names, sorted(names)
    assert sum(len(t.examples) for name in MODULES for t in _examples(name)) >= 60


def test_a_wrong_example_fails():
    # The harness can fail: an example whose output differs is counted.
    test = doctest.DocTestParser().get_doctest(
        ">>> import segpy\n>>> len(segpy.SegmentedList('q', [1, 2]))\n3\n",
        {}, "wrong", None, 0)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    runner.run(test, out=lambda s: None)
    assert runner.summarize(verbose=False).failed == 1
