# cython: language_level=3
"""C-level allocator benchmarks: the same timed loop through the seam and for glibc.

Every function takes ``alloc``: a :class:`segpy.Allocator`, driven only
through its C interface ``Allocator.iface`` (so any allocator of the family
works, including ones written later), or ``None`` for glibc's ``malloc`` /
``free`` called directly.  The segpy and glibc loops are written twice,
statement for statement, so the only difference is the allocator called.

Rules every loop follows, so that the comparison is honest:

* The timed region is a ``nogil`` C loop between two
  ``clock_gettime(CLOCK_MONOTONIC)`` calls; the functions return the
  elapsed **total** nanoseconds (divide by ``n`` for ns/op).
* Pointers are kept in a C array malloc'd and pre-touched *before* the timed
  region, so neither the compiler nor page faults on that array distort it.
* One byte of every block is written (its index), on both sides, so a lazy
  allocator cannot hand out untouched address space for free.
* Seam requests ask for 16-byte alignment: glibc's natural malloc alignment.
* Everything still live at the end is released untimed; an allocator that
  reports a misuse raises AllocatorError *after* the cleanup, and a failed
  request raises MemoryError after releasing what was obtained.
"""

from libc.stdint cimport int64_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memset
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

from segpy._bump cimport bump_request_fast
from segpy._bump cimport bump_t
from segpy.alloc cimport Allocator
from segpy.alloc cimport raise_alloc_error
from segpy.alloc cimport raise_misuse
from segpy.alloc cimport segpy_allocator_t

import operator

import numpy as np

from segpy.bump import BumpAllocator

__all__ = ["requests", "lifo_pairs", "realloc_after_random_free", "random_free",
           "request_only", "bump_requests_inline", "ALIGN"]

#: Alignment of every seam request (glibc malloc's natural alignment on x86-64).
ALIGN = 16
cdef size_t _ALIGN = 16
# Guard against absurd arguments (a typo'd n would otherwise try to allocate
# terabytes of pointer array before any check in the allocator fires).
cdef Py_ssize_t _MAX_N = 1 << 31
cdef Py_ssize_t _MAX_SIZE = 1 << 30


cdef inline int64_t _now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <int64_t>ts.tv_sec * 1000000000 + <int64_t>ts.tv_nsec


# ---------------------------------------------------------------------------
# Argument checking (Python side; nothing here is timed).
# ---------------------------------------------------------------------------

cdef Py_ssize_t _check_n(object n) except -1:
    k = operator.index(n)   # TypeError for floats; compared as a Python int,
    if k < 1 or k > _MAX_N:  # so a huge value is a ValueError, not an OverflowError
        raise ValueError(f"n must be in [1, {_MAX_N}], got {k}")
    return k


cdef Py_ssize_t _check_size(object size) except -1:
    s = operator.index(size)
    if s < 1 or s > _MAX_SIZE:
        raise ValueError(f"size must be in [1, {_MAX_SIZE}], got {s}")
    return s


cdef object _check_perm(object perm, Py_ssize_t n):
    """Return ``perm`` as a contiguous intp ndarray, checked to be a permutation of range(n).

    A repeated index would free a block twice (a crash for glibc), so this is
    checked exactly, untimed."""
    arr = np.asarray(perm)
    if arr.ndim != 1:
        raise ValueError(f"perm must be 1-D, got {arr.ndim} dimensions")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"perm must hold integers, got dtype {arr.dtype}")
    if arr.shape[0] != n:
        raise ValueError(f"perm has length {arr.shape[0]}, expected n = {n}")
    arr = np.ascontiguousarray(arr, dtype=np.intp)
    cdef const Py_ssize_t[::1] p = arr
    cdef char* seen = <char*>calloc(<size_t>n, 1)
    cdef Py_ssize_t i, j, bad = -1
    if seen == NULL:
        raise MemoryError("no memory to check perm")
    with nogil:
        for i in range(n):
            j = p[i]
            if j < 0 or j >= n or seen[j]:
                bad = i
                break
            seen[j] = 1
    free(seen)
    if bad >= 0:
        raise ValueError(f"perm is not a permutation of range({n}): "
                         f"perm[{bad}] = {p[bad]} is out of range or repeated")
    return arr


cdef object _check_sizes(object sizes):
    arr = np.asarray(sizes)
    if arr.ndim != 1 or arr.shape[0] == 0:
        raise ValueError("sizes must be a non-empty 1-D array")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"sizes must hold integers, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.intp)
    if arr.min() < 1 or arr.max() > _MAX_SIZE:
        raise ValueError(f"sizes must be in [1, {_MAX_SIZE}]")
    return arr


