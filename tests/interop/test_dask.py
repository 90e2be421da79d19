"""SegmentedList.to_dask: chunks are the segments, in memory or read from the file.

The contract (docs/dask.md): the array's chunks follow the segment geometry,
cut by ``max_chunk``; an in-memory list's blocks are its segments' memory
(zero-copy); a file-backed list's tasks carry only (path, dtype, offset, n)
and map their own bytes of the file where they run; the length is the one at
call time.  The file route is tested through ``segpy._dask.from_file`` on a
file written here with numpy, and through ``SegmentedList.open`` when
segpy.FileAllocator exists.
"""

import gc
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import segpy
from segpy import _dask

from seg_support import FIRST_SEGMENTS, assert_arrays_identical, default_first_segment

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
dask_threaded = pytest.importorskip("dask.threaded")
distributed = pytest.importorskip("distributed")

DTYPES = [
    np.dtype(np.int64),
    np.dtype(np.float32),
    np.dtype([("id", "<i4"), ("x", "<f8"), ("tag", "S3")]),
    np.dtype("datetime64[ns]"),
]
LENGTHS = [0, 1, 100, 1000]
HEADER = 4096  # bytes of zeros before the elements in the files written here


def _values(dtype, n):
    """``n`` distinct elements of ``dtype``."""
    if dtype.names is None:
        return np.arange(n).astype(dtype)
    out = np.zeros(n, dtype)
    out["id"] = np.arange(n)
    out["x"] = np.arange(n) / 4
    out["tag"] = [b"a%d" % (i % 100) for i in range(n)]
    return out


def _list(dtype, n, first_segment=None):
    lst = segpy.SegmentedList(dtype, first_segment=first_segment)
    values = _values(dtype, n)
    # One element first: a first bulk extend would fit the default first
    # segment to all n (one chunk), and these tests want several.
    lst.extend(values[:1])
    lst.extend(values[1:])
    return lst


def _expected_chunks(n, s0, max_chunk=None):
    """Segment lengths (s0, 2*s0, ... the last one partial), each cut by max_chunk."""
    out, start, size = [], 0, s0
    while start < n:
        seg = min(size, n - start)
        step = max_chunk or seg
        out += [min(step, seg - a) for a in range(0, seg, step)]
        start, size = start + size, 2 * size
    return tuple(out) or (0,)


def _address(arr):
    return arr.__array_interface__["data"][0]


def _graph_values(arr):
    """Every leaf object in the array's graph, walking tasks and containers."""
    leaves = []

    def walk(x):
        if isinstance(x, (tuple, list)):
            for y in x:
                walk(y)
        elif isinstance(x, dict):
            for y in x.values():
                walk(y)
        elif hasattr(x, "args") and hasattr(x, "func"):  # a dask Task object
            walk(list(x.args))
            walk(dict(getattr(x, "kwargs", {})))
        elif hasattr(x, "value") and type(x).__name__ == "DataNode":
            walk(x.value)
        else:
            leaves.append(x)

    graph = arr.__dask_graph__()
    for key in graph:
        walk(graph[key])
    return leaves


def _write_file(path, values, header=HEADER):
    """The layout of a file-backed list: ``header`` zero bytes, then the elements."""
    with open(path, "wb") as f:
        f.write(b"\0" * header)
        values.tofile(f)
    return str(path)


# -- in memory -----------------------------------------------------------------


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("s0", FIRST_SEGMENTS, ids=lambda s: f"s0={s}")
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_values_and_chunks_are_the_lists(dtype, s0, n):
    lst = _list(dtype, n, s0)
    arr = lst.to_dask()
    assert isinstance(arr, da.Array)
    assert arr.dtype == lst.dtype and arr.shape == (n,)
    assert arr.chunks == (_expected_chunks(n, s0 or default_first_segment(dtype.itemsize)),)
    if n:
        assert arr.chunks[0] == tuple(len(v) for v in lst.segments())
    assert_arrays_identical(arr.compute(scheduler="sync"), lst.to_numpy())


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_empty_list_gives_an_empty_array_of_its_dtype(dtype):
    arr = segpy.SegmentedList(dtype).to_dask()
    assert arr.shape == (0,) and arr.dtype == dtype
    got = arr.compute()
    assert got.shape == (0,) and got.dtype == dtype


