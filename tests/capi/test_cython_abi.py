"""The C functions segpy exports to compiled consumers keep their names and signatures.

``tests/data/capi_abi.json`` is the snapshot of every public module's
``__pyx_capi__`` (function name -> C signature).  A recorded function that
disappears or changes signature fails here: extensions compiled against an
earlier segpy would fail to import.  New functions are allowed and listed.
After a deliberate change (see docs/c-api.md for when one is allowed),
regenerate the snapshot with ``python -P tools/update_abi_snapshot.py``.
"""

import importlib.util
import json

import pytest

from seg_support import REPO

ROOT = REPO
SNAPSHOT = json.loads((ROOT / "tests" / "data" / "capi_abi.json").read_text())


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        "update_abi_snapshot", ROOT / "tools" / "update_abi_snapshot.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


tool = _load_tool()


def test_snapshot_covers_every_public_module():
    assert sorted(SNAPSHOT) == sorted(tool.MODULES)
    # The core of the C API is in the snapshot, so the test below guards it.
    assert {"seglist_init", "seglist_reserve", "seglist_emplace_slow",
            "segmented_list_adopt", "segmented_list_struct",
            "seglist_raise"} <= set(SNAPSHOT["segpy.seglist"])
    # The allocators export their create functions and nothing of their state.
    assert set(SNAPSHOT["segpy.heap"]) == {"segpy_heap_create"}
    assert set(SNAPSHOT["segpy.bump"]) == {"segpy_bump_create"}
    assert set(SNAPSHOT["segpy.buffer"]) == {"segpy_buffer_create"}
    assert "segpy_system_create" in SNAPSHOT["segpy.alloc"]


@pytest.mark.parametrize("module", sorted(SNAPSHOT))
def test_recorded_signatures_unchanged(module):
    current = tool.exported_signatures(module)
    recorded = SNAPSHOT[module]
    missing = sorted(set(recorded) - set(current))
    changed = {name: (recorded[name], current[name])
               for name in sorted(set(recorded) & set(current))
               if recorded[name] != current[name]}
    added = sorted(set(current) - set(recorded))
    if added:
        print(f"{module}: new exported functions (allowed; record them with "
              f"tools/update_abi_snapshot.py): {', '.join(added)}")
    assert not missing, f"{module}: exported functions removed: {missing}"
    assert not changed, (
        f"{module}: exported signatures changed (recorded, now): {changed}")


def test_signatures_are_read_from_the_capsules():
    # The reader itself: a capsule name is the C signature Cython checks.
    sigs = tool.exported_signatures("segpy.seglist")
    assert sigs["seglist_reserve"].startswith("int (")
    assert "Py_ssize_t" in sigs["seglist_reserve"]
