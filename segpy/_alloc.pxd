# cython: language_level=3
"""What segpy's allocator modules share in C: private, never cimported by consumers.

The common state (``segpy_alloc_common_t``, declared in ``alloc.pxd``) heads
every allocator's state struct; these inline helpers keep it current, so
each allocator writes its accounting, its failures and its OS calls the same
way.  All are ``noexcept nogil``.  See "Writing an allocator" in
docs/allocators.md for how an allocator module uses them.
"""

from libc.stdio cimport snprintf
from libc.string cimport memset

from segpy._os cimport segpy_errno
from segpy._os cimport segpy_os_hugepage
from segpy._os cimport segpy_os_map
from segpy._os cimport segpy_os_unmap
from segpy.alloc cimport SEGPY_AOS
from segpy.alloc cimport SEGPY_ALIMIT
from segpy.alloc cimport segpy_alloc_common_t
from segpy.alloc cimport segpy_alloc_stats_t
from segpy.alloc cimport segpy_allocator_t
from segpy.alloc cimport segpy_destroy_fn
from segpy.alloc cimport segpy_grow_fn
from segpy.alloc cimport segpy_release_fn
from segpy.alloc cimport segpy_request_fn
from segpy.alloc cimport segpy_stats_fn


cdef enum:
    DEBUG_FILL_ALLOC = 0xCD   # debug mode: fresh blocks are filled with this
    DEBUG_FILL_FREE = 0xDD    # debug mode: released blocks are filled with this
    DEBUG_GUARD = 0xFD        # debug mode: guard bytes around every block
    DEBUG_GUARD_BYTES = 16    # debug mode: guard bytes on each side of a block
    # Mappings from 2 MiB up are 2 MiB-aligned and advised for transparent
    # huge pages, which makes first-touch page faults far cheaper.
    HUGE_THRESHOLD = 2 * 1024 * 1024


cdef inline size_t round_up(size_t n, size_t to) noexcept nogil:
    # Invariant: `to` is a power of two.
    return (n + to - 1) & ~(to - 1)


# ---------------------------------------------------------------------------
# Life cycle: the common state, and the interface that points at it.
# ---------------------------------------------------------------------------

cdef inline int common_init(segpy_alloc_common_t* c, size_t max_bytes,
                            int debug) noexcept nogil:
    """Zero ``c`` and set its limit and debug flag; returns 0."""
    memset(c, 0, sizeof(segpy_alloc_common_t))
    c.st.max_bytes = max_bytes
    c.debug = debug
    return 0


cdef inline segpy_allocator_t* wire(
        segpy_alloc_common_t* c, const char* name, segpy_request_fn request,
        segpy_release_fn release, segpy_stats_fn stats, segpy_grow_fn grow,
        segpy_destroy_fn destroy) noexcept nogil:
    """Fill the interface that heads ``c`` (``ctx`` is ``c`` itself, which
    heads the allocator's state) and return it: the handle a
    ``segpy_*_create`` function gives its caller.  ``grow`` may be NULL
    (the allocator never grows a block in place).  ``store`` is NULL here
    (appends are plain memcpy); an allocator with its own sets it after."""
    c.iface.ctx = c
    c.iface.request = request
    c.iface.release = release
    c.iface.stats = stats
    c.iface.name = name
    c.iface.grow = grow
    c.iface.destroy = destroy
    c.iface.store = NULL
    return &c.iface


# ---------------------------------------------------------------------------
# Recording failures and misuse.
# ---------------------------------------------------------------------------

cdef inline int fail(segpy_alloc_common_t* c, int code, size_t nbytes) noexcept nogil:
    """Record a failed request (code, size); returns ``code``."""
    c.last_error = code
    c.failed_bytes = nbytes
    if code == SEGPY_ALIMIT:
        c.st.n_limit_failures += 1
    return code


cdef inline int misuse(segpy_alloc_common_t* c, int code, const char* where,
                       Py_ssize_t index, size_t off, size_t nbytes,
                       const char* what) noexcept nogil:
    """Record a misuse or damage ``code`` and return it.

    With ``where`` (the allocator's unit: "region", "arena block",
    "header"), ``common.message`` becomes "<where> <index> offset <off>
    size <nbytes>: <what>", the form every allocator's errors share and
    Python's error messages quote.  With ``where`` NULL the caller has
    written the message itself.
    """
    if where != NULL:
        snprintf(c.message, sizeof(c.message), "%s %zd offset %zu size %zu: %s",
                 where, index, off, nbytes, what)
    c.last_error = code
    return code


# ---------------------------------------------------------------------------
# Accounting.  One place updates the peak: note_grow.
# ---------------------------------------------------------------------------
#
# The live-block count is not kept in common.st: it is n_alloc - n_release,
# filled in by stats_out.  Keeping it costs one more
# read-modify-write per request and release, and worse, a store-forwarding
# stall on every request after a release (measured in docs/alloc-heap.md,
# "Fast paths").

