"""tracecomp.utils.data against torch.utils.data, beyond test_data.py: iterable, chained and
stacked datasets, WeightedRandomSampler and the other samplers' finer points, collate and
convert on nested samples (and torch's extensible `collate`), every DataLoader argument's
checks and warnings, and the import paths programs use. Worker processes are tested in
test_data_workers.py."""
import collections
import pickle
import warnings
from collections import OrderedDict, namedtuple

import numpy as np
import pytest
import torch
import torch.utils.data as tud
from torch.utils.data._utils.collate import collate as torch_collate
from torch.utils.data._utils.collate import default_collate_fn_map as torch_map

import tracecomp as tc
import tracecomp.utils.data as tcd
from tracecomp.utils.data._utils.collate import collate, default_collate_fn_map

from helpers import assert_close


def same(got, want, what="batch"):
    """Structure, types and values of a tracecomp result equal torch's."""
    if isinstance(want, torch.Tensor):
        assert isinstance(got, tc.Tensor), f"{what}: tracecomp={type(got)} | torch=Tensor"
        assert_close(got, want, what=what)
    elif isinstance(want, (list, tuple)):
        assert type(got).__name__ == type(want).__name__, \
            f"{what}: tracecomp={type(got)} | torch={type(want)}"
        assert len(got) == len(want), f"{what}: len tracecomp={len(got)} | torch={len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            same(g, w, f"{what}[{i}]")
    elif isinstance(want, dict):
        assert type(got) is type(want) and list(got) == list(want), f"{what}: keys differ"
        for k in want:
            same(got[k], want[k], f"{what}[{k!r}]")
    elif isinstance(want, np.ndarray):
        np.testing.assert_array_equal(got, want)
    else:
        assert got == want, f"{what}: tracecomp={got!r} | torch={want!r}"


def raises_like_torch(tc_call, torch_call):
    """Both calls raise the same exception type with the same message."""
    with pytest.raises(Exception) as want:
        torch_call()
    with pytest.raises(type(want.value)) as got:
        tc_call()
    assert str(got.value).startswith(str(want.value)), \
        f"tracecomp={got.value} | torch={want.value}"


def warnings_of(call):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        out = call()
    return out, [(w.category, str(w.message)) for w in record]


# --- iterable datasets -------------------------------------------------------------------
def _range_stream(lib, start, end):
    class Stream(lib.utils.data.IterableDataset):
        def __iter__(self):
            return iter(range(start, end))

        def __len__(self):
            return end - start
    return Stream()


@pytest.mark.parametrize("kwargs", [{}, {"batch_size": 3}, {"batch_size": 3, "drop_last": True},
                                    {"batch_size": None}, {"batch_size": 7},
                                    {"batch_size": 2, "collate_fn": lambda b: sum(b)}])
def test_iterable_dataset_loader_matches_torch(kwargs):
    got = list(tcd.DataLoader(_range_stream(tc, 3, 10), **kwargs))
    want = list(tud.DataLoader(_range_stream(torch, 3, 10), **kwargs))
    same(got, want)
    assert len(tcd.DataLoader(_range_stream(tc, 3, 10), **kwargs)) == \
        len(tud.DataLoader(_range_stream(torch, 3, 10), **kwargs))


def test_iterable_dataset_is_abstract_and_chains():
    raises_like_torch(tcd.IterableDataset, tud.IterableDataset)
    chained = _range_stream(tc, 0, 3) + _range_stream(tc, 10, 12)
    assert isinstance(chained, tcd.ChainDataset)
    assert list(chained) == [0, 1, 2, 10, 11] and len(chained) == 5
    bad = tcd.ChainDataset([_range_stream(tc, 0, 2), [5, 6]])
    with pytest.raises(AssertionError, match="ChainDataset only supports IterableDataset"):
        list(bad)
    raises_like_torch(lambda: tcd.ConcatDataset([_range_stream(tc, 0, 2)]),
                      lambda: tud.ConcatDataset([_range_stream(torch, 0, 2)]))


def test_iterable_loader_len_warns_when_exceeded():
    class Liar(tcd.IterableDataset):
        def __iter__(self):
            return iter(range(5))

        def __len__(self):
            return 3
    loader = tcd.DataLoader(Liar())
    assert len(loader) == 3
    out, caught = warnings_of(lambda: list(loader))
    assert len(out) == 5
    assert [m for _, m in caught][0].startswith("Length of IterableDataset") and \
        "was reported to be 3(when accessing len(dataloader)), but 4 samples have been " \
        "fetched." in caught[0][1]


