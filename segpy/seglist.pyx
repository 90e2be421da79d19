# cython: language_level=3
"""SegmentedList: a growable list of fixed-size numpy elements (see seglist.pxd)."""

import sys
from collections.abc import Sequence

cimport cython

import numpy as np

cimport numpy as cnp
from cpython.bool cimport PyBool_Check
from cpython.buffer cimport PyObject_CheckBuffer
from cpython.complex cimport PyComplex_Check
from cpython.complex cimport PyComplex_FromDoubles
from cpython.complex cimport PyComplex_ImagAsDouble
from cpython.complex cimport PyComplex_RealAsDouble
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.float cimport PyFloat_Check
from cpython.float cimport PyFloat_CheckExact
from cpython.float cimport PyFloat_FromDouble
from cpython.long cimport PyLong_AsDouble
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.long cimport PyLong_AsUnsignedLongLong
from cpython.long cimport PyLong_Check
from cpython.long cimport PyLong_CheckExact
from cpython.long cimport PyLong_FromLong
from cpython.long cimport PyLong_FromLongLong
from cpython.long cimport PyLong_FromUnsignedLongLong
from cpython.number cimport PyIndex_Check
from cpython.object cimport PyTypeObject
from cpython.number cimport PyNumber_AsSsize_t
from cpython.object cimport PyObject_RichCompare
from cpython.object cimport Py_GE
from cpython.object cimport Py_GT
from cpython.object cimport Py_LE
from cpython.object cimport Py_LT
from cpython.slice cimport PySlice_Check
from cpython.bytes cimport PyBytes_AS_STRING
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.buffer cimport PyBUF_SIMPLE
from cpython.buffer cimport PyBuffer_Release
from cpython.buffer cimport PyObject_GetBuffer
from cpython.exc cimport PyErr_Occurred
from cpython.ref cimport Py_DECREF
from cpython.ref cimport Py_INCREF
from cpython.ref cimport PyObject
from libc.stdint cimport int8_t
from libc.stdint cimport int16_t
from libc.stdint cimport int32_t
from libc.stdint cimport int64_t
from libc.stdint cimport SIZE_MAX
from cpython.pyport cimport PY_SSIZE_T_MAX
from libc.stdint cimport uint8_t
from libc.stdint cimport uint16_t
from libc.stdint cimport uint32_t
from libc.stdint cimport uint64_t
from libc.string cimport memcpy
from libc.string cimport memmove
from libc.string cimport memset

from segpy.alloc cimport Allocator
from segpy.alloc cimport segpy_allocator_t
from segpy.alloc cimport current_allocator
from segpy.alloc cimport raise_alloc_error
from segpy.alloc cimport segpy_seal_new

cnp.import_array()


cdef extern from "numpy/arrayobject.h":
    # Declared here with raw PyObject* so that a NULL base can be passed:
    # PyArray_Scalar copies the element only when base is NULL, and a copy
    # is what we need (a view would dangle once the segment is released).
    object PyArray_Scalar(void* data, cnp.dtype descr, PyObject* base)
    # Steals a reference to descr.
    object PyArray_NewFromDescr(PyTypeObject* subtype, cnp.dtype descr, int nd,
                                cnp.npy_intp* dims, cnp.npy_intp* strides,
                                void* data, int flags, PyObject* obj)

cdef extern from "Python.h":
    # With a NULL exception type, huge values clamp to PY_SSIZE_T_MIN/MAX
    # instead of raising, so range checks can say ValueError.
    Py_ssize_t _as_ssize_clamped "PyNumber_AsSsize_t" (object o, PyObject* exc) except? -1

cdef extern from *:
    """
    static inline int segpy_is_numpy_scalar(PyObject *o) {
        return PyArray_IsScalar(o, Generic);
    }

    /* Value of an exact int that CPython stores as one digit (|v| < 2**30),
       read inline; returns 0 for any other int, and the caller then goes
       through PyLong_AsLongLongAndOverflow.  Saves an out-of-line call per
       append; the same fast path Cython uses for its own int conversions. */
    static inline int segpy_long_compact(PyObject *o, long long *out) {
    #if defined(PYPY_VERSION) || defined(Py_LIMITED_API)
        (void)o; (void)out; return 0;
    #elif PY_VERSION_HEX >= 0x030C0000
        if (!PyUnstable_Long_IsCompact((PyLongObject *)o)) return 0;
        *out = (long long)PyUnstable_Long_CompactValue((PyLongObject *)o);
        return 1;
    #else
        Py_ssize_t size = Py_SIZE(o);
        if (size < -1 || size > 1) return 0;
        *out = size * (long long)((PyLongObject *)o)->ob_digit[0];
        return 1;
    #endif
    }
    """
    bint segpy_is_numpy_scalar(object o)
    bint segpy_long_compact(object o, long long* out) noexcept


# ===========================================================================
# The C core.  Everything here is noexcept nogil and reports failure through
# its return value (and s.last_error); see seglist.pxd for the geometry.
# ===========================================================================

cdef inline int _fail(seglist_t* s, int code, size_t nbytes) noexcept nogil:
    s.last_error = code
    s.failed_bytes = nbytes
    return code


cdef int seglist_init(seglist_t* s, Py_ssize_t itemsize, int shift,
                      segpy_allocator_t* alloc) noexcept nogil:
    """Make ``s`` an empty list; allocates nothing.  Returns 0 or SEGPY_EINVAL."""
    cdef Py_ssize_t epoch = s.epoch
    if itemsize <= 0 or shift < 0 or shift > SEGPY_MAX_SHIFT or alloc == NULL:
        return _fail(s, SEGPY_EINVAL, <size_t>itemsize if itemsize > 0 else 0)
    memset(s, 0, sizeof(seglist_t))
    # Carried over and bumped: anything that cached an address from the old
    # geometry (an iterator's cursor) sees that it changed.
    s.epoch = epoch + 1
    s.itemsize = itemsize
    s.shift = shift
    s.alloc = alloc
    # The cap keeps t = i + s0 below 2**63 and the byte size of the whole
    # list within Py_ssize_t (to_numpy must be able to hold it).
    s.max_length = (<Py_ssize_t>1) << 62
    if s.max_length > (<Py_ssize_t>(SIZE_MAX >> 1)) // itemsize:
        s.max_length = (<Py_ssize_t>(SIZE_MAX >> 1)) // itemsize
    return SEGPY_OK


cdef inline size_t _segment_bytes(const seglist_t* s, int j) noexcept nogil:
    return <size_t>seglist_segment_len(s, j) * <size_t>s.itemsize


cdef int _pop_segment(seglist_t* s) noexcept nogil:
    # Release the last allocated segment back to the allocator that made it.
    cdef int j = s.nseg - 1
    cdef int rc = s.alloc.release(s.alloc.ctx, s.segs[j], _segment_bytes(s, j))
    s.segs[j] = NULL
    s.bases[s.shift + j] = 0
    s.nseg = j
    s.epoch += 1
    return SEGPY_ERELEASE if rc else SEGPY_OK


cdef int seglist_destroy(seglist_t* s) noexcept nogil:
    """Release every segment and empty the list.  Returns 0 or SEGPY_ERELEASE."""
    cdef int rc = SEGPY_OK
    while s.nseg > 0:
        if _pop_segment(s) != SEGPY_OK:
            rc = SEGPY_ERELEASE
    s.length = 0
    s.cursor = NULL
    s.cursor_end = NULL
    return rc


cdef int seglist_sync_cursor(seglist_t* s) noexcept nogil:
    """Re-derive the push cursor from ``length`` after any structural change."""
    cdef Py_ssize_t off
    cdef int j
    if s.length < seglist_capacity(s):
        j = seglist_locate(s, s.length, &off)
        s.cursor = s.segs[j] + off * s.itemsize
        s.cursor_end = s.segs[j] + seglist_segment_len(s, j) * s.itemsize
    else:
        s.cursor = NULL
        s.cursor_end = NULL
    return SEGPY_OK


cdef int seglist_reserve(seglist_t* s, Py_ssize_t n) noexcept nogil:
    """Allocate segments until ``n`` elements fit.  Never shrinks.

    On failure every segment this call allocated is released again, so the
    list is exactly as it was.  Returns 0, SEGPY_ENOMEM or SEGPY_ETOOBIG.
    """
    cdef int nseg0 = s.nseg
    cdef int need
    cdef Py_ssize_t off
    cdef void* p
    cdef size_t nbytes
    if n <= seglist_capacity(s):
        return SEGPY_OK
    if n > s.max_length:
        return _fail(s, SEGPY_ETOOBIG, SIZE_MAX)
    need = seglist_locate(s, n - 1, &off) + 1
    while s.nseg < need:
        if <size_t>seglist_segment_len(s, s.nseg) > SIZE_MAX // <size_t>s.itemsize:
            while s.nseg > nseg0:
                _pop_segment(s)
            return _fail(s, SEGPY_ETOOBIG, SIZE_MAX)
        nbytes = _segment_bytes(s, s.nseg)
        p = s.alloc.request(s.alloc.ctx, nbytes, SEGPY_SEGMENT_ALIGN)
        if p == NULL:
            while s.nseg > nseg0:
                _pop_segment(s)
            return _fail(s, SEGPY_ENOMEM, nbytes)
        s.segs[s.nseg] = <char*>p
        # Modular integer arithmetic: the biased address may lie below p.
        s.bases[s.shift + s.nseg] = <size_t>p - (<size_t>1 << (s.shift + s.nseg)) * <size_t>s.itemsize
        s.nseg += 1
    seglist_sync_cursor(s)
    return SEGPY_OK


cdef char* seglist_emplace_slow(seglist_t* s) noexcept nogil:
    """The cold half of ``seglist_emplace``: the tail segment is full (or absent)."""
    cdef char* p
    if s.length >= s.max_length:
        _fail(s, SEGPY_ETOOBIG, SIZE_MAX)
        return NULL
    if seglist_reserve(s, s.length + 1) != SEGPY_OK:
        return NULL
    # reserve() is a no-op when the next segment already exists (after an
    # explicit reserve), so the cursor is re-derived here in every case.
    seglist_sync_cursor(s)
    p = s.cursor
    s.cursor = p + s.itemsize
    s.length += 1
    return p


cdef int seglist_write_range(seglist_t* s, Py_ssize_t start, const void* src,
                             Py_ssize_t n) noexcept nogil:
    """Copy ``n`` elements from ``src`` to indices ``[start, start+n)``: one memcpy per segment.

    Safety: the range must lie within the allocated capacity (it may extend
    past ``length``; the caller then sets the length).  Returns 0.
    """
    cdef const char* p = <const char*>src
    cdef Py_ssize_t off, k
    cdef int j
    while n > 0:
        j = seglist_locate(s, start, &off)
        k = seglist_segment_len(s, j) - off
        if k > n:
            k = n
        memcpy(s.segs[j] + off * s.itemsize, p, k * s.itemsize)
        p += k * s.itemsize
        start += k
        n -= k
    return SEGPY_OK


