"""Two compiled-only silent wrong answers the differential fuzzer found: a float -> int cast
of NaN / out-of-range values (LLVM's fptosi is poison there) and an in-place update that
promoted its target's dtype (`z += y`, z float32, y float64)."""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

SPECIAL = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 3.7, -3.7, 2.0 ** 31, -2.0 ** 31,
                    255.9, -0.0], np.float64)


@pytest.mark.parametrize("src", ["float32", "float64"])
@pytest.mark.parametrize("dst", ["int64", "int32", "int16", "int8", "uint8"])
def test_compiled_float_to_int_casts_match_torch(src, dst):
    x = SPECIAL.astype(src)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = torch.tensor(x).to(getattr(torch, dst)).numpy()
    f = tc.compile(lambda t: (t * 1.0).to(getattr(tc, dst)))   # * 1.0: a kernel, not a copy
    got = f(tc.tensor(x)).numpy()
    assert got.dtype == want.dtype and np.array_equal(got, want), (got, want)


def test_compiled_in_place_update_keeps_the_targets_dtype():
    def f(lib, x, y):
        z = x * 1
        z += y
        return z
    xs = np.array([1.0, 2.0, 3.0], np.float32)
    ys = np.array([0.1, 0.2, 0.3])
    tx, ty = (torch.tensor(a, requires_grad=True) for a in (xs, ys))
    want = f(torch, tx, ty)
    want.sum().backward()
    x, y = (tc.tensor(a, requires_grad=True) for a in (xs, ys))
    got = tc.compile(lambda a, b: f(tc, a, b))(x, y)
    got.sum().backward()
    assert str(got.dtype) == "tracecomp.float32"
    assert np.array_equal(got.detach().numpy(), want.detach().numpy())
    assert np.array_equal(x.grad.numpy(), tx.grad.numpy())
    assert y.grad.dtype == tc.float64 and np.array_equal(y.grad.numpy(), ty.grad.numpy())
