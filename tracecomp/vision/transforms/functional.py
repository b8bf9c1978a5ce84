"""tracecomp.vision.transforms.functional: torchvision.transforms.functional's common API.

Every function takes a PIL image (done by Pillow, as torchvision does) or a tracecomp tensor
image shaped (..., C, H, W) (done with tracecomp ops), checks its arguments with
torchvision's rules and dispatches to _pil.py or _tensor.py / _resample.py. Inputs of any
other kind (numpy arrays, torch tensors) are refused with a TypeError that says so.

Differences from torchvision (checked against torchvision 0.28 while writing this):
  - tensor resizes/rotations compute in float32 like torchvision and match it to float
    rounding; for uint8 tensors a value on an exact .5 tie may round the other way (one
    grey level). PIL images are resized by Pillow (always antialiased, fixed point), as in
    torchvision, so PIL and tensor results differ by about one grey level.
  - tensors of any leading shape work for resize, pad (every mode) and rotate (torchvision
    refuses 5-D pad/rotate/resize and 2-D resize); the result is the per-image result.
  - affine, perspective, gaussian_blur, erase, invert, posterize, solarize,
    adjust_sharpness, autocontrast and equalize live in _functional_more.py.
  - tracecomp has no uint16 tensors, so pil_to_tensor of an I;16 image raises (to_tensor
    gives int16 as torchvision does).
"""
import numbers

from ...user_code import user_stacklevel
from . import _resample, _tensor
from ._common import (
    TENSOR_RESIZE_MODES,
    TO_PIL_INT,
    InterpolationMode,
    bad_input,
    check_channels,
    check_image,
    get_dimensions,
    interpolation_mode,
    is_pil,
    is_tensor,
    setup_size,
)
from ._convert import convert_image_dtype, pil_to_tensor, to_pil_image, to_tensor
from ._functional_more import __all__ as _more
from ._functional_more import (  # noqa: F401  (re-exported)
    adjust_sharpness,
    affine,
    autocontrast,
    equalize,
    erase,
    gaussian_blur,
    invert,
    perspective,
    posterize,
    solarize,
)

__all__ = ["InterpolationMode", "get_dimensions", "get_image_size", "get_image_num_channels",
           "to_tensor", "pil_to_tensor", "to_pil_image", "convert_image_dtype", "normalize",
           "resize", "pad", "crop", "center_crop", "resized_crop", "hflip", "vflip",
           "five_crop", "ten_crop", "rotate", "rgb_to_grayscale", "to_grayscale",
           "adjust_brightness", "adjust_contrast", "adjust_saturation", "adjust_hue",
           "adjust_gamma"] + _more


def get_image_size(img):
    """[width, height] (torchvision's order)."""
    _, h, w = get_dimensions(img, "get_image_size")
    return [w, h]


def get_image_num_channels(img):
    return get_dimensions(img, "get_image_num_channels")[0]


def _pil_backend():
    from . import _pil  # imported lazily: tensor-only programs need no Pillow
    return _pil


def normalize(tensor, mean, std, inplace=False):
    """(tensor - mean) / std per channel; float tensor images (..., C, H, W) only."""
    where = "normalize (Normalize)"
    if not is_tensor(tensor):
        raise bad_input(where, tensor, "a float tracecomp.Tensor image (..., C, H, W) "
                                       "(convert PIL images with ToTensor first)")
    if not tensor.is_floating_point():
        raise TypeError(f"{where}: the tensor is {tensor.dtype}; it accepts float tensors "
                        f"(use ToTensor or ConvertImageDtype first)")
    if tensor.dim() < 3:
        raise ValueError(f"{where}: expected a tensor image (..., C, H, W); got shape "
                         f"{tuple(tensor.shape)}")
    return _tensor.normalize(tensor, mean, std, inplace)


