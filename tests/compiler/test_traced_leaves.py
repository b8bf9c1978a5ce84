"""Leaves the compiled code makes itself: `z = x.detach(); z.requires_grad = True` inside a
compiled function (an energy model's Langevin sampler, which steps its input images along
their gradient) gets its `.grad` from backward() and from autograd.grad, as eagerly, and no
gradient flows through it into what it was computed from."""
import numpy as np
import pytest
import torch

import tracecomp as tc


def _langevin(lib, w, steps=3):
    def sample(inp):
        w.requires_grad = False
        inp.requires_grad = True
        for _ in range(steps):
            inp.data.clamp_(min=-1.0, max=1.0)
            out = -(inp * w).sin().sum()
            out.backward()
            inp.grad.data.clamp_(-0.3, 0.3)
            inp.data.add_(-0.5 * inp.grad.data)
            inp.grad.detach_()
            inp.grad.zero_()
        w.requires_grad = True
        return inp.detach() * 1.0
    return sample


def test_a_langevin_sampler_steps_its_input_along_its_gradient_as_torch():
    rng = np.random.default_rng(0)
    w0, x0 = rng.standard_normal(6).astype(np.float32), rng.uniform(-1, 1, 6).astype(np.float32)
    want = _langevin(torch, torch.tensor(w0))(torch.tensor(x0)).numpy()
    sample = tc.compile(_langevin(tc, tc.tensor(w0)))
    for _ in range(2):      # the second call runs the compiled code without tracing
        got = sample(tc.tensor(x0)).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert not np.allclose(got, x0), "the sampler did not move its input"


@pytest.mark.parametrize("lib", [torch, tc])
def test_a_leaf_made_from_a_value_that_requires_grad_stops_its_gradient(lib):
    """z = y.detach() of y that requires grad, then z.requires_grad = True: z gets the
    gradient of its uses only, and w only gets what flows to it through y and z * w."""
    w = (lib.nn.Parameter(lib.tensor([1.0, -2.0, 3.0])))

    def f(x):
        y = x * w
        z = y.detach()
        z.requires_grad = True
        ((z * w).sum() + y.sum()).backward()
        return w.grad * 1.0, z.grad * 1.0
    run = tc.compile(f) if lib is tc else f
    w_grad, z_grad = run(lib.full((3,), 2.0))
    np.testing.assert_array_equal(w_grad.numpy(), [4.0, -2.0, 8.0])
    np.testing.assert_array_equal(z_grad.numpy(), [1.0, -2.0, 3.0])


def test_autograd_grad_of_a_leaf_the_code_made():
    def f(x):
        z = (x * 3).detach()
        z.requires_grad = True
        (g,) = tc.autograd.grad((z ** 2).sum(), [z])
        return g
    x = tc.tensor([1.0, 2.0])
    np.testing.assert_array_equal(tc.compile(f)(x).numpy(), f(x).numpy())


def test_a_parameter_updated_through_data_in_a_compiled_step_still_gets_its_gradient():
    """A masked convolution (PixelCNN, uvadlc tutorial 12) writes `weight.data *= mask` in
    its forward: in a whole compiled step the weight then holds a value the code computed,
    and its .grad must still be the gradient at that value, as eagerly (it was missing)."""
    rng = np.random.default_rng(1)
    w0, m0 = rng.standard_normal((2, 1, 3, 3)).astype(np.float32), np.ones((3, 3), np.float32)
    m0[2:] = 0
    x0 = rng.standard_normal((2, 1, 5, 5)).astype(np.float32)

    def setup(lib):
        w = lib.nn.Parameter(lib.tensor(w0))
        opt = lib.optim.SGD([w], lr=0.1)

        def step(x):
            opt.zero_grad()
            w.data *= lib.tensor(m0)
            loss = lib.nn.functional.conv2d(x, w, padding=1).tanh().sum()
            loss.backward()
            opt.step()
            return loss
        return w, step
    w_ref, step_ref = setup(torch)
    w, step = setup(tc)
    step = tc.compile(step)
    for _ in range(3):
        loss, want = step(tc.tensor(x0)), step_ref(torch.tensor(x0))
        np.testing.assert_allclose(loss.item(), want.item(), rtol=1e-5)
        np.testing.assert_allclose(w.grad.numpy(), w_ref.grad.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(w.detach().numpy(), w_ref.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
