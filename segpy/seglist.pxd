# cython: language_level=3
"""The segmented list: a C struct, free functions, and the Python shell.

Contract
--------
* Elements are fixed-size blobs of ``itemsize`` bytes; the core never looks
  inside them, so every fixed-size numpy dtype goes through the same code.
* Elements live in segments that never move.  A push never copies or
  reallocates, and the address of element ``i`` is stable for as long as the
  list holds at least ``i + 1`` elements (``clear`` keeps segments that are
  viewed from Python; see ``SegmentedList.clear``).
* The elements are *not* contiguous: segment ``j`` is its own allocation.
* push is O(1) (amortised over segment allocations, never a copy);
  element lookup is O(1), one count-leading-zeros.

Segment geometry
----------------
The first segment holds ``s0 = 2**k`` elements (``k = shift``) and each next
segment twice the one before.  Segment ``j`` holds ``2**(k+j)`` elements and
starts at index ``s0 * (2**j - 1) = 2**(k+j) - 2**k``.  Adding ``s0`` to an
index turns that into a power-of-two boundary, so one clz finds the segment::

    s0 = 4 (k = 2)

    index i     0  1  2  3 | 4  5  ...  11 | 12  13  ...  27 | 28 ...
    segment j   <--- 0 ---> <---- 1 -----> <------ 2 ------> <-- 3 ...
    length          4             8                16           32
    t = i + s0  4  5  6  7 | 8  9  ...  15 | 16  17  ...  31 | 32 ...
    msb(t)           2             3               4             5

    j      = msb(i + s0) - k                  msb(x) = 63 - clz(x)
    offset = (i + s0) - 2**msb(i + s0)        (clear the top bit)
    start  = 2**(k+j) - 2**k                  capacity(nseg) = start(nseg)

No loop, log or division.  Lengths are capped at ``2**62`` elements
(and at ``PY_SSIZE_T_MAX // itemsize``), so ``t`` never overflows 64 bits and
at most ``63 - k`` segments are ever used; the table has room for 64.  The
bookkeeping is ``(k, itemsize, length)`` plus one base per segment, so a
file-backed list can store each base as a file offset instead of a pointer.

Struct layout (``seglist_t``)::

    +-----------------+----------------+---------------------------------+
    | cursor          | cursor_end     | push fast path: next free slot  |
    |                 |                | and end of the tail segment     |
    +-----------------+----------------+---------------------------------+
    | length          | epoch          | itemsize       | max_length     |
    +-----------------+----------------+---------------------------------+
    | shift | nseg    | last_error     | failed_bytes                    |
    +-----------------+----------------+---------------------------------+
    | alloc -> segpy_allocator_t (request / release / stats)            |
    +--------------------------------------------------------------------+
    | segs[0] segs[1] ... segs[nseg-1]   NULL ...   (64 slots)          |
    +--------------------------------------------------------------------+
    | bases[0..k) = 0 | bases[k] ... bases[k+nseg-1] | 0 ...  (64 slots) |
    +--------------------------------------------------------------------+

``bases`` is derived from ``segs`` and indexed by ``msb`` rather than by
segment: ``bases[k + j] = segs[j] - 2**(k+j) * itemsize``, held as an
integer because the biased address may lie outside any object.  With
``t = i + s0`` and ``msb = msb(t)``, element ``i`` is at
``bases[msb] + t * itemsize``: the subtraction of ``k``, the clearing of
the top bit and one multiply-add of the textbook lookup fold into one load
from a table that stays in L1.  (A file-backed list stores only ``segs``,
as offsets, and rebuilds ``bases`` when it maps them.)

``epoch`` grows whenever a segment is released, the length shrinks or the
list is re-initialised, so a cached element address, and the fact that the
element was live, stay valid while the epoch they were read at is current
(``seglist_init`` carries it over: the struct must be zeroed or previously
initialised).

Invariants: ``segs[0..nseg)`` are allocated, the rest NULL; ``bases`` as
above, kept in step by the only two places that add or drop a segment
(``seglist_reserve`` and ``_pop_segment``); ``length <=
capacity(nseg)``; either ``cursor == cursor_end`` (no free slot known) or
``cursor`` is the address of element ``length`` and ``cursor_end`` the end
of its segment.

Error handling: the C functions are ``noexcept nogil`` and return
``SEGPY_OK`` (0) or a negative ``SEGPY_E*`` code, also stored in
``last_error`` (with the failed request size in ``failed_bytes``).  Pointer
returning functions return NULL on failure.  On failure the list is
unchanged: length, contents and segments are as before the call.
"""

