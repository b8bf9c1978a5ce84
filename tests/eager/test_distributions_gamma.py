"""The reparameterized Gamma, Beta, Dirichlet, Chi2 and StudentT draws: their gradients
against torch's on the same draws (torch._standard_gamma_grad and torch._dirichlet_grad,
whose series and rational approximations are good to ~1e-3 relative, so that is the
tolerance), against float64 finite differences of the inverse CDF, and against the
expectation they estimate; and igamma, Gamma's CDF, with its gradient and its refusal."""
import numpy as np
import pytest
import torch
from scipy import special

import tracecomp as tc
from tracecomp.distributions import gamma_draws

from helpers import assert_close

ALPHA = np.array([0.05, 0.3, 1.0, 2.5, 7.0, 9.0, 30.0, 100.0] * 3, np.float32)
X = np.array([0.01, 0.2, 1.0, 2.0, 6.0, 9.5, 25.0, 130.0] + [1e-3] * 8 + [3.0] * 8, np.float32)


def test_standard_gamma_grad_matches_torch_across_its_regimes():
    """Small x (torch's series), large alpha (its saddle-point expansion) and in between
    (its rational approximation)."""
    got = gamma_draws.standard_gamma_grad(tc.tensor(ALPHA), tc.tensor(X))
    want = torch._standard_gamma_grad(torch.tensor(ALPHA), torch.tensor(X))
    assert_close(got, want, rtol=1e-3, atol=0)


def test_standard_gamma_grad_is_the_implicit_derivative():
    """dx/dalpha at a fixed CDF level u: x(alpha + h) - x(alpha - h) over 2h, in float64."""
    a, x = ALPHA.astype(np.float64), X.astype(np.float64)
    u = special.gammainc(a, x)
    inside = (u > 1e-12) & (u < 1 - 1e-12)
    h = 1e-6 * a
    numeric = (special.gammaincinv(a + h, u) - special.gammaincinv(a - h, u)) / (2 * h)
    got = gamma_draws.standard_gamma_grad(tc.tensor(a), tc.tensor(x)).numpy()
    np.testing.assert_allclose(got[inside], numeric[inside], rtol=1e-5)


def test_dirichlet_grad_matches_torch():
    rng = np.random.default_rng(0)
    alpha = np.array([0.5, 2.0, 3.0, 8.0], np.float32)
    x = rng.dirichlet(alpha, 16).astype(np.float32)
    total = np.broadcast_to(alpha.sum(), x.shape).astype(np.float32)
    a = np.broadcast_to(alpha, x.shape).astype(np.float32)
    got = gamma_draws.dirichlet_grad(tc.tensor(x), tc.tensor(a), tc.tensor(total))
    want = torch._dirichlet_grad(torch.tensor(x), torch.tensor(a), torch.tensor(total))
    assert_close(got, want, rtol=2e-3, atol=1e-6)


def _rsample_grads(lib, family, params):
    """A draw and the gradients of sum(w * draw) w.r.t. the parameters."""
    leaves = {k: lib.tensor(v, requires_grad=True) for k, v in params.items()}
    x = getattr(lib.distributions, family)(**leaves).rsample()
    w = lib.tensor(np.linspace(0.5, 1.5, x.numel(), dtype=np.float32).reshape(tuple(x.shape)))
    (x * w).sum().backward()
    return x.detach(), [t.grad for t in leaves.values()]


