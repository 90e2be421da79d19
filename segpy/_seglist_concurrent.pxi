# Concurrent pushes from Python: SegmentedList.concurrent_writer() and its
# writer, a thin shell over the core's seglist_cc_* functions (the C API;
# _seglist_core.pxi has the phase's layout and invariants).  Included by
# seglist.pyx.  The rules are in seglist.pxd's block and docs/threads.md.

# -- The Python shell -----------------------------------------------------------

# The compiled (numba) side of a writer: one C writer per numba thread id,
# made when the first compiled call unboxes the writer
# (_seglist_numba.pxi), each initialised by its thread's first push and
# flushed when the phase ends.  numba code reaches it through a pointer to
# this struct.
ctypedef struct _nb_cc_t:
    seglist_cc_t* cc
    seglist_cc_writer_t* table      # ntable writers, zeroed until first used
    Py_ssize_t ntable
    int failed                      # atomic: a compiled push's first failure, or 0


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
    cdef Py_ssize_t inflight       # extends copying without the GIL, compiled calls
    cdef bint closed
    cdef _nb_cc_t nb
    cdef Py_ssize_t numba_calls    # compiled calls using ``nb`` (0 or 1)
    cdef long numba_thread         # the thread that made the current one

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

        Raises
        ------
        MemoryError
            If an ``append`` from compiled (numba) code could not store its
            element: compiled pushes return False rather than raise, so
            that a ``prange`` loop stays parallel, and the phase reports
            the failure here, after the list is made exact.
        RuntimeError
            If called from inside the compiled call that pushes through
            this writer (an ``objmode`` block): that call is not done.
        """
        if self.closed:
            return
        if self.numba_calls > 0 and PyThread_get_thread_ident() == self.numba_thread:
            raise RuntimeError("cannot close a concurrent writer from inside the compiled "
                               "call that pushes through it")
        while self.inflight > 0:
            # Another thread is copying without the GIL, or running a
            # compiled call: let it finish.
            with nogil:
                _cc_yield()
        self._end()
        _numba_cc_raise(self)

    cdef void _end(self) noexcept:
        cdef Py_ssize_t k
        self.closed = True
        for k in range(self.nb.ntable):
            if self.nb.table[k].cc != NULL:
                seglist_cc_writer_flush(&self.nb.table[k])
        PyMem_RawFree(self.nb.table)
        self.nb.table = NULL
        self.nb.ntable = 0
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
