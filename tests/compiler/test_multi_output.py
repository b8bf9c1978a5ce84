"""Elementwise kernels that store more than their root (passes/fusion.py, Group.stores): a
graph output of the root's shape that the rest of the kernel reads joins it, and is stored
at the root's index. Every stored value must equal eager's, on both llvm runners, split
over threads, read at another index inside the kernel, and written over a donated input;
a backend whose Target does not allow it (CUDA's, the reference) keeps one value a kernel."""
import numpy as np
import pytest

import tracecomp as tc
from tracecomp.codegen.llvm import target as llvm_target
from tracecomp.passes import fusion
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
    """An output read inside the kernel at another index than it is stored at."""
    a = tc.tanh(x) * 2.0
    return a, a.T + a


def chain(x, y):
    """Three outputs along one chain, with a scalar broadcast in."""
    a = x * y + 1.0
    b = tc.sigmoid(a) * x
    return a, b, (b - y).exp() + a


CASES = [(momentum, (4, 32)), (transposed, (16, 16)), (chain, (8, 24))]


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


@pytest.mark.parametrize("runner", ["entry", "steps"])
@pytest.mark.parametrize("fn,shape", CASES + [(chain, (1024, 2048))],
                         ids=[f.__name__ for f, _ in CASES] + ["chain-split-over-threads"])
def test_every_stored_value_is_eagers(fn, shape, runner, monkeypatch):
    monkeypatch.setenv("TRACECOMP_LLVM_RUNNER", runner)
    args = _args(fn, shape)
    want = fn(*args)
    got = tc.compile(fn, backend="llvm")(*args)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-6, atol=1e-6)


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
