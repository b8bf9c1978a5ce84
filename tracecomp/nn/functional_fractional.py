"""Fractional max pooling (Graham, 2014): torch.nn.functional.fractional_max_pool2d/3d and
their `_with_indices` forms, over (N, C, H, W) / (N, C, T, H, W) input or unbatched.

Each (batch, channel) plane draws one number u in [0, 1) per spatial dim (torch.rand, or
the caller's `_random_samples` of shape (N, C, dims)), and the windows along that dim of
size `pool` start at
    start[i] = int((i + u) * alpha) - int(u * alpha),  alpha = (in - pool) / (out - 1)
for i < out - 1, the last at in - pool: ATen's generate_intervals, computed in the input's
dtype as ATen does so the starts agree with torch's to the bit. The samples are read in
torch's order: (w, h) for 2-D, (t, h, w) for 3-D.

The windows' flat positions are computed once from the samples (numpy) and gathered from
the input; each window's maximum is torch's: the first strict maximum, or the last NaN.
Values come through gather, so the gradient is gather's (into each window's argmax), as
torch's fractional_max_pool backward. A traced `_random_samples` (which includes drawing
them inside a compiled function) is a TraceError: the windows depend on its values.
"""
import numpy as np

from .. import composite as C
from .. import dtypes
from ..creation import rand
from ..dtypes import np_kind
from ..errors import DTypeNotImplemented, ShapeError, TraceError, fmt_shape
from ..grad_fn_names import named
from ..ops import elementwise as ew
from ..ops import movement as mv
from ..ops.indexing import gather
from ..ops.reduce import argmax
from ..tensor import Tensor

# per number of spatial dims, the dims: in the input's order, in the order torch's samples
# hold them, and in the order torch checks them (which decides the message when several fail)
_NAMES = {2: ("height", "width"), 3: ("time", "height", "width")}
_SAMPLED = {2: ("width", "height"), 3: ("time", "height", "width")}
_CHECKED = {2: ("height", "width"), 3: ("time", "width", "height")}


def _sizes(value, dims, what, op):
    """kernel_size / output_size as a tuple of `dims` ints, with torch's message."""
    sizes = (value,) * dims if isinstance(value, int) else tuple(value)
    if len(sizes) != dims:
        ints = "tuple of Ints" if dims == 2 else "tuple of three Ints"
        raise RuntimeError(f"{op}: {what} must either be a single Int or {ints}")
    return tuple(int(s) for s in sizes)


def _output_size(x, dims, output_size, output_ratio, op):
    if output_size is None and output_ratio is None:
        raise ValueError(f"{op} requires specifying either an output_size or an output_ratio")
    if output_size is not None:
        return _sizes(output_size, dims, "output_size", op)
    ratio = (output_ratio,) * dims if isinstance(output_ratio, (int, float)) else output_ratio
    if len(ratio) > dims:
        raise ValueError(f"{op} requires output_ratio to either be a single Int or tuple of "
                         f"Ints.")
    spatial = x.shape[-dims:]
    return tuple(int(spatial[k] * ratio[k]) for k in range(dims))


def _check_input(x, dims, op, kernel, out):
    """torch's checks of the input against the windows ('pool height 4 too large ...')."""
    name = op if dims == 2 else op + "_out"
    if x.ndim not in (dims + 1, dims + 2):
        raise ShapeError(f"{name}(): Expected {dims + 1}D or {dims + 2}D tensor, but got: "
                         f"{fmt_shape(x.shape)}")
    for k in range(x.ndim - dims - 1, x.ndim):
        if x.shape[k] == 0:
            raise ShapeError(f"{name}(): Expected input to have non-zero size for non-batch "
                             f"dimensions, but got{fmt_shape(x.shape)} with dimension {k} "
                             f"being empty.")
    spatial = {dim: (kernel[k], out[k], x.shape[x.ndim - dims + k])
               for k, dim in enumerate(_NAMES[dims])}
    for dim in _CHECKED[dims]:
        pool, size_out, size_in = spatial[dim]
        # torch's 2-D check allows the windows to reach the input's end, its 3-D one not
        fits = size_out + pool - 1 <= size_in if dims == 2 else size_out + pool - 1 < size_in
        if not fits:
            raise RuntimeError(f"{name}(): pool {dim} {pool} too large relative to input "
                               f"{dim} {size_in}")


def _check_samples(samples, x, dims):
    if samples.ndim != 3:
        raise RuntimeError(f"Expect _random_samples to have 3 dimensions, got {samples.ndim}")
    if samples.dtype != x.dtype:
        raise RuntimeError("Expect _random_samples to have the same dtype as input")
    if samples.shape[2] != dims:
        raise RuntimeError(f"Expect _random_samples.size(2) equals to {dims}; got "
                           f"{samples.shape[2]}.")
    if samples.shape[1] != x.shape[1]:
        raise RuntimeError("Expect _random_samples.size(1) equals to input channel size.")
    if samples.shape[0] < x.shape[0]:
        raise RuntimeError("Expect _random_samples.size(0) no less then input batch size.")