cdef int seglist_read_range(const seglist_t* s, Py_ssize_t start, void* dst,
                            Py_ssize_t n) noexcept nogil:
    """Copy elements ``[start, start+n)`` to ``dst``: one memcpy per segment.

    Returns 0, or SEGPY_EINVAL (nothing copied) if the range is not within
    ``[0, length)``.
    """
    cdef char* p = <char*>dst
    cdef Py_ssize_t off, k
    cdef int j
    if start < 0 or n < 0 or start > s.length - n:
        # The error is recorded like every other (the C API's promise);
        # only the error fields are written, never the list's state.
        return _fail(<seglist_t*>s, SEGPY_EINVAL, 0)
    while n > 0:
        j = seglist_locate(s, start, &off)
        k = seglist_segment_len(s, j) - off
        if k > n:
            k = n
        memcpy(p, s.segs[j] + off * s.itemsize, k * s.itemsize)
        p += k * s.itemsize
        start += k
        n -= k
    return SEGPY_OK


cdef int seglist_append_n(seglist_t* s, const void* src, Py_ssize_t n) noexcept nogil:
    """Append ``n`` elements copied from ``src``; all or nothing.

    Returns 0, SEGPY_EINVAL (n < 0), SEGPY_ETOOBIG or SEGPY_ENOMEM; on
    failure the list is unchanged.
    """
    cdef int rc
    if n <= 0:
        return SEGPY_OK if n == 0 else _fail(s, SEGPY_EINVAL, 0)
    if n > s.max_length - s.length:
        return _fail(s, SEGPY_ETOOBIG, SIZE_MAX)
    rc = seglist_reserve(s, s.length + n)
    if rc != SEGPY_OK:
        return rc
    seglist_write_range(s, s.length, src, n)
    s.length += n
    seglist_sync_cursor(s)
    return SEGPY_OK


cdef int seglist_truncate(seglist_t* s, Py_ssize_t n) noexcept nogil:
    """Shorten the list to ``n`` elements, keeping its segments.  0 or SEGPY_EINVAL."""
    if n < 0 or n > s.length:
        return _fail(s, SEGPY_EINVAL, 0)
    if n < s.length:
        s.epoch += 1    # a cached bound "i < old length" is no longer safe
    s.length = n
    seglist_sync_cursor(s)
    return SEGPY_OK


cdef int seglist_release_unused(seglist_t* s, int keep_spare) noexcept nogil:
    """Release segments that hold no element, keeping ``keep_spare`` of them.

    Safety: the caller must know no one holds the address of an element in
    those segments.  Returns 0 or SEGPY_ERELEASE.
    """
    cdef int rc = SEGPY_OK
    cdef int keep = seglist_used_segments(s) + keep_spare
    while s.nseg > keep:
        if _pop_segment(s) != SEGPY_OK:
            rc = SEGPY_ERELEASE
    seglist_sync_cursor(s)
    return rc


cdef bint seglist_overlaps(const seglist_t* s, const char* p, size_t nbytes) noexcept nogil:
    """True if ``[p, p + nbytes)`` overlaps an allocated segment of ``s``."""
    cdef int j
    cdef const char* a
    if nbytes == 0:
        return False
    for j in range(s.nseg):
        a = s.segs[j]
        if p < a + _segment_bytes(s, j) and a < p + nbytes:
            return True
    return False


# ===========================================================================
# The Python boundary: dtype checks, scalar conversion, exceptions.
# ===========================================================================

# Fast scalar-conversion kinds: native-order numeric dtypes that C can load
# and store directly.  Everything else (float16, long double, non-native
# byte order, datetimes, strings, records) goes through numpy.
cdef enum:
    K_GENERIC = 0
    K_BOOL
    K_I8
    K_I16
    K_I32
    K_I64
    K_U8
    K_U16
    K_U32
    K_U64
    K_F32
    K_F64
    K_C64
    K_C128

# Segment sizing: the default first segment holds about this many bytes, so
# that tiny elements don't get tiny segments (a list of int8 starts with 512
# elements, of int64 with 64, of 40-byte records with 16).
cdef enum:
    _DEFAULT_FIRST_SEGMENT_BYTES = 512

_NUMERIC_KINDS = frozenset("biufc")


cdef int _kind_of(object dt) except -1:
    cdef str kind = dt.kind
    cdef Py_ssize_t size = dt.itemsize
    if not dt.isnative:
        return K_GENERIC
    if kind == "b":
        return K_BOOL
    if kind == "i":
        return {1: K_I8, 2: K_I16, 4: K_I32, 8: K_I64}.get(size, K_GENERIC)
    if kind == "u":
        return {1: K_U8, 2: K_U16, 4: K_U32, 8: K_U64}.get(size, K_GENERIC)
    if kind == "f":
        return {4: K_F32, 8: K_F64}.get(size, K_GENERIC)
    if kind == "c":
        return {8: K_C64, 16: K_C128}.get(size, K_GENERIC)
    return K_GENERIC


# numpy keeps one scalar type per C type, so the typecode 'q' gives
# np.longlong and 'l' gives np.long: equal dtypes (both int64 on LP64), but
# numpy's repr leaves out only the default type's dtype, and pandas shows
# LongLongDType.  A plain number dtype becomes the canonical type of its kind
# and size, np.dtype(f"{kind}{itemsize}") (np.int64 for 'q', 'l' and 'p';
# np.uint64 for 'Q'...), in the same byte order; it compares equal to what
# the caller gave.  The table maps each non-canonical number type to its
# canonical dtype, built once: the lookup is one dict probe per construction.
_CANONICAL_NUMBER_DTYPES = {}
for _code in np.typecodes["All"]:
    _dt = np.dtype(_code)
    if _dt.kind in _NUMERIC_KINDS:
        try:
            _canon = np.dtype(f"{_dt.kind}{_dt.itemsize}")
        except TypeError:       # a size numpy has no sized name for
            continue
        if _canon.type is not _dt.type:
            _CANONICAL_NUMBER_DTYPES[_dt.type] = _canon
del _code, _dt, _canon


cdef object _canonical_dtype(object dt):
    # Records, strings, datetimes and dtypes with metadata are left exactly as
    # given (a record's type is np.void, never in the table).
    canon = _CANONICAL_NUMBER_DTYPES.get(dt.type)
    if canon is None or dt.metadata is not None:
        return dt
    return canon if dt.isnative else canon.newbyteorder(dt.byteorder)


def _check_dtype(dtype):
    """Return the dtype a SegmentedList of `dtype` holds, or raise TypeError.

    That is ``numpy.dtype(dtype)``, except that a plain number dtype is made
    the canonical numpy type of its kind and size (``np.int64`` for ``'q'``),
    which compares equal to it.
    """
    dt = np.dtype(dtype)
    if dt.hasobject:
        raise TypeError(
            f"SegmentedList cannot hold dtype {dt!r}: it contains Python object "
            "references, which are not fixed-size data")
    if dt.itemsize == 0:
        raise TypeError(
            f"SegmentedList cannot hold the unsized flexible dtype {dt!r}; "
            "give it a size, e.g. 'S8', 'U8' or 'V8'")
    if dt.subdtype is not None:
        raise TypeError(
            f"SegmentedList cannot hold the subarray dtype {dt!r} as an element; "
            "use a structured dtype with a subarray field, e.g. [('v', 'f8', (3,))]")
    return _canonical_dtype(dt)


# The dtypes of the typecodes and names last given as str ('d', 'int64',
# '<f8'...): most lists are made from one of a few strings, and parsing one
# costs more than the rest of the construction.  Bounded, since the strings
# come from callers; only successes are kept, and no record dtype (its
# field names can be assigned, so two lists must not share one).
cdef dict _dtype_by_str = {}


cdef object _list_dtype(object dtype):
    """``_check_dtype(dtype)``, from the cache for a str."""
    if type(dtype) is not str:
        return _check_dtype(dtype)
    dt = _dtype_by_str.get(dtype)
    if dt is None:
        dt = _check_dtype(dtype)
        if dt.names is None:
            if len(_dtype_by_str) >= 256:
                _dtype_by_str.clear()
            _dtype_by_str[dtype] = dt
    return dt


cdef int _shift_for(object first_segment, Py_ssize_t itemsize) except -1:
    cdef Py_ssize_t n
    cdef int shift = 0
    if first_segment is None:
        while (<Py_ssize_t>1 << shift) * itemsize < _DEFAULT_FIRST_SEGMENT_BYTES:
            shift += 1
        return shift
    if not PyIndex_Check(first_segment) or PyBool_Check(first_segment):
        raise TypeError(
            f"first_segment must be an int, not {type(first_segment).__name__}")
    n = _as_ssize_clamped(first_segment, NULL)
    if n < 1 or n > (<Py_ssize_t>1 << SEGPY_MAX_SHIFT) or (n & (n - 1)) != 0:
        raise ValueError(
            f"first_segment must be a power of two from 1 to 2**{SEGPY_MAX_SHIFT}, "
            f"got {first_segment}")
    while (<Py_ssize_t>1 << shift) != n:
        shift += 1
    return shift


cdef str _dtype_name(object dt):
    # The way numpy's array repr names a dtype: a bare name for the native
    # builtin types, the descr for records, the quoted str otherwise.
    if dt.names is not None:
        return str(dt)
    if dt.isnative and dt.kind in _NUMERIC_KINDS:
        return dt.name
    if dt.isnative and dt.kind in "Mm":
        return repr(dt.name)
    return repr(dt.str)


cdef str _unbracket(str s):
    # "[1, 2]" -> "1, 2"
    return s[1:len(s) - 1]


cdef str _short(object x):
    # A bounded description of a value for error messages (str() of a huge
    # int is itself an error past 4300 digits).
    if PyLong_Check(x) and x.bit_length() > 128:
        return f"an int of {x.bit_length()} bits"
    r = repr(x)
    return r if len(r) <= 60 else r[:57] + "..."


cdef int _raise_oob(SegmentedList self, object x) except -1:
    raise OverflowError(f"Python int {_short(x)} out of bounds for {self._dtype}")


cdef int _raise_cannot_store(SegmentedList self, object x, str why="") except -1:
    raise TypeError(
        f"cannot store {type(x).__name__} {_short(x)} in a SegmentedList of "
        f"{_dtype_name(self._dtype)}{why}")


cdef int _raise_grow_error(SegmentedList self, Py_ssize_t extra) except -1:
    """Turn the C core's last error into MemoryError; the list is unchanged."""
    # Growth fails only for want of addressable elements or of memory; the
    # messages live in seglist_raise, the C API's boundary helper.
    cdef int rc = SEGPY_ETOOBIG if self.c.last_error == SEGPY_ETOOBIG else SEGPY_ENOMEM
    return seglist_raise(&self.c, self._allocator, rc, extra)


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


