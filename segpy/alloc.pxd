# cython: language_level=3
"""The allocator seam: the one C interface every segment is requested through.

A list never calls malloc or mmap itself.  It holds a ``segpy_allocator_t*``
and asks ``request`` for each new segment and ``release`` to give one back.
Every allocator (system, bump arena, heap, fixed buffer) is a context pointer
plus these function pointers, in the manner of numpy.random's ``bitgen_t``,
so C and Cython code can drive one without the GIL and without knowing which
allocator it is.

Contract of the function pointers (all ``noexcept nogil``):

* ``request(ctx, nbytes, align)`` returns ``align``-aligned memory of at least
  ``nbytes`` bytes, uninitialised, or NULL on failure (limit hit, the OS
  refused, bad alignment).  ``align`` is a power of two no larger than the
  page size.  The allocator sets no Python exception; it records the cause
  in its ``segpy_alloc_common_t`` and the caller raises.
* ``release(ctx, ptr, nbytes)`` gives back memory obtained from ``request`` of
  the *same* allocator with the *same* ``nbytes``.  Returns 0, or a negative
  ``SEGPY_A*`` code if the allocator detected a misuse (double release,
  foreign pointer, damaged guard bytes); it then leaves the memory alone and
  describes the problem in ``common.message``.
* ``stats(ctx, out)`` fills ``out``; returns 0.

Thread model: an allocator is not locked.  Callers must serialise calls on
one allocator; Python-level users get that from the GIL, and C code that
drops the GIL must hold its own lock around every call on a shared allocator.
"""

from libc.stdint cimport SIZE_MAX
from libc.stdint cimport uint64_t


cdef extern from "segpy_os.h":
    size_t segpy_page_size() noexcept nogil
    void* segpy_os_map(size_t nbytes) noexcept nogil
    int segpy_os_unmap(void* p, size_t nbytes) noexcept nogil
    int segpy_os_hugepage(void* p, size_t nbytes) noexcept nogil
    int segpy_os_discard(void* p, size_t nbytes) noexcept nogil
    void* segpy_aligned_malloc(size_t nbytes, size_t align) noexcept nogil
    int segpy_errno() noexcept nogil


ctypedef struct segpy_alloc_stats_t:
    size_t bytes_in_use        # sum of nbytes of live requests
    size_t bytes_mapped        # bytes currently held from the OS (or the buffer's size)
    size_t peak_bytes_in_use   # high-water mark of bytes_in_use
    size_t max_bytes           # the allocator's bound (see its docs); SIZE_MAX = unbounded
    size_t overhead_bytes      # bytes_mapped - bytes_in_use (headers, padding, free space)
    size_t header_bytes        # of which block headers and guard bytes
    size_t cached_bytes        # of which empty regions kept for reuse instead of unmapped
    size_t n_regions           # OS mappings (regions, arena blocks) currently held
    size_t n_blocks            # live blocks: n_alloc - n_release (set by the stats
                               # functions; not maintained in common.st, see below)
    uint64_t n_alloc           # successful requests
    uint64_t n_release         # successful releases
    uint64_t n_os_calls        # calls into the OS or libc that map or free memory
    uint64_t n_os_failures     # such calls that failed (or were made to fail)
    uint64_t n_limit_failures  # requests refused because of max_bytes

ctypedef void* (*segpy_request_fn)(void* ctx, size_t nbytes, size_t align) noexcept nogil
ctypedef int (*segpy_release_fn)(void* ctx, void* ptr, size_t nbytes) noexcept nogil
ctypedef int (*segpy_stats_fn)(void* ctx, segpy_alloc_stats_t* out) noexcept nogil

ctypedef struct segpy_allocator_t:
    void* ctx
    segpy_request_fn request
    segpy_release_fn release
    segpy_stats_fn stats
    const char* name


# Error codes of the allocator family.  0 is success.
cdef enum:
    SEGPY_AOK = 0
    SEGPY_ALIMIT = -10     # max_bytes would be exceeded
    SEGPY_AOS = -11        # the OS refused (or a test made it refuse)
    SEGPY_AINVAL = -12     # bad size or alignment
    SEGPY_ADOUBLE = -13    # release of a block that is already free
    SEGPY_AFOREIGN = -14   # release of an address this allocator never handed out
    SEGPY_ACORRUPT = -15   # a header or guard byte was overwritten
    SEGPY_ABUSY = -16      # reset / rewind / destroy while blocks are live in the range
    SEGPY_ADEBUG_FILL_ALLOC = 0xCD   # debug mode: fresh blocks are filled with this
    SEGPY_ADEBUG_FILL_FREE = 0xDD    # debug mode: released blocks are filled with this
    SEGPY_ADEBUG_GUARD = 0xFD        # debug mode: guard bytes around every block
    SEGPY_ADEBUG_GUARD_BYTES = 16    # debug mode: guard bytes on each side of a block

# State every allocator of the family starts with.  The Python base class
# reads it for stats, limits, failure injection and error messages, so the
# allocators only have to keep it current.
ctypedef struct segpy_alloc_common_t:
    segpy_alloc_stats_t st
    long fail_countdown        # test hook: > 0 counts OS calls down; the one reaching 0 fails
    int debug                  # nonzero: guards, fill patterns, misuse detection, leak report
    int last_error             # SEGPY_A* code of the last failure
    size_t failed_bytes        # request size of the last failure
    int os_errno               # errno of the last failed OS call (0 for an injected failure)
    char message[256]          # human-readable detail of the last misuse (names the block)


