# The sequence operations of SegmentedList: slicing (get, set, delete),
# search, equality and ordering, repetition.  Included by seglist.pyx.
#
# Layering rule: boundary code; moves elements through the core's range and
# move functions, converts through _seglist_convert.pxi.

# ===========================================================================
# The Python side of slicing, searching, comparing and repeating.
# ===========================================================================

cdef extern from "Python.h":
    # Slice normalisation exactly as list does it: Unpack runs __index__ on
    # the slice's fields (Python code), AdjustIndices clips them to a length.
    int PySlice_Unpack(object sl, Py_ssize_t* start, Py_ssize_t* stop,
                       Py_ssize_t* step) except -1
    Py_ssize_t PySlice_AdjustIndices(Py_ssize_t length, Py_ssize_t* start,
                                     Py_ssize_t* stop, Py_ssize_t step) noexcept


cdef int _after_shrink(SegmentedList self) except -1:
    """Give trailing empty segments back after the list shrank.

    One empty segment is kept as a spare, so that a list going up and down
    across a segment boundary does not request and release a segment every
    time.  Nothing is released while segment views exist (the rule of
    :meth:`SegmentedList.clear`): a view may cover any segment.
    """
    if not _pinned(self):
        seglist_release_unused(&self.c, 1)
    return 0


cdef SegmentedList _copy_of(SegmentedList self, Py_ssize_t start, Py_ssize_t step,
                            Py_ssize_t n):
    """A new list (same dtype, allocator, geometry) of ``self[start::step]``, ``n`` elements."""
    cdef SegmentedList new = _empty_like(self)
    # The allocation of ``new`` may have run a finaliser that shrank self:
    # the core checks the range against the length as it is now.
    cdef int rc = _seglist_extend_from(&new.c, &self.c, start, step, n)
    if rc != SEGPY_OK:
        _raise_range_error(new, rc, n, "a copy")
    return new


cdef SegmentedList _get_slice(SegmentedList self, object sl):
    cdef Py_ssize_t start, stop, step, n
    PySlice_Unpack(sl, &start, &stop, &step)
    n = PySlice_AdjustIndices(self.c.length, &start, &stop, step)
    return _copy_of(self, start, step, n)


cdef object _as_elements(SegmentedList self, object value, bint extended):
    """The right-hand side of a slice assignment as a contiguous array of the dtype.

    Converted before the list is touched (conversion may run Python code),
    with extend()'s rules; a SegmentedList, even ``self``, is copied first.
    """
    arr = _array_source(value)
    if arr is None or arr.ndim == 0:
        try:
            it = iter(value)
        except TypeError:
            raise TypeError("must assign iterable to extended slice" if extended
                            else "can only assign an iterable") from None
        return _pack_all(self, list(it))
    return _converted(self, arr, "slice assignment", "assign to a slice of")


cdef int _set_slice(SegmentedList self, object sl, object value) except -1:
    """``self[sl] = value``.  The source is converted (pinned: that runs
    Python code), and copied if it is a view of the list, before the list
    is touched; from then on no Python code runs."""
    cdef seglist_t* s = &self.c
    cdef Py_ssize_t start, stop, step, n, m
    PySlice_Unpack(sl, &start, &stop, &step)
    _pin(self)
    try:
        arr = _unaliased(self, _as_elements(self, value, step != 1))
    finally:
        _unpin(self)
    m = cnp.PyArray_DIM(arr, 0)
    # Clipped to the length as it is now, after any Python code ran.
    n = PySlice_AdjustIndices(s.length, &start, &stop, step)
    cdef const char* data = <const char*>cnp.PyArray_DATA(arr)
    if step != 1:
        if m != n:
            raise ValueError(
                f"attempt to assign sequence of size {m} to extended slice of size {n}")
        if _seglist_scatter(s, start, step, m, data) != SEGPY_OK:
            _raise_changed("slice assignment")
        return 0
    # A simple slice [start, start+n) is replaced by m elements: open or
    # close the difference at its end first (the only step that can fail,
    # and it leaves the list unchanged), then write.
    if m > n:
        if _seglist_insert_gap(s, start + n, m - n) != SEGPY_OK:
            _raise_grow_error(self, m - n)
    elif m < n:
        _seglist_erase(s, start + m, n - m)
    seglist_write_range(s, start, data, m)
    if m < n:
        _after_shrink(self)
    return 0


