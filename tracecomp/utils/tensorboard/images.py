"""Image summaries: one image or a batch tiled into one grid (add_image, add_images), and
matplotlib figures rendered to pixels (add_figure), PNG-encoded by Pillow as torch encodes
them, so TensorBoard decodes the same pixels from ours as from torch's.

Pixel values: a uint8 array holds them as they are; any other dtype holds values in [0, 1],
which are scaled by 255 (in float32), clipped and truncated, as torch does.
"""
import io

import numpy as np
from tensorboard.compat.proto.summary_pb2 import Summary

from .summaries import to_numpy

GRID_COLUMNS = 8        # torch's add_images: up to 8 images a row


def image(tag, img, dataformats="CHW", method="add_image"):
    """A Summary of one PNG: img laid out as dataformats says (see to_hwc); a batch (with
    an N) is tiled GRID_COLUMNS images a row. method names the caller in errors."""
    hwc = to_hwc(to_numpy(img), dataformats, f"{method}({tag!r})")
    return Summary(value=[Summary.Value(tag=tag, image=encoded(to_uint8(hwc), method))])


def to_uint8(array):
    """Pixel values: uint8 as it is, anything else in [0, 1] scaled by 255."""
    scale = 1 if array.dtype == np.uint8 else 255
    return (array.astype(np.float32) * scale).clip(0, 255).astype(np.uint8)


def encoded(hwc, method="add_image"):
    """The Summary.Image of a uint8 height x width x 3|4 array."""
    height, width, channels = hwc.shape
    return Summary.Image(height=height, width=width, colorspace=channels,
                         encoded_image_string=png(hwc, method))


# --- layouts -------------------------------------------------------------------------------
_LAYOUTS = {"".join(sorted(letters)) for letters in ("NCHW", "CHW", "HW")}


def to_hwc(array, dataformats, where="add_image"):
    """array as height x width x channels. dataformats orders the letters of "HW" (grey),
    "CHW" or "NCHW" (a batch, tiled by grid). Grey images (one channel, or no C) are
    repeated into RGB as torch does; 3 (RGB) and 4 (RGBA) channels stay as they are."""
    layout = dataformats.upper()
    if "".join(sorted(layout)) not in _LAYOUTS:
        raise ValueError(f"{where}: dataformats must order the letters C, H and W (e.g. "
                         f"'CHW', 'HWC'), H and W ('HW'), or N, C, H and W for a batch "
                         f"('NCHW', 'NHWC'), got {dataformats!r}")
    if array.ndim != len(layout):
        raise ValueError(f"{where}: an image of shape {list(array.shape)} has {array.ndim} "
                         f"dims but dataformats={dataformats!r} has {len(layout)}")
    # to N x H x W x C, with a batch of one and a channel of one where the layout has none
    nhwc = array.transpose([layout.index(c) for c in "NHWC" if c in layout])
    if "C" not in layout:
        nhwc = nhwc[..., None]
    if "N" not in layout:
        nhwc = nhwc[None]
    if nhwc.shape[-1] == 1:
        nhwc = np.repeat(nhwc, 3, axis=-1)
    if nhwc.shape[-1] not in (3, 4):
        raise ValueError(f"{where}: an image needs 1, 3 (RGB) or 4 (RGBA) channels, got "
                         f"{nhwc.shape[-1]} (shape {list(array.shape)}, "
                         f"dataformats={dataformats!r})")
    if len(nhwc) == 0:
        raise ValueError(f"{where}: a batch of no images (shape {list(array.shape)})")
    return grid(nhwc, GRID_COLUMNS) if "N" in layout else nhwc[0]


def grid(nhwc, columns):
    """N images (N x H x W x C) as one, row after row of `columns` (or N, if fewer), the
    last row's empty cells zero: torch's make_grid for add_images and sprites."""
    count, height, width, channels = nhwc.shape
    columns = min(count, columns)
    rows = -(-count // columns)
    cells = np.zeros((rows * columns, height, width, channels), nhwc.dtype)
    cells[:count] = nhwc
    cells = cells.reshape(rows, columns, height, width, channels).transpose(0, 2, 1, 3, 4)
    return cells.reshape(rows * height, columns * width, channels)


# --- PNG -----------------------------------------------------------------------------------
def pillow_image(method):
    """PIL.Image, or an ImportError that says what to install."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError(f"{method} encodes images with Pillow, which is not installed: "
                          f"pip install pillow") from exc
    return Image


def png(hwc, method="add_image"):
    """The PNG bytes of a uint8 height x width x 3|4 array, encoded by Pillow as torch
    encodes them."""
    out = io.BytesIO()
    pillow_image(method).fromarray(hwc).save(out, format="PNG")
    return out.getvalue()


# --- matplotlib figures --------------------------------------------------------------------
def figure(tag, figures, close=True):
    """A Summary of one PNG of a matplotlib Figure, or of a list of them tiled as
    add_images tiles a batch (all must be the same size in pixels)."""
    if not isinstance(figures, list):
        return image(tag, figure_pixels(figures, close), "HWC", "add_figure")
    pixels = [figure_pixels(one, close) for one in figures]
    if len({p.shape for p in pixels}) > 1:
        raise ValueError(f"add_figure({tag!r}): a list of figures is tiled into one image, "
                         f"so they must be the same size in pixels, got (H, W, C) "
                         f"{sorted({p.shape for p in pixels})}; set the same figsize and dpi")
    return image(tag, np.stack(pixels), "NHWC", "add_figure")


def figure_pixels(fig, close=True):
    """fig drawn by matplotlib's Agg renderer: a uint8 height x width x 3 (RGB) array.
    close: then close it in pyplot (so a loop that makes a figure a step keeps no memory)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    # FigureCanvasAgg(fig) makes itself fig's canvas: put the user's back afterwards, so a
    # figure on screen stays on screen
    user_canvas = fig.canvas
    agg = FigureCanvasAgg(fig)
    agg.draw()
    pixels = np.array(agg.buffer_rgba())[:, :, :3]
    fig.set_canvas(user_canvas)
    if close:
        import matplotlib.pyplot as plt
        plt.close(fig)
    return pixels
