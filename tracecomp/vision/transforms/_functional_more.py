"""transforms.functional's augmentation ops: affine, perspective, gaussian_blur, erase,
invert, posterize, solarize, adjust_sharpness, autocontrast, equalize. Checks follow
torchvision's rules; PIL images go to Pillow (as in torchvision: identical pixels), tensors
to _tensor_more.py / _resample.py. functional.py re-exports them.

As in torchvision, gaussian_blur of a PIL image blurs its tensor (pil_to_tensor) and converts
back, and erase takes tensors only.
"""
import numbers

import numpy as np

import tracecomp as tc

from . import _resample
from . import _tensor_more as _t
from ._common import (
    TO_PIL_INT,
    InterpolationMode,
    bad_input,
    check_channels,
    check_image,
    get_dimensions,
    interpolation_mode,
    is_pil,
    is_tensor,
    max_value,
)
from ._convert import pil_to_tensor, to_pil_image

__all__ = ["affine", "perspective", "gaussian_blur", "erase", "invert", "posterize",
           "solarize", "adjust_sharpness", "autocontrast", "equalize"]


def _pil():
    from . import _pil as backend  # lazily: tensor-only programs need no Pillow
    return backend


def _tensor_fill(where, fill, channels):
    """None, or a list of 1 or `channels` floats (torchvision's tensor fill rule)."""
    if fill is None:
        return None
    if isinstance(fill, numbers.Number) and not isinstance(fill, bool):
        return [float(fill)]
    if not isinstance(fill, (list, tuple)):
        raise TypeError(f"{where}: fill={fill!r}; it accepts a number or a sequence")
    if len(fill) not in (1, channels):
        raise ValueError(f"{where}: fill has {len(fill)} values; the image has {channels} "
                         f"channels (give 1 or {channels} values)")
    return [float(f) for f in fill]


def _grid_mode(where, interpolation):
    if interpolation not in (InterpolationMode.NEAREST, InterpolationMode.BILINEAR):
        raise ValueError(f"{where}: interpolation={interpolation.name} is not supported for "
                         f"tensors; they accept NEAREST or BILINEAR")


def affine(img, angle, translate, scale, shear, interpolation=InterpolationMode.NEAREST,
           fill=None, center=None):
    """Rotate by angle degrees, translate by (tx, ty) pixels, scale, shear by (sx, sy)
    degrees, about center (default: the image centre), keeping the size."""
    where = "affine (RandomAffine)"
    check_image(where, img)
    interpolation = interpolation_mode(interpolation, where)
    if isinstance(angle, bool) or not isinstance(angle, (int, float)):
        raise TypeError(f"{where}: angle={angle!r}; it accepts int or float")
    if not isinstance(translate, (list, tuple)):
        raise TypeError(f"{where}: translate={translate!r}; it accepts a sequence")
    if len(translate) != 2:
        raise ValueError(f"{where}: translate should be a sequence of length 2")
    if scale <= 0.0:
        raise ValueError(f"{where}: scale ({scale}) should be positive")
    if not isinstance(shear, (numbers.Number, list, tuple)):
        raise TypeError(f"{where}: shear should be a single value or a sequence of two")
    shear = [shear, 0.0] if isinstance(shear, numbers.Number) else list(shear)
    if len(shear) == 1:
        shear = [shear[0], shear[0]]
    if len(shear) != 2:
        raise ValueError(f"{where}: shear should contain two values, got {shear}")
    if center is not None and not isinstance(center, (list, tuple)):
        raise TypeError(f"{where}: center should be a sequence")
    channels, height, width = get_dimensions(img)
    if is_pil(img):
        # PIL: pixel coordinates about the centre in pixels
        center = [width * 0.5, height * 0.5] if center is None else center
        matrix = _resample.inverse_affine_matrix(center, float(angle), list(translate),
                                                 scale, shear)
        return _pil().affine(img, matrix, TO_PIL_INT[interpolation], fill, where)
    _grid_mode(where, interpolation)
    center_f = [0.0, 0.0]  # tensors: relative to the image centre
    if center is not None:
        center_f = [1.0 * (c - s * 0.5) for c, s in zip(center, [width, height])]
    matrix = _resample.inverse_affine_matrix(center_f, float(angle),
                                             [1.0 * t for t in translate], scale, shear)
    return _resample.rotate(img, matrix, interpolation, False,
                            _tensor_fill(where, fill, channels))


def _get_perspective_coeffs(startpoints, endpoints):
    """The 8 coefficients mapping endpoints to startpoints (least squares, float64, then
    float32 as torchvision)."""
    if len(startpoints) != 4 or len(endpoints) != 4:
        raise ValueError(f"perspective: please provide exactly four corners, got "
                         f"{len(startpoints)} startpoints and {len(endpoints)} endpoints.")
    a = np.zeros((8, 8))
    for i, (p1, p2) in enumerate(zip(endpoints, startpoints)):
        a[2 * i] = [p1[0], p1[1], 1, 0, 0, 0, -p2[0] * p1[0], -p2[0] * p1[1]]
        a[2 * i + 1] = [0, 0, 0, p1[0], p1[1], 1, -p2[1] * p1[0], -p2[1] * p1[1]]
    b = np.array(startpoints, dtype=np.float64).reshape(8)
    return np.linalg.lstsq(a, b, rcond=None)[0].astype(np.float32).tolist()


