"""SegmentedList in numba's nopython mode (the ``numba`` extra).

Importing this module (or letting numba load it through its
``numba_extensions`` entry point, which segpy's package metadata declares)
teaches numba the :class:`segpy.SegmentedList` type.  An ``@njit`` function
may then take a list and use ``len(lst)``, ``lst[i]`` (negative indices
count from the end), ``lst[i] = v``, ``lst.append(v)``, ``for x in lst``
and ``lst.extend(array)``.

Out of range, ``lst[i] = v`` raises IndexError.  ``lst[i]`` follows
numba's bounds checking, as an array read does: compiled with
``boundscheck=True`` (or under ``NUMBA_BOUNDSCHECK=1``) it raises
IndexError; without (numba's default) it reads the list's last element,
never memory past the list, and a loop of reads vectorises as an array's
does.  Reading from an empty list raises either way.

How it works
------------
The compiled code works on the list's own C struct (``seglist_t``, see
``segpy/seglist.pxd``), whose address it gets when the argument is unboxed;
nothing is copied or converted, before or after the call.  The dispatcher
keeps the Python object alive for the call, and the unboxing pins it (as a
method call in progress does) until the call returns, so that no segment is
released and the list cannot be re-initialised under the compiled code.

* ``lst[i]`` and iteration are inlined: one count-leading-zeros and two
  loads, as ``seglist_at_unchecked`` does in C.
* ``lst.append(v)`` is inlined while the last segment has room; when it is
  full, the compiled code calls the list's C function (the ``emplace`` of
  the public ``segpy.seglist.capi`` table), which asks the list's own
  allocator for the next segment.  A refusal (an allocator limit, the
  system out of memory) raises MemoryError and leaves the list as it was.
* ``lst.extend(array)`` reserves first (through the same allocator), so it
  too adds all or nothing; an array of the list's dtype is copied with one
  ``memcpy`` per segment (``append_n``).

Types
-----
The numba type of a list is :class:`SegmentedListType`, made from its dtype
and whether it is read-only (a file opened with ``mode='r'``).  Elements
are typed as numba types numpy arrays of that dtype:

* every integer, unsigned, float and complex dtype, and bool: read,
  stored and appended.  A stored value is cast the way numba casts into an
  array of the dtype (an int64 into an int8 list wraps), but a value of
  another *kind* than numpy's ``'same_kind'`` casting allows (a float into
  an int list, an int into a bool list) is a TypingError, as it is a
  TypeError from Python;
* records that numba can type (packed or aligned, of numeric fields and
  nested arrays): ``lst[i]`` is a numba Record that views the element in
  place (segments never move, so the view stays valid while the list
  grows), and ``lst[i] = r`` / ``lst.append(r)`` copy a record of the same
  dtype;
* datetime64, timedelta64, and the ``'S'``/``'U'`` string dtypes: read,
  and stored from a value of exactly the list's numba type;
* any other dtype (float16, ``'V'`` blobs) types as a list whose elements
  numba cannot use: ``len`` works, every element access is a TypingError.

A read-only list refuses ``lst[i] = v``, ``append`` and ``extend`` with a
TypingError at compile time, as numba does for a read-only array.

Threads: ``@njit(nogil=True)`` code may run while other Python threads
work, but no other thread may use the same list during the call (the rule
of docs/c-api.md, "Concurrency").  Many threads (a ``prange`` loop) append
to one list through its ``concurrent_writer()``, passed to an
``@njit(nogil=True)`` function: ``w.append(v)`` and ``w.extend(array)``
return True if they stored the elements (they never raise, so the loop
stays parallel), and the phase's end raises a failure
(:class:`ConcurrentWriterType`, segpy/_numba_concurrent.py).

Examples
--------
>>> import numba, numpy as np, segpy
>>> import segpy.numba
>>> @numba.njit
... def collatz(lst, n):
...     while n != 1:
...         lst.append(n)
...         n = n // 2 if n % 2 == 0 else 3 * n + 1
...     return len(lst)
>>> lst = segpy.SegmentedList("q")
>>> collatz(lst, 6)
8
>>> lst.to_numpy()
array([ 6,  3, 10,  5, 16,  8,  4,  2])
"""

