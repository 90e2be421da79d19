# cython: language_level=3
"""C-level benchmarks of the cimportable list API, each beside its floor.

Used by ``benchmarks/capi_report.py``.  Every push function times one
``nogil`` C loop between two ``clock_gettime(CLOCK_MONOTONIC)`` calls and
returns ``(elapsed_ns, checksum)`` (``random_get`` times paired passes in
thread CPU time, see its docstring); the checksum is computed *after* the timed
region from the memory the loop wrote, and the report checks that the list
and its floor agree, so the compiler can neither drop nor shortcut a loop.

The floor is the same loop storing into one preallocated C array:

* ``fresh``: the array's memory is mapped inside the call and first touched
  by the timed loop, as a new list's segments are; it is mapped the way
  segpy's allocators map large segments (anonymous mmap, 2 MiB-aligned,
  advised for transparent huge pages), so both sides pay the same page
  faults.  The list side is a new list on the given allocator, whose
  segment requests are inside the timed region (that is the amortised
  cost of a push).
* ``warm``: the memory was written once before the timed region (for the
  list: filled, then truncated to 0, which keeps its segments).

The element values are ``i * 3 + 1``: not a constant, and not ``i``, so no
store can be folded into a memset or a known sequence by accident.
"""

from libc.stdint cimport int32_t
from libc.stdint cimport int64_t
from libc.stdint cimport uint32_t
from libc.string cimport memset
from posix.time cimport CLOCK_MONOTONIC
from posix.time cimport CLOCK_THREAD_CPUTIME_ID
from posix.time cimport clock_gettime
from posix.time cimport timespec

import numpy as np

from segpy._os cimport segpy_os_hugepage
from segpy._os cimport segpy_os_map
from segpy._os cimport segpy_os_unmap
from segpy.alloc cimport Allocator
from segpy.seglist cimport seglist_at
from segpy.seglist cimport seglist_at_unchecked
from segpy.seglist cimport seglist_destroy
from segpy.seglist cimport seglist_emplace
from segpy.seglist cimport seglist_get_value_unchecked
from segpy.seglist cimport seglist_init
from segpy.seglist cimport seglist_push_bytes
from segpy.seglist cimport seglist_push_value
from segpy.seglist cimport seglist_push_value_unchecked
from segpy.seglist cimport seglist_raise
from segpy.seglist cimport seglist_reserve
from segpy.seglist cimport seglist_segment
from segpy.seglist cimport seglist_t
from segpy.seglist cimport seglist_used_segments

__all__ = ["push_int64", "floor_int64", "push_records", "floor_records", "random_get",
           "RECORD_DTYPE"]


# A 40-byte record (an AST node): the same bytes as RECORD_DTYPE.
ctypedef struct rec_t:
    int64_t id
    int32_t kind
    uint32_t flags
    double value
    int64_t left
    int64_t right

RECORD_DTYPE = np.dtype([("id", "<i8"), ("kind", "<i4"), ("flags", "<u4"),
                         ("value", "<f8"), ("left", "<i8"), ("right", "<i8")])

cdef enum:
    _HUGE = 2 * 1024 * 1024
    _SHIFT_INT64 = 6         # a 512-byte first segment, the SegmentedList default
    _SHIFT_RECORD = 4        # 640 bytes


cdef inline int64_t _now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <int64_t>ts.tv_sec * 1000000000 + <int64_t>ts.tv_nsec


cdef inline void _fill_record(rec_t* r, Py_ssize_t i) noexcept nogil:
    r.id = i
    r.kind = <int32_t>(i & 7)
    r.flags = 0
    r.value = <double>i
    r.left = i * 3 + 1
    r.right = i * 3 + 2


# -- a fresh mapping, as segpy maps large segments -----------------------------

cdef char* _map_fresh(size_t nbytes, size_t* span, char** raw) except NULL:
    # Over-map by a huge page so the array can start on a 2 MiB boundary.
    span[0] = nbytes + _HUGE
    raw[0] = <char*>segpy_os_map(span[0])
    if raw[0] == NULL:
        raise MemoryError(f"cannot map {span[0]} bytes for the floor array")
    cdef char* p = <char*>((<size_t>raw[0] + _HUGE - 1) & ~(<size_t>_HUGE - 1))
    segpy_os_hugepage(p, nbytes)
    return p


# -- the list side ---------------------------------------------------------

cdef int _start(seglist_t* s, Allocator alloc, Py_ssize_t itemsize, int shift,
                Py_ssize_t n, bint warm) except -1:
    """Set up a list for a push measure: new (fresh) or filled and truncated (warm)."""
    cdef int rc
    s.epoch = 0
    seglist_init(s, itemsize, shift, &alloc.iface)
    if warm:
        rc = seglist_reserve(s, n)
        if rc != 0:
            seglist_raise(s, alloc, rc, n)
        _touch(s, n)
    return 0