def perspective(img, startpoints, endpoints, interpolation=InterpolationMode.BILINEAR,
                fill=None):
    """Warp so that the 4 startpoints [[x, y], ...] (top-left, top-right, bottom-right,
    bottom-left) land on endpoints."""
    where = "perspective (RandomPerspective)"
    check_image(where, img)
    coeffs = _get_perspective_coeffs(startpoints, endpoints)
    interpolation = interpolation_mode(interpolation, where)
    if is_pil(img):
        return _pil().perspective(img, coeffs, TO_PIL_INT[interpolation], fill, where)
    _grid_mode(where, interpolation)
    channels, h, w = get_dimensions(img)
    grid = _resample.perspective_grid(coeffs, w, h)
    return _resample.grid_transform(img, grid, interpolation,
                                    _tensor_fill(where, fill, channels))


def gaussian_blur(img, kernel_size, sigma=None):
    """Blur with a (kx, ky) Gaussian (odd sizes); sigma default 0.3 * ((k - 1) * 0.5 - 1)
    + 0.8 per axis; borders reflect."""
    where = "gaussian_blur (GaussianBlur)"
    check_image(where, img)
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, (int, list, tuple)):
        raise TypeError(f"{where}: kernel_size should be int or a sequence of integers, got "
                        f"{type(kernel_size).__name__}")
    if isinstance(kernel_size, int):
        kernel_size = [kernel_size, kernel_size]
    if len(kernel_size) != 2:
        raise ValueError(f"{where}: kernel_size as a sequence should have length 2, got "
                         f"{len(kernel_size)}")
    if any(k % 2 == 0 or k < 0 for k in kernel_size):
        raise ValueError(f"{where}: kernel_size should have odd and positive integers, got "
                         f"{kernel_size}")
    if sigma is None:
        sigma = [k * 0.15 + 0.35 for k in kernel_size]
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float, list, tuple)):
        raise TypeError(f"{where}: sigma should be a float or a sequence of floats")
    if isinstance(sigma, (int, float)):
        sigma = [float(sigma), float(sigma)]
    if len(sigma) == 1:
        sigma = [sigma[0], sigma[0]]
    if len(sigma) != 2:
        raise ValueError(f"{where}: sigma as a sequence should have length 2, got {len(sigma)}")
    if any(s <= 0.0 for s in sigma):
        raise ValueError(f"{where}: sigma should have positive values, got {sigma}")
    if is_pil(img):
        out = _t.gaussian_blur(pil_to_tensor(img), list(kernel_size), list(sigma))
        return to_pil_image(out, mode=img.mode)
    return _t.gaussian_blur(img, list(kernel_size), list(sigma))


def erase(img, i, j, h, w, v, inplace=False):
    """img with the (h, w) box at row i, column j set to v (a tensor or number); tensors
    only."""
    if not is_tensor(img):
        raise bad_input("erase (RandomErasing)", img, "a tracecomp.Tensor image (convert PIL "
                                                      "images with ToTensor first)")
    return _t.erase(img, int(i), int(j), int(h), int(w), v, inplace)


def _needs_3d(where, img, permitted=(1, 3)):
    if img.dim() < 3:
        raise TypeError(f"{where}: a tensor image needs at least 3 dimensions, got "
                        f"{img.dim()}")
    check_channels(where, img, list(permitted))


def _uint8_only(where, img):
    if img.dtype != tc.uint8:
        raise TypeError(f"{where}: only uint8 image tensors are supported, got {img.dtype}")


def invert(img):
    """max_value - img (colours inverted)."""
    where = "invert (RandomInvert)"
    check_image(where, img)
    if is_pil(img):
        return _pil().invert(img)
    _needs_3d(where, img)
    return _t.invert(img)


def posterize(img, bits):
    """Keep the top `bits` (0-8) bits of each uint8 channel value."""
    where = "posterize (RandomPosterize)"
    check_image(where, img)
    if isinstance(bits, bool) or not isinstance(bits, int) or not 0 <= bits <= 8:
        raise ValueError(f"{where}: bits={bits!r}; it accepts an int in [0, 8]")
    if is_pil(img):
        return _pil().posterize(img, bits)
    _needs_3d(where, img)
    _uint8_only(where, img)
    return _t.posterize(img, bits)


def solarize(img, threshold):
    """Invert the values at or above threshold."""
    where = "solarize (RandomSolarize)"
    check_image(where, img)
    if is_pil(img):
        return _pil().solarize(img, threshold)
    _needs_3d(where, img)
    if threshold > max_value(img.dtype):
        raise TypeError(f"{where}: threshold ({threshold}) should be at most the image's "
                        f"maximum value {max_value(img.dtype)}")
    return _t.solarize(img, threshold)


def adjust_sharpness(img, sharpness_factor):
    """Blend with PIL's smoothed image: 0 blurred, 1 unchanged, 2 sharper."""
    where = "adjust_sharpness (RandomAdjustSharpness)"
    check_image(where, img)
    if sharpness_factor < 0:
        raise ValueError(f"{where}: sharpness_factor ({sharpness_factor}) is not "
                         f"non-negative")
    if is_pil(img):
        return _pil().adjust_sharpness(img, sharpness_factor)
    check_channels(where, img, [1, 3])
    return _t.adjust_sharpness(img, sharpness_factor)


def autocontrast(img):
    """Stretch each channel's range to [0, max_value]."""
    where = "autocontrast (RandomAutocontrast)"
    check_image(where, img)
    if is_pil(img):
        return _pil().autocontrast(img)
    _needs_3d(where, img)
    return _t.autocontrast(img)


def equalize(img):
    """Histogram-equalize each channel (uint8 images)."""
    where = "equalize (RandomEqualize)"
    check_image(where, img)
    if is_pil(img):
        return _pil().equalize(img)
    _needs_3d(where, img)
    _uint8_only(where, img)
    return _t.equalize(img)