import ctypes
import operator
from functools import cache

import numba
import numpy as np
from llvmlite import binding as _llvm
from llvmlite import ir
from numba.core import cgutils, types
from numba.core.errors import NumbaNotImplementedError, TypingError
from numba.core.imputils import RefType, impl_ret_borrowed, iternext_impl, lower_builtin
from numba.extending import (
    NativeValue,
    box,
    intrinsic,
    models,
    overload,
    overload_method,
    register_jitable,
    register_model,
    typeof_impl,
    unbox,
)
from numba.np.numpy_support import as_dtype, from_dtype

from segpy import seglist as _seglist
from segpy.seglist import SegmentedList

__all__ = ["ConcurrentWriterType", "SegmentedListType"]

# -- The C side: struct offsets and function addresses ------------------------
#
# The offsets come from the compiled struct (segpy/_seglist_numba.pxi), so
# they follow any change to seglist_t.  The functions are made known to
# LLVM by name (llvmlite's add_symbol, as numba does for its own C
# helpers) rather than baked in as constant addresses, so that code cached
# by ``@njit(cache=True)`` links to this process's copy.

_BRIDGE = _seglist._numba_bridge()

_FN_PTR = ctypes.c_void_p


class _CapiTable(ctypes.Structure):
    # The head of segpy_capi_t (docs/c-api.md, "The capsule"), up to the
    # last field used here; the table is append-only, so these never move.
    _fields_ = [("version", ctypes.c_int), ("struct_size", ctypes.c_int),
                ("seglist_size", ctypes.c_size_t), ("init", _FN_PTR), ("destroy", _FN_PTR),
                ("push", _FN_PTR), ("emplace", _FN_PTR), ("at", _FN_PTR),
                ("reserve", _FN_PTR), ("truncate", _FN_PTR), ("length", _FN_PTR),
                ("itemsize", _FN_PTR), ("used_segments", _FN_PTR), ("segment", _FN_PTR),
                ("append_n", _FN_PTR)]


def _capi_table():
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    table = _CapiTable.from_address(get(_seglist.capi, b"segpy.seglist.capi"))
    if table.version < 1 or table.struct_size < ctypes.sizeof(_CapiTable):
        raise ImportError(f"segpy.seglist.capi is version {table.version}, older than "
                          "segpy.numba needs")
    if table.seglist_size != _BRIDGE["sizeof"]:
        raise ImportError("segpy.seglist.capi and segpy.seglist disagree on sizeof(seglist_t)")
    return table


_CAPI = _capi_table()
_SYMBOLS = {
    "segpy_numba_enter": _BRIDGE["enter"],
    "segpy_numba_exit": _BRIDGE["exit"],
    "segpy_numba_cc_enter": _BRIDGE["cc_enter"],
    "segpy_numba_cc_exit": _BRIDGE["cc_exit"],
    "segpy_numba_cc_push_slow": _BRIDGE["cc_push_slow"],
    "segpy_capi_emplace": _CAPI.emplace,
    "segpy_capi_reserve": _CAPI.reserve,
    "segpy_capi_append_n": _CAPI.append_n,
}
for _name, _addr in _SYMBOLS.items():
    _llvm.add_symbol(_name, _addr)

# seglist.pxd's error codes.
_SEGPY_ETOOBIG = -2

_I1 = ir.IntType(1)
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_I8P = ir.IntType(8).as_pointer()


# -- The numba types ----------------------------------------------------------

