"""tracecomp.vision.datasets against small files written in the real formats (IDX raw and
gzipped, CIFAR python pickles, a tree of PNGs) in torchvision's layout."""
import gzip
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest
from PIL import Image

import tracecomp
from tracecomp.errors import DataError
from tracecomp.utils.data import DataLoader
from tracecomp.vision import datasets
from tracecomp.vision.datasets import DatasetNotFoundError

RNG = np.random.default_rng(1234)


# -- writers of the real formats ---------------------------------------------------------
def write_idx(path, arr, gz=False):
    """An IDX file: 00 00 <dtype code> <ndim>, big-endian uint32 sizes, the data."""
    code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}[arr.dtype]
    buf = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    buf += arr.tobytes()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + (".gz" if gz else ""), "wb") as f:
        f.write(gzip.compress(buf) if gz else buf)


def make_mnist(root, folder="MNIST", n_train=5, n_test=3, gz=False, prefix=("train", "t10k"),
               names=None):
    """Writes the four files; returns {train: (images, labels)} of what was written."""
    out = {}
    for train, split, n in ((True, prefix[0], n_train), (False, prefix[1], n_test)):
        images = RNG.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = RNG.integers(0, 10, (n,), dtype=np.uint8)
        stem = names(split) if names else split
        raw = os.path.join(root, folder, "raw")
        write_idx(os.path.join(raw, f"{stem}-images-idx3-ubyte"), images, gz)
        write_idx(os.path.join(raw, f"{stem}-labels-idx1-ubyte"), labels, gz)
        out[train] = images, labels
    return out


def write_pickle(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def make_cifar10(root, n=2):
    """CIFAR-10's files with n images per batch; returns (train batches, test batch)."""
    folder = os.path.join(root, "cifar-10-batches-py")
    batches = []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": RNG.integers(0, 256, (n, 3072), dtype=np.uint8),
                 "labels": RNG.integers(0, 10, n).tolist(), "batch_label": name}
        write_pickle(os.path.join(folder, name), batch)
        batches.append(batch)
    write_pickle(os.path.join(folder, "batches.meta"),
                 {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog",
                                  "frog", "horse", "ship", "truck"], "num_vis": 3072})
    return batches[:5], batches[5]


def chw_to_hwc(row):
    return row.reshape(3, 32, 32).transpose(1, 2, 0)


def to_array(img):
    """A transform standing for ToTensor: the PIL image's pixels as a tracecomp tensor."""
    return tracecomp.from_numpy(np.array(img))


# -- MNIST family ------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [False, True])
def test_mnist_train_and_test(tmp_path, gz):
    written = make_mnist(tmp_path, gz=gz)
    for train in (True, False):
        ds = datasets.MNIST(tmp_path, train=train)
        images, labels = written[train]
        assert len(ds) == len(images)
        assert ds.data.dtype == tracecomp.uint8 and ds.targets.dtype == tracecomp.int64
        np.testing.assert_array_equal(ds.data.numpy(), images)
        np.testing.assert_array_equal(ds.targets.numpy(), labels)
        for i in range(len(ds)):
            img, target = ds[i]
            assert isinstance(img, Image.Image) and img.mode == "L" and img.size == (28, 28)
            np.testing.assert_array_equal(np.asarray(img), images[i])
            assert type(target) is int and target == labels[i]
        assert ds[-1][1] == labels[-1]


