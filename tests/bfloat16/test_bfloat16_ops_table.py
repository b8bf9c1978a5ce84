"""One table of ops on bfloat16, value and gradient against torch 2.13.

Each row gives the most bfloat16 ulps tracecomp may be from torch, forward and backward:
0 means bit for bit (torch's kernel computes in float32 and rounds once, and so do we);
otherwise the distance is measured at the scale of the tensor's largest element
(scale_ulps), because the rows that differ are composites whose intermediate roundings
differ from torch's fused kernels, which moves near-zero elements by tiny absolute amounts.
"""

import pytest
import torch
from bf16_helpers import scale_ulps, tc_of

import tracecomp as tc


def _F(lib):
    return lib.nn.functional


OPS = {  # name: (fn(lib, x), forward ulps, backward ulps)
    "exp": (lambda L, x: x.exp(), 0, 0),
    "log": (lambda L, x: x.abs().log(), 0, 0),
    "sqrt": (lambda L, x: x.abs().sqrt(), 0, 0),
    "sin": (lambda L, x: x.sin(), 0, 0),
    "cos": (lambda L, x: x.cos(), 0, 0),
    "tanh": (lambda L, x: x.tanh(), 0, 0),
    "sigmoid": (lambda L, x: x.sigmoid(), 0, 0),
    "relu": (lambda L, x: x.relu(), 0, 0),
    "leaky_relu": (lambda L, x: _F(L).leaky_relu(x, 0.1), 0, 0),
    "hardtanh": (lambda L, x: _F(L).hardtanh(x), 0, 0),
    "square": (lambda L, x: x * x, 0, 0),
    "abs": (lambda L, x: x.abs(), 0, 0),
    "atan": (lambda L, x: x.atan(), 0, 0),
    "clamp": (lambda L, x: x.clamp(-1, 1), 0, 0),
    "where": (lambda L, x: L.where(x > 0, x, x * 0.3), 0, 0),
    "sum": (lambda L, x: x.sum(1, keepdim=True) * 1.0, 0, 0),
    "mean": (lambda L, x: x.mean(1, keepdim=True), 0, 0),
    "cumsum": (lambda L, x: x.cumsum(1), 0, 0),
    "amax": (lambda L, x: x.amax(1, keepdim=True), 0, 0),
    "softmax": (lambda L, x: L.softmax(x, 1), 0, 0),
    "log_softmax": (lambda L, x: L.log_softmax(x, 1), 0, 0),
    "l1_loss": (lambda L, x: _F(L).l1_loss(x, x.detach() * 0.5).reshape(1, 1), 0, 0),
    "rsqrt": (lambda L, x: x.abs().rsqrt(), 0, 1),
    "erf": (lambda L, x: L.erf(x), 0, 1),
    "gelu": (lambda L, x: _F(L).gelu(x), 1, 1),
    "gelu_tanh": (lambda L, x: _F(L).gelu(x, approximate="tanh"), 1, 1),
    "silu": (lambda L, x: _F(L).silu(x), 1, 1),
    "softplus": (lambda L, x: _F(L).softplus(x), 1, 1),
    "elu": (lambda L, x: _F(L).elu(x), 1, 1),
    "selu": (lambda L, x: _F(L).selu(x), 1, 1),
    "mish": (lambda L, x: _F(L).mish(x), 1, 1),
    "hardswish": (lambda L, x: _F(L).hardswish(x), 1, 1),
    "pow3": (lambda L, x: x.pow(3), 1, 1),
    "div": (lambda L, x: 1.3 / (x.abs() + 1), 1, 1),
    "var": (lambda L, x: x.var(1, keepdim=True), 0, 1),
    "std": (lambda L, x: x.std(1, keepdim=True), 0, 1),
    "logsumexp": (lambda L, x: L.logsumexp(x, 1, keepdim=True), 1, 1),
    "norm": (lambda L, x: x.norm(dim=1, keepdim=True), 1, 1),
    "layer_norm": (lambda L, x: _F(L).layer_norm(x, (40,)), 0, 1),
    "group_norm": (lambda L, x: _F(L).group_norm(x.reshape(2, 4, 40), 2).reshape(8, 40),
                   0, 1),
    "batch_norm": (lambda L, x: _F(L).batch_norm(x, None, None, training=True), 1, 1),
    "rms_norm": (lambda L, x: _F(L).rms_norm(x, (40,)), 1, 1),
    "mse_loss": (lambda L, x: _F(L).mse_loss(x, x.detach() * 0.5).reshape(1, 1), 0, 1),
    "smooth_l1": (lambda L, x: _F(L).smooth_l1_loss(x, x.detach() * 0.5).reshape(1, 1), 0, 1),
    # torch's fused kernel rounds (1 - sigmoid) * target terms differently from ours
    "bce_with_logits": (lambda L, x: _F(L).binary_cross_entropy_with_logits(
        x, (x.detach() > 0).to(x.dtype)).reshape(1, 1), 0, 4),
}


@pytest.mark.parametrize("name", list(OPS))
def test_op_value_and_gradient(name):
    fn, fwd, bwd = OPS[name]
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(8, 40, generator=g) * 2).bfloat16()
    r = torch.randn(8, 40, generator=g).bfloat16()
    xt, xc = x.clone().requires_grad_(), tc_of(x).requires_grad_()
    yt, yc = fn(torch, xt), fn(tc, xc)
    assert yc.dtype is tc.bfloat16 and yt.dtype is torch.bfloat16
    got = scale_ulps(yc, yt)
    assert got <= fwd, f"{name} forward: {got} ulps (allowed {fwd})"
    weights = r[: yt.shape[0], : yt.shape[1]]
    (yt * weights).sum().backward()
    (yc * tc_of(weights)).sum().backward()
    assert xc.grad.dtype is tc.bfloat16
    got = scale_ulps(xc.grad, xt.grad)
    assert got <= bwd, f"{name} backward: {got} ulps (allowed {bwd})"
