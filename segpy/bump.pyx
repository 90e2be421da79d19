# cython: language_level=3
"""The bump arena allocator (see ``_bump.pxd`` for the layout and invariants).

Allocation is an aligned bump of a pointer inside the current arena block;
release is a no-op except that the most recent allocation is rolled back.
Memory comes back all at once: :meth:`BumpAllocator.reset` (keeps the
largest block) or the end of a :meth:`BumpAllocator.scope`.
"""

cimport cython

import numpy as np

from segpy.alloc import _BLOCK_DTYPE, _REGION_DTYPE

from libc.stdint cimport SIZE_MAX
from libc.stdio cimport snprintf
from libc.stdlib cimport calloc
from libc.stdlib cimport free
from libc.stdlib cimport malloc
from libc.stdlib cimport realloc
from libc.string cimport memset

from segpy cimport _alloc
from segpy._bump cimport BUMP_HDR_BYTES
from segpy._bump cimport BUMP_MAGIC
from segpy._bump cimport BUMP_MAX_BLOCKS
from segpy._bump cimport BUMP_MIN_BLOCK
from segpy._bump cimport BUMP_STATE_FREE
from segpy._bump cimport BUMP_STATE_LIVE
from segpy._bump cimport bump_block_t
from segpy._bump cimport bump_hdr_t
from segpy._bump cimport bump_request_fast
from segpy._bump cimport bump_scope_t
from segpy._bump cimport bump_t
from segpy._os cimport segpy_page_size
from segpy cimport alloc

from segpy.alloc import AllocatorError


# ---------------------------------------------------------------------------
# The C core.  Every function is noexcept nogil and reports failure by its
# return value, recording the cause in b.common (and common.message).
# ---------------------------------------------------------------------------

cdef int bump_init(bump_t* b, size_t max_bytes, size_t first_block, int debug) noexcept nogil:
    """Initialise an empty arena (maps nothing yet).

    ``first_block`` is rounded up to a page and to at least 4096 bytes.
    Returns 0, or alloc.SEGPY_AOS if the scope table could not be allocated.
    """
    memset(b, 0, sizeof(bump_t))
    _alloc.common_init(&b.common, max_bytes, debug)
    b.max_align = segpy_page_size()
    if first_block < BUMP_MIN_BLOCK:
        first_block = BUMP_MIN_BLOCK
    b.first_block = _alloc.round_up(first_block, b.max_align)
    b.cur = -1
    b.request_slow = bump_request_slow
    b.scopes = <bump_scope_t*>malloc(8 * sizeof(bump_scope_t))
    if b.scopes == NULL:
        return _alloc.fail(&b.common, alloc.SEGPY_AOS, 0)
    b.scope_cap = 8
    b.n_scopes = 1
    memset(b.scopes, 0, sizeof(bump_scope_t))   # sentinel frame: checkpoint (0, 0)
    return 0


cdef int bump_destroy(bump_t* b) noexcept nogil:
    """Unmap every arena block and free the scope table, live allocations or not.

    Safe on a zeroed or already destroyed state.  Returns 0 (or alloc.SEGPY_AOS if
    the OS refused an unmap; the rest are still unmapped).
    """
    cdef int i
    cdef int rc = 0
    for i in range(b.n):
        if _alloc.unmap_pages(&b.common, b.blocks[i].base, b.blocks[i].size) != 0:
            rc = alloc.SEGPY_AOS
    b.n = 0
    b.cur = -1
    b.top = b.end = b.last = b.last_top = NULL
    free(b.scopes)
    b.scopes = NULL
    b.n_scopes = 0
    b.scope_cap = 0
    return rc


cdef inline size_t _used(const bump_t* b, int i) noexcept nogil:
    # Bytes bumped in block i: exact for earlier blocks, the pointer for the
    # current one, and 0 for the empty cached blocks after it.
    if i < b.cur:
        return b.blocks[i].used
    if i == b.cur:
        return <size_t>(b.top - b.blocks[i].base)
    return 0


cdef inline void _fill_guard(char* p) noexcept nogil:
    memset(p, _alloc.DEBUG_GUARD, _alloc.DEBUG_GUARD_BYTES)


cdef inline int _guard_ok(const char* p) noexcept nogil:
    cdef int k
    for k in range(_alloc.DEBUG_GUARD_BYTES):
        if <unsigned char>p[k] != _alloc.DEBUG_GUARD:
            return 0
    return 1


