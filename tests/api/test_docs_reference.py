"""The API reference covers every public name, and every signature renders.

Three levels, from cheapest:

* ``docs/api.md`` lists every name in ``segpy.__all__`` in an autosummary
  table (the reference's source; the class template then documents each
  class's methods and properties);
* every public callable (each name in ``__all__`` and each public method of
  the classes) has an ``inspect.signature`` (what autodoc renders) and a
  docstring with numpydoc sections (a property's docstring is its
  ``type : description`` line);
* where a built site is given (``SEGPY_DOCS_HTML=<sphinx html output>``,
  as .ci/run sets after its ``sphinx-build``), its object inventory
  (``objects.inv``) holds every public name and every public member of
  each class, documented on the class that defines it; members a class
  declares at the C level without a docstring must be in its
  ``Attributes`` section instead.  Without a build this test skips.
"""

import inspect
import os
import re
import zlib
from pathlib import Path

import pytest

import segpy

DOCS = Path(__file__).resolve().parents[2] / "docs"
SECTIONS = ("Parameters", "Returns", "Yields", "Raises", "See Also", "Notes",
            "Examples", "Attributes")


def public_members(cls):
    """{name: defining class} for the public attributes segpy classes define."""
    out = {}
    for klass in cls.__mro__:
        if not klass.__module__.startswith("segpy"):
            continue                 # object's, Exception's: not segpy's API
        for name in vars(klass):
            if not name.startswith("_"):
                out.setdefault(name, klass)
    return out


def _is_property(obj):
    return isinstance(obj, property) or inspect.isgetsetdescriptor(obj) \
        or inspect.ismemberdescriptor(obj)


def public_callables():
    """(qualified name, object) for every public function, class and method."""
    out = []
    for name in segpy.__all__:
        obj = getattr(segpy, name)
        out.append((name, obj))
        if inspect.isclass(obj):
            for member, klass in public_members(obj).items():
                raw = vars(klass)[member]
                if not _is_property(raw) and callable(getattr(obj, member)):
                    out.append((f"{name}.{member}", getattr(obj, member)))
    return out


def autosummary_names(text):
    """The names listed in the autosummary tables of a page."""
    names = []
    for block in re.findall(r"\.\. autosummary::\n(.*?)(?:```|\Z)", text, re.DOTALL):
        for line in block.splitlines():
            line = line.strip()
            if line and not line.startswith(":"):
                names.append(line)
    return names


def test_api_page_lists_every_public_name():
    listed = autosummary_names((DOCS / "api.md").read_text(encoding="utf-8"))
    missing = sorted(set(segpy.__all__) - set(listed))
    assert not missing, f"docs/api.md does not list {missing}"
    unknown = sorted(set(listed) - set(segpy.__all__))
    assert not unknown, f"docs/api.md lists names segpy does not export: {unknown}"


@pytest.mark.parametrize("qualname,obj", public_callables(),
                         ids=[q for q, _ in public_callables()])
def test_signature_and_sections(qualname, obj):
    sig = inspect.signature(obj)          # raises ValueError where none renders
    if inspect.isclass(obj) and not issubclass(obj, BaseException):
        # A class's signature is written by hand at the top of its docstring
        # (Cython classes have no __init__ to read it from): it must be the
        # constructor's, not object's bare "()" by accident.
        assert str(sig) != "(*args, **kwargs)", qualname
    doc = inspect.getdoc(obj) or ""
    assert doc.strip(), f"{qualname} has no docstring"
    sections = [s for s in SECTIONS if re.search(rf"^{s}\n-{{3,}}$", doc, re.MULTILINE)]
    assert sections, f"{qualname}'s docstring has no numpydoc section"


def test_every_property_has_a_docstring_or_an_attributes_entry():
    for name in segpy.__all__:
        cls = getattr(segpy, name)
        if not inspect.isclass(cls):
            continue
        for member, klass in public_members(cls).items():
            raw = vars(klass)[member]
            if _is_property(raw) and not (raw.__doc__ or "").strip():
                doc = inspect.getdoc(klass) or ""
                assert re.search(rf"^{member} : ", doc, re.MULTILINE), \
                    f"{klass.__name__}.{member} has no docstring and no Attributes entry"


def read_inventory(path):
    """The object names in a Sphinx objects.inv (format version 2)."""
    data = Path(path).read_bytes()
    header_end = 0
    for _ in range(4):                     # four text lines, then zlib data
        header_end = data.index(b"\n", header_end) + 1
    body = zlib.decompress(data[header_end:]).decode("utf-8")
    return {line.split(" ", 1)[0] for line in body.splitlines() if line.strip()}


def missing_from_inventory(names):
    """The public names and members a set of documented names lacks."""
    missing = []
    for name in segpy.__all__:
        obj = getattr(segpy, name)
        if f"segpy.{name}" not in names:
            missing.append(f"segpy.{name}")
        if not inspect.isclass(obj):
            continue
        for member, klass in public_members(obj).items():
            raw = vars(klass)[member]
            if _is_property(raw) and not (raw.__doc__ or "").strip():
                continue                   # the Attributes section, checked above
            owner = klass.__name__ if klass.__name__ in segpy.__all__ else name
            if f"segpy.{owner}.{member}" not in names:
                missing.append(f"segpy.{owner}.{member}")
    return missing


def test_built_reference_documents_every_public_name():
    html = os.environ.get("SEGPY_DOCS_HTML")
    if not html:
        pytest.skip("no built site: set SEGPY_DOCS_HTML to sphinx-build's html output")
    names = read_inventory(Path(html) / "objects.inv")
    missing = missing_from_inventory(names)
    assert not missing, f"the built reference lacks {missing}"


def test_the_inventory_check_can_fail():
    # A reference without SegmentedList.append (or without a class) is caught.
    full = {f"segpy.{n}" for n in segpy.__all__}
    for name in segpy.__all__:
        obj = getattr(segpy, name)
        if inspect.isclass(obj):
            full |= {f"segpy.{k.__name__}.{m}" for m, k in public_members(obj).items()}
    assert missing_from_inventory(full) == []
    assert missing_from_inventory(full - {"segpy.SegmentedList.append"}) == [
        "segpy.SegmentedList.append"]
    assert "segpy.Heap" in missing_from_inventory(full - {"segpy.Heap"})
