# cython: language_level=3
"""Test support for segpy's C-level API (private; used by tests/capi/test_capi.py).

Each function drives a piece of the cimportable API the way a compiled
consumer would, mostly inside ``with nogil:`` blocks, and hands the result
back to Python so that the tests can check it.  Nothing here is public.
"""

from libc.stdint cimport int8_t
from libc.stdint cimport int16_t
from libc.stdint cimport int32_t
from libc.stdint cimport int64_t
from libc.stdint cimport uint8_t
from libc.stdint cimport uint16_t
from libc.stdint cimport uint32_t
from libc.stdint cimport uint64_t
from libc.stdint cimport SIZE_MAX
from libc.stdlib cimport free
from libc.stdlib cimport malloc

cimport cython
from cython.parallel cimport parallel
from cython.parallel cimport prange
from cython.parallel cimport threadid

import numpy as np

from segpy.alloc cimport Allocator
from segpy.alloc cimport segpy_alloc_stats_t
from segpy.alloc cimport segpy_allocator_t
from segpy.alloc cimport segpy_allocator_destroy
from segpy.alloc cimport segpy_system_create
from segpy.buffer cimport segpy_buffer_create
from segpy.bump cimport segpy_bump_create
from segpy.heap cimport segpy_heap_create
from segpy.seglist cimport SEGPY_MAX_SEGMENTS
from segpy.seglist cimport SegmentedList
from segpy.seglist cimport seglist_cc_append_n
from segpy.seglist cimport seglist_cc_begin
from segpy.seglist cimport seglist_cc_end
from segpy.seglist cimport seglist_cc_push
from segpy.seglist cimport seglist_cc_t
from segpy.seglist cimport seglist_cc_writer_flush
from segpy.seglist cimport seglist_cc_writer_init
from segpy.seglist cimport seglist_cc_writer_t
from segpy.seglist cimport seglist_at
from segpy.seglist cimport seglist_at_unchecked
from segpy.seglist cimport seglist_capacity
from segpy.seglist cimport seglist_destroy
from segpy.seglist cimport seglist_get_value
from segpy.seglist cimport seglist_get_value_unchecked
from segpy.seglist cimport seglist_init
from segpy.seglist cimport seglist_itemsize_is
from segpy.seglist cimport seglist_len
from segpy.seglist cimport seglist_push_bytes
from segpy.seglist cimport seglist_push_value
from segpy.seglist cimport seglist_push_value_unchecked
from segpy.seglist cimport seglist_segment
from segpy.seglist cimport seglist_t
from segpy.seglist cimport seglist_used_segments
from segpy.seglist cimport seglist_value_t
from segpy.seglist cimport segmented_list_adopt
from segpy.seglist cimport segmented_list_raise
from segpy.seglist cimport segmented_list_struct


def struct_address(SegmentedList lst):
    """Address of the list's C struct, as ``segmented_list_struct`` gives it."""
    return <size_t>segmented_list_struct(lst)


def struct_problems(SegmentedList lst):
    """Broken invariants of the list's ``seglist_t`` (see seglist.pxd), as strings; [] if none.

    Checks what the inline lookups rely on: ``segs[0..nseg)`` set and the
    rest NULL, ``bases`` derived from ``segs`` (zero outside the allocated
    segments), ``length <= capacity`` and a cursor that is either parked or
    at element ``length`` inside the tail segment.
    """
    cdef seglist_t* s = segmented_list_struct(lst)
    cdef int j, k = s.shift
    cdef size_t want
    problems = []
    for j in range(SEGPY_MAX_SEGMENTS):
        if (j < s.nseg) != (s.segs[j] != NULL):
            state = 'NULL' if s.segs[j] == NULL else 'set'
            problems.append(f"segs[{j}] is {state} with nseg={s.nseg}")
    for j in range(SEGPY_MAX_SEGMENTS):
        if k <= j < k + s.nseg:
            want = <size_t>s.segs[j - k] - (<size_t>1 << j) * <size_t>s.itemsize
        else:
            want = 0
        if s.bases[j] != want:
            problems.append(f"bases[{j}] = {s.bases[j]:#x}, want {want:#x} "
                            f"(shift={k}, nseg={s.nseg})")
    if s.length > seglist_capacity(s):
        problems.append(f"length {s.length} > capacity {seglist_capacity(s)}")
    if s.cursor != s.cursor_end and s.cursor != seglist_at_unchecked(s, s.length):
        problems.append("cursor is neither parked nor at element length")
    return problems


