"""Folding an eval-mode batch norm into the conv or linear layer before it (torch.nn.utils.
fusion), as inference and quantization scripts do: y = bn(conv(x)) becomes one conv whose
weight is scaled per output channel by gamma / sqrt(var + eps) and whose bias is
(b - mean) * gamma / sqrt(var + eps) + beta, so the batch norm's work disappears."""
import copy

from ...creation import ones_like, zeros_like
from ...grad_mode import no_grad
from ..parameter import Parameter


def _fused_scale(bn_rm, bn_rv, bn_eps, bn_w):
    """gamma / sqrt(var + eps) per channel (gamma 1 without an affine weight)."""
    return (ones_like(bn_rm) if bn_w is None else bn_w) * (bn_rv + bn_eps).rsqrt()


def _fused_bias(bias, bn_rm, scale, bn_b):
    bias = zeros_like(bn_rm) if bias is None else bias
    return (bias - bn_rm) * scale + (zeros_like(bn_rm) if bn_b is None else bn_b)


def fuse_conv_bn_weights(conv_w, conv_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b, transpose=False):
    """(weight, bias) Parameters of the conv that computes bn(conv(x)) in eval mode; a
    transposed conv's output channels are its weight's dim 1."""
    bias_dtype = conv_w.dtype if conv_b is None else conv_b.dtype
    scale = _fused_scale(bn_rm, bn_rv, bn_eps, bn_w)
    shape = ([1, -1] if transpose else [-1, 1]) + [1] * (conv_w.dim() - 2)
    weight = (conv_w * scale.reshape(shape)).to(conv_w.dtype)
    bias = _fused_bias(conv_b, bn_rm, scale, bn_b).to(bias_dtype)
    return (Parameter(weight, conv_w.requires_grad),
            Parameter(bias, True if conv_b is None else conv_b.requires_grad))


def fuse_linear_bn_weights(linear_w, linear_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b):
    """(weight, bias) Parameters of the linear layer that computes bn(linear(x)) in eval
    mode."""
    bias_dtype = linear_w.dtype if linear_b is None else linear_b.dtype
    scale = _fused_scale(bn_rm, bn_rv, bn_eps, bn_w)
    weight = linear_w * scale.unsqueeze(-1).to(linear_w.dtype)
    bias = _fused_bias(linear_b, bn_rm, scale, bn_b).to(bias_dtype)
    return (Parameter(weight, linear_w.requires_grad),
            Parameter(bias, True if linear_b is None else linear_b.requires_grad))


def _checked(layer, bn):
    if layer.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    if bn.running_mean is None or bn.running_var is None:
        raise AssertionError("batch norm without running statistics cannot be fused")


def fuse_conv_bn_eval(conv, bn, transpose=False):
    """A copy of `conv` that computes bn(conv(x)); both must be in eval mode."""
    _checked(conv, bn)
    fused = copy.deepcopy(conv)
    with no_grad():
        fused.weight, fused.bias = fuse_conv_bn_weights(
            fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight,
            bn.bias, transpose)
    return fused


def fuse_linear_bn_eval(linear, bn):
    """A copy of `linear` that computes bn(linear(x)); both must be in eval mode, and the
    batch norm's features must be the linear layer's outputs (or one, broadcast)."""
    _checked(linear, bn)
    if linear.out_features != bn.num_features and bn.num_features != 1:
        raise AssertionError("To fuse, linear.out_features == bn.num_features or "
                             "bn.num_features == 1")
    fused = copy.deepcopy(linear)
    with no_grad():
        fused.weight, fused.bias = fuse_linear_bn_weights(
            fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight,
            bn.bias)
    return fused
