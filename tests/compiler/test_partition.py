"""The min-cut partitioner (passes/partition.py): what the forward saves for the backward and
what the backward recomputes. Values and gradients are compared with eager under every
memory_budget; what is saved is checked as exact properties (bytes, order, determinism)."""
import numpy as np
import pytest

import tracecomp as tc
import tracecomp.nn.functional as F
from tracecomp import nn
from tracecomp.ir import verify
from tracecomp.passes import autodiff, partition
from tracecomp.tracing.tracer import trace

BUDGETS = [None, 0.0, 0.25, 0.5, 1.0]


class GeluBlock(nn.Module):
    """A transformer MLP block: GELU's chain of elementwise values is what min-cut saves on."""

    def __init__(self):
        super().__init__()
        self.up, self.down, self.norm = nn.Linear(16, 64), nn.Linear(64, 16), nn.LayerNorm(16)

    def forward(self, x):
        return self.norm(self.down(F.gelu(self.up(x), approximate="tanh")) + x)


def _joint(fn, *shapes):
    args = [tc.randn(*s, requires_grad=True) for s in shapes]
    return autodiff.run(trace(fn, *args))


def _gelu_joint():
    def f(x, w):
        h = x @ w
        return 0.5 * h * (1 + ((h + 0.044715 * h * h * h) * 0.7978845608028654).tanh())
    return _joint(f, (8, 16), (16, 32))


def _saved_bytes(split):
    n_out = len(split.forward.outputs) - split.n_saved
    inputs = set(split.forward.inputs)
    return sum(n.size * n.dtype.itemsize for n in split.forward.outputs[n_out:]
               if n not in inputs)


