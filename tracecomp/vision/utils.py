"""tracecomp.vision.utils: make_grid and save_image, torchvision.utils' image helpers, on
tracecomp tensors (torchvision's take torch tensors only).

The grid is assembled with numpy on the tensor's values: it is a copy-and-pad of pixels, no
op worth tracing, and like torchvision's (run under no_grad) its result never requires grad.
The numbers are torchvision's: the same clamping and scaling in the tensor's dtype, the same
layout, padding and rounding in save_image. The drawing helpers (draw_bounding_boxes,
draw_segmentation_masks, draw_keypoints, flow_to_image) are not provided.
"""
import math

import numpy as np
from PIL import Image

from ..creation import from_numpy
from ..errors import DTypeError
from ..support import unsupported
from ..tensor import Tensor

__all__ = ["make_grid", "save_image"]


def _numpy(t):
    """The values of tensor t as a numpy array (detached: the grid is only pixels)."""
    return t.detach().cpu().numpy()


def _batch(tensor):
    """A 4-d array [B, C, H, W] of a tensor or a list of same-sized tensors, as torchvision
    reshapes them: an [H, W] or [C, H, W] image is a batch of one, one channel becomes three
    (grids are shown and saved as RGB)."""
    if isinstance(tensor, list):
        for t in tensor:
            if not isinstance(t, Tensor):
                raise TypeError(f"tensor or list of tensors expected, got a list containing "
                                f"{type(t)}")
        if not tensor:
            raise ValueError("make_grid got an empty list: there is no image to arrange")
        shapes = {tuple(t.shape) for t in tensor}
        if len(shapes) > 1:
            raise ValueError(f"make_grid needs images of the same size, got shapes "
                             f"{sorted(shapes)}")
        arr = np.stack([_numpy(t) for t in tensor])
    elif isinstance(tensor, Tensor):
        arr = _numpy(tensor)
    else:
        raise TypeError(f"tensor or list of tensors expected, got {type(tensor)}")

    if arr.ndim == 2:               # a single image H x W
        arr = arr[None]
    if arr.ndim == 3:               # a single image C x H x W
        if arr.shape[0] == 1:
            arr = np.concatenate((arr, arr, arr), 0)
        arr = arr[None]
    if arr.ndim != 4:
        raise ValueError(f"make_grid takes images [H, W], [C, H, W] or a batch [B, C, H, W], "
                         f"got a tensor of shape {list(arr.shape)}")
    if arr.shape[1] == 1:           # single-channel images
        arr = np.concatenate((arr, arr, arr), 1)
    return arr


def _normalize(arr, value_range, scale_each):
    """arr (a copy: the caller's tensor is left alone) clamped to value_range, or its own
    (min, max), and shifted to [0, 1] in its dtype; per image when scale_each."""
    if value_range is not None and not isinstance(value_range, tuple):
        raise TypeError("value_range has to be a tuple (min, max) if specified. min and max "
                        "are numbers")
    if not np.issubdtype(arr.dtype, np.floating):
        # torch refuses the in-place true division into an integer tensor; say so plainly
        raise DTypeError(f"make_grid(normalize=True) needs a floating-point tensor, got "
                         f"{arr.dtype} (convert it first, e.g. tensor.float() / 255)")
    arr = arr.copy()

    def norm_ip(img, low, high):
        # in place and in img's dtype, as torchvision's clamp_/sub_/div_
        np.clip(img, low, high, out=img)
        img -= low
        img /= max(high - low, 1e-5)

    def norm_range(img):
        if value_range is not None:
            norm_ip(img, value_range[0], value_range[1])
        else:
            norm_ip(img, float(img.min()), float(img.max()))

    if scale_each is True:
        for img in arr:             # a view: normalized in place
            norm_range(img)
    else:
        norm_range(arr)
    return arr


