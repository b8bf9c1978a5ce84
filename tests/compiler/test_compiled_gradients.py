"""The gradients a compiled call's backward hands to the eager tape (compiler/bridge.py),
as torch's: a parameter that feeds only outputs the loss does not use keeps .grad None (a
GAN discriminator's auxiliary heads), on the general and the fast module call alike; and
a gradient that would be differentiated again (a WGAN-GP gradient penalty) is refused
with torch.compile's reason instead of silently giving a constant."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import with_torch_weights


def _two_heads(lib):
    class TwoHeads(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = lib.nn.Linear(4, 4)
            self.a = lib.nn.Linear(4, 1)
            self.b = lib.nn.Linear(4, 1)

        def forward(self, x):
            h = self.body(x).tanh()
            return self.a(h), self.b(h)

    return TwoHeads()


@pytest.mark.parametrize("optimizer", ["Adam", "SGD"])
def test_a_head_the_loss_does_not_use_keeps_no_gradient(optimizer):
    torch.manual_seed(0)
    ref = _two_heads(torch)
    model = with_torch_weights(_two_heads(tc), ref)
    compiled = tc.compile(model)
    opts = [getattr(lib.optim, optimizer)(m.parameters(), lr=0.1, **(
        {"momentum": 0.9} if optimizer == "SGD" else {}))
        for lib, m in ((torch, ref), (tc, model))]
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    for step in range(4):       # both heads on the first step, head a alone after
        for opt, run, lib in ((opts[0], ref, torch), (opts[1], compiled, tc)):
            opt.zero_grad()
            ya, yb = run(lib.tensor(x))
            (ya.sum() + (yb.sum() if step == 0 else 0)).backward()
            opt.step()
        if step:
            assert model.b.weight.grad is None and ref.b.weight.grad is None
            assert model.a.weight.grad is not None
    for (name, p), q in zip(model.named_parameters(), ref.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=name)


def _critic(lib):
    return lib.nn.Sequential(lib.nn.Linear(6, 8), lib.nn.LeakyReLU(0.2), lib.nn.Linear(8, 1))


def test_a_gradient_penalty_through_a_compiled_model_is_refused_as_torch_does():
    torch.manual_seed(0)
    ref = _critic(torch)
    critic = tc.compile(with_torch_weights(_critic(tc), ref))
    x = tc.randn(4, 6, requires_grad=True)
    out = critic(x)
    with pytest.raises(RuntimeError, match="does not support double backward"):
        tc.autograd.grad(out, x, grad_outputs=tc.ones(4, 1), create_graph=True)
    # a plain gradient of the same call is fine
    g, = tc.autograd.grad(critic(x), x, grad_outputs=tc.ones(4, 1))
    xt = torch.tensor(x.detach().numpy(), requires_grad=True)
    gt, = torch.autograd.grad(ref(xt), xt, grad_outputs=torch.ones(4, 1))
    np.testing.assert_allclose(g.numpy(), gt.numpy(), rtol=1e-5, atol=1e-6)
