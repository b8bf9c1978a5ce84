"""torch's ATen-level entry points that programs (and code exported from torch) call by
name: constant_pad_nd, convolution, conv_tbc, native_layer_norm, native_batch_norm,
native_group_norm, native_channel_shuffle and native_dropout. Each computes with the
nn.functional op of the same job and returns what torch's returns: native_* give tuples
with the saved statistics (mean, 1/std) that torch's backward kernels keep, which carry no
gradient, as torch's (but group norm's, which do there too).
"""
from . import composite as C
from . import composite_reduce as R
from .creation import empty, full
from .grad_fn_names import named
from .grad_mode import no_grad
from .ops import elementwise as ew
from .ops import movement as mv
from .ops.public import public
from .random import bernoulli


def _F():
    from .nn import functional  # nn imports the ops: loaded on first call
    return functional


@public("torch")
def constant_pad_nd(input, pad, value=0):  # noqa: A002
    """F.pad's constant mode (negative amounts crop)."""
    return _F().pad(input, tuple(pad), "constant", value)


@public("torch")
def convolution(input, weight, bias, stride, padding, dilation, transposed,  # noqa: A002
                output_padding, groups):
    """F.conv{1,2,3}d, or F.conv_transpose{1,2,3}d when `transposed`, by weight's dims."""
    dims = weight.ndim - 2
    if dims not in (1, 2, 3):
        raise RuntimeError(f"convolution: expected a weight of 3, 4 or 5 dims (1-, 2- or 3-D "
                           f"convolution), got {weight.ndim}")
    F = _F()
    if transposed:
        out = getattr(F, f"conv_transpose{dims}d")(input, weight, bias, tuple(stride),
                                                   tuple(padding), tuple(output_padding),
                                                   groups, tuple(dilation))
    else:
        out = getattr(F, f"conv{dims}d")(input, weight, bias, tuple(stride), tuple(padding),
                                         tuple(dilation), groups)
    return named(out, "ConvolutionBackward0", (input, weight, bias))


@public("torch")
def conv_tbc(input, weight, bias, pad=0):  # noqa: A002
    """A 1-D convolution over time of (time, batch, channels) input with a (kernel_width,
    in_channels, out_channels) weight: conv1d with the dims moved, as torch's conv_tbc."""
    if input.ndim != 3:
        raise RuntimeError("Input must have 3 dims: time, batch, in_channel")
    if weight.ndim != 3:
        raise RuntimeError("Weight tensor must have 3 dims: kernel_width, in_channels, "
                           "out_channels.")
    if bias.ndim != 1:
        raise RuntimeError("Bias must be 1-D")
    if input.shape[2] != weight.shape[1]:
        raise RuntimeError("Input dim 2 (input channels) is not == dim 1 in the weight tensor")
    if weight.shape[2] != bias.shape[0]:
        raise RuntimeError("Bias size must equal dim 2 in the weight tensor (output channels).")
    out = _F().conv1d(C.permute(input, (1, 2, 0)), C.permute(weight, (2, 1, 0)), bias,
                      padding=pad)
    return named(ew.contiguous_copy(C.permute(out, (2, 0, 1))), "ConvTbcBackward0",
                 (input, weight, bias))


def _rstd(x, dims, eps):
    """1 / sqrt(biased variance + eps) over dims, kept."""
    return ew.rsqrt(R.var(x, dims, correction=0, keepdim=True) + eps)


@public("torch")
def native_layer_norm(input, normalized_shape, weight, bias, eps):  # noqa: A002
    """(F.layer_norm's result, mean, rstd): the statistics over the normalized dims, kept
    as size-1 dims."""
    out = _F().layer_norm(input, tuple(normalized_shape), weight, bias, eps)
    dims = tuple(range(input.ndim - len(normalized_shape), input.ndim))
    with no_grad():
        mean, rstd = R.mean(input, dims, keepdim=True), _rstd(input, dims, eps)
    return named(out, "NativeLayerNormBackward0", (input, weight, bias)), mean, rstd


@public("torch")
def native_batch_norm(input, weight, bias, running_mean, running_var, training,  # noqa: A002
                      momentum, eps):
    """(F.batch_norm's result, save_mean, save_invstd): the batch's per-channel mean and
    1/std when training (the running statistics updated in place, as F.batch_norm does);
    empty tensors otherwise, as torch's CPU kernel returns."""
    out = _F().batch_norm(input, running_mean, running_var, weight, bias, training, momentum,
                          eps)
    out = named(out, "NativeBatchNormBackward0", (input, weight, bias))
    if not training:
        return out, empty(0, dtype=input.dtype), empty(0, dtype=input.dtype)
    dims = (0,) + tuple(range(2, input.ndim))
    with no_grad():
        mean = R.mean(input, dims)
        invstd = mv.reshape(_rstd(input, dims, eps), (input.shape[1],))
    return out, mean, invstd


@public("torch")
def native_group_norm(input, weight, bias, N, C, HxW, group, eps):  # noqa: A002, N803
    """(F.group_norm's result, mean, rstd), the statistics (N, group) per sample and group;
    unlike the other native norms', these carry gradients in torch, and do here."""
    if input.numel() != N * C * HxW:
        raise RuntimeError(f"Expected input to have {N * C * HxW} elements (N * C * HxW), "
                           f"but got {input.numel()}")
    out = _F().group_norm(input, group, weight, bias, eps)
    grouped = mv.reshape(input, (N, group, -1))
    mean = R.mean(grouped, (2,))
    rstd = mv.reshape(_rstd(grouped, (2,), eps), (N, group))
    return named(out, "NativeGroupNormBackward0", (input, weight, bias)), mean, rstd


@public("torch")
def native_channel_shuffle(input, groups):  # noqa: A002
    """F.channel_shuffle's values (torch's has no derivative; this one has channel_shuffle's)."""
    return _F().channel_shuffle(input, groups)


@public("torch")
def native_dropout(input, p, train):  # noqa: A002
    """(output, mask): each element kept with probability 1 - p (mask True) and scaled by
    1 / (1 - p), 0 when p is 1; when not `train`, a copy and an all-True mask. train=None
    trains, as torch's."""
    if train is False:
        return ew.clone(input), full(tuple(input.shape), True, device=input.device)
    keep = bernoulli(full(tuple(input.shape), 1 - p, dtype=input.dtype,
                          device=input.device)) if p < 1 else \
        full(tuple(input.shape), 0, dtype=input.dtype, device=input.device)
    mask = keep.bool()
    scale = 0.0 if p >= 1 else 1.0 / (1.0 - p)
    out = input * (keep * scale)
    return named(out, "NativeDropoutBackward0", (input,)), mask
