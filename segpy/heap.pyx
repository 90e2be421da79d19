# cython: language_level=3
"""segpy's general-purpose heap allocator (layouts drawn in ``_heap.pxd``).

This file is over 1,000 lines because the heap is one C state machine
(buckets, regions, deferred coalescing, growth in place and the integrity
walk that checks all of them) whose static functions the C compiler inlines
into each other; the Python class at the end is about 130 lines.

Regions come from the OS through ``_alloc.map_pages``; each is tiled by
blocks with 16-byte boundary-tag headers.  Free blocks sit in TLSF buckets
(two-level bitmaps, O(1) good fit) except one designated victim that small
requests split from.  Coalescing is deferred: outside debug mode a release
only marks its block free and lists it as pending (a release that borders
the designated victim merges into it at once, and one of a whole region is
settled at once), and the next drain merges every pending block with its
free neighbours.  A drain runs before any request that searches the
buckets, before grow, trim, stats, check, blocks() and regions(), and
whenever the deferred bytes pass ``cache_bytes``; debug mode coalesces at
once.  A region whose blocks are all coalesced again is one free block:
it is then cached (up to ``cache_bytes``) for reuse, or unmapped.
"""

import numpy as np

from segpy.alloc import _BLOCK_DTYPE, _REGION_DTYPE

from libc.stdint cimport SIZE_MAX
from libc.stdint cimport uint32_t
from libc.stdint cimport uint64_t
from libc.stdio cimport snprintf
from libc.stdlib cimport calloc
from libc.stdlib cimport free
from libc.stdlib cimport realloc
from libc.string cimport memmove
from libc.string cimport memset

from segpy cimport _alloc
from segpy._heap cimport HEAP_DEBUG_PREFIX
from segpy._heap cimport HEAP_END_HDR
from segpy._heap cimport HEAP_FL_COUNT
from segpy._heap cimport HEAP_FLAGS
from segpy._heap cimport HEAP_HDR
from segpy._heap cimport HEAP_MIN_BLOCK
from segpy._heap cimport HEAP_PAGE_ALIGN_FROM
from segpy._heap cimport HEAP_PENDING
from segpy._heap cimport HEAP_PREV_FLAGS
from segpy._heap cimport HEAP_PREV_FREE
from segpy._heap cimport HEAP_PREV_PENDING
from segpy._heap cimport HEAP_REGION_HDR
from segpy._heap cimport HEAP_SL_COUNT
from segpy._heap cimport HEAP_SL_LOG2
from segpy._heap cimport HEAP_SMALL_MAX
from segpy._heap cimport HEAP_USED
from segpy._heap cimport hblock_t
from segpy._heap cimport heap_region_t
from segpy._heap cimport heap_t
from segpy._os cimport segpy_page_size
from segpy cimport alloc

from segpy.alloc import AllocatorError


cdef extern from *:
    int __builtin_clzll(unsigned long long x) noexcept nogil
    int __builtin_ctzll(unsigned long long x) noexcept nogil
    int __builtin_ctz(unsigned int x) noexcept nogil
    void __builtin_prefetch(const void* p) noexcept nogil


cdef enum:
    _SIZE_MASK_LOW = 15
    _MAX_REQUEST_LOG2 = 56     # requests of 2^56 bytes or more are refused outright


# Debug mode: the first word of a used block's payload holds the request
# size, the second this magic (so a stale or foreign header is recognised).
cdef size_t _MAGIC = <size_t>0x5E6A11C0DEB10C00ULL
cdef size_t _FREE_WORD = <size_t>0xDDDDDDDDDDDDDDDDULL


# ---------------------------------------------------------------------------
# Small helpers on headers.
# ---------------------------------------------------------------------------

cdef inline size_t _bsize(hblock_t* b) noexcept nogil:
    return b.size & ~(<size_t>HEAP_FLAGS)


cdef inline hblock_t* _next(hblock_t* b) noexcept nogil:
    return <hblock_t*>((<char*>b) + _bsize(b))


cdef inline int _fls(size_t x) noexcept nogil:
    # Index of the highest set bit; x != 0.
    return 63 - __builtin_clzll(x)


cdef inline void _mapping(size_t size, int* fl, int* sl) noexcept nogil:
    # Bucket of a free block of `size` bytes (rounding down).
    cdef int f
    if size < 256:
        fl[0] = 0
        sl[0] = <int>(size >> 4)
    else:
        f = _fls(size)
        fl[0] = f - 7
        sl[0] = <int>((size >> (f - HEAP_SL_LOG2)) & (HEAP_SL_COUNT - 1))


cdef inline void _insert(heap_t* h, hblock_t* b) noexcept nogil:
    cdef int fl, sl
    _mapping(_bsize(b), &fl, &sl)
    cdef int i = fl * HEAP_SL_COUNT + sl
    cdef hblock_t* head = h.heads[i]
    b.next_free = head
    b.prev_free = NULL
    if head != NULL:
        head.prev_free = b
    h.heads[i] = b
    h.fl_bitmap |= (<uint64_t>1) << fl
    h.sl_bitmap[fl] |= (<uint32_t>1) << sl


cdef inline void _remove(heap_t* h, hblock_t* b) noexcept nogil:
    # Unlink free block b from its bucket.
    cdef int fl, sl
    _mapping(_bsize(b), &fl, &sl)
    cdef int i = fl * HEAP_SL_COUNT + sl
    if b.prev_free != NULL:
        b.prev_free.next_free = b.next_free
    else:
        h.heads[i] = b.next_free
        if b.next_free == NULL:
            h.sl_bitmap[fl] &= ~((<uint32_t>1) << sl)
            if h.sl_bitmap[fl] == 0:
                h.fl_bitmap &= ~((<uint64_t>1) << fl)
    if b.next_free != NULL:
        b.next_free.prev_free = b.prev_free


cdef inline hblock_t* _find(heap_t* h, size_t size) noexcept nogil:
    # Good fit: the first block of the smallest non-empty bucket whose every
    # block is >= size (size is rounded up to its bucket's upper bound).
    cdef int fl, sl
    cdef uint32_t sm
    cdef uint64_t fm
    if size >= 256:
        size += ((<size_t>1) << (_fls(size) - HEAP_SL_LOG2)) - 1
    _mapping(size, &fl, &sl)
    if fl >= HEAP_FL_COUNT:
        return NULL
    sm = h.sl_bitmap[fl] & (~(<uint32_t>0) << sl)
    if sm == 0:
        if fl + 1 >= HEAP_FL_COUNT:
            return NULL
        fm = h.fl_bitmap & (~(<uint64_t>0) << (fl + 1))
        if fm == 0:
            return NULL
        fl = __builtin_ctzll(fm)
        sm = h.sl_bitmap[fl]
    sl = __builtin_ctz(sm)
    return h.heads[fl * HEAP_SL_COUNT + sl]


cdef enum:
    # Blocks of its own bucket a request looks at before mapping a region.
    _FIT_SCAN_MAX = 16


cdef inline hblock_t* _find_in_own_bucket(heap_t* h, size_t size) noexcept nogil:
    # First fit among the first few blocks of the bucket `size` itself maps
    # to, which _find skips (it rounds up to the next bucket so that any
    # block it takes fits).  Tried only before mapping a new region: a freed
    # region of exactly one segment's size (the only block of its bucket)
    # was otherwise never reused by the next request of that size, so every
    # list built after another freed one mapped, and faulted in, a fresh
    # region while the cache filled with unusable ones.
    cdef int fl, sl, k = 0
    _mapping(size, &fl, &sl)
    if fl >= HEAP_FL_COUNT:
        return NULL
    cdef hblock_t* b = h.heads[fl * HEAP_SL_COUNT + sl]
    while b != NULL and k < _FIT_SCAN_MAX:
        if _bsize(b) >= size:
            return b
        b = b.next_free
        k += 1
    return NULL


cdef inline bint _whole_region(hblock_t* b) noexcept nogil:
    # A free block spanning its region: first block and followed by the end header.
    return b.prev_size == 0 and _bsize(_next(b)) == 0


cdef inline size_t _need(heap_t* h, size_t nbytes) noexcept nogil:
    cdef size_t n = _alloc.round_up(nbytes + h.extra, 16)
    return n if n >= HEAP_MIN_BLOCK else HEAP_MIN_BLOCK


