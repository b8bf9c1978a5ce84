"""passes/decompose.py: log_softmax is one node while traced and differentiated, then its
parts when a backend gets the graph: the same values, native kernels, the user's lines."""
import numpy as np
import torch

import tracecomp as tc
import tracecomp.nn.functional as F
from tracecomp.codegen.interp import compile_graph
from tracecomp.ir import verify
from tracecomp.passes import decompose
from tracecomp.tracing.tracer import trace

from helpers import assert_close, to_torch

PARTS = ["reduce_max", "sub", "exp", "reduce_sum", "log", "sub"]


def _log_softmax_plus_one(x):
    return F.log_softmax(x, dim=1) + 1


def test_log_softmax_becomes_its_parts_on_the_users_line():
    graph = trace(_log_softmax_plus_one, tc.zeros(4, 5))
    assert [n.op for n in graph.nodes] == ["log_softmax", "add"]
    graph.inputs[0].params["value_range"] = (-3.0, 3.0)
    line = graph.nodes[0].source
    out = decompose.run(graph)
    verify(out)
    assert [n.op for n in out.nodes] == PARTS + ["add"]
    assert all(n.source == line for n in out.nodes[:len(PARTS)])
    assert out.nodes[0].params == {"dims": (1,), "keepdim": True}
    assert out.inputs[0].params == {"value_range": (-3.0, 3.0)}
    assert [n.op for n in graph.nodes] == ["log_softmax", "add"]      # the input untouched


def test_the_parts_compute_the_primitive_to_the_bit():
    """The reference backend runs each node's eager impl: the parts give what the one
    primitive gives, bit for bit, large values and -inf included."""
    x = np.random.default_rng(3).standard_normal((6, 9)).astype(np.float32) * 50
    x[2, :4] = -np.inf
    graph = trace(_log_softmax_plus_one, tc.tensor(x))
    (whole,) = compile_graph(graph)([x])
    (parts,) = compile_graph(decompose.run(graph))([x])
    np.testing.assert_array_equal(whole, parts)


def test_a_graph_without_compound_primitives_comes_back_as_it_is():
    graph = trace(lambda x: (x * 2).exp().sum(1), tc.zeros(3, 4))
    assert decompose.run(graph) is graph


def test_compiled_cross_entropy_runs_native_kernels_and_matches_torch():
    """Forward and backward through compile: the traced graph keeps one log_softmax, the
    graphs the backend compiles have none and no numpy step computes it, and the loss and the
    gradient are torch's."""
    rng = np.random.default_rng(5)
    x = tc.tensor(rng.standard_normal((16, 10)).astype(np.float32), requires_grad=True)
    y = tc.tensor(rng.integers(0, 10, 16))
    xt = to_torch(x)
    f = tc.compile(lambda x, y: F.cross_entropy(x * 2, y))
    loss = f(x, y)
    loss.backward()
    want = torch.nn.functional.cross_entropy(xt * 2, torch.tensor(y.numpy()))
    want.backward()
    assert_close(loss, want)
    assert_close(x.grad, xt.grad, what="gradient")
    graphs = f.graphs
    traced = [n.op for n in graphs["traced"].nodes]
    assert traced.count("log_softmax") == traced.count("nll_loss") == 1
    for name in ("forward.optimized", "backward.optimized"):
        assert not {"log_softmax", "nll_loss"} & {n.op for n in graphs[name].nodes}, name
    assert {(r.name, r.graph) for r in f.pass_log} >= {("decompose", "forward"),
                                                       ("decompose", "backward")}
    for graph in ("forward", "backward"):
        steps = [line.split(":")[0].split()[-1] for line in f.fusion_log[graph].splitlines()
                 if "a kernel of its own (no native lowering)" in line]
        assert not set(steps) & set(PARTS + ["log_softmax", "nll_loss"]), steps


def test_compiled_attention_softmax_matches_torch_with_native_kernels():
    """softmax(q @ k^T / 2) @ v, forward and backward compiled: softmax is one node traced,
    its parts in the graphs the backend compiles, and the values and gradients torch's."""
    rng = np.random.default_rng(9)
    arrays = [rng.standard_normal((2, 5, 8)).astype(np.float32) for _ in range(3)]
    q, k, v = (tc.tensor(a, requires_grad=True) for a in arrays)
    qt, kt, vt = (to_torch(t) for t in (q, k, v))

    def attend(lib, q, k, v):
        return (lib.softmax(q @ k.transpose(1, 2) / 2, dim=-1) @ v).sum()
    f = tc.compile(lambda q, k, v: attend(tc, q, k, v))
    got, want = f(q, k, v), attend(torch, qt, kt, vt)
    got.backward()
    want.backward()
    assert_close(got, want, rtol=1e-5, atol=1e-5)
    for a, b in ((q, qt), (k, kt), (v, vt)):
        assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5, what="gradient")
    assert [n.op for n in f.graphs["traced"].nodes].count("softmax") == 1
    for name in ("forward.optimized", "backward.optimized"):
        assert "softmax" not in {n.op for n in f.graphs[name].nodes}, name
