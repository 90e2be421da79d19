# Values in and out of a SegmentedList: dtype checks and canonical dtypes,
# scalar conversion (``_pack``, ``_box``), indices, array sources for extend
# and slice assignment, and the construction helpers.  Included by
# seglist.pyx.
#
# Layering rule: boundary code; calls the core's public functions (never its
# ``_`` helpers) and the guard of _seglist_guard.pxi.

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


# The last dtype _kind_of classified, and its kind: most programs make many
# lists of one dtype.  Safe for any dtype, as the kind depends only on the
# descriptor's kind, byte order and size, which never change (a record's
# assignable field names do not enter it).
cdef object _kind_cache_dt = None
cdef int _kind_cache = K_GENERIC


cdef int _kind_of(object dt) except -1:
    global _kind_cache_dt, _kind_cache
    if dt is _kind_cache_dt:
        return _kind_cache
    cdef int kind = _kind_of_uncached(<cnp.dtype?>dt)
    _kind_cache_dt = dt
    _kind_cache = kind
    return kind


cdef int _kind_of_uncached(cnp.dtype d) except -1:
    # Read from the descriptor's C struct, not through Python attributes:
    # every construction runs this, and the attribute lookups (and the dict
    # literals an earlier version built per call) were a fifth of
    # SegmentedList('q').  Only number kinds get a fast path, so records
    # (whose isnative would look at every field) never need more.
    cdef char kind = d.kind
    cdef Py_ssize_t size = d.itemsize
    if kind != b"b" and kind != b"i" and kind != b"u" and kind != b"f" and kind != b"c":
        return K_GENERIC
    # '|' is "not applicable" (one byte); '<' or '>' may be the native order.
    if d.byteorder != b"|" and not cnp.PyArray_IsNativeByteOrder(d.byteorder):
        return K_GENERIC
    if kind == b"b":
        return K_BOOL
    if kind == b"i":
        return (K_I8 if size == 1 else K_I16 if size == 2 else K_I32 if size == 4
                else K_I64 if size == 8 else K_GENERIC)
    if kind == b"u":
        return (K_U8 if size == 1 else K_U16 if size == 2 else K_U32 if size == 4
                else K_U64 if size == 8 else K_GENERIC)
    if kind == b"f":
        return K_F32 if size == 4 else K_F64 if size == 8 else K_GENERIC
    return K_C64 if size == 8 else K_C128 if size == 16 else K_GENERIC


# numpy keeps one scalar type per C type, so the typecode 'q' gives
# np.longlong and 'l' gives np.long: equal dtypes (both int64 on LP64), but
# numpy's repr leaves out only the default type's dtype, and pandas shows
# LongLongDType.  A plain number dtype becomes the canonical type of its kind
# and size, np.dtype(f"{kind}{itemsize}") (np.int64 for 'q', 'l' and 'p';
# np.uint64 for 'Q'...), in the same byte order; it compares equal to what
# the caller gave.  The table maps each non-canonical number type to its
# canonical dtype, built once: the lookup is one dict probe per construction.
cdef dict _CANONICAL_NUMBER_DTYPES = {}
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


# The argument _list_dtype last resolved from a str or a numpy dtype without
# fields, and its result: both are immutable, so the same object gives the
# same dtype (a record's field names can be assigned; any other object may
# run Python code in numpy.dtype()).  One identity test per construction.
cdef object _list_dtype_in = None
cdef object _list_dtype_out = None


cdef object _list_dtype(object dtype):
    """``_check_dtype(dtype)``, from the cache for a str, and read from the
    descriptor's C struct for a plain numpy dtype."""
    global _list_dtype_in, _list_dtype_out
    if dtype is _list_dtype_in:
        return _list_dtype_out
    dt = _list_dtype_uncached(dtype)
    if (type(dtype) is str or isinstance(dtype, cnp.dtype)) \
            and not cnp.PyDataType_HASFIELDS(<cnp.dtype>dt):
        _list_dtype_in = dtype
        _list_dtype_out = dt
    return dt


