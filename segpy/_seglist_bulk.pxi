# Bulk access, included by seglist.pyx: the numpy-style bulk access (take /
# put / masks / ranges), per-segment reductions and sort.  First the C
# kernels (noexcept nogil, no Python objects), then the boundary functions
# that the class's thin methods call.  Included rather than a module of its
# own because the boundary half needs the module's conversion and view
# helpers (_pack, _box, _segment_view ...) and the kernels inline into it.
#
# Bulk access walks the list one segment at a time::
#
#     list   | seg 0 | seg 1     | seg 2             | seg 3 (partly used)   |
#     index  0       s0          3*s0                7*s0            length
#
#     take / put:  per index one clz (seglist_locate) + one load or store
#     mask:        per segment, one pass over mask[start_j : start_j + len_j]
#     ranges:      per segment, one memcpy (seglist_read_range)
#     reductions:  per segment, numpy on a zero-copy view, then the partials
#     sort:        segments -> one contiguous temporary -> ndarray.sort -> back

# ===========================================================================
# C kernels: noexcept nogil, no Python objects.  Each returns -1 when every
# index was good, else the position of the first bad one (nothing is
# written into the list by a call that returns >= 0).
# ===========================================================================

# Element widths with a typed load/store fast path.  memcpy with a constant
# size compiles to one move (and, unlike a pointer cast, is defined for any
# element type, so floats and records go through the same kernel).
ctypedef fused _word_t:
    uint8_t
    uint16_t
    uint32_t
    uint64_t


# Indices are resolved to addresses in blocks of this many, then loaded.
cdef enum:
    _GATHER_BLOCK = 256


cdef Py_ssize_t _gather_words(const seglist_t* s, const cnp.npy_intp* idx,
                              Py_ssize_t m, _word_t* out) noexcept nogil:
    """``out[k] = list[idx[k]]`` for elements of exactly ``sizeof(_word_t)`` bytes.

    Negative indices count from the end, as in numpy.  Stops at the first
    index out of range and returns its position (``out`` is then partly
    written; it is the caller's new array, never the list).  Returns -1 on
    success.

    Two loops per block of indices: the first resolves indices to addresses
    (a branch-free sign fix, one predictable bounds branch, one msb, one
    table load; no access to the list), the second only loads and stores.
    For random indices into a big list every load misses the cache; the
    short second loop lets the CPU keep as many misses in flight as numpy's
    own fancy-indexing loop does (a single fused loop has twice the
    instructions per miss, and measured slower: docs/design.md,
    "Measurements behind the hot paths").
    """
    cdef const size_t* bases = s.bases     # see seglist_t in seglist.pxd
    cdef const char* addr[_GATHER_BLOCK]
    cdef Py_ssize_t n = s.length
    cdef uint64_t s0 = <uint64_t>1 << s.shift
    cdef uint64_t t
    cdef Py_ssize_t k0, k, kn, i
    k0 = 0
    while k0 < m:
        kn = min(<Py_ssize_t>_GATHER_BLOCK, m - k0)
        for k in range(kn):
            i = idx[k0 + k]
            i += n & (i >> 63)
            if <size_t>i >= <size_t>n:
                return k0 + k
            t = <uint64_t>i + s0
            addr[k] = <const char*>(bases[segpy_msb64(t)] + t * sizeof(_word_t))
        for k in range(kn):
            memcpy(&out[k0 + k], addr[k], sizeof(_word_t))
        k0 += kn
    return -1


cdef Py_ssize_t _gather_bytes(const seglist_t* s, const cnp.npy_intp* idx,
                              Py_ssize_t m, char* out) noexcept nogil:
    """``_gather_words`` for any itemsize: one memcpy of ``itemsize`` per index."""
    cdef Py_ssize_t n = s.length, isz = s.itemsize
    cdef Py_ssize_t k, i
    for k in range(m):
        i = idx[k]
        i += n & (i >> 63)
        if <size_t>i >= <size_t>n:
            return k
        memcpy(out + k * isz, seglist_at_unchecked(s, i), isz)
    return -1


