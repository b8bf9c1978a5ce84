"""conv3d, conv_transpose3d, max_pool3d and avg_pool3d for tracecomp.nn.functional,
composed of their 2-D forms.

The depth is folded into the batch: for each depth tap t of the kernel, the input's depth
slices that tap reads (start t * dilation, every stride-th) are a batch of images, which
conv2d (max_pool2d, avg_pool2d) takes with that tap's 2-D weight (window); the taps'
results are summed (maximized; summed, then divided by each window's depth count). A
3x3x3 kernel is three batched conv2d products, eager and compiled alike, and the gradients
come through the same ops: nothing here has a VJP of its own.

conv_transpose3d is the adjoint: every input depth slice goes through each tap's 2-D
transposed convolution, and tap t's result lands on the output depths t * dilation +
stride * i (a pad with interior padding, which also crops `padding` and grows
`output_padding`).
"""
import math

import numpy as np

from .. import composite as C
from ..amp.cpu_policy import FP32, LOWER, autocast_op
from ..creation import tensor
from ..errors import ShapeError, fmt_shape
from ..opmath import in_float32
from ..ops import elementwise as ew
from ..ops import movement as mv
from .functional_conv import (
    _pool_out,
    avg_pool2d,
    check_divisor,
    conv2d,
    conv_padding,
    max_pool2d,
)
from .functional_conv_nd import (
    _batched,
    _check_weight,
    _tuple,
    conv_transpose_planes,
    transposed_args,
    transposed_sizes,
)

_KEEP = (0, 0, 0)       # a pad config entry that leaves its dim alone


def _depth_padded(x, low, high, value):
    """x (N, C, D, H, W) grown by `low` and `high` planes of `value` along the depth."""
    if not (low or high):
        return x
    return mv.pad(x, (_KEEP, _KEEP, (low, high, 0), _KEEP, _KEEP), value)


def _taps(x, start, stride, count):
    """The depth slices one tap reads, as a batch of (N * count) images (N, C, H, W)."""
    n, c, _, h, w = x.shape
    sl = x[:, :, start:start + stride * (count - 1) + 1:stride]
    return C.reshape(C.permute(sl, (0, 2, 1, 3, 4)), (n * count, c, h, w))


def _unfolded(y, n, count):
    """(N * count, C, H, W) back to (N, C, count, H, W), as a view."""
    _, c, h, w = y.shape
    return C.permute(C.reshape(y, (n, count, c, h, w)), (0, 2, 1, 3, 4))


def _over_taps(x, kernel, stride, dilation, count, plane_op, combine):
    """plane_op(images, t) for each depth tap t, combined (row-major (N, C', count, H', W'),
    as torch's)."""
    out = None
    for t in range(kernel):
        y = plane_op(_taps(x, t * dilation, stride, count), t)
        out = y if out is None else combine(out, y)
    return ew.dense(_unfolded(out, x.shape[0], count))


