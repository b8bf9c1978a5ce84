"""Geometric transform classes: Resize, CenterCrop, Pad, RandomCrop, RandomResizedCrop,
RandomHorizontalFlip, RandomVerticalFlip, RandomRotation, FiveCrop, TenCrop.

Constructor checks and random draws follow torchvision's transforms.py (same draws in the
same order, from tracecomp's generator instead of torch's), and the work is done by
functional.py, so PIL images and tensor images behave as in torchvision.
"""
import math
import numbers
import warnings
from collections.abc import Sequence

import tracecomp as tc

from ...user_code import user_stacklevel
from . import functional as F
from ._common import (
    InterpolationMode,
    check_fill,
    check_probability,
    interpolation_mode,
    is_tensor,
    rand_item,
    randint_item,
    setup_size,
    uniform_item,
)


class Resize(tc.nn.Module):
    """Resize to (h, w), or the smaller edge to size (an int) keeping the aspect ratio."""

    def __init__(self, size, interpolation=InterpolationMode.BILINEAR, max_size=None,
                 antialias=True):
        super().__init__()
        if isinstance(size, (bool, str)) or not isinstance(size, (int, Sequence)):
            raise TypeError(f"Resize: size={size!r}; it accepts an int or a sequence (h, w)")
        if isinstance(size, Sequence) and len(size) not in (1, 2):
            raise ValueError(f"Resize: size={size!r}; a sequence must have 1 or 2 values")
        self.size, self.max_size, self.antialias = size, max_size, antialias
        self.interpolation = interpolation_mode(interpolation, "Resize")

    def forward(self, img):
        return F.resize(img, self.size, self.interpolation, self.max_size, self.antialias)

    def __repr__(self):
        return (f"{type(self).__name__}(size={self.size}, interpolation="
                f"{self.interpolation.value}, max_size={self.max_size}, "
                f"antialias={self.antialias})")


class CenterCrop(tc.nn.Module):
    """Crop the centred (h, w) window (zero-padding images smaller than it)."""

    def __init__(self, size):
        super().__init__()
        self.size = setup_size(size, "CenterCrop")

    def forward(self, img):
        return F.center_crop(img, self.size)

    def __repr__(self):
        return f"{type(self).__name__}(size={self.size})"


def _check_pad_args(where, padding, fill, padding_mode):
    if isinstance(padding, bool) or not isinstance(padding, (numbers.Number, tuple, list)):
        raise TypeError(f"{where}: padding={padding!r}; it accepts an int or a sequence of "
                        f"1, 2 or 4 ints")
    if isinstance(padding, Sequence) and len(padding) not in (1, 2, 4):
        raise ValueError(f"{where}: padding must be an int or a 1, 2, or 4 element sequence, "
                         f"not {len(padding)} elements")
    check_fill(where, fill)
    if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
        raise ValueError(f"{where}: padding_mode={padding_mode!r}; it accepts 'constant', "
                         f"'edge', 'reflect' or 'symmetric'")


class Pad(tc.nn.Module):
    """Pad every side (int, (left/right, top/bottom) or (l, t, r, b))."""

    def __init__(self, padding, fill=0, padding_mode="constant"):
        super().__init__()
        _check_pad_args("Pad", padding, fill, padding_mode)
        self.padding, self.fill, self.padding_mode = padding, fill, padding_mode

    def forward(self, img):
        return F.pad(img, self.padding, self.fill, self.padding_mode)

    def __repr__(self):
        return (f"{type(self).__name__}(padding={self.padding}, fill={self.fill}, "
                f"padding_mode={self.padding_mode})")


class RandomCrop(tc.nn.Module):
    """Crop a random (h, w) window, after optional padding."""

    @staticmethod
    def get_params(img, output_size):
        _, h, w = F.get_dimensions(img)
        th, tw = output_size
        if h < th or w < tw:
            raise ValueError(f"RandomCrop: required crop size {(th, tw)} is larger than the "
                             f"input image size {(h, w)} (use pad_if_needed=True)")
        if w == tw and h == th:
            return 0, 0, h, w
        return randint_item(0, h - th + 1), randint_item(0, w - tw + 1), th, tw

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0,
                 padding_mode="constant"):
        super().__init__()
        self.size = setup_size(size, "RandomCrop")
        if padding is not None:
            _check_pad_args("RandomCrop", padding, fill, padding_mode)
        else:
            _check_pad_args("RandomCrop", 0, fill, padding_mode)
        self.padding, self.pad_if_needed = padding, pad_if_needed
        self.fill, self.padding_mode = fill, padding_mode

    def forward(self, img):
        if self.padding is not None:
            img = F.pad(img, self.padding, self.fill, self.padding_mode)
        _, height, width = F.get_dimensions(img)
        # pad_if_needed pads both sides by the whole shortfall, as torchvision does
        if self.pad_if_needed and width < self.size[1]:
            img = F.pad(img, [self.size[1] - width, 0], self.fill, self.padding_mode)
        if self.pad_if_needed and height < self.size[0]:
            img = F.pad(img, [0, self.size[0] - height], self.fill, self.padding_mode)
        i, j, h, w = self.get_params(img, self.size)
        return F.crop(img, i, j, h, w)

    def __repr__(self):
        return f"{type(self).__name__}(size={self.size}, padding={self.padding})"


