"""Training steps that stop at torch.distributions without it: a PPO clipped-surrogate
update of a Gaussian policy (MultivariateNormal, and Normal + Independent), and a VAE whose
posterior is a TransformedDistribution (a tanh flow). Each runs eagerly and under
tracecomp.compile and matches torch on the same actions / noise, over several Adam steps;
draws inside compiled code are fresh on every call and, from one seed, the eager ones."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

rng = np.random.default_rng(0)
OBS = rng.standard_normal((8, 4)).astype(np.float32)
ACTIONS = rng.standard_normal((8, 2)).astype(np.float32)
ADV = rng.standard_normal(8).astype(np.float32)
OLD_LOGP = (rng.standard_normal(8) - 2.5).astype(np.float32)
W0 = (rng.standard_normal((2, 4)) * 0.3).astype(np.float32)


def _policy(lib, kind):
    """A linear Gaussian policy: mean from the observation, a learned log std."""
    net = lib.nn.Linear(4, 2)
    with lib.no_grad():
        net.weight.copy_(lib.tensor(W0))
        net.bias.zero_()
    log_std = lib.nn.Parameter(lib.tensor([-0.5, 0.2]))
    D = lib.distributions     # noqa: N806

    def dist(obs):
        mean, std = net(obs), log_std.exp()
        if kind == "mvn":
            return D.MultivariateNormal(mean, scale_tril=lib.diag_embed(std))
        return D.Independent(D.Normal(mean, std), 1)
    return [*net.parameters(), log_std], dist


def _ppo_loss(lib, dist, obs, actions, adv, old_logp):
    d = dist(obs)
    ratio = (d.log_prob(actions) - old_logp).exp()
    surrogate = lib.min(ratio * adv, ratio.clamp(0.8, 1.2) * adv)
    return -surrogate.mean() - 0.01 * d.entropy().mean()


def _train(lib, kind, compiled, steps=3):
    params, dist = _policy(lib, kind)
    opt = lib.optim.Adam(params, lr=0.05)
    data = [lib.tensor(a) for a in (OBS, ACTIONS, ADV, OLD_LOGP)]

    def loss_fn(*args):
        return _ppo_loss(lib, dist, *args)
    run = lib.compile(loss_fn) if compiled else loss_fn
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = run(*data)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    return losses, [p.detach() for p in params]


@pytest.mark.parametrize("kind", ["mvn", "independent-normal"])
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_ppo_update_matches_torch(kind, compiled):
    got_losses, got_params = _train(tc, kind, compiled)
    want_losses, want_params = _train(torch, kind, False)
    for g, w in zip(got_losses + got_params, want_losses + want_params):
        assert_close(g, w, rtol=2e-5, atol=2e-6)


def test_policy_draws_in_compiled_code_are_fresh_and_the_eager_ones():
    _, dist = _policy(tc, "mvn")
    obs = tc.tensor(OBS)
    act = tc.compile(lambda o: dist(o).sample())
    tc.manual_seed(5)
    eager = dist(obs).sample()
    tc.manual_seed(5)
    first = act(obs)
    assert_close(first, eager)
    assert not np.array_equal(act(obs).numpy(), first.numpy())


class _VAE:
    """x -> (mu, log_var) -> z = tanh(mu + std * eps) -> x_hat; the posterior is
    TransformedDistribution(Normal(mu, std), tanh) and the prior Uniform(-1, 1)^k, so the
    KL term is a one-draw Monte Carlo estimate with the flow's log |det J|."""

    def __init__(self, lib):
        g = np.random.default_rng(1)
        self.lib = lib
        self.enc = lib.nn.Linear(6, 4)
        self.dec = lib.nn.Linear(2, 6)
        with lib.no_grad():
            for layer in (self.enc, self.dec):
                layer.weight.copy_(lib.tensor(
                    (g.standard_normal(tuple(layer.weight.shape)) * 0.4).astype(np.float32)))
                layer.bias.zero_()

    def parameters(self):
        return [*self.enc.parameters(), *self.dec.parameters()]

    def loss(self, x, eps):
        lib, D = self.lib, self.lib.distributions     # noqa: N806
        mu, log_var = self.enc(x).chunk(2, -1)
        std = (0.5 * log_var).exp()
        flow = D.transforms.TanhTransform(cache_size=1)
        posterior = D.Independent(D.TransformedDistribution(D.Normal(mu, std), [flow]), 1)
        z = flow(mu + std * eps)
        prior = D.Independent(D.Uniform(-lib.ones(2), lib.ones(2)), 1)
        kl = posterior.log_prob(z) - prior.log_prob(z)
        recon = D.Independent(D.Normal(self.dec(z), 1.0), 1).log_prob(x)
        return (kl - recon).mean()


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_vae_with_a_transformed_posterior_matches_torch(compiled):
    x = rng.standard_normal((5, 6)).astype(np.float32)
    eps = [rng.standard_normal((5, 2)).astype(np.float32) for _ in range(3)]

    def train(lib, compiled):
        model = _VAE(lib)
        opt = lib.optim.Adam(model.parameters(), lr=0.02)
        run = lib.compile(model.loss) if compiled else model.loss
        losses = []
        for e in eps:
            opt.zero_grad()
            loss = run(lib.tensor(x), lib.tensor(e))
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        return losses + [p.detach() for p in model.parameters()]
    for g, w in zip(train(tc, compiled), train(torch, False)):
        assert_close(g, w, rtol=5e-5, atol=5e-6)