@autocast_op(LOWER)
@in_float32(mixed=False)
def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv3d: (N, C, D, H, W) with an (O, C/groups, kd, kh, kw) weight."""
    x, unbatched = _batched("conv3d", input, 3)
    _check_weight("conv3d", x, weight, bias, groups, False)
    stride, dilation = _tuple(stride, 3), _tuple(dilation, 3)
    kd = weight.shape[2]
    pads = conv_padding(padding, tuple(weight.shape[2:]), dilation, stride)
    if any(lo != hi for lo, hi in pads[1:]):     # 'same' with an even kernel: asymmetric
        x = mv.pad(x, (_KEEP, _KEEP, _KEEP) + tuple((lo, hi, 0) for lo, hi in pads[1:]), 0.0)
        inner = (0, 0)
    else:
        inner = (pads[1][0], pads[2][0])
    x = _depth_padded(x, pads[0][0], pads[0][1], 0.0)
    count = (x.shape[2] - dilation[0] * (kd - 1) - 1) // stride[0] + 1
    if count <= 0:
        raise ShapeError(f"conv3d: input of depth {input.shape[-3]} (padding {pads[0]}) is "
                         f"smaller than the kernel depth {kd} (dilation {dilation[0]}), "
                         f"input {fmt_shape(input.shape)}")
    out = _over_taps(x, kd, stride[0], dilation[0], count,
                     lambda images, t: conv2d(images, weight[:, :, t], None, stride[1:], inner,
                                              dilation[1:], groups), ew.add)
    if bias is not None:
        out = out + C.reshape(bias, (1, -1, 1, 1, 1))
    return C.squeeze(out, 0) if unbatched else out


@autocast_op(LOWER)
@in_float32(mixed=False)
def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """torch's conv_transpose3d: weight (Cin, Cout/groups, kd, kh, kw)."""
    x, unbatched, stride, padding, output_padding, dilation = transposed_args(
        "conv_transpose3d", 3, input, weight, bias, stride, padding, output_padding, groups,
        dilation)
    kd = weight.shape[2]
    transposed_sizes("conv_transpose3d", x, weight.shape[2:], stride, padding, output_padding,
                     dilation)
    n, cin, depth, h, w = x.shape
    planes = C.reshape(C.permute(x, (0, 2, 1, 3, 4)), (n * depth, cin, h, w))
    out = None
    for t in range(kd):
        y = _unfolded(conv_transpose_planes(planes, weight[:, :, t], stride[1:], padding[1:],
                                            output_padding[1:], groups, dilation[1:]),
                      n, depth)
        # input depth i lands on t*d + s*i of the uncropped output, whose first `padding`
        # planes are cropped and which ends d*(kd-1) + output_padding - padding past it
        low = t * dilation[0] - padding[0]
        high = dilation[0] * (kd - 1 - t) + output_padding[0] - padding[0]
        y = mv.pad(y, (_KEEP, _KEEP, (low, high, stride[0] - 1), _KEEP, _KEEP), 0.0)
        out = y if out is None else out + y
    if bias is not None:
        out = out + C.reshape(bias, (1, -1, 1, 1, 1))
    return C.squeeze(out, 0) if unbatched else out


