# cython: language_level=3
"""C-level benchmark of concurrent pushes (``benchmarks/concurrent_report.py``).

``push_threads(lst, n, nthreads, warm)`` pushes the int64 values
``i * 3 + 1`` for ``i < n`` into ``lst`` from ``nthreads`` OpenMP threads
(a static ``prange``), each through its own writer
(``seglist_cc_push``), in one concurrent phase, and returns
``(elapsed_ns, checksum)``: the time between two ``clock_gettime`` calls
around the phase (begin to end, segment requests included), and the sum of
the list's elements computed afterwards, which the report compares with
the expected sum so the loop cannot be dropped.  With ``warm`` the list is
expected to have its segments already (filled once, truncated to 0), so
the time excludes page faults.  ``push_plain(lst, n)`` is the one-thread
loop of ordinary pushes (``seglist_push_value``), for reference.

``store_threads(n, nthreads, warm)`` is the machine's own ceiling, with no
list: the same values stored by the same static ``prange`` into a new
anonymous mapping, 2 MiB-aligned and advised for huge pages as the list's
large segments are; with ``warm`` the mapping is written once (untimed)
before the timed loop.  Returns ``(elapsed_ns, checksum, 0)``.
"""

from libc.stdint cimport int64_t
from libc.stdlib cimport free
from libc.stdlib cimport malloc
from posix.time cimport CLOCK_MONOTONIC
from posix.time cimport clock_gettime
from posix.time cimport timespec

from cython.parallel cimport parallel
from cython.parallel cimport prange
from cython.parallel cimport threadid

cdef extern from "<sys/mman.h>":
    int MADV_HUGEPAGE

from posix.mman cimport MAP_ANONYMOUS
from posix.mman cimport MAP_FAILED
from posix.mman cimport MAP_PRIVATE
from posix.mman cimport PROT_READ
from posix.mman cimport PROT_WRITE
from posix.mman cimport madvise
from posix.mman cimport mmap
from posix.mman cimport munmap
from libc.string cimport memset

cimport segpy.seglist as sl
from segpy.seglist cimport SegmentedList


cdef inline long long _now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec * 1000000000LL + ts.tv_nsec


cdef int64_t _checksum(SegmentedList lst):
    return int(lst.sum())


def push_threads(SegmentedList lst, Py_ssize_t n, int nthreads):
    """Push n int64 from nthreads threads in one phase; (elapsed_ns, checksum, error)."""
    cdef sl.seglist_cc_t cc
    cdef sl.seglist_cc_writer_t* ws
    cdef Py_ssize_t i
    cdef int64_t v
    cdef int t, err = 0
    cdef long long t0, t1
    if lst.itemsize != 8:
        raise ValueError("an int64 list is needed")
    ws = <sl.seglist_cc_writer_t*>malloc(nthreads * sizeof(sl.seglist_cc_writer_t))
    if ws == NULL:
        raise MemoryError()
    with nogil:
        t0 = _now()
        sl.seglist_cc_begin(&cc, &lst.c)
        with parallel(num_threads=nthreads):
            t = threadid()
            sl.seglist_cc_writer_init(&ws[t], &cc)
            for i in prange(n, schedule="static"):
                v = i * 3 + 1
                sl.seglist_cc_push(&ws[t], &v)
            sl.seglist_cc_writer_flush(&ws[t])
        sl.seglist_cc_end(&cc)
        t1 = _now()
    err = cc.error
    free(ws)
    return t1 - t0, _checksum(lst), err


def push_plain(SegmentedList lst, Py_ssize_t n):
    """Push n int64 with ordinary pushes on one thread; (elapsed_ns, checksum, error)."""
    cdef sl.seglist_t* s = &lst.c
    cdef Py_ssize_t i
    cdef int rc = 0
    cdef long long t0, t1
    with nogil:
        t0 = _now()
        for i in range(n):
            rc = sl.seglist_push_value(s, <int64_t>(i * 3 + 1))
            if rc != 0:
                break
        t1 = _now()
    return t1 - t0, _checksum(lst), rc


def store_threads(Py_ssize_t n, int nthreads, bint warm=False):
    """Store n int64 from nthreads threads into a new mapping; (elapsed_ns, checksum, 0)."""
    cdef size_t huge = 2 << 20
    cdef size_t nbytes = <size_t>n * 8
    cdef size_t span = nbytes + huge
    cdef char* raw
    cdef int64_t* p
    cdef Py_ssize_t i
    cdef int64_t total = 0
    cdef long long t0, t1
    raw = <char*>mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    if <void*>raw == MAP_FAILED:
        raise MemoryError()
    p = <int64_t*>(raw + (-<size_t>raw & (huge - 1)))
    try:
        with nogil:
            madvise(p, nbytes, MADV_HUGEPAGE)
            if warm:
                memset(p, 1, nbytes)
            t0 = _now()
            for i in prange(n, schedule="static", num_threads=nthreads):
                p[i] = i * 3 + 1
            t1 = _now()
            for i in range(n):
                total += p[i]
    finally:
        munmap(raw, span)
    return t1 - t0, total, 0
