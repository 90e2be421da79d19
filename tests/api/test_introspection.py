"""Introspection that tools rely on (docs/bad-input.md, class 5).

* inspect.signature() works on every public callable of segpy: the module
  functions, the classes, and every method the classes define, and names the
  real parameters (the ones the numpydoc ``Parameters`` section documents,
  and the ones a call accepts);
* the one-argument hot methods stay METH_O, list.append's convention;
* a bad constructor call names the class, not a Cython internal.
"""

import ctypes
import importlib
import inspect
import re
import sys
import types

import numpy as np
import pytest

import segpy
from segpy.buffer import BufferAllocator
from segpy.bump import BumpAllocator
from segpy.heap import Heap

from seg_support import ALLOCATORS, make_allocator

MODULES = ["segpy", "segpy.alloc", "segpy.bump", "segpy.heap", "segpy.buffer", "segpy.seglist"]

# Methods whose real signature is variadic.
VARIADIC = {
    "allocator.__exit__",     # (*exc), as any context manager's
    "SystemAllocator._release_raw",
    "SystemAllocator._request_raw",
}


def _public_callables():
    """(label, object) for every public function and class of segpy's modules,
    and every method those classes define themselves."""
    seen, out = set(), []
    for modname in MODULES:
        mod = importlib.import_module(modname)
        for name in sorted(getattr(mod, "__all__", None) or dir(mod)):
            obj = getattr(mod, name)
            if name.startswith("_") or isinstance(obj, types.ModuleType) or not callable(obj):
                continue
            if not str(getattr(obj, "__module__", "")).startswith("segpy"):
                continue
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            out.append((f"{modname}.{name}", obj))
            if isinstance(obj, type):
                for attr, raw in vars(obj).items():
                    if isinstance(raw, (property, types.GetSetDescriptorType,
                                        types.MemberDescriptorType,
                                        types.WrapperDescriptorType)):
                        continue   # data, or a slot wrapper with CPython's own signature
                    if not callable(raw) or attr in ("__new__", "__init__", "__signature__"):
                        continue   # a constructor's signature is the class's, checked below
                    if attr.startswith("_") and not attr.startswith("__") and attr not in (
                            "_release_raw", "_request_raw"):
                        continue
                    out.append((f"{name}.{attr}", getattr(obj, attr)))
    return out


CALLABLES = _public_callables()


def test_the_walk_covers_the_api():
    labels = {label for label, _ in CALLABLES}
    for expected in ["segpy.SegmentedList", "SegmentedList.append", "SegmentedList.sum",
                     "SegmentedList.__reduce_ex__", "segpy.Heap", "Allocator.grow",
                     "segpy.allocator", "segpy.get_allocator", "segpy.Block", "Block.release",
                     "segpy.seglist.capsule", "segpy.BufferAllocator", "BumpAllocator.scope"]:
        assert expected in labels
    assert len(CALLABLES) > 60


@pytest.mark.parametrize("label,obj", CALLABLES, ids=[c[0] for c in CALLABLES])
def test_signature(label, obj):
    sig = inspect.signature(obj)
    kinds = {p.kind for p in sig.parameters.values()}
    variadic = kinds & {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD}
    if label not in VARIADIC and label != "segpy.AllocatorError":
        assert not variadic, f"{label}{sig}: a bare (*args, **kwargs) names no parameter"


def _documented(doc):
    """The parameter names listed in a numpydoc ``Parameters`` section."""
    doc = inspect.cleandoc(doc or "")
    m = re.search(r"^Parameters\n-+\n(.*?)(?:\n\n[A-Z][A-Za-z ]+\n-+\n|\Z)", doc, re.DOTALL | re.MULTILINE)
    if not m:
        return None
    names = set()
    for line in m.group(1).splitlines():
        if line and not line[0].isspace():
            for part in line.split(" : ")[0].split(","):
                names.add(part.strip().lstrip("*"))
    return names