cdef inline size_t _need_aligned(heap_t* h, size_t nbytes, size_t align) noexcept nogil:
    # Block bytes for a request aligned to `align` (a power of two): _need,
    # and for align > 16 rounded up to a multiple of min(align, 64), so that
    # the block after it (the dv, when the block was split from its front)
    # has its user address on the same boundary.  The next aligned request
    # then splits from the dv at once, and its release merges straight back:
    #
    #   |hdr| block (aligned user address) ..pad| hdr | dv (aligned) ...
    #
    # A list asks for its segments (512 * 2**j bytes for int64) aligned to
    # 64; without the pad each 16-byte header put the dv's front 16 bytes
    # past a boundary, so every segment request split off an alignment gap
    # (a stray free block in a bucket) through the slow path, and its
    # release, no longer next to the dv, was deferred and settled later.
    # The pad is at most 48 bytes, inside the block: the user's bytes are
    # the request, as for the 16-byte rounding.
    cdef size_t n = _need(h, nbytes)
    if align > 16:
        n = _alloc.round_up(n, align if align < 64 else 64)
    return n


cdef inline Py_ssize_t _search_region(heap_t* h, char* p) noexcept nogil:
    # Branch-free binary search of the sorted region table (random release
    # addresses would mispredict every branch of an ordinary one); -1 if p
    # lies in no region.
    cdef size_t n = h.n_regs, lo = 0, half
    if n == 0:
        return -1
    while n > 1:
        half = n >> 1
        lo = lo + half if h.regs[lo + half].base <= p else lo
        n -= half
    if p >= h.regs[lo].base and p < h.regs[lo].base + h.regs[lo].size:
        return <Py_ssize_t>lo
    return -1


cdef inline Py_ssize_t _find_region(heap_t* h, char* p) noexcept nogil:
    # The region holding p, or -1.  A cache hit costs one load and two
    # compares instead of log2(regions) dependent loads.
    cdef size_t k = (<size_t>p >> 21) & 255
    cdef size_t r = h.rcache[k]
    if r - 1 < h.n_regs:            # r != 0 and in the table (unsigned wrap for 0)
        r -= 1
        if p >= h.regs[r].base and p < h.regs[r].base + h.regs[r].size:
            return <Py_ssize_t>r
    cdef Py_ssize_t found = _search_region(h, p)
    if found >= 0:
        h.rcache[k] = <uint32_t>(found + 1)
    return found


cdef inline void _set_dv(heap_t* h, hblock_t* b) noexcept nogil:
    # Make b (a free block in no bucket, its header and the next one's
    # prev_size final) the designated victim, or clear it with NULL.
    cdef Py_ssize_t r
    h.dv = b
    if b == NULL:
        h.dv_size = 0
        h.dv_lo = NULL
        h.dv_at_end = 0
        return
    h.dv_size = _bsize(b)
    h.dv_at_end = _bsize(_next(b)) == 0
    r = _find_region(h, <char*>b)
    h.dv_lo = h.regs[r].base + HEAP_REGION_HDR


cdef inline size_t* _pend_slot(hblock_t* b) noexcept nogil:
    # A pending block's payload word holding its index in heap_t.pend.
    return <size_t*>((<char*>b) + HEAP_HDR)


cdef inline bint _pend_reserve(heap_t* h) noexcept nogil:
    # Room for one more pending slot; False if the slot array cannot grow.
    cdef size_t cap
    cdef hblock_t** arr
    if h.n_pend == h.cap_pend:
        cap = h.cap_pend * 2 if h.cap_pend else 1024
        arr = <hblock_t**>realloc(h.pend, cap * sizeof(hblock_t*))
        if arr == NULL:
            return False
        h.pend = arr
        h.cap_pend = cap
    return True


cdef inline void _pend_take_slot(heap_t* h, hblock_t* b) noexcept nogil:
    # Give free block b the next pending slot (room reserved).  The caller
    # sets b's PENDING flag and the next header's PREV_PENDING mirror.
    _pend_slot(b)[0] = h.n_pend
    h.pend[h.n_pend] = b
    h.n_pend += 1
    h.n_pend_live += 1


cdef inline bint _detach(heap_t* h, hblock_t* b, bint sweeping) noexcept nogil:
    # Take free block b out of wherever it is kept: the dv (returns True),
    # its pending slot, or its bucket.  Its flags are left as they are: a
    # merge turns its header into payload, a carve or a filing rewrites
    # it.  A sweep drops the whole slot array at its end and does not
    # clear single slots.
    if b == h.dv:
        _set_dv(h, NULL)
        return True
    if b.size & HEAP_PENDING:
        if not sweeping:
            h.pend[_pend_slot(b)[0]] = NULL
        h.n_pend_live -= 1
    else:
        _remove(h, b)
    return False


cdef int _settle(heap_t* h, hblock_t* b, Py_ssize_t r, bint sweeping, bint into_dv) noexcept nogil:
    # Coalesce the free block b of region r, in no bucket and no slot, with
    # every free block around it (runs of pending blocks, which may end in
    # bucket blocks), then file the result: the dv if the run held the dv
    # (into_dv: b itself was the dv), else its bucket, and an emptied
    # region is cached or, past cache_bytes, unmapped.  Returns 1 if
    # region r was unmapped (indices after r then moved), else 0.
    #
    #   before:  | used | P | P | b | B | P | used |     P pending, B bucket
    #   after:   | used |  one free block, filed   | used |
    cdef alloc.segpy_alloc_common_t* c = &h.common
    cdef size_t size = _bsize(b)
    cdef hblock_t* prv
    cdef hblock_t* nxt
    cdef size_t n
    while b.size & HEAP_PREV_FREE:
        prv = <hblock_t*>((<char*>b) - b.prev_size)
        into_dv |= _detach(h, prv, sweeping)
        size += b.prev_size
        if c.debug:
            # b's header (and free-list links) become free bytes inside prv.
            memset(b, _alloc.DEBUG_FILL_FREE, sizeof(hblock_t))
        b = prv
    nxt = <hblock_t*>((<char*>b) + size)
    while (nxt.size & HEAP_USED) == 0:
        into_dv |= _detach(h, nxt, sweeping)
        n = _bsize(nxt)
        if c.debug:
            memset(nxt, _alloc.DEBUG_FILL_FREE, sizeof(hblock_t))
        size += n
        nxt = <hblock_t*>((<char*>b) + size)
    b.size = size                  # its predecessor is used (or none): no flags
    nxt.prev_size = size
    nxt.size = (nxt.size & ~(<size_t>HEAP_PREV_FLAGS)) | HEAP_PREV_FREE
    # A run that spans its region is new: nothing settled here spanned one
    # before (a pending block never does: such releases are not deferred,
    # and sweeps skip filed blocks between used neighbours).
    if b.prev_size == 0 and _bsize(nxt) == 0:
        c.st.cached_bytes += h.regs[r].size
        if c.st.cached_bytes > h.cache_bytes and _drop_region(h, r) == 0:
            return 1
    if into_dv:
        _set_dv(h, b)
    else:
        _insert(h, b)
    return 0


cdef void _sweep(heap_t* h) noexcept nogil:
    # Drain by walking every region's headers in address order: when most
    # blocks are pending this streams through memory, where settling them
    # in slot order (the order they were released in) jumps at random.
    # Regions are walked from the last, so an unmapped one moves no index
    # still to be walked.
    cdef Py_ssize_t r = <Py_ssize_t>h.n_regs - 1
    cdef hblock_t* b
    cdef size_t s
    cdef bint dv
    while r >= 0:
        b = <hblock_t*>(h.regs[r].base + HEAP_REGION_HDR)
        s = _bsize(b)
        while s != 0:
            if (b.size & (HEAP_USED | HEAP_PENDING)) == 0 \
                    and (_next(b).size & HEAP_USED) != 0:
                pass        # a filed block between used ones: nothing to merge
            elif (b.size & HEAP_USED) == 0:
                # A run starts here: its predecessor is used (or none).
                dv = _detach(h, b, True)
                if _settle(h, b, r, True, dv):
                    break
                s = _bsize(b)
            b = <hblock_t*>((<char*>b) + s)
            s = _bsize(b)
        r -= 1


