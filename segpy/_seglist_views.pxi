# Views and iterators: the zero-copy segment views (and the export object
# that keeps their memory alive, which Arrow exports use too) and the forward and reverse iterators.
# Included by seglist.pyx.
#
# Layering rule: boundary code; reads elements through the inline checked
# accessors of seglist.pxd and boxes them with _seglist_convert.pxi.

@cython.final
@cython.no_gc_clear
cdef class _SegmentExport:
    """The base object of a segment view: keeps the list, and so the
    segment's memory, alive, and counts as an export while it exists.

    no_gc_clear: the cyclic GC must not set ``lst`` to None before
    ``__dealloc__`` runs, or the export would never be uncounted."""
    cdef SegmentedList lst

    def __dealloc__(self):
        if self.lst is not None:
            self.lst._exports -= 1


# The internal types are made only by segpy (see segpy_seal_new).
segpy_seal_new(_SegmentExport, "the base object of a SegmentedList.segments() view")


cdef _SegmentExport _new_segment_export(SegmentedList self):
    """A new export of the list: while it lives the list keeps its segments
    (clear and shrink_to_fit release none) and refuses __init__.  The base
    of every segment view and the owner of every Arrow export."""
    cdef _SegmentExport owner = _SegmentExport.__new__(_SegmentExport)
    owner.lst = self
    self._exports += 1
    self._views_made += 1
    return owner


cdef object _segment_view(SegmentedList self, int j, Py_ssize_t n):
    """A writable view of the first ``n`` elements of segment ``j``.

    The caller pins the list (or holds another view): the allocations here
    can run finalisers, and the segment must still exist when its address
    is read.  Raises RuntimeError if it does not (never a view of memory
    that is not the list's).
    """
    cdef cnp.npy_intp dims[1]
    cdef _SegmentExport owner = _new_segment_export(self)
    dims[0] = n
    dt = self._dtype
    if j < 0 or j >= self.c.nseg or n < 0 or n > seglist_segment_len(&self.c, j):
        _raise_changed("the making of a segment view")
    Py_INCREF(dt)  # PyArray_NewFromDescr steals it
    arr = PyArray_NewFromDescr(
        <PyTypeObject*>np.ndarray, <cnp.dtype>dt, 1, dims, NULL, self.c.segs[j],
        cnp.NPY_ARRAY_CARRAY_RO if self._readonly else cnp.NPY_ARRAY_CARRAY, NULL)
    cnp.set_array_base(arr, owner)
    return arr


cdef seglist_t _EXHAUSTED    # zero-filled: length 0, so every step stops


cdef extern from "Python.h":
    # Raw-pointer spellings of the two boxing calls of the iterator's hot
    # step.  Cython adds no NULL check after these, so the C compiler can
    # emit them as tail calls (as array.array's iterator does); a NULL result
    # already carries its MemoryError, which is what tp_iternext returns.
    PyObject* _raw_int "PyLong_FromLongLong"(long long v) noexcept
    PyObject* _raw_float "PyFloat_FromDouble"(double v) noexcept
    ctypedef PyObject* (*_iternextfunc "iternextfunc")(PyObject*) noexcept
    ctypedef struct _IterSlots "PyTypeObject":
        _iternextfunc tp_iternext


@cython.final
cdef class _Iterator:
    """Forward iterator over a SegmentedList.

    Like list's iterator it re-reads the length at every segment boundary,
    so it sees appends and stops at the current end.  It caches a cursor
    into the current segment and a ``stop`` index, ``min(end of that
    segment, length)`` as of the epoch ``gen``.  While ``c.epoch == gen``
    no segment was released, the list did not shrink and was not
    re-initialised (``__init__`` may get a new segment at the old address),
    so ``i < stop`` proves element ``i`` is live at ``cursor``: a mutated
    list can never make the iterator read freed or wrong memory.  Once
    exhausted, ``c`` points at a static empty ``seglist_t`` and the list is
    dropped, so no step needs a None check.

    The type's ``tp_iternext`` slot is ``_iternext`` (set at import, below);
    ``__next__`` serves explicit ``it.__next__()`` calls with the same code.
    """
    cdef seglist_t* c          # &lst.c while iterating, else &_EXHAUSTED
    cdef char* cursor          # address of element i while i < stop
    cdef Py_ssize_t i
    cdef Py_ssize_t stop       # min(end of the cursor's segment, length)
    cdef Py_ssize_t gen        # c.epoch when the cursor was derived
    cdef Py_ssize_t itemsize   # c.itemsize as of gen
    cdef int kind              # lst._kind as of gen
    cdef SegmentedList lst     # keeps *c alive; None once exhausted

    def __iter__(self):
        return self

    cdef char* _rederive(self, Py_ssize_t i) noexcept:
        """Point the cursor at element ``i``; NULL (list dropped) at the end."""
        cdef Py_ssize_t off
        cdef int seg
        if <size_t>i >= <size_t>self.c.length:
            self.c = &_EXHAUSTED
            self.stop = 0
            self.lst = None
            return NULL
        self.gen = self.c.epoch
        self.kind = self.lst._kind
        self.itemsize = self.c.itemsize
        seg = seglist_locate(self.c, i, &off)
        self.stop = min(seglist_segment_start(self.c, seg + 1), self.c.length)
        return self.c.segs[seg] + off * self.itemsize

    def __next__(self):
        cdef PyObject* r = _iternext(<PyObject*>self)
        if r == NULL:
            if PyErr_Occurred() != NULL:
                _propagate()    # the element's boxing error
            raise StopIteration
        value = <object>r      # takes a second reference ...
        Py_DECREF(value)       # ... so drop the one _iternext handed over
        return value

    def __length_hint__(self):
        """Elements left, assuming the list does not change."""
        return max(0, self.c.length - self.i)

    def __reduce__(self):
        # As array.array's iterator: (iter, (list,), position), and an
        # exhausted one, which no longer holds its list, as iter(()).
        if self.lst is None:
            return iter, ((),)
        return iter, (self.lst,), self.i

    def __setstate__(self, state):
        """Continue from position `state`, clipped to ``[0, len(list)]``."""
        cdef Py_ssize_t i = PyNumber_AsSsize_t(state, OverflowError)
        if self.lst is None:
            return
        self.i = min(max(i, 0), self.c.length)
        self.stop = 0           # the cursor is re-derived at the next step


