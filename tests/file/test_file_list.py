"""File-backed lists: SegmentedList.open, flush, read-only lists, sharing by path.

The format and its crash safety have their own tests (test_file_format.py,
test_file_crash.py); these check the list a file gives back.
"""

import concurrent.futures
import multiprocessing
import operator
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import segpy
from segpy import FileAllocator, SegmentedList

PAGE = os.sysconf("SC_PAGE_SIZE")

DTYPES = [
    "int8", "uint16", "int32", "int64", "float32", "float64", "complex128", ">i4",
    "datetime64[ns]", "timedelta64[s]", "S5", "bool",
    np.dtype([("x", "<f8"), ("n", "<i4"), ("tag", "S3")]),
    np.dtype([("a", "u1"), ("b", ">i8")], align=True),
]


def _values(dt, n, seed=0):
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, size=n * dt.itemsize, dtype=np.uint8)
    out = raw.view(dt).copy()
    if dt.kind == "b":
        out = out.view(np.uint8) % 2 == 1
    return out


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "list.seg")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("n", [0, 1, 5000, 70001])
def test_a_flushed_list_reopens_with_the_same_data(path, dtype, n):
    dt = np.dtype(dtype)
    data = _values(dt, n)
    lst = SegmentedList.open(path, dt, mode="w")
    lst.extend(data)
    lst.flush()
    del lst
    back = SegmentedList.open(path)
    assert back.dtype == dt and len(back) == n
    assert back.to_numpy().tobytes() == data.tobytes()
    # The elements lie end to end after the header: numpy reads them alone.
    if n:
        mm = np.memmap(path, dtype=dt, mode="r", offset=back.allocator.data_offset, shape=(n,))
        assert mm.tobytes() == data.tobytes()


@pytest.mark.parametrize("first_segment", [512, 1024, 8192])
def test_segments_are_mapped_at_offsets_fixed_by_the_geometry(path, first_segment):
    lst = SegmentedList.open(path, "int64", mode="w", first_segment=first_segment)
    assert lst.first_segment == first_segment
    lst.extend(np.arange(first_segment * 7, dtype=np.int64))
    views = lst.segments()
    # Segment j starts at element first_segment * (2**j - 1): one array.
    for j, v in enumerate(views):
        assert v[0] == first_segment * (2 ** j - 1)
    addresses = [v.ctypes.data for v in views]
    lst.extend(np.arange(first_segment * 7, first_segment * 100, dtype=np.int64))
    # Growth never moved a segment, and the old views still read the data.
    assert [v.ctypes.data for v in lst.segments()[:len(addresses)]] == addresses
    assert views[2][0] == 3 * first_segment
    lst.flush()
    with open(path, "rb") as f:
        f.seek(4096 + 8 * (first_segment * 15))      # segment 4's first element
        assert int.from_bytes(f.read(8), "little") == first_segment * 15


def test_reopen_for_append(path):
    lst = SegmentedList.open(path, "float64", mode="w")
    lst.extend([1.0, 2.0])
    lst.flush()
    del lst
    lst = SegmentedList.open(path, mode="r+")
    assert lst.tolist() == [1.0, 2.0]
    lst.extend(np.linspace(0, 1, 100000))
    lst[0] = 7.0
    lst.flush()
    del lst
    back = SegmentedList.open(path, "float64")
    assert len(back) == 100002 and back[0] == 7.0 and back[-1] == 1.0


def test_readers_see_the_length_of_the_last_flush(path):
    w = SegmentedList.open(path, "int32", mode="w")
    w.extend(range(100))
    w.flush()
    w.extend(range(100, 200))        # not flushed
    r = SegmentedList.open(path, mode="r")
    assert len(r) == 100 and r.tolist() == list(range(100))
    w.flush()
    assert len(r) == 100             # a reader's length is fixed at open
    assert len(SegmentedList.open(path)) == 200