def test_iterable_loader_argument_errors_match_torch():
    for kwargs in ({"shuffle": True}, {"sampler": [1]}, {"batch_sampler": [[1]]}):
        raises_like_torch(
            lambda kwargs=kwargs: tcd.DataLoader(_range_stream(tc, 0, 3), **kwargs),
            lambda kwargs=kwargs: tud.DataLoader(_range_stream(torch, 0, 3), **kwargs))
    raises_like_torch(lambda: len(tcd.DataLoader(_FakeStream(tc)())),
                      lambda: len(tud.DataLoader(_FakeStream(torch)())))


def _FakeStream(lib):      # noqa: N802 - a class factory
    class NoLen(lib.utils.data.IterableDataset):
        def __iter__(self):
            return iter(())
    return NoLen


# --- map-style datasets ------------------------------------------------------------------
def test_stack_dataset_tuple_and_dict_match_torch():
    a, b = np.arange(6.0).reshape(3, 2), np.arange(3)
    got_t = tcd.StackDataset(tcd.TensorDataset(tc.tensor(a)), list(b))
    want_t = tud.StackDataset(tud.TensorDataset(torch.tensor(a)), list(b))
    same([got_t[i] for i in range(3)], [want_t[i] for i in range(3)])
    same(got_t.__getitems__([2, 0]), want_t.__getitems__([2, 0]))
    got_d = tcd.StackDataset(x=tcd.TensorDataset(tc.tensor(a)), y=list(b))
    want_d = tud.StackDataset(x=tud.TensorDataset(torch.tensor(a)), y=list(b))
    same(got_d[1], want_d[1])
    same(got_d.__getitems__([1, 2]), want_d.__getitems__([1, 2]))
    same(list(tcd.DataLoader(got_d, batch_size=2)), list(tud.DataLoader(want_d, batch_size=2)))
    assert len(got_d) == 3
    for args, kwargs in (((), {}), (([1],), {"y": [1]}), (([1], [1, 2]), {}),
                         ((), {"x": [1], "y": [1, 2]})):
        raises_like_torch(lambda args=args, kwargs=kwargs: tcd.StackDataset(*args, **kwargs),
                          lambda args=args, kwargs=kwargs: tud.StackDataset(*args, **kwargs))


def test_subset_getitems_and_subclass_rule():
    ds = tcd.Subset(tcd.StackDataset(list(range(10)), list(range(10, 20))), [9, 1, 4])
    assert ds.__getitems__([0, 2]) == [(9, 19), (4, 14)]

    def doubled(lib):
        class Doubled(lib.utils.data.Subset):
            def __getitem__(self, i):
                return 2 * super().__getitem__(i)
        return Doubled
    raises_like_torch(lambda: doubled(tc)(list(range(5)), [1]),
                      lambda: doubled(torch)(list(range(5)), [1]))


def test_dataset_errors_are_torch_assertions():
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        tcd.TensorDataset(tc.zeros(4), tc.zeros(3))
    with pytest.raises(AssertionError, match="datasets should not be an empty iterable"):
        tcd.ConcatDataset([])
    raises_like_torch(lambda: tcd.Dataset()[0], lambda: tud.Dataset()[0])
    cat = tcd.ConcatDataset([[1, 2], [3]])
    with pytest.warns(FutureWarning, match="renamed to `cumulative_sizes`"):
        assert cat.cummulative_sizes == [2, 3]
    assert tcd.ConcatDataset.cumsum([[1, 2], [3]]) == tud.ConcatDataset.cumsum([[1, 2], [3]])


def test_classes_are_generic_as_torch():
    class Pairs(tcd.Dataset[tuple]):
        def __getitem__(self, i):
            return i, -i

        def __len__(self):
            return 2
    assert list(tcd.DataLoader(Pairs(), batch_size=None)) == [[0, 0], [1, -1]]
    for cls in (tcd.IterableDataset, tcd.Sampler, tcd.DataLoader):
        assert cls[int] is not None


