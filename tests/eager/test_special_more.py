"""torch.special's erfcx, ndtri, log_ndtr, i0e, i1e, zeta, Bessel family and orthogonal
polynomials against torch 2.13: values in float32 and float64 over wide ranges with the edge
cases (0, -0, +-inf, NaN, overflow), dtypes, gradients (against torch and central differences
in float64), torch's missing gradients, compiled == torch, and the public names of
tracecomp.special and tracecomp.fft against torch's."""
import numpy as np
import pytest
import torch

import tracecomp as tc
import tracecomp.fft
import tracecomp.special as S

from helpers import to_tc

rng = np.random.default_rng(7)
EDGE = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 1e-30, -1e-30, 8.0, -8.0, 30.0, -30.0,
        100.0, -100.0, 700.0, -700.0, np.inf, -np.inf, np.nan, 1e-8, 0.9999999]
WIDE = np.concatenate([EDGE, rng.uniform(-20, 20, 400), rng.uniform(0, 1, 100),
                       rng.standard_normal(100) * 80])

# name -> float64 rtol (the absolute floor is 1/100 of it). Where torch's own kernel is less
# accurate than scipy's Cephes (test_bessels_match_mpmath: torch's j0(8) is off by 1e-9,
# near the zeros of j0/j1/y0/y1 by up to 5e-7 absolute, its airy_ai(-2.45) by 4e-6), the
# tolerance is torch's error, not ours
UNARY = {"erfcx": 1e-12, "ndtri": 1e-12, "log_ndtr": 1e-12, "i0e": 1e-12, "i1e": 1e-12,
         "bessel_j0": 1e-4, "bessel_j1": 1e-4, "bessel_y0": 1e-4, "bessel_y1": 1e-4,
         "modified_bessel_i0": 1e-12, "modified_bessel_i1": 1e-12,
         "modified_bessel_k0": 1e-12, "modified_bessel_k1": 1e-12,
         "scaled_modified_bessel_k0": 1e-12, "scaled_modified_bessel_k1": 1e-12,
         "spherical_bessel_j0": 1e-12, "airy_ai": 1e-3}
POLYNOMIALS = [n for n in torch.special.__all__ if "polynomial" in n]


def _inputs(dtype):
    x = WIDE.astype(dtype)
    if dtype == "float32":
        # torch's float32 kernels lose the phase of sin/cos past ~1e3 and overflow
        # i0/i1's exp(|x|) past 88 where the value still fits: compare inside that
        x = x[~(np.abs(x) > 85) | ~np.isfinite(x)]
    return x


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_values_match_torch(name, dtype):
    x = _inputs(dtype)
    want = getattr(torch.special, name)(torch.from_numpy(x)).numpy()
    got = getattr(S, name)(tc.tensor(x))
    assert got.dtype == getattr(tc, dtype)
    rtol = UNARY[name] if dtype == "float64" else max(UNARY[name], 2e-5)
    # the zeros of j0, y0, ... are where a relative error means nothing: an absolute floor
    np.testing.assert_allclose(got.numpy(), want, rtol=rtol, atol=rtol * 1e-2)
    # exact where torch's answer is not finite: the poles, overflow and NaN
    special = ~np.isfinite(want)
    np.testing.assert_array_equal(got.numpy()[special], want[special])


def test_bessels_match_mpmath():
    mpmath = pytest.importorskip("mpmath")
    x = [-30.0, -2.45, -0.3, 0.7, 2.404825557695773, 8.0, 19.6, 60.0]
    refs = {"bessel_j0": lambda v: mpmath.besselj(0, v),
            "bessel_j1": lambda v: mpmath.besselj(1, v),
            "airy_ai": mpmath.airyai, "spherical_bessel_j0": lambda v: mpmath.sin(v) / v}
    for name, ref in refs.items():
        got = getattr(S, name)(tc.tensor(x, dtype=tc.float64)).numpy()
        np.testing.assert_allclose(got, [float(ref(v)) for v in x], rtol=1e-11, atol=1e-15)
    pos = [v for v in x if v > 0]
    for name, order in (("bessel_y0", 0), ("bessel_y1", 1)):
        got = getattr(S, name)(tc.tensor(pos, dtype=tc.float64)).numpy()
        np.testing.assert_allclose(got, [float(mpmath.bessely(order, v)) for v in pos],
                                   rtol=1e-11, atol=1e-15)


def test_integer_inputs_compute_in_the_default_float():
    x = torch.tensor([0, 1, 3, -2])
    for name in ("erfcx", "i0e", "bessel_j0", "modified_bessel_k1"):
        want = getattr(torch.special, name)(x)
        got = getattr(S, name)(to_tc(x))
        assert got.dtype == tc.float32 and want.dtype == torch.float32
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


