# cython: language_level=3
"""The allocator seam: the one C interface every segment is requested through.

A list never calls malloc or mmap itself.  It holds a ``segpy_allocator_t*``
and asks ``request`` for each new segment and ``release`` to give one back.
Any allocator (the system allocator here; the arena, heap and fixed-buffer
allocators later) is a context pointer plus these function pointers, in the
manner of numpy.random's ``bitgen_t``, so C and Cython code can drive one
without the GIL and without knowing which allocator it is.

Contract of the function pointers (all ``noexcept nogil``):

* ``request(ctx, nbytes, align)`` returns ``align``-aligned memory of at least
  ``nbytes`` bytes, uninitialised, or NULL on failure (limit hit or the OS
  refused).  ``align`` is a power of two no larger than the page size.
  The allocator does not set a Python exception; the caller raises.
* ``release(ctx, ptr, nbytes)`` gives back memory obtained from ``request`` of
  the *same* allocator with the *same* ``nbytes``.  Returns 0, or -1 if the
  allocator detected a misuse (it then leaves the memory alone).
* ``stats(ctx, out)`` fills ``out``; returns 0.

Thread model: a ``segpy_allocator_t`` is not locked.  Callers must serialise
calls on one allocator; Python-level users get that from the GIL.
"""

from libc.stdint cimport uint64_t


ctypedef struct segpy_alloc_stats_t:
    size_t bytes_in_use        # sum of nbytes of live requests
    size_t bytes_mapped        # bytes currently held from the OS
    size_t peak_bytes_in_use   # high-water mark of bytes_in_use
    size_t max_bytes           # limit on bytes_in_use; SIZE_MAX = unbounded
    size_t overhead_bytes      # bytes_mapped - bytes_in_use (padding, rounding)
    uint64_t n_alloc           # successful requests
    uint64_t n_release         # releases
    uint64_t n_os_calls        # calls into the OS or libc that map or free memory
    uint64_t n_os_failures     # such calls that failed
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


# The system allocator: small requests from libc's aligned allocation, large
# ones mapped directly from the OS so untouched pages cost no resident memory
# and a released segment goes straight back to the OS.
ctypedef struct sysalloc_t:
    segpy_alloc_stats_t st
    size_t map_threshold       # requests >= this many bytes are mmap'd
    size_t huge_threshold      # mappings >= this are aligned and madvise'd for THP
    long fail_countdown        # test hook: > 0 counts down, the call that hits 0 fails


cdef int sysalloc_init(sysalloc_t* a, size_t max_bytes) noexcept nogil
cdef void* sysalloc_request(void* ctx, size_t nbytes, size_t align) noexcept nogil
cdef int sysalloc_release(void* ctx, void* ptr, size_t nbytes) noexcept nogil
cdef int sysalloc_stats(void* ctx, segpy_alloc_stats_t* out) noexcept nogil


cdef class Allocator:
    """Base of every allocator: owns a ``segpy_allocator_t`` interface."""
    cdef segpy_allocator_t iface
    cdef object __weakref__


cdef class SystemAllocator(Allocator):
    cdef sysalloc_t state
