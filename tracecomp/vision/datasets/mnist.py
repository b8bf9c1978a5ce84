"""MNIST and its drop-in relatives (FashionMNIST, KMNIST, EMNIST) read from the IDX files in
torchvision's layout: root/<ClassName>/raw/train-images-idx3-ubyte (and -labels-idx1-ubyte,
t10k-* for the test set), raw or gzipped (name + ".gz"), as torchvision's download leaves them.

`.data` is a uint8 tensor [N, 28, 28] and `.targets` an int64 tensor [N], as torchvision's;
an item is (PIL image of mode "L", int). torchvision's processed/training.pt files (its old
cache) are not read: the raw files are always there beside them.
"""
import os
import string
import warnings

from ...creation import from_numpy
from ...errors import DataError
from ...user_code import user_stacklevel
from ...utils.data.idx import read_idx
from .vision import VisionDataset, image_from_array, missing_files_error, transformed


def _numpy(x):
    """x as a numpy array: `.data` is a tensor unless the user put an array there."""
    return x.numpy() if hasattr(x, "numpy") else x


def _read_images(path):
    images = read_idx(path)
    if images.dtype.name != "uint8" or images.ndim != 3:
        raise DataError(f"{path}: expected uint8 images of shape [N, rows, cols], got "
                        f"{images.dtype} of shape {list(images.shape)}")
    return images


def _read_labels(path, count):
    labels = read_idx(path)
    if labels.dtype.name != "uint8" or labels.ndim != 1:
        raise DataError(f"{path}: expected uint8 labels of shape [N], got {labels.dtype} of "
                        f"shape {list(labels.shape)}")
    if len(labels) != count:
        # torchvision would only fail on the first index past the shorter file
        raise DataError(f"{path}: {len(labels)} labels for {count} images (one per image "
                        f"expected)")
    return labels.astype("int64")