@pytest.mark.parametrize("name,domain", [
    ("erfcx", [-3.0, -0.7, 0.0, 0.4, 1.3, 5.0, 30.0]),
    ("ndtri", [1e-10, 0.01, 0.3, 0.5, 0.9, 0.999]),
    ("log_ndtr", [-40.0, -5.0, -0.3, 0.0, 2.0, 10.0]),
    ("i0e", [-3.0, -0.7, -1e-20, 0.4, 1.3, 5.0, 12.0, 30.0]),
    ("i1e", [-3.0, -0.7, -1e-20, 0.0, 1e-20, 0.4, 1.3, 12.0, 30.0]),
])
def test_gradients_match_torch_and_central_differences(name, domain):
    x = torch.tensor(domain, dtype=torch.float64, requires_grad=True)
    y = getattr(torch.special, name)(x)
    want, = torch.autograd.grad(y.sum(), x)
    xc = tc.tensor(domain, dtype=tc.float64, requires_grad=True)
    yc = getattr(S, name)(xc)
    assert type(yc.grad_fn).__name__ == type(y.grad_fn).__name__
    yc.sum().backward()
    np.testing.assert_allclose(xc.grad.numpy(), want.numpy(), rtol=1e-10, atol=1e-300)
    # central differences, with steps relative to x (i0e has a kink at 0, ndtri's domain
    # ends there)
    a = np.array(domain)
    h = 1e-6 * np.where(a != 0, np.abs(a), 1e-3)
    f = getattr(S, name)
    fd = (f(tc.tensor(a + h)).numpy() - f(tc.tensor(a - h)).numpy()) / (2 * h)
    # (not at +-1e-20, where a step small enough to stay on one side changes nothing in
    # float64: torch's value there was checked above)
    keep = (a == 0) | (np.abs(a) > 1e-10)
    np.testing.assert_allclose(xc.grad.numpy()[keep], fd[keep], rtol=1e-5, atol=1e-8)


def test_second_derivative_of_erfcx_matches_torch():
    x = torch.tensor([-1.0, 0.3, 4.0], dtype=torch.float64, requires_grad=True)
    g, = torch.autograd.grad(torch.special.erfcx(x).sum(), x, create_graph=True)
    want, = torch.autograd.grad(g.sum(), x)
    xc = tc.tensor([-1.0, 0.3, 4.0], dtype=tc.float64, requires_grad=True)
    gc, = tc.autograd.grad(S.erfcx(xc).sum(), xc, create_graph=True)
    got, = tc.autograd.grad(gc.sum(), xc)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_zeta_values_match_torch(dtype):
    x = np.array([1.0, 0.5, 2.0, 3.5, 10.0, 1e3, -1.0, -2.5, np.inf, np.nan, 0.0, 1.5], dtype)
    q = np.array([1.0, 0.5, -1.0, -1.5, 2.0, 1e3, 0.0, 3.0, np.inf, np.nan, -2.0, 1e-3], dtype)
    xx, qq = np.meshgrid(x, q)
    want = torch.special.zeta(torch.from_numpy(xx), torch.from_numpy(qq)).numpy()
    got = S.zeta(tc.tensor(xx), tc.tensor(qq))
    assert got.dtype == getattr(tc, dtype)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5 if dtype == "float32" else 1e-12)
    # a number on either side
    np.testing.assert_allclose(S.zeta(2.0, tc.tensor([1.0, 3.0])).numpy(),
                               torch.special.zeta(2.0, torch.tensor([1.0, 3.0])).numpy())
    np.testing.assert_allclose(S.zeta(tc.tensor([2.0, 3.0]), 2.0).numpy(),
                               torch.special.zeta(torch.tensor([2.0, 3.0]), 2.0).numpy())


def test_zeta_gradient_in_q_and_none_in_x():
    q = torch.tensor([1.5, 0.3, 7.0], dtype=torch.float64, requires_grad=True)
    torch.special.zeta(torch.tensor([2.0, 3.5, 4.0], dtype=torch.float64), q).sum().backward()
    qc = tc.tensor([1.5, 0.3, 7.0], dtype=tc.float64, requires_grad=True)
    y = S.zeta(tc.tensor([2.0, 3.5, 4.0], dtype=tc.float64), qc)
    assert type(y.grad_fn).__name__ == "SpecialZetaBackward0"
    assert type(S.zeta(2.0, qc).grad_fn).__name__ == \
        type(torch.special.zeta(2.0, q).grad_fn).__name__ == "SpecialZetaBackward1"
    y.sum().backward()
    np.testing.assert_allclose(qc.grad.numpy(), q.grad.numpy(), rtol=1e-12)
    h = 1e-6
    x64, q64 = np.array([2.0, 3.5, 4.0]), np.array([1.5, 0.3, 7.0])
    fd = (S.zeta(tc.tensor(x64), tc.tensor(q64 + h)).numpy()
          - S.zeta(tc.tensor(x64), tc.tensor(q64 - h)).numpy())
    np.testing.assert_allclose(qc.grad.numpy(), fd / (2 * h), rtol=1e-6)
    with pytest.raises(RuntimeError, match="the derivative for 'zeta' is not implemented"):
        torch.special.zeta(torch.tensor([2.0], requires_grad=True), 1.5).backward()
    with pytest.raises(NotImplementedError, match="the derivative for 'zeta' is not implemented"):
        S.zeta(tc.tensor([2.0], requires_grad=True), 1.5).backward()


