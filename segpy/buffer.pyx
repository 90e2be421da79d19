# cython: language_level=3
"""The buffer allocator: segments carved out of one caller-provided buffer.

The C core (``bufalloc_*``) manages a byte range it does not own: data grows
up from the start, a table of block headers grows down from the end (see the
diagram in ``_buffer.pxd``).  :class:`BufferAllocator` wraps it: it holds a
writable buffer export of the caller's object (bytearray, numpy array,
mmap, ...) for its whole lifetime, so the memory cannot move or vanish while
blocks live in it.

Complexity: ``request`` is O(1) when no free block exists (the common case
of a growing list: append at ``data_end``), else O(n) first fit over the
headers plus an O(n) header insert when it splits; ``release`` finds the
block in O(log n) by binary search and merging costs an O(n) table move;
``grow`` is O(log n) plus at most one table move.
"""

import numpy as np

from segpy.alloc import _BLOCK_DTYPE, _REGION_DTYPE

from cpython.buffer cimport PyBUF_ND
from cpython.buffer cimport PyBUF_STRIDES
from cpython.buffer cimport PyBUF_WRITABLE
from cpython.buffer cimport PyBuffer_IsContiguous
from cpython.buffer cimport PyBuffer_Release
from cpython.buffer cimport PyObject_CheckBuffer
from cpython.buffer cimport PyObject_GetBuffer
from libc.stdint cimport SIZE_MAX
from libc.stdio cimport snprintf
from libc.stdlib cimport calloc
from libc.stdlib cimport free
from libc.string cimport memmove
from libc.string cimport memset

from segpy cimport _alloc
from segpy._buffer cimport BUF_MAGIC
from segpy._buffer cimport BUF_MIN_SIZE
from segpy._buffer cimport BUF_MIN_SPLIT
from segpy._buffer cimport bufalloc_t
from segpy._buffer cimport bufhdr_t
from segpy._os cimport segpy_page_size
from segpy cimport alloc


# ---------------------------------------------------------------------------
# The header table.
# ---------------------------------------------------------------------------

cdef inline bufhdr_t* _hdr(bufalloc_t* a, size_t i) noexcept nogil:
    # Header i lives just below header i - 1; header 0 is just below lim.
    return (<bufhdr_t*>(a.base + a.lim)) - (i + 1)


cdef inline bint _room_for_headers(bufalloc_t* a, size_t data_end, size_t n) noexcept nogil:
    # Whether data ending at data_end and a table of n headers fit without
    # overlapping.  Written so nothing can overflow: n <= lim / H is checked
    # before the multiplication is compared.
    if n > a.lim // sizeof(bufhdr_t):
        return False
    return data_end <= a.lim - n * sizeof(bufhdr_t)


cdef void _insert(bufalloc_t* a, size_t k, size_t start, size_t end, size_t payload,
                  size_t size, int state) noexcept nogil:
    # Headers k .. n-1 move one slot down (to k+1 .. n); the caller checked
    # there is room for one more header.
    cdef bufhdr_t* top = <bufhdr_t*>(a.base + a.lim)
    cdef size_t n = a.n_hdr
    if k < n:
        memmove(top - n - 1, top - n, (n - k) * sizeof(bufhdr_t))
    cdef bufhdr_t* h = top - (k + 1)
    h.start = start
    h.end = end
    h.payload = payload
    h.size = size
    h.state = state
    h.magic = BUF_MAGIC
    a.n_hdr = n + 1


cdef void _remove(bufalloc_t* a, size_t k) noexcept nogil:
    # Headers k+1 .. n-1 move one slot up (to k .. n-2); the freed slot at
    # the low end is wiped so a stale header never looks valid.
    cdef bufhdr_t* top = <bufhdr_t*>(a.base + a.lim)
    cdef size_t n = a.n_hdr
    if k + 1 < n:
        memmove(top - n + 1, top - n, (n - k - 1) * sizeof(bufhdr_t))
    memset(top - n, 0, sizeof(bufhdr_t))
    a.n_hdr = n - 1


cdef size_t _find_payload(bufalloc_t* a, size_t off) noexcept nogil:
    # Index of the last header whose payload is <= off, or n_hdr if none.
    # Payloads strictly increase with the index (each lies in [start, end)
    # and the blocks tile the data area), so binary search is exact.
    cdef size_t lo = 0, hi = a.n_hdr, mid
    while lo < hi:
        mid = lo + (hi - lo) // 2
        if _hdr(a, mid).payload <= off:
            lo = mid + 1
        else:
            hi = mid
    return a.n_hdr if lo == 0 else lo - 1