def test_random_split_default_generator_follows_manual_seed():
    tc.manual_seed(3)
    a = [s.indices for s in tcd.random_split(range(10), [0.3, 0.7])]
    tc.manual_seed(3)
    b = [s.indices for s in tcd.random_split(range(10), [3, 7])]
    assert a == b and sorted(a[0] + a[1]) == list(range(10))


# --- samplers ----------------------------------------------------------------------------
def test_weighted_sampler_with_replacement_respects_weights():
    weights = [1.0, 0.0, 3.0, 4.0]
    drawn = list(tcd.WeightedRandomSampler(weights, 8000,
                                           generator=tc.Generator().manual_seed(0)))
    counts = np.bincount(drawn, minlength=4) / len(drawn)
    assert counts[1] == 0
    np.testing.assert_allclose(counts, np.array(weights) / 8, atol=0.02)
    again = list(tcd.WeightedRandomSampler(weights, 8000,
                                           generator=tc.Generator().manual_seed(0)))
    assert drawn == again and len(tcd.WeightedRandomSampler(weights, 5)) == 5


def test_weighted_sampler_without_replacement_and_errors():
    g = tc.Generator().manual_seed(1)
    weights = [0.5, 2.0, 1.0, 0.0]
    s = tcd.WeightedRandomSampler(weights, 3, replacement=False, generator=g)
    for _ in range(20):
        drawn = list(s)
        assert len(set(drawn)) == 3 and 3 not in drawn   # zero weight: never drawn
    assert s.weights.dtype == tc.float64 and s.weights.tolist() == weights
    for kwargs in ({"num_samples": 0}, {"num_samples": True}, {"num_samples": 2.0},
                   {"num_samples": 2, "replacement": 1}):
        raises_like_torch(lambda kwargs=kwargs: tcd.WeightedRandomSampler([1, 2], **kwargs),
                          lambda kwargs=kwargs: tud.WeightedRandomSampler([1, 2], **kwargs))
    raises_like_torch(lambda: tcd.WeightedRandomSampler([[1, 2]], 2),
                      lambda: tud.WeightedRandomSampler([[1, 2]], 2))
    raises_like_torch(lambda: list(tcd.WeightedRandomSampler([1, 2], 3, replacement=False)),
                      lambda: list(tud.WeightedRandomSampler([1, 2], 3, replacement=False)))


def test_random_sampler_replacement_chunks_and_generator():
    def draws(seed):
        g = tc.Generator().manual_seed(seed)
        return list(tcd.RandomSampler(range(4), replacement=True, num_samples=70, generator=g))
    a = draws(0)
    assert len(a) == 70 and set(a) == {0, 1, 2, 3} and a == draws(0) and a != draws(1)
    g = tc.Generator().manual_seed(2)
    sampler = tcd.RandomSampler(range(6), generator=g)
    epochs = [list(sampler) for _ in range(3)]
    assert all(sorted(e) == list(range(6)) for e in epochs) and epochs[0] != epochs[1]


def test_subset_random_sampler_uses_global_generator():
    tc.manual_seed(7)
    a = list(tcd.SubsetRandomSampler([5, 6, 7, 8]))
    tc.manual_seed(7)
    assert list(tcd.SubsetRandomSampler([5, 6, 7, 8])) == a and sorted(a) == [5, 6, 7, 8]


@pytest.mark.parametrize("drop_last", [False, True])
def test_batch_sampler_over_any_iterable_matches_torch(drop_last):
    got = list(tcd.BatchSampler(iter(range(11)), 4, drop_last))
    want = list(tud.BatchSampler(iter(range(11)), 4, drop_last))
    assert got == want


def test_sampler_base_class_matches_torch():
    raises_like_torch(lambda: tcd.Sampler([1, 2]), lambda: tud.Sampler([1, 2]))
    raises_like_torch(lambda: iter(tcd.Sampler()), lambda: iter(tud.Sampler()))


# --- collate and convert -----------------------------------------------------------------
Pair = namedtuple("Pair", "left right")


class Tagged(list):
    """A list subclass: collate keeps the type (copy + item assignment)."""