cdef inline void _drain(heap_t* h) noexcept nogil:
    # Coalesce deferred releases, if any: what every caller that must see a
    # coalesced heap (bucket searches, grow, trim, stats, check, the
    # tables) runs first.
    if h.n_pend != 0:
        _pend_drain(h)


cdef void _pend_drain(heap_t* h) noexcept nogil:
    # Coalesce and file every pending block; the slot array is then empty.
    cdef size_t i
    cdef hblock_t* b
    if h.n_pend_live >= h.sweep_min and (h.sweep_min == 0 or
                                         h.n_pend_live * 32 >= _alloc.n_blocks(&h.common)):
        # Pending blocks are a good share of all blocks: a walk of every
        # header costs less than a cache miss per pending block (measured
        # in docs/alloc-heap.md, "Why releases are deferred").
        _sweep(h)
    else:
        for i in range(h.n_pend):
            b = h.pend[i]
            if b != NULL:
                h.pend[i] = NULL
                h.n_pend_live -= 1
                b.size &= ~(<size_t>HEAP_PENDING)
                _settle(h, b, _find_region(h, <char*>b), False, False)
    h.n_pend = 0
    h.n_pend_live = 0
    h.pend_bytes = 0


# ---------------------------------------------------------------------------
# Regions.
# ---------------------------------------------------------------------------

cdef hblock_t* _new_region(heap_t* h, size_t rbytes, size_t request) noexcept nogil:
    """Map a region of rbytes, register it, return its single free block
    (detached: in no bucket) or NULL with the failure recorded."""
    cdef alloc.segpy_alloc_common_t* c = &h.common
    cdef heap_region_t* regs
    cdef size_t cap, i
    cdef char* base
    cdef hblock_t* b
    cdef hblock_t* end
    if not _alloc.limit_ok(c, rbytes, request):
        return NULL
    if h.n_regs == h.cap_regs:
        # Grow the table first so that a failure leaves nothing mapped.
        cap = h.cap_regs * 2 if h.cap_regs else 16
        regs = <heap_region_t*>realloc(h.regs, cap * sizeof(heap_region_t))
        if regs == NULL:
            c.os_errno = 0
            _alloc.fail(c, alloc.SEGPY_AOS, request)
            return NULL
        h.regs = regs
        h.cap_regs = cap
    base = <char*>_alloc.map_pages(c, rbytes, request)
    if base == NULL:
        return NULL
    i = h.n_regs
    while i > 0 and h.regs[i - 1].base > base:
        h.regs[i] = h.regs[i - 1]
        i -= 1
    h.regs[i].base = base
    h.regs[i].size = rbytes
    h.n_regs += 1
    memset(h.rcache, 0, sizeof(h.rcache))     # indices from i on moved
    b = <hblock_t*>(base + HEAP_REGION_HDR)
    b.prev_size = 0
    b.size = rbytes - HEAP_REGION_HDR - HEAP_END_HDR
    end = <hblock_t*>(base + rbytes - HEAP_END_HDR)
    end.prev_size = b.size
    end.size = HEAP_USED | HEAP_PREV_FREE
    # Empty: counted as cached until something is carved from it.
    c.st.cached_bytes += rbytes
    return b


cdef int _drop_region(heap_t* h, Py_ssize_t r) noexcept nogil:
    """Unmap region r, whose single free block is already detached."""
    cdef char* base = h.regs[r].base
    cdef size_t size = h.regs[r].size
    if _alloc.unmap_pages(&h.common, base, size) != 0:
        return alloc.SEGPY_AOS
    h.common.st.cached_bytes -= size
    memmove(&h.regs[r], &h.regs[r + 1], (h.n_regs - <size_t>r - 1) * sizeof(heap_region_t))
    h.n_regs -= 1
    memset(h.rcache, 0, sizeof(h.rcache))     # indices after r moved
    return 0


# ---------------------------------------------------------------------------
# The C interface.
# ---------------------------------------------------------------------------

cdef int heap_init(heap_t* h, size_t max_bytes, size_t region_size, size_t cache_bytes,
                   int debug) noexcept nogil:
    """Initialise an empty heap (no memory is mapped yet).  Returns 0.

    ``region_size`` is rounded up to a page multiple (at least one page).
    """
    memset(h, 0, sizeof(heap_t))
    _alloc.common_init(&h.common, max_bytes, debug)
    if region_size < segpy_page_size():
        region_size = segpy_page_size()
    h.region_size = _alloc.round_up(region_size, segpy_page_size())
    h.large_threshold = h.region_size // 2
    h.cache_bytes = cache_bytes
    h.sweep_min = 1024
    if debug:
        h.prefix = HEAP_DEBUG_PREFIX
        h.extra = HEAP_HDR + HEAP_DEBUG_PREFIX + _alloc.DEBUG_GUARD_BYTES
        h.hdr_per_block = HEAP_HDR + HEAP_DEBUG_PREFIX + _alloc.DEBUG_GUARD_BYTES
    else:
        h.prefix = 0
        h.extra = HEAP_HDR
        h.hdr_per_block = HEAP_HDR
    return 0


cdef void heap_destroy(heap_t* h) noexcept nogil:
    """Unmap every region and free the region table; the heap is then empty."""
    cdef size_t i
    for i in range(h.n_regs):
        _alloc.unmap_pages(&h.common, h.regs[i].base, h.regs[i].size)
    free(h.regs)
    h.regs = NULL
    h.n_regs = h.cap_regs = 0
    memset(h.rcache, 0, sizeof(h.rcache))
    free(h.pend)
    h.pend = NULL
    h.n_pend = h.cap_pend = h.n_pend_live = 0
    h.pend_bytes = 0
    _set_dv(h, NULL)
    h.fl_bitmap = 0
    memset(h.sl_bitmap, 0, sizeof(h.sl_bitmap))
    memset(h.heads, 0, sizeof(h.heads))
    h.common.st.cached_bytes = 0


cdef inline char* _carve(heap_t* h, hblock_t* b, size_t need, size_t align,
                         bint small) noexcept nogil:
    """Turn the detached free block b into a used block of `need` bytes whose
    user address is `align`-aligned; return that address.

    A leading gap (alignment) becomes a free block in the buckets, a tail
    remainder the new dv (small requests) or a bucket entry.  b's
    neighbours are used (b was a maximal free block), so nothing coalesces.
    """
    cdef size_t bsize = _bsize(b)
    cdef size_t gap, rem
    cdef char* payload
    cdef char* u
    cdef hblock_t* nb
    cdef hblock_t* r
    cdef hblock_t* nxt
    if b.prev_size == 0 and _bsize(<hblock_t*>((<char*>b) + bsize)) == 0:
        h.common.st.cached_bytes -= bsize + HEAP_REGION_HDR + HEAP_END_HDR
    if align > 16:
        payload = (<char*>b) + HEAP_HDR
        u = <char*>_alloc.round_up(<size_t>(payload + h.prefix), align)
        gap = <size_t>(u - h.prefix - payload)
        if gap != 0 and gap < HEAP_MIN_BLOCK:
            gap += align
        if gap != 0:
            nb = <hblock_t*>((<char*>b) + gap)
            nb.prev_size = gap
            nb.size = (bsize - gap) | HEAP_PREV_FREE
            b.size = gap | (b.size & HEAP_PREV_FLAGS)
            _insert(h, b)
            b = nb
            bsize -= gap
    rem = bsize - need
    if rem >= HEAP_MIN_BLOCK:
        r = <hblock_t*>((<char*>b) + need)
        r.prev_size = need
        r.size = rem
        nxt = <hblock_t*>((<char*>r) + rem)
        nxt.prev_size = rem      # its PREV_FREE flag stays set
        b.size = need | HEAP_USED | (b.size & HEAP_PREV_FLAGS)
        if small:
            if h.dv != NULL:
                _insert(h, h.dv)
            _set_dv(h, r)
        else:
            _insert(h, r)
    else:
        b.size = bsize | HEAP_USED | (b.size & HEAP_PREV_FLAGS)
        nxt = <hblock_t*>((<char*>b) + bsize)
        # After an alignment gap was split off, b is shorter than the free
        # block it came from: the boundary tag must follow it.
        nxt.prev_size = bsize
        nxt.size &= ~(<size_t>HEAP_PREV_FREE)
    return (<char*>b) + HEAP_HDR + h.prefix


