"""Hostile objects: Python values whose hooks change a SegmentedList mid-call.

Shared by the hostile-input tests (``test_hostile.py``), the hostile fuzz
harness (``fuzz/fuzz_hostile.py``) and the stateful machines
(``test_model.py``).
docs/bad-input.md names the classes of object a caller can pass:

* conversion hooks (``__index__``, ``__int__``, ``__float__``,
  ``__complex__``, ``__array__``, ``__eq__``, ``__bool__``) that run an
  *action* on the list before they answer;
* iterables whose ``__iter__``/``__next__`` do the same;
* finalisers run by the cyclic garbage collector during any allocation
  (:func:`gc_bomb` arms one; :func:`gc_every_allocation` makes the collector
  run at every container allocation);
* ndarray subclasses whose Python-level ``shape``/``ndim``/``size``/
  ``dtype`` lie about the C-level array (:class:`LyingArray`);
* views of the list itself used as a source (:func:`own_view`).

An action is a function of the list: :data:`ACTIONS` maps a name to it.
Every action is something a caller may legitimately do to a list, so a
method may succeed or raise a clear exception, but never crash, corrupt the
list or return a silently wrong result.

The tables at the end (:data:`WRITES`, :data:`READS`, :data:`GC_CALLS`,
:data:`THREAD_CALLS`) are the calls that run Python code mid-call; each
takes the list and an action name, so the suite can run every pair and the
fuzzer can draw pairs and chain them.
"""

from __future__ import annotations

import contextlib
import gc
import pickle
import sys
import threading
import time
from contextlib import contextmanager
from typing import ClassVar

import numpy as np

from segpy import SegmentedList, SystemAllocator
from segpy._capi_testing import struct_problems


def _clear(lst):
    lst.clear()


