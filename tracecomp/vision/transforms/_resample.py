"""Resampling of tracecomp-tensor images: resize (with torch's antialiasing), rotate /
affine and perspective.

Antialiased resizes (torchvision's default for bilinear/bicubic tensors) apply torch's
separable antialias weights (tracecomp.nn.antialias) as two small (out, in) matrices with
matmul, which keeps the op a tracecomp op (differentiable, traceable). Rotation, affine and
perspective sample a grid with nn.functional.grid_sample, as torchvision's tensor backend does.
"""
import math

import numpy as np

import tracecomp as tc
import tracecomp.nn.functional as nnf
from tracecomp.nn.antialias import aa_weights

_INT_DTYPES = (tc.uint8, tc.int8, tc.int16, tc.int32, tc.int64)


def _cast_back(x, dtype):
    # integer images are rounded, not truncated, on the way back (torchvision's rule)
    return (tc.round(x) if dtype in _INT_DTYPES else x).to(dtype)


def resize(img, size, interpolation, antialias):
    """img (..., H, W) resized to size [h, w]; torchvision's tensor semantics: integer
    images are resized in float32 and rounded back, bicubic uint8 is clamped."""
    mode = interpolation.value
    shape = tuple(img.shape)
    out_dtype = img.dtype
    x = img.reshape((-1,) + ((1,) if len(shape) == 2 else shape[-3:-2]) + shape[-2:])
    cast = x.dtype not in (tc.float32, tc.float64)
    if cast:
        x = x.to(tc.float32)
    if antialias and mode in ("bilinear", "bicubic"):
        wh = tc.tensor(aa_weights(shape[-2], size[0], mode), dtype=x.dtype)
        ww = tc.tensor(aa_weights(shape[-1], size[1], mode).T.copy(), dtype=x.dtype)
        x = tc.matmul(wh, tc.matmul(x, ww))
    else:
        corners = False if mode in ("bilinear", "bicubic") else None
        x = nnf.interpolate(x, size=list(size), mode=mode, align_corners=corners)
    if mode == "bicubic" and out_dtype == tc.uint8:
        x = x.clamp(0, 255)  # cubic overshoots; uint8 would wrap around
    if cast:
        x = _cast_back(x, out_dtype)
    return x.reshape(shape[:-2] + tuple(size))


def inverse_affine_matrix(center, angle, translate, scale, shear):
    """torchvision's inverse affine matrix (output pixel -> input pixel), 6 floats."""
    rot = math.radians(angle)
    sx, sy = math.radians(shear[0]), math.radians(shear[1])
    cx, cy = center
    tx, ty = translate
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    m = [v / scale for v in (d, -b, 0.0, -c, a, 0.0)]
    m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty) + cx
    m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty) + cy
    return m


def _expanded_size(m, w, h):
    # corners of the input, centred, through the matrix; the bounding box is the new size
    pts = np.array([[-0.5 * w, -0.5 * h, 1.0], [-0.5 * w, 0.5 * h, 1.0],
                    [0.5 * w, 0.5 * h, 1.0], [0.5 * w, -0.5 * h, 1.0]], dtype=np.float32)
    new = pts @ np.array(m, dtype=np.float32).reshape(2, 3).T
    lo, hi = new.min(0) + (w * 0.5, h * 0.5), new.max(0) + (w * 0.5, h * 0.5)
    tol = 1e-4  # cut float noise so that ceil(3.00000001) stays 3, as torchvision
    size = np.ceil(np.trunc(hi / tol) * tol) - np.floor(np.trunc(lo / tol) * tol)
    return int(size[0]), int(size[1])


def _affine_grid(m, w, h, ow, oh):
    """(1, oh, ow, 2) sampling grid in grid_sample's [-1, 1] units (torchvision's
    _gen_affine_grid: pixel centres relative to the image centre, normalised by the input
    size so an expanded output samples outside the input)."""
    xs = np.linspace(-ow * 0.5 + 0.5, ow * 0.5 - 0.5, ow)
    ys = np.linspace(-oh * 0.5 + 0.5, oh * 0.5 - 0.5, oh)
    base = np.stack(np.broadcast_arrays(xs[None, :], ys[:, None], 1.0), axis=-1)
    theta = np.array(m, dtype=np.float64).reshape(2, 3)
    grid = base @ theta.T / np.array([0.5 * w, 0.5 * h])
    return grid[None]


def rotate(img, matrix, interpolation, expand, fill):
    """img (..., C, H, W) sampled through the inverse matrix; fill: None or a list. Also
    torchvision's tensor affine (expand=False)."""
    h, w = int(img.shape[-2]), int(img.shape[-1])
    ow, oh = _expanded_size(matrix, w, h) if expand else (w, h)
    return grid_transform(img, _affine_grid(matrix, w, h, ow, oh), interpolation, fill)


def perspective_grid(coeffs, ow, oh):
    """(1, oh, ow, 2) grid of torchvision's _perspective_grid: output pixel centres (x, y)
    sent to ((a x + b y + c) / (g x + h y + 1), (d x + e y + f) / (g x + h y + 1)) in
    grid_sample's units."""
    xs = np.linspace(0.5, ow - 0.5, ow)
    ys = np.linspace(0.5, oh - 0.5, oh)
    base = np.stack(np.broadcast_arrays(xs[None, :], ys[:, None], 1.0), axis=-1)
    c = np.array(coeffs, dtype=np.float64)
    num = base @ c[:6].reshape(2, 3).T / np.array([0.5 * ow, 0.5 * oh])
    den = base @ np.array([c[6], c[7], 1.0])
    return (num / den[..., None] - 1.0)[None]


def grid_transform(img, grid, interpolation, fill):
    """grid_sample img (..., C, H, W) at grid (1, oh, ow, 2) (numpy, [-1, 1] units) with
    zeros outside, or the fill colour (None or a list) blended by coverage."""
    shape = tuple(img.shape)
    h, w = shape[-2], shape[-1]
    oh, ow = int(grid.shape[1]), int(grid.shape[2])
    out_dtype = img.dtype
    dtype = out_dtype if out_dtype in (tc.float32, tc.float64) else tc.float32
    x = img.reshape((-1,) + ((1,) if len(shape) == 2 else shape[-3:-2]) + shape[-2:])
    x = x.to(dtype)
    n, c = int(x.shape[0]), int(x.shape[1])
    grid = tc.tensor(grid, dtype=dtype).expand(n, oh, ow, 2)
    if fill is not None:
        # a ones channel sampled alongside tells how much of each output pixel came from
        # inside the image; the rest is the fill colour
        x = tc.cat((x, tc.ones((n, 1, h, w), dtype=dtype)), dim=1)
    mode = interpolation.value
    x = nnf.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)
    if fill is not None:
        mask, x = x[:, -1:], x[:, :-1]
        fill_img = tc.tensor([float(f) for f in fill], dtype=dtype).view(1, -1, 1, 1)
        fill_img = fill_img.expand(n, c, oh, ow)
        mask = mask.expand(n, c, oh, ow)
        if mode == "nearest":
            x = tc.where(mask < 0.5, fill_img, x)
        else:
            x = x * mask + (1.0 - mask) * fill_img
    if out_dtype != dtype:
        x = _cast_back(x, out_dtype)
    return x.reshape(shape[:-2] + (oh, ow))