cdef void _debug_dress(heap_t* h, char* user, size_t nbytes) noexcept nogil:
    # Debug: record the size and magic, fill the user bytes and the guards.
    cdef hblock_t* b = <hblock_t*>(user - HEAP_DEBUG_PREFIX - HEAP_HDR)
    cdef char* end = (<char*>b) + _bsize(b)
    cdef size_t* words = <size_t*>((<char*>b) + HEAP_HDR)
    words[0] = nbytes
    words[1] = _MAGIC
    memset(user - _alloc.DEBUG_GUARD_BYTES, _alloc.DEBUG_GUARD, _alloc.DEBUG_GUARD_BYTES)
    memset(user, _alloc.DEBUG_FILL_ALLOC, nbytes)
    memset(user + nbytes, _alloc.DEBUG_GUARD, <size_t>(end - user - nbytes))


ctypedef void* (*_request_slow_t)(heap_t* h, size_t nbytes, size_t align) noexcept nogil
ctypedef int (*_release_slow_t)(heap_t* h, void* p, size_t nbytes) noexcept nogil
ctypedef int (*_release_block_t)(heap_t* h, hblock_t* b, size_t nbytes) noexcept nogil
cdef _request_slow_t _request_slow_fn
cdef _release_slow_t _release_slow_fn
cdef _release_block_t _release_now_fn
cdef _release_block_t _defer_cold_fn


cdef void* heap_request(void* ctx, size_t nbytes, size_t align) noexcept nogil:
    """Return `align`-aligned memory for `nbytes` bytes, or NULL.

    No GIL needed.  Fails (NULL, cause in ``common``) for nbytes == 0, a bad
    alignment, the ``max_bytes`` bound or an OS refusal; the heap is then
    unchanged.
    """
    cdef heap_t* h = <heap_t*>ctx
    cdef size_t need, bsize, rem
    cdef hblock_t* b
    cdef hblock_t* r
    cdef hblock_t* nxt
    # Hot path: a small request split from the front of the designated
    # victim (a LIFO alloc/free pair only ever touches the dv's two ends).
    # An alignment up to 64 qualifies when the dv's front already meets it,
    # which _need_aligned's pad makes the common case for a run of such
    # requests (a list's segments).
    if align - 1 < 64 and (align & (align - 1)) == 0 and nbytes - 1 < HEAP_SMALL_MAX \
            and not h.common.debug:
        b = h.dv
        need = _need_aligned(h, nbytes, align)
        if b != NULL and (((<size_t>b) + HEAP_HDR) & (align - 1)) == 0:
            # The dv's size comes from h, not from its header: the next
            # request's work then depends on this one's stores to h only.
            bsize = h.dv_size     # a dv has no flags: its predecessor is used
            rem = bsize - need
            if bsize >= need + HEAP_MIN_BLOCK:
                if h.dv_at_end and b.prev_size == 0:
                    # It was a whole (cached) region: no longer empty.
                    h.common.st.cached_bytes -= bsize + HEAP_REGION_HDR + HEAP_END_HDR
                r = <hblock_t*>((<char*>b) + need)
                r.prev_size = need
                r.size = rem
                nxt = <hblock_t*>((<char*>b) + bsize)
                nxt.prev_size = rem
                b.size = need | HEAP_USED
                h.dv = r          # same region, same end: dv_lo, dv_at_end hold
                h.dv_size = rem
                _alloc.note_alloc(&h.common, nbytes)
                return (<char*>b) + HEAP_HDR
    # Everything else lives in a separate function reached through a pointer,
    # so that the compiler keeps this path free of register spills.
    return _request_slow_fn(h, nbytes, align)


cdef void* _request_slow(heap_t* h, size_t nbytes, size_t align) noexcept nogil:
    # heap_request's general path: validation, dv, buckets, new region.
    cdef size_t need, search, rbytes, minimal, room
    cdef bint took_dv = False
    cdef hblock_t* b
    cdef char* u
    if nbytes == 0 or (nbytes >> _MAX_REQUEST_LOG2) != 0 or align == 0 \
            or (align & (align - 1)) != 0 or align > segpy_page_size():
        snprintf(h.common.message, sizeof(h.common.message),
                 "bad request: %zu bytes aligned to %zu", nbytes, align)
        _alloc.fail(&h.common, alloc.SEGPY_AINVAL, nbytes)
        return NULL
    if nbytes >= HEAP_PAGE_ALIGN_FROM and align < segpy_page_size():
        # A large block starts on a page.  Copies into it (a list's bulk
        # appends) then meet numpy's large arrays, which lie 16 bytes past
        # a page (glibc's mmap chunk header), 16 bytes *behind* the
        # destination modulo 4 KiB; on the region's first block (64 bytes
        # in) they were 48 bytes ahead of it, where every load of memcpy
        # waits on a store to the same page offset ("4K aliasing") and the
        # copy ran 1.2-1.5x slower.  The page's leading gap (under 4 KiB,
        # under 1/16 of the block) is a free block like any other.
        align = segpy_page_size()
    need = _need_aligned(h, nbytes, align)
    b = _pend_reuse(h, need, align)
    if b != NULL:
        _alloc.note_alloc(&h.common, nbytes)
        return (<char*>b) + HEAP_HDR
    if align <= 16:
        # Hot path: split from the designated victim.
        b = h.dv
        if b != NULL and need <= HEAP_SMALL_MAX and _bsize(b) >= need:
            _set_dv(h, NULL)
            u = _carve(h, b, need, align, True)
            if h.common.debug:
                _debug_dress(h, u, nbytes)
            _alloc.note_alloc(&h.common, nbytes)
            return u
        search = need
    else:
        # Room for the worst leading gap (align + 16, see _carve).
        search = need + align + 16
    _drain(h)
    b = _find(h, search)
    if b == NULL and h.dv != NULL and _bsize(h.dv) >= search:
        # The buckets have nothing big enough, but the dv does (say, a cached
        # region that was last split from): better than mapping.
        b = h.dv
    if b == NULL:
        b = _find_in_own_bucket(h, search)
    if b == NULL:
        minimal = _alloc.round_up(search + HEAP_REGION_HDR + HEAP_END_HDR, segpy_page_size())
        if minimal > h.region_size or search >= h.large_threshold:
            rbytes = minimal
        else:
            rbytes = h.region_size
            # Near max_bytes, a smaller region that still fits beats failing.
            room = h.common.st.max_bytes - h.common.st.bytes_mapped \
                if h.common.st.max_bytes > h.common.st.bytes_mapped else 0
            if rbytes > room:
                room &= ~(segpy_page_size() - 1)
                rbytes = room if room > minimal else minimal
        b = _new_region(h, rbytes, nbytes)
        if b == NULL:
            return NULL
    else:
        took_dv = _detach(h, b, False)
    # A remainder of the dv stays the dv, whatever the request's size: the
    # blocks split from it then lie end to end before it, and releasing
    # them in reverse order (a list's segments, last first) merges each
    # straight back through the LIFO path of heap_release.
    u = _carve(h, b, need, align, need <= HEAP_SMALL_MAX or took_dv)
    if h.common.debug:
        _debug_dress(h, u, nbytes)
    _alloc.note_alloc(&h.common, nbytes)
    return u


cdef inline hblock_t* _pend_reuse(heap_t* h, size_t need, size_t align) noexcept nogil:
    # The block released last, if it is still pending and is exactly what
    # this request would carve: it is used again as it is, with no drain.
    # A block released and asked for again at the same size (a list's
    # segment, when lists of one size are made and dropped in turn) then
    # costs two flag updates, where a drain would coalesce it and the
    # search carve it out again.  Never in debug mode (nothing is pending).
    cdef hblock_t* b
    cdef size_t bsize
    if h.n_pend == 0:
        return NULL
    b = h.pend[h.n_pend - 1]
    if b == NULL:
        return NULL
    bsize = _bsize(b)
    if bsize != need or (((<size_t>b) + HEAP_HDR) & (align - 1)) != 0:
        return NULL
    h.pend[h.n_pend - 1] = NULL
    h.n_pend -= 1
    h.n_pend_live -= 1
    h.pend_bytes -= bsize
    b.size ^= HEAP_USED | HEAP_PENDING            # keeps the PREV_* flags
    _next(b).size &= ~(<size_t>HEAP_PREV_FLAGS)
    return b