def poke_base(SegmentedList lst, int slot, size_t value):
    """Overwrite ``bases[slot]`` and return the old value (to show ``struct_problems`` can fail)."""
    cdef seglist_t* s = segmented_list_struct(lst)
    if not 0 <= slot < SEGPY_MAX_SEGMENTS:
        raise IndexError(f"slot {slot} out of range")
    old = s.bases[slot]
    s.bases[slot] = value
    return old


cdef object _typed_op(seglist_t* s, str op, Py_ssize_t i, object value,
                      seglist_value_t* v):
    # One fused-type operation on element type seglist_value_t (chosen by
    # the type of v): "push" the value, or "get"/"get_unchecked" element i.
    cdef int rc
    if op == "push":
        v[0] = value
        return seglist_push_value(s, v[0])
    if op == "get":
        rc = seglist_get_value(s, i, v)
    elif op == "get_unchecked":
        rc = seglist_get_value_unchecked(s, i, v)
    else:
        raise ValueError(f"unknown operation {op!r}")
    return rc, (v[0] if rc == 0 else None)


def typed_op(SegmentedList lst, str ctype, str op, Py_ssize_t i=0, value=0):
    """Run a fused typed push or get with the C type named ``ctype``.

    ``op`` is ``"push"`` (returns the code of ``seglist_push_value``),
    ``"get"`` or ``"get_unchecked"`` (return ``(code, value or None)`` of
    ``seglist_get_value`` / ``seglist_get_value_unchecked`` at index ``i``).
    """
    cdef seglist_t* s = segmented_list_struct(lst)
    cdef int8_t i8
    cdef int16_t i16
    cdef int32_t i32
    cdef int64_t i64
    cdef uint8_t u8
    cdef uint16_t u16
    cdef uint32_t u32
    cdef uint64_t u64
    cdef float f32
    cdef double f64
    cdef float complex c64
    cdef double complex c128
    if ctype == "int8":
        return _typed_op(s, op, i, value, &i8)
    if ctype == "int16":
        return _typed_op(s, op, i, value, &i16)
    if ctype == "int32":
        return _typed_op(s, op, i, value, &i32)
    if ctype == "int64":
        return _typed_op(s, op, i, value, &i64)
    if ctype == "uint8":
        return _typed_op(s, op, i, value, &u8)
    if ctype == "uint16":
        return _typed_op(s, op, i, value, &u16)
    if ctype == "uint32":
        return _typed_op(s, op, i, value, &u32)
    if ctype == "uint64":
        return _typed_op(s, op, i, value, &u64)
    if ctype == "float32":
        return _typed_op(s, op, i, value, &f32)
    if ctype == "float64":
        return _typed_op(s, op, i, value, &f64)
    if ctype == "complex64":
        return _typed_op(s, op, i, value, &c64)
    if ctype == "complex128":
        return _typed_op(s, op, i, value, &c128)
    raise ValueError(f"unknown C type {ctype!r}")


def push_one(SegmentedList lst, str ctype, value):
    """Push one C value of type ``ctype`` through the checked fused push; return the code."""
    return typed_op(lst, ctype, "push", 0, value)


def sum_gets(SegmentedList lst, const int64_t[::1] idx, str how="typed"):
    """Sum an int64 list's elements at ``idx`` in a nogil loop of gets.

    ``how``: ``"typed"`` (``seglist_get_value_unchecked``), ``"pointer"``
    (``seglist_at_unchecked``) or ``"checked"`` (``seglist_get_value``,
    skipping indices it refuses).  Returns ``(sum, refused)``.
    """
    cdef seglist_t* s = segmented_list_struct(lst)
    cdef Py_ssize_t k, m = idx.shape[0], refused = 0
    # Wraps (defined) like numpy's int64 sum; an int64_t would overflow (UB).
    cdef uint64_t acc = 0
    cdef int64_t v
    cdef int mode
    if how not in ("typed", "pointer", "checked"):
        raise ValueError(f"unknown get {how!r}")
    mode = ("typed", "pointer", "checked").index(how)
    if mode != 2 and m and (np.min(idx) < 0 or np.max(idx) >= s.length):
        raise ValueError("indices out of range")
    if not seglist_itemsize_is(s, sizeof(int64_t)):
        raise ValueError("not a list of 8-byte elements")
    with nogil:
        for k in range(m):
            if mode == 0:
                seglist_get_value_unchecked(s, idx[k], &v)
            elif mode == 1:
                v = (<int64_t*>seglist_at_unchecked(s, idx[k]))[0]
            elif seglist_get_value(s, idx[k], &v) != 0:
                refused += 1
                continue
            acc += <uint64_t>v
    return <int64_t>acc, refused