cdef int _touch(seglist_t* s, Py_ssize_t n) except -1:
    # Write every byte of every segment the pushes will use, untimed.
    cdef int j = 0
    cdef Py_ssize_t cap = 0, seg
    while cap < n:
        seg = (<Py_ssize_t>1 << (s.shift + j))
        memset(s.segs[j], 1, seg * s.itemsize)
        cap += seg
        j += 1
    return 0


cdef int64_t _sum_int64(const seglist_t* s) noexcept nogil:
    cdef int64_t acc = 0
    cdef Py_ssize_t k, cnt
    cdef int j
    cdef char* p
    for j in range(seglist_used_segments(s)):
        p = seglist_segment(s, j, &cnt)
        for k in range(cnt):
            acc += (<int64_t*>p)[k]
    return acc


cdef int64_t _sum_records(const seglist_t* s) noexcept nogil:
    cdef int64_t acc = 0
    cdef Py_ssize_t k, cnt
    cdef int j
    cdef rec_t* p
    for j in range(seglist_used_segments(s)):
        p = <rec_t*>seglist_segment(s, j, &cnt)
        for k in range(cnt):
            acc += p[k].id + p[k].kind + p[k].left + p[k].right + <int64_t>p[k].value
    return acc


def push_int64(Allocator alloc not None, Py_ssize_t n, str variant="checked",
               bint warm=False):
    """Push ``n`` int64 onto a list on ``alloc`` without the GIL.

    ``variant``: ``"checked"`` (``seglist_push_value``), ``"unchecked"``
    (``seglist_push_value_unchecked``) or ``"emplace"`` (``seglist_emplace``
    and a store).  Returns ``(ns, checksum)``; MemoryError if a push failed.
    """
    cdef seglist_t s
    cdef Py_ssize_t i
    cdef int rc = 0, v
    cdef int64_t t0, t1, acc
    cdef char* p
    if variant not in ("checked", "unchecked", "emplace"):
        raise ValueError(f"unknown variant {variant!r}")
    v = ("checked", "unchecked", "emplace").index(variant)
    _start(&s, alloc, 8, _SHIFT_INT64, n, warm)
    try:
        with nogil:
            t0 = _now()
            if v == 0:
                for i in range(n):
                    rc = seglist_push_value(&s, <int64_t>(i * 3 + 1))
                    if rc != 0:
                        break
            elif v == 1:
                for i in range(n):
                    rc = seglist_push_value_unchecked(&s, <int64_t>(i * 3 + 1))
                    if rc != 0:
                        break
            else:
                for i in range(n):
                    p = seglist_emplace(&s)
                    if p == NULL:
                        rc = s.last_error
                        break
                    (<int64_t*>p)[0] = i * 3 + 1
            t1 = _now()
            acc = _sum_int64(&s)
        seglist_raise(&s, alloc, rc, n)
        return t1 - t0, acc
    finally:
        seglist_destroy(&s)


def floor_int64(Py_ssize_t n, bint warm=False):
    """Store the same ``n`` int64 into one preallocated array.  ``(ns, checksum)``."""
    cdef size_t nbytes = <size_t>n * 8, span
    cdef char* raw
    cdef int64_t* a = <int64_t*>_map_fresh(nbytes, &span, &raw)
    cdef Py_ssize_t i
    cdef int64_t t0, t1, acc = 0
    with nogil:
        if warm:
            memset(a, 1, nbytes)
        t0 = _now()
        for i in range(n):
            a[i] = i * 3 + 1
        t1 = _now()
        for i in range(n):
            acc += a[i]
        segpy_os_unmap(raw, span)
    return t1 - t0, acc


def push_records(Allocator alloc not None, Py_ssize_t n, str variant="emplace",
                 bint warm=False):
    """Push ``n`` 40-byte records onto a list on ``alloc`` without the GIL.

    ``variant``: ``"emplace"`` (``seglist_emplace`` and a struct store, the
    recommended record push) or ``"push_bytes"`` (``seglist_push_bytes`` of
    a struct built on the stack: a size check and a memcpy of ``itemsize``
    bytes).  Returns ``(ns, checksum)``.
    """
    cdef seglist_t s
    cdef rec_t r
    cdef Py_ssize_t i
    cdef int rc = 0, v
    cdef int64_t t0, t1, acc
    cdef char* p
    if variant not in ("emplace", "push_bytes"):
        raise ValueError(f"unknown variant {variant!r}")
    v = 0 if variant == "emplace" else 1
    _start(&s, alloc, sizeof(rec_t), _SHIFT_RECORD, n, warm)
    try:
        with nogil:
            t0 = _now()
            if v == 0:
                for i in range(n):
                    p = seglist_emplace(&s)
                    if p == NULL:
                        rc = s.last_error
                        break
                    _fill_record(<rec_t*>p, i)
            else:
                for i in range(n):
                    _fill_record(&r, i)
                    rc = seglist_push_bytes(&s, &r, sizeof(rec_t))
                    if rc != 0:
                        break
            t1 = _now()
            acc = _sum_records(&s)
        seglist_raise(&s, alloc, rc, n)
        return t1 - t0, acc
    finally:
        seglist_destroy(&s)


