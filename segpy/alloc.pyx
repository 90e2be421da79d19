# cython: language_level=3
"""Allocators behind segpy's allocator seam (see ``alloc.pxd`` for the contract).

This module holds what the whole allocator family shares at the Python
level: the :class:`Allocator` base class (the state's life cycle, stats,
limits, raw :class:`Block` objects, ``grow``, ``check()``, introspection,
leak reports, argument parsing, error messages), the
:class:`SystemAllocator`, and the context that picks the default allocator
of new lists.  The shared C layer (accounting, the counted OS calls) is in
``_alloc.pxd``.
"""

import contextvars
import inspect
import operator
import os
import warnings

import numpy as np

from libc.stdint cimport SIZE_MAX
from libc.limits cimport LONG_MAX
from libc.stdlib cimport calloc
from libc.stdlib cimport free
from libc.string cimport strlen
from cpython.contextvars cimport get_value
from cpython.object cimport PyTypeObject
from cpython.ref cimport PyObject

from segpy cimport _alloc
from segpy._os cimport segpy_aligned_malloc
from segpy._os cimport segpy_errno
from segpy._os cimport segpy_page_size


# The row layouts of Allocator.blocks() and Allocator.regions(), shared by
# every allocator that keeps headers or regions.
_BLOCK_DTYPE = np.dtype([("region", np.int32), ("offset", np.int64), ("size", np.int64),
                         ("state", np.uint8)])
_REGION_DTYPE = np.dtype([("index", np.int32), ("address", np.uint64), ("size", np.int64),
                          ("used", np.int64), ("n_blocks", np.int64)])


cdef size_t parse_size(object value, str name, object if_none=None,
                       size_t most=SIZE_MAX) except? 0:
    """The one integer parser of the allocators' arguments: a byte count,
    alignment, address or bound, an int from 0 to ``most``.

    ``None`` gives ``if_none`` where that is not None (``max_bytes=None``:
    unbounded), else a TypeError like every other non-integer.

    Raises
    ------
    TypeError
        If `value` is not an int (floats and strings included).
    ValueError
        If it is negative or above ``most``.
    OverflowError
        If it does not fit a ``size_t``.
    """
    if value is None and if_none is not None:
        return if_none
    value = operator.index(value)  # TypeError for None, floats, str ...
    if most == SIZE_MAX:
        if value < 0:
            raise ValueError(f"{name} must be non-negative, got {value}")
    elif value < 0 or value > most:
        raise ValueError(f"{name} must be from 0 to {most}, got {value}")
    return value    # OverflowError beyond SIZE_MAX


class AllocatorError(RuntimeError):
    """An allocator detected misuse or damage.

    A double release, a foreign pointer, overwritten guard bytes or headers,
    or a reset / rewind while blocks are live in the affected range.  The
    message names the block.  The allocator is left as it was.

    Examples
    --------
    >>> import segpy
    >>> arena = segpy.BumpAllocator()
    >>> block = arena.allocate(64)
    >>> arena.reset()                    # would free the live block
    Traceback (most recent call last):
        ...
    segpy.alloc.AllocatorError: bump allocator: blocks are live in the affected range: ...
    """


# Requests from 64 KiB up are mapped directly: below that, libc's heap is
# cheaper per call; above it, a mapping costs no resident memory until its
# pages are touched, which is what keeps a growing list's peak RSS at its
# payload.  From 2 MiB up the mapping is aligned for transparent huge pages
# (_alloc.map_pages does that).
cdef enum:
    _MAP_THRESHOLD = 64 * 1024


cdef inline object _limit_or_none(size_t max_bytes):
    # SIZE_MAX is "unbounded" in C; Python sees None.
    return None if max_bytes == SIZE_MAX else max_bytes


# ---------------------------------------------------------------------------
# The system allocator.
# ---------------------------------------------------------------------------

# The system allocator: small requests from libc's aligned allocation, large
# ones mapped directly from the OS so untouched pages cost no resident memory
# and a released segment goes straight back to the OS.  Its state is the
# common state alone.
ctypedef struct sysalloc_t:
    segpy_alloc_common_t common


