"""One process of the type sweep (see test_type_sweep.py): hostile use of one type.

Run as ``python -P tests/sweep_child.py segpy.seglist._Iterator``.  It makes
instances of the named type every way Python code can:

* ``cls.__new__(cls)`` alone (skips ``__init__``, runs ``__cinit__``);
* ``cls()`` with no arguments;
* ``Sub.__new__(Sub)`` of a Python subclass, where the type allows one;
* the objects segpy hands out in normal use (``iter(lst)``, a segment
  view's base, ``arena.scope()``, ``heap.allocate(64)`` ...), in fresh,
  used-up and released states;

then calls every method and attribute of each with a set of hostile argument
tuples, and pokes the protocols (repr, len, iteration, buffer, pickle,
copy, comparisons, item access).  Any Python exception is fine; the parent
only checks that this process is not killed by a signal.  The last line of
output is a JSON summary (the number of calls made).
"""

import contextlib
import copy
import gc
import importlib
import itertools
import json
import os
import pickle
import pkgutil
import sys
import weakref

_FAILED = object()


def attempt(fn, *args):
    """``fn(*args)``, or ``_FAILED`` if it raised: any Python exception is an
    acceptable outcome of hostile use (only a dead process is not)."""
    with contextlib.suppress(Exception):
        return fn(*args)
    return _FAILED


def segpy_modules():
    """Import segpy and every submodule it ships; return them.

    A submodule whose optional dependency is not installed (segpy.numba
    without numba, as in the sanitizer run) is left out; any other import
    error is raised."""
    import segpy
    mods = [segpy]
    for info in pkgutil.iter_modules(segpy.__path__):
        try:
            mods.append(importlib.import_module(f"segpy.{info.name}"))
        except ModuleNotFoundError as e:
            if e.name is None or e.name.split(".")[0] == "segpy":
                raise
    return mods


def segpy_types():
    """Every class whose module is segpy's, by ``module.qualname``.

    Walks the whole subclass tree of ``object`` (not only module namespaces),
    so types a module never exports (Cython's closure scopes and memoryview
    helpers, internal iterators) are found too, and a new type is covered
    without a change here.
    """
    segpy_modules()
    found = {}
    todo = [object]
    seen = set()
    while todo:
        t = todo.pop()
        subs = type.__subclasses__(t) if isinstance(t, type) and issubclass(t, type) \
            else t.__subclasses__()
        for s in subs:
            if s in seen:
                continue
            seen.add(s)
            todo.append(s)
            mod = getattr(s, "__module__", None)
            if isinstance(mod, str) and (mod == "segpy" or mod.startswith("segpy.")):
                found[f"{mod}.{s.__qualname__}"] = s
    return found


_FILES = []


def _file_list(mode):
    """A file-backed list of 20 int64 in a fresh file of this child's
    temporary directory (removed when the child exits)."""
    import atexit
    import shutil
    import tempfile

    import segpy

    if not _FILES:
        _FILES.append(tempfile.mkdtemp(prefix="segpy-sweep-"))
        atexit.register(shutil.rmtree, _FILES[0], True)
    _FILES.append(None)
    path = os.path.join(_FILES[0], f"f{len(_FILES)}.seg")
    w = segpy.SegmentedList.open(path, "q", mode="w", first_segment=512)
    w.extend(range(20))
    w.flush()
    if mode == "w":
        return w
    del w
    return segpy.SegmentedList.open(path)


def _factories():
    """(label, zero-argument maker) of the objects segpy hands out in normal use."""
    import numpy as np

    import segpy
    from segpy.buffer import BufferAllocator
    from segpy.bump import BumpAllocator
    from segpy.heap import Heap

    def lst(dtype="q", **kw):
        return segpy.SegmentedList(dtype, range(20), **kw)

    def exhausted(it):
        for _ in it:
            pass
        return it

    def released(block):
        block.release()
        return block

    def entered_scope(arena):
        s = arena.scope()
        s.__enter__()
        return s

    def exited_scope(arena):
        s = arena.scope()
        with s:
            pass
        return s

    def reinit_iter():
        x = lst()
        it = iter(x)
        next(it)
        x.__init__("b", [1])
        return it

    allocators = [
        ("SystemAllocator", lambda: segpy.SystemAllocator()),
        ("Heap", lambda: Heap()),
        ("Heap debug", lambda: Heap(debug=True)),
        ("BumpAllocator", lambda: BumpAllocator()),
        ("BumpAllocator debug", lambda: BumpAllocator(debug=True)),
        ("BufferAllocator", lambda: BufferAllocator(bytearray(1 << 14))),
        ("BufferAllocator debug", lambda: BufferAllocator(bytearray(1 << 14), debug=True)),
    ]
    out = list(allocators)
    for name, make in allocators:
        out.append((f"Block of {name}", lambda make=make: make().allocate(64)))
        out.append((f"released Block of {name}", lambda make=make: released(make().allocate(64))))
        out.append((f"list on {name}", lambda make=make: lst("d", allocator=make())))
    out += [
        ("list q", lambda: lst()),
        ("list record", lambda: segpy.SegmentedList(np.dtype([("a", "i4"), ("b", "f8")]), [])),
        ("list U3", lambda: segpy.SegmentedList("U3", ["a", "bc"])),
        ("iterator", lambda: iter(lst())),
        ("iterator f8", lambda: iter(lst("d"))),
        ("exhausted iterator", lambda: exhausted(iter(lst()))),
        ("iterator of a re-initialised list", reinit_iter),
        ("reverse iterator", lambda: reversed(lst())),
        ("exhausted reverse iterator", lambda: exhausted(reversed(lst()))),
        ("segment export", lambda: lst().segments()[0].base),
        ("scope", lambda: BumpAllocator().scope()),
        ("entered scope", lambda: entered_scope(BumpAllocator())),
        ("exited scope", lambda: exited_scope(BumpAllocator())),
        ("allocator context", lambda: segpy.allocator(segpy.SystemAllocator())),
        ("file list", lambda: _file_list("w")),
        ("read-only file list", lambda: _file_list("r")),
        ("FileAllocator", lambda: _file_list("w").allocator),
        ("read-only FileAllocator", lambda: _file_list("r").allocator),
    ]
    return out