cdef hblock_t* _lookup(heap_t* h, void* p, size_t nbytes, Py_ssize_t* region) noexcept nogil:
    """Validate a user address of a live block; its header, or NULL with the
    misuse described in ``common.message`` and ``common.last_error``.

    Nothing outside a region is read, and within one only words that lie
    inside it, so any address is safe to pass.
    """
    cdef alloc.segpy_alloc_common_t* c = &h.common
    cdef Py_ssize_t r = _find_region(h, <char*>p)
    cdef char* base
    cdef size_t rsize, off, bsize, hs
    cdef hblock_t* b
    cdef hblock_t* nxt
    cdef size_t* words
    cdef unsigned char* g
    cdef size_t i
    region[0] = r
    if r < 0:
        snprintf(c.message, sizeof(c.message),
                 "address %p (%zu bytes) lies in none of the heap's %zu regions",
                 p, nbytes, h.n_regs)
        _alloc.misuse(c, alloc.SEGPY_AFOREIGN, NULL, 0, 0, 0, NULL)
        return NULL
    base = h.regs[r].base
    rsize = h.regs[r].size
    off = <size_t>((<char*>p) - base)
    if off < HEAP_REGION_HDR + HEAP_HDR + h.prefix or ((<size_t>p - h.prefix) & 15) != 0 \
            or off - h.prefix - HEAP_HDR + HEAP_MIN_BLOCK > rsize - HEAP_END_HDR:
        snprintf(c.message, sizeof(c.message),
                 "address %p (region %zd offset %zu, %zu bytes) is not a block's address",
                 p, r, off, nbytes)
        _alloc.misuse(c, alloc.SEGPY_AFOREIGN, NULL, 0, 0, 0, NULL)
        return NULL
    b = <hblock_t*>((<char*>p) - h.prefix - HEAP_HDR)
    off = <size_t>((<char*>b) + HEAP_HDR - base)
    hs = b.size
    bsize = hs & ~(<size_t>HEAP_FLAGS)
    if bsize < HEAP_MIN_BLOCK or bsize > rsize - HEAP_END_HDR - (off - HEAP_HDR):
        if c.debug and hs == _FREE_WORD:
            snprintf(c.message, sizeof(c.message),
                     "block at region %zd offset %zu (%zu bytes) was already released "
                     "(its header lies in freed memory)", r, off, nbytes)
            _alloc.misuse(c, alloc.SEGPY_ADOUBLE, NULL, 0, 0, 0, NULL)
        else:
            snprintf(c.message, sizeof(c.message),
                     "address %p (region %zd offset %zu, %zu bytes) has no valid block header",
                     p, r, off, nbytes)
            _alloc.misuse(c, alloc.SEGPY_AFOREIGN, NULL, 0, 0, 0, NULL)
        return NULL
    if (hs & HEAP_USED) == 0:
        snprintf(c.message, sizeof(c.message),
                 "block at region %zd offset %zu size %zu is already free", r, off,
                 bsize - HEAP_HDR)
        _alloc.misuse(c, alloc.SEGPY_ADOUBLE, NULL, 0, 0, 0, NULL)
        return NULL
    nxt = <hblock_t*>((<char*>b) + bsize)
    if nxt.prev_size != bsize:
        snprintf(c.message, sizeof(c.message),
                 "block at region %zd offset %zu size %zu: the next header's prev_size is %zu "
                 "(header damaged, or not a block)", r, off, bsize - HEAP_HDR, nxt.prev_size)
        _alloc.misuse(c, alloc.SEGPY_ACORRUPT, NULL, 0, 0, 0, NULL)
        return NULL
    if nbytes > bsize - h.extra:
        snprintf(c.message, sizeof(c.message),
                 "block at region %zd offset %zu size %zu cannot hold the %zu bytes given",
                 r, off, bsize - HEAP_HDR, nbytes)
        _alloc.misuse(c, alloc.SEGPY_AINVAL, NULL, 0, 0, 0, NULL)
        return NULL
    if c.debug:
        words = <size_t*>((<char*>b) + HEAP_HDR)
        if words[1] != _MAGIC or words[0] != nbytes:
            snprintf(c.message, sizeof(c.message),
                     "block at region %zd offset %zu size %zu: recorded size %zu, magic %#zx "
                     "(released with %zu bytes)", r, off, bsize - HEAP_HDR, words[0],
                     words[1], nbytes)
            _alloc.misuse(c, alloc.SEGPY_ACORRUPT, NULL, 0, 0, 0, NULL)
            return NULL
        g = <unsigned char*>((<char*>p) - _alloc.DEBUG_GUARD_BYTES)
        for i in range(_alloc.DEBUG_GUARD_BYTES):
            if g[i] != _alloc.DEBUG_GUARD:
                snprintf(c.message, sizeof(c.message),
                         "block at region %zd offset %zu size %zu: guard byte %zu before the "
                         "data was overwritten", r, off, bsize - HEAP_HDR, i)
                _alloc.misuse(c, alloc.SEGPY_ACORRUPT, NULL, 0, 0, 0, NULL)
                return NULL
        g = <unsigned char*>p
        for i in range(nbytes, bsize - HEAP_HDR - h.prefix):
            if g[i] != _alloc.DEBUG_GUARD:
                snprintf(c.message, sizeof(c.message),
                         "block at region %zd offset %zu size %zu (%zu bytes requested): "
                         "written past its end at byte %zu", r, off, bsize - HEAP_HDR,
                         nbytes, i)
                _alloc.misuse(c, alloc.SEGPY_ACORRUPT, NULL, 0, 0, 0, NULL)
                return NULL
    return b


cdef int _release_slow(heap_t* h, void* p, size_t nbytes) noexcept nogil:
    # heap_release's general path: debug mode, or an address the inline
    # checks doubted.  _lookup re-validates and names any problem.
    cdef Py_ssize_t r
    cdef hblock_t* b = _lookup(h, p, nbytes, &r)
    if b == NULL:
        return h.common.last_error
    return _release_now(h, b, nbytes)


