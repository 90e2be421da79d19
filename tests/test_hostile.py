"""Hostile objects against every method that runs Python code (issue 13).

Each case calls one method with an argument whose hooks (or a finaliser, or
another thread) change the list mid-call, for every action in
``hostile.ACTIONS``.  The method may succeed or raise a clear exception;
what it may never do is crash (the ASan run of the suite checks for memory
errors), leave the list inconsistent, or return an answer that is true of
neither the list before the call nor the list after it.
"""

from __future__ import annotations

import gc
import pickle
import threading

import numpy as np
import pytest
from hostile import (
    ACTIONS,
    Hook,
    HookArray,
    HookIndex,
    HookIterable,
    gc_bomb,
    gc_every_allocation,
    lies_for,
    lying,
    own_view,
)

import segpy
from segpy import SegmentedList
from segpy._capi_testing import struct_problems

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


def _answers(fn, pre, post):
    """The answers ``fn`` gives for the contents before and after the call."""
    out = []
    for arr in (pre, post):
        try:
            out.append(fn(arr))
        except CLEAR:
            out.append(None)
    return out


def _same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()
    return a == b or (a != a and b != b)


# -- writes: the hook runs during the conversion, before the write ------------

# (name, list factory, call(lst) -> None)
WRITES = [
    ("append-float", make, lambda L: L.append(Hook(L, A(), 2.5))),
    ("append-generic", make_generic, lambda L: L.append(Hook(L, A(), 2.5))),
    ("append-array", make, lambda L: L.append(HookArray(L, A(), 2.5))),
    ("append-record", lambda: SegmentedList([("a", "i4"), ("b", "f8")], [(1, 2.0)] * 100,
                                            first_segment=1),
     lambda L: L.append((Hook(L, A(), 1), 2.0))),
    ("insert-index", make, lambda L: L.insert(HookIndex(L, A(), 50), 1.0)),
    ("insert-value", make_generic, lambda L: L.insert(50, Hook(L, A(), 1.0))),
    ("setitem-value", make_generic, lambda L: L.__setitem__(50, Hook(L, A(), 1.0))),
    ("setitem-index", make, lambda L: L.__setitem__(HookIndex(L, A(), 50), 1.0)),
    ("setslice-bound", make, lambda L: L.__setitem__(slice(HookIndex(L, A(), 10), 90),
                                                     np.zeros(80))),
    ("setslice-ext", make, lambda L: L.__setitem__(slice(HookIndex(L, A(), 10), 90, 2),
                                                   np.zeros(40))),
    ("setslice-iter", make, lambda L: L.__setitem__(slice(10, 90),
                                                    HookIterable(L, A(), [1.0] * 80, at=5))),
    ("setslice-items", make_generic,
     lambda L: L.__setitem__(slice(10, 90), [Hook(L, A(), 1.0)] + [2.0] * 79)),
    ("setslice-objarr", make, lambda L: L.__setitem__(slice(10, 90), _objarr(L, 80))),
    ("extend-iter", make, lambda L: L.extend(HookIterable(L, A(), [1.0] * 80, at=5))),
    ("extend-iter-start", make, lambda L: L.extend(HookIterable(L, A(), [1.0] * 8,
                                                                in_iter=True))),
    ("extend-objarr", make, lambda L: L.extend(_objarr(L, 80))),
    ("extend-arraylike", make, lambda L: L.extend(HookArray(L, A(), np.ones(10)))),
    ("extend-items", make_generic, lambda L: L.extend([Hook(L, A(), 1.0)] * 3)),
    ("fromlist", make_generic, lambda L: L.fromlist([1.0, Hook(L, A(), 1.0), 3.0])),
    ("iadd", make, lambda L: L.__iadd__(HookIterable(L, A(), [1.0] * 80, at=5))),
    ("put-values", make_generic, lambda L: L.put([1, 2, 99], [1.0, Hook(L, A(), 1.0), 3.0])),
    ("put-indices", make, lambda L: L.put([1, 2, HookIndex(L, A(), 99)], [1.0, 2.0, 3.0])),
    ("put-index-array", make, lambda L: L.put(HookArray(L, A(), np.array([1, 2, 99])),
                                              [1.0, 2.0, 3.0])),
    ("delitem-index", make, lambda L: L.__delitem__(HookIndex(L, A(), 99))),
    ("delslice-bound", make, lambda L: L.__delitem__(slice(HookIndex(L, A(), 10), None, 3))),
    ("pop-index", make, lambda L: L.pop(HookIndex(L, A(), 99))),
    ("reserve", make, lambda L: L.reserve(HookIndex(L, A(), 1000))),
    ("imul", make, lambda L: L.__imul__(HookIndex(L, A(), 3))),
    ("sort-reverse", make, lambda L: L.sort(reverse=HookIndex(L, A(), 1))),
    ("fromfile", make, lambda L: L.fromfile(_File(L), 10)),
    ("tofile", make, lambda L: L.tofile(_File(L))),
    ("init-iterable", make, lambda L: L.__init__("q", HookIterable(L, A(), [1, 2, 3], at=1))),
]

