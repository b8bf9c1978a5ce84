"""conv3d and max_pool3d for tracecomp.nn.functional, composed of their 2-D forms.

The depth is folded into the batch: for each depth tap t of the kernel, the input's depth
slices that tap reads (start t * dilation, every stride-th) are a batch of images, which
conv2d (max_pool2d) takes with that tap's 2-D weight (window); the taps' results are summed
(maximized). A 3x3x3 kernel is three batched conv2d products, eager and compiled alike, and
the gradients come through the same ops: nothing here has a VJP of its own.
"""
import math

from .. import composite as C
from ..errors import ShapeError, fmt_shape
from ..ops import elementwise as ew
from ..ops import movement as mv
from .functional_conv import conv2d, conv_padding, max_pool2d
from .functional_conv_nd import _batched, _check_weight, _tuple


def _depth_padded(x, low, high, value):
    """x (N, C, D, H, W) grown by `low` and `high` planes of `value` along the depth."""
    if not (low or high):
        return x
    return mv.pad(x, ((0, 0, 0), (0, 0, 0), (low, high, 0), (0, 0, 0), (0, 0, 0)), value)


def _taps(x, start, stride, count):
    """The depth slices one tap reads, as a batch of (N * count) images (N, C, H, W)."""
    n, c, _, h, w = x.shape
    sl = x[:, :, start:start + stride * (count - 1) + 1:stride]
    return C.reshape(C.permute(sl, (0, 2, 1, 3, 4)), (n * count, c, h, w))


def _unfolded(y, n, count):
    """(N * count, C, H, W) back to (N, C, count, H, W), row-major as torch's."""
    _, c, h, w = y.shape
    return ew.dense(C.permute(C.reshape(y, (n, count, c, h, w)), (0, 2, 1, 3, 4)))


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv3d: (N, C, D, H, W) with an (O, C/groups, kd, kh, kw) weight."""
    x, unbatched = _batched("conv3d", input, 3)
    _check_weight("conv3d", x, weight, bias, groups, False)
    stride, dilation = _tuple(stride, 3), _tuple(dilation, 3)
    kd = weight.shape[2]
    pads = conv_padding(padding, tuple(weight.shape[2:]), dilation, stride)
    if any(lo != hi for lo, hi in pads[1:]):     # 'same' with an even kernel: asymmetric
        x = mv.pad(x, ((0, 0, 0), (0, 0, 0), (0, 0, 0)) + tuple((lo, hi, 0)
                                                                for lo, hi in pads[1:]), 0.0)
        inner = (0, 0)
    else:
        inner = (pads[1][0], pads[2][0])
    x = _depth_padded(x, pads[0][0], pads[0][1], 0.0)
    n, depth = x.shape[0], x.shape[2]
    count = (depth - dilation[0] * (kd - 1) - 1) // stride[0] + 1
    if count <= 0:
        raise ShapeError(f"conv3d: input of depth {input.shape[-3]} (padding {pads[0]}) is "
                         f"smaller than the kernel depth {kd} (dilation {dilation[0]}), "
                         f"input {fmt_shape(input.shape)}")
    out = None
    for t in range(kd):
        y = conv2d(_taps(x, t * dilation[0], stride[0], count), weight[:, :, t], None,
                   stride[1:], inner, dilation[1:], groups)
        out = y if out is None else out + y
    out = _unfolded(out, n, count)
    if bias is not None:
        out = out + C.reshape(bias, (1, -1, 1, 1, 1))
    return C.squeeze(out, 0) if unbatched else out


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """torch.nn.functional.max_pool3d; padding counts as -inf (ceil_mode and indices are
    not provided: a clear error)."""
    if ceil_mode or return_indices:
        raise NotImplementedError("max_pool3d: ceil_mode=True and return_indices=True are "
                                  "not provided by tracecomp; use the defaults")
    x, unbatched = _batched("max_pool3d", input, 3)
    kernel = _tuple(kernel_size, 3)
    stride = kernel if stride is None or stride == [] else _tuple(stride, 3)
    padding, dilation = _tuple(padding, 3), _tuple(dilation, 3)
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise RuntimeError(f"pad should be at most half of effective kernel size, but got "
                           f"pad={padding[0]}, kernel_size={kernel[0]} and dilation="
                           f"{dilation[0]}")
    x = _depth_padded(x, padding[0], padding[0], -math.inf)
    n, depth = x.shape[0], x.shape[2]
    count = (depth - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    if count <= 0:
        raise ShapeError(f"max_pool3d: output size is too small for input "
                         f"{fmt_shape(input.shape)} and kernel {kernel}")
    out = None
    for t in range(kernel[0]):
        y = max_pool2d(_taps(x, t * dilation[0], stride[0], count), kernel[1:], stride[1:],
                       padding[1:], dilation[1:])
        out = y if out is None else ew.maximum(out, y)
    out = _unfolded(out, n, count)
    return C.squeeze(out, 0) if unbatched else out
