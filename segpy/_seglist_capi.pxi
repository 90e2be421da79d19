# The C-level API bridge: between a C-built ``seglist_t`` and a SegmentedList
# object, the boundary helper that turns an error code into a Python
# exception, and the ``capi`` capsule for C, cffi, ctypes and numba (see
# seglist.pxd's matching block and docs/c-api.md).  Included last by
# seglist.pyx, after the class.

cdef seglist_t* segmented_list_struct(SegmentedList obj) except NULL:
    """The C struct inside ``obj``: what C code pushes to and reads from.

    The pointer is valid while ``obj`` is alive; the caller keeps a
    reference.  C code may push, reserve and read through it without the
    GIL, as long as no other thread (the Python one included) touches the
    list meanwhile.  Safety: do not ``seglist_destroy``, re-init or
    ``seglist_release_unused`` it (views from ``segments()`` may point
    into its segments); truncating is allowed.  Raises TypeError for None.
    """
    if obj is None:
        raise TypeError("expected a SegmentedList, got None")
    return &obj.c


cdef SegmentedList segmented_list_adopt(seglist_t* s, object dtype, Allocator owner):
    """Wrap the C-built list ``*s`` as a new SegmentedList of ``dtype``, without a copy.

    The new object takes the segments over; ``*s`` is left a valid empty
    list on the same allocator (destroying it is a harmless no-op), so the
    caller's cleanup path need not know whether the hand-over happened.
    ``s.alloc`` must be ``&owner.iface``: the new list keeps ``owner``
    alive, which keeps the segments' memory alive.  Needs the GIL.

    Raises TypeError for a ``dtype`` a SegmentedList cannot hold or a None
    ``owner``; ValueError if ``s`` is NULL or inconsistent, was not built on
    ``owner``, or its itemsize differs from the dtype's.  On error ``*s`` is
    untouched and still owns its segments.
    """
    cdef SegmentedList new
    cdef Py_ssize_t epoch
    if owner is None:
        raise TypeError("segmented_list_adopt needs the Allocator the list was built on, got None")
    if s == NULL:
        raise ValueError("segmented_list_adopt was given a NULL list")
    if s.alloc != &owner.iface:
        raise ValueError(
            f"the list's segments do not come from this {owner.name} allocator: pass "
            "the Allocator whose iface the list was built on")
    if (s.itemsize <= 0 or s.shift < 0 or s.shift > SEGPY_MAX_SHIFT
            or s.nseg < 0 or s.nseg > SEGPY_MAX_SEGMENTS
            or s.length < 0 or s.length > seglist_capacity(s)):
        raise ValueError(
            f"segmented_list_adopt was given an inconsistent list (itemsize {s.itemsize}, "
            f"shift {s.shift}, {s.nseg} segments, length {s.length})")
    dt = _check_dtype(dtype)
    if dt.itemsize != s.itemsize:
        raise ValueError(
            f"cannot wrap a list of {s.itemsize}-byte elements as dtype {dt!r} "
            f"of itemsize {dt.itemsize}")
    new = SegmentedList.__new__(SegmentedList)
    seglist_destroy(&new.c)     # empty: releases nothing
    _setup(new, dt, owner, s.shift)
    epoch = new.c.epoch
    memcpy(&new.c, s, sizeof(seglist_t))
    new.c.epoch = epoch
    seglist_sync_cursor(&new.c)
    # By-value arguments: read before seglist_init clears the struct.
    seglist_init(s, s.itemsize, s.shift, s.alloc)
    return new


