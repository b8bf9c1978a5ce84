"""Autograd semantics vs torch: accumulation, retain_graph, grad modes, leaves, hooks,
in-place rules, autograd.grad with create_graph, and deep graphs."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close


def both(data, requires_grad=True):
    arr = np.asarray(data, dtype=np.float32)
    return tc.tensor(arr, requires_grad=requires_grad), torch.tensor(arr,
                                                                       requires_grad=requires_grad)


def test_requires_grad_propagates():
    x, _ = both([1.0, 2.0])
    c = tc.tensor([3.0, 4.0])
    assert (x * c).requires_grad and not (c * 2).requires_grad
    assert not tc.tensor([1.0]).requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        tc.tensor([1, 2]).requires_grad_()


def test_grad_accumulates_over_two_backwards():
    x, tx = both([1.0, -2.0, 3.0])
    for lib_x in (x, tx):
        (lib_x * lib_x).sum().backward()
        (lib_x * 3).sum().backward()
    assert_close(x.grad, tx.grad)


def test_backward_with_gradient():
    x, tx = both([[1.0, 2.0], [3.0, 4.0]])
    g = np.array([[1.0, -1.0], [0.5, 2.0]], np.float32)
    (x * x).backward(tc.tensor(g))
    (tx * tx).backward(torch.tensor(g))
    assert_close(x.grad, tx.grad)


def test_backward_non_scalar_without_gradient_raises():
    x, _ = both([1.0, 2.0])
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
        (x * 2).backward()


def test_backward_gradient_shape_mismatch_raises():
    x, _ = both([1.0, 2.0])
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).backward(tc.tensor([1.0, 2.0, 3.0]))


def test_retain_graph():
    x, tx = both([1.0, 2.0])
    y, ty = (x.exp() * x).sum(), (tx.exp() * tx).sum()
    y.backward(retain_graph=True)
    y.backward()
    ty.backward(retain_graph=True)
    ty.backward()
    assert_close(x.grad, tx.grad)


def test_second_backward_without_retain_graph_raises():
    x, tx = both([1.0, 2.0])
    y, ty = (x.exp() * x).sum(), (tx.exp() * tx).sum()
    y.backward()
    ty.backward()
    with pytest.raises(RuntimeError) as want:
        ty.backward()
    with pytest.raises(RuntimeError) as got:
        y.backward()
    assert "Trying to backward through the graph a second time" in str(want.value)
    assert "Trying to backward through the graph a second time" in str(got.value)


def test_detach():
    x, _ = both([1.0, 2.0])
    d = (x * 2).detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    (x * d).sum().backward()
    assert_close(x.grad, np.array([2.0, 4.0], np.float32))


def test_no_grad_enable_grad_set_grad_enabled():
    x, _ = both([1.0])
    with tc.no_grad():
        assert not (x * 2).requires_grad and not tc.is_grad_enabled()
        with tc.enable_grad():
            assert (x * 2).requires_grad
    assert tc.is_grad_enabled()
    with tc.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    tc.set_grad_enabled(False)
    assert not tc.is_grad_enabled()
    tc.set_grad_enabled(True)
    assert tc.is_grad_enabled()


def test_grad_modes_as_decorators():
    x, _ = both([1.0])

    @tc.no_grad()
    def off():
        return x * 2

    @tc.enable_grad()
    def on():
        return x * 2

    @tc.set_grad_enabled(False)
    def off2():
        return x * 2

    assert tc.is_grad_enabled()          # decorating must not switch the mode
    assert not off().requires_grad and not off2().requires_grad
    with tc.no_grad():
        assert on().requires_grad
    assert tc.is_grad_enabled()


def test_requires_grad_underscore_and_leaf_rules():
    x = tc.tensor([1.0, 2.0])
    assert x.is_leaf and x.grad_fn is None
    assert x.requires_grad_() is x and x.requires_grad
    y = x * 2
    assert not y.is_leaf and y.grad_fn is not None and type(y.grad_fn).__name__ == "MulBackward0"
    with pytest.raises(RuntimeError, match="leaf variables"):
        y.requires_grad_(False)
    y.sum().backward()
    assert y.grad is None                # non-leaf grads are not kept unless asked


def test_retain_grad():
    x, tx = both([1.0, 2.0])
    y, ty = x * 3, tx * 3
    y.retain_grad()
    ty.retain_grad()
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    assert y.retains_grad
    assert_close(y.grad, ty.grad)
    assert_close(x.grad, ty.grad * 0 + tx.grad)


def test_inplace_on_leaf_requiring_grad_raises():
    x, tx = both([1.0, 2.0])
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        tx += 1
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        x += 1
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        x.mul_(2)
    with tc.no_grad():
        x += 1                           # allowed under no_grad (optimizers do this)
    assert_close(x.detach(), np.array([2.0, 3.0], np.float32))


def test_inplace_on_saved_tensor_raises_at_backward():
    x, _ = both([1.0, 2.0])
    y = x * 1
    z = y * y                            # saves y
    y += 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


def test_inplace_chain_gradients_match_torch():
    def run(lib, x):
        y = x * 2
        y.mul_(x)
        y += x
        y[0] = x[1] * 3
        y.clamp_(max=20.0)
        return y.sum()

    x, tx = both([1.0, 2.0, 3.0])
    run(tc, x).backward()
    run(torch, tx).backward()
    assert_close(x.grad, tx.grad)


def test_tensor_hooks():
    x, tx = both([1.0, 2.0])
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    y = x * 2
    y.register_hook(lambda g: g * 10)
    tx.register_hook(lambda g: None)
    ty = tx * 2
    ty.register_hook(lambda g: g * 10)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    assert_close(x.grad, tx.grad)
    assert len(seen) == 1
    handle = x.register_hook(lambda g: g * 0)
    handle.remove()
    x.grad = None
    (x * 1).sum().backward()
    assert_close(x.grad, np.ones(2, np.float32))


def test_autograd_grad_does_not_touch_dot_grad():
    x, tx = both([1.0, 2.0])
    (g,) = tc.autograd.grad((x * x).sum(), x)
    (tg,) = torch.autograd.grad((tx * tx).sum(), tx)
    assert_close(g, tg)
    assert x.grad is None


def test_autograd_grad_walks_no_further_than_its_inputs():
    """grad(y, c) runs only the nodes between y and c (torch's exec_info): a hook on a
    tensor c was computed from does not fire, nothing upstream is differentiated."""
    fired = {}
    for lib in (torch, tc):
        a = lib.ones(2, requires_grad=True)
        b = a * 2
        b.register_hook(lambda g, lib=lib: fired.setdefault(lib.__name__, []).append("b"))
        c = b * 3
        c.register_hook(lambda g, lib=lib: fired.setdefault(lib.__name__, []).append("c"))
        (g,) = lib.autograd.grad((c * c).sum(), c)
        assert g.tolist() == [12.0, 12.0] and a.grad is None
    assert fired["tracecomp"] == fired["torch"] == ["c"]


def test_autograd_grad_unused_input():
    x, _ = both([1.0])
    u, _ = both([2.0])
    with pytest.raises(RuntimeError, match="appears to not have been used"):
        tc.autograd.grad((x * 2).sum(), [x, u])
    gx, gu = tc.autograd.grad((x * 2).sum(), [x, u], allow_unused=True)
    assert gu is None and float(gx) == 2.0


@pytest.mark.parametrize("fn", [lambda lib, x: x ** 3, lambda lib, x: lib.tanh(x),
                                lambda lib, x: lib.sigmoid(x) * lib.exp(x)],
                         ids=["cube", "tanh", "sigmoid_exp"])
def test_second_derivative(fn):
    x, tx = both([-1.5, 0.3, 2.0])
    (g,) = tc.autograd.grad(fn(tc, x).sum(), x, create_graph=True)
    (tg,) = torch.autograd.grad(fn(torch, tx).sum(), tx, create_graph=True)
    assert g.requires_grad
    assert_close(g, tg)
    (g2,) = tc.autograd.grad(g.sum(), x)
    (tg2,) = torch.autograd.grad(tg.sum(), tx)
    assert_close(g2, tg2, rtol=1e-5, atol=1e-5)


def test_second_derivative_known_values():
    x = tc.tensor([0.5, -2.0], dtype=tc.float64, requires_grad=True)
    (g,) = tc.autograd.grad((x ** 3).sum(), x, create_graph=True)
    (g2,) = tc.autograd.grad(g.sum(), x)
    assert_close(g2, 6 * x.detach().numpy())
    (g,) = tc.autograd.grad(tc.tanh(x).sum(), x, create_graph=True)
    (g2,) = tc.autograd.grad(g.sum(), x)
    t = np.tanh(x.detach().numpy())
    assert_close(g2, -2 * t * (1 - t * t))


def test_backward_create_graph_then_grad_of_grad():
    x, tx = both([1.0, 2.0])
    (x ** 3).sum().backward(create_graph=True)
    (tx ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    (x.grad * x).sum().backward()
    (tx.grad * tx).sum().backward()
    assert_close(x.grad, tx.grad)


def test_long_chain_backward_no_recursion_limit():
    x = tc.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    assert_close(x.grad, np.array([1.0001 ** 10_000], np.float32), rtol=1e-3)


def test_shared_subexpression_and_broadcast_grads():
    def f(lib, a, b):
        c = a * b                         # a (3, 1) and b (4,) broadcast to (3, 4)
        return (c * c + c.exp() * a).sum()

    a, ta = both(np.linspace(-1, 1, 3).reshape(3, 1))
    b, tb = both(np.linspace(0, 1, 4))
    f(tc, a, b).backward()
    f(torch, ta, tb).backward()
    assert_close(a.grad, ta.grad, rtol=1e-5, atol=1e-5)
    assert_close(b.grad, tb.grad, rtol=1e-5, atol=1e-5)


def test_backward_inputs_argument():
    x, tx = both([1.0, 2.0])
    w, tw = both([3.0, 4.0])
    (x * w).sum().backward(inputs=[x])
    (tx * tw).sum().backward(inputs=[tx])
    assert_close(x.grad, tx.grad)
    assert w.grad is None and tw.grad is None


def test_int_outputs_do_not_require_grad():
    x, _ = both([1.0, 3.0, 2.0])
    assert not x.argmax().requires_grad
    assert not (x > 1).requires_grad
    assert not x.long().requires_grad


def test_norm_gradient_at_zero_is_zero_like_torch():
    ours, theirs = tc.zeros(3, requires_grad=True), torch.zeros(3, requires_grad=True)
    tc.norm(ours).backward()
    torch.norm(theirs).backward()
    assert ours.grad.tolist() == theirs.grad.tolist() == [0.0, 0.0, 0.0]
