"""conv1d and the 1-D and 2-D transposed convolutions for tracecomp.nn.functional.

conv1d is conv2d on a height-1 image. conv_transpose2d is the adjoint of conv2d: each input
pixel scatters `weight^T @ x` into a kernel-sized patch, which is the fold (col2im)
primitive; fold runs without padding and the result is then cropped by `padding` and
grown by `output_padding` (zeros only where no patch reaches), so every legal
combination of stride, dilation and output_padding has one code path.
"""
from .. import composite as C
from ..amp.cpu_policy import LOWER, autocast_op
from ..errors import DTypeError, ShapeError, fmt_shape
from ..opmath import in_float32
from ..ops import conv as _conv
from ..ops import movement as mv
from ..ops.linalg import matmul
from .functional_conv import _TORCH_SCALAR, check_conv_args, conv2d


def _tuple(v, n):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def _batched(op, x, dims):
    """(C, *spatial) inputs are unbatched, as in torch: run them as a batch of one."""
    if x.ndim not in (dims + 1, dims + 2):
        raise ShapeError(f"Expected {dims + 1}D (unbatched) or {dims + 2}D (batched) input to "
                         f"{op}, but got input of size: {fmt_shape(x.shape)}")
    return (C.unsqueeze(x, 0), True) if x.ndim == dims + 1 else (x, False)


def _check_weight(op, x, weight, bias, groups, transposed):
    dims = x.ndim - 2
    if weight.ndim != dims + 2:
        raise ShapeError(f"{op}: expected a {dims + 2}-D weight, got weight of size "
                         f"{fmt_shape(weight.shape)}")
    if x.dtype != weight.dtype:
        raise DTypeError(f"expected scalar type {_TORCH_SCALAR.get(x.dtype.name, x.dtype.name)}"
                         f" but found {_TORCH_SCALAR.get(weight.dtype.name, weight.dtype.name)}"
                         f" ({op} input {x.dtype.name}, weight {weight.dtype.name})")
    if weight.shape[0] % groups:
        raise ShapeError(f"Given groups={groups}, expected weight to be divisible by {groups} "
                         f"at dimension 0, but got weight of size [{fmt_shape(weight.shape)}] "
                         f"instead")
    want = weight.shape[0] if transposed else weight.shape[1] * groups
    if x.shape[1] != want:
        kind = "transposed=1" if transposed else f"groups={groups}"
        raise ShapeError(f"Given {kind}, weight of size {fmt_shape(weight.shape)}, expected "
                         f"input{fmt_shape(x.shape)} to have {want} channels, but got "
                         f"{x.shape[1]} channels instead")
    out_ch = weight.shape[1] * groups if transposed else weight.shape[0]
    if bias is not None and tuple(bias.shape) != (out_ch,):
        kind = "transposed=1, " if transposed else ""
        raise ShapeError(f"Given {kind}weight of size {fmt_shape(weight.shape)}, expected bias "
                         f"to be 1-dimensional with {out_ch} elements, but got bias of size "
                         f"{fmt_shape(bias.shape)} instead")


@autocast_op(LOWER)
@in_float32(mixed=False)
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation over (N, C, L) (or unbatched (C, L)), torch's conv1d."""
    x, squeeze = _batched("conv1d", input, 1)
    check_conv_args("conv1d", padding if isinstance(padding, str) else _tuple(padding, 1),
                    _tuple(stride, 1), _tuple(dilation, 1), groups)
    _check_weight("conv1d", x, weight, bias, groups, False)
    pad = padding if isinstance(padding, str) else (0, _tuple(padding, 1)[0])
    out = conv2d(C.unsqueeze(x, 2), C.unsqueeze(weight, 2), bias, (1, _tuple(stride, 1)[0]),
                 pad, (1, _tuple(dilation, 1)[0]), groups)
    out = C.squeeze(out, 2)
    return C.squeeze(out, 0) if squeeze else out


def check_output_padding(output_padding, stride, dilation):
    """torch's check, over 2 or 3 dims (conv_transpose1d's as its 2-D form's, height 0)."""
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
        names = ("depth", "height", "width")[3 - len(stride):]
        parts = [f"output_padding_{n}: {v}" for n, v in zip(names, output_padding)]
        parts += [f"stride_{n}: {v}" for n, v in zip(names, stride)]
        parts += [f"dilation_{n}: {v}" for n, v in zip(names, dilation)]
        raise ShapeError(f"output padding must be smaller than either stride or dilation, but "
                         f"got {' '.join(parts)}")


