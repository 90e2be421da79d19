"""The shape of the source tree: the layering rules docs/design.md states.

These read the checkout's sources (they skip for an installed package
without them), so a change that breaks a rule fails here, not in review.
"""

import re

import pytest

from seg_support import REPO

SEGPY = REPO / "segpy"
CORE = SEGPY / "_seglist_core.pxi"
if not CORE.exists():  # pragma: no cover - tests run from a checkout
    pytest.skip("the segpy sources are not beside the tests", allow_module_level=True)

SOURCES = sorted(p for p in SEGPY.iterdir() if p.suffix in (".pyx", ".pxd", ".pxi", ".py", ".h"))
# cdef function definitions at module level (one line or the first of several).
CDEF_FN = re.compile(r"^cdef (?:inline )?[\w\s\*]*?\b(\w+)\(", re.MULTILINE)


def _cdef_functions(text):
    """(name, signature up to the colon) of each module-level cdef function."""
    out = []
    for m in CDEF_FN.finditer(text):
        end = text.index(":\n", m.end())
        out.append((m.group(1), " ".join(text[m.start():end].split())))
    return out


def test_the_core_is_noexcept_nogil_only():
    text = CORE.read_text()
    fns = _cdef_functions(text)
    assert len(fns) >= 15, fns
    for name, sig in fns:
        assert sig.endswith("noexcept nogil"), f"{name} in the core is not noexcept nogil: {sig}"
    assert not re.search(r"^(def |cdef class |class )", text, re.MULTILINE), "Python code in the core"
    assert "object" not in "".join(sig for _, sig in fns)


def test_the_boundary_never_calls_core_private_helpers():
    # The core's interface is its seglist_* (public C API) and _seglist_*
    # (module-private kernels) functions; other _names are its own.
    private = [n for n, _ in _cdef_functions(CORE.read_text())
               if n.startswith("_") and not n.startswith("_seglist_")]
    assert private, "the core should have private helpers to protect"
    for path in SOURCES:
        if path == CORE:
            continue
        text = path.read_text()
        for name in private:
            assert not re.search(rf"(?<![\w.]){name}\(", text), (
                f"{path.name} calls the core's private helper {name}()")


def test_long_files_say_why():
    for path in SOURCES:
        lines = path.read_text().split("\n")
        if len(lines) > 1000:
            head = " ".join(lines[:15])
            assert "over 1,000 lines" in head, (
                f"{path.name} has {len(lines)} lines and its first lines do not say why")


def _late_cimports(text):
    """The cimport lines of a .pyx that come after its first statement."""
    # Skip the leading comments and the module docstring.
    body = re.sub(r'\A(?:\s*#[^\n]*\n)*\s*(?:"""(?:.|\n)*?""")?', "", text)
    lines = body.split("\n")
    first = next((i for i, ln in enumerate(lines)
                  if ln and not ln.startswith(("#", "import ", "from ", "cimport "))), len(lines))
    return [ln for ln in lines[first:] if re.match(r"(from \S+ )?cimport ", ln)]


def test_cimports_sit_at_the_top():
    for path in SOURCES:
        if path.suffix == ".pxi":
            assert not re.search(r"^(from \S+ )?cimport ", path.read_text(), re.MULTILINE), (
                f"{path.name}: an include file cimports; cimports belong at the top of the .pyx")
        elif path.suffix == ".pyx":
            late = _late_cimports(path.read_text())
            assert not late, f"{path.name}: cimports after the first statement: {late}"


def test_the_checks_can_fail():
    # The signature reader sees a function that is not noexcept nogil.
    fns = _cdef_functions("cdef int _f(int x) except -1:\n    return x\n")
    assert fns == [("_f", "cdef int _f(int x) except -1")]
    # A cimport after code is seen; one in the opening block is not.
    text = '"""Doc."""\nimport sys\nfrom a cimport b\n\nx = 1\nfrom c cimport d\n'
    assert _late_cimports(text) == ["from c cimport d"]
