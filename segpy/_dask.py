"""SegmentedList.to_dask: the list as a dask array whose chunks are its segments.

Dask is optional: nothing here imports it until :func:`to_dask` runs, and
``import segpy`` never imports this module (the method imports it on call).

Chunk geometry
--------------
The chunks follow the segments, so that every chunk lies inside one segment
and can be a view of it.  Segment ``j`` holds ``s0 * 2**j`` elements, and the
segments are numbered end to end, so segment ``j`` starts at element
``s0 * (2**j - 1)``::

    element 0    s0         3*s0                 7*s0                          15*s0
            |    |          |                    |                             |
            [seg0)[  seg 1  )[      seg 2       )[           seg 3            )[ ...
                                                 [max_chunk)[max_chunk)[      )
                                                 a late segment, cut into pieces
                                                 of at most max_chunk elements

A file-backed list (segpy.FileAllocator) lays the same segments end to end in
its file, so element ``i`` sits at byte ``data_offset + i * itemsize`` and the
same chunk bounds give each task its byte range.

Two kinds of graph
------------------
In memory: each graph value is a zero-copy view of a segment (a slice of
``lst.segments()``), so a task computed in this process runs on the list's
own memory; the views keep the segments, and the list, alive for as long as
the graph lives.

File-backed: each task is ``(read_file_chunk, path, dtype, offset, n)`` and
maps its own byte range of the file read-only when it runs, so a distributed
worker reads the data where it lies and only those four values pass through
the scheduler.

Both are views, not snapshots: the length is fixed when to_dask is called
(elements appended later are not in the array), but an element changed in
place before the array is computed is read with its new value.
"""

import mmap
import operator
import os
import uuid

import numpy as np

import segpy

_NEED_DASK = "to_dask needs dask: pip install 'dask[array]'"


def to_dask(lst, max_chunk=None):
    """Return ``lst`` as a dask array; :meth:`SegmentedList.to_dask` documents it."""
    max_chunk = check_max_chunk(max_chunk)
    file_allocator = getattr(segpy, "FileAllocator", None)
    if file_allocator is not None and isinstance(lst.allocator, file_allocator):
        alloc = lst.allocator
        # The tasks read the file, possibly from other processes: make every
        # element appended so far durable and visible to them first.  (A
        # read-only list shows published elements only.)
        if alloc.writable:
            lst.flush()
        if max_chunk is None:
            max_chunk = default_file_chunk(lst.dtype)
        return from_file(alloc.path, lst.dtype, alloc.data_offset, len(lst),
                         lst.first_segment, max_chunk)
    return from_views(lst.segments(), lst.dtype, max_chunk)