class SegmentedListType(types.IterableType):
    """The numba type of a :class:`segpy.SegmentedList` argument.

    Parameters
    ----------
    np_dtype : numpy.dtype
        The list's dtype.
    mutable : bool
        False for a read-only list (a file opened with ``mode='r'``): code
        that stores into it does not compile.

    Attributes
    ----------
    dtype : numba type or None
        The numba type of an element (what numba types an element of a numpy
        array of `np_dtype` as), or None where numba cannot use the elements.

    Examples
    --------
    >>> import segpy, numba
    >>> from segpy.numba import SegmentedListType
    >>> numba.typeof(segpy.SegmentedList("f4"))
    SegmentedList(float32)
    """

    def __init__(self, np_dtype, mutable=True):
        self.np_dtype = np.dtype(np_dtype)
        self.mutable = bool(mutable)
        self.dtype = _element_type(self.np_dtype)
        elem = self.dtype if self.dtype is not None else f"unsupported {self.np_dtype}"
        suffix = "" if self.mutable else ", readonly"
        super().__init__(name=f"SegmentedList({elem}{suffix})")

    @property
    def key(self):
        return self.np_dtype, self.mutable

    @property
    def iterator_type(self):
        _need_elements(self, "iterate over")
        return SegmentedListIterType(self)


class ConcurrentWriterType(types.Type):
    """The numba type of a concurrent writer (``lst.concurrent_writer()``).

    Parameters
    ----------
    np_dtype : numpy.dtype
        The dtype of the writer's list.

    Examples
    --------
    >>> import segpy, numba
    >>> import segpy.numba
    >>> with segpy.SegmentedList("i4").concurrent_writer() as w:
    ...     numba.typeof(w)
    ConcurrentWriter(int32)
    """

    def __init__(self, np_dtype):
        self.np_dtype = np.dtype(np_dtype)
        # ``dtype``, ``np_dtype`` and the name make it look like a list's
        # type to the element helpers (_check_value, _store).
        self.dtype = _element_type(self.np_dtype)
        self.mutable = True
        elem = self.dtype if self.dtype is not None else f"unsupported {self.np_dtype}"
        super().__init__(name=f"ConcurrentWriter({elem})")

    @property
    def key(self):
        return self.np_dtype


class SegmentedListIterType(types.SimpleIteratorType):
    """The numba type of ``iter(lst)`` for a :class:`SegmentedListType` ``lst``."""

    def __init__(self, list_type):
        self.list_type = list_type
        super().__init__(f"iter({list_type})", list_type.dtype)


@cache
def _element_type(np_dtype):
    """The numba type of an element, or None where numba cannot use it."""
    if np_dtype.kind == "f" and np_dtype.itemsize == 2:
        return None     # float16: numba has the type, but few operations on it
    try:
        return from_dtype(np_dtype)
    except (NumbaNotImplementedError, NotImplementedError, KeyError):
        return None


def _need_elements(lt, what):
    if lt.dtype is None:
        raise TypingError(
            f"cannot {what} a SegmentedList of dtype {lt.np_dtype} in numba: its elements "
            "have no numba type (segpy.numba supports numbers, bool, datetime64, "
            "timedelta64, 'S'/'U' strings and records numba can type)")


def _need_mutable(lt, what):
    _need_elements(lt, what)
    if not lt.mutable:
        raise TypingError(f"cannot {what} a read-only SegmentedList ({lt}: a file opened "
                          "with mode='r')")


_NUMERIC = (types.Number, types.Boolean)


def _check_value(lt, vty, what):
    """TypingError unless a value of numba type ``vty`` may be stored in the list."""
    vty = types.unliteral(vty)
    if isinstance(lt.dtype, _NUMERIC) and isinstance(vty, _NUMERIC):
        # The Python side's rule (numpy's 'same_kind'), checked at compile
        # time; within a kind, numba's cast (which wraps) does the store.
        if not np.can_cast(as_dtype(vty), lt.np_dtype, casting="same_kind"):
            raise TypingError(f"cannot {what} a {vty} value into {lt} under 'same_kind' "
                              "casting")
        return
    if vty != lt.dtype:
        raise TypingError(f"cannot {what} a {vty} value into {lt}: a value of type "
                          f"{lt.dtype} is needed")