cdef object _list_dtype_uncached(object dtype):
    cdef cnp.dtype d
    if type(dtype) is not str:
        if isinstance(dtype, cnp.dtype):
            # np.dtype(d) is d itself, and each check of _check_dtype is a
            # field of the struct: the Python-level call and attribute
            # lookups were half of SegmentedList(np.dtype('q')).  Only the
            # builtin (legacy) type numbers, which have those fields; any
            # other, and every case that raises, take the general path.
            d = <cnp.dtype>dtype
            if (d.type_num < cnp.NPY_NTYPES_LEGACY and d.itemsize != 0
                    and (d.flags & NPY_ITEM_HASOBJECT) == 0
                    and not cnp.PyDataType_HASSUBARRAY(d)
                    and cnp.PyDataType_METADATA(d) == NULL):
                canon = _CANONICAL_NUMBER_DTYPES.get(<object>d.typeobj)
                if canon is None:
                    return dtype
                if d.byteorder == b"|" or cnp.PyArray_IsNativeByteOrder(d.byteorder):
                    return canon
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
    cdef int shift = 0
    if first_segment is None:
        while (<Py_ssize_t>1 << shift) * itemsize < _DEFAULT_FIRST_SEGMENT_BYTES:
            shift += 1
        return shift
    return segpy_first_segment_shift(first_segment, SEGPY_MAX_SHIFT)


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
    """Turn the C core's last error into MemoryError (or the file allocator's
    OSError); the list is unchanged."""
    # Growth fails only for want of addressable elements or of memory; the
    # messages live in seglist_raise, the C API's boundary helper.
    _check_writable(self)     # read-only, or in a concurrent phase: not a growth failure
    cdef int rc = self.c.last_error
    if rc != SEGPY_ETOOBIG and rc != SEGPY_ESTORE:
        rc = SEGPY_ENOMEM
    return seglist_raise(&self.c, self._allocator, rc, extra)


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


# -- records from tuples ------------------------------------------------------
#
# ``scratch[0] = (1, 2.0, ...)`` costs numpy a dtype discovery and a cast per
# field: half a microsecond for a record of six fields, twenty times a
# list's append.  A record dtype whose fields are all native number or bool
# scalars gets a plan, one entry per field in ``names`` order (the order
# numpy assigns a tuple in), and a tuple of exact ints, floats and bools is
# stored field by field in C.  Only values whose conversion is exact and
# cannot fail are taken: an int in the field's range, a float into a float
# field (into float32 only if it does not overflow), a small int into a
# float field, a bool into a bool field.  Any other item, a tuple subclass
# or a tuple of the wrong length, sends the whole value to numpy, which
# then converts (or refuses) it exactly as before.
#
# The fields are written into the scratch element, as numpy writes them,
# so that the bytes between fields are what they were there too.

ctypedef struct _field_plan_t:
    Py_ssize_t offset      # of the field in the element
    int kind               # K_* of the field's dtype: a number or bool kind


# The plan of a record list not yet asked for one: it is made on the first
# tuple, so that constructing a record list (a copy, an empty_like) does
# not pay for the dtype's Python-level field lookups.
cdef object _UNPLANNED = object()


cdef inline bint _has_plan(SegmentedList self) except -1:
    """Whether the list has a record plan (making it on first use)."""
    if self._fields is _UNPLANNED:
        self._fields = _record_plan(self._dtype)
    return self._fields is not None


cdef object _record_plan(object dt):
    """The plan of a record dtype: bytes holding one _field_plan_t per field
    in ``names`` order; None if a field is not a native number or bool
    scalar, or there are no fields."""
    cdef Py_ssize_t i, n
    cdef _field_plan_t* f
    cdef int k
    if not cnp.PyDataType_HASFIELDS(<cnp.dtype>dt):
        return None
    names = dt.names
    n = len(names)
    if n == 0:
        return None
    plan = PyBytes_FromStringAndSize(NULL, n * sizeof(_field_plan_t))
    f = <_field_plan_t*>PyBytes_AS_STRING(plan)
    fields = dt.fields
    for i in range(n):
        field = fields[names[i]]
        k = _kind_of(field[0])
        if k == K_GENERIC or k == K_C64 or k == K_C128:
            return None
        f[i].offset = field[1]
        f[i].kind = k
    return plan