cdef inline size_t _aligned_payload(bufalloc_t* a, size_t start, size_t align) noexcept nogil:
    # Offset of the first align-aligned *address* at or after start + guard:
    # the buffer's base may have any alignment.
    cdef size_t addr = <size_t>a.base + start + a.guard
    return _alloc.round_up(addr, align) - <size_t>a.base


cdef size_t _first_bad(const char* p, size_t n, unsigned char v) noexcept nogil:
    # Index of the first byte of p[0:n] that is not v, or n.
    cdef size_t i
    for i in range(n):
        if <unsigned char>p[i] != v:
            return i
    return n


cdef int _check_guards(bufalloc_t* a, bufhdr_t* h) noexcept nogil:
    """Debug mode: verify the guard bytes of used block ``h``; 0, or
    SEGPY_ACORRUPT recorded with a message."""
    cdef size_t front = h.payload - h.start
    cdef size_t tail = h.payload + h.size
    cdef size_t bad = _first_bad(a.base + h.start, front, _alloc.DEBUG_GUARD)
    if bad < front:
        snprintf(a.common.message, sizeof(a.common.message),
                 "guard byte at offset %zu before the block at offset %zu (size %zu) "
                 "was overwritten", h.start + bad, h.payload, h.size)
        return _alloc.misuse(&a.common, alloc.SEGPY_ACORRUPT, NULL, 0, 0, 0, NULL)
    bad = _first_bad(a.base + tail, h.end - tail, _alloc.DEBUG_GUARD)
    if bad < h.end - tail:
        snprintf(a.common.message, sizeof(a.common.message),
                 "write past the end of the block at offset %zu (size %zu): "
                 "guard byte at offset %zu (%zu past the end) was overwritten",
                 h.payload, h.size, tail + bad, bad)
        return _alloc.misuse(&a.common, alloc.SEGPY_ACORRUPT, NULL, 0, 0, 0, NULL)
    return 0


cdef void _paint_used(bufalloc_t* a, bufhdr_t* h) noexcept nogil:
    # Debug mode: guard bytes on both sides, fill pattern in the payload.
    memset(a.base + h.start, _alloc.DEBUG_GUARD, h.payload - h.start)
    memset(a.base + h.payload, _alloc.DEBUG_FILL_ALLOC, h.size)
    memset(a.base + h.payload + h.size, _alloc.DEBUG_GUARD, h.end - h.payload - h.size)


cdef inline int _bad(bufalloc_t* a, size_t i, const char* what) noexcept nogil:
    # Header i is damaged: "header <i> offset <payload> size <size>: <what>".
    cdef bufhdr_t* h = _hdr(a, i)
    return _alloc.misuse(&a.common, alloc.SEGPY_ACORRUPT, "header", <Py_ssize_t>i,
                         h.payload, h.size, what)


cdef const char* _hdr_fault(bufalloc_t* a, size_t i) noexcept nogil:
    """Why header ``i`` cannot be trusted, or NULL if it describes a block
    that lies inside the data area and tiles with its predecessor.

    The header table lives in the caller's buffer, which the caller can
    write to directly (it is their bytearray).  So no field of a header is
    used as an offset or a size before it passes this check: a scribbled
    header is then reported as damage instead of sending a read, a fill or
    a handed-out block outside the buffer.  What it relies on is ours, not
    the buffer's: ``data_end`` and ``n_hdr`` live in ``bufalloc_t``, and
    ``data_end <= lim - n_hdr * H`` (both only move to offsets checked
    here or against the table).  O(1); reads only header ``i`` and the
    ``end`` of header ``i - 1``, both inside the table.
    """
    cdef bufhdr_t* h = _hdr(a, i)
    cdef size_t prev_end = _hdr(a, i - 1).end if i > 0 else 0
    if h.magic != BUF_MAGIC:
        return "the header was overwritten (bad magic)"
    if h.state > 1:
        return "bad state"
    if h.end <= h.start or h.end > a.data_end:
        return "the block's end is not within the data area"
    if h.start != prev_end:
        return "the block does not start where the previous one ends"
    if i + 1 == a.n_hdr and h.end != a.data_end:
        return "the top block does not end where the data area does"
    if h.state == 1:
        # Ordered so nothing can wrap: start < end <= data_end < lim.
        if h.size == 0 or h.payload < h.start or h.payload - h.start < a.guard or \
                h.payload >= h.end or h.size > h.end - h.payload or \
                a.guard > h.end - h.payload - h.size:
            return "the payload does not fit in the block"
    elif h.payload != h.start or h.size != 0:
        return "a free block has a payload"
    return NULL


