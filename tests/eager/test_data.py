"""tracecomp.utils.data against torch.utils.data: datasets, samplers, DataLoader batching and
shuffling, default_collate, random_split, and the IDX/MNIST readers (on files written here)."""
import gzip
import struct
import warnings
from collections import OrderedDict, namedtuple

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import tracecomp as tc
from tracecomp.errors import DataError, ShapeError
from tracecomp.utils.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    default_collate,
    load_mnist,
    random_split,
    read_idx,
)
from tracecomp.utils.data.idx import IDX_DTYPES, parse_idx

from helpers import assert_close, to_torch


def _pair(n=10):
    x = tc.arange(n * 3).reshape(n, 3).float()
    y = tc.arange(n)
    return x, y


def _check_same(got, want, what="batch"):
    """Structure and values of a tracecomp batch equal torch's."""
    if isinstance(want, torch.Tensor):
        assert isinstance(got, tc.Tensor), f"{what}: tracecomp={type(got)} | torch=Tensor"
        assert_close(got, want, what=what)
    elif isinstance(want, (list, tuple)):
        assert type(got) is type(want), f"{what}: tracecomp={type(got)} | torch={type(want)}"
        assert len(got) == len(want)
        for i, (g, w) in enumerate(zip(got, want)):
            _check_same(g, w, f"{what}[{i}]")
    elif isinstance(want, dict):
        assert type(got) is type(want) and list(got) == list(want), f"{what}: keys differ"
        for k in want:
            _check_same(got[k], want[k], f"{what}[{k!r}]")
    else:
        assert got == want, f"{what}: tracecomp={got!r} | torch={want!r}"


# --- datasets ----------------------------------------------------------------------------
def test_tensor_dataset_items_and_len():
    x, y = _pair()
    ds = TensorDataset(x, y)
    assert len(ds) == 10
    a, b = ds[3]
    assert a.tolist() == [9.0, 10.0, 11.0] and b.item() == 3


def test_tensor_dataset_size_mismatch():
    with pytest.raises(ShapeError, match=r"Size mismatch between tensors.*\[4, 3\]"):
        TensorDataset(tc.zeros(4, 2), tc.zeros(3))


def test_subset_concat_and_add():
    x, y = _pair()
    ds = TensorDataset(x, y)
    sub = Subset(ds, [7, 2, 5])
    assert len(sub) == 3 and sub[1][1].item() == 2
    cat = Subset(ds, [0, 1]) + Subset(ds, [9])
    assert isinstance(cat, ConcatDataset) and len(cat) == 3
    assert [cat[i][1].item() for i in range(3)] == [0, 1, 9]
    assert cat[-1][1].item() == 9 and cat[-3][1].item() == 0
    with pytest.raises(ValueError, match="should not exceed dataset length"):
        cat[-4]
    with pytest.raises(ValueError, match="empty iterable"):
        ConcatDataset([])


def test_base_dataset_requires_getitem():
    with pytest.raises(NotImplementedError):
        Dataset()[0]


@pytest.mark.parametrize("lengths", [[0.5, 0.3, 0.2], [0.33, 0.33, 0.34], [0.1] * 10,
                                     [1.0], "ints"])
@pytest.mark.parametrize("n", [13, 7])
def test_random_split_sizes_and_disjointness(lengths, n):
    """Sizes follow torch's rounding rule; the parts cover the dataset exactly once."""
    lengths = [n - 5, 2, 3] if lengths == "ints" else lengths
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # zero-length splits warn, in both libraries
        parts = random_split(list(range(n)), lengths, generator=tc.Generator().manual_seed(0))
        want = tud.random_split(list(range(n)), lengths, generator=torch.Generator())
    assert [len(p) for p in parts] == [len(w) for w in want]
    seen = [p[i] for p in parts for i in range(len(p))]
    assert sorted(seen) == list(range(n))


def test_random_split_warns_on_empty_split():
    with pytest.warns(UserWarning) as record:
        random_split(range(7), [0.1] * 10)
    assert [str(w.message) for w in record] == [
        f"Length of split at index {i} is 0. This might result in an empty dataset."
        for i in (7, 8, 9)]