cdef inline void _commit(bump_t* b, char* p, char* old_top, size_t nbytes) noexcept nogil:
    # Book one successful allocation (payload p) made from old_top.
    b.last = p
    b.last_top = old_top
    b.last_nbytes = nbytes
    b.blocks[b.cur].n_live += 1
    b.scopes[b.n_scopes - 1].n_live += 1
    _alloc.note_alloc(&b.common, nbytes)


cdef char* _place(bump_t* b, size_t nbytes, size_t align) noexcept nogil:
    """Carve an allocation from the current block; NULL (nothing changed) if
    it does not fit.  The caller validated nbytes and align."""
    cdef char* top = b.top
    cdef size_t p, h
    cdef bump_hdr_t* hdr
    if b.cur < 0:
        return NULL
    if b.common.debug == 0:
        p = _alloc.round_up(<size_t>top, align)
        if p > <size_t>b.end or nbytes > <size_t>b.end - p:
            return NULL
        b.top = <char*>(p + nbytes)
    else:
        if align < BUMP_HDR_BYTES:
            align = BUMP_HDR_BYTES
        p = _alloc.round_up(<size_t>top + BUMP_HDR_BYTES, align)
        if (p > <size_t>b.end or nbytes > <size_t>b.end - p
                or _alloc.DEBUG_GUARD_BYTES > <size_t>b.end - p - nbytes):
            return NULL
        h = p - BUMP_HDR_BYTES
        memset(top, _alloc.DEBUG_GUARD, h - <size_t>top)    # pad
        hdr = <bump_hdr_t*>h
        hdr.magic = BUMP_MAGIC
        hdr.state = BUMP_STATE_LIVE
        hdr.nbytes = nbytes
        memset(<char*>p, _alloc.DEBUG_FILL_ALLOC, nbytes)
        _fill_guard(<char*>p + nbytes)
        b.top = <char*>(p + nbytes + _alloc.DEBUG_GUARD_BYTES)
    _commit(b, <char*>p, top, nbytes)
    return <char*>p


cdef int _next_block(bump_t* b, size_t need, size_t request) noexcept nogil:
    """Make the block after cur current, at least ``need`` bytes.

    Reuses an empty cached block (those after cur, left by a scope rewind)
    if one is large enough, else maps a new one: twice the current block or
    ``need`` rounded to a page.  Returns 0, or alloc.SEGPY_ALIMIT / alloc.SEGPY_AOS /
    alloc.SEGPY_AINVAL with nothing changed.
    """
    cdef int i, k
    cdef size_t size
    cdef bump_block_t tmp
    cdef char* base
    k = -1
    for i in range(b.cur + 1, b.n):
        if b.blocks[i].size >= need:
            k = i
            break
    if k < 0:
        if b.n >= BUMP_MAX_BLOCKS:
            snprintf(b.common.message, sizeof(b.common.message),
                     "the arena block table is full (%d blocks)", b.n)
            return _alloc.fail(&b.common, alloc.SEGPY_AINVAL, request)
        if b.cur < 0:
            size = b.first_block
        else:
            size = b.blocks[b.cur].size
            size = size * 2 if size <= SIZE_MAX // 2 else size
        if size < need:
            size = need
        if not _alloc.limit_ok(&b.common, size, request):
            return b.common.last_error
        base = <char*>_alloc.map_pages(&b.common, size, request)
        if base == NULL:
            return b.common.last_error
        k = b.n
        b.n += 1
        b.blocks[k].base = base
        b.blocks[k].size = size
        b.blocks[k].used = 0
        b.blocks[k].n_live = 0
    # Blocks after cur are all empty, so their order is free: bring k next.
    if k != b.cur + 1:
        tmp = b.blocks[k]
        b.blocks[k] = b.blocks[b.cur + 1]
        b.blocks[b.cur + 1] = tmp
    if b.cur >= 0:
        b.blocks[b.cur].used = <size_t>(b.top - b.blocks[b.cur].base)
    b.cur += 1
    b.blocks[b.cur].used = 0
    b.top = b.blocks[b.cur].base
    b.end = b.top + b.blocks[b.cur].size
    return 0