cdef bint _store_field(int k, object v, char* p) noexcept:
    """Store the Python scalar ``v`` in a field of kind ``k`` at ``p`` if its
    conversion is one numpy makes exactly and without error; else False
    (nothing stored).  Runs no Python code.  ``p`` may be unaligned (a
    packed record's field), so every store is a fixed-size memcpy, which
    compiles to one unaligned store."""
    cdef long long iv
    cdef double f64v
    cdef float f32v
    cdef int64_t i64v
    cdef int32_t i32v
    cdef uint64_t u64v
    cdef uint32_t u32v
    cdef int16_t i16v
    cdef uint16_t u16v
    cdef int overflow = 0
    cdef double d
    if PyLong_CheckExact(v):
        if segpy_long_compact(v, &iv):
            # |iv| < 2**30: exact in a float64 and a float32 too.
            if k == K_F64:
                f64v = <double>iv
                memcpy(p, &f64v, sizeof(f64v))
                return True
            if k == K_F32:
                f32v = <float>iv
                memcpy(p, &f32v, sizeof(f32v))
                return True
        elif k == K_F64 or k == K_F32:
            return False
        else:
            iv = PyLong_AsLongLongAndOverflow(v, &overflow)
            if overflow:
                return False
        if k == K_I64:
            i64v = iv
            memcpy(p, &i64v, sizeof(i64v))
        elif k == K_I32 and -2147483648 <= iv <= 2147483647:
            i32v = <int32_t>iv
            memcpy(p, &i32v, sizeof(i32v))
        elif k == K_U64 and iv >= 0:
            u64v = <uint64_t>iv
            memcpy(p, &u64v, sizeof(u64v))
        elif k == K_U32 and 0 <= iv <= 4294967295:
            u32v = <uint32_t>iv
            memcpy(p, &u32v, sizeof(u32v))
        elif k == K_I16 and -32768 <= iv <= 32767:
            i16v = <int16_t>iv
            memcpy(p, &i16v, sizeof(i16v))
        elif k == K_U16 and 0 <= iv <= 65535:
            u16v = <uint16_t>iv
            memcpy(p, &u16v, sizeof(u16v))
        elif k == K_I8 and -128 <= iv <= 127:
            (<int8_t*>p)[0] = <int8_t>iv
        elif k == K_U8 and 0 <= iv <= 255:
            (<uint8_t*>p)[0] = <uint8_t>iv
        else:
            return False        # out of range, or an int for a bool field
        return True
    if PyFloat_CheckExact(v):
        d = PyFloat_AS_DOUBLE(v)
        if k == K_F64:
            f64v = d
            memcpy(p, &f64v, sizeof(f64v))
            return True
        # float32: not when it overflows to inf (numpy warns then); inf and
        # nan cast as they are.
        if k == K_F32 and not (d == d and fabs(d) > FLT_MAX and fabs(d) != INFINITY):
            f32v = <float>d
            memcpy(p, &f32v, sizeof(f32v))
            return True
        return False
    if k == K_BOOL and PyBool_Check(v):
        (<uint8_t*>p)[0] = v is True
        return True
    return False


cdef inline bint _record_store(object plan, object x, char* dst) noexcept:
    # Store the exact tuple x at dst by the plan; False (dst perhaps partly
    # written) if it is of another length or an item needs numpy.
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(plan) // <Py_ssize_t>sizeof(_field_plan_t)
    cdef const _field_plan_t* f = <const _field_plan_t*>PyBytes_AS_STRING(plan)
    if PyTuple_GET_SIZE(x) != n:
        return False
    for i in range(n):
        if not _store_field(f[i].kind, <object>PyTuple_GET_ITEM(x, i), dst + f[i].offset):
            return False
    return True


cdef int _append_record(SegmentedList self, object x) except -1:
    """``append`` of a tuple to a list with a record plan: in C when it can,
    else ``_append_general``.

    A record of native number fields from an exact tuple is converted in C,
    with no Python code (so no pin), straight into the next slot when its
    segment has room, and committed only if every field converted.  A slot
    past the length holds no element, so a half-written one is nothing; the
    general path then decides.  Only with the plan made (the caller checks):
    making it runs Python code (numpy's field lookups, so perhaps a
    finaliser), which must happen under the general path's pin, or a
    finaliser could re-initialise the list and be handed the old dtype's
    plan.  Kept apart from ``_append_general`` so that it sets up no
    try/finally.
    """
    cdef char* slot = self.c.cursor
    if slot != self.c.cursor_end and _record_store(<bytes>self._fields, x, slot):
        _seglist_commit_slot(&self.c, slot)
        return 0
    return _append_general_out_of_line(self, x)


