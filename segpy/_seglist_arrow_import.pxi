# Arrow import: SegmentedList.from_arrow, the inverse of the export in
# _seglist_arrow.pxi (whose C interface structs and dtype mapping it uses).
# Included by seglist.pyx after it.
#
# Layering rule: boundary code; appends through the core's public
# seglist_append_n only.

# -- Arrow -> SegmentedList (from_arrow) --------------------------------------
#
# The inverse of the export mapping.  Whatever a producer hands over is
# moved out of its capsule into a struct of ours and released on every
# path, errors included.  A producer is trusted for the memory its pointers
# name (the C interface cannot check that), and checked for everything
# else: formats, buffer and child counts, lengths and offsets, nulls.

_ARROW_FORMAT_DTYPES = {fmt: np.dtype(f"{kind}{size}")
                        for (kind, size), fmt in _ARROW_NUMBER_FORMATS.items()}
_ARROW_FORMAT_DTYPES["b"] = np.dtype(bool)
for _unit, _u in _ARROW_TIME_UNITS.items():
    _ARROW_FORMAT_DTYPES[f"ts{_u}:"] = np.dtype(f"M8[{_unit}]")
    _ARROW_FORMAT_DTYPES[f"tD{_u}"] = np.dtype(f"m8[{_unit}]")
_ARROW_MAX_METADATA = 1 << 20   # bytes of one key or value segpy reads


cdef int64_t _arrow_width(str fmt, str prefix) except -1:
    """The N of a "w:N" or "+w:N" format: a positive int32."""
    digits = fmt[len(prefix):]
    if not (digits.isdigit() and digits.isascii()) or len(digits) > 10:
        raise ValueError(f"malformed Arrow format string {fmt!r}")
    n = int(digits)
    if n < 1 or n > 0x7FFFFFFF:
        raise ValueError(f"Arrow format {fmt!r}: the width must be from 1 to 2**31-1")
    return n


cdef dict _arrow_read_metadata(const char* p):
    """The schema metadata at ``p`` as {bytes: bytes} (spec binary format)."""
    cdef int32_t n, k, length
    out = {}
    if p == NULL:
        return out
    memcpy(&n, p, 4)
    p += 4
    if n < 0 or n > 4096:
        raise ValueError(f"Arrow schema metadata with {n} entries")
    for k in range(n):
        pair = []
        for _ in range(2):
            memcpy(&length, p, 4)
            p += 4
            if length < 0 or length > _ARROW_MAX_METADATA:
                raise ValueError(f"Arrow schema metadata entry of {length} bytes")
            pair.append(PyBytes_FromStringAndSize(p, length))
            p += length
        out[pair[0]] = pair[1]
    return out


cdef object _arrow_dtype_from_metadata(bytes value, list formats):
    """The dtype a "segpy.dtype" value names, if it is a dtype a list can
    hold and segpy would export with exactly ``formats``; else None (the
    metadata is then ignored, as metadata a consumer does not know)."""
    try:
        dt = _check_dtype(np.lib.format.descr_to_dtype(ast.literal_eval(value.decode())))
        mine = [lv[0] for lv in _arrow_levels(dt, 0)]
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError,
            UnicodeDecodeError):
        return None
    return dt if mine == formats else None


cdef tuple _arrow_parse_schema(const ArrowSchema* schema):
    """(dtype, [format per level]) for an imported schema, or raise.

    TypeError for a type segpy cannot hold; ValueError for a malformed schema.
    """
    cdef const ArrowSchema* s = schema
    cdef int depth
    formats = []
    if s == NULL or s.release == NULL:
        raise ValueError("the Arrow schema is already released")
    for depth in range(_ARROW_MAX_DEPTH + 1):
        if s.format == NULL:
            raise ValueError("an Arrow schema without a format string")
        fmt = s.format.decode("utf-8", "replace")
        formats.append(fmt)
        if s.dictionary != NULL:
            raise TypeError("a SegmentedList cannot hold dictionary-encoded Arrow data")
        if not fmt.startswith("+w:"):
            if s.n_children != 0:
                raise TypeError(f"a SegmentedList cannot hold the Arrow type of format {fmt!r}")
            break
        _arrow_width(fmt, "+w:")
        if s.n_children != 1 or s.children == NULL or s.children[0] == NULL:
            raise ValueError(f"an Arrow fixed-size list ({fmt!r}) without exactly one child")
        s = s.children[0]
    else:
        raise TypeError(f"Arrow fixed-size lists nested more than {_ARROW_MAX_DEPTH} deep")
    leaf = formats[len(formats) - 1]      # (wraparound is off in segpy)
    base = _ARROW_FORMAT_DTYPES.get(leaf)
    if base is None and leaf.startswith("w:"):
        base = np.dtype(f"S{_arrow_width(leaf, 'w:')}")
    if base is None:
        if leaf.startswith("ts"):
            raise TypeError(
                f"a SegmentedList cannot hold the Arrow timestamp {leaf!r} with a time zone "
                "(numpy datetime64 has none)")
        raise TypeError(f"a SegmentedList cannot hold the Arrow type of format {leaf!r}")
    if len(formats) > 1:
        shape = tuple(_arrow_width(f, "+w:") for f in formats[:len(formats) - 1])
        name = schema.children[0].name.decode("utf-8", "replace") if (
            schema.children[0].name != NULL) else ""
        dt = _check_dtype([(name or "f0", base, shape)])
    else:
        dt = base
    meta = _arrow_read_metadata(schema.metadata).get(_ARROW_DTYPE_KEY)
    if meta is not None:
        named = _arrow_dtype_from_metadata(meta, formats)
        if named is not None:
            dt = named
    return dt, formats