@pytest.mark.parametrize("s0", [1, 8, 64])
def test_blocks_are_the_segments_memory(s0):
    # Run by a scheduler, each block is the segment's own memory.  (Not
    # arr.blocks[i].compute(): dask's finalize copies a single-chunk result
    # on purpose, so that callers cannot write back into a graph.)
    lst = _list(np.dtype(np.int64), 500, s0)
    arr = lst.to_dask()
    views = lst.segments()
    graph = arr.__dask_graph__()
    for get in (dask.get, dask_threaded.get):
        blocks = get(graph, arr.__dask_keys__())
        assert [_address(b) for b in blocks] == [_address(v) for v in views]
    # And a computation on the threaded scheduler reads them in place.
    seen = arr.map_blocks(lambda b: np.array([_address(b)]), chunks=(1,), dtype=np.intp)
    assert seen.compute(scheduler="threads").tolist() == [_address(v) for v in views]


def test_max_chunk_cuts_late_segments_into_views():
    lst = _list(np.dtype(np.float32), 1000, 8)
    arr = lst.to_dask(max_chunk=100)
    assert arr.chunks == (_expected_chunks(1000, 8, 100),)
    assert max(arr.chunks[0]) == 100
    assert_arrays_identical(arr.compute(), lst.to_numpy())
    # Still views: the pieces of a segment lie end to end inside it.
    blocks = dask.get(arr.__dask_graph__(), arr.__dask_keys__())
    for v in lst.segments():
        inside = [b for b in blocks if np.shares_memory(b, v)]
        assert [_address(b) - _address(v) for b in inside] == list(
            range(0, len(v) * lst.itemsize, 100 * lst.itemsize))
    assert sum(len(b) for b in blocks) == len(lst)


@pytest.mark.parametrize("max_chunk", [1, 3, 8, 64, 10**9])
def test_max_chunk_values(max_chunk):
    lst = _list(np.dtype(np.int64), 300, 4)
    arr = lst.to_dask(max_chunk=max_chunk)
    assert arr.chunks == (_expected_chunks(300, 4, max_chunk),)
    assert_arrays_identical(arr.compute(), lst.to_numpy())


def test_max_chunk_accepts_index_types():
    lst = _list(np.dtype(np.int64), 100, 8)
    assert lst.to_dask(max_chunk=np.int64(10)).chunks == lst.to_dask(max_chunk=10).chunks


@pytest.mark.parametrize("bad", [1.5, "10", np.float64(4.0), [10]])
def test_max_chunk_not_an_int_is_a_type_error(bad):
    with pytest.raises(TypeError, match="max_chunk must be an int or None"):
        _list(np.dtype(np.int64), 10).to_dask(max_chunk=bad)


@pytest.mark.parametrize("bad", [0, -1, -(2**70)])
def test_max_chunk_not_positive_is_a_value_error(bad):
    with pytest.raises(ValueError, match="max_chunk must be > 0"):
        _list(np.dtype(np.int64), 10).to_dask(max_chunk=bad)


def test_bad_max_chunk_is_refused_for_an_empty_list_too():
    with pytest.raises(ValueError, match="max_chunk"):
        segpy.SegmentedList("q").to_dask(max_chunk=0)


def test_keyword_and_positional():
    lst = _list(np.dtype(np.int64), 100, 8)
    assert lst.to_dask(10).chunks == lst.to_dask(max_chunk=10).chunks
    with pytest.raises(TypeError):
        lst.to_dask(max_size=10)


def test_appends_after_to_dask_are_not_in_the_array():
    lst = _list(np.dtype(np.int64), 100, 8)
    arr = lst.to_dask()
    want = lst.to_numpy()
    lst.extend(range(1000))
    assert arr.shape == (100,)
    assert_arrays_identical(arr.compute(), want)


def test_the_array_is_a_view_not_a_snapshot():
    lst = _list(np.dtype(np.int64), 100, 8)
    arr = lst.to_dask()
    lst[50] = -1
    assert arr.compute()[50] == -1


def test_the_array_keeps_the_list_alive():
    arr = _list(np.dtype(np.int64), 1000, 8).to_dask()
    gc.collect()
    assert_arrays_identical(arr.compute(), np.arange(1000))


def test_each_call_has_its_own_name():
    lst = _list(np.dtype(np.int64), 100, 8)
    assert lst.to_dask().name != lst.to_dask().name