cdef int _append_general(SegmentedList self, object x) except -1:
    """``append``'s path for whatever its inline fast paths (int64 and float64
    values while the last segment has room, records in C) do not take."""
    cdef int64_t buf[2]
    cdef const char* src
    cdef char* slot
    cdef int overflow = 0
    cdef long long v
    if self._kind == K_I64 and PyLong_CheckExact(x):
        # Any exact int (converting one runs no Python code, so no pin).
        v = PyLong_AsLongLongAndOverflow(x, &overflow)
        if overflow:
            _raise_oob(self, x)
        slot = seglist_emplace(&self.c)
        if slot == NULL:
            _raise_grow_error(self, 1)
        (<int64_t*>slot)[0] = v
        return 0
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
    return 0


# append calls these through pointers, so that the C compiler cannot inline
# them (each is static and called once): inlined, their calls (and the
# general path's try/finally) brought back the register saves and stack
# set-up that append's int64 and float64 paths were moved away from.
cdef int (*_append_general_out_of_line)(SegmentedList, object) except -1
_append_general_out_of_line = _append_general
cdef int (*_append_record_out_of_line)(SegmentedList, object) except -1
_append_record_out_of_line = _append_record


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
    cdef const char* p
    if k == K_GENERIC:
        if self._fields is not None and PyTuple_CheckExact(x) and _has_plan(self):
            if self._scratch is None:
                self._scratch = np.empty(1, dtype=self._dtype)
            p = <const char*>cnp.PyArray_DATA(self._scratch)
            if _record_store(self._fields, x, <char*>p):
                return p
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
    if _seglist_init_empty(&self.c, (<cnp.dtype>dt).itemsize, shift,
                           &alloc.iface) != SEGPY_OK:
        raise ValueError(f"cannot set up a list of {dt!r} with first segment 2**{shift}")
    self._dtype = dt
    self._allocator = alloc
    self._kind = _kind_of(dt)
    self._scratch = None
    self._fields = (_UNPLANNED if self._kind == K_GENERIC
                    and cnp.PyDataType_HASFIELDS(<cnp.dtype>dt) else None)
    return 0


cdef Allocator _resolve_allocator(object allocator):
    if allocator is None:
        return current_allocator()
    if not isinstance(allocator, Allocator):
        raise TypeError(
            f"allocator must be a segpy allocator, not {type(allocator).__name__}")
    if isinstance(allocator, FileAllocator):
        # It maps one list's segments end to end in its file.
        raise TypeError("a FileAllocator serves only the list SegmentedList.open made; "
                        "use SegmentedList.open(path, dtype, mode) for a file-backed list")
    return <Allocator>allocator


cdef SegmentedList _empty_like(SegmentedList self):
    cdef SegmentedList new = SegmentedList.__new__(SegmentedList)
    seglist_destroy(&new.c)
    # A copy of a file-backed list lives in memory: its FileAllocator maps
    # only its own list.
    _setup(new, self._dtype,
           current_allocator() if _file_backed(self) else self._allocator, self.c.shift)
    return new


cdef object _plain_array(object arr):
    """An ndarray as an exact ``numpy.ndarray`` over the same memory.

    A subclass can override ``shape``, ``dtype``, ``size``, ``flags`` ...
    at the Python level so that they disagree with the C-level array that
    the data pointer belongs to; a base-class view reads them from the C
    struct.  Everything segpy sizes a copy by is read from such a view.
    """
    if type(arr) is cnp.ndarray:
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
    # cnp.ndarray, the C type: np.ndarray is a module attribute lookup per call.
    if isinstance(obj, cnp.ndarray):
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
    if (type(arr) is cnp.ndarray and cnp.PyArray_NDIM(<cnp.ndarray>arr) == 1
            and <PyObject*>cnp.PyArray_DESCR(<cnp.ndarray>arr) == <PyObject*>dt
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>arr)):
        # The common case, read from the C struct: 1-D, C-contiguous and of
        # the list's very dtype object (an array of the dtype the list was
        # made from).  The Python-level checks below cost a small extend
        # several times its memcpy.
        return arr
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