from libc.stdint cimport uint64_t
from libc.string cimport memcpy

from segpy.alloc cimport Allocator
from segpy.alloc cimport segpy_allocator_t


cdef extern from *:
    """
    #if defined(_MSC_VER)
    #include <intrin.h>
    static inline size_t segpy_msb64(unsigned long long x) {
        unsigned long i; _BitScanReverse64(&i, x); return (size_t)i;
    }
    #define segpy_msb64_over(x, y) segpy_msb64(x)
    #elif (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(__LZCNT__)
    /* Index of the highest set bit; x must be non-zero.
     * Without LZCNT, __builtin_clzll compiles to BSR, whose destination is
     * also an input (it is left unchanged for x == 0).  So every BSR waits
     * for the previous instruction that wrote the same register, which
     * serialises independent lookups in a loop (random gets) and stops
     * their cache misses from overlapping.  Zeroing the register first (an
     * idiom the CPU resolves at rename) breaks that false dependency
     * (docs/design.md, "Measurements behind the hot paths").
     * The result is word-sized so that indexing a table with it needs no
     * sign extension (one instruction less per lookup). */
    static inline size_t segpy_msb64(unsigned long long x) {
        unsigned long long r;
        __asm__("xorl %k0, %k0; bsrq %1, %0" : "=&r"(r) : "rm"(x) : "cc");
        return (size_t)r;
    }
    /* msb(x) for an x computed from y (x = y + bias), with BSR writing over
     * y: its false dependency is then on a value x itself depends on, so it
     * costs no latency and the zeroing instruction is not needed.  A get
     * computes t = i + s0 for the address anyway, so this saves one
     * instruction per lookup in a loop of gets (docs/design.md,
     * "Measurements behind the hot paths"). */
    static inline size_t segpy_msb64_over(unsigned long long x, unsigned long long y) {
        __asm__("bsrq %1, %0" : "=r"(y) : "rm"(x), "0"(y) : "cc");
        return (size_t)y;
    }
    #else
    /* Index of the highest set bit; x must be non-zero.  63 ^ clz, not
     * 63 - clz, and word-sized: with LZCNT the lookup is then lzcnt, xor
     * and the table load, where the int subtraction added a move and a
     * sign extension (docs/design.md, "Measurements behind the hot
     * paths"). */
    static inline size_t segpy_msb64(unsigned long long x) {
        return (size_t)63 ^ (size_t)__builtin_clzll(x);
    }
    #define segpy_msb64_over(x, y) segpy_msb64(x)
    #endif
    """
    size_t segpy_msb64(unsigned long long x) noexcept nogil
    size_t segpy_msb64_over(unsigned long long x, unsigned long long y) noexcept nogil


cdef enum:
    SEGPY_MAX_SEGMENTS = 64
    SEGPY_MAX_SHIFT = 30          # first segment of at most 2**30 elements
    SEGPY_SEGMENT_ALIGN = 64      # every segment starts on a cache line
    SEGPY_OK = 0
    SEGPY_ENOMEM = -1             # the allocator refused (limit or OS)
    SEGPY_ETOOBIG = -2            # beyond max_length / size_t
    SEGPY_EINVAL = -3             # bad argument (itemsize, shift, range)
    SEGPY_ERELEASE = -4           # the allocator refused a release
    SEGPY_ESTORE = -5             # the allocator could not store appended elements (I/O)


ctypedef struct seglist_t:
    char* cursor
    char* cursor_end
    Py_ssize_t length
    Py_ssize_t epoch       # bumped when a segment is released, the length shrinks, or on re-init
    Py_ssize_t itemsize
    Py_ssize_t max_length
    int shift
    int nseg
    int last_error
    size_t failed_bytes
    segpy_allocator_t* alloc
    char* segs[SEGPY_MAX_SEGMENTS]
    # Lookup table, derived from segs (see "Struct layout"): for every
    # allocated segment j, bases[shift + j] = segs[j] - 2**(shift+j) * itemsize
    # as an integer; every other slot is 0.
    size_t bases[SEGPY_MAX_SEGMENTS]


