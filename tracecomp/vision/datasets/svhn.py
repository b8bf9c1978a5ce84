"""SVHN (Street View House Numbers, cropped digits) read from the MATLAB files in torchvision's
layout: root/{train,test,extra}_32x32.mat, each with "X" (uint8 [32, 32, 3, N]) and "y"
(labels [N, 1], the digit 0 labelled 10).

As in torchvision, `.data` is a numpy uint8 array [N, 3, 32, 32] (CHW), `.labels` an int64
array with 10 mapped to 0 (so labels are 0..9, what the loss functions expect), and an item is
(PIL RGB image, int). scipy reads the .mat files (torchvision needs it too); it is imported
only when an SVHN is built.
"""
import os

import numpy as np

from ...errors import DataError
from .mnist import verify_str_arg
from .vision import VisionDataset, image_from_array, missing_files_error, transformed


class SVHN(VisionDataset):
    """SVHN's `split` ("train", "test" or "extra") from root/<split>_32x32.mat.

    torchvision also checks the file's MD5 sum, which we skip so that a subset or a re-made
    file loads."""

    split_list = {
        "train": ["http://ufldl.stanford.edu/housenumbers/train_32x32.mat", "train_32x32.mat",
                  "e26dedcc434d2e4c54c9b2d4a06d8373"],
        "test": ["http://ufldl.stanford.edu/housenumbers/test_32x32.mat", "test_32x32.mat",
                 "eb5a983be6a315427106f1b164d9cef3"],
        "extra": ["http://ufldl.stanford.edu/housenumbers/extra_32x32.mat", "extra_32x32.mat",
                  "a93ce644f1a588dc4d68dda5feec44a7"],
    }

    def __init__(self, root, split="train", transform=None, target_transform=None,
                 download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.split = verify_str_arg(split, "split", tuple(self.split_list))
        self.url, self.filename, self.file_md5 = self.split_list[split]
        path = os.path.join(self.root, self.filename)
        if not os.path.isfile(path):
            raise missing_files_error(f"SVHN {split} set", [path], download,
                                      where_from=self.url)
        self.data, self.labels = _load_mat(path)

    def __getitem__(self, index):
        img, target = self.data[index], int(self.labels[index])
        img = image_from_array(np.transpose(img, (1, 2, 0)))  # CHW -> HWC for Pillow
        return transformed(self, img, target)

    def __len__(self):
        return len(self.data)

    def extra_repr(self):
        return f"Split: {self.split}"


def _load_mat(path):
    """(data uint8 [N, 3, 32, 32], labels int64 [N]) of one SVHN .mat file, checked."""
    import scipy.io as sio  # an optional dependency, as in torchvision
    try:
        mat = sio.loadmat(path)
    except Exception as e:  # scipy raises ValueError, TypeError, ... for a bad file
        raise DataError(f"{path}: not a MATLAB .mat file scipy can read ({type(e).__name__}: "
                        f"{e})") from None
    if "X" not in mat or "y" not in mat:
        raise DataError(f"{path}: an SVHN file holds 'X' and 'y'; got "
                        f"{sorted(k for k in mat if not k.startswith('__'))}")
    data, labels = mat["X"], mat["y"].astype(np.int64).reshape(-1)
    if data.dtype != np.uint8 or data.ndim != 4 or data.shape[2] != 3:
        raise DataError(f"{path}: 'X' must be uint8 of shape [H, W, 3, N], got {data.dtype} "
                        f"of shape {list(data.shape)}")
    if len(labels) != data.shape[3]:
        raise DataError(f"{path}: {len(labels)} labels for {data.shape[3]} images")
    labels[labels == 10] = 0  # SVHN labels the digit 0 as 10
    # [H, W, C, N] -> [N, C, H, W]: torchvision's transpose (a view, as there)
    return np.transpose(data, (3, 2, 0, 1)), labels