@typeof_impl.register(SegmentedList)
def _typeof_segmented_list(val, c):
    return _list_type(val.dtype, not _seglist._numba_readonly(val))


@cache
def _list_type(np_dtype, mutable):
    return SegmentedListType(np_dtype, mutable)


# -- Data models, unboxing and boxing -----------------------------------------

@register_model(SegmentedListType)
class _SegmentedListModel(models.StructModel):
    # The struct's address, the first segment's length (2**shift, read
    # once at unboxing: the list is pinned for the call, so its geometry
    # cannot change, and lookups in a loop then load nothing but the
    # bases table and the element), and the object that owns the struct
    # (the dispatcher holds a reference to it for the call; boxing
    # returns it).
    def __init__(self, dmm, fe_type):
        members = [("ptr", types.voidptr), ("s0", types.intp), ("parent", types.pyobject)]
        super().__init__(dmm, fe_type, members)


@register_model(SegmentedListIterType)
class _SegmentedListIterModel(models.StructModel):
    def __init__(self, dmm, fe_type):
        members = [("list", fe_type.list_type), ("index", types.EphemeralPointer(types.intp))]
        super().__init__(dmm, fe_type, members)


def _declare(module, name, ret, args):
    return cgutils.get_or_insert_function(module, ir.FunctionType(ret, args), name)


def _unbox_entered(typ, obj, c, enter, exit_, args, fields):
    """Unbox ``obj`` through the C function ``enter`` (which checks it
    against ``typ``, pins it and returns a struct's address, or NULL with
    an exception set); the call's cleanup calls ``exit_``.

    The native value holds that address (``ptr``), the object (``parent``)
    and ``fields``: ``{name: (zero, read)}``, each member ``read(builder,
    ptr)`` once ``enter`` succeeded (``zero`` if not).
    """
    ptr = c.builder.call(enter, [obj, *args])
    failed = cgutils.is_null(c.builder, ptr)
    value = cgutils.create_struct_proxy(typ)(c.context, c.builder)
    value.ptr = ptr
    value.parent = obj
    for name, (zero, _) in fields.items():
        setattr(value, name, zero)
    with c.builder.if_then(c.builder.not_(failed), likely=True):
        for name, (_, read) in fields.items():
            setattr(value, name, read(c.builder, ptr))

    def cleanup():
        # Runs after the call returns (with the GIL), and only if enter
        # succeeded: a failed unboxing jumps past this argument's cleanup.
        c.builder.call(exit_, [obj])

    return NativeValue(value._getvalue(), is_error=failed, cleanup=cleanup)


def _box_parent(typ, val, c):
    """Box a value that unboxing made: the object it came from."""
    value = cgutils.create_struct_proxy(typ)(c.context, c.builder, value=val)
    c.pyapi.incref(value.parent)
    return value.parent


@unbox(SegmentedListType)
def _unbox_segmented_list(typ, obj, c):
    enter = _declare(c.builder.module, "segpy_numba_enter", _I8P,
                     [c.pyapi.pyobj, _I64, _I32])
    exit_ = _declare(c.builder.module, "segpy_numba_exit", ir.VoidType(), [c.pyapi.pyobj])
    args = [ir.Constant(_I64, typ.np_dtype.itemsize), ir.Constant(_I32, int(typ.mutable))]
    return _unbox_entered(typ, obj, c, enter, exit_, args,
                          {"s0": (ir.Constant(_I64, 0), _first_segment)})


box(SegmentedListType)(_box_parent)


# -- LLVM helpers: the struct's fields and the index math ---------------------

def _proxy(context, builder, lt, value):
    return cgutils.create_struct_proxy(lt)(context, builder, value=value)