cdef inline size_t _mapped_size(size_t nbytes) noexcept nogil:
    # What a request of nbytes actually holds from the OS; release recomputes
    # it from the same nbytes, which is why release must be given the size.
    if nbytes >= _MAP_THRESHOLD:
        return _alloc.round_up(nbytes, segpy_page_size())
    return nbytes


cdef void* sysalloc_request(void* ctx, size_t nbytes, size_t align) noexcept nogil:
    """Return ``align``-aligned memory of ``nbytes`` bytes, or NULL.

    No GIL needed.  Fails (NULL) when ``max_bytes`` (a bound on bytes in
    use) would be exceeded, when the OS refuses, or when a failure was
    injected; each is counted in the stats.  The memory is not zero-filled
    by us (mapped pages happen to be zero).
    """
    cdef segpy_alloc_common_t* c = &(<sysalloc_t*>ctx).common
    cdef size_t size = _mapped_size(nbytes)
    cdef void* p
    if nbytes > c.st.max_bytes - c.st.bytes_in_use:
        _alloc.fail(c, SEGPY_ALIMIT, nbytes)
        return NULL
    if nbytes >= _MAP_THRESHOLD:
        # mmap is page-aligned, and align never exceeds a page by contract.
        p = _alloc.map_pages(c, size, nbytes)
        if p == NULL:
            return NULL
    else:
        c.st.n_os_calls += 1
        if _alloc.injected_failure(c):
            p = NULL
            c.os_errno = 0
        else:
            p = segpy_aligned_malloc(nbytes, align)
            c.os_errno = segpy_errno()
        if p == NULL:
            c.st.n_os_failures += 1
            _alloc.fail(c, SEGPY_AOS, nbytes)
            return NULL
        c.st.bytes_mapped += size
        c.st.n_regions += 1
    _alloc.note_alloc(c, nbytes)
    return p


cdef int sysalloc_release(void* ctx, void* ptr, size_t nbytes) noexcept nogil:
    """Give back memory from ``sysalloc_request`` of this allocator.

    No GIL needed.  Safety: ``nbytes`` must be the size that was requested,
    because it decides whether the memory was mapped or malloc'd.  Returns 0,
    or SEGPY_AOS if the OS refused to unmap (counted; the memory then stays
    mapped).
    """
    cdef segpy_alloc_common_t* c = &(<sysalloc_t*>ctx).common
    cdef size_t size = _mapped_size(nbytes)
    if ptr == NULL:
        return 0
    if nbytes >= _MAP_THRESHOLD:
        if _alloc.unmap_pages(c, ptr, size) != 0:
            return SEGPY_AOS
    else:
        c.st.n_os_calls += 1
        free(ptr)
        c.st.bytes_mapped -= size
        c.st.n_regions -= 1
    _alloc.note_release(c, nbytes)
    return 0


cdef int sysalloc_stats(void* ctx, segpy_alloc_stats_t* out) noexcept nogil:
    """Copy the counters into ``out``.  No GIL needed; returns 0."""
    _alloc.stats_out(&(<sysalloc_t*>ctx).common, out)
    return 0


cdef void sysalloc_destroy(void* ctx) noexcept nogil:
    # Nothing to unmap: every block went back to libc or the OS on release.
    free(ctx)


cdef segpy_allocator_t* segpy_system_create(size_t max_bytes) noexcept nogil:
    """A system allocator; ``max_bytes`` (SIZE_MAX: unbounded) bounds the
    bytes in use.  Returns its interface, or NULL if its state could not be
    allocated.  It never grows a block in place.  No GIL needed."""
    cdef sysalloc_t* a = <sysalloc_t*>calloc(1, sizeof(sysalloc_t))
    if a == NULL:
        return NULL
    _alloc.common_init(&a.common, max_bytes, 0)
    return _alloc.wire(&a.common, "system", sysalloc_request, sysalloc_release,
                       sysalloc_stats, NULL, sysalloc_destroy)


# ---------------------------------------------------------------------------
# Errors raised at the Python boundary.
# ---------------------------------------------------------------------------

