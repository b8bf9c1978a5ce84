"""Every tracecomp.distributions family against torch.distributions 2.13, from one table:
log_prob, entropy, mean, mode, variance, cdf/icdf and their gradients on the same
parameters and values; batch/event shapes, repr, expand; sample shapes, dtypes and support;
and sample moments against the analytic ones over many draws (fixed seeds, tolerances of
six standard errors, so they do not flake)."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

F32 = np.float32
rng = np.random.default_rng(0)
A = rng.uniform(0.5, 3, (2, 3)).astype(F32)
B = rng.uniform(0.5, 3, (2, 3)).astype(F32)
U = rng.uniform(0.1, 0.9, (2, 3)).astype(F32)
LOC = rng.standard_normal((2, 3)).astype(F32)
PROBS = rng.dirichlet(np.ones(4), 3).astype(F32)
COUNTS = np.array([[0, 1, 2], [3, 0, 5]], F32)
_L = np.tril(rng.standard_normal((2, 3, 3))).astype(F32)
_L[:, range(3), range(3)] = np.abs(_L[:, range(3), range(3)]) + 0.5
TRIL = _L
COV = (_L @ _L.transpose(0, 2, 1)).astype(F32)
SIMPLEX = (U / U.sum(-1, keepdims=True)).astype(F32)
TEMP = np.array(0.7, F32)

# (family, parameters, a value in the support); scalars stay Python numbers
CASES = [
    ("MultivariateNormal", {"loc": LOC, "scale_tril": TRIL}, U),
    ("MultivariateNormal", {"loc": LOC, "covariance_matrix": COV}, U),
    ("MultivariateNormal", {"loc": LOC[0], "precision_matrix": COV}, U),
    ("OneHotCategorical", {"probs": PROBS}, np.eye(4, dtype=F32)[[0, 3, 1]]),
    ("OneHotCategoricalStraightThrough", {"logits": np.log(PROBS)},
     np.eye(4, dtype=F32)[[2, 0, 1]]),
    ("Gamma", {"concentration": A, "rate": B}, U * 3),
    ("Chi2", {"df": A}, U * 3),
    ("Exponential", {"rate": A}, U * 3),
    ("Beta", {"concentration1": A, "concentration0": B}, U),
    ("Dirichlet", {"concentration": A}, SIMPLEX),
    ("Dirichlet", {"concentration": A * 0.3}, SIMPLEX),
    ("Laplace", {"loc": LOC, "scale": B}, U * 2 - 1),
    ("Cauchy", {"loc": LOC, "scale": B}, U * 2 - 1),
    ("StudentT", {"df": A * 2, "loc": LOC, "scale": B}, U * 2 - 1),
    ("Poisson", {"rate": A}, COUNTS),
    ("Geometric", {"probs": U}, COUNTS),
    ("Geometric", {"logits": LOC}, COUNTS),
    ("Binomial", {"total_count": 5, "probs": U}, COUNTS),
    ("Binomial", {"total_count": 5, "logits": LOC}, COUNTS),
    ("Multinomial", {"total_count": 6, "probs": PROBS},
     np.array([[0, 1, 2, 3], [3, 0, 2, 1], [6, 0, 0, 0]], F32)),
    ("LogNormal", {"loc": LOC, "scale": B}, U * 3),
    ("HalfNormal", {"scale": B}, U * 3),
    ("Gumbel", {"loc": LOC, "scale": B}, U * 3),
    ("Weibull", {"scale": B, "concentration": A}, U * 3),
    ("Pareto", {"scale": B, "alpha": A}, B + U),
    ("RelaxedBernoulli", {"temperature": TEMP, "probs": U}, U),
    ("RelaxedBernoulli", {"temperature": TEMP, "logits": LOC}, U),
    ("RelaxedOneHotCategorical", {"temperature": TEMP, "probs": PROBS}, PROBS[::-1].copy()),
    ("HalfCauchy", {"scale": B}, U * 3),
    ("InverseGamma", {"concentration": A * 2, "rate": B}, U * 3),
    ("NegativeBinomial", {"total_count": A * 2, "probs": U}, COUNTS),
    ("NegativeBinomial", {"total_count": A * 2, "logits": LOC}, COUNTS),
    ("LowRankMultivariateNormal", {"loc": LOC, "cov_factor": TRIL[..., :2],
                                   "cov_diag": B}, U),
    ("VonMises", {"loc": LOC, "concentration": A * np.array([1, 3, 40], F32)}, U * 6 - 3),
    ("ContinuousBernoulli", {"probs": np.array([[0.2, 0.4995, 0.7], [0.9, 0.05, 0.5003]],
                                               F32)}, U),
    # (logits away from 0: near p = 1/2, outside the Taylor band, torch's formulas cancel
    # to a few digits in float32, and two libms' last bits differ there)
    ("ContinuousBernoulli", {"logits": np.array([[1.2, -2.0, 0.8], [3.0, -0.9, 2.2]], F32)},
     U),
    ("Kumaraswamy", {"concentration1": A * 2, "concentration0": B * 2}, U),
    ("LogisticNormal", {"loc": LOC, "scale": B}, np.concatenate([SIMPLEX * 0.8, 0.2 + 0 * U[:, :1]],
                                                               -1).astype(F32)),
    ("FisherSnedecor", {"df1": A * 3, "df2": B * 4}, U * 3),
    ("GeneralizedPareto", {"loc": LOC, "scale": B,
                           "concentration": np.array([[0.3, -0.2, 0.0], [0.1, 0.6, -0.1]],
                                                     F32)}, LOC + U),
    ("Wishart", {"df": np.array([4.5, 6.0], F32), "covariance_matrix": COV},
     (COV[::-1] + 2 * np.eye(3, dtype=F32)).copy()),
    ("Wishart", {"df": 5.0, "scale_tril": TRIL[0]}, COV[1] + np.eye(3, dtype=F32)),
    ("LKJCholesky", {"dim": 3, "concentration": A[0]}, None),
]
# an LKJCholesky value: the Cholesky factors of correlation matrices
_CORR = np.stack([np.corrcoef(rng.standard_normal((3, 6))) for _ in range(3)])
CASES[-1] = CASES[-1][:2] + (np.linalg.cholesky(_CORR).astype(F32),)
IDS = [f"{f}-{'-'.join(p)}" for f, p, _ in CASES]
PROPERTIES = ("mean", "mode", "variance", "stddev", "scale_tril", "covariance_matrix",
              "precision_matrix")


def _make(lib, family, params, requires_grad=True):
    leaves = {k: lib.tensor(v, requires_grad=requires_grad and k != "temperature")
              if isinstance(v, np.ndarray) else v for k, v in params.items()}
    return getattr(lib.distributions, family)(**leaves), leaves


def _evaluate(lib, family, params, value):
    """Everything a family defines at value, and the gradients of log_prob + entropy."""
    dist, leaves = _make(lib, family, params)
    out = {"log_prob": dist.log_prob(lib.tensor(value))}
    for name in ("entropy", "cdf"):
        try:
            out[name] = dist.entropy() if name == "entropy" else dist.cdf(lib.tensor(value))
        except NotImplementedError:
            pass
    for name in PROPERTIES:
        try:
            out[name] = getattr(dist, name)
        except (NotImplementedError, AttributeError):
            pass
    (out["log_prob"].sum() + out.get("entropy", out["log_prob"]).sum()).backward()
    out.update({f"grad {k}": t.grad for k, t in leaves.items()
                if hasattr(t, "grad") and t.requires_grad})
    return dist, out


@pytest.mark.parametrize("family, params, value", CASES, ids=IDS)
def test_values_and_gradients_match_torch(family, params, value):
    dist, got = _evaluate(tc, family, params, value)
    ref, want = _evaluate(torch, family, params, value)
    assert set(got) == set(want), f"{family}: defines {sorted(got)} | torch {sorted(want)}"
    for key in want:
        assert_close(got[key], want[key].detach(), rtol=2e-5, atol=2e-5, what=key)
    assert tuple(dist.batch_shape) == tuple(ref.batch_shape)
    assert tuple(dist.event_shape) == tuple(ref.event_shape)
    assert repr(dist).replace("tracecomp.", "") == repr(ref).replace("torch.", "")
    assert dist.has_rsample == ref.has_rsample
    assert repr(dist.support) == repr(ref.support)


@pytest.mark.parametrize("family, params, value", CASES, ids=IDS)
def test_samples_have_torchs_shapes_and_lie_in_the_support(family, params, value):
    tc.manual_seed(0)
    dist, _ = _make(tc, family, params)
    ref, _ = _make(torch, family, params)
    for shape in [(), (5,), (2, 4)]:
        s, r = dist.sample(shape), ref.sample(shape)
        assert tuple(s.shape) == tuple(r.shape) and str(s.dtype)[10:] == str(r.dtype)[6:]
        assert not s.requires_grad
        assert bool(dist.support.check(s).all()), f"{family}: a sample outside the support"
        if dist.has_rsample:
            assert dist.rsample(shape).requires_grad


@pytest.mark.parametrize("family, params, value", CASES, ids=IDS)
def test_expand_matches_torch(family, params, value):
    dist, _ = _make(tc, family, params, requires_grad=False)
    ref, _ = _make(torch, family, params, requires_grad=False)
    shape = (4,) + tuple(ref.batch_shape)
    big, ref_big = dist.expand(shape), ref.expand(shape)
    assert tuple(big.batch_shape) == shape and tuple(big.event_shape) == tuple(ref.event_shape)
    assert_close(big.log_prob(tc.tensor(value)), ref_big.log_prob(torch.tensor(value)),
                 rtol=2e-5, atol=2e-5)
    assert tuple(big.sample().shape) == tuple(ref_big.sample().shape)


# (family, parameters, analytic mean, analytic variance) over scalar parameters
MOMENTS = [
    ("Gamma", {"concentration": 2.5, "rate": 1.5}, 2.5 / 1.5, 2.5 / 1.5 ** 2),
    ("Gamma", {"concentration": 0.3, "rate": 1.0}, 0.3, 0.3),
    ("Exponential", {"rate": 2.0}, 0.5, 0.25),
    ("Beta", {"concentration1": 2.0, "concentration0": 3.0}, 0.4, 6 / (25 * 6)),
    ("Laplace", {"loc": 1.0, "scale": 2.0}, 1.0, 8.0),
    ("StudentT", {"df": 6.0, "loc": 1.0, "scale": 2.0}, 1.0, 4 * 6 / 4),
    ("Poisson", {"rate": 3.5}, 3.5, 3.5),
    ("Geometric", {"probs": 0.3}, 0.7 / 0.3, 0.7 / 0.09),
    ("Binomial", {"total_count": 10, "probs": 0.3}, 3.0, 2.1),
    ("LogNormal", {"loc": 0.2, "scale": 0.5}, None, None),
    ("HalfNormal", {"scale": 2.0}, None, None),
    ("Gumbel", {"loc": 1.0, "scale": 2.0}, None, None),
    ("Weibull", {"scale": 2.0, "concentration": 1.5}, None, None),
    ("Pareto", {"scale": 1.0, "alpha": 5.0}, None, None),
    ("Chi2", {"df": 3.0}, 3.0, 6.0),
    ("NegativeBinomial", {"total_count": 3.0, "probs": 0.4}, 2.0, 2.0 / 0.6),
    ("InverseGamma", {"concentration": 6.0, "rate": 2.0}, None, None),
    ("HalfCauchy", {"scale": 1.0}, None, None),
    ("ContinuousBernoulli", {"probs": 0.3}, None, None),
    ("ContinuousBernoulli", {"probs": 0.5}, None, None),
    ("Kumaraswamy", {"concentration1": 2.0, "concentration0": 3.0}, None, None),
    ("FisherSnedecor", {"df1": 5.0, "df2": 12.0}, None, None),
    ("GeneralizedPareto", {"loc": 1.0, "scale": 2.0, "concentration": 0.1}, None, None),
    ("GeneralizedPareto", {"loc": 1.0, "scale": 2.0, "concentration": -0.3}, None, None),
]


@pytest.mark.parametrize("family, params, mean, var", MOMENTS,
                         ids=[f"{m[0]}-{i}" for i, m in enumerate(MOMENTS)])
def test_sample_moments_match_the_analytic_ones(family, params, mean, var):
    """The mean of 40000 draws is within six standard errors of torch's mean (the analytic
    one), and so is the second moment (by the fourth moment's spread)."""
    tensors = {k: torch.tensor(float(v)) if k != "total_count" else v for k, v in params.items()}
    ref = getattr(torch.distributions, family)(**tensors)
    tc.manual_seed(1)
    draws = getattr(tc.distributions, family)(**params).sample((40000,)).numpy().astype(
        np.float64)
    if family == "HalfCauchy":      # no mean: its median is the scale
        assert abs(np.median(draws) - 1.0) < 6 * (np.pi / 2) / np.sqrt(len(draws))
        return
    mean = float(ref.mean) if mean is None else mean
    var = float(ref.variance) if var is None else var
    assert np.isclose(float(ref.mean), mean) and np.isclose(float(ref.variance), var)
    n = len(draws)
    assert abs(draws.mean() - mean) < 6 * np.sqrt(var / n), f"{family}: mean {draws.mean()}"
    centered = (draws - mean) ** 2
    assert abs(centered.mean() - var) < 6 * centered.std() / np.sqrt(n), \
        f"{family}: variance {centered.mean()} | {var}"


def test_multivariate_moments_match_the_analytic_ones():
    tc.manual_seed(2)
    mvn = tc.distributions.MultivariateNormal(tc.tensor(LOC[0]), tc.tensor(COV[0]))
    x = mvn.sample((40000,)).numpy().astype(np.float64)
    se = np.sqrt(np.diag(COV[0]) / len(x))
    assert np.all(np.abs(x.mean(0) - LOC[0]) < 6 * se)
    np.testing.assert_allclose(np.cov(x.T), COV[0], rtol=0.05, atol=0.05 * COV[0].max())
    alpha = np.array([0.5, 2.0, 3.0])
    d = tc.distributions.Dirichlet(tc.tensor(alpha)).sample((40000,)).numpy()
    mean, a0 = alpha / alpha.sum(), alpha.sum()
    se = np.sqrt(mean * (1 - mean) / (a0 + 1) / len(d))
    assert np.all(np.abs(d.mean(0) - mean) < 6 * se)
    counts = tc.distributions.Multinomial(6, tc.tensor(PROBS[0])).sample((40000,)).numpy()
    assert np.all(counts.sum(-1) == 6)
    se = np.sqrt(6 * PROBS[0] * (1 - PROBS[0]) / len(counts))
    assert np.all(np.abs(counts.mean(0) - 6 * PROBS[0]) < 6 * se)
    w = tc.distributions.Wishart(6.0, tc.tensor(COV[0])).sample((40000,)).numpy()
    d = np.diag(COV[0])
    se = np.sqrt(6 * (COV[0] ** 2 + np.outer(d, d)) / len(w))
    assert np.all(np.abs(w.mean(0) - 6 * COV[0]) < 6 * se)
    onehot = tc.distributions.OneHotCategorical(tc.tensor(PROBS[0])).sample((40000,)).numpy()
    assert np.all(onehot.sum(-1) == 1)
    se = np.sqrt(PROBS[0] * (1 - PROBS[0]) / len(onehot))
    assert np.all(np.abs(onehot.mean(0) - PROBS[0]) < 6 * se)


def test_circular_and_correlation_draws_follow_their_laws():
    """VonMises: E[cos(x - loc)] = I1(k)/I0(k) = 1 - the circular variance. LKJCholesky:
    the correlation of a 2x2 draw is uniform on (-1, 1) for concentration 1, and
    Beta(3.5, 3.5) on (-1, 1) (variance 1/8) for a 3x3 draw with concentration 3."""
    tc.manual_seed(6)
    vm = tc.distributions.VonMises(tc.tensor(2.5), tc.tensor(4.0))
    x = vm.sample((40000,)).numpy().astype(np.float64)
    assert np.all((x >= -np.pi) & (x < np.pi))
    c = np.cos(x - 2.5)
    assert abs(c.mean() - (1 - float(vm.variance))) < 6 * c.std() / np.sqrt(len(c))
    for dim, eta, var in [(2, 1.0, 1 / 3), (3, 3.0, 1 / 8)]:
        chol = tc.distributions.LKJCholesky(dim, eta).sample((40000,)).numpy().astype(
            np.float64)
        r = (chol @ chol.transpose(0, 2, 1))[:, 1, 0]
        np.testing.assert_allclose((chol @ chol.transpose(0, 2, 1)).diagonal(0, 1, 2), 1,
                                   atol=1e-5)
        r2 = r ** 2
        assert abs(r.mean()) < 6 * np.sqrt(var / len(r))
        assert abs(r2.mean() - var) < 6 * r2.std() / np.sqrt(len(r))


def test_mixture_same_family_matches_torch():
    """A mixture density network's head: 3 Gaussian components per batch member."""
    logits, locs = rng.standard_normal((2, 3)).astype(F32), LOC.copy()
    x = rng.standard_normal(2).astype(F32)

    def run(lib):
        w = lib.tensor(logits, requires_grad=True)
        mu = lib.tensor(locs, requires_grad=True)
        sd = lib.tensor(B, requires_grad=True)
        mix = lib.distributions.MixtureSameFamily(lib.distributions.Categorical(logits=w),
                                                  lib.distributions.Normal(mu, sd))
        out = [mix.log_prob(lib.tensor(x)), mix.mean, mix.variance, mix.cdf(lib.tensor(x))]
        (-out[0].sum()).backward()
        return mix, out + [w.grad, mu.grad, sd.grad]
    mix, got = run(tc)
    ref, want = run(torch)
    for g, w in zip(got, want):
        assert_close(g, w.detach(), rtol=2e-5, atol=2e-6)
    assert repr(mix).replace("tracecomp.", "") == repr(ref).replace("torch.", "")
    assert tuple(mix.sample((5,)).shape) == (5, 2)
    tc.manual_seed(3)
    one = tc.distributions.MixtureSameFamily(
        tc.distributions.Categorical(tc.tensor([0.3, 0.7])),
        tc.distributions.Normal(tc.tensor([-5.0, 5.0]), tc.tensor([1.0, 1.0])))
    draws = one.sample((20000,)).numpy()
    assert abs((draws > 0).mean() - 0.7) < 6 * np.sqrt(0.21 / 20000)


def test_cdf_and_icdf_match_torch():
    q = tc.tensor(U)
    for family, params in [("Exponential", {"rate": A}), ("Laplace", {"loc": LOC, "scale": B}),
                           ("Cauchy", {"loc": LOC, "scale": B}), ("HalfNormal", {"scale": B}),
                           ("LogNormal", {"loc": LOC, "scale": B}),
                           ("Gumbel", {"loc": LOC, "scale": B}),
                           ("Weibull", {"scale": B, "concentration": A})]:
        dist, _ = _make(tc, family, params, requires_grad=False)
        ref, _ = _make(torch, family, params, requires_grad=False)
        x = dist.icdf(q)
        assert_close(x, ref.icdf(torch.tensor(U)), rtol=1e-4, atol=1e-5, what=family)
        assert_close(dist.cdf(x), ref.cdf(torch.tensor(x.numpy())), rtol=1e-4, atol=1e-5,
                     what=family)


def test_invalid_arguments_are_refused_as_torch():
    def both(build, match, error=ValueError):
        for lib in (tc, torch):
            with pytest.raises(error, match=match):
                build(lib)
    both(lambda lib: lib.distributions.MultivariateNormal(lib.zeros(2)),
         "Exactly one of covariance_matrix or precision_matrix or scale_tril")
    both(lambda lib: lib.distributions.MultivariateNormal(lib.tensor(0.0), lib.eye(2)),
         "loc must be at least one-dimensional")
    both(lambda lib: lib.distributions.MultivariateNormal(
        lib.zeros(2), scale_tril=lib.ones(2, 2), validate_args=True),
        "Expected parameter scale_tril")
    both(lambda lib: lib.distributions.MultivariateNormal(
        lib.zeros(2), lib.tensor([[1.0, 2.0], [2.0, 1.0]]), validate_args=True),
        "Expected parameter covariance_matrix")
    both(lambda lib: lib.distributions.Gamma(lib.ones(2), -lib.ones(2), validate_args=True),
         "Expected parameter rate")
    both(lambda lib: lib.distributions.Dirichlet(lib.tensor(1.0)),
         "`concentration` parameter must be at least one-dimensional")
    both(lambda lib: lib.distributions.Beta(lib.ones(2), lib.ones(2), validate_args=True)
         .log_prob(lib.tensor([0.5, 1.5])), "within the support")
    both(lambda lib: lib.distributions.Poisson(lib.ones(2), validate_args=True)
         .log_prob(lib.tensor([0.5, 1.0])), "within the support")
    both(lambda lib: lib.distributions.Geometric(lib.tensor([0.0, 0.5]), validate_args=True),
         "to be positive")
    both(lambda lib: lib.distributions.Multinomial(lib.tensor(2.0), lib.ones(3)),
         "inhomogeneous total_count", NotImplementedError)
    both(lambda lib: lib.distributions.Binomial(lib.tensor([2.0, 3.0]), lib.ones(2) / 2)
         .entropy(), "Inhomogeneous total count", NotImplementedError)
    both(lambda lib: lib.distributions.MixtureSameFamily(
        lib.distributions.Categorical(lib.ones(3)),
        lib.distributions.Normal(lib.zeros(2), lib.ones(2))), "does not equal")
    both(lambda lib: lib.distributions.TransformedDistribution(
        lib.distributions.Normal(0.0, 1.0), "exp"), "transforms must be a Transform or list")


@pytest.mark.parametrize("family, params, value", CASES, ids=IDS)
def test_log_prob_and_entropy_compile_whole_to_eagers_numbers(family, params, value):
    """Built, evaluated and validated inside one compiled graph (fullgraph: no break)."""
    names = [k for k, v in params.items() if isinstance(v, np.ndarray)]

    def score(*tensors):
        kwargs = {k: v for k, v in params.items() if k not in names}
        dist = getattr(tc.distributions, family)(**dict(zip(names, tensors)), **kwargs)
        out = dist.log_prob(tc.tensor(value)).sum()
        try:
            return out + dist.entropy().sum()
        except NotImplementedError:
            return out
    args = [tc.tensor(params[k]) for k in names]
    assert_close(tc.compile(score, fullgraph=True)(*args), score(*args), rtol=1e-5, atol=1e-5)


def test_binomial_draws_follow_torchs_edge_rules():
    """torch.binomial: 0 for count <= 0 or prob <= 0, the count itself (fractional too) for
    prob >= 1; a fractional count below 1 keeps all of itself above prob 1/2, none below."""
    count = [-1.0, 0.0, 2.0, 2.5, 0.7, 3.0, 2.9, 0.6, 0.6]
    prob = [1.5, 1.0, 0.0, 1.5, 1.0, -0.2, 1.0, 0.7, 0.3]
    assert_close(tc.binomial(tc.tensor(count), tc.tensor(prob)),
                 torch.binomial(torch.tensor(count), torch.tensor(prob)))
    tc.manual_seed(0)
    draws = tc.binomial(tc.full((40000,), 4.7), tc.full((40000,), 0.25)).numpy()
    assert set(np.unique(draws)) <= {0.0, 1.0, 2.0, 3.0, 4.0}
    assert abs(draws.mean() - 1.0) < 6 * np.sqrt(0.75 / 40000)
    draws = tc.binomial(tc.full((40000,), 2.7), tc.full((40000,), 0.9)).numpy()
    np.testing.assert_allclose(np.unique(draws), [0.7, 1.7, 2.7], rtol=1e-6)
    assert abs(draws.mean() - (2.7 - 0.2)) < 6 * np.sqrt(0.18 / 40000)