_SAMPLES = {
    "nested_dict": lambda i: {"a": {"x": np.full(2, i, np.float32), "n": i},
                              "b": (i * 0.5, f"s{i}")},
    "namedtuple_nested": lambda i: Pair(np.arange(3) + i, {"k": [i, i + 1]}),
    "tuple_of_tensors": lambda i: (_T[0] * i, _T[1] + i),
    "numpy_scalars": lambda i: (np.int32(i), np.float16(i / 2), np.bool_(i % 2), np.uint8(i)),
    "bytes": lambda i: bytes([65 + i]),
    "list_subclass": lambda i: Tagged([i, float(i)]),
    "odict_of_lists": lambda i: OrderedDict(z=[i, i], a=np.int64(i)),
    "defaultdict": lambda i: collections.defaultdict(int, {"v": i}),
}
_T = (np.arange(4.0).reshape(2, 2), np.arange(3))


def _to_lib(lib, sample):
    """The sample with numpy arrays of _T turned into lib tensors (tuple_of_tensors)."""
    if isinstance(sample, tuple) and len(sample) == 2 and isinstance(sample[0], np.ndarray) \
            and sample[0].shape == (2, 2):
        return tuple(lib.tensor(s) for s in sample)
    return sample


@pytest.mark.parametrize("kind", list(_SAMPLES))
def test_default_collate_nested_matches_torch(kind):
    batch = [_SAMPLES[kind](i) for i in range(3)]
    got = tcd.default_collate([_to_lib(tc, s) for s in batch])
    want = tud.default_collate([_to_lib(torch, s) for s in batch])
    same(got, want)


@pytest.mark.parametrize("sample", [np.float32(2.5), np.array(["a", "b"]), (1, np.zeros(2)),
                                    Pair(np.ones(1), "r"), {"k": (np.int16(3),)}, "text",
                                    [np.ones(2), 3], Tagged([np.zeros(1)]), b"raw"])
def test_default_convert_matches_torch(sample):
    same(tcd.default_convert(sample), tud.default_convert(sample))


def test_collate_errors_match_torch():
    for batch in ([np.array(["a"]), np.array(["b"])], [object(), object()], [[1, 2], [3]]):
        raises_like_torch(lambda batch=batch: tcd.default_collate(batch),
                          lambda batch=batch: tud.default_collate(batch))


def test_collate_fn_map_extends_default_collate_as_torch():
    """torch's documented way to extend default_collate: a copy of default_collate_fn_map
    with one more type."""
    class Box:
        def __init__(self, v):
            self.v = v

    def collate_box(batch, *, collate_fn_map=None):
        return sum(b.v for b in batch)
    batch = [{"box": Box(i), "x": np.ones(2) * i} for i in range(3)]
    got = collate(batch, collate_fn_map={**default_collate_fn_map, Box: collate_box})
    want = torch_collate(batch, collate_fn_map={**torch_map, Box: collate_box})
    same(got, want)


# --- DataLoader: arguments, warnings, iterators ------------------------------------------
@pytest.mark.parametrize("kwargs", [
    {"prefetch_factor": 2}, {"num_workers": 1, "prefetch_factor": -1},
    {"persistent_workers": True}, {"multiprocessing_context": "fork"},
    {"num_workers": 1, "multiprocessing_context": "bogus"},
    {"num_workers": 1, "multiprocessing_context": 3}, {"timeout": -1}, {"num_workers": -2},
    {"batch_size": 0}, {"batch_size": None, "drop_last": True}, {"drop_last": 1},
])
def test_loader_argument_errors_match_torch(kwargs):
    raises_like_torch(lambda: tcd.DataLoader(range(4), **kwargs),
                      lambda: tud.DataLoader(range(4), **kwargs))


def test_loader_attributes_are_frozen_after_init():
    loader = tcd.DataLoader(range(4))
    for attr in ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset",
                 "persistent_workers"):
        raises_like_torch(lambda attr=attr: setattr(loader, attr, None),
                          lambda attr=attr: setattr(tud.DataLoader(range(4)), attr, None))
    loader.num_workers = 0                          # the others may change, as in torch
    assert loader.multiprocessing_context is None and loader.prefetch_factor is None
    assert tcd.DataLoader(range(4), num_workers=1).prefetch_factor == 2


