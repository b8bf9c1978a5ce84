"""DataLoader with num_workers > 0: real worker processes, checked against torch's loader on
the same datasets (order of batches, iterable-dataset sharding and interleaving), and the
exact properties torch documents (worker_init_fn once per worker, get_worker_info, seeds
base_seed + id, persistent workers, timeout, errors from workers, in_order=False).

Each loader here starts two processes (fork): the tests keep to a few small loaders."""
import gc
import math
import os
import time

import numpy as np
import pytest
import torch
import torch.utils.data as tud
from test_data_more import same

import tracecomp as tc
import tracecomp.utils.data as tcd
from tracecomp.utils.data.worker import MP_STATUS_CHECK_INTERVAL


def _lib_data(lib):
    return tcd if lib is tc else tud


class Sharded:
    """torch's documented IterableDataset example: split [start, end) over the workers."""

    def __init__(self, start, end):
        self.start, self.end = start, end

    def __iter__(self):
        info = self.data.get_worker_info()
        if info is None:
            return iter(range(self.start, self.end))
        per = int(math.ceil((self.end - self.start) / info.num_workers))
        lo = self.start + info.id * per
        return iter(range(lo, min(lo + per, self.end)))


def sharded(lib, start, end, shard=True):
    data = _lib_data(lib)
    cls = type("Sharded", (Sharded if shard else _Whole, data.IterableDataset), {"data": data})
    return cls(start, end)


class _Whole(Sharded):
    def __iter__(self):
        return iter(range(self.start, self.end))


@pytest.mark.parametrize("shard,kwargs", [
    (True, {}), (True, {"batch_size": 2}), (True, {"batch_size": 3, "drop_last": True}),
    (False, {"batch_size": None}), (True, {"batch_size": 2, "prefetch_factor": 1})])
def test_iterable_dataset_with_workers_matches_torch(shard, kwargs):
    """Worker 0 and 1 each iterate their copy; batches interleave 0, 1, 0, ... and a worker
    that runs out drops out of the rotation (torch's order, deterministic with in_order)."""
    got = list(tcd.DataLoader(sharded(tc, 3, 10, shard), num_workers=2, **kwargs))
    want = list(tud.DataLoader(sharded(torch, 3, 10, shard), num_workers=2, **kwargs))
    same(got, want)


class WhoAmI:
    """Sample i: (i, pid, worker id, worker seed, what worker_init_fn left in the copy)."""

    def __init__(self, n):
        self.n, self.note = n, None

    def __getitem__(self, i):
        info = tcd.get_worker_info()
        return i, os.getpid(), info.id, info.seed, info.num_workers, self.note, \
            info.dataset is self

    def __len__(self):
        return self.n


def _init(worker_id):
    info = tcd.get_worker_info()
    info.dataset.note = f"init {worker_id} of {info.num_workers}"


def test_map_dataset_workers_info_seeds_and_init():
    g = tc.Generator().manual_seed(11)
    loader = tcd.DataLoader(WhoAmI(7), batch_size=2, num_workers=2, worker_init_fn=_init,
                            generator=g, collate_fn=list)
    batches = list(loader)
    samples = [s for b in batches for s in b]
    assert [s[0] for s in samples] == list(range(7))
    assert [b[0][2] for b in batches] == [0, 1, 0, 1]            # round-robin tasks
    pids = {s[2]: s[1] for s in samples}
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
    base = tc.Generator().manual_seed(11)
    base_seed = int(tc.empty((), dtype=tc.int64).random_(generator=base).item())
    assert {s[2]: s[3] for s in samples} == {0: base_seed, 1: base_seed + 1}
    assert {s[5] for s in samples} == {"init 0 of 2", "init 1 of 2"}
    assert all(s[4] == 2 and s[6] for s in samples)
    assert loader.dataset.note is None              # the main process's copy is untouched


class Draws:
    """Sample i: draws from tracecomp's, numpy's and Python's global RNGs in the worker."""

    def __getitem__(self, i):
        import random
        return tc.rand(1).item(), float(np.random.rand()), random.random()

    def __len__(self):
        return 4


def test_worker_rngs_are_seeded_from_the_generator():
    def run(seed):
        loader = tcd.DataLoader(Draws(), num_workers=2, collate_fn=lambda b: b[0],
                                generator=tc.Generator().manual_seed(seed))
        return list(loader)
    a, b, c = run(5), run(5), run(6)
    assert a == b and a != c
    assert a[0] != a[1]                             # the two workers draw different numbers


class Counter:
    """Counts the samples each worker's copy has served, across epochs."""

    def __init__(self):
        self.served = 0

    def __getitem__(self, i):
        self.served += 1
        return i, os.getpid(), self.served

    def __len__(self):
        return 4


def test_persistent_workers_keep_processes_and_copies():
    loader = tcd.DataLoader(Counter(), num_workers=2, persistent_workers=True,
                            collate_fn=lambda b: b[0])
    first, second = list(loader), list(loader)
    assert [s[0] for s in first] == [s[0] for s in second] == [0, 1, 2, 3]
    assert {s[1] for s in first} == {s[1] for s in second}
    assert [s[2] for s in second] == [3, 3, 4, 4]           # the copies kept counting
    assert iter(loader) is loader._iterator
    loader._iterator._shutdown_workers()