cdef void* bump_request_slow(void* ctx, size_t nbytes, size_t align) noexcept nogil:
    """Validate, then place in the current block or move to the next one."""
    cdef bump_t* b = <bump_t*>ctx
    cdef char* p
    cdef size_t need
    cdef int rc
    if nbytes == 0 or align == 0 or (align & (align - 1)) or align > b.max_align:
        snprintf(b.common.message, sizeof(b.common.message),
                 "bad request: %zu bytes aligned to %zu (align must be a power "
                 "of two up to %zu)", nbytes, align, b.max_align)
        _alloc.fail(&b.common, alloc.SEGPY_AINVAL, nbytes)
        return NULL
    if nbytes > (SIZE_MAX >> 2):
        if not _alloc.limit_ok(&b.common, SIZE_MAX, nbytes):
            return NULL
        _alloc.fail(&b.common, alloc.SEGPY_AINVAL, nbytes)
        return NULL
    p = _place(b, nbytes, align)
    if p != NULL:
        return p
    # Room for the request in a fresh block: payload, alignment slack and,
    # in debug mode, the header and guard.
    need = nbytes + align
    if b.common.debug:
        need += BUMP_HDR_BYTES * 2 + _alloc.DEBUG_GUARD_BYTES
    need = _alloc.round_up(need, b.max_align)
    rc = _next_block(b, need, nbytes)
    if rc != 0:
        return NULL
    return _place(b, nbytes, align)


cdef void* bump_request(void* ctx, size_t nbytes, size_t align) noexcept nogil:
    """The seam's request: ``align``-aligned memory of ``nbytes``, or NULL."""
    return bump_request_fast(<bump_t*>ctx, nbytes, align)


cdef int _find_block(const bump_t* b, const char* p) noexcept nogil:
    # Arena block holding p, or -1.  Most releases hit the current block,
    # so scan from it down, then the (empty) cached ones.
    cdef int i
    for i in range(b.cur, -1, -1):
        if b.blocks[i].base <= p < b.blocks[i].base + b.blocks[i].size:
            return i
    for i in range(b.cur + 1, b.n):
        if b.blocks[i].base <= p < b.blocks[i].base + b.blocks[i].size:
            return i
    return -1


cdef inline int _frame_of(const bump_t* b, int i, size_t off) noexcept nogil:
    # Innermost scope frame whose checkpoint is at or before (i, off); the
    # sentinel frame 0 (checkpoint (0, 0)) always qualifies.
    cdef int f = b.n_scopes - 1
    while f > 0:
        if b.scopes[f].blk < i or (b.scopes[f].blk == i and b.scopes[f].off <= off):
            return f
        f -= 1
    return 0


cdef inline int _misuse(bump_t* b, int code, int i, size_t off, size_t nbytes,
                        const char* what) noexcept nogil:
    return _alloc.misuse(&b.common, code, "arena block", i, off, nbytes, what)


cdef int bump_release(void* ctx, void* ptr, size_t nbytes) noexcept nogil:
    """The seam's release: a no-op except for bookkeeping, and a rollback of
    the most recent allocation.

    Returns 0, or alloc.SEGPY_AFOREIGN (not inside any arena block: checked before
    any memory is read), alloc.SEGPY_ADOUBLE (not a live allocation) or, in debug
    mode, alloc.SEGPY_ACORRUPT (damaged header or guard, or a size mismatch); on
    error nothing changes.
    """
    cdef bump_t* b = <bump_t*>ctx
    cdef char* p = <char*>ptr
    cdef int i, f
    cdef size_t off, used
    cdef bump_hdr_t* hdr
    if p == NULL:
        return 0
    i = _find_block(b, p)
    if i < 0:
        snprintf(b.common.message, sizeof(b.common.message),
                 "address %p (size %zu) is not inside any of the %d arena blocks",
                 ptr, nbytes, b.n)
        return _alloc.misuse(&b.common, alloc.SEGPY_AFOREIGN, NULL, 0, 0, 0, NULL)
    off = <size_t>(p - b.blocks[i].base)
    used = _used(b, i)
    if nbytes == 0 or off >= used or nbytes > used - off:
        return _misuse(b, alloc.SEGPY_ADOUBLE, i, off, nbytes,
                       "not a live allocation (beyond the bump pointer)")
    f = _frame_of(b, i, off)
    if b.blocks[i].n_live == 0 or b.scopes[f].n_live == 0:
        return _misuse(b, alloc.SEGPY_ADOUBLE, i, off, nbytes,
                       "not a live allocation (none live in that range)")
    if b.common.debug:
        if off < BUMP_HDR_BYTES:
            return _misuse(b, alloc.SEGPY_ACORRUPT, i, off, nbytes, "no room for a header")
        hdr = <bump_hdr_t*>(p - BUMP_HDR_BYTES)
        if hdr.magic != BUMP_MAGIC:
            return _misuse(b, alloc.SEGPY_ACORRUPT, i, off, nbytes,
                           "header damaged (or not an allocation)")
        if hdr.state == BUMP_STATE_FREE:
            return _misuse(b, alloc.SEGPY_ADOUBLE, i, off, nbytes, "already released")
        if hdr.state != BUMP_STATE_LIVE or hdr.nbytes != nbytes:
            return _misuse(b, alloc.SEGPY_ACORRUPT, i, off, nbytes,
                           "header damaged or released with the wrong size")
        if nbytes + _alloc.DEBUG_GUARD_BYTES > used - off or not _guard_ok(p + nbytes):
            return _misuse(b, alloc.SEGPY_ACORRUPT, i, off, nbytes,
                           "guard bytes after the block overwritten")
        hdr.state = BUMP_STATE_FREE
        memset(p, _alloc.DEBUG_FILL_FREE, nbytes)
    b.blocks[i].n_live -= 1
    b.scopes[f].n_live -= 1
    _alloc.note_release(&b.common, nbytes)
    if p == b.last and nbytes == b.last_nbytes:
        # Roll back the most recent allocation (it is in blocks[cur] and
        # after every checkpoint: a scope push clears `last`).
        b.top = b.last_top
        b.last = NULL
    return 0


