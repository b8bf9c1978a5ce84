"""CelebA (large-scale CelebFaces Attributes) read from torchvision's layout: root/celeba/
holds img_align_celeba/ (the aligned JPEGs) and five text files, each a line per image
("000001.jpg" then integers, space-separated):

    list_eval_partition.txt          split: 0 train, 1 valid, 2 test (no header)
    identity_CelebA.txt              the person's identity (no header)
    list_attr_celeba.txt             40 attributes, -1 or 1 (header: count, then names)
    list_bbox_celeba.txt             x_1 y_1 width height (header: count, then names)
    list_landmarks_align_celeba.txt  5 (x, y) landmarks (header: count, then names)

As torchvision, an item is (PIL RGB image, target): target_type "attr" gives the attributes
mapped from {-1, 1} to {0, 1} (an int64 tensor [40]; `attr_names` names them), "identity"
a 0-d int64 tensor, "bbox" [4] and "landmarks" [10]; a list of types gives a tuple, an empty
list None. The smile classifier of Raschka's book (chapter 14) reads `attr[18]`.
"""
import os

import numpy as np
from PIL import Image

from ...creation import tensor
from ...errors import DataError
from .mnist import verify_str_arg
from .vision import VisionDataset, missing_files_error

BASE_FOLDER = "celeba"
SPLITS = {"train": 0, "valid": 1, "test": 2, "all": None}
# target type -> (file, whether the file has torchvision's two header lines)
TARGET_FILES = {"identity": ("identity_CelebA.txt", False),
                "attr": ("list_attr_celeba.txt", True),
                "bbox": ("list_bbox_celeba.txt", True),
                "landmarks": ("list_landmarks_align_celeba.txt", True)}


class CelebA(VisionDataset):
    """CelebA's `split` ("train", "valid", "test" or "all") with targets `target_type` (a
    name of TARGET_FILES, or a list of them), from root/celeba/.

    torchvision also checks the files' MD5 sums, which we skip so that a subset loads."""

    base_folder = BASE_FOLDER

    def __init__(self, root, split="train", target_type="attr", transform=None,
                 target_transform=None, download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.split = verify_str_arg(split, "split", tuple(SPLITS))
        self.target_type = list(target_type) if isinstance(target_type, list) \
            else [target_type]
        if not self.target_type and self.target_transform is not None:
            raise RuntimeError("target_transform is specified but target_type is empty")
        for t in self.target_type:
            verify_str_arg(t, "target_type", tuple(TARGET_FILES))
        folder = os.path.join(self.root, self.base_folder)
        files = ["list_eval_partition.txt"] + [f for f, _ in TARGET_FILES.values()]
        missing = [os.path.join(folder, f) for f in files
                   if not os.path.isfile(os.path.join(folder, f))]
        if not os.path.isdir(os.path.join(folder, "img_align_celeba")):
            missing.append(os.path.join(folder, "img_align_celeba") + os.sep)
        if missing:
            raise missing_files_error("CelebA", missing, download)
        names, parts, _ = _read_table(os.path.join(folder, "list_eval_partition.txt"), False)
        keep = np.ones(len(names), bool) if SPLITS[split] is None \
            else parts[:, 0] == SPLITS[split]
        self.filename = [n for n, k in zip(names, keep) if k]
        tables = {t: _read_table(os.path.join(folder, f), header, names)
                  for t, (f, header) in TARGET_FILES.items()}
        self.identity = tensor(tables["identity"][1][keep])
        self.bbox = tensor(tables["bbox"][1][keep])
        self.landmarks_align = tensor(tables["landmarks"][1][keep])
        self.attr = tensor((tables["attr"][1][keep] + 1) // 2)     # {-1, 1} -> {0, 1}
        self.attr_names = tables["attr"][2]

    def __getitem__(self, index):
        path = os.path.join(self.root, self.base_folder, "img_align_celeba",
                            self.filename[index])
        img = Image.open(path)
        target = []
        for t in self.target_type:
            target.append({"attr": lambda: self.attr[index, :],
                           "identity": lambda: self.identity[index, 0],
                           "bbox": lambda: self.bbox[index, :],
                           "landmarks": lambda: self.landmarks_align[index, :]}[t]())
        if self.transform is not None:
            img = self.transform(img)
        if not target:
            return img, None
        target = tuple(target) if len(target) > 1 else target[0]
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self):
        return len(self.attr)

    def extra_repr(self):
        return "\n".join(["Target type: {target_type}", "Split: {split}"]).format(
            **self.__dict__)


def _read_table(path, header, names=None):
    """(image names, int64 array [N, K], column names) of a CelebA text file; `header`: the
    file starts with a count line and a line of column names (torchvision's header=1). With
    `names` (the partition file's), the rows must name the same images in the same order."""
    with open(path) as f:
        rows = [line.split() for line in f if line.strip()]
    columns = rows[1] if header else []
    rows = rows[2:] if header else rows
    try:
        values = np.array([[int(v) for v in row[1:]] for row in rows], np.int64)
    except ValueError as e:
        raise DataError(f"{path}: each line is an image name, then integers ({e})") from None
    if values.ndim != 2 or len({len(r) for r in rows}) > 1:
        raise DataError(f"{path}: every line must have the same number of columns")
    found = [row[0] for row in rows]
    if names is not None and found != names:
        raise DataError(f"{path}: its {len(found)} lines must name the images of "
                        f"list_eval_partition.txt ({len(names)}), in the same order")
    return found, values, columns
