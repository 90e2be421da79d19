# The C core of SegmentedList: storage, growth, range reads and writes,
# moving elements inside a list, and concurrent pushes (at the end).
# Included by seglist.pyx (one extension, so the C compiler can inline
# across files).
#
# Layering rule: everything here is ``noexcept nogil``, touches no Python
# object and reports failure by return value (and ``s.last_error``).  It
# calls only the allocator interface and the inline geometry of seglist.pxd.
# The boundary files call the functions without a leading underscore; the
# ``_``-named helpers are private to this file.  The functions declared in
# seglist.pxd are the public C API; the move kernels below are private.
# One exception to "no Python": a concurrent push that needs a new segment
# takes the GIL to make it (``_seglist_cc_reserve``), because the GIL is
# what serialises an allocator that other lists share.

# ===========================================================================
# The C core.  Everything here is noexcept nogil and reports failure through
# its return value (and s.last_error); see seglist.pxd for the geometry.
# ===========================================================================

cdef inline int _fail(seglist_t* s, int code, size_t nbytes) noexcept nogil:
    s.last_error = code
    s.failed_bytes = nbytes
    return code


cdef int seglist_init(seglist_t* s, Py_ssize_t itemsize, int shift,
                      segpy_allocator_t* alloc) noexcept nogil:
    """Make ``s`` an empty list; allocates nothing.  Returns 0 or SEGPY_EINVAL."""
    return _set_empty(s, itemsize, shift, alloc, sizeof(seglist_t))


cdef int _seglist_init_empty(seglist_t* s, Py_ssize_t itemsize, int shift,
                             segpy_allocator_t* alloc) noexcept nogil:
    """``seglist_init`` for a list struct that holds no segment.

    Safety: ``s`` must satisfy the struct's invariants (a SegmentedList's
    own struct: zeroed by its allocation, kept by every function since).
    With ``nseg == 0`` they say every ``segs`` and ``bases`` slot is 0
    already, so only the fields before the tables are cleared: a
    construction cleared the 1 KiB of tables twice (in ``__cinit__`` and in
    ``__init__``), a seventh of ``SegmentedList('q')``.  With a segment held
    it is ``seglist_init``.  Returns 0 or SEGPY_EINVAL.
    """
    if s.nseg != 0:
        return seglist_init(s, itemsize, shift, alloc)
    return _set_empty(s, itemsize, shift, alloc, <size_t>(<char*>s.segs - <char*>s))


cdef inline int _set_empty(seglist_t* s, Py_ssize_t itemsize, int shift,
                           segpy_allocator_t* alloc, size_t nclear) noexcept nogil:
    # Both inits: validate, clear the first nclear bytes, set the fields.
    cdef Py_ssize_t epoch = s.epoch
    if itemsize <= 0 or shift < 0 or shift > SEGPY_MAX_SHIFT or alloc == NULL:
        return _fail(s, SEGPY_EINVAL, <size_t>itemsize if itemsize > 0 else 0)
    memset(s, 0, nclear)
    # Carried over and bumped: anything that cached an address from the old
    # geometry (an iterator's cursor) sees that it changed.
    s.epoch = epoch + 1
    s.itemsize = itemsize
    s.shift = shift
    s.alloc = alloc
    # The cap keeps t = i + s0 below 2**63 and the byte size of the whole
    # list within Py_ssize_t (to_numpy must be able to hold it).
    s.max_length = (<Py_ssize_t>1) << 62
    if s.max_length > (<Py_ssize_t>(SIZE_MAX >> 1)) // itemsize:
        s.max_length = (<Py_ssize_t>(SIZE_MAX >> 1)) // itemsize
    return SEGPY_OK


cdef inline size_t _segment_bytes(const seglist_t* s, int j) noexcept nogil:
    return <size_t>seglist_segment_len(s, j) * <size_t>s.itemsize


cdef int _pop_segment(seglist_t* s) noexcept nogil:
    # Release the last allocated segment back to the allocator that made it.
    cdef int j = s.nseg - 1
    cdef int rc = s.alloc.release(s.alloc.ctx, s.segs[j], _segment_bytes(s, j))
    s.segs[j] = NULL
    s.bases[s.shift + j] = 0
    s.nseg = j
    s.epoch += 1
    return SEGPY_ERELEASE if rc else SEGPY_OK


cdef int seglist_destroy(seglist_t* s) noexcept nogil:
    """Release every segment and empty the list.  Returns 0 or SEGPY_ERELEASE."""
    cdef int rc = SEGPY_OK
    while s.nseg > 0:
        if _pop_segment(s) != SEGPY_OK:
            rc = SEGPY_ERELEASE
    s.length = 0
    s.cursor = NULL
    s.cursor_end = NULL
    return rc


cdef int _seglist_release_above(seglist_t* s, int keep) noexcept nogil:
    """Release the trailing segments past the first ``keep`` that hold no
    element (a failed extend gives back what it added).  Returns 0 or
    SEGPY_ERELEASE; the caller re-syncs the cursor."""
    cdef int rc = SEGPY_OK
    while s.nseg > keep and seglist_segment_start(s, s.nseg - 1) >= s.length:
        if _pop_segment(s) != SEGPY_OK:
            rc = SEGPY_ERELEASE
    return rc


