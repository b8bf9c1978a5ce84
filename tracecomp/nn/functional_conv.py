"""Convolution and pooling for tracecomp.nn.functional: conv2d, unfold/fold, max/avg pooling.

Everything is the unfold (im2col) primitive plus matmul or a reduction over the kernel
axis: conv2d is `weight @ unfold(x)`, max_pool2d is argmax + gather over the unfolded
window (so the gradient goes to the one element torch picks: the first maximum),
avg_pool2d is a sum over the window divided by the window's count.
"""
import math

import numpy as np

from .. import composite as C
from .. import dtypes
from ..amp.cpu_policy import LOWER, autocast_op
from ..creation import arange, ones, tensor
from ..errors import DTypeError, ShapeError, fmt_shape
from ..grad_fn_names import named
from ..grad_mode import is_grad_enabled
from ..memory_format import pools_keep_channels_last
from ..opmath import in_float32
from ..ops import conv as _conv
from ..ops import elementwise as ew
from ..ops import movement as mv
from ..ops.indexing import gather
from ..ops.linalg import matmul
from ..ops.reduce import argmax
from ..tensor import Tensor

_pair = _conv.pair
_TORCH_SCALAR = {"float32": "Float", "float64": "Double", "float16": "Half"}


def _batched(op, x):
    """(C, H, W) inputs are unbatched, as in torch: run them as a batch of one."""
    if x.ndim not in (3, 4):
        raise ShapeError(f"Expected 3D (unbatched) or 4D (batched) input to {op}, but got "
                         f"input of size: {fmt_shape(x.shape)}")
    return (C.unsqueeze(x, 0), True) if x.ndim == 3 else (x, False)


def _check_pool_input(x):
    """torch's pools take an empty batch (N = 0) but no other empty dimension."""
    if any(d == 0 for d in x.shape[-3:]):
        raise ShapeError(f"Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size "
                         f"for input, but got:{fmt_shape(x.shape)}")


def _unbatched(x, squeeze):
    return C.squeeze(x, 0) if squeeze else x


