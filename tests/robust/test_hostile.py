"""Hostile objects against every method that runs Python code.

Each case calls one method with an argument whose hooks (or a finaliser, or
another thread) change the list mid-call, for every action in
``hostile.ACTIONS``.  The method may succeed or raise a clear exception;
what it may never do is crash (the ASan run of the suite checks for memory
errors), leave the list inconsistent, or return an answer that is true of
neither the list before the call nor the list after it.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

import segpy
from segpy import SegmentedList

from hostile import (
    ACTIONS,
    CLEAR,
    GC_CALLS,
    READS,
    THREAD_CALLS,
    WRITES,
    Hook,
    HookArray,
    check_read,
    consistent,
    gc_bomb,
    gc_every_allocation,
    lies_for,
    lying,
    make,
    make_generic,
    own_view,
    race,
    race_pair,
)


@pytest.fixture(params=sorted(ACTIONS))
def action(request):
    return request.param


@pytest.mark.parametrize("name,factory,call", WRITES, ids=[w[0] for w in WRITES])
def test_write_with_a_hook_that_changes_the_list(name, factory, call, action):
    lst = factory()
    try:
        call(lst, action)
    except CLEAR:
        pass
    consistent(lst)


@pytest.mark.parametrize("name,call,ref", READS, ids=[r[0] for r in READS])
def test_read_with_a_hook_that_changes_the_list(name, call, ref, action):
    check_read(call, ref, action)


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
    # Before the pinning rule, where= ran user code that shrank the list, and the sum was
    # then taken over stale memory (1953 for a list whose sum is 4950 or 0).
    lst = make()
    with pytest.raises(RuntimeError, match="changed size during sum"):
        lst.sum(where=HookArray(lst, "shrink", np.ones(100, bool)))


# -- finalisers run by the cyclic GC during any allocation -------------------

# The float16 sum of 0..1999 overflows when no action shortened the list.
@pytest.mark.filterwarnings("ignore:overflow encountered in reduce:RuntimeWarning")
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
    for lies in [{"shape": (1000,), "size": 1000}, {"dtype": np.dtype("d")},
                 {"flags": np.zeros(3).flags}]:
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
    assert lst != lying(np.arange(7.0), shape=(5,), size=5)


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

@pytest.mark.parametrize("name,call", THREAD_CALLS, ids=[t[0] for t in THREAD_CALLS])
def test_another_thread_mutates_during_a_numpy_call(name, call):
    n = 300_000
    a, b = race_pair(n)
    assert race(a, b, call, rounds=300, n=n) == []
    consistent(a)


def test_pins_are_released_after_every_call():
    # A pin left behind would make clear() keep its segments forever.
    alloc = segpy.SystemAllocator()
    lst = SegmentedList("d", np.arange(100.0), allocator=alloc, first_segment=1)
    for action in sorted(ACTIONS):
        for _, _, call in WRITES[:20]:
            target = SegmentedList("d", np.arange(100.0), allocator=alloc, first_segment=1)
            try:
                call(target, action)
            except CLEAR:
                pass
            target.clear()
            assert target.capacity == 0
    lst.clear()
    assert lst.capacity == 0
