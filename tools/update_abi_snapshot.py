"""Record the C functions segpy exports to other Cython modules, with their signatures.

Cython exports every ``cdef`` function declared in a module's ``.pxd``
through the module's ``__pyx_capi__`` dict: name -> PyCapsule whose name is
the C signature, e.g. ``"int (seglist_t *, Py_ssize_t)"``.  A consumer
compiled against one segpy release looks those capsules up by name *and*
signature at import, so removing or changing one breaks it
(``tests/capi/test_cython_abi.py`` guards that; docs/c-api.md states the policy).

Usage, from the repository root with segpy installed (after a deliberate,
documented change to the C API)::

    python -P tools/update_abi_snapshot.py            # rewrite tests/data/capi_abi.json
    python -P tools/update_abi_snapshot.py --check    # exit 1 if it differs

``-P`` keeps the source tree's ``segpy/`` (no compiled modules) off sys.path.
"""

import argparse
import ctypes
import importlib
import json
import sys
from pathlib import Path

# The public modules: private ones (a leading underscore) promise nothing.
MODULES = ["segpy.alloc", "segpy.bump", "segpy.heap", "segpy.buffer", "segpy.file", "segpy.seglist"]
SNAPSHOT = Path(__file__).resolve().parent.parent / "tests" / "data" / "capi_abi.json"

_get_name = ctypes.pythonapi.PyCapsule_GetName
_get_name.restype = ctypes.c_char_p
_get_name.argtypes = [ctypes.py_object]


def exported_signatures(module_name):
    """``{function name: C signature}`` of one module's ``__pyx_capi__``."""
    mod = importlib.import_module(module_name)
    capi = getattr(mod, "__pyx_capi__", {})
    return {name: _get_name(cap).decode() for name, cap in sorted(capi.items())}


def collect():
    """``{module: {function: signature}}`` for every public segpy module."""
    return {m: exported_signatures(m) for m in MODULES}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the snapshot instead of writing it")
    parser.add_argument("--output", type=Path, default=SNAPSHOT)
    args = parser.parse_args(argv)
    text = json.dumps(collect(), indent=2, sort_keys=True) + "\n"
    if args.check:
        same = args.output.exists() and args.output.read_text() == text
        print("snapshot is current" if same else f"{args.output} differs from the build")
        return 0 if same else 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
