"""tracecomp.multiprocessing against torch.multiprocessing: spawn runs fn(rank, *args) in
each process and raises a child's error in the parent with its text; share_memory puts a
model's weights where processes forked after it update one set (pytorch/examples'
mnist_hogwild); the rest is Python's multiprocessing. imagenet/main.py could not start
(`import torch.multiprocessing as mp` was Unsupported)."""
import multiprocessing

import numpy as np
import pytest
import torch
import torch.multiprocessing

import tracecomp as tc
import tracecomp.multiprocessing as tmp

import spawn_children


def _fail_on_one(rank):
    if rank == 1:
        raise ValueError("rank one stops here")


@pytest.mark.parametrize("lib", [torch.multiprocessing, tmp], ids=["torch", "tracecomp"])
def test_spawn_runs_fn_with_each_rank(lib):
    queue = multiprocessing.get_context("spawn").SimpleQueue()
    assert lib.spawn(spawn_children.write_rank, args=(queue, 10), nprocs=2) is None
    assert sorted(queue.get() for _ in range(2)) == [(0, 0), (1, 10)]


@pytest.mark.parametrize("lib", [torch.multiprocessing, tmp], ids=["torch", "tracecomp"])
def test_a_childs_error_is_raised_in_the_parent(lib):
    with pytest.raises(lib.ProcessRaisedException,
                       match="Process 1 terminated with the following error[\\s\\S]*"
                             "ValueError: rank one stops here"):
        lib.spawn(_fail_on_one, nprocs=2, start_method="fork")


def _sgd_steps(model, x, steps):
    lib = tc if isinstance(model, tc.nn.Module) else torch
    opt = lib.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()


@pytest.mark.parametrize("lib", [torch, tc], ids=["torch", "tracecomp"])
def test_forked_processes_train_one_shared_model(lib):
    """Hogwild: forked children train the shared weights, the second from where the first
    left them, and the parent sees their steps (without share_memory it sees none). One
    after the other, so the result is deterministic (at once, their steps race)."""
    lib.manual_seed(0)
    model = lib.nn.Linear(4, 1, bias=False)
    with lib.no_grad():
        model.weight.copy_(lib.tensor([[1.0, -2.0, 0.5, 3.0]]))
    model.share_memory()
    assert model.weight.is_shared() and not lib.ones(2).is_shared()
    x = lib.tensor(np.ones((8, 4), dtype=np.float32))
    # one process's 6 steps in a row, taken first: the children fork after the parent's own
    # first optimizer step, so they inherit what torch imports lazily there (~1.5 s each)
    solo = lib.nn.Linear(4, 1, bias=False)
    with lib.no_grad():
        solo.weight.copy_(lib.tensor([[1.0, -2.0, 0.5, 3.0]]))
    _sgd_steps(solo, x, 6)
    ctx = multiprocessing.get_context("fork")
    for _ in range(2):
        child = ctx.Process(target=_sgd_steps, args=(model, x, 3))
        child.start()
        child.join()
        assert child.exitcode == 0
    assert np.allclose(model.weight.detach().numpy(), solo.weight.detach().numpy(),
                       rtol=1e-5)


def test_python_names_are_reexported():
    for name in ("Process", "Queue", "Pool", "get_context", "set_start_method", "cpu_count"):
        assert getattr(tmp, name) is getattr(multiprocessing, name)
    assert tc.multiprocessing is tmp