# -- Functions (defined in _seglist_core.pxi; all noexcept nogil, no GIL needed) --

cdef int seglist_init(seglist_t* s, Py_ssize_t itemsize, int shift,
                      segpy_allocator_t* alloc) noexcept nogil
cdef int seglist_destroy(seglist_t* s) noexcept nogil
cdef int seglist_reserve(seglist_t* s, Py_ssize_t n) noexcept nogil
cdef char* seglist_emplace_slow(seglist_t* s) noexcept nogil
cdef int seglist_append_n(seglist_t* s, const void* src, Py_ssize_t n) noexcept nogil
cdef int seglist_write_range(seglist_t* s, Py_ssize_t start, const void* src,
                             Py_ssize_t n) noexcept nogil
cdef int seglist_read_range(const seglist_t* s, Py_ssize_t start, void* dst,
                            Py_ssize_t n) noexcept nogil
cdef int seglist_truncate(seglist_t* s, Py_ssize_t n) noexcept nogil
cdef int seglist_release_unused(seglist_t* s, int keep_spare) noexcept nogil
cdef int seglist_sync_cursor(seglist_t* s) noexcept nogil


# -- Inline hot paths (compiled into every module that cimports this) --

cdef inline int seglist_locate(const seglist_t* s, Py_ssize_t i,
                               Py_ssize_t* offset) noexcept nogil:
    """Segment holding index ``i`` (``0 <= i < max_length``); offset via ``offset``."""
    cdef uint64_t t = <uint64_t>i + (<uint64_t>1 << s.shift)
    cdef int msb = <int>segpy_msb64(t)
    offset[0] = <Py_ssize_t>(t ^ (<uint64_t>1 << msb))
    return msb - s.shift


cdef inline Py_ssize_t seglist_segment_len(const seglist_t* s, int j) noexcept nogil:
    """Elements segment ``j`` holds: ``2**(shift+j)``."""
    return <Py_ssize_t>1 << (s.shift + j)


cdef inline Py_ssize_t seglist_segment_start(const seglist_t* s, int j) noexcept nogil:
    """Index of the first element of segment ``j``; also the capacity of ``j`` segments."""
    return (<Py_ssize_t>1 << (s.shift + j)) - (<Py_ssize_t>1 << s.shift)


cdef inline Py_ssize_t seglist_capacity(const seglist_t* s) noexcept nogil:
    """Elements the allocated segments can hold."""
    return seglist_segment_start(s, s.nseg)


cdef inline int seglist_used_segments(const seglist_t* s) noexcept nogil:
    """Segments that hold at least one element."""
    cdef Py_ssize_t off
    if s.length == 0:
        return 0
    return seglist_locate(s, s.length - 1, &off) + 1


cdef inline char* seglist_at_unchecked(const seglist_t* s, Py_ssize_t i) noexcept nogil:
    """Address of element ``i``.  Safety: the caller guarantees ``0 <= i < length``."""
    # bases[msb(t)] + t * itemsize == segs[j] + offset * itemsize (see
    # "Struct layout"), in five instructions instead of eleven: fewer
    # instructions per get lets more independent gets, and their cache
    # misses, be in flight at once (docs/design.md, "Measurements behind the
    # hot paths").
    cdef size_t t = <size_t>i + (<size_t>1 << s.shift)
    return <char*>(s.bases[segpy_msb64_over(t, <size_t>i)] + t * <size_t>s.itemsize)


cdef inline char* seglist_at(const seglist_t* s, Py_ssize_t i) noexcept nogil:
    """Address of element ``i``, or NULL if ``i`` is not in ``[0, length)``."""
    # One unsigned compare rejects negatives too.
    if <size_t>i >= <size_t>s.length:
        return NULL
    return seglist_at_unchecked(s, i)


cdef inline char* seglist_emplace(seglist_t* s) noexcept nogil:
    """Claim the slot for one new element at the end and return its address.

    The caller must then write ``itemsize`` bytes there.  Returns NULL (list
    unchanged, ``last_error`` set) if a new segment could not be allocated.
    """
    cdef char* p = s.cursor
    if p != s.cursor_end:
        s.cursor = p + s.itemsize
        s.length += 1
        return p
    return seglist_emplace_slow(s)