cdef const char* _pack_generic(SegmentedList self, object x) except NULL:
    """Convert ``x`` through numpy into the scratch element; return its address.

    Follows numpy assignment with casting 'same_kind'.  Python scalars are
    checked by kind first, because numpy's own assignment casts unsafely
    (it would silently store 1.5 into an int array as 1).
    """
    dt = self._dtype
    cdef str kind = dt.kind
    if self._scratch is None:
        self._scratch = np.empty(1, dtype=dt)
    scratch = self._scratch
    if kind in _NUMERIC_KINDS:
        if PyBool_Check(x) or PyLong_Check(x):
            if kind == "b" and not PyBool_Check(x):
                _raise_cannot_store(self, x, " under 'same_kind' casting")
        elif PyFloat_Check(x):
            if kind in "biu":
                _raise_cannot_store(self, x, " under 'same_kind' casting")
        elif PyComplex_Check(x):
            if kind != "c":
                _raise_cannot_store(self, x, " under 'same_kind' casting")
        elif kind in "iu" and isinstance(x, np.integer):
            # Stored as the Python int it equals, so that its value is
            # checked: np.int64(300) into int8 is an OverflowError, as in
            # numpy 2 (which checks only for signed targets; a 0-d array
            # is cast, and wraps, as numpy casts it).
            if not np.can_cast(x.dtype, dt, casting="same_kind"):
                _raise_cannot_store(self, x, f" (a {x.dtype} value) under 'same_kind' casting")
            x = int(x)
        else:
            a = np.asarray(x)
            if a.ndim != 0:
                raise TypeError(
                    f"expected a scalar for a SegmentedList of {_dtype_name(dt)}, "
                    f"got {type(x).__name__} of shape {a.shape}")
            if a.dtype.hasobject or not np.can_cast(a.dtype, dt, casting="same_kind"):
                _raise_cannot_store(self, x, f" (a {a.dtype} value) under 'same_kind' casting")
            x = a
        try:
            scratch[0] = x
        except OverflowError:
            # numpy's message for an out-of-range Python int; ours names the dtype
            # the same way the fast path does.
            if PyLong_Check(x):
                _raise_oob(self, x)
            raise
    else:
        if isinstance(x, (np.generic, np.ndarray)):
            a = np.asarray(x)
            if a.ndim != 0:
                raise TypeError(
                    f"expected a scalar for a SegmentedList of {_dtype_name(dt)}, "
                    f"got an array of shape {a.shape}")
            if a.dtype != dt and not np.can_cast(a.dtype, dt, casting="same_kind"):
                _raise_cannot_store(self, x, f" (a {a.dtype} value) under 'same_kind' casting")
            x = a
        elif kind in "Mm" and (PyFloat_Check(x) or PyComplex_Check(x)):
            _raise_cannot_store(self, x, " under 'same_kind' casting")
        scratch[0] = x
    return <const char*>cnp.PyArray_DATA(scratch)


cdef const char* _pack(SegmentedList self, object x, int64_t* buf) except NULL:
    """Convert one Python value to the list's element bytes, without touching the list.

    Returns the address of the converted bytes: ``buf`` (16 bytes, aligned)
    for the fast numeric kinds, else the list's scratch element.  May run
    Python code (``__index__``, ``__array__`` ...), so callers compute element
    addresses only after this returns and copy out before calling Python again.
    """
    cdef int k = self._kind
    cdef long long v
    cdef unsigned long long u = 0
    cdef int overflow = 0
    cdef double d, d2
    if k == K_GENERIC:
        return _pack_generic(self, x)
    if PyLong_Check(x):
        if k == K_BOOL:
            if not PyBool_Check(x):
                _raise_cannot_store(self, x, " under 'same_kind' casting")
            (<uint8_t*>buf)[0] = x is True
        elif k == K_F64:
            (<double*>buf)[0] = PyLong_AsDouble(x)
        elif k == K_F32:
            (<float*>buf)[0] = <float>PyLong_AsDouble(x)
        elif k == K_C128 or k == K_C64:
            d = PyLong_AsDouble(x)
            if k == K_C128:
                (<double*>buf)[0] = d
                (<double*>buf)[1] = 0.0
            else:
                (<float*>buf)[0] = <float>d
                (<float*>buf)[1] = 0.0
        elif k == K_U64:
            if x < 0:
                _raise_oob(self, x)
            try:
                u = PyLong_AsUnsignedLongLong(x)
            except OverflowError:
                _raise_oob(self, x)
            (<uint64_t*>buf)[0] = u
        else:
            v = PyLong_AsLongLongAndOverflow(x, &overflow)
            if overflow:
                _raise_oob(self, x)
            if k == K_I64:
                buf[0] = v
            elif k == K_I32:
                if v < -2147483648 or v > 2147483647:
                    _raise_oob(self, x)
                (<int32_t*>buf)[0] = <int32_t>v
            elif k == K_I16:
                if v < -32768 or v > 32767:
                    _raise_oob(self, x)
                (<int16_t*>buf)[0] = <int16_t>v
            elif k == K_I8:
                if v < -128 or v > 127:
                    _raise_oob(self, x)
                (<int8_t*>buf)[0] = <int8_t>v
            elif k == K_U32:
                if v < 0 or v > 4294967295:
                    _raise_oob(self, x)
                (<uint32_t*>buf)[0] = <uint32_t>v
            elif k == K_U16:
                if v < 0 or v > 65535:
                    _raise_oob(self, x)
                (<uint16_t*>buf)[0] = <uint16_t>v
            else:  # K_U8
                if v < 0 or v > 255:
                    _raise_oob(self, x)
                (<uint8_t*>buf)[0] = <uint8_t>v
        return <const char*>buf
    if PyFloat_Check(x):
        # Includes numpy.float64, a float subclass.
        d = PyFloat_AS_DOUBLE(x)
        if k == K_F64:
            (<double*>buf)[0] = d
        elif k == K_F32:
            (<float*>buf)[0] = <float>d
        elif k == K_C128:
            (<double*>buf)[0] = d
            (<double*>buf)[1] = 0.0
        elif k == K_C64:
            (<float*>buf)[0] = <float>d
            (<float*>buf)[1] = 0.0
        else:
            _raise_cannot_store(self, x, " under 'same_kind' casting")
        return <const char*>buf
    if PyComplex_Check(x) and (k == K_C128 or k == K_C64):
        # The parts are read separately: going through a C complex value
        # (re + im*I) would turn inf imaginary parts into nan real parts.
        d = PyComplex_RealAsDouble(x)
        d2 = PyComplex_ImagAsDouble(x)
        if k == K_C128:
            (<double*>buf)[0] = d
            (<double*>buf)[1] = d2
        else:
            (<float*>buf)[0] = <float>d
            (<float*>buf)[1] = <float>d2
        return <const char*>buf
    if segpy_is_numpy_scalar(x):
        # A numpy scalar of exactly this dtype is copied as is; any other goes
        # through numpy's same_kind rules.
        if (<cnp.dtype>cnp.PyArray_DescrFromScalar(x)) == self._dtype:
            cnp.PyArray_ScalarAsCtype(x, buf)
            return <const char*>buf
        if (K_I8 <= k <= K_U64 and isinstance(x, np.integer)
                and np.can_cast(x.dtype, self._dtype, casting="same_kind")):
            # Value-checked as the Python int it equals (see _pack_generic).
            return _pack(self, int(x), buf)
    return _pack_generic(self, x)


cdef inline object _box_i64(int64_t v):
    # PyLong_FromLong has a single-digit fast path that PyLong_FromLongLong
    # lacks on CPython < 3.12; where long is 64 bits the two are equivalent.
    return PyLong_FromLongLong(v)


cdef inline object _box(SegmentedList self, const char* p):
    """The Python value of the element at ``p``: a Python scalar for numeric
    kinds (like ``ndarray.tolist()``), else the numpy scalar that ndarray
    indexing returns (a copy, never a view into the segment)."""
    cdef int k = self._kind
    if k == K_I64:
        return _box_i64((<const int64_t*>p)[0])
    if k == K_F64:
        return PyFloat_FromDouble((<const double*>p)[0])
    if k == K_I32:
        return PyLong_FromLong((<const int32_t*>p)[0])
    if k == K_F32:
        return PyFloat_FromDouble((<const float*>p)[0])
    if k == K_U64:
        return PyLong_FromUnsignedLongLong((<const uint64_t*>p)[0])
    if k == K_U8:
        return PyLong_FromLong((<const uint8_t*>p)[0])
    if k == K_I8:
        return PyLong_FromLong((<const int8_t*>p)[0])
    if k == K_I16:
        return PyLong_FromLong((<const int16_t*>p)[0])
    if k == K_U16:
        return PyLong_FromLong((<const uint16_t*>p)[0])
    if k == K_U32:
        return PyLong_FromLongLong((<const uint32_t*>p)[0])
    if k == K_BOOL:
        return (<const uint8_t*>p)[0] != 0
    if k == K_C128:
        return PyComplex_FromDoubles((<const double*>p)[0], (<const double*>p)[1])
    if k == K_C64:
        return PyComplex_FromDoubles((<const float*>p)[0], (<const float*>p)[1])
    # PyArray_Scalar allocates before it copies from p, and an allocation
    # can run finalisers: pinned, the list keeps the segment under p.
    _pin(self)
    try:
        v = PyArray_Scalar(<void*>p, <cnp.dtype>self._dtype, NULL)
    finally:
        _unpin(self)
    if self._dtype.kind in _NUMERIC_KINDS:
        return v.item()
    return v


cdef inline Py_ssize_t _index(SegmentedList self, object idx) except? -1:
    """Normalise an index the way list does; IndexError if out of range."""
    cdef Py_ssize_t i
    cdef long long v
    if PyLong_CheckExact(idx) and segpy_long_compact(idx, &v):
        i = <Py_ssize_t>v
    elif PyIndex_Check(idx):
        # Raises IndexError for ints beyond Py_ssize_t, as list does.
        i = PyNumber_AsSsize_t(idx, IndexError)
    else:
        raise TypeError(
            f"SegmentedList indices must be integers or slices, not {type(idx).__name__}")
    if i < 0:
        i += self.c.length
    if <size_t>i >= <size_t>self.c.length:
        raise IndexError("SegmentedList index out of range")
    return i


cdef int _setup(SegmentedList self, object dt, Allocator alloc, int shift) except -1:
    if seglist_init(&self.c, dt.itemsize, shift, &alloc.iface) != SEGPY_OK:
        raise ValueError(f"cannot set up a list of {dt!r} with first segment 2**{shift}")
    self._dtype = dt
    self._allocator = alloc
    self._kind = _kind_of(dt)
    self._scratch = None
    return 0


cdef Allocator _resolve_allocator(object allocator):
    if allocator is None:
        return current_allocator()
    if not isinstance(allocator, Allocator):
        raise TypeError(
            f"allocator must be a segpy allocator, not {type(allocator).__name__}")
    return <Allocator>allocator


cdef SegmentedList _empty_like(SegmentedList self):
    cdef SegmentedList new = SegmentedList.__new__(SegmentedList)
    seglist_destroy(&new.c)
    _setup(new, self._dtype, self._allocator, self.c.shift)
    return new


cdef object _plain_array(object arr):
    """An ndarray as an exact ``numpy.ndarray`` over the same memory.

    A subclass can override ``shape``, ``dtype``, ``size``, ``flags`` ...
    at the Python level so that they disagree with the C-level array that
    the data pointer belongs to; a base-class view reads them from the C
    struct.  Everything segpy sizes a copy by is read from such a view.
    """
    if type(arr) is np.ndarray:
        return arr
    return np.asarray(arr)


cdef object _unaliased(SegmentedList self, object arr):
    """``arr`` (an exact ndarray), or a copy if its memory overlaps a segment.

    A view of the list used as the source of a write into the same list
    (``lst[::-1] = lst.segments()[0]``, ``put``, ``extend`` of a view that
    covers slots past the end) would be overwritten while it is read; numpy
    and list read the whole source first, and so does this.
    """
    if seglist_overlaps(&self.c, <const char*>cnp.PyArray_DATA(arr),
                        <size_t>cnp.PyArray_NBYTES(arr)):
        return arr.copy()
    return arr


