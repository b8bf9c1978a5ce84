"""Layers and nn.utils that programs name and tracecomp lacked: LPPool1d/2d/3d,
ChannelShuffle, MultiLabelMarginLoss, nn.Buffer, the batch-norm fusions, skip_init and
the conv-weight memory formats, each against torch 2.13."""
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tracecomp as tc
import tracecomp.nn.functional as F

from helpers import assert_close, to_tc


def _outcome(fn):
    try:
        return np.asarray(fn().detach().numpy())
    except Exception as e:      # noqa: BLE001 - the exception is what is compared
        builtin = next(c for c in type(e).__mro__ if c.__module__ == "builtins")
        return builtin.__name__, str(e)


LP = [(1, (2, 3, 9), dict(norm_type=2, kernel_size=3)),
      (1, (3, 8), dict(norm_type=1.5, kernel_size=2, stride=1, ceil_mode=True)),
      (2, (2, 3, 7, 6), dict(norm_type=2, kernel_size=3, stride=2)),
      (2, (3, 6, 6), dict(norm_type=3, kernel_size=(2, 3), ceil_mode=True)),
      (2, (2, 2, 5, 5), dict(norm_type=1, kernel_size=2)),
      (3, (2, 2, 4, 5, 6), dict(norm_type=2, kernel_size=2)),
      (3, (2, 5, 5, 5), dict(norm_type=4, kernel_size=3, stride=2, ceil_mode=True))]


@pytest.mark.parametrize("dims,shape,kw", LP, ids=[str(i) for i in range(len(LP))])
def test_lp_pool_values_gradients_and_modules_are_torchs(dims, shape, kw):
    x = torch.randn(*shape, requires_grad=True)
    y = to_tc(x)
    out_t = getattr(TF, f"lp_pool{dims}d")(x, **kw)
    out_c = getattr(F, f"lp_pool{dims}d")(y, **kw)
    assert_close(out_c, out_t, atol=1e-5)
    w = torch.randn(out_t.shape)
    # odd norms of negative windows are clamped to 0 before the root: NaN gradients there,
    # in both; compare where torch's is finite
    (out_t * w).sum().backward()
    (out_c * to_tc(w)).sum().backward()
    finite = np.isfinite(x.grad.numpy())
    np.testing.assert_allclose(y.grad.numpy()[finite], x.grad.numpy()[finite], atol=1e-4,
                               rtol=1e-4)
    assert np.array_equal(np.isfinite(y.grad.numpy()), finite)
    module_t = getattr(torch.nn, f"LPPool{dims}d")(**kw)
    module_c = getattr(tc.nn, f"LPPool{dims}d")(**kw)
    assert repr(module_c) == repr(module_t)
    assert_close(module_c(y), module_t(x), atol=1e-5)


def test_channel_shuffle_module_is_torchs():
    x = torch.randn(2, 6, 3, 3)
    assert repr(tc.nn.ChannelShuffle(3)) == repr(torch.nn.ChannelShuffle(3))
    assert_close(tc.nn.ChannelShuffle(3)(to_tc(x)), torch.nn.ChannelShuffle(3)(x))


TARGETS = [[[3, 0, -1, 1, 2], [1, 1, -1, 0, 0], [-1, 2, 3, 4, 0]],
           [[0, 1, 2, 3, 4], [4, -1, -1, -1, -1], [2, 2, 2, -1, 1]]]


