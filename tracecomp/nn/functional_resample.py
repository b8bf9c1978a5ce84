"""Resampling for tracecomp.nn.functional: interpolate (nearest, nearest-exact, linear,
bilinear, bicubic, trilinear, area), upsample*, pixel_shuffle / pixel_unshuffle, channel_shuffle.

Interpolation is separable: along each spatial dim an output position reads a few input
positions (1 for nearest, 2 for linear, 4 for cubic) with fixed weights, so each dim is a
sum of `index(x, positions) * weight` terms. The positions and weights are torch's
(UpSample.h: the source-index rules for align_corners, the given scale_factor used as is
unless recompute_scale_factor, the cubic kernel with A = -0.75 and clamped taps); they
are constants, so the tape and the compiler see only index, mul and add. antialias=True
(bilinear/bicubic, 4-D) applies torch's widened filters as matrices (tracecomp.nn.antialias).
"""
import math
import warnings

import numpy as np

from .. import composite as C
from .. import dtypes
from ..creation import tensor
from ..errors import ShapeError
from ..opmath import in_float32
from ..ops import elementwise as ew
from ..ops import movement as mv
from ..ops.linalg import matmul
from ..user_code import user_stacklevel
from .antialias import AA_FILTERS, aa_weights
from .functional_conv import adaptive_avg_pool2d

_MODES = "nearest | linear | bilinear | bicubic | trilinear | lanczos | area | nearest-exact"
_NEEDS = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}
_CUBIC_A = -0.75


