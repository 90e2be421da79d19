# Arrow interchange: the Arrow C Data and C Stream interfaces and the Arrow
# PyCapsule protocol (__arrow_c_schema__, __arrow_c_stream__,
# __arrow_c_array__) for export, without pyarrow (the import, from_arrow, is
# _seglist_arrow_import.pxi).  Included by seglist.pyx.  docs/interop.md
# states the dtype mapping and the lifetime rules.
#
# Layering rule: boundary code.  The C half (plans, exported arrays and
# schemas, the stream callbacks, the release callbacks) is noexcept, mostly
# nogil, and reports failure by an errno value, as the Arrow callbacks must;
# the Python half builds plans from dtypes, parses imported schemas and
# raises.  It reads the list only through the core's public functions.
#
# What an export looks like (one plan, shared by every struct made from it):
#
#   _arrow_plan_t (refcounted, immutable once made)
#   +-------+--------+--------------------+-----------+------------------+
#   | refs  | owner  | levels[0..depth)   | metadata  | chunks[nchunks]  |
#   +-------+--------+--------------------+-----------+------------------+
#     atomic   a _SegmentExport (counts     "segpy.dtype"  (data, length),
#              as a view of the list) or    for records    recorded when
#              the ndarray of a copy                       the plan is made
#
#   ArrowArray of chunk c at level 0          its private_data: _arrow_node_t
#   +--------+--------+-----------+           +------+-------------+--------+
#   | length | buffers| children -+---------> | plan | buffers[2]  | child  |
#   +--------+--------+-----------+           +------+-------------+--------+
#   buffers = [NULL validity, chunks[c].data]   (one reference to the plan)
#   (fixed-size list: [NULL], and one child at level 1 of length*width)
#
# Each node holds its own reference to the plan, so a consumer may move a
# child out and release the parent (the spec allows it).  The last
# reference dropped releases the owner, from whatever thread, taking the GIL.

cdef extern from *:
    """
    /* The Arrow C Data Interface and C Stream Interface, written from the
       specification (the ABI is fixed by it).  The guards are the spec's
       own, kept exactly, so another library's copy of these definitions in
       the same unit does not clash. */
    #ifndef ARROW_C_DATA_INTERFACE
    #define ARROW_C_DATA_INTERFACE

    #define ARROW_FLAG_DICTIONARY_ORDERED 1
    #define ARROW_FLAG_NULLABLE 2
    #define ARROW_FLAG_MAP_KEYS_SORTED 4

    struct ArrowSchema {
      const char* format;
      const char* name;
      const char* metadata;
      int64_t flags;
      int64_t n_children;
      struct ArrowSchema** children;
      struct ArrowSchema* dictionary;
      void (*release)(struct ArrowSchema*);
      void* private_data;
    };

    struct ArrowArray {
      int64_t length;
      int64_t null_count;
      int64_t offset;
      int64_t n_buffers;
      int64_t n_children;
      const void** buffers;
      struct ArrowArray** children;
      struct ArrowArray* dictionary;
      void (*release)(struct ArrowArray*);
      void* private_data;
    };

    #endif  /* ARROW_C_DATA_INTERFACE */

    #ifndef ARROW_C_STREAM_INTERFACE
    #define ARROW_C_STREAM_INTERFACE

    struct ArrowArrayStream {
      int (*get_schema)(struct ArrowArrayStream*, struct ArrowSchema* out);
      int (*get_next)(struct ArrowArrayStream*, struct ArrowArray* out);
      const char* (*get_last_error)(struct ArrowArrayStream*);
      void (*release)(struct ArrowArrayStream*);
      void* private_data;
    };

    #endif  /* ARROW_C_STREAM_INTERFACE */

    /* The plan's reference count is shared by structs that consumers may
       release on any thread, with or without the GIL. */
    #if defined(_MSC_VER)
    #include <intrin.h>
    static inline long long segpy_arrow_refs_add(long long *p, long long v) {
        return _InterlockedExchangeAdd64(p, v) + v;
    }
    #else
    static inline long long segpy_arrow_refs_add(long long *p, long long v) {
        return __atomic_add_fetch(p, v, __ATOMIC_ACQ_REL);
    }
    #endif

    /* Drop a reference from any thread.  A release callback may run on a
       thread that does not hold the GIL (a query engine's worker), so it
       takes it; it may also run while the interpreter shuts down, when
       another thread cannot take the GIL: the reference is then leaked
       (the process is ending) rather than dropped unsafely. */
    #if defined(PYPY_VERSION)
    #define SEGPY_FINALIZING() 0
    #elif PY_VERSION_HEX >= 0x030D0000
    #define SEGPY_FINALIZING() Py_IsFinalizing()
    #else
    #define SEGPY_FINALIZING() _Py_IsFinalizing()
    #endif
    static void segpy_arrow_decref(PyObject *o) {
        PyGILState_STATE st;
        if (o == NULL || !Py_IsInitialized())
            return;
        if (PyGILState_Check()) {
            Py_DECREF(o);
            return;
        }
        if (SEGPY_FINALIZING())
            return;
        st = PyGILState_Ensure();
        Py_DECREF(o);
        PyGILState_Release(st);
    }
    """
    int ARROW_FLAG_NULLABLE

    struct ArrowSchema:
        const char* format
        const char* name
        const char* metadata
        int64_t flags
        int64_t n_children
        ArrowSchema** children
        ArrowSchema* dictionary
        void (*release)(ArrowSchema*) noexcept nogil
        void* private_data

    struct ArrowArray:
        int64_t length
        int64_t null_count
        int64_t offset
        int64_t n_buffers
        int64_t n_children
        const void** buffers
        ArrowArray** children
        ArrowArray* dictionary
        void (*release)(ArrowArray*) noexcept nogil
        void* private_data

    struct ArrowArrayStream:
        int (*get_schema)(ArrowArrayStream*, ArrowSchema*) noexcept nogil
        int (*get_next)(ArrowArrayStream*, ArrowArray*) noexcept nogil
        const char* (*get_last_error)(ArrowArrayStream*) noexcept nogil
        void (*release)(ArrowArrayStream*) noexcept nogil
        void* private_data

    long long segpy_arrow_refs_add(long long* p, long long v) noexcept nogil
    void segpy_arrow_decref(PyObject* o) noexcept nogil