cdef int raise_alloc_error(Allocator a, size_t nbytes, str what) except -1:
    """Raise MemoryError for a failed request of ``nbytes`` for ``what``.

    The message names the request size, the limit and the current use, and
    whether the limit or the OS refused.
    """
    cdef segpy_alloc_stats_t st
    a.iface.stats(a.iface.ctx, &st)
    limit = "unbounded" if st.max_bytes == SIZE_MAX else f"{st.max_bytes} bytes"
    use = (f"{st.bytes_in_use} bytes in use, {st.bytes_mapped} mapped, "
           f"max_bytes {limit}")
    head = f"{a.name} allocator could not provide {nbytes} bytes for {what}"
    code = a.common.last_error if a.common != NULL else 0
    if code == SEGPY_ALIMIT:
        raise MemoryError(f"{head}: the limit would be exceeded ({use})")
    if code == SEGPY_AOS:
        errno = a.common.os_errno
        cause = f"errno {errno}" if errno else "injected failure"
        raise MemoryError(f"{head}: the OS refused ({cause}; {use})")
    if code == SEGPY_AIO:
        # A file allocator: the disk is full, or the file cannot be mapped.
        errno = a.common.os_errno
        raise OSError(errno, f"{head}: {os.strerror(errno) if errno else 'injected failure'}"
                             f" ({use})")
    if code == SEGPY_AINVAL:
        raise ValueError(f"{head}: {_message(a) or 'invalid size or alignment'}")
    if code == SEGPY_ACORRUPT:
        # The allocator refused to carve memory from damaged metadata.
        raise AllocatorError(f"{head}: damaged block: {_message(a)}")
    raise MemoryError(f"{head} ({use})")


cdef str _message(Allocator a):
    if a.common == NULL or a.common.message[0] == 0:
        return ""
    return a.common.message[:strlen(a.common.message)].decode("utf-8", "replace")


cdef int raise_misuse(Allocator a, int code) except -1:
    """Raise AllocatorError for a misuse code returned by release or check."""
    detail = _message(a)
    kinds = {
        SEGPY_ADOUBLE: "double release",
        SEGPY_AFOREIGN: "release of a foreign pointer",
        SEGPY_ACORRUPT: "damaged block",
        SEGPY_ABUSY: "blocks are live in the affected range",
        SEGPY_AOS: "the OS refused to unmap",
    }
    kind = kinds.get(code, f"error {code}")
    raise AllocatorError(f"{a.name} allocator: {kind}" + (f": {detail}" if detail else ""))


include "_seal.pxi"


# ---------------------------------------------------------------------------
# The Python classes.
# ---------------------------------------------------------------------------

# The concrete allocator types: only their instances fill in the C
# interface (``iface``, ``common``) in their ``__cinit__``.  A Python class
# deriving from Allocator directly would have a NULL interface and crash at
# its first use, so the base refuses to make one.  Each module defining a
# concrete allocator registers it at import.
cdef tuple _concrete_allocators = ()


cdef int allocator_register_type(type t) except -1:
    """Declare ``t`` (a cdef subclass of Allocator whose ``__cinit__`` fills
    ``iface`` and ``common``) a concrete allocator; its Python subclasses
    are then accepted too.  Call once at module import; needs the GIL."""
    global _concrete_allocators
    if not issubclass(t, Allocator):
        raise TypeError(f"{t.__name__} is not an Allocator subclass")
    _concrete_allocators = _concrete_allocators + (t,)
    return 0


cdef int _own_block(Allocator a, Block block, str released) except -1:
    # ValueError unless `block` is a live block of `a`.
    if block.owner is not a:
        if block.owner is None:
            raise ValueError(released)
        raise ValueError(f"the block belongs to another allocator ({block.owner!r})")
    return 0


include "_bind_args.pxi"