def _scale(n_in, n_out, align_corners, scale):
    """torch's area_pixel_compute_scale: output step measured in input positions."""
    if align_corners:
        return (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    return 1.0 / scale if scale is not None and scale > 0 else n_in / n_out


def _nearest_taps(n_in, n_out, scale, exact):
    if n_out == n_in and not exact:
        return [(np.arange(n_out), None)]
    # torch computes the nearest scale and index in float32
    step = np.float32(1.0 / scale if scale is not None and scale > 0 else n_in / n_out)
    pos = np.arange(n_out, dtype=np.float32) + (np.float32(0.5) if exact else np.float32(0))
    return [(np.minimum(np.floor(pos * step).astype(np.int64), n_in - 1), None)]


def _linear_taps(n_in, n_out, align_corners, scale):
    step = _scale(n_in, n_out, align_corners, scale)
    dst = np.arange(n_out, dtype=np.float64)
    real = step * dst if align_corners else np.maximum(step * (dst + 0.5) - 0.5, 0.0)
    i0 = np.minimum(np.floor(real).astype(np.int64), n_in - 1)
    lam = np.clip(real - i0, 0.0, 1.0)
    i1 = i0 + (i0 < n_in - 1)
    return [(i0, 1.0 - lam), (i1, lam)]


def _cubic_taps(n_in, n_out, align_corners, scale):
    step = _scale(n_in, n_out, align_corners, scale)
    dst = np.arange(n_out, dtype=np.float64)
    real = step * dst if align_corners else step * (dst + 0.5) - 0.5
    i0 = np.minimum(np.floor(real).astype(np.int64), n_in - 1)
    t = np.clip(real - i0, 0.0, 1.0)
    a = _CUBIC_A

    def near(x):        # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):         # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    weights = (far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t))
    return [(np.clip(i0 - 1 + k, 0, n_in - 1), w) for k, w in enumerate(weights)]


def _resample_dim(x, dim, taps):
    """sum_k x[..., idx_k, ...] * w_k along dim (w None: a pure gather)."""
    lead = (slice(None),) * dim
    np_dtype = dtypes.to_np(x.dtype)
    out = None
    for idx, w in taps:
        term = x[lead + (tensor(idx),)]
        if w is not None:
            shape = (len(w),) + (1,) * (x.ndim - 1 - dim)
            term = term * tensor(w.astype(np_dtype).reshape(shape), device=x.device)
        out = term if out is None else out + term
    return out


def _sizes(input, size, scale_factor, recompute_scale_factor, mode):
    """(output sizes, scale factors to use as is or None), as torch's interpolate."""
    dim = input.ndim - 2
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        if recompute_scale_factor:
            raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError(f"Input and output must have the same number of spatial "
                                 f"dimensions, but got input with spatial dimensions of "
                                 f"{list(input.shape[2:])} and output size of {size}. Please "
                                 f"provide input tensor in (N, C, d1, d2, ...,dK) format and "
                                 f"output size in (o1, o2, ...,oK) format.")
            return [int(s) for s in size], None
        return [int(size)] * dim, None
    if scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    if isinstance(scale_factor, (list, tuple)):
        if len(scale_factor) != dim:
            raise ValueError(f"Input and scale_factor must have the same number of spatial "
                             f"dimensions, but got input with spatial dimensions of "
                             f"{list(input.shape[2:])} and scale_factor of shape "
                             f"{scale_factor}. Please provide input tensor in (N, C, d1, d2, "
                             f"...,dK) format and scale_factor in (s1, s2, ...,sK) format.")
        scales = [float(s) for s in scale_factor]
    else:
        scales = [float(scale_factor)] * dim
    out = [int(math.floor(input.shape[2 + i] * scales[i])) for i in range(dim)]
    if recompute_scale_factor or mode == "area":
        return out, None
    return out, scales


@in_float32
def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """torch.nn.functional.interpolate over (N, C, L), (N, C, H, W) or (N, C, D, H, W)
    input (5-D: nearest, nearest-exact and trilinear; area needs a 3-D adaptive pool)."""
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating "
                             "modes: linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    if antialias and (mode not in AA_FILTERS or input.ndim != 4):
        raise NotImplementedError(f"Anti-alias option is restricted to bilinear and bicubic "
                                  f"modes and requires a 4-D tensor as input (got mode "
                                  f"{mode}, {input.ndim}-D input)")
    if mode in _NEEDS and input.ndim in (3, 4, 5) and input.ndim != _NEEDS[mode]:
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs "
                                  f"{_NEEDS[mode]}D input")
    ranks = (3, 4, 5) if mode in ("nearest", "nearest-exact", "trilinear") else (3, 4)
    if input.ndim not in ranks or mode not in _MODES.split(" | ") or mode == "lanczos":
        raise NotImplementedError(f"Input Error: tracecomp supports 3D, 4D and 5D input for "
                                  f"the modes nearest | nearest-exact | trilinear, 3D and 4D "
                                  f"for linear | bilinear | bicubic | area (got {input.ndim}D "
                                  f"input, mode {mode})")
    out_sizes, scales = _sizes(input, size, scale_factor, recompute_scale_factor, mode)
    if any(s <= 0 for s in out_sizes):
        raise ShapeError(f"Input and output sizes should be greater than 0, but got input "
                         f"({', '.join(str(s) for s in input.shape[2:])}) and output "
                         f"({', '.join(str(s) for s in out_sizes)})")
    if mode == "area":
        if input.ndim == 3:
            return C.squeeze(adaptive_avg_pool2d(C.unsqueeze(input, 2), (1, out_sizes[0])), 2)
        return adaptive_avg_pool2d(input, tuple(out_sizes))
    if antialias:
        return _antialiased(input, out_sizes, scales, mode, align_corners)
    x = input
    for i in reversed(range(input.ndim - 2)):       # last dim first, as torch's kernels
        n_in, n_out = input.shape[2 + i], out_sizes[i]
        scale = None if scales is None else scales[i]
        if mode in ("nearest", "nearest-exact"):
            taps = _nearest_taps(n_in, n_out, scale, mode == "nearest-exact")
        elif mode == "bicubic":
            taps = _cubic_taps(n_in, n_out, align_corners, scale)
        else:
            taps = _linear_taps(n_in, n_out, align_corners, scale)
        x = _resample_dim(x, 2 + i, taps)
    return ew.dense(x)      # row-major, as torch's


