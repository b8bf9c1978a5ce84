"""tracecomp.vision.datasets.CelebA against small files written in CelebA's own layout (the
aligned JPEGs and the five space-separated lists, as torchvision reads them)."""
import numpy as np
import pytest
from PIL import Image

import tracecomp
from tracecomp.utils.data import DataLoader, Subset
from tracecomp.vision import datasets, transforms
from tracecomp.vision.datasets import DatasetNotFoundError

NAMES = ["000001.jpg", "000002.jpg", "000003.jpg", "000004.jpg", "000005.jpg"]
PARTS = [0, 0, 1, 2, 0]
RNG = np.random.default_rng(5)


def make_celeba(root):
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    for k, name in enumerate(NAMES):
        Image.new("RGB", (17, 21), (10 * k, 0, 0)).save(folder / "img_align_celeba" / name)
    attr = RNG.choice([-1, 1], (len(NAMES), 40))
    ident = RNG.integers(1, 100, len(NAMES))
    bbox = RNG.integers(0, 50, (len(NAMES), 4))
    marks = RNG.integers(0, 50, (len(NAMES), 10))

    def write(file, values, columns=None):
        lines = [str(len(NAMES)), " ".join(columns)] if columns else []
        lines += [f"{n} " + "  ".join(str(v) for v in np.atleast_1d(row))   # padded, as CelebA's
                  for n, row in zip(NAMES, values)]
        (folder / file).write_text("\n".join(lines) + "\n")
    write("list_eval_partition.txt", PARTS)
    write("identity_CelebA.txt", ident)
    write("list_attr_celeba.txt", attr, [f"attr_{k}" for k in range(40)])
    write("list_bbox_celeba.txt", bbox, ["image_id", "x_1", "y_1", "width", "height"])
    write("list_landmarks_align_celeba.txt", marks, [f"m{k}" for k in range(10)])
    return attr, ident, bbox, marks


@pytest.mark.parametrize("split,rows", [("train", [0, 1, 4]), ("valid", [2]), ("test", [3]),
                                        ("all", [0, 1, 2, 3, 4])])
def test_celeba_reads_torchvisions_layout(tmp_path, split, rows):
    attr, ident, bbox, marks = make_celeba(tmp_path)
    ds = datasets.CelebA(str(tmp_path), split=split, target_type=["attr", "identity", "bbox",
                                                                  "landmarks"])
    assert len(ds) == len(rows) and ds.filename == [NAMES[r] for r in rows]
    assert ds.attr_names == [f"attr_{k}" for k in range(40)]
    img, (a, i, b, m) = ds[0]
    assert img.mode == "RGB" and img.size == (17, 21)
    assert a.dtype == tracecomp.int64 and a.tolist() == ((attr[rows[0]] + 1) // 2).tolist()
    assert i.shape == () and i.item() == ident[rows[0]]
    assert b.tolist() == bbox[rows[0]].tolist() and m.tolist() == marks[rows[0]].tolist()


def test_celeba_smile_labels_through_transforms_and_a_loader(tmp_path):
    """The book's smile classifier: attr[18] as the label, a transformed batch."""
    attr = make_celeba(tmp_path)[0]
    ds = datasets.CelebA(tmp_path, split="train", target_type="attr",
                         transform=transforms.Compose([transforms.CenterCrop([16, 16]),
                                                       transforms.ToTensor()]),
                         target_transform=lambda a: a[18])
    x, y = next(iter(DataLoader(Subset(ds, tracecomp.arange(3)), batch_size=3)))
    assert x.shape == (3, 3, 16, 16)
    assert y.tolist() == [(attr[r, 18] + 1) // 2 for r in (0, 1, 4)]
    img, target = datasets.CelebA(tmp_path, target_type=[])[0]
    assert target is None


def test_celeba_names_what_is_missing_and_refuses_bad_arguments(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="list_attr_celeba.txt"):
        datasets.CelebA(tmp_path)
    make_celeba(tmp_path)
    with pytest.raises(ValueError, match="Unknown value 'val' for argument split"):
        datasets.CelebA(tmp_path, split="val")
    with pytest.raises(ValueError, match="Unknown value 'smile' for argument target_type"):
        datasets.CelebA(tmp_path, target_type="smile")
    with pytest.raises(RuntimeError, match="target_transform is specified but target_type"):
        datasets.CelebA(tmp_path, target_type=[], target_transform=lambda t: t)