# -- the export plan (C) ------------------------------------------------------

cdef enum:
    _ARROW_MAX_DEPTH = 8    # levels of fixed-size lists, the leaf included
    _ARROW_FORMAT_LEN = 32  # "+w:" or "w:" and an int64 fit with room
    # How a level's buffers are made:
    _AK_PLAIN = 0           # [validity, data]: the values as they are
    _AK_BOOL = 1            # [validity, bitmap]: packed from 1-byte bools (a copy)
    _AK_LIST = 2            # [validity]: fixed-size list, one child of width x length

ctypedef struct _arrow_level_t:
    char format[_ARROW_FORMAT_LEN]
    int kind
    int64_t width           # _AK_LIST: child values per value; else bytes per value

ctypedef struct _arrow_chunk_t:
    const char* data
    int64_t length

ctypedef struct _arrow_plan_t:
    long long refs          # atomic; the plan is freed when it reaches 0
    PyObject* owner         # keeps the chunks' memory alive (a strong reference)
    int depth
    _arrow_level_t levels[_ARROW_MAX_DEPTH]
    char* metadata          # the top level's metadata (spec binary format) or NULL
    Py_ssize_t metadata_len
    Py_ssize_t nchunks
    _arrow_chunk_t* chunks

ctypedef struct _arrow_node_t:
    # The private_data of one exported ArrowArray.
    _arrow_plan_t* plan     # one reference
    const void* buffers[2]
    ArrowArray* child_ptr[1]
    ArrowArray child        # the child struct itself (its own node is separate)
    void* bitmap            # the owned bool bitmap, or NULL

ctypedef struct _arrow_stream_t:
    _arrow_plan_t* plan     # one reference
    Py_ssize_t next         # the chunk get_next hands out next


cdef inline void _arrow_plan_incref(_arrow_plan_t* plan) noexcept nogil:
    segpy_arrow_refs_add(&plan.refs, 1)


cdef void _arrow_plan_decref(_arrow_plan_t* plan) noexcept nogil:
    """Drop one reference; the last one frees the plan and drops its owner.

    Any thread, with or without the GIL (segpy_arrow_decref takes it).
    """
    if plan == NULL or segpy_arrow_refs_add(&plan.refs, -1) != 0:
        return
    segpy_arrow_decref(plan.owner)
    free(plan.metadata)
    free(plan.chunks)
    free(plan)