cdef int heap_release(void* ctx, void* p, size_t nbytes) noexcept nogil:
    """Give back a block from :c:func:`heap_request` of this heap.

    No GIL needed.  Returns 0, or a negative ``SEGPY_A*`` code (foreign
    address, double release, damaged header or guard) with the heap left
    untouched.  The address is checked to lie in one of the heap's regions
    before anything is read.  Outside debug mode, coalescing with free
    neighbours is deferred to the next drain (see ``heap_t.pend``), which
    every request that searches the buckets, and ``heap_grow``,
    ``heap_trim``, ``heap_stats`` and ``heap_check`` run first; a release
    next to the designated victim, of a whole region, or that brings the
    deferred bytes past ``cache_bytes`` drains at once.  A region left
    empty is cached (up to ``cache_bytes``) or unmapped.
    """
    cdef heap_t* h = <heap_t*>ctx
    cdef Py_ssize_t r
    cdef hblock_t* b
    cdef hblock_t* nxt
    cdef hblock_t* far
    cdef size_t bsize, hs, total
    cdef char* base
    cdef char* end
    if p == NULL:
        return 0
    # Start fetching the likely next header (block size from nbytes) while
    # the region is looked up: coalescing reads it next.
    # Prefetches never fault, so both may be issued before p is validated.
    __builtin_prefetch((<char*>p) - HEAP_HDR)
    __builtin_prefetch((<char*>p) + _alloc.round_up(nbytes, 16))
    if h.common.debug:
        return _release_slow_fn(h, p, nbytes)
    b = <hblock_t*>((<char*>p) - HEAP_HDR)
    nxt = h.dv
    # LIFO case first: the block just before the dv goes back into it.  Its
    # size is the distance to the dv, and the dv's size is cached in h, so
    # nothing loaded from a header feeds an address or a store here; the
    # header loads below only confirm (branches).  Reading b's header is
    # safe once b lies between the dv's region start and the dv.
    if nxt != NULL and <char*>b >= h.dv_lo and <char*>b < <char*>nxt \
            and ((<size_t>p) & 15) == 0:
        bsize = <size_t>((<char*>nxt) - <char*>b)
        # Used, no PREV_FREE (so nothing merges backwards), boundary tag
        # consistent, and big enough for what the caller says it holds.
        if b.size == (bsize | HEAP_USED) and nxt.prev_size == bsize \
                and nbytes <= bsize - HEAP_HDR:
            total = bsize + h.dv_size
            if h.dv_at_end and b.prev_size == 0:
                # The region is empty again: it stays cached (as the dv),
                # unless that would pass cache_bytes.
                if h.common.st.cached_bytes + total + HEAP_REGION_HDR + HEAP_END_HDR \
                        > h.cache_bytes:
                    return _release_slow_fn(h, p, nbytes)
                h.common.st.cached_bytes += total + HEAP_REGION_HDR + HEAP_END_HDR
            b.size = total
            far = <hblock_t*>((<char*>b) + total)
            far.prev_size = total      # its PREV_FREE flag is already set
            h.dv = b                   # same region, same end
            h.dv_size = total
            _alloc.note_release(&h.common, nbytes)
            return 0
    # Inline validation of the common non-LIFO case (sane header).
    r = _find_region(h, <char*>p)
    if r >= 0:
        base = h.regs[r].base
        end = base + h.regs[r].size - HEAP_END_HDR
        if (<char*>p) >= base + HEAP_REGION_HDR + HEAP_HDR and ((<size_t>p) & 15) == 0 \
                and (<char*>p) - HEAP_HDR + HEAP_MIN_BLOCK <= end:
            hs = b.size
            bsize = hs & ~(<size_t>HEAP_FLAGS)
            nxt = <hblock_t*>((<char*>b) + bsize)
            if (hs & HEAP_USED) != 0 and bsize >= HEAP_MIN_BLOCK \
                    and bsize <= <size_t>(end - <char*>b) \
                    and nxt.prev_size == bsize and nbytes <= bsize - HEAP_HDR:
                # Deferred coalescing: mark b free and list it (pending);
                # the next drain merges it.  Not next to the dv (which must
                # keep used neighbours: its fast paths write headers without
                # reading flags), and not for a block that is a whole region
                # (it is cached or unmapped at once).  The test for "prv is
                # the dv" uses the dv's cached size, not prv's header.
                #
                # Every call below is a tail call through a pointer: with no
                # call to return to, the compiler gives this function no
                # stack frame, which the LIFO pair above would pay for.
                if nxt != h.dv and <char*>b != (<char*>h.dv) + h.dv_size \
                        and bsize != <size_t>(end - base) - HEAP_REGION_HDR:
                    if h.n_pend == h.cap_pend or h.pend_bytes + bsize > h.cache_bytes:
                        return _defer_cold_fn(h, b, nbytes)
                    _defer(h, b, nbytes)
                    return 0
                return _release_now_fn(h, b, nbytes)
    return _release_slow_fn(h, p, nbytes)


cdef inline void _defer(heap_t* h, hblock_t* b, size_t nbytes) noexcept nogil:
    # Mark the validated used block b free and pending (a slot is free).
    cdef size_t bsize = _bsize(b)
    _alloc.note_release(&h.common, nbytes)
    b.size ^= HEAP_USED | HEAP_PENDING          # keeps the PREV_* flags
    _next(b).size |= HEAP_PREV_FREE | HEAP_PREV_PENDING
    _pend_take_slot(h, b)
    h.pend_bytes += bsize


cdef int _defer_cold(heap_t* h, hblock_t* b, size_t nbytes) noexcept nogil:
    # _defer when the slot array is full (grow it; if it cannot grow,
    # release at once) or the deferred bytes pass cache_bytes (drain after).
    if h.n_pend == h.cap_pend and not _pend_reserve(h):
        return _release_now(h, b, nbytes)
    _defer(h, b, nbytes)
    if h.pend_bytes > h.cache_bytes:
        _pend_drain(h)
    return 0


cdef int _release_now(heap_t* h, hblock_t* b, size_t nbytes) noexcept nogil:
    # Release the validated used block b and coalesce it at once with the
    # whole free run around it (pending blocks included), then file it.
    # Debug mode always comes here (it never defers): the freed bytes are
    # filled now, and _settle fills the headers that merging absorbs.
    if h.common.debug:
        memset((<char*>b) + HEAP_HDR, _alloc.DEBUG_FILL_FREE, _bsize(b) - HEAP_HDR)
    _alloc.note_release(&h.common, nbytes)
    b.size &= ~(<size_t>HEAP_USED)
    _settle(h, b, _find_region(h, <char*>b), False, False)
    return 0


cdef int heap_stats(void* ctx, alloc.segpy_alloc_stats_t* out) noexcept nogil:
    """Drain deferred releases, copy the counters into ``out`` and derive
    ``overhead_bytes``.  Returns 0."""
    cdef heap_t* h = <heap_t*>ctx
    _drain(h)                # cached_bytes, bytes_mapped, n_regions settle
    _alloc.stats_out(&h.common, out)
    # Kept implicit so the hot paths update one counter less: every live
    # block carries exactly hdr_per_block bytes of header (and guards).
    out.header_bytes = out.n_blocks * h.hdr_per_block
    return 0


cdef int heap_grow(void* ctx, void* p, size_t old_nbytes, size_t new_nbytes) noexcept nogil:
    """The interface's grow: a live block, in place, to `new_nbytes` (>= `old_nbytes`).

    Returns 0 if grown (the stats follow), alloc.SEGPY_ANOROOM if the next block
    is not free or too small (nothing changed), or a negative ``SEGPY_A*``
    code for a bad address or size.  No GIL needed.
    """
    cdef heap_t* h = <heap_t*>ctx
    cdef alloc.segpy_alloc_common_t* c = &h.common
    cdef Py_ssize_t r
    cdef hblock_t* b
    cdef hblock_t* nxt
    cdef hblock_t* rb
    cdef hblock_t* after
    cdef size_t need, bsize, total, rem
    cdef bint was_dv
    cdef char* user
    if new_nbytes < old_nbytes or (new_nbytes >> _MAX_REQUEST_LOG2) != 0:
        snprintf(c.message, sizeof(c.message), "cannot grow %zu bytes to %zu",
                 old_nbytes, new_nbytes)
        return _alloc.misuse(c, alloc.SEGPY_AINVAL, NULL, 0, 0, 0, NULL)
    _drain(h)                # the next block, if free, is then whole and filed
    b = _lookup(h, p, old_nbytes, &r)
    if b == NULL:
        return c.last_error
    need = _need(h, new_nbytes)
    bsize = _bsize(b)
    if need > bsize:
        nxt = <hblock_t*>((<char*>b) + bsize)
        if (nxt.size & HEAP_USED) != 0 or bsize + _bsize(nxt) < need:
            return alloc.SEGPY_ANOROOM
        was_dv = _detach(h, nxt, False)
        total = bsize + _bsize(nxt)
        after = <hblock_t*>((<char*>b) + total)
        rem = total - need
        if rem >= HEAP_MIN_BLOCK:
            rb = <hblock_t*>((<char*>b) + need)
            rb.prev_size = need
            rb.size = rem
            after.prev_size = rem
            b.size = need | HEAP_USED | (b.size & HEAP_PREV_FLAGS)
            if was_dv:
                _set_dv(h, rb)
            else:
                _insert(h, rb)
        else:
            after.prev_size = total
            after.size &= ~(<size_t>HEAP_PREV_FREE)
            b.size = total | HEAP_USED | (b.size & HEAP_PREV_FLAGS)
    if c.debug:
        user = (<char*>b) + HEAP_HDR + h.prefix
        (<size_t*>((<char*>b) + HEAP_HDR))[0] = new_nbytes
        memset(user + old_nbytes, _alloc.DEBUG_FILL_ALLOC, new_nbytes - old_nbytes)
        memset(user + new_nbytes, _alloc.DEBUG_GUARD,
               _bsize(b) - HEAP_HDR - h.prefix - new_nbytes)
    _alloc.note_grow(c, new_nbytes - old_nbytes)
    return 0


cdef size_t heap_trim(heap_t* h) noexcept nogil:
    """Unmap every empty (cached) region; return the bytes given back."""
    cdef size_t given = 0, size
    cdef Py_ssize_t r
    cdef hblock_t* b
    _drain(h)                # regions emptied by deferred releases become cached
    r = <Py_ssize_t>h.n_regs - 1
    while r >= 0:
        b = <hblock_t*>(h.regs[r].base + HEAP_REGION_HDR)
        size = h.regs[r].size
        if (b.size & HEAP_USED) == 0 and _whole_region(b):
            _detach(h, b, False)
            if _drop_region(h, r) == 0:
                given += size
            else:
                if b != h.dv:
                    _insert(h, b)
        r -= 1
    return given


