"""nll_loss without class weights, one primitive (tracecomp/ops/nll.py): torch's values and
gradients for every reduction, with and without ignored targets, over (N, C), (N, C, d...)
and unbatched inputs; one tape node; an eager impl that is its parts op for op."""
import numpy as np
import pytest
import torch

import tracecomp as tc
import tracecomp.nn.functional as F
from tracecomp.ops import nll

from helpers import assert_close

rng = np.random.default_rng(11)
SHAPES = [((8, 5), (8,)), ((3, 4, 2, 2), (3, 2, 2)), ((5,), ()), ((0, 4), (0,))]


def _case(shape, target_shape, ignore_index):
    a = rng.standard_normal(shape).astype(np.float32)
    t = rng.integers(0, shape[1] if len(shape) > 1 else shape[0], target_shape)
    if ignore_index is not None and t.size > 1:
        t.flat[::3] = ignore_index          # some targets ignored
    return a, t


@pytest.mark.parametrize("shape,target_shape", SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore_index", [None, 1])
def test_values_and_gradients_are_torchs(shape, target_shape, reduction, ignore_index):
    a, t = _case(shape, target_shape, ignore_index)
    ignore = -100 if ignore_index is None else ignore_index
    x, xt = tc.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    got = F.nll_loss(x, tc.tensor(t), reduction=reduction, ignore_index=ignore)
    want = torch.nn.functional.nll_loss(xt, torch.tensor(t), reduction=reduction,
                                        ignore_index=ignore)
    assert_close(got, want)
    if not want.numel() or torch.isnan(want).any():
        return                              # an empty mean is NaN, as torch's
    g = rng.standard_normal(tuple(want.shape)).astype(np.float32)
    got.backward(tc.tensor(g))
    want.backward(torch.tensor(g))
    assert_close(x.grad, xt.grad, what="gradient")


@pytest.mark.parametrize("shape,target_shape", SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore_index", [None, 1])
def test_the_impl_is_its_parts_to_the_bit(shape, target_shape, reduction, ignore_index):
    a, t = _case(shape, target_shape, ignore_index)
    x, target = tc.tensor(a), tc.tensor(t)
    got = nll.nll_loss(x, target, reduction, ignore_index).numpy()
    want = nll.parts(x, target, reduction, ignore_index).numpy()
    assert got.shape == want.shape and got.dtype == want.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_cross_entropy_is_two_tape_nodes_and_its_range_guard_still_refuses():
    x = tc.randn(6, 4, requires_grad=True)
    loss = F.cross_entropy(x, tc.tensor([0, 1, 2, 3, 0, 1]))
    assert loss.grad_fn.name() == "NllLossBackward0"
    ((soft, _),) = loss.grad_fn.next_functions          # the target takes no gradient
    assert soft.name() == "LogSoftmaxBackward0"
    with pytest.raises(IndexError, match=r"Target 4 is out of bounds"):
        F.cross_entropy(x, tc.tensor([0, 1, 2, 4, 0, 1]))


def test_a_weighted_loss_stays_the_composite_and_is_torchs():
    a, t = _case((7, 3), (7,), 2)
    w = np.array([0.5, 2.0, 1.5], np.float32)
    x, xt = tc.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    got = F.nll_loss(x, tc.tensor(t), weight=tc.tensor(w), ignore_index=2)
    want = torch.nn.functional.nll_loss(xt, torch.tensor(t), weight=torch.tensor(w),
                                        ignore_index=2)
    assert_close(got, want)
    got.backward()
    want.backward()
    assert_close(x.grad, xt.grad, what="gradient")
    assert got.grad_fn.prim.name != "nll_loss"


@pytest.mark.parametrize("shape,target_shape", SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore_index", [None, 1])
def test_the_backward_impl_is_its_parts_to_the_bit(shape, target_shape, reduction,
                                                   ignore_index):
    _, t = _case(shape, target_shape, ignore_index)
    g = np.asarray(rng.standard_normal(target_shape if reduction == "none" else ()),
                   np.float32)
    args = (tc.tensor(g), tc.tensor(t), shape, reduction, ignore_index)
    got = nll.nll_loss_backward(*args).numpy()
    want = nll.backward_parts(*args).numpy()
    assert got.shape == want.shape == shape and got.dtype == want.dtype == np.float32
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_the_gradient_of_the_gradient_is_torchs(reduction):
    a, t = _case((6, 4), (6,), 1)
    g = rng.standard_normal(6 if reduction == "none" else ()).astype(np.float32)
    probe = rng.standard_normal((6, 4)).astype(np.float32)
    got = []
    for lib in (tc, torch):
        x, w = lib.tensor(a, requires_grad=True), lib.tensor(g, requires_grad=True)
        loss = lib.nn.functional.cross_entropy(x, lib.tensor(t), ignore_index=1,
                                               reduction=reduction)
        (gx,) = lib.autograd.grad(loss, x, grad_outputs=w, create_graph=True)
        (gx * lib.tensor(probe)).sum().backward()
        got.append((gx, x.grad, w.grad))
    for mine, theirs, what in zip(*got, ("gradient", "x's second gradient", "g's gradient")):
        assert_close(mine, theirs, what=what)
