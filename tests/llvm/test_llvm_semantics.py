"""The llvm backend's fast paths keep eager semantics: NaN and Inf propagate as numpy's
do (no nnan/ninf flags), non-contiguous inputs (permuted, sliced) read right, float64
graphs stay float64, and size-0 / size-1 dims work."""
import numpy as np
import pytest

import tracecomp as tc
import tracecomp.nn.functional as F

SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 88.0, -88.0, 1e-40],
                    np.float32)

FUNCTIONS = [
    ("exp", lambda x: x.exp()), ("log", lambda x: x.log()), ("tanh", lambda x: x.tanh()),
    ("sigmoid", lambda x: x.sigmoid()), ("relu", lambda x: x.relu()),
    ("gelu", lambda x: F.gelu(x)), ("softplus", lambda x: F.softplus(x)),
    ("max", lambda x: tc.maximum(x, x * 0.5)), ("sum", lambda x: x.sum()),
    ("amax", lambda x: x.amax()), ("softmax", lambda x: F.softmax(x, 0)),
    ("sqrt", lambda x: x.abs().sqrt()), ("compare", lambda x: (x > 0) | x.isnan()),
]


@pytest.mark.parametrize("name,fn", FUNCTIONS, ids=[f[0] for f in FUNCTIONS])
def test_nan_and_inf_propagate_like_eager(name, fn):
    with np.errstate(all="ignore"):
        want = fn(tc.tensor(SPECIALS)).numpy()
        got = tc.compile(fn, backend="llvm")(tc.tensor(SPECIALS)).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=0)


def test_non_contiguous_inputs():
    base = tc.randn(6, 8)
    views = [base.t(), base[:, ::2], base[1:5, 2:7], base.t()[::3]]
    f = tc.compile(lambda x: (x * 2 + 1).tanh().sum(-1), backend="llvm")
    for v in views:
        np.testing.assert_allclose(f(v).numpy(), (v * 2 + 1).tanh().sum(-1).numpy(),
                                   rtol=1e-5, atol=1e-6)


def test_float64_graph_stays_float64():
    x = tc.randn(5, 7, dtype=tc.float64, requires_grad=True)
    w = tc.randn(7, 3, dtype=tc.float64, requires_grad=True)
    f = tc.compile(lambda x, w: F.log_softmax(x @ w, -1).exp().sum(), backend="llvm")
    out = f(x, w)
    assert out.dtype == tc.float64
    out.backward()
    gx, gw = x.grad.numpy().copy(), w.grad.numpy().copy()
    x.grad = w.grad = None
    F.log_softmax(x @ w, -1).exp().sum().backward()
    np.testing.assert_allclose(gx, x.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gw, w.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(0, 4), (1, 4), (4, 1), (1, 1), (3, 0, 2)])
def test_empty_and_size_one_dims(shape):
    x = tc.randn(*shape)
    f = tc.compile(lambda x: (x.exp() - 1).sum(-1) + x.mean(), backend="llvm")
    with np.errstate(all="ignore"):
        want = ((x.exp() - 1).sum(-1) + x.mean()).numpy()
        got = f(x).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


TIES = [("maximum", lambda lib, a, b: lib.maximum(a, b)),
        ("minimum", lambda lib, a, b: lib.minimum(a, b)),
        ("clamp", lambda lib, a, b: a.clamp(min=b, max=b + 1)),
        ("fmax", lambda lib, a, b: lib.fmax(a, b)), ("fmin", lambda lib, a, b: lib.fmin(a, b))]


@pytest.mark.parametrize("name,fn", TIES, ids=[t[0] for t in TIES])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ties_and_nans_pick_torchs_operand(name, fn, dtype):
    """torch's maximum/minimum keep the first operand where the two are equal (of two
    zeros of opposite sign, the first: numpy's and llvm.maximum's answers differ), and NaN
    from either side: eager and compiled, sign bits included."""
    import torch
    a = np.array([0.0, -0.0, -0.0, 1.0, np.nan, 2.0, -1.0], dtype)
    b = np.array([-0.0, 0.0, -0.0, np.nan, 1.0, 2.0, 3.0], dtype)
    want = fn(torch, torch.tensor(a), torch.tensor(b)).numpy()
    eager = fn(tc, tc.tensor(a), tc.tensor(b)).numpy()
    compiled = tc.compile(lambda x, y: fn(tc, x, y))(tc.tensor(a), tc.tensor(b)).numpy()
    for got in (eager, compiled):
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
