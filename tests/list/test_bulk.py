"""numpy-style bulk access: take, put, fancy/mask indexing, to_numpy ranges and out=, reductions.

Every operation is checked against numpy on an equal ndarray, over the dtype
families and several first-segment sizes (so that index runs cross every
segment edge).  Every bad input is checked for its exception type (and, where
numpy has one, numpy's message) and for leaving the list and any ``out``
array unchanged.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import segpy
from segpy import SegmentedList
from segpy.seglist import _getitem_fancy

from seg_support import FAMILIES, assert_arrays_identical, examples

NUMERIC_FAMILIES = [f for f in FAMILIES if f.numeric]


def ref_array(dt, n, seed=0):
    """``n`` valid, varied elements of ``dt`` (no NaN)."""
    dt = np.dtype(dt)
    rng = np.random.default_rng(seed)
    k = dt.kind if dt.names is None else "V"
    if k == "b":
        return rng.integers(0, 2, n).astype(dt)
    if k in "fc":
        v = rng.normal(0, 100, n) + (1j * rng.normal(0, 100, n) if k == "c" else 0)
        return v.astype(dt)
    if k in "Mm":
        return rng.integers(-10**6, 10**6, n).astype(dt)
    if k == "U":
        letters = np.array(list("abcdefghij"))
        return np.array(["".join(rng.choice(letters, 3)) for _ in range(n)], dtype=dt)
    # ints, bytes, records: any bytes are a valid element
    return np.frombuffer(rng.bytes(n * dt.itemsize), dtype=dt).copy()


def make(dt, n, s0=None, seed=0):
    ref = ref_array(dt, n, seed)
    lst = SegmentedList(dt, first_segment=s0)
    lst.extend(ref)
    return lst, ref


def snapshot(lst):
    return lst.to_numpy().tobytes(), len(lst), lst.capacity


def fancy_getitem_supported():
    try:
        SegmentedList("q", [1, 2])[np.array([0])]
    except TypeError:
        return False
    return True


# ---------------------------------------------------------------------------
# take
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 37, 300])
def test_take_every_index(family, first_segment, n):
    lst, ref = make(family.dtype, n, first_segment)
    idx = np.arange(-n, n)
    np.random.default_rng(1).shuffle(idx)
    assert_arrays_identical(lst.take(idx), ref[idx])
    assert_arrays_identical(lst.take(idx.tolist()), ref[idx])


def test_take_shapes_and_index_dtypes(family):
    lst, ref = make(family.dtype, 100, 4)
    idx2 = np.array([[0, 99], [-1, 50], [3, 3]])
    assert_arrays_identical(lst.take(idx2), ref[idx2])
    for dt in ["i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", ">i8", "?"]:
        idx = np.array([0, 1, 1, 0, 64], dtype=np.int64).astype(dt)
        assert_arrays_identical(lst.take(idx), np.take(ref, idx))
    # a strided index array
    idx = np.arange(200)[::-3] - 100
    assert_arrays_identical(lst.take(idx), ref[idx])
    assert_arrays_identical(lst.take([]), ref[:0])
    assert_arrays_identical(lst.take(np.empty((0, 3), dtype=np.intp)), ref[np.empty((0, 3), int)])


def test_take_scalar_gives_numpy_scalar(family):
    lst, ref = make(family.dtype, 50, 2)
    for i in [0, 7, -1, np.int32(3)]:
        got = lst.take(i)
        want = np.take(ref, i)
        assert type(got) is type(want)
        assert_arrays_identical(np.array([got], dtype=ref.dtype), np.array([want], dtype=ref.dtype))


@pytest.mark.parametrize("mode", ["wrap", "clip"])
def test_take_modes(first_segment, mode):
    lst, ref = make("i8", 77, first_segment)
    idx = np.array([-1000, -78, -77, -1, 0, 76, 77, 78, 1000, 5])
    assert_arrays_identical(lst.take(idx, mode=mode), np.take(ref, idx, mode=mode))


def test_take_empty_list():
    lst = SegmentedList("f8")
    assert_arrays_identical(lst.take([]), np.empty(0))
    for mode in ["raise", "wrap", "clip"]:
        with pytest.raises(IndexError):
            lst.take([0], mode=mode)
        assert_arrays_identical(lst.take([], mode=mode), np.empty(0))


def test_take_via_numpy_function():
    lst, ref = make("f8", 100, 8)
    idx = [5, -2, 40]
    assert_arrays_identical(np.take(lst, idx), np.take(ref, idx))
    assert_arrays_identical(np.take(lst, idx, axis=0), np.take(ref, idx))


@pytest.mark.parametrize("bad", [100, -101, 1 << 40, -(1 << 40)])
def test_take_out_of_range(first_segment, bad):
    lst, ref = make("i4", 100, first_segment)
    before = snapshot(lst)
    with pytest.raises(IndexError) as exc:
        lst.take([0, 5, bad, 1])
    with pytest.raises(IndexError) as want:
        np.take(ref, [0, 5, bad, 1])
    assert str(exc.value) == str(want.value)
    assert snapshot(lst) == before


@pytest.mark.parametrize("indices, exc", [
    ([1.0], TypeError),
    (np.array([1.5]), TypeError),
    (np.array(["1"]), TypeError),
    (["a"], TypeError),
    (np.array([1 + 0j]), TypeError),
    ([object()], TypeError),
])
def test_take_bad_index_types(indices, exc):
    lst, _ = make("i8", 10)
    before = snapshot(lst)
    with pytest.raises(exc):
        lst.take(indices)
    assert snapshot(lst) == before


def test_take_float_index_message_is_numpys():
    lst, ref = make("i8", 10)
    with pytest.raises(TypeError) as got:
        lst.take(np.array([1.5]))
    with pytest.raises(TypeError) as want:
        np.take(ref, np.array([1.5]))
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("kw, exc", [
    (dict(mode="bogus"), ValueError),
    (dict(axis=1), np.exceptions.AxisError),
    (dict(axis=-2), np.exceptions.AxisError),
    (dict(axis=1.0), TypeError),
])
def test_take_bad_keywords(kw, exc):
    lst, ref = make("i8", 10)
    with pytest.raises(exc):
        lst.take([1], **kw)
    with pytest.raises(exc):
        np.take(ref, [1], **kw)


def test_take_out():
    lst, ref = make("i8", 300, 4)
    idx = np.array([[3, 299], [-1, 100]])
    out = np.full((2, 2), -7, dtype="i8")
    assert lst.take(idx, out=out) is out
    assert_arrays_identical(out, ref[idx])
    out0 = np.zeros((), dtype="i8")
    assert lst.take(np.intp(5), out=out0) is out0
    assert out0[()] == ref[5]


@pytest.mark.parametrize("out, exc", [
    (np.zeros(3, dtype="f8"), TypeError),          # dtype: no casting
    (np.zeros(3, dtype=">i8"), TypeError),         # byte order counts
    ([0, 0, 0], TypeError),                        # not an ndarray
    (np.zeros(4, dtype="i8"), ValueError),         # shape
    (np.zeros((3, 1), dtype="i8"), ValueError),    # shape
    (np.zeros(6, dtype="i8")[::2], ValueError),    # not contiguous
])
def test_take_bad_out(out, exc):
    lst, _ = make("i8", 20)
    if isinstance(out, np.ndarray):
        out[...] = -5
    before = snapshot(lst)
    with pytest.raises(exc):
        lst.take([1, 2, 3], out=out)
    assert snapshot(lst) == before
    if isinstance(out, np.ndarray):
        assert (out == -5).all()


def test_take_out_readonly_and_bad_index_write_nothing():
    lst, _ = make("i8", 20)
    out = np.full(3, -5, dtype="i8")
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        lst.take([1, 2, 3], out=out)
    out = np.full(3, -5, dtype="i8")
    with pytest.raises(IndexError):
        lst.take([1, 2, 30], out=out)
    assert (out == -5).all()


def test_take_out_is_own_segment():
    # Gathering into a view of the list's own segment: the result is as if
    # the gather had read a snapshot.
    lst = SegmentedList("i8", range(12), first_segment=4)
    seg = lst.segments()[1]             # elements 4..11
    want = lst.to_numpy()[[11, 10, 9, 8, 7, 6, 5, 4]]
    lst.take([11, 10, 9, 8, 7, 6, 5, 4], out=seg)
    assert_arrays_identical(seg, want)


# ---------------------------------------------------------------------------
# fancy indexing: _getitem_fancy (what lst[ndarray] and lst[list] call)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 33, 200])
def test_mask(family, first_segment, n):
    lst, ref = make(family.dtype, n, first_segment)
    rng = np.random.default_rng(n)
    for p in [0.0, 0.1, 0.5, 0.9, 1.0]:
        mask = rng.random(n) < p
        assert_arrays_identical(_getitem_fancy(lst, mask), ref[mask])
    if n:
        assert_arrays_identical(_getitem_fancy(lst, [True] + [False] * (n - 1)), ref[:1])


def test_mask_non_bool_bytes_and_strided():
    # A bool view of uint8 data holding 2s: numpy treats any non-zero as True.
    lst, ref = make("i2", 100, 2)
    raw = np.random.default_rng(3).integers(0, 3, 100).astype(np.uint8)
    mask = raw.view(bool)
    assert_arrays_identical(_getitem_fancy(lst, mask), ref[raw != 0])
    big = np.random.default_rng(4).random(300) < 0.5
    assert_arrays_identical(_getitem_fancy(lst, big[::3][:100]), ref[big[::3][:100]])


def test_fancy_int_arrays_and_lists(family):
    lst, ref = make(family.dtype, 150, 8)
    idx = np.array([149, 0, -150, 7, 7, 64])
    assert_arrays_identical(_getitem_fancy(lst, idx), ref[idx])
    assert_arrays_identical(_getitem_fancy(lst, idx.tolist()), ref[idx.tolist()])
    assert_arrays_identical(_getitem_fancy(lst, idx.reshape(2, 3)), ref[idx.reshape(2, 3)])
    assert_arrays_identical(_getitem_fancy(lst, []), ref[[]])
    assert_arrays_identical(_getitem_fancy(lst, [[1, 2], [3, 4]]), ref[[[1, 2], [3, 4]]])
    got = _getitem_fancy(lst, np.array(3))
    assert type(got) is type(ref[np.array(3)])


@pytest.mark.parametrize("idx", [
    np.array([True, False]),                   # mask length
    [True, False, True],                       # mask length, as a list
    np.ones((10, 1), dtype=bool),              # 2-D mask
    np.array(True),                            # 0-d mask
    np.array([10]),
    np.array([-11]),
    [0, 10],
    np.array([1.0]),                           # not integers
    np.array(["a"]),
    [1.5],
    [1, "x"],
    [1, [2, 3]],                               # inhomogeneous
    [1, None],
])
def test_fancy_index_errors(idx):
    lst, ref = make("f8", 10)
    before = snapshot(lst)
    with pytest.raises(IndexError) as got:
        _getitem_fancy(lst, idx)
    assert snapshot(lst) == before
    try:
        ref[idx]
    except IndexError as want:
        # numpy's message, wherever numpy refuses the index with IndexError
        # too (for an inhomogeneous list numpy raises ValueError instead)
        assert str(got.value) == str(want)
    except ValueError:
        assert idx == [1, [2, 3]]


def test_fancy_index_other_types():
    lst, _ = make("f8", 10)
    for idx in [(1, 2), {1}, "ab", 1.5]:
        with pytest.raises(TypeError):
            _getitem_fancy(lst, idx)


@pytest.mark.skipif(not fancy_getitem_supported(),
                    reason="lst[ndarray] dispatch lives in __getitem__ (the sequence surface)")
def test_getitem_dispatches_to_fancy():
    lst, ref = make("i8", 100, 4)
    mask = ref % 3 == 0
    assert_arrays_identical(lst[mask], ref[mask])
    assert_arrays_identical(lst[np.array([5, -1])], ref[[5, -1]])
    assert_arrays_identical(lst[[5, -1]], ref[[5, -1]])


# ---------------------------------------------------------------------------
# put
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 40, 300])
def test_put_matches_numpy(family, first_segment, n):
    lst, ref = make(family.dtype, n, first_segment)
    vals = ref_array(family.dtype, 7, seed=99)
    idx = np.random.default_rng(n).integers(-n, n, 25)
    lst.put(idx, vals)
    want = ref.copy()
    np.put(want, idx, vals)
    assert_arrays_identical(lst.to_numpy(), want)


def test_put_python_values_cycle_and_last_wins(first_segment):
    lst = SegmentedList("i8", range(20), first_segment=first_segment)
    want = np.arange(20)
    for idx, vals in [([0, 5, 5, 19], [100, 200]), (3, 7), ([-1, -20], [1, 2, 3]),
                      (np.array([[1, 2], [3, 4]]), np.array([[9], [8]])),
                      (range(0, 20, 3), 2**62)]:
        lst.put(idx, vals)
        np.put(want, idx, vals)
        assert_arrays_identical(lst.to_numpy(), want)


def test_put_records_and_strings():
    rec = np.dtype([("a", "<i4"), ("b", "<f8")])
    lst = SegmentedList(rec, [(1, 1.0)] * 5)
    lst.put([0, 2], (7, 7.5))                     # a tuple is one record
    lst.put([4], [(9, 9.5)])
    want = np.array([(7, 7.5), (1, 1.0), (7, 7.5), (1, 1.0), (9, 9.5)], dtype=rec)
    assert_arrays_identical(lst.to_numpy(), want)
    s = SegmentedList("S3", [b"a", b"b", b"c"])
    s.put([0, 2], b"zz")
    assert s.to_numpy().tolist() == [b"zz", b"b", b"zz"]


@pytest.mark.parametrize("mode", ["wrap", "clip"])
def test_put_modes(mode):
    lst = SegmentedList("i8", range(10), first_segment=2)
    want = np.arange(10)
    idx = [-100, -11, 10, 13, 4]
    lst.put(idx, [1, 2, 3, 4, 5], mode=mode)
    np.put(want, idx, [1, 2, 3, 4, 5], mode=mode)
    assert_arrays_identical(lst.to_numpy(), want)


def test_put_no_values_writes_nothing():
    lst = SegmentedList("i8", range(10))
    before = snapshot(lst)
    lst.put([1, 2], [])
    lst.put([], [1, 2])
    assert snapshot(lst) == before


@pytest.mark.parametrize("dtype, idx, vals, exc", [
    ("i8", [0, 10], [1, 2], IndexError),            # out of range, after a good index
    ("i8", [0, -11], [1, 2], IndexError),
    ("i8", [0, 1], [1, 2.5], TypeError),            # the last value is bad
    ("i8", [0, 1], [1, 2**70], OverflowError),
    ("i1", [0, 1], [1, 300], OverflowError),
    ("i8", [0, 1], np.array([1.0, 2.0]), TypeError),  # array under 'same_kind'
    ("i8", [0, 1], "x", TypeError),
    ("i8", [0, 1.0], [1, 2], TypeError),             # index type
    ("i8", [0, 1], [1, 2], ValueError),              # mode below
    ("?", [0], [2], TypeError),
    ("M8[D]", [0, 1], ["2020-01-01", "garbage"], ValueError),
])
def test_put_failures_change_nothing(dtype, idx, vals, exc):
    lst = SegmentedList(dtype, ref_array(dtype, 10))
    before = snapshot(lst)
    kw = dict(mode="bogus") if exc is ValueError and dtype == "i8" else {}
    with pytest.raises(exc):
        lst.put(idx, vals, **kw)
    assert snapshot(lst) == before


def test_put_out_of_range_message_is_numpys():
    lst = SegmentedList("i8", range(10))
    with pytest.raises(IndexError) as got:
        lst.put([3, 12], [0])
    with pytest.raises(IndexError) as want:
        np.put(np.arange(10), [3, 12], [0])
    assert str(got.value) == str(want.value)


def test_put_values_from_segmentedlist_and_own_view():
    lst = SegmentedList("i8", range(20), first_segment=4)
    src = SegmentedList("i4", [7, 8, 9])
    lst.put([0, 1, 2], src)
    assert lst.to_numpy()[:3].tolist() == [7, 8, 9]
    view = lst.segments()[2]          # elements 12..19 as values, written over 0..7
    want = lst.to_numpy()
    np.put(want, range(8), want[12:20].copy())
    lst.put(range(8), view)
    assert_arrays_identical(lst.to_numpy(), want)


# ---------------------------------------------------------------------------
# to_numpy ranges and out=
# ---------------------------------------------------------------------------

BOUNDS = [None, 0, 1, 3, 4, 5, 12, 13, 99, 100, 101, 1000, -1, -4, -13, -100, -1000]


def test_to_numpy_ranges(family, first_segment):
    lst, ref = make(family.dtype, 100, first_segment)
    for a in BOUNDS:
        for b in BOUNDS:
            assert_arrays_identical(lst.to_numpy(a, b), ref[a:b])
    assert_arrays_identical(lst.to_numpy(start=np.int8(3), stop=np.uint64(9)), ref[3:9])
    assert_arrays_identical(lst.to_numpy(), ref)


@pytest.mark.parametrize("start, stop", [(1.0, None), (None, "3"), ([1], 2)])
def test_to_numpy_bad_bounds(start, stop):
    lst, _ = make("i8", 10)
    with pytest.raises(TypeError):
        lst.to_numpy(start, stop)


def test_to_numpy_out(family, first_segment):
    lst, ref = make(family.dtype, 100, first_segment)
    for a, b in [(None, None), (3, 77), (-10, None), (50, 50), (90, 10)]:
        want = ref[a:b]
        out = np.empty(len(want), dtype=family.dtype)
        assert lst.to_numpy(a, b, out=out) is out
        assert_arrays_identical(out, want)


@pytest.mark.parametrize("out, exc", [
    (np.zeros(10, dtype="i4"), TypeError),
    (np.zeros(10, dtype=">i8"), TypeError),
    (list(range(10)), TypeError),
    (np.zeros(9, dtype="i8"), ValueError),
    (np.zeros(11, dtype="i8"), ValueError),
    (np.zeros((10, 1), dtype="i8"), ValueError),
    (np.zeros(20, dtype="i8")[::2], ValueError),
])
def test_to_numpy_bad_out(out, exc):
    lst, _ = make("i8", 10, 2)
    if isinstance(out, np.ndarray):
        out[...] = -3
    before = snapshot(lst)
    with pytest.raises(exc):
        lst.to_numpy(out=out)
    assert snapshot(lst) == before
    if isinstance(out, np.ndarray):
        assert (out == -3).all()


def test_to_numpy_readonly_out():
    lst, _ = make("i8", 10, 2)
    out = np.zeros(10, dtype="i8")
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        lst.to_numpy(out=out)
    assert (out == 0).all()


def test_to_numpy_out_is_own_segment():
    lst = SegmentedList("i8", range(28), first_segment=4)
    seg = lst.segments()[2]          # elements 12..27
    want = lst.to_numpy(5, 21)
    lst.to_numpy(5, 21, out=seg)
    assert_arrays_identical(seg, want)
    assert_arrays_identical(lst.to_numpy(12, 28), want)


@settings(max_examples=examples(60))
@given(n=st.integers(0, 300), s0=st.sampled_from([1, 2, 4, 64]), data=st.data())
def test_bulk_reads_property(n, s0, data):
    lst, ref = make("i4", n, s0, seed=n)
    a = data.draw(st.one_of(st.none(), st.integers(-2 * n - 2, 2 * n + 2)))
    b = data.draw(st.one_of(st.none(), st.integers(-2 * n - 2, 2 * n + 2)))
    assert_arrays_identical(lst.to_numpy(a, b), ref[a:b])
    if n:
        idx = data.draw(st.lists(st.integers(-n, n - 1), max_size=50))
        assert_arrays_identical(lst.take(idx), ref[np.array(idx, dtype=np.intp)])
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    assert_arrays_identical(_getitem_fancy(lst, mask), ref[mask])


@settings(max_examples=examples(60))
@given(n=st.integers(1, 200), s0=st.sampled_from([1, 2, 8]), data=st.data())
def test_put_property(n, s0, data):
    lst, ref = make("i8", n, s0, seed=n)
    idx = data.draw(st.lists(st.integers(-n, n - 1), max_size=40))
    vals = data.draw(st.lists(st.integers(-2**63, 2**63 - 1), max_size=10))
    lst.put(idx, vals)
    want = ref.copy()
    np.put(want, np.array(idx, dtype=np.intp), np.array(vals, dtype=np.int64))
    assert_arrays_identical(lst.to_numpy(), want)


# ---------------------------------------------------------------------------
# reductions
# ---------------------------------------------------------------------------

def assert_reduction_matches(got, want, exact):
    assert type(got) is type(want)
    assert np.asarray(got).dtype == np.asarray(want).dtype
    if exact:
        assert_arrays_identical(np.asarray(got), np.asarray(want))
    else:
        tol = {2: 2e-2, 4: 1e-4, 8: 1e-10, 16: 1e-10}[np.asarray(want).real.dtype.itemsize]
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 100)


@pytest.mark.parametrize("n", [1, 5, 64, 1000])
@pytest.mark.parametrize("family", NUMERIC_FAMILIES, ids=lambda f: f.name)
def test_reductions_match_numpy(family, first_segment, n):
    lst, ref = make(family.dtype, n, first_segment)
    exact_sum = family.dtype.kind in "biu"
    assert_reduction_matches(lst.sum(), ref.sum(), exact_sum)
    assert_reduction_matches(lst.min(), ref.min(), True)
    assert_reduction_matches(lst.max(), ref.max(), True)
    assert_reduction_matches(np.sum(lst), np.sum(ref), exact_sum)
    assert_reduction_matches(np.min(lst), np.min(ref), True)
    assert_reduction_matches(np.max(lst), np.max(ref), True)


def test_int_sums_wrap_like_numpy():
    ref = np.full(1000, 2**62, dtype=np.int64)
    lst = SegmentedList("i8", ref, first_segment=1)
    assert lst.sum() == ref.sum()
    u = np.full(1000, 2**63, dtype=np.uint64)
    assert SegmentedList("u8", u, first_segment=2).sum() == u.sum()


def test_float_sum_is_close_to_pairwise():
    ref = np.random.default_rng(5).random(100_000)
    lst = SegmentedList("f8", ref, first_segment=1)
    assert lst.sum() == pytest.approx(ref.sum(), rel=1e-13)
    assert lst.sum() == pytest.approx(np.sort(ref).sum(), rel=1e-13)


@pytest.mark.parametrize("dt", ["f2", "f4", "f8", ">f8", "c16", "M8[s]", "m8[us]"])
@pytest.mark.parametrize("pos", [0, 5, 63, 64, 199])
def test_min_max_propagate_nan(dt, pos):
    ref = ref_array(dt, 200)
    ref[pos] = np.array("NaT" if np.dtype(dt).kind in "Mm" else np.nan).astype(dt)
    lst = SegmentedList(dt, ref, first_segment=4)
    assert_reduction_matches(lst.min(), ref.min(), True)
    assert_reduction_matches(lst.max(), ref.max(), True)
    if np.dtype(dt).kind in "fc":
        assert np.isnan(lst.sum())


@pytest.mark.parametrize("dt", ["i1", "u2", "f4", "f8", "c8", "?", "m8[s]"])
def test_reductions_of_empty(dt):
    lst = SegmentedList(dt)
    ref = np.empty(0, dtype=dt)
    assert_reduction_matches(lst.sum(), ref.sum(), True)
    for op in ["min", "max"]:
        with pytest.raises(ValueError) as got:
            getattr(lst, op)()
        with pytest.raises(ValueError) as want:
            getattr(ref, op)()
        assert str(got.value) == str(want.value)
        assert_reduction_matches(getattr(lst, op)(initial=0), getattr(ref, op)(initial=0), True)


def test_datetime_reductions():
    ref = ref_array("M8[s]", 300)
    lst = SegmentedList("M8[s]", ref, first_segment=2)
    assert lst.min() == ref.min() and lst.max() == ref.max()
    with pytest.raises(TypeError):
        lst.sum()
    td = ref_array("m8[D]", 300)
    assert SegmentedList("m8[D]", td).sum() == td.sum()


@pytest.mark.parametrize("name", ["record", "bytes5", "str3"])
def test_reductions_refused_like_numpy(name):
    fam = next(f for f in FAMILIES if f.name == name)
    lst, ref = make(fam.dtype, 50, 4)
    for op in ["sum", "min", "max"]:
        with pytest.raises(TypeError):
            getattr(ref, op)()
        with pytest.raises(TypeError):
            getattr(lst, op)()


def test_reduction_keywords():
    ref = ref_array("i4", 500)
    lst = SegmentedList("i4", ref, first_segment=2)
    where = np.random.default_rng(2).random(500) < 0.3
    for op in ["sum", "min", "max"]:
        f, g = getattr(lst, op), getattr(ref, op)
        assert f(axis=0) == g(axis=0)
        assert f(axis=-1) == g(axis=-1)
        assert f(axis=(0,)) == g(axis=(0,))
        assert_arrays_identical(f(keepdims=True), g(keepdims=True))
        assert f(initial=10**6) == g(initial=10**6)
        assert f(where=where, initial=0) == g(where=where, initial=0)
        out = np.zeros((), dtype=np.int64)
        assert f(out=out) is out and out[()] == g()
        for bad, exc in [(dict(axis=1), np.exceptions.AxisError),
                         (dict(axis=(0, 0)), ValueError),
                         (dict(axis=1.5), TypeError),
                         (dict(out=np.zeros(2)), ValueError),
                         (dict(where=where[:3], initial=0), ValueError)]:
            with pytest.raises(exc):
                f(**bad)
            with pytest.raises(exc):
                g(**bad)
    assert lst.sum(dtype=np.int8) == ref.sum(dtype=np.int8)
    assert lst.sum(dtype=np.float32).dtype == np.float32
    with pytest.raises(ValueError):
        lst.min(where=where)          # numpy: min with where needs initial


def test_reductions_leave_no_exports_behind():
    lst = SegmentedList("i8", range(1000), first_segment=1)
    lst.sum(), lst.min(), lst.max()
    lst.clear()
    assert lst.capacity == 0          # no view pinned the segments


def test_allocator_untouched_by_reads():
    a = segpy.SystemAllocator()
    lst = SegmentedList("i8", range(1000), allocator=a)
    used = a.stats["bytes_in_use"]
    lst.take([1, 2]), lst.to_numpy(3, 9), lst.sum(), _getitem_fancy(lst, [True] * 1000)
    assert a.stats["bytes_in_use"] == used


@pytest.mark.parametrize("dtype", ["u1", "i2", "f4", "i8", "c16", "i4,i4,i4",
                                   [("id", "<i8"), ("x", "<f8"), ("y", "<f8"), ("z", "<f8"),
                                    ("flag", "<i4"), ("pad", "<i4")]])
@pytest.mark.parametrize("how", ["extend", "append_segments"])
def test_to_numpy_meets_the_largest_segments_page_offset(dtype, how):
    # A copy into a destination a few bytes ahead of its source's page offset
    # ran slower (6-9% at 16 bytes): to_numpy of 512 KiB or more starts its
    # result where the largest segment's destination has the source's page
    # offset, exactly when the itemsize allows, else at most 63 bytes ahead.
    dt = np.dtype(dtype)
    n = (1 << 20) // dt.itemsize + 3
    data = np.frombuffer(np.random.default_rng(5).bytes(n * dt.itemsize), dt)
    if how == "extend":
        lst = SegmentedList(dt, data)               # one segment fitted to the data
    else:
        lst = SegmentedList(dt, first_segment=64)   # doubling segments
        for k in range(0, n, 4096):
            lst.extend(data[k:k + 4096])
    out = lst.to_numpy()
    assert_arrays_identical(out, data)
    segs = lst.segments()
    start = sum(len(s) for s in segs[:-1])
    src = segs[-1].__array_interface__["data"][0]
    dst = out.__array_interface__["data"][0] + start * dt.itemsize
    # The result is a view into a buffer up to a page (plus an element) longer.
    assert isinstance(out.base, np.ndarray)
    dst0 = out.base.__array_interface__["data"][0] + start * dt.itemsize
    can_meet = any((dst0 + e * dt.itemsize - src) % 4096 == 0
                   for e in range(4096 // dt.itemsize + 1))
    ahead = (dst - src) % 4096
    assert ahead == 0 if can_meet else ahead < 64, (ahead, can_meet)