cdef void _arrow_array_release(ArrowArray* a) noexcept nogil:
    """The release callback of every ArrowArray segpy exports (the spec's
    rules: release the children still owned, free what the node owns, mark
    the struct released by setting ``release`` to NULL)."""
    cdef _arrow_node_t* node
    if a == NULL or a.release == NULL:
        return
    node = <_arrow_node_t*>a.private_data
    if node.child.release != NULL:
        node.child.release(&node.child)
    free(node.bitmap)
    _arrow_plan_decref(node.plan)
    free(node)
    a.release = NULL


cdef void _arrow_pack_bits(const uint8_t* src, int64_t n, uint8_t* dst) noexcept nogil:
    """Arrow's LSB-first bitmap of ``n`` 1-byte bools (any non-zero is true)."""
    cdef int64_t i
    memset(dst, 0, <size_t>((n + 7) >> 3))
    for i in range(n):
        if src[i]:
            dst[i >> 3] |= <uint8_t>(1 << (i & 7))


cdef int _arrow_export_array(_arrow_plan_t* plan, int level, const char* data,
                             int64_t length, ArrowArray* out) noexcept nogil:
    """Fill ``*out`` with level ``level`` of ``length`` values at ``data``.

    No copy except for bools.  The array takes a reference to the plan.
    Returns 0, or ENOMEM with ``*out`` marked released.
    """
    cdef const _arrow_level_t* lv = &plan.levels[level]
    cdef _arrow_node_t* node = <_arrow_node_t*>calloc(1, sizeof(_arrow_node_t))
    out.release = NULL
    if node == NULL:
        return ENOMEM
    out.length = length
    out.null_count = 0
    out.offset = 0
    out.dictionary = NULL
    out.buffers = node.buffers
    out.private_data = node
    node.buffers[0] = NULL          # no validity bitmap: there are no nulls
    if lv.kind == _AK_LIST:
        out.n_buffers = 1
        out.n_children = 1
        node.child_ptr[0] = &node.child
        out.children = node.child_ptr
    else:
        out.n_buffers = 2
        out.n_children = 0
        out.children = NULL
        node.buffers[1] = data
    # From here the node owns a plan reference, so release frees it all.
    _arrow_plan_incref(plan)
    node.plan = plan
    out.release = _arrow_array_release
    if lv.kind == _AK_BOOL and length > 0:
        node.bitmap = malloc(<size_t>((length + 7) >> 3))
        if node.bitmap == NULL:
            _arrow_array_release(out)
            return ENOMEM
        _arrow_pack_bits(<const uint8_t*>data, length, <uint8_t*>node.bitmap)
        node.buffers[1] = node.bitmap
    elif lv.kind == _AK_LIST:
        if _arrow_export_array(plan, level + 1, data, length * lv.width, &node.child) != 0:
            _arrow_array_release(out)
            return ENOMEM
    return 0


ctypedef struct _arrow_schema_node_t:
    # The private_data of one exported ArrowSchema: copies of its strings.
    char format[_ARROW_FORMAT_LEN]
    ArrowSchema* child_ptr[1]
    ArrowSchema child
    char* metadata


cdef void _arrow_schema_release(ArrowSchema* s) noexcept nogil:
    """The release callback of every ArrowSchema segpy exports."""
    cdef _arrow_schema_node_t* node
    if s == NULL or s.release == NULL:
        return
    node = <_arrow_schema_node_t*>s.private_data
    if node.child.release != NULL:
        node.child.release(&node.child)
    free(node.metadata)
    free(node)
    s.release = NULL