cdef int segpy_common_init(segpy_alloc_common_t* c, size_t max_bytes, int debug) noexcept nogil
cdef int segpy_common_fail(segpy_alloc_common_t* c, int code, size_t nbytes) noexcept nogil
cdef bint segpy_common_limit_ok(segpy_alloc_common_t* c, size_t more_bytes,
                                size_t request) noexcept nogil
cdef void* segpy_common_map(segpy_alloc_common_t* c, size_t nbytes, size_t request) noexcept nogil
cdef int segpy_common_unmap(segpy_alloc_common_t* c, void* p, size_t nbytes) noexcept nogil


cdef inline size_t segpy_round_up(size_t n, size_t to) noexcept nogil:
    # Invariant: `to` is a power of two.
    return (n + to - 1) & ~(to - 1)


# The live-block count is not kept in common.st: it is n_alloc - n_release,
# filled in by segpy_common_stats_out.  Keeping it costs one more
# read-modify-write per request and release, and worse: the compiler merges
# the adjacent "n_alloc += 1; n_blocks += 1" into one 16-byte add, whose
# load cannot be forwarded from the 8-byte store of the release just
# before it, so every request after a release stalled until that store
# reached the cache (a Heap LIFO alloc/free pair: 8.2 ns -> 5.8 ns).

cdef inline void segpy_common_note_alloc(segpy_alloc_common_t* c, size_t nbytes) noexcept nogil:
    c.st.n_alloc += 1
    c.st.bytes_in_use += nbytes
    if c.st.bytes_in_use > c.st.peak_bytes_in_use:
        c.st.peak_bytes_in_use = c.st.bytes_in_use


cdef inline void segpy_common_note_release(segpy_alloc_common_t* c, size_t nbytes) noexcept nogil:
    c.st.n_release += 1
    c.st.bytes_in_use -= nbytes


cdef inline size_t segpy_common_n_blocks(const segpy_alloc_common_t* c) noexcept nogil:
    """Live blocks: requests not yet released."""
    return <size_t>(c.st.n_alloc - c.st.n_release)


cdef inline void segpy_common_stats_out(const segpy_alloc_common_t* c,
                                        segpy_alloc_stats_t* out) noexcept nogil:
    """Copy the counters to ``out``, with ``n_blocks`` derived (see above)."""
    out[0] = c.st
    out.n_blocks = segpy_common_n_blocks(c)


# The system allocator: small requests from libc's aligned allocation, large
# ones mapped directly from the OS so untouched pages cost no resident memory
# and a released segment goes straight back to the OS.
ctypedef struct sysalloc_t:
    segpy_alloc_common_t common
    size_t map_threshold       # requests >= this many bytes are mmap'd
    size_t huge_threshold      # mappings >= this are aligned and madvise'd for THP


cdef int sysalloc_init(sysalloc_t* a, size_t max_bytes) noexcept nogil
cdef void* sysalloc_request(void* ctx, size_t nbytes, size_t align) noexcept nogil
cdef int sysalloc_release(void* ctx, void* ptr, size_t nbytes) noexcept nogil
cdef int sysalloc_stats(void* ctx, segpy_alloc_stats_t* out) noexcept nogil


cdef class Allocator:
    """Base of every allocator: owns a ``segpy_allocator_t`` interface.

    A subclass's ``__cinit__`` fills ``iface`` and points ``common`` at the
    ``segpy_alloc_common_t`` that heads its state.
    """
    cdef segpy_allocator_t iface
    cdef segpy_alloc_common_t* common
    cdef object __weakref__

    # Hooks for subclasses (the base versions are in alloc.pyx).
    cdef int _check(self) except -1       # walk every header; raise AllocatorError
    cdef object _blocks(self)             # structured ndarray of blocks, or None
    cdef object _regions(self)            # structured ndarray of regions, or None
    cdef int _report_leaks(self) except -1   # call first thing in a subclass __dealloc__


cdef class SystemAllocator(Allocator):
    cdef sysalloc_t state


cdef class Block:
    """A raw block of memory from an allocator, exposed through the buffer protocol."""
    cdef Allocator owner       # None once released
    cdef char* ptr
    cdef size_t size
    cdef size_t alignment
    cdef Py_ssize_t exports    # live buffer exports (memoryviews, ndarrays)
    cdef Py_ssize_t shape[1]
    cdef Py_ssize_t strides[1]

    cdef int _live(self) except -1


cdef size_t parse_max_bytes(object max_bytes) except? 0
cdef int allocator_register_type(type t) except -1
cdef int segpy_seal_new(type t, const char* how) except -1
cdef int raise_alloc_error(Allocator a, size_t nbytes, str what) except -1
cdef int raise_misuse(Allocator a, int code) except -1
cdef Allocator current_allocator()


# -- C-level API (issue 5): drive a system allocator from C ------------------

cdef inline int sysalloc_as_allocator(sysalloc_t* a, segpy_allocator_t* out) noexcept nogil:
    """Fill ``out`` with the interface of the system allocator ``a``.

    ``a`` must have been set up by ``sysalloc_init`` and must outlive every
    list built on ``out``; it holds no resources of its own (each block goes
    back to libc or the OS on release).  No GIL needed; returns 0.
    """
    out.ctx = a
    out.request = sysalloc_request
    out.release = sysalloc_release
    out.stats = sysalloc_stats
    out.name = "system"
    return 0