def transposed_sizes(op, x, kernel, stride, padding, output_padding, dilation):
    """A transposed convolution's output sizes per spatial dim (any number of them), before
    and after cropping `padding` and growing `output_padding`: (full, sizes)."""
    spatial = x.shape[2:]
    full = [(size - 1) * s + d * (k - 1) + 1
            for size, s, d, k in zip(spatial, stride, dilation, kernel)]
    sizes = [f - 2 * p + op for f, p, op in zip(full, padding, output_padding)]
    if any(s <= 0 for s in sizes):
        raise ShapeError(f"{op}: input {fmt_shape(x.shape)} with kernel {tuple(kernel)}, "
                         f"stride {tuple(stride)}, padding {tuple(padding)} and dilation "
                         f"{tuple(dilation)} gives a non-positive output size {tuple(sizes)}")
    return full, sizes


def conv_transpose_planes(x, weight, stride, padding, output_padding, groups, dilation):
    """(N, Cin, H, W) -> (N, Cout, Ho, Wo), Ho = (H-1)s - 2p + d(k-1) + output_padding + 1,
    without bias (conv_transpose2d; conv_transpose3d runs it per depth tap)."""
    n, cin, h, w = x.shape
    kernel = tuple(weight.shape[2:])
    cout_g = weight.shape[1]
    kk = kernel[0] * kernel[1]
    # (G, Cout/G*kh*kw, Cin/G) @ (N, G, Cin/G, H*W): each pixel's patch, per group
    wt = mv.permute(mv.reshape(weight, (groups, cin // groups, cout_g * kk)), (0, 2, 1))
    cols = matmul(wt, mv.reshape(x, (n, groups, cin // groups, h * w)))
    cols = mv.reshape(cols, (n, groups * cout_g * kk, h * w))
    full, _ = transposed_sizes("conv_transpose2d", x, kernel, stride, padding, output_padding,
                               dilation)
    out = _conv.fold(cols, tuple(full), kernel, dilation, (0, 0), stride)
    # crop `padding` from both ends, then grow the high end by output_padding
    config = ((0, 0, 0), (0, 0, 0)) + tuple((-p, op - p, 0)
                                            for p, op in zip(padding, output_padding))
    return mv.pad(out, config, 0.0)


def transposed_args(op, n, input, weight, bias, stride, padding, output_padding, groups,
                    dilation):
    """An n-d transposed convolution's arguments, checked as torch checks them: (the
    input batched, whether it was unbatched, stride, padding, output_padding, dilation as
    n-tuples)."""
    x, unbatched = _batched(op, input, n)
    stride, dilation = _tuple(stride, n), _tuple(dilation, n)
    padding, output_padding = _tuple(padding, n), _tuple(output_padding, n)
    check_conv_args(op, padding, stride, dilation, groups, output_padding)
    _check_weight(op, x, weight, bias, groups, True)
    check_output_padding(output_padding, stride, dilation)
    return x, unbatched, stride, padding, output_padding, dilation


@autocast_op(LOWER)
@in_float32(mixed=False)
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """torch's conv_transpose2d: weight (Cin, Cout/groups, kh, kw)."""
    x, squeeze, stride, padding, output_padding, dilation = transposed_args(
        "conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding, groups,
        dilation)
    out = conv_transpose_planes(x, weight, stride, padding, output_padding, groups, dilation)
    if bias is not None:
        out = out + mv.reshape(bias, (1, -1, 1, 1))
    return C.squeeze(out, 0) if squeeze else out


@autocast_op(LOWER)
@in_float32(mixed=False)
def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """torch's conv_transpose1d: weight (Cin, Cout/groups, k)."""
    x, squeeze = _batched("conv_transpose1d", input, 1)
    stride, dilation = _tuple(stride, 1)[0], _tuple(dilation, 1)[0]
    padding, output_padding = _tuple(padding, 1)[0], _tuple(output_padding, 1)[0]
    check_conv_args("conv_transpose1d", (padding,), (stride,), (dilation,), groups,
                    (output_padding,))
    _check_weight("conv_transpose1d", x, weight, bias, groups, True)
    check_output_padding((0, output_padding), (1, stride), (1, dilation))
    out = conv_transpose2d(C.unsqueeze(x, 2), C.unsqueeze(weight, 2), bias, (1, stride),
                           (0, padding), (0, output_padding), groups, (1, dilation))
    out = C.squeeze(out, 2)
    return C.squeeze(out, 0) if squeeze else out