cdef Py_ssize_t _seglist_take_at(const seglist_t* s, const cnp.npy_intp* idx,
                                 Py_ssize_t m, void* out) noexcept nogil:
    """Copy the elements at ``idx[0..m)`` to ``out`` (``m * itemsize`` bytes).

    Returns -1, or the position of the first index outside ``[-length, length)``.
    Safety: ``out`` must be aligned for the element width (any numpy
    allocation is).
    """
    cdef Py_ssize_t isz = s.itemsize
    if isz == 8:
        return _gather_words(s, idx, m, <uint64_t*>out)
    if isz == 4:
        return _gather_words(s, idx, m, <uint32_t*>out)
    if isz == 1:
        return _gather_words(s, idx, m, <uint8_t*>out)
    if isz == 2:
        return _gather_words(s, idx, m, <uint16_t*>out)
    return _gather_bytes(s, idx, m, <char*>out)


cdef Py_ssize_t _seglist_check_indices(const seglist_t* s, const cnp.npy_intp* idx,
                                       Py_ssize_t m) noexcept nogil:
    """-1 if every ``idx[k]`` is in ``[-length, length)``, else the first bad position."""
    cdef Py_ssize_t n = s.length
    cdef Py_ssize_t k, i
    for k in range(m):
        i = idx[k]
        if i < 0:
            i += n
        if <size_t>i >= <size_t>n:
            return k
    return -1


cdef int _seglist_put_at(seglist_t* s, const cnp.npy_intp* idx, Py_ssize_t m,
                         const char* values, Py_ssize_t nv) noexcept nogil:
    """``list[idx[k]] = values[k % nv]`` for k in order (the last write wins).

    Safety: every index must have passed ``_seglist_check_indices`` against
    the current length, and ``nv >= 1``.  Returns 0.
    """
    cdef Py_ssize_t n = s.length, isz = s.itemsize
    cdef Py_ssize_t k, i, v = 0
    for k in range(m):
        i = idx[k]
        if i < 0:
            i += n
        memcpy(seglist_at_unchecked(s, i), values + v * isz, isz)
        v += 1
        if v == nv:
            v = 0
    return SEGPY_OK


cdef Py_ssize_t _compress_words(const seglist_t* s, const uint8_t* mask,
                                Py_ssize_t count, _word_t* out) noexcept nogil:
    """The elements whose mask byte is non-zero, in order; ``count`` of them.

    Branch-free on the mask: every element is stored at ``out[c]`` and ``c``
    advances by the mask bit, so a random mask costs no mispredictions.  The
    store happens only while ``c < count``, so ``out`` needs exactly
    ``count`` slots.  Returns the number copied (``count`` if the mask did not
    change under us).
    """
    cdef Py_ssize_t n = s.length, start = 0, c = 0, i, k
    cdef int j = 0
    cdef const _word_t* seg
    while start < n and c < count:
        k = seglist_segment_len(s, j)
        if k > n - start:
            k = n - start
        seg = <const _word_t*>s.segs[j]
        for i in range(k):
            if c == count:
                break
            memcpy(&out[c], &seg[i], sizeof(_word_t))
            c += mask[start + i] != 0
        start += k
        j += 1
    return c


cdef Py_ssize_t _compress_bytes(const seglist_t* s, const uint8_t* mask,
                                Py_ssize_t count, char* out) noexcept nogil:
    """``_compress_words`` for any itemsize (a branch per element)."""
    cdef Py_ssize_t n = s.length, isz = s.itemsize, start = 0, c = 0, i, k
    cdef int j = 0
    cdef const char* seg
    while start < n and c < count:
        k = seglist_segment_len(s, j)
        if k > n - start:
            k = n - start
        seg = s.segs[j]
        for i in range(k):
            if mask[start + i] != 0 and c < count:
                memcpy(out + c * isz, seg + i * isz, isz)
                c += 1
        start += k
        j += 1
    return c


