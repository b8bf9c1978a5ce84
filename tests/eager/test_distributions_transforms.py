"""tracecomp.distributions.transforms, biject_to/transform_to and TransformedDistribution
against torch 2.13: each transform's forward, inverse, log |det J| (with gradients),
shapes, sign, domain/codomain and repr; a SAC-style tanh-squashed Gaussian whose cached
transform gives log_prob at the saturated actions; and the KL pairs torch registers for the
families here, with their gradients."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

F32 = np.float32
rng = np.random.default_rng(0)
X = rng.standard_normal((2, 3)).astype(F32)
POS = rng.uniform(0.5, 2.0, (2, 3)).astype(F32)
MAT = rng.standard_normal((2, 3, 3)).astype(F32)


def _transform(lib, name):
    """The transform called `name` in lib, with torch-equal parameters."""
    T = lib.distributions.transforms     # noqa: N806 - torch's module
    loc, scale = lib.tensor(X[0]), lib.tensor(POS[0])
    table = {
        "Exp": lambda: T.ExpTransform(),
        "Affine": lambda: T.AffineTransform(loc, scale),
        "Affine-number": lambda: T.AffineTransform(1.0, -2.0),
        "Affine-event": lambda: T.AffineTransform(loc, scale, event_dim=1),
        "Tanh": lambda: T.TanhTransform(),
        "Sigmoid": lambda: T.SigmoidTransform(),
        "Softplus": lambda: T.SoftplusTransform(),
        "Power": lambda: T.PowerTransform(lib.tensor(1.7)),
        "StickBreaking": lambda: T.StickBreakingTransform(),
        "Compose": lambda: T.ComposeTransform([T.AffineTransform(0.5, 2.0), T.ExpTransform()]),
        "Independent": lambda: T.IndependentTransform(T.SigmoidTransform(), 1),
        "Reshape": lambda: T.ReshapeTransform((3,), (3, 1)),
        "Exp-inv": lambda: T.ExpTransform().inv,
        "Cat": lambda: T.CatTransform([T.ExpTransform(), T.TanhTransform()], dim=-1,
                                      lengths=[1, 2]),
        "Stack": lambda: T.StackTransform([T.ExpTransform(), T.SigmoidTransform()], dim=0),
        "CorrCholesky": lambda: T.CorrCholeskyTransform(),
    }
    return table[name]()


BIJECTIONS = ["Exp", "Affine", "Affine-number", "Affine-event", "Tanh", "Sigmoid",
              "Softplus", "Power", "StickBreaking", "Compose", "Independent", "Reshape",
              "Exp-inv", "Cat", "Stack", "CorrCholesky"]


def _input(name):
    return POS if name in ("Power", "Exp-inv") else X


@pytest.mark.parametrize("name", BIJECTIONS)
def test_bijections_match_torch(name):
    def run(lib):
        t = _transform(lib, name)
        x = lib.tensor(_input(name), requires_grad=True)
        y = t(x)
        back = t.inv(y.detach())
        ladj = t.log_abs_det_jacobian(x, y)
        (y.sum() + ladj.sum()).backward()
        return t, [y, back, ladj, x.grad]
    t, got = run(tc)
    ref, want = run(torch)
    for g, w, what in zip(got, want, ["forward", "inverse", "log_abs_det_jacobian", "grad"]):
        assert_close(g, w.detach(), rtol=1e-5, atol=1e-5, what=f"{name} {what}")
    assert t.bijective == ref.bijective
    assert repr(t.domain) == repr(ref.domain) and repr(t.codomain) == repr(ref.codomain)
    assert repr(t) == repr(ref)
    shape = torch.Size(_input(name).shape)
    assert tuple(t.forward_shape(shape)) == tuple(ref.forward_shape(shape))
    assert tuple(t.inverse_shape(ref.forward_shape(shape))) == tuple(shape)


def test_non_bijective_transforms_match_torch():
    for lib in (tc, torch):
        T = lib.distributions.transforms     # noqa: N806
        x = lib.tensor(X)
        out = [T.AbsTransform()(x), T.SoftmaxTransform()(x), T.SoftmaxTransform().inv(
            T.SoftmaxTransform()(x)), T.LowerCholeskyTransform()(lib.tensor(MAT)),
            T.LowerCholeskyTransform().inv(T.LowerCholeskyTransform()(lib.tensor(MAT))),
            T.PositiveDefiniteTransform()(lib.tensor(MAT)),
            T.PositiveDefiniteTransform().inv(T.PositiveDefiniteTransform()(lib.tensor(MAT)))]
        if lib is tc:
            got = out
    for g, w in zip(got, out):
        assert_close(g, w, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("constraint", ["real", "positive", "nonnegative", "unit_interval",
                                        "simplex", "real_vector", "greater_than(1.5)",
                                        "less_than(-1.0)", "interval(-1.0, 2.0)",
                                        "half_open_interval(0.0, 3.0)", "lower_cholesky",
                                        "corr_cholesky", "positive_definite"])
def test_biject_to_and_transform_to_give_torchs_transforms(constraint):
    def build(lib):
        return eval(f"lib.distributions.constraints.{constraint}", {"lib": lib})
    for registry in ("biject_to", "transform_to"):
        if registry == "biject_to" and constraint in ("lower_cholesky", "positive_definite"):
            with pytest.raises(NotImplementedError, match="Cannot transform"):
                tc.distributions.biject_to(build(tc))
            continue
        t = getattr(tc.distributions, registry)(build(tc))
        ref = getattr(torch.distributions, registry)(build(torch))
        assert repr(t) == repr(ref)
        x = MAT if constraint in ("lower_cholesky", "positive_definite") else X
        y = t(tc.tensor(x))
        assert_close(y, ref(torch.tensor(x)), rtol=1e-5, atol=1e-6)
        assert bool(build(tc).check(y).all())


def test_transformed_distribution_matches_torch():
    """A flow's density: Normal through Affine, Tanh and an event-summing Independent."""
    def run(lib):
        T, D = lib.distributions.transforms, lib.distributions     # noqa: N806
        loc = lib.tensor(X, requires_grad=True)
        scale = lib.tensor(POS, requires_grad=True)
        dist = D.TransformedDistribution(
            D.Normal(loc, scale),
            [T.AffineTransform(0.5, 2.0), T.IndependentTransform(T.TanhTransform(), 1)])
        value = lib.tensor(np.tanh(X * 0.7), dtype=lib.float32)
        lp = dist.log_prob(value)
        lp.sum().backward()
        return dist, [lp, loc.grad, scale.grad]
    dist, got = run(tc)
    ref, want = run(torch)
    for g, w in zip(got, want):
        assert_close(g, w.detach(), rtol=1e-5, atol=1e-5)
    assert tuple(dist.batch_shape) == tuple(ref.batch_shape) == (2,)
    assert tuple(dist.event_shape) == tuple(ref.event_shape) == (3,)
    assert repr(dist.support) == repr(ref.support)
    assert tuple(dist.rsample((4,)).shape) == (4, 2, 3)