cdef inline int seglist_push(seglist_t* s, const void* src) noexcept nogil:
    """Append one element copied from ``src`` (``itemsize`` bytes).  0 or an error code."""
    cdef char* p = seglist_emplace(s)
    if p == NULL:
        return s.last_error
    memcpy(p, src, s.itemsize)
    return SEGPY_OK


# -- The Python shell --

cdef class SegmentedList:
    # The struct is embedded, not pointed to, so that an empty list costs
    # nothing beyond its Python object; ``&self.c`` is the handle C code uses.
    cdef seglist_t c
    cdef object _dtype
    cdef Allocator _allocator
    cdef int _kind                 # scalar conversion fast path (K_* in seglist.pyx)
    cdef Py_ssize_t _exports       # live segment views; segments are kept while > 0
    # Method calls in progress that hold element addresses, a length or the
    # layout across Python code (conversion hooks, iterators, finalisers run
    # by an allocation, numpy calls that release the GIL).  While > 0 no
    # segment is released and __init__ refuses, so the dtype, itemsize,
    # geometry and allocator are constant for the duration of every call.
    cdef Py_ssize_t _busy
    # Segment views ever made (a failed extend asks if any were made during it).
    cdef Py_ssize_t _views_made
    cdef object _scratch           # 1-element ndarray for numpy-converted values
    # For a record dtype of native number and bool fields: the record plan
    # (bytes; _seglist_convert.pxi), so that a tuple of plain ints and
    # floats converts in C; _UNPLANNED until first needed; else None.
    cdef object _fields
    # A file opened read-only (mode='r'): its segments are mapped PROT_READ,
    # so every method that would store refuses, views are read-only, and
    # ``c.max_length == c.length`` stops C-level pushes.
    cdef bint _readonly
    # A concurrent phase is open (concurrent_writer()): the list is pinned
    # and every mutating method refuses until it ends.
    cdef bint _cc_open
    # The caller left the first segment to segpy (no ``first_segment``
    # argument): while the list holds no segment, a bulk extend may enlarge
    # it to fit (_fit_first_segment in _seglist_convert.pxi).
    cdef bint _shift_free
    cdef object __weakref__


# -- C-level API --------------------------------------------------------------
#
# What compiled consumers cimport beyond the core above: typed pushes,
# segment iteration, the bridge to and from SegmentedList objects, the
# boundary helper that turns an error code into a Python exception, and the
# function table behind the ``segpy.seglist.capi`` capsule.  docs/c-api.md
# states which of these are stable and what the nogil functions require of
# their callers (one writer per list, one thread per allocator).

from libc.stdint cimport int8_t
from libc.stdint cimport int16_t
from libc.stdint cimport int32_t
from libc.stdint cimport int64_t
from libc.stdint cimport uint8_t
from libc.stdint cimport uint16_t
from libc.stdint cimport uint32_t


# The C numeric types a typed push accepts.  Each is stored with one typed
# store, so the element must be exactly sizeof(value) bytes: a list of
# numpy int64 takes int64_t, a list of complex128 takes double complex.
ctypedef fused seglist_value_t:
    int8_t
    int16_t
    int32_t
    int64_t
    uint8_t
    uint16_t
    uint32_t
    uint64_t
    float
    double
    float complex
    double complex


cdef inline Py_ssize_t seglist_len(const seglist_t* s) noexcept nogil:
    """Elements in the list.  No GIL needed."""
    return s.length


cdef inline int seglist_push_value_unchecked(seglist_t* s, seglist_value_t v) noexcept nogil:
    """Append ``v`` with one typed store; 0 or an error code (list unchanged).

    Safety: ``sizeof(v)`` must equal ``s.itemsize`` (check once with
    ``seglist_push_value`` or ``seglist_itemsize_is``); a smaller value
    leaves bytes of the slot unwritten, a larger one overruns it.
    """
    cdef char* p = seglist_emplace(s)
    if p == NULL:
        return s.last_error
    (<seglist_value_t*>p)[0] = v
    return SEGPY_OK