@pytest.mark.parametrize("target", TARGETS, ids=["mixed", "full-and-repeated"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_multilabel_margin_loss_is_torchs(target, reduction):
    x = torch.randn(3, 5, requires_grad=True)
    y = to_tc(x)
    t = torch.tensor(target)
    loss_t = TF.multilabel_margin_loss(x, t, reduction=reduction)
    loss_c = F.multilabel_margin_loss(y, to_tc(t), reduction=reduction)
    assert_close(loss_c, loss_t, atol=1e-6)
    loss_t.sum().backward()
    loss_c.sum().backward()
    assert_close(y.grad, x.grad, atol=1e-6)
    assert_close(tc.nn.MultiLabelMarginLoss(reduction=reduction)(y[0], to_tc(t[0])),
                 torch.nn.MultiLabelMarginLoss(reduction=reduction)(x[0], t[0]), atol=1e-6)


@pytest.mark.parametrize("call", [
    lambda f, x, t: f.multilabel_margin_loss(x, t + 5),
    lambda f, x, t: f.multilabel_margin_loss(x, t - 3),
    lambda f, x, t: f.multilabel_margin_loss(x, t[:2]),
    lambda f, x, t: f.multilabel_margin_loss(x, t.float()),
    lambda f, x, t: f.multilabel_margin_loss(x, t, reduction="max"),
])
def test_multilabel_margin_loss_errors_are_torchs(call):
    x, t = torch.randn(3, 5), torch.tensor(TARGETS[0])
    got, want = _outcome(lambda: call(F, to_tc(x), to_tc(t))), _outcome(lambda: call(TF, x, t))
    # torch's message, which tracecomp's may go on from (naming what would be valid)
    assert got[0] == want[0] and got[1].startswith(want[1]), (got, want)


def test_compiled_multilabel_margin_loss_gives_eagers_numbers():
    def f(x, t):
        return F.multilabel_margin_loss(x * 2, t)

    x, t = tc.randn(3, 5), tc.tensor(TARGETS[1])
    assert_close(tc.compile(f, fullgraph=True)(x, t), f(x, t))


class _WithBuffers:
    @staticmethod
    def build(lib):
        class M(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = lib.nn.Linear(2, 2)
                self.scale = lib.nn.Buffer(lib.ones(2) * 3)
                self.cache = lib.nn.Buffer(lib.zeros(1), persistent=False)

            def forward(self, x):
                return self.lin(x) * self.scale
        return M()


def test_buffers_assigned_as_nn_buffer_register_as_torchs():
    b = tc.nn.Buffer(tc.ones(2, requires_grad=True))
    assert isinstance(b, tc.nn.Buffer) and not isinstance(tc.ones(2), tc.nn.Buffer)
    assert b.requires_grad and b.persistent and b.grad_fn is None
    assert tc.nn.Buffer().shape == torch.nn.Buffer().shape == (0,)
    ref, ours = _WithBuffers.build(torch), _WithBuffers.build(tc)
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in ref.named_buffers()]
    ours.load_state_dict({k: to_tc(v) for k, v in ref.state_dict().items()})
    x = torch.randn(4, 2)
    assert_close(tc.compile(ours)(to_tc(x)), ref(x))
    with pytest.raises(TypeError, match="cannot assign .* as parameter 'lin'|parameter"):
        ours.lin.weight = tc.nn.Buffer(tc.zeros(2, 2))


def _conv_bn(lib, transpose=False, conv_bias=True, affine=True):
    conv = (lib.nn.ConvTranspose2d(3, 4, 3, bias=conv_bias) if transpose else
            lib.nn.Conv2d(3, 4, 3, bias=conv_bias))
    return conv, lib.nn.BatchNorm2d(4, affine=affine)


@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("conv_bias,affine", [(True, True), (False, True), (True, False)])
def test_fuse_conv_bn_eval_computes_bn_of_conv_as_torch(transpose, conv_bias, affine):
    torch.manual_seed(0)
    conv_t, bn_t = _conv_bn(torch, transpose, conv_bias, affine)
    conv_c, bn_c = _conv_bn(tc, transpose, conv_bias, affine)
    with torch.no_grad():       # running statistics and affine values away from 0 and 1
        bn_t.running_mean.uniform_(-1, 1)
        bn_t.running_var.uniform_(0.5, 2)
        if affine:
            bn_t.weight.uniform_(0.5, 2)
            bn_t.bias.uniform_(-1, 1)
    conv_c.load_state_dict({k: to_tc(v) for k, v in conv_t.state_dict().items()})
    bn_c.load_state_dict({k: to_tc(v) for k, v in bn_t.state_dict().items()})
    for m in (conv_t, bn_t, conv_c, bn_c):
        m.eval()
    fused_t = torch.nn.utils.fuse_conv_bn_eval(conv_t, bn_t, transpose)
    fused_c = tc.nn.utils.fuse_conv_bn_eval(conv_c, bn_c, transpose)
    assert isinstance(fused_c.bias, tc.nn.Parameter) and fused_c is not conv_c
    assert_close(fused_c.weight, fused_t.weight, atol=1e-6)
    assert_close(fused_c.bias, fused_t.bias, atol=1e-6)
    x = torch.randn(2, 3, 6, 6)
    assert_close(fused_c(to_tc(x)), bn_t(conv_t(x)), atol=1e-5)


def test_fuse_linear_bn_eval_and_the_eval_check_are_torchs():
    torch.manual_seed(0)
    lin_t, bn_t = torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4)
    lin_c, bn_c = tc.nn.Linear(3, 4), tc.nn.BatchNorm1d(4)
    with pytest.raises(AssertionError, match="Fusion only for eval!"):
        tc.nn.utils.fuse_linear_bn_eval(lin_c, bn_c)
    with torch.no_grad():
        bn_t.running_mean.uniform_(-1, 1)
        bn_t.running_var.uniform_(0.5, 2)
    lin_c.load_state_dict({k: to_tc(v) for k, v in lin_t.state_dict().items()})
    bn_c.load_state_dict({k: to_tc(v) for k, v in bn_t.state_dict().items()})
    for m in (lin_t, bn_t, lin_c, bn_c):
        m.eval()
    fused_t = torch.nn.utils.fuse_linear_bn_eval(lin_t, bn_t)
    fused_c = tc.nn.utils.fuse_linear_bn_eval(lin_c, bn_c)
    x = torch.randn(5, 3)
    assert_close(fused_c(to_tc(x)), fused_t(x), atol=1e-6)
    assert_close(fused_c(to_tc(x)), bn_t(lin_t(x)), atol=1e-5)


def test_skip_init_builds_the_module_and_refuses_as_torch():
    made = tc.nn.utils.skip_init(tc.nn.Linear, 3, 4, bias=False)
    assert repr(made) == repr(torch.nn.utils.skip_init(torch.nn.Linear, 3, 4, bias=False))

    class NoDevice(tc.nn.Module):
        def __init__(self, a):
            super().__init__()

    with pytest.raises(RuntimeError, match=re.escape(
            "Module must support a 'device' arg to skip initialization")):
        tc.nn.utils.skip_init(NoDevice, 3)
    with pytest.raises(RuntimeError, match="Expected a Module"):
        tc.nn.utils.skip_init(int, 3)


def test_conv_weight_memory_format_conversions_lay_out_weights_as_torchs():
    def model(lib):
        return lib.nn.Sequential(lib.nn.Conv2d(3, 4, 3), lib.nn.Sequential(
            lib.nn.ConvTranspose2d(4, 2, 3)), lib.nn.Conv3d(2, 2, 1), lib.nn.Linear(2, 2))
    ref, ours = model(torch), model(tc)
    torch.nn.utils.convert_conv2d_weight_memory_format(ref, torch.channels_last)
    tc.nn.utils.convert_conv2d_weight_memory_format(ours, tc.channels_last)
    torch.nn.utils.convert_conv3d_weight_memory_format(ref, torch.channels_last_3d)
    tc.nn.utils.convert_conv3d_weight_memory_format(ours, tc.channels_last_3d)
    assert [p.stride() for p in ours.parameters()] == [p.stride() for p in ref.parameters()]
    assert all(isinstance(p, tc.nn.Parameter) for p in ours.parameters())
