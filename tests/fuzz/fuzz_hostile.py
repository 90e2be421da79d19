"""Fuzz SegmentedList with hostile objects: nothing may crash or lie.

The bytes choose up to 10 steps.  Each step is one of:

* **write**: a call from ``hostile.WRITES`` (append, insert, slice
  assignment, extend, put, delete, pop, reserve, ``*=``, sort, files...)
  whose argument's hook runs an action from ``hostile.ACTIONS`` (clear,
  shrink, grow, re-initialise to a wider or narrower dtype, free the
  segments...) mid-call; afterwards the list must be consistent;
* **read**: a call from ``hostile.READS`` (search, ``==``, reductions with
  ``where=``, take, fancy indexing, to_numpy, ``*``); the answer must be
  true of the list before the call or after it;
* **finaliser**: a call from ``hostile.GC_CALLS`` on a list of a chosen
  dtype, with finalisers armed that run an action when the collector runs,
  and (half the time) the collector run at every allocation;
* **liar**: extend, slice assignment, take, put, ``==`` or
  ``to_numpy(out=)`` with an ndarray subclass whose ``shape``, ``size``,
  ``dtype``... lie; the result must be numpy's on the plain array;
* **own view**: slice assignment, put, extend or frombytes from a view of
  one of the list's own segments; the result must be numpy's on a copy;
* **direct**: a segpy type (every one, found as the type sweep finds them)
  made by ``cls.__new__(cls)`` or a bare call, one method called with an
  argument set of the sweep's, then the object handed to a list method;
* **thread** (one step in 32): a call from ``hostile.THREAD_CALLS`` while
  another thread clears and refills the list.

Only the exceptions in ``hostile.CLEAR`` are caught.  The persistent list of
the liar and own-view steps is checked against a numpy model after each.

Run (docs/trust.md)::

    python -P tests/fuzz/fuzz_hostile.py -runs=100000 -max_len=128 -len_control=0
    python -P tests/fuzz/fuzz_hostile.py --fallback -runs=20000   # without atheris
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import warnings

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.dirname(_HERE))      # tests/: hostile, sweep_child

import numpy as np

import segpy

import hostile
import sweep_child
from fuzz_reader import Reader, main

warnings.simplefilter("ignore", RuntimeWarning)

ACTION_NAMES = sorted(hostile.ACTIONS)
GC_DTYPES = ["d", "e", "q", "S9"]
# GC_CALLS that are not operations of byte strings.
NOT_BYTES = {"sum", "append", "extend", "count"}
_TYPES = None


def _types():
    """Every segpy type, by name, in a fixed order (found once)."""
    global _TYPES
    if _TYPES is None:
        found = sweep_child.segpy_types()
        _TYPES = [found[k] for k in sorted(found)]
    return _TYPES


def _step_write(r):
    _name, factory, call = r.choice(hostile.WRITES)
    lst = factory()
    with contextlib.suppress(*hostile.CLEAR):
        call(lst, r.choice(ACTION_NAMES))
    hostile.consistent(lst)


def _step_read(r):
    _name, call, ref = r.choice(hostile.READS)
    hostile.check_read(call, ref, r.choice(ACTION_NAMES))


def _step_finaliser(r):
    name, call = r.choice(hostile.GC_CALLS)
    dtype = r.choice(GC_DTYPES)
    if dtype == "S9" and name in NOT_BYTES:
        dtype = "d"
    lst = segpy.SegmentedList(dtype, np.arange(r.int(0, 3000)).astype(dtype),
                              first_segment=r.choice([1, 16, 1024]))
    action = r.choice(ACTION_NAMES)
    every = r.bool()
    ctx = hostile.gc_every_allocation() if every else contextlib.nullcontext()
    with ctx:
        for _ in range(r.int(1, 3)):
            hostile.gc_bomb(lst, action)
        with contextlib.suppress(*hostile.CLEAR):
            call(lst)
    gc.collect()
    hostile.consistent(lst)


def _check_model(lst, model):
    hostile.consistent(lst)
    assert lst.to_numpy().tobytes() == model.tobytes(), (lst.tolist(), model.tolist())


def _slice(r, n):
    start, stop = r.int(-n - 2, n + 2), r.int(-n - 2, n + 2)
    step = r.choice([1, 1, 2, -1, -3])
    return slice(start, stop, step)


def _step_liar(r, lst, model):
    n = len(model)
    op = r.int(0, 5)
    if op == 0:                                     # extend
        src = np.arange(r.int(0, 40), dtype=np.float64)
        plain = src
    elif op in (1, 3):                              # slice assignment, put
        plain = np.arange(r.int(1, 40), dtype=np.float64) + 0.5
    elif op == 2:                                   # take / fancy indexing
        plain = np.array([r.int(-n, n - 1) for _ in range(r.int(0, 10))], dtype=np.intp) \
            if n else np.zeros(0, np.intp)
    else:
        plain = model.copy()
    liar = hostile.lying(plain, **r.choice(hostile.lies_for(plain)))
    if op == 0:
        lst.extend(liar)
        model = np.concatenate([model, plain])
    elif op == 1:
        sl = _slice(r, n)
        lo, hi, step = sl.indices(n)
        if step == 1:
            lst[sl] = liar
            model = np.concatenate([model[:lo], plain, model[max(hi, lo):]])
        else:
            k = len(range(lo, hi, step))
            if k > len(plain):
                return lst, model
            part = plain[:k]
            lst[sl] = hostile.lying(part, **r.choice(hostile.lies_for(part)))
            model[sl] = part
    elif op == 2:
        if n:
            got = lst.take(liar) if r.bool() else lst[liar]
            assert np.asarray(got).tobytes() == model.take(plain).tobytes()
    elif op == 3:
        if n:
            idx = np.array([r.int(-n, n - 1) for _ in range(r.int(1, 10))])
            lst.put(idx, liar)
            np.put(model, idx, plain)
    elif op == 4:
        assert (lst == liar) is True
    else:
        out = hostile.lying(np.zeros(n), **r.choice(hostile.lies_for(np.zeros(n))))
        assert lst.to_numpy(out=out) is out
        assert np.asarray(out).tobytes() == model.tobytes()
    return lst, model


def _step_own_view(r, lst, model):
    n = len(model)
    segs = lst.segments()
    if not segs:
        return lst, model
    j = r.int(0, len(segs) - 1)
    seg = segs[j]
    a = r.int(0, len(seg))
    b = r.int(a, len(seg))
    src = seg[a:b]
    plain = src.copy()
    del segs, seg
    op = r.int(0, 3)
    if op == 0:                                     # slice assignment
        sl = _slice(r, n)
        if sl.step == 1:
            lo, hi, _ = sl.indices(n)
            want = np.concatenate([model[:lo], plain, model[max(hi, lo):]])
            lst[sl] = src
            model = want
        else:
            k = len(range(*sl.indices(n)))
            if k > len(src):
                return lst, model
            lst[sl] = src[:k]
            model[sl] = plain[:k]
    elif op == 1:                                   # put
        if not len(src):
            return lst, model
        idx = np.array([r.int(-n, n - 1) for _ in range(r.int(1, 2 * len(src)))])
        lst.put(idx, src)
        np.put(model, idx, plain)
    elif op == 2:
        lst.extend(src)
        model = np.concatenate([model, plain])
    else:
        lst.frombytes(src)
        model = np.concatenate([model, plain])
    return lst, model


def _step_direct(r, model):
    cls = r.choice(_types())
    try:
        obj = cls.__new__(cls) if r.bool() else cls()
    except Exception:       # noqa: BLE001 - refusing construction is the other pass
        return
    names = sorted(n for n in dir(cls) if n not in ("__class__", "__new__", "__init_subclass__"))
    # A list of its own: what the object's methods do to it is not modelled.
    lst = segpy.SegmentedList("d", model)
    argsets = sweep_child._argsets() + [(obj,), (lst,)]
    for _ in range(r.int(1, 4)):
        attr = sweep_child.attempt(getattr, obj, r.choice(names))
        if attr is not sweep_child._FAILED and callable(attr):
            sweep_child.attempt(attr, *r.choice(argsets))
    # And the object as an argument of the list's methods.
    for meth in (lst.extend, lst.append, lst.count, lst.__eq__, lst.__contains__):
        sweep_child.attempt(meth, obj)
    hostile.consistent(lst)


def _step_thread(r):
    _name, call = r.choice(hostile.THREAD_CALLS)
    n = 100_000          # segments big enough that free() unmaps them
    a, b = hostile.race_pair(n)
    assert hostile.race(a, b, call, rounds=r.int(1, 5), n=n) == []
    hostile.consistent(a)


def TestOneInput(data: bytes) -> None:
    r = Reader(data)
    model = np.arange(r.int(0, 64), dtype=np.float64)
    lst = segpy.SegmentedList("d", model, first_segment=r.choice([1, 2, 8, 64]))
    for _ in range(r.int(1, 10)):
        if r.remaining <= 0:
            break
        kind = r.int(0, 31)
        if kind < 6:
            _step_write(r)
        elif kind < 12:
            _step_read(r)
        elif kind < 17:
            _step_finaliser(r)
        elif kind < 22:
            lst, model = _step_liar(r, lst, model)
            _check_model(lst, model)
        elif kind < 27:
            lst, model = _step_own_view(r, lst, model)
            _check_model(lst, model)
        elif kind < 31:
            _step_direct(r, model)
        else:
            _step_thread(r)


if __name__ == "__main__":
    main(TestOneInput)