# -- reads: the answer must be true of the list before or after the call -----

# (name, call(lst) -> answer, reference(ndarray) -> answer)
READS = [
    ("index", lambda L: L.index(Hook(L, A(), 99.0)), lambda a: list(a).index(99.0)),
    ("count", lambda L: L.count(Hook(L, A(), 99.0)), lambda a: int((a == 99.0).sum())),
    ("contains", lambda L: Hook(L, A(), 99.0) in L, lambda a: bool((a == 99.0).any())),
    ("index-start", lambda L: L.index(99.0, HookIndex(L, A(), 0)),
     lambda a: list(a).index(99.0)),
    ("eq-arraylike", lambda L: L == HookArray(L, A(), np.arange(100.0)),
     lambda a: a.shape == (100,) and bool((a == np.arange(100.0)).all())),
    ("eq-items", lambda L: L == [Hook(L, A(), 0.0)] + list(range(1, 100)),
     lambda a: a.shape == (100,) and bool((a == np.arange(100.0)).all())),
    ("sum-where", lambda L: L.sum(where=HookArray(L, A(), np.ones(100, bool))),
     lambda a: a.sum(where=np.ones(100, bool))),
    ("min-where", lambda L: L.min(where=HookArray(L, A(), np.ones(100, bool)), initial=1e9),
     lambda a: a.min(where=np.ones(100, bool), initial=1e9)),
    ("sum-initial", lambda L: L.sum(initial=HookArray(L, A(), 0.0)), lambda a: a.sum()),
    ("max-initial", lambda L: L.max(initial=HookArray(L, A(), -1.0)),
     lambda a: a.max(initial=-1.0)),
    ("take-array", lambda L: L.take(HookArray(L, A(), np.array([1, 2, 99]))),
     lambda a: a.take([1, 2, 99])),
    ("take-items", lambda L: L.take([1, 2, HookIndex(L, A(), 99)]),
     lambda a: a.take([1, 2, 99])),
    ("take-out", lambda L: L.take(HookArray(L, A(), np.array([1, 2, 99])), out=np.zeros(3)),
     lambda a: a.take([1, 2, 99])),
    ("fancy-items", lambda L: L[[1, 2, HookIndex(L, A(), 99)]], lambda a: a[[1, 2, 99]]),
    ("getitem-index", lambda L: L[HookIndex(L, A(), 99)], lambda a: a[99]),
    ("getslice-bound", lambda L: L[HookIndex(L, A(), 10)::3].to_numpy(), lambda a: a[10::3]),
    ("to-numpy-start", lambda L: L.to_numpy(HookIndex(L, A(), 0), 100), lambda a: a[0:100]),
    ("to-numpy-out", lambda L: L.to_numpy(HookIndex(L, A(), 0), 100, out=np.zeros(100)),
     lambda a: a[0:100]),
    ("mul", lambda L: (L * HookIndex(L, A(), 3)).to_numpy(), lambda a: np.tile(a, 3)),
]

_ACTION = [None]


def A():
    return _ACTION[0]


def _objarr(lst, n):
    a = np.empty(n, dtype=object)
    a[:] = 2.0
    a[3] = Hook(lst, A(), 1.0)
    return a


class _File:
    """A file whose read() and write() run the action once."""

    def __init__(self, lst):
        self.hook = Hook(lst, A())

    def read(self, n):
        self.hook._act()
        return b"\0" * n

    def write(self, b):
        self.hook._act()
        return len(b)


@pytest.fixture(params=sorted(ACTIONS))
def action(request):
    _ACTION[0] = request.param
    yield request.param
    _ACTION[0] = None


@pytest.mark.parametrize("name,factory,call", WRITES, ids=[w[0] for w in WRITES])
def test_write_with_a_hook_that_changes_the_list(name, factory, call, action):
    lst = factory()
    try:
        call(lst)
    except CLEAR:
        pass
    consistent(lst)