def _argsets():
    import segpy
    return [
        (), (0,), (1,), (-1,), (7,), (sys.maxsize,), (-sys.maxsize - 1,), (2 ** 70,),
        (None,), (1.5,), (float("nan"),), (b"xyz",), (bytearray(300),), ("q",), ("",),
        ([1, 2],), (segpy.SegmentedList("q", [1, 2, 3]),), (slice(None, None, -1),),
        (object(),), (0, 0), (-1, -1), (None, None), (1, b"x"), (0, 0, 0),
    ]


def _instances(cls, key):
    """(label, instance) pairs for ``cls``; construction failures are skipped."""
    out = []

    def refused(make):
        # TypeError is the refusal this records; any other failure is just
        # an instance that could not be made.
        try:
            out.append((make.__name__, make()))
        except TypeError:
            return True
        except Exception:  # noqa: BLE001  (any other failure: no instance, no refusal)
            return False
        return False

    def new():
        return cls.__new__(cls)

    def call():
        return cls()

    notes = {"new_refused": refused(new), "call_refused": refused(call)}
    sub = attempt(type, "PySub", (cls,), {})      # _FAILED for a final type
    if sub is not _FAILED:
        for make in (lambda: sub.__new__(sub), sub):
            obj = attempt(make)
            if obj is not _FAILED:
                out.append(("subclass", obj))
    for label, make in _factories():
        obj = attempt(make)
        if obj is not _FAILED and isinstance(obj, cls):
            out.append((label, obj))
    return out, notes


def _poke(obj, other):
    """The protocols, each on its own: return how many were tried."""
    probes = [
        repr, str, hash, bool, len, lambda o: list(itertools.islice(iter(o), 50)),
        lambda o: next(o), lambda o: bytes(memoryview(o)), bytes,
        lambda o: copy.copy(o), lambda o: copy.deepcopy(o),
        lambda o: pickle.loads(pickle.dumps(o, 5)), lambda o: pickle.dumps(o, 0),
        weakref.ref, lambda o: o == other, lambda o: o < other, lambda o: 1 in o,
        lambda o: o[0], lambda o: o[-1], lambda o: o[::-1], lambda o: o[10 ** 9],
        lambda o: o.__setitem__(0, 1), lambda o: o.__delitem__(0),
        lambda o: o + o, lambda o: o * 3, lambda o: reversed(o), lambda o: dir(o),
        lambda o: o.__reduce_ex__(2), lambda o: o.__sizeof__(), lambda o: vars(o),
        lambda o: o.__enter__(), lambda o: o.__exit__(None, None, None),
        lambda o: o.__exit__(None, None, None),
    ]
    for p in probes:
        attempt(p, obj)
    return len(probes)


def sweep(key):
    types = segpy_types()
    cls = types[key]
    argsets = _argsets()
    import segpy
    other = segpy.SegmentedList("q", [1, 2, 3])
    instances, notes = _instances(cls, key)
    n_instances = len(instances)
    calls = 0
    names = sorted(set(dir(cls)))
    for label, obj in instances:
        calls += _poke(obj, other)
        # Arguments tied to live objects: the instance itself, and a block
        # of another allocator (release / grow of a foreign block).
        blk = segpy.Heap().allocate(64)
        sets = argsets + [(obj,), (blk,), (blk, 128), (blk, 1 << 40), (obj, obj)]
        for name in names:
            attr = attempt(getattr, obj, name)
            calls += 1
            if attr is _FAILED or not callable(attr) or name in ("__class__", "__new__"):
                continue
            for args in sets:
                attempt(attr, *args)
                calls += 1
        # Class-level access with the instance passed explicitly (unbound
        # method descriptors type-check their first argument).
        for name in names:
            attempt(lambda name=name, obj=obj: getattr(cls, name)(obj))
            calls += 1
        calls += _poke(obj, other)          # again, after the methods ran
        del obj, blk, sets
        gc.collect()
    for args in argsets:                     # __new__ with arguments
        attempt(cls.__new__, cls, *args)
        calls += 1
    instances.clear()
    gc.collect()
    return {"type": key, "instances": n_instances, "calls": calls, **notes}


def main(argv):
    if argv[1:2] == ["--list"]:
        print(json.dumps(sorted(segpy_types())))
        return 0
    result = sweep(argv[1])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