cdef Py_ssize_t _seglist_compress(const seglist_t* s, const uint8_t* mask,
                                  Py_ssize_t count, void* out) noexcept nogil:
    """Copy the elements selected by ``mask[0..length)`` (``count`` non-zero bytes) to ``out``."""
    cdef Py_ssize_t isz = s.itemsize
    if isz == 8:
        return _compress_words(s, mask, count, <uint64_t*>out)
    if isz == 4:
        return _compress_words(s, mask, count, <uint32_t*>out)
    if isz == 1:
        return _compress_words(s, mask, count, <uint8_t*>out)
    if isz == 2:
        return _compress_words(s, mask, count, <uint16_t*>out)
    return _compress_bytes(s, mask, count, <char*>out)


# ===========================================================================
# The Python boundary.
# ===========================================================================

cdef str _ONLY_VALID_INDICES = (
    "only integers, slices (`:`), ellipsis (`...`), numpy.newaxis (`None`) and "
    "integer or boolean arrays are valid indices")


cdef object _as_intp(object arr):
    """A C-contiguous intp copy or view of an integer (or bool) array.

    TypeError with numpy's message if the dtype does not cast to intp under
    'same_kind' (floats, strings, objects).  uint64 values past 2**63 wrap
    to negative indices, as they do in numpy's own indexing.
    """
    if (cnp.PyArray_TYPE(arr) == cnp.NPY_INTP and cnp.PyArray_ISCARRAY_RO(arr)
            and cnp.PyArray_ISNOTSWAPPED(arr)):
        return arr      # the common case, decided without a Python-level call
    if arr.dtype != np.intp:
        if not np.can_cast(arr.dtype, np.intp, casting="same_kind"):
            raise TypeError(
                f"Cannot cast array data from {arr.dtype!r} to {np.dtype(np.intp)!r} "
                "according to the rule 'same_kind'")
        return np.ascontiguousarray(arr, dtype=np.intp)
    return np.ascontiguousarray(arr)


cdef object _index_array(object indices):
    """``indices`` (an int, a sequence of ints or an array) as an exact ndarray."""
    if isinstance(indices, np.ndarray):
        return _plain_array(indices)
    arr = np.asarray(indices)
    if arr.size == 0 and arr.dtype.kind == "f":
        arr = arr.astype(np.intp)     # [] or () is an empty index list
    return arr


cdef int _check_axis(object axis) except -1:
    """Accept the axes a 1-D array has (None, 0, -1, or a 1-tuple of those), as numpy does."""
    if axis is None:
        return 0
    if isinstance(axis, tuple):
        if len(axis) != 1:
            if len(axis) == 0:
                raise ValueError("axis=() (no reduction) is not supported by SegmentedList")
            for ax in axis:
                _check_axis(ax)
            raise ValueError("duplicate value in 'axis'")
        axis = axis[0]
    cdef Py_ssize_t a = operator.index(axis)
    if a != 0 and a != -1:
        raise np.exceptions.AxisError(a, 1)
    return 0


cdef object _apply_mode(SegmentedList self, object flat, object mode):
    """numpy's ``mode``: 'raise' keeps the indices (checked later), 'wrap' takes
    them modulo the length, 'clip' clamps them to ``[0, length)`` (negative
    ones to 0, as numpy does).  Returns a C-contiguous intp array."""
    cdef Py_ssize_t n = self.c.length
    if mode == "raise":
        return flat
    if mode != "wrap" and mode != "clip":
        raise ValueError(f"clipmode must be one of 'clip', 'raise', or 'wrap' (got {mode!r})")
    if n == 0:
        if flat.size:
            raise IndexError("cannot do a non-empty take from an empty axes.")
        return flat
    if mode == "wrap":
        return np.ascontiguousarray(np.mod(flat, n))
    return np.ascontiguousarray(np.clip(flat, 0, n - 1))