cdef void** _ptr_array(Py_ssize_t n) except NULL:
    # Pre-touched so its page faults are paid here, not inside a timed loop.
    cdef void** ptrs = <void**>malloc(<size_t>n * sizeof(void*))
    if ptrs == NULL:
        raise MemoryError(f"no memory for {n} pointers")
    memset(ptrs, 0, <size_t>n * sizeof(void*))
    return ptrs


# ---------------------------------------------------------------------------
# Untimed helpers shared by the benchmarks.
# ---------------------------------------------------------------------------

cdef Py_ssize_t _fill(segpy_allocator_t* a, void** ptrs, size_t size,
                      Py_ssize_t n) noexcept nogil:
    """Request ``n`` blocks into ``ptrs`` (glibc if ``a`` is NULL); return how many succeeded."""
    cdef Py_ssize_t i
    cdef void* q
    for i in range(n):
        q = malloc(size) if a == NULL else a.request(a.ctx, size, _ALIGN)
        if q == NULL:
            return i
        (<char*>q)[0] = <char>i
        ptrs[i] = q
    return n


cdef int _drain(segpy_allocator_t* a, void** ptrs, size_t size,
                Py_ssize_t n) noexcept nogil:
    """Release ``ptrs[n-1] .. ptrs[0]`` (newest first: a bump arena can rewind);
    skip NULLs; return the first misuse code (0 if none) but release all the rest."""
    cdef Py_ssize_t i
    cdef int rc, first = 0
    for i in range(n - 1, -1, -1):
        if ptrs[i] == NULL:
            continue
        if a == NULL:
            free(ptrs[i])
        else:
            rc = a.release(a.ctx, ptrs[i], size)
            if rc < 0 and first == 0:
                first = rc
        ptrs[i] = NULL
    return first


cdef int _finish(Allocator alloc, int rc, Py_ssize_t got, Py_ssize_t want,
                 size_t size, str what) except -1:
    """Raise for a failed request (``got < want``) or a reported misuse (``rc < 0``)."""
    if got < want:
        if alloc is None:
            raise MemoryError(f"glibc malloc({size}) failed after {got} blocks ({what})")
        raise_alloc_error(alloc, size, what)
    if rc < 0:
        raise_misuse(alloc, rc)
    return 0


# ---------------------------------------------------------------------------
# The benchmarks.
# ---------------------------------------------------------------------------

def requests(Allocator alloc, size, n, *, bint release=True):
    """Time ``n`` requests of ``size`` bytes with no release in between.

    Parameters
    ----------
    alloc : Allocator or None
        The allocator, driven through its C interface; ``None`` for glibc malloc.
    size : int
        Bytes per request (1 .. 2**30).
    n : int
        Number of requests (1 .. 2**31).
    release : bool, optional
        If True (the default) every block is released afterwards, untimed,
        newest first.  If False the blocks are left to the allocator, which
        must have a ``reset()`` method the caller calls (the bump arena's
        way); a ValueError is raised otherwise, since the memory would leak.

    Returns
    -------
    int
        Nanoseconds of the timed loop (all ``n`` requests).

    Raises
    ------
    MemoryError
        If a request fails (the blocks obtained are released first).
    AllocatorError
        If the allocator reports a misuse on release.
    ValueError, TypeError
        For bad arguments.
    """
    cdef Py_ssize_t k = _check_n(n)
    cdef size_t sz = <size_t>_check_size(size)
    if not release and (alloc is None or not hasattr(alloc, "reset")):
        raise ValueError("release=False needs an allocator with reset()")
    cdef segpy_allocator_t iface
    cdef segpy_allocator_t* a = NULL
    if alloc is not None:
        iface = alloc.iface
        a = &iface
    cdef void** ptrs = _ptr_array(k)
    cdef Py_ssize_t i, got = k
    cdef void* q
    cdef int64_t t0, t1
    cdef int rc = 0
    with nogil:
        if a == NULL:
            t0 = _now()
            for i in range(k):
                q = malloc(sz)
                if q == NULL:
                    got = i
                    break
                (<char*>q)[0] = <char>i
                ptrs[i] = q
            t1 = _now()
        else:
            t0 = _now()
            for i in range(k):
                q = a.request(a.ctx, sz, _ALIGN)
                if q == NULL:
                    got = i
                    break
                (<char*>q)[0] = <char>i
                ptrs[i] = q
            t1 = _now()
        if release or got < k:
            rc = _drain(a, ptrs, sz, got)
    free(ptrs)
    _finish(alloc, rc, got, k, sz, "requests benchmark")
    return t1 - t0