cdef object _array_source(object obj):
    """``obj`` as an ndarray if it is array-like (buffer, ``__array__``, a
    SegmentedList), else None: a plain iterable, to be read item by item."""
    if isinstance(obj, SegmentedList):
        return (<SegmentedList>obj).to_numpy()
    if isinstance(obj, np.ndarray):
        return _plain_array(obj)
    if PyObject_CheckBuffer(obj) and not isinstance(obj, (str, bytes)):
        return np.asarray(memoryview(obj))
    if isinstance(obj, bytes):
        return np.frombuffer(obj, dtype=np.uint8)
    if hasattr(obj, "__array__"):
        return np.asarray(obj)
    return None


cdef object _converted(SegmentedList self, object arr, str what, str verb):
    """A 1-D array as a C-contiguous array of the list's dtype (``arr`` itself if it is one).

    Casting follows ``'same_kind'``; an object array holds Python values, so
    its elements go one by one through the scalar rules instead.  ``what``
    and ``verb`` name the caller in the error messages.
    """
    dt = self._dtype
    if arr.ndim != 1:
        raise ValueError(f"{what} takes a 1-D array, got an array of shape {arr.shape}")
    if arr.dtype.kind == "O":
        return _pack_all(self, arr.tolist())
    if arr.dtype != dt:
        if not np.can_cast(arr.dtype, dt, casting="same_kind"):
            raise TypeError(
                f"cannot {verb} a SegmentedList of {_dtype_name(dt)} with an array "
                f"of {arr.dtype} under 'same_kind' casting")
        return arr.astype(dt, order="C")
    if not arr.flags.c_contiguous:
        return np.ascontiguousarray(arr)
    return arr


cdef object _pack_all(SegmentedList self, list items):
    """A new array of the list's dtype holding ``items``, each converted as by append."""
    cdef Py_ssize_t k, n = len(items), isz = self.c.itemsize
    cdef int64_t buf[2]
    cdef const char* src
    out = np.empty(n, dtype=self._dtype)
    cdef char* d = <char*>cnp.PyArray_DATA(out)
    for k in range(n):
        src = _pack(self, items[k], buf)
        memcpy(d + k * isz, src, isz)
    return out


cdef int _extend_array(SegmentedList self, object arr) except -1:
    """Append a 1-D array: at most one numpy conversion, then one memcpy per segment."""
    arr = _unaliased(self, _converted(self, arr, "extend()", "extend"))
    cdef Py_ssize_t n = cnp.PyArray_DIM(arr, 0)
    if seglist_append_n(&self.c, cnp.PyArray_DATA(arr), n) != SEGPY_OK:
        _raise_grow_error(self, n)
    return 0


cdef int _extend_iter(SegmentedList self, object iterable) except -1:
    """Append items one by one; on a failure, undo this call's appends.

    The undo is exact while the list is this call's alone.  If anything else
    changed it meanwhile (the iterable's own code, or another thread while
    the GIL was passed), the items appended so far are kept, as
    ``list.extend`` keeps them: rolling back would drop the other party's
    items.  The segments it added are kept if a segment view was made
    meanwhile, since that view may see them.
    """
    cdef seglist_t* s = &self.c
    cdef Py_ssize_t n0 = s.length
    cdef Py_ssize_t mine = s.length        # the length after our last append
    cdef Py_ssize_t epoch0 = s.epoch       # unchanged unless someone shrank the list
    cdef Py_ssize_t views0 = self._views_made
    cdef bint shared = False
    cdef int nseg0 = s.nseg
    cdef int64_t buf[2]
    cdef const char* src
    cdef char* slot
    try:
        for x in iterable:
            src = _pack(self, x, buf)
            if s.length != mine or s.epoch != epoch0:
                shared = True
            slot = seglist_emplace(s)
            if slot == NULL:
                _raise_grow_error(self, 1)
            memcpy(slot, src, s.itemsize)
            mine = s.length
    except BaseException:
        if not shared and s.length == mine and s.epoch == epoch0:
            seglist_truncate(s, n0)
            # Views made before the call cannot see the segments it added;
            # one made during it (and perhaps still alive) may.
            if self._views_made == views0:
                while s.nseg > nseg0 and seglist_segment_start(s, s.nseg - 1) >= s.length:
                    _pop_segment(s)
            seglist_sync_cursor(s)
        raise
    return 0


cdef enum:
    _PAGE = 4096
    _ALIAS_SLACK = 64
    _ALIAS_MIN_BYTES = 1 << 20


cdef object _new_array_for_copy(SegmentedList self):
    """A new uninitialised 1-D array for all of the list's elements.

    Why not just ``np.empty``: on fresh pages, glibc's memcpy here runs about
    35% slower when ``(dst - src) % 4096`` is 256 bytes or more (4K aliasing
    between the load and store streams).  numpy's large buffers start 16
    bytes into a page, segments start on a page, and segment ``j`` lands at
    byte ``start_j * itemsize`` of the output, so every big segment would be
    copied at the slow skew.  For lists of 1 MiB or more we allocate up to a
    page more and start the result at the element offset ``e`` that puts the
    largest segment's destination at the same page offset as its source
    (within 64 bytes).  The result is a view whose base is that new buffer.
    """
    cdef seglist_t* s = &self.c
    cdef Py_ssize_t n = s.length, isz = s.itemsize, e, pad
    cdef int last
    cdef size_t dst, src
    if n * isz < _ALIAS_MIN_BYTES:
        return np.empty(n, dtype=self._dtype)
    pad = _PAGE // isz + 1
    buf = np.empty(n + pad, dtype=self._dtype)
    if s.length != n:
        # The allocation ran a finaliser that resized the list; the caller's
        # checked read reports that, and there is no segment to align with.
        return buf[:n]
    last = seglist_used_segments(s) - 1
    src = <size_t>s.segs[last]
    dst = <size_t>cnp.PyArray_DATA(buf) + <size_t>(seglist_segment_start(s, last) * isz)
    for e in range(pad):
        if (dst + <size_t>(e * isz) - src) % _PAGE < _ALIAS_SLACK:
            return buf[e:e + n]
    return buf[:n]


# ===========================================================================
# Moving elements inside a list: insert and erase (one memmove per segment
# piece), strided gather and scatter for extended slices, in-place reverse.
# All noexcept nogil, reporting failure through the return value; on
# failure the list is unchanged.
#
# A range of indices crosses segment boundaries, and a move shifts it by a
# distance unrelated to them, so every copy is cut into pieces that lie in
# one segment on *both* sides (at most two pieces per segment touched):
#
#     src    [ seg 1 .......... | seg 2 ...................... ]
#     dst         [ seg 1 ...... | seg 2 ....................... ]
#     pieces [ a           | b  | c                      | d    ]
# ===========================================================================

cdef inline int _copy_strided(char* dst, Py_ssize_t dstride, const char* src,
                              Py_ssize_t sstride, Py_ssize_t k,
                              Py_ssize_t isz) noexcept nogil:
    # k elements from src (stride sstride bytes) to dst (stride dstride).
    # memcpy with a constant size compiles to one load and one store, with
    # no alignment or aliasing assumption; the generic case calls memcpy.
    cdef Py_ssize_t m
    if dstride == isz and sstride == isz:
        memcpy(dst, src, k * isz)       # a contiguous run
    elif isz == 8:
        for m in range(k):
            memcpy(dst + m * dstride, src + m * sstride, 8)
    elif isz == 4:
        for m in range(k):
            memcpy(dst + m * dstride, src + m * sstride, 4)
    elif isz == 16:
        for m in range(k):
            memcpy(dst + m * dstride, src + m * sstride, 16)
    elif isz == 2:
        for m in range(k):
            memcpy(dst + m * dstride, src + m * sstride, 2)
    elif isz == 1:
        for m in range(k):
            dst[m * dstride] = src[m * sstride]
    else:
        for m in range(k):
            memcpy(dst + m * dstride, src + m * sstride, isz)
    return 0


cdef inline Py_ssize_t _run_in_segment(const seglist_t* s, Py_ssize_t i, Py_ssize_t step,
                                       char** p) noexcept nogil:
    # Address of element i (via p) and how many of i, i+step, i+2*step ...
    # lie in i's segment.  Safety: 0 <= i < capacity, step != 0.
    cdef Py_ssize_t off
    cdef int j = seglist_locate(s, i, &off)
    p[0] = s.segs[j] + off * s.itemsize
    if step > 0:
        return (seglist_segment_len(s, j) - 1 - off) // step + 1
    if off + step < 0:         # (also keeps -step below from overflowing)
        return 1
    return off // (-step) + 1


cdef int seglist_move(seglist_t* s, Py_ssize_t dst, Py_ssize_t src,
                      Py_ssize_t n) noexcept nogil:
    """Copy elements ``[src, src+n)`` to ``[dst, dst+n)``; the ranges may overlap.

    Works like memmove on the element sequence: pieces are copied front to
    back when moving down and back to front when moving up, so no source
    element is overwritten before it is read.  Does not change the length.
    Safety: both ranges lie within the allocated capacity.  Returns 0.
    """
    cdef Py_ssize_t isz = s.itemsize, so, do, k
    cdef int sj, dj
    if n <= 0 or dst == src:
        return SEGPY_OK
    if dst < src:
        while n > 0:
            sj = seglist_locate(s, src, &so)
            dj = seglist_locate(s, dst, &do)
            k = min(n, seglist_segment_len(s, sj) - so, seglist_segment_len(s, dj) - do)
            memmove(s.segs[dj] + do * isz, s.segs[sj] + so * isz, k * isz)
            src += k
            dst += k
            n -= k
    else:
        while n > 0:
            # Pieces end at the last element still to move on each side.
            sj = seglist_locate(s, src + n - 1, &so)
            dj = seglist_locate(s, dst + n - 1, &do)
            k = min(n, so + 1, do + 1)
            memmove(s.segs[dj] + (do + 1 - k) * isz, s.segs[sj] + (so + 1 - k) * isz,
                    k * isz)
            n -= k
    return SEGPY_OK


cdef int seglist_insert_gap(seglist_t* s, Py_ssize_t i, Py_ssize_t k) noexcept nogil:
    """Open ``k`` uninitialised slots at index ``i``, shifting ``[i, length)`` up by ``k``.

    The caller then writes the ``k`` elements at ``[i, i+k)``.  Bumps
    ``epoch`` (elements changed index).  Returns 0, SEGPY_EINVAL (``i`` not
    in ``[0, length]`` or ``k < 0``), SEGPY_ETOOBIG or SEGPY_ENOMEM; on
    failure the list is unchanged.
    """
    cdef int rc
    if i < 0 or i > s.length or k < 0:
        return _fail(s, SEGPY_EINVAL, 0)
    if k == 0:
        return SEGPY_OK
    if k > s.max_length - s.length:
        return _fail(s, SEGPY_ETOOBIG, SIZE_MAX)
    rc = seglist_reserve(s, s.length + k)
    if rc != SEGPY_OK:
        return rc
    seglist_move(s, i + k, i, s.length - i)
    s.length += k
    s.epoch += 1
    seglist_sync_cursor(s)
    return SEGPY_OK