cdef object _check_out(SegmentedList self, object out, tuple shape, str what):
    """Checks for a caller's ``out`` array that raw element bytes are written to.

    Returns an exact ndarray over ``out``'s memory: the checks read the
    C-level dtype, shape and flags (an ndarray subclass may lie about them
    in Python), and the caller writes through that view.
    """
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, not {type(out).__name__}")
    out = _plain_array(out)
    if out.dtype != self._dtype:
        raise TypeError(
            f"out has dtype {out.dtype!r}, but the list's dtype is {self._dtype!r}; "
            f"{what}(out=...) does not cast")
    if out.shape != shape:
        raise ValueError(
            f"out has shape {out.shape}, but {what}() gives shape {shape}")
    if not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError("output array is read-only")
    return out


cdef int _raise_out_of_bounds(SegmentedList self, Py_ssize_t i) except -1:
    # numpy's wording, for arr[idx], np.take and np.put alike.
    raise IndexError(f"index {i} is out of bounds for axis 0 with size {self.c.length}")


cdef object _take(SegmentedList self, object indices, object axis, object out,
                  object mode):
    """Gather at an index array of any shape; the result has its shape.

    A 0-d index gives a numpy scalar, as in numpy.  IndexError names the
    first bad index with numpy's message.  With ``out``, every
    index is checked before anything is written, and a gather from the
    list into a view of its own segments goes through a temporary.
    """
    _check_axis(axis)
    idx = _index_array(indices)
    cdef cnp.ndarray flat = _apply_mode(self, _as_intp(idx), mode)
    cdef Py_ssize_t m = flat.size, bad
    cdef const cnp.npy_intp* p = <const cnp.npy_intp*>cnp.PyArray_DATA(flat)
    # The kernel checks every index against the length as it is when it
    # runs (allocating ``res`` may run finalisers), and runs without
    # Python code; the result's size is the index array's C-level size.
    if out is None:
        res = np.empty(idx.shape, dtype=self._dtype)
    else:
        res = _check_out(self, out, idx.shape, "take")
        bad = _seglist_check_indices(&self.c, p, m)
        if bad >= 0:
            _raise_out_of_bounds(self, p[bad])
        if seglist_overlaps(&self.c, <const char*>cnp.PyArray_DATA(res), m * self.c.itemsize):
            tmp = _take(self, flat, None, None, "raise")
            memcpy(cnp.PyArray_DATA(res), cnp.PyArray_DATA(tmp), m * self.c.itemsize)
            return out
    bad = _seglist_take_at(&self.c, p, m, cnp.PyArray_DATA(res))
    if bad >= 0:
        _raise_out_of_bounds(self, p[bad])
    if out is not None:
        return out
    if res.ndim == 0:
        return res[()]
    return res


cdef object _compress(SegmentedList self, object mask):
    """``lst[mask]`` for a 1-D bool array; numpy's IndexError on a length mismatch."""
    if mask.ndim != 1:
        if mask.ndim == 0:
            raise IndexError(
                "a 0-d boolean index is not supported by SegmentedList "
                "(numpy would add an axis)")
        raise IndexError(
            f"too many indices for array: array is 1-dimensional, but {mask.ndim} "
            "were indexed")
    if mask.shape[0] != self.c.length:
        raise IndexError(
            "boolean index did not match indexed array along axis 0; size of axis is "
            f"{self.c.length} but size of corresponding boolean axis is {mask.shape[0]}")
    cdef Py_ssize_t n = mask.shape[0]
    mask = np.ascontiguousarray(mask)
    cdef Py_ssize_t count = np.count_nonzero(mask)
    out = np.empty(count, dtype=self._dtype)
    # The kernel walks the list's current length over the mask: the
    # allocations above may have run a finaliser that resized the list.
    if self.c.length != n:
        _raise_changed("boolean indexing")
    _seglist_compress(&self.c, <const uint8_t*>cnp.PyArray_DATA(mask), count,
                      cnp.PyArray_DATA(out))
    return out