def lifo_pairs(Allocator alloc, sizes, n):
    """Time ``n`` request+release pairs, the size cycling through ``sizes``.

    Parameters
    ----------
    alloc : Allocator or None
        The allocator; ``None`` for glibc malloc/free.
    sizes : array_like of int
        Request sizes, used in turn (e.g. ``np.arange(16, 257, 16)``).
    n : int
        Number of pairs.

    Returns
    -------
    int
        Nanoseconds of the timed loop.

    Raises
    ------
    MemoryError, AllocatorError, ValueError, TypeError
        As for :func:`requests`.
    """
    cdef Py_ssize_t k = _check_n(n)
    arr = _check_sizes(sizes)
    cdef const Py_ssize_t[::1] sz = arr
    cdef Py_ssize_t m = sz.shape[0]
    cdef segpy_allocator_t iface
    cdef segpy_allocator_t* a = NULL
    if alloc is not None:
        iface = alloc.iface
        a = &iface
    cdef Py_ssize_t i, j = 0, got = k
    cdef size_t s = 0
    cdef void* q
    cdef int64_t t0, t1
    cdef int rc = 0, r
    with nogil:
        if a == NULL:
            t0 = _now()
            for i in range(k):
                s = <size_t>sz[j]
                j += 1
                if j == m:
                    j = 0
                q = malloc(s)
                if q == NULL:
                    got = i
                    break
                (<char*>q)[0] = <char>i
                free(q)
            t1 = _now()
        else:
            t0 = _now()
            for i in range(k):
                s = <size_t>sz[j]
                j += 1
                if j == m:
                    j = 0
                q = a.request(a.ctx, s, _ALIGN)
                if q == NULL:
                    got = i
                    break
                (<char*>q)[0] = <char>i
                r = a.release(a.ctx, q, s)
                if r < 0:
                    rc = r
                    break
            t1 = _now()
    _finish(alloc, rc, got, k, s, "lifo_pairs benchmark")
    return t1 - t0


def realloc_after_random_free(Allocator alloc, size, n, perm):
    """Time ``n`` requests into a heap whose ``n`` blocks were freed in random order.

    Untimed: request ``n`` blocks of ``size`` and release them in the order
    ``perm``.  Timed: request ``n`` blocks of ``size``.  Untimed: release
    them.  This is where a free list's order (and its cache misses) shows.

    Parameters
    ----------
    alloc : Allocator or None
        The allocator; ``None`` for glibc malloc/free.
    size : int
        Bytes per block.
    n : int
        Number of blocks.
    perm : array_like of int
        A permutation of ``range(n)``.

    Returns
    -------
    int
        Nanoseconds of the timed requests.

    Raises
    ------
    ValueError
        If `perm` is not a permutation of ``range(n)``.
    MemoryError, AllocatorError, TypeError
        As for :func:`requests`.
    """
    cdef Py_ssize_t k = _check_n(n)
    cdef size_t sz = <size_t>_check_size(size)
    parr = _check_perm(perm, k)
    cdef const Py_ssize_t[::1] p = parr
    cdef segpy_allocator_t iface
    cdef segpy_allocator_t* a = NULL
    if alloc is not None:
        iface = alloc.iface
        a = &iface
    cdef void** ptrs = _ptr_array(k)
    cdef Py_ssize_t i, got
    cdef void* q
    cdef int64_t t0 = 0, t1 = 0
    cdef int rc = 0, r
    with nogil:
        got = _fill(a, ptrs, sz, k)
        if got == k:
            # Release in perm order (untimed).
            for i in range(k):
                q = ptrs[p[i]]
                ptrs[p[i]] = NULL
                if a == NULL:
                    free(q)
                else:
                    r = a.release(a.ctx, q, sz)
                    if r < 0 and rc == 0:
                        rc = r
            if rc == 0:
                if a == NULL:
                    t0 = _now()
                    for i in range(k):
                        q = malloc(sz)
                        if q == NULL:
                            got = i
                            break
                        (<char*>q)[0] = <char>i
                        ptrs[i] = q
                    t1 = _now()
                else:
                    t0 = _now()
                    for i in range(k):
                        q = a.request(a.ctx, sz, _ALIGN)
                        if q == NULL:
                            got = i
                            break
                        (<char*>q)[0] = <char>i
                        ptrs[i] = q
                    t1 = _now()
        r = _drain(a, ptrs, sz, k)
        if rc == 0:
            rc = r
    free(ptrs)
    _finish(alloc, rc, got, k, sz, "realloc_after_random_free benchmark")
    return t1 - t0


