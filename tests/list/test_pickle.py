"""Pickling: every protocol, out-of-band buffers, dtype fidelity, and a reconstructor
that refuses bad payloads with TypeError/ValueError instead of crashing."""

import copy
import pickle
import pickletools

import numpy as np
import pytest

import segpy
from segpy import SegmentedList
from segpy.seglist import _unpickle_seglist

from seg_support import FAMILIES, assert_arrays_identical

PROTOCOLS = list(range(pickle.HIGHEST_PROTOCOL + 1))


def ref_array(dt, n, seed=0):
    dt = np.dtype(dt)
    rng = np.random.default_rng(seed)
    if dt.names is None and dt.kind == "b":
        return rng.integers(0, 2, n).astype(dt)
    if dt.names is None and dt.kind == "U":
        return np.array([chr(97 + i % 26) * 2 for i in range(n)], dtype=dt)
    return np.frombuffer(rng.bytes(n * dt.itemsize), dtype=dt).copy()


def assert_same_list(got, want):
    assert type(got) is type(want)
    assert got.dtype == want.dtype
    assert got.dtype.str == want.dtype.str          # byte order, units
    assert got.dtype.descr == want.dtype.descr      # field layout, padding
    assert got.dtype.isalignedstruct == want.dtype.isalignedstruct
    assert got.first_segment == want.first_segment
    assert len(got) == len(want)
    assert_arrays_identical(got.to_numpy(), want.to_numpy())


DTYPES = [f.dtype for f in FAMILIES] + [
    np.dtype("M8[ns]"), np.dtype(">M8[ms]"), np.dtype("m8[ps]"), np.dtype(">u8"),
    np.dtype({"names": ["a", "b"], "formats": ["u1", ">f8"], "offsets": [0, 9], "itemsize": 24}),
    np.dtype("V7"), np.dtype("f16") if hasattr(np, "float128") else np.dtype("f8"),
]


@pytest.mark.parametrize("dt", DTYPES, ids=str)
@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("n, s0", [(0, None), (1, 1), (100, 4), (1000, None)])
def test_round_trip(dt, protocol, n, s0):
    lst = SegmentedList(dt, first_segment=s0)
    lst.extend(ref_array(dt, n))
    assert_same_list(pickle.loads(pickle.dumps(lst, protocol=protocol)), lst)


@pytest.mark.parametrize("s0", [1, 8, None])
def test_protocol5_out_of_band_is_zero_copy(s0):
    lst = SegmentedList("i8", range(1000), first_segment=s0)
    buffers = []
    data = pickle.dumps(lst, protocol=5, buffer_callback=buffers.append)
    # The payload is out of band: the pickle itself is small.
    assert len(data) < 300
    segs = lst.segments()
    assert len(buffers) == len(segs)
    for buf, seg in zip(buffers, segs):
        raw = buf.raw()
        assert raw.nbytes == seg.nbytes
        addr = np.frombuffer(raw, dtype=np.uint8).__array_interface__["data"][0]
        assert addr == seg.__array_interface__["data"][0]    # no copy was made
    assert_same_list(pickle.loads(data, buffers=buffers), lst)
    # The consumer may hand the buffers back as any bytes-like objects.
    assert_same_list(pickle.loads(data, buffers=[bytes(b.raw()) for b in buffers]), lst)
    assert_same_list(pickle.loads(data, buffers=[bytearray(b.raw()) for b in buffers]), lst)


def test_protocol5_in_band_and_datetimes():
    # numpy refuses to export datetimes through the buffer protocol; the
    # segments go as bytes.
    lst = SegmentedList("M8[us]", ["2020-01-01", "NaT", "1969-12-31T23:59:59.999999"])
    buffers = []
    out = pickle.loads(pickle.dumps(lst, protocol=5, buffer_callback=buffers.append),
                       buffers=buffers)
    assert_same_list(out, lst)
    assert_same_list(pickle.loads(pickle.dumps(lst, protocol=5)), lst)