def push_bytes(SegmentedList lst, bytes data):
    """Push ``data`` through ``seglist_push_bytes`` (size-checked raw push); return the code."""
    cdef const char* p = data
    return seglist_push_bytes(segmented_list_struct(lst), p, len(data))


def push_range(SegmentedList lst, Py_ssize_t n, bint checked=True):
    """Push ``0 .. n-1`` as int64 without the GIL, stopping at the first error.

    Returns ``(pushed, code)``: how many went in and the code that stopped
    the loop (0 if none did).
    """
    cdef seglist_t* s = segmented_list_struct(lst)
    cdef Py_ssize_t i = 0
    cdef int rc = 0
    with nogil:
        while i < n:
            if checked:
                rc = seglist_push_value(s, <int64_t>i)
            else:
                rc = seglist_push_value_unchecked(s, <int64_t>i)
            if rc != 0:
                break
            i += 1
    return i, rc


def raise_for(SegmentedList lst, int rc, Py_ssize_t extra):
    """Call ``segmented_list_raise``; returns its 0 when ``rc`` is 0."""
    return segmented_list_raise(lst, rc, extra)


def segments_of(SegmentedList lst, int extra=2):
    """``(address, count)`` per segment from ``seglist_segment``, plus ``extra`` past the end."""
    cdef seglist_t* s = segmented_list_struct(lst)
    cdef Py_ssize_t n
    cdef char* p
    out = []
    for j in range(-1, seglist_used_segments(s) + extra):
        p = seglist_segment(s, j, &n)
        out.append((<size_t>p, n))
    return out


def build_and_adopt(dtype, Allocator owner, Py_ssize_t n, int shift, Py_ssize_t itemsize=8,
                    Allocator adopt_owner=None):
    """Build an int64-pattern list of ``n`` elements in C on ``owner``, then adopt it
    (naming ``adopt_owner`` as its allocator if given, to test the refusal).

    Each element's first 8 bytes hold its index (the rest is zero).
    Returns ``(list, first_segment_address, source_length_after, source_nseg_after)``,
    or raises what ``segmented_list_adopt`` raised, after destroying the C list.
    """
    cdef seglist_t s
    cdef Py_ssize_t i
    cdef size_t first = 0
    cdef int rc = 0
    s.epoch = 0
    if seglist_init(&s, itemsize, shift, &owner.iface) != 0:
        raise ValueError("seglist_init refused")
    buf = bytearray(itemsize)
    cdef char* rec = buf
    with nogil:
        for i in range(n):
            (<int64_t*>rec)[0] = i
            rc = seglist_push_bytes(&s, rec, itemsize)
            if rc != 0:
                break
    try:
        if rc != 0:
            raise MemoryError(f"C push failed with {rc}")
        if n:
            first = <size_t>s.segs[0]
        new = segmented_list_adopt(&s, dtype, owner if adopt_owner is None else adopt_owner)
        return new, first, s.length, s.nseg
    finally:
        seglist_destroy(&s)


def adopt_null(dtype, Allocator owner):
    """Call ``segmented_list_adopt`` with a NULL list."""
    return segmented_list_adopt(NULL, dtype, owner)


