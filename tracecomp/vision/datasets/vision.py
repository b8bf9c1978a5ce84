"""The base of every dataset in tracecomp.vision.datasets: VisionDataset and StandardTransform
(torchvision.datasets.vision's API and repr), plus what the file-backed datasets share: the
error raised when a dataset's files are not on disk, and the array -> PIL image conversion.

Nothing here downloads. torchvision's `download=True` fetches files from the internet; a
tracecomp machine may have no network, so our datasets take `download=` for compatibility,
use files that are already in place and otherwise raise `DatasetNotFoundError`, which lists
the exact paths the files must have.
"""
import os

import numpy as np
from PIL import Image

from ...errors import TracecompError
from ...utils.data import Dataset


class DatasetNotFoundError(TracecompError, RuntimeError, FileNotFoundError):
    """A dataset's files are not where they must be. A RuntimeError, as torchvision raises
    ("Dataset not found"), so `except RuntimeError` keeps working, and a FileNotFoundError,
    which is what it is."""


def missing_files_error(name, missing, download, where_from=None, note=None):
    """The error for a dataset whose files `missing` (exact paths) are not on disk.

    It says where each file must be put and that tracecomp does not download: with
    download=True a user expects the files to appear, so the message must say why they did
    not rather than suggest passing download=True, as torchvision's does."""
    lines = [f"{name}: dataset not found; these files are missing:"]
    lines += [f"    {os.fspath(p)}" for p in missing]
    if note:
        lines.append(note)
    lines.append("tracecomp does not download datasets (with download=True it only uses files "
                 "already present" + (", and these are not" if download else "") + "): put the "
                 "files at "
                 "the paths above (torchvision's layout, so a root torchvision downloaded into "
                 "works as it is).")
    if where_from:
        lines.append(f"They can be fetched from {where_from}")
    return DatasetNotFoundError("\n".join(lines))


def expand_root(root):
    """torchvision expands '~' in a str root (a pathlib.Path is kept as given)."""
    return os.path.expanduser(root) if isinstance(root, str) else root


def image_from_array(arr):
    """A PIL image of a uint8 array [H, W] (mode L) or [H, W, 3] (RGB).

    Image.fromarray picks the mode from the shape and dtype: passing `mode=` is deprecated
    since Pillow 11.3, and for uint8 arrays the inferred mode is the one torchvision asks."""
    return Image.fromarray(np.ascontiguousarray(arr))


class StandardTransform:
    """Applies `transform` to the input and `target_transform` to the target: what
    VisionDataset.transforms holds when those two were given separately."""

    def __init__(self, transform=None, target_transform=None):
        self.transform = transform
        self.target_transform = target_transform

    def __call__(self, input, target):  # noqa: A002 - torchvision's parameter name
        return transformed(self, input, target)

    def __repr__(self):
        body = [self.__class__.__name__]
        if self.transform is not None:
            body += _format_transform_repr(self.transform, "Transform: ")
        if self.target_transform is not None:
            body += _format_transform_repr(self.target_transform, "Target transform: ")
        return "\n".join(body)


def transformed(holder, sample, target):
    """(sample, target) through holder's transform and target_transform (a dataset's item:
    the attributes as they are now, which user code may have replaced)."""
    if holder.transform is not None:
        sample = holder.transform(sample)
    if holder.target_transform is not None:
        target = holder.target_transform(target)
    return sample, target


def _format_transform_repr(transform, head):
    lines = repr(transform).splitlines()
    return [f"{head}{lines[0]}"] + [" " * len(head) + line for line in lines[1:]]


class VisionDataset(Dataset):
    """Base class of the vision datasets: subclasses define __getitem__ and __len__.

    `transforms` (a callable of (input, target)) and `transform` / `target_transform` are
    mutually exclusive, as in torchvision; the latter two are also kept as attributes, since
    subclasses (and user code) apply them one by one."""

    _repr_indent = 4

    def __init__(self, root=None, transforms=None, transform=None, target_transform=None):
        self.root = expand_root(root)
        has_transforms = transforms is not None
        has_separate_transform = transform is not None or target_transform is not None
        if has_transforms and has_separate_transform:
            raise ValueError("Only transforms or transform/target_transform can be passed as "
                             "argument")
        self.transform = transform
        self.target_transform = target_transform
        if has_separate_transform:
            transforms = StandardTransform(transform, target_transform)
        self.transforms = transforms

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError

    def __repr__(self):
        # torchvision's exact layout: only the first line of a multi-line transforms repr is
        # indented (it is one element of `body`); programs and docs print this.
        head = "Dataset " + self.__class__.__name__
        body = [f"Number of datapoints: {self.__len__()}"]
        if self.root is not None:
            body.append(f"Root location: {self.root}")
        body += self.extra_repr().splitlines()
        if getattr(self, "transforms", None) is not None:
            body += [repr(self.transforms)]
        lines = [head] + [" " * self._repr_indent + line for line in body]
        return "\n".join(lines)

    def _format_transform_repr(self, transform, head):     # torchvision's method name
        return _format_transform_repr(transform, head)

    def extra_repr(self):
        return ""