def _shrink(lst):
    del lst[len(lst) // 2:]


def _pop_all_but_one(lst):
    del lst[1:]


def _grow(lst):
    lst.extend(np.zeros(5000, dtype=lst.dtype))


def _reinit_wide(lst):
    # A wider element than any test list uses: a stale itemsize would read
    # or write past a converted value or a segment.
    lst.__init__("S200", [b"x"] * 3, first_segment=1)


def _reinit_narrow(lst):
    lst.__init__("i1", range(3), first_segment=1)


def _reinit_same(lst):
    lst.__init__(lst.dtype, [], first_segment=1)


def _shrink_to_fit(lst):
    del lst[:]
    lst.shrink_to_fit()


def _views_then_clear(lst):
    # Views pin the segments; dropping them at once lets clear() free them.
    lst.segments()
    lst.clear()


def _reset_allocator(lst):
    # Give the allocator's memory back (a bump arena's reset(), a heap's
    # trim()): refused or harmless while the list's segments are live.
    alloc = lst.allocator
    for name in ("reset", "trim"):
        if hasattr(alloc, name):
            getattr(alloc, name)()


ACTIONS = {
    "clear": _clear,
    "shrink": _shrink,
    "pop_all_but_one": _pop_all_but_one,
    "grow": _grow,
    "reinit_wide": _reinit_wide,
    "reinit_narrow": _reinit_narrow,
    "reinit_same": _reinit_same,
    "shrink_to_fit": _shrink_to_fit,
    "views_then_clear": _views_then_clear,
    "reset_allocator": _reset_allocator,
}


class Hook:
    """A value whose every conversion hook runs ``action(lst)`` first.

    ``times`` limits how many hooks act (then the value is inert), so that a
    hook called per element does not act forever.  Exceptions from the action
    (a refused re-initialisation, say) are recorded in ``errors`` and
    swallowed: the point is the method's behaviour afterwards.
    """

    def __init__(self, lst, action, value=1, times=1):
        self.lst = lst
        self.action = ACTIONS[action] if isinstance(action, str) else action
        self.value = value
        self.times = times
        self.errors = []

    def _act(self):
        if self.times > 0:
            self.times -= 1
            try:
                self.action(self.lst)
            except Exception as exc:       # noqa: BLE001 - recorded, not hidden
                self.errors.append(exc)

    def __index__(self):
        self._act()
        return int(self.value)

    def __int__(self):
        self._act()
        return int(self.value)

    def __float__(self):
        self._act()
        return float(self.value)

    def __complex__(self):
        self._act()
        return complex(self.value)

    def __bool__(self):
        self._act()
        return bool(self.value)

    def __array__(self, dtype=None, copy=None):
        self._act()
        return np.asarray(self.value, dtype=dtype)

    def __eq__(self, other):
        self._act()
        return self.value == other

    __hash__ = None


class HookIndex:
    """An int-like index (``__index__`` only) that acts first."""

    def __init__(self, lst, action, value=0, times=1):
        self._hook = Hook(lst, action, value, times)

    def __index__(self):
        return self._hook.__index__()


class HookArray:
    """Array-like only through ``__array__``, which acts first."""

    def __init__(self, lst, action, value, times=1):
        self._hook = Hook(lst, action, value, times)

    def __array__(self, dtype=None, copy=None):
        return self._hook.__array__(dtype)


class HookIterable:
    """An iterable that acts at ``__iter__`` and after yielding ``at`` items."""

    def __init__(self, lst, action, items, at=1, in_iter=False):
        self.lst = lst
        self.action = ACTIONS[action] if isinstance(action, str) else action
        self.items = list(items)
        self.at = at
        self.in_iter = in_iter

    def __iter__(self):
        if self.in_iter:
            _quiet(self.action, self.lst)
        for k, x in enumerate(self.items):
            if k == self.at:
                _quiet(self.action, self.lst)
            yield x


def _quiet(action, lst):
    # A refused action (RuntimeError while a method runs, say) is fine.
    with contextlib.suppress(Exception):
        action(lst)


class _Finaliser:
    def __init__(self, lst, action):
        self.lst = lst
        self.action = action
        self.cycle = self           # only the cyclic collector frees this

    def __del__(self):
        _quiet(self.action, self.lst)


def gc_bomb(lst, action):
    """Leave garbage whose finaliser runs ``action(lst)`` when the GC collects it."""
    action = ACTIONS[action] if isinstance(action, str) else action
    _Finaliser(lst, action)


@contextmanager
def gc_every_allocation():
    """Run the cyclic collector's youngest generation at every container
    allocation.

    Only the youngest: the finalisers :func:`gc_bomb` arms are new garbage,
    so a young collection finds them at once, and a full collection at
    every allocation would cost milliseconds each under the test runner's
    live objects.
    """
    old = gc.get_threshold()
    gc.set_threshold(1, 1 << 30, 1 << 30)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.collect(0)           # no armed finaliser outlives the block


class LyingArray(np.ndarray):
    """An ndarray subclass whose Python-level attributes disagree with its data.

    Built with :func:`lying`; ``shape``, ``ndim``, ``size``, ``dtype``,
    ``itemsize``, ``nbytes``, ``strides`` and ``flags``-free attributes
    report what ``lies`` says instead of the truth.
    """

    _lies: ClassVar[dict] = {}

    def __array_finalize__(self, obj):
        self._lies = getattr(obj, "_lies", {})

    def __getattribute__(self, name):
        lies = np.ndarray.__getattribute__(self, "_lies")
        if name in lies:
            return lies[name]
        return np.ndarray.__getattribute__(self, name)


def lying(arr, **lies):
    """``arr`` as a :class:`LyingArray` whose attributes named in ``lies`` lie."""
    out = np.asarray(arr).view(LyingArray)
    out._lies = dict(lies)
    return out


def lies_for(arr):
    """A few sets of lies about ``arr`` (bigger, smaller, other dtype, other rank)."""
    n = np.asarray(arr).size
    return [
        {"shape": (n * 100 + 1000,), "size": n * 100 + 1000},
        {"shape": (max(n // 2, 0),), "size": max(n // 2, 0)},
        {"dtype": np.dtype("S200"), "itemsize": 200},
        {"dtype": np.dtype("i1"), "itemsize": 1},
        {"ndim": 1, "shape": (n,)},
        {"ndim": 2, "shape": (1, n)},
        {"nbytes": 10 ** 9},
    ]


def own_view(lst, j=0):
    """A zero-copy view of segment ``j`` of ``lst`` (a source that aliases it)."""
    return lst.segments()[j]


# -- the calls that run Python code, shared by test_hostile and fuzz_hostile --

# A clear exception: what a method may raise when Python code changed the
# list under it, or refused the action.
CLEAR = (RuntimeError, IndexError, ValueError, TypeError, BufferError, OverflowError)


def consistent(lst):
    """The list's views, copies, iteration and C struct all agree."""
    assert struct_problems(lst) == []
    n = len(lst)
    arr = lst.to_numpy()
    assert arr.shape == (n,)
    assert sum(len(v) for v in lst.segments()) == n
    assert len(list(lst)) == n
    assert lst.capacity >= n
    if n:
        joined = np.concatenate(lst.segments())
        assert joined.tobytes() == arr.tobytes() == lst.tobytes()


def make():
    return SegmentedList("d", np.arange(100.0), first_segment=1)


def make_generic():
    # float16 goes through numpy for every conversion (K_GENERIC).
    return SegmentedList("e", np.arange(100.0), first_segment=1)


def answers(fn, pre, post):
    """The answers ``fn`` gives for the contents before and after the call."""
    out = []
    for arr in (pre, post):
        try:
            out.append(fn(arr))
        except CLEAR:
            out.append(None)
    return out


def check_read(call, ref, action):
    """Run READS entry ``(call, ref)`` with ``action`` on a fresh :func:`make`
    list: the list stays consistent, and the answer is ``ref``'s for the
    contents before the call or after it (or a clear exception)."""
    lst = make()
    pre = lst.to_numpy()
    try:
        got = call(lst, action)
    except CLEAR:
        consistent(lst)
        return
    consistent(lst)
    want = answers(ref, pre, lst.to_numpy())
    assert any(a is not None and same(got, a) for a in want), (got, want)


def _is_nan(x):
    return isinstance(x, (float, np.floating)) and np.isnan(x)


def same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()
    return a == b or (_is_nan(a) and _is_nan(b))


# -- writes: the hook runs during the conversion, before the write ------------

# (name, list factory, call(lst) -> None)
WRITES = [
    ("append-float", make, lambda L, a: L.append(Hook(L, a, 2.5))),
    ("append-generic", make_generic, lambda L, a: L.append(Hook(L, a, 2.5))),
    ("append-array", make, lambda L, a: L.append(HookArray(L, a, 2.5))),
    ("append-record", lambda: SegmentedList([("a", "i4"), ("b", "f8")], [(1, 2.0)] * 100,
                                            first_segment=1),
     lambda L, a: L.append((Hook(L, a, 1), 2.0))),
    ("insert-index", make, lambda L, a: L.insert(HookIndex(L, a, 50), 1.0)),
    ("insert-value", make_generic, lambda L, a: L.insert(50, Hook(L, a, 1.0))),
    ("setitem-value", make_generic, lambda L, a: L.__setitem__(50, Hook(L, a, 1.0))),
    ("setitem-index", make, lambda L, a: L.__setitem__(HookIndex(L, a, 50), 1.0)),
    ("setslice-bound", make, lambda L, a: L.__setitem__(slice(HookIndex(L, a, 10), 90),
                                                     np.zeros(80))),
    ("setslice-ext", make, lambda L, a: L.__setitem__(slice(HookIndex(L, a, 10), 90, 2),
                                                   np.zeros(40))),
    ("setslice-iter", make, lambda L, a: L.__setitem__(slice(10, 90),
                                                    HookIterable(L, a, [1.0] * 80, at=5))),
    ("setslice-items", make_generic,
     lambda L, a: L.__setitem__(slice(10, 90), [Hook(L, a, 1.0)] + [2.0] * 79)),
    ("setslice-objarr", make, lambda L, a: L.__setitem__(slice(10, 90), _objarr(L, a, 80))),
    ("extend-iter", make, lambda L, a: L.extend(HookIterable(L, a, [1.0] * 80, at=5))),
    ("extend-iter-start", make, lambda L, a: L.extend(HookIterable(L, a, [1.0] * 8,
                                                                in_iter=True))),
    ("extend-objarr", make, lambda L, a: L.extend(_objarr(L, a, 80))),
    ("extend-arraylike", make, lambda L, a: L.extend(HookArray(L, a, np.ones(10)))),
    ("extend-items", make_generic, lambda L, a: L.extend([Hook(L, a, 1.0)] * 3)),
    ("fromlist", make_generic, lambda L, a: L.fromlist([1.0, Hook(L, a, 1.0), 3.0])),
    ("iadd", make, lambda L, a: L.__iadd__(HookIterable(L, a, [1.0] * 80, at=5))),
    ("put-values", make_generic, lambda L, a: L.put([1, 2, 99], [1.0, Hook(L, a, 1.0), 3.0])),
    ("put-indices", make, lambda L, a: L.put([1, 2, HookIndex(L, a, 99)], [1.0, 2.0, 3.0])),
    ("put-index-array", make, lambda L, a: L.put(HookArray(L, a, np.array([1, 2, 99])),
                                              [1.0, 2.0, 3.0])),
    ("delitem-index", make, lambda L, a: L.__delitem__(HookIndex(L, a, 99))),
    ("delslice-bound", make, lambda L, a: L.__delitem__(slice(HookIndex(L, a, 10), None, 3))),
    ("pop-index", make, lambda L, a: L.pop(HookIndex(L, a, 99))),
    ("reserve", make, lambda L, a: L.reserve(HookIndex(L, a, 1000))),
    ("imul", make, lambda L, a: L.__imul__(HookIndex(L, a, 3))),
    ("sort-reverse", make, lambda L, a: L.sort(reverse=HookIndex(L, a, 1))),
    ("fromfile", make, lambda L, a: L.fromfile(_File(L, a), 10)),
    ("tofile", make, lambda L, a: L.tofile(_File(L, a))),
    ("init-iterable", make, lambda L, a: L.__init__("q", HookIterable(L, a, [1, 2, 3], at=1))),
]

# -- reads: the answer must be true of the list before or after the call -----

# (name, call(lst) -> answer, reference(ndarray) -> answer)
READS = [
    ("index", lambda L, a: L.index(Hook(L, a, 99.0)), lambda a: list(a).index(99.0)),
    ("count", lambda L, a: L.count(Hook(L, a, 99.0)), lambda a: int((a == 99.0).sum())),
    ("contains", lambda L, a: Hook(L, a, 99.0) in L, lambda a: bool((a == 99.0).any())),
    ("index-start", lambda L, a: L.index(99.0, HookIndex(L, a, 0)),
     lambda a: list(a).index(99.0)),
    ("eq-arraylike", lambda L, a: L == HookArray(L, a, np.arange(100.0)),
     lambda a: a.shape == (100,) and bool((a == np.arange(100.0)).all())),
    ("eq-items", lambda L, a: L == [Hook(L, a, 0.0)] + list(range(1, 100)),
     lambda a: a.shape == (100,) and bool((a == np.arange(100.0)).all())),
    ("sum-where", lambda L, a: L.sum(where=HookArray(L, a, np.ones(100, bool))),
     lambda a: a.sum(where=np.ones(100, bool))),
    ("min-where", lambda L, a: L.min(where=HookArray(L, a, np.ones(100, bool)), initial=1e9),
     lambda a: a.min(where=np.ones(100, bool), initial=1e9)),
    ("sum-initial", lambda L, a: L.sum(initial=HookArray(L, a, 0.0)), lambda a: a.sum()),
    ("max-initial", lambda L, a: L.max(initial=HookArray(L, a, -1.0)),
     lambda a: a.max(initial=-1.0)),
    ("take-array", lambda L, a: L.take(HookArray(L, a, np.array([1, 2, 99]))),
     lambda a: a.take([1, 2, 99])),
    ("take-items", lambda L, a: L.take([1, 2, HookIndex(L, a, 99)]),
     lambda a: a.take([1, 2, 99])),
    ("take-out", lambda L, a: L.take(HookArray(L, a, np.array([1, 2, 99])), out=np.zeros(3)),
     lambda a: a.take([1, 2, 99])),
    ("fancy-items", lambda L, a: L[[1, 2, HookIndex(L, a, 99)]], lambda a: a[[1, 2, 99]]),
    ("getitem-index", lambda L, a: L[HookIndex(L, a, 99)], lambda a: a[99]),
    ("getslice-bound", lambda L, a: L[HookIndex(L, a, 10)::3].to_numpy(), lambda a: a[10::3]),
    ("to-numpy-start", lambda L, a: L.to_numpy(HookIndex(L, a, 0), 100), lambda a: a[0:100]),
    ("to-numpy-out", lambda L, a: L.to_numpy(HookIndex(L, a, 0), 100, out=np.zeros(100)),
     lambda a: a[0:100]),
    ("mul", lambda L, a: (L * HookIndex(L, a, 3)).to_numpy(), lambda a: np.tile(a, 3)),
]

def _objarr(lst, action, n):
    a = np.empty(n, dtype=object)
    a[:] = 2.0
    a[3] = Hook(lst, action, 1.0)
    return a


class _File:
    """A file whose read() and write() run the action once."""

    def __init__(self, lst, action):
        self.hook = Hook(lst, action)

    def read(self, n):
        self.hook._act()
        return b"\0" * n

    def write(self, b):
        self.hook._act()
        return len(b)


# -- finalisers run by the cyclic GC during any allocation -------------------

# (name, call(lst)): run with gc_bomb() finalisers armed.
GC_CALLS = [
    ("segments", lambda L: [v.copy() for v in L.segments()]),
    ("to_numpy", lambda L: L.to_numpy()),
    ("tobytes", lambda L: L.tobytes()),
    ("bytes", lambda L: bytes(L)),
    ("repr", lambda L: repr(L)),
    ("lt", lambda L: L < SegmentedList("d", range(3000))),
    ("eq", lambda L: L == SegmentedList("d", range(3000))),
    ("copy", lambda L: L.copy().to_numpy()),
    ("slice", lambda L: L[::2].to_numpy()),
    ("sort", lambda L: L.sort()),
    ("sort-reverse", lambda L: L.sort(reverse=True)),
    ("take", lambda L: L.take(np.arange(50))),
    ("mask", lambda L: L[np.ones(len(L), bool)]),
    ("pickle4", lambda L: pickle.loads(pickle.dumps(L, 4)).to_numpy()),
    ("pickle5", lambda L: pickle.loads(pickle.dumps(L, 5)).to_numpy()),
    ("sum", lambda L: L.sum()),
    ("tolist", lambda L: L.tolist()),
    ("iter", lambda L: list(L)),
    ("reversed", lambda L: list(reversed(L))),
    ("pop", lambda L: L.pop()),
    ("append", lambda L: L.append(1.0)),
    ("extend", lambda L: L.extend([1.0, 2.0])),
    ("byteswap", lambda L: L.byteswap()),
    ("count", lambda L: L.count(5.0)),
]


# -- another thread while numpy has released the GIL --------------------------

# (name, call(a, b)): run while another thread clears and refills ``a``.
THREAD_CALLS = [
    ("lt", lambda a, b: a < b),
    ("eq", lambda a, b: a == b),
    ("count", lambda a, b: a.count(3)),
    ("sum", lambda a, b: a.sum()),
    ("sort", lambda a, b: a.sort()),
    ("to_numpy", lambda a, b: a.to_numpy()),
    ("segments", lambda a, b: a.segments()),
]


def race(a, b, call, rounds, n):
    """Run ``call(a, b)`` ``rounds`` times (on a non-empty ``a``; 10 s at the
    most) while another thread clears ``a``,
    refills it with ``n`` zeros and cuts it in half, in turn.

    Returns the unexpected exceptions the other thread met (clear ones, a
    refusal while ``a`` is pinned, say, are fine); ``call``'s own clear
    exceptions are swallowed.  The GIL switch interval is 1 us meanwhile,
    so the other thread runs whenever numpy releases the GIL.  Put ``a`` on
    a ``SystemAllocator``: its large segments are unmapped when freed, so
    a read of a freed segment is a segfault, not stale data.
    """
    stop = threading.Event()
    errors = []
    steps = (a.clear, lambda: a.extend(np.zeros(n, a.dtype)),
             lambda: a.__delitem__(slice(n // 2, None)))

    def mutate():
        k = 0
        while not stop.is_set():
            try:
                steps[k % 3]()
            except CLEAR:
                pass
            except Exception as exc:        # noqa: BLE001 - returned to the caller
                errors.append(exc)
            k += 1

    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    t = threading.Thread(target=mutate)
    t.start()
    try:
        done, deadline = 0, time.monotonic() + 10
        while done < rounds and time.monotonic() < deadline:
            if not len(a):
                continue            # only calls that start on a full list count
            with contextlib.suppress(*CLEAR):
                call(a, b)
            done += 1
    finally:
        stop.set()
        t.join()
        sys.setswitchinterval(old_interval)
    return errors


def race_pair(n):
    """Two int64 lists of ``n`` zeros but for ``b[-1] = 1`` (so a comparison
    runs to the end), ``a`` on a SystemAllocator (see :func:`race`)."""
    a = SegmentedList("q", np.zeros(n, "q"), first_segment=1024, allocator=SystemAllocator())
    b = SegmentedList("q", np.zeros(n, "q"), first_segment=1024)
    b[-1] = 1
    return a, b