cdef int seglist_erase(seglist_t* s, Py_ssize_t i, Py_ssize_t k) noexcept nogil:
    """Remove elements ``[i, i+k)``, shifting the rest down; keeps the segments.

    Bumps ``epoch``.  Returns 0 or SEGPY_EINVAL (range not within
    ``[0, length)``, list unchanged).
    """
    if i < 0 or k < 0 or i > s.length - k:
        return _fail(s, SEGPY_EINVAL, 0)
    if k == 0:
        return SEGPY_OK
    seglist_move(s, i, i + k, s.length - i - k)
    return seglist_truncate(s, s.length - k)


cdef int seglist_erase_strided(seglist_t* s, Py_ssize_t start, Py_ssize_t step,
                               Py_ssize_t n) noexcept nogil:
    """Remove the ``n`` elements ``start, start+step, ...`` (``step >= 1``).

    The ``step - 1`` elements between two removed ones move down together,
    then the tail after the last removed one.  Bumps ``epoch``.  Returns 0
    or SEGPY_EINVAL (indices out of range, list unchanged).
    """
    cdef Py_ssize_t m, dst, src
    if n <= 0:
        return SEGPY_OK
    if step < 1 or start < 0 or start >= s.length or \
            (n - 1) > (s.length - 1 - start) // step:
        return _fail(s, SEGPY_EINVAL, 0)
    dst = start
    for m in range(1, n):
        src = start + (m - 1) * step + 1
        seglist_move(s, dst, src, step - 1)
        dst += step - 1
    src = start + (n - 1) * step + 1
    seglist_move(s, dst, src, s.length - src)
    return seglist_truncate(s, s.length - n)


cdef inline bint _strided_range_ok(const seglist_t* s, Py_ssize_t start, Py_ssize_t step,
                                   Py_ssize_t n) noexcept nogil:
    # True if start, start+step, ... (n > 0 indices) all lie in [0, length).
    if step == 0 or start < 0 or start >= s.length:
        return False
    if n == 1:
        return True
    if step > 0:
        return (n - 1) <= (s.length - 1 - start) // step
    if start + step < 0:       # not even two indices (and -step may overflow)
        return False
    return (n - 1) <= start // (-step)


cdef int _transfer_strided(seglist_t* s, Py_ssize_t start, Py_ssize_t step,
                           Py_ssize_t n, char* buf, bint into_list) noexcept nogil:
    # The body of gather (list -> buf) and scatter (buf -> list): one run
    # per segment, a memcpy when step is 1, else a strided C loop.
    cdef char* p
    cdef Py_ssize_t k, isz = s.itemsize
    if n <= 0:
        return SEGPY_OK
    if not _strided_range_ok(s, start, step, n):
        return _fail(s, SEGPY_EINVAL, 0)
    cdef Py_ssize_t stride
    while n > 0:
        k = min(n, _run_in_segment(s, start, step, &p))
        # A run of one element needs no stride, and step * itemsize may not
        # fit a Py_ssize_t then (lst[::sys.maxsize]); within a longer run the
        # stride spans less than a segment.
        stride = step * isz if k > 1 else isz
        if into_list:
            _copy_strided(p, stride, buf, isz, k, isz)
        else:
            _copy_strided(buf, isz, p, stride, k, isz)
        buf += k * isz
        n -= k
        if n > 0:              # the index after the last one may not be representable
            start += k * step
    return SEGPY_OK


cdef int seglist_gather(const seglist_t* s, Py_ssize_t start, Py_ssize_t step,
                        Py_ssize_t n, void* out) noexcept nogil:
    """Copy elements ``start, start+step, ...`` (``n`` of them) to ``out``, contiguous.

    ``step`` may be negative; step 1 is one memcpy per segment.  Returns 0,
    or SEGPY_EINVAL (nothing copied) if an index is outside ``[0, length)``
    or ``step`` is 0.
    """
    # Only reads the list: the cast away from const is for the shared body.
    return _transfer_strided(<seglist_t*>s, start, step, n, <char*>out, False)


cdef int seglist_scatter(seglist_t* s, Py_ssize_t start, Py_ssize_t step,
                         Py_ssize_t n, const void* src) noexcept nogil:
    """Write ``n`` contiguous elements from ``src`` to indices ``start, start+step, ...``.

    The mirror of ``seglist_gather``, with the same checks and return codes.
    """
    # Only reads src: the cast away from const is for the shared body.
    return _transfer_strided(s, start, step, n, <char*>src, True)


cdef int seglist_extend_from(seglist_t* dst, const seglist_t* src, Py_ssize_t start,
                             Py_ssize_t step, Py_ssize_t n) noexcept nogil:
    """Append the ``n`` elements ``src[start], src[start+step], ...`` to ``dst``.

    ``dst`` and ``src`` must have the same itemsize (SEGPY_EINVAL otherwise);
    they may be the same list (the source range is read before the new
    elements are counted).  All or nothing: returns 0, SEGPY_EINVAL,
    SEGPY_ETOOBIG or SEGPY_ENOMEM.
    """
    cdef Py_ssize_t pos, off, k, done = 0
    cdef int j, rc
    if n <= 0:
        return SEGPY_OK
    if dst.itemsize != src.itemsize or not _strided_range_ok(src, start, step, n):
        return _fail(dst, SEGPY_EINVAL, 0)
    if n > dst.max_length - dst.length:
        return _fail(dst, SEGPY_ETOOBIG, SIZE_MAX)
    rc = seglist_reserve(dst, dst.length + n)
    if rc != SEGPY_OK:
        return rc
    # One gather per destination segment piece.
    pos = dst.length
    while done < n:
        j = seglist_locate(dst, pos, &off)
        k = min(n - done, seglist_segment_len(dst, j) - off)
        seglist_gather(src, start + done * step, step, k, dst.segs[j] + off * dst.itemsize)
        pos += k
        done += k
    dst.length = pos
    seglist_sync_cursor(dst)
    return SEGPY_OK


