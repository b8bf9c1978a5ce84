"""The PIL backend of transforms.functional: the same operations on PIL images, done by
Pillow itself exactly as torchvision's PIL backend does them (so PIL-image pipelines give
torchvision's pixels bit for bit). Argument checks live in functional.py.
"""
import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from ._common import pil_channels


def fromarray(arr, mode):
    """arr (H, W[, C]) read as `mode`: Pillow >= 11.3 deprecates fromarray's mode
    argument, and frombuffer still reinterprets the bytes, which is what torchvision's
    to_pil_image relies on (e.g. uint8 HxWx3 as YCbCr or HSV)."""
    arr = np.ascontiguousarray(arr)
    return Image.frombuffer(mode, (arr.shape[1], arr.shape[0]), arr.tobytes(), "raw", mode,
                            0, 1)


def hflip(img):
    return img.transpose(Image.FLIP_LEFT_RIGHT)


def vflip(img):
    return img.transpose(Image.FLIP_TOP_BOTTOM)


def crop(img, top, left, height, width):
    # Pillow fills the part of the box outside the image with 0, like the tensor backend
    return img.crop((left, top, left + width, top + height))


def resize(img, size, pil_filter):
    return img.resize((size[1], size[0]), pil_filter)


def parse_fill(fill, img, where):
    """Pillow's fill argument: one int per band (a float for mode F)."""
    bands = pil_channels(img)
    if fill is None:
        fill = 0
    if isinstance(fill, (int, float)) and bands > 1:
        fill = (fill,) * bands
    if isinstance(fill, (list, tuple)):
        if len(fill) == 1:
            fill = tuple(fill) * bands
        elif len(fill) != bands:
            raise ValueError(f"{where}: fill has {len(fill)} values but the image has {bands} "
                             f"channels; give one value or one per channel")
        fill = tuple(fill)
    if img.mode != "F":
        fill = tuple(int(v) for v in fill) if isinstance(fill, tuple) else int(fill)
    return fill


def pad(img, ltrb, fill, padding_mode, where):
    """ltrb: [left, top, right, bottom] (negative values crop)."""
    if padding_mode == "constant":
        out = ImageOps.expand(img, border=tuple(ltrb), fill=parse_fill(fill, img, where))
        if img.mode == "P":
            out.putpalette(img.getpalette())
        return out
    crop_l, crop_t, crop_r, crop_b = (-min(p, 0) for p in ltrb)
    if crop_l or crop_t or crop_r or crop_b:
        img = img.crop((crop_l, crop_t, img.width - crop_r, img.height - crop_b))
    left, top, right, bottom = (max(p, 0) for p in ltrb)
    palette = img.getpalette() if img.mode == "P" else None
    arr = np.asarray(img)
    widths = ((top, bottom), (left, right)) + (((0, 0),) if arr.ndim == 3 else ())
    out = Image.fromarray(np.pad(arr, widths, mode=padding_mode))
    if palette is not None:
        out.putpalette(palette)
    return out


def rotate(img, angle, pil_filter, expand, center, fill, where):
    return img.rotate(angle, pil_filter, expand, center,
                      fillcolor=parse_fill(fill, img, where))


def to_grayscale(img, num_output_channels):
    gray = img.convert("L")
    if num_output_channels == 1:
        return gray
    arr = np.asarray(gray, dtype=np.uint8)
    return Image.fromarray(np.dstack([arr, arr, arr]))  # HxWx3 uint8 is RGB


def adjust_brightness(img, factor):
    return ImageEnhance.Brightness(img).enhance(factor)


def adjust_contrast(img, factor):
    return ImageEnhance.Contrast(img).enhance(factor)


def adjust_saturation(img, factor):
    return ImageEnhance.Color(img).enhance(factor)


def adjust_hue(img, factor):
    mode = img.mode
    if mode in {"L", "1", "I", "F"}:  # no hue to shift
        return img
    h, s, v = img.convert("HSV").split()
    hue = np.array(h, dtype=np.uint8)
    hue += np.int32(factor * 255).astype(np.uint8)  # wraps around, which is the point
    return Image.merge("HSV", (Image.fromarray(hue), s, v)).convert(mode)


def adjust_gamma(img, gamma, gain=1.0):
    mode = img.mode
    table = [int((255 + 1 - 1e-3) * gain * pow(v / 255.0, gamma)) for v in range(256)] * 3
    return img.convert("RGB").point(table).convert(mode)


# --- the augmentation ops: Pillow's ImageOps / ImageEnhance, as torchvision calls them ----

def invert(img):
    return ImageOps.invert(img)


def posterize(img, bits):
    return ImageOps.posterize(img, bits)


def solarize(img, threshold):
    return ImageOps.solarize(img, threshold)


def adjust_sharpness(img, factor):
    return ImageEnhance.Sharpness(img).enhance(factor)


def autocontrast(img):
    return ImageOps.autocontrast(img)


def equalize(img):
    return ImageOps.equalize(img)


def affine(img, matrix, pil_filter, fill, where):
    return img.transform(img.size, Image.AFFINE, matrix, pil_filter,
                         fillcolor=parse_fill(fill, img, where))


def perspective(img, coeffs, pil_filter, fill, where):
    return img.transform(img.size, Image.PERSPECTIVE, coeffs, pil_filter,
                         fillcolor=parse_fill(fill, img, where))