cdef int bump_stats(void* ctx, alloc.segpy_alloc_stats_t* out) noexcept nogil:
    """Copy the counters into ``out`` and fill the derived fields; returns 0."""
    cdef bump_t* b = <bump_t*>ctx
    cdef int i
    _alloc.stats_out(&b.common, out)
    out.header_bytes = 0
    if b.common.debug:
        out.header_bytes = out.n_blocks * (BUMP_HDR_BYTES + _alloc.DEBUG_GUARD_BYTES)
    out.cached_bytes = 0
    for i in range(b.cur + 1, b.n):
        out.cached_bytes += b.blocks[i].size
    return 0


cdef int bump_grow(void* ctx, void* p, size_t old_nbytes, size_t new_nbytes) noexcept nogil:
    """The interface's grow: the most recent allocation, in place, to ``new_nbytes``.

    Returns 0, or alloc.SEGPY_ANOROOM (nothing changed) if ``p`` is not the most
    recent live allocation of ``old_nbytes``, ``new_nbytes`` is smaller, or
    the current block has no room.
    """
    cdef bump_t* b = <bump_t*>ctx
    cdef char* q = <char*>p
    cdef size_t extra = _alloc.DEBUG_GUARD_BYTES if b.common.debug else 0
    cdef size_t room
    if q == NULL or q != b.last or old_nbytes != b.last_nbytes or new_nbytes < old_nbytes:
        return alloc.SEGPY_ANOROOM
    room = <size_t>(b.end - q)
    if new_nbytes > room or extra > room - new_nbytes:
        return alloc.SEGPY_ANOROOM
    if b.common.debug:
        (<bump_hdr_t*>(q - BUMP_HDR_BYTES)).nbytes = new_nbytes
        memset(q + old_nbytes, _alloc.DEBUG_FILL_ALLOC, new_nbytes - old_nbytes)
        _fill_guard(q + new_nbytes)
    b.top = q + new_nbytes + extra
    b.last_nbytes = new_nbytes
    _alloc.note_grow(&b.common, new_nbytes - old_nbytes)
    return 0


