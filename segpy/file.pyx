# cython: language_level=3
"""The file allocator: a list's segments, each a shared mapping of one file.

See ``_file.pxd`` for the file's layout, the header slots and the
invariants, and docs/file-format.md for the format table and the crash
argument.  The C functions below are ``noexcept nogil`` and report failure
by return value (recording the cause in ``f.common``); ``FileAllocator``
opens, creates and checks the file and is the Python shell around them.
"""

cimport cython

import ast
import errno as _errno
import fcntl
import os
import struct

import numpy as np

from libc.stdio cimport snprintf
from libc.stdint cimport SIZE_MAX
from libc.stdint cimport uint64_t
from libc.stdlib cimport calloc
from libc.stdlib cimport free
from libc.string cimport memcpy

from segpy cimport _alloc
from segpy._file cimport FILE_CHECKSUM_AT
from segpy._file cimport FILE_DATA_OFFSET_AT
from segpy._file cimport FILE_GEN_AT
from segpy._file cimport FILE_HEADER_BYTES
from segpy._file cimport FILE_ITEMSIZE_AT
from segpy._file cimport FILE_LENGTH_AT
from segpy._file cimport FILE_MAX_SEGMENTS
from segpy._file cimport FILE_SHIFT_AT
from segpy._file cimport FILE_SLOT_BYTES
from segpy._file cimport FILE_STORE_PWRITE_BYTES
from segpy._file cimport file_t
from segpy._geometry cimport segpy_first_segment_shift
from segpy._os cimport segpy_errno
from segpy._os cimport segpy_os_close
from segpy._os cimport segpy_os_datasync
from segpy._os cimport segpy_os_fallocate
from segpy._os cimport segpy_os_map_file
from segpy._os cimport segpy_os_pwrite_all
from segpy._os cimport segpy_os_sync_mapping
from segpy._os cimport segpy_os_unmap
from segpy._os cimport segpy_page_size
from segpy cimport alloc

include "_bind_args.pxi"


# ---------------------------------------------------------------------------
# The C core.
# ---------------------------------------------------------------------------

cdef uint64_t file_checksum(const unsigned char* p, size_t n) noexcept nogil:
    """FNV-1a, 64 bits, over ``p[0:n]``.

    Each step xors in one byte and multiplies by an odd constant, a
    bijection of the state, so any change confined to one byte always
    changes the result: every single bit flip in a slot is detected.
    """
    cdef uint64_t h = 0xcbf29ce484222325ULL
    cdef size_t i
    for i in range(n):
        h = (h ^ p[i]) * 0x100000001b3ULL
    return h


cdef inline void _put_le64(unsigned char* p, uint64_t v) noexcept nogil:
    # Byte by byte: the format is little-endian on every host.
    cdef int i
    for i in range(8):
        p[i] = <unsigned char>(v >> (8 * i))


cdef inline uint64_t _get_le64(const unsigned char* p) noexcept nogil:
    cdef uint64_t v = 0
    cdef int i
    for i in range(8):
        v |= (<uint64_t>p[i]) << (8 * i)
    return v


cdef inline size_t _segment_offset(const file_t* f, int j) noexcept nogil:
    return f.data_offset + f.first_bytes * ((<size_t>1 << j) - 1)


cdef int _io_fail(file_t* f, size_t nbytes, int err) noexcept nogil:
    f.common.os_errno = err
    f.common.st.n_os_failures += 1
    return _alloc.fail(&f.common, alloc.SEGPY_AIO, nbytes)


