"""max_unpool1d, max_unpool2d and max_unpool3d: the inverse of max pooling with
return_indices=True (SegNet-style decoders, visualizations), as torch.nn.functional has them.

Each input value goes to its flat index in a zero output plane (one scatter per
(batch, channel) row), so the gradient is the output gradient gathered at those indices.
Indices outside the plane raise torch's "Found an invalid max index", checked eagerly and,
in compiled code, on every call (check_range). Where two inputs name one index (overlapping
windows) the later one wins, as in torch's CPU loop.
"""
import math

from ..composite_index import scatter
from ..creation import zeros
from ..dtypes import int64
from ..errors import ShapeError
from ..ops import movement as mv
from ..ops.indexing import check_range
from ..torch_args import scalar_name
from .functional_conv_nd import _tuple


def _output_size(input, kernel, stride, padding, output_size):
    """torch's _unpool_output_size: the pooled input's size by default, else output_size's
    last dims, each within a stride of the default."""
    dims = len(kernel)
    default = [(input.shape[-dims + d] - 1) * stride[d] + kernel[d] - 2 * padding[d]
               for d in range(dims)]
    if output_size is None:
        return default
    size = list(output_size)
    if len(size) == dims + 2:
        size = size[2:]
    if len(size) != dims:
        raise ValueError(f"output_size should be a sequence containing {dims} or {dims + 2} "
                         f"elements, but it has a length of '{len(size)}'")
    for d in range(dims):
        low, high = default[d] - stride[d], default[d] + stride[d]
        if not low < size[d] < high:
            raise ValueError(f'invalid output_size "{tuple(output_size)}" (dim {d} must be '
                             f'between {low} and {high})')
    return size


def _unpool(dims, input, indices, kernel_size, stride, padding, output_size):
    """The unpooling of `dims` spatial dims of a batched or unbatched input."""
    kernel = _tuple(kernel_size, dims)
    stride = kernel if stride is None else _tuple(stride, dims)
    padding = _tuple(padding, dims)
    size = _output_size(input, kernel, stride, padding, output_size)
    # torch runs max_unpool1d as max_unpool2d over an (L, 1) plane: its messages say so
    extra = 1 if dims == 1 else 0
    if input.ndim not in (dims + 1, dims + 2):
        raise ShapeError(f"Input to max_unpooling{dims + extra}d should be a "
                         f"{dims + extra + 1}d or {dims + extra + 2}d Tensor, but got a tensor "
                         f"with {input.ndim + extra} dimensions.")
    if tuple(indices.shape) != tuple(input.shape):
        raise ShapeError(f"Expected shape of indices to be same as that of the input tensor "
                         f"({list(input.shape)}) but got indices tensor with shape: "
                         f"{list(indices.shape)}")
    if indices.dtype != int64:
        raise RuntimeError(f"elements in indices should be type int64 but got: "
                           f"{scalar_name(indices.dtype)}")
    lead = tuple(input.shape[:-dims])
    volume = math.prod(size)
    flat = check_range(mv.reshape(indices, lead + (-1,)), 0, volume,
                       "Found an invalid max index: {value} (output volumes are of size "
                       + "x".join(str(s) for s in size + [1] * extra) + ")",
                       error="RuntimeError")
    out = zeros(lead + (volume,), dtype=input.dtype, device=input.device)
    out = scatter(out, -1, flat, mv.reshape(input, lead + (-1,)))
    return mv.reshape(out, lead + tuple(size))


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """torch.nn.functional.max_unpool1d over (N, C, L) or (C, L)."""
    return _unpool(1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """torch.nn.functional.max_unpool2d over (N, C, H, W) or (C, H, W)."""
    return _unpool(2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """torch.nn.functional.max_unpool3d over (N, C, D, H, W) or (C, D, H, W)."""
    return _unpool(3, input, indices, kernel_size, stride, padding, output_size)