@pytest.mark.parametrize("label,obj", CALLABLES, ids=[c[0] for c in CALLABLES])
def test_signature_names_the_documented_parameters(label, obj):
    documented = _documented(obj.__doc__)
    if documented is None:
        return
    sig = inspect.signature(obj)
    real = {n for n, p in sig.parameters.items() if n != "self"}
    assert real == documented, f"{label}{sig} documents {sorted(documented)}"


CLASS_SIGNATURES = {
    segpy.SegmentedList: "(dtype, iterable=(), *, allocator=None, first_segment=None)",
    segpy.SystemAllocator: "(max_bytes=None)",
    Heap: "(max_bytes=None, *, region_size=4194304, cache_bytes=67108864, debug=False)",
    BumpAllocator: "(max_bytes=None, *, first_block=4096, debug=False)",
    BufferAllocator: "(buffer, *, max_bytes=None, debug=False)",
    segpy.Block: "()",
    segpy.Allocator: "()",
    segpy.allocator: "(a)",
    segpy.AllocatorError: "(*args)",
}


@pytest.mark.parametrize("cls", CLASS_SIGNATURES, ids=lambda c: c.__name__)
def test_class_signature(cls):
    assert str(inspect.signature(cls)) == CLASS_SIGNATURES[cls]


def _all_by_keyword(cls):
    """A call of `cls` that passes every parameter of its signature by keyword,
    with values valid for it (so the signature and the binding must agree)."""
    values = {"dtype": "q", "iterable": [1, 2], "allocator": None, "first_segment": 4,
              "max_bytes": 1 << 20, "region_size": 1 << 16, "cache_bytes": 0,
              "first_block": 8192, "debug": False, "buffer": bytearray(4096)}
    kw = {n: values[n] for n in inspect.signature(cls).parameters}
    return cls(**kw)


@pytest.mark.parametrize("cls", [segpy.SegmentedList, *(type(make_allocator(name))
                                                          for name in ALLOCATORS)],
                         ids=lambda c: c.__name__)
def test_every_signature_parameter_is_accepted(cls):
    obj = _all_by_keyword(cls)
    assert type(obj) is cls
    if cls is segpy.SegmentedList:
        assert list(obj) == [1, 2] and obj.first_segment == 4
    else:
        assert obj.stats["max_bytes"] == 1 << 20


# -- misspelt keywords and other bad calls name the class ----------------------

CONSTRUCTORS = [
    ("SegmentedList", segpy.SegmentedList, ("q",)),
    ("SystemAllocator", segpy.SystemAllocator, ()),
    ("Heap", Heap, ()),
    ("BumpAllocator", BumpAllocator, ()),
    ("BufferAllocator", BufferAllocator, (bytearray(4096),)),
    ("Block", segpy.Block, ()),
    ("allocator", segpy.allocator, (segpy.SystemAllocator(),)),
]


@pytest.mark.parametrize("name,cls,args", CONSTRUCTORS, ids=[c[0] for c in CONSTRUCTORS])
def test_misspelt_keyword_names_the_class(name, cls, args):
    with pytest.raises(TypeError) as e:
        cls(*args, alocator=None)
    assert str(e.value) == f"{name}() got an unexpected keyword argument 'alocator'"


@pytest.mark.parametrize("name,cls,args", CONSTRUCTORS, ids=[c[0] for c in CONSTRUCTORS])
def test_too_many_positional_names_the_class(name, cls, args):
    with pytest.raises(TypeError, match=rf"^{name}\(\) takes .* positional arguments? but "):
        cls(*args, *range(5))