cdef void* file_request(void* ctx, size_t nbytes, size_t align) noexcept nogil:
    """The interface's request: map the next segment at its fixed offset.

    Only the list's next segment can be asked for (``first_bytes << n_maps``
    bytes): anything else would break the end-to-end layout and is refused
    with SEGPY_AINVAL.  A writable file is first extended with
    ``posix_fallocate`` so that a full disk is an error here (SEGPY_AIO,
    ENOSPC) rather than SIGBUS at a later store.
    """
    cdef file_t* f = <file_t*>ctx
    cdef int j = f.n_maps
    cdef size_t off, end
    cdef int rc
    cdef char* p
    if j >= FILE_MAX_SEGMENTS or nbytes != (f.first_bytes << j) or align > segpy_page_size():
        _set_message(f, nbytes)
        _alloc.fail(&f.common, alloc.SEGPY_AINVAL, nbytes)
        return NULL
    if not _alloc.limit_ok(&f.common, nbytes, nbytes):
        return NULL
    off = _segment_offset(f, j)
    end = off + nbytes
    f.common.st.n_os_calls += 1
    if _alloc.injected_failure(&f.common):
        _io_fail(f, nbytes, 0)
        return NULL
    if end > f.file_bytes:
        if not f.writable:
            _io_fail(f, nbytes, 22)     # EINVAL: a read-only file never grows
            return NULL
        rc = segpy_os_fallocate(f.fd, off, nbytes)
        if rc != 0:
            _io_fail(f, nbytes, rc)
            return NULL
        f.file_bytes = end
    p = <char*>segpy_os_map_file(f.fd, off, nbytes, f.writable)
    if p == NULL:
        _io_fail(f, nbytes, segpy_errno())
        return NULL
    f.maps[j] = p
    f.n_maps = j + 1
    f.common.st.bytes_mapped += nbytes
    f.common.st.n_regions += 1
    _alloc.note_alloc(&f.common, nbytes)
    return p


cdef void _set_message(file_t* f, size_t nbytes) noexcept nogil:
    snprintf(f.common.message, sizeof(f.common.message),
             "a FileAllocator maps only its list's next segment (%zu bytes), not %zu bytes",
             f.first_bytes << f.n_maps, nbytes)


cdef int file_release(void* ctx, void* ptr, size_t nbytes) noexcept nogil:
    """The interface's release: unmap the last segment (lists release in
    reverse order).  The file keeps its space, so a segment asked for again
    finds its old bytes and readers never see the file shrink."""
    cdef file_t* f = <file_t*>ctx
    cdef int j = f.n_maps - 1
    if j < 0 or <char*>ptr != f.maps[j] or nbytes != (f.first_bytes << j):
        return _alloc.misuse(&f.common, alloc.SEGPY_AFOREIGN, "segment", j, 0, nbytes,
                             "not the file's last mapped segment")
    f.common.st.n_os_calls += 1
    if segpy_os_unmap(ptr, nbytes) != 0:
        f.common.os_errno = segpy_errno()
        f.common.st.n_os_failures += 1
        return alloc.SEGPY_AOS
    f.maps[j] = NULL
    f.n_maps = j
    f.common.st.bytes_mapped -= nbytes
    f.common.st.n_regions -= 1
    _alloc.note_release(&f.common, nbytes)
    return 0


cdef int file_store(void* ctx, void* dst, const void* src, size_t nbytes) noexcept nogil:
    """The interface's store: appended elements go to the file by ``pwrite``.

    A store through a fresh ``MAP_SHARED`` mapping takes a page fault per
    page; ``pwrite`` puts the same bytes in the page cache directly, which
    the mapping shares (so it sees them at once) and ``file_publish``'s
    msync then writes back like any other dirty page.  Small stores are
    cheaper as a memcpy than as a system call.  ``[dst, dst + nbytes)`` must
    lie in one live segment: anything else is refused as foreign.
    """
    cdef file_t* f = <file_t*>ctx
    cdef char* d = <char*>dst
    cdef int j
    cdef size_t seg, off = 0
    if nbytes < FILE_STORE_PWRITE_BYTES:
        memcpy(dst, src, nbytes)
        return 0
    for j in range(f.n_maps - 1, -1, -1):
        seg = f.first_bytes << j
        if f.maps[j] <= d:
            off = <size_t>(d - f.maps[j])
            if off <= seg and nbytes <= seg - off:
                break
    else:
        return _alloc.misuse(&f.common, alloc.SEGPY_AFOREIGN, "store", -1, 0, nbytes,
                             "not inside one of the file's mapped segments")
    if not f.writable:
        return _io_fail(f, nbytes, 9)       # EBADF: a read-only file is never written
    if _alloc.injected_failure(&f.common):
        return _io_fail(f, nbytes, 0)
    if segpy_os_pwrite_all(f.fd, src, nbytes, _segment_offset(f, j) + off) != 0:
        return _io_fail(f, nbytes, segpy_errno())
    return 0


