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
# Layering rule: boundary code; calls the guard's pin and the read-only check.

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
    if lst.c.itemsize != itemsize:
        raise TypeError(
            f"this SegmentedList holds {lst.c.itemsize}-byte elements, but the compiled "
            f"function was typed for {itemsize}-byte ones")
    if writable:
        _check_writable(lst)
    _pin(lst)
    return &lst.c


cdef void _numba_exit(object obj) noexcept:
    """Undo one ``_numba_enter`` of ``obj``.  Needs the GIL."""
    _unpin(<SegmentedList>obj)


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
    cdef size_t base = <size_t>&probe
    return {
        "enter": <size_t><void*>_numba_enter,
        "exit": <size_t><void*>_numba_exit,
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
