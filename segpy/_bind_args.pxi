# Constructor arguments, bound the way CPython binds a Python function's.
#
# Cython's own argument parsing names the C-level function in its errors:
# ``Heap(regoin_size=1)`` said "__cinit__() got an unexpected keyword
# argument", naming an internal the user never wrote.  So every public
# constructor takes ``(*args, **kwargs)`` and binds them here, and the errors
# name the class, in CPython's wording:
#
#     SegmentedList() got an unexpected keyword argument 'alocator'
#     SegmentedList() takes from 1 to 2 positional arguments but 3 were given
#     SegmentedList() got multiple values for argument 'dtype'
#     SegmentedList() missing 1 required positional argument: 'dtype'
#
# The signature that inspect.signature() shows is written by hand at the top
# of the class docstring; tests/api/test_introspection.py checks that the two
# agree.  Included (not cimported) by each extension, so that no private
# helper enters the public .pxd files.

# The default of a parameter that has none.
cdef object _REQUIRED = object()


cdef tuple _bind_args(str owner, tuple args, dict kwargs, tuple names,
                      Py_ssize_t npositional, tuple defaults):
    """Bind a constructor's arguments to `names`; return their values in order.

    The first `npositional` names may be given by position or by keyword, the
    rest only by keyword.  ``defaults[i]`` is the value of an omitted
    ``names[i]``, or ``_REQUIRED`` if it must be given (positional names
    only: a keyword-only one always has a default).  Raises TypeError
    naming ``owner + "()"``.  Needs the GIL; runs no user code (the keys of
    `kwargs` are str, as CPython guarantees for ``**kwargs``).  A call by
    position only costs one tuple; messages are built only on the error
    paths.
    """
    cdef Py_ssize_t n = len(args), i
    if n > npositional:
        _raise_too_many(owner, n, npositional, defaults)
    if not kwargs:
        # By position only (the common call): the given values, then the
        # defaults, unless a required one was left out.
        for i in range(n, npositional):
            if defaults[i] is _REQUIRED:
                _raise_missing(owner, names, list(args) + list(defaults[n:]))
        return args + defaults[n:] if n < len(names) else args
    cdef list values = list(args)
    values.extend(defaults[n:])
    if kwargs:
        for key, value in kwargs.items():
            try:
                i = names.index(key)
            except ValueError:
                raise TypeError(f"{owner}() got an unexpected keyword argument '{key}'") from None
            if i < n:
                raise TypeError(f"{owner}() got multiple values for argument '{key}'")
            values[i] = value
    for i in range(npositional):
        if values[i] is _REQUIRED:
            _raise_missing(owner, names, values)
    return tuple(values)


cdef int _raise_too_many(str owner, Py_ssize_t n, Py_ssize_t npositional,
                         tuple defaults) except -1:
    cdef Py_ssize_t nreq = 0
    while nreq < npositional and defaults[nreq] is _REQUIRED:
        nreq += 1
    given = f"{n} was given" if n == 1 else f"{n} were given"
    if nreq == npositional:
        takes = f"{npositional} positional argument{'' if npositional == 1 else 's'}"
    else:
        takes = f"from {nreq} to {npositional} positional arguments"
    raise TypeError(f"{owner}() takes {takes} but {given}")


cdef int _raise_missing(str owner, tuple names, list values) except -1:
    missing = [f"'{names[i]}'" for i in range(len(names)) if values[i] is _REQUIRED]
    listed = missing[0] if len(missing) == 1 else (
        ", ".join(missing[:-1]) + (" and " if len(missing) == 2 else ", and ") + missing[-1])
    raise TypeError(f"{owner}() missing {len(missing)} required positional "
                    f"argument{'' if len(missing) == 1 else 's'}: {listed}")