cdef int file_stats(void* ctx, alloc.segpy_alloc_stats_t* out) noexcept nogil:
    cdef file_t* f = <file_t*>ctx
    _alloc.stats_out(&f.common, out)
    out.header_bytes = f.data_offset
    out.cached_bytes = 0
    return 0


cdef void _file_free(void* ctx) noexcept nogil:
    # The interface's destroy: every mapping, the descriptor (and so its
    # lock), the state.  Stores made through the mappings stay in the page
    # cache and reach the file; only flush() makes them durable.
    cdef file_t* f = <file_t*>ctx
    cdef int j
    for j in range(f.n_maps - 1, -1, -1):
        segpy_os_unmap(f.maps[j], f.first_bytes << j)
    if f.fd >= 0:
        segpy_os_close(f.fd)
    free(f)


cdef int file_publish(file_t* f, size_t length, size_t used_bytes) noexcept nogil:
    """Make the first ``length`` elements (``used_bytes`` bytes) durable.

    The data first (msync of each mapping's used part), then the slot of
    the next generation, written whole, then fdatasync: a slot is on disk
    only after everything it describes is.  Returns 0, or SEGPY_AIO with
    ``os_errno`` set (the generation is then unchanged, so the newest slot
    on disk is still the last one published).
    """
    cdef int j
    cdef size_t seg, start = 0
    cdef uint64_t gen = f.generation + 1
    for j in range(f.n_maps):
        if start >= used_bytes:
            break
        seg = f.first_bytes << j
        if segpy_os_sync_mapping(f.maps[j], min(seg, used_bytes - start)) != 0:
            return _io_fail(f, used_bytes, segpy_errno())
        start += seg
    _put_le64(f.slot + FILE_GEN_AT, gen)
    _put_le64(f.slot + FILE_LENGTH_AT, length)
    _put_le64(f.slot + FILE_CHECKSUM_AT, file_checksum(f.slot, FILE_CHECKSUM_AT))
    if segpy_os_pwrite_all(f.fd, f.slot, FILE_SLOT_BYTES, (gen % 2) * FILE_SLOT_BYTES) != 0:
        return _io_fail(f, FILE_SLOT_BYTES, segpy_errno())
    if segpy_os_datasync(f.fd) != 0:
        return _io_fail(f, FILE_SLOT_BYTES, segpy_errno())
    f.generation = gen
    return 0


cdef alloc.segpy_allocator_t* segpy_file_create(
        int fd, int writable, size_t file_bytes, const unsigned char* slot,
        size_t max_bytes) noexcept nogil:
    """A file allocator over the open descriptor ``fd`` (``file_bytes``
    long), which it owns from here on: destroy closes it, and so does a
    failure here.  ``slot`` is the newest valid header slot (checked by the
    caller): the geometry and generation are read from it, and it is the
    template of the next slot published.  Maps nothing yet.  Returns the
    interface, or NULL if the state could not be allocated.  No GIL needed."""
    cdef file_t* f = <file_t*>calloc(1, sizeof(file_t))
    if f == NULL:
        segpy_os_close(fd)
        return NULL
    _alloc.common_init(&f.common, max_bytes, 0)
    memcpy(f.slot, slot, FILE_SLOT_BYTES)
    f.fd = fd
    f.writable = writable
    f.file_bytes = file_bytes
    f.generation = _get_le64(slot + FILE_GEN_AT)
    f.data_offset = _get_le64(slot + FILE_DATA_OFFSET_AT)
    f.first_bytes = (<size_t>_get_le64(slot + FILE_ITEMSIZE_AT)
                     << (_get_le64(slot + FILE_SHIFT_AT) & 0xffffffffULL))
    cdef alloc.segpy_allocator_t* iface = _alloc.wire(
        &f.common, "file", file_request, file_release, file_stats, NULL, _file_free)
    iface.store = file_store
    return iface


