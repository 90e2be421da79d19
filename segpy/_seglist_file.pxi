# File-backed lists: opening one over a FileAllocator, read-only lists,
# flushing, and pickling by path.  Included by seglist.pyx.
#
# Layering rule: boundary code.  The file's format and its crash safety live
# in segpy/file.pyx (docs/file-format.md); this file only binds a list to
# the allocator that maps its segments.

# FileAllocator is final, so its exact type is the isinstance test, and a
# pointer compare: every construction asks.
cdef object _FILE_ALLOCATOR = FileAllocator


cdef inline bint _file_backed(SegmentedList self):
    return type(self._allocator) is _FILE_ALLOCATOR


cdef int _check_writable(SegmentedList self) except -1:
    """Raise ValueError if the list is read-only (a file opened with mode='r'),
    BufferError while a concurrent phase is open (concurrent_writer())."""
    if self._readonly:
        _raise_readonly(self)
    return _check_no_phase(self)


cdef int _raise_readonly(SegmentedList self) except -1:
    # numpy's wording for a store into a read-only array.
    raise ValueError(f"SegmentedList is read-only: {self._allocator.path} was opened "
                     f"with mode='r'")


cdef SegmentedList _open_file(object path, object dtype, object mode, object first_segment,
                              Py_ssize_t length):
    """Open (or create) a file-backed list; see SegmentedList.open.

    ``length`` >= 0 opens only that many elements (pickling by path), which
    the file must have published.  Every segment holding a published
    element is mapped at once, through the allocator's ordinary request: the
    allocator maps the file's existing bytes, so nothing is copied.
    """
    dt = None if dtype is None else _list_dtype(dtype)
    fa = FileAllocator(path, dt, mode, first_segment=first_segment)
    n = fa.length
    if length >= 0:
        if length > n:
            raise ValueError(f"{fa.path} holds {n} published elements, fewer than the "
                             f"{length} of the pickled list")
        n = length
    cdef SegmentedList lst = SegmentedList.__new__(SegmentedList)
    seglist_destroy(&lst.c)
    _setup(lst, _list_dtype(fa.dtype), fa, fa.shift)
    cdef int rc = seglist_reserve(&lst.c, n)
    if rc != SEGPY_OK:
        _raise_grow_error(lst, n)
    if mode == "r":
        lst._readonly = True
        lst.c.max_length = n
    if _seglist_adopt_length(&lst.c, n) != SEGPY_OK:
        raise ValueError(f"{fa.path}: cannot adopt {n} elements")   # not reached: reserved
    return lst


cdef int _flush(SegmentedList self) except -1:
    if not _file_backed(self):
        raise TypeError("flush() needs a file-backed list (SegmentedList.open); this "
                        f"list's segments come from {type(self._allocator).__name__}")
    if self._readonly:
        _raise_readonly(self)
    (<object>self._allocator)._publish(self.c.length)
    return 0


def _unpickle_file(path, Py_ssize_t length):
    """Reconstructor of a pickled file-backed list: the file, read-only,
    showing the pickled length."""
    return _open_file(path, None, "r", None, length)


cdef object _reduce_file(SegmentedList self):
    """A file-backed list pickles as its path and length: the receiver maps
    the file read-only.  A writable list is flushed first, so the receiver
    finds every element the sender had."""
    if not self._readonly:
        _flush(self)
    return (_unpickle_file, (self._allocator.path, self.c.length))