cdef int _arrow_export_schema(const _arrow_plan_t* plan, int level,
                              ArrowSchema* out) noexcept nogil:
    """Fill ``*out`` with the type of level ``level``: a self-contained copy
    (it holds no reference to the plan, so it may outlive every export).
    Not nullable: a SegmentedList has no nulls.  Returns 0 or ENOMEM."""
    cdef _arrow_schema_node_t* node = <_arrow_schema_node_t*>calloc(
        1, sizeof(_arrow_schema_node_t))
    out.release = NULL
    if node == NULL:
        return ENOMEM
    memcpy(node.format, plan.levels[level].format, _ARROW_FORMAT_LEN)
    out.format = node.format
    out.name = "" if level == 0 else "item"
    out.metadata = NULL
    out.flags = 0
    out.dictionary = NULL
    out.private_data = node
    out.release = _arrow_schema_release
    if level == 0 and plan.metadata != NULL:
        node.metadata = <char*>malloc(<size_t>plan.metadata_len)
        if node.metadata == NULL:
            _arrow_schema_release(out)
            return ENOMEM
        memcpy(node.metadata, plan.metadata, <size_t>plan.metadata_len)
        out.metadata = node.metadata
    if plan.levels[level].kind == _AK_LIST:
        out.n_children = 1
        node.child_ptr[0] = &node.child
        out.children = node.child_ptr
        if _arrow_export_schema(plan, level + 1, &node.child) != 0:
            _arrow_schema_release(out)
            return ENOMEM
    else:
        out.n_children = 0
        out.children = NULL
    return 0


# -- the stream (C callbacks) -------------------------------------------------

cdef int _arrow_stream_get_schema(ArrowArrayStream* st, ArrowSchema* out) noexcept nogil:
    return _arrow_export_schema((<_arrow_stream_t*>st.private_data).plan, 0, out)


cdef int _arrow_stream_get_next(ArrowArrayStream* st, ArrowArray* out) noexcept nogil:
    # One array per chunk recorded when the stream was made, then the end
    # (a released array).  No GIL: the plan's count is atomic.
    cdef _arrow_stream_t* p = <_arrow_stream_t*>st.private_data
    cdef _arrow_chunk_t* c
    if p.next >= p.plan.nchunks:
        out.release = NULL
        return 0
    c = &p.plan.chunks[p.next]
    if _arrow_export_array(p.plan, 0, c.data, c.length, out) != 0:
        return ENOMEM
    p.next += 1
    return 0


cdef const char* _arrow_stream_last_error(ArrowArrayStream* st) noexcept nogil:
    # The only failure is an allocation.
    return "segpy: out of memory while exporting an Arrow array"


cdef void _arrow_stream_release(ArrowArrayStream* st) noexcept nogil:
    cdef _arrow_stream_t* p
    if st == NULL or st.release == NULL:
        return
    p = <_arrow_stream_t*>st.private_data
    _arrow_plan_decref(p.plan)
    free(p)
    st.release = NULL


# -- capsules -----------------------------------------------------------------
#
# The PyCapsule protocol: each capsule owns a heap struct; its destructor
# releases the struct unless a consumer moved it out (release set to NULL),
# then frees it.

cdef void _arrow_schema_capsule_free(object cap) noexcept:
    cdef ArrowSchema* s = <ArrowSchema*>PyCapsule_GetPointer(cap, "arrow_schema")
    if s != NULL:
        if s.release != NULL:
            s.release(s)
        free(s)


cdef void _arrow_array_capsule_free(object cap) noexcept:
    cdef ArrowArray* a = <ArrowArray*>PyCapsule_GetPointer(cap, "arrow_array")
    if a != NULL:
        if a.release != NULL:
            a.release(a)
        free(a)


cdef void _arrow_stream_capsule_free(object cap) noexcept:
    cdef ArrowArrayStream* st = <ArrowArrayStream*>PyCapsule_GetPointer(
        cap, "arrow_array_stream")
    if st != NULL:
        if st.release != NULL:
            st.release(st)
        free(st)


cdef object _arrow_schema_capsule(_arrow_plan_t* plan):
    cdef ArrowSchema* s = <ArrowSchema*>calloc(1, sizeof(ArrowSchema))
    if s == NULL:
        raise MemoryError()
    if _arrow_export_schema(plan, 0, s) != 0:
        free(s)
        raise MemoryError()
    try:
        return PyCapsule_New(s, "arrow_schema", _arrow_schema_capsule_free)
    except BaseException:
        s.release(s)
        free(s)
        raise