def test_one_writer_at_a_time(path):
    w = SegmentedList.open(path, "int64", mode="w")
    for mode in ("r+", "w"):
        with pytest.raises(BlockingIOError, match="open for writing"):
            SegmentedList.open(path, "int64", mode=mode)
    SegmentedList.open(path)         # readers take no lock
    del w
    SegmentedList.open(path, mode="r+")


def test_mode_w_replaces_the_file_and_readers_keep_the_old_one(path):
    w = SegmentedList.open(path, "int64", mode="w")
    w.extend(range(10000))
    w.flush()
    del w
    r = SegmentedList.open(path)
    w = SegmentedList.open(path, "int16", mode="w")
    w.extend([1, 2, 3])
    w.flush()
    # The old reader maps the old (now unlinked) file: no SIGBUS, same data.
    assert r.to_numpy().sum() == sum(range(10000))
    assert SegmentedList.open(path).tolist() == [1, 2, 3]


def test_mode_and_argument_errors(path, tmp_path):
    with pytest.raises(FileNotFoundError):
        SegmentedList.open(path)
    with pytest.raises(TypeError, match="needs a dtype"):
        SegmentedList.open(path, mode="w")
    for bad in ("a", "rw", "", None, 1):
        with pytest.raises(ValueError, match="mode must be one of"):
            SegmentedList.open(path, "int64", mode=bad)
    with pytest.raises(TypeError):
        SegmentedList.open(path, object, mode="w")
    with pytest.raises(TypeError):
        SegmentedList.open(path, [("a", "O")], mode="x")
    with pytest.raises(ValueError, match="multiple of the page size"):
        SegmentedList.open(path, "int64", mode="w", first_segment=8)
    with pytest.raises(TypeError, match="first_segment must be an int"):
        SegmentedList.open(path, "int64", mode="w", first_segment=True)
    with pytest.raises(ValueError, match="power of two"):
        SegmentedList.open(path, "int64", mode="w", first_segment=3 * PAGE)
    with pytest.raises(TypeError):
        SegmentedList.open(12.5, "int64", mode="w")
    SegmentedList.open(path, "int64", mode="x").flush()
    with pytest.raises(FileExistsError):
        SegmentedList.open(path, "int64", mode="x")
    with pytest.raises(ValueError, match="holds int64, not float32"):
        SegmentedList.open(path, "float32")
    with pytest.raises(ValueError, match="first segment"):
        SegmentedList.open(path, first_segment=1 << 20)
    with pytest.raises(IsADirectoryError):
        SegmentedList.open(str(tmp_path))
    assert SegmentedList.open(path, "q").dtype == np.int64


class _IndexRaises:
    # A hostile __index__: the argument is read before any file exists.
    def __index__(self):
        raise RuntimeError("__index__ refused")


@pytest.mark.parametrize("bad", [2**31, 2**62, 2**70, 0, -PAGE, 3, 1.0 * PAGE, "4096", True,
                                 _IndexRaises()])
def test_first_segment_is_read_as_the_in_memory_list_reads_it(path, bad):
    # One rule for both lists (segpy/_geometry.pxd): the same error type
    # and message, the largest shift included (SEGPY_MAX_SHIFT = 30).
    with pytest.raises(Exception) as mem:
        SegmentedList("int8", first_segment=bad)
    with pytest.raises(type(mem.value)) as file:
        SegmentedList.open(path, "int8", mode="w", first_segment=bad)
    assert str(file.value) == str(mem.value)
    assert ("2**30" in str(mem.value) or "must be an int" in str(mem.value)
            or "__index__ refused" in str(mem.value))
    assert not os.path.exists(path)


def test_first_segment_takes_numpy_ints(path):
    lst = SegmentedList.open(path, "int64", mode="w", first_segment=np.int64(PAGE))
    assert lst.first_segment == PAGE


