"""Pooling whose windows tile the input (stride == kernel, no padding or dilation:
nn.MaxPool2d(2)) with no gradient to carry back reads the windows as a view of the input
(nn/functional_conv.py `_tiles`) instead of unfold's columns, and its argmax + gather
becomes one max (passes/algebra.py `_gather_of_argmax`). Values, indices and gradients
against torch, eager and compiled, on both paths, with ties (relu's zeros), NaNs and sizes
the windows do not cover."""
import numpy as np
import pytest

import tracecomp as tc
import tracecomp.nn.functional as F

torch = pytest.importorskip("torch")

CASES = [                       # input shape, kernel
    ((2, 3, 8, 6), 2),
    ((2, 3, 9, 7), 2),          # floor mode: the last row and column are not pooled
    ((1, 2, 9, 9), 3),
    ((2, 2, 6, 9), (2, 3)),
]


def inputs(shape, seed=0):
    """Values with ties: relu zeros whole windows, and repeated maxima."""
    rng = np.random.default_rng(seed)
    x = np.maximum(rng.standard_normal(shape), 0).astype(np.float32)
    x[..., ::3] = np.round(x[..., ::3])
    return x


@pytest.mark.parametrize("shape,kernel", CASES)
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_max_pool_values_indices_and_gradient_match_torch(shape, kernel, compiled):
    x = inputs(shape)
    g = np.random.default_rng(1).standard_normal(
        torch.nn.functional.max_pool2d(torch.tensor(x), kernel).shape).astype(np.float32)

    def ours(x, g):
        y, idx = F.max_pool2d(x, kernel, return_indices=True)
        (y * g).sum().backward()
        return y, idx
    step = tc.compile(ours) if compiled else ours
    xt = tc.tensor(x, requires_grad=True)
    y, idx = step(xt, tc.tensor(g))
    want = torch.tensor(x, requires_grad=True)
    wy, widx = torch.nn.functional.max_pool2d(want, kernel, return_indices=True)
    (wy * torch.tensor(g)).sum().backward()
    np.testing.assert_array_equal(y.detach().numpy(), wy.detach().numpy())
    np.testing.assert_array_equal(idx.numpy(), widx.numpy())
    np.testing.assert_array_equal(xt.grad.numpy(), want.grad.numpy())


@pytest.mark.parametrize("shape,kernel", CASES)
def test_inference_max_pool_is_one_max_over_a_view_of_the_input(shape, kernel):
    x = inputs(shape)
    x[0, 0, 0, 0] = np.nan                          # a NaN wins its window, as in torch
    f = tc.compile(lambda x: F.max_pool2d(tc.relu(x * 2.0), kernel))
    with tc.no_grad():
        got = f(tc.tensor(x))
    want = torch.nn.functional.max_pool2d(torch.relu(torch.tensor(x) * 2.0), kernel)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    log = f.fusion_log["forward"]
    kernels = [line for line in log.splitlines() if line.startswith("kernel")]
    assert len(kernels) == 1 and "reduce_max" in kernels[0] and "relu" in kernels[0], log
    assert "unfold" not in log and "argmax" not in log


def test_with_a_gradient_the_windows_are_unfolded_and_the_argmax_kept():
    x = tc.tensor(inputs((2, 3, 8, 6)), requires_grad=True)
    f = tc.compile(lambda x: F.max_pool2d(x, 2).sum())
    f(x).backward()
    logs = "\n".join(f.fusion_log.values())
    assert "argmax" in logs and "unfold" in logs and "fold" in logs
    want = torch.tensor(x.detach().numpy(), requires_grad=True)
    torch.nn.functional.max_pool2d(want, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), want.grad.numpy())


@pytest.mark.parametrize("shape,kernel", CASES)
def test_avg_pool_of_tiles_matches_torch(shape, kernel):
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    want = torch.nn.functional.avg_pool2d(torch.tensor(x), kernel).numpy()
    np.testing.assert_allclose(F.avg_pool2d(tc.tensor(x), kernel).numpy(), want, rtol=1e-6)
    f = tc.compile(lambda x: F.avg_pool2d(x, kernel))
    np.testing.assert_allclose(f(tc.tensor(x)).numpy(), want, rtol=1e-6, atol=1e-7)
    assert "unfold" not in f.fusion_log["forward"]


@pytest.mark.parametrize("shape,kernel", CASES)
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_indices_of_tiles_match_torch(shape, kernel, compiled):
    x = inputs(shape, seed=3)

    def pool(x):
        return F.max_pool2d(x, kernel, return_indices=True)
    with tc.no_grad():
        y, idx = (tc.compile(pool) if compiled else pool)(tc.tensor(x))
    wy, widx = torch.nn.functional.max_pool2d(torch.tensor(x), kernel, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), wy.numpy())
    np.testing.assert_array_equal(idx.numpy(), widx.numpy())