cdef int _del_slice(SegmentedList self, object sl) except -1:
    cdef seglist_t* s = &self.c
    cdef Py_ssize_t start, stop, step, n
    cdef int rc
    PySlice_Unpack(sl, &start, &stop, &step)
    n = PySlice_AdjustIndices(s.length, &start, &stop, step)
    if n == 0:
        return 0
    if step < 0:
        # The same set of indices, walked upwards.
        start += (n - 1) * step
        step = -step
    if step == 1 or n == 1:
        rc = _seglist_erase(s, start, n)
    else:
        rc = _seglist_erase_strided(s, start, step, n)
    if rc != SEGPY_OK:
        _raise_changed("slice deletion")
    _after_shrink(self)
    return 0


cdef object _search_key(SegmentedList self, object x):
    """``x`` as a 0-d array that numpy can compare with the elements, or None
    if no element can equal it (then index/count/remove/in find nothing)."""
    dt = self._dtype
    cdef str kind = dt.kind
    try:
        # A record is compared as a record of the list's own dtype; anything
        # else keeps its own type, so numpy's promotion compares exactly
        # (0.1 is not equal to float32(0.1), as with the boxed elements).
        key = np.asarray(x, dtype=dt) if dt.names is not None else np.asarray(x)
        if key.ndim != 0:
            return None
        # numpy compares ints with floats in float64, which is inexact past
        # 2**53; Python compares them exactly.  So a float looked up among
        # ints, or an int among floats, is first turned into the other kind
        # if that is exact, and otherwise equals no element.
        if kind in "iu" and key.dtype.kind == "f":
            f = float(key)
            if not f.is_integer():
                return None         # also nan and inf
            key = np.asarray(int(f))
        elif kind in "fc" and PyLong_Check(x) and not PyBool_Check(x):
            f = float(x)
            if f != x:
                return None
            key = np.asarray(f)
    except (TypeError, ValueError, OverflowError):
        return None
    return key


cdef Py_ssize_t _find(SegmentedList self, object x, Py_ssize_t start, Py_ssize_t stop,
                      bint count) except -2:
    """First index in ``[start, stop)`` whose element equals ``x`` (-1 if none),
    or with ``count`` the number of such elements.

    Equality is numpy's ``==`` between the element and ``x`` (as for
    ``SegmentedList.__eq__``), computed one segment at a time on views; the
    views pin the segments, so an object key whose ``__eq__`` mutates the
    list cannot make this read freed memory.
    """
    cdef Py_ssize_t total = 0, pos = start, off, k, m, length, epoch
    cdef int j
    key = _search_key(self, x)
    if key is None:
        return 0 if count else -1
    # From here the answer is about the list as it is now; a comparison
    # that changes it (an object key's __eq__, a finaliser, another thread
    # while numpy compares) would make it an answer about no list at all.
    length = self.c.length
    epoch = self.c.epoch
    stop = min(stop, length)
    while pos < stop:
        j = seglist_locate(&self.c, pos, &off)
        k = min(seglist_segment_len(&self.c, j) - off, stop - pos)
        view = _segment_view(self, j, off + k)[off:]
        _check_unchanged(self, length, epoch, "a search")
        try:
            eq = view == key
        except (TypeError, ValueError):
            eq = None
        view = None
        _check_unchanged(self, length, epoch, "a search")
        if not isinstance(eq, np.ndarray):
            break               # not comparable: no element equals x
        if count:
            total += np.count_nonzero(eq)
        else:
            m = eq.argmax()
            if eq[m]:
                return pos + m
        pos += k
    return total if count else -1


cdef Py_ssize_t _slice_index(object v, Py_ssize_t n) except? -1:
    """An index()/count() bound as list clips it: negative counts from the end,
    then clamped to ``[0, n]`` (huge ints clamp instead of raising)."""
    cdef Py_ssize_t i
    if not PyIndex_Check(v):
        raise TypeError("slice indices must be integers or have an __index__ method")
    i = _as_ssize_clamped(v, NULL)
    if i < 0:
        i += n
        if i < 0:
            i = 0
    return min(i, n)