cdef int bump_reset(bump_t* b) noexcept nogil:
    """Forget every allocation: keep the largest block, unmap the others.

    O(number of blocks).  Returns 0; alloc.SEGPY_ABUSY (nothing changed) if an
    allocation is live or a scope is open; alloc.SEGPY_AOS if the OS refused an
    unmap (that block then stays, empty, in the table).
    """
    cdef int i, k, m
    cdef int rc = 0
    cdef bump_block_t keep
    if _alloc.n_blocks(&b.common) != 0:
        snprintf(b.common.message, sizeof(b.common.message),
                 "reset with %zu live allocation(s) holding %zu bytes",
                 _alloc.n_blocks(&b.common), b.common.st.bytes_in_use)
        return _alloc.misuse(&b.common, alloc.SEGPY_ABUSY, NULL, 0, 0, 0, NULL)
    if b.n_scopes > 1:
        snprintf(b.common.message, sizeof(b.common.message),
                 "reset inside %d open scope(s)", b.n_scopes - 1)
        return _alloc.misuse(&b.common, alloc.SEGPY_ABUSY, NULL, 0, 0, 0, NULL)
    if b.n == 0:
        return 0
    k = 0
    for i in range(1, b.n):
        if b.blocks[i].size > b.blocks[k].size:
            k = i
    keep = b.blocks[k]
    if b.common.debug:
        memset(keep.base, _alloc.DEBUG_FILL_FREE, _used(b, k))
    m = 1
    for i in range(b.n):
        if i == k:
            continue
        if _alloc.unmap_pages(&b.common, b.blocks[i].base, b.blocks[i].size) != 0:
            b.blocks[m] = b.blocks[i]
            m += 1
            rc = alloc.SEGPY_AOS
    b.blocks[0] = keep
    b.n = m
    for i in range(b.n):
        b.blocks[i].used = 0
        b.blocks[i].n_live = 0
    b.cur = 0
    b.top = keep.base
    b.end = keep.base + keep.size
    b.last = NULL
    return rc


cdef int bump_scope_push(bump_t* b) noexcept nogil:
    """Open a scope: checkpoint (cur, top).  Returns 0 or alloc.SEGPY_AOS (no memory
    for the frame; nothing changed)."""
    cdef bump_scope_t* s
    cdef bump_scope_t* fr
    if b.n_scopes == b.scope_cap:
        s = <bump_scope_t*>realloc(b.scopes, 2 * b.scope_cap * sizeof(bump_scope_t))
        if s == NULL:
            return _alloc.fail(&b.common, alloc.SEGPY_AOS, 0)
        b.scopes = s
        b.scope_cap *= 2
    fr = &b.scopes[b.n_scopes]
    if b.cur < 0:
        fr.blk = 0
        fr.off = 0
    else:
        fr.blk = b.cur
        fr.off = <size_t>(b.top - b.blocks[b.cur].base)
    fr.n_live = 0
    b.n_scopes += 1
    # No rollback across a checkpoint: it could move top below it.
    b.last = NULL
    return 0


cdef int bump_scope_pop(bump_t* b) noexcept nogil:
    """Close the innermost scope, rewinding the arena to its checkpoint.

    Blocks mapped inside the scope stay mapped (empty, cached) for reuse.
    Returns 0; alloc.SEGPY_ABUSY if allocations made inside are still live: the
    frame is closed but nothing is rewound (those allocations now belong to
    the enclosing frame); alloc.SEGPY_AINVAL if no scope is open.
    """
    cdef bump_scope_t fr
    cdef int i
    if b.n_scopes <= 1:
        snprintf(b.common.message, sizeof(b.common.message), "no scope is open")
        return _alloc.misuse(&b.common, alloc.SEGPY_AINVAL, NULL, 0, 0, 0, NULL)
    fr = b.scopes[b.n_scopes - 1]
    b.n_scopes -= 1
    if fr.n_live != 0:
        b.scopes[b.n_scopes - 1].n_live += fr.n_live
        snprintf(b.common.message, sizeof(b.common.message),
                 "scope exit with %zu live allocation(s) made inside it "
                 "(checkpoint: arena block %d offset %zu); nothing was rewound",
                 fr.n_live, fr.blk, fr.off)
        return _alloc.misuse(&b.common, alloc.SEGPY_ABUSY, NULL, 0, 0, 0, NULL)
    if b.cur < 0:
        return 0
    if b.common.debug:
        for i in range(fr.blk, b.cur + 1):
            if i == fr.blk:
                memset(b.blocks[i].base + fr.off, _alloc.DEBUG_FILL_FREE, _used(b, i) - fr.off)
            else:
                memset(b.blocks[i].base, _alloc.DEBUG_FILL_FREE, _used(b, i))
    for i in range(fr.blk + 1, b.cur + 1):
        b.blocks[i].used = 0
    b.cur = fr.blk
    b.top = b.blocks[fr.blk].base + fr.off
    b.end = b.blocks[fr.blk].base + b.blocks[fr.blk].size
    b.last = NULL
    return 0