cdef inline void note_grow(segpy_alloc_common_t* c, size_t more) noexcept nogil:
    """``more`` bytes more are in use (a request, or a block grown in place)."""
    c.st.bytes_in_use += more
    if c.st.bytes_in_use > c.st.peak_bytes_in_use:
        c.st.peak_bytes_in_use = c.st.bytes_in_use


cdef inline void note_alloc(segpy_alloc_common_t* c, size_t nbytes) noexcept nogil:
    c.st.n_alloc += 1
    note_grow(c, nbytes)


cdef inline void note_release(segpy_alloc_common_t* c, size_t nbytes) noexcept nogil:
    c.st.n_release += 1
    c.st.bytes_in_use -= nbytes


cdef inline size_t n_blocks(const segpy_alloc_common_t* c) noexcept nogil:
    """Live blocks: requests not yet released."""
    return <size_t>(c.st.n_alloc - c.st.n_release)


cdef inline void stats_out(const segpy_alloc_common_t* c,
                           segpy_alloc_stats_t* out) noexcept nogil:
    """Copy the counters to ``out``, with ``n_blocks`` derived and
    ``overhead_bytes`` the bytes held but not in use; an allocator's stats
    function then adds what only it knows (headers, cached bytes)."""
    out[0] = c.st
    out.n_blocks = n_blocks(c)
    out.overhead_bytes = c.st.bytes_mapped - c.st.bytes_in_use


# ---------------------------------------------------------------------------
# The counted OS layer.
# ---------------------------------------------------------------------------

cdef inline bint limit_ok(segpy_alloc_common_t* c, size_t more_bytes,
                          size_t request) noexcept nogil:
    """Whether ``more_bytes`` more may be taken from the OS under ``max_bytes``.

    ``max_bytes`` bounds ``bytes_mapped`` for the allocators that map memory
    (the system allocator bounds ``bytes_in_use`` instead).  On refusal the
    failure is recorded against ``request``.
    """
    if more_bytes > c.st.max_bytes or c.st.bytes_mapped > c.st.max_bytes - more_bytes:
        fail(c, SEGPY_ALIMIT, request)
        return False
    return True


cdef inline bint injected_failure(segpy_alloc_common_t* c) noexcept nogil:
    """The test hook: whether this OS call is the one ``fail_countdown`` fails."""
    if c.fail_countdown > 0:
        c.fail_countdown -= 1
        if c.fail_countdown == 0:
            return True
    return False


cdef inline void* _map_huge(size_t size) noexcept nogil:
    # Over-map by one huge page, then trim head and tail so that the kept
    # range starts on a 2 MiB boundary: THP can only back aligned 2 MiB runs.
    cdef size_t span = size + HUGE_THRESHOLD
    cdef char* raw = <char*>segpy_os_map(span)
    cdef char* start
    cdef size_t head, tail
    if raw == NULL:
        return NULL
    start = <char*>round_up(<size_t>raw, HUGE_THRESHOLD)
    head = <size_t>(start - raw)
    tail = span - head - size
    if head:
        segpy_os_unmap(raw, head)
    if tail:
        segpy_os_unmap(start + size, tail)
    segpy_os_hugepage(start, size)
    return start


cdef inline void* map_pages(segpy_alloc_common_t* c, size_t nbytes,
                            size_t request) noexcept nogil:
    """Map ``nbytes`` (a page multiple) from the OS, counted; NULL on failure.

    Mappings of 2 MiB or more are 2 MiB-aligned and advised for transparent
    huge pages.  Honours the test hook (``fail_countdown``), counts the call
    and any failure, and adds ``nbytes`` to ``bytes_mapped`` and a region to
    ``n_regions``.  The caller checks the limit first.
    """
    cdef void* p
    c.st.n_os_calls += 1
    if injected_failure(c):
        c.os_errno = 0
        c.st.n_os_failures += 1
        fail(c, SEGPY_AOS, request)
        return NULL
    if nbytes >= HUGE_THRESHOLD:
        p = _map_huge(nbytes)
    else:
        p = segpy_os_map(nbytes)
    if p == NULL:
        c.os_errno = segpy_errno()
        c.st.n_os_failures += 1
        fail(c, SEGPY_AOS, request)
        return NULL
    c.st.bytes_mapped += nbytes
    c.st.n_regions += 1
    return p


cdef inline int unmap_pages(segpy_alloc_common_t* c, void* p, size_t nbytes) noexcept nogil:
    """Unmap a mapping made by ``map_pages``, counted.

    Returns 0, or SEGPY_AOS if the OS refused (counted; the memory stays
    mapped and accounted).
    """
    c.st.n_os_calls += 1
    if segpy_os_unmap(p, nbytes) != 0:
        c.os_errno = segpy_errno()
        c.st.n_os_failures += 1
        return SEGPY_AOS
    c.st.bytes_mapped -= nbytes
    c.st.n_regions -= 1
    return 0