def _struct_ptr(context, builder, lt, value):
    return _proxy(context, builder, lt, value).ptr


def _tbaa(builder, what):
    """A type-based alias analysis tag: accesses tagged ``"field"`` (the
    struct) and ``"element"`` (the segments) never alias each other.

    Sound because segments are allocations of their own, apart from the
    object that holds the struct.  It lets LLVM move loads of the struct's
    fields across element stores: hoist the length and the bases table out
    of a loop that stores into the list, and forward a stored field to a
    later load within an iteration.  (It does not keep the cursor and the
    length in registers across an append loop: the slow path's call may
    change them, so each append still loads and stores them.)  Untagged
    accesses (numba's own) alias everything, as before.
    """
    module = builder.module
    root = module.add_metadata([ir.MetaDataString(module, "segpy.numba")])
    node = module.add_metadata([ir.MetaDataString(module, what), root, ir.Constant(_I64, 0)])
    return module.add_metadata([node, node, ir.Constant(_I64, 0)])


def _field(builder, s, name, llty):
    """Pointer to field ``name`` (of LLVM type ``llty``) of the struct at
    ``s``: a ``seglist_t``, or a concurrent writer's structs (the bridge's
    offsets name both)."""
    return builder.bitcast(builder.gep(s, [ir.Constant(_I64, _BRIDGE[name])]), llty.as_pointer())


def _load_field(builder, s, name, llty, index=None, tag="field"):
    ptr = _field(builder, s, name, llty)
    if index is not None:
        ptr = builder.gep(ptr, [index])
    out = builder.load(ptr)
    out.set_metadata("tbaa", _tbaa(builder, tag))
    return out


def _store_field(builder, s, name, value, tag="field"):
    builder.store(value, _field(builder, s, name, value.type)).set_metadata(
        "tbaa", _tbaa(builder, tag))


def _load_length(builder, s):
    return _load_field(builder, s, "length", _I64)


def _first_segment(builder, s):
    """``2**shift``: the elements of the first segment."""
    shift = builder.zext(_load_field(builder, s, "shift", _I32), _I64)
    return builder.shl(ir.Constant(_I64, 1), shift)


def _element_ptr(builder, lst, i, itemsize):
    """Address of element ``i`` of the list value ``lst`` (a struct proxy);
    the caller has checked ``0 <= i < length``.

    seglist_at_unchecked (segpy/seglist.pxd, "Struct layout"): with
    ``t = i + 2**shift``, the element is at ``bases[msb(t)] + t * itemsize``.
    """
    t = builder.add(i, lst.s0)
    # t >= 1, so ctlz's result for zero is never needed (flag = undefined).
    msb = builder.sub(ir.Constant(_I64, 63), builder.ctlz(t, ir.Constant(_I1, 1)))
    base = _load_field(builder, lst.ptr, "bases", _I64, msb)
    addr = builder.add(base, builder.mul(t, ir.Constant(_I64, itemsize)))
    return builder.inttoptr(addr, _I8P)


def _emplace(builder, s, itemsize, write):
    """seglist_emplace, then ``write(slot)``; an i1, false if the list could not grow.

    The fast path, room in the last segment, is inlined; the slow path (a
    new segment from the list's allocator, or the cursor moved to the next
    segment a reserve made) is the C function, which returns NULL (list
    unchanged) on failure.  ``write`` is emitted in both paths, so the fast
    one has no NULL check.
    """
    cursor = _load_field(builder, s, "cursor", _I8P)
    room = builder.icmp_unsigned("!=", cursor, _load_field(builder, s, "cursor_end", _I8P))
    with builder.if_else(room, likely=True) as (fast, slow):
        with fast:
            _store_field(builder, s, "cursor", builder.gep(cursor, [ir.Constant(_I64, itemsize)]))
            length = _load_field(builder, s, "length", _I64)
            _store_field(builder, s, "length", builder.add(length, ir.Constant(_I64, 1)))
            write(cursor)
            fast_block = builder.basic_block
        with slow:
            fn = _declare(builder.module, "segpy_capi_emplace", _I8P, [_I8P])
            slot = builder.call(fn, [s])
            grown = cgutils.is_not_null(builder, slot)
            with builder.if_then(grown, likely=True):
                write(slot)
            slow_block = builder.basic_block
    ok = builder.phi(_I1)
    ok.add_incoming(ir.Constant(_I1, 1), fast_block)
    ok.add_incoming(grown, slow_block)
    return ok


