"""Results laid out as torch's: ops torch answers with a fresh row-major tensor answer so
here too, so `out.view(out.shape[0], -1)` (after a convolution, an upsampling, an index
along an inner dim) works as in torch instead of raising that the view needs a reshape.
Each case compares strides and contiguity with torch and then views the result flat."""
import numpy as np
import pytest
import torch

import tracecomp as tc

RNG = np.random.default_rng(0)


def arr(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


X4, X3 = arr(16, 8, 6, 6), arr(16, 8, 10)
W2, W1, WT2 = arr(12, 8, 3, 3), arr(12, 8, 3), arr(8, 5, 3, 3)
B12, BIG, W_BIG, W_GROUPS, X_SHUFFLE = arr(12), arr(64, 3, 32, 32), arr(16, 3, 5, 5), \
    arr(12, 4, 3, 3), arr(2, 8, 3, 3)
IDX = np.array([0, 2])

CASES = {
    "conv2d": lambda L, F: F.conv2d(L.tensor(X4), L.tensor(W2), None, padding=1),
    "conv2d with bias": lambda L, F: F.conv2d(L.tensor(X4), L.tensor(W2), L.tensor(B12)),
    "conv2d stride 2": lambda L, F: F.conv2d(L.tensor(X4), L.tensor(W2), None, stride=2),
    "conv2d large batch": lambda L, F: F.conv2d(L.tensor(BIG), L.tensor(W_BIG), None),
    "conv2d groups": lambda L, F: F.conv2d(L.tensor(X4), L.tensor(W_GROUPS), None, groups=2),
    "conv1d": lambda L, F: F.conv1d(L.tensor(X3), L.tensor(W1), None, padding=1),
    "conv_transpose2d": lambda L, F: F.conv_transpose2d(L.tensor(X4), L.tensor(WT2), None,
                                                        stride=2),
    "interpolate nearest": lambda L, F: F.interpolate(L.tensor(X4), scale_factor=2),
    "interpolate bilinear": lambda L, F: F.interpolate(L.tensor(X4), scale_factor=2,
                                                       mode="bilinear"),
    "interpolate aligned": lambda L, F: F.interpolate(L.tensor(X4), size=(9, 9),
                                                      mode="bilinear", align_corners=True),
    "index_select dim 1": lambda L, F: L.tensor(X3).index_select(1, L.tensor(IDX)),
    "index a list on dim 1": lambda L, F: L.tensor(X3)[:, [0, 2]],
    "index two lists": lambda L, F: L.tensor(X3)[:, [0, 2], [1, 3]],
    "max_pool2d": lambda L, F: F.max_pool2d(L.tensor(X4), 2),
    "pixel_shuffle": lambda L, F: F.pixel_shuffle(L.tensor(X_SHUFFLE), 2),
}


@pytest.mark.parametrize("name", CASES)
def test_layout_and_flat_view_follow_torch(name):
    ref = CASES[name](torch, torch.nn.functional)
    out = CASES[name](tc, tc.nn.functional)
    assert out.is_contiguous() == ref.is_contiguous()
    assert tuple(out.stride()) == tuple(ref.stride())
    flat = out.view(out.shape[0], -1)
    np.testing.assert_allclose(flat.numpy(), ref.view(ref.shape[0], -1).numpy(),
                               rtol=1e-5, atol=1e-5)


def test_a_dcgan_discriminator_head_views_its_conv_output():
    """PyTorch-GAN's discriminators: conv blocks, then out.view(out.shape[0], -1) into a
    Linear, forward and backward."""
    torch.manual_seed(0)

    def model(L):
        return L.nn.Sequential(L.nn.Conv2d(1, 16, 3, 2, 1), L.nn.LeakyReLU(0.2),
                               L.nn.Conv2d(16, 32, 3, 2, 1))

    ref, ours = model(torch), model(tc)
    ours.load_state_dict({k: tc.tensor(v.detach().numpy()) for k, v in
                          ref.state_dict().items()})
    x = arr(16, 1, 8, 8)
    outs = []
    for lib, m in ((torch, ref), (tc, ours)):
        out = m(lib.tensor(x))
        flat = out.view(out.shape[0], -1)
        (flat ** 2).sum().backward()
        outs.append((flat.detach().numpy(), m[0].weight.grad.numpy()))
    for a, b in zip(*outs):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("padding", [0, 1, 2])
def test_a_convolutions_input_gradient_is_row_major(padding):
    """WGAN-GP's penalty views the input gradient flat (gradients.view(n, -1)); the
    gradient of a padded convolution came back as a window of the padded buffer."""
    x = arr(2, 3, 8, 8)
    w = arr(4, 3, 3, 3)
    grads = []
    for lib in (torch, tc):
        xt = lib.tensor(x, requires_grad=True)
        out = lib.nn.functional.conv2d(xt, lib.tensor(w), None, padding=padding)
        g, = lib.autograd.grad(out.sum(), xt)
        assert g.is_contiguous() and tuple(g.stride()) == (192, 64, 8, 1)
        grads.append(g.view(g.size(0), -1).numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-5, atol=1e-5)
    folded = tc.nn.functional.fold(tc.tensor(arr(2, 27, 64)), (8, 8), 3, padding=1)
    assert folded.is_contiguous()
