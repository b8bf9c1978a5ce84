"""Gaps found by running popular lecture code (yunjey/pytorch-tutorial, karpathy/minGPT,
jcjohnson/pytorch-examples) unchanged, eager and compiled: each test is our own small
program of the API that failed, checked against torch."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close, to_tc


# --- x[mask] = value inside compiled code (a custom ReLU's backward: grad[x < 0] = 0) -------
@pytest.mark.parametrize("mask_ndim", [1, 2])
def test_traced_mask_assign_matches_torch(mask_ndim):
    rng = np.random.default_rng(0)
    x_t = torch.tensor(rng.standard_normal((4, 3)), dtype=torch.float32, requires_grad=True)
    v_t = torch.tensor(rng.standard_normal(3 if mask_ndim == 1 else ()), dtype=torch.float32,
                       requires_grad=True)

    def f(lib, x, v):
        g = (x * 2).clone()
        mask = (x[:, 0] < 0) if mask_ndim == 1 else (x < 0)
        g[mask] = 0
        h = x.clone()
        h[(x[:, 1] > 0.2) if mask_ndim == 1 else (x > 0.2)] = v
        return g, h
    want = f(torch, x_t, v_t)
    (want[0].sum() + (want[1] * want[1]).sum()).backward()
    x, v = to_tc(x_t), to_tc(v_t)
    got = tc.compile(lambda x, v: f(tc, x, v))(x, v)
    (got[0].sum() + (got[1] * got[1]).sum()).backward()
    for g, w in zip(got, want):
        assert_close(g, w)
    assert_close(x.grad, x_t.grad, what="x.grad")
    assert_close(v.grad, v_t.grad, what="v.grad")


def test_traced_mask_assign_custom_function_backward():
    class MyReLU(tc.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.clamp(min=0)

        @staticmethod
        def backward(ctx, grad_output):
            x, = ctx.saved_tensors
            grad_x = grad_output.clone()
            grad_x[x < 0] = 0
            return grad_x
    rng = np.random.default_rng(1)
    x_t = torch.tensor(rng.standard_normal((5, 4)), dtype=torch.float32, requires_grad=True)
    w_t = torch.tensor(rng.standard_normal((4, 3)), dtype=torch.float32, requires_grad=True)
    torch.relu(x_t.mm(w_t)).pow(2).sum().backward()
    x, w = to_tc(x_t), to_tc(w_t)
    out = tc.compile(lambda x, w: MyReLU.apply(x.mm(w)).pow(2).sum())(x, w)
    out.backward()
    assert_close(w.grad, w_t.grad, what="w.grad")
    assert_close(x.grad, x_t.grad, what="x.grad")


def test_traced_mask_assign_of_one_value_per_true_checks_the_count():
    """One value per selected element compiles (test_programs_round37); a count other than
    the value's length is torch's RuntimeError when the graph runs."""
    def f(lib, x, v):
        y = x.clone()
        y[x > 0] = v            # one value per selected element
        return y
    x, v = np.array([1, -1, 2, 3, -2, 4], np.float32), np.arange(6, dtype=np.float32)
    with pytest.raises(RuntimeError) as want:
        f(torch, torch.tensor(x), torch.tensor(v))
    with pytest.raises(RuntimeError) as got:
        tc.compile(lambda x, v: f(tc, x, v), fullgraph=True)(tc.tensor(x), tc.tensor(v))
    assert str(got.value) == str(want.value)


def test_traced_mask_assign_bad_mask_shape():
    def f(x):
        y = x.clone()
        y[x[:2] > 0] = 1.0
        return y
    t = torch.randn(3, 2)
    with pytest.raises(IndexError) as want:
        f(t)
    with pytest.raises(IndexError) as got:
        tc.compile(f)(tc.randn(3, 2))
    assert str(got.value) == str(want.value)


# --- '{}'.format(correct / total): a 0-d tensor formats as its number, as in torch ---------
@pytest.mark.parametrize("spec", ["", ".2f", ">8"])
@pytest.mark.parametrize("make", [lambda lib: 100 * lib.tensor(25) / 256,
                                  lambda lib: lib.tensor(3),
                                  lambda lib: lib.tensor(True),
                                  lambda lib: lib.tensor(2.5, requires_grad=True) * 2])
def test_zero_dim_format_matches_torch(make, spec):
    fmt = "{:" + spec + "}"
    want, got = _format_or_error(fmt, make(torch)), _format_or_error(fmt, make(tc))
    assert got == want


@pytest.mark.parametrize("spec", ["", ".1f"])
@pytest.mark.parametrize("make", [lambda lib: lib.nn.Parameter(lib.tensor(2.5)),
                                  lambda lib: lib.ones(2)])
def test_format_of_parameter_and_vector_matches_torch(make, spec):
    fmt = "{:" + spec + "}"
    want, got = _format_or_error(fmt, make(torch)), _format_or_error(fmt, make(tc))
    assert got == want


def _format_or_error(fmt, x):
    try:
        return fmt.format(x)
    except TypeError as e:
        return f"TypeError: {e}"