class RandomResizedCrop(tc.nn.Module):
    """Crop a random area (scale) and aspect ratio (ratio), then resize to size."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0),
                 interpolation=InterpolationMode.BILINEAR, antialias=True):
        super().__init__()
        self.size = setup_size(size, "RandomResizedCrop")
        for name, v in (("scale", scale), ("ratio", ratio)):
            if not isinstance(v, Sequence) or len(v) != 2:
                raise TypeError(f"RandomResizedCrop: {name}={v!r}; it accepts a sequence "
                                f"(min, max)")
        if scale[0] > scale[1] or ratio[0] > ratio[1]:
            warnings.warn("RandomResizedCrop: scale and ratio should be of kind (min, max)",
                          stacklevel=user_stacklevel())
        self.interpolation = interpolation_mode(interpolation, "RandomResizedCrop")
        self.antialias, self.scale, self.ratio = antialias, scale, ratio

    @staticmethod
    def get_params(img, scale, ratio):
        _, height, width = F.get_dimensions(img)
        area = height * width
        log_ratio = tc.log(tc.tensor([float(r) for r in ratio])).tolist()
        for _ in range(10):  # up to 10 tries for a crop that fits, then the centre crop
            target_area = area * uniform_item(scale[0], scale[1])
            # exp in float32 like torchvision, so w and h round the same way
            aspect = float(tc.exp(tc.empty(1).uniform_(log_ratio[0], log_ratio[1])).item())
            w = int(round(math.sqrt(target_area * aspect)))
            h = int(round(math.sqrt(target_area / aspect)))
            if 0 < w <= width and 0 < h <= height:
                return randint_item(0, height - h + 1), randint_item(0, width - w + 1), h, w
        in_ratio = float(width) / float(height)
        if in_ratio < min(ratio):
            w, h = width, int(round(width / min(ratio)))
        elif in_ratio > max(ratio):
            h, w = height, int(round(height * max(ratio)))
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def forward(self, img):
        i, j, h, w = self.get_params(img, self.scale, self.ratio)
        return F.resized_crop(img, i, j, h, w, self.size, self.interpolation,
                              antialias=self.antialias)

    def __repr__(self):
        return (f"{type(self).__name__}(size={self.size}, scale="
                f"{tuple(round(s, 4) for s in self.scale)}, ratio="
                f"{tuple(round(r, 4) for r in self.ratio)}, interpolation="
                f"{self.interpolation.value}, antialias={self.antialias})")


class _RandomFlip(tc.nn.Module):
    _flip = None

    def __init__(self, p=0.5):
        super().__init__()
        check_probability(type(self).__name__, p)
        self.p = p

    def forward(self, img):
        if rand_item() < self.p:
            return type(self)._flip(img)
        return img

    def __repr__(self):
        return f"{type(self).__name__}(p={self.p})"


class RandomHorizontalFlip(_RandomFlip):
    """Mirror left-right with probability p."""
    _flip = staticmethod(F.hflip)


class RandomVerticalFlip(_RandomFlip):
    """Mirror top-bottom with probability p."""
    _flip = staticmethod(F.vflip)


class RandomRotation(tc.nn.Module):
    """Rotate by an angle drawn uniformly from degrees ((-d, d) for a number d)."""

    def __init__(self, degrees, interpolation=InterpolationMode.NEAREST, expand=False,
                 center=None, fill=0):
        super().__init__()
        self.interpolation = interpolation_mode(interpolation, "RandomRotation")
        if isinstance(degrees, numbers.Number) and not isinstance(degrees, bool):
            if degrees < 0:
                raise ValueError("RandomRotation: if degrees is a single number, it must be "
                                 "positive")
            degrees = [-degrees, degrees]
        elif not (isinstance(degrees, Sequence) and len(degrees) == 2):
            raise TypeError(f"RandomRotation: degrees={degrees!r}; it accepts a number or a "
                            f"sequence (min, max)")
        self.degrees = [float(d) for d in degrees]
        if center is not None and not (isinstance(center, Sequence) and len(center) == 2):
            raise TypeError(f"RandomRotation: center={center!r}; it accepts None or (x, y)")
        self.center, self.expand = center, expand
        check_fill("RandomRotation", fill, allow_none=True)
        self.fill = 0 if fill is None else fill

    @staticmethod
    def get_params(degrees):
        return uniform_item(degrees[0], degrees[1])

    def forward(self, img):
        fill = self.fill
        channels = F.get_dimensions(img, "RandomRotation")[0]
        if is_tensor(img):  # tensors get one fill value per channel, as torchvision
            fill = [float(fill)] * channels if isinstance(fill, numbers.Number) else \
                [float(f) for f in fill]
        angle = self.get_params(self.degrees)
        return F.rotate(img, angle, self.interpolation, self.expand, self.center, fill)

    def __repr__(self):
        s = (f"{type(self).__name__}(degrees={self.degrees}, interpolation="
             f"{self.interpolation.value}, expand={self.expand}")
        s += f", center={self.center}" if self.center is not None else ""
        return s + f", fill={self.fill})"


class FiveCrop(tc.nn.Module):
    """The four corner crops and the centre crop, as a tuple."""

    def __init__(self, size):
        super().__init__()
        self.size = setup_size(size, "FiveCrop")

    def forward(self, img):
        return F.five_crop(img, self.size)

    def __repr__(self):
        return f"{type(self).__name__}(size={self.size})"


class TenCrop(tc.nn.Module):
    """FiveCrop of the image and of its flipped copy (horizontal unless vertical_flip)."""

    def __init__(self, size, vertical_flip=False):
        super().__init__()
        self.size, self.vertical_flip = setup_size(size, "TenCrop"), vertical_flip

    def forward(self, img):
        return F.ten_crop(img, self.size, self.vertical_flip)

    def __repr__(self):
        return f"{type(self).__name__}(size={self.size}, vertical_flip={self.vertical_flip})"