@pytest.mark.parametrize("family, params", [
    ("Gamma", {"concentration": np.array([0.4, 1.5, 4.0, 12.0], np.float32),
               "rate": np.array([1.0, 2.0, 0.5, 3.0], np.float32)}),
    ("Beta", {"concentration1": np.array([0.4, 1.5, 4.0, 12.0], np.float32),
              "concentration0": np.array([2.0, 0.7, 3.0, 9.0], np.float32)}),
    ("Dirichlet", {"concentration": np.array([[0.4, 1.5, 4.0], [2.0, 2.0, 9.0]], np.float32)}),
], ids=["Gamma", "Beta", "Dirichlet"])
def test_rsample_gradients_match_torch_on_the_same_draws(family, params, monkeypatch):
    """tracecomp draws; torch differentiates that same draw (its sampler returns it)."""
    tc.manual_seed(0)
    x, got = _rsample_grads(tc, family, params)
    drawn = torch.tensor(x.numpy())
    if family == "Gamma":
        # Gamma(c, r) = z / r with z = torch._standard_gamma(c), whose derivative is
        # torch._standard_gamma_grad(c, z) (a native op: no draw to put in its place)
        c, r = torch.tensor(params["concentration"]), torch.tensor(params["rate"])
        w = torch.linspace(0.5, 1.5, drawn.numel())
        want = [w * torch._standard_gamma_grad(c, drawn * r) / r, -w * drawn / r]
    else:   # torch's _Dirichlet Function draws by torch._sample_dirichlet: this draw
        both = torch.stack([drawn, 1 - drawn], -1) if family == "Beta" else drawn
        monkeypatch.setattr(torch, "_sample_dirichlet", lambda c: both.to(c.dtype))
        y, want = _rsample_grads(torch, family, params)
        assert_close(x, y, rtol=1e-6, atol=1e-7)
    for g, w in zip(got, want):
        assert_close(g, w, rtol=3e-3, atol=1e-5)


def test_rsample_gradients_estimate_the_gradient_of_the_mean():
    """E[d x / d alpha] over many draws is d E[x] / d alpha: 1/rate for Gamma, and for
    Beta d(a / (a + b))/da = b / (a + b)^2; Chi2 and StudentT ride on the same draws."""
    tc.manual_seed(4)
    c, r = tc.tensor(2.5, requires_grad=True), tc.tensor(2.0, requires_grad=True)
    tc.distributions.Gamma(c, r).rsample((40000,)).mean().backward()
    assert abs(c.grad.item() - 0.5) < 0.01 and abs(r.grad.item() + 2.5 / 4) < 0.01
    a, b = tc.tensor(2.0, requires_grad=True), tc.tensor(3.0, requires_grad=True)
    tc.distributions.Beta(a, b).rsample((40000,)).mean().backward()
    assert abs(a.grad.item() - 3 / 25) < 0.005 and abs(b.grad.item() + 2 / 25) < 0.005
    df = tc.tensor(4.0, requires_grad=True)
    tc.distributions.Chi2(df).rsample((40000,)).mean().backward()
    assert abs(df.grad.item() - 1.0) < 0.02
    scale = tc.tensor(2.0, requires_grad=True)
    tc.distributions.StudentT(tc.tensor(5.0), 0.0, scale).rsample((40000,)).abs().mean() \
        .backward()
    want = float(torch.distributions.StudentT(5.0).sample((400000,)).abs().mean())
    assert abs(scale.grad.item() - want) < 0.02


def test_igamma_matches_torch_with_its_gradient_and_its_refusal():
    a = np.array([0.5, 2.0, 3.0, 10.0], np.float32)
    x = np.array([0.3, 1.0, 4.0, 9.0], np.float32)
    for lib in (tc, torch):
        xs = lib.tensor(x, requires_grad=True)
        out = lib.special.gammainc(lib.tensor(a), xs)
        out.sum().backward()
        if lib is tc:
            got = (out, xs.grad)
        else:
            assert_close(got[0], out.detach(), rtol=1e-6)
            assert_close(got[1], xs.grad, rtol=1e-5)
        with pytest.raises(NotImplementedError, match="derivative for 'igamma: input'"):
            lib.igamma(lib.tensor(a, requires_grad=True), lib.tensor(x)).sum().backward()


def test_gamma_draws_are_fresh_in_compiled_code_and_differentiate_as_eager():
    conc = tc.tensor([0.5, 2.0, 6.0], requires_grad=True)

    def step():
        return (tc.distributions.Gamma(conc, 1.0).rsample((4,)) ** 2).sum()
    compiled = tc.compile(step)
    tc.manual_seed(7)
    eager_loss = step()
    eager_loss.backward()
    eager_grad, conc.grad = conc.grad.clone(), None
    tc.manual_seed(7)
    loss = compiled()
    loss.backward()
    assert_close(loss.detach(), eager_loss.detach(), rtol=1e-5)
    assert_close(conc.grad, eager_grad, rtol=1e-5)
    assert compiled().item() != compiled().item()
