"""Fusion recomputes a value that every reader's kernel can compute itself (passes/fusion.py,
`recomputable`): an elementwise chain over values that are stored anyway is computed by each
kernel that reads it, not stored by one for the others. A GELU backward that recomputes the
activation from its saved input then keeps no tanh in its arena; values a product reads, or
graph outputs, are still stored once; and results stay torch's."""
import numpy as np
import torch

import tracecomp as tc
from tracecomp.codegen.llvm.target import host
from tracecomp.passes import decompose, fusion, memory
from tracecomp.tracing.tracer import trace

from helpers import assert_close, with_torch_weights

rng = np.random.default_rng(0)
C, K = 0.7978845608028654, 0.044715


def arr(*shape):
    return tc.tensor(rng.standard_normal(shape).astype(np.float32))


def gelu_and_its_gradient(h, w, d):
    """A GELU backward as autodiff writes it: the activation (for a product) and the
    gradient, both from tanh of the saved input, with a product between the two."""
    t = tc.tanh(C * (h + K * h * h * h))
    g = 0.5 * h * (1.0 + t)
    dg = d @ w
    dh = dg * (0.5 * (1.0 + t) + 0.5 * h * (1.0 - t * t) * C * (1.0 + 3 * K * h * h))
    return g.T @ d, dh


def tanh_into_a_product(h, w):
    """t is read by a product, which needs it in memory: stored once, not recomputed."""
    t = tc.tanh(h)
    return t @ w, t * h


def _groups(fn, *args):
    graph = decompose.run(trace(fn, *args))
    return graph, fusion.run(graph, host())


def test_each_reader_computes_the_chain_and_nothing_is_stored_for_the_other():
    args = [arr(32, 48), arr(16, 48), arr(32, 16)]
    graph, plan = _groups(gelu_and_its_gradient, *args)
    tanh = [n for n in graph.nodes if n.op == "tanh"]
    assert len(tanh) == 1
    readers = [g for g in plan.groups if tanh[0] in g.nodes]
    assert len(readers) == 2                        # the activation's kernel and dh's
    assert all(not g.stores for g in plan.groups)
    assert any("recomputed by each kernel" in line for line in plan.log)
    mem = memory.run(graph, plan, hosts=lambda o: True, in_place=True)
    # in memory between kernels: the activation g (for its product) and dg, nothing else
    assert {n.op for n in mem.sizes} == {"mul", "matmul"} and len(mem.sizes) == 2

    got = tc.compile(gelu_and_its_gradient)(*args)
    h, w, d = (torch.tensor(a.numpy(), dtype=torch.float64) for a in args)
    t = torch.tanh(C * (h + K * h ** 3))
    want = ((0.5 * h * (1 + t)).T @ d,
            (d @ w) * (0.5 * (1 + t) + 0.5 * h * (1 - t * t) * C * (1 + 3 * K * h * h)))
    for a, b in zip(got, want):
        assert_close(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4)


def test_a_value_a_product_reads_is_stored_once():
    args = [arr(16, 16), arr(16, 16)]
    graph, plan = _groups(tanh_into_a_product, *args)
    tanh = next(n for n in graph.nodes if n.op == "tanh")
    assert fusion.recomputable(graph, graph.users(), set(graph.outputs), host()) == {}
    assert sum(tanh in g.nodes for g in plan.groups) == 1
    assert any(g.root is tanh or tanh in g.stores for g in plan.groups)
    got = tc.compile(tanh_into_a_product)(*args)
    h, w = (a.numpy().astype(np.float64) for a in args)
    assert_close(got[0].numpy(), np.tanh(h) @ w, rtol=1e-4, atol=1e-4)
    assert_close(got[1].numpy(), np.tanh(h) * h, rtol=1e-4, atol=1e-4)


def test_a_transformer_mlp_block_trains_as_torch_with_no_tanh_kept():
    torch.manual_seed(0)
    def block(lib):
        nn = lib.nn
        return nn.Sequential(nn.Linear(32, 128), nn.GELU(approximate="tanh"),
                             nn.Linear(128, 32))
    ref = block(torch)
    model = with_torch_weights(block(tc), ref)
    compiled = tc.compile(model)
    opt = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        x, y = rng.standard_normal((64, 32)).astype(np.float32), \
            rng.standard_normal((64, 32)).astype(np.float32)
        opt.zero_grad()
        ref_opt.zero_grad()
        loss = tc.nn.functional.mse_loss(compiled(tc.tensor(x)), tc.tensor(y))
        loss.backward()
        ref_loss = torch.nn.functional.mse_loss(ref(torch.tensor(x)), torch.tensor(y))
        ref_loss.backward()
        assert_close(loss.item(), ref_loss.item(), rtol=1e-5)
        for p, q in zip(model.parameters(), ref.parameters()):
            assert_close(p.grad.numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-5)
        opt.step()
        ref_opt.step()
    backward = compiled._compiled.last.run_backward.memory_plan
    hidden = 64 * 128 * 4
    # the recomputed activation (for dW2's product) and dg (dh is written over it): the
    # tanh chain the kernels share is recomputed, where it kept four such values before
    assert backward.peak <= 2 * hidden


def test_a_value_one_kernel_refuses_is_stored_for_it():
    """z = log(x) - log(1 - x) feeds an unfold (through z * mask: a conv) and an add, and is
    recomputed in both kernels; the unfold's refuses the costly logs below its windows and
    reads them, so they are stored: once every reader *node* was in a kernel that computed
    them, they were taken as recomputed everywhere and had no buffer (a normalizing flow's
    dequantization and coupling layer, uvadlc tutorial 11)."""
    mask = tc.tensor((np.add.outer(np.arange(8), np.arange(8)) % 2).astype(np.float32))

    def f(x, w):
        z = tc.log(x) - tc.log(1 - x)
        s, t = tc.nn.functional.conv2d(z * mask, w, padding=1).chunk(2, dim=1)
        return ((z + t) * tc.exp(s)).sum()
    x = tc.tensor(rng.uniform(0.1, 0.9, (2, 1, 8, 8)).astype(np.float32))
    w = arr(2, 1, 3, 3)
    graph, plan = _groups(f, x, w)
    reads = {x for g in plan.groups for x in g.inputs}
    for log in (n for n in graph.nodes if n.op == "log"):
        assert log not in reads or any(g.root is log or log in g.stores for g in plan.groups)
    xt, wt = torch.tensor(x.numpy()), torch.tensor(w.numpy())
    zt = torch.log(xt) - torch.log(1 - xt)
    st, tt = torch.nn.functional.conv2d(zt * torch.tensor(mask.numpy()), wt, padding=1).chunk(2, 1)
    assert_close(tc.compile(f)(x, w).item(), ((zt + tt) * torch.exp(st)).sum().item(), rtol=1e-5)