class Failing:
    def __getitem__(self, i):
        if i == 2:
            raise ValueError(f"bad sample {i}")
        return i

    def __len__(self):
        return 4


def test_worker_errors_are_reraised_as_torch():
    with pytest.raises(ValueError) as got:
        list(tcd.DataLoader(Failing(), num_workers=2))
    torch_iterator = iter(tud.DataLoader(Failing(), num_workers=2))
    with pytest.raises(ValueError) as want:
        list(torch_iterator)
    for e in (got.value, want.value):
        assert str(e).startswith("Caught ValueError in DataLoader worker process 0.\n"
                                 "Original Traceback (most recent call last):")
        assert str(e).rstrip().endswith("ValueError: bad sample 2")
    # torch's, left to the garbage collector, waits out its workers' poll (10 s: see
    # test_an_iterator_collected_after_a_workers_error_stops_its_workers_at_once)
    torch_iterator._shutdown_workers()


def test_an_iterator_collected_after_a_workers_error_stops_its_workers_at_once():
    """The error's traceback holds the iterator in a cycle, which the garbage collector
    frees with its queues: their finalizers stopped the queues' threads before the
    iterator told its workers to exit, and each worker's join waited out its poll interval
    (torch's DataLoader: 10 s for two workers; ours too, before)."""
    gc.collect()    # the garbage of the tests before (torch's loaders: see the docstring)
    caught = []
    try:
        list(tcd.DataLoader(Failing(), num_workers=2))
    except ValueError as e:
        caught.append(e)
    caught.clear()
    start = time.perf_counter()
    gc.collect()
    assert time.perf_counter() - start < MP_STATUS_CHECK_INTERVAL


class Slow:
    def __getitem__(self, i):
        time.sleep(3)
        return i

    def __len__(self):
        return 2


def test_timeout_and_batches_that_cannot_be_sent():
    with pytest.raises(RuntimeError, match=r"^DataLoader timed out after 0.5 seconds$"):
        next(iter(tcd.DataLoader(Slow(), num_workers=1, timeout=0.5)))
    # a non-leaf tensor that requires grad cannot cross processes (torch's message)
    x = tc.arange(4.0).requires_grad_()
    ds = tcd.TensorDataset(x * 2)
    with pytest.raises(RuntimeError, match="Cowardly refusing to serialize non-leaf tensor"):
        list(tcd.DataLoader(ds, batch_size=2, num_workers=1, timeout=30))


class Gated:
    """Sample 0 waits for sample 1 to have been served (by the other worker)."""

    def __init__(self, flag):
        self.flag = flag

    def __getitem__(self, i):
        if i == 0:
            while not os.path.exists(self.flag):
                time.sleep(0.02)
            time.sleep(0.5)
        if i == 1:
            open(self.flag, "w").close()
        return i

    def __len__(self):
        return 2


def test_in_order_false_returns_batches_as_they_arrive(tmp_path):
    ordered = list(tcd.DataLoader(Gated(str(tmp_path / "a")), num_workers=2, timeout=30))
    assert [b.item() for b in ordered] == [0, 1]
    arrived = list(tcd.DataLoader(Gated(str(tmp_path / "b")), num_workers=2, timeout=30,
                                  in_order=False))
    assert [b.item() for b in arrived] == [1, 0]


def test_tensors_cross_processes_with_dtype_and_leaf_grad():
    tensors = [tc.tensor([True, False]), tc.tensor([1, -2], dtype=tc.int8),
               tc.tensor([0.5, 1.5], dtype=tc.float16), tc.arange(6.0).reshape(2, 3).t(),
               tc.nn.Parameter(tc.ones(2))]
    got = list(tcd.DataLoader(tensors, batch_size=None, num_workers=1))
    for g, t in zip(got, tensors):
        assert type(g) is type(t) and g.dtype == t.dtype and g.tolist() == t.tolist()
        assert g.requires_grad == t.requires_grad


def test_spawn_context_uses_the_tensor_reducer():
    ds = tcd.TensorDataset(tc.arange(6).reshape(3, 2), tc.arange(3))
    got = list(tcd.DataLoader(ds, batch_size=2, num_workers=1, multiprocessing_context="spawn"))
    assert [[t.tolist() for t in b] for b in got] == [[[[0, 1], [2, 3]], [0, 1]],
                                                      [[[4, 5]], [2]]]


class Crashing:
    def __getitem__(self, i):
        os._exit(3)

    def __len__(self):
        return 2


def test_a_dead_worker_is_reported():
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited "
                                           r"unexpectedly"):
        list(tcd.DataLoader(Crashing(), num_workers=1, timeout=1))


@pytest.mark.parametrize("base_seed,worker_id", [(0, 0), (2 ** 62 + 12345, 3),
                                                 (9_007_199_254_740_993, 1)])
def test_worker_numpy_seed_is_torchs(base_seed, worker_id):
    from torch.utils.data._utils.worker import _generate_state as torch_state

    from tracecomp.utils.data.worker import _generate_state
    assert _generate_state(base_seed, worker_id) == torch_state(base_seed, worker_id)