def test_random_split_errors_and_determinism():
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(range(10), [3, 3])
    with pytest.raises(ValueError, match="Fraction at index 1 is not between 0 and 1"):
        random_split(range(10), [0.5, 1.5, -1.0])
    a = random_split(range(20), [0.5, 0.5], generator=tc.Generator().manual_seed(3))
    b = random_split(range(20), [0.5, 0.5], generator=tc.Generator().manual_seed(3))
    c = random_split(range(20), [0.5, 0.5], generator=tc.Generator().manual_seed(4))
    assert a[0].indices == b[0].indices and a[0].indices != c[0].indices


# --- samplers ----------------------------------------------------------------------------
@pytest.mark.parametrize("n,bs,drop", [(10, 3, False), (10, 3, True), (9, 3, True), (2, 5, False)])
def test_batch_sampler_matches_torch(n, bs, drop):
    got = list(BatchSampler(SequentialSampler(range(n)), bs, drop))
    want = list(tud.BatchSampler(tud.SequentialSampler(range(n)), bs, drop))
    assert got == want
    assert len(BatchSampler(SequentialSampler(range(n)), bs, drop)) == len(want)


def test_sampler_argument_errors():
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean value"):
        BatchSampler(range(3), 2, 1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean value"):
        RandomSampler(range(3), replacement=1)


def test_random_sampler_permutations_and_replacement():
    g = tc.Generator().manual_seed(0)
    assert sorted(RandomSampler(range(7), generator=g)) == list(range(7))
    drawn = list(RandomSampler(range(5), num_samples=12, generator=g))
    assert len(drawn) == 12 and sorted(drawn[:10]) == sorted(list(range(5)) * 2)
    repl = list(RandomSampler(range(3), replacement=True, num_samples=50, generator=g))
    assert len(repl) == 50 and set(repl) <= {0, 1, 2} and len(set(repl)) == 3
    sub = list(SubsetRandomSampler([10, 20, 30], generator=g))
    assert sorted(sub) == [10, 20, 30]


def test_random_sampler_default_generator_follows_manual_seed():
    tc.manual_seed(5)
    a = [list(RandomSampler(range(20))) for _ in range(2)]
    tc.manual_seed(5)
    b = [list(RandomSampler(range(20))) for _ in range(2)]
    assert a == b and a[0] != a[1]


# --- DataLoader --------------------------------------------------------------------------
@pytest.mark.parametrize("bs,drop", [(3, False), (3, True), (5, False), (1, False), (20, False)])
def test_loader_batches_match_torch(bs, drop):
    x, y = _pair()
    got = list(DataLoader(TensorDataset(x, y), batch_size=bs, drop_last=drop))
    want = list(tud.DataLoader(tud.TensorDataset(to_torch(x), to_torch(y)), batch_size=bs,
                               drop_last=drop))
    assert len(DataLoader(TensorDataset(x, y), batch_size=bs, drop_last=drop)) == len(want)
    _check_same(got, want)


def test_fast_path_equals_collated_samples():
    """The TensorDataset fast path gives what fetching + default_collate gives, also
    through Subsets, and gradients flow through it like through stack."""
    x, y = _pair(12)
    x.requires_grad_(True)
    ds = Subset(Subset(TensorDataset(x, y), list(range(11, -1, -1))), [0, 3, 5, 7, 9, -1])
    fast = list(DataLoader(ds, batch_size=4))
    slow = list(DataLoader(ds, batch_size=4, collate_fn=lambda b: default_collate(b)))
    assert isinstance(fast[0], list)
    for f, s in zip(fast, slow):
        for a, b in zip(f, s):
            assert a.dtype == b.dtype and a.tolist() == b.tolist()
    fast[0][0].sum().backward()
    assert x.grad[:, 0].tolist() == [0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0, 1]


Point = namedtuple("Point", "a b")


class _Samples(Dataset):
    """Samples of several Python/numpy kinds, one kind per dataset."""

    def __init__(self, make, n=5):
        self.make, self.n = make, n

    def __getitem__(self, i):
        return self.make(i)

    def __len__(self):
        return self.n


_KINDS = {
    "floats": lambda i: i * 0.5,
    "ints": lambda i: i,
    "bools": lambda i: i % 2 == 0,
    "strings": lambda i: f"s{i}",
    "numpy": lambda i: np.full((2, 2), i, dtype=np.float32),
    "numpy_scalar": lambda i: np.float32(i),
    "tuple": lambda i: (i, i * 1.5, f"n{i}"),
    "list": lambda i: [i, 2 * i],
    "dict": lambda i: {"x": np.arange(3) * i, "y": i, "name": str(i)},
    "odict": lambda i: OrderedDict([("b", i), ("a", [i, i])]),
    "namedtuple": lambda i: Point(i, float(i)),
}


@pytest.mark.parametrize("kind", list(_KINDS))
def test_default_collate_matches_torch(kind):
    got = list(DataLoader(_Samples(_KINDS[kind]), batch_size=2))
    want = list(tud.DataLoader(_TorchSamples(_KINDS[kind]), batch_size=2))
    _check_same(got, want)


class _TorchSamples(tud.Dataset):
    def __init__(self, make, n=5):
        self.make, self.n = make, n

    def __getitem__(self, i):
        return self.make(i)

    def __len__(self):
        return self.n


def test_default_collate_of_tensors_and_errors():
    got = default_collate([tc.tensor([1.0, 2.0]), tc.tensor([3.0, 4.0])])
    assert got.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(ShapeError, match="stack expects each tensor to be equal size"):
        default_collate([tc.zeros(2), tc.zeros(3)])
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors"):
        default_collate([object(), object()])


def test_batch_size_none_converts_samples():
    out = list(DataLoader(_Samples(_KINDS["numpy"], 3), batch_size=None))
    assert len(out) == 3 and isinstance(out[0], tc.Tensor) and out[2].shape == (2, 2)
    assert len(DataLoader(_Samples(_KINDS["numpy"], 3), batch_size=None)) == 3


def _orders(loader, epochs=2):
    return [[b[1].tolist() for b in loader] for _ in range(epochs)]


def test_shuffle_generator_determinism_and_epoch_reshuffle():
    ds = TensorDataset(*_pair(50))

    def loader(seed, **kw):
        return DataLoader(ds, batch_size=8, shuffle=True,
                          generator=tc.Generator().manual_seed(seed), **kw)
    a, b, c = _orders(loader(1)), _orders(loader(1)), _orders(loader(2))
    assert a == b                      # same seed, same orders, epoch after epoch
    assert a[0] != c[0]                # different seed, different order
    assert a[0] != a[1]                # every epoch reshuffles
    assert sorted(i for batch in a[0] for i in batch) == list(range(50))
    # the slow path (custom collate) draws the same order from the same seed
    slow = _orders(loader(1, collate_fn=lambda s: default_collate(s)))
    assert slow == a


def test_shuffle_default_generator_follows_manual_seed():
    ds = TensorDataset(*_pair(30))
    tc.manual_seed(0)
    a = _orders(DataLoader(ds, batch_size=7, shuffle=True))
    tc.manual_seed(0)
    b = _orders(DataLoader(ds, batch_size=7, shuffle=True))
    assert a == b and a[0] != a[1]


def test_loader_with_samplers_and_workers():
    ds = TensorDataset(*_pair(10))
    bs = BatchSampler(SequentialSampler(ds), 4, False)
    assert [b[1].tolist() for b in DataLoader(ds, batch_sampler=bs)] == \
        [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    workers = DataLoader(ds, batch_size=3, num_workers=2, collate_fn=lambda s: len(s))
    assert list(workers) == [3, 3, 3, 1]
    sampler = SubsetRandomSampler([1, 3, 5], generator=tc.Generator().manual_seed(0))
    seen = [i for b in DataLoader(ds, sampler=sampler, batch_size=2) for i in b[1].tolist()]
    assert sorted(seen) == [1, 3, 5]


def test_loader_argument_errors():
    ds = TensorDataset(*_pair(4))
    sampler = SequentialSampler(ds)
    cases = [({"sampler": sampler, "shuffle": True}, "mutually exclusive with shuffle"),
             ({"batch_sampler": BatchSampler(sampler, 2, False), "batch_size": 2},
              "batch_sampler option is mutually exclusive"),
             ({"batch_size": None, "drop_last": True}, "batch_size=None option disables"),
             ({"num_workers": -1}, "num_workers option should be non-negative")]
    for kwargs, msg in cases:
        with pytest.raises(ValueError, match=msg):
            DataLoader(ds, **kwargs)
        with pytest.raises(ValueError, match=msg):
            tud.DataLoader(tud.TensorDataset(torch.zeros(4)), **{
                k: (tud.BatchSampler(tud.SequentialSampler(range(4)), 2, False)
                    if k == "batch_sampler" else tud.SequentialSampler(range(4))
                    if k == "sampler" else v) for k, v in kwargs.items()})


# --- IDX files ---------------------------------------------------------------------------
_IDX_CODES = {np.dtype(v[0]).newbyteorder("="): k for k, v in IDX_DTYPES.items()}


def write_idx(path, arr, gz=False, code=None):
    """A real IDX file: magic 00 00 <code> <ndim>, big-endian u32 dims, big-endian data."""
    arr = np.asarray(arr)
    code = _IDX_CODES[arr.dtype] if code is None else code
    raw = struct.pack(">BBBB", 0, 0, code, arr.ndim) + \
        struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(raw)
    return raw


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, dtype, gz):
    rng = np.random.default_rng(0)
    arr = (rng.standard_normal((4, 3, 5)) * 100).astype(dtype)
    path = tmp_path / ("a.idx" + (".gz" if gz else ""))
    write_idx(path, arr, gz=gz)
    got = read_idx(path)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative and got.flags.writeable
    np.testing.assert_array_equal(got, arr)


def test_idx_one_dim_and_gzip_detected_by_content(tmp_path):
    path = tmp_path / "labels"                   # gzipped, but no .gz suffix
    write_idx(path, np.arange(7, dtype=np.uint8), gz=True)
    np.testing.assert_array_equal(read_idx(path), np.arange(7))


def _idx_bytes(arr):
    return struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + \
        struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


_GOOD = _idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))


