"""lp_pool1d, lp_pool2d and lp_pool3d: power-average pooling, (sum over the window of
x^p)^(1/p), as torch computes it: the average pool of x^p times the window's size, with
negative averages (odd p over negative inputs) clamped to zero before the root."""
import math

from ..ops import elementwise as ew
from .functional_conv import avg_pool2d
from .functional_conv3d import avg_pool3d
from .functional_conv_nd import _tuple
from .functional_pool1d import avg_pool1d

_AVG_POOL = {1: avg_pool1d, 2: avg_pool2d, 3: avg_pool3d}


def _lp_pool(dims, input, norm_type, kernel_size, stride, ceil_mode):
    kernel = _tuple(kernel_size, dims)
    pooled = _AVG_POOL[dims](ew.pow(input, norm_type), kernel_size,
                             kernel_size if stride is None else stride, 0, ceil_mode)
    kept = ew.sign(pooled) * ew.relu(ew.abs(pooled))
    return ew.pow(kept * math.prod(kernel), 1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """torch.nn.functional.lp_pool1d over (N, C, L) or (C, L)."""
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """torch.nn.functional.lp_pool2d over (N, C, H, W) or (C, H, W)."""
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """torch.nn.functional.lp_pool3d over (N, C, D, H, W) or (C, D, H, W)."""
    return _lp_pool(3, input, norm_type, kernel_size, stride, ceil_mode)