def _fill_value(pad_value, dtype):
    """pad_value in dtype; out of an integer dtype's range it is an error, as in torch."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        if not info.min <= pad_value <= info.max:
            raise DTypeError(f"make_grid: pad_value {pad_value} cannot be converted to {dtype} "
                             f"without overflow (the images' dtype; range {info.min} to "
                             f"{info.max})")
    elif dtype == np.bool_:
        return bool(pad_value)
    return pad_value


def _grid(arr, nrow, padding, pad_value):
    nmaps = arr.shape[0]
    xmaps = min(nrow, nmaps)
    ymaps = int(math.ceil(float(nmaps) / xmaps))
    height, width = arr.shape[2] + padding, arr.shape[3] + padding
    grid = np.full((arr.shape[1], height * ymaps + padding, width * xmaps + padding),
                   _fill_value(pad_value, arr.dtype), dtype=arr.dtype)
    for k in range(nmaps):
        y, x = divmod(k, xmaps)     # row by row, left to right
        top, left = y * height + padding, x * width + padding
        grid[:, top:top + height - padding, left:left + width - padding] = arr[k]
    return grid


def _as_tensor(arr, like):
    out = from_numpy(np.ascontiguousarray(arr))
    device = like[0].device if isinstance(like, list) else like.device
    return out if device.type == "cpu" else out.to(device)


def make_grid(tensor, nrow=8, padding=2, normalize=False, value_range=None, scale_each=False,
              pad_value=0.0):
    """The images of tensor (a batch [B, C, H, W] or a list of same-sized images) laid out
    in a grid of nrow columns, `padding` pixels of `pad_value` around each: a tensor
    [C, rows * (H + padding) + padding, columns * (W + padding) + padding] of the images'
    dtype. One-channel images become three-channel; a single image comes back unpadded.

    normalize=True shifts the values to [0, 1] using value_range=(min, max), or the
    images' own min and max (each image's own with scale_each=True)."""
    if not isinstance(nrow, int) or nrow < 1:
        raise ValueError(f"make_grid: nrow (images per row) must be a positive int, got "
                         f"{nrow!r}")
    arr = _batch(tensor)
    if normalize is True:
        arr = _normalize(arr, value_range, scale_each)
    if arr.shape[0] == 1:
        return _as_tensor(arr[0], tensor)
    return _as_tensor(_grid(arr, nrow, padding, pad_value), tensor)


def save_image(tensor, fp, format=None, **kwargs):  # noqa: A002 - torchvision's name
    """Save tensor (an image, a batch or a list; a batch is saved as make_grid(tensor,
    **kwargs)) to fp, a path or a binary file object, through Pillow. Values are floats in
    [0, 1], scaled to 0..255 with rounding to nearest; `format` is needed with a file
    object (otherwise the file name's extension decides)."""
    grid = _numpy(make_grid(tensor, **kwargs))
    if not np.issubdtype(grid.dtype, np.floating):
        # torchvision's `grid.mul(255).add_(0.5)` fails on an integer grid in torch too
        raise DTypeError(f"save_image takes floating-point images with values in [0, 1], got "
                         f"{grid.dtype} (for 0..255 images pass tensor.float() / 255)")
    # as torchvision: x * 255 + 0.5 in the grid's dtype, clamped, then truncated to uint8,
    # which rounds to nearest
    scaled = grid * grid.dtype.type(255)
    scaled += grid.dtype.type(0.5)
    np.clip(scaled, 0, 255, out=scaled)
    ndarr = scaled.transpose(1, 2, 0).astype(np.uint8)
    if ndarr.shape[2] == 1:
        ndarr = ndarr[:, :, 0]
    Image.fromarray(np.ascontiguousarray(ndarr)).save(fp, format=format)


def __getattr__(name):
    if name in ("draw_bounding_boxes", "draw_segmentation_masks", "draw_keypoints",
                "flow_to_image"):
        raise unsupported(f"torchvision.utils.{name}")
    raise AttributeError(f"module 'tracecomp.vision.utils' has no attribute {name!r}")