cdef class Allocator:
    """Allocator()
--

Base class of segpy's allocators.

    An allocator hands out the memory of a list's segments through segpy's C
    allocator interface.  Lists and blocks keep their allocator alive, and
    every segment is released to the allocator that made it.  This base
    class cannot be instantiated; use :class:`SystemAllocator`,
    :class:`BumpAllocator`, :class:`Heap` or :class:`BufferAllocator`.

    See Also
    --------
    segpy.allocator : make an allocator the default for new lists.
    """

    def __cinit__(self, *args, **kwargs):
        if type(self) is Allocator:
            raise TypeError("Allocator is an abstract base class; use a concrete "
                            "allocator such as segpy.Heap or segpy.SystemAllocator")
        if not isinstance(self, _concrete_allocators):
            # A Python subclass of the base: nothing would fill in the C
            # interface the lists call through.
            raise TypeError(
                f"{type(self).__name__} derives from segpy.Allocator directly, which has "
                f"no implementation; subclass a concrete allocator (SystemAllocator, "
                f"BumpAllocator, Heap or BufferAllocator) instead")

    def __dealloc__(self):
        self._destroy()

    cdef int _own(self, segpy_allocator_t* a) except -1:
        """Adopt the allocator ``a`` made by a ``segpy_*_create`` function:
        from here on this object owns it, and ``_destroy`` (run at the
        latest when the object dies) destroys it.  Raises MemoryError for a
        NULL ``a`` (the create function had no memory for the state)."""
        if a == NULL:
            raise MemoryError(f"{type(self).__name__}: no memory for the allocator's state")
        self.iface = a[0]
        self.common = <segpy_alloc_common_t*>a.ctx
        return 0

    cdef int _destroy(self) except -1:
        """Report leaks (debug mode), then destroy the C allocator.  Safe to
        call twice; a subclass whose ``__dealloc__`` must release something
        only after the state is gone (BufferAllocator's buffer) calls it
        first.  Needs the GIL."""
        cdef segpy_alloc_common_t* c = self.common
        if c == NULL:
            return 0
        try:
            self._report_leaks()
        finally:
            self.common = NULL
            self.iface.ctx = NULL
            segpy_allocator_destroy(&c.iface)
        return 0

    @property
    def name(self):
        """str : The allocator's kind, as C code sees it in ``iface.name``."""
        return (<bytes>self.iface.name).decode("ascii")

    @property
    def stats(self):
        """dict : A snapshot of the allocator's counters.

        ``bytes_in_use`` (sum of live request sizes), ``bytes_mapped`` (bytes
        held from the OS, or the managed buffer's size), ``peak_bytes_in_use``,
        ``max_bytes`` (the bound, None if unbounded), ``overhead_bytes``
        (held but not in use), ``header_bytes`` (of that, headers and guard
        bytes), ``cached_bytes`` (of that, empty regions kept for reuse),
        ``n_regions`` (OS mappings held), ``n_blocks`` (live blocks),
        ``n_alloc``, ``n_release``, ``n_os_calls``, ``n_os_failures`` and
        ``n_limit_failures``.
        """
        cdef segpy_alloc_stats_t st
        self.iface.stats(self.iface.ctx, &st)
        return {
            "bytes_in_use": st.bytes_in_use,
            "bytes_mapped": st.bytes_mapped,
            "peak_bytes_in_use": st.peak_bytes_in_use,
            "max_bytes": _limit_or_none(st.max_bytes),
            "overhead_bytes": st.overhead_bytes,
            "header_bytes": st.header_bytes,
            "cached_bytes": st.cached_bytes,
            "n_regions": st.n_regions,
            "n_blocks": st.n_blocks,
            "n_alloc": st.n_alloc,
            "n_release": st.n_release,
            "n_os_calls": st.n_os_calls,
            "n_os_failures": st.n_os_failures,
            "n_limit_failures": st.n_limit_failures,
        }

    @property
    def max_bytes(self):
        """int or None : The allocator's bound, or None if unbounded."""
        return _limit_or_none(self.common.st.max_bytes)

    @property
    def debug(self):
        """bool : Whether the debug mode (guards, fills, misuse detection) is on."""
        return self.common.debug != 0

    def inject_failure(self, Py_ssize_t after=0):
        """Make a future OS call fail as if the OS had refused it (a test hook).

        Parameters
        ----------
        after : int, default 0
            How many OS calls succeed first; the next one fails.  Only one
            failure is armed at a time; calling again re-arms it.

        Raises
        ------
        ValueError
            If `after` is negative or too large to count down from.
        """
        if after < 0:
            raise ValueError(f"after must be non-negative, got {after}")
        # The countdown is a C long and holds after + 1: keep that sum in range.
        if after > LONG_MAX - 1:
            raise ValueError(f"after must be at most {LONG_MAX - 1}, got {after}")
        self.common.fail_countdown = after + 1

    def allocate(self, nbytes, Py_ssize_t align=8):
        """Allocate a raw block of memory.

        Parameters
        ----------
        nbytes : int
            Size in bytes, at least 1.
        align : int, default 8
            Alignment of the block's address: a power of two no larger than
            the page size.

        Returns
        -------
        Block
            Writable memory exposed through the buffer protocol, so
            ``memoryview(block)`` and ``np.frombuffer(block, dtype)`` work.
            Its contents are uninitialised.

        Raises
        ------
        ValueError
            If `nbytes` < 1 or `align` is not a power of two up to the page size.
        MemoryError
            If the limit or the OS refuses; the allocator is unchanged.

        Examples
        --------
        >>> import numpy as np, segpy
        >>> heap = segpy.SystemAllocator()
        >>> b = heap.allocate(64, align=64)
        >>> a = np.frombuffer(b, dtype=np.int64)
        >>> a[:] = 7
        >>> del a
        >>> b.release()
        """
        cdef Py_ssize_t n = operator.index(nbytes)
        if n < 1:
            raise ValueError(f"nbytes must be at least 1, got {n}")
        if align < 1 or (align & (align - 1)) or <size_t>align > segpy_page_size():
            raise ValueError(
                f"align must be a power of two from 1 to the page size "
                f"({segpy_page_size()}), got {align}")
        cdef void* p = self.iface.request(self.iface.ctx, <size_t>n, <size_t>align)
        if p == NULL:
            raise_alloc_error(self, <size_t>n, "a block")
        cdef Block b = Block.__new__(Block)
        b.owner = self
        b.ptr = <char*>p
        b.size = <size_t>n
        b.alignment = <size_t>align
        return b

    def release(self, Block block not None, /):
        """Give a block back; the same as ``block.release()``.

        Raises
        ------
        ValueError
            If the block belongs to another allocator or was already released.
        BufferError
            If views of the block (memoryviews, arrays) still exist.
        AllocatorError
            If the allocator detects damage (debug mode: overwritten guard bytes).
        """
        _own_block(self, block, "the block was already released")
        block.release()

    def grow(self, Block block not None, nbytes):
        """Grow `block` in place to `nbytes` bytes, if the allocator has room
        right after it.

        Where a block can grow depends on the allocator: a Heap when the
        block after it is free, a BumpAllocator only its most recent
        allocation, a BufferAllocator into its slack, a free neighbour or
        (the top block) the free space; a SystemAllocator never.  The
        address stays; the new bytes are uninitialised (0xCD in debug mode).

        Parameters
        ----------
        block : Block
            A live block of this allocator.
        nbytes : int
            The new size, at least ``block.nbytes``.

        Returns
        -------
        bool
            True if the block now has `nbytes` bytes; False (nothing
            changed) if it cannot grow in place or `max_bytes` forbids it.

        Raises
        ------
        ValueError
            If the block was released or belongs to another allocator, or
            `nbytes` is smaller than its size or beyond what the allocator
            can ever provide.
        BufferError
            If views of the block (memoryviews, arrays) exist: their length
            would go stale.  Release them first.
        AllocatorError
            If the allocator detects damage (debug mode: overwritten guard
            bytes); nothing changes.

        Examples
        --------
        >>> import segpy
        >>> heap = segpy.Heap()
        >>> b = heap.allocate(100)
        >>> heap.grow(b, 200), b.nbytes
        (True, 200)
        """
        _own_block(self, block, "the block was released")
        cdef Py_ssize_t n = operator.index(nbytes)
        if n < <Py_ssize_t>block.size:
            raise ValueError(f"cannot grow a block of {block.size} bytes to {n} "
                             f"(grow cannot shrink a block)")
        if block.exports:
            raise BufferError(f"cannot grow a block while {block.exports} view(s) of it exist")
        if <size_t>n == block.size:
            return True
        if self.iface.grow == NULL:
            return False
        cdef int rc = self.iface.grow(self.iface.ctx, block.ptr, block.size, <size_t>n)
        if rc == 0:
            block.size = <size_t>n
            return True
        if rc == SEGPY_ANOROOM or rc == SEGPY_ALIMIT:
            return False
        if rc == SEGPY_AINVAL:
            raise ValueError(f"cannot grow a block of {block.size} bytes to {n}")
        raise_misuse(self, rc)

    def check(self):
        """Walk every header and verify the allocator's invariants.

        Raises
        ------
        AllocatorError
            With a precise message naming the first broken invariant or
            damaged block.
        """
        cdef int rc = self._check()
        if rc != 0:
            raise_misuse(self, rc)

    def blocks(self):
        """The allocator's blocks as a numpy structured array.

        Returns
        -------
        numpy.ndarray
            One row per block, with fields ``region`` (index of the owning
            region), ``offset`` (of the block's payload from the region's
            start), ``size`` (payload bytes) and ``state`` (1 used, 0 free).

        Raises
        ------
        TypeError
            If this kind of allocator does not keep per-block headers.
        """
        out = self._blocks()
        if out is None:
            raise TypeError(f"a {type(self).__name__} does not keep per-block headers")
        return out

    def regions(self):
        """The allocator's regions (OS mappings, or the managed buffer) as a numpy
        structured array with fields ``index``, ``address``, ``size``,
        ``used`` and ``n_blocks``.

        Raises
        ------
        TypeError
            If this kind of allocator does not track regions.
        """
        out = self._regions()
        if out is None:
            raise TypeError(f"a {type(self).__name__} does not track regions")
        return out

    def _request_raw(self, nbytes, align=8):
        """Test hook: call the C ``request`` directly; return the address as an int.

        Unlike :meth:`allocate`, the size and alignment reach the C layer
        unchecked (beyond being non-negative ints), so tests can exercise
        its own validation.  The caller must hand the address to
        :meth:`_release_raw` with the same size.

        Raises
        ------
        MemoryError, ValueError
            As :meth:`allocate` does, from the C layer's error code.
        """
        cdef size_t n = parse_size(nbytes, "nbytes")
        cdef size_t al = parse_size(align, "align")
        cdef void* p = self.iface.request(self.iface.ctx, n, al)
        if p == NULL:
            raise_alloc_error(self, n, "a raw request")
        return <size_t>p

    def _release_raw(self, address, nbytes):
        """Test hook: call the C ``release`` with any address.

        Safe for arbitrary addresses with the family's allocators: they check
        an address against their own regions or headers before touching it.

        Raises
        ------
        AllocatorError
            If the allocator detects misuse (foreign address, double
            release, damage).
        """
        cdef size_t a = parse_size(address, "address")
        cdef size_t n = parse_size(nbytes, "nbytes")
        cdef int rc = self.iface.release(self.iface.ctx, <void*>a, n)
        if rc != 0:
            raise_misuse(self, rc)

    cdef int _check(self) except -1:
        # The hook of check(): 0, or a SEGPY_A* misuse code (never -1) with
        # common.message written, which check() raises; a subclass may also
        # raise AllocatorError itself.
        return 0

    cdef object _blocks(self):
        return None

    cdef object _regions(self):
        return None

    cdef int _report_leaks(self) except -1:
        # Debug mode: a live block when the allocator dies is a leak (a C
        # user's request never released: Python blocks and lists keep their
        # allocator alive).  Reported as a ResourceWarning naming the blocks.
        if self.common == NULL or not self.common.debug or _alloc.n_blocks(self.common) == 0:
            return 0
        detail = ""
        try:
            blocks = self._blocks()
            if blocks is not None:
                live = blocks[blocks["state"] == 1]
                detail = "; " + ", ".join(
                    f"region {r['region']} offset {r['offset']} size {r['size']}"
                    for r in live[:10])
        except Exception:   # a report must never raise from a destructor
            pass
        warnings.warn(
            f"{type(self).__name__} destroyed with {_alloc.n_blocks(self.common)} live "
            f"block(s) holding {self.common.st.bytes_in_use} bytes (leaked){detail}",
            ResourceWarning, stacklevel=2)
        return 0

    def __repr__(self):
        st = self.stats
        return (f"<segpy.{type(self).__name__} in_use={st['bytes_in_use']} "
                f"mapped={st['bytes_mapped']} max_bytes={st['max_bytes']}>")


