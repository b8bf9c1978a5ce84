"""Elementwise kernels that store more than their root (passes/fusion.py, Group.stores): a
value of the root's shape that the rest of the kernel reads and that is a graph output, or
is read by nodes after the root, joins it, and is stored at the root's index. Every stored
value must equal eager's, on both llvm runners, split over threads, read at another index
inside the kernel, and written over a donated input; the groups must stay a DAG in their
order; a backend whose Target does not allow it (CUDA's, the reference) keeps one value a
kernel."""
import numpy as np
import pytest

import tracecomp as tc
from tracecomp.codegen.llvm import target as llvm_target
from tracecomp.passes import fusion, memory
from tracecomp.passes.target import REFERENCE
from tracecomp.tracing.tracer import trace

rng = np.random.default_rng(0)


def arr(*shape):
    return tc.tensor(rng.standard_normal(shape).astype(np.float32))


def momentum(g, buf, p):
    """SGD with momentum's update: the new buffer is an output and what the parameter's
    update reads."""
    new_buf = buf * 0.9 + g
    return new_buf, p - new_buf * 0.01


def transposed(x):
    """An output read through a transpose by the kernel that would store it: stored there,
    it would be computed twice (at its index and at the transposed one), so it stays a
    kernel of its own."""
    a = tc.tanh(x) * 2.0
    return a, a.T + a


def chain(x, y):
    """Three outputs along one chain, with a scalar broadcast in."""
    a = x * y + 1.0
    b = tc.sigmoid(a) * x
    return a, b, (b - y).exp() + a


def read_later(x):
    """`a` is read by the kernel of `b` and, after it, by a reduction: b's kernel stores a."""
    a = tc.tanh(x) * 3.0
    b = a + 1.0
    return b * b.sum() + a.sum()


def read_earlier(x, w):
    """`a` is read by a product that `b` reads: stored by b's kernel, a would make the two
    kernels read each other, so it stays a kernel of its own."""
    a = tc.tanh(x) * 3.0
    return a + a @ w


CASES = [(momentum, (4, 32)), (chain, (8, 24))]
READERS = [(read_later, (8, 8)), (read_earlier, (8, 8)), (transposed, (16, 16))]


def _args(fn, shape):
    return [arr(*shape) for _ in range(fn.__code__.co_argcount)]


@pytest.mark.parametrize("fn,shape", CASES, ids=[f.__name__ for f, _ in CASES])
def test_an_output_read_by_the_rest_of_its_kernel_is_stored_by_it(fn, shape):
    graph = trace(fn, *_args(fn, shape))
    multi = fusion.run(graph, llvm_target.host())
    single = fusion.run(graph, REFERENCE)
    kernels = [g for g in multi.groups if g.kind == fusion.ELEMENTWISE]
    assert len(kernels) == 1
    assert set(kernels[0].values()) == set(graph.outputs)
    assert all(not g.stores for g in single.groups)
    assert len([g for g in single.groups if g.kind == fusion.ELEMENTWISE]) == len(
        graph.outputs)


def _producers(groups):
    return {v: k for k, g in enumerate(groups) for v in g.values()}


def test_a_value_read_after_the_kernel_is_stored_by_it_and_the_groups_stay_a_dag():
    """read_later's `a` is stored by b's kernel; read_earlier's and transposed's are
    kernels of their own."""
    for fn, shape in READERS:
        graph = trace(fn, *_args(fn, shape))
        groups = fusion.run(graph, llvm_target.host()).groups
        made = _producers(groups)
        for k, g in enumerate(groups):
            assert all(made.get(x, -1) < k for x in g.inputs), (fn.__name__, k)
        tanh = next(n for n in graph.nodes if n.op == "tanh")
        a = next(n for n in graph.nodes if n.op == "mul" and tanh in n.inputs)
        holder = groups[made[a]]
        if fn is read_later:
            assert a in holder.stores and holder.root.op == "add"
        else:
            assert holder.root is a and not holder.stores


@pytest.mark.parametrize("runner", ["entry", "steps"])
@pytest.mark.parametrize("fn,shape", CASES + READERS + [(chain, (1024, 2048))],
                         ids=[f.__name__ for f, _ in CASES + READERS]
                         + ["chain-split-over-threads"])
def test_every_stored_value_is_eagers(fn, shape, runner, monkeypatch):
    monkeypatch.setenv("TRACECOMP_LLVM_RUNNER", runner)
    args = _args(fn, shape)
    want = fn(*args)
    got = tc.compile(fn, backend="llvm")(*args)
    got, want = (v if isinstance(v, tuple) else (v,) for v in (got, want))
    assert len(got) == len(want)
    for g, w in zip(got, want):     # (sums add up in another order compiled: 1e-5)
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-5, atol=1e-5)


def test_stored_values_written_over_their_inputs_in_place():
    """A whole SGD step's buffer and parameter updates are one kernel, each written over
    its input (passes/donation.py), with eager's numbers."""
    g, buf, p = arr(64, 32), arr(64, 32), arr(64, 32)
    start = buf.numpy().copy(), p.numpy().copy()
    want = [t.numpy().copy() for t in momentum(g, buf, p)]
    buf_array, p_array = buf._data, p._data

    @tc.compile
    def step(g, buf, p):
        new_buf, new_p = momentum(g, buf, p)
        buf.copy_(new_buf)
        p.copy_(new_p)

    for _ in range(2):      # compiles, then runs the compiled graph again from the start
        buf_array[...], p_array[...] = start
        step(g, buf, p)
        np.testing.assert_allclose(buf.numpy(), want[0], rtol=1e-6)
        np.testing.assert_allclose(p.numpy(), want[1], rtol=1e-6)
        assert buf._data is buf_array and p._data is p_array
    assert step.compiles == 1
    kernels = [line for line in step.fusion_log["forward"].splitlines()
               if line.startswith("kernel")]
    assert len(kernels) == 1 and "also stores" in kernels[0], kernels


def test_the_memory_plan_of_a_graph_is_the_same_each_time():
    """Values one kernel stores tie on size and step: their offsets must come from the
    graph, not from the nodes' hashes, or the same step gets other IR (and misses the
    disk cache) in another process. Traced anew, the plan must not change."""
    def step(x):
        a = tc.tanh(x)
        b, c, d = a * 2.0, a * 3.0, a * 4.0
        e = b + c + d
        return (e * e.sum()).sum() + b.sum() + c.sum() + d.sum()

    def plan(x):
        graph = trace(step, x)
        groups = fusion.run(graph, llvm_target.host())
        mem = memory.run(graph, groups)
        where = {n: k for k, n in enumerate(graph.nodes)}
        assert max(len(g.stores) for g in groups.groups) >= 2
        return sorted((where[n], offset) for n, offset in mem.offsets.items())
    x = arr(16, 16)
    plans = [plan(x) for _ in range(8)]
    assert all(p == plans[0] for p in plans)
