"""F.affine_grid and F.grid_sample (the spatial transformer tutorial) against torch 2.13:
grids, samples and the gradients to the image and to theta, for 2-D and 3-D inputs, both
modes, the three paddings and both corner conventions; a spatial transformer's training
steps eager and compiled; the errors."""
import itertools
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

CASES = list(itertools.product((2, 3), ("bilinear", "nearest"),
                               ("zeros", "border", "reflection"), (False, True)))


def _sample(lib, k, mode, padding, align):
    rng = np.random.default_rng(k)
    shape, out = ((2, 3, 5, 6), (2, 3, 4, 7)) if k == 2 else ((2, 2, 3, 4, 5), (2, 2, 3, 3, 4))
    x = lib.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)
    # scaled past [-1, 1]: points outside the input, where the paddings differ
    theta = (np.tile(np.eye(k, k + 1), (2, 1, 1))
             + 0.3 * rng.standard_normal((2, k, k + 1))) * 1.4
    theta = lib.tensor(theta.astype(np.float32), requires_grad=True)
    grid = lib.nn.functional.affine_grid(theta, out, align_corners=align)
    y = lib.nn.functional.grid_sample(x, grid, mode=mode, padding_mode=padding,
                                      align_corners=align)
    weights = np.arange(y.numel(), dtype=np.float32).reshape(tuple(y.shape)) / 10
    (y * lib.tensor(weights)).sum().backward()
    return grid, y, x.grad, theta.grad


@pytest.mark.parametrize("k,mode,padding,align", CASES,
                         ids=[f"{k}d-{m}-{p}-{'ac' if a else 'edges'}" for k, m, p, a in CASES])
def test_grid_sample_as_torch(k, mode, padding, align):
    got = _sample(tc, k, mode, padding, align)
    want = _sample(torch, k, mode, padding, align)
    # theta's gradient sums over every output point: float32 sums in another order
    for name, g, w, rtol in zip(("grid", "sample", "input grad", "theta grad"), got, want,
                                (1e-5, 1e-5, 1e-5, 1e-4)):
        assert_close(g, w.detach(), what=name, rtol=rtol, atol=1e-5)


def _transformer(lib):
    nn, F = lib.nn, lib.nn.functional

    class SpatialTransformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.loc = nn.Sequential(nn.Conv2d(1, 4, 5), nn.MaxPool2d(2), nn.ReLU(),
                                     nn.Flatten(), nn.Linear(4 * 6 * 6, 6))
            self.fc = nn.Linear(16 * 16, 3)

        def forward(self, x):
            theta = self.loc(x).view(-1, 2, 3)
            grid = F.affine_grid(theta, x.size(), align_corners=False)
            x = F.grid_sample(x, grid, align_corners=False)
            return F.log_softmax(self.fc(x.flatten(1)), 1)
    return SpatialTransformer()


def test_spatial_transformer_trains_as_torch_eager_and_compiled():
    rng = np.random.default_rng(0)
    reference = _transformer(torch)
    weights = {k: v.detach().numpy().copy() for k, v in reference.state_dict().items()}
    x = rng.standard_normal((8, 1, 16, 16)).astype(np.float32)
    y = rng.integers(0, 3, 8)

    def train(lib, model):
        opt = lib.optim.SGD(model.parameters(), 0.05)
        losses = []
        for _ in range(3):
            opt.zero_grad()
            loss = lib.nn.functional.nll_loss(model(lib.tensor(x)), lib.tensor(y))
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses
    want = train(torch, reference)
    for compiled in (False, True):
        model = _transformer(tc)
        model.load_state_dict({k: tc.tensor(v) for k, v in weights.items()})
        got = train(tc, tc.compile(model) if compiled else model)
        # 3 SGD steps through grid_sample's bilinear weights amplify the order of float32
        # sums, which differs with the thread split (2 threads: up to 1.5e-4 either side)
        np.testing.assert_allclose(got, want, rtol=5e-4, err_msg=f"compiled={compiled}")


def test_errors_name_what_is_valid():
    F = tc.nn.functional
    x, grid = tc.zeros(1, 1, 4, 4), tc.zeros(1, 2, 2, 2)
    with pytest.raises(ValueError, match="bicubic is not provided"):
        F.grid_sample(x, grid, mode="bicubic")
    with pytest.raises(ValueError, match="'zeros', 'border', or 'reflection'"):
        F.grid_sample(x, grid, padding_mode="wrap")
    with pytest.raises(tc.ShapeError, match=r"grid \[1, 2, 2, 3\]"):
        F.grid_sample(x, tc.zeros(1, 2, 2, 3))
    with pytest.raises(tc.ShapeError, match=r"Nx2x3.*shape \[1, 3, 4\]"):
        F.affine_grid(tc.zeros(1, 3, 4), (1, 1, 4, 4))
    with pytest.raises(NotImplementedError, match="4D and 5D sizes"):
        F.affine_grid(tc.zeros(1, 2, 3), (1, 4, 4))


def test_default_corners_warn_as_torch():
    F = tc.nn.functional
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        grid = F.affine_grid(tc.eye(2, 3)[None], (1, 1, 2, 2))
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.grid_sample(tc.ones(1, 1, 2, 2), grid)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.grid_sample(tc.ones(1, 1, 2, 2), F.affine_grid(tc.eye(2, 3)[None], (1, 1, 2, 2),
                                                         align_corners=False),
                      align_corners=False)
