"""Concurrent writers in numba's nopython mode (part of segpy.numba).

``lst.concurrent_writer()`` passed to an ``@njit(nogil=True)`` function
(typically ``parallel=True``) lets every thread of a ``prange`` loop append
to the list at once: ``w.append(v)`` and ``w.extend(array)``.  They return
True if the elements were stored and False if not, rather than raise, since
numba runs a ``prange`` loop that may raise on one thread only; a failure
is raised when the phase ends (``close()``, or leaving the ``with`` block).

How it works
------------
The writer object owns a table of C writers (``seglist_cc_writer_t``, the
C API's per-thread writer, docs/threads.md), one per numba thread id,
zeroed until the thread's first push.  A compiled ``w.append(v)``:

* takes the thread id (numba's ``get_thread_id``, declared ``readnone``
  here so that LLVM calls it once per loop, not once per element);
* stores into that thread's claimed run while it has room: two loads, the
  store and one store of the cursor, no atomic operation, as
  ``seglist_cc_push`` does in C;
* otherwise calls the C slow path, which initialises the thread's writer on
  its first push, claims the next run with one atomic add and, at a
  segment boundary, installs the segment holding the GIL.

So the function must release the GIL (``nogil=True``): in a parallel
function that held it, a thread waiting for the GIL would wait forever for
the caller, which waits for its threads at the loop's end.  The unboxing
refuses a writer in a function compiled without ``nogil=True`` (TypeError),
and refuses a second compiled call on the same writer while one runs
(RuntimeError: the two would share thread ids, hence C writers).  The
phase's end flushes the table's writers and closes their gaps.
"""

import sys
from functools import cache

from llvmlite import ir
from numba.core import cgutils, types
from numba.core.callwrapper import PyCallWrapper
from numba.extending import (
    box,
    intrinsic,
    models,
    overload_method,
    register_model,
    typeof_impl,
    unbox,
)
from numba.np.ufunc.parallel import _launch_threads

from segpy import seglist as _seglist
from segpy.numba import (
    _BRIDGE,
    _I8P,
    _I32,
    _I64,
    ConcurrentWriterType,
    _box_parent,
    _check_extend,
    _check_value,
    _declare,
    _load_field,
    _need_elements,
    _proxy,
    _store,
    _store_field,
    _unbox_entered,
)

_SEGPY_OK = 0


@typeof_impl.register(_seglist._ConcurrentWriter)
def _typeof_writer(val, c):
    return _writer_type(_seglist._numba_writer_dtype(val))


@cache
def _writer_type(np_dtype):
    return ConcurrentWriterType(np_dtype)


@register_model(ConcurrentWriterType)
class _ConcurrentWriterModel(models.StructModel):
    # The writer's compiled side (_nb_cc_t in segpy/_seglist_concurrent.pxi),
    # its table's address and size (read at unboxing: fixed for the call,
    # and values here rather than loads, because LLVM cannot keep a load in
    # a register across a loop whose slow path calls C), and the writer
    # object (kept alive by the dispatcher for the call).
    def __init__(self, dmm, fe_type):
        members = [("ptr", types.voidptr), ("table", types.voidptr), ("ntable", types.intp),
                   ("parent", types.pyobject)]
        super().__init__(dmm, fe_type, members)


def _wrapper_releases_gil():
    """Whether the CPython wrapper whose argument is being unboxed releases
    the GIL (the function's ``nogil``); False if no wrapper is found.

    numba hands an unboxing function no view of the compiled function's
    options, but the wrapper being built is on the stack (numba's
    ``PyCallWrapper.build_wrapper`` unboxes its arguments), and its
    ``release_gil`` is the option.  Only an argument of a function called
    from Python is unboxed, so that is the function whose GIL matters.
    """
    f = sys._getframe(1)
    while f is not None:
        owner = f.f_locals.get("self")
        if isinstance(owner, PyCallWrapper):
            return bool(owner.release_gil)
        f = f.f_back
    return False


@unbox(ConcurrentWriterType)
def _unbox_writer(typ, obj, c):
    enter = _declare(c.builder.module, "segpy_numba_cc_enter", _I8P,
                     [c.pyapi.pyobj, _I64, _I32])
    exit_ = _declare(c.builder.module, "segpy_numba_cc_exit", ir.VoidType(), [c.pyapi.pyobj])
    args = [ir.Constant(_I64, typ.np_dtype.itemsize),
            ir.Constant(_I32, int(_wrapper_releases_gil()))]
    return _unbox_entered(typ, obj, c, enter, exit_, args, {
        "table": (ir.Constant(_I8P, None),
                  lambda b, nb: _load_field(b, nb, "nb_table", _I8P, tag="cc.table")),
        "ntable": (ir.Constant(_I64, 0),
                   lambda b, nb: _load_field(b, nb, "nb_ntable", _I64, tag="cc.table")),
    })