cdef inline int seglist_push_value(seglist_t* s, seglist_value_t v) noexcept nogil:
    """Append ``v``, checking that ``sizeof(v) == itemsize`` first.

    The check is one compare against a field the push loads anyway, so this
    is the variant to use unless a profile says otherwise.  Returns 0, or
    SEGPY_EINVAL (size mismatch), SEGPY_ENOMEM, SEGPY_ETOOBIG; on failure
    the list is unchanged and ``last_error`` holds the code.  Only the size
    is checked: pushing a float64 into an int64 list stores its bits.
    """
    if <Py_ssize_t>sizeof(seglist_value_t) != s.itemsize:
        s.last_error = SEGPY_EINVAL
        s.failed_bytes = 0
        return SEGPY_EINVAL
    return seglist_push_value_unchecked(s, v)


cdef inline int seglist_get_value_unchecked(const seglist_t* s, Py_ssize_t i,
                                            seglist_value_t* out) noexcept nogil:
    """``out[0] = element i`` with one typed load; returns 0.

    The typed twin of ``seglist_at_unchecked``: the element size is a
    compile-time constant, so the lookup's multiply folds into the load's
    addressing mode (``bases[msb] + t * 8`` is one ``mov``), which keeps a
    loop of random gets about as short as the same loop over a C array.
    Safety: ``0 <= i < length`` and ``sizeof(out[0]) == itemsize`` (check
    the size once with ``seglist_itemsize_is``).
    """
    cdef size_t t = <size_t>i + (<size_t>1 << s.shift)
    out[0] = (<const seglist_value_t*>(s.bases[segpy_msb64_over(t, <size_t>i)]
                                       + t * sizeof(seglist_value_t)))[0]
    return SEGPY_OK


cdef inline int seglist_get_value(const seglist_t* s, Py_ssize_t i,
                                  seglist_value_t* out) noexcept nogil:
    """``out[0] = element i``, checking the index and the element size.

    Returns 0, or SEGPY_EINVAL (``out`` untouched) if ``i`` is not in
    ``[0, length)`` or ``sizeof(out[0]) != itemsize``.  Negative indices are
    not wrapped: C callers index from 0.  Only the size is checked: reading
    an int64 list into a double gives the element's bits.
    """
    # One unsigned compare rejects negatives too.
    if <size_t>i >= <size_t>s.length or <Py_ssize_t>sizeof(seglist_value_t) != s.itemsize:
        # Recorded like every other error (only the error fields are written).
        (<seglist_t*>s).last_error = SEGPY_EINVAL
        (<seglist_t*>s).failed_bytes = sizeof(seglist_value_t)
        return SEGPY_EINVAL
    return seglist_get_value_unchecked(s, i, out)


cdef inline bint seglist_itemsize_is(const seglist_t* s, size_t nbytes) noexcept nogil:
    """Whether elements are ``nbytes`` bytes: the check a loop of unchecked pushes hoists."""
    return <size_t>s.itemsize == nbytes


cdef inline int seglist_push_bytes(seglist_t* s, const void* src, size_t nbytes) noexcept nogil:
    """``seglist_push`` with the caller's idea of the element size checked.

    Returns SEGPY_EINVAL (list unchanged) unless ``nbytes == itemsize``;
    pass ``sizeof(my_record_t)`` so that a struct that drifted from the
    dtype is caught instead of copied short or long.
    """
    if <size_t>s.itemsize != nbytes:
        s.last_error = SEGPY_EINVAL
        s.failed_bytes = nbytes
        return SEGPY_EINVAL
    return seglist_push(s, src)


cdef inline char* seglist_segment(const seglist_t* s, int j, Py_ssize_t* n) noexcept nogil:
    """Base of segment ``j`` and, in ``n``, how many elements it holds now.

    Segments ``0 .. seglist_used_segments(s) - 1`` hold elements; for any
    other ``j`` this returns NULL with ``n = 0``.  The loop every bulk
    reader writes::

        for j in range(seglist_used_segments(s)):
            p = seglist_segment(s, j, &n)
            for k in range(n):
                ... (<T*>p)[k] ...       # element seglist_segment_start(s, j) + k
    """
    cdef Py_ssize_t start, left
    if j < 0 or j >= seglist_used_segments(s):
        n[0] = 0
        return NULL
    start = seglist_segment_start(s, j)
    left = s.length - start
    n[0] = left if left < seglist_segment_len(s, j) else seglist_segment_len(s, j)
    return s.segs[j]