cdef object _arrow_array_capsule(_arrow_plan_t* plan, Py_ssize_t c):
    cdef ArrowArray* a = <ArrowArray*>calloc(1, sizeof(ArrowArray))
    if a == NULL:
        raise MemoryError()
    if _arrow_export_array(plan, 0, plan.chunks[c].data, plan.chunks[c].length, a) != 0:
        free(a)
        raise MemoryError()
    try:
        return PyCapsule_New(a, "arrow_array", _arrow_array_capsule_free)
    except BaseException:
        a.release(a)
        free(a)
        raise


cdef object _arrow_stream_capsule(_arrow_plan_t* plan):
    cdef ArrowArrayStream* st = <ArrowArrayStream*>calloc(1, sizeof(ArrowArrayStream))
    cdef _arrow_stream_t* p = <_arrow_stream_t*>calloc(1, sizeof(_arrow_stream_t))
    if st == NULL or p == NULL:
        free(st)
        free(p)
        raise MemoryError()
    _arrow_plan_incref(plan)
    p.plan = plan
    st.private_data = p
    st.get_schema = _arrow_stream_get_schema
    st.get_next = _arrow_stream_get_next
    st.get_last_error = _arrow_stream_last_error
    st.release = _arrow_stream_release
    try:
        return PyCapsule_New(st, "arrow_array_stream", _arrow_stream_capsule_free)
    except BaseException:
        st.release(st)
        free(st)
        raise


# -- dtype -> Arrow type ------------------------------------------------------
#
# Records: an interleaved record cannot be an Arrow struct without a copy
# (struct children are separate buffers, one per field), so a record whose
# fields are not all one type goes out as fixed-size binary 'w:N' over the
# list's own memory, with the numpy dtype in the schema metadata
# ("segpy.dtype", numpy's .npy descr) so that from_arrow, and any consumer
# that reads it, can recover the fields.  A record of N fields of one type,
# packed, is exactly a fixed-size list of N of that type (zero-copy too).

_ARROW_NUMBER_FORMATS = {
    ("i", 1): "c", ("i", 2): "s", ("i", 4): "i", ("i", 8): "l",
    ("u", 1): "C", ("u", 2): "S", ("u", 4): "I", ("u", 8): "L",
    ("f", 2): "e", ("f", 4): "f", ("f", 8): "g",
}
_ARROW_TIME_UNITS = {"s": "s", "ms": "m", "us": "u", "ns": "n"}
_ARROW_DTYPE_KEY = b"segpy.dtype"


cdef list _arrow_levels(object dt, int depth):
    """The Arrow levels of dtype ``dt`` ([(format, kind, width)], top first).

    Raises TypeError for a dtype Arrow cannot express zero-copy.
    """
    kind = dt.kind
    if depth >= _ARROW_MAX_DEPTH:
        raise TypeError(f"Arrow export of dtype {dt!r}: nested more than "
                        f"{_ARROW_MAX_DEPTH} levels deep")
    if dt.subdtype is not None:
        base, shape = dt.subdtype
        out = []
        for k in shape:
            out.append((f"+w:{k}", _AK_LIST, k))
        return out + _arrow_levels(base, depth + len(shape))
    if dt.names is not None:
        return _arrow_record_levels(dt, depth)
    if kind in "biufcmM" and not dt.isnative:
        raise TypeError(
            f"Arrow cannot express dtype {dt!r}: its byte order is not the machine's, "
            "and Arrow data is always in native byte order (copy the values to "
            f"{dt.newbyteorder('=')!r} first)")
    if kind == "b":
        return [("b", _AK_BOOL, 1)]
    fmt = _ARROW_NUMBER_FORMATS.get((kind, dt.itemsize))
    if fmt is not None:
        return [(fmt, _AK_PLAIN, dt.itemsize)]
    if kind in "mM":
        unit, count = np.datetime_data(dt)
        if count != 1 or unit not in _ARROW_TIME_UNITS:
            raise TypeError(
                f"Arrow cannot express dtype {dt!r}: Arrow timestamps and durations "
                "have the units s, ms, us and ns only")
        u = _ARROW_TIME_UNITS[unit]
        return [(f"ts{u}:" if kind == "M" else f"tD{u}", _AK_PLAIN, 8)]
    if kind == "S":
        return [(f"w:{dt.itemsize}", _AK_PLAIN, dt.itemsize)]
    if kind == "c":
        raise TypeError(f"Arrow cannot express dtype {dt!r}: Arrow has no complex type")
    raise TypeError(f"Arrow cannot express dtype {dt!r} (no Arrow type has its layout)")


