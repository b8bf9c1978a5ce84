"""Shared pieces of tracecomp.vision.transforms: the InterpolationMode enum, recognising the
input kinds (PIL image, tracecomp tensor), image dimensions, dtype ranges and the
argument checks whose error messages every transform shares.

Errors name the transform, what it was given and what it accepts, so a program ported
from torchvision fails where the unsupported thing is, never later or silently.
"""
import numbers
from collections.abc import Sequence
from enum import Enum

import tracecomp as tc

try:  # Pillow is optional for tensor-only pipelines
    from PIL import Image as _PILImage
except ImportError:  # pragma: no cover - Pillow is installed in CI
    _PILImage = None


class InterpolationMode(Enum):
    """torchvision's interpolation modes (same names and values)."""
    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    # PIL-only filters
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


# Pillow's integer filter constants (Image.NEAREST=0, LANCZOS=1, BILINEAR=2, ...), which
# torchvision accepts in place of the enum.
_FROM_PIL_INT = {0: InterpolationMode.NEAREST, 1: InterpolationMode.LANCZOS,
                 2: InterpolationMode.BILINEAR, 3: InterpolationMode.BICUBIC,
                 4: InterpolationMode.BOX, 5: InterpolationMode.HAMMING}
TO_PIL_INT = {InterpolationMode.NEAREST: 0, InterpolationMode.NEAREST_EXACT: 0,
              InterpolationMode.BILINEAR: 2, InterpolationMode.BICUBIC: 3,
              InterpolationMode.BOX: 4, InterpolationMode.HAMMING: 5,
              InterpolationMode.LANCZOS: 1}
TENSOR_RESIZE_MODES = (InterpolationMode.NEAREST, InterpolationMode.NEAREST_EXACT,
                       InterpolationMode.BILINEAR, InterpolationMode.BICUBIC)


def interpolation_mode(value, where):
    """The InterpolationMode for `value` (the enum, a Pillow int constant, or an enum of
    another library with the same values, e.g. torchvision's own)."""
    if isinstance(value, InterpolationMode):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value in _FROM_PIL_INT:
        return _FROM_PIL_INT[value]
    if isinstance(value, Enum) and value.value in {m.value for m in InterpolationMode}:
        return InterpolationMode(value.value)
    raise TypeError(f"{where}: interpolation={value!r} is not supported; it accepts a "
                    f"tracecomp.vision.transforms.InterpolationMode "
                    f"({', '.join(m.name for m in InterpolationMode)}) or the matching "
                    f"Pillow integer constant (0-5)")


def is_pil(img):
    return _PILImage is not None and isinstance(img, _PILImage.Image)


def is_tensor(img):
    return isinstance(img, tc.Tensor)


def _kind(x):
    t = type(x)
    mod = t.__module__
    if mod.startswith("torch"):
        return (f"{mod}.{t.__name__} (a torch tensor: tracecomp.vision works on tracecomp "
                f"tensors; convert with tracecomp.from_numpy(t.numpy()))")
    if isinstance(x, tc.Tensor):
        return f"tracecomp.Tensor of shape {tuple(x.shape)}"
    return f"{mod}.{t.__qualname__}" if mod != "builtins" else t.__qualname__


def bad_input(where, img, accepts="a PIL image or a tracecomp.Tensor image (..., C, H, W)"):
    """TypeError for an input of the wrong kind."""
    return TypeError(f"{where}: got {_kind(img)}; it accepts {accepts}")


def check_image(where, img, pil=True, tensor=True):
    """Raises unless img is one of the accepted kinds (tensors need >= 2 dims)."""
    if tensor and is_tensor(img):
        if img.dim() < 2:
            raise ValueError(f"{where}: a tensor image needs at least 2 dims (..., H, W); "
                             f"got shape {tuple(img.shape)}")
        return
    if pil and is_pil(img):
        return
    accepts = " or ".join(
        (["a PIL image"] if pil else [])
        + (["a tracecomp.Tensor image (..., C, H, W)"] if tensor else []))
    raise bad_input(where, img, accepts)


def pil_channels(img):
    if img.mode == "P":  # palette images are one index per pixel
        return 1
    return len(img.getbands())


def get_dimensions(img, where="get_dimensions"):
    """[channels, height, width] of a PIL image or a tensor image (..., H, W)."""
    check_image(where, img)
    if is_pil(img):
        return [pil_channels(img), img.height, img.width]
    channels = 1 if img.dim() == 2 else int(img.shape[-3])
    return [channels, int(img.shape[-2]), int(img.shape[-1])]


# Largest value of an integer image dtype; float images live in [0, 1].
_MAX = {tc.uint8: 255, tc.int8: 127, tc.int16: 32767, tc.uint16: 65535,
        tc.int32: 2147483647, tc.int64: 9223372036854775807}


def max_value(dtype):
    return _MAX.get(dtype, 1)


def is_float_dtype(dtype):
    return dtype in (tc.float16, tc.bfloat16, tc.float32, tc.float64)


def check_channels(where, img, permitted):
    c = get_dimensions(img, where)[0]
    if c not in permitted:
        raise TypeError(f"{where}: the image has {c} channels; it accepts "
                        f"{' or '.join(map(str, permitted))} channels")


def setup_size(size, where):
    """(h, w) from an int or a 1- or 2-sequence, as torchvision's crops take it."""
    if isinstance(size, numbers.Number) and not isinstance(size, bool):
        return int(size), int(size)
    if isinstance(size, Sequence) and len(size) == 1:
        return int(size[0]), int(size[0])
    if isinstance(size, Sequence) and len(size) == 2:
        return int(size[0]), int(size[1])
    raise ValueError(f"{where}: size={size!r} is not supported; it accepts an int or a "
                     f"sequence (h, w) (or (s,)); please provide only two dimensions (h, w)")


def check_fill(where, fill, allow_none=False):
    if fill is None and allow_none:
        return
    if isinstance(fill, bool) or not isinstance(fill, (numbers.Number, tuple, list)):
        raise TypeError(f"{where}: fill={fill!r} is not supported; it accepts a number or a "
                        f"tuple/list of numbers (one per channel)")


def check_probability(where, p):
    # torchvision does not bound p (p > 1 means always), so only its type is checked
    if isinstance(p, bool) or not isinstance(p, numbers.Number):
        raise TypeError(f"{where}: p={p!r} is not supported; it accepts a number "
                        f"(a probability)")


def rand_item():
    """One draw from tracecomp's generator, as torchvision's `torch.rand(1)`."""
    return float(tc.rand(1).item())


def uniform_item(low, high):
    """As torchvision's `torch.empty(1).uniform_(low, high).item()`."""
    return float(tc.empty(1).uniform_(float(low), float(high)).item())


def randint_item(low, high):
    """As torchvision's `torch.randint(low, high, size=(1,)).item()`."""
    return int(tc.randint(low, high, size=(1,)).item())