# ---------------------------------------------------------------------------
# The header, in Python: built when a file is made, checked when it is opened.
# ---------------------------------------------------------------------------

_MAGIC = b"SEGPYLST"
FORMAT_VERSION = 1
# magic, version, slot bytes, generation, length, itemsize, shift,
# descr length, data offset, 8 reserved bytes: the slot's first 64 bytes.
_FIXED = struct.Struct("<8sIIQQQIIQ8x")
_DESCR_MAX = FILE_CHECKSUM_AT - 64
_MODES = ("r", "r+", "w", "x")
# A default first segment of at least this many bytes: fewer mappings, and
# the file's space grows in steps worth a system call.
_MIN_FIRST_BYTES = 1 << 16


def _slot_bytes(uint64_t generation, uint64_t length, dt, int shift, size_t data_offset):
    """One header slot (FILE_SLOT_BYTES bytes, checksum included)."""
    descr = repr(np.lib.format.dtype_to_descr(dt)).encode("ascii")
    if len(descr) > _DESCR_MAX:
        raise TypeError(f"the description of {dt!r} ({len(descr)} bytes) does not fit in "
                        f"a file header ({_DESCR_MAX} bytes)")
    head = _FIXED.pack(_MAGIC, FORMAT_VERSION, FILE_SLOT_BYTES, generation, length,
                       dt.itemsize, shift, len(descr), data_offset)
    cdef bytes body = head + descr + bytes(FILE_CHECKSUM_AT - len(head) - len(descr))
    return body + struct.pack("<Q", file_checksum(body, FILE_CHECKSUM_AT))


def _parse_slot(bytes raw):
    """The fields of one slot as a dict, or a str saying why it is not valid."""
    cdef const unsigned char* p = raw
    (magic, version, slot_bytes, gen, length, itemsize, shift, descr_len,
     data_offset) = _FIXED.unpack_from(raw)
    if magic != _MAGIC:
        return "no magic"
    if version != FORMAT_VERSION:
        return f"version {version}"
    stored, = struct.unpack_from("<Q", raw, FILE_CHECKSUM_AT)
    if slot_bytes != FILE_SLOT_BYTES or stored != file_checksum(p, FILE_CHECKSUM_AT):
        return "checksum"
    if descr_len > _DESCR_MAX or gen == 0 or shift > 30 or itemsize == 0:
        return "checksum"
    try:
        dt = np.lib.format.descr_to_dtype(ast.literal_eval(raw[64:64 + descr_len].decode("ascii")))
    except (ValueError, TypeError, SyntaxError, UnicodeDecodeError, MemoryError,
            RecursionError):
        return "checksum"
    # A slot can pass its checksum and still lie (written by another tool,
    # or forged): nothing in it is trusted that would map the header as
    # data or make a list of a dtype lists cannot hold.
    if (dt.itemsize != itemsize or dt.hasobject or dt.subdtype is not None
            or data_offset < FILE_HEADER_BYTES):
        return "checksum"
    return {"generation": gen, "length": length, "dtype": dt, "shift": shift,
            "data_offset": data_offset, "raw": raw}