cdef class SystemAllocator(Allocator):
    """SystemAllocator(max_bytes=None)
--

The system allocator: libc for small segments, mmap for large ones.

    Segments of 64 KiB or more are mapped directly from the OS, so a reserved
    but untouched segment costs no resident memory, and a released one goes
    straight back to the OS.  Mappings of 2 MiB or more are aligned and
    advised for transparent huge pages.  Smaller segments come from
    ``posix_memalign``.

    Parameters
    ----------
    max_bytes : int, optional
        Upper bound on the bytes in use at once (0 allows nothing); a
        request beyond it fails and the list being grown raises
        MemoryError, unchanged.  ``None`` (the default) means unbounded.

    Raises
    ------
    TypeError
        If `max_bytes` is not an int or None.
    ValueError
        If `max_bytes` is negative.

    Examples
    --------
    >>> import segpy
    >>> a = segpy.SystemAllocator(max_bytes=1 << 20)
    >>> lst = segpy.SegmentedList("q", range(10), allocator=a)
    >>> a.stats["bytes_in_use"] > 0
    True
    """

    def __cinit__(self, *args, **kwargs):
        max_bytes, = _bind_args("SystemAllocator", args, kwargs, ("max_bytes",), 1, (None,))
        self._own(segpy_system_create(parse_size(max_bytes, "max_bytes", SIZE_MAX)))

    def _release_raw(self, *args, **kwargs):
        """Not offered: libc's ``free`` cannot tell a foreign pointer from its
        own, so this hook could not keep its promise never to crash."""
        raise TypeError("a SystemAllocator has no raw test hooks: libc cannot "
                        "detect a foreign pointer")

    _request_raw = _release_raw