def test_protocol4_payload_is_one_bytes_object():
    lst = SegmentedList("i4", range(100), first_segment=2)
    ops = [op.name for op, _, _ in pickletools.genops(pickle.dumps(lst, protocol=4))]
    assert ops.count("SHORT_BINBYTES") + ops.count("BINBYTES") == 1


def test_allocator_is_not_pickled():
    a = segpy.SystemAllocator()
    lst = SegmentedList("f8", [1.0, 2.0], allocator=a)
    data = pickle.dumps(lst)
    assert pickle.loads(data).allocator is segpy.get_allocator()
    b = segpy.SystemAllocator()
    with segpy.allocator(b):
        got = pickle.loads(data)
    assert got.allocator is b
    assert b.stats["bytes_in_use"] > 0


def test_copy_and_deepcopy():
    lst = SegmentedList([("a", "<i4"), ("b", "<f8")], [(1, 2.0), (3, 4.0)], first_segment=1)
    for c in [copy.copy(lst), copy.deepcopy(lst)]:
        assert_same_list(c, lst)
        c.append((5, 6.0))
        assert len(lst) == 2


class Sub(SegmentedList):
    pass


def test_subclass_and_its_dict_survive():
    lst = Sub("i2", [1, 2, 3])
    lst.note = "hello"
    for protocol in PROTOCOLS:
        got = pickle.loads(pickle.dumps(lst, protocol=protocol))
        assert type(got) is Sub
        assert got.note == "hello"
        assert got.to_numpy().tolist() == [1, 2, 3]


def test_unpickled_list_is_independent_and_growable():
    lst = SegmentedList("i8", range(100), first_segment=4)
    got = pickle.loads(pickle.dumps(lst, protocol=5))
    got.append(100)
    got[0] = -1
    assert lst[0] == 0 and len(lst) == 100
    assert got.to_numpy().tolist() == [-1] + list(range(1, 101))


def test_reconstructor_accepts_split_payloads():
    want = np.arange(10, dtype="<i8")
    raw = want.tobytes()
    for pieces in [[raw[:3], raw[3:50], raw[50:]], (raw,), [b"", raw, b""], memoryview(raw)]:
        got = _unpickle_seglist(SegmentedList, np.dtype("<i8"), 4, pieces)
        assert_arrays_identical(got.to_numpy(), want)


I8 = np.dtype("i8")


@pytest.mark.parametrize("args, exc", [
    ((int, I8, 4, b""), TypeError),                        # cls
    (("SegmentedList", I8, 4, b""), TypeError),
    ((SegmentedList, "i8", 4, b""), TypeError),            # dtype not a numpy.dtype
    ((SegmentedList, None, 4, b""), TypeError),
    ((SegmentedList, np.dtype("O"), 4, b""), TypeError),   # objects
    ((SegmentedList, np.dtype([("a", "O")]), 4, b""), TypeError),
    ((SegmentedList, np.dtype("V0"), 4, b""), TypeError),  # unsized
    ((SegmentedList, I8, 3, b""), ValueError),             # first segment
    ((SegmentedList, I8, 0, b""), ValueError),
    ((SegmentedList, I8, 2**40, b""), ValueError),
    ((SegmentedList, I8, "4", b""), TypeError),
    ((SegmentedList, I8, 4, b"1234567"), ValueError),      # not a multiple of itemsize
    ((SegmentedList, I8, 4, [b"1234", b"567"]), ValueError),
    ((SegmentedList, I8, 4, 12345), TypeError),            # payload type
    ((SegmentedList, I8, 4, "12345678"), TypeError),
    ((SegmentedList, I8, 4, [b"12345678", None]), TypeError),
    ((SegmentedList, I8, 4, None), TypeError),
    ((SegmentedList, I8, 4, np.zeros(4, "i8")[::2]), ValueError),   # not contiguous
])
def test_reconstructor_refuses_bad_arguments(args, exc):
    with pytest.raises(exc):
        _unpickle_seglist(*args)


