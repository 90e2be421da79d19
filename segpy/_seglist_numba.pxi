# The C side of the numba bridge (segpy/numba.py holds the rest).  Included
# by seglist.pyx, after the class.
#
# Compiled numba code works on a SegmentedList's own ``seglist_t``: it finds
# the struct when an @njit function unboxes its argument and then reads,
# stores and appends through it with no Python call.  What it needs from
# here, beyond the public capsule's functions (``emplace``, ``reserve``,
# ``append_n``, through which every growth goes to the list's allocator):
#
# * ``_numba_enter`` / ``_numba_exit``, called by the unboxing code and its
#   cleanup, around every compiled call.  They pin the list (``_pin``, as
#   a method call in progress does), so that while the compiled code holds
#   the struct's addresses no segment is released and ``__init__`` refuses
#   (an ``objmode`` block, a finaliser or another thread under
#   ``nogil=True`` cannot change the itemsize the code was compiled for).
# * the field offsets of ``seglist_t``, for the inlined hot paths (the push
#   fast path and the element lookup), taken from the struct itself so that
#   they follow any change to it.
#
# * ``_numba_cc_enter`` / ``_numba_cc_exit`` / ``_numba_cc_push_slow``, the
#   same for a concurrent writer (``lst.concurrent_writer()``) passed to an
#   @njit function: compiled pushes go through one C writer per numba
#   thread id, in a table the writer object owns; the inlined fast path
#   stores into the thread's claimed run, the slow path (a new claim, a new
#   segment) is the C function.
#
# Layering rule: boundary code; calls the guard's pin and the read-only check.

cdef int _check_compiled_itemsize(SegmentedList lst, Py_ssize_t itemsize,
                                  str what) except -1:
    """TypeError unless ``lst`` holds the ``itemsize``-byte elements the
    compiled call was typed for (``what`` names the list in the message)."""
    if lst.c.itemsize != itemsize:
        raise TypeError(
            f"{what} holds {lst.c.itemsize}-byte elements, but the compiled function was "
            f"typed for {itemsize}-byte ones")
    return 0


cdef seglist_t* _numba_enter(object obj, Py_ssize_t itemsize, int writable) except NULL:
    """The struct of ``obj`` for a compiled call, pinned until ``_numba_exit``.

    ``itemsize`` and ``writable`` are what the call was compiled for (its
    numba type); a list that no longer matches them raises (TypeError or
    ValueError) rather than let the code read or store the wrong size, or
    store into a read-only mapping.  Needs the GIL; returns NULL with an
    exception set on error, and then nothing is pinned.
    """
    if not isinstance(obj, SegmentedList):
        raise TypeError(f"expected a SegmentedList, got {type(obj).__name__}")
    cdef SegmentedList lst = <SegmentedList>obj
    _check_compiled_itemsize(lst, itemsize, "this SegmentedList")
    if writable:
        _check_writable(lst)
    _pin(lst)
    return &lst.c


cdef void _numba_exit(object obj) noexcept:
    """Undo one ``_numba_enter`` of ``obj``.  Needs the GIL."""
    _unpin(<SegmentedList>obj)


# The most numba thread ids a compiled call can have (numba's
# NUMBA_NUM_THREADS, fixed when its threads start), set by segpy.numba at
# import: the size of a writer's table.
cdef Py_ssize_t _numba_max_threads = 0


def _numba_set_max_threads(Py_ssize_t n):
    """Size the writer tables of compiled calls: numba's thread count."""
    global _numba_max_threads
    if n < 1:
        raise ValueError(f"numba's thread count must be at least 1, not {n}")
    _numba_max_threads = n


cdef _nb_cc_t* _numba_cc_enter(object obj, Py_ssize_t itemsize, int nogil) except NULL:
    """The compiled side of the writer ``obj`` for one compiled call.

    ``itemsize`` is what the call was compiled for, ``nogil`` whether the
    call releases the GIL.  A writer's threads take the GIL to install a
    segment, so a call that holds it (``nogil=False``) is refused: with
    ``parallel=True`` it would wait for threads that wait for it.  One
    compiled call at a time: two would share numba's thread ids.  Counted
    in flight until ``_numba_cc_exit``, so ``close()`` from another thread
    waits for the call.  Needs the GIL; NULL with an exception set on error.
    """
    if not isinstance(obj, _ConcurrentWriter):
        raise TypeError(f"expected a concurrent writer, got {type(obj).__name__}")
    cdef _ConcurrentWriter w = <_ConcurrentWriter>obj
    w._check_open()
    _check_compiled_itemsize(w.lst, itemsize, "this writer's list")
    if not nogil:
        raise TypeError(
            "a concurrent writer can only be passed to a function compiled with "
            "nogil=True: a thread that pushes into a new segment takes the GIL to make it, "
            "and a parallel function that holds the GIL would wait for its threads forever")
    if w.numba_calls > 0:
        raise RuntimeError("this concurrent writer is in use by another compiled call: "
                           "one compiled call at a time may push through it")
    if w.nb.table == NULL:
        if _numba_max_threads < 1:
            raise RuntimeError("segpy.numba is not initialised")
        w.nb.table = <seglist_cc_writer_t*>PyMem_RawCalloc(
            <size_t>_numba_max_threads, sizeof(seglist_cc_writer_t))
        if w.nb.table == NULL:
            raise MemoryError("cannot allocate the compiled writers' table")
        w.nb.ntable = _numba_max_threads
        w.nb.cc = &w.cc
    w.numba_calls += 1
    w.inflight += 1
    w.numba_thread = PyThread_get_thread_ident()
    return &w.nb


