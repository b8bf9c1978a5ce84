"""memory_budget on a whole compiled training step (passes/remat.py): long-lived cheap
values (a convolution's im2col columns) are computed again before their late reads, the
step trains exactly as without, and its arena shrinks."""
import numpy as np
import pytest

import tracecomp as tc
from tracecomp import nn
from tracecomp.codegen import interp
from tracecomp.ir import Graph, verify
from tracecomp.passes import remat

from helpers import train_step


def _lenet():
    tc.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(400, 10))


def _train(budget, steps=3):
    model = _lenet()
    opt = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    step = tc.compile(train_step(model, opt), memory_budget=budget)
    rng = np.random.default_rng(0)
    # a batch whose columns conv2d keeps whole (ops/conv.chunk_samples): larger
    # ones are made a chunk at a time by the backend anyway (passes/chunks.py)
    x = tc.tensor(rng.standard_normal((3, 1, 28, 28)).astype(np.float32))
    y = tc.tensor(rng.integers(0, 10, 3))
    losses = [step(x, y).item() for _ in range(steps)]
    return losses, [p.detach().numpy().copy() for p in model.parameters()], step


def test_a_whole_step_under_a_budget_recomputes_im2col_and_trains_the_same():
    losses, params, plain = _train(None)
    got, got_params, lean = _train(0.0)
    np.testing.assert_array_equal(got, losses)
    for p, q in zip(got_params, params):
        np.testing.assert_array_equal(p, q)
    log = lean.last.partition_log
    assert log[0].startswith("remat: memory_budget=0.0: recomputed 2 values"), log
    assert any("25x2352" in line for line in log), log    # conv1's columns, batch 3
    arena = [s.last.run_forward.memory_plan.peak for s in (plain, lean)]
    assert arena[1] < 0.75 * arena[0], arena
    assert "remat" in [r.name for r in lean.pass_log]


def test_a_budget_of_one_recomputes_nothing():
    _, _, step = _train(1.0, steps=1)
    assert step.last.partition_log == []


def _long_lived(size=1 << 16):
    """exp(x @ w) read at once and again after a run of other nodes; and sin(x) likewise."""
    g = Graph("g")
    x, w = g.add_input("x", (size // 64, 64), np.float32), g.add_input("w", (64, 64), np.float32)
    product = g.add("matmul", (x, w), {}, (size // 64, 64), np.dtype(np.float32))
    e = g.add("exp", (product,), {}, product.shape, product.dtype)
    s = g.add("sin", (x,), {}, x.shape, x.dtype)
    early = g.add("add", (e, s), {}, e.shape, e.dtype)
    chain = early
    for _ in range(12):
        chain = g.add("neg", (chain,), {}, e.shape, e.dtype)
    late_e = g.add("mul", (chain, e), {}, e.shape, e.dtype)
    late_s = g.add("mul", (late_e, s), {}, e.shape, e.dtype)
    g.outputs = [late_s]
    return g


def test_only_values_cheap_to_keep_recomputing_are_recomputed():
    """sin(x) needs only x (held anyway): recomputed. exp(x @ w) would keep the product, as
    large as itself, alive instead: left alone."""
    graph = _long_lived()
    new, log = remat.run(graph, 0.0)
    verify(new, "after remat")
    ops = [n.op for n in new.nodes]
    assert ops.count("sin") == 2 and ops.count("exp") == 1, ops
    assert ops.index("sin", ops.index("sin") + 1) == len(ops) - 2   # just before its reader
    assert log[0].startswith("remat: memory_budget=0.0: recomputed 1 values"), log
    x = np.random.default_rng(0).standard_normal((1024, 64)).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((64, 64)).astype(np.float32) / 8
    want = interp.compile_graph(graph)([x, w])
    got = interp.compile_graph(new)([x, w])
    np.testing.assert_array_equal(got[0], want[0])


@pytest.mark.parametrize("budget", [None, 1.0])
def test_without_a_budget_below_one_the_graph_is_unchanged(budget):
    graph = _long_lived()
    new, log = remat.run(graph, budget)
    assert [n.op for n in new.nodes] == [n.op for n in graph.nodes] and log == []