cdef inline int _hdr_check(bufalloc_t* a, size_t i) noexcept nogil:
    # 0, or alloc.SEGPY_ACORRUPT with common.message naming header i.
    cdef const char* why = _hdr_fault(a, i)
    if why == NULL:
        return 0
    return _bad(a, i, why)


# ---------------------------------------------------------------------------
# The C core.
# ---------------------------------------------------------------------------

cdef int bufalloc_init(bufalloc_t* a, char* base, size_t size, size_t max_bytes,
                       int debug) noexcept nogil:
    """Manage ``size`` bytes at ``base``; ``max_bytes`` SIZE_MAX means "the buffer size".

    No GIL needed.  Returns 0, or alloc.SEGPY_AINVAL (with a message) if the
    buffer is smaller than ``BUF_MIN_SIZE`` once its end is aligned for the
    header table.  The buffer is not written to (outside debug mode).
    """
    memset(a, 0, sizeof(bufalloc_t))
    _alloc.common_init(&a.common, size if max_bytes == SIZE_MAX else max_bytes, debug)
    a.base = base
    a.size = size
    # The table's top must be 8-aligned for its size_t fields.
    a.lim = ((<size_t>base + size) & ~(<size_t>7)) - <size_t>base if size >= 8 else 0
    a.guard = _alloc.DEBUG_GUARD_BYTES if debug else 0
    a.common.st.bytes_mapped = size
    a.common.st.n_regions = 1
    if size < BUF_MIN_SIZE or a.lim < BUF_MIN_SIZE - 8:
        snprintf(a.common.message, sizeof(a.common.message),
                 "a buffer of %zu bytes is too small (at least %d needed)",
                 size, <int>BUF_MIN_SIZE)
        return _alloc.misuse(&a.common, alloc.SEGPY_AINVAL, NULL, 0, 0, 0, NULL)
    return 0


cdef void* bufalloc_request(void* ctx, size_t nbytes, size_t align) noexcept nogil:
    """Return ``align``-aligned memory of ``nbytes`` bytes from the buffer, or NULL.

    No GIL needed.  First fit over the free blocks, else the block is
    appended at ``data_end``.  Fails with alloc.SEGPY_ALIMIT if ``max_bytes`` would
    be exceeded or no run of the buffer fits (request and header), with
    alloc.SEGPY_AINVAL for a zero size or a bad alignment, with alloc.SEGPY_ACORRUPT if
    a free block's header (in the caller's buffer) is damaged; nothing
    changes then.
    """
    cdef bufalloc_t* a = <bufalloc_t*>ctx
    cdef alloc.segpy_alloc_common_t* c = &a.common
    cdef size_t g = a.guard
    cdef size_t i, p, u, n = a.n_hdr
    cdef bufhdr_t* h
    if nbytes == 0 or align == 0 or (align & (align - 1)) or align > segpy_page_size():
        snprintf(c.message, sizeof(c.message),
                 "bad request: %zu bytes aligned to %zu", nbytes, align)
        _alloc.fail(c, alloc.SEGPY_AINVAL, nbytes)
        return NULL
    if nbytes > c.st.max_bytes - c.st.bytes_in_use or nbytes > a.lim:
        _alloc.fail(c, alloc.SEGPY_ALIMIT, nbytes)
        return NULL
    # First fit among the free blocks (none in a list that only grows).
    if a.n_free:
        for i in range(n):
            h = _hdr(a, i)
            if h.state != 0:
                continue
            if _hdr_check(a, i) != 0:
                # Damaged: fail the request rather than carve a block
                # whose bounds came from the caller's scribbles.
                _alloc.fail(c, alloc.SEGPY_ACORRUPT, nbytes)
                return NULL
            p = _aligned_payload(a, h.start, align)
            if p >= h.end or nbytes + g > h.end - p:
                continue
            u = p + nbytes + g
            h.state = 1
            h.payload = p
            h.size = nbytes
            a.n_free -= 1
            if h.end - u >= BUF_MIN_SPLIT and _room_for_headers(a, a.data_end, n + 1):
                # The remainder becomes a free block of its own.  Its right
                # neighbour is used (no two free blocks are adjacent), so
                # the invariant holds.
                _insert(a, i + 1, u, h.end, u, 0, 0)
                a.n_free += 1
                h = _hdr(a, i)
                h.end = u
            if c.debug:
                _paint_used(a, h)
            _alloc.note_alloc(c, nbytes)
            return a.base + p
    # Append at the end of the data area: block and one more header must fit.
    p = _aligned_payload(a, a.data_end, align)
    if p > a.lim or nbytes + g > a.lim - p or not _room_for_headers(a, p + nbytes + g, n + 1):
        snprintf(c.message, sizeof(c.message),
                 "no room for %zu bytes aligned to %zu (buffer of %zu bytes, "
                 "%zu used by data, %zu by %zu headers)",
                 nbytes, align, a.size, a.data_end, n * sizeof(bufhdr_t), n)
        _alloc.fail(c, alloc.SEGPY_ALIMIT, nbytes)
        return NULL
    u = p + nbytes + g
    _insert(a, n, a.data_end, u, p, nbytes, 1)
    a.data_end = u
    if c.debug:
        _paint_used(a, _hdr(a, n))
    _alloc.note_alloc(c, nbytes)
    return a.base + p


