"""F.affine_grid and F.grid_sample (the spatial transformer's two halves), written with
tensor ops so that their gradients (to the image and to the grid, hence to theta) and their
compiled form come from the ops': no primitive of their own.

Coordinates follow torch: a grid holds (x, y[, z]) in [-1, 1] per output point, x along
the last (width) dim; align_corners=True puts -1 and 1 on the centres of the corner
pixels, False (the default) on their outer edges. grid_sample reads the input there:

  - bilinear (trilinear for 5-D input): the 2^k neighbours of the point, each weighted by
    its distance's complement along every dim; the neighbours are gathered from the input
    flattened over its spatial dims;
  - nearest: the neighbour rounded half to even, as torch's nearbyint;
  - padding: "zeros" leaves out the neighbours outside the input, "border" clamps the
    coordinate to the edge pixels, "reflection" reflects it about the edges, then clamps.

bicubic is refused with the modes this provides.
"""
import itertools
import math
import warnings

from .. import composite as C
from .. import dtypes
from ..composite_shape import select
from ..creation import linspace, ones, zeros
from ..errors import ShapeError, fmt_shape
from ..ops import elementwise as ew
from ..ops import movement as mv
from ..ops.indexing import gather
from ..user_code import user_stacklevel

MODES = ("bilinear", "nearest")
_DEFAULT_CORNERS = ("Default grid_sample and affine_grid behavior has changed to "
                    "align_corners=False since 1.3.0. Please specify align_corners=True if the "
                    "old behavior is desired. See the documentation of grid_sample for details.")


def _corners(align_corners):
    """align_corners, False when not given, with torch's warning then."""
    if align_corners is None:
        warnings.warn(_DEFAULT_CORNERS, UserWarning, stacklevel=user_stacklevel())
    return bool(align_corners)
PADDINGS = ("zeros", "border", "reflection")


def _base(n, align_corners, like):
    """The n normalized coordinates of a dim's pixel centres, rounded as torch's are
    (linspace(-1, 1, n), times (n - 1) then over n without align_corners): sampled at pixel
    centres (an identity theta), a coordinate one ulp either side of a whole pixel takes
    the gradient to the grid from the other neighbour."""
    if n <= 1:
        return zeros((n,), dtype=like.dtype, device=like.device)
    steps = linspace(-1.0, 1.0, n, dtype=like.dtype, device=like.device)
    return steps if align_corners else steps * float(n - 1) / float(n)


def affine_grid(theta, size, align_corners=None):
    """The sampling grid of the affine maps theta (N, 2, 3) for an output of `size`
    (N, C, H, W), or theta (N, 3, 4) for (N, C, D, H, W): (N, H, W, 2) / (N, D, H, W, 3)."""
    size = tuple(int(s) for s in size)
    align_corners = _corners(align_corners)
    if len(size) not in (4, 5):
        raise NotImplementedError(f"affine_grid only supports 4D and 5D sizes, for 2D and 3D "
                                  f"affine transforms, respectively. Got size {list(size)}.")
    k = len(size) - 2
    if theta.ndim != 3 or tuple(theta.shape[1:]) != (k, k + 1) or theta.shape[0] != size[0]:
        raise ShapeError(f"affine_grid: expected a batch of {k}D affine matrices of shape "
                         f"Nx{k}x{k + 1} for size {list(size)} (N = {size[0]}). Got theta of "
                         f"shape {fmt_shape(theta.shape)}.")
    if not theta.dtype.is_floating_point:
        raise TypeError(f"affine_grid: expected theta to have floating point type, but got "
                        f"{theta.dtype}")
    if min(size[2:]) <= 0:
        raise ValueError(f"affine_grid: expected non-zero, positive output size, got "
                         f"{list(size)}")
    spatial = size[2:]              # (H, W) or (D, H, W)
    points = math.prod(spatial)
    # each point's (x, y[, z], 1): x varies along the last dim
    axes = []
    for d, n in enumerate(spatial):
        shape = [1] * k
        shape[d] = n
        axes.append(mv.expand(mv.reshape(_base(n, align_corners, theta), tuple(shape)),
                              spatial))
    base = C.stack([*reversed(axes), ones(spatial, dtype=theta.dtype, device=theta.device)],
                   k)
    base = mv.reshape(base, (1, points, k + 1))
    grid = C.matmul(mv.expand(base, (size[0], points, k + 1)), C.transpose(theta, 1, 2))
    return mv.reshape(grid, (size[0], *spatial, k))


def _unnormalize(coord, n, align_corners):
    if align_corners:
        return (coord + 1.0) * ((n - 1) / 2.0)
    return ((coord + 1.0) * n - 1.0) / 2.0


