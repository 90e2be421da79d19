# cython: language_level=3
"""SegmentedList: a growable list of fixed-size numpy elements (see seglist.pxd).

This file holds the module's imports, the include files (one per concern;
docs/design.md, "Architecture", maps them) and the SegmentedList class.  It
is over 1,000 lines because the class is: Cython cannot split a cdef class's
body across files, and most of its lines are the numpydoc docstrings of the
public methods.  The methods themselves are a few lines each that convert,
call a module function and raise; the work is in the include files.
"""

import ast
import operator
import pickle as _pickle
import sys
from collections.abc import Sequence

cimport cython

import numpy as np

from segpy.file import FileAllocator
from segpy._geometry cimport _segpy_as_ssize_clamped as _as_ssize_clamped
from segpy._geometry cimport segpy_first_segment_shift

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
from cpython.bytes cimport PyBytes_GET_SIZE
from cpython.tuple cimport PyTuple_CheckExact
from cpython.tuple cimport PyTuple_GET_ITEM
from cpython.tuple cimport PyTuple_GET_SIZE
from libc.float cimport FLT_MAX
from libc.math cimport INFINITY
from libc.math cimport fabs
from cpython.buffer cimport PyBUF_SIMPLE
from cpython.buffer cimport PyBuffer_Release
from cpython.buffer cimport PyObject_GetBuffer
from cpython.exc cimport PyErr_Occurred
from cpython.mem cimport PyMem_RawCalloc
from cpython.mem cimport PyMem_RawFree
from cpython.pythread cimport PyThread_get_thread_ident
from cpython.ref cimport Py_DECREF
from cpython.ref cimport Py_INCREF
from cpython.ref cimport PyObject
from libc.stdint cimport int8_t
from libc.stdint cimport int16_t
from libc.stdint cimport int32_t
from libc.stdint cimport INT64_MAX
from libc.stdint cimport int64_t
from libc.stdint cimport SIZE_MAX
from cpython.pyport cimport PY_SSIZE_T_MAX
from cpython.pycapsule cimport PyCapsule_CheckExact
from cpython.pycapsule cimport PyCapsule_GetContext
from cpython.pycapsule cimport PyCapsule_GetName
from cpython.pycapsule cimport PyCapsule_GetPointer
from cpython.pycapsule cimport PyCapsule_IsValid
from cpython.pycapsule cimport PyCapsule_New
from cpython.pycapsule cimport PyCapsule_SetContext
from libc.stdint cimport uint8_t
from libc.stdint cimport uint16_t
from libc.stdint cimport uint32_t
from libc.stdint cimport uint64_t
from libc.errno cimport ENOMEM
from libc.stdlib cimport calloc
from libc.stdlib cimport free
from libc.stdlib cimport malloc
from libc.string cimport memcpy
from libc.string cimport memmove
from libc.string cimport memset

from segpy.alloc cimport Allocator
from segpy.alloc cimport segpy_allocator_t
from segpy.alloc cimport current_allocator
from segpy.alloc cimport raise_alloc_error
from segpy.alloc cimport segpy_seal_new
from segpy.alloc cimport raise_misuse

cnp.import_array()


cdef extern from "numpy/arrayobject.h":
    # The descriptor flag behind dtype.hasobject.
    enum: NPY_ITEM_HASOBJECT
    # Declared here with raw PyObject* so that a NULL base can be passed:
    # PyArray_Scalar copies the element only when base is NULL, and a copy
    # is what we need (a view would dangle once the segment is released).
    object PyArray_Scalar(void* data, cnp.dtype descr, PyObject* base)
    # Steals a reference to descr.
    object PyArray_NewFromDescr(PyTypeObject* subtype, cnp.dtype descr, int nd,
                                cnp.npy_intp* dims, cnp.npy_intp* strides,
                                void* data, int flags, PyObject* obj)

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


# The module is one unit (Cython inlines only within one), split by concern
# into include files; docs/design.md has the map.  The order is the order of
# module initialisation; cdef functions may be called from any file.
include "_seglist_core.pxi"
include "_seglist_guard.pxi"
include "_seglist_convert.pxi"
include "_seglist_sequence.pxi"
include "_seglist_views.pxi"
include "_seglist_bulk.pxi"
include "_seglist_pickle.pxi"
include "_seglist_file.pxi"
include "_seglist_arrow.pxi"
include "_seglist_arrow_import.pxi"
include "_seglist_concurrent.pxi"
include "_bind_args.pxi"
include "_seglist_construct.pxi"

