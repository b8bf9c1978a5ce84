"""torch.histogram and torch.linspace, value for value: the bin edges are a linspace of
the data's range, so both follow torch's CPU kernels (a fused multiply-add per element for
linspace; a guessed bin corrected against the edges for histogram): values that fall on an
edge land in torch's bin (makemore part 3 plots activations with torch.histogram)."""
import numpy as np
import pytest
import torch

import tracecomp as tc


def _cases():
    rng = np.random.default_rng(0)
    for k in range(60):
        n = int(rng.integers(1, 200))
        x = [rng.standard_normal(n), rng.integers(-5, 5, n), rng.integers(0, 10, n) / 10,
             np.full(n, 3.0), rng.random(n) * 7][k % 5].astype(np.float32)
        kwargs = {}
        if k % 4 == 1:
            kwargs["range"] = (-2.0, 2.0)
        if k % 5 == 2:
            kwargs["weight"] = rng.random(n).astype(np.float32)
        if k % 3 == 2:
            kwargs["density"] = True
        bins = int(rng.integers(1, 20))
        if k % 7 == 3:
            bins = np.sort(rng.standard_normal(bins + 1)).astype(np.float32)
            kwargs.pop("range", None)
        yield x, bins, kwargs


@pytest.mark.parametrize("k", range(60))
def test_histogram_is_torchs(k):
    x, bins, kwargs = list(_cases())[k]

    def run(lib):
        wrap = {key: lib.tensor(v) if isinstance(v, np.ndarray) else v
                for key, v in kwargs.items()}
        return lib.histogram(lib.tensor(x), lib.tensor(bins) if isinstance(bins, np.ndarray)
                             else bins, **wrap)
    got, want = run(tc), run(torch)
    np.testing.assert_array_equal(got.bin_edges.numpy(), want.bin_edges.numpy())
    np.testing.assert_allclose(got.hist.numpy(), want.hist.numpy(), rtol=1e-6, atol=0)
    assert got.hist.dtype == tc.float32 and type(got).__name__ == "histogram"


def test_histogram_method_and_errors():
    x = tc.tensor([0.0, 1.0, 1.0, 2.0])
    hist, edges = x.histogram(2)
    np.testing.assert_array_equal(hist.numpy(), [1.0, 3.0])     # 1.0 sits on the middle edge
    np.testing.assert_array_equal(edges.numpy(), [0.0, 1.0, 2.0])
    with pytest.raises(RuntimeError, match="same dtype"):
        tc.histogram(tc.tensor([1, 2]), 3)
    with pytest.raises(TypeError, match="range"):
        tc.histogram(x, tc.tensor([0.0, 1.0]), range=(0.0, 1.0))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_linspace_is_torchs_bit_for_bit(dtype):
    rng = np.random.default_rng(1)
    mismatched = 0
    for _ in range(200):
        a, b = rng.standard_normal(2) * 10
        n = int(rng.integers(0, 3000))
        want = torch.linspace(float(a), float(b), n, dtype=getattr(torch, dtype)).numpy()
        got = tc.linspace(float(a), float(b), n, dtype=getattr(tc, dtype)).numpy()
        assert got.shape == want.shape and got.dtype == want.dtype
        mismatched += not np.array_equal(got, want)
    # float64's fused multiply-add goes through long double: a rare double rounding
    assert mismatched == 0 if dtype == "float32" else mismatched <= 20


def test_range_the_deprecated_one_includes_its_end_as_torchs():
    for args, kwargs in (((1, 4), {}), ((0, 1, 0.1), {}), ((1, 4), {"dtype": "int64"}),
                         ((0.5, 2.5), {}), ((3, -1, -0.5), {})):
        kw = {k: getattr(torch, v) for k, v in kwargs.items()}
        with pytest.warns(UserWarning, match="torch.range is deprecated"):
            want = torch.range(*args, **kw)
        with pytest.warns(UserWarning, match="torch.range is deprecated"):
            got = tc.range(*args, **{k: getattr(tc, v) for k, v in kwargs.items()})
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        assert str(got.dtype).split(".")[1] == str(want.dtype).split(".")[1]
    with pytest.raises(RuntimeError, match="inconsistent with step sign"):
        tc.range(5, 1)
