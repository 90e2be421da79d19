"""Hostile objects: Python values whose hooks change a SegmentedList mid-call.

Shared by the hostile-input tests (``test_hostile.py``), the fuzz harnesses
(``fuzz/fuzz_seglist.py``) and the stateful machines (``test_model.py``).
Issue 13 names the classes of object a caller can pass:

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
"""

from __future__ import annotations

import gc
from contextlib import contextmanager

import numpy as np


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
    try:
        action(lst)
    except Exception:       # noqa: BLE001 - a refused action is fine
        pass


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
    """Run the cyclic collector at (nearly) every container allocation."""
    old = gc.get_threshold()
    gc.set_threshold(1, 1, 1)
    try:
        yield
    finally:
        gc.set_threshold(*old)


class LyingArray(np.ndarray):
    """An ndarray subclass whose Python-level attributes disagree with its data.

    Built with :func:`lying`; ``shape``, ``ndim``, ``size``, ``dtype``,
    ``itemsize``, ``nbytes``, ``strides`` and ``flags``-free attributes
    report what ``lies`` says instead of the truth.
    """

    _lies: dict = {}

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
        dict(shape=(n * 100 + 1000,), size=n * 100 + 1000),
        dict(shape=(max(n // 2, 0),), size=max(n // 2, 0)),
        dict(dtype=np.dtype("S200"), itemsize=200),
        dict(dtype=np.dtype("i1"), itemsize=1),
        dict(ndim=1, shape=(n,)),
        dict(ndim=2, shape=(1, n)),
        dict(nbytes=10 ** 9),
    ]


def own_view(lst, j=0):
    """A zero-copy view of segment ``j`` of ``lst`` (a source that aliases it)."""
    return lst.segments()[j]