def c_allocator_roundtrip(str kind, Py_ssize_t n, size_t max_bytes=SIZE_MAX):
    """Create an allocator of ``kind`` from C, push ``n`` int64 on it without the GIL,
    read them back two ways, tear everything down.

    Returns a dict: pushed count, the code that stopped the pushes, the sums
    read through ``seglist_at`` and through ``seglist_segment``, the
    allocator's ``n_alloc`` and ``bytes_in_use`` after the list is
    destroyed, and the allocator's name.
    """
    cdef segpy_allocator_t* a = NULL
    cdef segpy_alloc_stats_t st
    cdef seglist_t s
    cdef char* buffer = NULL
    cdef size_t buffer_size = 1 << 20
    cdef Py_ssize_t i = 0, k, cnt
    cdef int j, rc = 0
    cdef int64_t sum_at = 0, sum_seg = 0
    cdef char* p
    if kind == "system":
        a = segpy_system_create(max_bytes)
    elif kind == "heap":
        a = segpy_heap_create(max_bytes, 4 << 20, 64 << 20, 0)
    elif kind == "bump":
        a = segpy_bump_create(max_bytes, 4096, 0)
    elif kind == "buffer":
        buffer = <char*>malloc(buffer_size)
        if buffer != NULL:
            a = segpy_buffer_create(buffer, buffer_size, max_bytes, 0)
    else:
        raise ValueError(f"unknown allocator kind {kind!r}")
    if a == NULL:
        free(buffer)
        raise MemoryError(f"segpy_{kind}_create failed")
    s.epoch = 0
    seglist_init(&s, 8, 3, a)
    with nogil:
        while i < n:
            rc = seglist_push_value(&s, <int64_t>(i * 3))
            if rc != 0:
                break
            i += 1
        for k in range(seglist_len(&s)):
            sum_at += (<int64_t*>seglist_at(&s, k))[0]
        for j in range(seglist_used_segments(&s)):
            p = seglist_segment(&s, j, &cnt)
            for k in range(cnt):
                sum_seg += (<int64_t*>p)[k]
        seglist_destroy(&s)
        a.stats(a.ctx, &st)
    name = (<bytes>a.name).decode()
    segpy_allocator_destroy(a)
    free(buffer)
    return dict(pushed=i, rc=rc, sum_at=sum_at, sum_segments=sum_seg,
                n_alloc=st.n_alloc, bytes_in_use=st.bytes_in_use, name=name)


# -- concurrent pushes (tests/capi/test_concurrent.py) ------------------------

def cc_prange_push(SegmentedList lst, Py_ssize_t n, int nthreads, Py_ssize_t offset=0):
    """Push the int64 values offset .. offset+n-1 into ``lst`` from ``nthreads``
    OpenMP threads (prange), each through its own writer, in one
    concurrent phase.  Returns (elements added, the phase's error, the
    writers' errors)."""
    cdef seglist_cc_t cc
    cdef seglist_cc_writer_t* ws = <seglist_cc_writer_t*>malloc(
        nthreads * sizeof(seglist_cc_writer_t))
    cdef Py_ssize_t i, added
    cdef int64_t v
    cdef int t
    if ws == NULL:
        raise MemoryError()
    if lst.itemsize != 8:
        free(ws)
        raise ValueError("an int64 list is needed")
    seglist_cc_begin(&cc, &lst.c)
    for t in range(nthreads):
        seglist_cc_writer_init(&ws[t], &cc)
    with nogil, parallel(num_threads=nthreads):
        t = threadid()
        for i in prange(n, schedule="static"):
            v = offset + i
            seglist_cc_push(&ws[t], &v)
        seglist_cc_writer_flush(&ws[t])
    added = seglist_cc_end(&cc)
    errors = [ws[t].error for t in range(nthreads)]
    free(ws)
    return added, cc.error, errors


@cython.final
cdef class CCPhase:
    """A C-level concurrent phase that Python threads push into, each call
    without the GIL (the C API's nogil push from Python threads)."""

    cdef SegmentedList lst
    cdef seglist_cc_t cc

    def __cinit__(self, SegmentedList lst):
        self.lst = lst
        seglist_cc_begin(&self.cc, &lst.c)

    def push_range(self, Py_ssize_t start, Py_ssize_t stop, bint buffered=True,
                   bint flush=True):
        """Push start .. stop-1 as int64 without the GIL, through a writer
        (``buffered``, flushed at the end unless ``flush`` is false) or one
        ``seglist_cc_append_n`` each; returns the error code."""
        cdef seglist_cc_writer_t w
        cdef int64_t v
        cdef Py_ssize_t i
        cdef int rc = 0
        with nogil:
            if buffered:
                rc = seglist_cc_writer_init(&w, &self.cc)
                for i in range(start, stop):
                    v = i
                    seglist_cc_push(&w, &v)
                if flush:
                    rc = seglist_cc_writer_flush(&w)
            else:
                for i in range(start, stop):
                    v = i
                    rc = seglist_cc_append_n(&self.cc, &v, 1)
                    if rc != 0:
                        break
        return rc

    def end(self):
        """Close the phase; returns (elements added, the phase's error)."""
        added = seglist_cc_end(&self.cc)
        return added, self.cc.error
