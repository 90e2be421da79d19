# cython: language_level=3
"""Allocators behind segpy's allocator seam (see ``alloc.pxd`` for the contract)."""

import operator

from libc.stdint cimport SIZE_MAX
from libc.stdint cimport uint64_t
from libc.stdlib cimport free
from libc.string cimport memset


cdef extern from *:
    """
    #include <stdlib.h>
    #include <stdint.h>
    #include <sys/mman.h>
    #include <unistd.h>

    /* Page size, asked of the OS once. */
    static size_t segpy_page_size(void) {
        static size_t page = 0;
        if (page == 0) {
            long p = sysconf(_SC_PAGESIZE);
            page = p > 0 ? (size_t)p : 4096;
        }
        return page;
    }

    /* Map nbytes (a page multiple) of private anonymous memory; NULL on failure. */
    static void *segpy_os_map(size_t nbytes) {
        void *p = mmap(NULL, nbytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? NULL : p;
    }

    static int segpy_os_unmap(void *p, size_t nbytes) {
        return munmap(p, nbytes);
    }

    /* Ask for transparent huge pages on [p, p+nbytes); failure is harmless
       (THP disabled, old kernel), so the result is ignored by callers. */
    static int segpy_os_hugepage(void *p, size_t nbytes) {
    #ifdef MADV_HUGEPAGE
        return madvise(p, nbytes, MADV_HUGEPAGE);
    #else
        (void)p; (void)nbytes; return -1;
    #endif
    }

    static void *segpy_aligned_malloc(size_t nbytes, size_t align) {
        void *p = NULL;
        if (align < sizeof(void *)) align = sizeof(void *);
        if (posix_memalign(&p, align, nbytes ? nbytes : 1) != 0) return NULL;
        return p;
    }
    """
    size_t segpy_page_size() noexcept nogil
    void* segpy_os_map(size_t nbytes) noexcept nogil
    int segpy_os_unmap(void* p, size_t nbytes) noexcept nogil
    int segpy_os_hugepage(void* p, size_t nbytes) noexcept nogil
    void* segpy_aligned_malloc(size_t nbytes, size_t align) noexcept nogil


# Requests from 64 KiB up are mapped directly: below that, libc's heap is
# cheaper per call; above it, a mapping costs no resident memory until its
# pages are touched, which is what keeps a growing list's peak RSS at its
# payload.  From 2 MiB up the mapping is 2 MiB-aligned and madvise'd for
# transparent huge pages, which makes first-touch page faults far cheaper.
cdef enum:
    _MAP_THRESHOLD = 64 * 1024
    _HUGE_THRESHOLD = 2 * 1024 * 1024


cdef inline size_t _round_up(size_t n, size_t to) noexcept nogil:
    # Invariant: `to` is a power of two.
    return (n + to - 1) & ~(to - 1)


cdef inline object _limit_or_none(size_t max_bytes):
    # SIZE_MAX is "unbounded" in C; Python sees None.
    return None if max_bytes == SIZE_MAX else max_bytes


cdef inline bint _injected_failure(sysalloc_t* a) noexcept nogil:
    if a.fail_countdown > 0:
        a.fail_countdown -= 1
        if a.fail_countdown == 0:
            return True
    return False


cdef int sysalloc_init(sysalloc_t* a, size_t max_bytes) noexcept nogil:
    """Initialise a system allocator state; ``max_bytes`` SIZE_MAX means unbounded.

    No GIL needed; cannot fail (returns 0)."""
    memset(a, 0, sizeof(sysalloc_t))
    a.st.max_bytes = max_bytes
    a.map_threshold = _MAP_THRESHOLD
    a.huge_threshold = _HUGE_THRESHOLD
    return 0


cdef inline size_t _mapped_size(sysalloc_t* a, size_t nbytes) noexcept nogil:
    # What a request of nbytes actually holds from the OS; release recomputes
    # it from the same nbytes, which is why release must be given the size.
    if nbytes >= a.map_threshold:
        return _round_up(nbytes, segpy_page_size())
    return nbytes


