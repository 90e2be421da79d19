# Sealing segpy's internal types against construction from Python.
# Included by alloc.pyx, which exports ``segpy_seal_new`` through alloc.pxd
# (seglist.pyx and bump.pyx seal their own internal types with it).

# Iterators, segment exports and scopes are only valid as segpy makes them:
# their fields (a list's address, an arena) are filled in right after
# construction by C code.  Made from Python (``type(it)()``, or
# ``cls.__new__(cls)``, which skips ``__init__`` but not the type's tp_new),
# they would hold NULL pointers.  So their tp_new slot is replaced by one
# that raises TypeError.  segpy's own code is unaffected: Cython compiles
# ``T.__new__(T)`` of a cdef class to a direct call of the type's generated
# allocation function, not through the slot, so the fast paths (``iter()``)
# pay nothing.  ``__new__`` in the type's dict is a wrapper that calls the
# slot at call time, so it refuses too; so does ``t()`` once the type's
# vectorcall shortcut is removed.

cdef extern from "Python.h":
    ctypedef PyObject* (*_newfunc "newfunc")(PyTypeObject*, PyObject*, PyObject*) noexcept
    ctypedef struct _TypeSlots "PyTypeObject":
        _newfunc tp_new
        const char* tp_name
        unsigned long tp_flags
        void* tp_vectorcall
    PyObject* _raw_format "PyErr_Format"(PyObject* exc, const char* fmt, ...) noexcept
    void _raw_type_modified "PyType_Modified"(PyTypeObject* t) noexcept
    int _raw_is_subtype "PyType_IsSubtype"(PyTypeObject* a, PyTypeObject* b) noexcept
    PyObject* _exc_type_error "PyExc_TypeError"
    unsigned long _TPFLAGS_BASETYPE "Py_TPFLAGS_BASETYPE"

cdef enum:
    _MAX_SEALED = 16

ctypedef struct _sealed_t:
    PyTypeObject* type
    const char* how          # a static string: how segpy makes instances


cdef _sealed_t _sealed[_MAX_SEALED]
cdef int _n_sealed = 0


cdef PyObject* _sealed_new(PyTypeObject* t, PyObject* args, PyObject* kwds) noexcept:
    # The tp_new of every sealed type: always NULL with TypeError set.  Runs
    # with the GIL (tp_new is only called from Python-level calls).
    cdef int k
    cdef const char* how = "segpy makes them itself"
    for k in range(_n_sealed):
        if _raw_is_subtype(t, _sealed[k].type):
            how = _sealed[k].how
            break
    _raw_format(_exc_type_error,
                "cannot create '%s' instances from Python (an internal type: %s)",
                (<_TypeSlots*>t).tp_name, how)
    return NULL


cdef int segpy_seal_new(type t, const char* how) except -1:
    """Make ``t()`` and ``t.__new__(t)`` raise TypeError from Python.

    For internal extension types whose instances are only valid as segpy's
    C code fills them in.  Cython code keeps making instances with
    ``t.__new__(t)`` (a direct call that bypasses the slot).  ``how``
    must be a string with static storage (a literal); it ends the error
    message.  Call once per type at module import; needs the GIL.

    Safety: ``t`` must not be subclassable (``@cython.final``), so no
    Python subclass can inherit a half-made object's layout with a working
    tp_new of its own.
    """
    global _n_sealed
    cdef PyTypeObject* p = <PyTypeObject*>t
    if (<_TypeSlots*>p).tp_flags & _TPFLAGS_BASETYPE:
        raise TypeError(f"{t.__name__} must be @cython.final to be sealed")
    if _n_sealed == _MAX_SEALED:
        raise RuntimeError("too many sealed types; raise _MAX_SEALED")
    _sealed[_n_sealed].type = p
    _sealed[_n_sealed].how = how
    _n_sealed += 1
    (<_TypeSlots*>p).tp_new = _sealed_new
    # Cython gives its types a vectorcall entry that calls the generated
    # allocation function directly; without it ``t()`` goes through
    # type_call, which calls tp_new.
    (<_TypeSlots*>p).tp_vectorcall = NULL
    _raw_type_modified(p)
    return 0