def test_a_read_only_list_refuses_every_change_and_stays_as_it_was(path):
    w = SegmentedList.open(path, "int64", mode="w")
    w.extend(range(20000))
    w.flush()
    r = SegmentedList.open(path)
    before = r.to_numpy()
    changes = [
        lambda: r.append(1), lambda: r.extend([1]), lambda: r.insert(0, 1),
        lambda: r.__setitem__(0, 5), lambda: r.__setitem__(slice(0, 2), [1, 2]),
        lambda: r.__delitem__(0), lambda: r.pop(), lambda: r.remove(3), r.clear,
        r.reverse, r.byteswap, r.sort, lambda: r.reserve(10 ** 6),
        lambda: r.frombytes(b"\0" * 8), lambda: r.fromlist([1]),
        lambda: r.put([0], [1]), lambda: r.__iadd__([1]), lambda: r.__imul__(2), r.flush,
    ]
    for change in changes:
        with pytest.raises(ValueError, match="read-only"):
            change()
        assert np.array_equal(r.to_numpy(), before)
    for v in r.segments():
        assert not v.flags.writeable
        with pytest.raises(ValueError):
            v[0] = 1
    # Reading works as on any list.
    assert r[5] == 5 and r[-1] == 19999 and 7 in r and r.index(9) == 9
    assert r[10:20].tolist() == list(range(10, 20))
    copy = r.copy()
    copy.append(1)                    # a copy is an ordinary in-memory list
    assert not isinstance(copy.allocator, FileAllocator)


def test_a_file_allocator_serves_only_its_list(path):
    lst = SegmentedList.open(path, "int64", mode="w")
    fa = lst.allocator
    assert isinstance(fa, FileAllocator) and fa.name == "file"
    with pytest.raises(TypeError, match="SegmentedList.open"):
        SegmentedList("int64", allocator=fa)
    with pytest.raises(TypeError, match="FileAllocator"):
        segpy.allocator(fa)
    with pytest.raises(ValueError, match="next segment"):
        fa.allocate(64)
    with pytest.raises(TypeError, match="file-backed"):
        lst.__init__("int64")
    lst.extend(range(10))
    for other in (lst[2:5], lst + lst, lst * 2, lst.copy()):
        assert not isinstance(other.allocator, FileAllocator)
    assert lst.tolist() == list(range(10))
    with pytest.raises(TypeError, match="file-backed"):
        SegmentedList("int64").flush()


def test_the_allocator_describes_the_file(path):
    lst = SegmentedList.open(path, "int64", mode="w", first_segment=1024)
    lst.extend(range(5000))
    fa = lst.allocator
    assert fa.length == 0 and fa.generation == 1
    lst.flush()
    assert fa.length == 5000 and fa.generation == 2
    assert (fa.path, fa.mode, fa.dtype, fa.first_segment, fa.data_offset, fa.writable) == (
        path, "w", np.dtype("int64"), 1024, 4096, True)
    st = fa.stats
    assert st["n_regions"] == 3 and st["bytes_mapped"] == 8 * 1024 * 7
    info = FileAllocator(path)
    assert (info.length, info.dtype, info.writable, info.stats["n_regions"]) == (
        5000, np.dtype("int64"), False, 0)


def test_shrinking_keeps_the_file_and_regrowing_reuses_it(path):
    lst = SegmentedList.open(path, "int64", mode="w", first_segment=512)
    lst.extend(range(100000))
    lst.flush()
    size = os.path.getsize(path)
    del lst[1000:]
    lst.shrink_to_fit()
    assert lst.allocator.stats["n_regions"] < 8
    assert os.path.getsize(path) == size            # never truncated
    lst.extend(range(1000, 50000))
    lst.flush()
    assert SegmentedList.open(path).tolist() == list(range(50000))


