# cython: language_level=3
"""The ``first_segment`` argument, read one way by the in-memory list
(``_seglist_convert.pxi``) and the file-backed one (``file.pyx``).

Private: only segpy's own modules cimport this.  An inline function, so
each module compiles its own copy and no module calls into another.
"""

from cpython.bool cimport PyBool_Check
from cpython.number cimport PyIndex_Check
from cpython.object cimport PyObject


cdef extern from "Python.h":
    # With a NULL exception type, huge values clamp to PY_SSIZE_T_MIN/MAX
    # instead of raising, so range checks can say ValueError (seglist.pyx
    # reads lengths with it too).
    Py_ssize_t _segpy_as_ssize_clamped "PyNumber_AsSsize_t" (object o, PyObject* exc) except? -1


cdef inline int segpy_first_segment_shift(object first_segment, int max_shift) except -1:
    """``s`` for a ``first_segment`` of ``2**s`` elements.

    ``first_segment`` is an int (or has ``__index__``; not a bool): a
    power of two from 1 to ``2**max_shift``.  TypeError or ValueError
    otherwise.
    """
    cdef Py_ssize_t n
    cdef int shift = 0
    if not PyIndex_Check(first_segment) or PyBool_Check(first_segment):
        raise TypeError(
            f"first_segment must be an int, not {type(first_segment).__name__}")
    n = _segpy_as_ssize_clamped(first_segment, NULL)
    if n < 1 or n > (<Py_ssize_t>1 << max_shift) or (n & (n - 1)) != 0:
        raise ValueError(
            f"first_segment must be a power of two from 1 to 2**{max_shift}, "
            f"got {first_segment}")
    while (<Py_ssize_t>1 << shift) != n:
        shift += 1
    return shift