@pytest.mark.parametrize("dtype", [np.dtype(np.int64), np.dtype(np.float32)], ids=str)
def test_reductions_on_the_threaded_scheduler(dtype):
    lst = _list(dtype, 100_000, 64)
    want = lst.to_numpy()
    arr = lst.to_dask(max_chunk=4096)
    total, mean = dask.compute(arr.sum(), arr.mean(), scheduler="threads")
    # Summed in another order than numpy's pairwise sum: exact for ints only.
    assert total == pytest.approx(want.sum(dtype=np.float64), rel=1e-6)
    assert mean == pytest.approx(want.mean(dtype=np.float64), rel=1e-6)


def test_import_segpy_does_not_import_dask(tmp_path):
    code = ("import sys, segpy; segpy.SegmentedList('q', [1]).segments(); "
            "print(any(m == 'dask' or m.startswith('dask.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_without_dask_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(ImportError, match=r"to_dask needs dask: pip install 'dask\[array\]'"):
        _list(np.dtype(np.int64), 10).to_dask()


# -- the file route --------------------------------------------------------------


@pytest.mark.parametrize("max_chunk", [None, 100])
@pytest.mark.parametrize("s0", [1, 16, 64])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_file_tasks_read_the_file(tmp_path, dtype, s0, max_chunk):
    values = _values(dtype, 1000)
    path = _write_file(tmp_path / "list.bin", values)
    arr = _dask.from_file(path, dtype, HEADER, len(values), s0, max_chunk)
    assert arr.dtype == dtype and arr.chunks == (_expected_chunks(1000, s0, max_chunk),)
    assert not any(isinstance(x, np.ndarray) for x in _graph_values(arr))
    assert_arrays_identical(arr.compute(scheduler="threads"), values)


def test_file_tasks_hold_only_path_dtype_offset_and_count(tmp_path):
    values = _values(np.dtype(np.int64), 100_000)
    path = _write_file(tmp_path / "list.bin", values)
    arr = _dask.from_file(path, values.dtype, HEADER, len(values), 64, 10_000)
    graph = arr.__dask_graph__()
    for i, key in enumerate(arr.__dask_keys__()):
        func, p, dt, offset, n = graph[key]
        assert func is _dask.read_file_chunk and p == path and dt == values.dtype
        start = sum(arr.chunks[0][:i])
        assert (offset, n) == (HEADER + start * 8, arr.chunks[0][i])
    # The whole graph pickles to a few bytes per task, not the 800 kB of data.
    assert len(pickle.dumps(dict(graph))) < 100 * len(arr.chunks[0]) + 1000


@pytest.mark.parametrize("header", [0, 8, 4096 + 24, 65536 + 8])
def test_file_offsets_need_not_be_page_aligned(tmp_path, header):
    values = _values(np.dtype(np.int64), 5000)
    path = _write_file(tmp_path / "list.bin", values, header)
    arr = _dask.from_file(path, values.dtype, header, len(values), 2, 333)
    assert_arrays_identical(arr.compute(), values)


def test_file_blocks_are_read_only_and_cover_only_the_length(tmp_path):
    values = _values(np.dtype(np.int64), 1000)
    path = _write_file(tmp_path / "list.bin", values)
    arr = _dask.from_file(path, values.dtype, HEADER, 700, 8)
    blocks = dask.get(arr.__dask_graph__(), arr.__dask_keys__())
    assert not any(b.flags.writeable for b in blocks)
    assert_arrays_identical(arr.compute(), values[:700])


def test_a_relative_path_is_made_absolute_for_the_workers(tmp_path, monkeypatch):
    values = _values(np.dtype(np.int64), 100)
    _write_file(tmp_path / "list.bin", values)
    monkeypatch.chdir(tmp_path)
    arr = _dask.from_file("list.bin", values.dtype, HEADER, 100, 8)
    paths = {graph_task[1] for graph_task in dict(arr.__dask_graph__()).values()}
    assert paths == {str(tmp_path / "list.bin")}
    monkeypatch.chdir(os.path.dirname(tmp_path))
    assert_arrays_identical(arr.compute(), values)


def test_empty_file_list(tmp_path):
    path = _write_file(tmp_path / "list.bin", _values(np.dtype(np.int64), 0))
    arr = _dask.from_file(path, np.int64, HEADER, 0, 8)
    assert arr.shape == (0,) and arr.compute().dtype == np.int64


def test_a_truncated_file_names_itself(tmp_path):
    values = _values(np.dtype(np.int64), 100)
    path = _write_file(tmp_path / "list.bin", values)
    arr = _dask.from_file(path, values.dtype, HEADER, 200, 8)
    with pytest.raises(ValueError, match="too short"):
        arr.compute(scheduler="sync")


def test_a_file_backed_list_flushes_and_reads_the_file(tmp_path):
    if getattr(segpy, "FileAllocator", None) is None:
        pytest.skip("segpy.FileAllocator is not in this build (it is being written)")
    lst = segpy.SegmentedList.open(str(tmp_path / "list.seg"), "int64", mode="w")
    lst.extend(np.arange(100_000))
    arr = lst.to_dask(max_chunk=4096)
    assert isinstance(lst.allocator, segpy.FileAllocator)
    assert not any(isinstance(x, np.ndarray) for x in _graph_values(arr))
    assert arr.chunks == (_expected_chunks(100_000, lst.first_segment, 4096),)
    assert_arrays_identical(arr.compute(), np.arange(100_000))
    lst.extend([1, 2, 3])
    assert arr.shape == (100_000,)


# -- on a distributed cluster of worker processes ------------------------------------

TIMEOUT = 60  # seconds for any one cluster operation; a hang fails, not blocks


@pytest.fixture(scope="module")
def client():
    # Workers are separate processes (spawned): each imports segpy on its own,
    # so this also checks that the package is importable where they run.
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                 dashboard_address=None) as cluster,
        distributed.Client(cluster, timeout=TIMEOUT) as c,
    ):
        yield c