cdef inline int _corrupt(heap_t* h, Py_ssize_t r, size_t off, size_t size,
                         const char* what) noexcept nogil:
    return _alloc.misuse(&h.common, alloc.SEGPY_ACORRUPT, "region", r, off, size, what)


cdef int heap_check(heap_t* h) noexcept nogil:
    """Verify every invariant (see docs/alloc-heap.md); 0 or alloc.SEGPY_ACORRUPT
    with the first broken one described in ``common.message``.

    Checks the heap as it is, then drains deferred releases and checks it
    again (fully coalesced).  Reads only memory inside the heap's regions,
    whatever the damage, and drains only an undamaged heap.
    """
    cdef int rc = _check_walk(h)
    if rc != 0 or h.n_pend == 0:
        return rc
    _pend_drain(h)
    return _check_walk(h)


cdef int _check_walk(heap_t* h) noexcept nogil:
    cdef alloc.segpy_alloc_common_t* c = &h.common
    cdef size_t r, off, s, expect_prev, n_used = 0, n_free = 0, cached = 0, mapped = 0
    cdef size_t in_use = 0, capacity = 0, n_listed = 0, n_pending = 0, i, j
    cdef bint prev_free, prev_pending, prev_dv, is_free, dv_seen = False
    cdef char* base
    cdef char* end
    cdef hblock_t* b
    cdef hblock_t* e
    cdef size_t* words
    cdef unsigned char* g
    cdef int fl, sl, bucket
    cdef Py_ssize_t er
    for r in range(h.n_regs):
        base = h.regs[r].base
        end = base + h.regs[r].size
        mapped += h.regs[r].size
        if r > 0 and h.regs[r - 1].base + h.regs[r - 1].size > base:
            return _corrupt(h, r, 0, h.regs[r].size, "region table not sorted / overlapping")
        b = <hblock_t*>(base + HEAP_REGION_HDR)
        expect_prev = 0
        prev_free = False
        prev_pending = False
        prev_dv = False
        while True:
            off = <size_t>((<char*>b) + HEAP_HDR - base)
            if (<char*>b) > end - HEAP_END_HDR:
                return _corrupt(h, r, off, 0, "blocks run past the region's end")
            s = _bsize(b)
            if b.prev_size != expect_prev:
                return _corrupt(h, r, off, s, "prev_size disagrees with the previous block")
            if ((b.size & HEAP_PREV_FREE) != 0) != prev_free:
                return _corrupt(h, r, off, s, "PREV_FREE flag disagrees with the previous block")
            if ((b.size & HEAP_PREV_PENDING) != 0) != prev_pending:
                return _corrupt(h, r, off, s, "PREV_PENDING flag disagrees with the previous block")
            if s == 0:
                if (<char*>b) != end - HEAP_END_HDR or (b.size & HEAP_USED) == 0:
                    return _corrupt(h, r, off, s, "size 0 header that is not the region's end")
                break
            if s < HEAP_MIN_BLOCK or (s & 15) != 0 or s > <size_t>(end - HEAP_END_HDR - <char*>b):
                return _corrupt(h, r, off, s, "block size does not tile the region")
            is_free = (b.size & HEAP_USED) == 0
            if is_free:
                # Free neighbours: allowed only while one of them is pending
                # (deferred coalescing), never for the dv.
                if prev_free and (prev_dv or b == h.dv):
                    return _corrupt(h, r, off, s, "the designated victim has a free neighbour")
                if prev_free and not prev_pending and (b.size & HEAP_PENDING) == 0:
                    return _corrupt(h, r, off, s, "two adjacent filed free blocks (not coalesced)")
                if b == h.dv:
                    dv_seen = True
                    if b.size & HEAP_PENDING:
                        return _corrupt(h, r, off, s, "the designated victim is marked pending")
                elif b.size & HEAP_PENDING:
                    n_pending += 1
                    i = _pend_slot(b)[0]
                    if i >= h.n_pend or h.pend[i] != b:
                        return _corrupt(h, r, off, s, "pending free block not in its slot")
                else:
                    n_free += 1
                if b.prev_size == 0 and _bsize(_next(b)) == 0:
                    cached += h.regs[r].size
            else:
                n_used += 1
                capacity += s - h.extra
                if c.debug:
                    words = <size_t*>((<char*>b) + HEAP_HDR)
                    if words[1] != _MAGIC or words[0] > s - h.extra:
                        return _corrupt(h, r, off, s - HEAP_HDR, "debug size/magic word damaged")
                    in_use += words[0]
                    g = <unsigned char*>((<char*>b) + HEAP_HDR + HEAP_DEBUG_PREFIX
                                         - _alloc.DEBUG_GUARD_BYTES)
                    for i in range(_alloc.DEBUG_GUARD_BYTES):
                        if g[i] != _alloc.DEBUG_GUARD:
                            return _corrupt(h, r, off, s - HEAP_HDR,
                                            "guard bytes before the data overwritten")
                    g = <unsigned char*>((<char*>b) + HEAP_HDR + HEAP_DEBUG_PREFIX)
                    for i in range(words[0], s - HEAP_HDR - HEAP_DEBUG_PREFIX):
                        if g[i] != _alloc.DEBUG_GUARD:
                            return _corrupt(h, r, off, s - HEAP_HDR, "written past the block's end")
            expect_prev = s
            prev_free = is_free
            prev_pending = is_free and (b.size & HEAP_PENDING) != 0
            prev_dv = b == h.dv
            b = <hblock_t*>((<char*>b) + s)
    if h.dv != NULL and not dv_seen:
        return _corrupt(h, -1, 0, 0, "the designated victim is not a free block of any region")
    # Buckets: every entry a free block of the right class, links consistent,
    # bitmaps exactly the non-empty buckets, and as many entries as free blocks.
    for i in range(HEAP_FL_COUNT):
        if ((h.fl_bitmap >> i) & 1) != (h.sl_bitmap[i] != 0):
            return _corrupt(h, -1, i, 0, "first-level bitmap bit disagrees with its second level")
        for j in range(HEAP_SL_COUNT):
            bucket = <int>(i * HEAP_SL_COUNT + j)
            e = h.heads[bucket]
            if ((h.sl_bitmap[i] >> j) & 1) != (e != NULL):
                return _corrupt(h, -1, bucket, 0,
                                "second-level bitmap bit disagrees with its bucket")
            if e != NULL and e.prev_free != NULL:
                return _corrupt(h, -1, bucket, 0, "bucket head has a prev link")
            while e != NULL:
                n_listed += 1
                if n_listed > n_free:
                    return _corrupt(h, -1, bucket, 0, "buckets hold more entries than free "
                                    "blocks (cycle or stale entry)")
                er = _find_region(h, <char*>e)
                if er < 0 or ((<size_t>e) & 15) != 0 or \
                        (<char*>e) + sizeof(hblock_t) > h.regs[er].base + h.regs[er].size:
                    return _corrupt(h, er, 0, 0, "bucket entry outside every region")
                off = <size_t>((<char*>e) + HEAP_HDR - h.regs[er].base)
                if (e.size & (HEAP_USED | HEAP_PENDING)) != 0 or e == h.dv:
                    return _corrupt(h, er, off, _bsize(e), "bucket entry is not a filed free block")
                _mapping(_bsize(e), &fl, &sl)
                if fl != <int>i or sl != <int>j:
                    return _corrupt(h, er, off, _bsize(e), "free block in the wrong bucket")
                if e.next_free != NULL and e.next_free.prev_free != e:
                    return _corrupt(h, er, off, _bsize(e), "free-list links inconsistent")
                e = e.next_free
    if n_listed != n_free:
        return _corrupt(h, -1, n_listed, n_free, "free blocks missing from the buckets")
    j = 0
    for i in range(h.n_pend):
        j += h.pend[i] != NULL
    if n_pending != h.n_pend_live or j != n_pending:
        return _corrupt(h, -1, n_pending, h.n_pend_live,
                        "pending slots disagree with the pending free blocks")
    if n_used != _alloc.n_blocks(c):
        return _corrupt(h, -1, n_used, _alloc.n_blocks(c),
                        "n_blocks disagrees with the used headers")
    if c.debug and in_use != c.st.bytes_in_use:
        return _corrupt(h, -1, in_use, c.st.bytes_in_use,
                        "bytes_in_use disagrees with the recorded sizes")
    if not c.debug and c.st.bytes_in_use > capacity:
        return _corrupt(h, -1, capacity, c.st.bytes_in_use,
                        "bytes_in_use exceeds the used blocks' capacity")
    if cached != c.st.cached_bytes:
        return _corrupt(h, -1, cached, c.st.cached_bytes,
                        "cached_bytes disagrees with the empty regions")
    if mapped != c.st.bytes_mapped or h.n_regs != c.st.n_regions:
        return _corrupt(h, -1, mapped, c.st.bytes_mapped,
                        "bytes_mapped / n_regions disagree with the regions")
    return 0