def default_file_chunk(dtype):
    """Elements per chunk of a file-backed list when max_chunk is not given:
    dask's own ``array.chunk-size`` (128 MiB unless configured).

    A file's late segments are huge (half the list is the last one), and a
    task maps its whole chunk: capped like this, a worker's resident pages
    stay near the chunk size whatever the list's size.
    """
    import dask
    from dask.utils import parse_bytes

    return max(1, parse_bytes(dask.config.get("array.chunk-size")) // np.dtype(dtype).itemsize)


def check_max_chunk(max_chunk):
    """Return `max_chunk` as an int (or None), or raise TypeError / ValueError."""
    if max_chunk is None:
        return None
    try:
        n = operator.index(max_chunk)
    except TypeError:
        raise TypeError(
            f"max_chunk must be an int or None, not {type(max_chunk).__name__}") from None
    if n <= 0:
        raise ValueError(f"max_chunk must be > 0, got {n}")
    return n


def import_dask_array():
    """Return :mod:`dask.array`, or raise ImportError saying how to install it."""
    try:
        import dask.array as da
        from dask.highlevelgraph import HighLevelGraph
    except ImportError as exc:
        raise ImportError(_NEED_DASK) from exc
    return da, HighLevelGraph


def new_name(kind):
    """A fresh dask key name for one to_dask call.

    Random rather than derived from the list (``tokenize(id, length, epoch)``)
    or its contents.  The arrays are views, and dask takes equal names to mean
    equal data (a distributed scheduler keeps results by key): an in-place
    ``lst[i] = x`` keeps id, length and epoch, and an id is reused once a list
    is freed, so a derived name could hand back another array's results.  A
    content hash would read every element when to_dask is called.  The cost of
    a random name is that two calls never share results, as with
    ``dask.array.from_array(x, name=False)``.
    """
    return f"segmentedlist-{kind}-{uuid.uuid4().hex}"


def chunk_bounds(length, first_segment, max_chunk=None):
    """``(start, n)`` of each chunk of a list of `length` elements (see the module diagram).

    Segment by segment, each cut into pieces of at most `max_chunk` elements;
    every chunk lies inside one segment and none is empty.
    """
    bounds = []
    start, size = 0, first_segment
    while start < length:
        end = min(start + size, length)
        step = max_chunk or end - start
        bounds.extend((a, min(a + step, end) - a) for a in range(start, end, step))
        start, size = start + size, 2 * size
    return bounds


def as_array(name, graph, chunk_lengths, dtype):
    """The dask array of `graph`, whose keys are ``(name, i)``, one per chunk."""
    da, HighLevelGraph = import_dask_array()
    graph = HighLevelGraph.from_collections(name, graph, dependencies=())
    return da.Array(graph, name, chunks=(tuple(chunk_lengths),), dtype=dtype)


def empty_array(dtype):
    """A 0-length dask array of `dtype`: one empty block, as dask keeps for length 0."""
    name = new_name("empty")
    return as_array(name, {(name, 0): np.empty(0, dtype)}, [0], dtype)


def from_views(views, dtype, max_chunk=None):
    """A dask array whose blocks are `views` (zero-copy), cut to at most `max_chunk`."""
    if not views:
        return empty_array(dtype)
    pieces = []
    for v in views:
        if max_chunk is None or len(v) <= max_chunk:
            pieces.append(v)
        else:
            # Slices of a view are views of the same memory: still zero-copy.
            pieces.extend(v[a:a + max_chunk] for a in range(0, len(v), max_chunk))
    name = new_name("mem")
    graph = {(name, i): piece for i, piece in enumerate(pieces)}
    return as_array(name, graph, [len(p) for p in pieces], dtype)


def from_file(path, dtype, data_offset, length, first_segment, max_chunk=None):
    """A dask array of `length` elements of a file-backed list, read by its tasks.

    Element ``i`` is at byte ``data_offset + i * dtype.itemsize`` of the file
    at `path` (the segments are laid end to end).  Each task maps only its own
    chunk when it runs, and the graph holds nothing but ``(path, dtype,
    offset, n)`` per task; nothing is read here.
    """
    dtype = np.dtype(dtype)
    # Absolute: the tasks may run in processes with another working directory.
    path = os.path.abspath(os.fspath(path))
    if length == 0:
        return empty_array(dtype)
    bounds = chunk_bounds(length, first_segment, max_chunk)
    name = new_name("file")
    graph = {(name, i): (read_file_chunk, path, dtype, data_offset + a * dtype.itemsize, n)
             for i, (a, n) in enumerate(bounds)}
    return as_array(name, graph, [n for _, n in bounds], dtype)


def read_file_chunk(path, dtype, offset, n):
    """Map `n` elements of `dtype` at byte `offset` of the file at `path`, read-only.

    A task function of :func:`from_file`, run by dask wherever the task runs
    (module-level, so it pickles by reference).  The result is a plain
    read-only ndarray over a shared read-only mapping of just this range: the pages are
    read when first touched and dropped with the array, so a worker holds no
    more than the chunks it is working on.  mmap needs the offset to be a
    multiple of the allocation granularity, so the mapping starts at the
    granule below `offset`.
    """
    dtype = np.dtype(dtype)
    if n == 0:
        return np.empty(0, dtype)
    base = offset - offset % mmap.ALLOCATIONGRANULARITY
    size = offset - base + n * dtype.itemsize
    with open(path, "rb") as f:
        try:
            m = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ, offset=base)
        except ValueError as exc:
            raise ValueError(
                f"{path} is too short for {n} elements of {dtype} at byte {offset} "
                f"(was it truncated after to_dask?)") from exc
    # The array holds the mmap (through its buffer); the mapping goes with it.
    return np.frombuffer(m, dtype, count=n, offset=offset - base)
