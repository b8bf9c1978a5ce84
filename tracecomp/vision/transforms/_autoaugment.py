"""AutoAugment (ImageNet, CIFAR10 and SVHN policies), RandAugment and TrivialAugmentWide as
torchvision.transforms has them: the same op tables, magnitude bins and order of random
draws (from tracecomp's generator), applied through transforms.functional, so PIL images
get Pillow's pixels. As in torchvision, tensors should be uint8 (Posterize and Equalize
refuse float tensors, Solarize's thresholds are on the 0-255 scale)."""
import math
from enum import Enum

import numpy as np

import tracecomp as tc

from . import _functional_more as FM
from . import functional as F
from ._common import InterpolationMode, get_dimensions, is_tensor

__all__ = ["AutoAugmentPolicy", "AutoAugment", "RandAugment", "TrivialAugmentWide"]


def _apply_op(img, op_name, magnitude, interpolation, fill):
    """One named augmentation at a signed magnitude (torchvision's _apply_op)."""
    if op_name in ("ShearX", "ShearY"):
        # shear about the top-left corner, the angle whose tangent is the magnitude
        s = math.degrees(math.atan(magnitude))
        shear = [s, 0.0] if op_name == "ShearX" else [0.0, s]
        return FM.affine(img, angle=0.0, translate=[0, 0], scale=1.0, shear=shear,
                         interpolation=interpolation, fill=fill, center=[0, 0])
    if op_name in ("TranslateX", "TranslateY"):
        t = [int(magnitude), 0] if op_name == "TranslateX" else [0, int(magnitude)]
        return FM.affine(img, angle=0.0, translate=t, scale=1.0, shear=[0.0, 0.0],
                         interpolation=interpolation, fill=fill)
    ops = {
        "Rotate": lambda: F.rotate(img, magnitude, interpolation=interpolation, fill=fill),
        "Brightness": lambda: F.adjust_brightness(img, 1.0 + magnitude),
        "Color": lambda: F.adjust_saturation(img, 1.0 + magnitude),
        "Contrast": lambda: F.adjust_contrast(img, 1.0 + magnitude),
        "Sharpness": lambda: FM.adjust_sharpness(img, 1.0 + magnitude),
        "Posterize": lambda: FM.posterize(img, int(magnitude)),
        "Solarize": lambda: FM.solarize(img, magnitude),
        "AutoContrast": lambda: FM.autocontrast(img),
        "Equalize": lambda: FM.equalize(img),
        "Invert": lambda: FM.invert(img),
        "Identity": lambda: img,
    }
    if op_name not in ops:
        raise ValueError(f"The provided operator {op_name} is not recognized.")
    return ops[op_name]()


def _lin(lo, hi, n):
    return np.linspace(lo, hi, n, dtype=np.float32)  # torch.linspace's float32 bins


def _posterize_bins(num_bins, span):
    return 8 - np.round(np.arange(num_bins) / ((num_bins - 1) / span)).astype(np.int32)


def _space(num_bins, image_size=None, wide=False):
    """op name -> (magnitude bins or None, signed), in torchvision's order."""
    if wide:  # TrivialAugmentWide's wider ranges
        s, t, r, c, span = 0.99, (32.0, 32.0), 135.0, 0.99, 6
    else:
        s, r, c, span = 0.3, 30.0, 0.9, 4
        t = (150.0 / 331.0 * image_size[1], 150.0 / 331.0 * image_size[0])
    return {"ShearX": (_lin(0.0, s, num_bins), True), "ShearY": (_lin(0.0, s, num_bins), True),
            "TranslateX": (_lin(0.0, t[0], num_bins), True),
            "TranslateY": (_lin(0.0, t[1], num_bins), True),
            "Rotate": (_lin(0.0, r, num_bins), True),
            "Brightness": (_lin(0.0, c, num_bins), True),
            "Color": (_lin(0.0, c, num_bins), True),
            "Contrast": (_lin(0.0, c, num_bins), True),
            "Sharpness": (_lin(0.0, c, num_bins), True),
            "Posterize": (_posterize_bins(num_bins, span), False),
            "Solarize": (_lin(255.0, 0.0, num_bins), False),
            "AutoContrast": (None, False), "Equalize": (None, False)}


def _tensor_fill(img, fill):
    if not is_tensor(img) or fill is None:
        return fill
    if isinstance(fill, (int, float)):
        return [float(fill)] * get_dimensions(img)[0]
    return [float(f) for f in fill]


class AutoAugmentPolicy(Enum):
    IMAGENET = "imagenet"
    CIFAR10 = "cifar10"
    SVHN = "svhn"