# -- The bridge between C-built lists and SegmentedList objects --------------

cdef seglist_t* segmented_list_struct(SegmentedList obj) except NULL
cdef SegmentedList segmented_list_adopt(seglist_t* s, object dtype, Allocator owner)
cdef int seglist_raise(const seglist_t* s, Allocator owner, int rc,
                       Py_ssize_t extra) except -1
cdef int segmented_list_raise(SegmentedList obj, int rc, Py_ssize_t extra) except -1


# -- The function table behind the ``segpy.seglist.capi`` capsule ------------

cdef enum:
    SEGPY_CAPI_VERSION = 1

ctypedef int (*segpy_capi_init_fn)(seglist_t* s, Py_ssize_t itemsize, int shift,
                                   segpy_allocator_t* alloc) noexcept nogil
ctypedef int (*segpy_capi_list_fn)(seglist_t* s) noexcept nogil
ctypedef int (*segpy_capi_push_fn)(seglist_t* s, const void* src) noexcept nogil
ctypedef char* (*segpy_capi_emplace_fn)(seglist_t* s) noexcept nogil
ctypedef char* (*segpy_capi_at_fn)(const seglist_t* s, Py_ssize_t i) noexcept nogil
ctypedef int (*segpy_capi_count_fn)(seglist_t* s, Py_ssize_t n) noexcept nogil
ctypedef Py_ssize_t (*segpy_capi_length_fn)(const seglist_t* s) noexcept nogil
ctypedef char* (*segpy_capi_segment_fn)(const seglist_t* s, int j,
                                        Py_ssize_t* n) noexcept nogil
ctypedef int (*segpy_capi_info_fn)(const seglist_t* s) noexcept nogil
ctypedef int (*segpy_capi_append_n_fn)(seglist_t* s, const void* src,
                                       Py_ssize_t n) noexcept nogil
ctypedef int (*segpy_capi_read_fn)(const seglist_t* s, Py_ssize_t start, void* dst,
                                   Py_ssize_t n) noexcept nogil

# Layout is append-only: a version bump adds fields at the end, never moves
# one, so a consumer built against version v reads ``version >= v`` tables.
ctypedef struct segpy_capi_t:
    int version                          # SEGPY_CAPI_VERSION
    int struct_size                      # sizeof(segpy_capi_t)
    size_t seglist_size                  # sizeof(seglist_t), for consumers that embed one
    segpy_capi_init_fn init              # seglist_init
    segpy_capi_list_fn destroy           # seglist_destroy
    segpy_capi_push_fn push              # seglist_push: itemsize bytes from src
    segpy_capi_emplace_fn emplace        # seglist_emplace: slot of a new element
    segpy_capi_at_fn at                  # seglist_at: NULL when out of range
    segpy_capi_count_fn reserve          # seglist_reserve
    segpy_capi_count_fn truncate         # seglist_truncate
    segpy_capi_length_fn length          # seglist_len
    segpy_capi_length_fn itemsize        # element bytes
    segpy_capi_info_fn used_segments     # seglist_used_segments
    segpy_capi_segment_fn segment        # seglist_segment
    segpy_capi_append_n_fn append_n      # seglist_append_n
    segpy_capi_read_fn read_range        # seglist_read_range
    segpy_capi_info_fn last_error        # the SEGPY_E* code of the last failure