cdef int _locate(bufalloc_t* a, void* ptr, size_t nbytes, size_t* out) noexcept nogil:
    """Find the used block whose payload starts at ``ptr``, of size ``nbytes``.

    Sets ``out`` and returns 0, or returns a misuse code with a message.
    Only addresses are compared until a live header is found, so any
    ``ptr`` is safe.
    """
    cdef alloc.segpy_alloc_common_t* c = &a.common
    cdef size_t addr = <size_t>ptr, base = <size_t>a.base
    cdef size_t off, i
    cdef bufhdr_t* h
    if addr < base or addr - base >= a.size:
        snprintf(c.message, sizeof(c.message),
                 "address %#zx (size %zu) lies outside the buffer [%#zx, %#zx)",
                 addr, nbytes, base, base + a.size)
        return _alloc.misuse(&a.common, alloc.SEGPY_AFOREIGN, NULL, 0, 0, 0, NULL)
    off = addr - base
    i = _find_payload(a, off)
    if i < a.n_hdr:
        h = _hdr(a, i)
        if h.state == 1 and h.payload == off:
            if _hdr_check(a, i) != 0:
                return alloc.SEGPY_ACORRUPT
            if h.size != nbytes:
                snprintf(c.message, sizeof(c.message),
                         "the block at offset %zu has size %zu, but %zu was given",
                         off, h.size, nbytes)
                return _alloc.misuse(&a.common, alloc.SEGPY_AINVAL, NULL, 0, 0, 0, NULL)
            out[0] = i
            return 0
        if off < h.end and h.state == 0:
            snprintf(c.message, sizeof(c.message),
                     "the block at offset %zu (size %zu) is already free",
                     off, nbytes)
            return _alloc.misuse(&a.common, alloc.SEGPY_ADOUBLE, NULL, 0, 0, 0, NULL)
        if off < h.end:
            snprintf(c.message, sizeof(c.message),
                     "offset %zu (size %zu) is inside the live block at offset %zu "
                     "(size %zu), not its start", off, nbytes, h.payload, h.size)
            return _alloc.misuse(&a.common, alloc.SEGPY_AFOREIGN, NULL, 0, 0, 0, NULL)
    if off >= a.data_end and off < a.lim - a.n_hdr * sizeof(bufhdr_t):
        # In the wilderness: most likely a block that was released (and the
        # data area shrank past it) being released again.
        snprintf(c.message, sizeof(c.message),
                 "the block at offset %zu (size %zu) is already free (unused space)",
                 off, nbytes)
        return _alloc.misuse(&a.common, alloc.SEGPY_ADOUBLE, NULL, 0, 0, 0, NULL)
    snprintf(c.message, sizeof(c.message),
             "offset %zu (size %zu) is not the start of a block", off, nbytes)
    return _alloc.misuse(&a.common, alloc.SEGPY_AFOREIGN, NULL, 0, 0, 0, NULL)


cdef int _locate_intact(bufalloc_t* a, void* ptr, size_t nbytes, size_t* out) noexcept nogil:
    # _locate, and in debug mode the block's guard bytes checked too: what
    # release and grow need before they touch a block.
    cdef int rc = _locate(a, ptr, nbytes, out)
    if rc != 0 or not a.common.debug:
        return rc
    return _check_guards(a, _hdr(a, out[0]))