cdef int seglist_sync_cursor(seglist_t* s) noexcept nogil:
    """Re-derive the push cursor from ``length`` after any structural change."""
    cdef Py_ssize_t off
    cdef int j
    # A list capped at its length (a read-only file) gets no free slot, so
    # every push takes the slow path, which refuses it.
    if s.length < seglist_capacity(s) and s.length < s.max_length:
        j = seglist_locate(s, s.length, &off)
        s.cursor = s.segs[j] + off * s.itemsize
        s.cursor_end = s.segs[j] + seglist_segment_len(s, j) * s.itemsize
    else:
        s.cursor = NULL
        s.cursor_end = NULL
    return SEGPY_OK


cdef int seglist_reserve(seglist_t* s, Py_ssize_t n) noexcept nogil:
    """Allocate segments until ``n`` elements fit.  Never shrinks.

    On failure every segment this call allocated is released again, so the
    list is exactly as it was.  Returns 0, SEGPY_ENOMEM or SEGPY_ETOOBIG.
    """
    cdef int nseg0 = s.nseg
    cdef int need
    cdef Py_ssize_t off
    cdef void* p
    cdef size_t nbytes
    if n <= seglist_capacity(s):
        return SEGPY_OK
    if n > s.max_length:
        return _fail(s, SEGPY_ETOOBIG, SIZE_MAX)
    need = seglist_locate(s, n - 1, &off) + 1
    while s.nseg < need:
        p = _request_segment(s, s.nseg, &nbytes)
        if p == NULL:
            while s.nseg > nseg0:
                _pop_segment(s)
            return _fail(s, SEGPY_ETOOBIG if nbytes == SIZE_MAX else SEGPY_ENOMEM, nbytes)
        _set_segment(s, s.nseg, p)
        s.nseg += 1
    seglist_sync_cursor(s)
    return SEGPY_OK


