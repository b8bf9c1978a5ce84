"""torch's antialias weights for interpolate(..., antialias=True) and torchvision's resize.

aten's `_upsample_{bilinear,bicubic}2d_aa` kernels resample each spatial dim with a
triangle (bilinear) or a=-0.5 Keys cubic (bicubic) filter, widened by the downscale factor
when shrinking, clipped at the border and renormalised. The weights depend only on the
sizes and the scale, so they are built here once in numpy as an (out, in) matrix and
applied with matmul: the tape and the compiler see a plain, differentiable matmul.
"""
import functools

import numpy as np


def _triangle(x):
    return np.maximum(1.0 - np.abs(x), 0.0)


def _cubic_aa(x, a=-0.5):  # Keys cubic with a=-0.5 (torch's aa kernel and PIL's)
    x = np.abs(x)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


AA_FILTERS = {"bilinear": (_triangle, 2), "bicubic": (_cubic_aa, 4)}    # filter, taps at scale 1


@functools.lru_cache(maxsize=64)  # a pipeline resizes between the same sizes again and again
def aa_weights(in_size, out_size, mode, scale=None):
    """(out_size, in_size) float64 matrix: row i holds the weights torch's antialiased
    interpolate gives input pixels for output pixel i. scale: the output step in input
    pixels (torch's area_pixel_compute_scale); None means in_size / out_size."""
    filt, interp_size = AA_FILTERS[mode]
    scale = in_size / out_size if scale is None else scale
    support = interp_size * 0.5 * scale if scale >= 1.0 else interp_size * 0.5
    invscale = 1.0 / scale if scale >= 1.0 else 1.0
    w = np.zeros((out_size, in_size))
    for i in range(out_size):
        center = scale * (i + 0.5)
        # int() truncates toward zero, as the C++ static_cast does
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size)
        js = np.arange(xmin, xmax)
        row = filt((js - center + 0.5) * invscale)
        total = row.sum()
        w[i, xmin:xmax] = row / total if total != 0.0 else row
    w.flags.writeable = False  # shared by the cache
    return w
