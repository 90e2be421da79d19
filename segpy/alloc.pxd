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
* ``grow(ctx, ptr, old_nbytes, new_nbytes)`` grows a live block in place,
  ``new_nbytes > old_nbytes``.  Returns 0 (grown), ``SEGPY_ANOROOM`` (cannot
  grow in place) or ``SEGPY_ALIMIT`` (``max_bytes`` forbids): nothing
  changed, not an error; or a negative misuse code as ``release`` does.
  NULL for an allocator that never grows in place.
* ``store(ctx, dst, src, nbytes)`` copies ``nbytes`` bytes from ``src`` to
  ``dst``, a range inside one live block of this allocator, as ``memcpy``
  would, but by the allocator's own means: the file allocator writes large
  runs with ``pwrite`` into the file its blocks map, which skips a page
  fault per page.  Returns 0, or ``SEGPY_AIO`` (``os_errno`` says why; the
  range's bytes are then unspecified) or a misuse code for a range it did
  not hand out.  NULL (the usual case): a store is a plain ``memcpy``.  A
  list calls it only for elements it is appending, which are not yet part
  of the list, so a failed store loses nothing.
* ``destroy(ctx)`` gives everything the allocator holds back (its memory
  and its state); the interface is dangling afterwards.  Call it through
  ``segpy_allocator_destroy``.

``ctx`` points to the allocator's state, which starts with a
``segpy_alloc_common_t`` (whose first member is this interface): counters,
limit, debug flag and the cause of the last failure.

Thread model: an allocator is not locked.  Callers must serialise calls on
one allocator; Python-level users get that from the GIL, and C code that
drops the GIL must hold its own lock around every call on a shared allocator.
"""

from libc.stdint cimport uint64_t


ctypedef struct segpy_alloc_stats_t:
    size_t bytes_in_use        # sum of nbytes of live requests
    size_t bytes_mapped        # bytes currently held from the OS (or the buffer's size)
    size_t peak_bytes_in_use   # high-water mark of bytes_in_use
    size_t max_bytes           # the allocator's bound (see its docs); SIZE_MAX = unbounded
    size_t overhead_bytes      # bytes_mapped - bytes_in_use (headers, padding, free space)
    size_t header_bytes        # of which block headers and guard bytes
    size_t cached_bytes        # of which empty regions kept for reuse instead of unmapped
    size_t n_regions           # OS mappings (regions, arena blocks) currently held
    # live blocks: n_alloc - n_release (set by the stats functions; not
    # maintained in common.st)
    size_t n_blocks
    uint64_t n_alloc           # successful requests
    uint64_t n_release         # successful releases
    uint64_t n_os_calls        # calls into the OS or libc that map or free memory
    uint64_t n_os_failures     # such calls that failed (or were made to fail)
    uint64_t n_limit_failures  # requests refused because of max_bytes

ctypedef void* (*segpy_request_fn)(void* ctx, size_t nbytes, size_t align) noexcept nogil
ctypedef int (*segpy_release_fn)(void* ctx, void* ptr, size_t nbytes) noexcept nogil
ctypedef int (*segpy_stats_fn)(void* ctx, segpy_alloc_stats_t* out) noexcept nogil
ctypedef int (*segpy_grow_fn)(void* ctx, void* ptr, size_t old_nbytes,
                              size_t new_nbytes) noexcept nogil
ctypedef void (*segpy_destroy_fn)(void* ctx) noexcept nogil
ctypedef int (*segpy_store_fn)(void* ctx, void* dst, const void* src,
                               size_t nbytes) noexcept nogil

ctypedef struct segpy_allocator_t:
    void* ctx
    segpy_request_fn request
    segpy_release_fn release
    segpy_stats_fn stats
    const char* name
    segpy_grow_fn grow         # NULL: never grows in place
    segpy_destroy_fn destroy
    segpy_store_fn store       # NULL: appended elements are stored with memcpy


# Error codes of the allocator family.  0 is success.
cdef enum:
    SEGPY_AOK = 0
    SEGPY_ANOROOM = 1      # grow: no room to grow in place (not an error)
    SEGPY_ALIMIT = -10     # max_bytes would be exceeded
    SEGPY_AOS = -11        # the OS refused (or a test made it refuse)
    SEGPY_AINVAL = -12     # bad size or alignment
    SEGPY_ADOUBLE = -13    # release of a block that is already free
    SEGPY_AFOREIGN = -14   # release of an address this allocator never handed out
    SEGPY_ACORRUPT = -15   # a header or guard byte was overwritten
    SEGPY_ABUSY = -16      # reset / rewind / destroy while blocks are live in the range
    SEGPY_AIO = -17        # a file could not be extended, mapped or written (os_errno says why)

# The state every allocator's state struct starts with (so ``ctx`` points
# to it too).  Read ``last_error`` and ``message`` after a failure; the
# allocators keep the rest current through segpy's private helpers.
ctypedef struct segpy_alloc_common_t:
    segpy_allocator_t iface    # first: &iface == ctx == the state
    segpy_alloc_stats_t st
    long fail_countdown        # test hook: > 0 counts OS calls down; the one reaching 0 fails
    int debug                  # nonzero: guards, fill patterns, misuse detection, leak report
    int last_error             # SEGPY_A* code of the last failure
    size_t failed_bytes        # request size of the last failure
    int os_errno               # errno of the last failed OS call (0 for an injected failure)
    char message[256]          # human-readable detail of the last misuse (names the block)


# -- Creating allocators from C ----------------------------------------------
#
# Each allocator module has a ``segpy_*_create`` function (heap, bump and
# buffer in their .pxd).  It returns the allocator's interface, or NULL if
# there was no memory for its state; the allocator lives until
# segpy_allocator_destroy.  No GIL needed.

cdef segpy_allocator_t* segpy_system_create(size_t max_bytes) noexcept nogil


cdef inline void segpy_allocator_destroy(segpy_allocator_t* a) noexcept nogil:
    """Destroy an allocator made by a ``segpy_*_create`` function: its
    memory goes back to the OS whether or not lists still point into it, so
    destroy those lists first.  NULL is ignored.  No GIL needed."""
    if a != NULL and a.destroy != NULL:
        a.destroy(a.ctx)


cdef class Allocator:
    """Base of every allocator.  ``iface`` is the C interface lists are built
    on (``&owner.iface``); ``common`` the state it points at (NULL until the
    subclass's ``__cinit__`` has made it)."""
    cdef segpy_allocator_t iface
    cdef segpy_alloc_common_t* common
    cdef object __weakref__

    # For the subclasses (defined in alloc.pyx).
    cdef int _own(self, segpy_allocator_t* a) except -1   # adopt a segpy_*_create result
    cdef int _destroy(self) except -1     # leak report, then destroy (idempotent)
    cdef int _check(self) except -1       # walk every header: 0 or a SEGPY_A* code
    cdef object _blocks(self)             # structured ndarray of blocks, or None
    cdef object _regions(self)            # structured ndarray of regions, or None
    cdef int _report_leaks(self) except -1


# -- The Python boundary (need the GIL) ---------------------------------------

cdef Allocator current_allocator()
cdef int raise_alloc_error(Allocator a, size_t nbytes, str what) except -1
cdef int raise_misuse(Allocator a, int code) except -1

# For segpy's own modules: argument parsing shared by every allocator, the
# registry of concrete allocator types, and sealing internal types.
cdef size_t parse_size(object value, str name, object if_none=*, size_t most=*) except? 0
cdef int allocator_register_type(type t) except -1
cdef int segpy_seal_new(type t, const char* how) except -1
