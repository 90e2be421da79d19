"""Every ```python example on the documentation site runs as written.

Each page in ``docs/`` is one test: its ```python blocks run in order in one
fresh namespace (so a page may build on its earlier blocks, as a reader
does), from a fresh temporary directory (so examples may write files).  A
block written as a ``>>>`` session runs as a doctest, and its printed output
must match (ELLIPSIS and NORMALIZE_WHITESPACE, as for the docstrings); any
other block is executed, and must not raise.

Blocks in other languages (```cython, ```c, ```bash) are not Python and do
not run here: the Cython consumer example is built and run by
``tests/capi/test_extending.py``, and the shell commands are set-up recipes.
A Python block that cannot run by design is listed in ``SKIP`` with its
reason; a page whose examples use an optional consumer (pyarrow, dask...)
is skipped where that consumer is not installed, as in test_doctests.py.
"""

import doctest
import importlib
import os
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
OPTIONAL = ("dask", "pyarrow", "polars", "duckdb", "nanoarrow", "numba")

# (page, first line of the block) -> why it does not run.  Keep this short:
# every entry is an example a reader cannot paste either.
SKIP = {
    ("c-api.md", "import ctypes, segpy"):
        "needs CAPI, a ctypes.Structure mirroring the C table above it "
        "(tests/capi/test_capi.py defines it and runs this code)",
}

_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(text):
    """The ```python blocks of a markdown page, in order."""
    return [m.group(1) for m in _FENCE.finditer(text)]


def _first_line(block):
    return next((ln.strip() for ln in block.splitlines() if ln.strip()), "")


def _missing_modules(blocks):
    out = []
    source = "\n".join(blocks)
    for mod in OPTIONAL:
        if re.search(rf"\b{mod}\b", source):
            try:
                found = importlib.import_module(mod)
            except ImportError:
                out.append(mod)
                continue
            # A directory of that name on sys.path (a namespace package) is
            # not the library.
            if getattr(found, "__file__", None) is None:
                out.append(mod)
    return out


def run_page(name, text):
    """Run a page's blocks in order in one namespace; return the failures."""
    namespace = {"__name__": f"docs_{name}"}
    failures, ran = [], 0
    parser = doctest.DocTestParser()
    for k, block in enumerate(python_blocks(text)):
        if (name, _first_line(block)) in SKIP:
            continue
        where = f"{name}, python block {k + 1} ({_first_line(block)!r})"
        ran += 1
        if block.lstrip().startswith(">>>"):
            test = parser.get_doctest(block, {}, where, name, 0)
            test.globs = namespace          # not a copy: a `del` must free
            report = []
            runner = doctest.DocTestRunner(optionflags=FLAGS)
            result = runner.run(test, out=report.append, clear_globs=False)
            if result.failed:
                failures.append(where + ":\n" + "".join(report))
        else:
            try:
                # Running the page's own example is the point of this test.
                exec(compile(block, where, "exec"), namespace)  # noqa: S102
            except Exception as exc:  # noqa: BLE001 - any error fails the page
                failures.append(f"{where}: {type(exc).__name__}: {exc}")
    return ran, failures


def _pages():
    return sorted(p.name for p in DOCS.glob("*.md"))


@pytest.mark.parametrize("name", _pages())
def test_page_examples_run(name, tmp_path, monkeypatch):
    text = (DOCS / name).read_text(encoding="utf-8")
    blocks = python_blocks(text)
    if not blocks:
        pytest.skip("no python examples on this page")
    missing = _missing_modules(blocks)
    if missing:
        pytest.skip(f"the examples use {', '.join(missing)}, not installed")
    monkeypatch.chdir(tmp_path)
    _, failures = run_page(name, text)
    assert not failures, "\n\n".join(failures)


def test_the_examples_are_found():
    # The harness must see the pages' examples, or the test above would pass
    # on nothing; and every skip-list entry must still name a real block.
    total = 0
    firsts = set()
    for name in _pages():
        blocks = python_blocks((DOCS / name).read_text(encoding="utf-8"))
        total += len(blocks)
        firsts.update((name, _first_line(b)) for b in blocks)
    assert total >= 20, total
    assert set(SKIP) <= firsts, set(SKIP) - firsts


def test_a_broken_example_fails(tmp_path):
    # Both kinds of block can fail: a session whose output differs, and a
    # script that raises.
    page = ("```python\n>>> import segpy\n>>> len(segpy.SegmentedList('q', [1, 2]))\n3\n```\n"
            "\n```python\nimport segpy\nsegpy.SegmentedList('q').pop()\n```\n")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        ran, failures = run_page("broken.md", page)
    finally:
        os.chdir(cwd)
    assert ran == 2
    assert len(failures) == 2, failures
    assert "Expected:\n    3\nGot:\n    2" in failures[0]
    assert "IndexError" in failures[1]