@pytest.mark.parametrize("budget", BUDGETS)
def test_every_budget_gives_eager_values_and_gradients(budget):
    tc.manual_seed(0)
    model, ref = GeluBlock(), GeluBlock()
    ref.load_state_dict(model.state_dict())
    x = tc.randn(8, 16)
    compiled = tc.compile(model, memory_budget=budget)
    xs = [x.clone().requires_grad_(True) for _ in range(2)]
    outs = [compiled(xs[0]), ref(xs[1])]
    for out in outs:
        (out * out).sum().backward()
    np.testing.assert_allclose(outs[0].detach().numpy(), outs[1].detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(xs[0].grad.numpy(), xs[1].grad.numpy(), rtol=1e-4, atol=1e-5)
    for p, q in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_min_cut_saves_the_gelu_input_instead_of_its_chain():
    joint = _gelu_joint()
    default, keep_all = partition.run(joint), partition.run(joint, memory_budget=1.0)
    for split in (default, keep_all):
        verify(split.forward)
        verify(split.backward)
    # the backward reads several elementwise values of h; the cut saves h (the product)
    saved = default.forward.outputs[len(default.forward.outputs) - default.n_saved:]
    assert [n.op for n in saved if n.op != "input"] == ["matmul"]
    assert _saved_bytes(default) < _saved_bytes(keep_all)
    assert "recomputed  tanh" in "\n".join(default.log)


def test_budgets_trade_bytes_monotonically_within_the_bound():
    joint = _gelu_joint()
    by_budget = {b: _saved_bytes(partition.run(joint, memory_budget=b)) for b in BUDGETS[1:]}
    fewest, most = by_budget[0.0], by_budget[1.0]
    assert fewest < most
    values = [by_budget[b] for b in BUDGETS[1:]]
    assert values == sorted(values)
    for b, saved in by_budget.items():
        assert saved <= fewest + b * (most - fewest)


def test_random_draws_and_products_are_never_recomputed():
    def f(x, w):
        h = (x @ w).relu()
        return F.dropout(h, 0.5, training=True) * h.tanh()
    for budget in BUDGETS:
        split = partition.run(_joint(f, (8, 16), (16, 32)), memory_budget=budget)
        for n in split.backward.nodes:
            assert n.op == "constant" or "random" not in n.prim.tags, (budget, n.op)
        recomputed = [line.split()[1] for line in split.log if line.startswith("  recomputed")]
        assert "matmul" not in recomputed, budget


def _conv_joint():
    def f(x, w):
        return F.conv2d(x, w, padding=2).relu().sum()
    return _joint(f, (4, 1, 12, 12), (3, 1, 5, 5))


def test_a_budget_may_recompute_a_convolutions_columns_the_default_saves_them():
    """im2col's columns (25x the input here) are saved by default and under budget 1.0,
    recomputed from the input under budget 0.0, with the same gradients."""
    joint = _conv_joint()
    default, none_, least = (partition.run(joint, memory_budget=b) for b in (None, 1.0, 0.0))
    for split in (default, none_, least):
        verify(split.forward)
        verify(split.backward)
    assert "unfold" not in [n.op for n in default.backward.nodes + none_.backward.nodes]
    assert "unfold" in [n.op for n in least.backward.nodes]
    assert _saved_bytes(least) < _saved_bytes(default) / 5
    x, w = tc.randn(4, 1, 12, 12), tc.randn(3, 1, 5, 5)
    grads = []
    for budget in (None, 0.0):
        xs, ws = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
        f = tc.compile(lambda a, b: F.conv2d(a, b, padding=2).relu().sum(),
                       memory_budget=budget)
        f(xs, ws).backward()
        grads.append((xs.grad.numpy(), ws.grad.numpy()))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _saved(split):
    return split.forward.outputs[len(split.forward.outputs) - split.n_saved:]


def test_a_relu_whose_output_only_its_gradient_reads_saves_its_mask():
    """ReLU's backward reads `out <= 0` alone where nothing else needs its output (a pool
    after it, or a sum): the forward computes that mask and saves it, a quarter of the
    bytes of the float output, as AOTAutograd does; the gradients are eager's."""
    def f(x, w):
        return F.max_pool2d(F.conv2d(x, w).relu(), 2).sum()
    joint = _joint(f, (4, 2, 10, 10), (3, 2, 3, 3))
    for budget in BUDGETS:
        split = partition.run(joint, memory_budget=budget)
        verify(split.forward)
        verify(split.backward)
        kinds = [(n.op, n.dtype.name) for n in _saved(split) if n.op != "input"]
        assert ("le", "bool") in kinds and ("relu", "float32") not in kinds, (budget, kinds)
    x, w = tc.randn(4, 2, 10, 10), tc.randn(3, 2, 3, 3)
    grads = []
    for fn in (f, tc.compile(f)):
        xs, ws = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
        fn(xs, ws).backward()
        grads.append((xs.grad.numpy(), ws.grad.numpy()))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_relu_output_the_backward_needs_anyway_is_saved_alone():
    """h = relu(x @ w1) feeds a product whose weight gradient reads h: h is saved, and its
    mask (computable from h in the backward) is not saved besides."""
    def f(x, w1, w2):
        return ((x @ w1).relu() @ w2).sum()
    split = partition.run(_joint(f, (8, 16), (16, 32), (32, 4)))
    kinds = [(n.op, n.dtype.name) for n in _saved(split) if n.op != "input"]
    assert kinds == [("relu", "float32")], kinds


def test_the_cut_is_deterministic():
    texts = {str(partition.run(_gelu_joint()).backward) for _ in range(3)}
    assert len(texts) == 1


def test_memory_budget_out_of_range_is_refused():
    with pytest.raises(ValueError, match="memory_budget must be between 0.0 and 1.0"):
        tc.compile(GeluBlock(), memory_budget=1.5)


def test_dump_shows_what_is_saved_and_recomputed():
    compiled = tc.compile(GeluBlock())
    compiled(tc.randn(8, 16, requires_grad=True)).sum().backward()
    text = compiled.memory_log
    assert text.startswith("partition: min-cut")
    assert "saved " in text and "recomputed  " in text
    assert "forward arena:" in text and "backward arena:" in text