def floor_records(Py_ssize_t n, bint warm=False):
    """Store the same ``n`` records into one preallocated array.  ``(ns, checksum)``."""
    cdef size_t nbytes = <size_t>n * sizeof(rec_t), span
    cdef char* raw
    cdef rec_t* a = <rec_t*>_map_fresh(nbytes, &span, &raw)
    cdef Py_ssize_t i
    cdef int64_t t0, t1, acc = 0
    with nogil:
        if warm:
            memset(a, 1, nbytes)
        t0 = _now()
        for i in range(n):
            _fill_record(&a[i], i)
        t1 = _now()
        for i in range(n):
            acc += a[i].id + a[i].kind + a[i].left + a[i].right + <int64_t>a[i].value
        segpy_os_unmap(raw, span)
    return t1 - t0, acc


cdef extern from *:
    """
    /* The running sum of a get loop, kept in a general register after every
     * add.  gcc turns `sum += a[ix[i]]` over a plain array into pairs of
     * scalar loads summed in an SSE register (two accumulators), which the
     * list's loop, whose lookup has a bit scan, cannot get; the barrier makes
     * both loops the same scalar loop, so that they differ only in the
     * indexing.  It emits no instruction. */
    #if defined(__GNUC__) || defined(__clang__)
    static inline int64_t bench_scalar_sum(int64_t v) { __asm__("" : "+r"(v)); return v; }
    #else
    static inline int64_t bench_scalar_sum(int64_t v) { return v; }
    #endif
    """
    int64_t bench_scalar_sum(int64_t v) noexcept nogil


cdef inline int64_t _cpu_now() noexcept nogil:
    # The calling thread's CPU time: a pass that another process preempts is
    # not charged for the time it waited (the machine the report runs on is
    # often shared), which wall-clock time would add to whichever side was
    # running.
    cdef timespec ts
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return <int64_t>ts.tv_sec * 1000000000 + <int64_t>ts.tv_nsec


cdef int64_t _gets_list(const seglist_t* s, const int64_t* ix, Py_ssize_t m,
                        Py_ssize_t sweeps, int how, int64_t* acc) noexcept nogil:
    # One timed pass: sweeps * m gets through an inline lookup; returns ns.
    # how: 0 typed (seglist_get_value_unchecked), 1 pointer
    # (seglist_at_unchecked), 2 checked pointer (seglist_at).
    cdef int64_t t0, t1, v, sum = 0
    cdef Py_ssize_t i, _w
    cdef char* p
    t0 = _cpu_now()
    if how == 0:
        for _w in range(sweeps):
            for i in range(m):
                seglist_get_value_unchecked(s, ix[i], &v)
                sum = bench_scalar_sum(sum + v)
    elif how == 1:
        for _w in range(sweeps):
            for i in range(m):
                sum = bench_scalar_sum(sum + (<int64_t*>seglist_at_unchecked(s, ix[i]))[0])
    else:
        for _w in range(sweeps):
            for i in range(m):
                p = seglist_at(s, ix[i])
                if p != NULL:
                    sum = bench_scalar_sum(sum + (<int64_t*>p)[0])
    t1 = _cpu_now()
    acc[0] = sum
    return t1 - t0


cdef int64_t _gets_array(const int64_t* a, const int64_t* ix, Py_ssize_t m,
                         Py_ssize_t sweeps, bint scalar, int64_t* acc) noexcept nogil:
    # The floor: the same pass over one preallocated array.  scalar: the
    # list's loop shape (the target's floor); else the loop as the compiler
    # makes it (vectorised by gcc: info).
    cdef int64_t t0, t1, sum = 0
    cdef Py_ssize_t i, _w
    t0 = _cpu_now()
    if scalar:
        for _w in range(sweeps):
            for i in range(m):
                sum = bench_scalar_sum(sum + a[ix[i]])
    else:
        for _w in range(sweeps):
            for i in range(m):
                sum += a[ix[i]]
    t1 = _cpu_now()
    acc[0] = sum
    return t1 - t0