def test_sac_tanh_policy_takes_log_prob_of_saturated_actions():
    """SAC: a = tanh(u), u ~ Normal, log_prob(a) through TanhTransform(cache_size=1) uses
    the cached u, so an action that rounds to +-1 still has a finite log_prob."""
    def run(lib):
        T, D = lib.distributions.transforms, lib.distributions     # noqa: N806
        mu = lib.tensor([[12.0, -0.3, 15.0]], requires_grad=True)
        dist = D.TransformedDistribution(D.Normal(mu, lib.ones(1, 3)),
                                         [T.TanhTransform(cache_size=1)])
        u = lib.tensor([[12.5, 0.2, 14.0]])
        action = dist.transforms[0](u)
        lp = dist.log_prob(action)
        lp.sum().backward()
        return action, lp, mu.grad
    got, want = run(tc), run(torch)
    assert float(got[0][0, 0]) == 1.0 and np.isfinite(got[1].detach().numpy()).all()
    for g, w in zip(got, want):
        assert_close(g, w.detach(), rtol=1e-5, atol=1e-5)


def test_transformed_cdf_icdf_follow_the_transforms_sign():
    for lib in (tc, torch):
        D, T = lib.distributions, lib.distributions.transforms     # noqa: N806
        dist = D.TransformedDistribution(D.Normal(lib.tensor(0.3), lib.tensor(1.2)),
                                         [T.AffineTransform(1.0, -2.0), T.ExpTransform()])
        out = [dist.cdf(lib.tensor([0.5, 2.0, 4.0])), dist.icdf(lib.tensor([0.1, 0.5, 0.9]))]
        if lib is tc:
            got = out
    for g, w in zip(got, out):
        assert_close(g, w, rtol=1e-5, atol=1e-6)


A = rng.uniform(0.5, 3, (2, 3)).astype(F32)
B = rng.uniform(0.5, 3, (2, 3)).astype(F32)
U = rng.uniform(0.1, 0.9, (2, 3)).astype(F32)
_L = np.tril(rng.standard_normal((2, 3, 3))).astype(F32)
_L[:, range(3), range(3)] = np.abs(_L[:, range(3), range(3)]) + 0.5
PROBS = rng.dirichlet(np.ones(4), 3).astype(F32)

