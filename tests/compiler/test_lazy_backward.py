"""A compiled call's backward graph is compiled when a backward first needs it
(compiler/lazy_backward.py): a model evaluated without no_grad pays for its forward only,
and a training step still gets torch's gradients, lodged residuals included."""
import threading

import numpy as np
import torch

import tracecomp as tc
import tracecomp.nn as nn
import tracecomp.nn.functional as F
from tracecomp.compiler.lazy_backward import LazyBackward


def _twins(seed=0):
    """A small convnet in both libraries with the same weights."""
    torch.manual_seed(seed)
    ref = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 6 * 6, 5))
    ours = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    ours.load_state_dict({k: tc.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    return ref, ours


def _backend_phases(compiled, graph):
    """The backend's records (fusion, kernels, LLVM) for `graph` in the latest pass log."""
    return [r.name for r in compiled._compiled.pass_log
            if r.graph == graph and r.name in ("fusion", "llvm kernels", "llvm compile")]


def test_a_call_never_differentiated_compiles_no_backward():
    ref, ours = _twins()
    model = tc.compile(ours)
    x = np.random.default_rng(1).standard_normal((3, 1, 8, 8)).astype(np.float32)
    for _ in range(3):
        out = model(tc.tensor(x))
    np.testing.assert_allclose(out.detach().numpy(), ref(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    assert out.requires_grad                # the parameters require grad: it is on the tape
    assert _backend_phases(model, "forward")
    assert _backend_phases(model, "backward") == []
    assert not model._compiled.last.run_backward.compiled


def test_the_first_backward_compiles_it_and_training_matches_torch():
    ref, ours = _twins(2)
    model = tc.compile(ours)
    opt = tc.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(3)
    for step in range(4):       # lodged residuals from the second step on
        x = rng.standard_normal((5, 1, 8, 8)).astype(np.float32)
        y = rng.integers(0, 5, 5)
        opt.zero_grad()
        loss = F.cross_entropy(model(tc.tensor(x)), tc.tensor(y))
        if step == 0:
            assert not model._compiled.last.run_backward.compiled
        loss.backward()
        opt.step()
        ref_opt.zero_grad()
        ref_loss = torch.nn.functional.cross_entropy(ref(torch.tensor(x)), torch.tensor(y))
        ref_loss.backward()
        ref_opt.step()
        np.testing.assert_allclose(loss.item(), ref_loss.item(), rtol=1e-5)
    assert model._compiled.last.run_backward.compiled
    assert _backend_phases(model, "backward")
    for (name, p), q in zip(ours.named_parameters(), ref.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-4,
                                   atol=1e-5, err_msg=name)


def test_a_dump_of_the_backward_compiles_it():
    _, ours = _twins()
    model = tc.compile(ours)
    model(tc.randn(2, 1, 8, 8))
    assert "backward" in model._compiled.llvm_ir     # the dump asks, so it is compiled
    assert model._compiled.last.run_backward.compiled


def test_two_threads_first_backwards_compile_it_once():
    made, started = [], threading.Barrier(4)

    def compile_it():
        made.append(1)
        return lambda arrays: [a * 2 for a in arrays]
    lazy = LazyBackward(compile_it)
    results = [None] * 4

    def run(k):
        started.wait()
        results[k] = lazy([np.full(2, k)])[0]
    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert made == [1]
    assert [r.tolist() for r in results] == [[2 * k, 2 * k] for k in range(4)]


def test_copying_it_neither_compiles_nor_recurses():
    import copy
    made = []
    lazy = LazyBackward(lambda: made.append(1) or (lambda arrays: arrays))
    twin = copy.copy(lazy)
    assert made == [] and not lazy.compiled
    assert twin([1]) == [1] and made == [1]     # the copy shares the compile function