@pytest.mark.parametrize("name,call,ref", READS, ids=[r[0] for r in READS])
def test_read_with_a_hook_that_changes_the_list(name, call, ref, action):
    lst = make()
    pre = lst.to_numpy()
    try:
        got = call(lst)
    except CLEAR:
        consistent(lst)
        return
    consistent(lst)
    post = lst.to_numpy()
    answers = _answers(ref, pre, post)
    assert any(a is not None and _same(got, a) for a in answers), (got, answers)


def test_a_hook_that_clears_an_append_target_stores_the_value():
    # The documented order: the conversion (and its hook) runs first, then
    # the value is appended to the list as the hook left it.
    lst = make_generic()
    lst.append(Hook(lst, "clear", 2.5))
    assert lst.tolist() == [2.5]


def test_reinit_is_refused_while_a_method_runs():
    lst = make_generic()
    hook = Hook(lst, "reinit_wide", 2.5)
    lst.append(hook)
    assert len(hook.errors) == 1 and isinstance(hook.errors[0], RuntimeError)
    assert "while one of its methods is running" in str(hook.errors[0])
    assert lst.dtype == np.float16 and lst[-1] == 2.5
    # And once nothing runs, re-initialising is allowed (as for list).
    lst.__init__("S3", [b"ab"])
    assert lst.tolist() == [b"ab"]


def test_reduction_over_a_list_changed_by_where_raises():
    # Issue 13: where= ran user code that shrank the list, and the sum was
    # then taken over stale memory (1953 for a list whose sum is 4950 or 0).
    lst = make()
    with pytest.raises(RuntimeError, match="changed size during sum"):
        lst.sum(where=HookArray(lst, "shrink", np.ones(100, bool)))


# -- finalisers run by the cyclic GC during any allocation -------------------

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


@pytest.mark.parametrize("dtype", ["d", "e", "S9"])
@pytest.mark.parametrize("name,call", GC_CALLS, ids=[g[0] for g in GC_CALLS])
def test_finaliser_during_an_allocation(name, call, dtype, action):
    if dtype == "S9" and name in ("sum", "append", "extend", "count"):
        pytest.skip("not an operation of byte strings")
    init = np.arange(2000).astype(dtype)
    lst = SegmentedList(dtype, init, first_segment=1)
    with gc_every_allocation():
        for _ in range(3):
            gc_bomb(lst, action)
        try:
            call(lst)
        except CLEAR:
            pass
    gc.collect()
    consistent(lst)


# -- ndarray subclasses whose Python attributes lie ---------------------------

def _liars(arr):
    return [lying(arr, **lies) for lies in lies_for(arr)]


def test_extend_reads_the_c_level_array():
    src = np.arange(10.0)
    for liar in _liars(src):
        lst = SegmentedList("d", [1.0])
        lst.extend(liar)
        assert lst.tolist() == [1.0] + src.tolist()
        consistent(lst)


def test_slice_assignment_reads_the_c_level_array():
    src = np.arange(10.0)
    for liar in _liars(src):
        lst = SegmentedList("d", np.zeros(20))
        lst[5:15] = liar
        assert lst.tolist() == [0.0] * 5 + src.tolist() + [0.0] * 5
        lst[::2] = liar
        assert lst.tolist()[::2] == src.tolist()


def test_take_and_put_read_the_c_level_index_array():
    idx = np.array([3, 1, 4, 1, 5], dtype=np.intp)
    for liar in _liars(idx):
        lst = SegmentedList("d", np.arange(10.0))
        assert lst.take(liar).tolist() == [3.0, 1.0, 4.0, 1.0, 5.0]
        assert lst[liar].tolist() == [3.0, 1.0, 4.0, 1.0, 5.0]
        lst.put(liar, np.zeros(5))
        assert lst.tolist() == [0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 6.0, 7.0, 8.0, 9.0]


def test_put_reads_the_c_level_value_array():
    vals = np.array([7.0, 8.0])
    for liar in _liars(vals):
        lst = SegmentedList("d", np.zeros(4))
        lst.put([0, 1, 2, 3], liar)
        assert lst.tolist() == [7.0, 8.0, 7.0, 8.0]


def test_boolean_mask_reads_the_c_level_array():
    mask = np.array([True, False] * 5)
    for liar in _liars(mask):
        lst = SegmentedList("d", np.arange(10.0))
        try:
            got = lst[liar]
        except IndexError:
            continue        # a lie about the dtype makes it an integer index
        assert got.tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]


