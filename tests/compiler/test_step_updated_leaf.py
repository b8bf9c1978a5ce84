"""A compiled step that updates parameters and then differentiates through them again:
a GAN's generator loss reaches the discriminator through the weights `opt_disc.step()`
just wrote, and a WGAN critic trains several times in one call. Eagerly a parameter stays
a leaf after an update under no_grad, so each later backward adds to its `.grad`; the
compiled step must leave the same `.grad` and weights as torch's eager step."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import with_torch_weights


def _models(lib, ref=None):
    torch.manual_seed(0)
    disc, gen = lib.nn.Linear(6, 1), lib.nn.Sequential(lib.nn.Linear(3, 6), lib.nn.Tanh())
    if ref is not None:
        with_torch_weights(disc, ref[0]), with_torch_weights(gen, ref[1])
    return disc, gen


def _gan_step(lib, disc, gen, critic_iterations):
    opt_d = lib.optim.SGD(disc.parameters(), lr=0.1, momentum=0.5)
    opt_g = lib.optim.Adam(gen.parameters(), lr=0.01)

    def step(real, noise):
        fake = gen(noise)
        for _ in range(critic_iterations):      # each pass reads the weights the last wrote
            loss_d = -(disc(real).mean() - disc(fake).mean())
            disc.zero_grad()
            loss_d.backward(retain_graph=True)
            opt_d.step()
        loss_g = -disc(fake).mean()             # also adds to disc's .grad, as eagerly
        gen.zero_grad()
        loss_g.backward()
        opt_g.step()
        return loss_d, loss_g
    return step


@pytest.mark.parametrize("critic_iterations", [1, 2])
def test_backward_through_updated_weights_matches_torch(critic_iterations, backend):
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((5, 6), dtype=np.float32),
                rng.standard_normal((5, 3), dtype=np.float32)) for _ in range(3)]
    ref = _models(torch)
    ref_step = _gan_step(torch, *ref, critic_iterations)
    disc, gen = _models(tc, ref)
    step = tc.compile(_gan_step(tc, disc, gen, critic_iterations), backend=backend)
    for i, (real, noise) in enumerate(batches):
        want = ref_step(torch.tensor(real), torch.tensor(noise))
        got = step(tc.tensor(real), tc.tensor(noise))
        for g, w in zip(got, want):
            assert g.item() == pytest.approx(w.item(), rel=1e-5, abs=1e-6), f"step {i}"
        for (name, p), q in zip([*disc.named_parameters(), *gen.named_parameters()],
                                [*ref[0].parameters(), *ref[1].parameters()]):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-6,
                                       err_msg=f"{name}.grad after step {i}")
            np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5,
                                       atol=1e-6, err_msg=f"{name} after step {i}")


def test_compiled_forward_that_updates_a_weight_it_then_uses_is_a_trace_error():
    class Clipped(tc.nn.Module):        # weight clipping inside forward
        def __init__(self):
            super().__init__()
            self.lin = tc.nn.Linear(3, 2)

        def forward(self, x):
            with tc.no_grad():
                self.lin.weight.clamp_(-0.1, 0.1)
            return self.lin(x)

    # eagerly lin.weight.grad gets the use's gradient; the bridged backward would drop it
    with pytest.raises(tc.errors.TraceError, match=r"updates lin\.weight in place under no_grad"):
        tc.compile(Clipped(), fullgraph=True)(tc.ones(4, 3))


def _penalty_step(lib, critic):
    opt = lib.optim.Adam(critic.parameters(), lr=0.01)

    def step(real, fake, beta):
        # ProGAN's gradient penalty: a value made from tensors that need no gradient,
        # turned into a leaf by requires_grad_ and differentiated with autograd.grad
        interpolated = real * beta + fake.detach() * (1 - beta)
        interpolated.requires_grad_(True)
        scores = critic(interpolated)
        gradient = lib.autograd.grad(inputs=interpolated, outputs=scores,
                                     grad_outputs=lib.ones_like(scores), create_graph=True,
                                     retain_graph=True)[0]
        loss = ((gradient.norm(2, dim=1) - 1) ** 2).mean() - critic(real).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return step


def test_gradient_penalty_on_a_leaf_made_inside_the_step_matches_torch(backend):
    rng = np.random.default_rng(1)
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    critic = with_torch_weights(
        tc.nn.Sequential(tc.nn.Linear(4, 8), tc.nn.Tanh(), tc.nn.Linear(8, 1)), ref)
    ref_step = _penalty_step(torch, ref)
    step = tc.compile(_penalty_step(tc, critic), backend=backend)
    for i in range(2):
        real, fake, beta = (rng.standard_normal((5, 4), dtype=np.float32),
                            rng.standard_normal((5, 4), dtype=np.float32),
                            rng.random((5, 1), dtype=np.float32))
        want = ref_step(*map(torch.tensor, (real, fake, beta)))
        got = step(*map(tc.tensor, (real, fake, beta)))
        assert got.item() == pytest.approx(want.item(), rel=1e-5), f"step {i}"
        for (name, p), q in zip(critic.named_parameters(), ref.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-6,
                                       err_msg=f"{name}.grad after step {i}")


def test_backward_fills_grad_of_an_argument_that_got_requires_grad_inside(backend):
    def f(lib, x):
        x.requires_grad_()
        (x.sin() * x).sum().backward()      # eagerly fills x.grad, a leaf's
        return x.grad * 1

    want = f(torch, torch.tensor([0.5, -1.0, 2.0])).numpy()
    x = tc.tensor([0.5, -1.0, 2.0])
    step = tc.compile(lambda x: f(tc, x), backend=backend)
    np.testing.assert_allclose(step(x).numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-6)     # written back


def test_an_argument_given_requires_grad_inside_gets_its_grad_from_the_callers_backward(
        backend):
    """x.requires_grad_() inside a compiled function whose caller runs the backward (a
    saliency map's input): the caller's x requires grad after the call and its .grad is
    torch's; a use before the call to requires_grad_() records no gradient, as eagerly.
    It was left without a flag and without a .grad."""
    def f(lib, x):
        early = x * 3               # before requires_grad_(): no gradient through it
        x.requires_grad_()
        return (x.sin() * x + early).sum()

    step = tc.compile(lambda x: f(tc, x), backend=backend)
    for values in ([0.5, -1.0, 2.0], [1.5, 0.25, -3.0]):    # each call a fresh tensor
        want_x, x = torch.tensor(values), tc.tensor(values)
        f(torch, want_x).backward()
        out = step(x)
        assert x.requires_grad and out.requires_grad
        out.backward()
        np.testing.assert_allclose(x.grad.numpy(), want_x.grad.numpy(), rtol=1e-6)