def test_workers_are_other_processes_that_import_segpy(client):
    pids = client.run(os.getpid)
    assert len(pids) == 2 and os.getpid() not in pids.values()
    # A segpy function, pickled by reference, runs on a worker.
    assert client.submit(_dask.chunk_bounds, 10, 2).result(timeout=TIMEOUT) == [
        (0, 2), (2, 4), (6, 4)]


def test_in_memory_reductions_on_a_cluster(client):
    lst = _list(np.dtype(np.int64), 200_000, 64)
    arr = lst.to_dask(max_chunk=20_000)
    want = lst.to_numpy()
    total, mean = client.compute([arr.sum(), arr.mean()])
    assert total.result(timeout=TIMEOUT) == want.sum()
    assert mean.result(timeout=TIMEOUT) == pytest.approx(want.mean())


def test_file_tasks_on_a_cluster_read_the_file(client, tmp_path):
    values = _values(np.dtype(np.int64), 1_000_000)
    path = _write_file(tmp_path / "list.bin", values)
    arr = _dask.from_file(path, values.dtype, HEADER, len(values), 64, 100_000)
    assert not any(isinstance(x, np.ndarray) for x in _graph_values(arr))
    total, mean = client.compute([arr.sum(), arr.mean()])
    assert total.result(timeout=TIMEOUT) == values.sum()
    assert mean.result(timeout=TIMEOUT) == pytest.approx(values.mean())
    # The data comes from the file: change it there and the same graph sees it.
    with open(path, "r+b") as f:
        f.seek(HEADER)
        np.array([10**12], np.int64).tofile(f)
    again = client.compute(arr.sum()).result(timeout=TIMEOUT)
    assert again == values.sum() + 10**12


def test_a_read_only_file_list_and_the_default_chunk_cap(tmp_path):
    path = str(tmp_path / "list.seg")
    w = segpy.SegmentedList.open(path, "int64", mode="w")
    w.extend(np.arange(3 * 2**20))
    w.extend([5] * 10)                        # to_dask flushes these
    arr = w.to_dask()
    r = segpy.SegmentedList.open(path)        # read-only: to_dask does not flush
    arr_r = r.to_dask()
    assert len(r) == 3 * 2**20 + 10 and arr_r.shape == arr.shape
    # Without max_chunk a file list's chunks are capped at dask's chunk size.
    import dask
    with dask.config.set({"array.chunk-size": "4MiB"}):
        capped = r.to_dask()
    assert max(capped.chunks[0]) == 2**19 and max(arr.chunks[0]) <= 2**24
    assert int(capped.sum().compute()) == int(np.arange(3 * 2**20).sum()) + 50


def test_a_file_backed_list_on_a_cluster(client, tmp_path):
    path = str(tmp_path / "cluster.seg")
    lst = segpy.SegmentedList.open(path, "float64", mode="w")
    lst.extend(np.linspace(0, 1, 500_000))
    arr = lst.to_dask(max_chunk=50_000)
    assert not any(isinstance(x, np.ndarray) for x in _graph_values(arr))
    total = client.compute(arr.sum()).result(timeout=TIMEOUT)
    assert total == pytest.approx(np.linspace(0, 1, 500_000).sum())