cdef list _arrow_record_levels(object dt, int depth):
    fields = [dt.fields[name] for name in dt.names]
    first = fields[0][0]
    n = len(fields)
    packed = (dt.itemsize == n * first.itemsize and all(
        f[0] == first and f[1] == i * first.itemsize for i, f in enumerate(fields)))
    if packed:
        try:
            inner = _arrow_levels(first, depth + (n > 1))
        except TypeError:
            pass
        else:
            # One field: the record is that field's value.
            return inner if n == 1 else [(f"+w:{n}", _AK_LIST, n)] + inner
    return [(f"w:{dt.itemsize}", _AK_PLAIN, dt.itemsize)]


cdef bytes _arrow_metadata(object dt):
    """The schema metadata for ``dt``: the numpy dtype of a record, else b""."""
    if dt.names is None:
        return b""
    value = repr(np.lib.format.dtype_to_descr(dt)).encode()
    order = sys.byteorder
    key = _ARROW_DTYPE_KEY
    # The spec's binary format: int32 count, then int32 length + bytes for
    # each key and value, native byte order.
    return (b"".join([(1).to_bytes(4, order, signed=True),
                      len(key).to_bytes(4, order, signed=True), key,
                      len(value).to_bytes(4, order, signed=True), value]))


cdef _arrow_plan_t* _arrow_plan_new(object dt, object owner, Py_ssize_t nchunks) except NULL:
    """A plan with one reference, for ``nchunks`` chunks (left zero) of
    values of dtype ``dt`` whose memory ``owner`` keeps alive.

    Raises TypeError for a dtype Arrow cannot express.
    """
    cdef _arrow_plan_t* plan
    cdef int i
    levels = _arrow_levels(dt, 0)
    meta = _arrow_metadata(dt)
    plan = <_arrow_plan_t*>calloc(1, sizeof(_arrow_plan_t))
    if plan == NULL:
        raise MemoryError()
    plan.refs = 1
    plan.depth = len(levels)
    for i, (fmt, kind, width) in enumerate(levels):
        b = fmt.encode()
        memcpy(plan.levels[i].format, <const char*>b, len(b) + 1)
        plan.levels[i].kind = kind
        plan.levels[i].width = width
    plan.chunks = <_arrow_chunk_t*>calloc(max(nchunks, 1), sizeof(_arrow_chunk_t))
    if meta:
        plan.metadata = <char*>malloc(len(meta))
        plan.metadata_len = len(meta)
    if plan.chunks == NULL or (meta and plan.metadata == NULL):
        free(plan.chunks)
        free(plan.metadata)
        free(plan)
        raise MemoryError()
    if meta:
        memcpy(plan.metadata, <const char*>meta, len(meta))
    plan.nchunks = nchunks
    Py_INCREF(owner)
    plan.owner = <PyObject*>owner
    return plan


cdef _arrow_plan_t* _arrow_plan_of_list(SegmentedList self) except NULL:
    """A plan over the list's non-empty segments as they are now.

    The plan's owner is a segment export (_new_segment_export), so the
    segments stay while it lives, as they do for segment views; the
    lengths are recorded here, so later growth is not seen.
    """
    cdef _arrow_plan_t* plan
    cdef int j, nseg
    cdef Py_ssize_t n, left
    dt = self._dtype
    owner = _new_segment_export(self)
    # From here no segment is released and __init__ refuses; the export's
    # allocation may have run a finaliser that re-initialised the list.
    if self._dtype is not dt:
        _raise_changed("an Arrow export")
    nseg = seglist_used_segments(&self.c)
    plan = _arrow_plan_new(dt, owner, nseg)
    # Nothing but C from here to the end: the chunks are the list as it is.
    left = self.c.length
    nseg = min(nseg, seglist_used_segments(&self.c))
    for j in range(nseg):
        n = min(seglist_segment_len(&self.c, j), left)
        plan.chunks[j].data = self.c.segs[j]
        plan.chunks[j].length = n
        left -= n
    plan.nchunks = nseg
    return plan