cdef void* _map_huge(size_t size) noexcept nogil:
    # Over-map by one huge page, then trim head and tail so that the kept
    # range starts on a 2 MiB boundary: THP can only back aligned 2 MiB runs.
    cdef size_t span = size + _HUGE_THRESHOLD
    cdef char* raw = <char*>segpy_os_map(span)
    cdef char* start
    cdef size_t head, tail
    if raw == NULL:
        return NULL
    start = <char*>_round_up(<size_t>raw, _HUGE_THRESHOLD)
    head = <size_t>(start - raw)
    tail = span - head - size
    if head:
        segpy_os_unmap(raw, head)
    if tail:
        segpy_os_unmap(start + size, tail)
    segpy_os_hugepage(start, size)
    return start


cdef void* sysalloc_request(void* ctx, size_t nbytes, size_t align) noexcept nogil:
    """Return ``align``-aligned memory of ``nbytes`` bytes, or NULL.

    No GIL needed.  Fails (NULL) when ``max_bytes`` would be exceeded, when the
    OS refuses, or when a failure was injected; each is counted in the stats.
    The memory is not zero-filled by us (mapped pages happen to be zero).
    """
    cdef sysalloc_t* a = <sysalloc_t*>ctx
    cdef size_t size = _mapped_size(a, nbytes)
    cdef void* p
    if nbytes > a.st.max_bytes - a.st.bytes_in_use:
        a.st.n_limit_failures += 1
        return NULL
    a.st.n_os_calls += 1
    if _injected_failure(a):
        a.st.n_os_failures += 1
        return NULL
    if nbytes >= a.map_threshold:
        # mmap is page-aligned, and align never exceeds a page by contract.
        if size >= a.huge_threshold:
            p = _map_huge(size)
        else:
            p = segpy_os_map(size)
    else:
        p = segpy_aligned_malloc(nbytes, align)
    if p == NULL:
        a.st.n_os_failures += 1
        return NULL
    a.st.n_alloc += 1
    a.st.bytes_in_use += nbytes
    a.st.bytes_mapped += size
    if a.st.bytes_in_use > a.st.peak_bytes_in_use:
        a.st.peak_bytes_in_use = a.st.bytes_in_use
    return p


cdef int sysalloc_release(void* ctx, void* ptr, size_t nbytes) noexcept nogil:
    """Give back memory from :c:func:`sysalloc_request` of this allocator.

    No GIL needed.  Safety: ``nbytes`` must be the size that was requested,
    because it decides whether the memory was mapped or malloc'd.  Returns 0,
    or -1 if the OS refused to unmap (counted; the memory then stays mapped).
    """
    cdef sysalloc_t* a = <sysalloc_t*>ctx
    cdef size_t size = _mapped_size(a, nbytes)
    if ptr == NULL:
        return 0
    a.st.n_os_calls += 1
    if nbytes >= a.map_threshold:
        if segpy_os_unmap(ptr, size) != 0:
            a.st.n_os_failures += 1
            return -1
    else:
        free(ptr)
    a.st.n_release += 1
    a.st.bytes_in_use -= nbytes
    a.st.bytes_mapped -= size
    return 0


cdef int sysalloc_stats(void* ctx, segpy_alloc_stats_t* out) noexcept nogil:
    """Copy the counters into ``out``.  No GIL needed; returns 0."""
    cdef sysalloc_t* a = <sysalloc_t*>ctx
    out[0] = a.st
    out.overhead_bytes = a.st.bytes_mapped - a.st.bytes_in_use
    return 0


