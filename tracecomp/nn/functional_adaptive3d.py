"""adaptive_avg_pool3d and adaptive_max_pool3d, over (N, C, D, H, W) or unbatched
(C, D, H, W) input, composed of their 2-D forms: an adaptive window is a box, the product
of one window per dim, so its mean is the mean over its depth window of the planes' 2-D
means (a matrix of window averages along D, then adaptive_avg_pool2d), and its max the
2-D max of the planes' maxima over the depth window. Gradients come through those ops.

The max's indices are flat (d * H + h) * W + w in the input, as torch's. On ties the
first maximum along depth is taken at each (h, w), then the first (h, w) in the plane, as
the 2-D max takes it; torch scans the box with depth outermost, so with equal maxima at
two depths and two positions the index may differ (never the value).
"""
from .. import composite as C
from ..amp.cpu_policy import FP32, autocast_op
from ..creation import tensor
from ..errors import ShapeError, fmt_shape
from ..ops import movement as mv
from ..ops.indexing import gather
from ..ops.linalg import matmul
from ..ops.reduce import argmax
from .functional_conv import (
    _averaging_matrix,
    _window_positions,
    adaptive_avg_pool2d,
    adaptive_max_pool2d,
)


def _checked(op, input, output_size):
    """(batched input, was it unbatched, (od, oh, ow)) as torch checks them."""
    if input.ndim not in (4, 5):
        sep = ": " if op == "adaptive_max_pool3d" else " "
        raise ShapeError(f"{op}(): Expected 4D or 5D tensor, but got{sep}{fmt_shape(input.shape)}")
    for k in range(input.ndim - 3, input.ndim):
        if input.shape[k] == 0:
            raise ShapeError(f"{op}(): Expected input to have non-zero size for non-batch "
                             f"dimensions, but input has sizes {fmt_shape(input.shape)} with "
                             f"dimension {k} being empty")
    x = C.unsqueeze(input, 0) if input.ndim == 4 else input
    sizes = (output_size,) * 3 if isinstance(output_size, int) else tuple(output_size)
    if len(sizes) != 3:
        raise ShapeError(f"{op}(): output_size must be 3, got {len(sizes)}")
    out = tuple(x.shape[2 + i] if s is None else int(s) for i, s in enumerate(sizes))
    return x, input.ndim == 4, out


def _done(y, unbatched):
    return C.squeeze(y, 0) if unbatched else y


def _empty(x, out):
    """torch's result for an output size of 0: an empty tensor of that shape."""
    return mv.reshape(C.flatten(x)[:0], tuple(x.shape[:2]) + out)


@autocast_op(FP32)
def adaptive_avg_pool3d(input, output_size):
    """torch.nn.functional.adaptive_avg_pool3d (output_size an int or a triple that may
    hold None for "keep this size")."""
    x, unbatched, (od, oh, ow) = _checked("adaptive_avg_pool3d", input, output_size)
    if 0 in (od, oh, ow):
        return _done(_empty(x, (od, oh, ow)), unbatched)
    n, c, d, h, w = x.shape
    depth = _averaging_matrix(d, od, x.dtype, x.device)          # (od, d)
    planes = matmul(depth, mv.reshape(x, (n, c, d, h * w)))      # (n, c, od, h*w)
    pooled = adaptive_avg_pool2d(mv.reshape(planes, (n, c * od, h, w)), (oh, ow))
    return _done(mv.reshape(pooled, (n, c, od, oh, ow)), unbatched)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """torch.nn.functional.adaptive_max_pool3d, with flat indices if asked."""
    x, unbatched, (od, oh, ow) = _checked("adaptive_max_pool3d", input, output_size)
    if 0 in (od, oh, ow):
        empty = _done(_empty(x, (od, oh, ow)), unbatched)
        return (empty, empty.long()) if return_indices else empty
    n, c, d, h, w = x.shape
    pos, real = _window_positions(d, od)                         # (od, kd) each
    kd = pos.shape[1]
    windows = mv.reshape(x[:, :, tensor(pos.reshape(-1))], (n, c, od, kd, h, w))
    windows = C.masked_fill(windows, tensor(~real[:, :, None, None], device=x.device),
                            float("-inf"))
    which = argmax(windows, 3, keepdim=True)                     # (n, c, od, 1, h, w)
    best = C.squeeze(gather(windows, 3, which), 3)               # (n, c, od, h, w)
    values, flat = adaptive_max_pool2d(mv.reshape(best, (n, c * od, h, w)), (oh, ow), True)
    values = mv.reshape(values, (n, c, od, oh, ow))
    if not return_indices:
        return _done(values, unbatched)
    # the depth of each plane's maximum at (h, w), then at the 2-D max's position
    depths = tensor(pos, device=x.device)                        # (od, kd)
    at = C.squeeze(gather(mv.expand(mv.reshape(depths, (1, 1, od, kd, 1, 1)),
                                    (n, c, od, kd, h, w)), 3, which), 3)
    chosen = gather(mv.reshape(at, (n, c, od, h * w)), 3,
                    mv.reshape(flat, (n, c, od, oh * ow)))
    indices = chosen * (h * w) + mv.reshape(flat, (n, c, od, oh * ow))
    return _done(values, unbatched), _done(mv.reshape(indices, (n, c, od, oh, ow)), unbatched)