cdef object _lexcmp(SegmentedList a, object other, int op):
    """``a <op> other`` for two SegmentedLists, as list compares: the first
    elements that differ decide, else the lengths.  Elements are compared
    block by block with numpy's ``!=``; the deciding pair as Python values
    (records as tuples, field by field, the order ``np.sort`` uses)."""
    cdef SegmentedList b
    cdef Py_ssize_t n, pos = 0, blk, k = -1
    if not isinstance(other, SegmentedList):
        return NotImplemented
    b = <SegmentedList>other
    cdef Py_ssize_t na = a.c.length, nb = b.c.length
    cdef Py_ssize_t ea = a.c.epoch, eb = b.c.epoch
    n = min(na, nb)
    while pos < n:
        blk = min(n - pos, 1 << 16)
        x = np.empty(blk, dtype=a._dtype)
        y = np.empty(blk, dtype=b._dtype)
        # The allocations may have run finalisers: both reads are checked
        # against the lengths the comparison started with.
        _check_unchanged(a, na, ea, "a comparison")
        _check_unchanged(b, nb, eb, "a comparison")
        _read_range(a, pos, cnp.PyArray_DATA(x), blk)
        _read_range(b, pos, cnp.PyArray_DATA(y), blk)
        try:
            ne = x != y
        except (TypeError, ValueError):
            ne = None
        if not isinstance(ne, np.ndarray):
            raise TypeError(
                f"cannot order SegmentedLists of {_dtype_name(a._dtype)} and "
                f"{_dtype_name(b._dtype)}: their elements do not compare")
        if ne.any():
            k = ne.argmax()
            if a._dtype.names is not None:
                return PyObject_RichCompare(x[k:k + 1].tolist()[0],
                                            y[k:k + 1].tolist()[0], op)
            # Boxed from the copies: numpy may have released the GIL while
            # comparing, and the lists may have changed since.
            return PyObject_RichCompare(
                _box(a, <const char*>cnp.PyArray_DATA(x) + k * a.c.itemsize),
                _box(b, <const char*>cnp.PyArray_DATA(y) + k * b.c.itemsize), op)
        pos += blk
    return PyObject_RichCompare(na, nb, op)


cdef int _repeat_into(SegmentedList dst, SegmentedList src, Py_ssize_t times) except -1:
    """Append ``times`` copies of ``src`` to ``dst`` (``dst`` may be ``src``:
    then ``times - 1`` more copies).  Room is reserved first, so this is all
    or nothing; the copies double from what is already written, O(log times)
    memcpy runs."""
    cdef seglist_t* d = &dst.c
    cdef Py_ssize_t n0 = src.c.length, base = d.length, have, total, k
    if dst is src:
        base = 0
        times -= 1
    if times <= 0 or n0 == 0:
        return 0
    if times > (d.max_length - d.length) // n0:
        raise MemoryError(
            f"cannot repeat {n0} elements {times} times: beyond the "
            f"{d.max_length} elements a SegmentedList can address")
    total = d.length + n0 * times - base      # elements from base once done
    if seglist_reserve(d, base + total) != SEGPY_OK:
        _raise_grow_error(dst, n0 * times)
    # No Python code runs from the reads of the lengths above to here, and
    # room is reserved: these cannot fail.
    if dst is not src:
        _seglist_extend_from(d, &src.c, 0, 1, n0)
    have = d.length - base
    while have < total:
        k = min(have, total - have)
        _seglist_extend_from(d, d, base, 1, k)
        have += k
    return 0


cdef Py_ssize_t _repeat_count(object n) except? -1:
    if not PyIndex_Check(n):
        raise TypeError(f"can't multiply sequence by non-int of type '{type(n).__name__}'")
    return PyNumber_AsSsize_t(n, OverflowError)


cdef object _equal(SegmentedList self, object other):
    """Element-wise equality with a sequence or array, numpy's == per element.

    ``other`` is converted first (which may run Python code that changes
    the list); the answer is about the list as it is after that, and
    RuntimeError says so if the comparison itself changed it.
    """
    cdef Py_ssize_t n, start = 0, length, epoch
    if isinstance(other, SegmentedList):
        other = (<SegmentedList>other).to_numpy()
    elif isinstance(other, (str, bytes, bytearray)):
        return NotImplemented
    elif not isinstance(other, (Sequence, np.ndarray)) and not hasattr(other, "__array__"):
        return NotImplemented
    if isinstance(other, Sequence) and not isinstance(other, np.ndarray) \
            and len(other) != self.c.length:
        return False
    try:
        if self._dtype.names is not None and not isinstance(other, np.ndarray):
            other = np.array(other, dtype=self._dtype)
        else:
            other = np.asarray(other)     # an exact ndarray: its shape is the C one
    except (TypeError, ValueError):
        return False
    n = self.c.length
    if cnp.PyArray_NDIM(other) != 1 or cnp.PyArray_DIM(other, 0) != n:
        return False
    views = self.segments()
    length = self.c.length
    epoch = self.c.epoch
    if length != n:
        _raise_changed("a comparison")
    try:
        # The views pin the segments, so Python code run by the comparison
        # (object arrays, another thread while numpy compares) cannot free
        # memory under it; a change of size is reported, not compared.
        for view in views:
            eq = view == other[start:start + cnp.PyArray_DIM(view, 0)]
            _check_unchanged(self, length, epoch, "a comparison")
            if not isinstance(eq, np.ndarray) or not eq.all():
                return False
            start += cnp.PyArray_DIM(view, 0)
    except TypeError:
        return False
    return True
