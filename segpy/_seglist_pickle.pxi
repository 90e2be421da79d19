# Pickling: ``__reduce_ex__`` (protocol 5 sends the segments out of band) and
# the reconstructor, which checks every buffer against the length and the
# segment geometry before it trusts it.  Included by seglist.pyx.
#
# Layering rule: boundary code; writes through the core's append.

cdef object _reduce_ex(SegmentedList self, int protocol):
    """``(reconstructor, args[, state])`` for pickle; see ``_unpickle_seglist``.

    Protocol 5 hands every used segment to pickle as a ``PickleBuffer`` over
    a zero-copy uint8 view (out of band with a ``buffer_callback``, else
    pickled in band).  Older protocols get one bytes object, filled with
    one memcpy per segment.  The length goes in too, so that the loader can
    check every buffer against it (out-of-band buffers come from the
    consumer, who may drop, reorder or truncate them).
    """
    cdef int j
    cdef Py_ssize_t k, n = self.c.length, left = n, epoch = self.c.epoch
    if protocol >= 5:
        payload = []
        for j in range(seglist_used_segments(&self.c)):
            k = min(seglist_segment_len(&self.c, j), left)
            # As bytes: numpy refuses to export datetimes through the buffer
            # protocol, and the reconstructor wants bytes anyway.
            payload.append(_pickle.PickleBuffer(_segment_view(self, j, k).view(np.uint8)))
            left -= k
    else:
        payload = PyBytes_FromStringAndSize(NULL, n * self.c.itemsize)
    # The views' and the payload's allocations may have run finalisers.
    _check_unchanged(self, n, epoch, "pickling")
    if protocol < 5:
        _read_range(self, 0, PyBytes_AS_STRING(payload), n)
    args = (type(self), self._dtype, <Py_ssize_t>1 << self.c.shift, payload, n)
    state = getattr(self, "__dict__", None)
    if state:
        return (_unpickle_seglist, args, state)
    return (_unpickle_seglist, args)