cpdef object _getitem_fancy(SegmentedList self, object idx):
    """``lst[idx]`` for an ndarray or list index: a new ndarray, as numpy indexing gives.

    * an integer array (any shape) gathers like :meth:`SegmentedList.take`;
      a 0-d one gives a numpy scalar;
    * a 1-D bool array (or a list of bools) of the list's length selects
      the elements where it is True;
    * a list of ints gathers like ``take``; an empty list gives an empty array.

    Raises IndexError with numpy's messages (out-of-range index, mask length
    mismatch, non-integer arrays or lists) and TypeError for other objects.
    Slices are not handled here: they return a SegmentedList copy.
    """
    if isinstance(idx, np.ndarray):
        arr = _plain_array(idx)
        if arr.dtype.kind not in "biu":
            raise IndexError("arrays used as indices must be of integer (or boolean) type")
    elif isinstance(idx, list):
        try:
            arr = np.asarray(idx)
        except ValueError:
            raise IndexError(_ONLY_VALID_INDICES) from None
        if arr.size == 0 and arr.dtype.kind == "f":
            arr = arr.astype(np.intp)
        elif arr.dtype.kind not in "biu":
            raise IndexError(_ONLY_VALID_INDICES)
    else:
        raise TypeError(
            "SegmentedList indices must be integers, slices, or integer or boolean "
            f"arrays, not {type(idx).__name__}")
    if arr.dtype.kind == "b":
        return _compress(self, arr)
    return _take(self, arr, None, None, "raise")


cdef object _put_values(SegmentedList self, object values):
    """``values`` as a flat C-contiguous array of the list's dtype, by the list's rules.

    Arrays cast once under 'same_kind' (like extend); other iterables and
    scalars go through the scalar conversion of append, so Python ints are
    range-checked and floats refused for int lists.  Runs before the list is
    touched: it may call Python code.
    """
    dt = self._dtype
    if isinstance(values, SegmentedList):
        return (<SegmentedList>values).to_numpy().astype(dt, casting="same_kind", copy=False)
    if isinstance(values, np.ndarray):
        values = _plain_array(values)
    if isinstance(values, np.ndarray) and values.dtype.kind != "O":
        if values.dtype != dt and not np.can_cast(values.dtype, dt, casting="same_kind"):
            raise TypeError(
                f"cannot put values of {values.dtype} into a SegmentedList of "
                f"{_dtype_name(dt)} under 'same_kind' casting")
        return np.ascontiguousarray(values.reshape(-1), dtype=dt)
    # A str/bytes, a tuple for a record, a numpy scalar or anything not
    # iterable is one value; any other iterable is a sequence of values.
    scalar = (isinstance(values, (str, bytes, np.generic))
              or (isinstance(values, tuple) and dt.names is not None)
              or not hasattr(values, "__iter__"))
    return _pack_all(self, [values] if scalar else list(values))


cdef int _put(SegmentedList self, object indices, object values, object mode) except -1:
    """numpy.put: all values converted and all indices checked before any write.

    The caller pins the list: the conversions run Python code, and the
    values must stay of the list's itemsize.  A source that is a view of
    the list is copied first (numpy reads the whole source first too).
    """
    vals = _unaliased(self, _put_values(self, values))
    cdef cnp.ndarray flat = _apply_mode(self, _as_intp(_index_array(indices)), mode)
    cdef Py_ssize_t m = flat.size
    cdef const cnp.npy_intp* p = <const cnp.npy_intp*>cnp.PyArray_DATA(flat)
    # No Python code runs from here on, so the length checked is the length
    # written to.
    cdef Py_ssize_t bad = _seglist_check_indices(&self.c, p, m)
    if bad >= 0:
        _raise_out_of_bounds(self, p[bad])
    if m == 0 or vals.size == 0:
        return 0        # numpy.put with no values writes nothing
    _seglist_put_at(&self.c, p, m, <const char*>cnp.PyArray_DATA(vals), vals.size)
    return 0