cdef void _heap_free(void* ctx) noexcept nogil:
    # The interface's destroy: every region, the tables, the state.
    heap_destroy(<heap_t*>ctx)
    free(ctx)


cdef alloc.segpy_allocator_t* segpy_heap_create(size_t max_bytes, size_t region_size,
                                                size_t cache_bytes, int debug) noexcept nogil:
    """A heap (maps nothing yet): regions of ``region_size`` bytes (rounded
    up to a page), up to ``cache_bytes`` of empty regions kept for reuse,
    ``max_bytes`` (SIZE_MAX: unbounded) bounding the bytes mapped.  Returns
    its interface, or NULL if its state could not be allocated.  No GIL
    needed."""
    cdef heap_t* h = <heap_t*>calloc(1, sizeof(heap_t))
    if h == NULL:
        return NULL
    heap_init(h, max_bytes, region_size, cache_bytes, debug)
    return _alloc.wire(&h.common, "heap", heap_request, heap_release, heap_stats,
                       heap_grow, _heap_free)


_request_slow_fn = _request_slow
_release_slow_fn = _release_slow
_release_now_fn = _release_now
_defer_cold_fn = _defer_cold


# ---------------------------------------------------------------------------
# The Python class.
# ---------------------------------------------------------------------------


cdef int _walk_step_ok(Heap self, size_t r, hblock_t* b, size_t s) except -1:
    """Raise AllocatorError unless block ``b`` of size ``s`` lies inside region
    ``r`` (a multiple of 16, at least the minimum, ending before the end
    header): the introspection walks step by the size read from each
    header, and a damaged one must not send them outside the mapping."""
    cdef char* end = self.state.regs[r].base + self.state.regs[r].size
    if s < HEAP_MIN_BLOCK or (s & 15) != 0 or s > <size_t>(end - HEAP_END_HDR - <char*>b):
        off = <size_t>((<char*>b) + HEAP_HDR - self.state.regs[r].base)
        raise AllocatorError(
            f"heap allocator: damaged block: region {r} offset {off}: header size {s} "
            f"does not tile the region (run check() for details)")
    return 0


include "_bind_args.pxi"


cdef class Heap(alloc.Allocator):
    """Heap(max_bytes=None, *, region_size=4194304, cache_bytes=67108864, debug=False)
--

segpy's general-purpose allocator: regions of blocks with small headers.

    Memory is mapped from the OS in regions (``region_size`` each; a request
    of half a region or more gets a region of its own).  Each block carries a
    16-byte header; free blocks are kept in size-class buckets (TLSF).
    Coalescing is deferred: a release usually only marks its block free,
    and the next drain merges it with its free neighbours.  A drain runs
    before the next request that searches the buckets, before :meth:`grow`,
    :meth:`trim`, :attr:`stats`, :meth:`check`, :meth:`blocks` and
    :meth:`regions`, and once the deferred bytes pass ``cache_bytes``.  A
    release next to the block small requests split from, or of a whole
    region, settles at once, and so does every release in debug mode.  A region whose blocks are all
    released and coalesced is whole again and is cached for reuse (up to
    ``cache_bytes``) instead of being unmapped.  This makes a new list's
    memory cheap: no mapping, no page faults.

    Parameters
    ----------
    max_bytes : int, optional
        Bound on ``bytes_mapped`` (bytes held from the OS); None (default)
        means unbounded.
    region_size : int, default 4 MiB
        Bytes of an ordinary region, rounded up to the page size.
    cache_bytes : int, default 64 MiB
        How many bytes of empty regions to keep; :meth:`trim` gives them back.
    debug : bool, default False
        Guard bytes around every block, fill patterns on allocate and release,
        detection of double release, foreign pointers and overflows, and a
        leak report (ResourceWarning) when the heap dies with live blocks.

    Raises
    ------
    TypeError
        If a size is not an int.
    ValueError
        If a size is negative.

    Notes
    -----
    Not locked: callers serialise calls (the GIL does it for Python users).

    Examples
    --------
    >>> from segpy.heap import Heap
    >>> h = Heap()
    >>> b = h.allocate(100, align=64)
    >>> b.address % 64
    0
    >>> b.release()
    >>> h.stats["bytes_in_use"]
    0
    """

    cdef heap_t* state     # the common state heads it: self.common, cast

    def __cinit__(self, *args, **kwargs):
        max_bytes, region_size, cache_bytes, debug = _bind_args(
            "Heap", args, kwargs, ("max_bytes", "region_size", "cache_bytes", "debug"), 1,
            (None, 4 * 1024 * 1024, 64 * 1024 * 1024, False))
        self._own(segpy_heap_create(alloc.parse_size(max_bytes, "max_bytes", SIZE_MAX),
                                    alloc.parse_size(region_size, "region_size", 0),
                                    alloc.parse_size(cache_bytes, "cache_bytes", 0),
                                    1 if debug else 0))
        self.state = <heap_t*>self.common

    @property
    def region_size(self):
        """int : Bytes of an ordinary region."""
        return self.state.region_size

    @property
    def cache_bytes(self):
        """int : Bytes of empty regions kept for reuse at most."""
        return self.state.cache_bytes

    def trim(self):
        """Unmap the cached (empty) regions.

        Returns
        -------
        int
            The bytes given back to the OS.
        """
        return heap_trim(self.state)

    @property
    def _n_pending(self):
        """Test hook: free blocks whose coalescing is still deferred (no drain)."""
        return self.state.n_pend_live

    @property
    def _sweep_min(self):
        """Test hook: pending blocks from which a drain sweeps the regions
        (0: always); settable."""
        return self.state.sweep_min

    @_sweep_min.setter
    def _sweep_min(self, value):
        self.state.sweep_min = alloc.parse_size(value, "_sweep_min")

    cdef int _check(self) except -1:
        return heap_check(self.state)

    cdef object _blocks(self):
        cdef heap_t* h = self.state
        cdef size_t r, s
        cdef hblock_t* b
        cdef char* base
        _drain(h)            # show the coalesced blocks
        rows = []
        for r in range(h.n_regs):
            base = h.regs[r].base
            b = <hblock_t*>(base + HEAP_REGION_HDR)
            s = _bsize(b)
            while s != 0:
                _walk_step_ok(self, r, b, s)
                rows.append((r, <size_t>((<char*>b) + HEAP_HDR - base), s - HEAP_HDR,
                             1 if b.size & HEAP_USED else 0))
                b = <hblock_t*>((<char*>b) + s)
                s = _bsize(b)
        return np.array(rows, dtype=_BLOCK_DTYPE)

    cdef object _regions(self):
        cdef heap_t* h = self.state
        cdef size_t r, s, used, n
        cdef hblock_t* b
        cdef char* base
        _drain(h)
        rows = []
        for r in range(h.n_regs):
            base = h.regs[r].base
            b = <hblock_t*>(base + HEAP_REGION_HDR)
            s = _bsize(b)
            used = n = 0
            while s != 0:
                _walk_step_ok(self, r, b, s)
                if b.size & HEAP_USED:
                    n += 1
                    if h.common.debug:
                        used += (<size_t*>((<char*>b) + HEAP_HDR))[0]
                    else:
                        used += s - h.extra
                b = <hblock_t*>((<char*>b) + s)
                s = _bsize(b)
            rows.append((r, <size_t>base, h.regs[r].size, used, n))
        return np.array(rows, dtype=_REGION_DTYPE)


alloc.allocator_register_type(Heap)