def test_constructor_errors_are_cpythons_wording():
    with pytest.raises(TypeError) as e:
        segpy.SegmentedList()
    assert str(e.value) == "SegmentedList() missing 1 required positional argument: 'dtype'"
    with pytest.raises(TypeError) as e:
        segpy.SegmentedList("q", dtype="d")
    assert str(e.value) == "SegmentedList() got multiple values for argument 'dtype'"
    with pytest.raises(TypeError) as e:
        segpy.SegmentedList("q", [], None)
    assert str(e.value) == "SegmentedList() takes from 1 to 2 positional arguments but 3 were given"
    with pytest.raises(TypeError) as e:
        Heap(1, 2)
    assert str(e.value) == "Heap() takes from 0 to 1 positional arguments but 2 were given"
    with pytest.raises(TypeError) as e:
        BufferAllocator()
    assert str(e.value) == "BufferAllocator() missing 1 required positional argument: 'buffer'"
    with pytest.raises(TypeError) as e:
        segpy.Block(1)
    assert str(e.value) == "Block() takes 0 positional arguments but 1 was given"
    with pytest.raises(TypeError) as e:
        segpy.allocator()
    assert str(e.value) == "allocator() missing 1 required positional argument: 'a'"


def test_keyword_only_stay_keyword_only():
    with pytest.raises(TypeError, match=r"^SegmentedList\(\) takes from 1 to 2"):
        segpy.SegmentedList("q", (), segpy.SystemAllocator())
    with pytest.raises(TypeError, match=r"^Heap\(\) takes from 0 to 1"):
        Heap(None, 1 << 16)


def test_construction_still_works_positionally_and_by_keyword():
    a = segpy.SystemAllocator()
    assert list(segpy.SegmentedList("q", [1, 2])) == [1, 2]
    assert list(segpy.SegmentedList(dtype="q", iterable=[3])) == [3]
    assert segpy.SegmentedList("q", allocator=a).allocator is a
    assert Heap(1 << 20, debug=True).debug
    assert BumpAllocator(None, first_block=8192).first_block == 8192
    with segpy.allocator(a=a) as got:
        assert got is a


# -- METH_O: the calling convention of list.append ------------------------------

METH_O = 0x0008
HOT_ONE_ARG = ["append", "extend", "reserve", "remove", "count", "frombytes", "fromlist",
               "tofile", "__deepcopy__", "__reduce_ex__"]


def _method_flags(descr):
    """ml_flags of a method descriptor's PyMethodDef (CPython's layout)."""
    # PyMethodDescrObject: PyObject_HEAD, d_type, d_name, d_qualname, then
    # PyMethodDef* d_method; PyMethodDef is {ml_name, ml_meth, int ml_flags, ...}.
    p = ctypes.c_void_p.from_address(id(descr) + object.__basicsize__ + 3 * ctypes.sizeof(ctypes.c_void_p))
    return ctypes.c_int.from_address(p.value + 2 * ctypes.sizeof(ctypes.c_void_p)).value


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="reads CPython's PyMethodDef")
@pytest.mark.parametrize("name", HOT_ONE_ARG)
def test_one_argument_methods_are_meth_o(name):
    descr = vars(segpy.SegmentedList)[name]
    assert type(descr).__name__ == "method_descriptor"
    assert _method_flags(descr) & METH_O, f"{name} is no longer METH_O"
    assert _method_flags(vars(list)["append"]) == METH_O      # the probe reads the right field
    sig = inspect.signature(descr)
    assert [p.kind for p in sig.parameters.values()] == [
        inspect.Parameter.POSITIONAL_ONLY] * 2


def test_append_signature_is_list_appends():
    assert segpy.SegmentedList.append.__text_signature__ == "($self, x, /)"
    assert str(inspect.signature(segpy.SegmentedList("q").append)) == "(x, /)"


def test_index_and_reductions_show_their_defaults():
    sig = inspect.signature(segpy.SegmentedList.index)
    assert sig.parameters["stop"].default == sys.maxsize
    for name in ("sum", "min", "max"):
        sig = inspect.signature(getattr(segpy.SegmentedList, name))
        assert repr(sig.parameters["initial"].default) == "<no value>"
        assert sig.parameters["where"].default is True
    lst = segpy.SegmentedList("q")
    assert lst.sum() == 0
    assert lst.sum(initial=np.int64(5)) == 5
    with pytest.raises((TypeError, ValueError)):
        lst.sum(initial="")     # a str is a str, not the sentinel