def test_pin_memory_warns_as_torch_cpu_build():
    for kwargs in ({"pin_memory": True}, {"pin_memory": True, "pin_memory_device": "cuda"}):
        got, got_w = warnings_of(lambda kwargs=kwargs: list(tcd.DataLoader(range(3), **kwargs)))
        want, want_w = warnings_of(lambda kwargs=kwargs: list(tud.DataLoader(range(3), **kwargs)))
        assert got_w == want_w and len(got_w) >= 1
        same(got, want)


def test_too_many_workers_warns_as_torch():
    n = (len(__import__("os").sched_getaffinity(0))) + 1
    _, got = warnings_of(lambda: tcd.DataLoader(range(3), num_workers=n))
    _, want = warnings_of(lambda: tud.DataLoader(range(3), num_workers=n))
    assert got == want and len(got) == 1


def test_loader_iterator_objects_as_torch():
    loader = tcd.DataLoader(range(5), batch_size=2)
    it = iter(loader)
    assert type(it).__name__ == "_SingleProcessDataLoaderIter" and iter(it) is it
    assert len(it) == 3 and next(it).tolist() == [0, 1]
    assert [b.tolist() for b in it] == [[2, 3], [4]]
    assert [b.tolist() for b in loader] == [[0, 1], [2, 3], [4]]     # iterating twice
    with pytest.raises(NotImplementedError, match="cannot be pickled"):
        pickle.dumps(iter(loader))
    raises_like_torch(lambda: iter(tcd.DataLoader(range(3), timeout=2)),
                      lambda: iter(tud.DataLoader(range(3), timeout=2)))


def test_shuffle_draws_a_base_seed_each_epoch_like_torch():
    """Each iterator draws one int64 from the loader's generator before the sampler does,
    as torch's: two loaders sharing one seeded generator stay reproducible."""
    def orders(seed):
        g = tc.Generator().manual_seed(seed)
        loader = tcd.DataLoader(range(8), batch_size=4, shuffle=True, generator=g)
        return [[b.tolist() for b in loader] for _ in range(2)]
    a = orders(0)
    assert a == orders(0) and a[0] != a[1]
    g = tc.Generator().manual_seed(0)
    tc.empty((), dtype=tc.int64).random_(generator=g)           # the base seed
    first = list(tcd.RandomSampler(range(8), generator=g))
    assert [i for b in a[0] for i in b] == first


def test_batch_size_none_with_sampler_and_collate_fn():
    loader = tcd.DataLoader(list("abcd"), batch_size=None, sampler=[3, 1],
                            collate_fn=str.upper)
    assert list(loader) == ["D", "B"] and len(loader) == 2


# --- names and import paths --------------------------------------------------------------
def test_submodule_paths_programs_import():
    from tracecomp.utils.data import dataloader, dataset, sampler
    from tracecomp.utils.data._utils import worker
    assert dataloader.default_collate is tcd.default_collate
    assert dataloader.default_convert is tcd.default_convert
    assert dataloader.get_worker_info is tcd.get_worker_info is worker.get_worker_info
    assert tcd.get_worker_info() is None                    # not in a worker
    assert sampler.WeightedRandomSampler is tcd.WeightedRandomSampler
    assert dataset.StackDataset is tcd.StackDataset and dataset.ChainDataset is tcd.ChainDataset
    assert tc.utils.data.DataLoader is tcd.DataLoader
    names = {n for n in dir(tud) if not n.startswith("_")}
    missing = sorted(n for n in names if not hasattr(tcd, n))
    # datapipes (deprecated in torch) are not provided
    assert missing == ["DFIterDataPipe", "DataChunk", "IterDataPipe", "MapDataPipe",
                       "argument_validation", "datapipes", "functional_datapipe", "graph",
                       "graph_settings", "guaranteed_datapipes_determinism",
                       "non_deterministic", "runtime_validation", "runtime_validation_disabled"]
    from tracecomp.utils.data import distributed
    assert tcd.DistributedSampler is distributed.DistributedSampler


def test_an_infinite_random_sampler_starts_at_once():
    # makemore's InfiniteDataLoader: replacement=True, num_samples=int(1e10); listing the
    # chunks first took 20 s and gigabytes before the first index
    sampler = tcd.RandomSampler(range(5), replacement=True, num_samples=int(1e10))
    first = []
    for i in sampler:
        first.append(i)
        if len(first) == 40:
            break
    assert set(first) <= set(range(5)) and len(sampler) == int(1e10)
