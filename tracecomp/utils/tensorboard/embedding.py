"""add_embedding's files, for TensorBoard's projector, which reads them from the run folder
rather than from the event file, laid out as torch lays them out:

    <log_dir>/projector_config.pbtxt        every embedding of this writer (text protobuf)
    <log_dir>/<step:05d>/<tag>/tensors.tsv   one row of tab-separated values per point
                               metadata.tsv  one label per point (or a header and columns)
                               sprite.png    the points' images in one square-ish grid

The tag's '%', '/' and '\\' are %-escaped in its folder name.
"""
import math
import os
import warnings

import numpy as np
from google.protobuf import text_format
from tensorboard.plugins.projector.projector_config_pb2 import EmbeddingInfo

from ...tensor import Tensor
from ...user_code import user_stacklevel
from .images import grid, png
from .summaries import to_numpy

CONFIG_FILE = "projector_config.pbtxt"


def add_embedding(config, log_dir, mat, metadata=None, label_img=None, global_step=None,
                  tag="default", metadata_header=None):
    """Write one embedding's files under log_dir, add it to config (the writer's
    ProjectorConfig) and rewrite the config file with all of them. mat: points x features;
    metadata: one label per point (a list, or with metadata_header a list of rows);
    label_img: one image per point, N x C x H x W, C 1 or 3."""
    mat = to_numpy(mat)
    where = f"add_embedding(tag={tag!r})"
    if mat.ndim != 2:
        raise ValueError(f"{where}: mat must be (points, features), got shape "
                         f"{list(mat.shape)}")
    lines = None if metadata is None else _metadata_lines(metadata, metadata_header, mat,
                                                           where)
    images = None if label_img is None else _sprite_images(to_numpy(label_img), mat, where)

    step = 0 if global_step is None else int(to_numpy(global_step))
    subdir = f"{step:05d}/{escape(tag)}"
    folder = os.path.join(log_dir, subdir)
    if os.path.isdir(folder):
        warnings.warn(f"{where}: {folder} exists and its files are replaced; give each "
                      f"add_embedding of a tag its own global_step to keep them all",
                      stacklevel=user_stacklevel())
    elif os.path.exists(folder):
        raise NotADirectoryError(f"{where}: {folder} exists and is a file, not a folder")
    os.makedirs(folder, exist_ok=True)

    info = EmbeddingInfo(tensor_name=f"{tag}:{step:05d}", tensor_path=f"{subdir}/tensors.tsv")
    _write(folder, "tensors.tsv", "".join("\t".join(map(str, row)) + "\n"
                                          for row in mat.tolist()))
    if lines is not None:
        _write(folder, "metadata.tsv", "".join(line + "\n" for line in lines))
        info.metadata_path = f"{subdir}/metadata.tsv"
    if images is not None:
        _write(folder, "sprite.png", sprite(images))
        info.sprite.image_path = f"{subdir}/sprite.png"
        info.sprite.single_image_dim.extend([images.shape[2], images.shape[1]])  # W, H
    config.embeddings.append(info)
    _write(log_dir, CONFIG_FILE, text_format.MessageToString(config))


def escape(tag):
    """tag as one folder name: '%', '/' and '\\' as %25, %2f and %5c (torch's escaping)."""
    return tag.replace("%", "%25").replace("/", "%2f").replace("\\", "%5c")


def sprite(images):
    """The PNG of N x H x W x 3 images in ceil(sqrt(N)) columns on a canvas as tall as it is
    wide (taller for tall images), as the projector and torch lay sprites out. Pixel values
    as add_image takes them: uint8 as they are (torch scales those by 255 too, which turns
    every pixel but black to white), other dtypes in [0, 1]."""
    columns = math.ceil(math.sqrt(len(images)))
    tiles = grid(images, columns)
    height, width = images.shape[1:3]
    canvas = np.zeros((columns * max(height, width), tiles.shape[1], 3), tiles.dtype)
    canvas[:len(tiles)] = tiles
    if canvas.dtype != np.uint8:
        # in float64, as torch scales sprites, so the same floats truncate to the same pixels
        canvas = (canvas.astype(np.float64) * 255).clip(0, 255).astype(np.uint8)
    return png(canvas, "add_embedding")


def _metadata_lines(metadata, header, mat, where):
    """metadata.tsv's lines: str() of each label, or the header and then each row's
    values, tab-separated (the projector reads a header only when there are columns)."""
    if isinstance(metadata, Tensor):
        metadata = to_numpy(metadata)
    if len(metadata) != len(mat):
        raise ValueError(f"{where}: {len(metadata)} metadata labels for {len(mat)} points; "
                         f"give one per row of mat")
    if not header:
        return [str(label) for label in metadata]
    rows = [header, *metadata]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"{where}: metadata_header has {len(header)} columns but a "
                             f"metadata row has {len(row)}: {row!r}")
    return ["\t".join(str(value) for value in row) for row in rows]


def _sprite_images(label_img, mat, where):
    """label_img (N x C x H x W, C 1 or 3) as N x H x W x 3."""
    if label_img.ndim != 4 or label_img.shape[1] not in (1, 3):
        raise ValueError(f"{where}: label_img must be (points, channels, height, width) "
                         f"with 1 or 3 channels, got shape {list(label_img.shape)}")
    if len(label_img) != len(mat):
        raise ValueError(f"{where}: {len(label_img)} label images for {len(mat)} points; "
                         f"give one per row of mat")
    return np.repeat(label_img, 3 // label_img.shape[1], axis=1).transpose(0, 2, 3, 1)


def _write(folder, name, content):
    with open(os.path.join(folder, name), "wb") as out:
        out.write(content.encode("utf-8") if isinstance(content, str) else content)