cdef object _empty_array(object dt, Py_ssize_t n):
    """``np.empty(n, dtype=dt)`` for an ``np.dtype`` ``dt``, without the
    Python-level call (which cost a small ``to_numpy()`` about 0.15 us, half
    its time at 1,000 int64).  Needs the GIL; raises MemoryError."""
    cdef cnp.npy_intp dims[1]
    dims[0] = n
    Py_INCREF(dt)  # PyArray_NewFromDescr steals it
    return PyArray_NewFromDescr(<PyTypeObject*>cnp.ndarray, <cnp.dtype>dt, 1, dims, NULL,
                                NULL, 0, NULL)


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
    cdef int shift0 = self.c.shift
    if self._shift_free and self.c.nseg == 0:
        _fit_first_segment(self, n)
    if seglist_append_n(&self.c, cnp.PyArray_DATA(arr), n) != SEGPY_OK:
        if self.c.nseg == 0 and self.c.shift != shift0:
            # As before the call: the failed append released what it took.
            _seglist_init_empty(&self.c, self.c.itemsize, shift0, self.c.alloc)
        _raise_grow_error(self, n)
    return 0


cdef void _fit_first_segment(SegmentedList self, Py_ssize_t n) noexcept:
    """Enlarge the first segment of a list that holds none to fit ``n`` elements.

    Only for a list whose first segment the caller left to segpy
    (``_shift_free``).  The first bulk extend of such a list then takes one
    allocation and one memcpy, not one per doubling segment up to ``n``;
    and its elements are one segment, so to_numpy is one copy and the Arrow
    and Dask views are one chunk.  Capacity stays below twice the length, as
    with the default geometry.  Nothing can hold an address into a list
    with no segment, but a caller that pinned the list may hold its
    geometry (numba's native value keeps ``2**shift`` while it runs), so
    only this extend's own pin may be on it (``_busy == 1``).
    """
    cdef int shift = self.c.shift
    while shift < SEGPY_MAX_SHIFT and (<Py_ssize_t>1 << shift) < n:
        shift += 1
    if shift != self.c.shift and self.c.length == 0 and self._exports == 0 \
            and self._busy == 1:
        _seglist_init_empty(&self.c, self.c.itemsize, shift, self.c.alloc)


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
                _seglist_release_above(s, nseg0)
            seglist_sync_cursor(s)
        raise
    return 0


cdef enum:
    _PAGE = 4096
    _ALIAS_SLACK = 64
    _ALIAS_MIN_BYTES = 1 << 19


cdef object _new_array_for_copy(SegmentedList self):
    """A new uninitialised 1-D array for all of the list's elements.

    Why not just ``np.empty``: on fresh pages, glibc's memcpy here runs
    markedly slower when ``(dst - src) % 4096`` is 256 bytes or more (4K
    aliasing between the load and store streams; docs/design.md,
    "Measurements behind the hot paths", has the figure).  numpy's large buffers start 16
    bytes into a page, segments start on a page, and segment ``j`` lands at
    byte ``start_j * itemsize`` of the output, so every big segment would be
    copied at the slow skew.  For lists of 512 KiB or more we allocate up
    to a page more and start the result at the element offset ``e`` that puts the
    largest segment's destination at the same page offset as its source:
    exactly where the itemsize allows it, else within 64 bytes ahead.  The
    exact match matters too: a destination 16 bytes ahead (where numpy's
    buffer lands with ``e = 0``) copied 6-9% slower than one at the
    source's page offset, from 80 KB to 800 KB (docs/design.md).  The
    result is a view whose base is that new buffer.
    """
    cdef seglist_t* s = &self.c
    cdef Py_ssize_t n = s.length, isz = s.itemsize, e, pad
    cdef int last
    cdef size_t dst, src, ahead
    if n * isz < _ALIAS_MIN_BYTES:
        return _empty_array(self._dtype, n)
    pad = _PAGE // isz + 1
    buf = _empty_array(self._dtype, n + pad)
    if s.length != n:
        # The allocation ran a finaliser that resized the list; the caller's
        # checked read reports that, and there is no segment to align with.
        return buf[:n]
    last = seglist_used_segments(s) - 1
    src = <size_t>s.segs[last]
    dst = <size_t>cnp.PyArray_DATA(buf) + <size_t>(seglist_segment_start(s, last) * isz)
    # The bytes the destination must move ahead to meet the source's page
    # offset; a whole number of elements if the itemsize divides them.
    ahead = (src - dst) % _PAGE
    if ahead % <size_t>isz == 0:
        e = <Py_ssize_t>(ahead // <size_t>isz)
        return buf[e:e + n]
    for e in range(pad):
        if (dst + <size_t>(e * isz) - src) % _PAGE < _ALIAS_SLACK:
            return buf[e:e + n]
    return buf[:n]