cdef class Allocator:
    """Base class of segpy's allocators.

    An allocator hands out the memory of a list's segments through segpy's C
    allocator interface.  Lists keep their allocator alive, and every segment
    is released to the allocator that made it.  This base class cannot be
    instantiated; use a concrete allocator such as :class:`SystemAllocator`.

    See Also
    --------
    SystemAllocator : the default allocator.
    """

    def __cinit__(self, *args, **kwargs):
        if type(self) is Allocator:
            raise TypeError("Allocator is an abstract base class; use SystemAllocator")

    @property
    def name(self):
        """str : The allocator's kind, as C code sees it in ``iface.name``."""
        return (<bytes>self.iface.name).decode("ascii")

    @property
    def stats(self):
        """dict : A snapshot of the allocator's counters.

        Keys: ``bytes_in_use`` (sum of live request sizes), ``bytes_mapped``
        (bytes held from the OS), ``peak_bytes_in_use``, ``max_bytes`` (0 =
        unlimited), ``overhead_bytes`` (held but not requested: page rounding,
        padding; None = unbounded), ``n_alloc``, ``n_release``, ``n_os_calls``,
        ``n_os_failures`` and ``n_limit_failures``.
        """
        cdef segpy_alloc_stats_t st
        self.iface.stats(self.iface.ctx, &st)
        return {
            "bytes_in_use": st.bytes_in_use,
            "bytes_mapped": st.bytes_mapped,
            "peak_bytes_in_use": st.peak_bytes_in_use,
            "max_bytes": _limit_or_none(st.max_bytes),
            "overhead_bytes": st.overhead_bytes,
            "n_alloc": st.n_alloc,
            "n_release": st.n_release,
            "n_os_calls": st.n_os_calls,
            "n_os_failures": st.n_os_failures,
            "n_limit_failures": st.n_limit_failures,
        }

    def __repr__(self):
        st = self.stats
        return (f"<segpy.{type(self).__name__} in_use={st['bytes_in_use']} "
                f"mapped={st['bytes_mapped']} max_bytes={st['max_bytes']}>")


cdef class SystemAllocator(Allocator):
    """The system allocator: libc for small segments, mmap for large ones.

    Segments of 64 KiB or more are mapped directly from the OS, so a reserved
    but untouched segment costs no resident memory, and a released one goes
    straight back to the OS.  Mappings of 2 MiB or more are aligned and
    advised for transparent huge pages.  Smaller segments come from
    ``posix_memalign``.

    Parameters
    ----------
    max_bytes : int, optional
        Upper bound on the bytes in use at once (0 allows nothing); a
        request beyond it fails
        and the list being grown raises MemoryError, unchanged.  ``None``
        (the default) means unbounded.

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

    def __cinit__(self, max_bytes=None):
        cdef size_t limit = SIZE_MAX
        if max_bytes is not None:
            max_bytes = operator.index(max_bytes)  # TypeError for floats, str ...
            if max_bytes < 0:
                raise ValueError(f"max_bytes must be non-negative, got {max_bytes}")
            limit = max_bytes
        sysalloc_init(&self.state, limit)
        self.iface.ctx = &self.state
        self.iface.request = sysalloc_request
        self.iface.release = sysalloc_release
        self.iface.stats = sysalloc_stats
        self.iface.name = "system"

    @property
    def max_bytes(self):
        """int or None : The bound on bytes in use, or None if unbounded."""
        return _limit_or_none(self.state.st.max_bytes)

    def inject_failure(self, Py_ssize_t after=0):
        """Make a future request fail as if the OS had refused it (a test hook).

        Parameters
        ----------
        after : int, default 0
            How many requests succeed first; the next one fails.  Only one
            failure is armed at a time; calling again re-arms it.

        Raises
        ------
        ValueError
            If `after` is negative.
        """
        if after < 0:
            raise ValueError(f"after must be non-negative, got {after}")
        self.state.fail_countdown = after + 1


# The process-wide default: a SystemAllocator.  (The allocator issue adds the
# arena and heap family and a context-variable override of this default.)
cdef SystemAllocator _default_allocator = SystemAllocator()


def get_allocator():
    """Return the allocator that new lists use when none is given.

    Returns
    -------
    Allocator
        The process-wide default, a :class:`SystemAllocator`.

    Examples
    --------
    >>> import segpy
    >>> segpy.get_allocator().name
    'system'
    """
    return _default_allocator