# SegmentedList.__init__'s parameters: (dtype, iterable=(), *, allocator=None,
# first_segment=None), as its docstring's first line says.
_INIT_NAMES = ("dtype", "iterable", "allocator", "first_segment")
_INIT_DEFAULTS = (_REQUIRED, (), None, None)
# The dtype of a list made by __new__ alone, parsed once.
cdef object _FLOAT64 = np.dtype(np.float64)


# A sequence to pattern matching (``match lst: case [first, *rest]``), as
# list and array.array are; but not registered as a collections.abc
# MutableSequence: see segpy/__init__.py.
# The free list: the object is over 1 KiB (the segment tables are inline),
# past what CPython's small-object allocator serves, so without it every
# SegmentedList(...) paid a malloc and a free beside its segment's own.
# Python subclasses (heap types) never enter it.
@cython.collection_type("sequence")
@cython.no_gc_clear
@cython.freelist(8)
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
        default gives a first segment of about 512 bytes, enlarged to fit
        the first bulk extend (from an array, a buffer or a SegmentedList)
        of a list that holds no segment yet.

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

    def __cinit__(self):
        # A valid empty float64 list until __init__ runs, so that an object
        # made by __new__ alone is safe to use.  It takes no arguments, so
        # Cython ignores the constructor's (a ``*args, **kwargs`` signature
        # built an empty dict per construction).  Set field by field, not by
        # _setup, as every SegmentedList(...) runs this before __init__:
        # the fields Cython made None are right already.
        cdef Allocator alloc = current_allocator()
        _seglist_init_empty(&self.c, 8, 6, &alloc.iface)
        self._dtype = _FLOAT64
        self._allocator = alloc
        self._kind = K_F64

    def __init__(self, *args, **kwargs):
        # Bound by hand so that a bad call names the class (_bind_args.pxi).
        # SegmentedList(dtype), the common call, does not come here: the
        # type's vectorcall takes it to _init (_seglist_construct.pxi).
        if not kwargs and len(args) == 1:
            _init(self, args[0], (), None, None)
            return
        dtype, iterable, allocator, first_segment = _bind_args(
            "SegmentedList", args, kwargs, _INIT_NAMES, 2, _INIT_DEFAULTS)
        _init(self, dtype, iterable, allocator, first_segment)

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
        cdef char* slot = self.c.cursor
        cdef long long v
        # The hottest cases stay in this function, and only while the last
        # segment has room: no call before the store.  Everything else is
        # out of line, so that this function saves no registers and needs
        # no temporaries for its errors (their set-up was a quarter of the
        # fast path's instructions): a record is _append_record (in C when
        # it can, and without the general path's try/finally), and a new
        # segment, an int of more than one digit or any other value is
        # _append_general.
        if slot != self.c.cursor_end:
            if self._kind == K_I64:
                if PyLong_CheckExact(x) and segpy_long_compact(x, &v):
                    _seglist_commit_slot(&self.c, slot)
                    (<int64_t*>slot)[0] = v
                    return
            elif self._kind == K_F64:
                if PyFloat_CheckExact(x):
                    _seglist_commit_slot(&self.c, slot)
                    (<double*>slot)[0] = PyFloat_AS_DOUBLE(x)
                    return
        if self._fields is not None and self._fields is not _UNPLANNED and PyTuple_CheckExact(x):
            _append_record_out_of_line(self, x)
            return
        _append_general_out_of_line(self, x)

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
        _check_writable(self)
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
        _check_writable(self)
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
        _check_writable(self)
        if PySlice_Check(idx):
            _del_slice(self, idx)
            return
        cdef Py_ssize_t i = _index(self, idx)
        # No Python code between the index check and the erase.
        _seglist_erase(&self.c, i, 1)
        _after_shrink(self)

    def clear(self):
        """Remove every element.

        The segments go back to the allocator, except while views from
        :meth:`segments` exist: then the list keeps them (the views stay
        valid) and later appends reuse them.

        Examples
        --------
        >>> import segpy
        >>> lst = segpy.SegmentedList("q", range(1000))
        >>> lst.clear()
        >>> len(lst), lst.capacity
        (0, 0)
        """
        _check_writable(self)
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
        _check_writable(self)
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
        _check_writable(self)
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
        if _seglist_insert_gap(&self.c, k, 1) != SEGPY_OK:
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
        _check_writable(self)
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
        _seglist_erase(&self.c, k, 1)
        _after_shrink(self)
        return value

    def remove(self, x, /):
        """Remove the first element equal to `x`.

        Raises
        ------
        ValueError
            ``"SegmentedList.remove(x): x not in SegmentedList"``.
        """
        _check_writable(self)
        cdef Py_ssize_t k
        _pin(self)
        try:
            k = _find(self, x, 0, self.c.length, False)
        finally:
            _unpin(self)
        if k < 0:
            raise ValueError("SegmentedList.remove(x): x not in SegmentedList")
        # _find checked that nothing changed the list; no Python code since.
        _seglist_erase(&self.c, k, 1)
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
        """Return the number of elements equal to `x` (numpy's ``==``).

        Ints and floats compare exactly, as Python compares them; a value
        that cannot be compared with the elements is counted as absent.

        Examples
        --------
        >>> import segpy
        >>> segpy.SegmentedList("q", [1, 2, 1, 3]).count(1)
        2
        >>> segpy.SegmentedList("f4", [0.1]).count(0.1)   # float32(0.1) != 0.1
        0
        """
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
        """Reverse the elements in place.

        Examples
        --------
        >>> import segpy
        >>> lst = segpy.SegmentedList("q", range(5))
        >>> lst.reverse()
        >>> lst.tolist()
        [4, 3, 2, 1, 0]
        """
        _check_writable(self)
        _seglist_reverse(&self.c)

    def byteswap(self):
        """Swap the bytes of every element in place, as ``ndarray.byteswap(inplace=True)``.

        Each field of a record, each part of a complex number and each
        character of a ``'U'`` string is swapped on its own; ``'S'`` and
        1-byte types are unchanged.  The dtype is not changed.

        Examples
        --------
        >>> import segpy
        >>> lst = segpy.SegmentedList("<u2", [1, 256])
        >>> lst.byteswap()
        >>> lst.tolist()
        [256, 1]
        """
        _check_writable(self)
        for view in self.segments():
            view.byteswap(inplace=True)

    def shrink_to_fit(self):
        """Release every segment that holds no element.

        Capacity then ends at the end of the last used segment (segments
        are never split).  While segment views exist nothing is released,
        as in :meth:`clear`.

        Examples
        --------
        >>> import segpy
        >>> lst = segpy.SegmentedList("q", range(1000), first_segment=64)
        >>> del lst[100:]
        >>> lst.capacity                 # segments 0 and 1, plus one spare
        448
        >>> lst.shrink_to_fit()
        >>> lst.capacity
        192
        """
        _check_no_phase(self)     # a phase's writers fill the spare segments
        if not _pinned(self):
            seglist_release_unused(&self.c, 0)

    def tolist(self):
        """Return the elements as a list, each as ``lst[i]`` returns it.

        Examples
        --------
        >>> import segpy
        >>> segpy.SegmentedList("f8", [1, 2.5]).tolist()
        [1.0, 2.5]
        >>> segpy.SegmentedList("M8[D]", ["2024-01-01"]).tolist()
        [np.datetime64('2024-01-01')]
        """
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
        _check_writable(self)
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
        _check_writable(self)
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

        See Also
        --------
        fromfile, tobytes

        Examples
        --------
        >>> import io, segpy
        >>> f = io.BytesIO()
        >>> segpy.SegmentedList("<i2", [1, 2]).tofile(f)
        >>> f.getvalue()
        b'\\x01\\x00\\x02\\x00'
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
        _check_writable(self)
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
        _check_writable(self)
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
        _check_writable(self)
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
            Elements appended meanwhile (by a finaliser the call ran, or by
            another thread) are not in the views: they show the list as the
            call found it.

        Raises
        ------
        RuntimeError
            If the list shrank or was re-initialised during the call.

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
            # Each view's allocation may have run a finaliser (or let another
            # thread run) that changed the list.  Appends are harmless: the
            # views are the list as of the call (segments never move).  A
            # shrink or a released segment is not: views of the old lengths
            # would show elements the list no longer has.
            if self.c.epoch != epoch or self.c.length < length:
                _raise_changed("segments()")
        finally:
            _unpin(self)
        return views

    def to_dask(self, max_chunk=None):
        """Return the list as a dask array whose chunks are its segments (needs dask).

        Zero-copy for a list in memory: each block of the graph is a view of a
        segment (as :meth:`segments` gives), so no element is copied until a
        computation needs it.  For a list backed by a
        :class:`segpy.FileAllocator` the list is flushed, and each task maps its
        own byte range of the file when it runs, so that distributed workers
        read the data from the file rather than through the scheduler.

        The length is fixed now: elements appended later are not in the
        array.  It is a view, not a snapshot: elements changed in place before
        it is computed are read with their new values.  docs/dask.md has more.

        Parameters
        ----------
        max_chunk : int, optional
            Cut segments longer than this into chunks of at most `max_chunk`
            elements (still views of the segments).  By default each non-empty
            segment of a list in memory is one chunk (the last ones can be
            large); a file-backed list's chunks are capped at dask's
            ``array.chunk-size`` (128 MiB by default), the memory a worker
            maps at once.

        Returns
        -------
        dask.array.Array
            1-D, of the list's dtype, with chunks ``((n0, n1, ...),)``: the
            lengths of the used segments, each cut by `max_chunk`.  For an
            empty list, one empty chunk.

        Raises
        ------
        ImportError
            If dask is not installed.
        TypeError
            If `max_chunk` is not an int or None.
        ValueError
            If `max_chunk` is 0 or negative.

        See Also
        --------
        segments : the zero-copy views the chunks are made of.
        dask.array.from_array : for one contiguous array.

        Examples
        --------
        >>> import segpy
        >>> lst = segpy.SegmentedList('q', range(100), first_segment=16)
        >>> arr = lst.to_dask()
        >>> arr.chunks
        ((16, 32, 52),)
        >>> int(arr.sum().compute())
        4950
        >>> lst.to_dask(max_chunk=20).chunks
        ((16, 20, 12, 20, 20, 12),)
        """
        # Imported here so that 'import segpy' never imports dask.
        from segpy import _dask
        return _dask.to_dask(self, max_chunk)

    # -- Arrow (the PyCapsule interface; _seglist_arrow.pxi, docs/interop.md) --

    def __arrow_c_schema__(self):
        """Export the list's Arrow type (the Arrow PyCapsule interface).

        Returns
        -------
        PyCapsule
            Named ``"arrow_schema"``.  docs/interop.md maps dtypes to Arrow
            types; values are never null.

        Raises
        ------
        TypeError
            For a dtype Arrow cannot express (complex, unicode, raw void,
            non-native byte order, datetimes in units other than s/ms/us/ns).

        Examples
        --------
        >>> import segpy
        >>> lst = segpy.SegmentedList('q', [1, 2, 3])
        >>> type(lst.__arrow_c_schema__()).__name__
        'PyCapsule'
        """
        return _arrow_c_schema(self)

    def __arrow_c_stream__(self, requested_schema=None):
        """Export the list as an Arrow stream of one array per used segment.

        No copy: each array's data buffer is the segment itself, except for
        a bool list, which Arrow stores as bits: each segment is then packed
        into a bitmap when the consumer takes its array.  The stream holds
        the elements present when it is made; it and every array taken from
        it keep the segments alive and count as segment views (see
        :meth:`segments`) until the consumer releases them.

        Parameters
        ----------
        requested_schema : PyCapsule or None
            A best-effort request for another type (the PyCapsule interface
            allows ignoring it): the list always exports its own type.

        Returns
        -------
        PyCapsule
            Named ``"arrow_array_stream"``.  ``pyarrow.chunked_array(lst)``
            and ``polars.Series(lst)`` take it.

        Raises
        ------
        TypeError
            For a dtype Arrow cannot express (see :meth:`__arrow_c_schema__`),
            or a `requested_schema` that is not an ``"arrow_schema"`` capsule.

        Examples
        --------
        >>> import segpy
        >>> lst = segpy.SegmentedList('q', range(10), first_segment=4)
        >>> segpy.SegmentedList.from_arrow(lst).tolist() == list(range(10))
        True
        """
        return _arrow_c_stream(self, requested_schema)

    def arrow_chunks(self):
        """Return one Arrow array object per used segment, zero-copy.

        For consumers that take single arrays (``__arrow_c_array__``), as
        ``pyarrow.chunked_array(lst.arrow_chunks())``.  The list itself has
        no ``__arrow_c_array__``: a consumer that sees both prefers it and
        would concatenate the segments.  Each object keeps its segment
        alive, as a segment view does.

        Returns
        -------
        list
            Objects with ``__arrow_c_array__`` and ``__arrow_c_schema__``,
            one per segment that holds elements, in order.

        Raises
        ------
        TypeError
            For a dtype Arrow cannot express.

        Examples
        --------
        >>> import segpy
        >>> chunks = segpy.SegmentedList('q', range(10), first_segment=4).arrow_chunks()
        >>> len(chunks), len(chunks[1])
        (2, 6)
        """
        return _arrow_chunks(self)

    def arrow_array(self):
        """Return a contiguous copy of the list as one Arrow array object.

        For a consumer that needs a single buffer:
        ``pyarrow.array(lst.arrow_array())``.  The copy is the one
        :meth:`to_numpy` makes; the object keeps it alive and has
        ``__arrow_c_array__`` and ``__arrow_c_schema__``.  Raises TypeError,
        as :meth:`__arrow_c_schema__` does, for a dtype Arrow cannot express.

        See Also
        --------
        arrow_chunks : the segments themselves, without a copy.

        Examples
        --------
        >>> import segpy
        >>> len(segpy.SegmentedList('d', [1.5, 2.5]).arrow_array())
        2
        """
        return _arrow_array(self)

    @classmethod
    def from_arrow(cls, source, /, *, allocator=None, first_segment=None):
        """Build a list from Arrow data: a copy of its values.

        Parameters
        ----------
        source : object
            Anything with ``__arrow_c_stream__`` (preferred) or
            ``__arrow_c_array__``: a pyarrow array or chunked array, a polars
            Series, a SegmentedList...  The type maps back as
            docs/interop.md states (a record exported by segpy comes back with
            its fields, from the schema metadata).
        allocator : Allocator or None
            As for the constructor.
        first_segment : int or None
            As for the constructor.

        Returns
        -------
        SegmentedList

        Raises
        ------
        TypeError
            For a source without the Arrow protocol, one whose methods return
            the wrong objects, or an Arrow type a list cannot hold (strings,
            structs, dictionaries, timestamps with a time zone...).
        ValueError
            If the data contains nulls, or is malformed (buffer or child
            counts, lengths, offsets).
        OSError
            If the producer's stream fails (its error number and message).

        Examples
        --------
        >>> import segpy
        >>> a = segpy.SegmentedList('f', [0.5, 1.5])
        >>> segpy.SegmentedList.from_arrow(a)
        SegmentedList([0.5, 1.5], dtype=float32)
        """
        return _from_arrow(cls, source, allocator, first_segment)

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
        _check_writable(self)
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
        _check_writable(self)
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
        if _file_backed(self):
            return _reduce_file(self)
        _pin(self)
        try:
            return _reduce_ex(self, protocol)
        finally:
            _unpin(self)

    # -- files --------------------------------------------------------------

    @staticmethod
    def open(path, dtype=None, mode="r", *, first_segment=None):
        """Open or create a file-backed list, which may be larger than RAM.

        Each segment is its own shared mapping of one file, at an offset
        fixed by the segment geometry: elements lie end to end after a
        4096-byte header, a segment never moves and the file is never
        remapped.  The file grows with ``posix_fallocate`` segment by
        segment, so a full disk raises OSError on the append that needed
        the space.  Appends reach the file through the page cache; only
        :meth:`flush` makes them durable (docs/file-format.md).

        Parameters
        ----------
        path : str or os.PathLike
            The file.
        dtype : data-type, optional
            Required for modes ``'w'`` and ``'x'``; for ``'r'`` and ``'r+'``
            it is read from the file (and checked if given).
        mode : {'r', 'r+', 'w', 'x'}, default 'r'
            ``'r'``: read-only; the list refuses every change (ValueError)
            and shows the length as of the file's last flush.  ``'r+'``:
            read and append.  ``'w'``: create, or replace an existing file
            (readers of the old one keep their data).  ``'x'``: create,
            failing if the file exists.  One writer at a time: a second
            raises BlockingIOError.  Readers may open a file while a writer
            appends.
        first_segment : int, optional
            For a new file: elements in the first segment, a power of two
            whose bytes are a multiple of the page size.  The default gives
            at least 64 KiB.

        Returns
        -------
        SegmentedList
            Its ``allocator`` is the file's :class:`FileAllocator`.

        Raises
        ------
        ValueError
            If the file is not a segpy list file, is truncated, damaged or
            of another format version, or holds another dtype; or for a bad
            mode or first segment.
        TypeError
            If a new file gets no dtype, or one a list cannot hold.
        FileNotFoundError, FileExistsError, BlockingIOError, OSError
            As :func:`open` would, or if another writer holds the file.

        See Also
        --------
        flush, FileAllocator, numpy.memmap

        Examples
        --------
        >>> import os, tempfile, segpy
        >>> path = os.path.join(tempfile.mkdtemp(), "data.seg")
        >>> lst = segpy.SegmentedList.open(path, "float64", mode="w")
        >>> lst.extend([1.5, 2.5, 3.5])
        >>> lst.flush()
        >>> segpy.SegmentedList.open(path).to_numpy()
        array([1.5, 2.5, 3.5])
        """
        return _open_file(path, dtype, mode, first_segment, -1)

    def flush(self):
        """Make every element of a file-backed list durable.

        The data is written back and synced first; then the next of the
        file's two header slots records the new length and is synced.  A
        crash at any point leaves a file that opens with every element of
        the last completed flush.  Readers that open the file afterwards see
        this length.

        Raises
        ------
        TypeError
            If the list is not file-backed.
        ValueError
            If it was opened read-only.
        OSError
            If the data or the header cannot be written; the file still
            holds the previous flush.

        See Also
        --------
        open
        """
        _flush(self)

    def concurrent_writer(self):
        """Open a concurrent phase: many threads may append at once.

        The writer's ``append`` and ``extend`` are thread-safe, and
        ``extend`` copies without the GIL, so threads that hand it large
        arrays fill the list in parallel.  Each call is one run of slots,
        reserved with one atomic add; a new segment is made once, by the
        first thread that needs it.  Within the phase the list's length
        stays where it was and every mutating method raises BufferError
        (reading the elements already there is fine).  Leaving the
        ``with`` block (or ``close()``) waits for copies in flight and makes
        the length exact: the list then holds every element stored, each
        run's elements in order, the runs in the order they were reserved.

        Returns
        -------
        writer
            A context manager with ``append(x)``, ``extend(values)``,
            ``close()`` and ``error``.

        Raises
        ------
        BufferError
            If a phase is already open.
        ValueError
            If the list is read-only.

        Notes
        -----
        If a segment cannot be made (``MemoryError``), no element at or past
        that segment's start is stored: the call that needed it stores the
        part of its run before that point and raises, later calls that
        reach past it raise, and the list ends at that point.  C and Cython
        code use the same phase through ``seglist_cc_begin``,
        ``seglist_cc_push`` and ``seglist_cc_end`` (docs/threads.md), and
        numba code through the writer passed to an ``@njit(nogil=True)``
        function (``segpy.numba``), where ``append`` returns False rather
        than raise and ``close()`` raises the failure (docs/numba.md).

        Examples
        --------
        >>> import threading, numpy as np, segpy
        >>> lst = segpy.SegmentedList("int64")
        >>> with lst.concurrent_writer() as w:
        ...     threads = [threading.Thread(target=w.extend, args=(np.arange(k, 10**6, 4),))
        ...                for k in range(4)]
        ...     for t in threads:
        ...         t.start()
        ...     for t in threads:
        ...         t.join()
        >>> len(lst), int(lst.sum()) == sum(range(10**6))
        (1000000, True)
        """
        return _cc_begin_phase(self)

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


include "_seglist_capi.pxi"
include "_seglist_numba.pxi"
