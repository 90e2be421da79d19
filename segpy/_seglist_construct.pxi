# Construction: the body of SegmentedList(...) and the type's vectorcall.
# Included by seglist.pyx.
#
# Why a vectorcall.  ``SegmentedList(dt)`` went through type.__call__: a
# tuple of the arguments, tp_new, then the tp_init that Cython generates for
# ``__init__(self, *args, **kwargs)``, which builds an empty kwargs dict on
# every call (the signature is by hand so that a bad call names the class,
# _bind_args.pxi).  For a list extended once by 1,000 elements, that was a
# tenth of the whole.  The type's own vectorcall entry (``tp_vectorcall``,
# which CPython uses to call a type object, and which a subclass never
# inherits) takes the common call, one positional argument and no keyword,
# straight to tp_new and ``_init``; every other call goes where it went
# before, through the metatype's tp_call.

cdef extern from *:
    """
    /* type.__call__ for t, through its metatype's tp_call (type_call:
       tp_new, then tp_init), never through t's own vectorcall. */
    static PyObject *segpy_type_call(PyObject *t, PyObject *args, PyObject *kw) {
        return Py_TYPE(t)->tp_call(t, args, kw);
    }
    """
    object _type_call "segpy_type_call"(object t, object args, PyObject* kw)

cdef extern from "Python.h":
    ctypedef struct _CallSlots "PyTypeObject":
        void* tp_vectorcall
    Py_ssize_t _vectorcall_nargs "PyVectorcall_NARGS"(size_t nargsf) noexcept nogil
    void _type_modified "PyType_Modified"(PyTypeObject* t) noexcept


cdef int _init(SegmentedList self, object dtype, object iterable, object allocator,
               object first_segment) except -1:
    """``SegmentedList.__init__`` once its arguments are bound."""
    dt = _list_dtype(dtype)
    cdef Allocator alloc = _resolve_allocator(allocator)
    cdef int shift = _shift_for(first_segment, (<cnp.dtype>dt).itemsize)
    if iterable is None:
        # As array.array('q', None) and list(None): not an empty list.
        raise TypeError("'NoneType' object is not iterable")
    # Checked after the arguments are parsed (that runs Python code) and
    # with nothing but C between here and the new layout.
    if self._exports:
        raise BufferError("cannot re-initialise a SegmentedList while segment views exist")
    _check_no_phase(self)
    if _file_backed(self):
        raise TypeError("cannot re-initialise a file-backed SegmentedList: its "
                        "FileAllocator maps this list's segments only")
    if self._busy:
        raise RuntimeError(
            "cannot re-initialise a SegmentedList while one of its methods is running "
            "(from a conversion hook, an iterator, a finaliser or another thread)")
    seglist_destroy(&self.c)
    _setup(self, dt, alloc, shift)
    self._shift_free = first_segment is None
    if not (type(iterable) is tuple and len(iterable) == 0):
        self.extend(iterable)
    return 0


cdef object _construct_vectorcall(PyObject* t, PyObject** args, size_t nargsf,
                                  PyObject* kwnames):
    # SegmentedList's tp_vectorcall (the C signature of a vectorcallfunc:
    # a new reference, or NULL with an exception set).
    cdef Py_ssize_t n = _vectorcall_nargs(nargsf)
    cdef Py_ssize_t i
    cdef SegmentedList self
    if kwnames == NULL and n == 1 and t == <PyObject*>SegmentedList:
        self = SegmentedList.__new__(SegmentedList)
        _init(self, <object>args[0], (), None, None)
        return self
    # Anything else as type.__call__ does it (tp_new, then tp_init); the
    # metatype's tp_call does not come back here, as PyObject_Call would.
    argtuple = tuple([<object>args[i] for i in range(n)])
    if kwnames == NULL:
        return _type_call(<object>t, argtuple, NULL)
    kwdict = {}
    for i in range(PyTuple_GET_SIZE(<object>kwnames)):
        kwdict[<object>PyTuple_GET_ITEM(<object>kwnames, i)] = <object>args[n + i]
    return _type_call(<object>t, argtuple, <PyObject*>kwdict)


(<_CallSlots*><PyTypeObject*>SegmentedList).tp_vectorcall = <void*>_construct_vectorcall
_type_modified(<PyTypeObject*>SegmentedList)