cdef int bufalloc_release(void* ctx, void* ptr, size_t nbytes) noexcept nogil:
    """Give back a block from :c:func:`bufalloc_request` of this allocator.

    No GIL needed.  Returns 0, or alloc.SEGPY_AFOREIGN (outside the buffer, or not
    the start of a live block), alloc.SEGPY_ADOUBLE (the address is free space),
    alloc.SEGPY_AINVAL (``nbytes`` differs from the request), alloc.SEGPY_ACORRUPT
    (the block's or a neighbour's header is damaged; debug: guard bytes
    overwritten); then nothing changes.  Neighbouring
    free blocks merge, and a free block at the top of the data area is
    handed back to the wilderness.
    """
    cdef bufalloc_t* a = <bufalloc_t*>ctx
    cdef alloc.segpy_alloc_common_t* c = &a.common
    cdef size_t i
    cdef int rc
    cdef bufhdr_t* h
    cdef bufhdr_t* other
    if ptr == NULL:
        return 0
    rc = _locate_intact(a, ptr, nbytes, &i)
    if rc != 0:
        return rc
    # The merges below read the neighbours' offsets: check them first, so
    # that a damaged neighbour fails the release with nothing changed.
    if i + 1 < a.n_hdr and _hdr_check(a, i + 1) != 0:
        return alloc.SEGPY_ACORRUPT
    if i > 0 and _hdr_check(a, i - 1) != 0:
        return alloc.SEGPY_ACORRUPT
    h = _hdr(a, i)
    if c.debug:
        memset(a.base + h.start, _alloc.DEBUG_FILL_FREE, h.end - h.start)
    _alloc.note_release(c, nbytes)
    h.state = 0
    h.size = 0
    h.payload = h.start
    a.n_free += 1
    if i + 1 < a.n_hdr:
        other = _hdr(a, i + 1)
        if other.state == 0:
            h.end = other.end
            _remove(a, i + 1)
            a.n_free -= 1
    if i > 0:
        other = _hdr(a, i - 1)
        if other.state == 0:
            other.end = _hdr(a, i).end
            _remove(a, i)
            a.n_free -= 1
            i -= 1
    if i + 1 == a.n_hdr:
        # The top block is free: give it back to the wilderness so a later
        # append (and the header table) can use it.
        a.data_end = _hdr(a, i).start
        _remove(a, i)
        a.n_free -= 1
    return 0


cdef int bufalloc_grow(void* ctx, void* ptr, size_t old_nbytes,
                       size_t new_nbytes) noexcept nogil:
    """Grow the used block at ``ptr`` from ``old_nbytes`` to ``new_nbytes`` in place.

    No GIL needed.  Succeeds (0) if the block's slack suffices, if it is the
    top block and the wilderness has room, or if a free block follows it
    and is large enough (its rest stays free).  Returns alloc.SEGPY_ANOROOM
    when it cannot grow in place, alloc.SEGPY_ALIMIT when ``max_bytes`` forbids,
    or a misuse code from the lookup or the debug guard check; nothing
    changes then.  ``new_nbytes`` must be > ``old_nbytes``.
    """
    cdef bufalloc_t* a = <bufalloc_t*>ctx
    cdef alloc.segpy_alloc_common_t* c = &a.common
    cdef size_t i, need, more
    cdef int rc
    cdef bufhdr_t* h
    cdef bufhdr_t* nxt
    # Growing would hide a write past the old end: the guards are checked first.
    rc = _locate_intact(a, ptr, old_nbytes, &i)
    if rc != 0:
        return rc
    if new_nbytes <= old_nbytes:
        return alloc.SEGPY_AINVAL
    h = _hdr(a, i)
    more = new_nbytes - old_nbytes
    if more > c.st.max_bytes - c.st.bytes_in_use:
        _alloc.fail(c, alloc.SEGPY_ALIMIT, new_nbytes)
        return alloc.SEGPY_ALIMIT
    if new_nbytes + a.guard > a.lim - h.payload:
        return alloc.SEGPY_ANOROOM
    need = h.payload + new_nbytes + a.guard
    if need <= h.end:
        pass                                    # fits in the slack
    elif i + 1 == a.n_hdr:
        if not _room_for_headers(a, need, a.n_hdr):
            return alloc.SEGPY_ANOROOM
        h.end = need
        a.data_end = need
    else:
        if _hdr_check(a, i + 1) != 0:
            return alloc.SEGPY_ACORRUPT
        nxt = _hdr(a, i + 1)
        if nxt.state != 0 or need > nxt.end:
            return alloc.SEGPY_ANOROOM
        if nxt.end - need >= BUF_MIN_SPLIT:
            nxt.start = need
            nxt.payload = need
            h.end = need
        else:
            h.end = nxt.end
            _remove(a, i + 1)
            a.n_free -= 1
            h = _hdr(a, i)
    if c.debug:
        memset(a.base + h.payload + old_nbytes, _alloc.DEBUG_FILL_ALLOC, more)
        memset(a.base + h.payload + new_nbytes, _alloc.DEBUG_GUARD,
               h.end - h.payload - new_nbytes)
    h.size = new_nbytes
    _alloc.note_grow(c, more)
    return 0