def _poly_grid(dtype):
    x = np.concatenate([[0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 0.3, 1e-8, 0.999, 5.0,
                         -7.0, 1e3, np.inf, -np.inf], rng.uniform(-3, 3, 30),
                        rng.uniform(0, 1, 15)])
    n = [-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.9, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0,
         20.0, np.nan, np.inf, -np.inf, 1e30]
    if dtype == "float64":
        n += [50.0, 130.0, 600.0]
    xx, nn = np.meshgrid(x.astype(dtype), np.array(n, dtype))
    return xx, nn


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", POLYNOMIALS)
def test_polynomial_values_match_torch(name, dtype):
    xx, nn = _poly_grid(dtype)
    want = getattr(torch.special, name)(torch.from_numpy(xx), torch.from_numpy(nn)).numpy()
    got = getattr(S, name)(tc.tensor(xx), tc.tensor(nn))
    assert got.dtype == getattr(tc, dtype)
    keep = np.ones(want.shape, bool)
    if dtype == "float32":
        # where the value overflows float32, torch's kernel gives inf or NaN depending on
        # the loop's last steps: compare where the float64 value fits
        wide = getattr(torch.special, name)(torch.from_numpy(xx).double(),
                                            torch.from_numpy(nn).double()).numpy()
        keep = ~(np.abs(wide) > 1e36)
    tol = 1e-4 if dtype == "float32" else 1e-10
    np.testing.assert_allclose(got.numpy()[keep], want[keep], rtol=tol, atol=tol * 1e-1)


def test_polynomials_take_numbers_and_integer_degrees():
    x = torch.tensor([0.3, -0.8, 1.7])
    for name in POLYNOMIALS:
        f, g = getattr(torch.special, name), getattr(S, name)
        np.testing.assert_allclose(g(to_tc(x), 3).numpy(), f(x, 3).numpy(), rtol=1e-6)
        want = f(0.25, torch.arange(-1, 6))
        got = g(0.25, tc.arange(-1, 6))
        assert got.dtype == tc.float32 and want.dtype == torch.float32
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_polynomials_and_bessels_have_no_gradient_as_in_torch():
    x = torch.tensor([0.3, 1.2], requires_grad=True)
    xc = tc.tensor([0.3, 1.2], requires_grad=True)
    for name in POLYNOMIALS:
        assert not getattr(torch.special, name)(x, 3).requires_grad
        assert not getattr(S, name)(xc, 3).requires_grad
    for name in [n for n in UNARY if "bessel" in n or n == "airy_ai"]:
        assert not getattr(torch.special, name)(x).requires_grad
        assert not getattr(S, name)(xc).requires_grad


def test_compiled_matches_torch():
    def body(lib):
        def fn(a, n):
            sp = lib.special
            return (sp.erfcx(a) + sp.bessel_j0(a) + sp.chebyshev_polynomial_t(a, n)
                    + sp.zeta(a * a + 2, a * a + 1) + sp.i1e(a) + sp.log_ndtr(a)
                    + sp.legendre_polynomial_p(a, n) + sp.modified_bessel_k0(a * a + 0.1))
        return fn
    a = np.linspace(-2, 2, 11).astype(np.float32)
    n = np.arange(11).astype(np.float32)
    want = body(torch)(torch.from_numpy(a), torch.from_numpy(n)).numpy()
    got = tc.compile(body(tc))(tc.tensor(a), tc.tensor(n))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


def test_compiled_gradient_matches_torch():
    x = torch.tensor([-1.5, 0.2, 3.0], dtype=torch.float64, requires_grad=True)
    (torch.special.erfcx(x) * torch.special.i0e(x)).sum().backward()
    xc = tc.tensor([-1.5, 0.2, 3.0], dtype=tc.float64, requires_grad=True)
    tc.compile(lambda v: (S.erfcx(v) * S.i0e(v)).sum())(xc).backward()
    np.testing.assert_allclose(xc.grad.numpy(), x.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("ours,theirs", [(S, torch.special), (tracecomp.fft, torch.fft)])
def test_public_names_are_torchs(ours, theirs):
    def public(module):
        return {n for n in dir(module) if not n.startswith("_")}
    # torch's modules also show what they import (torch, Tensor, its docstring helpers)
    internal = {"torch", "Tensor", "common_args", "multi_dim_common", "factory_common_args"}
    assert public(ours) - public(theirs) == set()
    assert public(theirs) - public(ours) - internal == set()
    assert set(ours.__all__) <= public(theirs)
    assert set(theirs.__all__) - internal <= set(ours.__all__)


@pytest.mark.parametrize("name,args", [("erfcx", ()), ("bessel_j0", ()), ("airy_ai", ()),
                                       ("zeta", (1.0,)), ("chebyshev_polynomial_t", (2,))])
def test_complex_inputs_raise_torchs_error(name, args):
    x = torch.tensor([1j])
    with pytest.raises(NotImplementedError) as want:
        getattr(torch.special, name)(x, *args)
    with pytest.raises(NotImplementedError) as got:
        getattr(S, name)(to_tc(x), *args)
    assert str(got.value) == str(want.value)
