"""Conversions between images and tensors (functional.to_tensor, pil_to_tensor,
to_pil_image, convert_image_dtype), with torchvision's dtype and mode rules: to_tensor
scales only uint8 data to [0, 1] floats, PIL modes I / I;16 / F keep their integer or
float values, to_pil_image multiplies float data by 255 and picks the mode from the
channel count and dtype.
"""
import sys

import numpy as np

import tracecomp as tc

from . import _tensor
from ._common import bad_input, is_pil, is_tensor, pil_channels


def _numpy_image(where, pic):
    if pic.ndim not in (2, 3):
        raise ValueError(f"{where}: a numpy image must be 2-D (H, W) or 3-D (H, W, C); got "
                         f"{pic.ndim} dims, shape {pic.shape}")


def to_tensor(pic):
    """PIL image or numpy (H, W[, C]) -> tensor (C, H, W); uint8 data becomes the default
    float dtype divided by 255, other dtypes are kept as they are."""
    if isinstance(pic, np.ndarray):
        _numpy_image("to_tensor", pic)
        if pic.ndim == 2:
            pic = pic[:, :, None]
        arr = np.ascontiguousarray(pic.transpose((2, 0, 1)))
    elif is_pil(pic):
        # PIL modes whose pixels are not bytes keep their numeric type
        as_type = {"I": np.int32, "I;16" if sys.byteorder == "little" else "I;16B": np.int16,
                   "F": np.float32}.get(pic.mode, np.uint8)
        arr = np.array(pic, as_type, copy=True)
        if pic.mode == "1":  # bilevel images are 0/1 bools: make them 0/255 like L
            arr = arr * np.uint8(255)
        arr = arr.reshape(pic.height, pic.width, pil_channels(pic)).transpose((2, 0, 1))
        arr = np.ascontiguousarray(arr)
    else:
        raise bad_input("to_tensor (ToTensor)", pic,
                        "a PIL image or a numpy.ndarray (H, W) or (H, W, C)")
    img = tc.from_numpy(arr)
    if arr.dtype == np.uint8:
        return img.to(tc.get_default_dtype()).div(255)
    return img


def pil_to_tensor(pic):
    """PIL image -> tensor (C, H, W) of the image's own dtype (no scaling)."""
    if not is_pil(pic):
        raise bad_input("pil_to_tensor (PILToTensor)", pic, "a PIL image")
    arr = np.array(pic, copy=True)
    if arr.dtype == np.uint16:  # torch has uint16 tensors; tracecomp does not hold them
        raise TypeError(f"pil_to_tensor (PILToTensor): mode {pic.mode!r} gives uint16 "
                        f"pixels and tracecomp has no uint16 tensors; convert the image "
                        f"first (img.convert('I') keeps the values as int32)")
    arr = arr.reshape(pic.height, pic.width, pil_channels(pic)).transpose((2, 0, 1))
    return tc.from_numpy(np.ascontiguousarray(arr))


_MODES_BY_CHANNELS = {2: ["LA"], 3: ["RGB", "YCbCr", "HSV"], 4: ["RGBA", "CMYK", "RGBX"]}
_DEFAULT_MODE = {2: "LA", 3: "RGB", 4: "RGBA"}


def to_pil_image(pic, mode=None):
    """Tensor (C, H, W) / (H, W) or numpy (H, W, C) / (H, W) -> PIL image."""
    from ._pil import fromarray  # Pillow is only needed here
    where = "to_pil_image (ToPILImage)"
    if is_tensor(pic):
        if pic.dim() == 3:
            pic = pic.permute(1, 2, 0)
        pic = np.asarray(pic.detach().numpy())
    elif not isinstance(pic, np.ndarray):
        raise bad_input(where, pic, "a tracecomp.Tensor (C, H, W) or (H, W), or a "
                                    "numpy.ndarray (H, W, C) or (H, W)")
    if pic.ndim == 2:
        pic = pic[:, :, None]
    if pic.ndim != 3:
        raise ValueError(f"{where}: the image must be 2-D or 3-D; got {pic.ndim} dims")
    if pic.shape[-1] > 4:
        raise ValueError(f"{where}: the image has {pic.shape[-1]} channels; at most 4 are "
                         f"supported (tensors are channels-first, numpy arrays channels-last)")
    npimg = pic
    if np.issubdtype(npimg.dtype, np.floating) and mode != "F":
        npimg = (npimg * 255).astype(np.uint8)  # no clamp or rounding, as torchvision
    channels = npimg.shape[2]
    if channels == 1:
        npimg = npimg[:, :, 0]
        expected = {np.dtype(np.uint8): "L", np.dtype(np.int16): "I;16" if sys.byteorder ==
                    "little" else "I;16B", np.dtype(np.int32): "I",
                    np.dtype(np.float32): "F"}.get(npimg.dtype)
        if mode is not None and mode != expected:
            raise ValueError(f"{where}: mode={mode!r} does not fit 1-channel {npimg.dtype} "
                             f"data; it should be {expected!r}")
        mode = expected
    else:
        permitted = _MODES_BY_CHANNELS[channels]
        if mode is not None and mode not in permitted:
            raise ValueError(f"{where}: mode={mode!r} does not fit {channels}-channel data; "
                             f"it accepts {permitted}")
        if mode is None and npimg.dtype == np.uint8:
            mode = _DEFAULT_MODE[channels]
    if mode is None:
        raise TypeError(f"{where}: {channels}-channel {npimg.dtype} data has no PIL mode; "
                        f"give uint8 data (or float data, which is scaled by 255)")
    return fromarray(npimg, mode)


def convert_image_dtype(image, dtype=tc.float32):
    """Tensor image cast to dtype, rescaling the value range (floats: [0, 1])."""
    if not is_tensor(image):
        raise bad_input("convert_image_dtype (ConvertImageDtype)", image,
                        "a tracecomp.Tensor image (PIL images: use pil_to_tensor first)")
    if not isinstance(dtype, type(tc.float32)):
        raise TypeError(f"convert_image_dtype (ConvertImageDtype): dtype={dtype!r} is not a "
                        f"tracecomp dtype (e.g. tracecomp.float32, tracecomp.uint8)")
    return _tensor.convert_image_dtype(image, dtype)