# (op, probability, magnitude bin) pairs of Cubuk et al. 2018, as torchvision lists them
_POLICIES = {
    AutoAugmentPolicy.IMAGENET: [
        (("Posterize", 0.4, 8), ("Rotate", 0.6, 9)),
        (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
        (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
        (("Posterize", 0.6, 7), ("Posterize", 0.6, 6)),
        (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
        (("Equalize", 0.4, None), ("Rotate", 0.8, 8)),
        (("Solarize", 0.6, 3), ("Equalize", 0.6, None)),
        (("Posterize", 0.8, 5), ("Equalize", 1.0, None)),
        (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)),
        (("Equalize", 0.6, None), ("Posterize", 0.4, 6)),
        (("Rotate", 0.8, 8), ("Color", 0.4, 0)),
        (("Rotate", 0.4, 9), ("Equalize", 0.6, None)),
        (("Equalize", 0.0, None), ("Equalize", 0.8, None)),
        (("Invert", 0.6, None), ("Equalize", 1.0, None)),
        (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
        (("Rotate", 0.8, 8), ("Color", 1.0, 2)),
        (("Color", 0.8, 8), ("Solarize", 0.8, 7)),
        (("Sharpness", 0.4, 7), ("Invert", 0.6, None)),
        (("ShearX", 0.6, 5), ("Equalize", 1.0, None)),
        (("Color", 0.4, 0), ("Equalize", 0.6, None)),
        (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
        (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
        (("Invert", 0.6, None), ("Equalize", 1.0, None)),
        (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
        (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
    ],
    AutoAugmentPolicy.CIFAR10: [
        (("Invert", 0.1, None), ("Contrast", 0.2, 6)),
        (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)),
        (("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)),
        (("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)),
        (("AutoContrast", 0.5, None), ("Equalize", 0.9, None)),
        (("ShearY", 0.2, 7), ("Posterize", 0.3, 7)),
        (("Color", 0.4, 3), ("Brightness", 0.6, 7)),
        (("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)),
        (("Equalize", 0.6, None), ("Equalize", 0.5, None)),
        (("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)),
        (("Color", 0.7, 7), ("TranslateX", 0.5, 8)),
        (("Equalize", 0.3, None), ("AutoContrast", 0.4, None)),
        (("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)),
        (("Brightness", 0.9, 6), ("Color", 0.2, 8)),
        (("Solarize", 0.5, 2), ("Invert", 0.0, None)),
        (("Equalize", 0.2, None), ("AutoContrast", 0.6, None)),
        (("Equalize", 0.2, None), ("Equalize", 0.6, None)),
        (("Color", 0.9, 9), ("Equalize", 0.6, None)),
        (("AutoContrast", 0.8, None), ("Solarize", 0.2, 8)),
        (("Brightness", 0.1, 3), ("Color", 0.7, 0)),
        (("Solarize", 0.4, 5), ("AutoContrast", 0.9, None)),
        (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)),
        (("AutoContrast", 0.9, None), ("Solarize", 0.8, 3)),
        (("Equalize", 0.8, None), ("Invert", 0.1, None)),
        (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, None)),
    ],
    AutoAugmentPolicy.SVHN: [
        (("ShearX", 0.9, 4), ("Invert", 0.2, None)),
        (("ShearY", 0.9, 8), ("Invert", 0.7, None)),
        (("Equalize", 0.6, None), ("Solarize", 0.6, 6)),
        (("Invert", 0.9, None), ("Equalize", 0.6, None)),
        (("Equalize", 0.6, None), ("Rotate", 0.9, 3)),
        (("ShearX", 0.9, 4), ("AutoContrast", 0.8, None)),
        (("ShearY", 0.9, 8), ("Invert", 0.4, None)),
        (("ShearY", 0.9, 5), ("Solarize", 0.2, 6)),
        (("Invert", 0.9, None), ("AutoContrast", 0.8, None)),
        (("Equalize", 0.6, None), ("Rotate", 0.9, 3)),
        (("ShearX", 0.9, 4), ("Solarize", 0.3, 3)),
        (("ShearY", 0.8, 8), ("Invert", 0.7, None)),
        (("Equalize", 0.9, None), ("TranslateY", 0.6, 6)),
        (("Invert", 0.9, None), ("Equalize", 0.6, None)),
        (("Contrast", 0.3, 3), ("Rotate", 0.8, 4)),
        (("Invert", 0.8, None), ("TranslateY", 0.0, 2)),
        (("ShearY", 0.7, 6), ("Solarize", 0.4, 8)),
        (("Invert", 0.6, None), ("Rotate", 0.8, 4)),
        (("ShearY", 0.3, 7), ("TranslateX", 0.9, 3)),
        (("ShearX", 0.1, 6), ("Invert", 0.6, None)),
        (("Solarize", 0.7, 2), ("TranslateY", 0.6, 7)),
        (("ShearY", 0.8, 4), ("Invert", 0.8, None)),
        (("ShearX", 0.7, 9), ("TranslateY", 0.8, 3)),
        (("ShearY", 0.8, 5), ("AutoContrast", 0.7, None)),
        (("ShearX", 0.7, 2), ("Invert", 0.1, None)),
    ],
}


class AutoAugment(tc.nn.Module):
    """One random sub-policy of `policy` (two ops, each applied with its probability and
    a random sign) per call."""

    def __init__(self, policy=AutoAugmentPolicy.IMAGENET,
                 interpolation=InterpolationMode.NEAREST, fill=None):
        super().__init__()
        if policy not in _POLICIES:
            raise ValueError(f"The provided policy {policy} is not recognized.")
        self.policy = policy
        self.interpolation = interpolation
        self.fill = fill
        self.policies = _POLICIES[policy]

    @staticmethod
    def get_params(transform_num):
        policy_id = int(tc.randint(transform_num, (1,)).item())
        probs = tc.rand((2,)).numpy()
        signs = tc.randint(2, (2,)).numpy()
        return policy_id, probs, signs

    def forward(self, img):
        fill = _tensor_fill(img, self.fill)
        _, height, width = get_dimensions(img)
        transform_id, probs, signs = self.get_params(len(self.policies))
        space = _space(10, (height, width))
        space["Invert"] = (None, False)
        for i, (op_name, p, magnitude_id) in enumerate(self.policies[transform_id]):
            if probs[i] <= p:
                magnitudes, signed = space[op_name]
                magnitude = float(magnitudes[magnitude_id]) if magnitude_id is not None \
                    else 0.0
                if signed and signs[i] == 0:
                    magnitude *= -1.0
                img = _apply_op(img, op_name, magnitude, self.interpolation, fill)
        return img

    def __repr__(self):
        return f"{self.__class__.__name__}(policy={self.policy}, fill={self.fill})"


class RandAugment(tc.nn.Module):
    """num_ops ops drawn uniformly (with replacement) at the fixed magnitude bin, each with a
    random sign (Cubuk et al. 2019)."""

    def __init__(self, num_ops=2, magnitude=9, num_magnitude_bins=31,
                 interpolation=InterpolationMode.NEAREST, fill=None):
        super().__init__()
        self.num_ops = num_ops
        self.magnitude = magnitude
        self.num_magnitude_bins = num_magnitude_bins
        self.interpolation = interpolation
        self.fill = fill

    def forward(self, img):
        fill = _tensor_fill(img, self.fill)
        _, height, width = get_dimensions(img)
        op_meta = {"Identity": (None, False), **_space(self.num_magnitude_bins,
                                                       (height, width))}
        for _ in range(self.num_ops):
            op_name = list(op_meta)[int(tc.randint(len(op_meta), (1,)).item())]
            magnitudes, signed = op_meta[op_name]
            magnitude = float(magnitudes[self.magnitude]) if magnitudes is not None else 0.0
            if signed and int(tc.randint(2, (1,)).item()):
                magnitude *= -1.0
            img = _apply_op(img, op_name, magnitude, self.interpolation, fill)
        return img

    def __repr__(self):
        return (f"{self.__class__.__name__}(num_ops={self.num_ops}, magnitude="
                f"{self.magnitude}, num_magnitude_bins={self.num_magnitude_bins}, "
                f"interpolation={self.interpolation}, fill={self.fill})")


class TrivialAugmentWide(tc.nn.Module):
    """One op drawn uniformly at a uniformly drawn magnitude bin, with a random sign
    (Müller & Hutter 2021), over TrivialAugment's wide ranges."""

    def __init__(self, num_magnitude_bins=31, interpolation=InterpolationMode.NEAREST,
                 fill=None):
        super().__init__()
        self.num_magnitude_bins = num_magnitude_bins
        self.interpolation = interpolation
        self.fill = fill

    def forward(self, img):
        fill = _tensor_fill(img, self.fill)
        op_meta = {"Identity": (None, False), **_space(self.num_magnitude_bins, wide=True)}
        op_name = list(op_meta)[int(tc.randint(len(op_meta), (1,)).item())]
        magnitudes, signed = op_meta[op_name]
        magnitude = 0.0
        if magnitudes is not None:
            magnitude = float(magnitudes[int(tc.randint(len(magnitudes), (1,)).item())])
        if signed and int(tc.randint(2, (1,)).item()):
            magnitude *= -1.0
        return _apply_op(img, op_name, magnitude, self.interpolation, fill)

    def __repr__(self):
        return (f"{self.__class__.__name__}(num_magnitude_bins={self.num_magnitude_bins}, "
                f"interpolation={self.interpolation}, fill={self.fill})")