def _resized_size(where, h, w, size, max_size):
    if isinstance(size, bool) or not isinstance(size, (int, list, tuple)):
        raise TypeError(f"{where}: size={size!r} is not supported; it accepts an int "
                        f"(smaller edge) or a sequence (h, w) or (s,)")
    if isinstance(size, int):
        size = [size]
    if len(size) not in (1, 2):
        raise ValueError(f"{where}: size={size!r} must be an int or have 1 or 2 elements")
    if len(size) == 2:
        if max_size is not None:
            raise ValueError(f"{where}: max_size is only supported when size is an int (the "
                             f"smaller edge), not size={size!r}")
        return [int(size[0]), int(size[1])]
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = int(size[0]), int(int(size[0]) * long / short)
    if max_size is not None:
        if max_size <= new_short:
            raise ValueError(f"{where}: max_size={max_size} must be strictly greater than "
                             f"the smaller edge size={size}")
        if new_long > max_size:
            new_short, new_long = int(max_size * new_short / new_long), max_size
    # [h, w]: the short edge is whichever of h, w was shorter (w when they tie)
    return [new_long, new_short] if w <= h else [new_short, new_long]


def resize(img, size, interpolation=InterpolationMode.BILINEAR, max_size=None,
           antialias=True):
    """Resize to size (h, w), or scale the smaller edge to size (an int) keeping the aspect
    ratio. PIL images always antialias (Pillow cannot not); tensors antialias bilinear and
    bicubic when antialias=True (torchvision's default)."""
    where = "resize (Resize)"
    check_image(where, img)
    interpolation = interpolation_mode(interpolation, where)
    if antialias not in (True, False, None):
        raise TypeError(f"{where}: antialias={antialias!r}; it accepts True, False or None")
    _, h, w = get_dimensions(img)
    out = _resized_size(where, h, w, size, max_size)
    if out == [h, w]:
        return img
    if is_pil(img):
        # antialias=False cannot be honoured by Pillow; torchvision only warns, and so do we
        if antialias is False:
            import warnings
            warnings.warn("resize: PIL images are always antialiased; antialias=False is "
                          "ignored for them (it applies to tensors)", stacklevel=user_stacklevel())
        return _pil_backend().resize(img, out, TO_PIL_INT[interpolation])
    if interpolation not in TENSOR_RESIZE_MODES:
        raise ValueError(f"{where}: interpolation={interpolation.name} is only supported for "
                         f"PIL images; tensors accept "
                         f"{', '.join(m.name for m in TENSOR_RESIZE_MODES)}")
    return _resample.resize(img, out, interpolation, bool(antialias))


def _check_padding(where, padding, padding_mode):
    if isinstance(padding, bool) or not isinstance(padding, (int, tuple, list)):
        raise TypeError(f"{where}: padding={padding!r} is not supported; it accepts an int "
                        f"or a sequence of 1, 2 or 4 ints")
    if isinstance(padding, (tuple, list)) and len(padding) not in (1, 2, 4):
        raise ValueError(f"{where}: padding must be an int or a 1, 2, or 4 element "
                         f"sequence, not {len(padding)} elements")
    if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
        raise ValueError(f"{where}: padding_mode={padding_mode!r} is not supported; it "
                         f"accepts 'constant', 'edge', 'reflect' or 'symmetric'")


def pad(img, padding, fill=0, padding_mode="constant"):
    """Pad all sides: padding is an int, (left/right, top/bottom) or (l, t, r, b)."""
    where = "pad (Pad)"
    check_image(where, img)
    _check_padding(where, padding, padding_mode)
    if is_pil(img):
        if fill is not None and (isinstance(fill, bool) or not isinstance(
                fill, (numbers.Number, tuple, list))):
            raise TypeError(f"{where}: fill={fill!r}; it accepts a number or a tuple")
        lrtb = _tensor.parse_padding(padding)
        return _pil_backend().pad(img, [lrtb[0], lrtb[2], lrtb[1], lrtb[3]], fill,
                                  padding_mode, where)
    if fill is None:
        fill = 0
    if isinstance(fill, bool) or not isinstance(fill, (int, float)):
        raise TypeError(f"{where}: fill={fill!r} is not supported for tensors; it accepts a "
                        f"number (tuples per channel are for PIL images, as in torchvision)")
    return _tensor.pad(img, padding, fill, padding_mode)