def random_free(Allocator alloc, size, n, perm):
    """Time releasing ``n`` blocks of ``size`` in the order ``perm``.

    Untimed: request ``n`` blocks.  Timed: release them in the order `perm`.

    Parameters
    ----------
    alloc : Allocator or None
        The allocator; ``None`` for glibc malloc/free.
    size : int
        Bytes per block.
    n : int
        Number of blocks.
    perm : array_like of int
        A permutation of ``range(n)``.

    Returns
    -------
    int
        Nanoseconds of the timed releases.

    Raises
    ------
    ValueError
        If `perm` is not a permutation of ``range(n)``.
    MemoryError, AllocatorError, TypeError
        As for :func:`requests`.
    """
    cdef Py_ssize_t k = _check_n(n)
    cdef size_t sz = <size_t>_check_size(size)
    parr = _check_perm(perm, k)
    cdef const Py_ssize_t[::1] p = parr
    cdef segpy_allocator_t iface
    cdef segpy_allocator_t* a = NULL
    if alloc is not None:
        iface = alloc.iface
        a = &iface
    cdef void** ptrs = _ptr_array(k)
    cdef Py_ssize_t i, got
    cdef void* q
    cdef int64_t t0 = 0, t1 = 0
    cdef int rc = 0, r
    with nogil:
        got = _fill(a, ptrs, sz, k)
        if got == k:
            if a == NULL:
                t0 = _now()
                for i in range(k):
                    q = ptrs[p[i]]
                    free(q)
                t1 = _now()
            else:
                t0 = _now()
                for i in range(k):
                    q = ptrs[p[i]]
                    r = a.release(a.ctx, q, sz)
                    if r < 0 and rc == 0:
                        rc = r
                t1 = _now()
            # A release that reported a misuse left its block alone; the
            # others are gone.  Either way nothing is live any more that we
            # could release safely a second time.
            memset(ptrs, 0, <size_t>k * sizeof(void*))
        else:
            _drain(a, ptrs, sz, got)
    free(ptrs)
    _finish(alloc, rc, got, k, sz, "random_free benchmark")
    return t1 - t0


def request_only(Allocator alloc not None, size, n):
    """Request ``n`` blocks of ``size`` and keep them all; return the nanoseconds taken.

    For allocators with ``reset()`` (the bump arena), to set up the reset and
    destruction benchmarks: the blocks are *not* released here; the caller
    must call ``alloc.reset()`` or drop the allocator.

    Parameters
    ----------
    alloc : Allocator
        An allocator with a ``reset()`` method.
    size, n : int
        Bytes per block and number of blocks.

    Returns
    -------
    int
        Nanoseconds spent requesting.

    Raises
    ------
    ValueError
        If `alloc` has no ``reset()`` method (the blocks would leak).
    MemoryError
        If a request fails (the blocks obtained are released first).
    """
    cdef Py_ssize_t k = _check_n(n)
    cdef size_t sz = <size_t>_check_size(size)
    if not hasattr(alloc, "reset"):
        raise ValueError("request_only needs an allocator with reset()")
    cdef segpy_allocator_t iface = alloc.iface
    cdef Py_ssize_t i, got = k
    cdef void* q
    cdef int64_t t0, t1
    with nogil:
        t0 = _now()
        for i in range(k):
            q = iface.request(iface.ctx, sz, _ALIGN)
            if q == NULL:
                got = i
                break
            (<char*>q)[0] = <char>i
        t1 = _now()
    if got < k:
        alloc.reset()
        _finish(alloc, 0, got, k, sz, "request_only benchmark")
    return t1 - t0


def bump_requests_inline(Allocator arena not None, size, n):
    """Time ``n`` requests through the arena's inline fast path (``bump_request_fast``).

    This is how Cython code that cimports ``segpy.bump`` allocates: the bump
    is compiled into the caller, with no call through the seam's function
    pointer.  The loop body is otherwise :func:`requests`'s (store the
    pointer, write one byte); the blocks are released afterwards, untimed,
    newest first, so the arena rolls back to where it started.

    Parameters
    ----------
    arena : segpy.BumpAllocator
    size : int
        Bytes per request.
    n : int
        Number of requests.

    Returns
    -------
    int
        Nanoseconds of the timed loop.
    """
    cdef Py_ssize_t k = _check_n(n)
    cdef size_t sz = <size_t>_check_size(size)
    if not isinstance(arena, BumpAllocator):
        raise TypeError(f"bump_requests_inline needs a BumpAllocator, got {type(arena).__name__}")
    cdef bump_t* b = <bump_t*>arena.common
    cdef segpy_allocator_t* a = &arena.iface
    cdef void** ptrs = _ptr_array(k)
    cdef Py_ssize_t i, got = k
    cdef void* q
    cdef int64_t t0, t1
    cdef int rc = 0
    with nogil:
        t0 = _now()
        for i in range(k):
            q = bump_request_fast(b, sz, _ALIGN)
            if q == NULL:
                got = i
                break
            (<char*>q)[0] = <char>i
            ptrs[i] = q
        t1 = _now()
        rc = _drain(a, ptrs, sz, got)
    free(ptrs)
    _finish(arena, rc, got, k, sz, "inline bump benchmark")
    return t1 - t0