@pytest.mark.parametrize("buf,msg", [
    (b"\x01\x00\x08\x01" + _GOOD[4:], r"bad magic number 01 00 08 01"),
    (b"\x00\x00\x07" + _GOOD[3:], r"unknown IDX dtype code 0x07.*0x08 unsigned byte"),
    (b"\x00\x00", r"truncated IDX header.*at least 4 bytes.*got 2"),
    (_GOOD[:10], r"truncated IDX header: 3 dimensions need 16 header bytes, got 10"),
    (_GOOD[:-5], (r"truncated IDX data: shape \[2, 3, 4\] of unsigned byte needs 24 bytes, "
                  r"got 19")),
    (_GOOD + b"xyz", r"3 bytes of trailing garbage.*needs 24 bytes, got 27"),
])
def test_idx_errors(tmp_path, buf, msg):
    path = tmp_path / "bad"
    path.write_bytes(buf)
    with pytest.raises(DataError, match=msg) as e:
        read_idx(path)
    assert str(path) in str(e.value)
    with pytest.raises(DataError, match=msg):
        parse_idx(buf)


def test_idx_corrupt_gzip(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(_GOOD)[:-6])
    with pytest.raises(DataError, match="corrupt gzip data"):
        read_idx(path)


def test_load_mnist(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 6, dtype=np.uint8)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_idx(raw / "t10k-images-idx3-ubyte.gz", images, gz=True)
    write_idx(raw / "t10k-labels-idx1-ubyte", labels)
    x, y = load_mnist(tmp_path, train=False)
    assert x.dtype == tc.uint8 and x.shape == (6, 28, 28) and y.dtype == tc.int64
    np.testing.assert_array_equal(x.numpy(), images)
    np.testing.assert_array_equal(y.numpy(), labels)
    with pytest.raises(DataError, match="missing train-images-idx3-ubyte, "
                                        "train-labels-idx1-ubyte.*Expected files"):
        load_mnist(tmp_path, train=True)
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels[:5])
    with pytest.raises(DataError, match="expected 6 labels"):
        load_mnist(tmp_path)
