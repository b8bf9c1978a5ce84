"""Deep graphs compile: no walk over graph depth recurses (tracer, passes, autodiff,
partitioner, codegen, printing), so chains of thousands of elementwise ops compile and
differentiate, and give the eager numbers.

The 3,000-op chain runs by default (forward and backward); set TRACECOMP_DEEP_TEST=1 for
the 10,000-op chain too (about half a minute).
"""
import os
import sys

import numpy as np
import pytest

import tracecomp as tc
from tracecomp.ir import format_graph, to_networkx, verify


def _chain(n):
    def deep(a):
        for _ in range(n):
            a = a * 1.0001 + 0.0001
        return a.sum()
    return deep


def _check(n, backend="llvm"):
    deep = _chain(n)
    x = tc.tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    f = tc.compile(deep, backend=backend)
    y = f(x)
    y.backward()
    ref_x = x.detach().clone().requires_grad_()
    ref = deep(ref_x)
    ref.backward()
    np.testing.assert_allclose(y.item(), ref.item(), rtol=1e-4)
    np.testing.assert_allclose(x.grad.numpy(), ref_x.grad.numpy(), rtol=1e-4)
    # the exact value: d/da of the chain is 1.0001**n for every element
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 3), 1.0001 ** n), rtol=1e-3)
    for name, graph in f.graphs.items():
        text = format_graph(graph)
        assert text.count("\n") >= len(graph.nodes), name
        verify(graph, name)
        to_networkx(graph)


@pytest.mark.parametrize("n", [1000, 3000])
def test_deep_chain_forward_backward(n):
    _check(n)


def test_deep_chain_under_a_low_recursion_limit():
    """Nothing recurses over the graph's 6,000 nodes: a limit far below that is enough."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(800)
    try:
        _check(3000, backend="interp")
    finally:
        sys.setrecursionlimit(old)


@pytest.mark.skipif(os.environ.get("TRACECOMP_DEEP_TEST") != "1",
                    reason="long: set TRACECOMP_DEEP_TEST=1")
def test_deep_chain_10000():
    _check(10000)
