"""Build the example consumer in examples/cython against the installed segpy and run it.

This is the test of the promise that other compiled code can cimport segpy:
the example is copied to a temporary directory, configured with meson and
compiled with the Cython, meson and ninja of this environment (the ``test``
extra installs them), then imported and checked.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig

import numpy as np
import pytest

import segpy

from seg_support import REPO

EXAMPLE = REPO / "examples" / "cython"


def _run(cmd, cwd, env):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
                    f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    # No skip for editable installs (numpy's test needs one): segpy's .pxd
    # files sit beside segpy/__init__.py in the source tree too, and the
    # compiled modules are imported through the editable loader.
    for tool in ("cython", "ninja"):
        if shutil.which(tool, path=os.path.dirname(sys.executable) + os.pathsep
                        + os.environ.get("PATH", "")) is None:
            pytest.fail(f"{tool} is not installed: pip install 'segpy[test]'")
    src = tmp_path_factory.mktemp("example") / "cython"
    shutil.copytree(EXAMPLE, src)
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    # LD_PRELOAD stays: under the sanitizer run, meson's `import segpy`
    # loads ASan-built modules, which need the preloaded runtime.
    meson = [sys.executable, "-m", "mesonbuild.mesonmain"]
    _run(meson + ["setup", "build"], src, env)
    _run(meson + ["compile", "-C", "build"], src, env)
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    path = src / "build" / f"segpy_example{suffix}"
    spec = importlib.util.spec_from_file_location("segpy_example", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 100_000])
def test_nogil_int64_list(example, n):
    lst = example.squares(n)
    assert type(lst) is segpy.SegmentedList
    assert lst.dtype == np.int64
    assert lst.allocator is segpy.get_allocator()
    expected = np.arange(n, dtype=np.int64) ** 2
    np.testing.assert_array_equal(lst.to_numpy(), expected)
    assert example.total(lst) == int(expected.sum())
    lst.append(7)       # an adopted list is an ordinary SegmentedList
    assert lst[-1] == 7 and len(lst) == n + 1


@pytest.mark.parametrize("n", [0, 1, 2, 3, 16, 17, 5000])
def test_nogil_record_list(example, n):
    lst = example.ast_nodes(n)
    assert lst.dtype == example.NODE_DTYPE and lst.itemsize == 40
    arr = lst.to_numpy()
    i = np.arange(n)
    np.testing.assert_array_equal(arr["parent"], np.where(i > 0, (i - 1) // 2, -1))
    np.testing.assert_array_equal(arr["left"], np.where(2 * i + 1 < n, 2 * i + 1, -1))
    np.testing.assert_array_equal(arr["right"], np.where(2 * i + 2 < n, 2 * i + 2, -1))
    np.testing.assert_array_equal(arr["kind"], (2 * i + 1 < n).astype(np.int32))
    np.testing.assert_array_equal(arr["value"], i * 0.5)


def test_lists_use_the_current_allocator(example):
    heap = segpy.Heap()
    with segpy.allocator(heap):
        lst = example.ast_nodes(1000)
    assert lst.allocator is heap
    assert heap.stats["bytes_in_use"] == lst.capacity * 40


def test_allocation_failure_in_nogil_loop(example):
    with segpy.allocator(segpy.Heap(max_bytes=1 << 20)):
        with pytest.raises(MemoryError, match="heap allocator could not provide"):
            example.squares(1 << 20)
        with pytest.raises(MemoryError, match="heap allocator could not provide"):
            example.ast_nodes(1 << 20)


def test_push_into_an_existing_list(example):
    lst = segpy.SegmentedList("q", [5, 6], allocator=segpy.Heap(max_bytes=1 << 16))
    example.extend_squares(lst, 4)
    assert lst.to_numpy().tolist() == [5, 6, 0, 1, 4, 9]
    before = lst.to_numpy().tolist()
    with pytest.raises(MemoryError, match="could not provide"):
        example.extend_squares(lst, 1 << 20)
    assert lst.to_numpy().tolist() == before
    narrow = segpy.SegmentedList("i4", [1])
    with pytest.raises(ValueError, match="4-byte elements"):
        example.extend_squares(narrow, 3)
    assert narrow.to_numpy().tolist() == [1]
    with pytest.raises(TypeError, match="8-byte integer list"):
        example.total(narrow)


@pytest.mark.parametrize("n", [0, 1, 64, 100_000])
def test_allocator_made_and_destroyed_from_c(example, n):
    assert example.sum_of_squares_on_own_heap(n) == int((np.arange(n, dtype=np.int64) ** 2).sum())