cdef int _arrow_check_no_nulls(const ArrowArray* a, int64_t start, int64_t n) except -1:
    """ValueError if any of values [start, start+n) of ``a`` is null."""
    cdef const uint8_t* bits
    cdef int64_t i
    if a.null_count == 0:
        return 0
    bits = <const uint8_t*>a.buffers[0]
    if bits == NULL:
        if a.null_count > 0:
            raise ValueError("the Arrow data contains nulls, which a SegmentedList cannot hold")
        return 0        # null_count -1 (unknown) without a bitmap: no nulls
    for i in range(start, start + n):
        if not (bits[i >> 3] >> (i & 7)) & 1:
            raise ValueError(
                f"the Arrow data contains nulls (one at value {i - start}), which a "
                "SegmentedList cannot hold")
    return 0


cdef void _arrow_unpack_bits(const uint8_t* bits, int64_t start, int64_t n,
                             uint8_t* out) noexcept nogil:
    """1-byte bools from bits [start, start+n) of an LSB-first bitmap."""
    cdef int64_t i
    for i in range(n):
        out[i] = (bits[(start + i) >> 3] >> ((start + i) & 7)) & 1


cdef int _arrow_append(SegmentedList lst, const ArrowArray* array, list formats) except -1:
    """Check ``array`` against ``formats`` and append its values to ``lst``."""
    cdef const ArrowArray* a = array
    cdef int64_t start = a.offset, n = a.length, per = 1, k, width, done, step
    cdef const char* data
    cdef uint8_t* tmp
    cdef int depth = len(formats)
    cdef int level
    if a.length < 0 or a.offset < 0 or a.length > INT64_MAX - a.offset:
        raise ValueError(f"an Arrow array of length {a.length} at offset {a.offset}")
    for level in range(depth):
        fmt = formats[level]
        is_list = fmt.startswith("+w:")
        if a.n_buffers != (1 if is_list else 2) or a.buffers == NULL:
            raise ValueError(f"an Arrow array of format {fmt!r} with {a.n_buffers} buffers")
        if a.dictionary != NULL:
            raise ValueError("a dictionary on an Arrow array whose type has none")
        _arrow_check_no_nulls(a, start, n)
        if not is_list:
            break
        if a.n_children != 1 or a.children == NULL or a.children[0] == NULL:
            raise ValueError(f"an Arrow fixed-size list ({fmt!r}) without exactly one child")
        k = _arrow_width(fmt, "+w:")
        # Values [start, start+n) are the child's [start*k, (start+n)*k).
        if start + n > a.children[0].length // k:
            raise ValueError(f"an Arrow fixed-size list's child is too short ({fmt!r})")
        a = a.children[0]
        if a.offset < 0 or a.offset > INT64_MAX - a.length:
            raise ValueError(f"an Arrow array of length {a.length} at offset {a.offset}")
        start = a.offset + start * k
        n *= k
        per *= k
    leaf = formats[depth - 1]
    if a.n_children != 0:
        raise ValueError(f"an Arrow array of format {leaf!r} with children")
    if n == 0:
        return 0
    data = <const char*>a.buffers[1]
    if data == NULL:
        raise ValueError("an Arrow array without its data buffer")
    if leaf != "b":
        width = lst.c.itemsize // per
        if start > INT64_MAX // width - n:
            raise ValueError(f"an Arrow array at offset {start} of a size past any buffer")
        if seglist_append_n(&lst.c, data + start * width, n // per) != SEGPY_OK:
            _raise_grow_error(lst, n // per)
        return 0
    # Bools: unpack a block at a time (whole list elements per block).
    step = max(1, 65536 // per) * per
    tmp = <uint8_t*>malloc(<size_t>min(n, step))
    if tmp == NULL:
        raise MemoryError()
    try:
        done = 0
        while done < n:
            k = min(step, n - done)
            _arrow_unpack_bits(<const uint8_t*>data, start + done, k, tmp)
            if seglist_append_n(&lst.c, tmp, k // per) != SEGPY_OK:
                _raise_grow_error(lst, k // per)
            done += k
    finally:
        free(tmp)
    return 0


cdef object _arrow_take_capsule(object cap, const char* name, str what):
    """Check that ``cap`` is a capsule named ``name``; return it."""
    if not PyCapsule_IsValid(cap, name):
        raise TypeError(
            f"{what} must return a PyCapsule named {name.decode()!r}, not "
            f"{type(cap).__name__}" + (
                f" named {PyCapsule_GetName(cap).decode()!r}"
                if PyCapsule_CheckExact(cap) and PyCapsule_GetName(cap) != NULL else ""))
    return cap


cdef object _arrow_new_list(object cls, object dt, object allocator, object first_segment):
    return cls(dt, allocator=allocator, first_segment=first_segment)


cdef object _from_arrow_stream(object cls, object cap, object allocator, object first_segment):
    cdef ArrowArrayStream st
    cdef ArrowArrayStream* src
    cdef ArrowSchema schema
    cdef ArrowArray array
    cdef int rc
    cdef SegmentedList lst
    src = <ArrowArrayStream*>PyCapsule_GetPointer(cap, "arrow_array_stream")
    if src.release == NULL:
        raise ValueError("the Arrow stream was already consumed (its release is NULL)")
    # Move the stream out: the capsule's destructor then has nothing to release.
    memcpy(&st, src, sizeof(ArrowArrayStream))
    src.release = NULL
    schema.release = NULL
    array.release = NULL
    try:
        rc = st.get_schema(&st, &schema)
        if rc != 0:
            _arrow_raise_stream_error(&st, rc, "get_schema")
        dt, formats = _arrow_parse_schema(&schema)
        lst = _arrow_new_list(cls, dt, allocator, first_segment)
        while True:
            rc = st.get_next(&st, &array)
            if rc != 0:
                array.release = NULL
                _arrow_raise_stream_error(&st, rc, "get_next")
            if array.release == NULL:
                return lst
            _arrow_append(lst, &array, formats)
            array.release(&array)
            array.release = NULL
    finally:
        if array.release != NULL:
            array.release(&array)
        if schema.release != NULL:
            schema.release(&schema)
        if st.release != NULL:
            st.release(&st)


cdef int _arrow_raise_stream_error(ArrowArrayStream* st, int rc, str what) except -1:
    cdef const char* msg = st.get_last_error(st) if st.get_last_error != NULL else NULL
    text = msg.decode("utf-8", "replace") if msg != NULL else "no message"
    raise OSError(rc, f"the Arrow stream's {what} failed: {text}")


cdef object _from_arrow_array(object cls, object caps, object allocator, object first_segment):
    cdef ArrowSchema schema
    cdef ArrowArray array
    cdef ArrowSchema* s
    cdef ArrowArray* a
    if type(caps) is not tuple or len(caps) != 2:
        raise TypeError("__arrow_c_array__ must return a tuple of two PyCapsules, not "
                        f"{type(caps).__name__}")
    schema_cap = _arrow_take_capsule(caps[0], "arrow_schema", "__arrow_c_array__")
    array_cap = _arrow_take_capsule(caps[1], "arrow_array", "__arrow_c_array__")
    s = <ArrowSchema*>PyCapsule_GetPointer(schema_cap, "arrow_schema")
    a = <ArrowArray*>PyCapsule_GetPointer(array_cap, "arrow_array")
    # Move both out (see _from_arrow_stream).
    memcpy(&schema, s, sizeof(ArrowSchema))
    memcpy(&array, a, sizeof(ArrowArray))
    s.release = NULL
    a.release = NULL
    try:
        if schema.release == NULL or array.release == NULL:
            raise ValueError("the Arrow array or its schema was already released")
        dt, formats = _arrow_parse_schema(&schema)
        lst = _arrow_new_list(cls, dt, allocator, first_segment)
        _arrow_append(lst, &array, formats)
        return lst
    finally:
        if array.release != NULL:
            array.release(&array)
        if schema.release != NULL:
            schema.release(&schema)


cdef object _from_arrow(object cls, object source, object allocator, object first_segment):
    """SegmentedList.from_arrow: prefer the stream, else the array protocol."""
    method = getattr(source, "__arrow_c_stream__", None)
    if method is not None:
        cap = _arrow_take_capsule(method(), "arrow_array_stream", "__arrow_c_stream__")
        return _from_arrow_stream(cls, cap, allocator, first_segment)
    method = getattr(source, "__arrow_c_array__", None)
    if method is not None:
        return _from_arrow_array(cls, method(), allocator, first_segment)
    raise TypeError(
        f"SegmentedList.from_arrow needs an object with __arrow_c_stream__ or "
        f"__arrow_c_array__ (the Arrow PyCapsule interface), not {type(source).__name__}")