cdef int _append_buffer(SegmentedList self, object buf, Py_ssize_t nbytes) except -1:
    """Append the bytes of one buffer, which must hold exactly `nbytes` bytes.

    `nbytes` is a multiple of the itemsize.  The length is checked on the
    export that is copied from, so no change to the exporter between the
    caller's checks and the copy (a finaliser resizing a bytearray during
    the allocation) can make it read past the buffer or append a short piece.
    """
    cdef Py_buffer view
    cdef int rc
    try:
        PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE)
    except BufferError as exc:
        raise ValueError(f"pickled SegmentedList payload is not a contiguous buffer: {exc}")
    try:
        if view.len != nbytes:
            raise ValueError(
                f"pickled SegmentedList payload buffer changed size while loading "
                f"({view.len} bytes, expected {nbytes})")
        rc = seglist_append_n(&self.c, view.buf, nbytes // self.c.itemsize)
        if rc != SEGPY_OK:
            _raise_grow_error(self, nbytes // self.c.itemsize)
    finally:
        PyBuffer_Release(&view)
    return 0


cdef list _check_pieces(list pieces, bint per_segment, object dt, int shift, object length):
    """The byte size each payload piece must have, checked against the pickle's geometry.

    `pieces` are bytes-like and contiguous (already checked).  With the
    recorded `length` (pickles written since it was recorded):

    * a bare payload (protocols 0-4): ``length * itemsize`` bytes;
    * a list of pieces, `per_segment` (protocol 5): one per used segment, piece ``j``
      holding ``min(2**(shift + j), elements left)`` elements, so the count,
      the order and every size are checked, and the total is
      ``length * itemsize``.

    Without it (pickles from before), only the total can be checked, to be a
    multiple of the itemsize.  Raises TypeError or ValueError.
    """
    cdef Py_ssize_t isz = dt.itemsize, total = 0, left, seg, want, n, j
    cdef list sizes = [memoryview(p).nbytes for p in pieces]
    if length is None:
        for n in sizes:
            total += n
        if total % isz != 0:
            raise ValueError(
                f"pickled SegmentedList payload of {total} bytes is not a multiple of "
                f"the itemsize {isz} of {dt!r}")
        return sizes
    if not PyIndex_Check(length) or PyBool_Check(length):
        raise TypeError(f"pickled SegmentedList length must be an int, not {type(length).__name__}")
    left = _as_ssize_clamped(length, NULL)
    if left < 0 or left > PY_SSIZE_T_MAX // isz:
        raise ValueError(f"pickled SegmentedList length {_short(length)} is out of range")
    what = f"a pickled SegmentedList of {left} elements of {dt!r}"
    if not per_segment:
        if sizes[0] != left * isz:
            raise ValueError(f"{what} has {left * isz} bytes, but its payload holds {sizes[0]}")
        return sizes
    if len(pieces) > SEGPY_MAX_SEGMENTS:
        raise ValueError(f"{what} cannot have {len(pieces)} segment buffers")
    for j in range(len(pieces)):
        if left == 0:
            raise ValueError(f"{what} has {j} segment buffers, got {len(pieces)}")
        seg = PY_SSIZE_T_MAX if shift + j >= 62 else (<Py_ssize_t>1 << (shift + j))
        want = min(seg, left)
        if sizes[j] != want * isz:
            raise ValueError(
                f"{what}: segment buffer {j} holds {sizes[j]} bytes, "
                f"expected {want * isz} ({want} elements)")
        left -= want
    if left != 0:
        raise ValueError(
            f"{what}: its {len(pieces)} segment buffers hold only "
            f"{_as_ssize_clamped(length, NULL) - left} elements")
    return sizes


def _unpickle_seglist(cls, dtype, first_segment, payload, length=None):
    """Rebuild a pickled SegmentedList (the reconstructor ``__reduce_ex__`` names).

    Reachable by any pickle, and out-of-band buffers come from whoever calls
    ``pickle.loads``, so every argument is checked before anything is built:
    ``cls`` must be SegmentedList or a subclass, ``dtype`` a ``numpy.dtype``
    a list can hold, ``first_segment`` a valid first segment size, and
    ``payload`` a bytes-like object or a list/tuple of them.  With `length`
    (recorded since segpy 0.1), the payload must match the geometry a list of
    `length` elements has (see ``_check_pieces``); pickles without it are
    only checked to hold whole elements.  The list gets the current default
    allocator (the allocator is not pickled).

    Raises
    ------
    TypeError
        For a ``cls`` that is not a SegmentedList type, a ``dtype`` that is
        not a numpy dtype (or holds objects), a payload of the wrong type, a
        length that is not an int.
    ValueError
        For a bad first segment size, a payload that does not match the
        length and the segment geometry (buffers dropped, duplicated,
        reordered, truncated or extended), a payload whose length is not a
        multiple of the itemsize, or a payload buffer that is not contiguous.
    """
    if not isinstance(cls, type) or not issubclass(cls, SegmentedList):
        raise TypeError(f"cannot unpickle a SegmentedList as {cls!r}")
    if not isinstance(dtype, np.dtype):
        raise TypeError(f"pickled SegmentedList dtype must be a numpy.dtype, not "
                        f"{type(dtype).__name__}")
    dt = _check_dtype(dtype)
    cdef int shift = _shift_for(first_segment, dt.itemsize)
    cdef bint per_segment = isinstance(payload, (list, tuple))
    pieces = list(payload) if per_segment else [payload]
    cdef Py_ssize_t total = 0, isz = dt.itemsize
    for p in pieces:
        if not PyObject_CheckBuffer(p):
            raise TypeError(
                "pickled SegmentedList payload must be bytes-like or a list of "
                f"bytes-like objects, not {type(p).__name__}")
        with memoryview(p) as m:
            if not m.contiguous:
                raise ValueError("pickled SegmentedList payload is not a contiguous buffer")
    sizes = _check_pieces(pieces, per_segment, dt, shift, length)
    for n in sizes:
        total += <Py_ssize_t>n
    if any(n % isz for n in sizes):
        # Pieces that split elements (only in pickles without a length, and
        # never written by __reduce_ex__): join.
        pieces = [b"".join(bytes(memoryview(p)) for p in pieces)]
        sizes = [total]
    cdef SegmentedList new = SegmentedList.__new__(cls)
    seglist_destroy(&new.c)
    _setup(new, dt, current_allocator(), shift)
    if seglist_reserve(&new.c, total // isz) != SEGPY_OK:
        _raise_grow_error(new, total // isz)
    for p, n in zip(pieces, sizes):
        _append_buffer(new, p, n)
    return new