KL_PAIRS = [
    ("MultivariateNormal", {"loc": X, "scale_tril": _L},
     "MultivariateNormal", {"loc": X[::-1].copy(), "covariance_matrix":
                            (_L @ _L.transpose(0, 2, 1))[::-1].copy() + np.eye(3, dtype=F32)}),
    ("OneHotCategorical", {"probs": PROBS}, "OneHotCategorical", {"probs": PROBS[::-1].copy()}),
    ("Beta", {"concentration1": A, "concentration0": B},
     "Beta", {"concentration1": B, "concentration0": A}),
    ("Gamma", {"concentration": A, "rate": B}, "Gamma", {"concentration": B, "rate": A}),
    ("Dirichlet", {"concentration": A}, "Dirichlet", {"concentration": B}),
    ("Exponential", {"rate": A}, "Exponential", {"rate": B}),
    ("Exponential", {"rate": A}, "Gamma", {"concentration": B, "rate": A}),
    ("Gamma", {"concentration": A, "rate": B}, "Exponential", {"rate": A}),
    ("Laplace", {"loc": X, "scale": A}, "Laplace", {"loc": -X, "scale": B}),
    ("Normal", {"loc": X, "scale": A}, "Laplace", {"loc": -X, "scale": B}),
    ("Cauchy", {"loc": X, "scale": A}, "Cauchy", {"loc": -X, "scale": B}),
    ("Gumbel", {"loc": X, "scale": A}, "Gumbel", {"loc": -X, "scale": B}),
    ("HalfNormal", {"scale": A}, "HalfNormal", {"scale": B}),
    ("Pareto", {"scale": A, "alpha": B}, "Pareto", {"scale": A * 0.5, "alpha": A}),
    ("Poisson", {"rate": A}, "Poisson", {"rate": B}),
    ("Geometric", {"probs": U}, "Geometric", {"probs": U[::-1].copy()}),
    ("Binomial", {"total_count": 5, "probs": U}, "Binomial", {"total_count": 5, "logits": X}),
    ("LogNormal", {"loc": X, "scale": A}, "LogNormal", {"loc": -X, "scale": B}),
    ("Chi2", {"df": A}, "Chi2", {"df": B}),
    ("LowRankMultivariateNormal", {"loc": X, "cov_factor": _L[..., :2], "cov_diag": A},
     "LowRankMultivariateNormal", {"loc": -X, "cov_factor": _L[::-1, :, 1:].copy(),
                                   "cov_diag": B}),
    ("LowRankMultivariateNormal", {"loc": X, "cov_factor": _L[..., :2], "cov_diag": A},
     "MultivariateNormal", {"loc": -X, "scale_tril": _L[::-1].copy()}),
    ("MultivariateNormal", {"loc": X, "scale_tril": _L},
     "LowRankMultivariateNormal", {"loc": -X, "cov_factor": _L[::-1, :, 1:].copy(),
                                   "cov_diag": B}),
]


@pytest.mark.parametrize("p_family, p, q_family, q", KL_PAIRS,
                         ids=[f"{a}-{c}" for a, _, c, _ in KL_PAIRS])
def test_kl_divergence_matches_torch_with_gradients(p_family, p, q_family, q):
    def run(lib):
        leaves = {k: lib.tensor(v, requires_grad=True) if isinstance(v, np.ndarray) else v
                  for k, v in p.items()}
        dp = getattr(lib.distributions, p_family)(**leaves)
        dq = getattr(lib.distributions, q_family)(
            **{k: lib.tensor(v) if isinstance(v, np.ndarray) else v for k, v in q.items()})
        kl = lib.distributions.kl_divergence(dp, dq)
        kl.sum().backward()
        return [kl.detach()] + [t.grad for t in leaves.values() if hasattr(t, "grad")]
    for got, want in zip(run(tc), run(torch)):
        assert_close(got, want, rtol=5e-5, atol=5e-5)


def test_kl_refusals_match_torch():
    for lib in (tc, torch):
        D = lib.distributions     # noqa: N806
        with pytest.raises(ValueError, match="different event shapes"):
            D.kl_divergence(D.MultivariateNormal(lib.zeros(2), lib.eye(2)),
                            D.MultivariateNormal(lib.zeros(3), lib.eye(3)))
        with pytest.raises(NotImplementedError, match="q.total_count > p.total_count"):
            D.kl_divergence(D.Binomial(2, lib.tensor([0.5])), D.Binomial(3, lib.tensor([0.5])))


def test_torchs_module_names_and_utils_are_there():
    from tracecomp.distributions.beta import Beta
    from tracecomp.distributions.studentT import StudentT
    from tracecomp.distributions.utils import tril_matrix_to_vec, vec_to_tril_matrix
    assert Beta is tc.distributions.Beta and StudentT is tc.distributions.StudentT
    for diag in (0, -1):
        v = np.arange(6 if diag == 0 else 3, dtype=F32)[None]
        got = vec_to_tril_matrix(tc.tensor(v), diag)
        want = torch.distributions.utils.vec_to_tril_matrix(torch.tensor(v), diag)
        assert_close(got, want)
        assert_close(tril_matrix_to_vec(got, diag), torch.tensor(v))
    for lib, fn in ((tc, vec_to_tril_matrix),
                    (torch, torch.distributions.utils.vec_to_tril_matrix)):
        with pytest.raises(ValueError, match="size of last dimension is 5 which cannot"):
            fn(lib.zeros(1, 5))


