"""Transform classes that convert or combine: Compose, ToTensor, PILToTensor, ToPILImage,
ConvertImageDtype, Normalize, Lambda and the random combinators RandomApply, RandomChoice,
RandomOrder.

As in torchvision, the ones that torchvision makes nn.Modules are tracecomp nn.Modules (so
they go in nn.Sequential). Random choices draw from tracecomp's generator, so
tracecomp.manual_seed makes a pipeline reproducible; RandomChoice/RandomOrder use it too
where torchvision uses Python's `random` module.
"""
import numbers
from collections.abc import Sequence

import tracecomp as tc

from . import functional as F
from ._common import check_probability, rand_item


def _list_repr(name, transforms, extra=""):
    body = "".join(f"\n    {t}" for t in transforms)
    return f"{name}({extra}{body}\n)"


class Compose:
    """Apply transforms one after the other."""

    def __init__(self, transforms):
        if not isinstance(transforms, Sequence) or isinstance(transforms, str):
            raise TypeError(f"Compose: transforms={transforms!r}; it accepts a list of "
                            f"transforms")
        for t in transforms:
            if not callable(t):
                raise TypeError(f"Compose: {t!r} is not callable; every entry must be a "
                                f"transform")
        self.transforms = transforms

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        return _list_repr(type(self).__name__, self.transforms)


class ToTensor:
    """PIL image or numpy (H, W, C) -> (C, H, W) tensor; uint8 becomes float in [0, 1]."""

    def __call__(self, pic):
        return F.to_tensor(pic)

    def __repr__(self):
        return f"{type(self).__name__}()"


class PILToTensor:
    """PIL image -> (C, H, W) tensor of the same dtype (no scaling)."""

    def __call__(self, pic):
        return F.pil_to_tensor(pic)

    def __repr__(self):
        return f"{type(self).__name__}()"


class ToPILImage:
    """Tensor (C, H, W) or numpy (H, W, C) -> PIL image (mode from channels and dtype)."""

    def __init__(self, mode=None):
        self.mode = mode

    def __call__(self, pic):
        return F.to_pil_image(pic, self.mode)

    def __repr__(self):
        return f"{type(self).__name__}({'' if self.mode is None else f'mode={self.mode}'})"


class ConvertImageDtype(tc.nn.Module):
    """Cast a tensor image to dtype, rescaling values (floats are in [0, 1])."""

    def __init__(self, dtype):
        super().__init__()
        self.dtype = dtype

    def forward(self, image):
        return F.convert_image_dtype(image, self.dtype)


class Normalize(tc.nn.Module):
    """(x - mean) / std per channel of a float tensor image."""

    def __init__(self, mean, std, inplace=False):
        super().__init__()
        self.mean, self.std, self.inplace = mean, std, inplace

    def forward(self, tensor):
        return F.normalize(tensor, self.mean, self.std, self.inplace)

    def __repr__(self):
        return f"{type(self).__name__}(mean={self.mean}, std={self.std})"


class Lambda:
    """Apply a user function."""

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Lambda: argument lambd should be callable, got "
                            f"{type(lambd).__name__!r}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)

    def __repr__(self):
        return f"{type(self).__name__}()"


class RandomApply(tc.nn.Module):
    """Apply the list of transforms with probability p (one draw for the whole list)."""

    def __init__(self, transforms, p=0.5):
        super().__init__()
        check_probability("RandomApply", p)
        self.transforms, self.p = transforms, p

    def forward(self, img):
        if self.p < rand_item():
            return img
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        return _list_repr(type(self).__name__, self.transforms, f"\n    p={self.p}")


class _RandomTransforms:
    def __init__(self, transforms):
        if not isinstance(transforms, Sequence) or isinstance(transforms, str):
            raise TypeError(f"{type(self).__name__}: transforms={transforms!r}; it accepts a "
                            f"sequence of transforms")
        self.transforms = transforms

    def __repr__(self):
        return _list_repr(type(self).__name__, self.transforms)


class RandomOrder(_RandomTransforms):
    """Apply all transforms, in a random order."""

    def __call__(self, img):
        for i in tc.randperm(len(self.transforms)).tolist():
            img = self.transforms[i](img)
        return img


class RandomChoice(_RandomTransforms):
    """Apply one transform picked at random (weights p, default uniform)."""

    def __init__(self, transforms, p=None):
        super().__init__(transforms)
        if p is not None:
            if not isinstance(p, Sequence) or len(p) != len(transforms) or not all(
                    isinstance(v, numbers.Number) and v >= 0 for v in p) or sum(p) <= 0:
                raise TypeError(f"RandomChoice: p={p!r}; it accepts None or a sequence of "
                                f"{len(transforms)} non-negative weights")
        self.p = p

    def __call__(self, *args):
        weights = [1.0] * len(self.transforms) if self.p is None else [float(v) for v in self.p]
        # inverse CDF of one uniform draw, like random.choices(weights=p)
        u = rand_item() * sum(weights)
        acc, pick = 0.0, max(i for i, wt in enumerate(weights) if wt > 0)
        for i, wt in enumerate(weights):
            acc += wt
            if u < acc:
                pick = i
                break
        return self.transforms[pick](*args)

    def __repr__(self):
        return f"{super().__repr__()}(p={self.p})"