cdef int _propagate() except -1:
    # Called with an exception already set: returning -1 makes Cython take
    # its error path, which raises that exception in the caller.
    return -1


cdef PyObject* _iter_box(PyObject* o, const char* p) except NULL:
    # Elements of the other kinds: a new reference, or NULL with the
    # exception set (the tp_iternext contract).
    value = _box((<_Iterator>o).lst, p)
    Py_INCREF(value)
    return <PyObject*>value

# The hot step reaches its two cold paths through these pointers.  The
# noexcept type means Cython adds no check after the call (_iter_box sets
# the exception itself), and the indirection keeps the C compiler from
# inlining the cold code, whose register needs would give the hot step a
# stack frame; both calls are then tail calls.
ctypedef PyObject* (*_iter_box_t)(PyObject*, const char*) noexcept
cdef _iter_box_t _iter_box_cold = <_iter_box_t>_iter_box


cdef PyObject* _iternext_slow(PyObject* o) noexcept:
    # Re-derive the cursor, then take the fast path, which now holds.
    cdef char* p = (<_Iterator>o)._rederive((<_Iterator>o).i)
    if p == NULL:
        return NULL             # exhausted: NULL with no exception set
    (<_Iterator>o).cursor = p
    return _iternext(o)


cdef _iternextfunc _iternext_cold = _iternext_slow


cdef PyObject* _iternext(PyObject* o) noexcept:
    """``tp_iternext`` of ``_Iterator``: the next element as a new reference,
    NULL with no exception set at the end, or NULL with one on error.

    ``o`` is borrowed and accessed through casts, so the step does no
    reference counting of its own, and every call in it is a tail call: the
    hot step is a handful of loads, two compares and a jump to the boxing
    function, as in array.array's iterator.
    """
    cdef Py_ssize_t i = (<_Iterator>o).i
    cdef char* p
    if i >= (<_Iterator>o).stop or (<_Iterator>o).c.epoch != (<_Iterator>o).gen:
        return _iternext_cold(o)
    p = (<_Iterator>o).cursor
    (<_Iterator>o).cursor = p + (<_Iterator>o).itemsize
    (<_Iterator>o).i = i + 1
    if (<_Iterator>o).kind == K_I64:
        return _raw_int((<const int64_t*>p)[0])
    if (<_Iterator>o).kind == K_F64:
        return _raw_float((<const double*>p)[0])
    return _iter_box_cold(o, p)


(<_IterSlots*>_Iterator).tp_iternext = <_iternextfunc>_iternext


@cython.final
cdef class _ReverseIterator:
    """Reverse iterator over a SegmentedList, as ``reversed(list)``.

    It stops, as list's does, once the next index is past the current end
    (the list shrank); each step locates its element afresh, so no cursor
    can go stale.
    """
    cdef SegmentedList lst     # None once exhausted
    cdef Py_ssize_t i

    def __iter__(self):
        return self

    def __next__(self):
        cdef Py_ssize_t i = self.i
        if self.lst is None or <size_t>i >= <size_t>self.lst.c.length:
            self.lst = None
            raise StopIteration
        self.i = i - 1
        return _box(self.lst, seglist_at_unchecked(&self.lst.c, i))

    def __length_hint__(self):
        """Elements left, assuming the list does not change."""
        if self.lst is None or self.i >= self.lst.c.length:
            return 0
        return self.i + 1

    def __reduce__(self):
        # As list's reverse iterator: (reversed, (list,), index of the next
        # element), and iter(()) once exhausted.
        if self.lst is None or self.i < 0:
            return iter, ((),)
        return reversed, (self.lst,), self.i

    def __setstate__(self, state):
        """Continue from index `state`, clipped to ``[-1, len(list) - 1]``."""
        cdef Py_ssize_t i = PyNumber_AsSsize_t(state, OverflowError)
        if self.lst is None:
            return
        self.i = min(max(i, -1), self.lst.c.length - 1)


segpy_seal_new(_Iterator, "made by iter() of a SegmentedList")
segpy_seal_new(_ReverseIterator, "made by reversed() of a SegmentedList")
