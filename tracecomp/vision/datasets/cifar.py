"""CIFAR10 and CIFAR100 read from the python-pickle batches in torchvision's layout:
root/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta} and
root/cifar-100-python/{train, test, meta}.

As in torchvision, `.data` is a numpy uint8 array [N, 32, 32, 3] (HWC), `.targets` a list of
ints, and an item is (PIL RGB image, int). With download=True and the files missing, the
archive torchvision would have downloaded (root/cifar-10-python.tar.gz, ...) is extracted
if it is there; nothing is fetched from the network.
"""
import os
import pickle
import tarfile

import numpy as np

from ...errors import DataError
from .vision import VisionDataset, image_from_array, missing_files_error, transformed


def _load_pickle(path):
    # The batches are python 2 pickles of str keys and numpy arrays: latin1 decodes the
    # str keys and leaves the arrays' bytes intact (what torchvision does).
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="latin1")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise DataError(f"{path}: not a CIFAR python pickle ({type(e).__name__}: {e})") from None
    if not isinstance(entry, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(entry).__name__}")
    # batches re-pickled under python 3 with encoding="bytes" have bytes keys
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}


class CIFAR10(VisionDataset):
    """CIFAR-10 (https://www.cs.toronto.edu/~kriz/cifar.html) from
    root/cifar-10-batches-py/: data_batch_1..5 (train=True) or test_batch, and
    batches.meta for the class names.

    Only the files of the split asked for (and the meta file) must be present; torchvision
    also checks the files' MD5 sums, which we skip so that a subset or a re-made batch
    loads."""

    base_folder = "cifar-10-batches-py"
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    filename = "cifar-10-python.tar.gz"
    tgz_md5 = "c58f30108f718f92721af3b95e74349a"
    train_list = [["data_batch_1", "c99cafc152244af753f735de768cd75f"],
                  ["data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"],
                  ["data_batch_3", "54ebc095f3ab1f0389bbae665268c751"],
                  ["data_batch_4", "634d18415352ddfa80567beed471001a"],
                  ["data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"]]
    test_list = [["test_batch", "40351d587109b95175f43aff81a1287e"]]
    meta = {"filename": "batches.meta", "key": "label_names",
            "md5": "5ff9c542aee3614f3951f8cda6e48888"}

    def __init__(self, root, train=True, transform=None, target_transform=None,
                 download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        if download:
            self.download()
        if self._missing():
            raise self._missing_error(download=False)

        data, self.targets = [], []
        for file_name, _ in (self.train_list if self.train else self.test_list):
            path = os.path.join(self.root, self.base_folder, file_name)
            entry = _load_pickle(path)
            images, labels = self._entry_arrays(entry, path)
            data.append(images)
            self.targets.extend(labels)
        # the rows are the channel planes one after the other (R, G, B, 32x32 each)
        self.data = np.vstack(data).reshape(-1, 3, 32, 32).transpose((0, 2, 3, 1))
        self._load_meta()

    def _entry_arrays(self, entry, path):
        """(images [n, 3072] uint8, labels list of int) of one unpickled batch, checked."""
        label_key = "labels" if "labels" in entry else "fine_labels"
        if "data" not in entry or label_key not in entry:
            raise DataError(f"{path}: a CIFAR batch is a dict with 'data' and 'labels' (or "
                            f"'fine_labels'); got keys {sorted(map(str, entry))}")
        images = np.asarray(entry["data"])
        if images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != 3 * 32 * 32:
            raise DataError(f"{path}: 'data' must be uint8 of shape [N, 3072] (3x32x32 "
                            f"images), got {images.dtype} of shape {list(images.shape)}")
        labels = [int(t) for t in entry[label_key]]
        if len(labels) != len(images):
            raise DataError(f"{path}: {len(labels)} labels for {len(images)} images")
        return images, labels

    def _load_meta(self):
        path = os.path.join(self.root, self.base_folder, self.meta["filename"])
        data = _load_pickle(path)
        if self.meta["key"] not in data:
            raise DataError(f"{path}: the meta file has no {self.meta['key']!r} entry (keys: "
                            f"{sorted(map(str, data))})")
        self.classes = list(data[self.meta["key"]])
        self.class_to_idx = {_class: i for i, _class in enumerate(self.classes)}

    def _needed(self):
        names = [name for name, _ in (self.train_list if self.train else self.test_list)]
        return [os.path.join(self.root, self.base_folder, name)
                for name in names + [self.meta["filename"]]]

    def _missing(self):
        return [path for path in self._needed() if not os.path.isfile(path)]

    def _missing_error(self, download):
        archive = os.path.join(self.root, self.filename)
        note = (f"(or put the archive {self.filename} at {archive} and pass download=True: "
                f"it is extracted there, as torchvision does after downloading it)")
        split = "training" if self.train else "test"
        return missing_files_error(f"{self.__class__.__name__} {split} set", self._missing(),
                                   download, where_from=self.url, note=note)

    def download(self):
        """Extract root/<filename> if the batches are missing and the archive is there
        (what torchvision does once it has downloaded it); no network is used."""
        if not self._missing():
            return
        archive = os.path.join(self.root, self.filename)
        if not os.path.isfile(archive):
            raise self._missing_error(download=True)
        with tarfile.open(archive, "r:gz") as tar:
            # the "data" filter refuses members that would land outside root
            if hasattr(tarfile, "data_filter"):
                tar.extractall(self.root, filter="data")
            else:  # pragma: no cover - python < 3.11.4
                tar.extractall(self.root)  # noqa: S202
        if self._missing():
            raise self._missing_error(download=True)

    def __getitem__(self, index):
        img, target = self.data[index], self.targets[index]
        img = image_from_array(img)  # a PIL image, as every torchvision dataset returns
        return transformed(self, img, target)

    def __len__(self):
        return len(self.data)

    def extra_repr(self):
        return f"Split: {'Train' if self.train is True else 'Test'}"


class CIFAR100(CIFAR10):
    """CIFAR-100 from root/cifar-100-python/{train, test, meta}: targets are the 100 fine
    labels, classes the fine label names."""

    base_folder = "cifar-100-python"
    url = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    filename = "cifar-100-python.tar.gz"
    tgz_md5 = "eb9058c3a382ffc7106e4002c42a8d85"
    train_list = [["train", "16019d7e3df5f24257cddd939b257f8d"]]
    test_list = [["test", "f0ef6b0ae62326f3e7ffdfab6717acfc"]]
    meta = {"filename": "meta", "key": "fine_label_names",
            "md5": "7973b15100ade9c7d40fb424638fde48"}