cdef void _bump_free(void* ctx) noexcept nogil:
    # The interface's destroy: every arena block, the scope table, the state.
    bump_destroy(<bump_t*>ctx)
    free(ctx)


cdef alloc.segpy_allocator_t* segpy_bump_create(size_t max_bytes, size_t first_block,
                                                int debug) noexcept nogil:
    """A bump arena (maps nothing yet); ``first_block`` is rounded up to a
    page (at least 4096 bytes), ``max_bytes`` (SIZE_MAX: unbounded) bounds
    the bytes mapped.  Returns its interface, or NULL if its state or scope
    table could not be allocated.  No GIL needed."""
    cdef bump_t* b = <bump_t*>calloc(1, sizeof(bump_t))
    if b == NULL:
        return NULL
    if bump_init(b, max_bytes, first_block, debug) != 0:
        free(b)
        return NULL
    return _alloc.wire(&b.common, "bump", bump_request, bump_release, bump_stats,
                       bump_grow, _bump_free)


cdef list _walk(bump_t* b, int i):
    # Debug mode: the (payload offset, size, state) of every allocation in
    # arena block i, checking each header and guard on the way.
    cdef char* base = b.blocks[i].base
    cdef size_t used = _used(b, i)
    cdef size_t off = 0
    cdef bump_hdr_t* hdr
    out = []
    while off < used:
        while off < used and <unsigned char>base[off] == _alloc.DEBUG_GUARD:
            off += 1
        if off == used:
            break
        if used - off < BUMP_HDR_BYTES:
            raise AllocatorError(f"bump: arena block {i} offset {off}: truncated header")
        hdr = <bump_hdr_t*>(base + off)
        if hdr.magic != BUMP_MAGIC or hdr.state > 1:
            raise AllocatorError(
                f"bump: damaged block: arena block {i} offset {off}: header overwritten")
        off += BUMP_HDR_BYTES
        if hdr.nbytes > used - off or _alloc.DEBUG_GUARD_BYTES > used - off - hdr.nbytes:
            raise AllocatorError(
                f"bump: damaged block: arena block {i} offset {off} size {hdr.nbytes}: "
                f"size runs past the bump pointer")
        if not _guard_ok(base + off + hdr.nbytes):
            raise AllocatorError(
                f"bump: damaged block: arena block {i} offset {off} size {hdr.nbytes}: "
                f"guard bytes after the block overwritten")
        out.append((off, hdr.nbytes, hdr.state))
        off += hdr.nbytes + _alloc.DEBUG_GUARD_BYTES
    return out


# ---------------------------------------------------------------------------
# The Python class.
# ---------------------------------------------------------------------------

# The life of a _Scope object: entered once, exited once.
cdef enum:
    _SCOPE_NEW = 0
    _SCOPE_OPEN = 1
    _SCOPE_CLOSED = 2


@cython.final
cdef class _Scope:
    """The context manager returned by :meth:`BumpAllocator.scope`.

    Each scope object owns exactly one frame of the arena's scope stack,
    the one its ``__enter__`` pushed, at index ``depth``.  Its ``__exit__``
    pops that frame and no other: the C pop closes whatever frame is
    innermost, so a second exit, an exit without an enter, or an exit while
    a scope opened after this one is still open would close a frame that
    belongs to someone else (an enclosing ``with`` block's, whose own exit
    would then rewind too far or fail).  Those are refused with
    RuntimeError and leave the arena exactly as it was.

    Made only by :meth:`BumpAllocator.scope` (the type refuses direct
    construction: ``arena`` is never None).
    """
    cdef BumpAllocator arena
    cdef int depth       # index of this scope's frame in arena.state.scopes while open
    cdef int phase       # _SCOPE_NEW, _SCOPE_OPEN or _SCOPE_CLOSED

    def __enter__(self):
        if self.phase != _SCOPE_NEW:
            raise RuntimeError("a scope object can be entered only once")
        cdef int rc = bump_scope_push(self.arena.state)
        if rc != 0:
            raise MemoryError("bump allocator: no memory for a scope frame")
        self.depth = self.arena.state.n_scopes - 1
        self.phase = _SCOPE_OPEN
        return self.arena

    def __exit__(self, *exc):
        cdef bump_t* b = self.arena.state
        if self.phase == _SCOPE_NEW:
            raise RuntimeError("exit of a scope that was never entered; nothing was rewound")
        if self.phase == _SCOPE_CLOSED:
            raise RuntimeError(
                "this scope was already exited; exiting it again would close the "
                "enclosing scope.  Nothing was rewound")
        if b.n_scopes - 1 > self.depth:
            raise RuntimeError(
                f"scope exited out of order: {b.n_scopes - 1 - self.depth} scope(s) "
                f"entered after it are still open; exit them first.  Nothing was rewound")
        if b.n_scopes - 1 < self.depth:
            # Its frame was popped behind its back (by C code driving the
            # same arena): there is nothing of its own left to close.
            self.phase = _SCOPE_CLOSED
            raise RuntimeError("the scope's frame was already closed; nothing was rewound")
        # Invariant: the innermost frame is this scope's own.
        cdef int rc = bump_scope_pop(b)
        self.phase = _SCOPE_CLOSED     # popped even when rc is alloc.SEGPY_ABUSY
        if rc != 0:
            alloc.raise_misuse(self.arena, rc)
        return False


