"""Colour transform classes: Grayscale, RandomGrayscale, ColorJitter.

ColorJitter draws its factors and the order of its four adjustments exactly as torchvision
does (a randperm of 4, then one uniform draw per enabled adjustment), from tracecomp's
generator; the adjustments themselves are functional.adjust_*.
"""
import numbers

import tracecomp as tc

from . import functional as F
from ._common import check_probability, rand_item, uniform_item


class Grayscale(tc.nn.Module):
    """Convert to grayscale with 1 or 3 (r == g == b) output channels."""

    def __init__(self, num_output_channels=1):
        super().__init__()
        if num_output_channels not in (1, 3):
            raise ValueError(f"Grayscale: num_output_channels={num_output_channels!r}; it "
                             f"accepts 1 or 3")
        self.num_output_channels = num_output_channels

    def forward(self, img):
        return F.rgb_to_grayscale(img, num_output_channels=self.num_output_channels)

    def __repr__(self):
        return f"{type(self).__name__}(num_output_channels={self.num_output_channels})"


class RandomGrayscale(tc.nn.Module):
    """Grayscale with probability p, keeping the number of channels."""

    def __init__(self, p=0.1):
        super().__init__()
        check_probability("RandomGrayscale", p)
        self.p = p

    def forward(self, img):
        channels = F.get_dimensions(img, "RandomGrayscale")[0]
        if rand_item() < self.p:
            return F.rgb_to_grayscale(img, num_output_channels=channels)
        return img

    def __repr__(self):
        return f"{type(self).__name__}(p={self.p})"


def _check_range(name, value, center=1.0, bound=(0.0, float("inf")), clip_first_on_zero=True):
    """torchvision's ColorJitter._check_input: a number v means [center - v, center + v]."""
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"ColorJitter: if {name} is a single number, it must be "
                             f"non negative (got {value})")
        value = [center - float(value), center + float(value)]
        if clip_first_on_zero:
            value[0] = max(value[0], 0.0)
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        value = [float(value[0]), float(value[1])]
    else:
        raise TypeError(f"ColorJitter: {name}={value!r}; it accepts a single number or a "
                        f"list/tuple with length 2")
    if not bound[0] <= value[0] <= value[1] <= bound[1]:
        raise ValueError(f"ColorJitter: {name} values should be between {bound}, but got "
                         f"{value}")
    # a range that is just the identity turns the adjustment off (no random draw either)
    return None if value[0] == value[1] == center else tuple(value)


class ColorJitter(tc.nn.Module):
    """Random brightness, contrast, saturation and hue changes, in random order."""

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0):
        super().__init__()
        self.brightness = _check_range("brightness", brightness)
        self.contrast = _check_range("contrast", contrast)
        self.saturation = _check_range("saturation", saturation)
        self.hue = _check_range("hue", hue, center=0, bound=(-0.5, 0.5),
                                clip_first_on_zero=False)

    @staticmethod
    def get_params(brightness, contrast, saturation, hue):
        fn_idx = tc.randperm(4)
        b = None if brightness is None else uniform_item(brightness[0], brightness[1])
        c = None if contrast is None else uniform_item(contrast[0], contrast[1])
        s = None if saturation is None else uniform_item(saturation[0], saturation[1])
        h = None if hue is None else uniform_item(hue[0], hue[1])
        return fn_idx, b, c, s, h

    def forward(self, img):
        order, b, c, s, h = self.get_params(self.brightness, self.contrast, self.saturation,
                                            self.hue)
        for fn_id in order.tolist():
            if fn_id == 0 and b is not None:
                img = F.adjust_brightness(img, b)
            elif fn_id == 1 and c is not None:
                img = F.adjust_contrast(img, c)
            elif fn_id == 2 and s is not None:
                img = F.adjust_saturation(img, s)
            elif fn_id == 3 and h is not None:
                img = F.adjust_hue(img, h)
        return img

    def __repr__(self):
        return (f"{type(self).__name__}(brightness={self.brightness}, contrast="
                f"{self.contrast}, saturation={self.saturation}, hue={self.hue})")