def _store(context, builder, lt, vty, value, ptr):
    """Store ``value`` (numba type ``vty``) as an element at ``ptr``."""
    dm = context.data_model_manager[lt.dtype]
    data = dm.as_data(builder, context.cast(builder, value, vty, lt.dtype))
    builder.store(data, _typed(context, builder, lt, ptr)).set_metadata(
        "tbaa", _tbaa(builder, "element"))


def _load(context, builder, lt, ptr):
    """The element at ``ptr`` (a Record is a view of it, as in numba's arrays)."""
    ptr = _typed(context, builder, lt, ptr)
    if isinstance(lt.dtype, types.Record):
        return context.unpack_value(builder, lt.dtype, ptr)
    data = builder.load(ptr)
    data.set_metadata("tbaa", _tbaa(builder, "element"))
    return context.data_model_manager[lt.dtype].from_data(builder, data)


def _typed(context, builder, lt, ptr):
    # Elements are naturally aligned: segments start on a cache line and
    # every element's size is a multiple of its numba data type's alignment
    # (a packed record's data type is an array of bytes).
    return builder.bitcast(ptr, context.get_data_type(lt.dtype).as_pointer())


# -- Intrinsics: the building blocks of the overloads below --------------------

@intrinsic
def _length(typingctx, lst):
    def codegen(context, builder, sig, args):
        return _load_length(builder, _struct_ptr(context, builder, sig.args[0], args[0]))
    return types.intp(lst), codegen


@intrinsic
def _last_error(typingctx, lst):
    def codegen(context, builder, sig, args):
        s = _struct_ptr(context, builder, sig.args[0], args[0])
        return _load_field(builder, s, "last_error", _I32)
    return types.int32(lst), codegen


@intrinsic
def _get_unchecked(typingctx, lst, i):
    """Element ``i`` (a Record views it); the caller has checked the index."""
    def codegen(context, builder, sig, args):
        lt = sig.args[0]
        i = context.cast(builder, args[1], sig.args[1], types.intp)
        ptr = _element_ptr(builder, _proxy(context, builder, lt, args[0]), i,
                           lt.np_dtype.itemsize)
        return _load(context, builder, lt, ptr)
    return lst.dtype(lst, i), codegen


@intrinsic
def _set_unchecked(typingctx, lst, i, v):
    def codegen(context, builder, sig, args):
        lt = sig.args[0]
        i = context.cast(builder, args[1], sig.args[1], types.intp)
        ptr = _element_ptr(builder, _proxy(context, builder, lt, args[0]), i,
                           lt.np_dtype.itemsize)
        _store(context, builder, lt, sig.args[2], args[2], ptr)
        return context.get_dummy_value()
    return types.none(lst, i, v), codegen


@intrinsic
def _push(typingctx, lst, v):
    """Append ``v``; True, or False (list unchanged) if the list could not grow."""
    def codegen(context, builder, sig, args):
        lt = sig.args[0]
        s = _struct_ptr(context, builder, lt, args[0])
        return _emplace(builder, s, lt.np_dtype.itemsize,
                        lambda slot: _store(context, builder, lt, sig.args[1], args[1], slot))
    return types.boolean(lst, v), codegen