cdef object _to_numpy_range(SegmentedList self, object start, object stop, object out):
    """``to_numpy(start, stop, out=)`` other than the plain full copy."""
    cdef Py_ssize_t a, b, n
    cdef Py_ssize_t length = self.c.length, epoch = self.c.epoch
    # indices() runs the bounds' __index__ after it was given the length.
    a, b, _ = slice(start, stop).indices(length)
    n = b - a if b > a else 0
    if out is None:
        arr = _empty_array(self._dtype, n)
        _check_unchanged(self, length, epoch, "to_numpy()")
        _read_range(self, a, cnp.PyArray_DATA(arr), n)
        return arr
    dst = _check_out(self, out, (n,), "to_numpy")
    if seglist_overlaps(&self.c, <const char*>cnp.PyArray_DATA(dst), n * self.c.itemsize):
        # A view of one of our own segments: go through a temporary, since
        # the per-segment memcpy must not see overlapping buffers.
        tmp = np.empty(n, dtype=self._dtype)
        _check_unchanged(self, length, epoch, "to_numpy()")
        _read_range(self, a, cnp.PyArray_DATA(tmp), n)
        memcpy(cnp.PyArray_DATA(dst), cnp.PyArray_DATA(tmp), n * self.c.itemsize)
    else:
        _check_unchanged(self, length, epoch, "to_numpy()")
        _read_range(self, a, cnp.PyArray_DATA(dst), n)
    return out


# -- reductions --------------------------------------------------------------

class _NoValue(str):
    """The type of ``_NOT_GIVEN``, the default of ``initial``: not given.

    numpy's own sentinel is private, and ``None`` means something else to
    numpy (an empty sum with ``initial=None`` raises).  It subclasses str
    only so that ``inspect.signature(SegmentedList.sum)`` works: CPython
    parses a builtin's ``__text_signature__`` and accepts only constant
    defaults (str, int, float, bytes, bool, None), so sum/min/max name
    ``segpy.seglist._NOT_GIVEN`` in their hand-written headers.  It is only
    ever compared by identity, and shows as numpy shows its own.
    """

    __slots__ = ()

    def __repr__(self):
        return "<no value>"


_NOT_GIVEN = _NoValue()


cdef object _reduce(SegmentedList self, str method, object axis, object dtype,
                    object out, object keepdims, object initial, object where):
    """``_reduce_pinned`` with the list pinned: ``where``, ``initial`` and
    ``dtype`` run Python code, and numpy may release the GIL."""
    _pin(self)
    try:
        return _reduce_pinned(self, method, axis, dtype, out, keepdims, initial, where)
    finally:
        _unpin(self)


cdef object _reduce_pinned(SegmentedList self, str method, object axis, object dtype,
                           object out, object keepdims, object initial, object where):
    """``getattr(ndarray, method)(...)`` of the whole list, computed segment by segment.

    Each segment is reduced by numpy through a zero-copy view (the views pin
    the segments for the duration, and numpy may release the GIL), then the
    partial results are reduced the same way.  The result's dtype, the
    empty-list behaviour and the errors are numpy's, because numpy computes
    both stages.  Integer sums wrap exactly as a whole-array sum does; float
    sums are pairwise within each segment, then summed across segments
    (at most ~60 partials), so they can differ from ``ndarray.sum()`` in the
    last bits.

    The keywords are ndarray's, so that ``np.sum(lst)``, ``np.min(lst)`` ...
    (which call these methods with ``axis`` and ``out``) work; ``initial``
    is applied once for a sum, and per segment for min/max (where it is
    idempotent, and needed when ``where`` leaves a segment empty).
    """
    cdef int j
    cdef Py_ssize_t k, start = 0, n = self.c.length, epoch
    _check_axis(axis)
    seg_kw = {}
    fin_kw = {}
    # Every argument that can run Python code is converted once, here, so
    # that no hook runs between the per-segment reductions.  Python and
    # numpy scalars are passed as they are: numpy treats a Python scalar
    # as weakly typed, and converting it would change the result's dtype.
    if dtype is not None:
        seg_kw["dtype"] = fin_kw["dtype"] = np.dtype(dtype)
    if initial is not _NOT_GIVEN:
        if not isinstance(initial, (int, float, complex, np.generic)):
            initial = np.asarray(initial)[()]
        fin_kw["initial"] = initial
        if method != "sum":
            seg_kw["initial"] = initial
    mask = None
    if where is not True:
        mask = np.broadcast_to(where, (n,))
    # From here the reduction is of the list as it is now; a change of size
    # by the conversions above, a finaliser or another thread (numpy
    # releases the GIL in its loops) is reported, never summed over.
    epoch = self.c.epoch
    if self.c.length != n:
        _raise_changed(f"{method}()")
    if n == 0:
        if mask is not None:
            fin_kw["where"] = mask
        res = getattr(np.empty(0, dtype=self._dtype), method)(**fin_kw)
    else:
        parts = []
        for j in range(seglist_used_segments(&self.c)):
            k = min(seglist_segment_len(&self.c, j), n - start)
            if mask is not None:
                seg_kw["where"] = mask[start:start + k]
            parts.append(getattr(_segment_view(self, j, k), method)(**seg_kw))
            _check_unchanged(self, n, epoch, f"{method}()")
            start += k
        res = getattr(np.array(parts), method)(**fin_kw)
    if keepdims:
        res = np.asarray(res).reshape(1)
    if out is None:
        return res
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, not {type(out).__name__}")
    if out.shape != np.shape(res):
        raise ValueError(
            f"output parameter for reduction operation has shape {out.shape}, "
            f"expected {np.shape(res)}")
    np.copyto(out, res, casting="same_kind")
    return out


