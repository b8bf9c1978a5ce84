"""mse_loss of one shape and dtype, one primitive (tracecomp/ops/mse.py): torch's values and
first and second gradients for every reduction; one tape node that keeps nothing but its
operands; an eager impl that is its parts to the bit; the composite for the rest; compiled
steps (its parts, decomposed) against torch."""
import numpy as np
import pytest
import torch

import tracecomp as tc
import tracecomp.nn.functional as F
from tracecomp.ops import mse

from helpers import assert_close, train_step, with_torch_weights

rng = np.random.default_rng(5)
SHAPES = [(8, 5), (3, 4, 2), (), (0, 3)]


def _pair(shape, dtype=np.float32):
    return (rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("target_grad", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_values_and_gradients_are_torchs(shape, reduction, target_grad, dtype):
    a, b = _pair(shape, dtype)
    x, y = tc.tensor(a, requires_grad=True), tc.tensor(b, requires_grad=target_grad)
    xt, yt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=target_grad)
    got = F.mse_loss(x, y, reduction=reduction)
    want = torch.nn.functional.mse_loss(xt, yt, reduction=reduction)
    assert got.grad_fn.name() == "MseLossBackward0" and got.dtype == x.dtype
    assert_close(got, want)
    if not want.numel() or torch.isnan(want).any():
        return                              # an empty mean is NaN, as torch's
    g = rng.standard_normal(tuple(want.shape)).astype(dtype)
    got.backward(tc.tensor(g))
    want.backward(torch.tensor(g))
    assert_close(x.grad, xt.grad, what="input's gradient")
    assert (y.grad is None) == (not target_grad)
    if target_grad:
        assert_close(y.grad, yt.grad, what="target's gradient")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_second_gradients_are_torchs(reduction):
    a, b = _pair((4, 3), np.float64)
    grads = []
    for lib in (tc, torch):
        x, y = lib.tensor(a, requires_grad=True), lib.tensor(b, requires_grad=True)
        loss = lib.nn.functional.mse_loss(x, y, reduction=reduction)
        w = lib.tensor(np.linspace(0.5, 1.5, loss.numel()).reshape(tuple(loss.shape)))
        gx, = lib.autograd.grad((loss * w).sum(), x, create_graph=True)
        (gx * gx * lib.tensor(b)).sum().backward()
        grads.append((x.grad, y.grad))
    for got, want in zip(*grads):
        assert_close(got, want, what="second gradient")


def test_one_tape_node_keeps_only_its_operands():
    x, y = tc.randn(16, 8, requires_grad=True), tc.randn(16, 8)
    loss = F.mse_loss(x, y)
    node = loss.grad_fn
    assert node.prim.name == "mse_loss"
    assert len(node.args) == 2 and node.args[0] is x and node.args[1] is y


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_the_impl_is_its_parts_to_the_bit(shape, reduction):
    a, b = _pair(shape)
    x, y = tc.tensor(a), tc.tensor(b)
    got, want = mse.mse_loss(x, y, reduction).numpy(), mse.parts(x, y, reduction).numpy()
    assert got.shape == want.shape and got.dtype == want.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    g = tc.tensor(rng.standard_normal(got.shape).astype(np.float32))
    got = mse.mse_loss_backward(g, x, y, reduction).numpy()
    np.testing.assert_array_equal(got, mse.backward_parts(g, x, y, reduction).numpy())


def test_a_broadcast_or_mixed_dtype_pair_stays_the_composite_and_torchs():
    a, b = _pair((4, 3))
    with pytest.warns(UserWarning, match="different to the input size"):
        got = F.mse_loss(tc.tensor(a, requires_grad=True), tc.tensor(b[:1]))
    assert got.grad_fn.prim.name != "mse_loss"
    with pytest.warns(UserWarning):
        want = torch.nn.functional.mse_loss(torch.tensor(a), torch.tensor(b[:1]))
    assert_close(got, want)
    got = F.mse_loss(tc.tensor(a), tc.tensor(b.astype(np.float64)))
    want = torch.nn.functional.mse_loss(torch.tensor(a), torch.tensor(b.astype(np.float64)))
    assert got.dtype == tc.float64 and got.dtype.itemsize == want.dtype.itemsize
    assert_close(got, want)


def test_a_bad_reduction_is_refused_as_torch_does():
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        F.mse_loss(tc.randn(3), tc.randn(3), reduction="avg")


@pytest.mark.parametrize("whole_step", [False, True])
def test_compiled_training_steps_are_torchs(whole_step):
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4))
    model = with_torch_weights(
        tc.nn.Sequential(tc.nn.Linear(6, 16), tc.nn.Tanh(), tc.nn.Linear(16, 4)), ref)
    a, b = rng.standard_normal((32, 6)).astype(np.float32), _pair((32, 4))[0]
    steps = [train_step(model if whole_step else tc.compile(model),
                        tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), loss="mse_loss"),
             train_step(ref, torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9), torch,
                        "mse_loss")]
    if whole_step:
        steps[0] = tc.compile(steps[0])
    for _ in range(3):
        assert_close(steps[0](tc.tensor(a), tc.tensor(b)), steps[1](torch.tensor(a),
                                                                     torch.tensor(b)))
    for p, q in zip(model.parameters(), ref.parameters()):
        assert_close(p, q, what="parameter")
    if whole_step:      # decomposed into kernels: no numpy step between native calls
        log = steps[0].fusion_log["forward"]
        assert "one native call runs" in log and "python:" not in log, log