def _three(op, name, value, omitted=""):
    """torch's pool3d argument forms: an int, or a sequence of one or three."""
    if not isinstance(value, (tuple, list)):
        return (value,) * 3
    if len(value) not in (1, 3):
        raise ShapeError(f"{op}: {name} must be {omitted}a single int, or a tuple of three "
                         f"ints")
    return tuple(value) * (3 // len(value))


def _pool3d_args(op, kernel_size, stride, padding):
    """kernel, stride (omitted: the kernel's) and padding as three ints each."""
    kernel = _three(op, "kernel_size", kernel_size)
    if stride is None or (isinstance(stride, (tuple, list)) and not stride):
        stride = kernel
    return kernel, _three(op, "stride", stride, "omitted, "), _three(op, "padding", padding)


def _pool3d_geometry(op, shape, kernel, stride, padding, dilation, ceil_mode):
    """torch's pool3d checks, in its order and words; the output depth count and the extra
    high-side depth padding ceil_mode needs (the height and width are the 2-D pool's)."""
    for k, s, p, d in zip(kernel, stride, padding, dilation):
        if s == 0:
            raise ShapeError("stride should not be zero")
        if p < 0:
            raise ShapeError(f"pad must be non-negative, but got pad: {p}")
        if p > int((d * (k - 1) + 1) / 2):      # C's division, toward zero
            raise ShapeError(f"pad should be at most half of effective kernel size, but got "
                             f"pad={p}, kernel_size={k} and dilation={d}")
    for what, short, values in (("kernel size", "k", kernel), ("stride", "d", stride),
                                ("dilation", "dilation", dilation)):
        if any(v <= 0 for v in values):
            raise ShapeError(f"{what} should be greater than zero, but got "
                             + " ".join(f"{short}{a}: {v}" for a, v in zip("THW", values)))
    # the channels and spatial dims (an empty batch is fine); torch's message names the
    # empty dim by its size, always 0
    if any(size == 0 for size in shape[-4:]):
        raise ShapeError(f"{op}(): Expected input's non-batch dimensions to have positive "
                         f"length, but input has a shape of {fmt_shape(shape)} and "
                         f"non-batch dimension 0 has length zero!")
    size = shape[-3:]
    if op == "avg_pool3d" and any(i < k for i, k in zip(size, kernel)):
        raise ShapeError(f"input image (T: {size[0]} H: {size[1]} W: {size[2]}) smaller than "
                         f"kernel size (kT: {kernel[0]} kH: {kernel[1]} kW: {kernel[2]})")
    out = [_pool_out(i, k, s, p, d, ceil_mode)
           for i, k, s, p, d in zip(size, kernel, stride, padding, dilation)]
    if min(out) < 1:
        raise ShapeError(f"Given input size: ({shape[-4]}x{size[0]}x{size[1]}x{size[2]}). "
                         f"Calculated output size: ({shape[-4]}x{out[0]}x{out[1]}x{out[2]}). "
                         f"Output size is too small")
    extra = max(0, (out[0] - 1) * stride[0] + dilation[0] * (kernel[0] - 1) + 1 - size[0]
                - 2 * padding[0])
    return out[0], extra


def _pool3d_input(input):
    """(C, D, H, W) inputs are unbatched: run them as a batch of one."""
    if input.ndim not in (4, 5):
        raise ShapeError("non-empty 4D or 5D (batch mode) tensor expected for input")
    return (C.unsqueeze(input, 0), True) if input.ndim == 4 else (input, False)


@autocast_op(FP32)
def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """torch.nn.functional.max_pool3d; padding counts as -inf, ties go to the first max in
    (depth, height, width) order, as torch's scan: each depth tap's max_pool2d replaces the
    running max only where it is greater (or NaN)."""
    kernel, stride, padding = _pool3d_args("max_pool3d", kernel_size, stride, padding)
    dilation = _tuple(dilation, 3)
    x, unbatched = _pool3d_input(input)
    count, extra = _pool3d_geometry("max_pool3d", input.shape, kernel, stride, padding, dilation,
                                    ceil_mode)
    plane = x.shape[3] * x.shape[4]
    x = _depth_padded(x, padding[0], padding[0] + extra, -math.inf)
    if not return_indices:
        out = _over_taps(x, kernel[0], stride[0], dilation[0], count,
                         lambda images, t: max_pool2d(images, kernel[1:], stride[1:],
                                                      padding[1:], dilation[1:], ceil_mode),
                         ew.maximum)
        return C.squeeze(out, 0) if unbatched else out
    values = indices = None
    for t in range(kernel[0]):
        v, i = max_pool2d(_taps(x, t * dilation[0], stride[0], count), kernel[1:], stride[1:],
                          padding[1:], dilation[1:], ceil_mode, True)
        # the input depth this tap reads for each image (N * count of them, count inner)
        at = np.tile(np.arange(count) * stride[0] - padding[0] + t * dilation[0], x.shape[0])
        flat = i + tensor(at.reshape(-1, 1, 1, 1) * plane, device=x.device)
        if values is None:
            values, indices = v, flat
            continue
        better = ew.logical_or(ew.gt(v, values),
                               ew.logical_and(ew.isnan(v), ew.logical_not(ew.isnan(values))))
        values, indices = ew.where(better, v, values), ew.where(better, flat, indices)
    out = [ew.dense(_unfolded(r, x.shape[0], count)) for r in (values, indices)]
    return tuple(C.squeeze(r, 0) for r in out) if unbatched else tuple(out)


def _depth_counts(depth, count, kernel, stride, padding, include_pad):
    """How many depth planes each output depth's window averages over, as torch counts them:
    the zero padding only with count_include_pad, never ceil_mode's overhang."""
    start = np.arange(count) * stride - padding
    end = np.minimum(start + kernel, depth + padding)
    if not include_pad:
        start, end = np.maximum(start, 0), np.minimum(end, depth)
    return end - start


@autocast_op(FP32)
def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """torch.nn.functional.avg_pool3d: each tap's avg_pool2d (the window's height x width
    count, or divisor_override) summed over the depth taps and divided by the window's depth
    count; a window's count is the product of its counts along each dim, as torch's is."""
    kernel, stride, padding = _pool3d_args("avg_pool3d", kernel_size, stride, padding)
    x, unbatched = _pool3d_input(input)
    check_divisor(divisor_override)
    count, extra = _pool3d_geometry("avg_pool3d", input.shape, kernel, stride, padding, (1, 1, 1),
                                    ceil_mode)
    depth = x.shape[2]
    x = _depth_padded(x, padding[0], padding[0] + extra, 0.0)
    out = _over_taps(x, kernel[0], stride[0], 1, count,
                     lambda images, t: avg_pool2d(images, kernel[1:], stride[1:], padding[1:],
                                                  ceil_mode, count_include_pad,
                                                  divisor_override), ew.add)
    if divisor_override is None:
        counts = _depth_counts(depth, count, kernel[0], stride[0], padding[0],
                               count_include_pad)
        out = out / tensor(counts.reshape(1, 1, count, 1, 1), dtype=out.dtype,
                           device=out.device)
    return C.squeeze(out, 0) if unbatched else out