EXP_FAMILIES = [("Normal", {"loc": X, "scale": A}), ("Bernoulli", {"probs": U}),
                ("Gamma", {"concentration": A, "rate": B}), ("Exponential", {"rate": A}),
                ("Beta", {"concentration1": A, "concentration0": B}),
                ("Dirichlet", {"concentration": A}), ("Poisson", {"rate": A}),
                ("ContinuousBernoulli", {"probs": U})]


@pytest.mark.parametrize("family, params", EXP_FAMILIES, ids=[f for f, _ in EXP_FAMILIES])
def test_exponential_family_entropy_and_bregman_kl_match_torch(family, params):
    """The generic ExponentialFamily.entropy and Bregman KL (torch's fallbacks, which a
    user's subclass gets) from each family's natural parameters and log normalizer. Both
    take p's natural parameters detached (torch's do): no gradient reaches p's leaves."""
    def run(lib):
        leaves = {k: lib.tensor(v, requires_grad=True) for k, v in params.items()}
        p = getattr(lib.distributions, family)(**leaves)
        q = getattr(lib.distributions, family)(**{k: lib.tensor(v[::-1].copy())
                                                  for k, v in params.items()})
        assert isinstance(p, lib.distributions.ExponentialFamily)
        kl = (lib.distributions.kl.bregman_kl(p, q) if lib is tc else
              lib.distributions.kl._kl_expfamily_expfamily(p, q)).detach()
        if family in ("Beta", "Dirichlet", "Poisson"):    # no carrier measure given
            return [kl]
        entropy = lib.distributions.ExponentialFamily.entropy(p)
        assert not entropy.requires_grad or entropy.sum().backward() is None
        assert all(t.grad is None for t in leaves.values())
        return [kl, entropy.detach()]
    for got, want in zip(run(tc), run(torch), strict=True):
        assert_close(got, want, rtol=5e-5, atol=5e-5)


# one parameter set per family, valid for every pair below (Uniform inside (0, 1) and
# above 0, Pareto with alpha > 2), so most pairs are finite and the infinite ones are so
# because the supports differ
FAMILY_PARAMS = {
    "Normal": {"loc": X, "scale": A}, "Laplace": {"loc": -X, "scale": B},
    "Gumbel": {"loc": X * 0.5, "scale": B}, "Cauchy": {"loc": X, "scale": B},
    "Exponential": {"rate": A}, "Gamma": {"concentration": B, "rate": A},
    "Beta": {"concentration1": A, "concentration0": B},
    "ContinuousBernoulli": {"probs": U}, "Bernoulli": {"probs": U},
    "Poisson": {"rate": B}, "Pareto": {"scale": A, "alpha": B + 2},
    "Uniform": {"low": U * 0.5, "high": U * 0.5 + 0.3},
    "HalfNormal": {"scale": B}, "Geometric": {"probs": U},
}


def _torch_pairs():
    from torch.distributions.kl import _KL_REGISTRY
    return sorted((p.__name__, q.__name__) for p, q in _KL_REGISTRY
                  if p.__name__ in FAMILY_PARAMS and q.__name__ in FAMILY_PARAMS)


@pytest.mark.parametrize("p_family, q_family", _torch_pairs(),
                         ids=[f"{p}-{q}" for p, q in _torch_pairs()])
def test_every_registered_pair_matches_torch(p_family, q_family):
    """Every pair torch registers among these families, the cross-family ones included:
    the same closed form (or the same infinity), with the same gradients."""
    def run(lib):
        leaves = {k: lib.tensor(v, requires_grad=True)
                  for k, v in FAMILY_PARAMS[p_family].items()}
        p = getattr(lib.distributions, p_family)(**leaves)
        q_params = FAMILY_PARAMS[q_family]
        if q_family == p_family:        # a different member of the family
            q_params = {k: v[::-1].copy() for k, v in q_params.items()}
        q = getattr(lib.distributions, q_family)(**{k: lib.tensor(v)
                                                    for k, v in q_params.items()})
        kl = lib.distributions.kl_divergence(p, q)
        finite = kl.detach().isfinite()
        if bool(finite.any()):
            kl.masked_fill(~finite, 0.0).sum().backward()
        return [kl.detach()] + [t.grad for t in leaves.values()]
    for got, want in zip(run(tc), run(torch), strict=True):
        assert (got is None) == (want is None)
        if want is not None:
            assert_close(got, want, rtol=1e-4, atol=1e-4)