def test_class_docstrings_do_not_show_the_signature_header():
    for cls in (segpy.SegmentedList, Heap, BufferAllocator, segpy.Block):
        assert "\n--\n" not in cls.__doc__
        assert cls.__text_signature__


# -- typecodes give the canonical numpy type of their kind and size -------------

# array-module typecodes and numpy's other one-letter number codes.
TYPECODES = list("bBhHiIlLqQfd") + list("pPegFDG?")


def _canonical(code):
    dt = np.dtype(code)
    return np.dtype(f"{dt.kind}{dt.itemsize}")


@pytest.mark.parametrize("code", TYPECODES)
def test_typecode_gives_the_canonical_type(code):
    lst = segpy.SegmentedList(code, [True, False])
    assert lst.dtype == np.dtype(code)                # still equal to what was asked
    assert lst.dtype.type is _canonical(code).type    # np.int64, not np.longlong
    arr = lst.to_numpy()
    assert arr.dtype.type is _canonical(code).type
    assert repr(arr) == repr(np.array([1, 0]).astype(_canonical(code)))


def test_q_lists_repr_as_the_default_int64_array():
    for code in ("q", "l", "p", "i8", np.longlong, np.int64):
        lst = segpy.SegmentedList(code, [1, 2, 3])
        assert repr(lst.to_numpy()) == "array([1, 2, 3])"
        assert repr(np.asarray(lst)) == "array([1, 2, 3])"
        assert lst.dtype == np.dtype("q") and lst.dtype.char == "l"
    assert repr(segpy.SegmentedList("d", [1.5]).to_numpy()) == "array([1.5])"


def test_canonical_type_keeps_the_byte_order():
    lst = segpy.SegmentedList(">q", [1, 256])
    assert lst.dtype == np.dtype(">i8") and lst.dtype.type is np.int64
    assert not lst.dtype.isnative
    assert list(lst) == [1, 256]
    assert lst.tobytes() == np.array([1, 256], dtype=">i8").tobytes()


@pytest.mark.parametrize("dtype", ["S3", "U2", "M8[s]", "m8[ns]", "V4",
                                   [("a", "q"), ("b", "l")],
                                   np.dtype("q", metadata={"unit": "m"})],
                         ids=str)
def test_other_dtypes_are_left_as_given(dtype):
    dt = np.dtype(dtype)
    got = segpy.SegmentedList(dtype).dtype
    assert got == dt
    assert got.type is dt.type
    assert got.descr == dt.descr and got.metadata == dt.metadata


def test_unpickle_and_copies_give_the_canonical_type():
    from segpy.seglist import _unpickle_seglist
    # A pickle from before the canonical mapping names dtype('q') itself.
    old = _unpickle_seglist(segpy.SegmentedList, np.dtype("q"), None,
                            np.array([5, 6], dtype="q").tobytes())
    assert old.dtype.type is np.int64 and list(old) == [5, 6]
    lst = segpy.SegmentedList("q", [1])
    for other in (lst.copy(), lst[:], lst + lst, lst * 2,
                  __import__("pickle").loads(__import__("pickle").dumps(lst))):
        assert other.dtype.type is np.int64


def test_capi_adopt_gives_the_canonical_type():
    capi = pytest.importorskip("segpy._capi_testing")
    a = segpy.SystemAllocator()
    lst = capi.build_and_adopt(np.dtype("q"), a, 4, 2)[0]
    assert lst.dtype.type is np.int64
    assert repr(lst.to_numpy()) == "array([0, 1, 2, 3])"


# -- the docstrings' examples are right ---------------------------------------

@pytest.mark.parametrize("modname", MODULES[1:])
def test_docstring_examples(modname):
    import doctest

    mod = importlib.import_module(modname)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             report=False)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} docstring examples of {modname} fail"