@intrinsic
def _reserve(typingctx, lst, n):
    """seglist_reserve: room for ``n`` elements in all; 0 or an error code."""
    def codegen(context, builder, sig, args):
        s = _struct_ptr(context, builder, sig.args[0], args[0])
        fn = _declare(builder.module, "segpy_capi_reserve", _I32, [_I8P, _I64])
        return builder.call(fn, [s, context.cast(builder, args[1], sig.args[1], types.intp)])
    return types.int32(lst, n), codegen


@intrinsic
def _append_n(typingctx, lst, arr):
    """seglist_append_n from a contiguous array of the list's dtype; 0 or an error code."""
    def codegen(context, builder, sig, args):
        lt, at = sig.args
        s = _struct_ptr(context, builder, lt, args[0])
        ary = context.make_array(at)(context, builder, value=args[1])
        n = builder.extract_value(ary.shape, 0)
        src = builder.bitcast(ary.data, _I8P)
        fn = _declare(builder.module, "segpy_capi_append_n", _I32, [_I8P, _I8P, _I64])
        return builder.call(fn, [s, src, n])
    return types.int32(lst, arr), codegen


@register_jitable
def _raise_grow_error(lst):
    # The Python side's MemoryError, without the allocator's statistics
    # (nopython code raises exceptions with constant messages).
    if _last_error(lst) == _SEGPY_ETOOBIG:
        raise MemoryError("cannot grow the SegmentedList beyond its addressable elements")
    raise MemoryError("cannot grow the SegmentedList: its allocator refused a new segment")


# -- The list's operations ------------------------------------------------------

@overload(len)
def _ol_len(lst):
    if isinstance(lst, SegmentedListType):
        return lambda lst: _length(lst)


def _index_codegen(clamp):
    """Codegen of an index into the list: ``i`` wrapped from the end if
    negative, then checked (IndexError out of range) or, when
    ``clamp(context)`` says so, clamped to the last element."""
    def codegen(context, builder, sig, args):
        ity = sig.args[1]
        i = context.cast(builder, args[1], ity, types.intp)
        n = _load_length(builder, _struct_ptr(context, builder, sig.args[0], args[0]))
        if ity.signed:
            # i + n when i < 0, without a branch.
            i = builder.add(i, builder.and_(builder.ashr(i, ir.Constant(_I64, 63)), n))
        # One unsigned compare rejects what is still negative too.
        inside = builder.icmp_unsigned("<", i, n)
        if clamp(context):
            bad = builder.icmp_unsigned("==", n, ir.Constant(_I64, 0))
            i = builder.select(inside, i, builder.sub(n, ir.Constant(_I64, 1)))
        else:
            bad = builder.not_(inside)
        with builder.if_then(bad, likely=False):
            context.call_conv.return_user_exc(builder, IndexError,
                                              ("SegmentedList index out of range",))
        return i
    return codegen


@intrinsic
def _read_index(typingctx, lst, i):
    """The index ``lst[i]`` reads, under numba's bounds checking.

    Emitted in the caller's lowering (the getitem overload is inlined), so
    ``context.enable_boundscheck`` is the compiling function's setting:
    ``boundscheck=True`` or ``NUMBA_BOUNDSCHECK=1`` raise IndexError out of
    range, as numba's arrays do.  Unchecked (numba's default) the index is
    clamped to the last element instead: no branch leaves the loop, so
    LLVM can vectorise a loop of reads as it does an array's (gathers),
    and an index out of range still reads an element of the list, never
    the memory past it.  An empty list has no element to read, so it
    raises either way; that test does not depend on ``i``, and LLVM moves
    it out of the loop.
    """
    return types.intp(lst, i), _index_codegen(lambda context: not context.enable_boundscheck)


@intrinsic
def _store_index(typingctx, lst, i):
    """The index ``lst[i] = v`` stores at: always checked (a clamped store
    would overwrite the last element of a list that outlives the call)."""
    return types.intp(lst, i), _index_codegen(lambda context: False)