cdef int seglist_raise(const seglist_t* s, Allocator owner, int rc,
                       Py_ssize_t extra) except -1:
    """Raise the Python exception for the code ``rc`` a C function on ``s`` returned.

    Returns 0 for SEGPY_OK.  SEGPY_ENOMEM and SEGPY_ETOOBIG become
    MemoryError with the messages ``append`` raises (``extra`` is the
    number of elements the failed call wanted to add), or the allocator's
    own error (OSError for a file that cannot grow); SEGPY_ESTORE (a file
    write of appended elements failed) becomes OSError; SEGPY_EINVAL becomes
    ValueError; SEGPY_ERELEASE becomes ``segpy.AllocatorError``.  ``owner``
    is the Allocator the list was built on (its stats go in the message).
    Needs the GIL.
    """
    if rc == SEGPY_OK:
        return 0
    if rc == SEGPY_ETOOBIG:
        raise MemoryError(
            f"cannot grow a SegmentedList of {s.itemsize}-byte elements from "
            f"{s.length} by {extra} elements: beyond its {s.max_length} "
            "addressable elements")
    if owner is None:
        raise TypeError(f"segpy error {rc}: the list's Allocator is needed to describe it")
    if rc == SEGPY_ENOMEM:
        raise_alloc_error(owner, s.failed_bytes, "a new segment")
    if rc == SEGPY_ESTORE:
        raise_alloc_error(owner, s.failed_bytes, "the appended elements")
    if rc == SEGPY_EINVAL:
        raise ValueError(
            f"invalid argument for a SegmentedList of {s.itemsize}-byte elements "
            f"of length {s.length} (an element of {s.failed_bytes} bytes, a negative "
            "count or a range outside the list)")
    if rc == SEGPY_ERELEASE:
        raise_misuse(owner, owner.common.last_error if owner.common != NULL else 0)
    raise SystemError(f"unknown segpy error code {rc}")


cdef int segmented_list_raise(SegmentedList obj, int rc, Py_ssize_t extra) except -1:
    """``seglist_raise`` for the struct inside ``obj``: 0 for SEGPY_OK, else raises."""
    if rc == SEGPY_OK:
        return 0
    return seglist_raise(&obj.c, obj._allocator, rc, extra)


# The table behind the capsule.  Inline functions get an out-of-line copy
# in this module when their address is taken; the others are the module's
# own C functions, so a call through the table costs one indirect call.

cdef Py_ssize_t _capi_itemsize(const seglist_t* s) noexcept nogil:
    return s.itemsize


cdef int _capi_last_error(const seglist_t* s) noexcept nogil:
    return s.last_error


cdef segpy_capi_t _CAPI
_CAPI.version = SEGPY_CAPI_VERSION
_CAPI.struct_size = sizeof(segpy_capi_t)
_CAPI.seglist_size = sizeof(seglist_t)
_CAPI.init = seglist_init
_CAPI.destroy = seglist_destroy
_CAPI.push = seglist_push
_CAPI.emplace = seglist_emplace
_CAPI.at = seglist_at
_CAPI.reserve = seglist_reserve
_CAPI.truncate = seglist_truncate
_CAPI.length = seglist_len
_CAPI.itemsize = _capi_itemsize
_CAPI.used_segments = seglist_used_segments
_CAPI.segment = seglist_segment
_CAPI.append_n = seglist_append_n
_CAPI.read_range = seglist_read_range
_CAPI.last_error = _capi_last_error

# Named "<module>.<attribute>" so C code can fetch it with
# PyCapsule_Import("segpy.seglist.capi", 0).
capi = PyCapsule_New(<void*>&_CAPI, "segpy.seglist.capi", NULL)


cdef void _drop_list_capsule(object cap) noexcept:
    # The capsule's context holds the reference that keeps the list alive.
    cdef PyObject* lst = <PyObject*>PyCapsule_GetContext(cap)
    if lst != NULL:
        Py_DECREF(<object>lst)


def capsule(SegmentedList lst not None):
    """Return a PyCapsule holding the address of `lst`'s C struct.

    The capsule is named ``"segpy.seglist_t"`` and keeps `lst` alive.  Pass
    its pointer to the functions of the :data:`capi` table (a capsule named
    ``"segpy.seglist.capi"`` holding a ``segpy_capi_t``), from C, cffi,
    ctypes or numba.  One thread at a time may use the list (the Python
    thread included); see docs/c-api.md.

    Parameters
    ----------
    lst : SegmentedList

    Returns
    -------
    PyCapsule

    Examples
    --------
    >>> import ctypes, segpy
    >>> from segpy import seglist
    >>> lst = segpy.SegmentedList('q')
    >>> get = ctypes.pythonapi.PyCapsule_GetPointer
    >>> get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    >>> get(seglist.capsule(lst), b"segpy.seglist_t") != 0
    True
    """
    cap = PyCapsule_New(<void*>&lst.c, "segpy.seglist_t", _drop_list_capsule)
    Py_INCREF(lst)
    PyCapsule_SetContext(cap, <void*>lst)
    return cap