def _bytes_for(length, first_bytes, shift):
    """File bytes after the header that the segments holding ``length``
    elements take (whole segments: the writer fallocates them whole).

    ``n`` segments hold ``s0 * (2**n - 1)`` elements, so ``n`` is the bit
    length of ``ceil(length / s0)``.  In Python ints: a forged header's
    length can be anything up to 2**64 - 1, and the answer must then be a
    size no file has (so the file is refused as truncated), not a C shift
    past the word's width.
    """
    s0 = 1 << shift
    return first_bytes * ((1 << (-(-length // s0)).bit_length()) - 1)


def _read_header(int fd, str path):
    """Check the header of an open file; the newest valid slot's fields."""
    size = os.fstat(fd).st_size
    if size < FILE_HEADER_BYTES:
        raise ValueError(f"{path} is not a segpy list file: {size} bytes, less than its "
                         f"{FILE_HEADER_BYTES}-byte header")
    page = os.pread(fd, FILE_HEADER_BYTES, 0)
    slots = [_parse_slot(page[k * FILE_SLOT_BYTES:(k + 1) * FILE_SLOT_BYTES]) for k in (0, 1)]
    valid = [s for k, s in enumerate(slots)
             if isinstance(s, dict) and s["generation"] % 2 == k]
    if not valid:
        why = [s if isinstance(s, str) else "checksum" for s in slots]
        if why == ["no magic", "no magic"]:
            raise ValueError(f"{path} is not a segpy list file (no {_MAGIC.decode()} header)")
        versions = [w for w in why if w.startswith("version")]
        if versions and "checksum" not in why:
            raise ValueError(f"{path} is in format {versions[0]}; this segpy reads version "
                             f"{FORMAT_VERSION}")
        raise ValueError(f"{path} has a damaged header: neither header slot is intact "
                         f"(checksum mismatch)")
    h = max(valid, key=lambda s: s["generation"])
    page_size = segpy_page_size()
    first_bytes = h["dtype"].itemsize << h["shift"]
    if h["data_offset"] % page_size or first_bytes % page_size:
        raise ValueError(f"{path} was written with {h['data_offset']}-byte alignment, which "
                         f"this machine's {page_size}-byte pages cannot map")
    need = h["data_offset"] + _bytes_for(h["length"], first_bytes, h["shift"])
    if size < need:
        raise ValueError(f"{path} is truncated: {size} bytes, but its header describes "
                         f"{h['length']} elements, which need {need}")
    h["file_bytes"] = size
    return h


def _default_shift(Py_ssize_t itemsize, size_t page):
    """The smallest shift whose first segment is a page multiple of at least
    ``_MIN_FIRST_BYTES`` bytes."""
    shift = 0
    while shift < 30 and (((<size_t>itemsize << shift) % page)
                          or (<size_t>itemsize << shift) < _MIN_FIRST_BYTES):
        shift += 1
    return shift


cdef int _lock(int fd, str path) except -1:
    """One writer per file: an exclusive flock, released when the descriptor closes."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise BlockingIOError(_errno.EWOULDBLOCK,
                              f"{path} is open for writing by another list") from None
    return 0


cdef int _fsync_dir(str path) except -1:
    # A new file's name is durable only once its directory is synced.
    cdef int d = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(d)
    finally:
        os.close(d)
    return 0


def _create(str path, str mode, dt, int shift, size_t data_offset):
    """Make a new file with an empty list's header; its open descriptor.

    ``'x'`` creates ``path`` itself.  ``'w'`` writes a new file beside it
    and renames it over ``path``: a reader that still maps the old file
    keeps its (unlinked) data, where truncating would give it SIGBUS; and a
    writer holding the old one is detected by its lock first.
    """
    cdef int fd, old = -1
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    target = path
    if mode == "w":
        try:
            old = os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            old = -1
        if old >= 0:
            try:
                _lock(old, path)
            except BaseException:
                os.close(old)
                raise
        target = f"{path}.{os.getpid()}.segpy-new"
    try:
        fd = os.open(target, flags, 0o666)
        try:
            _lock(fd, path)
            header = bytearray(data_offset)
            header[FILE_SLOT_BYTES:2 * FILE_SLOT_BYTES] = _slot_bytes(1, 0, dt, shift, data_offset)
            if os.pwrite(fd, bytes(header), 0) != data_offset:
                raise OSError(_errno.EIO, f"short write of the header of {path}")
            os.fsync(fd)
            if target != path:
                os.replace(target, path)
            _fsync_dir(path)
        except BaseException:
            os.close(fd)
            if target != path:
                try:
                    os.unlink(target)
                except OSError:
                    pass
            raise
    finally:
        if old >= 0:
            os.close(old)
    return fd


@cython.final
cdef class FileAllocator(alloc.Allocator):
    """FileAllocator(path, dtype=None, mode='r', *, first_segment=None, max_bytes=None)
--

The allocator of a file-backed list: each segment is a shared mapping of one file.

    Made by :meth:`SegmentedList.open`, which is how a file-backed list is
    opened or created; a list's ``allocator`` is then a FileAllocator.  It
    serves that one list: segment ``j`` is mapped at a file offset fixed by
    the segment geometry, so the elements lie end to end in the file after
    a ``data_offset``-byte header, and a segment never moves.  It can also
    be made directly to read a file's header without mapping anything.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    dtype : data-type, optional
        Required to create a file (modes ``'w'``, ``'x'``); checked against
        the file's otherwise.
    mode : {'r', 'r+', 'w', 'x'}, default 'r'
        ``'r'`` read-only, ``'r+'`` read and append, ``'w'`` create or
        replace, ``'x'`` create, failing if the file exists.  Writers take
        an exclusive lock on the file; readers take none.
    first_segment : int, optional
        Elements in the first segment of a new file: a power of two whose
        segment is a multiple of the page size.  The default gives at
        least 64 KiB.
    max_bytes : int, optional
        Upper bound on the bytes mapped at once.

    Raises
    ------
    ValueError
        For a bad mode, a file that is not a segpy list file, is truncated,
        damaged or of another format version, or whose dtype or first
        segment differs from the one given.
    TypeError
        If a new file gets no dtype, or a dtype the format cannot hold.
    FileNotFoundError, FileExistsError, BlockingIOError, OSError
        As :func:`open` would, or if another writer holds the file.

    Attributes
    ----------
    path : str
        The file's absolute path.
    mode : str
        The mode it was opened with.
    shift : int
        ``log2(first_segment)``.
    data_offset : int
        Byte offset of element 0 in the file (the header's size).

    See Also
    --------
    SegmentedList.open, SegmentedList.flush

    Examples
    --------
    >>> import os, tempfile, segpy
    >>> path = os.path.join(tempfile.mkdtemp(), "ints.seg")
    >>> lst = segpy.SegmentedList.open(path, "int64", mode="w")
    >>> lst.extend(range(5))
    >>> lst.flush()
    >>> fa = segpy.FileAllocator(path)
    >>> fa.length, fa.dtype, fa.data_offset
    (5, dtype('int64'), 4096)
    """

    cdef file_t* state
    cdef readonly str path
    cdef readonly str mode
    cdef object _dtype
    cdef readonly int shift
    cdef readonly Py_ssize_t data_offset

    def __cinit__(self, *args, **kwargs):
        path, dtype, mode, first_segment, max_bytes = _bind_args(
            "FileAllocator", args, kwargs,
            ("path", "dtype", "mode", "first_segment", "max_bytes"), 3,
            (_REQUIRED, None, "r", None, None))
        cdef size_t limit = alloc.parse_size(max_bytes, "max_bytes", SIZE_MAX)
        cdef size_t page = segpy_page_size()
        cdef int fd = -1
        if not isinstance(mode, str) or mode not in _MODES:
            raise ValueError(f"mode must be one of 'r', 'r+', 'w', 'x', not {mode!r}")
        self.path = os.path.abspath(os.fsdecode(os.fspath(path)))
        self.mode = mode
        dt = None if dtype is None else np.dtype(dtype)
        if dt is not None and (dt.hasobject or dt.itemsize == 0 or dt.subdtype is not None):
            raise TypeError(f"a file-backed list cannot hold {dt!r}")
        if mode in ("w", "x"):
            if dt is None:
                raise TypeError(f"mode={mode!r} creates a file and needs a dtype")
            shift = _default_shift(dt.itemsize, page) if first_segment is None else \
                _first_segment_shift(first_segment, dt.itemsize, page)
            data_offset = max(<size_t>FILE_HEADER_BYTES, page)
            fd = _create(self.path, mode, dt, shift, data_offset)
            h = {"generation": 1, "length": 0, "dtype": dt, "shift": shift,
                 "data_offset": data_offset, "file_bytes": data_offset,
                 "raw": _slot_bytes(1, 0, dt, shift, data_offset)}
        else:
            flags = (os.O_RDWR if mode == "r+" else os.O_RDONLY) | getattr(os, "O_CLOEXEC", 0)
            fd = os.open(self.path, flags)
            try:
                if mode == "r+":
                    _lock(fd, self.path)
                h = _read_header(fd, self.path)
                if dt is not None and dt != h["dtype"]:
                    raise ValueError(f"{self.path} holds {h['dtype']}, not {dt}")
                if first_segment is not None and \
                        _first_segment_shift(first_segment, h["dtype"].itemsize, page) \
                        != h["shift"]:
                    raise ValueError(f"{self.path} has a first segment of "
                                     f"{1 << h['shift']} elements, not {first_segment}")
            except BaseException:
                os.close(fd)
                raise
        self._dtype = h["dtype"]
        self.shift = h["shift"]
        self.data_offset = h["data_offset"]
        cdef const unsigned char[:] raw = h["raw"]
        # From here the C state owns fd (and closes it even if this fails).
        self._own(segpy_file_create(fd, 0 if mode == "r" else 1, h["file_bytes"], &raw[0],
                                    limit))
        self.state = <file_t*>self.common

    @property
    def dtype(self):
        """numpy.dtype : The elements' dtype, as the header records it."""
        return self._dtype

    @property
    def first_segment(self):
        """int : Elements in the first segment."""
        return 1 << self.shift

    @property
    def length(self):
        """int : The list's length as of the newest header on disk (the last flush)."""
        return _get_le64(self.state.slot + FILE_LENGTH_AT)

    @property
    def generation(self):
        """int : How many headers have been published to the file, counting its creation."""
        return self.state.generation

    @property
    def writable(self):
        """bool : Whether the file was opened for writing."""
        return self.state.writable != 0

    def _publish(self, Py_ssize_t length, /):
        """Make the first ``length`` elements durable and publish them (see
        ``_file.pxd``).  Called by :meth:`SegmentedList.flush`."""
        cdef int rc
        if not self.state.writable:
            raise ValueError(f"{self.path} is open read-only (mode='r')")
        # Only elements inside the mapped segments can be published: a
        # header claiming more would describe bytes no one wrote.
        capacity = (1 << self.shift) * ((1 << self.state.n_maps) - 1)
        if length < 0 or length > capacity:
            raise ValueError(f"cannot publish {length} elements: the mapped segments hold "
                             f"{capacity}")
        cdef size_t used = <size_t>length * self._dtype.itemsize
        # The GIL is held throughout: another thread's append would call
        # request (the allocator is not locked) and a shrink would unmap a
        # segment while it is being synced (docs/trust.md, threads).
        rc = file_publish(self.state, <size_t>length, used)
        if rc != 0:
            err = self.common.os_errno
            raise OSError(err, f"could not flush {self.path}: {os.strerror(err)}")


cdef int _first_segment_shift(object first_segment, Py_ssize_t itemsize, size_t page) except -1:
    # The in-memory list's rule (any int-like, a power of two up to
    # 2**30), and a whole number of pages.  30 is seglist.pxd's
    # SEGPY_MAX_SHIFT, not cimported: that would bring the list's numpy
    # declarations into this module (tests/file checks the two agree).
    cdef int shift = segpy_first_segment_shift(first_segment, 30)
    n = 1 << shift
    if (n * itemsize) % page:
        raise ValueError(f"a file-backed list's first segment must be a multiple of the "
                         f"page size ({page} bytes); {n} elements of {itemsize} bytes are "
                         f"{n * itemsize}")
    return shift


alloc.allocator_register_type(FileAllocator)
