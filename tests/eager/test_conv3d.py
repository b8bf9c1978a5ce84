"""conv3d and max_pool3d (F, nn.Conv3d, nn.MaxPool3d), composed of their 2-D forms with the
depth folded into the batch: forward and gradients against torch, eager and compiled."""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

RNG = np.random.default_rng(0)

CONV = [{}, {"stride": 2}, {"padding": 1}, {"padding": (1, 2, 0), "stride": (2, 1, 2)},
        {"dilation": 2, "padding": 2}, {"groups": 2}, {"padding": "same"},
        {"padding": "valid"}]


@pytest.mark.parametrize("cfg", CONV, ids=[str(c) for c in CONV])
def test_conv3d_and_its_gradients_match_torch(cfg):
    x = RNG.standard_normal((2, 4, 7, 8, 9)).astype(np.float32)
    kh = 2 if cfg.get("padding") == "same" else 3     # 'same' with an even kernel: asymmetric
    w = RNG.standard_normal((6, 4 // cfg.get("groups", 1), 3, kh, 3)).astype(np.float32)
    b = RNG.standard_normal(6).astype(np.float32)
    results = []
    for lib in (torch, tc):
        xt, wt, bt = (lib.tensor(a, requires_grad=True) for a in (x, w, b))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")         # torch's note on even 'same' kernels
            y = lib.nn.functional.conv3d(xt, wt, bt, **cfg)
        (y * y).sum().backward()
        results.append([y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()])
        assert y.is_contiguous()
    for want, got in zip(*results):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


POOL = [{"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1},
        {"kernel_size": (2, 3, 2), "stride": 1}, {"kernel_size": 3, "dilation": 2},
        {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
        {"kernel_size": (2, 3, 3), "stride": (2, 2, 1), "dilation": (2, 1, 1), "ceil_mode": True}]


@pytest.mark.parametrize("cfg", POOL, ids=[str(c) for c in POOL])
def test_max_pool3d_and_its_gradient_match_torch(cfg):
    x = RNG.standard_normal((2, 3, 7, 8, 9)).astype(np.float32)
    results = []
    for lib in (torch, tc):
        xt = lib.tensor(x, requires_grad=True)
        y = lib.nn.functional.max_pool3d(xt, **cfg)
        (y * y).sum().backward()
        results.append([y.detach().numpy(), xt.grad.numpy()])
    for want, got in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_a_3d_conv_net_compiled_matches_torch():
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Conv3d(2, 4, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.MaxPool3d(2))
    model = tc.nn.Sequential(tc.nn.Conv3d(2, 4, 3, padding=1), tc.nn.ReLU(),
                             tc.nn.MaxPool3d(2))
    model.load_state_dict({k: tc.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    assert repr(model[0]).replace("tracecomp", "torch") == repr(ref[0])
    x = RNG.standard_normal((2, 2, 6, 6, 6)).astype(np.float32)
    compiled = tc.compile(model)
    out = compiled(tc.tensor(x))
    want = ref(torch.tensor(x))
    np.testing.assert_allclose(out.detach().numpy(), want.detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    out.sum().backward()
    want.sum().backward()
    np.testing.assert_allclose(model[0].weight.grad.numpy(), ref[0].weight.grad.numpy(),
                               rtol=1e-4, atol=1e-5)