def test_mnist_str_root_with_tilde(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    make_mnist(tmp_path / "data")
    ds = datasets.MNIST("~/data", download=True)    # present files: download does nothing
    assert ds.root == os.path.join(str(tmp_path), "data") and len(ds) == 5


@pytest.mark.parametrize("cls, first_class", [("FashionMNIST", "T-shirt/top"), ("KMNIST", "o")])
def test_mnist_relatives_use_their_folder(tmp_path, cls, first_class):
    written = make_mnist(tmp_path, folder=cls, gz=True)
    ds = getattr(datasets, cls)(tmp_path, train=False)
    assert len(ds) == 3 and ds[2][1] == written[False][1][2]
    assert ds.classes[0] == first_class and len(ds.classes) == 10
    assert ds.class_to_idx[first_class] == 0
    with pytest.raises(DatasetNotFoundError):           # not MNIST's folder
        datasets.MNIST(tmp_path)


def test_emnist_split_and_gzip_subfolder(tmp_path):
    written = make_mnist(tmp_path, folder="EMNIST", prefix=("train", "test"),
                         names=lambda split: f"emnist-letters-{split}")
    ds = datasets.EMNIST(tmp_path, split="letters", train=True)
    assert ds.classes[:3] == ["N/A", "a", "b"] and len(ds.classes) == 27
    np.testing.assert_array_equal(ds.data.numpy(), written[True][0])
    assert ds.images_file == os.path.join(tmp_path, "EMNIST", "raw",
                                          "emnist-letters-train-images-idx3-ubyte")
    # the archive merely unzipped: raw/gzip/*.gz
    gz_dir = tmp_path / "e2" / "EMNIST" / "raw" / "gzip"
    images = RNG.integers(0, 256, (2, 28, 28), dtype=np.uint8)
    write_idx(str(gz_dir / "emnist-digits-test-images-idx3-ubyte"), images, gz=True)
    write_idx(str(gz_dir / "emnist-digits-test-labels-idx1-ubyte"),
              np.array([3, 9], np.uint8), gz=True)
    ds = datasets.EMNIST(tmp_path / "e2", "digits", train=False)
    assert ds.classes == list("0123456789") and [ds[i][1] for i in range(2)] == [3, 9]
    with pytest.raises(ValueError, match="Unknown value 'bogus' for argument split"):
        datasets.EMNIST(tmp_path, split="bogus")


@pytest.mark.parametrize("download", [False, True])
def test_mnist_missing_files_say_where(tmp_path, download):
    with pytest.raises(DatasetNotFoundError) as info:
        datasets.MNIST(tmp_path, download=download)
    err = info.value
    assert isinstance(err, RuntimeError) and isinstance(err, FileNotFoundError)
    msg = str(err)
    raw = os.path.join(str(tmp_path), "MNIST", "raw")
    assert os.path.join(raw, "train-images-idx3-ubyte") in msg
    assert os.path.join(raw, "train-labels-idx1-ubyte") in msg
    assert "t10k" not in msg and "does not download" in msg
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz" in msg
    # only the missing file is listed when the other one is there
    write_idx(os.path.join(raw, "train-images-idx3-ubyte"), np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(DatasetNotFoundError) as info:
        datasets.MNIST(tmp_path, download=download)
    assert "train-images" not in str(info.value) and "train-labels-idx1-ubyte" in str(info.value)
    assert not os.path.exists(os.path.join(raw, "train-labels-idx1-ubyte"))  # nothing made
    # old torchvision left only processed/*.pt, which we do not read: the error says so
    os.makedirs(os.path.join(tmp_path, "MNIST", "processed"))
    with pytest.raises(DatasetNotFoundError, match="processed is there"):
        datasets.MNIST(tmp_path, download=download)


def test_mnist_malformed_files(tmp_path):
    raw = os.path.join(tmp_path, "MNIST", "raw")
    write_idx(os.path.join(raw, "train-images-idx3-ubyte"), np.zeros((3, 28, 28), np.uint8))
    write_idx(os.path.join(raw, "train-labels-idx1-ubyte"), np.zeros(2, np.uint8))
    with pytest.raises(DataError, match="2 labels for 3 images"):
        datasets.MNIST(tmp_path)
    write_idx(os.path.join(raw, "train-labels-idx1-ubyte"), np.zeros(3, ">i4"))
    with pytest.raises(DataError, match="expected uint8 labels"):
        datasets.MNIST(tmp_path)
    with open(os.path.join(raw, "train-images-idx3-ubyte"), "wb") as f:
        f.write(b"\x00\x00\x08\x03\x00\x00\x00\x05")      # header cut short
    with pytest.raises(DataError, match="truncated IDX header"):
        datasets.MNIST(tmp_path)


def test_mnist_transforms_and_repr(tmp_path):
    written = make_mnist(tmp_path)
    ds = datasets.MNIST(tmp_path, transform=to_array, target_transform=lambda t: t + 100)
    img, target = ds[1]
    assert isinstance(img, tracecomp.Tensor) and tuple(img.shape) == (28, 28)
    np.testing.assert_array_equal(img.numpy(), written[True][0][1])
    assert target == written[True][1][1] + 100

    class Show:
        def __repr__(self):
            return "Show(\n  x\n)"

    ds = datasets.MNIST(tmp_path, train=False, transform=Show())
    assert repr(ds) == ("Dataset MNIST\n    Number of datapoints: 3\n"
                        f"    Root location: {tmp_path}\n    Split: Test\n"
                        "    StandardTransform\nTransform: Show(\n             x\n           )")
    with pytest.raises(ValueError, match="Only transforms or transform/target_transform"):
        datasets.VisionDataset(tmp_path, transforms=lambda x, y: (x, y), transform=to_array)


def test_mnist_subset_by_assigning_data(tmp_path):
    written = make_mnist(tmp_path)
    ds = datasets.MNIST(tmp_path)
    keep = ds.targets.numpy() == written[True][1][2]
    mask = tracecomp.from_numpy(keep)
    ds.data, ds.targets = ds.data[mask], ds.targets[mask]
    assert len(ds) == int(keep.sum()) and ds[0][1] == written[True][1][2]


def test_mnist_through_dataloader(tmp_path):
    written = make_mnist(tmp_path, n_train=7)
    ds = datasets.MNIST(tmp_path, transform=to_array)
    batches = list(DataLoader(ds, batch_size=4))
    assert [tuple(b[0].shape) for b in batches] == [(4, 28, 28), (3, 28, 28)]
    np.testing.assert_array_equal(batches[1][0].numpy(), written[True][0][4:])
    np.testing.assert_array_equal(batches[0][1].numpy(), written[True][1][:4])


def test_with_tracecomp_totensor(tmp_path):
    from tracecomp.vision import transforms
    written = make_mnist(tmp_path)
    img, _ = datasets.MNIST(tmp_path, transform=transforms.ToTensor())[0]
    assert tuple(img.shape) == (1, 28, 28) and img.dtype == tracecomp.float32
    np.testing.assert_allclose(img.numpy()[0], written[True][0][0] / 255, rtol=1e-6)


# -- CIFAR -------------------------------------------------------------------------------
def test_cifar10_train_and_test(tmp_path):
    train_batches, test_batch = make_cifar10(tmp_path)
    ds = datasets.CIFAR10(tmp_path, train=True)
    assert len(ds) == 10 and ds.data.shape == (10, 32, 32, 3) and ds.data.dtype == np.uint8
    assert ds.targets == sum((b["labels"] for b in train_batches), [])
    assert ds.classes[:2] == ["airplane", "automobile"] and ds.class_to_idx["truck"] == 9
    # batch 3's second image is item 5
    np.testing.assert_array_equal(ds.data[5], chw_to_hwc(train_batches[2]["data"][1]))
    img, target = ds[5]
    assert img.mode == "RGB" and img.size == (32, 32) and type(target) is int
    np.testing.assert_array_equal(np.asarray(img), chw_to_hwc(train_batches[2]["data"][1]))
    test = datasets.CIFAR10(tmp_path, train=False, target_transform=str)
    assert len(test) == 2 and test[1][1] == str(test_batch["labels"][1])
    assert "Split: Test" in repr(test)


def test_cifar100_fine_labels(tmp_path):
    folder = os.path.join(tmp_path, "cifar-100-python")
    data = RNG.integers(0, 256, (3, 3072), dtype=np.uint8)
    write_pickle(os.path.join(folder, "train"),
                 {"data": data, "fine_labels": [5, 99, 0], "coarse_labels": [1, 2, 3]})
    write_pickle(os.path.join(folder, "meta"), {"fine_label_names": [f"f{i}" for i in range(100)],
                                                "coarse_label_names": ["c"] * 20})
    ds = datasets.CIFAR100(tmp_path, transform=to_array)
    assert ds.targets == [5, 99, 0] and len(ds.classes) == 100 and ds.classes[99] == "f99"
    img, target = ds[1]
    assert target == 99
    np.testing.assert_array_equal(img.numpy(), chw_to_hwc(data[1]))
    with pytest.raises(DatasetNotFoundError, match="cifar-100-python/test"):
        datasets.CIFAR100(tmp_path, train=False)


@pytest.mark.parametrize("download", [False, True])
def test_cifar_missing_files_say_where(tmp_path, download):
    with pytest.raises(DatasetNotFoundError) as info:
        datasets.CIFAR10(tmp_path, train=False, download=download)
    msg = str(info.value)
    folder = os.path.join(str(tmp_path), "cifar-10-batches-py")
    assert os.path.join(folder, "test_batch") in msg and os.path.join(folder, "batches.meta") in msg
    assert "data_batch_1" not in msg and "does not download" in msg
    assert os.path.join(str(tmp_path), "cifar-10-python.tar.gz") in msg


def test_cifar_download_extracts_a_present_archive(tmp_path):
    src = tmp_path / "src"
    _, test_batch = make_cifar10(src)
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    with pytest.raises(DatasetNotFoundError):              # not extracted without download
        datasets.CIFAR10(tmp_path, train=False)
    ds = datasets.CIFAR10(tmp_path, train=False, download=True)
    assert ds.targets == test_batch["labels"]
    assert os.path.isfile(tmp_path / "cifar-10-batches-py" / "data_batch_5")


def test_cifar_malformed_batch(tmp_path):
    make_cifar10(tmp_path)
    path = os.path.join(tmp_path, "cifar-10-batches-py", "test_batch")
    write_pickle(path, {"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]})
    with pytest.raises(DataError, match=r"shape \[N, 3072\]"):
        datasets.CIFAR10(tmp_path, train=False)
    write_pickle(path, {"data": np.zeros((2, 3072), np.uint8)})
    with pytest.raises(DataError, match="'data' and 'labels'"):
        datasets.CIFAR10(tmp_path, train=False)
    with open(path, "wb") as f:
        f.write(b"not a pickle")
    with pytest.raises(DataError, match="not a CIFAR python pickle"):
        datasets.CIFAR10(tmp_path, train=False)


# -- folders -----------------------------------------------------------------------------
def make_tree(root, files):
    """Writes each {relative path: array or text}; images as their extension says."""
    for rel, content in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if isinstance(content, str):
            with open(path, "w") as f:
                f.write(content)
        else:
            Image.fromarray(content).save(path, format="PNG")


def test_image_folder(tmp_path):
    rgb = {k: RNG.integers(0, 256, (4, 5, 3), dtype=np.uint8) for k in "abcd"}
    gray = RNG.integers(0, 256, (4, 5), dtype=np.uint8)
    make_tree(tmp_path, {"dog/b.png": rgb["b"], "dog/a.png": rgb["a"],
                         "dog/deep/c.PNG": rgb["c"], "dog/notes.txt": "not an image",
                         "cat/g.png": gray, "ant/d.png": rgb["d"]})
    (tmp_path / "stray.png").write_bytes(b"")              # a file beside the class folders
    ds = datasets.ImageFolder(tmp_path, transform=to_array)
    assert ds.classes == ["ant", "cat", "dog"] and ds.class_to_idx == {"ant": 0, "cat": 1,
                                                                       "dog": 2}
    rel = [(os.path.relpath(p, tmp_path), t) for p, t in ds.samples]
    assert rel == [("ant/d.png", 0), ("cat/g.png", 1), ("dog/a.png", 2), ("dog/b.png", 2),
                   ("dog/deep/c.PNG", 2)]
    assert ds.targets == [0, 1, 2, 2, 2] and ds.imgs == ds.samples and len(ds) == 5
    expected = [rgb["d"], np.stack([gray] * 3, axis=-1), rgb["a"], rgb["b"], rgb["c"]]
    for i, want in enumerate(expected):
        img, target = ds[i]
        np.testing.assert_array_equal(img.numpy(), want)   # RGB even from a gray PNG
        assert target == ds.targets[i]
    assert repr(ds).startswith(f"Dataset ImageFolder\n    Number of datapoints: 5\n"
                               f"    Root location: {tmp_path}\n    StandardTransform\n")


def test_image_folder_errors_and_options(tmp_path):
    make_tree(tmp_path, {"a/x.png": np.zeros((2, 2), np.uint8), "b/y.txt": "text"})
    with pytest.raises(FileNotFoundError, match="Found no valid file for the classes b. "
                                                "Supported extensions are: .jpg"):
        datasets.ImageFolder(tmp_path)
    ds = datasets.ImageFolder(tmp_path, allow_empty=True)
    assert ds.classes == ["a", "b"] and ds.targets == [0]
    ds = datasets.ImageFolder(tmp_path, is_valid_file=lambda p: p.endswith("x.png"),
                                allow_empty=True)
    assert len(ds) == 1
    with pytest.raises(FileNotFoundError, match="Couldn't find any class folder"):
        datasets.ImageFolder(tmp_path / "a")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        datasets.ImageFolder(tmp_path / "nowhere")


def test_dataset_folder_custom_loader_and_classes(tmp_path):
    make_tree(tmp_path, {"x/1.txt": "one", "y/2.txt": "two", "y/3.dat": "three",
                         "z/4.txt": "four"})
    def read(path):
        with open(path) as f:
            return f.read()

    ds = datasets.DatasetFolder(tmp_path, loader=read, extensions=(".txt",))
    assert [ds[i] for i in range(len(ds))] == [("one", 0), ("two", 1), ("four", 2)]
    assert datasets.has_file_allowed_extension("A.TXT", ".txt")

    class OnlyXZ(datasets.DatasetFolder):
        def find_classes(self, directory):
            return ["x", "z"], {"x": 0, "z": 1}

    ds = OnlyXZ(tmp_path, loader=lambda p: p, extensions=".txt")
    assert ds.classes == ["x", "z"] and ds.targets == [0, 1]
    with pytest.raises(ValueError, match="cannot be None or not None"):
        datasets.DatasetFolder(tmp_path, loader=str)
    with pytest.raises(ValueError, match="class_to_idx parameter cannot be None"):
        datasets.DatasetFolder.make_dataset(tmp_path, None, extensions=".txt")


# -- FakeData and the rest ---------------------------------------------------------------
def test_fake_data():
    tracecomp.manual_seed(7)
    before = tracecomp.rand(3).numpy()
    tracecomp.manual_seed(7)
    ds = datasets.FakeData(size=4, image_size=(3, 6, 5), num_classes=3)
    first = [(np.asarray(img), t) for img, t in (ds[i] for i in range(4))]
    assert tracecomp.rand(3).numpy().tolist() == before.tolist()   # global state untouched
    img, target = ds[2]
    assert img.mode == "RGB" and img.size == (5, 6) and target in (0, 1, 2)
    assert np.array_equal(np.asarray(img), first[2][0]) and target == first[2][1]
    assert not np.array_equal(first[0][0], first[1][0])
    shifted = datasets.FakeData(size=4, image_size=(3, 6, 5), num_classes=3, random_offset=1)
    assert np.array_equal(np.asarray(shifted[1][0]), first[2][0])
    gray, _ = datasets.FakeData(size=1, image_size=(1, 2, 3), transform=to_array)[0]
    assert tuple(gray.shape) == (2, 3)
    with pytest.raises(IndexError, match="FakeData index out of range"):
        ds[4]
    assert len(ds) == 4 and repr(ds) == "Dataset FakeData\n    Number of datapoints: 4"


def test_datasets_concat_and_unsupported(tmp_path):
    make_mnist(tmp_path)
    both = datasets.MNIST(tmp_path) + datasets.MNIST(tmp_path, train=False)
    assert len(both) == 8
    with pytest.raises(NotImplementedError, match="torchvision.datasets.STL10 is not supported"):
        getattr(datasets, "STL10")  # noqa: B009 - the attribute access is what is tested
    with pytest.raises(AttributeError):
        getattr(datasets, "NoSuchThing")  # noqa: B009