@pytest.mark.parametrize("where", ["to_numpy", "take"])
def test_out_arrays_are_checked_at_the_c_level(where):
    lst = SegmentedList("d", np.arange(10.0))
    for lies in [dict(shape=(1000,), size=1000), dict(dtype=np.dtype("d")),
                 dict(flags=np.zeros(3).flags)]:
        small = lying(np.zeros(3, dtype="f4"), **lies)
        with pytest.raises((TypeError, ValueError)):
            if where == "to_numpy":
                lst.to_numpy(out=small)
            else:
                lst.take(np.arange(10), out=small)
    good = lying(np.zeros(10), shape=(3,), size=3)
    assert lst.to_numpy(out=good) is good
    assert np.asarray(good).tolist() == list(range(10))


def test_equality_reads_the_c_level_array():
    lst = SegmentedList("d", np.arange(5.0))
    assert lst == lying(np.arange(5.0), shape=(7,), size=7)
    assert not lst == lying(np.arange(7.0), shape=(5,), size=5)


# -- views of the list used as a source ---------------------------------------

def test_reversed_slice_assignment_from_own_view():
    lst = SegmentedList("q", range(8), first_segment=8)
    lst[::-1] = own_view(lst)
    assert lst.tolist() == list(range(7, -1, -1))


def test_slice_assignment_from_own_view_that_moves():
    lst = SegmentedList("q", range(8), first_segment=4)
    ref = list(range(8))
    lst[2:3] = own_view(lst)            # grows: the tail moves while copying
    ref[2:3] = ref[:4]
    assert lst.tolist() == ref


def test_put_from_own_view():
    lst = SegmentedList("q", range(8), first_segment=8)
    ref = np.arange(8)
    np.put(ref, [7, 6, 5, 4, 3, 2, 1, 0], ref.copy())
    lst.put([7, 6, 5, 4, 3, 2, 1, 0], own_view(lst))
    assert lst.tolist() == ref.tolist()


def test_extend_and_frombytes_from_a_view_past_the_end():
    lst = SegmentedList("q", range(8), first_segment=8)
    view = own_view(lst)                # pins segment 0; clear keeps it
    snapshot = view.copy()
    lst.clear()
    lst.extend(view)                    # the destination slots are the source
    assert lst.tolist() == snapshot.tolist()
    lst.clear()
    lst.frombytes(view)
    assert lst.tolist() == snapshot.tolist()


# -- another thread while numpy has released the GIL --------------------------

THREAD_CALLS = [
    ("lt", lambda a, b: a < b),
    ("eq", lambda a, b: a == b),
    ("count", lambda a, b: a.count(3)),
    ("sum", lambda a, b: a.sum()),
    ("sort", lambda a, b: a.sort()),
    ("to_numpy", lambda a, b: a.to_numpy()),
    ("segments", lambda a, b: a.segments()),
]


@pytest.mark.parametrize("name,call", THREAD_CALLS, ids=[t[0] for t in THREAD_CALLS])
def test_another_thread_mutates_during_a_numpy_call(name, call):
    n = 300_000
    a = SegmentedList("q", np.zeros(n, "q"), first_segment=1024)
    b = SegmentedList("q", np.zeros(n, "q"), first_segment=1024)
    stop = threading.Event()
    errors = []

    def mutate():
        k = 0
        while not stop.is_set():
            try:
                if k % 3 == 0:
                    a.clear()
                elif k % 3 == 1:
                    a.extend(np.zeros(n, "q"))
                else:
                    del a[n // 2:]
            except CLEAR:
                pass
            except Exception as exc:        # noqa: BLE001 - reported below
                errors.append(exc)
            k += 1

    t = threading.Thread(target=mutate)
    t.start()
    try:
        for _ in range(30):
            try:
                call(a, b)
            except CLEAR:
                pass
    finally:
        stop.set()
        t.join()
    assert errors == []
    consistent(a)


def test_pins_are_released_after_every_call():
    # A pin left behind would make clear() keep its segments forever.
    alloc = segpy.SystemAllocator()
    lst = SegmentedList("d", np.arange(100.0), allocator=alloc, first_segment=1)
    for action in sorted(ACTIONS):
        _ACTION[0] = action
        for _, _, call in WRITES[:20]:
            target = SegmentedList("d", np.arange(100.0), allocator=alloc, first_segment=1)
            try:
                call(target)
            except CLEAR:
                pass
            target.clear()
            assert target.capacity == 0
    _ACTION[0] = None
    lst.clear()
    assert lst.capacity == 0