cdef int bufalloc_stats(void* ctx, alloc.segpy_alloc_stats_t* out) noexcept nogil:
    """Copy the counters into ``out`` and fill the derived fields.  No GIL; returns 0.

    ``header_bytes`` is the header table plus, in debug mode, each live
    block's two guard areas.
    """
    cdef bufalloc_t* a = <bufalloc_t*>ctx
    _alloc.stats_out(&a.common, out)
    out.header_bytes = a.n_hdr * sizeof(bufhdr_t) + out.n_blocks * 2 * a.guard
    return 0


cdef int bufalloc_check(bufalloc_t* a) noexcept nogil:
    """Walk the header table and verify every invariant of ``buffer.pxd``.

    No GIL needed.  Returns 0, or alloc.SEGPY_ACORRUPT with a message naming the
    first broken invariant (and the block).
    """
    cdef alloc.segpy_alloc_common_t* c = &a.common
    cdef size_t i, prev_end = 0, used = 0, n_used = 0, n_free = 0
    cdef bint prev_free = False
    cdef bufhdr_t* h
    cdef int rc
    if not _room_for_headers(a, a.data_end, a.n_hdr):
        snprintf(c.message, sizeof(c.message),
                 "the data area (%zu bytes) overlaps the header table (%zu headers)",
                 a.data_end, a.n_hdr)
        return _alloc.misuse(&a.common, alloc.SEGPY_ACORRUPT, NULL, 0, 0, 0, NULL)
    for i in range(a.n_hdr):
        h = _hdr(a, i)
        if h.magic != BUF_MAGIC:
            return _bad(a, i, "the header was overwritten (bad magic)")
        if h.start != prev_end:
            return _bad(a, i, "the block does not start where the previous one ends")
        if h.end <= h.start or h.end > a.data_end:
            return _bad(a, i, "the block's end is not within the data area")
        if h.state == 1:
            if h.size == 0 or h.payload < h.start + a.guard or \
                    h.payload >= h.end or h.size + a.guard > h.end - h.payload:
                return _bad(a, i, "the payload does not fit in the block")
            if c.debug:
                rc = _check_guards(a, h)
                if rc != 0:
                    return rc
            used += h.size
            n_used += 1
            prev_free = False
        elif h.state == 0:
            if prev_free:
                return _bad(a, i, "two adjacent free blocks were not merged")
            if h.payload != h.start or h.size != 0:
                return _bad(a, i, "a free block has a payload")
            n_free += 1
            prev_free = True
        else:
            return _bad(a, i, "bad state")
        prev_end = h.end
    if prev_free:
        return _bad(a, a.n_hdr - 1, "the top block is free (not returned to the wilderness)")
    if prev_end != a.data_end:
        snprintf(c.message, sizeof(c.message),
                 "the blocks end at offset %zu but the data area at %zu", prev_end, a.data_end)
        return _alloc.misuse(&a.common, alloc.SEGPY_ACORRUPT, NULL, 0, 0, 0, NULL)
    if used != c.st.bytes_in_use or n_used != _alloc.n_blocks(c) or n_free != a.n_free:
        snprintf(c.message, sizeof(c.message),
                 "stats disagree with the headers: %zu bytes in %zu used and %zu free "
                 "blocks, stats say %zu bytes in %zu blocks and %zu free",
                 used, n_used, n_free, c.st.bytes_in_use, _alloc.n_blocks(c), a.n_free)
        return _alloc.misuse(&a.common, alloc.SEGPY_ACORRUPT, NULL, 0, 0, 0, NULL)
    return 0


cdef void _bufalloc_free(void* ctx) noexcept nogil:
    # The interface's destroy: only the state; the buffer is the caller's.
    free(ctx)


cdef alloc.segpy_allocator_t* segpy_buffer_create(char* base, size_t size, size_t max_bytes,
                                                  int debug) noexcept nogil:
    """An allocator over the ``size`` bytes at ``base``, which the caller
    owns and must keep until the allocator is destroyed; ``max_bytes``
    SIZE_MAX means "the buffer size".  Returns its interface, or NULL for a
    buffer under 256 bytes or no memory for the state.  The buffer is not
    written to (outside debug mode).  No GIL needed."""
    cdef bufalloc_t* a = <bufalloc_t*>calloc(1, sizeof(bufalloc_t))
    if a == NULL:
        return NULL
    if bufalloc_init(a, base, size, max_bytes, debug) != 0:
        free(a)
        return NULL
    return _alloc.wire(&a.common, "buffer", bufalloc_request, bufalloc_release,
                       bufalloc_stats, bufalloc_grow, _bufalloc_free)


