"""The report's contenders (benchmarks/benchmarks/common.py) build what they
claim: every append, extend and to_numpy path ends with the same elements as
numpy, across the doubling peer's growths."""

import importlib
import sys

import numpy as np
import pytest

from seg_support import REPO


@pytest.fixture(scope="module")
def common():
    bench_dir = str(REPO / "benchmarks")
    sys.path.insert(0, bench_dir)
    saved = {m: sys.modules.pop(m) for m in list(sys.modules)
             if m == "benchmarks" or m.startswith("benchmarks.")}
    try:
        yield importlib.import_module("benchmarks.common")
    finally:
        sys.path.remove(bench_dir)
        for m in [m for m in sys.modules if m == "benchmarks" or m.startswith("benchmarks.")]:
            del sys.modules[m]
        sys.modules.update(saved)


@pytest.mark.parametrize("dtype", ["int64", "record"])
@pytest.mark.parametrize("n", [0, 1, 16, 17, 1000, 4097])
def test_append_and_extend_build_the_sample(common, dtype, n):
    want = common.sample_array(common.as_dtype(dtype), n) if dtype == "record" \
        else np.arange(n, dtype=np.int64)
    for impl in common.IMPLS:
        try:
            common.check_applicable(impl, dtype)
        except common.NotApplicable:
            continue
        values = common.append_values(dtype, n)
        built = common.append_all(impl, dtype, values, n)
        assert len(built) == n, impl
        got = common.to_numpy(impl, dtype, built)
        assert got.dtype == want.dtype and np.array_equal(got, want), impl
        if impl == "numpy_doubling":
            # The inline loop grows as NumpyDoubling.append does: doubling from 16.
            assert built.capacity == max(16, 1 << max(0, n - 1).bit_length()), n


def test_doubling_append_takes_an_iterator(common):
    # The peak-memory runs append from a generator of tuples.
    n = 100
    built = common.append_all("numpy_doubling", "record",
                              common.append_values("record", n, fresh=True), n)
    want = np.array([(i, float(i), float(i), float(i), i, i) for i in range(n)],
                    dtype=common.RECORD)
    assert np.array_equal(built.to_numpy(), want)
