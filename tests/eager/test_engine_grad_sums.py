"""The engine's sums of a tensor's gradients over its uses (autograd/engine.py _add): after
the first sum they are added in place, into an array only the walk holds. Checked against
torch: a weight read at every step of a loop, a retained intermediate read three times
(its .grad must keep its value while the walk goes on), an operand read twice by one op
(add's VJP hands the same gradient to both), and a second-order gradient (no in-place sums
while a graph is built)."""
import numpy as np
import pytest
import torch

import tracecomp as tc


def _data(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _loop(lib, w0, xs):
    w = lib.tensor(w0, requires_grad=True)
    h = lib.tensor(xs[0])
    total = 0
    for x in xs:
        h = lib.tanh(h @ w + lib.tensor(x))
        total = total + h.sum()
    total.backward()
    return w.grad


@pytest.mark.parametrize("steps", [1, 2, 3, 6])
def test_a_weight_read_at_every_loop_step(steps):
    w0, xs = _data(0, 5, 5), [_data(k + 1, 3, 5) for k in range(steps)]
    ours, theirs = _loop(tc, w0, xs), _loop(torch, w0, xs)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)


def _retained(lib, x0):
    x = lib.tensor(x0, requires_grad=True)
    h = x * 2.0
    h.retain_grad()
    seen = []
    h.register_hook(lambda g: seen.append(g.clone()))
    y = h.reshape(-1)       # a view of h's gradient goes on to x's sum
    loss = (h * 3.0).sum() + (h * h).sum() + (y * 5.0).sum() + (x * x).sum()
    loss.backward()
    return x.grad, h.grad, seen[0]


def test_a_retained_intermediate_read_three_times_keeps_its_grad():
    x0 = _data(7, 4, 3)
    ours, theirs = _retained(tc, x0), _retained(torch, x0)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)
    assert np.array_equal(ours[1].numpy(), ours[2].numpy())


def _shared(lib, x0):
    x = lib.tensor(x0, requires_grad=True)
    h = x * 1.5
    loss = (h + h).sum() + (h + h).sum() + (h - h * 0.5).sum()
    loss.backward()
    return x.grad


def test_one_gradient_handed_to_both_operands_is_not_written():
    x0 = _data(3, 6)
    np.testing.assert_allclose(_shared(tc, x0).numpy(), _shared(torch, x0).numpy(),
                               rtol=1e-6)


def _second_order(lib, x0):
    x = lib.tensor(x0, requires_grad=True)
    y = (x * x).sum() + (x * x * x).sum() + (x.sin() * x).sum()
    (g,) = lib.autograd.grad(y, x, create_graph=True)
    (gg,) = lib.autograd.grad(g.sum(), x)
    return g.detach(), gg


def test_sums_under_create_graph_stay_differentiable():
    x0 = _data(5, 4)
    for a, b in zip(_second_order(tc, x0), _second_order(torch, x0)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
