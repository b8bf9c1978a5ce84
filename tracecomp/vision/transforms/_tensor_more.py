"""The tensor backend of the augmentation ops (invert, posterize, solarize, sharpness,
autocontrast, equalize, gaussian_blur, erase), following torchvision's
_functional_tensor formulas; argument checks live in _functional_more.py.

Equalize is a histogram lookup on uint8 images (not differentiable in torchvision either),
so it is done in numpy; the others are tracecomp ops.
"""
import numpy as np

import tracecomp as tc
import tracecomp.nn.functional as nnf

from ._common import get_dimensions, is_float_dtype, max_value
from ._tensor import _blend


def invert(img):
    return max_value(img.dtype) - img


def posterize(img, bits):
    # keep the top `bits` bits: & with ~(2 ** (8 - bits) - 1) on uint8
    return tc.tensor(np.asarray(img.numpy()) & np.uint8(256 - 2 ** (8 - bits)))


def solarize(img, threshold):
    return tc.where(img >= threshold, invert(img), img)


def _depthwise(img, kernel):
    """kernel (kh, kw) applied per channel (valid convolution) in float; (..., C, H, W)."""
    shape = tuple(img.shape)
    c = shape[-3]
    dtype = img.dtype if is_float_dtype(img.dtype) else tc.float32
    x = img.reshape((-1,) + shape[-3:]).to(dtype)
    weight = tc.tensor(kernel, dtype=dtype).expand(c, 1, *kernel.shape)
    return x, nnf.conv2d(x, weight, groups=c)


def _round_back(x, dtype):
    # torchvision's _cast_squeeze_out: round to nearest for integer images
    return x if is_float_dtype(dtype) else x.round().to(dtype)


def adjust_sharpness(img, factor):
    _, h, w = get_dimensions(img)
    if h <= 2 or w <= 2:
        return img
    # PIL's SMOOTH kernel; the one-pixel border keeps the original pixels
    kernel = np.ones((3, 3), dtype=np.float32)
    kernel[1, 1] = 5.0
    kernel /= kernel.sum()
    _, blurred = _depthwise(img, kernel)
    blurred = _round_back(blurred, img.dtype).reshape(tuple(img.shape[:-2]) + (h - 2, w - 2))
    degenerate = img.clone()
    degenerate[..., 1:-1, 1:-1] = blurred
    return _blend(img, degenerate, factor)


def autocontrast(img):
    bound = max_value(img.dtype)
    dtype = img.dtype if is_float_dtype(img.dtype) else tc.float32
    minimum = img.amin(dim=(-2, -1), keepdim=True).to(dtype)
    maximum = img.amax(dim=(-2, -1), keepdim=True).to(dtype)
    flat = maximum == minimum  # a constant channel is left as it is
    scale = tc.where(flat, tc.ones_like(maximum),
                     bound / tc.where(flat, tc.ones_like(maximum), maximum - minimum))
    minimum = tc.where(flat, tc.zeros_like(minimum), minimum)
    return ((img.to(dtype) - minimum) * scale).clamp(0, bound).to(img.dtype)


def _equalize_channel(chan):
    hist = np.bincount(chan.reshape(-1), minlength=256)
    nonzero = hist[hist != 0]
    step = nonzero[:-1].sum() // 255
    if step == 0:
        return chan
    lut = (np.cumsum(hist) + step // 2) // step
    lut = np.clip(np.concatenate([[0], lut[:-1]]), 0, 255)
    return lut[chan].astype(np.uint8)


def equalize(img):
    arr = img.numpy()
    flat = arr.reshape((-1,) + arr.shape[-2:])
    return tc.tensor(np.stack([_equalize_channel(c) for c in flat]).reshape(arr.shape))


def gaussian_kernel2d(kernel_size, sigma):
    """(ky, kx) float32 kernel: the outer product of two normalised 1-D Gaussians."""
    def one(k, s):
        x = np.linspace(-(k - 1) * 0.5, (k - 1) * 0.5, k, dtype=np.float32)
        pdf = np.exp(-0.5 * (x / np.float32(s)) ** 2)
        return pdf / pdf.sum()
    return np.outer(one(kernel_size[1], sigma[1]), one(kernel_size[0], sigma[0]))


def gaussian_blur(img, kernel_size, sigma):
    shape = tuple(img.shape)
    kx, ky = kernel_size
    dtype = img.dtype if is_float_dtype(img.dtype) else tc.float32
    x = img.reshape((-1,) + shape[-3:]).to(dtype)
    # reflect padding keeps the size, as torchvision
    x = nnf.pad(x, [kx // 2, kx // 2, ky // 2, ky // 2], mode="reflect")
    kernel = gaussian_kernel2d(kernel_size, sigma)
    weight = tc.tensor(kernel, dtype=dtype).expand(shape[-3], 1, *kernel.shape)
    out = nnf.conv2d(x, weight, groups=shape[-3])
    return _round_back(out, img.dtype).reshape(shape)


def erase(img, i, j, h, w, v, inplace=False):
    if not inplace:
        img = img.clone()
    img[..., i:i + h, j:j + w] = v
    return img