def crop(img, top, left, height, width):
    """The window at (top, left) of size (height, width); outside the image is 0."""
    check_image("crop", img)
    if is_pil(img):
        return _pil_backend().crop(img, top, left, height, width)
    return _tensor.crop(img, int(top), int(left), int(height), int(width))


def center_crop(img, output_size):
    """The centred (h, w) window (an int: square); smaller images are zero-padded first."""
    where = "center_crop (CenterCrop)"
    check_image(where, img)
    ch, cw = setup_size(output_size, where)
    _, h, w = get_dimensions(img)
    if cw > w or ch > h:
        ltrb = [(cw - w) // 2 if cw > w else 0, (ch - h) // 2 if ch > h else 0,
                (cw - w + 1) // 2 if cw > w else 0, (ch - h + 1) // 2 if ch > h else 0]
        img = pad(img, ltrb, fill=0)
        _, h, w = get_dimensions(img)
        if cw == w and ch == h:
            return img
    # Python's round() (half to even) is what torchvision uses here
    return crop(img, int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0)), ch, cw)


def resized_crop(img, top, left, height, width, size,
                 interpolation=InterpolationMode.BILINEAR, antialias=True):
    img = crop(img, top, left, height, width)
    return resize(img, size, interpolation, antialias=antialias)


def hflip(img):
    check_image("hflip (RandomHorizontalFlip)", img)
    return _pil_backend().hflip(img) if is_pil(img) else _tensor.hflip(img)


def vflip(img):
    check_image("vflip (RandomVerticalFlip)", img)
    return _pil_backend().vflip(img) if is_pil(img) else _tensor.vflip(img)


def five_crop(img, size):
    """(top-left, top-right, bottom-left, bottom-right, center) crops of size (h, w)."""
    where = "five_crop (FiveCrop)"
    check_image(where, img)
    size = ch, cw = setup_size(size, where)
    _, h, w = get_dimensions(img)
    if ch > h or cw > w:
        raise ValueError(f"{where}: crop size {size} is bigger than the image ({h}, {w})")
    return (crop(img, 0, 0, ch, cw), crop(img, 0, w - cw, ch, cw), crop(img, h - ch, 0, ch, cw),
            crop(img, h - ch, w - cw, ch, cw), center_crop(img, [ch, cw]))


def ten_crop(img, size, vertical_flip=False):
    """five_crop of the image and of its (horizontally, or vertically) flipped copy."""
    first = five_crop(img, size)
    flipped = vflip(img) if vertical_flip else hflip(img)
    return first + five_crop(flipped, size)


def rotate(img, angle, interpolation=InterpolationMode.NEAREST, expand=False, center=None,
           fill=None):
    """Rotate counter-clockwise by angle degrees around center (default: image centre)."""
    where = "rotate (RandomRotation)"
    check_image(where, img)
    interpolation = interpolation_mode(interpolation, where)
    if isinstance(angle, bool) or not isinstance(angle, numbers.Number):
        raise TypeError(f"{where}: angle={angle!r}; it accepts a number of degrees")
    if center is not None and not (isinstance(center, (list, tuple)) and len(center) == 2):
        raise TypeError(f"{where}: center={center!r}; it accepts None or (x, y)")
    if is_pil(img):
        return _pil_backend().rotate(img, angle, TO_PIL_INT[interpolation], expand,
                                     center, fill, where)
    if interpolation not in (InterpolationMode.NEAREST, InterpolationMode.BILINEAR):
        raise ValueError(f"{where}: interpolation={interpolation.name} is not supported for "
                         f"tensors; they accept NEAREST or BILINEAR")
    channels, h, w = get_dimensions(img)
    if fill is not None:
        if isinstance(fill, (int, float)) and not isinstance(fill, bool):
            fill = [float(fill)]
        elif not isinstance(fill, (list, tuple)):
            raise TypeError(f"{where}: fill={fill!r}; it accepts a number or a sequence")
        if len(fill) not in (1, channels):
            raise ValueError(f"{where}: fill has {len(fill)} values; the image has "
                             f"{channels} channels (give 1 or {channels} values)")
    cxy = [0.0, 0.0]
    if center is not None:  # torchvision's matrix is relative to the image centre
        cxy = [1.0 * (c - s * 0.5) for c, s in zip(center, [w, h])]
    matrix = _resample.inverse_affine_matrix(cxy, -float(angle), [0.0, 0.0], 1.0, [0.0, 0.0])
    return _resample.rotate(img, matrix, interpolation, expand, fill)