# ---------------------------------------------------------------------------
# Buffers already managed.
# ---------------------------------------------------------------------------
#
# Two allocators over the same bytes would each think they own them: both
# hand out the same offsets, one list overwrites the other's elements, and
# each allocator's header table is overwritten by the other's data.  So the
# address range of every live BufferAllocator's buffer is recorded here,
# and a new one whose range overlaps a recorded one is refused.
#
# One overlap is legitimate: an allocator over memory that a live block of
# another BufferAllocator owns (a sub-arena carved from a Block, or from a
# list segment).  Those bytes are out of the outer allocator's hands until
# the block is released, and the block cannot be released while the inner
# allocator holds its buffer export.
#
# {id(allocator): (start address, end address, address of its bufalloc_t)};
# an entry is added last in __cinit__ and removed first in __dealloc__, so
# every bufalloc_t reached through it is live.  C code calling
# bufalloc_init directly is not recorded (it owns the buffer and its uses).
cdef dict _live_ranges = {}


cdef bint _inside_live_block(bufalloc_t* a, size_t start, size_t end) noexcept nogil:
    # Whether [start, end) lies inside the payload of one used, undamaged
    # block of ``a`` (addresses).  Reads only ``a``'s header table.
    cdef size_t base = <size_t>a.base
    cdef size_t i
    cdef bufhdr_t* h
    if start < base or end - base > a.size:
        return False
    i = _find_payload(a, start - base)
    if i >= a.n_hdr or _hdr_fault(a, i) != NULL:
        return False
    h = _hdr(a, i)
    return h.state == 1 and end - base <= h.payload + h.size


cdef int _claim_range(object key, size_t start, size_t end, bufalloc_t* state) except -1:
    """Record ``[start, end)`` for allocator ``key``, or raise ValueError if it
    overlaps the buffer of another live BufferAllocator (outside one of its
    live blocks)."""
    cdef size_t s, e
    for s, e, st in _live_ranges.values():
        if start < e and s < end and not _inside_live_block(<bufalloc_t*><size_t>st, start, end):
            raise ValueError(
                f"the buffer [{start:#x}, {end:#x}) overlaps [{s:#x}, {e:#x}), the buffer "
                f"of a live BufferAllocator: two allocators over the same bytes would "
                f"hand them out twice.  Give each allocator its own buffer, or carve "
                f"one from a block of the other (allocate())")
    _live_ranges[key] = (start, end, <size_t>state)
    return 0


# ---------------------------------------------------------------------------
# The Python class.
# ---------------------------------------------------------------------------

include "_bind_args.pxi"