def _starts(u, size_in, size_out, pool):
    """Window starts along one dim for samples u (..., ) -> (..., size_out): ATen's
    generate_intervals in u's dtype (float32 input: float32 arithmetic)."""
    t = u.dtype.type
    starts = np.empty(u.shape + (size_out,), np.int64)
    if size_out > 1:
        alpha = t(size_in - pool) / t(size_out - 1)
        steps = np.arange(size_out - 1).astype(u.dtype)
        starts[..., :-1] = (((steps + u[..., None]) * alpha).astype(np.int64)
                            - (u * alpha).astype(np.int64)[..., None])
    if size_out > 0:
        starts[..., -1] = size_in - pool
    return starts


def _window_positions(u, spatial, kernel, out):
    """(N, C, *out, prod(kernel)) flat positions in each input plane of every window's taps,
    taps in row-major order (the order torch scans a window)."""
    dims = len(spatial)
    n, c = u.shape[:2]
    flat = np.zeros((), np.int64)
    for k, dim in enumerate(_NAMES[dims]):
        starts = _starts(u[:, :, _SAMPLED[dims].index(dim)], spatial[k], out[k], kernel[k])
        coords = starts[..., None] + np.arange(kernel[k])           # (N, C, out_k, kernel_k)
        # out_k to axis 2 + k, kernel_k to axis 2 + dims + k, ones elsewhere
        shape = [n, c] + [1] * (2 * dims)
        shape[2 + k], shape[2 + dims + k] = out[k], kernel[k]
        flat = flat + coords.reshape(shape) * int(np.prod(spatial[k + 1:]))
    return flat.reshape((n, c) + tuple(out) + (-1,))


def _window_max(windows):
    """Each window's pick along the last dim: the first strict maximum, the last NaN when
    there is one (ATen: `if (val > maxVal || isnan(val))`)."""
    nan = ew.isnan(windows)
    taps = windows.shape[-1]
    last_nan = (taps - 1) - argmax(ew.cast(mv.flip(nan, (windows.ndim - 1,)), np.dtype("int64")),
                                    windows.ndim - 1, keepdim=True)
    has_nan = C.any(nan, -1, keepdim=True)
    return ew.where(has_nan, last_nan, argmax(windows, windows.ndim - 1, keepdim=True))


def _fractional_max_pool(dims, input, kernel_size, output_size, output_ratio, samples):
    op = f"fractional_max_pool{dims}d"
    kernel = _sizes(kernel_size, dims, "kernel_size", op)
    out = _output_size(input, dims, output_size, output_ratio, op)
    _check_input(input, dims, op, kernel, out)
    batched = input.ndim == dims + 2
    x = input if batched else C.unsqueeze(input, 0)
    if np_kind(x._data.dtype) != "f":
        raise DTypeNotImplemented(f'"check_uniform_bounds" not implemented for '
                                  f"'{dtypes.TORCH_NAMES[x._data.dtype]}'")
    if samples is None:
        samples = rand(x.shape[0], x.shape[1], dims, dtype=x.dtype, device=x.device)
    _check_samples(samples, x, dims)
    if not isinstance(samples._data, np.ndarray):
        raise TraceError(f"{op}: its pooling windows depend on the values of _random_samples "
                         f"(drawn at random when not given), which a compiled graph cannot "
                         f"hold; call it outside the compiled function")
    n, c = x.shape[:2]
    spatial = tuple(x.shape[2:])
    positions = _window_positions(samples._data[:n], spatial, kernel, out)
    taps = positions.shape[-1]
    where = Tensor._make(positions.reshape(n, c, -1))
    planes = mv.reshape(x, (n, c, -1))
    windows = mv.reshape(gather(planes, 2, where), (n, c) + out + (taps,))
    pick = _window_max(windows)
    values = C.squeeze(gather(windows, windows.ndim - 1, pick), -1)
    indices = C.squeeze(gather(Tensor._make(positions), positions.ndim - 1, pick), -1)
    if not batched:
        values, indices = C.squeeze(values, 0), C.squeeze(indices, 0)
    return named(values, f"FractionalMaxPool{dims}DBackward0", (input,)), indices


def fractional_max_pool2d_with_indices(input, kernel_size, output_size=None, output_ratio=None,
                                       return_indices=False, _random_samples=None):
    return _fractional_max_pool(2, input, kernel_size, output_size, output_ratio,
                                _random_samples)


def fractional_max_pool3d_with_indices(input, kernel_size, output_size=None, output_ratio=None,
                                       return_indices=False, _random_samples=None):
    return _fractional_max_pool(3, input, kernel_size, output_size, output_ratio,
                                _random_samples)


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None):
    out = fractional_max_pool2d_with_indices(input, kernel_size, output_size, output_ratio,
                                             return_indices, _random_samples)
    return out if return_indices else out[0]


def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None):
    out = fractional_max_pool3d_with_indices(input, kernel_size, output_size, output_ratio,
                                             return_indices, _random_samples)
    return out if return_indices else out[0]