# --- unfold / fold -------------------------------------------------------------------------
def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding local blocks: (N, C, H, W) -> (N, C*kh*kw, L); (C, H, W) -> (C*kh*kw, L)."""
    x, squeeze = _batched("unfold", input)
    return _unbatched(_conv.unfold(x, kernel_size, dilation, padding, stride), squeeze)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """The adjoint of unfold: blocks (N, C*kh*kw, L) summed back into (N, C, H, W)."""
    if input.ndim not in (2, 3):
        raise ShapeError(f"fold: Expected 2D or 3D (batch mode) input tensor, but got input "
                         f"of size: {fmt_shape(input.shape)}")
    squeeze = input.ndim == 2
    x = C.unsqueeze(input, 0) if squeeze else input
    return _unbatched(_conv.fold(x, output_size, kernel_size, dilation, padding, stride), squeeze)


# --- conv2d ----------------------------------------------------------------------------------
def _same_padding(kernel, dilation, stride):
    """padding='same': torch pads total = d*(k-1), the odd element at the high end."""
    if any(s != 1 for s in stride):
        raise ShapeError("padding='same' is not supported for strided convolutions")
    total = [d * (k - 1) for k, d in zip(kernel, dilation)]
    return [(t // 2, t - t // 2) for t in total]


def conv_padding(padding, kernel, dilation, stride):
    """A convolution's (low, high) padding per spatial dim (as many as `kernel` has): from
    'valid', 'same', an int or a tuple (conv2d, conv3d)."""
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * len(kernel)
        if padding == "same":
            return _same_padding(kernel, dilation, stride)
        raise ValueError(f"Invalid padding string '{padding}', should be one of "
                         f"{{'valid', 'same'}}")
    padding = tuple(padding) if isinstance(padding, (tuple, list)) else (padding,) * len(kernel)
    return [(p, p) for p in padding]


def check_conv_args(op, padding, stride, dilation, groups, output_padding=()):
    """torch's checks of a convolution's arguments, in its order and words, plus what `op`
    got. All are static, so they run while tracing too: compiled code makes the same checks
    (a negative padding would otherwise crop, a zero dilation read one pixel)."""
    got = f" ({op} got padding={tuple(padding)}, stride={tuple(stride)}, dilation=" \
          f"{tuple(dilation)}, groups={groups})"
    if not isinstance(padding, str) and any(p < 0 for p in padding):
        raise RuntimeError("negative padding is not supported" + got)
    if any(p < 0 for p in output_padding):
        raise RuntimeError(f"negative output_padding is not supported ({op} got "
                           f"output_padding={tuple(output_padding)})")
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported" + got)
    if any(d <= 0 for d in dilation):
        raise RuntimeError(f"dilation should be greater than zero, but got {list(dilation)}"
                           + got)
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported" + got)


def _check_conv(x, weight, bias, groups):
    if not isinstance(x, Tensor):       # a numpy array read its dtype alike: "Float but Float"
        raise TypeError(f"conv2d(): argument 'input' must be a Tensor, not "
                        f"{type(x).__module__}.{type(x).__name__} of shape "
                        f"{list(getattr(x, 'shape', ()))}; convert it with "
                        f"tracecomp.as_tensor(x)")
    if weight.ndim != 4:
        raise ShapeError(f"conv2d: expected a 4-D weight (out_channels, in_channels/groups, "
                         f"kh, kw), got weight of size {fmt_shape(weight.shape)}")
    if x.dtype != weight.dtype:
        raise DTypeError(f"expected scalar type {_TORCH_SCALAR.get(x.dtype.name, x.dtype.name)}"
                         f" but found {_TORCH_SCALAR.get(weight.dtype.name, weight.dtype.name)}"
                         f" (conv2d input {x.dtype.name}, weight {weight.dtype.name})")
    out_ch, in_per_group = weight.shape[0], weight.shape[1]
    if out_ch % groups:
        raise ShapeError(f"Given groups={groups}, expected weight to be divisible by {groups} "
                         f"at dimension 0, but got weight of size [{fmt_shape(weight.shape)}] "
                         f"instead")
    if x.shape[1] != in_per_group * groups:
        raise ShapeError(f"Given groups={groups}, weight of size {fmt_shape(weight.shape)}, "
                         f"expected input{fmt_shape(x.shape)} to have {in_per_group * groups} "
                         f"channels, but got {x.shape[1]} channels instead")
    if bias is not None and tuple(bias.shape) != (out_ch,):
        raise ShapeError(f"Given weight of size {fmt_shape(weight.shape)}, expected bias to be "
                         f"1-dimensional with {out_ch} elements, but got bias of size "
                         f"{fmt_shape(bias.shape)} instead")


@autocast_op(LOWER)
@in_float32(mixed=False)
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation, torch.nn.functional.conv2d: unfold + (grouped) matmul."""
    x, squeeze = _batched("conv2d", input)
    stride, dilation = _pair(stride), _pair(dilation)
    check_conv_args("conv2d", padding if isinstance(padding, str) else _pair(padding),
                    stride, dilation, groups)
    _check_conv(x, weight, bias, groups)
    kernel = tuple(weight.shape[2:])
    pads = conv_padding(padding, kernel, dilation, stride)
    padded = [x.shape[2 + i] + lo + hi for i, (lo, hi) in enumerate(pads)]
    span = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    if padded[0] < span[0] or padded[1] < span[1]:
        raise ShapeError(f"Calculated padded input size per channel: ({padded[0]} x "
                         f"{padded[1]}). Kernel size: ({span[0]} x {span[1]}). Kernel size "
                         f"can't be greater than actual input size")
    if any(lo != hi for lo, hi in pads):      # 'same' with an even kernel: asymmetric
        x = mv.pad(x, ((0, 0, 0), (0, 0, 0)) + tuple((lo, hi, 0) for lo, hi in pads), 0.0)
        pads = [(0, 0), (0, 0)]
    cols = _conv.unfold(x, kernel, dilation, tuple(lo for lo, _ in pads), stride)
    n, out_ch, length = x.shape[0], weight.shape[0], cols.shape[2]
    oh = (padded[0] - span[0]) // stride[0] + 1
    ow = length // oh
    k = cols.shape[1]
    per = _conv.chunk_samples(n, k * length * cols.dtype.itemsize)
    if groups == 1 and per == 1 < n:
        # a product per sample (each sample's columns are a chunk already): (O, K) @ (N, K, L)
        out = matmul(mv.reshape(weight, (out_ch, -1)), cols)            # (N, O, L)
    elif groups == 1 and per < n:
        # products over chunks of `per` samples: (O, K) @ (J, K, per*L), each chunk's
        # columns contiguous (chunk-major), so compiled code computes them a chunk at a
        # time into a small buffer right before the chunk's product (the forward's, and
        # the weight gradient's), instead of holding the whole batch's im2col (LeNet's
        # first conv: 4.8 MB at batch 64) from the forward to the end of the backward
        chunks = n // per
        cm = mv.reshape(mv.permute(mv.reshape(cols, (chunks, per, k, length)), (0, 2, 1, 3)),
                        (chunks, k, per * length))
        out = matmul(mv.reshape(weight, (out_ch, -1)), cm)               # (J, O, per*L)
        out = mv.permute(mv.reshape(out, (chunks, out_ch, per, length)), (0, 2, 1, 3))
    elif groups == 1:
        # columns small enough to keep whole: ONE product over the batch, (O, C*kh*kw) @
        # (C*kh*kw, N*L), the columns laid out batch-inside (compiled code writes them so
        # directly, im2col with a transposed store). Small per-sample products ran at a
        # third of the BLAS's speed outside a chunk loop (passes/chunks.py), which splits
        # them over threads and sums their weight gradients as it goes.
        wide = mv.reshape(mv.permute(cols, (1, 0, 2)), (k, n * length))
        out = matmul(mv.reshape(weight, (out_ch, -1)), wide)             # (O, N*L)
        out = mv.permute(mv.reshape(out, (out_ch, n, length)), (1, 0, 2))  # (N, O, L)
    else:
        # (G, O/G, C/G*kh*kw) @ (N, G, C/G*kh*kw, L) -> (N, G, O/G, L)
        w = mv.reshape(weight, (groups, out_ch // groups, -1))
        out = matmul(w, mv.reshape(cols, (n, groups, -1, length)))
    out = ew.dense(mv.reshape(out, (n, out_ch, oh, ow)))     # row-major, as torch's
    if bias is not None:
        out = out + mv.reshape(bias, (1, out_ch, 1, 1))
    return _unbatched(named(out, "ConvolutionBackward0", (x, weight, bias)), squeeze)


# --- pooling ---------------------------------------------------------------------------------
def _pool_out(size, k, s, p, d, ceil_mode):
    """torch's pooling_output_shape: with ceil_mode the last window must start inside the
    input or its left padding."""
    span = d * (k - 1) + 1
    out = (size + 2 * p - span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _pool_geometry(op, x, kernel_size, stride, padding, dilation, ceil_mode):
    """Validate pooling arguments as torch does; return kernel, stride, padding, dilation,
    the output size and the extra high-side padding ceil_mode needs."""
    kernel = _pair(kernel_size)
    stride = kernel if stride is None or stride == [] or stride == () else _pair(stride)
    padding, dilation = _pair(padding), _pair(dilation)
    if any(s == 0 for s in stride):
        raise ShapeError("stride should not be zero")
    if any(k <= 0 for k in kernel):
        raise ShapeError(f"kernel size should be greater than zero, but got kH: {kernel[0]} "
                         f"kW: {kernel[1]}")
    # torch's checks of the other arguments: a negative stride or padding, a zero dilation
    # would otherwise pool the wrong windows (eagerly and compiled alike)
    if any(s < 0 for s in stride):
        raise ShapeError(f"stride should be greater than zero, but got dH: {stride[0]} "
                         f"dW: {stride[1]}")
    if any(d <= 0 for d in dilation):
        raise ShapeError(f"dilation should be greater than zero, but got dilationH: "
                         f"{dilation[0]} dilationW: {dilation[1]}")
    if any(p < 0 for p in padding):
        raise ShapeError(f"pad must be non-negative, but got pad: {min(padding)}")
    for k, p, d in zip(kernel, padding, dilation):
        limit = (d * (k - 1) + 1) // 2 if op == "max_pool2d" else k // 2
        if p > limit:
            raise ShapeError(f"pad should be at most half of effective kernel size, but got "
                             f"pad={p}, kernel_size={k} and dilation={d}")
    size = x.shape[2:]
    out = [_pool_out(size[i], kernel[i], stride[i], padding[i], dilation[i], ceil_mode)
           for i in range(2)]
    if out[0] < 1 or out[1] < 1:
        raise ShapeError(f"Given input size: ({x.shape[1]}x{size[0]}x{size[1]}). Calculated "
                         f"output size: ({x.shape[1]}x{out[0]}x{out[1]}). Output size is too "
                         f"small")
    extra = [max(0, (out[i] - 1) * stride[i] + dilation[i] * (kernel[i] - 1) + 1
                 - size[i] - 2 * padding[i]) for i in range(2)]
    return kernel, stride, padding, dilation, out, extra


def _windows(x, kernel, stride, padding, dilation, extra, value):
    """(N, C, kh*kw, L): every pooling window, padded with `value` (and ceil_mode's extra)."""
    config = ((0, 0, 0), (0, 0, 0)) + tuple((p, p + e, 0) for p, e in zip(padding, extra))
    cols = _conv.unfold(mv.pad(x, config, value), kernel, dilation, 0, stride)
    n, c = x.shape[:2]
    return mv.reshape(cols, (n, c, kernel[0] * kernel[1], cols.shape[2]))


def _tiles(x, kernel, stride, padding, dilation, extra, out):
    """(N, C, oh, ow, kh*kw): the windows when they tile the input (stride == kernel, no
    padding or dilation: nn.MaxPool2d(2)) and no gradient flows back through them, else
    None. Only views of x: compiled, the reduction over the last dim reads x[n, c, oy*kh
    + i, ox*kw + j] for constant taps (i, j), affine in ox, where unfold's (N, C, kh*kw,
    L) columns split every index by divisions (and so were stored by a kernel of their
    own first). Trailing rows and columns no window covers (floor mode) are sliced off.

    Not with a gradient: back through the views each input pixel finds its window's
    argmax and gradient at (y // kh, x // kw), loads LLVM turns into gathers. Measured on a
    compiled LeNet step (znver4): the first pool's backward with relu's took 516 us that
    way, against 348 us as unfold's fold (a kernel over the windows) plus relu's; its
    forward saved 40 us. Inference: one max kernel instead of three (LeNet's pool and relu
    kernels 441 -> 333 us, mean of 3 alternating runs)."""
    if tuple(stride) != tuple(kernel) or any(padding) or any(extra) or \
            tuple(dilation) != (1, 1) or (x.requires_grad and is_grad_enabled()):
        return None
    (kh, kw), (oh, ow) = kernel, out
    n, c, h, w = x.shape
    if (h, w) != (oh * kh, ow * kw):
        x = mv.slice(x, (0, 0, 0, 0), (n, c, oh * kh, ow * kw), (1, 1, 1, 1))
    return _window_major(mv.reshape(x, (n, c, oh, kh, ow, kw)))


def _window_major(blocks):
    """(N, C, oh, kh, ow, kw) -> (N, C, oh, ow, kh*kw): each window's taps last, row-major."""
    return C.flatten(mv.permute(blocks, (0, 1, 2, 4, 3, 5)), 4)


def _flat_indices(idx, x, kernel, stride, padding, dilation, out):
    """Window-relative argmax -> torch's indices: row * W + col in the unpadded input."""
    ow = out[1]
    pos = arange(out[0] * ow)
    rows = (pos // ow) * stride[0] - padding[0] + (idx // kernel[1]) * dilation[0]
    cols = (pos % ow) * stride[1] - padding[1] + (idx % kernel[1]) * dilation[1]
    return rows * x.shape[3] + cols


@pools_keep_channels_last
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """torch.nn.functional.max_pool2d; padding counts as -inf, ties go to the first max."""
    _check_pool_input(input)
    x, squeeze = _batched("max_pool2d", input)
    kernel, stride, padding, dilation, out, extra = _pool_geometry(
        "max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    shape = tuple(x.shape[:2]) + tuple(out)
    windows, dim = _tiles(x, kernel, stride, padding, dilation, extra, out), 4
    if windows is None:                             # (N, C, kh*kw, L), else (N, C, oh, ow, kk)
        windows, dim = _windows(x, kernel, stride, padding, dilation, extra, float("-inf")), 2
    idx = argmax(windows, dim, keepdim=True)
    values = named(mv.reshape(gather(windows, dim, idx), shape), "MaxPool2DWithIndicesBackward0",
                   (x,))
    values = _unbatched(values, squeeze)
    if not return_indices:
        return values
    # the window count spelled out: a -1 cannot be inferred when the batch is empty
    flat = _flat_indices(mv.reshape(idx, tuple(x.shape[:2]) + (out[0] * out[1],)), x, kernel,
                         stride, padding, dilation, out)
    return values, _unbatched(mv.reshape(flat, shape), squeeze)


def check_divisor(divisor_override):
    """torch takes any divisor_override but 0 (a negative one too): avg_pool2d, avg_pool3d."""
    if divisor_override is not None and divisor_override == 0:
        raise ShapeError("divisor must be not zero")


@pools_keep_channels_last
@in_float32
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """torch.nn.functional.avg_pool2d: window sums over a count that, like torch's, takes in
    the zero padding (count_include_pad) but never ceil_mode's overhang."""
    _check_pool_input(input)
    check_divisor(divisor_override)
    x, squeeze = _batched("avg_pool2d", input)
    kernel, stride, padding, _, out, extra = _pool_geometry(
        "avg_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
    tiles = _tiles(x, kernel, stride, padding, (1, 1), extra, out)
    if tiles is not None:
        sums = mv.reshape(C.sum(tiles, 4), tuple(x.shape[:2]) + (out[0] * out[1],))
    else:
        sums = C.sum(_windows(x, kernel, stride, padding, (1, 1), extra, 0.0), 2)
    if divisor_override is not None:
        divisor = divisor_override
    elif not any(extra) and (count_include_pad or not any(padding)):
        divisor = kernel[0] * kernel[1]
    else:
        # The count of each window: pool a map of ones (padding included or not)
        covered = ones(1, 1, *x.shape[2:], dtype=x.dtype, device=x.device)
        border = ((0, 0, 0), (0, 0, 0)) + tuple((p, p, 0) for p in padding)
        covered = mv.pad(covered, border, 1.0 if count_include_pad else 0.0)
        counts = _windows(covered, kernel, stride, (0, 0), (1, 1), extra, 0.0)
        divisor = C.sum(counts, 2)
    return _unbatched(mv.reshape(sums / divisor, tuple(x.shape[:2]) + tuple(out)), squeeze)


def _adaptive_size(x, output_size):
    sizes = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    return tuple(x.shape[2 + i] if s is None else int(s) for i, s in enumerate(sizes))


def _adaptive_windows(n, m):
    """torch's adaptive windows along one dim: output i reads [floor(i*n/m), ceil((i+1)*n/m))."""
    return [((i * n) // m, math.ceil((i + 1) * n / m)) for i in range(m)]


def _averaging_matrix(n, m, dtype, device):
    """(m, n): row i averages output i's window."""
    mat = np.zeros((m, n), dtype=dtypes.to_np(dtype))
    for i, (start, end) in enumerate(_adaptive_windows(n, m)):
        mat[i, start:end] = 1.0 / (end - start)
    return tensor(mat, device=device)


@pools_keep_channels_last
@in_float32
def adaptive_avg_pool2d(input, output_size):
    """torch.nn.functional.adaptive_avg_pool2d (output_size an int, or a pair that may hold
    None for "keep this size")."""
    x, squeeze = _batched("adaptive_avg_pool2d", input)
    oh, ow = _adaptive_size(x, output_size)
    h, w = x.shape[2:]
    if oh <= 0 or ow <= 0:
        raise ShapeError(f"adaptive_avg_pool2d: output_size must be positive, got ({oh}, {ow})")
    if h % oh == 0 and w % ow == 0:          # equal windows: a reshape and a mean
        blocks = mv.reshape(x, tuple(x.shape[:2]) + (oh, h // oh, ow, w // ow))
        return _unbatched(C.mean(blocks, (3, 5)), squeeze)
    rows = _averaging_matrix(h, oh, x.dtype, x.device)
    cols = _averaging_matrix(w, ow, x.dtype, x.device)
    return _unbatched(matmul(matmul(rows, x), C.t(cols)), squeeze)


def _window_positions(n, m):
    """(m, k) input positions of each adaptive window, padded to the widest window k by
    repeating its last position, and the (m, k) mask of the real ones."""
    windows = _adaptive_windows(n, m)
    k = max(end - start for start, end in windows)
    pos = np.array([[min(start + j, end - 1) for j in range(k)] for start, end in windows])
    real = np.array([[start + j < end for j in range(k)] for start, end in windows])
    return pos, real


@pools_keep_channels_last
def adaptive_max_pool2d(input, output_size, return_indices=False):
    """torch.nn.functional.adaptive_max_pool2d: the max of each adaptive window (first max
    on ties), with flat row * W + col indices if asked."""
    x, squeeze = _batched("adaptive_max_pool2d", input)
    _check_adaptive_max_input("adaptive_max_pool2d", input)
    oh, ow = _adaptive_size(x, output_size)
    if oh <= 0 or ow <= 0:
        raise ShapeError(f"adaptive_max_pool2d: output_size must be positive, got ({oh}, {ow})")
    (rows, row_real), (cols, col_real) = (_window_positions(x.shape[2 + i], (oh, ow)[i])
                                          for i in range(2))
    kh, kw = rows.shape[1], cols.shape[1]
    # (N, C, oh*kh, ow*kw) -> (N, C, oh, ow, kh*kw): every window, row-major inside
    picked = x[:, :, tensor(rows.reshape(-1))][:, :, :, tensor(cols.reshape(-1))]
    windows = _window_major(mv.reshape(picked, tuple(x.shape[:2]) + (oh, kh, ow, kw)))
    real = (row_real[:, None, :, None] & col_real[None, :, None, :]).reshape(oh, ow, kh * kw)
    windows = C.masked_fill(windows, tensor(~real, device=x.device), float("-inf"))
    idx = argmax(windows, 4, keepdim=True)
    values = _unbatched(C.squeeze(gather(windows, 4, idx), 4), squeeze)
    if not return_indices:
        return values
    flat = (rows[:, None, :, None] * x.shape[3] + cols[None, :, None, :]).reshape(oh, ow, -1)
    indices = C.squeeze(gather(mv.expand(tensor(flat), tuple(idx.shape[:4]) + (kh * kw,)),
                               4, idx), 4)
    return values, _unbatched(indices, squeeze)


def _check_adaptive_max_input(op, input):
    """torch's adaptive max pools take an empty batch but no other empty dimension."""
    for k in range(1, input.ndim):
        if input.shape[k] == 0:
            raise ShapeError(f"{op}(): Expected input to have non-zero size for non-batch "
                             f"dimensions, but input has sizes {fmt_shape(input.shape)} with "
                             f"dimension {k} being empty")