def test_the_disk_filling_up_is_an_oserror_on_the_append(path):
    # RLIMIT_FSIZE makes posix_fallocate fail (EFBIG) the way a full disk
    # would (ENOSPC): in a child, so that the limit stays there.
    code = textwrap.dedent(f"""
        import resource, signal, errno, numpy as np, segpy
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        lst = segpy.SegmentedList.open({path!r}, "int64", mode="w", first_segment=512)
        lst.extend(np.arange(512 * 3))
        lst.flush()
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
        before = lst.to_numpy()
        try:
            lst.extend(np.arange(10 ** 6))
        except OSError as e:
            assert e.errno in (errno.EFBIG, errno.ENOSPC), e
            print("OSError", e.errno)
        assert np.array_equal(lst.to_numpy(), before)
        n = 0
        try:
            while True:
                lst.append(n); n += 1
        except OSError:
            pass
        lst.flush()
        print(len(lst))
    """)
    # -P: the checkout's segpy/ (no compiled modules) must not shadow the install.
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, check=False,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    assert lines[0] == "OSError"
    n = int(lines[-1])
    back = SegmentedList.open(path)
    assert len(back) == n and back[n - 1] == n - 1 - 512 * 3


def test_injected_failure_is_an_oserror_and_the_list_is_unchanged(path):
    lst = SegmentedList.open(path, "int64", mode="w", first_segment=512)
    lst.extend(range(512))
    lst.allocator.inject_failure()
    with pytest.raises(OSError, match="injected failure"):
        lst.append(1)
    assert lst.tolist() == list(range(512))
    lst.append(1)
    assert len(lst) == 513


@pytest.mark.parametrize("dt", ["int64", "int8", np.dtype([("x", "<f8"), ("n", "<i4")])])
@pytest.mark.parametrize("start", [0, 1, 511, 4097])
def test_large_appends_reach_the_list_and_the_file(path, dt, start):
    # Appends of 64 KiB and more are written with pwrite, not through the
    # mapping (file_store): the list, a flush and a reopen must all see them,
    # whatever the offsets within segments.
    dt = np.dtype(dt)
    lst = SegmentedList.open(path, dt, mode="w")
    head = _values(dt, start, seed=1)
    big = _values(dt, 300_001, seed=2)
    lst.extend(head)
    lst.extend(big)
    lst.extend(big[::-1])               # a converted (non-contiguous) source
    want = np.concatenate([head, big, big[::-1]])
    assert lst.to_numpy().tobytes() == want.tobytes()
    assert b"".join(bytes(v) for v in lst.segments()) == want.tobytes()
    lst.flush()
    data = np.memmap(path, dtype=dt, mode="r", offset=lst.allocator.data_offset,
                     shape=(len(want),))
    assert data.tobytes() == want.tobytes()
    del data, lst
    assert SegmentedList.open(path).to_numpy().tobytes() == want.tobytes()


def test_a_failed_file_write_leaves_the_list_and_its_segments_unchanged(path):
    lst = SegmentedList.open(path, "int64", mode="w", first_segment=512)
    lst.extend(range(512))
    before = lst.allocator.stats
    big = np.arange(100_000, dtype=np.int64)
    causes = set()
    # The extend asks for 7 segments (OS calls 0-6), then writes the large
    # pieces with pwrite (calls 7, 8, ...): arm a failure at each in turn.
    for after in range(12):
        lst.allocator.inject_failure(after)
        try:
            lst.extend(big)
        except OSError as e:
            assert "injected failure" in str(e)
            causes.add("store" if "appended elements" in str(e) else "segment")
            assert lst.tolist() == list(range(512))
            stats = lst.allocator.stats
            for key in ("bytes_mapped", "bytes_in_use", "n_regions"):
                assert stats[key] == before[key], key
        else:
            assert np.array_equal(lst[512:].to_numpy(), big)
            del lst[512:]
            lst.shrink_to_fit()
    assert causes == {"store", "segment"}
    lst.allocator.inject_failure(10 ** 6)      # disarm
    lst.extend(big)
    lst.flush()
    assert np.array_equal(SegmentedList.open(path)[512:].to_numpy(), big)


