"""Dynamic shapes on a convolutional network's whole training step, and on products
(compiler/dynamic.py; codegen/llvm/sized_segments.py, sized_runner.py): the batch is one
symbol from each signature's first compile, every group of the step runs natively at each
size, and values and gradients equal torch's (or numpy's in float64)."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp import nn

from helpers import assert_close, train_step

SIDE = 12       # input images are SIDE x SIDE, one channel


class CNN(nn.Module):
    """conv-relu-pool-conv-relu-linear (of torch too, TorchCNN)."""

    def __init__(self, lib=tc):
        super().__init__() if lib is tc else None
        self.lib = lib
        self.c1 = lib.nn.Conv2d(1, 4, 3, padding=1)
        self.c2 = lib.nn.Conv2d(4, 8, 3, padding=1)
        self.fc = lib.nn.Linear(8 * (SIDE // 2) ** 2, 10)

    def forward(self, x):
        F = self.lib.nn.functional
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        return self.fc(F.relu(self.c2(x)).flatten(1))


class TorchCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        CNN.__init__(self, torch)

    forward = CNN.forward


def _pair(seed):
    """A CNN and a torch copy of its weights, each with its SGD-with-momentum step."""
    tc.manual_seed(seed)
    model, reference = CNN(), TorchCNN()
    reference.load_state_dict({k: torch.tensor(v.numpy()) for k, v in
                               model.state_dict().items()})
    step = train_step(model, tc.optim.SGD(model.parameters(), 0.05, momentum=0.9))
    want = train_step(reference, torch.optim.SGD(reference.parameters(), 0.05, momentum=0.9),
                      lib=torch)
    return model, reference, step, want


def _check_steps(compiled, model, reference, want, batches, mark=False):
    rng = np.random.default_rng(0)
    for b in batches:
        x = rng.standard_normal((b, 1, SIDE, SIDE)).astype(np.float32)
        y = rng.integers(0, 10, b)
        tx, ty = tc.tensor(x), tc.tensor(y)
        if mark:
            tc._dynamo.mark_dynamic(tx, 0)
            tc._dynamo.mark_dynamic(ty, 0)
        assert_close(compiled(tx, ty), want(torch.tensor(x), torch.tensor(y)).detach(),
                     rtol=1e-5, atol=1e-6, what=f"loss at batch {b}")
        for (name, p), q in zip(model.named_parameters(), reference.parameters()):
            assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, what=f"{name}.grad at {b}")
            assert_close(p, q, rtol=1e-4, atol=1e-6, what=f"{name} at {b}")


def _python_steps(runner):
    """The fusion log's groups that run from numpy, but for the loss's range check of the
    targets (an opaque guard, by design)."""
    return [line for line in runner.fusion_log
            if line.startswith("numpy") and "check_range" not in line]


def test_dynamic_true_cnn_step_compiles_twice_over_four_batches_and_runs_natively():
    model, reference, step, want = _pair(0)
    compiled = tc.compile(step, dynamic=True)
    _check_steps(compiled, model, reference, want, (6, 9, 12, 7))
    # the first call (no .grad yet) and the second signature (with .grad and momentum),
    # each dynamic in the batch from its first compile; 12 and 7 run the second's graph.
    # The image side stays static: traced at SIDE + 2 the linear layer's width differs
    assert compiled.compiles == 2
    runner = compiled.last.run_forward
    assert "dynamic graph run at s = 7" in runner.fusion_log[-1]
    assert not _python_steps(runner)


def test_mark_dynamic_cnn_step_matches_torch_and_each_signature_compiles_once():
    model, reference, step, want = _pair(1)
    compiled = tc.compile(step)
    _check_steps(compiled, model, reference, want, (5, 8, 11), mark=True)
    assert compiled.compiles == 2
    assert "dynamic graph run at s = 11" in compiled.last.run_forward.fusion_log[-1]


def test_dynamic_true_keeps_a_dim_static_whose_sizes_are_no_polynomial():
    # a stride-2 convolution's side is (H - 1) // 2 + 1: 4, 5, 5 at H = 8, 9, 10, which
    # two sizes alone would take for H - 4; the batch is dynamic, H is not
    tc.manual_seed(3)
    conv = nn.Conv2d(2, 4, 3, stride=2, padding=1)
    reference = torch.nn.Conv2d(2, 4, 3, stride=2, padding=1)
    reference.load_state_dict({k: torch.tensor(v.numpy()) for k, v in conv.state_dict().items()})
    g = tc.compile(lambda x: conv(x).sum((1, 2, 3)), dynamic=True)
    for shape in ((3, 2, 8, 8), (5, 2, 8, 8), (4, 2, 10, 10)):
        x = tc.randn(*shape)
        assert_close(g(x), reference(torch.tensor(x.numpy())).sum((1, 2, 3)).detach(),
                     rtol=1e-5, atol=1e-5)
        if shape[0] == 5:
            assert g.last.run_forward.fusion_log[-1] == "dynamic graph run at s = 5"
    assert g.compiles == 2


# --- products in a dynamic graph ----------------------------------------------------------
PRODUCTS = {
    "x @ w": (lambda x, w, v: x @ w, lambda s: [(s, 96), (96, 80), (1,)]),
    "x.T @ v (K is s)": (lambda x, w, v: x.T @ v, lambda s: [(s, 24), (1,), (s, 16)]),
    "x @ w.T": (lambda x, w, v: x @ w.T, lambda s: [(s, 96), (80, 96), (1,)]),
    "batch of rows @ w": (lambda x, w, v: x @ w, lambda s: [(s, 5, 32), (32, 12), (1,)]),
    "batched": (lambda x, w, v: x @ w, lambda s: [(s, 5, 32), (s, 32, 6), (1,)]),
    "broadcast batch (numpy)": (lambda x, w, v: x @ w, lambda s: [(s, 5, 32), (1, 32, 6),
                                                                  (1,)]),
}


@pytest.mark.parametrize("name", list(PRODUCTS))
def test_products_of_a_dynamic_graph_equal_numpy_in_float64(name):
    fn, shapes = PRODUCTS[name]
    g = tc.compile(fn)
    rng = np.random.default_rng(2)
    for s in (3, 7, 5):
        args = [rng.standard_normal(shape).astype(np.float32) for shape in shapes(s)]
        want = fn(*[a.astype(np.float64) for a in args])
        assert_close(g(*[tc.tensor(a) for a in args]), want, rtol=1e-5, atol=1e-5,
                     what=f"{name} at s = {s}")
    assert g.compiles == 2      # 3; the dynamic graph at 7, which runs 5
    python = _python_steps(g.last.run_forward)
    assert bool(python) == ("numpy" in name), python


def test_a_large_product_of_a_dynamic_graph_is_cut_over_threads_at_large_sizes():
    g = tc.compile(lambda x, w: x @ w)
    w = tc.randn(256, 192)
    for s in (40, 8, 600):      # 600 x 192 x 256: over parallel.SPLIT_WORK
        x = tc.randn(s, 256)
        assert_close(g(x, w), x.numpy().astype(np.float64) @ w.numpy(), rtol=1e-5, atol=1e-4)
    assert g.last.run_forward.split         # blocks of C on the native pool
    g(tc.randn(8, 256), w)
    assert not g.last.run_forward.split
    assert g.compiles == 2


def test_the_kernel_profile_of_a_dynamic_graph_times_each_kernel_and_product(monkeypatch):
    monkeypatch.setenv("TRACECOMP_PROFILE", "1")
    f = tc.compile(lambda x, w: tc.tanh(x @ w).sum(1))
    w = tc.randn(30, 20)
    for s in (4, 9, 6, 6, 6):
        f(tc.randn(s, 30), w)
    lines = f.kernel_profile["forward"].splitlines()
    assert lines[-1] == "(per call of the graph at s = 6, over 3 calls)"
    assert any("matmul [%" in line for line in lines) and any("tanh" in line for line in lines)
    for line in lines[:-1]:
        assert float(line.split()[0]) >= 0 and line.split()[4] == "1"     # once a call
    monkeypatch.delenv("TRACECOMP_PROFILE")
    g = tc.compile(lambda x, w: tc.tanh(x @ w).sum(1))
    for s in (4, 9):
        g(tc.randn(s, 30), w)
    assert g.kernel_profile == {}       # not asked for: no counters
