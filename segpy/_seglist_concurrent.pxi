# Concurrent pushes from Python: SegmentedList.concurrent_writer() and its
# writer, a thin shell over the core's seglist_cc_* functions (the C API;
# _seglist_core.pxi has the phase's layout and invariants).  Included by
# seglist.pyx.  The rules are in seglist.pxd's block and docs/threads.md.

# -- The Python shell -----------------------------------------------------------

@cython.final
cdef class _ConcurrentWriter:
    """The open concurrent phase of a SegmentedList (``concurrent_writer()``).

    ``append`` and ``extend`` may be called from many threads at once;
    ``extend`` copies without the GIL.  Leaving the ``with`` block (or
    ``close()``) waits for copies in flight and makes the list's length
    exact.
    """

    cdef SegmentedList lst
    cdef seglist_cc_t cc
    cdef Py_ssize_t inflight       # extends copying without the GIL
    cdef bint closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    cdef int _check_open(self) except -1:
        if self.closed:
            raise ValueError("this concurrent writer is closed: its phase has ended")
        return 0

    def append(self, x, /):
        """Append one element (converted as ``SegmentedList.append`` does).

        Raises
        ------
        MemoryError
            If the element's segment could not be made (see
            ``concurrent_writer`` for what the list keeps).
        """
        cdef int64_t buf[2]
        cdef const char* src
        self._check_open()
        src = _pack(self.lst, x, buf)
        self._check_open()      # _pack may have run Python code that closed it
        _cc_raise(self, seglist_cc_append_n(&self.cc, src, 1), 1)

    def extend(self, values, /):
        """Append an array-like as one run; the copy runs without the GIL.

        Raises
        ------
        TypeError, ValueError
            As ``SegmentedList.extend`` for values it cannot convert.
        MemoryError
            If the run did not fit: its part before the first segment that
            could not be made is stored, the rest is not.
        """
        cdef Py_ssize_t n
        cdef const char* src
        cdef int rc = SEGPY_OK
        self._check_open()
        arr = _array_source(values)
        if arr is None:
            arr = _pack_all(self.lst, list(values))
        else:
            arr = _converted(self.lst, arr, "extend()", "extend")
        self._check_open()      # conversion may have run Python code
        n = cnp.PyArray_DIM(arr, 0)
        if n == 0:
            return
        src = <const char*>cnp.PyArray_DATA(arr)
        # The C API's run, as a prange thread would make it: it takes the
        # GIL back only to install a segment.  Counted in flight, so that
        # close() from another thread waits for the copy.
        self.inflight += 1
        try:
            with nogil:
                rc = seglist_cc_append_n(&self.cc, src, n)
        finally:
            self.inflight -= 1
        _cc_raise(self, rc, n)

    def close(self):
        """End the phase: wait for copies in flight, then fix the length.

        Idempotent.  The list then holds every element stored during the
        phase, and its mutating methods work again.
        """
        if self.closed:
            return
        while self.inflight > 0:
            # Another thread is copying without the GIL: let it finish.
            with nogil:
                _cc_yield()
        self._end()

    cdef void _end(self) noexcept:
        self.closed = True
        seglist_cc_end(&self.cc)
        self.lst._cc_open = False
        _unpin(self.lst)

    @property
    def error(self):
        """int : 0, or the segpy error code of the phase's first failure."""
        return self.cc.error

    def __dealloc__(self):
        # A writer dropped without close() still ends its phase, or the
        # list would stay pinned and read-only for good.
        if self.lst is not None and not self.closed:
            self._end()


cdef extern from *:
    """
    #if defined(_WIN32)
    #include <windows.h>
    static void segpy_cc_yield(void) { SwitchToThread(); }
    #else
    #include <sched.h>
    static void segpy_cc_yield(void) { sched_yield(); }
    #endif
    """
    void _cc_yield "segpy_cc_yield"() noexcept nogil


cdef int _check_no_phase(SegmentedList self) except -1:
    """BufferError while a concurrent phase is open (as array.array refuses
    to resize while it exports a buffer)."""
    if self._cc_open:
        raise BufferError("SegmentedList cannot be changed while a concurrent_writer() "
                          "phase is open: write through the writer, or close it first")
    return 0


cdef int _cc_raise(_ConcurrentWriter w, int rc, Py_ssize_t n) except -1:
    if rc == SEGPY_OK:
        return 0
    return seglist_raise(w.cc.s, w.lst._allocator, rc, n)


cdef _ConcurrentWriter _cc_begin_phase(SegmentedList self):
    _check_writable(self)
    if self._allocator is None:
        raise ValueError("SegmentedList is not initialised")
    cdef _ConcurrentWriter w = _ConcurrentWriter.__new__(_ConcurrentWriter)
    w.lst = self
    seglist_cc_begin(&w.cc, &self.c)
    _pin(self)
    self._cc_open = True
    return w


segpy_seal_new(_ConcurrentWriter, "made by SegmentedList.concurrent_writer()")
