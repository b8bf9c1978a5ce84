"""tracecomp.distributions against torch.distributions 2.13: log_prob, entropy, moments,
cdf/icdf and kl_divergence with their gradients on the same parameters; sample shapes and
frequencies; argument validation; and a REINFORCE step (pytorch/examples' reinforce.py, which
stopped on `from torch.distributions import Categorical`) eager and compiled."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

rng = np.random.default_rng(0)
PROBS = rng.dirichlet(np.ones(4), size=3).astype(np.float32)
LOGITS = rng.standard_normal((3, 4)).astype(np.float32)
LOC = rng.standard_normal((2, 3)).astype(np.float32)
SCALE = rng.uniform(0.5, 2.0, (2, 3)).astype(np.float32)
VALUES = rng.standard_normal((2, 3)).astype(np.float32)


def _dist(lib, family, params):
    """The family over fresh leaves of `params` (name -> array) in lib; returns it and them."""
    leaves = {k: lib.tensor(v, requires_grad=v.dtype.kind == "f") for k, v in params.items()}
    return getattr(lib.distributions, family)(**leaves), leaves


CASES = [
    ("Categorical", {"probs": PROBS}, np.array([0, 3, 1])),
    ("Categorical", {"logits": LOGITS}, np.array([2, 2, 0])),
    ("Bernoulli", {"probs": PROBS[:2, :3]}, np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]],
                                                      np.float32)),
    ("Bernoulli", {"logits": LOGITS[:2, :3]}, np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]],
                                                        np.float32)),
    ("Normal", {"loc": LOC, "scale": SCALE}, VALUES),
    ("Uniform", {"low": LOC - 2, "high": LOC + 2}, LOC + SCALE),
]
IDS = [f"{family}-{'-'.join(params)}" for family, params, _ in CASES]


@pytest.mark.parametrize("family, params, value", CASES, ids=IDS)
def test_log_prob_entropy_and_moments_match_torch_with_gradients(family, params, value):
    def run(lib):
        dist, leaves = _dist(lib, family, params)
        v = lib.tensor(value)
        out = {"log_prob": dist.log_prob(v), "entropy": dist.entropy(), "mean": dist.mean,
               "variance": dist.variance}
        (out["log_prob"].sum() + out["entropy"].sum()).backward()
        out.update({f"grad {k}": t.grad for k, t in leaves.items()})
        return dist, out
    dist, got = run(tc)
    ref, want = run(torch)
    assert tuple(dist.batch_shape) == tuple(ref.batch_shape)
    assert tuple(dist.event_shape) == tuple(ref.event_shape)
    for key in want:
        if family == "Categorical" and key in ("mean", "variance"):    # NaN by definition
            assert np.isnan(got[key].numpy()).all() and got[key].shape == want[key].shape
            continue
        assert_close(got[key], want[key].detach(), rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("family, params, value", CASES, ids=IDS)
def test_samples_have_torchs_shapes_and_lie_in_the_support(family, params, value):
    dist, _ = _dist(tc, family, params)
    ref, _ = _dist(torch, family, params)
    for shape in [(), (5,), (2, 3)]:
        s, r = dist.sample(shape), ref.sample(shape)
        assert tuple(s.shape) == tuple(r.shape) and s.dtype.name == str(r.dtype)[6:]
        assert not s.requires_grad
        assert bool(dist.support.check(s).all()) if family != "Uniform" else \
            bool(((s >= dist.low) & (s < dist.high)).all())


def test_sample_frequencies_follow_the_probabilities():
    probs = np.array([0.1, 0.2, 0.7], np.float32)
    draws = tc.distributions.Categorical(tc.tensor(probs)).sample((20000,)).numpy()
    np.testing.assert_allclose(np.bincount(draws, minlength=3) / 20000, probs, atol=0.015)
    ones = tc.distributions.Bernoulli(tc.tensor(0.3)).sample((20000,)).numpy()
    assert abs(ones.mean() - 0.3) < 0.015
    normal = tc.distributions.Normal(tc.tensor(2.0), tc.tensor(3.0)).sample((20000,)).numpy()
    assert abs(normal.mean() - 2.0) < 0.1 and abs(normal.std() - 3.0) < 0.1


def test_rsample_carries_gradients_to_the_parameters():
    loc = tc.tensor(LOC, requires_grad=True)
    scale = tc.tensor(SCALE, requires_grad=True)
    tc.manual_seed(0)
    draws = tc.distributions.Normal(loc, scale).rsample((4,))
    draws.sum().backward()
    np.testing.assert_allclose(loc.grad.numpy(), np.full(LOC.shape, 4.0))
    eps = (draws.detach().numpy() - LOC) / SCALE       # d(loc + eps scale)/d scale = eps
    np.testing.assert_allclose(scale.grad.numpy(), eps.sum(0), rtol=1e-5, atol=1e-5)


def test_cdf_icdf_and_independent_match_torch():
    for lib in (tc, torch):
        lib.manual_seed(0)
    normal = tc.distributions.Normal(tc.tensor(LOC), tc.tensor(SCALE))
    ref = torch.distributions.Normal(torch.tensor(LOC), torch.tensor(SCALE))
    assert_close(normal.cdf(tc.tensor(VALUES)), ref.cdf(torch.tensor(VALUES)), atol=1e-6)
    q = np.array([[0.1, 0.5, 0.9]] * 2, np.float32)
    assert_close(normal.icdf(tc.tensor(q)), ref.icdf(torch.tensor(q)), rtol=1e-5, atol=1e-5)
    ind = tc.distributions.Independent(normal, 1)
    ref_ind = torch.distributions.Independent(ref, 1)
    assert tuple(ind.batch_shape) == (2,) and tuple(ind.event_shape) == (3,)
    assert_close(ind.log_prob(tc.tensor(VALUES)), ref_ind.log_prob(torch.tensor(VALUES)))
    assert_close(ind.entropy(), ref_ind.entropy())


@pytest.mark.parametrize("family, p, q", [
    ("Normal", {"loc": LOC, "scale": SCALE}, {"loc": LOC[::-1].copy(), "scale": SCALE * 2}),
    ("Categorical", {"probs": PROBS}, {"logits": LOGITS}),
    ("Bernoulli", {"probs": PROBS[:2, :3]}, {"logits": LOGITS[:2, :3]}),
    ("Uniform", {"low": LOC - 1, "high": LOC + 1}, {"low": LOC - 2, "high": LOC + 3}),
], ids=["Normal", "Categorical", "Bernoulli", "Uniform"])
def test_kl_divergence_matches_torch_with_gradients(family, p, q):
    def run(lib):
        dp, leaves = _dist(lib, family, p)
        dq, _ = _dist(lib, family, q)
        kl = lib.distributions.kl_divergence(dp, dq)
        kl.sum().backward()
        return [kl.detach()] + [t.grad for t in leaves.values()]
    for got, want in zip(run(tc), run(torch)):
        assert_close(got, want, rtol=2e-5, atol=2e-6)


def test_invalid_arguments_and_values_are_refused_as_torch():
    for lib in (tc, torch):     # (validate_args=True: the default is a global setting)
        with pytest.raises(ValueError, match="Expected parameter scale"):
            lib.distributions.Normal(lib.zeros(2), -lib.ones(2), validate_args=True)
        with pytest.raises(ValueError, match="Either `probs` or `logits`"):
            lib.distributions.Categorical()
        with pytest.raises(ValueError, match="within the support"):
            lib.distributions.Categorical(lib.ones(3), validate_args=True).log_prob(
                lib.tensor(5))
        assert lib.distributions.Normal(lib.zeros(2), -lib.ones(2),
                                        validate_args=False).batch_shape == (2,)
    for lib in (tc, torch):     # no pair at all; two exponential families, but different
        with pytest.raises(NotImplementedError, match=r"No KL\(p \|\| q\) is implemented for "
                           r"p type Normal and q type Categorical"):
            lib.distributions.kl_divergence(lib.distributions.Normal(0.0, 1.0),
                                            lib.distributions.Categorical(lib.ones(2)))
        with pytest.raises(NotImplementedError, match="cross KL-divergence between different "
                           "exponential families cannot"):
            lib.distributions.kl_divergence(lib.distributions.Normal(0.0, 1.0),
                                            lib.distributions.Bernoulli(0.5))


class _Policy(tc.nn.Module):
    def __init__(self):
        super().__init__()
        self.affine = tc.nn.Linear(4, 3)

    def forward(self, x):
        return self.affine(x).softmax(-1)


def test_reinforce_step_eager_and_compiled():
    """reinforce.py's update: -log_prob(action) * return, summed; the compiled step draws its
    actions afresh on every call and trains as the eager one does on the same actions."""
    states = tc.tensor(rng.standard_normal((6, 4)).astype(np.float32))
    returns = tc.tensor(rng.standard_normal(6).astype(np.float32))
    actions = tc.tensor([0, 2, 1, 1, 0, 2])

    def loss_of(policy):
        dist = tc.distributions.Categorical(policy(states))
        return (-dist.log_prob(actions) * returns).sum()

    eager, compiled = _Policy(), _Policy()
    compiled.load_state_dict(eager.state_dict())
    loss_of(eager).backward()
    tc.compile(lambda: loss_of(compiled))().backward()
    assert_close(compiled.affine.weight.grad, eager.affine.weight.grad, rtol=1e-5, atol=1e-6)

    sample = tc.compile(lambda x: tc.distributions.Categorical(eager(x)).sample())
    draws = {tuple(sample(states).tolist()) for _ in range(5)}
    assert len(draws) > 1, "the compiled sample was fixed at trace time"