# inline="always": the overload's body is lowered in the caller, where
# _read_index sees the caller's boundscheck setting (an overload compiled
# on its own would get the default).
@overload(operator.getitem, inline="always")
def _ol_getitem(lst, i):
    if not isinstance(lst, SegmentedListType) or not isinstance(i, types.Integer):
        return None
    _need_elements(lst, "index")

    def impl(lst, i):
        return _get_unchecked(lst, _read_index(lst, i))
    return impl


@overload(operator.setitem)
def _ol_setitem(lst, i, v):
    if not isinstance(lst, SegmentedListType) or not isinstance(i, types.Integer):
        return None
    _need_mutable(lst, "store into")
    _check_value(lst, v, "store")

    def impl(lst, i, v):
        _set_unchecked(lst, _store_index(lst, i), v)
    return impl


def _check_extend(lt, values, owner):
    """TypingError unless ``owner``'s ``extend`` (a list's or a writer's,
    of numba type ``lt``) may take ``values``: a 1-d array of a castable dtype."""
    _need_mutable(lt, "extend")
    if not isinstance(values, types.Array) or values.ndim != 1:
        raise TypingError(f"{owner}.extend in numba takes a one-dimensional array, "
                          f"not {values}")
    _check_value(lt, values.dtype, "extend with")


@overload_method(SegmentedListType, "append")
def _ol_append(lst, v):
    _need_mutable(lst, "append to")
    _check_value(lst, v, "append")

    def impl(lst, v):
        if not _push(lst, v):
            _raise_grow_error(lst)
    return impl


@overload_method(SegmentedListType, "extend")
def _ol_extend(lst, values):
    _check_extend(lst, values, "SegmentedList")
    if values.dtype == lst.dtype and values.layout in "CF":

        def impl(lst, values):
            # One memcpy per segment; all or nothing.
            if _append_n(lst, values) != 0:
                _raise_grow_error(lst)
        return impl

    def impl_cast(lst, values):
        # Every segment first (all or nothing), then pushes that cannot fail.
        if _reserve(lst, _length(lst) + len(values)) != 0:
            _raise_grow_error(lst)
        for k in range(len(values)):
            _push(lst, values[k])
    return impl_cast


@lower_builtin("getiter", SegmentedListType)
def _getiter(context, builder, sig, args):
    it = context.make_helper(builder, sig.return_type)
    it.list = args[0]
    it.index = cgutils.alloca_once_value(builder, context.get_constant(types.intp, 0))
    return impl_ret_borrowed(context, builder, sig.return_type, it._getvalue())


@lower_builtin("iternext", SegmentedListIterType)
@iternext_impl(RefType.BORROWED)
def _iternext(context, builder, sig, args, result):
    # Like the Python iterator, the length is read at every step, so
    # elements appended during the loop are visited too.
    itty = sig.args[0]
    lt = itty.list_type
    it = context.make_helper(builder, itty, value=args[0])
    lst = _proxy(context, builder, lt, it.list)
    i = builder.load(it.index)
    valid = builder.icmp_signed("<", i, _load_length(builder, lst.ptr))
    result.set_valid(valid)
    with builder.if_then(valid, likely=True):
        ptr = _element_ptr(builder, lst, i, lt.np_dtype.itemsize)
        result.yield_(_load(context, builder, lt, ptr))
        builder.store(builder.add(i, ir.Constant(_I64, 1)), it.index)


def _init_extension():
    """numba's ``numba_extensions`` entry point: importing this module registers it."""


# Concurrent writers (lst.concurrent_writer() in @njit code): their
# lowering is a module of its own, which uses the helpers above.  A plain
# import, so that importing that module first works too (it imports this
# one, whose import of it then finds it in sys.modules).
_seglist._numba_set_max_threads(numba.config.NUMBA_NUM_THREADS)
import segpy._numba_concurrent  # noqa: F401