# -- Concurrent pushes (_seglist_concurrent.pxi; docs/threads.md) ------------
#
# A concurrent phase lets many threads append to one list at once, without
# a lock: each run of slots is reserved with one atomic add on ``next``; a
# missing segment is installed once, by the first thread that needs it,
# holding the GIL (so a shared allocator stays serialised); a thread waits
# only then.  The list's length does not move during the phase; at
# ``seglist_cc_end`` it becomes exactly the number of elements stored.
# ``limit`` falls to the start of the first segment that could not be made
# (or stays ``max_length``): nothing at or past it is stored.
#
# Two ways to push.  ``seglist_cc_append_n`` stores a run the caller holds
# (a run reserved exactly, stored in order).  A writer
# (``seglist_cc_writer_t``, one per thread) claims runs of slots ahead of
# its pushes and stores each push straight into the list: claims start at
# 4 KiB and double up to 2 MiB, so two threads fill different pages (and
# fault in different huge pages) instead of interleaving 4 KiB runs.  A
# writer's last run is seldom full; ``seglist_cc_writer_flush`` records its
# unfilled tail (a gap) in ``cc.gaps``, and ``seglist_cc_end`` closes the
# gaps by moving the elements at the top of the list down into them (at
# most the writers' last runs' worth).  So the order of elements across
# calls is not kept once a writer was used; each arrives exactly once.
#
#   next ->      |..........| <- reserved past limit: never stored
#   limit ->     +----------+
#                | run of B |    (a writer's run, full)
#                | gap of A | <- A's last run, unfilled tail: recorded at flush,
#                | run of A |    filled from the top at seglist_cc_end
#   start ->     +----------+
#
# Rules: nothing else touches the list during the phase; the writers are
# done (flushed, then joined) before ``seglist_cc_end``; a thread that
# waits for the writers must not hold the GIL (``prange`` in ``with
# nogil:``); a writer's pushes after its last flush are not kept.

cdef enum:
    SEGPY_CC_MAX_WRITERS = 256      # writers per phase (their gaps' table)
    SEGPY_CC_CLAIM_MIN = 4096       # bytes a writer's first claim asks for
    SEGPY_CC_CLAIM_MAX = 2097152    # bytes its claims double up to

ctypedef struct seglist_cc_t:
    seglist_t* s
    Py_ssize_t start            # the list's length when the phase began
    Py_ssize_t next             # atomic: the end of the slots reserved so far
    Py_ssize_t limit            # atomic: no element at or past it is stored
    # The list's own max_length: during the phase s.max_length is its
    # length, so that any other push fails.
    Py_ssize_t max_length
    int error                   # atomic: the first failure's SEGPY_E* code, or 0
    Py_ssize_t nwriters         # atomic: writers initialised (gap entries taken)
    # Writer k's unfilled slots [gaps[2k], gaps[2k+1]): its whole current
    # run from its claim, the run's tail from its flush.
    Py_ssize_t gaps[2 * SEGPY_CC_MAX_WRITERS]

# One thread's writer: pushes go straight into the run of slots it claimed,
# [cur, end) being the part of that run in one segment.
ctypedef struct seglist_cc_writer_t:
    seglist_cc_t* cc
    Py_ssize_t itemsize
    char* cur                   # the next slot (cur == end: claim or move on)
    char* end                   # the end of the run's piece in this segment
    char* piece                 # the start of that piece ...
    Py_ssize_t piece_at         # ... and its index in the list
    Py_ssize_t run_end          # the index past the claimed run
    Py_ssize_t claim            # elements the next claim asks for
    Py_ssize_t slot             # this writer's entry in cc.gaps, -1 if none
    int error                   # this writer's first failure, or 0

cdef int seglist_cc_begin(seglist_cc_t* cc, seglist_t* s) noexcept nogil
cdef int seglist_cc_append_n(seglist_cc_t* cc, const void* src, Py_ssize_t n) noexcept nogil
cdef Py_ssize_t seglist_cc_end(seglist_cc_t* cc) noexcept nogil
cdef int seglist_cc_writer_init(seglist_cc_writer_t* w, seglist_cc_t* cc) noexcept nogil
cdef int seglist_cc_writer_flush(seglist_cc_writer_t* w) noexcept nogil
cdef int seglist_cc_push_slow(seglist_cc_writer_t* w, const void* src) noexcept nogil


cdef inline int seglist_cc_push(seglist_cc_writer_t* w, const void* src) noexcept nogil:
    """Append one element (``itemsize`` bytes at ``src``) through ``w``.

    Returns 0 if the element is stored (it is in the list once the phase
    ends, if the writer is flushed after it), else the writer's failure
    code: once a claim fails, the writer stores nothing past the slots it
    already holds.  ``seglist_cc_writer_flush`` returns the first failure.
    """
    # Fields read into locals before the store, which may alias them.
    cdef char* cur = w.cur
    cdef Py_ssize_t isz
    if cur != w.end:
        isz = w.itemsize
        if isz == 8:
            memcpy(cur, src, 8)         # one store
        else:
            memcpy(cur, src, <size_t>isz)
        w.cur = cur + isz
        return 0
    return seglist_cc_push_slow(w, src)