box(ConcurrentWriterType)(_box_parent)


def _thread_id(builder):
    """numba's thread id (0 up to its thread count) as an i64."""
    module = builder.module
    fn = module.globals.get("get_thread_id")
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(_I32, []), "get_thread_id")
        # Constant within a thread, and a function runs in one thread:
        # LLVM may call it once and hoist it out of the loop.
        fn.attributes.add("nounwind")
        fn.attributes.add("readnone")
    tid = builder.call(fn, [])
    # numba declares it returning intp, but the C function returns an
    # int: keep only the low 32 bits (an id is never negative).
    if tid.type.width > 32:
        tid = builder.trunc(tid, _I32)
    return builder.zext(tid, _I64)


# Type-based alias tags (_tbaa): a writer's cursor ("cc.cur") and its end
# ("cc.end") never alias each other or the elements ("element"), so a
# push's element store does not make LLVM reload the cursor it just read.


@intrinsic
def _cc_push(typingctx, w, v):
    """Append ``v`` through this thread's C writer: True if it is stored."""
    _launch_threads()       # numba's get_thread_id symbol

    def codegen(context, builder, sig, args):
        wt, vty = sig.args
        w = _proxy(context, builder, wt, args[0])
        nb, table = w.ptr, w.table
        tid = _thread_id(builder)
        inside = builder.icmp_unsigned("<", tid, w.ntable)
        null = ir.Constant(_I8P, None)
        entry_block = builder.basic_block
        with builder.if_then(inside, likely=True):
            ws_in = builder.gep(table, [builder.mul(tid, ir.Constant(_I64, _BRIDGE["writer_sizeof"]))])
            cur_in = _load_field(builder, ws_in, "writer_cur", _I8P, tag="cc.cur")
            end = _load_field(builder, ws_in, "writer_end", _I8P, tag="cc.end")
            room_in = builder.icmp_unsigned("!=", cur_in, end)
            inside_block = builder.basic_block
        ws = builder.phi(_I8P)
        ws.add_incoming(null, entry_block)
        ws.add_incoming(ws_in, inside_block)
        cur = builder.phi(_I8P)
        cur.add_incoming(null, entry_block)
        cur.add_incoming(cur_in, inside_block)
        room = builder.phi(ir.IntType(1))
        room.add_incoming(ir.Constant(ir.IntType(1), 0), entry_block)
        room.add_incoming(room_in, inside_block)
        tmp = cgutils.alloca_once(builder, context.get_data_type(wt.dtype))
        with builder.if_else(room, likely=True) as (fast, slow):
            with fast:
                _store(context, builder, wt, vty, args[1], cur)
                nxt = builder.gep(cur, [ir.Constant(_I64, wt.np_dtype.itemsize)])
                _store_field(builder, ws, "writer_cur", nxt, tag="cc.cur")
                fast_block = builder.basic_block
            with slow:
                src = builder.bitcast(tmp, _I8P)
                _store(context, builder, wt, vty, args[1], src)
                fn = _declare(builder.module, "segpy_numba_cc_push_slow", _I32,
                              [_I8P, _I8P, _I8P])
                rc = builder.call(fn, [ws, nb, src])
                stored = builder.icmp_signed("==", rc, ir.Constant(_I32, _SEGPY_OK))
                slow_block = builder.basic_block
        ok = builder.phi(ir.IntType(1))
        ok.add_incoming(ir.Constant(ir.IntType(1), 1), fast_block)
        ok.add_incoming(stored, slow_block)
        return ok
    return types.boolean(w, v), codegen


@overload_method(ConcurrentWriterType, "append")
def _ol_cc_append(w, v):
    _need_elements(w, "append to")
    _check_value(w, v, "append")

    def impl(w, v):
        return _cc_push(w, v)
    return impl


@overload_method(ConcurrentWriterType, "extend")
def _ol_cc_extend(w, values):
    _check_extend(w, values, "a concurrent writer")

    def impl(w, values):
        # Element by element through the thread's writer: its claims are
        # runs already, and each thread fills its own pages.
        for k in range(len(values)):
            if not _cc_push(w, values[k]):
                return False
        return True
    return impl