class MNIST(VisionDataset):
    """MNIST (http://yann.lecun.com/exdb/mnist/) from root/MNIST/raw/: train=True reads
    train-images-idx3-ubyte / train-labels-idx1-ubyte, train=False the t10k-* files. Each
    file may also be gzipped, named with ".gz" added.

    download=True does not download (see vision.py): files present are used, missing ones
    raise DatasetNotFoundError with the exact paths they must have."""

    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/",
               "http://yann.lecun.com/exdb/mnist/"]
    resources = [("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                 ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
                 ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
                 ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c")]
    training_file = "training.pt"
    test_file = "test.pt"
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five",
               "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root, train=True, transform=None, target_transform=None,
                 download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        if download:
            self.download()
        self.data, self.targets = self._load_data()

    # -- where the files are ------------------------------------------------------------
    @property
    def raw_folder(self):
        return os.path.join(self.root, self.__class__.__name__, "raw")

    @property
    def processed_folder(self):
        return os.path.join(self.root, self.__class__.__name__, "processed")

    def _stems(self):
        """(images file, labels file) names, without ".gz", in raw_folder."""
        split = "train" if self.train else "t10k"
        return f"{split}-images-idx3-ubyte", f"{split}-labels-idx1-ubyte"

    def _search_dirs(self):
        return [self.raw_folder]

    def _find(self, stem):
        """The path of `stem` or `stem`.gz, or None. The raw file wins: it is what
        torchvision reads, and the .gz beside it is the download it came from."""
        for folder in self._search_dirs():
            for name in (stem, stem + ".gz"):
                path = os.path.join(folder, name)
                if os.path.isfile(path):
                    return path
        return None

    def _check_exists(self):
        return all(self._find(stem) is not None for stem in self._stems())

    def _missing_error(self, download):
        missing = [f"{os.path.join(self.raw_folder, stem)}  (or {stem}.gz)"
                   for stem in self._stems() if self._find(stem) is None]
        split = "training" if self.train else "test"
        note = None
        if os.path.isdir(self.processed_folder):
            # old torchvision versions kept only these torch.save files
            note = (f"({self.processed_folder} is there: torchvision's cache of torch "
                    f"tensors, which tracecomp does not read; the raw files are needed)")
        return missing_files_error(f"{self.__class__.__name__} {split} set", missing, download,
                                   where_from=self._where_from(), note=note)

    def _where_from(self):
        names = [stem + ".gz" for stem in self._stems() if self._find(stem) is None]
        return " ".join(self.mirrors[0] + name for name in names)

    def download(self):
        """Check that the files are present: tracecomp does not download (no network)."""
        if not self._check_exists():
            raise self._missing_error(download=True)

    # -- loading --------------------------------------------------------------------------
    def _load_data(self):
        if not self._check_exists():
            raise self._missing_error(download=False)
        image_stem, label_stem = self._stems()
        images = _read_images(self._find(image_stem))
        labels = _read_labels(self._find(label_stem), len(images))
        return from_numpy(images), from_numpy(labels)

    def __getitem__(self, index):
        img, target = _numpy(self.data[index]), int(self.targets[index])
        # a PIL image, as every torchvision dataset returns, so transforms apply alike
        img = image_from_array(img)
        return transformed(self, img, target)

    def __len__(self):
        return len(self.data)

    @property
    def class_to_idx(self):
        return {_class: i for i, _class in enumerate(self.classes)}

    def extra_repr(self):
        return f"Split: {'Train' if self.train is True else 'Test'}"

    # torchvision's deprecated names, still met in older programs
    @property
    def train_labels(self):
        warnings.warn("train_labels has been renamed targets", stacklevel=user_stacklevel())
        return self.targets

    @property
    def test_labels(self):
        warnings.warn("test_labels has been renamed targets", stacklevel=user_stacklevel())
        return self.targets

    @property
    def train_data(self):
        warnings.warn("train_data has been renamed data", stacklevel=user_stacklevel())
        return self.data

    @property
    def test_data(self):
        warnings.warn("test_data has been renamed data", stacklevel=user_stacklevel())
        return self.data


class FashionMNIST(MNIST):
    """Fashion-MNIST (https://github.com/zalandoresearch/fashion-mnist) from
    root/FashionMNIST/raw/, with MNIST's file names."""

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                 ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
                 ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
                 ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310")]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]


class KMNIST(MNIST):
    """Kuzushiji-MNIST (https://github.com/rois-codh/kmnist) from root/KMNIST/raw/, with
    MNIST's file names."""

    mirrors = ["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"]
    resources = [("train-images-idx3-ubyte.gz", "bdb82020997e1d708af4cf47b453dcf7"),
                 ("train-labels-idx1-ubyte.gz", "e144d726b3acfaa3e44228e80efcd344"),
                 ("t10k-images-idx3-ubyte.gz", "5c965bf0a639b31b8f53240b1b52f4d7"),
                 ("t10k-labels-idx1-ubyte.gz", "7320c461ea6c1c855c0b718fb2a4b134")]
    classes = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]


def verify_str_arg(value, arg, valid_values):
    """torchvision.datasets.utils.verify_str_arg: value if it is one of valid_values, else
    torchvision's ValueError."""
    if not isinstance(value, str):
        raise ValueError(f"Expected type str for argument {arg}, but got type "
                         f"{type(value).__name__}.")
    if value not in valid_values:
        valid = ", ".join(f"'{v}'" for v in valid_values)
        raise ValueError(f"Unknown value '{value}' for argument {arg}. Valid values are "
                         f"{{{valid}}}.")
    return value


class EMNIST(MNIST):
    """EMNIST (https://www.nist.gov/itl/products-and-services/emnist-dataset) from
    root/EMNIST/raw/emnist-<split>-<train|test>-{images-idx3,labels-idx1}-ubyte[.gz].

    torchvision unpacks the gzip.zip archive's gzip/*.gz into raw/; files still in
    raw/gzip/ (the archive merely unzipped) are found too. Images are stored transposed in
    these files and are returned as stored, as torchvision does."""

    url = "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip"
    md5 = "58c8d27c78d21e728a6bc7b3cc06412e"
    splits = ("byclass", "bymerge", "balanced", "letters", "digits", "mnist")
    # the merged classes are the letters whose upper and lower case look alike
    _merged_classes = set("cijklmopsuvwxyz")
    _all_classes = set(string.digits + string.ascii_letters)
    classes_split_dict = {
        "byclass": sorted(_all_classes),
        "bymerge": sorted(_all_classes - _merged_classes),
        "balanced": sorted(_all_classes - _merged_classes),
        "letters": ["N/A"] + list(string.ascii_lowercase),
        "digits": list(string.digits),
        "mnist": list(string.digits),
    }

    def __init__(self, root, split, **kwargs):
        self.split = verify_str_arg(split, "split", self.splits)
        self.training_file = f"training_{split}.pt"
        self.test_file = f"test_{split}.pt"
        super().__init__(root, **kwargs)
        self.classes = self.classes_split_dict[self.split]

    @property
    def _file_prefix(self):
        return f"emnist-{self.split}-{'train' if self.train else 'test'}"

    @property
    def images_file(self):
        return os.path.join(self.raw_folder, f"{self._file_prefix}-images-idx3-ubyte")

    @property
    def labels_file(self):
        return os.path.join(self.raw_folder, f"{self._file_prefix}-labels-idx1-ubyte")

    def _stems(self):
        return (f"{self._file_prefix}-images-idx3-ubyte",
                f"{self._file_prefix}-labels-idx1-ubyte")

    def _search_dirs(self):
        return [self.raw_folder, os.path.join(self.raw_folder, "gzip")]

    def _where_from(self):
        return f"{self.url} (unzip it and put gzip/*.gz in {self.raw_folder})"