def _antialiased(x, out_sizes, scales, mode, align_corners):
    """interpolate(antialias=True): torch's aa filter as one (out, in) matrix per dim."""
    h, w = x.shape[2:]
    steps = [_scale(n, o, align_corners, None if scales is None else s)
             for n, o, s in zip((h, w), out_sizes, scales or (None, None))]
    np_dtype = dtypes.to_np(x.dtype)
    wh, ww = (tensor(aa_weights(n, o, mode, st).astype(np_dtype), device=x.device)
              for n, o, st in zip((h, w), out_sizes, steps))
    return ew.dense(matmul(wh, matmul(x, C.transpose(ww, 0, 1))))


def _deprecated(name):
    """torch's warning for its three old names of interpolate (its modules warn nothing)."""
    warnings.warn(f"`nn.functional.{name}` is deprecated. Use `nn.functional.interpolate` "
                  f"instead.", stacklevel=user_stacklevel())   # (torch_function may wrap it)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    _deprecated("upsample")
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    _deprecated("upsample_nearest")
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    _deprecated("upsample_bilinear")
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# --- pixel shuffle ---------------------------------------------------------------------------
def pixel_shuffle(input, upscale_factor):
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r)."""
    r = upscale_factor
    if input.ndim < 3:
        raise ShapeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got "
                         f"input with {input.ndim} dimension(s)")
    if r <= 0:
        raise ShapeError(f"pixel_shuffle expects a positive upscale_factor, but got {r}")
    *batch, c, h, w = input.shape
    if c % (r * r):
        raise ShapeError(f"pixel_shuffle expects its input's 'channel' dimension to be "
                         f"divisible by the square of upscale_factor, but input.size(-3)={c} "
                         f"is not divisible by {r * r}")
    b = len(batch)
    x = mv.reshape(input, tuple(batch) + (c // (r * r), r, r, h, w))
    x = mv.permute(x, tuple(range(b)) + tuple(b + i for i in (0, 3, 1, 4, 2)))
    return mv.reshape(x, tuple(batch) + (c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H*r, W*r) -> (*, C*r*r, H, W)."""
    r = downscale_factor
    if input.ndim < 3:
        raise ShapeError(f"pixel_unshuffle expects input to have at least 3 dimensions, but "
                         f"got input with {input.ndim} dimension(s)")
    if r <= 0:
        raise ShapeError(f"pixel_unshuffle expects a positive downscale_factor, but got {r}")
    *batch, c, h, w = input.shape
    for name, n, d in (("height", h, -2), ("width", w, -1)):
        if n % r:
            raise ShapeError(f"pixel_unshuffle expects {name} to be divisible by "
                             f"downscale_factor, but input.size({d})={n} is not divisible by "
                             f"{r}")
    b = len(batch)
    x = mv.reshape(input, tuple(batch) + (c, h // r, r, w // r, r))
    x = mv.permute(x, tuple(range(b)) + tuple(b + i for i in (0, 2, 4, 1, 3)))
    return mv.reshape(x, tuple(batch) + (c * r * r, h // r, w // r))


def channel_shuffle(input, groups):
    """(N, C, *) -> channels regrouped: (N, g, C/g, *) transposed to (N, C/g, g, *)."""
    if input.ndim <= 2:
        raise ShapeError(f"channel_shuffle expects input with > 2 dims, but got input with "
                         f"sizes {list(input.shape)}")
    if groups <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value "
                           f"of groups:{groups}")
    n, c, *rest = input.shape
    if c % groups:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {c} channels "
                           f"and {groups} groups.")
    grouped = C.reshape(input, (n, groups, c // groups, *rest))
    return C.reshape(C.transpose(grouped, 1, 2), tuple(input.shape))
