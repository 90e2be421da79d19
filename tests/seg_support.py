"""Families of dtypes, hypothesis profiles and helpers shared by segpy's tests.

Imported by ``conftest.py`` (which puts this directory on ``sys.path``, as
pytest's importlib mode does not) and by the test modules.

Hypothesis profiles
-------------------
``default``   moderate example counts; the whole suite runs in well under
              90 s on a 2-core machine (CI reruns it under AddressSanitizer).
``ci``        the same example counts, derandomized so CI runs are repeatable.
``thorough``  ten times the examples, for a local soak run.
``sanitizer`` a quarter of the examples, derandomized: for the rerun under
              AddressSanitizer/UBSan in ``.ci/run``, which checks every code
              path for memory errors at about 3x the cost per example (the
              plain run carries the full example counts).

Pick one with ``SEGPY_HYPOTHESIS_PROFILE=ci``.  Tests size their example
counts with :func:`examples`, which scales with the active profile.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.extra.numpy import from_dtype

import segpy

# The test tree and the checkout it sits in: test modules live one directory
# down (tests/list/, tests/alloc/...), so they find data, fuzzers, docs and
# examples through these rather than through their own __file__.
TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent

# ---------------------------------------------------------------------------
# Hypothesis profiles
# ---------------------------------------------------------------------------

# Failing examples are kept next to the tests (``.hypothesis/`` is git-ignored),
# never in the directory pytest happens to be started from.
_DATABASE = DirectoryBasedExampleDatabase(str(TESTS / ".hypothesis"))

_COMMON = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile("default", max_examples=40, database=_DATABASE, **_COMMON)
settings.register_profile("ci", max_examples=40, derandomize=True, database=None, **_COMMON)
settings.register_profile("thorough", max_examples=400, database=_DATABASE, **_COMMON)
settings.register_profile("sanitizer", max_examples=10, derandomize=True, database=None,
                          **_COMMON)
settings.load_profile(os.environ.get("SEGPY_HYPOTHESIS_PROFILE", "default"))


def examples(n: int) -> int:
    """``n`` examples under the default profile, scaled for the active one."""
    return max(1, round(n * settings().max_examples / 40))


# ---------------------------------------------------------------------------
# dtype families
# ---------------------------------------------------------------------------

NUMERIC_KINDS = frozenset("biufc")


@dataclass(frozen=True)
class Family:
    """A dtype a SegmentedList can hold, with valid values and known-bad ones."""

    name: str
    dtype: np.dtype
    values: st.SearchStrategy = field(repr=False, compare=False)
    # (value, exception type) pairs that append / setitem must refuse.
    bad: tuple = field(default=(), repr=False, compare=False)

    @property
    def numeric(self) -> bool:
        return self.dtype.names is None and self.dtype.kind in NUMERIC_KINDS



def _values(dt: np.dtype) -> st.SearchStrategy:
    if dt.names is not None:
        # Tuples; NaN is kept out of records so that == can compare them.
        return from_dtype(dt, allow_nan=False)
    s = from_dtype(dt)
    if dt.kind in NUMERIC_KINDS:
        # numpy scalars as hypothesis makes them, and the Python scalars
        # that take segpy's fast conversion paths.
        return st.one_of(s, s.map(lambda v: v.item()))
    return s


_NUMERIC_BAD = (("x", TypeError), (None, TypeError), ([1, 2], TypeError), (b"1", TypeError))


def _bad(dt: np.dtype) -> tuple:
    """Values every list of ``dt`` must refuse, with the exception type."""
    universal = ((np.zeros(2, dtype=dt), TypeError),)  # an array is not a scalar
    if dt.names is not None:
        return universal + (((1,) * (len(dt.names) + 1), ValueError),)
    k = dt.kind
    if k == "b":
        return universal + _NUMERIC_BAD + (
            (2, TypeError), (1, TypeError), (1.0, TypeError), (1j, TypeError),
            (np.int64(1), TypeError), (np.float64(1.0), TypeError))
    if k == "i":
        return universal + _NUMERIC_BAD + (
            (1.5, TypeError), (1.0, TypeError), (1j, TypeError),
            (np.float64(1.0), TypeError), (np.float32(1.0), TypeError),
            (np.complex128(1), TypeError),
            (2 ** (8 * dt.itemsize - 1), OverflowError),
            (-(2 ** (8 * dt.itemsize - 1)) - 1, OverflowError),
            (2 ** 70, OverflowError))
    if k == "u":
        return universal + _NUMERIC_BAD + (
            (1.5, TypeError), (1j, TypeError), (np.float64(1.0), TypeError),
            (2 ** (8 * dt.itemsize), OverflowError), (-1, OverflowError),
            (2 ** 70, OverflowError))
    if k == "f":
        return universal + _NUMERIC_BAD + (
            (1j, TypeError), (1 + 2j, TypeError), (np.complex128(1), TypeError),
            (np.complex64(1), TypeError))
    if k == "c":
        return universal + _NUMERIC_BAD
    if k in "Mm":
        return universal + ((1.5, TypeError), (1j, TypeError), ("garbage", ValueError))
    return universal


def _family(name, dtype) -> Family:
    dt = np.dtype(dtype)
    return Family(name, dt, _values(dt), _bad(dt))


FAMILIES = [
    _family("bool", "?"),
    _family("int8", "i1"),
    _family("uint8", "u1"),
    _family("int16", "i2"),
    _family("uint16", "u2"),
    _family("int32", "i4"),
    _family("uint32", "u4"),
    _family("int64", "i8"),
    _family("uint64", "u8"),
    _family("float16", "f2"),
    _family("float32", "f4"),
    _family("float64", "f8"),
    _family("complex64", "c8"),
    _family("complex128", "c16"),
    _family("datetime64[s]", "M8[s]"),
    _family("datetime64[D]", "M8[D]"),
    _family("timedelta64[us]", "m8[us]"),
    _family("bytes5", "S5"),
    _family("str3", "U3"),
    _family("big-int32", ">i4"),
    _family("big-uint16", ">u2"),
    _family("big-float64", ">f8"),
    _family("big-complex64", ">c8"),
    _family("record", [("a", "<i4"), ("b", "<f8")]),
    _family("record-nested", [("p", [("x", "<f4"), ("y", "<f4")]), ("n", "u1")]),
    _family("record-aligned",
            np.dtype([("a", "u1"), ("b", "<f8"), ("c", "<i2")], align=True)),
    _family("record-subarray", [("v", "<f8", (3,)), ("id", "<i2")]),
    _family("record-big-endian", [("a", ">i4"), ("b", ">f8")]),
]
FAMILY_BY_NAME = {f.name: f for f in FAMILIES}

# The array module's typecodes, which numpy.dtype also accepts.
TYPECODES = list("bBhHiIlLqQfd")

# first_segment values the tests sweep; None means "the default".
FIRST_SEGMENTS = [1, 2, 8, 64, None]


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def default_first_segment(itemsize: int) -> int:
    """The documented default: about 512 bytes, rounded up to a power of two."""
    n = 1
    while n * itemsize < 512:
        n *= 2
    return n


def fitted_first_segment(s0: int, n: int) -> int:
    """The first segment after a bulk extend of ``n`` elements into a list
    that holds no segment and whose first segment was left to segpy: the
    least power of two >= n, if that is more than ``s0`` (capped at 2**30)."""
    fit = s0
    while fit < n and fit < 2 ** 30:
        fit *= 2
    return fit


def geometric_capacity(n: int, s0: int) -> int:
    """Capacity after growing to ``n`` elements: s0 * (2**k - 1) for the least k."""
    cap = 0
    seg = s0
    while cap < n:
        cap += seg
        seg *= 2
    return cap


def segment_lengths(n: int, s0: int) -> list[int]:
    """Lengths of the views ``segments()`` returns for a list of ``n`` elements."""
    out = []
    seg = s0
    while n > 0:
        out.append(min(seg, n))
        n -= seg
        seg *= 2
    return out


def locate_reference(i: int, s0: int) -> tuple[int, int]:
    """Pure-Python (segment, offset) of index ``i``, by walking the segments."""
    j, start, seg = 0, 0, s0
    while i >= start + seg:
        start += seg
        seg *= 2
        j += 1
    return j, i - start


def converted(values, dtype) -> np.ndarray:
    """``values`` as numpy assignment (element by element) converts them."""
    dt = np.dtype(dtype)
    out = np.zeros(len(values), dtype=dt)
    for i, v in enumerate(values):
        out[i] = v
    return out


def concat(arrays, dtype) -> np.ndarray:
    """Concatenate keeping ``dtype`` exactly (np.concatenate canonicalises byte order)."""
    dt = np.dtype(dtype)
    out = np.zeros(sum(len(a) for a in arrays), dtype=dt)
    start = 0
    for a in arrays:
        out[start:start + len(a)] = a
        start += len(a)
    return out


def _assert_records_equal(got: np.ndarray, want: np.ndarray) -> None:
    # Field by field: padding bytes of aligned records are not data.
    for name in want.dtype.names:
        g, w = got[name], want[name]
        if w.dtype.names is not None:
            _assert_records_equal(g, w)
        else:
            assert g.tobytes() == np.ascontiguousarray(w).tobytes(), name


def assert_arrays_identical(got: np.ndarray, want: np.ndarray) -> None:
    """Same dtype, shape and element bytes (so NaN, NaT and -0.0 compare exactly)."""
    assert got.dtype == want.dtype
    assert got.shape == want.shape
    if want.dtype.names is not None:
        _assert_records_equal(got, want)
    else:
        got_b = np.ascontiguousarray(got).tobytes()
        want_b = np.ascontiguousarray(want).tobytes()
        if got_b != want_b:  # pragma: no cover - produce a readable diff
            np.testing.assert_array_equal(got, want)
            raise AssertionError(f"bytes differ:\n{got!r}\n{want!r}")


def expected_scalar(arr: np.ndarray, i: int):
    """What ``lst[i]`` should return for a list equal to ``arr``."""
    v = arr[i]
    if arr.dtype.names is None and arr.dtype.kind in NUMERIC_KINDS:
        return v.item()
    return v


_PY_TYPE = {"b": bool, "i": int, "u": int, "f": float, "c": complex}


def assert_scalar_matches(got, want, dt: np.dtype) -> None:
    """A read value has the documented type and the expected value."""
    dt = np.dtype(dt)
    if dt.names is None and dt.kind in NUMERIC_KINDS:
        assert type(got) is _PY_TYPE[dt.kind], (type(got), dt)
    else:
        assert type(got) is type(want), (type(got), type(want))
    assert_arrays_identical(np.array([got], dtype=dt), np.array([want], dtype=dt))


def read_type(dt: np.dtype) -> type:
    """The type ``lst[i]`` returns for a list of ``dt``."""
    dt = np.dtype(dt)
    if dt.names is None and dt.kind in NUMERIC_KINDS:
        return _PY_TYPE[dt.kind]
    return dt.type


def assert_reads_match(items: list, want: np.ndarray) -> None:
    """Values read from a list (by iteration, say) match ``want`` in type and value.

    Vectorised: the values are turned back into an array of the dtype and
    compared byte for byte with ``want`` (numeric kinds: with ``want`` as its
    Python scalars, ``ndarray.tolist()``, turned back the same way).
    """
    dt = want.dtype
    assert len(items) == len(want)
    t = read_type(dt)
    bad = [type(x) for x in items if type(x) is not t]
    assert not bad, (t, bad[:3])
    if not items:
        return
    got = np.array(items, dtype=dt)
    if dt.names is None and dt.kind in NUMERIC_KINDS:
        want = np.array(want.tolist(), dtype=dt)
    assert_arrays_identical(got, want)


# ---------------------------------------------------------------------------
# Allocators under test
# ---------------------------------------------------------------------------

def _buffer_allocator(max_bytes: int = 8 << 20) -> segpy.BufferAllocator:
    """A BufferAllocator over a fresh bytearray: its size is its bound."""
    return segpy.BufferAllocator(bytearray(max_bytes))


# Every allocator kind, by the name tests use as their parameter id: the one
# registry that allocator-parametrised tests draw from, so a new allocator is
# tested everywhere by adding one line.  Each maker takes an optional
# max_bytes.
ALLOCATORS = {
    "Heap": segpy.Heap,
    "Bump": segpy.BumpAllocator,
    "Buffer": _buffer_allocator,
    "System": segpy.SystemAllocator,
}


def make_allocator(name: str, max_bytes: int | None = None) -> segpy.Allocator:
    """A fresh allocator of the registry's kind ``name``, bounded if asked."""
    make = ALLOCATORS[name]
    return make() if max_bytes is None else make(max_bytes=max_bytes)


def stable_id(value):
    """A test id from ``repr(value)`` without its memory address: pytest-xdist
    needs every worker to collect the same ids."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))