alloc.segpy_seal_new(_Scope, "made by BumpAllocator.scope()")


include "_bind_args.pxi"


cdef class BumpAllocator(alloc.Allocator):
    """BumpAllocator(max_bytes=None, *, first_block=4096, debug=False)
--

A segmented bump arena over mmap: very fast allocation, bulk release.

    Arena blocks are mapped from the OS as needed: the first has
    `first_block` bytes, each next one twice the previous (or enough for a
    larger request).  Allocating bumps a pointer in the current block.
    Releasing is free, and the most recent allocation is rolled back, so a
    list that grows and shrinks at the end reuses its memory; everything
    else comes back at :meth:`reset` or at the end of a :meth:`scope`.

    Parameters
    ----------
    max_bytes : int, optional
        Upper bound on the bytes mapped from the OS; a request needing a new
        block beyond it raises MemoryError and changes nothing.  ``None``
        (the default) means unbounded.
    first_block : int, default 4096
        Size of the first arena block, rounded up to a page (at least 4096).
    debug : bool, default False
        Frame every allocation with a header and guard bytes, fill fresh and
        released memory with patterns, detect double and foreign releases and
        overruns, and warn about leaks when the arena dies.

    Raises
    ------
    TypeError
        If `max_bytes` or `first_block` is not an int.
    ValueError
        If `max_bytes` or `first_block` is negative or absurdly large.

    Notes
    -----
    Not locked: callers serialise (the GIL does for Python users).

    Examples
    --------
    >>> import segpy
    >>> from segpy.bump import BumpAllocator
    >>> arena = BumpAllocator()
    >>> with arena.scope():
    ...     lst = segpy.SegmentedList("q", range(100), allocator=arena)
    ...     total = sum(lst)
    ...     del lst
    >>> arena.stats["bytes_in_use"]
    0
    """

    cdef bump_t* state     # the common state heads it: self.common, cast

    def __cinit__(self, *args, **kwargs):
        max_bytes, first_block, debug = _bind_args(
            "BumpAllocator", args, kwargs, ("max_bytes", "first_block", "debug"), 1,
            (None, 4096, False))
        cdef size_t limit = alloc.parse_size(max_bytes, "max_bytes", SIZE_MAX)
        cdef size_t first = alloc.parse_size(first_block, "first_block", None, SIZE_MAX >> 2)
        self._own(segpy_bump_create(limit, first, 1 if debug else 0))
        self.state = <bump_t*>self.common

    @property
    def first_block(self):
        """int : Size of the first arena block (rounded up to a page)."""
        return self.state.first_block

    def scope(self):
        """A checkpoint: everything allocated inside the ``with`` block is
        rewound at its end.

        Scopes nest.  Arena blocks mapped inside stay mapped (empty) and are
        reused by later allocations.

        Returns
        -------
        context manager
            Its ``__enter__`` returns the arena.

        Raises
        ------
        AllocatorError
            At exit, if an allocation made inside is still live (a list or
            Block that escaped).  Then nothing is rewound: the arena is left
            as it was and those allocations stay valid.

        Examples
        --------
        >>> from segpy.bump import BumpAllocator
        >>> arena = BumpAllocator()
        >>> with arena.scope():
        ...     b = arena.allocate(100)
        ...     del b
        """
        cdef _Scope s = _Scope.__new__(_Scope)
        s.arena = self
        return s

    def reset(self):
        """Forget all allocations; keep the largest arena block, unmap the others.

        Its cost grows with the number of arena blocks, not allocations.

        Raises
        ------
        AllocatorError
            If any allocation (a list's segment, a Block) is still live, or a
            scope is open; nothing changes.
        """
        cdef int rc = bump_reset(self.state)
        if rc != 0:
            alloc.raise_misuse(self, rc)

    cdef int _check(self) except -1:
        cdef bump_t* b = self.state
        cdef int i, f
        cdef size_t total = 0, live = 0, flive = 0, nlive, nbytes_live = 0
        if b.n < 0 or b.n > BUMP_MAX_BLOCKS or b.cur < -1 or b.cur >= max(b.n, 1):
            raise AllocatorError(f"bump: block table broken (n={b.n}, cur={b.cur})")
        if b.n == 0:
            if b.cur != -1 or _alloc.n_blocks(&b.common):
                raise AllocatorError("bump: no arena block but a current block or live allocations")
        else:
            if b.cur < 0:
                raise AllocatorError("bump: arena blocks mapped but no current block")
            if not (b.blocks[b.cur].base <= b.top <= b.end) or \
                    b.end != b.blocks[b.cur].base + b.blocks[b.cur].size:
                raise AllocatorError(f"bump: bump pointer outside arena block {b.cur}")
        for i in range(b.n):
            total += b.blocks[i].size
            live += b.blocks[i].n_live
            if i < b.cur and b.blocks[i].used > b.blocks[i].size:
                raise AllocatorError(f"bump: arena block {i} used beyond its size")
            if i > b.cur and b.blocks[i].n_live:
                raise AllocatorError(f"bump: cached arena block {i} has live allocations")
        if total != b.common.st.bytes_mapped or <size_t>b.n != b.common.st.n_regions:
            raise AllocatorError(
                f"bump: {b.n} blocks of {total} bytes but stats say "
                f"{b.common.st.n_regions} regions of {b.common.st.bytes_mapped}")
        if live != _alloc.n_blocks(&b.common):
            raise AllocatorError(
                f"bump: blocks count {live} live allocations, stats {_alloc.n_blocks(&b.common)}")
        if b.n_scopes < 1 or b.scopes[0].blk != 0 or b.scopes[0].off != 0:
            raise AllocatorError("bump: sentinel scope frame damaged")
        for f in range(b.n_scopes):
            flive += b.scopes[f].n_live
            if f > 0:
                if (b.scopes[f].blk, b.scopes[f].off) < (b.scopes[f - 1].blk, b.scopes[f - 1].off):
                    raise AllocatorError(f"bump: scope frame {f} is before its parent")
                if b.cur >= 0 and (b.scopes[f].blk, b.scopes[f].off) > \
                        (b.cur, <size_t>(b.top - b.blocks[b.cur].base)):
                    raise AllocatorError(f"bump: scope frame {f} is after the bump pointer")
        if flive != _alloc.n_blocks(&b.common):
            raise AllocatorError(
                f"bump: scope frames count {flive} live allocations, "
                f"stats {_alloc.n_blocks(&b.common)}")
        if _alloc.n_blocks(&b.common) == 0 and b.common.st.bytes_in_use != 0:
            raise AllocatorError("bump: bytes in use without live allocations")
        if not b.common.debug:
            return 0
        for i in range(b.n):
            nlive = 0
            for _off, size, state in _walk(self.state, i):
                if state:
                    nlive += 1
                    nbytes_live += size
            if nlive != b.blocks[i].n_live:
                raise AllocatorError(
                    f"bump: arena block {i} has {nlive} live headers, counted {b.blocks[i].n_live}")
        if nbytes_live != b.common.st.bytes_in_use:
            raise AllocatorError(
                f"bump: live headers hold {nbytes_live} bytes, stats {b.common.st.bytes_in_use}")
        return 0

    cdef object _blocks(self):
        if not self.state.common.debug:
            return None
        rows = []
        for i in range(self.state.n):
            for off, size, state in _walk(self.state, i):
                rows.append((i, off, size, state))
        return np.array(rows, dtype=_BLOCK_DTYPE)

    cdef object _regions(self):
        cdef bump_t* b = self.state
        rows = [(i, <size_t>b.blocks[i].base, b.blocks[i].size, _used(b, i), b.blocks[i].n_live)
                for i in range(b.n)]
        return np.array(rows, dtype=_REGION_DTYPE)


alloc.allocator_register_type(BumpAllocator)