def rgb_to_grayscale(img, num_output_channels=1):
    """Luma of an RGB image; num_output_channels 3 repeats it (r == g == b)."""
    where = "rgb_to_grayscale (Grayscale)"
    check_image(where, img)
    if num_output_channels not in (1, 3):
        raise ValueError(f"{where}: num_output_channels={num_output_channels!r}; it accepts "
                         f"1 or 3")
    if is_pil(img):
        return _pil_backend().to_grayscale(img, num_output_channels)
    if img.dim() < 3:
        raise TypeError(f"{where}: a tensor image needs (..., C, H, W); got shape "
                        f"{tuple(img.shape)}")
    check_channels(where, img, [1, 3])
    return _tensor.rgb_to_grayscale(img, num_output_channels)


def to_grayscale(img, num_output_channels=1):
    """PIL images only (torchvision's rule); tensors: rgb_to_grayscale."""
    if not is_pil(img):
        raise bad_input("to_grayscale", img, "a PIL image (for tensors use rgb_to_grayscale)")
    return rgb_to_grayscale(img, num_output_channels)


def _check_factor(where, name, factor):
    if isinstance(factor, bool) or not isinstance(factor, numbers.Number):
        raise TypeError(f"{where}: {name}={factor!r}; it accepts a number")
    if factor < 0:
        raise ValueError(f"{where}: {name} ({factor}) is not non-negative")


def _color_op(name, img, factor, check=True):
    where = f"{name} (ColorJitter)"
    check_image(where, img)
    if check:
        _check_factor(where, name.replace("adjust_", "") + "_factor", factor)
    if is_pil(img):
        return getattr(_pil_backend(), name)(img, factor)
    check_channels(where, img, [1, 3])
    return getattr(_tensor, name)(img, factor)


def adjust_brightness(img, brightness_factor):
    """Multiply by brightness_factor (0: black, 1: unchanged), clamped to the range."""
    return _color_op("adjust_brightness", img, brightness_factor)


def adjust_contrast(img, contrast_factor):
    """Blend with the mean grey level (0: flat grey, 1: unchanged)."""
    return _color_op("adjust_contrast", img, contrast_factor)


def adjust_saturation(img, saturation_factor):
    """Blend with the greyscale image (0: grey, 1: unchanged)."""
    return _color_op("adjust_saturation", img, saturation_factor)


def adjust_hue(img, hue_factor):
    """Rotate the hue by hue_factor turns, in [-0.5, 0.5]."""
    if isinstance(hue_factor, bool) or not isinstance(hue_factor, numbers.Number):
        raise TypeError(f"adjust_hue (ColorJitter): hue_factor={hue_factor!r}; it accepts a "
                        f"number in [-0.5, 0.5]")
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f"adjust_hue (ColorJitter): hue_factor ({hue_factor}) is not in "
                         f"[-0.5, 0.5]")
    return _color_op("adjust_hue", img, hue_factor, check=False)


def adjust_gamma(img, gamma, gain=1):
    """gain * img ** gamma on the [0, 1] scale."""
    where = "adjust_gamma"
    check_image(where, img)
    _check_factor(where, "gamma", gamma)
    if is_pil(img):
        return _pil_backend().adjust_gamma(img, gamma, gain)
    check_channels(where, img, [1, 3])
    return _tensor.adjust_gamma(img, gamma, gain)
