"""add_video's summary: a batch of clips as one animated GIF, which TensorBoard's images
dashboard plays. The clips are tiled into each frame as torch tiles them; the GIF is encoded
by Pillow (which add_image needs anyway), where torch's needs moviepy 1.x and its imageio:
with moviepy missing, or moviepy 2 (which has no moviepy.editor), torch prints a message and
writes an empty summary.
"""
import io

import numpy as np
from tensorboard.compat.proto.summary_pb2 import Summary

from .images import pillow_image, to_uint8
from .summaries import to_numpy


def video(tag, vid, fps=4):
    """A Summary of one GIF of vid, N clips x T frames x C channels (1 or 3) x H x W:
    uint8 pixel values, or floats in [0, 1]. fps: frames per second."""
    array = to_numpy(vid)
    if array.ndim != 5:
        raise ValueError(f"add_video({tag!r}): needs a batch of clips laid out (N, T, C, H, "
                         f"W), got shape {list(array.shape)}; add a batch dim of 1 for "
                         f"one clip")
    if array.shape[2] not in (1, 3):
        raise ValueError(f"add_video({tag!r}): a clip's frames need 1 (grey) or 3 (RGB) "
                         f"channels, got {array.shape[2]} (shape {list(array.shape)} as "
                         f"N, T, C, H, W)")
    if fps <= 0:
        raise ValueError(f"add_video({tag!r}): fps must be positive, got {fps}")
    if 0 in array.shape:
        raise ValueError(f"add_video({tag!r}): no pixels to show (shape "
                         f"{list(array.shape)} as N, T, C, H, W)")
    frames = to_uint8(tiled(array))
    _, height, width, channels = frames.shape
    return Summary(value=[Summary.Value(tag=tag, image=Summary.Image(
        height=height, width=width, colorspace=channels,
        encoded_image_string=gif(frames, fps)))])


def tiled(clips):
    """N x T x C x H x W clips as T frames of rows x cols clips (T x H' x W' x C): N padded
    with blank clips to a power of two, in 2 ** (floor(log2 N) // 2) rows, as torch's
    add_video lays them out."""
    count, steps, channels, height, width = clips.shape
    padded = 1 << (count - 1).bit_length()
    if padded != count:
        clips = np.concatenate([clips, np.zeros((padded - count, *clips.shape[1:]),
                                                clips.dtype)])
    rows = 2 ** ((count.bit_length() - 1) // 2)
    cols = padded // rows
    frames = clips.reshape(rows, cols, steps, channels, height, width)
    frames = frames.transpose(2, 0, 4, 1, 5, 3)     # T, rows, H, cols, W, C
    return frames.reshape(steps, rows * height, cols * width, channels)


def gif(frames, fps):
    """The bytes of an animated GIF of T x H x W x 1|3 uint8 frames that loops forever.
    Each frame gets its own 256-colour palette, as GIF allows."""
    pil = pillow_image("add_video")
    images = [pil.fromarray(f[:, :, 0] if f.shape[2] == 1 else f) for f in frames]
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:],
                   duration=round(1000 / fps), loop=0)
    return out.getvalue()