# -- sort ----------------------------------------------------------------------

cdef int _copy_reversed(SegmentedList self, object tmp, bint to_list) except -1:
    """Copy between the list and ``tmp`` (a 1-D array of ``length``) in reverse order.

    ``to_list``: ``list[i] = tmp[n-1-i]``; else ``tmp[n-1-i] = list[i]``.  One
    strided numpy copy per segment.
    """
    cdef int j
    cdef Py_ssize_t k, start = 0, n = self.c.length
    for j in range(seglist_used_segments(&self.c)):
        k = min(seglist_segment_len(&self.c, j), n - start)
        view = _segment_view(self, j, k)
        rev = tmp[n - start - k:n - start][::-1]
        if to_list:
            view[...] = rev
        else:
            rev[...] = view
        start += k
    return 0


cdef int _check_sort_unchanged(SegmentedList self, Py_ssize_t n, Py_ssize_t epoch) except -1:
    """ValueError, in list.sort's words, unless the list kept length and epoch."""
    if self.c.length != n or self.c.epoch != epoch:
        raise ValueError("SegmentedList modified during sort")
    return 0


cdef int _sort(SegmentedList self, object kind, object reverse) except -1:
    """Sort in place through one contiguous temporary (see SegmentedList.sort).

    A change to the list while it runs (a finaliser run by an allocation,
    another thread while numpy sorts without the GIL) raises ValueError
    before anything is written back, as ``list.sort`` does."""
    cdef bint rev = operator.index(reverse) != 0
    cdef seglist_t* s = &self.c
    cdef Py_ssize_t n = s.length
    cdef Py_ssize_t epoch = s.epoch
    tmp = np.empty(n, dtype=self._dtype)
    # A finaliser run by the allocation may have changed the list.
    _check_sort_unchanged(self, n, epoch)
    if rev:
        # Reverse, sort ascending, reverse back: equal elements keep their
        # original order, as with list.sort(reverse=True) (observable with
        # kind='stable').
        _copy_reversed(self, tmp, False)
    else:
        _read_range(self, 0, cnp.PyArray_DATA(tmp), n)
    tmp.sort(kind=kind)
    # numpy releases the GIL while sorting: another thread may have changed
    # the list.  Writing back is only safe if no element went away.
    _check_sort_unchanged(self, n, epoch)
    if rev:
        _copy_reversed(self, tmp, True)
        # The views' allocations may have run finalisers (the list is pinned,
        # so they wrote into live segments, but maybe past a new end).
        _check_sort_unchanged(self, n, epoch)
    else:
        seglist_write_range(s, 0, cnp.PyArray_DATA(tmp), n)
    return 0
