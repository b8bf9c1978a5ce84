"""x * x differentiates as one gradient, 2 g x (elementwise._mul_vjp), where it made g x twice
and added them: the same values as torch's, first and second derivative, for a tensor
multiplied by itself and by a view of itself."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_self_product_matches_torch_to_the_second_derivative(dtype):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((5, 7)).astype(dtype)
    weights = rng.standard_normal((5, 7)).astype(dtype)
    grads = []
    for lib in (tc, torch):
        x = lib.tensor(data.copy(), requires_grad=True)
        w = lib.tensor(weights)
        (g,) = lib.autograd.grad(((x * x) * w).sum(), x, create_graph=True)
        (gg,) = lib.autograd.grad((g * g).sum(), x)
        grads.append((g.detach().numpy(), gg.numpy()))
    for ours, theirs in zip(*grads):
        assert_close(ours, theirs, rtol=1e-6, atol=1e-6)


def test_a_product_with_a_view_of_itself_is_two_gradients():
    data = np.arange(1.0, 7.0).reshape(2, 3)
    x, ref = tc.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    (x * x.t().t()).sum().backward()
    (ref * ref.t().t()).sum().backward()
    assert_close(x.grad.numpy(), ref.grad.numpy())