class _Forged:
    """Pickles as a call of the reconstructor with arbitrary arguments."""

    def __init__(self, *args):
        self.args = args

    def __reduce__(self):
        return (_unpickle_seglist, self.args)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_corrupted_pickles_raise(protocol):
    for args, exc in [((SegmentedList, np.dtype("f8"), 8, b"\0" * 12), ValueError),
                      ((SegmentedList, np.dtype("f8"), 5, b""), ValueError),
                      ((SegmentedList, "f8", 8, b""), TypeError),
                      ((object, np.dtype("f8"), 8, b""), TypeError)]:
        data = pickle.dumps(_Forged(*args), protocol=protocol)
        with pytest.raises(exc):
            pickle.loads(data)


def test_truncated_stream_never_crashes():
    data = pickle.dumps(SegmentedList("i4", range(50)), protocol=4)
    for cut in range(0, len(data), 7):
        try:
            pickle.loads(data[:cut])
        except Exception as e:  # noqa: BLE001 - any Python exception is fine; a crash is not
            assert isinstance(e, (pickle.UnpicklingError, EOFError, ValueError, TypeError,
                                  IndexError, KeyError, AttributeError))


def test_reduce_ex_shape():
    lst = SegmentedList(">f4", [1.0, 2.0], first_segment=2)
    fn, args = lst.__reduce_ex__(2)
    assert fn is _unpickle_seglist
    assert args[:3] == (SegmentedList, np.dtype(">f4"), 2)
    assert args[3] == np.array([1.0, 2.0], dtype=">f4").tobytes()
    fn, args = lst.__reduce_ex__(5)
    assert [type(b) for b in args[3]] == [pickle.PickleBuffer]


# -- the payload must match the recorded length and segment geometry -----------
#
# Out-of-band buffers come from whoever calls pickle.loads, not from the
# stream: a consumer can drop, reorder, duplicate, truncate or extend them.
# Each of those used to load as a list of the wrong length or contents.

GEOMETRIES = [(1, 1), (7, 1), (8, 4), (12, 4), (10_000, None), (300, 64)]


def _oob(lst):
    bufs = []
    data = pickle.dumps(lst, protocol=5, buffer_callback=bufs.append)
    return data, [bytes(b.raw()) for b in bufs]


def _tampered(bufs, isz):
    """(name, buffers) for every way a consumer can get the buffers wrong."""
    out = []
    for j in range(len(bufs)):
        out.append((f"drop {j}", bufs[:j] + bufs[j + 1:]))
        out.append((f"drop {j}, pad the count", bufs[:j] + bufs[j + 1:] + [bufs[j][:0]]))
        out.append((f"truncate {j} by an element", bufs[:j] + [bufs[j][:-isz]] + bufs[j + 1:]))
        out.append((f"truncate {j} by a byte", bufs[:j] + [bufs[j][:-1]] + bufs[j + 1:]))
        out.append((f"extend {j} by an element", bufs[:j] + [bufs[j] + bufs[j][:isz]] + bufs[j + 1:]))
        out.append((f"extend {j} by a byte", bufs[:j] + [bufs[j] + b"\0"] + bufs[j + 1:]))
        for k in range(len(bufs)):
            if len(bufs[j]) != len(bufs[k]):
                swapped = list(bufs)
                swapped[j], swapped[k] = bufs[k], bufs[j]
                out.append((f"swap {j} and {k}", swapped))
                duplicated = list(bufs)
                duplicated[j] = bufs[k]
                out.append((f"{k} in place of {j}", duplicated))
    if len(bufs) > 1:
        out.append(("one buffer for all", [b"".join(bufs)]))
    out.append(("an extra empty one first", [b""] + bufs))
    return out