cdef int seglist_reverse(seglist_t* s) noexcept nogil:
    """Reverse the elements in place, swapping runs that lie within one segment."""
    cdef Py_ssize_t i = 0, j = s.length - 1, k, m, b, isz = s.itemsize
    cdef char* p
    cdef char* q
    cdef char t
    cdef uint64_t w
    while i < j:
        k = _run_in_segment(s, i, 1, &p)
        k = min(k, _run_in_segment(s, j, -1, &q), (j - i + 1) // 2)
        if isz == 8:
            for m in range(k):
                memcpy(&w, p + m * 8, 8)
                memcpy(p + m * 8, q - m * 8, 8)
                memcpy(q - m * 8, &w, 8)
        else:
            for m in range(k):
                for b in range(isz):
                    t = p[m * isz + b]
                    p[m * isz + b] = q[b - m * isz]
                    q[b - m * isz] = t
        i += k
        j -= k
    return SEGPY_OK


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
    cdef int rc = seglist_extend_from(&new.c, &self.c, start, step, n)
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
        if seglist_scatter(s, start, step, m, data) != SEGPY_OK:
            _raise_changed("slice assignment")
        return 0
    # A simple slice [start, start+n) is replaced by m elements: open or
    # close the difference at its end first (the only step that can fail,
    # and it leaves the list unchanged), then write.
    if m > n:
        if seglist_insert_gap(s, start + n, m - n) != SEGPY_OK:
            _raise_grow_error(self, m - n)
    elif m < n:
        seglist_erase(s, start + m, n - m)
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
        rc = seglist_erase(s, start, n)
    else:
        rc = seglist_erase_strided(s, start, step, n)
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
        seglist_extend_from(d, &src.c, 0, 1, n0)
    have = d.length - base
    while have < total:
        k = min(have, total - have)
        seglist_extend_from(d, d, base, 1, k)
        have += k
    return 0


cdef Py_ssize_t _repeat_count(object n) except? -1:
    if not PyIndex_Check(n):
        raise TypeError(f"can't multiply sequence by non-int of type '{type(n).__name__}'")
    return PyNumber_AsSsize_t(n, OverflowError)




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


cdef object _segment_view(SegmentedList self, int j, Py_ssize_t n):
    """A writable view of the first ``n`` elements of segment ``j``.

    The caller pins the list (or holds another view): the allocations here
    can run finalisers, and the segment must still exist when its address
    is read.  Raises RuntimeError if it does not (never a view of memory
    that is not the list's).
    """
    cdef cnp.npy_intp dims[1]
    cdef _SegmentExport owner = _SegmentExport.__new__(_SegmentExport)
    dims[0] = n
    dt = self._dtype
    if j < 0 or j >= self.c.nseg or n < 0 or n > seglist_segment_len(&self.c, j):
        _raise_changed("the making of a segment view")
    Py_INCREF(dt)  # PyArray_NewFromDescr steals it
    arr = PyArray_NewFromDescr(
        <PyTypeObject*>np.ndarray, <cnp.dtype>dt, 1, dims, NULL, self.c.segs[j],
        cnp.NPY_ARRAY_CARRAY, NULL)
    owner.lst = self
    self._exports += 1
    self._views_made += 1
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


include "_seglist_bulk.pxi"
include "_bind_args.pxi"

# SegmentedList.__init__'s parameters: (dtype, iterable=(), *, allocator=None,
# first_segment=None), as its docstring's first line says.
_INIT_NAMES = ("dtype", "iterable", "allocator", "first_segment")
_INIT_DEFAULTS = (_REQUIRED, (), None, None)


@cython.no_gc_clear
cdef class SegmentedList:
    """SegmentedList(dtype, iterable=(), *, allocator=None, first_segment=None)
--

A growable list of fixed-size numpy elements, stored in segments that never move.

    Elements live in segments whose sizes grow geometrically (``s0``, ``2*s0``,
    ``4*s0`` ...).  A push never reallocates or copies, element addresses stay
    stable, and the zero-copy views returned by :meth:`segments` stay valid
    while the list grows.  Indexing is O(1).

    Parameters
    ----------
    dtype : data-type
        Anything :func:`numpy.dtype` accepts, including the array-module
        typecodes (``'b' 'B' 'h' 'H' 'i' 'I' 'l' 'L' 'q' 'Q' 'f' 'd'``).
        Any fixed-size dtype works, records and strings included.  A number
        dtype is held as the canonical numpy type of its kind and size
        (``'q'`` gives ``np.int64``, not ``np.longlong``), which compares
        equal to it.
    iterable : iterable, optional
        Initial contents, appended as by :meth:`extend`.
    allocator : segpy.Allocator, optional
        Where the segments' memory comes from; the list keeps it alive.
        Defaults to :func:`segpy.get_allocator()`: the allocator of the
        innermost active ``with segpy.allocator(a):`` block, else segpy's
        process-wide default.
    first_segment : int, optional
        Elements in the first segment, a power of two from 1 to 2**30.  The
        default gives a first segment of about 512 bytes.

    Raises
    ------
    TypeError
        For object dtypes, unsized flexible dtypes (``'S0'``, ``'U0'``,
        ``'V0'``), subarray dtypes, or an allocator that is not a segpy one.
    ValueError
        If `first_segment` is not a power of two in range.

    See Also
    --------
    numpy.ndarray, array.array

    Notes
    -----
    Values convert as numpy assignment into an array of the dtype would with
    casting ``'same_kind'``; a Python int out of range raises OverflowError
    and a float into an integer list raises TypeError.  A failed call leaves
    the list exactly as it was.

    Examples
    --------
    >>> import segpy
    >>> lst = segpy.SegmentedList('q', [1, 2, 3])
    >>> lst.append(4)
    >>> lst[-1], len(lst)
    (4, 4)
    >>> lst.to_numpy()
    array([1, 2, 3, 4])
    """

    def __cinit__(self, *args, **kwargs):
        # A valid empty float64 list until __init__ runs, so that an object
        # made by __new__ alone is safe to use.
        _setup(self, np.dtype(np.float64), current_allocator(), 6)

    def __init__(self, *args, **kwargs):
        # Bound by hand so that a bad call names the class (_bind_args.pxi).
        dtype, iterable, allocator, first_segment = _bind_args(
            "SegmentedList", args, kwargs, _INIT_NAMES, 2, _INIT_DEFAULTS)
        dt = _list_dtype(dtype)
        cdef Allocator alloc = _resolve_allocator(allocator)
        cdef int shift = _shift_for(first_segment, dt.itemsize)
        if iterable is None:
            # As array.array('q', None) and list(None): not an empty list.
            raise TypeError("'NoneType' object is not iterable")
        # Checked after the arguments are parsed (that runs Python code) and
        # with nothing but C between here and the new layout.
        if self._exports:
            raise BufferError("cannot re-initialise a SegmentedList while segment views exist")
        if self._busy:
            raise RuntimeError(
                "cannot re-initialise a SegmentedList while one of its methods is running "
                "(from a conversion hook, an iterator, a finaliser or another thread)")
        seglist_destroy(&self.c)
        _setup(self, dt, alloc, shift)
        if not (type(iterable) is tuple and len(iterable) == 0):
            self.extend(iterable)

    def __dealloc__(self):
        # Views hold a reference to the list, so none can outlive this.
        # The segments go back through c.alloc, which points into
        # self._allocator: the class is no_gc_clear so that the cyclic GC
        # cannot drop that reference (and free the allocator) first.
        seglist_destroy(&self.c)

    # -- attributes ---------------------------------------------------------

    @property
    def dtype(self):
        """numpy.dtype : The element type."""
        return self._dtype

    @property
    def itemsize(self):
        """int : Bytes per element."""
        return self.c.itemsize

    @property
    def nbytes(self):
        """int : Bytes held by the elements (``len(self) * itemsize``)."""
        return self.c.length * self.c.itemsize

    @property
    def capacity(self):
        """int : Elements the allocated segments can hold before the next allocation."""
        return seglist_capacity(&self.c)

    @property
    def first_segment(self):
        """int : Elements in the first segment (``s0``); later ones double."""
        return <Py_ssize_t>1 << self.c.shift

    @property
    def allocator(self):
        """segpy.Allocator : The allocator the segments come from."""
        return self._allocator

    def __len__(self):
        return self.c.length

    def __bool__(self):
        return self.c.length != 0

    def __sizeof__(self):
        return object.__sizeof__(self) + seglist_capacity(&self.c) * self.c.itemsize

    # -- mutation -----------------------------------------------------------

    def append(self, x, /):
        """Append one element.

        Parameters
        ----------
        x : scalar
            Converted as numpy assignment would with casting ``'same_kind'``.

        Raises
        ------
        OverflowError
            If `x` is a Python int out of range for the dtype.
        TypeError, ValueError
            If `x` cannot be converted (for instance a float into an int list).
        MemoryError
            If the allocator cannot provide a new segment.  In every case the
            list is unchanged.
        """
        cdef int64_t buf[2]
        cdef const char* src
        cdef char* slot
        cdef int overflow = 0
        cdef long long v
        # The hottest cases stay in this function: no call before the store.
        if self._kind == K_I64 and PyLong_CheckExact(x):
            if not segpy_long_compact(x, &v):
                v = PyLong_AsLongLongAndOverflow(x, &overflow)
                if overflow:
                    _raise_oob(self, x)
            slot = seglist_emplace(&self.c)
            if slot == NULL:
                _raise_grow_error(self, 1)
            (<int64_t*>slot)[0] = v
            return
        if self._kind == K_F64 and PyFloat_CheckExact(x):
            slot = seglist_emplace(&self.c)
            if slot == NULL:
                _raise_grow_error(self, 1)
            (<double*>slot)[0] = PyFloat_AS_DOUBLE(x)
            return
        # The conversion may run Python code: pinned, the list keeps its
        # layout, so the converted bytes fit whatever slot is next.
        _pin(self)
        try:
            src = _pack(self, x, buf)
        finally:
            _unpin(self)
        slot = seglist_emplace(&self.c)
        if slot == NULL:
            _raise_grow_error(self, 1)
        memcpy(slot, src, self.c.itemsize)

    def extend(self, iterable, /):
        """Append every element of an iterable.

        Objects with the buffer protocol or ``__array__`` (ndarrays,
        array.array, memoryview, bytearray ...) take a fast path: at most one
        numpy conversion, then one memcpy per touched segment.

        Parameters
        ----------
        iterable : iterable or array-like

        Raises
        ------
        TypeError
            If an element (or the array's dtype) cannot be converted under
            ``'same_kind'`` casting, or `iterable` is not iterable.
        OverflowError
            If a Python int is out of range.
        ValueError
            If an array is not one-dimensional.
        MemoryError
            If the allocator cannot provide the segments.  In every case the
            list is unchanged: no element of a failed call is kept.
        """
        _pin(self)
        try:
            arr = _array_source(iterable)
            if arr is None:
                _extend_iter(self, iterable)
            else:
                _extend_array(self, arr)
        finally:
            _unpin(self)

    def __setitem__(self, idx, x):
        cdef int64_t buf[2]
        cdef Py_ssize_t i
        cdef const char* src
        if PySlice_Check(idx):
            _set_slice(self, idx, x)
            return
        i = _index(self, idx)
        _pin(self)
        try:
            src = _pack(self, x, buf)
        finally:
            _unpin(self)
        # _pack may have run Python code that shrank the list.
        if <size_t>i >= <size_t>self.c.length:
            raise IndexError("SegmentedList index out of range")
        memcpy(seglist_at_unchecked(&self.c, i), src, self.c.itemsize)

    def __delitem__(self, idx):
        if PySlice_Check(idx):
            _del_slice(self, idx)
            return
        cdef Py_ssize_t i = _index(self, idx)
        # No Python code between the index check and the erase.
        seglist_erase(&self.c, i, 1)
        _after_shrink(self)

    def clear(self):
        """Remove every element.

        The segments go back to the allocator, except while views from
        :meth:`segments` exist: then the list keeps them (the views stay
        valid) and later appends reuse them.
        """
        seglist_truncate(&self.c, 0)
        if not _pinned(self):
            seglist_destroy(&self.c)

    def reserve(self, n, /):
        """Allocate segments so that `n` elements fit without a further allocation.

        Parameters
        ----------
        n : int
            Total elements to make room for (not additional ones).  A
            capacity already at least `n` is left as is; this never shrinks.

        Raises
        ------
        ValueError
            If `n` is negative.
        MemoryError
            If the allocator cannot provide the segments, or `n` is beyond
            what the list can address; the list is unchanged.
        """
        cdef Py_ssize_t k = PyNumber_AsSsize_t(n, OverflowError)
        if k < 0:
            raise ValueError(f"reserve() takes a non-negative count, got {n}")
        if seglist_reserve(&self.c, k) != SEGPY_OK:
            _raise_grow_error(self, k - self.c.length)

    # -- the array.array method set ------------------------------------------
    # Semantics and error types follow list and array.array; docs/sequence.md
    # lists every deliberate difference.

    def insert(self, i, x, /):
        """Insert `x` before index `i`, shifting the later elements up.

        Parameters
        ----------
        i : int
            Clipped like ``list.insert``: negative counts from the end, and
            an index past either end inserts at that end.
        x : scalar
            Converted as by :meth:`append`.

        Raises
        ------
        OverflowError, TypeError, ValueError
            As :meth:`append`; OverflowError also for an `i` beyond ssize_t.
        MemoryError
            If a new segment is needed and refused.  The list is unchanged.

        Notes
        -----
        One memmove per segment piece after `i`: O(len - i).
        """
        cdef int64_t buf[2]
        cdef Py_ssize_t n, k = PyNumber_AsSsize_t(i, OverflowError)
        cdef const char* src
        _pin(self)
        try:
            src = _pack(self, x, buf)
        finally:
            _unpin(self)
        # Clipped after _pack, which may have run Python code.
        n = self.c.length
        if k < 0:
            k = max(k + n, 0)
        elif k > n:
            k = n
        if seglist_insert_gap(&self.c, k, 1) != SEGPY_OK:
            _raise_grow_error(self, 1)
        memcpy(seglist_at_unchecked(&self.c, k), src, self.c.itemsize)

    def pop(self, i=-1, /):
        """Remove and return the element at `i` (default: the last).

        Trailing segments left empty go back to the allocator, one spare
        kept (none while segment views exist).

        Raises
        ------
        IndexError
            ``"pop from empty SegmentedList"`` or ``"pop index out of range"``.
        """
        cdef Py_ssize_t n, k = PyNumber_AsSsize_t(i, OverflowError)
        n = self.c.length
        if n == 0:
            raise IndexError("pop from empty SegmentedList")
        if k < 0:
            k += n
        if <size_t>k >= <size_t>n:
            raise IndexError("pop index out of range")
        cdef Py_ssize_t epoch = self.c.epoch
        value = _box(self, seglist_at_unchecked(&self.c, k))
        # Boxing allocates, and a finaliser may have changed the list: then
        # element k is no longer the one boxed.
        _check_unchanged(self, n, epoch, "pop()")
        seglist_erase(&self.c, k, 1)
        _after_shrink(self)
        return value

    def remove(self, x, /):
        """Remove the first element equal to `x`.

        Raises
        ------
        ValueError
            ``"SegmentedList.remove(x): x not in SegmentedList"``.
        """
        cdef Py_ssize_t k
        _pin(self)
        try:
            k = _find(self, x, 0, self.c.length, False)
        finally:
            _unpin(self)
        if k < 0:
            raise ValueError("SegmentedList.remove(x): x not in SegmentedList")
        # _find checked that nothing changed the list; no Python code since.
        seglist_erase(&self.c, k, 1)
        _after_shrink(self)

    def index(self, x, start=0, stop=sys.maxsize, /):
        """Return the index of the first element equal to `x` in ``[start, stop)``.

        Equality is numpy's ``==`` between the element and `x` (as for
        ``==`` between lists); the search runs segment by segment in numpy.

        Parameters
        ----------
        x : object
        start, stop : int, optional
            Bounds interpreted as slice bounds are.

        Raises
        ------
        ValueError
            ``"SegmentedList.index(x): x not in SegmentedList"``.
        """
        cdef Py_ssize_t n = self.c.length
        cdef Py_ssize_t a = _slice_index(start, n), b = _slice_index(stop, n)
        cdef Py_ssize_t k
        _pin(self)
        try:
            k = _find(self, x, a, b, False)
        finally:
            _unpin(self)
        if k < 0:
            raise ValueError("SegmentedList.index(x): x not in SegmentedList")
        return k

    def count(self, x, /):
        """Return the number of elements equal to `x` (numpy's ``==``)."""
        _pin(self)
        try:
            return _find(self, x, 0, self.c.length, True)
        finally:
            _unpin(self)

    def __contains__(self, x):
        _pin(self)
        try:
            return _find(self, x, 0, self.c.length, False) >= 0
        finally:
            _unpin(self)

    def reverse(self):
        """Reverse the elements in place."""
        seglist_reverse(&self.c)

    def byteswap(self):
        """Swap the bytes of every element in place, as ``ndarray.byteswap(inplace=True)``.

        Each field of a record, each part of a complex number and each
        character of a ``'U'`` string is swapped on its own; ``'S'`` and
        1-byte types are unchanged.  The dtype is not changed.
        """
        for view in self.segments():
            view.byteswap(inplace=True)

    def shrink_to_fit(self):
        """Release every segment that holds no element.

        Capacity then ends at the end of the last used segment (segments
        are never split).  While segment views exist nothing is released,
        as in :meth:`clear`.
        """
        if not _pinned(self):
            seglist_release_unused(&self.c, 0)

    def tolist(self):
        """Return the elements as a list, each as ``lst[i]`` returns it."""
        if self._kind != K_GENERIC or self._dtype.kind in _NUMERIC_KINDS:
            # ndarray.tolist gives the same Python scalars as _box, faster.
            return self.to_numpy().tolist()
        return list(self)

    def tobytes(self):
        """Return the elements' bytes, in order, as one bytes object.

        Raises
        ------
        RuntimeError
            If a finaliser run by the allocation of the result resized the list.
        """
        cdef Py_ssize_t n = self.c.length
        out = PyBytes_FromStringAndSize(NULL, n * self.c.itemsize)
        _read_range(self, 0, PyBytes_AS_STRING(out), n)
        return out

    def __bytes__(self):
        """``bytes(lst)``: the elements' raw bytes, as ``bytes(array.array)`` gives."""
        return self.tobytes()

    def frombytes(self, buffer, /):
        """Append the elements whose raw bytes are in `buffer` (any bytes-like object).

        Raises
        ------
        ValueError
            ``"bytes length not a multiple of item size"``; nothing appended.
        TypeError
            If `buffer` is not a contiguous bytes-like object.
        """
        cdef Py_buffer view
        cdef Py_ssize_t n
        _pin(self)
        try:
            PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE)
            try:
                if view.len % self.c.itemsize:
                    raise ValueError("bytes length not a multiple of item size")
                n = view.len // self.c.itemsize
                if seglist_overlaps(&self.c, <const char*>view.buf, <size_t>view.len):
                    # A view of the list itself: read it whole first.
                    self.frombytes(PyBytes_FromStringAndSize(<char*>view.buf, view.len))
                elif seglist_append_n(&self.c, view.buf, n) != SEGPY_OK:
                    _raise_grow_error(self, n)
            finally:
                PyBuffer_Release(&view)
        finally:
            _unpin(self)

    def fromlist(self, items, /):
        """Append the items of a list; all or nothing, as ``array.fromlist``.

        Raises
        ------
        TypeError
            ``"arg must be list"``, or an item that cannot be converted.
        """
        if not isinstance(items, list):
            raise TypeError("arg must be list")
        _pin(self)
        try:
            _extend_iter(self, items)
        finally:
            _unpin(self)

    def tofile(self, f, /):
        """Write the elements' bytes to the binary file object `f` (``f.write``).

        Written in blocks of at most 1 MiB, each a new bytes object.
        """
        cdef Py_ssize_t pos = 0, k
        cdef Py_ssize_t block = max(1, (1 << 20) // self.c.itemsize)
        write = f.write
        # The length is re-read after every write: write() is Python code.
        while pos < self.c.length:
            k = min(block, self.c.length - pos)
            chunk = PyBytes_FromStringAndSize(NULL, k * self.c.itemsize)
            # Checked: the allocation may have run a finaliser.
            _read_range(self, pos, PyBytes_AS_STRING(chunk), k)
            write(chunk)
            pos += k

    def fromfile(self, f, n, /):
        """Read `n` elements from the binary file object `f` and append them.

        Raises
        ------
        EOFError
            If fewer than `n` elements are available: the whole elements
            that were read are appended first, as ``array.fromfile`` does.
        ValueError
            If `n` is negative.
        TypeError
            If ``f.read`` does not return bytes.
        """
        cdef Py_ssize_t k = PyNumber_AsSsize_t(n, OverflowError)
        cdef Py_ssize_t isz = self.c.itemsize, got
        if k < 0:
            raise ValueError("negative count")
        if k > PY_SSIZE_T_MAX // isz:
            raise MemoryError(f"cannot read {k} elements of {isz} bytes")
        _pin(self)          # isz must stay the itemsize while read() runs
        try:
            data = f.read(k * isz)
        finally:
            _unpin(self)
        if not isinstance(data, bytes):
            raise TypeError("read() didn't return bytes")
        got = len(data) // isz
        self.frombytes(memoryview(data)[:got * isz])
        if got < k:
            raise EOFError("read() didn't return enough bytes")

    def __copy__(self):
        return _copy_of(self, 0, 1, self.c.length)

    def __deepcopy__(self, memo, /):
        # Elements are plain bytes: a copy is already deep.
        return _copy_of(self, 0, 1, self.c.length)

    def __add__(self, other, /):
        """Return ``self + other``, a new list; `other` must be a SegmentedList."""
        if not isinstance(other, SegmentedList):
            raise TypeError(f'can only concatenate SegmentedList (not "{type(other).__name__}") '
                            "to SegmentedList")
        new = _copy_of(self, 0, 1, self.c.length)
        new.extend(other)
        return new

    def __iadd__(self, other):
        self.extend(other)
        return self

    def __mul__(self, n, /):
        """Return ``self * n``: a new list of `n` copies of the elements."""
        cdef Py_ssize_t times = _repeat_count(n)
        cdef SegmentedList new = _empty_like(self)
        _repeat_into(new, self, times)
        return new

    def __rmul__(self, n, /):
        """Return ``n * self``: a new list of `n` copies of the elements."""
        return self.__mul__(n)

    def __imul__(self, n):
        cdef Py_ssize_t times = _repeat_count(n)
        if times <= 0:
            if self.c.length:
                seglist_truncate(&self.c, 0)
                _after_shrink(self)
        else:
            _repeat_into(self, self, times)
        return self

    def __lt__(self, other):
        return _lexcmp(self, other, Py_LT)

    def __le__(self, other):
        return _lexcmp(self, other, Py_LE)

    def __gt__(self, other):
        return _lexcmp(self, other, Py_GT)

    def __ge__(self, other):
        return _lexcmp(self, other, Py_GE)

    # -- reading ------------------------------------------------------------

    def __getitem__(self, idx):
        cdef Py_ssize_t i
        if not PyLong_CheckExact(idx):
            if PySlice_Check(idx):
                return _get_slice(self, idx)
            if isinstance(idx, (np.ndarray, list)):
                return _getitem_fancy(self, idx)
        i = _index(self, idx)
        return _box(self, seglist_at_unchecked(&self.c, i))

    def __iter__(self):
        cdef _Iterator it = _Iterator.__new__(_Iterator)
        it.lst = self
        it.c = &self.c
        it.i = 0
        it.stop = 0         # forces _rederive on the first step
        return it

    def __reversed__(self):
        cdef _ReverseIterator it = _ReverseIterator.__new__(_ReverseIterator)
        it.lst = self
        it.i = self.c.length - 1
        return it

    def copy(self):
        """Return a new list with the same dtype, allocator, geometry and elements.

        Returns
        -------
        SegmentedList
        """
        return _copy_of(self, 0, 1, self.c.length)

    def to_numpy(self, start=None, stop=None, *, out=None):
        """Return a contiguous ndarray holding a copy of the elements (or of a range).

        One memcpy per segment.

        Parameters
        ----------
        start, stop : int or None, optional
            The range ``[start, stop)``, normalised as a slice ``lst[start:stop]``
            is (negative values count from the end, out-of-range values clamp).
            The default is the whole list.
        out : numpy.ndarray, optional
            Write the elements here instead of into a new array and return it.
            It must be 1-D, C-contiguous, writable, of exactly the list's
            dtype and of exactly the range's length.  It may be a view of
            this list's own segments.

        Returns
        -------
        numpy.ndarray
            1-D, C-contiguous, of the list's dtype: `out`, or new memory (for a
            large whole-list copy a view into a new buffer a page larger,
            placed so that the copy runs at full speed; see
            ``_new_array_for_copy``).

        Raises
        ------
        TypeError
            If `start` or `stop` is not an int or None, `out` is not an
            ndarray, or its dtype differs from the list's.
        ValueError
            If `out` has the wrong shape, is not C-contiguous or is read-only.
            Nothing is written then.

        See Also
        --------
        segments : zero-copy views of the segments.

        Examples
        --------
        >>> import numpy as np, segpy
        >>> lst = segpy.SegmentedList('q', range(10))
        >>> lst.to_numpy(2, -5)
        array([2, 3, 4])
        >>> buf = np.zeros(3, dtype=lst.dtype)
        >>> lst.to_numpy(7, out=buf) is buf, buf
        (True, array([7, 8, 9]))
        """
        if start is not None or stop is not None or out is not None:
            return _to_numpy_range(self, start, stop, out)
        arr = _new_array_for_copy(self)
        # The length as allocated, not as now: the allocation may have run
        # finalizers that changed the list (then _read_range raises).
        _read_range(self, 0, cnp.PyArray_DATA(arr), cnp.PyArray_DIM(arr, 0))
        return arr

    def __array__(self, dtype=None, copy=None):
        if copy is False:
            raise ValueError(
                "a SegmentedList is not contiguous, so it cannot be exported to numpy "
                "without a copy; use segments() for zero-copy views")
        arr = self.to_numpy()
        if dtype is not None:
            arr = arr.astype(dtype, copy=False)
        return arr

    def segments(self):
        """Return zero-copy views of the used segments, in order.

        Returns
        -------
        list of numpy.ndarray
            One writable 1-D view per segment that holds elements; the last
            one covers only the elements present now.  A view stays valid, at
            the same address, while the list grows, and keeps the list alive.
            While any view exists :meth:`clear` keeps the segments.

        Examples
        --------
        >>> import segpy
        >>> lst = segpy.SegmentedList('q', range(10), first_segment=4)
        >>> [len(v) for v in lst.segments()]
        [4, 6]
        """
        cdef int j
        cdef Py_ssize_t n, left = self.c.length
        cdef Py_ssize_t length = self.c.length, epoch = self.c.epoch
        views = []
        _pin(self)
        try:
            for j in range(seglist_used_segments(&self.c)):
                n = min(seglist_segment_len(&self.c, j), left)
                views.append(_segment_view(self, j, n))
                left -= n
            # Each view's allocation may have run a finaliser that resized
            # the list; views of the old lengths would then not be the list.
            _check_unchanged(self, length, epoch, "segments()")
        finally:
            _unpin(self)
        return views

    # -- comparison and display --------------------------------------------

    def __eq__(self, other):
        return _equal(self, other)

    def __ne__(self, other):
        r = _equal(self, other)
        return r if r is NotImplemented else not r

    __hash__ = None

    # -- numpy-style bulk access, sort, pickle (see _seglist_bulk.pxi) --

    def take(self, indices, axis=None, out=None, mode="raise"):
        """Gather the elements at `indices` into a new ndarray, like ``numpy.take``.

        A vectorised C loop: per index one segment lookup (a count of leading
        zeros) and one load; no Python work per element.

        Parameters
        ----------
        indices : int, sequence of ints or integer ndarray
            Negative indices count from the end.  Any shape; bool arrays are
            taken as 0/1, as ``numpy.take`` does.
        axis : {None, 0, -1}, optional
            Accepted for ``numpy.take(lst, ...)``; a list has one axis.
        out : numpy.ndarray, optional
            Write the result here: C-contiguous, writable, of the list's
            dtype (no casting) and of the shape of `indices`.  Nothing is
            written if an index is out of range.
        mode : {'raise', 'wrap', 'clip'}, optional
            As in ``numpy.take``: out-of-range indices raise, wrap around, or
            clip to ``[0, len - 1]`` (negative ones to 0).

        Returns
        -------
        numpy.ndarray or numpy scalar
            A new array (or `out`) of the list's dtype and of the shape of
            `indices`; a numpy scalar for a scalar index.

        Raises
        ------
        IndexError
            If an index is outside ``[-len(self), len(self))`` with
            ``mode='raise'``, or the list is empty with another mode.
        TypeError
            If `indices` is not of an integer type (``numpy.take`` truncates
            a list of floats; this refuses it), or `out` is not an ndarray
            of the list's dtype.
        ValueError
            For a bad `mode`, or an `out` of the wrong shape or layout.
        numpy.exceptions.AxisError
            For an `axis` other than None, 0 or -1.

        See Also
        --------
        put, to_numpy

        Examples
        --------
        >>> import segpy
        >>> lst = segpy.SegmentedList('q', range(100))
        >>> lst.take([3, -1, 50])
        array([ 3, 99, 50])
        """
        return _take(self, indices, axis, out, mode)

    def put(self, indices, values, mode="raise"):
        """Set ``self[indices[k]] = values[k % len(values)]``, like ``numpy.put``.

        Parameters
        ----------
        indices : int, sequence of ints or integer ndarray
            Flattened; negative indices count from the end.  With repeated
            indices the last write wins.
        values : scalar, sequence or ndarray
            Flattened and repeated if shorter than `indices`; extra values are
            ignored; no values writes nothing.  Converted by the list's rules
            (casting ``'same_kind'``; Python ints are range-checked).
        mode : {'raise', 'wrap', 'clip'}, optional
            What out-of-range indices do, as in ``numpy.put``.

        Raises
        ------
        IndexError
            If an index is out of range with ``mode='raise'``.
        TypeError, OverflowError, ValueError
            If a value cannot be converted.  Every index is checked and every
            value converted before anything is written: a failed call leaves
            the list unchanged.

        See Also
        --------
        take

        Examples
        --------
        >>> import segpy
        >>> lst = segpy.SegmentedList('q', [0] * 6)
        >>> lst.put([0, 2, 4], [7, 8])
        >>> lst.to_numpy()
        array([7, 0, 8, 0, 7, 0])
        """
        _pin(self)
        try:
            _put(self, indices, values, mode)
        finally:
            _unpin(self)

    @cython.embedsignature(False)
    def sum(self, axis=None, dtype=None, out=None, keepdims=False, initial=_NOT_GIVEN,
            where=True):
        """sum($self, /, axis=None, dtype=None, out=None, keepdims=False,
    initial=segpy.seglist._NOT_GIVEN, where=True)
--

Sum of the elements, as ``ndarray.sum()`` gives it, computed segment by segment.

        Parameters
        ----------
        axis, dtype, out, keepdims, initial, where
            As for ``ndarray.sum`` of a 1-D array (so ``np.sum(lst)`` works):
            `axis` may be None, 0 or -1; `where` is a bool mask broadcast
            to the list's length.

        Returns
        -------
        numpy scalar
            numpy's result dtype: int64 for bool and smaller signed ints,
            uint64 for smaller unsigned ints, the float or complex type
            itself for floats.  0 for an empty list.  A 1-element array with
            `keepdims`, `out` if given.

        Raises
        ------
        TypeError
            For dtypes numpy cannot add (datetimes, strings, records).

        Notes
        -----
        No copy: numpy sums each segment through a zero-copy view, then the
        per-segment results.  Integer sums wrap exactly as a whole-array sum
        does.  numpy sums floats pairwise within each segment; the partials
        are then added, so a float sum can differ from ``ndarray.sum()`` of
        the same values in the last bits (as any two summation orders do).

        Examples
        --------
        >>> import segpy
        >>> segpy.SegmentedList('i1', [100, 100, 100]).sum()
        np.int64(300)
        """
        return _reduce(self, "sum", axis, dtype, out, keepdims, initial, where)

    @cython.embedsignature(False)
    def min(self, axis=None, out=None, keepdims=False, initial=_NOT_GIVEN, where=True):
        """min($self, /, axis=None, out=None, keepdims=False,
    initial=segpy.seglist._NOT_GIVEN, where=True)
--

Smallest element, as ``ndarray.min()`` gives it, computed segment by segment.

        Parameters
        ----------
        axis, out, keepdims, initial, where
            As for ``ndarray.min`` of a 1-D array (so ``np.min(lst)`` works).

        Returns
        -------
        numpy scalar
            Of the list's dtype (in native byte order).  NaN (NaT) if any
            element is NaN (NaT), as in numpy.

        Raises
        ------
        ValueError
            For an empty list without `initial`: "zero-size array to
            reduction operation minimum which has no identity".
        TypeError
            For dtypes numpy cannot order this way (strings, records, void).
        """
        return _reduce(self, "min", axis, None, out, keepdims, initial, where)

    @cython.embedsignature(False)
    def max(self, axis=None, out=None, keepdims=False, initial=_NOT_GIVEN, where=True):
        """max($self, /, axis=None, out=None, keepdims=False,
    initial=segpy.seglist._NOT_GIVEN, where=True)
--

Largest element, as ``ndarray.max()`` gives it, computed segment by segment.

        Parameters
        ----------
        axis, out, keepdims, initial, where
            As for ``ndarray.max`` of a 1-D array (so ``np.max(lst)`` works).

        Returns
        -------
        numpy scalar
            Of the list's dtype (in native byte order); NaN propagates.

        Raises
        ------
        ValueError
            For an empty list without `initial` (numpy's message for ``maximum``).
        TypeError
            For dtypes numpy cannot order this way (strings, records, void).
        """
        return _reduce(self, "max", axis, None, out, keepdims, initial, where)

    def sort(self, *, kind=None, reverse=False):
        """Sort the list in place, in the order ``numpy.sort`` gives.

        The elements are copied into one contiguous temporary (a memcpy per
        segment), sorted there by ``ndarray.sort(kind=kind)``, and copied back.

        Parameters
        ----------
        kind : {None, 'quicksort', 'mergesort', 'heapsort', 'stable'}, optional
            Passed to ``ndarray.sort``.
        reverse : bool, optional
            Sort in descending order.  As with ``list.sort(reverse=True)``,
            equal elements keep their original order (with a stable `kind`);
            NaNs, which numpy sorts last, come first.

        Raises
        ------
        ValueError
            For an unknown `kind` (the list is unchanged), or if the list
            changed while it was sorted: by another thread while numpy
            sorted without the GIL, or by a finaliser the garbage collector
            ran during an allocation (as ``list.sort``'s "list modified
            during sort"; the list is left as that code made it).
        TypeError
            If `reverse` is not an int or bool.

        Notes
        -----
        Every dtype a SegmentedList can hold is orderable by numpy: records
        field by field, complex numbers lexicographically, void and bytes
        bytewise, NaN and NaT last.  Peak extra memory: one copy of the list
        (``nbytes``) plus what numpy's sort needs (none for quicksort and
        heapsort, up to ``nbytes / 2`` for the stable sorts).

        Examples
        --------
        >>> import segpy
        >>> lst = segpy.SegmentedList('d', [3.0, float('nan'), 1.0, 2.0])
        >>> lst.sort()
        >>> lst.to_numpy()
        array([ 1.,  2.,  3., nan])
        """
        _pin(self)
        try:
            _sort(self, kind, reverse)
        finally:
            _unpin(self)

    def __reduce_ex__(self, protocol, /):
        """Pickle support: the dtype, the first segment size and the element bytes.

        Protocols up to 4 carry the elements as one bytes object.  Protocol 5
        passes each segment as a ``pickle.PickleBuffer`` (out of band, without
        a copy, when the pickler has a ``buffer_callback``).  The allocator is
        not pickled: an unpickled list uses the current default allocator.
        """
        _pin(self)
        try:
            return _reduce_ex(self, protocol)
        finally:
            _unpin(self)

    def __repr__(self):
        cdef Py_ssize_t n
        cdef str name = _dtype_name(self._dtype)
        head = np.empty(3, dtype=self._dtype)
        tail = np.empty(3, dtype=self._dtype)
        # The length is read after the allocations (which may run
        # finalisers), with no Python code between it and the reads.
        n = self.c.length
        if n > 1000:
            _read_range(self, 0, cnp.PyArray_DATA(head), 3)
            _read_range(self, n - 3, cnp.PyArray_DATA(tail), 3)
            body = (_unbracket(np.array2string(head, separator=", ")) + ", ..., "
                    + _unbracket(np.array2string(tail, separator=", ")))
            return f"SegmentedList([{body}], dtype={name}, len={n})"
        body = _unbracket(np.array2string(
            self.to_numpy(), separator=", ", prefix="SegmentedList("))
        return f"SegmentedList([{body}], dtype={name})"


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


def _locate(Py_ssize_t i, Py_ssize_t first_segment):
    """Segment and offset of index `i` for a given first segment size (testing aid).

    Parameters
    ----------
    i : int
        A non-negative index below 2**62.
    first_segment : int
        A power of two from 1 to 2**30.

    Returns
    -------
    (int, int)
        ``(segment, offset)``.
    """
    cdef seglist_t s
    cdef Py_ssize_t off
    cdef int j
    if i < 0 or i >= (<Py_ssize_t>1 << 62):
        raise ValueError(f"index must be in [0, 2**62), got {i}")
    s.shift = _shift_for(first_segment, 1)
    j = seglist_locate(&s, i, &off)
    return j, off


# -- C-level API bridge (issue 5) --
#
# Everything below serves compiled consumers (see seglist.pxd's matching
# block and docs/c-api.md): the bridge between a C-built seglist_t and a
# SegmentedList object, the boundary helper that turns an error code into a
# Python exception, and the ``capi`` capsule for C, cffi, ctypes and numba.

from cpython.pycapsule cimport PyCapsule_GetContext
from cpython.pycapsule cimport PyCapsule_New
from cpython.pycapsule cimport PyCapsule_SetContext

from segpy.alloc cimport raise_misuse


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
    number of elements the failed call wanted to add); SEGPY_EINVAL becomes
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
