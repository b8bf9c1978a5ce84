"""cross_entropy's common case as one primitive (tracecomp/ops/cross_entropy.py): torch's
values and gradients for every reduction and both float dtypes, the two-primitive path's
numbers to the bit, second and third gradients, one tape node that shows torch's two, and
the other cases (weights, ignored targets, smoothing, probabilities, more dims) still
computed as before."""
import numpy as np
import pytest
import torch

import tracecomp as tc
import tracecomp.nn.functional as F
from tracecomp.ops import cross_entropy as fused
from tracecomp.ops import nll, softmax

from helpers import assert_close

rng = np.random.default_rng(12)


def _case(n=8, c=5, dtype=np.float32):
    return rng.standard_normal((n, c)).astype(dtype), rng.integers(0, c, n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_values_and_gradients_are_torchs(reduction, dtype):
    a, t = _case(dtype=dtype)
    x, xt = tc.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    got = F.cross_entropy(x, tc.tensor(t), reduction=reduction)
    want = torch.nn.functional.cross_entropy(xt, torch.tensor(t), reduction=reduction)
    assert got.grad_fn.prim.name == "cross_entropy"
    assert got.dtype == tc.float64 if dtype == np.float64 else got.dtype == tc.float32
    assert_close(got, want)
    g = rng.standard_normal(tuple(want.shape)).astype(dtype)
    got.backward(tc.tensor(g))
    want.backward(torch.tensor(g))
    assert_close(x.grad, xt.grad, what="gradient")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_the_numbers_are_log_softmax_then_nll_loss_to_the_bit(reduction):
    a, t = _case(64, 10)
    x, target = tc.tensor(a, requires_grad=True), tc.tensor(t)
    got = fused.cross_entropy(x, target, reduction)
    x2 = tc.tensor(a, requires_grad=True)
    want = nll.nll_loss(softmax.log_softmax(x2, 1), target, reduction)
    np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())
    g = tc.tensor(rng.standard_normal(tuple(want.shape)).astype(np.float32))
    got.backward(g)
    want.backward(g)
    np.testing.assert_array_equal(x.grad.numpy(), x2.grad.numpy())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_the_parts_are_the_impl(reduction):
    """What native code computes where a graph holds the primitive (passes/decompose.py)."""
    a, t = _case()
    logp = tc.tensor(softmax._log_softmax(a, 1))
    x, target = tc.tensor(a), tc.tensor(t)
    np.testing.assert_allclose(fused.parts(x, target, logp, reduction).numpy(),
                               fused.cross_entropy(x, target, reduction).numpy(), rtol=1e-6)
    g = tc.tensor(np.asarray(rng.standard_normal(8 if reduction == "none" else ()),
                             np.float32))
    np.testing.assert_allclose(fused.backward_parts(g, target, logp, reduction).numpy(),
                               fused._backward_impl(g.numpy(), t, logp.numpy(), reduction),
                               rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_second_gradients_are_torchs(reduction):
    a, t = _case(6, 4)
    g = rng.standard_normal(6 if reduction == "none" else ()).astype(np.float32)
    probe = rng.standard_normal((6, 4)).astype(np.float32)
    got = []
    for lib in (tc, torch):
        x, w = lib.tensor(a, requires_grad=True), lib.tensor(g, requires_grad=True)
        loss = lib.nn.functional.cross_entropy(x, lib.tensor(t), reduction=reduction)
        (gx,) = lib.autograd.grad(loss, x, grad_outputs=w, create_graph=True)
        (gx * lib.tensor(probe)).sum().backward()
        got.append((gx, x.grad, w.grad))
    for mine, theirs, what in zip(*got, ("gradient", "x's second gradient", "g's gradient")):
        assert_close(mine, theirs, what=what)


def test_the_third_gradient_is_torchs():
    a, t = _case(5, 3, np.float64)
    got = []
    for lib in (tc, torch):
        x = lib.tensor(a, requires_grad=True)
        loss = lib.nn.functional.cross_entropy(x, lib.tensor(t))
        (g1,) = lib.autograd.grad(loss, x, create_graph=True)
        (g2,) = lib.autograd.grad((g1 * g1).sum(), x, create_graph=True)
        (g3,) = lib.autograd.grad(g2.sum(), x)
        got.append((g2, g3))
    for mine, theirs in zip(*got):
        assert_close(mine, theirs)


def test_the_gradient_is_the_central_difference():
    a, t = _case(4, 3, np.float64)
    x = tc.tensor(a, requires_grad=True)
    F.cross_entropy(x, tc.tensor(t)).backward()
    direction = rng.standard_normal(a.shape)

    def loss(b):
        return float(F.cross_entropy(tc.tensor(b), tc.tensor(t)))
    numeric = (loss(a + 1e-6 * direction) - loss(a - 1e-6 * direction)) / 2e-6
    assert np.isclose(float(np.sum(x.grad.numpy() * direction)), numeric, rtol=1e-6)


def test_one_node_shows_torchs_two():
    x = tc.randn(6, 4, requires_grad=True)
    loss = F.cross_entropy(x, tc.tensor([0, 1, 2, 3, 0, 1]))
    assert loss.grad_fn.name() == "NllLossBackward0"
    ((soft, _),) = loss.grad_fn.next_functions
    assert soft.name() == "LogSoftmaxBackward0" and type(soft).__name__ == "LogSoftmaxBackward0"
    assert loss.grad_fn.next_functions[0][0] is soft        # one object, as torch's
    ((acc, _),) = soft.next_functions
    assert acc.name() == "torch::autograd::AccumulateGrad" and acc.variable is x
    loss.backward()
    assert loss.grad_fn.next_functions[0][0].next_functions[0][0].variable is x   # freed too


def test_hooks_that_would_see_other_gradients_are_refused():
    x = tc.randn(6, 4, requires_grad=True)
    loss = F.cross_entropy(x, tc.tensor([0, 1, 2, 3, 0, 1]))
    with pytest.raises(NotImplementedError, match=r"NllLossBackward0.register_hook.*"
                                                  r"log_softmax\(x, 1\)"):
        loss.grad_fn.register_hook(lambda gi, go: None)
    soft = loss.grad_fn.next_functions[0][0]
    for kind in ("register_hook", "register_prehook"):
        with pytest.raises(NotImplementedError, match=f"LogSoftmaxBackward0.{kind}"):
            getattr(soft, kind)(lambda *a: None)
    seen = []       # a pre-hook sees the loss's gradient, as torch's
    loss.grad_fn.register_prehook(lambda go: seen.append(float(go[0])))
    loss.backward(tc.tensor(2.0))
    assert seen == [2.0]


def test_logits_changed_in_place_before_the_backward_are_refused():
    x = tc.randn(6, 4, requires_grad=True)
    logits = x * 1
    loss = F.cross_entropy(logits, tc.tensor([0, 1, 2, 3, 0, 1]))
    logits.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


@pytest.mark.parametrize("kwargs,shape,tdtype", [
    ({"weight": tc.tensor([0.5, 2.0, 1.0, 1.5])}, (8, 4), np.int64),
    ({"ignore_index": 1}, (8, 4), np.int64),
    ({"label_smoothing": 0.1}, (8, 4), np.int64),
    ({}, (2, 4, 3), np.int64),
    ({}, (4,), np.int64),
    ({}, (8, 4), np.uint8),
])
def test_other_cases_keep_their_path_and_torchs_numbers(kwargs, shape, tdtype):
    a = rng.standard_normal(shape).astype(np.float32)
    n_classes = shape[1] if len(shape) > 1 else shape[0]
    target_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    t = rng.integers(0, n_classes, target_shape).astype(tdtype)
    if "ignore_index" in kwargs:
        t.flat[::3] = 1
    x, xt = tc.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    tkw = {k: torch.tensor(v.numpy()) if isinstance(v, tc.Tensor) else v
           for k, v in kwargs.items()}
    got = F.cross_entropy(x, tc.tensor(t), **kwargs)
    want = torch.nn.functional.cross_entropy(xt, torch.tensor(t).long(), **tkw)
    assert got.grad_fn.prim.name != "cross_entropy"
    assert_close(got, want)
    got.backward()
    want.backward()
    assert_close(x.grad, xt.grad, what="gradient")


def test_out_of_range_targets_are_refused_as_before():
    x = tc.randn(6, 4, requires_grad=True)
    with pytest.raises(IndexError, match=r"Target 4 is out of bounds"):
        F.cross_entropy(x, tc.tensor([0, 1, 2, 4, 0, 1]))


def test_a_compiled_step_records_log_softmax_and_nll_loss():
    """Traced, cross_entropy keeps the primitives the graph's passes know, and the compiled
    step matches eager."""
    a, t = _case(16, 5)
    w = rng.standard_normal((5, 5)).astype(np.float32)
    results = []
    for compiled in (False, True):
        weight = tc.tensor(w, requires_grad=True)

        def step(x, y, weight=weight):
            loss = F.cross_entropy(x @ weight, y)
            loss.backward()
            return loss
        run = tc.compile(step) if compiled else step
        results.append((run(tc.tensor(a), tc.tensor(t)), weight.grad))
    (l0, g0), (l1, g1) = results
    assert_close(l1, l0.detach())
    assert_close(g1, g0, what="gradient")