def _reflect(coord, twice_low, twice_high):
    """coord reflected about [twice_low / 2, twice_high / 2] until it is inside."""
    if twice_low == twice_high:
        return coord * 0.0
    low, span = twice_low / 2.0, (twice_high - twice_low) / 2.0
    dist = ew.abs(coord - low)
    extra = ew.fmod(dist, span)
    flips = ew.floor(dist / span).detach()
    even = ew.fmod(flips, 2.0) == 0
    return ew.where(even, extra + low, (span - extra) + low)


def _source(coord, n, padding_mode, align_corners):
    """A grid coordinate as a (fractional) pixel index of a dim of n pixels."""
    c = _unnormalize(coord, n, align_corners)
    if padding_mode == "reflection":
        c = _reflect(c, 0, 2 * (n - 1)) if align_corners else _reflect(c, -1, 2 * n - 1)
    if padding_mode in ("border", "reflection"):
        c = C.clamp(c, 0.0, float(n - 1))
    return c


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """input (N, C, H, W) read at grid (N, Ho, Wo, 2): (N, C, Ho, Wo); 5-D input and grid
    likewise (trilinear)."""
    if mode not in MODES:
        valid = "'bilinear' and 'nearest'" + (" (bicubic is not provided by tracecomp)"
                                             if mode == "bicubic" else "")
        raise ValueError(f"grid_sample: mode must be one of {valid}, got {mode!r}")
    if padding_mode not in PADDINGS:
        raise ValueError(f"nn.functional.grid_sample(): expected padding_mode to be 'zeros', "
                         f"'border', or 'reflection', but got: '{padding_mode}'")
    k = input.ndim - 2
    if k not in (2, 3) or grid.ndim != input.ndim or grid.shape[-1] != k \
            or grid.shape[0] != input.shape[0]:
        raise ShapeError(f"grid_sample: expected 4-D input with a grid (N, H_out, W_out, 2) or "
                         f"5-D input with a grid (N, D_out, H_out, W_out, 3), the same N; got "
                         f"input {fmt_shape(input.shape)} and grid {fmt_shape(grid.shape)}")
    if input.dtype != grid.dtype:
        raise TypeError(f"grid_sample: expected input and grid to have the same dtype, but "
                        f"input has {input.dtype} and grid has {grid.dtype}")
    align_corners = _corners(align_corners)
    n_batch, channels = input.shape[:2]
    spatial = tuple(input.shape[2:])            # (H, W) or (D, H, W)
    out_spatial = tuple(grid.shape[1:-1])
    points = math.prod(out_spatial)
    flat = mv.reshape(input, (n_batch, channels, math.prod(spatial)))
    # coordinate d of the grid runs along input dim -1 - d (x: width)
    sizes = spatial[::-1]
    coords = [_source(select(grid, -1, d), sizes[d], padding_mode, align_corners)
              for d in range(k)]
    strides = [math.prod(sizes[:d]) for d in range(k)]      # x: 1, y: W, z: H * W

    def read(index, weight):
        """weight * the input at integer pixel `index` (one tensor per coordinate)."""
        inside, position = None, 0
        for d, (i, n) in enumerate(zip(index, sizes)):
            # outside: padding with zeros, or the upper neighbour of a clamped coordinate
            # on the last pixel (its weight is 0 then)
            ok = ew.logical_and(i >= 0, i <= n - 1)
            inside = ok if inside is None else ew.logical_and(inside, ok)
            position = position + ew.cast(C.clamp(i, 0, n - 1), dtypes.I64) * strides[d]
        position = mv.expand(mv.reshape(position, (n_batch, 1, points)),
                             (n_batch, channels, points))
        values = mv.reshape(gather(flat, 2, position), (n_batch, channels, *out_spatial))
        weight = ew.where(inside, weight, 0.0)
        return values * C.unsqueeze(weight, 1)

    if mode == "nearest":
        # weight 1 with the grid on its tape: the grid's gradient is zeros, as torch's
        weight = sum((c - c.detach()) * 0.0 for c in coords) + 1.0
        return read([ew.round(c.detach()) for c in coords], weight)
    lows = [ew.floor(c.detach()) for c in coords]
    out = None
    for corner in itertools.product((0, 1), repeat=k):
        weight = None
        for c, low, up in zip(coords, lows, corner):
            w = c - low if up else (low + 1.0) - c
            weight = w if weight is None else weight * w
        term = read([low + up for low, up in zip(lows, corner)], weight)
        out = term if out is None else out + term
    return out
