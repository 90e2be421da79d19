# Python code in the middle of a call: the pinning rule and the errors that
# report a list changed under a method.  Included by seglist.pyx.
#
# Layering rule: boundary code (it raises); calls the core's public
# functions and the C-API boundary helper only.

# -- Python code in the middle of a call --------------------------------------
#
# Conversion hooks (__index__, __array__, __float__ ...), iterators, __eq__,
# finalisers that the cyclic GC runs during any allocation, and other
# threads while numpy has released the GIL can all run arbitrary code in
# the middle of a method, and that code may clear, shrink, grow or
# re-initialise the list.  Two rules keep every method correct:
#
# 1. A method that holds anything across such code (an element address, a
#    length, the itemsize or dtype) *pins* the list for its duration
#    (``_pin`` ... ``_unpin`` in try/finally).  While pinned, no segment
#    is released (``_pinned``: clear/shrink only truncate) and __init__
#    refuses, so addresses stay valid and the layout is constant.
# 2. What the Python code may still change, the length and the epoch, is
#    checked again after it: the C core range-checks every read and write
#    against the length as it is now, and a method whose answer depends on
#    the length takes a ``(length, epoch)`` snapshot and raises
#    RuntimeError (``_check_unchanged``) if it moved, the way list.sort
#    says "list modified during sort".  Nothing is ever read from or
#    written to a stale range.

cdef inline void _pin(SegmentedList self) noexcept:
    self._busy += 1


cdef inline void _unpin(SegmentedList self) noexcept:
    self._busy -= 1


cdef inline bint _pinned(SegmentedList self) noexcept:
    """True while a segment may be addressed from outside the struct: by a
    segment view, or by a method call in progress."""
    return self._exports != 0 or self._busy != 0


cdef int _raise_changed(str what) except -1:
    raise RuntimeError(
        f"SegmentedList changed size during {what} (Python code run by the call, "
        "a finaliser or another thread modified it)")


cdef inline int _check_unchanged(SegmentedList self, Py_ssize_t length, Py_ssize_t epoch,
                                 str what) except -1:
    """RuntimeError unless the list still has the length and epoch of the snapshot."""
    if self.c.length != length or self.c.epoch != epoch:
        _raise_changed(what)
    return 0


cdef int _raise_range_error(SegmentedList self, int rc, Py_ssize_t extra, str what) except -1:
    """The exception for a core call that failed on a list that Python code may
    have changed: EINVAL means the range no longer fits, anything else is
    a growth failure."""
    if rc == SEGPY_EINVAL:
        return _raise_changed(what)
    return _raise_grow_error(self, extra)


# Every read of a range of elements by the boundary goes through this one
# checked read.
cdef int _read_range(SegmentedList self, Py_ssize_t start, void* dst,
                     Py_ssize_t n) except -1:
    """Copy elements ``[start, start+n)`` to ``dst``, or raise RuntimeError.

    The range was computed before an allocation, and an allocation can run
    the cyclic GC and so finalizers that shrink the list: the C call checks
    the range against the length as it is now and copies nothing if it no
    longer fits.
    """
    if seglist_read_range(&self.c, start, dst, n) != SEGPY_OK:
        raise RuntimeError("SegmentedList changed size during the copy")
    return 0