cdef int _pass_pair(const seglist_t* s, const int64_t* a, const int64_t* ix,
                    Py_ssize_t m, Py_ssize_t sweeps, int how, int side,
                    int64_t* ns, int64_t* acc) noexcept nogil:
    # An untimed pass, then a timed one, over one side (0 list, 1 array,
    # 2 array as compiled), so every timed pass starts from the same warm
    # cache state.  Both sums are kept: the compiler cannot drop the
    # untimed pass as dead, and the caller checks that all agree.
    if side == 0:
        _gets_list(s, ix, m, sweeps, how, &acc[0])
        ns[0] = _gets_list(s, ix, m, sweeps, how, &acc[1])
    else:
        _gets_array(a, ix, m, sweeps, side == 1, &acc[0])
        ns[0] = _gets_array(a, ix, m, sweeps, side == 1, &acc[1])
    return 0


def random_get(Allocator alloc not None, Py_ssize_t n, const int64_t[::1] idx,
               str get="typed", int rounds=1, Py_ssize_t sweeps=1):
    """Sum the elements at ``idx`` of an int64 list and of its floor array, ``rounds`` times.

    Both hold ``n`` elements ``i*3+1`` and are built untimed: the list by
    pushes on ``alloc``, the array in a fresh 2 MiB-aligned mapping advised
    for huge pages (as segpy maps large segments).  A pass is ``sweeps``
    sweeps over ``idx`` (a short index sequence swept several times stays
    in cache, so a small list's pass measures its gets rather than the
    memory bandwidth of streaming the indices).  Each round times one pass
    over the list and one over the array, alternating which goes first,
    then one pass of the plain array loop as the compiler makes it; every
    timed pass comes right after an untimed pass over the same structure,
    so all are timed in the same, warm, cache state.  Pairing the passes in
    one call puts both sides under the same cache and machine conditions; a
    ratio between separately built structures mostly measured where their
    pages landed.  Passes are timed in thread CPU time.

    ``get`` picks the list's get: ``"typed"`` (``seglist_get_value_unchecked``
    into an ``int64_t``), ``"pointer"`` (``seglist_at_unchecked``) or
    ``"checked"`` (``seglist_at``, NULL-checked).  The list and the array
    floor run the same scalar loop (see ``bench_scalar_sum``); the third
    side is the array loop without that barrier.  Every index must be in
    ``[0, n)``.

    Returns ``(list_ns, array_ns, compiled_ns, sum)``: three lists of
    per-pass ns and the sum, which every pass of every side must agree on
    (else RuntimeError).
    """
    cdef seglist_t s
    cdef Py_ssize_t i, m = idx.shape[0]
    cdef int64_t acc[6]
    cdef int64_t ns[3]
    cdef int64_t* a = NULL
    cdef size_t span = 0
    cdef char* raw = NULL
    cdef int rc = 0, r, how, k
    cdef const int64_t* ix = &idx[0] if m else NULL
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    if sweeps < 1:
        raise ValueError("sweeps must be at least 1")
    if get not in ("typed", "pointer", "checked"):
        raise ValueError(f"unknown get {get!r}")
    how = ("typed", "pointer", "checked").index(get)
    if m and (np.min(idx) < 0 or np.max(idx) >= n):
        raise ValueError("indices out of range")
    list_ns, array_ns, compiled_ns = [], [], []
    s.epoch = 0
    seglist_init(&s, 8, _SHIFT_INT64, &alloc.iface)
    try:
        with nogil:
            for i in range(n):
                rc = seglist_push_value(&s, <int64_t>(i * 3 + 1))
                if rc != 0:
                    break
        seglist_raise(&s, alloc, rc, n)
        a = <int64_t*>_map_fresh(<size_t>n * 8, &span, &raw)
        with nogil:
            for i in range(n):
                a[i] = i * 3 + 1
        for r in range(rounds):
            # On a list near the cache size the two structures evict each
            # other: the untimed pass before each timed one keeps the side
            # timed second from being measured cold.
            with nogil:
                if r % 2 == 0:
                    _pass_pair(&s, a, ix, m, sweeps, how, 0, &ns[0], &acc[0])
                    _pass_pair(&s, a, ix, m, sweeps, how, 1, &ns[1], &acc[2])
                else:
                    _pass_pair(&s, a, ix, m, sweeps, how, 1, &ns[1], &acc[2])
                    _pass_pair(&s, a, ix, m, sweeps, how, 0, &ns[0], &acc[0])
                _pass_pair(&s, a, ix, m, sweeps, how, 2, &ns[2], &acc[4])
            for k in range(1, 6):
                if acc[k] != acc[0]:
                    raise RuntimeError(f"sums differ: {[acc[j] for j in range(6)]} "
                                       "(list, list, array, array, compiled, compiled)")
            list_ns.append(ns[0])
            array_ns.append(ns[1])
            compiled_ns.append(ns[2])
        return list_ns, array_ns, compiled_ns, acc[0]
    finally:
        if raw != NULL:
            segpy_os_unmap(raw, span)
        seglist_destroy(&s)
