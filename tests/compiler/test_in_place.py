"""In-place kernels (passes/in_place.py): an elementwise kernel writes its value over an
input it reads for the last time, at the same index only. Shared bytes are only ever a
value and the one it took; any other read of the input keeps the buffers apart; compiled
values stay the reference's; of two inputs it may take, it takes the one written last;
and the bench MLP's whole step keeps two activations in its
arena where it kept three."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.codegen.interp import compile_graph as reference
from tracecomp.codegen.llvm.backend import compile_graph
from tracecomp.codegen.llvm.target import host
from tracecomp.passes import decompose, fusion, memory
from tracecomp.tracing.tracer import trace

from helpers import assert_close, compiled_step, train_step, twin_relu_mlps

rng = np.random.default_rng(0)


def arr(*shape):
    return tc.tensor(rng.standard_normal(shape).astype(np.float32))


def mlp(x, w1, w2):
    return tc.relu(tc.relu(x @ w1) @ w2 + 1.0) * 2.0


def flipped(x, w):              # the kernel reads h at another index too: no in place
    h = x @ w
    return tc.relu(h + h.flip(0)) @ w


def read_later(x, w):           # h is read again after the relu: no in place
    h = x @ w
    return (tc.relu(h) @ w) + h


def broadcast(x, w):            # h (16 x 1) is read broadcast over a 16 x 16 value
    h = x @ w[:, :1]
    return tc.relu(h + x @ w) @ w


def with_stores(x, w):          # tanh(h) is stored by the kernel of tanh(h) + 1: no in place
    a = tc.tanh(x @ w)
    return ((a + 1.0) @ w) + (a @ w)


def mask(x, w):                 # a backward's ReLU mask: both r and g are read last here
    r = tc.relu(x @ w)
    g = r @ w
    return tc.where(r > 0, g, 0.0) @ w


CASES = {"mlp": (mlp, lambda: [arr(16, 32), arr(32, 32), arr(32, 32)]),
         "mask": (mask, lambda: [arr(16, 16), arr(16, 16)]),
         "flipped": (flipped, lambda: [arr(16, 16), arr(16, 16)]),
         "read_later": (read_later, lambda: [arr(16, 16), arr(16, 16)]),
         "broadcast": (broadcast, lambda: [arr(16, 16), arr(16, 16)]),
         "stores": (with_stores, lambda: [arr(16, 16), arr(16, 16)])}


def _plan(name):
    fn, make = CASES[name]
    args = make()
    graph = decompose.run(trace(fn, *args))
    groups = fusion.run(graph, host())
    plan = memory.run(graph, groups, hosts=lambda o: True, in_place=True)
    return graph, groups, plan, [a.numpy() for a in args]


def _chain_root(plan, v):
    while v in plan.taken:
        v = plan.taken[v]
    return v


@pytest.mark.parametrize("name", CASES)
def test_only_a_value_and_the_one_it_took_share_bytes(name):
    _, groups, plan, _ = _plan(name)
    buffers = list(plan.offsets)        # (in the arena; an output takes its value at 0)
    for v, b in plan.taken.items():
        assert plan.offsets.get(v, 0) == plan.offsets.get(b, plan.hosted.get(b, (v, 0))[1])
    for i, a in enumerate(buffers):
        for b in buffers[i + 1:]:
            (a0, a1), (b0, b1) = plan.lives[a], plan.lives[b]
            lo_a, lo_b = plan.offsets[a], plan.offsets[b]
            apart = lo_a + plan.sizes[a] <= lo_b or lo_b + plan.sizes[b] <= lo_a
            if a0 <= b1 and b0 <= a1 and not apart:
                assert _chain_root(plan, a) is _chain_root(plan, b), f"{a} overlaps {b}"
                assert lo_a == lo_b and (a1 == b0 or b1 == a0)     # handed on at one step
    for v, b in plan.taken.items():     # b is read last by v's kernel
        if v in plan.lives:
            assert plan.lives[b][1] == plan.lives[v][0]
    # a kernel that stores more than its root never writes over an input
    assert not [g for g in groups.groups if g.stores and g.root in plan.taken]


@pytest.mark.parametrize("name,expected", [
    ("mlp", [("mul", "matmul"), ("relu", "matmul")]),    # the output over its product
    ("flipped", []),
    # over g, the product written last, not over r (read since by g's product: in a split
    # product, on every core)
    ("mask", [("relu", "matmul"), ("where", "matmul")]),
    ("read_later", [("add", "matmul")]),        # the output over relu(h) @ w, not over h
    ("broadcast", [("relu", "matmul")]),        # over the 16 x 16 product, not h (16 x 1)
    ("stores", [("add", "matmul")])])           # only the last add, over its product
def test_which_kernels_write_in_place(name, expected):
    graph, _, plan, arrays = _plan(name)
    assert sorted((v.op, b.op) for v, b in plan.taken.items()) == expected, plan.log
    assert all(v.shape == b.shape for v, b in plan.taken.items())
    np.testing.assert_allclose(compile_graph(graph)(arrays)[0], reference(graph)(arrays)[0],
                               rtol=1e-5, atol=1e-5)


def _twin_mlps(batch):
    model, ref = twin_relu_mlps(784, 256, 256, 10)
    x = rng.standard_normal((batch, 784)).astype(np.float32)
    return model, ref, x, rng.integers(0, 10, batch)


def test_the_whole_mlp_step_keeps_two_activations_and_matches_torch():
    batch = 512         # (the bench's; at 128 the weight gradient's buffer hosts more)
    model, ref, x, y = _twin_mlps(batch)
    opt = tc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9)
    step, ref_step = compiled_step(model, opt), train_step(ref, ref_opt, torch)
    for _ in range(3):
        assert_close(step(tc.tensor(x), tc.tensor(y)),
                     ref_step(torch.tensor(x), torch.tensor(y)), rtol=1e-4, what="loss")
    for p, r in zip(model.parameters(), ref.parameters()):
        assert_close(p, r, rtol=1e-4, atol=1e-5, what="parameter")
    plan = step.last.run_forward.memory_plan
    # the relus are written over their products, the backward's masks (row loops,
    # passes/row_loops.py) over the second activation and then over the gradient the
    # second product reads, and the first layer's weight gradient hosts the first
    # activation and the loops' blocks: the arena holds one batch x 256 float32 value
    # (two before the row loops, three before in-place kernels)
    assert plan.peak == batch * 256 * 4, plan.log
    assert len(plan.taken) >= 4


def test_compile_model_writes_each_saved_relu_over_its_product():
    model, ref, x, y = _twin_mlps(32)
    compiled = tc.compile(model)
    loss = tc.nn.functional.cross_entropy(compiled(tc.tensor(x)), tc.tensor(y))
    loss.backward()
    ref_loss = torch.nn.functional.cross_entropy(ref(torch.tensor(x)), torch.tensor(y))
    ref_loss.backward()
    assert_close(loss, ref_loss, rtol=1e-5)
    for p, r in zip(model.parameters(), ref.parameters()):
        assert_close(p.grad, r.grad, rtol=1e-4, atol=1e-6, what="gradient")
    forward = compiled._compiled.last.run_forward.memory_plan
    assert forward.peak == 0, forward.log          # each product in its relu's output
    assert {v.op for v in forward.taken} == {"relu", "add"}