cdef inline void* _request_segment(seglist_t* s, int j, size_t* nbytes) noexcept nogil:
    """Memory for segment ``j`` from the list's allocator, or NULL: with
    ``nbytes[0]`` its size, or SIZE_MAX if there is no such segment (past
    the table, or a byte size that overflows)."""
    if j >= SEGPY_MAX_SEGMENTS or (<size_t>seglist_segment_len(s, j)
                                   > SIZE_MAX // <size_t>s.itemsize):
        nbytes[0] = SIZE_MAX
        return NULL
    nbytes[0] = _segment_bytes(s, j)
    return s.alloc.request(s.alloc.ctx, nbytes[0], SEGPY_SEGMENT_ALIGN)


cdef inline void _set_segment(seglist_t* s, int j, void* p) noexcept nogil:
    # Record segment j's memory and its lookup-table entry; the caller
    # publishes it by raising nseg.  Modular integer arithmetic: the biased
    # address may lie below p.
    s.segs[j] = <char*>p
    s.bases[s.shift + j] = <size_t>p - (<size_t>1 << (s.shift + j)) * <size_t>s.itemsize


cdef int _seglist_adopt_length(seglist_t* s, Py_ssize_t n) noexcept nogil:
    """Declare the first ``n`` elements of the allocated segments live as
    they are: a file-backed list reopened over the data in its file.
    0, or SEGPY_EINVAL if ``n`` is beyond the capacity or ``max_length``."""
    if n < 0 or n > seglist_capacity(s) or n > s.max_length:
        return _fail(s, SEGPY_EINVAL, 0)
    s.length = n
    return seglist_sync_cursor(s)


cdef inline void _seglist_commit_slot(seglist_t* s, char* slot) noexcept nogil:
    """Make ``slot``, the next free slot (``s.cursor``, in a segment with
    room), the list's last element: the cursor and the length move together."""
    s.cursor = slot + s.itemsize
    s.length += 1


cdef char* seglist_emplace_slow(seglist_t* s) noexcept nogil:
    """The cold half of ``seglist_emplace``: the tail segment is full (or absent)."""
    cdef char* p
    if s.length >= s.max_length:
        _fail(s, SEGPY_ETOOBIG, SIZE_MAX)
        return NULL
    if seglist_reserve(s, s.length + 1) != SEGPY_OK:
        return NULL
    # reserve() is a no-op when the next segment already exists (after an
    # explicit reserve), so the cursor is re-derived here in every case.
    seglist_sync_cursor(s)
    p = s.cursor
    _seglist_commit_slot(s, p)
    return p


cdef int _write_range(seglist_t* s, Py_ssize_t start, const void* src, Py_ssize_t n,
                      bint via_store) noexcept nogil:
    """Copy ``n`` elements from ``src`` to indices ``[start, start+n)``, one
    copy per segment: a memcpy, or with ``via_store`` the allocator's
    ``store``, which may fail (then its code is returned and the range is
    unspecified, so it is used only for elements being appended)."""
    cdef const char* p = <const char*>src
    cdef char* dst
    cdef Py_ssize_t off, k
    cdef int j, rc
    while n > 0:
        j = seglist_locate(s, start, &off)
        k = seglist_segment_len(s, j) - off
        if k > n:
            k = n
        dst = s.segs[j] + off * s.itemsize
        if via_store:
            rc = s.alloc.store(s.alloc.ctx, dst, p, <size_t>k * <size_t>s.itemsize)
            if rc != 0:
                return rc
        else:
            memcpy(dst, p, k * s.itemsize)
        p += k * s.itemsize
        start += k
        n -= k
    return SEGPY_OK


cdef int seglist_write_range(seglist_t* s, Py_ssize_t start, const void* src,
                             Py_ssize_t n) noexcept nogil:
    """Copy ``n`` elements from ``src`` to indices ``[start, start+n)``: one memcpy per segment.

    Safety: the range must lie within the allocated capacity (it may extend
    past ``length``; the caller then sets the length).  Returns 0.
    """
    return _write_range(s, start, src, n, False)


cdef int seglist_read_range(const seglist_t* s, Py_ssize_t start, void* dst,
                            Py_ssize_t n) noexcept nogil:
    """Copy elements ``[start, start+n)`` to ``dst``: one memcpy per segment.

    Returns 0, or SEGPY_EINVAL (nothing copied) if the range is not within
    ``[0, length)``.
    """
    cdef char* p = <char*>dst
    cdef Py_ssize_t off, k
    cdef int j
    if start < 0 or n < 0 or start > s.length - n:
        # The error is recorded like every other (the C API's promise);
        # only the error fields are written, never the list's state.
        return _fail(<seglist_t*>s, SEGPY_EINVAL, 0)
    while n > 0:
        j = seglist_locate(s, start, &off)
        k = seglist_segment_len(s, j) - off
        if k > n:
            k = n
        memcpy(p, s.segs[j] + off * s.itemsize, k * s.itemsize)
        p += k * s.itemsize
        start += k
        n -= k
    return SEGPY_OK


cdef int seglist_append_n(seglist_t* s, const void* src, Py_ssize_t n) noexcept nogil:
    """Append ``n`` elements copied from ``src``; all or nothing.

    Returns 0, SEGPY_EINVAL (n < 0), SEGPY_ETOOBIG, SEGPY_ENOMEM or
    SEGPY_ESTORE (the allocator's own store failed, e.g. a file write); on
    failure the list is unchanged, its segments included.
    """
    cdef int rc
    cdef int nseg0 = s.nseg
    if n <= 0:
        return SEGPY_OK if n == 0 else _fail(s, SEGPY_EINVAL, 0)
    if n > s.max_length - s.length:
        return _fail(s, SEGPY_ETOOBIG, SIZE_MAX)
    rc = seglist_reserve(s, s.length + n)
    if rc != SEGPY_OK:
        return rc
    if _write_range(s, s.length, src, n, s.alloc.store != NULL) != SEGPY_OK:
        # The new elements were never part of the list: drop the segments
        # this call added, and the list is as it was.
        while s.nseg > nseg0:
            _pop_segment(s)
        seglist_sync_cursor(s)
        return _fail(s, SEGPY_ESTORE, <size_t>n * <size_t>s.itemsize)
    s.length += n
    seglist_sync_cursor(s)
    return SEGPY_OK


cdef int seglist_truncate(seglist_t* s, Py_ssize_t n) noexcept nogil:
    """Shorten the list to ``n`` elements, keeping its segments.  0 or SEGPY_EINVAL."""
    if n < 0 or n > s.length:
        return _fail(s, SEGPY_EINVAL, 0)
    if n < s.length:
        s.epoch += 1    # a cached bound "i < old length" is no longer safe
    s.length = n
    seglist_sync_cursor(s)
    return SEGPY_OK


cdef int seglist_release_unused(seglist_t* s, int keep_spare) noexcept nogil:
    """Release segments that hold no element, keeping ``keep_spare`` of them.

    Safety: the caller must know no one holds the address of an element in
    those segments.  Returns 0 or SEGPY_ERELEASE.
    """
    cdef int rc = SEGPY_OK
    cdef int keep = seglist_used_segments(s) + keep_spare
    while s.nseg > keep:
        if _pop_segment(s) != SEGPY_OK:
            rc = SEGPY_ERELEASE
    seglist_sync_cursor(s)
    return rc


cdef bint seglist_overlaps(const seglist_t* s, const char* p, size_t nbytes) noexcept nogil:
    """True if ``[p, p + nbytes)`` overlaps an allocated segment of ``s``."""
    cdef int j
    cdef const char* a
    if nbytes == 0:
        return False
    for j in range(s.nseg):
        a = s.segs[j]
        if p < a + _segment_bytes(s, j) and a < p + nbytes:
            return True
    return False


# ===========================================================================
# Moving elements inside a list: insert and erase (one memmove per segment
# piece), strided gather and scatter for extended slices, in-place reverse.
# All noexcept nogil, reporting failure through the return value; on
# failure the list is unchanged.
#
# A range of indices crosses segment boundaries, and a move shifts it by a
# distance unrelated to them, so every copy is cut into pieces that lie in
# one segment on *both* sides (at most two pieces per segment touched):
#
#     src    [ seg 1 .......... | seg 2 ...................... ]
#     dst         [ seg 1 ...... | seg 2 ....................... ]
#     pieces [ a           | b  | c                      | d    ]
# ===========================================================================

cdef inline int _copy_strided(char* dst, Py_ssize_t dstride, const char* src,
                              Py_ssize_t sstride, Py_ssize_t k,
                              Py_ssize_t isz) noexcept nogil:
    # k elements from src (stride sstride bytes) to dst (stride dstride).
    # memcpy with a constant size compiles to one load and one store, with
    # no alignment or aliasing assumption; the generic case calls memcpy.
    cdef Py_ssize_t m
    if dstride == isz and sstride == isz:
        memcpy(dst, src, k * isz)       # a contiguous run
    elif isz == 8:
        for m in range(k):
            memcpy(dst + m * dstride, src + m * sstride, 8)
    elif isz == 4:
        for m in range(k):
            memcpy(dst + m * dstride, src + m * sstride, 4)
    elif isz == 16:
        for m in range(k):
            memcpy(dst + m * dstride, src + m * sstride, 16)
    elif isz == 2:
        for m in range(k):
            memcpy(dst + m * dstride, src + m * sstride, 2)
    elif isz == 1:
        for m in range(k):
            dst[m * dstride] = src[m * sstride]
    else:
        for m in range(k):
            memcpy(dst + m * dstride, src + m * sstride, isz)
    return 0


cdef inline Py_ssize_t _run_in_segment(const seglist_t* s, Py_ssize_t i, Py_ssize_t step,
                                       char** p) noexcept nogil:
    # Address of element i (via p) and how many of i, i+step, i+2*step ...
    # lie in i's segment.  Safety: 0 <= i < capacity, step != 0.
    cdef Py_ssize_t off
    cdef int j = seglist_locate(s, i, &off)
    p[0] = s.segs[j] + off * s.itemsize
    if step > 0:
        return (seglist_segment_len(s, j) - 1 - off) // step + 1
    if off + step < 0:         # (also keeps -step below from overflowing)
        return 1
    return off // (-step) + 1


cdef int _seglist_move(seglist_t* s, Py_ssize_t dst, Py_ssize_t src,
                       Py_ssize_t n) noexcept nogil:
    """Copy elements ``[src, src+n)`` to ``[dst, dst+n)``; the ranges may overlap.

    Works like memmove on the element sequence: pieces are copied front to
    back when moving down and back to front when moving up, so no source
    element is overwritten before it is read.  Does not change the length.
    Safety: both ranges lie within the allocated capacity.  Returns 0.
    """
    cdef Py_ssize_t isz = s.itemsize, so, do, k
    cdef int sj, dj
    if n <= 0 or dst == src:
        return SEGPY_OK
    if dst < src:
        while n > 0:
            sj = seglist_locate(s, src, &so)
            dj = seglist_locate(s, dst, &do)
            k = min(n, seglist_segment_len(s, sj) - so, seglist_segment_len(s, dj) - do)
            memmove(s.segs[dj] + do * isz, s.segs[sj] + so * isz, k * isz)
            src += k
            dst += k
            n -= k
    else:
        while n > 0:
            # Pieces end at the last element still to move on each side.
            sj = seglist_locate(s, src + n - 1, &so)
            dj = seglist_locate(s, dst + n - 1, &do)
            k = min(n, so + 1, do + 1)
            memmove(s.segs[dj] + (do + 1 - k) * isz, s.segs[sj] + (so + 1 - k) * isz,
                    k * isz)
            n -= k
    return SEGPY_OK


cdef int _seglist_insert_gap(seglist_t* s, Py_ssize_t i, Py_ssize_t k) noexcept nogil:
    """Open ``k`` uninitialised slots at index ``i``, shifting ``[i, length)`` up by ``k``.

    The caller then writes the ``k`` elements at ``[i, i+k)``.  Bumps
    ``epoch`` (elements changed index).  Returns 0, SEGPY_EINVAL (``i`` not
    in ``[0, length]`` or ``k < 0``), SEGPY_ETOOBIG or SEGPY_ENOMEM; on
    failure the list is unchanged.
    """
    cdef int rc
    if i < 0 or i > s.length or k < 0:
        return _fail(s, SEGPY_EINVAL, 0)
    if k == 0:
        return SEGPY_OK
    if k > s.max_length - s.length:
        return _fail(s, SEGPY_ETOOBIG, SIZE_MAX)
    rc = seglist_reserve(s, s.length + k)
    if rc != SEGPY_OK:
        return rc
    _seglist_move(s, i + k, i, s.length - i)
    s.length += k
    s.epoch += 1
    seglist_sync_cursor(s)
    return SEGPY_OK


cdef int _seglist_erase(seglist_t* s, Py_ssize_t i, Py_ssize_t k) noexcept nogil:
    """Remove elements ``[i, i+k)``, shifting the rest down; keeps the segments.

    Bumps ``epoch``.  Returns 0 or SEGPY_EINVAL (range not within
    ``[0, length)``, list unchanged).
    """
    if i < 0 or k < 0 or i > s.length - k:
        return _fail(s, SEGPY_EINVAL, 0)
    if k == 0:
        return SEGPY_OK
    _seglist_move(s, i, i + k, s.length - i - k)
    return seglist_truncate(s, s.length - k)


cdef int _seglist_erase_strided(seglist_t* s, Py_ssize_t start, Py_ssize_t step,
                                Py_ssize_t n) noexcept nogil:
    """Remove the ``n`` elements ``start, start+step, ...`` (``step >= 1``).

    The ``step - 1`` elements between two removed ones move down together,
    then the tail after the last removed one.  Bumps ``epoch``.  Returns 0
    or SEGPY_EINVAL (indices out of range, list unchanged).
    """
    cdef Py_ssize_t m, dst, src
    if n <= 0:
        return SEGPY_OK
    if step < 1 or start < 0 or start >= s.length or \
            (n - 1) > (s.length - 1 - start) // step:
        return _fail(s, SEGPY_EINVAL, 0)
    dst = start
    for m in range(1, n):
        src = start + (m - 1) * step + 1
        _seglist_move(s, dst, src, step - 1)
        dst += step - 1
    src = start + (n - 1) * step + 1
    _seglist_move(s, dst, src, s.length - src)
    return seglist_truncate(s, s.length - n)


cdef inline bint _strided_range_ok(const seglist_t* s, Py_ssize_t start, Py_ssize_t step,
                                   Py_ssize_t n) noexcept nogil:
    # True if start, start+step, ... (n > 0 indices) all lie in [0, length).
    if step == 0 or start < 0 or start >= s.length:
        return False
    if n == 1:
        return True
    if step > 0:
        return (n - 1) <= (s.length - 1 - start) // step
    if start + step < 0:       # not even two indices (and -step may overflow)
        return False
    return (n - 1) <= start // (-step)


cdef int _transfer_strided(seglist_t* s, Py_ssize_t start, Py_ssize_t step,
                           Py_ssize_t n, char* buf, bint into_list) noexcept nogil:
    # The body of gather (list -> buf) and scatter (buf -> list): one run
    # per segment, a memcpy when step is 1, else a strided C loop.
    cdef char* p
    cdef Py_ssize_t k, isz = s.itemsize
    if n <= 0:
        return SEGPY_OK
    if not _strided_range_ok(s, start, step, n):
        return _fail(s, SEGPY_EINVAL, 0)
    cdef Py_ssize_t stride
    while n > 0:
        k = min(n, _run_in_segment(s, start, step, &p))
        # A run of one element needs no stride, and step * itemsize may not
        # fit a Py_ssize_t then (lst[::sys.maxsize]); within a longer run the
        # stride spans less than a segment.
        stride = step * isz if k > 1 else isz
        if into_list:
            _copy_strided(p, stride, buf, isz, k, isz)
        else:
            _copy_strided(buf, isz, p, stride, k, isz)
        buf += k * isz
        n -= k
        if n > 0:              # the index after the last one may not be representable
            start += k * step
    return SEGPY_OK


cdef int _seglist_gather(const seglist_t* s, Py_ssize_t start, Py_ssize_t step,
                         Py_ssize_t n, void* out) noexcept nogil:
    """Copy elements ``start, start+step, ...`` (``n`` of them) to ``out``, contiguous.

    ``step`` may be negative; step 1 is one memcpy per segment.  Returns 0,
    or SEGPY_EINVAL (nothing copied) if an index is outside ``[0, length)``
    or ``step`` is 0.
    """
    # Only reads the list: the cast away from const is for the shared body.
    return _transfer_strided(<seglist_t*>s, start, step, n, <char*>out, False)


cdef int _seglist_scatter(seglist_t* s, Py_ssize_t start, Py_ssize_t step,
                          Py_ssize_t n, const void* src) noexcept nogil:
    """Write ``n`` contiguous elements from ``src`` to indices ``start, start+step, ...``.

    The mirror of ``_seglist_gather``, with the same checks and return codes.
    """
    # Only reads src: the cast away from const is for the shared body.
    return _transfer_strided(s, start, step, n, <char*>src, True)


cdef int _seglist_extend_from(seglist_t* dst, const seglist_t* src, Py_ssize_t start,
                              Py_ssize_t step, Py_ssize_t n) noexcept nogil:
    """Append the ``n`` elements ``src[start], src[start+step], ...`` to ``dst``.

    ``dst`` and ``src`` must have the same itemsize (SEGPY_EINVAL otherwise);
    they may be the same list (the source range is read before the new
    elements are counted).  All or nothing: returns 0, SEGPY_EINVAL,
    SEGPY_ETOOBIG or SEGPY_ENOMEM.
    """
    cdef Py_ssize_t pos, off, k, done = 0
    cdef int j, rc
    if n <= 0:
        return SEGPY_OK
    if dst.itemsize != src.itemsize or not _strided_range_ok(src, start, step, n):
        return _fail(dst, SEGPY_EINVAL, 0)
    if n > dst.max_length - dst.length:
        return _fail(dst, SEGPY_ETOOBIG, SIZE_MAX)
    rc = seglist_reserve(dst, dst.length + n)
    if rc != SEGPY_OK:
        return rc
    # One gather per destination segment piece.
    pos = dst.length
    while done < n:
        j = seglist_locate(dst, pos, &off)
        k = min(n - done, seglist_segment_len(dst, j) - off)
        _seglist_gather(src, start + done * step, step, k, dst.segs[j] + off * dst.itemsize)
        pos += k
        done += k
    dst.length = pos
    seglist_sync_cursor(dst)
    return SEGPY_OK


cdef int _seglist_reverse(seglist_t* s) noexcept nogil:
    """Reverse the elements in place, swapping runs that lie within one segment."""
    cdef Py_ssize_t i = 0, j = s.length - 1, k, m, b, isz = s.itemsize
    cdef char* p
    cdef char* q
    cdef char t
    cdef uint64_t w
    while i < j:
        k = _run_in_segment(s, i, 1, &p)
        k = min(k, _run_in_segment(s, j, -1, &q), (j - i + 1) // 2)
        if isz == 8:
            for m in range(k):
                memcpy(&w, p + m * 8, 8)
                memcpy(p + m * 8, q - m * 8, 8)
                memcpy(q - m * 8, &w, 8)
        else:
            for m in range(k):
                for b in range(isz):
                    t = p[m * isz + b]
                    p[m * isz + b] = q[b - m * isz]
                    q[b - m * isz] = t
        i += k
        j -= k
    return SEGPY_OK


# -- Concurrent pushes (the seglist_cc_* functions) ------------------------------
#
# Layout of a phase (``start`` = the length when it began):
#
#   index:  0 ......... start ....... a ....... b ...... next      limit
#           | the list  | run of T1   | run T2  | run T1 |  ...  |
#           +-----------+-------------+---------+--------+       |
#           segments installed so far: [0, nseg) ------------->  | first segment
#                                                                  that could not
#                                                                  be made
#
# Invariants: ``next`` only grows (one atomic add per run); ``limit`` only
# falls, always to a segment start at or above every installed segment's
# end, and only under the GIL; ``s.nseg`` grows under the GIL, published
# with a release store after the segment's ``segs``/``bases`` entries, so
# a thread that reads ``nseg`` with an acquire load may use every segment
# below it.  Every slot in [start, min(next, limit)) is written by the run
# that reserved it before the phase ends (the caller joins the writers).

cdef extern from *:
    """
    #if defined(_MSC_VER)
    #include <intrin.h>
    static inline Py_ssize_t segpy_cc_fetch_add(Py_ssize_t *p, Py_ssize_t v) {
        return (Py_ssize_t)_InterlockedExchangeAdd64((long long volatile *)p, (long long)v);
    }
    /* MSVC's volatile accesses are acquire loads and release stores on x64. */
    static inline Py_ssize_t segpy_cc_load(Py_ssize_t *p) { return *(Py_ssize_t volatile *)p; }
    static inline void segpy_cc_store(Py_ssize_t *p, Py_ssize_t v) {
        *(Py_ssize_t volatile *)p = v;
    }
    static inline int segpy_cc_load_int(int *p) { return *(int volatile *)p; }
    static inline void segpy_cc_store_int(int *p, int v) { *(int volatile *)p = v; }
    static inline int segpy_cc_cas_int(int *p, int expected, int v) {
        return _InterlockedCompareExchange((long volatile *)p, v, expected) == expected;
    }
    #else
    static inline Py_ssize_t segpy_cc_fetch_add(Py_ssize_t *p, Py_ssize_t v) {
        return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
    }
    static inline Py_ssize_t segpy_cc_load(Py_ssize_t *p) {
        return __atomic_load_n(p, __ATOMIC_ACQUIRE);
    }
    static inline void segpy_cc_store(Py_ssize_t *p, Py_ssize_t v) {
        __atomic_store_n(p, v, __ATOMIC_RELEASE);
    }
    static inline int segpy_cc_load_int(int *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
    static inline void segpy_cc_store_int(int *p, int v) {
        __atomic_store_n(p, v, __ATOMIC_RELEASE);
    }
    static inline int segpy_cc_cas_int(int *p, int expected, int v) {
        return __atomic_compare_exchange_n(p, &expected, v, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    }
    #endif
    """
    Py_ssize_t segpy_cc_fetch_add(Py_ssize_t* p, Py_ssize_t v) noexcept nogil
    Py_ssize_t segpy_cc_load(Py_ssize_t* p) noexcept nogil
    void segpy_cc_store(Py_ssize_t* p, Py_ssize_t v) noexcept nogil
    int segpy_cc_load_int(int* p) noexcept nogil
    void segpy_cc_store_int(int* p, int v) noexcept nogil
    bint segpy_cc_cas_int(int* p, int expected, int v) noexcept nogil


cdef int seglist_cc_begin(seglist_cc_t* cc, seglist_t* s) noexcept nogil:
    """Open a concurrent phase on ``s``: from here until ``seglist_cc_end``
    only the ``seglist_cc_*`` functions may touch it.  Returns 0."""
    cc.s = s
    cc.start = s.length
    cc.next = s.length
    cc.max_length = s.max_length
    cc.limit = s.max_length
    cc.error = 0
    cc.nwriters = 0
    # Any push that is not the phase's (a Python append, a C-level push)
    # now finds the list full and fails, rather than racing the writers.
    s.max_length = s.length
    seglist_sync_cursor(s)
    return SEGPY_OK


cdef inline Py_ssize_t _cc_capacity(const seglist_t* s, int nseg) noexcept nogil:
    return seglist_segment_start(s, nseg)


cdef void _seglist_cc_fail(seglist_cc_t* cc, int code) noexcept nogil:
    # The first failure is the one reported at the end.
    segpy_cc_cas_int(&cc.error, 0, code)


cdef Py_ssize_t _cc_install(seglist_cc_t* cc, Py_ssize_t end) noexcept nogil:
    """Install segments until ``end`` elements fit or one cannot be made;
    return how far the installed segments reach, below ``limit``.  Needs
    the GIL (the caller holds it): the GIL is the install lock, and it
    serialises the allocator with every other list that shares it."""
    cdef seglist_t* s = cc.s
    cdef int nseg = s.nseg
    cdef Py_ssize_t limit = cc.limit
    cdef Py_ssize_t target = end if end < limit else limit
    cdef size_t nbytes
    cdef void* p
    while _cc_capacity(s, nseg) < target:
        p = _request_segment(s, nseg, &nbytes)
        if p == NULL:
            # No element at or past this segment can ever be stored now.
            segpy_cc_store(&cc.limit, _cc_capacity(s, nseg))
            _fail(s, SEGPY_ENOMEM, nbytes)
            _seglist_cc_fail(cc, SEGPY_ENOMEM)
            break
        _set_segment(s, nseg, p)
        nseg += 1
        segpy_cc_store_int(&s.nseg, nseg)        # publishes segs/bases above
    end = _cc_capacity(s, nseg)
    limit = segpy_cc_load(&cc.limit)
    return end if end < limit else limit


cdef Py_ssize_t _seglist_cc_reserve(seglist_cc_t* cc, Py_ssize_t n,
                                    Py_ssize_t* start) noexcept nogil:
    """Reserve ``n`` slots (one atomic add) and make sure segments hold them.

    ``start[0]`` is the first slot; returns the end of the part that can be
    stored (``start[0] + n`` unless a segment could not be made or the list
    is full).  Installing takes the GIL, and only then does a thread wait.
    """
    cdef seglist_t* s = cc.s
    cdef Py_ssize_t first = segpy_cc_fetch_add(&cc.next, n)
    cdef Py_ssize_t end, reach
    start[0] = first
    # The run's end, clipped to max_length (and never before its start: the
    # counter may already be past max_length).
    if first >= cc.max_length:
        end = first
    elif n > cc.max_length - first:
        end = cc.max_length
    else:
        end = first + n
    reach = _cc_capacity(s, segpy_cc_load_int(&s.nseg))
    if reach < end or segpy_cc_load(&cc.limit) < end:
        with gil:
            reach = _cc_install(cc, end)
    return reach if reach < end else end


cdef int seglist_cc_append_n(seglist_cc_t* cc, const void* src, Py_ssize_t n) noexcept nogil:
    """Append ``n`` elements from ``src`` as one run, from any thread.

    Returns 0, SEGPY_EINVAL (``n < 0``), or SEGPY_ENOMEM / SEGPY_ETOOBIG if
    the run did not fit: its part below ``limit`` is stored, the rest is
    lost, and the code is also the phase's error if it was the first.
    """
    cdef Py_ssize_t first, stored
    cdef int rc
    if n <= 0:
        return SEGPY_OK if n == 0 else SEGPY_EINVAL
    if n > cc.max_length:
        _seglist_cc_fail(cc, SEGPY_ETOOBIG)
        return SEGPY_ETOOBIG
    stored = _seglist_cc_reserve(cc, n, &first)
    if stored > first:
        _write_range(cc.s, first, src, stored - first, False)
    if stored < first + n:
        rc = _seglist_cc_shortfall(cc, stored)
        _seglist_cc_fail(cc, rc)
        return rc
    return SEGPY_OK


cdef inline int _seglist_cc_shortfall(const seglist_cc_t* cc, Py_ssize_t stored) noexcept nogil:
    # Why a run stopped at ``stored``: the list's addressable end, or a
    # segment the allocator could not give.
    return SEGPY_ETOOBIG if stored >= cc.max_length else SEGPY_ENOMEM


cdef Py_ssize_t seglist_cc_end(seglist_cc_t* cc) noexcept nogil:
    """Close the phase (every writer flushed and done): the length becomes
    exact.

    Returns the number of elements the phase added; ``cc.error`` holds the
    first failure (0 if none).
    """
    cdef seglist_t* s = cc.s
    cdef Py_ssize_t n = segpy_cc_load(&cc.next)
    cdef Py_ssize_t limit = segpy_cc_load(&cc.limit)
    if n > limit:
        n = limit
    if n > _cc_capacity(s, s.nseg):     # not reached: every stored slot is installed
        n = _cc_capacity(s, s.nseg)
    n = _cc_close_gaps(cc, n)
    s.length = n
    s.max_length = cc.max_length
    seglist_sync_cursor(s)
    return n - cc.start


cdef Py_ssize_t _cc_close_gaps(seglist_cc_t* cc, Py_ssize_t n) noexcept nogil:
    """Move the elements at the top of ``[start, n)`` down into the writers'
    gaps; return the new end.

    Invariants: the gaps are disjoint (each lies in its writer's own run),
    and every slot of ``[start, n)`` outside them was stored.  Sorting them
    (at most SEGPY_CC_MAX_WRITERS, insertion sort), the loop fills the
    lowest gap from the stored elements just below the top, dropping any
    gap that reaches the top; it moves at most the gaps' total.
    """
    cdef Py_ssize_t ng = 0, k, i, a, b, top, src_lo, m
    cdef Py_ssize_t nw = segpy_cc_load(&cc.nwriters)
    cdef Py_ssize_t* g = cc.gaps
    if nw > SEGPY_CC_MAX_WRITERS:
        nw = SEGPY_CC_MAX_WRITERS
    # Keep the parts below n, packed to the front of the table, sorted.
    for k in range(nw):
        a = g[2 * k]
        b = g[2 * k + 1] if g[2 * k + 1] < n else n
        if a >= b:
            continue
        i = ng
        while i > 0 and g[2 * (i - 1)] > a:
            g[2 * i] = g[2 * (i - 1)]
            g[2 * i + 1] = g[2 * (i - 1) + 1]
            i -= 1
        g[2 * i] = a
        g[2 * i + 1] = b
        ng += 1
    k = 0                       # the lowest gap not yet filled
    top = n
    while k < ng:
        if g[2 * (ng - 1) + 1] >= top:
            # The highest gap reaches the top: the list ends below it.
            top = g[2 * (ng - 1)]
            ng -= 1
            continue
        a = g[2 * k]
        if a >= top:
            break
        # Stored elements lie between the highest gap (or the lowest one's
        # end, when it is the only one left) and the top.
        src_lo = g[2 * (ng - 1) + 1]
        m = g[2 * k + 1] - a
        if m > top - src_lo:
            m = top - src_lo
        _seglist_move(cc.s, a, top - m, m)
        top -= m
        g[2 * k] = a + m
        if g[2 * k] == g[2 * k + 1]:
            k += 1
    return top


cdef int seglist_cc_writer_init(seglist_cc_writer_t* w, seglist_cc_t* cc) noexcept nogil:
    """A writer for one thread, from any thread.  SEGPY_EINVAL (and every
    push fails) past SEGPY_CC_MAX_WRITERS writers in one phase."""
    w.cc = cc
    w.itemsize = cc.s.itemsize
    w.cur = NULL
    w.end = NULL
    w.piece = NULL
    w.piece_at = 0
    w.run_end = 0
    w.error = 0
    w.claim = SEGPY_CC_CLAIM_MIN // w.itemsize
    if w.claim < 1:
        w.claim = 1
    w.slot = segpy_cc_fetch_add(&cc.nwriters, 1)
    if w.slot >= SEGPY_CC_MAX_WRITERS:
        w.slot = -1
        w.error = SEGPY_EINVAL
        return SEGPY_EINVAL
    # No run yet: an empty gap.  Read by seglist_cc_end, after the join.
    cc.gaps[2 * w.slot] = 0
    cc.gaps[2 * w.slot + 1] = 0
    return SEGPY_OK


cdef inline Py_ssize_t _cc_writer_at(const seglist_cc_writer_t* w) noexcept nogil:
    # The index of the writer's next slot.
    if w.piece == NULL:
        return w.run_end
    return w.piece_at + (w.cur - w.piece) // w.itemsize


cdef void _cc_writer_piece(seglist_cc_writer_t* w, Py_ssize_t at) noexcept nogil:
    # Point the writer at the part of its run from index ``at`` that lies in
    # one segment (installed: its run was reserved by _seglist_cc_reserve).
    cdef char* p
    cdef Py_ssize_t k = _run_in_segment(w.cc.s, at, 1, &p)
    if w.run_end - at < k:
        k = w.run_end - at
    w.piece = p
    w.piece_at = at
    w.cur = p
    w.end = p + k * w.itemsize


cdef int seglist_cc_push_slow(seglist_cc_writer_t* w, const void* src) noexcept nogil:
    """seglist_cc_push when the writer's piece is full: the run's next
    piece, or a new claim (one atomic add), then the store.  Returns 0 if
    the element is stored, else the writer's failure code."""
    cdef seglist_cc_t* cc = w.cc
    cdef Py_ssize_t at, first, reach, k, most
    cdef int rc
    at = _cc_writer_at(w)
    if at < w.run_end:
        # The run goes on in the next segment (even after a failed claim:
        # the slots it did get are this writer's to fill).
        _cc_writer_piece(w, at)
    else:
        if w.error != SEGPY_OK:
            return w.error      # no new claim after a failure
        k = w.claim
        most = SEGPY_CC_CLAIM_MAX // w.itemsize
        if 2 * k <= most:
            w.claim = 2 * k
        # The run before is full: no gap, unless the new one makes one.
        cc.gaps[2 * w.slot] = 0
        cc.gaps[2 * w.slot + 1] = 0
        reach = _seglist_cc_reserve(cc, k, &first)
        if reach > first:
            # The whole run is a gap until a flush says how much was filled.
            cc.gaps[2 * w.slot] = first
            cc.gaps[2 * w.slot + 1] = reach
            w.run_end = reach
            _cc_writer_piece(w, first)
        if reach < first + k:
            rc = _seglist_cc_shortfall(cc, reach)
            _seglist_cc_fail(cc, rc)
            w.error = rc
            if reach <= first:
                w.piece = NULL
                w.cur = NULL
                w.end = NULL
                return rc
    memcpy(w.cur, src, <size_t>w.itemsize)
    w.cur += w.itemsize
    return SEGPY_OK


cdef int seglist_cc_writer_flush(seglist_cc_writer_t* w) noexcept nogil:
    """Record how much of the writer's run is filled (call it after the
    thread's last push, before the join).  Returns the writer's first
    failure, or 0."""
    if w.slot >= 0 and w.piece != NULL:
        w.cc.gaps[2 * w.slot] = _cc_writer_at(w)
        w.cc.gaps[2 * w.slot + 1] = w.run_end
    return w.error