cdef class Block:
    """Block()
--

A raw block of memory from an allocator.

    Made by :meth:`Allocator.allocate`.  It exposes its bytes through the
    buffer protocol (writable, format ``'B'``), so ``memoryview(block)`` and
    ``np.frombuffer(block, dtype)`` view it without a copy.  It keeps its
    allocator alive, and dropping the last reference releases it.

    Once released, every use raises ValueError; the freed memory is never
    touched.  A block cannot be released while views of it exist
    (BufferError), so no view can outlive its memory.

    See Also
    --------
    Allocator.allocate, Allocator.release, Allocator.grow

    Examples
    --------
    >>> import numpy as np, segpy
    >>> block = segpy.Heap().allocate(32, align=16)
    >>> block.nbytes, block.align, block.address % 16
    (32, 16, 0)
    >>> np.frombuffer(block, dtype=np.int64).shape
    (4,)
    >>> block.release()
    >>> block.released
    True
    """
    cdef Allocator owner       # None once released
    cdef char* ptr
    cdef size_t size
    cdef size_t alignment
    cdef Py_ssize_t exports    # live buffer exports (memoryviews, ndarrays)
    cdef Py_ssize_t shape[1]
    cdef Py_ssize_t strides[1]

    def __cinit__(self, *args, **kwargs):
        _bind_args("Block", args, kwargs, (), 0, ())
        self.owner = None

    @property
    def nbytes(self):
        """int : Size in bytes."""
        return self.size

    @property
    def align(self):
        """int : The alignment it was allocated with."""
        return self.alignment

    @property
    def address(self):
        """int : Address of the first byte (for ctypes and C interop).

        Raises
        ------
        ValueError
            If the block was released.
        """
        self._live()
        return <size_t>self.ptr

    @property
    def released(self):
        """bool : Whether the block was given back."""
        return self.owner is None

    @property
    def allocator(self):
        """Allocator or None : The allocator it came from; None once released."""
        return self.owner

    def __len__(self):
        self._live()
        return self.size

    cdef int _live(self) except -1:
        if self.owner is None:
            raise ValueError("the block was released")
        return 0

    def release(self):
        """Give the block back to its allocator.

        Raises
        ------
        ValueError
            If it was already released.
        BufferError
            If views of it still exist; release them first.
        AllocatorError
            If its allocator detects damage (debug mode: overwritten guard
            bytes); the block then stays unreleased.
        """
        self._live()
        if self.exports:
            raise BufferError(
                f"cannot release a block while {self.exports} view(s) of it exist")
        cdef Allocator a = self.owner
        cdef int rc = a.iface.release(a.iface.ctx, self.ptr, self.size)
        if rc != 0:
            raise_misuse(a, rc)
        self.owner = None
        self.ptr = NULL

    def __getbuffer__(self, Py_buffer* view, int flags):
        self._live()
        self.shape[0] = <Py_ssize_t>self.size
        self.strides[0] = 1
        view.buf = self.ptr
        view.obj = self
        view.len = <Py_ssize_t>self.size
        view.readonly = 0
        view.itemsize = 1
        view.format = "B"
        view.ndim = 1
        view.shape = self.shape
        view.strides = self.strides
        view.suboffsets = NULL
        view.internal = NULL
        self.exports += 1

    def __releasebuffer__(self, Py_buffer* view):
        self.exports -= 1

    def __dealloc__(self):
        # Dropping the last reference gives the memory back.  No view can
        # exist here: each holds a reference to the block.  A misuse code is
        # ignored: there is no one to raise it to (debug mode's check() and
        # leak report still see the allocator's state).
        cdef Allocator a = self.owner
        if a is not None and self.ptr != NULL:
            a.iface.release(a.iface.ctx, self.ptr, self.size)

    def __repr__(self):
        if self.owner is None:
            return f"<segpy.Block released nbytes={self.size}>"
        return (f"<segpy.Block nbytes={self.size} align={self.alignment} "
                f"address={<size_t>self.ptr:#x} allocator={type(self.owner).__name__}>")