cdef _arrow_plan_t* _arrow_plan_of_copy(SegmentedList self) except NULL:
    """A plan with one chunk: a contiguous copy of the list (an ndarray)."""
    cdef _arrow_plan_t* plan
    cdef cnp.ndarray arr = self.to_numpy()
    plan = _arrow_plan_new(arr.dtype, arr, 1)
    plan.chunks[0].data = <const char*>cnp.PyArray_DATA(arr)
    plan.chunks[0].length = arr.shape[0]
    return plan


cdef int _arrow_check_requested(object requested_schema) except -1:
    """Accept None or an "arrow_schema" capsule.

    The PyCapsule interface makes a requested schema a best-effort request
    that a producer may leave unmet: a SegmentedList has one zero-copy
    representation, and a consumer that asked for another type casts (as
    pyarrow does), so the data always goes out in the list's own schema.
    """
    if requested_schema is not None and not PyCapsule_IsValid(requested_schema, "arrow_schema"):
        raise TypeError(
            "requested_schema must be None or a PyCapsule named 'arrow_schema', not "
            f"{type(requested_schema).__name__}")
    return 0


cdef object _arrow_c_schema(SegmentedList self):
    cdef _arrow_plan_t* plan = _arrow_plan_new(self._dtype, None, 0)
    try:
        return _arrow_schema_capsule(plan)
    finally:
        _arrow_plan_decref(plan)


cdef object _arrow_c_stream(SegmentedList self, object requested_schema):
    _arrow_check_requested(requested_schema)
    cdef _arrow_plan_t* plan = _arrow_plan_of_list(self)
    try:
        return _arrow_stream_capsule(plan)
    finally:
        _arrow_plan_decref(plan)


@cython.final
cdef class _ArrowChunk:
    """One contiguous Arrow array: a segment of a SegmentedList (zero-copy)
    or a compacted copy of one.  Consumers import it through the Arrow
    PyCapsule protocol (``pyarrow.array(chunk)``, ``polars.Series(chunk)``).

    It keeps the memory it exports alive: a segment's chunk counts as a
    segment view of its list while it or any array exported from it lives.
    """
    cdef _arrow_plan_t* plan
    cdef Py_ssize_t index

    def __dealloc__(self):
        _arrow_plan_decref(self.plan)

    def __len__(self):
        return self.plan.chunks[self.index].length

    def __repr__(self):
        return (f"<segpy Arrow array of {self.plan.chunks[self.index].length} values, "
                f"format {self.plan.levels[0].format.decode()!r}>")

    def __arrow_c_schema__(self):
        """Export the Arrow type of the values.

        Returns
        -------
        PyCapsule
            Named ``"arrow_schema"``, holding an ``ArrowSchema``.
        """
        return _arrow_schema_capsule(self.plan)

    def __arrow_c_array__(self, requested_schema=None):
        """Export the values as an Arrow array, without a copy (bools excepted).

        Parameters
        ----------
        requested_schema : PyCapsule or None
            A best-effort request; the values always go out in their own
            type, which the consumer may cast.

        Returns
        -------
        tuple of PyCapsule
            ``("arrow_schema", "arrow_array")`` capsules.
        """
        _arrow_check_requested(requested_schema)
        return _arrow_schema_capsule(self.plan), _arrow_array_capsule(self.plan, self.index)


segpy_seal_new(_ArrowChunk, "made by SegmentedList.arrow_chunks() and arrow_array()")


cdef _ArrowChunk _arrow_chunk(_arrow_plan_t* plan, Py_ssize_t index):
    cdef _ArrowChunk chunk = _ArrowChunk.__new__(_ArrowChunk)
    _arrow_plan_incref(plan)
    chunk.plan = plan
    chunk.index = index
    return chunk


cdef list _arrow_chunks(SegmentedList self):
    cdef _arrow_plan_t* plan = _arrow_plan_of_list(self)
    cdef Py_ssize_t c
    try:
        return [_arrow_chunk(plan, c) for c in range(plan.nchunks)]
    finally:
        _arrow_plan_decref(plan)


cdef _ArrowChunk _arrow_array(SegmentedList self):
    cdef _arrow_plan_t* plan = _arrow_plan_of_copy(self)
    try:
        return _arrow_chunk(plan, 0)
    finally:
        _arrow_plan_decref(plan)