@pytest.mark.parametrize("n, s0", GEOMETRIES)
def test_protocol5_buffers_that_do_not_match_are_refused(n, s0):
    lst = SegmentedList("i8", range(n), first_segment=s0)
    data, bufs = _oob(lst)
    assert_same_list(pickle.loads(data, buffers=bufs), lst)
    cases = _tampered(bufs, 8)
    assert len(cases) >= 6 * len(bufs)
    for name, tampered in cases:
        if len(tampered) < len(bufs):
            exc = (pickle.UnpicklingError, ValueError)   # pickle itself runs out first
        else:
            exc = ValueError
        with pytest.raises(exc):
            pickle.loads(data, buffers=tampered)
            pytest.fail(f"{name} loaded")


def test_the_issue_example_raises_instead_of_loading_8_elements():
    lst = SegmentedList("q", range(10_000))
    data, bufs = _oob(lst)
    # Buffers handed back in the wrong order, and the last one lost.
    with pytest.raises(ValueError, match="segment buffer 0 holds"):
        pickle.loads(data, buffers=bufs[::-1])
    with pytest.raises(ValueError, match="hold only"):
        _unpickle_seglist(SegmentedList, np.dtype("q"), 64, bufs[:-1], 10_000)


@pytest.mark.parametrize("n, s0", GEOMETRIES)
def test_a_lying_first_segment_or_length_is_refused(n, s0):
    lst = SegmentedList("i8", range(n), first_segment=s0)
    fn, args = lst.__reduce_ex__(5)
    cls, dt, first, payload, length = args
    assert length == n
    pieces = [bytes(p.raw()) for p in payload]
    assert_same_list(fn(cls, dt, first, pieces, length), lst)
    for other in (first * 2, first // 2):
        if other and n > min(first, other):     # else one piece fits either geometry
            with pytest.raises(ValueError):
                fn(cls, dt, other, pieces, length)
    for lie in (length - 1, length + 1, 2 * length + 1):
        if lie >= 0:
            with pytest.raises(ValueError):
                fn(cls, dt, first, pieces, lie)
    # A dtype of another itemsize over the same bytes.
    with pytest.raises(ValueError):
        fn(cls, np.dtype("i4"), first, pieces, length)


@pytest.mark.parametrize("protocol", range(5))
def test_protocols_0_to_4_check_the_length(protocol):
    lst = SegmentedList("f8", [1.0, 2.0, 3.0], first_segment=2)
    _, args = lst.__reduce_ex__(protocol)
    assert args[4] == 3 and args[3] == lst.tobytes()
    assert_same_list(pickle.loads(pickle.dumps(lst, protocol=protocol)), lst)
    for payload, length in [(args[3][:-8], 3), (args[3] + bytes(8), 3), (args[3], 2),
                            (args[3], 4), (args[3][:-1], 3), (b"", 3)]:
        data = pickle.dumps(_Forged(SegmentedList, np.dtype("f8"), 2, payload, length),
                            protocol=protocol)
        with pytest.raises(ValueError, match="bytes, but its payload holds"):
            pickle.loads(data)


@pytest.mark.parametrize("length, exc", [
    ("3", TypeError), (3.0, TypeError), (True, TypeError), ([3], TypeError),
    (-1, ValueError), (2**62, ValueError), (2**200, ValueError),
])
def test_a_bad_length_is_refused(length, exc):
    with pytest.raises(exc):
        _unpickle_seglist(SegmentedList, I8, 4, bytes(24), length)
    with pytest.raises(exc):
        _unpickle_seglist(SegmentedList, I8, 4, [bytes(24)], length)


def test_pickles_without_a_length_still_load():
    # The format before the length was recorded: (cls, dtype, first_segment, payload).
    want = SegmentedList("i8", range(20), first_segment=4)
    raw = want.tobytes()
    segs = [raw[:32], raw[32:96], raw[96:]]
    for payload in (raw, segs, tuple(segs)):
        data = pickle.dumps(_Forged(SegmentedList, I8, 4, payload), protocol=4)
        assert_same_list(pickle.loads(data), want)