allocator_register_type(SystemAllocator)


# ---------------------------------------------------------------------------
# The default allocator and the context that overrides it.
# ---------------------------------------------------------------------------

# Per thread / asyncio task: contextvars give each thread its own context and
# copy the creating context into each task, so one task's override never
# leaks into another's.
# A C global, not a module attribute: every construction reads it.
cdef object _current_allocator = contextvars.ContextVar("segpy.allocator", default=None)

cdef Allocator _process_default = None


def _set_default(Allocator a not None):
    """Replace the process-wide default (used once by ``segpy/__init__.py``)."""
    global _process_default
    _process_default = a


cdef Allocator current_allocator():
    """The allocator new lists use: the context's, else the process default."""
    global _process_default
    # PyContextVar_Get, not the .get method: every construction asks.
    a = get_value(_current_allocator)
    if a is not None:
        return <Allocator>a
    if _process_default is None:
        _process_default = SystemAllocator()
    return _process_default


def get_allocator():
    """Return the allocator that new lists use when none is given.

    Returns
    -------
    Allocator
        The one set by the innermost active :func:`segpy.allocator` block of
        the current thread or task, else the process-wide default.

    Examples
    --------
    >>> import segpy
    >>> isinstance(segpy.get_allocator(), segpy.Allocator)
    True
    """
    return current_allocator()