cdef void _numba_cc_exit(object obj) noexcept:
    """Undo one ``_numba_cc_enter`` of ``obj``.  Needs the GIL."""
    cdef _ConcurrentWriter w = <_ConcurrentWriter>obj
    w.numba_calls -= 1
    w.inflight -= 1


cdef int _numba_cc_push_slow(seglist_cc_writer_t* w, _nb_cc_t* nb,
                             const void* src) noexcept nogil:
    """A compiled push when the thread's writer ``w`` has no room: its
    first push (``w`` still zeroed) or a new claim.  ``w`` NULL: a thread
    id past the table.  Returns 0 or the failure, also kept in
    ``nb.failed`` for ``close()`` to raise."""
    cdef int rc
    if w == NULL:
        rc = SEGPY_EINVAL
    else:
        if w.cc == NULL:
            seglist_cc_writer_init(w, nb.cc)     # a failure stays in w.error
        rc = seglist_cc_push_slow(w, src)
    if rc != SEGPY_OK:
        segpy_cc_cas_int(&nb.failed, 0, rc)
    return rc


cdef int _numba_cc_raise(_ConcurrentWriter w) except -1:
    """Raise for a compiled push that failed (after the phase ended)."""
    cdef int rc = w.nb.failed
    if rc == SEGPY_OK:
        return 0
    if rc == SEGPY_EINVAL:
        raise RuntimeError(
            f"compiled pushes through this concurrent writer were lost: a phase takes at "
            f"most {SEGPY_CC_MAX_WRITERS} writers, one per numba thread")
    return _cc_raise(w, rc, 1)


def _numba_writer_dtype(obj):
    """The dtype of the list a concurrent writer appends to (its numba type)."""
    if not isinstance(obj, _ConcurrentWriter):
        raise TypeError(f"expected a concurrent writer, got {type(obj).__name__}")
    return (<_ConcurrentWriter>obj).lst._dtype


def _numba_readonly(SegmentedList lst not None):
    """Whether `lst` refuses stores (a file opened with mode='r').

    Constant for the life of the object (only ``SegmentedList.open`` sets
    it, and a file-backed list cannot be re-initialised), so numba makes it
    part of the list's type.
    """
    return lst._readonly


def _numba_bridge():
    """Addresses of the bridge's functions and the offsets of ``seglist_t``'s fields.

    Read once by segpy.numba at import; the offsets are in bytes.
    """
    cdef seglist_t probe
    cdef seglist_cc_writer_t wprobe
    cdef _nb_cc_t nprobe
    cdef size_t base = <size_t>&probe
    return {
        "enter": <size_t><void*>_numba_enter,
        "exit": <size_t><void*>_numba_exit,
        "cc_enter": <size_t><void*>_numba_cc_enter,
        "cc_exit": <size_t><void*>_numba_cc_exit,
        "cc_push_slow": <size_t><void*>_numba_cc_push_slow,
        "writer_sizeof": sizeof(seglist_cc_writer_t),
        "writer_cur": <size_t>&wprobe.cur - <size_t>&wprobe,
        "writer_end": <size_t>&wprobe.end - <size_t>&wprobe,
        "nb_table": <size_t>&nprobe.table - <size_t>&nprobe,
        "nb_ntable": <size_t>&nprobe.ntable - <size_t>&nprobe,
        "sizeof": sizeof(seglist_t),
        "cursor": <size_t>&probe.cursor - base,
        "cursor_end": <size_t>&probe.cursor_end - base,
        "length": <size_t>&probe.length - base,
        "max_length": <size_t>&probe.max_length - base,
        "itemsize": <size_t>&probe.itemsize - base,
        "shift": <size_t>&probe.shift - base,
        "last_error": <size_t>&probe.last_error - base,
        "bases": <size_t>&probe.bases - base,
    }