cdef class BufferAllocator(alloc.Allocator):
    """BufferAllocator(buffer, *, max_bytes=None, debug=False)
--

An allocator over a caller-provided writable buffer.

    Blocks (and list segments) are carved out of the buffer: data grows up
    from its start, a table of block headers grows down from its end.  Freed
    blocks are reused first fit and merge with free neighbours; the top block
    can grow in place (:meth:`grow`).  No OS call is ever made, so
    :meth:`inject_failure` has no effect.

    The allocator holds a writable export of `buffer` for its whole
    lifetime: while it lives, a ``bytearray`` cannot be resized and an
    ``mmap`` cannot be closed (BufferError).  Lists and blocks keep the
    allocator alive.

    Parameters
    ----------
    buffer : buffer-like
        Any object exporting a writable C-contiguous buffer: ``bytearray``,
        numpy array, ``mmap.mmap``, ... of at least 256 bytes.
    max_bytes : int, optional
        Upper bound on the bytes in use at once.  ``None`` (the default)
        means the buffer's size.
    debug : bool, default False
        Guard bytes around every block, fill patterns (0xCD fresh, 0xDD
        freed), detection of double release, foreign pointers and writes
        past a block's end, and a ResourceWarning for blocks leaked when the
        allocator dies.

    Raises
    ------
    TypeError
        If `buffer` does not support the buffer protocol, or `max_bytes` is
        not an int or None.
    ValueError
        If `buffer` is read-only, not C-contiguous or too small, if it
        overlaps the buffer of another live BufferAllocator (except inside
        one of that allocator's live blocks), or if `max_bytes` is negative.

    Notes
    -----
    Thread model: like every segpy allocator it is not locked; the GIL
    serialises Python callers, and C code must serialise its own calls.
    The test hooks ``_request_raw`` and ``_release_raw`` drive the C seam
    with raw addresses.

    Examples
    --------
    >>> import segpy
    >>> from segpy.buffer import BufferAllocator
    >>> buf = bytearray(1 << 16)
    >>> a = BufferAllocator(buf)
    >>> b = a.allocate(8)
    >>> memoryview(b)[:] = b"segpy!!!"
    >>> off = b.address - int(a.regions()["address"][0])
    >>> bytes(buf[off:off + 8])
    b'segpy!!!'
    """

    cdef bufalloc_t* state     # the common state heads it: self.common, cast
    cdef Py_buffer view        # the export held for the allocator's lifetime
    cdef bint have_view

    def __cinit__(self, *args, **kwargs):
        buffer, max_bytes, debug = _bind_args(
            "BufferAllocator", args, kwargs, ("buffer", "max_bytes", "debug"), 1,
            (_REQUIRED, None, False))
        cdef Py_buffer probe
        cdef size_t limit = alloc.parse_size(max_bytes, "max_bytes", SIZE_MAX)
        self.have_view = False
        if not PyObject_CheckBuffer(buffer):
            raise TypeError(f"BufferAllocator needs an object with a writable buffer, "
                            f"got {type(buffer).__name__}")
        # Probe first (any layout, read-only allowed) so that each refusal
        # gets its own clear error, then take the export we keep.
        PyObject_GetBuffer(buffer, &probe, PyBUF_STRIDES)
        readonly = probe.readonly
        contiguous = PyBuffer_IsContiguous(&probe, b'C')
        PyBuffer_Release(&probe)
        if readonly:
            raise ValueError(f"the {type(buffer).__name__} buffer is read-only")
        if not contiguous:
            raise ValueError(f"the {type(buffer).__name__} buffer is not C-contiguous")
        PyObject_GetBuffer(buffer, &self.view, PyBUF_WRITABLE | PyBUF_ND)
        self.have_view = True
        if not PyBuffer_IsContiguous(&self.view, b'C'):   # an exporter that lied
            PyBuffer_Release(&self.view)
            self.have_view = False
            raise ValueError(f"the {type(buffer).__name__} buffer is not C-contiguous")
        cdef Py_ssize_t length = self.view.len
        if length < BUF_MIN_SIZE:
            PyBuffer_Release(&self.view)
            self.have_view = False
            raise ValueError(f"a buffer of {length} bytes is too small for a "
                             f"BufferAllocator (at least {<int>BUF_MIN_SIZE} bytes)")
        self._own(segpy_buffer_create(<char*>self.view.buf, <size_t>length, limit,
                                      1 if debug else 0))
        self.state = <bufalloc_t*>self.common
        # Last: a failed constructor leaves no entry (its __dealloc__ then
        # destroys the state and releases the buffer).
        _claim_range(id(self), <size_t>self.view.buf, <size_t>self.view.buf + <size_t>length,
                     self.state)

    def __dealloc__(self):
        # First: from here on no other allocator may read self.state.
        if _live_ranges is not None:     # None during interpreter teardown
            _live_ranges.pop(id(self), None)
        self._destroy()       # the state reads the buffer: before its release
        if self.have_view:
            PyBuffer_Release(&self.view)
            self.have_view = False

    @property
    def buffer(self):
        """object : The buffer-providing object the allocator manages."""
        return self.view.obj if self.have_view else None

    cdef int _check(self) except -1:
        return bufalloc_check(self.state)

    cdef object _blocks(self):
        cdef size_t i
        cdef bufhdr_t* h
        rows = []
        for i in range(self.state.n_hdr):
            if _hdr_check(self.state, i) != 0:
                alloc.raise_misuse(self, alloc.SEGPY_ACORRUPT)
            h = _hdr(self.state, i)
            if h.state == 1:
                rows.append((0, h.payload, h.size, 1))
            else:
                rows.append((0, h.start, h.end - h.start, 0))
        return np.array(rows, dtype=_BLOCK_DTYPE)

    cdef object _regions(self):
        return np.array([(0, <size_t>self.state.base, self.state.size,
                          self.state.common.st.bytes_in_use, _alloc.n_blocks(self.common))],
                        dtype=_REGION_DTYPE)


alloc.allocator_register_type(BufferAllocator)
