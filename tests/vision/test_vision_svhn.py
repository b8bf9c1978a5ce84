"""tracecomp.vision.datasets.SVHN against small .mat files written with scipy.io.savemat in
SVHN's own layout (X: uint8 [32, 32, 3, N], y: [N, 1] with the digit 0 labelled 10)."""
import numpy as np
import pytest
import scipy.io as sio

import tracecomp
from tracecomp.errors import DataError
from tracecomp.utils.data import DataLoader
from tracecomp.vision import datasets, transforms
from tracecomp.vision.datasets import DatasetNotFoundError

RNG = np.random.default_rng(3)


def make_svhn(root, split="train", n=4):
    x = RNG.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
    y = np.array([[10], [1], [9], [10], [5]][:n], dtype=np.uint8)
    sio.savemat(str(root / f"{split}_32x32.mat"), {"X": x, "y": y})
    return x, y[:, 0]


@pytest.mark.parametrize("split", ["train", "test", "extra"])
def test_svhn_reads_torchvisions_layout(tmp_path, split):
    x, y = make_svhn(tmp_path, split)
    ds = datasets.SVHN(str(tmp_path), split=split)
    assert len(ds) == 4 and ds.split == split and ds.filename == f"{split}_32x32.mat"
    assert ds.data.dtype == np.uint8 and ds.data.shape == (4, 3, 32, 32)
    assert ds.labels.dtype == np.int64 and ds.labels.tolist() == [0, 1, 9, 0]  # 10 -> 0
    img, target = ds[2]
    assert img.mode == "RGB" and img.size == (32, 32)
    assert type(target) is int and target == 9
    np.testing.assert_array_equal(np.array(img), x[..., 2])  # the pixels as stored


def test_svhn_transforms_repr_and_loader(tmp_path):
    make_svhn(tmp_path, "test")
    ds = datasets.SVHN(tmp_path, split="test", transform=transforms.ToTensor(),
                       target_transform=lambda t: t + 100)
    img, target = ds[0]
    assert tuple(img.shape) == (3, 32, 32) and img.dtype == tracecomp.float32
    assert target == 100
    assert repr(ds).splitlines()[:4] == ["Dataset SVHN", "    Number of datapoints: 4",
                                         f"    Root location: {tmp_path}", "    Split: test"]
    images, targets = next(iter(DataLoader(ds, batch_size=4)))
    assert tuple(images.shape) == (4, 3, 32, 32) and targets.tolist() == [100, 101, 109, 100]


def test_svhn_missing_file_bad_split_and_bad_file(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        datasets.SVHN(tmp_path, split="extra", download=True)
    assert str(tmp_path / "extra_32x32.mat") in str(err.value)
    assert isinstance(err.value, RuntimeError)  # as torchvision's "Dataset not found"
    with pytest.raises(ValueError, match="split"):
        datasets.SVHN(tmp_path, split="valid")
    sio.savemat(str(tmp_path / "train_32x32.mat"), {"X": np.zeros((32, 32, 3, 2), np.uint8)})
    with pytest.raises(DataError, match="'X' and 'y'"):
        datasets.SVHN(tmp_path)