class allocator:
    """Context manager: make `a` the default allocator of lists created inside.

    Based on :mod:`contextvars`, so the override is seen only by the current
    thread or asyncio task (and tasks it creates afterwards); blocks nest.

    Parameters
    ----------
    a : Allocator
        The allocator to use.

    Raises
    ------
    TypeError
        If `a` is not an Allocator.

    Examples
    --------
    >>> import segpy
    >>> arena = segpy.SystemAllocator()
    >>> with segpy.allocator(arena):
    ...     lst = segpy.SegmentedList("q", range(5))
    >>> lst.allocator is arena
    True
    """

    def __init__(self, *args, **kwargs):
        a, = _bind_args("allocator", args, kwargs, ("a",), 1, (_REQUIRED,))
        if not isinstance(a, Allocator):
            raise TypeError(f"segpy.allocator() needs an Allocator, got {type(a).__name__}")
        if a.name == "file":
            # A file allocator holds exactly one list's segments, laid end to
            # end in its file (segpy/_file.pxd); it cannot serve new lists.
            raise TypeError("a FileAllocator belongs to the one list SegmentedList.open made; "
                            "it cannot be the default allocator")
        self._allocator = a
        self._tokens = []

    def __enter__(self):
        self._tokens.append(_current_allocator.set(self._allocator))
        return self._allocator

    def __exit__(self, *exc):
        _current_allocator.reset(self._tokens.pop())
        return False


# The Python classes' signatures, for inspect.signature(): allocator binds its
# arguments by hand (so that errors name it), and AllocatorError's would
# otherwise come from RuntimeError, which has none.
allocator.__signature__ = inspect.Signature(
    [inspect.Parameter("a", inspect.Parameter.POSITIONAL_OR_KEYWORD)])
AllocatorError.__signature__ = inspect.Signature(
    [inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL)])