def test_max_bytes_bounds_the_mapped_bytes(path):
    fa = FileAllocator(path, "int64", "w", max_bytes=1 << 16, first_segment=512)
    assert fa.max_bytes == 1 << 16
    assert fa.stats["bytes_mapped"] == 0


# -- pickling by path and handing a list to other processes -------------------

def test_pickling_sends_the_path_and_length_only(path):
    lst = SegmentedList.open(path, "int64", mode="w")
    lst.extend(range(10 ** 6))                # unflushed: pickling flushes
    blob = pickle.dumps(lst)
    assert len(blob) < 300
    back = pickle.loads(blob)
    assert len(back) == 10 ** 6 and back[-1] == 10 ** 6 - 1
    with pytest.raises(ValueError, match="read-only"):
        back.append(1)
    lst.extend(range(5))
    assert len(back) == 10 ** 6               # the pickled length, not the file's
    assert len(pickle.loads(pickle.dumps(back))) == 10 ** 6


def test_unpickling_refuses_a_file_with_fewer_published_elements(path):
    lst = SegmentedList.open(path, "int64", mode="w")
    lst.extend(range(100))
    blob = pickle.dumps(lst)
    del lst
    w = SegmentedList.open(path, "int64", mode="w")
    w.extend(range(10))
    w.flush()
    with pytest.raises(ValueError, match="fewer than"):
        pickle.loads(blob)


@pytest.mark.parametrize("where", ["tmp", "shm"])
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_workers_map_the_file_by_path(tmp_path, where, method):
    if where == "shm" and not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm")
    base = "/dev/shm" if where == "shm" else str(tmp_path)
    path = os.path.join(base, f"segpy-test-{os.getpid()}-{method}.seg")
    try:
        lst = SegmentedList.open(path, "int64", mode="w")
        lst.extend(np.arange(3 * 10 ** 5))
        ctx = multiprocessing.get_context(method)
        # Functions the workers can import (a spawned worker cannot import
        # this test module): the list's own sum and its allocator's name.
        with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as pool:
            sums = list(pool.map(np.sum, [lst, lst]))
            names = list(pool.map(operator.attrgetter("allocator.name"), [lst]))
        assert sums == [sum(range(3 * 10 ** 5))] * 2 and names == ["file"]
        with ctx.Pool(2) as pool:
            assert pool.map(np.sum, [lst]) == [sum(range(3 * 10 ** 5))]
    finally:
        os.unlink(path)


def test_growth_is_allowed_while_views_exist(path):
    lst = SegmentedList.open(path, "int64", mode="w", first_segment=512)
    lst.extend(range(512))
    v = lst.segments()[0]
    lst.extend(range(10 ** 5))
    assert v[511] == 511
    with pytest.raises(BufferError):
        lst.__init__("int64")  # views exist: refused before the file check
    del v
    lst.clear()
    assert len(lst) == 0 and lst.allocator.stats["n_regions"] == 0


def test_arrow_export_of_a_file_backed_list_is_zero_copy(path):
    w = SegmentedList.open(path, "int64", mode="w", first_segment=512)
    w.extend(range(5000))
    w.flush()
    for lst in (w, SegmentedList.open(path)):
        back = SegmentedList.from_arrow(lst)          # segpy's own consumer
        assert back.tolist() == list(range(5000))
        assert not isinstance(back.allocator, FileAllocator)
    pa = pytest.importorskip("pyarrow")
    r = SegmentedList.open(path)
    chunked = pa.chunked_array(r)
    views = r.segments()
    assert [c.buffers()[1].address for c in chunked.chunks] == [v.ctypes.data for v in views]
    assert chunked.to_numpy().tolist() == list(range(5000))
    # The export holds the segments: clearing the writer keeps them mapped.
    wchunks = pa.chunked_array(w)
    w.clear()
    assert wchunks.to_numpy()[-1] == 4999
    del wchunks
