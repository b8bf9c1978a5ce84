"""torch.frexp, nextafter, igammac (special.gammaincc), mvlgamma (special.multigammaln),
adjoint, fill and get_device against torch 2.13: values, dtypes, gradients, the Tensor methods and
in-place forms, torch's errors, and compiled == eager."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close, raised, to_tc

gen = torch.Generator().manual_seed(2)
SPECIAL = np.array([8.0, 0.3, -5.0, 0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, 3e38, 0.75])


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_frexp_values_match_torch(dtype):
    x = torch.tensor(SPECIAL if dtype != "float16" else SPECIAL[:8]).to(getattr(torch, dtype))
    want, got = torch.frexp(x), tc.frexp(to_tc(x))
    assert type(got).__name__ == "frexp" and got._fields == ("mantissa", "exponent")
    assert got.exponent.dtype == tc.int32 and got.mantissa.dtype == getattr(tc, dtype)
    np.testing.assert_array_equal(got.mantissa.numpy(), want.mantissa.numpy())
    np.testing.assert_array_equal(got.exponent.numpy(), want.exponent.numpy())
    np.testing.assert_array_equal(to_tc(x).frexp().mantissa.numpy(), want.mantissa.numpy())


def test_frexp_and_nextafter_gradients_match_torch():
    x = torch.tensor([8.0, 0.3, -5.0, 0.0, 1e-3], requires_grad=True)
    other = torch.tensor([9.0, 0.0, -5.0, 1.0, -1.0], requires_grad=True)
    xc, oc = to_tc(x), to_tc(other)
    (torch.frexp(x).mantissa * 3 + torch.nextafter(x, other) * 2).sum().backward()
    (tc.frexp(xc).mantissa * 3 + tc.nextafter(xc, oc) * 2).sum().backward()
    assert_close(xc.grad, x.grad)
    assert_close(oc.grad, other.grad)
    got, want = tc.nextafter(xc, oc), torch.nextafter(x, other)
    np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())
    assert type(got.grad_fn).__name__ == type(want.grad_fn).__name__


def test_nextafter_steps_one_ulp_and_in_place():
    for dtype in ("float32", "float64"):
        a = torch.tensor([1.0, 2.0, 0.0, -0.0, np.inf], dtype=getattr(torch, dtype))
        b = torch.tensor([2.0, 0.0, 1.0, -1.0, 0.0], dtype=getattr(torch, dtype))
        np.testing.assert_array_equal(tc.nextafter(to_tc(a), to_tc(b)).numpy(),
                                      torch.nextafter(a, b).numpy())
        ours, ref = to_tc(a), a.clone()
        ours.nextafter_(to_tc(b))
        ref.nextafter_(b)
        np.testing.assert_array_equal(ours.numpy(), ref.numpy())


def test_igammac_values_gradient_and_in_place():
    a = torch.tensor([0.5, 1.0, 2.0, 3.0, 10.0])
    x = torch.tensor([0.5, 2.0, 0.1, 30.0, 9.0], requires_grad=True)
    xc = to_tc(x)
    want, got = torch.igammac(a, x), tc.igammac(to_tc(a), xc)
    assert_close(got, want)
    assert_close(tc.special.gammaincc(to_tc(a), xc), torch.special.gammaincc(a, x))
    assert type(got.grad_fn).__name__ == type(want.grad_fn).__name__
    want.sum().backward()
    got.sum().backward()
    assert_close(xc.grad, x.grad)
    for name in ("igamma_", "igammac_"):
        ours, ref = to_tc(a), a.clone()
        getattr(ours, name)(to_tc(x.detach()))
        getattr(ref, name)(x.detach())
        assert_close(ours, ref)


@pytest.mark.parametrize("p", [1, 2, 3, 5])
def test_mvlgamma_values_gradients_and_aliases(p):
    x = (torch.rand(3, 4, generator=gen, dtype=torch.float64) * 5 + (p - 1) / 2 + 0.1)
    x.requires_grad_(True)
    xc = to_tc(x)
    want, got = torch.mvlgamma(x, p), tc.mvlgamma(xc, p)
    assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert_close(tc.special.multigammaln(xc, p), torch.special.multigammaln(x, p))
    assert_close(xc.mvlgamma(p), x.mvlgamma(p))
    want.sum().backward()
    got.sum().backward()
    assert_close(xc.grad, x.grad, rtol=1e-10)
    ours, ref = to_tc(x.detach().float()), x.detach().float()
    ours.mvlgamma_(p)
    ref.mvlgamma_(p)
    assert_close(ours, ref)
    ints = torch.tensor([3, 4, 7])
    assert_close(tc.mvlgamma(to_tc(ints), p), torch.mvlgamma(ints, p))


def test_adjoint_is_the_conjugate_transpose_view():
    x = torch.randn(2, 3, 4, generator=gen, dtype=torch.complex64)
    xc = to_tc(x)
    assert_close(tc.adjoint(xc).resolve_conj(), torch.adjoint(x).resolve_conj())
    assert tc.adjoint(xc).is_conj() == torch.adjoint(x).is_conj()
    real = torch.randn(3, 2, generator=gen, requires_grad=True)
    rc = to_tc(real)
    (torch.adjoint(real) * torch.arange(6.0).reshape(2, 3)).sum().backward()
    (rc.adjoint() * tc.arange(6.0).reshape(2, 3)).sum().backward()
    assert_close(rc.grad, real.grad)
    view = rc.detach().adjoint()
    view[0, 1] = 100.0                  # a view: the write reaches the base
    assert float(rc[1, 0]) == 100.0


def test_get_device():
    assert tc.get_device(tc.zeros(2)) == torch.get_device(torch.zeros(2)) == -1


def test_fill_values_gradients_and_dtypes():
    x = torch.randn(2, 3, generator=gen, requires_grad=True)
    value = torch.tensor(3.0, requires_grad=True)
    xc, vc = to_tc(x), to_tc(value)
    for fn in (lambda lib, a, v: lib.fill(a, v), lambda lib, a, v: lib.fill(a, 2.5)):
        want, got = fn(torch, x, value), fn(tc, xc, vc)
        assert_close(got, want)
        assert type(got.grad_fn).__name__ == type(want.grad_fn).__name__
        (want * 2).sum().backward()
        (got * 2).sum().backward()
    assert_close(xc.grad, x.grad)
    assert_close(vc.grad, value.grad)
    ints = torch.tensor([1, 2])
    for value in (2.7, torch.tensor(2.5)):
        got, want = tc.fill(to_tc(ints), to_tc(value)), torch.fill(ints, value)
        assert got.dtype == tc.int64 and got.tolist() == want.tolist()


@pytest.mark.parametrize("call", [
    lambda lib: lib.frexp(lib.tensor([8, 3])),
    lambda lib: lib.nextafter(lib.tensor([1, 2]), lib.tensor([2, 0])),
    lambda lib: lib.nextafter(lib.tensor([1.0, 2.0]), 3.0),
    lambda lib: lib.igammac(lib.tensor([1, 2]), lib.tensor([1, 2])),
    lambda lib: lib.igammac(lib.tensor([1.0], requires_grad=True), lib.tensor([1.0])).backward(),
    lambda lib: lib.mvlgamma(lib.tensor([2.5]), 0),
    lambda lib: lib.mvlgamma(lib.tensor([True]), 1),
    lambda lib: lib.adjoint(lib.zeros(3)),
    lambda lib: lib.fill(lib.zeros(3), lib.tensor([1.0, 2.0])),
    lambda lib: lib.zeros(3).fill_(lib.tensor([1.0, 2.0])),
])
def test_errors_match_torch(call):
    ours, theirs = raised(tc, call), raised(torch, call)
    assert isinstance(ours, type(theirs)), f"tracecomp={ours!r} | torch={theirs!r}"
    assert str(ours) == str(theirs), f"tracecomp={ours} | torch={theirs}"


def test_compiled_matches_eager():
    def fn(x, a):
        m, e = tc.frexp(x)
        return (m * e + tc.nextafter(x, a) + tc.igammac(a.abs() + 1, x.abs() + 0.5)
                + tc.mvlgamma(x.abs() + 2, 3) + tc.fill(x, 1.5) + x.adjoint().t())
    x = tc.randn(3, 3, requires_grad=True)
    a = tc.randn(3, 3)
    got = tc.compile(fn)(x, a)
    got.sum().backward()
    grad, x.grad = x.grad, None
    want = fn(x, a)
    want.sum().backward()
    assert_close(got, want)
    assert_close(grad, x.grad)
